//! Quickstart: the Convertlab DM Hub (002) story, step by step, on the in-memory store.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! 1. A customer is created with identities from 002's own JSON body (a WeChat openid and an
//!    account of your own system), matching by the patch's mobile as 002 does.
//! 2. A later plain create with the same mobile finds that customer and renames it instead of
//!    creating a duplicate.
//! 3. The CRM sends an email: a second customer.
//! 4. A touchpoint carries both the email and the mobile: the two customers are merged, and
//!    the merged id stays readable as an alias of the survivor.

use oneid::{
    CustomerPatch, Field, ManualClock, MemoryStore, Outcome, PlainCreate, RejectReason, ResolveRequest,
    Resolver, TenantId,
};
use serde_json::json;

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
        println!(
            "   refused  merging customer {} ({} limit {})",
            m.customer, m.identity_type, m.limit
        );
    }
    if !out.changed.is_empty() {
        let changed: Vec<String> = out
            .changed
            .iter()
            .map(|c| serde_json::to_value(c).unwrap().to_string())
            .collect();
        println!("   changed  {}", changed.join(", "));
    }
}

fn main() -> oneid::Result<()> {
    let clock = ManualClock::ticking(
        "2024-06-01T09:00:00Z".parse().unwrap(),
        chrono::Duration::minutes(1),
    );
    let mut resolver = Resolver::new(MemoryStore::new()).with_clock(clock);
    let tenant = TenantId::new("dmhub-demo");

    // 1. 002 `POST customerandidentities`, the body exactly as the API documents it.
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
    describe("create with identities", &first);
    let id = first.customer.expect("a resolve always has a target");
    assert!(first.created);
    assert_eq!(
        first.linked.len(),
        3,
        "wechat, your-system-account, and the mobile (match by fields)"
    );

    // 2. 002 `POST customers`: a plain create with the same mobile updates, not duplicates.
    let patch = CustomerPatch::from_json(&json!({"name": "小D2", "mobile": "18612341234"}))?;
    let again = resolver.create(&tenant, patch, PlainCreate::MobileAndEmail)?;
    describe("plain create with the same mobile", &again);
    assert_eq!(again.customer, Some(id));
    assert!(!again.created);
    let customer = resolver.get(&tenant, id)?.expect("live");
    assert_eq!(customer.display_name(), Some("小D2"));

    // 3. The CRM knows an email only: a second customer.
    let crm = ResolveRequest::from_json(&json!({
        "customer": {"email": "xiaod@example.com", "city": "昆明"},
        "customerIdentities": [{"identityType": "email", "identityValue": "XiaoD@Example.com"}]
    }))?;
    let second = resolver.resolve(&tenant, &crm.with_cause("crm-7"))?;
    describe("the CRM's email", &second);
    let other = second.customer.expect("target");
    assert!(second.created);
    assert_ne!(other, id);

    // 4. A touchpoint with both: autoMerge joins them (mobile outranks email, so customer 1
    //    survives), and the CRM's city fills the gap.
    let both = ResolveRequest::from_json(&json!({
        "customer": {},
        "customerIdentities": [
            {"identityType": "email", "identityValue": "xiaod@example.com"},
            {"identityType": "mobile", "identityValue": "+86 186-1234-1234"}
        ]
    }))?;
    let merged = resolver.resolve(&tenant, &both.with_cause("shop-42"))?;
    describe("a touchpoint with the email and the mobile", &merged);
    assert_eq!(merged.customer, Some(id));
    assert_eq!(merged.merged, vec![other]);

    // The merged id is an alias of the survivor.
    let via_alias = resolver.get(&tenant, other)?.expect("alias reads the survivor");
    assert_eq!(via_alias.id, id);
    assert_eq!(via_alias.fields.text(Field::City), Some("昆明"));

    println!("== identities of customer {id}");
    for identity in resolver.identities(&tenant, id)? {
        println!("   {identity}");
    }
    println!("== history of customer {id}");
    for event in resolver.history(&tenant, id)? {
        println!("   {}", serde_json::to_string(&event).unwrap());
    }
    println!("== customer {id}");
    println!("{}", serde_json::to_string_pretty(&via_alias).unwrap());
    Ok(())
}
