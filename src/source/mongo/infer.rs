//! The pass that decides a collection's table. A collection has no schema, so every
//! document is read once before anything is written: each top-level field's BSON types
//! are counted (with up to three sample `_id`s per type and for documents missing the
//! field), the input files are hashed, and the columns follow:
//!
//! - `_id`: text holding the 24-hex ObjectId, uuid for UUID binaries, text for strings,
//!   an integer for int32/int64, and otherwise the value's relaxed Extended JSON as
//!   text; the primary key, unless some document has no `_id`;
//! - default shape: `_id` plus `doc`, the whole document as relaxed Extended JSON;
//! - `--flatten`: `_id` plus one column per top-level field, typed from what it held:
//!   string text, int32 integer, int32/int64 bigint, double, Decimal128 numeric, bool,
//!   date timestamptz (milliseconds; jsonb when a date lies outside the years
//!   0001-9999), ObjectId text, UUID uuid, other binaries bytea, everything else and
//!   any mix of types jsonb (a mix is reported). A field missing from a document, or
//!   null in it, makes the column nullable.
//!
//! A flattened collection cannot have a field with an empty name (no PostgreSQL column
//! can), or more fields than a PostgreSQL table has columns: such a collection is
//! refused with a message that says so, before anything is written.

use std::collections::{BTreeMap, HashMap};

use bson::{RawBsonRef, RawDocument};

use super::values;
use crate::dump::collection::{FieldTypes, thousands};

/// MongoDB's `$type` aliases, plus `uuid` for binData subtype 4 of 16 bytes.
pub(super) const TYPES: [&str; 22] = [
    "double",
    "string",
    "object",
    "array",
    "binData",
    "uuid",
    "objectId",
    "bool",
    "date",
    "null",
    "regex",
    "dbPointer",
    "javascript",
    "symbol",
    "javascriptWithScope",
    "int",
    "timestamp",
    "long",
    "decimal",
    "minKey",
    "maxKey",
    "undefined",
];

const NULL: usize = 9;
const DATE: usize = 8;

pub(super) fn type_index(v: &RawBsonRef) -> usize {
    match v {
        RawBsonRef::Double(_) => 0,
        RawBsonRef::String(_) => 1,
        RawBsonRef::Document(_) => 2,
        RawBsonRef::Array(_) => 3,
        RawBsonRef::Binary(b) if values::is_uuid(b.subtype, b.bytes) => 5,
        RawBsonRef::Binary(_) => 4,
        RawBsonRef::ObjectId(_) => 6,
        RawBsonRef::Boolean(_) => 7,
        RawBsonRef::DateTime(_) => DATE,
        RawBsonRef::Null => NULL,
        RawBsonRef::RegularExpression(_) => 10,
        RawBsonRef::DbPointer(_) => 11,
        RawBsonRef::JavaScriptCode(_) => 12,
        RawBsonRef::Symbol(_) => 13,
        RawBsonRef::JavaScriptCodeWithScope(_) => 14,
        RawBsonRef::Int32(_) => 15,
        RawBsonRef::Timestamp(_) => 16,
        RawBsonRef::Int64(_) => 17,
        RawBsonRef::Decimal128(_) => 18,
        RawBsonRef::MinKey => 19,
        RawBsonRef::MaxKey => 20,
        RawBsonRef::Undefined => 21,
    }
}

/// Distinct top-level field names counted per collection; beyond this (a collection
/// using field names as keys) the rest are not listed, and it cannot be flattened.
pub(super) const MAX_FIELDS: usize = 2000;
/// PostgreSQL's limit on a table's columns.
pub(super) const MAX_COLUMNS: usize = 1600;
const SAMPLES: usize = 3;
/// The longest column name a MongoDB dump may carry (the manifest's limit for it).
const MAX_NAME_CHARS: usize = 255;

/// How a document is named in messages: its `_id`, shortened.
pub(super) fn id_label(doc: &RawDocument) -> String {
    let v = match doc.get("_id") {
        Ok(Some(v)) => v,
        Ok(None) => return "(no _id)".into(),
        Err(_) => return "(unreadable _id)".into(),
    };
    let s = match v {
        RawBsonRef::ObjectId(o) => o.to_hex(),
        RawBsonRef::String(s) => format!("{s:?}"),
        RawBsonRef::Int32(i) => i.to_string(),
        RawBsonRef::Int64(i) => i.to_string(),
        RawBsonRef::Binary(b) if values::is_uuid(b.subtype, b.bytes) => {
            let mut out = Vec::new();
            values::write_uuid(b.bytes, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        }
        other => {
            let mut out = Vec::new();
            let _ = values::write_value(other, 0, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        }
    };
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

struct Field {
    name: String,
    counts: [u64; 22],
    present: u64,
    /// The document number that last held the field (to count a document once).
    seen_in: u64,
    samples: [Vec<String>; 22],
    missing_samples: Vec<String>,
    /// Dates outside the years 0001-9999.
    dates_out_of_range: u64,
}

/// The counts over one collection's documents.
pub(super) struct Scan {
    pub documents: u64,
    fields: Vec<Field>,
    index: HashMap<String, usize>,
    truncated: bool,
    /// `_id`s of the first documents (they are the samples of a field's absence when it
    /// first appears later).
    first_ids: Vec<String>,
    /// Fields whose sample list of absences is not full yet.
    wanting_missing: usize,
    /// Documents with a top-level field of an empty name.
    empty_names: u64,
    empty_name_samples: Vec<String>,
    bytes: u64,
    scratch: Vec<u8>,
}

impl Scan {
    pub fn new() -> Scan {
        Scan {
            documents: 0,
            fields: Vec::new(),
            index: HashMap::new(),
            truncated: false,
            first_ids: Vec::new(),
            wanting_missing: 0,
            empty_names: 0,
            empty_name_samples: Vec::new(),
            bytes: 0,
            scratch: Vec::new(),
        }
    }

    /// Counts one document. Errors describe a malformed document.
    pub fn add(&mut self, doc: &RawDocument) -> Result<(), String> {
        self.documents += 1;
        self.bytes += doc.as_bytes().len() as u64;
        let n = self.documents;
        let mut label: Option<String> = None;
        let mut id = || label.get_or_insert_with(|| id_label(doc)).clone();
        if self.first_ids.len() < SAMPLES {
            self.first_ids.push(id());
        }
        let mut held = 0;
        let mut empty_name = false;
        for el in doc.iter_elements() {
            let el = el.map_err(|e| format!("not valid BSON ({e})"))?;
            let key = el.key().as_str();
            let v = el.value().map_err(|e| format!("not valid BSON ({e})"))?;
            if key.is_empty() {
                empty_name = true;
            }
            let i = match self.index.get(key) {
                Some(&i) => i,
                None if self.fields.len() >= MAX_FIELDS => {
                    self.truncated = true;
                    continue;
                }
                None => {
                    let missing_samples: Vec<String> =
                        self.first_ids[..(n as usize - 1).min(self.first_ids.len())].to_vec();
                    if missing_samples.len() < SAMPLES {
                        self.wanting_missing += 1;
                    }
                    self.fields.push(Field {
                        name: key.to_string(),
                        counts: [0; 22],
                        present: 0,
                        seen_in: 0,
                        samples: Default::default(),
                        missing_samples,
                        dates_out_of_range: 0,
                    });
                    self.index.insert(key.to_string(), self.fields.len() - 1);
                    self.fields.len() - 1
                }
            };
            let f = &mut self.fields[i];
            let t = type_index(&v);
            f.counts[t] += 1;
            if f.seen_in != n {
                f.seen_in = n;
                f.present += 1;
                held += 1;
            }
            if f.samples[t].len() < SAMPLES {
                f.samples[t].push(id());
            }
            if let RawBsonRef::DateTime(d) = v {
                self.scratch.clear();
                if !values::write_date(d.timestamp_millis(), b' ', &mut self.scratch) {
                    f.dates_out_of_range += 1;
                }
            }
        }
        if empty_name {
            self.empty_names += 1;
            if self.empty_name_samples.len() < SAMPLES {
                self.empty_name_samples.push(id());
            }
        }
        if held < self.fields.len() && self.wanting_missing > 0 {
            for f in &mut self.fields {
                if f.seen_in != n && f.missing_samples.len() < SAMPLES {
                    f.missing_samples.push(id());
                    if f.missing_samples.len() == SAMPLES {
                        self.wanting_missing -= 1;
                    }
                }
            }
        }
        Ok(())
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// What a column's values are turned into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Conv {
    /// 24 hex digits.
    ObjectId,
    Uuid,
    String,
    Integer,
    Double,
    Decimal,
    /// 0 or 1.
    Bool,
    /// `YYYY-MM-DD HH:MM:SS.mmm` (UTC; the encoding adds `+00`).
    Date,
    /// The bytes, for `\x` hex.
    Binary,
    /// Relaxed Extended JSON.
    Json,
}

/// One column of the table.
#[derive(Clone, Debug)]
pub(super) struct ColumnPlan {
    pub name: String,
    pub conv: Conv,
    /// The BSON type(s) it holds, for the manifest (`objectId`, `int`, `mixed`, ...).
    pub bson_type: String,
    pub nullable: bool,
}

/// The table a collection becomes.
pub(super) struct TablePlan {
    pub columns: Vec<ColumnPlan>,
    pub id_is_key: bool,
    pub fields: Vec<FieldTypes>,
    pub fields_truncated: bool,
    /// Reported, not fatal (mixed types, dates out of range, no `_id`).
    pub notes: Vec<String>,
    /// Fatal: the collection cannot be exported this way.
    pub problems: Vec<String>,
}

/// The single BSON type a set of counts holds (nulls aside), or `None` for a mix.
fn single(counts: &[u64; 22]) -> Option<Option<usize>> {
    let mut found = None;
    for (t, &n) in counts.iter().enumerate() {
        if n == 0 || t == NULL {
            continue;
        }
        if found.is_some() {
            return None;
        }
        found = Some(t);
    }
    Some(found)
}

fn int_kind(counts: &[u64; 22]) -> Option<&'static str> {
    let others = counts
        .iter()
        .enumerate()
        .any(|(t, &n)| n > 0 && !matches!(t, 15 | 17 | NULL));
    match (others, counts[15] > 0, counts[17] > 0) {
        (false, true, false) => Some("int"),
        (false, _, true) => Some("long"),
        _ => None,
    }
}

impl Scan {
    /// Decides the table: `flatten` for one column per field.
    pub fn plan(self, collection: &str, flatten: bool) -> TablePlan {
        let mut notes = Vec::new();
        let mut problems = Vec::new();
        let docs = self.documents;
        let describe = |f: &Field| -> FieldTypes {
            let types: BTreeMap<String, u64> = f
                .counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(t, n)| (TYPES[t].to_string(), *n))
                .collect();
            let mixed = single(&f.counts).is_none();
            FieldTypes {
                name: f.name.clone(),
                missing: docs - f.present,
                samples: if mixed {
                    f.samples
                        .iter()
                        .enumerate()
                        .filter(|(t, s)| !s.is_empty() && *t != NULL)
                        .map(|(t, s)| (TYPES[t].to_string(), s.clone()))
                        .collect()
                } else {
                    BTreeMap::new()
                },
                missing_samples: if f.present < docs {
                    f.missing_samples.clone()
                } else {
                    Vec::new()
                },
                types,
            }
        };
        let fields: Vec<FieldTypes> = self.fields.iter().map(describe).collect();
        let with_samples = FieldTypes::describe_with_samples;

        // _id
        let id = self.index.get("_id").map(|&i| &self.fields[i]);
        let mut columns = Vec::new();
        let id_is_key = id.is_some_and(|f| f.present == docs && f.counts[NULL] == 0) || docs == 0;
        if !id_is_key {
            let ft = id.map(describe).unwrap_or_else(|| FieldTypes {
                name: "_id".into(),
                missing: docs,
                missing_samples: self.first_ids.clone(),
                ..FieldTypes::default()
            });
            notes.push(format!(
                "collection `{collection}`: not every document has an _id ({}): the table gets \
                 no primary key",
                with_samples(&ft)
            ));
        }
        let (conv, bson_type) = match id.map(|f| (single(&f.counts), int_kind(&f.counts))) {
            Some((Some(Some(6)), _)) | None => (Conv::ObjectId, "objectId".to_string()),
            Some((Some(Some(5)), _)) => (Conv::Uuid, "uuid".into()),
            Some((Some(Some(1)), _)) => (Conv::String, "string".into()),
            Some((_, Some(k))) => (Conv::Integer, k.to_string()),
            Some((Some(Some(t)), _)) => (Conv::Json, TYPES[t].to_string()),
            Some(_) => (Conv::Json, "mixed".into()),
        };
        // `_id` values that are neither ObjectIds, UUIDs, strings nor integers are
        // their Extended JSON as text (a key column cannot be jsonb-typed by surprise).
        columns.push(ColumnPlan {
            name: "_id".into(),
            conv: if conv == Conv::Json { Conv::Json } else { conv },
            bson_type,
            nullable: !id_is_key,
        });

        if !flatten {
            columns.push(ColumnPlan {
                name: "doc".into(),
                conv: Conv::Json,
                bson_type: "object".into(),
                nullable: false,
            });
        } else {
            if self.empty_names > 0 {
                problems.push(format!(
                    "collection `{collection}`: {} document(s) have a top-level field with an \
                     empty name (_id {}), which no PostgreSQL column can have; export this \
                     collection without --flatten (its documents then go whole into `doc`)",
                    thousands(self.empty_names),
                    self.empty_name_samples.join(", ")
                ));
            }
            if self.truncated || self.fields.len() > MAX_COLUMNS {
                problems.push(format!(
                    "collection `{collection}` has {}{} distinct top-level fields, more than \
                     the {MAX_COLUMNS} columns a PostgreSQL table can have; export it without \
                     --flatten",
                    if self.truncated { "more than " } else { "" },
                    thousands(self.fields.len() as u64)
                ));
            }
            for (f, ft) in self.fields.iter().zip(&fields) {
                if f.name == "_id" {
                    continue;
                }
                if f.name.chars().any(crate::printable::is_unsafe)
                    || f.name.chars().count() > MAX_NAME_CHARS
                {
                    let ids = f.samples.iter().flatten().take(SAMPLES).cloned();
                    problems.push(format!(
                        "collection `{collection}`: the top-level field \"{}\" (_id {}) has \
                         control characters or more than {MAX_NAME_CHARS} characters in its \
                         name, which waybill does not make a column of; export this collection \
                         without --flatten",
                        crate::printable::escaped(&f.name),
                        ids.collect::<Vec<_>>().join(", ")
                    ));
                }
                let (conv, bson_type) = match (single(&f.counts), int_kind(&f.counts)) {
                    (_, Some(k)) => (Conv::Integer, k.to_string()),
                    (Some(None), _) => (Conv::String, "null".into()),
                    (Some(Some(t)), _) => {
                        let conv = match t {
                            0 => Conv::Double,
                            1 => Conv::String,
                            4 => Conv::Binary,
                            5 => Conv::Uuid,
                            6 => Conv::ObjectId,
                            7 => Conv::Bool,
                            DATE if f.dates_out_of_range == 0 => Conv::Date,
                            DATE => {
                                notes.push(format!(
                                    "collection `{collection}`, field `{}`: {} date(s) lie \
                                     outside the years 0001-9999, which timestamptz cannot \
                                     hold exactly: exported as jsonb ({{\"$date\": ...}})",
                                    f.name,
                                    thousands(f.dates_out_of_range)
                                ));
                                Conv::Json
                            }
                            18 => Conv::Decimal,
                            _ => Conv::Json,
                        };
                        (conv, TYPES[t].to_string())
                    }
                    (None, _) => {
                        notes.push(format!(
                            "collection `{collection}`, field `{}` has mixed types ({}): \
                             exported as jsonb",
                            f.name,
                            with_samples(ft)
                        ));
                        (Conv::Json, "mixed".into())
                    }
                };
                columns.push(ColumnPlan {
                    name: f.name.clone(),
                    conv,
                    bson_type,
                    nullable: f.present < docs || f.counts[NULL] > 0,
                });
            }
        }
        if self.truncated {
            notes.push(format!(
                "collection `{collection}` has more than {MAX_FIELDS} distinct top-level field \
                 names: the manifest lists the first {MAX_FIELDS}"
            ));
        }
        TablePlan {
            columns,
            id_is_key,
            fields,
            fields_truncated: self.truncated,
            notes,
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};

    fn scan(docs: &[bson::Document]) -> Scan {
        let mut s = Scan::new();
        for d in docs {
            let raw = bson::RawDocumentBuf::try_from(d).unwrap();
            s.add(&raw).unwrap();
        }
        s
    }

    #[test]
    fn columns_follow_the_types() {
        let a = ObjectId::parse_str("65f000000000000000000001").unwrap();
        let b = ObjectId::parse_str("65f000000000000000000002").unwrap();
        let c = ObjectId::parse_str("65f000000000000000000003").unwrap();
        let s = scan(&[
            doc! {"_id": a, "price": 1.5, "n": 1_i32, "tags": ["x"]},
            doc! {"_id": b, "price": "free", "n": 5_000_000_000_i64},
            doc! {"_id": c, "price": 2.5, "n": bson::Bson::Null, "late": true},
        ]);
        let p = s.plan("orders", true);
        let cols: Vec<(&str, Conv, &str, bool)> = p
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.conv, c.bson_type.as_str(), c.nullable))
            .collect();
        assert_eq!(
            cols,
            [
                ("_id", Conv::ObjectId, "objectId", false),
                ("price", Conv::Json, "mixed", false),
                ("n", Conv::Integer, "long", true),
                ("tags", Conv::Json, "array", true),
                ("late", Conv::Bool, "bool", true),
            ]
        );
        assert_eq!(
            p.notes,
            [
                "collection `orders`, field `price` has mixed types (double 2, string 1; double: \
              _id 65f000000000000000000001, 65f000000000000000000003; string: _id \
              65f000000000000000000002): exported as jsonb"
            ]
        );
        let late = p.fields.iter().find(|f| f.name == "late").unwrap();
        assert_eq!(late.missing, 2);
        assert_eq!(
            late.missing_samples,
            ["65f000000000000000000001", "65f000000000000000000002"]
        );
        assert!(p.problems.is_empty());
        let p = scan(&[doc! {"_id": 1, "": 2}]).plan("odd", true);
        assert_eq!(p.columns[0].conv, Conv::Integer);
        assert!(
            p.problems[0].contains("empty name (_id 1)"),
            "{:?}",
            p.problems
        );
    }
}
