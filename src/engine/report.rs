//! The quarantine report (SEMANTICS §7): a tenant's quarantined values with their evidence.

use super::resolver::Resolver;
use crate::clock::Clock;
use crate::error::Result;
use crate::model::TenantId;
use crate::quarantine::QuarantinedValue;
use crate::store::{ReadTxn, Store};

impl<S: Store, C: Clock> Resolver<S, C> {
    /// The tenant's quarantined values: every value a live customer holds that has as much
    /// evidence as the tenant's quarantine threshold (none when quarantine is off), each
    /// with its holder and the evidence against it, oldest first. Sorted by value (type,
    /// scope, value). Evidence about values nobody holds is kept, but not listed.
    pub fn quarantined(&self, tenant: &TenantId) -> Result<Vec<QuarantinedValue>> {
        self.reading(tenant, "quarantined", |txn| {
            let settings = self.settings.current(txn, tenant, &self.defaults)?.settings;
            let Some(threshold) = settings.quarantine_after() else {
                return Ok(Vec::new());
            };
            let mut evidence = txn.evidence(tenant)?;
            evidence.sort_by(|(a, x), (b, y)| {
                (a.key(), x.at.is_none(), x.at, x.identity.key()).cmp(&(
                    b.key(),
                    y.at.is_none(),
                    y.at,
                    y.identity.key(),
                ))
            });
            let mut out: Vec<QuarantinedValue> = Vec::new();
            let mut pieces = evidence.into_iter().peekable();
            while let Some((suspect, first)) = pieces.next() {
                let mut against = vec![first];
                while let Some((_, next)) = pieces.next_if(|(s, _)| s.key() == suspect.key()) {
                    against.push(next);
                }
                let found = txn.lookup(tenant, suspect.key())?;
                if let Some(owner) = found.owner
                    && found.suspicion >= threshold
                {
                    out.push(QuarantinedValue {
                        identity: suspect,
                        owner,
                        evidence: against,
                    });
                }
            }
            Ok(out)
        })
    }
}
