//! The beauty-clinic SDK (003): look a customer up by WeChat openId, by id and by phone, and
//! add a customer with an ERP member id. (Its appointment calls are outside this crate.)
//!
//! ```text
//! cargo run --example beauty_clinic
//! ```

use oneid::{
    CustomerPatch, Field, IdentityInput, IdentitySettings, MemoryStore, ResolveRequest, Resolver, TenantId,
};
use serde_json::json;

fn main() -> oneid::Result<()> {
    // ERP member ids are unique per customer: a limit of 1, high in the priority.
    let settings = IdentitySettings::default()
        .with_priority(["wechat-unionid", "erp-id", "idcard", "mobile", "email", "wechat"])?
        .with_limit("erp-id", Some(1))?;
    let sdk = Resolver::new(MemoryStore::new()).with_default_settings(settings);
    let team = TenantId::new("team-3");

    // addCustomer($name, $telnum, $erpId, $sex, $birthday, $channelName, ...)
    let add = |name: &str, telnum: &str, erp_id: &str| -> oneid::Result<ResolveRequest> {
        let patch = CustomerPatch::from_json(&json!({
            "name": name, "tel": telnum, "erpId": erp_id, "sex": 2, "birthday": "1995-07-01", "channel": "小红书"
        }))?;
        Ok(ResolveRequest::new([
            IdentityInput::new("mobile", telnum),
            IdentityInput::new("erp-id", erp_id),
        ])
        .with_patch(patch))
    };
    let out = sdk.resolve(&team, &add("陈静", "13338363507", "10086")?)?;
    let id = out.customer.expect("target");
    println!("addCustomer -> errNum 0, id {id}");

    // The WeChat callback gives openId and wxappid: bind them, scoped to the official account.
    sdk.add_identity(
        &team,
        id,
        &IdentityInput::new("wechat", "oBeauty01").with_scope("wx-app-77"),
    )?;

    // getcustomerinfo($openId, $wxappId)
    let by_openid = sdk.owner_of(
        &team,
        &IdentityInput::new("wechat", "oBeauty01").with_scope("wx-app-77"),
    )?;
    println!("getcustomerinfo(oBeauty01, wx-app-77) -> {by_openid:?}");
    assert_eq!(by_openid, Some(id));
    // The same openid under another app is another identity.
    assert_eq!(
        sdk.owner_of(
            &team,
            &IdentityInput::new("wechat", "oBeauty01").with_scope("wx-app-78")
        )?,
        None
    );

    // getCusInfoByCusId($cusId)
    let info = sdk.get(&team, id)?.expect("live");
    println!(
        "getCusInfoByCusId({id}) -> {}",
        serde_json::to_string(&info).unwrap()
    );
    assert_eq!(info.fields.text(Field::ErpId), Some("10086"));

    // getCusInfoByCusTelnum($telnum)
    let by_phone = sdk
        .find_by_identity(&team, &IdentityInput::new("mobile", "133 3836 3507"))?
        .expect("found");
    println!("getCusInfoByCusTelnum(13338363507) -> id {}", by_phone.id);
    assert_eq!(by_phone.id, id);

    // A second addCustomer with another phone but the same unique ERP id is the same member.
    let again = sdk.resolve(&team, &add("陈静", "13900001234", "10086")?)?;
    assert_eq!(again.customer, Some(id));
    // A different ERP id with the same phone is another member (identityFirst: the erp id
    // outranks the phone and the phone's owner already has one), and merging them is refused.
    let clash = sdk.resolve(&team, &add("陈静", "13338363507", "10087")?)?;
    println!(
        "addCustomer with another erpId -> new customer {:?}, merge refused: {}",
        clash.customer,
        clash
            .refused_merges
            .iter()
            .map(|m| match &m.reason {
                oneid::RefusalReason::Limit {
                    identity_type, limit, ..
                } => format!("{} ({identity_type} limit {limit})", m.customer),
                other => format!("{} ({other:?})", m.customer),
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(clash.created);
    assert_eq!(clash.refused_merges[0].customer, id);
    Ok(())
}
