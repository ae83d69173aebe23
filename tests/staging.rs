//! `--create-schema` into a new schema on several connections (issue 13): the tables are
//! created and loaded in a staging schema (`waybill_stage_<txid>`), the files of one
//! large table on several connections at once, and the staging schema is renamed to the
//! target's name when the anchor transaction commits. The schema appears whole or not at
//! all: a failure, a signal or a killed client leaves no target schema, and the staging
//! schema is dropped then or by the next import.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The staging schemas in `pg` now.
fn stages(pg: &PgDb) -> Vec<String> {
    pg.client()
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'waybill\\_stage\\_%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn schema_exists(pg: &PgDb, schema: &str) -> bool {
    pg.text(&format!(
        "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = '{schema}')::text"
    ))
    .as_deref()
        == Some("true")
}

/// `big`'s 600,000 rows in files of about 100,000 (chunks of the key range).
fn chunked_dump(work: &Work, db: &MyDb) -> std::path::PathBuf {
    let dump = work.export(db, &["--chunk-rows", "100000"]);
    let m = manifest(&dump);
    let files = table(&m, "big")["files"].as_array().unwrap().len();
    assert!(files >= 5, "{files} files");
    dump
}

fn spawn_import(work: &Work, pg: &PgDb, dump: &Path, extra: &[&str]) -> Child {
    work.command("waybill-import")
        .args(["--target", &pg.url_text(), "--create-schema"])
        .args(extra)
        .arg(dump)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The number of import backends running a COPY into the staging schema's `big` now.
fn copies_into_big(c: &mut postgres::Client, db: &str) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
         AND application_name LIKE 'waybill-import%' AND query LIKE 'COPY %waybill_stage_%big%'",
        &[&db],
    )
    .unwrap()
    .get(0)
}

/// Every value of `big` in MariaDB and in `schema`.big of PostgreSQL, as one digest.
fn assert_big_equal(db: &MyDb, pg: &PgDb, schema: &str) {
    use mysql::prelude::Queryable;
    let mut my = db.conn();
    // group_concat must hold 600,000 rows of text for the digest.
    my.query_drop("SET SESSION group_concat_max_len = 1073741824")
        .unwrap();
    let mine: (i64, String) = my
        .query_first(
            "SELECT COUNT(*), MD5(GROUP_CONCAT(CONCAT_WS('|', id, pad, n) ORDER BY id SEPARATOR ';')) \
             FROM big",
        )
        .unwrap()
        .unwrap();
    let row = pg
        .client()
        .query_one(
            &format!(
                "SELECT count(*), md5(string_agg(concat_ws('|', id, pad, n), ';' ORDER BY id)) \
                 FROM \"{schema}\".big"
            ),
            &[],
        )
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, String>(1)), mine);
}

#[test]
fn one_large_table_loads_on_several_connections_through_a_staging_schema() {
    let db = big_db();
    let work = Work::new();
    let dump = chunked_dump(&work, &db);
    let pg = PgDb::new("stage_par");
    let mut child = spawn_import(&work, &pg, &dump, &["--schema", "app", "--jobs", "2"]);
    let mut watch = pg.client();
    let mut most = 0;
    while child.try_wait().unwrap().is_none() {
        most = most.max(copies_into_big(&mut watch, &pg.name));
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(most, 2, "two connections copy files of big at once");
    assert_big_equal(&db, &pg, "app");
    assert_eq!(stages(&pg), Vec::<String>::new());
    // The key and the sequence as the one-transaction load makes them.
    assert_eq!(
        pg.text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'app.big'::regclass AND contype = 'p'"
        )
        .as_deref(),
        Some("PRIMARY KEY (id)")
    );
    let log = std::fs::read_dir(&dump)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("import_log_"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .next()
        .unwrap();
    assert!(
        log.contains("all or nothing through the staging schema \"waybill_stage_"),
        "{log}"
    );
    assert!(log.contains("RENAME TO \"app\""), "{log}");

    // The same dump in one transaction (--jobs 1) gives the same schema and values.
    work.import(
        &pg,
        &dump,
        &["--create-schema", "--schema", "one", "--jobs", "1"],
    )
    .ok();
    assert_big_equal(&db, &pg, "one");
    let shape = |schema: &str| {
        pg.text(&format!(
            "SELECT string_agg(c.relname || ':' || c.relkind::text || ':' || \
             coalesce(pg_get_indexdef(i.indexrelid), ''), ',' ORDER BY c.relname) \
             FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid \
             WHERE c.relnamespace = '{schema}'::regnamespace"
        ))
        .unwrap()
        .replace(&format!("{schema}."), "")
    };
    assert_eq!(shape("app"), shape("one"));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("waybill_stage"),
        "the staging schema is an internal name: {stderr}"
    );
}

#[test]
fn a_failure_after_the_load_leaves_no_schema() {
    let db = big_db();
    // A CHECK the data breaks (MariaDB told not to check it): the import adds it after
    // the load, in the staging schema, and it fails there.
    db.exec(&[
        "SET SESSION check_constraint_checks = 0",
        "ALTER TABLE big ADD CONSTRAINT small_n CHECK (n < 4000000)",
    ]);
    let work = Work::new();
    let dump = chunked_dump(&work, &db);
    let pg = PgDb::new("stage_fail");
    let ran = work
        .import(&pg, &dump, &["--create-schema", "--schema", "app"])
        .failed();
    assert!(ran.stderr.contains("small_n"), "{}", ran.stderr);
    assert!(!schema_exists(&pg, "app"));
    assert_eq!(stages(&pg), Vec::<String>::new());
    let statuses = last_run_statuses(&work, "import");
    assert_eq!(
        statuses[statuses.len() - 2..],
        ["rolled_back".to_string(), "failed".to_string()]
    );
}

#[test]
fn a_killed_import_leaves_a_staging_schema_the_next_one_drops() {
    let db = big_db();
    let work = Work::new();
    let dump = chunked_dump(&work, &db);
    let pg = PgDb::new("stage_kill");
    let mut child = spawn_import(&work, &pg, &dump, &["--schema", "app"]);
    let mut watch = pg.client();
    let start = Instant::now();
    while copies_into_big(&mut watch, &pg.name) == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended first"
        );
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The server notices the dead connections and rolls their work back; the files
    // already committed stay in the staging schema, which is not the target.
    wait_for("the import's backends to end", || {
        (watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                 AND application_name LIKE 'waybill-import%'",
                &[&pg.name],
            )
            .unwrap()
            .get::<_, i64>(0)
            == 0)
            .then_some(())
    });
    assert!(!schema_exists(&pg, "app"));
    let left = stages(&pg);
    assert_eq!(left.len(), 1, "{left:?}");
    // A dry run says what it would do; the import drops it, then loads.
    let dry = work
        .import(
            &pg,
            &dump,
            &["--create-schema", "--schema", "app", "--dry-run"],
        )
        .ok();
    assert!(
        dry.stderr.contains(&format!(
            "the staging schema {} was left by an interrupted waybill-import --create-schema",
            left[0]
        )),
        "{}",
        dry.stderr
    );
    assert_eq!(stages(&pg), left);
    let ran = work
        .import(&pg, &dump, &["--create-schema", "--schema", "app"])
        .ok();
    assert!(
        ran.stderr
            .contains(&format!("dropped the staging schema {}", left[0])),
        "{}",
        ran.stderr
    );
    assert_eq!(stages(&pg), Vec::<String>::new());
    assert_eq!(pg.count("app.big"), 600_000);
}
