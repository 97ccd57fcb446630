//! The bounds on a customer's data ([`crate::limits`]), checked where data comes in: by the
//! readers of the sources' JSON, by the engine for patches and updates built in code, and for
//! what a customer would hold after a patch, an update or a merge.
//!
//! Every store keeps what these allow, and no later read of a customer costs more than they
//! allow: without them one 100 MB value made every read of its customer slow.

use super::json;
use crate::error::{Error, Result};
use crate::limits::{
    MAX_ATTR_DEPTH, MAX_ATTR_DISPLAY_NAME_CHARS, MAX_ATTR_NAME_CHARS, MAX_ATTR_VALUE_BYTES, MAX_ATTRS,
    MAX_CAUSE_CHARS, MAX_GROUPS, MAX_TAG_CHARS, MAX_TAGS,
};
use serde_json::Value;

/// Whether `text` has more than `most` characters, counted only when its bytes could be
/// too many (a character takes one to four).
pub(crate) fn more_chars_than(text: &str, most: usize) -> bool {
    text.len() > most && text.chars().count() > most
}

/// Refuses a list of more than `most` items, as sent (`what` names them in the message).
pub(crate) fn check_count(field: &str, count: usize, most: usize, what: &str) -> Result<()> {
    if count > most {
        Err(Error::field(
            field,
            format!("a list holds at most {most} {what}, this one {count}"),
        ))
    } else {
        Ok(())
    }
}

/// Refuses a cause that holds a NUL or is longer than [`MAX_CAUSE_CHARS`].
pub(crate) fn check_cause(cause: &str) -> Result<()> {
    if cause.contains('\0') {
        Err(Error::field("cause", "a cause must not contain NUL"))
    } else if more_chars_than(cause, MAX_CAUSE_CHARS) {
        Err(Error::field(
            "cause",
            format!("a cause has at most {MAX_CAUSE_CHARS} characters"),
        ))
    } else {
        Ok(())
    }
}

/// Refuses a tag that holds a NUL, which no database keeps in text, or is longer than
/// [`MAX_TAG_CHARS`]: checked before any store sees it, so that every store behaves alike.
pub(crate) fn check_tag(tag: &str) -> Result<()> {
    if tag.contains('\0') {
        Err(Error::field(
            "tags",
            format!("a tag must not contain NUL, got {tag:?}"),
        ))
    } else if more_chars_than(tag, MAX_TAG_CHARS) {
        Err(Error::field(
            "tags",
            format!("a tag has at most {MAX_TAG_CHARS} characters"),
        ))
    } else {
        Ok(())
    }
}

/// Refuses a tag list of more than [`MAX_TAGS`] tags, or one with a tag [`check_tag`] refuses.
pub(crate) fn check_tags<T: AsRef<str>>(tags: &[T]) -> Result<()> {
    check_count("tags", tags.len(), MAX_TAGS, "tags")?;
    tags.iter().try_for_each(|t| check_tag(t.as_ref()))
}

/// Refuses a group list of more than [`MAX_GROUPS`] groups.
pub(crate) fn check_groups(groups: &[i64]) -> Result<()> {
    check_count("groupIds", groups.len(), MAX_GROUPS, "groups")
}

/// Refuses an extended-attribute name that is empty (or only whitespace) or longer than
/// [`MAX_ATTR_NAME_CHARS`].
pub(crate) fn check_attr_name(name: &str) -> Result<()> {
    let reason = if name.trim().is_empty() {
        "it is empty".to_string()
    } else if more_chars_than(name, MAX_ATTR_NAME_CHARS) {
        format!("it is longer than {MAX_ATTR_NAME_CHARS} characters")
    } else {
        return Ok(());
    };
    Err(Error::InvalidAttributeName {
        name: name.to_string(),
        reason,
    })
}

/// Refuses an extended attribute's value whose JSON text is larger than
/// [`MAX_ATTR_VALUE_BYTES`]. The value must nest at most
/// [`MAX_JSON_DEPTH`](crate::limits::MAX_JSON_DEPTH) levels (readers check that first).
pub(crate) fn check_attr_size(key: &str, value: &Value) -> Result<()> {
    if json::text_longer_than(value, MAX_ATTR_VALUE_BYTES) {
        Err(Error::field(
            key,
            format!("an extended attribute's value has at most {MAX_ATTR_VALUE_BYTES} bytes of JSON"),
        ))
    } else {
        Ok(())
    }
}

/// Refuses an extended attribute's display name longer than
/// [`MAX_ATTR_DISPLAY_NAME_CHARS`].
pub(crate) fn check_attr_display_name(key: &str, name: Option<&str>) -> Result<()> {
    match name {
        Some(name) if more_chars_than(name, MAX_ATTR_DISPLAY_NAME_CHARS) => Err(Error::field(
            key,
            format!(
                "an extended attribute's display name has at most {MAX_ATTR_DISPLAY_NAME_CHARS} characters"
            ),
        )),
        _ => Ok(()),
    }
}

/// Refuses an extended attribute whose name [`check_attr_name`] refuses, whose value nests
/// deeper than [`MAX_ATTR_DEPTH`] (checked first, without recursing, however deep it is) or
/// is larger than [`MAX_ATTR_VALUE_BYTES`], or whose display name is too long.
pub(crate) fn check_attr(key: &str, name: Option<&str>, value: &Value) -> Result<()> {
    check_attr_name(key)?;
    if json::nests_deeper_than(value, MAX_ATTR_DEPTH) {
        return Err(Error::field(
            key,
            format!("an extended attribute may nest arrays and objects {MAX_ATTR_DEPTH} levels deep at most"),
        ));
    }
    check_attr_size(key, value)?;
    check_attr_display_name(key, name)
}

/// Refuses more than [`MAX_ATTRS`] extended attributes, or one [`check_attr`] refuses: each
/// given as its key, display name and value.
pub(crate) fn check_attrs<'a>(
    attrs: impl ExactSizeIterator<Item = (&'a str, Option<&'a str>, &'a Value)>,
) -> Result<()> {
    check_count("attr", attrs.len(), MAX_ATTRS, "extended attributes")?;
    for (key, name, value) in attrs {
        check_attr(key, name, value)?;
    }
    Ok(())
}

/// Refuses what would leave a customer holding more extended attributes, tags or groups than
/// a customer may (a patch, an update or tags added to what it holds), given how many of each
/// it would hold.
pub(crate) fn check_held(attrs: usize, tags: usize, groups: usize) -> Result<()> {
    for (field, held, most, what) in [
        ("attr", attrs, MAX_ATTRS, "extended attributes"),
        ("tags", tags, MAX_TAGS, "tags"),
        ("groupIds", groups, MAX_GROUPS, "groups"),
    ] {
        if held > most {
            return Err(Error::field(
                field,
                format!("a customer holds at most {most} {what}; this would leave it {held}"),
            ));
        }
    }
    Ok(())
}
