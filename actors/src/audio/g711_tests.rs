//! Tests for the G.711 codecs: reference values, exhaustive comparison with a
//! literal transcription of the reference `g711.c`, round trips and
//! quantisation bounds.

use super::*;
use proptest::prelude::*;

/// Literal port of Sun's `linear2ulaw` (segment search by table).
fn reference_linear2ulaw(pcm: i16) -> u8 {
    const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
    let mut pcm_val = i32::from(pcm) >> 2;
    let mask = if pcm_val < 0 {
        pcm_val = -pcm_val;
        0x7F
    } else {
        0xFF
    };
    if pcm_val > 8159 {
        pcm_val = 8159;
    }
    pcm_val += 0x84 >> 2;
    let seg = SEG_UEND.iter().position(|&end| pcm_val <= end).unwrap_or(8);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let uval = ((seg as i32) << 4) | ((pcm_val >> (seg + 1)) & 0xF);
    (uval ^ mask) as u8
}

/// Literal port of Sun's `linear2alaw`.
fn reference_linear2alaw(pcm: i16) -> u8 {
    const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut pcm_val = i32::from(pcm) >> 3;
    let mask = if pcm_val >= 0 {
        0xD5
    } else {
        pcm_val = -pcm_val - 1;
        0x55
    };
    let seg = SEG_AEND.iter().position(|&end| pcm_val <= end).unwrap_or(8);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut aval = (seg as i32) << 4;
    if seg < 2 {
        aval |= (pcm_val >> 1) & 0xF;
    } else {
        aval |= (pcm_val >> seg) & 0xF;
    }
    (aval ^ mask) as u8
}

/// Largest allowed |decode(encode(s)) - s| for mu-law: half a quantisation
/// step of the chosen segment, plus the 2 LSBs mu-law drops, plus clipping.
fn ulaw_bound(s: i16, code: u8) -> i32 {
    let seg = i32::from((!code & 0x70) >> 4);
    let clip = (i32::from(s).abs() - 32124).max(0);
    (4 << seg) + 3 + clip
}

/// Largest allowed |decode(encode(s)) - s| for A-law: half a step of the
/// segment plus the 3 LSBs A-law drops (A-law covers the whole i16 range).
fn alaw_bound(code: u8) -> i32 {
    let seg = i32::from(((code ^ 0x55) & 0x70) >> 4);
    let step = if seg < 2 { 16 } else { 16 << (seg - 1) };
    step / 2 + 7
}

#[test]
fn ulaw_reference_values() {
    assert_eq!(ulaw_to_linear(0xFF), 0);
    assert_eq!(ulaw_to_linear(0x7F), 0);
    assert_eq!(ulaw_to_linear(0x00), -32124);
    assert_eq!(ulaw_to_linear(0x80), 32124);
    assert_eq!(ulaw_to_linear(0xFE), 8);
    assert_eq!(ulaw_to_linear(0x7E), -8);
    assert_eq!(ulaw_to_linear(0xF0), 120);
    assert_eq!(linear_to_ulaw(0), 0xFF);
    assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
    assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
}

#[test]
fn alaw_reference_values() {
    assert_eq!(alaw_to_linear(0xD5), 8);
    assert_eq!(alaw_to_linear(0x55), -8);
    assert_eq!(alaw_to_linear(0xAA), 32256);
    assert_eq!(alaw_to_linear(0x2A), -32256);
    assert_eq!(linear_to_alaw(0), 0xD5);
    assert_eq!(linear_to_alaw(-1), 0x55);
    assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
    assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
}

#[test]
fn encoders_match_reference_for_every_i16() {
    for s in i16::MIN..=i16::MAX {
        assert_eq!(linear_to_ulaw(s), reference_linear2ulaw(s), "mu-law {s}");
        assert_eq!(linear_to_alaw(s), reference_linear2alaw(s), "A-law {s}");
    }
}

#[test]
fn all_codes_round_trip() {
    for code in 0..=255u8 {
        let expected = if code == 0x7F { 0xFF } else { code };
        assert_eq!(
            linear_to_ulaw(ulaw_to_linear(code)),
            expected,
            "mu {code:#04x}"
        );
        assert_eq!(linear_to_alaw(alaw_to_linear(code)), code, "A {code:#04x}");
    }
}

#[test]
fn decode_tables_are_monotonic_and_symmetric() {
    for code in 0..128u8 {
        assert_eq!(ulaw_to_linear(code), -ulaw_to_linear(code | 0x80));
        assert_eq!(alaw_to_linear(code), -alaw_to_linear(code | 0x80));
    }
    // Positive mu-law codes 0x80..=0xFF decrease in magnitude as the code rises.
    for code in 0x80..0xFFu8 {
        assert!(ulaw_to_linear(code) > ulaw_to_linear(code + 1));
    }
}

#[test]
fn quantisation_bound_holds_for_every_i16() {
    for s in i16::MIN..=i16::MAX {
        let u = linear_to_ulaw(s);
        let err = (i32::from(ulaw_to_linear(u)) - i32::from(s)).abs();
        assert!(err <= ulaw_bound(s, u), "mu-law {s}: err {err}");
        let a = linear_to_alaw(s);
        let err = (i32::from(alaw_to_linear(a)) - i32::from(s)).abs();
        assert!(err <= alaw_bound(a), "A-law {s}: err {err}");
    }
}

#[test]
fn slice_apis_convert_min_len_and_vec_helpers_reuse_capacity() {
    // Start at 0x80 so the 0x7F "-0" code (which re-encodes as 0xFF) is not in the frame.
    let codes: Vec<u8> = (0x80..=0xFF).chain(0..0x7F).collect();
    let mut pcm = [0i16; 160];
    assert_eq!(decode_ulaw(&codes, &mut pcm), 160);
    assert_eq!(pcm[0], 32124);
    let mut back = [0u8; 200];
    assert_eq!(encode_ulaw(&pcm, &mut back), 160);
    assert_eq!(&back[..160], &codes[..160]);
    assert_eq!(decode_alaw(&codes[..10], &mut pcm), 10);
    assert_eq!(encode_alaw(&pcm[..10], &mut back), 10);
    assert_eq!(&back[..10], &codes[..10]);

    let mut v = Vec::with_capacity(512);
    let ptr = v.as_ptr();
    decode_ulaw_into_vec(&codes, &mut v);
    assert_eq!(v.len(), 255);
    decode_alaw_into_vec(&codes[..100], &mut v);
    assert_eq!(v.len(), 100);
    assert_eq!(v.as_ptr(), ptr);
    let mut e = Vec::with_capacity(512);
    encode_ulaw_into_vec(&v, &mut e);
    encode_alaw_into_vec(&v, &mut e);
    assert_eq!(&e[..], &codes[..100]);
}

proptest! {
    #[test]
    fn prop_code_round_trip(code in any::<u8>()) {
        let u = linear_to_ulaw(ulaw_to_linear(code));
        prop_assert!(u == code || (code == 0x7F && u == 0xFF));
        prop_assert_eq!(linear_to_alaw(alaw_to_linear(code)), code);
    }

    #[test]
    fn prop_sample_error_within_segment_bound(s in any::<i16>()) {
        let u = linear_to_ulaw(s);
        let err = (i32::from(ulaw_to_linear(u)) - i32::from(s)).abs();
        prop_assert!(err <= ulaw_bound(s, u));
        let a = linear_to_alaw(s);
        let err = (i32::from(alaw_to_linear(a)) - i32::from(s)).abs();
        prop_assert!(err <= alaw_bound(a));
    }

    #[test]
    fn prop_encode_is_monotonic(a in any::<i16>(), b in any::<i16>()) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(ulaw_to_linear(linear_to_ulaw(lo)) <= ulaw_to_linear(linear_to_ulaw(hi)));
        prop_assert!(alaw_to_linear(linear_to_alaw(lo)) <= alaw_to_linear(linear_to_alaw(hi)));
    }
}
