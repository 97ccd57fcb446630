//! A history event as the memory store keeps it: 24 bytes in an append-only log.
//!
//! Each slot points at its newest event and each event at the slot's previous one, so
//! recording an event allocates nothing, and an event's index in the log is its recording
//! order. A link event points at its identity entry instead of copying the identity, and a
//! merge event at the other slot. Causes are kept apart and shared: consecutive events of one
//! request name the same [`StoredCause`].

use super::arena::TextRef;
use crate::history::Operation;

pub(super) struct Event {
    /// Microseconds since the epoch (the engine keeps times to the microsecond).
    pub(super) at: i64,
    /// Index into `Tables::causes`.
    pub(super) cause: u32,
    /// The same slot's previous event, or `NONE`.
    pub(super) prev: u32,
    pub(super) kind: Kind,
}

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Created,
    /// The linked entry (every link has an entry of its own).
    Linked(u32),
    /// The unlinked entry (an unlinked entry is never linked again: a new link of the value
    /// gets a new entry).
    Unlinked(u32),
    /// The slot merged into this one.
    Merged(u32),
    /// The slot this one was merged into.
    MergedInto(u32),
    Deleted,
    Erased,
}

// The size the notes above promise (on 64-bit targets).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Event>() == 24);

/// A cause as stored: the operation and, if any, its reference in the cause arena.
pub(super) struct StoredCause {
    pub(super) reference: TextRef,
    pub(super) has_reference: bool,
    pub(super) operation: Operation,
}
