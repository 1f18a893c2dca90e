//! The managed PostgreSQL cluster: a private server under `<data_dir>/postgres`, so that one command
//! runs everything on a fresh machine and tests need no pre-started database.
//!
//! The cluster listens only on a unix socket inside its own directory (no TCP port to collide with),
//! is created with `initdb` on first use, started and stopped with `pg_ctl`, and is exclusive to one
//! engine at a time (an advisory lock on `<data_dir>/postgres.lock`). PostgreSQL refuses to run as
//! root; when the engine is root the server runs as the unprivileged `postgres` user instead.
//!
//! All functions here block (they run external programs); async callers use `spawn_blocking`.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The role and database the engine uses inside its cluster.
pub const ROLE: &str = "switchboard";
/// The database holding the engine's schema.
pub const DATABASE: &str = "switchboard";
/// The port number names the socket file (`.s.PGSQL.5432`); nothing listens on TCP.
const PORT: u16 = 5432;
/// The settings file the engine owns, included from `postgresql.conf`.
const SETTINGS_FILE: &str = "switchboard.conf";
/// The longest a unix socket path may be (`sun_path`, less the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Why the managed cluster could not be set up, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under \
         /usr/lib/postgresql/*/bin; install them with `apt-get install postgresql` \
         (or set database.url to use an existing server)"
    )]
    BinariesNotFound,
    #[error(
        "the engine runs as root, PostgreSQL refuses to, and there is no `postgres` user to run it \
         as; install PostgreSQL's server package (`apt-get install postgresql`), which creates it"
    )]
    NoUnprivilegedUser,
    #[error("data directory {dir} is in use by another switchboard engine{}", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    InUse { dir: PathBuf, pid: Option<u32> },
    #[error(
        "the cluster in {dir} was made by PostgreSQL {found} but the binaries found are version \
         {binaries}; use matching binaries or move the directory away"
    )]
    VersionMismatch {
        dir: PathBuf,
        found: String,
        binaries: String,
    },
    #[error(
        "socket path {0} is longer than the 107 bytes a unix socket allows; use a shorter storage.data_dir"
    )]
    PathTooLong(PathBuf),
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ClusterError + 'a {
    move |source| ClusterError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Where the server binaries are.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    dir: PathBuf,
}

impl PgBinaries {
    /// Finds `initdb` and `pg_ctl` on `path` (a PATH-style list) or, failing that, in the newest
    /// `<versions_root>/*/bin` (Debian's `/usr/lib/postgresql`).
    pub fn locate(path: Option<&OsStr>, versions_root: &Path) -> Result<Self, ClusterError> {
        let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
        if let Some(dir) = path.and_then(|p| std::env::split_paths(p).find(|d| has_both(d))) {
            return Ok(PgBinaries { dir });
        }
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(versions_root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = entry.path().join("bin");
                has_both(&bin).then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, dir)| PgBinaries { dir })
            .ok_or(ClusterError::BinariesNotFound)
    }

    /// Looks on this process's PATH, then under `/usr/lib/postgresql`.
    pub fn from_environment() -> Result<Self, ClusterError> {
        Self::locate(
            std::env::var_os("PATH").as_deref(),
            Path::new("/usr/lib/postgresql"),
        )
    }

    fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The major version, e.g. "15", from `pg_ctl --version`.
    fn major_version(&self) -> Result<String, ClusterError> {
        let out = run(
            Command::new(self.program("pg_ctl")).arg("--version"),
            "pg_ctl --version",
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.split_whitespace().last().unwrap_or_default();
        Ok(version.split('.').next().unwrap_or_default().to_owned())
    }
}

/// Who the server processes run as.
#[derive(Debug, Clone, Copy)]
enum RunAs {
    /// This process's user (an ordinary user).
    Me,
    /// An unprivileged user, when the engine is root.
    User { uid: u32, gid: u32 },
}

impl RunAs {
    fn detect() -> Result<Self, ClusterError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(RunAs::Me);
        }
        match nix::unistd::User::from_name("postgres") {
            Ok(Some(user)) => Ok(RunAs::User {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            }),
            _ => Err(ClusterError::NoUnprivilegedUser),
        }
    }

    fn command(self, program: PathBuf) -> Command {
        let mut cmd = Command::new(program);
        // Out of the terminal's process group: a Ctrl-C reaches the engine, which stops the server
        // in order, rather than the server directly.
        cmd.process_group(0).current_dir("/");
        if let RunAs::User { uid, gid } = self {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// Hands `path` to the server's user.
    fn own(self, path: &Path) -> Result<(), ClusterError> {
        if let RunAs::User { uid, gid } = self {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io_err("chown", path))?;
        }
        Ok(())
    }

    /// Lets the server's user reach `dir` through its parents (a `mktemp -d` is 0700 root).
    fn make_reachable(self, dir: &Path) -> Result<(), ClusterError> {
        if let RunAs::User { .. } = self {
            for ancestor in dir.ancestors().skip(1) {
                let meta = fs::metadata(ancestor).map_err(io_err("inspect", ancestor))?;
                let mode = meta.mode();
                if mode & 0o001 == 0 {
                    fs::set_permissions(
                        ancestor,
                        fs::Permissions::from_mode((mode | 0o001) & 0o7777),
                    )
                    .map_err(io_err("make traversable", ancestor))?;
                }
            }
        }
        Ok(())
    }
}

/// A running private PostgreSQL cluster. Stopped by [`ManagedCluster::stop`] or, failing that, on drop.
#[derive(Debug)]
pub struct ManagedCluster {
    dir: PathBuf,
    bins: PgBinaries,
    run_as: RunAs,
    running: bool,
    /// Held for the cluster's life: one engine per data directory.
    _lock: File,
}

impl ManagedCluster {
    /// Starts (creating on first use) the cluster under `<data_dir>/postgres`.
    pub fn start(data_dir: &Path, bins: PgBinaries) -> Result<Self, ClusterError> {
        fs::create_dir_all(data_dir).map_err(io_err("create", data_dir))?;
        let data_dir = fs::canonicalize(data_dir).map_err(io_err("resolve", data_dir))?;
        let lock = lock_data_dir(&data_dir)?;
        let run_as = RunAs::detect()?;
        let dir = data_dir.join("postgres");
        let socket = dir.join(format!(".s.PGSQL.{PORT}"));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ClusterError::PathTooLong(socket));
        }

        let mut cluster = ManagedCluster {
            dir,
            bins,
            run_as,
            running: false,
            _lock: lock,
        };
        run_as.make_reachable(&cluster.dir)?;
        cluster.init_if_needed()?;
        cluster.write_settings()?;
        cluster.clear_leftovers()?;
        cluster.pg_ctl_start()?;
        cluster.running = true;
        Ok(cluster)
    }

    /// The cluster directory (also where the socket is).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Connection parameters for the engine's database over the unix socket.
    pub fn pg_config(&self) -> tokio_postgres::Config {
        self.pg_config_for(DATABASE)
    }

    /// Connection parameters for another database of the cluster (e.g. `postgres`, to create ours).
    pub fn pg_config_for(&self, dbname: &str) -> tokio_postgres::Config {
        Self::config_at(&self.dir, dbname)
    }

    /// Connection parameters for database `dbname` of a managed cluster running in `dir` (one
    /// this process did not start, such as the test run's shared cluster).
    pub fn config_at(dir: &Path, dbname: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(dir)
            .port(PORT)
            .user(ROLE)
            .dbname(dbname)
            .application_name("switchboard")
            .connect_timeout(Duration::from_secs(5));
        config
    }

    /// [`ManagedCluster::config_at`] as a `database.url` setting (`key=value` form).
    pub fn url_at(dir: &Path, dbname: &str) -> String {
        format!(
            "host={} port={PORT} user={ROLE} dbname={dbname}",
            dir.display()
        )
    }

    /// The server's pid while it runs, from `postmaster.pid`.
    pub fn server_pid(&self) -> Option<u32> {
        read_pid(&self.dir.join("postmaster.pid"))
    }

    /// Whether the server is up: `postmaster.pid` names a live PostgreSQL process.
    pub fn is_running(&self) -> bool {
        self.server_pid().is_some_and(is_postgres_process)
    }

    /// Starts the server again after [`ManagedCluster::stop`] or a crash of the server alone.
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        self.clear_leftovers()?;
        self.pg_ctl_start()?;
        self.running = true;
        Ok(())
    }

    /// Stops the server (fast shutdown: open sessions are ended, committed work is kept) and waits.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        if !self.is_running() {
            self.running = false;
            return Ok(());
        }
        let out = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"])?;
        if !out.status.success() {
            return Err(self.command_error("pg_ctl stop", &out));
        }
        self.running = false;
        Ok(())
    }

    fn init_if_needed(&mut self) -> Result<(), ClusterError> {
        let version_file = self.dir.join("PG_VERSION");
        if version_file.is_file() {
            let found = fs::read_to_string(&version_file)
                .map_err(io_err("read", &version_file))?
                .trim()
                .to_owned();
            let binaries = self.bins.major_version()?;
            if found != binaries {
                return Err(ClusterError::VersionMismatch {
                    dir: self.dir.clone(),
                    found,
                    binaries,
                });
            }
            return Ok(());
        }
        // No cluster, or the remains of an initdb that did not finish: start from an empty directory.
        if self.dir.exists() {
            tracing::warn!(dir = %self.dir.display(), "removing an unfinished cluster directory");
            fs::remove_dir_all(&self.dir).map_err(io_err("remove", &self.dir))?;
        }
        fs::create_dir(&self.dir).map_err(io_err("create", &self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err("set permissions of", &self.dir))?;
        self.run_as.own(&self.dir)?;

        tracing::info!(dir = %self.dir.display(), "creating the managed PostgreSQL cluster");
        let mut cmd = self.run_as.command(self.bins.program("initdb"));
        cmd.arg("-D").arg(&self.dir).args([
            "-U",
            ROLE,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        ]);
        let out = run(&mut cmd, "initdb")?;
        if !out.status.success() {
            return Err(self.command_error("initdb", &out));
        }
        let conf = self.dir.join("postgresql.conf");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&conf)
            .map_err(io_err("open", &conf))?;
        writeln!(
            file,
            "\n# Added by switchboard: its own settings.\ninclude_if_exists = '{SETTINGS_FILE}'"
        )
        .map_err(io_err("write", &conf))?;
        Ok(())
    }

    /// Rewritten at every start, so that a moved data directory still finds its socket.
    fn write_settings(&self) -> Result<(), ClusterError> {
        let path = self.dir.join(SETTINGS_FILE);
        let dir = self
            .dir
            .to_str()
            .filter(|d| !d.contains('\''))
            .ok_or_else(|| ClusterError::Command {
                what: "configure the cluster".into(),
                detail: format!(
                    "the path {} is not plain UTF-8 without quotes",
                    self.dir.display()
                ),
            })?;
        // lz4 for WAL compression exists from PostgreSQL 15; older servers take the built-in pglz.
        let major: u32 = self.bins.major_version()?.parse().unwrap_or(0);
        let wal_compression = if major >= 15 { "lz4" } else { "on" };
        let text = format!(
            "# Written by switchboard at every start; edits are lost.\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{dir}'\n\
             port = {PORT}\n\
             max_connections = 200\n\
             shared_buffers = '512MB'\n\
             # Fewer checkpoints and compressed full-page images: the message write path is\n\
             # WAL-bound. Durability is unchanged (fsync and synchronous_commit stay on).\n\
             max_wal_size = '4GB'\n\
             checkpoint_timeout = '15min'\n\
             wal_compression = '{wal_compression}'\n\
             # Full-text matches of a common word form large bitmaps; at the 4MB default they\n\
             # turn lossy and every row of their pages is searched again.\n\
             work_mem = '16MB'\n\
             logging_collector = off\n"
        );
        fs::write(&path, text).map_err(io_err("write", &path))?;
        self.run_as.own(&path)
    }

    /// Clears what a crashed engine or server left behind: a stale `postmaster.pid` (its pid dead or
    /// reused by an unrelated process), or a server still running from an engine that died.
    fn clear_leftovers(&self) -> Result<(), ClusterError> {
        let pid_file = self.dir.join("postmaster.pid");
        let Some(pid) = read_pid(&pid_file) else {
            return Ok(());
        };
        if is_postgres_process(pid) {
            // We hold the data-dir lock, so the engine that started it is gone: stop it in order.
            tracing::warn!(
                pid,
                "stopping a PostgreSQL server left running by an earlier engine"
            );
            let out = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"])?;
            if !out.status.success() {
                return Err(self.command_error("pg_ctl stop (leftover server)", &out));
            }
        } else {
            tracing::warn!(pid, "removing a stale postmaster.pid");
            fs::remove_file(&pid_file).map_err(io_err("remove", &pid_file))?;
            let socket_lock = self.dir.join(format!(".s.PGSQL.{PORT}.lock"));
            let _ = fs::remove_file(socket_lock);
        }
        Ok(())
    }

    fn pg_ctl_start(&self) -> Result<(), ClusterError> {
        let log = self.dir.join("server.log");
        let out = self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "120",
            "-l",
            log.to_str().unwrap_or("server.log"),
        ])?;
        if !out.status.success() {
            let mut tail = String::new();
            if let Ok(mut f) = File::open(&log) {
                let _ = f.read_to_string(&mut tail);
            }
            let tail: Vec<&str> = tail.lines().rev().take(8).collect();
            let mut err = self.command_error("pg_ctl start", &out);
            if let ClusterError::Command { detail, .. } = &mut err {
                detail.push_str("; server log: ");
                detail.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join(" | "));
            }
            return Err(err);
        }
        tracing::info!(dir = %self.dir.display(), pid = ?self.server_pid(), "managed PostgreSQL is up");
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<Output, ClusterError> {
        let mut cmd = self.run_as.command(self.bins.program("pg_ctl"));
        cmd.arg("-D").arg(&self.dir).args(args);
        run(&mut cmd, "pg_ctl")
    }

    fn command_error(&self, what: &str, out: &Output) -> ClusterError {
        let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if detail.is_empty() {
            detail = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        }
        ClusterError::Command {
            what: format!("{what} ({})", self.dir.display()),
            detail: format!("{} — {detail}", out.status),
        }
    }
}

impl Drop for ManagedCluster {
    fn drop(&mut self) {
        if self.running
            && let Err(err) = self.stop()
        {
            tracing::error!(%err, "could not stop the managed PostgreSQL cluster");
        }
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<Output, ClusterError> {
    cmd.env_remove("PGDATA")
        .env_remove("PGHOST")
        .env_remove("PGPORT");
    cmd.output().map_err(|e| ClusterError::Command {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}

/// Takes `<data_dir>/postgres.lock` for this process, or says who holds it.
fn lock_data_dir(data_dir: &Path) -> Result<File, ClusterError> {
    let path = data_dir.join("postgres.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err("open", &path))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io_err("write", &path))?;
            write!(file, "{}", std::process::id()).map_err(io_err("write", &path))?;
            Ok(file)
        }
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Err(ClusterError::InUse {
                dir: data_dir.to_owned(),
                pid: text.trim().parse().ok(),
            })
        }
        Err(fs::TryLockError::Error(e)) => Err(io_err("lock", &path)(e)),
    }
}

fn read_pid(pid_file: &Path) -> Option<u32> {
    let text = fs::read_to_string(pid_file).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Whether `pid` is a live PostgreSQL server process (not a reused pid of something else, and not a
/// zombie: a stopped postmaster is reparented and may wait a while to be reaped).
fn is_postgres_process(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state ...`; comm may itself hold spaces or parentheses.
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].trim_start().chars().next();
    (comm == "postgres" || comm == "postmaster") && !matches!(state, Some('Z' | 'X') | None)
}
