//! `ToolServer`: the customer's side of webhook tools, an HTTP server on 127.0.0.1 that plays
//! the organization's endpoint for tests and the demo.
//!
//! It serves `POST /tools/{name}` ([`ToolServer::url`]) and reacts as a real endpoint should:
//! it verifies the `X-Switchboard-Timestamp` / `X-Switchboard-Signature` headers with
//! [`switchboard::tools::signing::verify`] and answers 401 `{"error":"bad signature"}` when they
//! do not hold. A request that passes gets the [`Behaviour`] set for its tool name
//! ([`ToolServer::set`]; [`Behaviour::Echo`] by default): a JSON answer, a delay, an error
//! status, a body that is not JSON, or a body too large for the engine.
//!
//! Every request is recorded ([`ToolServer::requests`]) with its parsed body and whether its
//! signature held, and the server counts the requests it is answering at once
//! ([`ToolServer::max_in_flight`]), so a test can prove that calls ran concurrently, or did not.
//!
//! It stops when dropped, or with [`ToolServer::stop`].

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use switchboard::tools::signing::{REPLAY_WINDOW_S, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::Response;

/// Largest request body accepted.
const MAX_REQUEST_BYTES: u64 = 1 << 20;
/// How long [`ToolServer::stop`] lets open requests finish before aborting the server.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How the endpoint answers a tool's requests (once their signature holds).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Behaviour {
    /// 200 with this JSON.
    Json(Value),
    /// 200 with `{"echo": <the request's arguments>}` (the default).
    #[default]
    Echo,
    /// Waits `ms` milliseconds, then behaves as `then`.
    Slow { ms: u64, then: Box<Behaviour> },
    /// This status, with `{"error":"scripted status <code>"}`; a 3xx also carries
    /// `Location: /tools/moved_<name>`, so a client that followed it would be seen there.
    Status(u16),
    /// 200 with a body that is not JSON.
    NotJson,
    /// 200 with a JSON string of this many bytes.
    Huge(usize),
}

/// One request the endpoint received.
#[derive(Debug, Clone)]
pub struct ToolRequest {
    /// The tool name of the path.
    pub name: String,
    /// The body, parsed (`null` when it was not JSON).
    pub body: Value,
    /// Whether the signature headers held for the server's secret.
    pub signature_ok: bool,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    pub received_at: Instant,
}

struct Shared {
    secret: Vec<u8>,
    behaviours: Mutex<HashMap<String, Behaviour>>,
    requests: Mutex<Vec<ToolRequest>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A running fake webhook endpoint on `127.0.0.1`.
pub struct ToolServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl ToolServer {
    /// Binds `127.0.0.1:0` and serves, verifying signatures with `secret`. Must be called inside
    /// a Tokio runtime (an error otherwise).
    pub fn start(secret: Vec<u8>) -> io::Result<ToolServer> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|err| io::Error::other(format!("ToolServer needs a Tokio runtime: {err}")))?;
        let std_listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let shared = Arc::new(Shared {
            secret,
            behaviours: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let route_shared = Arc::clone(&shared);
        let routes = warp::post()
            .and(warp::path!("tools" / String))
            .and(warp::header::headers_cloned())
            .and(warp::body::content_length_limit(MAX_REQUEST_BYTES))
            .and(warp::body::bytes())
            .then(move |name: String, headers: HeaderMap, body: Bytes| {
                handle(Arc::clone(&route_shared), name, headers, body)
            });
        let (shutdown, mut stop) = watch::channel(false);
        let server = warp::serve(routes)
            .incoming(listener)
            .graceful(async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            })
            .run();
        let server = runtime.spawn(server);
        tracing::debug!(%addr, "tool server: listening");
        Ok(ToolServer {
            addr,
            shared,
            shutdown,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT/tools/{name}`: the URL of a tool served here.
    pub fn url(&self, name: &str) -> Url {
        let mut url = Url::parse(&format!("http://{}/tools/", self.addr))
            .expect("a socket address makes a valid URL");
        url.path_segments_mut()
            .expect("an http URL has a path")
            .pop_if_empty()
            .push(name);
        url
    }

    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How requests for tool `name` are answered from now on.
    pub fn set(&self, name: &str, behaviour: Behaviour) {
        lock(&self.shared.behaviours).insert(name.to_owned(), behaviour);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ToolRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests ever answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Stops accepting, lets open requests finish (aborting them after a short grace period)
    /// and closes the connections.
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }
}

impl Drop for ToolServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts a request in flight until dropped (also when the client goes away mid-answer).
struct InFlight(Arc<Shared>);

impl InFlight {
    fn enter(shared: &Arc<Shared>) -> InFlight {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(Arc::clone(shared))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(shared: Arc<Shared>, name: String, headers: HeaderMap, body: Bytes) -> Response {
    let _in_flight = InFlight::enter(&shared);
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let signature_ok = verify(
        &shared.secret,
        &text(TIMESTAMP_HEADER).unwrap_or_default(),
        &text(SIGNATURE_HEADER).unwrap_or_default(),
        &body,
        chrono::Utc::now().timestamp(),
        REPLAY_WINDOW_S,
    )
    .is_ok();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    lock(&shared.requests).push(ToolRequest {
        name: name.clone(),
        body: parsed.clone(),
        signature_ok,
        user_agent: text(header::USER_AGENT.as_str()),
        content_type: text(header::CONTENT_TYPE.as_str()),
        received_at: Instant::now(),
    });
    if !signature_ok {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": "bad signature"}).to_string(),
        );
    }
    let mut behaviour = lock(&shared.behaviours)
        .get(&name)
        .cloned()
        .unwrap_or_default();
    while let Behaviour::Slow { ms, then } = behaviour {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        behaviour = *then;
    }
    match behaviour {
        Behaviour::Slow { .. } => unreachable!("delays are waited out above"),
        Behaviour::Json(value) => json_response(StatusCode::OK, value.to_string()),
        Behaviour::Echo => json_response(
            StatusCode::OK,
            json!({"echo": parsed.get("arguments").cloned().unwrap_or(Value::Null)}).to_string(),
        ),
        Behaviour::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = json!({"error": format!("scripted status {code}")});
            let mut response = json_response(status, body.to_string());
            if status.is_redirection()
                && let Ok(location) = HeaderValue::from_str(&format!("/tools/moved_{name}"))
            {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Behaviour::NotJson => {
            let mut response = json_response(StatusCode::OK, "<html>not JSON</html>".into());
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            response
        }
        Behaviour::Huge(bytes) => json_response(
            StatusCode::OK,
            format!("\"{}\"", "x".repeat(bytes.saturating_sub(2))),
        ),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use switchboard::tools::{
        MAX_RESULT_BYTES, ToolClient, ToolContext, ToolLimits, ToolOutcome, ToolStatus, WebhookTool,
    };
    use uuid::Uuid;

    use super::*;

    const SECRET: &[u8] = b"whsec_tool_server_test";

    fn tool(server: &ToolServer, name: &str, timeout_ms: u32) -> WebhookTool {
        WebhookTool::parse(&json!({
            "name": name,
            "description": "Looks an order up.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "card_number": {"type": "string"}
                },
                "required": ["order_id"]
            },
            "url": server.url(name).as_str(),
            "timeout_ms": timeout_ms,
            "secret_fields": ["card_number"]
        }))
        .unwrap()
    }

    fn context() -> ToolContext {
        ToolContext {
            org_id: Uuid::new_v4(),
            call_id: Uuid::new_v4(),
            conversation_id: Uuid::new_v4(),
            call_sid: "CA0123456789abcdef0123456789abcdef".into(),
            from: "+15550100".into(),
            to: "+15550111".into(),
            profile_id: Some(Uuid::new_v4()),
            profile_version: Some(2),
        }
    }

    fn output(outcome: &ToolOutcome) -> Value {
        serde_json::from_str(&outcome.output).expect("the output is always JSON")
    }

    fn client() -> ToolClient {
        ToolClient::new(ToolLimits::new(10, 100))
    }

    const ARGS: &str = r#"{"order_id":"A-7"}"#;

    #[tokio::test]
    async fn a_call_gets_the_endpoints_json_as_its_result() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let lookup = tool(&server, "lookup_order", 5000);
        server.set(
            "lookup_order",
            Behaviour::Json(json!({"status": "shipped"})),
        );
        let context = context();
        let outcome = client()
            .call(&lookup, SECRET, &context, "call_abc", ARGS)
            .await;
        assert_eq!(outcome.status, ToolStatus::Ok, "{}", outcome.output);
        assert_eq!(
            output(&outcome),
            json!({"ok": true, "result": {"status": "shipped"}})
        );
        assert_eq!(outcome.result_bytes, r#"{"status":"shipped"}"#.len());

        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert!(request.signature_ok, "the engine's signature verifies");
        assert_eq!(request.name, "lookup_order");
        assert_eq!(request.user_agent.as_deref(), Some("Switchboard-Tools/1"));
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        let body = &request.body;
        assert_eq!(body["tool"], "lookup_order");
        assert_eq!(body["tool_call_id"], "call_abc");
        assert_eq!(body["arguments"], json!({"order_id": "A-7"}));
        assert_eq!(body["call"], serde_json::to_value(&context).unwrap());
        let sent_at = body["sent_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(sent_at).is_ok(),
            "{sent_at}"
        );
    }

    #[tokio::test]
    async fn the_default_behaviour_echoes_the_arguments() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let echo = tool(&server, "echo", 5000);
        let args = r#"{"order_id":"A-8","card_number":"4111111111111111"}"#;
        let outcome = client().call(&echo, SECRET, &context(), "c1", args).await;
        assert_eq!(outcome.status, ToolStatus::Ok);
        assert_eq!(
            output(&outcome)["result"]["echo"],
            json!({"order_id": "A-8", "card_number": "4111111111111111"}),
            "the endpoint gets the real values; only logs and records are masked"
        );
    }

    #[tokio::test]
    async fn a_slow_endpoint_times_out_within_the_tools_timeout() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let slow = tool(&server, "slow", 300);
        server.set(
            "slow",
            Behaviour::Slow {
                ms: 5_000,
                then: Box::new(Behaviour::Echo),
            },
        );
        let outcome = client().call(&slow, SECRET, &context(), "c1", ARGS).await;
        assert_eq!(outcome.status, ToolStatus::Timeout);
        assert!(
            outcome.latency >= Duration::from_millis(300),
            "{:?}",
            outcome.latency
        );
        assert!(
            outcome.latency < Duration::from_millis(3_000),
            "the call ends at its timeout, not the endpoint's answer: {:?}",
            outcome.latency
        );
        let out = output(&outcome);
        assert_eq!(out["ok"], false);
        assert_eq!(out["error"], "timeout");
        assert!(out["message"].as_str().unwrap().contains("300 ms"), "{out}");
    }

    #[tokio::test]
    async fn an_error_status_goes_back_to_the_model_naming_the_code() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let failing = tool(&server, "failing", 5000);
        server.set("failing", Behaviour::Status(500));
        let outcome = client()
            .call(&failing, SECRET, &context(), "c1", ARGS)
            .await;
        assert_eq!(outcome.status, ToolStatus::HttpStatus(500));
        let out = output(&outcome);
        assert_eq!(out["error"], "http_status");
        assert_eq!(out["http_status"], 500);
        assert!(out["message"].as_str().unwrap().contains("500"), "{out}");
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let moved = tool(&server, "moved", 5000);
        server.set("moved", Behaviour::Status(307));
        let outcome = client().call(&moved, SECRET, &context(), "c1", ARGS).await;
        assert_eq!(outcome.status, ToolStatus::HttpStatus(307));
        let paths: Vec<String> = server.requests().into_iter().map(|r| r.name).collect();
        assert_eq!(paths, ["moved"], "the Location was not visited");
        // The server's redirect does lead somewhere: a client that follows it gets there.
        let now = chrono::Utc::now().timestamp();
        let followed = reqwest::Client::new()
            .post(server.url("moved"))
            .header(TIMESTAMP_HEADER, now.to_string())
            .header(
                SIGNATURE_HEADER,
                switchboard::tools::sign(SECRET, now, b"{}"),
            )
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(followed.status(), 200);
        let paths: Vec<String> = server.requests().into_iter().map(|r| r.name).collect();
        assert_eq!(paths, ["moved", "moved", "moved_moved"]);
    }

    #[tokio::test]
    async fn an_answer_that_is_not_json_is_invalid_json() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let html = tool(&server, "html", 5000);
        server.set("html", Behaviour::NotJson);
        let outcome = client().call(&html, SECRET, &context(), "c1", ARGS).await;
        assert_eq!(outcome.status, ToolStatus::InvalidJson);
        assert_eq!(output(&outcome)["error"], "invalid_json");
        assert!(outcome.result_bytes > 0);
    }

    #[tokio::test]
    async fn a_huge_answer_is_too_large_and_not_buffered() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let huge = tool(&server, "huge", 5000);
        server.set("huge", Behaviour::Huge(1 << 20));
        let outcome = client().call(&huge, SECRET, &context(), "c1", ARGS).await;
        assert_eq!(outcome.status, ToolStatus::TooLarge);
        assert!(
            outcome.result_bytes <= MAX_RESULT_BYTES + 64 * 1024,
            "{}",
            outcome.result_bytes
        );
        let out = output(&outcome);
        assert_eq!(out["error"], "too_large");
        assert!(
            outcome.output.len() < 1024,
            "the output holds no part of the answer"
        );
        // Just over the limit is refused too; just under is fine.
        server.set("huge", Behaviour::Huge(MAX_RESULT_BYTES + 1));
        let over = client().call(&huge, SECRET, &context(), "c2", ARGS).await;
        assert_eq!(over.status, ToolStatus::TooLarge);
        server.set("huge", Behaviour::Huge(MAX_RESULT_BYTES));
        let at = client().call(&huge, SECRET, &context(), "c3", ARGS).await;
        assert_eq!(at.status, ToolStatus::Ok);
        assert_eq!(at.result_bytes, MAX_RESULT_BYTES);
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused_by_the_endpoint_with_401() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let lookup = tool(&server, "lookup_order", 5000);
        let outcome = client()
            .call(&lookup, b"not the secret", &context(), "c1", ARGS)
            .await;
        assert_eq!(outcome.status, ToolStatus::HttpStatus(401));
        assert_eq!(output(&outcome)["http_status"], 401);
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert!(!requests[0].signature_ok);
    }

    #[tokio::test]
    async fn invalid_arguments_are_answered_without_a_request() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let lookup = tool(&server, "lookup_order", 5000);
        let client = client();
        for bad in [r#"{"order_id": 7}"#, "{}", "order A-7"] {
            let outcome = client.call(&lookup, SECRET, &context(), "c1", bad).await;
            assert_eq!(outcome.status, ToolStatus::InvalidArguments, "{bad}");
            let out = output(&outcome);
            assert_eq!(out["error"], "invalid_arguments");
            assert!(!out["message"].as_str().unwrap().is_empty());
        }
        assert!(server.requests().is_empty(), "nothing was forwarded");
    }

    #[tokio::test]
    async fn an_endpoint_that_is_gone_is_unreachable() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let lookup = tool(&server, "lookup_order", 5000);
        server.stop().await;
        let outcome = client().call(&lookup, SECRET, &context(), "c1", ARGS).await;
        assert_eq!(outcome.status, ToolStatus::Unreachable);
        assert_eq!(output(&outcome)["error"], "unreachable");
    }

    async fn three_slow_calls(limits: ToolLimits) -> (ToolServer, Vec<ToolOutcome>) {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let slow = tool(&server, "slow", 10_000);
        server.set(
            "slow",
            Behaviour::Slow {
                ms: 300,
                then: Box::new(Behaviour::Echo),
            },
        );
        let client = ToolClient::new(limits);
        let context = context();
        let (a, b, c) = tokio::join!(
            client.call(&slow, SECRET, &context, "c1", r#"{"order_id":"1"}"#),
            client.call(&slow, SECRET, &context, "c2", r#"{"order_id":"2"}"#),
            client.call(&slow, SECRET, &context, "c3", r#"{"order_id":"3"}"#),
        );
        (server, vec![a, b, c])
    }

    #[tokio::test]
    async fn the_calls_of_one_response_run_concurrently() {
        let (server, outcomes) = three_slow_calls(ToolLimits::new(10, 100)).await;
        for (i, outcome) in outcomes.iter().enumerate() {
            assert_eq!(outcome.status, ToolStatus::Ok, "{}", outcome.output);
            assert_eq!(
                output(outcome)["result"]["echo"]["order_id"],
                (i + 1).to_string()
            );
        }
        assert_eq!(server.max_in_flight(), 3);
        assert_eq!(server.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_concurrency_limit_of_one_serializes_the_calls() {
        let (server, outcomes) = three_slow_calls(ToolLimits::new(1, 100)).await;
        for outcome in &outcomes {
            assert_eq!(outcome.status, ToolStatus::Ok, "{}", outcome.output);
        }
        assert_eq!(server.requests().len(), 3);
        assert_eq!(server.max_in_flight(), 1);
    }

    #[tokio::test]
    async fn a_call_waiting_for_a_slot_past_its_timeout_is_busy() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let slow = tool(&server, "slow", 2_000);
        let quick = tool(&server, "quick", 200);
        server.set(
            "slow",
            Behaviour::Slow {
                ms: 1_000,
                then: Box::new(Behaviour::Echo),
            },
        );
        let client = ToolClient::new(ToolLimits::new(1, 100));
        let context = context();
        let (first, second) =
            tokio::join!(client.call(&slow, SECRET, &context, "c1", ARGS), async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                client.call(&quick, SECRET, &context, "c2", ARGS).await
            },);
        assert_eq!(first.status, ToolStatus::Ok, "{}", first.output);
        assert_eq!(second.status, ToolStatus::Busy, "{}", second.output);
        assert_eq!(output(&second)["error"], "busy");
        assert_eq!(server.requests().len(), 1, "the busy call sent nothing");
    }

    #[tokio::test]
    async fn the_rate_limit_refuses_at_once_without_a_request() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let lookup = tool(&server, "lookup_order", 5000);
        let client = ToolClient::new(ToolLimits::with_burst(10, 1, 2));
        let ctx = context();
        let mut statuses = Vec::new();
        for i in 0..3 {
            let outcome = client
                .call(&lookup, SECRET, &ctx, &format!("c{i}"), ARGS)
                .await;
            statuses.push(outcome.status);
        }
        assert_eq!(
            statuses,
            [ToolStatus::Ok, ToolStatus::Ok, ToolStatus::RateLimited]
        );
        assert_eq!(server.requests().len(), 2);
        let other_org = client.call(&lookup, SECRET, &context(), "c9", ARGS).await;
        assert_eq!(
            other_org.status,
            ToolStatus::Ok,
            "the limit is per organization"
        );
    }

    #[tokio::test]
    async fn the_server_refuses_unsigned_and_stale_requests() {
        let server = ToolServer::start(SECRET.to_vec()).unwrap();
        let http = reqwest::Client::new();
        let body = r#"{"tool":"x","arguments":{}}"#;
        let unsigned = http.post(server.url("x")).body(body).send().await.unwrap();
        assert_eq!(unsigned.status(), 401);
        assert_eq!(
            unsigned.json::<Value>().await.unwrap(),
            json!({"error": "bad signature"})
        );
        let stale_at = chrono::Utc::now().timestamp() - REPLAY_WINDOW_S - 60;
        let stale = http
            .post(server.url("x"))
            .header(TIMESTAMP_HEADER, stale_at.to_string())
            .header(
                SIGNATURE_HEADER,
                switchboard::tools::sign(SECRET, stale_at, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 401, "a replayed request is refused");
        let now = chrono::Utc::now().timestamp();
        let fresh = http
            .post(server.url("x"))
            .header(TIMESTAMP_HEADER, now.to_string())
            .header(
                SIGNATURE_HEADER,
                switchboard::tools::sign(SECRET, now, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(fresh.status(), 200);
        assert_eq!(fresh.json::<Value>().await.unwrap(), json!({"echo": {}}));
        let oks: Vec<bool> = server.requests().iter().map(|r| r.signature_ok).collect();
        assert_eq!(oks, [false, false, true]);
    }
}
