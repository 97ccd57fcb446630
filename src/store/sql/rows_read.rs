//! How many rows a SQL store's operations read: a counter of the rows every query of this
//! thread returns, and tests that a resolve or a merge reads a bounded number of them however
//! many identities or merges its customers hold.

use crate::{IdentityInput, IdentitySettings, ResolveRequest, Resolver, SqliteStore, TenantId};
use std::cell::Cell;

thread_local! {
    static ROWS: Cell<usize> = const { Cell::new(0) };
}

/// Counts rows a query of this thread returned.
pub(super) fn count(rows: usize) {
    ROWS.with(|n| n.set(n.get() + rows));
}

/// The rows the queries of `f` return (on this thread).
fn rows_read(f: impl FnOnce()) -> usize {
    let before = ROWS.with(Cell::get);
    f();
    ROWS.with(Cell::get) - before
}

fn qq(n: u64) -> IdentityInput {
    IdentityInput::new("qq", format!("{}", 10_000_000 + n))
}

/// A resolver over a new SQLite database (on this thread, so its reads are counted) whose
/// tenant limits `qq`, so that resolves read counts, and has quarantine off, so that a
/// customer can take in many `qq` one request at a time.
fn resolver(t: &TenantId) -> Resolver<SqliteStore> {
    let r = Resolver::new(SqliteStore::open_in_memory().unwrap()).with_group_commit(false);
    let settings = IdentitySettings::default()
        .with_quarantine(None)
        .unwrap()
        .with_limit("qq", Some(1_000_000))
        .unwrap();
    r.set_settings(t, &settings, None).unwrap();
    r
}

/// Linking one more identity to a customer reads as many rows whether it holds 10 or
/// 2,000: not its identity list.
#[test]
fn a_resolve_reads_no_identity_list() {
    let t = TenantId::new("t");
    let mut read = Vec::new();
    for held in [10, 2_000] {
        let r = resolver(&t);
        let batch: Vec<ResolveRequest> = (1..held).map(|k| ResolveRequest::new([qq(0), qq(k)])).collect();
        r.resolve_batch(&t, &batch).unwrap();
        let link = ResolveRequest::new([qq(0), qq(1_000_000)]);
        read.push(rows_read(|| {
            let out = r.resolve(&t, &link).unwrap();
            assert_eq!(out.linked.len(), 1);
        }));
        let repeat = ResolveRequest::new([qq(0), qq(1)]);
        read.push(rows_read(|| {
            assert_eq!(r.resolve(&t, &repeat).unwrap().matched.len(), 2);
        }));
    }
    assert_eq!(
        read[..2],
        read[2..],
        "rows read (link, repeat) at 10 and at 2,000 identities"
    );
    assert!(read[0] < 20, "{read:?}");
}

/// A merge into a customer that took in 500 earlier merges reads as many rows as one into a
/// customer that took in 5.
#[test]
fn a_merge_reads_no_alias_list() {
    let t = TenantId::new("t");
    let mut read = Vec::new();
    for merges in [5, 500] {
        let r = resolver(&t);
        r.resolve(&t, &ResolveRequest::new([qq(0)])).unwrap();
        for k in 1..=merges {
            r.resolve(&t, &ResolveRequest::new([qq(k)])).unwrap();
            r.resolve(&t, &ResolveRequest::new([qq(0), qq(k)])).unwrap();
        }
        r.resolve(&t, &ResolveRequest::new([qq(1_000_000)])).unwrap();
        let merge = ResolveRequest::new([qq(0), qq(1_000_000)]);
        read.push(rows_read(|| {
            assert_eq!(r.resolve(&t, &merge).unwrap().merged.len(), 1);
        }));
    }
    assert_eq!(read[0], read[1], "rows read by a merge after 5 and 500 merges");
}
