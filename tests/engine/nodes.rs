//! Several engines as one cluster, end to end: a real `nats-server` on loopback (JetStream, a
//! user and password), two engines sharing one PostgreSQL database and one recordings directory,
//! the project's Twilio caller and realtime peer. A call carried by node A is listened to, barged
//! into, whispered to and hung up from node B; B's event stream follows it and `Last-Event-ID`
//! resumes on A; drain, a killed node, a NATS restart and overload behave as an operator needs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::accounts::issue_api_key;
use switchboard::auth::Role;
use switchboard_actors::audio::tone;
use switchboard_actors::persistence::DEFAULT_ORG;
use switchboard_actors::realtime::ConversationItem;
use switchboard_sim::harness::sse::{self, Item, SseClient};
use switchboard_sim::harness::{LocalEngine, NatsServer};
use switchboard_sim::realtime_peer::{PeerConfig, RealtimePeer};
use switchboard_sim::twilio_caller::{CallerConfig, Pace, Step, TwilioCaller};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "twilio-cluster-token";

/// Two nodes in one cluster, and an admin's API key (which supervises too).
struct Cluster {
    a: LocalEngine,
    b: LocalEngine,
    key: String,
    nats: NatsServer,
    _recordings: tempfile::TempDir,
}

fn settings<'a>(
    nats: &'a NatsServer,
    recordings: &'a Path,
    owned: &'a mut Vec<(&'static str, String)>,
    extra: &[(&'static str, &str)],
) -> Vec<(&'a str, &'a str)> {
    owned.extend(nats.settings());
    owned.push((
        "SWITCHBOARD_STORAGE_RECORDINGS_DIR",
        recordings.display().to_string(),
    ));
    owned.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    owned.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

impl Cluster {
    async fn start(peer: &RealtimePeer, extra: &[(&'static str, &str)]) -> Cluster {
        let nats = NatsServer::start().unwrap();
        let recordings = tempfile::tempdir().unwrap();
        let mut owned = Vec::new();
        let a_settings = settings(&nats, recordings.path(), &mut owned, extra);
        let a = LocalEngine::start(&peer.url(), TOKEN, &a_settings)
            .await
            .unwrap();
        let mut owned = vec![("SWITCHBOARD_DATABASE_URL", a.database_url().to_owned())];
        let b_settings = settings(&nats, recordings.path(), &mut owned, extra);
        let b = LocalEngine::start(&peer.url(), TOKEN, &b_settings)
            .await
            .unwrap();
        let key = issue_api_key(a.store(), DEFAULT_ORG, "cluster tests", Role::Admin)
            .await
            .unwrap()
            .key;
        let _ = sse::BEARER.set(key.clone());
        Cluster {
            a,
            b,
            key,
            nats,
            _recordings: recordings,
        }
    }

    async fn get(&self, node: &LocalEngine, path: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(node.endpoint(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, node: &LocalEngine, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(node.endpoint(path))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn shutdown(self) {
        self.a.shutdown().await.unwrap();
        self.b.shutdown().await.unwrap();
        drop(self.nats);
    }
}

/// The node a call's row names, once its stream started.
async fn node_of(engine: &LocalEngine, call_sid: &str) -> String {
    let client = engine.client().await.unwrap();
    for _ in 0..400 {
        let row = client
            .query_opt(
                "SELECT node FROM calls WHERE call_sid = $1 AND node IS NOT NULL",
                &[&call_sid],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("call {call_sid} never streamed");
}

fn caller(engine: &LocalEngine, script: Vec<Step>) -> CallerConfig {
    CallerConfig::new(engine.url.clone(), TOKEN)
        .script(script)
        .pace(Pace::RealTime)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn supervise(node: &LocalEngine, key: &str, sid: &str) -> Socket {
    let ws = node.url.as_str().replacen("http", "ws", 1);
    let url = format!(
        "{}/api/v1/calls/{sid}/supervise?codec=pcm16&rate=8000&input_codec=pcm16&input_rate=8000",
        ws.trim_end_matches('/')
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// Sends `action` and waits for its answer, keeping the audio heard meanwhile.
async fn act(socket: &mut Socket, action: Value, heard: &mut Vec<i16>) -> Value {
    socket
        .send(Message::text(action.to_string()))
        .await
        .unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an answer to the action")
            .expect("socket open")
            .unwrap();
        match message {
            Message::Binary(bytes) => pcm_into(&bytes, heard),
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ack" || value["type"] == "error" {
                    return value;
                }
            }
            _ => {}
        }
    }
}

fn pcm_into(bytes: &[u8], out: &mut Vec<i16>) {
    out.extend(
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]])),
    );
}

/// Listens for `ms`, keeping what is heard.
async fn listen(socket: &mut Socket, ms: u64, heard: &mut Vec<i16>) {
    let _ = tokio::time::timeout(Duration::from_millis(ms), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Binary(bytes) = message {
                pcm_into(&bytes, heard);
            }
        }
    })
    .await;
}

/// `ms` of a 2 kHz tone as PCM16 8 kHz, 20 ms per message, in real time.
async fn speak(socket: &mut Socket, ms: u32, heard: &mut Vec<i16>) {
    let pcm = tone::sine(2000.0, 8000, ms as usize * 8, 8000.0);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for frame in pcm.chunks_exact(160) {
        tick.tick().await;
        let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
        socket.send(Message::binary(bytes)).await.unwrap();
        while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::ZERO, socket.next()).await
        {
            if let Message::Binary(bytes) = message {
                pcm_into(&bytes, heard);
            }
        }
    }
}

fn call_events<'a>(items: &'a [Item], call_id: &str) -> Vec<&'a Item> {
    items
        .iter()
        .filter(|i| {
            i.data()["call_id"] == call_id
                || i.data().pointer("/message/metadata/call_id") == Some(&json!(call_id))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_node_a_is_supervised_followed_and_fetched_from_node_b() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let cluster = Cluster::start(&peer, &[]).await;
    let (a, b) = (&cluster.a, &cluster.b);

    let (status, nodes) = cluster.get(b, "/api/v1/cluster").await;
    assert_eq!(status, 200, "{nodes}");
    assert_eq!(nodes["clustered"], true);
    let up: Vec<&str> = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["state"] == "up")
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert!(
        up.contains(&a.node().id.as_str()) && up.contains(&b.node().id.as_str()),
        "{nodes}"
    );

    // A dashboard on B, from before the call.
    let mut on_b = SseClient::open(&b.url, "/api/v1/events", &[]).await;

    let config = caller(
        a,
        vec![
            Step::Silence { ms: 300 },
            Step::Speak { ms: 1500, hz: 1000 },
            Step::Silence { ms: 15_000 },
        ],
    );
    let sid = config.call_sid.clone();
    let call = tokio::spawn(TwilioCaller::place(config));
    assert_eq!(node_of(b, &sid).await, a.node().id, "the call streams on A");
    let (_, live) = cluster.get(b, "/api/v1/calls/live").await;
    assert!(
        live["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["call_sid"] == sid),
        "B lists A's live call: {live}"
    );

    // B hears A's call (the caller's tone), barges in, and the caller hears B's supervisor.
    let mut socket = supervise(b, &cluster.key, &sid).await;
    let mut heard = Vec::new();
    listen(&mut socket, 1500, &mut heard).await;
    assert!(
        tone::tone_amplitude(&heard, 1000.0, 8000) > 100.0,
        "the caller's tone is heard on node B ({} samples)",
        heard.len()
    );
    let ack = act(&mut socket, json!({"action": "barge"}), &mut heard).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    speak(&mut socket, 1000, &mut heard).await;
    let ack = act(&mut socket, json!({"action": "unbarge"}), &mut heard).await;
    assert_eq!(ack["type"], "ack", "{ack}");

    // Whisper and hang-up over REST on B.
    let (status, body) = cluster
        .post(
            b,
            &format!("/api/v1/calls/{sid}/whisper"),
            Some(json!({"text": "Offer <b>10%</b>."})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = cluster
        .post(b, &format!("/api/v1/calls/{sid}/hangup"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let report = call.await.unwrap().expect("the call went through");
    assert!(report.engine_hung_up, "the supervisor on B hung up");
    drop(socket);
    let mut agent = Vec::new();
    switchboard_actors::audio::g711::decode_ulaw_into_vec(&report.agent_audio, &mut agent);
    assert!(
        tone::tone_amplitude(&agent, 2000.0, 8000) > 100.0,
        "the caller heard node B's supervisor"
    );
    let system: Vec<String> = peer.connections()[0]
        .items_created
        .iter()
        .filter_map(|item| match &item.item {
            ConversationItem::Message { role, .. } if role == "system" => item.item.text(),
            _ => None,
        })
        .collect();
    assert!(
        system.iter().any(|t| t.contains("Offer <b>10%</b>.")),
        "{system:?}"
    );
    // Commands to a call that ended: 409 from either node.
    let (status, _) = cluster
        .post(b, &format!("/api/v1/calls/{sid}/hangup"), None)
        .await;
    assert_eq!(status, 409);

    // B's stream saw the call from its start to its end, in order.
    let items = on_b
        .events_until(|i| i.kind() == "call.ended" && i.data()["call_id"].is_string())
        .await;
    let call_id = items.last().unwrap().data()["call_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ours = call_events(&items, &call_id);
    let kinds: Vec<&str> = ours.iter().map(|i| i.kind()).collect();
    let started = kinds.iter().position(|k| *k == "call.started").unwrap();
    let barged = kinds
        .iter()
        .position(|k| *k == "call.supervisor_action")
        .unwrap();
    assert!(started < barged, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"call.ended"), "{kinds:?}");
    let ids: Vec<u64> = items.iter().filter_map(Item::id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // Resuming on A after B's `call.started` delivers the same events with the same ids.
    let after = ours[started].id().unwrap();
    let mut on_a = SseClient::open(
        &a.url,
        "/api/v1/events",
        &[("Last-Event-ID", &after.to_string())],
    )
    .await;
    let resumed = on_a
        .events_until(|i| i.id() == items.last().unwrap().id())
        .await;
    let expected: Vec<u64> = ids.iter().copied().filter(|id| *id > after).collect();
    let got: Vec<u64> = resumed.iter().filter_map(Item::id).collect();
    assert_eq!(got, expected, "no event lost or repeated across nodes");

    // The recording, written by A, is served by B.
    let mut wav = None;
    for _ in 0..100 {
        let response = reqwest::Client::new()
            .get(b.endpoint(&format!("/api/v1/calls/{sid}/recording")))
            .bearer_auth(&cluster.key)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            wav = Some(response.bytes().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reader = hound::WavReader::new(std::io::Cursor::new(wav.expect("a recording"))).unwrap();
    assert!(
        reader.duration() > reader.spec().sample_rate,
        "over a second recorded"
    );

    // The relay's latency, as B's listener measured it.
    let (_, nodes) = cluster.get(b, "/api/v1/cluster").await;
    let latency = &nodes["relay_latency"];
    assert!(latency["frames"].as_u64().unwrap() > 50, "{latency}");
    println!(
        "supervisor audio relayed A→B over NATS: {} frames, p50 {} µs, p99 {} µs, max {} µs",
        latency["frames"], latency["p50_us"], latency["p99_us"], latency["max_us"]
    );
    cluster.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_finishes_its_calls_while_new_ones_go_to_the_other() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let cluster = Cluster::start(&peer, &[("SWITCHBOARD_CLUSTER_DRAIN_TIMEOUT_S", "60")]).await;
    let (a, b) = (&cluster.a, &cluster.b);
    let first = caller(
        a,
        vec![
            Step::Speak { ms: 800, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::Silence { ms: 2500 },
            Step::HangUp,
        ],
    );
    let first_sid = first.call_sid.clone();
    let first = tokio::spawn(TwilioCaller::place(first));
    assert_eq!(node_of(a, &first_sid).await, a.node().id);

    // Drain A, asked on B.
    let (status, body) = cluster
        .post(
            b,
            &format!("/api/v1/cluster/nodes/{}/drain", a.node().id),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let mut draining = Value::Null;
    for _ in 0..100 {
        let response = reqwest::get(a.endpoint("/ready")).await.unwrap();
        if response.status() == 503 {
            draining = response.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(draining["reason"], "draining", "{draining}");

    // A new call reaching A's webhook streams on B.
    let second = caller(
        a,
        vec![
            Step::Speak { ms: 600, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::HangUp,
        ],
    );
    let second_sid = second.call_sid.clone();
    let second = TwilioCaller::place(second)
        .await
        .expect("the new call went through");
    assert_eq!(node_of(a, &second_sid).await, b.node().id);
    assert!(second.agent_audio_ms > 0);

    // The call A carried finished as the caller wanted, then A stopped by itself.
    let first = first
        .await
        .unwrap()
        .expect("the drained node's call went through");
    assert!(!first.engine_hung_up, "the drain did not cut the call");
    assert!(first.agent_audio_ms > 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !a.has_stopped() {
        assert!(Instant::now() < deadline, "the drained node did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_fail_clearly_while_nats_is_down_and_recover_without_dropping_the_call() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let mut cluster = Cluster::start(&peer, &[]).await;
    let config = caller(&cluster.a, vec![Step::Silence { ms: 40_000 }]);
    let sid = config.call_sid.clone();
    let call = tokio::spawn(TwilioCaller::place(config));
    assert_eq!(node_of(&cluster.b, &sid).await, cluster.a.node().id);
    let whisper = json!({"text": "Stay calm."});
    let path = format!("/api/v1/calls/{sid}/whisper");
    let (status, body) = cluster.post(&cluster.b, &path, Some(whisper.clone())).await;
    assert_eq!(status, 200, "{body}");

    cluster.nats.stop();
    let (status, body) = cluster.post(&cluster.b, &path, Some(whisper.clone())).await;
    assert_eq!(status, 503, "a clear error while the bus is down: {body}");
    assert!(!call.is_finished(), "the call goes on without NATS");

    cluster.nats.resume().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = cluster.post(&cluster.b, &path, Some(whisper.clone())).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "commands never recovered: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, _) = cluster
        .post(&cluster.b, &format!("/api/v1/calls/{sid}/hangup"), None)
        .await;
    assert_eq!(status, 200);
    let report = call.await.unwrap().expect("the call went through");
    assert!(report.engine_hung_up, "it ended by the hang-up, not before");
    cluster.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offered_twice_its_capacity_a_node_admits_its_share_and_those_calls_lose_no_frame() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let engine = LocalEngine::start(
        &peer.url(),
        TOKEN,
        &[("SWITCHBOARD_CLUSTER_MAX_CALLS", "2")],
    )
    .await
    .unwrap();
    let calls: Vec<_> = (0..4)
        .map(|i| {
            let config = caller(
                &engine,
                vec![
                    Step::Speak { ms: 1000, hz: 1000 },
                    Step::Silence { ms: 600 },
                    Step::WaitForAgent { max_ms: 5000 },
                    Step::Silence { ms: 500 },
                    Step::HangUp,
                ],
            )
            .from(format!("+1415555010{i}"));
            tokio::spawn(TwilioCaller::place(config))
        })
        .collect();
    let mut admitted = Vec::new();
    let mut refused = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(report) => admitted.push(report),
            Err(switchboard_sim::twilio_caller::CallerError::BadTwiml(why)) => {
                refused += 1;
                assert!(why.contains("Stream"), "{why}");
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!((admitted.len(), refused), (2, 2));
    for report in admitted {
        assert!(report.agent_audio_ms > 0);
        let mut summary = None;
        for _ in 0..100 {
            summary = engine.store().call_summary(&report.call_sid).await.unwrap();
            if summary.as_ref().is_some_and(|s| s.recording_path.is_some()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let path = summary.unwrap().recording_path.expect("recorded");
        let reader = hound::WavReader::open(path).unwrap();
        let recorded_ms =
            u64::from(reader.duration()) * 1000 / u64::from(reader.spec().sample_rate);
        // Every caller frame reached the call: the recording is as long as what was sent.
        assert!(
            recorded_ms.abs_diff(report.caller_audio_ms) <= 40,
            "recorded {recorded_ms} ms of {} ms sent",
            report.caller_audio_ms
        );
    }
    engine.shutdown().await.unwrap();
    peer.shutdown().await;
}

/// A `switchboard serve` process in the cluster (a node that can be killed).
fn serve_node(data_dir: &Path, port: u16, env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SWITCHBOARD_") {
            cmd.env_remove(name);
        }
    }
    cmd.arg("serve")
        .env("SWITCHBOARD_LOG_LEVEL", "warn")
        .env("SWITCHBOARD_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SWITCHBOARD_HTTP_PUBLIC_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .env("SWITCHBOARD_STORAGE_DATA_DIR", data_dir)
        .env("SWITCHBOARD_ANALYSIS_ENABLED", "false")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/ready")).await
            && response.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "the node never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_calls_are_ended_by_another_and_its_recordings_play_after_restart() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let nats = NatsServer::start().unwrap();
    let recordings = tempfile::tempdir().unwrap();
    let mut b_env: Vec<(&str, String)> = nats.settings();
    b_env.push((
        "SWITCHBOARD_STORAGE_RECORDINGS_DIR",
        recordings.path().display().to_string(),
    ));
    let b_settings: Vec<(&str, &str)> = b_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let b = LocalEngine::start(&peer.url(), TOKEN, &b_settings)
        .await
        .unwrap();
    let key = issue_api_key(b.store(), DEFAULT_ORG, "cluster tests", Role::Admin)
        .await
        .unwrap()
        .key;
    let _ = sse::BEARER.set(key.clone());

    let a_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut a_env = b_env.clone();
    a_env.extend([
        ("SWITCHBOARD_DATABASE_URL", b.database_url().to_owned()),
        ("SWITCHBOARD_CLUSTER_NODE_ID", "node-a".to_owned()),
        ("SWITCHBOARD_AI_REALTIME_URL", peer.url()),
        ("SWITCHBOARD_AI_API_KEY", "sk-test".to_owned()),
        ("SWITCHBOARD_TWILIO_AUTH_TOKEN", TOKEN.to_owned()),
    ]);
    let mut a = serve_node(a_dir.path(), port, &a_env);
    wait_ready(port).await;

    let mut on_b = SseClient::open(&b.url, "/api/v1/events", &[]).await;
    let a_url = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let config = CallerConfig::new(a_url, TOKEN)
        .script([
            Step::Speak { ms: 1500, hz: 1000 },
            Step::Silence { ms: 30_000 },
        ])
        .pace(Pace::RealTime);
    let sid = config.call_sid.clone();
    let call = tokio::spawn(TwilioCaller::place(config));
    assert_eq!(node_of(&b, &sid).await, "node-a");
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // kill -9: no goodbye, no finalized WAV header.
    a.kill().unwrap();
    a.wait().unwrap();
    let killed = Instant::now();
    let report = call.await.unwrap();
    assert!(
        report.is_ok(),
        "the caller saw its socket close: {report:?}"
    );
    let ended = on_b
        .events_until(|i| i.kind() == "call.ended")
        .await
        .pop()
        .unwrap();
    let took = killed.elapsed();
    assert_eq!(
        ended.data()["data"]["reason"],
        "node_lost",
        "{:?}",
        ended.data()
    );
    assert!(took < Duration::from_secs(15), "ended after {took:?}");
    println!("a killed node's call was ended by the other node after {took:?}");
    let (_, nodes) = {
        let response = reqwest::Client::new()
            .get(b.endpoint("/api/v1/cluster"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    let lost = nodes["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "node-a")
        .unwrap();
    assert_eq!(lost["state"], "lost", "{nodes}");

    // A starts again on its data directory: it repairs the WAV it was writing.
    let mut a = serve_node(a_dir.path(), port, &a_env);
    wait_ready(port).await;
    let mut wav = None;
    for _ in 0..100 {
        let response = reqwest::Client::new()
            .get(b.endpoint(&format!("/api/v1/calls/{sid}/recording")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            wav = Some(response.bytes().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut reader =
        hound::WavReader::new(std::io::Cursor::new(wav.expect("the repaired recording"))).unwrap();
    let rate = reader.spec().sample_rate;
    assert!(
        reader.duration() >= rate,
        "at least a second recorded: {} samples",
        reader.duration()
    );
    let caller: Vec<i16> = reader
        .samples::<i16>()
        .map(Result::unwrap)
        .step_by(2)
        .collect();
    assert!(
        tone::tone_amplitude(&caller, 1000.0, rate) > 100.0,
        "the caller's tone plays"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(a.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    a.wait().unwrap();
    b.shutdown().await.unwrap();
    peer.shutdown().await;
}
