//! Accounts with fewer rights: a MySQL user without RELOAD (no global read lock) still
//! gets a consistent export; a PostgreSQL role that may not set session_replication_role
//! loads parents first, and a foreign-key cycle is refused before any write.

mod common;

use common::*;
use mysql::prelude::Queryable;

const SECRET: &str = "S3cr3t-pw_zq81";

#[test]
fn mysql_user_without_reload_falls_back_to_one_transaction() {
    let db = MyDb::new("noreload");
    db.exec(&[
        "CREATE TABLE a (id INT PRIMARY KEY)",
        "CREATE TABLE b (id INT PRIMARY KEY)",
        "INSERT INTO a VALUES (1), (2)",
    ]);
    let user = format!("{}_u", db.name);
    let mut root = db.conn();
    root.query_drop(format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{SECRET}'"))
        .unwrap();
    root.query_drop(format!(
        "GRANT SELECT, SHOW VIEW ON `{}`.* TO '{user}'@'%'",
        db.name
    ))
    .unwrap();
    let url = format!(
        "mysql://{user}:{SECRET}@{}:{}/{}",
        db.url.host, db.url.port, db.name
    );
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
        "{user}@{}:{}/{}",
        db.url.host, db.url.port, db.name
    )));
    root.query_drop(format!("DROP USER '{user}'@'%'")).unwrap();
}

fn limited_role(pg: &PgDb) -> (String, String) {
    let role = format!("{}_r", pg.name);
    pg.exec(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'; GRANT ALL ON DATABASE \"{0}\" TO {role}; \
         GRANT ALL ON SCHEMA public TO {role};",
        pg.name
    ));
    let url = format!(
        "postgresql://{role}:{SECRET}@{}:{}/{}",
        pg.url.host, pg.url.port, pg.name
    );
    (role, url)
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
    let (role, url) = limited_role(&pg);
    let mut c = waybill::dburl::DbUrl::parse(waybill::dburl::Engine::Postgres, &url, "t")
        .unwrap()
        .postgres_config("t")
        .connect(postgres::NoTls)
        .unwrap();
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
    drop(c);
    pg.exec(&format!("DROP OWNED BY {role}; DROP ROLE {role}"));
}

#[test]
fn foreign_key_cycle_without_replica_is_refused_before_writing() {
    let url = ensure_sakila();
    let pg = PgDb::new("cycle");
    let (role, pg_url) = limited_role(&pg);
    let mut c = waybill::dburl::DbUrl::parse(waybill::dburl::Engine::Postgres, &pg_url, "t")
        .unwrap()
        .postgres_config("t")
        .connect(postgres::NoTls)
        .unwrap();
    c.batch_execute(include_str!("fixtures/sakila_postgres.sql"))
        .unwrap();
    c.batch_execute("INSERT INTO language (name) VALUES ('kept')")
        .unwrap();
    let work = Work::new();
    let dump = work.export_url(&url_text(&url), &[]);
    let ran = work
        .run(
            "waybill-import",
            &["--target", &pg_url, dump.to_str().unwrap()],
        )
        .failed();
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
    assert_eq!(pg.count("language"), 1, "nothing written");
    drop(c);
    pg.exec(&format!("DROP OWNED BY {role}; DROP ROLE {role}"));
}
