//! The bounds on what a request, a tenant, a customer and a query may hold.
//!
//! Every store keeps exactly what the engine accepts, so the engine refuses anything a store
//! could not keep (or could keep but not read back, or answer alike) before the first write.
//! The data of one customer is bounded too (its texts, attributes, tags and groups), so that
//! no input makes every later read of a customer slow: at these bounds a customer's data is at
//! most about 4 MiB. The checks and their error messages both read these constants, so the
//! numbers below are the whole truth. docs/SEMANTICS.md says why each bound is where it is.

use std::ops::RangeInclusive;

/// The longest identity type, in characters (`[a-z0-9][a-z0-9_-]{0,31}`).
pub const MAX_IDENTITY_TYPE_CHARS: usize = 32;

/// The longest identity value after normalization, in characters.
pub const MAX_IDENTITY_VALUE_CHARS: usize = 128;

/// The longest identity display name (`identityName`), in characters.
pub const MAX_IDENTITY_NAME_CHARS: usize = 256;

/// The longest identity scope (e.g. a WeChat `appId`), in characters.
pub const MAX_IDENTITY_SCOPE_CHARS: usize = 64;

/// The most identities one resolve request may carry. Requests hold a handful; the SQL stores
/// look a request's identities up in one statement, which the databases bound.
pub const MAX_REQUEST_IDENTITIES: usize = 256;

/// The longest tenant id, in characters: the stores' indexes lead with it.
pub const MAX_TENANT_ID_CHARS: usize = 64;

/// The longest mobile and email field, in characters, as for identity values: they can be
/// matched as identities, and the stores index the mobile.
pub const MAX_CONTACT_FIELD_CHARS: usize = 128;

/// The longest text of any other text field (`name`, `img`, `homeAddress`, `remark`, ...) and
/// of a decimal (`annualRevenue`), in characters. Avatar URLs, addresses and remarks, the
/// longest texts of the sources, run to a few hundred characters.
pub const MAX_TEXT_FIELD_CHARS: usize = 2048;

/// The most tags a customer holds, and a tag list carries (counted as sent).
pub const MAX_TAGS: usize = 1000;

/// The longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 128;

/// The most groups (001 `groupId`) a customer belongs to, and a group list carries (counted
/// as sent).
pub const MAX_GROUPS: usize = 1000;

/// The longest cause: a request's reference kept in history (a record id, an API call id),
/// or the cause of a settings change, in characters.
pub const MAX_CAUSE_CHARS: usize = 256;

/// The longest query search key (`searchKey`), in characters.
pub const MAX_SEARCH_CHARS: usize = 256;

/// The largest page a query may ask for (`rows`, `size`).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The most rows a query may skip: its offset, `(page - 1) × rows`. Every store reads past
/// the rows it skips (an index walk on the SQL stores, kept candidates in memory), so a deep
/// page costs what its offset does; this bound keeps that near a page's cost. To read further,
/// narrow the filter instead: sort by `lastUpdated` (or `dateCreated`) and ask for the rows
/// from the last time read on (`lastUpdatedFrom`), or by id within an id list.
pub const MAX_QUERY_OFFSET: u64 = 10_000;

/// The most distinct ids a query's id list (002 `idList`) may name; repeats of an id select
/// nothing more and are not counted. As many as one page holds ([`MAX_PAGE_SIZE`]), so every
/// customer a list names can come back in one page, and a list as a URL parameter stays near
/// the 8 KiB most servers take. The SQL stores pass the list as one parameter, so a list costs
/// an index search per id and nothing that outlives the query.
pub const MAX_ID_LIST: usize = 1000;

/// The most customers a query sorted by a field (any sort key but `id`, `dateCreated` and
/// `lastUpdated`, whose order an index gives) may match. No index gives a field's order, so
/// the stores read and sort every match to find a page, in time and memory linear in the
/// matches (a million took 3 s and 470 MiB on SQLite): this bound keeps that to a hundredth
/// of it. It is at least [`MAX_ID_LIST`], so a query by id list may sort by any field.
pub const MAX_FIELD_SORT_MATCHES: u64 = 10_000;

/// The longest extended-attribute name, in characters.
pub const MAX_ATTR_NAME_CHARS: usize = 64;

/// The most extended attributes a customer holds, and a patch or an update carries (each
/// list counted as sent).
pub const MAX_ATTRS: usize = 256;

/// The largest extended-attribute value, in bytes of its JSON text (as the stores keep it).
pub const MAX_ATTR_VALUE_BYTES: usize = 8192;

/// The longest extended-attribute display name (001 `attrName`), in characters.
pub const MAX_ATTR_DISPLAY_NAME_CHARS: usize = 256;

/// The deepest nesting of arrays and objects in an extended attribute's value. Stores keep
/// attributes as JSON text, and reading JSON stops at 128 levels: a deeper value could be
/// written but never read back.
pub const MAX_ATTR_DEPTH: usize = 32;

/// The deepest nesting of arrays and objects in any JSON value the crate reads (a request
/// body, counted from its top): more than the 127 levels `serde_json` reads from text, so any
/// value read from text passes. A value built in code that nests deeper is refused before
/// anything copies, compares or prints it, all of which recurse, so that no input can exhaust
/// the stack.
pub const MAX_JSON_DEPTH: usize = 128;

/// The most identity types one tenant of the memory store holds (its own: other tenants'
/// types neither count against it nor cost it anything). A link of one more type is refused
/// with `Error::Capacity`, in that tenant only; the SQL stores have no such bound.
pub const MAX_TENANT_IDENTITY_TYPES: usize = 65_536;

/// The years a time may fall in: the SQL stores keep times as fixed-width RFC 3339 text, which
/// holds the years 0000 to 9999 (and sorts as time only within them).
pub const STORABLE_YEARS: RangeInclusive<i32> = 0..=9999;

/// "the years 0000 to 9999", from [`STORABLE_YEARS`], for error messages.
pub(crate) fn storable_years_text() -> String {
    format!(
        "the years {:04} to {:04}",
        STORABLE_YEARS.start(),
        STORABLE_YEARS.end()
    )
}

/// `n` with its thousands grouped by commas ("65,536"), for error messages.
pub(crate) fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn grouped_thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (65_536, "65,536"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(super::grouped(n), text);
        }
    }
}
