//! The SQLite store: one database file, WAL journal, `IMMEDIATE` write transactions, cached
//! statements. docs/DESIGN.md has the reasoning; the user-facing story is on [`SqliteStore`].

use super::Store;
use super::sql::backend::sqlite::{SqliteBackend, store_error};
use super::sql::{Dialect, SCHEMA_VERSION, SqlTxn, schema_v1};
use crate::error::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

const SQLITE: Dialect = Dialect {
    id: "INTEGER PRIMARY KEY AUTOINCREMENT",
    int: "INTEGER",
    sorted_text: "TEXT",
};

/// A customer store in one SQLite database file (feature `sqlite`): durable and embedded,
/// with SQLite bundled so nothing needs installing.
///
/// WAL journal; every transaction starts `IMMEDIATE` (it takes the write lock up front, so
/// two writers never deadlock halfway); statements are prepared once and cached. Each
/// [`Resolver::resolve`](crate::Resolver::resolve) is one transaction; for throughput,
/// [`Resolver::resolve_batch`](crate::Resolver::resolve_batch) commits a whole batch at once.
///
/// ```
/// use oneid::{IdentityInput, ResolveRequest, Resolver, SqliteStore, TenantId};
/// let path = std::env::temp_dir().join(format!("oneid-doc-{}.db", std::process::id()));
/// let mut resolver = Resolver::new(SqliteStore::open(&path).unwrap());
/// let t = TenantId::new("t");
/// let id = resolver.resolve(&t, &ResolveRequest::new([IdentityInput::new("mobile", "13812345678")])).unwrap().customer;
/// drop(resolver);
/// // Reopened, the customer is still there.
/// let mut again = Resolver::new(SqliteStore::open(&path).unwrap());
/// assert_eq!(again.find_by_identity(&t, &IdentityInput::new("mobile", "13812345678")).unwrap().map(|c| c.id), id);
/// # std::fs::remove_file(&path).ok();
/// ```
pub struct SqliteStore {
    conn: Connection,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.conn.path())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, upgrading an older schema. A
    /// database written by a newer version of this crate is [`Error::SchemaTooNew`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::setup(Connection::open(path).map_err(store_error)?)
    }

    /// A private database in memory (for tests).
    pub fn open_in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory().map_err(store_error)?)
    }

    fn setup(mut conn: Connection) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(store_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(store_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(store_error)?;
        // Statement journals (one per write inside a long batch) stay in memory instead of
        // going through a temporary file, where a third of a batch's time went.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(store_error)?;
        // LIKE must be case-sensitive, as the reference `contains` is.
        conn.pragma_update(None, "case_sensitive_like", true)
            .map_err(store_error)?;
        conn.set_prepared_statement_cache_capacity(64);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_error)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS oneid_schema (version INTEGER NOT NULL)")
            .map_err(store_error)?;
        let version: Option<i64> = tx
            .query_row("SELECT MAX(version) FROM oneid_schema", [], |r| r.get(0))
            .map_err(store_error)?;
        match version {
            None => {
                tx.execute_batch(&schema_v1(&SQLITE)).map_err(store_error)?;
                tx.execute("INSERT INTO oneid_schema (version) VALUES (?1)", [SCHEMA_VERSION])
                    .map_err(store_error)?;
            }
            Some(v) if v > SCHEMA_VERSION => {
                return Err(Error::SchemaTooNew {
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            // Version 1 is the only one so far; later versions add their steps here.
            Some(_) => {}
        }
        tx.commit().map_err(store_error)?;
        Ok(Self { conn })
    }
}

impl Store for SqliteStore {
    type Txn<'a> = SqlTxn<SqliteBackend<'a>>;

    fn begin(&mut self) -> Result<Self::Txn<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_error)?;
        Ok(SqlTxn::new(SqliteBackend { tx }))
    }
}
