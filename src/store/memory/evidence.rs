//! Quarantine evidence as text, kept by a tenant made for a bulk load (`export`): the tenant's
//! own evidence table keeps only hashes, which cannot be written out.

use crate::model::IdentityKey;

/// One piece of quarantine evidence as text: the suspect identity and the conflicting one,
/// each `[type, scope ("" for none), value]`.
pub(crate) struct Evidence {
    pub(crate) suspect: [Box<str>; 3],
    pub(crate) conflicting: [Box<str>; 3],
}

impl Evidence {
    pub(super) fn new(suspect: IdentityKey<'_>, conflicting: IdentityKey<'_>) -> Self {
        let text = |k: IdentityKey<'_>| {
            [
                k.identity_type.into(),
                k.scope.unwrap_or("").into(),
                k.value.into(),
            ]
        };
        Self {
            suspect: text(suspect),
            conflicting: text(conflicting),
        }
    }
}
