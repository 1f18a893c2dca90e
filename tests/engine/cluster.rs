//! The managed PostgreSQL cluster: first start, restart on the same directory, stale pid files,
//! clean stop, exclusivity of a data directory, and the error without server binaries.

use switchboard_sim::harness::test_db as db;

use std::path::Path;

use db::{is_alive, processes_mentioning, start_cluster};
use switchboard::store::{ClusterError, ManagedCluster, PgBinaries};

#[tokio::test]
async fn first_start_creates_the_cluster_and_accepts_connections() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start_cluster(dir.path()).await;
    assert!(
        dir.path().join("postgres/PG_VERSION").is_file(),
        "initdb ran"
    );
    assert!(cluster.is_running());
    let client = connect_postgres_db(&cluster).await;
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    // Unix socket only: nothing listens on TCP.
    let listen: String = client
        .query_one("SHOW listen_addresses", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(listen, "");
}

#[tokio::test]
async fn restart_reuses_the_cluster_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut cluster = start_cluster(dir.path()).await;
        let client = connect_postgres_db(&cluster).await;
        client
            .batch_execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42);")
            .await
            .unwrap();
        drop(client);
        tokio::task::spawn_blocking(move || cluster.stop())
            .await
            .unwrap()
            .unwrap();
    }
    let initialized = std::fs::metadata(dir.path().join("postgres/PG_VERSION"))
        .unwrap()
        .modified()
        .unwrap();
    let cluster = start_cluster(dir.path()).await;
    let again = std::fs::metadata(dir.path().join("postgres/PG_VERSION"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(initialized, again, "no second initdb");
    let client = connect_postgres_db(&cluster).await;
    let v: i32 = client
        .query_one("SELECT v FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 42);
}

#[tokio::test]
async fn stale_pid_file_does_not_stop_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start_cluster(dir.path()).await;
    cluster = tokio::task::spawn_blocking(move || {
        cluster.stop().unwrap();
        cluster
    })
    .await
    .unwrap();
    drop(cluster);
    let pid_file = dir.path().join("postgres/postmaster.pid");
    assert!(!pid_file.exists());

    // A crash leaves postmaster.pid behind; its pid is now reused by an unrelated live process
    // (this test), which PostgreSQL alone would take for a running server.
    let data_dir = dir.path().join("postgres");
    let stale = format!(
        "{}\n{}\n1700000000\n5432\n{}\n\n  5432001    32768\nready   \n",
        std::process::id(),
        data_dir.display(),
        data_dir.display()
    );
    std::fs::write(&pid_file, &stale).unwrap();
    let cluster = start_cluster(dir.path()).await;
    assert!(cluster.is_running());
    assert_ne!(cluster.server_pid(), Some(std::process::id()));
    drop(cluster);

    // And a pid that is not alive at all.
    std::fs::write(
        &pid_file,
        stale.replacen(&std::process::id().to_string(), "4194000", 1),
    )
    .unwrap();
    let cluster = start_cluster(dir.path()).await;
    let client = connect_postgres_db(&cluster).await;
    client.query_one("SELECT 1", &[]).await.unwrap();
}

#[tokio::test]
async fn stop_leaves_no_postgres_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = start_cluster(dir.path()).await;
    let pid = cluster.server_pid().expect("server pid");
    assert!(is_alive(pid));
    assert!(!processes_mentioning(dir.path()).is_empty());
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop().unwrap();
        cluster
    })
    .await
    .unwrap();
    assert!(!is_alive(pid), "postmaster {pid} still alive");
    assert!(!dir.path().join("postgres/postmaster.pid").exists());
    assert!(
        processes_mentioning(dir.path()).is_empty(),
        "processes left: {:?}",
        processes_mentioning(dir.path())
    );
    assert!(!cluster.is_running());
}

#[tokio::test]
async fn dropping_the_cluster_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start_cluster(dir.path()).await;
    let pid = cluster.server_pid().unwrap();
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
    assert!(!is_alive(pid));
}

#[tokio::test]
async fn two_engines_cannot_share_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start_cluster(dir.path()).await;
    let path = dir.path().to_owned();
    let second = tokio::task::spawn_blocking(move || {
        ManagedCluster::start(&path, PgBinaries::from_environment().unwrap())
    })
    .await
    .unwrap();
    match second {
        Err(ClusterError::InUse { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("expected InUse, got {other:?}"),
    }
    // The first is untouched.
    connect_postgres_db(&cluster)
        .await
        .query_one("SELECT 1", &[])
        .await
        .unwrap();
}

#[test]
fn missing_binaries_error_names_the_package() {
    let err =
        PgBinaries::locate(Some("".as_ref()), Path::new("/nonexistent/postgresql")).unwrap_err();
    assert!(matches!(err, ClusterError::BinariesNotFound));
    let message = err.to_string();
    assert!(message.contains("apt-get install postgresql"), "{message}");
}

#[test]
fn binaries_are_found_under_the_debian_versions_root() {
    // With nothing on PATH, the newest /usr/lib/postgresql/<version>/bin is used.
    let found = PgBinaries::locate(Some("".as_ref()), Path::new("/usr/lib/postgresql"));
    assert!(found.is_ok(), "{found:?}");
}

async fn connect_postgres_db(cluster: &ManagedCluster) -> tokio_postgres::Client {
    db::connect_to(cluster.pg_config_for("postgres")).await
}
