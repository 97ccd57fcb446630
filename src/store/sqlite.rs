//! The SQLite store: one database file, WAL journal, `IMMEDIATE` write transactions, cached
//! statements. docs/DESIGN.md has the reasoning; the user-facing story is on [`SqliteStore`].

use super::Store;
use super::sql::backend::sqlite::{SqliteBackend, SqliteConn, SqliteReaders, store_error};
use super::sql::{Dialect, SCHEMA_VERSION, SqlTxn, migration};
use crate::error::{Error, Result};
use crate::model::TenantId;
use parking_lot::Mutex;
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
/// WAL journal. Writers take the store's one write connection in turn and begin `IMMEDIATE`
/// (the write lock up front, so two writers, in this process or another, never deadlock
/// halfway); readers take connections of a pool and read a snapshot beside the writer.
/// Statements are prepared once per connection and cached. Each
/// [`Resolver::resolve`](crate::Resolver::resolve) is one transaction; for throughput,
/// [`Resolver::resolve_batch`](crate::Resolver::resolve_batch) commits a whole batch at once.
///
/// ```
/// use oneid::{IdentityInput, ResolveRequest, Resolver, SqliteStore, TenantId};
/// let path = std::env::temp_dir().join(format!("oneid-doc-{}.db", std::process::id()));
/// let resolver = Resolver::new(SqliteStore::open(&path).unwrap());
/// let t = TenantId::new("t");
/// let id = resolver.resolve(&t, &ResolveRequest::new([IdentityInput::new("mobile", "13812345678")])).unwrap().customer;
/// drop(resolver);
/// // Reopened, the customer is still there.
/// let again = Resolver::new(SqliteStore::open(&path).unwrap());
/// assert_eq!(again.find_by_identity(&t, &IdentityInput::new("mobile", "13812345678")).unwrap().map(|c| c.id), id);
/// # std::fs::remove_file(&path).ok();
/// ```
pub struct SqliteStore {
    /// The one connection writers take in turn (SQLite has one writer at a time).
    writer: Mutex<Connection>,
    /// Connections for readers, on a database file; `None` for a database in memory, whose
    /// readers take the writer's connection.
    readers: Option<r2d2::Pool<SqliteReaders>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.writer.lock().path().map(str::to_owned))
            .finish()
    }
}

/// How many reader connections a [`SqliteStore`] opens at most, by default.
const DEFAULT_READERS: u32 = 8;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, upgrading an older schema, with up
    /// to 8 reader connections beside the writer. A database written by a newer version of
    /// this crate is [`Error::SchemaTooNew`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_readers(path, DEFAULT_READERS)
    }

    /// [`open`](Self::open), with up to `readers` connections for reads (at least 1), which
    /// run beside each other and beside the one writer.
    pub fn open_with_readers(path: impl AsRef<Path>, readers: u32) -> Result<Self> {
        let path = path.as_ref();
        let writer = Self::setup(Connection::open(path).map_err(store_error)?)?;
        let pool = r2d2::Pool::builder()
            .max_size(readers.max(1))
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(std::time::Duration::from_secs(5))
            .build_unchecked(SqliteReaders {
                path: path.to_owned(),
            });
        Ok(Self {
            writer: Mutex::new(writer),
            readers: Some(pool),
        })
    }

    /// A private database in memory (for tests): readers share the writer's connection.
    pub fn open_in_memory() -> Result<Self> {
        Ok(Self {
            writer: Mutex::new(Self::setup(Connection::open_in_memory().map_err(store_error)?)?),
            readers: None,
        })
    }

    fn setup(mut conn: Connection) -> Result<Connection> {
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
        // A current schema is read without the write lock, which another process may hold
        // for as long as its transaction lasts: opening a store only waits for it when there
        // is a schema to create or upgrade.
        let found = Self::schema_version(&conn.transaction().map_err(store_error)?)?;
        if Self::check_version(found)? == SCHEMA_VERSION {
            return Ok(conn);
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store_error)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS oneid_schema (version INTEGER NOT NULL)")
            .map_err(store_error)?;
        let version = Self::schema_version(&tx)?;
        Self::check_version(version)?;
        if version < SCHEMA_VERSION {
            for statement in migration(&SQLITE, version) {
                tx.execute(&statement, []).map_err(store_error)?;
            }
            tx.execute("INSERT INTO oneid_schema (version) VALUES (?1)", [SCHEMA_VERSION])
                .map_err(store_error)?;
        }
        tx.commit().map_err(store_error)?;
        Ok(conn)
    }

    /// The schema version the database holds (0 for none).
    fn schema_version(tx: &rusqlite::Transaction<'_>) -> Result<i64> {
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'oneid_schema')",
                [],
                |r| r.get(0),
            )
            .map_err(store_error)?;
        if !exists {
            return Ok(0);
        }
        tx.query_row("SELECT COALESCE(MAX(version), 0) FROM oneid_schema", [], |r| {
            r.get(0)
        })
        .map_err(store_error)
    }

    fn check_version(version: i64) -> Result<i64> {
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(version)
    }
}

impl Store for SqliteStore {
    type Reader<'a> = SqlTxn<SqliteBackend<'a>>;
    type Writer<'a> = SqlTxn<SqliteBackend<'a>>;

    fn read(&self, _tenant: &TenantId) -> Result<Self::Reader<'_>> {
        let conn = match &self.readers {
            Some(pool) => SqliteConn::Reader(pool.get().map_err(|e| Error::Unavailable {
                message: format!("sqlite: no reader connection: {e}"),
                source: Box::new(e),
            })?),
            None => SqliteConn::Writer(self.writer.lock()),
        };
        Ok(SqlTxn::new(SqliteBackend::begin(conn, true)?))
    }

    /// Every commit flushes to disk: resolves that arrive together share one.
    fn prefers_group_commit(&self) -> bool {
        true
    }

    fn write(&self, _tenant: &TenantId) -> Result<Self::Writer<'_>> {
        Ok(SqlTxn::new(SqliteBackend::begin(
            SqliteConn::Writer(self.writer.lock()),
            false,
        )?))
    }
}

/// The rows a SQLite store's resolves and merges read do not grow with what their customers
/// hold.
#[cfg(test)]
mod rows_read {
    use super::super::sql::rows_read::rows_read;
    use crate::{IdentityInput, IdentitySettings, ResolveRequest, Resolver, SqliteStore, TenantId};

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
}
