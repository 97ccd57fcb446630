//! Customer ids: unique across the store's tenants, handed to each tenant in blocks.
//!
//! Each tenant numbers its slots from 0, in its own tables. The ids those slots stand for come
//! in blocks of 1,024 from one counter the whole store shares ([`BlockCounter`]): a tenant's
//! first customer takes the next free block, its 1,025th the one after that is free then, and
//! so on. A tenant keeps the numbers of its blocks in order ([`IdBlocks`]), so that:
//!
//! - slot → id is one array read: slot `s` is id `block * 1024 + s % 1024 + 1`, where `block`
//!   is the tenant's `s / 1024`-th block;
//! - id → slot is a subtraction while the id falls in the run of consecutive blocks the tenant
//!   began with (a store with one tenant has nothing else), and a binary search of the
//!   tenant's later blocks otherwise (the counter only grows, so they are sorted);
//! - an id in another tenant's block is in no list of this tenant's: it is not found, so no
//!   tenant can read, or even confirm, another's customer.
//!
//! In a store with one tenant the ids are 1, 2, 3, … as the SQL stores number them. A block
//! costs its tenant 4 bytes, and a tenant with few customers one block.

use crate::error::{Error, Result};
use crate::model::CustomerId;
use std::sync::atomic::{AtomicU64, Ordering};

/// Ids per block: `1 << BLOCK_BITS`.
const BLOCK_BITS: u32 = 10;
const BLOCK_MASK: u32 = (1 << BLOCK_BITS) - 1;

/// The next free block of ids, shared by every tenant of a store.
#[derive(Debug, Default)]
pub(super) struct BlockCounter(AtomicU64);

impl BlockCounter {
    /// A counter whose first block is `block` (ids from `block * 1024 + 1`).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(super) fn starting_at(block: u32) -> Self {
        Self(AtomicU64::new(u64::from(block)))
    }

    /// Takes a block. A block taken by a write that then fails is left unused: ids need only
    /// be unique, not dense.
    pub(super) fn take(&self) -> Result<u32> {
        let block = self.0.fetch_add(1, Ordering::Relaxed);
        u32::try_from(block)
            .map_err(|_| Error::Capacity("the memory store assigns at most 2^42 customer ids".into()))
    }
}

/// The blocks of ids one tenant holds, in the order it took them (which is ascending).
#[derive(Debug, Default)]
pub(super) struct IdBlocks {
    blocks: Vec<u32>,
    /// How many of the first blocks are consecutive numbers from `blocks[0]`.
    run: u32,
}

impl IdBlocks {
    /// Whether slot `slot`, the next one, lies past every block held: a new customer in it
    /// needs a block first ([`push`](Self::push)).
    pub(super) fn needs_block(&self, slot: u32) -> bool {
        (slot >> BLOCK_BITS) as usize == self.blocks.len()
    }

    /// Adds a block, taken from the store's counter after every block held.
    pub(super) fn push(&mut self, block: u32) {
        let continues_run = self.run as usize == self.blocks.len()
            && self
                .blocks
                .first()
                .is_none_or(|&first| u64::from(first) + u64::from(self.run) == u64::from(block));
        if continues_run {
            self.run += 1;
        }
        debug_assert!(self.blocks.last().is_none_or(|&last| last < block));
        self.blocks.push(block);
    }

    /// The id slot `slot` stands for (a slot of a block held).
    #[inline]
    pub(super) fn id_of(&self, slot: u32) -> CustomerId {
        let block = self.blocks[(slot >> BLOCK_BITS) as usize];
        CustomerId(((u64::from(block) << BLOCK_BITS) | u64::from(slot & BLOCK_MASK)) + 1)
    }

    /// The slot id `id` stands for, if it lies in a block held (whether that slot is used yet
    /// is the caller's to check).
    #[inline]
    pub(super) fn slot_of(&self, id: CustomerId) -> Option<u32> {
        let n = id.0.checked_sub(1)?;
        let block = u32::try_from(n >> BLOCK_BITS).ok()?;
        let first = *self.blocks.first()?;
        let nth = match block.checked_sub(first) {
            Some(nth) if nth < self.run => nth,
            _ => {
                let later = &self.blocks[self.run as usize..];
                self.run + later.binary_search(&block).ok()? as u32
            }
        };
        Some((nth << BLOCK_BITS) | (n as u32 & BLOCK_MASK))
    }

    /// How many blocks are held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.blocks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tenant_numbers_its_customers_from_1() {
        let counter = BlockCounter::default();
        let mut ids = IdBlocks::default();
        for slot in 0..5_000u32 {
            if ids.needs_block(slot) {
                ids.push(counter.take().unwrap());
            }
            assert_eq!(ids.id_of(slot), CustomerId(u64::from(slot) + 1));
            assert_eq!(ids.slot_of(CustomerId(u64::from(slot) + 1)), Some(slot));
        }
        assert_eq!(ids.len(), 5);
        assert_eq!(ids.slot_of(CustomerId(0)), None);
        // Past the blocks held.
        assert_eq!(ids.slot_of(CustomerId(5 * 1024 + 1)), None);
        assert_eq!(ids.slot_of(CustomerId(u64::MAX)), None);
    }

    #[test]
    fn interleaved_tenants_hold_disjoint_blocks_and_map_both_ways() {
        let counter = BlockCounter::default();
        let (mut a, mut b) = (IdBlocks::default(), IdBlocks::default());
        // a takes blocks 0, 1; then they alternate: b 2, a 3, b 4, a 5, ...
        let taken = |ids: &mut IdBlocks| ids.push(counter.take().unwrap());
        taken(&mut a);
        taken(&mut a);
        for _ in 0..20 {
            taken(&mut b);
            taken(&mut a);
        }
        assert_eq!((a.len(), b.len()), (22, 20));
        for slot in (0..22 * 1024)
            .step_by(7)
            .chain([1023, 1024, 2047, 2048, 22 * 1024 - 1])
        {
            let id = a.id_of(slot);
            assert_eq!(a.slot_of(id), Some(slot), "a's slot {slot}");
            assert_eq!(b.slot_of(id), None, "b does not hold a's id {id}");
        }
        for slot in (0..20 * 1024).step_by(5) {
            let id = b.id_of(slot);
            assert_eq!(b.slot_of(id), Some(slot), "b's slot {slot}");
            assert_eq!(a.slot_of(id), None);
        }
        // b's first customer is id 2 * 1024 + 1.
        assert_eq!(b.id_of(0), CustomerId(2049));
    }
}
