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

/// Every file under `dir` (the audit log, the dumps, the import's side files), except
/// the `.env` the test wrote itself.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if p.file_name().is_some_and(|n| n != ".env") {
            out.push(p);
        }
    }
    out
}

/// The wrong password appears in no output and no file the runs wrote.
fn assert_never_shown(work: &Work, runs: &[&Ran]) {
    for r in runs {
        assert!(!r.all().contains(WRONG), "leaked: {}", r.all());
    }
    for f in files_under(work.path()) {
        let bytes = fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(WRONG),
            "leaked into {}",
            f.display()
        );
    }
}

#[test]
fn secrets_never_appear_in_output() {
    let db = small_db();
    let pg = PgDb::new("secrets");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY)");
    let work = Work::new();
    let run = |bin: &str, args: &[&str], envs: &[(&str, &str)]| {
        let mut c = work.command(bin);
        c.args(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        Ran {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    };
    // Each wrong password reaches the real server and fails authentication there.
    let (u, p) = (&db.url, &pg.url);
    let my_wrong = format!(
        "mysql://{}:{WRONG}@{}:{}/{}",
        u.user, u.host, u.port, db.name
    );
    let my_nopw = format!("mysql://{}@{}:{}/{}", u.user, u.host, u.port, db.name);
    let my_port = u.port.to_string();
    let exports = [
        run("waybill-export", &["--source", &my_wrong], &[]),
        run("waybill-export", &[], &[("WAYBILL_SOURCE", &my_wrong)]),
        run(
            "waybill-export",
            &["--source", &my_nopw],
            &[("MYSQL_PASSWORD", WRONG)],
        ),
        run(
            "waybill-export",
            &[],
            &[
                ("MYSQL_HOST", &u.host),
                ("MYSQL_PORT", &my_port),
                ("MYSQL_USER", &u.user),
                ("MYSQL_PASSWORD", WRONG),
                ("MYSQL_DATABASE", &db.name),
            ],
        ),
    ];
    for r in &exports {
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("connecting to MySQL/MariaDB {}", db.url))
                && r.stderr.contains("Access denied for user")
                && r.stderr.contains("(using password: YES)"),
            "{}",
            r.stderr
        );
    }

    let dump = work.export(&db, &[]);
    let dump = dump.to_str().unwrap();
    let pg_wrong = format!(
        "postgresql://{}:{WRONG}@{}:{}/{}",
        p.user, p.host, p.port, pg.name
    );
    let pg_nopw = format!("postgresql://{}@{}:{}/{}", p.user, p.host, p.port, pg.name);
    let pg_port = p.port.to_string();
    let imports = [
        run("waybill-import", &["--target", &pg_wrong, dump], &[]),
        run("waybill-import", &[dump], &[("WAYBILL_TARGET", &pg_wrong)]),
        run(
            "waybill-import",
            &["--target", &pg_nopw, dump],
            &[("POSTGRES_PASSWORD", WRONG)],
        ),
        run(
            "waybill-import",
            &[dump],
            &[
                ("POSTGRES_HOST", &p.host),
                ("POSTGRES_PORT", &pg_port),
                ("POSTGRES_USER", &p.user),
                ("POSTGRES_PASSWORD", WRONG),
                ("POSTGRES_DATABASE", &pg.name),
            ],
        ),
    ];
    for r in &imports {
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("connecting to PostgreSQL {}", pg.url))
                && r.stderr.contains(&format!(
                    "password authentication failed for user \"{}\"",
                    p.user
                )),
            "{}",
            r.stderr
        );
    }
    assert_eq!(pg.count("t"), 0);
    // Each import got as far as its own log next to the dump.
    let side_logs = files_under(std::path::Path::new(dump))
        .iter()
        .filter(|f| f.to_string_lossy().contains("import_log_"))
        .count();
    assert!(side_logs >= 1, "the imports wrote their logs");

    // Settings that do not even parse are not echoed either.
    let unparsable = [
        work.run(
            "waybill-export",
            &["--source", &format!("mysql://u:{WRONG}@h")],
        ),
        work.run(
            "waybill-export",
            &["--source", &format!("ftp://u:{WRONG}@h/db")],
        ),
    ];
    for r in &unparsable {
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(r.stderr.contains("error: --source"), "{}", r.stderr);
    }
    let all: Vec<&Ran> = exports.iter().chain(&imports).chain(&unparsable).collect();
    assert_never_shown(&work, &all);
    let audit = fs::read_to_string(work.audit_log()).unwrap();
    assert!(
        audit
            .lines()
            .filter(|l| l.contains("\"status\":\"failed\""))
            .count()
            >= 8,
        "every failed run is in the audit log: {audit}"
    );

    // --help never shows env values; a broken .env line is not echoed.
    let help = work
        .command("waybill-export")
        .arg("--help")
        .env("WAYBILL_SOURCE", &my_wrong)
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
    // Discrete settings from .env, password included, fail the same way, unshown.
    fs::write(
        work.path().join(".env"),
        format!(
            "MYSQL_HOST={}\nMYSQL_PORT={}\nMYSQL_USER={}\nMYSQL_PASSWORD={WRONG}\nMYSQL_DATABASE={}\n",
            u.host, u.port, u.user, db.name
        ),
    )
    .unwrap();
    let r = work.run("waybill-export", &[]);
    assert!(r.stderr.contains("Access denied for user"), "{}", r.stderr);
    assert_never_shown(&work, &[&r]);
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
