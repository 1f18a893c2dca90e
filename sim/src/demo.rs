//! `switchboard-sim demo` (also `switchboard demo`): the engine on its defaults, with the built-in
//! realtime peer standing in for OpenAI and the built-in Twilio caller placing calls through the
//! real path (signed webhook, TwiML, signed media socket, call actor, AI session, persistence,
//! recording).

use std::time::Duration;

use crate::harness::nats::{self, NatsServer};
use crate::openai_rest::{OpenAiRestPeer, RestPeerConfig};
use crate::realtime_peer::{PeerConfig, RealtimePeer};
use crate::twilio_caller::{CallerConfig, Pace, Step, TwilioCaller};
use switchboard::app::{Engine, shutdown_signal};
use switchboard::auth::{Role, password, tokens};
use switchboard::config::{Config, DatabaseUrl, Secret};
use switchboard::store::ManagedCluster;
use switchboard::store::accounts::CredentialsChange;

/// Runs the demo until SIGINT/SIGTERM: `calls` calls placed once, `live` calls kept going, `nodes` engines (more than one: a cluster with its own
/// `nats-server`, sharing the managed PostgreSQL, the keys and the recordings directory).
pub async fn run(
    mut config: Config,
    calls: usize,
    live: usize,
    nodes: usize,
) -> anyhow::Result<()> {
    let peer = RealtimePeer::start(PeerConfig::default())?;
    // Post-call analysis against the built-in Chat Completions peer.
    let rest = OpenAiRestPeer::start(RestPeerConfig::default())?;
    config.ai.api_base = url::Url::parse(&rest.api_base())?;
    config.analysis.enabled = true;
    config.ai.realtime_url = url::Url::parse(&peer.url())?;
    config.ai.api_key = Secret::new("sk-demo");
    // The demo's Twilio is the built-in caller: signatures stay on, with a demo token.
    let token = format!("demo-{}", uuid::Uuid::new_v4().simple());
    config.twilio.auth_token = Secret::new(token.clone());
    config.twilio.validate_signatures = true;
    let nats = if nodes > 1 {
        let nats = NatsServer::start_in(&config.storage.data_dir.join("nats"))?;
        config.cluster.nats_url = Some(url::Url::parse(&nats.url())?);
        config.cluster.nats_user = nats::USER.to_owned();
        config.cluster.nats_password = Secret::new(nats.password.clone());
        config.cluster.node_id = Some("node-1".to_owned());
        Some(nats)
    } else {
        None
    };

    let mut started: Vec<(Engine, tokio::net::TcpListener, url::Url)> = Vec::new();
    for k in 1..=nodes {
        let mut node = config.clone();
        let port = config.http.listen.port() + (k as u16 - 1);
        node.http.listen.set_port(port);
        if let Some((first, _, _)) = started.first() {
            // Node k shares node 1's database, keys and recordings.
            let data_dir = config.storage.data_dir.join(format!("node-{k}"));
            copy_keys(&config.storage.data_dir, &data_dir)?;
            node.storage.data_dir = data_dir;
            node.storage.recordings_dir = first.config().storage.recordings_dir.clone();
            let cluster = first.cluster().ok_or_else(|| {
                anyhow::anyhow!("--nodes needs the managed database (no database.url)")
            })?;
            node.database.url = DatabaseUrl::parse(&ManagedCluster::url_at(
                cluster.dir(),
                switchboard::store::postgres_server::DATABASE,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            node.cluster.node_id = Some(format!("node-{k}"));
        }
        let listener = Engine::bind(&node).await?;
        let url = url::Url::parse(&format!("http://{}", listener.local_addr()?))?;
        node.http.public_url = url.clone();
        let engine = Engine::start(node).await?;
        started.push((engine, listener, url));
    }
    let engine = &started[0].0;
    let engine_url = started[0].2.clone();
    let database = match engine.cluster() {
        Some(cluster) => format!("managed PostgreSQL in {}", cluster.dir().display()),
        None => format!("PostgreSQL at {}", engine.config().database.url.redacted()),
    };
    println!("Switchboard demo is up.");
    println!(
        "  HTTP:      {engine_url}  (GET /health, GET /ready; Twilio: POST /twilio/voice, /twilio/status, WS /twilio/media)"
    );
    println!(
        "  REST:      {engine_url}api/v1/calls  (all routes: {engine_url}api/v1/openapi.json; live events: {engine_url}api/v1/events)"
    );
    if let Some(nats) = &nats {
        println!(
            "  Cluster:   {} nodes on NATS {} (JetStream in {}); any node serves everything:",
            nodes,
            nats.url(),
            config.storage.data_dir.join("nats").display()
        );
        for (engine, _, url) in &started {
            println!("    {}  {url}", engine.node().id);
        }
        println!("    (GET {engine_url}api/v1/cluster lists them)");
    }
    println!("  Database:  {database}");
    let access = demo_access(engine, &token).await?;
    println!(
        "  Org:       {} ({}), its own Twilio account {DEMO_ACCOUNT} (token sealed in the database)",
        access.org_name, access.org_slug
    );
    println!("  Dashboard: {engine_url}  (sign in as the admin below)");
    println!(
        "  Admin:     {DEMO_ADMIN}  password {}  (new on every run)",
        access.password
    );
    println!(
        "  Token:     {}  (access token, 15 min)",
        access.access_token
    );
    println!("  API key:   {}  (admin)", access.api_key);
    println!(
        "  Try:       curl -H 'Authorization: Bearer {}' {engine_url}api/v1/calls",
        access.api_key
    );
    println!("  AI:        built-in realtime peer at {}", peer.url());
    println!(
        "  Analysis:  built-in Chat Completions peer at {} (every ended call is summarized and scored: GET /api/v1/calls/{{id}}/analysis)",
        rest.api_base()
    );
    println!(
        "  Recordings: {}",
        engine.config().storage.recordings_dir.display()
    );

    let store = engine.store().clone();
    let urls: Vec<url::Url> = started.iter().map(|(_, _, url)| url.clone()).collect();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = shutdown_signal();
    tokio::spawn({
        let stop_tx = stop_tx.clone();
        async move {
            signal.await;
            let _ = stop_tx.send(true);
        }
    });
    let mut serving = Vec::new();
    for (engine, listener, _) in started {
        let mut stop = stop_rx.clone();
        serving.push(tokio::spawn(async move {
            let shutdown = engine.draining_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            });
            engine.serve(listener, shutdown).await;
            engine
        }));
    }

    if calls > 0 {
        println!("Placing {calls} simulated call(s)…");
        let mut placed = Vec::new();
        for i in 0..calls {
            // In a cluster, the calls reach the nodes in turn (as a load balancer would).
            let caller = CallerConfig::new(urls[i % urls.len()].clone(), token.clone())
                .account_sid(DEMO_ACCOUNT)
                .from(format!("+1415555{:04}", i % 10_000))
                .script([
                    Step::Silence { ms: 200 },
                    Step::Speak {
                        ms: 1200 + 200 * (i as u32 % 5),
                        hz: 1000,
                    },
                    Step::Silence { ms: 700 },
                    Step::WaitForAgent { max_ms: 8000 },
                    Step::HangUp,
                ])
                .pace(Pace::RealTime);
            let sid = caller.call_sid.clone();
            placed.push((sid, tokio::spawn(TwilioCaller::place(caller))));
        }
        for (sid, task) in placed {
            match task.await? {
                Ok(report) => {
                    // The call's last rows land just after it hangs up.
                    let mut summary = None;
                    for _ in 0..50 {
                        summary = store.call_summary(&sid).await?;
                        if summary.as_ref().is_some_and(|s| s.recording_path.is_some()) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    match summary {
                        Some(s) => {
                            println!(
                                "  {sid}  call {}  {}  agent audio {} ms  {} messages  recording {}",
                                s.call_id,
                                s.status,
                                report.agent_audio_ms,
                                s.messages,
                                s.recording_path.as_deref().unwrap_or("(none)")
                            );
                            let call = format!("{engine_url}api/v1/calls/{}", s.call_id);
                            println!("      {call}");
                            println!("      {call}/messages");
                            println!("      {call}/transcript?format=text");
                            println!("      {call}/recording");
                        }
                        None => println!("  {sid}  (no call row)"),
                    }
                }
                Err(err) => println!("  {sid}  failed: {err}"),
            }
        }
    }
    let mut keepers = Vec::new();
    if live > 0 {
        println!(
            "Keeping {live} simulated call(s) live (about 2.5 minutes each, then another): watch them on {engine_url}"
        );
        for k in 0..live {
            let (url, token, stop) = (urls[k % urls.len()].clone(), token.clone(), stop_rx.clone());
            keepers.push(tokio::spawn(keep_live(url, token, k, stop)));
        }
    }
    println!("The engine keeps serving on {engine_url}; stop it with Ctrl-C.");
    let mut engines = Vec::new();
    for task in serving {
        engines.push(task.await?);
    }
    drop(stop_tx);
    for keeper in keepers {
        let _ = keeper.await;
    }
    // Node 1 runs the database: it stops last.
    for engine in engines.into_iter().rev() {
        engine.stop().await?;
    }
    drop(nats);
    peer.shutdown().await;
    Ok(())
}

/// Keeps one simulated call live until `stop`: a long conversation (the caller speaks, waits for
/// the agent, pauses), then another in its place.
async fn keep_live(
    url: url::Url,
    token: String,
    k: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    for n in 0u32.. {
        if *stop.borrow() {
            return;
        }
        let mut script = vec![Step::Silence { ms: 300 }];
        for turn in 0..12 {
            script.push(Step::Speak {
                ms: 1200 + 150 * ((n + turn) % 6),
                hz: 1000,
            });
            script.push(Step::Silence { ms: 700 });
            script.push(Step::WaitForAgent { max_ms: 8000 });
            script.push(Step::Silence {
                ms: 6000 + 1000 * (turn % 4),
            });
        }
        script.push(Step::HangUp);
        let caller = CallerConfig::new(url.clone(), token.clone())
            .account_sid(DEMO_ACCOUNT)
            .from(format!("+1415556{:02}{:02}", k % 100, n % 100))
            .script(script)
            .pace(Pace::RealTime);
        let failed = tokio::select! {
            placed = TwilioCaller::place(caller) => placed.err(),
            _ = stop.wait_for(|stop| *stop) => return,
        };
        if let Some(err) = failed {
            println!("  a live demo call failed: {err}");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// Node 1's generated keys (`<data_dir>/keys`) for another node: tokens and sealed credentials
/// must mean the same on every node.
fn copy_keys(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    let (from, to) = (from.join("keys"), to.join("keys"));
    std::fs::create_dir_all(&to)?;
    for entry in std::fs::read_dir(&from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

/// The demo organization's Twilio account (the simulated calls come from it).
const DEMO_ACCOUNT: &str = "AC0000000000000000000000000000de00";
const DEMO_ADMIN: &str = "admin@demo.switchboard.local";

struct DemoAccess {
    org_name: String,
    org_slug: String,
    /// The admin's password (new on every run).
    password: String,
    access_token: String,
    api_key: String,
}

/// The demo organization (made on the first run) with this run's Twilio token as its own, its
/// admin, an access token and an API key for the REST URLs.
async fn demo_access(engine: &Engine, twilio_token: &str) -> anyhow::Result<DemoAccess> {
    let store = engine.store();
    let err = |e: switchboard::store::accounts::AccountError| anyhow::anyhow!("{e}");
    let org = match store.find_organization("demo").await? {
        Some(org) => org,
        None => store
            .create_organization("Demo call center", "demo")
            .await
            .map_err(err)?,
    };
    let sealed = engine
        .auth_keys()
        .sealer
        .seal(org.id, "twilio_auth_token", twilio_token)?;
    store
        .update_credentials(
            org.id,
            &CredentialsChange {
                twilio_account_sid: Some(Some(DEMO_ACCOUNT.to_owned())),
                twilio_auth_token: Some(Some(sealed)),
                openai_api_key: None,
            },
        )
        .await
        .map_err(err)?;
    // A fresh password on every run, printed: the demo's admin is for signing in to the dashboard.
    let password = password::generate()?;
    let to_hash = password.clone();
    let phc = tokio::task::spawn_blocking(move || password::hash(&to_hash)).await??;
    let admin = match store.user_for_login(DEMO_ADMIN).await? {
        Some((user, _)) => {
            store.set_password(user.id, &phc).await?;
            user
        }
        None => store
            .create_user(org.id, DEMO_ADMIN, "Demo admin", Role::Admin, &phc)
            .await
            .map_err(err)?,
    };
    let (_, refresh_hash) = tokens::opaque(tokens::REFRESH_PREFIX)?;
    let ttl = engine.config().auth.access_token_ttl_s;
    let expires = chrono::Utc::now() + chrono::Duration::seconds(ttl as i64);
    let session = store.open_session(&admin, &refresh_hash, expires).await?;
    let claims = tokens::access_claims(admin.id, org.id, admin.role, session, ttl);
    let access_token = engine.auth_keys().jwt.issue(&claims)?;
    let api_key = switchboard::accounts::issue_api_key(store, org.id, "demo", Role::Admin)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .key;
    Ok(DemoAccess {
        org_name: org.name,
        org_slug: org.slug,
        password,
        access_token,
        api_key,
    })
}
