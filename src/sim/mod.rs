//! Simulation: realistic traffic for benches, tests and `demo` (the Twilio caller and realtime
//! peer simulators join this module with the live-call work).

pub mod engine;
pub mod fixture;
pub mod messages;
pub mod realtime_peer;
pub mod shared_db;
pub mod stamp;
pub mod twilio_caller;
