//! A customer slot: what the memory store keeps of one customer id ever assigned in a tenant,
//! in 48 bytes.
//!
//! A tenant's slots are numbered from 0 in the order its customers were created (the
//! customer ids they stand for are `ids`'s concern). A customer's fields, attributes, tags
//! and groups are packed into one small allocation (`packed`) and unpacked only on read. A
//! slot also heads the customer's lists elsewhere: the tail of its identity ring (`rings`)
//! and its newest event (`log`). A merged, deleted or erased customer keeps its slot, and its
//! [`Status`] says which. Times are kept as microseconds since the epoch, the engine's
//! precision.

use chrono::{DateTime, Utc};

pub(super) struct Slot {
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

/// [`CustomerStatus`](crate::model::CustomerStatus) in 8 bytes: a merge target is a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Active,
    MergedInto(u32),
    Deleted,
    Erased,
}

// The size the notes above promise (on 64-bit targets).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Slot>() == 48);

impl Slot {
    pub(super) fn is_active(&self) -> bool {
        self.status == Status::Active
    }
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn instant(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("stored from a DateTime")
}
