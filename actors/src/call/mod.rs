//! One live call: the sans-IO [`CallCore`] that decides what every frame and event means, the
//! [`CallActor`] shell that feeds it from the Twilio and realtime sockets, the [`AiSession`] child
//! that owns the realtime websocket, and the recorder thread.

pub mod actor;
pub mod ai_session;
pub mod core;
pub mod recording;

pub use actor::{
    CallActor, CallArgs, CallDeps, CallMessage, CallOutcome, RecordingTarget, TwilioOut,
};
pub use ai_session::{AiEndpoint, AiSession, AiSessionMessage};
pub use core::{
    AiCommand, CallConfig, CallCore, CallCounters, CallEvent, DeltaAction, MediaAction,
    ReconnectPolicy,
};
