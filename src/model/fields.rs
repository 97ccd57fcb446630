//! The well-known customer fields of the source systems, and their typed values.
//!
//! [`Field`] is the union of the customer fields of the four sources (002's names where 002
//! has the field; the other sources' spellings are accepted as aliases, e.g. 001 `district`
//! is [`Field::County`], 000 `wechatNickname` is [`Field::NickName`]). Each field has a
//! [`FieldKind`] that type-checks what is stored in it, and [`Fields`] is the compact,
//! sorted set of the fields a customer actually has.

use super::Text;
use crate::error::{Error, Result};
use crate::limits::{MAX_CONTACT_FIELD_CHARS, MAX_TEXT_FIELD_CHARS, STORABLE_YEARS};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use serde::{Serialize, Serializer};
use std::fmt;

/// What a field holds; decides how a value is checked and coerced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldKind {
    /// Free text.
    Text,
    /// `true`/`false`; the sources' `0`/`1` and `"true"`/`"false"` are accepted.
    Bool,
    /// A 64-bit integer.
    Int,
    /// `0` unknown, `1` male, `2` female; 000's `"unknown"`, `"male"`, `"female"` accepted.
    Gender,
    /// A decimal number, kept exactly as its text (e.g. `annualRevenue`).
    Decimal,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A UTC instant, RFC 3339 (`2017-06-01T12:12:12Z`).
    Timestamp,
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal : $kind:ident $(| $alias:literal)* ;)*) => {
        /// A well-known customer field. Extended (custom) attributes are kept apart, in
        /// [`Customer::attrs`](crate::Customer::attrs).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Field {
            $( $(#[$doc])* $variant, )*
        }

        impl Field {
            /// Every field, in declaration order.
            pub const ALL: &'static [Field] = &[$(Field::$variant,)*];

            /// The field's camelCase name in the sources' JSON.
            pub const fn name(self) -> &'static str {
                match self { $(Field::$variant => $name,)* }
            }

            /// What the field holds.
            pub const fn kind(self) -> FieldKind {
                match self { $(Field::$variant => FieldKind::$kind,)* }
            }

            /// Looks a field up by its name or by another source's spelling of it.
            ///
            /// ```
            /// use oneid::Field;
            /// assert_eq!(Field::from_name("district"), Some(Field::County));
            /// assert_eq!(Field::from_name("nickName"), Some(Field::NickName));
            /// assert_eq!(Field::from_name("attr1"), None);
            /// ```
            pub fn from_name(name: &str) -> Option<Field> {
                match name {
                    $($name $(| $alias)* => Some(Field::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

fields! {
    /// Name (姓名).
    Name = "name": Text;
    /// Nickname, e.g. the WeChat nickname.
    NickName = "nickName": Text | "wechatNickname" | "nickname";
    /// Avatar URL.
    Img = "img": Text | "headImg" | "headimg" | "wechatHeadimgurl";
    /// 0 unknown, 1 male, 2 female.
    Gender = "gender": Gender | "sex";
    /// Mobile number as the customer gave it.
    Mobile = "mobile": Text | "tel" | "telnum";
    /// Whether the mobile number is verified.
    MobileVerified = "mobileVerified": Bool;
    /// Email address.
    Email = "email": Text;
    /// Whether the email is verified.
    EmailVerified = "emailVerified": Bool;
    /// Birthday.
    Birthday = "birthday": Date;
    /// WeChat account name (微信号), not the openid.
    Wechat = "wechat": Text;
    /// Country.
    Country = "country": Text;
    /// Province.
    Province = "province": Text;
    /// City.
    City = "city": Text;
    /// County or district (001 `district`).
    County = "county": Text | "district";
    /// Home address (000 `address`).
    HomeAddress = "homeAddress": Text | "address";
    /// Office address.
    OfficeAddress = "officeAddress": Text;
    /// Detailed location (001 `location`).
    Location = "location": Text;
    /// QQ number.
    Qq = "qq": Text;
    /// Weibo account.
    Weibo = "weibo": Text;
    /// Lifecycle stage.
    Stage = "stage": Text;
    /// When the customer joined (for WeChat fans: when they followed).
    DateJoin = "dateJoin": Timestamp;
    /// Initial source.
    Source = "source": Text;
    /// Content of the initial source.
    ContentName = "contentName": Text;
    /// Company.
    Company = "company": Text;
    /// Job title (001 `position`).
    Title = "title": Text | "position";
    /// Company industry.
    Industry = "industry": Text;
    /// Company head count.
    EmployeeNumber = "employeeNumber": Int;
    /// Company annual revenue.
    AnnualRevenue = "annualRevenue": Decimal;
    /// Company website.
    Website = "website": Text;
    /// Landline.
    Telephone = "telephone": Text;
    /// Whether the customer is an employee.
    IsEmployee = "isEmployee": Bool;
    /// Whether the customer is a member.
    IsMember = "isMember": Bool;
    /// Marketing campaign id.
    CampaignId = "campaignId": Text;
    /// Marketing campaign name.
    CampaignName = "campaignName": Text;
    /// How the customer was created (e.g. `ImportFromExternalSystem`).
    CreateMethod = "createMethod": Text;
    /// Owner (sales rep) id; 001 `chargeId`.
    OwnerId = "ownerId": Text | "chargeId";
    /// Owner (sales rep) name.
    OwnerName = "ownerName": Text;
    /// Referrer id (000 `fromReferrer`, its `id` when an object).
    Referrer = "referrer": Text | "fromReferrer";
    /// Referrer name.
    ReferrerName = "referrerName": Text;
    /// Acquisition channel (000 `fromChannel`, its `id` when an object).
    Channel = "channel": Text | "fromChannel";
    /// Acquisition activity (000 `fromActivity`, its `id` when an object).
    Activity = "activity": Text | "fromActivity";
    /// WeChat follow source.
    SubscribeSource = "subscribeSource": Text;
    /// WeChat language.
    Language = "language": Text;
    /// Hobby.
    Hobby = "hobby": Text;
    /// Shop id (000); the shop acts as a tenant, this keeps the shop the customer came from.
    ShopId = "shopId": Text;
    /// Medical record number (000).
    Mrn = "mrn": Text;
    /// National id card number (000).
    Idcard = "idcard": Text;
    /// Member id in an ERP (003 `erpId`).
    ErpId = "erpId": Text;
    /// Account balance in fen (000).
    Balance = "balance": Int;
    /// Loyalty credit (000 `credit`, 003 `points`).
    Credit = "credit": Int | "points";
    /// Last sign-in (000 `LastSigninAt`).
    LastSigninAt = "lastSigninAt": Timestamp | "LastSigninAt";
    /// Free-text remark.
    Remark = "remark": Text;
    /// Acquisition activity name (the `name` of 000's `fromActivity` object).
    ActivityName = "activityName": Text;
    /// Acquisition channel name (the `name` of 000's `fromChannel` object; 003 `channelName`).
    ChannelName = "channelName": Text;
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Field::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown field {name:?}")))
    }
}

/// A typed field value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldValue {
    /// Text.
    Text(Text),
    /// Boolean.
    Bool(bool),
    /// Integer (also gender 0/1/2).
    Int(i64),
    /// Decimal number as its exact text.
    Decimal(Text),
    /// Calendar date.
    Date(NaiveDate),
    /// UTC instant.
    Timestamp(DateTime<Utc>),
}

impl FieldValue {
    /// The text, if this is a text value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s) | FieldValue::Decimal(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            FieldValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// This value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            FieldValue::Text(s) => Value::String(s.to_string()),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Int(i) => Value::from(*i),
            // Exact text: a decimal never passes through f64.
            FieldValue::Decimal(s) => Value::String(s.to_string()),
            FieldValue::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            FieldValue::Timestamp(t) => Value::String(format_timestamp(t)),
        }
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Text(v) | FieldValue::Decimal(v) => s.serialize_str(v),
            FieldValue::Bool(b) => s.serialize_bool(*b),
            FieldValue::Int(i) => s.serialize_i64(*i),
            FieldValue::Date(d) => s.collect_str(&d.format("%Y-%m-%d")),
            FieldValue::Timestamp(t) => s.serialize_str(&format_timestamp(t)),
        }
    }
}

/// RFC 3339 with a `Z`, to the second when there are no fractions (the sources' format).
pub(crate) fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses the timestamp spellings the sources use: RFC 3339, a naive
/// `YYYY-MM-DDTHH:MM:SS` / `YYYY-MM-DD HH:MM:SS` taken as UTC (002's query format), or a plain
/// `YYYY-MM-DD` taken as midnight UTC.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    utc_seconds(s).or_else(|| parse_any_spelling(s))
}

/// [`parse_timestamp`] of a trimmed string, through chrono's parsers.
fn parse_any_spelling(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    // A plain date (000 types `LastSigninAt` as a date): midnight UTC.
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Whether a year can be stored (see [`STORABLE_YEARS`]).
pub(crate) fn storable_year(year: i32) -> bool {
    STORABLE_YEARS.contains(&year)
}

/// Refuses an instant outside the years every store can keep.
pub(crate) fn check_storable_time(name: &str, t: &DateTime<Utc>) -> Result<()> {
    if storable_year(t.year()) {
        Ok(())
    } else {
        Err(Error::field(
            name,
            format!("{t} is outside {}", crate::limits::storable_years_text()),
        ))
    }
}

/// The spelling exports use most, `YYYY-MM-DDTHH:MM:SSZ`, read directly (chrono's general
/// parser costs several times more); `None` for anything else, which chrono's parsers then
/// read, leap seconds included.
fn utc_seconds(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    const DIGITS: [usize; 14] = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    if !DIGITS.iter().all(|&i| b[i].is_ascii_digit()) {
        return None;
    }
    let two = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    let date = NaiveDate::from_ymd_opt((two(0) * 100 + two(2)) as i32, two(5), two(8))?;
    Some(date.and_hms_opt(two(11), two(14), two(17))?.and_utc())
}

fn parse_bool(v: &serde_json::Value) -> Option<bool> {
    use serde_json::Value;
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn parse_int(v: &serde_json::Value) -> Option<i64> {
    use serde_json::Value;
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(s.contains('.') && frac.is_empty())
}

impl Field {
    /// Type-checks a JSON value for this field and converts it. `Ok(None)` for JSON `null`
    /// (no value). The sources' spellings are accepted: `0`/`1` for booleans,
    /// `"male"`/`"female"`/`"unknown"` for gender, numbers given as strings.
    ///
    /// ```
    /// use oneid::{Field, FieldValue};
    /// use serde_json::json;
    /// assert_eq!(Field::Gender.parse_json(&json!("female")).unwrap(), Some(FieldValue::Int(2)));
    /// assert_eq!(Field::MobileVerified.parse_json(&json!(1)).unwrap(), Some(FieldValue::Bool(true)));
    /// assert!(Field::Gender.parse_json(&json!(7)).is_err());
    /// ```
    pub fn parse_json(self, v: &serde_json::Value) -> Result<Option<FieldValue>> {
        use serde_json::Value;
        if v.is_null() {
            return Ok(None);
        }
        let bad = |why: &str| Error::field(self.name(), format!("{why}, got {}", super::json::preview(v)));
        let value = match self.kind() {
            FieldKind::Text => match v {
                // Databases cannot keep NUL in text; nobody needs it in a customer field.
                Value::String(s) if s.contains('\0') => return Err(bad("text must not contain NUL")),
                Value::String(s) if self.too_long(s) => return Err(bad(&self.too_long_reason())),
                Value::String(s) => FieldValue::Text(s.as_str().into()),
                // Ids such as 001's int `campaignId` are text here.
                Value::Number(n) => FieldValue::Text(n.to_string().into()),
                _ => return Err(bad("expected text")),
            },
            FieldKind::Bool => {
                FieldValue::Bool(parse_bool(v).ok_or_else(|| bad("expected true/false or 0/1"))?)
            }
            FieldKind::Int => FieldValue::Int(parse_int(v).ok_or_else(|| bad("expected an integer"))?),
            FieldKind::Gender => {
                let g = match v {
                    Value::String(s) => match s.trim() {
                        "male" | "MALE" => Some(1),
                        "female" | "FEMALE" => Some(2),
                        "unknown" | "UNKNOWN" | "" => Some(0),
                        other => other.parse().ok(),
                    },
                    _ => parse_int(v),
                };
                match g {
                    Some(g @ 0..=2) => FieldValue::Int(g),
                    _ => return Err(bad("expected gender 0, 1 or 2 (or male/female/unknown)")),
                }
            }
            FieldKind::Decimal => {
                let text = match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.trim().to_string(),
                    _ => return Err(bad("expected a decimal number")),
                };
                if self.too_long(&text) {
                    return Err(bad(&self.too_long_reason()));
                }
                if !is_decimal(&text) {
                    return Err(bad("expected a decimal number"));
                }
                FieldValue::Decimal(text.into())
            }
            FieldKind::Date => {
                let s = v
                    .as_str()
                    .ok_or_else(|| bad("expected a date YYYY-MM-DD"))?
                    .trim();
                let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .or_else(|| parse_timestamp(s).map(|t| t.date_naive()))
                    .ok_or_else(|| bad("expected a date YYYY-MM-DD"))?;
                if !storable_year(date.year()) {
                    return Err(bad(&format!(
                        "expected a date in {}",
                        crate::limits::storable_years_text()
                    )));
                }
                FieldValue::Date(date)
            }
            FieldKind::Timestamp => {
                let s = v.as_str().ok_or_else(|| bad("expected an RFC 3339 timestamp"))?;
                let t = parse_timestamp(s).ok_or_else(|| bad("expected an RFC 3339 timestamp"))?;
                if !storable_year(t.year()) {
                    return Err(bad(&format!(
                        "expected a timestamp in {}",
                        crate::limits::storable_years_text()
                    )));
                }
                FieldValue::Timestamp(t)
            }
        };
        Ok(Some(value))
    }

    /// The most characters a text (or decimal) of this field may have: 128 for the contact
    /// fields, which can be matched as identities, [`MAX_TEXT_FIELD_CHARS`] for the others.
    fn longest(self) -> usize {
        match self {
            Field::Mobile | Field::Email => MAX_CONTACT_FIELD_CHARS,
            _ => MAX_TEXT_FIELD_CHARS,
        }
    }

    /// Whether a text (or a decimal's text) is too long for this field.
    pub(crate) fn too_long(self, text: &str) -> bool {
        super::bounds::more_chars_than(text, self.longest())
    }

    fn too_long_reason(self) -> String {
        format!("text longer than {} characters", self.longest())
    }

    /// Checks that a typed value fits this field (a `Text` in a `Gender` field does not).
    pub fn check(self, value: &FieldValue) -> Result<()> {
        if let FieldValue::Text(t) | FieldValue::Decimal(t) = value
            && self.too_long(t)
        {
            return Err(Error::field(self.name(), self.too_long_reason()));
        }
        let ok = match (self.kind(), value) {
            // Texts are short: a byte loop beats a call to `memchr`.
            (FieldKind::Text, FieldValue::Text(t)) => !t.bytes().any(|b| b == 0),
            (FieldKind::Text, _) => false,
            (FieldKind::Bool, FieldValue::Bool(_)) | (FieldKind::Int, FieldValue::Int(_)) => true,
            (FieldKind::Date, FieldValue::Date(d)) => storable_year(d.year()),
            (FieldKind::Timestamp, FieldValue::Timestamp(t)) => storable_year(t.year()),
            (FieldKind::Gender, FieldValue::Int(g)) => (0..=2).contains(g),
            (FieldKind::Decimal, FieldValue::Decimal(s)) => is_decimal(s),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::field(
                self.name(),
                format!("value {value:?} does not fit a {:?} field", self.kind()),
            ))
        }
    }
}

/// The well-known fields a customer has: a compact set of `(Field, FieldValue)` sorted by
/// field. Absent fields take no space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(Field, FieldValue)>);

impl Fields {
    /// No fields.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of a field, if present.
    pub fn get(&self, field: Field) -> Option<&FieldValue> {
        self.0
            .binary_search_by_key(&field, |(f, _)| *f)
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// The text of a text field, if present.
    pub fn text(&self, field: Field) -> Option<&str> {
        self.get(field).and_then(FieldValue::as_str)
    }

    /// Sets a field after type-checking the value; returns the previous value.
    pub fn set(&mut self, field: Field, value: FieldValue) -> Result<Option<FieldValue>> {
        field.check(&value)?;
        Ok(self.insert_unchecked(field, value))
    }

    /// A set from pairs already sorted by field, without duplicates (as a store packed them).
    pub(crate) fn from_sorted_unchecked(pairs: Vec<(Field, FieldValue)>) -> Self {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        Self(pairs)
    }

    /// Sets a field whose value the caller has type-checked; returns the previous value.
    pub(crate) fn insert_unchecked(&mut self, field: Field, value: FieldValue) -> Option<FieldValue> {
        // Fields mostly arrive in order: one past the last is appended without a search.
        if self.0.last().is_none_or(|(last, _)| *last < field) {
            self.0.push((field, value));
            return None;
        }
        match self.0.binary_search_by_key(&field, |(f, _)| *f) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (field, value));
                None
            }
        }
    }

    /// Removes a field; returns its value.
    pub fn remove(&mut self, field: Field) -> Option<FieldValue> {
        match self.0.binary_search_by_key(&field, |(f, _)| *f) {
            Ok(i) => Some(self.0.remove(i).1),
            Err(_) => None,
        }
    }

    /// The fields present, in field order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Field, &FieldValue)> + '_ {
        self.0.iter().map(|(f, v)| (*f, v))
    }

    /// Removes every field, keeping the memory for reuse (a reader that fills one patch per
    /// record need not allocate for each).
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// How many fields are present.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no field is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter().map(|(f, v)| (f.name(), v)))
    }
}

impl FromIterator<(Field, FieldValue)> for Fields {
    /// Builds a set from pairs; a later pair for the same field wins. Values are not
    /// type-checked here: use [`Fields::set`] for untrusted values.
    fn from_iter<I: IntoIterator<Item = (Field, FieldValue)>>(iter: I) -> Self {
        let mut fields = Fields::new();
        for (f, v) in iter {
            fields.insert_unchecked(f, v);
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_direct_reading_of_utc_seconds_agrees_with_chrono() {
        for s in [
            "2024-03-28T13:09:34Z",
            "2024-02-29T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-12-31T23:59:59Z",
            "2024-06-30T23:59:60Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "0000-01-01T00:00:00Z",
            "2024-1a-01T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00z",
        ] {
            // Read directly or not, what chrono's parsers read.
            assert_eq!(parse_timestamp(s), parse_any_spelling(s), "{s}");
        }
        assert!(
            utc_seconds("2024-03-28T13:09:34Z").is_some(),
            "the usual spelling is read directly"
        );
        assert!(
            utc_seconds("2024-06-30T23:59:60Z").is_none(),
            "leap seconds are chrono's"
        );
        // Every day of four centuries (leap rules and all) and every field's bounds, read
        // directly and by chrono.
        use chrono::Datelike;
        let mut day = NaiveDate::from_ymd_opt(1899, 12, 25).unwrap();
        while day < NaiveDate::from_ymd_opt(2301, 1, 6).unwrap() {
            let s = format!(
                "{}T{:02}:{:02}:{:02}Z",
                day,
                day.ordinal() % 24,
                day.day() % 60,
                day.month() * 4
            );
            assert_eq!(utc_seconds(&s), parse_any_spelling(&s), "{s}");
            day = day.succ_opt().unwrap();
        }
        for s in [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2100-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2024-00-10T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-01-01T23:59:60Z",
            "2024-01-01T00:00:0aZ",
        ] {
            assert_eq!(
                utc_seconds(s).or_else(|| parse_any_spelling(s)),
                parse_any_spelling(s),
                "{s}"
            );
        }
    }

    #[test]
    fn names_round_trip_and_aliases_resolve() {
        for f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(*f));
        }
        assert_eq!(Field::from_name("position"), Some(Field::Title));
        assert_eq!(Field::from_name("wechatHeadimgurl"), Some(Field::Img));
    }

    #[test]
    fn values_are_type_checked() {
        assert!(Field::Birthday.parse_json(&json!("2020-13-01")).is_err());
        assert_eq!(
            Field::Birthday.parse_json(&json!("2020-01-01")).unwrap(),
            Some(FieldValue::Date(NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()))
        );
        assert!(Field::AnnualRevenue.parse_json(&json!("12.5x")).is_err());
        assert_eq!(
            Field::AnnualRevenue.parse_json(&json!(1200.50)).unwrap(),
            Some(FieldValue::Decimal("1200.5".into()))
        );
        assert!(Field::Balance.parse_json(&json!("many")).is_err());
        assert!(Field::Name.parse_json(&json!({"a": 1})).is_err());
        assert_eq!(Field::Name.parse_json(&json!(null)).unwrap(), None);
    }

    #[test]
    fn fields_stay_sorted_and_unique() {
        let mut f = Fields::new();
        f.set(Field::City, FieldValue::Text("昆明".into())).unwrap();
        f.set(Field::Name, FieldValue::Text("a".into())).unwrap();
        let old = f.set(Field::Name, FieldValue::Text("b".into())).unwrap();
        assert_eq!(old, Some(FieldValue::Text("a".into())));
        assert_eq!(
            f.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            [Field::Name, Field::City]
        );
        assert!(f.set(Field::Gender, FieldValue::Int(3)).is_err());
    }
}
