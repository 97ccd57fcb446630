//! An identity's space: its type and scope, interned, so that an entry names them in 4
//! bytes instead of two texts.
//!
//! A tenant uses few combinations of type and scope, and every request repeats them: each is
//! kept once in its tenant's tables (`intern`) and entries name it by number.

/// What an identity's key holds besides its value, interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Space {
    /// Index into `Tables::types`.
    pub(super) ty: u16,
    /// Index into `Tables::scopes`, or `NONE`.
    pub(super) scope: u32,
}
