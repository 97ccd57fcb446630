//! Each tenant's identity settings, as its store keeps them.
//!
//! Settings are tenant state in the store, versioned: every operation reads the version its
//! transaction sees and runs under that version's settings, so two service instances on one
//! database never apply different rules. Parsing a document is not free, so a handle keeps the
//! settings it parsed by tenant and version, and parses again only when the version it reads
//! is not the one it holds. A tenant with no settings stored runs under the handle's default
//! settings, which its first write stores as version 1, so that from then on every instance
//! agrees even if their defaults differ.
//!
//! Normalizers are code: a settings document names them, and the handle resolves each name
//! among the normalizers registered with it (and the built-in ones). A tenant whose settings
//! name one this process lacks gets [`Error::UnknownNormalizer`] for its operations.

use crate::error::{Error, Result};
use crate::model::TenantId;
use crate::settings::IdentitySettings;
use crate::settings::normalize::Normalizer;
use crate::store::{ReadTxn, Txn};
use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

/// The settings a handle parsed, by tenant, and the normalizers it can resolve.
#[derive(Default)]
pub(crate) struct TenantSettings {
    parsed: RwLock<FastMap<TenantId, (u64, Arc<IdentitySettings>)>>,
    normalizers: RwLock<HashMap<String, Arc<dyn Normalizer>>>,
}

/// Settings a handle applies where a tenant has none stored: the settings, and the document
/// the first write stores.
#[derive(Clone)]
pub(crate) struct Defaults {
    pub(crate) settings: Arc<IdentitySettings>,
    pub(crate) document: Arc<str>,
}

impl Defaults {
    pub(crate) fn new(settings: IdentitySettings) -> Self {
        Self {
            document: settings.to_json().into(),
            settings: Arc::new(settings),
        }
    }
}

/// What a transaction says a tenant runs under.
pub(crate) struct Current {
    pub(crate) settings: Arc<IdentitySettings>,
    /// No settings are stored: these are the handle's defaults, which a write stores.
    pub(crate) unstored: bool,
}

impl TenantSettings {
    /// Registers a normalizer by its name, replacing one of the same name.
    pub(crate) fn register(&self, normalizer: Arc<dyn Normalizer>) {
        self.normalizers
            .write()
            .insert(normalizer.name().to_owned(), normalizer);
    }

    /// Registers the custom normalizers `settings` carries.
    pub(crate) fn register_from(&self, settings: &IdentitySettings) {
        for n in settings.custom_normalizers() {
            self.register(n.clone());
        }
    }

    /// Settings from a stored document, with this handle's normalizers.
    pub(crate) fn parse(&self, document: &str) -> Result<IdentitySettings> {
        let normalizers = self.normalizers.read();
        IdentitySettings::from_json_with(document, |name| normalizers.get(name).cloned())
    }

    /// The settings `tenant` had when this handle last read them, with their version, if it
    /// has: a guess to prepare a request with before its transaction confirms it.
    #[inline]
    pub(crate) fn last_seen(&self, tenant: &TenantId) -> Option<(u64, Arc<IdentitySettings>)> {
        self.parsed.read().get(tenant).cloned()
    }

    /// The settings `tenant` runs under in `txn`'s view: the stored version's, or `defaults`
    /// when none are stored.
    #[inline]
    pub(crate) fn current<T: ReadTxn + ?Sized>(
        &self,
        txn: &T,
        tenant: &TenantId,
        defaults: &Defaults,
    ) -> Result<Current> {
        self.current_after(txn, tenant, defaults, None, false)
    }

    /// [`current`](Self::current), given what [`last_seen`](Self::last_seen) returned before
    /// the transaction began: when the version is the one seen, its settings are taken
    /// without looking the tenant up again (a resolve's hot path). With `assume`, for a
    /// transaction that always commits, the version seen last (given, or the one this handle
    /// parsed last) is taken without reading it where the store checks it at commit
    /// ([`ReadTxn::assume_settings_version`]); a commit that finds it changed runs the
    /// operation again, which should then read it (`assume` false).
    #[inline]
    pub(crate) fn current_after<T: ReadTxn + ?Sized>(
        &self,
        txn: &T,
        tenant: &TenantId,
        defaults: &Defaults,
        seen: Option<&(u64, Arc<IdentitySettings>)>,
        assume: bool,
    ) -> Result<Current> {
        if assume {
            let known = match seen {
                Some(seen) => Some(seen.clone()),
                None => self.last_seen(tenant),
            };
            if let Some((version, settings)) = known
                && txn.assume_settings_version(tenant, version)?
            {
                return Ok(Current {
                    settings,
                    unstored: false,
                });
            }
        }
        let version = txn.settings_version(tenant)?;
        if version == 0 {
            return Ok(Current {
                settings: defaults.settings.clone(),
                unstored: true,
            });
        }
        if let Some((v, settings)) = seen
            && *v == version
        {
            return Ok(Current {
                settings: settings.clone(),
                unstored: false,
            });
        }
        if let Some((v, settings)) = self.parsed.read().get(tenant)
            && *v == version
        {
            return Ok(Current {
                settings: settings.clone(),
                unstored: false,
            });
        }
        let stored = txn.settings(tenant)?.ok_or_else(|| {
            Error::Corrupt(format!(
                "tenant {tenant} has settings version {version} but no settings"
            ))
        })?;
        let settings = Arc::new(self.parse(&stored.document)?);
        let mut parsed = self.parsed.write();
        // Keep the newest version seen: another thread may have read a later one meanwhile.
        match parsed.get(tenant) {
            Some((v, _)) if *v > stored.version => {}
            _ => {
                parsed.insert(tenant.clone(), (stored.version, settings.clone()));
            }
        }
        Ok(Current {
            settings,
            unstored: false,
        })
    }

    /// Stores `defaults` as `tenant`'s first settings, if [`current`](Self::current) found
    /// none: called by a write once its checks have passed, so that every instance agrees
    /// from then on.
    pub(crate) fn store_defaults<T: Txn + ?Sized>(
        &self,
        txn: &mut T,
        tenant: &TenantId,
        current: &Current,
        defaults: &Defaults,
        at: DateTime<Utc>,
    ) -> Result<()> {
        if current.unstored {
            txn.put_settings(tenant, &defaults.document, at, Some("default settings"))?;
        }
        Ok(())
    }
}
