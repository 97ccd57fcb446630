//! Group commit: resolves that arrive together share one transaction and one commit.
//!
//! A durable store pays for each commit with a flush to disk, which costs far more than the
//! work of a resolve. Callers of [`Resolver::resolve`](super::Resolver::resolve) on a handle
//! with group commit on queue their requests per tenant; one of the waiting callers becomes
//! the leader, takes every queued request (up to [`MAX_BATCH`]) and resolves them with
//! `resolve_batch` (one transaction, the outcomes of one-by-one resolution in queue order),
//! then hands each caller its own outcome once the batch is committed, that is once it is
//! durable. Requests that arrive while a batch runs form the next one. Up to [`MAX_LEADERS`]
//! batches of one tenant run at once, so that one batch's reads overlap another's flush.
//!
//! A caller alone sees its own request resolved at once (a batch of one). An invalid request
//! gets its own error and the others go on; a failure of the whole batch (the store lost, a
//! conflict that outlasted every retry) reaches every caller in it.

use super::outcome::Outcome;
use crate::error::{Error, Result};
use crate::model::{ResolveRequest, TenantId};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;

type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

/// Resolves a batch of requests, handing each its outcome by index: the handle's
/// `resolve_batch_with`.
type ResolveBatch<'a> = dyn Fn(&[ResolveRequest], &mut dyn FnMut(usize, Result<Outcome>)) -> Result<()> + 'a;

/// The most requests one batch takes.
pub(crate) const MAX_BATCH: usize = 64;

/// The most batches of one tenant in flight at once.
pub(crate) const MAX_LEADERS: usize = 2;

/// The queues of a handle's tenants.
#[derive(Default)]
pub(crate) struct Groups {
    tenants: Mutex<FastMap<TenantId, Arc<Group>>>,
}

/// One tenant's queue.
#[derive(Default)]
struct Group {
    state: Mutex<Queue>,
    /// Signalled when a batch ends: its callers have their outcomes, and a waiting caller may
    /// lead the next.
    done: Condvar,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Arc<Waiter>>,
    leaders: usize,
}

/// A caller's request, and the outcome its batch leaves for it.
struct Waiter {
    request: Mutex<Option<ResolveRequest>>,
    outcome: Mutex<Option<Result<Outcome>>>,
}

impl Groups {
    /// Resolves `request` in a batch with whatever else `tenant`'s callers have queued:
    /// `resolve_batch` is the handle's batch resolution.
    pub(crate) fn resolve(
        &self,
        tenant: &TenantId,
        request: &ResolveRequest,
        resolve_batch: impl Fn(&[ResolveRequest], &mut dyn FnMut(usize, Result<Outcome>)) -> Result<()>,
    ) -> Result<Outcome> {
        let group = self.tenants.lock().entry(tenant.clone()).or_default().clone();
        let me = Arc::new(Waiter {
            request: Mutex::new(Some(request.clone())),
            outcome: Mutex::new(None),
        });
        let mut queue = group.state.lock();
        queue.waiting.push_back(me.clone());
        loop {
            if let Some(outcome) = me.outcome.lock().take() {
                return outcome;
            }
            if queue.leaders < MAX_LEADERS && !queue.waiting.is_empty() {
                queue.leaders += 1;
                let take = queue.waiting.len().min(MAX_BATCH);
                let batch: Vec<Arc<Waiter>> = queue.waiting.drain(..take).collect();
                drop(queue);
                // However the batch ends, its callers get an outcome and a leader slot frees.
                let lead = Lead {
                    group: &group,
                    batch: &batch,
                };
                lead.run(&resolve_batch);
                drop(lead);
                queue = group.state.lock();
                continue;
            }
            group.done.wait(&mut queue);
        }
    }
}

/// A batch being led: when it ends, even by a panic, every caller in it has an outcome and
/// the waiting callers are woken.
struct Lead<'a> {
    group: &'a Group,
    batch: &'a [Arc<Waiter>],
}

impl Lead<'_> {
    fn run(&self, resolve_batch: &ResolveBatch<'_>) {
        let requests: Vec<ResolveRequest> = self
            .batch
            .iter()
            .map(|w| w.request.lock().take().expect("a queued request is taken once"))
            .collect();
        let batch = self.batch;
        let result = resolve_batch(&requests, &mut |i, outcome| {
            *batch[i].outcome.lock() = Some(outcome);
        });
        if let Err(e) = result {
            for w in batch {
                *w.outcome.lock() = Some(Err(e.duplicate()));
            }
        }
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        for w in self.batch {
            let mut outcome = w.outcome.lock();
            if outcome.is_none() {
                *outcome = Some(Err(Error::Invariant(
                    "the batch this request was resolved in ended without an outcome for it".into(),
                )));
            }
        }
        self.group.state.lock().leaders -= 1;
        self.group.done.notify_all();
    }
}
