//! The dashboard in a real browser (Debian's headless Chromium through chromedriver) against a real
//! engine with the project's Twilio caller and realtime peer: what a supervisor, an agent and an
//! admin see and do. Each test saves screenshots under `target/screenshots/`.

use std::time::{Duration, Instant};

use switchboard::auth::{Role, password};
use switchboard_actors::audio::{g711, tone};
use switchboard_actors::persistence::DEFAULT_ORG;
use switchboard_sim::harness::LocalEngine;
use switchboard_sim::realtime_peer::{PeerConfig, RealtimePeer};
use switchboard_sim::twilio_caller::{CallReport, CallerConfig, Pace, Step, TwilioCaller};

use crate::browser::{Browser, BrowserOptions, write_tone_wav};

const TOKEN: &str = "twilio-dashboard-token";
const PASSWORD: &str = "correct horse battery staple";
/// What the realtime peer says the caller said: markup that must stay text.
const HOSTILE: &str =
    r#"<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> refund?"#;

/// An engine whose AI is `peer`, with a user of each role (`admin@…`, `supervisor@…`, `agent@…`).
async fn engine(peer: &RealtimePeer) -> LocalEngine {
    engine_with(peer, &[]).await
}

/// [`engine`] with further `SWITCHBOARD_*` settings.
async fn engine_with(peer: &RealtimePeer, settings: &[(&str, &str)]) -> LocalEngine {
    let engine = LocalEngine::start(&peer.url(), TOKEN, settings)
        .await
        .unwrap();
    let phc = password::hash(PASSWORD).unwrap();
    for role in [Role::Admin, Role::Supervisor, Role::Agent] {
        let email = format!("{}@dashboard.test", role.as_str());
        engine
            .store()
            .create_user(
                DEFAULT_ORG,
                &email,
                &format!("Test {}", role.as_str()),
                role,
                &phc,
            )
            .await
            .unwrap();
    }
    engine
}

async fn sign_in(browser: &Browser, engine: &LocalEngine, role: &str) {
    browser.goto(&engine.endpoint("/")).await.unwrap();
    browser
        .fill("#login-email", &format!("{role}@dashboard.test"))
        .await
        .unwrap();
    browser.fill("#login-password", PASSWORD).await.unwrap();
    browser.click("#login-submit").await.unwrap();
    browser
        .wait_until(
            "document.body.dataset.role !== undefined",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
}

fn caller(engine: &LocalEngine, script: Vec<Step>) -> CallerConfig {
    CallerConfig::new(engine.url.clone(), TOKEN)
        .script(script)
        .pace(Pace::RealTime)
}

/// The call's id once its media stream is up (the engine's own registry says so).
async fn wait_live(engine: &LocalEngine, sid: &str) -> String {
    for _ in 0..400 {
        if engine
            .calls()
            .live_call_sids()
            .await
            .iter()
            .any(|s| s == sid)
        {
            let row = engine
                .client()
                .await
                .unwrap()
                .query_one("SELECT id::text FROM calls WHERE call_sid = $1", &[&sid])
                .await
                .unwrap();
            return row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("call {sid} never went live");
}

fn js_str(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

const WAIT: Duration = Duration::from_secs(10);

/// The caller's tone, the agent's (the peer's default) and the supervisor's microphone.
const CALLER_HZ: u32 = 600;
const AGENT_HZ: f64 = 440.0;
const MIC_HZ: f64 = 1000.0;

fn row(id: &str) -> String {
    format!("#board tr[data-call-id='{id}']")
}

async fn open(browser: &Browser, hash: &str) {
    browser
        .eval(&format!("(location.hash = {}, true)", js_str(hash)))
        .await
        .unwrap();
}

/// Page errors (uncaught exceptions, CSP violations, failed loads) since the last look.
async fn assert_no_errors(browser: &Browser) {
    let severe: Vec<_> = browser
        .console_log()
        .await
        .unwrap()
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "the page logged errors: {severe:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_follows_a_call_live_from_the_board_to_its_recording() {
    let peer = RealtimePeer::start(PeerConfig {
        caller_transcript: Some(HOSTILE.to_owned()),
        ..PeerConfig::default()
    })
    .unwrap();
    let engine = engine(&peer).await;
    let browser = Browser::start(BrowserOptions::default()).await.unwrap();
    sign_in(&browser, &engine, "supervisor").await;
    browser.wait_for("#board", WAIT).await.unwrap();
    // The tokens live in the page's memory only.
    let stored = browser
        .eval("localStorage.length + sessionStorage.length + document.cookie.length")
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing kept in storage or cookies");

    let speak = || Step::Speak {
        ms: 800,
        hz: CALLER_HZ,
    };
    let config = caller(
        &engine,
        vec![
            Step::Silence { ms: 300 },
            speak(),
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 6000 },
            speak(),
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 6000 },
            Step::Silence { ms: 1500 },
            Step::HangUp,
        ],
    );
    let sid = config.call_sid.clone();
    let call = tokio::spawn(TwilioCaller::place(config));
    let id = wait_live(&engine, &sid).await;
    let live_at = Instant::now();
    // On the board within a second of going live.
    browser
        .wait_for(&row(&id), Duration::from_secs(1))
        .await
        .unwrap();
    println!(
        "dashboard: the call was on the board {} ms after it went live",
        live_at.elapsed().as_millis()
    );
    browser.screenshot("board").await.unwrap();

    // Its view grows while the call lasts, and what the caller "said" stays text.
    browser.click(&format!("{} a", row(&id))).await.unwrap();
    browser.wait_for("#console", WAIT).await.unwrap();
    let count = "document.querySelectorAll('#transcript li.msg').length";
    browser
        .wait_until(
            "document.querySelector('#transcript li.from-customer') !== null",
            WAIT,
        )
        .await
        .unwrap();
    let first = browser.eval(count).await.unwrap().as_u64().unwrap();
    browser
        .wait_until(&format!("{count} > {first} && document.querySelectorAll('#transcript li.from-customer').length >= 2"), WAIT)
        .await
        .unwrap();
    let said = browser
        .text("#transcript li.from-customer .text")
        .await
        .unwrap();
    assert_eq!(said, HOSTILE, "the markup is shown as text");
    let ran = browser
        .eval("[window.__xss === undefined, document.querySelectorAll('#call-view img, #call-view script').length]")
        .await
        .unwrap();
    assert_eq!(
        ran,
        serde_json::json!([true, 0]),
        "nothing of it ran or became an element"
    );
    // A note and a whisper from the view join the conversation (the whisper only the AI's).
    browser
        .fill("#note-text", "Called about a refund.")
        .await
        .unwrap();
    browser.click("#note-add").await.unwrap();
    browser
        .fill("#whisper-text", "Offer the refund.")
        .await
        .unwrap();
    browser.click("#whisper-send").await.unwrap();
    browser
        .wait_until(
            "(() => { const notes = [...document.querySelectorAll('#transcript li.note .text')].map(n => n.textContent);
                      return notes.includes('Called about a refund.') && notes.includes('Offer the refund.'); })()",
            WAIT,
        )
        .await
        .unwrap();
    browser.screenshot("call-live").await.unwrap();

    // Back on the board: the call leaves it when it ends.
    open(&browser, "#/live").await;
    browser.wait_for(&row(&id), WAIT).await.unwrap();
    call.await.unwrap().expect("the call went through");
    browser
        .wait_until(
            &format!("document.querySelector({}) === null", js_str(&row(&id))),
            WAIT,
        )
        .await
        .unwrap();

    // The ended call: its recording plays, and seeks (Range requests) from a transcript line.
    let client = engine.client().await.unwrap();
    for _ in 0..100 {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM recordings WHERE call_id = $1::text::uuid",
                &[&id],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    open(&browser, &format!("#/calls/{id}")).await;
    browser.wait_for("#recording", WAIT).await.unwrap();
    let audio = "document.querySelector('#recording')";
    browser
        .wait_until(
            &format!("{audio}.readyState >= 1 && {audio}.seekable.length === 1"),
            WAIT,
        )
        .await
        .unwrap();
    let (duration, seekable) = {
        let v = browser
            .eval(&format!("[{audio}.duration, {audio}.seekable.end(0)]"))
            .await
            .unwrap();
        (v[0].as_f64().unwrap(), v[1].as_f64().unwrap())
    };
    assert!(duration > 3.0, "{duration} s");
    assert!(
        (seekable - duration).abs() < 0.1,
        "the whole file is seekable: {seekable} of {duration}"
    );
    let line = "#transcript li.from-ai button.seek";
    browser
        .wait_for(&format!("{line}:not([disabled])"), WAIT)
        .await
        .unwrap();
    let start: f64 = browser
        .eval(&format!(
            "Number(document.querySelector({}).closest('li').dataset.start)",
            js_str(line)
        ))
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    browser.click(line).await.unwrap();
    browser
        .wait_until(
            &format!("!{audio}.paused && {audio}.currentTime > {start} + 0.2"),
            WAIT,
        )
        .await
        .unwrap();
    let at = browser
        .eval(&format!("{audio}.currentTime"))
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(
        at >= start && at < start + 3.0,
        "played from {start} s: at {at} s"
    );
    browser.screenshot("call-ended").await.unwrap();
    assert_no_errors(&browser).await;

    browser.close().await.unwrap();
    engine.shutdown().await.unwrap();
    peer.shutdown().await;
}

/// The agent audio the caller received, split in 20 ms pieces: milliseconds dominated by the
/// agent's tone and by the microphone's.
fn heard(report: &CallReport) -> (u64, u64, Vec<i16>) {
    let mut pcm = Vec::new();
    g711::decode_ulaw_into_vec(&report.agent_audio, &mut pcm);
    let (mut agent_ms, mut mic_ms, mut mic) = (0, 0, Vec::new());
    for chunk in pcm.chunks_exact(160) {
        if tone::rms(chunk) < 300.0 {
            continue;
        }
        let (a, m) = (
            tone::tone_amplitude(chunk, AGENT_HZ, 8000),
            tone::tone_amplitude(chunk, MIC_HZ, 8000),
        );
        if m > a {
            mic_ms += 20;
            mic.extend_from_slice(chunk);
        } else {
            agent_ms += 20;
        }
    }
    (agent_ms, mic_ms, mic)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_listens_in_and_barges_in_with_the_microphone() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let engine = engine(&peer).await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("mic-1khz.wav");
    write_tone_wav(&wav, MIC_HZ, 5.0).unwrap();
    let browser = Browser::start(BrowserOptions {
        fake_audio: Some(wav),
        ..BrowserOptions::default()
    })
    .await
    .unwrap();
    sign_in(&browser, &engine, "supervisor").await;

    let config = caller(
        &engine,
        vec![
            Step::Silence { ms: 300 },
            Step::Speak {
                ms: 1000,
                hz: CALLER_HZ,
            },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 6000 },
            Step::Silence { ms: 8000 },
            Step::HangUp,
        ],
    );
    let sid = config.call_sid.clone();
    let call = tokio::spawn(TwilioCaller::place(config));
    let id = wait_live(&engine, &sid).await;
    open(&browser, &format!("#/calls/{id}")).await;

    // Listen: the page plays the call and its level meter reads the energy of what it plays.
    browser.click("#listen").await.unwrap();
    let peak = "Number(document.querySelector('#listen-level').dataset.peak || 0)";
    browser
        .wait_until(&format!("{peak} > 0.02"), WAIT)
        .await
        .unwrap();
    let level = browser.eval(peak).await.unwrap();
    println!("dashboard: listening, the page measured an RMS of {level} (full scale 1)");
    // Once the agent has answered (its reply has played), barge in with the microphone.
    browser
        .wait_until(
            "document.querySelector('#transcript li.from-ai') !== null",
            WAIT,
        )
        .await
        .unwrap();
    browser.click("#barge").await.unwrap();
    browser
        .wait_until(
            "document.querySelector('#barge').getAttribute('aria-pressed') === 'true'",
            WAIT,
        )
        .await
        .unwrap();
    browser
        .wait_until(
            "document.querySelector('#console-status').textContent.includes('barge')",
            WAIT,
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    browser.screenshot("console").await.unwrap();
    browser.click("#barge").await.unwrap();
    browser
        .wait_until(
            "document.querySelector('#barge').getAttribute('aria-pressed') === 'false'",
            WAIT,
        )
        .await
        .unwrap();
    let report = call.await.unwrap().expect("the call went through");

    // The caller heard the agent's reply, then the microphone's 1 kHz tone while barged in.
    let (agent_ms, mic_ms, mic) = heard(&report);
    println!(
        "dashboard: the caller heard {agent_ms} ms of the agent and {mic_ms} ms of the microphone"
    );
    assert!(agent_ms >= 1000, "{agent_ms} ms of the agent");
    assert!(
        (700..=2500).contains(&mic_ms),
        "{mic_ms} ms of the microphone"
    );
    let hz = tone::dominant_frequency(&mic, 8000);
    assert!((hz - MIC_HZ).abs() < 15.0, "the caller heard {hz} Hz");
    assert_no_errors(&browser).await;

    browser.close().await.unwrap();
    engine.shutdown().await.unwrap();
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_gets_no_supervisor_controls_and_an_admin_reads_analytics_on_a_phone() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    // Access tokens of 6 s: the page refreshes them (every 5 s) while the test goes on.
    let engine = engine_with(&peer, &[("SWITCHBOARD_AUTH_ACCESS_TOKEN_TTL_S", "6")]).await;
    let config = caller(
        &engine,
        vec![
            Step::Speak {
                ms: 600,
                hz: CALLER_HZ,
            },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 6000 },
            Step::Silence { ms: 6000 },
            Step::HangUp,
        ],
    );
    let sid = config.call_sid.clone();
    let call = tokio::spawn(TwilioCaller::place(config));
    let id = wait_live(&engine, &sid).await;

    // An agent: history and calls, no board, no console, no admin.
    let browser = Browser::start(BrowserOptions::default()).await.unwrap();
    sign_in(&browser, &engine, "agent").await;
    browser.wait_for("#history-table", WAIT).await.unwrap();
    let hidden = browser
        .eval("[...document.querySelectorAll('#nav a')].filter(a => !a.hidden).map(a => a.dataset.view)")
        .await
        .unwrap();
    assert_eq!(hidden, serde_json::json!(["history"]));
    open(&browser, &format!("#/calls/{id}")).await;
    browser.wait_for("#transcript li.msg", WAIT).await.unwrap();
    let controls = browser
        .eval("['#console', '#listen', '#barge', '#takeover', '#hangup', '#whisper-text'].filter(s => document.querySelector(s))")
        .await
        .unwrap();
    assert_eq!(
        controls,
        serde_json::json!([]),
        "no supervisor control for an agent"
    );
    browser.screenshot("agent-call").await.unwrap();
    open(&browser, "#/live").await;
    browser
        .wait_until("document.querySelector('main').textContent.includes('Your role cannot open this page')", WAIT)
        .await
        .unwrap();

    // An admin, signing in with the keyboard (Enter submits), on a phone-sized screen.
    browser.click("#logout").await.unwrap();
    browser.wait_for("#login-email", WAIT).await.unwrap();
    browser
        .fill("#login-email", "admin@dashboard.test")
        .await
        .unwrap();
    browser
        .fill("#login-password", &format!("{PASSWORD}\u{E007}"))
        .await
        .unwrap();
    browser
        .wait_until("document.body.dataset.role === 'admin'", WAIT)
        .await
        .unwrap();
    let admin_at = Instant::now();
    call.await.unwrap().expect("the call went through");
    open(&browser, "#/analytics").await;
    browser
        .wait_for("#analytics-chart svg rect.bar", WAIT)
        .await
        .unwrap();
    let calls = browser
        .eval("[...document.querySelectorAll('#analytics-chart rect.bar')].reduce((n, r) => n + Number(r.dataset.calls), 0)")
        .await
        .unwrap();
    assert_eq!(calls, 1, "the chart counts the call");
    browser.screenshot("analytics").await.unwrap();
    browser.resize(390, 844).await.unwrap();
    for (hash, ready, shot) in [
        (
            "#/analytics",
            "#analytics-chart svg rect.bar",
            "analytics-phone",
        ),
        (
            &*format!("#/calls/{id}"),
            "#transcript li.msg",
            "call-phone",
        ),
        ("#/admin", "#users-table", "admin-phone"),
    ] {
        open(&browser, hash).await;
        browser.wait_for(ready, WAIT).await.unwrap();
        let overflow = browser
            .eval("document.documentElement.scrollWidth - window.innerWidth")
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{hash} overflows a 390 px screen by {overflow} px"
        );
        // Every control has a label.
        let unlabelled = browser
            .eval("[...document.querySelectorAll('input, select, textarea')].filter(c => c.type !== 'hidden' && !c.labels?.length && !c.getAttribute('aria-label')).map(c => c.id || c.name)")
            .await
            .unwrap();
        assert_eq!(
            unlabelled,
            serde_json::json!([]),
            "{hash}: controls without a label"
        );
        browser.screenshot(shot).await.unwrap();
    }
    // Past the first token's expiry, the page still reads the API.
    tokio::time::sleep_until((admin_at + Duration::from_secs(7)).into()).await;
    open(&browser, "#/history").await;
    browser
        .wait_for("#history-table tr[data-call-id]", WAIT)
        .await
        .unwrap();
    // Signed in all along on 6 s tokens: the page refreshed them (rotating refresh tokens), and
    // the agent's sign-out ended its session.
    let sessions = engine
        .client()
        .await
        .unwrap()
        .query(
            "SELECT u.email, s.revoked_at IS NOT NULL,
                    (SELECT count(*) FROM refresh_tokens r WHERE r.session_id = s.id AND r.used_at IS NOT NULL)
               FROM sessions s JOIN users u ON u.id = s.user_id ORDER BY s.created_at",
            &[],
        )
        .await
        .unwrap();
    let sessions: Vec<(String, bool, i64)> = sessions
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(
        (&*sessions[0].0, sessions[0].1),
        ("agent@dashboard.test", true)
    );
    assert_eq!(
        (&*sessions[1].0, sessions[1].1),
        ("admin@dashboard.test", false)
    );
    assert!(
        sessions[1].2 >= 1,
        "the admin's page refreshed its token: {sessions:?}"
    );
    assert_no_errors(&browser).await;

    browser.close().await.unwrap();
    engine.shutdown().await.unwrap();
    peer.shutdown().await;
}
