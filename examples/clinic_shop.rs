//! The clinic/shop customer API (000): add, list, linked accounts, edit, view, delete, with
//! the API's own fields (`shopId` as the tenant, `mrn`, `idcard`, `balance` in fen, `tag`).
//!
//! ```text
//! cargo run --example clinic_shop
//! ```

use oneid::{
    CustomerQuery, IdentityInput, ManualClock, MemoryStore, ResolveRequest, Resolver, TenantId, UpdatePatch,
};
use serde_json::json;

/// 000's POST /customer/v1/customer: the mobile, id card and medical record number are the
/// identities (a shop's "linked accounts"); everything else is the patch.
fn add_customer(body: serde_json::Value) -> oneid::Result<(TenantId, ResolveRequest)> {
    let mut body = body;
    let shop = body
        .as_object_mut()
        .and_then(|b| b.remove("shopId"))
        .and_then(|s| s.as_str().map(TenantId::new));
    let shop = shop.ok_or_else(|| oneid::Error::InvalidField {
        field: "shopId".into(),
        reason: "required".into(),
    })?;
    let mut identities = Vec::new();
    for (field, kind) in [("mobile", "mobile"), ("idcard", "idcard"), ("mrn", "mrn")] {
        if let Some(v) = body.get(field).and_then(|v| v.as_str()) {
            identities.push(IdentityInput::new(kind, v));
        }
    }
    let patch = oneid::CustomerPatch::from_json(&body)?;
    Ok((shop, ResolveRequest::new(identities).with_patch(patch)))
}

fn main() -> oneid::Result<()> {
    let clock = ManualClock::ticking(
        "2018-06-04T10:53:38Z".parse().unwrap(),
        chrono::Duration::minutes(5),
    );
    let clinic = Resolver::new(MemoryStore::new()).with_clock(clock);

    let (shop, request) = add_customer(json!({
        "shopId": "shop-9", "name": "李娜", "mrn": "MRN-0042", "mobile": "15800002222", "gender": "female",
        "birthday": "1988-02-03", "idcard": "530102198802030021", "province": "云南", "city": "昆明",
        "county": "盘龙区", "address": "北京路 1 号", "balance": 10000, "credit": 120, "tag": ["新客"]
    }))?;
    let out = clinic.resolve(&shop, &request)?;
    let id = out.customer.expect("target");
    println!("POST /customer/v1/customer -> id {id}");

    // GET /customer/v1/customer/linked-account?customerId= — linked accounts are identities.
    let linked = clinic.identities(&shop, id)?;
    println!(
        "GET linked-account -> {}",
        serde_json::to_string(&linked).unwrap()
    );
    assert_eq!(linked.len(), 3);

    // The same person registered again at the front desk by id card: same customer, and the
    // balances of two accounts merged would add up (sum rule), never vanish.
    let (_, second) = add_customer(
        json!({"shopId": "shop-9", "name": "李娜", "idcard": "530102198802030021", "mobile": "158-0000-2222"}),
    )?;
    assert_eq!(clinic.resolve(&shop, &second)?.customer, Some(id));

    // Another shop is another tenant: the same person there is a separate customer.
    let (other_shop, elsewhere) =
        add_customer(json!({"shopId": "shop-10", "name": "李娜", "mobile": "15800002222"}))?;
    let there = clinic.resolve(&other_shop, &elsewhere)?;
    assert!(there.created);
    assert!(clinic.get(&other_shop, id)?.is_none());

    // PATCH /customer/v1/customer/:id — null clears.
    clinic.update(
        &shop,
        id,
        &UpdatePatch::from_json(&json!({"address": null, "balance": 8800, "tag": ["新客", "VIP"]}))?,
    )?;
    // GET /customer/v1/customer/:id
    let view = clinic.get(&shop, id)?.expect("live");
    println!(
        "GET /customer/v1/customer/{id} -> {}",
        serde_json::to_string(&view).unwrap()
    );
    assert_eq!(
        view.fields.get(oneid::Field::Balance),
        Some(&oneid::FieldValue::Int(8800))
    );
    assert!(view.fields.get(oneid::Field::HomeAddress).is_none());
    assert_eq!(view.tags, ["新客", "VIP"]);

    // GET /customer/v1/customer — the shop's list.
    let page = clinic.query(
        &shop,
        &CustomerQuery {
            filter: oneid::CustomerFilter {
                tag: Some("VIP".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )?;
    println!("GET /customer/v1/customer?tag=VIP -> total {}", page.total);
    assert_eq!(page.total, 1);

    // DELETE /customer/v1/customer/:id
    clinic.delete(&shop, id)?;
    println!(
        "DELETE /customer/v1/customer/{id} -> GET: {:?}",
        clinic.get(&shop, id)?.map(|c| c.id)
    );
    assert!(clinic.get(&shop, id)?.is_none());
    Ok(())
}
