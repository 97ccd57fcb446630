//! `resolve_batch` gives exactly the outcomes of resolving the same requests one by one.

use oneid::{
    CustomerId, CustomerPatch, Field, IdentityInput, IdentitySettings, ManualClock, MemoryStore,
    PriorityStrategy, ResolveOptions, ResolveRequest, Resolver, TargetStrategy, TenantId,
};
use proptest::prelude::*;

fn clock() -> ManualClock {
    ManualClock::ticking(
        "2024-01-01T00:00:00Z".parse().unwrap(),
        chrono::Duration::seconds(1),
    )
}

fn identity() -> impl Strategy<Value = IdentityInput> {
    prop_oneof![
        (0..6u8).prop_map(|i| IdentityInput::new("mobile", format!("+86 138-0000-000{i}"))),
        (0..6u8).prop_map(|i| IdentityInput::new("email", format!("P{i}@Example.com"))),
        (0..4u8).prop_map(|i| IdentityInput::new("wechat-unionid", format!("u{i}"))),
        (0..4u8).prop_map(|i| IdentityInput::new("idcard", format!("53{i:016}"))),
        (0..4u8).prop_map(|i| IdentityInput::new("wechat", format!("o{i}"))),
        Just(IdentityInput::new("mobile", "13800000000")),
        Just(IdentityInput::new("mobile", "not a number")),
    ]
}

fn request() -> impl Strategy<Value = ResolveRequest> {
    (
        prop::collection::vec(identity(), 0..4),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(0..3u8),
    )
        .prop_map(|(ids, custom, customer_first, auto_merge, city)| {
            let mut patch = CustomerPatch::new();
            if let Some(c) = city {
                patch = patch.with(Field::City, format!("city{c}")).unwrap();
            }
            ResolveRequest::new(ids)
                .with_patch(patch)
                .with_options(ResolveOptions {
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
                })
        })
}

/// Everything observable about customers 1..=n.
fn snapshot(r: &mut Resolver<MemoryStore, ManualClock>, t: &TenantId, n: u64) -> Vec<String> {
    (1..=n)
        .map(|id| {
            let c = r.get(t, CustomerId(id)).unwrap();
            let ids = r.identities(t, CustomerId(id)).unwrap();
            let history = r.history(t, CustomerId(id)).unwrap();
            format!("{}|{:?}|{:?}", serde_json::to_string(&c).unwrap(), ids, history)
        })
        .collect()
}

/// Resolves `requests` one by one on one store, and as batches split at `splits` on two
/// others (with `resolve_batch`, and with `resolve_batch_with`, whose views must read as the
/// outcomes they make), and checks that every outcome and everything observable afterwards
/// is the same.
fn check_batches_equal_one_by_one(
    requests: &[ResolveRequest],
    splits: &[usize],
    settings: IdentitySettings,
    parallel: bool,
) -> Result<(), TestCaseError> {
    let t = TenantId::new("t");
    let mut single = Resolver::new(MemoryStore::new())
        .with_clock(clock())
        .with_default_settings(settings.clone());
    let mut batch = Resolver::new(MemoryStore::new())
        .with_clock(clock())
        .with_default_settings(settings.clone())
        .with_parallel_planning(parallel);
    let mut streamed = Resolver::new(MemoryStore::new())
        .with_clock(clock())
        .with_default_settings(settings)
        .with_parallel_planning(parallel);

    let one_by_one: Vec<_> = requests
        .iter()
        .map(|r| single.resolve(&t, r).map_err(|e| e.to_string()))
        .collect();
    let mut bounds: Vec<usize> = splits.iter().map(|s| s % (requests.len() + 1)).collect();
    bounds.push(0);
    bounds.push(requests.len());
    bounds.sort_unstable();
    bounds.dedup();
    let mut batched = Vec::new();
    let mut reported = Vec::new();
    for w in bounds.windows(2) {
        let mut views_agree = true;
        streamed
            .resolve_batch_with(&t, &requests[w[0]..w[1]], |i, outcome| {
                // Each request once, in order.
                views_agree &= w[0] + i == reported.len();
                reported.push(
                    outcome
                        .map(|view| {
                            let outcome = view.to_outcome();
                            let keys = |ids: &[oneid::Identity]| {
                                ids.iter().map(|i| i.to_string()).collect::<Vec<_>>()
                            };
                            views_agree &= view.customer() == outcome.customer
                                && view.created() == outcome.created
                                && view.matched().map(|k| k.to_string()).collect::<Vec<_>>()
                                    == keys(&outcome.matched)
                                && view.linked().map(|k| k.to_string()).collect::<Vec<_>>()
                                    == keys(&outcome.linked)
                                && view.rejected() == &outcome.rejected[..]
                                && view.merged() == &outcome.merged[..]
                                && view.refused_merges() == &outcome.refused_merges[..]
                                && view.changed() == &outcome.changed[..]
                                && view.is_noop() == outcome.is_noop();
                            outcome
                        })
                        .map_err(|e| e.to_string()),
                );
            })
            .unwrap();
        prop_assert!(
            views_agree,
            "a view read other than its outcome, or came out of order"
        );
        // Later batches start from customers made by earlier ones: their plans depend on
        // customers, not only on identities, the batch itself touched.
        batched.extend(
            batch
                .resolve_batch(&t, &requests[w[0]..w[1]])
                .unwrap()
                .into_iter()
                .map(|r| r.map_err(|e| e.to_string())),
        );
    }
    prop_assert_eq!(&one_by_one, &batched);
    prop_assert_eq!(&one_by_one, &reported);
    let n = requests.len() as u64 + 1;
    prop_assert_eq!(snapshot(&mut single, &t, n), snapshot(&mut batch, &t, n));
    prop_assert_eq!(snapshot(&mut single, &t, n), snapshot(&mut streamed, &t, n));
    Ok(())
}

/// Requests over many more people, so that batches hold independent requests (planned in
/// parallel) as well as dependent ones.
fn wide_request() -> impl Strategy<Value = ResolveRequest> {
    (
        prop::collection::vec(
            (0..4u8, 0..300u32).prop_map(|(ty, n)| match ty {
                0 => IdentityInput::new("mobile", format!("138{n:08}")),
                1 => IdentityInput::new("email", format!("p{n}@example.com")),
                2 => IdentityInput::new("idcard", format!("53{n:016}")),
                _ => IdentityInput::new("wechat", format!("o{n}")),
            }),
            1..4,
        ),
        prop::option::of(0..3u8),
    )
        .prop_map(|(ids, city)| {
            let mut patch = CustomerPatch::new();
            if let Some(c) = city {
                patch = patch.with(Field::City, format!("city{c}")).unwrap();
            }
            ResolveRequest::new(ids).with_patch(patch)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn batch_equals_one_by_one(
        requests in prop::collection::vec(request(), 1..25),
        splits in prop::collection::vec(any::<usize>(), 0..3),
        quarantine in any::<bool>(),
        parallel in any::<bool>(),
    ) {
        let settings = IdentitySettings::default().with_quarantine(quarantine.then_some(2)).unwrap();
        check_batches_equal_one_by_one(&requests, &splits, settings, parallel)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn large_batches_equal_one_by_one(
        requests in prop::collection::vec(wide_request(), 200..1200),
        splits in prop::collection::vec(any::<usize>(), 0..3),
    ) {
        // Parallel planning, whose bookkeeping can go wrong, and planning in order, where
        // batches this large are prepared on a thread of their own while they are applied.
        for parallel in [true, false] {
            check_batches_equal_one_by_one(&requests, &splits, IdentitySettings::default(), parallel)?;
        }
    }
}

#[test]
fn an_invalid_request_fails_alone() {
    let t = TenantId::new("t");
    let r = Resolver::new(MemoryStore::new());
    let out = r
        .resolve_batch(
            &t,
            &[
                ResolveRequest::new([IdentityInput::new("mobile", "13811112222")]),
                ResolveRequest::new([IdentityInput::new("Bad Type", "x")]),
                ResolveRequest::new([
                    IdentityInput::new("email", "a@b.c"),
                    IdentityInput::new("mobile", "13811112222"),
                ]),
            ],
        )
        .unwrap();
    assert!(matches!(
        out[1],
        Err(oneid::Error::InvalidIdentity { index: 0, .. })
    ));
    let first = out[0].as_ref().unwrap();
    let third = out[2].as_ref().unwrap();
    assert!(first.created);
    assert_eq!(third.customer, first.customer);
    assert_eq!(third.linked.len(), 1);
    // The invalid request created nobody: ids stay dense.
    assert!(r.get(&t, CustomerId(2)).unwrap().is_none());
}
