//! The history API's test harness: a real engine (managed PostgreSQL, real socket), an HTTP client,
//! and a seeder that writes calls with exactly known fields and messages.

use crate::harness::engine::LocalEngine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use switchboard_actors::persistence::DEFAULT_ORG;
use uuid::Uuid;

pub struct Api {
    pub base: String,
    /// Requests carry an admin API key of the default organization.
    pub http: reqwest::Client,
    pub token: String,
    pub pg: tokio_postgres::Client,
    engine: LocalEngine,
}

impl Api {
    pub async fn start() -> Api {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&str, &str)]) -> Api {
        let engine = LocalEngine::with_settings(extra).await.unwrap();
        let base = engine.endpoint("");
        let token = switchboard::accounts::issue_api_key(
            engine.store(),
            DEFAULT_ORG,
            "history tests",
            switchboard::auth::Role::Admin,
        )
        .await
        .unwrap()
        .key;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        let pg = engine.client().await.unwrap();
        Api {
            base,
            http,
            token,
            pg,
            engine,
        }
    }

    pub async fn stop(self) {
        self.engine.shutdown().await.unwrap();
    }

    /// The engine itself (its URL, live events, calls).
    pub fn engine(&self) -> &LocalEngine {
        &self.engine
    }

    /// The engine's store.
    pub fn store(&self) -> &switchboard::store::Store {
        self.engine.store()
    }

    /// GET `path`; the status and the body as JSON (or as a JSON string when it is not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        read(response).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// GET that must answer 200.
    pub async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Asserts a 400 whose message names `needle`.
    pub async fn bad(&self, path: &str, needle: &str) {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 400, "GET {path}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "GET {path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(needle),
            "GET {path}: `{message}` does not name `{needle}`"
        );
    }
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// A moment of the seeded history: `2026-11-01T00:00:00Z` plus `s` seconds.
pub fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_793_491_200, 0).unwrap() + Duration::seconds(s)
}

/// RFC 3339 as the API writes it.
pub fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A call to seed, with everything the API shows.
#[derive(Debug, Clone)]
pub struct CallSeed {
    pub sid: String,
    pub from: String,
    pub to: String,
    pub direction: &'static str,
    pub status: &'static str,
    pub started: DateTime<Utc>,
    pub duration_s: Option<i32>,
    pub agent: Option<String>,
    pub sentiment: Option<&'static str>,
    pub customer: Option<Uuid>,
    pub org: Uuid,
    /// (type, sender type, content, seconds after the start, metadata)
    pub messages: Vec<(&'static str, &'static str, String, i64, Value)>,
}

impl CallSeed {
    pub fn new(n: usize, started: DateTime<Utc>) -> CallSeed {
        CallSeed {
            sid: format!("CA{n:032x}"),
            from: format!("+1415555{:04}", n % 10_000),
            to: "+18005550100".to_owned(),
            direction: "inbound",
            status: "completed",
            started,
            duration_s: Some(60),
            agent: None,
            sentiment: None,
            customer: None,
            org: DEFAULT_ORG,
            messages: Vec::new(),
        }
    }
}

/// What seeding a call made.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub call: Uuid,
    pub conversation: Uuid,
}

/// Writes a customer; returns its id.
pub async fn customer(pg: &tokio_postgres::Client, org: Uuid, name: &str, phone: &str) -> Uuid {
    let id = Uuid::now_v7();
    pg.execute(
        "INSERT INTO customers (id, org_id, name, phone, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        &[&id, &org, &name, &phone, &t(0)],
    )
    .await
    .unwrap();
    id
}

/// Another organization.
pub async fn organization(pg: &tokio_postgres::Client, slug: &str) -> Uuid {
    let id = Uuid::now_v7();
    pg.execute(
        "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $2)",
        &[&id, &slug],
    )
    .await
    .unwrap();
    id
}

/// Writes the conversation, the call and its messages exactly as described.
pub async fn seed(pg: &tokio_postgres::Client, call: &CallSeed) -> Seeded {
    let conversation = Uuid::now_v7();
    let id = Uuid::now_v7();
    let ended = call
        .duration_s
        .map(|d| call.started + Duration::seconds(i64::from(d)));
    let finished = matches!(
        call.status,
        "completed" | "failed" | "busy" | "no-answer" | "canceled"
    );
    let conversation_status = match call.status {
        "completed" => "completed",
        s if finished && s != "completed" => "failed",
        _ => "active",
    };
    let last_activity = ended.unwrap_or(call.started);
    pg.execute(
        "INSERT INTO conversations (id, org_id, customer_id, channel, status, initiated_at, last_activity_at,
                                    completed_at, sentiment, created_at, updated_at)
         VALUES ($1, $2, $3, 'voice', $4, $5, $6, $7, $8, $5, $5)",
        &[
            &conversation,
            &call.org,
            &call.customer,
            &conversation_status,
            &call.started,
            &last_activity,
            &(if finished { ended } else { None }),
            &call.sentiment,
        ],
    )
    .await
    .unwrap();
    pg.execute(
        "INSERT INTO calls (id, org_id, conversation_id, call_sid, from_number, to_number, direction, status,
                            started_at, answered_at, ended_at, duration_seconds, agent, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $9, $9)",
        &[
            &id,
            &call.org,
            &conversation,
            &call.sid,
            &call.from,
            &call.to,
            &call.direction,
            &call.status,
            &call.started,
            &ended,
            &call.duration_s,
            &call.agent,
        ],
    )
    .await
    .unwrap();
    for (message_type, sender, content, at, metadata) in &call.messages {
        let direction = match *sender {
            "customer" => "inbound",
            "ai" | "agent" => "outbound",
            _ => "internal",
        };
        let sender_json = match *sender {
            "customer" => {
                json!({"type": "customer", "identifier": call.from, "phone_number": call.from})
            }
            other => json!({"type": other, "identifier": other}),
        };
        let stamp = call.started + Duration::seconds(*at);
        pg.execute(
            r#"INSERT INTO messages (id, org_id, conversation_id, message_type, direction, sender, content,
                                     "timestamp", metadata, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $8)"#,
            &[&Uuid::now_v7(), &call.org, &conversation, message_type, &direction, &sender_json, content, &stamp, metadata],
        )
        .await
        .unwrap();
    }
    Seeded {
        call: id,
        conversation,
    }
}

/// A call of `org` with a customer (`name`, `phone`) and one transcript message saying `words`:
/// its ids, the customer's and the message's.
pub async fn seed_with_message(
    pg: &tokio_postgres::Client,
    org: Uuid,
    n: usize,
    (name, phone): (&str, &str),
    words: &str,
) -> (Seeded, Uuid, Uuid) {
    let person = customer(pg, org, name, phone).await;
    let mut call = CallSeed::new(n, t(0));
    call.org = org;
    call.customer = Some(person);
    call.messages
        .push(("transcript", "customer", words.to_owned(), 1, json!({})));
    let seeded = seed(pg, &call).await;
    let message: Uuid = pg
        .query_one(
            "SELECT id FROM messages WHERE conversation_id = $1",
            &[&seeded.conversation],
        )
        .await
        .unwrap()
        .get(0);
    (seeded, person, message)
}
