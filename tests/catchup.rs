//! Catch-up against the real MariaDB (binary log in ROW format) and PostgreSQL: a full
//! export and import, then writes (inserts, updates, a primary-key change, deletes, a
//! rolled-back transaction, writes to a table outside the filter and to a table without a
//! primary key, rows with every type the full export handles), `waybill-export --since`,
//! `waybill-import DELTA`, every value compared with SQL on both sides; a second round on
//! top of the first; and each refusal: a delta applied twice, out of order, onto the
//! wrong base or onto a target waybill never loaded, DDL and statement-logged changes in
//! the range, a purged base position, an account without replication privileges.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use mysql::prelude::Queryable;

const TYPES: &str = "CREATE TABLE types (
    id INT PRIMARY KEY,
    u36 CHAR(36) NULL,
    bin BINARY(4) NULL, vbin VARBINARY(10) NULL, tb TINYBLOB NULL, bl BLOB NULL,
    mb MEDIUMBLOB NULL, lb LONGBLOB NULL,
    d DATE NULL, dt DATETIME(6) NULL, ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME NULL,
    tm2 TIME(2) NULL, y YEAR NULL,
    dec1 DECIMAL(30,10) NULL, dec2 DECIMAL(5,0) NULL, ub BIGINT UNSIGNED NULL, sb BIGINT NULL,
    ii INT UNSIGNED NULL, mi MEDIUMINT NULL, mu MEDIUMINT UNSIGNED NULL, si SMALLINT NULL,
    ti TINYINT UNSIGNED NULL, flag TINYINT(1) NULL,
    b5 BIT(5) NULL, b1 BIT(1) NULL, b12 BIT(12) NULL,
    e ENUM('a','b,c','it''s') NULL, s SET('x','y','z') NULL, j JSON NULL,
    g GEOMETRY NULL, pt POINT NULL,
    f FLOAT NULL, dbl DOUBLE NULL, txt TEXT NULL, vc VARCHAR(300) NULL, ch CHAR(100) NULL,
    lat VARCHAR(20) CHARACTER SET latin1 NULL, l2 VARCHAR(20) CHARACTER SET latin2 NULL,
    a7 VARCHAR(10) CHARACTER SET ascii NULL, w1250 VARCHAR(10) CHARACTER SET cp1250 NULL,
    uu UUID NULL, ip INET6 NULL, gen BIGINT AS (id * 2) VIRTUAL
)";

/// Column list of `types` without the virtual column (it cannot be inserted into).
const COLS: &str = "id, u36, bin, vbin, tb, bl, mb, lb, d, dt, ts, tm, tm2, y, dec1, dec2, ub, sb, \
                    ii, mi, mu, si, ti, flag, b5, b1, b12, e, s, j, g, pt, f, dbl, txt, vc, ch, \
                    lat, l2, a7, w1250, uu, ip";

/// A row of `types` with every column set; `i` varies the values.
fn full_row(i: u32) -> String {
    format!(
        "({i}, '0b5f6d39-2a4e-4c41-9a77-1e0d8a1c2b{i:02x}', X'00FF10{i:02X}', X'DEAD{i:02X}', X'01', \
         X'0203{i:02X}', X'', X'0000000000', '2024-02-29', '2024-01-02 03:04:05.{i:06}', \
         '2024-03-10 12:00:00.250', '838:59:59', '-12:30:00.5', 2024, \
         '12345678901234567890.0123456789', -99999, 18446744073709551615, -9223372036854775808, \
         4294967295, -8388608, 16777215, -32768, 255, 1, b'00101', b'1', b'101010101010', \
         'b,c', 'x,z', '{{\"k\": [1, \"two\", null], \"n\": {i}}}', \
         ST_GeomFromText('POINT(1.5 2.25)', 4326), ST_GeomFromText('POINT(-71.064544 42.28787)'), \
         3.14159274, 0.30000000000000004, 'plain \"q\", ''s'', \\\\ back', REPEAT('v', 300), 'ch{i}', \
         'café €', 'Łódź', 'abc?', 'Žluť', '6ccd780c-baba-1026-9564-5b8c656024{i:02x}', \
         '::ffff:1.2.3.{i}')"
    )
}

/// Rows with awkward values: zero dates, empty UUIDs, extremes, NULLs.
fn awkward_rows(base: u32) -> Vec<String> {
    vec![
        format!(
            "INSERT INTO types ({COLS}) VALUES ({}, '', X'00000000', X'', NULL, NULL, NULL, NULL, \
             '0000-00-00', '2024-00-10 00:00:00', '0000-00-00 00:00:00', '-838:59:59', '00:00:00.01', 0, \
             '-0.0000000001', 0, 0, 9223372036854775807, 0, 8388607, 0, 32767, 0, 0, b'00000', b'0', \
             b'000000000000', 'a', '', '[]', ST_GeomFromText('LINESTRING(0 0, 1 1, 2 3.5)'), NULL, \
             123456792, 5e-324, '', '', '', '', '', X'41C3A942', X'81', \
             '00000000-0000-0000-0000-000000000000', '::1')",
            base
        ),
        format!(
            "INSERT INTO types ({COLS}) VALUES ({}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
             '0009-05-01', '0009-05-01 12:00:00', '2038-01-19 03:14:07.999', NULL, NULL, 1901, \
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
             'it''s', 'x,y,z', 'null', NULL, NULL, -1.5e-7, 1e20, 'l1\\nl2\\r\\tend, \\\\N', \
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            base + 1
        ),
        format!(
            "INSERT INTO types (id, dbl, f, txt) VALUES ({}, 100, -0.5, '\\\\N'), ({}, 1234567890123456.8, 1e10, 'emoji \u{1F600}'), \
             ({}, 0.0001, 3.4028235e38, 'NULL')",
            base + 2,
            base + 3,
            base + 4
        ),
    ]
}

fn source() -> MyDb {
    let db = MyDb::new("catchup");
    db.exec(&[
        TYPES,
        "CREATE TABLE account (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL, \
         balance DECIMAL(12,2) NOT NULL DEFAULT 0)",
        "CREATE TABLE line (account_id INT NOT NULL, n INT NOT NULL, note VARCHAR(20), \
         PRIMARY KEY (account_id, n))",
        "CREATE TABLE outside (id INT PRIMARY KEY, v VARCHAR(10))",
        "CREATE TABLE nokey (v VARCHAR(10))",
        "SET time_zone = '+05:00'",
        &format!("INSERT INTO types ({COLS}) VALUES {}, {}, {}", full_row(1), full_row(2), full_row(3)),
        "INSERT INTO account (name, balance) VALUES ('ann', 10), ('bob', 20), ('cyd', 30), ('dan', 40)",
        "INSERT INTO line VALUES (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c')",
        "INSERT INTO outside VALUES (1, 'x')",
        "INSERT INTO nokey VALUES ('a')",
    ]);
    db
}

fn target() -> PgDb {
    PgDb::new("catchup")
}

/// `waybill-export --since BASE` into `<work>/out`; the delta directory.
fn catch_up(work: &Work, db: &MyDb, base: &Path) -> PathBuf {
    let ran = work
        .run(
            "waybill-export",
            &[
                "--source",
                &db.url_text(),
                "--out",
                "out",
                "--since",
                base.to_str().unwrap(),
            ],
        )
        .ok();
    PathBuf::from(ran.last_line())
}

fn catch_up_fails(work: &Work, db: &MyDb, base: &Path) -> String {
    let ran = work
        .run(
            "waybill-export",
            &[
                "--source",
                &db.url_text(),
                "--out",
                "out",
                "--since",
                base.to_str().unwrap(),
            ],
        )
        .failed();
    ran.all()
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .split_inclusive('\n')
        .map(String::from)
        .collect()
}

/// The data records of a CSV file (multi-line cells kept together), header dropped.
fn records(path: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for l in lines(path) {
        cur.push_str(&l);
        if cur.matches('"').count().is_multiple_of(2) {
            out.push(std::mem::take(&mut cur));
        }
    }
    out.remove(0);
    out
}

type Rows = Vec<Vec<Option<String>>>;

fn my_rows(db: &MyDb, sql: &str) -> Rows {
    let mut c = db.conn();
    c.query_drop("SET time_zone = '+00:00'").unwrap();
    c.query_iter(sql)
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .map(|r| {
            r.unwrap()
                .unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql::Value::NULL => None,
                    mysql::Value::Bytes(b) => Some(String::from_utf8(b).unwrap()),
                    other => panic!("text protocol gave {other:?}"),
                })
                .collect()
        })
        .collect()
}

fn pg_rows(pg: &PgDb, sql: &str) -> Rows {
    pg.client()
        .query(sql, &[])
        .unwrap_or_else(|e| panic!("{e:?}\n{sql}"))
        .into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<_, Option<String>>(i))
                .collect()
        })
        .collect()
}

/// Every column of `types`, as text both sides agree on.
const TYPES_COMPARE: &[(&str, &str)] = &[
    ("CAST(id AS CHAR)", "id::text"),
    ("NULLIF(u36, '')", "u36::text"),
    ("LOWER(HEX(bin))", "encode(bin, 'hex')"),
    ("LOWER(HEX(vbin))", "encode(vbin, 'hex')"),
    ("LOWER(HEX(tb))", "encode(tb, 'hex')"),
    ("LOWER(HEX(bl))", "encode(bl, 'hex')"),
    ("LOWER(HEX(mb))", "encode(mb, 'hex')"),
    ("LOWER(HEX(lb))", "encode(lb, 'hex')"),
    (
        "IF(YEAR(d) = 0 OR MONTH(d) = 0 OR DAY(d) = 0, NULL, DATE_FORMAT(d, '%Y-%m-%d'))",
        "to_char(d, 'YYYY-MM-DD')",
    ),
    (
        "IF(YEAR(dt) = 0 OR MONTH(dt) = 0 OR DAY(dt) = 0, NULL, DATE_FORMAT(dt, '%Y-%m-%d %H:%i:%s.%f'))",
        "to_char(dt, 'YYYY-MM-DD HH24:MI:SS.US')",
    ),
    (
        "IF(ts = '0000-00-00 00:00:00', NULL, CAST(UNIX_TIMESTAMP(ts) AS CHAR))",
        "extract(epoch FROM ts)::numeric(20,3)::text",
    ),
    ("CAST(tm AS CHAR)", "tm::text"),
    (
        "CAST(TIME_TO_SEC(tm2) AS CHAR)",
        "extract(epoch FROM tm2)::numeric(20,2)::text",
    ),
    ("CAST(y + 0 AS CHAR)", "y::text"),
    ("CAST(dec1 AS CHAR)", "dec1::text"),
    ("CAST(dec2 AS CHAR)", "dec2::text"),
    ("CAST(ub AS CHAR)", "ub::text"),
    ("CAST(sb AS CHAR)", "sb::text"),
    ("CAST(ii AS CHAR)", "ii::text"),
    ("CAST(mi AS CHAR)", "mi::text"),
    ("CAST(mu AS CHAR)", "mu::text"),
    ("CAST(si AS CHAR)", "si::text"),
    ("CAST(ti AS CHAR)", "ti::text"),
    (
        "IF(flag IS NULL, NULL, IF(flag, 'true', 'false'))",
        "flag::text",
    ),
    ("LPAD(BIN(b5), 5, '0')", "b5::text"),
    (
        "IF(b1 IS NULL, NULL, IF(b1 = 1, 'true', 'false'))",
        "b1::text",
    ),
    ("LPAD(BIN(b12), 12, '0')", "b12::text"),
    ("e", "e"),
    ("s", "array_to_string(s, ',')"),
    (
        "IF(ST_SRID(g) = 0, ST_AsText(g), CONCAT('SRID=', ST_SRID(g), ';', ST_AsText(g)))",
        "g",
    ),
    (
        "IF(ST_SRID(pt) = 0, ST_AsText(pt), CONCAT('SRID=', ST_SRID(pt), ';', ST_AsText(pt)))",
        "pt",
    ),
    ("txt", "txt"),
    ("vc", "vc"),
    ("ch", "ch"),
    ("lat", "lat"),
    ("l2", "l2"),
    ("a7", "a7"),
    ("w1250", "w1250"),
    ("CAST(uu AS CHAR)", "uu::text"),
    ("CAST(ip AS CHAR)", "ip"),
    ("CAST(gen AS CHAR)", "gen::text"),
];

/// Every value of the compared tables equal on both sides.
fn assert_equal(db: &MyDb, pg: &PgDb) {
    let my_sql = format!(
        "SELECT {} FROM types ORDER BY types.id",
        TYPES_COMPARE
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let pg_sql = format!(
        "SELECT {} FROM types ORDER BY types.id",
        TYPES_COMPARE
            .iter()
            .map(|c| c.1)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (m, p) = (my_rows(db, &my_sql), pg_rows(pg, &pg_sql));
    let ids = |r: &Rows| {
        r.iter()
            .map(|x| x[0].clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(ids(&m), ids(&p), "types: the rows differ");
    for (a, b) in m.iter().zip(&p) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert_eq!(x, y, "types row {:?}, column {}", a[0], TYPES_COMPARE[i].0);
        }
    }
    // JSON as JSON, floats bit for bit.
    let m = my_rows(
        db,
        "SELECT j, CAST(f + 0e0 AS CHAR), CAST(dbl AS CHAR) FROM types ORDER BY types.id",
    );
    let p = pg_rows(
        pg,
        "SELECT j::text, f::text, dbl::text FROM types ORDER BY types.id",
    );
    let json = |s: &Option<String>| {
        s.as_ref()
            .map(|s| serde_json::from_str::<serde_json::Value>(s).unwrap())
    };
    for (a, b) in m.iter().zip(&p) {
        assert_eq!(json(&a[0]), json(&b[0]));
        let f = |s: &Option<String>| s.as_ref().map(|s| s.parse::<f64>().unwrap() as f32);
        assert_eq!(f(&a[1]), f(&b[1]));
        let d = |s: &Option<String>| s.as_ref().map(|s| s.parse::<f64>().unwrap());
        assert_eq!(d(&a[2]), d(&b[2]));
    }
    for (t, my, pgq) in [
        (
            "account",
            "SELECT CAST(id AS CHAR), name, CAST(balance AS CHAR) FROM account ORDER BY account.id",
            "SELECT id::text, name, balance::text FROM account ORDER BY account.id",
        ),
        (
            "line",
            "SELECT CAST(account_id AS CHAR), CAST(n AS CHAR), note FROM line ORDER BY 1, 2",
            "SELECT account_id::text, n::text, note FROM line ORDER BY line.account_id, line.n",
        ),
    ] {
        assert_eq!(my_rows(db, my), pg_rows(pg, pgq), "table {t}");
    }
}

fn manifest_table<'a>(m: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    table(m, name)
}

fn file_of(dump: &Path, m: &serde_json::Value, t: &str, role: &str) -> Option<PathBuf> {
    manifest_table(m, t)["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == role)
        .map(|f| dump.join(f["path"].as_str().unwrap()))
}

#[test]
fn deltas_carry_every_change_and_chain() {
    let db = source();
    let pg = target();
    let work = Work::new();
    let base = work.export(&db, &["--exclude", "^outside$"]);
    work.import(&pg, &base, &["--create-schema"]).ok();
    let base_sha = sha256_of(&base.join("migration_manifest.json"));
    assert_eq!(
        pg.text("SELECT kind || ' ' || manifest_sha256 || ' ' || complete FROM waybill.applied"),
        Some(format!("full {base_sha} true")),
        "the full import records what it loaded"
    );

    // Writes after the export.
    let mut c = db.conn();
    c.query_drop("SET time_zone = '+05:00', sql_mode = ''")
        .unwrap();
    for stmt in [
        format!("INSERT INTO types ({COLS}) VALUES {}, {}", full_row(10), full_row(11)),
        "UPDATE types SET txt = 'changed, \"twice\"', dbl = 1e-16, f = 0.1, dt = '1999-12-31 23:59:59.999999', \
         ts = '1970-01-01 05:00:01', s = 'y', e = 'a', j = '{\"b\": {\"c\": [true, false]}}', b5 = b'11111', \
         g = ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 0))', 3857), lat = 'Ünïcödé ‰', dec1 = '-1.5', \
         tm2 = '-00:00:00.99', mu = 1 WHERE id = 2"
            .into(),
        "UPDATE types SET txt = 'first' WHERE id = 1".into(),
        "UPDATE types SET txt = 'second' WHERE id = 1".into(),
        "DELETE FROM types WHERE id = 3".into(),
        "UPDATE account SET id = 40, name = 'ann, moved' WHERE id = 1".into(),
        "UPDATE line SET n = 3 WHERE account_id = 1 AND n = 2".into(),
        "DELETE FROM account WHERE id = 2".into(),
        "INSERT INTO account (name) VALUES ('eve')".into(),
        "INSERT INTO account (id, name) VALUES (99, 'gone')".into(),
        "DELETE FROM account WHERE id = 99".into(),
        "INSERT INTO outside VALUES (2, 'y')".into(),
        "INSERT INTO nokey VALUES ('b'), ('c')".into(),
    ] {
        c.query_drop(&stmt).unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    for stmt in awkward_rows(20) {
        c.query_drop(&stmt)
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    // Rolled back: never in the binary log.
    c.query_drop("START TRANSACTION").unwrap();
    c.query_drop(format!(
        "INSERT INTO types ({COLS}) VALUES {}",
        full_row(50)
    ))
    .unwrap();
    c.query_drop("UPDATE account SET name = 'rolled back' WHERE id = 3")
        .unwrap();
    c.query_drop("ROLLBACK").unwrap();

    let delta = catch_up(&work, &db, &base);
    let m = manifest(&delta);
    assert_eq!(m["kind"], "delta");
    assert_eq!(m["delta"]["base_manifest_sha256"], base_sha.as_str());
    assert_eq!(m["delta"]["sequence"], 1);
    assert_eq!(m["delta"]["base_kind"], "full");
    let base_m = manifest(&base);
    assert_eq!(
        m["delta"]["start"]["binlog_position"],
        base_m["snapshot"]["binlog_position"]
    );
    assert_eq!(
        m["delta"]["end"]["binlog_position"],
        m["snapshot"]["binlog_position"]
    );
    assert_eq!(
        manifest_table(&m, "types")["upserts"],
        9,
        "10, 11, 1, 2 and 20-24"
    );
    assert_eq!(manifest_table(&m, "types")["deletes"], 1);
    assert_eq!(
        column(&m, "types", "a7")["stats"]["invalid_charset"],
        1,
        "bytes invalid in ascii became `?` and were counted, as in a full export"
    );
    assert_eq!(manifest_table(&m, "account")["upserts"], 2, "40 and eve");
    assert_eq!(
        manifest_table(&m, "account")["deletes"],
        3,
        "1 (moved), 2 and 99"
    );
    assert_eq!(manifest_table(&m, "line")["upserts"], 1);
    assert_eq!(manifest_table(&m, "line")["deletes"], 1);
    assert!(
        m["tables"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["name"] != "outside")
    );
    assert_eq!(
        m["delta"]["excluded_tables"],
        serde_json::json!([{"name": "nokey", "reason": "no primary key: changes cannot be matched to rows", "changes": 2}])
    );
    let sums = fs::read_to_string(delta.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 7, "6 files and the manifest:\n{sums}");
    assert_eq!(
        lines(&file_of(&delta, &m, "account", "deletes").unwrap()),
        ["id\n", "1\n", "2\n", "99\n"],
        "deletes in commit order, each key once"
    );
    assert_eq!(
        lines(&file_of(&delta, &m, "types", "deletes").unwrap()),
        ["id\n", "3\n"]
    );
    let up = records(&file_of(&delta, &m, "types", "upserts").unwrap());
    let ids: Vec<&str> = up.iter().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(
        ids,
        ["10", "11", "2", "1", "20", "21", "22", "23", "24"],
        "commit order of the final states"
    );
    assert!(up[3].contains(",second,"), "the last image wins: {}", up[3]);

    // The strong test: each upserted row is exactly what a full export writes for it now.
    let now = work.export(&db, &["--exclude", "^outside$"]);
    let full: Vec<String> = records(&now.join("types.csv"));
    for row in &up {
        let id = row.split(',').next().unwrap();
        let same = full
            .iter()
            .find(|l| l.split(',').next() == Some(id))
            .unwrap_or_else(|| panic!("row {id} missing from the full export"));
        assert_eq!(row, same, "delta and full export differ for types row {id}");
    }
    let full_accounts = records(&now.join("account.csv"));
    for row in records(&file_of(&delta, &m, "account", "upserts").unwrap()) {
        assert!(full_accounts.contains(&row), "{row}");
    }

    let ran = work.import(&pg, &delta, &[]).ok();
    assert!(
        ran.stderr.contains("committed: delta 1 applied"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("table `nokey` is not carried by catch-up"),
        "{}",
        ran.stderr
    );
    assert_equal(&db, &pg);
    assert_eq!(
        pg.text("SELECT (to_regclass('outside') IS NULL)::text"),
        Some("true".into()),
        "outside the filter: neither exported nor carried"
    );
    assert_eq!(pg.count("nokey"), 1, "no primary key: not carried");
    assert_eq!(
        pg.text("SELECT string_agg(kind || ':' || coalesce(base_manifest_sha256, '-'), ' ' ORDER BY id) FROM waybill.applied"),
        Some(format!("full:- delta:{base_sha}"))
    );
    assert_sequences_past_max(&pg, &[("account", "id")]);

    // Round two on top of the first.
    c.query_drop(format!(
        "INSERT INTO types ({COLS}) VALUES {}",
        full_row(12)
    ))
    .unwrap();
    c.query_drop("UPDATE types SET txt = 'round two', uu = NULL, ip = '2001:db8::1' WHERE id = 10")
        .unwrap();
    c.query_drop("DELETE FROM types WHERE id IN (20, 21)")
        .unwrap();
    c.query_drop("UPDATE account SET balance = balance + 1")
        .unwrap();
    c.query_drop("DELETE FROM line").unwrap();
    let delta2 = catch_up(&work, &db, &delta);
    let m2 = manifest(&delta2);
    assert_eq!(m2["delta"]["sequence"], 2);
    assert_eq!(m2["delta"]["base_kind"], "delta");
    assert_eq!(
        m2["delta"]["base_manifest_sha256"],
        sha256_of(&delta.join("migration_manifest.json")).as_str()
    );
    assert_eq!(m2["delta"]["start"], m["delta"]["end"]);
    assert_eq!(manifest_table(&m2, "account")["upserts"], 4);
    assert_eq!(manifest_table(&m2, "line")["deletes"], 3);
    work.import(&pg, &delta2, &[]).ok();
    assert_equal(&db, &pg);
    assert_eq!(pg.count("line"), 0);

    // An empty round: nothing changed in the tables.
    let delta3 = catch_up(&work, &db, &delta2);
    let m3 = manifest(&delta3);
    assert_eq!(m3["totals"]["files"], 0);
    work.import(&pg, &delta3, &[]).ok();
    assert_equal(&db, &pg);

    // Applied twice: refused, nothing changes.
    let again = work.import(&pg, &delta2, &[]).failed();
    assert!(
        again.stderr.contains("this delta was already applied"),
        "{}",
        again.stderr
    );
    assert_equal(&db, &pg);
}

fn sha256_of(p: &Path) -> String {
    waybill::dump::hashing::hash_file(p).unwrap().0
}

#[test]
fn deltas_refuse_the_wrong_base_and_the_wrong_order() {
    let db = source();
    let work = Work::new();
    let full_a = work.export(&db, &[]);
    let pg = target();
    work.import(&pg, &full_a, &["--create-schema"]).ok();
    db.exec(&["INSERT INTO account (name) VALUES ('one')"]);
    let first = catch_up(&work, &db, &full_a);
    db.exec(&["INSERT INTO account (name) VALUES ('two')"]);
    let second = catch_up(&work, &db, &first);
    let sibling = catch_up(&work, &db, &full_a);

    // The second delta before the first: its base was never loaded.
    let r = work.import(&pg, &second, &[]).failed();
    assert!(
        r.stderr
            .contains("wrong base: this delta follows the delta dump"),
        "{}",
        r.stderr
    );
    assert_eq!(pg.count("account"), 4, "nothing applied");
    work.import(&pg, &first, &[]).ok();
    // A delta of the same base taken later, after the first was applied: out of order.
    let r = work.import(&pg, &sibling, &[]).failed();
    assert!(
        r.stderr
            .contains("out of order: this delta follows the full dump"),
        "{}",
        r.stderr
    );
    assert_eq!(pg.count("account"), 5);
    work.import(&pg, &second, &[]).ok();
    assert_eq!(pg.count("account"), 6);

    // A delta of another full export than the one loaded.
    let full_b = work.export(&db, &[]);
    db.exec(&["INSERT INTO account (name) VALUES ('three')"]);
    let of_b = catch_up(&work, &db, &full_b);
    let r = work.import(&pg, &of_b, &[]).failed();
    assert!(
        r.stderr
            .contains("wrong base: this delta follows the full dump"),
        "{}",
        r.stderr
    );
    assert_eq!(pg.count("account"), 6);

    // A target waybill never loaded.
    let other = target();
    other.exec("CREATE TABLE account (id int PRIMARY KEY, name text, balance numeric)");
    let r = work.import(&other, &first, &[]).failed();
    assert!(
        r.stderr.contains("the target has no waybill.applied"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_parallel_import_is_a_base_only_once_every_table_committed() {
    let db = MyDb::new("catchup_jobs");
    db.exec(&[
        "CREATE TABLE a (id INT PRIMARY KEY, v INT NOT NULL)",
        "CREATE TABLE b (id INT PRIMARY KEY, v INT NOT NULL)",
        "INSERT INTO a VALUES (1, 1), (2, 2)",
        "INSERT INTO b VALUES (1, 1), (2, -2)",
    ]);
    let work = Work::new();
    let base = work.export(&db, &[]);
    let pg = target();
    pg.exec("CREATE TABLE a (id int PRIMARY KEY, v int NOT NULL); CREATE TABLE b (id int PRIMARY KEY, v int NOT NULL CHECK (v > 0));");
    // Table b fails, table a commits: the load is recorded, as incomplete.
    work.import(&pg, &base, &["--commit", "per-table", "--jobs", "2"])
        .failed();
    assert_eq!(
        pg.text("SELECT string_agg(kind || ':' || complete, ' ' ORDER BY id) FROM waybill.applied"),
        Some("full:false".into())
    );
    db.exec(&["UPDATE a SET v = 10 WHERE id = 1"]);
    let delta = catch_up(&work, &db, &base);
    let r = work.import(&pg, &delta, &[]).failed();
    assert!(
        r.stderr
            .contains("the last load of the target did not complete"),
        "{}",
        r.stderr
    );
    pg.exec("ALTER TABLE b DROP CONSTRAINT b_v_check");
    work.import(&pg, &base, &["--commit", "per-table", "--jobs", "2"])
        .ok();
    assert_eq!(
        pg.text("SELECT string_agg(kind || ':' || complete, ' ' ORDER BY id) FROM waybill.applied"),
        Some("full:false full:true".into())
    );
    work.import(&pg, &delta, &[]).ok();
    assert_eq!(
        pg.text("SELECT v::text FROM a WHERE id = 1"),
        Some("10".into())
    );
}

#[test]
fn ddl_in_the_range_stops_the_delta() {
    let db = source();
    let work = Work::new();
    let base = work.export(&db, &[]);
    db.exec(&[
        "INSERT INTO account (name) VALUES ('before the change')",
        "CREATE TABLE unrelated (id INT PRIMARY KEY)",
        "ALTER TABLE account ADD COLUMN email VARCHAR(80) NULL",
    ]);
    let out = catch_up_fails(&work, &db, &base);
    assert!(
        out.contains("table `account`: a schema change (DDL) was logged at binlog."),
        "{out}"
    );
    assert!(
        out.contains("ALTER TABLE account ADD COLUMN email"),
        "{out}"
    );
    assert!(out.contains("take a new full export"), "{out}");
    let dirs: Vec<_> = fs::read_dir(work.path().join("out").join(&db.name))
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    assert_eq!(dirs, [base], "no delta directory is left behind");
}

#[test]
fn a_change_logged_as_a_statement_stops_the_delta() {
    let db = source();
    let work = Work::new();
    let base = work.export(&db, &[]);
    db.exec(&[
        "SET SESSION binlog_format = 'STATEMENT'",
        "UPDATE line SET note = 'by statement' WHERE n = 1",
    ]);
    let out = catch_up_fails(&work, &db, &base);
    assert!(
        out.contains("table `line`: a change was logged as a statement at binlog."),
        "{out}"
    );
    assert!(out.contains("did not use binlog_format = ROW"), "{out}");
}

#[test]
fn a_purged_base_position_is_refused() {
    let db = source();
    let work = Work::new();
    let base = work.export(&db, &[]);
    // Purging logs on the shared server would break other tests: point the base at a log
    // file the server no longer has, which is what purging leaves behind.
    let path = base.join("migration_manifest.json");
    let mut m = manifest(&base);
    m["snapshot"]["binlog_file"] = "binlog.000000".into();
    let text = serde_json::to_vec_pretty(&m).unwrap();
    fs::write(&path, &text).unwrap();
    let sums = fs::read_to_string(base.join("SHA256SUMS")).unwrap();
    let fixed: String = sums
        .lines()
        .map(|l| {
            if l.ends_with("  migration_manifest.json") {
                format!("{}  migration_manifest.json\n", sha256_of(&path))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(base.join("SHA256SUMS"), fixed).unwrap();
    let out = catch_up_fails(&work, &db, &base);
    assert!(
        out.contains("the base's position binlog.000000:")
            && out.contains("is no longer on the server"),
        "{out}"
    );
    assert!(out.contains("purged"), "{out}");
}

#[test]
fn an_account_without_replication_privileges_is_told_what_to_grant() {
    let db = source();
    let work = Work::new();
    let base = work.export(&db, &[]);
    let user = format!("wb_norepl_{}", std::process::id());
    db.exec(&[
        &format!("DROP USER IF EXISTS '{user}'@'%'"),
        &format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"),
        &format!("GRANT SELECT, SHOW VIEW ON `{}`.* TO '{user}'@'%'", db.name),
    ]);
    let url = format!(
        "mysql://{user}:pw@{}:{}/{}",
        db.url.host, db.url.port, db.name
    );
    let ran = work
        .run(
            "waybill-export",
            &[
                "--source",
                &url,
                "--out",
                "out",
                "--since",
                base.to_str().unwrap(),
            ],
        )
        .failed();
    let out = ran.all();
    db.exec(&[&format!("DROP USER '{user}'@'%'")]);
    assert!(
        out.contains("catch-up stopped, no delta was written"),
        "{out}"
    );
    assert!(
        out.contains("the account may not list the binary logs") && out.contains("BINLOG MONITOR"),
        "{out}"
    );
    assert!(out.contains("grant it REPLICATION SLAVE"), "{out}");
}

/// A base loaded in part (`--tables`) holds only those tables current: a delta that
/// changes another one is refused, naming it; applied without it (`--exclude`), it goes
/// on; and a table a delta leaves out stops being current for the next delta.
#[test]
fn a_partial_base_takes_deltas_only_for_the_tables_it_loaded() {
    let db = MyDb::new("catchup_subset");
    db.exec(&[
        "CREATE TABLE a (id INT PRIMARY KEY, v INT NOT NULL)",
        "CREATE TABLE b (id INT PRIMARY KEY, v INT NOT NULL)",
        "CREATE TABLE c (id INT PRIMARY KEY, v INT NOT NULL)",
        "INSERT INTO a VALUES (1, 1)",
        "INSERT INTO b VALUES (1, 1)",
        "INSERT INTO c VALUES (1, 1)",
    ]);
    let work = Work::new();
    let base = work.export(&db, &[]);
    let pg = target();
    pg.exec(
        "CREATE TABLE a (id int PRIMARY KEY, v int NOT NULL); \
         CREATE TABLE b (id int PRIMARY KEY, v int NOT NULL); \
         CREATE TABLE c (id int PRIMARY KEY, v int NOT NULL);",
    );
    work.import(&pg, &base, &["--tables", "a,c"]).ok();
    let recorded = || {
        pg.text("SELECT coalesce(array_to_string(tables, ','), 'all') FROM waybill.applied ORDER BY id DESC LIMIT 1")
    };
    assert_eq!(recorded(), Some("a,c".into()));

    db.exec(&[
        "UPDATE a SET v = 2",
        "UPDATE b SET v = 2",
        "UPDATE c SET v = 2",
    ]);
    let first = catch_up(&work, &db, &base);
    let r = work.import(&pg, &first, &[]).failed();
    assert!(
        r.stderr.contains(
            "this delta changes `b` which the target's latest load did not load (it holds \
             current only: a, c)"
        ),
        "{}",
        r.stderr
    );
    let values = |t: &str| pg.text(&format!("SELECT max(v)::text FROM {t}"));
    assert_eq!(
        (values("a"), values("b")),
        (Some("1".into()), None),
        "nothing applied"
    );

    // Without b it applies; leaving c out too makes c stale for the next delta.
    work.import(&pg, &first, &["--exclude", "^(b|c)$"]).ok();
    assert_eq!(
        (values("a"), values("c")),
        (Some("2".into()), Some("1".into()))
    );
    assert_eq!(recorded(), Some("a".into()));
    db.exec(&["UPDATE a SET v = 3", "UPDATE c SET v = 3"]);
    let second = catch_up(&work, &db, &first);
    let r = work.import(&pg, &second, &[]).failed();
    assert!(
        r.stderr.contains("this delta changes `c` which"),
        "{}",
        r.stderr
    );
    work.import(&pg, &second, &["--tables", "a"]).ok();
    assert_eq!(values("a"), Some("3".into()));
    assert_eq!(recorded(), Some("a".into()));

    // A full load of everything makes every table current again.
    let full = work.export(&db, &[]);
    work.import(&pg, &full, &[]).ok();
    assert_eq!(recorded(), Some("all".into()));
    assert_eq!(
        (values("a"), values("b"), values("c")),
        (Some("3".into()), Some("2".into()), Some("3".into()))
    );
}

/// A compressed base gives a compressed delta (`options.compress` is inherited, each
/// upserts/deletes file is a `.csv.zst` whose sha256 and bytes are the stored file's),
/// and both load: every value equal to the source after each step.
#[test]
fn a_compressed_base_gives_a_compressed_delta_that_applies() {
    let db = source();
    let pg = target();
    let work = Work::new();
    let base = work.export(&db, &["--compress", "zstd:2"]);
    assert_eq!(manifest(&base)["options"]["compress"], "zstd:2");
    work.import(&pg, &base, &["--create-schema"]).ok();
    assert_equal(&db, &pg);

    let mut c = db.conn();
    c.query_drop("SET time_zone = '+05:00', sql_mode = ''")
        .unwrap();
    for stmt in [
        format!("INSERT INTO types ({COLS}) VALUES {}", full_row(12)),
        "UPDATE types SET txt = 'changed', dbl = 2.5 WHERE id = 2".into(),
        "DELETE FROM types WHERE id = 3".into(),
        "UPDATE account SET balance = 12.34 WHERE id = 1".into(),
        "DELETE FROM line WHERE account_id = 2".into(),
    ] {
        c.query_drop(&stmt)
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    for stmt in awkward_rows(30) {
        c.query_drop(&stmt)
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    let delta = catch_up(&work, &db, &base);
    let m = manifest(&delta);
    assert_eq!(m["kind"], "delta");
    assert_eq!(m["options"]["compress"], "zstd:2");
    let mut files = 0;
    for t in m["tables"].as_array().unwrap() {
        for f in t["files"].as_array().unwrap() {
            files += 1;
            let path = f["path"].as_str().unwrap();
            assert!(path.ends_with(".csv.zst"), "{path}");
            assert_eq!(f["compression"], "zstd", "{path}");
            let stored = fs::read(delta.join(path)).unwrap();
            assert_eq!(f["bytes"].as_u64(), Some(stored.len() as u64), "{path}");
            assert_eq!(
                f["sha256"].as_str(),
                Some(sha256_of(&delta.join(path)).as_str()),
                "{path}"
            );
            let plain = work.path().join("plain.csv");
            fs::write(&plain, zstd::decode_all(&stored[..]).unwrap()).unwrap();
            assert_eq!(
                records(&plain).len() as u64,
                f["rows"].as_u64().unwrap(),
                "{path}"
            );
        }
    }
    assert!(
        file_of(&delta, &m, "types", "deletes").is_some()
            && file_of(&delta, &m, "types", "upserts").is_some()
            && files >= 4,
        "{files} files"
    );
    work.import(&pg, &delta, &[]).ok();
    assert_equal(&db, &pg);
}

/// A catch-up range that crosses a rotation of the binary log (FLUSH BINARY LOGS between
/// the two writes): both changes are carried. The end lies in the new file, at a
/// position smaller than where the old file ended.
#[test]
fn a_range_across_a_binlog_rotation_carries_every_change() {
    let db = MyDb::new("catchup_rotate");
    db.exec(&[
        "CREATE TABLE r (id INT PRIMARY KEY, v INT NOT NULL)",
        "INSERT INTO r VALUES (1, 1)",
    ]);
    let work = Work::new();
    let base = work.export(&db, &[]);
    let pg = target();
    pg.exec("CREATE TABLE r (id int PRIMARY KEY, v int NOT NULL)");
    work.import(&pg, &base, &[]).ok();
    // Enough bytes before the rotation that the old file ends past any position the
    // new one reaches by the end of the range.
    db.exec(&[
        "CREATE TABLE pad (id INT PRIMARY KEY, t LONGTEXT)",
        "INSERT INTO pad VALUES (1, REPEAT('x', 200000))",
        "UPDATE r SET v = 2 WHERE id = 1",
        "FLUSH BINARY LOGS",
        "INSERT INTO r VALUES (2, 20)",
    ]);
    let delta = catch_up(&work, &db, &base);
    work.import(&pg, &delta, &[]).ok();
    assert_eq!(
        pg.text("SELECT string_agg(id || ':' || v, ' ' ORDER BY id) FROM r"),
        Some("1:2 2:20".into())
    );
}
