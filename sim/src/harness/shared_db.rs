//! One managed PostgreSQL for a whole test run, and a fresh database per test cloned from a
//! migrated template (`CREATE DATABASE … TEMPLATE …`, dropped when the test is done).
//!
//! Starting a cluster (initdb, start, nine migrations) costs seconds of CPU; a test run has a
//! couple of hundred tests, each in its own process under nextest. The first test process of a run
//! starts the engine's own [`ManagedCluster`] in a directory named after the run, migrates a
//! template database, and leaves the server running; the others find it there (a file lock orders
//! them). A watchdog process stops the server and removes its directory once the test runner (the
//! tests' parent process: nextest, or cargo test) has exited. Tests that stop or kill PostgreSQL
//! keep a cluster of their own.
//!
//! The shared cluster runs without fsync: a crash of a test machine loses only test data.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

use switchboard::store::{ManagedCluster, PgBinaries, Store};

/// The migrated database every test database is cloned from.
const TEMPLATE: &str = "switchboard_template";

/// The shared cluster of this run, once some process of the run has started it.
#[derive(Debug)]
struct Shared {
    /// Where the cluster (and its socket) lives: `<root>/postgres`.
    cluster_dir: PathBuf,
}

/// A database of its own for one test, in the run's shared cluster; dropped with this value.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    cluster_dir: PathBuf,
}

impl TestDatabase {
    /// Clones the migrated template into a new database (starting the run's cluster first if no
    /// test of the run has).
    pub async fn create() -> anyhow::Result<TestDatabase> {
        let shared = tokio::task::spawn_blocking(shared)
            .await
            .context("shared cluster set-up panicked")??;
        let name = format!("test_{}", Uuid::new_v4().simple());
        let admin = connect(&ManagedCluster::config_at(&shared.cluster_dir, "postgres")).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
            .await
            .with_context(|| format!("create {name} from the template"))?;
        Ok(TestDatabase {
            name,
            cluster_dir: shared.cluster_dir.clone(),
        })
    }

    /// Connection parameters of this database.
    pub fn pg_config(&self) -> tokio_postgres::Config {
        ManagedCluster::config_at(&self.cluster_dir, &self.name)
    }

    /// This database as a `database.url` setting (key/value form, over the unix socket).
    pub fn url(&self) -> String {
        ManagedCluster::url_at(&self.cluster_dir, &self.name)
    }

    /// A store on this database.
    pub async fn store(&self, pool_size: u32) -> anyhow::Result<Store> {
        Ok(Store::connect(self.pg_config(), pool_size, Duration::from_secs(30)).await?)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // On a thread of its own: this may run inside a runtime, which cannot be blocked on.
        let (name, dir) = (self.name.clone(), self.cluster_dir.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = connect(&ManagedCluster::config_at(&dir, "postgres")).await?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(err)) = dropped {
            tracing::warn!(%err, database = %self.name, "test database not dropped");
        }
    }
}

async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The run's shared cluster, started by the first caller of the run.
fn shared() -> anyhow::Result<&'static Shared> {
    static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| set_up().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("shared test cluster: {e}"))
}

/// The run: nextest names it; under cargo test, the runner's pid does.
fn run_key(runner: u32) -> String {
    match std::env::var("NEXTEST_RUN_ID") {
        Ok(id) if id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect(),
        _ => format!("p{runner}"),
    }
}

fn set_up() -> anyhow::Result<Shared> {
    let runner = std::os::unix::process::parent_id();
    let root = std::env::temp_dir().join(format!("switchboard-tests-{}", run_key(runner)));
    let lock_path = root.with_extension("lock");
    let lock = File::create(&lock_path).with_context(|| format!("create {lock_path:?}"))?;
    lock.lock().context("lock the shared cluster")?;
    let cluster_dir = root.join("postgres");
    let ready = root.join("ready");
    if ready.is_file() && cluster_dir.join("postmaster.pid").is_file() {
        return Ok(Shared { cluster_dir });
    }
    let cluster = ManagedCluster::start(&root, PgBinaries::from_environment()?)
        .context("start the shared cluster")?;
    let server = cluster
        .server_pid()
        .context("the shared cluster has no server pid")?;
    // Watched from here on, so that a failed set-up leaves nothing behind either.
    watch(runner, server, &root)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(prepare_template(&cluster))?;
    fs::write(&ready, b"")?;
    // Left running for the run's other tests; the watchdog stops it.
    std::mem::forget(cluster);
    Ok(Shared { cluster_dir })
}

/// No fsync (test data only), then the template: created, migrated, closed to connections.
async fn prepare_template(cluster: &ManagedCluster) -> anyhow::Result<()> {
    let admin = connect(&cluster.pg_config_for("postgres")).await?;
    // One statement each: several in one batch run as one transaction, which these refuse.
    for statement in [
        "ALTER SYSTEM SET fsync = off",
        "ALTER SYSTEM SET synchronous_commit = off",
        "ALTER SYSTEM SET full_page_writes = off",
        "SELECT pg_reload_conf()",
        &format!("DROP DATABASE IF EXISTS {TEMPLATE}"),
        &format!("CREATE DATABASE {TEMPLATE}"),
    ] {
        admin.batch_execute(statement).await?;
    }
    let store = Store::connect(cluster.pg_config_for(TEMPLATE), 1, Duration::from_secs(30)).await?;
    store.migrate().await?;
    store.close();
    drop(store);
    // Nobody may be connected to a template while it is cloned.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {TEMPLATE} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
        ))
        .await?;
    Ok(())
}

/// A detached watchdog: once `runner` has exited, the server is stopped (immediate shutdown) and
/// the run's directory removed.
fn watch(runner: u32, server: u32, root: &Path) -> anyhow::Result<()> {
    let script = r#"
        while kill -0 "$1" 2>/dev/null; do sleep 1; done
        kill -QUIT "$2" 2>/dev/null
        n=0
        while kill -0 "$2" 2>/dev/null && [ "$n" -lt 300 ]; do sleep 0.1; n=$((n+1)); done
        rm -rf "$3" "$3.lock"
    "#;
    use std::os::unix::process::CommandExt;
    Command::new("sh")
        .args(["-c", script, "switchboard-test-watchdog"])
        .arg(runner.to_string())
        .arg(server.to_string())
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("start the shared cluster's watchdog")?;
    Ok(())
}
