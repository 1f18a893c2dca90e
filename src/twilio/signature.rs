//! `X-Twilio-Signature`: HMAC-SHA1 over the URL Twilio called and the sorted POST parameters, keyed
//! with the account's auth token, base64-encoded (PROTOCOLS.md §B).
//!
//! - Form webhooks: the full URL (scheme, host, path, query) followed by every parameter sorted by
//!   key (byte order) as `key` + `value` (duplicate keys: each value, values sorted).
//! - JSON bodies: Twilio adds `bodySHA256=<hex sha256 of the body>` to the query; the signature covers
//!   the URL with no parameters, and the body must match that hash.
//! - Media Streams: the websocket upgrade is signed over the `wss://` URL with no parameters.
//!
//! Twilio is inconsistent about default ports, so, as its SDKs do, a signature is accepted over the
//! URL as given, with the default port added, or with it removed. Comparison is constant-time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

type HmacSha1 = Hmac<Sha1>;

/// The signature Twilio computes for `url` and form `params` with `auth_token`.
pub fn compute(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

fn mac(auth_token: &str, url: &str, params: &[(&str, &str)]) -> HmacSha1 {
    let mut mac =
        HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(&str, &str)> = params.iter().collect();
    sorted.sort_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then(a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    for (key, value) in sorted {
        mac.update(key.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// Whether `signature` is Twilio's for `url` (as given, with or without its default port) and
/// `params`. Constant-time in the signature.
pub fn is_valid(auth_token: &str, url: &str, params: &[(&str, &str)], signature: &str) -> bool {
    let Ok(given) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    url_variants(url).iter().any(|candidate| {
        mac(auth_token, candidate, params)
            .verify_slice(&given)
            .is_ok()
    })
}

/// For a JSON-bodied webhook: the signature over the URL (which carries `bodySHA256`) with no
/// parameters, and the body's SHA-256 equal to that query value.
pub fn is_valid_json(auth_token: &str, url: &str, body: &[u8], signature: &str) -> bool {
    let Some(expected) = query_value(url, "bodySHA256") else {
        return false;
    };
    let actual = hex(&Sha256::digest(body));
    // Not secret, but compare without early exit anyway.
    let hash_ok = expected.len() == actual.len()
        && expected
            .bytes()
            .zip(actual.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a.to_ascii_lowercase() ^ b))
            == 0;
    hash_ok && is_valid(auth_token, url, &[], signature)
}

/// The websocket URL Twilio signs for a media stream at `path` under `public_url`
/// (`https` becomes `wss`, `http` becomes `ws`).
pub fn websocket_url(public_url: &url::Url, path: &str) -> String {
    let scheme = if public_url.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    let host = public_url.host_str().unwrap_or_default();
    let port = public_url
        .port()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let base = public_url.path().trim_end_matches('/');
    let path = path.trim_start_matches('/');
    format!("{scheme}://{host}{port}{base}/{path}")
}

/// The URL as given, plus the same with its default port removed (if present) or added (if not).
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some(scheme_end) = url.find("://") else {
        return variants;
    };
    let scheme = &url[..scheme_end];
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => "443",
        "http" | "ws" => "80",
        _ => return variants,
    };
    let rest = &url[scheme_end + 3..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_len);
    // The port follows the last ':' that is not inside an IPv6 literal.
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    match authority[host_end..].rfind(':') {
        Some(colon) => {
            let colon = host_end + colon;
            if &authority[colon + 1..] == default_port {
                variants.push(format!("{scheme}://{}{tail}", &authority[..colon]));
            }
        }
        None => variants.push(format!("{scheme}://{authority}:{default_port}{tail}")),
    }
    variants
}

fn query_value<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then_some(v)
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const PARAMS: [(&str, &str); 5] = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ];

    /// The worked example of PROTOCOLS.md §B (twilio-python's validator tests).
    #[test]
    fn worked_example_reproduces_twilios_signature() {
        assert_eq!(compute(TOKEN, URL, &PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(is_valid(
            TOKEN,
            URL,
            &PARAMS,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        // Parameter order on the wire does not matter.
        let mut reversed = PARAMS;
        reversed.reverse();
        assert!(is_valid(
            TOKEN,
            URL,
            &reversed,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn default_port_variants_are_accepted_both_ways() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(
            compute(TOKEN, with_port, &PARAMS),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        // Signed with the port, called without it, and the reverse.
        assert!(is_valid(
            TOKEN,
            URL,
            &PARAMS,
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        assert!(is_valid(
            TOKEN,
            with_port,
            &PARAMS,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        // A non-default port is not interchangeable.
        let other_port = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
        assert!(!is_valid(
            TOKEN,
            other_port,
            &PARAMS,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn duplicate_keys_sign_each_value_sorted() {
        let params = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ];
        assert_eq!(compute(TOKEN, URL, &params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn twilio_docs_variant() {
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ];
        assert_eq!(compute(TOKEN, URL, &params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }

    #[test]
    fn json_body_is_checked_against_body_sha256() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(
            hex(&Sha256::digest(body)),
            "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
        );
        assert!(is_valid_json(
            TOKEN,
            url,
            body,
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
        assert!(!is_valid_json(
            TOKEN,
            url,
            br#"{"property": "tampered"}"#,
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
    }

    #[test]
    fn tampering_and_garbage_are_rejected() {
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        let mut tampered = PARAMS;
        tampered[2] = ("Digits", "9999");
        assert!(!is_valid(TOKEN, URL, &tampered, sig));
        assert!(!is_valid("54321", URL, &PARAMS, sig));
        assert!(!is_valid(
            TOKEN,
            "https://mycompany.com/other.php?foo=1&bar=2",
            &PARAMS,
            sig
        ));
        assert!(!is_valid(TOKEN, URL, &PARAMS, ""));
        assert!(!is_valid(TOKEN, URL, &PARAMS, "not base64 at all!"));
        assert!(!is_valid(TOKEN, URL, &PARAMS, "AAAA"));
    }

    #[test]
    fn websocket_url_follows_the_public_url() {
        let public = url::Url::parse("https://calls.example.com").unwrap();
        assert_eq!(
            websocket_url(&public, "/twilio/media"),
            "wss://calls.example.com/twilio/media"
        );
        let public = url::Url::parse("http://127.0.0.1:8080/base/").unwrap();
        assert_eq!(
            websocket_url(&public, "twilio/media"),
            "ws://127.0.0.1:8080/base/twilio/media"
        );
    }

    #[test]
    fn port_variants_handle_ipv6_and_no_path() {
        assert_eq!(
            url_variants("https://[::1]/x"),
            ["https://[::1]/x", "https://[::1]:443/x"]
        );
        assert_eq!(
            url_variants("wss://h.example:443"),
            ["wss://h.example:443", "wss://h.example"]
        );
        assert_eq!(url_variants("ftp://h/x"), ["ftp://h/x"]);
    }
}
