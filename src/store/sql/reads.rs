//! The transaction's reads: customer rows by id (following merges to the survivor), merge
//! sets and their members, identity lists and counts, and forgetting what was read.
//!
//! Every read goes through the cache first, and what it reads from the database is kept there
//! until an operation the cache does not follow forgets it: customer rows are read locked
//! where the backend needs it ([`SqlBackend::lock_rows`]), so what is kept stays true until
//! this transaction changes it. Reads add the links this transaction holds back, so they
//! always see its own writes.
//!
//! Merges form a union-find over customer rows (`parent`, and at a set's root its `weight` and
//! `survivor`): an id leads to its set's survivor, at most log2(customers in the set) links
//! up. A merge writes the two roots, never the identities or the other aliases, so a
//! customer's identities sit with whichever member linked them, and reading all of them
//! gathers the set's members first. Limits and quarantine evidence need only counts, which
//! `oneid_counts` keeps per live customer and kind.

use super::cache::{KindRef, StoredCount};
use super::codec::{CUSTOMER_COLUMNS, customer_from_row, id_param, identity_from};
use super::{SqlBackend, SqlTxn, SqlValue};
use crate::error::{Error, Result};
use crate::model::{Customer, CustomerId, CustomerStatus, Identity, IdentityType, TenantId};
use crate::store::KindCount;
use std::sync::Arc;

/// The most links a set's root can be above a member: merges link the smaller set under the
/// larger, so a chain this long would need more customers than ids.
const MOST_LINKS: usize = 64;

/// How many ids go in one `IN` list.
const IDS_PER_STATEMENT: usize = 512;

/// The root of a merge set.
pub(super) struct SetRoot {
    /// The root's id.
    pub(super) id: u64,
    /// How many customers the set holds.
    pub(super) weight: i64,
    /// The customer every id of the set leads to.
    pub(super) survivor: u64,
}

#[expect(private_bounds, reason = "the methods are crate-private (see `SqlTxn`)")]
impl<B: SqlBackend> SqlTxn<B> {
    /// The row an id leads to: its own if it is live or deleted, its set's survivor's if it
    /// was merged (or is an erased customer's merged member).
    pub(super) fn resolve_row(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Customer>> {
        {
            let cache = self.cache.borrow();
            if let Some(c) = cache.customer(tenant, id.0) {
                return Ok(Some(c.clone()));
            }
            if let Some(&s) = cache.survivors.get(&id.0)
                && let Some(c) = cache.customer(tenant, s)
            {
                return Ok(Some(c.clone()));
            }
        }
        let Ok(param) = id_param(id) else { return Ok(None) };
        // Customer rows a transaction reads stay locked until it ends: a concurrent merge or
        // delete of them waits, and whatever this transaction planned on them stays true.
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS}, parent, survivor FROM oneid_customers WHERE tenant = ?1 AND id = ?2"
        );
        let rows = self.locked_rows(&sql, &[tenant.as_str().into(), param])?;
        let Some(row) = rows.first() else { return Ok(None) };
        let (customer, _) = customer_from_row(row)?;
        if matches!(customer.status, CustomerStatus::Active | CustomerStatus::Deleted) {
            self.cache.borrow_mut().survivors.insert(id.0, id.0);
            return Ok(Some(self.remember(tenant, customer)));
        }
        let survivor = self.survivor_of(tenant, id.0, row[6].opt_int()?, row[7].opt_int()?)?;
        if survivor == id.0 {
            // An erased customer's own tombstone.
            return Ok(Some(self.remember(tenant, customer)));
        }
        if let Some(c) = self.cache.borrow().customer(tenant, survivor) {
            return Ok(Some(c.clone()));
        }
        let rows = self.locked_rows(&sql, &[tenant.as_str().into(), id_param(CustomerId(survivor))?])?;
        let row = rows
            .first()
            .ok_or_else(|| Error::Corrupt(format!("alias {id} leads nowhere")))?;
        let (c, _) = customer_from_row(row)?;
        if matches!(c.status, CustomerStatus::Merged { .. }) {
            return Err(Error::Corrupt(format!(
                "alias {id} leads to merged customer {}",
                c.id
            )));
        }
        Ok(Some(self.remember(tenant, c)))
    }

    /// The survivor of the set of customer `id`, whose `parent` and `survivor` columns were
    /// read already.
    pub(super) fn survivor_of(
        &self,
        tenant: &TenantId,
        id: u64,
        parent: Option<i64>,
        survivor: Option<i64>,
    ) -> Result<u64> {
        if let Some(&s) = self.cache.borrow().survivors.get(&id) {
            return Ok(s);
        }
        let s = match parent {
            None => survivor.map_or(id, |s| s as u64),
            Some(p) => self.set_root(tenant, p as u64)?.survivor,
        };
        self.cache.borrow_mut().survivors.insert(id, s);
        Ok(s)
    }

    /// The root of the merge set customer `id` belongs to.
    pub(super) fn set_root(&self, tenant: &TenantId, id: u64) -> Result<SetRoot> {
        let mut at = id;
        for _ in 0..MOST_LINKS {
            let rows = self.rows(
                "SELECT parent, weight, survivor FROM oneid_customers \
                 WHERE id = ?2 AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1",
                &[tenant.as_str().into(), id_param(CustomerId(at))?],
            )?;
            let row = rows
                .first()
                .ok_or_else(|| Error::Corrupt(format!("customer {id}'s merge set leads to no row {at}")))?;
            match row[0].opt_int()? {
                Some(parent) => at = parent as u64,
                None => {
                    return Ok(SetRoot {
                        id: at,
                        weight: row[1].int()?,
                        survivor: row[2].opt_int()?.map_or(at, |s| s as u64),
                    });
                }
            }
        }
        Err(Error::Corrupt(format!(
            "customer {id}'s merge set is deeper than {MOST_LINKS} links"
        )))
    }

    /// Every customer of the merge set `id` belongs to (the customers merged into its
    /// survivor, and the survivor), in no particular order: one query per level of the set.
    pub(super) fn set_members(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<u64>> {
        let root = self.set_root(tenant, id.0)?;
        let mut members = vec![root.id];
        let mut level = vec![root.id];
        for _ in 0..MOST_LINKS {
            if level.is_empty() {
                return Ok(members);
            }
            let mut next = Vec::new();
            for ids in level.chunks(IDS_PER_STATEMENT) {
                let (list, params) = id_list(tenant, ids, 2)?;
                for row in self.rows(
                    &format!(
                        "SELECT id FROM oneid_customers WHERE parent IN ({list}) \
                         AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1"
                    ),
                    &params,
                )? {
                    next.push(row[0].int()? as u64);
                }
            }
            members.extend_from_slice(&next);
            level = next;
        }
        Err(Error::Corrupt(format!(
            "customer {id}'s merge set is deeper than {MOST_LINKS} links"
        )))
    }

    /// Keeps a customer row just read (and locked) for the rest of the transaction.
    pub(super) fn remember(&self, tenant: &TenantId, c: Customer) -> Customer {
        self.cache
            .borrow_mut()
            .customers
            .insert(c.id.0, (tenant.clone(), c.clone()));
        self.remember_lists(c)
    }

    fn remember_lists(&self, c: Customer) -> Customer {
        self.lists
            .borrow_mut()
            .insert(c.id.0, (c.tags.clone(), c.groups.clone()));
        c
    }

    pub(super) fn root_id(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<CustomerId>> {
        Ok(self.resolve_row(tenant, id)?.map(|c| c.id))
    }

    pub(super) fn live_root(&self, tenant: &TenantId, id: CustomerId) -> Result<CustomerId> {
        match self.resolve_row(tenant, id)? {
            Some(c) if c.is_active() => Ok(c.id),
            _ => Err(Error::CustomerNotFound(id)),
        }
    }

    /// The customer and every customer merged into it, in the order the memory store uses:
    /// breadth-first through the recorded merges.
    pub(super) fn members(&self, tenant: &TenantId, root: CustomerId) -> Result<Vec<CustomerId>> {
        let mut members = vec![root];
        let mut i = 0;
        while i < members.len() {
            let rows = self.rows(
                "SELECT other FROM oneid_history WHERE tenant = ?1 AND customer = ?2 AND kind = 'merged' ORDER BY seq",
                &[tenant.as_str().into(), id_param(members[i])?],
            )?;
            for row in rows {
                members.push(CustomerId(row[0].int()? as u64));
            }
            i += 1;
        }
        Ok(members)
    }

    /// Forgets the rows read: after the operations that change rows in ways the cache does
    /// not follow (merges, deletes, erasure, unlinks), which write what is held back first.
    pub(super) fn forget(&self) {
        let mut cache = self.cache.borrow_mut();
        debug_assert!(!cache.pending());
        cache.customers.clear();
        cache.identities.clear();
        cache.looked_up.clear();
        cache.survivors.clear();
        cache.forget_counts();
    }

    /// The identities the live (or deleted) customer `root` holds, in link order, of one
    /// kind or all: those of every member of its merge set, and the links held back.
    pub(super) fn read_identities(
        &self,
        tenant: &TenantId,
        root: CustomerId,
        kind: Option<(&str, Option<&str>)>,
    ) -> Result<Vec<Identity>> {
        let members = self.set_members(tenant, root)?;
        let mut found: Vec<(i64, Identity)> = Vec::new();
        for ids in members.chunks(IDS_PER_STATEMENT) {
            let (list, mut params) = id_list(tenant, ids, 2 + 2 * usize::from(kind.is_some()))?;
            let of_kind = match kind {
                Some((ty, scope)) => {
                    params.splice(1..1, [SqlValue::from(ty), scope.unwrap_or("").into()]);
                    " AND itype = ?2 AND scope = ?3"
                }
                None => "",
            };
            let rows = self.rows(
                &format!(
                    "SELECT seq, itype, scope, value, name FROM oneid_identities WHERE customer IN ({list}){of_kind} \
                     AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1"
                ),
                &params,
            )?;
            for r in &rows {
                let identity = identity_from(r[1].text()?, r[2].text()?, r[3].text()?, r[4].opt_text()?)?;
                found.push((r[0].int()?, identity));
            }
        }
        found.sort_unstable_by_key(|(seq, _)| *seq);
        let mut list: Vec<Identity> = found.into_iter().map(|(_, i)| i).collect();
        let cache = self.cache.borrow();
        for (tenant_of, identity, owner) in &cache.links {
            let wanted = kind.is_none_or(|(ty, scope)| {
                identity.identity_type.as_str() == ty && identity.scope.as_deref() == scope
            });
            if tenant_of == tenant && *owner == root.0 && wanted {
                list.push(identity.clone());
            }
        }
        Ok(list)
    }

    /// What `oneid_counts` holds for one kind of a live customer.
    pub(super) fn stored_count(
        &self,
        customer: u64,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Result<StoredCount> {
        let key = KindRef::new(customer, identity_type, scope);
        {
            let cache = self.cache.borrow();
            if let Some(&found) = cache.counts.get(&key) {
                return Ok(found);
            }
            if cache.counted.contains(&customer) {
                return Ok(None);
            }
        }
        let rows = self.rows(
            "SELECT n, first_seq FROM oneid_counts WHERE customer = ?1 AND itype = ?2 AND scope = ?3",
            &[
                id_param(CustomerId(customer))?,
                identity_type.into(),
                scope.unwrap_or("").into(),
            ],
        )?;
        let found = match rows.first() {
            Some(r) => Some((usize::try_from(r[0].int()?).unwrap_or(0), r[1].int()?)),
            None => None,
        };
        self.cache.borrow_mut().counts.insert(key.owned(), found);
        Ok(found)
    }

    /// Reads every count of the live customers `ids` in one statement, for the limit checks of
    /// a batch's requests to come.
    pub(super) fn count_ahead(&self, ids: &[u64]) -> Result<()> {
        let mut list: Vec<i64> = {
            let cache = self.cache.borrow();
            ids.iter()
                .filter(|id| !cache.counted.contains(*id))
                .filter_map(|&id| i64::try_from(id).ok())
                .collect()
        };
        list.sort_unstable();
        list.dedup();
        if list.is_empty() {
            return Ok(());
        }
        let sql = if self.conn.borrow().binds_arrays() {
            "SELECT customer, itype, scope, n, first_seq FROM oneid_counts WHERE customer = ANY(?1)"
        } else {
            "SELECT customer, itype, scope, n, first_seq FROM oneid_counts \
             WHERE customer IN (SELECT value FROM json_each(?1))"
        };
        let rows = self.rows(sql, &[SqlValue::IntList(list.clone())])?;
        let mut cache = self.cache.borrow_mut();
        for r in &rows {
            let (customer, ty, scope) = (r[0].int()? as u64, r[1].text()?, r[2].text()?);
            let scope = (!scope.is_empty()).then_some(scope);
            let found = Some((usize::try_from(r[3].int()?).unwrap_or(0), r[4].int()?));
            cache
                .counts
                .insert(KindRef::new(customer, ty, scope).owned(), found);
        }
        cache.counted.extend(list.iter().map(|&id| id as u64));
        Ok(())
    }

    /// The held-back links of one kind to a customer: how many, and where the first is.
    pub(super) fn pending_count(
        &self,
        customer: u64,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Option<(usize, usize)> {
        self.cache
            .borrow()
            .pending
            .get(&KindRef::new(customer, identity_type, scope))
            .copied()
    }

    /// The kinds of identity a live customer holds, each with how many, in the order their
    /// first identities were linked.
    pub(super) fn held_kinds(&self, customer: u64, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<KindCount>> {
        let rows = self.rows(
            "SELECT itype, scope, n FROM oneid_counts WHERE customer = ?1 ORDER BY first_seq",
            &[id_param(CustomerId(customer))?],
        )?;
        let mut kinds: Vec<KindCount> = Vec::new();
        for r in &rows {
            let ty = r[0].text()?;
            if !wanted(ty) {
                continue;
            }
            let identity_type = IdentityType::new(ty)
                .ok_or_else(|| Error::Corrupt(format!("bad identity type {ty:?} stored")))?;
            let scope = r[1].text()?;
            let scope = (!scope.is_empty()).then(|| Arc::from(scope));
            let mut n = usize::try_from(r[2].int()?).unwrap_or(0);
            if let Some((more, _)) = self.pending_count(customer, identity_type.as_str(), scope.as_deref()) {
                n += more;
            }
            kinds.push(KindCount {
                identity_type,
                scope,
                count: n,
            });
        }
        // Kinds only the held-back links bring, in the order they were linked.
        let cache = self.cache.borrow();
        for &first in cache.pending_kinds.get(&customer).into_iter().flatten() {
            let identity = &cache.links[first].1;
            let same = |k: &KindCount| k.identity_type == identity.identity_type && k.scope == identity.scope;
            if !wanted(identity.identity_type.as_str()) || kinds.iter().any(same) {
                continue;
            }
            let key = KindRef::new(
                customer,
                identity.identity_type.as_str(),
                identity.scope.as_deref(),
            );
            let n = cache.pending.get(&key).map_or(0, |&(n, _)| n);
            kinds.push(KindCount {
                identity_type: identity.identity_type.clone(),
                scope: identity.scope.clone(),
                count: n,
            });
        }
        Ok(kinds)
    }
}

/// `?{first}, ?{first + 1}, …` for `ids`, and the parameters: the tenant, then the ids.
fn id_list(tenant: &TenantId, ids: &[u64], first: usize) -> Result<(String, Vec<SqlValue>)> {
    let holes: Vec<String> = (0..ids.len()).map(|n| format!("?{}", n + first)).collect();
    let mut params = vec![SqlValue::from(tenant.as_str())];
    for &id in ids {
        params.push(id_param(CustomerId(id))?);
    }
    Ok((holes.join(", "), params))
}
