//! Lists without repeats (a customer's tags and groups, what a resolve changed), kept in
//! first-occurrence order in linear time.
//!
//! A short list is scanned, which beats hashing for the handful of tags most customers hold;
//! past [`SHORT`] items, the list's items are indexed by hash, so that uniting, comparing or
//! removing costs a constant per item however long the lists grow.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

/// Lists up to this long are scanned.
const SHORT: usize = 16;

fn hasher() -> foldhash::fast::RandomState {
    foldhash::fast::RandomState::default()
}

/// Appends each of `items` that `list` does not hold yet (nor an earlier item), in order;
/// whether any was appended.
pub(crate) fn unite<T: Hash + Eq>(list: &mut Vec<T>, items: impl IntoIterator<Item = T>) -> bool {
    let before = list.len();
    let mut items = items.into_iter();
    while list.len() < SHORT {
        let Some(item) = items.next() else {
            return list.len() > before;
        };
        if !list.contains(&item) {
            list.push(item);
        }
    }
    let hasher = hasher();
    let mut index = hashbrown::HashTable::with_capacity(list.len() * 2);
    for (at, x) in list.iter().enumerate() {
        index.insert_unique(hasher.hash_one(x), at, |&i| hasher.hash_one(&list[i]));
    }
    for item in items {
        let hash = hasher.hash_one(&item);
        if index.find(hash, |&i| list[i] == item).is_none() {
            index.insert_unique(hash, list.len(), |&i| hasher.hash_one(&list[i]));
            list.push(item);
        }
    }
    list.len() > before
}

/// `items` without repeats, in first-occurrence order.
pub(crate) fn unique<T: Hash + Eq + Clone>(items: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len().min(SHORT));
    unite(&mut out, items.iter().cloned());
    out
}

/// Whether `items` hold one that `list` does not.
pub(crate) fn adds_any<T: Hash + Eq>(list: &[T], items: &[T]) -> bool {
    if list.len() <= SHORT || items.len() <= 1 {
        return items.iter().any(|x| !list.contains(x));
    }
    let hasher = hasher();
    let held: hashbrown::HashSet<&T, _> = {
        let mut set = hashbrown::HashSet::with_capacity_and_hasher(list.len(), hasher);
        set.extend(list);
        set
    };
    items.iter().any(|x| !held.contains(x))
}

/// How many distinct items `list` and `items` hold together.
pub(crate) fn united_len<T: Hash + Eq>(list: &[T], items: &[T]) -> usize {
    let mut all = hashbrown::HashSet::with_capacity_and_hasher(list.len() + items.len(), hasher());
    all.extend(list);
    all.extend(items);
    all.len()
}

/// Removes from `list` every item equal to one of `gone`; whether any was removed.
pub(crate) fn remove_all<T, Q>(list: &mut Vec<T>, gone: &[&Q]) -> bool
where
    T: Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    let before = list.len();
    if gone.len() <= SHORT {
        list.retain(|x| !gone.contains(&x.borrow()));
    } else {
        let mut set = hashbrown::HashSet::with_capacity_and_hasher(gone.len(), hasher());
        set.extend(gone.iter().copied());
        list.retain(|x| !set.contains(x.borrow()));
    }
    list.len() != before
}

/// For each item, whether an earlier one equals it.
pub(crate) fn repeats<T: Hash + Eq>(items: &[T]) -> Vec<bool> {
    if items.len() <= SHORT {
        return (0..items.len()).map(|i| items[..i].contains(&items[i])).collect();
    }
    let mut seen = hashbrown::HashSet::with_capacity_and_hasher(items.len(), hasher());
    items.iter().map(|x| !seen.insert(x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::hash::Hasher;

    thread_local! {
        static COMPARED: Cell<u64> = const { Cell::new(0) };
    }

    /// An item that counts how often it is compared.
    #[derive(Debug, Clone)]
    struct Counted(u32);

    impl PartialEq for Counted {
        fn eq(&self, other: &Self) -> bool {
            COMPARED.set(COMPARED.get() + 1);
            self.0 == other.0
        }
    }

    impl Eq for Counted {}

    impl Hash for Counted {
        fn hash<H: Hasher>(&self, h: &mut H) {
            self.0.hash(h);
        }
    }

    fn compared(f: impl FnOnce()) -> u64 {
        COMPARED.set(0);
        f();
        COMPARED.get()
    }

    /// Each item is compared a bounded number of times however long the lists: linear, where
    /// a scan of the list for each item was quadratic (80,000 tags took seconds to read).
    #[test]
    fn uniting_long_lists_compares_each_item_a_bounded_number_of_times() {
        let n = 100_000u32;
        let items: Vec<Counted> = (0..n).chain(0..n).map(|i| Counted(i % (n / 2))).collect();
        let mut list = Vec::new();
        let steps = compared(|| {
            unite(&mut list, items.iter().cloned());
        });
        assert_eq!(list.len(), (n / 2) as usize);
        assert!(
            list.iter().enumerate().all(|(i, x)| x.0 == i as u32),
            "first occurrences, in order"
        );
        assert!(steps <= 4 * items.len() as u64, "{steps} comparisons");

        let steps = compared(|| assert!(!adds_any(&list, &items)));
        assert!(steps <= 4 * items.len() as u64, "{steps} comparisons");
        let steps = compared(|| assert_eq!(repeats(&items).iter().filter(|r| !**r).count(), list.len()));
        assert!(steps <= 4 * items.len() as u64, "{steps} comparisons");
        let steps = compared(|| assert_eq!(united_len(&list, &items), list.len()));
        assert!(steps <= 4 * items.len() as u64, "{steps} comparisons");
        let gone: Vec<&Counted> = items.iter().step_by(2).collect();
        let steps = compared(|| {
            remove_all(&mut list, &gone);
        });
        assert!(steps <= 4 * items.len() as u64, "{steps} comparisons");
    }

    /// Short and long lists give the answers a plain scan gives.
    #[test]
    fn every_length_answers_as_a_scan_does() {
        for len in [0usize, 1, 5, 15, 16, 17, 40] {
            let items: Vec<u32> = (0..len as u32 * 2).map(|i| (i * 7) % (len as u32 + 1)).collect();
            let mut scanned: Vec<u32> = Vec::new();
            for x in &items {
                if !scanned.contains(x) {
                    scanned.push(*x);
                }
            }
            assert_eq!(unique(&items), scanned, "{len}");
            let mut list: Vec<u32> = (0..len as u32 / 2).collect();
            let mut want = list.clone();
            for x in &items {
                if !want.contains(x) {
                    want.push(*x);
                }
            }
            assert_eq!(adds_any(&list, &items), want.len() > list.len(), "{len}");
            assert_eq!(united_len(&list, &items), want.len(), "{len}");
            assert_eq!(
                unite(&mut list, items.iter().copied()),
                want.len() > len / 2,
                "{len}"
            );
            assert_eq!(list, want, "{len}");
            let repeated: Vec<bool> = (0..items.len()).map(|i| items[..i].contains(&items[i])).collect();
            assert_eq!(repeats(&items), repeated, "{len}");
            let gone: Vec<&u32> = items.iter().step_by(3).collect();
            let kept: Vec<u32> = want.iter().copied().filter(|x| !gone.contains(&x)).collect();
            assert_eq!(remove_all(&mut list, &gone), kept.len() != want.len(), "{len}");
            assert_eq!(list, kept, "{len}");
        }
        let mut tags = vec!["a".to_string(), "b".to_string()];
        assert!(remove_all(&mut tags, &["b", "c"]));
        assert_eq!(tags, ["a"]);
    }
}
