//! One live call: the sans-IO [`CallPipeline`] (the whole 20 ms path: codecs, playout,
//! supervisor mixer, and the [`CallCore`] that decides what every frame and event means), the
//! [`AiProtocol`] seam behind which the AI's wire format sits, the [`CallActor`] shell that feeds
//! the pipeline from the Twilio and AI sockets, the [`AiSession`] child that owns the AI
//! websocket, the [`SocketWriter`] through which the call writes into both sockets itself, the
//! recorder threads, the [`CallRegistry`] that supervises every call and restarts a failed call
//! actor from the call's facts, and the [`CallMetrics`] every call counts into;
//! [`supervision`]: supervisors on a live call.

pub mod actor;
pub mod ai_protocol;
pub mod ai_session;
pub mod core;
pub mod error;
pub mod metrics;
pub mod pipeline;
pub mod recording;
pub mod registry;
pub mod shared;
pub mod socket_writer;
pub mod supervision;
pub mod tools;

pub use actor::{CallActor, CallArgs, CallDeps, CallMessage};
pub use ai_protocol::{AiEvent, AiProtocol, RealtimeProtocol};
pub use ai_session::{AI_READ_BUFFER, AiEndpoint, AiSession, AiSessionMessage, ai_socket_config};
pub use core::{
    AiCommand, CallConfig, CallCore, CallCounters, CallEvent, CallFacts, DeltaAction, MediaAction,
    ReconnectPolicy,
};
pub use error::CallError;
pub use metrics::{CallMetrics, CallStats};
pub use pipeline::{CallPipeline, PipelineEvent, RecordSink, Transmit};
pub use registry::{CallRegistry, CallRegistryHandle};
pub use shared::{CallShared, MAX_QUEUED_FRAMES, REPEAT_PANIC_WINDOW, RecordingTarget};
pub use socket_writer::{SocketWriter, normal_close};
pub use supervision::{
    AgentPlayout, FRAME_SAMPLES, MonitorFrame, SuperviseError, SupervisionMode, Supervisor,
    SupervisorCommand,
};
pub use tools::{CallTool, ToolReport, ToolRequest, ToolRunner, TransferTarget};
