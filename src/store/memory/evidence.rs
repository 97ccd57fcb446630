//! Quarantine evidence as text, with when and why it came: what the quarantine report lists
//! and what a bulk load writes out (`export`). The tenant's evidence set keeps only hashes,
//! which cannot be read back.

use crate::error::{Error, Result};
use crate::history::Cause;
use crate::model::{Identity, IdentityKey, IdentityType};
use crate::quarantine::Contradiction;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// One piece of quarantine evidence as text: the suspect identity and the conflicting one,
/// each `[type, scope ("" for none), value]`, and the time and cause of the request.
pub(crate) struct Evidence {
    pub(crate) suspect: [Box<str>; 3],
    pub(crate) conflicting: [Box<str>; 3],
    pub(crate) at: DateTime<Utc>,
    pub(crate) cause: Cause,
}

impl Evidence {
    pub(super) fn new(
        suspect: IdentityKey<'_>,
        conflicting: IdentityKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Self {
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
            at,
            cause: cause.clone(),
        }
    }

    /// The hashes of the suspect's and the conflicting identity's keys.
    pub(super) fn hashes(&self) -> (u64, u64) {
        (key(&self.suspect).hash64(), key(&self.conflicting).hash64())
    }

    /// As the quarantine report lists it.
    pub(super) fn listed(&self) -> Result<(Identity, Contradiction)> {
        Ok((
            identity(&self.suspect)?,
            Contradiction {
                identity: identity(&self.conflicting)?,
                at: Some(self.at),
                cause: Some(self.cause.clone()),
            },
        ))
    }

    /// Overwrites the texts in memory (erasure), consuming them.
    pub(super) fn scrub(self) {
        for part in self.suspect.into_iter().chain(self.conflicting) {
            let mut bytes = part.into_boxed_bytes();
            bytes.fill(0);
            std::hint::black_box(&bytes);
        }
    }
}

fn key(parts: &[Box<str>; 3]) -> IdentityKey<'_> {
    IdentityKey {
        identity_type: &parts[0],
        scope: (!parts[1].is_empty()).then_some(&*parts[1]),
        value: &parts[2],
    }
}

fn identity(parts: &[Box<str>; 3]) -> Result<Identity> {
    Ok(Identity {
        identity_type: IdentityType::new(&parts[0])
            .ok_or_else(|| Error::Invariant(format!("evidence of an invalid type {:?}", parts[0])))?,
        scope: (!parts[1].is_empty()).then(|| Arc::from(&*parts[1])),
        identity_value: (&*parts[2]).into(),
        identity_name: None,
    })
}
