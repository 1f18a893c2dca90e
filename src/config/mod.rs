//! Configuration: a pure function from the config file's text and the environment to a validated
//! [`Config`].
//!
//! Precedence is built-in defaults < config file < environment. Every setting `section.key` can be
//! set from the environment as `SWITCHBOARD_SECTION_KEY` (upper case); a few also answer to their
//! conventional names (`DATABASE_URL`, `OPENAI_API_KEY`, `TWILIO_AUTH_TOKEN`), which the
//! `SWITCHBOARD_` name overrides. Unknown keys, wrong types and invalid values are all reported at
//! once, each naming the key, the value given (never a secret's) and the expected form.
//!
//! Only `main` reads files; this module never does I/O.

mod reader;
mod values;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;
use switchboard_actors::domain::AudioFormat;
use url::Url;

pub use reader::{Problem, Setting, Source};
pub use values::{DatabaseUrl, LogFormat, Secret, is_node_id};

use reader::Reader;

/// Declares the settings: each one's section, key and default text, and the list of them all.
macro_rules! settings {
    ($($name:ident = $section:literal . $key:literal, default $default:literal;)+) => {
        $(const $name: Setting = Setting { section: $section, key: $key, default: $default };)+
        /// Every setting the engine knows, in the order of `config.toml`.
        pub const SETTINGS: &[Setting] = &[$($name),+];
    };
}

settings! {
    HTTP_LISTEN = "http"."listen", default "127.0.0.1:8080";
    HTTP_PUBLIC_URL = "http"."public_url", default "http://127.0.0.1:8080";
    HTTP_MAX_BODY_BYTES = "http"."max_body_bytes", default "4194304";
    HTTP_SSE_REPLAY_EVENTS = "http"."sse_replay_events", default "4096";
    HTTP_SSE_KEEPALIVE_S = "http"."sse_keepalive_s", default "15";
    HTTP_CORS_ORIGINS = "http"."cors_origins", default "";
    STORAGE_DATA_DIR = "storage"."data_dir", default "data";
    STORAGE_RECORDINGS_DIR = "storage"."recordings_dir", default "";
    DATABASE_URL = "database"."url", default "";
    DATABASE_POOL_SIZE = "database"."pool_size", default "16";
    DATABASE_CONNECT_TIMEOUT_S = "database"."connect_timeout_s", default "30";
    DATABASE_STATEMENT_TIMEOUT_MS = "database"."statement_timeout_ms", default "10000";
    AI_REALTIME_URL = "ai"."realtime_url", default "wss://api.openai.com/v1/realtime";
    AI_API_BASE = "ai"."api_base", default "https://api.openai.com/v1";
    AI_MODEL = "ai"."model", default "gpt-realtime";
    AI_VOICE = "ai"."voice", default "marin";
    AI_INSTRUCTIONS = "ai"."instructions", default "You are a friendly, concise phone agent for a call center. Greet the caller, find out what they need and help them; keep answers short.";
    AI_AUDIO_FORMAT = "ai"."audio_format", default "g711_ulaw";
    AI_API_KEY = "ai"."api_key", default "";
    AI_RECONNECT_BASE_MS = "ai"."reconnect_base_ms", default "250";
    AI_RECONNECT_MAX_MS = "ai"."reconnect_max_ms", default "5000";
    AI_RECONNECT_MAX_ATTEMPTS = "ai"."reconnect_max_attempts", default "5";
    AI_MAX_SESSION_MINUTES = "ai"."max_session_minutes", default "55";
    AI_BREAKER_FAILURES = "ai"."breaker_failures", default "5";
    AI_BREAKER_COOLDOWN_S = "ai"."breaker_cooldown_s", default "30";
    AI_FALLBACK_SAY = "ai"."fallback_say", default "We are sorry: our assistant cannot take your call right now. Please call again later.";
    AI_FALLBACK_DIAL = "ai"."fallback_dial", default "";
    AI_FALLBACK_VOICEMAIL = "ai"."fallback_voicemail", default "false";
    AI_TOOL_MAX_CONCURRENT = "ai"."tool_max_concurrent", default "10";
    AI_TOOL_RATE_PER_S = "ai"."tool_rate_per_s", default "20";
    ANALYSIS_ENABLED = "analysis"."enabled", default "true";
    ANALYSIS_MODEL = "analysis"."model", default "gpt-4o-2024-08-06";
    ANALYSIS_PROMPT = "analysis"."prompt", default "You analyse customer conversations of a call center for its supervisors. Summarize what the customer wanted and what happened, judge the customer's sentiment and satisfaction, and classify the outcome. Base every answer on the conversation only.";
    ANALYSIS_TIMEOUT_S = "analysis"."timeout_s", default "30";
    ANALYSIS_CONCURRENCY = "analysis"."concurrency", default "2";
    ANALYSIS_MAX_ATTEMPTS = "analysis"."max_attempts", default "5";
    ANALYSIS_RETRY_BASE_S = "analysis"."retry_base_s", default "5";
    ANALYSIS_RETRY_MAX_S = "analysis"."retry_max_s", default "300";
    ANALYSIS_POLL_MS = "analysis"."poll_ms", default "500";
    ANALYSIS_SETTLE_S = "analysis"."settle_s", default "30";
    RECORDING_ENABLED = "recording"."enabled", default "true";
    RECORDING_SAMPLE_RATE = "recording"."sample_rate", default "16000";
    TWILIO_AUTH_TOKEN = "twilio"."auth_token", default "";
    TWILIO_VALIDATE_SIGNATURES = "twilio"."validate_signatures", default "true";
    TWILIO_STREAM_IDLE_S = "twilio"."stream_idle_s", default "15";
    AUTH_JWT_SECRET = "auth"."jwt_secret", default "";
    AUTH_ENCRYPTION_KEY = "auth"."encryption_key", default "";
    AUTH_ACCESS_TOKEN_TTL_S = "auth"."access_token_ttl_s", default "900";
    AUTH_REFRESH_TOKEN_TTL_S = "auth"."refresh_token_ttl_s", default "2592000";
    AUTH_RATE_LIMIT_PER_S = "auth"."rate_limit_per_s", default "50";
    AUTH_RATE_LIMIT_BURST = "auth"."rate_limit_burst", default "200";
    AUTH_LOGIN_MAX_FAILURES = "auth"."login_max_failures", default "5";
    AUTH_LOGIN_LOCKOUT_S = "auth"."login_lockout_s", default "30";
    AUTH_LOGIN_MAX_LOCKOUT_S = "auth"."login_max_lockout_s", default "900";
    AUTH_METRICS_TOKEN = "auth"."metrics_token", default "";
    PERSISTENCE_BATCH_MAX_ROWS = "persistence"."batch_max_rows", default "500";
    PERSISTENCE_BATCH_MAX_DELAY_MS = "persistence"."batch_max_delay_ms", default "20";
    PERSISTENCE_MAX_PENDING_ROWS = "persistence"."max_pending_rows", default "1000000";
    PERSISTENCE_MAX_IN_FLIGHT = "persistence"."max_in_flight", default "4";
    PERSISTENCE_RETRY_MAX_BACKOFF_MS = "persistence"."retry_max_backoff_ms", default "2000";
    PERSISTENCE_SHUTDOWN_TIMEOUT_S = "persistence"."shutdown_timeout_s", default "30";
    CLUSTER_NODE_ID = "cluster"."node_id", default "";
    CLUSTER_NATS_URL = "cluster"."nats_url", default "";
    CLUSTER_NATS_USER = "cluster"."nats_user", default "";
    CLUSTER_NATS_PASSWORD = "cluster"."nats_password", default "";
    CLUSTER_MAX_CALLS = "cluster"."max_calls", default "200";
    CLUSTER_MAX_LOOP_LAG_MS = "cluster"."max_loop_lag_ms", default "250";
    CLUSTER_HEARTBEAT_S = "cluster"."heartbeat_s", default "2";
    CLUSTER_NODE_LOST_S = "cluster"."node_lost_s", default "10";
    CLUSTER_DRAIN_TIMEOUT_S = "cluster"."drain_timeout_s", default "600";
    LOG_LEVEL = "log"."level", default "info";
    LOG_FORMAT = "log"."format", default "pretty";
}

/// Conventional environment names and the keys they set.
const ALIASES: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("OPENAI_API_KEY", "ai.api_key"),
    ("TWILIO_AUTH_TOKEN", "twilio.auth_token"),
];

/// `SWITCHBOARD_` variables that are not settings (read by the command line).
pub const RESERVED_ENV: &[&str] = &["SWITCHBOARD_CONFIG"];

/// The engine's whole configuration, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub http: HttpConfig,
    pub storage: StorageConfig,
    pub database: DatabaseConfig,
    pub ai: AiConfig,
    pub analysis: AnalysisConfig,
    pub recording: RecordingConfig,
    pub twilio: TwilioConfig,
    pub auth: AuthConfig,
    pub persistence: PersistenceSettings,
    pub cluster: ClusterConfig,
    pub log: LogConfig,
}

/// The HTTP listener and how the outside world reaches it.
#[derive(Debug, Clone, Serialize)]
pub struct HttpConfig {
    /// Where the server binds.
    pub listen: SocketAddr,
    /// The externally visible base URL: used in TwiML and to check Twilio's signatures.
    pub public_url: Url,
    /// The largest request body the API accepts (413 above it).
    pub max_body_bytes: u64,
    /// How many recent live events `/api/v1/events` keeps for `Last-Event-ID` resumption.
    pub sse_replay_events: u32,
    /// Seconds between keep-alive comments on an idle event stream.
    pub sse_keepalive_s: u64,
    /// Browser origins allowed to call the API (CORS); empty: none. Written as the setting is:
    /// one comma-separated string.
    #[serde(serialize_with = "comma_separated")]
    pub cors_origins: Vec<String>,
}

fn comma_separated<S: serde::Serializer>(list: &[String], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&list.join(","))
}

/// Where the engine keeps files.
#[derive(Debug, Clone, Serialize)]
pub struct StorageConfig {
    /// Root of the engine's own files (the managed PostgreSQL cluster lives in `postgres/` under it).
    pub data_dir: PathBuf,
    /// Call recordings (WAV); `<data_dir>/recordings` when not set.
    pub recordings_dir: PathBuf,
}

/// The database: a managed private cluster, or any PostgreSQL by URL.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseConfig {
    /// Empty: the engine runs its own cluster under `<data_dir>/postgres`.
    pub url: DatabaseUrl,
    /// Connections in the pool.
    pub pool_size: u32,
    /// How long start-up keeps retrying the database before giving up.
    pub connect_timeout_s: u64,
    /// The longest any one statement of the engine may run (migrations excepted): a runaway
    /// query is cancelled instead of holding a pooled connection.
    pub statement_timeout_ms: u64,
}

/// The AI voice agent (OpenAI Realtime) and the chat-completions API used for call analysis.
#[derive(Debug, Clone, Serialize)]
pub struct AiConfig {
    pub realtime_url: Url,
    pub api_base: Url,
    pub model: String,
    pub voice: String,
    pub instructions: String,
    pub audio_format: AudioFormat,
    pub api_key: Secret,
    /// First delay before reopening a lost session; doubles per attempt up to `reconnect_max_ms`.
    pub reconnect_base_ms: u64,
    pub reconnect_max_ms: u64,
    /// Consecutive failed attempts before the call is ended cleanly.
    pub reconnect_max_attempts: u32,
    /// Sessions are rotated (reopened, conversation replayed) after this long.
    pub max_session_minutes: u64,
    /// Consecutive failures of an AI service (per key) that open its circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses new work before it lets a probe through.
    pub breaker_cooldown_s: u64,
    /// What a caller hears when no AI agent can take the call (breaker open, usage cap reached).
    pub fallback_say: String,
    /// Then dialled (E.164), when set.
    pub fallback_dial: Option<String>,
    /// Or, with no number to dial, a voicemail is recorded.
    pub fallback_voicemail: bool,
    /// Webhook tool calls an organization may have running at once (more wait).
    pub tool_max_concurrent: u32,
    /// Webhook tool calls an organization may start per second (more are refused).
    pub tool_rate_per_s: u32,
}

/// Post-call analysis: the model, its prompt and limits, and the job workers.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisConfig {
    pub enabled: bool,
    pub model: String,
    pub prompt: String,
    pub timeout_s: u64,
    /// Jobs one engine runs at once.
    pub concurrency: u32,
    /// Attempts before a job is marked failed.
    pub max_attempts: u32,
    /// Backoff after a failed attempt: `retry_base_s` doubled per attempt, at most `retry_max_s`.
    pub retry_base_s: u64,
    pub retry_max_s: u64,
    /// How often idle workers look for due jobs.
    pub poll_ms: u64,
    /// How long a job waits for its call's last rows (the call's own end) before it runs anyway.
    pub settle_s: u64,
}

/// This node and the cluster it may belong to (NATS for commands and live events; PostgreSQL for
/// state). With no `nats_url` the engine is one node on its own, as before.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterConfig {
    /// This node's name (letters, digits, `-`, `_`); by default `HOST-PORT` (see
    /// `cluster::node_name`).
    pub node_id: Option<String>,
    pub nats_url: Option<Url>,
    pub nats_user: String,
    pub nats_password: Secret,
    /// Live calls this node takes; the voice webhook sends further calls to a node with room or
    /// answers them with the fallback.
    pub max_calls: u32,
    /// A runtime this late on its timers is full as well (the load signal).
    pub max_loop_lag_ms: u64,
    pub heartbeat_s: u64,
    /// A node silent this long is lost: another node ends its calls (`node_lost`).
    pub node_lost_s: u64,
    /// How long a draining node lets its live calls finish before it ends them and stops.
    pub drain_timeout_s: u64,
}

/// Call recording.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingConfig {
    pub enabled: bool,
    /// Sample rate of the dual-channel WAV files.
    pub sample_rate: u32,
}

/// Twilio webhook and media-socket security.
#[derive(Debug, Clone, Serialize)]
pub struct TwilioConfig {
    pub auth_token: Secret,
    /// Check `X-Twilio-Signature` on webhooks and media sockets.
    pub validate_signatures: bool,
    /// A media stream with no frame for this long (no `stop`, no close) is ended as `stream_idle`.
    pub stream_idle_s: u64,
}

/// Accounts, tokens and limits.
#[derive(Debug, Clone, Serialize)]
pub struct AuthConfig {
    /// The access tokens' HS256 key; empty: a generated key in `<data_dir>/keys/jwt.key`.
    pub jwt_secret: Secret,
    /// The AEAD key sealing organizations' provider credentials (32 bytes, base64); empty: a
    /// generated key in `<data_dir>/keys/credentials.key`.
    pub encryption_key: Secret,
    pub access_token_ttl_s: u64,
    pub refresh_token_ttl_s: u64,
    /// Requests per second per API key or user (token bucket), and the bucket's size.
    pub rate_limit_per_s: u32,
    pub rate_limit_burst: u32,
    /// Failed logins (per email, per client address) before a lockout, its first length, and
    /// the cap of its doubling.
    pub login_max_failures: u32,
    pub login_lockout_s: u64,
    pub login_max_lockout_s: u64,
    /// Bearer token for `GET /metrics`; empty: `/metrics` is open (for a scraper on a private
    /// network).
    pub metrics_token: Secret,
}

/// The persistence actor: batching, bounds, retries, shutdown.
#[derive(Debug, Clone, Serialize)]
pub struct PersistenceSettings {
    /// A batch is written once it holds this many rows…
    pub batch_max_rows: u32,
    /// …or once its oldest row has waited this long.
    pub batch_max_delay_ms: u64,
    /// Rows accepted but not yet durable, at most; beyond, producers are told the buffer is full.
    pub max_pending_rows: u32,
    /// Batches written concurrently.
    pub max_in_flight: u32,
    /// Cap of the exponential backoff between retries of a failed batch.
    pub retry_max_backoff_ms: u64,
    /// How long a graceful stop may spend draining pending rows.
    pub shutdown_timeout_s: u64,
}

impl PersistenceSettings {
    /// The actor's configuration.
    pub fn to_actor_config(&self) -> switchboard_actors::persistence::PersistenceConfig {
        use std::time::Duration;
        let retry_max = Duration::from_millis(self.retry_max_backoff_ms);
        switchboard_actors::persistence::PersistenceConfig {
            batch_max_rows: self.batch_max_rows as usize,
            batch_max_delay: Duration::from_millis(self.batch_max_delay_ms),
            max_pending_rows: self.max_pending_rows as usize,
            max_in_flight: self.max_in_flight as usize,
            retry_initial: Duration::from_millis(50).min(retry_max),
            retry_max,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_s),
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Serialize)]
pub struct LogConfig {
    /// A tracing filter directive, e.g. `info` or `switchboard=debug,warn`.
    pub level: String,
    pub format: LogFormat,
}

/// The configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file is not valid TOML: {0}")]
    Syntax(String),
    #[error("invalid configuration:\n{}", list(.0))]
    Invalid(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// The individual problems (one for a syntax error).
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Syntax(why) => vec![why.clone()],
            ConfigError::Invalid(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }
}

impl Config {
    /// Builds the configuration from the config file's text (if any) and the environment.
    pub fn from_sources(
        file: Option<&str>,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let table = match file {
            Some(text) => Some(
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Syntax(e.to_string()))?,
            ),
            None => None,
        };
        let mut r = Reader::new(table, env, ALIASES);
        let data_dir = r.get(STORAGE_DATA_DIR, values::path());
        let recordings_dir = r.get(STORAGE_RECORDINGS_DIR, values::optional_path());
        let config = Config {
            http: HttpConfig {
                listen: r.get(HTTP_LISTEN, values::socket_addr()),
                public_url: r.get(HTTP_PUBLIC_URL, values::http_url()),
                max_body_bytes: r.get(HTTP_MAX_BODY_BYTES, values::positive_bytes()),
                sse_replay_events: r.get(HTTP_SSE_REPLAY_EVENTS, values::positive_u32()),
                sse_keepalive_s: r.get(HTTP_SSE_KEEPALIVE_S, values::positive_seconds()),
                cors_origins: r.get(HTTP_CORS_ORIGINS, values::origins()),
            },
            storage: StorageConfig {
                recordings_dir: recordings_dir.unwrap_or_else(|| data_dir.join("recordings")),
                data_dir,
            },
            database: DatabaseConfig {
                url: r.get(DATABASE_URL, values::database_url()),
                pool_size: r.get(DATABASE_POOL_SIZE, values::positive_u32()),
                connect_timeout_s: r.get(DATABASE_CONNECT_TIMEOUT_S, values::positive_seconds()),
                statement_timeout_ms: r
                    .get(DATABASE_STATEMENT_TIMEOUT_MS, values::positive_millis()),
            },
            ai: AiConfig {
                realtime_url: r.get(AI_REALTIME_URL, values::ws_url()),
                api_base: r.get(AI_API_BASE, values::http_url()),
                model: r.get(AI_MODEL, values::nonempty_text()),
                voice: r.get(AI_VOICE, values::nonempty_text()),
                instructions: r.get(AI_INSTRUCTIONS, values::text()),
                audio_format: r.get(
                    AI_AUDIO_FORMAT,
                    values::choice::<AudioFormat>("g711_ulaw or pcm16"),
                ),
                api_key: r.get(AI_API_KEY, values::secret()),
                reconnect_base_ms: r.get(AI_RECONNECT_BASE_MS, values::positive_millis()),
                reconnect_max_ms: r.get(AI_RECONNECT_MAX_MS, values::positive_millis()),
                reconnect_max_attempts: r.get(AI_RECONNECT_MAX_ATTEMPTS, values::positive_u32()),
                max_session_minutes: r.get(AI_MAX_SESSION_MINUTES, values::positive_minutes()),
                breaker_failures: r.get(AI_BREAKER_FAILURES, values::positive_u32()),
                breaker_cooldown_s: r.get(AI_BREAKER_COOLDOWN_S, values::positive_seconds()),
                fallback_say: r.get(AI_FALLBACK_SAY, values::nonempty_text()),
                fallback_dial: r.get(AI_FALLBACK_DIAL, values::optional_e164()),
                fallback_voicemail: r.get(AI_FALLBACK_VOICEMAIL, values::boolean()),
                tool_max_concurrent: r.get(AI_TOOL_MAX_CONCURRENT, values::positive_u32()),
                tool_rate_per_s: r.get(AI_TOOL_RATE_PER_S, values::positive_u32()),
            },
            analysis: AnalysisConfig {
                enabled: r.get(ANALYSIS_ENABLED, values::boolean()),
                model: r.get(ANALYSIS_MODEL, values::nonempty_text()),
                prompt: r.get(ANALYSIS_PROMPT, values::nonempty_text()),
                timeout_s: r.get(ANALYSIS_TIMEOUT_S, values::positive_seconds()),
                concurrency: r.get(ANALYSIS_CONCURRENCY, values::positive_u32()),
                max_attempts: r.get(ANALYSIS_MAX_ATTEMPTS, values::positive_u32()),
                retry_base_s: r.get(ANALYSIS_RETRY_BASE_S, values::positive_seconds()),
                retry_max_s: r.get(ANALYSIS_RETRY_MAX_S, values::positive_seconds()),
                poll_ms: r.get(ANALYSIS_POLL_MS, values::positive_millis()),
                settle_s: r.get(ANALYSIS_SETTLE_S, values::positive_seconds()),
            },
            recording: RecordingConfig {
                enabled: r.get(RECORDING_ENABLED, values::boolean()),
                sample_rate: r.get(RECORDING_SAMPLE_RATE, values::recording_rate()),
            },
            twilio: TwilioConfig {
                auth_token: r.get(TWILIO_AUTH_TOKEN, values::secret()),
                validate_signatures: r.get(TWILIO_VALIDATE_SIGNATURES, values::boolean()),
                stream_idle_s: r.get(TWILIO_STREAM_IDLE_S, values::positive_seconds()),
            },
            auth: AuthConfig {
                jwt_secret: r.get(AUTH_JWT_SECRET, values::jwt_secret()),
                encryption_key: r.get(AUTH_ENCRYPTION_KEY, values::encryption_key()),
                access_token_ttl_s: r.get(AUTH_ACCESS_TOKEN_TTL_S, values::positive_seconds()),
                refresh_token_ttl_s: r.get(AUTH_REFRESH_TOKEN_TTL_S, values::positive_seconds()),
                rate_limit_per_s: r.get(AUTH_RATE_LIMIT_PER_S, values::positive_u32()),
                rate_limit_burst: r.get(AUTH_RATE_LIMIT_BURST, values::positive_u32()),
                login_max_failures: r.get(AUTH_LOGIN_MAX_FAILURES, values::positive_u32()),
                login_lockout_s: r.get(AUTH_LOGIN_LOCKOUT_S, values::positive_seconds()),
                login_max_lockout_s: r.get(AUTH_LOGIN_MAX_LOCKOUT_S, values::positive_seconds()),
                metrics_token: r.get(AUTH_METRICS_TOKEN, values::secret()),
            },
            persistence: PersistenceSettings {
                batch_max_rows: r.get(PERSISTENCE_BATCH_MAX_ROWS, values::positive_u32()),
                batch_max_delay_ms: r
                    .get(PERSISTENCE_BATCH_MAX_DELAY_MS, values::positive_millis()),
                max_pending_rows: r.get(PERSISTENCE_MAX_PENDING_ROWS, values::positive_u32()),
                max_in_flight: r.get(PERSISTENCE_MAX_IN_FLIGHT, values::positive_u32()),
                retry_max_backoff_ms: r
                    .get(PERSISTENCE_RETRY_MAX_BACKOFF_MS, values::positive_millis()),
                shutdown_timeout_s: r
                    .get(PERSISTENCE_SHUTDOWN_TIMEOUT_S, values::positive_seconds()),
            },
            cluster: ClusterConfig {
                node_id: r.get(CLUSTER_NODE_ID, values::node_id()),
                nats_url: r.get(CLUSTER_NATS_URL, values::optional_nats_url()),
                nats_user: r.get(CLUSTER_NATS_USER, values::text()),
                nats_password: r.get(CLUSTER_NATS_PASSWORD, values::secret()),
                max_calls: r.get(CLUSTER_MAX_CALLS, values::positive_u32()),
                max_loop_lag_ms: r.get(CLUSTER_MAX_LOOP_LAG_MS, values::positive_millis()),
                heartbeat_s: r.get(CLUSTER_HEARTBEAT_S, values::positive_seconds()),
                node_lost_s: r.get(CLUSTER_NODE_LOST_S, values::positive_seconds()),
                drain_timeout_s: r.get(CLUSTER_DRAIN_TIMEOUT_S, values::positive_seconds()),
            },
            log: LogConfig {
                level: r.get(LOG_LEVEL, values::log_filter()),
                format: r.get(LOG_FORMAT, values::choice::<LogFormat>("pretty or json")),
            },
        };
        let problems = r.finish(SETTINGS, RESERVED_ENV);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The built-in defaults, with no file and no environment.
    pub fn defaults() -> Config {
        Config::from_sources(None, &HashMap::new()).expect("built-in defaults are valid")
    }

    /// The effective configuration as TOML, with secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string(self).expect("configuration serializes to TOML")
    }

    /// Settings that are valid but likely a mistake, for the operator's log at start-up.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.twilio.validate_signatures && self.twilio.auth_token.is_empty() {
            warnings.push(
                "twilio.validate_signatures is on but twilio.auth_token is empty: every Twilio \
                 webhook and media socket will be rejected"
                    .to_owned(),
            );
        }
        if self.ai.api_key.is_empty() && self.ai.realtime_url.host_str() == Some("api.openai.com") {
            warnings.push(
                "ai.api_key is empty: the OpenAI Realtime API will refuse sessions".to_owned(),
            );
        }
        warnings
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_redacted_toml())
    }
}

#[cfg(test)]
mod tests;
