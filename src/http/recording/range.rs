//! The `Range` request header (RFC 9110 §14.1–14.2) resolved against a file's size: pure, no I/O.
//!
//! Choices, all permitted by the RFC:
//! - A header that is not valid `bytes` syntax, or names another unit, is ignored: the whole file
//!   is served with 200 (§14.2: "a server MAY ignore the Range header field"; an invalid one is
//!   ignored).
//! - Several ranges (`bytes=0-1,5-9`) are answered with the whole file (200), not with a
//!   `multipart/byteranges` body: players ask for one range at a time, and serving the whole
//!   representation is always a correct answer to a range request.
//! - A single range is served with 206 even when it covers the whole file (`bytes=0-`), which is
//!   what media players expect when they probe for seeking.
//! - A single range that starts at or beyond the end, a zero-length suffix (`bytes=-0`), or any
//!   range of an empty file is unsatisfiable (416 with `Content-Range: bytes */SIZE`).

/// An inclusive range of byte positions, `first..=last`, inside a file: `first <= last < size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    /// How many bytes the range holds (at least 1).
    pub fn length(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// What to answer to a request's `Range` header for a file of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// No range, an ignored one, or several: 200 with the whole file.
    Full,
    /// One satisfiable range: 206 with these bytes.
    Partial(ByteRange),
    /// One range outside the file: 416.
    Unsatisfiable,
}

/// One `range-spec` as written, before it meets the file's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeSpec {
    /// `first-last` or `first-` (`last: None`); `first <= last` holds.
    FromTo { first: u64, last: Option<u64> },
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// Resolves the `Range` header value (if any) against a file of `size` bytes.
pub fn resolve_range(header: Option<&str>, size: u64) -> RangeOutcome {
    let Some(header) = header else {
        return RangeOutcome::Full;
    };
    match parse_single(header) {
        Some(spec) => satisfy(spec, size),
        None => RangeOutcome::Full,
    }
}

/// The header's range-spec when it is valid `bytes` syntax with exactly one range; `None` when it
/// is to be ignored (invalid, another unit, or several ranges).
fn parse_single(header: &str) -> Option<RangeSpec> {
    let (unit, set) = header.trim_matches(is_ows).split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    // `1#range-spec`: comma-separated, optional whitespace around elements; empty elements are
    // tolerated (RFC 9110 §5.6.1.2), but at least one range is required.
    let mut single = None;
    let mut count = 0usize;
    for element in set.split(',').map(|e| e.trim_matches(is_ows)) {
        if element.is_empty() {
            continue;
        }
        let spec = parse_spec(element)?;
        count += 1;
        if count == 1 {
            single = Some(spec);
        }
    }
    if count == 1 { single } else { None }
}

/// `first-pos "-" [ last-pos ]` or `"-" suffix-length`.
fn parse_spec(spec: &str) -> Option<RangeSpec> {
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return Some(RangeSpec::Suffix(digits(last)?));
    }
    let first = digits(first)?;
    let last = if last.is_empty() {
        None
    } else {
        Some(digits(last)?)
    };
    match last {
        Some(last) if last < first => None,
        _ => Some(RangeSpec::FromTo { first, last }),
    }
}

/// `1*DIGIT`; values beyond `u64` saturate (they are beyond any file, which is what they mean).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// Optional whitespace (`OWS`): space or horizontal tab.
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 9110 §14.1.2: a `first-` range is satisfiable when `first < size` (its end is clamped to
/// the file); a suffix when its length is above 0 (a suffix longer than the file is the whole file).
fn satisfy(spec: RangeSpec, size: u64) -> RangeOutcome {
    if size == 0 {
        return RangeOutcome::Unsatisfiable;
    }
    let end = size - 1;
    match spec {
        RangeSpec::FromTo { first, .. } if first >= size => RangeOutcome::Unsatisfiable,
        RangeSpec::FromTo { first, last } => RangeOutcome::Partial(ByteRange {
            first,
            last: last.map_or(end, |last| last.min(end)),
        }),
        RangeSpec::Suffix(0) => RangeOutcome::Unsatisfiable,
        RangeSpec::Suffix(n) => RangeOutcome::Partial(ByteRange {
            first: size.saturating_sub(n),
            last: end,
        }),
    }
}

#[cfg(test)]
mod tests;
