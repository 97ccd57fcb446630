//! Properties of resolution (SEMANTICS §5) over random request sequences:
//!
//! - with no limits and autoMerge on, customers are exactly the connected components of the
//!   requests-share-an-identity graph, whatever the strategies and the order (checked against
//!   an independent union-find);
//! - resolving any request again changes nothing;
//! - a dry run returns exactly the outcome of the resolve that follows it, and writes nothing;
//! - an identity has one live owner, no customer is over a limit, every id reaches a live
//!   customer.

use oneid::{
    CustomerId, CustomerPatch, Field, IdentityInput, IdentitySettings, ManualClock, MemoryStore,
    PriorityStrategy, ResolveOptions, ResolveRequest, Resolver, TargetStrategy, TenantId,
};
use petgraph::unionfind::UnionFind;
use proptest::prelude::*;
use std::collections::HashMap;

type R = Resolver<MemoryStore, ManualClock>;

fn t() -> TenantId {
    TenantId::new("t")
}

fn clock() -> ManualClock {
    ManualClock::ticking(
        "2024-01-01T00:00:00Z".parse().unwrap(),
        chrono::Duration::seconds(1),
    )
}

/// Identities from a small pool, in spellings that need normalizing, plus placeholders.
fn identity() -> impl Strategy<Value = IdentityInput> {
    prop_oneof![
        (0..8u8, 0..3u8).prop_map(|(n, spelling)| {
            let m = format!("1380000{n:04}");
            IdentityInput::new(
                "mobile",
                match spelling {
                    0 => m,
                    1 => format!("+86 {}-{}-{}", &m[..3], &m[3..7], &m[7..]),
                    _ => format!(" 0086{m} "),
                },
            )
        }),
        (0..8u8, any::<bool>()).prop_map(|(n, upper)| {
            let e = format!("p{n}@x.cn");
            IdentityInput::new("email", if upper { e.to_uppercase() } else { e })
        }),
        (0..5u8).prop_map(|n| IdentityInput::new("wechat-unionid", format!("u{n}"))),
        (0..5u8).prop_map(|n| IdentityInput::new("idcard", format!("53{n:016}"))),
        (0..6u8).prop_map(|n| IdentityInput::new("wechat", format!("o{n}"))),
        (0..4u8, 0..2u8).prop_map(
            |(n, app)| IdentityInput::new("wechat", format!("o{n}")).with_scope(format!("app{app}"))
        ),
        (0..6u8).prop_map(|n| IdentityInput::new("member-id", format!("M{n}"))),
        Just(IdentityInput::new("mobile", "13800000000")),
    ]
}

fn options() -> impl Strategy<Value = ResolveOptions> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(custom, customer_first, auto_merge)| {
        ResolveOptions {
            identity_priority_strategy: if custom {
                PriorityStrategy::Custom
            } else {
                PriorityStrategy::System
            },
            target_customer_strategy: if customer_first {
                TargetStrategy::CustomerFirst
            } else {
                TargetStrategy::IdentityFirst
            },
            auto_merge,
            match_by_fields: false,
        }
    })
}

fn request() -> impl Strategy<Value = ResolveRequest> {
    (
        prop::collection::vec(identity(), 0..4),
        options(),
        prop::option::of(0..3u8),
        prop::option::of(0..50i64),
    )
        .prop_map(|(ids, options, city, balance)| {
            let mut patch = CustomerPatch::new();
            if let Some(c) = city {
                patch = patch.with(Field::City, format!("c{c}")).unwrap();
            }
            if let Some(b) = balance {
                patch = patch.with(Field::Balance, b).unwrap();
            }
            ResolveRequest::new(ids).with_patch(patch).with_options(options)
        })
}

/// The normalized keys of a request's identities (blocked ones excluded), computed apart
/// from the engine with the settings' normalizers.
fn keys(settings: &IdentitySettings, request: &ResolveRequest) -> Vec<String> {
    request
        .identities
        .iter()
        .filter(|i| !settings.is_blocked(&i.identity_type, &i.identity_value))
        .map(|i| {
            let v = settings.normalize(&i.identity_type, &i.identity_value).unwrap();
            format!("{}|{}|{}", i.identity_type, i.scope.as_deref().unwrap_or(""), v)
        })
        .collect()
}

/// Requests grouped by the customer each ended in.
fn partition_of(r: &mut R, targets: &[CustomerId]) -> Vec<Vec<usize>> {
    let mut groups: HashMap<CustomerId, Vec<usize>> = HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        groups
            .entry(r.canonical_id(&self::t(), *t).unwrap().unwrap())
            .or_default()
            .push(i);
    }
    let mut parts: Vec<_> = groups.into_values().collect();
    parts.sort();
    parts
}

/// The connected components of the requests-share-an-identity graph.
fn components(settings: &IdentitySettings, requests: &[ResolveRequest]) -> Vec<Vec<usize>> {
    let mut uf = UnionFind::<usize>::new(requests.len());
    let mut first_with: HashMap<String, usize> = HashMap::new();
    for (i, request) in requests.iter().enumerate() {
        for key in keys(settings, request) {
            match first_with.get(&key) {
                Some(&j) => {
                    uf.union(i, j);
                }
                None => {
                    first_with.insert(key, i);
                }
            }
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..requests.len() {
        groups.entry(uf.find(i)).or_default().push(i);
    }
    let mut parts: Vec<_> = groups.into_values().collect();
    parts.sort();
    parts
}

/// Everything observable about customers 1..=n.
fn state(r: &mut R, n: u64) -> Vec<String> {
    (1..=n)
        .map(|id| {
            let id = CustomerId(id);
            format!(
                "{:?} {:?}",
                r.get(&t(), id).unwrap(),
                r.identities(&t(), id).unwrap()
            )
        })
        .collect()
}

fn check_invariants(r: &mut R, settings: &IdentitySettings, ids: &[CustomerId]) -> Result<(), TestCaseError> {
    let mut owner: HashMap<String, CustomerId> = HashMap::new();
    for &id in ids {
        let live = r.get(&t(), id).unwrap();
        prop_assert!(live.is_some(), "id {} reaches no live customer", id);
        let live = live.unwrap().id;
        prop_assert_eq!(r.canonical_id(&t(), live).unwrap(), Some(live));
        let held = r.identities(&t(), live).unwrap();
        let mut per_type: HashMap<String, u32> = HashMap::new();
        for i in &held {
            let key = i.to_string();
            if let Some(other) = owner.insert(key.clone(), live) {
                prop_assert_eq!(other, live, "{} has two owners", key);
            }
            let kind = format!("{}@{:?}", i.identity_type, i.scope);
            let count = per_type.entry(kind.clone()).or_default();
            *count += 1;
            let within = settings.limit(&i.identity_type).is_none_or(|l| *count <= l);
            prop_assert!(within, "customer {} is over the limit of {}", live, kind);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// No limits, autoMerge on, any strategies and order: customers = connected components.
    #[test]
    fn unrestricted_customers_are_connected_components(requests in prop::collection::vec(request(), 1..30)) {
        let settings = IdentitySettings::unrestricted();
        let mut r = Resolver::new(MemoryStore::new()).with_clock(clock()).with_default_settings(settings.clone());
        let requests: Vec<_> = requests
            .into_iter()
            .map(|q| {
                let options = ResolveOptions { auto_merge: true, ..q.options };
                q.with_options(options)
            })
            .collect();
        let targets: Vec<_> = requests.iter().map(|q| r.resolve(&t(), q).unwrap().customer.unwrap()).collect();
        prop_assert_eq!(partition_of(&mut r, &targets), components(&settings, &requests));
    }

    /// The same, with the requests in another order.
    #[test]
    fn unrestricted_partition_does_not_depend_on_order(
        requests in prop::collection::vec(request(), 1..20).prop_shuffle().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        let merging = |v: Vec<ResolveRequest>| -> Vec<ResolveRequest> {
            v.into_iter().map(|q| { let o = ResolveOptions { auto_merge: true, ..q.options }; q.with_options(o) }).collect()
        };
        let (a, b) = (merging(requests.0), merging(requests.1));
        let settings = IdentitySettings::unrestricted();
        let run = |requests: &[ResolveRequest]| {
            let mut r = Resolver::new(MemoryStore::new()).with_clock(clock()).with_default_settings(settings.clone());
            let targets: Vec<_> = requests.iter().map(|q| r.resolve(&t(), q).unwrap().customer.unwrap()).collect();
            // Partition of the distinct request contents, so the two orders compare.
            let mut parts: Vec<Vec<String>> = partition_of(&mut r, &targets)
                .into_iter()
                .map(|p| {
                    let mut keys: Vec<String> = p.iter().flat_map(|&i| keys(&settings, &requests[i])).collect();
                    keys.sort();
                    keys.dedup();
                    keys
                })
                .filter(|k| !k.is_empty())
                .collect();
            parts.sort();
            parts
        };
        prop_assert_eq!(run(&a), run(&b));
    }

    /// Default settings: every request resolved again at once changes nothing, dry runs
    /// predict resolves exactly, and the invariants hold throughout.
    #[test]
    fn idempotent_dry_runs_exact_invariants_hold(requests in prop::collection::vec(request(), 1..25)) {
        let settings = IdentitySettings::default();
        let mut r = Resolver::new(MemoryStore::new()).with_clock(clock());
        let mut ids = Vec::new();
        for q in &requests {
            let n = ids.len() as u64 + 1;
            let before = state(&mut r, n);
            let dry = r.dry_run(&t(), q).unwrap();
            prop_assert_eq!(&before, &state(&mut r, n), "a dry run wrote");
            let out = r.resolve(&t(), q).unwrap();
            // Sent again at once, it changes nothing — unless it created a customer holding
            // none of its identities (all blocked, conflicting or quarantined): such a request
            // cannot be recognized, and §2 creates a new customer for it each time.
            if !(out.created && out.linked.is_empty()) {
                let n = ids.len() as u64 + 2;
                let before = state(&mut r, n);
                let again = r.resolve(&t(), q).unwrap();
                prop_assert!(again.is_noop(), "not idempotent: {:?}", again);
                prop_assert_eq!(before, state(&mut r, n));
            }
            let mut expected = dry.clone();
            expected.dry_run = false;
            if dry.customer.is_none() {
                expected.customer = out.customer;
            }
            prop_assert_eq!(&expected, &out);
            ids.extend(out.customer);
            check_invariants(&mut r, &settings, &ids)?;
        }
    }
}

/// A kind of value a person gains over time, with its limit in the settings used.
fn arriving_kind() -> impl Strategy<Value = (&'static str, Option<u32>)> {
    prop_oneof![
        Just(("mobile", None)),
        Just(("wechat", None)),
        Just(("email", None)),
        Just(("device", Some(5))),
        Just(("device", Some(2))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A customer known by one stable value that receives, request after request, values of
    /// another kind within that kind's limit (a phone changed over the years, a member's
    /// devices) is never split: every request resolves to it, nothing is rejected, and it
    /// ends holding every value. Quarantine is on (default threshold and the lowest).
    #[test]
    fn values_within_their_limit_never_split_a_customer(
        stable in prop_oneof![Just("member-id"), Just("wechat-unionid"), Just("idcard")],
        (kind, limit) in arriving_kind(),
        count in 1..8usize,
        picks in prop::collection::vec((prop::collection::vec(any::<prop::sample::Index>(), 1..3), any::<bool>(), options()), 1..12),
        threshold in prop_oneof![Just(2u32), Just(3u32)],
    ) {
        let count = limit.map_or(count, |l| count.min(l as usize));
        let mut settings = IdentitySettings::default().with_quarantine(Some(threshold)).unwrap();
        settings = settings.with_limit(kind, limit).unwrap();
        let r = Resolver::new(MemoryStore::new()).with_clock(clock()).with_default_settings(settings);
        let holder = IdentityInput::new(stable, "S1");
        let value = |k: usize| {
            IdentityInput::new(kind, match kind {
                "mobile" => format!("1370000{k:04}"),
                "email" => format!("v{k}@x.cn"),
                _ => format!("v{k}"),
            })
        };
        let c = r.resolve(&t(), &ResolveRequest::new([holder.clone()])).unwrap().customer.unwrap();
        let mut requests: Vec<Vec<usize>> = picks
            .iter()
            .map(|(ix, _, _)| ix.iter().map(|i| i.index(count)).collect())
            .collect();
        // Every value arrives at least once.
        requests.push((0..count).collect());
        for (n, values) in requests.iter().enumerate() {
            let (_, stable_last, options) = picks.get(n).cloned().unwrap_or((Vec::new(), false, ResolveOptions::default()));
            let mut ids: Vec<IdentityInput> = values.iter().map(|&k| value(k)).collect();
            if stable_last { ids.push(holder.clone()) } else { ids.insert(0, holder.clone()) }
            let out = r.resolve(&t(), &ResolveRequest::new(ids).with_options(options)).unwrap();
            prop_assert_eq!(out.customer, Some(c), "request {}: {:?}", n, out);
            prop_assert!(out.rejected.is_empty(), "request {}: {:?}", n, out);
        }
        prop_assert_eq!(r.identities(&t(), c).unwrap().len(), count + 1);
        for k in 0..count {
            prop_assert_eq!(r.find_by_identity(&t(), &value(k)).unwrap().map(|x| x.id), Some(c));
        }
    }
}
