//! The router's state: the handle and the settings.

use super::config::HttpConfig;
use crate::AsyncResolver;
use std::sync::Arc;

/// What every handler gets: the async handle and the router's settings.
pub(crate) struct App<S, C> {
    pub(crate) resolver: AsyncResolver<S, C>,
    pub(crate) config: Arc<HttpConfig>,
}

// Derived `Clone` would ask `S: Clone` and `C: Clone`; the handle is cloned, not them.
impl<S, C> Clone for App<S, C> {
    fn clone(&self) -> Self {
        Self {
            resolver: self.resolver.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S, C> App<S, C> {
    pub(crate) fn new(resolver: AsyncResolver<S, C>, config: HttpConfig) -> Self {
        Self {
            resolver,
            config: Arc::new(config),
        }
    }
}
