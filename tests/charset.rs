//! Text in a charset other than UTF-8: MariaDB converts it to utf8mb4 for the export and
//! replaces bytes that are invalid in the column's charset with `?`, silently. The export
//! detects each such value, counts it per column in the manifest (`invalid_charset`) and
//! warns; `--strict-charset` refuses it. latin1 has no invalid byte (MySQL's latin1 maps
//! all 256), so its values always arrive intact and are never counted.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;

fn charset_db() -> MyDb {
    let db = MyDb::new("charset");
    db.exec(&[
        "CREATE TABLE codes (id INT PRIMARY KEY, \
         a VARCHAR(20) CHARACTER SET ascii, \
         l VARCHAR(20) CHARACTER SET latin1, \
         u VARCHAR(20) CHARACTER SET utf8mb4)",
        // 1: é as UTF-8 bytes in an ascii column, and latin1's undefined-in-cp1252 0x81.
        "INSERT INTO codes VALUES (1, X'C3A9', X'81', '?')",
        // 2: real question marks are not invalid bytes.
        "INSERT INTO codes VALUES (2, 'why?', X'E93F', 'ok?')",
        // 3: a byte above 0x7F next to a real question mark.
        "INSERT INTO codes VALUES (3, X'3F41FF', 'plain', NULL)",
        "INSERT INTO codes VALUES (4, NULL, NULL, NULL)",
    ]);
    db
}

fn stats<'a>(m: &'a serde_json::Value, c: &str) -> &'a serde_json::Value {
    &column(m, "codes", c)["stats"]
}

#[test]
fn invalid_bytes_are_counted_per_column_and_warned_about() {
    let db = charset_db();
    let work = Work::new();
    let ran = work
        .run(
            "waybill-export",
            &["--source", &db.url_text(), "--out", "out", "-q"],
        )
        .ok();
    assert!(
        ran.stderr.contains(
            "warning: table `codes`, column `a`: 2 value(s) held bytes that are not valid \
             ascii; the server exported them with `?` in their place (counted in the \
             manifest as invalid_charset; --strict-charset makes this an error)"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(
        ran.stderr.matches("value(s) held bytes").count(),
        1,
        "only column a: {}",
        ran.stderr
    );
    let dump = std::path::PathBuf::from(ran.last_line());
    let m = manifest(&dump);
    assert_eq!(stats(&m, "a")["invalid_charset"], 2);
    assert_eq!(stats(&m, "a")["nulls"], 1);
    // Serialized only when non-zero.
    assert!(stats(&m, "l").get("invalid_charset").is_none(), "{m}");
    assert!(stats(&m, "u").get("invalid_charset").is_none());
    assert!(stats(&m, "id").get("invalid_charset").is_none());
    assert!(m["options"].get("strict_charset").is_none());
    assert_eq!(
        fs::read_to_string(dump.join("codes.csv")).unwrap(),
        "id,a,l,u\n1,??,\u{81},?\n2,why?,é?,ok?\n3,?A?,plain,\\N\n4,\\N,\\N,\\N\n"
    );

    // The latin1 values arrive intact on the other side too.
    let pg = PgDb::new("charset");
    pg.exec("CREATE TABLE codes (id int PRIMARY KEY, a text, l text, u text)");
    work.import(&pg, &dump, &[]).ok();
    assert_eq!(
        pg.text("SELECT string_agg(encode(convert_to(coalesce(l, 'NULL'), 'UTF8'), 'hex'), ',' ORDER BY id) FROM codes")
            .as_deref(),
        Some("c281,c3a93f,706c61696e,4e554c4c")
    );
}

#[test]
fn strict_charset_refuses_the_first_invalid_value() {
    let db = charset_db();
    let work = Work::new();
    let ran = work
        .run(
            "waybill-export",
            &[
                "--source",
                &db.url_text(),
                "--out",
                "out",
                "--strict-charset",
                "-q",
            ],
        )
        .failed();
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains(
            "waybill-export: error: table `codes`, column `a`, row with primary key (id=1): \
             the value holds bytes that are not valid ascii, which the server turned into `?` \
             (it arrives as \"??\"); fix the value in the source, or export without \
             --strict-charset to keep the `?` and count such values in the manifest"
        ),
        "{}",
        ran.stderr
    );
    // No dump: no manifest, no data file, no unfinished file.
    let out = work.path().join("out").join(&db.name);
    for dir in fs::read_dir(&out).unwrap() {
        let files: Vec<String> = fs::read_dir(dir.unwrap().path())
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(files.is_empty(), "{files:?}");
    }
    let events = audit_events(&work);
    let last = events.last().unwrap();
    assert_eq!(last["status"], "failed");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .starts_with("export failed: table `codes`, column `a`, row with primary key (id=1)"),
        "{last}"
    );

    // Without invalid bytes, --strict-charset changes nothing but the manifest's options.
    db.exec(&["DELETE FROM codes WHERE id IN (1, 3)"]);
    let dump = work.export(&db, &["--strict-charset", "-q"]);
    let m = manifest(&dump);
    assert_eq!(m["options"]["strict_charset"], true);
    assert_eq!(table(&m, "codes")["rows"], 2);
}

/// A primary key in ascii holding invalid bytes: the chunk walk reads its boundaries as
/// stored bytes, so it ends and exports every row exactly once (with the `?` text, the
/// boundaries would sort elsewhere and the walk would go round for ever).
#[test]
fn chunks_of_an_ascii_key_with_invalid_bytes() {
    let db = MyDb::new("charsetkey");
    db.exec(&[
        "CREATE TABLE k (code VARCHAR(10) CHARACTER SET ascii PRIMARY KEY, n INT)",
        "INSERT INTO k SELECT CONCAT(CHAR(97 + seq % 26), seq), seq FROM seq_1_to_100",
        "INSERT INTO k VALUES (X'E9E9', 1000), (X'E941', 1001), ('??', 1002), (X'3FE9', 1003)",
        "ANALYZE TABLE k",
    ]);
    let work = Work::new();
    let mut child = work
        .command("waybill-export")
        .args([
            "--source",
            &db.url_text(),
            "--out",
            "out",
            "--chunk-rows",
            "7",
            "--jobs",
            "2",
            "-q",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A walk that never ends must fail the test, not hang it.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the export did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dump = std::path::PathBuf::from(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap()
            .to_string(),
    );
    let m = manifest(&dump);
    let t = table(&m, "k");
    assert_eq!(t["rows"], 104);
    assert!(t["files"].as_array().unwrap().len() > 10, "{t}");
    assert_eq!(column(&m, "k", "code")["stats"]["invalid_charset"], 3);
    let mut ns: Vec<i64> = Vec::new();
    for f in t["files"].as_array().unwrap() {
        let text = fs::read_to_string(dump.join(f["path"].as_str().unwrap())).unwrap();
        ns.extend(
            text.lines()
                .skip(1)
                .map(|l| l.rsplit(',').next().unwrap().parse::<i64>().unwrap()),
        );
    }
    ns.sort();
    let mut expected: Vec<i64> = (1..=100).chain(1000..=1003).collect();
    expected.sort();
    assert_eq!(ns, expected, "every row once");
}
