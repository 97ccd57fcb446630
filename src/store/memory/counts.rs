//! The counts a large customer's ring keeps by space (type and scope): plain data, kept in
//! `Tables::held` and maintained by `held`.

use smallvec::SmallVec;

/// The longest ring that is walked rather than counted.
pub(super) const SMALL_RING: u32 = 8;

/// How many entries of one space a large ring holds, and the oldest of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HeldSpace {
    pub(super) space: u32,
    pub(super) count: u32,
    /// The lowest entry number (entries are numbered in link order).
    pub(super) first: u32,
}

/// A large ring's counts, one per space it holds, in no particular order.
pub(super) type Held = SmallVec<[HeldSpace; 2]>;
