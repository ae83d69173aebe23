//! waybill-verify in every mode, against the real MariaDB and PostgreSQL: a dump against
//! its manifest (edited, truncated and miscounted files found offline), a dump against
//! the target and against the live source, and the live source against the live target;
//! rows changed, deleted and added on either side are each found and named by primary
//! key. Sakila verified value by value in every mode.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

fn shop() -> MyDb {
    let db = MyDb::new("vshop");
    db.exec(&[
        "CREATE TABLE item (id INT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2), \
         added DATETIME(3), tags JSON)",
        "INSERT INTO item SELECT seq, CONCAT('item ', seq), seq * 1.25, \
         '2024-01-01 10:00:00.125' + INTERVAL seq MINUTE, CONCAT('{\"n\": ', seq, '}') \
         FROM seq_1_to_50",
        "CREATE TABLE tag (item_id INT, tag VARCHAR(10), PRIMARY KEY (item_id, tag))",
        "INSERT INTO tag VALUES (1, 'a'), (1, 'b'), (2, 'a')",
        "CREATE TABLE log (msg VARCHAR(20), n INT)",
        "INSERT INTO log VALUES ('x', 1), ('x', 1), ('y', 2)",
    ]);
    db
}

/// The summary row of `table`: rows compared, equal, different, missing, extra, status.
fn summary_row(stderr: &str, table: &str) -> Vec<String> {
    let cells: Vec<String> = stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(table))
        .unwrap_or_else(|| panic!("no summary row for {table}\n{stderr}"))
        .split_whitespace()
        .map(String::from)
        .collect();
    [&cells[1..6], &cells[7..8]].concat()
}

fn verify(work: &Work, args: &[&str]) -> Ran {
    work.run("waybill-verify", args)
}

fn events(work: &Work) -> Vec<Value> {
    fs::read_to_string(work.audit_log())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (status, message) of the last waybill-verify run.
fn last_verify(work: &Work) -> Vec<(String, String)> {
    let ev = events(work);
    let run = ev
        .iter()
        .rev()
        .find(|e| e["tool"] == "verify")
        .map(|e| e["run_id"].clone())
        .unwrap();
    ev.iter()
        .filter(|e| e["run_id"] == run)
        .map(|e| {
            (
                e["status"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn copy_dump(from: &Path, work: &Work, name: &str) -> PathBuf {
    let to = work.path().join(name);
    fs::create_dir_all(&to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn offline_finds_edited_truncated_and_miscounted_files() {
    let db = shop();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let d = dump.to_str().unwrap();
    let ran = verify(&work, &[d]).ok();
    assert_eq!(
        summary_row(&ran.stderr, "item"),
        ["50", "50", "0", "0", "0", "equal"]
    );
    assert!(ran.stderr.contains("every value equal"), "{}", ran.stderr);
    assert_eq!(
        last_verify(&work)
            .iter()
            .map(|e| e.0.as_str())
            .collect::<Vec<_>>(),
        [
            "started",
            "in_progress",
            "in_progress",
            "in_progress",
            "completed"
        ]
    );

    // One byte changed, same size.
    let edited = copy_dump(&dump, &work, "edited");
    let mut bytes = fs::read(edited.join("item.csv")).unwrap();
    let at = bytes.len() - 30;
    bytes[at] = if bytes[at] == b'7' { b'8' } else { b'7' };
    fs::write(edited.join("item.csv"), &bytes).unwrap();
    let ran = verify(&work, &[edited.to_str().unwrap()]).failed();
    assert!(
        ran.stderr.contains("item.csv: sha256 is "),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("PROBLEM"), "{}", ran.stderr);
    assert_eq!(last_verify(&work).last().unwrap().0, "failed");

    // Truncated.
    let truncated = copy_dump(&dump, &work, "truncated");
    let len = fs::metadata(truncated.join("item.csv")).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(truncated.join("item.csv"))
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let ran = verify(&work, &[truncated.to_str().unwrap()]).failed();
    assert!(
        ran.stderr.contains(&format!(
            "item.csv: {} bytes, the manifest says {len}",
            len - 10
        )),
        "{}",
        ran.stderr
    );

    // A record removed, with the manifest and SHA256SUMS rewritten to match the file:
    // only the record count gives it away.
    let miscounted = copy_dump(&dump, &work, "miscounted");
    let file = miscounted.join("item.csv");
    let text = fs::read_to_string(&file).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    fs::write(&file, format!("{}\n", kept[..kept.len() - 1].join("\n"))).unwrap();
    let (new_sha, new_len) = (sha256(&file), fs::metadata(&file).unwrap().len());
    let mpath = miscounted.join("migration_manifest.json");
    let mut m: Value = serde_json::from_slice(&fs::read(&mpath).unwrap()).unwrap();
    let shrunk = fs::metadata(dump.join("item.csv")).unwrap().len() - new_len;
    let total = m["totals"]["bytes"].as_u64().unwrap();
    m["totals"]["bytes"] = (total - shrunk).into();
    for t in m["tables"].as_array_mut().unwrap() {
        if t["name"] == "item" {
            t["sha256"] = new_sha.clone().into();
            t["bytes"] = new_len.into();
            t["files"][0]["sha256"] = new_sha.clone().into();
            t["files"][0]["bytes"] = new_len.into();
        }
    }
    fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let sums = fs::read_to_string(miscounted.join("SHA256SUMS")).unwrap();
    let sums: String = sums
        .lines()
        .map(|l| {
            if l.ends_with("  item.csv") {
                format!("{new_sha}  item.csv\n")
            } else if l.ends_with("  migration_manifest.json") {
                format!("{}  migration_manifest.json\n", sha256(&mpath))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(miscounted.join("SHA256SUMS"), sums).unwrap();
    let ran = verify(&work, &[miscounted.to_str().unwrap()]).failed();
    assert!(
        ran.stderr
            .contains("item.csv: 49 CSV records, the manifest says 50 rows"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("sha256 is"), "{}", ran.stderr);

    // An edited manifest is named, and the run fails as a finding, not a crash.
    let edited_manifest = copy_dump(&dump, &work, "edited_manifest");
    let mpath = edited_manifest.join("migration_manifest.json");
    let text = fs::read_to_string(&mpath).unwrap();
    fs::write(&mpath, text.replacen("\"rows\": 50", "\"rows\": 51", 1)).unwrap();
    let ran = verify(&work, &[edited_manifest.to_str().unwrap()]).failed();
    assert!(
        ran.stderr.contains("migration_manifest.json"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.code, Some(1));
    assert_eq!(last_verify(&work).last().unwrap().0, "failed");

    // --json: one document on stdout; --quiet: silence when all is well.
    let ran = verify(&work, &[d, "--json", "--quiet"]).ok();
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(doc["mode"], "offline");
    assert_eq!(doc["equal"], true);
    assert_eq!(doc["tables"].as_array().unwrap().len(), 3);
}

/// The changes a test makes to a copy of `item`, and what verify must say about them.
struct Changes<'a> {
    expected: &'a str,
    found: &'a str,
}

impl Changes<'_> {
    fn assert_found(&self, stderr: &str, changed: (i32, &str, &str), missing: &str, extra: &str) {
        let (id, from, to) = changed;
        let line = format!(
            "table `item`, id={id}, column `name`: {} has \"{from}\", {} has \"{to}\"",
            self.expected, self.found
        );
        assert!(stderr.contains(&line), "want {line}\n{stderr}");
        assert!(
            stderr.contains(&format!("row(s) missing in {}: {missing}", self.found)),
            "missing {missing}\n{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "row(s) in {} that {} does not have: {extra}",
                self.found, self.expected
            )),
            "extra {extra}\n{stderr}"
        );
    }
}

#[test]
fn dump_against_target_finds_each_change_by_key() {
    let db = shop();
    let pg = PgDb::new("vtarget");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    work.import(&pg, &dump, &["--create-schema", "--verify"])
        .ok();
    let (d, url) = (dump.to_str().unwrap(), pg.url_text());
    let ran = verify(&work, &[d, "--target", &url]).ok();
    assert!(ran.stderr.contains("every value equal"), "{}", ran.stderr);
    // --target alone takes the URL from .env, as the runbook's wrapper does.
    fs::write(work.path().join(".env"), format!("WAYBILL_TARGET={url}\n")).unwrap();
    let ran = verify(&work, &[d, "--target"]).ok();
    assert!(ran.stderr.contains("every value equal"), "{}", ran.stderr);
    fs::remove_file(work.path().join(".env")).unwrap();

    pg.exec(
        "UPDATE item SET name = 'changed' WHERE id = 7; DELETE FROM item WHERE id = 8; \
         INSERT INTO item (id, name) VALUES (1000, 'new'); \
         DELETE FROM tag WHERE item_id = 1 AND tag = 'b'; \
         DELETE FROM log WHERE ctid = (SELECT ctid FROM log WHERE msg = 'x' LIMIT 1)",
    );
    let ran = verify(&work, &[d, "--target", &url, "--json"]).failed();
    Changes {
        expected: "the dump",
        found: "the target",
    }
    .assert_found(&ran.stderr, (7, "item 7", "changed"), "id=8", "id=1000");
    assert!(
        ran.stderr
            .contains("table `tag`: 1 row(s) missing in the target: (item_id=1, tag=b)"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("table `log`: 1 row(s) missing in the target: row (msg=x, n=1)"),
        "{}",
        ran.stderr
    );
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(doc["mode"], "dump_target");
    assert_eq!(doc["equal"], false);
    let item = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "item")
        .unwrap();
    assert_eq!(
        (
            &item["rows"],
            &item["equal"],
            &item["different"],
            &item["missing"],
            &item["extra"]
        ),
        (
            &Value::from(50),
            &Value::from(48),
            &Value::from(1),
            &Value::from(1),
            &Value::from(1)
        )
    );
    assert_eq!(item["differences"][0]["key"], "id=7");
    let ev = last_verify(&work);
    assert_eq!(ev.first().unwrap().0, "started");
    let last = ev.last().unwrap();
    assert_eq!(last.0, "failed");
    assert!(
        last.1.contains("3 of 3 table(s) differ (item, log, tag)"),
        "{}",
        last.1
    );
    // --tables and --exclude narrow the comparison like the import's.
    verify(&work, &[d, "--target", &url, "--tables", "item"]).failed();
    let ran = verify(
        &work,
        &[d, "--target", &url, "--exclude", "^(item|tag|log)$"],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
}

#[test]
fn dump_against_source_tells_what_was_written_since() {
    let db = shop();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let (d, src) = (dump.to_str().unwrap(), db.url_text());
    let ran = verify(&work, &[d, "--source", &src]).ok();
    assert!(ran.stderr.contains("every value equal"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("source read in one snapshot: consistent"),
        "{}",
        ran.stderr
    );

    db.exec(&[
        "UPDATE item SET name = 'changed' WHERE id = 7",
        "DELETE FROM item WHERE id = 8",
        "INSERT INTO item (id, name) VALUES (1000, 'new')",
    ]);
    let ran = verify(&work, &[d, "--source", &src]).failed();
    Changes {
        expected: "the dump",
        found: "the source",
    }
    .assert_found(&ran.stderr, (7, "item 7", "changed"), "id=8", "id=1000");
    assert_eq!(
        summary_row(&ran.stderr, "tag"),
        ["3", "3", "0", "0", "0", "equal"]
    );
    assert_eq!(
        summary_row(&ran.stderr, "item"),
        ["50", "48", "1", "1", "1", "DIFFERENT"]
    );
}

#[test]
fn source_against_target_finds_changes_on_either_side() {
    let db = shop();
    let pg = PgDb::new("vlive");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    work.import(&pg, &dump, &["--create-schema"]).ok();
    let (src, url) = (db.url_text(), pg.url_text());
    let ran = verify(&work, &["--source", &src, "--target", &url]).ok();
    assert!(ran.stderr.contains("every value equal"), "{}", ran.stderr);

    // On the source: one changed, one deleted, one added; the same on the target.
    db.exec(&[
        "UPDATE item SET name = 'src change' WHERE id = 7",
        "DELETE FROM item WHERE id = 8",
        "INSERT INTO item (id, name) VALUES (1000, 'src new')",
    ]);
    pg.exec(
        "UPDATE item SET name = 'tgt change' WHERE id = 9; DELETE FROM item WHERE id = 10; \
         INSERT INTO item (id, name) VALUES (2000, 'tgt new')",
    );
    let ran = verify(&work, &["--source", &src, "--target", &url, "--json"]).failed();
    let changes = Changes {
        expected: "the source",
        found: "the target",
    };
    changes.assert_found(
        &ran.stderr,
        (7, "src change", "item 7"),
        "id=10; id=1000",
        "id=2000; id=8",
    );
    assert!(
        ran.stderr.contains(
            "table `item`, id=9, column `name`: the source has \"item 9\", the target has \"tgt change\""
        ),
        "{}",
        ran.stderr
    );
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(doc["mode"], "source_target");
    let item = &doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "item")
        .unwrap()
        .clone();
    assert_eq!(item["different"], 2);
    assert_eq!(item["missing"], 2);
    assert_eq!(item["extra"], 2);
    assert_eq!(item["equal"], 46);
}

#[test]
fn modes_and_names_are_checked() {
    let work = Work::new();
    let ran = verify(&work, &[]).failed();
    assert!(ran.stderr.contains("nothing to compare"), "{}", ran.stderr);
    let ran = verify(&work, &["--target", "not-a-url"]).failed();
    assert!(
        ran.stderr.contains("is not a connection URL"),
        "{}",
        ran.stderr
    );
    let ran = verify(&work, &["/no/such/dump"]).failed();
    assert!(ran.stderr.contains("does not exist"), "{}", ran.stderr);
}

fn sakila_pg() -> PgDb {
    let pg = PgDb::new("vsakila");
    pg.exec(include_str!("fixtures/sakila_postgres.sql"));
    pg
}

#[test]
fn sakila_is_verified_value_by_value_in_every_mode() {
    let url = ensure_sakila();
    let src = url_text(&url);
    let work = Work::new();
    let dump = work.export_url(&src, &[]);
    let d = dump.to_str().unwrap();
    let equal = |ran: Ran| {
        assert!(
            ran.stderr
                .contains("16 table(s), 47273 rows, every value equal"),
            "{}",
            ran.stderr
        );
    };

    // The hand-written schema, and one created from the manifest.
    let handwritten = sakila_pg();
    let created = PgDb::new("vsakila_created");
    let ran = work.import(&handwritten, &dump, &["--verify"]).ok();
    assert!(
        ran.stderr
            .contains("verified: 47,273 rows read back before COMMIT, every value equal"),
        "{}",
        ran.stderr
    );
    work.import(&created, &dump, &["--create-schema", "--verify"])
        .ok();

    equal(verify(&work, &[d]).ok());
    equal(verify(&work, &[d, "--source", &src]).ok());
    for pg in [&handwritten, &created] {
        let t = pg.url_text();
        equal(verify(&work, &[d, "--target", &t]).ok());
        equal(verify(&work, &["--source", &src, "--target", &t]).ok());
    }
    assert_sakila_values(&handwritten, &url);
}

#[test]
fn a_sqlite_source_is_verified_in_every_mode() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets/chinook/Chinook_Sqlite.sqlite");
    assert!(shared.is_file(), "Chinook is missing: {}", shared.display());
    let work = Work::new();
    let file = work.path().join("Chinook_Sqlite.sqlite");
    fs::copy(&shared, &file).unwrap();
    let src = format!("sqlite://{}", file.display());
    let dump = work.export_url(&src, &[]);
    let d = dump.to_str().unwrap();
    let pg = PgDb::new("vchinook");
    work.import(&pg, &dump, &["--create-schema", "--verify"])
        .ok();
    let url = pg.url_text();
    for args in [
        vec![d],
        vec![d, "--source", src.as_str()],
        vec![d, "--target", url.as_str()],
        vec!["--source", src.as_str(), "--target", url.as_str()],
    ] {
        let ran = verify(&work, &args).ok();
        assert!(
            ran.stderr
                .contains("11 table(s), 15607 rows, every value equal"),
            "{args:?}: {}",
            ran.stderr
        );
    }
    pg.exec("UPDATE \"Track\" SET \"UnitPrice\" = 1.98 WHERE \"TrackId\" = 3");
    let ran = verify(&work, &["--source", &src, "--target", &url]).failed();
    assert!(
        ran.stderr.contains(
            "table `Track`, TrackId=3, column `UnitPrice`: the source has \"0.99\", the target has \"1.98\""
        ),
        "{}",
        ran.stderr
    );
}
