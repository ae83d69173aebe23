//! `waybill-import --resume`: a `--commit per-table` import killed mid-way resumes; the
//! tables it committed are kept only where proven equal to the dump, the rest (and a
//! table tampered with after the crash) is loaded again, and the end equals the source.
//! A progress state of another import, or a corrupted one, is refused with a clear error.

mod common;

use std::fs;
use std::path::Path;
use std::process::Stdio;

use common::*;

const STATE: &str = "import_state.json";

/// A source with three small tables and one large one.
fn source() -> MyDb {
    let db = MyDb::new("resume");
    db.exec(&[
        "CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20))",
        "INSERT INTO parent VALUES (1, 'one'), (2, 'two'), (3, 'three')",
        "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, note VARCHAR(20))",
        "INSERT INTO child VALUES (10, 1, 'a'), (11, 1, 'b'), (12, 2, NULL), (13, 3, 'ä')",
        "CREATE TABLE solo (id INT PRIMARY KEY, v VARCHAR(20))",
        "INSERT INTO solo VALUES (1, 'x'), (2, 'y'), (3, 'z'), (4, ''), (5, NULL)",
        "CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(255), n BIGINT)",
        "INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), 150), seq * 7 FROM seq_1_to_600000",
    ]);
    db
}

fn target(tag: &str) -> PgDb {
    let pg = PgDb::new(tag);
    pg.exec(
        "CREATE TABLE parent (id int PRIMARY KEY, name text);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id), note text);
         CREATE TABLE solo (id int PRIMARY KEY, v text);
         CREATE TABLE big (id int PRIMARY KEY, pad text, n bigint);",
    );
    pg
}

fn state(dump: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&fs::read(dump.join(STATE)).ok()?).ok()
}

/// Every row of a small table on both sides, as text, in key order.
fn rows_equal(db: &MyDb, pg: &PgDb, table: &str, columns: &str) {
    use mysql::prelude::Queryable;
    let sql = format!("SELECT {columns} FROM {table} ORDER BY 1");
    let my: Vec<Vec<Option<String>>> = db
        .conn()
        .query_map(&sql, |row: mysql::Row| {
            (0..row.len())
                .map(|i| row.get::<Option<String>, _>(i).unwrap())
                .collect()
        })
        .unwrap();
    let cols = columns
        .split(", ")
        .map(|c| format!("{c}::text"))
        .collect::<Vec<_>>();
    let pg_rows: Vec<Vec<Option<String>>> = pg
        .client()
        .query(
            &format!("SELECT {} FROM {table} ORDER BY 1", cols.join(", ")),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
        .collect();
    assert!(!my.is_empty());
    assert_eq!(my, pg_rows, "table {table}");
}

/// The large table on both sides: row count, sum and a per-row content hash summed.
fn big_equal(db: &MyDb, pg: &PgDb) {
    use mysql::prelude::Queryable;
    let my: (i64, String, String) = db
        .conn()
        .query_first(
            "SELECT COUNT(*), CAST(SUM(n) AS CHAR), CAST(SUM(CAST(CONV(SUBSTR(MD5(CONCAT(id, ':', pad, \
             ':', n)), 1, 8), 16, 10) AS UNSIGNED)) AS CHAR) FROM big",
        )
        .unwrap()
        .unwrap();
    let row = pg
        .client()
        .query_one(
            "SELECT count(*), sum(n)::text, sum(('x' || substr(md5(id || ':' || pad || ':' || n), \
             1, 8))::bit(32)::bigint)::text FROM big",
            &[],
        )
        .unwrap();
    assert_eq!(my, (row.get(0), row.get(1), row.get(2)));
    assert_eq!(my.0, 600_000);
}

fn xmin(pg: &PgDb, table: &str) -> String {
    pg.text(&format!(
        "SELECT xmin::text FROM {table} ORDER BY id LIMIT 1"
    ))
    .unwrap()
}

#[test]
fn killed_per_table_import_resumes_keeping_what_is_proven_equal() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = target("resume");
    let url = pg.url_text();
    let mut child = work
        .command("waybill-import")
        .args([
            "--target",
            &url,
            dump.to_str().unwrap(),
            "--commit",
            "per-table",
            "--jobs",
            "2",
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed while the large table loads, once the small ones have committed.
    let mut watch = pg.client();
    wait_for(
        "the small tables committed and the COPY of big running",
        || {
            let committed = state(&dump)?["committed"].as_object()?.len();
            let copying = watch
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY%big%' \
                 AND state = 'active'",
                &[&pg.name],
            )
            .unwrap()
            .is_some();
            (committed == 3 && copying).then_some(())
        },
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let s = state(&dump).unwrap();
    assert_eq!(
        s["committed"],
        serde_json::json!({"child": 4, "parent": 3, "solo": 5}),
        "{s}"
    );
    assert_eq!(s["complete"], false);
    assert!(!s.to_string().contains("password"));
    // The killed COPY's transaction is rolled back by the server.
    wait_for("the killed load to roll back", || {
        (watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY%'",
                &[&pg.name],
            )
            .unwrap()
            .get::<_, i64>(0)
            == 0)
            .then_some(())
    });
    assert_eq!(pg.count("big"), 0);

    // After the crash: a value of parent changed (same row count), solo untouched.
    pg.exec("UPDATE parent SET name = 'tampered' WHERE id = 2");
    let solo_xmin = xmin(&pg, "solo");
    let child_xmin = xmin(&pg, "child");

    let ran = work
        .import(
            &pg,
            &dump,
            &["--commit", "per-table", "--jobs", "2", "--resume"],
        )
        .ok();
    assert!(
        ran.stderr
            .contains("--resume: an earlier run committed 3 table(s)"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("solo: kept (proven equal)"),
        "{}",
        ran.stderr
    );
    let summary_line = ran
        .stderr
        .lines()
        .find(|l| l.starts_with("solo "))
        .unwrap_or_default();
    assert!(
        summary_line.contains("kept (proven equal)"),
        "{}",
        ran.stderr
    );

    // Every table equals the source.
    rows_equal(&db, &pg, "parent", "id, name");
    rows_equal(&db, &pg, "child", "id, parent_id, note");
    rows_equal(&db, &pg, "solo", "id, v");
    big_equal(&db, &pg);
    // solo was not written again; child was (its parent was reloaded, and the TRUNCATE
    // ... CASCADE of parent reaches it).
    assert_eq!(xmin(&pg, "solo"), solo_xmin);
    assert_ne!(xmin(&pg, "child"), child_xmin);

    // The audit trail: the resumed run is a run of its own, with what it kept and why
    // it loaded the others again.
    let events = audit_events(&work);
    let run = events.last().unwrap()["run_id"].clone();
    let of_run: Vec<&serde_json::Value> = events.iter().filter(|e| e["run_id"] == run).collect();
    assert_eq!(of_run[0]["status"], "started");
    assert!(
        of_run[0]["message"].as_str().unwrap().ends_with("started")
            && of_run[0]["message"]
                .as_str()
                .unwrap()
                .contains("(--resume)")
    );
    let about = |table: &str| -> Vec<String> {
        of_run
            .iter()
            .filter(|e| e["table"] == table)
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    };
    let solo = about("solo");
    assert_eq!(solo.len(), 1, "{solo:?}");
    assert!(solo[0].starts_with("kept (proven equal)"), "{solo:?}");
    let parent = about("parent");
    assert!(
        parent[0].starts_with(
            "loaded again (--resume): its contents differ from the dump (1 row(s) different"
        ),
        "{parent:?}"
    );
    assert!(parent[1].starts_with("table loaded"), "{parent:?}");
    let child = about("child");
    assert!(
        child[0].starts_with("loaded again (--resume): its foreign keys lead to a table"),
        "{child:?}"
    );
    let big = about("big");
    assert_eq!(
        big[0],
        "loaded again (--resume): the earlier run did not commit it"
    );
    let done = of_run.last().unwrap();
    assert_eq!(done["status"], "completed");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("3 tables, 600007 rows, 1 table(s) kept from an earlier run"),
        "{done}"
    );
    let s = state(&dump).unwrap();
    assert_eq!(s["complete"], true);
    assert_eq!(s["committed"].as_object().unwrap().len(), 4);
    // waybill.applied: the resumed load is complete.
    assert_eq!(
        pg.text("SELECT string_agg(complete::text, ',' ORDER BY id) FROM waybill.applied")
            .as_deref(),
        Some("false,true")
    );
}

fn small_dump(work: &Work) -> (MyDb, std::path::PathBuf) {
    let db = MyDb::new("resume_small");
    db.exec(&[
        "CREATE TABLE solo (id INT PRIMARY KEY, v VARCHAR(20))",
        "INSERT INTO solo VALUES (1, 'x'), (2, 'y')",
    ]);
    let dump = work.export(&db, &[]);
    (db, dump)
}

#[test]
fn resume_refuses_another_imports_state_and_a_corrupted_one() {
    let work = Work::new();
    let (db, dump) = small_dump(&work);
    let pg = PgDb::new("resume_refuse");
    pg.exec("CREATE TABLE solo (id int PRIMARY KEY, v text)");
    work.import(&pg, &dump, &["--commit", "per-table"]).ok();
    let good = fs::read_to_string(dump.join(STATE)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    assert_eq!(v["complete"], true);
    assert_eq!(v["schema"], "public");
    assert_eq!(v["target"], pg.url.redacted());
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "format",
            "manifest_sha256",
            "target",
            "schema",
            "committed",
            "complete"
        ]
    );

    // Another dump's state (another manifest).
    v["manifest_sha256"] = "0".repeat(64).into();
    fs::write(dump.join(STATE), v.to_string()).unwrap();
    let ran = work
        .import(&pg, &dump, &["--commit", "per-table", "--resume"])
        .failed();
    assert!(
        ran.stderr.contains(&format!(
            "{} belongs to another import: manifest sha256 {}",
            dump.join(STATE).display(),
            "0".repeat(64)
        )),
        "{}",
        ran.stderr
    );
    // Another target.
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["target"] = "someone@elsewhere:5432/other".into();
    fs::write(dump.join(STATE), v.to_string()).unwrap();
    let ran = work
        .import(&pg, &dump, &["--commit", "per-table", "--resume"])
        .failed();
    assert!(
        ran.stderr
            .contains("belongs to another import: target someone@elsewhere:5432/other"),
        "{}",
        ran.stderr
    );

    // Corrupted, a table the dump lacks, a link: clear errors, no panic.
    let cases: [(&str, &str); 3] = [
        (
            "{\"format\": 1, \"committed\": ",
            "is not a valid import state (EOF while parsing",
        ),
        (
            &good.replace("\"solo\"", "\"nope\""),
            "is not a valid import state (it names a table `nope` that the dump does not have)",
        ),
        ("[1, 2]", "is not a valid import state (invalid type"),
    ];
    for (text, expected) in cases {
        fs::write(dump.join(STATE), text).unwrap();
        let ran = work
            .import(&pg, &dump, &["--commit", "per-table", "--resume"])
            .failed();
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        assert!(ran.stderr.contains(expected), "{expected}\n{}", ran.stderr);
        assert!(ran.stderr.contains("remove it to load every table again"));
        assert!(!ran.stderr.contains("panicked"));
    }
    fs::remove_file(dump.join(STATE)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dump.join(STATE)).unwrap();
    let ran = work
        .import(&pg, &dump, &["--commit", "per-table", "--resume"])
        .failed();
    assert!(ran.stderr.contains("is a symbolic link"), "{}", ran.stderr);

    let ran = work.import(&pg, &dump, &["--resume", "--dry-run"]).failed();
    assert!(
        ran.stderr
            .contains("the argument '--resume' cannot be used with '--dry-run'"),
        "{}",
        ran.stderr
    );

    // The default --commit all: nothing of an interrupted run was committed.
    fs::remove_file(dump.join(STATE)).unwrap();
    let ran = work.import(&pg, &dump, &["--resume"]).ok();
    assert!(
        ran.stderr.contains(
            "--resume with --commit all: an interrupted run of it committed nothing (one \
             transaction), so every table is loaded"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(pg.count("solo"), 2);
    drop(db);
}
