//! The SQL stores' shared engine: one implementation of [`Txn`](super::Txn) over any
//! [`SqlBackend`].
//!
//! The SQLite and PostgreSQL stores are thin: each opens its database, creates or upgrades the
//! schema and runs every transaction as a [`SqlTxn`] over its backend. The databases differ in
//! their connections, in how they spell three column types and statement parameters, in
//! whether reads must lock the rows they return (PostgreSQL, where writers run at once) and in
//! who numbers new customers (an SQLite transaction, the only writer, numbers them itself); a
//! [`SqlBackend`] answers each. Every statement is written once, with SQLite's numbered `?1`
//! parameters (rewritten to `$1` for PostgreSQL, whose reads also add `FOR UPDATE`). Batches
//! take a form per database: on PostgreSQL, where every statement is a round trip, a
//! transaction's held-back rows of a table go as one array per column in one statement, and
//! the batched identity lookup looks each key up in a subquery of its own; on SQLite rows go
//! as multi-row `VALUES` and the lookup is an `OR` of keys. Each is the form the database's
//! planner answers with an index search per key, statistics or none.
//!
//! One file per part:
//!
//! - `schema`: the tables, in either database's spelling, and their version;
//! - `value`: [`SqlValue`], the one type parameters and columns cross a backend in;
//! - `codec`: customers, identities, times and causes as column values, and back;
//! - `columns`: a batch of rows as one array per column, for PostgreSQL's `unnest`;
//! - `filter`: a customer filter and a sort as `WHERE` and `ORDER BY`;
//! - `cache`: what a transaction has read, and the writes it holds back;
//! - `backend`: [`SqlBackend`] and its SQLite and PostgreSQL implementations;
//! - `reads`, `writes`: the transaction's own steps, reading rows into the cache (following
//!   aliases) and writing out what it held back;
//! - `txn`: the [`Txn`](super::Txn) implementation made of them.
//!
//! The schema:
//!
//! - `oneid_customers`: one row per customer id ever assigned; `status` (`active`, `merged`,
//!   `deleted`, `erased`), `merged_into` (the customer it was merged into), its merge set
//!   (`parent`, and at a set's root `weight` and `survivor`: see `reads`), the full data as
//!   JSON, and indexed columns for what queries filter and sort on;
//! - `oneid_identities`: only *owned* identities, `UNIQUE (tenant, type, scope, value)` — so
//!   an identity's single owner is a database fact; `customer` is the customer it was linked
//!   to, whose set's survivor is its live owner;
//! - `oneid_counts`: how many identities of each type and scope each live customer holds,
//!   and the first of them;
//! - `oneid_tags`, `oneid_groups`: side tables the tag and group filters use;
//! - `oneid_history`: every event, in recording order;
//! - `oneid_suspicions`: quarantine evidence;
//! - `oneid_schema`: the schema version, for migrations.
//!
//! Statements keyed by a customer id test the tenant inside a `CASE`: PostgreSQL caches a
//! generic plan per prepared statement, and without column statistics (a new database, or
//! autovacuum off) it may pick an index that leads with `tenant` (every row of the tenant)
//! over the one on the id. A `CASE` cannot use an index, so the id's index is the only choice.

pub(crate) mod backend;
mod bulk;
mod cache;
mod codec;
mod columns;
mod filter;
mod reads;
#[cfg(all(test, feature = "sqlite"))]
pub(super) mod rows_read;
mod schema;
mod txn;
mod value;
mod writes;

pub(crate) use backend::SqlBackend;
pub(crate) use schema::{Dialect, SCHEMA_VERSION, migration};
pub(crate) use value::SqlValue;

use crate::error::Result;
use crate::model::TenantId;
use cache::{Cache, FastMap};
use std::cell::RefCell;

/// A transaction of a SQL store (SQLite or PostgreSQL). Dropping it without
/// [`Txn::commit`](super::Txn::commit) rolls back.
///
/// The customer rows and identity lists it reads are kept (the rows are locked where the
/// database needs it, so they cannot change underneath) until an operation the cache does not
/// follow (a merge, delete, erasure or unlink) forgets them. Links, history events, the rows of
/// customers it numbered itself and each changed customer's final row are held back, and
/// written in a few multi-row statements when the database must be up to date: at commit, and
/// before merges, deletes, erasures, unlinks, history reads, queries, counts and writes to a
/// customer it has not read. Reads see the held-back writes; quarantine evidence is written at
/// once.
///
/// `pub` only because the stores' `Store::Txn` names it (a public interface may not name a
/// crate-private type); this module is private, so nothing outside the crate can reach it.
pub struct SqlTxn<B> {
    conn: RefCell<B>,
    /// Tags and groups of the customers this transaction has read or written, as stored:
    /// their side tables are rewritten only when they change.
    lists: RefCell<FastMap<u64, StoredLists>>,
    cache: RefCell<Cache>,
    /// The settings version a writer read without a lock, with its tenant: checked again,
    /// under a share lock, when it commits.
    settings_read: RefCell<Option<(TenantId, u64)>>,
}

/// A customer's tags and groups as its side tables hold them.
type StoredLists = (Vec<String>, Vec<i64>);

// `SqlTxn` is public only for the stores' `Store::Txn`, and its inherent methods are
// crate-private, so the crate-private bound exposes nothing.
#[expect(private_bounds, reason = "the methods are crate-private")]
impl<B: SqlBackend> SqlTxn<B> {
    pub(crate) fn new(backend: B) -> Self {
        Self {
            conn: RefCell::new(backend),
            lists: RefCell::default(),
            cache: RefCell::default(),
            settings_read: RefCell::default(),
        }
    }

    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        self.conn.borrow_mut().execute(sql, params)
    }

    fn rows(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>> {
        let rows = self.conn.borrow_mut().query(sql, params)?;
        #[cfg(all(test, feature = "sqlite"))]
        rows_read::count(rows.len());
        Ok(rows)
    }

    /// Like [`rows`](Self::rows), locking the rows read until the transaction ends.
    fn locked_rows(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>> {
        let lock = self.conn.borrow().lock_rows();
        if lock.is_empty() {
            self.rows(sql, params)
        } else {
            self.rows(&format!("{sql}{lock}"), params)
        }
    }
}
