//! The PostgreSQL schema for `--create-schema`, built from the manifest alone (the host
//! running the import may not reach the source database). Tables are created bare before the
//! load (COPY into a table created in the same transaction can FREEZE and skips index
//! maintenance), then keys, indexes and foreign keys are added after it: the order
//! pg_dump and pgloader use, for the same reasons.
//!
//! Tables and columns are named by `target::names` (exact case, quoted, unless
//! `--identifiers` or `--rename-file` says otherwise); constraints and indexes follow
//! the same style and the mapped names. PostgreSQL truncates names to 63 bytes; longer
//! names, and index names that would collide in
//! the schema-wide relation namespace, are made unique deterministically (a short hash
//! of the full name), so the same dump always produces the same schema.

use std::collections::{BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use crate::dump::encoding::Encoding;
use crate::dump::manifest::TableEntry;
use crate::dump::schema::{ColumnDefault, Index};
use crate::error::Result;
use crate::target::expr::ColumnInfo;
use crate::target::names::{IdentifierStyle, TableNames};
use crate::target::rules::{
    self, CheckFile, CheckStep, ColumnView, GeneratedLoad, GeneratedPlan, RulesReport, TableView,
};
use crate::target::sql::{qualified, quote_ident, quote_literal, set_to_array};
use crate::target::typemap::{self, CastRules, Dialect, Mapped, map_column};

pub(crate) const MAX_IDENT: usize = 63;

#[derive(Clone, Debug, Default)]
pub struct SchemaOptions {
    pub casts: CastRules,
    /// Drop tables of the same names first (inside the transaction).
    pub drop_existing: bool,
    /// `--check-file`: CHECK constraints' PostgreSQL text, or skips.
    pub checks: CheckFile,
}

/// One table as it will exist in PostgreSQL.
pub(crate) struct TableDdl<'m> {
    pub entry: &'m TableEntry,
    pub name: String,
    /// Target column names in CSV order.
    pub columns: Vec<String>,
    /// Their types once the import is done (a SET column ends as `text[]`).
    pub types: Vec<String>,
    /// Identity columns and the source AUTO_INCREMENT for the one that had it.
    pub identity: Vec<(String, Option<u64>)>,
    /// Generated columns (the load leaves them to PostgreSQL and checks its values).
    pub generated: Vec<GeneratedLoad>,
    /// The columns that identify a row in messages (the primary key, else the first
    /// three).
    pub key_columns: Vec<String>,
}

pub(crate) struct SchemaPlan<'m> {
    pub tables: Vec<TableDdl<'m>>,
    /// Run before the data: CREATE TABLE, comments.
    pub before: Vec<String>,
    /// Run after the data: type conversions, CHECKs, keys, indexes, foreign keys,
    /// ON UPDATE triggers.
    pub after: Vec<String>,
    /// The source's CHECK constraints, added (and so validated) after `after`.
    pub checks: Vec<CheckStep>,
    /// What the script says about rules that were not carried over, as comments.
    pub comments: Vec<String>,
    pub rules: RulesReport,
    /// Where in `after` the keys and indexes start, and where the foreign keys start
    /// (before them: SET conversions; after the foreign keys: ON UPDATE triggers).
    pub after_split: (usize, usize),
    pub warnings: Vec<String>,
}

/// Cuts a name to 63 bytes, keeping it unique with a hash of the full name.
pub fn fit_identifier(name: &str) -> String {
    if name.len() <= MAX_IDENT {
        return name.to_string();
    }
    let mut cut = MAX_IDENT - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let digest = hex::encode(Sha256::digest(name.as_bytes()));
    format!("{}_{}", &name[..cut], &digest[..8])
}

/// The names of constraints and indexes (tables and columns are named by
/// `target::names` before the plan is made).
struct Names {
    style: IdentifierStyle,
    /// Relation names taken in the schema (tables, indexes, key constraints).
    relations: BTreeSet<String>,
}

impl Names {
    fn ident(&self, raw: &str) -> String {
        fit_identifier(&self.style.apply(raw))
    }

    /// A schema-unique relation name, preferring `wanted`, then `<table>_<wanted>`.
    fn relation(&mut self, table: &str, wanted: &str) -> String {
        let candidates = [self.ident(wanted), self.ident(&format!("{table}_{wanted}"))];
        for c in candidates {
            if !self.relations.contains(&c) {
                self.relations.insert(c.clone());
                return c;
            }
        }
        let mut n = 2;
        loop {
            let c = self.ident(&format!("{table}_{wanted}_{n}"));
            if self.relations.insert(c.clone()) {
                return c;
            }
            n += 1;
        }
    }
}

fn array_literal(values: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = values.into_iter().map(|v| quote_literal(&v)).collect();
    format!("ARRAY[{}]::text[]", items.join(", "))
}

/// Integer-family types that a foreign key may pair (and so can be unified).
fn integer_family(t: &str) -> Option<u8> {
    match t {
        "smallint" => Some(1),
        "integer" => Some(2),
        "bigint" => Some(3),
        "numeric(20)" => Some(4),
        _ => None,
    }
}

/// `dialect` is the source engine the manifest's types and defaults are written for;
/// `tables` are the tables to create with their names (`names::new_names`), and `style`
/// names the constraints and indexes.
pub(crate) fn plan<'m>(
    schema: &str,
    dialect: Dialect,
    tables_named: &[TableNames<'m>],
    opts: &SchemaOptions,
    style: IdentifierStyle,
) -> Result<SchemaPlan<'m>> {
    let entries: Vec<&'m TableEntry> = tables_named.iter().map(|t| t.entry).collect();
    let mut names = Names {
        style,
        relations: BTreeSet::new(),
    };
    let mut warnings = Vec::new();

    let mut table_names: HashMap<&str, String> = HashMap::new();
    let mut col_names: HashMap<(&str, &str), String> = HashMap::new();
    for t in tables_named {
        names.relations.insert(t.target.clone());
        table_names.insert(t.entry.name(), t.target.clone());
        for (c, (n, _)) in t.entry.schema.columns.iter().zip(&t.columns) {
            col_names.insert((t.entry.name(), c.name.as_str()), n.clone());
        }
    }
    let mut mapped: HashMap<(&str, &str), Mapped> = HashMap::new();
    for e in &entries {
        for c in &e.schema.columns {
            mapped.insert(
                (e.name(), &c.name),
                map_column(dialect, e.name(), c, &opts.casts),
            );
        }
    }

    // Foreign keys decide types too: a child column takes its parent's integer type.
    let dumped: HashMap<&str, &TableEntry> = entries.iter().map(|e| (e.name(), *e)).collect();
    let mut fks = Vec::new();
    for e in &entries {
        for fk in &e.schema.foreign_keys {
            let at = format!("{}: foreign key {}", e.name(), fk.name);
            let Some(parent) = dumped
                .get(fk.referenced_table.as_str())
                .filter(|_| fk.referenced_schema.is_none())
            else {
                warnings.push(format!(
                    "{at} references `{}`, which is not in this import: skipped",
                    fk.referenced_table
                ));
                continue;
            };
            let unique = parent.schema.primary_key == fk.referenced_columns
                || parent.schema.indexes.iter().any(|i| {
                    i.unique
                        && i.predicate.is_none()
                        && i.columns.iter().all(|c| c.prefix.is_none())
                        && i.columns
                            .iter()
                            .map(|c| c.name.as_deref().unwrap_or(""))
                            .eq(fk.referenced_columns.iter().map(String::as_str))
                });
            if !unique {
                warnings.push(format!("{at}: the referenced columns are not a unique key of `{}` (PostgreSQL requires one): skipped", parent.name()));
                continue;
            }
            // The manifest is validated (the columns exist, the counts match); a key that
            // does not fit anyway is skipped, never trusted.
            let known = fk.columns.len() == fk.referenced_columns.len()
                && fk
                    .columns
                    .iter()
                    .all(|c| mapped.contains_key(&(e.name(), c.as_str())))
                && fk
                    .referenced_columns
                    .iter()
                    .all(|c| mapped.contains_key(&(parent.name(), c.as_str())));
            if !known {
                warnings.push(format!("{at}: names columns that do not exist: skipped"));
                continue;
            }
            let mut compatible = true;
            for (cc, pc) in fk.columns.iter().zip(&fk.referenced_columns) {
                let Some(pt) = mapped.get(&(parent.name(), pc.as_str())) else {
                    continue;
                };
                let pt = pt.final_type().to_string();
                let Some(child) = mapped.get_mut(&(e.name(), cc.as_str())) else {
                    continue;
                };
                let ct = child.final_type().to_string();
                if ct == pt {
                    continue;
                }
                match (integer_family(&ct), integer_family(&pt)) {
                    (Some(_), Some(_)) if !child.overridden => child.load_type = pt,
                    _ => compatible = false,
                }
            }
            if !compatible {
                warnings.push(format!("{at}: column types differ from `{}` after mapping (see the warnings above or --cast): skipped", parent.name()));
                continue;
            }
            fks.push((e.name(), fk, parent.name()));
        }
    }

    opts.checks.check_names(&entries)?;
    // Columns a foreign key's action writes: PostgreSQL refuses those on generated columns.
    let mut fk_written: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for (child, fk, _) in &fks {
        let upd = fk.on_update.to_ascii_uppercase();
        let del = fk.on_delete.to_ascii_uppercase();
        if matches!(upd.as_str(), "CASCADE" | "SET NULL" | "SET DEFAULT")
            || matches!(del.as_str(), "SET NULL" | "SET DEFAULT")
        {
            fk_written
                .entry(child)
                .or_default()
                .extend(fk.columns.iter().cloned());
        }
    }
    let no_columns = BTreeSet::new();

    let mut before = vec![format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_ident(schema)
    )];
    let mut after = Vec::new();
    let mut keys = Vec::new();
    let mut tables = Vec::new();
    let mut checks = Vec::new();
    let mut script_comments = Vec::new();
    let mut triggers = Vec::new();
    let mut report = RulesReport::default();
    for e in entries.iter().copied() {
        let t = &table_names[e.name()];
        let qt = qualified(schema, t);
        let mut cols = Vec::new();
        let mut identity = Vec::new();
        let mut comments = Vec::new();
        let mut generated = Vec::new();
        // Constraint names this table uses (PostgreSQL wants them unique per table).
        let mut taken = BTreeSet::new();
        let mut view = TableView {
            entry: e,
            target: t.clone(),
            schema: schema.to_string(),
            columns: e
                .schema
                .columns
                .iter()
                .map(|c| {
                    let m = &mapped[&(e.name(), c.name.as_str())];
                    ColumnView {
                        source: c,
                        info: ColumnInfo {
                            target: col_names[&(e.name(), c.name.as_str())].clone(),
                            pg_type: m.final_type().to_string(),
                            charset: c.charset.clone(),
                            collation: c.collation.clone(),
                            generated: c.generated.is_some(),
                        },
                        overridden: m.overridden,
                        set_to_array: m.set_to_array,
                    }
                })
                .collect(),
            primary_key: e
                .schema
                .primary_key
                .iter()
                .filter_map(|c| col_names.get(&(e.name(), c.as_str())).cloned())
                .collect(),
        };
        let generated_plans = rules::generated(
            dialect,
            &view,
            fk_written.get(e.name()).unwrap_or(&no_columns),
        );
        for c in &mut view.columns {
            c.info.generated = matches!(
                generated_plans.get(&c.source.name),
                Some(GeneratedPlan::Stored { .. })
            );
        }
        for c in &e.schema.columns {
            let at = format!("{}.{}", e.name(), c.name);
            let m = &mapped[&(e.name(), c.name.as_str())];
            warnings.extend(m.warnings.iter().cloned());
            let n = &col_names[&(e.name(), c.name.as_str())];
            let mut def = format!("{} {}", quote_ident(n), m.load_type);
            let stored = match generated_plans.get(&c.name) {
                Some(GeneratedPlan::Stored { sql, virtual_ }) => Some((sql, *virtual_)),
                Some(GeneratedPlan::Plain(why)) => {
                    warnings.push(why.clone());
                    report.generated_reported += 1;
                    None
                }
                None => None,
            };
            if let (Some((sql, virtual_)), Some(g)) = (stored, &c.generated) {
                def.push_str(&format!(" GENERATED ALWAYS AS ({sql}) STORED"));
                report.generated += 1;
                if virtual_ {
                    report.generated_virtual += 1;
                    warnings.push(format!(
                        "{at}: VIRTUAL generated column created STORED (PostgreSQL computes it when a row is written)"
                    ));
                }
                generated.push(GeneratedLoad {
                    column: n.clone(),
                    source: String::new(),
                    pg_type: m.final_type().to_string(),
                    expression: g.expression.clone(),
                });
            }
            if m.identity {
                def.push_str(" GENERATED BY DEFAULT AS IDENTITY");
                identity.push((
                    n.clone(),
                    e.schema.auto_increment.filter(|_| c.auto_increment),
                ));
            }
            let nulled = c.stats.converted_to_null();
            if !c.nullable && nulled > 0 && !m.identity {
                warnings.push(format!(
                    "{at}: NOT NULL dropped: {nulled} value(s) became NULL in the dump (zero dates or empty UUIDs)"
                ));
            } else if !c.nullable && !m.identity {
                def.push_str(" NOT NULL");
            }
            if !m.identity
                && stored.is_none()
                && let Some(d) = typemap::default_sql(dialect, c, m, &at, &mut warnings)
            {
                def.push_str(&format!(" DEFAULT {d}"));
            }
            cols.push(def);
            if !c.comment.is_empty() {
                comments.push(format!(
                    "COMMENT ON COLUMN {qt}.{} IS {}",
                    quote_ident(n),
                    quote_literal(&c.comment)
                ));
            }
            if m.set_to_array {
                let qc = quote_ident(n);
                after.push(format!(
                    "ALTER TABLE {qt} ALTER COLUMN {qc} TYPE text[] USING {}",
                    set_to_array(&qc)
                ));
                if let Some(ColumnDefault::Literal(v)) = &c.default {
                    let items = v.split(',').filter(|s| !s.is_empty()).map(str::to_string);
                    after.push(format!(
                        "ALTER TABLE {qt} ALTER COLUMN {qc} SET DEFAULT {}",
                        array_literal(items)
                    ));
                }
                if !m.overridden && !c.values.is_empty() {
                    let name = names.ident(&format!("{t}_{n}_check"));
                    taken.insert(name.clone());
                    after.push(format!(
                        "ALTER TABLE {qt} ADD CONSTRAINT {} CHECK ({qc} <@ {})",
                        quote_ident(&name),
                        array_literal(c.values.iter().cloned())
                    ));
                }
            }
            if c.encoding == Encoding::EnumText && !m.overridden && !c.values.is_empty() {
                let name = names.ident(&format!("{t}_{n}_check"));
                taken.insert(name.clone());
                let list: Vec<String> = c.values.iter().map(|v| quote_literal(v)).collect();
                after.push(format!(
                    "ALTER TABLE {qt} ADD CONSTRAINT {} CHECK ({} IN ({}))",
                    quote_ident(&name),
                    quote_ident(n),
                    list.join(", ")
                ));
            }
        }
        before.push(format!(
            "CREATE TABLE {qt} (\n    {}\n)",
            cols.join(",\n    ")
        ));
        if !e.schema.comment.is_empty() {
            before.push(format!(
                "COMMENT ON TABLE {qt} IS {}",
                quote_literal(&e.schema.comment)
            ));
        }
        before.extend(comments);

        let pk_columns: Option<Vec<String>> = e
            .schema
            .primary_key
            .iter()
            .map(|c| {
                col_names
                    .get(&(e.name(), c.as_str()))
                    .map(|n| quote_ident(n))
            })
            .collect();
        if let Some(list) = pk_columns.filter(|l| !l.is_empty()) {
            let pk = names.relation(t, &format!("{t}_pkey"));
            taken.insert(pk.clone());
            keys.push(format!(
                "ALTER TABLE {qt} ADD CONSTRAINT {} PRIMARY KEY ({})",
                quote_ident(&pk),
                list.join(", ")
            ));
        }
        for idx in &e.schema.indexes {
            match index_sql(dialect, t, &qt, e, idx, &col_names, &mapped, &mut names) {
                Ok(sql) => keys.push(sql),
                Err(why) => {
                    warnings.push(format!("{}: index {}: {why}: skipped", e.name(), idx.name))
                }
            }
        }
        for (child, fk, _) in &fks {
            if *child == e.name() {
                taken.insert(names.ident(&fk.name));
            }
        }
        let cp = rules::checks(dialect, &view, &opts.checks, &mut taken, &|n| {
            names.ident(n)
        });
        checks.extend(cp.steps);
        warnings.extend(cp.warnings);
        script_comments.extend(cp.comments);
        report.checks_added += cp.report.checks_added;
        report.checks_from_file += cp.report.checks_from_file;
        report.checks_skipped += cp.report.checks_skipped;
        report.checks_reported += cp.report.checks_reported;
        if let Some(trigger) = rules::on_update_trigger(&view, &mut warnings) {
            triggers.push(trigger);
            report.triggers += 1;
        }
        // The staging table holds the exported values of generated columns under
        // names the table does not use.
        let mut i = 1;
        for g in &mut generated {
            loop {
                let candidate = format!("waybill_source_{i}");
                i += 1;
                if !view.columns.iter().any(|c| c.info.target == candidate) {
                    g.source = candidate;
                    break;
                }
            }
        }
        tables.push(TableDdl {
            entry: e,
            name: t.clone(),
            columns: e
                .schema
                .columns
                .iter()
                .map(|c| col_names[&(e.name(), c.name.as_str())].clone())
                .collect(),
            types: e
                .schema
                .columns
                .iter()
                .map(|c| {
                    mapped[&(e.name(), c.name.as_str())]
                        .final_type()
                        .to_string()
                })
                .collect(),
            identity,
            generated,
            key_columns: view.key_columns(),
        });
    }
    let keys_from = after.len();
    after.extend(keys);
    let fks_from = after.len();
    for (child, fk, parent) in fks {
        let ct = &table_names[child];
        let pt = &table_names[parent];
        let cols: Vec<String> = fk
            .columns
            .iter()
            .map(|c| quote_ident(&col_names[&(child, c.as_str())]))
            .collect();
        let refs: Vec<String> = fk
            .referenced_columns
            .iter()
            .map(|c| quote_ident(&col_names[&(parent, c.as_str())]))
            .collect();
        after.push(format!(
            "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
            qualified(schema, ct),
            quote_ident(&names.ident(&fk.name)),
            cols.join(", "),
            qualified(schema, pt),
            refs.join(", "),
            fk_action(&fk.on_delete),
            fk_action(&fk.on_update)
        ));
    }
    if !triggers.is_empty() {
        after.push(rules::on_update_function(schema));
        after.extend(triggers);
    }
    Ok(SchemaPlan {
        tables,
        before,
        after,
        checks,
        comments: script_comments,
        rules: report,
        after_split: (keys_from, fks_from),
        warnings,
    })
}

fn fk_action(a: &str) -> &'static str {
    match a.to_ascii_uppercase().as_str() {
        "CASCADE" => "CASCADE",
        "SET NULL" => "SET NULL",
        "SET DEFAULT" => "SET DEFAULT",
        "NO ACTION" => "NO ACTION",
        _ => "RESTRICT",
    }
}

#[allow(clippy::too_many_arguments)]
fn index_sql(
    dialect: Dialect,
    t: &str,
    qt: &str,
    e: &TableEntry,
    idx: &Index,
    col_names: &HashMap<(&str, &str), String>,
    mapped: &HashMap<(&str, &str), Mapped>,
    names: &mut Names,
) -> std::result::Result<String, String> {
    let kind = idx.kind.to_ascii_uppercase();
    if kind == "SPATIAL" {
        return Err("spatial indexes need PostGIS".into());
    }
    let mut parts = Vec::new();
    for ic in &idx.columns {
        let Some(c) = ic.name.as_deref() else {
            return Err("has an expression part".into());
        };
        let Some(n) = col_names.get(&(e.name(), c)) else {
            return Err(format!("unknown column {c}"));
        };
        let ty = mapped[&(e.name(), c)].final_type().to_ascii_lowercase();
        let q = quote_ident(n);
        parts.push(match (kind.as_str(), ic.prefix) {
            ("FULLTEXT", _) => format!("coalesce({q}::text, '')"),
            (_, Some(p)) if ty == "bytea" => format!("(substring({q} from 1 for {p}))"),
            (_, Some(p)) => format!("(left({q}::text, {p}))"),
            _ if ic.descending => format!("{q} DESC"),
            _ => q,
        });
    }
    let predicate = match &idx.predicate {
        Some(p) => {
            let column = |c: &str| {
                col_names.get(&(e.name(), c)).map(|n| {
                    (
                        quote_ident(n),
                        mapped[&(e.name(), c)].final_type().to_string(),
                    )
                })
            };
            match typemap::index_predicate(dialect, p, &column) {
                Some(w) => format!(" WHERE {w}"),
                None => return Err(format!("its condition `{p}` was not translated")),
            }
        }
        None => String::new(),
    };
    let name = quote_ident(&names.relation(t, &idx.name));
    if kind == "FULLTEXT" {
        return Ok(format!(
            "CREATE INDEX {name} ON {qt} USING gin (to_tsvector('simple', {}))",
            parts.join(" || ' ' || ")
        ));
    }
    Ok(format!(
        "CREATE {}INDEX {name} ON {qt} ({}){predicate}",
        if idx.unique { "UNIQUE " } else { "" },
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_fit_deterministically() {
        let long = "a_really_long_table_name_that_goes_on_and_on_beyond_the_limit_of_postgres";
        let a = fit_identifier(long);
        assert!(a.len() <= 63);
        assert_eq!(a, fit_identifier(long));
        assert_ne!(a, fit_identifier(&format!("{long}2")));
        assert_eq!(fit_identifier("short"), "short");
        let multibyte = "é".repeat(40);
        assert!(fit_identifier(&multibyte).len() <= 63);
    }

    #[test]
    fn relation_names_stay_unique() {
        let mut n = Names {
            style: IdentifierStyle::Exact,
            relations: BTreeSet::new(),
        };
        assert_eq!(n.relation("a", "idx_x"), "idx_x");
        assert_eq!(n.relation("b", "idx_x"), "b_idx_x");
        assert_eq!(n.relation("b", "idx_x"), "b_idx_x_2");
    }
}
