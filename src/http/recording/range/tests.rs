use proptest::prelude::*;

use super::{ByteRange, RangeOutcome, resolve_range};

fn partial(first: u64, last: u64) -> RangeOutcome {
    RangeOutcome::Partial(ByteRange { first, last })
}

#[test]
fn no_header_is_the_whole_file() {
    assert_eq!(resolve_range(None, 1000), RangeOutcome::Full);
}

#[test]
fn the_three_forms_of_a_single_range() {
    // first-last
    assert_eq!(resolve_range(Some("bytes=0-43"), 1000), partial(0, 43));
    assert_eq!(
        resolve_range(Some("bytes=500-500"), 1000),
        partial(500, 500)
    );
    // first- (to the end)
    assert_eq!(
        resolve_range(Some("bytes=1000-"), 5000),
        partial(1000, 4999)
    );
    assert_eq!(resolve_range(Some("bytes=0-"), 5000), partial(0, 4999));
    // -suffix
    assert_eq!(resolve_range(Some("bytes=-100"), 5000), partial(4900, 4999));
}

#[test]
fn a_range_past_the_end_is_clamped_and_a_long_suffix_is_the_whole_file() {
    assert_eq!(resolve_range(Some("bytes=10-99999"), 100), partial(10, 99));
    assert_eq!(resolve_range(Some("bytes=-500"), 100), partial(0, 99));
    // Beyond u64: still a valid, very large position.
    let huge = "bytes=5-99999999999999999999999999";
    assert_eq!(resolve_range(Some(huge), 100), partial(5, 99));
    let huge_suffix = "bytes=-99999999999999999999999999";
    assert_eq!(resolve_range(Some(huge_suffix), 100), partial(0, 99));
}

#[test]
fn unsatisfiable_ranges() {
    assert_eq!(
        resolve_range(Some("bytes=100-"), 100),
        RangeOutcome::Unsatisfiable
    );
    assert_eq!(
        resolve_range(Some("bytes=100-200"), 100),
        RangeOutcome::Unsatisfiable
    );
    assert_eq!(
        resolve_range(Some("bytes=99999999999999999999999-"), 100),
        RangeOutcome::Unsatisfiable
    );
    assert_eq!(
        resolve_range(Some("bytes=-0"), 100),
        RangeOutcome::Unsatisfiable
    );
    assert_eq!(
        resolve_range(Some("bytes=0-"), 0),
        RangeOutcome::Unsatisfiable
    );
    assert_eq!(
        resolve_range(Some("bytes=-5"), 0),
        RangeOutcome::Unsatisfiable
    );
}

#[test]
fn the_unit_is_case_insensitive_and_whitespace_around_ranges_is_allowed() {
    assert_eq!(resolve_range(Some("Bytes=0-9"), 100), partial(0, 9));
    assert_eq!(resolve_range(Some("BYTES=0-9"), 100), partial(0, 9));
    assert_eq!(resolve_range(Some("bytes= 0-9 "), 100), partial(0, 9));
    assert_eq!(resolve_range(Some(" bytes=\t0-9"), 100), partial(0, 9));
    // Empty list elements are tolerated.
    assert_eq!(resolve_range(Some("bytes=,0-9,"), 100), partial(0, 9));
    assert_eq!(resolve_range(Some("bytes=, ,-10"), 100), partial(90, 99));
}

#[test]
fn invalid_syntax_is_ignored() {
    for header in [
        "",
        "bytes",
        "bytes=",
        "bytes=,",
        "bytes=-",
        "bytes=a-b",
        "bytes=1-a",
        "bytes=+1-2",
        "bytes=1 -2",
        "bytes=1- 2",
        "bytes=0x10-20",
        "bytes=10-5",
        "bytes=--5",
        "bytes=5",
        "bytes=1-2-3",
        "bytes =0-1",
        "items=0-1",
        "0-1",
        "bytes=0-1,x",
        "bytes=٣-٤",
    ] {
        assert_eq!(
            resolve_range(Some(header), 100),
            RangeOutcome::Full,
            "{header:?}"
        );
    }
}

#[test]
fn several_ranges_are_answered_with_the_whole_file() {
    assert_eq!(
        resolve_range(Some("bytes=0-1,5-9"), 100),
        RangeOutcome::Full
    );
    assert_eq!(
        resolve_range(Some("bytes=0-1, -5"), 100),
        RangeOutcome::Full
    );
    // Even when none of them is satisfiable: ignoring the header is always allowed.
    assert_eq!(
        resolve_range(Some("bytes=200-,300-"), 100),
        RangeOutcome::Full
    );
}

/// A syntactically valid single range-spec, as text, with what it says.
#[derive(Debug, Clone)]
enum Spec {
    FromTo(u64, Option<u64>),
    Suffix(u64),
}

impl Spec {
    fn header(&self) -> String {
        match self {
            Spec::FromTo(first, Some(last)) => format!("bytes={first}-{last}"),
            Spec::FromTo(first, None) => format!("bytes={first}-"),
            Spec::Suffix(n) => format!("bytes=-{n}"),
        }
    }

    /// The expected outcome, computed directly from RFC 9110 §14.1.2.
    fn expected(&self, size: u64) -> RangeOutcome {
        let satisfiable = match *self {
            Spec::FromTo(first, _) => first < size,
            Spec::Suffix(n) => n > 0 && size > 0,
        };
        if !satisfiable {
            return RangeOutcome::Unsatisfiable;
        }
        let (first, length) = match *self {
            Spec::FromTo(first, last) => {
                let last = last.unwrap_or(u64::MAX).min(size - 1);
                (first, last - first + 1)
            }
            Spec::Suffix(n) => {
                let length = n.min(size);
                (size - length, length)
            }
        };
        RangeOutcome::Partial(ByteRange {
            first,
            last: first + length - 1,
        })
    }
}

fn position() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..200, 0u64..100_000_000, any::<u64>()]
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (position(), position()).prop_map(|(a, b)| Spec::FromTo(a.min(b), Some(a.max(b)))),
        position().prop_map(|a| Spec::FromTo(a, None)),
        position().prop_map(Spec::Suffix),
    ]
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..300, 0u64..100_000_000, any::<u64>()]
}

proptest! {
    #[test]
    fn a_satisfiable_range_lies_inside_the_file_with_the_right_length(spec in spec(), size in size()) {
        let outcome = resolve_range(Some(&spec.header()), size);
        prop_assert_eq!(outcome, spec.expected(size));
        if let RangeOutcome::Partial(range) = outcome {
            prop_assert!(range.first <= range.last);
            prop_assert!(range.last < size);
            prop_assert_eq!(range.length(), range.last - range.first + 1);
            prop_assert!(range.length() <= size);
        }
    }

    #[test]
    fn whitespace_and_case_do_not_change_the_meaning(
        spec in spec(),
        size in size(),
        lead in "[ \t]{0,3}",
        trail in "[ \t]{0,3}",
        upper in any::<bool>(),
    ) {
        let header = spec.header();
        let set = header.strip_prefix("bytes=").unwrap();
        let unit = if upper { "BYTES" } else { "bytes" };
        let variant = format!("{unit}={lead}{set}{trail}");
        prop_assert_eq!(resolve_range(Some(&variant), size), spec.expected(size));
    }

    #[test]
    fn two_ranges_are_the_whole_file(a in spec(), b in spec(), size in size()) {
        let header = format!("{},{}", a.header(), b.header().strip_prefix("bytes=").unwrap());
        prop_assert_eq!(resolve_range(Some(&header), size), RangeOutcome::Full);
    }

    #[test]
    fn any_header_gives_an_answer_within_the_file(header in "\\PC{0,40}", size in size()) {
        match resolve_range(Some(&header), size) {
            RangeOutcome::Partial(range) => {
                prop_assert!(range.first <= range.last && range.last < size);
            }
            RangeOutcome::Full | RangeOutcome::Unsatisfiable => {}
        }
    }

    #[test]
    fn any_header_near_the_grammar_gives_an_answer_within_the_file(
        header in "(bytes|BYTES|items)?=?[0-9, \t-]{0,20}",
        size in size(),
    ) {
        match resolve_range(Some(&header), size) {
            RangeOutcome::Partial(range) => {
                prop_assert!(range.first <= range.last && range.last < size);
            }
            RangeOutcome::Full | RangeOutcome::Unsatisfiable => {}
        }
    }
}
