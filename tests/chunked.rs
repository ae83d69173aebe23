//! Large tables split into primary-key chunks: any orderable key (UUID strings,
//! composite keys, binary, case-insensitive text), tables without a key in one file, and
//! the chunks together holding every row exactly once.

mod common;

use common::*;
use mysql::prelude::Queryable;

fn source() -> MyDb {
    let db = MyDb::new("chunks");
    db.exec(&[
        "CREATE TABLE uuid_keyed (id CHAR(36) PRIMARY KEY, n INT, payload VARCHAR(100))",
        "INSERT INTO uuid_keyed SELECT UUID(), seq, REPEAT('p', seq % 90) FROM seq_1_to_5000",
        "CREATE TABLE composite (a INT, b VARCHAR(20), c DATETIME, PRIMARY KEY (a, b))",
        "INSERT INTO composite SELECT seq % 7, CONCAT('k', seq), '2024-01-01' + INTERVAL seq MINUTE FROM seq_1_to_5000",
        "CREATE TABLE bin_keyed (id BINARY(16) PRIMARY KEY, v INT)",
        "INSERT INTO bin_keyed SELECT UNHEX(MD5(seq)), seq FROM seq_1_to_3000",
        "CREATE TABLE words (w VARCHAR(40) COLLATE utf8mb4_general_ci PRIMARY KEY, n INT)",
        "INSERT INTO words SELECT CONCAT(ELT(1 + seq % 6, 'a', 'B', 'c', 'É', 'e', 'Z'), seq), seq FROM seq_1_to_4000",
        "CREATE TABLE int_keyed (id BIGINT UNSIGNED PRIMARY KEY, v INT)",
        "INSERT INTO int_keyed SELECT seq * seq, seq FROM seq_1_to_4000",
        "CREATE TABLE keyless (x INT, y TEXT)",
        "INSERT INTO keyless SELECT seq % 10, CONCAT('row ', seq) FROM seq_1_to_3000",
        "ANALYZE TABLE uuid_keyed, composite, bin_keyed, words, int_keyed, keyless",
    ]);
    db
}

const TARGET: &str = "
    CREATE TABLE uuid_keyed (id uuid PRIMARY KEY, n int, payload text);
    CREATE TABLE composite (a int, b text, c timestamptz, PRIMARY KEY (a, b));
    CREATE TABLE bin_keyed (id bytea PRIMARY KEY, v int);
    CREATE TABLE words (w text PRIMARY KEY, n int);
    CREATE TABLE int_keyed (id numeric(20) PRIMARY KEY, v int);
    CREATE TABLE keyless (x int, y text);
";

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The target, in a database whose default time zone is not UTC: a DATETIME loaded
/// into `timestamptz` keeps its value only if the loading session uses UTC.
fn target(tag: &str) -> PgDb {
    let pg = PgDb::new(tag);
    pg.exec(TARGET);
    pg.exec(&format!(
        "ALTER DATABASE \"{}\" SET timezone = 'Asia/Kolkata'",
        pg.name
    ));
    pg
}

/// Each table as `(name, MySQL expression, PostgreSQL expression)` for one row as text.
const ROWS: &[(&str, &str, &str)] = &[
    (
        "uuid_keyed",
        "CONCAT_WS('|', id, n, payload)",
        "concat_ws('|', id, n, payload)",
    ),
    (
        "composite",
        "CONCAT_WS('|', a, b, c)",
        "concat_ws('|', a, b, to_char(c AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))",
    ),
    (
        "bin_keyed",
        "CONCAT_WS('|', LOWER(HEX(id)), v)",
        "concat_ws('|', encode(id, 'hex'), v)",
    ),
    ("words", "CONCAT_WS('|', w, n)", "concat_ws('|', w, n)"),
    (
        "int_keyed",
        "CONCAT_WS('|', id, v)",
        "concat_ws('|', id, v)",
    ),
    ("keyless", "CONCAT_WS('|', x, y)", "concat_ws('|', x, y)"),
];

/// Table `t` in PostgreSQL holds exactly the source's rows, value for value.
fn assert_same_rows(db: &MyDb, pg: &PgDb, t: &str) {
    let (_, my_expr, pg_expr) = ROWS.iter().find(|r| r.0 == t).unwrap();
    let mine: Vec<String> = db
        .conn()
        .query(format!("SELECT {my_expr} FROM `{t}`"))
        .unwrap();
    let theirs: Vec<String> = pg
        .client()
        .query(&format!("SELECT {pg_expr} FROM {t}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!mine.is_empty(), "{t}");
    let (mine, theirs) = (sorted(mine), sorted(theirs));
    if mine != theirs {
        let only = |a: &[String], b: &[String]| -> Vec<String> {
            a.iter()
                .filter(|r| b.binary_search(r).is_err())
                .take(3)
                .cloned()
                .collect()
        };
        panic!(
            "{t}: {} rows in MariaDB, {} in PostgreSQL; only in MariaDB: {:?}; only in PostgreSQL: {:?}",
            mine.len(),
            theirs.len(),
            only(&mine, &theirs),
            only(&theirs, &mine)
        );
    }
}

#[test]
fn chunks_cover_every_row_exactly_once() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &["--chunk-rows", "700", "--jobs", "3"]);
    let m = manifest(&dump);
    let mut c = db.conn();
    for t in m["tables"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let files = t["files"].as_array().unwrap();
        let count: u64 = c
            .query_first(format!("SELECT COUNT(*) FROM `{name}`"))
            .unwrap()
            .unwrap();
        assert_eq!(t["rows"].as_u64(), Some(count), "{name}");
        let sum: u64 = files.iter().map(|f| f["rows"].as_u64().unwrap()).sum();
        assert_eq!(sum, count, "{name}: chunk rows add up");
        if name == "keyless" {
            assert_eq!(files.len(), 1, "no key: one file");
            assert!(files[0].get("key_range").is_none());
            assert_eq!(files[0]["path"], "keyless.csv");
            continue;
        }
        assert!(
            files.len() >= 4,
            "{name} split into chunks: {}",
            files.len()
        );
        assert!(
            t.get("sha256").is_none(),
            "chunked tables carry sha256 per file"
        );
        for (i, f) in files.iter().enumerate() {
            assert_eq!(f["path"], format!("{name}.{:04}.csv", i + 1));
            let text = std::fs::read_to_string(dump.join(f["path"].as_str().unwrap())).unwrap();
            assert!(text.starts_with(&format!(
                    "{}\n",
                    t["columns"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["name"].as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join(",")
                )));
            let range = &f["key_range"];
            assert_eq!(range["lower"].is_null(), i == 0, "{name} chunk {i}");
            assert_eq!(
                range["upper"].is_null(),
                i + 1 == files.len(),
                "{name} chunk {i}"
            );
            if i > 0 {
                assert_eq!(
                    range["lower"],
                    files[i - 1]["key_range"]["upper"],
                    "{name}: ranges meet"
                );
            }
        }
    }
    assert_eq!(
        table(&m, "composite")["files"][1]["key_range"]["columns"],
        serde_json::json!(["a", "b"])
    );

    // Loaded into PostgreSQL, each table holds exactly the source rows.
    let pg = target("chunks");
    work.import(&pg, &dump, &[]).ok();
    for (t, _, _) in ROWS {
        assert_same_rows(&db, &pg, t);
    }
}

#[test]
fn parallel_import_commits_per_table() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &["--chunk-rows", "1000"]);
    let pg = target("jobs");
    let ran = work
        .import(&pg, &dump, &["--commit", "per-table", "--jobs", "3"])
        .ok();
    assert!(
        ran.stderr.contains("each table commits on its own"),
        "{}",
        ran.stderr
    );
    for (t, n) in [
        ("uuid_keyed", 5000),
        ("composite", 5000),
        ("bin_keyed", 3000),
        ("words", 4000),
        ("int_keyed", 4000),
        ("keyless", 3000),
    ] {
        assert_eq!(pg.count(t), n, "{t}");
        assert_same_rows(&db, &pg, t);
    }
    // A table that fails rolls back alone; the others stay committed, and it says so.
    pg.exec("ALTER TABLE words ADD CONSTRAINT short CHECK (length(w) < 3) NOT VALID");
    let ran = work
        .import(&pg, &dump, &["--commit", "per-table", "--jobs", "2"])
        .failed();
    assert!(
        ran.stderr.contains("table `words`") && ran.stderr.contains("rolled back"),
        "{}",
        ran.stderr
    );
    let committed: Vec<&str> = ran
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("committed: "))
        .and_then(|l| l.strip_suffix(" (--commit per-table commits each table on its own)"))
        .unwrap_or_else(|| panic!("no list of committed tables: {}", ran.stderr))
        .split(", ")
        .filter(|t| *t != "none")
        .collect();
    assert!(!committed.contains(&"words"), "{committed:?}");
    assert_eq!(
        pg.count("words"),
        0,
        "the failed table is empty: truncated first, its load rolled back"
    );
    // What committed holds the dump's values; what never started was emptied.
    for (t, _, _) in ROWS.iter().filter(|r| r.0 != "words") {
        if committed.contains(t) {
            assert_same_rows(&db, &pg, t);
        } else {
            assert_eq!(pg.count(t), 0, "{t} never started");
        }
    }
}

/// All or nothing holds for chunked, compressed dumps in either COPY format: a row the
/// target refuses in the very last chunk of a table rolls back every table and every
/// earlier chunk, and the error names that chunk's file and CSV record.
#[test]
fn a_rejected_row_in_the_last_chunk_leaves_the_target_unchanged() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &["--chunk-rows", "1000", "--compress", "zstd"]);
    let m = manifest(&dump);
    let files = table(&m, "int_keyed")["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    let last = files[3]["path"].as_str().unwrap();
    assert!(last.ends_with(".csv.zst"), "{last}");
    // The source's last row is the last record of the last chunk.
    let record = files[3]["rows"].as_u64().unwrap() + 1;
    let pg = PgDb::new("lastchunk");
    pg.exec(TARGET);
    work.import(&pg, &dump, &[]).ok();
    let snapshot = |pg: &PgDb| {
        [
            "SELECT count(*)::text || md5(string_agg(id::text || ':' || v, ',' ORDER BY id)) FROM int_keyed",
            "SELECT count(*)::text || md5(string_agg(w || ':' || n, ',' ORDER BY w)) FROM words",
            "SELECT count(*)::text FROM uuid_keyed",
            "SELECT count(*)::text FROM keyless",
        ]
        .map(|q| pg.text(q))
    };
    // Different data in the target, then a CHECK only the source's last row breaks.
    pg.exec(
        "DELETE FROM int_keyed WHERE v > 10; DELETE FROM words WHERE n % 2 = 0; \
         ALTER TABLE int_keyed ADD CONSTRAINT below_last CHECK (v < 4000)",
    );
    let before = snapshot(&pg);
    assert_eq!(before[0].as_deref().map(|s| &s[..2]), Some("10"));
    for format in ["binary", "text"] {
        let ran = work.import(&pg, &dump, &["--copy-format", format]).failed();
        assert!(
            ran.stderr.contains(&format!(
                "loading table `int_keyed` from {last} failed: new row for relation \"int_keyed\" \
                 violates check constraint \"below_last\""
            )),
            "{format}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains(&format!(
                "at CSV record {record} of {last} (the header is record 1)"
            )),
            "{format}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("nothing was committed"),
            "{}",
            ran.stderr
        );
        assert_eq!(snapshot(&pg), before, "{format}: the target is unchanged");
    }
}
