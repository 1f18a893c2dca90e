//! Who is supervising which live call: each supervisor socket joins on connect and leaves when
//! its guard drops, so `GET /api/v1/calls/live` can name them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_actors::call::Supervisor;
use uuid::Uuid;

/// One supervisor socket on a call.
#[derive(Debug, Clone, Serialize)]
pub struct Present {
    /// The socket's id.
    pub session: Uuid,
    pub supervisor: Supervisor,
    pub since: DateTime<Utc>,
}

/// The supervisor sockets of this process, by CallSid.
#[derive(Debug, Default)]
pub struct SupervisorDirectory {
    calls: Mutex<HashMap<String, Vec<Present>>>,
}

impl SupervisorDirectory {
    /// Adds a socket; it is removed when the returned guard drops.
    pub fn join(self: &Arc<Self>, call_sid: &str, supervisor: Supervisor) -> Presence {
        let present = Present {
            session: Uuid::now_v7(),
            supervisor,
            since: Utc::now(),
        };
        let session = present.session;
        self.lock()
            .entry(call_sid.to_owned())
            .or_default()
            .push(present);
        Presence {
            directory: Arc::clone(self),
            call_sid: call_sid.to_owned(),
            session,
        }
    }

    /// The sockets on `call_sid`, oldest first.
    pub fn present(&self, call_sid: &str) -> Vec<Present> {
        self.lock().get(call_sid).cloned().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Present>>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A socket's place in the directory.
#[derive(Debug)]
pub struct Presence {
    directory: Arc<SupervisorDirectory>,
    call_sid: String,
    session: Uuid,
}

impl Presence {
    pub fn session(&self) -> Uuid {
        self.session
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        let mut calls = self.directory.lock();
        if let Some(list) = calls.get_mut(&self.call_sid) {
            list.retain(|p| p.session != self.session);
            if list.is_empty() {
                calls.remove(&self.call_sid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_join_and_leave_with_their_guard() {
        let directory = Arc::new(SupervisorDirectory::default());
        let who = |name: &str| Supervisor {
            id: format!("user:{name}"),
            name: name.to_owned(),
        };
        let a = directory.join("CA1", who("ann"));
        let b = directory.join("CA1", who("bob"));
        let names = |sid| -> Vec<String> {
            directory
                .present(sid)
                .into_iter()
                .map(|p| p.supervisor.name)
                .collect()
        };
        assert_eq!(names("CA1"), ["ann", "bob"]);
        drop(a);
        assert_eq!(names("CA1"), ["bob"]);
        drop(b);
        assert!(names("CA1").is_empty());
        assert!(directory.lock().is_empty());
    }
}
