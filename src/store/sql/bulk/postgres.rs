//! Bulk loads into PostgreSQL: `COPY … FROM STDIN` in text format, in one transaction that
//! holds off other writers of the tables it fills while it writes. Into an empty table, the
//! indexes of its keys and unique constraints are built after its rows too; dropping them
//! takes the table's exclusive lock, so readers of that table wait for the load as well.

use super::CopyRows;
use super::rows::{RowBuf, Value};
use crate::error::{Error, Result};
use crate::model::TenantId;
use crate::store::bulk::sealed::{BulkStart, Target};
use crate::store::memory::TenantExport;
use crate::store::sql::SqlBackend;
use crate::store::sql::backend::postgres::{PostgresBackend, store_error};
use crate::store::{PostgresStore, Store};
use std::io::Write;

/// How much COPY text is sent at a time.
const COPY_CHUNK: usize = 1 << 20;

/// Appends `s` as COPY text: backslash, tab, newline and carriage return escaped.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        out.extend_from_slice(escaped);
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
}

fn io_error(e: std::io::Error) -> Error {
    Error::Database {
        message: format!("postgres: COPY failed: {e}"),
        source: Box::new(e),
    }
}

impl CopyRows for PostgresBackend {
    const IDENTITIES_BY_KEY: bool = true;

    fn copy_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        fill: &mut dyn FnMut(&mut RowBuf) -> Result<bool>,
    ) -> Result<()> {
        let sql = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
        let mut writer = self.client().copy_in(&sql).map_err(store_error)?;
        let mut row = RowBuf::default();
        let mut text: Vec<u8> = Vec::with_capacity(COPY_CHUNK + 4096);
        loop {
            row.clear();
            if !fill(&mut row)? {
                break;
            }
            if row.len() != columns.len() {
                return Err(Error::Invariant(format!(
                    "a bulk row of {table} has {} values",
                    row.len()
                )));
            }
            for (n, v) in row.values().enumerate() {
                if n > 0 {
                    text.push(b'\t');
                }
                match v {
                    Value::Null => text.extend_from_slice(b"\\N"),
                    Value::Int(i) => write!(text, "{i}").map_err(io_error)?,
                    Value::Text(s) => escape_into(&mut text, s),
                }
            }
            text.push(b'\n');
            if text.len() >= COPY_CHUNK {
                writer.write_all(&text).map_err(io_error)?;
                text.clear();
            }
        }
        writer.write_all(&text).map_err(io_error)?;
        writer.finish().map_err(store_error)?;
        Ok(())
    }

    fn next_free(&mut self, table: &str, column: &str) -> Result<i64> {
        let rows = self.query(
            &format!(
                "SELECT GREATEST(COALESCE(pg_sequence_last_value(pg_get_serial_sequence('{table}', '{column}')::regclass), 0), \
                 COALESCE((SELECT MAX({column}) FROM {table}), 0)) + 1"
            ),
            &[],
        )?;
        rows.first()
            .ok_or_else(|| Error::Corrupt(format!("no next value of {table}.{column}")))?[0]
            .int()
    }

    /// Keys and unique constraints are made again by `ALTER TABLE … ADD CONSTRAINT` with
    /// their names and definitions, which makes the same indexes.
    fn rebuilt_indexes(&mut self, table: &str, empty: bool) -> Result<Vec<(String, String)>> {
        let mut rebuilt: Vec<(String, String)> = self
            .query(
                "SELECT i.indexname::text, i.indexdef FROM pg_indexes i WHERE i.tablename::text = ?1 AND i.schemaname = current_schema() \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)",
                &[table.into()],
            )?
            .iter()
            .map(|r| Ok((format!("DROP INDEX {}", r[0].text()?), r[1].text()?.to_owned())))
            .collect::<Result<_>>()?;
        if empty {
            for r in self.query(
                "SELECT quote_ident(c.conname::text), pg_get_constraintdef(c.oid) FROM pg_constraint c \
                 WHERE c.conrelid = format('%I.%I', current_schema(), ?1::text)::regclass AND c.contype IN ('p', 'u') \
                 ORDER BY c.conname",
                &[table.into()],
            )? {
                let (name, definition) = (r[0].text()?, r[1].text()?);
                rebuilt.push((
                    format!("ALTER TABLE {table} DROP CONSTRAINT {name}"),
                    format!("ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"),
                ));
            }
        }
        Ok(rebuilt)
    }

    fn numbered_to(&mut self, table: &str, column: &str, last: i64) -> Result<()> {
        self.query(
            &format!("SELECT setval(pg_get_serial_sequence('{table}', '{column}'), ?1)"),
            &[last.into()],
        )?;
        Ok(())
    }
}

impl Target for PostgresStore {
    fn bulk_begin(&self, tenant: &TenantId) -> Result<BulkStart> {
        let txn = self.read(tenant)?;
        super::begin(&mut *txn.conn.borrow_mut(), tenant)
    }

    fn bulk_write(&self, tenant: &TenantId, start: &BulkStart, export: &TenantExport<'_>) -> Result<()> {
        let txn = self.write(tenant)?;
        let mut conn = txn.conn.into_inner();
        // Writers of these tables wait until the load commits (readers too, of a table whose
        // indexes it drops and builds again): its ids and sequence numbers are then its own. The wait for writers already running may be
        // longer than the store's usual lock timeout.
        conn.client()
            .batch_execute(
                "SET LOCAL lock_timeout = '30s'; SET LOCAL maintenance_work_mem = '512MB'; \
                 LOCK TABLE oneid_customers, oneid_identities, oneid_counts, oneid_history, oneid_tags, \
                 oneid_groups, oneid_suspicions, oneid_settings, oneid_tenants IN SHARE ROW EXCLUSIVE MODE",
            )
            .map_err(store_error)?;
        super::write(&mut conn, tenant, start, export)?;
        conn.commit()
    }
}
