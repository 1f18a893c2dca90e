//! A headless Chromium for the dashboard's tests, driven over WebDriver (`fantoccini`) through
//! Debian's `chromedriver` on loopback (`scripts/bootstrap --browser` installs both).
//!
//! [`Browser::start`] runs `/usr/bin/chromedriver` in a process group of its own, waits for its
//! `/status` to say ready, and opens a session on `/usr/bin/chromium` with a fresh profile in a
//! temp dir, no network of its own (no background requests, updates, sync or QUIC: the machine's
//! network may be closed), media autoplay allowed and a fake microphone (a tone, or the WAV file
//! the options name, looped). [`Browser::close`] ends the session, then the whole process group;
//! dropping a `Browser` (a failed test) kills the group at once. Either way no Chromium process
//! is left behind.
//!
//! The helpers wait with bounded timeouts and say what they waited for: the CSS selector or the
//! JavaScript expression, the page's URL, and what the page logged as errors.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use switchboard_sim::harness::test_db::processes_mentioning;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long chromedriver may take to answer `/status` with `ready: true`.
const DRIVER_READY: Duration = Duration::from_secs(15);
/// How long opening the session (starting Chromium) may take.
const SESSION_OPEN: Duration = Duration::from_secs(30);
/// How long [`Browser::text`], [`Browser::click`] and [`Browser::fill`] wait for their element.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);
/// How often the waits look again.
const POLL: Duration = Duration::from_millis(50);

/// What the browser starts with.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// The viewport's size in CSS pixels (`innerWidth` × `innerHeight`; headless Chromium's
    /// window is taller than its viewport: [`Browser::start`] corrects for it).
    pub window: (u32, u32),
    /// A WAV file Chromium plays, looped, as the microphone; `None`: Chromium's own fake device
    /// (a beep).
    pub fake_audio: Option<PathBuf>,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            window: (1280, 900),
            fake_audio: None,
        }
    }
}

/// A headless Chromium with its chromedriver.
pub struct Browser {
    /// `None` once closed.
    client: Option<Client>,
    /// chromedriver, the leader of the process group Chromium runs in.
    driver: Child,
    /// Chromium's profile (`--user-data-dir`) and chromedriver's log.
    dir: tempfile::TempDir,
    /// From spawning chromedriver to its `/status` saying ready.
    pub driver_startup: Duration,
    /// From asking for the session to having it (Chromium started).
    pub session_startup: Duration,
}

impl Browser {
    /// Starts chromedriver and Chromium with `options`.
    pub async fn start(options: BrowserOptions) -> anyhow::Result<Browser> {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            if !Path::new(binary).exists() {
                bail!("{binary} is missing: run `scripts/bootstrap --browser`");
            }
        }
        let dir = tempfile::Builder::new().prefix("sb-browser-").tempdir()?;
        let spawned = Instant::now();
        let (driver, port) = spawn_driver(dir.path()).await?;
        let driver_startup = spawned.elapsed();
        let mut browser = Browser {
            client: None,
            driver,
            dir,
            driver_startup,
            session_startup: Duration::ZERO,
        };
        let capabilities = capabilities(browser.dir.path(), &options);
        let opening = Instant::now();
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let webdriver = format!("http://127.0.0.1:{port}");
        let client = match tokio::time::timeout(SESSION_OPEN, builder.connect(&webdriver)).await {
            Ok(Ok(client)) => client,
            Ok(Err(err)) => {
                return Err(anyhow!(
                    "chromedriver could not start Chromium: {err}\n{}",
                    browser.driver_log()
                ));
            }
            Err(_) => {
                return Err(anyhow!(
                    "Chromium did not start within {SESSION_OPEN:?}\n{}",
                    browser.driver_log()
                ));
            }
        };
        browser.session_startup = opening.elapsed();
        browser.client = Some(client);
        let (width, height) = options.window;
        browser.resize(width, height).await?;
        Ok(browser)
    }

    /// Ends the session (Chromium quits), then chromedriver and anything left of its group.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let ended = match self.client.take() {
            Some(client) => tokio::time::timeout(Duration::from_secs(10), client.close())
                .await
                .map_err(|_| anyhow!("ending the WebDriver session took over 10 s"))
                .and_then(|closed| closed.context("ending the WebDriver session")),
            None => Ok(()),
        };
        self.kill();
        ended
    }

    /// The directory of Chromium's profile and chromedriver's log: a process that names it is
    /// this browser's.
    pub fn profile_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The WebDriver client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Opens `url` and waits for its load event.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client()
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// The first element matching `css`, once there is one (within `timeout`).
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> anyhow::Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.client().find(Locator::Css(css)).await {
                Ok(element) => return Ok(element),
                Err(err) if err.is_no_such_element() => {}
                Err(err) => {
                    return Err(anyhow!("finding `{css}`: {err}{}", self.context().await));
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "no element matches `{css}` after {timeout:?}{}",
                    self.context().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the JavaScript expression `js` is true (a Promise is awaited), within `timeout`.
    pub async fn wait_until(&self, js: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.eval(js).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(value) => value.to_string(),
                Err(err) => format!("{err:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "`{js}` is still not true after {timeout:?} (last: {last}){}",
                    self.context().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The visible text of the first element matching `css` (waiting [`DEFAULT_WAIT`] for it).
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let element = self.wait_for(css, DEFAULT_WAIT).await?;
        element
            .text()
            .await
            .with_context(|| format!("reading the text of `{css}`"))
    }

    /// Clicks the first element matching `css` (waiting [`DEFAULT_WAIT`] for it).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css, DEFAULT_WAIT).await?;
        match element.click().await {
            Ok(()) => Ok(()),
            Err(err) => Err(anyhow!("clicking `{css}`: {err}{}", self.context().await)),
        }
    }

    /// Replaces the value of the field matching `css` with `text`, typed as keys (so the page
    /// sees its input events).
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css, DEFAULT_WAIT).await?;
        let typed = async {
            element.clear().await?;
            element.send_keys(text).await
        };
        match typed.await {
            Ok(()) => Ok(()),
            Err(err) => Err(anyhow!(
                "typing into `{css}`: {err}{}",
                self.context().await
            )),
        }
    }

    /// The value of the JavaScript expression `js`, as JSON; a Promise is awaited (WebDriver's
    /// Execute Script settles it). Statements go in a function: `(() => { …; return x; })()`.
    pub async fn eval(&self, js: &str) -> anyhow::Result<Value> {
        self.client()
            .execute(&format!("return ({js});"), Vec::new())
            .await
            .with_context(|| format!("evaluating `{js}`"))
    }

    /// Sets the viewport (`innerWidth` × `innerHeight`) to `width` × `height` CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) -> anyhow::Result<()> {
        let client = self.client();
        let want = (u64::from(width), u64::from(height));
        client.set_window_size(width, height).await?;
        // The window's frame (headless Chromium keeps one) takes its share: grow by it.
        let (w, h) = self.viewport().await?;
        if (w, h) != want {
            let grow = |want: u64, got: u64| (2 * want).saturating_sub(got) as u32;
            client
                .set_window_size(grow(want.0, w), grow(want.1, h))
                .await?;
            let got = self.viewport().await?;
            if got != want {
                bail!("the viewport is {got:?}, not {want:?}, after resizing the window");
            }
        }
        Ok(())
    }

    /// `(innerWidth, innerHeight)`.
    async fn viewport(&self) -> anyhow::Result<(u64, u64)> {
        let inner = self.eval("[window.innerWidth, window.innerHeight]").await?;
        match (inner[0].as_u64(), inner[1].as_u64()) {
            (Some(w), Some(h)) => Ok((w, h)),
            _ => bail!("the viewport's size is not two numbers: {inner}"),
        }
    }

    /// Saves a PNG of the viewport as `target/screenshots/<name>.png` (in the workspace) and
    /// returns its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self
            .client()
            .screenshot()
            .await
            .context("taking a screenshot")?;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// What the page logged (console messages, uncaught errors, failed loads) since the last call:
    /// `(level, message)`, the level being `SEVERE`, `WARNING`, `INFO` or `DEBUG`.
    pub async fn console_log(&self) -> anyhow::Result<Vec<(String, String)>> {
        let entries = self
            .client()
            .issue_cmd(BrowserLog)
            .await
            .context("reading the browser's log")?;
        Ok(entries
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|entry| {
                        let field = |name: &str| entry[name].as_str().unwrap_or("").to_owned();
                        (field("level"), field("message"))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The page's URL and its logged errors, for an error message.
    async fn context(&self) -> String {
        let url = match self.client().current_url().await {
            Ok(url) => url.to_string(),
            Err(err) => format!("(unknown: {err})"),
        };
        let errors: Vec<String> = self
            .console_log()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|(level, _)| level == "SEVERE")
            .map(|(_, message)| format!("\n  {message}"))
            .collect();
        format!(" (page: {url}){}", errors.concat())
    }

    /// The end of chromedriver's log, for an error message.
    fn driver_log(&self) -> String {
        tail_of(&self.dir.path().join("chromedriver.log"))
    }

    /// Kills chromedriver's process group (Chromium and its helpers are in it) and any process
    /// that still names the profile directory, and waits (up to 5 s) until none is left.
    fn kill(&mut self) {
        let group = Pid::from_raw(self.driver.id() as i32);
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.driver.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = processes_mentioning(self.dir.path());
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            for pid in left {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns chromedriver on a free loopback port in a process group of its own and waits for it
/// to be ready. One that exits at once (its port taken in the meantime) is tried again, on
/// another port, twice.
async fn spawn_driver(dir: &Path) -> anyhow::Result<(Child, u16)> {
    let log = dir.join("chromedriver.log");
    let http = reqwest::Client::new();
    let mut exits = Vec::new();
    while exits.len() < 3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut driver = spawn_group(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .with_context(|| format!("starting {CHROMEDRIVER}"))?;
        let started = Instant::now();
        let status = format!("http://127.0.0.1:{port}/status");
        loop {
            if let Some(exit) = driver.try_wait()? {
                exits.push(format!("port {port}: {exit}"));
                break;
            }
            let ready = match http.get(&status).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|body| body["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                return Ok((driver, port));
            }
            if started.elapsed() > DRIVER_READY {
                let _ = killpg(Pid::from_raw(driver.id() as i32), Signal::SIGKILL);
                let _ = driver.wait();
                bail!(
                    "chromedriver's {status} did not say ready within {DRIVER_READY:?}\n{}",
                    tail_of(&log)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    bail!(
        "chromedriver exited before it was ready ({})\n{}",
        exits.join("; "),
        tail_of(&log)
    )
}

/// Spawns `command` as the leader of a new process group.
fn spawn_group(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    command.process_group(0).spawn()
}

/// The session's capabilities: Chromium, headless, its flags.
fn capabilities(profile: &Path, options: &BrowserOptions) -> serde_json::Map<String, Value> {
    let (width, height) = options.window;
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    args.push(format!(
        "--user-data-dir={}",
        profile.join("profile").display()
    ));
    args.push(format!("--window-size={width},{height}"));
    if let Some(wav) = &options.fake_audio {
        args.push(format!(
            "--use-file-for-fake-audio-capture={}",
            wav.display()
        ));
    }
    let capabilities = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "timeouts": { "script": 30_000, "pageLoad": 30_000, "implicit": 0 },
        "goog:loggingPrefs": { "browser": "ALL" },
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("an object"),
    }
}

/// chromedriver's `POST /session/{id}/se/log` for the `browser` log (with `goog:loggingPrefs`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _url: &url::Url) -> (warp::http::Method, Option<String>) {
        (
            warp::http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// The last lines of a log file.
fn tail_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(20);
    format!("{}:\n{}", path.display(), lines[from..].join("\n"))
}

/// Writes a 48 kHz mono 16-bit WAV of `seconds` of a sine at `hz`, at half of full scale: the
/// fake microphone's input (Chromium loops it).
pub fn write_tone_wav(path: &Path, hz: f64, seconds: f64) -> anyhow::Result<()> {
    const RATE: u32 = 48_000;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("creating {}", path.display()))?;
    let samples = (seconds * f64::from(RATE)).round() as u64;
    let amplitude = 0.5 * f64::from(i16::MAX);
    for n in 0..samples {
        let t = n as f64 / f64::from(RATE);
        writer.write_sample((amplitude * (std::f64::consts::TAU * hz * t).sin()).round() as i16)?;
    }
    writer.finalize()?;
    Ok(())
}
