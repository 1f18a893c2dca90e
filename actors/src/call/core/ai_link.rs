//! The AI session's lifecycle: asked for at `start`, ready, lost and brought back after a backoff
//! (per [`ReconnectPolicy`]), given up on when the attempts run out, and rotated before the
//! provider's session limit. It keeps the state and its deadlines; the core turns its answers into
//! events and rows.

use std::time::{Duration, Instant};

use super::ReconnectPolicy;

#[derive(Debug, Clone)]
pub(super) enum AiLink {
    /// Not asked for yet (before `start`).
    Idle,
    /// `ConnectAi` issued; `lost` is what it replaces, if it replaces a lost session.
    Connecting {
        lost: Option<Lost>,
    },
    Ready {
        rotate_at: Instant,
    },
    Down {
        lost: Lost,
        retry_at: Instant,
    },
    GaveUp,
}

/// A session lost (or rotated), and how many attempts have been made to replace it.
#[derive(Debug, Clone)]
pub(super) struct Lost {
    pub(super) cause: String,
    pub(super) since: Instant,
    pub(super) attempt: u32,
}

/// A session that came up.
pub(super) enum Connected {
    /// The call's first session.
    First,
    /// A session replacing a lost or rotated one.
    Replacing(Lost),
}

/// A timer of the link that fired.
pub(super) enum AiTimer {
    /// The backoff is over: connect again.
    Reconnect,
    /// The session reached `max_session`: close it and open a new one.
    Rotate,
}

impl AiLink {
    /// Whether the session is up and may be written to.
    pub(super) fn is_ready(&self) -> bool {
        matches!(self, AiLink::Ready { .. })
    }

    /// Whether the call's first session is still connecting (caller audio is held for it).
    pub(super) fn is_first_connecting(&self) -> bool {
        matches!(self, AiLink::Connecting { lost: None })
    }

    /// The session being connected is up; `None` if none was being connected.
    pub(super) fn connected(&mut self, now: Instant, max_session: Duration) -> Option<Connected> {
        let AiLink::Connecting { lost } = std::mem::replace(self, AiLink::Idle) else {
            return None;
        };
        *self = AiLink::Ready {
            rotate_at: now + max_session,
        };
        Some(lost.map_or(Connected::First, Connected::Replacing))
    }

    /// The session failed or could not connect: retry at once the first time, then after a
    /// doubling backoff. Returns the number of failed attempts when they have run out (the call
    /// must end); nothing if the link has already given up.
    pub(super) fn lost(
        &mut self,
        now: Instant,
        cause: &str,
        policy: &ReconnectPolicy,
    ) -> Option<u32> {
        let previous = match std::mem::replace(self, AiLink::Idle) {
            AiLink::Connecting { lost: Some(lost) } => Some(lost),
            AiLink::Down { lost, .. } => Some(lost),
            AiLink::GaveUp => {
                *self = AiLink::GaveUp;
                return None;
            }
            _ => None,
        };
        let attempt = previous.as_ref().map_or(1, |l| l.attempt + 1);
        let since = previous.as_ref().map_or(now, |l| l.since);
        if attempt > policy.max_attempts {
            *self = AiLink::GaveUp;
            return Some(attempt - 1);
        }
        let backoff = policy
            .base
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(policy.max);
        *self = AiLink::Down {
            lost: Lost {
                cause: cause.to_owned(),
                since,
                attempt,
            },
            retry_at: now
                + if attempt == 1 {
                    Duration::ZERO
                } else {
                    backoff
                },
        };
        None
    }

    /// When [`AiLink::handle_timeout`] has something to do.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            AiLink::Down { retry_at, .. } => Some(*retry_at),
            AiLink::Ready { rotate_at } => Some(*rotate_at),
            _ => None,
        }
    }

    /// Reconnects after the backoff; rotates the session at `max_session` while the call is live.
    pub(super) fn handle_timeout(&mut self, now: Instant, live: bool) -> Option<AiTimer> {
        match self {
            AiLink::Down { retry_at, lost } if now >= *retry_at => {
                *self = AiLink::Connecting {
                    lost: Some(lost.clone()),
                };
                Some(AiTimer::Reconnect)
            }
            AiLink::Ready { rotate_at } if now >= *rotate_at && live => {
                *self = AiLink::Connecting {
                    lost: Some(Lost {
                        cause: "rotation".to_owned(),
                        since: now,
                        attempt: 0,
                    }),
                };
                Some(AiTimer::Rotate)
            }
            _ => None,
        }
    }
}
