//! The dashboard served by a real engine: its headers over plain HTTP (the security headers, the
//! content types, revalidation, HEAD), and a headless Chromium ([`crate::browser`]) loading the
//! page from the engine and calling the API from it; and the browser harness itself, on a page
//! of its own.

use std::time::Duration;

use reqwest::StatusCode;
use switchboard_sim::harness::LocalEngine;
use switchboard_sim::harness::test_db::processes_mentioning;

use crate::browser::{Browser, BrowserOptions, write_tone_wav};

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", response.headers()))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_engine_serves_the_page_with_its_security_headers() {
    let engine = LocalEngine::with_settings(&[]).await.unwrap();
    let http = reqwest::Client::new();

    let page = http.get(engine.endpoint("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let csp = header(&page, "content-security-policy").to_owned();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let etag = header(&page, "etag").to_owned();
    let length = header(&page, "content-length").to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains("<script type=\"module\""), "{html}");
    assert_eq!(length, html.len().to_string());

    // Revalidation: the same bytes are a bodiless 304.
    let again = http
        .get(engine.endpoint("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, "etag"), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    // HEAD: the headers, no body.
    let head = http.head(engine.endpoint("/")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, "content-length"), length);
    assert_eq!(header(&head, "etag"), etag);
    assert!(head.bytes().await.unwrap().is_empty());

    let script = http
        .get(engine.endpoint("/assets/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        header(&script, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&script, "content-security-policy"), csp);
    assert_ne!(header(&script, "etag"), etag);

    // An unknown asset is the API's JSON 404; every answer, the API's included, is nosniff.
    let missing = http
        .get(engine.endpoint("/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&missing, "content-type"), "application/json");
    assert_eq!(header(&missing, "x-content-type-options"), "nosniff");
    for path in ["/health", "/api/v1/auth/me", "/no/such/route"] {
        let response = http.get(engine.endpoint(path)).send().await.unwrap();
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
    }
    // Browsers send `Origin` with module scripts and POSTs, same-origin ones included: the
    // engine's own origin is not refused by CORS; other origins still are.
    let own = engine.endpoint("");
    let module = http
        .get(engine.endpoint("/assets/app.js"))
        .header("origin", &own)
        .send()
        .await
        .unwrap();
    assert_eq!(module.status(), StatusCode::OK);
    let login = http
        .post(engine.endpoint("/api/v1/auth/login"))
        .header("origin", &own)
        .json(&serde_json::json!({"email": "nobody@example.com", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let refused = http
            .get(engine.endpoint("/assets/app.js"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{origin}");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "cors_forbidden", "{origin}");
    }

    // The page does not shadow the API: `/` is the bare root only.
    let health = http.get(engine.endpoint("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(header(&health, "content-type").starts_with("application/json"));

    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_browser_loads_the_dashboard_from_the_engine() {
    let engine = LocalEngine::with_settings(&[]).await.unwrap();
    let browser = Browser::start(BrowserOptions::default()).await.unwrap();
    eprintln!(
        "chromedriver ready in {:?}, Chromium's session open in {:?}",
        browser.driver_startup, browser.session_startup
    );
    let profile = browser.profile_dir().to_owned();
    assert!(!processes_mentioning(&profile).is_empty(), "Chromium runs");

    browser.goto(&engine.endpoint("/")).await.unwrap();
    browser
        .wait_until(
            "document.readyState === 'complete'",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let title = browser.eval("document.title").await.unwrap();
    assert!(
        title.as_str().is_some_and(|t| !t.is_empty()),
        "title: {title}"
    );
    let origin = engine.endpoint("");
    assert_eq!(browser.eval("location.origin").await.unwrap(), origin);
    let module = browser
        .eval("document.querySelector('script[type=module]')?.src ?? null")
        .await
        .unwrap();
    let module = module.as_str().expect("a module script");
    assert!(module.starts_with(&format!("{origin}/assets/")), "{module}");
    // The page calls the API on its own origin: not signed in, `me` is a 401.
    let status = browser
        .eval("fetch('/api/v1/auth/me').then(response => response.status)")
        .await
        .unwrap();
    assert_eq!(status, 401);
    // Every file the page loads is served, and nothing is refused by its
    // Content-Security-Policy.
    let log = browser.console_log().await.unwrap();
    for (level, message) in &log {
        eprintln!("console {level}: {message}");
    }
    assert!(
        !log.iter().any(|(_, message)| {
            message.contains("Content Security Policy")
                || (message.contains("/assets/") && message.contains("Failed to load"))
        }),
        "{log:#?}"
    );

    let shot = browser.screenshot("smoke").await.unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", shot.display());

    browser.close().await.unwrap();
    assert_eq!(
        processes_mentioning(&profile),
        Vec::<u32>::new(),
        "no Chromium process is left"
    );
    engine.shutdown().await.unwrap();
}

/// A page of the harness's own (served on loopback, a secure context): a field, a button that
/// answers late, and the microphone's dominant frequency.
const HARNESS_PAGE: &str = r#"<!doctype html>
<title>harness</title>
<input id="name"> <button id="go">Go</button> <p id="out"></p>
<script>
  document.getElementById('go').addEventListener('click', () => {
    const value = document.getElementById('name').value;
    setTimeout(() => {
      const out = document.getElementById('out');
      out.textContent = 'hello ' + value;
      out.className = 'done';
    }, 200);
  });
  window.dominantHz = 0;
  navigator.mediaDevices.getUserMedia({ audio: true }).then(stream => {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    context.createMediaStreamSource(stream).connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    setInterval(() => {
      analyser.getFloatFrequencyData(bins);
      let best = 0;
      for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      if (bins[best] > -60) window.dominantHz = best * context.sampleRate / analyser.fftSize;
    }, 100);
  }, error => { window.dominantHz = -1; console.error(error); });
</script>"#;

/// The harness itself: typing, clicking, waiting (and what a timeout says), resizing, and the
/// fake microphone playing the WAV it was given.
#[tokio::test]
async fn the_dashboard_browser_harness_types_clicks_waits_and_hears_its_microphone() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let page = warp::Filter::map(warp::path::end(), || warp::reply::html(HARNESS_PAGE));
    let server = tokio::spawn(warp::serve(page).incoming(listener).run());

    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    write_tone_wav(&wav, 750.0, 2.0).unwrap();
    let spec = hound::WavReader::open(&wav).unwrap().spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 48_000, 16)
    );
    let browser = Browser::start(BrowserOptions {
        window: (1000, 700),
        fake_audio: Some(wav),
    })
    .await
    .unwrap();
    browser.goto(&url).await.unwrap();
    assert_eq!(
        browser
            .eval("[window.innerWidth, window.innerHeight]")
            .await
            .unwrap(),
        serde_json::json!([1000, 700])
    );

    browser.fill("#name", "first").await.unwrap();
    browser.fill("#name", "Ada").await.unwrap();
    browser.click("#go").await.unwrap();
    browser
        .wait_for("#out.done", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(browser.text("#out").await.unwrap(), "hello Ada");

    // A timeout names what it waited for and where.
    let err = browser
        .wait_for("#never", Duration::from_millis(200))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`#never`") && err.contains(&url), "{err}");
    let err = browser
        .wait_until("1 + 1 === 3", Duration::from_millis(200))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`1 + 1 === 3`") && err.contains(&url), "{err}");

    browser.resize(640, 480).await.unwrap();
    assert_eq!(
        browser
            .eval("[window.innerWidth, window.innerHeight]")
            .await
            .unwrap(),
        serde_json::json!([640, 480])
    );

    // The microphone is the WAV: 750 Hz, within a bin (48000 / 8192 ≈ 5.9 Hz).
    browser
        .wait_until("window.dominantHz !== 0", Duration::from_secs(10))
        .await
        .unwrap();
    let hz = browser.eval("window.dominantHz").await.unwrap();
    let hz = hz.as_f64().unwrap();
    assert!((hz - 750.0).abs() < 12.0, "dominant frequency {hz} Hz");

    browser.close().await.unwrap();

    // A browser dropped without `close` (a test that failed) leaves no process either.
    let dropped = Browser::start(BrowserOptions::default()).await.unwrap();
    let profile = dropped.profile_dir().to_owned();
    assert!(!processes_mentioning(&profile).is_empty(), "Chromium runs");
    drop(dropped);
    assert_eq!(processes_mentioning(&profile), Vec::<u32>::new());
    server.abort();
}
