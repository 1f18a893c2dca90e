//! The process under test, as a child: the engine (`switchboard serve`) or the floor relay
//! (`switchboard-sim floor-relay`), each from its own executable, read through its own
//! accounting in `/proc` (CPU time, resident memory) and stopped with SIGTERM.
//!
//! A child process is what makes the figures honest: the load generator's CPU and memory
//! (callers, the realtime peer) stay out of the engine's, and the engine's idle memory is a
//! real process's.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// CPU time and resident memory of a process, from `/proc/PID/stat` and `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User + system CPU time of every thread, in seconds (10 ms resolution).
    pub cpu_s: f64,
    /// Resident set size, in KiB.
    pub rss_kib: u64,
}

/// Reads `pid`'s usage.
pub fn usage(pid: u32) -> anyhow::Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after the state (3).
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields.get(i).context("short /proc/PID/stat")?.parse()?)
    };
    let hz = clock_ticks_per_s();
    let cpu_s = (ticks(11)? + ticks(12)?) as f64 / hz;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Usage { cpu_s, rss_kib })
}

fn clock_ticks_per_s() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |hz| hz as f64)
}

/// A child process under test.
pub struct UnderTest {
    child: Child,
    pid: u32,
    /// Where its output goes.
    pub log: PathBuf,
}

impl UnderTest {
    /// Starts `exe args…` in `dir` with only `env` (plus `PATH` and `HOME`) in its environment,
    /// its stdout and stderr appended to `dir/<name>.log`.
    pub fn spawn(
        exe: &Path,
        args: &[&str],
        dir: &Path,
        name: &str,
        env: &[(String, String)],
        stdout_piped: bool,
    ) -> anyhow::Result<UnderTest> {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new(exe);
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .stdin(Stdio::null())
            .stderr(file.try_clone()?)
            .kill_on_drop(true);
        if stdout_piped {
            command.stdout(Stdio::piped());
        } else {
            command.stdout(file);
        }
        for key in ["PATH", "HOME"] {
            if let Ok(value) = std::env::var(key) {
                command.env(key, value);
            }
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let pid = child.id().context("child has no pid")?;
        Ok(UnderTest { child, pid, log })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its usage now.
    pub fn usage(&self) -> anyhow::Result<Usage> {
        usage(self.pid)
    }

    /// The first line the child printed on stdout (when it was started with `stdout_piped`),
    /// within `limit`.
    pub async fn first_line(&mut self, limit: Duration) -> anyhow::Result<String> {
        let stdout = self.child.stdout.take().context("stdout not piped")?;
        let mut lines = BufReader::new(stdout).lines();
        match tokio::time::timeout(limit, lines.next_line()).await {
            Ok(Ok(Some(line))) => {
                // Keep draining so the child never blocks on a full pipe.
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                Ok(line)
            }
            Ok(Ok(None)) => bail!("the child closed stdout (see {})", self.log.display()),
            Ok(Err(err)) => Err(err.into()),
            Err(_) => bail!("no output within {limit:?} (see {})", self.log.display()),
        }
    }

    /// Fails if the child has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("exited early with {status} (see {})", self.log.display());
        }
        Ok(())
    }

    /// SIGTERM, then waits up to `grace` before killing it. Returns whether it exited cleanly.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<bool> {
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => Ok(status?.success()),
            Err(_) => {
                self.child.kill().await?;
                Ok(false)
            }
        }
    }
}

/// A free port on 127.0.0.1 (bound and released; the child binds it again at once).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Creates an admin API key of the default organization (where a child engine's calls land) by
/// running `exe apikey create` in `dir` with `env`, before the engine itself starts on the same
/// managed database; returns the key.
pub async fn create_api_key(
    exe: &Path,
    dir: &Path,
    env: &[(String, String)],
) -> anyhow::Result<String> {
    let mut command = Command::new(exe);
    command
        .args(["apikey", "create", "--org", "default", "--role", "admin"])
        .args(["--name", "loadtest"])
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for key in ["PATH", "HOME"] {
        if let Ok(value) = std::env::var(key) {
            command.env(key, value);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .map_err(|_| anyhow::anyhow!("`switchboard apikey create` took over 180 s"))??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().find_map(|line| line.strip_prefix("key ")) {
        Some(key) if output.status.success() => Ok(key.trim().to_owned()),
        _ => anyhow::bail!(
            "`switchboard apikey create` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}
