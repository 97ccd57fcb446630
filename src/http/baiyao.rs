//! 001 (Baiyao CDP)'s calls, under `/openapi/`, each answered in the `{code, msg, data}`
//! envelope.

use super::call::{Call, found, json_body};
use super::failure::Failure;
use super::ops;
use super::state::App;
use crate::clock::Clock;
use crate::dialect::{Dialect, baiyao};
use crate::engine::PlainCreate;
use crate::error::ErrorKind;
use crate::model::{CustomerId, IdentityInput, ResolveRequest};
use crate::store::Store;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

const D: Dialect = Dialect::Baiyao;

type Answer = Result<Response, Failure>;

pub(crate) fn routes<S: Store + 'static, C: Clock + 'static>() -> Router<App<S, C>> {
    Router::new()
        .route("/openapi/customer/add", post(add::<S, C>))
        .route(
            "/openapi/customer/createCustomerByIdentity",
            post(create_by_identity::<S, C>),
        )
        .route("/openapi/customer/customerInfo", get(info::<S, C>))
        .route(
            "/openapi/customer/getCustomerIdByIdentityList",
            post(id_by_identities::<S, C>),
        )
        .route(
            "/openapi/customer-identity-ref/getCustomerIdByCustomerIdentity",
            post(by_identity::<S, C>),
        )
        .route("/openapi/customer/singleDelete", get(delete::<S, C>))
        .route("/openapi/customer/simpleQuery", get(query::<S, C>))
        .route("/openapi/customer/updateCustomerAttr", post(update_attr::<S, C>))
        .route(
            "/openapi/customer/queryAttrValuesByCustomerId",
            post(attrs::<S, C>),
        )
}

fn ok(data: Value) -> Answer {
    Ok(axum::Json(baiyao::ok(data)).into_response())
}

/// A body's fields, refused in 001's shape when they do not read.
fn body_of<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_value(json_body(D, body)?)
        .map_err(|e| Failure::new(D, ErrorKind::Input, format!("body: {e}")))
}

async fn add<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    let id = ops::create(&app, &call, D, &body, PlainCreate::MobileOnly).await?;
    ok(Value::from(id.0))
}

async fn create_by_identity<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    let request = D.read_resolve(&json_body(D, &body)?).map_err(Failure::of(D))?;
    let outcome = app
        .resolver
        .resolve(call.tenant(D)?, request)
        .await
        .map_err(Failure::of(D))?;
    ok(outcome.customer.map_or(Value::Null, |id| Value::from(id.0)))
}

/// The customer detail with its identities.
async fn detail<S: Store + 'static, C: Clock + 'static>(
    app: &App<S, C>,
    call: &Call,
    id: CustomerId,
) -> Answer {
    let (customer, identities) = ops::customer_with_identities(app, call, D, id).await?;
    ok(baiyao::customer(&customer, &identities))
}

async fn info<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let id = call.required_id(D, "customerId")?;
    detail(&app, &call, id).await
}

/// What a create by this identity list would pick, without writing.
async fn id_by_identities<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        identity_list: Vec<IdentityInput>,
    }
    let body: Body = body_of(&body)?;
    let outcome = app
        .resolver
        .dry_run(call.tenant(D)?, ResolveRequest::new(body.identity_list))
        .await
        .map_err(Failure::of(D))?;
    // A dry run that would create a customer found none: `data` is null.
    let id = outcome.customer.filter(|_| !outcome.created);
    ok(id.map_or(Value::Null, |id| Value::from(id.0)))
}

async fn by_identity<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    let identity: IdentityInput = body_of(&body)?;
    let customer = app
        .resolver
        .find_by_identity(call.tenant(D)?, identity)
        .await
        .map_err(Failure::of(D))?;
    let customer = found(D, "with this identity", customer)?;
    detail(&app, &call, customer.id).await
}

async fn delete<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    ops::delete(&app, &call, D, call.required_id(D, "customerId")?).await?;
    ok(Value::Null)
}

async fn query<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let (query, page) = ops::query(&app, &call, D).await?;
    let ids = page.rows.iter().map(|c| c.id).collect();
    let identities = app
        .resolver
        .identities_of(call.tenant(D)?, ids)
        .await
        .map_err(Failure::of(D))?;
    ok(baiyao::page(&page, &query, &identities))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Number(u64),
    Text(String),
}

impl Id {
    fn id(&self) -> Result<CustomerId, Failure> {
        match self {
            Id::Number(n) => Ok(CustomerId(*n)),
            Id::Text(t) => super::call::parse_id(D, "customerId", t),
        }
    }
}

async fn update_attr<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        attr_name: String,
        #[serde(default)]
        attr_value: Value,
        customer_id: Id,
        #[serde(default)]
        is_extend_attr: bool,
    }
    let body: Body = body_of(&body)?;
    let (tenant, id) = (call.tenant(D)?, body.customer_id.id()?);
    if body.is_extend_attr {
        app.resolver
            .update_extended_attribute(tenant, id, body.attr_name, body.attr_value)
            .await
    } else {
        let value = D
            .read_attribute(&body.attr_name, &body.attr_value)
            .map_err(Failure::of(D))?;
        app.resolver
            .update_attribute(tenant, id, body.attr_name, value)
            .await
    }
    .map_err(Failure::of(D))?;
    ok(Value::Null)
}

async fn attrs<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        attr_key_list: Vec<String>,
        customer_id: Id,
    }
    let body: Body = body_of(&body)?;
    let customer = ops::customer(&app, &call, D, body.customer_id.id()?).await?;
    let values = app
        .resolver
        .attributes(call.tenant(D)?, customer.id, body.attr_key_list)
        .await
        .map_err(Failure::of(D))?;
    ok(baiyao::attributes(&customer, &values))
}
