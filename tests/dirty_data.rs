//! The defence against placeholders on no blocklist: quarantine of values that keep arriving
//! with identities their customer contradicts.

use oneid::{
    CustomerId, IdentityInput, IdentitySettings, MemoryStore, Outcome, RejectReason, ResolveRequest,
    Resolver, TenantId,
};

const KIOSK: &str = "13912345678";

fn walk_in(n: u32) -> ResolveRequest {
    // A clerk typed the shop's own phone for every walk-in; each walk-in has their own email.
    ResolveRequest::new([
        IdentityInput::new("mobile", KIOSK),
        IdentityInput::new("email", format!("walkin{n}@mail.example")),
    ])
}

/// Walk-in `n` as the crate already knows them: their own phone and email.
fn known(r: &Resolver<MemoryStore>, t: &TenantId, n: u32) -> CustomerId {
    let own = ResolveRequest::new([
        IdentityInput::new("mobile", format!("1370000{n:04}")),
        IdentityInput::new("email", format!("walkin{n}@mail.example")),
    ]);
    r.resolve(t, &own).unwrap().customer.unwrap()
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
    let owner = known(&r, &t, 0);
    assert_eq!(r.resolve(&t, &walk_in(0)).unwrap().customer, Some(owner));
    // Walk-ins 1 and 2, each known by their own phone, still meet at the shop's phone and
    // are merged into its holder (evidence 1 and 2 of 3)...
    for n in 1..=2 {
        let theirs = known(&r, &t, n);
        let out = r.resolve(&t, &walk_in(n)).unwrap();
        assert_eq!(out.customer, Some(owner), "walk-in {n}");
        assert_eq!(out.merged, [theirs]);
        assert!(quarantined(&out).is_empty());
    }
    // ...the third distinct contradiction quarantines the phone: walk-in 3 stays apart.
    let theirs = known(&r, &t, 3);
    let third = r.resolve(&t, &walk_in(3)).unwrap();
    assert_eq!(third.customer, Some(theirs));
    assert!(third.merged.is_empty());
    assert_eq!(quarantined(&third), ["mobile 13912345678"]);
    assert!(matches!(
        third.rejected[0].reason,
        RejectReason::Quarantined { owner: o } if o == owner
    ));
    // From then on the phone links nobody, and nobody new reaches its holder.
    for n in 4..20 {
        let out = r.resolve(&t, &walk_in(n)).unwrap();
        assert!(out.created, "walk-in {n}");
        assert_eq!(quarantined(&out), ["mobile 13912345678"]);
    }
    // The phone stays with the customer that held it: nothing is lost.
    let held = r.identities(&t, owner).unwrap();
    assert!(held.iter().any(|i| &*i.identity_value == KIOSK));
    assert_eq!(
        held.len(),
        7,
        "the phone and the first three walk-ins' phones and emails"
    );
}

#[test]
fn a_phone_arriving_with_new_emails_only_is_one_persons() {
    // Nothing contradicts a phone that keeps arriving with emails nobody holds: a person may
    // change email as often as a clerk may type the shop's phone. The defence waits for
    // evidence (walk-ins known by their own phone, or a limit broken).
    let t = TenantId::new("shop");
    let r = Resolver::new(MemoryStore::new());
    let first = r.resolve(&t, &walk_in(0)).unwrap().customer;
    for n in 1..10 {
        let out = r.resolve(&t, &walk_in(n)).unwrap();
        assert_eq!(out.customer, first, "walk-in {n}");
        assert!(quarantined(&out).is_empty());
    }
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
    let owner = known(&r, &t, 0);
    r.resolve(&t, &walk_in(0)).unwrap();
    for n in 1..10 {
        known(&r, &t, n);
        let dry = r.dry_run(&t, &walk_in(n)).unwrap();
        assert!(quarantined(&dry).is_empty());
    }
    // Still the first piece of evidence when resolved for real: walk-in 1 is merged.
    let out = r.resolve(&t, &walk_in(1)).unwrap();
    assert_eq!(out.customer, Some(owner));
    assert_eq!(out.merged.len(), 1);
}

#[test]
fn threshold_is_configurable_and_unrestricted_turns_it_off() {
    let t = TenantId::new("shop");
    let strict = IdentitySettings::default().with_quarantine(Some(2)).unwrap();
    let r = Resolver::new(MemoryStore::new()).with_default_settings(strict);
    let owner = known(&r, &t, 0);
    r.resolve(&t, &walk_in(0)).unwrap();
    known(&r, &t, 1);
    let out = r.resolve(&t, &walk_in(1)).unwrap();
    assert_eq!(out.merged.len(), 1, "one contradiction");
    let theirs = known(&r, &t, 2);
    let out = r.resolve(&t, &walk_in(2)).unwrap();
    assert_eq!(
        out.customer,
        Some(theirs),
        "quarantined at the second contradiction"
    );
    assert_eq!(quarantined(&out), ["mobile 13912345678"]);
    assert!(
        r.identities(&t, owner)
            .unwrap()
            .iter()
            .any(|i| &*i.identity_value == KIOSK)
    );

    let plain = Resolver::new(MemoryStore::new()).with_default_settings(IdentitySettings::unrestricted());
    let first = known(&plain, &t, 0);
    plain.resolve(&t, &walk_in(0)).unwrap();
    for n in 1..50 {
        known(&plain, &t, n);
        assert_eq!(
            plain.resolve(&t, &walk_in(n)).unwrap().customer,
            Some(first),
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
