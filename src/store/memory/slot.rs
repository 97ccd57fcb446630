//! A customer slot: what the memory store keeps of one customer id ever assigned in a tenant,
//! in 48 bytes.
//!
//! A tenant's slots are numbered from 0 in the order its customers were created (the
//! customer ids they stand for are `ids`'s concern). A customer's fields, attributes, tags
//! and groups are packed into one small allocation (`packed`) and unpacked only on read. A
//! slot also heads the customer's lists elsewhere: the tail of its identity ring (`rings`)
//! and its newest event (`log`), and counts the ring's entries (`held`). A merged, deleted or
//! erased customer keeps its slot, and its [`Status`] says which. Times are kept as microseconds since the epoch, the engine's
//! precision.

use chrono::{DateTime, Utc};

pub(super) struct Slot {
    /// The tail of this customer's identity ring (including merged customers'), or `NONE`.
    pub(super) ring: u32,
    /// This slot's newest event in the log, or `NONE`.
    pub(super) last_event: u32,
    /// How many entries the ring holds; for a merged slot (whose ring is empty), the slot it
    /// was merged into. One field for both keeps the slot at 48 bytes.
    len_or_into: u32,
    state: State,
    /// Microseconds since the epoch, like every time the store keeps.
    pub(super) created: i64,
    pub(super) updated: i64,
    /// Fields, attributes, tags and groups, packed; `None` when it has none.
    pub(super) data: Option<Box<[u8]>>,
}

/// [`CustomerStatus`](crate::model::CustomerStatus), as read from a slot: a merge target is a
/// slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Active,
    MergedInto(u32),
    Deleted,
    Erased,
}

/// What a slot keeps of its [`Status`] beside `len_or_into`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum State {
    Active,
    Merged,
    Deleted,
    Erased,
}

// The size the notes above promise (on 64-bit targets).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Slot>() == 48);

impl Slot {
    /// A new active customer's slot, with no identities and no events yet.
    pub(super) fn new(micros: i64, data: Option<Box<[u8]>>) -> Self {
        Self {
            ring: super::arena::NONE,
            last_event: super::arena::NONE,
            len_or_into: 0,
            state: State::Active,
            created: micros,
            updated: micros,
            data,
        }
    }

    pub(super) fn is_active(&self) -> bool {
        self.state == State::Active
    }

    pub(super) fn status(&self) -> Status {
        match self.state {
            State::Active => Status::Active,
            State::Merged => Status::MergedInto(self.len_or_into),
            State::Deleted => Status::Deleted,
            State::Erased => Status::Erased,
        }
    }

    /// How many entries its ring holds (none once merged, deleted or erased).
    #[inline]
    pub(super) fn ring_len(&self) -> u32 {
        match self.state {
            State::Merged => 0,
            _ => self.len_or_into,
        }
    }

    /// Records a new length of its ring (a live slot's).
    #[inline]
    pub(super) fn set_ring_len(&mut self, len: u32) {
        self.len_or_into = len;
    }

    /// Marks it merged into slot `into`: its ring has gone to `into`'s.
    pub(super) fn set_merged_into(&mut self, into: u32) {
        self.state = State::Merged;
        self.len_or_into = into;
    }

    /// Marks it deleted or erased: its ring has been emptied.
    pub(super) fn set_gone(&mut self, erased: bool) {
        self.state = if erased { State::Erased } else { State::Deleted };
        self.len_or_into = 0;
    }
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn instant(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).expect("stored from a DateTime")
}
