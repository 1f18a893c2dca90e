//! One live call: the sans-IO [`CallCore`] that decides what every frame and event means, the
//! [`CallActor`] shell that feeds it from the Twilio and realtime sockets, the [`AiSession`] child
//! that owns the realtime websocket, the recorder thread, the [`CallRegistry`] that supervises
//! every call and restarts a failed call actor on the call's surviving state, and the
//! [`CallMetrics`] every call counts into; [`supervision`]: supervisors on a live call.

pub mod actor;
pub mod ai_session;
pub mod core;
pub mod error;
pub mod metrics;
pub mod recording;
pub mod registry;
pub mod supervision;

pub use actor::{
    CallActor, CallArgs, CallDeps, CallMessage, CallShared, RecordingTarget, TwilioOut,
};
pub use ai_session::{AI_READ_BUFFER, AiEndpoint, AiSession, AiSessionMessage, ai_socket_config};
pub use core::{
    AiCommand, CallConfig, CallCore, CallCounters, CallEvent, DeltaAction, MediaAction,
    ReconnectPolicy,
};
pub use error::CallError;
pub use metrics::{CallMetrics, CallStats};
pub use registry::{CallRegistry, CallRegistryHandle};
pub use supervision::{
    AgentPlayout, MonitorFrame, SuperviseError, SupervisionMode, Supervisor, SupervisorCommand,
};
