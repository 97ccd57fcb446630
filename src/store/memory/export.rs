//! A tenant read out whole, in place: what a bulk load copies from the memory store it
//! resolved into to a durable store.
//!
//! [`MemoryStore::for_bulk_load`] makes a store whose ids start where the durable store's
//! next free ones do; [`MemoryStore::export`] then lends a [`TenantExport`]:
//! every customer slot in id order, every history event in recording order (which is the
//! order a SQL store numbers them in), the evidence and the settings, all borrowed from the
//! tables, nothing copied but maps from events to their customers and from links to the
//! identities they link.

use super::MemoryStore;
use super::arena::NONE;
use super::event::Kind;
use super::evidence::Evidence;
use super::ids::BlockCounter;
use super::shards::Shards;
use super::slot::instant;
use super::tables::Tables;
use crate::history::Operation;
use crate::model::{Customer, CustomerId, TenantId};
use crate::store::StoredSettings;
use chrono::{DateTime, Utc};

/// An identity as a history event names it, borrowed.
#[derive(Clone, Copy)]
pub(crate) struct IdentityRef<'a> {
    pub(crate) identity_type: &'a str,
    pub(crate) scope: Option<&'a str>,
    pub(crate) value: &'a str,
    pub(crate) name: Option<&'a str>,
}

/// What a history event records, borrowed.
pub(crate) enum EventRef<'a> {
    Created,
    Linked(IdentityRef<'a>),
    Merged(CustomerId),
    MergedInto(CustomerId),
    /// An event a bulk load never records (it only resolves), by its name.
    Other(&'static str),
}

/// One history event, borrowed.
pub(crate) struct EventView<'a> {
    pub(crate) customer: CustomerId,
    pub(crate) at: DateTime<Utc>,
    pub(crate) kind: EventRef<'a>,
    pub(crate) operation: Operation,
    pub(crate) reference: Option<&'a str>,
}

/// One tenant of a memory store, read out (see the module notes).
pub struct TenantExport<'a> {
    tables: &'a Tables,
    /// The slot each event belongs to, by event index.
    event_slots: Vec<u32>,
    /// The entry each link event links, in recording order.
    links: Vec<u32>,
}

impl MemoryStore {
    /// An empty store for a bulk load: its ids start at block `first_block` (id
    /// `first_block * 1024 + 1`).
    pub(crate) fn for_bulk_load(first_block: u32, customers: usize, identities: usize) -> Self {
        Self {
            shards: Shards::new(Some((customers, identities))),
            blocks: BlockCounter::starting_at(first_block),
        }
    }

    /// Reads `tenant` out whole, for as long as `f` runs (holding its tables' read lock).
    pub(crate) fn export<R>(&self, tenant: &TenantId, f: impl FnOnce(&TenantExport<'_>) -> R) -> R {
        let tables = self.shards.read(tenant);
        let mut event_slots = vec![NONE; tables.events.len() as usize];
        for slot in 0..tables.slots.len() {
            for (ix, _) in tables.events_of(slot) {
                event_slots[ix as usize] = slot;
            }
        }
        let links = (0..tables.events.len())
            .filter_map(|ix| match tables.events[ix].kind {
                Kind::Linked(entry) => Some(entry),
                _ => None,
            })
            .collect();
        f(&TenantExport {
            tables: &tables,
            event_slots,
            links,
        })
    }
}

/// The identity of one of `t`'s entries, borrowed.
fn identity_of(t: &Tables, entry: u32) -> IdentityRef<'_> {
    let e = &t.entries[entry];
    IdentityRef {
        identity_type: t.type_name(e).as_str(),
        scope: t.scope_of(e).map(|s| &**s),
        value: t.value_of(e),
        name: (e.name != NONE).then(|| &*t.names[e.name as usize]),
    }
}

impl<'a> TenantExport<'a> {
    /// How many customer ids the tenant assigned.
    pub(crate) fn customer_count(&self) -> usize {
        self.tables.slots.len() as usize
    }

    /// The customer of every id the tenant assigned (merged ones with the data they had when
    /// merged), in id order.
    pub(crate) fn customers(&self) -> impl Iterator<Item = Customer> + '_ {
        (0..self.tables.slots.len()).map(|slot| self.tables.customer_at(slot))
    }

    /// The identity of a link: `link` numbers the links in recording order, as
    /// [`events`](Self::events) lists them (none past the last).
    pub(crate) fn linked_identity(&self, link: u32) -> Option<IdentityRef<'a>> {
        self.links
            .get(link as usize)
            .map(|&entry| identity_of(self.tables, entry))
    }

    /// Every history event, in recording order.
    pub(crate) fn events(&self) -> impl Iterator<Item = EventView<'a>> + '_ {
        let t = self.tables;
        let identity = move |entry: u32| identity_of(t, entry);
        self.event_slots.iter().enumerate().map(move |(ix, &slot)| {
            let event = &t.events[ix as u32];
            let stored = &t.causes[event.cause];
            let kind = match event.kind {
                Kind::Created => EventRef::Created,
                Kind::Linked(entry) => EventRef::Linked(identity(entry)),
                Kind::Merged(from) => EventRef::Merged(t.ids.id_of(from)),
                Kind::MergedInto(into) => EventRef::MergedInto(t.ids.id_of(into)),
                Kind::Unlinked(_) => EventRef::Other("unlinked"),
                Kind::Deleted => EventRef::Other("deleted"),
                Kind::Erased => EventRef::Other("erased"),
            };
            EventView {
                customer: t.ids.id_of(slot),
                at: instant(event.at),
                kind,
                operation: stored.operation,
                reference: stored.has_reference.then(|| t.cause_texts.get(stored.reference)),
            }
        })
    }

    /// The quarantine evidence, in recording order.
    pub(crate) fn evidence(&self) -> &'a [Evidence] {
        &self.tables.evidence
    }

    /// Every version of the tenant's settings, oldest first.
    pub(crate) fn settings(&self) -> &'a [StoredSettings] {
        &self.tables.settings
    }
}
