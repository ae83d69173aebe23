//! `waybill-export --resume`: an export killed mid-way (SIGKILL, SIGTERM) is finished
//! into a dump equal to one made in one go, keeping the finished files that check out and
//! redoing a tampered one; a write to the source since the snapshot, other options, a
//! missing or corrupt state, a complete dump and a SQLite source are refused with the
//! reason.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use common::*;
use serde_json::Value;

const CHUNKED: [&str; 4] = ["--jobs", "2", "--chunk-rows", "100000"];

fn spawn_export(work: &Work, db: &MyDb) -> Child {
    work.command("waybill-export")
        .args(["--source", &db.url_text(), "--out", "out", "-q"])
        .args(CHUNKED)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn state(dump: &Path) -> Option<Value> {
    let text = fs::read_to_string(dump.join("export_state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The dump directory once the export has finished at least one file and is writing
/// another.
fn dump_with_a_finished_file(work: &Work, db: &MyDb) -> PathBuf {
    let out = work.path().join("out").join(&db.name);
    wait_for("a finished file and a .partial one", || {
        let dump = partial_in(&out)?;
        let finished = state(&dump)?["files"].as_array()?.len();
        (finished > 0).then_some(dump)
    })
}

/// `--resume DUMP` with the options the export ran with, or `options`.
fn resume(work: &Work, db: &MyDb, dump: &Path, options: &[&str]) -> Ran {
    let url = db.url_text();
    let mut args = vec!["--source", url.as_str(), "--resume", dump.to_str().unwrap()];
    args.extend_from_slice(if options.is_empty() {
        &CHUNKED
    } else {
        options
    });
    work.run("waybill-export", &args)
}

/// The manifest without what differs between two runs on the same data: times, the
/// snapshot's position, and the tool's run.
fn comparable(dump: &Path) -> Value {
    let mut m = manifest(dump);
    let o = m.as_object_mut().unwrap();
    for k in ["created_at", "completed_at", "snapshot", "tool"] {
        o.remove(k);
    }
    o["totals"].as_object_mut().unwrap().remove("duration_secs");
    for t in o["tables"].as_array_mut().unwrap() {
        t.as_object_mut().unwrap().remove("duration_secs");
    }
    m
}

fn data_sums(dump: &Path) -> String {
    fs::read_to_string(dump.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with("migration_manifest.json"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn pg_fingerprint(pg: &PgDb) -> Option<String> {
    pg.text(
        "SELECT count(*) || ':' || sum(n) || ':' || md5(string_agg(id || ',' || pad || ',' || n, ';' ORDER BY id)) FROM big",
    )
}

#[test]
fn killed_chunked_export_resumes_equal_to_one_made_in_one_go() {
    let db = big_db();
    // Chunks are planned from the server's row estimate, which settles some time after a
    // bulk insert; a resumed export plans with the interrupted one's recorded estimate,
    // and the export made in one go for comparison must see the same one.
    db.exec(&["ANALYZE TABLE big"]);
    let work = Work::new();
    let mut child = spawn_export(&work, &db);
    let dump = dump_with_a_finished_file(&work, &db);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!dump.join("migration_manifest.json").exists());
    let recorded = state(&dump).unwrap();
    let finished: Vec<String> = recorded["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"]["path"].as_str().unwrap().to_string())
        .collect();
    assert!(
        recorded["snapshot"]["binlog_position"].is_u64(),
        "{recorded}"
    );
    assert_eq!(recorded["chunk_rows"], 100000);

    // A finished file changed after the kill (same size, one byte) is exported again.
    let tampered = dump.join(&finished[0]);
    let mut bytes = fs::read(&tampered).unwrap();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
    fs::write(&tampered, &bytes).unwrap();

    let mut with_json = CHUNKED.to_vec();
    with_json.push("--json");
    let ran = resume(&work, &db, &dump, &with_json).ok();
    // --json: the document says what was kept and redone, and why.
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(doc["dump_dir"], dump.display().to_string(), "{doc:#}");
    let resumed_doc = &doc["resumed"];
    assert_eq!(
        resumed_doc["kept"].as_array().unwrap().len(),
        finished.len() - 1,
        "{doc:#}"
    );
    assert_eq!(resumed_doc["redone"][0]["file"], finished[0], "{doc:#}");
    assert_eq!(
        resumed_doc["redone"][0]["why"],
        "its sha256 is not the one the interrupted export recorded",
        "{doc:#}"
    );
    assert!(
        resumed_doc["proof"].as_str().unwrap().contains("binlog"),
        "{doc:#}"
    );
    assert!(
        ran.stderr.contains(&format!(
            "{}: its sha256 is not the one the interrupted export recorded; exporting it again",
            finished[0]
        )),
        "{}",
        ran.stderr
    );
    assert!(partial_in(&work.path().join("out").join(&db.name)).is_none());
    assert!(
        !dump.join("export_state.json").exists(),
        "removed once complete"
    );

    // The resumed run's own events say what it kept and redid.
    let events = audit_events(&work);
    let run = events.last().unwrap()["run_id"].clone();
    let resumed: Vec<&Value> = events.iter().filter(|e| e["run_id"] == run).collect();
    assert_eq!(resumed.first().unwrap()["status"], "started");
    assert!(
        resumed[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("resumed export of "),
        "{}",
        resumed[0]
    );
    let done = resumed.last().unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["rows"], 600000);
    let message = done["message"].as_str().unwrap();
    // Other tests write to the same server: its position moves, and the binary log since
    // the snapshot shows that `big` did not change.
    assert!(
        message.contains("holds no change to an exported table)")
            || message.contains("resumed (binlog position "),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "kept {} file(s) of the interrupted export",
            finished.len() - 1
        )) && message.contains(&format!(
            "redid {} (its sha256 is not the one the interrupted export recorded)",
            finished[0]
        )),
        "{message}"
    );

    let verified = work.run("waybill-verify", &[dump.to_str().unwrap()]);
    assert_eq!(verified.code, Some(0), "{}", verified.all());

    // Equal to an export of the same data made in one go.
    let fresh = work.export(&db, &CHUNKED);
    assert_eq!(data_sums(&dump), data_sums(&fresh));
    assert_eq!(data_sums(&dump).lines().count(), 6, "six chunk files");
    assert_eq!(comparable(&dump), comparable(&fresh));

    let (a, b) = (PgDb::new("resumed"), PgDb::new("one_go"));
    work.import(&a, &dump, &["--create-schema"]).ok();
    work.import(&b, &fresh, &["--create-schema"]).ok();
    assert_eq!(a.count("big"), 600000);
    assert_eq!(pg_fingerprint(&a), pg_fingerprint(&b));
    assert_eq!(
        a.text("SELECT pad || ',' || n FROM big WHERE id = 599999"),
        Some(format!(
            "{},{}",
            ((b'A' + (599999 % 26) as u8) as char)
                .to_string()
                .repeat(150),
            599999 * 7
        ))
    );
}

#[test]
fn resume_refuses_when_it_cannot_prove_the_same_export() {
    let db = big_db();
    let work = Work::new();
    let child = spawn_export(&work, &db);
    let dump = dump_with_a_finished_file(&work, &db);
    // SIGTERM stops it cleanly: unfinished files removed, the state kept.
    send_signal(&child, "TERM");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143));
    assert!(partial_in(&work.path().join("out").join(&db.name)).is_none());
    let failed = audit_events(&work).pop().unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["message"],
        format!(
            "export interrupted (SIGTERM); unfinished files removed, no manifest written; \
             `waybill-export --resume {}` with the same options finishes it",
            dump.display()
        )
    );
    let kept_state = fs::read(dump.join("export_state.json")).unwrap();

    let ran = resume(&work, &db, &dump, &["--jobs", "1", "--chunk-rows", "50000"]).failed();
    assert!(
        ran.stderr.contains(
            "it must run with the options the interrupted export ran with, and these differ: \
             --chunk-rows (the interrupted export: 100000, this run: 50000)"
        ),
        "{}",
        ran.stderr
    );

    // A write to an exported table after the snapshot.
    db.exec(&["UPDATE big SET n = n + 1 WHERE id = 5"]);
    let ran = resume(&work, &db, &dump, &[]).failed();
    assert!(
        ran.stderr.contains("the source changed since the snapshot")
            && ran.stderr.contains("holds table `big`: 1 row change(s)")
            && ran.stderr.contains("start a fresh export"),
        "{}",
        ran.stderr
    );
    assert!(!dump.join("migration_manifest.json").exists());
    assert_eq!(
        fs::read(dump.join("export_state.json")).unwrap(),
        kept_state
    );

    fs::write(
        dump.join("export_state.json"),
        b"{\"format\": \"waybill-export-st",
    )
    .unwrap();
    let ran = resume(&work, &db, &dump, &[]).failed();
    assert!(
        ran.stderr.contains(&format!(
            "cannot resume the export in {}: export_state.json is not a valid export state",
            dump.display()
        )),
        "{}",
        ran.stderr
    );
    fs::remove_file(dump.join("export_state.json")).unwrap();
    let ran = resume(&work, &db, &dump, &[]).failed();
    assert!(
        ran.stderr.contains("it holds no export_state.json"),
        "{}",
        ran.stderr
    );
}

#[test]
fn resume_refuses_a_complete_dump_and_sources_without_a_position() {
    let db = MyDb::new("resume_done");
    db.exec(&[
        "CREATE TABLE t (id INT PRIMARY KEY)",
        "INSERT INTO t VALUES (1)",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &CHUNKED);
    assert!(!dump.join("export_state.json").exists());
    let ran = resume(&work, &db, &dump, &[]).failed();
    assert!(
        ran.stderr.contains(&format!(
            "--resume {}: the dump is already complete (it has its migration_manifest.json); \
             there is nothing to resume",
            dump.display()
        )),
        "{}",
        ran.stderr
    );
    let ran = work
        .run(
            "waybill-export",
            &[
                "--source",
                "sqlite:///nowhere/app.db",
                "--resume",
                dump.to_str().unwrap(),
            ],
        )
        .failed();
    assert!(
        ran.stderr.contains(
            "--resume: the SQLite file /nowhere/app.db has no binlog position or GTID set that \
             could show it has not changed since the interrupted export's snapshot; start a \
             fresh export"
        ),
        "{}",
        ran.stderr
    );
}
