//! Field updates: the resolve patch (never clears; the verified rule) and the reconciliation
//! of two customers' data when one is merged into the other.

use super::outcome::{Changed, ChangedField, RefusalReason};
use crate::limits::{MAX_ATTRS, MAX_GROUPS, MAX_TAGS};
use crate::model::{
    Customer, CustomerPatch, Field, FieldValue, adds_any, blank_attr, blank_field, unique, unite, united_len,
};
use crate::settings::{IdentitySettings, MergeRule};

/// The verified flag guarded by each contact field (002's rule: a `true` flag cannot become
/// `false` while the contact stays the same).
const VERIFIED: [(Field, Field); 2] = [
    (Field::MobileVerified, Field::Mobile),
    (Field::EmailVerified, Field::Email),
];

fn contact_unchanged(
    settings: &IdentitySettings,
    current: &Customer,
    patch: &CustomerPatch,
    contact: Field,
) -> bool {
    let Some(new) = patch.fields.text(contact) else {
        return true;
    };
    let Some(old) = current.fields.text(contact) else {
        return false;
    };
    if old == new {
        return true;
    }
    // `+86 138…` and `138…` are the same number: compare as identities when both normalize.
    let ty = if contact == Field::Mobile {
        "mobile"
    } else {
        "email"
    };
    matches!((settings.normalize(ty, old), settings.normalize(ty, new)), (Ok(a), Ok(b)) if a == b)
}

/// Whether the patch may write `value` into `field` of `current` (the verified rule).
pub(crate) fn verified_rule_allows(
    settings: &IdentitySettings,
    current: &Customer,
    patch: &CustomerPatch,
    field: Field,
    value: &FieldValue,
) -> bool {
    let Some(&(_, contact)) = VERIFIED.iter().find(|(flag, _)| *flag == field) else {
        return true;
    };
    let lowering = value.as_bool() == Some(false)
        && current.fields.get(field).and_then(FieldValue::as_bool) == Some(true);
    !(lowering && contact_unchanged(settings, current, patch, contact))
}

/// What a never-clearing patch would change on `current`, without copying anything, added
/// to `changed`.
pub(crate) fn patch_changes(
    settings: &IdentitySettings,
    current: &Customer,
    patch: &CustomerPatch,
    changed: &mut Changed,
) {
    for (field, value) in patch.fields.iter() {
        if !blank_field(value)
            && current.fields.get(field) != Some(value)
            && verified_rule_allows(settings, current, patch, field, value)
        {
            changed.push(ChangedField::Field(field));
        }
    }
    for (key, attr) in &patch.attrs {
        if !blank_attr(attr) && current.attrs.get(key) != Some(attr) {
            changed.push(ChangedField::Attr(key.clone()));
        }
    }
    if adds_any(&current.tags, &patch.tags) {
        changed.push(ChangedField::Tags);
    }
    if adds_any(&current.groups, &patch.groups) {
        changed.push(ChangedField::Groups);
    }
}

/// What `patch_changes` finds a patch would change on a customer with no data (without
/// building one): every field and attribute that is not blank, the tags, the groups.
pub(crate) fn new_patch_changes(patch: &CustomerPatch, changed: &mut Changed) {
    for (field, value) in patch.fields.iter() {
        if !blank_field(value) {
            changed.push(ChangedField::Field(field));
        }
    }
    for (key, attr) in &patch.attrs {
        if !blank_attr(attr) {
            changed.push(ChangedField::Attr(key.clone()));
        }
    }
    if !patch.tags.is_empty() {
        changed.push(ChangedField::Tags);
    }
    if !patch.groups.is_empty() {
        changed.push(ChangedField::Groups);
    }
}

/// Applies a never-clearing patch in place (blanks are ignored, see `blank_field`).
pub(crate) fn apply_patch(settings: &IdentitySettings, target: &mut Customer, patch: &CustomerPatch) {
    // Values the target already holds are left as they are, not copied over themselves:
    // a patch usually repeats most of what it sets.
    for (field, value) in patch.fields.iter() {
        if !blank_field(value)
            && target.fields.get(field) != Some(value)
            && verified_rule_allows(settings, target, patch, field, value)
        {
            target.fields.insert_unchecked(field, value.clone());
        }
    }
    for (key, attr) in &patch.attrs {
        if !blank_attr(attr) && target.attrs.get(key) != Some(attr) {
            target.attrs.insert(key.clone(), attr.clone());
        }
    }
    unite(&mut target.tags, patch.tags.iter().cloned());
    unite(&mut target.groups, patch.groups.iter().copied());
}

/// Why `merged`'s data cannot be reconciled into `target`'s, if it cannot: a field summed by
/// its merge rule would overflow a 64-bit integer, or the two together would hold more
/// extended attributes, tags or groups than a customer may. Asked before [`reconcile`], so
/// that a merge is refused whole rather than made with a sum cut short or data dropped.
pub(crate) fn reconcile_refusal(
    settings: &IdentitySettings,
    target: &Customer,
    merged: &Customer,
) -> Option<RefusalReason> {
    for (field, value) in merged.fields.iter() {
        if settings.merge_rule(field) == MergeRule::Sum
            && let (Some(FieldValue::Int(a)), FieldValue::Int(b)) = (target.fields.get(field), value)
            && a.checked_add(*b).is_none()
        {
            return Some(RefusalReason::Overflow {
                field,
                target: *a,
                other: *b,
            });
        }
    }
    let attrs = target.attrs.len()
        + merged
            .attrs
            .keys()
            .filter(|k| !target.attrs.contains_key(*k))
            .count();
    if attrs > MAX_ATTRS {
        return Some(RefusalReason::TooManyAttributes { united: attrs });
    }
    // Most customers hold no tags or groups: nothing to count.
    if !merged.tags.is_empty() && target.tags.len() + merged.tags.len() > MAX_TAGS {
        let united = united_len(&target.tags, &merged.tags);
        if united > MAX_TAGS {
            return Some(RefusalReason::TooManyTags { united });
        }
    }
    if !merged.groups.is_empty() && target.groups.len() + merged.groups.len() > MAX_GROUPS {
        let united = united_len(&target.groups, &merged.groups);
        if united > MAX_GROUPS {
            return Some(RefusalReason::TooManyGroups { united });
        }
    }
    None
}

/// Reconciles `merged`'s data into `target` by the tenant's per-field rules, recording what
/// changed (a change may be recorded more than once: the plan keeps the first of each).
/// Nothing of `merged` that `target` lacks is lost: missing fields and attributes are filled,
/// tags and groups are united. [`reconcile_refusal`] has found nothing against it.
pub(crate) fn reconcile(
    settings: &IdentitySettings,
    target: &mut Customer,
    merged: &Customer,
    changed: &mut Changed,
) {
    let merged_is_newer = merged.updated > target.updated;
    for (field, value) in merged.fields.iter() {
        let current = target.fields.get(field);
        let new = match (settings.merge_rule(field), current) {
            (_, None) => Some(value.clone()),
            (MergeRule::KeepTarget, Some(_)) => None,
            (MergeRule::MostRecent, Some(cur)) => (merged_is_newer && cur != value).then(|| value.clone()),
            // An overflow refuses the merge before it is reconciled (`reconcile_refusal`).
            (MergeRule::Sum, Some(cur)) => match (cur, value) {
                (FieldValue::Int(a), FieldValue::Int(b)) if *b != 0 => a.checked_add(*b).map(FieldValue::Int),
                _ => None,
            },
        };
        if let Some(new) = new {
            target.fields.insert_unchecked(field, new);
            changed.push(ChangedField::Field(field));
        }
    }
    for (key, attr) in &merged.attrs {
        // Extended attributes keep the target's value and fill what it lacks.
        if !target.attrs.contains_key(key) {
            target.attrs.insert(key.clone(), attr.clone());
            changed.push(ChangedField::Attr(key.clone()));
        }
    }
    if unite(&mut target.tags, merged.tags.iter().cloned()) {
        changed.push(ChangedField::Tags);
    }
    if unite(&mut target.groups, merged.groups.iter().copied()) {
        changed.push(ChangedField::Groups);
    }
    target.created = target.created.min(merged.created);
}

/// Applies an update (set / clear / keep) in place, recording what changed. The verified
/// rule holds: a true flag is neither lowered nor cleared while its contact stays the same.
pub(crate) fn apply_update(
    settings: &IdentitySettings,
    target: &mut Customer,
    update: &crate::model::UpdatePatch,
) -> Vec<ChangedField> {
    use crate::model::Change;
    let mut changed = Vec::new();
    let contact_stays = |target: &Customer, contact: Field| match update.field(contact) {
        Change::Keep => true,
        Change::Clear => target.fields.get(contact).is_none(),
        Change::Set(new) => match (new.as_str(), target.fields.text(contact)) {
            (Some(new), Some(old)) => {
                let ty = if contact == Field::Mobile {
                    "mobile"
                } else {
                    "email"
                };
                new == old
                    || matches!((settings.normalize(ty, old), settings.normalize(ty, new)), (Ok(a), Ok(b)) if a == b)
            }
            _ => false,
        },
    };
    // Decided on the customer as it was, before any field of this update is applied.
    let protected: Vec<Field> = VERIFIED
        .iter()
        .filter(|(flag, contact)| {
            let lowering = !matches!(
                update.field(*flag),
                Change::Set(FieldValue::Bool(true)) | Change::Keep
            );
            let verified = target.fields.get(*flag).and_then(FieldValue::as_bool) == Some(true);
            lowering && verified && contact_stays(target, *contact)
        })
        .map(|(flag, _)| *flag)
        .collect();
    for (field, change) in &update.fields {
        if protected.contains(field) {
            continue;
        }
        let before = target.fields.get(*field).cloned();
        match change {
            Change::Keep => {}
            Change::Set(value) => {
                target.fields.insert_unchecked(*field, value.clone());
            }
            Change::Clear => {
                target.fields.remove(*field);
            }
        }
        if target.fields.get(*field) != before.as_ref() {
            changed.push(ChangedField::Field(*field));
        }
    }
    for (key, change) in &update.attrs {
        let before = target.attrs.get(key).cloned();
        match change {
            Change::Keep => {}
            Change::Set(attr) => {
                target.attrs.insert(key.clone(), attr.clone());
            }
            Change::Clear => {
                target.attrs.shift_remove(key);
            }
        }
        if target.attrs.get(key) != before.as_ref() {
            changed.push(ChangedField::Attr(key.clone()));
        }
    }
    if let Some(tags) = &update.tags {
        let new = unique(tags);
        if new != target.tags {
            target.tags = new;
            changed.push(ChangedField::Tags);
        }
    }
    if let Some(groups) = &update.groups {
        let new = unique(groups);
        if new != target.groups {
            target.groups = new;
            changed.push(ChangedField::Groups);
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CustomerId, ExtAttr, new_customer};

    #[test]
    fn new_customers_change_as_patch_changes_says() {
        let settings = IdentitySettings::default();
        let empty = Customer::new(CustomerId(1), chrono::DateTime::UNIX_EPOCH);
        let attr = |v: &str| ExtAttr {
            name: None,
            value: serde_json::json!(v),
        };
        let mut patches = vec![CustomerPatch::new()];
        let mut full = CustomerPatch::new()
            .with(Field::Name, "李雷")
            .unwrap()
            .with(Field::City, "")
            .unwrap()
            .with(Field::MobileVerified, false)
            .unwrap()
            .with(Field::Balance, 0_i64)
            .unwrap();
        full.attrs.insert("a".into(), attr("x"));
        full.attrs.insert("blank".into(), attr(""));
        full.tags = vec!["vip".into(), "vip".into()];
        full.groups = vec![3];
        patches.push(full);
        for patch in patches {
            let (mut expected, mut got) = (Changed::new(), Changed::new());
            patch_changes(&settings, &empty, &patch, &mut expected);
            new_patch_changes(&patch, &mut got);
            assert_eq!(got, expected);
            let mut applied = empty.clone();
            apply_patch(&settings, &mut applied, &patch);
            assert_eq!(new_customer(CustomerId(1), empty.created, &patch), applied);
        }
    }
}
