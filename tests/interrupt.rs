//! Runs that do not finish: a killed export leaves no manifest (and the import refuses
//! it), Ctrl-C stops an export cleanly, Ctrl-C during an import rolls back; both record
//! `failed` in the audit trail.

mod common;

use std::fs;
use std::process::{Child, Command, Stdio};

use common::*;

fn spawn_export(work: &Work, db: &MyDb) -> Child {
    work.command("waybill-export")
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
        .unwrap()
}

fn sigint(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn last_events(work: &Work, n: usize) -> Vec<serde_json::Value> {
    let text = fs::read_to_string(work.audit_log()).unwrap();
    let all: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    all[all.len().saturating_sub(n)..].to_vec()
}

#[test]
fn killed_export_leaves_no_manifest_and_is_refused() {
    let db = big_db();
    let work = Work::new();
    let mut child = spawn_export(&work, &db);
    let out = work.path().join("out").join(&db.name);
    let dump = wait_for("a .csv.partial file", || csv_partial_in(&out));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!dump.join("migration_manifest.json").exists());
    let pg = PgDb::new("killed");
    pg.exec("CREATE TABLE big (id int PRIMARY KEY, pad text, n bigint)");
    let ran = work.import(&pg, &dump, &[]).failed();
    assert!(
        ran.stderr.contains("incomplete dump") && ran.stderr.contains("big.csv.partial"),
        "{}",
        ran.stderr
    );
}

#[test]
fn ctrl_c_stops_an_export_cleanly() {
    let db = big_db();
    let work = Work::new();
    let child = spawn_export(&work, &db);
    let out = work.path().join("out").join(&db.name);
    let dump = wait_for("a .csv.partial file", || csv_partial_in(&out));
    sigint(&child);
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!dump.join("migration_manifest.json").exists());
    assert!(partial_in(&out).is_none(), "unfinished files are removed");
    let ev = last_events(&work, 1);
    assert_eq!(ev[0]["status"], "failed");
    assert!(ev[0]["message"].as_str().unwrap().contains("interrupted"));
}

#[test]
fn ctrl_c_during_import_rolls_back() {
    let db = big_db();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = big_target("sigint");
    let (child, _) = import_until_copy(&work, &pg, &dump);
    sigint(&child);
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(pg.count("big"), 1);
    assert_eq!(pg.text("SELECT pad FROM big").as_deref(), Some("kept"));
    let ev = last_events(&work, 2);
    assert_eq!(ev[0]["status"], "rolled_back");
    assert_eq!(ev[1]["status"], "failed");
    assert_eq!(ev[0]["run_id"], ev[1]["run_id"]);
}
