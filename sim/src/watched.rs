//! [`Watched`]: the peers' logs (one entry per connection or request), shared between the peer's
//! tasks and the test that reads them, which can wait until the entries satisfy a predicate.
//! Every change bumps a generation on a watch channel, so a waiter wakes on each change and never
//! polls.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

/// See the module documentation. Clones share the log.
#[derive(Debug)]
pub(crate) struct Watched<T> {
    inner: Arc<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    entries: Mutex<Vec<T>>,
    changed: watch::Sender<u64>,
}

impl<T> Clone for Watched<T> {
    fn clone(&self) -> Self {
        Watched {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Clone> Watched<T> {
    pub(crate) fn new() -> Self {
        Watched {
            inner: Arc::new(Inner {
                entries: Mutex::new(Vec::new()),
                changed: watch::Sender::new(0),
            }),
        }
    }

    /// Adds the entry `make(id)` makes, where `id` is its index; returns the id.
    pub(crate) fn open(&self, make: impl FnOnce(usize) -> T) -> usize {
        let id = {
            let mut entries = self.lock();
            let id = entries.len();
            entries.push(make(id));
            id
        };
        self.bump();
        id
    }

    /// Changes entry `id` (nothing when there is none).
    pub(crate) fn update(&self, id: usize, change: impl FnOnce(&mut T)) {
        if let Some(entry) = self.lock().get_mut(id) {
            change(entry);
        }
        self.bump();
    }

    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.lock().clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Waits until `pred` holds for the entries, at most `limit`; the entries that satisfied
    /// it, or `None` on timeout.
    pub(crate) async fn wait_for(
        &self,
        limit: Duration,
        pred: impl Fn(&[T]) -> bool,
    ) -> Option<Vec<T>> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut changes = self.inner.changed.subscribe();
        loop {
            changes.borrow_and_update();
            let entries = self.snapshot();
            if pred(&entries) {
                return Some(entries);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    fn bump(&self) {
        self.inner
            .changed
            .send_modify(|generation| *generation += 1);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
