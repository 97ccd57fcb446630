//! Per-tenant identity settings (the sources' "system settings"): type priority, per-type
//! limits, normalizers, blocked values, and how fields reconcile when customers merge.
//!
//! The defaults follow SEMANTICS §1: priority `wechat-unionid > idcard > mobile > email >
//! wechat`, then other types in the order configured, then unknown types in request order;
//! limit 1 for `wechat-unionid` and `idcard`; the usual placeholders blocked for every type.
//!
//! ```
//! use oneid::IdentitySettings;
//! let settings = IdentitySettings::default()
//!     .with_priority(["wechat-unionid", "member-id", "mobile", "email", "wechat"]).unwrap()
//!     .with_limit("mobile", Some(1)).unwrap()
//!     .with_blocked("email", ["noreply@shop.example"]).unwrap();
//! assert_eq!(settings.limit("mobile"), Some(1));
//! assert!(settings.is_blocked("email", "NoReply@shop.example"));
//! ```

mod document;
pub mod normalize;

use crate::error::{Error, Result};
use crate::model::{Field, FieldKind, IdentityType, is_valid_type};
use normalize::{Email, Mobile, Normalizer, Trim};
use std::sync::Arc;

/// How a field reconciles when one customer is merged into another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MergeRule {
    /// Keep the target's value; fill it from the merged customer only when the target has none.
    KeepTarget,
    /// The value of the customer updated most recently wins (the target on a tie); a missing
    /// value never overwrites a present one.
    MostRecent,
    /// Add both values (integer fields such as `balance` and `credit`).
    Sum,
}

#[derive(Debug, Clone)]
pub(crate) struct TypeRule {
    pub(crate) ty: IdentityType,
    /// Position in the system priority; `None` sorts after every ranked type.
    pub(crate) rank: Option<usize>,
    pub(crate) limit: Option<u32>,
    pub(crate) normalizer: Arc<dyn Normalizer>,
    pub(crate) blocked: BlockList,
}

impl TypeRule {
    /// Blocks, for this type, the normalized form of each value that has one other than
    /// itself (a value this type's normalizer refuses cannot arrive normalized).
    fn block_normalized<'a>(&mut self, values: impl IntoIterator<Item = &'a str>) {
        let mut out = String::new();
        let forms: Vec<Box<str>> = values
            .into_iter()
            .filter_map(|v| {
                out.clear();
                self.normalizer.normalize(v, &mut out).ok()?;
                (out != v && !self.blocked.lists(&out)).then(|| Box::from(out.as_str()))
            })
            .collect();
        self.blocked.extend(forms);
    }
}

/// `a == b` for type names, checking the length and the end bytes before comparing all of
/// them: a request's type is usually compared with several rules' names of its length
/// (`mobile`, `idcard`, `wechat`), and a call to `memcmp` for each cost more than the rest of
/// the search.
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.first() == b.first() && a.last() == b.last() && a == b
}

/// Blocked values, with a mask of their lengths: nearly every value checked is blocked by
/// nothing, and a value whose length no blocked value has is cleared by one bit test; one of
/// a listed length is then compared by its ends before all its bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct BlockList {
    /// The values as they were given (trimmed), which the settings document keeps; their
    /// normalized forms are derived from them.
    given: Vec<Box<str>>,
    values: Vec<Box<str>>,
    /// Per value, its first and last bytes, lowercased.
    ends: Vec<(u8, u8)>,
    /// Bit `n` set when a value of `n` bytes (or, for bit 63, of 63 or more) is listed.
    lengths: u64,
}

/// The first and last bytes of a value, lowercased (as blocklists compare).
fn ends_of(value: &str) -> (u8, u8) {
    let b = value.as_bytes();
    let lower = |x: Option<&u8>| x.map_or(0, u8::to_ascii_lowercase);
    (lower(b.first()), lower(b.last()))
}

impl BlockList {
    fn length_bit(len: usize) -> u64 {
        1 << len.min(63)
    }

    fn extend<I: IntoIterator<Item = Box<str>>>(&mut self, values: I) {
        for v in values {
            self.lengths |= Self::length_bit(v.len());
            self.ends.push(ends_of(&v));
            self.values.push(v);
        }
    }

    /// Lists values as given: kept in the settings document, and blocked.
    fn extend_given<I: IntoIterator<Item = Box<str>>>(&mut self, values: I) {
        let values: Vec<Box<str>> = values.into_iter().collect();
        self.given.extend(values.iter().cloned());
        self.extend(values);
    }

    /// The values as they were given.
    pub(crate) fn given(&self) -> &[Box<str>] {
        &self.given
    }

    fn clear(&mut self) {
        self.given.clear();
        self.values.clear();
        self.ends.clear();
        self.lengths = 0;
    }

    /// Whether some blocked value is `len` bytes long: when none is, no value of that length
    /// is blocked.
    #[inline]
    fn may_hold_length(&self, len: usize) -> bool {
        self.lengths & Self::length_bit(len) != 0
    }

    #[inline]
    fn contains(&self, value: &str) -> bool {
        self.may_hold_length(value.len()) && self.lists(value)
    }

    /// [`contains`](Self::contains) once the length test has passed.
    fn lists(&self, value: &str) -> bool {
        let ends = ends_of(value);
        self.values
            .iter()
            .zip(&self.ends)
            .any(|(b, e)| *e == ends && b.len() == value.len() && b.eq_ignore_ascii_case(value))
    }
}

/// A tenant's identity settings. Cheap to share behind an `Arc`; built with the `with_*`
/// methods, each of which validates what it is given.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    rules: Vec<TypeRule>,
    blocked_any: BlockList,
    merge_rules: Vec<(Field, MergeRule)>,
    default_rule: TypeRule,
    quarantine_after: Option<u32>,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        let mut s = Self::empty();
        for (rank, ty) in ["wechat-unionid", "idcard", "mobile", "email", "wechat"]
            .iter()
            .enumerate()
        {
            s.rule_mut(ty).rank = Some(rank);
        }
        s.rule_mut("wechat-unionid").limit = Some(1);
        s.rule_mut("idcard").limit = Some(1);
        s.rule_mut("mobile").normalizer = Arc::new(Mobile);
        s.rule_mut("email").normalizer = Arc::new(Email);
        s.blocked_any
            .extend_given(Self::DEFAULT_BLOCKED.iter().map(|v| Box::from(*v)));
        s.merge_rules = vec![(Field::Balance, MergeRule::Sum), (Field::Credit, MergeRule::Sum)];
        s.quarantine_after = Some(Self::DEFAULT_QUARANTINE_AFTER);
        s
    }
}

impl IdentitySettings {
    /// How many distinct conflicting identities quarantine a value by default.
    pub const DEFAULT_QUARANTINE_AFTER: u32 = 3;

    /// The placeholder values blocked for every type by default: they never link anyone.
    pub const DEFAULT_BLOCKED: &'static [&'static str] = &[
        "null",
        "undefined",
        "unknown",
        "none",
        "0",
        "test@test.com",
        "13800000000",
        "00000000000",
    ];

    fn empty() -> Self {
        Self {
            rules: Vec::new(),
            blocked_any: BlockList::default(),
            merge_rules: Vec::new(),
            default_rule: TypeRule {
                ty: IdentityType::new("unknown").expect("valid type"),
                rank: None,
                limit: None,
                normalizer: Arc::new(Trim),
                blocked: BlockList::default(),
            },
            quarantine_after: None,
        }
    }

    /// The defaults with every limit and every blocked value removed: plain connected
    /// components, for comparison with what graph tools compute.
    pub fn unrestricted() -> Self {
        let mut s = Self::default();
        s.blocked_any.clear();
        s.quarantine_after = None;
        for rule in &mut s.rules {
            rule.limit = None;
            rule.blocked.clear();
        }
        s
    }

    fn rule_mut(&mut self, ty: &str) -> &mut TypeRule {
        Self::rule_in(&mut self.rules, &self.default_rule, ty)
    }

    /// The rule of `ty` in `rules`, added as a copy of the default rule if missing.
    fn rule_in<'r>(rules: &'r mut Vec<TypeRule>, default_rule: &TypeRule, ty: &str) -> &'r mut TypeRule {
        let i = match rules.iter().position(|r| r.ty.as_str() == ty) {
            Some(i) => i,
            None => {
                rules.push(TypeRule {
                    ty: IdentityType::new(ty).expect("caller validated the type"),
                    ..default_rule.clone()
                });
                rules.len() - 1
            }
        };
        &mut rules[i]
    }

    fn checked_type(ty: &str) -> Result<&str> {
        if is_valid_type(ty) {
            Ok(ty)
        } else {
            Err(Error::InvalidSettings(format!(
                "identity type {ty:?} must match [a-z0-9][a-z0-9_-]{{0,31}}"
            )))
        }
    }

    /// Sets the system priority: the listed types in this order, before every type not listed
    /// (which keep request order among themselves).
    pub fn with_priority<'a>(mut self, order: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        for rule in &mut self.rules {
            rule.rank = None;
        }
        for (rank, ty) in order.into_iter().enumerate() {
            let rule = self.rule_mut(Self::checked_type(ty)?);
            if rule.rank.is_some() {
                return Err(Error::InvalidSettings(format!(
                    "type {ty:?} is listed twice in the priority"
                )));
            }
            rule.rank = Some(rank);
        }
        Ok(self)
    }

    /// Sets the most identities of a type one customer may hold (`None` = unlimited).
    pub fn with_limit(mut self, ty: &str, limit: Option<u32>) -> Result<Self> {
        if limit == Some(0) {
            return Err(Error::InvalidSettings(format!(
                "limit of {ty:?} must be at least 1"
            )));
        }
        self.rule_mut(Self::checked_type(ty)?).limit = limit;
        Ok(self)
    }

    /// Plugs in the normalizer for a type. Values blocked before, for this type or for all,
    /// are blocked in the new normalizer's form too.
    pub fn with_normalizer(mut self, ty: &str, normalizer: impl Normalizer + 'static) -> Result<Self> {
        let Self {
            rules,
            default_rule,
            blocked_any,
            ..
        } = &mut self;
        let rule = Self::rule_in(rules, default_rule, Self::checked_type(ty)?);
        rule.normalizer = Arc::new(normalizer);
        let listed: Vec<Box<str>> = rule
            .blocked
            .values
            .iter()
            .chain(&blocked_any.values)
            .cloned()
            .collect();
        rule.block_normalized(listed.iter().map(|v| &**v));
        Ok(self)
    }

    /// Blocks values of one type. A value is blocked as given (trimmed) and in its normalized
    /// form, so that `+86 138-0000-1111` also blocks `13800001111`; values are compared
    /// case-insensitively with both the value as sent (trimmed) and its normalized form.
    pub fn with_blocked<'a>(mut self, ty: &str, values: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let rule = self.rule_mut(Self::checked_type(ty)?);
        let values: Vec<&str> = values.into_iter().map(str::trim).collect();
        rule.blocked.extend_given(values.iter().map(|v| Box::from(*v)));
        rule.block_normalized(values);
        Ok(self)
    }

    /// Blocks values for every type, each also in every type's normalized form.
    pub fn with_blocked_for_all<'a>(mut self, values: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let values: Vec<&str> = values.into_iter().map(str::trim).collect();
        self.blocked_any
            .extend_given(values.iter().map(|v| Box::from(*v)));
        for rule in self.rules.iter_mut().chain([&mut self.default_rule]) {
            rule.block_normalized(values.iter().copied());
        }
        Ok(self)
    }

    /// Removes every blocked value, including the defaults.
    pub fn without_blocked(mut self) -> Self {
        self.blocked_any.clear();
        for rule in &mut self.rules {
            rule.blocked.clear();
        }
        self
    }

    /// Sets how a field reconciles on merges. [`MergeRule::Sum`] needs an integer field.
    pub fn with_merge_rule(mut self, field: Field, rule: MergeRule) -> Result<Self> {
        if rule == MergeRule::Sum && field.kind() != FieldKind::Int {
            return Err(Error::InvalidSettings(format!(
                "field {field} is not an integer and cannot be summed"
            )));
        }
        self.merge_rules.retain(|(f, _)| *f != field);
        self.merge_rules.push((field, rule));
        Ok(self)
    }

    /// How a field reconciles on merges (default [`MergeRule::KeepTarget`]; `balance` and
    /// `credit` default to [`MergeRule::Sum`] so no money or points vanish in a merge).
    pub fn merge_rule(&self, field: Field) -> MergeRule {
        self.merge_rules
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(MergeRule::KeepTarget, |(_, r)| *r)
    }

    /// The rule of a type, the default rule for types no rule names.
    pub(crate) fn rule(&self, ty: &str) -> &TypeRule {
        self.named_rule(ty).unwrap_or(self.default_rule())
    }

    /// The rule of the types no rule names.
    pub(crate) fn default_rule(&self) -> &TypeRule {
        &self.default_rule
    }

    /// The rule that names this type, if one does.
    pub(crate) fn named_rule(&self, ty: &str) -> Option<&TypeRule> {
        // Resolved identities carry their rule's own type string, which a pointer check finds;
        // a request's type is compared by its ends first.
        self.rules.iter().find(|r| {
            let name = r.ty.as_str();
            std::ptr::eq(name, ty) || same_name(name, ty)
        })
    }

    /// The limit of a type, `None` when unlimited.
    pub fn limit(&self, ty: &str) -> Option<u32> {
        self.rule(ty).limit
    }

    /// The position of a type in the system priority; `None` for unranked types.
    pub fn rank(&self, ty: &str) -> Option<usize> {
        self.rule(ty).rank
    }

    /// Quarantines a value once this many distinct conflicting identities have been seen
    /// with it (`None` turns quarantine off). See [`IdentitySettings::quarantine_after`].
    ///
    /// The threshold is at least 2. With 1, sending a request again, after one of its
    /// identities was refused for a limit, would quarantine the identities the first send
    /// linked: the refused one is a contradiction of their customer. From 2 on, one request,
    /// however often sent, brings the same contradiction and counts once.
    pub fn with_quarantine(mut self, after: Option<u32>) -> Result<Self> {
        if after.is_some_and(|n| n < 2) {
            return Err(Error::InvalidSettings(
                "quarantine threshold must be at least 2".into(),
            ));
        }
        self.quarantine_after = after;
        Ok(self)
    }

    /// The defence against placeholders that are on no blocklist (a clerk's phone typed for
    /// every walk-in, a shared kiosk account): a value `v` owned by customer `C` that arrives
    /// in a request together with an identity `w` that contradicts `C` is evidence that `v`
    /// is shared by different people. `w` contradicts `C` when `w`'s limit forbids `C` another
    /// value of its type and scope, or when `w` is another customer's and `C` already holds a
    /// value of its type and scope (two people, each known by their own value, meeting at
    /// `v`). A value nobody holds, of a type whose limit allows it, is no evidence: a real
    /// person gains new phones and devices over time. Once `v` has been seen with this many *distinct* such `w`, it is quarantined: it
    /// matches and links nobody from then on (it stays with `C`, and is reported as
    /// [`RejectReason::Quarantined`](crate::RejectReason::Quarantined)). Counting distinct
    /// `w` keeps a repeated request idempotent. Default `Some(3)`; `None` when unrestricted.
    pub fn quarantine_after(&self) -> Option<u32> {
        self.quarantine_after
    }

    /// Whether any type has a limit.
    pub fn has_limits(&self) -> bool {
        self.rules.iter().any(|r| r.limit.is_some())
    }

    /// Normalizes a value of a type, or says why it is invalid.
    pub fn normalize(&self, ty: &str, raw: &str) -> Result<String, String> {
        let mut out = String::new();
        self.rule(ty).normalizer.normalize(raw, &mut out)?;
        Ok(out)
    }

    /// Whether a value (as sent, or normalized) is blocked for a type.
    pub fn is_blocked(&self, ty: &str, value: &str) -> bool {
        self.rule_blocks(self.rule(ty), value.trim())
    }

    /// Whether `value` is blocked for `rule`'s type (by any list).
    #[inline]
    pub(crate) fn rule_blocks(&self, rule: &TypeRule, value: &str) -> bool {
        self.blocked_any.contains(value) || rule.blocked.contains(value)
    }

    /// Whether [`rule_blocks`](Self::rule_blocks) could hold for some value `len` bytes long.
    #[inline]
    pub(crate) fn rule_may_block_length(&self, rule: &TypeRule, len: usize) -> bool {
        self.blocked_any.may_hold_length(len) || rule.blocked.may_hold_length(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blocked value blocks every spelling of it: it is kept in its normalized form too,
    /// whichever of the builders comes first.
    #[test]
    fn blocked_values_block_every_spelling() {
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
        let s = IdentitySettings::default()
            .with_blocked("mobile", ["+86 138-0000-1111"])
            .and_then(|s| s.with_blocked("email", ["Émile@Shop.cn"]))
            .and_then(|s| s.with_blocked("member-id", ["m-ü1"]))
            .and_then(|s| s.with_normalizer("member-id", Upper))
            .and_then(|s| s.with_normalizer("card", Upper))
            .and_then(|s| s.with_blocked_for_all(["+86 139-0000-2222", "ünknown"]))
            .unwrap();
        for (ty, spellings) in [
            (
                "mobile",
                &["+86 138-0000-1111", "13800001111", "0086 13800001111"][..],
            ),
            ("mobile", &["13900002222", "+86 139 0000 2222"]),
            ("email", &["Émile@Shop.cn", "émile@shop.cn", "ÉMILE@SHOP.CN"]),
            ("member-id", &["m-ü1", "M-Ü1"]),
            ("card", &["ünknown", "ÜNKNOWN"]),
        ] {
            for v in spellings {
                let normalized = s.normalize(ty, v).unwrap();
                assert!(s.is_blocked(ty, v) || s.is_blocked(ty, &normalized), "{ty} {v:?}");
                assert!(s.is_blocked(ty, &normalized), "{ty} {v:?} as {normalized:?}");
            }
        }
        assert!(!s.is_blocked("mobile", "13800001112"));
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = IdentitySettings::default();
        assert_eq!(s.limit("wechat-unionid"), Some(1));
        assert_eq!(s.limit("idcard"), Some(1));
        assert_eq!(s.limit("mobile"), None);
        assert_eq!(s.rank("wechat-unionid"), Some(0));
        assert_eq!(s.rank("wechat"), Some(4));
        assert_eq!(s.rank("member-id"), None);
        assert!(s.is_blocked("mobile", "13800000000"));
        assert!(s.is_blocked("email", " NULL "));
        assert!(!s.is_blocked("email", "a@b.c"));
        assert_eq!(s.merge_rule(Field::Balance), MergeRule::Sum);
        assert_eq!(s.merge_rule(Field::Name), MergeRule::KeepTarget);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(IdentitySettings::default().with_limit("mobile", Some(0)).is_err());
        assert!(IdentitySettings::default().with_limit("Mobile", Some(1)).is_err());
        assert!(
            IdentitySettings::default()
                .with_priority(["mobile", "mobile"])
                .is_err()
        );
        assert!(
            IdentitySettings::default()
                .with_merge_rule(Field::Name, MergeRule::Sum)
                .is_err()
        );
    }

    #[test]
    fn unrestricted_has_no_limits_or_blocks() {
        let s = IdentitySettings::unrestricted();
        assert!(!s.has_limits());
        assert!(!s.is_blocked("mobile", "13800000000"));
    }
}
