//! Every example runs as a test (in the style of csv's `tests/tests.rs`): it must succeed and
//! print what it promises. Examples assert their own documented behaviour as they run.

use std::process::Command;

/// Runs `cargo run --example NAME -- ARGS` and returns its standard output.
fn run_example(name: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--example", name, "--"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "example {name} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn quickstart() {
    let out = run_example("quickstart", &[]);
    assert!(
        out.contains("== create with identities\n   customer 1 (created)"),
        "{out}"
    );
    assert!(out.contains("merged   customer 2 into it"), "{out}");
    assert!(out.contains("\"displayName\": \"小D2\""), "{out}");
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

#[test]
fn resolve_plain_is_connected_components() {
    let out = run_example("resolve", &["--quiet", "--plain"]);
    assert!(out.contains("settings         plain"), "{out}");
    assert!(out.contains("blocked          0"), "{out}");
    assert!(out.contains("quarantined      0 values"), "{out}");
}

#[test]
fn resolve_rejects_bad_arguments() {
    let output = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--example", "resolve", "--", "--frobnicate"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown option --frobnicate"));
}

/// One example per source system; each asserts that system's documented behaviour as it runs.
#[test]
fn source_systems() {
    let dmhub = run_example("convertlab_dmhub", &[]);
    assert!(
        dmhub
            .contains("POST customerandidentities (bound identity) -> id Some(CustomerId(1)), created false")
    );
    let baiyao = run_example("baiyao_cdp", &[]);
    assert!(baiyao.contains("singleDelete -> customerInfo: None"));
    let clinic = run_example("clinic_shop", &[]);
    assert!(clinic.contains("GET linked-account -> [{\"identityType\":\"idcard\""));
    let beauty = run_example("beauty_clinic", &[]);
    assert!(beauty.contains("getCusInfoByCusTelnum(13338363507) -> id 1"));
}

/// `--sqlite` resolves into a database that holds the same customers as the memory run.
#[cfg(feature = "sqlite")]
#[test]
fn resolve_into_sqlite() {
    let db = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("resolve-sample.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let output = Command::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "--features",
            "sqlite",
            "--example",
            "resolve",
            "--",
            "--quiet",
            "--sqlite",
        ])
        .arg(&db)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
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
