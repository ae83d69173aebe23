//! MongoDB as a source, from the files its own tools write: a `mongodump` directory of
//! one database, or a directory of `mongoexport` files (see `input`). No server is
//! involved, so the migration host needs no access to production, and the dump proves
//! which backup it came from: every input file's size and sha256 go into the manifest.
//!
//! Each collection becomes a table. The export reads every document twice: once inside
//! `snapshot` (`infer`: BSON types per top-level field, which decide the columns), and
//! once to write the CSV. The second read hashes the files again and fails if a file
//! changed in between, so the columns always describe exactly the data written.
//! Documents stream one at a time through one reused buffer; a collection is never
//! held in memory.
//!
//! - `input`: finding the files and streaming their documents as raw BSON;
//! - `infer`: counting types and deciding the table (`_id` + `doc`, or `--flatten`);
//! - `values`: BSON values in the dump's text forms (relaxed Extended JSON for jsonb).

mod infer;
mod input;
mod values;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bson::{RawBsonRef, RawDocument};

use crate::dump::collection::{Collection, InputFile, Shape};
use crate::dump::encoding::{ColumnStats, Encoding};
use crate::dump::manifest::{self, Snapshot};
use crate::dump::schema::{Column, Index, IndexColumn, Table, View};
use crate::error::{Error, Result};
use crate::source::{
    Catalog, Flatten, KeyRange, MongoFormat, Reader, Row, Skipped, Source, SourceTable, whole_only,
};
use infer::{ColumnPlan, Conv};
use input::{CollectionFiles, Documents};

/// A directory of mongodump or mongoexport files, before the export reads it.
pub(crate) struct MongoSource {
    format: MongoFormat,
    dir: PathBuf,
    collections: HashMap<String, CollectionFiles>,
    views: Vec<View>,
    flatten: Flatten,
}

impl MongoSource {
    pub fn open(format: MongoFormat, dir: &Path, flatten: &Flatten) -> Result<Self> {
        let listing = input::list(format, dir)?;
        let mut views = Vec::new();
        for (name, meta) in &listing.views {
            let m = input::read_metadata(meta)?;
            let options = m.get("options").cloned().unwrap_or_default();
            views.push(View {
                name: name.clone(),
                definition: serde_json::to_string(&options).unwrap_or_default(),
            });
        }
        Ok(MongoSource {
            format,
            dir: dir.to_path_buf(),
            collections: listing
                .collections
                .into_iter()
                .map(|c| (c.name.clone(), c))
                .collect(),
            views,
            flatten: flatten.clone(),
        })
    }

    /// A file's name as messages and the manifest show it: relative to the directory.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

fn placeholder_column(name: &str) -> Column {
    Column {
        name: name.to_string(),
        column_type: String::new(),
        data_type: String::new(),
        nullable: true,
        encoding: Encoding::Text,
        default: None,
        auto_increment: false,
        unsigned: false,
        on_update: None,
        generated: None,
        max_length: None,
        precision: None,
        scale: None,
        datetime_precision: None,
        charset: None,
        collation: None,
        values: Vec::new(),
        comment: String::new(),
        stats: ColumnStats::default(),
        representation: None,
        storage_classes: None,
        values_beyond_declared: 0,
    }
}

fn column(plan: &ColumnPlan, is_id: bool) -> Column {
    let mut c = placeholder_column(&plan.name);
    c.nullable = plan.nullable;
    c.column_type = plan.bson_type.clone();
    c.encoding = match plan.conv {
        // An _id of other types is its Extended JSON as text (see `infer`).
        Conv::Json if is_id => Encoding::Text,
        Conv::Json => Encoding::JsonText,
        Conv::ObjectId | Conv::String => Encoding::Text,
        Conv::Uuid => Encoding::UuidText,
        Conv::Integer => Encoding::Integer,
        Conv::Double => Encoding::Double,
        Conv::Decimal => Encoding::Decimal,
        Conv::Bool => Encoding::BooleanInt,
        Conv::Date => Encoding::TimestampUtc,
        Conv::Binary => Encoding::ByteaHex,
    };
    c.data_type = match (plan.conv, is_id) {
        (Conv::Json, true) => "extended_json_text",
        (Conv::Json, false) => "extended_json",
        (Conv::ObjectId, _) => "objectid_hex",
        _ => "bson",
    }
    .into();
    if plan.conv == Conv::Date {
        c.datetime_precision = Some(3);
    }
    c
}

/// The metadata's simple indexes on flattened columns, as the dump's schema; the others
/// are named in a note (their definitions stay in the manifest's `collection.indexes`).
fn translate_indexes(
    collection: &str,
    indexes: &[serde_json::Value],
    columns: &[ColumnPlan],
    notes: &mut Vec<String>,
) -> Vec<Index> {
    let mut out = Vec::new();
    for ix in indexes {
        let name = ix.get("name").and_then(|n| n.as_str()).unwrap_or("");
        let Some(key) = ix.get("key").and_then(|k| k.as_object()) else {
            continue;
        };
        if key.len() == 1 && key.contains_key("_id") {
            continue; // the primary key
        }
        let direction = |v: &serde_json::Value| -> Option<f64> {
            match v {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::Object(o) => o
                    .values()
                    .next()
                    .and_then(|s| s.as_str())
                    .and_then(|s| s.parse().ok()),
                _ => None,
            }
        };
        let mut cols = Vec::new();
        let mut why = None;
        for (field, v) in key {
            match direction(v) {
                Some(d) if d == 1.0 || d == -1.0 => {}
                _ => why = Some(format!("its key on `{field}` is {v}, not 1 or -1")),
            }
            if !columns.iter().any(|c| &c.name == field) {
                why = Some(format!("`{field}` is not a top-level column"));
            }
            cols.push(IndexColumn {
                name: Some(field.clone()),
                prefix: None,
                descending: direction(v).is_some_and(|d| d < 0.0),
                expression: None,
            });
        }
        if ix.get("partialFilterExpression").is_some() {
            why = Some("it is partial (partialFilterExpression)".into());
        }
        if ix.get("collation").is_some() {
            why = Some("it has a collation".into());
        }
        match why {
            Some(why) => notes.push(format!(
                "collection `{collection}`: index `{name}` not translated: {why}"
            )),
            None => out.push(Index {
                name: name.to_string(),
                unique: ix.get("unique").and_then(|u| u.as_bool()).unwrap_or(false),
                kind: "BTREE".into(),
                columns: cols,
                comment: String::new(),
                predicate: None,
            }),
        }
    }
    out
}

impl Source for MongoSource {
    fn describe(&self) -> manifest::Source {
        manifest::Source {
            engine: "mongodb".into(),
            // The files do not say which server wrote them.
            server_version: String::new(),
            host: String::new(),
            port: 0,
            database: self
                .dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "mongodb".into()),
            user: String::new(),
            charset: "UTF-8".into(),
            time_zone: "+00:00".into(),
            tls_cipher: None,
            server_id: None,
            server_uuid: None,
            path: Some(self.dir.display().to_string()),
            journal_mode: None,
            input_format: Some(self.format.tool().into()),
        }
    }

    fn catalog(&mut self) -> Result<Catalog> {
        let mut names: Vec<&String> = self.collections.keys().collect();
        names.sort();
        let mut tables = Vec::new();
        let mut skipped = Vec::new();
        for name in names {
            if name.starts_with("system.") {
                skipped.push(Skipped {
                    name: name.clone(),
                    why: "is a MongoDB system collection".into(),
                });
                continue;
            }
            tables.push(SourceTable {
                schema: Table {
                    name: name.clone(),
                    engine: Some("collection".into()),
                    columns: vec![placeholder_column("_id"), placeholder_column("doc")],
                    ..Table::default()
                },
                estimated_rows: 0,
                data_length: self.collections[name].data_bytes(),
                internal: None,
                charset_checked: Vec::new(),
            });
        }
        Ok(Catalog {
            tables,
            views: self.views.clone(),
            skipped,
        })
    }

    fn splits_tables(&self) -> bool {
        false
    }

    fn snapshot(
        self: Box<Self>,
        jobs: usize,
        tables: &mut [SourceTable],
    ) -> Result<(Vec<Box<dyn Reader>>, Snapshot)> {
        if let Flatten::Collections(wanted) = &self.flatten {
            let unknown: Vec<&str> = wanted
                .iter()
                .filter(|w| !tables.iter().any(|t| &t.schema.name == *w))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(Error::config(format!(
                    "--flatten: no collection named {} is exported from {}",
                    unknown.join(", "),
                    self.dir.display()
                )));
            }
        }
        let mut notes = Vec::new();
        let mut problems = Vec::new();
        let mut prepared = HashMap::new();
        let mut buf = Vec::new();
        for t in tables.iter_mut() {
            let name = t.schema.name.clone();
            let files = &self.collections[&name];
            let flatten = self.flatten.applies(&name);
            let mut input_files = Vec::new();
            let mut uuid = None;
            let mut options = None;
            let mut indexes = Vec::new();
            if let Some(m) = &files.metadata {
                let (bytes, sha256) = input::hash_file(m)?;
                let meta = input::read_metadata(m)?;
                uuid = meta.get("uuid").and_then(|u| u.as_str()).map(String::from);
                options = meta.get("options").cloned();
                indexes = meta
                    .get("indexes")
                    .and_then(|i| i.as_array())
                    .cloned()
                    .unwrap_or_default();
                input_files.push(InputFile {
                    path: self.shown(m),
                    bytes,
                    sha256,
                });
            }
            let mut scan = infer::Scan::new();
            let mut expected = None;
            if let Some(path) = &files.data {
                let shown = self.shown(path);
                let mut docs = Documents::open(self.format, path, &shown)?;
                while docs.next(&mut buf)? {
                    let doc = RawDocument::from_bytes(&buf[..])
                        .map_err(|e| Error::config(format!("{shown}: {e}")))?;
                    if let Err(e) = scan.add(doc) {
                        return Err(Error::config(format!(
                            "{shown}: document {} (_id {}): {e}",
                            docs.count,
                            infer::id_label(doc)
                        )));
                    }
                    if docs.count.is_multiple_of(4096) {
                        crate::interrupt::check()?;
                    }
                }
                let (bytes, sha256) = docs.finish()?;
                input_files.insert(
                    0,
                    InputFile {
                        path: shown.clone(),
                        bytes,
                        sha256: sha256.clone(),
                    },
                );
                expected = Some((path.clone(), shown, bytes, sha256));
            }
            let documents = scan.documents;
            let bson_bytes = scan.bytes();
            let plan = scan.plan(&name, flatten);
            notes.extend(plan.notes.iter().cloned());
            problems.extend(plan.problems.iter().cloned());
            let s = &mut t.schema;
            s.columns = plan
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| column(c, i == 0))
                .collect();
            s.primary_key = if plan.id_is_key {
                vec!["_id".into()]
            } else {
                Vec::new()
            };
            s.indexes = if flatten {
                translate_indexes(&name, &indexes, &plan.columns, &mut notes)
            } else {
                Vec::new()
            };
            s.collection = Some(Collection {
                shape: if flatten { Shape::Flatten } else { Shape::Doc },
                documents,
                input_files,
                fields: plan.fields,
                fields_truncated: plan.fields_truncated,
                uuid,
                options,
                indexes,
            });
            t.estimated_rows = documents;
            t.data_length = bson_bytes;
            let index: HashMap<String, usize> = plan
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name.clone(), i))
                .collect();
            prepared.insert(
                name,
                Prepared {
                    expected,
                    convs: plan.columns.iter().map(|c| c.conv).collect(),
                    index,
                    flatten,
                },
            );
        }
        if !problems.is_empty() {
            return Err(Error::Unexportable(problems));
        }
        let shared = Arc::new(prepared);
        let readers: Vec<Box<dyn Reader>> = (0..jobs.max(1))
            .map(|_| {
                Box::new(MongoReader {
                    format: self.format,
                    prepared: shared.clone(),
                }) as Box<dyn Reader>
            })
            .collect();
        Ok((
            readers,
            Snapshot {
                consistent: true,
                method: "input_files_sha256".into(),
                notes,
                ..Snapshot::default()
            },
        ))
    }
}

/// What the read needs of a collection, decided by the first pass.
struct Prepared {
    /// The data file, how it is shown, and the size and sha256 the first pass found.
    expected: Option<(PathBuf, String, u64, String)>,
    convs: Vec<Conv>,
    /// Column positions by field name.
    index: HashMap<String, usize>,
    flatten: bool,
}

struct MongoReader {
    format: MongoFormat,
    prepared: Arc<HashMap<String, Prepared>>,
}

/// A row's cells in one reused buffer.
struct ArenaRow {
    buf: Vec<u8>,
    cells: Vec<Option<(usize, usize)>>,
}

impl Row for ArenaRow {
    fn cell(&self, i: usize) -> Option<&[u8]> {
        self.cells[i].map(|(a, b)| &self.buf[a..b])
    }
}

/// Writes `v` as `conv` asks; `Ok(false)` when the value is NULL, an error naming what
/// is wrong when the value is not of the column's kind.
fn convert(conv: Conv, v: RawBsonRef, out: &mut Vec<u8>) -> std::result::Result<bool, String> {
    use RawBsonRef as B;
    match (conv, v) {
        (_, B::Null) => return Ok(false),
        (Conv::ObjectId, B::ObjectId(o)) => values::write_object_id(&o, out),
        (Conv::Uuid, B::Binary(b)) if values::is_uuid(b.subtype, b.bytes) => {
            values::write_uuid(b.bytes, out)
        }
        (Conv::String, B::String(s)) => out.extend_from_slice(s.as_bytes()),
        (Conv::Integer, B::Int32(i)) => {
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes())
        }
        (Conv::Integer, B::Int64(i)) => {
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes())
        }
        (Conv::Double, B::Double(d)) => values::write_double_text(d, out),
        (Conv::Decimal, B::Decimal128(d)) => out.extend_from_slice(d.to_string().as_bytes()),
        (Conv::Bool, B::Boolean(b)) => out.push(if b { b'1' } else { b'0' }),
        (Conv::Date, B::DateTime(d)) if values::write_date(d.timestamp_millis(), b' ', out) => {}
        (Conv::Binary, B::Binary(b)) => out.extend_from_slice(b.bytes),
        (Conv::Json, v) => values::write_value(v, 1, out).map_err(|e| e.describe())?,
        (_, v) => {
            return Err(format!(
                "a {} value where the first pass found none: the file changed during the export",
                infer::TYPES[infer::type_index(&v)]
            ));
        }
    }
    Ok(true)
}

impl Reader for MongoReader {
    fn read(
        &mut self,
        table: &Table,
        range: Option<&KeyRange>,
        what: &str,
        on_row: &mut dyn FnMut(&dyn Row) -> Result<()>,
    ) -> Result<()> {
        whole_only(range, what, "collections")?;
        let p = self.prepared.get(&table.name).ok_or_else(|| {
            Error::config(format!("{what}: not prepared by the export's first pass"))
        })?;
        let Some((path, shown, bytes, sha256)) = &p.expected else {
            return Ok(());
        };
        let mut docs = Documents::open(self.format, path, shown)?;
        let mut buf = Vec::new();
        let mut row = ArenaRow {
            buf: Vec::with_capacity(1 << 16),
            cells: vec![None; p.convs.len()],
        };
        let data_error = |doc: &RawDocument, column: usize, problem: String| Error::Data {
            table: table.name.clone(),
            column: table
                .columns
                .get(column)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            key: format!("_id {}", infer::id_label(doc)),
            problem,
        };
        while docs.next(&mut buf)? {
            let doc = RawDocument::from_bytes(&buf[..])
                .map_err(|e| Error::config(format!("{shown}: {e}")))?;
            row.buf.clear();
            row.cells.iter_mut().for_each(|c| *c = None);
            if p.flatten {
                for el in doc.iter_elements() {
                    let el = el.map_err(|e| data_error(doc, 0, format!("not valid BSON ({e})")))?;
                    let Some(&i) = p.index.get(el.key().as_str()) else {
                        return Err(data_error(
                            doc,
                            0,
                            format!(
                                "field `{}` was not there in the first pass: the file changed \
                                 during the export",
                                el.key().as_str()
                            ),
                        ));
                    };
                    let v = el
                        .value()
                        .map_err(|e| data_error(doc, i, format!("not valid BSON ({e})")))?;
                    let start = row.buf.len();
                    row.cells[i] = match convert(p.convs[i], v, &mut row.buf) {
                        Ok(true) => Some((start, row.buf.len())),
                        Ok(false) => None,
                        Err(e) => return Err(data_error(doc, i, e)),
                    };
                }
            } else {
                if let Some(v) = doc
                    .get("_id")
                    .map_err(|e| data_error(doc, 0, format!("not valid BSON ({e})")))?
                {
                    match convert(p.convs[0], v, &mut row.buf) {
                        Ok(true) => row.cells[0] = Some((0, row.buf.len())),
                        Ok(false) => {}
                        Err(e) => return Err(data_error(doc, 0, e)),
                    }
                }
                let start = row.buf.len();
                values::write_document(doc, 0, &mut row.buf)
                    .map_err(|e| data_error(doc, 1, e.describe()))?;
                row.cells[1] = Some((start, row.buf.len()));
            }
            on_row(&row)?;
        }
        let (now_bytes, now_sha) = docs.finish()?;
        if now_bytes != *bytes || now_sha != *sha256 {
            return Err(Error::config(format!(
                "{shown} changed during the export (sha256 {sha256}, {bytes} bytes when first \
                 read; now {now_sha}, {now_bytes} bytes); export from files nothing writes to"
            )));
        }
        Ok(())
    }
}
