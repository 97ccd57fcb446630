//! The SQLite backend: [`SqlBackend`] over a `rusqlite` transaction.
//!
//! A [`SqliteStore`](crate::store::SqliteStore) transaction begins `IMMEDIATE`, so it is the
//! only writer: reads need no row locks, and it numbers the customers it creates itself.
//! Statements are prepared through the connection's statement cache.

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

/// The SQLite side of a [`SqlTxn`](crate::store::sql::SqlTxn).
///
/// `pub` only because [`SqliteStore`](crate::store::SqliteStore)'s `Store::Txn` names it; its
/// module is private to the crate, so nothing outside can reach it.
pub struct SqliteBackend<'a> {
    pub(crate) tx: rusqlite::Transaction<'a>,
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Owned(Value::Null),
            SqlValue::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl SqlBackend for SqliteBackend<'_> {
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(store_error)?;
        stmt.execute(rusqlite::params_from_iter(params))
            .map(|n| n as u64)
            .map_err(store_error)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(store_error)?;
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

    fn commit(self) -> Result<()> {
        self.tx.commit().map_err(store_error)
    }

    /// `BEGIN IMMEDIATE` makes this transaction the only writer: it numbers new customers
    /// itself, as `AUTOINCREMENT` would (never reusing an id), and writes their rows at commit.
    fn first_free_id(&mut self) -> Result<Option<i64>> {
        self.tx
            .query_row(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'oneid_customers'), 0), \
                 COALESCE((SELECT MAX(id) FROM oneid_customers), 0)) + 1",
                [],
                |r| r.get(0),
            )
            .map(Some)
            .map_err(store_error)
    }
}
