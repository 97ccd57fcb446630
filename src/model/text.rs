//! The text of a field value or an identity value.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// The text of a [`FieldValue`](crate::FieldValue) or of an identity's value
/// ([`Identity::identity_value`](crate::Identity::identity_value)): an immutable string
/// that keeps a short text (up to 23 bytes, as names, cities, phone numbers and most emails
/// are) in place and shares a longer one, so that making one from a record allocates
/// nothing for the usual values and cloning one never copies a long text. It reads as a
/// `&str`.
///
/// ```
/// use oneid::{FieldValue, Text};
/// let name = Text::from("李雷");
/// assert_eq!(name, "李雷");
/// assert_eq!(name.len(), 6);
/// assert_eq!(FieldValue::Text("李雷".into()).as_str(), Some("李雷"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(smol_str::SmolStr);

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Self(smol_str::SmolStr::new(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self(smol_str::SmolStr::from(s))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Self::from(s.as_str())
    }
}

impl From<std::borrow::Cow<'_, str>> for Text {
    fn from(s: std::borrow::Cow<'_, str>) -> Self {
        match s {
            std::borrow::Cow::Borrowed(s) => Self::from(s),
            std::borrow::Cow::Owned(s) => Self::from(s),
        }
    }
}

impl From<Box<str>> for Text {
    fn from(s: Box<str>) -> Self {
        Self(smol_str::SmolStr::from(s))
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0.into()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from(<std::borrow::Cow<'de, str>>::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn short_and_long_texts_read_back_and_compare_as_str() {
        for s in ["", "深圳", "u0.18b8f@qq.com", &"长".repeat(40)] {
            let t = Text::from(s);
            assert_eq!(t.as_str(), s);
            assert_eq!(t, s);
            assert_eq!(t.clone(), Text::from(s.to_string()));
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                serde_json::to_string(s).unwrap()
            );
            let back: Text = serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap();
            assert_eq!(back, t);
            assert_eq!(format!("{t} {t:?}"), format!("{s} {s:?}"));
        }
        let (a, b) = (Text::from("a"), Text::from("b"));
        assert!(a < b);
    }
}
