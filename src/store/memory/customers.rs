//! Customers: creating a tenant's slots, writing their data, and reading them back as
//! [`Customer`]s.
//!
//! A new customer takes the tenant's next slot, and the next free block of ids first when its
//! blocks are used up (`ids`). Its data is packed (`packed`) when written and unpacked when
//! read.

use super::event::Kind;
use super::ids::BlockCounter;
use super::slot::{Slot, Status, instant, micros};
use super::tables::Tables;
use super::{packed, pages};
use crate::error::Result;
use crate::model::{Customer, CustomerStatus};
use std::sync::atomic::AtomicU32;

#[cfg(test)]
thread_local! {
    /// Customers built from slots on this thread, for tests of what a read costs.
    pub(super) static UNPACKED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Tables {
    /// Creates an active customer holding `data`, at `micros`, of the interned cause `cause`;
    /// returns its slot. Takes a block of ids from `blocks` when the slot needs one.
    pub(super) fn create_in(
        &mut self,
        blocks: &BlockCounter,
        micros: i64,
        cause: u32,
        data: Option<Box<[u8]>>,
    ) -> Result<u32> {
        let ix = self.slots.next_index("customers")?;
        self.events.next_index("history events")?;
        if self.ids.needs_block(ix) {
            self.ids.push(blocks.take()?);
        }
        self.slots.push(Slot::new(micros, data));
        self.filters.add(&self.slots, ix);
        self.live += 1;
        pages::reserve_huge(&mut self.parent, 1);
        self.parent.push(AtomicU32::new(ix));
        self.record_at(ix, micros, Kind::Created, cause)?;
        Ok(ix)
    }

    /// Overwrites a live slot's data with a customer's, and its values in the query indexes.
    pub(super) fn put_in(&mut self, slot: u32, customer: &Customer) {
        let data = packed::pack(
            &customer.fields,
            &customer.attrs,
            &customer.tags,
            &customer.groups,
        );
        let created = micros(customer.created);
        let stored = &self.slots[slot];
        // The same bytes hold the same values: only the update time may move.
        if stored.data != data || stored.created != created {
            self.filters.remove(&self.slots[slot], slot);
            let stored = &mut self.slots[slot];
            stored.data = data;
            stored.created = created;
            self.filters.add(&self.slots, slot);
        }
        self.set_updated(slot, micros(customer.updated));
    }

    /// Sets live slot `ix`'s update time, in the slot and in the query index.
    pub(super) fn set_updated(&mut self, ix: u32, micros: i64) {
        let slot = &mut self.slots[ix];
        if slot.updated != micros {
            self.filters.move_updated(ix, slot.updated, micros);
            slot.updated = micros;
        }
    }

    /// Takes live slot `ix` out of the query indexes, before it stops being live.
    pub(super) fn unindex(&mut self, ix: u32) {
        self.filters.remove(&self.slots[ix], ix);
    }

    /// The customer slot `ix` holds.
    pub(super) fn customer_at(&self, ix: u32) -> Customer {
        #[cfg(test)]
        UNPACKED.set(UNPACKED.get() + 1);
        let slot = &self.slots[ix];
        let data = packed::unpack(slot.data.as_deref());
        Customer {
            id: self.ids.id_of(ix),
            status: match slot.status() {
                Status::Active => CustomerStatus::Active,
                Status::MergedInto(into) => CustomerStatus::Merged {
                    into: self.ids.id_of(into),
                },
                Status::Deleted => CustomerStatus::Deleted,
                Status::Erased => CustomerStatus::Erased,
            },
            fields: data.fields,
            attrs: data.attrs,
            tags: data.tags,
            groups: data.groups,
            created: instant(slot.created),
            updated: instant(slot.updated),
        }
    }
}
