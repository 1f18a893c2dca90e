//! The call layer's errors: why a call could not be started or reached.

use thiserror::Error;

/// Why the registry did not start (or could not be asked to start) a call.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallError {
    /// The engine is stopping: no new calls.
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The call already has a live stream (and actor); a second `start` for it is refused.
    #[error("call {0} is already streaming")]
    AlreadyStreaming(String),
    /// The actor could not be spawned.
    #[error("cannot spawn the call actor: {0}")]
    Spawn(String),
    /// The registry did not answer (it stopped).
    #[error("the call registry is not running")]
    RegistryGone,
}
