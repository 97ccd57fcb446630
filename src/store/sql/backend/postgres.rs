//! The PostgreSQL backend: [`SqlBackend`] over a `postgres` transaction.
//!
//! Writers from many connections run at once, so a writer's reads lock the rows they return
//! (`FOR UPDATE`) and the database assigns customer ids; a reader reads one snapshot and locks
//! nothing. Connections come from the store's pool ([`PgConnector`]). The shared statements are
//! rewritten from `?1` to `$1` parameters and prepared once per connection (up to 256
//! statement texts), in a cache each connection keeps and empties now and then. Conflicts
//! between writers map to [`Error::Transient`], so the engine runs the operation again; a
//! lost connection to [`Error::Unavailable`], or, while committing, to
//! [`Error::OutcomeUnknown`].

use crate::error::{Error, Result};
use crate::store::sql::{SqlBackend, SqlValue};
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use std::collections::HashMap;

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
        // A list goes only where an array is expected, and a scalar only where none is.
        let array = *ty == Type::INT8_ARRAY || *ty == Type::TEXT_ARRAY;
        match (self, array) {
            (SqlValue::Null, _) => Ok(IsNull::Yes),
            (SqlValue::IntList(list), true) if *ty == Type::INT8_ARRAY => list.to_sql(ty, out),
            (SqlValue::Column(values), true) if *ty == Type::INT8_ARRAY => values
                .iter()
                .map(SqlValue::opt_int)
                .collect::<Result<Vec<Option<i64>>>>()?
                .to_sql(ty, out),
            (SqlValue::Column(values), true) => values
                .iter()
                .map(SqlValue::opt_text)
                .collect::<Result<Vec<Option<&str>>>>()?
                .to_sql(ty, out),
            (SqlValue::IntList(_) | SqlValue::Column(_), _) | (_, true) => {
                Err(format!("postgres: {self:?} does not fit a parameter of type {ty}").into())
            }
            (SqlValue::Int(i), false) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            (SqlValue::Int(i), false) => i.to_sql(ty, out),
            (SqlValue::Text(s), false) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8 | Type::INT4 | Type::TEXT | Type::VARCHAR | Type::INT8_ARRAY | Type::TEXT_ARRAY
        )
    }

    to_sql_checked!();
}

/// A pooled connection, with the statements prepared on it.
pub(crate) struct PgConn {
    pub(crate) client: postgres::Client,
    /// Prepared statements by text; they live as long as the connection, except that they
    /// are prepared again as the tables grow (see [`PgConn::begun`]).
    statements: HashMap<String, postgres::Statement>,
    /// Transactions begun on this connection.
    transactions: u64,
}

impl PgConn {
    /// Whether a transaction was begun on this connection before.
    pub(crate) fn used(&self) -> bool {
        self.transactions > 0
    }

    /// Counts a transaction begun. PostgreSQL plans a prepared statement once for all
    /// parameters after a few runs, and keeps that plan. A plan made while the tables were
    /// nearly empty (a new database, no statistics yet) can scan every row of a tenant where
    /// an index finds one, and gets slower as the tables grow: the statements are prepared
    /// again now and then (after 64, 256, 1024, … transactions, then every 2^20), so the
    /// plans fit the tables' size.
    fn begun(&mut self) {
        self.transactions += 1;
        let n = self.transactions;
        if n >= 64
            && (n.is_power_of_two() && n.trailing_zeros().is_multiple_of(2) || n.is_multiple_of(1 << 20))
        {
            self.statements.clear();
        }
    }
}

/// Opens the connections of a [`PostgresStore`](crate::store::PostgresStore)'s pool, each
/// with the store's schema on its search path and a short lock timeout; a connection whose
/// socket closed is broken and replaced.
#[derive(Debug)]
pub(crate) struct PgConnector {
    pub(crate) params: String,
    pub(crate) schema: Option<String>,
}

impl r2d2::ManageConnection for PgConnector {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, postgres::Error> {
        let mut client = postgres::Client::connect(&self.params, postgres::NoTls)?;
        if let Some(schema) = &self.schema {
            // Validated by the store: only letters, digits and _.
            client.batch_execute(&format!("SET search_path TO {schema}"))?;
        }
        // Writers lock rows in the order their requests name them, so two can wait on each
        // other. Rather than wait for the server's deadlock detector (a second by default), a
        // lock not granted quickly fails the statement, and the engine retries the operation.
        client.batch_execute("SET lock_timeout = '50ms'")?;
        // A prepared statement whose parameters are arrays (a batch's rows or keys) is planned
        // again at every run by default: the generic plan's guess of ten elements per array
        // costs more than the custom plans made for the few a batch has, so PostgreSQL never
        // switches to it, and planning these statements costs more than running them. The
        // writers' statements are written so that their generic plans are index searches
        // whatever the statistics (see `SqlTxn`), so writers use them from the first run;
        // readers, whose filter queries are built per call, plan for their parameters
        // (`PostgresBackend::begin`).
        client.batch_execute("SET plan_cache_mode = force_generic_plan")?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
            transactions: 0,
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// The PostgreSQL side of a [`SqlTxn`](crate::store::sql::SqlTxn): a transaction on a pooled
/// connection, rolled back when dropped before it commits.
///
/// `pub` only because [`PostgresStore`](crate::store::PostgresStore)'s `Store::Writer` names
/// it; its module is private to the crate, so nothing outside can reach it.
pub struct PostgresBackend {
    conn: r2d2::PooledConnection<PgConnector>,
    /// A transaction is open on the connection.
    open: bool,
    read_only: bool,
}

impl PostgresBackend {
    /// Begins a transaction on `conn`: a writer at `READ COMMITTED`, locking the rows it
    /// reads; a reader at `REPEATABLE READ READ ONLY`, one snapshot and no locks.
    pub(crate) fn begin(mut conn: r2d2::PooledConnection<PgConnector>, read_only: bool) -> Result<Self> {
        conn.begun();
        #[cfg(test)]
        super::round_trips::count();
        conn.client
            .batch_execute(if read_only {
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL plan_cache_mode = auto"
            } else {
                "BEGIN"
            })
            .map_err(store_error)?;
        Ok(Self {
            conn,
            open: true,
            read_only,
        })
    }
    /// The client the transaction runs on (a bulk load copies rows through it directly).
    pub(crate) fn client(&mut self) -> &mut postgres::Client {
        &mut self.conn.client
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        if self.open && !self.conn.client.is_closed() {
            // If it fails the connection is broken, and the pool replaces it.
            let _ = self.conn.client.batch_execute("ROLLBACK");
        }
    }
}

/// `?1` → `$1`: the shared statements use SQLite's numbered parameters.
pub(crate) fn dollar(sql: &str) -> String {
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

impl PostgresBackend {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        let conn = &mut *self.conn;
        if let Some(stmt) = conn.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = conn.client.prepare(&dollar(sql)).map_err(store_error)?;
        // Filter queries are built per call; keep the cache bounded.
        if conn.statements.len() < 256 {
            conn.statements.insert(sql.to_string(), stmt.clone());
        }
        Ok(stmt)
    }
}

impl SqlBackend for PostgresBackend {
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let stmt = self.statement(sql)?;
        #[cfg(test)]
        super::round_trips::count();
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        self.conn.client.execute(&stmt, &params).map_err(store_error)
    }

    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>> {
        let stmt = self.statement(sql)?;
        #[cfg(test)]
        super::round_trips::count();
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.conn.client.query(&stmt, &params).map_err(store_error)?;
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
                            Type::INT8_ARRAY => {
                                row.get::<_, Option<Vec<Option<i64>>>>(i)
                                    .map_or(SqlValue::Null, |a| {
                                        SqlValue::Column(
                                            a.into_iter()
                                                .map(|v| v.map_or(SqlValue::Null, SqlValue::Int))
                                                .collect(),
                                        )
                                    })
                            }
                            Type::TEXT_ARRAY => {
                                row.get::<_, Option<Vec<Option<String>>>>(i)
                                    .map_or(SqlValue::Null, |a| {
                                        SqlValue::Column(
                                            a.into_iter()
                                                .map(|v| v.map_or(SqlValue::Null, SqlValue::Text))
                                                .collect(),
                                        )
                                    })
                            }
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

    fn commit(&mut self) -> Result<()> {
        #[cfg(test)]
        super::round_trips::count();
        let committed = self.conn.client.batch_execute("COMMIT");
        self.open = false;
        committed.map_err(|e| match store_error(e) {
            // Lost while committing: it may have committed.
            Error::Unavailable { message, source } => Error::OutcomeUnknown { message, source },
            other => other,
        })
    }

    fn lock_rows(&self) -> &'static str {
        if self.read_only { "" } else { " FOR UPDATE" }
    }

    fn new_customer_id(&mut self) -> Result<(i64, bool)> {
        // Drawn alone rather than by inserting an empty row: the row is inserted once, in
        // its final state, with the transaction's other new rows.
        let rows = self.query(
            "SELECT nextval(pg_get_serial_sequence('oneid_customers', 'id'))",
            &[],
        )?;
        let id = rows
            .first()
            .and_then(|r| r.first())
            .map(SqlValue::int)
            .transpose()?;
        Ok((
            id.ok_or_else(|| Error::Corrupt("postgres: the id sequence returned no id".into()))?,
            false,
        ))
    }

    fn new_customer_ids(&mut self, n: usize) -> Result<Vec<i64>> {
        let n = i64::try_from(n).map_err(|_| Error::Invariant("too many customer ids asked for".into()))?;
        self.query(
            "SELECT nextval(pg_get_serial_sequence('oneid_customers', 'id')) FROM generate_series(1, ?1::bigint)",
            &[n.into()],
        )?
        .iter()
        .map(|r| r.first().map_or_else(|| Err(Error::Corrupt("postgres: no id drawn".into())), SqlValue::int))
        .collect()
    }

    fn round_trips(&self) -> bool {
        true
    }

    fn binds_arrays(&self) -> bool {
        true
    }
}
