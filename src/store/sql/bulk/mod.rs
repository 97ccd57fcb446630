//! Bulk loads into the SQL stores: a tenant resolved in memory, written as the rows resolving
//! it one request at a time would have left.
//!
//! The rows follow from what the memory store kept, read in place ([`TenantExport`]):
//!
//! - `oneid_customers`: every slot, numbered as the memory store numbered it; a merged one
//!   with the data it had when merged, `merged_into` the customer it was merged into, and its
//!   merge set (`parent`, `weight`, `survivor`) from the merges replayed in order with the
//!   rule a SQL merge follows (the smaller set under the larger, ties under `into`'s);
//! - `oneid_identities`: one row per link, numbered in link order from the next free `seq`,
//!   `customer` the customer it was linked to (written in link order, or in the order of the
//!   unique key where the backend asks for it);
//! - `oneid_counts`: each live customer's links by type and scope, and the first of them;
//! - `oneid_tags`, `oneid_groups`: the live customers' lists;
//! - `oneid_history`: every event, in recording order, numbered from the next free `seq`;
//! - `oneid_suspicions`: the evidence, as text;
//! - `oneid_settings`, `oneid_tenants`: the settings versions the load stored.
//!
//! Each backend writes the rows its fastest way ([`CopyRows`]): prepared single-row
//! `INSERT`s in the one transaction on SQLite (no statement is parsed twice), `COPY … FROM
//! STDIN` on PostgreSQL. A bulk load records only resolves: an event of any other kind in
//! the export is an invariant broken, refused before anything is written.

#[cfg(feature = "postgres")]
mod postgres;
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;

use super::codec::{customer_values, id_param, operation_name, ts};
use super::{SqlBackend, SqlValue};
use crate::error::{Error, Result};
use crate::model::{CustomerId, CustomerStatus, TenantId};
use crate::store::bulk::sealed::BulkStart;
use crate::store::memory::{EventRef, IdentityRef, TenantExport};
use rows::RowBuf;

/// What a bulk load needs of a backend beyond [`SqlBackend`].
pub(crate) trait CopyRows: SqlBackend {
    /// Whether identities are written in the order of their unique key (type, scope, value)
    /// rather than in link order: an index built after the rows then sorts input that is
    /// mostly in order already, and one kept during the load grows at one end.
    const IDENTITIES_BY_KEY: bool;

    /// Writes rows into `columns` of `table`: `fill` writes one row into the cleared buffer
    /// and says whether it did (`false`: no rows left).
    fn copy_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        fill: &mut dyn FnMut(&mut RowBuf) -> Result<bool>,
    ) -> Result<()>;

    /// The next free value of `table`'s numbered column `column` (past every row and every
    /// number handed out).
    fn next_free(&mut self, table: &str, column: &str) -> Result<i64>;

    /// Records that `table`'s `column` was numbered up to `last` by hand, so that the
    /// database numbers new rows past it.
    fn numbered_to(&mut self, table: &str, column: &str, last: i64) -> Result<()>;

    /// The indexes of `table` a load drops before it writes and builds again after, each as
    /// the statement that drops it and the one that makes it again: the indexes no
    /// constraint needs and, when the table is `empty` and the backend can make them again
    /// as they were, those of its keys and unique constraints.
    fn rebuilt_indexes(&mut self, table: &str, empty: bool) -> Result<Vec<(String, String)>>;
}

/// Fills `table` with `rows` rows by `fill`. When the table holds fewer rows than that, its
/// indexes that no constraint needs (and, when it holds none, those of its constraints where
/// the backend can) are dropped first and built again after, in the same transaction:
/// building an index from all its keys at once costs a fraction of inserting them one by
/// one.
fn fill_table<B: CopyRows>(
    conn: &mut B,
    table: &str,
    columns: &[&str],
    rows: usize,
    fill: &mut dyn FnMut(&mut RowBuf) -> Result<bool>,
) -> Result<()> {
    if rows == 0 {
        return Ok(());
    }
    let held = conn.query(
        &format!("SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT ?1) AS held"),
        &[(rows as i64).into()],
    )?[0][0]
        .int()?;
    let rebuilt = if (held as usize) < rows {
        conn.rebuilt_indexes(table, held == 0)?
    } else {
        Vec::new()
    };
    for (drop, _) in &rebuilt {
        conn.execute(drop, &[])?;
    }
    conn.copy_rows(table, columns, fill)?;
    for (_, create) in &rebuilt {
        conn.execute(create, &[])?;
    }
    Ok(())
}

/// Whether `tenant` holds any customer.
fn holds_customers<B: SqlBackend>(conn: &mut B, tenant: &TenantId) -> Result<bool> {
    Ok(!conn
        .query(
            "SELECT 1 FROM oneid_customers WHERE tenant = ?1 LIMIT 1",
            &[tenant.as_str().into()],
        )?
        .is_empty())
}

/// The refusal of a load into a tenant that holds customers.
fn not_empty(tenant: &TenantId) -> Error {
    Error::TenantNotEmpty(tenant.clone())
}

/// The refusal of a load whose start no longer holds: nothing was written, and the load may
/// be run again.
fn changed(what: String) -> Error {
    Error::Contention {
        attempts: 1,
        last: what,
    }
}

/// The ids a load numbers from: past every id in use, rounded up to the memory store's blocks.
fn first_id(next_free: i64) -> u64 {
    let used = (next_free.max(1) - 1) as u64;
    used.div_ceil(1024) * 1024 + 1
}

/// [`Target::bulk_begin`](crate::store::bulk::sealed::Target::bulk_begin) on a backend.
pub(super) fn begin<B: CopyRows>(conn: &mut B, tenant: &TenantId) -> Result<BulkStart> {
    if holds_customers(conn, tenant)? {
        return Err(not_empty(tenant));
    }
    let next = conn.next_free("oneid_customers", "id")?;
    let settings = conn
        .query(
            "SELECT version, document, changed, cause FROM oneid_settings WHERE tenant = ?1 ORDER BY version",
            &[tenant.as_str().into()],
        )?
        .iter()
        .map(|r| super::txn::stored_settings(r))
        .collect::<Result<_>>()?;
    Ok(BulkStart {
        first_id: first_id(next),
        settings,
    })
}

/// A customer's place in the load's arrays.
fn index_of(start: &BulkStart, id: CustomerId) -> Result<usize> {
    id.0.checked_sub(start.first_id)
        .map(|i| i as usize)
        .ok_or_else(|| Error::Invariant(format!("customer {id} precedes the load's first id")))
}

/// The merge sets, replayed: per customer, its `parent`, `weight` and `survivor` columns.
struct Sets {
    parent: Vec<Option<u32>>,
    weight: Vec<i64>,
    survivor: Vec<Option<u32>>,
}

impl Sets {
    fn new(n: usize) -> Self {
        Self {
            parent: vec![None; n],
            weight: vec![1; n],
            survivor: vec![None; n],
        }
    }

    fn root(&self, mut at: u32) -> u32 {
        while let Some(p) = self.parent[at as usize] {
            at = p;
        }
        at
    }

    /// The live customer `at`'s set leads to.
    fn live(&self, at: u32) -> u32 {
        let root = self.root(at);
        self.survivor[root as usize].unwrap_or(root)
    }

    /// A SQL merge of live `from` into live `into`.
    fn merge(&mut self, from: u32, into: u32) -> Result<()> {
        let (rf, ri) = (self.root(from), self.root(into));
        if rf == ri {
            return Err(Error::Invariant("a bulk load merged a set into itself".into()));
        }
        let (under, over) = if self.weight[rf as usize] <= self.weight[ri as usize] {
            (rf, ri)
        } else {
            (ri, rf)
        };
        self.parent[under as usize] = Some(over);
        self.weight[over as usize] = self.weight[rf as usize] + self.weight[ri as usize];
        self.survivor[over as usize] = (over != into).then_some(into);
        Ok(())
    }
}

/// The links of `export` (numbered in recording order) in the order of the identities'
/// unique key (type, scope, value), given each link's kind (`links`, indexes into `kinds`).
/// Sorted by the kind's rank and the value's first eight bytes first, so that most
/// comparisons touch no string.
fn by_key(
    export: &TenantExport<'_>,
    kinds: &indexmap::IndexSet<(&str, &str)>,
    links: &[(u32, u32)],
) -> Result<Vec<u32>> {
    let mut ranked: Vec<u32> = (0..kinds.len() as u32).collect();
    ranked.sort_unstable_by_key(|&k| kinds[k as usize]);
    let mut rank = vec![0u32; kinds.len()];
    for (r, &k) in ranked.iter().enumerate() {
        rank[k as usize] = r as u32;
    }
    let value = |k: u32| export.linked_identity(k).map_or("", |i| i.value);
    let mut keys: Vec<(u32, u64, u32)> = Vec::with_capacity(links.len());
    for (k, &(_, kind)) in links.iter().enumerate() {
        let k = k as u32;
        let identity = export
            .linked_identity(k)
            .ok_or_else(|| Error::Invariant("a bulk load lost a link".into()))?;
        let mut prefix = [0u8; 8];
        let bytes = identity.value.as_bytes();
        let n = bytes.len().min(8);
        prefix[..n].copy_from_slice(&bytes[..n]);
        keys.push((rank[kind as usize], u64::from_be_bytes(prefix), k));
    }
    keys.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| value(a.2).cmp(value(b.2)))
    });
    Ok(keys.into_iter().map(|(_, _, k)| k).collect())
}

/// Writes `export` as `tenant`'s rows on `conn`, inside its transaction (the caller commits).
pub(super) fn write<B: CopyRows>(
    conn: &mut B,
    tenant: &TenantId,
    start: &BulkStart,
    export: &TenantExport<'_>,
) -> Result<()> {
    // Nothing changed since the load began: the tenant is still empty, no id of the load's
    // was taken meanwhile, the settings are those it resolved under.
    if holds_customers(conn, tenant)? {
        return Err(not_empty(tenant));
    }
    if (conn.next_free("oneid_customers", "id")? as u64) > start.first_id {
        return Err(changed(
            "customers were created in the database while the bulk load ran".into(),
        ));
    }
    let version = conn.query(
        "SELECT COALESCE(MAX(version), 0) FROM oneid_settings WHERE tenant = ?1",
        &[tenant.as_str().into()],
    )?[0][0]
        .int()?;
    if version != start.settings.len() as i64 {
        return Err(changed(format!(
            "the settings of tenant {tenant} changed while the bulk load ran"
        )));
    }
    let n = export.customer_count();
    let t = tenant.as_str();

    // Identities, in link order, as the events list them; the merge sets replayed.
    let identity_base = conn.next_free("oneid_identities", "seq")?;
    let mut sets = Sets::new(n);
    // Each link's customer index and kind (index into `kinds`), in link order.
    let mut links: Vec<(u32, u32)> = Vec::new();
    let mut kinds: indexmap::IndexSet<(&str, &str)> = indexmap::IndexSet::new();
    for event in export.events() {
        let at = index_of(start, event.customer)? as u32;
        match event.kind {
            EventRef::Linked(_) | EventRef::Created | EventRef::Merged(_) => {}
            EventRef::MergedInto(into) => sets.merge(at, index_of(start, into)? as u32)?,
            EventRef::Other(kind) => {
                return Err(Error::Invariant(format!("a bulk load recorded a {kind} event")));
            }
        }
        if let EventRef::Linked(i) = event.kind {
            let (kind, _) = kinds.insert_full((i.identity_type, i.scope.unwrap_or("")));
            links.push((at, kind as u32));
        }
    }
    // In link order, or in key order where the backend wants it; a link's `seq` follows
    // from its place in link order.
    let mut sorted = if B::IDENTITIES_BY_KEY {
        by_key(export, &kinds, &links)?
    } else {
        Vec::new()
    }
    .into_iter();
    let mut events = export.events().filter_map(|event| match event.kind {
        EventRef::Linked(i) => Some((i, event.customer)),
        _ => None,
    });
    let mut place = 0;
    let link_at = &links;
    // The next identity to write, with its place in link order.
    let mut next = move || -> Result<Option<(i64, IdentityRef<'_>, CustomerId)>> {
        if B::IDENTITIES_BY_KEY {
            let Some(k) = sorted.next() else {
                return Ok(None);
            };
            let identity = export
                .linked_identity(k)
                .ok_or_else(|| Error::Invariant("a bulk load lost a link".into()))?;
            let customer = CustomerId(start.first_id + u64::from(link_at[k as usize].0));
            Ok(Some((i64::from(k), identity, customer)))
        } else {
            let Some((i, customer)) = events.next() else {
                return Ok(None);
            };
            place += 1;
            Ok(Some((place - 1, i, customer)))
        }
    };
    fill_table(
        conn,
        "oneid_identities",
        &["seq", "tenant", "itype", "scope", "value", "name", "customer"],
        links.len(),
        &mut |row| {
            let Some((k, i, customer)) = next()? else {
                return Ok(false);
            };
            row.int(identity_base + k);
            row.text(t);
            row.text(i.identity_type);
            row.text(i.scope.unwrap_or(""));
            row.text(i.value);
            row.opt_text(i.name);
            row.int(id_param(customer)?.int()?);
            Ok(true)
        },
    )?;
    let seq = identity_base + links.len() as i64;
    if !links.is_empty() {
        conn.numbered_to("oneid_identities", "seq", seq - 1)?;
    }

    // Customers, with their merge sets; the live ones' tags and groups.
    let mut customers = export.customers();
    // (customer, tag) and (customer, group) rows of the live customers.
    let mut tags: Vec<(i64, SqlValue)> = Vec::new();
    let mut groups: Vec<(i64, SqlValue)> = Vec::new();
    fill_table(
        conn,
        "oneid_customers",
        &[
            "tenant",
            "id",
            "status",
            "created",
            "updated",
            "data",
            "mobile",
            "email",
            "name",
            "nick_name",
            "gender",
            "stage",
            "source",
            "merged_into",
            "parent",
            "weight",
            "survivor",
        ],
        n,
        &mut |row| {
            let Some(c) = customers.next() else {
                return Ok(false);
            };
            let (status, into) = match c.status {
                CustomerStatus::Active => {
                    let id = c.id.0 as i64;
                    tags.extend(c.tags.iter().map(|tag| (id, SqlValue::from(tag.as_str()))));
                    groups.extend(c.groups.iter().map(|&g| (id, SqlValue::Int(g))));
                    ("active", None)
                }
                CustomerStatus::Merged { into } => ("merged", Some(into)),
                _ => {
                    return Err(Error::Invariant(format!(
                        "a bulk load left customer {} gone",
                        c.id
                    )));
                }
            };
            for v in customer_values(tenant, &c, status)? {
                row.value(&v);
            }
            let at = index_of(start, c.id)?;
            let id_of = |i: u32| (start.first_id + u64::from(i)) as i64;
            row.value(&into.map_or(Ok(SqlValue::Null), id_param)?);
            row.opt_int(sets.parent[at].map(id_of));
            row.int(sets.weight[at]);
            row.opt_int(sets.survivor[at].map(id_of));
            Ok(true)
        },
    )?;
    if n > 0 {
        conn.numbered_to("oneid_customers", "id", (start.first_id + n as u64 - 1) as i64)?;
    }
    for (table, column, rows) in [("oneid_tags", "tag", tags), ("oneid_groups", "grp", groups)] {
        let count = rows.len();
        let mut rows = rows.into_iter();
        fill_table(conn, table, &["customer", column], count, &mut |row| {
            let Some((id, value)) = rows.next() else {
                return Ok(false);
            };
            row.int(id);
            row.value(&value);
            Ok(true)
        })?;
    }

    // Counts: each live customer's links by kind, and the first of them.
    let mut counts: hashbrown::HashMap<(u32, u32), (i64, i64), foldhash::fast::RandomState> =
        hashbrown::HashMap::default();
    for (k, &(at, kind)) in links.iter().enumerate() {
        let entry = counts
            .entry((sets.live(at), kind))
            .or_insert((0, identity_base + k as i64));
        entry.0 += 1;
    }
    // In the order of the table's key, so its index grows at one end.
    let mut counts: Vec<((u32, u32), (i64, i64))> = counts.into_iter().collect();
    counts.sort_unstable_by(|((a, ka), _), ((b, kb), _)| {
        a.cmp(b)
            .then_with(|| kinds[*ka as usize].cmp(&kinds[*kb as usize]))
    });
    let count = counts.len();
    let mut counts = counts.into_iter();
    fill_table(
        conn,
        "oneid_counts",
        &["customer", "itype", "scope", "n", "first_seq"],
        count,
        &mut |row| {
            let Some(((at, kind), (count, first))) = counts.next() else {
                return Ok(false);
            };
            let (ty, scope) = kinds[kind as usize];
            row.int((start.first_id + u64::from(at)) as i64);
            row.text(ty);
            row.text(scope);
            row.int(count);
            row.int(first);
            Ok(true)
        },
    )?;

    // History, in recording order; consecutive events of a resolve share their time.
    let history_base = conn.next_free("oneid_history", "seq")?;
    let mut seq = history_base;
    let mut events = export.events();
    let mut last_at: Option<(chrono::DateTime<chrono::Utc>, String)> = None;
    fill_table(
        conn,
        "oneid_history",
        &[
            "seq",
            "tenant",
            "customer",
            "at",
            "kind",
            "itype",
            "iscope",
            "ivalue",
            "iname",
            "other",
            "operation",
            "reference",
        ],
        export.events().count(),
        &mut |row| {
            let Some(event) = events.next() else {
                return Ok(false);
            };
            row.int(seq);
            seq += 1;
            row.text(t);
            row.int(id_param(event.customer)?.int()?);
            match &last_at {
                Some((at, text)) if *at == event.at => row.text(text),
                _ => {
                    let text = ts(&event.at);
                    row.text(&text);
                    last_at = Some((event.at, text));
                }
            }
            let (name, identity, other) = match &event.kind {
                EventRef::Created => ("created", None, None),
                EventRef::Linked(i) => ("linked", Some(i), None),
                EventRef::Merged(from) => ("merged", None, Some(*from)),
                EventRef::MergedInto(into) => ("mergedInto", None, Some(*into)),
                EventRef::Other(kind) => {
                    return Err(Error::Invariant(format!("a bulk load recorded a {kind} event")));
                }
            };
            row.text(name);
            row.opt_text(identity.map(|i| i.identity_type));
            row.opt_text(identity.map(|i| i.scope.unwrap_or("")));
            row.opt_text(identity.map(|i| i.value));
            row.opt_text(identity.and_then(|i| i.name));
            row.value(&other.map_or(Ok(SqlValue::Null), id_param)?);
            row.text(operation_name(event.operation));
            row.opt_text(event.reference);
            Ok(true)
        },
    )?;
    if seq > history_base {
        conn.numbered_to("oneid_history", "seq", seq - 1)?;
    }

    // Evidence, and the settings versions the load stored.
    let mut evidence = export.evidence().iter();
    fill_table(
        conn,
        "oneid_suspicions",
        &[
            "tenant",
            "itype",
            "scope",
            "value",
            "ctype",
            "cscope",
            "cvalue",
            "at",
            "operation",
            "reference",
        ],
        export.evidence().len(),
        &mut |row| {
            let Some(e) = evidence.next() else {
                return Ok(false);
            };
            row.text(t);
            for part in e.suspect.iter().chain(&e.conflicting) {
                row.text(part);
            }
            row.text(&ts(&e.at));
            row.text(operation_name(e.cause.operation));
            row.opt_text(e.cause.reference.as_deref());
            Ok(true)
        },
    )?;
    let new_settings = export.settings().get(start.settings.len()..).unwrap_or(&[]);
    for s in new_settings {
        conn.execute(
            "INSERT INTO oneid_settings (tenant, version, document, changed, cause) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                t.into(),
                (s.version as i64).into(),
                s.document.as_str().into(),
                ts(&s.changed).into(),
                s.cause.as_deref().into(),
            ],
        )?;
    }
    if let Some(last) = new_settings.last() {
        conn.execute(
            "INSERT INTO oneid_tenants (tenant, settings_version) VALUES (?1, ?2) ON CONFLICT (tenant) \
             DO UPDATE SET settings_version = excluded.settings_version",
            &[t.into(), (last.version as i64).into()],
        )?;
    }
    Ok(())
}
