//! The websocket upgrade: what the request says, and whether the peer accepts it.

use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};

/// Path the peer serves.
pub(super) const PATH: &str = "/v1/realtime";

/// What the upgrade request carried.
#[derive(Debug, Clone, Default)]
pub(super) struct Upgrade {
    pub(super) path: String,
    pub(super) model: Option<String>,
    pub(super) api_key: Option<String>,
    pub(super) beta_header: bool,
}

impl Upgrade {
    pub(super) fn from_request(request: &Request) -> Upgrade {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        let api_key = header("authorization").map(|value| {
            match value.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer ")) {
                Some(_) => value[7..].trim().to_owned(),
                None => value.trim().to_owned(),
            }
        });
        let beta_header = header("openai-beta").is_some_and(|value| value.contains("realtime=v1"));
        let model = request.uri().query().and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("model="))
                .map(percent_decode)
        });
        Upgrade {
            path: request.uri().path().to_owned(),
            model,
            api_key,
            beta_header,
        }
    }
}

/// A refusal: the HTTP status and an OpenAI-style JSON error body.
pub(super) fn refusal(
    status: StatusCode,
    error_type: &str,
    code: &str,
    message: &str,
) -> ErrorResponse {
    let body = serde_json::json!({
        "error": { "type": error_type, "code": code, "message": message, "param": null }
    })
    .to_string();
    let mut response = ErrorResponse::new(Some(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Decodes `%XX` escapes (invalid ones are kept as they are); `+` stays `+`.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_model_query() {
        assert_eq!(percent_decode("a%20b%26c%3Dd%2F%C3%A9"), "a b&c=d/é");
        assert_eq!(percent_decode("gpt-realtime%"), "gpt-realtime%");
        assert_eq!(percent_decode("x%zz"), "x%zz");
    }
}
