//! The kinds of setting values: how each is parsed from text, what form it expects, and the value
//! types that need care when printed (secrets, database URLs).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use url::Url;

use super::reader::{Kind, TomlType};

const REDACTED: &str = "<redacted>";

/// A secret (API key, auth token): never printed, logged or serialized.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that uses it (a signature check, an auth header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("Secret(\"\")")
        } else {
            write!(f, "Secret({REDACTED})")
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.is_empty() { "" } else { REDACTED })
    }
}

/// A PostgreSQL connection string (URL or `key=value` form); empty means the managed cluster.
/// Printed with its password redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// A connection string (URL or `key=value` form), checked.
    pub fn parse(text: &str) -> Result<DatabaseUrl, String> {
        (database_url().parse)(text)
    }

    /// True when the engine runs its own cluster.
    pub fn is_managed(&self) -> bool {
        self.0.is_empty()
    }

    /// The connection parameters (`None` for the managed cluster).
    pub fn pg_config(&self) -> Option<tokio_postgres::Config> {
        (!self.is_managed()).then(|| self.0.parse().expect("validated when loaded"))
    }

    /// The string with any password replaced.
    pub fn redacted(&self) -> String {
        if let Ok(mut url) = Url::parse(&self.0) {
            if url.password().is_some() {
                let _ = url.set_password(Some("REDACTED"));
            }
            return url.to_string();
        }
        self.0
            .split_whitespace()
            .map(|part| match part.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=REDACTED"),
                _ => part.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err("is not a log format".to_owned()),
        }
    }
}

impl Serialize for LogFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            LogFormat::Pretty => "pretty",
            LogFormat::Json => "json",
        })
    }
}

pub fn socket_addr() -> Kind<SocketAddr> {
    Kind {
        toml: TomlType::String,
        expected: "an IP address and port, e.g. 127.0.0.1:8080 or [::]:8080",
        parse: |s| {
            s.parse()
                .map_err(|_| "is not an address and port".to_owned())
        },
        secret: false,
    }
}

fn absolute_url(s: &str, schemes: &[&str]) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("is not an absolute URL ({e})"))?;
    if !schemes.contains(&url.scheme()) || url.host_str().is_none() {
        return Err(format!("has scheme `{}` or no host", url.scheme()));
    }
    Ok(url)
}

pub fn http_url() -> Kind<Url> {
    Kind {
        toml: TomlType::String,
        expected: "an absolute http(s) URL, e.g. https://calls.example.com",
        parse: |s| absolute_url(s, &["http", "https"]),
        secret: false,
    }
}

/// Empty (no cluster), or `nats://` / `tls://` with a host.
pub fn optional_nats_url() -> Kind<Option<Url>> {
    Kind {
        toml: TomlType::String,
        expected: "empty, or a NATS URL, e.g. nats://127.0.0.1:4222",
        parse: |s| match s.trim() {
            "" => Ok(None),
            s => absolute_url(s, &["nats", "tls"]).map(Some),
        },
        secret: false,
    }
}

/// Whether `s` can name a node (it is a NATS subject token and a label in the API).
pub fn is_node_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Empty (the default name), or a node name.
pub fn node_id() -> Kind<Option<String>> {
    Kind {
        toml: TomlType::String,
        expected: "empty, or 1 to 64 letters, digits, `-` and `_`",
        parse: |s| match s.trim() {
            "" => Ok(None),
            s if is_node_id(s) => Ok(Some(s.to_owned())),
            _ => Err("is not a node name".to_owned()),
        },
        secret: false,
    }
}

pub fn ws_url() -> Kind<Url> {
    Kind {
        toml: TomlType::String,
        expected: "an absolute ws(s) URL, e.g. wss://api.openai.com/v1/realtime",
        parse: |s| absolute_url(s, &["ws", "wss"]),
        secret: false,
    }
}

pub fn path() -> Kind<PathBuf> {
    Kind {
        toml: TomlType::String,
        expected: "a directory path",
        parse: |s| {
            if s.is_empty() {
                Err("is empty".to_owned())
            } else {
                Ok(PathBuf::from(s))
            }
        },
        secret: false,
    }
}

pub fn optional_path() -> Kind<Option<PathBuf>> {
    Kind {
        toml: TomlType::String,
        expected: "a directory path, or empty for the default",
        parse: |s| Ok((!s.is_empty()).then(|| PathBuf::from(s))),
        secret: false,
    }
}

pub fn database_url() -> Kind<DatabaseUrl> {
    Kind {
        toml: TomlType::String,
        expected: "empty (managed cluster) or a PostgreSQL URL, e.g. postgres://user:pass@host:5432/db",
        parse: |s| {
            if !s.is_empty() {
                s.parse::<tokio_postgres::Config>()
                    .map_err(|e| format!("is not a connection string ({e})"))?;
            }
            Ok(DatabaseUrl(s.to_owned()))
        },
        // The URL may carry a password: never echo it.
        secret: true,
    }
}

pub fn positive_u32() -> Kind<u32> {
    Kind {
        toml: TomlType::Integer,
        expected: "a whole number of at least 1",
        parse: |s| {
            let n = positive_u64(s)?;
            u32::try_from(n).map_err(|_| "is too large".to_owned())
        },
        secret: false,
    }
}

fn positive_u64(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("is zero".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err("is not a positive whole number".to_owned()),
    }
}

pub fn positive_bytes() -> Kind<u64> {
    Kind {
        toml: TomlType::Integer,
        expected: "a whole number of bytes, at least 1",
        parse: positive_u64,
        secret: false,
    }
}

pub fn positive_seconds() -> Kind<u64> {
    Kind {
        toml: TomlType::Integer,
        expected: "a whole number of seconds, at least 1",
        parse: positive_u64,
        secret: false,
    }
}

pub fn positive_millis() -> Kind<u64> {
    Kind {
        toml: TomlType::Integer,
        expected: "a whole number of milliseconds, at least 1",
        parse: positive_u64,
        secret: false,
    }
}

pub fn positive_minutes() -> Kind<u64> {
    Kind {
        toml: TomlType::Integer,
        expected: "a whole number of minutes, at least 1",
        parse: positive_u64,
        secret: false,
    }
}

pub fn recording_rate() -> Kind<u32> {
    Kind {
        toml: TomlType::Integer,
        expected: "8000, 16000, 24000 or 48000",
        parse: |s| match s.parse::<u32>() {
            Ok(rate @ (8000 | 16000 | 24000 | 48000)) => Ok(rate),
            _ => Err("is not a supported sample rate".to_owned()),
        },
        secret: false,
    }
}

/// Empty (none), or a phone number in E.164 form.
pub fn optional_e164() -> Kind<Option<String>> {
    Kind {
        toml: TomlType::String,
        expected: "empty, or a phone number in E.164 form (+ then 2 to 15 digits)",
        parse: |s| {
            let s = s.trim();
            if s.is_empty() {
                Ok(None)
            } else if crate::store::calls::is_e164(s) {
                Ok(Some(s.to_owned()))
            } else {
                Err("is not an E.164 phone number".to_owned())
            }
        },
        secret: false,
    }
}

pub fn boolean() -> Kind<bool> {
    Kind {
        toml: TomlType::Boolean,
        expected: "true or false",
        parse: |s| match s {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err("is not a boolean".to_owned()),
        },
        secret: false,
    }
}

pub fn text() -> Kind<String> {
    Kind {
        toml: TomlType::String,
        expected: "text",
        parse: |s| Ok(s.to_owned()),
        secret: false,
    }
}

pub fn nonempty_text() -> Kind<String> {
    Kind {
        toml: TomlType::String,
        expected: "non-empty text",
        parse: |s| {
            if s.trim().is_empty() {
                Err("is empty".to_owned())
            } else {
                Ok(s.to_owned())
            }
        },
        secret: false,
    }
}

pub fn secret() -> Kind<Secret> {
    Kind {
        toml: TomlType::String,
        expected: "text",
        parse: |s| Ok(Secret::new(s)),
        secret: true,
    }
}

pub fn choice<T: FromStr>(expected: &'static str) -> Kind<T> {
    Kind {
        toml: TomlType::String,
        expected,
        parse: |s| {
            s.parse::<T>()
                .map_err(|_| "is not one of the choices".to_owned())
        },
        secret: false,
    }
}

pub fn log_filter() -> Kind<String> {
    Kind {
        toml: TomlType::String,
        expected: "a tracing filter, e.g. info, debug or switchboard=debug,warn",
        parse: |s| {
            tracing_subscriber::EnvFilter::builder()
                .parse(s)
                .map(|_| s.to_owned())
                .map_err(|e| format!("is not a filter ({e})"))
        },
        secret: false,
    }
}

/// `auth.jwt_secret`: empty (a key file is made) or at least 32 bytes.
pub fn jwt_secret() -> Kind<Secret> {
    Kind {
        toml: TomlType::String,
        expected: "empty (a generated key in <data_dir>/keys) or a secret of at least 32 bytes",
        parse: |s| {
            if !s.is_empty() && s.len() < 32 {
                return Err("is shorter than 32 bytes".to_owned());
            }
            Ok(Secret::new(s))
        },
        secret: true,
    }
}

/// `auth.encryption_key`: empty (a key file is made) or 32 bytes in base64.
pub fn encryption_key() -> Kind<Secret> {
    Kind {
        toml: TomlType::String,
        expected: "empty (a generated key in <data_dir>/keys) or 32 bytes in base64",
        parse: |s| {
            if !s.is_empty() {
                crate::auth::keys::decode_key(s)?;
            }
            Ok(Secret::new(s))
        },
        secret: true,
    }
}

/// A comma-separated list of origins (`scheme://host[:port]`), e.g. for CORS.
pub fn origins() -> Kind<Vec<String>> {
    Kind {
        toml: TomlType::String,
        expected: "empty or comma-separated origins, e.g. https://dash.example.com,http://localhost:3000",
        parse: |s| {
            s.split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(|o| {
                    let url = absolute_url(o, &["http", "https"])?;
                    let origin = url.origin().ascii_serialization();
                    if origin != o.trim_end_matches('/') {
                        return Err(format!("`{o}` is not a bare origin (no path)"));
                    }
                    Ok(origin)
                })
                .collect()
        },
        secret: false,
    }
}
