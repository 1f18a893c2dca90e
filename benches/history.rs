//! REST history bench: seeds the managed database with the history fixture (100,000 calls and
//! 5,000,000 messages at full scale), serves the engine's HTTP API on loopback, and drives it with
//! a load generator: p50/p90/p99/p99.9/max latency and requests/second per scenario, closed loop
//! and paced (open loop), against the targets.
//!
//! `cargo bench --bench history` (release). Knobs (environment):
//! - `BENCH_SCALE` (1.0): fixture size as a fraction of `FixtureSpec::bench()` (0.1 for a quick run).
//! - `BENCH_DATA_DIR`: the engine's data directory, kept after the run; a database seeded there
//!   before with the same spec is reused (its `fixture.json` holds the report). Unset: a temp dir.
//! - `BENCH_SEED_CONNECTIONS` (2): connections writing the fixture in parallel.
//! - `BENCH_SCENARIOS`: comma-separated names from [`SCENARIOS`], or `all`; default: the four
//!   `/api/v1` scenarios. `health` (`/health` and `/ready`) checks the harness itself.
//! - `BENCH_CLIENTS` (200) concurrent clients, each with its own keep-alive connection.
//! - `BENCH_SECONDS` (20) per scenario and mode, after `BENCH_WARMUP_SECONDS` (3) of warm-up.
//! - `BENCH_MODES` (`closed,open`). Closed loop: each client sends its next request when the
//!   previous one is answered (measures requests/s). Open loop: `BENCH_RATE` requests/s in all,
//!   spread evenly over the clients on a fixed schedule; latency runs from each request's
//!   *scheduled* send time, so a slow answer that delays the next sends is counted against them too
//!   (no coordinated omission). Without `BENCH_RATE`, the open loop offers half the closed loop's
//!   measured rate.
//! - `BENCH_JSON=path`: also write every figure as JSON.
//!
//! Every response that is not 2xx is an error, counted by status and shown; latency percentiles
//! are over the 2xx answers only, and a scenario with any error is a MISS whatever its latency.
//! `SWITCHBOARD_*` variables configure the engine as usual (e.g. `SWITCHBOARD_DATABASE_POOL_SIZE`).
//! Each client sends an API key of its own (authentication is measured); the per-key rate limit
//! is lifted unless `SWITCHBOARD_AUTH_RATE_LIMIT_*` say otherwise.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use hdrhistogram::Histogram;
use serde::Serialize;
use switchboard::app::Engine;
use switchboard::config::Config;
use switchboard_sim::fixture::{
    AGENTS, FixtureReport, FixtureSpec, Rng, SEARCH_WORDS, SampleCall, seed_history_on,
};
use tokio::time::Instant;

// ---- The scenarios: names, targets and URLs. Adjust here. ---------------------------------------
//
// Placeholders, filled per request: {call_id} {call_sid} (a random fixture call), {long_call_id},
// {customer_id}, {agent}, {word} (a vocabulary word), {week_start}/{week_end} (a random 7-day
// window of the fixture's range), {month_start}/{month_end} (30 days), {days2_start}/{days2_end}
// (2 days). Times are RFC 3339 (UTC, `Z`); every value is URL-encoded.

/// The query parameter that carries a page cursor back (the value of `next_cursor`).
const CURSOR_PARAM: &str = "cursor";

struct Scenario {
    name: &'static str,
    /// The p99 target in ms (`None`: no target).
    target_p99_ms: Option<f64>,
    /// One is picked at random per request.
    urls: &'static [&'static str],
    /// One is picked at random and appended with `&` (an empty string adds nothing).
    extra: &'static [&'static str],
    /// After a 2xx answer with a `next_cursor`, follow it for up to this many more pages.
    follow_pages: u32,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "calls_list",
        target_p99_ms: Some(20.0),
        urls: &["/api/v1/calls?limit=20&status=completed&direction=inbound"],
        extra: &[
            "",
            "sentiment=negative",
            "start_date={week_start}&end_date={week_end}",
            "agent={agent}",
            "customer_id={customer_id}",
        ],
        follow_pages: 2,
    },
    Scenario {
        // Full-text search of the calls list (`q`), apart: the fixture's vocabulary is small, so
        // every word is common (in 1–6% of 5M messages), the expensive case of a search.
        name: "calls_search",
        target_p99_ms: Some(20.0),
        urls: &["/api/v1/calls?limit=20&q={word}"],
        extra: &["", "status=completed"],
        follow_pages: 0,
    },
    Scenario {
        name: "messages_page",
        target_p99_ms: Some(20.0),
        urls: &[
            "/api/v1/calls/{call_id}/messages?limit=50",
            "/api/v1/calls/{call_sid}/messages?limit=50",
        ],
        extra: &[""],
        follow_pages: 0,
    },
    Scenario {
        name: "transcript_1000",
        target_p99_ms: Some(50.0),
        urls: &["/api/v1/calls/{long_call_id}/transcript?format=json"],
        extra: &[""],
        follow_pages: 0,
    },
    Scenario {
        name: "analytics_series",
        target_p99_ms: Some(50.0),
        urls: &[
            "/api/v1/analytics?interval=day&start_date={month_start}&end_date={month_end}",
            "/api/v1/analytics?interval=hour&start_date={days2_start}&end_date={days2_end}",
        ],
        extra: &[""],
        follow_pages: 0,
    },
    Scenario {
        name: "health",
        target_p99_ms: None,
        urls: &["/health", "/ready"],
        extra: &[""],
        follow_pages: 0,
    },
];

/// Run when `BENCH_SCENARIOS` is not set.
const DEFAULT_SCENARIOS: &[&str] = &[
    "calls_list",
    "calls_search",
    "messages_page",
    "transcript_1000",
    "analytics_series",
];

// ---- Knobs ---------------------------------------------------------------------------------------

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a valid value")),
        Err(_) => Ok(default),
    }
}

struct Knobs {
    scale: f64,
    data_dir: Option<PathBuf>,
    seed_connections: usize,
    scenarios: Vec<&'static Scenario>,
    clients: usize,
    seconds: f64,
    warmup_seconds: f64,
    closed: bool,
    open: bool,
    rate: Option<f64>,
    json: Option<PathBuf>,
}

impl Knobs {
    fn from_env() -> anyhow::Result<Knobs> {
        let names =
            std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| DEFAULT_SCENARIOS.join(","));
        let scenarios = if names.trim() == "all" {
            SCENARIOS.iter().collect()
        } else {
            names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| {
                    SCENARIOS.iter().find(|s| s.name == n).with_context(|| {
                        let known: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
                        format!(
                            "unknown scenario {n:?} in BENCH_SCENARIOS (known: {})",
                            known.join(", ")
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?
        };
        let modes = std::env::var("BENCH_MODES").unwrap_or_else(|_| "closed,open".into());
        let modes: Vec<&str> = modes.split(',').map(str::trim).collect();
        if let Some(bad) = modes.iter().find(|m| !matches!(**m, "closed" | "open")) {
            bail!("unknown mode {bad:?} in BENCH_MODES (closed, open)");
        }
        let knobs = Knobs {
            scale: env_or("BENCH_SCALE", 1.0)?,
            data_dir: std::env::var_os("BENCH_DATA_DIR").map(PathBuf::from),
            seed_connections: env_or("BENCH_SEED_CONNECTIONS", 2)?,
            scenarios,
            clients: env_or("BENCH_CLIENTS", 200)?,
            seconds: env_or("BENCH_SECONDS", 20.0)?,
            warmup_seconds: env_or("BENCH_WARMUP_SECONDS", 3.0)?,
            closed: modes.contains(&"closed"),
            open: modes.contains(&"open"),
            rate: std::env::var("BENCH_RATE")
                .ok()
                .map(|v| v.parse())
                .transpose()?,
            json: std::env::var_os("BENCH_JSON").map(PathBuf::from),
        };
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(knobs.scale) || knobs.clients == 0 || knobs.seed_connections == 0 {
            bail!(
                "BENCH_SCALE must be above 0; BENCH_CLIENTS and BENCH_SEED_CONNECTIONS at least 1"
            );
        }
        if !positive(knobs.seconds) || knobs.rate.is_some_and(|r| !positive(r)) {
            bail!("BENCH_SECONDS and BENCH_RATE must be above 0");
        }
        Ok(knobs)
    }
}

// ---- The fixture ---------------------------------------------------------------------------------

/// Where a seeded data directory keeps the fixture's report.
fn report_path(data_dir: &Path) -> PathBuf {
    data_dir.join("fixture.json")
}

/// The fixture in the engine's database: reused when `data_dir` holds a completed one of the same
/// spec, else seeded (after clearing a partial one).
async fn fixture(
    engine: &Engine,
    data_dir: &Path,
    spec: &FixtureSpec,
    connections: usize,
) -> anyhow::Result<(FixtureReport, bool)> {
    let pg = engine
        .cluster()
        .context("the bench runs the managed cluster")?
        .pg_config();
    let mut clients = Vec::new();
    for _ in 0..connections {
        let (client, connection) = pg.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        clients.push(client);
    }
    let first = &clients[0];
    let path = report_path(data_dir);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let report: FixtureReport = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a fixture report", path.display()))?;
        if report.spec != *spec {
            bail!(
                "{} holds a fixture of another spec ({} calls, {} messages; this run wants {} and {}): \
                 use another BENCH_DATA_DIR, the same BENCH_SCALE, or remove the directory",
                data_dir.display(),
                report.spec.calls,
                report.spec.messages,
                spec.calls,
                spec.messages
            );
        }
        let calls: i64 = first
            .query_one(
                "SELECT count(*) FROM calls WHERE org_id = $1",
                &[&spec.org_id],
            )
            .await?
            .get(0);
        if calls as u64 != report.calls {
            bail!(
                "{} says {} calls were seeded but the database has {calls}: remove the directory",
                path.display(),
                report.calls
            );
        }
        return Ok((report, true));
    }
    let leftover: bool = first
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM calls) OR EXISTS (SELECT 1 FROM customers)",
            &[],
        )
        .await?
        .get(0);
    if leftover {
        println!("clearing an unfinished fixture in {}", data_dir.display());
        first
            .batch_execute("TRUNCATE customers, conversations, calls, messages, events, recordings")
            .await?;
    }
    let refs: Vec<&tokio_postgres::Client> = clients.iter().collect();
    let report = seed_history_on(&refs, spec).await?;
    std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
    Ok((report, false))
}

#[derive(Debug, Serialize)]
struct DatabaseSize {
    database_bytes: i64,
    tables: BTreeMap<String, i64>,
}

async fn database_size(engine: &Engine) -> anyhow::Result<DatabaseSize> {
    let pg = engine.cluster().context("managed cluster")?.pg_config();
    let (client, connection) = pg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let database_bytes = client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?
        .get(0);
    let mut tables = BTreeMap::new();
    for table in ["customers", "conversations", "calls", "messages"] {
        let bytes: i64 = client
            .query_one(
                "SELECT pg_total_relation_size($1::text::regclass)",
                &[&table],
            )
            .await?
            .get(0);
        tables.insert(table.to_owned(), bytes);
    }
    Ok(DatabaseSize {
        database_bytes,
        tables,
    })
}

// ---- Requests ------------------------------------------------------------------------------------

/// What URLs are made of.
struct Targets {
    base: String,
    calls: Vec<SampleCall>,
    with_customer: Vec<SampleCall>,
    long_call: SampleCall,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
}

impl Targets {
    fn new(base: String, report: &FixtureReport) -> Targets {
        Targets {
            base,
            with_customer: report
                .sample_calls
                .iter()
                .filter(|c| c.customer_id.is_some())
                .cloned()
                .collect(),
            calls: report.sample_calls.clone(),
            long_call: report.long_call.clone(),
            first: report.first_call_at,
            last: report.last_call_at,
        }
    }

    /// A random window of `days` inside the fixture's range (the whole range if shorter).
    fn window(&self, rng: &mut Rng, days: i64) -> (String, String) {
        let span = chrono::Duration::days(days);
        let room = (self.last - self.first - span).num_seconds().max(0) as u64;
        let start = self.first + chrono::Duration::seconds(rng.below(room + 1) as i64);
        let end = if room == 0 { self.last } else { start + span };
        let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        (fmt(start), fmt(end))
    }

    fn url(&self, scenario: &Scenario, rng: &mut Rng) -> String {
        let mut path = rng.pick(scenario.urls).to_owned();
        let extra = rng.pick(scenario.extra);
        if !extra.is_empty() {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(extra);
        }
        let call = &self.calls[rng.below(self.calls.len() as u64) as usize];
        let mut values: HashMap<&str, String> = HashMap::new();
        for key in placeholders(&path) {
            let value = match key {
                "call_id" => call.id.to_string(),
                "call_sid" => call.call_sid.clone(),
                "long_call_id" => self.long_call.id.to_string(),
                "customer_id" => {
                    let pool = if self.with_customer.is_empty() {
                        &self.calls
                    } else {
                        &self.with_customer
                    };
                    let i = rng.below(pool.len() as u64) as usize;
                    pool[i].customer_id.unwrap_or_default().to_string()
                }
                "agent" => rng.pick(AGENTS).to_owned(),
                "word" => rng.pick(SEARCH_WORDS).to_owned(),
                "week_start" | "week_end" => {
                    let (s, e) = self.window(rng, 7);
                    values.insert("week_start", s);
                    values.insert("week_end", e);
                    continue;
                }
                "month_start" | "month_end" => {
                    let (s, e) = self.window(rng, 30);
                    values.insert("month_start", s);
                    values.insert("month_end", e);
                    continue;
                }
                "days2_start" | "days2_end" => {
                    let (s, e) = self.window(rng, 2);
                    values.insert("days2_start", s);
                    values.insert("days2_end", e);
                    continue;
                }
                other => panic!("unknown placeholder {{{other}}} in {path}"),
            };
            values.insert(key, value);
        }
        let mut url = self.base.clone();
        let mut rest = path.as_str();
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').expect("closed placeholder");
            url.push_str(&rest[..open]);
            url.extend(url::form_urlencoded::byte_serialize(
                values[&rest[open + 1..close]].as_bytes(),
            ));
            rest = &rest[close + 1..];
        }
        url.push_str(rest);
        url
    }
}

fn placeholders(path: &str) -> Vec<&str> {
    let mut keys = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}').expect("closed placeholder");
        if !keys.contains(&&rest[open + 1..close]) {
            keys.push(&rest[open + 1..close]);
        }
        rest = &rest[close + 1..];
    }
    keys
}

/// The first string `next_cursor` anywhere in a JSON body.
fn next_cursor(body: &[u8]) -> Option<String> {
    fn find(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Object(map) => match map.get("next_cursor") {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                _ => map.values().find_map(find),
            },
            serde_json::Value::Array(items) => items.iter().find_map(find),
            _ => None,
        }
    }
    find(&serde_json::from_slice(body).ok()?)
}

// ---- The load generator --------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Closed,
    Open,
}

/// What one client saw.
struct Tally {
    /// Latency of 2xx answers, µs.
    ok: Histogram<u64>,
    /// Non-2xx answers by status.
    statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection error, timeout).
    transport: u64,
    pages_followed: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            ok: Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds"),
            statuses: BTreeMap::new(),
            transport: 0,
            pages_followed: 0,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok.add(other.ok).expect("same bounds");
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.transport += other.transport;
        self.pages_followed += other.pages_followed;
    }

    fn errors(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.transport
    }

    fn requests(&self) -> u64 {
        self.ok.len() + self.errors()
    }
}

/// One client: from `start` until `deadline`, requests back to back (closed) or on its schedule
/// (open: `interval` apart from `first`, latency from the scheduled time).
async fn client_loop(
    http: reqwest::Client,
    targets: std::sync::Arc<Targets>,
    scenario: &'static Scenario,
    mut rng: Rng,
    start: Instant,
    deadline: Instant,
    schedule: Option<(Instant, Duration)>,
) -> Tally {
    let mut tally = Tally::new();
    tokio::time::sleep_until(start).await;
    let mut page: Option<(String, u32)> = None; // (first page URL, pages followed)
    let mut cursor: Option<String> = None;
    let mut k: u32 = 0;
    loop {
        let begin = match schedule {
            Some((first, interval)) => {
                let at = first + interval.mul_f64(k as f64);
                k += 1;
                if at >= deadline {
                    break;
                }
                tokio::time::sleep_until(at).await;
                at
            }
            None => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                now
            }
        };
        let url = match (&page, cursor.take()) {
            (Some((first_url, _)), Some(c)) => {
                tally.pages_followed += 1;
                let encoded: String = url::form_urlencoded::byte_serialize(c.as_bytes()).collect();
                format!("{first_url}&{CURSOR_PARAM}={encoded}")
            }
            _ => {
                let url = targets.url(scenario, &mut rng);
                page = (scenario.follow_pages > 0).then(|| (url.clone(), 0));
                url
            }
        };
        match http.get(&url).send().await {
            Ok(response) => {
                let status = response.status();
                let body = response.bytes().await;
                match body {
                    Ok(body) if status.is_success() => {
                        let micros = begin.elapsed().as_micros().max(1) as u64;
                        tally.ok.saturating_record(micros);
                        if let Some((_, followed)) = page.as_mut()
                            && *followed < scenario.follow_pages
                        {
                            cursor = next_cursor(&body);
                            *followed += u32::from(cursor.is_some());
                        }
                    }
                    Ok(_) => *tally.statuses.entry(status.as_u16()).or_default() += 1,
                    Err(_) => tally.transport += 1,
                }
            }
            Err(_) => tally.transport += 1,
        }
        if cursor.is_none() {
            page = None;
        }
    }
    tally
}

#[derive(Debug, Serialize)]
struct Figures {
    scenario: &'static str,
    mode: Mode,
    clients: usize,
    seconds: f64,
    offered_per_s: Option<f64>,
    requests: u64,
    ok: u64,
    errors: u64,
    errors_by_status: BTreeMap<String, u64>,
    pages_followed: u64,
    requests_per_s: f64,
    p50_ms: Option<f64>,
    p90_ms: Option<f64>,
    p99_ms: Option<f64>,
    p999_ms: Option<f64>,
    max_ms: Option<f64>,
    target_p99_ms: Option<f64>,
    verdict: String,
}

/// Runs `scenario` on every client of `http` for `seconds`.
async fn run(
    targets: &std::sync::Arc<Targets>,
    scenario: &'static Scenario,
    http: &[reqwest::Client],
    seconds: f64,
    mode: Mode,
    rate: f64,
    seed: u64,
) -> anyhow::Result<Figures> {
    let clients = http.len();
    // Every task is spawned before the first scheduled send.
    let start = Instant::now() + Duration::from_millis(100);
    let deadline = start + Duration::from_secs_f64(seconds);
    let interval = Duration::from_secs_f64(clients as f64 / rate.max(f64::MIN_POSITIVE));
    let mut tasks = Vec::with_capacity(clients);
    for (c, http) in http.iter().enumerate() {
        let schedule = (mode == Mode::Open).then(|| {
            (
                start + interval.mul_f64(c as f64 / clients as f64),
                interval,
            )
        });
        tasks.push(tokio::spawn(client_loop(
            http.clone(),
            targets.clone(),
            scenario,
            Rng::for_item(seed, 7, c as u64),
            start,
            deadline,
            schedule,
        )));
    }
    let mut tally = Tally::new();
    for task in tasks {
        tally.merge(task.await?);
    }
    let elapsed = start.elapsed().as_secs_f64().max(seconds);
    let ms = |q: f64| (!tally.ok.is_empty()).then(|| tally.ok.value_at_quantile(q) as f64 / 1000.0);
    let p99 = ms(0.99);
    let errors = tally.errors();
    let verdict = match (scenario.target_p99_ms, p99) {
        _ if errors > 0 => format!("MISS ({errors} errors)"),
        (_, None) => "MISS (no answers)".to_owned(),
        (None, Some(_)) => "-".to_owned(),
        (Some(target), Some(p99)) if p99 <= target => "PASS".to_owned(),
        (Some(_), Some(_)) => "MISS".to_owned(),
    };
    let mut errors_by_status: BTreeMap<String, u64> = tally
        .statuses
        .iter()
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    if tally.transport > 0 {
        errors_by_status.insert("no answer".into(), tally.transport);
    }
    Ok(Figures {
        scenario: scenario.name,
        mode,
        clients,
        seconds: elapsed,
        offered_per_s: (mode == Mode::Open).then_some(rate),
        requests: tally.requests(),
        ok: tally.ok.len(),
        errors,
        errors_by_status,
        pages_followed: tally.pages_followed,
        requests_per_s: tally.requests() as f64 / elapsed,
        p50_ms: ms(0.50),
        p90_ms: ms(0.90),
        p99_ms: p99,
        p999_ms: ms(0.999),
        max_ms: (!tally.ok.is_empty()).then(|| tally.ok.max() as f64 / 1000.0),
        target_p99_ms: scenario.target_p99_ms,
        verdict,
    })
}

/// A client with one keep-alive connection to the engine (no proxy, no Nagle), sending its key.
fn http_client(key: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse()?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(None)
        .timeout(Duration::from_secs(10))
        .build()?)
}

// ---- Output --------------------------------------------------------------------------------------

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| format!("{v:.2}"))
}

fn print_figures(f: &Figures) {
    println!(
        "| {} | {:?}{} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
        f.scenario,
        f.mode,
        f.offered_per_s
            .map_or(String::new(), |r| format!(" @ {r:.0}/s")),
        f.requests,
        f.errors,
        f.requests_per_s,
        opt_ms(f.p50_ms),
        opt_ms(f.p90_ms),
        opt_ms(f.p99_ms),
        opt_ms(f.p999_ms),
        opt_ms(f.max_ms),
        f.target_p99_ms
            .map_or("-".to_owned(), |t| format!("≤ {t:.0}")),
        f.verdict
    );
}

fn mib(bytes: i64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[derive(Serialize)]
struct Output<'a> {
    fixture: FixtureFigures,
    database: &'a DatabaseSize,
    scenarios: &'a [Figures],
}

#[derive(Serialize)]
struct FixtureFigures {
    reused: bool,
    calls: u64,
    messages: u64,
    customers: u64,
    rows: u64,
    seconds: f64,
    load_seconds: f64,
    rows_per_second: f64,
    long_call_id: String,
    long_call_sid: String,
}

// ---- Main ----------------------------------------------------------------------------------------

fn main() -> anyhow::Result<()> {
    let knobs = Knobs::from_env()?;
    let spec = FixtureSpec::bench().scaled(knobs.scale);
    let temp = match &knobs.data_dir {
        Some(_) => None,
        None => Some(tempfile::tempdir()?),
    };
    let data_dir = knobs
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.as_ref().expect("temp dir").path().to_owned());
    std::fs::create_dir_all(&data_dir)?;

    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("SWITCHBOARD_"))
        .collect();
    env.insert(
        "SWITCHBOARD_STORAGE_DATA_DIR".into(),
        data_dir.display().to_string(),
    );
    env.insert("SWITCHBOARD_HTTP_LISTEN".into(), "127.0.0.1:0".into());
    for limit in [
        "SWITCHBOARD_AUTH_RATE_LIMIT_PER_S",
        "SWITCHBOARD_AUTH_RATE_LIMIT_BURST",
    ] {
        env.entry(limit.into()).or_insert_with(|| "1000000".into());
    }
    let config = Config::from_sources(None, &env)?;

    // The engine on its own runtime; the load generator on another, as a separate client would be.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let (engine, listener) = server_rt.block_on(async {
        let listener = Engine::bind(&config).await?;
        let engine = Engine::start(config).await?;
        anyhow::Ok((engine, listener))
    })?;
    let addr = listener.local_addr()?;
    let outcome = server_rt.block_on(async {
        let (report, reused) = fixture(&engine, &data_dir, &spec, knobs.seed_connections).await?;
        let size = database_size(&engine).await?;
        anyhow::Ok((report, reused, size))
    });
    let (report, reused, size) = match outcome {
        Ok(v) => v,
        Err(err) => {
            server_rt.block_on(engine.stop())?;
            return Err(err);
        }
    };

    println!(
        "history bench: engine on http://{addr}, managed PostgreSQL in {}, {} cores",
        data_dir.display(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!();
    println!(
        "| fixture{} | value |",
        if reused {
            " (reused from BENCH_DATA_DIR)"
        } else {
            ""
        }
    );
    println!("|---|---|");
    println!(
        "| rows | {} ({} calls + conversations, {} messages, {} customers) |",
        report.rows(),
        report.calls,
        report.messages,
        report.customers
    );
    println!(
        "| long call | {} ({}), {} messages |",
        report.long_call.id, report.long_call.call_sid, report.long_call.messages
    );
    println!(
        "| time range (call starts) | {} .. {} |",
        report.first_call_at, report.last_call_at
    );
    println!(
        "| seeding | {:.1} s ({:.1} s COPY, the rest VACUUM ANALYZE), {:.0} rows/s |",
        report.seconds, report.load_seconds, report.rows_per_second
    );
    println!("| database size | {} |", mib(size.database_bytes));
    for (table, bytes) in &size.tables {
        println!("| {table} (with indexes) | {} |", mib(*bytes));
    }
    println!();

    // Every simulated user (dashboard) has an API key of its own, as in production; the rate
    // limit is lifted (see the engine's environment above): a closed loop would hit it at once.
    let keys = server_rt.block_on(async {
        let mut keys = Vec::with_capacity(knobs.clients);
        for i in 0..knobs.clients {
            let created = switchboard::accounts::issue_api_key(
                engine.store(),
                switchboard_actors::persistence::DEFAULT_ORG,
                &format!("bench client {i}"),
                switchboard::auth::Role::Supervisor,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            keys.push(created.key);
        }
        anyhow::Ok(keys)
    })?;

    // Serve and load.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(async move {
        engine
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await;
        engine
    });
    let targets = std::sync::Arc::new(Targets::new(format!("http://{addr}"), &report));
    // One client per simulated user, kept for the whole run: its keep-alive connection is opened
    // in the first warm-up and reused after.
    let http = keys
        .iter()
        .map(|key| http_client(key))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut figures = Vec::new();
    println!(
        "load: {} clients, {} s per scenario and mode after {} s warm-up",
        knobs.clients, knobs.seconds, knobs.warmup_seconds
    );
    let mut rng = Rng::new(1);
    for scenario in &knobs.scenarios {
        let example = targets.url(scenario, &mut rng);
        println!(
            "{}: e.g. GET {}",
            scenario.name,
            &example[targets.base.len()..]
        );
    }
    println!();
    println!(
        "| scenario | mode | requests | errors | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | target p99 | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let result = load_rt.block_on(async {
        for (i, scenario) in knobs.scenarios.iter().enumerate() {
            let seed = 0xB0A7 + i as u64;
            if knobs.warmup_seconds > 0.0 {
                run(
                    &targets,
                    scenario,
                    &http,
                    knobs.warmup_seconds,
                    Mode::Closed,
                    1.0,
                    seed ^ 1,
                )
                .await?;
            }
            let mut closed_rate = None;
            if knobs.closed {
                let f = run(
                    &targets,
                    scenario,
                    &http,
                    knobs.seconds,
                    Mode::Closed,
                    1.0,
                    seed,
                )
                .await?;
                print_figures(&f);
                closed_rate = Some(f.requests_per_s);
                figures.push(f);
            }
            if knobs.open {
                let rate = match (knobs.rate, closed_rate) {
                    (Some(r), _) => r,
                    (None, Some(r)) => (r / 2.0).max(1.0),
                    (None, None) => bail!("BENCH_MODES=open needs BENCH_RATE"),
                };
                let f = run(
                    &targets,
                    scenario,
                    &http,
                    knobs.seconds,
                    Mode::Open,
                    rate,
                    seed ^ 2,
                )
                .await?;
                print_figures(&f);
                figures.push(f);
            }
        }
        anyhow::Ok(())
    });
    let _ = stop.send(());
    let engine = server_rt.block_on(server)?;
    server_rt.block_on(engine.stop())?;
    result?;

    println!();
    for f in figures.iter().filter(|f| f.errors > 0) {
        let detail: Vec<String> = f
            .errors_by_status
            .iter()
            .map(|(s, n)| format!("{s} × {n}"))
            .collect();
        println!(
            "errors in {} ({:?}): {}",
            f.scenario,
            f.mode,
            detail.join(", ")
        );
    }
    if let Some(path) = &knobs.json {
        let output = Output {
            fixture: FixtureFigures {
                reused,
                calls: report.calls,
                messages: report.messages,
                customers: report.customers,
                rows: report.rows(),
                seconds: report.seconds,
                load_seconds: report.load_seconds,
                rows_per_second: report.rows_per_second,
                long_call_id: report.long_call.id.to_string(),
                long_call_sid: report.long_call.call_sid.clone(),
            },
            database: &size,
            scenarios: &figures,
        };
        std::fs::write(path, serde_json::to_vec_pretty(&output)?)?;
        println!("figures written to {}", path.display());
    }
    drop(temp);
    Ok(())
}
