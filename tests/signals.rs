//! SIGTERM (what `timeout`, systemd and Kubernetes send) and SIGHUP (a closed terminal)
//! stop an export or an import the way Ctrl-C does: unfinished files removed, the load
//! rolled back, `failed` in the audit trail naming the signal, and the shell's exit code
//! for that signal (143, 129). The SIGHUP cases also close stderr first, as a terminal
//! that went away does.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::*;

/// Like a closed terminal or SSH session: nobody reads stderr any more, so every write
/// to it fails. The run must still clean up and log `failed`.
fn hang_up_terminal(child: &mut std::process::Child) {
    drop(child.stderr.take());
}

fn stop_export_with(db: &MyDb, signal: &str, code: i32) {
    let work = Work::new();
    let mut child = work
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
    let dump = wait_for("a .partial file", || partial_in(&out));
    if signal == "HUP" {
        hang_up_terminal(&mut child);
    }
    send_signal(&child, signal);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{stderr}");
    if signal != "HUP" {
        assert!(
            stderr.contains(&format!("SIG{signal} received: stopping cleanly")),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("waybill-export: error: interrupted (SIG{signal})")),
            "{stderr}"
        );
    }
    assert!(!dump.join("migration_manifest.json").exists());
    assert!(partial_in(&out).is_none(), "unfinished files are removed");
    let events = audit_events(&work);
    let last = events.last().unwrap();
    assert_eq!(last["status"], "failed");
    assert_eq!(
        last["message"],
        format!("export interrupted (SIG{signal}); unfinished files removed, no manifest written")
    );
    assert_eq!(last["run_id"], events[0]["run_id"]);
}

fn stop_import_with(work: &Work, dump: &Path, pg: &PgDb, signal: &str, code: i32) {
    let (mut child, _) = import_until_copy(work, pg, dump);
    if signal == "HUP" {
        hang_up_terminal(&mut child);
    }
    send_signal(&child, signal);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{stderr}");
    if signal != "HUP" {
        assert!(
            stderr.contains(&format!("waybill-import: error: interrupted (SIG{signal})")),
            "{stderr}"
        );
    }
    // The target is as it was: the sentinel row and nothing else.
    assert_eq!(pg.count("big"), 1);
    assert_eq!(
        pg.text("SELECT id || ':' || pad || ':' || n FROM big")
            .as_deref(),
        Some("-1:kept:0")
    );
    let events = audit_events(work);
    let tail = &events[events.len() - 2..];
    assert_eq!(tail[0]["status"], "rolled_back");
    assert_eq!(
        tail[0]["message"],
        "transaction rolled back; the target is unchanged"
    );
    assert_eq!(tail[1]["status"], "failed");
    assert_eq!(
        tail[1]["message"],
        format!("import interrupted (SIG{signal})")
    );
    assert_eq!(tail[0]["run_id"], tail[1]["run_id"]);
    assert_eq!(tail[1]["tool"], "import");
}

#[test]
fn sigterm_and_sighup_stop_an_export_cleanly() {
    let db = big_db();
    stop_export_with(&db, "TERM", 143);
    stop_export_with(&db, "HUP", 129);
}

#[test]
fn sigterm_and_sighup_during_import_roll_back() {
    let db = big_db();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = big_target("signals");
    stop_import_with(&work, &dump, &pg, "TERM", 143);
    stop_import_with(&work, &dump, &pg, "HUP", 129);
}
