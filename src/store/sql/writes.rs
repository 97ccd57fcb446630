//! The transaction's writes: history events, customer rows and their side tables, and the
//! flush that writes out everything held back.
//!
//! Links, history events and the customers the transaction numbered itself wait in the
//! cache, and a changed customer is written once, in its final state: [`SqlTxn::flush`]
//! writes them all. On PostgreSQL, where every statement is a round trip, that is one
//! statement: each table's rows as one array per column, in a data-modifying `WITH` query of
//! their own, and at commit the settings check besides. On SQLite it inserts the waiting rows
//! in multi-row `INSERT`s of at most 64 rows (in chunks of powers of two, so that few
//! statement texts are prepared), then updates the rows of the other changed customers. New
//! identities are claimed with `ON CONFLICT DO NOTHING RETURNING`: a row that
//! does not come back was claimed by a concurrent writer, and the operation is run again. Tags
//! and groups are rewritten only when they differ from what the side tables hold.

use super::codec::{customer_values, id_param, key_params, operation_name, ts};
use super::columns::unnest_at;
use super::{SqlBackend, SqlTxn, SqlValue};
use crate::error::{Error, Result};
use crate::history::{Cause, EventKind};
use crate::model::{Customer, CustomerId, Identity, IdentityKey, TenantId};
use chrono::{DateTime, Utc};

/// `oneid_customers`' columns in [`customer_values`] order, with their types.
const CUSTOMER_COLUMNS: &[(&str, &str)] = &[
    ("tenant", "text"),
    ("id", "bigint"),
    ("status", "text"),
    ("created", "text"),
    ("updated", "text"),
    ("data", "text"),
    ("mobile", "text"),
    ("email", "text"),
    ("name", "text"),
    ("nick_name", "text"),
    ("gender", "bigint"),
    ("stage", "text"),
    ("source", "text"),
];

/// The columns of a held-back link's `oneid_identities` row.
const IDENTITY_COLUMNS: &[(&str, &str)] = &[
    ("tenant", "text"),
    ("itype", "text"),
    ("scope", "text"),
    ("value", "text"),
    ("name", "text"),
    ("customer", "bigint"),
];

/// The columns of an `oneid_counts` row.
const COUNT_COLUMNS: &[(&str, &str)] = &[
    ("customer", "bigint"),
    ("itype", "text"),
    ("scope", "text"),
    ("n", "bigint"),
    ("first_seq", "bigint"),
];

/// The columns of an `oneid_history` row after `seq`, in the order
/// [`SqlTxn::record`] holds them.
const HISTORY_COLUMNS: &[(&str, &str)] = &[
    ("tenant", "text"),
    ("customer", "bigint"),
    ("at", "text"),
    ("kind", "text"),
    ("itype", "text"),
    ("iscope", "text"),
    ("ivalue", "text"),
    ("iname", "text"),
    ("other", "bigint"),
    ("operation", "text"),
    ("reference", "text"),
];

/// Writes a live customer's row (parameters in [`customer_values`] order).
const UPDATE_LIVE_CUSTOMER: &str = "UPDATE oneid_customers SET status = ?3, created = ?4, updated = ?5, data = ?6, \
     mobile = ?7, email = ?8, name = ?9, nick_name = ?10, gender = ?11, stage = ?12, source = ?13 \
     WHERE id = ?2 AND (CASE WHEN tenant = ?1 AND status = 'active' THEN 1 ELSE 0 END) = 1";

/// How a link claims its identity: only where no other customer holds it.
const CLAIMED: &str = " ON CONFLICT DO NOTHING RETURNING seq, customer, itype, scope";

/// How claimed links grow their customers' counts.
const GROW: &str = " ON CONFLICT (customer, itype, scope) DO UPDATE SET n = oneid_counts.n + excluded.n";

/// `status = u.status, …`: a customer row's columns after its key, set from `u`.
fn update_set() -> String {
    CUSTOMER_COLUMNS[2..]
        .iter()
        .map(|(name, _)| format!("{name} = u.{name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a, b, c`: the names of `columns`.
fn column_names(columns: &[(&str, &str)]) -> String {
    columns.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
}

#[expect(private_bounds, reason = "the methods are crate-private (see `SqlTxn`)")]
impl<B: SqlBackend> SqlTxn<B> {
    /// Writes everything held back, so the database is up to date.
    pub(super) fn flush(&self) -> Result<()> {
        self.flush_checking(None).map(|_| ())
    }

    /// [`flush`](Self::flush), and where the held-back rows go in one statement
    /// (PostgreSQL), that statement also reads `check`'s settings version under a share lock
    /// (held until the transaction ends): `Some(version read)` if it did, `None` if the
    /// caller must read it itself.
    pub(super) fn flush_checking(&self, check: Option<&TenantId>) -> Result<Option<Option<i64>>> {
        let mut cache = self.cache.borrow_mut();
        if !cache.pending() {
            return Ok(None);
        }
        // New customers.
        let dirty = std::mem::take(&mut cache.dirty);
        let cache = &mut *cache;
        let fresh: Vec<&Customer> = dirty
            .iter()
            .filter(|id| cache.fresh.contains(*id))
            .map(|id| &cache.customers[id].1)
            .collect();
        let tenant_of = |id: &CustomerId| cache.customers[&id.0].0.clone();
        let made: Vec<Vec<SqlValue>> = fresh
            .iter()
            .map(|c| customer_values(&tenant_of(&c.id), c, "active"))
            .collect::<Result<_>>()?;
        // Links, in order: the unique key still decides who owns an identity.
        let links = std::mem::take(&mut cache.links);
        cache.linked.clear();
        let linked: Vec<Vec<SqlValue>> = links
            .iter()
            .map(|(tenant, identity, customer)| {
                let [t, a, b, c] = key_params(tenant, identity.key());
                Ok(vec![
                    t,
                    a,
                    b,
                    c,
                    identity.identity_name.as_deref().into(),
                    id_param(CustomerId(*customer))?,
                ])
            })
            .collect::<Result<_>>()?;
        cache.pending.clear();
        cache.pending_kinds.clear();
        cache.forget_counts();
        let history: Vec<Vec<SqlValue>> = std::mem::take(&mut cache.history)
            .into_iter()
            .map(Vec::from)
            .collect();
        // Changed customers that already had a row: their final state, once.
        let changed: Vec<u64> = dirty
            .iter()
            .copied()
            .filter(|id| !cache.fresh.contains(id))
            .collect();
        let rows: Vec<Vec<SqlValue>> = changed
            .iter()
            .map(|id| {
                let (tenant, c) = &cache.customers[id];
                customer_values(tenant, c, "active")
            })
            .collect::<Result<_>>()?;
        let (claimed, written, checked) = if self.conn.borrow().binds_arrays() {
            let (claimed, written, version) = self.write_at_once(made, linked, history, rows, check)?;
            (claimed, written, Some(version))
        } else {
            self.insert_rows("oneid_customers", CUSTOMER_COLUMNS, "", made)?;
            let claimed = self.claim(linked)?;
            self.insert_rows("oneid_history", HISTORY_COLUMNS, "", history)?;
            (claimed, self.update_live_customers(rows)?, None)
        };
        if claimed != links.len() {
            return Err(Error::Transient("an identity was claimed concurrently".into()));
        }
        if written != changed.len() as u64 {
            return Err(Error::Invariant(
                "a customer changed underneath a transaction".into(),
            ));
        }
        for id in &dirty {
            self.write_side_tables(&cache.customers[id].1)?;
        }
        cache.fresh.clear();
        Ok(checked.filter(|_| check.is_some()))
    }

    /// Writes held-back rows in one statement (PostgreSQL): new customers (`made`), links
    /// (claimed where no other customer holds the identity, and added to their customers'
    /// counts), history events and the rows of changed customers, each table's rows as one
    /// array per column; and reads `check`'s settings version under a share lock. Returns
    /// how many links were claimed, how many live customers were written, and the version
    /// read. Each part is a data-modifying `WITH` query; they touch different rows, so none
    /// needs to see another's changes (the counts read the claimed links' `RETURNING`). One
    /// statement text serves every batch with the same parts.
    fn write_at_once(
        &self,
        made: Vec<Vec<SqlValue>>,
        linked: Vec<Vec<SqlValue>>,
        history: Vec<Vec<SqlValue>>,
        changed: Vec<Vec<SqlValue>>,
        check: Option<&TenantId>,
    ) -> Result<(usize, u64, Option<i64>)> {
        fn arrays(columns: &[(&str, &str)], rows: Vec<Vec<SqlValue>>, params: &mut Vec<SqlValue>) -> String {
            let (sql, p) = unnest_at(columns, rows, params.len() + 1);
            params.extend(p);
            sql
        }
        let mut parts: Vec<String> = Vec::new();
        let mut outputs: Vec<String> = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        if !made.is_empty() {
            let from = arrays(CUSTOMER_COLUMNS, made, &mut params);
            parts.push(format!(
                "made AS (INSERT INTO oneid_customers ({}) SELECT * FROM {from})",
                column_names(CUSTOMER_COLUMNS)
            ));
        }
        let claims = !linked.is_empty();
        if claims {
            let from = arrays(IDENTITY_COLUMNS, linked, &mut params);
            parts.push(format!(
                "claimed AS (INSERT INTO oneid_identities ({}) SELECT * FROM {from}{CLAIMED}), \
                 grown AS (INSERT INTO oneid_counts (customer, itype, scope, n, first_seq) \
                 SELECT customer, itype, scope, COUNT(*), MIN(seq) FROM claimed GROUP BY customer, itype, scope{GROW})",
                column_names(IDENTITY_COLUMNS)
            ));
            outputs.push("(SELECT COUNT(*) FROM claimed)".into());
        }
        if !history.is_empty() {
            let from = arrays(HISTORY_COLUMNS, history, &mut params);
            parts.push(format!(
                "recorded AS (INSERT INTO oneid_history ({}) SELECT * FROM {from})",
                column_names(HISTORY_COLUMNS)
            ));
        }
        let updates = !changed.is_empty();
        if updates {
            // The ids again as a list the primary key answers, so that the plan PostgreSQL
            // keeps for the statement searches the index whatever it guessed the sizes were.
            let ids: Vec<i64> = changed.iter().map(|r| r[1].int()).collect::<Result<_>>()?;
            let from = arrays(CUSTOMER_COLUMNS, changed, &mut params);
            params.push(SqlValue::IntList(ids));
            parts.push(format!(
                "written AS (UPDATE oneid_customers AS c SET {} FROM {from} WHERE c.id = ANY(?{}) \
                 AND c.id = u.id AND c.tenant = u.tenant AND c.status = 'active' RETURNING 1)",
                update_set(),
                params.len()
            ));
            outputs.push("(SELECT COUNT(*) FROM written)".into());
        }
        if let Some(tenant) = check {
            params.push(tenant.as_str().into());
            outputs.push(format!(
                "(SELECT settings_version FROM oneid_tenants WHERE tenant = ?{} FOR SHARE)",
                params.len()
            ));
        }
        if outputs.is_empty() {
            outputs.push("0".into());
        }
        let sql = if parts.is_empty() {
            format!("SELECT {}", outputs.join(", "))
        } else {
            format!("WITH {} SELECT {}", parts.join(", "), outputs.join(", "))
        };
        let rows = self.rows(&sql, &params)?;
        let row = rows
            .first()
            .ok_or_else(|| Error::Corrupt("postgres: a write returned no row".into()))?;
        let mut values = row.iter();
        let mut next = || {
            values
                .next()
                .ok_or_else(|| Error::Corrupt("postgres: a write returned too few columns".into()))
        };
        let claimed = if claims { next()?.int()? as usize } else { 0 };
        let written = if updates { next()?.int()? as u64 } else { 0 };
        let version = if check.is_some() { next()?.opt_int()? } else { None };
        Ok((claimed, written, version))
    }

    /// Inserts held-back links (`oneid_identities` rows, SQLite) where no other customer
    /// holds the identity, and adds them to their customers' counts (a kind a customer held none of
    /// starts at the first of them). Returns how many were inserted: fewer than given means
    /// a concurrent writer claimed one.
    fn claim(&self, rows: Vec<Vec<SqlValue>>) -> Result<usize> {
        if rows.is_empty() {
            return Ok(0);
        }
        let claimed = self.insert_rows("oneid_identities", IDENTITY_COLUMNS, CLAIMED, rows)?;
        let mut grown: indexmap::IndexMap<(i64, &str, &str), (i64, i64)> = indexmap::IndexMap::new();
        for r in &claimed {
            let seq = r[0].int()?;
            let at = grown
                .entry((r[1].int()?, r[2].text()?, r[3].text()?))
                .or_insert((0, seq));
            at.0 += 1;
            at.1 = at.1.min(seq);
        }
        let counts: Vec<Vec<SqlValue>> = grown
            .iter()
            .map(|(&(customer, ty, scope), &(n, first))| {
                vec![customer.into(), ty.into(), scope.into(), n.into(), first.into()]
            })
            .collect();
        self.insert_rows("oneid_counts", COUNT_COLUMNS, GROW, counts)?;
        Ok(claimed.len())
    }

    /// Writes the rows of live customers (values in [`customer_values`] order); returns how
    /// many were live and written (SQLite: one statement per customer).
    fn update_live_customers(&self, rows: Vec<Vec<SqlValue>>) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut written = 0;
        for row in rows {
            written += self.exec(UPDATE_LIVE_CUSTOMER, &row)?;
        }
        Ok(written)
    }

    /// Inserts rows into `table` (`columns` names each value of a row and gives its SQL
    /// type), returning the rows a `RETURNING` suffix in `tail` brings back (SQLite, where a
    /// statement costs no round trip: multi-row `INSERT`s of at most 64 rows, in chunks of
    /// powers of two, so few statement texts are prepared).
    fn insert_rows(
        &self,
        table: &str,
        columns: &[(&str, &str)],
        tail: &str,
        rows: Vec<Vec<SqlValue>>,
    ) -> Result<Vec<Vec<SqlValue>>> {
        use std::fmt::Write;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let into = format!("{table} ({})", column_names(columns));
        let returns = tail.contains("RETURNING");
        let run = |sql: &str, params: &[SqlValue]| -> Result<Vec<Vec<SqlValue>>> {
            if returns {
                self.rows(sql, params)
            } else {
                self.exec(sql, params).map(|_| Vec::new())
            }
        };
        let mut left = rows.len();
        let mut rows = rows.into_iter();
        let mut back = Vec::new();
        while left > 0 {
            let n = 1usize << left.min(64).ilog2();
            left -= n;
            let chunk: Vec<Vec<SqlValue>> = rows.by_ref().take(n).collect();
            let width = chunk[0].len();
            let mut sql = String::with_capacity(into.len() + tail.len() + n * width * 5 + 20);
            let _ = write!(sql, "INSERT INTO {into} VALUES ");
            let mut k = 0;
            for r in 0..n {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for c in 0..width {
                    k += 1;
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    let _ = write!(sql, "?{k}");
                }
                sql.push(')');
            }
            sql.push_str(tail);
            let params: Vec<SqlValue> = chunk.into_iter().flatten().collect();
            back.extend(run(&sql, &params)?);
        }
        Ok(back)
    }

    /// Removes every identity the members of a merge set hold, and the counts of its
    /// survivor `root` (a delete or an erasure).
    pub(super) fn release(&self, tenant: &TenantId, root: CustomerId, members: &[u64]) -> Result<()> {
        for ids in members.chunks(512) {
            let holes: Vec<String> = (0..ids.len()).map(|n| format!("?{}", n + 2)).collect();
            let mut params = vec![SqlValue::from(tenant.as_str())];
            for &id in ids {
                params.push(id_param(CustomerId(id))?);
            }
            self.exec(
                &format!(
                    "DELETE FROM oneid_identities WHERE customer IN ({}) \
                     AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1",
                    holes.join(", ")
                ),
                &params,
            )?;
        }
        self.exec("DELETE FROM oneid_counts WHERE customer = ?1", &[id_param(root)?])?;
        self.cache.borrow_mut().forget_counts();
        Ok(())
    }

    /// Takes an unlinked identity (`seq` in `oneid_identities`) off its live owner's count;
    /// when it was the first of its kind, the next one is found among the owner's set.
    pub(super) fn uncount(
        &self,
        tenant: &TenantId,
        owner: CustomerId,
        key: IdentityKey<'_>,
        seq: i64,
    ) -> Result<()> {
        let stored = self.stored_count(owner.0, key.identity_type, key.scope)?;
        self.cache.borrow_mut().forget_counts();
        let kind = [
            id_param(owner)?,
            key.identity_type.into(),
            key.scope.unwrap_or("").into(),
        ];
        let Some((n, first)) = stored else {
            return Err(Error::Corrupt(format!(
                "customer {owner} held an uncounted {}",
                key.identity_type
            )));
        };
        if n <= 1 {
            self.exec(
                "DELETE FROM oneid_counts WHERE customer = ?1 AND itype = ?2 AND scope = ?3",
                &kind,
            )?;
            return Ok(());
        }
        let mut next = first;
        if first == seq {
            next = i64::MAX;
            for ids in self.set_members(tenant, owner)?.chunks(512) {
                let holes: Vec<String> = (0..ids.len()).map(|n| format!("?{}", n + 4)).collect();
                let mut params = vec![SqlValue::from(tenant.as_str()), kind[1].clone(), kind[2].clone()];
                for &id in ids {
                    params.push(id_param(CustomerId(id))?);
                }
                let rows = self.rows(
                    &format!(
                        "SELECT MIN(seq) FROM oneid_identities WHERE customer IN ({}) AND itype = ?2 AND scope = ?3 \
                         AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1",
                        holes.join(", ")
                    ),
                    &params,
                )?;
                if let Some(found) = rows.first().map(|r| r[0].opt_int()).transpose()?.flatten() {
                    next = next.min(found);
                }
            }
        }
        self.exec(
            "UPDATE oneid_counts SET n = n - 1, first_seq = ?4 WHERE customer = ?1 AND itype = ?2 AND scope = ?3",
            &[kind[0].clone(), kind[1].clone(), kind[2].clone(), next.into()],
        )?;
        Ok(())
    }

    pub(super) fn record(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        at: DateTime<Utc>,
        kind: &EventKind,
        cause: &Cause,
    ) -> Result<()> {
        let (name, identity, other): (&str, Option<&Identity>, Option<CustomerId>) = match kind {
            EventKind::Created => ("created", None, None),
            EventKind::Linked { identity } => ("linked", Some(identity), None),
            EventKind::Unlinked { identity } => ("unlinked", Some(identity), None),
            EventKind::Merged { from } => ("merged", None, Some(*from)),
            EventKind::MergedInto { into } => ("mergedInto", None, Some(*into)),
            EventKind::Deleted => ("deleted", None, None),
            EventKind::Erased => ("erased", None, None),
        };
        let other = match other {
            Some(id) => id_param(id)?,
            None => SqlValue::Null,
        };
        self.cache.borrow_mut().history.push([
            tenant.as_str().into(),
            id_param(customer)?,
            ts(&at).into(),
            name.into(),
            identity.map(|i| i.identity_type.as_str()).into(),
            identity.map(|i| i.scope.as_deref().unwrap_or("")).into(),
            identity.map(|i| &*i.identity_value).into(),
            identity.and_then(|i| i.identity_name.as_deref()).into(),
            other,
            operation_name(cause.operation).into(),
            cause.reference.as_deref().into(),
        ]);
        Ok(())
    }

    fn write_side_tables(&self, c: &Customer) -> Result<()> {
        let unchanged = self
            .lists
            .borrow()
            .get(&c.id.0)
            .is_some_and(|(t, g)| *t == c.tags && *g == c.groups);
        if unchanged {
            return Ok(());
        }
        self.lists
            .borrow_mut()
            .insert(c.id.0, (c.tags.clone(), c.groups.clone()));
        let id = id_param(c.id)?;
        self.exec(
            "DELETE FROM oneid_tags WHERE customer = ?1",
            std::slice::from_ref(&id),
        )?;
        self.exec(
            "DELETE FROM oneid_groups WHERE customer = ?1",
            std::slice::from_ref(&id),
        )?;
        for tag in &c.tags {
            self.exec(
                "INSERT INTO oneid_tags (customer, tag) VALUES (?1, ?2)",
                &[id.clone(), tag.as_str().into()],
            )?;
        }
        for g in &c.groups {
            self.exec(
                "INSERT INTO oneid_groups (customer, grp) VALUES (?1, ?2)",
                &[id.clone(), (*g).into()],
            )?;
        }
        Ok(())
    }

    /// Writes a customer row (and its side tables); with `only_active`, only if the row is a
    /// live customer. Returns the number of rows written.
    pub(super) fn write_customer(
        &self,
        tenant: &TenantId,
        c: &Customer,
        status: &str,
        only_active: bool,
    ) -> Result<u64> {
        let sql = if only_active {
            UPDATE_LIVE_CUSTOMER
        } else {
            "UPDATE oneid_customers SET status = ?3, created = ?4, updated = ?5, data = ?6, mobile = ?7, email = ?8, \
             name = ?9, nick_name = ?10, gender = ?11, stage = ?12, source = ?13 WHERE tenant = ?1 AND id = ?2"
        };
        let changed = self.exec(sql, &customer_values(tenant, c, status)?)?;
        if changed > 0 {
            self.write_side_tables(c)?;
        }
        Ok(changed)
    }
}
