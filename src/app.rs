//! The engine assembled: database (managed or configured), schema, the persistence actor (which
//! publishes what becomes durable on the live event bus), the call registry, and the HTTP server,
//! with an orderly stop. `main` and the end-to-end tests drive the same [`Engine`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::analysis::{AnalysisWorkers, WorkerDeps};
use crate::auth::keys::AuthKeys;
use crate::cluster::events::EventRelay;
use crate::cluster::heartbeat::{self, Heartbeat};
use crate::cluster::{self, Bus, Node};
use crate::config::Config;
use crate::events::{EventBus, PublishingBackend};
use crate::http::ai::AiGate;
use crate::http::auth::AuthState;
use crate::http::deps::Calls;
use crate::http::{self, Deps};
use crate::store::{ClusterError, ManagedCluster, PgBinaries, Store, StoreError, postgres_server};
use std::sync::Arc;
use switchboard_actors::ai_health::{AiHealth, BreakerPolicy, HealthReporter, KeyScope};
use switchboard_actors::call::{
    AiEndpoint, CallDeps, CallMetrics, CallRegistryHandle, ReconnectPolicy, RecordingTarget,
};
use switchboard_actors::domain::AudioFormat;
use switchboard_actors::persistence::PersistenceHandle;

use crate::twilio::media::MediaSettings;

/// How long a stop waits for the live calls it ends to write their last rows and recordings.
const CALLS_END_GRACE: Duration = Duration::from_secs(10);

/// How long a stop lets analyses in flight finish.
const ANALYSIS_STOP_GRACE: Duration = Duration::from_secs(5);

/// The engine could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error("cannot create {path}: {source}")]
    Storage { path: PathBuf, source: io::Error },
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot start an actor: {0}")]
    Actor(#[from] ractor::SpawnErr),
    #[error("auth keys: {0}")]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Bus(#[from] crate::cluster::BusError),
}

/// What to do when the managed cluster's data directory is in use by a running engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    /// Fail (`ClusterError::InUse`): an engine owns its cluster.
    Refuse,
    /// Use the running engine's cluster over its socket (the admin commands).
    Share,
}

/// The engine's database, opened and migrated: the configured URL, or the managed cluster under
/// the data directory — started here (and stopped with [`Database::close`] or on drop), or, with
/// [`Running::Share`], the cluster an engine already runs there.
pub struct Database {
    pub store: Store,
    /// The cluster this process started.
    pub cluster: Option<ManagedCluster>,
    /// The migrations this open applied.
    pub applied_migrations: Vec<String>,
}

impl Database {
    pub async fn open(config: &Config, running: Running) -> Result<Database, EngineError> {
        let timeout = Duration::from_secs(config.database.connect_timeout_s);
        let (mut pg, cluster) = match config.database.url.pg_config() {
            Some(pg) => (pg, None),
            None => {
                let data_dir = config.storage.data_dir.clone();
                let started = tokio::task::spawn_blocking(move || {
                    ManagedCluster::start(&data_dir, PgBinaries::from_environment()?)
                })
                .await?;
                match started {
                    Ok(cluster) => {
                        Store::create_database_if_missing(
                            &cluster.pg_config_for("postgres"),
                            postgres_server::DATABASE,
                            timeout,
                        )
                        .await?;
                        (cluster.pg_config(), Some(cluster))
                    }
                    Err(ClusterError::InUse { dir, pid }) if running == Running::Share => {
                        tracing::info!(dir = %dir.display(), ?pid, "using the running engine's database");
                        let cluster_dir =
                            std::fs::canonicalize(&dir).unwrap_or(dir).join("postgres");
                        (
                            ManagedCluster::config_at(&cluster_dir, postgres_server::DATABASE),
                            None,
                        )
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        };
        pg.options(format!(
            "-c statement_timeout={}",
            config.database.statement_timeout_ms
        ));
        let store = Store::connect(pg, config.database.pool_size, timeout).await?;
        let applied_migrations = store.migrate().await?;
        Ok(Database {
            store,
            cluster,
            applied_migrations,
        })
    }

    /// Closes the pool and stops the cluster if this open started it.
    pub async fn close(mut self) -> Result<(), EngineError> {
        self.store.close();
        if let Some(mut cluster) = self.cluster.take() {
            tokio::task::spawn_blocking(move || cluster.stop()).await??;
        }
        Ok(())
    }
}

/// A running engine: its store, its persistence actor and, when no database URL is configured, its
/// private cluster.
pub struct Engine {
    config: Config,
    store: Store,
    persistence: PersistenceHandle,
    calls: CallRegistryHandle,
    call_metrics: Arc<CallMetrics>,
    events: EventBus,
    cluster: Option<ManagedCluster>,
    applied_migrations: Vec<String>,
    auth_keys: AuthKeys,
    /// The AI services' circuit breakers, shared by calls, analysis and the voice webhook.
    health: Arc<AiHealth>,
    analysis: Option<AnalysisWorkers>,
    breaker_events: tokio::task::JoinHandle<()>,
    /// This node: its name, load and drain, and (in a cluster) its NATS bus.
    node: Arc<Node>,
    heartbeat: Option<Heartbeat>,
    /// In a cluster: live events through JetStream.
    relay: Option<EventRelay>,
}

impl Engine {
    /// Brings up the database (starting the managed cluster if configured so), applies pending
    /// migrations and prepares the storage directories. On failure, whatever was started is stopped.
    pub async fn start(config: Config) -> Result<Engine, EngineError> {
        // Keys first: a bad key file fails before anything is started.
        let auth_keys = AuthKeys::load(&config)?;
        let port = match config.http.listen.port() {
            0 => config.http.public_url.port_or_known_default().unwrap_or(0),
            port => port,
        };
        let node_id = cluster::node_name(&config, port);
        // Then NATS, when clustered: a cluster it cannot join fails before the database starts.
        let bus = Bus::connect(&config, &node_id).await?;
        let Database {
            store,
            cluster,
            applied_migrations,
        } = Database::open(&config, Running::Refuse).await?;
        let recordings = &config.storage.recordings_dir;
        std::fs::create_dir_all(recordings).map_err(|source| EngineError::Storage {
            path: recordings.clone(),
            source,
        })?;
        let events = EventBus::new(config.http.sse_replay_events as usize);
        let relay = match &bus {
            Some(bus) => Some(
                cluster::events::start(bus, &events, u64::from(config.http.sse_replay_events))
                    .await?,
            ),
            None => None,
        };
        let persistence = PersistenceHandle::start(
            PublishingBackend::new(store.clone(), events.clone()),
            config.persistence.to_actor_config(),
        )
        .await?;
        let calls = CallRegistryHandle::start().await?;
        // What this node left live when it last ran ends now, before it takes calls.
        let recovered = heartbeat::recover(&node_id, &store, &persistence, recordings).await;
        if recovered > 0 {
            tracing::warn!(calls = recovered, node = %node_id, "calls left live by this node's last run ended (node_lost)");
        }
        let node = Arc::new(Node::new(&config, node_id, calls.clone(), bus));
        let heartbeat = Some(heartbeat::start(
            Arc::clone(&node),
            store.clone(),
            persistence.clone(),
            Duration::from_secs(config.cluster.heartbeat_s),
            Duration::from_secs(config.cluster.node_lost_s),
        ));
        let health = Arc::new(AiHealth::new(breaker_policy(&config)));
        let breaker_events = tokio::spawn(crate::events::breakers::publish(
            health.subscribe(),
            store.clone(),
            events.clone(),
        ));
        let analysis = config.analysis.enabled.then(|| {
            AnalysisWorkers::start(WorkerDeps::from_config(
                &config,
                store.clone(),
                events.clone(),
                Arc::clone(&health),
                auth_keys.sealer.clone(),
            ))
        });
        Ok(Engine {
            config,
            store,
            persistence,
            calls,
            call_metrics: Arc::default(),
            events,
            cluster,
            applied_migrations,
            auth_keys,
            health,
            analysis,
            breaker_events,
            node,
            heartbeat,
            relay,
        })
    }

    /// This node.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// What [`Engine::serve`] should stop on so that the node drains first: `signal` (SIGTERM,
    /// or a test's stop) or a drain asked over the API; then no new calls, and the live ones
    /// get up to `cluster.drain_timeout_s` to finish.
    pub fn draining_shutdown(
        &self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let node = Arc::clone(&self.node);
        async move {
            tokio::select! {
                () = signal => {}
                () = node.drain_requested() => {}
            }
            node.drain();
            let live = node.registry.live_calls();
            if live > 0 {
                tracing::info!(
                    calls = live,
                    timeout_s = node.drain_timeout.as_secs(),
                    "draining: waiting for live calls to finish"
                );
            }
            let left = node.drained().await;
            if left > 0 {
                tracing::warn!(
                    calls = left,
                    "drain time is up: the calls still live are ended"
                );
            }
        }
    }

    /// The keys tokens are signed and credentials sealed with.
    pub fn auth_keys(&self) -> &AuthKeys {
        &self.auth_keys
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where producers send messages, events and updates.
    pub fn persistence(&self) -> &PersistenceHandle {
        &self.persistence
    }

    /// The live calls.
    pub fn calls(&self) -> &CallRegistryHandle {
        &self.calls
    }

    /// The live event bus (`GET /api/v1/events`); durable messages and call changes are published
    /// on it by the persistence actor.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// The AI circuit breakers.
    pub fn ai_health(&self) -> &Arc<AiHealth> {
        &self.health
    }

    /// The managed cluster, when the engine runs one.
    pub fn cluster(&self) -> Option<&ManagedCluster> {
        self.cluster.as_ref()
    }

    /// The migrations applied by this start (empty when the schema was already current).
    pub fn applied_migrations(&self) -> &[String] {
        &self.applied_migrations
    }

    /// Binds `http.listen`. Accepted sockets inherit `TCP_NODELAY` from the listener (Linux): a
    /// burst of 20 ms media frames must not wait on Nagle's algorithm for the peer's next ACK.
    pub async fn bind(config: &Config) -> Result<TcpListener, EngineError> {
        let addr = config.http.listen;
        let listen = || -> std::io::Result<TcpListener> {
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            socket.set_nodelay(true)?;
            socket.bind(addr)?;
            socket.listen(1024)
        };
        listen().map_err(|source| EngineError::Listen { addr, source })
    }

    /// Serves HTTP on `listener` until `shutdown` resolves and the requests in flight finish.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let mut deps = Deps::from_config(self.store.clone(), &self.config);
        deps.calls = Calls {
            media: Some(Arc::new(media_settings(
                &self.config,
                self.persistence.clone(),
                self.calls.clone(),
                self.call_metrics.clone(),
                Some(Arc::clone(&self.health)),
                Some(Arc::clone(&self.node)),
            ))),
            persistence: Some(self.persistence.clone()),
            node: Some(Arc::clone(&self.node)),
            ..Calls::default()
        };
        deps.events.bus = self.events.clone();
        deps.auth = Arc::new(AuthState::new(self.auth_keys.clone(), &self.config));
        deps.ai = Arc::new(AiGate::new(Arc::clone(&self.health), &self.config));
        http::run(listener, deps, shutdown).await;
    }

    /// Ends the live calls (each writes its end and recording; bounded by 10 s), stops the call
    /// registry, drains the persistence actor (bounded by `persistence.shutdown_timeout_s`),
    /// closes the pool and stops the managed cluster.
    pub async fn stop(mut self) -> Result<(), EngineError> {
        // Live calls end first, while the persistence path still runs: their `call_ended`,
        // final status and recording are written, not cut off with the registry.
        let live = self.calls.live_calls();
        let left = self.calls.end_all(CALLS_END_GRACE).await;
        if live > 0 {
            tracing::info!(
                calls = live,
                still_running = left,
                "live calls ended for shutdown"
            );
        }
        self.calls.stop();
        // Analyses in flight get a moment to write; the rest are taken again after a restart.
        if let Some(analysis) = self.analysis.take() {
            analysis.stop(ANALYSIS_STOP_GRACE).await;
        }
        self.breaker_events.abort();
        // No more heartbeats: the node is recorded as stopped below, not found lost.
        self.heartbeat.take();
        let report = self.persistence.shutdown().await;
        let stats = self.persistence.metrics().snapshot();
        tracing::info!(
            drained = report.drained,
            rows_written = stats.rows_written,
            rows_rejected = stats.rows_rejected,
            "persistence stopped"
        );
        if let Some(relay) = self.relay.take() {
            // The last events (the calls' ends among them) reach the stream before we go.
            relay.settle(Duration::from_secs(3)).await;
        }
        if let Err(err) = self.store.node_stopped(&self.node.id).await {
            tracing::warn!(%err, "the node's stop is not recorded: other nodes will find it lost");
        }
        self.store.close();
        if let Some(mut cluster) = self.cluster.take() {
            tokio::task::spawn_blocking(move || cluster.stop()).await??;
            tracing::info!("managed PostgreSQL stopped");
        }
        Ok(())
    }
}

/// What live calls need, from the configuration.
pub fn media_settings(
    config: &Config,
    persistence: PersistenceHandle,
    registry: CallRegistryHandle,
    metrics: Arc<CallMetrics>,
    health: Option<Arc<AiHealth>>,
    node: Option<Arc<Node>>,
) -> MediaSettings {
    use switchboard_actors::realtime::{self, Dialect, SessionConfig, Tool};
    let ai = &config.ai;
    let dialect = Dialect::for_model(&ai.model);
    let session = SessionConfig {
        model: ai.model.clone(),
        voice: ai.voice.clone(),
        instructions: ai.instructions.clone(),
        audio_format: match ai.audio_format {
            AudioFormat::G711Ulaw => realtime::AudioFormat::G711Ulaw,
            AudioFormat::Pcm16 => realtime::AudioFormat::Pcm16,
        },
        tools: vec![Tool::new(
            "end_call",
            "Hang up after saying goodbye, once the caller has nothing more to ask.",
            serde_json::json!({"type": "object", "properties": {"reason": {"type": "string"}}, "required": []}),
        )],
        ..SessionConfig::for_dialect(dialect)
    };
    MediaSettings {
        registry,
        deps: CallDeps {
            persistence,
            ai: Arc::new(AiEndpoint {
                base_url: ai.realtime_url.to_string(),
                api_key: ai.api_key.expose().to_owned(),
                dialect,
                session,
                connect_timeout: Duration::from_secs(10),
                health: health.map(|health| HealthReporter {
                    health,
                    scope: KeyScope::Engine,
                }),
            }),
            rejected_frames: &crate::twilio::media::REJECTED_FRAMES,
            tools: None,
            recording: config.recording.enabled.then(|| RecordingTarget {
                dir: config.storage.recordings_dir.clone(),
                sample_rate: config.recording.sample_rate,
            }),
            metrics,
        },
        reconnect: ReconnectPolicy {
            base: Duration::from_millis(ai.reconnect_base_ms),
            max: Duration::from_millis(ai.reconnect_max_ms),
            max_attempts: ai.reconnect_max_attempts,
            max_session: Duration::from_secs(ai.max_session_minutes * 60),
        },
        stream_idle: Duration::from_secs(config.twilio.stream_idle_s),
        agent_name: format!("AI agent ({})", ai.voice),
        audio_format: ai.audio_format,
        node,
        tool_client: crate::tools::ToolClient::new(crate::tools::ToolLimits::new(
            ai.tool_max_concurrent,
            ai.tool_rate_per_s,
        )),
    }
}

/// The breakers' policy from the configuration.
pub fn breaker_policy(config: &Config) -> BreakerPolicy {
    BreakerPolicy {
        consecutive_failures: config.ai.breaker_failures,
        cooldown: Duration::from_secs(config.ai.breaker_cooldown_s),
        probe_timeout: Duration::from_secs(config.ai.breaker_cooldown_s)
            .max(Duration::from_secs(10)),
        ..BreakerPolicy::default()
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a signal that arrives while the engine starts or before the server
/// polls its shutdown future is kept, never left to the default action that kills the process
/// with its cluster still running.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    }
}
