//! Accounts with fewer rights: a MySQL user without RELOAD (no global read lock) still
//! gets a consistent export; a PostgreSQL role that may not set session_replication_role
//! loads parents first, and a foreign-key cycle is refused before any write (with --commit per-table too).

mod common;

use common::*;

const SECRET: &str = "S3cr3t-pw_zq81";

#[test]
fn mysql_user_without_reload_falls_back_to_one_transaction() {
    let db = MyDb::new("noreload");
    db.exec(&[
        "CREATE TABLE a (id INT PRIMARY KEY)",
        "CREATE TABLE b (id INT PRIMARY KEY)",
        "INSERT INTO a VALUES (1), (2)",
    ]);
    let user = MyUser::create(
        &db,
        SECRET,
        &[&format!(
            "GRANT SELECT, SHOW VIEW ON `{}`.* TO {{user}}",
            db.name
        )],
    );
    let url = user.url_text(&db);
    let work = Work::new();
    let ran = work
        .run(
            "waybill-export",
            &["--source", &url, "--out", "out", "--jobs", "4"],
        )
        .ok();
    assert!(
        ran.stderr
            .contains("FLUSH TABLES WITH READ LOCK was refused"),
        "{}",
        ran.stderr
    );
    let dump = std::path::PathBuf::from(ran.last_line());
    let m = manifest(&work.path().join(&dump));
    assert_eq!(m["snapshot"]["method"], "single_transaction");
    assert_eq!(m["snapshot"]["consistent"], true);
    assert_eq!(m["options"]["jobs"], 1);
    assert_eq!(table(&m, "a")["rows"], 2);
    // The password is nowhere: output, manifest, audit log.
    let manifest_text =
        std::fs::read_to_string(work.path().join(&dump).join("migration_manifest.json")).unwrap();
    let audit = std::fs::read_to_string(work.audit_log()).unwrap();
    for text in [&ran.stdout, &ran.stderr, &manifest_text, &audit] {
        assert!(!text.contains(SECRET));
    }
    assert!(audit.contains(&format!(
        "{}@{}:{}/{}",
        user.name, db.url.host, db.url.port, db.name
    )));
}

#[test]
fn postgres_role_without_replica_loads_parents_first() {
    let db = MyDb::new("fkorder");
    db.exec(&[
        "CREATE TABLE country (id INT PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE city (id INT PRIMARY KEY, country_id INT, parent_id INT, FOREIGN KEY (country_id) REFERENCES country(id))",
        "INSERT INTO country VALUES (1, 'x'), (2, 'y')",
        "INSERT INTO city VALUES (1, 2, 3), (2, 1, NULL), (3, 1, NULL)",
    ]);
    let pg = PgDb::new("fkorder");
    let role = PgRole::create(&pg, SECRET);
    let url = role.url_text(&pg);
    let mut c = role.client(&pg);
    // A self-reference (city.parent_id) and a child table whose name sorts first.
    c.batch_execute(
        "CREATE TABLE country (id int PRIMARY KEY, name text);
         CREATE TABLE city (id int PRIMARY KEY, country_id int REFERENCES country(id), parent_id int REFERENCES city(id));",
    )
    .unwrap();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let ran = work
        .run(
            "waybill-import",
            &["--target", &url, dump.to_str().unwrap()],
        )
        .ok();
    assert!(
        ran.stderr.contains("cannot SET session_replication_role"),
        "{}",
        ran.stderr
    );
    assert_eq!(pg.count("city"), 3);
    let script = std::fs::read_dir(&dump)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("import_script_")
        })
        .unwrap();
    let sql = std::fs::read_to_string(script).unwrap();
    assert!(
        sql.find("\\copy \"public\".\"country\"").unwrap()
            < sql.find("\\copy \"public\".\"city\"").unwrap()
    );
    assert!(!ran.all().contains(SECRET));
}

#[test]
fn foreign_key_cycle_without_replica_is_refused_before_writing() {
    let url = ensure_sakila();
    let pg = PgDb::new("cycle");
    let role = PgRole::create(&pg, SECRET);
    let pg_url = role.url_text(&pg);
    let mut c = role.client(&pg);
    c.batch_execute(include_str!("fixtures/sakila_postgres.sql"))
        .unwrap();
    c.batch_execute("INSERT INTO language (name) VALUES ('kept')")
        .unwrap();
    let work = Work::new();
    let dump = work.export_url(&url_text(&url), &[]);
    let import = |extra: &[&str]| {
        let mut args = vec!["--target", pg_url.as_str(), dump.to_str().unwrap()];
        args.extend_from_slice(extra);
        work.run("waybill-import", &args).failed()
    };
    let ran = import(&[]);
    assert!(
        ran.stderr.contains("pre-flight check failed"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("form a cycle")
            && ran.stderr.contains("staff")
            && ran.stderr.contains("store"),
        "{}",
        ran.stderr
    );
    assert_no_write(&work, &pg, |pg| {
        assert_eq!(
            pg.text("SELECT string_agg(name, ',') FROM language")
                .as_deref(),
            Some("kept")
        )
    });
    // --commit per-table commits per table, so it needs the replica role outright.
    let ran = import(&["--commit", "per-table", "--jobs", "2"]);
    assert!(
        ran.stderr.contains("pre-flight check failed")
            && ran
                .stderr
                .contains("--commit per-table needs SET session_replication_role = replica"),
        "{}",
        ran.stderr
    );
    assert_no_write(&work, &pg, |pg| {
        assert_eq!(
            pg.text("SELECT string_agg(name, ',') FROM language")
                .as_deref(),
            Some("kept")
        )
    });
}
