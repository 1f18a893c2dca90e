//! Test support: a real PostgreSQL (the engine's own managed cluster). [`TestDb::start`] gives a
//! test its own database, cloned from the run's migrated template in the run's shared cluster;
//! [`TestDb::own_cluster`] a cluster of its own, for tests that stop or restart PostgreSQL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::shared_db::TestDatabase;
use switchboard::store::{ManagedCluster, PgBinaries, Store, postgres_server};
use tempfile::TempDir;

/// A migrated database for one test.
pub struct TestDb {
    pub store: Store,
    /// Set by [`TestDb::own_cluster`]: the test's own cluster.
    pub cluster: Option<ManagedCluster>,
    database: Option<TestDatabase>,
    pg: tokio_postgres::Config,
    // Dropped last: an own cluster stops before its directory goes.
    pub dir: TempDir,
}

impl TestDb {
    /// A database of its own in the run's shared cluster, migrated (cloned from the template).
    pub async fn start() -> TestDb {
        let database = TestDatabase::create().await.expect("test database");
        let store = database.store(4).await.expect("connect");
        TestDb {
            store,
            cluster: None,
            pg: database.pg_config(),
            database: Some(database),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A managed cluster of its own in a fresh temp dir, with the engine's database created and
    /// migrated.
    pub async fn own_cluster() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster = start_cluster(dir.path()).await;
        let timeout = Duration::from_secs(30);
        Store::create_database_if_missing(
            &cluster.pg_config_for("postgres"),
            postgres_server::DATABASE,
            timeout,
        )
        .await
        .expect("create database");
        let store = Store::connect(cluster.pg_config(), 4, timeout)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        TestDb {
            store,
            pg: cluster.pg_config(),
            cluster: Some(cluster),
            database: None,
            dir,
        }
    }

    /// Connection parameters of the test's database.
    pub fn pg_config(&self) -> tokio_postgres::Config {
        self.pg.clone()
    }

    /// A plain client for checks that go around the store (schema constraints).
    pub async fn client(&self) -> tokio_postgres::Client {
        connect_to(self.pg_config()).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // The store's connections go before its database is dropped.
        self.store.close();
        self.database.take();
    }
}

pub async fn start_cluster(data_dir: &Path) -> ManagedCluster {
    let data_dir: PathBuf = data_dir.to_owned();
    tokio::task::spawn_blocking(move || {
        ManagedCluster::start(
            &data_dir,
            PgBinaries::from_environment().expect("PostgreSQL binaries"),
        )
    })
    .await
    .unwrap()
    .expect("managed cluster starts")
}

pub async fn connect(cluster: &ManagedCluster) -> tokio_postgres::Client {
    connect_to(cluster.pg_config()).await
}

pub async fn connect_to(config: tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect over the unix socket");
    tokio::spawn(connection);
    client
}

/// Live processes whose command line mentions `needle` (to find servers left behind).
pub fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| is_alive(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(&needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Running (a zombie waiting to be reaped is not).
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat[stat.rfind(')')? + 1..].trim_start().chars().next()?;
            Some(!matches!(state, 'Z' | 'X'))
        })
        .unwrap_or(false)
}

/// Creates `n` voice conversations (with no call rows) and returns their ids.
pub async fn create_conversations(client: &tokio_postgres::Client, n: usize) -> Vec<uuid::Uuid> {
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
    client
        .execute(
            "INSERT INTO conversations (id, org_id, channel) SELECT id, $2, 'voice' FROM UNNEST($1::uuid[]) AS id",
            &[&ids, &switchboard_actors::persistence::DEFAULT_ORG],
        )
        .await
        .unwrap();
    ids
}
