//! Synthetic tones and small spectral measurements for tests and diagnostics
//! (test calls, health checks). Not used on the per-frame path; these helpers
//! allocate freely.

use std::f64::consts::PI;

/// `n` samples of a sine at `freq_hz` sampled at `rate_hz`, peak `amplitude`,
/// starting at phase 0.
pub fn sine(freq_hz: f64, rate_hz: u32, n: usize, amplitude: f64) -> Vec<i16> {
    let w = 2.0 * PI * freq_hz / f64::from(rate_hz);
    (0..n)
        .map(|i| (amplitude * (w * i as f64).sin()).round() as i16)
        .collect()
}

/// Root-mean-square level of `samples` (0 for an empty slice).
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// `20 * log10(a / b)`, the level of `a` relative to `b` in dB.
pub fn db(a: f64, b: f64) -> f64 {
    20.0 * (a / b).log10()
}

/// Hann window of length `n`.
fn hann(n: usize) -> Vec<f64> {
    if n < 2 {
        return vec![1.0; n];
    }
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / (n - 1) as f64).cos())
        .collect()
}

/// Goertzel magnitude of `freq_hz` in windowed `samples`, normalised so a
/// full-length sine of peak `A` at exactly `freq_hz` reads about `A`.
fn goertzel(samples: &[i16], window: &[f64], freq_hz: f64, rate_hz: u32) -> f64 {
    let coeff = 2.0 * (2.0 * PI * freq_hz / f64::from(rate_hz)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for (&x, &w) in samples.iter().zip(window) {
        let s = f64::from(x) * w + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
    let gain: f64 = window.iter().sum();
    if gain == 0.0 {
        0.0
    } else {
        2.0 * power.sqrt() / gain
    }
}

/// Estimated peak amplitude of the component at `freq_hz` (Hann-windowed Goertzel).
pub fn tone_amplitude(samples: &[i16], freq_hz: f64, rate_hz: u32) -> f64 {
    goertzel(samples, &hann(samples.len()), freq_hz, rate_hz)
}

/// Frequency (Hz) of the strongest component between 20 Hz and Nyquist.
///
/// A coarse 5 Hz scan over a 100 ms block finds the peak region, then a
/// 0.5 Hz scan over the whole signal refines it to within about 1 Hz for
/// signals of a second or more.
pub fn dominant_frequency(samples: &[i16], rate_hz: u32) -> f64 {
    let nyquist = f64::from(rate_hz) / 2.0;
    let block = &samples[..samples.len().min(rate_hz as usize / 10)];
    let block_window = hann(block.len());
    let coarse = argmax(
        (4..)
            .map(|k| f64::from(k) * 5.0)
            .take_while(|f| *f < nyquist - 20.0),
        |f| goertzel(block, &block_window, f, rate_hz),
    );
    let window = hann(samples.len());
    let fine = (-60..=60).map(|k| coarse + f64::from(k) * 0.5);
    argmax(fine.filter(|f| *f > 0.0 && *f < nyquist), |f| {
        goertzel(samples, &window, f, rate_hz)
    })
}

fn argmax(candidates: impl Iterator<Item = f64>, score: impl Fn(f64) -> f64) -> f64 {
    let mut best = (0.0, f64::MIN);
    for f in candidates {
        let s = score(f);
        if s > best.1 {
            best = (f, s);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_clean_tone() {
        let x = sine(1000.0, 8000, 8000, 10_000.0);
        assert!((rms(&x) - 10_000.0 / 2f64.sqrt()).abs() < 5.0);
        assert!((tone_amplitude(&x, 1000.0, 8000) - 10_000.0).abs() < 50.0);
        assert!((dominant_frequency(&x, 8000) - 1000.0).abs() <= 1.0);
        let y = sine(1234.0, 24000, 24000, 5_000.0);
        assert!((dominant_frequency(&y, 24000) - 1234.0).abs() <= 1.0);
        assert_eq!(rms(&[]), 0.0);
    }
}
