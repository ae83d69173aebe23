//! `waybill-export --dry-run`: what an export would write, without writing it. The
//! source is opened, its catalog read and its snapshot taken exactly as for an export
//! (for SQLite and MongoDB that includes the pass over the data that decides the
//! columns), then the tables are described: rows, columns with the PostgreSQL type
//! `--create-schema` would give them, and for MongoDB the BSON types each field held.
//! Problems that would stop the export are returned as the error, after the tables
//! they concern have been described.

use super::{ExportObserver, ExportPlan, select_tables};
use crate::dump::collection::{Collection, FieldTypes};
use crate::dump::manifest;
use crate::error::{Error, Result};
use crate::source;
use crate::target::typemap::{CastRules, Dialect, map_column};

pub struct PreviewColumn {
    pub name: String,
    /// What `--create-schema` would make of it.
    pub pg_type: String,
    pub nullable: bool,
    /// The source's type, or for MongoDB the BSON types the field held.
    pub source: String,
}

pub struct PreviewTable {
    pub name: String,
    /// Exact for sources read in full (SQLite, MongoDB); an estimate for MySQL.
    pub rows: u64,
    pub columns: Vec<PreviewColumn>,
    pub collection: Option<Collection>,
}

pub struct Preview {
    pub source: manifest::Source,
    pub tables: Vec<PreviewTable>,
    /// Views (recorded in the manifest, not exported).
    pub views: Vec<String>,
    pub notes: Vec<String>,
    /// What would stop the export (empty: it would run).
    pub problems: Vec<String>,
}

pub fn preview(plan: &ExportPlan, obs: &dyn ExportObserver) -> Result<Preview> {
    let mut src = source::open(&plan.source, &plan.casts, &plan.flatten)?;
    let described = src.describe();
    let catalog = src.catalog()?;
    let mut notes: Vec<String> = catalog
        .skipped
        .iter()
        .map(|s| format!("`{}` {}: skipped", s.name, s.why))
        .collect();
    let views = catalog.views.iter().map(|v| v.name.clone()).collect();
    let mut selected = select_tables(catalog.tables, plan, &described.database, obs)?;
    let mut problems = Vec::new();
    match src.snapshot(plan.jobs.max(1), &mut selected) {
        Ok((_, snapshot)) => notes.extend(snapshot.notes),
        // The tables are described as far as the source got; the problems follow.
        Err(Error::Unexportable(p)) | Err(Error::MixedColumns(p)) => problems = p,
        Err(e) => return Err(e),
    }
    let dialect = Dialect::of_engine(&described.engine).ok();
    let rules = CastRules::default();
    let tables = selected
        .into_iter()
        .map(|t| {
            let s = t.schema;
            let field = |name: &str| -> Option<&FieldTypes> {
                s.collection
                    .as_ref()
                    .and_then(|c| c.fields.iter().find(|f| f.name == name))
            };
            let columns = s
                .columns
                .iter()
                .map(|c| PreviewColumn {
                    name: c.name.clone(),
                    pg_type: dialect
                        .map(|d| map_column(d, &s.name, c, &rules).final_type().to_string())
                        .unwrap_or_default(),
                    nullable: c.nullable,
                    source: match (field(&c.name), &s.collection) {
                        (Some(f), _) => f.describe_with_samples(),
                        (None, Some(coll)) if c.name == "doc" => {
                            format!("the whole document ({} fields)", coll.fields.len())
                        }
                        _ => c.column_type.clone(),
                    },
                })
                .collect();
            PreviewTable {
                name: s.name.clone(),
                rows: t.estimated_rows,
                columns,
                collection: s.collection.clone(),
            }
        })
        .collect();
    Ok(Preview {
        source: described,
        tables,
        views,
        notes,
        problems,
    })
}
