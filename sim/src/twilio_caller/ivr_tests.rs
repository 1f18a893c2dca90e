//! [`follow`] and [`continue_after`] against a small IVR on 127.0.0.1 (warp) that believes its
//! public URL is `https://ivr.example.com`, so every URL in its TwiML is on a host the caller
//! must map back to the real address.
//!
//! The IVR, two levels deep: the voice webhook is a menu (`1` or "sales": a sales submenu, `2` or
//! "billing": a stream with a fallback apology and voicemail, no input: a redirect to a timeout
//! handler that sends the caller back to the menu once, then to an operator). It checks
//! `X-Twilio-Signature` on every request and the media socket with the project's signature
//! module, answers 403 to a bad one, and records what it saw.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use switchboard::twilio::signature;
use switchboard_actors::twilio::{self as codec, Inbound};
use tokio::sync::mpsc;
use url::Url;
use warp::Filter;
use warp::Reply;
use warp::http::StatusCode;
use warp::path::FullPath;
use warp::ws::{WebSocket, Ws};

use super::fake_engine::TOKEN;
use super::*;

const PUBLIC: &str = "https://ivr.example.com";

type Params = Vec<(String, String)>;

/// One HTTP request as the IVR saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// The URL the signature must cover: public host + path + query.
    url: String,
    /// The form (POST) or the query (GET).
    params: Vec<(String, String)>,
    signed: bool,
}

impl Seen {
    fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.params.iter().map(|(k, _)| k.as_str()).collect()
    }
}

#[derive(Default)]
struct State {
    seen: Mutex<Vec<Seen>>,
    /// CallSid → timeouts so far.
    timeouts: Mutex<HashMap<String, u32>>,
}

struct IvrServer {
    base: Url,
    state: Arc<State>,
    /// `customParameters` of each media stream's `start`.
    streams: mpsc::UnboundedReceiver<BTreeMap<String, String>>,
}

impl IvrServer {
    async fn start() -> IvrServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let base = Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        let state = Arc::new(State::default());
        let (stream_tx, streams) = mpsc::unbounded_channel();
        let media = warp::path!("twilio" / "media")
            .and(warp::header::optional::<String>("x-twilio-signature"))
            .and(warp::ws())
            .map(move |sig: Option<String>, ws: Ws| {
                let public = Url::parse(PUBLIC).expect("url");
                let url = signature::websocket_url(&public, "twilio/media");
                if !sig.is_some_and(|s| signature::is_valid(TOKEN, &url, &[], &s)) {
                    return warp::reply::with_status("bad signature", StatusCode::FORBIDDEN)
                        .into_response();
                }
                let tx = stream_tx.clone();
                ws.on_upgrade(move |socket| end_stream_after_start(socket, tx))
                    .into_response()
            });
        let http_state = state.clone();
        let http = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::optional::<String>("x-twilio-signature"))
            .and(warp::body::bytes())
            .map(
                move |method: warp::http::Method,
                      path: FullPath,
                      query: String,
                      sig: Option<String>,
                      body: bytes::Bytes| {
                    handle(
                        &http_state,
                        method.as_str(),
                        path.as_str(),
                        &query,
                        sig,
                        &body,
                    )
                },
            );
        tokio::spawn(warp::serve(media.or(http)).incoming(listener).run());
        IvrServer {
            base,
            state,
            streams,
        }
    }

    fn config(&self) -> CallerConfig {
        CallerConfig::new(self.base.clone(), TOKEN)
            .public_url(Url::parse(PUBLIC).expect("url"))
            .pace(Pace::Fast(10))
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").clone()
    }
}

/// Reads the stream until `start`, reports its parameters, then closes it: the engine ends the
/// stream, so Twilio goes on with the verbs after `</Connect>`.
async fn end_stream_after_start(
    mut ws: WebSocket,
    tx: mpsc::UnboundedSender<BTreeMap<String, String>>,
) {
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await
    {
        let Ok(text) = message.to_str() else {
            continue;
        };
        if let Ok(Inbound::Start(start)) = codec::parse_inbound(text) {
            let _ = tx.send(start.custom_parameters);
            break;
        }
    }
    let _ = ws.close().await;
}

fn xml(body: String) -> warp::reply::Response {
    warp::reply::with_header(body, "content-type", "text/xml; charset=utf-8").into_response()
}

fn handle(
    state: &State,
    method: &str,
    path: &str,
    query: &str,
    sig: Option<String>,
    body: &[u8],
) -> warp::reply::Response {
    let url = if query.is_empty() {
        format!("{PUBLIC}{path}")
    } else {
        format!("{PUBLIC}{path}?{query}")
    };
    let (params, signed_params): (Params, Params) = if method == "GET" {
        (
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
            Vec::new(),
        )
    } else {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        (form.clone(), form)
    };
    let pairs: Vec<(&str, &str)> = signed_params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let signed = sig.is_some_and(|s| signature::is_valid(TOKEN, &url, &pairs, &s));
    let seen = Seen {
        method: method.to_owned(),
        url,
        params,
        signed,
    };
    state.seen.lock().expect("lock").push(seen.clone());
    if !signed {
        return warp::reply::with_status("bad signature", StatusCode::FORBIDDEN).into_response();
    }
    let digits = seen.get("Digits").unwrap_or_default();
    let speech = seen.get("SpeechResult").unwrap_or_default();
    match path {
        "/twilio/voice" => xml(format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Gather input="dtmf speech" action="{PUBLIC}/twilio/ivr/menu" method="POST" numDigits="1"
          timeout="5" language="en-US" hints="sales, billing">
    <Say voice="Polly.Joanna" language="en-US">Press 1 for sales, 2 for billing</Say>
  </Gather>
  <Redirect>ivr/timeout</Redirect>
</Response>"#
        )),
        "/twilio/ivr/menu" if digits == "1" || speech == "sales" => {
            xml(r#"<Response><Gather numDigits="1" action="sales">
                 <Say>Press 1 for new orders, 2 to leave a message</Say></Gather>
               <Say>Goodbye</Say><Hangup/></Response>"#
                .into())
        }
        "/twilio/ivr/menu" if digits == "2" || speech == "billing" => xml(
            r#"<Response><Say>Connecting you to billing</Say>
                 <Connect><Stream url="wss://ivr.example.com/twilio/media">
                   <Parameter name="line" value="billing &amp; accounts"/></Stream></Connect>
                 <Say>Sorry, billing is unavailable.</Say>
                 <Record action="/twilio/ivr/recorded" maxLength="120" playBeep="true"
                   recordingStatusCallback="recording-status" recordingStatusCallbackEvent="completed"
                   transcribe="false"/>
               </Response>"#
                .into(),
        ),
        "/twilio/ivr/menu" if digits == "9" => {
            warp::reply::with_status("boom", StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
        "/twilio/ivr/menu" => xml("<Response><Say>Sorry, I did not understand.</Say>\
             <Redirect method=\"GET\">/twilio/voice</Redirect></Response>"
            .into()),
        "/twilio/ivr/sales" if digits == "1" => {
            xml("<Response><Dial><Number>+15555550100</Number></Dial></Response>".into())
        }
        "/twilio/ivr/sales" => xml(r#"<Response><Say>Leave a message after the beep.</Say>
                 <Record action="recorded" maxLength="5"
                   recordingStatusCallback="/twilio/ivr/recording-status"/>
                 <Say>No message, goodbye.</Say></Response>"#
            .into()),
        "/twilio/ivr/timeout" => {
            let call = seen.get("CallSid").unwrap_or_default().to_owned();
            let mut timeouts = state.timeouts.lock().expect("lock");
            let n = timeouts.entry(call).or_default();
            *n += 1;
            if *n == 1 {
                xml("<Response><Say>Let us try again.</Say>\
                     <Redirect method=\"GET\">/twilio/voice?retry=1</Redirect></Response>"
                    .into())
            } else {
                xml("<Response><Say>Transferring you to an operator.</Say>\
                     <Dial timeout=\"20\">+15555550199</Dial><Say>unreachable</Say></Response>"
                    .into())
            }
        }
        "/twilio/ivr/recorded" => {
            xml("<Response><Say>Thank you, goodbye.</Say><Hangup/></Response>".into())
        }
        // Twilio ignores a status callback's body; an empty 204 is a fine answer.
        "/twilio/ivr/recording-status" => StatusCode::NO_CONTENT.into_response(),
        "/twilio/ivr/connect-action" => {
            xml("<Response><Connect action=\"/twilio/ivr/after-stream\">\
             <Stream url=\"wss://ivr.example.com/twilio/media\"/></Connect>\
             <Say>Never said: the action replaces me.</Say></Response>"
                .into())
        }
        "/twilio/ivr/after-stream" => {
            xml("<Response><Say>The agent has left the call.</Say></Response>".into())
        }
        "/twilio/ivr/loop" => xml("<Response><Pause/><Redirect>loop</Redirect></Response>".into()),
        "/twilio/ivr/plain" => "not TwiML".into_response(),
        _ => warp::reply::with_status("no such page", StatusCode::NOT_FOUND).into_response(),
    }
}

/// Bounds a test's async body.
async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .expect("test finished within 20 s")
}

fn said(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| (*t).to_owned()).collect()
}

/// The parameters Twilio sends on every request of the call after the webhook, in order.
fn base_params(config: &CallerConfig) -> Vec<(String, String)> {
    config
        .webhook_params()
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "CallStatus" {
                "in-progress".into()
            } else {
                v
            };
            (k, v)
        })
        .collect()
}

fn with(config: &CallerConfig, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params = base_params(config);
    params.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    params
}

fn assert_all_signed(server: &IvrServer) {
    let seen = server.seen();
    assert!(!seen.is_empty());
    let unsigned: Vec<&str> = seen
        .iter()
        .filter(|s| !s.signed)
        .map(|s| s.url.as_str())
        .collect();
    assert!(
        unsigned.is_empty(),
        "unsigned or badly signed: {unsigned:?}"
    );
}

fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34
        && sid.starts_with(prefix)
        && sid[2..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

#[tokio::test]
async fn pressing_2_streams_to_billing_then_the_fallback_takes_a_voicemail() {
    bounded(async {
        let mut server = IvrServer::start().await;
        let config = server.config().param("CallerName", "Ada");
        let run = follow(&config, CallerInput::new().digits("2"))
            .await
            .expect("the IVR ran");

        assert_eq!(
            run.said(),
            said(&[
                "Press 1 for sales, 2 for billing",
                "Connecting you to billing"
            ])
        );
        assert_eq!(
            run.steps[0],
            IvrStep::Said {
                text: "Press 1 for sales, 2 for billing".into(),
                voice: Some("Polly.Joanna".into()),
                language: Some("en-US".into()),
            }
        );
        assert_eq!(run.steps[1], IvrStep::Gathered(Answer::Digits("2".into())));
        // The webhook as post_webhook sends it, then the Gather action with the base parameters.
        let menu = format!("{PUBLIC}/twilio/ivr/menu");
        assert_eq!(
            run.requests,
            vec![
                (format!("{PUBLIC}/twilio/voice"), config.webhook_params()),
                (menu.clone(), with(&config, &[("Digits", "2")])),
            ]
        );
        assert_eq!(
            run.requests[1].1[4],
            ("CallStatus".into(), "in-progress".into())
        );
        assert_eq!(run.requests[1].1[7], ("CallerName".into(), "Ada".into()));
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].url, menu);
        assert_eq!(seen[1].params, run.requests[1].1);
        assert_all_signed(&server);

        // The stream, and the verbs after </Connect> with their URLs resolved.
        let IvrEnd::Stream { twiml, after } = run.end else {
            panic!("expected a stream, got {:?}", run.end);
        };
        assert_eq!(twiml.stream_url, "wss://ivr.example.com/twilio/media");
        assert_eq!(twiml.parameter("line"), Some("billing & accounts"));
        assert_eq!(
            after,
            vec![
                Verb::Say {
                    text: "Sorry, billing is unavailable.".into(),
                    voice: None,
                    language: None,
                },
                Verb::Record {
                    action: Some(format!("{PUBLIC}/twilio/ivr/recorded")),
                    method: Method::Post,
                    max_length_s: 120,
                    play_beep: true,
                    recording_status_callback: Some(format!(
                        "{PUBLIC}/twilio/ivr/recording-status"
                    )),
                    recording_status_callback_method: Method::Post,
                    recording_status_callback_event: "completed".into(),
                },
            ]
        );

        // The media stream opens on that TwiML; the engine closes it after `start`.
        let mut session = MediaSession::open(&config, &twiml)
            .await
            .expect("stream opened");
        for _ in 0..100 {
            if !session.is_open() {
                break;
            }
            session.run(&Step::Silence { ms: 100 }).await.expect("step");
        }
        let report = session.finish().await.expect("report");
        assert!(report.engine_hung_up, "the engine closed the stream");
        let custom = server.streams.recv().await.expect("a stream started");
        assert_eq!(custom["line"], "billing & accounts");

        // Twilio then runs the fallback: apology, then voicemail until the caller hangs up.
        let run = continue_after(&config, after, CallerInput::new().recording_duration(300))
            .await
            .expect("the fallback ran");
        assert_eq!(run.said(), said(&["Sorry, billing is unavailable."]));
        assert_eq!(run.end, IvrEnd::HungUp);
        let IvrStep::Recorded {
            recording_sid,
            duration_s,
            beep,
        } = &run.steps[1]
        else {
            panic!("expected a recording, got {:?}", run.steps);
        };
        assert!(is_sid(recording_sid, "RE"), "{recording_sid}");
        assert_eq!((*duration_s, *beep), (120, true), "capped at maxLength");
        let recording_url = format!(
            "https://api.twilio.com/2010-04-01/Accounts/{}/Recordings/{recording_sid}",
            config.account_sid
        );
        assert_eq!(run.requests.len(), 2);
        assert_eq!(run.requests[0].0, format!("{PUBLIC}/twilio/ivr/recorded"));
        assert_eq!(
            run.requests[0].1,
            with(
                &config,
                &[
                    ("RecordingUrl", &recording_url),
                    ("RecordingSid", recording_sid),
                    ("RecordingDuration", "120"),
                    ("Digits", "hangup"),
                ]
            )
        );
        let (status_url, status) = &run.requests[1];
        assert_eq!(*status_url, format!("{PUBLIC}/twilio/ivr/recording-status"));
        let keys: Vec<&str> = status.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "AccountSid",
                "CallSid",
                "RecordingSid",
                "RecordingUrl",
                "RecordingStatus",
                "RecordingDuration",
                "RecordingChannels",
                "RecordingSource",
                "RecordingStartTime",
            ]
        );
        let value = |k: &str| &status.iter().find(|(key, _)| key == k).expect(k).1;
        assert_eq!(value("CallSid"), &config.call_sid);
        assert_eq!(value("RecordingUrl"), &recording_url);
        assert_eq!(value("RecordingStatus"), "completed");
        assert_eq!(value("RecordingDuration"), "120");
        assert_eq!(value("RecordingChannels"), "1");
        assert_eq!(value("RecordingSource"), "RecordVerb");
        let started = chrono::DateTime::parse_from_rfc2822(value("RecordingStartTime"))
            .expect("RFC 2822 start time");
        assert!((chrono::Utc::now() - started.to_utc()).num_seconds().abs() < 60);
        // The IVR saw both, signed; the status callback's 204 was accepted.
        assert_eq!(server.seen().len(), 4);
        assert_all_signed(&server);
    })
    .await;
}

#[tokio::test]
async fn speech_reaches_sales_and_a_voicemail_ended_by_a_key_runs_the_action() {
    bounded(async {
        let server = IvrServer::start().await;
        let config = server.config();
        let input = CallerInput::new()
            .speech("sales", 0.87)
            .digits("27") // numDigits="1": only the 2 counts
            .recording_duration(9)
            .record_end(RecordEnd::Key('#'));
        let run = follow(&config, input).await.expect("the IVR ran");
        assert_eq!(
            run.said(),
            said(&[
                "Press 1 for sales, 2 for billing",
                "Press 1 for new orders, 2 to leave a message",
                "Leave a message after the beep.",
                "Thank you, goodbye.",
            ]),
            "the action's TwiML replaced the rest of the document"
        );
        assert_eq!(run.end, IvrEnd::HungUp);
        assert_eq!(
            run.urls(),
            [
                format!("{PUBLIC}/twilio/voice"),
                format!("{PUBLIC}/twilio/ivr/menu"),
                // action="sales" and action="recorded", relative to /twilio/ivr/….
                format!("{PUBLIC}/twilio/ivr/sales"),
                format!("{PUBLIC}/twilio/ivr/recorded"),
                format!("{PUBLIC}/twilio/ivr/recording-status"),
            ]
        );
        assert_eq!(
            run.requests[1].1,
            with(
                &config,
                &[("SpeechResult", "sales"), ("Confidence", "0.87")]
            )
        );
        assert_eq!(run.requests[2].1, with(&config, &[("Digits", "2")]));
        let seen = server.seen();
        assert_eq!(seen[3].get("Digits"), Some("#"));
        assert_eq!(seen[3].get("RecordingDuration"), Some("5"), "maxLength=5");
        assert_eq!(seen[4].get("RecordingDuration"), Some("5"));
        assert_eq!(seen[3].get("RecordingSid"), seen[4].get("RecordingSid"));
        assert!(seen.iter().all(|s| s.method == "POST"));
        assert_all_signed(&server);
        assert!(run.steps.contains(&IvrStep::Gathered(Answer::Speech {
            text: "sales".into(),
            confidence: 0.87,
        })));
    })
    .await;
}

#[tokio::test]
async fn no_input_redirects_back_to_the_menu_once_then_to_an_operator() {
    bounded(async {
        let server = IvrServer::start().await;
        let config = server.config();
        // "#" ends the input before any digit: no input, as a time-out. Then the queue is empty.
        let run = follow(&config, CallerInput::new().digits("#1"))
            .await
            .expect("the IVR ran");
        let menu = IvrStep::Said {
            text: "Press 1 for sales, 2 for billing".into(),
            voice: Some("Polly.Joanna".into()),
            language: Some("en-US".into()),
        };
        let timeout = format!("{PUBLIC}/twilio/ivr/timeout");
        let say = |text: &str| IvrStep::Said {
            text: text.into(),
            voice: None,
            language: None,
        };
        assert_eq!(
            run.steps,
            vec![
                menu.clone(),
                IvrStep::GatherTimedOut,
                IvrStep::Redirected {
                    url: timeout.clone()
                },
                say("Let us try again."),
                IvrStep::Redirected {
                    url: format!("{PUBLIC}/twilio/voice?retry=1")
                },
                menu,
                IvrStep::GatherTimedOut,
                // ivr/timeout again, now relative to /twilio/voice?retry=1.
                IvrStep::Redirected {
                    url: timeout.clone()
                },
                say("Transferring you to an operator."),
                IvrStep::Dialled {
                    target: "+15555550199".into()
                },
            ]
        );
        assert_eq!(
            run.end,
            IvrEnd::Dialled {
                target: "+15555550199".into()
            }
        );
        // The GET redirect: the parameters ride in the query, signed as part of the URL.
        let seen = server.seen();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[1].url, timeout);
        assert_eq!(seen[1].params, base_params(&config));
        assert_eq!(seen[2].method, "GET");
        assert!(
            seen[2].url.starts_with(&format!(
                "{PUBLIC}/twilio/voice?retry=1&CallSid={}",
                config.call_sid
            )),
            "{}",
            seen[2].url
        );
        assert_eq!(seen[2].keys()[0], "retry");
        assert_eq!(seen[2].params[1..], base_params(&config)[..]);
        assert_eq!(run.requests[2].0, seen[2].url);
        assert_all_signed(&server);
    })
    .await;
}

#[tokio::test]
async fn input_a_gather_does_not_take_times_it_out() {
    bounded(async {
        let server = IvrServer::start().await;
        // The sales menu takes keys only (input defaults to dtmf): speech there is ignored.
        let run = follow(
            &server.config(),
            CallerInput::new().digits("1").speech("new orders", 0.9),
        )
        .await
        .expect("the IVR ran");
        assert_eq!(
            run.said(),
            said(&[
                "Press 1 for sales, 2 for billing",
                "Press 1 for new orders, 2 to leave a message",
                "Goodbye",
            ])
        );
        assert_eq!(run.steps[3], IvrStep::GatherTimedOut);
        assert_eq!(run.end, IvrEnd::HungUp);
        assert_eq!(run.requests.len(), 2);

        // 1 then 1: the sales menu dials (a <Number> inside <Dial>).
        let run = follow(&server.config(), CallerInput::new().digits("1").digits("1"))
            .await
            .expect("the IVR ran");
        assert_eq!(
            run.end,
            IvrEnd::Dialled {
                target: "+15555550100".into()
            }
        );
        assert_all_signed(&server);
    })
    .await;
}

#[tokio::test]
async fn a_connect_action_replaces_the_verbs_after_the_stream() {
    bounded(async {
        let server = IvrServer::start().await;
        let config = server.config().voice_path("/twilio/ivr/connect-action");
        let run = follow(&config, CallerInput::new())
            .await
            .expect("the IVR ran");
        let IvrEnd::Stream { twiml, after } = run.end else {
            panic!("expected a stream, got {:?}", run.end);
        };
        assert!(twiml.parameters.is_empty());
        let after_stream = format!("{PUBLIC}/twilio/ivr/after-stream");
        assert_eq!(
            after,
            vec![Verb::Redirect {
                url: after_stream.clone(),
                method: Method::Post,
            }]
        );
        let run = continue_after(&config, after, CallerInput::new())
            .await
            .expect("the action ran");
        assert_eq!(run.said(), said(&["The agent has left the call."]));
        assert_eq!(run.end, IvrEnd::Completed);
        assert_eq!(run.requests, vec![(after_stream, base_params(&config))]);
        assert_all_signed(&server);
    })
    .await;
}

#[tokio::test]
async fn a_redirect_loop_stops_at_the_document_limit() {
    bounded(async {
        let server = IvrServer::start().await;
        let config = server.config().voice_path("/twilio/ivr/loop");
        match follow(&config, CallerInput::new()).await {
            Err(CallerError::DocumentLimit { limit, url }) => {
                assert_eq!(limit, MAX_DOCUMENTS);
                assert_eq!(url, format!("{PUBLIC}/twilio/ivr/loop"));
            }
            other => panic!("expected the document limit, got {other:?}"),
        }
        assert_eq!(server.seen().len(), MAX_DOCUMENTS);
        assert_all_signed(&server);
    })
    .await;
}

#[tokio::test]
async fn refused_and_non_twiml_answers_are_errors() {
    bounded(async {
        let server = IvrServer::start().await;
        // A 500 from a Gather action, mid-call.
        let err = follow(&server.config(), CallerInput::new().digits("9"))
            .await
            .expect_err("500");
        assert!(
            matches!(&err, CallerError::Webhook { status: 500, body } if body == "boom"),
            "{err:?}"
        );
        // Unsigned requests: the IVR answers 403 to the webhook.
        let err = follow(&server.config().sign(false), CallerInput::new())
            .await
            .expect_err("403");
        assert_eq!(err.status(), Some(403));
        // 200 but not XML.
        let err = follow(
            &server.config().voice_path("/twilio/ivr/plain"),
            CallerInput::new(),
        )
        .await
        .expect_err("not XML");
        assert!(
            matches!(&err, CallerError::BadTwiml(m) if m.contains("not XML")),
            "{err:?}"
        );
        // Nothing listening.
        let mut config = server.config();
        config.engine = Url::parse("http://127.0.0.1:9").expect("url");
        let err = follow(&config, CallerInput::new())
            .await
            .expect_err("refused");
        assert!(matches!(err, CallerError::WebhookRequest { .. }), "{err:?}");
    })
    .await;
}
