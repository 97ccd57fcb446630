//! An identity entry: one link of an identity to a customer, in 48 bytes.
//!
//! An entry names its interned type and scope in 4 bytes (`space`) and keeps a value of up
//! to 30 bytes in place (nearly all are: phone numbers, ids, openids), so reading an entry
//! reads no text elsewhere; longer values go to a text arena (`arena`). It records the slot
//! it was linked to; its live owner is that slot's union-find root (`rings`), so a merge moves
//! every identity at once without touching them. Entries are added in link order (a new link
//! always gets a new entry), so their numbers order a customer's identities.

use super::arena::ShortText;

pub(super) struct Entry {
    /// Index into `Tables::spaces`: the identity's type and scope.
    pub(super) space: u32,
    /// Index into `Tables::names`, or `NONE`.
    pub(super) name: u32,
    /// Slot the identity was linked to; the live owner is its union-find root.
    /// `NONE` when released.
    pub(super) linked_to: u32,
    /// Next entry in the owner's ring.
    pub(super) next: u32,
    /// `ERASED` and `SUSPECTED` bits.
    pub(super) flags: u8,
    /// Scrubbed, and read as `[erased]`, once erased.
    pub(super) value: ShortText,
}

/// The value was erased.
pub(super) const ERASED_BIT: u8 = 1;
/// `Tables::suspicion_counts` holds a count for the entry (rare: most have none, and a lookup
/// of those reads nothing more).
pub(super) const SUSPECTED_BIT: u8 = 2;

/// What an erased identity reads as.
pub(super) const ERASED: &str = "[erased]";

// The size the notes above promise (on 64-bit targets).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Entry>() == 48);
