//! Request parsing for the REST API: query strings and JSON bodies into typed structs, with errors
//! that name the parameter or field at fault, and the page and date rules every list shares.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;
use uuid::Uuid;

use crate::history::{CallKey, Cursor, PageRequest, PageStart};
use crate::http::error::ApiError;
use crate::http::input;

/// Parses a raw query string into `T`. The parameters `T` documents (its `IntoParams`) are the
/// only ones accepted; a bad value is reported with the parameter's name.
pub fn query<T: DeserializeOwned + IntoParams>(raw: &str) -> Result<T, ApiError> {
    check_names(raw, &names::<T>())?;
    parse_query(raw)
}

/// Like [`query`], for a list: `T`'s parameters and the paging ones.
pub fn list_query<T: DeserializeOwned + IntoParams>(raw: &str) -> Result<(T, Paging), ApiError> {
    let mut allowed = names::<T>();
    allowed.extend(names::<Paging>());
    check_names(raw, &allowed)?;
    Ok((parse_query(raw)?, parse_query(raw)?))
}

/// The query parameters `T` documents.
fn names<T: IntoParams>() -> Vec<String> {
    T::into_params(|| Some(ParameterIn::Query))
        .into_iter()
        .map(|p| p.name)
        .collect()
}

fn check_names(raw: &str, allowed: &[String]) -> Result<(), ApiError> {
    let mut seen = std::collections::HashSet::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if !allowed.iter().any(|a| *a == name) {
            return Err(ApiError::BadRequest(format!(
                "unknown query parameter `{}` (expected one of: {})",
                truncate(&name),
                allowed.join(", ")
            )));
        }
        if !seen.insert(name.clone()) {
            return Err(ApiError::BadRequest(format!(
                "query parameter `{name}` is given more than once"
            )));
        }
        input::text(
            &format!("query parameter `{name}`"),
            &value,
            input::SHORT_TEXT,
        )?;
    }
    Ok(())
}

fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        ApiError::BadRequest(format!("query parameter `{path}`: {inner}"))
    })
}

/// Parses a JSON body into `T`; errors name the field (`messages[3].content: …`). A string with a
/// NUL character (`\u0000`) is refused, as everywhere ([`input`]).
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if has_escaped_nul(body) {
        // Rare: parsed a second time to name the field.
        let field = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| nul_path(&v))
            .unwrap_or_else(|| ".".to_owned());
        return Err(ApiError::BadRequest(format!(
            "body field `{field}`: contains a NUL character (\\u0000)"
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            ApiError::BadRequest(format!("body: {inner}"))
        } else {
            ApiError::BadRequest(format!("body field `{path}`: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
    Ok(value)
}

/// JSON text holds a NUL character only as the escape `\u0000` (a raw NUL is a syntax error):
/// found by walking the escapes, so that an escaped backslash before `u0000` is not one.
fn has_escaped_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while let Some(at) = json[i..].iter().position(|&b| b == b'\\') {
        let escape = i + at;
        if json.get(escape + 1) == Some(&b'u') && json.get(escape + 2..escape + 6) == Some(b"0000")
        {
            return true;
        }
        i = escape + 2;
        if i >= json.len() {
            return false;
        }
    }
    false
}

/// The path (`messages[3].content`) of the first key or string holding a NUL character.
fn nul_path(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item).map(|rest| format!("[{i}]{}", dotted(&rest)))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(key.escape_debug().to_string());
            }
            nul_path(item).map(|rest| format!("{key}{}", dotted(&rest)))
        }),
        _ => None,
    }
}

/// `rest` of a path after a key: `.field`, `[i]` as is, or nothing.
fn dotted(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') {
        rest.to_owned()
    } else {
        format!(".{rest}")
    }
}

/// The `{id}` of a call route: its UUID or CallSid.
pub fn call_key(segment: &str) -> Result<CallKey, ApiError> {
    segment.parse().map_err(|e: crate::history::CallKeyError| {
        ApiError::BadRequest(format!("path parameter `id`: {e}"))
    })
}

/// A UUID path parameter.
pub fn uuid(name: &str, segment: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(segment).map_err(|_| {
        ApiError::BadRequest(format!(
            "path parameter `{name}`: `{}` is not a UUID",
            truncate(segment)
        ))
    })
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A route without query parameters (any given is refused).
#[derive(Debug, Deserialize, IntoParams)]
pub struct NoParams {}

/// `limit`, `offset` and `cursor`, as every list takes them.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page size (each list says its default and maximum).
    pub limit: Option<u32>,
    /// Rows to skip (not stable while rows arrive; prefer `cursor`). Not with `cursor`.
    pub offset: Option<u32>,
    /// `next_cursor` of the previous page: the page after it, stable while rows arrive.
    pub cursor: Option<String>,
}

impl Paging {
    /// Checks the paging parameters against a list's default and maximum page size.
    pub fn request(&self, default: u32, max: u32) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(default);
        if !(1..=max).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "query parameter `limit`: {limit} is out of range (1 to {max})"
            )));
        }
        let start = match (&self.offset, &self.cursor) {
            (Some(_), Some(_)) => {
                return Err(ApiError::BadRequest(
                    "query parameters `offset` and `cursor` cannot be combined".to_owned(),
                ));
            }
            (Some(offset), None) => PageStart::Offset(*offset),
            (None, Some(token)) => PageStart::After(Cursor::decode(token).ok_or_else(|| {
                ApiError::BadRequest(
                    "query parameter `cursor`: not a cursor this API issued (use `next_cursor` as given)"
                        .to_owned(),
                )
            })?),
            (None, None) => PageStart::First,
        };
        Ok(PageRequest { limit, start })
    }
}

/// Checks that a `[from, to)` pair is ordered.
pub fn date_range(
    (from_name, from): (&str, Option<DateTime<Utc>>),
    (to_name, to): (&str, Option<DateTime<Utc>>),
) -> Result<(), ApiError> {
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(ApiError::BadRequest(format!(
            "query parameter `{to_name}` ({to}) is before `{from_name}` ({from})"
        )));
    }
    Ok(())
}

/// A non-empty text parameter of at most `max` characters.
pub fn text(name: &str, value: &Option<String>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(ApiError::BadRequest(format!(
            "query parameter `{name}` is empty"
        ))),
        Some(v) if v.chars().count() > max => Err(ApiError::BadRequest(format!(
            "query parameter `{name}` is longer than {max} characters"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq, IntoParams)]
    #[into_params(parameter_in = Query)]
    struct Q {
        limit: Option<u32>,
        status: Option<switchboard_actors::domain::CallStatus>,
        start_date: Option<DateTime<Utc>>,
    }

    fn message(err: ApiError) -> String {
        err.to_string()
    }

    #[test]
    fn bad_values_name_their_parameter() {
        assert!(message(query::<Q>("limit=abc").unwrap_err()).contains("`limit`"));
        assert!(message(query::<Q>("status=lost").unwrap_err()).contains("`status`"));
        assert!(message(query::<Q>("start_date=yesterday").unwrap_err()).contains("`start_date`"));
        let unknown = message(query::<Q>("colour=red").unwrap_err());
        assert!(unknown.contains("colour"), "{unknown}");
        assert!(message(query::<Q>("limit=1&limit=2").unwrap_err()).contains("more than once"));
    }

    #[test]
    fn good_values_parse() {
        let q: Q = query("limit=5&status=in-progress&start_date=2026-11-01T00:00:00Z").unwrap();
        assert_eq!(q.limit, Some(5));
        assert_eq!(
            q.status,
            Some(switchboard_actors::domain::CallStatus::InProgress)
        );
        assert!(q.start_date.is_some());
        assert_eq!(
            query::<Q>("").unwrap(),
            Q {
                limit: None,
                status: None,
                start_date: None
            }
        );
    }

    #[test]
    fn paging_rules() {
        let p = |limit, offset, cursor: Option<&str>| Paging {
            limit,
            offset,
            cursor: cursor.map(Into::into),
        };
        assert_eq!(p(None, None, None).request(20, 100).unwrap().limit, 20);
        assert!(message(p(Some(0), None, None).request(20, 100).unwrap_err()).contains("`limit`"));
        assert!(
            message(p(Some(101), None, None).request(20, 100).unwrap_err()).contains("`limit`")
        );
        assert!(
            message(p(None, Some(1), Some("x")).request(20, 100).unwrap_err()).contains("`offset`")
        );
        assert!(
            message(
                p(None, None, Some("nonsense"))
                    .request(20, 100)
                    .unwrap_err()
            )
            .contains("`cursor`")
        );
    }

    #[test]
    fn nul_in_a_body_or_a_query_value_is_refused() {
        assert!(has_escaped_nul(br#"{"a":"x\u0000"}"#));
        assert!(has_escaped_nul(br#"{"a\u0000":1}"#));
        assert!(
            !has_escaped_nul(br#"{"a":"x\\u0000"}"#),
            "an escaped backslash"
        );
        assert!(has_escaped_nul(br#"{"a":"x\\\u0000"}"#));
        assert!(!has_escaped_nul(
            br#"{"a":"\u00001"}"#.as_slice().split_at(5).0
        ));
        assert!(!has_escaped_nul(br#"{"a":"\"}"#));
        assert!(!has_escaped_nul(b"\\"));
        assert!(!has_escaped_nul(br#"{"a":"\u0001"}"#));
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct N {
            name: String,
        }
        let err = message(json_body::<N>(br#"{"name":"a\u0000"}"#).unwrap_err());
        assert!(err.contains("NUL") && err.contains("`name`"), "{err}");
        let err = message(json_body::<N>(br#"{"a":[{"b":"x"},{"c":"\u0000"}]}"#).unwrap_err());
        assert!(err.contains("`a[1].c`"), "{err}");
        assert!(message(check_names("q=a%00", &["q".to_owned()]).unwrap_err()).contains("NUL"));
        assert!(check_names("q=a", &["q".to_owned()]).is_ok());
    }

    #[test]
    fn body_errors_name_the_field() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct B {
            items: Vec<Item>,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Item {
            n: u8,
        }
        let err = message(json_body::<B>(br#"{"items":[{"n":1},{"n":"x"}]}"#).unwrap_err());
        assert!(err.contains("items[1].n"), "{err}");
        assert!(message(json_body::<B>(b"{").unwrap_err()).contains("body"));
        assert!(message(json_body::<B>(br#"{"items":[]} x"#).unwrap_err()).contains("body"));
    }
}
