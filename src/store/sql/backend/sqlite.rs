//! The SQLite backend: [`SqlBackend`] over a `rusqlite` transaction.
//!
//! A [`SqliteStore`](crate::store::SqliteStore) writer begins `IMMEDIATE`, so it is the only
//! writer: reads need no row locks, and it numbers the customers it creates itself. Readers
//! begin deferred transactions on connections of their own, each reading one snapshot of the
//! WAL beside the writer. Statements are prepared through each connection's statement cache.

use crate::error::{Error, Result};
use crate::store::sql::{SqlBackend, SqlValue};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};

/// The crate's error for a driver error: a database locked by another writer is transient,
/// a file that cannot be opened is unavailable, the rest is the database's error.
pub(crate) fn store_error(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        // Another process holds the write lock past the busy timeout: try the whole thing again.
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            Error::Transient(e.to_string())
        }
        Some(rusqlite::ErrorCode::CannotOpen) => Error::Unavailable {
            message: format!("sqlite: {e}"),
            source: Box::new(e),
        },
        _ => Error::Database {
            message: format!("sqlite: {e}"),
            source: Box::new(e),
        },
    }
}

/// A connection a SQLite transaction runs on: the store's one writer connection, or a
/// reader from its pool.
pub(crate) enum SqliteConn<'a> {
    Writer(parking_lot::MutexGuard<'a, rusqlite::Connection>),
    Reader(r2d2::PooledConnection<SqliteReaders>),
}

impl std::ops::Deref for SqliteConn<'_> {
    type Target = rusqlite::Connection;
    fn deref(&self) -> &rusqlite::Connection {
        match self {
            Self::Writer(c) => c,
            Self::Reader(c) => c,
        }
    }
}

/// The SQLite side of a [`SqlTxn`](crate::store::sql::SqlTxn): a transaction on a
/// connection it holds, rolled back when dropped before it commits.
///
/// `pub` only because [`SqliteStore`](crate::store::SqliteStore)'s `Store::Writer` names it;
/// its module is private to the crate, so nothing outside can reach it.
pub struct SqliteBackend<'a> {
    conn: SqliteConn<'a>,
    /// A transaction is open on the connection.
    open: bool,
}

impl<'a> SqliteBackend<'a> {
    /// Begins a transaction on `conn`: `IMMEDIATE` for a writer, which takes the write lock
    /// up front so that two writers never deadlock halfway; deferred for a reader, which
    /// reads one snapshot of the WAL beside the writer.
    pub(crate) fn begin(conn: SqliteConn<'a>, read_only: bool) -> Result<Self> {
        conn.execute_batch(if read_only { "BEGIN" } else { "BEGIN IMMEDIATE" })
            .map_err(store_error)?;
        Ok(Self { conn, open: true })
    }

    /// The connection the transaction runs on (a bulk load writes through it directly).
    pub(crate) fn connection(&self) -> &rusqlite::Connection {
        &self.conn
    }
}

impl Drop for SqliteBackend<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing to do if it fails: the connection then has no transaction open.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Owned(Value::Null),
            SqlValue::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            // Read back by `json_each` (see `SqlBackend::binds_arrays`).
            SqlValue::IntList(list) => {
                let mut json = String::with_capacity(list.len() * 8 + 2);
                json.push('[');
                for (n, i) in list.iter().enumerate() {
                    use std::fmt::Write;
                    let _ = write!(json, "{}{i}", if n == 0 { "" } else { "," });
                }
                json.push(']');
                ToSqlOutput::Owned(Value::Text(json))
            }
            SqlValue::Column(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "sqlite: a column of values is bound only on PostgreSQL".into(),
                ));
            }
        })
    }
}

impl SqlBackend for SqliteBackend<'_> {
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(store_error)?;
        stmt.execute(rusqlite::params_from_iter(params))
            .map(|n| n as u64)
            .map_err(store_error)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(store_error)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(store_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(store_error)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(store_error)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(n) => SqlValue::Int(n),
                    ValueRef::Text(t) => SqlValue::Text(
                        String::from_utf8(t.to_vec()).map_err(|e| Error::Corrupt(format!("sqlite: {e}")))?,
                    ),
                    other => {
                        return Err(Error::Corrupt(format!(
                            "sqlite: unexpected column type {:?}",
                            other.data_type()
                        )));
                    }
                });
            }
            out.push(values);
        }
        Ok(out)
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(store_error)?;
        self.open = false;
        Ok(())
    }

    /// `BEGIN IMMEDIATE` makes this transaction the only writer: it numbers new customers
    /// itself, as `AUTOINCREMENT` would (never reusing an id), and writes their rows at commit.
    fn new_customer_id(&mut self) -> Result<(i64, bool)> {
        self.conn
            .query_row(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'oneid_customers'), 0), \
                 COALESCE((SELECT MAX(id) FROM oneid_customers), 0)) + 1",
                [],
                |r| r.get(0),
            )
            .map(|n| (n, true))
            .map_err(store_error)
    }
}

/// The connections readers take, from the store's pool: opened on the same file, read-only,
/// set up as the writer is for what reads depend on.
#[derive(Debug)]
pub(crate) struct SqliteReaders {
    pub(crate) path: std::path::PathBuf,
}

impl r2d2::ManageConnection for SqliteReaders {
    type Connection = rusqlite::Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> std::result::Result<rusqlite::Connection, rusqlite::Error> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // LIKE must be case-sensitive, as the reference `contains` is.
        conn.pragma_update(None, "case_sensitive_like", true)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut rusqlite::Connection) -> std::result::Result<(), rusqlite::Error> {
        conn.execute_batch("")
    }

    fn has_broken(&self, _conn: &mut rusqlite::Connection) -> bool {
        false
    }
}
