//! Tests of dialect selection, connection URL and headers.

use crate::realtime::{AudioFormat, DEFAULT_BASE_URL, Dialect, connect_headers, connect_url};

#[test]
fn url_without_query_gets_question_mark() {
    assert_eq!(
        connect_url(DEFAULT_BASE_URL, "gpt-realtime"),
        "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    );
}

#[test]
fn url_with_query_gets_ampersand() {
    assert_eq!(
        connect_url("wss://proxy.test/v1/realtime?tenant=7", "gpt-realtime-mini"),
        "wss://proxy.test/v1/realtime?tenant=7&model=gpt-realtime-mini"
    );
}

#[test]
fn url_with_trailing_separator_reuses_it() {
    assert_eq!(
        connect_url("ws://127.0.0.1:9/rt?", "m"),
        "ws://127.0.0.1:9/rt?model=m"
    );
    assert_eq!(
        connect_url("ws://127.0.0.1:9/rt?a=1&", "m"),
        "ws://127.0.0.1:9/rt?a=1&model=m"
    );
}

#[test]
fn url_percent_encodes_model_and_keeps_fragment() {
    assert_eq!(
        connect_url("ws://h/rt#frag", "a b&c=d/é"),
        "ws://h/rt?model=a%20b%26c%3Dd%2F%C3%A9#frag"
    );
    assert_eq!(
        connect_url("ws://h/rt?x=1#f", "gpt-4o-realtime-preview-2024-12-17"),
        "ws://h/rt?x=1&model=gpt-4o-realtime-preview-2024-12-17#f"
    );
}

#[test]
fn headers_per_dialect() {
    assert_eq!(
        connect_headers(Dialect::Ga, "sk-test"),
        vec![("Authorization", "Bearer sk-test".to_owned())]
    );
    assert_eq!(
        connect_headers(Dialect::Beta, "sk-test"),
        vec![
            ("Authorization", "Bearer sk-test".to_owned()),
            ("OpenAI-Beta", "realtime=v1".to_owned()),
        ]
    );
}

#[test]
fn dialect_from_model() {
    for beta in [
        "gpt-4o-realtime-preview",
        "gpt-4o-realtime-preview-2025-06-03",
        "gpt-4o-mini-realtime-preview-2024-12-17",
    ] {
        assert_eq!(Dialect::for_model(beta), Dialect::Beta, "{beta}");
    }
    for ga in [
        "gpt-realtime",
        "gpt-realtime-mini",
        "gpt-realtime-2025-08-28",
    ] {
        assert_eq!(Dialect::for_model(ga), Dialect::Ga, "{ga}");
    }
}

#[test]
fn audio_format_names_round_trip() {
    for format in [
        AudioFormat::G711Ulaw,
        AudioFormat::G711Alaw,
        AudioFormat::Pcm16,
    ] {
        assert_eq!(
            AudioFormat::from_beta_name(format.beta_name()),
            Some(format)
        );
        assert_eq!(AudioFormat::from_ga_type(format.ga_type()), Some(format));
    }
    assert_eq!(AudioFormat::Pcm16.sample_rate(), 24_000);
    assert_eq!(AudioFormat::G711Ulaw.sample_rate(), 8_000);
    assert_eq!(AudioFormat::from_beta_name("audio/pcmu"), None);
    assert_eq!(AudioFormat::from_ga_type("g711_ulaw"), None);
}
