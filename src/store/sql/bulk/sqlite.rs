//! Bulk loads into SQLite: prepared single-row `INSERT`s in one `IMMEDIATE` transaction,
//! with a page cache large enough for the indexes while it runs.

use super::CopyRows;
use super::rows::{RowBuf, Value};
use crate::error::{Error, Result};
use crate::model::TenantId;
use crate::store::bulk::sealed::{BulkStart, Target};
use crate::store::memory::TenantExport;
use crate::store::sql::backend::sqlite::{SqliteBackend, store_error};
use crate::store::{SqliteStore, Store};

/// The page cache a load writes with, in KiB (SQLite's negative `cache_size`): the indexes of
/// millions of rows stay in memory instead of being written and read back page by page.
const LOAD_CACHE_KIB: i64 = 1 << 20;

impl CopyRows for SqliteBackend<'_> {
    const IDENTITIES_BY_KEY: bool = false;

    fn copy_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        fill: &mut dyn FnMut(&mut RowBuf) -> Result<bool>,
    ) -> Result<()> {
        let holes: Vec<String> = (1..=columns.len()).map(|n| format!("?{n}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            columns.join(", "),
            holes.join(", ")
        );
        let mut stmt = self.connection().prepare(&sql).map_err(store_error)?;
        let mut row = RowBuf::default();
        loop {
            row.clear();
            if !fill(&mut row)? {
                return Ok(());
            }
            if row.len() != columns.len() {
                return Err(Error::Invariant(format!(
                    "a bulk row of {table} has {} values",
                    row.len()
                )));
            }
            for (n, v) in row.values().enumerate() {
                match v {
                    Value::Null => stmt.raw_bind_parameter(n + 1, rusqlite::types::Null),
                    Value::Int(i) => stmt.raw_bind_parameter(n + 1, i),
                    Value::Text(s) => stmt.raw_bind_parameter(n + 1, s),
                }
                .map_err(store_error)?;
            }
            stmt.raw_execute().map_err(store_error)?;
        }
    }

    fn next_free(&mut self, table: &str, column: &str) -> Result<i64> {
        self.connection()
            .query_row(
                &format!(
                    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0), \
                     COALESCE((SELECT MAX({column}) FROM {table}), 0)) + 1"
                ),
                [table],
                |r| r.get(0),
            )
            .map_err(store_error)
    }

    /// A key's or unique constraint's index (SQLite's automatic ones) cannot be dropped.
    fn rebuilt_indexes(&mut self, table: &str, _empty: bool) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .connection()
            .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL")
            .map_err(store_error)?;
        let rows = stmt
            .query_map([table], |r| {
                Ok((format!("DROP INDEX {}", r.get::<_, String>(0)?), r.get(1)?))
            })
            .map_err(store_error)?;
        rows.collect::<rusqlite::Result<_>>().map_err(store_error)
    }

    /// `AUTOINCREMENT` keeps the largest number inserted by hand itself.
    fn numbered_to(&mut self, _table: &str, _column: &str, _last: i64) -> Result<()> {
        Ok(())
    }
}

impl Target for SqliteStore {
    fn bulk_begin(&self, tenant: &TenantId) -> Result<BulkStart> {
        let txn = self.read(tenant)?;
        super::begin(&mut *txn.conn.borrow_mut(), tenant)
    }

    fn bulk_write(&self, tenant: &TenantId, start: &BulkStart, export: &TenantExport<'_>) -> Result<()> {
        let txn = self.write(tenant)?;
        let mut conn = txn.conn.into_inner();
        let cache: i64 = conn
            .connection()
            .query_row("PRAGMA cache_size", [], |r| r.get(0))
            .map_err(store_error)?;
        let set_cache = |conn: &SqliteBackend<'_>, size: i64| {
            conn.connection()
                .pragma_update(None, "cache_size", size)
                .map_err(store_error)
        };
        set_cache(&conn, -LOAD_CACHE_KIB)?;
        let written = super::write(&mut conn, tenant, start, export).and_then(|()| {
            use crate::store::sql::SqlBackend;
            conn.commit()
        });
        // Back to the store's own cache (its pages are dropped as it shrinks).
        let restored = set_cache(&conn, cache);
        written.and(restored)
    }
}
