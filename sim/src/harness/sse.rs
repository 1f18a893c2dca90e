//! A minimal Server-Sent Events client over a raw TCP socket (HTTP/1.1, chunked bodies), so that
//! tests control exactly when bytes are read — including not reading at all.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

/// One thing on the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event {
        id: Option<u64>,
        event: String,
        data: serde_json::Value,
    },
    Comment(String),
}

impl Item {
    pub fn id(&self) -> Option<u64> {
        match self {
            Item::Event { id, .. } => *id,
            Item::Comment(_) => None,
        }
    }

    pub fn kind(&self) -> &str {
        match self {
            Item::Event { event, .. } => event,
            Item::Comment(_) => ":",
        }
    }

    pub fn data(&self) -> &serde_json::Value {
        match self {
            Item::Event { data, .. } => data,
            Item::Comment(_) => &serde_json::Value::Null,
        }
    }
}

/// An open event stream.
pub struct SseClient {
    socket: TcpStream,
    /// Bytes read and not yet de-chunked.
    raw: Vec<u8>,
    /// De-chunked body text not yet parsed into items.
    body: String,
    /// The terminating chunk arrived.
    ended: bool,
}

/// The bearer token every stream request carries, once the test's engine has one (a test is a
/// process of its own under nextest).
pub static BEARER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl SseClient {
    /// Sends `GET path` with `headers` (and the [`BEARER`] token) and returns before reading
    /// anything.
    pub async fn send(base: &Url, path: &str, headers: &[(&str, &str)]) -> SseClient {
        let addr = format!(
            "{}:{}",
            base.host_str().unwrap(),
            base.port_or_known_default().unwrap()
        );
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n",
            base.authority()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(token) = BEARER.get() {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        SseClient {
            socket,
            raw: Vec::new(),
            body: String::new(),
            ended: false,
        }
    }

    /// Opens a stream: sends the request and reads the response head, which must be a 200
    /// `text/event-stream`.
    pub async fn open(base: &Url, path: &str, headers: &[(&str, &str)]) -> SseClient {
        let mut client = Self::send(base, path, headers).await;
        tokio::time::timeout(Duration::from_secs(30), client.read_head())
            .await
            .expect("no response head");
        client
    }

    /// Reads the response head; panics unless it is a chunked 200 `text/event-stream`.
    pub async fn read_head(&mut self) {
        loop {
            if let Some(end) = find(&self.raw, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.raw[..end]).to_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                assert!(head.contains("content-type: text/event-stream"), "{head}");
                assert!(head.contains("transfer-encoding: chunked"), "{head}");
                self.raw.drain(..end + 4);
                return;
            }
            assert!(self.fill().await, "connection closed before the head");
        }
    }

    /// Reads more bytes; false at EOF.
    async fn fill(&mut self) -> bool {
        self.raw.reserve(64 * 1024);
        let n = self.socket.read_buf(&mut self.raw).await.expect("read");
        n > 0
    }

    /// Moves complete chunks from `raw` to `body`.
    fn dechunk(&mut self) {
        while !self.ended {
            let Some(line_end) = find(&self.raw, b"\r\n") else {
                return;
            };
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.trim(), 16).expect("chunk size");
            if size == 0 {
                self.ended = true;
                return;
            }
            let start = line_end + 2;
            if self.raw.len() < start + size + 2 {
                return;
            }
            self.body
                .push_str(std::str::from_utf8(&self.raw[start..start + size]).expect("UTF-8"));
            self.raw.drain(..start + size + 2);
        }
    }

    /// The next item; `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(end) = self.body.find("\n\n") {
                let block: String = self.body.drain(..end + 2).collect();
                if block.starts_with("retry:") {
                    // The stream's opening field: the client's reconnect delay, not an item.
                    continue;
                }
                return Some(parse_block(&block));
            }
            self.dechunk();
            if self.body.contains("\n\n") {
                continue;
            }
            if self.ended {
                return None;
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next item, waiting at most `limit` (a bound on a hung test, not a timing check).
    pub async fn next_within(&mut self, limit: Duration) -> Option<Item> {
        tokio::time::timeout(limit, self.next())
            .await
            .expect("the event stream stalled")
    }

    /// Events (comments skipped) until `until` matches one (included), within 30 s.
    pub async fn events_until(&mut self, until: impl Fn(&Item) -> bool) -> Vec<Item> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut out = Vec::new();
        loop {
            let item = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| panic!("the awaited event never came; got {out:#?}"))
                .unwrap_or_else(|| panic!("the stream ended; got {out:#?}"));
            if matches!(item, Item::Comment(_)) {
                continue;
            }
            let done = until(&item);
            out.push(item);
            if done {
                return out;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_block(block: &str) -> Item {
    let (mut id, mut event, mut data, mut comment) = (None, None, None, None);
    for line in block.lines() {
        if let Some(text) = line.strip_prefix(':') {
            comment = Some(text.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse::<u64>().expect("numeric id"));
        } else if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data = Some(serde_json::from_str(v.trim()).expect("JSON data"));
        }
    }
    match (event, comment) {
        (Some(event), _) => Item::Event {
            id,
            event,
            data: data.unwrap_or(serde_json::Value::Null),
        },
        (None, Some(comment)) => Item::Comment(comment),
        (None, None) => panic!("unexpected block {block:?}"),
    }
}
