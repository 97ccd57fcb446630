//! How the router is set up: where the tenant comes from.

/// Where a request names its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantFrom {
    /// A header (by default `x-tenant-id`).
    Header(String),
    /// The first path segment, in front of every route: `/{tenant}/v1/customers/7`.
    Path,
}

/// The router's settings.
///
/// ```
/// use oneid::http::{HttpConfig, TenantFrom};
/// assert_eq!(HttpConfig::default().tenant, TenantFrom::Header("x-tenant-id".into()));
/// let by_path = HttpConfig::default().with_tenant(TenantFrom::Path);
/// assert_eq!(by_path.tenant, TenantFrom::Path);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Where the tenant comes from.
    pub tenant: TenantFrom,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            tenant: TenantFrom::Header("x-tenant-id".into()),
        }
    }
}

impl HttpConfig {
    /// Sets where the tenant comes from (builder style).
    pub fn with_tenant(mut self, tenant: TenantFrom) -> Self {
        self.tenant = tenant;
        self
    }
}
