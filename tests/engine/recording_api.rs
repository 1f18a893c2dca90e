//! `GET /api/v1/calls/{id}/recording` against a real managed PostgreSQL and real WAV files: the
//! whole file, byte ranges (206 / 416), by UUID and by CallSid, the download disposition, every 404
//! and 400, organization scoping, and streaming of a large file from disk as the client reads.

use switchboard_sim::harness::test_db as db;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use db::TestDb;
use switchboard::config::Config;
use switchboard::http::{Deps, error::ErrorBody, routes};
use switchboard::store::Store;
use switchboard::store::calls::{NewInboundCall, StreamCall};
use switchboard_actors::audio::RecordingInfo;
use switchboard_actors::domain::{CallDirection, CallStatus};
use switchboard_actors::persistence::DEFAULT_ORG;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;
use warp::http::StatusCode;
use warp::http::header::HeaderMap;

/// The admin API key the requests carry (one test per process under nextest).
static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn state(store: &Store) -> Deps {
    let created = switchboard::accounts::issue_api_key(
        store,
        DEFAULT_ORG,
        "recording tests",
        switchboard::auth::Role::Admin,
    )
    .await
    .unwrap();
    let _ = TOKEN.set(created.key);
    Deps::from_config(store.clone(), &Config::defaults())
}

fn bearer() -> String {
    format!("Bearer {}", TOKEN.get().expect("state() first"))
}

/// A call of organization `org_id` with CallSid `call_sid`, as the voice webhook creates it.
async fn create_call(store: &Store, org_id: Uuid, call_sid: &str) -> StreamCall {
    let ids = store
        .create_inbound_call(&NewInboundCall {
            org_id,
            call_sid: call_sid.to_owned(),
            account_sid: Some("AC00000000000000000000000000000000".to_owned()),
            from_number: "+14155550100".to_owned(),
            to_number: "+14155550199".to_owned(),
            direction: CallDirection::Inbound,
            status: CallStatus::Ringing,
            node: None,
        })
        .await
        .unwrap();
    store.stream_call(ids.call_id).await.unwrap().unwrap()
}

/// A stereo 16-bit 8 kHz WAV of `seconds` of a 440 Hz tone (caller) and silence (agent).
fn write_tone_wav(path: &Path, seconds: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for n in 0..8000 * seconds {
        let t = n as f64 / 8000.0;
        let tone = (t * 440.0 * std::f64::consts::TAU).sin() * 8000.0;
        writer.write_sample(tone as i16).unwrap();
        writer.write_sample(0i16).unwrap();
    }
    writer.finalize().unwrap();
    std::fs::read(path).unwrap()
}

/// Inserts the recording row for `path` as the recorder would at the end of a call.
async fn insert_recording(store: &Store, call: &StreamCall, path: &Path) {
    let bytes = std::fs::metadata(path).unwrap().len();
    store
        .insert_recording(
            call,
            &RecordingInfo {
                path: path.to_owned(),
                sample_rate: 8000,
                channels: 2,
                duration_ms: (bytes - 44) * 1000 / (8000 * 4),
                bytes,
            },
        )
        .await
        .unwrap();
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
}

async fn get(
    routes: &(
         impl warp::Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible>
         + Clone
         + 'static
     ),
    path: &str,
    range: Option<&str>,
) -> warp::http::Response<bytes::Bytes> {
    let mut request = warp::test::request()
        .method("GET")
        .path(path)
        .header("authorization", bearer());
    if let Some(range) = range {
        request = request.header("range", range);
    }
    request.reply(routes).await
}

fn error_body(res: &warp::http::Response<bytes::Bytes>) -> ErrorBody {
    assert_eq!(header(res.headers(), "content-type"), "application/json");
    serde_json::from_slice(res.body()).unwrap()
}

#[tokio::test]
async fn serves_the_wav_whole_and_by_byte_range_by_uuid_and_by_callsid() {
    let db = TestDb::start().await;
    let sid = "CA0123456789abcdef0123456789abcdef";
    let call = create_call(&db.store, DEFAULT_ORG, sid).await;
    let wav_path = db.dir.path().join("tone.wav");
    let wav = write_tone_wav(&wav_path, 3);
    let size = wav.len();
    assert_eq!(size, 44 + 3 * 8000 * 4);
    insert_recording(&db.store, &call, &wav_path).await;
    let routes = routes(state(&db.store).await);
    let by_id = format!("/api/v1/calls/{}/recording", call.call_id);
    let by_sid = format!("/api/v1/calls/{sid}/recording");

    // The whole file, by UUID and by CallSid.
    for path in [&by_id, &by_sid] {
        let res = get(&routes, path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let h = res.headers();
        assert_eq!(header(h, "content-type"), "audio/wav");
        assert_eq!(header(h, "accept-ranges"), "bytes");
        assert_eq!(header(h, "content-length"), size.to_string());
        assert_eq!(header(h, "cache-control"), "private");
        assert_eq!(
            header(h, "content-disposition"),
            format!("inline; filename=\"{sid}.wav\"")
        );
        assert!(h.get("content-range").is_none());
        assert_eq!(res.body().as_ref(), wav.as_slice());
    }
    // The body is the WAV that was written: the tone reads back.
    let res = get(&routes, &by_id, None).await;
    let reader = hound::WavReader::new(std::io::Cursor::new(res.body().to_vec())).unwrap();
    assert_eq!(reader.spec().channels, 2);
    assert_eq!(reader.duration(), 3 * 8000);

    // Ranges: (header, first, last) with the exact bytes and Content-Range.
    let last = size - 1;
    for (range, first, end) in [
        ("bytes=0-43", 0, 43),
        ("bytes=20000-29999", 20000, 29999),
        ("bytes=-100", size - 100, last),
        ("bytes=1000-", 1000, last),
        ("bytes=0-", 0, last),
        ("bytes=90000-999999999", 90000, last),
    ] {
        for path in [&by_id, &by_sid] {
            let res = get(&routes, path, Some(range)).await;
            assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{range}");
            let h = res.headers();
            assert_eq!(
                header(h, "content-range"),
                format!("bytes {first}-{end}/{size}"),
                "{range}"
            );
            assert_eq!(header(h, "content-length"), (end - first + 1).to_string());
            assert_eq!(header(h, "content-type"), "audio/wav");
            assert_eq!(header(h, "accept-ranges"), "bytes");
            assert_eq!(res.body().as_ref(), &wav[first..=end], "{range}");
        }
    }
    // The first 44 bytes are the WAV header.
    let res = get(&routes, &by_id, Some("bytes=0-43")).await;
    assert_eq!(&res.body()[..4], b"RIFF");
    assert_eq!(&res.body()[8..12], b"WAVE");

    // Unsatisfiable: 416, the JSON error shape and `Content-Range: bytes */SIZE`.
    for range in [
        format!("bytes={size}-"),
        format!("bytes={}-{}", size + 10, size + 20),
    ] {
        let res = get(&routes, &by_sid, Some(&range)).await;
        assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(
            header(res.headers(), "content-range"),
            format!("bytes */{size}")
        );
        let body = error_body(&res);
        assert_eq!(body.error.code, "range_not_satisfiable");
        assert!(
            body.error.message.contains(&size.to_string()),
            "{}",
            body.error.message
        );
    }

    // Invalid syntax and several ranges are ignored: the whole file, 200.
    for range in ["bytes=abc", "bytes=10-5", "pages=1-2", "bytes=0-9,20-29"] {
        let res = get(&routes, &by_id, Some(range)).await;
        assert_eq!(res.status(), StatusCode::OK, "{range}");
        assert!(res.headers().get("content-range").is_none());
        assert_eq!(res.body().as_ref(), wav.as_slice(), "{range}");
    }

    // download=true: a save-as; download=false: inline.
    let res = get(&routes, &format!("{by_sid}?download=true"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header(res.headers(), "content-disposition"),
        format!("attachment; filename=\"{sid}.wav\"")
    );
    assert_eq!(res.body().as_ref(), wav.as_slice());
    let res = get(
        &routes,
        &format!("{by_id}?download=true"),
        Some("bytes=-10"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert!(header(res.headers(), "content-disposition").starts_with("attachment;"));
    let res = get(&routes, &format!("{by_id}?download=false"), None).await;
    assert!(header(res.headers(), "content-disposition").starts_with("inline;"));

    // The latest recording is the one served.
    let newer_path = db.dir.path().join("newer.wav");
    let newer = write_tone_wav(&newer_path, 1);
    insert_recording(&db.store, &call, &newer_path).await;
    let res = get(&routes, &by_sid, None).await;
    assert_eq!(res.body().as_ref(), newer.as_slice());

    // Sizes come from the file on disk, not from the row's `bytes` column.
    let mut grown = newer.clone();
    grown.extend_from_slice(&[7u8; 100]);
    std::fs::write(&newer_path, &grown).unwrap();
    let res = get(&routes, &by_sid, Some("bytes=-100")).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(res.headers(), "content-range"),
        format!("bytes {}-{}/{}", newer.len(), grown.len() - 1, grown.len())
    );
    assert_eq!(res.body().as_ref(), &[7u8; 100]);
}

#[tokio::test]
async fn unknown_calls_missing_recordings_and_bad_queries_are_json_errors() {
    let db = TestDb::start().await;
    let routes = routes(state(&db.store).await);

    // A call with a recording, to show that the errors below are about their own call.
    let recorded = create_call(&db.store, DEFAULT_ORG, "CA_recorded").await;
    let wav_path = db.dir.path().join("recorded.wav");
    write_tone_wav(&wav_path, 1);
    insert_recording(&db.store, &recorded, &wav_path).await;
    let recorded_url = format!("/api/v1/calls/{}/recording", recorded.call_id);
    assert_eq!(
        get(&routes, &recorded_url, None).await.status(),
        StatusCode::OK
    );

    // Unknown call: by UUID, by a Twilio-shaped CallSid, by some other id.
    for id in [
        Uuid::now_v7().to_string(),
        "CAffffffffffffffffffffffffffffffff".to_owned(),
        "not-a-call".to_owned(),
    ] {
        let res = get(&routes, &format!("/api/v1/calls/{id}/recording"), None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{id}");
        let body = error_body(&res);
        assert_eq!(body.error.code, "not_found");
        assert_eq!(body.error.message, "call not found");
    }

    // A call without a recording.
    let silent = create_call(&db.store, DEFAULT_ORG, "CA_silent").await;
    for id in [silent.call_id.to_string(), silent.call_sid.clone()] {
        let res = get(&routes, &format!("/api/v1/calls/{id}/recording"), None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(error_body(&res).error.message, "recording not found");
    }

    // A recording row whose file is gone from disk.
    let lost = create_call(&db.store, DEFAULT_ORG, "CA_lost").await;
    let lost_path = db.dir.path().join("lost.wav");
    write_tone_wav(&lost_path, 1);
    insert_recording(&db.store, &lost, &lost_path).await;
    let lost_url = format!("/api/v1/calls/{}/recording", lost.call_sid);
    assert_eq!(get(&routes, &lost_url, None).await.status(), StatusCode::OK);
    std::fs::remove_file(&lost_path).unwrap();
    let res = get(&routes, &lost_url, Some("bytes=0-43")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_body(&res).error.message, "recording file not found");

    // A call of another organization is not found, by UUID or by CallSid, recording and all.
    let other_org = Uuid::now_v7();
    db.client()
        .await
        .execute(
            "INSERT INTO organizations (id, name, slug) VALUES ($1, 'Other', 'other')",
            &[&other_org],
        )
        .await
        .unwrap();
    let foreign = create_call(&db.store, other_org, "CA_foreign").await;
    let foreign_path = db.dir.path().join("foreign.wav");
    write_tone_wav(&foreign_path, 1);
    insert_recording(&db.store, &foreign, &foreign_path).await;
    for id in [foreign.call_id.to_string(), foreign.call_sid.clone()] {
        let res = get(&routes, &format!("/api/v1/calls/{id}/recording"), None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{id}");
        assert_eq!(error_body(&res).error.message, "call not found");
    }
    // ... while the store finds it in its own organization.
    let own = db
        .store
        .call_recording(
            other_org,
            &switchboard::history::CallKey::Id(foreign.call_id),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(own.recording.unwrap().path, foreign_path);

    // Bad query parameters: 400 naming the parameter, whatever the call.
    for (query, named) in [
        ("download=yes", "`download`"),
        ("download=1", "`download`"),
        ("download=true&download=true", "`download`"),
        ("format=mp3", "`format`"),
        ("download=true&speed=2", "`speed`"),
    ] {
        for base in [&recorded_url, "/api/v1/calls/not-a-call/recording"] {
            let res = get(&routes, &format!("{base}?{query}"), None).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
            let body = error_body(&res);
            assert_eq!(body.error.code, "bad_request");
            assert!(body.error.message.contains(named), "{}", body.error.message);
        }
    }

    // An id that no call can have: 400 saying why.
    let too_long = "C".repeat(65);
    for (id, says) in [
        (too_long.as_str(), "65 characters"),
        ("CA%20x", "character"),
    ] {
        let res = get(&routes, &format!("/api/v1/calls/{id}/recording"), None).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{id}");
        let body = error_body(&res);
        assert!(body.error.message.contains(says), "{}", body.error.message);
    }

    // Other methods on the route: 405 in the JSON shape.
    let res = warp::test::request()
        .method("DELETE")
        .path(&recorded_url)
        .reply(&routes)
        .await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_body(&res).error.code, "method_not_allowed");
}

/// A 44-byte PCM WAV header for `data_len` bytes of 8 kHz stereo 16-bit samples.
fn wav_header(data_len: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&2u16.to_le_bytes()); // channels
    h.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
    h.extend_from_slice(&(8000u32 * 4).to_le_bytes()); // byte rate
    h.extend_from_slice(&4u16.to_le_bytes()); // block align
    h.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

/// Reads from `socket` until `buf` holds `\r\n\r\n`; returns the header block and the body bytes
/// that came with it.
async fn read_head(socket: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).unwrap();
            return (head, buf[end + 4..].to_vec());
        }
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the end of the headers");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The file is read as the client reads, not into memory first: after the first bytes of the body
/// have arrived, bytes written far into the file on disk still reach the client.
#[tokio::test]
async fn a_large_recording_streams_from_disk_as_the_client_reads() {
    const SIZE: u64 = 50 * 1024 * 1024;
    const MARK_AT: u64 = 40 * 1024 * 1024;
    let db = TestDb::start().await;
    let call = create_call(&db.store, DEFAULT_ORG, "CA_large").await;
    let path: PathBuf = db.dir.path().join("large.wav");
    let header_bytes = wav_header((SIZE - 44) as u32);
    {
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(&header_bytes).unwrap();
        file.set_len(SIZE).unwrap(); // sparse: zeros after the header
    }
    insert_recording(&db.store, &call, &path).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(switchboard::http::run(
        listener,
        state(&db.store).await,
        async {
            let _ = stop_rx.await;
        },
    ));

    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /api/v1/calls/{}/recording HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        call.call_id,
        bearer()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let (head, mut body) = read_head(&mut socket).await;
    let head_lower = head.to_ascii_lowercase();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head_lower.contains(&format!("content-length: {SIZE}")),
        "{head}"
    );
    assert!(!head_lower.contains("transfer-encoding"), "{head}");
    while body.len() < 44 {
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(&body[..44], header_bytes.as_slice());

    // The client has the first bytes; now the file changes 40 MB in.
    let mark = vec![0x5au8; 4096];
    {
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.seek(SeekFrom::Start(MARK_AT)).unwrap();
        file.write_all(&mark).unwrap();
    }

    // Read the rest, keeping only the marked region (the body itself is not kept whole).
    let mut received = body.len() as u64;
    let mut seen_mark = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = socket.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        let (from, to) = (received, received + n as u64);
        let (lo, hi) = (MARK_AT.max(from), (MARK_AT + mark.len() as u64).min(to));
        if lo < hi {
            seen_mark.extend_from_slice(&chunk[(lo - from) as usize..(hi - from) as usize]);
        }
        received = to;
    }
    assert_eq!(received, SIZE, "the whole file arrived");
    let marked = seen_mark.iter().filter(|&&b| b == 0x5a).count();
    assert!(
        seen_mark == mark,
        "bytes written to the file after the response began must reach the client: \
         {marked} of {} arrived",
        mark.len()
    );

    stop_tx.send(()).unwrap();
    server.await.unwrap();
}

/// A browser's `<audio src>` cannot set `Authorization`: the recording also takes the access
/// token of a signed-in user from the query (as the event stream and the supervisor socket do),
/// while other call routes still want the header, and no token is a 401.
#[tokio::test]
async fn a_browser_plays_the_recording_with_the_access_token_in_the_query() {
    let db = TestDb::start().await;
    let sid = "CA00000000000000000000000000000a0d";
    let call = create_call(&db.store, DEFAULT_ORG, sid).await;
    let wav_path = db.dir.path().join("query-token.wav");
    let wav = write_tone_wav(&wav_path, 1);
    insert_recording(&db.store, &call, &wav_path).await;
    let routes = routes(state(&db.store).await);

    // A supervisor signs in, as the dashboard does.
    let password = "a long enough password";
    switchboard::accounts::create_user(
        &db.store,
        DEFAULT_ORG,
        "sue@example.com",
        "Sue",
        switchboard::auth::Role::Supervisor,
        Some(password.to_owned()),
    )
    .await
    .unwrap();
    let login = warp::test::request()
        .method("POST")
        .path("/api/v1/auth/login")
        .remote_addr("127.0.0.1:40000".parse().unwrap())
        .header("content-type", "application/json")
        .body(serde_json::json!({"email": "sue@example.com", "password": password}).to_string())
        .reply(&routes)
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    let pair: serde_json::Value = serde_json::from_slice(login.body()).unwrap();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    assert!(
        !access.starts_with("sbk_"),
        "an access token, not an API key"
    );

    let url = format!("/api/v1/calls/{}/recording", call.call_id);
    let without_header = |path: String, range: Option<&str>| {
        let mut request = warp::test::request().method("GET").path(&path);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        request.reply(&routes)
    };

    // The whole file, a byte range (a seeking <audio>), a download: with the token in the query.
    let res = without_header(format!("{url}?access_token={access}"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(res.headers(), "content-type"), "audio/wav");
    assert_eq!(res.body().as_ref(), wav.as_slice());
    let res = without_header(format!("{url}?access_token={access}"), Some("bytes=0-43")).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(res.headers(), "content-range"),
        format!("bytes 0-43/{}", wav.len())
    );
    assert_eq!(res.body().as_ref(), &wav[..44]);
    let res = without_header(
        format!("/api/v1/calls/{sid}/recording?download=true&access_token={access}"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(res.headers(), "content-disposition").starts_with("attachment;"));

    // No token at all, or a token that does not hold: 401 with the JSON body.
    for path in [
        url.clone(),
        format!("{url}?download=true"),
        format!("{url}?access_token="),
        format!("{url}?access_token=not-a-token"),
    ] {
        let res = without_header(path.clone(), None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(header(res.headers(), "www-authenticate"), "Bearer");
        assert_eq!(error_body(&res).error.code, "unauthorized", "{path}");
    }

    // Other call routes still take the token from the header only.
    let res = without_header(
        format!(
            "/api/v1/calls/{}/transcript?access_token={access}",
            call.call_id
        ),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
