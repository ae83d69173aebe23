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

/// Waits for the import to end, sampling every 5 ms how many of its backends COPY into
/// the staging schema's `big` at once; returns its output and the most seen.
fn most_copies_into_big(mut child: Child, pg: &PgDb) -> (std::process::Output, i64) {
    let mut watch = pg.client();
    let mut most = 0;
    while child.try_wait().unwrap().is_none() {
        most = most.max(copies_into_big(&mut watch, &pg.name));
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), most)
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
    let child = spawn_import(&work, &pg, &dump, &["--schema", "app", "--jobs", "2"]);
    let (out, most) = most_copies_into_big(child, &pg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(most, 2, "two connections copy files of big at once");
    assert_big_equal(&db, &pg, "app");
    assert_eq!(staging_schemas(&pg), Vec::<String>::new());
    // The key and the sequence as the one-transaction load makes them.
    assert_eq!(
        pg.text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'app.big'::regclass AND contype = 'p'"
        )
        .as_deref(),
        Some("PRIMARY KEY (id)")
    );
    let log = last_import_log(&dump).join("\n");
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
    assert_eq!(staging_schemas(&pg), Vec::<String>::new());
    assert_rolled_back_then_failed(&work);
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
    let left = staging_schemas(&pg);
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
    assert_eq!(staging_schemas(&pg), left);
    let ran = work
        .import(&pg, &dump, &["--create-schema", "--schema", "app"])
        .ok();
    assert!(
        ran.stderr
            .contains(&format!("dropped the staging schema {}", left[0])),
        "{}",
        ran.stderr
    );
    assert_eq!(staging_schemas(&pg), Vec::<String>::new());
    assert_eq!(pg.count("app.big"), 600_000);
}

/// Relations of a schema with their kind and index definition (schema name left out).
fn shape(pg: &PgDb, schema: &str, except: &[&str]) -> String {
    let skip: Vec<String> = except
        .iter()
        .map(|t| format!("'{t}'"))
        .chain(["''".to_string()])
        .collect();
    pg.text(&format!(
        "SELECT string_agg(c.relname || ':' || c.relkind::text || ':' || \
         coalesce(pg_get_indexdef(i.indexrelid), ''), ',' ORDER BY c.relname) \
         FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid \
         WHERE c.relnamespace = '{schema}'::regnamespace AND c.relname NOT IN ({})",
        skip.join(", ")
    ))
    .unwrap()
    .replace(&format!("{schema}."), "")
}

#[test]
fn into_an_existing_schema_the_tables_move_in_at_the_commit() {
    let db = big_db();
    let work = Work::new();
    let dump = chunked_dump(&work, &db);
    let pg = PgDb::new("stage_exist");
    // `public` exists, with a table of the application's that the import leaves alone,
    // and an old `big` that --drop-existing replaces (`keep` references it).
    pg.exec(
        "CREATE TABLE big (id int PRIMARY KEY, note text);
         INSERT INTO big VALUES (1, 'old');
         CREATE TABLE keep (id int PRIMARY KEY, big_id int REFERENCES big (id));
         INSERT INTO keep VALUES (1, 1), (2, 1), (3, NULL);",
    );
    let child = spawn_import(&work, &pg, &dump, &["--drop-existing", "--jobs", "2"]);
    let (out, most) = most_copies_into_big(child, &pg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(most, 2, "two connections copy files of big at once");
    assert_big_equal(&db, &pg, "public");
    assert_eq!(staging_schemas(&pg), Vec::<String>::new());
    // The application's table is untouched, but for the foreign key to the dropped
    // table, which DROP ... CASCADE removes (as in one transaction).
    assert_eq!(
        pg.text(
            "SELECT string_agg(id || ':' || coalesce(big_id::text, '-'), ',' ORDER BY id) FROM keep"
        )
        .as_deref(),
        Some("1:1,2:1,3:-")
    );
    assert_eq!(
        pg.text("SELECT count(*)::text FROM pg_constraint WHERE conrelid = 'keep'::regclass AND contype = 'f'")
            .as_deref(),
        Some("0")
    );
    let log = last_import_log(&dump).join("\n");
    assert!(
        log.contains("its tables moved into the existing schema \"public\""),
        "{log}"
    );
    assert!(
        log.contains("DROP TABLE \"public\".\"big\" CASCADE"),
        "{log}"
    );
    assert!(log.contains("SET SCHEMA \"public\""), "{log}");
    // The same as one transaction makes it (--jobs 1, another database).
    let one = PgDb::new("stage_exist1");
    work.import(&one, &dump, &["--create-schema", "--jobs", "1"])
        .ok();
    assert!(
        last_import_log(&dump)
            .join("\n")
            .contains("all or nothing in one transaction: --jobs 1"),
        "{}",
        last_import_log(&dump).join("\n")
    );
    assert_eq!(
        shape(&pg, "public", &["keep", "keep_pkey"]),
        shape(&one, "public", &[])
    );
}

#[test]
fn into_an_existing_schema_a_failure_keeps_the_old_tables() {
    // 40,000 rows in several files; a CHECK the data breaks (MariaDB told not to check
    // it), added after the load, in the staging schema.
    let db = MyDb::new("stage_exist_fail");
    db.exec(&[
        "CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(255), n BIGINT)",
        "INSERT INTO big SELECT seq, REPEAT('x', 20), seq * 100 FROM seq_1_to_40000",
        "SET SESSION check_constraint_checks = 0",
        "ALTER TABLE big ADD CONSTRAINT small_n CHECK (n < 4000000)",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &["--chunk-rows", "10000"]);
    let files = table(&manifest(&dump), "big")["files"]
        .as_array()
        .unwrap()
        .len();
    assert!(files >= 2, "{files} file(s)");
    let pg = PgDb::new("stage_exist_fail");
    pg.exec(
        "CREATE TABLE big (id int PRIMARY KEY, note text);
         INSERT INTO big VALUES (1, 'old');
         CREATE TABLE keep (id int PRIMARY KEY, big_id int REFERENCES big (id));
         INSERT INTO keep VALUES (1, 1);",
    );
    let ran = work
        .import(&pg, &dump, &["--create-schema", "--drop-existing"])
        .failed();
    assert!(ran.stderr.contains("small_n"), "{}", ran.stderr);
    assert!(
        last_import_log(&dump)
            .join("\n")
            .contains("its tables moved into the existing schema"),
        "{}",
        last_import_log(&dump).join("\n")
    );
    assert_eq!(
        pg.text("SELECT string_agg(id || ':' || note, ',') FROM big")
            .as_deref(),
        Some("1:old")
    );
    assert_eq!(
        pg.text("SELECT count(*)::text FROM pg_constraint WHERE conrelid = 'keep'::regclass AND contype = 'f'")
            .as_deref(),
        Some("1")
    );
    assert_eq!(staging_schemas(&pg), Vec::<String>::new());
    assert_rolled_back_then_failed(&work);
}

#[test]
fn into_an_existing_schema_on_update_triggers_use_its_own_function() {
    let db = MyDb::new("stage_trig");
    db.exec(&[
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT, \
         changed TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))",
        "INSERT INTO t (v, changed) VALUES (1, '2020-01-01 00:00:00'), (2, '2020-01-01 00:00:00')",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = PgDb::new("stage_trig");
    // Twice: the second finds the function in `public` already (and `t`, replaced).
    for extra in [&[][..], &["--drop-existing"][..]] {
        let mut args = vec!["--create-schema", "--jobs", "2"];
        args.extend_from_slice(extra);
        work.import(&pg, &dump, &args).ok();
        let log = last_import_log(&dump).join("\n");
        assert!(
            log.contains("its tables moved into the existing schema \"public\""),
            "{log}"
        );
        assert_eq!(staging_schemas(&pg), Vec::<String>::new());
        assert_eq!(
            pg.text(
                "SELECT string_agg(p.pronamespace::regnamespace::text, ',') FROM pg_trigger g \
                 JOIN pg_proc p ON p.oid = g.tgfoid WHERE g.tgrelid = 't'::regclass \
                 AND NOT g.tgisinternal"
            )
            .as_deref(),
            Some("public")
        );
        assert_eq!(
            pg.text(
                "SELECT string_agg(id || ':' || v || ':' || extract(epoch FROM changed)::bigint, \
                 ',' ORDER BY id) FROM t"
            )
            .as_deref(),
            Some("1:1:1577836800,2:2:1577836800")
        );
        // The trigger works: an UPDATE moves `changed`, and the identity goes on past 2.
        pg.exec("UPDATE t SET v = 10 WHERE id = 1; INSERT INTO t (v) VALUES (3);");
        assert_eq!(
            pg.text(
                "SELECT string_agg(id || ':' || (changed > '2021-01-01'), ',' ORDER BY id) FROM t"
            )
            .as_deref(),
            Some("1:true,2:false,3:true")
        );
    }
}

#[test]
fn a_role_that_may_not_create_schemas_loads_in_one_transaction() {
    let db = MyDb::new("stage_role");
    db.exec(&[
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))",
        "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = PgDb::new("stage_role");
    let role = PgRole::create(&pg, "stage-role-pw-31");
    // CREATE in `public` (PgRole::create grants it), not CREATE on the database.
    pg.exec(&format!(
        "REVOKE CREATE ON DATABASE \"{}\" FROM {r}; REVOKE CREATE ON DATABASE \"{}\" FROM PUBLIC;",
        pg.name,
        pg.name,
        r = role.name
    ));
    let url = role.url_text(&pg);
    let ran = work.run(
        "waybill-import",
        &[
            "--target",
            &url,
            dump.to_str().unwrap(),
            "--create-schema",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let log = last_import_log(&dump).join("\n");
    assert!(
        log.contains(
            "all or nothing in one transaction: the role may not create schemas in this \
             database (CREATE on the database), and the staging schema is one"
        ),
        "{log}"
    );
    assert_eq!(
        pg.text("SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM t")
            .as_deref(),
        Some("1:a,2:b")
    );
    assert_eq!(staging_schemas(&pg), Vec::<String>::new());
}
