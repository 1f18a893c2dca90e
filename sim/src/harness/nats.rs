//! A real `nats-server` on loopback for cluster tests and the demo: JetStream on (its store in a
//! directory of its own), a user and password required, stopped (killed) on drop. It can be
//! stopped and started again on the same port and store, as an operator's restart would.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The cluster's NATS credentials in tests and the demo.
pub const USER: &str = "switchboard";

/// A running (or stopped) `nats-server`.
pub struct NatsServer {
    pub port: u16,
    pub password: String,
    store: PathBuf,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

/// The `nats-server` binary: on `PATH`, or where Debian's package puts it.
pub fn binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    for candidate in ["/usr/sbin/nats-server", "/usr/bin/nats-server"] {
        if Path::new(candidate).is_file() {
            return Ok(candidate.into());
        }
    }
    bail!(
        "nats-server is not installed (scripts/bootstrap installs it: apt-get install nats-server)"
    )
}

impl NatsServer {
    /// Starts a server on a free loopback port with its store in a temp dir.
    pub fn start() -> anyhow::Result<NatsServer> {
        let dir = tempfile::tempdir()?;
        let mut server = Self::start_in(dir.path())?;
        server._dir = Some(dir);
        Ok(server)
    }

    /// Starts a server with its JetStream store under `dir` (kept).
    pub fn start_in(dir: &Path) -> anyhow::Result<NatsServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = NatsServer {
            port,
            password: format!("pw-{}", uuid::Uuid::new_v4().simple()),
            store: dir.join("jetstream"),
            child: None,
            _dir: None,
        };
        server.resume()?;
        Ok(server)
    }

    /// `nats://127.0.0.1:PORT` (credentials apart).
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The settings that put an engine in this cluster.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SWITCHBOARD_CLUSTER_NATS_URL", self.url()),
            ("SWITCHBOARD_CLUSTER_NATS_USER", USER.to_owned()),
            ("SWITCHBOARD_CLUSTER_NATS_PASSWORD", self.password.clone()),
        ]
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and store; waits until it accepts connections.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        self.stop();
        std::fs::create_dir_all(&self.store)?;
        // A process group of its own: a Ctrl-C to the demo reaches the engines, which stop (and
        // publish their last events) before the server is stopped on drop.
        let child = Command::new(binary()?)
            .process_group(0)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["--user", USER, "--pass", &self.password])
            .arg("-js")
            .arg("-sd")
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nats-server")?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                bail!("nats-server did not listen on {addr} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
