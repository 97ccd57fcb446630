//! How many statements a PostgreSQL store's transactions send: a counter of the statements
//! (`BEGIN` and `COMMIT` included) this thread sends, for tests that a batch of resolves
//! takes a bounded number of round trips (in `store/postgres.rs`).

use std::cell::Cell;

thread_local! {
    static STATEMENTS: Cell<usize> = const { Cell::new(0) };
}

/// Counts a statement this thread sent.
pub(super) fn count() {
    STATEMENTS.with(|n| n.set(n.get() + 1));
}

/// The statements `f` sends (on this thread).
pub(crate) fn statements_sent(f: impl FnOnce()) -> usize {
    let before = STATEMENTS.with(Cell::get);
    f();
    STATEMENTS.with(Cell::get) - before
}
