//! The schema: the tables both SQL stores create, written once for either database.
//!
//! The DDL is written once with the few column types that differ left as holes a [`Dialect`]
//! fills, so the tables (and so every statement that reads them) are the same on SQLite and
//! PostgreSQL. Each store runs [`migration`] in its own transaction, recording
//! [`SCHEMA_VERSION`] in `oneid_schema`: a new database gets every version's steps, an older
//! one the steps after its version. Statements are sent one at a time (some databases that
//! speak PostgreSQL's protocol refuse several in one string).
//!
//! - Version 1: customers, identities, tags, groups, history, quarantine evidence.
//! - Version 2: each tenant's settings (`oneid_tenants` holds the current version, which
//!   PostgreSQL writers read again under a share lock as they commit; `oneid_settings`
//!   every version stored).
//! - Version 3: merges as a union-find over customer rows, and identity counts. A merged
//!   customer's identities stay where they were linked; `parent` links a customer into its
//!   set (the smaller set under the larger: a set of n customers is at most log2(n) links
//!   deep), and the root of a set keeps its `weight` (how many customers it holds) and its
//!   `survivor` (the customer every id of the set leads to; none: the root itself).
//!   `oneid_counts` keeps how many identities of each type and scope each live customer
//!   holds, and the first of them in link order.
//! - Version 4: quarantine evidence keeps when it came and its cause (`at`, `operation`,
//!   `reference`; empty for evidence recorded before).

/// The current schema version.
pub(crate) const SCHEMA_VERSION: i64 = 4;

/// The statements that take a database at schema `from` (0 for a new one) to
/// [`SCHEMA_VERSION`], in a dialect.
pub(crate) fn migration(d: &Dialect, from: i64) -> Vec<String> {
    let mut steps = Vec::new();
    if from < 1 {
        steps.push(schema_v1(d));
    }
    if from < 2 {
        steps.push(schema_v2(d));
    }
    if from < 3 {
        steps.push(schema_v3(d));
    }
    if from < 4 {
        steps.push(schema_v4(d));
    }
    steps
        .iter()
        .flat_map(|s| s.split(';'))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Version 2's steps: tenants' settings.
fn schema_v2(d: &Dialect) -> String {
    let Dialect { int, .. } = d;
    format!(
        "CREATE TABLE oneid_tenants (tenant TEXT PRIMARY KEY, settings_version {int} NOT NULL);
        CREATE TABLE oneid_settings (
            tenant TEXT NOT NULL, version {int} NOT NULL, document TEXT NOT NULL,
            changed TEXT NOT NULL, cause TEXT,
            PRIMARY KEY (tenant, version)
        )"
    )
}

/// Version 3's steps: merge sets and identity counts, filled from what version 2 kept (where
/// `merged_into` is always the survivor and every identity sits at its live owner).
fn schema_v3(d: &Dialect) -> String {
    let Dialect { int, .. } = d;
    format!(
        "ALTER TABLE oneid_customers ADD COLUMN parent {int};
        ALTER TABLE oneid_customers ADD COLUMN weight {int} NOT NULL DEFAULT 1;
        ALTER TABLE oneid_customers ADD COLUMN survivor {int};
        UPDATE oneid_customers SET parent = merged_into WHERE merged_into IS NOT NULL;
        UPDATE oneid_customers SET weight = 1 + (SELECT COUNT(*) FROM oneid_customers m WHERE m.parent = oneid_customers.id)
            WHERE parent IS NULL AND id IN (SELECT parent FROM oneid_customers WHERE parent IS NOT NULL);
        CREATE INDEX oneid_customers_parent ON oneid_customers (parent);
        CREATE INDEX oneid_identities_kind ON oneid_identities (customer, itype, scope, seq);
        DROP INDEX oneid_identities_customer;
        CREATE TABLE oneid_counts (
            customer {int} NOT NULL, itype TEXT NOT NULL, scope TEXT NOT NULL, n {int} NOT NULL,
            first_seq {int} NOT NULL,
            PRIMARY KEY (customer, itype, scope)
        );
        INSERT INTO oneid_counts (customer, itype, scope, n, first_seq)
            SELECT customer, itype, scope, COUNT(*), MIN(seq) FROM oneid_identities GROUP BY customer, itype, scope"
    )
}

/// Version 4's steps: the evidence's time and cause, which evidence kept before lacks.
fn schema_v4(d: &Dialect) -> String {
    let Dialect { sorted_text: st, .. } = d;
    format!(
        "ALTER TABLE oneid_suspicions ADD COLUMN at {st};
        ALTER TABLE oneid_suspicions ADD COLUMN operation TEXT;
        ALTER TABLE oneid_suspicions ADD COLUMN reference TEXT"
    )
}

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
fn schema_v1(d: &Dialect) -> String {
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
