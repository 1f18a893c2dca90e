//! Tests for [`Resampler`]: chunk geometry, level, frequency, alignment,
//! anti-aliasing and push-size independence, all with synthetic tones.

use super::*;
use crate::audio::tone::{db, dominant_frequency, rms, sine, tone_amplitude};
use proptest::prelude::*;

/// Pushes `input` in 20 ms chunks and collects all output.
fn run_chunked(rs: &mut Resampler, input: &[i16]) -> Vec<i16> {
    let mut out = Vec::new();
    for chunk in input.chunks(rs.chunk_in()) {
        out.extend_from_slice(rs.push(chunk));
    }
    out
}

/// Resamples `input` and returns the output aligned with it: delay removed,
/// tail flushed with one chunk of silence, trimmed to the ideal length.
fn resample_aligned(from: u32, to: u32, input: &[i16]) -> Vec<i16> {
    let mut rs = Resampler::new(from, to).expect("supported rate");
    let mut out = run_chunked(&mut rs, input);
    let zeros = vec![0i16; rs.chunk_in()];
    out.extend_from_slice(rs.push(&zeros));
    let ideal = input.len() * to as usize / from as usize;
    out[rs.delay_frames()..rs.delay_frames() + ideal].to_vec()
}

/// The middle of a signal, dropping `margin` samples at each end.
fn middle(x: &[i16], margin: usize) -> &[i16] {
    &x[margin..x.len() - margin]
}

#[test]
fn rejects_unsupported_pairs() {
    for (from, to) in [
        (8000, 8000),
        (8000, 44100),
        (16000, 24000),
        (0, 8000),
        (24000, 16000),
    ] {
        match Resampler::new(from, to) {
            Err(AudioError::UnsupportedRate { from: f, to: t }) => assert_eq!((f, t), (from, to)),
            other => panic!("{from}->{to}: expected UnsupportedRate, got {other:?}"),
        }
    }
}

#[test]
fn chunk_geometry_and_delay() {
    let cases = [
        (8000, 16000, 160, 320, 160),
        (8000, 24000, 160, 480, 240),
        (8000, 48000, 160, 960, 480),
        (16000, 8000, 320, 160, 80),
        (24000, 8000, 480, 160, 80),
        (48000, 8000, 960, 160, 80),
    ];
    for (from, to, cin, cout, delay) in cases {
        let rs = Resampler::new(from, to).expect("supported rate");
        assert_eq!((rs.chunk_in(), rs.chunk_out()), (cin, cout), "{from}->{to}");
        assert_eq!(rs.delay_frames(), delay, "{from}->{to}");
        assert_eq!((rs.from_hz(), rs.to_hz()), (from, to));
    }
}

#[test]
fn steady_output_counts_for_20ms_pushes() {
    let mut rs = Resampler::new(8000, 24000).expect("supported rate");
    let x = sine(1000.0, 8000, 160 * 20, 8000.0);
    for chunk in x.chunks(160) {
        assert_eq!(rs.push(chunk).len(), 480);
    }
    let mut down = Resampler::new(24000, 8000).expect("supported rate");
    for _ in 0..20 {
        assert_eq!(down.push(&[0; 480]).len(), 160);
    }
}

#[test]
fn odd_push_sizes_stage_partial_chunks() {
    let mut rs = Resampler::new(8000, 24000).expect("supported rate");
    assert!(rs.push(&[0; 100]).is_empty());
    assert_eq!(rs.staged_frames(), 100);
    assert_eq!(rs.push(&[0; 100]).len(), 480);
    assert_eq!(rs.staged_frames(), 40);
    assert_eq!(rs.push(&[0; 600]).len(), 4 * 480);
    assert_eq!(rs.staged_frames(), 0);
    assert!(rs.push(&[]).is_empty());
}

#[test]
fn upsample_1khz_keeps_level_frequency_and_alignment() {
    let x = sine(1000.0, 8000, 8000, 10_000.0);
    let mut rs = Resampler::new(8000, 24000).expect("supported rate");
    let raw = run_chunked(&mut rs, &x);
    // One second in gives one second out; the first 10 ms is filter delay.
    assert!(raw.len().abs_diff(24000) <= 480, "len {}", raw.len());
    assert_eq!(raw.len(), 24000);

    let y = resample_aligned(8000, 24000, &x);
    let level = db(rms(middle(&y, 480)), rms(middle(&x, 160)));
    assert!(level.abs() < 0.5, "level {level:.3} dB");
    let f = dominant_frequency(&y, 24000);
    assert!((f - 1000.0).abs() <= 10.0, "dominant {f}");
    // Integer ratio: every third output sample lands on an input sample.
    for i in 160..7840 {
        let err = (i32::from(y[3 * i]) - i32::from(x[i])).abs();
        assert!(err <= 8, "sample {i}: {} vs {}", y[3 * i], x[i]);
    }
    // No images of the 1 kHz tone at 8k +/- 1k.
    assert!(tone_amplitude(middle(&y, 480), 7000.0, 24000) < 10.0);
    assert!(tone_amplitude(middle(&y, 480), 9000.0, 24000) < 10.0);
}

#[test]
fn downsample_1khz_keeps_level_frequency_and_alignment() {
    let x = sine(1000.0, 24000, 24000, 10_000.0);
    let mut rs = Resampler::new(24000, 8000).expect("supported rate");
    assert_eq!(run_chunked(&mut rs, &x).len(), 8000);

    let y = resample_aligned(24000, 8000, &x);
    let level = db(rms(middle(&y, 160)), rms(middle(&x, 480)));
    assert!(level.abs() < 0.5, "level {level:.3} dB");
    let f = dominant_frequency(&y, 8000);
    assert!((f - 1000.0).abs() <= 10.0, "dominant {f}");
    for i in 160..7840 {
        let err = (i32::from(y[i]) - i32::from(x[3 * i])).abs();
        assert!(err <= 8, "sample {i}: {} vs {}", y[i], x[3 * i]);
    }
}

#[test]
fn round_trip_8k_24k_8k_is_nearly_transparent() {
    let x = sine(440.0, 8000, 8000, 12_000.0);
    let up = resample_aligned(8000, 24000, &x);
    let back = resample_aligned(24000, 8000, &up);
    let worst = middle(&back, 160)
        .iter()
        .zip(middle(&x, 160))
        .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
        .max()
        .unwrap_or(0);
    assert!(worst <= 8, "worst {worst}");
}

/// Measured for 24k -> 8k (rubato 5.1 Fft, BlackmanHarris2, 480-frame block):
/// -0.1 dB at 3.5 kHz, -2 dB at 3.6 kHz, -10 dB at 3.7 kHz, -29 dB at 3.8 kHz,
/// -65 dB at 3.9 kHz and at the f64 noise floor (< -230 dB) from 4 kHz up, so
/// in i16 a 6 kHz tone comes out as exact digital silence.
#[test]
fn downsample_passes_3k5_and_rejects_6k() {
    let keep = sine(3500.0, 24000, 24000, 10_000.0);
    let y = resample_aligned(24000, 8000, &keep);
    let level = db(rms(middle(&y, 160)), rms(middle(&keep, 480)));
    assert!(level.abs() < 0.5, "3.5 kHz level {level:.3} dB");
    let f = dominant_frequency(&y, 8000);
    assert!((f - 3500.0).abs() <= 10.0, "dominant {f}");

    for (alias_src, alias) in [(6000.0, 2000.0), (4500.0, 3500.0), (10_000.0, 2000.0)] {
        let reject = sine(alias_src, 24000, 24000, 10_000.0);
        let y = resample_aligned(24000, 8000, &reject);
        // The abrupt tone on/off at the ends is broadband and passes; judge the
        // steady middle.
        let peak = middle(&y, 160)
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0);
        let out_rms = rms(middle(&y, 160)).max(0.5); // 0.5 LSB floor for the dB figure
        let attenuation = -db(out_rms, rms(middle(&reject, 480)));
        assert!(
            attenuation > 60.0,
            "{alias_src} Hz: only {attenuation:.1} dB"
        );
        assert!(peak <= 2, "{alias_src} Hz: peak {peak}");
        let leaked = tone_amplitude(middle(&y, 160), alias, 8000);
        assert!(
            leaked < 1.0,
            "{alias_src} Hz aliases to {alias} Hz at {leaked}"
        );
    }
}

#[test]
fn transition_band_is_where_measured() {
    let edge = sine(3800.0, 24000, 24000, 10_000.0);
    let y = resample_aligned(24000, 8000, &edge);
    let level = db(rms(middle(&y, 160)).max(0.5), rms(middle(&edge, 480)));
    assert!((-35.0..-20.0).contains(&level), "3.8 kHz at {level:.1} dB");
}

#[test]
fn other_rates_preserve_a_tone() {
    for (from, to) in [(8000, 16000), (8000, 48000), (16000, 8000), (48000, 8000)] {
        let x = sine(1000.0, from, from as usize, 10_000.0);
        let y = resample_aligned(from, to, &x);
        assert_eq!(y.len(), to as usize);
        let level = db(
            rms(middle(&y, to as usize / 50)),
            rms(middle(&x, from as usize / 50)),
        );
        assert!(level.abs() < 0.5, "{from}->{to}: {level:.3} dB");
        let f = dominant_frequency(&y, to);
        assert!((f - 1000.0).abs() <= 10.0, "{from}->{to}: {f}");
    }
}

#[test]
fn reset_restarts_the_stream() {
    let x = sine(700.0, 8000, 1600, 9000.0);
    let mut fresh = Resampler::new(8000, 24000).expect("supported rate");
    let expected = run_chunked(&mut fresh, &x);
    let mut used = Resampler::new(8000, 24000).expect("supported rate");
    let _ = run_chunked(&mut used, &sine(300.0, 8000, 1234, 20_000.0));
    used.reset();
    assert_eq!(used.staged_frames(), 0);
    assert_eq!(run_chunked(&mut used, &x), expected);
}

#[test]
fn saturates_instead_of_wrapping() {
    // A full-scale square wave overshoots (Gibbs); output must clip, not wrap.
    let x: Vec<i16> = (0..8000)
        .map(|i| {
            if (i / 20) % 2 == 0 {
                i16::MAX
            } else {
                i16::MIN
            }
        })
        .collect();
    let y = resample_aligned(8000, 24000, &x);
    assert_eq!(y.iter().max(), Some(&i16::MAX));
    assert_eq!(y.iter().min(), Some(&i16::MIN));
    for period in 1..199 {
        let high = period * 40;
        for &s in &y[3 * (high + 1)..3 * (high + 19)] {
            assert!(s > 0, "wrapped in high half-period {period}");
        }
        for &s in &y[3 * (high + 21)..3 * (high + 39)] {
            assert!(s < 0, "wrapped in low half-period {period}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Output does not depend on how the input is split into pushes.
    #[test]
    fn prop_push_size_independent(sizes in proptest::collection::vec(0usize..700, 1..40)) {
        let total: usize = sizes.iter().sum();
        let x = sine(523.0, 8000, total, 12_000.0);
        let mut a = Resampler::new(8000, 24000).expect("supported rate");
        let mut b = Resampler::new(8000, 24000).expect("supported rate");
        let expected = run_chunked(&mut a, &x);
        let mut got = Vec::new();
        let mut rest = &x[..];
        for n in sizes {
            let (now, later) = rest.split_at(n);
            got.extend_from_slice(b.push(now));
            rest = later;
        }
        prop_assert_eq!(got, expected);
    }
}
