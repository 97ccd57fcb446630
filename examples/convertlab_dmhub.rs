//! Convertlab DM Hub (002): every documented customer and identity call through `oneid`,
//! with DM Hub's own JSON shapes.
//!
//! ```text
//! cargo run --example convertlab_dmhub
//! ```

use oneid::{
    CustomerFilter, CustomerPatch, CustomerQuery, IdentityInput, ManualClock, MemoryStore, PlainCreate,
    ResolveRequest, Resolver, TenantId, UpdatePatch,
};
use serde_json::json;

fn main() -> oneid::Result<()> {
    let clock = ManualClock::ticking(
        "2017-06-06T03:18:23Z".parse().unwrap(),
        chrono::Duration::seconds(1),
    );
    let dmhub = Resolver::new(MemoryStore::new()).with_clock(clock);
    let tenant = TenantId::new("dmhub");

    // POST /v1/customerandidentities — create with identities (body as documented).
    let body = json!({
        "customer": {"name": "小D", "mobile": "18612341234", "mobileVerified": true, "gender": 1,
                     "attr": {"attr1": "", "attr2": ""}},
        "customerIdentities": [
            {"identityType": "wechat", "identityValue": "o123456...", "identityName": "微信昵称"},
            {"identityType": "your-system-account", "identityValue": "user123", "identityName": "您系统里的用户名"}
        ],
        "matchByFields": true
    });
    let created = dmhub.resolve(&tenant, &ResolveRequest::from_json(&body)?)?;
    let id = created.customer.expect("target");
    println!(
        "POST customerandidentities -> id {id}, created {}",
        created.created
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&dmhub.get(&tenant, id)?.expect("live")).unwrap()
    );
    assert!(created.created);

    // Same call again with an identity already bound: DM Hub updates, it does not create.
    let again = json!({
        "customer": {"name": "小D", "city": "上海"},
        "customerIdentities": [{"identityType": "wechat", "identityValue": "o123456..."}]
    });
    let updated = dmhub.resolve(&tenant, &ResolveRequest::from_json(&again)?)?;
    println!(
        "POST customerandidentities (bound identity) -> id {:?}, created {}",
        updated.customer, updated.created
    );
    assert_eq!(updated.customer, Some(id));
    assert!(!updated.created);

    // POST /v1/customers — plain create: found by mobile, so updated instead of duplicated.
    let plain = CustomerPatch::from_json(&json!({
        "name": "小D", "mobile": "18612341234", "mobileVerified": true, "gender": 1,
        "createMethod": "ImportFromExternalSystem"
    }))?;
    let out = dmhub.create(&tenant, plain, PlainCreate::MobileAndEmail)?;
    println!(
        "POST customers (same mobile) -> id {:?}, created {}",
        out.customer, out.created
    );
    assert_eq!(out.customer, Some(id));

    // PUT /v1/customers/{id} — returns the customer before the change; the verified rule holds.
    let put = UpdatePatch::from_json(
        &json!({"name": "小D", "mobile": "18612341234", "mobileVerified": false, "gender": 1}),
    )?;
    let done = dmhub.update(&tenant, id, &put)?;
    println!(
        "PUT customers/{id} -> before: name {:?}",
        done.before.display_name()
    );
    assert_eq!(
        done.customer.fields.get(oneid::Field::MobileVerified),
        Some(&oneid::FieldValue::Bool(true))
    );

    // POST /v1/customeridentities — add an identity; GET customeridentities — list them.
    dmhub.add_identity(&tenant, id, &IdentityInput::new("wechat-unionid", "unionid-xyz"))?;
    let listed = dmhub.identities_of(&tenant, &[id])?;
    println!(
        "GET customeridentities?customerIds={id} -> {}",
        serde_json::to_string(&listed[0].1).unwrap()
    );
    assert_eq!(listed[0].1.len(), 4);
    let owner = dmhub.owner_of(&tenant, &IdentityInput::new("your-system-account", "user123"))?;
    println!("GET customeridentities?identityType=your-system-account&identityValue=user123 -> {owner:?}");
    assert_eq!(owner, Some(id));

    // A second customer, then GET /v1/customers (query) and /v1/customers/count.
    dmhub.create(
        &tenant,
        CustomerPatch::from_json(&json!({"name": "Bob", "mobile": "13912345678", "stage": "lead"}))?,
        PlainCreate::MobileAndEmail,
    )?;
    let q = CustomerQuery::from_params([
        ("stage", "_empty"),
        ("select", "name,mobile"),
        ("rows", "20"),
        ("page", "1"),
        ("sidx", "id"),
        ("sord", "asc"),
    ])?;
    let (rows, total) = dmhub.query_json(&tenant, &q)?;
    println!(
        "GET customers?stage=_empty&select=name,mobile -> total {total}: {}",
        serde_json::to_string(&rows).unwrap()
    );
    assert_eq!(total, 1);
    let count = dmhub.count(&tenant, &CustomerQuery::from_params([("gender", "1")])?.filter)?;
    println!("GET customers/count?gender=1 -> {count}");
    assert_eq!(count, 1);
    assert_eq!(dmhub.count(&tenant, &CustomerFilter::default())?, 2);

    // DELETE /v1/customers/{id} — then GET customers/{id} is not found.
    dmhub.delete(&tenant, id)?;
    println!(
        "DELETE customers/{id} -> GET customers/{id}: {:?}",
        dmhub.get(&tenant, id)?.map(|c| c.id)
    );
    assert!(dmhub.get(&tenant, id)?.is_none());
    Ok(())
}
