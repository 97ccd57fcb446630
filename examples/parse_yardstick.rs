//! The parse yardsticks of PERFORMANCE.md: read a file of records line by line and only parse
//! it, into a `serde_json::Value` ("bare") and into a `#[derive(Deserialize)]` struct of
//! borrowed strings ("typed"). Run beside the main job on the same file, they tell how fast
//! the machine is at that moment, so that the job's time can be judged against them.
//!
//! ```sh
//! cargo run --release --example parse_yardstick -- p1m.jsonl      # both, in turn
//! cargo run --release --example parse_yardstick -- p1m.jsonl bare
//! ```
//!
//! Without a file it parses the shipped sample.

use serde::Deserialize;
use std::io::BufRead;

#[derive(Deserialize)]
#[expect(dead_code, reason = "parsed to be measured, never read")]
struct Identity<'a> {
    #[serde(rename = "type", borrow)]
    ty: &'a str,
    #[serde(borrow)]
    value: &'a str,
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "parsed to be measured, never read")]
struct Record<'a> {
    #[serde(borrow)]
    record_id: &'a str,
    #[serde(borrow)]
    source: &'a str,
    #[serde(borrow)]
    ts: &'a str,
    #[serde(borrow, default)]
    truth: Option<&'a str>,
    #[serde(borrow)]
    identities: Vec<Identity<'a>>,
    #[serde(default)]
    attrs: serde_json::Map<String, serde_json::Value>,
}

/// Parses every line of `path` the `mode` way; the number of records and the seconds taken.
fn parse(path: &str, mode: &str) -> Result<(u64, f64), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let start = std::time::Instant::now();
    let mut records = 0u64;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("{path}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = if mode == "bare" {
            serde_json::from_str::<serde_json::Value>(&line).map(|v| drop(std::hint::black_box(v)))
        } else {
            serde_json::from_str::<Record>(&line).map(|r| drop(std::hint::black_box(r)))
        };
        parsed.map_err(|e| format!("{path}, record {}: {e}", records + 1))?;
        records += 1;
    }
    Ok((records, start.elapsed().as_secs_f64()))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/sample.jsonl");
    let path = args.next().unwrap_or_else(|| sample.to_string());
    let modes: Vec<String> = match args.next() {
        Some(mode) if mode == "bare" || mode == "typed" => vec![mode],
        Some(other) => {
            eprintln!("unknown mode {other:?}: bare or typed");
            std::process::exit(2);
        }
        None => vec!["bare".into(), "typed".into()],
    };
    for mode in modes {
        match parse(&path, &mode) {
            Ok((records, seconds)) => println!("{mode:<6} {records} records in {seconds:.2} s"),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
}
