//! Filters that read a part of the request for a handler, shared by the routes of several
//! resources: the raw query string and request bodies. What one resource alone reads (a
//! recording's `Range`, a Twilio form, a websocket handshake) is beside its handlers.

use std::convert::Infallible;

use bytes::Bytes;
use warp::{Filter, Rejection};

use super::error::ApiError;

/// The raw query string (empty when there is none); handlers parse it with [`super::params`], so
/// that errors name the parameter.
pub fn raw_query() -> impl Filter<Extract = (String,), Error = Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

/// A JSON request body of at most `max` bytes (413 above; 415 for another content type).
pub fn json_body(max: u64) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|content_type: Option<String>| async move {
            match content_type {
                Some(t) if !t.to_ascii_lowercase().starts_with("application/json") => {
                    Err(warp::reject::custom(ApiError::UnsupportedMediaType(
                        format!("expected application/json, got `{t}`"),
                    )))
                }
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::content_length_limit(max))
        .and(warp::body::bytes())
}

/// A body of any content type of at most `max` bytes (413 above), or an empty one when the
/// request has neither `Content-Length` nor `Transfer-Encoding`; a body of unknown length is a 411.
pub fn optional_body(max: u64) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    let none = warp::header::optional::<String>("content-length")
        .and(warp::header::optional::<String>("transfer-encoding"))
        .and_then(
            |length: Option<String>, encoding: Option<String>| async move {
                match (length, encoding) {
                    (None, None) => Ok(Bytes::new()),
                    // Not this branch: the body's own (with its 413 or 411) answers.
                    _ => Err(warp::reject::not_found()),
                }
            },
        );
    none.or(warp::body::content_length_limit(max).and(warp::body::bytes()))
        .unify()
}
