//! SEMANTICS §5 invariants over random sequences that mix resolves with the other customer
//! operations (delete, erase, add/remove identity, update, tags), in two tenants.

use oneid::{
    CustomerId, CustomerPatch, CustomerQuery, Field, IdentityInput, IdentitySettings, ManualClock,
    MemoryStore, ResolveOptions, ResolveRequest, Resolver, TenantId, UpdatePatch,
};
use proptest::prelude::*;
use std::collections::HashMap;

type R = Resolver<MemoryStore, ManualClock>;

#[derive(Debug, Clone)]
enum Op {
    Resolve {
        tenant: usize,
        ids: Vec<(usize, usize)>,
        auto_merge: bool,
        customer_first: bool,
    },
    Delete {
        tenant: usize,
        pick: usize,
    },
    Erase {
        tenant: usize,
        pick: usize,
    },
    AddIdentity {
        tenant: usize,
        pick: usize,
        id: (usize, usize),
    },
    RemoveIdentity {
        tenant: usize,
        pick: usize,
        id: (usize, usize),
    },
    Update {
        tenant: usize,
        pick: usize,
        clear_city: bool,
    },
    Tag {
        tenant: usize,
        pick: usize,
    },
}

const TYPES: [&str; 4] = ["mobile", "email", "wechat-unionid", "member-id"];

fn identity((kind, n): (usize, usize)) -> IdentityInput {
    let value = match TYPES[kind] {
        "mobile" => format!("1380000{n:04}"),
        "email" => format!("p{n}@x.cn"),
        other => format!("{other}-{n}"),
    };
    IdentityInput::new(TYPES[kind], value)
}

fn op() -> impl Strategy<Value = Op> {
    let tenant = 0..2usize;
    let id = (0..4usize, 0..5usize);
    prop_oneof![
        6 => (tenant.clone(), prop::collection::vec(id.clone(), 1..4), any::<bool>(), any::<bool>())
            .prop_map(|(tenant, ids, auto_merge, customer_first)| Op::Resolve { tenant, ids, auto_merge, customer_first }),
        1 => (tenant.clone(), any::<usize>()).prop_map(|(tenant, pick)| Op::Delete { tenant, pick }),
        1 => (tenant.clone(), any::<usize>()).prop_map(|(tenant, pick)| Op::Erase { tenant, pick }),
        2 => (tenant.clone(), any::<usize>(), id.clone()).prop_map(|(tenant, pick, id)| Op::AddIdentity { tenant, pick, id }),
        1 => (tenant.clone(), any::<usize>(), id).prop_map(|(tenant, pick, id)| Op::RemoveIdentity { tenant, pick, id }),
        1 => (tenant.clone(), any::<usize>(), any::<bool>()).prop_map(|(tenant, pick, clear_city)| Op::Update { tenant, pick, clear_city }),
        1 => (tenant, any::<usize>()).prop_map(|(tenant, pick)| Op::Tag { tenant, pick }),
    ]
}

/// Everything a tenant's caller can read: live customers (JSON), their identities and history.
fn observable(r: &mut R, t: &TenantId, ids: &[CustomerId]) -> String {
    let all = CustomerQuery {
        size: oneid::limits::MAX_PAGE_SIZE,
        ..Default::default()
    };
    let page = r.query(t, &all).unwrap();
    let mut out = serde_json::to_string(&page.rows).unwrap();
    for &id in ids {
        out += &format!(
            "{:?}{:?}{:?}",
            r.get(t, id).unwrap(),
            r.identities(t, id).unwrap(),
            r.history(t, id).unwrap()
        );
    }
    out
}

fn check_invariants(r: &mut R, t: &TenantId, ever: &[CustomerId]) -> Result<(), TestCaseError> {
    let all = CustomerQuery {
        size: oneid::limits::MAX_PAGE_SIZE,
        ..Default::default()
    };
    let live = r.query(t, &all).unwrap().rows;
    let mut owner_of: HashMap<String, CustomerId> = HashMap::new();
    let settings = IdentitySettings::default();
    for c in &live {
        let held = r.identities(t, c.id).unwrap();
        let mut per_type: HashMap<&str, u32> = HashMap::new();
        for i in &held {
            // One live owner per identity.
            prop_assert!(owner_of.insert(i.to_string(), c.id).is_none(), "{i} held twice");
            let input = IdentityInput::new(i.identity_type.as_str(), &*i.identity_value);
            prop_assert_eq!(r.owner_of(t, &input).unwrap(), Some(c.id));
            *per_type.entry(i.identity_type.as_str()).or_default() += 1;
        }
        // No live customer over a limit.
        for (kind, n) in per_type {
            if let Some(limit) = settings.limit(kind) {
                prop_assert!(n <= limit, "customer {} holds {n} {kind}", c.id);
            }
        }
    }
    // Every id ever handed out reads as a customer that reads as itself: no loops, no void.
    for &id in ever {
        let canonical = r.canonical_id(t, id).unwrap();
        prop_assert!(canonical.is_some(), "alias {id} leads nowhere");
        let canonical = canonical.unwrap();
        prop_assert_eq!(r.canonical_id(t, canonical).unwrap(), Some(canonical));
        if let Some(c) = r.get(t, id).unwrap() {
            prop_assert_eq!(c.id, canonical);
        }
    }
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::ticking(
        "2024-01-01T00:00:00Z".parse().unwrap(),
        chrono::Duration::seconds(1),
    );
    let mut r = Resolver::new(MemoryStore::new()).with_clock(clock);
    let tenants = [TenantId::new("a"), TenantId::new("b")];
    let mut ever: [Vec<CustomerId>; 2] = [Vec::new(), Vec::new()];
    for (step, op) in ops.into_iter().enumerate() {
        let tenant = match &op {
            Op::Resolve { tenant, .. }
            | Op::Delete { tenant, .. }
            | Op::Erase { tenant, .. }
            | Op::AddIdentity { tenant, .. }
            | Op::RemoveIdentity { tenant, .. }
            | Op::Update { tenant, .. }
            | Op::Tag { tenant, .. } => *tenant,
        };
        let (t, other) = (&tenants[tenant], &tenants[1 - tenant]);
        let before_other = observable(&mut r, other, &ever[1 - tenant]);
        let pick = |ids: &[CustomerId], p: usize| (!ids.is_empty()).then(|| ids[p % ids.len()]);
        let target = match &op {
            Op::Resolve { .. } => None,
            Op::Delete { pick: p, .. }
            | Op::Erase { pick: p, .. }
            | Op::AddIdentity { pick: p, .. }
            | Op::RemoveIdentity { pick: p, .. }
            | Op::Update { pick: p, .. }
            | Op::Tag { pick: p, .. } => pick(&ever[tenant], *p),
        };
        let name = format!("person-{step}");
        match (&op, target) {
            (
                Op::Resolve {
                    ids,
                    auto_merge,
                    customer_first,
                    ..
                },
                _,
            ) => {
                let patch = CustomerPatch::new().with(Field::Name, name.as_str()).unwrap();
                let options = ResolveOptions {
                    auto_merge: *auto_merge,
                    target_customer_strategy: if *customer_first {
                        oneid::TargetStrategy::CustomerFirst
                    } else {
                        oneid::TargetStrategy::IdentityFirst
                    },
                    ..Default::default()
                };
                let request = ResolveRequest::new(ids.iter().copied().map(identity))
                    .with_patch(patch)
                    .with_options(options);
                let out = r.resolve(t, &request).unwrap();
                ever[tenant].push(out.customer.unwrap());
            }
            (Op::Delete { .. }, Some(id)) => {
                let _ = r.delete(t, id);
                prop_assert!(r.get(t, id).unwrap().is_none());
            }
            (Op::Erase { .. }, Some(id)) => {
                let held_ids = r.identities(t, id).unwrap();
                let held: Vec<String> = held_ids.iter().map(|i| i.identity_value.to_string()).collect();
                let names: Vec<String> = r
                    .get(t, id)
                    .unwrap()
                    .and_then(|c| c.fields.text(Field::Name).map(str::to_string))
                    .into_iter()
                    .collect();
                let erased = r.erase(t, id).unwrap();
                // The erased customers' personal data appears nowhere.
                for e in &erased {
                    prop_assert!(r.get(t, *e).unwrap().is_none());
                    prop_assert!(r.identities(t, *e).unwrap().is_empty());
                    let history = serde_json::to_string(&r.history(t, *e).unwrap()).unwrap();
                    for secret in held.iter().chain(&names) {
                        let quoted = format!("\"{secret}\"");
                        prop_assert!(!history.contains(&quoted), "{} in {}", secret, history);
                    }
                }
                let everyone = r
                    .query(
                        t,
                        &CustomerQuery {
                            size: oneid::limits::MAX_PAGE_SIZE,
                            ..Default::default()
                        },
                    )
                    .unwrap();
                let text = serde_json::to_string(&everyone.rows).unwrap();
                for secret in &names {
                    let quoted = format!("\"{secret}\"");
                    prop_assert!(!text.contains(&quoted), "{} survived", secret);
                }
                for i in &held_ids {
                    let input = IdentityInput::new(i.identity_type.as_str(), &*i.identity_value);
                    prop_assert_eq!(r.owner_of(t, &input).unwrap(), None);
                }
            }
            (Op::AddIdentity { id: which, .. }, Some(id)) => {
                if let Ok(added) = r.add_identity(t, id, &identity(*which)) {
                    let owner = r.owner_of(t, &identity(*which)).unwrap();
                    prop_assert_eq!(
                        owner,
                        r.canonical_id(t, id).unwrap(),
                        "{} added but not owned",
                        added
                    );
                }
            }
            (Op::RemoveIdentity { id: which, .. }, Some(id)) => {
                if let Ok(true) = r.remove_identity(t, id, &identity(*which)) {
                    prop_assert_eq!(r.owner_of(t, &identity(*which)).unwrap(), None);
                }
            }
            (Op::Update { clear_city, .. }, Some(id)) => {
                let update = if *clear_city {
                    UpdatePatch::new().clear(Field::City)
                } else {
                    UpdatePatch::new().set(Field::City, name.as_str()).unwrap()
                };
                if r.update(t, id, &update).is_ok() {
                    let c = r.get(t, id).unwrap().unwrap();
                    prop_assert_eq!(
                        c.fields.text(Field::City),
                        (!*clear_city).then_some(name.as_str())
                    );
                }
            }
            (Op::Tag { .. }, Some(id)) if r.add_tags(t, id, &[name.as_str()]).is_ok() => {
                prop_assert!(r.get(t, id).unwrap().unwrap().tags.contains(&name));
            }
            _ => {}
        }
        check_invariants(&mut r, t, &ever[tenant])?;
        // Nothing done in one tenant changes what the other reads.
        prop_assert_eq!(
            before_other,
            observable(&mut r, other, &ever[1 - tenant]),
            "step {} leaked",
            step
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_across_all_operations(ops in prop::collection::vec(op(), 1..25)) {
        run(ops)?;
    }
}
