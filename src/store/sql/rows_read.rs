//! How many rows a SQL store's operations read: a counter of the rows every query of this
//! thread returns, for tests that a resolve or a merge reads a bounded number of them however
//! many identities or merges its customers hold (in `store/sqlite.rs`).

use std::cell::Cell;

thread_local! {
    static ROWS: Cell<usize> = const { Cell::new(0) };
}

/// Counts rows a query of this thread returned.
pub(super) fn count(rows: usize) {
    ROWS.with(|n| n.set(n.get() + rows));
}

/// The rows the queries of `f` return (on this thread).
pub(crate) fn rows_read(f: impl FnOnce()) -> usize {
    let before = ROWS.with(Cell::get);
    f();
    ROWS.with(Cell::get) - before
}
