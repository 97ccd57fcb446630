//! Resolution on every store: the worked examples of SEMANTICS §6, merges and aliases,
//! quarantine, batches, history.

use super::support::t;
use oneid::{
    CustomerId, CustomerPatch, EventKind, Field, FieldValue, IdentityInput, IdentitySettings, ManualClock,
    PlainCreate, PriorityStrategy, RejectReason, ResolveOptions, ResolveRequest, Resolver, Store,
    TargetStrategy,
};

fn id(kind: &str, value: &str) -> IdentityInput {
    IdentityInput::new(kind, value)
}

fn req(ids: &[(&str, &str)]) -> ResolveRequest {
    ResolveRequest::new(ids.iter().map(|(k, v)| id(k, v)))
}

fn with(request: ResolveRequest, target: TargetStrategy, auto_merge: bool, custom: bool) -> ResolveRequest {
    request.with_options(ResolveOptions {
        target_customer_strategy: target,
        auto_merge,
        identity_priority_strategy: if custom {
            PriorityStrategy::Custom
        } else {
            PriorityStrategy::System
        },
        match_by_fields: false,
    })
}

/// A merge refused for a limit: its type, limit and what each side holds.
fn limit_of(refused: &oneid::RefusedMerge) -> (&str, u32, usize, usize) {
    match &refused.reason {
        oneid::RefusalReason::Limit {
            identity_type,
            limit,
            target_holds,
            other_holds,
            ..
        } => (identity_type.as_str(), *limit, *target_holds, *other_holds),
        other => panic!("refused for {other:?}, not a limit"),
    }
}

fn held<S: Store>(r: &mut Resolver<S, ManualClock>, c: CustomerId) -> Vec<String> {
    r.identities(&t(), c)
        .unwrap()
        .iter()
        .map(|i| i.to_string())
        .collect()
}

/// §6.1, customerFirst: the target is the owner of the first identity found; U2 conflicts.
fn example_1_customer_first<S: Store>(mut r: Resolver<S, ManualClock>) {
    let x = r
        .resolve(&t(), &req(&[("wechat-unionid", "U1"), ("mobile", "13800001111")]))
        .unwrap()
        .customer
        .unwrap();
    let request = with(
        req(&[("mobile", "13800001111"), ("wechat-unionid", "U2")]),
        TargetStrategy::CustomerFirst,
        true,
        false,
    );
    let out = r.resolve(&t(), &request).unwrap();
    assert_eq!(out.customer, Some(x));
    assert!(!out.created);
    assert_eq!(out.rejected.len(), 1);
    match &out.rejected[0].reason {
        RejectReason::Conflict { with, limit } => {
            assert_eq!((with.to_string().as_str(), *limit), ("wechat-unionid U1", 1));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(held(&mut r, x), ["wechat-unionid U1", "mobile 13800001111"]);
}

/// §6.1, identityFirst: X conflicts with U2, so a new customer Y takes U2 and the merge of X
/// into Y is refused.
fn example_1_identity_first<S: Store>(mut r: Resolver<S, ManualClock>) {
    let x = r
        .resolve(&t(), &req(&[("wechat-unionid", "U1"), ("mobile", "13800001111")]))
        .unwrap()
        .customer
        .unwrap();
    let request = with(
        req(&[("mobile", "13800001111"), ("wechat-unionid", "U2")]),
        TargetStrategy::IdentityFirst,
        true,
        false,
    );
    let out = r.resolve(&t(), &request).unwrap();
    assert!(out.created);
    let y = out.customer.unwrap();
    assert_ne!(y, x);
    assert_eq!(
        out.linked.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
        ["wechat-unionid U2"]
    );
    assert_eq!(out.refused_merges.len(), 1);
    assert_eq!(out.refused_merges[0].customer, x);
    assert_eq!(limit_of(&out.refused_merges[0]).0, "wechat-unionid");
    assert!(out.merged.is_empty());
    assert_eq!(held(&mut r, x), ["wechat-unionid U1", "mobile 13800001111"]);
    assert_eq!(held(&mut r, y), ["wechat-unionid U2"]);
}

/// §6.2: autoMerge off keeps both; on merges Y into X (mobile outranks email); custom
/// priority makes the request order count.
fn example_2_auto_merge<S: Store>(mut r: Resolver<S, ManualClock>) {
    let x = r
        .resolve(&t(), &req(&[("mobile", "13800002222")]))
        .unwrap()
        .customer
        .unwrap();
    let y = r
        .resolve(&t(), &req(&[("email", "e@x.cn")]))
        .unwrap()
        .customer
        .unwrap();
    let both = req(&[("email", "e@x.cn"), ("mobile", "13800002222")]);
    let off = r
        .resolve(
            &t(),
            &with(both.clone(), TargetStrategy::IdentityFirst, false, false),
        )
        .unwrap();
    assert_eq!(off.customer, Some(x));
    assert!(off.merged.is_empty());
    assert_eq!(held(&mut r, y), ["email e@x.cn"]);
    assert!(matches!(off.rejected[0].reason, RejectReason::OwnedByOther { owner } if owner == y));

    let on = r
        .resolve(
            &t(),
            &with(
                both.with_cause("req-42"),
                TargetStrategy::IdentityFirst,
                true,
                false,
            ),
        )
        .unwrap();
    assert_eq!(on.customer, Some(x));
    assert_eq!(on.merged, [y]);
    assert_eq!(held(&mut r, x), ["mobile 13800002222", "email e@x.cn"]);
    assert_eq!(r.get(&t(), y).unwrap().unwrap().id, x);
    let history = r.history(&t(), x).unwrap();
    let merge = history
        .iter()
        .find(|e| e.kind == EventKind::Merged { from: y })
        .unwrap();
    assert_eq!(merge.cause.reference.as_deref(), Some("req-42"));
}

fn example_2_custom_priority<S: Store>(r: Resolver<S, ManualClock>) {
    let x = r
        .resolve(&t(), &req(&[("mobile", "13800002222")]))
        .unwrap()
        .customer
        .unwrap();
    let y = r
        .resolve(&t(), &req(&[("email", "e@x.cn")]))
        .unwrap()
        .customer
        .unwrap();
    let both = req(&[("email", "e@x.cn"), ("mobile", "13800002222")]);
    let out = r
        .resolve(&t(), &with(both, TargetStrategy::IdentityFirst, true, true))
        .unwrap();
    assert_eq!(out.customer, Some(y));
    assert_eq!(out.merged, [x]);
}

/// Custom priority with customerFirst: the owner of the first identity *in request order*
/// is the target, even when a higher-priority type comes later.
fn custom_priority_with_customer_first<S: Store>(r: Resolver<S, ManualClock>) {
    let by_email = r
        .resolve(&t(), &req(&[("email", "c@x.cn")]))
        .unwrap()
        .customer
        .unwrap();
    let by_unionid = r
        .resolve(&t(), &req(&[("wechat-unionid", "U9")]))
        .unwrap()
        .customer
        .unwrap();
    let request = req(&[("email", "c@x.cn"), ("wechat-unionid", "U9"), ("qq", "77")]);
    let out = r
        .resolve(
            &t(),
            &with(request.clone(), TargetStrategy::CustomerFirst, false, true),
        )
        .unwrap();
    assert_eq!(out.customer, Some(by_email));
    assert!(matches!(out.rejected[0].reason, RejectReason::OwnedByOther { owner } if owner == by_unionid));
    // System priority would have picked the unionid's owner.
    let system = r
        .dry_run(&t(), &with(request, TargetStrategy::CustomerFirst, false, false))
        .unwrap();
    assert_eq!(system.customer, Some(by_unionid));
}

/// Several other owners: the first and third fit and are merged, the second would put the
/// target over the unionid limit and is refused, in request order, with the reason.
fn merge_refused_part_way<S: Store>(mut r: Resolver<S, ManualClock>) {
    let target = r
        .resolve(&t(), &req(&[("mobile", "13811110000"), ("wechat-unionid", "UT")]))
        .unwrap()
        .customer
        .unwrap();
    let first = r
        .resolve(&t(), &req(&[("email", "a1@x.cn")]))
        .unwrap()
        .customer
        .unwrap();
    let second = r
        .resolve(&t(), &req(&[("qq", "2"), ("wechat-unionid", "U2")]))
        .unwrap()
        .customer
        .unwrap();
    let third = r
        .resolve(&t(), &req(&[("member-id", "M3")]))
        .unwrap()
        .customer
        .unwrap();
    let request = req(&[
        ("mobile", "13811110000"),
        ("email", "a1@x.cn"),
        ("qq", "2"),
        ("member-id", "M3"),
    ]);
    let out = r
        .resolve(&t(), &with(request, TargetStrategy::IdentityFirst, true, true))
        .unwrap();
    assert_eq!(out.customer, Some(target));
    assert_eq!(out.merged, [first, third]);
    assert_eq!(out.refused_merges.len(), 1);
    let refused = &out.refused_merges[0];
    assert_eq!(refused.customer, second);
    assert_eq!(limit_of(refused), ("wechat-unionid", 1, 1, 1));
    assert!(matches!(out.rejected[0].reason, RejectReason::OwnedByOther { owner } if owner == second));
    assert_eq!(
        r.get(&t(), second).unwrap().unwrap().id,
        second,
        "still its own customer"
    );
    assert_eq!(
        held(&mut r, target),
        [
            "wechat-unionid UT",
            "mobile 13811110000",
            "email a1@x.cn",
            "member-id M3"
        ]
    );
}

/// §6.3: a limit counts within one request.
fn example_3_limit_within_a_request<S: Store>(r: Resolver<S, ManualClock>) {
    let r = r.with_default_settings(IdentitySettings::default().with_limit("mobile", Some(1)).unwrap());
    let out = r
        .resolve(
            &t(),
            &req(&[("mobile", "13800003333"), ("mobile", "13800004444")]),
        )
        .unwrap();
    assert!(out.created);
    assert_eq!(out.linked.len(), 1);
    assert!(
        matches!(&out.rejected[0].reason, RejectReason::Conflict { with, .. } if &*with.identity_value == "13800003333")
    );
}

/// §6.4: spellings that normalize to one identity.
fn example_4_normalization<S: Store>(r: Resolver<S, ManualClock>) {
    let a = r
        .resolve(&t(), &req(&[("mobile", "+86 138-0013-8000")]))
        .unwrap()
        .customer;
    for spelling in ["0086 13800138000", " 13800138000 "] {
        assert_eq!(
            r.resolve(&t(), &req(&[("mobile", spelling)])).unwrap().customer,
            a
        );
    }
    let e = r
        .resolve(&t(), &req(&[("email", "Jane@Example.COM ")]))
        .unwrap()
        .customer;
    assert_eq!(
        r.resolve(&t(), &req(&[("email", "jane@example.com")]))
            .unwrap()
            .customer,
        e
    );
}

/// §6.5: blocked values never link.
fn example_5_blocked<S: Store>(r: Resolver<S, ManualClock>) {
    let a = r
        .resolve(&t(), &req(&[("mobile", "13800000000"), ("email", "a@x.com")]))
        .unwrap();
    let b = r
        .resolve(&t(), &req(&[("mobile", "13800000000"), ("email", "b@x.com")]))
        .unwrap();
    assert!(a.created && b.created);
    assert_ne!(a.customer, b.customer);
    for out in [&a, &b] {
        assert!(matches!(out.rejected[0].reason, RejectReason::Blocked));
    }
    assert_eq!(r.owner_of(&t(), &id("mobile", "13800000000")).unwrap(), None);
}

/// §6.6: 002's create with identities (matching by fields), then a plain create.
fn example_6_create_then_plain_create<S: Store>(mut r: Resolver<S, ManualClock>) {
    let patch = CustomerPatch::new()
        .with(Field::Name, "小D")
        .unwrap()
        .with(Field::Mobile, "18612341234")
        .unwrap();
    let request = req(&[("wechat", "o123"), ("your-system-account", "user123")])
        .with_patch(patch)
        .with_options(ResolveOptions {
            match_by_fields: true,
            ..Default::default()
        });
    let first = r.resolve(&t(), &request).unwrap();
    assert!(first.created);
    let c = first.customer.unwrap();
    assert_eq!(
        held(&mut r, c),
        ["wechat o123", "your-system-account user123", "mobile 18612341234"]
    );
    let patch = CustomerPatch::new()
        .with(Field::Name, "小D2")
        .unwrap()
        .with(Field::Mobile, "18612341234")
        .unwrap();
    let second = r.create(&t(), patch, PlainCreate::MobileAndEmail).unwrap();
    assert_eq!(second.customer, Some(c));
    assert!(!second.created);
    assert_eq!(
        r.get(&t(), c).unwrap().unwrap().fields.text(Field::Name),
        Some("小D2")
    );
}

/// §6.7: never clear; a verified flag stays.
fn example_7_never_clear<S: Store>(r: Resolver<S, ManualClock>) {
    let patch = CustomerPatch::from_json(
        &serde_json::json!({"mobile": "13800005555", "mobileVerified": true, "city": "昆明"}),
    )
    .unwrap();
    let c = r
        .resolve(&t(), &req(&[("mobile", "13800005555")]).with_patch(patch))
        .unwrap()
        .customer
        .unwrap();
    let lower = CustomerPatch::from_json(&serde_json::json!({"mobileVerified": false})).unwrap();
    r.resolve(&t(), &req(&[("mobile", "13800005555")]).with_patch(lower))
        .unwrap();
    let now = r.get(&t(), c).unwrap().unwrap();
    assert_eq!(
        now.fields.get(Field::MobileVerified),
        Some(&FieldValue::Bool(true))
    );
    assert_eq!(now.fields.text(Field::City), Some("昆明"));
}

/// §6.8: every request above, sent twice, changes nothing the second time.
fn example_8_idempotence<S: Store>(mut r: Resolver<S, ManualClock>) {
    let requests = [
        req(&[("wechat-unionid", "U1"), ("mobile", "13800001111")]),
        req(&[("mobile", "13800001111"), ("wechat-unionid", "U2")]),
        req(&[("email", "e@x.cn"), ("mobile", "13800001111")]),
        req(&[("mobile", "13800000000"), ("email", "a@x.com")]),
    ];
    for request in &requests {
        r.resolve(&t(), request).unwrap();
        let before: Vec<_> = (1..6)
            .map(|i| (r.get(&t(), CustomerId(i)).unwrap(), held(&mut r, CustomerId(i))))
            .collect();
        let again = r.resolve(&t(), request).unwrap();
        assert!(again.is_noop(), "{again:?}");
        let after: Vec<_> = (1..6)
            .map(|i| (r.get(&t(), CustomerId(i)).unwrap(), held(&mut r, CustomerId(i))))
            .collect();
        assert_eq!(before, after);
    }
}

/// A merge of a merge: aliases of aliases read the survivor; history keeps both merges.
fn chained_merges<S: Store>(mut r: Resolver<S, ManualClock>) {
    let a = r.resolve(&t(), &req(&[("qq", "1")])).unwrap().customer.unwrap();
    let b = r
        .resolve(&t(), &req(&[("email", "b@x.cn")]))
        .unwrap()
        .customer
        .unwrap();
    let c = r
        .resolve(&t(), &req(&[("mobile", "13800006666")]))
        .unwrap()
        .customer
        .unwrap();
    assert_eq!(
        r.resolve(&t(), &req(&[("email", "b@x.cn"), ("qq", "1")]))
            .unwrap()
            .merged,
        [a]
    );
    assert_eq!(
        r.resolve(&t(), &req(&[("mobile", "13800006666"), ("email", "b@x.cn")]))
            .unwrap()
            .merged,
        [b]
    );
    for alias in [a, b, c] {
        assert_eq!(r.get(&t(), alias).unwrap().unwrap().id, c);
        assert_eq!(r.canonical_id(&t(), alias).unwrap(), Some(c));
    }
    assert_eq!(
        held(&mut r, c),
        ["qq 1", "email b@x.cn", "mobile 13800006666"],
        "link order"
    );
    let merges: Vec<_> = r
        .history(&t(), a)
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Merged { .. }))
        .collect();
    assert_eq!(merges.len(), 2);
}

/// Merged fields: keep the target, fill gaps, sum balances, unite tags.
fn merge_reconciles_fields<S: Store>(r: Resolver<S, ManualClock>) {
    let p = |v: serde_json::Value| CustomerPatch::from_json(&v).unwrap();
    let x = r
        .resolve(
            &t(),
            &req(&[("mobile", "13800007777")])
                .with_patch(p(serde_json::json!({"name": "X", "balance": 100, "tag": ["a"]}))),
        )
        .unwrap()
        .customer
        .unwrap();
    r.resolve(
        &t(),
        &req(&[("email", "y@x.cn")]).with_patch(p(
            serde_json::json!({"name": "Y", "city": "昆明", "balance": 50, "tag": ["b"]}),
        )),
    )
    .unwrap();
    r.resolve(&t(), &req(&[("mobile", "13800007777"), ("email", "y@x.cn")]))
        .unwrap();
    let c = r.get(&t(), x).unwrap().unwrap();
    assert_eq!(c.fields.text(Field::Name), Some("X"));
    assert_eq!(c.fields.text(Field::City), Some("昆明"));
    assert_eq!(c.fields.get(Field::Balance), Some(&FieldValue::Int(150)));
    assert_eq!(c.tags, ["a", "b"]);
}

/// A customer merged into a target the resolve creates brings its data along: the target
/// could take no existing customer (each conflicts with an earlier identity), the new one
/// takes a mobile's owner by merge, and that owner's balance and name are not lost.
fn merge_into_a_new_customer_keeps_the_merged_data<S: Store>(r: Resolver<S, ManualClock>) {
    let p = |v: serde_json::Value| CustomerPatch::from_json(&v).unwrap();
    // C1 holds a unionid and an idcard; C2 an idcard and a mobile, a name and a balance.
    let c1 = r
        .resolve(
            &t(),
            &req(&[("wechat-unionid", "u1"), ("idcard", "530000000000000001")]),
        )
        .unwrap()
        .customer
        .unwrap();
    let c2 = r
        .resolve(
            &t(),
            &req(&[("idcard", "530000000000000002"), ("mobile", "13800001111")])
                .with_patch(p(serde_json::json!({"name": "二号", "balance": 100}))),
        )
        .unwrap()
        .customer
        .unwrap();
    // A new unionid first: C1 holds another (limit 1), C2 another idcard than C1's.
    let out = r
        .resolve(
            &t(),
            &req(&[
                ("wechat-unionid", "u0"),
                ("idcard", "530000000000000001"),
                ("mobile", "13800001111"),
            ])
            .with_patch(p(serde_json::json!({"city": "昆明", "balance": 5}))),
        )
        .unwrap();
    assert!(out.created);
    assert_eq!(out.merged, [c2]);
    assert_eq!(out.refused_merges.len(), 1);
    assert_eq!(out.refused_merges[0].customer, c1);
    let new = r.get(&t(), out.customer.unwrap()).unwrap().unwrap();
    assert_eq!(new.fields.text(Field::Name), Some("二号"));
    assert_eq!(new.fields.text(Field::City), Some("昆明"));
    // The patch sets the balance of a customer holding the merged 100: set, not summed.
    assert_eq!(new.fields.get(Field::Balance), Some(&FieldValue::Int(5)));
    assert!(out.changed.contains(&oneid::ChangedField::Field(Field::Name)));
    assert_eq!(r.get(&t(), c2).unwrap().unwrap().id, new.id, "c2 is an alias now");
}

/// The placeholder defence works the same on every store: a shop's phone typed for
/// walk-ins who are each known by their own phone and email is quarantined once three of them
/// meet at it; the first two are merged on the way, the third is left alone.
fn quarantine<S: Store>(r: Resolver<S, ManualClock>) {
    let kiosk = "13912345678";
    let known = |n: u32| {
        r.resolve(
            &t(),
            &req(&[
                ("mobile", &format!("1370000000{n}")),
                ("email", &format!("w{n}@x.cn")),
            ]),
        )
        .unwrap()
        .customer
        .unwrap()
    };
    let walk_in = |n: u32| req(&[("mobile", kiosk), ("email", &format!("w{n}@x.cn"))]);
    let first = known(0);
    assert_eq!(r.resolve(&t(), &walk_in(0)).unwrap().customer, Some(first));
    for n in 1..=2 {
        let theirs = known(n);
        let out = r.resolve(&t(), &walk_in(n)).unwrap();
        assert_eq!(out.customer, Some(first), "walk-in {n}: {out:?}");
        assert_eq!(out.merged, [theirs]);
    }
    let theirs = known(3);
    let third = r.resolve(&t(), &walk_in(3)).unwrap();
    assert_eq!(third.customer, Some(theirs), "{third:?}");
    assert!(third.merged.is_empty());
    assert!(matches!(
        third.rejected[0].reason,
        RejectReason::Quarantined { owner } if owner == first
    ));
    assert!(r.resolve(&t(), &walk_in(3)).unwrap().is_noop());
    // A walk-in nobody knows yet brings no evidence, and finds nobody through the phone.
    let new = r.resolve(&t(), &walk_in(9)).unwrap();
    assert!(new.created, "{new:?}");
}

/// The quarantine report lists each quarantined value with its holder and the evidence
/// against it (the identities, times and causes of the requests that brought it), the same on
/// every store; values below the threshold are not listed, and erasing the holder forgets it.
fn quarantine_report<S: Store>(r: Resolver<S, ManualClock>) {
    let kiosk = "13912345678";
    assert!(r.quarantined(&t()).unwrap().is_empty());
    let known = |n: u32| {
        r.resolve(
            &t(),
            &req(&[
                ("mobile", &format!("1370000000{n}")),
                ("email", &format!("w{n}@x.cn")),
            ]),
        )
        .unwrap()
        .customer
        .unwrap()
    };
    let walk_in = |n: u32| {
        let mut q =
            req(&[("mobile", kiosk), ("email", &format!("w{n}@x.cn"))]).with_cause(format!("visit-{n}"));
        q.event_time = Some(format!("2024-03-0{}T10:00:00Z", n + 1).parse().unwrap());
        q
    };
    let first = known(0);
    r.resolve(&t(), &walk_in(0)).unwrap();
    for n in 1..=3 {
        known(n);
        r.resolve(&t(), &walk_in(n)).unwrap();
    }
    let report = r.quarantined(&t()).unwrap();
    assert_eq!(report.len(), 1, "{report:?}");
    let value = &report[0];
    assert_eq!(value.identity.to_string(), format!("mobile {kiosk}"));
    assert_eq!(value.owner, first);
    let evidence: Vec<(String, String, Option<&str>)> = value
        .evidence
        .iter()
        .map(|e| {
            let cause = e.cause.as_ref().unwrap();
            assert_eq!(cause.operation, oneid::Operation::Resolve);
            (
                e.identity.to_string(),
                e.at.unwrap().to_rfc3339(),
                cause.reference.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        evidence,
        (1..=3)
            .map(|n| (
                format!("email w{n}@x.cn"),
                format!("2024-03-0{}T10:00:00+00:00", n + 1),
                Some(["visit-1", "visit-2", "visit-3"][n as usize - 1])
            ))
            .collect::<Vec<_>>()
    );
    // A dry run records nothing, and the report reads as before.
    known(4);
    r.dry_run(&t(), &walk_in(4)).unwrap();
    assert_eq!(r.quarantined(&t()).unwrap(), report);
    // With quarantine off nothing is quarantined; erasing the holder forgets the evidence.
    let off = IdentitySettings::default().with_quarantine(None).unwrap();
    r.set_settings(&t(), &off, None).unwrap();
    assert!(r.quarantined(&t()).unwrap().is_empty());
    r.set_settings(&t(), &IdentitySettings::default(), None).unwrap();
    assert_eq!(r.quarantined(&t()).unwrap(), report);
    r.erase(&t(), first).unwrap();
    assert!(r.quarantined(&t()).unwrap().is_empty());
}

/// A customer known by an email whose phone changed over the years (no limit on mobiles)
/// stays one customer, holding the email and every phone, on every store.
fn a_changed_phone_never_splits_the_customer<S: Store>(mut r: Resolver<S, ManualClock>) {
    let c = r
        .resolve(&t(), &req(&[("email", "a@x.cn")]))
        .unwrap()
        .customer
        .unwrap();
    for n in 1..=4 {
        let out = r
            .resolve(
                &t(),
                &req(&[("email", "a@x.cn"), ("mobile", &format!("1370000000{n}"))]),
            )
            .unwrap();
        assert_eq!(out.customer, Some(c), "phone {n}: {out:?}");
        assert!(!out.created && out.rejected.is_empty(), "phone {n}: {out:?}");
    }
    let mut holds = held(&mut r, c);
    holds.sort();
    assert_eq!(
        holds,
        [
            "email a@x.cn",
            "mobile 13700000001",
            "mobile 13700000002",
            "mobile 13700000003",
            "mobile 13700000004"
        ]
    );
    for one in [("email", "a@x.cn"), ("mobile", "13700000004")] {
        let out = r.resolve(&t(), &req(&[one])).unwrap();
        assert_eq!(out.customer, Some(c), "{out:?}");
        assert!(out.is_noop());
    }
}

/// A member id seen with four devices, within a device limit of 5: one customer.
fn devices_within_their_limit_never_split_the_member<S: Store>(mut r: Resolver<S, ManualClock>) {
    let settings = IdentitySettings::default().with_limit("device", Some(5)).unwrap();
    r = r.with_default_settings(settings);
    let c = r
        .resolve(&t(), &req(&[("member-id", "M1")]))
        .unwrap()
        .customer
        .unwrap();
    for n in 1..=4 {
        let out = r
            .resolve(&t(), &req(&[("member-id", "M1"), ("device", &format!("d{n}"))]))
            .unwrap();
        assert_eq!(out.customer, Some(c), "device {n}: {out:?}");
        assert!(!out.created && out.rejected.is_empty(), "device {n}: {out:?}");
    }
    assert_eq!(held(&mut r, c).len(), 5);
    let out = r.resolve(&t(), &req(&[("member-id", "M1")])).unwrap();
    assert_eq!(out.customer, Some(c));
    assert!(out.rejected.is_empty(), "{out:?}");
}

/// A batch commits all at once with the outcomes of one-by-one resolution.
fn batch<S: Store>(r: Resolver<S, ManualClock>) {
    let requests = vec![
        req(&[("mobile", "13800008888")]),
        req(&[("email", "z@x.cn")]),
        req(&[("Bad", "x")]),
        req(&[("email", "z@x.cn"), ("mobile", "13800008888")]),
    ];
    let out = r.resolve_batch(&t(), &requests).unwrap();
    assert_eq!(out[0].as_ref().unwrap().customer, Some(CustomerId(1)));
    assert!(out[2].is_err());
    assert_eq!(out[3].as_ref().unwrap().merged, [CustomerId(2)]);
    assert_eq!(r.get(&t(), CustomerId(2)).unwrap().unwrap().id, CustomerId(1));
}

/// `resolve_batch_with` reports each request's outcome in order, as `resolve_batch` gives
/// it, and the views read what the outcomes list.
fn batch_with_views<S: Store>(mut r: Resolver<S, ManualClock>) {
    let requests = vec![
        req(&[("mobile", "13800008888"), ("email", "null")]),
        req(&[("email", "z@x.cn")]),
        req(&[("Bad", "x")]),
        req(&[
            ("email", "Z@x.cn"),
            ("mobile", "+86 138 0000 8888"),
            ("wechat", "o-1"),
        ]),
        // §6.1 in a batch: the second request's merge into the first one's customer is refused.
        req(&[("wechat-unionid", "U1"), ("mobile", "13800001111")]),
        with(
            req(&[("mobile", "13800001111"), ("wechat-unionid", "U2")]),
            TargetStrategy::IdentityFirst,
            true,
            false,
        ),
    ];
    let mut seen = Vec::new();
    r.resolve_batch_with(&t(), &requests, |i, outcome| {
        seen.push((
            i,
            outcome.map(|view| {
                let outcome = view.to_outcome();
                assert_eq!(view.customer(), outcome.customer);
                assert_eq!(view.created(), outcome.created);
                assert_eq!(
                    view.matched().map(|k| k.to_string()).collect::<Vec<_>>(),
                    outcome.matched.iter().map(|i| i.to_string()).collect::<Vec<_>>()
                );
                assert_eq!(
                    view.linked().map(|k| k.to_string()).collect::<Vec<_>>(),
                    outcome.linked.iter().map(|i| i.to_string()).collect::<Vec<_>>()
                );
                assert_eq!(view.rejected(), &outcome.rejected[..]);
                assert_eq!(view.merged(), &outcome.merged[..]);
                assert_eq!(view.changed(), &outcome.changed[..]);
                assert_eq!(view.refused_merges(), &outcome.refused_merges[..]);
                assert_eq!(view.dry_run(), outcome.dry_run);
                assert_eq!(view.is_noop(), outcome.is_noop());
                outcome
            }),
        ));
    })
    .unwrap();
    assert_eq!(
        seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    let out: Vec<_> = seen.into_iter().map(|(_, o)| o).collect();
    assert!(matches!(
        out[0].as_ref().unwrap().rejected[0].reason,
        RejectReason::Blocked
    ));
    assert!(out[2].is_err());
    let last = out[3].as_ref().unwrap();
    assert_eq!(
        (last.customer, &last.merged[..]),
        (Some(CustomerId(1)), &[CustomerId(2)][..])
    );
    assert_eq!(last.linked.len(), 1, "the openid");
    assert_eq!(held(&mut r, CustomerId(1)).len(), 3);
    let (x, refusing) = (out[4].as_ref().unwrap(), out[5].as_ref().unwrap());
    assert!(refusing.created && !refusing.dry_run);
    assert_eq!(refusing.refused_merges.len(), 1);
    assert_eq!(Some(refusing.refused_merges[0].customer), x.customer);
    assert_eq!(limit_of(&refusing.refused_merges[0]).0, "wechat-unionid");
    assert!(refusing.merged.is_empty());
}

/// Dry runs write nothing.
fn dry_run_writes_nothing<S: Store>(r: Resolver<S, ManualClock>) {
    let dry = r.dry_run(&t(), &req(&[("mobile", "13800009999")])).unwrap();
    assert!(dry.created && dry.customer.is_none());
    assert_eq!(r.owner_of(&t(), &id("mobile", "13800009999")).unwrap(), None);
    let real = r.resolve(&t(), &req(&[("mobile", "13800009999")])).unwrap();
    assert_eq!(real.customer, Some(CustomerId(1)), "the dry run used no id");
}

/// Values are stored verbatim, never interpreted: quotes, SQL, LIKE metacharacters, odd
/// Unicode; NUL bytes (in identity values, names and scopes, in tags and in tenant ids) and
/// oversized values are rejected before any store sees them.
fn hostile_values<S: Store>(r: Resolver<S, ManualClock>) {
    let nasty = [
        "o'; DROP TABLE oneid_customers; --",
        "50%_off\\",
        "名字\u{200b}🙂",
        "\"quoted\"",
    ];
    let mut ids = Vec::new();
    for (n, v) in nasty.iter().enumerate() {
        let patch = CustomerPatch::new().with(Field::Name, *v).unwrap();
        let out = r.resolve(&t(), &req(&[("wechat", v)]).with_patch(patch)).unwrap();
        assert!(out.created, "{n}");
        ids.push(out.customer.unwrap());
    }
    for (v, c) in nasty.iter().zip(&ids) {
        assert_eq!(r.owner_of(&t(), &id("wechat", v)).unwrap(), Some(*c));
        assert_eq!(
            r.get(&t(), *c).unwrap().unwrap().fields.text(Field::Name),
            Some(*v)
        );
    }
    // LIKE metacharacters in a search match literally.
    let q = oneid::CustomerQuery {
        filter: oneid::CustomerFilter {
            search: Some("%_".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(r.query(&t(), &q).unwrap().total, 1);
    let q = oneid::CustomerQuery {
        filter: oneid::CustomerFilter {
            search: Some("_".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(r.query(&t(), &q).unwrap().total, 2, "oneid_customers and 50%_off");
    assert!(r.resolve(&t(), &req(&[("wechat", &"x".repeat(129))])).is_err());
    assert!(r.resolve(&t(), &req(&[("wechat", "a\u{0}b")])).is_err());
    // NUL anywhere a store would keep it as text is refused alike by every store, before
    // anything is written.
    let before = r.count(&t(), &oneid::CustomerFilter::default()).unwrap();
    let mut named = id("wechat", "nul-name");
    named.identity_name = Some("a\u{0}b".into());
    let mut scoped = id("wechat", "nul-scope");
    scoped.scope = Some("app\u{0}".into());
    for input in [named, scoped] {
        let e = r
            .resolve(&t(), &ResolveRequest::new([input.clone()]))
            .unwrap_err();
        assert!(
            matches!(e, oneid::Error::InvalidIdentity { .. }),
            "{input:?}: {e}"
        );
    }
    let mut tagged = CustomerPatch::new();
    tagged.tags.push("vip\u{0}".into());
    let e = r
        .resolve(&t(), &req(&[("wechat", "nul-tag")]).with_patch(tagged))
        .unwrap_err();
    assert!(matches!(e, oneid::Error::InvalidField { .. }), "{e}");
    let body = serde_json::json!({"customer": {"tags": ["vip\u{0}"]}, "customerIdentities": []});
    assert!(matches!(
        ResolveRequest::from_json(&body),
        Err(oneid::Error::InvalidField { .. })
    ));
    assert_eq!(r.count(&t(), &oneid::CustomerFilter::default()).unwrap(), before);
    let c = ids[0];
    let e = r.add_tags(&t(), c, &["vip\u{0}"]).unwrap_err();
    assert!(matches!(e, oneid::Error::InvalidField { .. }), "{e}");
    let update = oneid::UpdatePatch {
        tags: Some(vec!["vip\u{0}".into()]),
        ..Default::default()
    };
    let e = r.update(&t(), c, &update).unwrap_err();
    assert!(matches!(e, oneid::Error::InvalidField { .. }), "{e}");
    assert!(r.get(&t(), c).unwrap().unwrap().tags.is_empty());
    let nul_tenant = oneid::TenantId::new("t\u{0}");
    let e = r
        .resolve(&nul_tenant, &req(&[("wechat", "nul-tenant")]))
        .unwrap_err();
    assert!(matches!(e, oneid::Error::InvalidTenant(_)), "{e}");
    assert!(matches!(
        r.get(&nul_tenant, c),
        Err(oneid::Error::InvalidTenant(_))
    ));
    let q = oneid::CustomerQuery::default();
    assert!(matches!(
        r.query(&nul_tenant, &q),
        Err(oneid::Error::InvalidTenant(_))
    ));
}

fn nested(depth: usize) -> serde_json::Value {
    (0..depth).fold(serde_json::json!("leaf"), |v, _| serde_json::json!([v]))
}

/// Extended attributes nest at most `MAX_ATTR_DEPTH` levels: that deep, every store keeps and
/// reads them back; deeper, they are refused before anything is written (a value 124 levels
/// deep, which JSON text can carry, once made the memory store panic on reading it).
fn deep_attribute_values<S: Store>(r: Resolver<S, ManualClock>) {
    let deepest = nested(oneid::limits::MAX_ATTR_DEPTH);
    let mut patch = CustomerPatch::new();
    patch.attrs.insert(
        "deep".into(),
        oneid::ExtAttr {
            name: None,
            value: deepest.clone(),
        },
    );
    let c = r
        .resolve(&t(), &req(&[("wechat", "deep")]).with_patch(patch))
        .unwrap()
        .customer
        .unwrap();
    assert_eq!(r.get(&t(), c).unwrap().unwrap().attrs["deep"].value, deepest);

    let text = format!(
        r#"{{"customer": {{"attr": {{"deeper": {}}}}}, "customerIdentities": [{{"identityType": "wechat", "identityValue": "deeper"}}]}}"#,
        nested(124)
    );
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    let e = r
        .resolve(&t(), &ResolveRequest::from_json(&body).unwrap())
        .unwrap_err();
    assert!(
        matches!(&e, oneid::Error::InvalidField { field, .. } if field == "deeper"),
        "{e}"
    );
    assert_eq!(r.owner_of(&t(), &id("wechat", "deeper")).unwrap(), None);

    let too_deep = nested(oneid::limits::MAX_ATTR_DEPTH + 1);
    let e = r
        .update_extended_attribute(&t(), c, "deep", &too_deep)
        .unwrap_err();
    assert!(matches!(e, oneid::Error::InvalidField { .. }), "{e}");
    let update = oneid::UpdatePatch::from_json(&serde_json::json!({"attr": {"other": too_deep}})).unwrap();
    let e = r.update(&t(), c, &update).unwrap_err();
    assert!(matches!(e, oneid::Error::InvalidField { .. }), "{e}");
    let kept = r.get(&t(), c).unwrap().unwrap();
    assert_eq!(kept.attrs.len(), 1);
    assert_eq!(kept.attrs["deep"].value, deepest);
}

/// Times are kept in the years 0000 to 9999 (the SQL stores' text holds no others): times
/// outside them are refused before anything is written, and query bounds outside them keep
/// every customer or none, on every store alike. Before, such an event time was written, and
/// the customer could not be read back from SQLite or PostgreSQL, nor any query of its tenant
/// run.
fn times_outside_the_storable_years<S: Store>(mut r: Resolver<S, ManualClock>) {
    let at = |s: &str| -> chrono::DateTime<chrono::Utc> { s.parse().unwrap() };
    for (n, (time, ok)) in [
        ("+10000-01-01T00:00:00Z", false),
        ("-0001-12-31T23:59:59Z", false),
        ("0000-01-01T00:00:00Z", true),
        ("9999-12-31T23:59:59.999999Z", true),
    ]
    .into_iter()
    .enumerate()
    {
        let mut request = req(&[("wechat", &format!("time{n}"))]);
        request.event_time = Some(at(time));
        match r.resolve(&t(), &request) {
            Ok(out) => {
                assert!(ok, "{time} was accepted");
                let c = r.get(&t(), out.customer.unwrap()).unwrap().unwrap();
                assert_eq!(c.created, at(time));
            }
            Err(e) => {
                assert!(!ok, "{time}: {e}");
                assert!(matches!(e, oneid::Error::InvalidField { .. }), "{e}");
            }
        }
    }
    assert_eq!(r.count(&t(), &oneid::CustomerFilter::default()).unwrap(), 2);
    let body = serde_json::json!({
        "customer": {"lastSigninAt": "+10000-01-01T00:00:00"},
        "customerIdentities": [{"identityType": "wechat", "identityValue": "late"}]
    });
    assert!(matches!(
        ResolveRequest::from_json(&body),
        Err(oneid::Error::InvalidField { .. })
    ));
    let far = chrono::NaiveDate::from_ymd_opt(10000, 1, 1).unwrap();
    assert!(
        CustomerPatch::new()
            .with(Field::Birthday, FieldValue::Date(far))
            .is_err()
    );

    let count =
        |r: &mut Resolver<S, ManualClock>, filter: oneid::CustomerFilter| r.count(&t(), &filter).unwrap();
    let filter = oneid::CustomerFilter::default;
    let (past, future) = (at("-0001-01-01T00:00:00Z"), at("+10000-01-01T00:00:00Z"));
    let cases = [
        (
            oneid::CustomerFilter {
                created_from: Some(future),
                ..filter()
            },
            0,
        ),
        (
            oneid::CustomerFilter {
                created_to: Some(future),
                ..filter()
            },
            2,
        ),
        (
            oneid::CustomerFilter {
                created_from: Some(past),
                ..filter()
            },
            2,
        ),
        (
            oneid::CustomerFilter {
                created_to: Some(past),
                ..filter()
            },
            0,
        ),
        (
            oneid::CustomerFilter {
                updated_to: Some(at("9999-12-31T00:00:00Z")),
                ..filter()
            },
            1,
        ),
        (
            oneid::CustomerFilter {
                updated_from: Some(past),
                updated_to: Some(future),
                ..filter()
            },
            2,
        ),
    ];
    for (f, want) in cases {
        assert_eq!(count(&mut r, f.clone()), want, "{f:?}");
    }
    // A clock past the years the stores keep writes nothing either.
    let c = r
        .find_by_identity(&t(), &id("wechat", "time2"))
        .unwrap()
        .unwrap()
        .id;
    let r = r.with_clock(ManualClock::at(future));
    let e = r.resolve(&t(), &req(&[("wechat", "late-clock")])).unwrap_err();
    assert!(matches!(e, oneid::Error::ClockOutOfRange(_)), "{e}");
    let e = r.add_tags(&t(), c, &["late"]).unwrap_err();
    assert!(matches!(e, oneid::Error::ClockOutOfRange(_)), "{e}");
    assert_eq!(r.count(&t(), &oneid::CustomerFilter::default()).unwrap(), 2);
    assert!(r.get(&t(), c).unwrap().unwrap().tags.is_empty());
}

/// The bounds that keep a request within what every store can hold: a cause without NUL, at
/// most `MAX_REQUEST_IDENTITIES` identities, mobile and email fields of at most 128 characters,
/// tenant ids of at most 64, attribute names of 1 to 64; each exactly at its bound is kept by
/// every store, and one past it refused before anything is written. Leap seconds and floats
/// read back alike everywhere. (Past these bounds PostgreSQL or SQLite used to fail alone,
/// with a database error, or the memory store to keep a leap second as the next second.)
fn request_bounds_every_store_keeps<S: Store>(r: Resolver<S, ManualClock>) {
    let invalid_field = |e: &oneid::Error| matches!(e, oneid::Error::InvalidField { .. });
    let e = r
        .resolve(&t(), &req(&[("wechat", "caused")]).with_cause("a\u{0}b"))
        .unwrap_err();
    assert!(invalid_field(&e), "{e}");

    let many = |n: usize| ResolveRequest::new((0..n).map(|i| id("member", &format!("m{i}"))));
    let e = r
        .resolve(&t(), &many(oneid::limits::MAX_REQUEST_IDENTITIES + 1))
        .unwrap_err();
    assert!(invalid_field(&e), "{e}");
    let out = r
        .resolve(&t(), &many(oneid::limits::MAX_REQUEST_IDENTITIES))
        .unwrap();
    assert_eq!(out.linked.len(), oneid::limits::MAX_REQUEST_IDENTITIES);
    assert!(
        r.resolve(&t(), &many(oneid::limits::MAX_REQUEST_IDENTITIES))
            .unwrap()
            .is_noop()
    );

    let contact = |n: usize| "手".repeat(n);
    let longest = oneid::limits::MAX_CONTACT_FIELD_CHARS;
    assert!(
        CustomerPatch::new()
            .with(Field::Mobile, contact(longest + 1))
            .is_err()
    );
    assert!(
        CustomerPatch::new()
            .with(Field::Email, contact(longest + 1))
            .is_err()
    );
    let body = serde_json::json!({"customer": {"mobile": contact(longest + 1)}, "customerIdentities": []});
    assert!(matches!(
        ResolveRequest::from_json(&body),
        Err(oneid::Error::InvalidField { .. })
    ));
    let patch = CustomerPatch::new()
        .with(Field::Mobile, contact(longest))
        .unwrap();
    let c = r
        .resolve(&t(), &req(&[("wechat", "long-mobile")]).with_patch(patch))
        .unwrap()
        .customer
        .unwrap();
    assert_eq!(
        r.get(&t(), c).unwrap().unwrap().fields.text(Field::Mobile),
        Some(contact(longest).as_str())
    );

    let tenant = |n: usize| oneid::TenantId::new("租".repeat(n));
    let e = r
        .resolve(
            &tenant(oneid::limits::MAX_TENANT_ID_CHARS + 1),
            &req(&[("wechat", "o1")]),
        )
        .unwrap_err();
    assert!(matches!(e, oneid::Error::InvalidTenant(_)), "{e}");
    let widest = tenant(oneid::limits::MAX_TENANT_ID_CHARS);
    let c = r
        .resolve(&widest, &req(&[("wechat", "o1")]))
        .unwrap()
        .customer
        .unwrap();
    assert!(r.get(&widest, c).unwrap().is_some());

    for name in ["", " ", &"k".repeat(65)] {
        let mut patch = CustomerPatch::new();
        patch.attrs.insert(
            name.to_owned(),
            oneid::ExtAttr {
                name: None,
                value: serde_json::json!(1),
            },
        );
        let e = r
            .resolve(&t(), &req(&[("wechat", "named")]).with_patch(patch))
            .unwrap_err();
        assert!(
            matches!(e, oneid::Error::InvalidAttributeName { .. }),
            "{name:?}: {e}"
        );
    }
    assert_eq!(r.owner_of(&t(), &id("wechat", "named")).unwrap(), None);

    let mut leap = req(&[("wechat", "leap")]);
    leap.event_time = Some(
        chrono::DateTime::parse_from_rfc3339("2016-12-31T23:59:60.5Z")
            .unwrap()
            .to_utc(),
    );
    let c = r.resolve(&t(), &leap).unwrap().customer.unwrap();
    let next: chrono::DateTime<chrono::Utc> = "2017-01-01T00:00:00.5Z".parse().unwrap();
    assert_eq!(r.get(&t(), c).unwrap().unwrap().created, next);
    assert_eq!(r.history(&t(), c).unwrap()[0].at, next);

    let mut patch = CustomerPatch::new();
    for (k, v) in [
        ("tiny", 4.4501477170144023e-308),
        ("small", 2.4354608445967724e-250),
        ("third", 0.1 + 0.2),
    ] {
        patch.attrs.insert(
            k.into(),
            oneid::ExtAttr {
                name: None,
                value: serde_json::json!(v),
            },
        );
    }
    let c = r
        .resolve(&t(), &req(&[("wechat", "floats")]).with_patch(patch.clone()))
        .unwrap()
        .customer
        .unwrap();
    let kept = r.get(&t(), c).unwrap().unwrap();
    for (k, a) in &patch.attrs {
        assert_eq!(kept.attrs[k].value, a.value, "{k}");
    }
}

/// Filters every store answers alike: texts with a NUL match nobody (no stored text holds
/// one), and a search key of more than `MAX_SEARCH_CHARS` is refused. (SQLite cut a LIKE
/// pattern at the NUL and matched too much, PostgreSQL failed with a database error, and SQLite
/// could not match a key over 50,000 bytes.)
fn query_filters_every_store_answers<S: Store>(r: Resolver<S, ManualClock>) {
    for (n, name) in ["ba", "xa", "abc"].into_iter().enumerate() {
        let patch = CustomerPatch::new().with(Field::Name, name).unwrap();
        r.resolve(&t(), &req(&[("wechat", &format!("o{n}"))]).with_patch(patch))
            .unwrap();
    }
    let nul = || Some("a\u{0}".to_owned());
    let filters = [
        oneid::CustomerFilter {
            search: nul(),
            ..Default::default()
        },
        oneid::CustomerFilter {
            search: Some("\u{0}".into()),
            ..Default::default()
        },
        oneid::CustomerFilter {
            tag: nul(),
            ..Default::default()
        },
        oneid::CustomerFilter {
            stage: nul(),
            ..Default::default()
        },
        oneid::CustomerFilter {
            source: nul(),
            ..Default::default()
        },
        oneid::CustomerFilter {
            mobile: nul(),
            ..Default::default()
        },
        oneid::CustomerFilter {
            email: nul(),
            ..Default::default()
        },
    ];
    for filter in filters {
        assert_eq!(r.count(&t(), &filter).unwrap(), 0, "{filter:?}");
        let query = oneid::CustomerQuery {
            filter,
            ..Default::default()
        };
        assert_eq!(r.query(&t(), &query).unwrap().total, 0);
    }
    let longest = oneid::limits::MAX_SEARCH_CHARS;
    let search = |n: usize| oneid::CustomerFilter {
        search: Some("a".repeat(n)),
        ..Default::default()
    };
    assert_eq!(r.count(&t(), &search(longest)).unwrap(), 0);
    let e = r.count(&t(), &search(longest + 1)).unwrap_err();
    assert!(matches!(e, oneid::Error::InvalidField { .. }), "{e}");
    let query = oneid::CustomerQuery {
        filter: search(60_000),
        ..Default::default()
    };
    assert!(matches!(
        r.query(&t(), &query),
        Err(oneid::Error::InvalidField { .. })
    ));
}

/// Erasing a customer drops the quarantine evidence about every value it ever held, also
/// for a value someone else holds now, on every store (the memory store kept that value's
/// count, so it stayed quarantined there alone). And sending one request again never
/// quarantines what it linked (thresholds start at 2).
fn erase_forgets_evidence_alike<S: Store>(r: Resolver<S, ManualClock>) {
    let settings = IdentitySettings::default().with_quarantine(Some(2)).unwrap();
    let r = r.with_default_settings(settings);
    let card = |n: u8| ("idcard", format!("53{n:016}"));
    let first = r
        .resolve(&t(), &req(&[("wechat", "o0")]))
        .unwrap()
        .customer
        .unwrap();
    r.delete(&t(), first).unwrap();
    let (kind, value) = card(1);
    let holder = r
        .resolve(&t(), &req(&[("wechat", "o0"), (kind, &value)]))
        .unwrap()
        .customer
        .unwrap();
    for n in 2..4 {
        let (kind, value) = card(n);
        r.resolve(&t(), &req(&[("wechat", "o0"), (kind, &value)]))
            .unwrap();
    }
    let quarantined = r.resolve(&t(), &req(&[("wechat", "o0")])).unwrap();
    assert!(
        quarantined
            .rejected
            .iter()
            .any(|x| matches!(x.reason, RejectReason::Quarantined { .. })),
        "{quarantined:?}"
    );
    r.erase(&t(), first).unwrap();
    let after = r.resolve(&t(), &req(&[("wechat", "o0")])).unwrap();
    assert_eq!(after.customer, Some(holder), "{after:?}");
    assert!(after.rejected.is_empty(), "{after:?}");

    let repeated = req(&[
        ("wechat-unionid", "u1"),
        ("wechat-unionid", "u2"),
        ("email", "a@x.cn"),
    ]);
    let once = r.resolve(&t(), &repeated).unwrap();
    for _ in 0..3 {
        let again = r.resolve(&t(), &repeated).unwrap();
        assert!(again.is_noop(), "{again:?}");
        assert_eq!(again.customer, once.customer);
    }
}

super::support::conformance!(
    erase_forgets_evidence_alike,
    request_bounds_every_store_keeps,
    query_filters_every_store_answers,
    deep_attribute_values,
    times_outside_the_storable_years,
    example_1_customer_first,
    example_1_identity_first,
    example_2_auto_merge,
    example_2_custom_priority,
    example_3_limit_within_a_request,
    custom_priority_with_customer_first,
    merge_refused_part_way,
    example_4_normalization,
    example_5_blocked,
    example_6_create_then_plain_create,
    example_7_never_clear,
    example_8_idempotence,
    chained_merges,
    merge_reconciles_fields,
    quarantine,
    quarantine_report,
    a_changed_phone_never_splits_the_customer,
    devices_within_their_limit_never_split_the_member,
    batch,
    batch_with_views,
    merge_into_a_new_customer_keeps_the_merged_data,
    dry_run_writes_nothing,
    hostile_values,
);
