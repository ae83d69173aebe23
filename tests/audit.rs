//! The audit trail: the events export and import write on their own, manual events,
//! tamper detection, and concurrent writers.

mod common;

use std::fs;

use common::*;
use serde_json::Value;

fn events(work: &Work) -> Vec<Value> {
    fs::read_to_string(work.audit_log())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn statuses(ev: &[&Value]) -> Vec<String> {
    ev.iter()
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect()
}

fn source() -> MyDb {
    let db = MyDb::new("audit");
    db.exec(&[
        "CREATE TABLE a (id INT PRIMARY KEY, u CHAR(36))",
        "CREATE TABLE b (id INT PRIMARY KEY)",
        "INSERT INTO a VALUES (1, '6a1f0c2e-0b7b-4d3e-9a55-0c1d2e3f4a5b'), (2, '')",
        "INSERT INTO b VALUES (1), (2), (3)",
    ]);
    db
}

#[test]
fn export_and_import_write_their_events() {
    let db = source();
    let pg = PgDb::new("audit");
    pg.exec("CREATE TABLE a (id int PRIMARY KEY, u uuid); CREATE TABLE b (id int PRIMARY KEY);");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    work.import(&pg, &dump, &[]).ok();
    let all = events(&work);
    let manifest_sha = waybill::dump::hashing::hash_file(&dump.join("migration_manifest.json"))
        .unwrap()
        .0;

    let export: Vec<&Value> = all.iter().filter(|e| e["tool"] == "export").collect();
    assert_eq!(
        statuses(&export),
        ["started", "in_progress", "in_progress", "completed"]
    );
    let run = export[0]["run_id"].as_str().unwrap();
    assert!(export.iter().all(|e| e["run_id"] == run));
    assert_eq!(export[0]["source"], db.url.redacted());
    let tables: Vec<&str> = export[1..3]
        .iter()
        .map(|e| e["table"].as_str().unwrap())
        .collect();
    assert!(tables.contains(&"a") && tables.contains(&"b"));
    let b = export.iter().find(|e| e["table"] == "b").unwrap();
    assert_eq!(b["rows"], 3);
    assert_eq!(export[3]["manifest_sha256"], manifest_sha.as_str());
    assert_eq!(export[3]["dump_dir"], dump.to_str().unwrap());
    assert_eq!(export[3]["rows"], 5);

    let import: Vec<&Value> = all.iter().filter(|e| e["tool"] == "import").collect();
    assert_eq!(
        statuses(&import),
        ["started", "in_progress", "in_progress", "completed"]
    );
    let irun = import[0]["run_id"].as_str().unwrap();
    assert_ne!(irun, run);
    assert!(
        import
            .iter()
            .all(|e| e["run_id"] == irun && e["target"] == pg.url.redacted())
    );
    assert_eq!(import[3]["manifest_sha256"], manifest_sha.as_str());
    for e in &all {
        for k in [
            "ts",
            "os_user",
            "hostname",
            "prev_sha256",
            "sha256",
            "message",
        ] {
            assert!(e.get(k).is_some(), "{k} missing in {e}");
        }
    }
    assert!(
        work.run("waybill-log", &["verify"])
            .ok()
            .stdout
            .contains("ok: 8 events")
    );
}

#[test]
fn a_failed_import_records_failed_and_rolled_back() {
    let db = source();
    db.exec(&["UPDATE a SET u = 'not-a-uuid' WHERE id = 1"]);
    let pg = PgDb::new("auditfail");
    pg.exec("CREATE TABLE a (id int PRIMARY KEY, u uuid); CREATE TABLE b (id int PRIMARY KEY);");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    work.import(&pg, &dump, &[]).failed();
    let all = events(&work);
    let import: Vec<&Value> = all.iter().filter(|e| e["tool"] == "import").collect();
    let s = statuses(&import);
    assert_eq!(s.first().map(String::as_str), Some("started"));
    assert_eq!(&s[s.len() - 2..], ["rolled_back", "failed"]);
    assert!(
        import.last().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("invalid input syntax for type uuid")
    );
}

#[test]
fn manual_events_show_and_filters() {
    let work = Work::new();
    let first = work
        .run(
            "waybill-log",
            &["started", "maintenance", "window", "opened"],
        )
        .ok();
    let run_id = first.stdout.trim().to_string();
    work.run(
        "waybill-log",
        &["completed", "all checks passed", "--run-id", &run_id],
    )
    .ok();
    work.run("waybill-log", &["failed", "unrelated"]).ok();
    let all = events(&work);
    assert_eq!(all[0]["message"], "maintenance window opened");
    assert_eq!(all[0]["tool"], "log");
    assert_eq!(all[1]["run_id"], run_id.as_str());
    let shown = work
        .run("waybill-log", &["show", "--run", &run_id])
        .ok()
        .stdout;
    assert!(shown.contains("maintenance window opened") && shown.contains("all checks passed"));
    assert!(!shown.contains("unrelated"));
    let json = work
        .run("waybill-log", &["show", "--status", "failed", "--json"])
        .ok()
        .stdout;
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "unrelated");
    let future = work
        .run("waybill-log", &["show", "--since", "2999-01-01", "--json"])
        .ok()
        .stdout;
    assert!(future.is_empty());
    let bad = work.run("waybill-log", &["finished", "x"]).failed();
    assert!(bad.stderr.contains("possible values"), "{}", bad.stderr);
}

#[test]
fn verify_names_the_edited_or_removed_line() {
    let work = Work::new();
    for s in ["started", "in_progress", "in_progress", "completed"] {
        work.run("waybill-log", &[s, "step"]).ok();
    }
    assert!(
        work.run("waybill-log", &["verify"])
            .ok()
            .stdout
            .contains("ok: 4 events")
    );
    let path = work.audit_log();
    let original = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();

    fs::write(
        &path,
        original.replacen("\"completed\"", "\"rolled_back\"", 1),
    )
    .unwrap();
    let r = work.run("waybill-log", &["verify"]).failed();
    assert!(
        r.stderr
            .contains("line 4: content does not match its sha256"),
        "{}",
        r.stderr
    );

    fs::write(&path, original.replacen("\"step\"", "\"stop\"", 1)).unwrap();
    let r = work.run("waybill-log", &["verify"]).failed();
    assert!(
        r.stderr.contains("line 1: content does not match"),
        "{}",
        r.stderr
    );

    fs::write(&path, format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3])).unwrap();
    let r = work.run("waybill-log", &["verify"]).failed();
    assert!(r.stderr.contains("line 2: chain broken"), "{}", r.stderr);

    fs::write(&path, format!("{}\n", lines[..3].join("\n"))).unwrap();
    assert!(
        work.run("waybill-log", &["verify"])
            .ok()
            .stdout
            .contains("ok: 3 events"),
        "dropping the tail cannot be seen from the file alone"
    );
    fs::write(&path, &original).unwrap();
    assert!(
        work.run("waybill-log", &["verify"])
            .ok()
            .stdout
            .contains("ok: 4 events")
    );
}

#[test]
fn concurrent_writers_keep_a_valid_chain() {
    let work = Work::new();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let c = work.command("waybill-log");
            let script = format!(
                "for i in $(seq 1 25); do \"$0\" in_progress writer {w} event $i || exit 1; done"
            );
            let exe = c.get_program().to_owned();
            let mut sh = std::process::Command::new("sh");
            sh.arg("-c")
                .arg(script)
                .arg(exe)
                .current_dir(work.path())
                .stdout(std::process::Stdio::null());
            sh.spawn().unwrap()
        })
        .collect();
    // And threads in this process through the library, at the same time.
    let path = work.audit_log();
    std::thread::scope(|s| {
        for t in 0..4 {
            let path = path.clone();
            s.spawn(move || {
                let log = waybill::audit::AuditLog::new(path);
                for i in 0..25 {
                    log.append(waybill::audit::Event {
                        status: "in_progress".into(),
                        message: format!("thread {t} event {i}"),
                        ..Default::default()
                    })
                    .unwrap();
                }
            });
        }
    });
    for mut w in writers {
        assert!(w.wait().unwrap().success());
    }
    let out = work.run("waybill-log", &["verify"]).ok();
    assert!(out.stdout.contains("ok: 200 events"), "{}", out.stdout);
    let all = events(&work);
    for w in 0..4 {
        let mine: Vec<&Value> = all
            .iter()
            .filter(|e| {
                e["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("writer {w} "))
            })
            .collect();
        assert_eq!(mine.len(), 25);
    }
}

#[test]
fn a_maintenance_window_groups_its_runs() {
    let db = source();
    let pg = PgDb::new("window");
    pg.exec("CREATE TABLE a (id int PRIMARY KEY, u uuid); CREATE TABLE b (id int PRIMARY KEY);");
    let work = Work::new();
    let window = work
        .run("waybill-log", &["started", "window"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let with_window = |bin: &str, args: &[&str]| {
        let o = work
            .command(bin)
            .args(args)
            .env("WAYBILL_RUN_ID", &window)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let dump = with_window(
        "waybill-export",
        &["--source", &db.url_text(), "--out", "out", "-q"],
    );
    with_window(
        "waybill-import",
        &["--target", &pg.url_text(), dump.trim(), "-q"],
    );
    work.run(
        "waybill-log",
        &["completed", "window closed", "--run-id", &window],
    )
    .ok();
    let all = events(&work);
    let export_run = all.iter().find(|e| e["tool"] == "export").unwrap()["run_id"].clone();
    assert_ne!(export_run, window.as_str(), "export keeps its own run id");
    assert!(
        all.iter()
            .filter(|e| e["tool"] != "log")
            .all(|e| e["parent_run_id"] == window.as_str())
    );
    let shown = work
        .run("waybill-log", &["show", "--run", &window, "--json"])
        .ok()
        .stdout;
    let tools: Vec<String> = shown
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["tool"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(tools.first().map(String::as_str), Some("log"));
    assert!(tools.contains(&"export".to_string()) && tools.contains(&"import".to_string()));
    assert_eq!(tools.len(), all.len(), "every event of the window");
    work.run("waybill-log", &["verify"]).ok();
}
