//! A load test of the shared handle: many threads resolving through one `Resolver`, each
//! waiting for its own answer, as the handlers of a service do.
//!
//! ```text
//! cargo run --release --example load -- [--store memory | --sqlite PATH | --postgres URL]
//!     [--threads 16] [--requests 20000] [--people 5000] [--seed 7] [--no-group-commit]
//! ```
//!
//! Requests are touchpoints of `--people` people, each carrying one to three of the person's
//! identities (a mobile, an email, a WeChat openid) in a different selection each time, in a
//! seeded random order; thread `k` sends requests `k`, `k + threads`, … one after another. The
//! report gives resolves per second, latency percentiles, the errors by kind, and checks the
//! end state: exactly as many customers as the requests make connected components (a person
//! whose requests never shared an identity is two customers, rightly).
//!
//! `--postgres` works in a schema of its own (`oneid_load`), emptied first; `--sqlite` in a
//! fresh file.

use oneid::{CustomerFilter, IdentityInput, MemoryStore, ResolveRequest, Resolver, Store, TenantId};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

struct Args {
    store: String,
    threads: usize,
    requests: usize,
    people: u64,
    seed: u64,
    group_commit: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        store: "memory".into(),
        threads: 16,
        requests: 20_000,
        people: 5_000,
        seed: 7,
        group_commit: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--store" if value()? == "memory" => a.store = "memory".into(),
            "--sqlite" => a.store = format!("sqlite:{}", value()?),
            "--postgres" => a.store = format!("postgres:{}", value()?),
            "--threads" => a.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--requests" => a.requests = value()?.parse().map_err(|e| format!("--requests: {e}"))?,
            "--people" => a.people = value()?.parse().map_err(|e| format!("--people: {e}"))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--no-group-commit" => a.group_commit = false,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.threads == 0 || a.people == 0 {
        return Err("--threads and --people must be at least 1".into());
    }
    Ok(a)
}

/// A small seeded generator (xorshift64*): the same requests on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The requests of the run, each with the person it is of and which of the person's three
/// identities it carries (a bit each).
fn workload(a: &Args) -> Vec<(u64, u8, ResolveRequest)> {
    let mut rng = Rng(a.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..a.requests)
        .map(|_| {
            let person = rng.next() % a.people;
            let all = [
                IdentityInput::new("mobile", format!("1{:010}", 3_000_000_000 + person)),
                IdentityInput::new("email", format!("p{person}@example.com")),
                IdentityInput::new("wechat", format!("o{person:027x}")),
            ];
            let skip = (rng.next() % 3) as usize;
            let take = 1 + (rng.next() % 3) as usize;
            let carried = (skip..skip + take).fold(0u8, |bits, i| bits | 1 << (i % 3));
            let ids: Vec<_> = all.into_iter().cycle().skip(skip).take(take).collect();
            (person, carried, ResolveRequest::new(ids))
        })
        .collect()
}

/// How many customers the requests make: per person, the groups of their identities that
/// some request joins (two identities are joined when one request carries both).
fn components(work: &[(u64, u8, ResolveRequest)]) -> u64 {
    let mut seen: HashMap<u64, Vec<u8>> = HashMap::new();
    for (person, carried, _) in work {
        let groups = seen.entry(*person).or_default();
        // Merge every group the request touches with the request's identities.
        let mut joined = *carried;
        groups.retain(|g| {
            let touches = g & carried != 0;
            if touches {
                joined |= g;
            }
            !touches
        });
        groups.push(joined);
    }
    seen.values().map(|g| g.len() as u64).sum()
}

fn run<S: Store + 'static>(resolver: Resolver<S>, a: &Args) -> Result<(), String> {
    // Group commit is on by default where commits flush (the SQL stores).
    let resolver = if a.group_commit {
        resolver
    } else {
        resolver.with_group_commit(false)
    };
    let tenant = TenantId::new("load");
    let work = workload(a);
    let start = Instant::now();
    let results: Vec<(Vec<Duration>, BTreeMap<String, u64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..a.threads)
            .map(|k| {
                let (resolver, tenant, work) = (resolver.clone(), tenant.clone(), &work);
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut errors = BTreeMap::new();
                    for (_, _, request) in work.iter().skip(k).step_by(a.threads) {
                        let sent = Instant::now();
                        match resolver.resolve(&tenant, request) {
                            Ok(_) => latencies.push(sent.elapsed()),
                            Err(e) => *errors.entry(format!("{:?}: {e}", e.kind())).or_insert(0) += 1,
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load thread panicked"))
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut latencies: Vec<Duration> = results.iter().flat_map(|(l, _)| l.iter().copied()).collect();
    latencies.sort();
    let mut errors = BTreeMap::new();
    for (_, e) in &results {
        for (k, n) in e {
            *errors.entry(k.clone()).or_insert(0u64) += n;
        }
    }
    let at = |q: f64| {
        latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
    };
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let expected = components(&work);
    let customers = resolver
        .count(&tenant, &CustomerFilter::default())
        .map_err(|e| format!("count: {e}"))?;
    println!("store            {}", a.store.split(':').next().unwrap_or(""));
    println!("threads          {}", a.threads);
    println!(
        "group commit     {}",
        if a.group_commit {
            "where the store prefers it"
        } else {
            "off"
        }
    );
    println!("requests         {}", work.len());
    println!("ok               {}", latencies.len());
    println!("errors           {}", errors.values().sum::<u64>());
    for (kind, n) in &errors {
        println!("   {n:>8}  {kind}");
    }
    println!("seconds          {elapsed:.3}");
    println!("resolves/s       {:.0}", latencies.len() as f64 / elapsed);
    println!("p50 ms           {:.3}", ms(at(0.50)));
    println!("p99 ms           {:.3}", ms(at(0.99)));
    println!("components       {expected}");
    println!("customers        {customers}");
    if customers != expected {
        return Err(format!(
            "{customers} customers for {expected} connected components"
        ));
    }
    if !errors.is_empty() {
        return Err(format!("{} requests failed", errors.values().sum::<u64>()));
    }
    Ok(())
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let result = match a.store.split_once(':') {
        None => run(Resolver::new(MemoryStore::new()), &a),
        #[cfg(feature = "sqlite")]
        Some(("sqlite", path)) => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
            match oneid::SqliteStore::open(path) {
                Ok(store) => run(Resolver::new(store), &a),
                Err(e) => Err(format!("{path}: {e}")),
            }
        }
        #[cfg(feature = "postgres")]
        Some(("postgres", url)) => match postgres_store(url, a.threads) {
            Ok(store) => run(Resolver::new(store), &a),
            Err(e) => Err(format!("{url}: {e}")),
        },
        Some((kind, _)) => Err(format!("--{kind} needs the {kind} feature")),
    };
    if let Err(e) = result {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}

#[cfg(feature = "postgres")]
fn postgres_store(url: &str, threads: usize) -> Result<oneid::PostgresStore, Box<dyn std::error::Error>> {
    let mut admin = postgres::Client::connect(url, postgres::NoTls)?;
    admin.batch_execute("DROP SCHEMA IF EXISTS oneid_load CASCADE")?;
    Ok(oneid::PostgresStore::connect_with(
        url,
        oneid::PostgresOptions::new()
            .schema("oneid_load")
            .pool_size(threads as u32),
    )?)
}
