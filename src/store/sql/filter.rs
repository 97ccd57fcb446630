//! The filter compiler: a [`CustomerFilter`] as a `WHERE` clause, and a query's sort as an
//! `ORDER BY` list, over the customer table aliased `c`.
//!
//! Both must answer exactly as the memory store does (the reference), so what SQL would
//! decide differently is decided here instead: a text with a NUL matches nobody, a time bound
//! outside the storable years keeps everyone or no one, `LIKE` metacharacters in a search
//! match themselves, and customers without the sort field sort as `CustomerQuery::compare`
//! puts them. Values go in as parameters, an id list as one parameter (an array, or a JSON
//! array's text), so that a statement's text, and so the statements the backends prepare and
//! keep, depend only on which criteria are set.

use super::SqlValue;
use super::codec::ts;
use crate::model::{Field, TenantId};
use crate::query::{CustomerFilter, CustomerQuery, SortKey};

/// `LIKE` pattern matching `s` anywhere, with `\` escaping the metacharacters.
fn like_anywhere(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The `WHERE` clause of a filter, and its parameters (the tenant first, as `?1`). `arrays`
/// is [`SqlBackend::binds_arrays`](super::SqlBackend::binds_arrays).
pub(super) fn filter_sql(
    tenant: &TenantId,
    filter: &CustomerFilter,
    arrays: bool,
) -> (String, Vec<SqlValue>) {
    let mut params: Vec<SqlValue> = vec![tenant.as_str().into()];
    // With an id list, the ids' index is the one to search (the engine bounds the list), but a
    // planner without statistics, or with a plan made for any list, may rather scan an index
    // that leads with the tenant: tested inside a `CASE`, the tenant leads to no index.
    let mut sql = String::from(if filter.ids.is_some() {
        "CASE WHEN c.tenant = ?1 THEN 1 ELSE 0 END = 1 AND c.status = 'active'"
    } else {
        "c.tenant = ?1 AND c.status = 'active'"
    });
    // No stored text holds a NUL (input with one is refused), so a filter text with one
    // matches nobody, as in the memory store; the databases could not take it (SQLite cuts a
    // LIKE pattern there, PostgreSQL refuses it).
    let texts = [
        &filter.search,
        &filter.tag,
        &filter.stage,
        &filter.source,
        &filter.mobile,
        &filter.email,
    ];
    if texts
        .iter()
        .any(|t| t.as_deref().is_some_and(|t| t.contains('\0')))
    {
        sql.push_str(" AND 1 = 0");
        return (sql, params);
    }
    let mut push = |params: &mut Vec<SqlValue>, clause: &str, values: Vec<SqlValue>| {
        let mut clause = clause.to_string();
        for v in values {
            params.push(v);
            clause = clause.replacen("{}", &format!("?{}", params.len()), 1);
        }
        sql.push_str(" AND ");
        sql.push_str(&clause);
    };
    // Stored times lie in the years 0000 to 9999, the text's range: a bound outside it keeps
    // every customer or none, and is decided here, as the text could not compare it.
    let bounds = [
        (filter.created_from, "c.created >= {}", true),
        (filter.created_to, "c.created <= {}", false),
        (filter.updated_from, "c.updated >= {}", true),
        (filter.updated_to, "c.updated <= {}", false),
    ];
    for (bound, clause, lower) in bounds {
        let Some(t) = bound else { continue };
        use chrono::Datelike;
        let year = t.year();
        if crate::model::storable_year(year) {
            push(&mut params, clause, vec![ts(&t).into()]);
        } else if (lower && year > 9999) || (!lower && year < 0) {
            // Past every stored time: nobody.
            push(&mut params, "1 = 0", Vec::new());
        }
        // Otherwise on the far side of every stored time: everybody, so no clause.
    }
    if let Some(key) = &filter.search {
        let pattern = like_anywhere(key);
        push(
            &mut params,
            "(c.mobile LIKE {} ESCAPE '\\' OR c.nick_name LIKE {} ESCAPE '\\' OR c.name LIKE {} ESCAPE '\\')",
            vec![pattern.clone().into(), pattern.clone().into(), pattern.into()],
        );
    }
    if let Some(g) = filter.group {
        push(
            &mut params,
            "EXISTS (SELECT 1 FROM oneid_groups g WHERE g.customer = c.id AND g.grp = {})",
            vec![g.into()],
        );
    }
    if let Some(t) = &filter.tag {
        push(
            &mut params,
            "EXISTS (SELECT 1 FROM oneid_tags t WHERE t.customer = c.id AND t.tag = {})",
            vec![t.as_str().into()],
        );
    }
    if let Some(g) = filter.gender {
        if g == 0 {
            push(&mut params, "(c.gender = {} OR c.gender IS NULL)", vec![0.into()]);
        } else {
            push(&mut params, "c.gender = {}", vec![g.into()]);
        }
    }
    if let Some(s) = &filter.stage {
        if s.is_empty() {
            push(&mut params, "(c.stage IS NULL OR c.stage = '')", vec![]);
        } else {
            push(&mut params, "c.stage = {}", vec![s.as_str().into()]);
        }
    }
    for (value, column) in [
        (&filter.source, "source"),
        (&filter.mobile, "mobile"),
        (&filter.email, "email"),
    ] {
        if let Some(v) = value {
            push(
                &mut params,
                &format!("c.{column} = {{}}"),
                vec![v.as_str().into()],
            );
        }
    }
    if let Some(ids) = &filter.ids {
        // Each id once, in order; no stored id is above `i64::MAX`.
        let mut list: Vec<i64> = ids.iter().filter_map(|id| i64::try_from(id.0).ok()).collect();
        list.sort_unstable();
        list.dedup();
        if list.is_empty() {
            push(&mut params, "1 = 0", vec![]);
        } else if arrays {
            push(&mut params, "c.id = ANY({})", vec![SqlValue::IntList(list)]);
        } else {
            push(
                &mut params,
                "c.id IN (SELECT value FROM json_each({}))",
                vec![SqlValue::IntList(list)],
            );
        }
    }
    (sql, params)
}

/// The indexed column of a well-known field, if it has one.
fn column_of(field: Field) -> Option<&'static str> {
    Some(match field {
        Field::Mobile => "mobile",
        Field::Email => "email",
        Field::Name => "name",
        Field::NickName => "nick_name",
        Field::Gender => "gender",
        Field::Stage => "stage",
        Field::Source => "source",
        _ => return None,
    })
}

/// The `ORDER BY` list of a query's sort; empty for a field without a column, whose
/// customers the caller sorts after loading, by the reference order.
///
/// Text sorts match the reference byte order because sortable text columns compare bytes
/// (SQLite's default collation; `COLLATE "C"` on PostgreSQL).
pub(super) fn order_sql(query: &CustomerQuery) -> String {
    let dir = if query.descending { "DESC" } else { "ASC" };
    // Customers without the sort field come last in ascending order (first in
    // descending), and ties go by id, as in `CustomerQuery::compare`.
    match query.sort {
        SortKey::Id => format!("c.id {dir}"),
        SortKey::DateCreated => format!("c.created {dir}, c.id {dir}"),
        SortKey::LastUpdated => format!("c.updated {dir}, c.id {dir}"),
        SortKey::Field(f) => match column_of(f) {
            Some(col) => {
                let nulls = if query.descending { 0 } else { 1 };
                format!(
                    "CASE WHEN c.{col} IS NULL THEN {nulls} ELSE {} END, c.{col} {dir}, c.id {dir}",
                    1 - nulls
                )
            }
            None => String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CustomerId;

    fn with_ids(ids: impl IntoIterator<Item = u64>) -> CustomerFilter {
        CustomerFilter {
            ids: Some(ids.into_iter().map(CustomerId).collect()),
            ..Default::default()
        }
    }

    /// The backends prepare and keep a statement per text: a text that held the list made
    /// every list a statement of its own.
    #[test]
    fn an_id_list_is_one_parameter_whatever_its_length() {
        let tenant = TenantId::new("t");
        for arrays in [false, true] {
            let (one, one_params) = filter_sql(&tenant, &with_ids([7]), arrays);
            let (many, many_params) =
                filter_sql(&tenant, &with_ids((1..=1000).rev().chain(1..=1000)), arrays);
            assert_eq!(one, many, "arrays: {arrays}");
            assert!(!many.contains("1000"), "{many}");
            assert_eq!(one_params[1], SqlValue::IntList(vec![7]));
            // Each id once, in order.
            assert_eq!(many_params[1], SqlValue::IntList((1..=1000).collect()));
        }
    }

    #[test]
    fn ids_no_store_holds_select_nobody() {
        let tenant = TenantId::new("t");
        let (sql, params) = filter_sql(&tenant, &with_ids([u64::MAX, i64::MAX as u64 + 1]), true);
        assert!(sql.ends_with("AND 1 = 0"), "{sql}");
        assert_eq!(params.len(), 1);
    }
}
