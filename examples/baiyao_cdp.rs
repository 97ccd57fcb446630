//! The Baiyao CDP open API (001): every documented customer call through `oneid`, with the
//! API's own body shapes (0/1 flags, `identityList`, `extendAttrList`).
//!
//! ```text
//! cargo run --example baiyao_cdp
//! ```

use oneid::{
    CustomerPatch, CustomerQuery, IdentityInput, ManualClock, MemoryStore, PlainCreate, ResolveRequest,
    Resolver, TenantId,
};
use serde_json::json;

fn main() -> oneid::Result<()> {
    let clock = ManualClock::ticking(
        "2024-03-01T08:00:00Z".parse().unwrap(),
        chrono::Duration::minutes(1),
    );
    let cdp = Resolver::new(MemoryStore::new()).with_clock(clock);
    let tenant = TenantId::new("baiyao");

    // POST customer/add — the mobile is the identity; no other identities, no merging.
    let add = CustomerPatch::from_json(&json!({
        "name": "王芳", "mobile": "13700001111", "mobileVerified": 1, "province": "云南省", "city": "昆明市",
        "district": "五华区", "email": "wf@example.com", "emailVerified": 0, "gender": 2, "groupId": 12
    }))?;
    let added = cdp.create(&tenant, add, PlainCreate::MobileOnly)?;
    let id = added.customer.expect("target");
    println!("customer/add -> data {id}");

    // POST customer/createCustomerByIdentity — strategies as documented.
    let body = json!({
        "name": "王芳", "gender": 2, "email": "wf@example.com", "emailVerified": 1, "isEmployee": 1,
        "appId": "wx-official-1", "openId": "oWF001", "unionId": "uWF001",
        "extendAttrList": [{"attrKey": "skinType", "attrName": "肤质", "attrValue": "dry"}],
        "identityList": [{"identityType": "mobile", "identityValue": "+86 137-0000-1111"}],
        "identityPriorityStrategy": "system", "targetCustomerStrategy": "identityFirst", "autoMerge": true
    });
    let request = ResolveRequest::from_json(&body)?;
    // getCustomerIdByIdentityList — the dry run says where it would go.
    let dry = cdp.dry_run(&tenant, &request)?;
    println!("getCustomerIdByIdentityList -> data {:?}", dry.customer);
    assert_eq!(dry.customer, Some(id));
    let out = cdp.resolve(&tenant, &request)?;
    println!(
        "createCustomerByIdentity -> data {:?}, linked {}",
        out.customer,
        out.linked.len()
    );
    assert_eq!(out.customer, Some(id));
    assert_eq!(out.linked.len(), 2, "the scoped openid and the unionid");

    // GET customer/customerInfo?customerId=
    let info = cdp.get(&tenant, id)?.expect("live");
    println!("customerInfo -> {}", serde_json::to_string(&info).unwrap());
    assert_eq!(
        info.fields.get(oneid::Field::IsEmployee),
        Some(&oneid::FieldValue::Bool(false)),
        "001: 1 means no"
    );

    // POST customer-identity-ref/getCustomerIdByCustomerIdentity
    let by_identity = cdp.owner_of(
        &tenant,
        &IdentityInput::new("wechat", "oWF001").with_scope("wx-official-1"),
    )?;
    println!("getCustomerIdByCustomerIdentity(wechat@wx-official-1 oWF001) -> {by_identity:?}");
    assert_eq!(by_identity, Some(id));

    // POST customer/updateCustomerAttr — system and extended attributes, type-checked.
    cdp.update_attribute(&tenant, id, "birthday", &json!("1992-08-15"))?;
    cdp.update_extended_attribute(&tenant, id, "skinType", &json!("oily"))?;
    let refused = cdp.update_attribute(&tenant, id, "gender", &json!("9"));
    println!(
        "updateCustomerAttr(gender=9) -> {}",
        refused.as_ref().unwrap_err()
    );
    assert!(refused.is_err());

    // POST customer/queryAttrValuesByCustomerId
    let values = cdp.attributes(&tenant, id, &["name", "birthday", "skinType", "district"])?;
    println!(
        "queryAttrValuesByCustomerId -> {}",
        serde_json::to_string(&values).unwrap()
    );
    assert_eq!(values["skinType"], "oily");
    assert_eq!(values["birthday"], "1992-08-15");

    // GET customer/simpleQuery — groupId, searchKey, time range, paging.
    let q = CustomerQuery::from_params([
        ("groupId", "12"),
        ("searchKey", "王"),
        ("startTime", "2024-03-01 00:00:00"),
        ("endTime", "2024-03-02 00:00:00"),
        ("current", "1"),
        ("size", "10"),
    ])?;
    let page = cdp.query(&tenant, &q)?;
    println!("simpleQuery -> total {}", page.total);
    assert_eq!(page.total, 1);

    // GET customer/singleDelete — logical delete.
    cdp.delete(&tenant, id)?;
    println!(
        "singleDelete -> customerInfo: {:?}",
        cdp.get(&tenant, id)?.map(|c| c.id)
    );
    assert!(cdp.get(&tenant, id)?.is_none());
    let after = cdp.resolve(
        &tenant,
        &ResolveRequest::new([IdentityInput::new("mobile", "13700001111")]),
    )?;
    assert!(after.created, "a deleted customer's identities are released");
    Ok(())
}
