//! Encrypted connections against the dev servers' throwaway CA. The `waybill_tls`
//! accounts may only connect over TLS, so a successful run proves the link was
//! encrypted; the verify modes must refuse a certificate from another CA.

mod common;

use std::path::PathBuf;

use common::*;

fn ca() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("WAYBILL_TEST_TLS_CA")
            .unwrap_or_else(|_| "/tmp/waybill-dev/tls/ca.pem".into()),
    );
    assert!(p.is_file(), "no test CA at {}: {HOW_TO_START}", p.display());
    p
}

fn other_ca() -> PathBuf {
    ca().with_file_name("other-ca.pem")
}

fn tls_source(db: &MyDb, params: &str) -> String {
    format!(
        "mysql://waybill_tls:waybill_tls@{}:{}/{}{params}",
        db.url.host, db.url.port, db.name
    )
}

fn tls_target(pg: &PgDb, params: &str) -> String {
    format!(
        "postgresql://waybill_tls:waybill_tls@{}:{}/{}{params}",
        pg.url.host, pg.url.port, pg.name
    )
}

fn fixture() -> (MyDb, PgDb) {
    let db = MyDb::new("tls");
    db.exec(&[
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))",
        "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
    ]);
    let pg = PgDb::new("tls");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
    (db, pg)
}

#[test]
fn export_and_import_over_verified_tls() {
    let (db, pg) = fixture();
    let ca = ca();
    let ca = ca.to_str().unwrap();
    let work = Work::new();
    let dump = work.export_url(
        &tls_source(&db, &format!("?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}")),
        &[],
    );
    let m = manifest(&dump);
    assert!(
        m["source"]["tls_cipher"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{}",
        m["source"]
    );
    let url = tls_target(&pg, &format!("?sslmode=verify-full&sslrootcert={ca}"));
    work.run(
        "waybill-import",
        &["--target", &url, dump.to_str().unwrap()],
    )
    .ok();
    assert_eq!(pg.count("t"), 2);
    let log = std::fs::read_dir(&dump)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("import_log_"))
        .unwrap();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("connection: TLS (TLSv1."), "{text}");
}

#[test]
fn each_mode_does_what_it_says() {
    let (db, pg) = fixture();
    let work = Work::new();
    let other = other_ca();
    let other = other.to_str().unwrap();
    let export = |params: &str| {
        work.run(
            "waybill-export",
            &["--source", &tls_source(&db, params), "--out", "out", "-q"],
        )
    };
    // Plain is refused by the TLS-only account; prefer (the default) and require encrypt.
    let r = export("?ssl-mode=DISABLED").failed();
    assert!(r.stderr.contains("Access denied"), "{}", r.stderr);
    export("").ok();
    export("?ssl-mode=REQUIRED").ok();
    // Verification against a CA that did not sign the server certificate fails.
    let r = export(&format!("?ssl-mode=VERIFY_CA&ssl-ca={other}")).failed();
    assert!(
        r.stderr.to_lowercase().contains("certificate") || r.stderr.contains("UnknownIssuer"),
        "{}",
        r.stderr
    );

    let dump = work.export_url(&tls_source(&db, ""), &[]);
    let import = |params: &str| {
        work.run(
            "waybill-import",
            &[
                "--target",
                &tls_target(&pg, params),
                dump.to_str().unwrap(),
                "-q",
            ],
        )
    };
    let r = import("?sslmode=disable").failed();
    assert!(r.stderr.contains("no encryption"), "{}", r.stderr);
    import("").ok();
    import("?sslmode=require").ok();
    let r = import(&format!("?sslmode=verify-full&sslrootcert={other}")).failed();
    assert!(
        r.stderr.to_lowercase().contains("certificate") || r.stderr.contains("UnknownIssuer"),
        "{}",
        r.stderr
    );
    let r = import("?sslmode=sometimes").failed();
    assert!(r.stderr.contains("unknown sslmode value"), "{}", r.stderr);
    assert_eq!(pg.count("t"), 2);
}

#[test]
fn tls_settings_from_the_environment() {
    let (db, pg) = fixture();
    let work = Work::new();
    let ca = ca();
    let run = |bin: &str, args: &[&str], envs: &[(&str, &str)]| {
        let mut c = work.command(bin);
        c.args(args);
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let src = tls_source(&db, "");
    // DISABLED really connects in plain text: the TLS-only account is refused by the
    // server, not by a settings error.
    let o = run(
        "waybill-export",
        &["--source", &src, "--out", "out", "-q"],
        &[("MYSQL_SSL_MODE", "DISABLED")],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("connecting to MySQL/MariaDB") && stderr.contains("Access denied"),
        "MYSQL_SSL_MODE=DISABLED applies to a URL without ssl-mode: {stderr}"
    );
    let o = run(
        "waybill-export",
        &["--source", &src, "--out", "out", "-q"],
        &[
            ("MYSQL_SSL_MODE", "VERIFY_IDENTITY"),
            ("MYSQL_SSL_CA", ca.to_str().unwrap()),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dump = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let dst = tls_target(&pg, "");
    let o = run(
        "waybill-import",
        &["--target", &dst, &dump, "-q"],
        &[("POSTGRES_SSLMODE", "disable")],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("connecting to PostgreSQL") && stderr.contains("no encryption"),
        "POSTGRES_SSLMODE=disable applies to a URL without sslmode: {stderr}"
    );
    let o = run(
        "waybill-import",
        &["--target", &dst, &dump, "-q"],
        &[
            ("POSTGRES_SSLMODE", "verify-full"),
            ("POSTGRES_SSLROOTCERT", ca.to_str().unwrap()),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(pg.count("t"), 2);
}
