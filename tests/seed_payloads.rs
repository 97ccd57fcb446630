//! The sources' own JSON, as their documents print it (`../shared/seeds/`), read by the
//! crate's serde. 002 prints its bodies and responses; 001 documents its bodies as tables,
//! so its bodies here are built field by field from those tables.

use oneid::{
    CustomerPatch, Error, Field, FieldValue, IdentityInput, MemoryStore, PriorityStrategy, ResolveRequest,
    Resolver, TargetStrategy, TenantId, UpdatePatch,
};

/// 002 `POST customerandidentities`, verbatim.
const DMHUB_CREATE_WITH_IDENTITIES: &str = r#"{
    "customer": {
        "name": "小D",
        "mobile": "18612341234",
        "mobileVerified": true,
        "gender": 1,
        "attr":{
            "attr1":"",
            "attr2":""
        }
    },

    "customerIdentities": [
        {
            "identityType": "wechat",
            "identityValue": "o123456...",
            "identityName": "微信昵称"
        },
        {
            "identityType": "your-system-account",
            "identityValue": "user123",
            "identityName": "您系统里的用户名"
        }
    ]
}"#;

/// 002 `POST customers`, verbatim.
const DMHUB_PLAIN_CREATE: &str = r#"{
    "name": "小D",
    "mobile": "18612341234",
    "mobileVerified": true,
    "gender": 1,
    "createMethod": "ImportFromExternalSystem"
}"#;

/// 002's customer as `GET customers/{id}` returns it, verbatim.
const DMHUB_CUSTOMER: &str = r#"{
  "id": 7,
  "displayName": "小D",
  "name": "小D",
  "img": null,
  "gender": 1,
  "mobile": "18612341234",
  "mobileVerified": true,
  "email": null,
  "emailVerified": false,
  "birthday": null,
  "wechat": null,
  "nickName": null,
  "country": null,
  "province": null,
  "city": null,
  "county": null,
  "homeAddress": null,
  "officeAddress": null,
  "qq": null,
  "weibo": null,
  "stage": null,
  "dateJoin": "2017-06-06T03:18:23Z",
  "source": null,
  "contentName": null,
  "company": null,
  "title": null,
  "industry": null,
  "employeeNumber": null,
  "annualRevenue": null,
  "website": null,
  "telephone": null,
  "ownerId": null,
  "ownerName": null,
  "isEmployee": false,
  "campaignId": null,
  "campaignName": null,
  "lastUpdated": "2017-06-06T03:18:23Z",
  "remark": null,
  "isMember": false,
  "dateCreated": "2017-06-06T03:18:23Z",
  "attr": {
    "attr1": null
  }
}"#;

/// 002 `POST customeridentities`, verbatim.
const DMHUB_ADD_IDENTITY: &str = r#"{
  "customerId": "123456",
  "identityType": "myshop-account",
  "identityValue": "user12345",
  "identityName": "小羊苏西"
}"#;

/// 002 `GET customeridentities` response, verbatim.
const DMHUB_IDENTITIES: &str = r#"[
  {
    "customerId": "123456",
    "identityType": "myshop-account",
    "identityValue": "user12345",
    "identityName": "小羊苏西"
  },
  {
    "customerId": "123456",
    "identityType": "wechat",
    "identityValue": "openid12345",
    "identityName": "小羊苏西"
  }
]"#;

/// 001 `createCustomerByIdentity`, built from its documented field table.
const BAIYAO_CREATE_BY_IDENTITY: &str = r#"{
    "annualRevenue": 5000000, "appId": "wx1234567890", "birthday": "2020-01-01", "campaignId": 88,
    "chargeId": "u-7", "province": "云南省", "city": "昆明市", "district": "五华区", "company": "白药",
    "createMethod": "api", "editable": 0, "employeeNumber": 300, "email": "Li@Example.com",
    "emailVerified": 1, "gender": 2, "groupId": 12, "hobby": "跑步", "img": "https://img/1.png",
    "industry": "医药", "isEmployee": 0, "language": "zh_CN", "location": "北京路 1 号",
    "nickName": "小李", "openId": "oOPEN123", "position": "经理", "referrer": "r-1",
    "referrerName": "王五", "remark": "vip", "source": "taobao", "source1": "tmall",
    "subscribeSource": "ADD_SCENE_QR_CODE", "unionId": "uUNION123", "website": "https://x.cn",
    "deptCodeList": ["D1"],
    "extendAttrList": [{"attrKey": "skin", "attrName": "肤质", "attrValue": "dry"}],
    "identityList": [{"identityType": "mobile", "identityValue": "+86 138 0013 8000"}],
    "userIdList": [1, 2],
    "identityPriorityStrategy": "custom", "targetCustomerStrategy": "customerFirst", "autoMerge": false
}"#;

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("the fixture is JSON")
}

#[test]
fn dmhub_create_with_identities() {
    let request = ResolveRequest::from_json(&json(DMHUB_CREATE_WITH_IDENTITIES)).unwrap();
    assert_eq!(request.patch.fields.text(Field::Name), Some("小D"));
    assert_eq!(
        request.patch.fields.get(Field::MobileVerified),
        Some(&FieldValue::Bool(true))
    );
    assert_eq!(request.patch.fields.get(Field::Gender), Some(&FieldValue::Int(1)));
    assert_eq!(request.patch.attrs["attr1"].value, "");
    assert_eq!(request.identities.len(), 2);
    assert_eq!(request.identities[0].identity_type, "wechat");
    assert_eq!(request.identities[0].identity_value, "o123456...");
    assert_eq!(request.identities[0].identity_name.as_deref(), Some("微信昵称"));
    assert_eq!(request.identities[1].identity_type, "your-system-account");
    let mut r = Resolver::new(MemoryStore::new());
    let out = r.resolve(&TenantId::new("t"), &request).unwrap();
    assert!(out.created);
    assert_eq!(out.linked.len(), 2);
}

#[test]
fn dmhub_plain_create_and_customer_round_trip() {
    let patch = CustomerPatch::from_json(&json(DMHUB_PLAIN_CREATE)).unwrap();
    assert_eq!(
        patch.fields.text(Field::CreateMethod),
        Some("ImportFromExternalSystem")
    );
    // A customer as GET returns it reads back: read-only keys ignored, nulls absent.
    let read = CustomerPatch::from_json(&json(DMHUB_CUSTOMER)).unwrap();
    assert_eq!(read.fields.text(Field::Mobile), Some("18612341234"));
    assert_eq!(
        read.fields.get(Field::EmailVerified),
        Some(&FieldValue::Bool(false))
    );
    assert_eq!(read.fields.get(Field::IsMember), Some(&FieldValue::Bool(false)));
    assert!(read.fields.get(Field::Email).is_none());
    assert!(read.attrs.is_empty(), "attr1 is null");
    // Resolving it and serializing the customer gives the same keys and values back.
    let mut r = Resolver::new(MemoryStore::new());
    let t = TenantId::new("t");
    let out = r
        .resolve(
            &t,
            &ResolveRequest::new([IdentityInput::new("mobile", "18612341234")]).with_patch(read),
        )
        .unwrap();
    let customer = serde_json::to_value(r.get(&t, out.customer.unwrap()).unwrap().unwrap()).unwrap();
    let printed = json(DMHUB_CUSTOMER);
    for (key, value) in printed.as_object().unwrap() {
        if value.is_null() || ["id", "dateCreated", "lastUpdated", "attr"].contains(&key.as_str()) {
            continue;
        }
        assert_eq!(&customer[key], value, "{key}");
    }
    // 002's update body is a customer object too; null clears.
    let update = UpdatePatch::from_json(&json(DMHUB_PLAIN_CREATE)).unwrap();
    assert_eq!(update.fields.len(), 5);
}

#[test]
fn dmhub_identities() {
    let body = json(DMHUB_ADD_IDENTITY);
    let identity: IdentityInput = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(identity.identity_type, "myshop-account");
    assert_eq!(identity.identity_name.as_deref(), Some("小羊苏西"));
    assert_eq!(body["customerId"], "123456");
    let listed: Vec<IdentityInput> = serde_json::from_value(json(DMHUB_IDENTITIES)).unwrap();
    assert_eq!(listed[1].identity_value, "openid12345");
}

#[test]
fn baiyao_create_by_identity() {
    let request = ResolveRequest::from_json(&json(BAIYAO_CREATE_BY_IDENTITY)).unwrap();
    let f = &request.patch.fields;
    assert_eq!(f.text(Field::County), Some("五华区"), "district");
    assert_eq!(f.text(Field::Title), Some("经理"), "position");
    assert_eq!(f.text(Field::OwnerId), Some("u-7"), "chargeId");
    assert_eq!(f.text(Field::CampaignId), Some("88"));
    assert_eq!(
        f.get(Field::AnnualRevenue),
        Some(&FieldValue::Decimal("5000000".into()))
    );
    assert_eq!(
        f.get(Field::EmailVerified),
        Some(&FieldValue::Bool(true)),
        "1 is verified"
    );
    assert_eq!(
        f.get(Field::IsEmployee),
        Some(&FieldValue::Bool(true)),
        "001: 0 means yes"
    );
    assert_eq!(request.patch.groups, [12]);
    assert_eq!(request.patch.attrs["skin"].name.as_deref(), Some("肤质"));
    assert_eq!(request.patch.attrs["source1"].value, "tmall", "kept, not dropped");
    assert_eq!(
        request.patch.attrs["deptCodeList"].value,
        serde_json::json!(["D1"])
    );
    let ids: Vec<_> = request
        .identities
        .iter()
        .map(|i| {
            (
                i.identity_type.as_str(),
                i.identity_value.as_str(),
                i.scope.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("mobile", "+86 138 0013 8000", None),
            ("wechat", "oOPEN123", Some("wx1234567890")),
            ("wechat-unionid", "uUNION123", None)
        ]
    );
    assert_eq!(
        request.options.identity_priority_strategy,
        PriorityStrategy::Custom
    );
    assert_eq!(
        request.options.target_customer_strategy,
        TargetStrategy::CustomerFirst
    );
    assert!(!request.options.auto_merge);
    let mut r = Resolver::new(MemoryStore::new());
    assert_eq!(r.resolve(&TenantId::new("t"), &request).unwrap().linked.len(), 3);
}

#[test]
fn clinic_spellings() {
    let patch = CustomerPatch::from_json(&serde_json::json!({
        "shopId": "s1", "name": "李娜", "mrn": "M-1", "gender": "female", "idcard": "530102198802030021",
        "address": "北京路", "balance": 10000, "credit": 5, "wechatNickname": "娜娜", "tag": ["新客"],
        "LastSigninAt": "2018-06-04T10:53:38Z"
    }))
    .unwrap();
    assert_eq!(patch.fields.get(Field::Gender), Some(&FieldValue::Int(2)));
    assert_eq!(patch.fields.text(Field::HomeAddress), Some("北京路"));
    assert_eq!(patch.fields.text(Field::NickName), Some("娜娜"));
    assert_eq!(patch.fields.get(Field::Balance), Some(&FieldValue::Int(10000)));
    assert_eq!(patch.tags, ["新客"]);
}

#[test]
fn bad_payloads_are_clear_errors() {
    let err = |v: serde_json::Value| ResolveRequest::from_json(&v).unwrap_err();
    assert!(
        matches!(err(serde_json::json!({"customer": {"name": "x", "surprise": 1}})), Error::UnknownField { field } if field == "surprise")
    );
    assert!(
        matches!(err(serde_json::json!({"customer": {"gender": 7}})), Error::InvalidField { field, .. } if field == "gender")
    );
    assert!(
        matches!(err(serde_json::json!({"customer": {"birthday": "yesterday"}})), Error::InvalidField { field, .. } if field == "birthday")
    );
    assert!(matches!(err(serde_json::json!([1, 2])), Error::Payload(_)));
    assert!(matches!(
        err(serde_json::json!({"customerIdentities": [{"identityType": "mobile"}]})),
        Error::Payload(_)
    ));
    assert!(matches!(
        err(serde_json::json!({"autoMerge": "perhaps"})),
        Error::Payload(_)
    ));
    // Serde on its own: a patch deserializes with the same rules.
    assert!(serde_json::from_str::<CustomerPatch>(r#"{"gender": 9}"#).is_err());
    assert!(serde_json::from_str::<CustomerPatch>(r#"{"gender": "male", "district": "x"}"#).is_ok());
}
