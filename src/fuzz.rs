//! A bounded fuzz harness (stable Rust, no libFuzzer): no manifest and no CSV file may
//! make waybill panic. It mutates a real manifest (`tests/fixtures/fuzz_seed_manifest.json`,
//! exported from MariaDB with every encoding, defaults, keys, indexes, chunks and a
//! view) structurally, as JSON values (names swapped for other names, numbers pushed
//! to their limits, strings replaced by hostile text, arrays and objects reshaped),
//! and sometimes byte by byte; each result goes through everything the import does
//! with a manifest before touching a database: parsing, validation and the
//! `--create-schema` DDL plan. CSV bytes built from a real dump file and from
//! hostile tokens go through the header read and the error preview.
//!
//! It runs for `WAYBILL_FUZZ_SECS` seconds per target (default 3; CI sets 60), from
//! `WAYBILL_FUZZ_SEED` (default: the clock; printed). A panic is caught, the input is
//! saved under `target/fuzz-failures/`, and the test fails naming it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::dump::csv::{field_preview, read_header};
use crate::dump::manifest::Manifest;
use crate::target::ddl::{self, SchemaOptions};
use crate::target::expr::{self, ColumnInfo, Purpose};
use crate::target::names::{self, IdentifierStyle, NameOptions, Renames};
use crate::target::typemap::{CastRules, Dialect};

const SEED_MANIFEST: &str = include_str!("../tests/fixtures/fuzz_seed_manifest.json");
const SEED_CSV: &[u8] = include_bytes!("../tests/fixtures/fuzz_seed.csv");

/// splitmix64: small, fast, reproducible from one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn budget() -> Duration {
    let secs = std::env::var("WAYBILL_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(secs.max(0.0))
}

fn seed() -> u64 {
    std::env::var("WAYBILL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Runs `case` on generated inputs until the budget is spent; a panic saves the input
/// and fails. `case` says whether the input got past validation. Returns how many
/// cases ran, and how many got past validation.
fn fuzz(
    target: &str,
    generate: impl Fn(&mut Rng) -> Vec<u8>,
    case: impl Fn(&[u8]) -> bool,
) -> (u64, u64) {
    let seed = seed();
    let mut rng = Rng(seed);
    let deadline = Instant::now() + budget();
    let (mut n, mut deep) = (0u64, 0u64);
    loop {
        let input = generate(&mut rng);
        match catch_unwind(AssertUnwindSafe(|| case(&input))) {
            Ok(true) => deep += 1,
            Ok(false) => {}
            Err(_) => {
                let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("{target}-{seed}-{n}"));
                let _ = std::fs::write(&file, &input);
                panic!(
                    "fuzz target {target} panicked on case {n} (WAYBILL_FUZZ_SEED={seed}); \
                     input saved in {}",
                    file.display()
                );
            }
        }
        n += 1;
        if Instant::now() >= deadline {
            eprintln!(
                "fuzz {target}: {n} cases ({deep} past validation), WAYBILL_FUZZ_SEED={seed}"
            );
            return (n, deep);
        }
    }
}

/// Hostile and boundary strings, and names and words the manifest uses (so that
/// references, duplicates and valid-but-odd combinations come up often).
const STRINGS: &[&str] = &[
    "",
    " ",
    "é",
    "abcdé12345",
    "😀😀😀😀😀😀😀😀😀😀😀",
    "\u{1b}[2J\u{1b}]0;x\u{7}",
    "a\nb\r\n* * * * * root x",
    "\0",
    "a\0b",
    "\u{202e}evil",
    "../x.csv",
    "/etc/passwd",
    "x.csv",
    "account.csv",
    "ledger.0001.csv",
    ".hidden.csv",
    "migration_manifest.json",
    "0000-00-00",
    "0000-00-00 00:00:00",
    "2024-13-45 99:99:99.1234567",
    "2024-01-01",
    "2024-01-01 10:00:00.5",
    "b'0'",
    "b'0'||x'",
    "b''",
    "b'2'",
    "b'",
    "99999999999999999999999999999999999999",
    "-1",
    "1e309",
    "NaN",
    "inf",
    "-0.0",
    ".5",
    "1.",
    "x,y",
    "x,,y",
    "'",
    "\"",
    "''''",
    "\\",
    "current_timestamp(6)",
    "uuid()",
    "CURRENT_TIMESTAMP",
    "now(",
    "(",
    "account",
    "ledger",
    "line",
    "id",
    "parent_id",
    "account_id",
    "ledger_id",
    "n",
    "balance",
    "tags",
    "flags",
    "PRIMARY",
    "BTREE",
    "FULLTEXT",
    "SPATIAL",
    "HASH",
    "btree",
    "CASCADE",
    "SET NULL",
    "SET DEFAULT",
    "NO ACTION",
    "RESTRICT",
    "DROP TABLE x",
    "text",
    "uuid_text",
    "integer",
    "boolean_int",
    "decimal",
    "float",
    "double",
    "bit_string",
    "year",
    "date",
    "datetime",
    "timestamp_utc",
    "time_text",
    "enum_text",
    "set_text",
    "json_text",
    "bytea_hex",
    "geometry_ewkt",
    "int",
    "bigint",
    "tinyint",
    "smallint",
    "mediumint",
    "bit",
    "char",
    "varchar",
    "set",
    "enum",
    "decimal(65,30)",
    "tinyint(1)",
    "bigint(20) unsigned",
    "int unsigned",
    "waybill-dump",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
];

fn number(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => json!(0),
        1 => json!(1),
        2 => json!(-1),
        3 => json!(2),
        4 => json!(6),
        5 => json!(7),
        6 => json!(30),
        7 => json!(64),
        8 => json!(65),
        9 => json!(4_000_000_000u64),
        10 => json!(u64::MAX),
        11 => json!(i64::MAX),
        12 => json!(u64::from(u32::MAX) + 1),
        13 => json!(1.5),
        14 => json!(2147483647),
        _ => json!(rng.below(200)),
    }
}

fn long_string(rng: &mut Rng) -> String {
    let unit = rng.pick(&["a", "é", "😀", "\u{1b}", ",", "%2F"]);
    unit.repeat(1 + rng.below(300))
}

fn any_value(rng: &mut Rng, like: &Value) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 | 3 => number(rng),
        4 => json!(long_string(rng)),
        5 => json!([]),
        6 => json!({}),
        7 => json!({"literal": rng.pick(STRINGS)}),
        8 => json!({"expression": rng.pick(STRINGS)}),
        _ => match like {
            Value::String(_) => json!(rng.pick(STRINGS)),
            Value::Number(_) => number(rng),
            other => other.clone(),
        },
    }
}

/// Every path (as indices and keys) to a node of `v`.
fn paths(v: &Value, prefix: &mut Vec<Key>, out: &mut Vec<Vec<Key>>) {
    out.push(prefix.clone());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                prefix.push(Key::Index(i));
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                prefix.push(Key::Field(k.clone()));
                paths(x, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Key {
    Index(usize),
    Field(String),
}

fn node<'a>(v: &'a mut Value, path: &[Key]) -> Option<&'a mut Value> {
    let mut cur = v;
    for k in path {
        cur = match (k, cur) {
            (Key::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            (Key::Field(f), Value::Object(o)) => o.get_mut(f)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// One structural mutation somewhere in `m`, at one of `all` (the seed's paths: after
/// earlier mutations some no longer lead anywhere, and are skipped).
fn mutate(rng: &mut Rng, m: &mut Value, all: &[Vec<Key>], focus: &[Vec<Key>]) {
    let from = if rng.chance(70) { focus } else { all };
    let path: &Vec<Key> = rng.pick(from);
    // A value from elsewhere in the manifest, to copy in.
    let from: &Vec<Key> = rng.pick(all);
    let donor = node(m, from).map(|v| v.clone()).unwrap_or(Value::Null);
    let Some(target) = node(m, path) else {
        return;
    };
    match target {
        Value::String(s) => {
            *s = match rng.below(4) {
                0 => long_string(rng),
                1 => format!("{s}{}", rng.pick(STRINGS)),
                _ => rng.pick(STRINGS).to_string(),
            }
        }
        Value::Number(_) => *target = number(rng),
        Value::Array(a) if !a.is_empty() => match rng.below(6) {
            0 => {
                a.remove(rng.below(a.len()));
            }
            1 => {
                let x = a[rng.below(a.len())].clone();
                a.push(x);
            }
            2 => {
                let (i, j) = (rng.below(a.len()), rng.below(a.len()));
                a.swap(i, j);
            }
            3 => a.clear(),
            4 => a.push(donor),
            _ => *target = any_value(rng, &Value::Null),
        },
        Value::Object(o) if !o.is_empty() => {
            let keys: Vec<String> = o.keys().cloned().collect();
            let k = rng.pick(&keys).clone();
            match rng.below(4) {
                0 => {
                    o.remove(&k);
                }
                1 => {
                    o.insert(k, donor);
                }
                2 => {
                    let v = any_value(rng, &o[&k]);
                    o.insert(k, v);
                }
                _ => {
                    o.insert(rng.pick(STRINGS).to_string(), donor);
                }
            }
        }
        other => *other = any_value(rng, other),
    }
}

fn mutate_bytes(rng: &mut Rng, b: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            b.push(b'{');
        }
        let i = rng.below(b.len());
        match rng.below(4) {
            0 => b[i] = rng.next() as u8,
            1 => {
                b.remove(i);
            }
            2 => b.insert(i, *rng.pick(b"{}[]\",:0-9e\\\xc3\xff")),
            _ => b.truncate(i),
        }
    }
}

/// Everything the import does with a manifest before a database: parse, validate,
/// and plan the `--create-schema` DDL (all tables, and a subset, with and without
/// the options that change names and types).
fn manifest_case(bytes: &[u8]) -> bool {
    let Ok(m) = Manifest::parse(bytes) else {
        return false;
    };
    let all: Vec<_> = m.tables.iter().collect();
    let casts = CastRules::parse(&[
        "tinyint(1)=smallint".into(),
        "account.tags=text[]".into(),
        "ledger.id=bigint".into(),
        "datetime=timestamptz".into(),
    ])
    .expect("valid rules");
    for opts in [
        SchemaOptions::default(),
        SchemaOptions {
            casts,
            drop_existing: true,
            ..SchemaOptions::default()
        },
    ] {
        for style in [
            IdentifierStyle::Exact,
            IdentifierStyle::Lower,
            IdentifierStyle::SnakeCase,
        ] {
            let names = NameOptions {
                style,
                renames: Renames::default(),
            };
            let subset = &all[..all.len().min(1)];
            // Every dialect, whatever the manifest claims: a crafted dump picks its engine.
            for dialect in [Dialect::MySql, Dialect::Sqlite] {
                if let Ok(named) = names::new_names(&all, &all, &names) {
                    let _ = ddl::plan("public", dialect, &named, &opts, style);
                }
                if let Ok(named) = names::new_names(&all, subset, &names) {
                    let _ = ddl::plan("s", dialect, &named, &opts, style);
                }
            }
        }
    }
    for t in &m.tables {
        let _ = t.nulled_values();
    }
    true
}

#[test]
fn no_manifest_makes_the_import_panic() {
    let seed: Value = serde_json::from_str(SEED_MANIFEST).expect("the seed parses");
    Manifest::parse(SEED_MANIFEST.as_bytes()).expect("the seed manifest is valid");
    let mut all = Vec::new();
    paths(&seed, &mut Vec::new(), &mut all);
    // Most mutations go where the import draws conclusions: names, keys, references,
    // defaults, types, numbers and files.
    const FOCUS: &[&str] = &[
        "name",
        "default",
        "literal",
        "expression",
        "encoding",
        "data_type",
        "precision",
        "scale",
        "datetime_precision",
        "max_length",
        "values",
        "primary_key",
        "auto_increment",
        "foreign_keys",
        "referenced_table",
        "referenced_columns",
        "indexes",
        "prefix",
        "kind",
        "files",
        "path",
        "rows",
        "bytes",
        "nulls",
        "unique",
        "checks",
        "clause",
        "generated",
        "on_update",
        "stored",
        "collation",
        "charset",
    ];
    let focus: Vec<Vec<Key>> = all
        .iter()
        .filter(|p| p.len() >= 3)
        .filter(|p| {
            p.iter()
                .rev()
                .take(2)
                .any(|k| matches!(k, Key::Field(f) if FOCUS.contains(&f.as_str())))
        })
        .cloned()
        .collect();
    let (n, planned) = fuzz(
        "manifest",
        |rng| {
            let mut m = seed.clone();
            for _ in 0..1 + rng.below(6) {
                mutate(rng, &mut m, &all, &focus);
            }
            let mut bytes = serde_json::to_vec(&m).expect("serializes");
            if rng.chance(15) {
                mutate_bytes(rng, &mut bytes);
            }
            bytes
        },
        manifest_case,
    );
    // The mutations must not be so wild that nothing reaches the DDL plan.
    assert!(
        n < 200 || planned > 0,
        "{planned} of {n} reached the DDL plan"
    );
}

/// Pieces of MySQL expressions (both servers' spellings) and hostile text.
const EXPR_TOKENS: &[&str] = &[
    "`a`",
    "`b`",
    "`t`",
    "`j`",
    "`a``b`",
    "a",
    "(",
    ")",
    "((",
    "))",
    ",",
    " ",
    "\\",
    "\\'",
    "'",
    "''",
    "'x'",
    "_utf8mb4'x'",
    "_utf8mb4\\'x\\'",
    "_binary'x'",
    "x'41'",
    "0x41",
    "b'1'",
    "N'x'",
    "\"x\"",
    "1",
    "-1",
    "1.5",
    ".5",
    "1e3",
    "99999999999999999999",
    "NULL",
    "TRUE",
    "and",
    "or",
    "not",
    "!",
    "xor",
    "&&",
    "||",
    "=",
    "<>",
    "!=",
    "<",
    ">=",
    "<=>",
    "+",
    "-",
    "*",
    "/",
    "%",
    "DIV",
    "MOD",
    "&",
    "|",
    "^",
    "~",
    "<<",
    "between",
    "in",
    "is",
    "null",
    "like",
    "escape",
    "regexp",
    "rlike",
    "case",
    "when",
    "then",
    "else",
    "end",
    "if(",
    "concat(",
    "concat_ws(",
    "coalesce(",
    "ifnull(",
    "json_valid(",
    "char_length(",
    "length(",
    "lower(",
    "ucase(",
    "round(",
    "abs(",
    "substring(",
    "substr(",
    " from ",
    " for ",
    "trim(",
    "both",
    "leading",
    "regexp_like(",
    "cast(",
    " as ",
    "char",
    "interval",
    "day",
    "select",
    "DATE'2020-01-01'",
    "TIME'10:00:00'",
    "current_timestamp()",
    "collate",
    "binary",
    ".",
    ";",
    "--",
    "/*",
    "#",
    "$$",
    "\u{1b}[2J",
    "\0",
    "\n",
    "é",
    "😀",
    "\u{202e}",
];

/// Clauses the translator takes (MariaDB's and MySQL 8's spellings).
const EXPR_SEEDS: &[&str] = &[
    "`a` > 0 and `b` between 1 and 2 or `t` in ('x','y')",
    "(`a` % 2 = 0) and (`a` div 2 < 5) and `b` / `a` <= 10",
    "`t` is not null and char_length(`t`) >= 2 and `t` like 'a%' escape '!'",
    "`t` regexp '^[a-z]+$' and ucase(`t`) <> lcase(`t`)",
    "coalesce(`a`, 0) + ifnull(`b`, 1) * 2 >= -5.5",
    "json_valid(`j`) and `a` <=> `a`",
    "if(`a` > 0, 1, 0) + case when `a` > 1 then 2 else 3 end > 0",
    "concat(`t`, ' ', `a`) <> '' and concat_ws(',', `t`, `b`) <> ''",
    "round(`b`, 1) > abs(`a`) and substr(`t`, 1, 2) = trim(`t`)",
    "(`a` > -(5))",
    "(`t` in (_utf8mb4\\'a\\',_utf8mb4\\'it\\\\\\'s\\'))",
    "regexp_like(`t`,_utf8mb4\\'^x\\')",
    "`a``b` = 1 and not `a``b`",
    "`a` * `b`",
];

/// Everything the translator does with a CHECK clause or generation expression.
fn expression_case(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let columns = |name: &str| -> Option<ColumnInfo> {
        let (pg_type, generated) = match name.to_ascii_lowercase().as_str() {
            "a" => ("integer", false),
            "b" => ("numeric(10,2)", false),
            "t" => ("varchar(20)", false),
            "j" => ("jsonb", false),
            "a`b" => ("boolean", false),
            "g" => ("integer", true),
            _ => return None,
        };
        Some(ColumnInfo {
            target: name.to_string(),
            pg_type: pg_type.into(),
            charset: Some("utf8mb4".into()),
            collation: Some("utf8mb4_general_ci".into()),
            generated,
        })
    };
    let mut translated = false;
    for purpose in [
        Purpose::Check,
        Purpose::Generated { pg_type: "integer" },
        Purpose::Generated { pg_type: "text" },
    ] {
        if let expr::Outcome::Translated { sql, .. } =
            expr::translate(Dialect::MySql, &text, purpose, &columns)
        {
            // Nothing but what the printer writes: never a statement separator or a
            // comment outside a literal.
            assert!(!sql.contains(';') || sql.contains('\''), "{sql}");
            translated = true;
        }
    }
    translated
}

#[test]
fn no_expression_makes_the_translator_panic() {
    let (n, translated) = fuzz(
        "expression",
        |rng| {
            // Half the time, a clause the translator takes, with a few tokens changed,
            // so the printer and its type rules are reached often.
            let mut s = if rng.chance(50) {
                rng.pick(EXPR_SEEDS).to_string()
            } else {
                String::new()
            };
            for _ in 0..rng.below(4) {
                if s.is_empty() {
                    break;
                }
                let mut at = rng.below(s.len());
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                let token: &&str = rng.pick(EXPR_TOKENS);
                s.insert_str(at, token);
            }
            for _ in 0..rng.below(if s.is_empty() { 40 } else { 3 }) {
                let token: &&str = rng.pick(EXPR_TOKENS);
                s.push_str(token);
                if rng.chance(60) {
                    s.push(' ');
                }
            }
            if rng.chance(3) {
                // Deep nesting.
                let depth = rng.below(5000);
                s = format!("{}{s}{}", "(".repeat(depth), ")".repeat(depth));
            }
            s.into_bytes()
        },
        expression_case,
    );
    assert!(
        n < 200 || translated > 0,
        "{translated} of {n} translated: the generator should reach the printer"
    );
}

const CSV_TOKENS: &[&[u8]] = &[
    b",",
    b"\"",
    b"\"\"",
    b"\n",
    b"\r",
    b"\r\n",
    b"\\N",
    b"\\.",
    b"a",
    b"id",
    b"\xc3\xa9",
    b"\xc3",
    b"\xff",
    b"\xf0\x9f\x98\x80",
    b"\x1b[2J",
    b"\0",
    b" ",
    b"1",
];

#[test]
fn no_csv_file_makes_the_import_panic() {
    let (n, _) = fuzz(
        "csv",
        |rng| {
            let mut b = if rng.chance(50) {
                SEED_CSV.to_vec()
            } else {
                Vec::new()
            };
            for _ in 0..rng.below(200) {
                let at = rng.below(b.len() + 1);
                let token = rng.pick(CSV_TOKENS);
                b.splice(at..at, token.iter().copied());
            }
            if rng.chance(30) {
                mutate_bytes(rng, &mut b);
            }
            if rng.chance(5) {
                b.extend(std::iter::repeat_n(b'x', 70_000));
            }
            b
        },
        |b| {
            let header = read_header(b).is_ok();
            for record in [0, 1, 2, 3, 7, u64::MAX] {
                for col in [0, 1, 5, 23, usize::MAX] {
                    let _ = field_preview(b, record, col);
                }
            }
            header
        },
    );
    assert!(n > 0);
}
