//! A small HTTP service embedding `oneid`: DM Hub's (002) create-with-identities call and a
//! read by id, over one shared `AsyncResolver` in axum's state.
//!
//! ```text
//! cargo run --example service --features tokio -- --addr 127.0.0.1:8080
//! cargo run --example service --features tokio,sqlite -- --sqlite oneid.db
//! cargo run --example service --features tokio,postgres -- --postgres "host=127.0.0.1 user=postgres dbname=app"
//! cargo run --example service --features tokio -- --self-test
//! ```
//!
//! - `POST /v1/customerandidentities` takes 002's body (`customer`, `customerIdentities`, the
//!   options) and answers the customer as the resolve left it: `201 Created` when it made a
//!   new one, else `200 OK`.
//! - `GET /v1/customers/{id}` answers a live customer; a merged id answers the customer it
//!   was merged into.
//! - The tenant is the `X-Tenant` header. An error answers `{"error": {"kind", "message"}}`
//!   with the status of its kind (`Error::kind().http_status()`: 400, 404, 409, 503, 500).
//!
//! It serves the memory store unless `--sqlite PATH` or `--postgres URL` names another.
//! `--self-test` serves on a free port of 127.0.0.1, sends requests over the socket with a
//! minimal HTTP/1.1 client, prints what came back, checks it and exits; `cargo test` runs it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oneid::{AsyncResolver, CustomerId, MemoryStore, ResolveRequest, Resolver, Store, TenantId};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::ExitCode;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The service: the routes over one shared handle.
fn app<S: Store + 'static>(resolver: AsyncResolver<S>) -> Router {
    Router::new()
        .route("/v1/customerandidentities", post(resolve::<S>))
        .route("/v1/customers/{id}", get(customer::<S>))
        .with_state(resolver)
}

/// An error as the service answers it.
struct ApiError {
    status: StatusCode,
    kind: String,
    message: String,
}

impl ApiError {
    /// A request the service refuses before the crate sees it.
    fn input(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "Input".into(),
            message: message.into(),
        }
    }
}

impl From<oneid::Error> for ApiError {
    fn from(e: oneid::Error) -> Self {
        let kind = e.kind();
        Self {
            status: StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            kind: format!("{kind:?}"),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"kind": self.kind, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

fn tenant(headers: &HeaderMap) -> Result<TenantId, ApiError> {
    let value = headers
        .get("x-tenant")
        .ok_or_else(|| ApiError::input("the X-Tenant header names the tenant"))?;
    let name = value
        .to_str()
        .map_err(|_| ApiError::input("the X-Tenant header is not text"))?;
    // An id the crate cannot keep (too long, a NUL) is refused by the resolve itself.
    Ok(TenantId::new(name))
}

/// `POST /v1/customerandidentities`: resolve 002's body, answer the customer.
async fn resolve<S: Store + 'static>(
    State(resolver): State<AsyncResolver<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant(&headers)?;
    // Read here rather than by axum's `Json`, so that a malformed body answers like every
    // other refused input.
    let body: Value =
        serde_json::from_slice(&body).map_err(|e| oneid::Error::Payload(format!("not JSON: {e}")))?;
    let request = ResolveRequest::from_json(&body)?;
    let (outcome, customer) = resolver.resolve_and_get(tenant, request).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(customer)).into_response())
}

/// `GET /v1/customers/{id}`.
async fn customer<S: Store + 'static>(
    State(resolver): State<AsyncResolver<S>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&headers)?;
    let id = CustomerId(
        id.parse()
            .map_err(|_| ApiError::input(format!("customer id {id:?} is not a number")))?,
    );
    match resolver.get(tenant, id).await? {
        Some(customer) => Ok(axum::Json(customer).into_response()),
        None => Err(oneid::Error::CustomerNotFound(id).into()),
    }
}

/// Which store to serve, and how.
struct Args {
    addr: SocketAddr,
    store: StoreArg,
    self_test: bool,
}

enum StoreArg {
    Memory,
    #[cfg(feature = "sqlite")]
    Sqlite(std::path::PathBuf),
    #[cfg(feature = "postgres")]
    Postgres(String),
}

const USAGE: &str = "usage: service [--addr ADDR] [--sqlite PATH | --postgres URL] [--self-test]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        store: StoreArg::Memory,
        self_test: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => {
                let addr = value()?;
                args.addr = addr.parse().map_err(|e| format!("--addr {addr}: {e}"))?;
            }
            #[cfg(feature = "sqlite")]
            "--sqlite" => args.store = StoreArg::Sqlite(value()?.into()),
            #[cfg(not(feature = "sqlite"))]
            "--sqlite" => return Err("--sqlite needs the sqlite feature".into()),
            #[cfg(feature = "postgres")]
            "--postgres" => args.store = StoreArg::Postgres(value()?),
            #[cfg(not(feature = "postgres"))]
            "--postgres" => return Err("--postgres needs the postgres feature".into()),
            "--self-test" => args.self_test = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            eprintln!("{why}");
            return ExitCode::from(2);
        }
    };
    let done = open_and_run(&args).await;
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("service: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the store the arguments name (a SQL one on the blocking pool: connecting blocks)
/// and serves it.
async fn open_and_run(args: &Args) -> Result<(), BoxError> {
    match &args.store {
        StoreArg::Memory => run(args, AsyncResolver::new(Resolver::new(MemoryStore::new()))).await,
        #[cfg(feature = "sqlite")]
        StoreArg::Sqlite(path) => {
            let path = path.clone();
            let resolver =
                AsyncResolver::open(move || Ok(Resolver::new(oneid::SqliteStore::open(path)?))).await?;
            run(args, resolver).await
        }
        #[cfg(feature = "postgres")]
        StoreArg::Postgres(url) => {
            let url = url.clone();
            let resolver =
                AsyncResolver::open(move || Ok(Resolver::new(oneid::PostgresStore::connect(&url)?))).await?;
            run(args, resolver).await
        }
    }
}

async fn run<S: Store + 'static>(args: &Args, resolver: AsyncResolver<S>) -> Result<(), BoxError> {
    if args.self_test {
        return self_test(resolver).await;
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(resolver))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Serves on a free port, sends a few requests over the socket, prints and checks the answers.
async fn self_test<S: Store + 'static>(resolver: AsyncResolver<S>) -> Result<(), BoxError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app(resolver))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    // A tenant of this run's own, so that a durable store can be tested again and again.
    let demo = Client::new(addr, Some(format!("self-test-{}", std::process::id())));
    let post = "POST /v1/customerandidentities";

    // 002's own example body: a new customer.
    let body = json!({
        "customer": {"name": "小D", "mobile": "18612341234", "mobileVerified": true, "gender": 1,
                     "attr": {"attr1": "", "attr2": ""}},
        "customerIdentities": [
            {"identityType": "wechat", "identityValue": "o123456...", "identityName": "微信昵称"},
            {"identityType": "your-system-account", "identityValue": "user123", "identityName": "您系统里的用户名"}
        ]
    });
    let (status, created) = demo.post(&body).await?;
    let id = created["id"].as_u64().expect("an id");
    println!(
        "{post} -> {status} customer {id} {}",
        text(&created["displayName"])
    );
    assert_eq!(status, 201);

    // The same openid again, with a city: found and updated, not created.
    let again = json!({
        "customer": {"city": "上海"},
        "customerIdentities": [{"identityType": "wechat", "identityValue": "o123456..."}]
    });
    let (status, found) = demo.post(&again).await?;
    println!(
        "{post} (bound openid) -> {status} customer {} city {}",
        found["id"],
        text(&found["city"])
    );
    assert_eq!((status, found["id"].as_u64()), (200, Some(id)));

    // The CRM's email alone: a second customer. Then a record with the email and the openid
    // is one person: the two are merged into the customer of the higher-ranked identity
    // (email ranks above a WeChat openid), and the other id stays an alias.
    let email = json!({"customerIdentities": [{"identityType": "email", "identityValue": "D@Example.com"}]});
    let (status, crm) = demo.post(&email).await?;
    let second = crm["id"].as_u64().expect("an id");
    println!("{post} (email only) -> {status} customer {second}");
    assert_eq!(status, 201);
    let both = json!({"customerIdentities": [
        {"identityType": "wechat", "identityValue": "o123456..."},
        {"identityType": "email", "identityValue": "d@example.com"}
    ]});
    let (status, merged) = demo.post(&both).await?;
    println!(
        "{post} (email and openid) -> {status} customer {} {}",
        merged["id"],
        text(&merged["displayName"])
    );
    assert_eq!((status, merged["id"].as_u64()), (200, Some(second)));
    assert_eq!(merged["displayName"], "小D", "nothing is lost by the merge");

    // Reads: a merged id answers its survivor; an unknown id, another tenant and no tenant
    // at all find nothing.
    let (status, read) = demo.get(&format!("/v1/customers/{id}")).await?;
    println!("GET /v1/customers/{id} -> {status} customer {}", read["id"]);
    assert_eq!((status, read["id"].as_u64()), (200, Some(second)));
    let (status, missing) = demo.get("/v1/customers/999").await?;
    println!(
        "GET /v1/customers/999 -> {status} {}",
        text(&missing["error"]["message"])
    );
    assert_eq!(status, 404);
    let other = Client::new(addr, Some("other".into()));
    let (status, _) = other.get(&format!("/v1/customers/{second}")).await?;
    println!("GET /v1/customers/{second} (tenant other) -> {status}");
    assert_eq!(status, 404);
    let (status, refused) = Client::new(addr, None).post(&body).await?;
    println!(
        "{post} (no X-Tenant) -> {status} {}",
        text(&refused["error"]["message"])
    );
    assert_eq!(status, 400);

    // Refused input answers 400 with the crate's message, and writes nothing.
    let (status, refused) = demo.get("/v1/customers/abc").await?;
    println!(
        "GET /v1/customers/abc -> {status} {}",
        text(&refused["error"]["message"])
    );
    assert_eq!(status, 400);
    let bad = json!({"customerIdentities": [{"identityType": "mobile", "identityValue": "call me"}]});
    let (status, refused) = demo.post(&bad).await?;
    let error = &refused["error"];
    println!(
        "{post} (bad mobile) -> {status} {}: {}",
        text(&error["kind"]),
        text(&error["message"])
    );
    assert_eq!((status, error["kind"].as_str()), (400, Some("Input")));
    let (status, _) = demo.post(&json!([1])).await?;
    println!("{post} (not an object) -> {status}");
    assert_eq!(status, 400);

    // Sixteen clients at once, each with the same new member (card and mobile, the mobile
    // in two spellings): one customer, created once, whatever the order.
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let mobile = if i % 2 == 0 {
                "13900000016"
            } else {
                "+86 139 0000 0016"
            };
            let body = json!({
                "customer": {"name": "小E"},
                "customerIdentities": [
                    {"identityType": "member-id", "identityValue": "M-0016"},
                    {"identityType": "mobile", "identityValue": mobile}
                ]
            });
            let client = demo.clone();
            tokio::spawn(async move { client.post(&body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for client in clients {
        let (status, customer) = client.await??;
        answers.push((status, customer["id"].as_u64().expect("an id")));
    }
    let ids: std::collections::BTreeSet<u64> = answers.iter().map(|a| a.1).collect();
    let created = answers.iter().filter(|a| a.0 == 201).count();
    println!(
        "16 concurrent {post} -> {} customer, {created} created",
        ids.len()
    );
    assert_eq!((ids.len(), created), (1, 1));

    stop.send(()).ok();
    server.await??;
    println!("self-test passed");
    Ok(())
}

/// A JSON string as its text, anything else as JSON.
fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}

/// A minimal HTTP/1.1 client for the self-test: one request per connection
/// (`Connection: close`), the answer read to its end.
#[derive(Clone)]
struct Client {
    addr: SocketAddr,
    tenant: Option<String>,
}

impl Client {
    fn new(addr: SocketAddr, tenant: Option<String>) -> Self {
        Self { addr, tenant }
    }

    async fn post(&self, body: &Value) -> Result<(u16, Value), BoxError> {
        self.send("POST", "/v1/customerandidentities", &body.to_string())
            .await
    }

    async fn get(&self, path: &str) -> Result<(u16, Value), BoxError> {
        self.send("GET", path, "").await
    }

    /// Sends one request; returns the status and the JSON body (`null` when empty).
    async fn send(&self, method: &str, path: &str, body: &str) -> Result<(u16, Value), BoxError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(tenant) = &self.tenant {
            request.push_str(&format!("X-Tenant: {tenant}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        let mut stream = tokio::net::TcpStream::connect(self.addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        let answer = String::from_utf8(answer)?;
        let (head, content) = answer.split_once("\r\n\r\n").ok_or("no end of headers")?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("no status")?;
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            return Err("a chunked answer; this client reads only a sized one".into());
        }
        let json = if content.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(content)?
        };
        Ok((status, json))
    }
}
