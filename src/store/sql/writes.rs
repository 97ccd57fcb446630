//! The transaction's writes: history events, customer rows and their side tables, and the
//! flush that writes out everything held back.
//!
//! Links, history events and the customers the transaction numbered itself wait in the
//! cache, and a changed customer is written once, in its final state: [`SqlTxn::flush`]
//! inserts the waiting rows in multi-row `INSERT`s of at most 64 rows (in chunks of powers of
//! two, so that few statement texts are prepared), then updates the rows of the other changed
//! customers. New identities are claimed with `ON CONFLICT DO NOTHING RETURNING`: a row that
//! does not come back was claimed by a concurrent writer, and the operation is run again. Tags
//! and groups are rewritten only when they differ from what the side tables hold.

use super::codec::{customer_values, id_param, key_params, operation_name, ts};
use super::{SqlBackend, SqlTxn, SqlValue};
use crate::error::{Error, Result};
use crate::history::{Cause, EventKind};
use crate::model::{Customer, CustomerId, Identity, IdentityKey, TenantId};
use chrono::{DateTime, Utc};

#[expect(private_bounds, reason = "the methods are crate-private (see `SqlTxn`)")]
impl<B: SqlBackend> SqlTxn<B> {
    /// Writes everything held back, so the database is up to date.
    pub(super) fn flush(&self) -> Result<()> {
        let mut cache = self.cache.borrow_mut();
        if !cache.pending() {
            return Ok(());
        }
        // New customers: one multi-row INSERT per chunk.
        let dirty = std::mem::take(&mut cache.dirty);
        let cache = &mut *cache;
        let fresh: Vec<&Customer> = dirty
            .iter()
            .filter(|id| cache.fresh.contains(*id))
            .map(|id| &cache.customers[id].1)
            .collect();
        let tenant_of = |id: &CustomerId| cache.customers[&id.0].0.clone();
        let rows: Vec<Vec<SqlValue>> = fresh
            .iter()
            .map(|c| customer_values(&tenant_of(&c.id), c, "active"))
            .collect::<Result<_>>()?;
        self.insert_rows(
            "INSERT INTO oneid_customers (tenant, id, status, created, updated, data, mobile, email, name, \
             nick_name, gender, stage, source) VALUES ",
            "",
            rows,
        )?;
        // Links, in order: the unique key still decides who owns an identity.
        let links = std::mem::take(&mut cache.links);
        cache.linked.clear();
        let rows: Vec<Vec<SqlValue>> = links
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
        let claimed = self.insert_rows(
            "INSERT INTO oneid_identities (tenant, itype, scope, value, name, customer) VALUES ",
            " ON CONFLICT DO NOTHING RETURNING seq, customer, itype, scope",
            rows,
        )?;
        if claimed.len() != links.len() {
            return Err(Error::Transient("an identity was claimed concurrently".into()));
        }
        cache.pending.clear();
        cache.pending_kinds.clear();
        // Each customer's counts grow by its links of each kind; a kind it held none of
        // starts at the first of them.
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
        self.insert_rows(
            "INSERT INTO oneid_counts (customer, itype, scope, n, first_seq) VALUES ",
            " ON CONFLICT (customer, itype, scope) DO UPDATE SET n = oneid_counts.n + excluded.n",
            counts,
        )?;
        cache.counts.clear();
        let history: Vec<Vec<SqlValue>> = std::mem::take(&mut cache.history)
            .into_iter()
            .map(Vec::from)
            .collect();
        self.insert_rows(
            "INSERT INTO oneid_history (tenant, customer, at, kind, itype, iscope, ivalue, iname, other, \
             operation, reference) VALUES ",
            "",
            history,
        )?;
        // Changed customers that already had a row: their final state, once.
        for id in &dirty {
            let (tenant, c) = &cache.customers[id];
            if cache.fresh.contains(id) {
                self.write_side_tables(c)?;
            } else if self.write_customer(tenant, c, "active", true)? != 1 {
                return Err(Error::Invariant(format!(
                    "customer {id} changed underneath a transaction"
                )));
            }
        }
        cache.fresh.clear();
        Ok(())
    }

    /// Inserts rows with multi-row `INSERT`s of at most 64 rows (in chunks of powers of two,
    /// so few statement texts are prepared). Returns the rows a `RETURNING` suffix brings
    /// back.
    fn insert_rows(&self, head: &str, tail: &str, rows: Vec<Vec<SqlValue>>) -> Result<Vec<Vec<SqlValue>>> {
        use std::fmt::Write;
        let mut left = rows.len();
        let mut rows = rows.into_iter();
        let mut back = Vec::new();
        while left > 0 {
            let n = 1usize << left.min(64).ilog2();
            left -= n;
            let chunk: Vec<Vec<SqlValue>> = rows.by_ref().take(n).collect();
            let width = chunk[0].len();
            let mut sql = String::with_capacity(head.len() + tail.len() + n * width * 5);
            sql.push_str(head);
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
            if tail.contains("RETURNING") {
                back.extend(self.rows(&sql, &params)?);
            } else {
                self.exec(&sql, &params)?;
            }
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
        self.cache.borrow_mut().counts.clear();
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
        self.cache.borrow_mut().counts.clear();
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
            "UPDATE oneid_customers SET status = ?3, created = ?4, updated = ?5, data = ?6, mobile = ?7, email = ?8, \
             name = ?9, nick_name = ?10, gender = ?11, stage = ?12, source = ?13 \
             WHERE id = ?2 AND (CASE WHEN tenant = ?1 AND status = 'active' THEN 1 ELSE 0 END) = 1"
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
