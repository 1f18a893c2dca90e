//! The HTTP surface: liveness, readiness (and its 503s), the JSON error shape, on a real socket and
//! through `warp::test`, against a real managed PostgreSQL.

use switchboard_sim::harness::test_db as db;

use std::collections::HashMap;

use db::{TestDb, processes_mentioning};
use switchboard::app::Engine;
use switchboard::config::Config;
use switchboard::http::{Deps, error::ErrorBody, routes};

fn state(store: &switchboard::store::Store) -> Deps {
    Deps::from_config(store.clone(), &Config::defaults())
}
use warp::http::StatusCode;

fn config_for(data_dir: &std::path::Path) -> Config {
    let env: HashMap<String, String> = [
        ("SWITCHBOARD_HTTP_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "SWITCHBOARD_STORAGE_DATA_DIR",
            data_dir.display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Config::from_sources(None, &env).unwrap()
}

#[tokio::test]
async fn engine_serves_health_ready_and_json_errors_on_a_real_socket() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path());
    let listener = Engine::bind(&config).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let engine = Engine::start(config).await.unwrap();
    let expected = switchboard::store::Store::expected_schema_version();
    assert_eq!(engine.applied_migrations().len(), expected as usize);
    assert_eq!(engine.applied_migrations()[0], "V1__initial_schema");
    assert!(dir.path().join("recordings").is_dir());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        engine
            .serve(listener, async {
                let _ = stop_rx.await;
            })
            .await;
        engine
    });

    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_s"].is_u64());

    let ready = http.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["schema_version"], expected);

    let missing = http
        .get(format!("{base}/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body: ErrorBody = missing.json().await.unwrap();
    assert_eq!(body.error.code, "not_found");
    assert!(!body.error.message.is_empty());

    let wrong_method = http.delete(format!("{base}/health")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: ErrorBody = wrong_method.json().await.unwrap();
    assert_eq!(body.error.code, "method_not_allowed");

    // Graceful stop: the server returns, the cluster stops, nothing is left running.
    stop_tx.send(()).unwrap();
    let engine = server.await.unwrap();
    engine.stop().await.unwrap();
    assert!(
        http.get(format!("{base}/health")).send().await.is_err(),
        "no longer accepting"
    );
    assert!(processes_mentioning(dir.path()).is_empty());
}

#[tokio::test]
async fn ready_is_503_while_the_database_is_down_and_recovers() {
    let mut db = TestDb::own_cluster().await;
    let routes = routes(state(&db.store));
    let key = switchboard::accounts::issue_api_key(
        &db.store,
        switchboard_actors::persistence::DEFAULT_ORG,
        "outage",
        switchboard::auth::Role::Admin,
    )
    .await
    .unwrap()
    .key;
    let calls = || {
        warp::test::request()
            .path("/api/v1/calls")
            .header("authorization", format!("Bearer {key}"))
    };

    let res = warp::test::request().path("/ready").reply(&routes).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(calls().reply(&routes).await.status(), StatusCode::OK);

    let mut cluster = db.cluster.take().expect("its own cluster");
    cluster = tokio::task::spawn_blocking(move || {
        cluster.stop().unwrap();
        cluster
    })
    .await
    .unwrap();
    let res = warp::test::request().path("/ready").reply(&routes).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: ErrorBody = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(body.error.code, "not_ready");
    assert!(
        body.error.message.contains("database"),
        "{}",
        body.error.message
    );
    // Liveness does not depend on the database.
    let res = warp::test::request().path("/health").reply(&routes).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The API says the database is away, and when to try again: a 503, never a 500.
    let res = calls().reply(&routes).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: ErrorBody = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(body.error.code, "unavailable");
    assert!(
        body.error.message.contains("retry"),
        "{}",
        body.error.message
    );

    cluster = tokio::task::spawn_blocking(move || {
        cluster.restart().unwrap();
        cluster
    })
    .await
    .unwrap();
    db.cluster = Some(cluster);
    let res = warp::test::request().path("/ready").reply(&routes).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "pool reconnects after the restart"
    );
    assert_eq!(calls().reply(&routes).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn ready_is_503_when_migrations_are_pending() {
    let db = TestDb::start().await;
    db.client()
        .await
        .batch_execute("DELETE FROM refinery_schema_history")
        .await
        .unwrap();
    let routes = routes(state(&db.store));
    let res = warp::test::request().path("/ready").reply(&routes).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: ErrorBody = serde_json::from_slice(res.body()).unwrap();
    assert!(
        body.error.message.contains("switchboard migrate"),
        "{}",
        body.error.message
    );
}
