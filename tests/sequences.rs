//! Sequences and the all-or-nothing promise. `setval` is not transactional in
//! PostgreSQL: an import that set a sequence and then failed used to leave it moved,
//! below the rows still in the table when the dump is older than the target's data, so
//! the application's next insert collided. The import now restarts each sequence in
//! its transaction first (`ALTER SEQUENCE ... RESTART`), which a rollback undoes along
//! with the `setval`. These tests fail an import after its sequences were set (at the
//! commit, on one connection and on two) and read the sequences back; a role that does
//! not own the tables (so may not ALTER their sequences, nor drop their indexes) still
//! loads, and its log says what a rollback would keep.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;

/// (last_value, is_called) of a sequence.
fn sequence_state(pg: &PgDb, seq: &str) -> (i64, bool) {
    let row = pg
        .client()
        .query_one(&format!("SELECT last_value, is_called FROM {seq}"), &[])
        .unwrap();
    (row.get(0), row.get(1))
}

/// A source of two independent tables, `a` with an AUTO_INCREMENT key (5 rows) and `b`,
/// and a target where `a` already holds 100 rows (its sequence at 100) and a row
/// inserted into `b` is refused when the transaction commits (or prepares): by then
/// every table is loaded and every sequence set.
fn setup(tag: &str) -> (MyDb, PgDb, Work, PathBuf) {
    let db = MyDb::new(tag);
    db.exec(&[
        "CREATE TABLE a (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL)",
        "CREATE TABLE b (id INT PRIMARY KEY, v INT NOT NULL)",
        "INSERT INTO a (v) VALUES (1), (2), (3), (4), (5)",
        "INSERT INTO b VALUES (1, 1)",
    ]);
    let pg = PgDb::new(tag);
    pg.exec(
        "CREATE TABLE a (id serial PRIMARY KEY, v int NOT NULL);
         CREATE TABLE b (id int PRIMARY KEY, v int NOT NULL);
         INSERT INTO a (v) SELECT g FROM generate_series(1, 100) g;
         CREATE TABLE refusal (t text);
         CREATE FUNCTION note_insert() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO refusal VALUES (TG_TABLE_NAME); RETURN NULL; END $$;
         CREATE FUNCTION refuse_at_end() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'refused at the end of the transaction on %', NEW.t; END $$;
         CREATE CONSTRAINT TRIGGER refuse_at_end AFTER INSERT ON refusal
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_end();
         ALTER TABLE refusal ENABLE ALWAYS TRIGGER refuse_at_end;
         CREATE TRIGGER note AFTER INSERT ON b FOR EACH ROW EXECUTE FUNCTION note_insert();
         ALTER TABLE b ENABLE ALWAYS TRIGGER note;",
    );
    let work = Work::new();
    let dump = work.export(&db, &[]);
    (db, pg, work, dump)
}

#[test]
fn a_failed_import_leaves_every_sequence_as_it_was() {
    let (_db, pg, work, dump) = setup("seqroll");
    assert_eq!(sequence_state(&pg, "a_id_seq"), (100, true));
    // One transaction (--jobs 1), then two connections with two-phase commit (a and b
    // are independent, so each connection takes one).
    for jobs in ["1", "2"] {
        let before = import_logs(&dump);
        let ran = work.import(&pg, &dump, &["--jobs", jobs, "-q"]);
        assert_eq!(ran.code, Some(1), "--jobs {jobs}: {}", ran.all());
        assert!(
            ran.stderr
                .contains("refused at the end of the transaction on b"),
            "--jobs {jobs}: {}",
            ran.stderr
        );
        let log = new_import_log(&dump, &before).join("\n");
        // The sequence was set before the failure (its fix-up ran), and restarted first.
        assert!(
            log.contains("ALTER SEQUENCE a_id_seq RESTART (so that a rollback"),
            "--jobs {jobs}: {log}"
        );
        assert!(
            log.contains("sequence a_id_seq next value 6"),
            "--jobs {jobs}: {log}"
        );
        if jobs == "2" {
            assert!(log.contains("all or nothing on 2 connections"), "{log}");
        }
        // Unchanged: the rows, and the sequence (nextval would give 101, not 6).
        assert_eq!(pg.count("a"), 100, "--jobs {jobs}");
        assert_eq!(pg.count("b"), 0, "--jobs {jobs}");
        assert_eq!(
            sequence_state(&pg, "a_id_seq"),
            (100, true),
            "--jobs {jobs}: the failed import moved the sequence"
        );
        assert_eq!(
            pg.text("SELECT count(*)::text FROM pg_prepared_xacts")
                .as_deref(),
            Some("0")
        );
    }
    // Without the refusal the same import commits, and the sequence follows the dump.
    pg.exec("DROP TRIGGER note ON b");
    let ran = work.import(&pg, &dump, &["-q"]);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(pg.count("a"), 5);
    assert_eq!(sequence_state(&pg, "a_id_seq"), (6, false));
    assert_eq!(
        pg.text("SELECT nextval('a_id_seq')::text").as_deref(),
        Some("6")
    );
}

#[test]
fn the_dry_run_script_restarts_each_sequence_before_setting_it() {
    let (_db, pg, work, dump) = setup("seqscript");
    pg.exec("DROP TRIGGER note ON b");
    let ran = work.import(&pg, &dump, &["--dry-run", "--jobs", "1"]);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let scripts: Vec<PathBuf> = fs::read_dir(&dump)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    let script = fs::read_to_string(&scripts[0]).unwrap();
    let restart = script
        .find("SELECT format('ALTER SEQUENCE %s RESTART'")
        .unwrap_or_else(|| panic!("{script}"));
    let setval = script.find("setval(").unwrap_or_else(|| panic!("{script}"));
    assert!(restart < setval, "{script}");
    // The script itself, run by psql, loads the dump and sets the sequence.
    let o = work
        .bash(&format!(
            "cd '{}' && psql -X -q -v ON_ERROR_STOP=1 -f '{}' '{}'",
            dump.display(),
            scripts[0].display(),
            pg.url_text()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(pg.count("a"), 5);
    assert_eq!(sequence_state(&pg, "a_id_seq"), (6, false));
}

#[test]
fn a_role_that_does_not_own_the_sequence_sets_it_and_the_log_says_a_rollback_keeps_it() {
    let (_db, pg, work, dump) = setup("seqowner");
    pg.exec("DROP TRIGGER note ON b");
    let role = PgRole::create(&pg, "seq-owner-pw-77");
    pg.exec(&format!(
        "GRANT SELECT, INSERT, TRUNCATE ON a, b TO {r}; GRANT SELECT, UPDATE, USAGE ON a_id_seq TO {r};",
        r = role.name
    ));
    let before = import_logs(&dump);
    let url = role.url_text(&pg);
    let ran = work.run(
        "waybill-import",
        &["--target", &url, dump.to_str().unwrap(), "-q"],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let log = new_import_log(&dump, &before).join("\n");
    assert!(
        log.contains(
            "sequence a_id_seq belongs to another role, which alone may ALTER it: it is set by \
             setval only, which a rollback of this load does not undo"
        ),
        "{log}"
    );
    assert!(!log.contains("ALTER SEQUENCE"), "{log}");
    // Only an owner may drop an index: this role loads with them in place.
    assert!(!log.contains("DROP CONSTRAINT"), "{log}");
    assert_eq!(
        pg.text(
            "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indisvalid \
             AND i.indrelid IN ('a'::regclass, 'b'::regclass)"
        )
        .as_deref(),
        Some("a_pkey,b_pkey")
    );
    assert_eq!(pg.count("a"), 5);
    assert_eq!(sequence_state(&pg, "a_id_seq"), (6, false));
}
