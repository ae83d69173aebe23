//! waybill-export against a real MariaDB: every type the export handles, with the exact
//! CSV cells it must write; checksums, counts, NUL bytes, filters, file names.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use mysql::prelude::Queryable;

const TYPES_DDL: &str = "CREATE TABLE types (
    id INT PRIMARY KEY,
    u36 CHAR(36) NULL,
    bin BINARY(4) NULL, vbin VARBINARY(10) NULL, tb TINYBLOB NULL, bl BLOB NULL,
    mb MEDIUMBLOB NULL, lb LONGBLOB NULL,
    d DATE NULL, dt DATETIME(6) NULL, ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME NULL, y YEAR NULL,
    dec1 DECIMAL(30,10) NULL, ub BIGINT UNSIGNED NULL, flag TINYINT(1) NULL,
    b5 BIT(5) NULL, b1 BIT(1) NULL,
    e ENUM('a','b,c','it''s') NULL, s SET('x','y','z') NULL, j JSON NULL,
    g GEOMETRY NULL, pt POINT NULL,
    f FLOAT NULL, dbl DOUBLE NULL, txt TEXT NULL,
    lat VARCHAR(20) CHARACTER SET latin1 NULL
)";

fn types_fixture() -> MyDb {
    let db = MyDb::new("types");
    db.exec(&[
        TYPES_DDL,
        "SET time_zone = '+05:00'",
        "INSERT INTO types VALUES (1, '0b5f6d39-2a4e-4c41-9a77-1e0d8a1c2b3d',
            X'00FF10AB', X'DEADBEEF', X'01', X'0203', X'', X'00000000',
            '2024-02-29', '2024-01-02 03:04:05.123456', '2024-03-10 12:00:00.250', '838:59:59', 2024,
            '12345678901234567890.0123456789', 18446744073709551615, 1,
            b'00101', b'1',
            'b,c', 'x,z', '{\"k\": [1, \"two\", null]}',
            ST_GeomFromText('POINT(1.5 2.25)', 4326), ST_GeomFromText('POINT(-71.064544 42.28787)'),
            3.14159274, 0.30000000000000004, 'plain', 'café')",
        "INSERT INTO types (id, u36, d, dt, ts, tm, y, dec1, ub, flag, b5, b1, f, dbl)
            VALUES (2, '', '0000-00-00', '2024-00-10 00:00:00', '0000-00-00 00:00:00', '-12:30:00.5', 0,
            '-0.0000000001', 0, 0, b'00000', b'0', 123456792, 5e-324)",
        "INSERT INTO types (id, d, dt) VALUES (3, '0009-05-01', '0009-05-01 12:00:00')",
        "INSERT INTO types (id, d, dt) VALUES (4, '2024-01-00', '0000-01-01 00:00:00')",
        "INSERT INTO types (id) VALUES (5)",
    ]);
    db
}

fn data_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn every_type_becomes_the_exact_cell() {
    let db = types_fixture();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let lines = data_lines(&dump.join("types.csv"));
    assert_eq!(
        lines[0],
        "id,u36,bin,vbin,tb,bl,mb,lb,d,dt,ts,tm,y,dec1,ub,flag,b5,b1,e,s,j,g,pt,f,dbl,txt,lat"
    );
    assert_eq!(
        lines[1],
        concat!(
            "1,0b5f6d39-2a4e-4c41-9a77-1e0d8a1c2b3d,",
            "\\x00ff10ab,\\xdeadbeef,\\x01,\\x0203,\\x,\\x00000000,",
            "2024-02-29,2024-01-02 03:04:05.123456,2024-03-10 07:00:00.250+00,838:59:59,2024,",
            "12345678901234567890.0123456789,18446744073709551615,1,",
            "00101,1,",
            "\"b,c\",\"x,z\",\"{\"\"k\"\": [1, \"\"two\"\", null]}\",",
            "SRID=4326;POINT(1.5 2.25),POINT(-71.064544 42.28787),",
            "3.1415927,0.30000000000000004,plain,café"
        )
    );
    assert_eq!(
        lines[2],
        "2,\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N,-12:30:00,0,-0.0000000001,0,0,00000,0,\\N,\\N,\\N,\\N,\\N,123456790.0,5e-324,\\N,\\N"
    );
    assert!(
        lines[3]
            .starts_with("3,\\N,\\N,\\N,\\N,\\N,\\N,\\N,0009-05-01,0009-05-01 12:00:00.000000,"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with("4,\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N,\\N,"),
        "{}",
        lines[4]
    );
    assert_eq!(lines[5], format!("5{}", ",\\N".repeat(26)));
    assert_eq!(lines.len(), 6);

    let m = manifest(&dump);
    let enc = |c: &str| {
        column(&m, "types", c)["encoding"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for (c, e) in [
        ("u36", "uuid_text"),
        ("lb", "bytea_hex"),
        ("d", "date"),
        ("ts", "timestamp_utc"),
        ("tm", "time_text"),
        ("ub", "integer"),
        ("flag", "boolean_int"),
        ("b5", "bit_string"),
        ("j", "json_text"),
        ("g", "geometry_ewkt"),
        ("f", "float"),
        ("lat", "text"),
    ] {
        assert_eq!(enc(c), e, "encoding of {c}");
    }
    let stat = |c: &str, k: &str| column(&m, "types", c)["stats"][k].as_u64().unwrap_or(0);
    assert_eq!(stat("u36", "empty_uuids_to_null"), 1);
    assert_eq!(
        stat("d", "zero_dates_to_null"),
        2,
        "0000-00-00 and 2024-01-00"
    );
    assert_eq!(
        stat("dt", "zero_dates_to_null"),
        2,
        "2024-00-10 and 0000-01-01"
    );
    assert_eq!(stat("ts", "zero_dates_to_null"), 1);
    assert_eq!(stat("d", "nulls"), 3);
    assert_eq!(m["totals"]["converted_to_null"]["types.d"], 2);
    assert_eq!(
        column(&m, "types", "e")["values"],
        serde_json::json!(["a", "b,c", "it's"])
    );
    assert_eq!(
        column(&m, "types", "ub")["column_type"],
        "bigint(20) unsigned"
    );
    assert_eq!(table(&m, "types")["primary_key"], serde_json::json!(["id"]));
}

#[test]
fn awkward_text_survives_byte_for_byte() {
    let db = MyDb::new("awkward");
    db.exec(&["CREATE TABLE awkward (id INT PRIMARY KEY, v TEXT NULL) CHARACTER SET utf8mb4"]);
    let values: [(i32, Option<&str>); 13] = [
        (1, Some("a,b")),
        (2, Some("say \"hi\"")),
        (3, Some("cr\rlf\nend")),
        (4, Some("tab\there")),
        (5, Some("back\\slash")),
        (6, Some("emoji \u{1F600} ü")),
        (7, Some("")),
        (8, Some("NULL")),
        (9, Some("\\N")),
        (10, None),
        (11, Some("\\.")),
        (12, Some("  spaces  ")),
        (13, Some("\"")),
    ];
    let mut c = db.conn();
    for (id, v) in values {
        c.exec_drop("INSERT INTO awkward VALUES (?, ?)", (id, v))
            .unwrap();
    }
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let text = fs::read_to_string(dump.join("awkward.csv")).unwrap();
    assert_eq!(
        text,
        concat!(
            "id,v\n",
            "1,\"a,b\"\n",
            "2,\"say \"\"hi\"\"\"\n",
            "3,\"cr\rlf\nend\"\n",
            "4,tab\there\n",
            "5,back\\slash\n",
            "6,emoji \u{1F600} ü\n",
            "7,\"\"\n",
            "8,NULL\n",
            "9,\"\\N\"\n",
            "10,\\N\n",
            "11,\"\\.\"\n",
            "12,  spaces  \n",
            "13,\"\"\"\"\n",
        )
    );
    // And the csv crate reads back the same strings.
    let mut r = csv::Reader::from_path(dump.join("awkward.csv")).unwrap();
    let got: Vec<String> = r.records().map(|x| x.unwrap()[1].to_string()).collect();
    assert_eq!(got[2], "cr\rlf\nend");
    assert_eq!(got[8], "\\N");
}

#[test]
fn checksums_counts_and_sha256sum() {
    let db = types_fixture();
    db.exec(&[
        "CREATE TABLE many (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20))",
        "INSERT INTO many (v) SELECT CONCAT('row ', seq) FROM seq_1_to_2500",
        "CREATE VIEW many_view AS SELECT id FROM many",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let m = manifest(&dump);
    let mut c = db.conn();
    for t in m["tables"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let count: i64 = c
            .query_first(format!("SELECT COUNT(*) FROM `{name}`"))
            .unwrap()
            .unwrap();
        assert_eq!(t["rows"].as_i64().unwrap(), count, "rows of {name}");
        for f in t["files"].as_array().unwrap() {
            let path = dump.join(f["path"].as_str().unwrap());
            let (sha, bytes) = waybill::dump::hashing::hash_file(&path).unwrap();
            assert_eq!(f["sha256"].as_str().unwrap(), sha);
            assert_eq!(f["bytes"].as_u64().unwrap(), bytes);
            let lines = fs::read_to_string(&path).unwrap().lines().count() as i64;
            assert_eq!(
                lines - 1,
                count,
                "{name} has one header line and no multi-line values"
            );
        }
    }
    assert_eq!(m["views"][0]["name"], "many_view");
    assert_eq!(m["totals"]["tables"], 2);
    assert_eq!(m["snapshot"]["consistent"], true);
    assert!(m["source"].get("password").is_none());
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dump)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let listed = String::from_utf8_lossy(&check.stdout);
    assert!(listed.contains("types.csv: OK") && listed.contains("migration_manifest.json: OK"));
    // No leftovers.
    let names: Vec<String> = fs::read_dir(&dump)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".partial")), "{names:?}");
}

#[test]
fn nul_bytes_fail_by_default_and_can_be_stripped() {
    let db = MyDb::new("nul");
    db.exec(&[
        "CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(20))",
        "INSERT INTO notes VALUES (1, 'fine'), (7, CONCAT('a', CHAR(0), 'b'))",
    ]);
    let work = Work::new();
    let url = db.url_text();
    let ran = work
        .run("waybill-export", &["--source", &url, "--out", "out"])
        .failed();
    assert!(
        ran.stderr
            .contains("table `notes`, column `body`, row with primary key (id=7)")
            && ran.stderr.contains("NUL"),
        "{}",
        ran.stderr
    );
    let dumps: Vec<_> = fs::read_dir(work.path().join("out").join(&db.name))
        .unwrap()
        .collect();
    assert_eq!(dumps.len(), 1);
    let dir = dumps[0].as_ref().unwrap().path();
    assert!(
        !dir.join("migration_manifest.json").exists(),
        "a failed export writes no manifest"
    );
    assert!(fs::read_dir(&dir).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")
    }));

    let dump = work.export(&db, &["--nul", "strip"]);
    assert_eq!(
        fs::read_to_string(dump.join("notes.csv")).unwrap(),
        "id,body\n1,fine\n7,ab\n"
    );
    let m = manifest(&dump);
    assert_eq!(
        column(&m, "notes", "body")["stats"]["nul_bytes_stripped"],
        1
    );
    assert_eq!(m["options"]["nul"], "strip");
}

#[test]
fn tables_exclude_and_safe_file_names() {
    let db = MyDb::new("names");
    db.exec(&[
        "CREATE TABLE `order items` (id INT PRIMARY KEY)",
        "CREATE TABLE `con` (id INT PRIMARY KEY)",
        "CREATE TABLE `Café` (id INT PRIMARY KEY)",
        "CREATE TABLE `t.0001` (id INT PRIMARY KEY)",
        "CREATE TABLE audit_tmp (id INT PRIMARY KEY)",
        "INSERT INTO `order items` VALUES (1), (2)",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &["--exclude", "_tmp$"]);
    let m = manifest(&dump);
    let files: Vec<(String, String)> = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["files"][0]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("Café".to_string(), "Caf%C3%A9.csv".to_string()),
            ("con".into(), "%63on.csv".into()),
            ("order items".into(), "order%20items.csv".into()),
            ("t.0001".into(), "t%2E0001.csv".into()),
        ]
    );
    for (_, f) in &files {
        assert!(dump.join(f).is_file());
    }
    let only = work.export(&db, &["--tables", "order items,audit_tmp"]);
    let m = manifest(&only);
    assert_eq!(m["tables"].as_array().unwrap().len(), 2);
    let url = db.url_text();
    let ran = work
        .run("waybill-export", &["--source", &url, "--tables", "nope"])
        .failed();
    assert!(
        ran.stderr.contains("no base table named nope"),
        "{}",
        ran.stderr
    );
}
