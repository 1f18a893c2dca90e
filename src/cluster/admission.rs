//! Whether a node has room for one more call: the decision, without I/O.

use serde::Serialize;

/// A node's load at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    pub live_calls: u32,
    /// Answered here, stream not started yet.
    pub reserved_calls: u32,
    pub max_calls: u32,
    pub loop_lag_ms: u64,
    pub max_loop_lag_ms: u64,
    pub draining: bool,
}

/// Why a node takes no more calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Full {
    #[error("the node is draining")]
    Draining,
    #[error("the node carries {calls} of its {max_calls} calls")]
    AtCapacity { calls: u32, max_calls: u32 },
    #[error("the node's runtime runs {lag_ms} ms late (limit {max_lag_ms} ms)")]
    Overloaded { lag_ms: u64, max_lag_ms: u64 },
}

impl Load {
    /// `Ok` when one more call fits.
    pub fn room(&self) -> Result<(), Full> {
        let calls = self.live_calls.saturating_add(self.reserved_calls);
        if self.draining {
            Err(Full::Draining)
        } else if calls >= self.max_calls {
            Err(Full::AtCapacity {
                calls,
                max_calls: self.max_calls,
            })
        } else if self.loop_lag_ms > self.max_loop_lag_ms {
            Err(Full::Overloaded {
                lag_ms: self.loop_lag_ms,
                max_lag_ms: self.max_loop_lag_ms,
            })
        } else {
            Ok(())
        }
    }
}

/// Where the voice webhook sends a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// This node streams it.
    Here,
    /// Another node with room (its public URL).
    Elsewhere { node: String, url: url::Url },
    /// Nowhere: the caller gets the fallback.
    Refused(Full),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load() -> Load {
        Load {
            live_calls: 3,
            reserved_calls: 1,
            max_calls: 5,
            loop_lag_ms: 10,
            max_loop_lag_ms: 250,
            draining: false,
        }
    }

    #[test]
    fn room_until_live_and_reserved_calls_reach_the_maximum() {
        assert_eq!(load().room(), Ok(()));
        let full = Load {
            reserved_calls: 2,
            ..load()
        };
        assert_eq!(
            full.room(),
            Err(Full::AtCapacity {
                calls: 5,
                max_calls: 5
            })
        );
    }

    #[test]
    fn a_draining_or_late_node_takes_nothing() {
        let draining = Load {
            draining: true,
            ..load()
        };
        assert_eq!(draining.room(), Err(Full::Draining));
        let late = Load {
            loop_lag_ms: 400,
            ..load()
        };
        assert_eq!(
            late.room(),
            Err(Full::Overloaded {
                lag_ms: 400,
                max_lag_ms: 250
            })
        );
    }
}
