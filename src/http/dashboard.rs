//! The dashboard: the page in `web/` (HTML, ES modules, styles, the audio worklet), embedded in
//! the binary and served at `GET /` (`index.html`) and `GET /assets/{file}` (every other file).
//!
//! The files are one static table ([`ASSETS`]), read at compile time with `include_bytes!`: a
//! file added to `web/` is served once it is named there (a unit test fails until it is). Every
//! answer carries the page's security headers ([`SECURITY_HEADERS`]: a strict
//! `Content-Security-Policy` — scripts, styles and connections from this origin only, no framing —
//! `nosniff`, no referrer), `Cache-Control: no-cache` and a strong `ETag` (a SHA-256 of the bytes,
//! computed once): a browser revalidates on every load and gets a bodiless 304 while the binary
//! is the same. An unknown asset is the API's JSON 404. The page itself signs in through the API;
//! nothing here is behind the gate.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};
use warp::http::StatusCode;
use warp::http::header::{CONTENT_TYPE, ETAG, HeaderName, HeaderValue};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::error::ApiError;

/// One file of the page.
#[derive(Debug)]
pub struct Asset {
    /// Its file name in `web/` (and under `/assets/`).
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `Asset { name, content_type, bytes }` with the bytes of `web/<name>`.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $name)),
        }
    };
}

/// The file served at `/`.
pub const INDEX: &str = "index.html";

/// Every file of `web/`.
pub static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("events.js", JS),
    asset!("board.js", JS),
    asset!("call.js", JS),
    asset!("console.js", JS),
    asset!("history.js", JS),
    asset!("analytics.js", JS),
    asset!("admin.js", JS),
    asset!("pcm-worklet.js", JS),
    asset!("app.css", CSS),
    asset!("pages.css", CSS),
];

/// What the page may load and do: its own scripts, styles and API only (no inline script or
/// style, no third party); images and audio also from `data:`/`blob:` URLs it makes itself
/// (recordings, the worklet's buffers); never framed, no plugins, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
     worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The headers of every dashboard answer (304s included).
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-cache"),
];

/// The strong `ETag` of each of [`ASSETS`] (same order): the first 128 bits of its SHA-256, quoted.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.bytes);
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            HeaderValue::try_from(format!("\"{hex}\"")).expect("hex is a valid header value")
        })
        .collect()
});

/// GET, or HEAD (hyper sends a HEAD answer's headers without its body).
pub fn get_or_head() -> impl Filter<Extract = (), Error = Rejection> + Copy {
    warp::get().or(warp::head()).unify()
}

/// The `If-None-Match` header; one that is not visible ASCII is ignored (the full answer).
pub fn if_none_match()
-> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::header::optional::<String>("if-none-match")
        .or(warp::any().map(|| None))
        .unify()
}

/// `GET /`: the page.
pub fn page(if_none_match: Option<String>) -> Response {
    let index = ASSETS
        .iter()
        .position(|asset| asset.name == INDEX)
        .expect("index.html is in the table");
    answer(index, if_none_match.as_deref())
}

/// `GET /assets/{name}`: a file of the page other than `index.html`; a 404 for any other name.
pub async fn asset(name: String, if_none_match: Option<String>) -> Result<Response, Rejection> {
    match ASSETS
        .iter()
        .position(|asset| asset.name == name && asset.name != INDEX)
    {
        Some(found) => Ok(answer(found, if_none_match.as_deref())),
        None => Err(warp::reject::custom(ApiError::NotFound("asset".into()))),
    }
}

/// The file at `index` in [`ASSETS`], or a 304 when the browser's copy is current.
fn answer(index: usize, if_none_match: Option<&str>) -> Response {
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let mut response = if if_none_match.is_some_and(|tags| matches(tags, etag)) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().remove(CONTENT_TYPE);
        response
    } else {
        let mut response = asset.bytes.into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        response
    };
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers.insert(ETAG, etag.clone());
    response
}

/// Whether an `If-None-Match` list names `etag` (or is `*`). The comparison is the weak one the
/// header calls for: a `W/` prefix is ignored.
fn matches(if_none_match: &str, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::{ErrorBody, recover};
    use crate::http::routes::dashboard_routes;

    async fn get(path: &str, if_none_match: Option<&str>) -> warp::http::Response<bytes::Bytes> {
        let mut request = warp::test::request().method("GET").path(path);
        if let Some(tags) = if_none_match {
            request = request.header("if-none-match", tags);
        }
        request.reply(&dashboard_routes().recover(recover)).await
    }

    fn header<'a>(response: &'a warp::http::Response<bytes::Bytes>, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", response.headers()))
            .to_str()
            .unwrap()
    }

    #[tokio::test]
    async fn the_page_and_its_assets_have_their_content_types_and_bytes() {
        let page = get("/", None).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        assert_eq!(
            page.body().as_ref(),
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/index.html"))
        );
        for (path, content_type) in [
            ("/assets/app.js", "text/javascript; charset=utf-8"),
            ("/assets/pcm-worklet.js", "text/javascript; charset=utf-8"),
            ("/assets/app.css", "text/css; charset=utf-8"),
            ("/assets/pages.css", "text/css; charset=utf-8"),
        ] {
            let response = get(path, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&response, "content-type"), content_type, "{path}");
            let name = path.trim_start_matches("/assets/");
            let asset = ASSETS.iter().find(|a| a.name == name).unwrap();
            assert_eq!(response.body().as_ref(), asset.bytes, "{path}");
        }
        for asset in ASSETS {
            let expected = match asset.name.rsplit_once('.').map(|(_, ext)| ext) {
                Some("html") => HTML,
                Some("js") => JS,
                Some("css") => CSS,
                other => panic!("{}: no content type for {other:?}", asset.name),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.name);
        }
    }

    #[tokio::test]
    async fn every_answer_carries_the_security_headers_and_an_etag() {
        for path in ["/", "/assets/app.js", "/assets/app.css"] {
            let response = get(path, None).await;
            assert_eq!(
                header(&response, "content-security-policy"),
                CONTENT_SECURITY_POLICY
            );
            let csp = header(&response, "content-security-policy");
            for directive in [
                "default-src 'self'",
                "script-src 'self'",
                "object-src 'none'",
                "frame-ancestors 'none'",
            ] {
                assert!(csp.contains(directive), "{path}: {csp}");
            }
            assert!(!csp.contains("unsafe-inline"), "{csp}");
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
            assert_eq!(header(&response, "referrer-policy"), "no-referrer");
            assert_eq!(header(&response, "x-frame-options"), "DENY");
            assert_eq!(header(&response, "cache-control"), "no-cache");
            let etag = header(&response, "etag");
            assert!(
                etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'),
                "a strong ETag: {etag}"
            );
        }
        // Each file has its own ETag, the same on every request.
        let page = header(&get("/", None).await, "etag").to_owned();
        let app = header(&get("/assets/app.js", None).await, "etag").to_owned();
        assert_eq!(page, header(&get("/", None).await, "etag"));
        if ASSETS.iter().find(|a| a.name == "app.js").unwrap().bytes
            != ASSETS.iter().find(|a| a.name == INDEX).unwrap().bytes
        {
            assert_ne!(page, app);
        }
    }

    #[tokio::test]
    async fn a_current_etag_is_a_304_without_a_body() {
        for (path, name) in [("/", INDEX), ("/assets/app.js", "app.js")] {
            let bytes = ASSETS.iter().find(|a| a.name == name).unwrap().bytes;
            let etag = header(&get(path, None).await, "etag").to_owned();
            for tags in [
                etag.clone(),
                format!("W/{etag}"),
                format!("\"stale\", {etag}"),
                "*".to_owned(),
            ] {
                let response = get(path, Some(&tags)).await;
                assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{path} {tags}");
                assert!(response.body().is_empty());
                assert_eq!(header(&response, "etag"), etag);
                assert_eq!(header(&response, "cache-control"), "no-cache");
                assert_eq!(
                    header(&response, "content-security-policy"),
                    CONTENT_SECURITY_POLICY
                );
                assert!(response.headers().get("content-type").is_none());
            }
            // A stale or foreign tag: the whole file.
            for tags in ["\"stale\"", "", "W/\"0\""] {
                let response = get(path, Some(tags)).await;
                assert_eq!(response.status(), StatusCode::OK, "{path} {tags}");
                assert_eq!(response.body().as_ref(), bytes, "{path} {tags}");
            }
        }
    }

    #[tokio::test]
    async fn an_unknown_asset_is_the_json_404() {
        for path in [
            "/assets/nope.js",
            "/assets/index.html",
            "/assets/app.js.map",
            "/assets/",
            "/assets/a/app.js",
            "/assets/..%2Fapp.js",
        ] {
            let response = get(path, None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(header(&response, "content-type"), "application/json");
            let body: ErrorBody = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(body.error.code, "not_found", "{path}");
        }
        let response = get("/assets/nope.js", None).await;
        let body: ErrorBody = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body.error.message, "asset not found");
        // Other methods: 405, in the same shape.
        let response = warp::test::request()
            .method("POST")
            .path("/")
            .reply(&dashboard_routes().recover(recover))
            .await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn head_answers_like_get() {
        let response = warp::test::request()
            .method("HEAD")
            .path("/assets/app.js")
            .reply(&dashboard_routes().recover(recover))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "content-type"), JS);
        assert!(response.headers().contains_key("etag"));
    }

    /// The table names every file of `web/`: a file added there is served (or this fails).
    #[test]
    fn every_file_of_web_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/web");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_type().unwrap().is_file())
            .map(|entry| entry.file_name().into_string().unwrap())
            .filter(|name| !name.starts_with('.'))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "web/ and the table of src/http/dashboard.rs differ"
        );
    }

    #[test]
    fn if_none_match_lists_are_compared_weakly() {
        let etag = HeaderValue::from_static("\"abc\"");
        assert!(matches("\"abc\"", &etag));
        assert!(matches("W/\"abc\"", &etag));
        assert!(matches(" \"x\" ,  \"abc\" ", &etag));
        assert!(matches("*", &etag));
        assert!(!matches("\"abcd\"", &etag));
        assert!(!matches("abc", &etag));
        assert!(!matches("", &etag));
    }
}
