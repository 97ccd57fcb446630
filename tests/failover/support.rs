//! What the failover tests share: the tenant, the PostgreSQL database they use, fresh SQLite
//! files, and other processes driven over pipes.
//!
//! A child process is this test binary run again as the ignored test `support::child`, with
//! its store in the environment; it answers one line of commands at a time on stdin (see
//! [`child`]), so a test can interleave what two processes do exactly.

#![allow(dead_code)]

use oneid::{Error, IdentityInput, IdentitySettings, ResolveRequest, Resolver, Store, TenantId};
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Far longer than any operation here takes, even on a loaded machine: what [`returns`] waits
/// before it calls an operation hung. A guard against hangs, not a measure of speed.
pub const HANG: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `f` on a thread of its own and gives its result, panicking if it has not returned
/// within [`HANG`] (so that a hang fails the test instead of stalling the run).
pub fn returns<T: Send>(what: &str, f: impl FnOnce() -> T + Send) -> T {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(move || {
            let _ = done.send(f());
        });
        match result.recv_timeout(HANG) {
            Ok(out) => out,
            Err(_) => panic!("{what} did not return within {HANG:?}"),
        }
    })
}

pub fn tenant() -> TenantId {
    TenantId::new("failover")
}

/// A request of `type=value` pairs.
pub fn request(pairs: &[(&str, &str)]) -> ResolveRequest {
    ResolveRequest::new(pairs.iter().map(|(t, v)| IdentityInput::new(*t, *v)))
}

/// The default settings with at most `limit` mobiles per customer (`None`: unlimited, the
/// default).
pub fn mobile_limit(limit: Option<u32>) -> IdentitySettings {
    IdentitySettings::default().with_limit("mobile", limit).unwrap()
}

/// The name of an error's variant, for messages and for the child's answers.
pub fn kind(e: &Error) -> &'static str {
    match e {
        Error::Unavailable { .. } => "Unavailable",
        Error::OutcomeUnknown { .. } => "OutcomeUnknown",
        Error::Transient(_) => "Transient",
        Error::Contention { .. } => "Contention",
        Error::Database { .. } => "Database",
        _ => "other",
    }
}

/// A fresh database file under the target directory (with no WAL or shared memory left).
#[cfg(feature = "sqlite")]
pub fn sqlite_path(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("failover");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// The database `ONEID_PG_URL` names (default `host=127.0.0.1 user=postgres dbname=test`).
#[cfg(feature = "postgres")]
pub fn pg_url() -> String {
    std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_string())
}

/// [`pg_url`] with the connections named `app`, so that a test terminates its own store's
/// backends and nobody else's.
#[cfg(feature = "postgres")]
pub fn pg_url_as(app: &str) -> String {
    format!("{} application_name={app}", pg_url())
}

/// The server [`pg_url`] names (its `host` and `port`; 127.0.0.1:5432 when it names none).
#[cfg(feature = "postgres")]
pub fn pg_server() -> std::net::SocketAddr {
    let url = pg_url();
    let value = |key: &str| {
        url.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
    };
    let host = value("host").unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = value("port").map_or(5432, |p| p.parse().unwrap());
    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .unwrap()
        .next()
        .unwrap()
}

/// [`pg_url`] through a proxy on `port` of this machine.
#[cfg(feature = "postgres")]
pub fn pg_url_via(port: u16) -> String {
    let url = pg_url();
    let rest: Vec<&str> = url
        .split_whitespace()
        .filter(|kv| !kv.starts_with("host=") && !kv.starts_with("port=") && !kv.starts_with("sslmode="))
        .collect();
    format!("{} host=127.0.0.1 port={port} sslmode=disable", rest.join(" "))
}

#[cfg(feature = "postgres")]
pub fn admin() -> postgres::Client {
    postgres::Client::connect(&pg_url(), postgres::NoTls)
        .unwrap_or_else(|e| panic!("PostgreSQL at {:?} is needed: {e}", pg_url()))
}

/// Drops `schema`, so that a store opened in it starts empty.
#[cfg(feature = "postgres")]
pub fn drop_schema(schema: &str) {
    admin()
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
}

/// Terminates every backend of this database whose connection is named `app`; returns how
/// many there were.
#[cfg(feature = "postgres")]
pub fn terminate(app: &str) -> usize {
    admin()
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
            &[&app],
        )
        .unwrap()
        .iter()
        .filter(|r| r.get::<_, bool>(0))
        .count()
}

/// Another process on a store, answering commands (see [`child`]); killed when dropped.
pub struct Child {
    process: std::process::Child,
    stdin: std::process::ChildStdin,
    answers: mpsc::Receiver<String>,
}

impl Child {
    /// Starts a child on `store` (`sqlite:PATH` or `postgres:SCHEMA`) whose handle has
    /// `defaults` (`limit1`: at most one mobile; anything else: the default settings), and
    /// waits until its store is open.
    pub fn start(store: &str, defaults: &str) -> Child {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "support::child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ONEID_CHILD_STORE", store)
            .env("ONEID_CHILD_DEFAULTS", defaults)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = process.stdin.take().unwrap();
        let stdout = process.stdout.take().unwrap();
        let (send, answers) = mpsc::channel();
        std::thread::spawn(move || {
            // The test harness writes its own lines on stdout too: answers carry a mark.
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((_, answer)) = line.split_once(MARK)
                    && send.send(answer.to_owned()).is_err()
                {
                    break;
                }
            }
        });
        let mut child = Child {
            process,
            stdin,
            answers,
        };
        assert_eq!(child.answer(), "ready");
        child
    }

    /// Sends one command and waits for its answer.
    pub fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.answer()
    }

    fn answer(&mut self) -> String {
        self.answers
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("the child did not answer: {e}"))
    }

    /// Sends `resolve` with `pairs`; the outcome as JSON, or the error's kind.
    pub fn resolve(&mut self, pairs: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        let command = pairs
            .iter()
            .map(|(t, v)| format!("{t}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let answer = self.ask(&format!("resolve {command}"));
        match answer.strip_prefix("ok ") {
            Some(json) => Ok(serde_json::from_str(json).unwrap()),
            None => Err(answer),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Marks the child's answers among the lines on its stdout.
const MARK: &str = "oneid> ";

/// The child side. Opens the store `ONEID_CHILD_STORE` names (`sqlite:PATH` or
/// `postgres:SCHEMA`), says `ready`, then answers, one line each:
///
/// - `resolve TYPE=VALUE ...`: `ok` and the outcome as JSON, or the error's kind;
/// - `limit N` / `limit none`: stores the default settings with that mobile limit
///   (`set_settings`), and answers the version;
/// - `hold` (SQLite): opens a connection of its own, begins a write transaction that marks
///   every customer deleted and answers `holding`, keeping it open; `rollback` or `commit`
///   ends it.
///
/// Does nothing when run by hand.
#[test]
#[ignore = "run as a child process by the failover tests"]
fn child() {
    let Ok(store) = std::env::var("ONEID_CHILD_STORE") else {
        return;
    };
    let defaults = match std::env::var("ONEID_CHILD_DEFAULTS").as_deref() {
        Ok("limit1") => mobile_limit(Some(1)),
        _ => IdentitySettings::default(),
    };
    match store.split_once(':') {
        #[cfg(feature = "sqlite")]
        Some(("sqlite", path)) => serve(
            Resolver::new(oneid::SqliteStore::open(path).unwrap()).with_default_settings(defaults),
            Some(path),
        ),
        #[cfg(feature = "postgres")]
        Some(("postgres", schema)) => serve(
            Resolver::new(oneid::PostgresStore::connect_in_schema(&pg_url(), schema).unwrap())
                .with_default_settings(defaults),
            None,
        ),
        _ => panic!("unknown store {store}"),
    }
}

fn serve<S: Store>(r: Resolver<S>, sqlite_path: Option<&str>) {
    let say = |answer: &str| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "\n{MARK}{answer}").unwrap();
        out.flush().unwrap();
    };
    say("ready");
    #[cfg(feature = "sqlite")]
    let mut held: Option<rusqlite::Connection> = None;
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let (command, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match command {
            "resolve" => {
                let pairs: Vec<(&str, &str)> = rest.split(' ').map(|p| p.split_once('=').unwrap()).collect();
                match r.resolve(&tenant(), &request(&pairs)) {
                    Ok(outcome) => say(&format!("ok {}", serde_json::to_string(&outcome).unwrap())),
                    Err(e) => say(&format!("{} {e}", kind(&e))),
                }
            }
            "limit" => {
                let limit = rest.parse::<u32>().ok();
                match r.set_settings(&tenant(), &mobile_limit(limit), Some("limit")) {
                    Ok(version) => say(&version.to_string()),
                    Err(e) => say(&format!("{} {e}", kind(&e))),
                }
            }
            #[cfg(feature = "sqlite")]
            "hold" => {
                let conn = rusqlite::Connection::open(sqlite_path.expect("a SQLite store")).unwrap();
                conn.execute_batch("BEGIN IMMEDIATE; UPDATE oneid_customers SET status = 'deleted';")
                    .unwrap();
                held = Some(conn);
                say("holding");
            }
            #[cfg(feature = "sqlite")]
            "rollback" | "commit" => {
                held.take().unwrap().execute_batch(command).unwrap();
                say("done");
            }
            other => panic!("unknown command {other}"),
        }
    }
    let _ = sqlite_path;
}
