//! Quickstart: the Convertlab DM Hub (002) story, step by step, on the in-memory store.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! 1. A customer is created with identities from 002's own JSON body (a WeChat openid and an
//!    account of your own system). `"matchByFields": true` makes its mobile an identity too,
//!    as 002 matches by the customer's mobile and email.
//! 2. A later plain create (002 `POST customers`) with the same mobile finds that customer and
//!    renames it instead of creating a duplicate.
//! 3. The CRM sends an email only: a second customer.
//! 4. A touchpoint carries both the email and the mobile: `autoMerge` (on by default) merges
//!    the second customer into the first; the merged id stays readable as an alias.
//! 5. The same touchpoint again changes nothing.
//!
//! Then the merged customer's identities, its history and the customer as 002's JSON.
//! Every step asserts what the contract promises, so `cargo test` runs this as a test.

use oneid::{
    ChangedField, CustomerId, CustomerPatch, EventKind, Field, HistoryEvent, Identity, ManualClock,
    MemoryStore, Outcome, PlainCreate, RejectReason, ResolveRequest, Resolver, TenantId,
};
use serde_json::json;

/// Prints an outcome: target, created, matched, linked, rejected (and why), merged, refused
/// merges (and why), changed fields.
fn describe(step: &str, out: &Outcome) {
    println!("== {step}");
    let id = out.customer.map_or("(new)".to_string(), |c| c.to_string());
    println!("   customer {id}{}", if out.created { " (created)" } else { "" });
    for i in &out.matched {
        println!("   matched  {i}");
    }
    for i in &out.linked {
        println!("   linked   {i}");
    }
    for r in &out.rejected {
        let why = match &r.reason {
            RejectReason::Blocked => "blocked value".to_string(),
            RejectReason::Conflict { with, limit } => format!("conflicts with {with} (limit {limit})"),
            RejectReason::OwnedByOther { owner } => format!("stays with customer {owner}"),
            RejectReason::Quarantined { owner } => format!("quarantined, held by {owner}"),
            RejectReason::Invalid { why } => why.clone(),
            other => format!("{other:?}"),
        };
        println!("   rejected {} ({why})", r.identity);
    }
    for m in &out.merged {
        println!("   merged   customer {m} into it");
    }
    for m in &out.refused_merges {
        match &m.reason {
            oneid::RefusalReason::Limit {
                identity_type,
                limit,
                target_holds,
                other_holds,
                ..
            } => println!(
                "   refused  merging customer {}: {identity_type} limit {limit}, target holds {target_holds}, it holds {other_holds}",
                m.customer
            ),
            other => println!("   refused  merging customer {}: {other:?}", m.customer),
        }
    }
    if !out.changed.is_empty() {
        let changed: Vec<String> = out
            .changed
            .iter()
            .map(|c| match c {
                ChangedField::Field(f) => f.name().to_string(),
                ChangedField::Attr(key) => format!("attr.{key}"),
                ChangedField::Tags => "tags".to_string(),
                ChangedField::Groups => "groups".to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        println!("   changed  {}", changed.join(", "));
    }
    if out.is_noop() {
        println!("   nothing changed");
    }
}

/// One history event as a line: time, customer, what, and the cause.
fn history_line(e: &HistoryEvent) -> String {
    let what = match &e.kind {
        EventKind::Created => "created".to_string(),
        EventKind::Linked { identity } => format!("linked {identity}"),
        EventKind::Unlinked { identity } => format!("unlinked {identity}"),
        EventKind::Merged { from } => format!("absorbed customer {from}"),
        EventKind::MergedInto { into } => format!("merged into customer {into}"),
        EventKind::Deleted => "deleted".to_string(),
        EventKind::Erased => "erased".to_string(),
        other => format!("{other:?}"),
    };
    let cause = serde_json::to_value(e.cause.operation).expect("serializable");
    let cause = cause.as_str().unwrap_or("?");
    let reference = e.cause.reference.as_deref().unwrap_or("-");
    format!(
        "{} customer {} {what} ({cause} {reference})",
        e.at.format("%H:%M"),
        e.customer
    )
}

fn keys(identities: &[Identity]) -> Vec<String> {
    identities.iter().map(|i| i.to_string()).collect()
}

fn main() -> oneid::Result<()> {
    // A clock that moves one minute per reading, so the history reads like a day's events.
    let clock = ManualClock::ticking(
        "2024-06-01T09:00:00Z".parse().unwrap(),
        chrono::Duration::minutes(1),
    );
    let resolver = Resolver::new(MemoryStore::new()).with_clock(clock);
    let tenant = TenantId::new("dmhub-demo");

    // 1. 002 `POST customerandidentities`, in 002's own body shape.
    let body = json!({
        "customer": {
            "name": "小D",
            "mobile": "18612341234",
            "mobileVerified": true,
            "gender": 1,
            "attr": {"attr1": "西门剑铺"}
        },
        "customerIdentities": [
            {"identityType": "wechat", "identityValue": "o123456", "identityName": "微信昵称"},
            {"identityType": "your-system-account", "identityValue": "user123", "identityName": "您系统里的用户名"}
        ],
        "matchByFields": true
    });
    let first = resolver.resolve(&tenant, &ResolveRequest::from_json(&body)?.with_cause("dmhub-1"))?;
    describe("1. create with identities", &first);
    let id = first.customer.expect("a resolve always has a target");
    assert!(first.created);
    assert_eq!(id, CustomerId(1));
    // The mobile, taken from the customer's fields, comes last: the lowest priority.
    assert_eq!(
        keys(&first.linked),
        [
            "wechat o123456",
            "your-system-account user123",
            "mobile 18612341234"
        ]
    );
    assert!(first.rejected.is_empty() && first.merged.is_empty());

    // 2. 002 `POST customers`: a plain create with the same mobile updates, not duplicates.
    let patch = CustomerPatch::from_json(&json!({"name": "小D2", "mobile": "18612341234"}))?;
    let again = resolver.create(&tenant, patch, PlainCreate::MobileAndEmail)?;
    describe("2. plain create with the same mobile", &again);
    assert_eq!(again.customer, Some(id));
    assert!(!again.created);
    assert_eq!(keys(&again.matched), ["mobile 18612341234"]);
    assert!(again.linked.is_empty());
    assert_eq!(again.changed, [ChangedField::Field(Field::Name)]);
    let customer = resolver.get(&tenant, id)?.expect("live");
    assert_eq!(customer.display_name(), Some("小D2"));
    assert_eq!(
        customer
            .fields
            .get(Field::MobileVerified)
            .and_then(|v| v.as_bool()),
        Some(true),
        "absent from the plain create, so left as it was"
    );

    // 3. The CRM knows an email only: a second customer.
    let crm = ResolveRequest::from_json(&json!({
        "customer": {"email": "xiaod@example.com", "city": "昆明"},
        "customerIdentities": [{"identityType": "email", "identityValue": " XiaoD@Example.com"}]
    }))?;
    let second = resolver.resolve(&tenant, &crm.with_cause("crm-7"))?;
    describe("3. the CRM's email", &second);
    let other = second.customer.expect("target");
    assert!(second.created);
    assert_eq!(other, CustomerId(2));
    assert_eq!(
        keys(&second.linked),
        ["email xiaod@example.com"],
        "normalized: trimmed, lowercased"
    );

    // 4. A touchpoint with both: autoMerge (the default) joins them. The mobile outranks the
    //    email, so customer 1 is the target; customer 2 is merged into it, and its email and
    //    city fill what customer 1 lacked (the target keeps its own values).
    let both = ResolveRequest::from_json(&json!({
        "customer": {},
        "customerIdentities": [
            {"identityType": "email", "identityValue": "xiaod@example.com"},
            {"identityType": "mobile", "identityValue": "+86 186-1234-1234"}
        ]
    }))?;
    let merged = resolver.resolve(&tenant, &both.clone().with_cause("shop-42"))?;
    describe("4. a touchpoint with the email and the mobile", &merged);
    assert_eq!(merged.customer, Some(id));
    assert!(!merged.created);
    assert_eq!(merged.merged, [other]);
    assert!(merged.refused_merges.is_empty());
    assert!(merged.changed.contains(&ChangedField::Field(Field::Email)));
    assert!(merged.changed.contains(&ChangedField::Field(Field::City)));

    // The merged id is an alias of the survivor.
    let via_alias = resolver
        .get(&tenant, other)?
        .expect("an alias reads the survivor");
    assert_eq!(via_alias.id, id);
    assert_eq!(resolver.canonical_id(&tenant, other)?, Some(id));
    assert_eq!(via_alias.fields.text(Field::City), Some("昆明"));
    assert_eq!(via_alias.fields.text(Field::Email), Some("xiaod@example.com"));
    assert_eq!(via_alias.display_name(), Some("小D2"));

    // 5. Idempotence: the same touchpoint again changes nothing.
    let repeat = resolver.resolve(&tenant, &both.with_cause("shop-42"))?;
    describe("5. the same touchpoint again", &repeat);
    assert_eq!(repeat.customer, Some(id));
    assert!(repeat.is_noop());

    println!("== identities of customer {id}");
    let identities = resolver.identities(&tenant, id)?;
    for identity in &identities {
        match identity.identity_name.as_deref() {
            Some(name) => println!("   {identity} ({name})"),
            None => println!("   {identity}"),
        }
    }
    assert_eq!(
        keys(&identities),
        [
            "wechat o123456",
            "your-system-account user123",
            "mobile 18612341234",
            "email xiaod@example.com"
        ]
    );
    assert_eq!(identities[0].identity_name.as_deref(), Some("微信昵称"));

    println!("== history of customer {id}");
    let history = resolver.history(&tenant, id)?;
    for event in &history {
        println!("   {}", history_line(event));
    }
    // Created, three links; created, one link (customer 2); the merge, recorded on both sides.
    assert_eq!(history.len(), 8);
    let merge = history
        .iter()
        .find(|e| e.kind == EventKind::Merged { from: other })
        .expect("the merge is in the survivor's history");
    assert_eq!(merge.customer, id);
    assert_eq!(merge.cause.reference.as_deref(), Some("shop-42"));
    assert_eq!(
        resolver.history(&tenant, other)?,
        history,
        "the alias reads the same history"
    );

    println!("== customer {id} (002's customer JSON)");
    let json = serde_json::to_value(&via_alias).expect("serializable");
    println!("{}", serde_json::to_string_pretty(&json).expect("serializable"));
    assert_eq!(json["id"], 1);
    assert_eq!(json["displayName"], "小D2");
    assert_eq!(json["mobile"], "18612341234");
    assert_eq!(json["mobileVerified"], true);
    assert_eq!(json["gender"], 1);
    assert_eq!(json["attr"]["attr1"], "西门剑铺");
    assert_eq!(json["status"], "active");
    assert_eq!(json["dateCreated"], "2024-06-01T09:00:00Z");
    Ok(())
}
