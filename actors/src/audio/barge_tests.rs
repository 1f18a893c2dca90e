//! Tests for [`SupervisorInput`] and the mixers: a supervisor's tone reaches the caller (after
//! µ-law) at the right frequency and level for every codec and rate, the queue stays bounded,
//! bad packets are errors the input survives, and mixing saturates.

use super::*;
use crate::audio::opus::OpusEncoder;
use crate::audio::tone::{db, dominant_frequency, rms, sine, tone_amplitude};

/// Peak of a sine at -12 dBFS.
fn minus_12_dbfs() -> f64 {
    32_768.0 * 10f64.powf(-12.0 / 20.0)
}

/// One second of a `hz` tone at `rate_hz`, Opus-encoded in 20 ms packets (the supervisor's
/// encoder at libopus defaults).
fn opus_packets(hz: f64, rate_hz: u32, amp: f64) -> (Vec<i16>, Vec<Vec<u8>>) {
    let x = sine(hz, rate_hz, rate_hz as usize, amp);
    let mut enc = OpusEncoder::new(rate_hz, 1).expect("encoder");
    let packets = x
        .chunks_exact(enc.frame_len())
        .map(|f| enc.encode(f).expect("encode").to_vec())
        .collect();
    (x, packets)
}

/// One second of a `hz` tone at `rate_hz` as PCM16 little-endian, in 20 ms packets.
fn pcm_packets(hz: f64, rate_hz: u32, amp: f64) -> (Vec<i16>, Vec<Vec<u8>>) {
    let x = sine(hz, rate_hz, rate_hz as usize, amp);
    let packets = x
        .chunks(rate_hz as usize / 50)
        .map(|f| f.iter().flat_map(|s| s.to_le_bytes()).collect())
        .collect();
    (x, packets)
}

/// What the caller hears: each packet pushed, every whole frame popped and mixed into a silent
/// µ-law frame (as the call mixes it into the agent's), then µ-law decoded.
fn caller_hears(input: &mut SupervisorInput, packets: &[Vec<u8>]) -> Vec<i16> {
    let mut heard = Vec::new();
    let mut frame = [0i16; FRAME_SAMPLES];
    for packet in packets {
        input.push(packet).expect("push");
        while input.pop_frame(&mut frame) {
            let mut ulaw = [0xFFu8; FRAME_SAMPLES];
            mix_into_ulaw(&mut ulaw, &frame);
            let mut pcm = [0i16; FRAME_SAMPLES];
            g711::decode_ulaw(&ulaw, &mut pcm);
            heard.extend_from_slice(&pcm);
        }
    }
    heard
}

/// Asserts `heard` (8 kHz, first 100 ms skipped) is a 1 kHz tone at the level of `input`.
fn assert_tone(heard: &[i16], input: &[i16], what: &str) {
    assert!(heard.len() >= 7_200, "{what}: only {} samples", heard.len());
    let steady = &heard[800..];
    let f = dominant_frequency(steady, 8_000);
    assert!((f - 1000.0).abs() <= 10.0, "{what}: {f} Hz");
    let level = db(rms(steady), rms(input));
    assert!(level.abs() <= 1.0, "{what}: level {level:.2} dB");
}

#[test]
fn rejects_unsupported_formats() {
    for (codec, rate) in [
        (SupervisorCodec::Opus, 8_000),
        (SupervisorCodec::Opus, 24_000),
        (SupervisorCodec::Opus, 44_100),
        (SupervisorCodec::Pcm16, 12_000),
        (SupervisorCodec::Pcm16, 44_100),
        (SupervisorCodec::Pcm16, 0),
    ] {
        match SupervisorInput::new(codec, rate) {
            Err(AudioError::UnsupportedFormat { rate_hz, .. }) => assert_eq!(rate_hz, rate),
            other => panic!("{codec:?} {rate}: {other:?}"),
        }
    }
}

#[test]
fn opus_supervisor_tone_reaches_the_caller() {
    for rate in [48_000, 16_000] {
        let (x, packets) = opus_packets(1000.0, rate, minus_12_dbfs());
        let mut input = SupervisorInput::new(SupervisorCodec::Opus, rate).expect("input");
        assert_eq!(
            (input.codec(), input.rate_hz()),
            (SupervisorCodec::Opus, rate)
        );
        let heard = caller_hears(&mut input, &packets);
        // 20 ms packets decode straight to 8 kHz: every packet yields exactly one frame.
        assert_eq!(heard.len(), 8_000, "opus {rate}");
        assert_tone(&heard, &x, &format!("opus {rate}"));
        assert_eq!(input.dropped_ms(), 0);
    }
}

#[test]
fn pcm16_supervisor_tone_reaches_the_caller() {
    for rate in [48_000, 24_000, 16_000, 8_000] {
        let (x, packets) = pcm_packets(1000.0, rate, minus_12_dbfs());
        let mut input = SupervisorInput::new(SupervisorCodec::Pcm16, rate).expect("input");
        let heard = caller_hears(&mut input, &packets);
        assert_eq!(heard.len(), 8_000, "pcm16 {rate}");
        assert_tone(&heard, &x, &format!("pcm16 {rate}"));
    }
}

#[test]
fn opus_decoding_at_8k_does_not_alias() {
    // 6 kHz is above the call's 4 kHz Nyquist: it must vanish, not fold down to 2 kHz.
    let (x, packets) = opus_packets(6_000.0, 48_000, minus_12_dbfs());
    let mut input = SupervisorInput::new(SupervisorCodec::Opus, 48_000).expect("input");
    let mut heard = Vec::new();
    let mut frame = [0i16; FRAME_SAMPLES];
    for packet in &packets {
        input.push(packet).expect("push");
        while input.pop_frame(&mut frame) {
            heard.extend_from_slice(&frame);
        }
    }
    let steady = &heard[800..];
    let alias = db(tone_amplitude(steady, 2_000.0, 8_000), minus_12_dbfs());
    let residue = db(rms(steady), rms(&x));
    assert!(alias < -40.0, "2 kHz alias at {alias:.1} dB");
    assert!(residue < -30.0, "residue {residue:.1} dB");
}

#[test]
fn pcm16_packets_of_any_length_queue_in_order() {
    // 8 kHz PCM16 is queued as it is: odd-sized pushes come out sample-exact in 20 ms frames.
    let x = sine(1000.0, 8_000, 1_600, 5_000.0);
    let bytes: Vec<u8> = x.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut input = SupervisorInput::new(SupervisorCodec::Pcm16, 8_000).expect("input");
    let mut out = Vec::new();
    let mut frame = [0i16; FRAME_SAMPLES];
    for packet in bytes.chunks(2 * 37) {
        input.push(packet).expect("push");
        while input.pop_frame(&mut frame) {
            out.extend_from_slice(&frame);
        }
    }
    input.push(&[]).expect("an empty packet is nothing");
    assert_eq!(out, x);
    assert_eq!(input.queued_ms(), 0);
}

#[test]
fn queue_is_bounded_and_drops_the_oldest() {
    // One second of 8 kHz PCM16 in one push: only the newest 100 ms stays.
    let x: Vec<i16> = (0..8_000).map(|i| (i % 30_000) as i16).collect();
    let bytes: Vec<u8> = x.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut input = SupervisorInput::new(SupervisorCodec::Pcm16, 8_000).expect("input");
    input.push(&bytes).expect("push");
    assert_eq!(input.queued_ms(), MAX_QUEUED_MS);
    assert_eq!(input.dropped_ms(), 1_000 - MAX_QUEUED_MS);
    let mut frame = [0i16; FRAME_SAMPLES];
    let mut out = Vec::new();
    while input.pop_frame(&mut frame) {
        out.extend_from_slice(&frame);
    }
    assert_eq!(out, x[8_000 - 800..]);

    // One second of 48 kHz PCM16 at once goes through the resampler and is bounded the same.
    let (_, packets) = pcm_packets(1000.0, 48_000, 8_000.0);
    let mut input = SupervisorInput::new(SupervisorCodec::Pcm16, 48_000).expect("input");
    input.push(&packets.concat()).expect("push");
    assert_eq!((input.queued_ms(), input.dropped_ms()), (100, 900));

    // A burst of fifty 20 ms Opus packets without a pop in between.
    let (_, packets) = opus_packets(1000.0, 48_000, 8_000.0);
    let mut input = SupervisorInput::new(SupervisorCodec::Opus, 48_000).expect("input");
    for (i, packet) in packets.iter().enumerate() {
        input.push(packet).expect("push");
        assert_eq!(input.queued_ms(), (20 * (i as u64 + 1)).min(MAX_QUEUED_MS));
    }
    assert_eq!((input.queued_ms(), input.dropped_ms()), (100, 900));
    // Draining then refilling: the drop count only grows with new overflow.
    while input.pop_frame(&mut frame) {}
    assert_eq!(input.queued_ms(), 0);
    input.push(&packets[0]).expect("push");
    assert_eq!((input.queued_ms(), input.dropped_ms()), (20, 900));
    input.reset().expect("reset");
    assert_eq!((input.queued_ms(), input.dropped_ms()), (0, 900));
}

#[test]
fn bad_packets_are_errors_and_the_next_good_one_decodes() {
    let (_, packets) = opus_packets(1000.0, 16_000, 8_000.0);
    let mut input = SupervisorInput::new(SupervisorCodec::Opus, 16_000).expect("input");
    input.push(&packets[0]).expect("push");
    assert_eq!(input.queued_ms(), 20);
    for garbage in [&[][..], &[0x03, 0x00][..], &[0x03, 0xFF, 0x01][..]] {
        assert!(
            matches!(input.push(garbage), Err(AudioError::Opus(_))),
            "{garbage:?} accepted"
        );
        assert_eq!(input.queued_ms(), 20, "{garbage:?} queued audio");
    }
    input.push(&packets[1]).expect("push after garbage");
    assert_eq!(input.queued_ms(), 40);

    let mut pcm = SupervisorInput::new(SupervisorCodec::Pcm16, 16_000).expect("input");
    assert!(matches!(
        pcm.push(&[1, 2, 3]),
        Err(AudioError::BadPacket(_))
    ));
    assert_eq!(pcm.queued_ms(), 0);
    pcm.push(&[0; 640]).expect("push");
    assert_eq!(pcm.queued_ms(), 20);
}

#[test]
fn pop_frame_needs_a_whole_frame() {
    let mut input = SupervisorInput::new(SupervisorCodec::Pcm16, 8_000).expect("input");
    let mut frame = [7i16; FRAME_SAMPLES];
    assert!(!input.pop_frame(&mut frame));
    input.push(&[0; 2 * 159]).expect("push");
    assert!(!input.pop_frame(&mut frame));
    assert_eq!(frame, [7; FRAME_SAMPLES], "frame touched without a pop");
    input.push(&[0; 2]).expect("push");
    assert!(input.pop_frame(&mut frame));
    assert_eq!(frame, [0; FRAME_SAMPLES]);
}

#[test]
fn mix_into_saturates_with_the_inputs_sign() {
    let full = sine(1000.0, 8_000, 800, 32_767.0);
    let mut mixed = full.clone();
    mix_into(&mut mixed, &full);
    assert_eq!(mixed.iter().max(), Some(&32_767));
    assert_eq!(mixed.iter().min(), Some(&-32_768));
    for (m, x) in mixed.iter().zip(&full) {
        assert_eq!(m.signum(), x.signum(), "wrapped: {x} + {x} -> {m}");
        assert!(i32::from(*m).abs() >= i32::from(*x).abs());
    }
    let mut edge = [32_767, -32_768, 30_000, -30_000, 100, 0];
    mix_into(&mut edge, &[1, -1, 30_000, -30_000, -300, 5, 99]);
    assert_eq!(edge, [32_767, -32_768, 32_767, -32_768, -200, 5]);
}

#[test]
fn mix_into_ulaw_adds_saturates_and_leaves_silence_alone() {
    // Adding silence changes no code (but the redundant -0).
    let mut codes: Vec<u8> = (0..=255u8).collect();
    mix_into_ulaw(&mut codes, &[0; 256]);
    for (i, c) in codes.iter().enumerate() {
        let expected = if i == 0x7F { 0xFF } else { i as u8 };
        assert_eq!(*c, expected);
    }

    // A tone mixed into µ-law silence comes back as the tone.
    let tone = sine(1000.0, 8_000, 8_000, 8_000.0);
    let mut ulaw = vec![0xFFu8; tone.len()];
    mix_into_ulaw(&mut ulaw, &tone);
    let mut heard = vec![0i16; tone.len()];
    g711::decode_ulaw(&ulaw, &mut heard);
    assert!(db(rms(&heard), rms(&tone)).abs() < 0.1);

    // Two full-scale signals: the peaks clip at µ-law's extremes with the right sign.
    let full = sine(1000.0, 8_000, 800, 32_767.0);
    let mut ulaw = vec![0u8; full.len()];
    g711::encode_ulaw(&full, &mut ulaw);
    mix_into_ulaw(&mut ulaw, &full);
    let mut heard = vec![0i16; full.len()];
    g711::decode_ulaw(&ulaw, &mut heard);
    assert_eq!(heard.iter().max(), Some(&32_124));
    assert_eq!(heard.iter().min(), Some(&-32_124));
    for (h, x) in heard.iter().zip(&full) {
        assert_eq!(h.signum(), x.signum(), "wrapped: {x} -> {h}");
    }
}
