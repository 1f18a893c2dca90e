//! The pipeline's decisions, driven with raw frames and the time passed in.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use uuid::Uuid;

use super::*;
use crate::call::RealtimeProtocol;
use crate::domain::MessageType;
use crate::realtime::{Dialect, ServerEncoder, SessionConfig};
use crate::twilio::{Outbound, Start, parse_outbound};

const STREAM: &str = "MZ00000000000000000000000000000001";

fn config(now: Instant) -> CallConfig {
    CallConfig {
        agent_name: "Agent".into(),
        stream_idle: Duration::from_secs(3600),
        version_base: 1_000,
        ..CallConfig::new(
            crate::persistence::DEFAULT_ORG,
            Uuid::now_v7(),
            Uuid::now_v7(),
            "+14155550100",
            now,
            Utc::now(),
        )
    }
}

fn realtime() -> Box<dyn AiProtocol> {
    Box::new(RealtimeProtocol {
        dialect: Dialect::Ga,
        session: SessionConfig::for_dialect(Dialect::Ga),
    })
}

/// What Twilio was sent, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ToTwilio {
    /// Media of so many ms.
    Media(u64),
    Mark(String),
    Clear,
}

/// One call driven through its pipeline: the Twilio side and the AI side as their peers would
/// write them, the time on a clock of its own.
struct Call {
    pipeline: CallPipeline,
    t0: Instant,
    seq: u64,
    ai: ServerEncoder,
    frame: String,
}

impl Call {
    fn new() -> Call {
        let t0 = Instant::now();
        let pipeline = CallPipeline::new(config(t0), realtime(), Arc::default()).unwrap();
        Call {
            pipeline,
            t0,
            seq: 0,
            ai: ServerEncoder::new(Dialect::Ga),
            frame: String::new(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn start(&mut self) {
        let start = Start::inbound_mulaw(
            STREAM,
            "AC00000000000000000000000000000001",
            "CA00000000000000000000000000000001",
        );
        twilio::encode_start(&start, &mut self.frame);
        let frame = std::mem::take(&mut self.frame);
        self.pipeline.on_twilio(self.t0, &frame);
    }

    /// A caller frame of 20 ms at `ts` on the call clock (arriving then).
    fn media(&mut self, ts: u64) {
        self.seq += 1;
        twilio::encode_inbound_media(
            STREAM,
            self.seq,
            self.seq,
            ts,
            &[0x7A; 160],
            &mut self.frame,
        );
        let frame = std::mem::take(&mut self.frame);
        self.pipeline.on_twilio(self.at(ts), &frame);
    }

    /// Caller frames from `from` to `to` (exclusive).
    fn stream(&mut self, from: u64, to: u64) {
        for ts in (from..to).step_by(20) {
            self.media(ts);
        }
    }

    fn echo(&mut self, mark: &str) {
        self.seq += 1;
        twilio::encode_mark_echo(STREAM, self.seq, mark, &mut self.frame);
        let frame = std::mem::take(&mut self.frame);
        self.pipeline.on_twilio(self.t0, &frame);
    }

    fn ai(&mut self, ms: u64, frame: String) {
        self.pipeline.on_ai(self.at(ms), &frame);
    }

    /// `ms` of agent audio for `item`.
    fn delta(&mut self, item: &str, ms: u64) {
        let audio = STANDARD.encode(vec![0x55; ms as usize * 8]);
        let frame = self.ai.audio_delta("resp_1", item, &audio);
        self.ai(0, frame);
    }

    fn live(&mut self) {
        self.start();
        self.pipeline.on_ai_up(self.t0);
        self.drain();
    }

    /// The call's facts, and a new pipeline built from them alone at `now` (its actor restarted).
    fn restarted(&self, now: Instant) -> (CallFacts, CallPipeline) {
        let mut facts = CallFacts::default();
        self.pipeline.save_facts(&mut facts);
        let config = self.pipeline.config().clone();
        let resumed = CallPipeline::resume(
            config,
            &facts,
            realtime(),
            Arc::default(),
            now,
            "call actor restarted",
        )
        .unwrap();
        (facts, resumed)
    }

    fn drain(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.pipeline.poll_transmit()).collect()
    }

    /// What Twilio was sent since the last drain.
    fn sent_to_twilio(&mut self) -> Vec<ToTwilio> {
        self.drain()
            .into_iter()
            .filter_map(|t| match t {
                Transmit::Twilio(text) => Some(match parse_outbound(&text).unwrap() {
                    Outbound::Media { payload_b64, .. } => {
                        ToTwilio::Media(STANDARD.decode(payload_b64).unwrap().len() as u64 / 8)
                    }
                    Outbound::Mark { name, .. } => ToTwilio::Mark(name.into_owned()),
                    Outbound::Clear { .. } => ToTwilio::Clear,
                    other => panic!("unexpected frame for Twilio: {other:?}"),
                }),
                _ => None,
            })
            .collect()
    }
}

fn ai_frames(transmits: &[Transmit]) -> Vec<serde_json::Value> {
    transmits
        .iter()
        .filter_map(|t| match t {
            Transmit::Ai(text) => Some(serde_json::from_str(text).unwrap()),
            _ => None,
        })
        .collect()
}

fn agent_messages(transmits: &[Transmit]) -> Vec<serde_json::Value> {
    transmits
        .iter()
        .filter_map(|t| match t {
            Transmit::Row(PersistItem::Message(m))
                if m.message_type == MessageType::Transcript && m.sender.identifier == "ai" =>
            {
                Some(m.metadata.clone())
            }
            _ => None,
        })
        .collect()
}

fn supervisor() -> Supervisor {
    Supervisor {
        id: "u1".into(),
        name: "sam@example.com".into(),
    }
}

#[test]
fn early_caller_audio_is_held_until_the_ai_is_up_then_follows_the_session_update() {
    let mut call = Call::new();
    call.start();
    let started = call.drain();
    assert_eq!(
        started.first(),
        Some(&Transmit::Event(PipelineEvent::Started))
    );
    assert!(started.contains(&Transmit::Event(PipelineEvent::ConnectAi)));
    // 2.4 s of caller audio before the session is up: the last 2 s are kept.
    call.stream(0, 2400);
    assert!(
        ai_frames(&call.drain()).is_empty(),
        "nothing for the AI yet"
    );
    call.pipeline.on_ai_up(call.at(2400));
    let frames = ai_frames(&call.drain());
    assert_eq!(frames[0]["type"], "session.update");
    let appends = &frames[1..];
    assert_eq!(appends.len(), HELD_FRAMES_MAX);
    assert!(
        appends
            .iter()
            .all(|f| f["type"] == "input_audio_buffer.append")
    );
    // From now on a frame goes straight through.
    call.media(2400);
    let frames = ai_frames(&call.drain());
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["type"], "input_audio_buffer.append");
}

#[test]
fn agent_audio_goes_to_twilio_as_media_then_a_mark_and_a_bad_frame_is_counted() {
    let mut call = Call::new();
    call.live();
    call.delta("item_A", 100);
    call.delta("item_A", 100);
    assert_eq!(
        call.sent_to_twilio(),
        [
            ToTwilio::Media(100),
            ToTwilio::Mark("1".into()),
            ToTwilio::Media(100),
            ToTwilio::Mark("2".into())
        ]
    );
    call.pipeline.on_twilio(call.t0, "{not json");
    call.pipeline
        .on_twilio(call.t0, r#"{"event":"media","media":{}}"#);
    call.ai(0, "\u{0}garbage".into());
    assert_eq!(call.pipeline.rejected(), 2);
    assert!(call.drain().is_empty());
}

#[test]
fn barged_in_agent_audio_is_paced_by_the_caller_frames_and_its_mark_follows_its_last_slot() {
    let mut call = Call::new();
    call.live();
    call.stream(0, 1000); // clock at 980
    call.pipeline
        .on_supervisor(call.at(1000), &supervisor(), SupervisorCommand::Barge)
        .unwrap();
    call.drain();
    call.delta("item_A", 60);
    assert!(
        call.sent_to_twilio().is_empty(),
        "paced, not queued at Twilio"
    );
    // The audio plays from 980: three slots of 20 ms, then the mark.
    call.media(980);
    assert_eq!(call.sent_to_twilio(), [ToTwilio::Media(20)]);
    call.media(1000);
    assert_eq!(call.sent_to_twilio(), [ToTwilio::Media(20)]);
    call.media(1020);
    assert_eq!(
        call.sent_to_twilio(),
        [ToTwilio::Media(20), ToTwilio::Mark("1".into())]
    );
    call.media(1040);
    assert!(
        call.sent_to_twilio().is_empty(),
        "nothing to play, no supervisor audio"
    );
    // The supervisor's audio alone is sent too.
    call.pipeline.on_supervisor_audio(&[1000; FRAME_SAMPLES]);
    call.media(1060);
    assert_eq!(call.sent_to_twilio(), [ToTwilio::Media(20)]);
}

#[test]
fn supervisor_audio_is_bounded_and_a_standing_backlog_is_trimmed() {
    let mut call = Call::new();
    call.live();
    call.pipeline.on_supervisor_audio(&[1; FRAME_SAMPLES]);
    assert_eq!(
        call.pipeline.mixer.supervisor_queued(),
        0,
        "no supervisor speaks: dropped at once"
    );
    call.pipeline
        .on_supervisor(call.t0, &supervisor(), SupervisorCommand::Barge)
        .unwrap();
    for _ in 0..5 {
        call.pipeline.on_supervisor_audio(&[1; FRAME_SAMPLES]);
    }
    assert_eq!(
        call.pipeline.mixer.supervisor_queued(),
        SUPERVISOR_QUEUE_MAX
    );
    assert_eq!(call.pipeline.supervisor_frames_dropped(), 2);
    // One frame in per slot keeps a backlog of two after each slot: after
    // SUPERVISOR_BACKLOG_SLOTS slots one frame is dropped to catch up.
    call.media(0);
    for slot in 1..u64::from(SUPERVISOR_BACKLOG_SLOTS) {
        call.pipeline.on_supervisor_audio(&[1; FRAME_SAMPLES]);
        call.media(slot * 20);
    }
    assert_eq!(call.pipeline.supervisor_frames_dropped(), 3);
    assert_eq!(call.pipeline.mixer.supervisor_queued(), 1);
}

#[test]
fn back_to_the_ai_sends_the_paced_audio_at_once_with_its_marks() {
    let mut call = Call::new();
    call.live();
    call.stream(0, 120); // clock at 100
    call.pipeline
        .on_supervisor(call.at(120), &supervisor(), SupervisorCommand::Barge)
        .unwrap();
    call.drain();
    call.delta("item_A", 100);
    call.media(100);
    assert_eq!(call.sent_to_twilio(), [ToTwilio::Media(20)]);
    call.pipeline.on_supervisor_audio(&[1; FRAME_SAMPLES]);
    call.pipeline
        .on_supervisor(call.at(140), &supervisor(), SupervisorCommand::Unbarge)
        .unwrap();
    // The remaining 80 ms go to Twilio in one frame, then the mark; supervisor audio is gone.
    assert_eq!(
        call.sent_to_twilio(),
        [ToTwilio::Media(80), ToTwilio::Mark("1".into())]
    );
    assert_eq!(call.pipeline.mixer.supervisor_queued(), 0);
}

#[test]
fn a_takeover_cuts_the_agent_audio_in_flight_and_only_the_supervisor_is_heard() {
    let mut call = Call::new();
    call.live();
    call.stream(0, 120);
    call.delta("item_A", 200);
    call.drain();
    call.pipeline
        .on_supervisor(call.at(120), &supervisor(), SupervisorCommand::Takeover)
        .unwrap();
    let transmits = call.drain();
    let frames = ai_frames(&transmits);
    assert_eq!(frames[0]["type"], "conversation.item.truncate");
    assert!(
        transmits
            .iter()
            .any(|t| matches!(t, Transmit::Twilio(f) if f.contains("\"clear\"")))
    );
    let update = frames
        .iter()
        .find(|f| f["type"] == "session.update")
        .unwrap();
    assert!(
        update.to_string().contains("\"create_response\":false"),
        "the AI answers no turn while taken over: {update}"
    );
    // Late agent audio is dropped; the supervisor's frame is what the caller hears.
    call.delta("item_B", 100);
    assert!(call.sent_to_twilio().is_empty());
    call.pipeline.on_supervisor_audio(&[500; FRAME_SAMPLES]);
    call.media(120);
    assert_eq!(call.sent_to_twilio(), [ToTwilio::Media(20)]);
}

#[test]
fn an_agent_message_is_written_once_its_audio_has_played() {
    let mut call = Call::new();
    call.live();
    call.stream(0, 1020);
    for _ in 0..3 {
        call.delta("item_A", 100);
    }
    let done = call
        .ai
        .transcript_done("resp_1", "item_A", "Sure, which day works?");
    call.ai(1000, done);
    assert!(agent_messages(&call.drain()).is_empty(), "still playing");
    call.echo("1");
    call.echo("2");
    assert!(agent_messages(&call.drain()).is_empty());
    call.echo("3");
    let messages = agent_messages(&call.drain());
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["audio_start_time"], 1.0);
    assert_eq!(messages[0]["audio_end_time"], 1.3);
    assert!(messages[0].get("interrupted").is_none());
}

#[test]
fn an_agent_message_cut_by_a_barge_in_says_what_the_caller_heard() {
    let mut call = Call::new();
    call.live();
    call.stream(0, 1020); // clock 1000
    for _ in 0..5 {
        call.delta("item_A", 100);
    }
    let done = call
        .ai
        .transcript_done("resp_1", "item_A", "Your appointment is on Tuesday at");
    call.ai(1000, done);
    call.stream(1020, 1220); // clock 1200: 200 ms played, and echoed
    call.echo("1");
    call.echo("2");
    call.stream(1220, 1260); // clock 1240: 240 ms played
    let started = call.ai.speech_started(1230, "item_U");
    call.ai(1260, started);
    let transmits = call.drain();
    let messages = agent_messages(&transmits);
    assert_eq!(messages.len(), 1, "written at the cut");
    assert_eq!(messages[0]["interrupted"], true);
    assert_eq!(messages[0]["heard_ms"], 240);
    assert_eq!(messages[0]["total_ms"], 500);
    assert!(
        transmits
            .iter()
            .any(|t| matches!(t, Transmit::Twilio(f) if f.contains("\"clear\"")))
    );
}

#[test]
fn a_resumed_pipeline_keeps_the_conversation_and_the_marks_in_flight() {
    let mut call = Call::new();
    call.live();
    let said = call
        .ai
        .input_transcription_completed("item_U", 0, "I need to move my appointment");
    call.ai(500, said);
    call.stream(0, 1020);
    call.delta("item_A", 100);
    call.delta("item_A", 100);
    call.drain();
    // A new pipeline from the facts alone.
    let now = call.at(1100);
    let (facts, mut resumed) = call.restarted(now);
    assert!(facts.started() && !facts.ended());
    assert_eq!(resumed.poll_timeout(), Some(now), "reconnects at once");
    resumed.handle_timeout(now);
    let transmits: Vec<Transmit> = std::iter::from_fn(|| resumed.poll_transmit()).collect();
    assert_eq!(transmits, [Transmit::Event(PipelineEvent::ConnectAi)]);
    resumed.on_ai_up(now);
    let transmits: Vec<Transmit> = std::iter::from_fn(|| resumed.poll_transmit()).collect();
    let frames = ai_frames(&transmits);
    assert_eq!(frames[0]["type"], "session.update");
    assert_eq!(
        frames[1]["item"]["content"][0]["text"],
        "I need to move my appointment"
    );
    // The marks sent before the restart are still known; the next one follows them.
    let mut echo = String::new();
    twilio::encode_mark_echo(STREAM, 99, "2", &mut echo);
    resumed.on_twilio(now, &echo);
    assert_eq!(resumed.counters().marks_echoed, 1);
    assert_eq!(resumed.counters().marks_unknown, 0);
}

#[test]
fn ending_after_repeated_failures_hangs_up_and_writes_the_end() {
    let mut call = Call::new();
    call.live();
    call.stream(0, 200);
    let now = call.at(300);
    let (_, mut resumed) = call.restarted(now);
    resumed.on_engine_error(now);
    let transmits: Vec<Transmit> = std::iter::from_fn(|| resumed.poll_transmit()).collect();
    assert!(matches!(transmits[0], Transmit::TwilioClose { .. }));
    let ended = transmits
        .iter()
        .find_map(|t| match t {
            Transmit::Row(PersistItem::Message(m)) if m.content == "call_ended" => {
                Some(m.metadata.clone())
            }
            _ => None,
        })
        .expect("call_ended");
    assert_eq!(ended["reason"], "engine_error");
    assert_eq!(
        transmits.last(),
        Some(&Transmit::Event(PipelineEvent::Ended))
    );
    assert_eq!(
        resumed.poll_timeout(),
        None,
        "no reconnect for an ended call"
    );
}
