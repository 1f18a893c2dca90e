//! The persistence actor (ractor) and its producer handle: a thin shell over [`PersistenceCore`].
//!
//! The core — accepted rows, batches being written, flush waiters — lives in a mutex shared with
//! the producers, outside the actor's own state. Producers add rows to it directly (never awaiting
//! the database) and wake the actor; if the actor panics, its supervisor starts a new one on the
//! same core, which writes again whatever was in flight. Each batch is written by its own task
//! (up to `max_in_flight` at once), which reports back to the actor.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::core::{Full, PersistenceConfig, PersistenceCore, Rejection, WriteError};
use super::metrics::PersistenceMetrics;
use super::rows::PersistItem;

/// Where batches go: implemented by the service's store. One call writes one batch (one round trip
/// per table), idempotently: rows whose ids exist already are skipped, updates are last-writer-wins.
pub trait PersistenceBackend: Send + Sync + 'static {
    fn write(&self, rows: &[PersistItem]) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// Rows that are now durable, in the order producers handed them over, each row once (a batch
    /// written again after an uncertain failure or a restart is reported once; rejected rows
    /// never). Called on the persistence actor, so it must be quick and must not block: the
    /// service publishes live events from here. Does nothing by default.
    fn durable(&self, rows: &[PersistItem]) {
        let _ = rows;
    }
}

/// A flush could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersistError {
    #[error("the persistence actor has stopped")]
    Stopped,
}

/// What a shutdown achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every accepted row was durable before the timeout.
    pub drained: bool,
    /// The rows that were not (also logged).
    pub unwritten: Vec<Uuid>,
}

/// State shared by the handle(s), the supervisor and the current actor instance (opaque).
pub struct Shared {
    core: Mutex<PersistenceCore<oneshot::Sender<()>>>,
    /// The live actor instance, replaced on restart.
    actor: Mutex<Option<ActorRef<PersistMessage>>>,
    /// A `Wake` is on its way: producers need not send another.
    wake_queued: AtomicBool,
    metrics: Arc<PersistenceMetrics>,
}

impl Shared {
    /// A panic elsewhere while holding the lock leaves the core consistent (each method completes
    /// its mutation before anything can panic), so a poisoned lock is used as is.
    fn core(&self) -> MutexGuard<'_, PersistenceCore<oneshot::Sender<()>>> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn actor(&self) -> Option<ActorRef<PersistMessage>> {
        self.actor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn wake(&self) {
        if self.wake_queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let delivered = self
            .actor()
            .is_some_and(|actor| actor.cast(PersistMessage::Wake).is_ok());
        if !delivered {
            // Between instances: the next one pumps on start; let later producers try again.
            self.wake_queued.store(false, Ordering::Release);
        }
    }
}

/// Messages of the persistence actor.
#[derive(Debug)]
pub enum PersistMessage {
    /// Rows or a flush wait in the shared core.
    Wake,
    /// A batch deadline or a retry backoff may have come.
    Tick,
    /// A writer task finished batch `batch_id`.
    Written {
        batch_id: u64,
        result: Result<(), WriteError>,
        latency: Duration,
    },
    /// Chaos hook for tests (feature `test-hooks`): the actor panics, as a bug in it would.
    #[cfg(feature = "test-hooks")]
    InjectPanic,
}

/// Writes batches from the shared core; see the module documentation.
pub struct PersistenceActor<B>(PhantomData<fn() -> B>);

/// The actor's own state: nothing that must survive it.
pub struct PersistenceActorState<B> {
    shared: Arc<Shared>,
    backend: Arc<B>,
    next_tick: Option<Instant>,
}

impl<B: PersistenceBackend> Actor for PersistenceActor<B> {
    type Msg = PersistMessage;
    type State = PersistenceActorState<B>;
    type Arguments = (Arc<Shared>, Arc<B>);

    async fn pre_start(
        &self,
        myself: ActorRef<PersistMessage>,
        (shared, backend): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        // A predecessor's writes may or may not have landed: write them again (idempotent).
        shared.core().recover_in_flight(Instant::now());
        *shared.actor.lock().unwrap_or_else(PoisonError::into_inner) = Some(myself.clone());
        shared.wake_queued.store(true, Ordering::Release);
        myself.cast(PersistMessage::Wake)?;
        Ok(PersistenceActorState {
            shared,
            backend,
            next_tick: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<PersistMessage>,
        message: PersistMessage,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PersistMessage::Wake => state.shared.wake_queued.store(false, Ordering::Release),
            PersistMessage::Tick => state.next_tick = None,
            PersistMessage::Written {
                batch_id,
                result,
                latency,
            } => {
                state
                    .shared
                    .core()
                    .on_write_result(Instant::now(), batch_id, result, latency);
            }
            #[cfg(feature = "test-hooks")]
            PersistMessage::InjectPanic => panic!("persistence actor: injected panic"),
        }
        pump(&myself, state);
        Ok(())
    }
}

/// Starts every batch that is due, reports durable rows to the backend, answers released flushes,
/// and arms the next tick.
fn pump<B: PersistenceBackend>(
    myself: &ActorRef<PersistMessage>,
    state: &mut PersistenceActorState<B>,
) {
    let now = Instant::now();
    let (batches, durable, released, timeout) = {
        let mut core = state.shared.core();
        let mut batches = Vec::new();
        while let Some(batch) = core.poll_write(now) {
            batches.push(batch);
        }
        let durable = core.take_durable();
        (
            batches,
            durable,
            core.take_released_waiters(),
            core.poll_timeout(),
        )
    };
    // Before the flush waiters: whoever flushed sees the durable rows' consequences.
    for rows in durable {
        state.backend.durable(&rows);
    }
    for waiter in released {
        let _ = waiter.send(());
    }
    for batch in batches {
        let backend = state.backend.clone();
        let actor = myself.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = backend.write(&batch.rows).await;
            // If the actor died meanwhile, its successor writes this batch again.
            let _ = actor.cast(PersistMessage::Written {
                batch_id: batch.id,
                result,
                latency: started.elapsed(),
            });
        });
    }
    if let Some(at) = timeout
        && state.next_tick.is_none_or(|t| at < t)
    {
        state.next_tick = Some(at);
        myself.send_after(at.saturating_duration_since(now), || PersistMessage::Tick);
    }
}

/// Restarts the persistence actor when it fails, on the same shared core.
pub struct PersistenceSupervisor<B>(PhantomData<fn() -> B>);

/// The supervisor takes no requests; stopping it is done through the handle.
#[derive(Debug)]
pub enum PersistenceSupervisorMessage {}

pub struct PersistenceSupervisorState<B> {
    shared: Arc<Shared>,
    backend: Arc<B>,
}

impl<B: PersistenceBackend> Actor for PersistenceSupervisor<B> {
    type Msg = PersistenceSupervisorMessage;
    type State = PersistenceSupervisorState<B>;
    type Arguments = (Arc<Shared>, Arc<B>);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (shared, backend): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let state = PersistenceSupervisorState { shared, backend };
        spawn_worker(&myself, &state).await?;
        Ok(state)
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(_, err) = event {
            state
                .shared
                .metrics
                .actor_restarts
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(%err, "persistence actor failed; restarting it with its rows");
            spawn_worker(&myself, state).await?;
        }
        Ok(())
    }
}

async fn spawn_worker<B: PersistenceBackend>(
    supervisor: &ActorRef<PersistenceSupervisorMessage>,
    state: &PersistenceSupervisorState<B>,
) -> Result<(), SpawnErr> {
    Actor::spawn_linked(
        None,
        PersistenceActor::<B>(PhantomData),
        (state.shared.clone(), state.backend.clone()),
        supervisor.get_cell(),
    )
    .await
    .map(|_| ())
}

/// What producers hold: cheap to clone, never awaits the database to accept rows.
#[derive(Clone)]
pub struct PersistenceHandle {
    shared: Arc<Shared>,
    supervisor: ActorRef<PersistenceSupervisorMessage>,
}

impl std::fmt::Debug for PersistenceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistenceHandle")
            .field("pending_rows", &self.shared.metrics.pending_rows)
            .finish_non_exhaustive()
    }
}

impl PersistenceHandle {
    /// Starts the supervisor and the persistence actor writing to `backend`.
    pub async fn start<B: PersistenceBackend>(
        backend: B,
        config: PersistenceConfig,
    ) -> Result<Self, SpawnErr> {
        let metrics = Arc::new(PersistenceMetrics::default());
        let shared = Arc::new(Shared {
            core: Mutex::new(PersistenceCore::new(config, metrics.clone())),
            actor: Mutex::new(None),
            wake_queued: AtomicBool::new(false),
            metrics,
        });
        let (supervisor, _) = Actor::spawn(
            None,
            PersistenceSupervisor::<B>(PhantomData),
            (shared.clone(), Arc::new(backend)),
        )
        .await?;
        Ok(PersistenceHandle { shared, supervisor })
    }

    /// Accepts one row, or hands it back when the buffer is full.
    pub fn persist(&self, row: impl Into<PersistItem>) -> Result<(), Full> {
        self.persist_all(vec![row.into()])
    }

    /// Accepts rows (all or none), or hands them back when the buffer is full.
    pub fn persist_all(&self, rows: Vec<PersistItem>) -> Result<(), Full> {
        self.shared.core().submit(Instant::now(), rows)?;
        self.shared.wake();
        Ok(())
    }

    /// Resolves once every row accepted before the call is durable (written, or rejected and
    /// reported). Survives restarts of the actor.
    pub async fn flush(&self) -> Result<(), PersistError> {
        let (tx, rx) = oneshot::channel();
        self.shared.core().add_flush_waiter(tx);
        self.shared.wake();
        rx.await.map_err(|_| PersistError::Stopped)
    }

    /// Drains for up to `shutdown_timeout`, logs the ids of rows that could not be written, and
    /// stops the actors.
    pub async fn shutdown(&self) -> ShutdownReport {
        let timeout = self.shared.core().config().shutdown_timeout;
        let drained = matches!(
            tokio::time::timeout(timeout, self.flush()).await,
            Ok(Ok(()))
        );
        let unwritten = self.shared.core().unfinished_ids();
        if !unwritten.is_empty() {
            tracing::error!(
                rows = unwritten.len(),
                timeout_s = timeout.as_secs(),
                "shutdown: rows could not be written in time"
            );
            for chunk in unwritten.chunks(1000) {
                let ids: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
                tracing::error!(ids = %ids.join(","), "unwritten rows");
            }
        }
        if let Some(actor) = self.shared.actor() {
            let _ = actor
                .stop_and_wait(None, Some(Duration::from_secs(5)))
                .await;
        }
        let _ = self
            .supervisor
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
        ShutdownReport { drained, unwritten }
    }

    /// The counters.
    pub fn metrics(&self) -> Arc<PersistenceMetrics> {
        self.shared.metrics.clone()
    }

    /// The most recent rows the database refused (each was logged with its reason).
    pub fn rejections(&self) -> Vec<Rejection> {
        self.shared.core().rejections()
    }

    /// Makes the current actor instance panic (tests of supervision; feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn inject_panic(&self) {
        if let Some(actor) = self.shared.actor() {
            let _ = actor.cast(PersistMessage::InjectPanic);
        }
    }
}
