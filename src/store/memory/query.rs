//! Queries and counts: answered from the query indexes (`filter_index`), the slots and their
//! packed bytes, building only the customers of the page.
//!
//! A query's plan takes the narrowest source its filter names: an id list's slots, the
//! holders of a value, a range of creation or update times, or every slot. When that source
//! is the filter's only criterion, its size is the exact total, and the page is a walk along
//! the sort's order that stops when the page is full (along the source itself when it is in
//! that order, else along the order, for at most an eighth as many candidates as the source
//! holds, which need no test).
//! Otherwise every candidate of the source is tested, for the total, and the best
//! `offset + size` are kept in a bounded heap (`Best`), as slot numbers beside their times or
//! packed fields, so a query's memory is that of its page. A filter is tested where the data
//! lies: status, times and ids from the slot, fields from the packed bytes; only a tag or
//! group criterion unpacks a customer, and only one that passed every other criterion.

use super::filter_index::{Column, Posting, Value};
use super::packed::{self, Packed};
use super::slot::Slot;
use super::tables::Tables;
use crate::model::Field;
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery, SortKey};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;
use std::ops::ControlFlow;

/// A walk along a query's order instead of its source's candidates tests at most this
/// fraction of them before it gives up for them.
const WALK_SHARE: usize = 8;

/// How many slots ahead a scan that reads packed fields starts loading them.
const PREFETCH_AHEAD: u32 = 16;

/// A filter, ready to test slots.
struct Matcher<'a> {
    filter: &'a CustomerFilter,
    created: (i64, i64),
    updated: (i64, i64),
    /// The slots an id list names, ascending, without repeats.
    slots: Option<Vec<u32>>,
    /// Whether anything beyond being live and the id list is asked.
    fields: bool,
    /// Whether a tag or group is asked (those are unpacked).
    extras: bool,
}

/// The microseconds from which (inclusive) and to which (inclusive) times are in range:
/// times are kept to the microsecond, bounds may carry nanoseconds.
fn bounds(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> (i64, i64) {
    let from = from.map_or(i64::MIN, |f| {
        f.timestamp_micros() + i64::from(f.timestamp_subsec_nanos() % 1_000 != 0)
    });
    (from, to.map_or(i64::MAX, |t| t.timestamp_micros()))
}

impl<'a> Matcher<'a> {
    fn new(s: &Tables, filter: &'a CustomerFilter) -> Self {
        let slots = filter.ids.as_ref().map(|ids| {
            let mut slots: Vec<u32> = ids
                .iter()
                .filter_map(|&id| s.ids.slot_of(id))
                .filter(|&slot| slot < s.slots.len())
                .collect();
            slots.sort_unstable();
            slots.dedup();
            slots
        });
        let f = filter;
        let extras = f.group.is_some() || f.tag.is_some();
        Self {
            filter,
            created: bounds(f.created_from, f.created_to),
            updated: bounds(f.updated_from, f.updated_to),
            slots,
            fields: extras
                || f.created_from.is_some()
                || f.created_to.is_some()
                || f.updated_from.is_some()
                || f.updated_to.is_some()
                || f.search.is_some()
                || f.gender.is_some()
                || f.stage.is_some()
                || f.source.is_some()
                || f.mobile.is_some()
                || f.email.is_some(),
            extras,
        }
    }

    /// Whether the customer in slot `ix` is live and matches (`CustomerFilter::matches`), the
    /// id list aside: candidates come from it.
    fn matches(&self, s: &Tables, ix: u32, slot: &Slot) -> bool {
        if !slot.is_active() {
            return false;
        }
        if !self.fields {
            return true;
        }
        let f = self.filter;
        let within = |t: i64, (from, to): (i64, i64)| from <= t && t <= to;
        if !(within(slot.created, self.created) && within(slot.updated, self.updated)) {
            return false;
        }
        // The packed bytes are the scan's cache misses: start loading those a few slots on.
        if let Some(ahead) = s.slots.get(ix.wrapping_add(PREFETCH_AHEAD))
            && let Some(bytes) = ahead.data.as_deref()
            && let Some(first) = bytes.first()
        {
            crate::prefetch::prefetch(first);
        }
        let data = slot.data.as_deref();
        let text_is = |field: Field, want: &str| {
            packed::field(data, field).is_some_and(|v| v.text() == Some(want.as_bytes()))
        };
        if let Some(key) = f.search.as_deref() {
            let found = [Field::Mobile, Field::NickName, Field::Name]
                .iter()
                .any(|&field| {
                    packed::field(data, field)
                        .and_then(|v| {
                            v.text()
                                .map(|b| std::str::from_utf8(b).is_ok_and(|t| t.contains(key)))
                        })
                        .unwrap_or(false)
                });
            if !found {
                return false;
            }
        }
        if let Some(g) = f.gender {
            let have = packed::field(data, Field::Gender)
                .and_then(|v: Packed<'_>| v.int())
                .unwrap_or(0);
            if have != g {
                return false;
            }
        }
        if let Some(stage) = f.stage.as_deref() {
            let ok = if stage.is_empty() {
                packed::field(data, Field::Stage).is_none_or(|v| v.text().is_none_or(<[u8]>::is_empty))
            } else {
                text_is(Field::Stage, stage)
            };
            if !ok {
                return false;
            }
        }
        let equal = |want: &Option<String>, field: Field| want.as_deref().is_none_or(|w| text_is(field, w));
        if !(equal(&f.source, Field::Source)
            && equal(&f.mobile, Field::Mobile)
            && equal(&f.email, Field::Email))
        {
            return false;
        }
        if self.extras {
            if !packed::has_extras(data) {
                return false;
            }
            let c = s.customer_at(ix);
            if !(f.group.is_none_or(|g| c.groups.contains(&g))
                && f.tag.as_deref().is_none_or(|t| c.tags.iter().any(|x| x == t)))
            {
                return false;
            }
        }
        true
    }
}

/// The best `k` items by `cmp` among those offered: a binary heap with the worst kept on
/// top, so an item no better than it costs one comparison and a better one `log k`.
struct Best<T, F> {
    k: usize,
    heap: Vec<T>,
    cmp: F,
}

impl<T, F: Fn(&T, &T) -> Ordering> Best<T, F> {
    fn new(k: usize, cmp: F) -> Self {
        Self {
            k,
            heap: Vec::new(),
            cmp,
        }
    }

    fn offer(&mut self, item: T) {
        let cmp = &self.cmp;
        let heap = &mut self.heap;
        if heap.len() < self.k {
            // Sift up: the worse of parent and child on top.
            heap.push(item);
            let mut at = heap.len() - 1;
            while at > 0 {
                let parent = (at - 1) / 2;
                if cmp(&heap[at], &heap[parent]) != Ordering::Greater {
                    break;
                }
                heap.swap(at, parent);
                at = parent;
            }
        } else if self.k > 0 && cmp(&item, &heap[0]) == Ordering::Less {
            // Replaces the worst kept, and sifts down.
            heap[0] = item;
            let mut at = 0;
            loop {
                let (l, r) = (2 * at + 1, 2 * at + 2);
                let mut worst = at;
                if l < heap.len() && cmp(&heap[l], &heap[worst]) == Ordering::Greater {
                    worst = l;
                }
                if r < heap.len() && cmp(&heap[r], &heap[worst]) == Ordering::Greater {
                    worst = r;
                }
                if worst == at {
                    break;
                }
                heap.swap(at, worst);
                at = worst;
            }
        }
    }

    /// What was kept, best first.
    fn into_sorted(self) -> Vec<T> {
        let mut kept = self.heap;
        kept.sort_unstable_by(&self.cmp);
        kept
    }
}

/// Where a query's candidates come from: the narrowest of what its filter names.
#[derive(Clone, Copy)]
enum Source<'s> {
    /// Every slot, in id order.
    All,
    /// The slots of an id list, ascending.
    Ids(&'s [u32]),
    /// The holders of a value, ascending.
    Posting(&'s Posting),
    /// The ranks `from..to` of a time index (`created` or updated), in time order.
    Times { created: bool, from: usize, to: usize },
    /// Nobody: a value no customer holds.
    Nobody,
}

/// A query's plan: its source, how many candidates that is, and the total when the source
/// is the filter's only criterion and answers it exactly (no candidate then needs testing
/// to know it).
struct Plan<'s> {
    source: Source<'s>,
    candidates: usize,
    total: Option<u64>,
}

/// The order a query's page is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    Id,
    Time { created: bool },
}

impl<'s> Source<'s> {
    /// Whether it lists its candidates in `order`.
    fn is_in(&self, order: Order) -> bool {
        match (self, order) {
            (Source::Times { created, .. }, Order::Time { created: c }) => *created == c,
            (Source::Times { .. }, Order::Id) => false,
            (_, Order::Id) => true,
            (Source::Nobody, _) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Candidates a query visited on this thread, for tests of what a query costs.
    pub(super) static VISITED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// What a walk along an order found: the page's slots, and, when it walked to the end, how
/// many matched in all.
struct Walk {
    page: Vec<u32>,
    matched: Option<u64>,
}

impl Tables {
    /// The narrowest source for `m`'s filter (an id list; a value's holders; a time range;
    /// or every slot), and the total when that answers it.
    fn plan<'s>(&'s self, m: &'s Matcher<'_>) -> Plan<'s> {
        if let Some(slots) = &m.slots {
            return Plan {
                source: Source::Ids(slots),
                candidates: slots.len(),
                total: None,
            };
        }
        let f = m.filter;
        let index = self.filters.get(&self.slots);
        let nobody = Plan {
            source: Source::Nobody,
            candidates: 0,
            total: Some(0),
        };
        let mut values: Vec<(Column, Value<'_>)> = Vec::new();
        if let Some(g) = f.gender {
            values.push((Column::Gender, Value::Int(g)));
        }
        if let Some(g) = f.group {
            values.push((Column::Group, Value::Int(g)));
        }
        for (column, text) in [
            (Column::Stage, &f.stage),
            (Column::Source, &f.source),
            (Column::Mobile, &f.mobile),
            (Column::Email, &f.email),
            (Column::Tag, &f.tag),
        ] {
            if let Some(t) = text {
                values.push((column, Value::Text(t.as_bytes())));
            }
        }
        // (source, candidates, whether every candidate matches its criterion)
        let mut options: Vec<(Source<'s>, usize, bool)> = Vec::new();
        for (column, value) in values {
            let key = index.key(column, value);
            let Some(posting) = index.posting(key) else {
                return nobody;
            };
            let exact = !posting.is_mixed();
            // An unmixed posting's members all hold one value: this one, or another of its hash.
            if exact && !index.holds_only(&self.slots[posting.first()], column, value, key) {
                return nobody;
            }
            options.push((Source::Posting(posting), posting.len(), exact));
        }
        for (created, (from, to), set) in [
            (
                true,
                m.created,
                f.created_from.is_some() || f.created_to.is_some(),
            ),
            (
                false,
                m.updated,
                f.updated_from.is_some() || f.updated_to.is_some(),
            ),
        ] {
            if !set {
                continue;
            }
            if from > to {
                return nobody;
            }
            let times = if created { &index.created } else { &index.updated };
            let (from, to) = (times.rank(&(from, 0), false), times.rank(&(to, u32::MAX), true));
            options.push((Source::Times { created, from, to }, to - from, true));
        }
        let criteria = options.len() + usize::from(f.search.is_some());
        match options.into_iter().min_by_key(|(_, n, _)| *n) {
            None if criteria == 0 => Plan {
                source: Source::All,
                candidates: self.slots.len() as usize,
                total: Some(u64::from(self.live)),
            },
            None => Plan {
                source: Source::All,
                candidates: self.slots.len() as usize,
                total: None,
            },
            Some((source, candidates, exact)) => Plan {
                source,
                candidates,
                total: (exact && criteria == 1).then_some(candidates as u64),
            },
        }
    }

    /// Calls `each` with the source's candidates, in its order (reversed if `descending`),
    /// until it breaks.
    fn candidates(&self, source: Source<'_>, descending: bool, mut each: impl FnMut(u32) -> ControlFlow<()>) {
        let mut each = |ix| {
            #[cfg(test)]
            VISITED.set(VISITED.get() + 1);
            each(ix)
        };
        match source {
            Source::Nobody => {}
            Source::All if !descending => {
                let _ = (0..self.slots.len()).try_for_each(each);
            }
            Source::All => {
                let _ = (0..self.slots.len()).rev().try_for_each(each);
            }
            Source::Ids(slots) if !descending => {
                let _ = slots.iter().try_for_each(|&ix| each(ix));
            }
            Source::Ids(slots) => {
                let _ = slots.iter().rev().try_for_each(|&ix| each(ix));
            }
            Source::Posting(p) => p.walk(0, usize::MAX, descending, each),
            Source::Times { created, from, to } => {
                let index = self.filters.get(&self.slots);
                let times = if created { &index.created } else { &index.updated };
                times.walk(from, to, descending, |(_, ix)| each(ix));
            }
        }
    }

    /// Whether slot `ix` matches the filter; `exact`: it is a candidate of a source that
    /// answers the filter, so it does.
    fn test(&self, m: &Matcher<'_>, ix: u32, exact: bool) -> bool {
        exact || m.matches(self, ix, &self.slots[ix])
    }

    /// Walks `source` in its order, keeping the matches of ranks `offset..k`: to the end
    /// (counting every match), or, with `stop`, until the page is full; and gives up after
    /// `budget` candidates. `exact`: every candidate matches.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        m: &Matcher<'_>,
        source: Source<'_>,
        descending: bool,
        (offset, k): (usize, usize),
        stop: bool,
        budget: usize,
        exact: bool,
    ) -> Option<Walk> {
        let (mut page, mut seen, mut tested) = (Vec::new(), 0usize, 0usize);
        let mut complete = true;
        self.candidates(source, descending, |ix| {
            if tested == budget {
                complete = false;
                return ControlFlow::Break(());
            }
            tested += 1;
            if self.test(m, ix, exact) {
                if (offset..k).contains(&seen) {
                    page.push(ix);
                }
                seen += 1;
                if stop && seen >= k {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        let full = stop && seen >= k;
        (complete || full).then_some(Walk {
            page,
            matched: (complete && !full).then_some(seen as u64),
        })
    }

    /// The best `k` matching candidates of `source` by `cmp` (`key` reads what it compares),
    /// and how many matched. `exact`: every candidate matches.
    fn best_of<T>(
        &self,
        (m, exact): (&Matcher<'_>, bool),
        source: Source<'_>,
        k: usize,
        key: impl Fn(u32) -> T,
        cmp: impl Fn(&T, &T) -> Ordering,
    ) -> (Vec<T>, u64) {
        let mut best = Best::new(k, cmp);
        let mut total = 0;
        self.candidates(source, false, |ix| {
            if self.test(m, ix, exact) {
                total += 1;
                best.offer(key(ix));
            }
            ControlFlow::Continue(())
        });
        (best.into_sorted(), total)
    }

    /// A page of the live customers matching `query`'s filter, in its order, and how many
    /// match (as `CustomerQuery::compare` sorts and `CustomerFilter::matches` selects). A
    /// query sorted by a field is refused past its bound before any candidate is sorted.
    pub(super) fn query_page(&self, query: &CustomerQuery) -> crate::Result<CustomerPage> {
        query.check()?;
        let m = Matcher::new(self, &query.filter);
        let plan = self.plan(&m);
        // An index answers the filter: its candidates need no test (the slots hold others).
        let exact = plan.total.is_some() && !matches!(plan.source, Source::All);
        let size = query.size.min(crate::limits::MAX_PAGE_SIZE) as usize;
        let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        let k = offset.saturating_add(size);
        let desc = query.descending;
        let direction = |o: Ordering| if desc { o.reverse() } else { o };
        let (page, total): (Vec<u32>, u64) = match query.sort {
            SortKey::Field(field) => {
                let total = match plan.total {
                    Some(total) => total,
                    None => self.matches_in(&m, plan.source),
                };
                query.check_sort(total)?;
                // Each candidate's value read once, borrowed from its packed bytes.
                let (best, _) = self.best_of(
                    (&m, exact),
                    plan.source,
                    k,
                    |ix| (packed::field(self.slots[ix].data.as_deref(), field), ix),
                    |(x, a): &(Option<Packed<'_>>, u32), (y, b)| {
                        direction(
                            match (x, y) {
                                (Some(x), Some(y)) => x.compare(y),
                                (Some(_), None) => Ordering::Less,
                                (None, Some(_)) => Ordering::Greater,
                                (None, None) => Ordering::Equal,
                            }
                            .then(a.cmp(b)),
                        )
                    },
                );
                (best.into_iter().skip(offset).map(|(_, ix)| ix).collect(), total)
            }
            sort => {
                let order = match sort {
                    SortKey::Id => Order::Id,
                    _ => Order::Time {
                        created: sort == SortKey::DateCreated,
                    },
                };
                let whole = match order {
                    Order::Id => Source::All,
                    Order::Time { created } => Source::Times {
                        created,
                        from: 0,
                        to: usize::MAX,
                    },
                };
                // In order already: walk it, to the page if the total is known.
                let known = plan.total.is_some();
                let walked = if plan.source.is_in(order) {
                    self.walk(&m, plan.source, desc, (offset, k), known, usize::MAX, exact)
                } else if known {
                    // Along the order itself, while that costs a fraction of what the
                    // source's candidates would (those take no test).
                    let budget = plan.candidates / WALK_SHARE;
                    self.walk(&m, whole, desc, (offset, k), true, budget, false)
                } else {
                    None
                };
                match walked {
                    Some(w) => {
                        let total = plan.total.or(w.matched).unwrap_or_default();
                        (w.page, total)
                    }
                    None => {
                        let created = order == Order::Time { created: true };
                        let time = |ix: u32| match order {
                            Order::Id => 0,
                            _ if created => self.slots[ix].created,
                            _ => self.slots[ix].updated,
                        };
                        let (best, total) = self.best_of(
                            (&m, exact),
                            plan.source,
                            k,
                            |ix| (time(ix), ix),
                            |a: &(i64, u32), b| direction(a.cmp(b)),
                        );
                        let page = best.into_iter().skip(offset).map(|(_, ix)| ix).collect();
                        (page, plan.total.unwrap_or(total))
                    }
                }
            }
        };
        Ok(CustomerPage {
            rows: page.into_iter().map(|ix| self.customer_at(ix)).collect(),
            total,
        })
    }

    /// How many of `source`'s candidates match.
    fn matches_in(&self, m: &Matcher<'_>, source: Source<'_>) -> u64 {
        let mut n = 0;
        self.candidates(source, false, |ix| {
            n += u64::from(self.test(m, ix, false));
            ControlFlow::Continue(())
        });
        n
    }

    /// How many live customers match `filter`.
    pub(super) fn count_matching(&self, filter: &CustomerFilter) -> u64 {
        let m = Matcher::new(self, filter);
        let plan = self.plan(&m);
        plan.total.unwrap_or_else(|| self.matches_in(&m, plan.source))
    }
}

#[cfg(test)]
mod tests {
    use super::super::customers::UNPACKED;
    use crate::history::{Cause, Operation};
    use crate::model::{Customer, CustomerId, Field, FieldValue};
    use crate::query::{CustomerFilter, CustomerQuery, SortKey};
    use crate::store::{ReadTxn, Store, Txn};
    use crate::{MemoryStore, TenantId};
    use chrono::{DateTime, Duration, NaiveDate, Utc};

    fn cause() -> Cause {
        Cause {
            operation: Operation::Resolve,
            reference: None,
        }
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// A tenant of `n` customers with varied fields, tags, groups and times, some merged
    /// and some deleted.
    /// A tenant of `n` customers, merged, deleted, rewritten, touched and erased. With
    /// `queried_early`, a query builds the indexes halfway through the creations, so that every
    /// later write keeps them; otherwise the first query after all writes builds them.
    fn tenant_built(n: u64, queried_early: bool) -> (MemoryStore, TenantId, DateTime<Utc>) {
        let t = TenantId::new("t");
        let store = MemoryStore::new();
        let base = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut txn = store.write(&t).unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            if queried_early && i == n / 2 {
                txn.query(&t, &CustomerQuery::default()).unwrap();
            }
            let id = txn.create_customer(&t, base, &cause()).unwrap();
            let mut c = Customer::new(
                id,
                base + Duration::microseconds(rng.below(50) as i64 * 1_000_001),
            );
            c.updated = c.created + Duration::seconds(rng.below(30) as i64);
            let pick = |rng: &mut Rng, of: &[&str]| of[rng.below(of.len() as u64) as usize].to_string();
            if rng.below(4) > 0 {
                c.fields
                    .set(
                        Field::Name,
                        FieldValue::Text(pick(&mut rng, &["赵娜", "Ann", "Bob", "Anna", "", "bo"]).into()),
                    )
                    .unwrap();
            }
            if rng.below(3) > 0 {
                c.fields
                    .set(Field::Gender, FieldValue::Int(rng.below(3) as i64))
                    .unwrap();
            }
            if rng.below(2) > 0 {
                c.fields
                    .set(
                        Field::Stage,
                        FieldValue::Text(pick(&mut rng, &["lead", "", "won"]).into()),
                    )
                    .unwrap();
            }
            if rng.below(2) > 0 {
                c.fields
                    .set(
                        Field::Mobile,
                        FieldValue::Text(format!("1380000{:04}", rng.below(40)).into()),
                    )
                    .unwrap();
            }
            if rng.below(3) == 0 {
                c.fields
                    .set(
                        Field::Source,
                        FieldValue::Text(pick(&mut rng, &["web", "shop"]).into()),
                    )
                    .unwrap();
            }
            if rng.below(3) == 0 {
                let revenue = pick(&mut rng, &["9", "10", "-1.5", "+01.50", "0", "1.5"]);
                c.fields
                    .set(Field::AnnualRevenue, FieldValue::Decimal(revenue.into()))
                    .unwrap();
            }
            if rng.below(3) == 0 {
                let day = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap() + Duration::days(rng.below(5) as i64);
                c.fields.set(Field::Birthday, FieldValue::Date(day)).unwrap();
            }
            if rng.below(4) == 0 {
                c.tags.push(pick(&mut rng, &["vip", "new"]));
            }
            if rng.below(4) == 0 {
                c.groups.push(rng.below(3) as i64);
            }
            txn.put_customer(&t, c).unwrap();
            ids.push(id);
        }
        for _ in 0..n / 10 {
            let (a, b) = (ids[rng.below(n) as usize], ids[rng.below(n) as usize]);
            let (a, b) = (
                txn.canonical_id(&t, a).unwrap().unwrap(),
                txn.canonical_id(&t, b).unwrap().unwrap(),
            );
            if a != b {
                txn.merge(&t, a, b, base, &cause()).unwrap();
            }
        }
        for _ in 0..n / 20 {
            let id = ids[rng.below(n) as usize];
            if let Some(live) = txn.canonical_id(&t, id).unwrap()
                && txn.customer(&t, live).unwrap().unwrap().is_active()
            {
                txn.delete(&t, live, base, &cause()).unwrap();
            }
        }
        // Rewritten, touched and erased afterwards, so that the indexes follow changes too.
        for i in 0..n / 10 {
            let id = ids[rng.below(n) as usize];
            let Some(live) = txn.canonical_id(&t, id).unwrap() else {
                continue;
            };
            let mut c = txn.customer(&t, live).unwrap().unwrap().into_owned();
            if !c.is_active() {
                continue;
            }
            let at = base + Duration::seconds(rng.below(60) as i64);
            match i % 4 {
                0 | 1 => {
                    c.fields
                        .set(Field::Gender, FieldValue::Int(rng.below(3) as i64))
                        .unwrap();
                    c.fields
                        .set(
                            Field::Mobile,
                            FieldValue::Text(format!("1380000{:04}", rng.below(40)).into()),
                        )
                        .unwrap();
                    c.tags = if i % 4 == 0 {
                        vec!["vip".into()]
                    } else {
                        Vec::new()
                    };
                    c.updated = at;
                    txn.put_customer(&t, c).unwrap();
                }
                2 => txn.touch(&t, live, at).unwrap(),
                _ => {
                    txn.erase(&t, live, at, &cause()).unwrap();
                }
            }
        }
        txn.commit().unwrap();
        (store, t, base)
    }

    fn tenant(n: u64) -> (MemoryStore, TenantId, DateTime<Utc>) {
        tenant_built(n, false)
    }

    #[test]
    fn pages_and_totals_are_the_reference_ones() {
        for queried_early in [false, true] {
            pages_and_totals_match_the_reference(queried_early);
        }
    }

    fn pages_and_totals_match_the_reference(queried_early: bool) {
        let (store, t, base) = tenant_built(600, queried_early);
        let reader = store.read(&t).unwrap();
        let s = &*reader.tables;
        let all: Vec<Customer> = (0..s.slots.len()).map(|ix| s.customer_at(ix)).collect();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let sorts = [
            SortKey::Id,
            SortKey::DateCreated,
            SortKey::LastUpdated,
            SortKey::Field(Field::Name),
            SortKey::Field(Field::Gender),
            SortKey::Field(Field::AnnualRevenue),
            SortKey::Field(Field::Birthday),
            SortKey::Field(Field::City),
        ];
        for round in 0..3_000 {
            let mut f = CustomerFilter::default();
            let mut pick = |n: u64| rng.below(n);
            match pick(12) {
                0 => f.created_from = Some(base + Duration::nanoseconds(pick(50) as i64 * 1_000_000_123)),
                1 => f.updated_to = Some(base + Duration::seconds(pick(60) as i64)),
                2 => f.search = Some(["n", "A", "138", "娜", ""][pick(5) as usize].into()),
                3 => f.gender = Some(pick(3) as i64),
                4 => f.stage = Some(["", "lead", "won", "x"][pick(4) as usize].into()),
                5 => f.source = Some("web".into()),
                6 => f.mobile = Some(format!("1380000{:04}", pick(40))),
                7 => f.tag = Some("vip".into()),
                8 => f.group = Some(pick(3) as i64),
                9 => f.ids = Some((0..pick(20)).map(|_| CustomerId(pick(700))).collect()),
                10 => {
                    f.gender = Some(0);
                    f.created_to = Some(base + Duration::seconds(25));
                }
                _ => {}
            }
            let query = CustomerQuery {
                filter: f,
                sort: sorts[pick(sorts.len() as u64) as usize],
                descending: pick(2) == 0,
                page: 1 + pick(4) as u32,
                size: [1, 3, 10, 50, 0][pick(5) as usize],
                select: None,
            };
            let mut want: Vec<&Customer> = all.iter().filter(|c| query.filter.matches(c)).collect();
            want.sort_by(|a, b| query.compare(a, b));
            let total = want.len() as u64;
            let rows: Vec<Customer> = want
                .into_iter()
                .skip(query.offset() as usize)
                .take(query.size as usize)
                .cloned()
                .collect();
            let got = reader.query(&t, &query).unwrap();
            assert_eq!(
                (got.total, &got.rows),
                (total, &rows),
                "round {round} (queried early: {queried_early}): {query:?}"
            );
            assert_eq!(reader.count(&t, &query.filter).unwrap(), total, "{query:?}");
        }
    }

    /// A page of 10 of `filter`'s customers in that order.
    fn page_of(filter: &CustomerFilter, sort: SortKey, descending: bool) -> CustomerQuery {
        CustomerQuery {
            filter: filter.clone(),
            sort,
            descending,
            size: 10,
            ..CustomerQuery::default()
        }
    }

    #[test]
    fn a_query_builds_only_its_page() {
        let (store, t, _) = tenant(5_000);
        let reader = store.read(&t).unwrap();
        let gender = CustomerFilter {
            gender: Some(1),
            ..CustomerFilter::default()
        };
        for (sort, filter) in [
            (SortKey::Id, CustomerFilter::default()),
            (SortKey::Id, gender.clone()),
            (SortKey::LastUpdated, gender.clone()),
            (SortKey::Field(Field::Name), CustomerFilter::default()),
        ] {
            for descending in [false, true] {
                let query = page_of(&filter, sort, descending);
                UNPACKED.set(0);
                let page = reader.query(&t, &query).unwrap();
                assert_eq!(page.rows.len(), 10);
                assert!(page.total > 500, "{}", page.total);
                assert_eq!(UNPACKED.get(), 10, "customers built for {query:?}");
            }
        }
    }

    /// Counts the slots a query tests: a page whose filter an index answers tests about its
    /// page's worth (the memory store once tested every slot, for the total).
    #[test]
    fn a_page_costs_its_page_not_the_tenant() {
        use super::VISITED;
        let (store, t, base) = tenant(5_000);
        let reader = store.read(&t).unwrap();
        let filter = |f: fn(&mut CustomerFilter)| {
            let mut filter = CustomerFilter::default();
            f(&mut filter);
            filter
        };
        let gender = filter(|f| f.gender = Some(1));
        let since = CustomerFilter {
            created_from: Some(base + Duration::seconds(20)),
            ..CustomerFilter::default()
        };
        let cases = [
            (SortKey::Id, gender.clone(), 10),
            (SortKey::LastUpdated, gender.clone(), 200),
            (SortKey::DateCreated, gender.clone(), 200),
            (SortKey::DateCreated, since.clone(), 10),
            (SortKey::LastUpdated, CustomerFilter::default(), 10),
            (SortKey::Id, filter(|f| f.stage = Some("won".into())), 10),
            (SortKey::Id, filter(|f| f.tag = Some("vip".into())), 10),
            (
                SortKey::Id,
                filter(|f| f.mobile = Some("13800000007".into())),
                200,
            ),
            (
                SortKey::LastUpdated,
                filter(|f| f.source = Some("web".into())),
                200,
            ),
        ];
        for (sort, filter, most) in cases {
            for descending in [false, true] {
                let query = page_of(&filter, sort, descending);
                VISITED.set(0);
                let page = reader.query(&t, &query).unwrap();
                let tested = VISITED.get();
                assert!(page.total > 10, "{query:?}: {}", page.total);
                assert!(tested <= most, "{query:?} tested {tested} customers");
                // What the total counts, counted without testing anyone.
                VISITED.set(0);
                assert_eq!(reader.count(&t, &filter).unwrap(), page.total);
                assert_eq!(VISITED.get(), 0, "count of {filter:?}");
            }
        }
    }

    /// A sort by a field is refused past its bound before any customer is tested or built.
    #[test]
    fn a_field_sort_past_its_bound_is_refused_first() {
        use super::VISITED;
        let (store, t, _) = tenant(crate::limits::MAX_FIELD_SORT_MATCHES * 3 / 2);
        let reader = store.read(&t).unwrap();
        let query = CustomerQuery {
            sort: SortKey::Field(Field::City),
            ..CustomerQuery::default()
        };
        VISITED.set(0);
        UNPACKED.set(0);
        let e = reader.query(&t, &query).unwrap_err();
        assert!(e.to_string().contains("sorting by a field"), "{e}");
        assert_eq!((VISITED.get(), UNPACKED.get()), (0, 0));
    }
}
