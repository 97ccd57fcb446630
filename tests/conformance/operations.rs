//! The customer operations of SEMANTICS §3, each with its error cases, on every store.

use super::support::t;
use oneid::{
    ChangedField, CustomerFilter, CustomerId, CustomerQuery, CustomerStatus, Error, EventKind,
    ExplanationStep, Field, FieldValue, IdentityInput, IdentitySettings, ManualClock, ResolveRequest,
    Resolver, SortKey, Store, TenantId, UpdatePatch,
};
use serde_json::json;

fn id(kind: &str, value: &str) -> IdentityInput {
    IdentityInput::new(kind, value)
}

/// Resolves a customer from a 002-style body and returns its id.
fn make<S: Store>(
    r: &mut Resolver<S, ManualClock>,
    customer: serde_json::Value,
    identities: &[(&str, &str)],
) -> CustomerId {
    let ids: Vec<_> = identities
        .iter()
        .map(|(k, v)| json!({"identityType": k, "identityValue": v}))
        .collect();
    let body = json!({"customer": customer, "customerIdentities": ids});
    r.resolve(&t(), &ResolveRequest::from_json(&body).unwrap())
        .unwrap()
        .customer
        .unwrap()
}

fn identities_of_several_customers_and_owner_of<S: Store>(mut r: Resolver<S, ManualClock>) {
    let a = make(&mut r, json!({}), &[("mobile", "13800001111"), ("wechat", "oA")]);
    let b = make(&mut r, json!({}), &[("email", "b@x.cn")]);
    let listed = r.identities_of(&t(), &[b, a, CustomerId(99)]).unwrap();
    assert_eq!(listed[0].0, b);
    assert_eq!(listed[0].1.len(), 1);
    assert_eq!(
        listed[1].1.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
        ["mobile 13800001111", "wechat oA"]
    );
    assert!(listed[2].1.is_empty());
    assert_eq!(
        r.owner_of(&t(), &id("mobile", "+86 138 0000 1111")).unwrap(),
        Some(a)
    );
    assert_eq!(r.owner_of(&t(), &id("email", "B@X.CN")).unwrap(), Some(b));
    assert_eq!(r.owner_of(&t(), &id("email", "nobody@x.cn")).unwrap(), None);
    assert_eq!(
        r.owner_of(&t(), &id("mobile", "13800000000")).unwrap(),
        None,
        "blocked owns nothing"
    );
    assert!(matches!(
        r.owner_of(&t(), &id("mobile", "abc")),
        Err(Error::InvalidIdentity { .. })
    ));
}

fn attributes_by_name<S: Store>(mut r: Resolver<S, ManualClock>) {
    let c = make(
        &mut r,
        json!({"name": "小D", "district": "五华区", "attr": {"vip": "gold"}}),
        &[("mobile", "13800001111")],
    );
    let values = r
        .attributes(
            &t(),
            c,
            &[
                "name",
                "county",
                "district",
                "vip",
                "missing",
                "id",
                "displayName",
            ],
        )
        .unwrap();
    assert_eq!(values["name"], "小D");
    assert_eq!(values["county"], "五华区");
    assert_eq!(values["district"], "五华区");
    assert_eq!(values["vip"], "gold");
    assert_eq!(values["missing"], serde_json::Value::Null);
    assert_eq!(values["id"], c.0);
    assert_eq!(values["displayName"], "小D");
    assert!(matches!(
        r.attributes(&t(), CustomerId(42), &["name"]),
        Err(Error::CustomerNotFound(_))
    ));
}

fn update_sets_clears_and_keeps<S: Store>(mut r: Resolver<S, ManualClock>) {
    let c = make(
        &mut r,
        json!({"name": "a", "city": "昆明", "stage": "lead", "attr": {"k": 1}}),
        &[("mobile", "13800001111")],
    );
    let update = UpdatePatch::from_json(
        &json!({"name": "b", "city": null, "attr": {"k": null, "j": 2}, "tags": ["x", "x", "y"]}),
    )
    .unwrap();
    let done = r.update(&t(), c, &update).unwrap();
    assert_eq!(done.before.fields.text(Field::Name), Some("a"));
    let after = r.get(&t(), c).unwrap().unwrap();
    assert_eq!(after.fields.text(Field::Name), Some("b"));
    assert_eq!(after.fields.get(Field::City), None, "cleared");
    assert_eq!(after.fields.text(Field::Stage), Some("lead"), "kept");
    assert!(!after.attrs.contains_key("k"));
    assert_eq!(after.attrs["j"].value, 2);
    assert_eq!(after.tags, ["x", "y"]);
    assert!(after.updated > after.created);
    assert!(done.changed.contains(&ChangedField::Field(Field::City)));
    // An update that changes nothing writes nothing.
    let again = r.update(&t(), c, &update).unwrap();
    assert!(again.changed.is_empty());
    assert_eq!(r.get(&t(), c).unwrap().unwrap().updated, after.updated);
    // Bad input.
    assert!(matches!(
        UpdatePatch::from_json(&json!({"gender": 5})),
        Err(Error::InvalidField { .. })
    ));
    assert!(matches!(
        UpdatePatch::from_json(&json!({"bogus": 1})),
        Err(Error::UnknownField { .. })
    ));
    assert!(matches!(
        r.update(&t(), CustomerId(77), &update),
        Err(Error::CustomerNotFound(_))
    ));
}

fn update_keeps_the_verified_rule<S: Store>(mut r: Resolver<S, ManualClock>) {
    let c = make(
        &mut r,
        json!({"mobile": "13800001111", "mobileVerified": true, "email": "a@x.cn", "emailVerified": true}),
        &[("mobile", "13800001111")],
    );
    let lower = UpdatePatch::from_json(&json!({"mobileVerified": false, "emailVerified": null})).unwrap();
    r.update(&t(), c, &lower).unwrap();
    let now = r.get(&t(), c).unwrap().unwrap();
    assert_eq!(
        now.fields.get(Field::MobileVerified),
        Some(&FieldValue::Bool(true))
    );
    assert_eq!(
        now.fields.get(Field::EmailVerified),
        Some(&FieldValue::Bool(true))
    );
    // Same number in another spelling is still the same mobile.
    let same =
        UpdatePatch::from_json(&json!({"mobile": "+86 138-0000-1111", "mobileVerified": false})).unwrap();
    r.update(&t(), c, &same).unwrap();
    assert_eq!(
        r.get(&t(), c).unwrap().unwrap().fields.get(Field::MobileVerified),
        Some(&FieldValue::Bool(true))
    );
    // A new mobile may be unverified.
    let new = UpdatePatch::from_json(&json!({"mobile": "13900002222", "mobileVerified": false})).unwrap();
    r.update(&t(), c, &new).unwrap();
    let now = r.get(&t(), c).unwrap().unwrap();
    assert_eq!(
        now.fields.get(Field::MobileVerified),
        Some(&FieldValue::Bool(false))
    );
    assert_eq!(now.fields.text(Field::Mobile), Some("13900002222"));
}

fn update_one_attribute_is_type_checked<S: Store>(mut r: Resolver<S, ManualClock>) {
    let c = make(&mut r, json!({}), &[("mobile", "13800001111")]);
    r.update_attribute(&t(), c, "gender", &json!("2")).unwrap();
    r.update_attribute(&t(), c, "birthday", &json!("1990-05-01"))
        .unwrap();
    r.update_attribute(&t(), c, "employeeNumber", &json!("120"))
        .unwrap();
    r.update_attribute(&t(), c, "position", &json!("CTO")).unwrap();
    r.update_attribute(&t(), c, "favouriteColour", &json!("green"))
        .unwrap();
    r.update_extended_attribute(&t(), c, "name", &json!("an extended 'name'"))
        .unwrap();
    let now = r.get(&t(), c).unwrap().unwrap();
    assert_eq!(now.fields.get(Field::Gender), Some(&FieldValue::Int(2)));
    assert_eq!(now.fields.get(Field::EmployeeNumber), Some(&FieldValue::Int(120)));
    assert_eq!(now.fields.text(Field::Title), Some("CTO"));
    assert_eq!(now.attrs["favouriteColour"].value, "green");
    assert_eq!(now.attrs["name"].value, "an extended 'name'");
    assert_eq!(now.fields.text(Field::Name), None);
    for (name, value) in [
        ("gender", json!(3)),
        ("birthday", json!("1990-13-01")),
        ("employeeNumber", json!("many")),
        ("isEmployee", json!("perhaps")),
    ] {
        match r.update_attribute(&t(), c, name, &value) {
            Err(Error::InvalidField { field, .. }) => {
                assert_eq!(field, Field::from_name(name).unwrap().name())
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(
        r.update_attribute(&t(), c, "", &json!(1)),
        Err(Error::InvalidAttributeName { .. })
    ));
    r.update_attribute(&t(), c, "gender", &json!(null)).unwrap();
    assert_eq!(r.get(&t(), c).unwrap().unwrap().fields.get(Field::Gender), None);
}

fn add_identity_and_its_errors<S: Store>(mut r: Resolver<S, ManualClock>) {
    let a = make(
        &mut r,
        json!({}),
        &[("mobile", "13800001111"), ("wechat-unionid", "U1")],
    );
    let b = make(&mut r, json!({}), &[("email", "b@x.cn")]);
    let added = r.add_identity(&t(), a, &id("email", " A@X.cn ")).unwrap();
    assert_eq!(added.to_string(), "email a@x.cn");
    assert_eq!(r.owner_of(&t(), &id("email", "a@x.cn")).unwrap(), Some(a));
    // Adding what it already holds is fine and changes nothing.
    r.add_identity(&t(), a, &id("email", "a@x.cn")).unwrap();
    assert_eq!(r.identities(&t(), a).unwrap().len(), 3);
    assert!(
        matches!(r.add_identity(&t(), a, &id("email", "b@x.cn")), Err(Error::IdentityOwned { owner, .. }) if owner == b)
    );
    match r.add_identity(&t(), a, &id("wechat-unionid", "U2")) {
        Err(Error::IdentityConflict { with, limit, .. }) => {
            assert_eq!((with.as_str(), limit), ("wechat-unionid U1", 1))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        r.add_identity(&t(), a, &id("mobile", "13800000000")),
        Err(Error::IdentityBlocked { .. })
    ));
    assert!(matches!(
        r.add_identity(&t(), a, &id("Mobile", "1")),
        Err(Error::InvalidIdentity { .. })
    ));
    assert!(matches!(
        r.add_identity(&t(), CustomerId(9), &id("qq", "1")),
        Err(Error::CustomerNotFound(_))
    ));
    let history = r.history(&t(), a).unwrap();
    assert!(history.iter().any(
        |e| matches!(&e.kind, EventKind::Linked { identity } if identity.to_string() == "email a@x.cn")
            && e.cause.operation == oneid::Operation::AddIdentity
    ));
}

fn remove_identity<S: Store>(mut r: Resolver<S, ManualClock>) {
    let a = make(
        &mut r,
        json!({}),
        &[("mobile", "13800001111"), ("email", "a@x.cn")],
    );
    let b = make(&mut r, json!({}), &[("email", "b@x.cn")]);
    assert!(matches!(
        r.remove_identity(&t(), a, &id("email", "b@x.cn")),
        Err(Error::IdentityOwned { .. })
    ));
    assert!(!r.remove_identity(&t(), a, &id("email", "nobody@x.cn")).unwrap());
    assert!(r.remove_identity(&t(), a, &id("email", "A@x.cn")).unwrap());
    assert_eq!(r.identities(&t(), a).unwrap().len(), 1);
    assert_eq!(r.owner_of(&t(), &id("email", "a@x.cn")).unwrap(), None);
    // A removed identity is free: the next resolve of it creates a new customer.
    let out = r
        .resolve(&t(), &ResolveRequest::new([id("email", "a@x.cn")]))
        .unwrap();
    assert!(out.created);
    assert_ne!(out.customer, Some(a));
    assert_ne!(out.customer, Some(b));
    assert!(
        r.history(&t(), a)
            .unwrap()
            .iter()
            .any(|e| matches!(e.kind, EventKind::Unlinked { .. }))
    );
}

fn tags_and_groups<S: Store>(mut r: Resolver<S, ManualClock>) {
    let c = make(&mut r, json!({"tag": ["vip"]}), &[("mobile", "13800001111")]);
    r.add_tags(&t(), c, &["new", "vip"]).unwrap();
    r.add_groups(&t(), c, &[7, 8, 7]).unwrap();
    let now = r.get(&t(), c).unwrap().unwrap();
    assert_eq!(now.tags, ["vip", "new"]);
    assert_eq!(now.groups, [7, 8]);
    assert!(r.add_tags(&t(), c, &["vip"]).unwrap().changed.is_empty());
    r.remove_tags(&t(), c, &["vip", "absent"]).unwrap();
    r.remove_groups(&t(), c, &[8]).unwrap();
    let now = r.get(&t(), c).unwrap().unwrap();
    assert_eq!(now.tags, ["new"]);
    assert_eq!(now.groups, [7]);
    assert_eq!(
        r.count(
            &t(),
            &CustomerFilter {
                tag: Some("new".into()),
                ..Default::default()
            }
        )
        .unwrap(),
        1
    );
    assert_eq!(
        r.count(
            &t(),
            &CustomerFilter {
                group: Some(8),
                ..Default::default()
            }
        )
        .unwrap(),
        0
    );
}

fn delete_is_logical_and_releases_identities<S: Store>(mut r: Resolver<S, ManualClock>) {
    let a = make(&mut r, json!({"name": "a"}), &[("mobile", "13800001111")]);
    let b = make(&mut r, json!({}), &[("email", "b@x.cn")]);
    // Merge b into a, then delete through b's alias.
    r.resolve(
        &t(),
        &ResolveRequest::new([id("mobile", "13800001111"), id("email", "b@x.cn")]),
    )
    .unwrap();
    r.delete(&t(), b).unwrap();
    assert!(r.get(&t(), a).unwrap().is_none());
    assert!(r.get(&t(), b).unwrap().is_none());
    assert!(matches!(r.delete(&t(), a), Err(Error::CustomerNotFound(_))));
    assert_eq!(r.owner_of(&t(), &id("email", "b@x.cn")).unwrap(), None);
    let again = r
        .resolve(&t(), &ResolveRequest::new([id("mobile", "13800001111")]))
        .unwrap();
    assert!(again.created);
    assert_eq!(r.count(&t(), &CustomerFilter::default()).unwrap(), 1);
    assert!(
        r.history(&t(), a)
            .unwrap()
            .iter()
            .any(|e| e.kind == EventKind::Deleted)
    );
}

fn erase_removes_personal_data_everywhere<S: Store>(mut r: Resolver<S, ManualClock>) {
    let a = make(
        &mut r,
        json!({"name": "张三", "mobile": "13800001111", "attr": {"note": "secret"}, "tag": ["t"]}),
        &[("mobile", "13800001111")],
    );
    let b = make(
        &mut r,
        json!({"name": "张三 CRM", "city": "昆明"}),
        &[("email", "zs@x.cn")],
    );
    r.resolve(
        &t(),
        &ResolveRequest::new([id("mobile", "13800001111"), id("email", "zs@x.cn")]),
    )
    .unwrap();
    let erased = r.erase(&t(), b).unwrap();
    assert_eq!(erased, [a, b]);
    assert!(r.get(&t(), a).unwrap().is_none());
    assert!(r.get(&t(), b).unwrap().is_none());
    for identity in [id("mobile", "13800001111"), id("email", "zs@x.cn")] {
        assert_eq!(r.owner_of(&t(), &identity).unwrap(), None);
    }
    assert!(r.identities(&t(), a).unwrap().is_empty());
    let history = serde_json::to_string(&r.history(&t(), a).unwrap()).unwrap();
    for secret in ["13800001111", "zs@x.cn", "张三", "secret", "昆明"] {
        assert!(
            !history.contains(secret),
            "{secret} survived in history: {history}"
        );
    }
    assert!(history.contains("erased"));
    // The tombstone is all that is left, for the survivor and for the merged customer.
    let page = r.query(&t(), &CustomerQuery::default()).unwrap();
    assert_eq!(page.total, 0);
    // The same identities later make a brand-new customer.
    let fresh = r
        .resolve(&t(), &ResolveRequest::new([id("mobile", "13800001111")]))
        .unwrap();
    assert!(fresh.created);
    assert!(matches!(
        r.erase(&t(), CustomerId(99)),
        Err(Error::CustomerNotFound(_))
    ));
}

fn erase_a_deleted_customer<S: Store>(mut r: Resolver<S, ManualClock>) {
    let a = make(&mut r, json!({"name": "x"}), &[("mobile", "13800001111")]);
    r.delete(&t(), a).unwrap();
    assert_eq!(r.erase(&t(), a).unwrap(), [a]);
    let history = serde_json::to_string(&r.history(&t(), a).unwrap()).unwrap();
    assert!(!history.contains("13800001111"));
}

/// Erasing a customer takes its own links, not those of someone who held one of its former
/// values later (found by the differential test: the memory store redacted the later
/// holder's history when that holder had been deleted).
fn erase_spares_a_later_holder_of_a_value_it_gave_up<S: Store>(mut r: Resolver<S, ManualClock>) {
    let x = make(
        &mut r,
        json!({"name": "x"}),
        &[("mobile", "13800001111"), ("qq", "10001")],
    );
    r.remove_identity(&t(), x, &id("qq", "10001")).unwrap();
    let y = make(&mut r, json!({"name": "y"}), &[("mobile", "13800002222")]);
    r.add_identity(&t(), y, &id("qq", "10001")).unwrap();
    r.delete(&t(), y).unwrap();
    r.erase(&t(), x).unwrap();
    let x_history = serde_json::to_string(&r.history(&t(), x).unwrap()).unwrap();
    assert!(!x_history.contains("10001"), "{x_history}");
    let y_history = serde_json::to_string(&r.history(&t(), y).unwrap()).unwrap();
    assert!(y_history.contains("10001"), "{y_history}");
}

fn erase_leaves_statuses_as_tombstones<S: Store>(mut r: Resolver<S, ManualClock>) {
    let a = make(&mut r, json!({"name": "x"}), &[("mobile", "13800001111")]);
    r.erase(&t(), a).unwrap();
    use oneid::ReadTxn as _;
    let txn = r.store().read(&t()).unwrap();
    let tomb = txn.customer(&t(), a).unwrap().unwrap();
    assert_eq!(tomb.status, CustomerStatus::Erased);
    assert!(tomb.fields.is_empty());
}

fn query_filters_sorts_and_pages<S: Store>(mut r: Resolver<S, ManualClock>) {
    for i in 0..30 {
        let gender = i % 3;
        make(
            &mut r,
            json!({"name": format!("客户{i:02}"), "gender": gender, "stage": if i % 2 == 0 { "lead" } else { "" }, "source": "web", "mobile": format!("1380000{i:04}")}),
            &[("mobile", &format!("1380000{i:04}"))],
        );
    }
    let q = CustomerQuery::from_params([
        ("gender", "1"),
        ("rows", "4"),
        ("page", "2"),
        ("sidx", "name"),
        ("sord", "desc"),
    ])
    .unwrap();
    let page = r.query(&t(), &q).unwrap();
    assert_eq!(page.total, 10);
    let names: Vec<_> = page
        .rows
        .iter()
        .map(|c| c.fields.text(Field::Name).unwrap().to_string())
        .collect();
    assert_eq!(names, ["客户16", "客户13", "客户10", "客户07"]);
    // Search key: substring of mobile, nickName or name.
    let q = CustomerQuery {
        filter: CustomerFilter {
            search: Some("0002".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        r.query(&t(), &q).unwrap().total,
        11,
        "mobiles 13800000002 and 13800000020..29"
    );
    let q = CustomerQuery::from_params([("stage", "_empty")]).unwrap();
    assert_eq!(r.count(&t(), &q.filter).unwrap(), 15);
    let q = CustomerQuery::from_params([("idList", "1,2,3,999")]).unwrap();
    assert_eq!(r.count(&t(), &q.filter).unwrap(), 3);
    let q = CustomerQuery::from_params([
        ("dateCreatedFrom", "2024-01-01T05:00:00"),
        ("dateCreatedTo", "2024-01-01T09:00:00"),
    ])
    .unwrap();
    assert_eq!(r.count(&t(), &q.filter).unwrap(), 5);
    // Select fields.
    let q = CustomerQuery::from_params([("select", "name,mobile"), ("rows", "1")]).unwrap();
    let (rows, total) = r.query_json(&t(), &q).unwrap();
    assert_eq!(total, 30);
    assert_eq!(
        rows[0],
        json!({"id": 1, "name": "客户00", "mobile": "13800000000"})
    );
    assert_eq!(q.sort, SortKey::Id);
    // Bad parameters are errors, not silent defaults.
    for bad in [
        ("gender", "7"),
        ("rows", "0"),
        ("sord", "up"),
        ("dateCreatedFrom", "yesterday"),
        ("nope", "1"),
    ] {
        assert!(CustomerQuery::from_params([bad]).is_err(), "{bad:?}");
    }
}

fn explain_why_two_identities_are_one_customer<S: Store>(r: Resolver<S, ManualClock>) {
    let (m, w, e, q) = (
        id("mobile", "13811112222"),
        id("wechat", "o1"),
        id("email", "a@b.cn"),
        id("qq", "42"),
    );
    r.resolve(
        &t(),
        &ResolveRequest::new([m.clone(), w.clone()]).with_cause("shop-1"),
    )
    .unwrap();
    r.resolve(&t(), &ResolveRequest::new([e.clone()]).with_cause("crm-2"))
        .unwrap();
    r.resolve(
        &t(),
        &ResolveRequest::new([e.clone(), m.clone()]).with_cause("app-3"),
    )
    .unwrap();
    r.resolve(&t(), &ResolveRequest::new([q.clone()]).with_cause("qq-4"))
        .unwrap();
    let why = r.explain(&t(), &w, &id("email", "A@B.cn")).unwrap().unwrap();
    assert_eq!(why.customer, CustomerId(1));
    let causes: Vec<_> = why
        .steps
        .iter()
        .map(|s| match s {
            ExplanationStep::Linked {
                identity,
                customer,
                cause,
                ..
            } => {
                format!(
                    "{identity}->{customer} by {}",
                    cause.reference.as_deref().unwrap()
                )
            }
            ExplanationStep::Merged {
                from, into, cause, ..
            } => {
                format!("{from}=>{into} by {}", cause.reference.as_deref().unwrap())
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        causes,
        [
            "wechat o1->1 by shop-1",
            "2=>1 by app-3",
            "email a@b.cn->2 by crm-2"
        ]
    );
    assert!(r.explain(&t(), &w, &q).unwrap().is_none(), "different customers");
    assert!(r.explain(&t(), &w, &id("qq", "nobody")).unwrap().is_none());
}

fn tenants_are_isolated<S: Store>(r: Resolver<S, ManualClock>) {
    let (a, b) = (TenantId::new("a"), TenantId::new("b"));
    let ia = r
        .resolve(&a, &ResolveRequest::new([id("mobile", "13811112222")]))
        .unwrap()
        .customer
        .unwrap();
    let ib = r
        .resolve(&b, &ResolveRequest::new([id("mobile", "13811112222")]))
        .unwrap();
    assert!(
        ib.created,
        "the same identity in another tenant is another customer"
    );
    let ib = ib.customer.unwrap();
    assert!(r.get(&b, ia).unwrap().is_none());
    assert!(matches!(r.delete(&b, ia), Err(Error::CustomerNotFound(_))));
    assert!(matches!(r.erase(&b, ia), Err(Error::CustomerNotFound(_))));
    assert!(matches!(
        r.add_identity(&b, ia, &id("qq", "1")),
        Err(Error::CustomerNotFound(_))
    ));
    assert_eq!(r.count(&a, &CustomerFilter::default()).unwrap(), 1);
    assert_eq!(r.query(&b, &CustomerQuery::default()).unwrap().rows[0].id, ib);
    assert!(r.identities(&b, ia).unwrap().is_empty());
    assert!(r.history(&b, ia).unwrap().is_empty());
}

fn settings_errors_are_clear<S: Store>(_r: Resolver<S, ManualClock>) {
    let e = IdentitySettings::default()
        .with_limit("mobile", Some(0))
        .unwrap_err();
    assert!(e.to_string().contains("at least 1"), "{e}");
}

/// An id list longer than any database's limit on statement parameters (32,766 in SQLite,
/// 65,535 in PostgreSQL), with duplicates, unknown ids and ids past `i64::MAX`, selects the
/// same customers on every store; so do an empty list and a list of none that exist.
fn query_by_a_long_id_list<S: Store>(r: Resolver<S, ManualClock>) {
    for n in 0..5 {
        r.resolve(&t(), &ResolveRequest::new([id("wechat", &format!("o{n}"))]))
            .unwrap();
    }
    let mut ids: Vec<CustomerId> = (0..70_000u64).map(|n| CustomerId(n % 3 + 2)).collect();
    ids.extend([
        CustomerId(99),
        CustomerId(u64::MAX),
        CustomerId(i64::MAX as u64 + 1),
    ]);
    let cases = [
        (Some(ids), 3, vec![2, 3, 4]),
        (Some(Vec::new()), 0, vec![]),
        (Some(vec![CustomerId(u64::MAX), CustomerId(0)]), 0, vec![]),
    ];
    for (ids, total, rows) in cases {
        let filter = CustomerFilter {
            ids,
            ..Default::default()
        };
        assert_eq!(r.count(&t(), &filter).unwrap(), total);
        let query = CustomerQuery {
            filter,
            ..Default::default()
        };
        let page = r.query(&t(), &query).unwrap();
        assert_eq!(page.total, total);
        assert_eq!(page.rows.iter().map(|c| c.id.0).collect::<Vec<_>>(), rows);
    }
}

/// Decimal fields sort by value, not as text, on every store.
fn query_sorts_decimals_by_value<S: Store>(mut r: Resolver<S, ManualClock>) {
    let mut made = Vec::new();
    for (n, revenue) in [json!("9"), json!("10"), json!("-1.5"), json!(100.25), json!(null)]
        .into_iter()
        .enumerate()
    {
        made.push(
            make(
                &mut r,
                json!({"annualRevenue": revenue}),
                &[("wechat", &format!("o{n}"))],
            )
            .0,
        );
    }
    let sorted = |r: &mut Resolver<S, ManualClock>, descending: bool| {
        let query = CustomerQuery {
            sort: SortKey::Field(Field::AnnualRevenue),
            descending,
            ..Default::default()
        };
        r.query(&t(), &query)
            .unwrap()
            .rows
            .iter()
            .map(|c| c.id.0)
            .collect::<Vec<_>>()
    };
    let ascending = vec![made[2], made[0], made[1], made[3], made[4]];
    assert_eq!(sorted(&mut r, false), ascending);
    assert_eq!(
        sorted(&mut r, true),
        ascending.into_iter().rev().collect::<Vec<_>>()
    );
}

super::support::conformance!(
    query_by_a_long_id_list,
    query_sorts_decimals_by_value,
    identities_of_several_customers_and_owner_of,
    attributes_by_name,
    update_sets_clears_and_keeps,
    update_keeps_the_verified_rule,
    update_one_attribute_is_type_checked,
    add_identity_and_its_errors,
    remove_identity,
    tags_and_groups,
    delete_is_logical_and_releases_identities,
    erase_removes_personal_data_everywhere,
    erase_a_deleted_customer,
    erase_spares_a_later_holder_of_a_value_it_gave_up,
    erase_leaves_statuses_as_tombstones,
    query_filters_sorts_and_pages,
    explain_why_two_identities_are_one_customer,
    tenants_are_isolated,
    settings_errors_are_clear
);
