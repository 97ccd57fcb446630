//! The four sources' HTTP APIs over the async handle (feature `http`): an axum [`Router`]
//! to serve as it is or mount in a service's own app.
//!
//! Each source's calls are at its document's paths, with its methods and parameters, and
//! answer its documented bodies (see [`dialect`](crate::dialect)):
//!
//! | source | routes |
//! |---|---|
//! | 002 DM Hub | `POST /v1/customerandidentities`, `POST`/`GET /v1/customers`, `GET /v1/customers/count`, `GET`/`PUT`/`DELETE /v1/customers/{id}`, `POST`/`GET /v1/customeridentities` |
//! | 001 Baiyao | `POST /openapi/customer/add`, `POST /openapi/customer/createCustomerByIdentity`, `GET /openapi/customer/customerInfo`, `POST /openapi/customer/getCustomerIdByIdentityList`, `POST /openapi/customer-identity-ref/getCustomerIdByCustomerIdentity`, `GET /openapi/customer/singleDelete`, `GET /openapi/customer/simpleQuery`, `POST /openapi/customer/updateCustomerAttr`, `POST /openapi/customer/queryAttrValuesByCustomerId` |
//! | 000 clinic | `POST`/`GET /customer/v1/customer`, `GET /customer/v1/customer/linked-account`, `GET`/`PATCH`/`DELETE /customer/v1/customer/{id}` |
//! | 003 SDK | `GET /getcustomerinfo`, `GET /getCusInfoByCusId`, `GET /getCusInfoByCusTelnum`, `POST /addCustomer` (the SDK's functions, their parameters as query parameters or a JSON body) |
//!
//! The tenant comes from a header (`x-tenant-id` by default) or from a path segment in front
//! of every route ([`TenantFrom`]). Errors answer the source's error shape with the status of
//! [`ErrorKind::http_status`](crate::ErrorKind::http_status). Access tokens (002's
//! `access_token`, 001's `token` header) are the mounting service's business: they are
//! accepted and not checked.
//!
//! ```no_run
//! use oneid::http::{HttpConfig, router};
//! use oneid::{AsyncResolver, MemoryStore, Resolver};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let resolver = AsyncResolver::open(|| Ok(Resolver::new(MemoryStore::new()))).await?;
//! let app = axum::Router::new().nest("/cdp", router(resolver, HttpConfig::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod baiyao;
mod beauty;
mod call;
mod clinic;
mod config;
mod dmhub;
mod failure;
mod ops;
mod state;

pub use config::{HttpConfig, TenantFrom};

use crate::AsyncResolver;
use crate::clock::Clock;
use crate::store::Store;
use axum::Router;
use state::App;

/// The router of the four sources' calls over `resolver` (see the [module](self)).
pub fn router<S, C>(resolver: AsyncResolver<S, C>, config: HttpConfig) -> Router
where
    S: Store + 'static,
    C: Clock + 'static,
{
    let tenant_in_path = matches!(config.tenant, TenantFrom::Path);
    let app = App::new(resolver, config);
    let routes = Router::new()
        .merge(dmhub::routes::<S, C>())
        .merge(baiyao::routes::<S, C>())
        .merge(clinic::routes::<S, C>())
        .merge(beauty::routes::<S, C>())
        .with_state(app);
    if tenant_in_path {
        Router::new().nest("/{tenant}", routes)
    } else {
        routes
    }
}
