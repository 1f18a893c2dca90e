//! A whole engine on `127.0.0.1:0` for end-to-end tests and benches: a database of its own in the
//! run's shared managed PostgreSQL ([`TestDatabase`]; or the `SWITCHBOARD_DATABASE_URL` given), a
//! data directory in a temp dir, the given realtime peer as its AI and the given Twilio auth
//! token, serving until [`LocalEngine::shutdown`].

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use url::Url;

use switchboard_actors::call::CallRegistryHandle;

use crate::harness::shared_db::TestDatabase;
use std::sync::Arc;
use switchboard::app::Engine;
use switchboard::cluster::Node;
use switchboard::config::Config;
use switchboard::events::EventBus;
use switchboard::store::Store;

/// A running engine and what reaches it.
pub struct LocalEngine {
    /// `http://127.0.0.1:PORT/`.
    pub url: Url,
    store: Store,
    calls: CallRegistryHandle,
    events: EventBus,
    node: Arc<Node>,
    /// Its `database.url` (another engine given it shares the database).
    database_url: String,
    /// How to reach the engine's own database (tests read what it wrote).
    pg: tokio_postgres::Config,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Engine>,
    /// Dropped after the engine: its database (unless one was given).
    _db: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

impl LocalEngine {
    /// Starts an engine whose AI is at `realtime_url` and whose Twilio token is `twilio_token`;
    /// `extra` are further `SWITCHBOARD_*` settings.
    pub async fn start(
        realtime_url: &str,
        twilio_token: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<LocalEngine> {
        let mut settings = vec![
            ("SWITCHBOARD_AI_REALTIME_URL", realtime_url),
            ("SWITCHBOARD_AI_API_KEY", "sk-test"),
            ("SWITCHBOARD_TWILIO_AUTH_TOKEN", twilio_token),
        ];
        settings.extend_from_slice(extra);
        Self::with_settings(&settings).await
    }

    /// Starts an engine with only the listen address, data dir and public URL set, then
    /// `settings` (further `SWITCHBOARD_*` settings; later ones win).
    pub async fn with_settings(settings: &[(&str, &str)]) -> anyhow::Result<LocalEngine> {
        let dir = tempfile::tempdir()?;
        let mut env: HashMap<String, String> = HashMap::from([
            (
                "SWITCHBOARD_HTTP_LISTEN".to_owned(),
                "127.0.0.1:0".to_owned(),
            ),
            (
                "SWITCHBOARD_STORAGE_DATA_DIR".to_owned(),
                dir.path().display().to_string(),
            ),
            // Post-call analysis needs a REST peer: the tests that exercise it start one and
            // turn it on (`SWITCHBOARD_ANALYSIS_ENABLED`, `SWITCHBOARD_AI_API_BASE`).
            (
                "SWITCHBOARD_ANALYSIS_ENABLED".to_owned(),
                "false".to_owned(),
            ),
            // A stop drains first (as SIGTERM does); tests with calls still live do not wait
            // long for them.
            (
                "SWITCHBOARD_CLUSTER_DRAIN_TIMEOUT_S".to_owned(),
                "2".to_owned(),
            ),
        ]);
        let listener = Engine::bind(&Config::from_sources(None, &env)?).await?;
        let url = Url::parse(&format!("http://{}", listener.local_addr()?))?;
        env.insert("SWITCHBOARD_HTTP_PUBLIC_URL".into(), url.to_string());
        for (key, value) in settings {
            env.insert((*key).to_owned(), (*value).to_owned());
        }
        let db = match env.get("SWITCHBOARD_DATABASE_URL") {
            Some(_) => None,
            None => {
                let db = TestDatabase::create().await?;
                env.insert("SWITCHBOARD_DATABASE_URL".into(), db.url());
                Some(db)
            }
        };
        let config = Config::from_sources(None, &env)?;
        let database_url = env["SWITCHBOARD_DATABASE_URL"].clone();
        let pg = match &db {
            Some(db) => db.pg_config(),
            None => config
                .database
                .url
                .pg_config()
                .context("SWITCHBOARD_DATABASE_URL names no database")?,
        };
        let engine = Engine::start(config).await?;
        let store = engine.store().clone();
        let calls = engine.calls().clone();
        let events = engine.events().clone();
        let node = Arc::clone(engine.node());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = engine.draining_shutdown(async {
                let _ = stopped.await;
            });
            engine.serve(listener, shutdown).await;
            engine
        });
        Ok(LocalEngine {
            url,
            store,
            calls,
            events,
            node,
            database_url,
            pg,
            stop,
            server,
            _db: db,
            _dir: dir,
        })
    }

    /// The engine's data directory (its database, keys and recordings).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// The engine's store (to make organizations and keys).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine's live calls.
    pub fn calls(&self) -> &CallRegistryHandle {
        &self.calls
    }

    /// The engine's `database.url`: give it to another engine to share the database (a cluster).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The engine as a node of its cluster.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Whether the engine stopped serving (it drained, or its server ended).
    pub fn has_stopped(&self) -> bool {
        self.server.is_finished()
    }

    /// The engine's live event bus.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// A fresh connection to the engine's database.
    pub async fn client(&self) -> anyhow::Result<tokio_postgres::Client> {
        let (client, conn) = self.pg.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        Ok(client)
    }

    /// `path` on the engine, e.g. `/api/v1/calls/live`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.url.as_str().trim_end_matches('/'), path)
    }

    /// Stops serving (bounded: open sockets must not hold it up), then the engine.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let engine = tokio::time::timeout(Duration::from_secs(60), self.server)
            .await
            .context("the engine did not stop serving within 60 s")??;
        engine.stop().await?;
        Ok(())
    }
}
