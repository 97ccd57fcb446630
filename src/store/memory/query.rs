//! Queries and counts: answered from the slots and their packed bytes, building only the
//! customers of the page.
//!
//! A filter is read where the data lies: status, times and ids from the slot, fields from
//! the packed bytes (`packed::field`); only a tag or group criterion unpacks a customer, and
//! only one that passed every other criterion. An id list visits just its slots. Sorting by id
//! walks the slots in order (slot order is id order), and without a filter stops at the page,
//! the total being the tenant's count of live customers. Any other sort keeps the best
//! `offset + size` candidates seen (`top`), as slot numbers beside their times, or compared
//! through their packed fields, so a query's memory is that of its page, not of the tenant.
//! Every total stays exact: a filter is tested on every candidate.

use super::packed::{self, Packed};
use super::slot::Slot;
use super::tables::Tables;
use crate::model::Field;
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery, SortKey};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;
use std::ops::ControlFlow;

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

    /// Calls `each` with every slot to test, in order (every slot, or those of the id list),
    /// until it breaks.
    fn scan<'s>(
        &self,
        s: &'s Tables,
        descending: bool,
        mut each: impl FnMut(u32, &'s Slot) -> ControlFlow<()>,
    ) {
        match (&self.slots, descending) {
            (Some(slots), false) => {
                let _ = slots.iter().try_for_each(|&ix| each(ix, &s.slots[ix]));
            }
            (Some(slots), true) => {
                let _ = slots.iter().rev().try_for_each(|&ix| each(ix, &s.slots[ix]));
            }
            // In chunk order: no index arithmetic per slot.
            (None, false) => {
                let _ = (0..)
                    .zip(s.slots.iter())
                    .try_for_each(|(ix, slot)| each(ix, slot));
            }
            (None, true) => {
                let _ = (0..s.slots.len()).rev().try_for_each(|ix| each(ix, &s.slots[ix]));
            }
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

impl Tables {
    /// A page of the live customers matching `query`'s filter, in its order, and how many
    /// match (as `CustomerQuery::compare` sorts and `CustomerFilter::matches` selects).
    pub(super) fn query_page(&self, query: &CustomerQuery) -> CustomerPage {
        let m = Matcher::new(self, &query.filter);
        let size = query.size.min(crate::limits::MAX_PAGE_SIZE) as usize;
        let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        let k = offset.saturating_add(size);
        let desc = query.descending;
        let mut total: u64 = 0;
        let page: Vec<u32> = match query.sort {
            SortKey::Id => {
                // Slot order is id order: the page is the first matches in that order.
                let mut page = Vec::new();
                let mut seen = 0usize;
                let every = m.slots.is_none() && !m.fields;
                m.scan(self, desc, |ix, slot| {
                    if m.matches(self, ix, slot) {
                        if (offset..k).contains(&seen) {
                            page.push(ix);
                        }
                        seen += 1;
                        // Without a filter the total is known: stop at the page.
                        if every && seen >= k {
                            return ControlFlow::Break(());
                        }
                    }
                    ControlFlow::Continue(())
                });
                total = if every { u64::from(self.live) } else { seen as u64 };
                page
            }
            SortKey::DateCreated | SortKey::LastUpdated => {
                let created = query.sort == SortKey::DateCreated;
                let mut best = Best::new(k, |a: &(i64, u32), b: &(i64, u32)| {
                    let order = a.cmp(b);
                    if desc { order.reverse() } else { order }
                });
                // In the sort's direction: times mostly grow with slots, so after the first
                // rows nearly every slot is passed over with one comparison.
                m.scan(self, desc, |ix, slot| {
                    if m.matches(self, ix, slot) {
                        total += 1;
                        best.offer((if created { slot.created } else { slot.updated }, ix));
                    }
                    ControlFlow::Continue(())
                });
                best.into_sorted()
                    .into_iter()
                    .skip(offset)
                    .map(|(_, ix)| ix)
                    .collect()
            }
            SortKey::Field(field) => {
                // Each candidate's value read once, borrowed from its packed bytes.
                type Keyed<'a> = (Option<Packed<'a>>, u32);
                let mut best = Best::new(k, |(x, a): &Keyed<'_>, (y, b): &Keyed<'_>| {
                    let order = match (x, y) {
                        (Some(x), Some(y)) => x.compare(y),
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (None, None) => Ordering::Equal,
                    }
                    .then(a.cmp(b));
                    if desc { order.reverse() } else { order }
                });
                m.scan(self, false, |ix, slot| {
                    if m.matches(self, ix, slot) {
                        total += 1;
                        best.offer((packed::field(slot.data.as_deref(), field), ix));
                    }
                    ControlFlow::Continue(())
                });
                best.into_sorted()
                    .into_iter()
                    .skip(offset)
                    .map(|(_, ix)| ix)
                    .collect()
            }
        };
        CustomerPage {
            rows: page.into_iter().map(|ix| self.customer_at(ix)).collect(),
            total,
        }
    }

    /// How many live customers match `filter`.
    pub(super) fn count_matching(&self, filter: &CustomerFilter) -> u64 {
        let m = Matcher::new(self, filter);
        if m.slots.is_none() && !m.fields {
            return u64::from(self.live);
        }
        let mut n = 0;
        m.scan(self, false, |ix, slot| {
            n += u64::from(m.matches(self, ix, slot));
            ControlFlow::Continue(())
        });
        n
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
    fn tenant(n: u64) -> (MemoryStore, TenantId, DateTime<Utc>) {
        let t = TenantId::new("t");
        let store = MemoryStore::new();
        let base = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut txn = store.write(&t).unwrap();
        let mut ids = Vec::new();
        for _ in 0..n {
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
        txn.commit().unwrap();
        (store, t, base)
    }

    #[test]
    fn pages_and_totals_are_the_reference_ones() {
        let (store, t, base) = tenant(600);
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
            assert_eq!((got.total, &got.rows), (total, &rows), "round {round}: {query:?}");
            assert_eq!(reader.count(&t, &query.filter).unwrap(), total, "{query:?}");
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
                let query = CustomerQuery {
                    filter: filter.clone(),
                    sort,
                    descending,
                    size: 10,
                    ..CustomerQuery::default()
                };
                UNPACKED.set(0);
                let page = reader.query(&t, &query).unwrap();
                assert_eq!(page.rows.len(), 10);
                assert!(page.total > 500, "{}", page.total);
                assert_eq!(UNPACKED.get(), 10, "customers built for {query:?}");
            }
        }
    }
}
