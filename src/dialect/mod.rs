//! The four source systems' wire formats: which source a body speaks ([`Dialect`]), reading
//! it with that source's defaults, and writing each source's documented responses.
//!
//! - 000, the clinic/shop API: [`clinic`];
//! - 001, the Baiyao CDP open API: [`baiyao`];
//! - 002, Convertlab DM Hub: [`dmhub`];
//! - 003, the beauty-clinic SDK: [`beauty`].
//!
//! Each writer module prints the source's response bodies as its document gives them: the
//! same keys in the same nesting, `null` (or `false` for a flag) where the customer has no
//! value, times as the source prints them.
//!
//! ```
//! use oneid::dialect::{Dialect, dmhub};
//! use oneid::{MemoryStore, Resolver, TenantId};
//!
//! let body = serde_json::json!({
//!     "customer": {"name": "小D", "mobile": "18612341234"},
//!     "customerIdentities": [{"identityType": "wechat", "identityValue": "o123456"}]
//! });
//! assert_eq!(Dialect::detect(&body), Some(Dialect::DmHub));
//! // 002's create with identities also matches by the customer's mobile and email.
//! let request = Dialect::DmHub.read_resolve(&body).unwrap();
//! assert!(request.options.match_by_fields);
//!
//! let resolver = Resolver::new(MemoryStore::new());
//! let (_, customer) = resolver.resolve_and_get(&TenantId::new("t"), &request).unwrap();
//! let printed = dmhub::customer(&customer);
//! assert_eq!(printed["displayName"], "小D");
//! assert_eq!(printed["emailVerified"], false); // unset flags print as false
//! assert!(printed["email"].is_null()); // unset fields print as null
//! ```

pub mod baiyao;
pub mod beauty;
pub mod clinic;
mod detect;
pub mod dmhub;
mod keep;
mod read;
mod values;

/// The source system whose wire format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// 000, the clinic/shop API (`/customer/v1/customer`): `shopId`, `mrn`, `idcard`, `tag`,
    /// gender as a word, `fromReferrer` / `fromActivity` / `fromChannel` as `{id, name}`.
    Clinic,
    /// 001, the Baiyao CDP open API: flat bodies, `identityList`, `extendAttrList`, `0`/`1`
    /// flags, and `isEmployee` inverted (`0` means yes).
    Baiyao,
    /// 002, Convertlab DM Hub: `{"customer", "customerIdentities"}`, `attr`; its create with
    /// identities also matches by the customer's mobile and email.
    DmHub,
    /// 003, the beauty-clinic SDK: `telnum`, `sex`, `erpId`, `channelName`, and the
    /// `{errNum, errMsg}` envelope.
    Beauty,
}

impl Dialect {
    /// Every dialect, by source number.
    pub const ALL: [Dialect; 4] = [Dialect::Clinic, Dialect::Baiyao, Dialect::DmHub, Dialect::Beauty];

    /// The source's number in the contract: `"000"` to `"003"`.
    ///
    /// ```
    /// assert_eq!(oneid::dialect::Dialect::DmHub.source(), "002");
    /// ```
    pub const fn source(self) -> &'static str {
        match self {
            Dialect::Clinic => "000",
            Dialect::Baiyao => "001",
            Dialect::DmHub => "002",
            Dialect::Beauty => "003",
        }
    }
}
