//! Errors a user meets read as sentences that keep the useful detail, never as Rust
//! Debug text: a killed source session, a wrong port, a server of the other kind, an
//! unreadable CA file, a broken `.env` line (named by number, its content never shown).

mod common;

use std::fs;
use std::process::Stdio;

use common::*;
use mysql::prelude::Queryable;

/// No driver's Debug-like wrapping survives into a message.
fn assert_no_debug_text(text: &str) {
    for debug in [
        "DriverError",
        "CodecError",
        "IoError",
        "TlsError",
        " { ",
        "Some(",
    ] {
        assert!(!text.contains(debug), "Debug text {debug:?} in: {text}");
    }
}

/// A loopback port where a listener accepts one connection and closes it at once.
fn hang_up_once() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || drop(listener.accept()));
    port
}

#[test]
fn a_killed_source_session_is_reported_in_words() {
    let db = big_db();
    // Over TLS (the default, prefer) and in plain text, where the driver's own words were
    // `CodecError { IO error: bytes remaining on stream }`.
    for tls in ["", "?ssl-mode=DISABLED"] {
        kill_the_export(&db, tls);
    }
}

fn kill_the_export(db: &MyDb, tls: &str) {
    let work = Work::new();
    let child = work
        .command("waybill-export")
        .args([
            "--source",
            &format!("{}{tls}", db.url_text()),
            "--out",
            "out",
            "--jobs",
            "1",
            "--chunk-size",
            "0",
            "-q",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = work.path().join("out").join(&db.name);
    wait_for("a .csv.partial file", || csv_partial_in(&out));
    let mut admin = db.conn();
    let ids: Vec<u64> = admin
        .query(format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{}' AND INFO LIKE 'SELECT%big%' AND ID <> CONNECTION_ID()",
            db.name
        ))
        .unwrap();
    assert!(!ids.is_empty(), "the export's connection is visible");
    for id in ids {
        admin.query_drop(format!("KILL {id}")).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let (head, tail) = stderr
        .split_once(" rows: ")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        head.starts_with("waybill-export: error: reading table `big` after "),
        "{stderr}"
    );
    assert!(
        tail.starts_with(
            "the connection to the server was lost (the session was killed, timed out, or \
             the network failed; the driver said: "
        ),
        "{stderr}"
    );
    assert_no_debug_text(&stderr);
    let events = audit_events(&work);
    let last = events.last().unwrap();
    assert_eq!(last["status"], "failed");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("the connection to the server was lost"),
        "{last}"
    );
    assert_no_debug_text(last["message"].as_str().unwrap());
}

#[test]
fn connection_failures_are_reported_in_words() {
    let my = mysql_base().with_database("wb_nowhere");
    let work = Work::new();
    let export = |url: &waybill::dburl::DbUrl, extra: &str| {
        work.run(
            "waybill-export",
            &["--source", &format!("{}{extra}", url_text(url)), "-q"],
        )
        .failed()
        .stderr
    };

    // Nothing listens on port 1.
    let mut closed = my.clone();
    closed.port = 1;
    let stderr = export(&closed, "");
    assert_eq!(
        stderr,
        format!(
            "waybill-export: error: connecting to MySQL/MariaDB {}@127.0.0.1:1/wb_nowhere: \
             cannot connect to 127.0.0.1:1: Connection refused (os error 111) (is the server \
             running, and is the port right?)\n",
            my.user
        )
    );

    // Something that is not MySQL: it accepts the connection and closes it.
    let mut foreign = my.clone();
    foreign.port = hang_up_once();
    let stderr = export(&foreign, "");
    assert!(
        stderr.contains(
            "the server closed the connection during the handshake (is it a MySQL or MariaDB \
             server, and does it accept connections from this host? the driver said: "
        ),
        "{stderr}"
    );
    assert_no_debug_text(&stderr);

    // A CA file that holds no certificate is named as such, not as a bad server.
    fs::write(work.path().join("ca.pem"), "not a certificate\n").unwrap();
    let stderr = export(&my, "?ssl-mode=VERIFY_CA&ssl-ca=ca.pem");
    assert_eq!(
        stderr,
        "waybill-export: error: CA file ca.pem: it holds no PEM certificate\n"
    );
    fs::write(
        work.path().join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n",
    )
    .unwrap();
    let stderr = export(&my, "?ssl-mode=VERIFY_CA&ssl-ca=ca.pem");
    assert_eq!(
        stderr,
        "waybill-export: error: CA file ca.pem: a PEM section has no END line\n"
    );
}

#[test]
fn the_import_names_a_refused_or_foreign_target_in_words() {
    let db = MyDb::new("errors");
    db.exec(&[
        "CREATE TABLE t (id INT PRIMARY KEY)",
        "INSERT INTO t VALUES (1)",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &["-q"]);
    let import = |url: &waybill::dburl::DbUrl| {
        work.run(
            "waybill-import",
            &["--target", &url_text(url), dump.to_str().unwrap(), "-q"],
        )
        .failed()
        .stderr
    };
    let pg = pg_base().with_database("wb_nowhere");
    let mut closed = pg.clone();
    closed.port = 1;
    assert_eq!(
        import(&closed),
        format!(
            "waybill-import: error: connecting to PostgreSQL {}@127.0.0.1:1/wb_nowhere: error \
             connecting to server: Connection refused (os error 111) (is the server running, \
             and is the port right?)\n",
            pg.user
        )
    );
    let mut foreign = pg.clone();
    foreign.port = hang_up_once();
    let stderr = import(&foreign);
    assert!(
        stderr.contains(
            "the server closed the connection during the handshake (is it a PostgreSQL \
             server, and does it accept connections from this host? the driver said: "
        ),
        "{stderr}"
    );
    assert_no_debug_text(&stderr);
}

#[test]
fn a_broken_dotenv_line_is_named_by_number_and_not_shown() {
    let work = Work::new();
    fs::write(
        work.path().join(".env"),
        "# source\nMYSQL_HOST=127.0.0.1\n\nMYSQL_PASSWORD=s3cret value\nMYSQL_USER=u\n",
    )
    .unwrap();
    for tool in ["waybill-export", "waybill-import", "waybill-log"] {
        let ran = work.run(tool, &["--help"]);
        assert_eq!(ran.code, Some(2), "{tool}: {}", ran.all());
        assert_eq!(
            ran.stderr,
            format!(
                "{tool}: .env line 4: cannot parse this line (its content is not shown, it \
                 may hold a secret)\n"
            )
        );
        assert!(!ran.all().contains("s3cret"), "{}", ran.all());
        assert_eq!(ran.stdout, "");
    }
}
