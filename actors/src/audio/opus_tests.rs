//! Tests for [`OpusEncoder`] / [`OpusDecoder`]: format validation, frame geometry, tone round
//! trips (same rate, across rates, stereo) and recovery from corrupt packets.

use super::*;
use crate::audio::tone::{db, dominant_frequency, rms, sine, tone_amplitude};

/// Encodes `pcm` frame by frame and decodes every packet, returning all decoded samples.
fn round_trip(enc: &mut OpusEncoder, dec: &mut OpusDecoder, pcm: &[i16]) -> Vec<i16> {
    let mut out = Vec::new();
    for frame in pcm.chunks_exact(enc.frame_len()) {
        let packet = enc.encode(frame).expect("encode");
        assert!(!packet.is_empty() && packet.len() <= MAX_PACKET_BYTES);
        out.extend_from_slice(dec.decode(packet).expect("decode"));
    }
    out
}

/// Interleaves two mono signals.
fn interleave(l: &[i16], r: &[i16]) -> Vec<i16> {
    l.iter().zip(r).flat_map(|(a, b)| [*a, *b]).collect()
}

/// Channel `c` of interleaved stereo.
fn channel(x: &[i16], c: usize) -> Vec<i16> {
    x.iter().skip(c).step_by(2).copied().collect()
}

#[test]
fn rejects_unsupported_formats() {
    for (rate, channels) in [(44_100, 1), (0, 1), (48_000, 0), (48_000, 3), (96_000, 2)] {
        match OpusEncoder::new(rate, channels) {
            Err(AudioError::UnsupportedFormat {
                codec: "opus",
                rate_hz,
                channels: c,
            }) => assert_eq!((rate_hz, c), (rate, channels)),
            other => panic!("encoder {rate}/{channels}: {other:?}"),
        }
        assert!(matches!(
            OpusDecoder::new(rate, channels),
            Err(AudioError::UnsupportedFormat { .. })
        ));
    }
}

#[test]
fn frame_geometry_and_wrong_lengths() {
    for (rate, channels, len) in [(8_000, 1, 160), (16_000, 1, 320), (48_000, 2, 1920)] {
        let mut enc = OpusEncoder::new(rate, channels).expect("encoder");
        assert_eq!(enc.frame_len(), len);
        assert_eq!((enc.rate_hz(), enc.channels()), (rate, channels));
        for bad in [0, len - 1, len + 1, 2 * len] {
            match enc.encode(&vec![0; bad]) {
                Err(AudioError::FrameLength { expected, got }) => {
                    assert_eq!((expected, got), (len, bad))
                }
                other => panic!("{bad} samples: {other:?}"),
            }
        }
        let mut dec = OpusDecoder::new(rate, channels).expect("decoder");
        let packet = enc.encode(&vec![0; len]).expect("encode").to_vec();
        assert_eq!(dec.decode(&packet).expect("decode").len(), len);
    }
}

#[test]
fn voip_lookahead_is_6_5_ms() {
    // The figure the module docs quote against LowDelay's 2.5 ms.
    let enc = OpusEncoder::new(48_000, 1).expect("encoder");
    assert_eq!(enc.lookahead().expect("lookahead"), 312);
}

#[test]
fn mono_tone_round_trip_keeps_frequency_and_level() {
    for rate in [16_000, 48_000] {
        let amp = 8_000.0;
        let x = sine(1000.0, rate, rate as usize, amp);
        let mut enc = OpusEncoder::new(rate, 1).expect("encoder");
        let mut dec = OpusDecoder::new(rate, 1).expect("decoder");
        let y = round_trip(&mut enc, &mut dec, &x);
        assert_eq!(y.len(), x.len());
        let steady = &y[rate as usize / 10..];
        let f = dominant_frequency(steady, rate);
        assert!((f - 1000.0).abs() < 10.0, "{rate}: {f} Hz");
        let level = db(rms(steady), rms(&x));
        assert!(level.abs() < 1.0, "{rate}: level {level:.2} dB");
    }
}

#[test]
fn packets_decode_at_any_rate() {
    // 8 kHz in, 48 kHz out: what the monitor stream relies on.
    let x = sine(440.0, 8_000, 8_000, 8_000.0);
    let mut enc = OpusEncoder::new(8_000, 1).expect("encoder");
    let mut dec = OpusDecoder::new(48_000, 1).expect("decoder");
    let y = round_trip(&mut enc, &mut dec, &x);
    assert_eq!(y.len(), 48_000);
    let steady = &y[4_800..];
    assert!((dominant_frequency(steady, 48_000) - 440.0).abs() < 4.4);
    assert!(db(rms(steady), rms(&x)).abs() < 1.0);
}

#[test]
fn stereo_keeps_channels_apart() {
    let rate = 48_000;
    let left = sine(440.0, rate, rate as usize, 8_000.0);
    let right = sine(1000.0, rate, rate as usize, 8_000.0);
    let mut enc = OpusEncoder::new(rate, 2).expect("encoder");
    enc.set_bitrate(64_000).expect("bitrate");
    let mut dec = OpusDecoder::new(rate, 2).expect("decoder");
    let y = round_trip(&mut enc, &mut dec, &interleave(&left, &right));
    let (l, r) = (channel(&y, 0), channel(&y, 1));
    let (l, r) = (&l[4_800..], &r[4_800..]);
    assert!((dominant_frequency(l, rate) - 440.0).abs() < 4.4);
    assert!((dominant_frequency(r, rate) - 1000.0).abs() < 10.0);
    let leak_l = db(
        tone_amplitude(l, 1000.0, rate),
        tone_amplitude(l, 440.0, rate),
    );
    let leak_r = db(
        tone_amplitude(r, 440.0, rate),
        tone_amplitude(r, 1000.0, rate),
    );
    assert!(
        leak_l < -30.0 && leak_r < -30.0,
        "leak {leak_l:.1} / {leak_r:.1} dB"
    );
}

#[test]
fn corrupt_packet_is_an_error_and_the_next_one_decodes() {
    let x = sine(1000.0, 16_000, 320 * 3, 8_000.0);
    let mut enc = OpusEncoder::new(16_000, 1).expect("encoder");
    let mut dec = OpusDecoder::new(16_000, 1).expect("decoder");
    let good: Vec<Vec<u8>> = x
        .chunks_exact(320)
        .map(|f| enc.encode(f).expect("encode").to_vec())
        .collect();
    assert_eq!(dec.decode(&good[0]).expect("decode").len(), 320);
    assert!(matches!(dec.decode(&[]), Err(AudioError::Opus(_))));
    // TOC code 3 (arbitrary frame count) with a frame count of 0 is invalid.
    assert!(matches!(
        dec.decode(&[0x03, 0x00]),
        Err(AudioError::Opus(_))
    ));
    assert_eq!(dec.decode(&good[1]).expect("decode").len(), 320);
    dec.reset().expect("reset");
    assert_eq!(dec.decode(&good[2]).expect("decode").len(), 320);
}

#[test]
fn long_packets_decode_whole() {
    // A 60 ms packet (three 20 ms frames, TOC code 3) decodes into 60 ms.
    let mut enc = OpusEncoder::new(16_000, 1).expect("encoder");
    let frame = enc.encode(&[0; 320]).expect("encode").to_vec();
    let mut packet = vec![frame[0] | 0x03, 3];
    for _ in 0..3 {
        packet.extend_from_slice(&frame[1..]);
    }
    let mut dec = OpusDecoder::new(48_000, 1).expect("decoder");
    assert_eq!(dec.decode(&packet).expect("decode").len(), 2_880);
}
