//! The PostgreSQL backend: [`SqlBackend`] over a `postgres` transaction.
//!
//! Writers from many connections run at once, so reads lock the rows they return (`FOR
//! UPDATE`) and the database assigns customer ids. The shared statements are rewritten from
//! `?1` to `$1` parameters and prepared once per connection (up to 256 statement texts), in a
//! cache the [`PostgresStore`](crate::store::PostgresStore) owns and empties now and then. Conflicts
//! between writers map to [`Error::Transient`], so the engine runs the operation again.

use crate::error::{Error, Result};
use crate::store::sql::{SqlBackend, SqlValue};
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// The crate's error for a driver error: conflicts between writers are transient; a lost or
/// refused connection, or a server shutting down, is unavailable; the rest is the database's
/// error.
pub(crate) fn store_error(e: postgres::Error) -> Error {
    use postgres::error::SqlState;
    let message = format!("postgres: {}", describe(&e));
    match e.code() {
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE
                || *c == SqlState::UNIQUE_VIOLATION =>
        {
            Error::Transient(describe(&e))
        }
        // Class 08 is "connection exception"; 57P01..57P03 a server shutting down or starting.
        Some(c)
            if c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW =>
        {
            Error::Unavailable {
                message,
                source: Box::new(e),
            }
        }
        // No server error at all: the socket failed or the connection is closed.
        None if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) => {
            Error::Unavailable {
                message,
                source: Box::new(e),
            }
        }
        _ => Error::Database {
            message,
            source: Box::new(e),
        },
    }
}

/// The server's message and code when there is one ("db error" alone says nothing).
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            SqlValue::Int(i) => i.to_sql(ty, out),
            SqlValue::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::INT4 | Type::TEXT | Type::VARCHAR)
    }

    to_sql_checked!();
}

/// The PostgreSQL side of a [`SqlTxn`](crate::store::sql::SqlTxn).
///
/// `pub` only because [`PostgresStore`](crate::store::PostgresStore)'s `Store::Txn` names it;
/// its module is private to the crate, so nothing outside can reach it.
pub struct PostgresBackend<'a> {
    pub(crate) tx: postgres::Transaction<'a>,
    pub(crate) statements: &'a mut std::collections::HashMap<String, postgres::Statement>,
}

/// `?1` → `$1`: the shared statements use SQLite's numbered parameters.
fn dollar(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl PostgresBackend<'_> {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.tx.prepare(&dollar(sql)).map_err(store_error)?;
        // Filter queries are built per call; keep the cache bounded.
        if self.statements.len() < 256 {
            self.statements.insert(sql.to_string(), stmt.clone());
        }
        Ok(stmt)
    }
}

impl SqlBackend for PostgresBackend<'_> {
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.tx.execute(&stmt, &params).map_err(store_error)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.tx.query(&stmt, &params).map_err(store_error)?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let ty = row.columns()[i].type_();
                        Ok(match *ty {
                            Type::INT8 => row.get::<_, Option<i64>>(i).map_or(SqlValue::Null, SqlValue::Int),
                            Type::INT4 => row
                                .get::<_, Option<i32>>(i)
                                .map_or(SqlValue::Null, |v| SqlValue::Int(v.into())),
                            Type::TEXT | Type::VARCHAR => row
                                .get::<_, Option<String>>(i)
                                .map_or(SqlValue::Null, SqlValue::Text),
                            ref other => {
                                return Err(Error::Corrupt(format!(
                                    "postgres: unexpected column type {other}"
                                )));
                            }
                        })
                    })
                    .collect()
            })
            .collect()
    }

    fn commit(self) -> Result<()> {
        self.tx.commit().map_err(store_error)
    }

    fn lock_rows(&self) -> &'static str {
        " FOR UPDATE"
    }
}
