//! Batch resolution: requests prepared a block at a time, planned and applied in order
//! inside one transaction.
//!
//! Preparing (steps 1 and 2) needs no store. For a large batch a thread of its own prepares
//! blocks of requests from the last one back, while this thread takes them from the first one
//! on, preparing any block the other has not taken up and planning and applying it: the work
//! balances between the two, and this thread waits only where they meet. A small batch is
//! prepared on this thread. Blocks and decisions are kept by the resolver between batches
//! ([`BatchScratch`]), so a batch allocates nothing per request.
//!
//! Planning (lookups, quarantine checks, limits, the target's new data) only reads. With
//! parallel planning on and a store whose transactions allow parallel reads, every request
//! that shares no identity with an earlier request of the batch is first planned against
//! the state the batch started from, on all cores. The plans are then applied in request
//! order. A plan stays exactly what one-by-one resolution would plan as long as nothing it
//! read has changed since the batch started: none of its identities was touched by an
//! earlier request of the batch (linked, matched, or given quarantine evidence) and none of
//! the customers its identities led to was written (a target or a merged customer).
//! Otherwise the request is planned again at its turn, against the current state.
//!
//! The dependency check works on key hashes: a collision only makes a request be planned
//! again, never makes a stale plan be applied.

use super::apply;
use super::decision::Decided;
use super::plan::{self, Plan};
use super::prepare::{self, Pool, Prep, Prepared};
use crate::error::{Error, Result};
use crate::history::Operation;
use crate::model::{CustomerId, HashedKey, ResolveRequest, TenantId};
use crate::settings::IdentitySettings;
use crate::store::Txn;
use chrono::{DateTime, Utc};
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

type FastSet<T> = hashbrown::HashSet<T, foldhash::fast::RandomState>;

/// Requests prepared per block.
pub(crate) const BLOCK: usize = 128;

/// How many requests ahead of its turn a request's keys are prefetched
/// ([`ReadTxn::prefetch`](crate::store::ReadTxn::prefetch)): far enough for memory to answer, near enough to stay in cache.
const PREFETCH_AHEAD: usize = 2;

/// Batches of at least this many requests, planned in order, get a thread of their own that
/// helps prepare them while they are planned and applied (below, a thread costs more than it
/// saves).
const STREAM_PREPARATION_FROM: usize = 512;

/// Consecutive requests of a batch, prepared, with the pool their identities sit in.
#[derive(Default)]
pub(crate) struct PreparedBlock {
    pool: Pool,
    items: Vec<Result<Prepared>>,
}

impl PreparedBlock {
    /// Prepares `requests` into this block, over what it held.
    fn fill(&mut self, settings: &IdentitySettings, requests: &[ResolveRequest]) {
        self.pool.clear();
        self.items.clear();
        for (i, request) in requests.iter().enumerate() {
            // Requests are often built on another thread (a parser's), so their identities
            // sit in another core's cache: each read of one is a wait. Two requests ahead,
            // their identities start loading; one ahead (their addresses arrived), the texts.
            if let Some(later) = requests.get(i + 2) {
                crate::prefetch::prefetch_slice(&later.identities, 8);
            }
            if let Some(next) = requests.get(i + 1) {
                for input in next.identities.iter().take(8) {
                    crate::prefetch::prefetch_slice(input.identity_type.as_bytes(), 1);
                    crate::prefetch::prefetch_slice(input.identity_value.as_bytes(), 1);
                }
            }
            let prepared = prepare::prepare(settings, request, &mut self.pool);
            self.items.push(prepared);
        }
    }

    /// Prepares one request into this block, over what it held.
    pub(crate) fn prepare_one(
        &mut self,
        settings: &IdentitySettings,
        request: &ResolveRequest,
    ) -> Result<Prep<'_>> {
        self.pool.clear();
        self.items.clear();
        let prepared = prepare::prepare(settings, request, &mut self.pool)?;
        self.items.push(Ok(prepared));
        Ok(self.prep(0).expect("just prepared"))
    }

    /// The `k`th request of the block, prepared; `None` if it failed to prepare or the block
    /// has no `k`th request.
    pub(crate) fn prep(&self, k: usize) -> Option<Prep<'_>> {
        match self.items.get(k)? {
            Ok(p) => Some(self.pool.prep(p)),
            Err(_) => None,
        }
    }

    /// The `k`th request's preparation error, taken out of the block.
    fn take_error(&mut self, k: usize) -> Option<Error> {
        if self.items[k].is_ok() {
            return None;
        }
        std::mem::replace(&mut self.items[k], Err(Error::handed_over())).err()
    }
}

/// What batches keep between calls, so that their memory is reused: blocks to prepare into,
/// and the blocks and decisions of the last batch (read by its outcomes).
#[derive(Default)]
pub(crate) struct BatchScratch {
    spare: Vec<PreparedBlock>,
    pub(crate) blocks: Vec<PreparedBlock>,
    pub(crate) decided: Vec<Result<Decided>>,
}

impl BatchScratch {
    /// Makes the last batch's blocks spare and forgets its decisions.
    pub(crate) fn recycle(&mut self) {
        self.spare.append(&mut self.blocks);
        self.decided.clear();
    }

    /// A block to prepare into.
    pub(crate) fn spare_block(&mut self) -> PreparedBlock {
        self.spare.pop().unwrap_or_default()
    }

    /// Gives a block back.
    pub(crate) fn give_back(&mut self, block: PreparedBlock) {
        self.spare.push(block);
    }

    /// The prepared request `i` of the last batch.
    pub(crate) fn prep(&self, i: usize) -> Option<Prep<'_>> {
        self.blocks[i / BLOCK].prep(i % BLOCK)
    }
}

/// What a batch resolves: a tenant's requests, with the tenant's settings and each
/// request's event time.
#[derive(Clone, Copy)]
pub(crate) struct Batch<'a> {
    pub(crate) settings: &'a IdentitySettings,
    pub(crate) tenant: &'a TenantId,
    pub(crate) requests: &'a [ResolveRequest],
    pub(crate) times: &'a [DateTime<Utc>],
    /// The requests whose target is read back right after they resolve (into their
    /// decision's `read_back`), if any.
    pub(crate) read_back: Option<&'a [bool]>,
}

/// Resolves a batch in order inside one transaction, leaving each request's decision (or its
/// input error) in `scratch.decided` and the prepared blocks in `scratch.blocks`. Any other
/// error aborts the batch.
pub(crate) fn run<T: Txn>(
    txn: &mut T,
    batch: Batch<'_>,
    scratch: &mut BatchScratch,
    parallel: bool,
) -> Result<()> {
    scratch.recycle();
    let requests = batch.requests;
    if parallel && requests.len() > 1 && txn.shared().is_some() {
        return run_planned_ahead(txn, batch, scratch);
    }
    let mut applier = Applier::new(batch);
    if requests.len() < STREAM_PREPARATION_FROM {
        for chunk in requests.chunks(BLOCK) {
            let mut block = scratch.spare_block();
            block.fill(batch.settings, chunk);
            scratch.blocks.push(block);
            let block = scratch.blocks.last_mut().expect("just pushed");
            applier.block(txn, block, &mut scratch.decided, &mut |_| None)?;
        }
        return Ok(());
    }
    // A thread of its own prepares blocks from the last one back, while this one takes them
    // from the first one on, preparing each that is not taken up yet and planning and applying
    // it: the work balances between the two, whichever is the busier, and this thread only
    // waits for a block where the two meet.
    let blocks = requests.len().div_ceil(BLOCK);
    let shared = Preparing {
        state: Mutex::new(Claims {
            front: 0,
            back: blocks,
            ready: (0..blocks).map(|_| None).collect(),
        }),
        arrived: Condvar::new(),
        spare: Mutex::new(std::mem::take(&mut scratch.spare)),
        stop: AtomicBool::new(false),
        finished: AtomicBool::new(false),
    };
    let chunk = |k: usize| &requests[k * BLOCK..((k + 1) * BLOCK).min(requests.len())];
    let settings = batch.settings;
    let result = std::thread::scope(|scope| {
        let shared = &shared;
        scope.spawn(move || {
            // However the thread ends, the planning one must not wait for it any more.
            let _finished = Finished(shared);
            while !shared.stop.load(Ordering::Relaxed) {
                let k = {
                    let mut claims = lock(&shared.state);
                    if claims.back <= claims.front {
                        break;
                    }
                    claims.back -= 1;
                    claims.back
                };
                let mut block = shared.spare_block();
                block.fill(settings, chunk(k));
                lock(&shared.state).ready[k] = Some(block);
                shared.arrived.notify_one();
            }
        });
        let mut result = Ok(());
        for k in 0..blocks {
            let mut claims = lock(&shared.state);
            let block = if claims.front < claims.back {
                // Not taken up yet: prepared here.
                claims.front += 1;
                drop(claims);
                let mut block = shared.spare_block();
                block.fill(settings, chunk(k));
                block
            } else {
                // Taken up by the other thread: prepared there, or soon.
                loop {
                    if let Some(block) = claims.ready[k].take() {
                        break block;
                    }
                    if shared.finished.load(Ordering::Acquire) {
                        // It ended without the block (it panicked): prepared here.
                        drop(claims);
                        let mut block = shared.spare_block();
                        block.fill(settings, chunk(k));
                        break block;
                    }
                    claims = shared.arrived.wait(claims).unwrap_or_else(|e| e.into_inner());
                }
            };
            scratch.blocks.push(block);
            let block = scratch.blocks.last_mut().expect("just pushed");
            result = applier.block(txn, block, &mut scratch.decided, &mut |_| None);
            if result.is_err() {
                // The other thread stops at its next block.
                shared.stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        result
    });
    // Blocks prepared for a batch that failed, and the unused spares, are kept for the next.
    let Preparing { state, spare, .. } = shared;
    scratch.spare = spare.into_inner().unwrap_or_else(|e| e.into_inner());
    let claims = state.into_inner().unwrap_or_else(|e| e.into_inner());
    scratch.spare.extend(claims.ready.into_iter().flatten());
    result
}

/// Which blocks of a large batch each of its two threads has taken up, and the ones the
/// preparing thread has made.
struct Claims {
    /// Blocks before this one are the planning thread's (prepared there or taken).
    front: usize,
    /// Blocks from this one on are the preparing thread's.
    back: usize,
    /// Blocks the preparing thread has made, by index, until the planning one takes them.
    ready: Vec<Option<PreparedBlock>>,
}

/// What the two threads preparing a large batch share.
struct Preparing {
    state: Mutex<Claims>,
    arrived: Condvar,
    spare: Mutex<Vec<PreparedBlock>>,
    /// Set when the batch failed.
    stop: AtomicBool,
    /// Set when the preparing thread has ended.
    finished: AtomicBool,
}

impl Preparing {
    fn spare_block(&self) -> PreparedBlock {
        lock(&self.spare).pop().unwrap_or_default()
    }
}

/// Marks the preparing thread ended when dropped, and wakes the planning one.
struct Finished<'a>(&'a Preparing);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        // Under the lock, so the planning thread cannot miss it between its check and its wait.
        let _claims = lock(&self.0.state);
        self.0.finished.store(true, Ordering::Release);
        self.0.arrived.notify_all();
    }
}

/// Locks a mutex, whether or not a thread panicked holding it (what it guards stays whole:
/// every change to it is a single assignment or `Vec` operation).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A plan made ahead of its request's turn, with what it decided.
type Ahead = Box<(Decided, Plan)>;

/// Plans and applies requests in order, tracking what they touch when plans made ahead of
/// their turn may have gone stale.
struct Applier<'a> {
    batch: Batch<'a>,
    /// The next request's index in the batch.
    next: usize,
    /// Whether to track what requests touch.
    track: bool,
    touched_keys: FastSet<u64>,
    touched_customers: FastSet<CustomerId>,
}

/// How many of a block's requests will create a customer, as the lookups a store made ahead
/// tell (answered from what it read, no round trip): those none of whose identities is owned
/// or carried by an earlier request of the block. A request refused later makes it one too
/// many.
fn expected_creates<T: Txn>(txn: &T, tenant: &TenantId, block: &PreparedBlock) -> Result<usize> {
    let mut carried: FastSet<u64> = FastSet::default();
    let mut creates = 0;
    for prep in (0..block.items.len()).filter_map(|k| block.prep(k)) {
        let mut found = (0..prep.len()).any(|j| carried.contains(&prep.hashed(j).hash));
        for j in 0..prep.len() {
            let key = prep.hashed(j);
            if !found && txn.lookup(tenant, key.key)?.owner.is_some() {
                found = true;
            }
            carried.insert(key.hash);
        }
        creates += usize::from(!found);
    }
    Ok(creates)
}

impl<'a> Applier<'a> {
    fn new(batch: Batch<'a>) -> Self {
        Self {
            batch,
            next: 0,
            track: false,
            touched_keys: FastSet::default(),
            touched_customers: FastSet::default(),
        }
    }

    /// Resolves a block's requests at their turn. `ahead(i)` gives the plan made ahead of
    /// request `i`'s turn, if one was.
    fn block<T: Txn>(
        &mut self,
        txn: &mut T,
        block: &mut PreparedBlock,
        decided: &mut Vec<Result<Decided>>,
        ahead: &mut dyn FnMut(usize) -> Option<Ahead>,
    ) -> Result<()> {
        // A store whose reads are round trips looks the whole block's identities up at once.
        if txn.warms() {
            let keys: Vec<HashedKey<'_>> = (0..block.items.len())
                .filter_map(|k| block.prep(k))
                .flat_map(|prep| (0..prep.len()).map(move |j| prep.hashed(j)))
                .collect();
            txn.warm(self.batch.tenant, &keys)?;
            let creates = expected_creates(txn, self.batch.tenant, block)?;
            txn.expect_creates(creates)?;
        }
        for k in 0..block.items.len() {
            // The index lines of a request a little ahead start loading now, and arrive while
            // this one resolves: a fresh key's lookup is otherwise a wait on memory.
            if let Some(soon) = block.prep(k + PREFETCH_AHEAD) {
                let keys: SmallVec<[HashedKey<'_>; 8]> = (0..soon.len()).map(|j| soon.hashed(j)).collect();
                txn.prefetch(self.batch.tenant, &keys);
            }
            let i = self.next;
            self.next += 1;
            if let Some(e) = block.take_error(k) {
                decided.push(Err(e));
                continue;
            }
            let prep = block.prep(k).expect("prepared");
            // Decided in its place in the list, so that it is never moved.
            decided.push(Ok(Decided::default()));
            let Some(Ok(slot)) = decided.last_mut() else {
                unreachable!("just pushed")
            };
            match self.one(txn, prep, i, ahead(i), slot) {
                Ok(()) => {}
                // Only input errors are per request; anything else is the store's.
                Err(e @ (Error::InvalidIdentity { .. } | Error::InvalidField { .. })) => {
                    *decided.last_mut().expect("just pushed") = Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn one<T: Txn>(
        &mut self,
        txn: &mut T,
        prep: Prep<'_>,
        i: usize,
        ahead: Option<Ahead>,
        decided: &mut Decided,
    ) -> Result<()> {
        let Batch {
            settings,
            tenant,
            requests,
            times,
            ..
        } = self.batch;
        let request = &requests[i];
        let fresh = |ahead: &Ahead| {
            !(0..prep.len()).any(|j| self.touched_keys.contains(&prep.hashed(j).hash))
                && !ahead.0.read().any(|c| self.touched_customers.contains(&c))
        };
        let plan = match ahead {
            Some(ahead) if fresh(&ahead) => {
                let (d, plan) = *ahead;
                *decided = d;
                plan
            }
            // Planned too early (something it read has changed), or not ahead: plan now.
            _ => plan::plan(txn, settings, tenant, request, prep, times[i], decided)?,
        };
        apply::apply(txn, tenant, plan, decided, prep, request, Operation::Resolve)?;
        if self.batch.read_back.is_some_and(|wanted| wanted[i])
            && let Some(id) = decided.customer
        {
            decided.read_back = txn.customer(tenant, id)?.map(|c| Box::new(c.into_owned()));
        }
        if self.track {
            self.touched_keys
                .extend((0..prep.len()).map(|j| prep.hashed(j).hash));
            self.touched_customers.extend(decided.customer);
            self.touched_customers.extend(decided.merged.iter().copied());
        }
        Ok(())
    }
}

/// Parallel planning: prepares every block on all cores, plans ahead (against the batch's
/// starting state) each request that shares no identity with an earlier one, then applies
/// in order, planning again whatever an earlier request changed.
fn run_planned_ahead<T: Txn>(txn: &mut T, batch: Batch<'_>, scratch: &mut BatchScratch) -> Result<()> {
    use rayon::prelude::*;
    let Batch {
        settings,
        tenant,
        requests,
        times,
        ..
    } = batch;
    let chunks: Vec<&[ResolveRequest]> = requests.chunks(BLOCK).collect();
    let mut blocks: Vec<PreparedBlock> = chunks.iter().map(|_| scratch.spare_block()).collect();
    blocks
        .par_iter_mut()
        .zip(chunks.par_iter())
        .for_each(|(block, chunk)| block.fill(settings, chunk));
    scratch.blocks = blocks;
    let preps: Vec<Option<Prep<'_>>> = (0..requests.len()).map(|i| scratch.prep(i)).collect();
    // Only requests that share no identity with an earlier one are worth planning ahead.
    let mut seen: FastSet<u64> = FastSet::default();
    let independent: Vec<bool> = preps
        .iter()
        .map(|p| {
            let Some(p) = p else { return false };
            let hashes = || (0..p.len()).map(|j| p.hashed(j).hash);
            let fresh = !hashes().any(|h| seen.contains(&h));
            seen.extend(hashes());
            fresh
        })
        .collect();
    let ahead: Vec<Option<Ahead>> = {
        let shared = txn.shared().expect("checked by the caller");
        preps
            .par_iter()
            .zip(independent.par_iter())
            .enumerate()
            .with_min_len(64)
            .map(|(i, (prep, independent))| match prep {
                // A failed plan is made again at its turn: what it read is unknown.
                Some(prep) if *independent => {
                    let mut decided = Decided::default();
                    plan::plan(
                        shared,
                        settings,
                        tenant,
                        &requests[i],
                        *prep,
                        times[i],
                        &mut decided,
                    )
                    .ok()
                    .map(|plan| Box::new((decided, plan)))
                }
                _ => None,
            })
            .collect()
    };
    drop(preps);
    let mut ahead: Vec<Option<Ahead>> = ahead;
    let mut applier = Applier::new(batch);
    applier.track = ahead.iter().any(Option::is_some);
    let mut blocks = std::mem::take(&mut scratch.blocks);
    let mut result = Ok(());
    for block in &mut blocks {
        result = applier.block(txn, block, &mut scratch.decided, &mut |i| ahead[i].take());
        if result.is_err() {
            break;
        }
    }
    scratch.blocks = blocks;
    result
}
