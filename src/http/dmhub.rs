//! 002 (DM Hub)'s calls, under `/v1/`.

use super::call::{Call, json_body, parse_id};
use super::failure::Failure;
use super::ops;
use super::state::App;
use crate::clock::Clock;
use crate::dialect::{Dialect, dmhub};
use crate::engine::PlainCreate;
use crate::error::ErrorKind;
use crate::model::IdentityInput;
use crate::store::Store;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

const D: Dialect = Dialect::DmHub;

type Answer = Result<Response, Failure>;

pub(crate) fn routes<S: Store + 'static, C: Clock + 'static>() -> Router<App<S, C>> {
    Router::new()
        .route("/v1/customerandidentities", post(create_with_identities::<S, C>))
        .route("/v1/customers", post(create::<S, C>).get(query::<S, C>))
        .route("/v1/customers/count", get(count::<S, C>))
        .route(
            "/v1/customers/{id}",
            get(read::<S, C>).put(update::<S, C>).delete(delete::<S, C>),
        )
        .route(
            "/v1/customeridentities",
            post(add_identity::<S, C>).get(identities::<S, C>),
        )
}

fn json(v: serde_json::Value) -> Response {
    axum::Json(v).into_response()
}

async fn create_with_identities<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    let customer = ops::resolve(&app, &call, D, &body).await?;
    Ok(json(dmhub::customer(&customer)))
}

async fn create<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    let id = ops::create(&app, &call, D, &body, PlainCreate::MobileAndEmail).await?;
    Ok(json(dmhub::customer(&ops::customer(&app, &call, D, id).await?)))
}

async fn read<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let customer = ops::customer(&app, &call, D, call.path_id(D)?).await?;
    Ok(json(dmhub::customer(&customer)))
}

/// 002's `PUT` answers the customer as it was before the update.
async fn update<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    let updated = ops::update(&app, &call, D, &body).await?;
    Ok(json(dmhub::customer(&updated.before)))
}

async fn delete<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    ops::delete(&app, &call, D, call.path_id(D)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn query<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let (query, page) = ops::query(&app, &call, D).await?;
    Ok(json(dmhub::rows(&page.rows, query.select.as_deref())))
}

async fn count<S: Store + 'static, C: Clock + 'static>(State(app): State<App<S, C>>, call: Call) -> Answer {
    let query = ops::customer_query(&call, D)?;
    let n = app
        .resolver
        .count(call.tenant(D)?, query.filter)
        .await
        .map_err(Failure::of(D))?;
    Ok(json(dmhub::count(n)))
}

async fn add_identity<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
    body: Bytes,
) -> Answer {
    let (owner, identity) = D.read_identity(&json_body(D, &body)?).map_err(Failure::of(D))?;
    let owner = owner.ok_or_else(|| Failure::new(D, ErrorKind::Input, "customerId: required"))?;
    let added = app
        .resolver
        .add_identity(call.tenant(D)?, owner, identity)
        .await
        .map_err(Failure::of(D))?;
    Ok(json(dmhub::identity(owner, &added)))
}

/// By `customerIds`, or the owner of `identityType` + `identityValue` (with that identity
/// alone in the list).
async fn identities<S: Store + 'static, C: Clock + 'static>(
    State(app): State<App<S, C>>,
    call: Call,
) -> Answer {
    let tenant = call.tenant(D)?;
    if let Some(ids) = call.param(D, "customerIds")? {
        // 002 prints its example list with a full-width comma: both separate.
        let ids = ids
            .split([',', '，'])
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_id(D, "customerIds", s))
            .collect::<Result<Vec<_>, _>>()?;
        let listed = app
            .resolver
            .identities_of(tenant, ids)
            .await
            .map_err(Failure::of(D))?;
        return Ok(json(dmhub::identities(&listed)));
    }
    let (kind, value) = (call.param(D, "identityType")?, call.param(D, "identityValue")?);
    let (Some(kind), Some(value)) = (kind, value) else {
        return Err(Failure::new(
            D,
            ErrorKind::Input,
            "customerIds, or identityType with identityValue: required",
        ));
    };
    let input = IdentityInput::new(kind, value);
    let Some(owner) = app
        .resolver
        .owner_of(tenant.clone(), input)
        .await
        .map_err(Failure::of(D))?
    else {
        return Ok(json(serde_json::Value::Array(Vec::new())));
    };
    let settings = app
        .resolver
        .settings(tenant.clone())
        .await
        .map_err(Failure::of(D))?;
    let normalized = settings
        .normalize(kind, value)
        .unwrap_or_else(|_| value.to_string());
    let held = app
        .resolver
        .identities(tenant, owner)
        .await
        .map_err(Failure::of(D))?;
    let matching: Vec<_> = held
        .into_iter()
        .filter(|i| i.identity_type.as_str() == kind && *i.identity_value == *normalized)
        .collect();
    Ok(json(dmhub::identities(&[(owner, matching)])))
}
