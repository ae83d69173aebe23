//! Unit tests for `validate`, the one boundary every manifest crosses: a valid manifest
//! (the fuzz seed, written by a real export) is edited one field at a time, and each
//! edit must give exactly the problem expected, naming its field; edits that stay inside
//! the limits must give none. Written against the mutants cargo-mutants found alive
//! when only the integration tests (tests/hardening.rs) covered this module.

use serde_json::{Value, json};

use super::manifest::Manifest;
use super::validate::validate;

const SEED: &str = include_str!("../../tests/fixtures/fuzz_seed_manifest.json");

fn seed() -> Value {
    serde_json::from_str(SEED).unwrap()
}

fn problems(m: &Value) -> Vec<String> {
    let parsed: Manifest = serde_json::from_value(m.clone()).expect("the edit still parses");
    validate(&parsed).err().unwrap_or_default()
}

/// `edit` applied to the seed gives exactly `expected` (nothing else).
fn refused(what: &str, edit: impl FnOnce(&mut Value), expected: &[&str]) {
    let mut m = seed();
    edit(&mut m);
    assert_eq!(problems(&m), expected, "{what}");
}

fn accepted(what: &str, edit: impl FnOnce(&mut Value)) {
    let mut m = seed();
    edit(&mut m);
    assert_eq!(problems(&m), Vec::<String>::new(), "{what}");
}

/// The seed's `account` table: column positions by name.
fn col(m: &Value, name: &str) -> usize {
    m["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == name)
        .unwrap()
}

#[test]
fn the_seed_is_valid() {
    assert_eq!(problems(&seed()), Vec::<String>::new());
}

#[test]
fn names_are_checked_against_the_engine_s_limit() {
    let long = |n: usize| "n".repeat(n);
    // A column no index or key names.
    let c = col(&seed(), "code");
    accepted("64 characters in MariaDB", |m| {
        m["tables"][0]["columns"][c]["name"] = json!(long(64))
    });
    refused(
        "65 characters in MariaDB",
        |m| m["tables"][0]["columns"][c]["name"] = json!(long(65)),
        &[&format!(
            "tables[0].columns[{c}].name: the column name \"{}\" is longer than 64 characters",
            long(65)
        )],
    );
    refused(
        "66 characters in MySQL",
        |m| {
            m["source"]["engine"] = json!("mysql");
            m["tables"][0]["columns"][c]["name"] = json!(long(66))
        },
        &[&format!(
            "tables[0].columns[{c}].name: the column name \"{}\" is longer than 64 characters",
            long(66)
        )],
    );
    accepted("255 characters from SQLite", |m| {
        m["source"]["engine"] = json!("sqlite");
        m["tables"][0]["columns"][c]["name"] = json!(long(255))
    });
    refused(
        "256 characters from SQLite",
        |m| {
            m["source"]["engine"] = json!("sqlite");
            m["tables"][0]["columns"][c]["name"] = json!(long(256))
        },
        &[&format!(
            "tables[0].columns[{c}].name: the column name \"{}\" is longer than 255 characters",
            long(256)
        )],
    );
    refused(
        "an empty name",
        |m| m["tables"][0]["columns"][c]["name"] = json!(""),
        &[&format!(
            "tables[0].columns[{c}].name: the column name is empty"
        )],
    );
    let mut m = seed();
    m["views"] = json!([{ "name": "v\u{7}x", "definition": "" }]);
    m["totals"]["views"] = json!(1);
    let got = problems(&m);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("views[0].name: the view name \"v")
            && got[0].ends_with("x\" contains control characters")
            && !got[0].contains('\u{7}'),
        "{got:?}"
    );
}

#[test]
fn text_postgresql_cannot_hold_is_refused() {
    refused(
        "a NUL in a comment",
        |m| m["tables"][0]["comment"] = json!("a\u{0}b"),
        &["tables[0].comment: contains a NUL byte, which PostgreSQL text cannot hold"],
    );
}

#[test]
fn the_csv_dialect_must_be_waybill_s() {
    refused(
        "another delimiter",
        |m| m["csv"]["delimiter"] = json!(";"),
        &["csv.delimiter: \";\", but waybill reads only dumps written with \",\""],
    );
    refused(
        "no header",
        |m| m["csv"]["header"] = json!(false),
        &["csv.header: false, but waybill reads only dumps with a header row"],
    );
}

#[test]
fn many_problems_are_cut_at_twenty_five() {
    let with = |n: usize| {
        let mut m = seed();
        let cols = m["tables"][0]["columns"].as_array_mut().unwrap();
        for c in cols.iter_mut().take(n) {
            c["comment"] = json!("\u{0}");
        }
        problems(&m)
    };
    let exactly = with(24);
    assert_eq!(exactly.len(), 24, "{exactly:?}");
    let cut = {
        // 24 columns, and the table comment: 25 problems, none left out.
        let mut m = seed();
        for c in m["tables"][0]["columns"].as_array_mut().unwrap() {
            c["comment"] = json!("\u{0}");
        }
        m["tables"][0]["comment"] = json!("\u{0}");
        problems(&m)
    };
    assert_eq!(cut.len(), 25, "{cut:?}");
    assert!(!cut.iter().any(|p| p.starts_with("...")), "{cut:?}");
    let mut m = seed();
    for c in m["tables"][0]["columns"].as_array_mut().unwrap() {
        c["comment"] = json!("\u{0}");
    }
    m["tables"][0]["comment"] = json!("\u{0}");
    m["tables"][1]["comment"] = json!("\u{0}");
    m["tables"][2]["comment"] = json!("\u{0}");
    let over = problems(&m);
    assert_eq!(over.len(), 26, "{over:?}");
    assert_eq!(over[25], "... and 2 more problem(s)");
}

#[test]
fn keys_indexes_and_references_name_existing_columns() {
    refused(
        "a foreign key to a missing parent column",
        |m| m["tables"][1]["foreign_keys"][0]["referenced_columns"] = json!(["nope"]),
        &[
            "tables[1].foreign_keys[0].referenced_columns[0]: column \"nope\" is not a column of table \"account\"",
        ],
    );
    accepted(
        "a foreign key to another schema is not checked against the dump",
        |m| {
            m["tables"][1]["foreign_keys"][0]["referenced_schema"] = json!("other");
            m["tables"][1]["foreign_keys"][0]["referenced_columns"] = json!(["nope"])
        },
    );
    refused(
        "an index on a missing column",
        |m| {
            m["tables"][1]["indexes"] = json!([{
                "name": "ix", "unique": false, "kind": "BTREE", "comment": "",
                "columns": [{ "name": "nope" }]
            }])
        },
        &[
            "tables[1].indexes[0].columns[0].name: column \"nope\" is not a column of table \"ledger\"",
        ],
    );
    accepted("an index prefix of 65535", |m| {
        m["tables"][1]["indexes"] = json!([{
            "name": "ix", "unique": false, "kind": "BTREE", "comment": "",
            "columns": [{ "name": "id", "prefix": 65535 }]
        }])
    });
    refused(
        "an index prefix of 65536",
        |m| {
            m["tables"][1]["indexes"] = json!([{
                "name": "ix", "unique": false, "kind": "BTREE", "comment": "",
                "columns": [{ "name": "id", "prefix": 65536 }]
            }])
        },
        &["tables[1].indexes[0].columns[0].prefix: 65536 is more than any prefix length (65535)"],
    );
}

#[test]
fn files_carry_hex_sha256_and_the_table_hash_matches() {
    let upper = "A".repeat(64);
    refused(
        "an uppercase sha256",
        |m| m["tables"][1]["files"][0]["sha256"] = json!(upper),
        &[&format!(
            "tables[1].files[0].sha256: \"{upper}\" is not a lowercase hex SHA-256"
        )],
    );
    refused(
        "a short sha256",
        |m| m["tables"][1]["files"][0]["sha256"] = json!("ab"),
        &["tables[1].files[0].sha256: \"ab\" is not a lowercase hex SHA-256"],
    );
    refused(
        "a table sha256 of a chunked table",
        |m| m["tables"][1]["sha256"] = m["tables"][1]["files"][0]["sha256"].clone(),
        &["tables[1].sha256: is set, but the table is not one file with that sha256"],
    );
    refused(
        "a negative duration",
        |m| m["tables"][1]["duration_secs"] = json!(-1.0),
        &["tables[1].duration_secs: is not a duration"],
    );
    accepted("the table sha256 of its one file", |m| {
        m["tables"][0]["sha256"] = m["tables"][0]["files"][0]["sha256"].clone()
    });
}

#[test]
fn columns_are_checked_by_their_encoding() {
    let m = seed();
    let (name, flags, balance, big, birthday, tags, kind) = (
        col(&m, "displayName"),
        col(&m, "flags"),
        col(&m, "balance"),
        col(&m, "big"),
        col(&m, "birthday"),
        col(&m, "tags"),
        col(&m, "kind"),
    );
    let at = |c: usize| format!("tables[0].columns[{c}]");
    accepted("type names with spaces and underscores", |m| {
        m["tables"][0]["columns"][name]["data_type"] = json!("double precision");
        m["tables"][0]["columns"][big]["data_type"] = json!("long_int");
    });
    refused(
        "a data type with punctuation",
        |m| m["tables"][0]["columns"][name]["data_type"] = json!("int;drop"),
        &[&format!(
            "{}.data_type: \"int;drop\" is not a data type name",
            at(name)
        )],
    );
    refused(
        "a SET member with a comma",
        |m| m["tables"][0]["columns"][tags]["values"] = json!(["a,b", "c"]),
        &[&format!(
            "{}.values[0]: the SET member \"a,b\" contains a comma",
            at(tags)
        )],
    );
    accepted("an ENUM label with a comma", |m| {
        m["tables"][0]["columns"][kind]["values"] = json!(["a,b", "c"])
    });
    accepted("bit(64)", |m| {
        m["tables"][0]["columns"][flags]["precision"] = json!(64)
    });
    refused(
        "bit(65)",
        |m| m["tables"][0]["columns"][flags]["precision"] = json!(65),
        &[&format!(
            "{}.precision: 65 is more than bit(n) allows (64)",
            at(flags)
        )],
    );
    refused(
        "bit(0)",
        |m| m["tables"][0]["columns"][flags]["precision"] = json!(0),
        &[&format!("{}.precision: 0 is below 1", at(flags))],
    );
    accepted("decimal(65,30)", |m| {
        m["tables"][0]["columns"][balance]["precision"] = json!(65);
        m["tables"][0]["columns"][balance]["scale"] = json!(30);
    });
    refused(
        "decimal(66,2)",
        |m| m["tables"][0]["columns"][balance]["precision"] = json!(66),
        &[&format!(
            "{}.precision: 66 is more than decimal(p,s) allows (65)",
            at(balance)
        )],
    );
    accepted("a scale equal to the precision", |m| {
        m["tables"][0]["columns"][balance]["precision"] = json!(4);
        m["tables"][0]["columns"][balance]["scale"] = json!(4);
    });
    refused(
        "a scale above the precision",
        |m| {
            m["tables"][0]["columns"][balance]["precision"] = json!(4);
            m["tables"][0]["columns"][balance]["scale"] = json!(5);
        },
        &[&format!(
            "{}.scale: 5 is more than the precision 4",
            at(balance)
        )],
    );
    for (c, default, shape, encoding) in [
        (big, "1.5", "an integer", "integer"),
        (balance, "1.5x", "a number", "decimal"),
        (
            birthday,
            "tomorrow",
            "a date (YYYY-MM-DD[ HH:MM:SS[.ffffff]])",
            "date",
        ),
        (
            flags,
            "b'2'",
            "a bit value (digits or b'0101')",
            "bit_string",
        ),
    ] {
        refused(
            &format!("default {default} of {encoding}"),
            |m| m["tables"][0]["columns"][c]["default"] = json!({ "literal": default }),
            &[&format!(
                "{}.default: \"{default}\" is not {shape} (the column's encoding is {encoding})",
                at(c)
            )],
        );
    }
    for (c, default) in [
        (big, "-12"),
        (balance, "-1.5e3"),
        (birthday, "2024-02-29"),
        (flags, "b'0101'"),
        (name, "anything at all"),
    ] {
        accepted(&format!("default {default}"), |m| {
            m["tables"][0]["columns"][c]["default"] = json!({ "literal": default })
        });
    }
}

/// The seed made into a delta: every file an upserts file, counts to match.
fn delta() -> Value {
    let mut m = seed();
    m["kind"] = json!("delta");
    m["delta"] = json!({
        "base_manifest_sha256": "0".repeat(64),
        "base_kind": "full",
        "base_dir": "/base",
        "sequence": 1,
        "start": { "binlog_file": "binlog.000001", "binlog_position": 4 },
        "end": { "binlog_file": "binlog.000001", "binlog_position": 400 },
        "transactions": 1,
        "row_changes": 1,
    });
    let tables = m["tables"].as_array_mut().unwrap();
    let n = tables.len();
    for (i, t) in tables.iter_mut().enumerate() {
        let mut files = t["files"].as_array().unwrap().clone();
        files.truncate(1);
        // The last table has no primary key: no changes for it.
        if i == n - 1 {
            files.clear();
        }
        for f in &mut files {
            f["role"] = json!("upserts");
            f.as_object_mut().unwrap().remove("key_range");
        }
        let rows: u64 = files.iter().map(|f| f["rows"].as_u64().unwrap()).sum();
        let bytes: u64 = files.iter().map(|f| f["bytes"].as_u64().unwrap()).sum();
        t["upserts"] = if files.is_empty() {
            json!(null)
        } else {
            json!(rows)
        };
        t["rows"] = json!(rows);
        t["bytes"] = json!(bytes);
        t["sha256"] = json!(null);
        t["files"] = Value::Array(files);
    }
    let tables = m["tables"].as_array().unwrap();
    let sum = |f: &dyn Fn(&Value) -> u64| -> u64 { tables.iter().map(f).sum() };
    let totals = json!({
        "files": sum(&|t| t["files"].as_array().unwrap().len() as u64),
        "rows": sum(&|t| t["rows"].as_u64().unwrap()),
        "bytes": sum(&|t| t["bytes"].as_u64().unwrap()),
    });
    for k in ["files", "rows", "bytes"] {
        m["totals"][k] = totals[k].clone();
    }
    m
}

fn delta_refused(what: &str, edit: impl FnOnce(&mut Value), expected: &[&str]) {
    let mut m = delta();
    edit(&mut m);
    assert_eq!(problems(&m), expected, "{what}");
}

#[test]
fn a_delta_s_own_fields() {
    assert_eq!(problems(&delta()), Vec::<String>::new());
    delta_refused(
        "kind delta without its section",
        |m| m["delta"] = json!(null),
        &["kind: is delta, but the manifest has no delta section"],
    );
    refused(
        "a delta section in a full dump",
        |m| m["delta"] = delta()["delta"].clone(),
        &["delta: is set, but the manifest's kind is full"],
    );
    refused(
        "counts of a delta in a full dump",
        |m| m["tables"][0]["upserts"] = json!(0),
        &["tables[0]: upserts/deletes are counts of a delta, and this is a full dump"],
    );
    refused(
        "a file role in a full dump",
        |m| m["tables"][0]["files"][0]["role"] = json!("upserts"),
        &["tables[0].files[0].role: is set in a full dump"],
    );
    delta_refused(
        "a delta file without a role",
        |m| {
            m["tables"][0]["files"][0]
                .as_object_mut()
                .unwrap()
                .remove("role");
        },
        &[
            "tables[0].files[0].role: is missing (upserts or deletes)",
            "tables[0].upserts: 3, but the table's upserts file holds 0 rows",
        ],
    );
    delta_refused(
        "upserts counted wrong",
        |m| m["tables"][0]["upserts"] = json!(5),
        &["tables[0].upserts: 5, but the table's upserts file holds 3 rows"],
    );
    delta_refused(
        "a key range in a delta",
        |m| {
            m["tables"][1]["files"][0]["key_range"] =
                seed()["tables"][1]["files"][0]["key_range"].clone()
        },
        &["tables[1].files[0].key_range: is set in a delta"],
    );
    delta_refused(
        "changes to a table without a primary key",
        |m| m["tables"][0]["primary_key"] = json!([]),
        &["tables[0].files: table \"account\" has changes but no primary key"],
    );
    delta_refused(
        "a base that is no sha256",
        |m| m["delta"]["base_manifest_sha256"] = json!("G".repeat(64)),
        &[&format!(
            "delta.base_manifest_sha256: \"{}\" is not a lowercase hex SHA-256",
            "G".repeat(64)
        )],
    );
    delta_refused(
        "sequence 0",
        |m| m["delta"]["sequence"] = json!(0),
        &["delta.sequence: 0; the first delta after a full dump is 1"],
    );
}
