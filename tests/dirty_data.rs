//! The defence against placeholders on no blocklist: quarantine of values that keep arriving
//! with identities their customer contradicts.

use oneid::{
    CustomerId, IdentityInput, IdentitySettings, MemoryStore, Outcome, RejectReason, ResolveRequest,
    Resolver, TenantId,
};

fn walk_in(n: u32) -> ResolveRequest {
    // A clerk typed the shop's own phone for every walk-in; each walk-in has their own email.
    ResolveRequest::new([
        IdentityInput::new("mobile", "13912345678"),
        IdentityInput::new("email", format!("walkin{n}@mail.example")),
    ])
}

fn quarantined(outcome: &Outcome) -> Vec<String> {
    outcome
        .rejected
        .iter()
        .filter(|r| matches!(r.reason, RejectReason::Quarantined { .. }))
        .map(|r| r.identity.to_string())
        .collect()
}

#[test]
fn a_shared_phone_is_quarantined_after_three_distinct_conflicts() {
    let t = TenantId::new("shop");
    let r = Resolver::new(MemoryStore::new());
    let first = r.resolve(&t, &walk_in(0)).unwrap();
    assert!(first.created);
    let owner = first.customer.unwrap();
    // Walk-ins 1 and 2 still go to the first customer (evidence 1 and 2 of 3)...
    for n in 1..=2 {
        let out = r.resolve(&t, &walk_in(n)).unwrap();
        assert_eq!(out.customer, Some(owner), "walk-in {n}");
        assert!(quarantined(&out).is_empty());
    }
    // ...the third distinct contradiction quarantines the phone: walk-in 3 is a new customer.
    let third = r.resolve(&t, &walk_in(3)).unwrap();
    assert!(third.created);
    assert_ne!(third.customer, Some(owner));
    assert_eq!(quarantined(&third), ["mobile 13912345678"]);
    assert!(matches!(
        third.rejected[0].reason,
        RejectReason::Quarantined { owner: o } if o == owner
    ));
    // From then on the phone links nobody, and nobody new reaches the first customer.
    for n in 4..20 {
        let out = r.resolve(&t, &walk_in(n)).unwrap();
        assert!(out.created, "walk-in {n}");
        assert_eq!(quarantined(&out), ["mobile 13912345678"]);
    }
    // The phone stays with the customer that held it: nothing is lost.
    let held = r.identities(&t, owner).unwrap();
    assert!(held.iter().any(|i| &*i.identity_value == "13912345678"));
    assert_eq!(held.len(), 4, "the phone and the first three walk-ins' emails");
}

#[test]
fn repeating_the_same_contradiction_is_not_new_evidence() {
    let t = TenantId::new("shop");
    let r = Resolver::new(MemoryStore::new());
    r.resolve(&t, &walk_in(0)).unwrap();
    let second = r.resolve(&t, &walk_in(1)).unwrap();
    assert_eq!(second.linked.len(), 1);
    // The same request again: the email is now the owner's, so nothing contradicts anything.
    for _ in 0..5 {
        let again = r.resolve(&t, &walk_in(1)).unwrap();
        assert!(again.is_noop());
    }
    // A request that keeps contradicting with the SAME identity counts once: the phone's owner
    // holds an email, this request's unionid-less email belongs to someone else.
    let other = ResolveRequest::new([IdentityInput::new("email", "someone@else.example")]);
    let someone = r.resolve(&t, &other).unwrap().customer.unwrap();
    let bridge = ResolveRequest::new([
        IdentityInput::new("mobile", "13912345678"),
        IdentityInput::new("email", "someone@else.example"),
    ]);
    for _ in 0..5 {
        let out = r.resolve(&t, &bridge).unwrap();
        assert!(
            quarantined(&out).is_empty(),
            "one distinct conflict, repeated, stays one"
        );
        // autoMerge merged `someone` into the phone's owner the first time.
        assert_eq!(r.canonical_id(&t, someone).unwrap(), out.customer);
    }
}

#[test]
fn dry_run_does_not_record_evidence() {
    let t = TenantId::new("shop");
    let r = Resolver::new(MemoryStore::new());
    r.resolve(&t, &walk_in(0)).unwrap();
    for n in 1..10 {
        let dry = r.dry_run(&t, &walk_in(n)).unwrap();
        assert!(quarantined(&dry).is_empty());
    }
    // Still the first piece of evidence when it is resolved for real.
    let out = r.resolve(&t, &walk_in(1)).unwrap();
    assert!(!out.created);
}

#[test]
fn threshold_is_configurable_and_unrestricted_turns_it_off() {
    let t = TenantId::new("shop");
    let strict = IdentitySettings::default().with_quarantine(Some(2)).unwrap();
    let r = Resolver::new(MemoryStore::new()).with_default_settings(strict);
    r.resolve(&t, &walk_in(0)).unwrap();
    assert!(!r.resolve(&t, &walk_in(1)).unwrap().created, "one contradiction");
    let out = r.resolve(&t, &walk_in(2)).unwrap();
    assert!(out.created, "quarantined at the second contradiction");
    assert_eq!(quarantined(&out), ["mobile 13912345678"]);

    let plain = Resolver::new(MemoryStore::new()).with_default_settings(IdentitySettings::unrestricted());
    let first = plain.resolve(&t, &walk_in(0)).unwrap().customer;
    for n in 1..50 {
        assert_eq!(
            plain.resolve(&t, &walk_in(n)).unwrap().customer,
            first,
            "connected components"
        );
    }
    assert!(IdentitySettings::default().with_quarantine(Some(0)).is_err());
    assert!(IdentitySettings::default().with_quarantine(Some(1)).is_err());
    assert_eq!(IdentitySettings::default().quarantine_after(), Some(3));
    assert_eq!(IdentitySettings::unrestricted().quarantine_after(), None);
}

#[test]
fn a_person_with_a_second_email_is_not_quarantined() {
    // One new email per person is the normal case: one piece of evidence, below the threshold.
    let t = TenantId::new("crm");
    let r = Resolver::new(MemoryStore::new());
    let a = r
        .resolve(
            &t,
            &ResolveRequest::new([
                IdentityInput::new("mobile", "13700001111"),
                IdentityInput::new("email", "old@mail.example"),
            ]),
        )
        .unwrap();
    let b = r
        .resolve(
            &t,
            &ResolveRequest::new([
                IdentityInput::new("mobile", "13700001111"),
                IdentityInput::new("email", "new@mail.example"),
            ]),
        )
        .unwrap();
    assert_eq!(a.customer, b.customer);
    assert_eq!(b.linked.len(), 1);
    let later = r
        .resolve(
            &t,
            &ResolveRequest::new([IdentityInput::new("mobile", "137 0000 1111")]),
        )
        .unwrap();
    assert_eq!(later.customer, a.customer);
    assert!(r.get(&t, CustomerId(2)).unwrap().is_none());
}
