//! The actors crate's integration tests, one binary: the allocation proofs of the per-frame paths
//! (under a counting global allocator, per thread) and the recorder's WAV scenarios.

mod common;

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

mod audio_alloc;
mod pipeline_alloc;
mod realtime_alloc;
mod recorder;
mod supervisor_audio_alloc;
mod twilio_alloc;
