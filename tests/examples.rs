//! Every example runs as a test (in the style of csv's `tests/tests.rs`): built once with this
//! test's features, each must succeed and print what it promises. Examples assert their own
//! documented behaviour as they run, so a passing run is most of the check; the lines below
//! make sure each one also printed its story.
//!
//! A new example is one line in the `examples!` table; `every_example_is_run` fails until it
//! is there.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The crate features this test binary was built with. Examples are built with the same ones,
/// so `--sqlite` works wherever its test runs.
fn features() -> String {
    let mut on = Vec::new();
    if cfg!(feature = "sqlite") {
        on.push("sqlite");
    }
    if cfg!(feature = "postgres") {
        on.push("postgres");
    }
    if cfg!(feature = "tokio") {
        on.push("tokio");
    }
    if cfg!(feature = "http") {
        on.push("http");
    }
    on.join(",")
}

/// Every example's executable, built once by one `cargo build --examples`.
///
/// Each test used to `cargo run` its example. Concurrent `cargo run`s relink
/// `target/debug/examples/NAME` after their build, and a run with other features swapped the
/// binary under a test about to start it (CI once ran the memory-only build with `--sqlite`).
/// Built once, the binaries are never touched again while the tests run.
fn example_binaries() -> &'static HashMap<String, PathBuf> {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let output = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--examples", "--message-format=json"])
            .args(["--features", &features()])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "cargo build --examples failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut binaries = HashMap::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let message: serde_json::Value = serde_json::from_str(line).expect("cargo prints JSON");
            let is_example = message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "example"));
            if let (true, Some(executable)) = (is_example, message["executable"].as_str()) {
                let name = message["target"]["name"].as_str().expect("a target has a name");
                binaries.insert(name.to_string(), PathBuf::from(executable));
            }
        }
        binaries
    })
}

/// Runs example `name` with `args`, from this crate's directory.
fn example_output(name: &str, args: &[&str]) -> Output {
    let binary = example_binaries()
        .get(name)
        .unwrap_or_else(|| panic!("cargo built no example {name}"));
    Command::new(binary)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the example starts")
}

/// Runs an example, asserts that it succeeded, and returns its standard output.
fn run_example(name: &str, args: &[&str]) -> String {
    let output = example_output(name, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "example {name} failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs an example and asserts that its output contains each expected text, in order.
fn check_example(name: &str, args: &[&str], expected: &[&str]) {
    let out = run_example(name, args);
    let mut rest = out.as_str();
    for want in expected {
        match rest.find(want) {
            Some(at) => rest = &rest[at + want.len()..],
            None => panic!("example {name}: expected {want:?} (in this order) in its output:\n{out}"),
        }
    }
}

/// `name: [args] => [texts its output contains, in order]`, one line per example: a test of
/// that name each, and the list `every_example_is_run` checks against `examples/`. An
/// attribute before a line (`#[cfg(feature = "...")]`) applies to its test, for an example
/// that needs a feature.
macro_rules! examples {
    ($($(#[$attr:meta])* $name:ident: [$($arg:literal),*] => [$($want:literal),* $(,)?];)*) => {
        const EXAMPLES: &[&str] = &[$(stringify!($name)),*];
        $(
            $(#[$attr])*
            #[test]
            fn $name() {
                check_example(stringify!($name), &[$($arg),*], &[$($want),*]);
            }
        )*
    };
}

examples! {
    quickstart: [] => [
        "== 1. create with identities\n   customer 1 (created)\n   linked   wechat o123456",
        "== 2. plain create with the same mobile\n   customer 1\n   matched  mobile 18612341234\n   changed  name",
        "== 3. the CRM's email\n   customer 2 (created)",
        "merged   customer 2 into it",
        "== 5. the same touchpoint again",
        "nothing changed",
        "09:03 customer 1 absorbed customer 2 (resolve shop-42)",
        "\"displayName\": \"小D2\"",
    ];
    custom_store: [] => [
        "published 7 events",
        "Merged { from: CustomerId(2), into: CustomerId(1) }",
        "Deleted(CustomerId(1))",
    ];
    convertlab_dmhub: [] => [
        "POST customerandidentities -> id 1, created true",
        "POST customerandidentities (bound identity) -> id Some(CustomerId(1)), created false",
    ];
    baiyao_cdp: [] => ["singleDelete -> customerInfo: None"];
    clinic_shop: [] => ["GET linked-account -> [{\"identityType\":\"idcard\""];
    beauty_clinic: [] => ["getCusInfoByCusTelnum(13338363507) -> id 1"];
    parse_yardstick: [] => ["bare   4294 records in", "typed  4294 records in"];
    // Every hit reaches the customer it was built for.
    hot_path_count: ["--customers", "500", "--hits", "2000"] => [
        "2000 hits with 3 identities on 500 customers reached 500 customers",
    ];
    // The load test, small: its own end-state check (customers = connected components) passes.
    load: ["--threads", "4", "--requests", "3000", "--people", "700"] => [
        "requests         3000",
        "ok               3000",
        "errors           0",
    ];
    // The HTTP service, answering requests sent over a socket.
    #[cfg(feature = "tokio")]
    service: ["--self-test"] => [
        "POST /v1/customerandidentities -> 201 customer 1 小D",
        "(bound openid) -> 200 customer 1 city 上海",
        "(email and openid) -> 200 customer 2 小D",
        "GET /v1/customers/1 -> 200 customer 2",
        "GET /v1/customers/999 -> 404",
        "(no X-Tenant) -> 400",
        "(bad mobile) -> 400 Input",
        "16 concurrent POST /v1/customerandidentities -> 1 customer, 1 created",
        "self-test passed",
    ];
    // The four sources' router, one call over a socket and a read back.
    #[cfg(feature = "http")]
    server: ["--check"] => [
        "POST /v1/customerandidentities -> 200 OK customer 1 \"小D\"",
        "GET /v1/customers/1 -> 200 OK mobile \"18612341234\"",
    ];
    // The main job with limits, blocked values and quarantine off: plain connected components.
    resolve: ["--quiet", "--plain"] => [
        "settings         plain",
        "blocked          0",
        "quarantined      0 values",
    ];
}

/// Every file in `examples/` is in the table above, so none goes untested.
#[test]
fn every_example_is_run() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples/ exists") {
        let path = entry.unwrap().path();
        // An example is a file `NAME.rs` or a directory `NAME/` with a `main.rs`.
        if path.extension().is_some_and(|e| e == "rs") || path.join("main.rs").is_file() {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if !EXAMPLES.contains(&name.as_str()) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add these examples to the examples! table in tests/examples.rs: {missing:?}"
    );
}

/// The main job on the shipped sample: the summary reports every figure, and the clusters
/// written with `--out` cover every record.
#[test]
fn resolve_sample() {
    let clusters = std::env::temp_dir().join(format!("oneid-sample-clusters-{}.jsonl", std::process::id()));
    let out = run_example("resolve", &["--quiet", "--out", clusters.to_str().unwrap()]);
    let field = |name: &str| -> f64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{out}"));
        line[name.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(field("records"), 4294.0);
    assert_eq!(field("invalid records"), 0.0);
    assert!(field("blocked") > 0.0, "the sample carries blocked placeholders");
    assert!(field("largest customer") <= 20.0);
    assert!(field("precision") > 0.95 && field("recall") > 0.8, "{out}");
    let lines = std::fs::read_to_string(&clusters).unwrap();
    std::fs::remove_file(&clusters).ok();
    assert_eq!(lines.lines().count(), 4294);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["record_id"], "r0");
    assert!(first["cluster"].as_u64().is_some());
}

/// A file that starts with a byte-order mark reads its first record; a record whose `ts`
/// cannot be read is refused and counted, not resolved as if it happened now.
#[test]
fn resolve_reads_a_bom_and_refuses_unreadable_times() {
    let dir = std::env::temp_dir();
    let input = dir.join(format!("oneid-bom-{}.jsonl", std::process::id()));
    let clusters = dir.join(format!("oneid-bom-clusters-{}.jsonl", std::process::id()));
    let record = |id: &str, ts: &str| {
        format!(
            r#"{{"record_id":"{id}","ts":"{ts}","identities":[{{"type":"mobile","value":"13800138001"}}]}}"#
        )
    };
    let text = format!(
        "\u{feff}{}\n{}\n{}\n",
        record("r1", "2024-01-01T00:00:00Z"),
        record("r2", "yesterday"),
        record("r3", "2024-01-02T00:00:00Z")
    );
    std::fs::write(&input, text).unwrap();
    let output = example_output(
        "resolve",
        &[
            "--quiet",
            input.to_str().unwrap(),
            "--out",
            clusters.to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.lines().any(|l| l.split_whitespace().eq(["records", "2"])),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["invalid", "records", "1"])),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["customers", "1"])),
        "{stdout}"
    );
    assert!(
        stderr.contains(r#"line 2: skipped, not a record: ts "yesterday" is not a timestamp"#),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&clusters).unwrap();
    std::fs::remove_file(&input).ok();
    std::fs::remove_file(&clusters).ok();
    let ids: Vec<String> = written
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["record_id"].to_string())
        .collect();
    assert_eq!(ids, [r#""r1""#, r#""r3""#]);
}

#[test]
fn resolve_rejects_bad_arguments() {
    let output = example_output("resolve", &["--frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown option --frobnicate"));
}

/// `--sqlite` resolves into a database that holds the same customers as the memory run.
#[cfg(feature = "sqlite")]
#[test]
fn resolve_into_sqlite() {
    let db = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("resolve-sample.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let output = example_output("resolve", &["--quiet", "--sqlite", db.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sqlite = String::from_utf8_lossy(&output.stdout).into_owned();
    let memory = run_example("resolve", &["--quiet"]);
    let line = |out: &str, key: &str| out.lines().find(|l| l.starts_with(key)).unwrap().to_string();
    for key in ["records", "customers", "merges", "precision"] {
        assert_eq!(line(&sqlite, key), line(&memory, key));
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let live: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM oneid_customers WHERE status = 'active'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(format!("customers        {live}"), line(&sqlite, "customers"));
}

/// `--sqlite` (a bulk load) and `--sqlite --one-by-one` give the clusters of the memory run,
/// byte for byte; a second load into the same database is refused, as its tenant holds
/// customers.
#[cfg(feature = "sqlite")]
#[test]
fn resolve_into_sqlite_clusters_match_memory() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let fresh = |db: &str| {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{db}{suffix}"));
        }
    };
    run_example("resolve", &["--quiet", "--out", &file("clusters-memory.jsonl")]);
    let (bulk, stepped) = (file("resolve-bulk.db"), file("resolve-stepped.db"));
    fresh(&bulk);
    fresh(&stepped);
    run_example(
        "resolve",
        &[
            "--quiet",
            "--sqlite",
            &bulk,
            "--out",
            &file("clusters-bulk.jsonl"),
        ],
    );
    run_example(
        "resolve",
        &[
            "--quiet",
            "--sqlite",
            &stepped,
            "--one-by-one",
            "--out",
            &file("clusters-stepped.jsonl"),
        ],
    );
    let memory = std::fs::read(file("clusters-memory.jsonl")).unwrap();
    assert_eq!(std::fs::read(file("clusters-bulk.jsonl")).unwrap(), memory);
    assert_eq!(std::fs::read(file("clusters-stepped.jsonl")).unwrap(), memory);
    let again = example_output("resolve", &["--quiet", "--sqlite", &bulk]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds customers"));
}

/// `--postgres` bulk loads into PostgreSQL (`ONEID_PG_URL`, a schema of its own) the
/// clusters of the memory run, byte for byte.
#[cfg(feature = "postgres")]
#[test]
fn resolve_into_postgres_clusters_match_memory() {
    let url =
        std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute("DROP SCHEMA IF EXISTS resolve_example CASCADE; CREATE SCHEMA resolve_example")
        .unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let memory = run_example(
        "resolve",
        &["--quiet", "--out", &file("clusters-memory-pg.jsonl")],
    );
    let in_schema = format!("{url} options='-c search_path=resolve_example'");
    let pg = run_example(
        "resolve",
        &[
            "--quiet",
            "--postgres",
            &in_schema,
            "--out",
            &file("clusters-postgres.jsonl"),
        ],
    );
    assert_eq!(
        std::fs::read(file("clusters-postgres.jsonl")).unwrap(),
        std::fs::read(file("clusters-memory-pg.jsonl")).unwrap()
    );
    let line = |out: &str, key: &str| out.lines().find(|l| l.starts_with(key)).unwrap().to_string();
    for key in ["records", "customers", "merges", "precision", "recall"] {
        assert_eq!(line(&pg, key), line(&memory, key));
    }
}
