//! Storage: the one [`Store`] handle over PostgreSQL, and the managed cluster that provides a
//! database when none is configured.
//!
//! Nothing outside this module sees SQL or tokio-postgres types beyond connection parameters. The
//! schema lives in `sql/` and is applied by refinery (`migrate`), under an advisory lock so that
//! engines starting together do not race.

pub mod accounts;
pub mod agents;
pub mod analysis;
pub mod analytics;
pub mod calls;
pub mod cluster;
pub mod conversations;
pub mod history;
pub mod messages;
pub mod postgres_server;
pub mod recordings;
mod rows;
pub mod usage;

use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub use postgres_server::{ClusterError, ManagedCluster, PgBinaries};

mod embedded {
    refinery::embed_migrations!("sql");
}

/// Advisory-lock key serializing migrations across engines ("switchbd" in ASCII).
const MIGRATION_LOCK: i64 = 0x7377_6974_6368_6264;
/// How long a readiness probe may take before it counts as a failure.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot reach the database after {waited_s} s: {source}")]
    Unreachable {
        waited_s: u64,
        source: tokio_postgres::Error,
    },
    /// PostgreSQL's own message (severity, SQLSTATE, text, detail) is shown, not only "db error".
    #[error("database error: {}", db_cause(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("could not set up the connection pool: {0}")]
    Build(#[from] deadpool_postgres::BuildError),
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("the database confirmed {written} of {expected} rows")]
    Incomplete { expected: u64, written: u64 },
    #[error("unexpected stored value: {0}")]
    Decode(String),
}

/// What PostgreSQL said, when it said something; else the client's error and its source.
fn db_cause(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(" (");
                text.push_str(detail);
                text.push(')');
            }
            text
        }
        None => match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    }
}

impl StoreError {
    /// A value the database refused as data (SQLSTATE class 22: a NUL in text, a number or time
    /// out of range): the request's fault when it carried the value.
    pub fn is_bad_value(&self) -> bool {
        matches!(self, StoreError::Db(e) if e.code().is_some_and(|c| c.code().starts_with("22")))
    }

    /// The statement ran past `database.statement_timeout_ms` and was cancelled.
    pub fn is_timeout(&self) -> bool {
        matches!(self, StoreError::Db(e) if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED))
    }

    /// The database could not be reached or could not take the request now (down, restarting,
    /// out of connections, or every pooled connection busy past the pool's wait): worth a retry,
    /// unlike a bad statement or a bad stored value.
    pub fn is_unavailable(&self) -> bool {
        use deadpool_postgres::PoolError;
        match self {
            StoreError::Unreachable { .. } => true,
            StoreError::Pool(PoolError::Timeout(_) | PoolError::Backend(_) | PoolError::Closed) => {
                true
            }
            StoreError::Db(e) => {
                e.is_closed()
                    || e.code().is_some_and(|code| {
                        let code = code.code();
                        // Class 08: connection exception; 57P0x: shutting down, cannot connect
                        // now; 53300: too many connections.
                        code.starts_with("08") || code.starts_with("57P") || code == "53300"
                    })
            }
            _ => false,
        }
    }
}

/// Why the store is not ready to serve; safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("the database is not answering")]
    DatabaseDown,
    #[error(
        "the database schema is at version {applied}, the engine needs {expected}: run `switchboard migrate`"
    )]
    MigrationsPending { applied: i32, expected: i32 },
}

/// The handle every part of the service uses to reach PostgreSQL. Clones share one pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    message_write: messages::MessageWrite,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl Store {
    /// Connects a pool of `pool_size`, retrying with backoff for up to `timeout` until the database
    /// answers (it may still be starting).
    pub async fn connect(
        pg: tokio_postgres::Config,
        pool_size: u32,
        timeout: Duration,
    ) -> Result<Store, StoreError> {
        wait_until_reachable(&pg, timeout).await?;
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size as usize)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(5)))
            .wait_timeout(Some(Duration::from_secs(10)))
            .build()?;
        Ok(Store {
            pool,
            message_write: messages::MessageWrite::default(),
        })
    }

    /// Creates `database` if it does not exist (the managed cluster starts with only `postgres`).
    pub async fn create_database_if_missing(
        admin: &tokio_postgres::Config,
        database: &str,
        timeout: Duration,
    ) -> Result<(), StoreError> {
        let client = wait_until_reachable(admin, timeout).await?;
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .await?
            .is_some();
        if !exists {
            // Identifiers cannot be bound as parameters; `database` is the engine's own constant.
            let quoted = database.replace('"', "\"\"");
            client
                .batch_execute(&format!("CREATE DATABASE \"{quoted}\""))
                .await?;
            tracing::info!(database, "created the database");
        }
        Ok(())
    }

    /// Applies pending migrations; returns the names of those applied now (empty when current).
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.get().await?;
        let client: &mut tokio_postgres::Client = &mut conn;
        // Building an index over a large table may outlast the engine's statement timeout.
        client.batch_execute("SET statement_timeout = 0").await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let report = embedded::migrations::runner().run_async(client).await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        client.batch_execute("RESET statement_timeout").await?;
        let applied: Vec<String> = report?
            .applied_migrations()
            .iter()
            .map(|m| m.to_string())
            .collect();
        for name in &applied {
            tracing::info!(migration = %name, "applied migration");
        }
        Ok(applied)
    }

    /// The schema version this build of the engine expects.
    pub fn expected_schema_version() -> i32 {
        embedded::migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| m.version())
            .max()
            .unwrap_or(0)
    }

    /// Whether the database answers and its schema is current.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        let probe = async {
            let client = self.pool.get().await.map_err(StoreError::from)?;
            let exists: bool = client
                .query_one(
                    "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
                    &[],
                )
                .await?
                .get(0);
            let applied: i32 = if exists {
                client
                    .query_one(
                        "SELECT coalesce(max(version), 0) FROM refinery_schema_history",
                        &[],
                    )
                    .await?
                    .get(0)
            } else {
                0
            };
            Ok::<i32, StoreError>(applied)
        };
        let applied = match tokio::time::timeout(READINESS_TIMEOUT, probe).await {
            Ok(Ok(applied)) => applied,
            Ok(Err(err)) => {
                tracing::warn!(%err, "readiness probe failed");
                return Err(NotReady::DatabaseDown);
            }
            Err(_) => {
                tracing::warn!("readiness probe timed out");
                return Err(NotReady::DatabaseDown);
            }
        };
        let expected = Self::expected_schema_version();
        if applied < expected {
            return Err(NotReady::MigrationsPending { applied, expected });
        }
        Ok(())
    }

    /// Closes the pool: idle connections are dropped and no new ones are made.
    pub fn close(&self) {
        self.pool.close();
    }
}

/// Connects once to prove the database answers, retrying with capped exponential backoff.
async fn wait_until_reachable(
    pg: &tokio_postgres::Config,
    timeout: Duration,
) -> Result<tokio_postgres::Client, StoreError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        match pg.connect(NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(%err, "probe connection ended");
                    }
                });
                return Ok(client);
            }
            Err(source) => {
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(StoreError::Unreachable {
                        waited_s: waited.as_secs(),
                        source,
                    });
                }
                tracing::warn!(err = %source, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(delay.min(timeout - waited)).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}
