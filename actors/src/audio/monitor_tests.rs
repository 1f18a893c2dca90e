//! Tests for [`MonitorEncoder`]: format validation, frame sizes, and what a supervisor decodes:
//! caller 440 Hz and agent 1000 Hz found in the mix, or each in its own channel only.

use super::*;
use crate::audio::opus::OpusDecoder;
use crate::audio::tone::{db, dominant_frequency, sine, tone_amplitude};

const CALLER_HZ: f64 = 440.0;
const AGENT_HZ: f64 = 1000.0;
const AMP: f64 = 8_000.0;
/// One second of call audio.
const FRAMES: usize = 50;

fn format(codec: MonitorCodec, rate_hz: u32, layout: MonitorLayout) -> MonitorFormat {
    MonitorFormat {
        codec,
        rate_hz,
        layout,
    }
}

/// Runs a second of caller/agent tones through `enc`, handing each output frame to `sink`.
fn run(enc: &mut MonitorEncoder, mut sink: impl FnMut(&[u8])) {
    let caller = sine(CALLER_HZ, 8_000, 160 * FRAMES, AMP);
    let agent = sine(AGENT_HZ, 8_000, 160 * FRAMES, AMP);
    for (c, a) in caller.chunks(160).zip(agent.chunks(160)) {
        sink(enc.encode(c, a).expect("encode"));
    }
}

/// Decodes a second of Opus monitor packets at `rate_hz`, returning channel 0 and 1 (the same
/// signal twice for mono), with the first 100 ms of start-up dropped.
fn decode_opus(fmt: MonitorFormat) -> (Vec<i16>, Vec<i16>) {
    let mut enc = MonitorEncoder::new(fmt).expect("encoder");
    let channels = fmt.channels();
    let mut dec = OpusDecoder::new(fmt.rate_hz, channels).expect("decoder");
    let mut pcm = Vec::new();
    run(&mut enc, |packet| {
        let frame = dec.decode(packet).expect("decode");
        assert_eq!(frame.len(), fmt.rate_hz as usize / 50 * channels);
        pcm.extend_from_slice(frame);
    });
    split(&pcm, channels, fmt.rate_hz)
}

/// De-interleaves `pcm` and drops the first 100 ms.
fn split(pcm: &[i16], channels: usize, rate_hz: u32) -> (Vec<i16>, Vec<i16>) {
    let skip = rate_hz as usize / 10;
    let ch = |c: usize| -> Vec<i16> {
        pcm.iter()
            .skip(c % channels)
            .step_by(channels)
            .skip(skip)
            .copied()
            .collect()
    };
    (ch(0), ch(1))
}

/// Asserts both tones are in `x` at about the input level.
fn assert_mix(x: &[i16], rate_hz: u32, what: &str) {
    for hz in [CALLER_HZ, AGENT_HZ] {
        let level = db(tone_amplitude(x, hz, rate_hz), AMP);
        assert!(level.abs() < 1.5, "{what}: {hz} Hz at {level:.2} dB");
    }
    let f = dominant_frequency(x, rate_hz);
    assert!(
        (f - CALLER_HZ).abs() < 4.4 || (f - AGENT_HZ).abs() < 10.0,
        "{what}: dominant {f} Hz"
    );
    // Nothing else of note: no aliases or intermodulation at, say, 2 or 3 kHz.
    for hz in [2_000.0, 3_000.0] {
        let level = db(tone_amplitude(x, hz, rate_hz), AMP);
        assert!(level < -30.0, "{what}: {hz} Hz at {level:.1} dB");
    }
}

/// Asserts `x` holds `want` and not `other`.
fn assert_only(x: &[i16], rate_hz: u32, want: f64, other: f64, what: &str) {
    let f = dominant_frequency(x, rate_hz);
    assert!((f - want).abs() < want / 100.0, "{what}: dominant {f} Hz");
    let level = db(tone_amplitude(x, want, rate_hz), AMP);
    assert!(level.abs() < 1.5, "{what}: {want} Hz at {level:.2} dB");
    let leak = db(tone_amplitude(x, other, rate_hz), AMP);
    assert!(leak < -30.0, "{what}: {other} Hz leaks at {leak:.1} dB");
}

#[test]
fn rejects_unsupported_formats() {
    use MonitorCodec::*;
    use MonitorLayout::*;
    for fmt in [
        format(Opus, 8_000, Mix),
        format(Opus, 24_000, Stereo),
        format(Opus, 44_100, Mix),
        format(Pcm16, 24_000, Mix),
        format(Pcm16, 44_100, Stereo),
        format(Pcm16, 0, Mix),
    ] {
        assert!(!fmt.is_supported());
        match MonitorEncoder::new(fmt) {
            Err(AudioError::UnsupportedFormat { rate_hz, .. }) => assert_eq!(rate_hz, fmt.rate_hz),
            other => panic!("{fmt:?}: {other:?}"),
        }
    }
}

#[test]
fn opus_48k_mix_carries_both_sides() {
    let (mono, _) = decode_opus(format(MonitorCodec::Opus, 48_000, MonitorLayout::Mix));
    assert_mix(&mono, 48_000, "opus 48k mix");
}

#[test]
fn opus_16k_stereo_keeps_caller_left_and_agent_right() {
    let (left, right) = decode_opus(format(MonitorCodec::Opus, 16_000, MonitorLayout::Stereo));
    assert_only(&left, 16_000, CALLER_HZ, AGENT_HZ, "opus 16k left");
    assert_only(&right, 16_000, AGENT_HZ, CALLER_HZ, "opus 16k right");
}

#[test]
fn opus_48k_stereo_and_16k_mix() {
    let (left, right) = decode_opus(format(MonitorCodec::Opus, 48_000, MonitorLayout::Stereo));
    assert_only(&left, 48_000, CALLER_HZ, AGENT_HZ, "opus 48k left");
    assert_only(&right, 48_000, AGENT_HZ, CALLER_HZ, "opus 48k right");
    let (mono, _) = decode_opus(format(MonitorCodec::Opus, 16_000, MonitorLayout::Mix));
    assert_mix(&mono, 16_000, "opus 16k mix");
}

#[test]
fn pcm16_frame_sizes_and_tones() {
    use MonitorLayout::*;
    for (rate, layout, bytes) in [
        (8_000, Mix, 320),
        (8_000, Stereo, 640),
        (16_000, Mix, 640),
        (16_000, Stereo, 1_280),
        (48_000, Mix, 1_920),
        (48_000, Stereo, 3_840),
    ] {
        let fmt = format(MonitorCodec::Pcm16, rate, layout);
        assert_eq!(fmt.pcm16_frame_bytes(), bytes);
        let mut enc = MonitorEncoder::new(fmt).expect("encoder");
        assert_eq!(enc.format(), fmt);
        let mut pcm = Vec::new();
        run(&mut enc, |frame| {
            assert_eq!(frame.len(), bytes, "{fmt:?}");
            pcm.extend(
                frame
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]])),
            );
        });
        let what = format!("pcm16 {rate} {layout:?}");
        let (a, b) = split(&pcm, fmt.channels(), rate);
        match layout {
            Mix => assert_mix(&a, rate, &what),
            Stereo => {
                assert_only(&a, rate, CALLER_HZ, AGENT_HZ, &what);
                assert_only(&b, rate, AGENT_HZ, CALLER_HZ, &what);
            }
        }
    }
}

#[test]
fn missing_or_short_side_is_silence() {
    let fmt = format(MonitorCodec::Pcm16, 16_000, MonitorLayout::Stereo);
    let mut enc = MonitorEncoder::new(fmt).expect("encoder");
    let caller = sine(CALLER_HZ, 8_000, 160 * FRAMES, AMP);
    let mut pcm = Vec::new();
    for c in caller.chunks(160) {
        let frame = enc.encode(c, &[]).expect("encode");
        pcm.extend(
            frame
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
    }
    let (left, right) = split(&pcm, 2, 16_000);
    assert!(db(tone_amplitude(&left, CALLER_HZ, 16_000), AMP).abs() < 1.0);
    assert!(right.iter().all(|&s| s == 0), "agent channel not silent");

    // 8 kHz PCM16 is the call's samples as they are: a short side is padded with zeros.
    let fmt = format(MonitorCodec::Pcm16, 8_000, MonitorLayout::Stereo);
    let mut enc = MonitorEncoder::new(fmt).expect("encoder");
    let frame = enc.encode(&[1_000; 100], &[-7; 160]).expect("encode");
    let samples: Vec<i16> = frame
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    assert!(left[..100].iter().all(|&s| s == 1_000));
    assert!(left[100..].iter().all(|&s| s == 0));
    assert!(right.iter().all(|&s| s == -7));
}

#[test]
fn oversized_side_is_an_error_and_the_encoder_goes_on() {
    let fmt = format(MonitorCodec::Opus, 48_000, MonitorLayout::Mix);
    let mut enc = MonitorEncoder::new(fmt).expect("encoder");
    match enc.encode(&[0; 161], &[0; 160]) {
        Err(AudioError::FrameLength { expected, got }) => assert_eq!((expected, got), (160, 161)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        enc.encode(&[0; 160], &[0; 320]),
        Err(AudioError::FrameLength { got: 320, .. })
    ));
    assert!(!enc.encode(&[0; 160], &[0; 160]).expect("encode").is_empty());
}

#[test]
fn mix_saturates_instead_of_wrapping() {
    let fmt = format(MonitorCodec::Pcm16, 8_000, MonitorLayout::Mix);
    let mut enc = MonitorEncoder::new(fmt).expect("encoder");
    let decode = |frame: &[u8]| -> Vec<i16> {
        frame
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    };
    let loud = decode(enc.encode(&[32_767; 160], &[32_767; 160]).expect("encode"));
    assert!(loud.iter().all(|&s| s == 32_767));
    let low = decode(
        enc.encode(&[-32_768; 160], &[-20_000; 160])
            .expect("encode"),
    );
    assert!(low.iter().all(|&s| s == -32_768));
    let mixed = decode(enc.encode(&[20_000; 160], &[-5_000; 160]).expect("encode"));
    assert!(mixed.iter().all(|&s| s == 15_000));

    // Through Opus too: a full-scale square on both sides decodes with the inputs' sign
    // (a wrapped sum would flip it).
    let fmt = format(MonitorCodec::Opus, 48_000, MonitorLayout::Mix);
    let mut enc = MonitorEncoder::new(fmt).expect("encoder");
    let mut dec = OpusDecoder::new(48_000, 1).expect("decoder");
    let square: Vec<i16> = (0..160)
        .map(|i| if (i / 20) % 2 == 0 { 32_767 } else { -32_768 })
        .collect();
    let mut out = Vec::new();
    for _ in 0..25 {
        let packet = enc.encode(&square, &square).expect("encode");
        out.extend_from_slice(dec.decode(packet).expect("decode"));
    }
    let steady = &out[4_800..];
    let peak = steady
        .iter()
        .map(|&s| i32::from(s).abs())
        .max()
        .unwrap_or(0);
    assert!(peak > 20_000, "peak {peak}");
    assert!(tone_amplitude(steady, 200.0, 48_000) > 20_000.0);
}
