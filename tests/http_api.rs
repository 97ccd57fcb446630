//! The four sources' calls end to end: the router (`oneid::http::router`) on a real socket of
//! 127.0.0.1, driven with an HTTP client, on the memory store and on PostgreSQL.
#![cfg(feature = "http")]

use oneid::dialect::{baiyao, clinic, dmhub};
use oneid::http::{HttpConfig, TenantFrom, router};
use oneid::{AsyncResolver, MemoryStore, Resolver, Store};
use serde_json::{Value, json};

/// Serves the router on an ephemeral port of 127.0.0.1; the server stops with the runtime.
async fn serve<S: Store + 'static>(resolver: AsyncResolver<S>, config: HttpConfig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(resolver, config)).await });
    format!("http://{addr}")
}

struct Client {
    http: reqwest::Client,
    base: String,
    tenant: Option<String>,
}

impl Client {
    fn new(base: &str, tenant: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_string(),
            tenant: tenant.map(str::to_string),
        }
    }

    /// Sends a call and answers its status and JSON body (`null` for none).
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(tenant) = &self.tenant {
            request = request.header("x-tenant-id", tenant);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, Some(body)).await
    }
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// 002's documented calls, in the order a client makes them.
async fn dmhub_calls(base: &str) {
    let c = Client::new(base, Some("t002"));
    let (status, created) = c
        .post(
            "/v1/customerandidentities?access_token=x",
            fixture("002_create_with_identities.request.json"),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(keys(&created), dmhub::CUSTOMER_KEYS);
    assert_eq!(created["displayName"], "小D");
    let id = created["id"].as_u64().unwrap();
    // The plain create finds the customer by the mobile the create with identities linked.
    let (status, plain) = c
        .post("/v1/customers", fixture("002_plain_create.request.json"))
        .await;
    assert_eq!((status, plain["id"].as_u64()), (200, Some(id)), "{plain}");
    let (status, read) = c.get(&format!("/v1/customers/{id}?access_token=x")).await;
    assert_eq!((status, read["name"].clone()), (200, json!("小D")));
    // PUT answers the customer before the update.
    let mut update = fixture("002_update.request.json");
    update["name"] = json!("小D2");
    let (status, before) = c.send("PUT", &format!("/v1/customers/{id}"), Some(update)).await;
    assert_eq!((status, before["name"].clone()), (200, json!("小D")));
    let (status, rows) = c
        .get("/v1/customers?access_token=x&mobile=18612341234&select=id,name")
        .await;
    assert_eq!(
        (status, rows),
        (200, json!({"rows": [{"id": id, "name": "小D2"}]}))
    );
    let (status, count) = c
        .get("/v1/customers/count?access_token=x&lastUpdateTo=2100-01-01T00:00:00")
        .await;
    assert_eq!((status, count), (200, json!(1)));
    // Identities: add one, list them by customer and find the owner of one.
    let mut add = fixture("002_add_identity.request.json");
    add["customerId"] = json!(id.to_string());
    let (status, added) = c.post("/v1/customeridentities?access_token=x", add.clone()).await;
    assert_eq!((status, &added), (200, &add));
    let (status, listed) = c.get(&format!("/v1/customeridentities?customerIds={id}")).await;
    assert_eq!(status, 200);
    let types: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["identityType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"myshop-account") && types.contains(&"wechat"),
        "{listed}"
    );
    let (status, owner) = c
        .get("/v1/customeridentities?identityType=myshop-account&identityValue=user12345")
        .await;
    assert_eq!((status, owner), (200, json!([add])));
    // 002's statistics are outside the crate: not served.
    assert_eq!(c.get("/v1/customerStatistics").await.0, 404);
    // A second owner of a held identity is a conflict, in 002's error shape.
    let other = c
        .post("/v1/customers", json!({"name": "别人", "mobile": "13700137000"}))
        .await
        .1;
    let mut clash = add.clone();
    clash["customerId"] = other["id"].clone();
    let (status, error) = c.post("/v1/customeridentities", clash).await;
    assert_eq!(
        (status, error["error"]["code"].clone()),
        (409, json!(409)),
        "{error}"
    );
    let (status, body) = c.send("DELETE", &format!("/v1/customers/{id}"), None).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, error) = c.get(&format!("/v1/customers/{id}")).await;
    assert_eq!((status, keys(&error["error"])), (404, vec!["code", "message"]));
}

/// 001's documented calls, each answered in `{code, msg, data}`.
async fn baiyao_calls(base: &str) {
    let c = Client::new(base, Some("t001"));
    let body = json!({
        "name": "李雷", "mobile": "13800138000", "mobileVerified": 1, "gender": 1, "isEmployee": 0,
        "appId": "wxapp1", "openId": "o-abc", "source1": "门店",
        "identityList": [{"identityType": "member-id", "identityValue": "M1"}]
    });
    let (status, created) = c.post("/openapi/customer/createCustomerByIdentity", body).await;
    assert_eq!(
        (status, created["code"].clone(), created["msg"].clone()),
        (200, json!(0), json!("success")),
        "{created}"
    );
    let id = created["data"].as_u64().unwrap();
    let (status, info) = c
        .get(&format!("/openapi/customer/customerInfo?customerId={id}"))
        .await;
    assert_eq!(status, 200);
    let data = &info["data"];
    assert_eq!(keys(data), baiyao::CUSTOMER_KEYS);
    assert_eq!(
        (
            data["isEmployee"].clone(),
            data["openId"].clone(),
            data["appId"].clone()
        ),
        (json!(0), json!("o-abc"), json!("wxapp1"))
    );
    assert_eq!(data["source1"], "门店");
    let by_list = |list: Value| {
        c.post(
            "/openapi/customer/getCustomerIdByIdentityList",
            json!({"identityList": list}),
        )
    };
    assert_eq!(
        by_list(json!([{"identityType": "member-id", "identityValue": "M1"}]))
            .await
            .1["data"],
        id
    );
    assert_eq!(
        by_list(json!([{"identityType": "member-id", "identityValue": "M2"}]))
            .await
            .1["data"],
        Value::Null
    );
    let (_, found) = c
        .post(
            "/openapi/customer-identity-ref/getCustomerIdByCustomerIdentity",
            json!({"identityType": "member-id", "identityValue": "M1"}),
        )
        .await;
    assert_eq!(found["data"]["id"], id);
    let (_, added) = c.post("/openapi/customer/add", json!({"name": "韩梅梅", "mobile": "13900139000", "mobileVerified": 0, "gender": 2, "email": "", "emailVerified": 0})).await;
    let other = added["data"].as_u64().unwrap();
    assert_ne!(other, id);
    let (_, page) = c.get("/openapi/customer/simpleQuery?startTime=2000-01-01%2000:00:00&endTime=2100-01-01%2000:00:00&current=1&size=10").await;
    assert_eq!(keys(&page["data"]), ["current", "size", "total", "records"]);
    assert_eq!(
        (page["data"]["total"].clone(), page["data"]["size"].clone()),
        (json!(2), json!(10))
    );
    let (_, updated) = c
        .post(
            "/openapi/customer/updateCustomerAttr",
            json!({"attrName": "isEmployee", "attrValue": "1", "customerId": id, "isExtendAttr": false}),
        )
        .await;
    assert_eq!(updated, json!({"code": 0, "msg": "success", "data": null}));
    let (_, attrs) = c
        .post(
            "/openapi/customer/queryAttrValuesByCustomerId",
            json!({"attrKeyList": ["isEmployee", "name"], "customerId": id}),
        )
        .await;
    assert_eq!(
        attrs["data"][0]["attrList"][0]["attrValue"], 1,
        "001's 1 means no: {attrs}"
    );
    assert_eq!(attrs["data"][0]["attrList"][1]["attrValue"], "李雷");
    let (status, deleted) = c
        .get(&format!("/openapi/customer/singleDelete?customerId={other}"))
        .await;
    assert_eq!(
        (status, deleted["data"].clone(), deleted["code"].clone()),
        (200, Value::Null, json!(0))
    );
    let (status, gone) = c
        .get(&format!("/openapi/customer/customerInfo?customerId={other}"))
        .await;
    assert_eq!(
        (status, gone["code"].clone(), gone["data"].clone()),
        (404, json!(-1), Value::Null)
    );
}

/// 000's documented calls.
async fn clinic_calls(base: &str) {
    let c = Client::new(base, Some("t000"));
    let body = json!({
        "shopId": "s1", "name": "王五", "mobile": "15800002222", "gender": "male", "idcard": "530102198802030021",
        "mrn": "MRN-1", "tag": ["VIP"], "fromReferrer": {"id": "r-1", "name": "赵六"}, "status": 1
    });
    let (status, created) = c.post("/customer/v1/customer", body).await;
    assert_eq!(status, 201, "{created}");
    let table = fixture("000_customer.keys.json");
    let mut want = vec!["id"];
    want.extend(
        table["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap()),
    );
    assert_eq!(keys(&created), want);
    assert_eq!(keys(&created), clinic::CUSTOMER_KEYS);
    assert_eq!(
        (created["fromReferrer"].clone(), created["status"].clone()),
        (json!({"id": "r-1", "name": "赵六"}), json!(1))
    );
    let id = created["id"].as_u64().unwrap();
    let (status, patched) = c
        .send(
            "PATCH",
            &format!("/customer/v1/customer/{id}"),
            Some(json!({"city": "大理"})),
        )
        .await;
    assert_eq!((status, patched["city"].clone()), (200, json!("大理")));
    let (status, read) = c.get(&format!("/customer/v1/customer/{id}")).await;
    assert_eq!((status, read), (200, patched));
    let (_, list) = c.get("/customer/v1/customer").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, linked) = c
        .get(&format!(
            "/customer/v1/customer/linked-account?customerId={id}&shopId=s1"
        ))
        .await;
    let mut types: Vec<&str> = linked
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["identityType"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["idcard", "mobile", "mrn"]);
    assert_eq!(
        c.send("DELETE", &format!("/customer/v1/customer/{id}"), None)
            .await
            .0,
        204
    );
    let (status, error) = c.get(&format!("/customer/v1/customer/{id}")).await;
    assert_eq!((status, error["code"].clone()), (404, json!(404)));
}

/// 003's SDK calls.
async fn beauty_calls(base: &str) {
    let c = Client::new(base, Some("t003"));
    let body = json!({"name": "陈静", "telnum": "13338363507", "sex": 2, "channelName": "抖音", "description": "想做双眼皮"});
    assert_eq!(c.post("/addCustomer", body).await, (200, json!({"errNum": 0})));
    let (status, info) = c.get("/getCusInfoByCusTelnum?telnum=13338363507").await;
    assert_eq!((status, info["errNum"].clone()), (200, json!(0)));
    assert_eq!(
        (
            info["customerInfo"]["sex"].clone(),
            info["customerInfo"]["description"].clone()
        ),
        (json!(2), json!("想做双眼皮"))
    );
    let id = info["customerInfo"]["id"].as_u64().unwrap();
    assert_eq!(
        c.get(&format!("/getCusInfoByCusId?cusId={id}")).await,
        (200, info)
    );
    // A follower: the openid of an official account, added as a scoped identity.
    let openid = json!({"customerId": id, "identityType": "wechat", "identityValue": "o-1", "appId": "wx1"});
    assert_eq!(c.post("/v1/customeridentities", openid).await.0, 200);
    let (status, follower) = c.get("/getcustomerinfo?openId=o-1&wxappId=wx1").await;
    assert_eq!(
        (status, keys(&follower["customerInfo"])),
        (200, vec!["id", "status", "headImg", "name", "tel"])
    );
    assert_eq!(follower["customerInfo"]["id"], id);
    let (status, missing) = c.get("/getcustomerinfo?openId=o-1&wxappId=wx2").await;
    assert_eq!(
        (status, keys(&missing), missing["errNum"].clone()),
        (404, vec!["errNum", "errMsg"], json!(404))
    );
}

async fn every_source(base: &str) {
    dmhub_calls(base).await;
    baiyao_calls(base).await;
    clinic_calls(base).await;
    beauty_calls(base).await;
    // No tenant: refused in each source's shape.
    let c = Client::new(base, None);
    assert_eq!(c.get("/v1/customers/1").await.1["error"]["code"], 400);
    assert_eq!(
        c.get("/openapi/customer/customerInfo?customerId=1").await.1["code"],
        -1
    );
    assert_eq!(c.get("/customer/v1/customer/1").await.1["code"], 400);
    assert_eq!(c.get("/getCusInfoByCusId?cusId=1").await.1["errNum"], 400);
    // A body that is not JSON, and an unknown key: 400 in 002's shape.
    let t = Client::new(base, Some("t002"));
    let (status, error) = t
        .post("/v1/customers", json!({"name": "x", "noSuchKey": 1}))
        .await;
    assert_eq!(
        (status, error["error"]["code"].clone()),
        (400, json!(400)),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_on_memory() {
    let base = serve(
        AsyncResolver::new(Resolver::new(MemoryStore::new())),
        HttpConfig::default(),
    )
    .await;
    every_source(&base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_from_the_path() {
    let config = HttpConfig::default().with_tenant(TenantFrom::Path);
    let base = serve(AsyncResolver::new(Resolver::new(MemoryStore::new())), config).await;
    let c = Client::new(&base, None);
    let (status, created) = c
        .post(
            "/shop1/v1/customers",
            json!({"name": "小D", "mobile": "18612341234"}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_u64().unwrap();
    assert_eq!(c.get(&format!("/shop1/v1/customers/{id}")).await.1["name"], "小D");
    assert_eq!(
        c.get(&format!("/shop2/v1/customers/{id}")).await.0,
        404,
        "tenants never cross"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_on_postgres() {
    let url =
        std::env::var("ONEID_PG_URL").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
    let schema = "oneid_http_api";
    let resolver = AsyncResolver::open(move || {
        let mut admin = postgres::Client::connect(&url, postgres::NoTls)
            .map_err(|e| oneid::Error::Payload(e.to_string()))?;
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .map_err(|e| oneid::Error::Payload(e.to_string()))?;
        Ok(Resolver::new(oneid::PostgresStore::connect_in_schema(
            &url, schema,
        )?))
    })
    .await
    .unwrap();
    let base = serve(resolver, HttpConfig::default()).await;
    every_source(&base).await;
}
