//! Unit and property tests for the codec (allocation proof: `tests/alloc.rs`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

const CONNECTED: &str = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;
const START: &str = r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","start":{"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","accountSid":"AC123","callSid":"CA123","tracks":["inbound"],"customParameters":{"FirstName":"Jane","k":"v"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"futureField":{"a":[1,{"b":null}]}},"newTopLevel":true}"#;
const MEDIA: &str = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/38AgA==","extra":"x"},"streamSid":"MZ18ad","future":{"x":1}}"#;
const DTMF: &str = r#"{"event":"dtmf","streamSid":"MZ18ad","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#;
const MARK: &str = r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ18ad","mark":{"name":"turn-7 \"end\""}}"#;
const STOP: &str = r#"{"event":"stop","sequenceNumber":"9","streamSid":"MZ18ad","stop":{"accountSid":"AC123","callSid":"CA123","reason":"hangup"}}"#;

fn media(text: &str) -> Media<'_> {
    match parse_inbound(text) {
        Ok(Inbound::Media(m)) => m,
        other => panic!("expected media, got {other:?}"),
    }
}

#[test]
fn parses_connected() {
    let expected = Inbound::Connected {
        protocol: "Call".into(),
        version: "1.0.0".into(),
    };
    assert_eq!(parse_inbound(CONNECTED), Ok(expected));
}

#[test]
fn parses_start_ignoring_unknown_fields() {
    let Ok(Inbound::Start(s)) = parse_inbound(START) else {
        panic!("not a start")
    };
    let params = BTreeMap::from([
        ("FirstName".to_owned(), "Jane".to_owned()),
        ("k".to_owned(), "v".to_owned()),
    ]);
    let expected = Start {
        sequence_number: 1,
        stream_sid: "MZ18ad3ab5a668481ce02b83e7395059f0".into(),
        account_sid: "AC123".into(),
        call_sid: "CA123".into(),
        tracks: vec!["inbound".into()],
        custom_parameters: params,
        media_format: MediaFormat {
            encoding: "audio/x-mulaw".into(),
            sample_rate: 8000,
            channels: 1,
        },
    };
    assert_eq!(s, expected);
}

#[test]
fn parses_media_borrowing_the_payload() {
    let m = media(MEDIA);
    assert_eq!(m.stream_sid, "MZ18ad");
    assert!(matches!(m.stream_sid, Cow::Borrowed(_)));
    assert_eq!((m.sequence_number, m.chunk, m.timestamp_ms), (3, 1, 5));
    assert_eq!(m.track, "inbound");
    assert_eq!(m.payload_b64, "/38AgA==");
    // The payload is a slice of the frame itself.
    let start = MEDIA.find("/38AgA==").unwrap();
    assert_eq!(m.payload_b64.as_ptr(), MEDIA[start..].as_ptr());
    let mut out = vec![9; 3];
    m.decode_payload(&mut out).unwrap();
    assert_eq!(out, [0xff, 0x7f, 0x00, 0x80]);
}

#[test]
fn parses_dtmf_mark_stop() {
    let dtmf = Inbound::Dtmf {
        stream_sid: "MZ18ad".into(),
        sequence_number: 5,
        digit: '1',
    };
    assert_eq!(parse_inbound(DTMF), Ok(dtmf));
    let mark = Inbound::Mark {
        stream_sid: "MZ18ad".into(),
        sequence_number: 4,
        name: "turn-7 \"end\"".into(),
    };
    assert_eq!(parse_inbound(MARK), Ok(mark));
    let stop = Inbound::Stop {
        stream_sid: "MZ18ad".into(),
        sequence_number: 9,
        account_sid: "AC123".into(),
        call_sid: "CA123".into(),
    };
    assert_eq!(parse_inbound(STOP), Ok(stop));
}

#[test]
fn unknown_events_are_values_not_errors() {
    let unknown = |e: &str| Ok(Inbound::Unknown { event: e.into() });
    assert_eq!(
        parse_inbound(r#"{"event":"transcript","x":1}"#),
        unknown("transcript")
    );
    // Even when its fields clash with the shape of a known event's fields.
    assert_eq!(
        parse_inbound(r#"{"event":"v2","media":5,"start":[]}"#),
        unknown("v2")
    );
    // Server-side events are unknown to the inbound parser and vice versa.
    assert_eq!(
        parse_inbound(r#"{"event":"clear","streamSid":"MZ"}"#),
        unknown("clear")
    );
    assert_eq!(
        parse_outbound(STOP),
        Ok(Outbound::Unknown {
            event: "stop".into()
        })
    );
}

#[test]
fn invalid_json_is_an_error() {
    for bad in [
        "",
        "{",
        "not json",
        "[]",
        r#"{"event":"media"} trailing"#,
        "\"media\"",
    ] {
        let err = parse_inbound(bad).unwrap_err();
        assert!(
            matches!(err, CodecError::InvalidJson(_)),
            "{bad:?} -> {err:?}"
        );
    }
    // Wrong JSON type for a known event's body.
    let err = parse_inbound(r#"{"event":"media","media":"x"}"#).unwrap_err();
    assert!(matches!(err, CodecError::InvalidJson(_)), "{err:?}");
}

#[test]
fn missing_fields_are_named() {
    let missing = |f| Err(CodecError::MissingField(f));
    let no_sid = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"AA=="}}"#;
    assert_eq!(parse_inbound(no_sid), missing("streamSid"));
    let null_sid = no_sid.replace(r#""media":{"#, r#""streamSid":null,"media":{"#);
    assert_eq!(parse_inbound(&null_sid), missing("streamSid"));
    assert_eq!(
        parse_inbound(&MEDIA.replace("payload", "p")),
        missing("media.payload")
    );
    assert_eq!(
        parse_inbound(&MEDIA.replace("timestamp", "t")),
        missing("media.timestamp")
    );
    assert_eq!(
        parse_inbound(&MEDIA.replace("sequenceNumber", "s")),
        missing("sequenceNumber")
    );
    assert_eq!(parse_inbound(r#"{"protocol":"Call"}"#), missing("event"));
    assert_eq!(
        parse_inbound(&START.replace("callSid", "c")),
        missing("start.callSid")
    );
    assert_eq!(
        parse_inbound(&START.replace("sampleRate", "rate")),
        missing("start.mediaFormat.sampleRate")
    );
    assert_eq!(
        parse_inbound(&STOP.replace("\"stop\":{", "\"halt\":{")),
        missing("stop")
    );
    let err = parse_outbound(r#"{"event":"clear"}"#).unwrap_err();
    assert_eq!(err, CodecError::MissingField("streamSid"));
}

#[test]
fn bad_numbers_are_named() {
    let invalid = |field, value: &str| {
        Err(CodecError::InvalidField {
            field,
            value: value.into(),
        })
    };
    let seq = |v: &str| {
        MEDIA.replace(
            r#""sequenceNumber":"3""#,
            &format!(r#""sequenceNumber":{v}"#),
        )
    };
    assert_eq!(
        parse_inbound(&seq(r#""three""#)),
        invalid("sequenceNumber", "three")
    );
    assert_eq!(
        parse_inbound(&seq(r#""+3""#)),
        invalid("sequenceNumber", "+3")
    );
    assert_eq!(parse_inbound(&seq(r#""""#)), invalid("sequenceNumber", ""));
    assert_eq!(parse_inbound(&seq("-3")), invalid("sequenceNumber", "-3"));
    assert_eq!(
        parse_inbound(&seq("true")),
        invalid("sequenceNumber", "true")
    );
    let too_big = r#""18446744073709551616""#;
    assert_eq!(
        parse_inbound(&seq(too_big)),
        invalid("sequenceNumber", &too_big[1..21])
    );
    // A bare JSON integer is tolerated.
    assert_eq!(media(&seq("3")).sequence_number, 3);
    let chunk = MEDIA.replace(r#""chunk":"1""#, r#""chunk":"1.5""#);
    assert_eq!(parse_inbound(&chunk), invalid("media.chunk", "1.5"));
    let chans = START.replace(r#""channels":1"#, r#""channels":70000"#);
    assert_eq!(
        parse_inbound(&chans),
        invalid("start.mediaFormat.channels", "70000")
    );
    let sid = MEDIA.replace(r#""streamSid":"MZ18ad""#, r#""streamSid":42"#);
    assert_eq!(parse_inbound(&sid), invalid("streamSid", "42"));
}

#[test]
fn other_invalid_fields() {
    let two_digits = DTMF.replace(r#""digit":"1""#, r#""digit":"12""#);
    let err = parse_inbound(&two_digits).unwrap_err();
    assert_eq!(err, CodecError::invalid("dtmf.digit", "12"));
    let other_sid = START.replacen("MZ18ad3ab5a668481ce02b83e7395059f0", "MZother", 1);
    let err = parse_inbound(&other_sid).unwrap_err();
    assert_eq!(
        err,
        CodecError::invalid("start.streamSid", "MZ18ad3ab5a668481ce02b83e7395059f0")
    );
    // Escaped payload (legal JSON `\/`) is rejected rather than copied.
    let escaped = MEDIA.replace("/38AgA==", r"\/38AgA==");
    let err = parse_inbound(&escaped).unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::InvalidField {
                field: "media.payload",
                ..
            }
        ),
        "{err:?}"
    );
    // Escaped stream sid is fine, just owned.
    let escaped_sid = MEDIA.replace(r#""MZ18ad""#, r#""MZ\u0031""#);
    let m = media(&escaped_sid);
    assert_eq!(m.stream_sid, Cow::<str>::Owned("MZ1".into()));
}

#[test]
fn frame_size_limit() {
    let pad = |len: usize| {
        let mut s = String::from(r#"{"event":"x","pad":""#);
        let fill = len - s.len() - 2;
        s.extend(std::iter::repeat_n('a', fill));
        s.push_str("\"}");
        assert_eq!(s.len(), len);
        s
    };
    let at_limit = pad(MAX_FRAME_BYTES);
    assert_eq!(
        parse_inbound(&at_limit),
        Ok(Inbound::Unknown { event: "x".into() })
    );
    let over = pad(MAX_FRAME_BYTES + 1);
    let too_large = CodecError::FrameTooLarge {
        len: MAX_FRAME_BYTES + 1,
    };
    assert_eq!(parse_inbound(&over), Err(too_large.clone()));
    assert_eq!(parse_outbound(&over), Err(too_large));
    // Rejected before parsing: even garbage gets FrameTooLarge.
    let garbage = "x".repeat(MAX_FRAME_BYTES + 7);
    assert!(matches!(
        parse_inbound(&garbage),
        Err(CodecError::FrameTooLarge { len }) if len == MAX_FRAME_BYTES + 7
    ));
}

#[test]
fn bad_base64() {
    for bad in ["!!!!", "AAA=A", "A", "AB=C", "AAAA\u{e9}"] {
        let frame = MEDIA.replace("/38AgA==", bad);
        let m = media(&frame);
        let mut out = vec![1, 2, 3];
        assert_eq!(
            m.decode_payload(&mut out),
            Err(CodecError::BadBase64),
            "{bad:?}"
        );
        assert!(out.is_empty());
    }
    // Unpadded input is accepted.
    let mut out = Vec::new();
    decode_base64("/38AgA", &mut out).unwrap();
    assert_eq!(out, [0xff, 0x7f, 0x00, 0x80]);
}

#[test]
fn error_messages_are_precise() {
    let msg = |e: CodecError| e.to_string();
    assert_eq!(
        msg(CodecError::FrameTooLarge { len: 70000 }),
        "frame of 70000 bytes exceeds the 65536-byte limit"
    );
    assert_eq!(
        msg(CodecError::MissingField("streamSid")),
        "missing required field `streamSid`"
    );
    assert_eq!(
        msg(CodecError::invalid("sequenceNumber", "abc")),
        "invalid value for field `sequenceNumber`: \"abc\""
    );
    assert_eq!(
        msg(CodecError::BadBase64),
        "media payload is not valid base64"
    );
    let json = msg(parse_inbound("{").unwrap_err());
    assert!(
        json.starts_with("invalid JSON frame: EOF while parsing"),
        "{json}"
    );
    let long = CodecError::invalid("f", &"é".repeat(100));
    assert_eq!(
        long,
        CodecError::invalid("f", &format!("{}…", "é".repeat(64)))
    );
}

#[test]
fn encoders_write_the_documented_shapes() {
    let mut out = String::from("stale");
    encode_media("MZ1", &[0xff, 0x7f, 0x00, 0x80], &mut out);
    assert_eq!(
        out,
        r#"{"event":"media","streamSid":"MZ1","media":{"payload":"/38AgA=="}}"#
    );
    encode_mark("MZ1", "m\"1", &mut out);
    assert_eq!(
        out,
        r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"m\"1"}}"#
    );
    encode_clear("MZ1", &mut out);
    assert_eq!(out, r#"{"event":"clear","streamSid":"MZ1"}"#);
    encode_connected(&mut out);
    assert_eq!(out, CONNECTED);
    encode_inbound_media("MZ1", 3, 1, 5, &[0xff], &mut out);
    let expected = r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/w=="}}"#;
    assert_eq!(out, expected);
    encode_dtmf("MZ1", 5, '#', &mut out);
    let expected = r##"{"event":"dtmf","sequenceNumber":"5","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"#"}}"##;
    assert_eq!(out, expected);
    encode_stop("MZ1", 9, "AC1", "CA1", &mut out);
    let expected = r#"{"event":"stop","sequenceNumber":"9","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}}"#;
    assert_eq!(out, expected);
}

#[test]
fn escaper_handles_quotes_backslashes_controls_unicode() {
    let cases = [
        ("", r#""""#),
        ("plain", r#""plain""#),
        ("a\"b\\c", r#""a\"b\\c""#),
        ("\n\r\t\u{8}\u{c}", r#""\n\r\t\b\f""#),
        ("\u{0}\u{1f}\u{7f}", "\"\\u0000\\u001f\u{7f}\""),
        ("héllo ☎ 𝄞 /", "\"héllo ☎ 𝄞 /\""),
        ("\u{2028}\"", "\"\u{2028}\\\"\""),
    ];
    let mut out = String::new();
    for (raw, want) in cases {
        out.clear();
        json::push_str(&mut out, raw);
        assert_eq!(out, want, "{raw:?}");
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), raw);
    }
}

#[test]
fn parse_outbound_reads_each_frame() {
    let mut out = String::new();
    encode_media("MZ1", &[1, 2, 3], &mut out);
    let parsed = parse_outbound(&out).unwrap();
    let mut bytes = Vec::new();
    assert_eq!(parsed.decode_payload(&mut bytes), Ok(true));
    assert_eq!(bytes, [1, 2, 3]);
    encode_mark("MZ1", "n", &mut out);
    let mark = Outbound::Mark {
        stream_sid: "MZ1".into(),
        name: "n".into(),
    };
    assert_eq!(parse_outbound(&out), Ok(mark.clone()));
    assert_eq!(mark.decode_payload(&mut bytes), Ok(false));
    assert_eq!(bytes, [1, 2, 3]);
    let with_extra = r#"{"event":"clear","streamSid":"MZ1","new":{"x":[1]}}"#;
    let clear = Outbound::Clear {
        stream_sid: "MZ1".into(),
    };
    assert_eq!(parse_outbound(with_extra), Ok(clear));
}

#[test]
fn warm_buffers_keep_pointer_and_capacity() {
    let mulaw: Vec<u8> = (0..160u8).collect();
    let (mut frame, mut pcm, mut out) = (String::new(), Vec::new(), String::new());
    encode_inbound_media("MZ18ad", 1, 1, 0, &mulaw, &mut frame);
    media(&frame).decode_payload(&mut pcm).unwrap();
    encode_media("MZ18ad", &pcm, &mut out);
    let before = (pcm.as_ptr(), pcm.capacity(), out.as_ptr(), out.capacity());
    for i in 0..1000u64 {
        encode_inbound_media("MZ18ad", i + 2, i + 2, i * 20, &mulaw, &mut frame);
        media(&frame).decode_payload(&mut pcm).unwrap();
        assert_eq!(pcm, mulaw);
        encode_media("MZ18ad", &pcm, &mut out);
        assert_eq!(
            before,
            (pcm.as_ptr(), pcm.capacity(), out.as_ptr(), out.capacity())
        );
    }
}

fn start_strategy() -> impl Strategy<Value = Start> {
    let ids = (
        any::<u64>(),
        any::<String>(),
        any::<String>(),
        any::<String>(),
    );
    let rest = (
        prop::collection::vec(any::<String>(), 0..4),
        prop::collection::btree_map(any::<String>(), any::<String>(), 0..4),
        (any::<String>(), any::<u32>(), any::<u16>()),
    );
    (ids, rest).prop_map(
        |((seq, sid, acc, call), (tracks, params, (enc, rate, ch)))| Start {
            sequence_number: seq,
            stream_sid: sid,
            account_sid: acc,
            call_sid: call,
            tracks,
            custom_parameters: params,
            media_format: MediaFormat {
                encoding: enc,
                sample_rate: rate,
                channels: ch,
            },
        },
    )
}

fn mulaw() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..2000)
}

proptest! {
    #[test]
    fn escaper_matches_serde_json(s in any::<String>()) {
        let mut out = String::new();
        json::push_str(&mut out, &s);
        prop_assert_eq!(&out, &serde_json::to_string(&s).unwrap());
    }

    #[test]
    fn media_round_trip(sid in any::<String>(), bytes in mulaw()) {
        let (mut out, mut dec) = (String::new(), Vec::new());
        encode_media(&sid, &bytes, &mut out);
        let Ok(Outbound::Media { stream_sid, payload_b64 }) = parse_outbound(&out) else {
            panic!("not media: {out}")
        };
        prop_assert_eq!(stream_sid, sid.as_str());
        decode_base64(payload_b64, &mut dec).unwrap();
        prop_assert_eq!(dec, bytes);
    }

    #[test]
    fn mark_and_clear_round_trip(sid in any::<String>(), name in any::<String>()) {
        let mut out = String::new();
        encode_mark(&sid, &name, &mut out);
        let mark = Outbound::Mark { stream_sid: sid.as_str().into(), name: name.as_str().into() };
        prop_assert_eq!(parse_outbound(&out), Ok(mark));
        encode_clear(&sid, &mut out);
        prop_assert_eq!(parse_outbound(&out), Ok(Outbound::Clear { stream_sid: sid.as_str().into() }));
    }

    #[test]
    fn inbound_media_round_trip(
        sid in any::<String>(),
        (seq, chunk, ts) in (any::<u64>(), any::<u64>(), any::<u64>()),
        bytes in mulaw(),
    ) {
        let (mut out, mut dec) = (String::new(), Vec::new());
        encode_inbound_media(&sid, seq, chunk, ts, &bytes, &mut out);
        let m = media(&out);
        prop_assert_eq!(&m.stream_sid, sid.as_str());
        prop_assert_eq!((m.sequence_number, m.chunk, m.timestamp_ms), (seq, chunk, ts));
        prop_assert_eq!(&m.track, "inbound");
        m.decode_payload(&mut dec).unwrap();
        prop_assert_eq!(dec, bytes);
    }

    #[test]
    fn start_round_trip(start in start_strategy()) {
        let mut out = String::new();
        encode_start(&start, &mut out);
        prop_assert_eq!(parse_inbound(&out), Ok(Inbound::Start(start)));
    }

    #[test]
    fn twilio_events_round_trip(
        sid in any::<String>(),
        seq in any::<u64>(),
        digit in any::<char>(),
        name in any::<String>(),
        (acc, call) in (any::<String>(), any::<String>()),
    ) {
        let mut out = String::new();
        encode_dtmf(&sid, seq, digit, &mut out);
        let dtmf = Inbound::Dtmf { stream_sid: sid.clone(), sequence_number: seq, digit };
        prop_assert_eq!(parse_inbound(&out), Ok(dtmf));
        encode_mark_echo(&sid, seq, &name, &mut out);
        let mark = Inbound::Mark { stream_sid: sid.as_str().into(), sequence_number: seq, name: name.as_str().into() };
        prop_assert_eq!(parse_inbound(&out), Ok(mark));
        encode_stop(&sid, seq, &acc, &call, &mut out);
        let stop = Inbound::Stop { stream_sid: sid, sequence_number: seq, account_sid: acc, call_sid: call };
        prop_assert_eq!(parse_inbound(&out), Ok(stop));
    }

    #[test]
    fn parsers_never_panic(text in any::<String>()) {
        let _ = parse_inbound(&text);
        let _ = parse_outbound(&text);
    }
}

#[test]
fn base64_media_passes_through_unchanged() {
    let mut direct = String::new();
    let mut passed = String::new();
    encode_media("MZ1", &[0xff, 0x7f, 0x00, 0x10], &mut direct);
    encode_media_base64("MZ1", "/38AEA==", &mut passed);
    assert_eq!(direct, passed);
}
