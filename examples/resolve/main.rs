//! The main job: resolve a JSON Lines file of touchpoint records into customers.
//!
//! ```text
//! cargo run --release --example resolve -- [FILE.jsonl] [--out clusters.jsonl] [--plain] [--parallel-planning] [--quiet]
//! cargo run --release --features sqlite --example resolve -- FILE.jsonl --sqlite customers.db
//! cargo run --release --features postgres --example resolve -- FILE.jsonl --postgres "host=localhost user=postgres"
//! ```
//!
//! Without a file it resolves `examples/data/sample.jsonl` (4,294 records of 2,000 people
//! with 1% placeholder junk, from `gen_data.py --people 2000 --seed 11 --junk-rate 0.01`).
//!
//! Each line is a record `{"record_id", "source", "ts", "identities": [{"type", "value"}],
//! "attrs": {...}, "truth"?}`. Records are resolved in file order, each as one resolve request
//! with the default settings: the identities as the identity list, `attrs` as the field
//! patch, `ts` as the event time and `record_id` as the cause kept in history.
//!
//! Prints a summary (records, customers, merges, rejected / blocked / quarantined
//! identities, wall time, records per second, peak memory) and, when records carry `truth`,
//! pairwise precision, recall and F1 (as `score.py` computes them). `--out` writes one
//! `{"record_id","cluster"}` line per record: the customer the record ended in, after all
//! merges. `--plain` turns off limits, blocked values and quarantine (autoMerge stays on):
//! plain connected components, for comparison with graph tools. `--sqlite DB` (with the
//! `sqlite` feature) and `--postgres URL` (with the `postgres` feature) resolve into a durable
//! store with a bulk load (`Resolver::bulk_load`): the records are resolved in memory by the
//! same engine and settings, then the tenant is written to the database in one transaction
//! (which must not hold the tenant `default` already). `--one-by-one` resolves into the
//! durable store itself instead, a batch per commit.
//! `--parallel-planning` turns on `Resolver::with_parallel_planning` (slower here: both
//! cores are already busy, and a person's records sit next to each other).
//!
//! The work is shared so that the main thread does little but resolve: the reader
//! (`reader.rs`) reads the file in chunks and parses each, one chunk ahead, keeping every
//! record's id and truth label; the main thread resolves a chunk at a time with
//! `resolve_batch_with` (which prepares the chunk's identities on a thread of its own
//! meanwhile), tallies the outcomes as they are reported, without copying them, and sends the
//! spent chunk back to the reader, which parses the next one into its memory. A line is parsed
//! by a fast reader (`fast.rs`) when it is plain, as real files are, and by serde otherwise
//! (`record.rs`); both give the same result, and the tests hold them to it.

mod fast;
mod packed;
mod reader;
mod record;

use oneid::{
    CustomerId, IdentitySettings, MemoryStore, OutcomeView, RejectReason, ResolveRequest, Resolver, TenantId,
};
use packed::PackedStrings;
use reader::spawn_reader;
use std::collections::HashSet;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

// The main job allocates small strings on one thread and frees them on another; mimalloc
// handles that far better than glibc's malloc. A library never picks the allocator; an
// application like this one should.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peak resident memory of this process, from /proc (Linux); `None` elsewhere.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Lengths of the runs of equal values in a sorted slice.
fn runs<T: PartialEq>(sorted: &[T]) -> impl Iterator<Item = u64> + '_ {
    sorted.chunk_by(|a, b| a == b).map(|run| run.len() as u64)
}

/// Pairs among `n` records.
fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Pairwise precision, recall and F1 of a clustering against truth labels (as score.py
/// computes them), counted on sorted copies rather than hash maps, to stay light. The sorts
/// run on all cores: the resolver is done.
fn pairwise_scores(clusters: &[u64], truths: &[u32]) -> (f64, f64, f64) {
    use rayon::slice::ParallelSliceMut;
    let mut both: Vec<(u64, u32)> = clusters.iter().copied().zip(truths.iter().copied()).collect();
    both.par_sort_unstable();
    let tp: u64 = runs(&both).map(pairs).sum();
    drop(both);
    let mut pred = clusters.to_vec();
    pred.par_sort_unstable();
    let pp: u64 = runs(&pred).map(pairs).sum();
    drop(pred);
    let mut act = truths.to_vec();
    act.par_sort_unstable();
    let ap: u64 = runs(&act).map(pairs).sum();
    let p = if pp == 0 { 1.0 } else { tp as f64 / pp as f64 };
    let r = if ap == 0 { 1.0 } else { tp as f64 / ap as f64 };
    let f1 = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
    (p, r, f1)
}

/// Writes one `{"record_id","cluster"}` line per record (`clusters[i]` is record `i`'s,
/// `UNRESOLVED` for a record that was not resolved, which gets no line). Lines are formatted
/// in blocks on all cores (the resolver is done, so the other core is free) and written in
/// order.
fn write_clusters(path: &Path, clusters: &[u64], record_ids: &PackedStrings) -> std::io::Result<()> {
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 16;
    let mut out = std::fs::File::create(path)?;
    let mut starts: Vec<usize> = (0..clusters.len()).step_by(BLOCK).collect();
    // A few blocks at a time, so the formatted text never all sits in memory at once.
    for group in starts.chunks_mut(8) {
        let blocks: Vec<Vec<u8>> = group
            .par_iter()
            .map(|&start| {
                let end = (start + BLOCK).min(clusters.len());
                let mut text = Vec::with_capacity((end - start) * 48);
                let mut number = itoa::Buffer::new();
                for (i, &cluster) in clusters.iter().enumerate().take(end).skip(start) {
                    if cluster == UNRESOLVED {
                        continue;
                    }
                    text.extend_from_slice(b"{\"record_id\":");
                    let id = record_ids.get(i);
                    if id.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
                        // Nothing to escape (the usual id): as it is, in quotes.
                        text.push(b'"');
                        text.extend_from_slice(id.as_bytes());
                        text.push(b'"');
                    } else {
                        serde_json::to_writer(&mut text, id).expect("a string serializes");
                    }
                    text.extend_from_slice(b",\"cluster\":");
                    text.extend_from_slice(number.format(cluster).as_bytes());
                    text.extend_from_slice(b"}\n");
                }
                text
            })
            .collect();
        for block in blocks {
            out.write_all(&block)?;
        }
    }
    Ok(())
}

struct Args {
    input: PathBuf,
    out: Option<PathBuf>,
    sqlite: Option<PathBuf>,
    postgres: Option<String>,
    #[cfg_attr(
        not(any(feature = "sqlite", feature = "postgres")),
        expect(dead_code, reason = "only a durable store resolves one by one")
    )]
    one_by_one: bool,
    plain: bool,
    parallel_planning: bool,
    quiet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args_os().skip(1);
    let (mut input, mut out, mut sqlite, mut plain, mut quiet) = (None, None, None, false, false);
    let (mut parallel_planning, mut postgres, mut one_by_one) = (false, None, false);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--out") => out = Some(PathBuf::from(args.next().ok_or("--out needs a path")?)),
            Some("--sqlite") => sqlite = Some(PathBuf::from(args.next().ok_or("--sqlite needs a path")?)),
            Some("--postgres") => {
                postgres = Some(
                    args.next()
                        .and_then(|a| a.into_string().ok())
                        .ok_or("--postgres needs a connection string")?,
                )
            }
            Some("--one-by-one") => one_by_one = true,
            Some("--plain") => plain = true,
            Some("--parallel-planning") => parallel_planning = true,
            Some("--quiet") => quiet = true,
            Some("-h" | "--help") => return Err(String::new()),
            Some(s) if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ if input.is_none() => input = Some(PathBuf::from(a)),
            _ => return Err("only one input file".into()),
        }
    }
    // Without a file, the sample that ships with the crate.
    let input =
        input.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/sample.jsonl"));
    if one_by_one && sqlite.is_none() && postgres.is_none() {
        return Err("--one-by-one needs --sqlite or --postgres".into());
    }
    if sqlite.is_some() && postgres.is_some() {
        return Err("--sqlite and --postgres: one store at a time".into());
    }
    Ok(Args {
        input,
        out,
        sqlite,
        postgres,
        one_by_one,
        plain,
        parallel_planning,
        quiet,
    })
}

/// The cluster of a record that was not resolved (customer ids start at 1).
const UNRESOLVED: u64 = 0;

#[derive(Default)]
struct Tally {
    records: usize,
    invalid: usize,
    created: usize,
    merges: usize,
    refused_merges: usize,
    conflicts: usize,
    blocked: usize,
    quarantined: HashSet<String>,
}

impl Tally {
    /// Counts one resolved record.
    fn add(&mut self, outcome: &OutcomeView<'_>) {
        self.records += 1;
        self.created += usize::from(outcome.created());
        self.merges += outcome.merged().len();
        self.refused_merges += outcome.refused_merges().len();
        for r in outcome.rejected() {
            match r.reason {
                RejectReason::Blocked => self.blocked += 1,
                RejectReason::Conflict { .. } => self.conflicts += 1,
                RejectReason::Quarantined { .. } => {
                    self.quarantined.insert(r.identity.to_string());
                }
                _ => {}
            }
        }
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!(
                "usage: resolve [FILE.jsonl] [--out clusters.jsonl] [--sqlite DB | --postgres URL] [--one-by-one] [--plain] [--parallel-planning] [--quiet]"
            );
            std::process::exit(2);
        }
    };
    let settings = if args.plain {
        IdentitySettings::unrestricted()
    } else {
        IdentitySettings::default()
    };
    // Sized for the file (records run about 250 bytes, with one new identity and half a new
    // customer each), so the identity index never rehashes on the way.
    let bytes = std::fs::metadata(&args.input).map_or(0, |m| m.len()) as usize;
    let (customers, identities) = (bytes / 500, bytes / 200);
    let result = match (&args.sqlite, &args.postgres) {
        (None, None) => {
            let store = MemoryStore::with_capacity(customers, identities);
            run(
                &args,
                Resolver::new(store)
                    .with_default_settings(settings)
                    .with_parallel_planning(args.parallel_planning),
            )
        }
        #[cfg(feature = "sqlite")]
        (Some(path), _) => oneid::SqliteStore::open(path)
            .map_err(Into::into)
            .and_then(|store| durable(&args, Resolver::new(store).with_default_settings(settings), (customers, identities))),
        #[cfg(not(feature = "sqlite"))]
        (Some(_), _) => Err(
            "--sqlite needs the sqlite feature: cargo run --release --features sqlite --example resolve"
                .into(),
        ),
        #[cfg(feature = "postgres")]
        (_, Some(url)) => oneid::PostgresStore::connect(url)
            .map_err(Into::into)
            .and_then(|store| durable(&args, Resolver::new(store).with_default_settings(settings), (customers, identities))),
        #[cfg(not(feature = "postgres"))]
        (_, Some(_)) => Err(
            "--postgres needs the postgres feature: cargo run --release --features postgres --example resolve"
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// mimalloc's `mi_option_purge_delay`: how long freed memory waits before it is returned to
/// the OS. This job frees chunks of requests continuously and grows steadily, so returning
/// memory only to fault it in again (zeroed, a huge page at a time) costs a sixth of the run.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// What the main job resolves into: a resolver (and its store), or a bulk load of a durable
/// store.
trait Job {
    fn resolve_chunk(
        &self,
        tenant: &TenantId,
        requests: &[ResolveRequest],
        each: &mut dyn FnMut(usize, oneid::Result<OutcomeView<'_>>),
    ) -> oneid::Result<()>;
    fn canonical(&self, tenant: &TenantId, id: CustomerId) -> oneid::Result<Option<CustomerId>>;
    /// Ends the job: a bulk load writes to its store.
    fn finish(self) -> oneid::Result<()>;
}

impl<S: oneid::Store> Job for Resolver<S> {
    fn resolve_chunk(
        &self,
        tenant: &TenantId,
        requests: &[ResolveRequest],
        each: &mut dyn FnMut(usize, oneid::Result<OutcomeView<'_>>),
    ) -> oneid::Result<()> {
        self.resolve_batch_with(tenant, requests, each)
    }
    fn canonical(&self, tenant: &TenantId, id: CustomerId) -> oneid::Result<Option<CustomerId>> {
        self.canonical_id(tenant, id)
    }
    fn finish(self) -> oneid::Result<()> {
        Ok(())
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl<S: oneid::BulkStore> Job for oneid::BulkLoad<'_, S, oneid::SystemClock> {
    fn resolve_chunk(
        &self,
        _tenant: &TenantId,
        requests: &[ResolveRequest],
        each: &mut dyn FnMut(usize, oneid::Result<OutcomeView<'_>>),
    ) -> oneid::Result<()> {
        self.resolve_batch_with(requests, each)
    }
    fn canonical(&self, _tenant: &TenantId, id: CustomerId) -> oneid::Result<Option<CustomerId>> {
        self.canonical_id(id)
    }
    fn finish(self) -> oneid::Result<()> {
        oneid::BulkLoad::finish(self)
    }
}

/// Resolves the file into a durable store: with a bulk load, or one by one (`--one-by-one`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn durable<S: oneid::BulkStore>(
    args: &Args,
    resolver: Resolver<S>,
    (customers, identities): (usize, usize),
) -> Result<(), Box<dyn std::error::Error>> {
    if args.one_by_one {
        return run(args, resolver);
    }
    let load = resolver.bulk_load(&TenantId::new(TENANT))?;
    load.reserve(customers, identities);
    run(args, load)
}

/// The tenant the job resolves into.
const TENANT: &str = "default";

/// Resolves the file into whatever the job resolves into.
fn run(args: &Args, job: impl Job) -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: sets a process-wide allocator option; mimalloc reads it on every purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // Transparent huge pages off for this process. A huge page is zeroed whole on first
    // touch, and on VMs that back guest memory lazily (this one) that costs milliseconds a
    // page: 4 KiB pages made the job about a fifth faster and its peak 60 MiB smaller.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let started = Instant::now();
    let tenant = TenantId::new(TENANT);

    let progress = !args.quiet && std::io::stderr().is_terminal();
    let mut last_report = Instant::now();
    let reader = spawn_reader(args.input.clone())?;
    let mut tally = Tally::default();
    // Each parsed record's target, in file order (`UNRESOLVED` for an invalid one).
    let mut targets: Vec<CustomerId> = Vec::new();
    let mut bad_lines = 0;
    for chunk in reader.chunks {
        let chunk = chunk?;
        for (line, e) in &chunk.bad_lines {
            eprintln!("line {line}: skipped, not a record: {e}");
        }
        bad_lines += chunk.bad_lines.len();
        let requests = &chunk.requests;
        job.resolve_chunk(&tenant, requests, &mut |i, outcome| match outcome {
            Ok(outcome) => {
                tally.add(&outcome);
                targets.push(outcome.customer().expect("a resolve always has a target"));
            }
            Err(e) => {
                eprintln!("record {}: rejected: {e}", record::record_id(&requests[i]));
                tally.invalid += 1;
                targets.push(CustomerId(UNRESOLVED));
            }
        })?;
        // Back to the reader, whose memory it is; once the reader is done, dropped.
        let _ = reader.spent.send(chunk);
        if progress && last_report.elapsed().as_secs_f64() > 0.5 {
            let rate = targets.len() as f64 / started.elapsed().as_secs_f64();
            eprint!("\r{:>12} records  {rate:>10.0} records/s", targets.len());
            last_report = Instant::now();
        }
    }
    if progress {
        eprintln!();
    }
    let labels = reader.thread.join().map_err(|_| "the reader thread panicked")?;
    tally.invalid += bad_lines;

    // Where each record ended up, after every merge.
    let clusters = targets
        .into_iter()
        .map(|t| {
            Ok(match t.0 {
                UNRESOLVED => UNRESOLVED,
                _ => job.canonical(&tenant, t)?.unwrap_or(t).0,
            })
        })
        .collect::<oneid::Result<Vec<u64>>>()?;
    // A bulk load writes its tenant to the durable store now. The store is not needed any
    // more: what it held is free for what follows (the allocator keeps it), so the output and
    // the scoring add nothing to the peak.
    job.finish()?;
    if let Some(path) = &args.out {
        write_clusters(path, &clusters, &labels.record_ids)?;
    }
    let wall = started.elapsed().as_secs_f64();
    // Every live customer was the target of the record that created it, so the distinct
    // clusters are exactly the live customers.
    let (customers, largest) = {
        let mut sorted: Vec<u64> = clusters.iter().copied().filter(|&c| c != UNRESOLVED).collect();
        rayon::slice::ParallelSliceMut::par_sort_unstable(&mut sorted[..]);
        runs(&sorted).fold((0, 0), |(n, max), run| (n + 1, max.max(run)))
    };
    let scores = (labels.all_have_truth && labels.truths.len() == clusters.len() && !clusters.is_empty())
        .then(|| {
            // Scored over the records that were resolved.
            let (clusters, truths): (Vec<u64>, Vec<u32>) = clusters
                .iter()
                .zip(&labels.truths)
                .filter(|(c, _)| **c != UNRESOLVED)
                .map(|(c, t)| (*c, *t))
                .unzip();
            pairwise_scores(&clusters, &truths)
        });

    println!("input            {}", args.input.display());
    println!(
        "settings         {}",
        if args.plain {
            "plain (no limits, no blocked values, no quarantine)"
        } else {
            "default"
        }
    );
    println!("records          {}", tally.records);
    println!("invalid records  {}", tally.invalid);
    println!("customers        {customers}");
    println!("largest customer {largest} records");
    println!("created          {}", tally.created);
    println!("merges           {}", tally.merges);
    println!("merges refused   {}", tally.refused_merges);
    println!("rejected (limit) {}", tally.conflicts);
    println!("blocked          {}", tally.blocked);
    let mut quarantined: Vec<_> = tally.quarantined.into_iter().collect();
    quarantined.sort();
    println!(
        "quarantined      {} values{}{}",
        quarantined.len(),
        if quarantined.is_empty() { "" } else { ": " },
        quarantined.join(", ")
    );
    println!("wall seconds     {wall:.3}");
    println!("records/second   {:.0}", tally.records as f64 / wall);
    if let Some((p, r, f1)) = scores {
        println!("precision        {p:.6}");
        println!("recall           {r:.6}");
        println!("f1               {f1:.6}");
    }
    // Last, so that it covers everything the run did.
    if let Some(mib) = peak_memory_mib() {
        println!("peak memory      {mib:.0} MiB");
    }
    Ok(())
}
