//! One live call: the sans-IO [`CallCore`] that decides what every frame and event means. The
//! ractor shells (CallActor, AiSession, CallRegistry) that feed it from the Twilio and realtime
//! sockets come with the live-call work.

pub mod core;

pub use core::{
    AiCommand, CallConfig, CallCore, CallCounters, CallEvent, DeltaAction, MediaAction,
    ReconnectPolicy,
};
