//! The SQL stores' shared engine: one implementation of [`Txn`] over any [`SqlBackend`].
//!
//! SQLite and PostgreSQL differ only in their connection types, three column types and a few
//! spellings; the statements that read and write customers are the same text (numbered
//! `?1` parameters, rewritten to `$1` for PostgreSQL). The schema:
//!
//! - `oneid_customers`: one row per customer id ever assigned; `status` (`active`, `merged`,
//!   `deleted`, `erased`), `merged_into` (always the *live* survivor: a merge repoints every
//!   alias of the merged customer, so reads need one hop), the full data as JSON, and
//!   indexed columns for what queries filter and sort on;
//! - `oneid_identities`: only *owned* identities, `UNIQUE (tenant, type, scope, value)` — so
//!   an identity's single owner is a database fact; `customer` is always the live owner;
//! - `oneid_tags`, `oneid_groups`: side tables the tag and group filters use;
//! - `oneid_history`: every event, in recording order;
//! - `oneid_suspicions`: quarantine evidence;
//! - `oneid_schema`: the schema version, for migrations.

use super::{Lookup, Txn};
use crate::error::{Error, Result};
use crate::history::{Cause, EventKind, HistoryEvent, Operation};
use crate::model::{
    Customer, CustomerId, CustomerStatus, ExtAttr, Field, Fields, HashedKey, Identity, IdentityKey,
    IdentityType, TenantId,
};
use crate::query::{CustomerFilter, CustomerPage, CustomerQuery, SortKey};
use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

/// The current schema version.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// How a database spells the few column types the schema needs.
pub(crate) struct Dialect {
    /// An auto-assigned 64-bit primary key.
    pub(crate) id: &'static str,
    /// A 64-bit integer.
    pub(crate) int: &'static str,
    /// Text that sorts in byte order.
    pub(crate) sorted_text: &'static str,
}

/// The schema, version 1, in a dialect.
pub(crate) fn schema_v1(d: &Dialect) -> String {
    let Dialect {
        id,
        int,
        sorted_text: st,
    } = d;
    format!(
        "CREATE TABLE oneid_customers (
            id {id}, tenant TEXT NOT NULL, status TEXT NOT NULL, merged_into {int},
            created {st} NOT NULL, updated {st} NOT NULL, data TEXT NOT NULL,
            mobile {st}, email {st}, name {st}, nick_name {st}, gender {int}, stage {st}, source {st}
        );
        CREATE INDEX oneid_customers_tenant ON oneid_customers (tenant, status);
        CREATE INDEX oneid_customers_merged ON oneid_customers (merged_into);
        CREATE INDEX oneid_customers_mobile ON oneid_customers (tenant, mobile);
        CREATE INDEX oneid_customers_created ON oneid_customers (tenant, created);
        CREATE INDEX oneid_customers_updated ON oneid_customers (tenant, updated);
        CREATE TABLE oneid_identities (
            seq {id}, tenant TEXT NOT NULL, itype TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL,
            name TEXT, customer {int} NOT NULL,
            UNIQUE (tenant, itype, scope, value)
        );
        CREATE INDEX oneid_identities_customer ON oneid_identities (customer);
        CREATE TABLE oneid_tags (customer {int} NOT NULL, tag TEXT NOT NULL);
        CREATE INDEX oneid_tags_customer ON oneid_tags (customer);
        CREATE TABLE oneid_groups (customer {int} NOT NULL, grp {int} NOT NULL);
        CREATE INDEX oneid_groups_customer ON oneid_groups (customer);
        CREATE TABLE oneid_history (
            seq {id}, tenant TEXT NOT NULL, customer {int} NOT NULL, at {st} NOT NULL, kind TEXT NOT NULL,
            itype TEXT, iscope TEXT, ivalue TEXT, iname TEXT, other {int},
            operation TEXT NOT NULL, reference TEXT
        );
        CREATE INDEX oneid_history_customer ON oneid_history (customer);
        CREATE TABLE oneid_suspicions (
            tenant TEXT NOT NULL, itype TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL,
            ctype TEXT NOT NULL, cscope TEXT NOT NULL, cvalue TEXT NOT NULL,
            PRIMARY KEY (tenant, itype, scope, value, ctype, cscope, cvalue)
        );"
    )
}

/// A SQL value as the stores exchange it with their backends.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl SqlValue {
    fn int(&self) -> Result<i64> {
        match self {
            SqlValue::Int(i) => Ok(*i),
            other => Err(Error::Store(format!("expected an integer column, got {other:?}"))),
        }
    }

    fn opt_int(&self) -> Result<Option<i64>> {
        match self {
            SqlValue::Null => Ok(None),
            other => other.int().map(Some),
        }
    }

    fn text(&self) -> Result<&str> {
        match self {
            SqlValue::Text(s) => Ok(s),
            other => Err(Error::Store(format!("expected a text column, got {other:?}"))),
        }
    }

    fn opt_text(&self) -> Result<Option<&str>> {
        match self {
            SqlValue::Null => Ok(None),
            other => other.text().map(Some),
        }
    }
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_string())
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}

impl From<i64> for SqlValue {
    fn from(i: i64) -> Self {
        SqlValue::Int(i)
    }
}

impl From<Option<&str>> for SqlValue {
    fn from(s: Option<&str>) -> Self {
        s.map_or(SqlValue::Null, SqlValue::from)
    }
}

/// What a SQL store's transaction needs from its database connection. Statements use
/// numbered parameters `?1`, `?2`, …; a backend whose database spells them otherwise
/// rewrites them.
pub trait SqlBackend {
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64>;
    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>>;
    /// Commits the transaction.
    fn commit(self) -> Result<()>;
    /// The clause that locks the rows a read returns until the transaction ends (`" FOR
    /// UPDATE"`), for databases where concurrent writers need it; empty where the
    /// transaction already excludes other writers (SQLite's `BEGIN IMMEDIATE`).
    fn lock_rows(&self) -> &'static str {
        ""
    }
    /// The next free customer id, for a database where this transaction is the only writer
    /// (it may then number the customers it creates itself and write their rows at commit);
    /// `None` where concurrent writers need the database to assign ids.
    fn first_free_id(&mut self) -> Result<Option<i64>> {
        Ok(None)
    }
}

/// A transaction of a SQL store (SQLite or PostgreSQL). Dropping it without
/// [`Txn::commit`] rolls back.
///
/// What a resolve reads is kept for the rest of the transaction (the rows are locked where the
/// database needs it, so they cannot change underneath), and what it writes is held back and
/// written at commit in a few multi-row statements: new identities, history events and each
/// changed customer's final row. Reads see the held-back writes; any operation that needs the
/// database to be up to date (merges, deletes, history, queries) writes them out first.
pub struct SqlTxn<B> {
    conn: RefCell<B>,
    /// Tags and groups of the customers this transaction has read or written, as stored:
    /// their side tables are rewritten only when they change.
    lists: RefCell<FastMap<u64, StoredLists>>,
    cache: RefCell<Cache>,
}

/// A customer's tags and groups as its side tables hold them.
type StoredLists = (Vec<String>, Vec<i64>);

/// Hash maps of the transaction cache (fast hashing; nothing here comes from outside the
/// process unhashed by a random seed).
type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

/// `(tenant, type, scope, value)` of an identity, owned.
#[derive(PartialEq, Eq)]
struct OwnedKey([Box<str>; 4]);

/// The same, borrowed: looks up an [`OwnedKey`] without copying.
struct KeyRef<'a>([&'a str; 4]);

impl<'a> KeyRef<'a> {
    fn new(tenant: &'a TenantId, key: IdentityKey<'a>) -> Self {
        KeyRef([
            tenant.as_str(),
            key.identity_type,
            key.scope.unwrap_or(""),
            key.value,
        ])
    }

    fn owned(&self) -> OwnedKey {
        OwnedKey(self.0.map(Box::from))
    }
}

impl std::hash::Hash for OwnedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for part in &self.0 {
            state.write(part.as_bytes());
            state.write_u8(0xff);
        }
    }
}

impl std::hash::Hash for KeyRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for part in &self.0 {
            state.write(part.as_bytes());
            state.write_u8(0xff);
        }
    }
}

impl hashbrown::Equivalent<OwnedKey> for KeyRef<'_> {
    fn equivalent(&self, key: &OwnedKey) -> bool {
        self.0.iter().zip(&key.0).all(|(a, b)| *a == &**b)
    }
}

/// What a transaction has read, and the writes it holds back until commit.
#[derive(Default)]
struct Cache {
    /// Customer rows read (by their own id) or written in this transaction, with their tenant.
    customers: FastMap<u64, (TenantId, Customer)>,
    /// The full identity lists (link order) of cached customers, including held-back links.
    identities: FastMap<u64, Vec<Identity>>,
    /// Customers whose row is written at commit, in the order they first changed.
    dirty: indexmap::IndexSet<u64>,
    /// Customers created in this transaction whose row does not exist yet (their id was
    /// reserved); written with an `INSERT` at commit.
    fresh: hashbrown::HashSet<u64, foldhash::fast::RandomState>,
    /// Held-back links, in order: (tenant, identity, customer).
    links: Vec<(TenantId, Identity, u64)>,
    /// The owners held-back links give their identities.
    linked: FastMap<OwnedKey, u64>,
    /// Held-back history rows (the eleven columns of `oneid_history` after `seq`).
    history: Vec<[SqlValue; 11]>,
    /// The next customer id to hand out, where the backend lets the transaction assign ids.
    next_id: Option<i64>,
}

impl Cache {
    fn pending(&self) -> bool {
        !self.dirty.is_empty() || !self.links.is_empty() || !self.history.is_empty()
    }

    fn customer(&self, tenant: &TenantId, id: u64) -> Option<&Customer> {
        self.customers
            .get(&id)
            .filter(|(t, _)| t == tenant)
            .map(|(_, c)| c)
    }
}

impl<B: SqlBackend> SqlTxn<B> {
    pub(crate) fn new(backend: B) -> Self {
        Self {
            conn: RefCell::new(backend),
            lists: RefCell::default(),
            cache: RefCell::default(),
        }
    }

    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        self.conn.borrow_mut().execute(sql, params)
    }

    fn rows(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>> {
        self.conn.borrow_mut().query(sql, params)
    }

    /// Like [`rows`](Self::rows), locking the rows read until the transaction ends.
    fn locked_rows(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>> {
        let lock = self.conn.borrow().lock_rows();
        if lock.is_empty() {
            self.rows(sql, params)
        } else {
            self.rows(&format!("{sql}{lock}"), params)
        }
    }

    /// Writes everything held back, so the database is up to date.
    fn flush(&self) -> Result<()> {
        let mut cache = self.cache.borrow_mut();
        if !cache.pending() {
            return Ok(());
        }
        // New customers: one multi-row INSERT per chunk.
        let dirty = std::mem::take(&mut cache.dirty);
        let cache = &mut *cache;
        let fresh: Vec<&Customer> = dirty
            .iter()
            .filter(|id| cache.fresh.contains(*id))
            .map(|id| &cache.customers[id].1)
            .collect();
        let tenant_of = |id: &CustomerId| cache.customers[&id.0].0.clone();
        let rows: Vec<Vec<SqlValue>> = fresh
            .iter()
            .map(|c| customer_values(&tenant_of(&c.id), c, "active"))
            .collect::<Result<_>>()?;
        self.insert_rows(
            "INSERT INTO oneid_customers (tenant, id, status, created, updated, data, mobile, email, name, \
             nick_name, gender, stage, source) VALUES ",
            "",
            rows,
            |_| Ok(()),
        )?;
        // Links, in order: the unique key still decides who owns an identity.
        let links = std::mem::take(&mut cache.links);
        cache.linked.clear();
        let rows: Vec<Vec<SqlValue>> = links
            .iter()
            .map(|(tenant, identity, customer)| {
                let [t, a, b, c] = key_params(tenant, identity.key());
                Ok(vec![
                    t,
                    a,
                    b,
                    c,
                    identity.identity_name.as_deref().into(),
                    id_param(CustomerId(*customer))?,
                ])
            })
            .collect::<Result<_>>()?;
        self.insert_rows(
            "INSERT INTO oneid_identities (tenant, itype, scope, value, name, customer) VALUES ",
            " ON CONFLICT DO NOTHING RETURNING seq",
            rows,
            |claimed| {
                if claimed {
                    Ok(())
                } else {
                    Err(Error::Transient("an identity was claimed concurrently".into()))
                }
            },
        )?;
        let history: Vec<Vec<SqlValue>> = std::mem::take(&mut cache.history)
            .into_iter()
            .map(Vec::from)
            .collect();
        self.insert_rows(
            "INSERT INTO oneid_history (tenant, customer, at, kind, itype, iscope, ivalue, iname, other, \
             operation, reference) VALUES ",
            "",
            history,
            |_| Ok(()),
        )?;
        // Changed customers that already had a row: their final state, once.
        for id in &dirty {
            let (tenant, c) = &cache.customers[id];
            if cache.fresh.contains(id) {
                self.write_side_tables(c)?;
            } else if self.write_customer(tenant, c, "active", true)? != 1 {
                return Err(Error::Store(format!(
                    "customer {id} changed underneath a transaction"
                )));
            }
        }
        cache.fresh.clear();
        Ok(())
    }

    /// Inserts rows with multi-row `INSERT`s of at most 64 rows (in chunks of powers of two,
    /// so few statement texts are prepared). With a `RETURNING` suffix, `check` is told
    /// whether every row came back.
    fn insert_rows(
        &self,
        head: &str,
        tail: &str,
        rows: Vec<Vec<SqlValue>>,
        check: impl Fn(bool) -> Result<()>,
    ) -> Result<()> {
        use std::fmt::Write;
        let mut left = rows.len();
        let mut rows = rows.into_iter();
        while left > 0 {
            let n = 1usize << left.min(64).ilog2();
            left -= n;
            let chunk: Vec<Vec<SqlValue>> = rows.by_ref().take(n).collect();
            let width = chunk[0].len();
            let mut sql = String::with_capacity(head.len() + tail.len() + n * width * 5);
            sql.push_str(head);
            let mut k = 0;
            for r in 0..n {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for c in 0..width {
                    k += 1;
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    let _ = write!(sql, "?{k}");
                }
                sql.push(')');
            }
            sql.push_str(tail);
            let params: Vec<SqlValue> = chunk.into_iter().flatten().collect();
            if tail.is_empty() {
                self.exec(&sql, &params)?;
            } else {
                let back = self.rows(&sql, &params)?;
                check(back.len() == n)?;
            }
        }
        Ok(())
    }

    /// Forgets the rows read: after the operations that change rows in ways the cache does
    /// not follow (merges, deletes, erasure, unlinks), which write what is held back first.
    fn forget(&self) {
        let mut cache = self.cache.borrow_mut();
        debug_assert!(!cache.pending());
        cache.customers.clear();
        cache.identities.clear();
    }

    /// Reads the identity lists of customers whose rows this transaction holds, in one query,
    /// adding the links held back.
    fn read_identities(&self, tenant: &TenantId, ids: &[u64]) -> Result<()> {
        let wanted: Vec<u64> = {
            let cache = self.cache.borrow();
            ids.iter()
                .copied()
                .filter(|id| !cache.identities.contains_key(id) && cache.customer(tenant, *id).is_some())
                .collect()
        };
        if wanted.is_empty() {
            return Ok(());
        }
        // Customer ids are unique across tenants, and these customers are of `tenant`.
        let holes: Vec<String> = (0..wanted.len()).map(|n| format!("?{}", n + 1)).collect();
        let params = wanted
            .iter()
            .map(|&id| id_param(CustomerId(id)))
            .collect::<Result<Vec<_>>>()?;
        let rows = self.rows(
            &format!(
                "SELECT customer, itype, scope, value, name FROM oneid_identities \
                 WHERE customer IN ({}) ORDER BY seq",
                holes.join(", ")
            ),
            &params,
        )?;
        let mut lists: FastMap<u64, Vec<Identity>> = wanted.iter().map(|&id| (id, Vec::new())).collect();
        for r in &rows {
            let owner = r[0].int()? as u64;
            let identity = identity_from(r[1].text()?, r[2].text()?, r[3].text()?, r[4].opt_text()?)?;
            lists.entry(owner).or_default().push(identity);
        }
        let mut cache = self.cache.borrow_mut();
        for (tenant_of, identity, owner) in &cache.links {
            if tenant_of == tenant
                && let Some(list) = lists.get_mut(owner)
            {
                list.push(identity.clone());
            }
        }
        cache.identities.extend(lists);
        Ok(())
    }
}

/// The values of a customer row, in the order of the `INSERT` in [`SqlTxn::flush`].
fn customer_values(tenant: &TenantId, c: &Customer, status: &str) -> Result<Vec<SqlValue>> {
    let text = |f: Field| SqlValue::from(c.fields.text(f));
    let gender = c
        .fields
        .get(Field::Gender)
        .and_then(|v| v.as_i64())
        .map_or(SqlValue::Null, SqlValue::Int);
    Ok(vec![
        tenant.as_str().into(),
        id_param(c.id)?,
        status.into(),
        ts(&c.created).into(),
        ts(&c.updated).into(),
        data_json(c).into(),
        text(Field::Mobile),
        text(Field::Email),
        text(Field::Name),
        text(Field::NickName),
        gender,
        text(Field::Stage),
        text(Field::Source),
    ])
}

// Statements keyed by a customer id test the tenant inside a `CASE`: PostgreSQL caches a
// generic plan per prepared statement, and without column statistics (a new database, or
// autovacuum off) it may pick an index that leads with `tenant` (every row of the tenant)
// over the one on the id. A `CASE` cannot use an index, so the id's index is the only choice.

/// Timestamps are stored as fixed-width RFC 3339 text, which sorts as time does in every
/// database and round-trips to the microsecond.
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let mut out = String::with_capacity(27);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        // A leap second reads as second 60, as `%S` writes it.
        t.second() + u32::from(t.nanosecond() >= 1_000_000_000),
        t.nanosecond() % 1_000_000_000 / 1_000
    );
    out
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::Store(format!("bad timestamp {s:?} in the database: {e}")))
}

fn id_param(id: CustomerId) -> Result<SqlValue> {
    i64::try_from(id.0)
        .map(SqlValue::Int)
        .map_err(|_| Error::CustomerNotFound(id))
}

fn key_params(tenant: &TenantId, key: IdentityKey<'_>) -> [SqlValue; 4] {
    [
        tenant.as_str().into(),
        key.identity_type.into(),
        key.scope.unwrap_or("").into(),
        key.value.into(),
    ]
}

fn operation_name(op: Operation) -> &'static str {
    match op {
        Operation::Resolve => "resolve",
        Operation::Create => "create",
        Operation::Update => "update",
        Operation::AddIdentity => "addIdentity",
        Operation::RemoveIdentity => "removeIdentity",
        Operation::Delete => "delete",
        Operation::Erase => "erase",
    }
}

fn operation_from(name: &str) -> Result<Operation> {
    Ok(match name {
        "resolve" => Operation::Resolve,
        "create" => Operation::Create,
        "update" => Operation::Update,
        "addIdentity" => Operation::AddIdentity,
        "removeIdentity" => Operation::RemoveIdentity,
        "delete" => Operation::Delete,
        "erase" => Operation::Erase,
        other => return Err(Error::Store(format!("unknown operation {other:?} in history"))),
    })
}

/// The JSON kept in a customer row's `data` column:
/// `{"fields": {name: value, ...}, "attrs": {...}, "tags": [...], "groups": [...]}`.
fn data_json(c: &Customer) -> String {
    struct FieldsOut<'a>(&'a Fields);
    impl serde::Serialize for FieldsOut<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(None)?;
            for (f, v) in self.0.iter() {
                map.serialize_entry(f.name(), &v.to_json())?;
            }
            map.end()
        }
    }
    #[derive(serde::Serialize)]
    struct Data<'a> {
        fields: FieldsOut<'a>,
        attrs: &'a IndexMap<String, ExtAttr>,
        tags: &'a [String],
        groups: &'a [i64],
    }
    serde_json::to_string(&Data {
        fields: FieldsOut(&c.fields),
        attrs: &c.attrs,
        tags: &c.tags,
        groups: &c.groups,
    })
    .expect("customer data serializes")
}

fn read_data(c: &mut Customer, data: &str) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Data {
        fields: serde_json::Map<String, serde_json::Value>,
        attrs: IndexMap<String, ExtAttr>,
        tags: Vec<String>,
        groups: Vec<i64>,
    }
    let data: Data =
        serde_json::from_str(data).map_err(|e| Error::Store(format!("bad customer data: {e}")))?;
    let mut fields = Fields::new();
    for (name, value) in &data.fields {
        let field =
            Field::from_name(name).ok_or_else(|| Error::Store(format!("unknown field {name} stored")))?;
        if let Some(v) = field.parse_json(value)? {
            fields.set(field, v)?;
        }
    }
    c.fields = fields;
    c.attrs = data.attrs;
    c.tags = data.tags;
    c.groups = data.groups;
    Ok(())
}

const CUSTOMER_COLUMNS: &str = "id, status, merged_into, created, updated, data";
/// [`CUSTOMER_COLUMNS`] of the customer table aliased `c`.
const CUSTOMER_COLUMNS_C: &str = "c.id, c.status, c.merged_into, c.created, c.updated, c.data";

fn customer_from_row(row: &[SqlValue]) -> Result<(Customer, Option<i64>)> {
    let id = CustomerId(row[0].int()? as u64);
    let merged_into = row[2].opt_int()?;
    let status = match row[1].text()? {
        "active" => CustomerStatus::Active,
        "deleted" => CustomerStatus::Deleted,
        "erased" => CustomerStatus::Erased,
        "merged" => CustomerStatus::Merged {
            into: CustomerId(
                merged_into.ok_or_else(|| Error::Store(format!("merged customer {id} without target")))?
                    as u64,
            ),
        },
        other => return Err(Error::Store(format!("unknown status {other:?}"))),
    };
    let mut c = Customer::new(id, parse_ts(row[3].text()?)?);
    c.status = status;
    c.updated = parse_ts(row[4].text()?)?;
    read_data(&mut c, row[5].text()?)?;
    Ok((c, merged_into))
}

fn identity_from(ty: &str, scope: &str, value: &str, name: Option<&str>) -> Result<Identity> {
    Ok(Identity {
        identity_type: IdentityType::new(ty)
            .ok_or_else(|| Error::Store(format!("bad identity type {ty:?} stored")))?,
        scope: (!scope.is_empty()).then(|| Arc::from(scope)),
        identity_value: value.into(),
        identity_name: name.map(Arc::from),
    })
}

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

/// A `WHERE` clause for a filter, with its parameters after `first` fixed ones.
fn filter_sql(tenant: &TenantId, filter: &CustomerFilter) -> (String, Vec<SqlValue>) {
    let mut params: Vec<SqlValue> = vec![tenant.as_str().into()];
    let mut sql = String::from("c.tenant = ?1 AND c.status = 'active'");
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
        // Written into the statement, not passed as parameters: a long list would pass the
        // databases' limits (32,766 parameters in SQLite, 65,535 in PostgreSQL), and integers
        // this code formats cannot inject anything. No stored id is above `i64::MAX`.
        let mut list = String::new();
        for id in ids.iter().filter_map(|id| i64::try_from(id.0).ok()) {
            use std::fmt::Write;
            let _ = write!(list, "{}{id}", if list.is_empty() { "" } else { "," });
        }
        if list.is_empty() {
            push(&mut params, "1 = 0", vec![]);
        } else {
            push(&mut params, &format!("c.id IN ({list})"), vec![]);
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

impl<B: SqlBackend> SqlTxn<B> {
    /// The row an id leads to, following the (single-hop) merge alias.
    fn resolve_row(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Customer>> {
        if let Some(c) = self.cache.borrow().customer(tenant, id.0) {
            return Ok(Some(c.clone()));
        }
        let Ok(param) = id_param(id) else { return Ok(None) };
        // Customer rows a transaction reads stay locked until it ends: a concurrent merge or
        // delete of them waits, and whatever this transaction planned on them stays true.
        let sql = format!("SELECT {CUSTOMER_COLUMNS} FROM oneid_customers WHERE tenant = ?1 AND id = ?2");
        let rows = self.locked_rows(&sql, &[tenant.as_str().into(), param])?;
        let Some(row) = rows.first() else { return Ok(None) };
        let (customer, merged_into) = customer_from_row(row)?;
        // Merged customers (and the tombstones of erased ones) point at their survivor.
        match merged_into {
            Some(target) => {
                if let Some(c) = self.cache.borrow().customer(tenant, target as u64) {
                    return Ok(Some(c.clone()));
                }
                let rows = self.locked_rows(&sql, &[tenant.as_str().into(), target.into()])?;
                let row = rows
                    .first()
                    .ok_or_else(|| Error::Store(format!("alias {id} leads nowhere")))?;
                Ok(Some(self.remember(tenant, customer_from_row(row)?.0)))
            }
            None => Ok(Some(self.remember(tenant, customer))),
        }
    }

    /// Keeps a customer row just read (and locked) for the rest of the transaction.
    fn remember(&self, tenant: &TenantId, c: Customer) -> Customer {
        self.cache
            .borrow_mut()
            .customers
            .insert(c.id.0, (tenant.clone(), c.clone()));
        self.remember_lists(c)
    }

    fn remember_lists(&self, c: Customer) -> Customer {
        self.lists
            .borrow_mut()
            .insert(c.id.0, (c.tags.clone(), c.groups.clone()));
        c
    }

    fn root_id(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<CustomerId>> {
        Ok(self.resolve_row(tenant, id)?.map(|c| c.id))
    }

    fn live_root(&self, tenant: &TenantId, id: CustomerId) -> Result<CustomerId> {
        match self.resolve_row(tenant, id)? {
            Some(c) if c.is_active() => Ok(c.id),
            _ => Err(Error::CustomerNotFound(id)),
        }
    }

    fn record(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        at: DateTime<Utc>,
        kind: &EventKind,
        cause: &Cause,
    ) -> Result<()> {
        let (name, identity, other): (&str, Option<&Identity>, Option<CustomerId>) = match kind {
            EventKind::Created => ("created", None, None),
            EventKind::Linked { identity } => ("linked", Some(identity), None),
            EventKind::Unlinked { identity } => ("unlinked", Some(identity), None),
            EventKind::Merged { from } => ("merged", None, Some(*from)),
            EventKind::MergedInto { into } => ("mergedInto", None, Some(*into)),
            EventKind::Deleted => ("deleted", None, None),
            EventKind::Erased => ("erased", None, None),
        };
        let other = match other {
            Some(id) => id_param(id)?,
            None => SqlValue::Null,
        };
        self.cache.borrow_mut().history.push([
            tenant.as_str().into(),
            id_param(customer)?,
            ts(&at).into(),
            name.into(),
            identity.map(|i| i.identity_type.as_str()).into(),
            identity.map(|i| i.scope.as_deref().unwrap_or("")).into(),
            identity.map(|i| &*i.identity_value).into(),
            identity.and_then(|i| i.identity_name.as_deref()).into(),
            other,
            operation_name(cause.operation).into(),
            cause.reference.as_deref().into(),
        ]);
        Ok(())
    }

    /// The customer and every customer merged into it, in the order the memory store uses:
    /// breadth-first through the recorded merges.
    fn members(&self, tenant: &TenantId, root: CustomerId) -> Result<Vec<CustomerId>> {
        let mut members = vec![root];
        let mut i = 0;
        while i < members.len() {
            let rows = self.rows(
                "SELECT other FROM oneid_history WHERE tenant = ?1 AND customer = ?2 AND kind = 'merged' ORDER BY seq",
                &[tenant.as_str().into(), id_param(members[i])?],
            )?;
            for row in rows {
                members.push(CustomerId(row[0].int()? as u64));
            }
            i += 1;
        }
        Ok(members)
    }

    fn write_side_tables(&self, c: &Customer) -> Result<()> {
        let unchanged = self
            .lists
            .borrow()
            .get(&c.id.0)
            .is_some_and(|(t, g)| *t == c.tags && *g == c.groups);
        if unchanged {
            return Ok(());
        }
        self.lists
            .borrow_mut()
            .insert(c.id.0, (c.tags.clone(), c.groups.clone()));
        let id = id_param(c.id)?;
        self.exec(
            "DELETE FROM oneid_tags WHERE customer = ?1",
            std::slice::from_ref(&id),
        )?;
        self.exec(
            "DELETE FROM oneid_groups WHERE customer = ?1",
            std::slice::from_ref(&id),
        )?;
        for tag in &c.tags {
            self.exec(
                "INSERT INTO oneid_tags (customer, tag) VALUES (?1, ?2)",
                &[id.clone(), tag.as_str().into()],
            )?;
        }
        for g in &c.groups {
            self.exec(
                "INSERT INTO oneid_groups (customer, grp) VALUES (?1, ?2)",
                &[id.clone(), (*g).into()],
            )?;
        }
        Ok(())
    }

    /// Writes a customer row (and its side tables); with `only_active`, only if the row is a
    /// live customer. Returns the number of rows written.
    fn write_customer(
        &self,
        tenant: &TenantId,
        c: &Customer,
        status: &str,
        only_active: bool,
    ) -> Result<u64> {
        let sql = if only_active {
            "UPDATE oneid_customers SET status = ?3, created = ?4, updated = ?5, data = ?6, mobile = ?7, email = ?8, \
             name = ?9, nick_name = ?10, gender = ?11, stage = ?12, source = ?13 \
             WHERE id = ?2 AND (CASE WHEN tenant = ?1 AND status = 'active' THEN 1 ELSE 0 END) = 1"
        } else {
            "UPDATE oneid_customers SET status = ?3, created = ?4, updated = ?5, data = ?6, mobile = ?7, email = ?8, \
             name = ?9, nick_name = ?10, gender = ?11, stage = ?12, source = ?13 WHERE tenant = ?1 AND id = ?2"
        };
        let changed = self.exec(sql, &customer_values(tenant, c, status)?)?;
        if changed > 0 {
            self.write_side_tables(c)?;
        }
        Ok(changed)
    }
}

impl<B: SqlBackend> Txn for SqlTxn<B> {
    fn lookup(&self, tenant: &TenantId, key: IdentityKey<'_>) -> Result<Lookup> {
        let mut out = Vec::with_capacity(1);
        self.lookup_many(tenant, &[key.hashed()], &mut out)?;
        Ok(out[0])
    }

    fn lookup_many(
        &self,
        tenant: &TenantId,
        keys: &[HashedKey<'_>],
        answers: &mut Vec<Lookup>,
    ) -> Result<()> {
        let keys: Vec<IdentityKey<'_>> = keys.iter().map(|k| k.key).collect();
        let mut out = vec![Lookup::default(); keys.len()];
        // Identities linked earlier in this transaction (not written yet) are owned by their
        // target; their evidence is in the database.
        let mut held: Vec<usize> = Vec::new();
        {
            let cache = self.cache.borrow();
            if !cache.linked.is_empty() {
                for (n, key) in keys.iter().enumerate() {
                    if let Some(&owner) = cache.linked.get(&KeyRef::new(tenant, *key)) {
                        out[n].owner = Some(CustomerId(owner));
                        held.push(n);
                    }
                }
            }
        }
        for &n in &held {
            let rows = self.rows(
                "SELECT COUNT(*) FROM oneid_suspicions WHERE tenant = ?1 AND itype = ?2 AND scope = ?3 AND value = ?4",
                &key_params(tenant, keys[n]),
            )?;
            out[n].suspicion = u32::try_from(rows[0][0].int()?).unwrap_or(u32::MAX);
        }
        let ask: Vec<usize> = (0..keys.len()).filter(|n| !held.contains(n)).collect();
        if ask.is_empty() {
            answers.extend(out);
            return Ok(());
        }
        // One round trip for the rest: the identities, their owners' rows and the evidence
        // counts, with the identity and owner rows locked until the transaction ends. Each
        // database gets the form its planner always answers with one index search per key.
        use std::fmt::Write;
        let mut params = vec![SqlValue::from(tenant.as_str())];
        for &n in &ask {
            let key = keys[n];
            params.extend([
                key.identity_type.into(),
                key.scope.unwrap_or("").into(),
                key.value.into(),
            ]);
        }
        let lock = self.conn.borrow().lock_rows();
        let mut sql = format!(
            "SELECT i.itype, i.scope, i.value, i.customer, (SELECT COUNT(*) FROM oneid_suspicions s \
             WHERE s.tenant = i.tenant AND s.itype = i.itype AND s.scope = i.scope AND s.value = i.value), \
             {CUSTOMER_COLUMNS_C} FROM "
        );
        if lock.is_empty() {
            // SQLite (no row locks): one index search per key (its "multi-index OR"); its
            // planner may scan a whole tenant for a join to a VALUES list.
            sql.push_str("oneid_identities i JOIN oneid_customers c ON c.id = i.customer WHERE ");
            for j in 0..ask.len() {
                let p = 3 * j + 1;
                if j > 0 {
                    sql.push_str(" OR ");
                }
                let _ = write!(
                    sql,
                    "(i.tenant = ?1 AND i.itype = ?{} AND i.scope = ?{} AND i.value = ?{})",
                    p + 1,
                    p + 2,
                    p + 3
                );
            }
        } else {
            // PostgreSQL: a VALUES list joined to the unique index; the generic plan it caches
            // for an OR of keys may scan the tenant instead.
            sql.push_str("(VALUES ");
            for j in 0..ask.len() {
                let p = 3 * j + 1;
                if j > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "(?{}, ?{}, ?{})", p + 1, p + 2, p + 3);
            }
            let _ = write!(
                sql,
                ") AS k JOIN oneid_identities i ON i.tenant = ?1 AND i.itype = k.column1 AND i.scope = k.column2 \
                 AND i.value = k.column3 JOIN oneid_customers c ON c.id = i.customer{lock} OF i, c"
            );
        }
        let rows = self.rows(&sql, &params)?;
        let mut owners: Vec<u64> = Vec::new();
        for row in &rows {
            let (ty, scope, value) = (row[0].text()?, row[1].text()?, row[2].text()?);
            let owner = row[3].int()? as u64;
            // A merge that committed between reading the identity and locking its owner
            // leaves the owner merged: the whole operation runs again on the new state.
            if row[6].text()? != "active" {
                return Err(Error::Transient(format!(
                    "the owner of {ty} {value} changed concurrently"
                )));
            }
            let suspicion = u32::try_from(row[4].int()?).unwrap_or(u32::MAX);
            for &n in &ask {
                let key = keys[n];
                if key.identity_type == ty && key.scope.unwrap_or("") == scope && key.value == value {
                    out[n] = Lookup {
                        owner: Some(CustomerId(owner)),
                        suspicion,
                    };
                }
            }
            if !owners.contains(&owner) {
                owners.push(owner);
                if self.cache.borrow().customer(tenant, owner).is_none() {
                    self.remember(tenant, customer_from_row(&row[5..])?.0);
                }
            }
        }
        // Resolves go on to read their owners' identities (limits, quarantine): read them now,
        // all in one query.
        self.read_identities(tenant, &owners)?;
        answers.extend(out);
        Ok(())
    }

    fn is_suspected_with(
        &self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
    ) -> Result<bool> {
        let (key, conflicting) = (key.key, conflicting.key);
        let [t, a, b, c] = key_params(tenant, key);
        let rows = self.rows(
            "SELECT 1 FROM oneid_suspicions WHERE tenant = ?1 AND itype = ?2 AND scope = ?3 AND value = ?4 \
             AND ctype = ?5 AND cscope = ?6 AND cvalue = ?7",
            &[
                t,
                a,
                b,
                c,
                conflicting.identity_type.into(),
                conflicting.scope.unwrap_or("").into(),
                conflicting.value.into(),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    fn add_suspicion(
        &mut self,
        tenant: &TenantId,
        key: HashedKey<'_>,
        conflicting: HashedKey<'_>,
    ) -> Result<()> {
        let (key, conflicting) = (key.key, conflicting.key);
        let [t, a, b, c] = key_params(tenant, key);
        self.exec(
            "INSERT INTO oneid_suspicions (tenant, itype, scope, value, ctype, cscope, cvalue) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            &[
                t,
                a,
                b,
                c,
                conflicting.identity_type.into(),
                conflicting.scope.unwrap_or("").into(),
                conflicting.value.into(),
            ],
        )?;
        Ok(())
    }

    fn customer(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Cow<'_, Customer>>> {
        Ok(self.resolve_row(tenant, id)?.map(Cow::Owned))
    }

    fn identities(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<Identity>> {
        let Some(root) = self.root_id(tenant, id)? else {
            return Ok(Vec::new());
        };
        if let Some(list) = self.cache.borrow().identities.get(&root.0) {
            return Ok(list.clone());
        }
        self.read_identities(tenant, &[root.0])?;
        Ok(self
            .cache
            .borrow()
            .identities
            .get(&root.0)
            .cloned()
            .unwrap_or_default())
    }

    fn identities_of_type(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        identity_type: &str,
        scope: Option<&str>,
    ) -> Result<Vec<Identity>> {
        let mut all = self.identities(tenant, id)?;
        all.retain(|i| i.identity_type.as_str() == identity_type && i.scope.as_deref() == scope);
        Ok(all)
    }

    fn history(&self, tenant: &TenantId, id: CustomerId) -> Result<Vec<HistoryEvent>> {
        self.flush()?;
        let Some(root) = self.root_id(tenant, id)? else {
            return Ok(Vec::new());
        };
        let members = self.members(tenant, root)?;
        let mut events: Vec<(DateTime<Utc>, i64, HistoryEvent)> = Vec::new();
        for m in members {
            let rows = self.rows(
                "SELECT seq, customer, at, kind, itype, iscope, ivalue, iname, other, operation, reference \
                 FROM oneid_history WHERE tenant = ?1 AND customer = ?2 ORDER BY seq",
                &[tenant.as_str().into(), id_param(m)?],
            )?;
            for r in rows {
                let identity = || identity_from(r[4].text()?, r[5].text()?, r[6].text()?, r[7].opt_text()?);
                let other = || Ok::<_, Error>(CustomerId(r[8].int()? as u64));
                let kind = match r[3].text()? {
                    "created" => EventKind::Created,
                    "linked" => EventKind::Linked {
                        identity: identity()?,
                    },
                    "unlinked" => EventKind::Unlinked {
                        identity: identity()?,
                    },
                    "merged" => EventKind::Merged { from: other()? },
                    "mergedInto" => EventKind::MergedInto { into: other()? },
                    "deleted" => EventKind::Deleted,
                    "erased" => EventKind::Erased,
                    k => return Err(Error::Store(format!("unknown event kind {k:?}"))),
                };
                let at = parse_ts(r[2].text()?)?;
                let event = HistoryEvent {
                    customer: CustomerId(r[1].int()? as u64),
                    at,
                    kind,
                    cause: Cause {
                        operation: operation_from(r[9].text()?)?,
                        reference: r[10].opt_text()?.map(Arc::from),
                    },
                };
                events.push((at, r[0].int()?, event));
            }
        }
        events.sort_by_key(|(at, seq, _)| (*at, *seq));
        Ok(events.into_iter().map(|(_, _, e)| e).collect())
    }

    fn create_customer(&mut self, tenant: &TenantId, at: DateTime<Utc>, cause: &Cause) -> Result<CustomerId> {
        let empty = Customer::new(CustomerId(0), at);
        let reserved = {
            let next = self.cache.borrow().next_id;
            match next {
                Some(n) => Some(n),
                None => self.conn.borrow_mut().first_free_id()?,
            }
        };
        let id = match reserved {
            // The row is written at commit, with the customer's data.
            Some(n) => {
                let mut cache = self.cache.borrow_mut();
                cache.next_id = Some(n + 1);
                cache.fresh.insert(n as u64);
                cache.dirty.insert(n as u64);
                CustomerId(n as u64)
            }
            None => {
                let rows = self.rows(
                    "INSERT INTO oneid_customers (tenant, status, created, updated, data) VALUES (?1, 'active', ?2, ?2, ?3) RETURNING id",
                    &[tenant.as_str().into(), ts(&at).into(), data_json(&empty).into()],
                )?;
                CustomerId(
                    rows.first()
                        .ok_or_else(|| Error::Store("no id returned".into()))?[0]
                        .int()? as u64,
                )
            }
        };
        let mut customer = empty;
        customer.id = id;
        {
            let mut cache = self.cache.borrow_mut();
            cache.customers.insert(id.0, (tenant.clone(), customer));
            cache.identities.insert(id.0, Vec::new());
        }
        self.lists.borrow_mut().insert(id.0, (Vec::new(), Vec::new()));
        self.record(tenant, id, at, &EventKind::Created, cause)?;
        Ok(id)
    }

    fn link(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        key: HashedKey<'_>,
        name: Option<&str>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()> {
        let key = key.key;
        let identity = &Identity {
            identity_type: IdentityType::new(key.identity_type)
                .ok_or_else(|| Error::Store(format!("{:?} is not an identity type", key.identity_type)))?,
            scope: key.scope.map(Arc::from),
            identity_value: key.value.into(),
            identity_name: name.map(Arc::from),
        };
        // `id` is a live customer's own id (the engine links to the target it just read or
        // created, and that row is locked); no second read is needed. The identity is written
        // at commit, where the unique key decides: if a concurrent writer claimed it first,
        // the commit fails and the whole operation runs again against the new state.
        {
            let mut cache = self.cache.borrow_mut();
            let key = KeyRef::new(tenant, identity.key()).owned();
            if cache.linked.insert(key, id.0).is_some() {
                return Err(Error::Store(format!("identity {identity} linked twice")));
            }
            cache.links.push((tenant.clone(), identity.clone(), id.0));
            if let Some(list) = cache.identities.get_mut(&id.0) {
                list.push(identity.clone());
            }
        }
        self.record(
            tenant,
            id,
            at,
            &EventKind::Linked {
                identity: identity.clone(),
            },
            cause,
        )
    }

    fn merge(
        &mut self,
        tenant: &TenantId,
        from: CustomerId,
        into: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<()> {
        self.flush()?;
        let from = self.live_root(tenant, from)?;
        let into = self.live_root(tenant, into)?;
        self.forget();
        if from == into {
            return Err(Error::Store(format!("cannot merge customer {from} into itself")));
        }
        let (f, i, t) = (id_param(from)?, id_param(into)?, SqlValue::from(tenant.as_str()));
        self.exec(
            "UPDATE oneid_identities SET customer = ?3 WHERE customer = ?2 AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1",
            &[t.clone(), f.clone(), i.clone()],
        )?;
        self.exec(
            "UPDATE oneid_customers SET status = 'merged', merged_into = ?3, updated = ?4 WHERE tenant = ?1 AND id = ?2",
            &[t.clone(), f.clone(), i.clone(), ts(&at).into()],
        )?;
        // Every alias of `from` now reads `into` in one hop.
        self.exec(
            "UPDATE oneid_customers SET merged_into = ?3 WHERE merged_into = ?2 AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1",
            &[t, f, i],
        )?;
        self.lists.borrow_mut().insert(from.0, (Vec::new(), Vec::new()));
        self.exec("DELETE FROM oneid_tags WHERE customer = ?1", &[id_param(from)?])?;
        self.exec("DELETE FROM oneid_groups WHERE customer = ?1", &[id_param(from)?])?;
        self.record(tenant, from, at, &EventKind::MergedInto { into }, cause)?;
        self.record(tenant, into, at, &EventKind::Merged { from }, cause)
    }

    fn delete(&mut self, tenant: &TenantId, id: CustomerId, at: DateTime<Utc>, cause: &Cause) -> Result<()> {
        self.flush()?;
        let root = self.live_root(tenant, id)?;
        self.forget();
        let (t, r) = (SqlValue::from(tenant.as_str()), id_param(root)?);
        self.exec(
            "DELETE FROM oneid_identities WHERE customer = ?2 AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1",
            &[t.clone(), r.clone()],
        )?;
        self.exec(
            "UPDATE oneid_customers SET status = 'deleted', updated = ?3 WHERE tenant = ?1 AND id = ?2",
            &[t, r, ts(&at).into()],
        )?;
        self.record(tenant, root, at, &EventKind::Deleted, cause)
    }

    fn erase(
        &mut self,
        tenant: &TenantId,
        id: CustomerId,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<Vec<CustomerId>> {
        self.flush()?;
        let root = self.root_id(tenant, id)?.ok_or(Error::CustomerNotFound(id))?;
        self.forget();
        let members = self.members(tenant, root)?;
        let t = SqlValue::from(tenant.as_str());
        // Every identity these customers ever held, from their history.
        let mut identities: Vec<(String, String, String)> = Vec::new();
        for &m in &members {
            let rows = self.rows(
                "SELECT itype, iscope, ivalue FROM oneid_history WHERE tenant = ?1 AND customer = ?2 AND ivalue IS NOT NULL",
                &[t.clone(), id_param(m)?],
            )?;
            for r in rows {
                identities.push((
                    r[0].text()?.to_string(),
                    r[1].text()?.to_string(),
                    r[2].text()?.to_string(),
                ));
            }
        }
        self.exec(
            "DELETE FROM oneid_identities WHERE customer = ?2 AND (CASE WHEN tenant = ?1 THEN 1 ELSE 0 END) = 1",
            &[t.clone(), id_param(root)?],
        )?;
        for (ty, scope, value) in &identities {
            let p = [
                t.clone(),
                ty.as_str().into(),
                scope.as_str().into(),
                value.as_str().into(),
            ];
            self.exec(
                "DELETE FROM oneid_suspicions WHERE tenant = ?1 AND ((itype = ?2 AND scope = ?3 AND value = ?4) \
                 OR (ctype = ?2 AND cscope = ?3 AND cvalue = ?4))",
                &p,
            )?;
        }
        let mut erased = Vec::with_capacity(members.len());
        for &m in &members {
            let created = self
                .rows(
                    "SELECT created FROM oneid_customers WHERE tenant = ?1 AND id = ?2",
                    &[t.clone(), id_param(m)?],
                )?
                .first()
                .map(|r| r[0].text().and_then(parse_ts))
                .transpose()?
                .unwrap_or(at);
            let mut tomb = Customer::new(m, created);
            tomb.updated = at;
            self.write_customer(tenant, &tomb, "erased", false)?;
            // Nothing personal stays in history: identities keep only their type.
            self.exec(
                "UPDATE oneid_history SET iscope = '', ivalue = '[erased]', iname = NULL \
                 WHERE tenant = ?1 AND customer = ?2 AND ivalue IS NOT NULL",
                &[t.clone(), id_param(m)?],
            )?;
            erased.push(m);
        }
        // Merged members keep pointing at the root's tombstone, so their ids read it.
        self.record(tenant, root, at, &EventKind::Erased, cause)?;
        Ok(erased)
    }

    fn unlink(
        &mut self,
        tenant: &TenantId,
        key: IdentityKey<'_>,
        at: DateTime<Utc>,
        cause: &Cause,
    ) -> Result<bool> {
        self.flush()?;
        self.forget();
        let params = key_params(tenant, key);
        let rows = self.rows(
            "SELECT customer, itype, scope, value, name FROM oneid_identities \
             WHERE tenant = ?1 AND itype = ?2 AND scope = ?3 AND value = ?4",
            &params,
        )?;
        let Some(row) = rows.first() else { return Ok(false) };
        let owner = CustomerId(row[0].int()? as u64);
        let identity = identity_from(row[1].text()?, row[2].text()?, row[3].text()?, row[4].opt_text()?)?;
        self.exec(
            "DELETE FROM oneid_identities WHERE tenant = ?1 AND itype = ?2 AND scope = ?3 AND value = ?4",
            &params,
        )?;
        self.record(tenant, owner, at, &EventKind::Unlinked { identity }, cause)?;
        Ok(true)
    }

    fn query(&self, tenant: &TenantId, query: &CustomerQuery) -> Result<CustomerPage> {
        self.flush()?;
        let (filter, mut params) = filter_sql(tenant, &query.filter);
        let total = self.rows(
            &format!("SELECT COUNT(*) FROM oneid_customers c WHERE {filter}"),
            &params,
        )?[0][0]
            .int()?;
        let dir = if query.descending { "DESC" } else { "ASC" };
        // Customers without the sort field come last in ascending order (first in
        // descending), and ties go by id, as in `CustomerQuery::compare`.
        let order = match query.sort {
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
                // Fields without a column are sorted here after loading, by the reference order.
                None => String::new(),
            },
        };
        let size = query.size.min(CustomerQuery::MAX_SIZE);
        let rows: Vec<Customer> = if order.is_empty() {
            let all = self.rows(
                &format!("SELECT {CUSTOMER_COLUMNS} FROM oneid_customers c WHERE {filter}"),
                &params,
            )?;
            let mut all = all
                .iter()
                .map(|r| customer_from_row(r).map(|(c, _)| c))
                .collect::<Result<Vec<_>>>()?;
            all.sort_by(|a, b| query.compare(a, b));
            let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
            all.into_iter().skip(offset).take(size as usize).collect()
        } else {
            params.push(SqlValue::Int(i64::from(size)));
            params.push(SqlValue::Int(i64::try_from(query.offset()).unwrap_or(i64::MAX)));
            let n = params.len();
            let sql = format!(
                "SELECT {CUSTOMER_COLUMNS} FROM oneid_customers c WHERE {filter} ORDER BY {order} LIMIT ?{} OFFSET ?{n}",
                n - 1
            );
            let found = self.rows(&sql, &params)?;
            found
                .iter()
                .map(|r| customer_from_row(r).map(|(c, _)| c))
                .collect::<Result<Vec<_>>>()?
        };
        // Text sorts match the reference byte order because the DDL gives sortable text
        // columns a binary collation.
        Ok(CustomerPage {
            rows,
            total: total as u64,
        })
    }

    fn count(&self, tenant: &TenantId, filter: &CustomerFilter) -> Result<u64> {
        self.flush()?;
        let (filter, params) = filter_sql(tenant, filter);
        Ok(self.rows(
            &format!("SELECT COUNT(*) FROM oneid_customers c WHERE {filter}"),
            &params,
        )?[0][0]
            .int()? as u64)
    }

    fn put_customer(&mut self, tenant: &TenantId, customer: Customer) -> Result<()> {
        {
            // A live customer this transaction read or created: its row is written at commit.
            let mut cache = self.cache.borrow_mut();
            if cache
                .customer(tenant, customer.id.0)
                .is_some_and(Customer::is_active)
            {
                let id = customer.id.0;
                let mut customer = customer;
                customer.status = CustomerStatus::Active;
                cache.customers.insert(id, (tenant.clone(), customer));
                cache.dirty.insert(id);
                return Ok(());
            }
        }
        self.flush()?;
        if self.write_customer(tenant, &customer, "active", true)? == 1 {
            return Ok(());
        }
        // Nothing written: say why.
        match self.live_root(tenant, customer.id)? {
            root if root != customer.id => Err(Error::Store(format!(
                "customer {} is an alias of {root}; write the live customer",
                customer.id
            ))),
            _ => Err(Error::CustomerNotFound(customer.id)),
        }
    }

    fn commit(self) -> Result<()> {
        self.flush()?;
        self.conn.into_inner().commit()
    }
}
