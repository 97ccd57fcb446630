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
//! A caller may also ask for its target customer as its resolve leaves it, read in the
//! batch's transaction right after its request (`Resolver::resolve_and_get`).
//!
//! A caller alone sees its own request resolved at once (a batch of one). An invalid request
//! gets its own error and the others go on; a failure of the whole batch (the store lost, a
//! conflict that outlasted every retry) reaches every caller in it.

use super::outcome::Outcome;
use crate::error::{Error, Result};
use crate::model::{Customer, ResolveRequest, TenantId};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;

type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

/// What a caller gets: its outcome, and its target customer as its resolve left it if it
/// asked.
type Answer = Result<(Outcome, Option<Customer>)>;

/// Resolves a batch of requests, reading back the targets of those marked, and hands each
/// its answer by index: the handle's batch resolution.
type ResolveBatch<'a> = dyn Fn(&[ResolveRequest], &[bool], &mut dyn FnMut(usize, Answer)) -> Result<()> + 'a;

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

/// A caller's request (and whether it wants its target read back), and the answer its batch
/// leaves for it.
struct Waiter {
    request: Mutex<Option<ResolveRequest>>,
    read_back: bool,
    outcome: Mutex<Option<Answer>>,
}

impl Groups {
    /// Resolves `request` in a batch with whatever else `tenant`'s callers have queued, with
    /// its target customer as its resolve leaves it if `read_back`: `resolve_batch` is the
    /// handle's batch resolution.
    pub(crate) fn resolve(
        &self,
        tenant: &TenantId,
        request: &ResolveRequest,
        read_back: bool,
        resolve_batch: impl Fn(&[ResolveRequest], &[bool], &mut dyn FnMut(usize, Answer)) -> Result<()>,
    ) -> Answer {
        let group = self.tenants.lock().entry(tenant.clone()).or_default().clone();
        let me = Arc::new(Waiter {
            request: Mutex::new(Some(request.clone())),
            read_back,
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
        let read_back: Vec<bool> = self.batch.iter().map(|w| w.read_back).collect();
        let batch = self.batch;
        let result = resolve_batch(&requests, &read_back, &mut |i, answer| {
            *batch[i].outcome.lock() = Some(answer);
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
