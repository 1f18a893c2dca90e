//! Tests for [`HalfbandUp2`]: the even outputs are the inputs, delayed; the telephone band
//! passes flat; its images above 4 kHz are gone; block sizes do not change the result.

use super::*;
use crate::audio::tone::{db, rms, sine, tone_amplitude};

const DELAY_IN: usize = 80;

/// Upsamples i16 `input` in blocks of `block` and returns i16 output, delay removed.
fn upsample(input: &[i16], block: usize) -> Vec<i16> {
    let mut filter = HalfbandUp2::new(DELAY_IN);
    let x: Vec<f32> = input
        .iter()
        .map(|&s| f32::from(s))
        .chain(std::iter::repeat_n(0.0, DELAY_IN))
        .collect();
    let mut y = vec![0.0f32; 2 * x.len()];
    for (chunk, out) in x.chunks(block).zip(y.chunks_mut(2 * block)) {
        filter.process(chunk, out);
    }
    y[2 * DELAY_IN..]
        .iter()
        .map(|&s| s.round().clamp(-32_768.0, 32_767.0) as i16)
        .collect()
}

#[test]
fn even_outputs_are_the_inputs_delayed() {
    let x = sine(1000.0, 8000, 800, 10_000.0);
    let y = upsample(&x, 160);
    assert_eq!(y.len(), 2 * x.len());
    for (i, &s) in x.iter().enumerate() {
        assert_eq!(y[2 * i], s, "sample {i}");
    }
}

#[test]
fn the_telephone_band_passes_flat() {
    for hz in [300.0, 1000.0, 2000.0, 3000.0, 3300.0] {
        let x = sine(hz, 8000, 8000, 10_000.0);
        let y = upsample(&x, 160);
        let level = db(rms(&y[1600..14_400]), rms(&x[800..7200]));
        assert!(level.abs() < 0.1, "{hz} Hz at {level:.3} dB");
    }
}

#[test]
fn images_above_4khz_are_rejected() {
    // A tone at f comes with an image at 8 kHz - f once the rate is doubled.
    for hz in [1000.0, 2000.0, 3000.0, 3300.0] {
        let x = sine(hz, 8000, 8000, 10_000.0);
        let y = upsample(&x, 160);
        let steady = &y[1600..14_400];
        let image = tone_amplitude(steady, 8000.0 - hz, 16_000);
        let kept = tone_amplitude(steady, hz, 16_000);
        let rejection = -db(image.max(1e-3), kept);
        assert!(
            rejection > 60.0,
            "{hz} Hz: image only {rejection:.1} dB down"
        );
    }
}

#[test]
fn block_sizes_do_not_change_the_output() {
    let x = sine(700.0, 8000, 2000, 12_000.0);
    let reference = upsample(&x, 160);
    for block in [1, 7, 64, 159] {
        assert_eq!(upsample(&x, block), reference, "blocks of {block}");
    }
}

#[test]
fn reset_starts_from_silence() {
    let mut filter = HalfbandUp2::new(DELAY_IN);
    let mut out = vec![0.0f32; 320];
    filter.process(&[1000.0; 160], &mut out);
    filter.reset();
    filter.process(&[0.0; 160], &mut out);
    assert!(out.iter().all(|&s| s == 0.0));
}
