//! ITU-T G.711 companding: mu-law (Twilio Media Streams, North America/Japan)
//! and A-law (Europe), between 8-bit codes and 16-bit linear PCM.
//!
//! The arithmetic is the classic reference formulation (Sun Microsystems'
//! public-domain `g711.c`, which mirrors the tables in G.711 itself):
//!
//! * decoding is a lookup in a 256-entry table built at compile time;
//! * encoding uses the segment (chord) algorithm: drop the bits G.711 does not
//!   carry (2 for mu-law's 14-bit range, 3 for A-law's 13-bit range), find the
//!   segment from the bit length, and keep the 4 mantissa bits below the
//!   leading one.
//!
//! Decoded values are the midpoints of their quantisation intervals scaled to
//! 16 bits, so mu-law spans `-32124..=32124` and A-law `-32256..=32256`.
//!
//! # The mu-law zero duality
//!
//! mu-law has two codes for zero: `0xFF` ("+0") and `0x7F` ("-0"). Both decode
//! to `0`, and encoding `0` yields `0xFF`, so `0x7F` is the single code that does
//! not survive a decode -> encode round trip (it comes back as `0xFF`). Every
//! other mu-law code, and all 256 A-law codes, round-trip exactly. Twilio's
//! silence is `0xFF`.
//!
//! # Slice APIs
//!
//! The slice functions convert `min(src.len(), dst.len())` samples into the
//! caller's buffer and return that count; they never allocate. The
//! `*_into_vec` helpers clear the vector and refill it, reusing its capacity
//! (no allocation once the vector is as large as the biggest frame seen).

/// mu-law bias (0x84 = 132) in 16-bit scale.
const ULAW_BIAS: i32 = 0x84;
/// Largest mu-law magnitude before biasing, in the 14-bit domain.
const ULAW_CLIP: i32 = 8159;

const fn ulaw_decode_const(code: u8) -> i16 {
    let u = !code;
    let mantissa = (u & 0x0F) as i32;
    let segment = ((u & 0x70) >> 4) as i32;
    let t = ((mantissa << 3) + ULAW_BIAS) << segment;
    if u & 0x80 != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

const fn alaw_decode_const(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    match segment {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= segment - 1;
        }
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_decode_const(i as u8)
        } else {
            ulaw_decode_const(i as u8)
        };
        i += 1;
    }
    table
}

static ULAW_TABLE: [i16; 256] = build_table(false);
static ALAW_TABLE: [i16; 256] = build_table(true);

/// Bit length of a non-negative value (0 for 0).
#[inline]
fn bit_len(v: i32) -> u32 {
    32 - (v as u32).leading_zeros()
}

/// Decodes one mu-law code to 16-bit linear PCM.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TABLE[code as usize]
}

/// Decodes one A-law code to 16-bit linear PCM.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TABLE[code as usize]
}

/// Encodes one 16-bit linear PCM sample to mu-law.
///
/// Magnitudes beyond the mu-law range clip to the largest code.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut v = i32::from(sample) >> 2;
    let mask: u8 = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    let v = v.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    // Segment ends are 0x3F, 0x7F, ... 0x1FFF: a 6-bit value is segment 0.
    let segment = bit_len(v).saturating_sub(6);
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let code = (segment << 4) as u8 | ((v >> (segment + 1)) & 0x0F) as u8;
    code ^ mask
}

/// Encodes one 16-bit linear PCM sample to A-law.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = i32::from(sample) >> 3;
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    // Segment ends are 0x1F, 0x3F, ... 0xFFF: a 5-bit value is segment 0.
    let segment = bit_len(v).saturating_sub(5);
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let shift = if segment < 2 { 1 } else { segment };
    let code = (segment << 4) as u8 | ((v >> shift) & 0x0F) as u8;
    code ^ mask
}

/// Decodes mu-law codes into `dst`; converts `min(src.len(), dst.len())`
/// samples and returns that count.
pub fn decode_ulaw(src: &[u8], dst: &mut [i16]) -> usize {
    let n = src.len().min(dst.len());
    for (d, s) in dst[..n].iter_mut().zip(&src[..n]) {
        *d = ulaw_to_linear(*s);
    }
    n
}

/// Encodes PCM into mu-law codes in `dst`; converts `min(src.len(), dst.len())`
/// samples and returns that count.
pub fn encode_ulaw(src: &[i16], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    for (d, s) in dst[..n].iter_mut().zip(&src[..n]) {
        *d = linear_to_ulaw(*s);
    }
    n
}

/// Decodes A-law codes into `dst`; converts `min(src.len(), dst.len())`
/// samples and returns that count.
pub fn decode_alaw(src: &[u8], dst: &mut [i16]) -> usize {
    let n = src.len().min(dst.len());
    for (d, s) in dst[..n].iter_mut().zip(&src[..n]) {
        *d = alaw_to_linear(*s);
    }
    n
}

/// Encodes PCM into A-law codes in `dst`; converts `min(src.len(), dst.len())`
/// samples and returns that count.
pub fn encode_alaw(src: &[i16], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len());
    for (d, s) in dst[..n].iter_mut().zip(&src[..n]) {
        *d = linear_to_alaw(*s);
    }
    n
}

/// Replaces the contents of `dst` with the decoded mu-law `src`, reusing its capacity.
pub fn decode_ulaw_into_vec(src: &[u8], dst: &mut Vec<i16>) {
    dst.clear();
    dst.extend(src.iter().map(|&c| ulaw_to_linear(c)));
}

/// Replaces the contents of `dst` with the mu-law encoding of `src`, reusing its capacity.
pub fn encode_ulaw_into_vec(src: &[i16], dst: &mut Vec<u8>) {
    dst.clear();
    dst.extend(src.iter().map(|&s| linear_to_ulaw(s)));
}

/// Replaces the contents of `dst` with the decoded A-law `src`, reusing its capacity.
pub fn decode_alaw_into_vec(src: &[u8], dst: &mut Vec<i16>) {
    dst.clear();
    dst.extend(src.iter().map(|&c| alaw_to_linear(c)));
}

/// Replaces the contents of `dst` with the A-law encoding of `src`, reusing its capacity.
pub fn encode_alaw_into_vec(src: &[i16], dst: &mut Vec<u8>) {
    dst.clear();
    dst.extend(src.iter().map(|&s| linear_to_alaw(s)));
}

#[cfg(test)]
#[path = "g711_tests.rs"]
mod tests;
