//! The caller against a fake engine ([`super::fake_engine`]) on 127.0.0.1, plus pure checks.

use std::time::Duration;

use switchboard_actors::audio::{g711, tone};
use url::Url;

use super::fake_engine::{
    AGENT_FRAME_BYTES, AGENT_FRAMES, FakeEngine, SocketLog, TENANT, TOKEN, TONE_FRAMES_BEFORE_REPLY,
};
use super::*;

/// Slack for a timer firing late on a busy 2-core machine: 50 ms of wall time, in call-clock ms.
fn late(pace: Pace) -> u64 {
    50 * u64::from(pace.factor())
}

fn config(engine: &FakeEngine) -> CallerConfig {
    CallerConfig::new(engine.base.clone(), TOKEN).public_url(engine.public.clone())
}

/// Bounds a test's async body.
async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .expect("test finished within 20 s")
}

/// What every well-formed stream must look like from the engine's side.
fn check_stream(log: &SocketLog, report: &CallReport) {
    assert!(log.violations.is_empty(), "{:#?}", log.violations);
    assert_eq!(log.events.first().map(String::as_str), Some("connected"));
    assert_eq!(log.events.get(1).map(String::as_str), Some("start"));
    let start = log.start.as_ref().expect("start");
    assert_eq!(start.sequence_number, 1);
    assert_eq!(start.stream_sid, report.stream_sid);
    assert_eq!(start.call_sid, report.call_sid);
    assert_eq!(start.account_sid, report.account_sid);
    assert_eq!(log.media.len() as u64, report.media_frames_sent);
    for (i, m) in log.media.iter().enumerate() {
        assert_eq!(m.chunk, i as u64 + 1);
        assert_eq!(m.timestamp_ms, i as u64 * 20);
        assert_eq!(m.len, FRAME_BYTES);
        assert!(m.seq > 1);
    }
    assert!(log.media.windows(2).all(|w| w[0].seq < w[1].seq));
    // Sequence numbers: the engine checked each is the previous + 1; the last is the stop's.
    assert_eq!(log.events.last().map(String::as_str), Some("stop"));
    let sequenced = log.events.len() as u64 - 1; // all but `connected`
    assert_eq!(report.last_sequence_number, sequenced);
    assert_eq!(
        log.stop,
        Some((report.account_sid.clone(), report.call_sid.clone()))
    );
    assert_eq!(log.close_code, Some(1000), "the caller closed with 1000");
    assert_eq!(report.close_code, Some(1000), "the engine echoed 1000");
    assert!(!report.engine_hung_up);
    assert_eq!(report.socket_error, None);
    assert_eq!(report.malformed_frames + report.unknown_frames, 0);
    assert_eq!(report.binary_frames + report.foreign_stream_frames, 0);
}

/// When each mark was due by the playback model, replayed over the timeline's arrival times.
fn mark_dues(report: &CallReport) -> std::collections::HashMap<String, u64> {
    let mut playback = Playback::default();
    let mut dues = std::collections::HashMap::new();
    for (at, event) in &report.timeline {
        let now = *at as f64;
        match event {
            Event::AgentMedia { bytes, .. } => {
                playback.enqueue_audio(now, *bytes);
            }
            Event::MarkReceived { name } if playback.mark(now, name) => {
                dues.insert(name.clone(), *at);
            }
            Event::Clear { .. } => {
                for name in playback.clear(now).1 {
                    dues.insert(name, *at);
                }
            }
            _ => {}
        }
        while let Some((name, due)) = playback.pop_due(f64::INFINITY) {
            dues.insert(name, due.round() as u64);
        }
    }
    dues
}

/// Call-clock time at which the first agent audio arrived.
fn agent_audio_start(report: &CallReport) -> u64 {
    report
        .first(|e| matches!(e, Event::AgentMedia { .. }))
        .expect("agent audio arrived")
}

#[tokio::test]
async fn full_call_plays_agent_audio_and_echoes_each_mark_after_its_audio() {
    bounded(async {
        let mut engine = FakeEngine::start().await;
        let pace = Pace::Fast(4);
        let report = TwilioCaller::place(config(&engine).pace(pace).script([
            Step::Speak { ms: 1000, hz: 440 },
            Step::WaitForAgent { max_ms: 3000 },
            Step::Dtmf('1'),
            Step::Speak { ms: 200, hz: 440 },
            Step::HangUp,
        ]))
        .await
        .expect("call placed");
        let log = engine.next_log().await;
        check_stream(&log, &report);

        // The webhook: signed, Twilio's parameters.
        let hooks = engine.webhooks();
        assert_eq!(hooks.len(), 1);
        let keys: Vec<&str> = hooks[0].iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "CallSid",
                "AccountSid",
                "From",
                "To",
                "CallStatus",
                "ApiVersion",
                "Direction"
            ]
        );
        assert!(hooks[0].contains(&("CallStatus".into(), "ringing".into())));
        assert!(hooks[0].contains(&("From".into(), "+15005550006".into())));
        assert_eq!(report.call_id.as_deref(), Some("call-1"));
        assert_eq!(report.custom_parameters["tenant"], TENANT);
        assert_eq!(report.twiml_status, 200);

        // Agent audio: all of it, played out, every mark echoed after its audio.
        assert_eq!(report.media_frames_received, AGENT_FRAMES as u64);
        assert_eq!(report.agent_audio_bytes, 8000);
        assert_eq!(report.agent_audio_ms, 1000);
        assert_eq!(report.marks_received, 10);
        assert_eq!(report.marks_echoed, 10);
        assert_eq!((report.marks_cleared, report.marks_unechoed), (0, 0));
        assert_eq!((report.clears_received, report.audio_cleared_bytes), (0, 0));
        assert_eq!(report.agent_audio_unplayed_bytes, 0);
        assert_eq!(report.wait_timeouts, 0);
        let mut pcm = Vec::new();
        g711::decode_ulaw_into_vec(&report.agent_audio, &mut pcm);
        assert!((tone::dominant_frequency(&pcm, 8000) - 1000.0).abs() <= 2.0);

        let t0 = agent_audio_start(&report);
        assert!(
            t0 + 1 >= TONE_FRAMES_BEFORE_REPLY * 20,
            "agent answered at {t0} ms"
        );
        let dues = mark_dues(&report);
        for i in 0..AGENT_FRAMES as u64 {
            let name = format!("agent-{i}");
            let (at, cleared) = report.mark_echo(&name).expect("echoed");
            // Never before its audio played: at least (i+1) * 100 ms after the reply began.
            let played = t0 + (i + 1) * 100;
            assert!(!cleared);
            assert!(
                at + 1 >= played,
                "{name} echoed at {at}, audio ends {played}"
            );
            // And on time by the playback model.
            let due = dues[&name];
            assert!(
                at + 1 >= due && at <= due + late(pace),
                "{name} at {at}, due {due}"
            );
        }
        // WaitForAgent returned once the last mark was echoed, not before.
        let finished = report
            .first(|e| *e == Event::AgentFinished)
            .expect("agent finished");
        let (last_echo, _) = report.mark_echo("agent-9").expect("echoed");
        assert!(finished >= last_echo && finished <= last_echo + 40 + late(pace));

        // One 20 ms frame per 20 ms of stream, up to the stop: never ahead of the clock (each
        // frame leaves once its 20 ms are over), and behind it only by scheduling delay.
        let stop_at = report.first(|e| *e == Event::StopSent).expect("stop");
        let streamed = report.media_frames_sent * 20;
        assert!(
            streamed <= stop_at + 20,
            "{streamed} ms of audio by {stop_at} ms"
        );
        assert!(
            stop_at <= streamed + late(pace),
            "{streamed} ms of audio by {stop_at} ms"
        );
        assert_eq!(report.caller_audio_ms, report.media_frames_sent * 20);
        assert!((105..=125).contains(&report.media_frames_sent));

        // The engine saw the DTMF between the wait and the last words, and echoes after the
        // audio had time to play at 4x: mark i at least (i+1) * 100 / 4 ms after it was sent.
        assert_eq!(log.dtmf.len(), 1);
        assert_eq!(log.dtmf[0].1, '1');
        assert_eq!(log.echoes.len(), 10);
        for (i, (name, delay, _seq)) in log.echoes.iter().enumerate() {
            assert_eq!(*name, format!("agent-{i}"));
            let min = Duration::from_millis(25 * (i as u64 + 1));
            assert!(
                *delay + Duration::from_millis(2) >= min,
                "{name} after {delay:?}"
            );
        }
        // Tone, then silence while waiting, then tone again.
        let tone_frames = log.media.iter().filter(|m| m.tone).count();
        assert_eq!(tone_frames, 60);
        assert!(log.media[..50].iter().all(|m| m.tone));
        assert!(log.media[50..log.media.len() - 10].iter().all(|m| !m.tone));
    })
    .await;
}

#[tokio::test]
async fn clear_drops_buffered_audio_and_echoes_pending_marks_at_once() {
    bounded(async {
        let mut engine = FakeEngine::start().await;
        let report = TwilioCaller::place(config(&engine).script([
            Step::Speak { ms: 1000, hz: 440 },
            Step::Silence { ms: 350 },
            Step::Dtmf('9'),
            Step::Silence { ms: 200 },
            Step::HangUp,
        ]))
        .await
        .expect("call placed");
        let log = engine.next_log().await;
        check_stream(&log, &report);

        assert_eq!(report.clears_received, 1);
        assert_eq!(report.marks_received, 10);
        assert_eq!(report.marks_echoed, 10);
        assert_eq!(report.marks_unechoed, 0);
        assert_eq!(report.agent_audio_unplayed_bytes, 0);

        let t0 = agent_audio_start(&report);
        let clears = report.all(|e| matches!(e, Event::Clear { .. }));
        let [
            (
                clear_at,
                Event::Clear {
                    dropped_bytes,
                    flushed_marks,
                },
            ),
        ] = clears.as_slice()
        else {
            panic!("one clear: {clears:?}");
        };
        let clear_at = *clear_at;
        assert_eq!(*dropped_bytes, report.audio_cleared_bytes);
        // What was dropped is exactly what had not played: 1 s minus (clear - start) at 8 B/ms.
        let played_ms = clear_at - t0;
        let expected = 8000 - played_ms * 8;
        assert!(
            report.audio_cleared_bytes.abs_diff(expected) <= 24,
            "dropped {} bytes, expected {expected} (played {played_ms} ms)",
            report.audio_cleared_bytes
        );
        assert!(
            (2000..=7000).contains(&report.audio_cleared_bytes),
            "clear came ~350 ms into the reply"
        );

        // Marks whose audio played before the clear were echoed on time; the rest at the clear.
        let mut on_time = 0;
        for i in 0..10u64 {
            let (at, cleared) = report.mark_echo(&format!("agent-{i}")).expect("echoed");
            let due = t0 + (i + 1) * 100;
            if cleared {
                assert!(at.abs_diff(clear_at) <= 5, "agent-{i} flushed at {at}");
                assert!(
                    due + 1 >= clear_at,
                    "agent-{i} was due at {due} before the clear"
                );
            } else {
                on_time += 1;
                assert!(at + 1 >= due && at <= clear_at + 1, "agent-{i} at {at}");
            }
        }
        assert_eq!(report.marks_cleared, 10 - on_time);
        assert_eq!(*flushed_marks as u64, report.marks_cleared);
        assert!((1..=6).contains(&on_time), "{on_time} marks played");
        // The flushed echoes follow the clear directly.
        let idx = report
            .timeline
            .iter()
            .position(|(_, e)| matches!(e, Event::Clear { .. }))
            .expect("clear");
        assert!(
            report.timeline[idx + 1..=idx + *flushed_marks]
                .iter()
                .all(|(_, e)| matches!(e, Event::MarkEchoed { cleared: true, .. }))
        );

        // The engine: DTMF 9 arrived; the flushed echoes came right after its clear.
        assert_eq!(log.dtmf.iter().map(|d| d.1).collect::<String>(), "9");
        let clear_sent = log.clear_sent_at.expect("clear sent");
        let after_clear: Vec<_> = log
            .echo_at
            .iter()
            .filter(|(_, at)| *at >= clear_sent)
            .collect();
        assert_eq!(after_clear.len() as u64, report.marks_cleared);
        assert!(
            after_clear
                .iter()
                .all(|(_, at)| *at - clear_sent < Duration::from_millis(100))
        );
    })
    .await;
}

#[tokio::test]
async fn fast_pacing_runs_a_3_s_script_in_about_300_ms() {
    bounded(async {
        let mut engine = FakeEngine::start().await;
        let pace = Pace::Fast(10);
        let report = TwilioCaller::place(config(&engine).pace(pace).script([
            Step::Speak { ms: 1000, hz: 300 },
            Step::Silence { ms: 1000 },
            Step::Speak { ms: 1000, hz: 600 },
        ]))
        .await
        .expect("call placed");
        let log = engine.next_log().await;
        check_stream(&log, &report);
        assert_eq!(report.media_frames_sent, 150);
        assert_eq!(report.caller_audio_ms, 3000);
        // The stop left once the last frame's 20 ms were over.
        assert!(
            (2980..=3000 + late(pace)).contains(&report.duration_ms),
            "{}",
            report.duration_ms
        );
        let wall = report.wall_duration;
        assert!(
            wall >= Duration::from_millis(290) && wall <= Duration::from_millis(900),
            "3 s at 10x took {wall:?}"
        );
        let span = log.media[149].at - log.media[0].at;
        assert!(
            span >= Duration::from_millis(270) && span <= Duration::from_millis(800),
            "media spread over {span:?}"
        );
        assert_eq!(log.media[149].timestamp_ms, 2980);
        let pattern: Vec<bool> = log.media.iter().map(|m| m.tone).collect();
        assert!(pattern[..50].iter().all(|t| *t));
        assert!(pattern[50..100].iter().all(|t| !*t));
        assert!(pattern[100..].iter().all(|t| *t));
        // The reply (sent at 1 s) played out by 2 s, marks echoed at 10x too.
        assert_eq!(report.marks_echoed, 10);
        let t0 = agent_audio_start(&report);
        let dues = mark_dues(&report);
        for i in 0..AGENT_FRAMES as u64 {
            let name = format!("agent-{i}");
            let (at, _) = report.mark_echo(&name).expect("echoed");
            assert!(
                at + 1 >= t0 + (i + 1) * 100,
                "{name} echoed at {at} before its audio played"
            );
            let due = dues[&name];
            assert!(
                at + 1 >= due && at <= due + late(pace),
                "{name} at {at}, due {due}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn refused_webhooks_surface_as_errors_with_their_status() {
    bounded(async {
        let engine = FakeEngine::start().await;
        let script = [Step::Speak { ms: 100, hz: 440 }];
        let unsigned = TwilioCaller::place(config(&engine).sign(false).script(script.clone()))
            .await
            .expect_err("unsigned webhook refused");
        assert_eq!(unsigned.status(), Some(403));
        assert!(
            matches!(&unsigned, CallerError::Webhook { status: 403, body } if body.contains("missing X-Twilio-Signature")),
            "{unsigned}"
        );
        let wrong = TwilioCaller::place(config(&engine).auth_token("not-the-token"))
            .await
            .expect_err("wrongly signed webhook refused");
        assert!(
            matches!(&wrong, CallerError::Webhook { status: 403, body } if body.contains("does not match")),
            "{wrong}"
        );
        assert!(wrong.to_string().contains("HTTP 403"));
        // Signed over the wrong URL (the engine's public URL differs from what the caller thinks).
        let elsewhere = config(&engine).public_url(Url::parse("https://elsewhere.example").unwrap());
        assert_eq!(
            TwilioCaller::post_webhook(&elsewhere).await.unwrap_err().status(),
            Some(403)
        );
        assert!(engine.webhooks().is_empty());

        let missing = TwilioCaller::post_webhook(&config(&engine).voice_path("/twilio/nope"))
            .await
            .expect_err("no such webhook");
        assert_eq!(missing.status(), Some(404));

        // Nobody listening.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let closed = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let refused = TwilioCaller::post_webhook(&CallerConfig::new(closed, TOKEN))
            .await
            .expect_err("connection refused");
        assert!(matches!(refused, CallerError::WebhookRequest { .. }), "{refused}");
    })
    .await;
}

#[tokio::test]
async fn a_badly_signed_media_socket_is_refused_with_403() {
    bounded(async {
        let engine = FakeEngine::start().await;
        let cfg = config(&engine);
        let twiml = TwilioCaller::post_webhook(&cfg).await.expect("twiml");
        for bad in [cfg.clone().auth_token("wrong"), cfg.clone().sign(false)] {
            let err = MediaSession::open(&bad, &twiml)
                .await
                .err()
                .expect("socket refused");
            assert!(
                matches!(&err, CallerError::Connect { status: Some(403), message, .. }
                    if message.contains("X-Twilio-Signature")),
                "{err}"
            );
            assert!(err.to_string().contains("(HTTP 403)"), "{err}");
        }
        // The right signature gets in.
        let session = MediaSession::open(&cfg, &twiml)
            .await
            .expect("socket opened");
        let report = session.finish().await.expect("hung up");
        assert_eq!(report.close_code, Some(1000));
    })
    .await;
}

#[tokio::test]
async fn a_session_driven_step_by_step_counts_what_twilio_would_ignore() {
    bounded(async {
        let mut engine = FakeEngine::start().await;
        let cfg = config(&engine);
        let twiml = TwilioCaller::post_webhook(&cfg).await.expect("twiml");
        assert_eq!(
            twiml.stream_url,
            format!(
                "ws://127.0.0.1:{}/twilio/media",
                engine.base.port().unwrap()
            )
        );
        assert_eq!(twiml.parameter("call_id"), Some("call-1"));
        assert_eq!(twiml.parameter("tenant"), Some(TENANT));

        let mut s = MediaSession::open(&cfg, &twiml).await.expect("open");
        let wait = Duration::from_secs(5);
        assert_eq!(
            s.next_event(wait).await.unwrap().map(|e| e.1),
            Some(Event::ConnectedSent)
        );
        assert!(matches!(
            s.next_event(wait).await.unwrap(),
            Some((0, Event::StartSent { .. }))
        ));
        s.send_text("{not json").await.unwrap();
        s.send_text(r#"{"event":"weird","streamSid":"MZ"}"#)
            .await
            .unwrap();
        for _ in 0..5 {
            s.send_media(&[SILENCE; FRAME_BYTES]).await.unwrap();
        }
        assert_eq!(s.stream_ms(), 100);
        s.send_dtmf('5').await.unwrap();
        let lonely =
            |e: &Event| matches!(e, Event::MarkEchoed { name, cleared: false } if name == "lonely");
        let (echoed_at, _) = s.wait_for(wait, lonely).await.expect("lone mark echoed");
        // Nothing was buffered, so it was echoed the moment it arrived.
        let received_at = s
            .report()
            .first(|e| matches!(e, Event::MarkReceived { name } if name == "lonely"))
            .expect("received");
        assert!(echoed_at.abs_diff(received_at) <= 1);
        s.listen(Duration::from_millis(20)).await.unwrap();
        let report = s.finish().await.expect("hung up");

        assert_eq!(report.unknown_frames, 1);
        assert_eq!(report.malformed_frames, 1);
        assert_eq!(report.binary_frames, 1);
        assert_eq!(report.foreign_stream_frames, 1);
        assert_eq!(report.frames_received, 5);
        assert_eq!((report.marks_received, report.marks_echoed), (1, 1));
        assert_eq!((report.media_frames_sent, report.dtmf_sent), (5, 1));
        // connected, start, 2 raw, 5 media, dtmf, mark echo, stop
        assert_eq!(report.frames_sent, 12);
        assert!(
            report
                .all(|e| matches!(e, Event::UnknownFrame { event } if event == "bogus"))
                .len()
                == 1
        );

        let log = engine.next_log().await;
        assert!(log.violations.is_empty(), "{:#?}", log.violations);
        assert_eq!((log.malformed, log.unknown), (1, 1));
        assert_eq!(log.media.len(), 5);
        assert_eq!(log.dtmf, [(7, '5')]);
        assert_eq!(log.echoes.len(), 1);
        assert_eq!(
            log.echoes[0].2, 8,
            "the echo's sequence number follows the dtmf"
        );
        assert_eq!(log.events.last().map(String::as_str), Some("stop"));
        assert_eq!(report.last_sequence_number, 9);
    })
    .await;
}

#[tokio::test]
async fn an_engine_hang_up_ends_the_script_without_stop() {
    bounded(async {
        let mut engine = FakeEngine::start().await;
        let report = TwilioCaller::place(config(&engine).pace(Pace::Fast(4)).script([
            Step::Speak { ms: 200, hz: 440 },
            Step::Dtmf('0'),
            Step::Silence { ms: 10_000 },
            Step::Speak { ms: 1000, hz: 440 },
        ]))
        .await
        .expect("call placed");
        assert!(report.engine_hung_up);
        assert_eq!(report.close_code, Some(1000));
        assert!(report.timeline.iter().any(|(_, e)| *e
            == Event::EngineClosed {
                code: Some(1000),
                reason: "engine hangs up".into()
            }));
        assert_eq!(report.first(|e| *e == Event::StopSent), None);
        assert!(
            report.media_frames_sent < 40,
            "{}",
            report.media_frames_sent
        );
        assert!(report.wall_duration < Duration::from_secs(2));
        let log = engine.next_log().await;
        assert!(log.violations.is_empty(), "{:#?}", log.violations);
        assert_eq!(log.stop, None);
        assert_eq!(log.dtmf.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn wait_for_agent_gives_up_after_max_ms() {
    bounded(async {
        let mut engine = FakeEngine::start().await;
        let report = TwilioCaller::place(config(&engine).pace(Pace::Fast(10)).script([
            Step::Speak { ms: 200, hz: 440 },
            Step::WaitForAgent { max_ms: 400 },
            Step::HangUp,
            Step::Speak { ms: 1000, hz: 440 }, // after the hang-up: not run
        ]))
        .await
        .expect("call placed");
        assert_eq!(report.wait_timeouts, 1);
        assert!(
            report
                .timeline
                .iter()
                .any(|(_, e)| *e == Event::WaitTimedOut { waited_ms: 400 })
        );
        assert_eq!(report.media_frames_sent, 30);
        assert_eq!(report.media_frames_received, 0);
        check_stream(&engine.next_log().await, &report);
    })
    .await;
}

#[tokio::test]
async fn an_engine_behind_a_public_url_is_dialled_on_its_real_address() {
    bounded(async {
        let public = Url::parse("https://calls.example.com").unwrap();
        let mut engine = FakeEngine::start_with_public(Some(public.clone())).await;
        let cfg = config(&engine)
            .pace(Pace::Fast(10))
            .step(Step::Speak { ms: 100, hz: 440 });
        let twiml = TwilioCaller::post_webhook(&cfg).await.expect("twiml");
        assert_eq!(twiml.stream_url, "wss://calls.example.com/twilio/media");
        assert_eq!(
            cfg.dial_url(&twiml.stream_url).unwrap().as_str(),
            format!(
                "ws://127.0.0.1:{}/twilio/media",
                engine.base.port().unwrap()
            )
        );
        let report = TwilioCaller::place(cfg).await.expect("call placed");
        assert_eq!(report.call_id.as_deref(), Some("call-2"));
        let log = engine.next_log().await;
        check_stream(&log, &report);
        assert_eq!(log.media.len(), 5);
    })
    .await;
}

#[test]
fn sids_are_twilio_shaped_and_unique() {
    let a = CallerConfig::default();
    let b = CallerConfig::default();
    for (sid, prefix) in [(&a.call_sid, "CA"), (&a.account_sid, "AC")] {
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with(prefix));
        assert!(sid[2..].bytes().all(|c| c.is_ascii_hexdigit()));
    }
    assert_ne!(a.call_sid, b.call_sid);
    let many: std::collections::HashSet<String> = (0..1000).map(|_| new_sid("CA")).collect();
    assert_eq!(many.len(), 1000);
}

#[test]
fn urls_are_joined_signed_and_dialled_as_configured() {
    let engine = Url::parse("http://127.0.0.1:4000/").unwrap();
    let cfg = CallerConfig::new(engine.clone(), TOKEN);
    assert_eq!(cfg.webhook_url(), "http://127.0.0.1:4000/twilio/voice");
    assert_eq!(
        cfg.signed_webhook_url(),
        "http://127.0.0.1:4000/twilio/voice"
    );
    // Same host: dialled as given.
    assert_eq!(
        cfg.dial_url("ws://127.0.0.1:4000/twilio/media")
            .unwrap()
            .as_str(),
        "ws://127.0.0.1:4000/twilio/media"
    );
    let cfg = cfg
        .public_url(Url::parse("https://calls.example.com/").unwrap())
        .voice_path("twilio/voice");
    assert_eq!(
        cfg.signed_webhook_url(),
        "https://calls.example.com/twilio/voice"
    );
    assert_eq!(cfg.webhook_url(), "http://127.0.0.1:4000/twilio/voice");
    // The public host maps to the engine; any other host is dialled as given.
    assert_eq!(
        cfg.dial_url("wss://calls.example.com:443/twilio/media")
            .unwrap()
            .as_str(),
        "ws://127.0.0.1:4000/twilio/media"
    );
    assert_eq!(
        cfg.dial_url("wss://other.example/m").unwrap().as_str(),
        "wss://other.example/m"
    );
    assert!(matches!(
        cfg.dial_url("https://calls.example.com/twilio/media"),
        Err(CallerError::BadTwiml(_))
    ));
    assert!(matches!(
        cfg.dial_url("not a url"),
        Err(CallerError::BadTwiml(_))
    ));
    assert_eq!(Pace::Fast(0).factor(), 1);
    assert_eq!(Pace::RealTime.factor(), 1);
    assert_eq!(Pace::Fast(10).factor(), 10);
    let params = cfg.param("Caller", "+15005550006").webhook_params();
    assert_eq!(params.len(), 8);
    assert_eq!(params[7], ("Caller".into(), "+15005550006".into()));
}

#[test]
fn agent_reply_constants_match_the_playback_model() {
    assert_eq!(AGENT_FRAMES * AGENT_FRAME_BYTES, 8000);
    assert_eq!(playback::BYTES_PER_MS as usize * 100, AGENT_FRAME_BYTES);
}
