//! What every handler reads from a request besides its body: the tenant, the path's
//! parameters and the query's.

use super::config::TenantFrom;
use super::failure::Failure;
use super::state::App;
use crate::dialect::Dialect;
use crate::error::ErrorKind;
use crate::model::{CustomerId, TenantId};
use axum::extract::{FromRequestParts, Query, RawPathParams};
use axum::http::request::Parts;
use std::convert::Infallible;

/// A request's tenant, path parameters and query parameters, read without failing: a handler
/// asks for what it needs and answers a missing or malformed part in its source's shape.
pub(crate) struct Call {
    tenant: Option<TenantId>,
    tenant_from: TenantFrom,
    path: Vec<(String, String)>,
    query: Result<Vec<(String, String)>, String>,
}

impl<S, C> FromRequestParts<App<S, C>> for Call
where
    S: Send + Sync,
    C: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App<S, C>) -> Result<Self, Infallible> {
        let path: Vec<(String, String)> = match RawPathParams::from_request_parts(parts, app).await {
            Ok(params) => params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            Err(_) => Vec::new(),
        };
        let tenant_from = app.config.tenant.clone();
        let tenant = match &tenant_from {
            TenantFrom::Header(name) => parts
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(TenantId::new),
            TenantFrom::Path => path
                .iter()
                .find(|(k, _)| k == "tenant")
                .map(|(_, v)| TenantId::new(v)),
        };
        let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|Query(q)| q)
            .map_err(|e| e.body_text());
        Ok(Call {
            tenant,
            tenant_from,
            path,
            query,
        })
    }
}

impl Call {
    /// The tenant, or a 400 naming where it was looked for.
    pub(crate) fn tenant(&self, dialect: Dialect) -> Result<TenantId, Failure> {
        self.tenant.clone().ok_or_else(|| {
            let place = match &self.tenant_from {
                TenantFrom::Header(name) => format!("the {name} header"),
                TenantFrom::Path => "the path".to_string(),
            };
            Failure::new(
                dialect,
                ErrorKind::Input,
                format!("no tenant: name one in {place}"),
            )
        })
    }

    /// The customer id in the path's `{id}`.
    pub(crate) fn path_id(&self, dialect: Dialect) -> Result<CustomerId, Failure> {
        let text = self
            .path
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        parse_id(dialect, "id", text)
    }

    /// The query's parameters, in order.
    pub(crate) fn query(&self, dialect: Dialect) -> Result<&[(String, String)], Failure> {
        self.query
            .as_deref()
            .map_err(|e| Failure::new(dialect, ErrorKind::Input, format!("query: {e}")))
    }

    /// A query parameter, if given.
    pub(crate) fn param(&self, dialect: Dialect, key: &str) -> Result<Option<&str>, Failure> {
        Ok(self
            .query(dialect)?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str()))
    }

    /// A query parameter the call requires.
    pub(crate) fn required(&self, dialect: Dialect, key: &str) -> Result<&str, Failure> {
        self.param(dialect, key)?
            .ok_or_else(|| Failure::new(dialect, ErrorKind::Input, format!("{key}: required")))
    }

    /// A customer id the call requires as a query parameter.
    pub(crate) fn required_id(&self, dialect: Dialect, key: &str) -> Result<CustomerId, Failure> {
        parse_id(dialect, key, self.required(dialect, key)?)
    }
}

/// A customer id in a path or a parameter.
pub(crate) fn parse_id(dialect: Dialect, key: &str, text: &str) -> Result<CustomerId, Failure> {
    text.trim().parse().map(CustomerId).map_err(|_| {
        Failure::new(
            dialect,
            ErrorKind::Input,
            format!("{key}: expected a customer id, got {text:?}"),
        )
    })
}

/// A JSON request body, refused in the source's shape when it is not JSON.
pub(crate) fn json_body(dialect: Dialect, body: &[u8]) -> Result<serde_json::Value, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::new(dialect, ErrorKind::Input, format!("body: {e}")))
}

/// The customer a call names, or a 404 in the source's shape.
pub(crate) fn found<T>(dialect: Dialect, what: &str, value: Option<T>) -> Result<T, Failure> {
    value.ok_or_else(|| Failure::new(dialect, ErrorKind::NotFound, format!("no customer {what}")))
}
