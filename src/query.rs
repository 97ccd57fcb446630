//! Customer queries: the filters of 001 `simpleQuery` and 002 `GET customers` /
//! `customers/count`, sorting and paging.
//!
//! A [`CustomerFilter`] is plain data so that SQL stores can push it down into a `WHERE`
//! clause instead of scanning; [`CustomerFilter::matches`] is its reference meaning, which the
//! in-memory store reads from its packed data and tests compare stores with.

use crate::model::{Customer, CustomerId, Field, FieldValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which customers a query or count selects. Every set criterion must hold (AND); unset
/// criteria select everything. Only live customers are ever selected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomerFilter {
    /// `dateCreated >= created_from` (inclusive).
    pub created_from: Option<DateTime<Utc>>,
    /// `dateCreated <= created_to` (inclusive).
    pub created_to: Option<DateTime<Utc>>,
    /// `lastUpdated >= updated_from` (inclusive).
    pub updated_from: Option<DateTime<Utc>>,
    /// `lastUpdated <= updated_to` (inclusive).
    pub updated_to: Option<DateTime<Utc>>,
    /// Substring of the mobile, the nickname or the name (001 `searchKey`).
    pub search: Option<String>,
    /// Member of this group.
    pub group: Option<i64>,
    /// Carries this tag.
    pub tag: Option<String>,
    /// Gender 0, 1 or 2 (0 also matches customers with no gender, as 002 reads "0 or empty").
    pub gender: Option<i64>,
    /// This stage; `Some("")` selects customers without a stage (002's `stage=_empty`).
    pub stage: Option<String>,
    /// This initial source.
    pub source: Option<String>,
    /// This mobile, exactly as stored.
    pub mobile: Option<String>,
    /// This email, exactly as stored.
    pub email: Option<String>,
    /// One of these ids (002 `idList`).
    pub ids: Option<Vec<CustomerId>>,
}

fn text_eq(c: &Customer, field: Field, want: &str) -> bool {
    c.fields.text(field) == Some(want)
}

impl CustomerFilter {
    /// Whether a live customer matches every set criterion.
    pub fn matches(&self, c: &Customer) -> bool {
        self.matches_but_ids(c) && self.ids.as_ref().is_none_or(|ids| ids.contains(&c.id))
    }

    /// Refuses a filter past its bounds, the same for every store: a search key longer than
    /// [`MAX_SEARCH_CHARS`](crate::limits::MAX_SEARCH_CHARS) (SQLite cannot match a pattern
    /// much longer), an id list of more than [`MAX_ID_LIST`](crate::limits::MAX_ID_LIST)
    /// distinct ids.
    pub(crate) fn check(&self) -> crate::Result<()> {
        if let Some(key) = &self.search
            && key.chars().count() > crate::limits::MAX_SEARCH_CHARS
        {
            return Err(crate::Error::field(
                "search",
                format!(
                    "a search key has at most {} characters",
                    crate::limits::MAX_SEARCH_CHARS
                ),
            ));
        }
        match &self.ids {
            Some(ids) => check_id_list(ids, "ids"),
            None => Ok(()),
        }
    }

    fn matches_but_ids(&self, c: &Customer) -> bool {
        if !c.is_active() {
            return false;
        }
        let in_range = |t: DateTime<Utc>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>| {
            from.is_none_or(|f| t >= f) && to.is_none_or(|e| t <= e)
        };
        in_range(c.created, self.created_from, self.created_to)
            && in_range(c.updated, self.updated_from, self.updated_to)
            && self.search.as_deref().is_none_or(|key| {
                [Field::Mobile, Field::NickName, Field::Name]
                    .iter()
                    .any(|f| c.fields.text(*f).is_some_and(|v| v.contains(key)))
            })
            && self.group.is_none_or(|g| c.groups.contains(&g))
            && self.tag.as_deref().is_none_or(|t| c.tags.iter().any(|x| x == t))
            && self.gender.is_none_or(|g| {
                let have = c
                    .fields
                    .get(Field::Gender)
                    .and_then(FieldValue::as_i64)
                    .unwrap_or(0);
                have == g
            })
            && self.stage.as_deref().is_none_or(|s| {
                if s.is_empty() {
                    c.fields.text(Field::Stage).is_none_or(str::is_empty)
                } else {
                    text_eq(c, Field::Stage, s)
                }
            })
            && self
                .source
                .as_deref()
                .is_none_or(|s| text_eq(c, Field::Source, s))
            && self
                .mobile
                .as_deref()
                .is_none_or(|s| text_eq(c, Field::Mobile, s))
            && self.email.as_deref().is_none_or(|s| text_eq(c, Field::Email, s))
    }
}

/// Refuses an id list naming more than [`MAX_ID_LIST`](crate::limits::MAX_ID_LIST) distinct
/// ids (`field` is the name the caller gave it). Repeats are not counted: they select nothing
/// more, and the stores look each id up once.
fn check_id_list(ids: &[CustomerId], field: &str) -> crate::Result<()> {
    let limit = crate::limits::MAX_ID_LIST;
    // Stops at the first id past the bound, so the set never holds more than the bound.
    let mut seen = std::collections::HashSet::with_capacity(ids.len().min(limit + 1));
    for id in ids {
        if seen.insert(*id) && seen.len() > limit {
            return Err(crate::Error::field(
                field,
                format!("an id list names at most {limit} distinct ids"),
            ));
        }
    }
    Ok(())
}

/// What to sort by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SortKey {
    /// The customer id (the sources' default).
    #[default]
    Id,
    /// `dateCreated`.
    DateCreated,
    /// `lastUpdated`.
    LastUpdated,
    /// A well-known field; customers without it sort last in ascending order. No index gives
    /// a field's order, so a query sorted by one may match at most
    /// [`MAX_FIELD_SORT_MATCHES`](crate::limits::MAX_FIELD_SORT_MATCHES) customers.
    Field(Field),
}

impl SortKey {
    /// Whether an index gives this order (`id`, `dateCreated`, `lastUpdated`), so that a
    /// query sorted by it reads its page however many customers match. A query sorted by a
    /// field (not indexed) matching more than
    /// [`MAX_FIELD_SORT_MATCHES`](crate::limits::MAX_FIELD_SORT_MATCHES) customers is refused.
    ///
    /// ```
    /// use oneid::{Field, SortKey};
    /// assert!(SortKey::LastUpdated.is_indexed());
    /// assert!(!SortKey::Field(Field::City).is_indexed());
    /// ```
    pub fn is_indexed(self) -> bool {
        !matches!(self, SortKey::Field(_))
    }
}

/// A page of a query: filter, order, page number and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomerQuery {
    /// Which customers.
    pub filter: CustomerFilter,
    /// Sort key (ties broken by id, in the same direction).
    pub sort: SortKey,
    /// Descending instead of ascending.
    pub descending: bool,
    /// 1-based page number.
    pub page: u32,
    /// Rows per page (002's default 20), at most [`MAX_PAGE_SIZE`](crate::limits::MAX_PAGE_SIZE).
    pub size: u32,
    /// Which keys of each customer to return (002 `select`); `None` for all. Stores ignore it;
    /// [`Resolver::query_json`](crate::Resolver::query_json) applies it.
    pub select: Option<Vec<String>>,
}

impl Default for CustomerQuery {
    fn default() -> Self {
        Self {
            filter: CustomerFilter::default(),
            sort: SortKey::Id,
            descending: false,
            page: 1,
            size: 20,
            select: None,
        }
    }
}

impl CustomerQuery {
    /// Reads the query parameters of 002 `GET customers` / `customers/count` (`stage` with
    /// `_empty`, `source`, `mobile`, `email`, `gender`, `idList`, `dateCreatedFrom/To`,
    /// `lastUpdatedFrom/To`, also `lastUpdateTo` as `count` spells it, `select`, `rows`, `page`,
    /// `sidx`, `sord`) and of 001
    /// `simpleQuery` (`groupId`, `searchKey`, `startTime`/`endTime` on the creation time,
    /// `current`, `size`), plus `tag`. Unknown parameters and malformed values are errors.
    ///
    /// Bounds: `rows` is 1 to [`MAX_PAGE_SIZE`](crate::limits::MAX_PAGE_SIZE); a query skips
    /// at most [`MAX_QUERY_OFFSET`](crate::limits::MAX_QUERY_OFFSET) rows (`(page - 1) ×
    /// rows`, so at 20 rows a page up to 501); `idList` names
    /// at most [`MAX_ID_LIST`](crate::limits::MAX_ID_LIST) distinct ids. `sidx` is `id` (the
    /// default), `dateCreated`, `lastUpdated` or a field's name: an index gives the first
    /// three orders (see [`SortKey::is_indexed`]); a field has none, so a query sorted by a
    /// field is refused when it matches more than
    /// [`MAX_FIELD_SORT_MATCHES`](crate::limits::MAX_FIELD_SORT_MATCHES) customers (narrow it,
    /// e.g. by `idList` or a time range, or sort by an indexed key).
    ///
    /// ```
    /// use oneid::{CustomerQuery, ErrorKind, SortKey};
    /// let q = CustomerQuery::from_params([("stage", "_empty"), ("idList", "1,2,3"), ("sidx", "lastUpdated"), ("sord", "desc")]).unwrap();
    /// assert_eq!(q.filter.stage.as_deref(), Some(""));
    /// assert_eq!(q.filter.ids.as_ref().unwrap().len(), 3);
    /// assert_eq!((q.sort, q.descending), (SortKey::LastUpdated, true));
    /// assert!(q.sort.is_indexed());
    ///
    /// // A field sort is read here, and bounded by the number of matches when run.
    /// let q = CustomerQuery::from_params([("sidx", "city")]).unwrap();
    /// assert!(!q.sort.is_indexed());
    ///
    /// // An id list past the bound is refused, naming it.
    /// let ids: Vec<String> = (1..=oneid::limits::MAX_ID_LIST + 1).map(|n| n.to_string()).collect();
    /// let e = CustomerQuery::from_params([("idList", ids.join(",").as_str())]).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Input);
    /// assert!(e.to_string().contains("at most 1000 distinct ids"), "{e}");
    ///
    /// // So is a page past the offset bound: 20 rows a page, page 501 skips 10,000 rows.
    /// assert!(CustomerQuery::from_params([("rows", "20"), ("page", "501")]).is_ok());
    /// let e = CustomerQuery::from_params([("rows", "20"), ("page", "502")]).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Input);
    /// assert!(e.to_string().contains("at most 10000 rows"), "{e}");
    /// ```
    pub fn from_params<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> crate::Result<Self> {
        use crate::error::Error;
        let mut q = CustomerQuery::default();
        let bad = |key: &str, why: &str| Error::field(key, why.to_string());
        let time = |key: &str, v: &str| {
            crate::model::parse_timestamp(v)
                .ok_or_else(|| bad(key, "expected a time such as 2016-11-11T11:11:11"))
        };
        let int = |key: &str, v: &str| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| bad(key, "expected an integer"))
        };
        for (key, v) in params {
            let f = &mut q.filter;
            match key {
                "access_token" => {}
                "stage" => {
                    f.stage = Some(if v == "_empty" {
                        String::new()
                    } else {
                        v.to_string()
                    })
                }
                "source" => f.source = Some(v.to_string()),
                "mobile" => f.mobile = Some(v.to_string()),
                "email" => f.email = Some(v.to_string()),
                "tag" => f.tag = Some(v.to_string()),
                "searchKey" => f.search = Some(v.to_string()),
                "gender" => match int(key, v)? {
                    g @ 0..=2 => f.gender = Some(g),
                    _ => return Err(bad(key, "expected 0, 1 or 2")),
                },
                "groupId" => f.group = Some(int(key, v)?),
                "idList" => {
                    let ids = v
                        .split(',')
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| {
                            s.trim()
                                .parse::<u64>()
                                .map(CustomerId)
                                .map_err(|_| bad(key, "expected ids like 1,2,3"))
                        })
                        .collect::<crate::Result<Vec<_>>>()?;
                    check_id_list(&ids, key)?;
                    f.ids = Some(ids);
                }
                "dateCreatedFrom" | "startTime" => f.created_from = Some(time(key, v)?),
                "dateCreatedTo" | "endTime" => f.created_to = Some(time(key, v)?),
                "lastUpdatedFrom" => f.updated_from = Some(time(key, v)?),
                // 002 spells it `lastUpdateTo` in `customers/count`.
                "lastUpdatedTo" | "lastUpdateTo" => f.updated_to = Some(time(key, v)?),
                "select" => {
                    q.select = Some(
                        v.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    )
                }
                "rows" | "size" => {
                    q.size = u32::try_from(int(key, v)?)
                        .ok()
                        .filter(|n| (1..=crate::limits::MAX_PAGE_SIZE).contains(n))
                        .ok_or_else(|| {
                            bad(
                                key,
                                &format!("expected 1 to {} rows", crate::limits::MAX_PAGE_SIZE),
                            )
                        })?
                }
                "page" | "current" => {
                    q.page = u32::try_from(int(key, v)?)
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| bad(key, "expected a page >= 1"))?
                }
                "sidx" => {
                    q.sort = match v {
                        "id" => SortKey::Id,
                        "dateCreated" => SortKey::DateCreated,
                        "lastUpdated" => SortKey::LastUpdated,
                        other => SortKey::Field(
                            Field::from_name(other).ok_or_else(|| bad(key, "unknown sort field"))?,
                        ),
                    }
                }
                "sord" => {
                    q.descending = match v {
                        "asc" => false,
                        "desc" => true,
                        _ => return Err(bad(key, "expected asc or desc")),
                    }
                }
                _ => {
                    return Err(Error::UnknownField {
                        field: key.to_string(),
                    });
                }
            }
        }
        q.check()?;
        Ok(q)
    }

    /// Refuses a query past its bounds, the same for every store: its filter's
    /// ([`CustomerFilter::check`]) and an offset past
    /// [`MAX_QUERY_OFFSET`](crate::limits::MAX_QUERY_OFFSET).
    pub(crate) fn check(&self) -> crate::Result<()> {
        self.filter.check()?;
        let limit = crate::limits::MAX_QUERY_OFFSET;
        if self.offset() > limit {
            return Err(crate::Error::field(
                "page",
                format!(
                    "a query skips at most {limit} rows ((page - 1) × rows), and this one skips {}: \
                     narrow the filter instead (e.g. lastUpdatedFrom the last row's time)",
                    self.offset()
                ),
            ));
        }
        Ok(())
    }

    /// Refuses to sort `matches` customers by a field (no index gives its order) when they
    /// are more than [`MAX_FIELD_SORT_MATCHES`](crate::limits::MAX_FIELD_SORT_MATCHES). Every
    /// store calls it with the query's total before it sorts, so stores refuse alike.
    pub(crate) fn check_sort(&self, matches: u64) -> crate::Result<()> {
        let limit = crate::limits::MAX_FIELD_SORT_MATCHES;
        if self.sort.is_indexed() || matches <= limit {
            return Ok(());
        }
        Err(crate::Error::field(
            "sort",
            format!(
                "sorting by a field takes a query matching at most {limit} customers, and this \
                 one matches {matches}: sort by id, dateCreated or lastUpdated, or narrow the filter"
            ),
        ))
    }

    /// How many rows to skip: `(page - 1) * size`, page 0 read as 1.
    pub fn offset(&self) -> u64 {
        u64::from(self.page.max(1) - 1) * u64::from(self.size)
    }

    /// Orders two customers by this query's sort (the reference meaning for every store).
    pub fn compare(&self, a: &Customer, b: &Customer) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let primary = match self.sort {
            SortKey::Id => Ordering::Equal,
            SortKey::DateCreated => a.created.cmp(&b.created),
            SortKey::LastUpdated => a.updated.cmp(&b.updated),
            SortKey::Field(f) => match (a.fields.get(f), b.fields.get(f)) {
                (Some(x), Some(y)) => compare_values(x, y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
        };
        let ordered = primary.then(a.id.cmp(&b.id));
        if self.descending {
            ordered.reverse()
        } else {
            ordered
        }
    }
}

fn compare_values(a: &FieldValue, b: &FieldValue) -> std::cmp::Ordering {
    use FieldValue::*;
    match (a, b) {
        (Text(x), Text(y)) => x.cmp(y),
        (Decimal(x), Decimal(y)) => compare_decimals(x, y),
        (Bool(x), Bool(y)) => x.cmp(y),
        (Int(x), Int(y)) => x.cmp(y),
        (Date(x), Date(y)) => x.cmp(y),
        (Timestamp(x), Timestamp(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

/// Orders two decimal texts (`[+-]digits[.digits]`, as fields admit them) by their value:
/// `"9"` before `"10"`, `"-2"` before `"-1.5"`, `"1.50"` equal to `"+01.5"`.
pub(crate) fn compare_decimals(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    // Sign, integer digits without leading zeros, fraction digits without trailing zeros.
    fn parts(s: &str) -> (bool, &str, &str) {
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let (int, frac) = (int.trim_start_matches('0'), frac.trim_end_matches('0'));
        // Zero has no sign.
        (negative && !(int.is_empty() && frac.is_empty()), int, frac)
    }
    let ((a_neg, a_int, a_frac), (b_neg, b_int, b_frac)) = (parts(a), parts(b));
    // With equal lengths, digit strings order as their numbers; fractions do at any length.
    let magnitude = a_int
        .len()
        .cmp(&b_int.len())
        .then_with(|| a_int.cmp(b_int))
        .then_with(|| a_frac.cmp(b_frac));
    match (a_neg, b_neg) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
    }
}

/// One page of customers and the total number that match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerPage {
    /// The customers of this page.
    pub rows: Vec<Customer>,
    /// How many customers match in all.
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::{CustomerFilter, CustomerQuery, SortKey, compare_decimals};
    use crate::ErrorKind;
    use crate::limits::{MAX_FIELD_SORT_MATCHES, MAX_ID_LIST};
    use crate::model::{CustomerId, Field};
    use proptest::prelude::*;

    fn id_list(ids: impl IntoIterator<Item = u64>) -> String {
        ids.into_iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn id_lists_count_distinct_ids_up_to_the_bound() {
        let at_bound = id_list((1..=MAX_ID_LIST as u64).chain(1..=MAX_ID_LIST as u64));
        let q = CustomerQuery::from_params([("idList", at_bound.as_str())]).unwrap();
        assert!(q.filter.check().is_ok());
        let past = id_list(1..=MAX_ID_LIST as u64 + 1);
        let e = CustomerQuery::from_params([("idList", past.as_str())]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Input);
        assert_eq!(
            e.to_string(),
            format!("field \"idList\" is invalid: an id list names at most {MAX_ID_LIST} distinct ids")
        );
        // Built in code: the same bound, named by the filter's field.
        let filter = CustomerFilter {
            ids: Some((0..=MAX_ID_LIST as u64).map(CustomerId).collect()),
            ..Default::default()
        };
        let e = filter.check().unwrap_err();
        assert!(e.to_string().contains("\"ids\""), "{e}");
        assert!(e.to_string().contains(&MAX_ID_LIST.to_string()), "{e}");
    }

    #[test]
    fn field_sorts_are_bounded_by_their_matches() {
        let by = |sort| CustomerQuery {
            sort,
            ..Default::default()
        };
        for sort in [SortKey::Id, SortKey::DateCreated, SortKey::LastUpdated] {
            assert!(by(sort).check_sort(u64::MAX).is_ok(), "{sort:?}");
        }
        for field in [Field::City, Field::Name, Field::Mobile] {
            let q = by(SortKey::Field(field));
            assert!(q.check_sort(MAX_FIELD_SORT_MATCHES).is_ok());
            let e = q.check_sort(MAX_FIELD_SORT_MATCHES + 1).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Input);
            let text = e.to_string();
            assert!(
                text.contains(&format!("at most {MAX_FIELD_SORT_MATCHES} customers")),
                "{text}"
            );
            assert!(text.contains("id, dateCreated or lastUpdated"), "{text}");
        }
    }

    /// A decimal's text with its value in millionths: optional `+`, leading zeros in the
    /// integer part and trailing zeros in the fraction, which must not change its order.
    fn decimal() -> impl Strategy<Value = (String, i128)> {
        let magnitude = prop_oneof![0..3u64, any::<u64>()];
        let frac = prop_oneof![Just(0u32), 0..1_000_000u32];
        (
            any::<bool>(),
            magnitude,
            frac,
            any::<bool>(),
            0..3usize,
            0..3usize,
            any::<bool>(),
        )
            .prop_map(
                |(negative, int, frac, with_frac, zeros_before, zeros_after, plus)| {
                    let frac = if with_frac { frac } else { 0 };
                    let size = i128::from(int) * 1_000_000 + i128::from(frac);
                    let sign = if negative {
                        "-"
                    } else if plus {
                        "+"
                    } else {
                        ""
                    };
                    let mut text = format!("{sign}{}{int}", "0".repeat(zeros_before));
                    if with_frac {
                        text.push_str(&format!(".{frac:06}{}", "0".repeat(zeros_after)));
                    }
                    (text, if negative { -size } else { size })
                },
            )
    }

    proptest! {
        #[test]
        fn decimals_order_by_value((a, x) in decimal(), (b, y) in decimal()) {
            prop_assert_eq!(compare_decimals(&a, &b), x.cmp(&y), "{} vs {}", a, b);
        }
    }

    #[test]
    fn decimal_spellings() {
        use std::cmp::Ordering::*;
        for (a, b, want) in [
            ("9", "10", Less),
            ("-2", "-1.5", Less),
            ("1.50", "+01.5", Equal),
            ("-0.0", "0", Equal),
            ("0.001", "-0.001", Greater),
            ("123.45", "123.5", Less),
        ] {
            assert_eq!(compare_decimals(a, b), want, "{a} vs {b}");
        }
    }
}
