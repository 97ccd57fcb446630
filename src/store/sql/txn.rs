//! [`Txn`] for [`SqlTxn`]: each operation of the engine's storage trait in SQL.
//!
//! Resolves take the fast way: a request's identities are looked up in one query that also
//! brings their owners' rows and evidence counts, their identity lists follow in one more, and
//! links, history and data changes are held back for the flush. The operations the cache does
//! not follow (merge, delete, erase, unlink) flush first, work on the database directly and
//! forget what was read; history reads, queries and counts flush first too, as they read the
//! database itself.

use super::cache::{KeyRef, KindRef};
use super::codec::{
    CUSTOMER_COLUMNS, CUSTOMER_COLUMNS_C, customer_from_row, id_param, identity_from, key_params,
    operation_from, operation_name, parse_ts, ts,
};
use super::filter::{filter_sql, order_sql};
use super::{SqlBackend, SqlTxn, SqlValue};
use crate::error::{Error, Result};
use crate::history::{Cause, EventKind, HistoryEvent};
use crate::model::{
    Customer, CustomerId, CustomerStatus, HashedKey, Identity, IdentityKey, IdentityType, TenantId,
};
use crate::quarantine::Contradiction;
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery};
use crate::store::{KindCount, Lookup, ReadTxn, StoredSettings, Txn};
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::sync::Arc;

impl<B: SqlBackend> ReadTxn for SqlTxn<B> {
    fn lookup(&self, tenant: &TenantId, key: IdentityKey<'_>) -> Result<Lookup> {
        let mut out = Vec::with_capacity(1);
        self.lookup_many(tenant, &[key.hashed()], &mut out)?;
        Ok(out[0])
    }

    fn lookup_many(
        &self,
        tenant: &TenantId,
        keys: &[HashedKey<'_>],
        answers: &mut Vec<Lookup>,
    ) -> Result<()> {
        let keys: Vec<IdentityKey<'_>> = keys.iter().map(|k| k.key).collect();
        let mut out = vec![Lookup::default(); keys.len()];
        // Identities linked earlier in this transaction (not written yet) are owned by their
        // target; their evidence is in the database.
        let mut held: Vec<usize> = Vec::new();
        {
            let cache = self.cache.borrow();
            if !cache.linked.is_empty() {
                for (n, key) in keys.iter().enumerate() {
                    if let Some(&owner) = cache.linked.get(&KeyRef::new(tenant, *key)) {
                        out[n].owner = Some(CustomerId(owner));
                        held.push(n);
                    }
                }
            }
        }
        for &n in &held {
            let rows = self.rows(
                "SELECT COUNT(*) FROM oneid_suspicions WHERE tenant = ?1 AND itype = ?2 AND scope = ?3 AND value = ?4",
                &key_params(tenant, keys[n]),
            )?;
            out[n].suspicion = u32::try_from(rows[0][0].int()?).unwrap_or(u32::MAX);
        }
        // Identities a batch looked up ahead ([`ReadTxn::warm`]), unchanged since.
        let mut ask: Vec<usize> = Vec::with_capacity(keys.len());
        {
            let cache = self.cache.borrow();
            for n in (0..keys.len()).filter(|n| !held.contains(n)) {
                match cache.looked_up.get(&KeyRef::new(tenant, keys[n])) {
                    Some(&lookup) => out[n] = lookup,
                    None => ask.push(n),
                }
            }
        }
        if !ask.is_empty() {
            self.fetch_lookups(tenant, &keys, &ask, &mut out)?;
        }
        answers.extend(out);
        Ok(())
    }

    /// Looks `keys` up now, in one round trip, for the lookups of a batch's requests to come:
    /// each answer is kept until something this transaction does could change it (a link,
    /// quarantine evidence, or a merge, delete, erasure or unlink, after which it forgets all).
    fn warm(&self, tenant: &TenantId, keys: &[HashedKey<'_>]) -> Result<()> {
        let keys: Vec<IdentityKey<'_>> = keys.iter().map(|k| k.key).collect();
        let ask: Vec<usize> = {
            let cache = self.cache.borrow();
            (0..keys.len())
                .filter(|&n| {
                    let key = KeyRef::new(tenant, keys[n]);
                    !cache.linked.contains_key(&key) && !cache.looked_up.contains_key(&key)
                })
                .collect()
        };
        if ask.is_empty() {
            return Ok(());
        }
        let mut out = vec![Lookup::default(); keys.len()];
        self.fetch_lookups(tenant, &keys, &ask, &mut out)?;
        {
            let mut cache = self.cache.borrow_mut();
            for &n in &ask {
                cache
                    .looked_up
                    .insert(KeyRef::new(tenant, keys[n]).owned(), out[n]);
            }
        }
        // The owners' counts, which their limit checks read.
        let owners: Vec<u64> = ask.iter().filter_map(|&n| out[n].owner).map(|c| c.0).collect();
        self.count_ahead(&owners)
    }

    /// Where every read is a round trip to a server (PostgreSQL); SQLite reads in process.
    fn warms(&self) -> bool {
        self.conn.borrow().round_trips()
    }

    fn is_suspected_with(
        &self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
    ) -> Result<bool> {
        let (key, conflicting) = (key.key, conflicting.key);
        let [t, a, b, c] = key_params(tenant, key);
        let rows = self.rows(
            "SELECT 1 FROM oneid_suspicions WHERE tenant = ?1 AND itype = ?2 AND scope = ?3 AND value = ?4 \
             AND ctype = ?5 AND cscope = ?6 AND cvalue = ?7",
            &[
                t,
                a,
                b,
                c,
                conflicting.identity_type.into(),
                conflicting.scope.unwrap_or("").into(),
                conflicting.value.into(),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    fn customer(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Cow<'_, Customer>>> {
        Ok(self.resolve_row(tenant, id)?.map(Cow::Owned))
    }

    fn identities(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<Identity>> {
        let Some(root) = self.root_id(tenant, id)? else {
            return Ok(Vec::new());
        };
        if let Some(list) = self.cache.borrow().identities.get(&root.0) {
            return Ok(list.clone());
        }
        let list = self.read_identities(tenant, root, None)?;
        self.cache.borrow_mut().identities.insert(root.0, list.clone());
        Ok(list)
    }

    fn identities_of_type(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Result<Vec<Identity>> {
        let Some(root) = self.root_id(tenant, id)? else {
            return Ok(Vec::new());
        };
        let same = |i: &Identity| i.identity_type.as_str() == identity_type && i.scope.as_deref() == scope;
        if let Some(list) = self.cache.borrow().identities.get(&root.0) {
            return Ok(list.iter().filter(|i| same(i)).cloned().collect());
        }
        if self.stored_count(root.0, identity_type, scope)?.is_some() {
            return self.read_identities(tenant, root, Some((identity_type, scope)));
        }
        // None stored: only links held back, if any.
        let cache = self.cache.borrow();
        Ok(match self.pending_count(root.0, identity_type, scope) {
            Some((_, first)) => cache.links[first..]
                .iter()
                .filter(|(t, i, owner)| t == tenant && *owner == root.0 && same(i))
                .map(|(_, i, _)| i.clone())
                .collect(),
            None => Vec::new(),
        })
    }

    fn count_of_type(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Result<usize> {
        let Some(root) = self.root_id(tenant, id)? else {
            return Ok(0);
        };
        let stored = self
            .stored_count(root.0, identity_type, scope)?
            .map_or(0, |(n, _)| n);
        let pending = self
            .pending_count(root.0, identity_type, scope)
            .map_or(0, |(n, _)| n);
        Ok(stored + pending)
    }

    fn first_of_type(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Result<Option<Identity>> {
        let Some(root) = self.root_id(tenant, id)? else {
            return Ok(None);
        };
        if let Some((_, first)) = self.stored_count(root.0, identity_type, scope)? {
            let rows = self.rows(
                "SELECT itype, scope, value, name FROM oneid_identities WHERE seq = ?1",
                &[first.into()],
            )?;
            let r = rows
                .first()
                .ok_or_else(|| Error::Corrupt(format!("customer {root}'s first {identity_type} is gone")))?;
            return identity_from(r[0].text()?, r[1].text()?, r[2].text()?, r[3].opt_text()?).map(Some);
        }
        Ok(self
            .pending_count(root.0, identity_type, scope)
            .map(|(_, first)| self.cache.borrow().links[first].1.clone()))
    }

    fn kinds_matching(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<KindCount>> {
        match self.root_id(tenant, id)? {
            Some(root) => self.held_kinds(root.0, wanted),
            None => Ok(Vec::new()),
        }
    }

    fn history(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<HistoryEvent>> {
        self.flush()?;
        let Some(root) = self.root_id(tenant, id)? else {
            return Ok(Vec::new());
        };
        let members = self.members(tenant, root)?;
        let mut events: Vec<(DateTime<Utc>, i64, HistoryEvent)> = Vec::new();
        for m in members {
            let rows = self.rows(
                "SELECT seq, customer, at, kind, itype, iscope, ivalue, iname, other, operation, reference \
                 FROM oneid_history WHERE tenant = ?1 AND customer = ?2 ORDER BY seq",
                &[tenant.as_str().into(), id_param(m)?],
            )?;
            for r in rows {
                let identity = || identity_from(r[4].text()?, r[5].text()?, r[6].text()?, r[7].opt_text()?);
                let other = || Ok::<_, Error>(CustomerId(r[8].int()? as u64));
                let kind = match r[3].text()? {
                    "created" => EventKind::Created,
                    "linked" => EventKind::Linked {
                        identity: identity()?,
                    },
                    "unlinked" => EventKind::Unlinked {
                        identity: identity()?,
                    },
                    "merged" => EventKind::Merged { from: other()? },
                    "mergedInto" => EventKind::MergedInto { into: other()? },
                    "deleted" => EventKind::Deleted,
                    "erased" => EventKind::Erased,
                    k => return Err(Error::Corrupt(format!("unknown event kind {k:?}"))),
                };
                let at = parse_ts(r[2].text()?)?;
                let event = HistoryEvent {
                    customer: CustomerId(r[1].int()? as u64),
                    at,
                    kind,
                    cause: Cause {
                        operation: operation_from(r[9].text()?)?,
                        reference: r[10].opt_text()?.map(Arc::from),
                    },
                };
                events.push((at, r[0].int()?, event));
            }
        }
        events.sort_by_key(|(at, seq, _)| (*at, *seq));
        Ok(events.into_iter().map(|(_, _, e)| e).collect())
    }

    fn query(&self, tenant: &TenantId, query: &CustomerQuery) -> Result<CustomerPage> {
        query.check()?;
        self.flush()?;
        let (filter, mut params) = filter_sql(tenant, &query.filter, self.conn.borrow().binds_arrays());
        let total = self.rows(
            &format!("SELECT COUNT(*) FROM oneid_customers c WHERE {filter}"),
            &params,
        )?[0][0]
            .int()?;
        // A field's order is no index's: refused past its bound before anything is sorted.
        query.check_sort(total as u64)?;
        // A page past the last match reads nothing more.
        if query.offset() >= total as u64 {
            return Ok(CustomerPage {
                rows: Vec::new(),
                total: total as u64,
            });
        }
        // Fields without a column are sorted here after loading, by the reference order.
        let order = order_sql(query);
        let size = query.size.min(crate::limits::MAX_PAGE_SIZE);
        let rows: Vec<Customer> = if order.is_empty() {
            // One past the bound at most: a writer may add matches after the count.
            let limit = crate::limits::MAX_FIELD_SORT_MATCHES.saturating_add(1);
            params.push(SqlValue::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
            let all = self.rows(
                &format!(
                    "SELECT {CUSTOMER_COLUMNS} FROM oneid_customers c WHERE {filter} LIMIT ?{}",
                    params.len()
                ),
                &params,
            )?;
            let mut all = all
                .iter()
                .map(|r| customer_from_row(r).map(|(c, _)| c))
                .collect::<Result<Vec<_>>>()?;
            query.check_sort(all.len() as u64)?;
            all.sort_by(|a, b| query.compare(a, b));
            let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
            all.into_iter().skip(offset).take(size as usize).collect()
        } else {
            params.push(SqlValue::Int(i64::from(size)));
            params.push(SqlValue::Int(i64::try_from(query.offset()).unwrap_or(i64::MAX)));
            let n = params.len();
            let sql = format!(
                "SELECT {CUSTOMER_COLUMNS} FROM oneid_customers c WHERE {filter} ORDER BY {order} LIMIT ?{} OFFSET ?{n}",
                n - 1
            );
            let found = self.rows(&sql, &params)?;
            found
                .iter()
                .map(|r| customer_from_row(r).map(|(c, _)| c))
                .collect::<Result<Vec<_>>>()?
        };
        Ok(CustomerPage {
            rows,
            total: total as u64,
        })
    }

    fn count(&self, tenant: &TenantId, filter: &CustomerFilter) -> Result<u64> {
        self.flush()?;
        let (filter, params) = filter_sql(tenant, filter, self.conn.borrow().binds_arrays());
        Ok(self.rows(
            &format!("SELECT COUNT(*) FROM oneid_customers c WHERE {filter}"),
            &params,
        )?[0][0]
            .int()? as u64)
    }

    fn settings_version(&self, tenant: &TenantId) -> Result<u64> {
        let read = |sql: &str| -> Result<Option<u64>> {
            let rows = self.rows(sql, &[tenant.as_str().into()])?;
            rows.first().map(|r| Ok(r[0].int()? as u64)).transpose()
        };
        let plain = "SELECT settings_version FROM oneid_tenants WHERE tenant = ?1";
        let lock = self.conn.borrow().lock_rows();
        if lock.is_empty() {
            return Ok(read(plain)?.unwrap_or(0));
        }
        // A writer of a tenant with settings reads the version without a lock, and reads it
        // again under a share lock as it commits (`commit`): one that a settings change
        // overtook runs again under the new settings, and a change waits only for writers
        // that are committing. (Held for whole transactions, the share locks of overlapping
        // writers would keep a change waiting for as long as writers keep coming: PostgreSQL
        // lets a share lock join the others while an update waits for them.)
        if let Some(v) = read(plain)?
            && v > 0
        {
            *self.settings_read.borrow_mut() = Some((tenant.clone(), v));
            return Ok(v);
        }
        // None stored yet: the writer stores its defaults. The row is made if the tenant has
        // none and held under a share lock until the writer ends, so that of the writers that
        // would store their defaults at once, one does and the others run under what it
        // stored.
        let locked = "SELECT settings_version FROM oneid_tenants WHERE tenant = ?1 FOR SHARE";
        if let Some(v) = read(locked)? {
            return Ok(v);
        }
        self.exec(
            "INSERT INTO oneid_tenants (tenant, settings_version) VALUES (?1, 0) ON CONFLICT (tenant) DO NOTHING",
            &[tenant.as_str().into()],
        )?;
        Ok(read(locked)?.unwrap_or(0))
    }

    /// A writer that reads the version again as it commits (PostgreSQL's, under a share
    /// lock) takes it; SQLite's writers exclude each other, and read it at no round trip.
    fn assume_settings_version(&self, tenant: &TenantId, version: u64) -> Result<bool> {
        if version == 0 || self.conn.borrow().lock_rows().is_empty() {
            return Ok(false);
        }
        *self.settings_read.borrow_mut() = Some((tenant.clone(), version));
        Ok(true)
    }

    fn settings(&self, tenant: &TenantId) -> Result<Option<StoredSettings>> {
        let rows = self.rows(
            "SELECT s.version, s.document, s.changed, s.cause FROM oneid_settings s \
             JOIN oneid_tenants t ON t.tenant = s.tenant AND t.settings_version = s.version WHERE s.tenant = ?1",
            &[tenant.as_str().into()],
        )?;
        rows.first().map(|r| stored_settings(r)).transpose()
    }

    fn settings_history(&self, tenant: &TenantId) -> Result<Vec<StoredSettings>> {
        self.rows(
            "SELECT version, document, changed, cause FROM oneid_settings WHERE tenant = ?1 ORDER BY version",
            &[tenant.as_str().into()],
        )?
        .iter()
        .map(|r| stored_settings(r))
        .collect()
    }

    fn evidence(&self, tenant: &TenantId) -> Result<Vec<(Identity, Contradiction)>> {
        self.rows(
            "SELECT itype, scope, value, ctype, cscope, cvalue, at, operation, reference \
             FROM oneid_suspicions WHERE tenant = ?1",
            &[tenant.as_str().into()],
        )?
        .iter()
        .map(|r| evidence_row(r))
        .collect()
    }
}

impl<B: SqlBackend> Txn for SqlTxn<B> {
    fn add_suspicion(
        &mut self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()> {
        let (key, conflicting) = (key.key, conflicting.key);
        // Its evidence count changes: a lookup ahead no longer holds.
        self.cache
            .borrow_mut()
            .looked_up
            .remove(&KeyRef::new(tenant, key));
        let [t, a, b, c] = key_params(tenant, key);
        self.exec(
            "INSERT INTO oneid_suspicions (tenant, itype, scope, value, ctype, cscope, cvalue, at, operation, reference) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
            &[
                t,
                a,
                b,
                c,
                conflicting.identity_type.into(),
                conflicting.scope.unwrap_or("").into(),
                conflicting.value.into(),
                ts(&at).into(),
                operation_name(cause.operation).into(),
                cause.reference.as_deref().into(),
            ],
        )?;
        Ok(())
    }

    fn create_customer(&mut self, tenant: &TenantId, at: DateTime<Utc>, cause: &Cause) -> Result<CustomerId> {
        let empty = Customer::new(CustomerId(0), at);
        // The row is written with the rest of what is held back, with the customer's data.
        let (next, drawn) = {
            let mut cache = self.cache.borrow_mut();
            (cache.next_id, cache.drawn_ids.pop())
        };
        let n = match (next, drawn) {
            (Some(n), _) => n,
            (None, Some(n)) => n,
            (None, None) => {
                let (n, numbers_itself) = self.conn.borrow_mut().new_customer_id()?;
                if numbers_itself {
                    self.cache.borrow_mut().next_id = Some(n);
                }
                n
            }
        };
        let id = {
            let mut cache = self.cache.borrow_mut();
            if cache.next_id.is_some() {
                cache.next_id = Some(n + 1);
            }
            cache.fresh.insert(n as u64);
            cache.dirty.insert(n as u64);
            CustomerId(n as u64)
        };
        let mut customer = empty;
        customer.id = id;
        {
            let mut cache = self.cache.borrow_mut();
            cache.customers.insert(id.0, (tenant.clone(), customer));
            cache.identities.insert(id.0, Vec::new());
        }
        self.lists.borrow_mut().insert(id.0, (Vec::new(), Vec::new()));
        self.record(tenant, id, at, &EventKind::Created, cause)?;
        Ok(id)
    }

    fn expect_creates(&mut self, n: usize) -> Result<()> {
        let short = n.saturating_sub(self.cache.borrow().drawn_ids.len());
        if short == 0 {
            return Ok(());
        }
        let mut ids = self.conn.borrow_mut().new_customer_ids(short)?;
        ids.reverse();
        let mut cache = self.cache.borrow_mut();
        // The earliest drawn are handed out first.
        ids.append(&mut cache.drawn_ids);
        cache.drawn_ids = ids;
        Ok(())
    }

    fn link(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        key: HashedKey<'_>,
        name: Option<&str>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()> {
        let key = key.key;
        let identity = &Identity {
            identity_type: IdentityType::new(key.identity_type).ok_or_else(|| {
                Error::Invariant(format!("{:?} is not an identity type", key.identity_type))
            })?,
            scope: key.scope.map(Arc::from),
            identity_value: key.value.into(),
            identity_name: name.map(Arc::from),
        };
        // `id` is a live customer's own id (the engine links to the target it just read or
        // created, and that row is locked); no second read is needed. The identity is written
        // at commit, where the unique key decides: if a concurrent writer claimed it first,
        // the commit fails and the whole operation runs again against the new state.
        {
            let mut cache = self.cache.borrow_mut();
            let key = KeyRef::new(tenant, identity.key()).owned();
            if cache.linked.insert(key, id.0).is_some() {
                return Err(Error::Invariant(format!("identity {identity} linked twice")));
            }
            let at = cache.links.len();
            let kind = KindRef::new(id.0, identity.identity_type.as_str(), identity.scope.as_deref());
            match cache.pending.get_mut(&kind) {
                Some(held) => held.0 += 1,
                None => {
                    cache.pending.insert(kind.owned(), (1, at));
                    cache.pending_kinds.entry(id.0).or_default().push(at);
                }
            }
            cache.links.push((tenant.clone(), identity.clone(), id.0));
            if let Some(list) = cache.identities.get_mut(&id.0) {
                list.push(identity.clone());
            }
        }
        self.record(
            tenant,
            id,
            at,
            &EventKind::Linked {
                identity: identity.clone(),
            },
            cause,
        )
    }

    fn merge(
        &mut self,
        tenant: &TenantId,
        from: CustomerId,
        into: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()> {
        self.flush()?;
        let from = self.live_root(tenant, from)?;
        let into = self.live_root(tenant, into)?;
        self.forget();
        if from == into {
            return Err(Error::Invariant(format!(
                "cannot merge customer {from} into itself"
            )));
        }
        let (f, i, t) = (id_param(from)?, id_param(into)?, SqlValue::from(tenant.as_str()));
        // The smaller set goes under the larger, whichever survives: no chain grows longer
        // than log2 of its set's customers. Identities stay where they were linked.
        let (rf, ri) = (self.set_root(tenant, from.0)?, self.set_root(tenant, into.0)?);
        if rf.id == ri.id {
            return Err(Error::Corrupt(format!(
                "customers {from} and {into} share a merge set"
            )));
        }
        let (under, over) = if rf.weight <= ri.weight {
            (&rf, &ri)
        } else {
            (&ri, &rf)
        };
        let survivor = if over.id == into.0 {
            SqlValue::Null
        } else {
            i.clone()
        };
        if self.conn.borrow().binds_arrays() {
            // One round trip: the three rows (which may be the same one) in one update, and
            // the merged customer's counts moved to the survivor.
            self.exec(
                "WITH linked AS (UPDATE oneid_customers SET \
                 parent = CASE WHEN id = ?2 THEN ?3 ELSE parent END, \
                 weight = CASE WHEN id = ?3 THEN ?4 ELSE weight END, \
                 survivor = CASE WHEN id = ?3 THEN ?5 ELSE survivor END, \
                 status = CASE WHEN id = ?6 THEN 'merged' ELSE status END, \
                 merged_into = CASE WHEN id = ?6 THEN ?7 ELSE merged_into END, \
                 updated = CASE WHEN id = ?6 THEN ?8 ELSE updated END \
                 WHERE id = ANY(?9) AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1), \
                 moved AS (DELETE FROM oneid_counts WHERE customer = ?6 RETURNING itype, scope, n, first_seq) \
                 INSERT INTO oneid_counts (customer, itype, scope, n, first_seq) \
                 SELECT ?7, itype, scope, n, first_seq FROM moved \
                 ON CONFLICT (customer, itype, scope) DO UPDATE SET n = oneid_counts.n + excluded.n, \
                 first_seq = CASE WHEN excluded.first_seq < oneid_counts.first_seq THEN excluded.first_seq \
                 ELSE oneid_counts.first_seq END",
                &[
                    t.clone(),
                    id_param(CustomerId(under.id))?,
                    id_param(CustomerId(over.id))?,
                    (rf.weight + ri.weight).into(),
                    survivor,
                    f.clone(),
                    i.clone(),
                    ts(&at).into(),
                    SqlValue::IntList(vec![under.id as i64, over.id as i64, from.0 as i64]),
                ],
            )?;
        } else {
            self.exec(
                "UPDATE oneid_customers SET parent = ?3 WHERE id = ?2 AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1",
                &[t.clone(), id_param(CustomerId(under.id))?, id_param(CustomerId(over.id))?],
            )?;
            self.exec(
                "UPDATE oneid_customers SET weight = ?3, survivor = ?4 WHERE id = ?2 \
                 AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1",
                &[
                    t.clone(),
                    id_param(CustomerId(over.id))?,
                    (rf.weight + ri.weight).into(),
                    survivor,
                ],
            )?;
            self.exec(
                "UPDATE oneid_customers SET status = 'merged', merged_into = ?3, updated = ?4 WHERE tenant = ?1 AND id = ?2",
                &[t.clone(), f.clone(), i.clone(), ts(&at).into()],
            )?;
            // The survivor's counts take in the merged customer's, kind by kind.
            self.exec(
                "INSERT INTO oneid_counts (customer, itype, scope, n, first_seq) \
                 SELECT ?2, itype, scope, n, first_seq FROM oneid_counts WHERE customer = ?1 \
                 ON CONFLICT (customer, itype, scope) DO UPDATE SET n = oneid_counts.n + excluded.n, \
                 first_seq = CASE WHEN excluded.first_seq < oneid_counts.first_seq THEN excluded.first_seq \
                 ELSE oneid_counts.first_seq END",
                &[f.clone(), i.clone()],
            )?;
            self.exec(
                "DELETE FROM oneid_counts WHERE customer = ?1",
                std::slice::from_ref(&f),
            )?;
        }
        // The merged customer's tags and groups go, unless it is known to hold none.
        let held = self
            .lists
            .borrow_mut()
            .insert(from.0, (Vec::new(), Vec::new()))
            .is_none_or(|(tags, groups)| !tags.is_empty() || !groups.is_empty());
        if held {
            self.exec("DELETE FROM oneid_tags WHERE customer = ?1", &[id_param(from)?])?;
            self.exec("DELETE FROM oneid_groups WHERE customer = ?1", &[id_param(from)?])?;
        }
        self.record(tenant, from, at, &EventKind::MergedInto { into }, cause)?;
        self.record(tenant, into, at, &EventKind::Merged { from }, cause)
    }

    fn delete(&mut self, tenant: &TenantId, id: CustomerId, at: DateTime<Utc>, cause: &Cause) -> Result<()> {
        self.flush()?;
        let root = self.live_root(tenant, id)?;
        self.forget();
        let (t, r) = (SqlValue::from(tenant.as_str()), id_param(root)?);
        let members = self.set_members(tenant, root)?;
        self.release(tenant, root, &members)?;
        self.exec(
            "UPDATE oneid_customers SET status = 'deleted', updated = ?3 WHERE tenant = ?1 AND id = ?2",
            &[t, r, ts(&at).into()],
        )?;
        self.record(tenant, root, at, &EventKind::Deleted, cause)
    }

    fn erase(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<Vec<CustomerId>> {
        self.flush()?;
        let root = self.root_id(tenant, id)?.ok_or(Error::CustomerNotFound(id))?;
        self.forget();
        let members = self.members(tenant, root)?;
        let t = SqlValue::from(tenant.as_str());
        // Every identity these customers ever held, from their history.
        let mut identities: Vec<(String, String, String)> = Vec::new();
        for &m in &members {
            let rows = self.rows(
                "SELECT itype, iscope, ivalue FROM oneid_history WHERE tenant = ?1 AND customer = ?2 AND ivalue IS NOT NULL",
                &[t.clone(), id_param(m)?],
            )?;
            for r in rows {
                identities.push((
                    r[0].text()?.to_string(),
                    r[1].text()?.to_string(),
                    r[2].text()?.to_string(),
                ));
            }
        }
        let ids: Vec<u64> = members.iter().map(|m| m.0).collect();
        self.release(tenant, root, &ids)?;
        for (ty, scope, value) in &identities {
            let p = [
                t.clone(),
                ty.as_str().into(),
                scope.as_str().into(),
                value.as_str().into(),
            ];
            self.exec(
                "DELETE FROM oneid_suspicions WHERE tenant = ?1 AND ((itype = ?2 AND scope = ?3 AND value = ?4) \
                 OR (ctype = ?2 AND cscope = ?3 AND cvalue = ?4))",
                &p,
            )?;
        }
        let mut erased = Vec::with_capacity(members.len());
        for &m in &members {
            let created = self
                .rows(
                    "SELECT created FROM oneid_customers WHERE tenant = ?1 AND id = ?2",
                    &[t.clone(), id_param(m)?],
                )?
                .first()
                .map(|r| r[0].text().and_then(parse_ts))
                .transpose()?
                .unwrap_or(at);
            let mut tomb = Customer::new(m, created);
            tomb.updated = at;
            self.write_customer(tenant, &tomb, "erased", false)?;
            // Nothing personal stays in history: identities keep only their type.
            self.exec(
                "UPDATE oneid_history SET iscope = '', ivalue = '[erased]', iname = NULL \
                 WHERE tenant = ?1 AND customer = ?2 AND ivalue IS NOT NULL",
                &[t.clone(), id_param(m)?],
            )?;
            erased.push(m);
        }
        // Merged members keep pointing at the root's tombstone, so their ids read it.
        self.record(tenant, root, at, &EventKind::Erased, cause)?;
        Ok(erased)
    }

    fn unlink(
        &mut self,
        tenant: &TenantId,
        key: IdentityKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<bool> {
        self.flush()?;
        self.forget();
        let params = key_params(tenant, key);
        let rows = self.rows(
            "SELECT customer, itype, scope, value, name, seq FROM oneid_identities \
             WHERE tenant = ?1 AND itype = ?2 AND scope = ?3 AND value = ?4",
            &params,
        )?;
        let Some(row) = rows.first() else { return Ok(false) };
        let held_by = CustomerId(row[0].int()? as u64);
        let owner = self
            .root_id(tenant, held_by)?
            .ok_or_else(|| Error::Corrupt(format!("identity {} held by no customer {held_by}", key.value)))?;
        let identity = identity_from(row[1].text()?, row[2].text()?, row[3].text()?, row[4].opt_text()?)?;
        self.exec(
            "DELETE FROM oneid_identities WHERE tenant = ?1 AND itype = ?2 AND scope = ?3 AND value = ?4",
            &params,
        )?;
        self.uncount(tenant, owner, key, row[5].int()?)?;
        self.record(tenant, owner, at, &EventKind::Unlinked { identity }, cause)?;
        Ok(true)
    }

    fn put_customer(&mut self, tenant: &TenantId, customer: Customer) -> Result<()> {
        {
            // A live customer this transaction read or created: its row is written at commit.
            let mut cache = self.cache.borrow_mut();
            if cache
                .customer(tenant, customer.id.0)
                .is_some_and(Customer::is_active)
            {
                let id = customer.id.0;
                let mut customer = customer;
                customer.status = CustomerStatus::Active;
                cache.customers.insert(id, (tenant.clone(), customer));
                cache.dirty.insert(id);
                return Ok(());
            }
        }
        self.flush()?;
        if self.write_customer(tenant, &customer, "active", true)? == 1 {
            return Ok(());
        }
        // Nothing written: say why.
        match self.live_root(tenant, customer.id)? {
            root if root != customer.id => Err(Error::Invariant(format!(
                "customer {} is an alias of {root}; write the live customer",
                customer.id
            ))),
            _ => Err(Error::CustomerNotFound(customer.id)),
        }
    }

    fn put_settings(
        &mut self,
        tenant: &TenantId,
        document: &str,
        at: DateTime<Utc>,
        cause: Option<&str>,
    ) -> Result<u64> {
        let t = SqlValue::from(tenant.as_str());
        let rows = self.rows(
            "INSERT INTO oneid_tenants (tenant, settings_version) VALUES (?1, 1) ON CONFLICT (tenant) \
             DO UPDATE SET settings_version = oneid_tenants.settings_version + 1 RETURNING settings_version",
            std::slice::from_ref(&t),
        )?;
        let version = rows
            .first()
            .ok_or_else(|| Error::Corrupt("no settings version returned".into()))?[0]
            .int()?;
        self.exec(
            "INSERT INTO oneid_settings (tenant, version, document, changed, cause) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[t, version.into(), document.into(), ts(&at).into(), cause.into()],
        )?;
        // Its own change is what this transaction commits under.
        if let Some((read, v)) = &mut *self.settings_read.borrow_mut()
            && read == tenant
        {
            *v = version as u64;
        }
        Ok(version as u64)
    }

    fn commit(self) -> Result<()> {
        let settings_read = self.settings_read.take();
        // The last writes read the settings version too where they go in one statement.
        let checked = self.flush_checking(settings_read.as_ref().map(|(tenant, _)| tenant))?;
        if let Some((tenant, read)) = settings_read {
            // Held from here until the commit: a settings change commits before this read
            // (which then sees it) or after this transaction.
            let now = match checked {
                Some(now) => now,
                None => {
                    let rows = self.rows(
                        "SELECT settings_version FROM oneid_tenants WHERE tenant = ?1 FOR SHARE",
                        &[tenant.as_str().into()],
                    )?;
                    rows.first().map(|r| r[0].int()).transpose()?
                }
            };
            if now != Some(read as i64) {
                return Err(Error::Transient(format!(
                    "the settings of tenant {tenant} changed while an operation ran"
                )));
            }
        }
        self.conn.into_inner().commit()
    }
}

/// A row of `oneid_suspicions` (from `itype`), as the quarantine report lists it.
fn evidence_row(row: &[SqlValue]) -> Result<(Identity, Contradiction)> {
    let suspect = identity_from(row[0].text()?, row[1].text()?, row[2].text()?, None)?;
    let conflicting = identity_from(row[3].text()?, row[4].text()?, row[5].text()?, None)?;
    let at = row[6].opt_text()?.map(parse_ts).transpose()?;
    let cause = match row[7].opt_text()? {
        Some(op) => Some(Cause {
            operation: operation_from(op)?,
            reference: row[8].opt_text()?.map(Arc::from),
        }),
        None => None,
    };
    Ok((
        suspect,
        Contradiction {
            identity: conflicting,
            at,
            cause,
        },
    ))
}

/// A row of `oneid_settings` (version, document, changed, cause).
pub(super) fn stored_settings(row: &[SqlValue]) -> Result<StoredSettings> {
    Ok(StoredSettings {
        version: row[0].int()? as u64,
        document: row[1].text()?.to_owned(),
        changed: parse_ts(row[2].text()?)?,
        cause: match &row[3] {
            SqlValue::Null => None,
            v => Some(v.text()?.to_owned()),
        },
    })
}

#[expect(private_bounds, reason = "the methods are crate-private")]
impl<B: SqlBackend> SqlTxn<B> {
    /// Looks up the keys `ask` names in the database, in one round trip, into `out`: the
    /// identities, their owners' rows and the evidence counts, with the identity and owner
    /// rows locked until the transaction ends (for a writer). Each database gets the form its
    /// planner always answers with one index search per key, whatever statistics it has.
    fn fetch_lookups(
        &self,
        tenant: &TenantId,
        keys: &[IdentityKey<'_>],
        ask: &[usize],
        out: &mut [Lookup],
    ) -> Result<()> {
        let arrays = self.conn.borrow().binds_arrays();
        let lock = self.conn.borrow().lock_rows();
        let counts = with_counts(arrays, lock);
        let sql = lookup_sql(arrays, lock, ask.len());
        let mut params = vec![SqlValue::from(tenant.as_str())];
        if arrays {
            let column = |f: &dyn Fn(IdentityKey<'_>) -> &str| {
                SqlValue::Column(ask.iter().map(|&n| SqlValue::from(f(keys[n]))).collect())
            };
            params.extend([
                column(&|k| k.identity_type),
                column(&|k| k.scope.unwrap_or("")),
                column(&|k| k.value),
            ]);
        } else {
            for &n in ask {
                let key = keys[n];
                params.extend([
                    key.identity_type.into(),
                    key.scope.unwrap_or("").into(),
                    key.value.into(),
                ]);
            }
        }
        let rows = self.rows(&sql, &params)?;
        for row in &rows {
            let (ty, scope, value) = (row[0].text()?, row[1].text()?, row[2].text()?);
            // The customer the identity was linked to, and the live customer its merge set
            // leads to now (read locked, for a writer).
            let held_by = row[3].int()? as u64;
            let owner = match row[6].text()? {
                "active" => {
                    if self.cache.borrow().customer(tenant, held_by).is_none() {
                        self.remember(tenant, customer_from_row(&row[5..])?.0);
                    }
                    if counts {
                        self.counted_with_lookup(held_by, &row[13..17])?;
                    }
                    held_by
                }
                "merged" => {
                    let survivor =
                        self.survivor_of(tenant, held_by, row[11].opt_int()?, row[12].opt_int()?)?;
                    match self.resolve_row(tenant, CustomerId(survivor))? {
                        Some(c) if c.is_active() => c.id.0,
                        _ => {
                            return Err(Error::Transient(format!(
                                "the owner of {ty} {value} changed concurrently"
                            )));
                        }
                    }
                }
                // A merge or delete that committed between reading the identity and locking
                // its owner: the whole operation runs again on the new state.
                _ => {
                    return Err(Error::Transient(format!(
                        "the owner of {ty} {value} changed concurrently"
                    )));
                }
            };
            let suspicion = u32::try_from(row[4].int()?).unwrap_or(u32::MAX);
            for &n in ask {
                let key = keys[n];
                if key.identity_type == ty && key.scope.unwrap_or("") == scope && key.value == value {
                    out[n] = Lookup {
                        owner: Some(CustomerId(owner)),
                        suspicion,
                    };
                }
            }
        }
        Ok(())
    }
}

#[expect(private_bounds, reason = "the methods are crate-private")]
impl<B: SqlBackend> SqlTxn<B> {
    /// Keeps the counts of a live customer that a batched lookup brought (as four arrays:
    /// types, scopes, numbers, first `seq`s), unless its counts were read already.
    fn counted_with_lookup(&self, customer: u64, arrays: &[SqlValue]) -> Result<()> {
        let mut cache = self.cache.borrow_mut();
        if cache.counted.contains(&customer) {
            return Ok(());
        }
        let [types, scopes, ns, firsts] = arrays else {
            return Err(Error::Corrupt("a lookup returned too few count columns".into()));
        };
        let (types, scopes, ns, firsts) = (
            types.elements()?,
            scopes.elements()?,
            ns.elements()?,
            firsts.elements()?,
        );
        if scopes.len() != types.len() || ns.len() != types.len() || firsts.len() != types.len() {
            return Err(Error::Corrupt(
                "a lookup returned counts of different lengths".into(),
            ));
        }
        for k in 0..types.len() {
            let scope = scopes[k].text()?;
            let scope = (!scope.is_empty()).then_some(scope);
            let found = Some((usize::try_from(ns[k].int()?).unwrap_or(0), firsts[k].int()?));
            cache
                .counts
                .insert(KindRef::new(customer, types[k].text()?, scope).owned(), found);
        }
        cache.counted.insert(customer);
        Ok(())
    }
}

/// Whether the batched lookup brings its owners' counts back: for a reader on PostgreSQL.
/// Not for a writer: at READ COMMITTED a lookup that waited for an owner's row lock reads
/// the row as the writer before it left it, but the counts beside it from the statement's
/// snapshot, taken before that writer committed; counts that miss what it linked would let
/// a limit be passed. A writer reads them in a statement of their own once the locks are
/// held (`count_ahead`).
fn with_counts(arrays: bool, lock: &str) -> bool {
    arrays && lock.is_empty()
}

/// The batched identity lookup for `keys` keys (parameters: the tenant, then the keys' types,
/// scopes and values), each key answered by one index search whatever statistics the
/// database has: on PostgreSQL (`arrays`) the keys come as three arrays and each is looked up
/// in a subquery of its own, which the planner cannot turn into a join that reads the whole
/// tenant (the plan it picks for a join to a list of keys when it has no statistics) and which
/// locks what it returns (`lock`); on SQLite an `OR` of keys, which its planner answers with
/// one index search each (its "multi-index OR"; it may scan a tenant for a join).
fn lookup_sql(arrays: bool, lock: &str, keys: usize) -> String {
    use std::fmt::Write;
    let mut sql = format!(
        "SELECT i.itype, i.scope, i.value, i.customer, (SELECT COUNT(*) FROM oneid_suspicions s \
         WHERE s.tenant = i.tenant AND s.itype = i.itype AND s.scope = i.scope AND s.value = i.value), \
         {CUSTOMER_COLUMNS_C}, c.parent, c.survivor{} FROM ",
        if with_counts(arrays, lock) {
            ", n.itypes, n.scopes, n.ns, n.firsts"
        } else {
            ""
        }
    );
    if arrays {
        let _ = write!(
            sql,
            "unnest(?2::text[], ?3::text[], ?4::text[]) AS k(itype, scope, value) \
             CROSS JOIN LATERAL (SELECT * FROM oneid_identities i WHERE i.tenant = ?1 AND i.itype = k.itype \
             AND i.scope = k.scope AND i.value = k.value OFFSET 0{lock}) i \
             CROSS JOIN LATERAL (SELECT * FROM oneid_customers c WHERE c.id = i.customer OFFSET 0{lock}) c"
        );
        if with_counts(arrays, lock) {
            sql.push_str(
                " CROSS JOIN LATERAL (SELECT array_agg(n.itype) AS itypes, array_agg(n.scope) AS scopes, \
                 array_agg(n.n) AS ns, array_agg(n.first_seq) AS firsts FROM oneid_counts n WHERE n.customer = c.id) n",
            );
        }
        return sql;
    }
    sql.push_str("oneid_identities i JOIN oneid_customers c ON c.id = i.customer WHERE ");
    for j in 0..keys {
        let p = 3 * j + 1;
        if j > 0 {
            sql.push_str(" OR ");
        }
        let _ = write!(
            sql,
            "(i.tenant = ?1 AND i.itype = ?{} AND i.scope = ?{} AND i.value = ?{})",
            p + 1,
            p + 2,
            p + 3
        );
    }
    sql
}

#[cfg(all(test, feature = "postgres"))]
mod plans {
    //! The plans PostgreSQL keeps for the writers' statements stay index searches on tables
    //! it has no statistics for (a new database, or autovacuum off): a plan that reads a whole
    //! tenant costs a resolve more as the tenant grows.

    use crate::store::Store;
    use crate::{IdentityInput, PostgresStore, ResolveRequest, Resolver, TenantId};

    fn url() -> String {
        std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into())
    }

    /// Writers run their statements' generic plans from the first run, rather than plan
    /// each run again; readers plan their queries for their parameters.
    #[test]
    fn writers_use_generic_plans_and_readers_plan_for_their_parameters() {
        let schema = "oneid_plan_mode";
        let mut admin = postgres::Client::connect(&url(), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
        let store = PostgresStore::connect_in_schema(&url(), schema).unwrap();
        let t = TenantId::new("t");
        let mode = |txn: &super::SqlTxn<_>| -> String {
            txn.rows("SELECT current_setting('plan_cache_mode')", &[])
                .unwrap()[0][0]
                .text()
                .unwrap()
                .to_owned()
        };
        let writer = store.write(&t).unwrap();
        let written = mode(&writer);
        drop(writer);
        let reader = store.read(&t).unwrap();
        let read = mode(&reader);
        drop(reader);
        // The connection the reader had serves a writer again.
        let writer = store.write(&t).unwrap();
        let written_again = mode(&writer);
        drop(writer);
        drop(store);
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
        assert_eq!(
            (written.as_str(), read.as_str(), written_again.as_str()),
            ("force_generic_plan", "auto", "force_generic_plan")
        );
    }

    #[test]
    fn the_batched_lookup_searches_the_key_index_without_statistics() {
        let schema = "oneid_plans";
        let mut admin = postgres::Client::connect(&url(), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
        let store = PostgresStore::connect_in_schema(&url(), schema).unwrap();
        let resolver = Resolver::new(store);
        let tenant = TenantId::new("t");
        // Enough rows that reading the tenant costs more than a few index searches.
        let requests: Vec<ResolveRequest> = (0..2000)
            .map(|n| ResolveRequest::new([IdentityInput::new("email", format!("p{n}@example.com"))]))
            .collect();
        for chunk in requests.chunks(500) {
            resolver.resolve_batch(&tenant, chunk).unwrap();
        }
        let keys = 32;
        let sql = super::lookup_sql(true, " FOR UPDATE", keys);
        let text = crate::store::sql::backend::postgres::dollar(&sql);
        admin
            .batch_execute(&format!(
                "SET search_path TO {schema}; SET plan_cache_mode = force_generic_plan; \
                 PREPARE lookup(text, text[], text[], text[]) AS {text}"
            ))
            .unwrap();
        let values: Vec<String> = (0..keys).map(|n| format!("'p{n}@example.com'")).collect();
        let plan: String = admin
            .query(
                &format!(
                    "EXPLAIN EXECUTE lookup('t', array_fill('email'::text, ARRAY[{keys}]), \
                     array_fill(''::text, ARRAY[{keys}]), ARRAY[{}])",
                    values.join(", ")
                ),
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| row.get::<_, String>(0) + "\n")
            .collect();
        admin
            .batch_execute(&format!("DEALLOCATE lookup; DROP SCHEMA {schema} CASCADE"))
            .unwrap();
        assert!(
            !plan.contains("Hash Join"),
            "a join that reads the tenant: {plan}"
        );
        assert!(!plan.contains("Seq Scan"), "a scan of a whole table: {plan}");
        assert!(
            plan.contains("oneid_identities_tenant_itype_scope_value_key"),
            "no search of the identity key: {plan}"
        );
    }
}
