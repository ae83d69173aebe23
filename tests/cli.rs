//! Settings and secrets: flags, then env, then `.env`; discrete MYSQL_*/POSTGRES_* vars;
//! and no password in any output, whatever goes wrong.

mod common;

use std::fs;

use common::*;

const WRONG: &str = "Wr0ng-S3cret_77";

fn small_db() -> MyDb {
    let db = MyDb::new("cli");
    db.exec(&[
        "CREATE TABLE t (id INT PRIMARY KEY)",
        "INSERT INTO t VALUES (1)",
    ]);
    db
}

#[test]
fn settings_come_from_flags_then_env_then_dotenv() {
    let db = small_db();
    let good = db.url_text();
    let bad = good.replace(&db.name, "no_such_database");
    assert_ne!(good, bad);
    let work = Work::new();
    let export = |envs: &[(&str, &str)], args: &[&str]| {
        let mut c = work.command("waybill-export");
        c.args(["--out", "out", "-q"]).args(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // env
    assert!(export(&[("WAYBILL_SOURCE", &good)], &[]).0);
    // discrete vars, password from MYSQL_PASSWORD
    let u = &db.url;
    let port = u.port.to_string();
    let discrete = [
        ("MYSQL_HOST", u.host.as_str()),
        ("MYSQL_PORT", port.as_str()),
        ("MYSQL_USER", u.user.as_str()),
        ("MYSQL_PASSWORD", u.password().unwrap()),
        ("MYSQL_DATABASE", db.name.as_str()),
    ];
    assert!(export(&discrete, &[]).0);
    // a URL without password takes MYSQL_PASSWORD
    let no_pw = format!("mysql://{}@{}:{}/{}", u.user, u.host, u.port, db.name);
    assert!(
        export(
            &[("MYSQL_PASSWORD", u.password().unwrap())],
            &["--source", &no_pw]
        )
        .0
    );
    // flag beats env
    assert!(export(&[("WAYBILL_SOURCE", &bad)], &["--source", &good]).0);
    // .env is read, env beats .env
    fs::write(work.path().join(".env"), format!("WAYBILL_SOURCE={good}\n")).unwrap();
    assert!(export(&[], &[]).0);
    fs::write(
        work.path().join(".env"),
        format!("# comment\nWAYBILL_SOURCE={bad}\n"),
    )
    .unwrap();
    let (ok, err) = export(&[], &[]);
    assert!(!ok && err.contains("no_such_database"), "{err}");
    assert!(export(&[("WAYBILL_SOURCE", &good)], &[]).0);
    // the discrete vars in .env
    let lines: String = discrete.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    fs::write(work.path().join(".env"), lines).unwrap();
    assert!(export(&[], &[]).0);
    fs::remove_file(work.path().join(".env")).unwrap();
    let dumps = fs::read_dir(work.path().join("out").join(&db.name))
        .unwrap()
        .count();
    assert_eq!(dumps, 7, "one dump per successful run");
}

#[test]
fn import_reads_postgres_settings_from_dotenv() {
    let db = small_db();
    let pg = PgDb::new("cli");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY)");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let u = &pg.url;
    fs::write(
        work.path().join(".env"),
        format!(
            "POSTGRES_HOST={}\nPOSTGRES_PORT={}\nPOSTGRES_USER={}\nPOSTGRES_PASSWORD={}\nPOSTGRES_DATABASE={}\n",
            u.host,
            u.port,
            u.user,
            u.password().unwrap(),
            pg.name
        ),
    )
    .unwrap();
    work.run("waybill-import", &[dump.to_str().unwrap()]).ok();
    assert_eq!(pg.count("t"), 1);
}

#[test]
fn secrets_never_appear_in_output() {
    let db = small_db();
    let pg = PgDb::new("secrets");
    let work = Work::new();
    let u = &db.url;
    let wrong = format!(
        "mysql://{}:{WRONG}@{}:{}/{}",
        u.user, u.host, u.port, db.name
    );
    let runs = [
        work.run("waybill-export", &["--source", &wrong]),
        work.run(
            "waybill-export",
            &["--source", &format!("mysql://u:{WRONG}@h")],
        ),
        work.run(
            "waybill-export",
            &["--source", &format!("ftp://u:{WRONG}@h/db")],
        ),
        work.run(
            "waybill-import",
            &[
                "--target",
                &format!(
                    "postgresql://{}:{WRONG}@{}:{}/{}",
                    pg.url.user, pg.url.host, pg.url.port, pg.name
                ),
                ".",
            ],
        ),
    ];
    for r in &runs {
        assert_ne!(r.code, Some(0));
        assert!(!r.all().contains(WRONG), "leaked: {}", r.all());
        assert!(r.stderr.contains("error"), "{}", r.stderr);
    }
    assert!(
        runs[0].stderr.contains("Access denied"),
        "{}",
        runs[0].stderr
    );
    let audit = fs::read_to_string(work.audit_log()).unwrap_or_default();
    assert!(!audit.contains(WRONG));

    // --help never shows env values; a broken .env line is not echoed.
    let help = work
        .command("waybill-export")
        .arg("--help")
        .env("WAYBILL_SOURCE", &wrong)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains(WRONG));
    fs::write(
        work.path().join(".env"),
        format!("OK=1\nMYSQL_PASSWORD='{WRONG}\n"),
    )
    .unwrap();
    let r = work.run("waybill-export", &[]);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains(".env") && !r.all().contains(WRONG),
        "{}",
        r.stderr
    );
}

#[test]
fn missing_settings_say_what_to_set() {
    let work = Work::new();
    let r = work.run("waybill-export", &[]).failed();
    assert!(
        r.stderr.contains("WAYBILL_SOURCE") && r.stderr.contains("MYSQL_DATABASE"),
        "{}",
        r.stderr
    );
    let r = work.run("waybill-import", &["somewhere"]).failed();
    assert!(
        r.stderr.contains("WAYBILL_TARGET") && r.stderr.contains("POSTGRES_HOST"),
        "{}",
        r.stderr
    );
}
