//! What goes wrong outside waybill: a full disk under the export, a source connection
//! dropped mid-export, a target connection dropped mid-import. Each must fail with a
//! clear message, leave no manifest or no change, and say `failed` in the audit trail.

mod common;

use std::fs;
use std::process::Stdio;

use common::*;
use mysql::prelude::Queryable;

fn last_event(work: &Work) -> serde_json::Value {
    let text = fs::read_to_string(work.audit_log()).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn a_full_disk_fails_the_export_cleanly() {
    let db = big_db();
    let work = Work::new();
    // A file size limit stands in for a full disk: with SIGXFSZ ignored, writes past it
    // fail with an error, as they would with ENOSPC.
    let exe = env!("CARGO_BIN_EXE_waybill-export");
    let script = format!(
        "trap '' XFSZ; ulimit -f 20000; exec '{exe}' --source '{}' --out out --jobs 1 --chunk-size 0 -q",
        db.url_text()
    );
    let o = work.bash(&script).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("big.csv.partial") && stderr.contains("File too large"),
        "{stderr}"
    );
    let out = work.path().join("out").join(&db.name);
    let dump = fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    assert!(!dump.join("migration_manifest.json").exists());
    assert!(partial_in(&out).is_none(), "the unfinished file is removed");
    let ev = last_event(&work);
    assert_eq!(ev["status"], "failed");
    assert!(ev["message"].as_str().unwrap().contains("File too large"));
}

#[test]
fn a_dropped_source_connection_fails_the_export() {
    let db = big_db();
    let work = Work::new();
    let child = work
        .command("waybill-export")
        .args([
            "--source",
            &db.url_text(),
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
    let dump = wait_for("a .csv.partial file", || csv_partial_in(&out));
    let mut admin = db.conn();
    // The file may be created a moment before its SELECT reaches the server.
    let ids: Vec<u64> = wait_for("the export's SELECT in the process list", || {
        let ids: Vec<u64> = admin
            .query(format!(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{}' AND INFO LIKE 'SELECT%big%' AND ID <> CONNECTION_ID()",
                db.name
            ))
            .unwrap();
        (!ids.is_empty()).then_some(ids)
    });
    for id in ids {
        let _ = admin.query_drop(format!("KILL {id}"));
    }
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("reading table `big`"), "{stderr}");
    assert!(!dump.join("migration_manifest.json").exists());
    assert!(partial_in(&out).is_none());
    assert_eq!(last_event(&work)["status"], "failed");
}

#[test]
fn a_dropped_target_connection_leaves_the_target_unchanged() {
    let db = big_db();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = big_target("dropped");
    let (child, pid) = import_until_copy(&work, &pg, &dump);
    let killed: bool = pg
        .client()
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap()
        .get(0);
    assert!(killed);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("loading table `big`") || stderr.contains("connection"),
        "{stderr}"
    );
    assert_eq!(pg.count("big"), 1, "the target is unchanged");
    assert_eq!(pg.text("SELECT pad FROM big").as_deref(), Some("kept"));
    let text = fs::read_to_string(work.audit_log()).unwrap();
    let statuses: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(&statuses[statuses.len() - 2..], ["rolled_back", "failed"]);
}
