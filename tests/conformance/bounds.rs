//! The bounds on a customer's data (SEMANTICS §1) and the merges they refuse (§4), on every
//! store: at each bound data is kept and read back equal, one past it refused before anything
//! is written, and a merge whose data would not fit one customer (a sum past 64 bits, more
//! tags than a customer holds) is refused and reported like a merge over a limit.

use super::support::t;
use oneid::limits::{
    MAX_ATTR_DISPLAY_NAME_CHARS, MAX_ATTR_VALUE_BYTES, MAX_ATTRS, MAX_CAUSE_CHARS, MAX_GROUPS, MAX_TAG_CHARS,
    MAX_TAGS, MAX_TEXT_FIELD_CHARS,
};
use oneid::{
    Change, CustomerFilter, CustomerId, CustomerPatch, Error, ExtAttr, Field, FieldValue, IdentityInput,
    ManualClock, RefusalReason, RefusedMerge, RejectReason, ResolveRequest, Resolver, Store, UpdatePatch,
};
use serde_json::{Value, json};

fn req(ids: &[(&str, &str)]) -> ResolveRequest {
    ResolveRequest::new(ids.iter().map(|(k, v)| IdentityInput::new(*k, *v)))
}

fn attr(value: Value) -> ExtAttr {
    ExtAttr { name: None, value }
}

fn invalid_field(e: &Error) -> Option<&str> {
    match e {
        Error::InvalidField { field, .. } => Some(field),
        _ => None,
    }
}

/// Arrays `depth` levels deep around a leaf, built without recursion.
fn nested(depth: usize) -> Value {
    let mut v = json!("leaf");
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

/// Drops a value however deep, without recursion (`Value`'s own drop recurses).
fn dismantle(v: Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// A value 100,000 levels deep, built in code, reaches no store and overflows no stack: every
/// operation that takes one refuses it, without copying, comparing or printing it (each of
/// which recurses). Copying it to queue the request for group commit (the SQL stores'
/// default), copying it into an update before the depth check, and printing it in the error
/// of a text field each overflowed the stack.
fn deep_values_built_in_code<S: Store>(r: Resolver<S, ManualClock>) {
    let c = r
        .resolve(&t(), &req(&[("wechat", "held")]))
        .unwrap()
        .customer
        .unwrap();
    let before = r.get(&t(), c).unwrap().unwrap();

    let mut patch = CustomerPatch::new();
    patch.attrs.insert("deep".into(), attr(nested(100_000)));
    let request = req(&[("wechat", "deep")]).with_patch(patch);
    let e = r.resolve(&t(), &request).unwrap_err();
    assert_eq!(invalid_field(&e), Some("deep"), "{e}");
    let e = r.dry_run(&t(), &request).unwrap_err();
    assert_eq!(invalid_field(&e), Some("deep"), "{e}");
    let batch = r.resolve_batch(&t(), std::slice::from_ref(&request)).unwrap();
    assert!(matches!(&batch[0], Err(Error::InvalidField { .. })));
    let ResolveRequest { patch, .. } = request;
    for (_, a) in patch.attrs {
        dismantle(a.value);
    }

    let deep = nested(100_000);
    let e = r.update_extended_attribute(&t(), c, "deep", &deep).unwrap_err();
    assert_eq!(invalid_field(&e), Some("deep"), "{e}");
    let e = r.update_attribute(&t(), c, "deep", &deep).unwrap_err();
    assert_eq!(invalid_field(&e), Some("deep"), "{e}");
    let e = r.update_attribute(&t(), c, "name", &deep).unwrap_err();
    assert_eq!(invalid_field(&e), Some("name"), "{e}");
    let update = UpdatePatch {
        attrs: vec![("deep".into(), Change::Set(attr(deep)))],
        ..UpdatePatch::new()
    };
    let e = r.update(&t(), c, &update).unwrap_err();
    assert_eq!(invalid_field(&e), Some("deep"), "{e}");
    for (_, change) in update.attrs {
        if let Change::Set(a) = change {
            dismantle(a.value);
        }
    }

    assert_eq!(
        r.owner_of(&t(), &IdentityInput::new("wechat", "deep")).unwrap(),
        None
    );
    assert_eq!(r.count(&t(), &CustomerFilter::default()).unwrap(), 1);
    assert_eq!(r.get(&t(), c).unwrap().unwrap(), before);
}

/// Everything a customer holds, each at its bound: the longest text field and tag, the most
/// tags, groups and attributes, the largest attribute value and the longest display name.
fn at_the_bounds() -> CustomerPatch {
    let mut patch = CustomerPatch::new()
        .with(Field::Remark, "备".repeat(MAX_TEXT_FIELD_CHARS))
        .unwrap()
        .with(
            Field::AnnualRevenue,
            FieldValue::Decimal(format!("1.{}", "5".repeat(MAX_TEXT_FIELD_CHARS - 2)).into()),
        )
        .unwrap();
    patch.tags = (0..MAX_TAGS)
        .map(|i| format!("{i:04}{}", "签".repeat(MAX_TAG_CHARS - 4)))
        .collect();
    patch.groups = (0..MAX_GROUPS as i64).map(|g| g * 7 - 3000).collect();
    for i in 0..MAX_ATTRS {
        patch.attrs.insert(format!("a{i}"), attr(json!(i)));
    }
    // Its JSON text is exactly the bound: the quotes and the characters.
    let largest = "x".repeat(MAX_ATTR_VALUE_BYTES - 2);
    patch.attrs.insert(
        "a0".into(),
        ExtAttr {
            name: Some("名".repeat(MAX_ATTR_DISPLAY_NAME_CHARS)),
            value: json!(largest),
        },
    );
    patch
}

/// At each bound a customer's data is kept and read back equal by every store, from a patch
/// built in code and from the sources' JSON alike; one past it, the request, update or tags
/// are refused with an error naming the field, before anything is written. (Before, nothing
/// bounded these: one 100 MB value made every later read of its customer cost half a second,
/// and 80,000 tags took seconds to read.)
fn data_at_and_past_its_bounds<S: Store>(r: Resolver<S, ManualClock>) {
    let patch = at_the_bounds();
    let cause = "因".repeat(MAX_CAUSE_CHARS);
    let out = r
        .resolve(
            &t(),
            &req(&[("wechat", "full")])
                .with_patch(patch.clone())
                .with_cause(cause.clone()),
        )
        .unwrap();
    let c = out.customer.unwrap();
    let kept = r.get(&t(), c).unwrap().unwrap();
    assert_eq!(kept.fields, patch.fields);
    assert_eq!(kept.tags, patch.tags);
    assert_eq!(kept.groups, patch.groups);
    assert_eq!(kept.attrs, patch.attrs);
    assert_eq!(
        r.history(&t(), c).unwrap()[0].cause.reference.as_deref(),
        Some(cause.as_str())
    );
    // The same customer again, as 001's JSON: nothing to change.
    let mut body = serde_json::to_value(&kept).unwrap();
    let map = body.as_object_mut().unwrap();
    for key in [
        "id",
        "displayName",
        "attr",
        "status",
        "dateCreated",
        "lastUpdated",
    ] {
        map.remove(key);
    }
    map.insert(
        "extendAttrList".into(),
        kept.attrs
            .iter()
            .map(|(k, a)| json!({"attrKey": k, "attrName": a.name, "attrValue": a.value}))
            .collect(),
    );
    map.insert(
        "identityList".into(),
        json!([{"identityType": "wechat", "identityValue": "full"}]),
    );
    let again = ResolveRequest::from_json(&body).unwrap();
    assert_eq!(again.patch, patch);
    assert!(r.resolve(&t(), &again).unwrap().is_noop());
    // Tags it holds already do not grow it.
    assert!(
        r.add_tags(&t(), c, &[patch.tags[0].as_str()])
            .unwrap()
            .changed
            .is_empty()
    );

    // One past each bound, in a patch built in code.
    let past: Vec<(&str, CustomerPatch)> = vec![
        ("remark", {
            let mut p = CustomerPatch::new();
            p.fields = [(
                Field::Remark,
                FieldValue::Text("长".repeat(MAX_TEXT_FIELD_CHARS + 1).into()),
            )]
            .into_iter()
            .collect();
            p
        }),
        ("annualRevenue", {
            let mut p = CustomerPatch::new();
            p.fields = [(
                Field::AnnualRevenue,
                FieldValue::Decimal("9".repeat(MAX_TEXT_FIELD_CHARS + 1).into()),
            )]
            .into_iter()
            .collect();
            p
        }),
        (
            "tags",
            CustomerPatch {
                tags: vec!["t".repeat(MAX_TAG_CHARS + 1)],
                ..CustomerPatch::new()
            },
        ),
        (
            "tags",
            CustomerPatch {
                tags: (0..=MAX_TAGS).map(|i| i.to_string()).collect(),
                ..CustomerPatch::new()
            },
        ),
        (
            "groupIds",
            CustomerPatch {
                groups: (0..=MAX_GROUPS as i64).collect(),
                ..CustomerPatch::new()
            },
        ),
        ("attr", {
            let mut p = CustomerPatch::new();
            for i in 0..=MAX_ATTRS {
                p.attrs.insert(format!("a{i}"), attr(json!(1)));
            }
            p
        }),
        ("big", {
            let mut p = CustomerPatch::new();
            p.attrs
                .insert("big".into(), attr(json!("x".repeat(MAX_ATTR_VALUE_BYTES - 1))));
            p
        }),
        ("named", {
            let mut p = CustomerPatch::new();
            p.attrs.insert(
                "named".into(),
                ExtAttr {
                    name: Some("名".repeat(MAX_ATTR_DISPLAY_NAME_CHARS + 1)),
                    value: json!(1),
                },
            );
            p
        }),
    ];
    for (field, patch) in past {
        let e = r
            .resolve(&t(), &req(&[("wechat", "past")]).with_patch(patch))
            .unwrap_err();
        assert_eq!(invalid_field(&e), Some(field), "{e}");
    }
    let e = r
        .resolve(
            &t(),
            &req(&[("wechat", "past")]).with_cause("因".repeat(MAX_CAUSE_CHARS + 1)),
        )
        .unwrap_err();
    assert_eq!(invalid_field(&e), Some("cause"), "{e}");

    // And in the sources' JSON, refused as it is read.
    let bodies = [
        ("remark", json!({"remark": "长".repeat(MAX_TEXT_FIELD_CHARS + 1)})),
        (
            "annualRevenue",
            json!({"annualRevenue": "9".repeat(MAX_TEXT_FIELD_CHARS + 1)}),
        ),
        ("tags", json!({"tags": ["t".repeat(MAX_TAG_CHARS + 1)]})),
        (
            "tags",
            json!({"tag": (0..80_000).map(|i| i.to_string()).collect::<Vec<_>>()}),
        ),
        (
            "groupIds",
            json!({"groupIds": (0..=MAX_GROUPS).collect::<Vec<_>>()}),
        ),
        (
            "attr",
            json!({"attr": (0..100_000).map(|i| (format!("a{i}"), json!(i))).collect::<serde_json::Map<_, _>>()}),
        ),
        (
            "big",
            json!({"attr": {"big": "x".repeat(MAX_ATTR_VALUE_BYTES - 1)}}),
        ),
        (
            "extendAttrList",
            json!({"extendAttrList": (0..=MAX_ATTRS).map(|i| json!({"attrKey": format!("a{i}"), "attrValue": 1})).collect::<Vec<_>>()}),
        ),
        (
            "named",
            json!({"extendAttrList": [{"attrKey": "named", "attrName": "名".repeat(MAX_ATTR_DISPLAY_NAME_CHARS + 1), "attrValue": 1}]}),
        ),
    ];
    for (field, customer) in &bodies {
        let body = json!({"customer": customer, "customerIdentities": []});
        let e = ResolveRequest::from_json(&body).unwrap_err();
        assert_eq!(invalid_field(&e), Some(*field), "{e}");
        let e = CustomerPatch::from_json(customer).unwrap_err();
        assert_eq!(invalid_field(&e), Some(*field), "{e}");
        let text = serde_json::to_string(customer).unwrap();
        assert!(serde_json::from_str::<CustomerPatch>(&text).is_err(), "{field}");
        let e = UpdatePatch::from_json(customer).unwrap_err();
        assert_eq!(invalid_field(&e), Some(*field), "{e}");
    }

    // Updates and tags past the bounds, and what would grow the customer past them.
    let other = r
        .resolve(&t(), &req(&[("wechat", "other")]))
        .unwrap()
        .customer
        .unwrap();
    let long_tag = "t".repeat(MAX_TAG_CHARS + 1);
    let e = r.add_tags(&t(), other, &[long_tag.as_str()]).unwrap_err();
    assert_eq!(invalid_field(&e), Some("tags"), "{e}");
    let many: Vec<String> = (0..=MAX_TAGS).map(|i| i.to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let e = r.add_tags(&t(), other, &many).unwrap_err();
    assert_eq!(invalid_field(&e), Some("tags"), "{e}");
    let groups: Vec<i64> = (0..=MAX_GROUPS as i64).collect();
    let e = r.add_groups(&t(), other, &groups).unwrap_err();
    assert_eq!(invalid_field(&e), Some("groupIds"), "{e}");
    let update = UpdatePatch {
        tags: Some(many.iter().map(|t| t.to_string()).collect()),
        ..UpdatePatch::new()
    };
    let e = r.update(&t(), other, &update).unwrap_err();
    assert_eq!(invalid_field(&e), Some("tags"), "{e}");
    let update = UpdatePatch::new()
        .set(Field::Remark, "长".repeat(MAX_TEXT_FIELD_CHARS + 1))
        .map(|_| ());
    assert!(update.is_err());
    let e = r
        .update_attribute(
            &t(),
            other,
            "remark",
            &json!("长".repeat(MAX_TEXT_FIELD_CHARS + 1)),
        )
        .unwrap_err();
    assert_eq!(invalid_field(&e), Some("remark"), "{e}");
    let e = r
        .update_extended_attribute(&t(), other, "big", &json!("x".repeat(MAX_ATTR_VALUE_BYTES - 1)))
        .unwrap_err();
    assert_eq!(invalid_field(&e), Some("big"), "{e}");

    let e = r.add_tags(&t(), c, &["one more"]).unwrap_err();
    assert_eq!(invalid_field(&e), Some("tags"), "{e}");
    let e = r.add_groups(&t(), c, &[1]).unwrap_err();
    assert_eq!(invalid_field(&e), Some("groupIds"), "{e}");
    let e = r
        .update_extended_attribute(&t(), c, "one more", &json!(1))
        .unwrap_err();
    assert_eq!(invalid_field(&e), Some("attr"), "{e}");
    let grow = CustomerPatch {
        tags: vec!["one more".into()],
        ..CustomerPatch::new()
    };
    let e = r
        .resolve(&t(), &req(&[("wechat", "full")]).with_patch(grow))
        .unwrap_err();
    assert_eq!(invalid_field(&e), Some("tags"), "{e}");
    // Replacing an attribute keeps the count.
    r.update_extended_attribute(&t(), c, "a1", &json!("replaced"))
        .unwrap();

    assert_eq!(r.count(&t(), &CustomerFilter::default()).unwrap(), 2);
    assert_eq!(
        r.owner_of(&t(), &IdentityInput::new("wechat", "past")).unwrap(),
        None
    );
    let after = r.get(&t(), c).unwrap().unwrap();
    assert_eq!((after.tags, after.groups), (kept.tags, kept.groups));
    assert_eq!(after.attrs.len(), MAX_ATTRS);
    assert!(r.get(&t(), other).unwrap().unwrap().tags.is_empty());
}

/// A merge whose two customers together would hold more tags, groups or attributes than a
/// customer may is refused and reported, and both keep what they hold; the other merges of
/// the resolve go on.
fn merges_that_would_not_fit<S: Store>(r: Resolver<S, ManualClock>) {
    let half = |from: usize, n: usize| CustomerPatch {
        tags: (from..from + n).map(|i| format!("tag{i}")).collect(),
        groups: (from as i64..(from + n) as i64).collect(),
        ..CustomerPatch::new()
    };
    let a = r
        .resolve(&t(), &req(&[("mobile", "13800001111")]).with_patch(half(0, 600)))
        .unwrap()
        .customer
        .unwrap();
    let b = r
        .resolve(&t(), &req(&[("email", "b@x.cn")]).with_patch(half(600, 600)))
        .unwrap()
        .customer
        .unwrap();
    // Shares 500 of a's tags and groups: 700 together fit.
    let fits = r
        .resolve(&t(), &req(&[("qq", "10001")]).with_patch(half(100, 600)))
        .unwrap()
        .customer
        .unwrap();
    let mut many = CustomerPatch::new();
    for i in 0..MAX_ATTRS {
        many.attrs.insert(format!("k{i}"), attr(json!(i)));
    }
    let d = r
        .resolve(&t(), &req(&[("wechat", "od")]).with_patch(many))
        .unwrap()
        .customer
        .unwrap();
    r.update(
        &t(),
        a,
        &UpdatePatch {
            attrs: vec![("own".into(), Change::Set(attr(json!(true))))],
            ..UpdatePatch::new()
        },
    )
    .unwrap();
    let (held_a, held_b) = (r.get(&t(), a).unwrap().unwrap(), r.get(&t(), b).unwrap().unwrap());

    let request = req(&[
        ("mobile", "13800001111"),
        ("email", "b@x.cn"),
        ("qq", "10001"),
        ("wechat", "od"),
    ]);
    let predicted = r.dry_run(&t(), &request).unwrap();
    let out = r.resolve(&t(), &request).unwrap();
    assert_eq!(out.customer, Some(a));
    assert_eq!(out.merged, [fits]);
    assert_eq!(
        out.refused_merges,
        [
            RefusedMerge {
                customer: b,
                reason: RefusalReason::TooManyTags { united: 1200 },
            },
            RefusedMerge {
                customer: d,
                reason: RefusalReason::TooManyAttributes {
                    united: MAX_ATTRS + 1
                },
            },
        ]
    );
    assert_eq!(predicted.refused_merges, out.refused_merges);
    assert!(
        out.rejected
            .iter()
            .any(|x| matches!(x.reason, RejectReason::OwnedByOther { owner } if owner == b))
    );
    let merged = r.get(&t(), a).unwrap().unwrap();
    assert_eq!(merged.tags.len(), 700);
    assert_eq!(merged.groups.len(), 700);
    assert_eq!(r.get(&t(), b).unwrap().unwrap(), held_b);
    assert_eq!(r.get(&t(), d).unwrap().unwrap().attrs.len(), MAX_ATTRS);
    assert_eq!(held_a.tags[..], merged.tags[..600]);

    // Groups alone: a customer in 600 other groups and no tags.
    let g = r
        .resolve(
            &t(),
            &req(&[("wechat", "og")]).with_patch(CustomerPatch {
                groups: (5000..5600).collect(),
                ..CustomerPatch::new()
            }),
        )
        .unwrap()
        .customer
        .unwrap();
    let out = r
        .resolve(&t(), &req(&[("mobile", "13800001111"), ("wechat", "og")]))
        .unwrap();
    assert_eq!(
        out.refused_merges,
        [RefusedMerge {
            customer: g,
            reason: RefusalReason::TooManyGroups { united: 1300 },
        }]
    );
}

/// Money is never lost to a merge: when a field summed on merges (`balance`, `credit`) would
/// pass the bounds of a 64-bit integer, the merge is refused and reported, and both customers
/// keep their values; merges whose sums fit go on, each counted against the sum so far.
/// (Before, the sum saturated: `i64::MAX + 1` became `i64::MAX`, losing one fen.)
fn sums_that_would_overflow<S: Store>(r: Resolver<S, ManualClock>) {
    let with = |balance: i64, credit: i64| {
        CustomerPatch::new()
            .with(Field::Balance, balance)
            .unwrap()
            .with(Field::Credit, credit)
            .unwrap()
    };
    let balance = |r: &Resolver<S, ManualClock>, c: CustomerId| {
        let c = r.get(&t(), c).unwrap().unwrap();
        (
            c.fields.get(Field::Balance).cloned(),
            c.fields.get(Field::Credit).cloned(),
        )
    };
    let rich = r
        .resolve(
            &t(),
            &req(&[("mobile", "13800001111")]).with_patch(with(i64::MAX - 10, 5)),
        )
        .unwrap()
        .customer
        .unwrap();
    let fits = r
        .resolve(&t(), &req(&[("email", "fits@x.cn")]).with_patch(with(5, 1)))
        .unwrap()
        .customer
        .unwrap();
    let over = r
        .resolve(&t(), &req(&[("wechat", "over")]).with_patch(with(6, 1)))
        .unwrap()
        .customer
        .unwrap();

    let request = req(&[
        ("mobile", "13800001111"),
        ("email", "fits@x.cn"),
        ("wechat", "over"),
    ]);
    let predicted = r.dry_run(&t(), &request).unwrap();
    let out = r.resolve(&t(), &request).unwrap();
    assert_eq!(out.customer, Some(rich));
    assert_eq!(out.merged, [fits]);
    let refused = [RefusedMerge {
        customer: over,
        reason: RefusalReason::Overflow {
            field: Field::Balance,
            target: i64::MAX - 5,
            other: 6,
        },
    }];
    assert_eq!(out.refused_merges, refused);
    assert_eq!(predicted.refused_merges, refused);
    assert!(
        out.rejected
            .iter()
            .any(|x| matches!(x.reason, RejectReason::OwnedByOther { owner } if owner == over))
    );
    assert_eq!(
        balance(&r, rich),
        (Some(FieldValue::Int(i64::MAX - 5)), Some(FieldValue::Int(6)))
    );
    assert_eq!(
        balance(&r, over),
        (Some(FieldValue::Int(6)), Some(FieldValue::Int(1)))
    );
    assert_eq!(
        r.canonical_id(&t(), over).unwrap(),
        Some(over),
        "not merged, not aliased"
    );

    // Below the least value too, and for any summed field.
    let poor = r
        .resolve(
            &t(),
            &req(&[("mobile", "13800002222")]).with_patch(with(-1, i64::MIN)),
        )
        .unwrap()
        .customer
        .unwrap();
    let debt = r
        .resolve(&t(), &req(&[("email", "debt@x.cn")]).with_patch(with(0, -1)))
        .unwrap()
        .customer
        .unwrap();
    let out = r
        .resolve(&t(), &req(&[("mobile", "13800002222"), ("email", "debt@x.cn")]))
        .unwrap();
    assert_eq!(
        out.refused_merges,
        [RefusedMerge {
            customer: debt,
            reason: RefusalReason::Overflow {
                field: Field::Credit,
                target: i64::MIN,
                other: -1,
            },
        }]
    );
    assert!(out.merged.is_empty());
    assert_eq!(
        balance(&r, poor),
        (Some(FieldValue::Int(-1)), Some(FieldValue::Int(i64::MIN)))
    );
    assert_eq!(
        balance(&r, debt),
        (Some(FieldValue::Int(0)), Some(FieldValue::Int(-1)))
    );
    // Refused again each time, and changing nothing.
    let again = r
        .resolve(&t(), &req(&[("mobile", "13800002222"), ("email", "debt@x.cn")]))
        .unwrap();
    assert_eq!(again.refused_merges, out.refused_merges);
    assert!(again.is_noop());
}

super::support::conformance!(
    deep_values_built_in_code,
    data_at_and_past_its_bounds,
    merges_that_would_not_fit,
    sums_that_would_overflow,
);
