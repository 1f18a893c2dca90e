//! Supervisors on live calls, end to end: a real engine (managed PostgreSQL, loopback sockets),
//! the project's Twilio caller and realtime peer, and a supervisor on the real websocket (or the
//! REST actions) with an API key of the supervisor role. Audio is checked by its content: the
//! tones the simulators and the supervisor send are found (dominant frequency) where they must
//! be heard, and not where they must not.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::accounts::issue_api_key;
use switchboard::auth::Role;
use switchboard_actors::audio::{OpusDecoder, OpusEncoder, g711, tone};
use switchboard_actors::persistence::DEFAULT_ORG;
use switchboard_actors::realtime::ConversationItem;
use switchboard_sim::harness::LocalEngine;
use switchboard_sim::realtime_peer::{ConnectionLog, PeerConfig, RealtimePeer};
use switchboard_sim::twilio_caller::{CallReport, CallerConfig, Event, Pace, Step, TwilioCaller};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;
use uuid::Uuid;

const TOKEN: &str = "twilio-supervise-token";
/// The caller's tone, the agent's (the peer's default) and the supervisor's.
const CALLER_HZ: u32 = 1000;
const AGENT_HZ: f64 = 440.0;
const SUPERVISOR_HZ: f64 = 2000.0;

struct Running {
    engine: LocalEngine,
    url: Url,
    keys: HashMap<&'static str, String>,
}

/// An engine whose AI is `peer`, with API keys: `supervisor`, `agent` (default organization)
/// and `other` (an admin of another organization).
async fn engine(peer: &RealtimePeer) -> Running {
    let engine = LocalEngine::start(&peer.url(), TOKEN, &[]).await.unwrap();
    let store = engine.store();
    let other = store
        .create_organization("Other", "other")
        .await
        .unwrap()
        .id;
    let mut keys = HashMap::new();
    for (name, org, role) in [
        ("supervisor", DEFAULT_ORG, Role::Supervisor),
        ("agent", DEFAULT_ORG, Role::Agent),
        ("other", other, Role::Admin),
    ] {
        let key = issue_api_key(store, org, name, role).await.unwrap().key;
        keys.insert(name, key);
    }
    Running {
        url: engine.url.clone(),
        engine,
        keys,
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

impl Running {
    async fn shutdown(self) {
        self.engine.shutdown().await.unwrap();
    }

    fn endpoint(&self, path: &str) -> String {
        self.engine.endpoint(path)
    }

    /// `POST /api/v1/calls/{sid}/{action}` as `key`: (status, body).
    async fn act(&self, key: &str, sid: &str, action: &str, body: Option<Value>) -> (u16, Value) {
        let client = reqwest::Client::new();
        let mut request = client
            .post(self.endpoint(&format!("/api/v1/calls/{sid}/{action}")))
            .bearer_auth(&self.keys[key]);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The call's recording (WAV bytes), once written.
    async fn recording(&self, sid: &str) -> Vec<u8> {
        for _ in 0..100 {
            let response = reqwest::Client::new()
                .get(self.endpoint(&format!("/api/v1/calls/{sid}/recording")))
                .bearer_auth(&self.keys["supervisor"])
                .send()
                .await
                .unwrap();
            if response.status() == 200 {
                return response.bytes().await.unwrap().to_vec();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no recording of {sid}");
    }

    async fn live(&self, key: &str) -> Value {
        reqwest::Client::new()
            .get(self.endpoint("/api/v1/calls/live"))
            .bearer_auth(&self.keys[key])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until `sid` is live.
    async fn wait_live(&self, sid: &str) {
        for _ in 0..200 {
            let live = self.live("supervisor").await;
            if live["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["call_sid"] == sid)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("call {sid} never went live");
    }

    /// Opens the supervisor socket (`Err(status)` when the upgrade is refused).
    async fn supervise(&self, key: &str, sid: &str, query: &str) -> Result<Socket, u16> {
        let ws = self.url.as_str().replacen("http", "ws", 1);
        let url = format!(
            "{}api/v1/calls/{sid}/supervise?{query}",
            ws.trim_end_matches('/').to_owned() + "/"
        );
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.keys[key]).parse().unwrap(),
        );
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(err) => panic!("supervisor socket: {err}"),
        }
    }
}

/// What a supervisor socket delivered.
#[derive(Default)]
struct Heard {
    ready: Option<Value>,
    packets: Vec<Vec<u8>>,
    texts: Vec<Value>,
}

impl Heard {
    fn events(&self, kind: &str) -> Vec<&Value> {
        self.texts
            .iter()
            .filter(|t| t["type"] == "event" && t["event"] == kind)
            .collect()
    }
}

/// Reads `socket` until it ends (or `limit` passes).
async fn read_all(mut socket: Socket, limit: Duration) -> Heard {
    let mut heard = Heard::default();
    let _ = tokio::time::timeout(limit, async {
        while let Some(Ok(message)) = socket.next().await {
            match message {
                Message::Binary(bytes) => heard.packets.push(bytes.to_vec()),
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "ready" {
                        heard.ready = Some(value);
                    } else {
                        heard.texts.push(value);
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    })
    .await;
    heard
}

/// Sends `action` and waits for its ack (skipping audio and events); the reply.
async fn command(socket: &mut Socket, action: Value) -> Value {
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
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "ack" || value["type"] == "error" {
                return value;
            }
        }
    }
}

/// `ms` of a supervisor tone as 20 ms Opus packets at 48 kHz, sent in real time, while the
/// socket's incoming messages are drained.
async fn speak(socket: &mut Socket, ms: u32) {
    let mut encoder = OpusEncoder::new(48_000, 1).unwrap();
    let pcm = tone::sine(SUPERVISOR_HZ, 48_000, ms as usize * 48, 8000.0);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for frame in pcm.chunks_exact(960) {
        tick.tick().await;
        let packet = encoder.encode(frame).unwrap().to_vec();
        socket.send(Message::binary(packet)).await.unwrap();
        while let Ok(Some(_)) = tokio::time::timeout(Duration::ZERO, socket.next()).await {}
    }
}

fn caller(running: &Running, script: Vec<Step>) -> CallerConfig {
    CallerConfig::new(running.url.clone(), TOKEN)
        .script(script)
        .pace(Pace::RealTime)
}

/// The caller says `ms` of its tone and waits for the agent's answer.
fn turn(ms: u32) -> Vec<Step> {
    vec![
        Step::Speak { ms, hz: CALLER_HZ },
        Step::Silence { ms: 600 },
        Step::WaitForAgent { max_ms: 6000 },
    ]
}

/// When (call clock) the caller received each piece of agent media.
fn agent_media_at(report: &CallReport) -> Vec<u64> {
    report
        .timeline
        .iter()
        .filter(|(_, e)| matches!(e, Event::AgentMedia { .. }))
        .map(|(at, _)| *at)
        .collect()
}

/// Agent audio the caller received, as PCM.
fn received_pcm(report: &CallReport) -> Vec<i16> {
    let mut pcm = Vec::new();
    g711::decode_ulaw_into_vec(&report.agent_audio, &mut pcm);
    pcm
}

fn system_items(log: &ConnectionLog) -> Vec<String> {
    log.items_created
        .iter()
        .filter_map(|item| match &item.item {
            ConversationItem::Message { role, .. } if role == "system" => item.item.text(),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_hears_both_sides_in_opus_and_the_live_transcripts() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer).await;
    let config = caller(
        &running,
        vec![
            Step::Silence { ms: 600 },
            Step::Speak {
                ms: 1500,
                hz: CALLER_HZ,
            },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 6000 },
            Step::HangUp,
        ],
    );
    let sid = config.call_sid.clone();
    let call = tokio::spawn(TwilioCaller::place(config));
    running.wait_live(&sid).await;
    let socket = running
        .supervise("supervisor", &sid, "codec=opus&rate=48000&channels=stereo")
        .await
        .expect("a supervisor may listen");
    // A second listener, in another format, on the same call.
    let second = running
        .supervise("supervisor", &sid, "codec=pcm16&rate=16000")
        .await
        .expect("several supervisors may listen");
    let second = tokio::spawn(read_all(second, Duration::from_secs(20)));
    // The sockets join the live list as their sessions start.
    let mut ours = Value::Null;
    for _ in 0..100 {
        let live = running.live("supervisor").await;
        ours = live["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["call_sid"] == sid)
            .unwrap()
            .clone();
        if ours["supervisors"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let heard = read_all(socket, Duration::from_secs(20)).await;
    let report = call.await.unwrap().expect("the call went through");
    assert!(report.agent_audio_ms >= 1400, "{}", report.agent_audio_ms);
    let ready = heard.ready.clone().expect("ready first");
    assert_eq!(ready["audio"]["codec"], "opus");
    assert_eq!(ready["audio"]["channels"], "stereo");
    assert_eq!(ours["supervisors"].as_array().unwrap().len(), 2, "{ours}");
    let second = second.await.unwrap();
    assert_eq!(second.ready.as_ref().unwrap()["audio"]["rate"], 16_000);
    assert!(
        second.packets.iter().all(|p| p.len() == 640),
        "20 ms of 16 kHz mono"
    );
    let mixed: Vec<i16> = second
        .packets
        .iter()
        .flat_map(|p| p.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])))
        .collect();
    assert!(tone::tone_amplitude(&mixed, f64::from(CALLER_HZ), 16_000) > 100.0);
    assert!(tone::tone_amplitude(&mixed, AGENT_HZ, 16_000) > 100.0);

    // About one packet per 20 ms of the call while the supervisor listened.
    assert!(
        heard.packets.len() >= 150,
        "{} packets",
        heard.packets.len()
    );
    let mut decoder = OpusDecoder::new(48_000, 2).unwrap();
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for packet in &heard.packets {
        let pcm = decoder.decode(packet).expect("decodable Opus");
        for pair in pcm.chunks_exact(2) {
            left.push(pair[0]);
            right.push(pair[1]);
        }
    }
    // The caller's tone is on the left, the agent's on the right, each absent from the other.
    let level = |pcm: &[i16], hz: f64| tone::tone_amplitude(pcm, hz, 48_000);
    assert!(level(&left, f64::from(CALLER_HZ)) > 20.0 * level(&left, AGENT_HZ).max(1.0));
    assert!(level(&right, AGENT_HZ) > 20.0 * level(&right, f64::from(CALLER_HZ)).max(1.0));
    let loudest = |pcm: &[i16]| {
        // The stretch where the side speaks: its loudest 500 ms.
        pcm.chunks(24_000)
            .max_by_key(|c| tone::rms(c) as u64)
            .unwrap()
            .to_vec()
    };
    let caller_hz = tone::dominant_frequency(&loudest(&left), 48_000);
    let agent_hz = tone::dominant_frequency(&loudest(&right), 48_000);
    assert!(
        (caller_hz - f64::from(CALLER_HZ)).abs() < 10.0,
        "{caller_hz}"
    );
    assert!((agent_hz - AGENT_HZ).abs() < 5.0, "{agent_hz}");

    // Live transcripts of both sides, and the call's end, came on the socket.
    let transcripts: Vec<String> = heard
        .events("message.created")
        .iter()
        .filter(|e| e["data"]["data"]["message_type"] == "transcript")
        .map(|e| e["data"]["data"]["content"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        transcripts
            .iter()
            .any(|t| t.starts_with("Caller utterance 1"))
            && transcripts.iter().any(|t| t.starts_with("Agent reply 1")),
        "{transcripts:?}"
    );
    assert!(!heard.events("call.ended").is_empty());
    assert_eq!(heard.texts.last().unwrap()["type"], "ended");
    running.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whispers_reach_only_the_ai_and_a_barge_in_is_heard_by_the_caller() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer).await;
    let config = caller(&running, vec![Step::Silence { ms: 6000 }, Step::HangUp]);
    let sid = config.call_sid.clone();
    let call = tokio::spawn(TwilioCaller::place(config));
    running.wait_live(&sid).await;
    let mut socket = running
        .supervise(
            "supervisor",
            &sid,
            "codec=pcm16&rate=8000&input_codec=opus&input_rate=48000",
        )
        .await
        .unwrap();

    let ack = command(
        &mut socket,
        json!({ "action": "whisper", "text": "Offer the refund." }),
    )
    .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    // Audio before the barge is not the caller's to hear.
    speak(&mut socket, 200).await;
    let ack = command(&mut socket, json!({ "action": "barge" })).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    speak(&mut socket, 1000).await;
    let ack = command(&mut socket, json!({ "action": "unbarge" })).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    speak(&mut socket, 400).await;
    let refused = command(&mut socket, json!({ "action": "unbarge" })).await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["error"]["code"], "conflict");
    let bad = command(&mut socket, json!({ "action": "dance" })).await;
    assert_eq!(bad["error"]["code"], "bad_request");
    let report = call.await.unwrap().expect("the call went through");
    drop(socket);

    // The AI got the whisper as a system item; it did not answer it.
    let logs = peer.connections();
    let system = system_items(&logs[0]);
    assert!(
        system.iter().any(|t| t.contains("Offer the refund.")),
        "{system:?}"
    );
    assert!(
        logs[0].responses.is_empty(),
        "the caller never spoke: no reply"
    );
    // The caller heard the supervisor's tone while barged in, about 1 s of it, and nothing else.
    let pcm = received_pcm(&report);
    let hz = tone::dominant_frequency(&pcm, 8000);
    assert!((hz - SUPERVISOR_HZ).abs() < SUPERVISOR_HZ * 0.01, "{hz} Hz");
    assert!(
        report.agent_audio_ms.abs_diff(1000) <= 120,
        "{} ms of supervisor audio",
        report.agent_audio_ms
    );
    // The recording carries the supervisor on the agent channel (right).
    let wav = running.recording(&sid).await;
    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    let rate = reader.spec().sample_rate;
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let agent: Vec<i16> = samples.chunks_exact(2).map(|lr| lr[1]).collect();
    let loud: Vec<i16> = agent
        .chunks(rate as usize / 50)
        .filter(|c| tone::rms(c) > 1000.0)
        .flatten()
        .copied()
        .collect();
    let heard_ms = loud.len() as u64 * 1000 / u64::from(rate);
    assert!(heard_ms.abs_diff(1000) <= 120, "{heard_ms} ms recorded");
    let hz = tone::dominant_frequency(&loud, rate);
    assert!(
        (hz - SUPERVISOR_HZ).abs() < SUPERVISOR_HZ * 0.01,
        "recorded {hz} Hz"
    );
    running.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_silences_the_ai_until_release_then_it_answers_with_the_context() {
    let peer = RealtimePeer::start(PeerConfig {
        reply_ms: 800,
        ..PeerConfig::default()
    })
    .unwrap();
    let running = engine(&peer).await;
    let config = caller(
        &running,
        vec![
            Step::Speak {
                ms: 800,
                hz: CALLER_HZ,
            },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::Silence { ms: 800 },
            Step::Speak {
                ms: 900,
                hz: CALLER_HZ,
            },
            Step::Silence { ms: 2500 },
            Step::WaitForAgent { max_ms: 8000 },
            Step::HangUp,
        ],
    );
    let sid = config.call_sid.clone();
    let call = tokio::spawn(TwilioCaller::place(config));
    // The first turn is the AI's; then a supervisor takes over (REST).
    peer.wait_for(Duration::from_secs(10), |logs| {
        logs.first().is_some_and(|l| l.responses_completed() == 1)
    })
    .await
    .expect("the AI answered the first utterance");
    let (status, body) = running.act("supervisor", &sid, "takeover", None).await;
    assert_eq!(status, 200, "{body}");
    // The caller's second utterance is transcribed, and the AI does not answer it.
    peer.wait_for(Duration::from_secs(10), |logs| {
        logs[0].utterances.len() == 2
    })
    .await
    .expect("the second utterance");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        peer.connections()[0].responses.len(),
        1,
        "silent while taken over"
    );
    let (status, _) = running.act("supervisor", &sid, "release", None).await;
    assert_eq!(status, 200);
    let (status, body) = running.act("supervisor", &sid, "release", None).await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("conflict")));
    let report = call.await.unwrap().expect("the call went through");

    let log = &peer.connections()[0];
    let system = system_items(log);
    assert!(
        system.iter().any(|t| t.contains("Caller utterance 2")),
        "the context replayed: {system:?}"
    );
    assert_eq!(
        log.responses_completed(),
        2,
        "the AI answered again after release"
    );
    // Two replies reached the caller, none during the takeover.
    assert!(
        report.agent_audio_ms.abs_diff(1600) <= 60,
        "{}",
        report.agent_audio_ms
    );
    let media_at = agent_media_at(&report);
    let longest_gap = media_at.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        longest_gap >= 2000,
        "a silent takeover between the replies: {longest_gap} ms"
    );
    running.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_and_other_organizations_are_refused_and_a_slow_supervisor_never_delays_the_call() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer).await;
    let config = caller(
        &running,
        [turn(1000), turn(1000), vec![Step::HangUp]].concat(),
    );
    let sid = config.call_sid.clone();
    let call = tokio::spawn(TwilioCaller::place(config));
    running.wait_live(&sid).await;

    assert_eq!(running.supervise("agent", &sid, "").await.err(), Some(403));
    assert_eq!(running.supervise("other", &sid, "").await.err(), Some(404));
    let unknown = Uuid::new_v4().to_string();
    assert_eq!(
        running.supervise("supervisor", &unknown, "").await.err(),
        Some(404)
    );
    assert_eq!(
        running
            .supervise("supervisor", &sid, "codec=mp3")
            .await
            .err(),
        Some(400)
    );
    for action in ["whisper", "barge", "takeover", "hangup"] {
        let body = (action == "whisper").then(|| json!({ "text": "psst" }));
        let (status, _) = running.act("agent", &sid, action, body.clone()).await;
        assert_eq!(status, 403, "agent {action}");
        let (status, _) = running.act("other", &sid, action, body).await;
        assert_eq!(status, 404, "other organization {action}");
    }
    let (status, body) = running
        .act("supervisor", &sid, "whisper", Some(json!({})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        running.live("other").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A supervisor that reads nothing, in the fattest format, for the whole call.
    let slow = running
        .supervise("supervisor", &sid, "codec=pcm16&rate=48000&channels=stereo")
        .await
        .unwrap();
    let report = call.await.unwrap().expect("the call went through");
    drop(slow);
    // Both replies came whole and the caller's audio kept its 20 ms pace to the AI.
    assert_eq!(report.wait_timeouts, 0);
    assert!(
        report.agent_audio_ms.abs_diff(3000) <= 40,
        "{}",
        report.agent_audio_ms
    );
    let log = &peer.connections()[0];
    assert!(log.audio_ms.abs_diff(report.caller_audio_ms) <= 60);
    let media_at = agent_media_at(&report);
    // Within a reply deltas arrive every 100 ms; no stall while the supervisor is stuck.
    let stalls = media_at
        .windows(2)
        .filter(|w| (150..1000).contains(&(w[1] - w[0])))
        .count();
    assert_eq!(stalls, 0, "{media_at:?}");
    running.shutdown().await;
    peer.shutdown().await;
}
