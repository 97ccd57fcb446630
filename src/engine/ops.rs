//! The customer operations around resolution (SEMANTICS §3): reads, updates, identities,
//! tags and groups, delete and erase, query and count, and explanations from history.
//!
//! Each operation follows the engine's discipline: read and check everything first, then
//! write, then commit, so it is all-or-nothing in every store.

use super::begin::write_in;
use super::fields::apply_update;
use super::outcome::ChangedField;
use super::prepare;
use super::resolver::Resolver;
use super::retry::retry;
use super::tenant_settings::Current;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::history::{Cause, Explanation, Operation};
use crate::limits::MAX_ATTRS;
use crate::model::{
    Change, Customer, CustomerId, ExtAttr, Field, Identity, IdentityInput, TenantId, UpdatePatch, check_attr,
    check_count, check_groups, check_held, check_tags, remove_all, unite,
};
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery};
use crate::settings::IdentitySettings;
use crate::store::{ReadTxn, Store, Txn};
use crate::trace;
use indexmap::IndexMap;

/// What an update did.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The customer before the update (what 002's `PUT` returns).
    pub before: Customer,
    /// The customer after it.
    pub customer: Customer,
    /// What changed.
    pub changed: Vec<ChangedField>,
}

/// What a write decided: to commit, or that there was nothing to write.
pub(super) enum Step<T> {
    Commit(T),
    Nothing(T),
}

fn live<T: ReadTxn + ?Sized>(txn: &T, tenant: &TenantId, id: CustomerId) -> Result<Customer> {
    match txn.customer(tenant, id)? {
        Some(c) if c.is_active() => Ok(c.into_owned()),
        _ => Err(Error::CustomerNotFound(id)),
    }
}

fn cause(operation: Operation) -> Cause {
    Cause {
        operation,
        reference: None,
    }
}

impl<S: Store, C: Clock> Resolver<S, C> {
    /// Validates and normalizes one identity; blocked values are an error here.
    fn normalized(settings: &IdentitySettings, input: &IdentityInput) -> Result<Identity> {
        let mut buf = String::new();
        match prepare::normalize_one(settings, 0, input, &mut buf)? {
            prepare::Checked::Valid {
                identity_type, scope, ..
            } => Ok(Identity {
                identity_type,
                scope,
                identity_value: buf.as_str().into(),
                identity_name: input.identity_name.as_deref().map(Into::into),
            }),
            prepare::Checked::Blocked(blocked) => Err(Error::IdentityBlocked {
                identity: blocked.to_string(),
            }),
        }
    }

    /// Runs `write` in a write transaction of `tenant`, under the settings the transaction
    /// reads, again on a transient failure; commits when it says so (storing the handle's
    /// default settings first if the tenant has none stored).
    pub(super) fn writing<T>(
        &self,
        tenant: &TenantId,
        name: &'static str,
        mut write: impl FnMut(&mut S::Writer<'_>, &IdentitySettings) -> Result<Step<T>>,
    ) -> Result<T> {
        let at = self.now()?;
        let span = trace::operation(name, tenant);
        let mut attempts = 0;
        let out = retry(|| {
            attempts += 1;
            let mut txn = write_in(&*self.store, tenant)?;
            let current: Current = self.settings.current(&txn, tenant, &self.defaults)?;
            match write(&mut txn, &current.settings)? {
                Step::Nothing(out) => Ok(out),
                Step::Commit(out) => {
                    self.settings
                        .store_defaults(&mut txn, tenant, &current, &self.defaults, at)?;
                    txn.commit()?;
                    Ok(out)
                }
            }
        });
        span.attempts(attempts);
        out
    }

    /// Reads, changes and writes back one live customer; a change that would leave it
    /// holding more attributes, tags or groups than a customer may is refused.
    fn modify(
        &self,
        tenant: &TenantId,
        name: &'static str,
        id: CustomerId,
        change: impl Fn(&IdentitySettings, &mut Customer) -> Result<Vec<ChangedField>>,
    ) -> Result<Updated> {
        let at = self.now()?;
        self.writing(tenant, name, |txn, settings| {
            let before = live(txn, tenant, id)?;
            let mut customer = before.clone();
            let changed = change(settings, &mut customer)?;
            if changed.is_empty() {
                return Ok(Step::Nothing(Updated {
                    before,
                    customer,
                    changed,
                }));
            }
            check_held(customer.attrs.len(), customer.tags.len(), customer.groups.len())?;
            customer.updated = at;
            txn.put_customer(tenant, customer.clone())?;
            Ok(Step::Commit(Updated {
                before,
                customer,
                changed,
            }))
        })
    }

    /// The identities of several customers (002 `GET customeridentities?customerIds=`; 000's
    /// linked accounts), in the order asked. Unknown ids get an empty list.
    pub fn identities_of(
        &self,
        tenant: &TenantId,
        ids: &[CustomerId],
    ) -> Result<Vec<(CustomerId, Vec<Identity>)>> {
        self.reading(tenant, "identities_of", |txn| {
            ids.iter()
                .map(|&id| Ok((id, txn.identities(tenant, id)?)))
                .collect()
        })
    }

    /// The live owner of an identity, after normalizing it (002 `GET customeridentities`
    /// with `identityType` and `identityValue`; 001 `getCustomerIdByCustomerIdentity`).
    /// Blocked values have no owner.
    pub fn owner_of(&self, tenant: &TenantId, identity: &IdentityInput) -> Result<Option<CustomerId>> {
        self.reading(tenant, "owner_of", |txn| {
            let settings = self.settings.current(txn, tenant, &self.defaults)?.settings;
            let identity = match Self::normalized(&settings, identity) {
                Ok(i) => i,
                Err(Error::IdentityBlocked { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            txn.owner(tenant, identity.key())
        })
    }

    /// The values of named attributes (001 `queryAttrValuesByCustomerId`): well-known fields
    /// by any of their names, extended attributes by key, and `id`, `displayName`,
    /// `dateCreated`, `lastUpdated`, `tags`, `groupIds`. Absent values are JSON `null`.
    pub fn attributes(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        names: &[&str],
    ) -> Result<IndexMap<String, serde_json::Value>> {
        let customer = self.reading(tenant, "attributes", |txn| live(txn, tenant, id))?;
        let json = serde_json::to_value(&customer).map_err(Error::Json)?;
        Ok(names
            .iter()
            .map(|&name| {
                let value = match Field::from_name(name) {
                    Some(f) => customer
                        .fields
                        .get(f)
                        .map_or(serde_json::Value::Null, |v| v.to_json()),
                    None => customer
                        .attrs
                        .get(name)
                        .map(|a| a.value.clone())
                        .or_else(|| json.get(name).cloned())
                        .unwrap_or(serde_json::Value::Null),
                };
                (name.to_string(), value)
            })
            .collect())
    }

    /// Updates a customer with a patch that can set, clear or keep each field (002 `PUT
    /// customers/{id}`, 000 `PATCH`). The verified rule holds. Identities are not touched.
    pub fn update(&self, tenant: &TenantId, id: CustomerId, update: &UpdatePatch) -> Result<Updated> {
        // An update built in code has not been checked as a parsed one has.
        for (field, change) in &update.fields {
            if let Change::Set(value) = change {
                field.check(value)?;
            }
        }
        if let Some(tags) = &update.tags {
            check_tags(tags)?;
        }
        if let Some(groups) = &update.groups {
            check_groups(groups)?;
        }
        check_count("attr", update.attrs.len(), MAX_ATTRS, "extended attributes")?;
        for (key, change) in &update.attrs {
            if let Change::Set(a) = change {
                check_attr(key, a.name.as_deref(), &a.value)?;
            }
        }
        self.modify(tenant, "update", id, |settings, c| {
            Ok(apply_update(settings, c, update))
        })
    }

    /// Updates one attribute by name (001 `updateCustomerAttr`): a well-known field (any of
    /// its names), type-checked — gender must be 0/1/2, dates must parse, numbers must be
    /// numbers — or else an extended attribute. JSON `null` clears it.
    pub fn update_attribute(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<Updated> {
        let mut update = UpdatePatch::new();
        match Field::from_name(name) {
            Some(field) => match field.parse_json(value)? {
                Some(v) => update = update.set(field, v)?,
                None => update = update.clear(field),
            },
            None => return self.update_extended_attribute(tenant, id, name, value),
        }
        self.update(tenant, id, &update)
    }

    /// Sets (or, with JSON `null`, clears) an extended attribute, even one whose key is also
    /// the name of a well-known field (001's `isExtendAttr: true`).
    pub fn update_extended_attribute(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<Updated> {
        // Checked before it is copied: a value nested too deep is refused, not recursed into.
        check_attr(key, None, value)?;
        let change = if value.is_null() {
            Change::Clear
        } else {
            Change::Set(ExtAttr {
                name: None,
                value: value.clone(),
            })
        };
        let update = UpdatePatch {
            attrs: vec![(key.to_string(), change)],
            ..UpdatePatch::new()
        };
        self.update(tenant, id, &update)
    }

    /// Binds an identity to a customer (002 `POST customeridentities`). Errors when it is
    /// invalid, blocked, owned by another customer, or would put the customer over its type's
    /// limit. Adding an identity the customer already holds changes nothing.
    pub fn add_identity(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity: &IdentityInput,
    ) -> Result<Identity> {
        let at = self.now()?;
        self.writing(tenant, "add_identity", |txn, settings| {
            let identity = Self::normalized(settings, identity)?;
            let limit = settings.limit(&identity.identity_type);
            let customer = live(txn, tenant, id)?.id;
            match txn.owner(tenant, identity.key())? {
                Some(owner) if owner == customer => return Ok(Step::Nothing(identity)),
                Some(owner) => {
                    return Err(Error::IdentityOwned {
                        identity: identity.to_string(),
                        owner,
                    });
                }
                None => {}
            }
            if let Some(limit) = limit {
                let (ty, scope) = (identity.identity_type.as_str(), identity.scope.as_deref());
                if txn.count_of_type(tenant, customer, ty, scope)? >= limit as usize {
                    let with = txn
                        .first_of_type(tenant, customer, ty, scope)?
                        .ok_or_else(|| Error::Invariant(format!("customer {customer} lost an identity")))?;
                    return Err(Error::IdentityConflict {
                        identity: identity.to_string(),
                        with: with.to_string(),
                        limit,
                    });
                }
            }
            txn.link(
                tenant,
                customer,
                identity.key().hashed(),
                identity.identity_name.as_deref(),
                at,
                &cause(Operation::AddIdentity),
            )?;
            Ok(Step::Commit(identity))
        })
    }

    /// Unbinds an identity from a customer. `Ok(false)` if nobody holds it; an error if
    /// another customer does.
    pub fn remove_identity(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity: &IdentityInput,
    ) -> Result<bool> {
        let at = self.now()?;
        self.writing(tenant, "remove_identity", |txn, settings| {
            let identity = match Self::normalized(settings, identity) {
                Ok(i) => i,
                Err(Error::IdentityBlocked { .. }) => return Ok(Step::Nothing(false)),
                Err(e) => return Err(e),
            };
            let customer = live(txn, tenant, id)?.id;
            match txn.owner(tenant, identity.key())? {
                None => Ok(Step::Nothing(false)),
                Some(owner) if owner != customer => Err(Error::IdentityOwned {
                    identity: identity.to_string(),
                    owner,
                }),
                Some(_) => {
                    let removed =
                        txn.unlink(tenant, identity.key(), at, &cause(Operation::RemoveIdentity))?;
                    Ok(Step::Commit(removed))
                }
            }
        })
    }

    /// Adds tags (000 `tag`), keeping the list free of duplicates.
    pub fn add_tags(&self, tenant: &TenantId, id: CustomerId, tags: &[&str]) -> Result<Updated> {
        check_tags(tags)?;
        self.modify(tenant, "add_tags", id, |_, c| {
            let added = unite(&mut c.tags, tags.iter().map(|t| t.to_string()));
            Ok(if added {
                vec![ChangedField::Tags]
            } else {
                Vec::new()
            })
        })
    }

    /// Removes tags.
    pub fn remove_tags(&self, tenant: &TenantId, id: CustomerId, tags: &[&str]) -> Result<Updated> {
        self.modify(tenant, "remove_tags", id, |_, c| {
            Ok(if remove_all(&mut c.tags, tags) {
                vec![ChangedField::Tags]
            } else {
                Vec::new()
            })
        })
    }

    /// Adds the customer to groups (001 `groupId`).
    pub fn add_groups(&self, tenant: &TenantId, id: CustomerId, groups: &[i64]) -> Result<Updated> {
        check_groups(groups)?;
        self.modify(tenant, "add_groups", id, |_, c| {
            let added = unite(&mut c.groups, groups.iter().copied());
            Ok(if added {
                vec![ChangedField::Groups]
            } else {
                Vec::new()
            })
        })
    }

    /// Removes the customer from groups.
    pub fn remove_groups(&self, tenant: &TenantId, id: CustomerId, groups: &[i64]) -> Result<Updated> {
        self.modify(tenant, "remove_groups", id, |_, c| {
            let gone: Vec<&i64> = groups.iter().collect();
            Ok(if remove_all(&mut c.groups, &gone) {
                vec![ChangedField::Groups]
            } else {
                Vec::new()
            })
        })
    }

    /// Logically deletes a customer (001 `singleDelete`, 002 `DELETE customers/{id}`): it
    /// reads as not found from then on and its identities are released, so a later resolve of
    /// them creates a new customer. A merged id deletes the customer it leads to.
    pub fn delete(&self, tenant: &TenantId, id: CustomerId) -> Result<()> {
        let at = self.now()?;
        self.writing(tenant, "delete", |txn, _| {
            let customer = live(txn, tenant, id)?.id;
            txn.delete(tenant, customer, at, &cause(Operation::Delete))?;
            Ok(Step::Commit(()))
        })
    }

    /// Erases a customer's personal data for good (the right to be forgotten): fields,
    /// attributes, tags, groups and identities of the customer and of every customer merged
    /// into it are removed, identities in their history are redacted, and tombstones with
    /// status `Erased` remain. Works on live and deleted customers; returns the erased ids.
    pub fn erase(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<CustomerId>> {
        let at = self.now()?;
        self.writing(tenant, "erase", |txn, _| {
            if txn.customer(tenant, id)?.is_none() {
                return Err(Error::CustomerNotFound(id));
            }
            Ok(Step::Commit(txn.erase(
                tenant,
                id,
                at,
                &cause(Operation::Erase),
            )?))
        })
    }

    /// A page of live customers matching a query (001 `simpleQuery`, 002 `GET customers`),
    /// with the total.
    pub fn query(&self, tenant: &TenantId, query: &CustomerQuery) -> Result<CustomerPage> {
        query.check()?;
        self.reading(tenant, "query", |txn| txn.query(tenant, query))
    }

    /// Like [`query`](Self::query), with each customer as JSON restricted to
    /// [`CustomerQuery::select`] (all keys when `None`; `id` always).
    pub fn query_json(
        &self,
        tenant: &TenantId,
        query: &CustomerQuery,
    ) -> Result<(Vec<serde_json::Value>, u64)> {
        let page = self.query(tenant, query)?;
        let rows = page
            .rows
            .iter()
            .map(|c| {
                let mut json = serde_json::to_value(c).map_err(Error::Json)?;
                if let (Some(select), Some(map)) = (&query.select, json.as_object_mut()) {
                    map.retain(|k, _| k == "id" || select.iter().any(|s| s == k));
                }
                Ok(json)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((rows, page.total))
    }

    /// How many live customers match a filter (002 `customers/count`).
    pub fn count(&self, tenant: &TenantId, filter: &CustomerFilter) -> Result<u64> {
        filter.check()?;
        self.reading(tenant, "count", |txn| txn.count(tenant, filter))
    }

    /// Why two identities are the same customer: the shortest chain of links and merges
    /// (with their times and causes) that connects them, or `None` if they are not held by
    /// the same live customer.
    ///
    /// ```
    /// use oneid::{IdentityInput, MemoryStore, ResolveRequest, Resolver, TenantId};
    /// let r = Resolver::new(MemoryStore::new());
    /// let t = TenantId::new("t");
    /// let (m, e, w) = (IdentityInput::new("mobile", "13811112222"), IdentityInput::new("email", "a@b.cn"),
    ///                  IdentityInput::new("wechat", "o1"));
    /// r.resolve(&t, &ResolveRequest::new([m.clone(), w.clone()]).with_cause("shop")).unwrap();
    /// r.resolve(&t, &ResolveRequest::new([e.clone()]).with_cause("crm")).unwrap();
    /// r.resolve(&t, &ResolveRequest::new([e.clone(), m.clone()]).with_cause("app")).unwrap();
    /// let why = r.explain(&t, &w, &e).unwrap().unwrap();
    /// // wechat linked by "shop", customer 2 merged in by "app", email linked to 2 by "crm".
    /// assert_eq!(why.steps.len(), 3);
    /// ```
    pub fn explain(
        &self,
        tenant: &TenantId,
        a: &IdentityInput,
        b: &IdentityInput,
    ) -> Result<Option<Explanation>> {
        self.reading(tenant, "explain", |txn| {
            let settings = self.settings.current(txn, tenant, &self.defaults)?.settings;
            let (a, b) = (Self::normalized(&settings, a)?, Self::normalized(&settings, b)?);
            let (Some(owner), Some(other)) = (txn.owner(tenant, a.key())?, txn.owner(tenant, b.key())?)
            else {
                return Ok(None);
            };
            if owner != other {
                return Ok(None);
            }
            let history = txn.history(tenant, owner)?;
            Ok(crate::history::explain(owner, &history, &a, &b))
        })
    }
}
