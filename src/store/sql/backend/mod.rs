//! [`SqlBackend`]: what the shared transaction needs of a database connection, and its two
//! implementations.
//!
//! The trait is small on purpose: run a statement, run a query, commit, and the few answers
//! that capture how the databases differ (whether reads must lock rows, whether the
//! transaction may number new customers itself, how lists and batches of rows bind, which
//! also picks the form of the batched lookup). Everything else is shared, the SQL included; a
//! backend only converts [`SqlValue`]s to its driver's types, prepares and caches statements,
//! begins and ends its transaction on a connection it holds, and maps its driver's errors to
//! the crate's.

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(all(test, feature = "postgres"))]
pub(crate) mod round_trips;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use super::SqlValue;
use crate::error::Result;

/// What a SQL store's transaction needs from its database connection. Statements use
/// numbered parameters `?1`, `?2`, …; a backend whose database spells them otherwise
/// rewrites them.
pub(crate) trait SqlBackend {
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64>;
    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>>;
    /// Commits the transaction. A connection lost while committing is
    /// [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown): the commit may have happened.
    fn commit(&mut self) -> Result<()>;
    /// The clause that locks the rows a read returns until the transaction ends (`" FOR
    /// UPDATE"`), for a writer where concurrent writers need it; empty where the transaction
    /// already excludes other writers (SQLite's `BEGIN IMMEDIATE`) or only reads (it reads one
    /// snapshot and locks nothing).
    fn lock_rows(&self) -> &'static str {
        ""
    }
    /// Whether a [`SqlValue::IntList`] parameter binds as an array, tested with `= ANY(?n)`,
    /// and [`SqlValue::Column`]s carry batches of rows for `unnest` (PostgreSQL), rather than a
    /// list binding as a JSON array's text, read with `json_each`, and rows going as
    /// multi-row `VALUES` (SQLite).
    fn binds_arrays(&self) -> bool {
        false
    }
    /// Whether every statement is a round trip to a server, so that reading many rows in one
    /// statement beats reading them as they are needed.
    fn round_trips(&self) -> bool {
        false
    }
    /// An id for a new customer, whose row the transaction writes later with the rest of what
    /// it holds back; and whether the transaction may number the customers it creates after
    /// it itself (it is the only writer: SQLite), rather than take each from the database (a
    /// sequence concurrent writers share: PostgreSQL).
    fn new_customer_id(&mut self) -> Result<(i64, bool)>;
    /// `n` ids for customers the transaction expects to create, drawn at once where the
    /// database numbers customers (PostgreSQL); none where the transaction numbers them
    /// itself.
    fn new_customer_ids(&mut self, n: usize) -> Result<Vec<i64>> {
        let _ = n;
        Ok(Vec::new())
    }
}
