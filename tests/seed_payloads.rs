//! The sources' own JSON, read by the crate's serde (SEMANTICS: "The request type
//! deserializes the sources' own payloads as they are").
//!
//! 002 (Convertlab DM Hub) prints its bodies and responses: they are copied here verbatim.
//! 001 (Baiyao CDP) documents its bodies as field tables, 000 (clinic/shop) as a field table,
//! and 003 (beauty-clinic SDK) as commented PHP: their bodies here are built field by field
//! from those tables, with the documented types.
//!
//! Each body is read with the call a service would use (`ResolveRequest::from_json` for
//! create-with-identities bodies, `CustomerPatch::from_json` for customer objects), the exact
//! fields, identities, options and extended attributes are checked, and the request is then
//! resolved to check the outcome. Tests marked `#[ignore = "BUG: ..."]` show payloads the
//! sources document that the crate reads wrongly or refuses.

use chrono::{NaiveDate, TimeZone, Utc};
use oneid::{
    Change, ChangedField, CustomerId, CustomerPatch, Error, Field, FieldValue, IdentityInput, ManualClock,
    MemoryStore, PlainCreate, PriorityStrategy, ResolveOptions, ResolveRequest, Resolver, TargetStrategy,
    TenantId, UpdatePatch,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// 002, verbatim.

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

/// 002 `PUT customers/{id}`, verbatim.
const DMHUB_UPDATE: &str = r#"{
    "name": "小D",
    "mobile": "18612341234",
    "mobileVerified": true,
    "gender": 1
}"#;

/// 002's customer as `POST customerandidentities`, `POST customers` and `GET customers/{id}`
/// all return it (the three are printed identically), verbatim.
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

/// 002's custom-attribute example, verbatim.
const DMHUB_ATTR_EXAMPLE: &str = r#"{
    "name": "西门吹雪",
    "attr": {
        "attr1": "西门剑铺"
    }
}"#;

/// 002 `GET customers` response, verbatim (with its `//` comments, which are not JSON).
const DMHUB_QUERY_RESPONSE: &str = r#"{
  "rows": [
    {
      "id": 1,
      "displayName": "大D",
      "name": "大D",
      "img": null,
      "gender": 1,
      "mobile": "18612341234",
      "mobileVerified": true,
      "email": null
      // 客户的其他字段
    },
    {
      "id": 7,
      "displayName": "小D",
      "name": "小D",
      "img": null,
      "gender": 1,
      "mobile": "18612341235",
      "mobileVerified": true,
      "email": null
      // 客户的其他字段
    }
  ]
}"#;

/// 002 `POST customeridentities` body (and its response), verbatim.
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

// ---------------------------------------------------------------------------------------------
// 001, 000 and 003: built from their field tables.

/// 001 `createCustomerByIdentity`: every documented body field, with its documented type.
const BAIYAO_CREATE_BY_IDENTITY: &str = r#"{
    "annualRevenue": 5000000, "appId": "wx1234567890", "birthday": "2020-01-01", "campaignId": 88,
    "chargeId": "u-7", "province": "云南省", "city": "昆明市", "district": "五华区", "company": "白药",
    "createMethod": "api", "editable": 0, "employeeNumber": 300, "email": "Li@Example.com",
    "emailVerified": 1, "gender": 2, "groupId": 12, "hobby": "跑步", "img": "https://img/1.png",
    "industry": "医药", "isEmployee": 0, "language": "zh_CN", "location": "北京路 1 号",
    "nickName": "小李", "openId": "oOPEN123", "position": "经理", "referrer": "r-1",
    "referrerName": "王五", "remark": "vip", "source": "taobao", "source1": "tmall",
    "source2": "jd", "source3": null,
    "subscribeSource": "ADD_SCENE_QR_CODE", "unionId": "uUNION123", "website": "https://x.cn",
    "deptCodeList": ["D1"],
    "extendAttrList": [{"attrKey": "skin", "attrName": "肤质", "attrValue": "dry"}],
    "identityList": [{"identityType": "mobile", "identityValue": "+86 138 0013 8000"}],
    "userIdList": [1, 2],
    "identityPriorityStrategy": "custom", "targetCustomerStrategy": "customerFirst", "autoMerge": false
}"#;

/// 001 `customer/add`: every documented body field.
const BAIYAO_ADD: &str = r#"{
    "name": "李雷", "mobile": "13912345678", "mobileVerified": 1, "province": "安徽省", "city": "合肥市",
    "district": "蜀山区", "email": "lilei@example.com", "emailVerified": 0, "gender": 1, "groupId": 3
}"#;

/// 001 `getCustomerIdByIdentityList` body.
const BAIYAO_ID_BY_IDENTITY_LIST: &str = r#"{
    "identityList": [
        {"identityType": "wechat-unionid", "identityValue": "uUNION123"},
        {"identityType": "mobile", "identityValue": "13800138000"}
    ]
}"#;

/// 001 `getCustomerIdByCustomerIdentity` body.
const BAIYAO_ID_BY_IDENTITY: &str = r#"{"identityType": "mobile", "identityValue": "+86 13800138000"}"#;

/// 000 `POST /customer/v1/customer`: the documented customer fields with plain values
/// (`gender` a word, `tag` a list, `LastSigninAt` a date-time, `fromChannel` a channel name).
const CLINIC_CUSTOMER: &str = r#"{
    "shopId": "shop-9", "name": "李娜", "mrn": "MRN-0042", "mobile": "158-0000-2222", "gender": "male",
    "birthday": "1988-02-03", "idcard": "530102198802030021", "country": "中国", "province": "云南",
    "city": "昆明", "county": "盘龙区", "address": "北京路 1 号", "balance": 10000, "credit": 120,
    "wechatNickname": "娜娜", "wechatHeadimgurl": "https://img/n.png",
    "LastSigninAt": "2018-06-04 10:53:38", "tag": ["新客", "VIP"], "fromChannel": "wechat"
}"#;

/// 003 `getcustomerinfo` success response's `customerInfo`, as JSON (the SDK prints it as a
/// JavaScript object with comments).
const BEAUTY_CUSTOMER_INFO: &str = r#"{
    "id": 6, "status": 1, "headImg": "xxxx.jpg", "name": "xxx", "tel": "138****1786"
}"#;

// ---------------------------------------------------------------------------------------------
// Helpers.

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("the payload is JSON")
}

/// 002's printed time, so that the customers resolved here carry 002's printed timestamps.
fn dmhub_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2017, 6, 6, 3, 18, 23).unwrap()
}

fn resolver() -> Resolver<MemoryStore, ManualClock> {
    Resolver::new(MemoryStore::new()).with_clock(ManualClock::at(dmhub_time()))
}

fn t() -> TenantId {
    TenantId::new("t")
}

/// `(type, value, name, scope)` of each identity input.
fn inputs(ids: &[IdentityInput]) -> Vec<(&str, &str, Option<&str>, Option<&str>)> {
    ids.iter()
        .map(|i| {
            (
                i.identity_type.as_str(),
                i.identity_value.as_str(),
                i.identity_name.as_deref(),
                i.scope.as_deref(),
            )
        })
        .collect()
}

fn keys(ids: &[oneid::Identity]) -> Vec<String> {
    ids.iter().map(|i| i.to_string()).collect()
}

fn text(v: &str) -> FieldValue {
    FieldValue::Text(v.into())
}

/// The fields of a patch as `(name, value)`, in field order.
fn fields_of(patch: &CustomerPatch) -> Vec<(Field, FieldValue)> {
    patch.fields.iter().map(|(f, v)| (f, v.clone())).collect()
}

/// Removes `// ...` comments (002 prints some in its JSON); none of 002's strings hold `//`.
fn strip_comments(s: &str) -> String {
    s.lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// 002.

#[test]
fn dmhub_create_with_identities_reads_as_printed() {
    let request = ResolveRequest::from_json(&json(DMHUB_CREATE_WITH_IDENTITIES)).unwrap();
    assert_eq!(
        fields_of(&request.patch),
        [
            (Field::Name, text("小D")),
            (Field::Gender, FieldValue::Int(1)),
            (Field::Mobile, text("18612341234")),
            (Field::MobileVerified, FieldValue::Bool(true)),
        ]
    );
    let attrs: Vec<_> = request
        .patch
        .attrs
        .iter()
        .map(|(k, a)| (k.as_str(), a.name.as_deref(), a.value.clone()))
        .collect();
    assert_eq!(attrs, [("attr1", None, json!("")), ("attr2", None, json!(""))]);
    assert!(request.patch.tags.is_empty() && request.patch.groups.is_empty());
    assert_eq!(
        inputs(&request.identities),
        [
            ("wechat", "o123456...", Some("微信昵称"), None),
            ("your-system-account", "user123", Some("您系统里的用户名"), None),
        ]
    );
    // No options in the body: the defaults (autoMerge on, no matching by mobile/email).
    assert_eq!(request.options, ResolveOptions::default());
    assert_eq!(
        request.options,
        ResolveOptions {
            identity_priority_strategy: PriorityStrategy::System,
            target_customer_strategy: TargetStrategy::IdentityFirst,
            auto_merge: true,
            match_by_fields: false,
        }
    );
    assert_eq!(request.cause, None);
    assert_eq!(request.event_time, None);
}

#[test]
fn dmhub_create_with_identities_resolves() {
    let r = resolver();
    let request = ResolveRequest::from_json(&json(DMHUB_CREATE_WITH_IDENTITIES)).unwrap();
    let out = r.resolve(&t(), &request).unwrap();
    assert!(out.created);
    assert_eq!(out.customer, Some(CustomerId(1)));
    assert_eq!(
        keys(&out.linked),
        ["wechat o123456...", "your-system-account user123"]
    );
    assert!(out.rejected.is_empty() && out.merged.is_empty() && out.refused_merges.is_empty());
    let identities = r.identities(&t(), CustomerId(1)).unwrap();
    assert_eq!(identities[0].identity_name.as_deref(), Some("微信昵称"));
    assert_eq!(identities[1].identity_name.as_deref(), Some("您系统里的用户名"));
    // The same body again: the customer is found by its identities and nothing changes.
    let again = r.resolve(&t(), &request).unwrap();
    assert_eq!(again.customer, Some(CustomerId(1)));
    assert!(again.is_noop(), "{again:?}");
    assert_eq!(keys(&again.matched).len(), 2);

    // 002 also matches by the customer's mobile: with `matchByFields`, the mobile is an identity.
    let mut body = json(DMHUB_CREATE_WITH_IDENTITIES);
    body["matchByFields"] = json!(true);
    let request = ResolveRequest::from_json(&body).unwrap();
    assert!(request.options.match_by_fields);
    let r = resolver();
    let out = r.resolve(&t(), &request).unwrap();
    assert_eq!(
        keys(&out.linked),
        [
            "wechat o123456...",
            "your-system-account user123",
            "mobile 18612341234"
        ]
    );
    // ... so 002's plain create of the same person finds this customer.
    let plain = CustomerPatch::from_json(&json(DMHUB_PLAIN_CREATE)).unwrap();
    let found = r.create(&t(), plain, PlainCreate::MobileAndEmail).unwrap();
    assert_eq!(found.customer, out.customer);
    assert!(!found.created);
}

#[test]
fn dmhub_plain_create_reads_and_resolves() {
    let patch = CustomerPatch::from_json(&json(DMHUB_PLAIN_CREATE)).unwrap();
    assert_eq!(
        fields_of(&patch),
        [
            (Field::Name, text("小D")),
            (Field::Gender, FieldValue::Int(1)),
            (Field::Mobile, text("18612341234")),
            (Field::MobileVerified, FieldValue::Bool(true)),
            (Field::CreateMethod, text("ImportFromExternalSystem")),
        ]
    );
    assert!(patch.attrs.is_empty());
    // Serde reads it the same way.
    assert_eq!(
        serde_json::from_str::<CustomerPatch>(DMHUB_PLAIN_CREATE).unwrap(),
        patch
    );

    let r = resolver();
    let out = r
        .create(&t(), patch.clone(), PlainCreate::MobileAndEmail)
        .unwrap();
    assert!(out.created);
    assert_eq!(keys(&out.linked), ["mobile 18612341234"]);
    let again = r.create(&t(), patch, PlainCreate::MobileAndEmail).unwrap();
    assert_eq!(
        again.customer, out.customer,
        "found by its mobile, not duplicated"
    );
    assert!(!again.created);
    assert_eq!(keys(&again.matched), ["mobile 18612341234"]);
}

#[test]
fn dmhub_update_reads_and_applies() {
    let update = UpdatePatch::from_json(&json(DMHUB_UPDATE)).unwrap();
    assert_eq!(
        update.fields,
        [
            (Field::Name, Change::Set(text("小D"))),
            (Field::Mobile, Change::Set(text("18612341234"))),
            (Field::MobileVerified, Change::Set(FieldValue::Bool(true))),
            (Field::Gender, Change::Set(FieldValue::Int(1))),
        ]
    );
    assert!(update.attrs.is_empty() && update.tags.is_none() && update.groups.is_none());

    let r = resolver();
    let id = r
        .create(
            &t(),
            CustomerPatch::from_json(&json!({"name": "大D", "mobile": "18612341234", "city": "昆明"}))
                .unwrap(),
            PlainCreate::MobileAndEmail,
        )
        .unwrap()
        .customer
        .unwrap();
    let updated = r.update(&t(), id, &update).unwrap();
    // 002's PUT returns the customer before the update.
    assert_eq!(updated.before.fields.text(Field::Name), Some("大D"));
    assert_eq!(updated.customer.fields.text(Field::Name), Some("小D"));
    assert_eq!(
        updated.customer.fields.text(Field::City),
        Some("昆明"),
        "absent: kept"
    );
    // Verified rule: true cannot become false while the mobile stays the same.
    let unverify =
        UpdatePatch::from_json(&json!({"mobile": "18612341234", "mobileVerified": false})).unwrap();
    let after = r.update(&t(), id, &unverify).unwrap().customer;
    assert_eq!(
        after.fields.get(Field::MobileVerified),
        Some(&FieldValue::Bool(true))
    );
}

#[test]
fn dmhub_customer_response_reads() {
    let read = CustomerPatch::from_json(&json(DMHUB_CUSTOMER)).unwrap();
    // Read-only keys (id, displayName, dateCreated, lastUpdated) ignored, nulls absent.
    assert_eq!(
        fields_of(&read),
        [
            (Field::Name, text("小D")),
            (Field::Gender, FieldValue::Int(1)),
            (Field::Mobile, text("18612341234")),
            (Field::MobileVerified, FieldValue::Bool(true)),
            (Field::EmailVerified, FieldValue::Bool(false)),
            (Field::DateJoin, FieldValue::Timestamp(dmhub_time())),
            (Field::IsEmployee, FieldValue::Bool(false)),
            (Field::IsMember, FieldValue::Bool(false)),
        ]
    );
    assert!(read.attrs.is_empty(), "attr1 is null");
    // Every key 002 prints is a field the crate knows.
    for key in json(DMHUB_CUSTOMER).as_object().unwrap().keys() {
        let read_only = ["id", "displayName", "dateCreated", "lastUpdated", "attr"].contains(&key.as_str());
        assert!(
            read_only || Field::from_name(key).is_some(),
            "002 key {key} is not a field"
        );
    }
    // The custom-attribute example.
    let attr = CustomerPatch::from_json(&json(DMHUB_ATTR_EXAMPLE)).unwrap();
    assert_eq!(fields_of(&attr), [(Field::Name, text("西门吹雪"))]);
    assert_eq!(attr.attrs["attr1"].value, "西门剑铺");
    // The rows of a query response.
    let page = json(&strip_comments(DMHUB_QUERY_RESPONSE));
    let rows: Vec<CustomerPatch> = serde_json::from_value(page["rows"].clone()).unwrap();
    assert_eq!(rows[0].fields.text(Field::Name), Some("大D"));
    assert_eq!(rows[1].fields.text(Field::Mobile), Some("18612341235"));
}

/// Resolving 002's printed customer and serializing the result gives 002's keys and values
/// back for every field that is set (at 002's printed time, the timestamps too).
#[test]
fn dmhub_customer_response_round_trip() {
    let printed = json(DMHUB_CUSTOMER);
    let r = resolver();
    let out = r
        .resolve(
            &t(),
            &ResolveRequest::new([IdentityInput::new("mobile", "18612341234")])
                .with_patch(CustomerPatch::from_json(&printed).unwrap()),
        )
        .unwrap();
    let customer = r.get(&t(), out.customer.unwrap()).unwrap().unwrap();
    let ours = serde_json::to_value(&customer).unwrap();
    let ours = ours.as_object().unwrap();
    let printed = printed.as_object().unwrap();
    for (key, value) in printed {
        match key.as_str() {
            "id" => assert_eq!(ours["id"], 1),
            "attr" => assert_eq!(ours["attr"], json!({}), "a null attribute is no attribute"),
            _ if value.is_null() => assert!(!ours.contains_key(key), "{key} is unset"),
            _ => assert_eq!(ours.get(key), Some(value), "{key}"),
        }
    }
    // And nothing else but 002's keys, plus the lists and the status the crate adds.
    for key in ours.keys() {
        assert!(
            printed.contains_key(key) || ["tags", "groupIds", "status"].contains(&key.as_str()),
            "unexpected key {key}"
        );
    }
    assert_eq!(ours["status"], "active");
    // What the crate writes, it reads back.
    let back = CustomerPatch::from_json(&Value::Object(ours.clone())).unwrap();
    assert_eq!(back.fields, customer.fields);
}

#[test]
fn dmhub_identity_bodies() {
    let body = json(DMHUB_ADD_IDENTITY);
    let identity: IdentityInput = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(
        inputs(std::slice::from_ref(&identity)),
        [("myshop-account", "user12345", Some("小羊苏西"), None)]
    );
    let listed: Vec<IdentityInput> = serde_json::from_value(json(DMHUB_IDENTITIES)).unwrap();
    assert_eq!(
        inputs(&listed),
        [
            ("myshop-account", "user12345", Some("小羊苏西"), None),
            ("wechat", "openid12345", Some("小羊苏西"), None),
        ]
    );

    // Adding them to a customer, then listing: 002's identity keys come back.
    let r = resolver();
    let id = r
        .resolve(
            &t(),
            &ResolveRequest::new([IdentityInput::new("mobile", "13912345678")]),
        )
        .unwrap()
        .customer
        .unwrap();
    for identity in &listed {
        r.add_identity(&t(), id, identity).unwrap();
    }
    assert_eq!(
        r.owner_of(&t(), &IdentityInput::new("wechat", "openid12345"))
            .unwrap(),
        Some(id)
    );
    let held = r.identities_of(&t(), &[id]).unwrap().remove(0).1;
    let printed: Vec<Value> = held
        .iter()
        .skip(1)
        .map(|i| serde_json::to_value(i).unwrap())
        .collect();
    let mut expected: Vec<Value> = json(DMHUB_IDENTITIES).as_array().unwrap().clone();
    for e in &mut expected {
        e.as_object_mut().unwrap().remove("customerId");
    }
    assert_eq!(printed, expected);
}

/// 002's own body sends `"attr1": ""` for attributes it has no value for; create-with-identities
/// cannot clear a customer's fields, so a blank (`""`, also a `""` name) leaves what an
/// earlier call set.
#[test]
fn dmhub_empty_strings_do_not_clear() {
    let r = resolver();
    let first = json!({
        "customer": {"name": "小D", "attr": {"attr1": "西门剑铺"}},
        "customerIdentities": [{"identityType": "wechat", "identityValue": "o123456..."}]
    });
    let id = r
        .resolve(&t(), &ResolveRequest::from_json(&first).unwrap())
        .unwrap()
        .customer
        .unwrap();
    let mut again = json(DMHUB_CREATE_WITH_IDENTITIES);
    again["customer"]["name"] = json!("");
    r.resolve(&t(), &ResolveRequest::from_json(&again).unwrap())
        .unwrap();
    let customer = r.get(&t(), id).unwrap().unwrap();
    assert_eq!(customer.attrs["attr1"].value, "西门剑铺");
    assert_eq!(customer.display_name(), Some("小D"));
}

// ---------------------------------------------------------------------------------------------
// 001.

#[test]
fn baiyao_create_by_identity_reads_every_field() {
    let request = ResolveRequest::from_json(&json(BAIYAO_CREATE_BY_IDENTITY)).unwrap();
    let date = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    assert_eq!(
        fields_of(&request.patch),
        [
            (Field::NickName, text("小李")),
            (Field::Img, text("https://img/1.png")),
            (Field::Gender, FieldValue::Int(2)),
            (Field::Email, text("Li@Example.com")),
            (Field::EmailVerified, FieldValue::Bool(true)),
            (Field::Birthday, FieldValue::Date(date)),
            (Field::Province, text("云南省")),
            (Field::City, text("昆明市")),
            (Field::County, text("五华区")), // district
            (Field::Location, text("北京路 1 号")),
            (Field::Source, text("taobao")),
            (Field::Company, text("白药")),
            (Field::Title, text("经理")), // position
            (Field::Industry, text("医药")),
            (Field::EmployeeNumber, FieldValue::Int(300)),
            (Field::AnnualRevenue, FieldValue::Decimal("5000000".into())),
            (Field::Website, text("https://x.cn")),
            (Field::IsEmployee, FieldValue::Bool(true)), // 001: 0 means yes
            (Field::CampaignId, text("88")),
            (Field::CreateMethod, text("api")),
            (Field::OwnerId, text("u-7")), // chargeId
            (Field::Referrer, text("r-1")),
            (Field::ReferrerName, text("王五")),
            (Field::SubscribeSource, text("ADD_SCENE_QR_CODE")),
            (Field::Language, text("zh_CN")),
            (Field::Hobby, text("跑步")),
            (Field::Remark, text("vip")),
        ]
    );
    assert_eq!(request.patch.groups, [12]);
    // 001-only keys with no well-known field are kept as extended attributes.
    let attrs: Vec<_> = request
        .patch
        .attrs
        .iter()
        .map(|(k, a)| (k.as_str(), a.name.as_deref(), a.value.clone()))
        .collect();
    assert_eq!(
        attrs,
        [
            ("editable", None, json!(0)),
            ("source1", None, json!("tmall")),
            ("source2", None, json!("jd")),
            ("deptCodeList", None, json!(["D1"])),
            ("skin", Some("肤质"), json!("dry")),
            ("userIdList", None, json!([1, 2])),
        ]
    );
    // The list, then openId + appId as a scoped wechat identity, then unionId.
    assert_eq!(
        inputs(&request.identities),
        [
            ("mobile", "+86 138 0013 8000", None, None),
            ("wechat", "oOPEN123", None, Some("wx1234567890")),
            ("wechat-unionid", "uUNION123", None, None),
        ]
    );
    assert_eq!(
        request.options,
        ResolveOptions {
            identity_priority_strategy: PriorityStrategy::Custom,
            target_customer_strategy: TargetStrategy::CustomerFirst,
            auto_merge: false,
            match_by_fields: false,
        }
    );
    // isEmployee 1 means no.
    let mut body = json(BAIYAO_CREATE_BY_IDENTITY);
    body["isEmployee"] = json!(1);
    let request = ResolveRequest::from_json(&body).unwrap();
    assert_eq!(
        request.patch.fields.get(Field::IsEmployee),
        Some(&FieldValue::Bool(false))
    );
}

#[test]
fn baiyao_create_by_identity_resolves() {
    let r = resolver();
    let request = ResolveRequest::from_json(&json(BAIYAO_CREATE_BY_IDENTITY)).unwrap();
    let out = r.resolve(&t(), &request).unwrap();
    assert!(out.created);
    // Custom priority: the request's order; values normalized; the openid keeps its app.
    assert_eq!(
        keys(&out.linked),
        [
            "mobile 13800138000",
            "wechat@wx1234567890 oOPEN123",
            "wechat-unionid uUNION123"
        ]
    );
    let id = out.customer.unwrap();
    let customer = r.get(&t(), id).unwrap().unwrap();
    assert_eq!(customer.fields.text(Field::County), Some("五华区"));
    assert_eq!(customer.groups, [12]);
    assert_eq!(customer.attrs["skin"].name.as_deref(), Some("肤质"));
    // The openid is found with its app, not without.
    let scoped = IdentityInput::new("wechat", "oOPEN123").with_scope("wx1234567890");
    assert_eq!(r.owner_of(&t(), &scoped).unwrap(), Some(id));
    assert_eq!(
        r.owner_of(&t(), &IdentityInput::new("wechat", "oOPEN123"))
            .unwrap(),
        None
    );

    // getCustomerIdByIdentityList: the same resolution, without writing.
    let lookup = ResolveRequest::from_json(&json(BAIYAO_ID_BY_IDENTITY_LIST)).unwrap();
    assert_eq!(
        inputs(&lookup.identities),
        [
            ("wechat-unionid", "uUNION123", None, None),
            ("mobile", "13800138000", None, None)
        ]
    );
    let dry = r.dry_run(&t(), &lookup).unwrap();
    assert_eq!(dry.customer, Some(id));
    assert!(dry.dry_run && !dry.created);
    // getCustomerIdByCustomerIdentity.
    let one: IdentityInput = serde_json::from_value(json(BAIYAO_ID_BY_IDENTITY)).unwrap();
    assert_eq!(r.owner_of(&t(), &one).unwrap(), Some(id));
}

#[test]
fn baiyao_add_reads_and_resolves_by_mobile_only() {
    let patch = CustomerPatch::from_json(&json(BAIYAO_ADD)).unwrap();
    assert_eq!(
        fields_of(&patch),
        [
            (Field::Name, text("李雷")),
            (Field::Gender, FieldValue::Int(1)),
            (Field::Mobile, text("13912345678")),
            (Field::MobileVerified, FieldValue::Bool(true)),
            (Field::Email, text("lilei@example.com")),
            (Field::EmailVerified, FieldValue::Bool(false)),
            (Field::Province, text("安徽省")),
            (Field::City, text("合肥市")),
            (Field::County, text("蜀山区")),
        ]
    );
    assert_eq!(patch.groups, [3]);
    let r = resolver();
    let out = r.create(&t(), patch.clone(), PlainCreate::MobileOnly).unwrap();
    assert!(out.created);
    assert_eq!(keys(&out.linked), ["mobile 13912345678"], "001: the mobile only");
    assert_eq!(
        r.owner_of(&t(), &IdentityInput::new("email", "lilei@example.com"))
            .unwrap(),
        None
    );
    let again = r.create(&t(), patch, PlainCreate::MobileOnly).unwrap();
    assert_eq!(again.customer, out.customer);
}

/// 001's identity list: "身份类型和身份值要么同时传，要么都不传" — type and value are sent
/// together or not at all. An entry with neither (absent or empty) is no identity, and the
/// rest of the body still resolves.
#[test]
fn baiyao_identity_entry_without_type_and_value() {
    let body = json!({
        "name": "李雷",
        "identityList": [{}, {"identityType": "mobile", "identityValue": "13912345678"}]
    });
    let request = ResolveRequest::from_json(&body).unwrap();
    assert_eq!(
        inputs(&request.identities),
        [("mobile", "13912345678", None, None)]
    );
    let body = json!({
        "name": "李雷",
        "identityList": [{"identityType": "", "identityValue": ""}, {"identityType": "mobile", "identityValue": "13912345678"}]
    });
    let request = ResolveRequest::from_json(&body).unwrap();
    assert!(resolver().resolve(&t(), &request).unwrap().created);
}

/// 001 inverts `isEmployee` (0 = yes), whether a client sends the number 0 or the string "0".
#[test]
fn baiyao_is_employee_string() {
    let as_number = ResolveRequest::from_json(&json!({"isEmployee": 0})).unwrap();
    let as_string = ResolveRequest::from_json(&json!({"isEmployee": "0"})).unwrap();
    assert_eq!(
        as_string.patch.fields.get(Field::IsEmployee),
        as_number.patch.fields.get(Field::IsEmployee)
    );
}

// ---------------------------------------------------------------------------------------------
// 000 and 003.

#[test]
fn clinic_customer_reads_and_resolves() {
    let body = json(CLINIC_CUSTOMER);
    let patch = CustomerPatch::from_json(&body).unwrap();
    assert_eq!(
        fields_of(&patch),
        [
            (Field::Name, text("李娜")),
            (Field::NickName, text("娜娜")),         // wechatNickname
            (Field::Img, text("https://img/n.png")), // wechatHeadimgurl
            (Field::Gender, FieldValue::Int(1)),     // "male"
            (Field::Mobile, text("158-0000-2222")),
            (
                Field::Birthday,
                FieldValue::Date(NaiveDate::from_ymd_opt(1988, 2, 3).unwrap())
            ),
            (Field::Country, text("中国")),
            (Field::Province, text("云南")),
            (Field::City, text("昆明")),
            (Field::County, text("盘龙区")),
            (Field::HomeAddress, text("北京路 1 号")), // address
            (Field::Channel, text("wechat")),          // fromChannel
            (Field::ShopId, text("shop-9")),
            (Field::Mrn, text("MRN-0042")),
            (Field::Idcard, text("530102198802030021")),
            (Field::Balance, FieldValue::Int(10000)),
            (Field::Credit, FieldValue::Int(120)),
            (
                Field::LastSigninAt,
                FieldValue::Timestamp(Utc.with_ymd_and_hms(2018, 6, 4, 10, 53, 38).unwrap())
            ),
        ]
    );
    assert_eq!(patch.tags, ["新客", "VIP"]);
    for (gender, code) in [("female", 2), ("unknown", 0), ("male", 1)] {
        let p = CustomerPatch::from_json(&json!({ "gender": gender })).unwrap();
        assert_eq!(p.fields.get(Field::Gender), Some(&FieldValue::Int(code)));
    }

    // The shop is the tenant; mobile, id card and medical record number are the identities.
    let shop = TenantId::new(body["shopId"].as_str().unwrap());
    let request = ResolveRequest::new([
        IdentityInput::new("mobile", body["mobile"].as_str().unwrap()),
        IdentityInput::new("idcard", body["idcard"].as_str().unwrap()),
        IdentityInput::new("mrn", body["mrn"].as_str().unwrap()),
    ])
    .with_patch(patch);
    let r = resolver();
    let out = r.resolve(&shop, &request).unwrap();
    assert!(out.created);
    assert_eq!(
        keys(&out.linked),
        ["idcard 530102198802030021", "mobile 15800002222", "mrn MRN-0042"]
    );
    let customer = r.get(&shop, out.customer.unwrap()).unwrap().unwrap();
    assert_eq!(customer.tags, ["新客", "VIP"]);
    assert_eq!(
        r.get(&t(), out.customer.unwrap()).unwrap(),
        None,
        "other shops see nothing"
    );
}

/// 000 types `LastSigninAt` as `date`, like `birthday`: a plain date is accepted (midnight UTC).
#[test]
fn clinic_last_signin_as_a_date() {
    let patch = CustomerPatch::from_json(&json!({"LastSigninAt": "2018-06-04"})).unwrap();
    assert!(patch.fields.get(Field::LastSigninAt).is_some());
}

/// 000 types `fromReferrer` and `fromActivity` as `IdName` (an id with its name), and
/// `fromChannel` may be one too: each object fills the id field and its name field.
#[test]
fn clinic_id_name_fields() {
    let body = json!({
        "fromReferrer": {"id": "r-1", "name": "王五"},
        "fromActivity": {"id": 9, "name": "开业活动"},
        "fromChannel": {"id": "c-2", "name": "美团"}
    });
    // Both readings (through a value, and serde straight from the text) agree.
    let patch = CustomerPatch::from_json(&body).unwrap();
    assert_eq!(
        serde_json::from_str::<CustomerPatch>(&body.to_string()).unwrap(),
        patch
    );
    assert_eq!(
        fields_of(&patch),
        [
            (Field::Referrer, text("r-1")),
            (Field::ReferrerName, text("王五")),
            (Field::Channel, text("c-2")),
            (Field::Activity, text("9")),
            (Field::ActivityName, text("开业活动")),
            (Field::ChannelName, text("美团")),
        ]
    );
    // An IdName with another key is refused, naming it.
    let e = CustomerPatch::from_json(&json!({"fromReferrer": {"id": "r", "phone": "1"}})).unwrap_err();
    assert!(e.to_string().contains("phone"), "{e}");
}

#[test]
fn beauty_customer_info_reads() {
    // The SDK's `status` (1 followed, 2 unfollowed) is not a customer status: ignored.
    let patch = CustomerPatch::from_json(&json(BEAUTY_CUSTOMER_INFO)).unwrap();
    assert_eq!(
        fields_of(&patch),
        [
            (Field::Name, text("xxx")),
            (Field::Img, text("xxxx.jpg")),       // headImg
            (Field::Mobile, text("138****1786")), // tel (masked by the SDK)
        ]
    );
    // addCustomer's documented parameters that have a field: telnum, erpId, sex, birthday.
    let add = CustomerPatch::from_json(&json!({
        "name": "陈静", "telnum": "13338363507", "erpId": 10086, "sex": 2, "birthday": "1995-07-01",
        "ownerName": "小王"
    }))
    .unwrap();
    assert_eq!(add.fields.text(Field::Mobile), Some("13338363507"));
    assert_eq!(add.fields.text(Field::ErpId), Some("10086"));
    assert_eq!(add.fields.get(Field::Gender), Some(&FieldValue::Int(2)));
    assert_eq!(add.fields.text(Field::OwnerName), Some("小王"));
    // A masked number is not an identity: refused with the reason, nothing written.
    let r = resolver();
    let masked = r.resolve(
        &t(),
        &ResolveRequest::new([IdentityInput::new("mobile", "138****1786")]),
    );
    assert!(
        matches!(&masked, Err(Error::InvalidIdentity { index: 0, identity_type, .. }) if identity_type == "mobile"),
        "{masked:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Bad payloads: clear errors that name what was wrong.

#[test]
fn bad_payloads_are_clear_errors() {
    let err = |v: Value| ResolveRequest::from_json(&v).unwrap_err();
    // Unknown keys, in a 002 customer, at a 002 body's top level, in a 001 body, in a patch.
    assert!(
        matches!(err(json!({"customer": {"name": "x", "surprise": 1}})), Error::UnknownField { field } if field == "surprise")
    );
    assert!(
        matches!(err(json!({"customer": {}, "customerIdentitys": []})), Error::UnknownField { field } if field == "customerIdentitys")
    );
    assert!(
        matches!(err(json!({"name": "x", "identityLsit": []})), Error::UnknownField { field } if field == "identityLsit")
    );
    assert!(
        matches!(CustomerPatch::from_json(&json!({"nmae": "x"})), Err(Error::UnknownField { field }) if field == "nmae")
    );
    assert!(
        matches!(UpdatePatch::from_json(&json!({"nmae": "x"})), Err(Error::UnknownField { field }) if field == "nmae")
    );
    // Values of the wrong kind name the field.
    let invalid_field = |e: Error| match e {
        Error::InvalidField { field, .. } => field,
        other => panic!("expected InvalidField, got {other:?}"),
    };
    assert_eq!(invalid_field(err(json!({"customer": {"gender": 7}}))), "gender");
    assert_eq!(invalid_field(err(json!({"gender": 7}))), "gender");
    assert_eq!(
        invalid_field(err(json!({"customer": {"gender": "robot"}}))),
        "gender"
    );
    assert_eq!(
        invalid_field(err(json!({"customer": {"birthday": "yesterday"}}))),
        "birthday"
    );
    assert_eq!(
        invalid_field(err(json!({"customer": {"birthday": "2020-02-30"}}))),
        "birthday"
    );
    assert_eq!(
        invalid_field(err(json!({"customer": {"mobileVerified": "maybe"}}))),
        "mobileVerified"
    );
    assert_eq!(
        invalid_field(err(json!({"customer": {"employeeNumber": "many"}}))),
        "employeeNumber"
    );
    assert_eq!(
        invalid_field(err(json!({"customer": {"attr": "not an object"}}))),
        "attr"
    );
    assert_eq!(
        invalid_field(err(
            json!({"extendAttrList": [{"attrKey": "", "attrValue": "x"}]})
        )),
        "extendAttrList"
    );
    assert_eq!(
        invalid_field(CustomerPatch::from_json(&json!({"tag": [1, 2]})).unwrap_err()),
        "tag"
    );
    // Bodies that are not what they should be at all.
    for body in [json!([1, 2]), json!("customer"), json!(null), json!(42)] {
        assert!(matches!(err(body.clone()), Error::Payload(_)), "{body}");
        assert!(
            matches!(CustomerPatch::from_json(&body), Err(Error::Payload(_))),
            "{body}"
        );
        assert!(
            matches!(UpdatePatch::from_json(&body), Err(Error::Payload(_))),
            "{body}"
        );
    }
    assert!(matches!(
        err(json!({"customerIdentities": [{"identityType": "mobile"}]})),
        Error::Payload(_)
    ));
    assert!(matches!(
        err(json!({"customerIdentities": {"identityType": "mobile", "identityValue": "1"}})),
        Error::Payload(_)
    ));
    assert!(matches!(err(json!({"autoMerge": "perhaps"})), Error::Payload(_)));
    assert!(matches!(
        err(json!({"targetCustomerStrategy": "oldestFirst"})),
        Error::Payload(_)
    ));
    // A badly typed identity reads, then the resolve refuses it, naming it, writing nothing.
    let request = ResolveRequest::from_json(&json!({
        "customer": {"name": "x"},
        "customerIdentities": [
            {"identityType": "mobile", "identityValue": "13912345678"},
            {"identityType": "Taobao Account", "identityValue": "tb1"}
        ]
    }))
    .unwrap();
    let r = resolver();
    let refused = r.resolve(&t(), &request).unwrap_err();
    assert!(
        matches!(&refused, Error::InvalidIdentity { index: 1, identity_type, .. } if identity_type == "Taobao Account"),
        "{refused}"
    );
    assert!(refused.to_string().contains("Taobao Account"));
    assert_eq!(
        r.owner_of(&t(), &IdentityInput::new("mobile", "13912345678"))
            .unwrap(),
        None,
        "nothing was written"
    );
    // Serde on its own: a patch deserializes with the same rules.
    assert!(serde_json::from_str::<CustomerPatch>(r#"{"gender": 9}"#).is_err());
    assert!(serde_json::from_str::<CustomerPatch>(r#"{"surprise": 1}"#).is_err());
    assert!(serde_json::from_str::<CustomerPatch>(r#"{"gender": "male", "district": "x"}"#).is_ok());
}

#[test]
fn changed_fields_of_a_patch_are_reported() {
    let r = resolver();
    let out = r
        .resolve(
            &t(),
            &ResolveRequest::from_json(&json(DMHUB_CREATE_WITH_IDENTITIES)).unwrap(),
        )
        .unwrap();
    for field in [Field::Name, Field::Mobile, Field::MobileVerified, Field::Gender] {
        assert!(
            out.changed.contains(&ChangedField::Field(field)),
            "{field}: {:?}",
            out.changed
        );
    }
}
