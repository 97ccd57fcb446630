//! Golden tests of the four sources' wire formats: every request and response example their
//! documents print (extracted into `tests/fixtures/seeds/`) is read, or produced from the
//! equivalent state, key for key. Values that are the example's own (ids, times a run cannot
//! share, the tenant's attribute set) are compared by shape: the same JSON type.

use chrono::{TimeZone, Utc};
use oneid::dialect::{Dialect, baiyao, beauty, clinic, dmhub};
use oneid::{
    CustomerId, CustomerPatch, CustomerQuery, Field, FieldValue, IdentityInput, ManualClock, MemoryStore,
    PlainCreate, ResolveRequest, Resolver, TenantId, UpdatePatch,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn keys_of(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|k| k.as_str().expect("a key"))
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `actual` is `expected` key for key, in order; at the keys named in `own`, by shape only.
fn assert_like(expected: &Value, actual: &Value, own: &[&str], at: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            assert_eq!(keys_of(expected), keys_of(actual), "keys at {at}");
            for (k, ev) in e {
                let here = format!("{at}.{k}");
                if own.contains(&k.as_str()) {
                    assert_eq!(kind(ev), kind(&a[k]), "shape at {here}: {} / {}", ev, a[k]);
                } else {
                    assert_like(ev, &a[k], own, &here);
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.len(), a.len(), "length at {at}");
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                assert_like(ev, av, own, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(expected, actual, "value at {at}"),
    }
}

/// 002's printed time.
fn printed_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2017, 6, 6, 3, 18, 23).unwrap()
}

fn resolver() -> Resolver<MemoryStore, ManualClock> {
    Resolver::new(MemoryStore::new()).with_clock(ManualClock::at(printed_time()))
}

fn t() -> TenantId {
    TenantId::new("t")
}

// -------------------------------------------------------------------------------------------
// 002.

/// The customer 002's three customer responses print: at their time, with their `dateJoin`.
/// Its `attr` is the tenant's attribute set (an own value: by shape).
const CUSTOMER_OWN: &[&str] = &["id", "attr"];

#[test]
fn dmhub_create_with_identities_answers_the_printed_customer() {
    let body = fixture("002_create_with_identities.request.json");
    assert_eq!(Dialect::detect(&body), Some(Dialect::DmHub));
    let mut request = Dialect::DmHub.read_resolve(&body).unwrap();
    request
        .patch
        .fields
        .set(Field::DateJoin, FieldValue::Timestamp(printed_time()))
        .unwrap();
    let r = resolver();
    let (outcome, customer) = r.resolve_and_get(&t(), &request).unwrap();
    assert_like(
        &fixture("002_customer.response.json"),
        &dmhub::customer(&customer),
        CUSTOMER_OWN,
        "",
    );
    // 002's create with identities also matches by the customer's mobile: it is linked.
    let linked: Vec<String> = outcome
        .linked
        .iter()
        .map(|i| format!("{} {}", i.identity_type.as_str(), &*i.identity_value))
        .collect();
    assert!(linked.contains(&"mobile 18612341234".to_string()), "{linked:?}");
    // ...so a later plain create by that mobile finds the same customer.
    let plain = Dialect::DmHub
        .read_patch(&fixture("002_plain_create.request.json"))
        .unwrap();
    let again = r.create(&t(), plain, PlainCreate::MobileAndEmail).unwrap();
    assert_eq!(again.customer, outcome.customer);
}

#[test]
fn dmhub_plain_create_and_get_answer_the_printed_customer() {
    let mut patch = Dialect::DmHub
        .read_patch(&fixture("002_plain_create.request.json"))
        .unwrap();
    patch
        .fields
        .set(Field::DateJoin, FieldValue::Timestamp(printed_time()))
        .unwrap();
    let r = resolver();
    let out = r.create(&t(), patch, PlainCreate::MobileAndEmail).unwrap();
    let customer = r.get(&t(), out.customer.unwrap()).unwrap().unwrap();
    let printed = dmhub::customer(&customer);
    let mut expected = fixture("002_customer.response.json");
    // The plain create's body names its create method, which 002's printed customer omits.
    assert_eq!(
        printed["createMethod"],
        Value::Null,
        "createMethod is not one of 002's keys"
    );
    expected["attr"] = json!({});
    assert_like(&expected, &printed, &["id"], "");
}

#[test]
fn dmhub_update_answers_the_customer_before_it() {
    let r = resolver();
    let mut patch = Dialect::DmHub
        .read_patch(&fixture("002_plain_create.request.json"))
        .unwrap();
    patch
        .fields
        .set(Field::DateJoin, FieldValue::Timestamp(printed_time()))
        .unwrap();
    let id = r
        .create(&t(), patch, PlainCreate::MobileAndEmail)
        .unwrap()
        .customer
        .unwrap();
    let mut body = fixture("002_update.request.json");
    body["name"] = json!("小D2");
    let updated = r
        .update(&t(), id, &UpdatePatch::from_json(&body).unwrap())
        .unwrap();
    assert_like(
        &fixture("002_customer.response.json"),
        &dmhub::customer(&updated.before),
        CUSTOMER_OWN,
        "",
    );
    assert_eq!(dmhub::customer(&updated.customer)["name"], "小D2");
}

#[test]
fn dmhub_customer_times_are_to_the_second() {
    let r = Resolver::new(MemoryStore::new()).with_clock(ManualClock::at(
        printed_time() + chrono::Duration::microseconds(123_456),
    ));
    let out = r
        .resolve(
            &t(),
            &ResolveRequest::new([IdentityInput::new("email", "a@x.com")]),
        )
        .unwrap();
    let customer = r.get(&t(), out.customer.unwrap()).unwrap().unwrap();
    let printed = dmhub::customer(&customer);
    assert_eq!(printed["dateCreated"], "2017-06-06T03:18:23Z");
    assert_eq!(printed["lastUpdated"], "2017-06-06T03:18:23Z");
    // Only 002's keys: none of the crate's own (tags, status).
    assert_eq!(keys_of(&printed), dmhub::CUSTOMER_KEYS);
}

#[test]
fn dmhub_query_answers_rows() {
    let r = resolver();
    for (name, mobile) in [("大D", "18612341234"), ("小D", "18612341235")] {
        let patch = Dialect::DmHub
            .read_patch(&json!({"name": name, "mobile": mobile, "mobileVerified": true, "gender": 1}))
            .unwrap();
        r.create(&t(), patch, PlainCreate::MobileAndEmail).unwrap();
    }
    let query = CustomerQuery::from_params([("gender", "1"), ("sidx", "id")]).unwrap();
    let page = r.query(&t(), &query).unwrap();
    let printed = dmhub::rows(&page.rows, None);
    let expected = fixture("002_customers.response.json");
    assert_eq!(keys_of(&printed), ["rows"]);
    let (want, got) = (
        expected["rows"].as_array().unwrap(),
        printed["rows"].as_array().unwrap(),
    );
    assert_eq!(want.len(), got.len());
    for (w, g) in want.iter().zip(got) {
        // The example prints the first keys and "the customer's other fields": ours are 002's.
        assert_eq!(keys_of(g), dmhub::CUSTOMER_KEYS);
        for (k, v) in w.as_object().unwrap() {
            if k == "id" {
                assert_eq!(kind(v), kind(&g[k]));
            } else {
                assert_eq!(v, &g[k], "{k}");
            }
        }
    }
    // `select` cuts each row to the keys asked for, in their order.
    let select = ["name".to_string(), "id".to_string(), "nosuchkey".to_string()];
    let cut = dmhub::rows(&page.rows, Some(&select));
    assert_eq!(keys_of(&cut["rows"][0]), ["name", "id"]);
}

#[test]
fn dmhub_count_reads_its_documented_spelling() {
    // `customers/count` documents `lastUpdateTo`, `customers` `lastUpdatedTo`: both read.
    let a = CustomerQuery::from_params([("lastUpdateTo", "2016-11-11T11:11:11")]).unwrap();
    let b = CustomerQuery::from_params([("lastUpdatedTo", "2016-11-11T11:11:11")]).unwrap();
    assert_eq!(a, b);
    assert!(a.filter.updated_to.is_some());
    assert_eq!(dmhub::count(2), json!(2));
}

#[test]
fn dmhub_identities_read_and_answer_as_printed() {
    let body = fixture("002_add_identity.request.json");
    let (owner, identity) = Dialect::DmHub.read_identity(&body).unwrap();
    assert_eq!(owner, Some(CustomerId(123_456)));
    let r = resolver();
    let id = r
        .resolve(
            &t(),
            &ResolveRequest::new([IdentityInput::new("wechat", "openid12345")]),
        )
        .unwrap()
        .customer
        .unwrap();
    let added = r.add_identity(&t(), id, &identity).unwrap();
    assert_like(
        &fixture("002_add_identity.response.json"),
        &dmhub::identity(id, &added),
        &["customerId"],
        "",
    );
    // The list: the customer's identities, each with its owner.
    let mut wechat = IdentityInput::new("wechat", "openid12345");
    wechat.identity_name = Some("小羊苏西".into());
    r.remove_identity(&t(), id, &IdentityInput::new("wechat", "openid12345"))
        .unwrap();
    r.add_identity(&t(), id, &wechat).unwrap();
    let listed = r.identities_of(&t(), &[id]).unwrap();
    assert_like(
        &fixture("002_identities.response.json"),
        &dmhub::identities(&listed),
        &["customerId"],
        "",
    );
}

#[test]
fn dmhub_custom_attribute_example_round_trips() {
    let example = fixture("002_customer_attr.json");
    let patch = Dialect::DmHub.read_patch(&example).unwrap();
    let r = resolver();
    let id = r
        .resolve(
            &t(),
            &ResolveRequest::new([IdentityInput::new("email", "x@y.com")]).with_patch(patch),
        )
        .unwrap()
        .customer
        .unwrap();
    let printed = dmhub::customer(&r.get(&t(), id).unwrap().unwrap());
    assert_eq!(printed["name"], example["name"]);
    assert_eq!(printed["attr"], example["attr"]);
}

// -------------------------------------------------------------------------------------------
// 001.

fn baiyao_customer() -> (Resolver<MemoryStore, ManualClock>, CustomerId) {
    let body = json!({
        "name": "李雷", "mobile": "13800138000", "mobileVerified": 1, "email": "li@example.com",
        "emailVerified": 0, "gender": 1, "isEmployee": 0, "campaignId": 12, "annualRevenue": 1000,
        "district": "五华区", "position": "店长", "chargeId": "u-1", "editable": 1, "source3": "淘宝",
        "appId": "wxapp1", "openId": "o-abc", "unionId": "u-xyz",
        "extendAttrList": [{"attrKey": "level", "attrName": "会员等级", "attrValue": "gold"}],
        "identityList": [{"identityType": "member-id", "identityValue": "M1"}]
    });
    assert_eq!(Dialect::detect(&body), Some(Dialect::Baiyao));
    let request = Dialect::Baiyao.read_resolve(&body).unwrap();
    let r = resolver();
    let id = r.resolve(&t(), &request).unwrap().customer.unwrap();
    (r, id)
}

#[test]
fn baiyao_customer_detail_has_the_tables_keys() {
    let tables = fixture("001_calls.keys.json");
    let (r, id) = baiyao_customer();
    let customer = r.get(&t(), id).unwrap().unwrap();
    let identities = r.identities(&t(), id).unwrap();
    let printed = baiyao::ok(baiyao::customer(&customer, &identities));
    assert_eq!(keys_of(&printed), strings(&tables["envelope"]));
    assert_eq!(printed["code"], 0);
    let data = &printed["data"];
    // The table's keys, after the id, name and mobile (with its flag) it leaves out.
    let mut want = vec!["id", "name", "mobile", "mobileVerified"];
    want.extend(strings(&tables["customerInfo"]["data"]));
    assert_eq!(keys_of(data), want);
    assert_eq!(
        keys_of(&data["extendAttrList"][0]),
        strings(&tables["customerInfo"]["extendAttrList"])
    );
    assert_eq!(
        keys_of(&data["identityList"][0]),
        strings(&tables["customerInfo"]["identityList"])
    );
    // getCustomerIdByCustomerIdentity prints the same table.
    assert_eq!(
        tables["getCustomerIdByCustomerIdentity"]["data"],
        tables["customerInfo"]["data"]
    );
    // Values as 001 types them: 0/1 flags, isEmployee inverted, numbers, the WeChat keys from
    // the identities, 001's own keys from the attributes kept for them.
    let expect = [
        ("mobileVerified", json!(1)),
        ("emailVerified", json!(0)),
        ("isEmployee", json!(0)),
        ("campaignId", json!(12)),
        ("annualRevenue", json!(1000)),
        ("district", json!("五华区")),
        ("position", json!("店长")),
        ("chargeId", json!("u-1")),
        ("editable", json!(1)),
        ("source3", json!("淘宝")),
        ("source1", Value::Null),
        ("appId", json!("wxapp1")),
        ("openId", json!("o-abc")),
        ("unionId", json!("u-xyz")),
        ("hobby", Value::Null),
    ];
    for (k, v) in expect {
        assert_eq!(data[k], v, "{k}");
    }
    assert_eq!(
        data["extendAttrList"],
        json!([{"attrKey": "level", "attrName": "会员等级", "attrValue": "gold"}])
    );
    assert_eq!(
        customer.fields.get(Field::IsEmployee),
        Some(&FieldValue::Bool(true))
    );
}

#[test]
fn baiyao_page_and_attributes_have_the_tables_keys() {
    let tables = fixture("001_calls.keys.json");
    let (r, id) = baiyao_customer();
    let query = CustomerQuery::from_params([
        ("startTime", "2017-01-01 00:00:00"),
        ("endTime", "2018-01-01 00:00:00"),
        ("current", "1"),
        ("size", "10"),
    ])
    .unwrap();
    let page = r.query(&t(), &query).unwrap();
    let ids = r.identities_of(&t(), &[id]).unwrap();
    let data = baiyao::page(&page, &query, &ids);
    assert_eq!(keys_of(&data), strings(&tables["simpleQuery"]["data"]));
    assert_eq!(
        (
            data["current"].clone(),
            data["size"].clone(),
            data["total"].clone()
        ),
        (json!(1), json!(10), json!(1))
    );
    let record = &data["records"][0];
    for k in strings(&tables["simpleQuery"]["records"]) {
        assert!(record.get(k).is_some(), "records lack {k}");
    }
    // queryAttrValuesByCustomerId.
    let customer = r.get(&t(), id).unwrap().unwrap();
    let values = r.attributes(&t(), id, &["isEmployee", "level", "name"]).unwrap();
    let data = baiyao::attributes(&customer, &values);
    assert_eq!(
        keys_of(&data[0]),
        strings(&tables["queryAttrValuesByCustomerId"]["item"])
    );
    assert_eq!(
        keys_of(&data[0]["attrList"][0]),
        strings(&tables["queryAttrValuesByCustomerId"]["attrList"])
    );
    assert_eq!(
        data[0]["attrList"],
        json!([
            {"attrKey": "isEmployee", "attrName": "isEmployee", "attrValue": 0},
            {"attrKey": "level", "attrName": "会员等级", "attrValue": "gold"},
            {"attrKey": "name", "attrName": "name", "attrValue": "李雷"},
        ])
    );
    // The envelope of the calls that answer no body.
    assert_eq!(
        baiyao::ok(Value::Null),
        json!({"code": 0, "msg": "success", "data": null})
    );
    let e = baiyao::error(&oneid::Error::CustomerNotFound(CustomerId(9)).to_string());
    assert_eq!(
        (keys_of(&e), e["code"].clone(), e["data"].clone()),
        (vec!["code", "msg", "data"], json!(-1), Value::Null)
    );
}

#[test]
fn baiyao_update_attribute_reads_is_employee_inverted() {
    let (r, id) = baiyao_customer();
    let value = Dialect::Baiyao.read_attribute("isEmployee", &json!("1")).unwrap();
    r.update_attribute(&t(), id, "isEmployee", &value).unwrap();
    let customer = r.get(&t(), id).unwrap().unwrap();
    assert_eq!(
        customer.fields.get(Field::IsEmployee),
        Some(&FieldValue::Bool(false)),
        "001's 1 means no"
    );
    assert_eq!(baiyao::customer(&customer, &[])["isEmployee"], 1);
    // A customer/add body: the 001 dialect's patch inverts it too.
    let patch = Dialect::Baiyao
        .read_patch(&json!({"name": "韩梅梅", "mobile": "13900139000", "isEmployee": 0}))
        .unwrap();
    assert_eq!(patch.fields.get(Field::IsEmployee), Some(&FieldValue::Bool(true)));
    let body = fixture("001_calls.keys.json");
    assert!(strings(&body["requests"]["add"]).contains(&"mobileVerified"));
}

// -------------------------------------------------------------------------------------------
// 000.

#[test]
fn clinic_customer_has_the_tables_keys_and_reads_back() {
    let table = fixture("000_customer.keys.json");
    let body = json!({
        "shopId": "s1", "name": "王五", "mrn": "MRN-7", "mobile": "15800002222", "gender": "female",
        "birthday": "1990-01-02", "idcard": "530102198802030021", "country": "中国", "province": "云南",
        "city": "昆明", "county": "五华区", "address": "翠湖路 1 号", "balance": 1200, "credit": 30,
        "wechatNickname": "小五", "wechatHeadimgurl": "http://img/1.png", "LastSigninAt": "2018-06-04 10:53:38",
        "tag": ["VIP"], "fromChannel": {"id": "c-1", "name": "美团"}, "fromReferrer": {"id": "r-1", "name": "赵六"},
        "fromActivity": {"id": "a-1", "name": "开业"}, "status": 1
    });
    assert_eq!(Dialect::detect(&body), Some(Dialect::Clinic));
    let request = Dialect::Clinic.read_resolve(&body).unwrap();
    let r = resolver();
    let out = r.resolve(&t(), &request).unwrap();
    let linked: Vec<&str> = out.linked.iter().map(|i| i.identity_type.as_str()).collect();
    // The mobile, matched by field, comes last.
    assert_eq!(linked, ["idcard", "mrn", "mobile"]);
    let customer = r.get(&t(), out.customer.unwrap()).unwrap().unwrap();
    let printed = clinic::customer(&customer);
    let mut want = vec!["id"];
    want.extend(strings(&table["keys"]));
    assert_eq!(keys_of(&printed), want);
    // What was sent comes back as sent (the sign-in time in RFC 3339).
    let mut sent = body.clone();
    sent["LastSigninAt"] = json!("2018-06-04T10:53:38Z");
    for (k, v) in sent.as_object().unwrap() {
        assert_eq!(&printed[k], v, "{k}");
    }
    let accounts = clinic::linked_accounts(customer.id, &r.identities(&t(), customer.id).unwrap());
    assert_eq!(
        keys_of(&accounts[0]),
        ["customerId", "identityType", "identityValue", "identityName"]
    );
    assert_eq!(clinic::list(&[customer]).as_array().unwrap().len(), 1);
}

// -------------------------------------------------------------------------------------------
// 003.

#[test]
fn beauty_customer_info_answers_as_printed() {
    let example = fixture("003_getcustomerinfo.response.json");
    let patch = Dialect::Beauty.read_patch(&example["customerInfo"]).unwrap();
    let r = resolver();
    let id = r
        .resolve(
            &t(),
            &ResolveRequest::new([IdentityInput::new("wechat", "o-1")]).with_patch(patch),
        )
        .unwrap()
        .customer
        .unwrap();
    let customer = r.get(&t(), id).unwrap().unwrap();
    assert_like(&example, &beauty::follower(&customer), &["id"], "");
    // getCusInfoByCusId: the keys the SDK lists.
    let keys = fixture("003_getCusInfoByCusId.keys.json");
    let printed = beauty::customer(&customer);
    assert_eq!(keys_of(&printed), ["errNum", "customerInfo"]);
    assert_eq!(keys_of(&printed["customerInfo"]), strings(&keys["keys"]));
}

#[test]
fn beauty_add_customer_reads_every_parameter() {
    let body = json!({
        "name": "陈静", "telnum": "13338363507", "erpId": 10086, "sex": 2, "birthday": "1995-07-01",
        "channelName": "抖音", "channelUserName": "小张", "preConsultName": "小李", "ownerName": "小王",
        "description": "想做双眼皮"
    });
    assert_eq!(Dialect::detect(&body), Some(Dialect::Beauty));
    let request = Dialect::Beauty.read_resolve(&body).unwrap();
    assert_eq!(request.identities, [IdentityInput::new("mobile", "13338363507")]);
    let patch = &request.patch;
    assert_eq!(patch.fields.text(Field::ChannelName), Some("抖音"));
    for (k, v) in [
        ("channelUserName", "小张"),
        ("preConsultName", "小李"),
        ("description", "想做双眼皮"),
    ] {
        assert_eq!(patch.attrs[k].value, v, "{k}");
    }
    let r = resolver();
    let id = r
        .create(&t(), patch.clone(), PlainCreate::MobileOnly)
        .unwrap()
        .customer
        .unwrap();
    let info = beauty::customer(&r.get(&t(), id).unwrap().unwrap());
    assert_eq!(info["customerInfo"]["telnum"], "13338363507");
    assert_eq!(info["customerInfo"]["sex"], 2);
    assert_eq!(info["customerInfo"]["description"], "想做双眼皮");
    assert_eq!(beauty::added(), fixture("003_addCustomer.response.json"));
    let e = oneid::Error::CustomerNotFound(id);
    let failure = beauty::error(e.kind().http_status(), &e.to_string());
    assert_like(
        &fixture("003_addCustomer.error.json"),
        &failure,
        &["errNum", "errMsg"],
        "",
    );
    assert_ne!(failure["errNum"], 0);
}

/// A plain patch (any source's) keeps the read-only `status` out; the 000 and 003 dialects
/// keep theirs.
#[test]
fn dialects_keep_their_status() {
    let body = json!({"name": "x", "status": 2});
    assert!(CustomerPatch::from_json(&body).unwrap().attrs.is_empty());
    for d in [Dialect::Clinic, Dialect::Beauty] {
        assert_eq!(d.read_patch(&body).unwrap().attrs["status"].value, 2, "{d:?}");
    }
    // The wrong source's shape is refused.
    assert!(
        Dialect::DmHub
            .read_resolve(&json!({"name": "x", "identityList": []}))
            .is_err()
    );
    assert!(
        Dialect::Baiyao
            .read_resolve(&fixture("002_create_with_identities.request.json"))
            .is_err()
    );
}
