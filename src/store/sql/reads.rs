//! The transaction's reads: customer rows by id (following the one-hop merge alias), identity
//! lists, merge members, and forgetting what was read.
//!
//! Every read goes through the cache first, and what it reads from the database is kept there
//! until an operation the cache does not follow forgets it: customer rows are read locked
//! where the backend needs it ([`SqlBackend::lock_rows`]), so what is kept stays true until
//! this transaction changes it. Identity lists are read for many customers in one query, with the links this
//! transaction holds back added, so reads always see its own writes.

use super::cache::FastMap;
use super::codec::{CUSTOMER_COLUMNS, customer_from_row, id_param, identity_from};
use super::{SqlBackend, SqlTxn};
use crate::error::{Error, Result};
use crate::model::{Customer, CustomerId, Identity, TenantId};

#[expect(private_bounds, reason = "the methods are crate-private (see `SqlTxn`)")]
impl<B: SqlBackend> SqlTxn<B> {
    /// The row an id leads to, following the (single-hop) merge alias.
    pub(super) fn resolve_row(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Customer>> {
        if let Some(c) = self.cache.borrow().customer(tenant, id.0) {
            return Ok(Some(c.clone()));
        }
        let Ok(param) = id_param(id) else { return Ok(None) };
        // Customer rows a transaction reads stay locked until it ends: a concurrent merge or
        // delete of them waits, and whatever this transaction planned on them stays true.
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM oneid_customers WHERE tenant = ?1 AND id = ?2");
        let rows = self.locked_rows(&sql, &[tenant.as_str().into(), param])?;
        let Some(row) = rows.first() else { return Ok(None) };
        let (customer, merged_into) = customer_from_row(row)?;
        // Merged customers (and the tombstones of erased ones) point at their survivor.
        match merged_into {
            Some(target) => {
                if let Some(c) = self.cache.borrow().customer(tenant, target as u64) {
                    return Ok(Some(c.clone()));
                }
                let rows = self.locked_rows(&sql, &[tenant.as_str().into(), target.into()])?;
                let row = rows
                    .first()
                    .ok_or_else(|| Error::Corrupt(format!("alias {id} leads nowhere")))?;
                Ok(Some(self.remember(tenant, customer_from_row(row)?.0)))
            }
            None => Ok(Some(self.remember(tenant, customer))),
        }
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
    }

    /// Reads the identity lists of customers whose rows this transaction holds, in one query,
    /// adding the links held back.
    pub(super) fn read_identities(&self, tenant: &TenantId, ids: &[u64]) -> Result<()> {
        let wanted: Vec<u64> = {
            let cache = self.cache.borrow();
            ids.iter()
                .copied()
                .filter(|id| !cache.identities.contains_key(id) && cache.customer(tenant, *id).is_some())
                .collect()
        };
        if wanted.is_empty() {
            return Ok(());
        }
        // Customer ids are unique across tenants, and these customers are of `tenant`.
        let holes: Vec<String> = (0..wanted.len()).map(|n| format!("?{}", n + 1)).collect();
        let params = wanted
            .iter()
            .map(|&id| id_param(CustomerId(id)))
            .collect::<Result<Vec<_>>>()?;
        let rows = self.rows(
            &format!(
                "SELECT customer, itype, scope, value, name FROM oneid_identities \
                 WHERE customer IN ({}) ORDER BY seq",
                holes.join(", ")
            ),
            &params,
        )?;
        let mut lists: FastMap<u64, Vec<Identity>> = wanted.iter().map(|&id| (id, Vec::new())).collect();
        for r in &rows {
            let owner = r[0].int()? as u64;
            let identity = identity_from(r[1].text()?, r[2].text()?, r[3].text()?, r[4].opt_text()?)?;
            lists.entry(owner).or_default().push(identity);
        }
        let mut cache = self.cache.borrow_mut();
        for (tenant_of, identity, owner) in &cache.links {
            if tenant_of == tenant
                && let Some(list) = lists.get_mut(owner)
            {
                list.push(identity.clone());
            }
        }
        cache.identities.extend(lists);
        Ok(())
    }
}
