//! CallRecorder end-to-end: write tones, finalize, read the WAV back with hound.

use std::path::PathBuf;

use switchboard_actors::audio::tone::{dominant_frequency, rms, sine};
use switchboard_actors::audio::{
    AudioError, CallRecorder, RecorderOptions, RecordingInfo, Resampler,
};

/// A fresh path under Cargo's per-target scratch dir.
fn wav_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recorder-tests");
    std::fs::create_dir_all(&dir).expect("create test dir");
    let path = dir.join(format!("{name}.wav"));
    let _ = std::fs::remove_file(&path);
    path
}

/// Reads a stereo WAV back as (spec, left, right).
fn read_stereo(path: &PathBuf) -> (hound::WavSpec, Vec<i16>, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).expect("valid wav");
    let spec = reader.spec();
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (spec, left, right)
}

/// Samples of `x` (at `rate`) between `from_ms` and `to_ms`.
fn span(x: &[i16], rate: u32, from_ms: u64, to_ms: u64) -> &[i16] {
    let at = |ms: u64| ((ms * u64::from(rate) / 1000) as usize).min(x.len());
    &x[at(from_ms)..at(to_ms)]
}

/// First index whose magnitude exceeds `threshold`.
fn onset(x: &[i16], threshold: i16) -> Option<usize> {
    x.iter()
        .position(|s| s.unsigned_abs() > threshold.unsigned_abs())
}

const CALLER_HZ: f64 = 1000.0;
const AGENT_HZ: f64 = 2000.0;
const AMP: f64 = 10_000.0;

/// The brief's scenario: 1 s of 1 kHz caller from 0 ms, 500 ms of 2 kHz agent
/// from 600 ms.
fn check_scenario(path: &PathBuf, info: &RecordingInfo) -> (Vec<i16>, Vec<i16>) {
    assert_eq!(info.sample_rate, 16_000);
    assert_eq!(info.channels, 2);
    assert!(info.duration_ms.abs_diff(1100) <= 20, "info {info:?}");
    assert_eq!(info.bytes, 44 + 17_600 * 4);
    assert_eq!(&info.path, path);

    let (spec, left, right) = read_stereo(path);
    assert_eq!(spec.channels, 2);
    assert_eq!(spec.sample_rate, 16_000);
    assert_eq!(spec.bits_per_sample, 16);
    let duration_ms = left.len() as u64 * 1000 / 16_000;
    assert!(duration_ms.abs_diff(1100) <= 20, "{duration_ms} ms");
    assert_eq!(left.len(), right.len());

    let tone_rms = AMP / 2f64.sqrt();
    for start in (0..1000).step_by(100) {
        let level = rms(span(&left, 16_000, start + 10, start + 90));
        assert!(
            (level / tone_rms - 1.0).abs() < 0.06,
            "left {start} ms: {level}"
        );
    }
    assert!(
        rms(span(&left, 16_000, 1010, 1100)) < 5.0,
        "left after 1000 ms"
    );
    assert!(
        rms(span(&right, 16_000, 0, 590)) < 5.0,
        "right before 600 ms"
    );
    for start in (600..1100).step_by(100) {
        let level = rms(span(&right, 16_000, start + 10, start + 90));
        assert!(
            (level / tone_rms - 1.0).abs() < 0.06,
            "right {start} ms: {level}"
        );
    }
    let f = dominant_frequency(span(&left, 16_000, 20, 980), 16_000);
    assert!((f - CALLER_HZ).abs() <= 10.0, "left {f} Hz");
    let f = dominant_frequency(span(&right, 16_000, 620, 1080), 16_000);
    assert!((f - AGENT_HZ).abs() <= 10.0, "right {f} Hz");

    // Alignment: the agent's onset is at 600 ms within 1 ms.
    let on = onset(&right, 2_000).expect("agent audio");
    assert!(on.abs_diff(600 * 16) <= 16, "agent onset at {on}");
    let off =
        right.len() - onset(&right.iter().rev().copied().collect::<Vec<_>>(), 2_000).expect("tail");
    assert!(off.abs_diff(1100 * 16) <= 16, "agent offset at {off}");
    let off =
        left.len() - onset(&left.iter().rev().copied().collect::<Vec<_>>(), 2_000).expect("tail");
    assert!(off.abs_diff(1000 * 16) <= 16, "caller offset at {off}");
    (left, right)
}

#[test]
fn scenario_bulk_writes() {
    let path = wav_path("scenario-bulk");
    let mut rec = CallRecorder::create(&path, 16_000).expect("create");
    rec.write_caller(0, &sine(CALLER_HZ, 8000, 8000, AMP));
    rec.write_agent(600, &sine(AGENT_HZ, 8000, 4000, AMP));
    let info = rec.finalize().expect("finalize");
    check_scenario(&path, &info);
}

#[test]
fn scenario_realtime_frames_match_bulk() {
    let caller = sine(CALLER_HZ, 8000, 8000, AMP);
    let agent = sine(AGENT_HZ, 8000, 4000, AMP);
    let path = wav_path("scenario-frames");
    let mut rec = CallRecorder::create(&path, 16_000).expect("create");
    for t in (0..1100u64).step_by(20) {
        // Agent frames first at each tick to exercise the other ordering too.
        if (600..1100).contains(&t) {
            let i = (t as usize - 600) * 8;
            rec.write_agent(t, &agent[i..i + 160]);
        }
        if t < 1000 {
            let i = t as usize * 8;
            rec.write_caller(t, &caller[i..i + 160]);
        }
    }
    let info = rec.finalize().expect("finalize");
    let framed = check_scenario(&path, &info);

    let bulk_path = wav_path("scenario-bulk-ref");
    let mut rec = CallRecorder::create(&bulk_path, 16_000).expect("create");
    rec.write_caller(0, &caller);
    rec.write_agent(600, &agent);
    let info = rec.finalize().expect("finalize");
    assert_eq!(check_scenario(&bulk_path, &info), framed);
}

#[test]
fn empty_recording_is_a_valid_wav() {
    let path = wav_path("empty");
    let rec = CallRecorder::create(&path, 16_000).expect("create");
    let info = rec.finalize().expect("finalize");
    assert_eq!((info.duration_ms, info.bytes, info.channels), (0, 44, 2));
    let (spec, left, right) = read_stereo(&path);
    assert_eq!((spec.channels, spec.sample_rate), (2, 16_000));
    assert!(left.is_empty() && right.is_empty());
}

#[test]
fn only_agent_spoke() {
    let path = wav_path("only-agent");
    let mut rec = CallRecorder::create(&path, 16_000).expect("create");
    rec.write_agent(200, &sine(AGENT_HZ, 8000, 2400, AMP));
    let info = rec.finalize().expect("finalize");
    assert_eq!(info.duration_ms, 500);
    let (_, left, right) = read_stereo(&path);
    assert_eq!(left.len(), 8000);
    assert!(left.iter().all(|&s| s == 0));
    assert!(rms(span(&right, 16_000, 0, 190)) < 5.0);
    assert!(rms(span(&right, 16_000, 210, 490)) > 6000.0);
}

#[test]
fn only_caller_spoke_longer_than_the_window() {
    // 5 s of caller in 20 ms frames with a 2 s window: forced flushes keep
    // memory bounded and the left channel equals a plain 8k->16k resample.
    let caller = sine(440.0, 8000, 40_000, AMP);
    let path = wav_path("only-caller-long");
    let mut rec = CallRecorder::create(&path, 16_000).expect("create");
    for (k, frame) in caller.chunks(160).enumerate() {
        rec.write_caller(k as u64 * 20, frame);
    }
    let info = rec.finalize().expect("finalize");
    assert_eq!(info.duration_ms, 5000);
    let (_, left, right) = read_stereo(&path);
    assert!(right.iter().all(|&s| s == 0));

    let mut rs = Resampler::new(8000, 16_000).expect("rate");
    let mut reference: Vec<i16> = caller
        .chunks(160)
        .flat_map(|c| rs.push(c).to_vec())
        .collect();
    reference.extend_from_slice(rs.push(&[0; 160]));
    let reference = &reference[rs.delay_frames()..rs.delay_frames() + 80_000];
    assert_eq!(left, reference);
}

#[test]
fn rewrites_overwrite_until_flushed_then_late_audio_is_dropped() {
    let path = wav_path("overwrite");
    let mut rec = CallRecorder::create(&path, 16_000).expect("create");
    // Caller 0..500 ms at 1 kHz, then 200..300 ms rewritten at 2 kHz (the agent
    // has not spoken, so nothing is flushed yet and the rewrite wins).
    rec.write_caller(0, &sine(CALLER_HZ, 8000, 4000, AMP));
    rec.write_caller(200, &sine(AGENT_HZ, 8000, 800, AMP));
    // Agent covers 0..500 ms: both sides have passed 500 ms, so it is flushed.
    rec.write_agent(0, &vec![0; 4000]);
    // Too late: 100..200 ms is already in the file.
    rec.write_caller(100, &vec![i16::MAX; 800]);
    // Straddling: 400..500 is late and dropped, 500..600 is recorded.
    rec.write_caller(400, &sine(CALLER_HZ, 8000, 1600, AMP));
    let info = rec.finalize().expect("finalize");
    assert_eq!(info.duration_ms, 600);
    let (_, left, _) = read_stereo(&path);
    let f = dominant_frequency(span(&left, 16_000, 20, 180), 16_000);
    assert!((f - CALLER_HZ).abs() <= 10.0, "0..200 ms: {f}");
    assert!(
        rms(span(&left, 16_000, 100, 190)) < 8_000.0,
        "late write leaked"
    );
    let f = dominant_frequency(span(&left, 16_000, 210, 290), 16_000);
    assert!((f - AGENT_HZ).abs() <= 15.0, "200..300 ms: {f}");
    let f = dominant_frequency(span(&left, 16_000, 310, 490), 16_000);
    assert!((f - CALLER_HZ).abs() <= 10.0, "300..500 ms: {f}");
    assert!(
        rms(span(&left, 16_000, 510, 590)) > 6000.0,
        "500..600 ms missing"
    );
}

#[test]
fn side_leading_beyond_the_window_silences_the_laggard() {
    // Agent stamps 3 s of audio at once; the window is 1 s, so the caller's
    // first 2 s have been flushed as silence by the time they arrive.
    let path = wav_path("lead");
    let options = RecorderOptions {
        sample_rate: 16_000,
        window_ms: 1000,
    };
    let mut rec = CallRecorder::create_with(&path, options).expect("create");
    rec.write_agent(0, &sine(AGENT_HZ, 8000, 24_000, AMP));
    for (k, frame) in sine(CALLER_HZ, 8000, 24_000, AMP).chunks(160).enumerate() {
        rec.write_caller(k as u64 * 20, frame);
    }
    let info = rec.finalize().expect("finalize");
    assert_eq!(info.duration_ms, 3000);
    let (_, left, right) = read_stereo(&path);
    assert!(rms(span(&left, 16_000, 0, 1990)) < 5.0);
    assert!(rms(span(&left, 16_000, 2010, 2990)) > 6000.0);
    assert!(rms(span(&right, 16_000, 10, 2990)) > 6000.0);
}

#[test]
fn other_rates() {
    // 8 kHz is a straight copy; 24 and 48 kHz resample.
    let tone = sine(CALLER_HZ, 8000, 4000, AMP);
    let path = wav_path("rate-8k");
    let mut rec = CallRecorder::create(&path, 8000).expect("create");
    rec.write_caller(100, &tone);
    let info = rec.finalize().expect("finalize");
    assert_eq!(info.duration_ms, 600);
    let (spec, left, _) = read_stereo(&path);
    assert_eq!(spec.sample_rate, 8000);
    assert_eq!(&left[800..], &tone[..]);

    for rate in [24_000, 48_000] {
        let path = wav_path(&format!("rate-{rate}"));
        let mut rec = CallRecorder::create(&path, rate).expect("create");
        rec.write_agent(100, &tone);
        let info = rec.finalize().expect("finalize");
        assert_eq!(info.duration_ms, 600);
        let (spec, _, right) = read_stereo(&path);
        assert_eq!(spec.sample_rate, rate);
        assert_eq!(right.len(), rate as usize * 6 / 10);
        let f = dominant_frequency(span(&right, rate, 120, 580), rate);
        assert!((f - CALLER_HZ).abs() <= 10.0, "{rate}: {f}");
    }
}

#[test]
fn bad_configuration_is_an_error() {
    let path = wav_path("bad-rate");
    match CallRecorder::create(&path, 44_100) {
        Err(AudioError::UnsupportedRate {
            from: 8000,
            to: 44_100,
        }) => {}
        other => panic!("expected UnsupportedRate, got {other:?}"),
    }
    assert!(!path.exists(), "no file for a rejected rate");
    let missing = wav_path("no-such-dir").join("x.wav");
    assert!(matches!(
        CallRecorder::create(&missing, 16_000),
        Err(AudioError::Wav(_) | AudioError::Io(_))
    ));
}

#[test]
fn stages_can_move_to_a_blocking_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<CallRecorder>();
    assert_send::<Resampler>();
}
