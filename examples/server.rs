//! The four sources' HTTP APIs (`oneid::http::router`) on the memory store, a SQLite file or
//! PostgreSQL.
//!
//! ```text
//! cargo run --release --example server --features http -- --addr 127.0.0.1:8080
//! cargo run --release --example server --features http,sqlite -- --sqlite oneid.db
//! cargo run --release --example server --features http,postgres -- --postgres "host=127.0.0.1 user=postgres dbname=app"
//! ```
//!
//! The tenant is the `x-tenant-id` header, or with `--tenant-in-path` the first path segment
//! (`/shop1/v1/customers/7`). Ctrl-C stops it. `--check` serves on a free port of 127.0.0.1,
//! sends 002's create with identities and reads the customer back over the socket, prints
//! both and exits (`cargo test` runs it).

use oneid::http::{HttpConfig, TenantFrom, router};
use oneid::{AsyncResolver, MemoryStore, Resolver, Store};
use std::net::SocketAddr;
use std::process::ExitCode;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    addr: SocketAddr,
    store: StoreArg,
    config: HttpConfig,
    check: bool,
}

enum StoreArg {
    Memory,
    #[cfg(feature = "sqlite")]
    Sqlite(std::path::PathBuf),
    #[cfg(feature = "postgres")]
    Postgres(String),
}

const USAGE: &str =
    "usage: server [--addr ADDR] [--sqlite PATH | --postgres URL] [--tenant-in-path] [--check]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        store: StoreArg::Memory,
        config: HttpConfig::default(),
        check: false,
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
            "--tenant-in-path" => args.config = HttpConfig::default().with_tenant(TenantFrom::Path),
            "--check" => args.check = true,
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
    match open_and_serve(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the store the arguments name (on the blocking pool: connecting blocks) and serves it.
async fn open_and_serve(args: &Args) -> Result<(), BoxError> {
    match &args.store {
        StoreArg::Memory => {
            let resolver = AsyncResolver::new(Resolver::new(MemoryStore::new()));
            serve(args, resolver).await
        }
        #[cfg(feature = "sqlite")]
        StoreArg::Sqlite(path) => {
            let path = path.clone();
            let resolver =
                AsyncResolver::open(move || Ok(Resolver::new(oneid::SqliteStore::open(path)?))).await?;
            serve(args, resolver).await
        }
        #[cfg(feature = "postgres")]
        StoreArg::Postgres(url) => {
            let url = url.clone();
            let resolver =
                AsyncResolver::open(move || Ok(Resolver::new(oneid::PostgresStore::connect(&url)?))).await?;
            serve(args, resolver).await
        }
    }
}

async fn serve<S: Store + 'static>(args: &Args, resolver: AsyncResolver<S>) -> Result<(), BoxError> {
    let addr = if args.check {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        args.addr
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    if args.check {
        let app = router(resolver, args.config.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        return check(addr).await;
    }
    axum::serve(listener, router(resolver, args.config.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// One call of 002 and a read back, over the socket.
async fn check(addr: SocketAddr) -> Result<(), BoxError> {
    let client = reqwest::Client::new();
    let body = serde_json::json!({
        "customer": {"name": "小D", "mobile": "18612341234"},
        "customerIdentities": [{"identityType": "wechat", "identityValue": "o123456"}]
    });
    let created = client
        .post(format!("http://{addr}/v1/customerandidentities"))
        .header("x-tenant-id", "shop")
        .json(&body)
        .send()
        .await?;
    let status = created.status();
    let customer: serde_json::Value = created.json().await?;
    println!(
        "POST /v1/customerandidentities -> {status} customer {} {}",
        customer["id"], customer["name"]
    );
    let read = client
        .get(format!("http://{addr}/v1/customers/{}", customer["id"]))
        .header("x-tenant-id", "shop")
        .send()
        .await?;
    let status = read.status();
    let customer: serde_json::Value = read.json().await?;
    println!(
        "GET /v1/customers/{} -> {status} mobile {}",
        customer["id"], customer["mobile"]
    );
    Ok(())
}
