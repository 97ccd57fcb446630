//! Customer slots: one 56-byte [`Slot`] per customer id ever assigned, in chunks indexed by
//! `id - 1`.
//!
//! Ids are global across tenants, so a slot also records its tenant and every read checks it.
//! A customer's fields, attributes, tags and groups are packed into one small allocation
//! (`packed`) and unpacked into a [`Customer`] on read. A slot also heads the customer's lists
//! elsewhere: the tail of its identity ring (`rings`) and its newest event (`log`). A merged,
//! deleted or erased customer keeps its slot, and its [`Status`] says which; times are kept as
//! microseconds since the epoch, the engine's precision.

use super::log::Kind;
use super::{NONE, Tables, packed, pages};
use crate::error::Result;
use crate::model::{Customer, CustomerId, CustomerStatus, TenantId};
use chrono::{DateTime, Utc};
use std::sync::atomic::AtomicU32;

pub(super) struct Slot {
    pub(super) tenant: u32,
    /// The tail of this customer's identity ring (including merged customers'), or `NONE`.
    pub(super) ring: u32,
    /// This slot's newest event in the log, or `NONE`.
    pub(super) last_event: u32,
    pub(super) status: Status,
    /// Microseconds since the epoch, like every time the store keeps.
    pub(super) created: i64,
    pub(super) updated: i64,
    /// Fields, attributes, tags and groups, packed; `None` when it has none.
    pub(super) data: Option<Box<[u8]>>,
}

/// [`CustomerStatus`] in 8 bytes: a merge target is a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Active,
    MergedInto(u32),
    Deleted,
    Erased,
}

// The size the layout notes above promise (on 64-bit targets).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Slot>() == 56);

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn instant(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("stored from a DateTime")
}

impl Slot {
    pub(super) fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    /// The customer this slot (at `ix`) holds.
    pub(super) fn customer(&self, ix: u32) -> Customer {
        let data = packed::unpack(self.data.as_deref());
        Customer {
            id: slot_id(ix),
            status: match self.status {
                Status::Active => CustomerStatus::Active,
                Status::MergedInto(slot) => CustomerStatus::Merged { into: slot_id(slot) },
                Status::Deleted => CustomerStatus::Deleted,
                Status::Erased => CustomerStatus::Erased,
            },
            fields: data.fields,
            attrs: data.attrs,
            tags: data.tags,
            groups: data.groups,
            created: instant(self.created),
            updated: instant(self.updated),
        }
    }
}

pub(super) fn slot_id(slot: u32) -> CustomerId {
    CustomerId(u64::from(slot) + 1)
}

impl Tables {
    /// Creates an active customer holding `data` in tenant `t`, at `micros`, of the
    /// interned cause `cause`; returns its slot.
    pub(super) fn create_in(
        &mut self,
        t: u32,
        micros: i64,
        cause: u32,
        data: Option<Box<[u8]>>,
    ) -> Result<u32> {
        let ix = self.slots.next_index("customers")?;
        self.events.next_index("history events")?;
        self.slots.push(Slot {
            tenant: t,
            ring: NONE,
            last_event: NONE,
            status: Status::Active,
            created: micros,
            updated: micros,
            data,
        });
        pages::reserve_huge(&mut self.parent, 1);
        self.parent.push(AtomicU32::new(ix));
        self.record_at(ix, micros, Kind::Created, cause)?;
        Ok(ix)
    }

    /// Overwrites a live slot's data with a customer's.
    pub(super) fn put_in(&mut self, slot: u32, customer: &Customer) {
        let stored = &mut self.slots[slot];
        stored.data = packed::pack(
            &customer.fields,
            &customer.attrs,
            &customer.tags,
            &customer.groups,
        );
        stored.created = micros(customer.created);
        stored.updated = micros(customer.updated);
        stored.status = Status::Active;
    }

    /// The live customers of a tenant (each once: merged slots are skipped).
    pub(super) fn live_customers(&self, tenant: &TenantId) -> impl Iterator<Item = Customer> + '_ {
        let t = self.tenant_ix(tenant);
        self.slots
            .iter()
            .zip(0..)
            .filter(move |(s, _)| Some(s.tenant) == t && s.is_active())
            .map(|(s, ix)| s.customer(ix))
    }
}
