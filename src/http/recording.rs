//! `GET /api/v1/calls/{id}/recording`: a call's WAV recording, streamed from disk in bounded chunks
//! (never read whole into memory), with single byte ranges for seeking players ([`range`]) and
//! `?download=true` for a save-as. A browser's `<audio src>` cannot set headers: the access token
//! may come as `?access_token=` instead (read by the gate, ignored here).
//!
//! `{id}` is the call's UUID or its CallSid ([`crate::history::CallKey`]). Not found, in order: the call (in the
//! organization), its recording row, the file on disk — each a 404 that says which.

mod range;

use std::convert::Infallible;
use std::io::SeekFrom;

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    HeaderValue,
};
use warp::{Filter, Rejection, Reply};

pub use range::{ByteRange, RangeOutcome, resolve_range};

use super::error::{ApiError, ErrorBody};
use super::extract::raw_query;
use super::params::call_key;
use crate::store::Store;
use crate::store::recordings::{CallRecording, RecordingFile};

/// The size of each chunk read from the file and written to the socket.
const CHUNK_BYTES: usize = 64 * 1024;

/// The query string of `GET …/recording`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordingQuery {
    /// `true`: `Content-Disposition: attachment` (save as); otherwise `inline` (play).
    pub download: Option<bool>,
}

impl RecordingQuery {
    /// Parses a raw query string. An unknown parameter, a repeated `download` or a value other
    /// than `true`/`false` is a bad request naming the parameter; `access_token` is the gate's.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut query = RecordingQuery::default();
        for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            match name.as_ref() {
                "download" => {
                    if query.download.is_some() {
                        return Err(ApiError::BadRequest(
                            "query parameter `download` is given more than once".into(),
                        ));
                    }
                    query.download = Some(match value.as_ref() {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(ApiError::BadRequest(format!(
                                "query parameter `download` must be `true` or `false`, not `{}`",
                                truncated(other)
                            )));
                        }
                    });
                }
                "access_token" => {}
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown query parameter `{}` (this route takes `download` and \
                         `access_token`)",
                        truncated(other)
                    )));
                }
            }
        }
        Ok(query)
    }
}

/// Echoes at most 64 characters of client input in an error message.
fn truncated(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// The validated query string (an absent one is the default).
pub fn recording_query() -> impl Filter<Extract = (RecordingQuery,), Error = Rejection> + Clone {
    raw_query().and_then(|raw: String| async move {
        RecordingQuery::parse(&raw).map_err(warp::reject::custom)
    })
}

/// The `Range` header; one that is not visible ASCII is ignored like any other invalid range.
pub fn range_header() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::optional::<String>("range")
        .or(warp::any().map(|| None))
        .unify()
}

/// Streams the latest recording of call `id` in organization `org_id`: the whole WAV (200), one
/// byte range of it (206), or 416 when the range lies outside the file.
#[utoipa::path(get, path = "/api/v1/calls/{id}/recording", tag = "calls",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid"),
           ("download" = Option<bool>, Query, description = "`true`: `Content-Disposition: attachment`"),
           ("access_token" = Option<String>, Query, description = "The access token, for clients that cannot set `Authorization` (a browser's `<audio src>`)"),
           ("Range" = Option<String>, Header, description = "One byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`)")),
    responses((status = 200, description = "The whole WAV", content_type = "audio/wav"),
              (status = 206, description = "The requested byte range, with `Content-Range`", content_type = "audio/wav"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 416, body = ErrorBody, description = "Range outside the file; `Content-Range: bytes */SIZE`")))]
pub async fn get_recording(
    id: String,
    org_id: Uuid,
    query: RecordingQuery,
    range: Option<String>,
    store: Store,
) -> Result<warp::reply::Response, Rejection> {
    let key = call_key(&id)?;
    let call = store
        .call_recording(org_id, &key)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound("call".into()))?;
    let Some(recording) = &call.recording else {
        return Err(ApiError::NotFound("recording".into()).into());
    };
    let mut file = open(&call, recording).await?;
    let size = file
        .metadata()
        .await
        .map_err(|err| io_error("read the metadata of", recording, err))?
        .len();
    let (status, first, length) = match resolve_range(range.as_deref(), size) {
        RangeOutcome::Full => (StatusCode::OK, 0, size),
        RangeOutcome::Partial(range) => (StatusCode::PARTIAL_CONTENT, range.first, range.length()),
        RangeOutcome::Unsatisfiable => {
            return Err(ApiError::RangeNotSatisfiable { size }.into());
        }
    };
    if first > 0 {
        file.seek(SeekFrom::Start(first))
            .await
            .map_err(|err| io_error("seek in", recording, err))?;
    }
    let body = ReaderStream::with_capacity(file.take(length), CHUNK_BYTES);

    let mut response = warp::reply::stream(body).into_response();
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    if status == StatusCode::PARTIAL_CONTENT {
        let last = first + length - 1;
        headers.insert(
            CONTENT_RANGE,
            header_value(format!("bytes {first}-{last}/{size}"))?,
        );
    }
    let disposition = if query.download == Some(true) {
        "attachment"
    } else {
        "inline"
    };
    headers.insert(
        CONTENT_DISPOSITION,
        header_value(format!(
            "{disposition}; filename=\"{}.wav\"",
            file_stem(&call.call_sid)
        ))?,
    );
    Ok(response)
}

/// Opens the recording's file; a file gone from disk while its row remains is a logged 404.
async fn open(
    call: &CallRecording,
    recording: &RecordingFile,
) -> Result<tokio::fs::File, ApiError> {
    match tokio::fs::File::open(&recording.path).await {
        Ok(file) => Ok(file),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(
                call_id = %call.call_id,
                recording_id = %recording.recording_id,
                path = %recording.path.display(),
                "recording file missing on disk"
            );
            Err(ApiError::NotFound("recording file".into()))
        }
        Err(err) => Err(io_error("open", recording, err)),
    }
}

fn io_error(action: &str, recording: &RecordingFile, err: std::io::Error) -> ApiError {
    ApiError::Internal(format!(
        "cannot {action} recording {}: {err}",
        recording.path.display()
    ))
}

fn header_value(value: String) -> Result<HeaderValue, ApiError> {
    HeaderValue::try_from(value).map_err(|err| ApiError::Internal(format!("bad header: {err}")))
}

/// A CallSid made safe for a quoted `filename`: letters, digits, `-`, `_` and `.` are kept, anything
/// else becomes `_` (the schema lets a CallSid hold any text).
fn file_stem(call_sid: &str) -> String {
    call_sid
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_takes_download_true_or_false() {
        assert_eq!(
            RecordingQuery::parse("").unwrap(),
            RecordingQuery::default()
        );
        assert_eq!(
            RecordingQuery::parse("download=true").unwrap().download,
            Some(true)
        );
        assert_eq!(
            RecordingQuery::parse("download=false").unwrap().download,
            Some(false)
        );
        // The gate reads the token; here it is accepted and ignored.
        assert_eq!(
            RecordingQuery::parse("access_token=eyJ.x.y").unwrap(),
            RecordingQuery::default()
        );
        assert_eq!(
            RecordingQuery::parse("download=true&access_token=eyJ.x.y")
                .unwrap()
                .download,
            Some(true)
        );
    }

    #[test]
    fn a_bad_query_names_the_parameter() {
        for (raw, named) in [
            ("download=yes", "`download`"),
            ("download=", "`download`"),
            ("download", "`download`"),
            ("download=TRUE", "`download`"),
            ("download=true&download=false", "`download`"),
            ("format=mp3", "`format`"),
            ("download=true&x%20y=1", "`x y`"),
        ] {
            let err = RecordingQuery::parse(raw).unwrap_err();
            assert!(matches!(err, ApiError::BadRequest(_)), "{raw}: {err:?}");
            assert!(err.to_string().contains(named), "{raw}: {err}");
        }
        let long = format!("download={}", "y".repeat(1000));
        let message = RecordingQuery::parse(&long).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn file_stems_are_safe_in_a_quoted_filename() {
        assert_eq!(
            file_stem("CA0123456789abcdef0123456789abcdef"),
            "CA0123456789abcdef0123456789abcdef"
        );
        assert_eq!(file_stem("a\"b\\c d/é"), "a_b_c_d__");
    }
}
