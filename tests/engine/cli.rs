//! The `switchboard` binary as an operator runs it: exit codes, configuration errors, the printed
//! configuration, migrate, analyze, and serve from start to SIGTERM (and after a crash, with
//! analysis jobs queued).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use switchboard_sim::harness::test_db::processes_mentioning;

fn switchboard() -> Command {
    command(Path::new(env!("CARGO_BIN_EXE_switchboard")))
}

/// `exe` in a clean environment of settings: only what each test sets.
fn command(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    for (name, _) in std::env::vars() {
        if name.starts_with("SWITCHBOARD_")
            || ["DATABASE_URL", "OPENAI_API_KEY", "TWILIO_AUTH_TOKEN"].contains(&name.as_str())
        {
            cmd.env_remove(name);
        }
    }
    cmd.env("SWITCHBOARD_LOG_LEVEL", "warn");
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn nonsense_listen_address_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard()
        .current_dir(dir.path())
        .env("SWITCHBOARD_HTTP_LISTEN", "nonsense")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("http.listen") && err.contains("nonsense"),
        "{err}"
    );
    assert!(!dir.path().join("data").exists(), "nothing started");
}

#[test]
fn every_problem_of_a_config_file_is_reported_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[http]\npublic_url = \"/relative\"\n[database]\npool_size = 0\n[ai]\naudio_format = \"mp3\"\n",
    )
    .unwrap();
    let out = switchboard()
        .args(["config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for key in ["http.public_url", "database.pool_size", "ai.audio_format"] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
    let missing = switchboard()
        .args(["serve", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent.toml"));
}

#[test]
fn usage_errors_exit_2_and_help_is_accurate() {
    let out = switchboard().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = switchboard()
        .args(["serve", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let help = switchboard().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["serve", "migrate", "config", "demo", "loadtest"] {
        assert!(text.contains(command), "{command} not in --help: {text}");
    }
    // `demo --help` is switchboard-sim's (see `demo_and_loadtest_run_switchboard_sim_beside_it`
    // and sim/tests/commands.rs).
    for (command, phrase) in [
        ("serve", "--config"),
        ("migrate", "migrations"),
        ("config", "redacted"),
    ] {
        let out = switchboard().args([command, "--help"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(phrase),
            "`{command} --help` lacks {phrase}: {text}"
        );
    }
}

/// `switchboard demo` and `switchboard loadtest` run `switchboard-sim` from beside the engine's
/// executable with their arguments as given (here a script standing in for it records them), and
/// say how to build it when it is missing.
#[test]
fn demo_and_loadtest_run_switchboard_sim_beside_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let engine = dir.path().join("switchboard");
    std::fs::hard_link(env!("CARGO_BIN_EXE_switchboard"), &engine)
        .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_switchboard"), &engine).map(drop))
        .unwrap();
    let run = |args: &[&str]| command(&engine).args(args).output().unwrap();

    let out = run(&["demo", "--calls", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("switchboard-sim, which is not built")
            && stderr(&out).contains("cargo build --release --workspace"),
        "{}",
        stderr(&out)
    );

    let sim = dir.path().join("switchboard-sim");
    std::fs::write(&sim, "#!/bin/sh\necho \"sim $*\"\nexit 7\n").unwrap();
    std::fs::set_permissions(&sim, std::fs::Permissions::from_mode(0o755)).unwrap();
    for args in [
        &["demo", "--calls", "2"][..],
        &["demo", "--help"],
        &["loadtest", "--calls", "5", "--no-floor"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("sim {}", args.join(" "))
        );
    }
}

#[test]
fn config_prints_the_effective_configuration_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchboard.toml");
    std::fs::write(
        &file,
        "[database]\npool_size = 7\n[log]\nformat = \"json\"\n",
    )
    .unwrap();
    let out = switchboard()
        .args(["config", "--config"])
        .arg(&file)
        .env("SWITCHBOARD_DATABASE_POOL_SIZE", "9")
        .env("OPENAI_API_KEY", "sk-live-supersecret")
        .env("TWILIO_AUTH_TOKEN", "twilio-supersecret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pool_size = 9"), "env beats file: {text}");
    assert!(
        text.contains("format = \"json\""),
        "file beats default: {text}"
    );
    assert!(text.contains("api_key = \"<redacted>\""), "{text}");
    assert!(!text.contains("supersecret") && !stderr(&out).contains("supersecret"));
}

#[test]
fn migrate_applies_the_schema_then_reports_it_current() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        switchboard()
            .arg("migrate")
            .env("SWITCHBOARD_STORAGE_DATA_DIR", dir.path())
            .output()
            .unwrap()
    };
    let first = run();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied V1__initial_schema"));
    let second = run();
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(String::from_utf8_lossy(&second.stdout).contains("schema is current"));
    assert!(
        processes_mentioning(dir.path()).is_empty(),
        "migrate stopped its cluster"
    );
}

#[test]
fn unreachable_database_url_fails_with_exit_1_after_the_timeout() {
    let port = free_port();
    let started = Instant::now();
    let out = switchboard()
        .arg("serve")
        .env(
            "SWITCHBOARD_HTTP_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env(
            "DATABASE_URL",
            format!("postgres://nobody@127.0.0.1:{port}/nothing"),
        )
        .env("SWITCHBOARD_DATABASE_CONNECT_TIMEOUT_S", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach the database"),
        "{}",
        stderr(&out)
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "retried until the timeout"
    );
}

struct Served {
    child: Child,
    port: u16,
}

fn serve(data_dir: &Path) -> Served {
    serve_with(data_dir, &[])
}

fn wait_ready(served: &Served) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if probe::get_status(served.port, "/ready").is_ok_and(|status| status == 200) {
            return;
        }
        assert!(Instant::now() < deadline, "engine never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A tiny blocking HTTP GET over a raw socket: the status code.
mod probe {
    use std::io::{Read, Write};
    pub fn get_status(port: u16, path: &str) -> std::io::Result<u16> {
        get(port, path, "")
    }

    pub fn get_status_with_bearer(port: u16, path: &str, token: &str) -> std::io::Result<u16> {
        get(port, path, &format!("Authorization: Bearer {token}\r\n"))
    }

    fn get(port: u16, path: &str, headers: &str) -> std::io::Result<u16> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
        )?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        buf.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other("no status line"))
    }
}

fn signal_and_wait(mut served: Served, signal: Signal) -> std::process::ExitStatus {
    kill(Pid::from_raw(served.child.id() as i32), signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "engine did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_runs_until_sigterm_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    assert!(
        !processes_mentioning(dir.path()).is_empty(),
        "the managed cluster runs"
    );
    let status = signal_and_wait(served, Signal::SIGTERM);
    assert_eq!(status.code(), Some(0));
    assert!(
        processes_mentioning(dir.path()).is_empty(),
        "left running: {:?}",
        processes_mentioning(dir.path())
    );
}

#[test]
fn serve_starts_again_after_the_engine_was_killed() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    signal_and_wait(served, Signal::SIGKILL);
    // The engine died without stopping its cluster: the server is still up.
    assert!(!processes_mentioning(dir.path()).is_empty());

    let served = serve(dir.path());
    let status = signal_and_wait(served, Signal::SIGINT);
    assert_eq!(status.code(), Some(0));
    assert!(processes_mentioning(dir.path()).is_empty());
}

/// Bootstrapping the first admin from the command line: an organization, a user whose password
/// comes from standard input (or is generated and printed once), and an API key printed once.
#[test]
fn org_user_and_apikey_are_created_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: Option<&str>| -> Output {
        let mut cmd = switchboard();
        cmd.args(args)
            .env("SWITCHBOARD_STORAGE_DATA_DIR", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write;
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    };
    let out = run(&["org", "create", "Acme Health Line"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (fields[0], fields[2]),
        ("organization", "acme-health-line"),
        "{line}"
    );
    let again = run(&["org", "create", "Acme Health Line"], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("exists already"),
        "{}",
        stderr(&again)
    );

    let out = run(
        &[
            "user",
            "create",
            "--org",
            "acme-health-line",
            "--email",
            "ada@acme.example",
            "--role",
            "admin",
        ],
        Some("a password from stdin\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.starts_with("user ") && text.contains("ada@acme.example admin"),
        "{text}"
    );
    assert!(
        !text.contains("password"),
        "a given password is not printed: {text}"
    );

    let out = run(
        &[
            "user",
            "create",
            "--org",
            "acme-health-line",
            "--email",
            "bo@acme.example",
            "--role",
            "agent",
        ],
        Some(""),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let generated = text
        .lines()
        .find_map(|l| l.strip_prefix("password "))
        .unwrap();
    assert_eq!(generated.len(), 24, "{text}");

    let out = run(
        &[
            "user",
            "create",
            "--org",
            "acme-health-line",
            "--email",
            "cy@acme.example",
            "--role",
            "agent",
        ],
        Some("short\n"),
    );
    assert_eq!(out.status.code(), Some(1), "a weak password is refused");

    let out = run(
        &[
            "apikey",
            "create",
            "--org",
            "acme-health-line",
            "--role",
            "supervisor",
            "--name",
            "wallboard",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("wallboard supervisor"), "{text}");
    let key = text.lines().find_map(|l| l.strip_prefix("key ")).unwrap();
    assert!(key.starts_with("sbk_") && key.len() == 47, "{text}");

    let out = run(
        &[
            "apikey", "create", "--org", "nope", "--role", "admin", "--name", "x",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no organization `nope`"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &[
            "user",
            "create",
            "--org",
            "acme-health-line",
            "--email",
            "x@y",
            "--role",
            "boss",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "a bad role is a usage error");
}

/// The admin commands work while an engine serves the same data directory (a new user makes
/// accounts beside `scripts/demo`): they use the running engine's database instead of refusing
/// with "data directory in use", leave it running, and the engine sees what they made.
#[test]
fn admin_commands_work_beside_a_running_engine() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path());
    let run = |args: &[&str]| -> Output {
        switchboard()
            .args(args)
            .env("SWITCHBOARD_STORAGE_DATA_DIR", dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("schema is current"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["org", "create", "Beside Demo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&[
        "apikey",
        "create",
        "--org",
        "beside-demo",
        "--role",
        "admin",
        "--name",
        "ops",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("key "))
        .expect("the key is printed")
        .to_owned();
    // The engine kept running and accepts the new key.
    let status = probe::get_status_with_bearer(served.port, "/api/v1/calls", &key).unwrap();
    assert_eq!(status, 200);
    let status = signal_and_wait(served, Signal::SIGTERM);
    assert!(status.success(), "{status:?}");
    assert!(processes_mentioning(dir.path()).is_empty());
}

fn serve_with(data_dir: &Path, env: &[(&str, &str)]) -> Served {
    let port = free_port();
    let child = switchboard()
        .arg("serve")
        .env("SWITCHBOARD_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_STORAGE_DATA_DIR", data_dir)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let served = Served { child, port };
    wait_ready(&served);
    served
}

/// One HTTP/1.1 request over a raw socket: the status and the body.
fn http(port: u16, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn post_form(port: u16, path: &str, form: &[(&str, &str)]) -> u16 {
    let body = serde_urlencoded::to_string(form).unwrap();
    let headers = "Content-Type: application/x-www-form-urlencoded\r\n";
    http(port, "POST", path, headers, &body).0
}

/// Queued analysis jobs live in PostgreSQL: an engine killed with jobs queued loses none, and the
/// next engine runs each once. `analyze --since` beside it then finds nothing left to queue.
#[test]
fn queued_analysis_jobs_survive_a_killed_engine_and_run_once_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = |analysis: &'static str| {
        [
            ("SWITCHBOARD_TWILIO_VALIDATE_SIGNATURES", "false"),
            ("SWITCHBOARD_ANALYSIS_ENABLED", analysis),
            ("SWITCHBOARD_ANALYSIS_POLL_MS", "50"),
        ]
    };
    // An engine without workers: three calls ring and end (Twilio's webhooks), their jobs wait.
    let served = serve_with(dir.path(), &settings("false"));
    let sids: Vec<String> = (0..3)
        .map(|n| format!("CA{:032x}", 0xdead_0000_u64 + n))
        .collect();
    for sid in &sids {
        let ring = [
            ("CallSid", sid.as_str()),
            ("From", "+14155550100"),
            ("To", "+18005550100"),
            ("CallStatus", "ringing"),
        ];
        assert_eq!(post_form(served.port, "/twilio/voice", &ring), 200);
        let end = [
            ("CallSid", sid.as_str()),
            ("CallStatus", "completed"),
            ("CallDuration", "4"),
            ("SequenceNumber", "2"),
        ];
        assert_eq!(post_form(served.port, "/twilio/status", &end), 204);
    }
    signal_and_wait(served, Signal::SIGKILL);

    // The next engine, with workers, on the same data directory.
    let served = serve_with(dir.path(), &settings("true"));
    let run = |args: &[&str]| -> Output {
        switchboard()
            .args(args)
            .env("SWITCHBOARD_STORAGE_DATA_DIR", dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&[
        "apikey", "create", "--org", "default", "--role", "admin", "--name", "ops",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("key ").map(str::to_owned))
        .expect("the key is printed");
    let bearer = format!("Authorization: Bearer {key}\r\n");
    for sid in &sids {
        let deadline = Instant::now() + Duration::from_secs(30);
        let job = loop {
            let (status, body) = http(
                served.port,
                "GET",
                &format!("/api/v1/calls/{sid}/analysis"),
                &bearer,
                "",
            );
            let job: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if status == 200 && job["state"] == "done" {
                break job;
            }
            assert!(Instant::now() < deadline, "{sid}: {status} {body}");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(job["attempts"], 1, "run once: {job}");
        let (_, body) = http(
            served.port,
            "GET",
            &format!("/api/v1/calls/{sid}"),
            &bearer,
            "",
        );
        let call: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(call["message_counts"]["summary"], 1, "{call}");
        assert_eq!(
            call["conversation"]["outcome"], "unresolved",
            "no caller speech"
        );
    }
    let out = run(&["analyze", "--since", "2000-01-01"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("queued 0 conversations"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["analyze", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2), "a bad date is a usage error");
    let status = signal_and_wait(served, Signal::SIGTERM);
    assert!(status.success(), "{status:?}");
    assert!(processes_mentioning(dir.path()).is_empty());
}
