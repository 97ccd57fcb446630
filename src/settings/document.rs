//! Identity settings as a document: what a store keeps of a tenant's settings, and what
//! serde reads and writes.
//!
//! The document holds what the settings were built from, not what was derived from it: the
//! priority, each type's limit, normalizer (by name) and blocked values as given, the values
//! blocked for every type, the merge rules and the quarantine threshold. Reading it builds the
//! settings again with the same builders, so the normalized forms of blocked values are
//! derived anew, from the normalizers the reader has. Normalizers are code: a document names
//! them, and reading it needs each name resolved ([`IdentitySettings::from_json_with`]); the
//! built-in `mobile`, `email` and `trim` always are.
//!
//! ```
//! use oneid::IdentitySettings;
//! let settings = IdentitySettings::default().with_limit("mobile", Some(1)).unwrap();
//! let json = settings.to_json();
//! let again = IdentitySettings::from_json(&json).unwrap();
//! assert_eq!(again.limit("mobile"), Some(1));
//! assert_eq!(again.to_json(), json);
//! ```

use super::normalize::{Email, Mobile, Normalizer, Trim};
use super::{IdentitySettings, MergeRule};
use crate::error::{Error, Result};
use crate::model::Field;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The document form of [`IdentitySettings`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Document {
    /// The system priority, highest first.
    priority: Vec<String>,
    /// The types with a rule of their own, by name.
    types: BTreeMap<String, TypeDocument>,
    /// The normalizer of types without a rule of their own.
    default_normalizer: String,
    /// Values blocked for every type, as given.
    blocked: Vec<String>,
    /// How fields reconcile on merges, by field name; fields not named keep the target's value.
    merge_rules: BTreeMap<String, MergeRuleName>,
    /// The quarantine threshold; `None` when quarantine is off.
    quarantine_after: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TypeDocument {
    limit: Option<u32>,
    normalizer: String,
    blocked: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum MergeRuleName {
    KeepTarget,
    MostRecent,
    Sum,
}

impl From<MergeRule> for MergeRuleName {
    fn from(rule: MergeRule) -> Self {
        match rule {
            MergeRule::KeepTarget => Self::KeepTarget,
            MergeRule::MostRecent => Self::MostRecent,
            MergeRule::Sum => Self::Sum,
        }
    }
}

impl From<MergeRuleName> for MergeRule {
    fn from(rule: MergeRuleName) -> Self {
        match rule {
            MergeRuleName::KeepTarget => Self::KeepTarget,
            MergeRuleName::MostRecent => Self::MostRecent,
            MergeRuleName::Sum => Self::Sum,
        }
    }
}

/// The built-in normalizer of this name, if there is one.
pub(crate) fn builtin(name: &str) -> Option<Arc<dyn Normalizer>> {
    match name {
        "mobile" => Some(Arc::new(Mobile)),
        "email" => Some(Arc::new(Email)),
        "trim" => Some(Arc::new(Trim)),
        _ => None,
    }
}

impl IdentitySettings {
    fn document(&self) -> Document {
        let mut ranked: Vec<_> = self.rules.iter().filter_map(|r| Some((r.rank?, r))).collect();
        ranked.sort_by_key(|(rank, _)| *rank);
        let text = |values: &[Box<str>]| values.iter().map(|v| v.to_string()).collect();
        Document {
            priority: ranked.iter().map(|(_, r)| r.ty.as_str().to_owned()).collect(),
            types: self
                .rules
                .iter()
                .map(|r| {
                    (
                        r.ty.as_str().to_owned(),
                        TypeDocument {
                            limit: r.limit,
                            normalizer: r.normalizer.name().to_owned(),
                            blocked: text(r.blocked.given()),
                        },
                    )
                })
                .collect(),
            default_normalizer: self.default_rule.normalizer.name().to_owned(),
            blocked: text(self.blocked_any.given()),
            merge_rules: self
                .merge_rules
                .iter()
                .map(|(field, rule)| (field.name().to_owned(), (*rule).into()))
                .collect(),
            quarantine_after: self.quarantine_after,
        }
    }

    /// The settings as a JSON document (see [`from_json`](Self::from_json)). Normalizers are
    /// named by [`Normalizer::name`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.document()).expect("a settings document is plain JSON")
    }

    /// Settings from a document [`to_json`](Self::to_json) wrote, with the built-in
    /// normalizers only: a document that names another is
    /// [`Error::UnknownNormalizer`] (see [`from_json_with`](Self::from_json_with)).
    pub fn from_json(json: &str) -> Result<Self> {
        Self::from_json_with(json, |_| None)
    }

    /// Settings from a document [`to_json`](Self::to_json) wrote, resolving the normalizers
    /// it names with `lookup` (then among the built-in `mobile`, `email` and `trim`). A name
    /// neither knows is [`Error::UnknownNormalizer`]; a document that is not one, or whose
    /// values the builders refuse, is [`Error::InvalidSettings`].
    pub fn from_json_with(json: &str, lookup: impl Fn(&str) -> Option<Arc<dyn Normalizer>>) -> Result<Self> {
        let doc: Document = serde_json::from_str(json)
            .map_err(|e| Error::InvalidSettings(format!("not a settings document: {e}")))?;
        Self::from_document(doc, &lookup)
    }

    fn from_document(doc: Document, lookup: &dyn Fn(&str) -> Option<Arc<dyn Normalizer>>) -> Result<Self> {
        let normalizer = |name: &str| {
            lookup(name)
                .or_else(|| builtin(name))
                .ok_or_else(|| Error::UnknownNormalizer {
                    name: name.to_owned(),
                })
        };
        let mut s = Self::empty();
        s.default_rule.normalizer = normalizer(&doc.default_normalizer)?;
        // Normalizers first, so that blocked values are kept in the forms they produce.
        for (ty, rule) in &doc.types {
            let ty = Self::checked_type(ty)?;
            s.rule_mut(ty).normalizer = normalizer(&rule.normalizer)?;
            s = s.with_limit(ty, rule.limit)?;
        }
        for (ty, rule) in &doc.types {
            s = s.with_blocked(ty, rule.blocked.iter().map(String::as_str))?;
        }
        s = s.with_blocked_for_all(doc.blocked.iter().map(String::as_str))?;
        s = s.with_priority(doc.priority.iter().map(String::as_str))?;
        for (name, rule) in doc.merge_rules {
            let field = Field::from_name(&name)
                .ok_or_else(|| Error::InvalidSettings(format!("no field {name:?} to merge")))?;
            s = s.with_merge_rule(field, rule.into())?;
        }
        s.with_quarantine(doc.quarantine_after)
    }

    /// The names of the normalizers these settings use that are not built in.
    pub(crate) fn custom_normalizers(&self) -> impl Iterator<Item = &Arc<dyn Normalizer>> {
        self.rules
            .iter()
            .chain([&self.default_rule])
            .map(|r| &r.normalizer)
            .filter(|n| builtin(n.name()).is_none())
    }
}

impl Serialize for IdentitySettings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.document().serialize(serializer)
    }
}

/// Reads a settings document with the built-in normalizers only (see
/// [`IdentitySettings::from_json_with`] for others).
impl<'de> Deserialize<'de> for IdentitySettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let doc = Document::deserialize(deserializer)?;
        Self::from_document(doc, &|_| None).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Upper;
    impl Normalizer for Upper {
        fn name(&self) -> &str {
            "upper"
        }
        fn normalize(&self, raw: &str, out: &mut String) -> std::result::Result<(), String> {
            out.push_str(&raw.trim().to_uppercase());
            Ok(())
        }
    }

    fn upper(name: &str) -> Option<Arc<dyn Normalizer>> {
        (name == "upper").then(|| Arc::new(Upper) as Arc<dyn Normalizer>)
    }

    /// Every part of the settings survives the document: read back, the settings write the
    /// same document and answer every question alike.
    #[test]
    fn settings_round_trip_through_their_document() {
        let s = IdentitySettings::default()
            .with_priority(["wechat-unionid", "member-id", "mobile", "email"])
            .and_then(|s| s.with_limit("mobile", Some(2)))
            .and_then(|s| s.with_normalizer("member-id", Upper))
            .and_then(|s| s.with_blocked("member-id", ["m-0"]))
            .and_then(|s| s.with_blocked("mobile", ["+86 138-0000-1111"]))
            .and_then(|s| s.with_blocked_for_all(["n/a"]))
            .and_then(|s| s.with_merge_rule(Field::City, MergeRule::MostRecent))
            .and_then(|s| s.with_quarantine(Some(5)))
            .unwrap();
        let json = s.to_json();
        let again = IdentitySettings::from_json_with(&json, upper).unwrap();
        assert_eq!(again.to_json(), json);
        for ty in ["mobile", "email", "wechat", "member-id", "idcard", "other"] {
            assert_eq!(again.limit(ty), s.limit(ty), "{ty}");
            assert_eq!(again.rank(ty), s.rank(ty), "{ty}");
            for v in ["M-0", "m-0", "13800001111", "N/A", "null", "13800000000", "x"] {
                assert_eq!(again.is_blocked(ty, v), s.is_blocked(ty, v), "{ty} {v}");
                assert_eq!(again.normalize(ty, v), s.normalize(ty, v), "{ty} {v}");
            }
        }
        assert_eq!(again.merge_rule(Field::City), MergeRule::MostRecent);
        assert_eq!(again.merge_rule(Field::Balance), MergeRule::Sum);
        assert_eq!(again.quarantine_after(), Some(5));
        // The defaults and the unrestricted settings round-trip too.
        for s in [IdentitySettings::default(), IdentitySettings::unrestricted()] {
            assert_eq!(
                IdentitySettings::from_json(&s.to_json()).unwrap().to_json(),
                s.to_json()
            );
        }
    }

    #[test]
    fn a_document_naming_an_unknown_normalizer_is_refused_clearly() {
        let json = IdentitySettings::default()
            .with_normalizer("member-id", Upper)
            .unwrap()
            .to_json();
        let e = IdentitySettings::from_json(&json).unwrap_err();
        assert!(
            matches!(&e, Error::UnknownNormalizer { name } if name == "upper"),
            "{e}"
        );
        let e = IdentitySettings::from_json("{\"priority\": 1}").unwrap_err();
        assert!(matches!(e, Error::InvalidSettings(_)), "{e}");
        let e = serde_json::from_str::<IdentitySettings>(&json).unwrap_err();
        assert!(e.to_string().contains("upper"), "{e}");
    }
}
