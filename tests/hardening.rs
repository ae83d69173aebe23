//! A dump is untrusted input, and the target holds more than the dump: each attack or
//! fault from issue 9, reproduced against the real servers. Every case asserts the
//! refusal and its exact message, that nothing changed (no file outside the dump, no
//! table emptied, the sentinel row still there), that nothing panicked (exit 1, no
//! backtrace), and that the audit run closed with `failed`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const SOURCE: &[&str] = &[
    "CREATE TABLE parent (
        id INT PRIMARY KEY,
        name VARCHAR(40) NOT NULL,
        flags BIT(5) NULL DEFAULT b'00001',
        born DATE NULL DEFAULT '2000-01-01'
    ) COMMENT 'parents'",
    "CREATE TABLE child (
        id INT AUTO_INCREMENT PRIMARY KEY,
        parent_id INT NOT NULL,
        tags SET('x','y','z') NULL,
        CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id)
    )",
    "INSERT INTO parent VALUES (1, 'one', b'101', '1990-05-01'), (2, 'two', NULL, NULL),
        (3, 'three', b'11111', '2001-01-31')",
    "INSERT INTO child VALUES (1, 1, 'x,y'), (2, 1, ''), (3, 2, NULL), (2147483647, 3, 'z')",
];

/// An application's schema around the dump's `parent`: a sentinel row of its own, and
/// `app_orders`, which is not in the dump but has a foreign key to `parent`.
const APP_TARGET: &str = "
    CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL, flags bit(5), born date);
    INSERT INTO parent VALUES (100, 'sentinel', NULL, NULL);
    CREATE TABLE app_orders (id serial PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id));
    INSERT INTO app_orders (parent_id) SELECT 100 FROM generate_series(1, 1000);
";

fn source() -> MyDb {
    let db = MyDb::new("hard");
    db.exec(SOURCE);
    db
}

fn app_target(tag: &str) -> PgDb {
    let pg = PgDb::new(tag);
    pg.exec(APP_TARGET);
    pg
}

/// The application's data is exactly as it was.
fn assert_app_untouched(pg: &PgDb) {
    assert_eq!(pg.count("parent"), 1, "parent must be unchanged");
    assert_eq!(
        pg.text("SELECT name FROM parent WHERE id = 100").as_deref(),
        Some("sentinel")
    );
    assert_eq!(pg.count("app_orders"), 1000, "app_orders must be unchanged");
}

fn events(work: &Work) -> Vec<Value> {
    fs::read_to_string(work.audit_log())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A refusal: exit 1 (not a panic's 101), no backtrace, the message on stderr, and the
/// audit run closed with `failed` carrying it.
fn assert_refused(work: &Work, ran: &Ran, message: &str) {
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(
        !ran.stderr.contains("panicked") && !ran.stderr.contains("RUST_BACKTRACE"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(message),
        "expected {message:?} in:\n{}",
        ran.stderr
    );
    let last = events(work).pop().unwrap();
    assert_eq!(last["status"], "failed", "{last}");
    assert!(
        last["message"].as_str().unwrap().contains(message),
        "{last}"
    );
}

fn copy_dump(from: &Path, work: &Work, name: &str) -> PathBuf {
    let to = work.path().join(name);
    fs::create_dir_all(&to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}

/// Edits the manifest the way an attacker with write access would: consistently, so
/// `SHA256SUMS` agrees with the edited manifest (and with `files`, given as name -> sha).
fn forge(dump: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dump.join("migration_manifest.json");
    let mut m: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut m);
    let text = format!("{}\n", serde_json::to_string_pretty(&m).unwrap());
    fs::write(&path, &text).unwrap();
    let mut sums = String::new();
    for t in m["tables"].as_array().unwrap() {
        for f in t["files"].as_array().unwrap() {
            sums.push_str(&format!(
                "{}  {}\n",
                f["sha256"].as_str().unwrap(),
                f["path"].as_str().unwrap()
            ));
        }
    }
    sums.push_str(&format!(
        "{}  migration_manifest.json\n",
        sha256_hex(text.as_bytes())
    ));
    fs::write(dump.join("SHA256SUMS"), sums).unwrap();
}

fn table_index(m: &Value, name: &str) -> usize {
    m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t["name"] == name)
        .unwrap()
}

fn column_index(m: &Value, table: usize, name: &str) -> usize {
    m["tables"][table]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == name)
        .unwrap()
}

/// Runs a command, failing the test (instead of hanging) if it takes over a minute.
fn run_bounded(mut cmd: Command) -> (Ran, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the command hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let ran = Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (ran, start.elapsed())
}

fn import_cmd(work: &Work, pg: &PgDb, dump: &Path, extra: &[&str]) -> Command {
    let mut c = work.command("waybill-import");
    c.args(["--target", &pg.url_text(), dump.to_str().unwrap()])
        .args(extra);
    c
}

fn public_tables(pg: &PgDb) -> i64 {
    pg.client()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .get(0)
}

/// `YYYYMMDD_HHMMSS` stamps from now on, as the import names its side files.
fn stamps(seconds: i64) -> Vec<String> {
    let now = time::OffsetDateTime::now_utc();
    (-1..seconds)
        .map(|s| waybill::timefmt::stamp(now + time::Duration::seconds(s)))
        .collect()
}

fn no_raw_control_or_forged_line(what: &str, text: &str) {
    assert!(!text.contains('\u{1b}'), "{what} holds a raw ESC:\n{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("* * * * *")),
        "{what} holds a line from the manifest:\n{text}"
    );
}

#[test]
fn side_files_never_follow_a_planted_link_and_manifest_text_is_escaped() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let comment = "parents\n* * * * * root touch /tmp/waybill-pwned\n\u{1b}[31mred";
    forge(&dump, |m| {
        let p = table_index(m, "parent");
        m["tables"][p]["comment"] = json!(comment);
        let c = column_index(m, p, "name");
        m["tables"][p]["columns"][c]["comment"] = json!("\u{1b}]0;owned\u{7}name");
        m["tables"][p]["checks"] = json!([{
            "name": "chk_name",
            "clause": "`name` <> '\u{1b}[2J\n* * * * * root rm -rf /'"
        }]);
    });
    // Links planted where the side files will go, for every second the runs may take.
    let outside = work.path().join("outside");
    fs::create_dir(&outside).unwrap();
    for s in stamps(120) {
        for (name, to) in [
            (format!("import_log_{s}.log"), format!("log_{s}")),
            (format!("import_script_{s}.sql"), format!("script_{s}")),
        ] {
            std::os::unix::fs::symlink(outside.join(to), dump.join(name)).unwrap();
        }
    }

    let pg = PgDb::new("hard_links");
    for extra in [&["--create-schema", "--dry-run"][..], &["--create-schema"]] {
        let ran = work.import(&pg, &dump, extra).ok();
        no_raw_control_or_forged_line("the terminal", &ran.all());
        assert!(ran.stderr.contains("CHECK chk_name"), "{}", ran.stderr);
        let wrote: Vec<&str> = ran
            .stderr
            .lines()
            .filter_map(|l| l.strip_prefix("wrote "))
            .collect();
        assert_eq!(wrote.len(), 2, "{}", ran.stderr);
        for w in wrote {
            let p = Path::new(w);
            assert!(p.starts_with(&dump), "{w}");
            let meta = fs::symlink_metadata(p).unwrap();
            assert!(meta.file_type().is_file(), "{w} is a new regular file");
            no_raw_control_or_forged_line(w, &fs::read_to_string(p).unwrap());
        }
    }
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing was written through the links"
    );
    // Escaped on the way, exact in the database.
    assert_eq!(
        pg.text("SELECT obj_description('parent'::regclass, 'pg_class')")
            .as_deref(),
        Some(comment)
    );
    assert_eq!(
        pg.text("SELECT col_description('parent'::regclass, 2)")
            .as_deref(),
        Some("\u{1b}]0;owned\u{7}name")
    );
}

#[test]
fn a_fifo_or_a_link_in_place_of_a_dump_file_is_refused_at_once() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = app_target("hard_fifo");

    let fifo = copy_dump(&dump, &work, "fifo");
    fs::remove_file(fifo.join("parent.csv")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(fifo.join("parent.csv"))
            .status()
            .unwrap()
            .success()
    );
    let (ran, took) = run_bounded(import_cmd(&work, &pg, &fifo, &["--tables", "parent"]));
    assert_refused(
        &work,
        &ran,
        "parent.csv: is a FIFO (named pipe); a dump holds only regular files, so it is not read",
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_app_untouched(&pg);

    // A link to /dev/zero, with the manifest (and SHA256SUMS) saying the file is empty.
    let zero = copy_dump(&dump, &work, "zero");
    fs::remove_file(zero.join("parent.csv")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero.join("parent.csv")).unwrap();
    let empty = sha256_hex(b"");
    forge(&zero, |m| {
        let p = table_index(m, "parent");
        let old = m["tables"][p]["bytes"].as_u64().unwrap();
        m["tables"][p]["files"][0]["bytes"] = json!(0);
        m["tables"][p]["files"][0]["sha256"] = json!(empty);
        m["tables"][p]["bytes"] = json!(0);
        m["tables"][p]["sha256"] = json!(empty);
        let total = m["totals"]["bytes"].as_u64().unwrap();
        m["totals"]["bytes"] = json!(total - old);
    });
    let (ran, took) = run_bounded(import_cmd(&work, &pg, &zero, &["--tables", "parent"]));
    assert_refused(
        &work,
        &ran,
        "parent.csv: is a symbolic link; a dump holds only regular files, so it is not read",
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_app_untouched(&pg);

    // The manifest itself as a link, and SHA256SUMS as a FIFO.
    let linked = copy_dump(&dump, &work, "linked");
    fs::rename(
        linked.join("migration_manifest.json"),
        work.path().join("elsewhere.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        work.path().join("elsewhere.json"),
        linked.join("migration_manifest.json"),
    )
    .unwrap();
    let (ran, _) = run_bounded(import_cmd(&work, &pg, &linked, &[]));
    assert_refused(&work, &ran, "migration_manifest.json: is a symbolic link");
    let sums = copy_dump(&dump, &work, "sums");
    fs::remove_file(sums.join("SHA256SUMS")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(sums.join("SHA256SUMS"))
            .status()
            .unwrap()
            .success()
    );
    let (ran, took) = run_bounded(import_cmd(&work, &pg, &sums, &["--tables", "parent"]));
    assert_refused(&work, &ran, "SHA256SUMS: is a FIFO (named pipe)");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_app_untouched(&pg);
}

#[test]
fn a_read_only_dump_directory_costs_only_the_side_files() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = PgDb::new("hard_ro");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    // root writes anywhere: the import then runs as `nobody`, for whom the dump is
    // read-only, with an audit log it may write.
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap();
    let audit_dir = work.path().join("audit");
    fs::create_dir(&audit_dir).unwrap();
    mode(&audit_dir, 0o777);
    mode(work.path(), 0o755);
    for d in [
        work.path().join("out"),
        dump.parent().unwrap().to_path_buf(),
    ] {
        mode(&d, 0o755);
    }
    mode(&dump, 0o555);
    let audit = audit_dir.join("log.jsonl");
    let exe = env!("CARGO_BIN_EXE_waybill-import");
    let cmd = work.bash(&format!(
        "exec {} '{exe}' --target '{}' '{}' --create-schema --audit-log '{}'",
        if as_root { "runuser -u nobody --" } else { "" },
        pg.url_text(),
        dump.display(),
        audit.display()
    ));
    let (ran, _) = run_bounded(cmd);
    mode(&dump, 0o755);
    let ran = ran.ok();
    assert_eq!(
        ran.stderr
            .matches("cannot write into the dump directory")
            .count(),
        1,
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("wrote "), "{}", ran.stderr);
    assert!(ran.stderr.contains("committed"), "{}", ran.stderr);
    assert_eq!(pg.count("parent"), 3);
    let names: Vec<String> = fs::read_dir(&dump)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("import_"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn truncate_cascade_never_empties_a_table_without_consent() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = app_target("hard_cascade");

    let ran = work.import(&pg, &dump, &["--tables", "parent"]);
    assert_refused(
        &work,
        &ran,
        "TRUNCATE ... CASCADE would also empty 1 table(s) that are not being loaded, because \
         their foreign keys reference loaded tables: \"public\".\"app_orders\" (1000 rows); load \
         them too, or pass --cascade to empty them",
    );
    assert_app_untouched(&pg);

    // --dry-run refuses the same way: it is a rehearsal of the real thing.
    let ran = work.import(&pg, &dump, &["--tables", "parent", "--dry-run"]);
    assert_refused(&work, &ran, "\"public\".\"app_orders\" (1000 rows)");

    let ran = work
        .import(&pg, &dump, &["--tables", "parent", "--cascade"])
        .ok();
    assert!(
        ran.stderr.contains(
            "--cascade: TRUNCATE ... CASCADE also empties these tables, which are not loaded \
             from the dump but reference loaded tables: \"public\".\"app_orders\" (1000 rows)"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(pg.count("app_orders"), 0);
    assert_eq!(pg.count("parent"), 3);
    let evs = events(&work);
    let run = evs.last().unwrap()["run_id"].clone();
    let emptied: Vec<&Value> = evs
        .iter()
        .filter(|e| e["run_id"] == run && e["table"] == "app_orders")
        .collect();
    assert_eq!(emptied.len(), 1, "{evs:?}");
    assert_eq!(emptied[0]["status"], "in_progress");
    assert_eq!(emptied[0]["rows"], 1000);
    assert_eq!(
        emptied[0]["message"],
        "emptied by TRUNCATE ... CASCADE (--cascade): 1000 row(s) before; not loaded from the \
         dump (not committed yet)"
    );
    assert_eq!(evs.last().unwrap()["status"], "completed");
}

/// An application session holding a lock on `parent` in an open transaction.
fn blocker(pg: &PgDb) -> (postgres::Client, i32) {
    let mut c = pg.client();
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    for sql in [
        "SET application_name = 'app-blocker'",
        "BEGIN",
        "LOCK TABLE parent IN ACCESS SHARE MODE",
    ] {
        c.batch_execute(sql).unwrap();
    }
    (c, pid)
}

#[test]
fn a_held_lock_times_out_and_names_the_blocking_session() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = app_target("hard_lock");
    let (mut app, pid) = blocker(&pg);

    let start = Instant::now();
    let ran = work.import(
        &pg,
        &dump,
        &["--tables", "parent", "--cascade", "--lock-timeout", "2s"],
    );
    let took = start.elapsed();
    assert_refused(
        &work,
        &ran,
        "gave up waiting for a lock on \"public\".\"parent\", \"public\".\"app_orders\" after 2s \
         (--lock-timeout), held by:",
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(30),
        "{took:?}"
    );
    for part in [
        format!("session pid {pid} (user "),
        "application \"app-blocker\"".to_string(),
        "state idle in transaction".to_string(),
        "holds AccessShareLock on public.parent".to_string(),
        "query \"LOCK TABLE parent IN ACCESS SHARE MODE\")".to_string(),
        "let them finish, end them (SELECT pg_terminate_backend(<pid>)), or raise --lock-timeout"
            .to_string(),
    ] {
        assert!(ran.stderr.contains(&part), "{part:?} in:\n{}", ran.stderr);
    }
    let evs = events(&work);
    let statuses: Vec<&str> = evs[evs.len() - 2..]
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["rolled_back", "failed"]);
    app.batch_execute("COMMIT").unwrap();
    assert_app_untouched(&pg);
}

#[test]
fn a_second_import_into_the_same_schema_is_refused_and_told_who_runs() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = app_target("hard_twice");
    // The first import waits (without a limit) for a lock an application holds ...
    let (mut app, _) = blocker(&pg);
    let first = import_cmd(
        &work,
        &pg,
        &dump,
        &[
            "--tables",
            "parent",
            "--cascade",
            "--lock-timeout",
            "2m",
            "-q",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut watch = pg.client();
    let first_pid = wait_for("the first import to wait for its lock", || {
        watch
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' \
                 AND application_name = 'waybill-import'",
                &[&pg.name],
            )
            .unwrap()
            .map(|r| r.get::<_, i32>(0))
    });
    // ... so a second one finds it running.
    let ran = work.import(&pg, &dump, &["--tables", "parent", "--cascade"]);
    assert_refused(
        &work,
        &ran,
        &format!(
            "another waybill-import is loading into schema public of database {}: session pid \
             {first_pid} (user ",
            pg.name
        ),
    );
    assert!(
        ran.stderr
            .contains("application \"waybill-import\", connected ")
            && ran.stderr.contains(
                "imports into one schema run one at a time: wait for it to finish, then run \
                 this one again"
            ),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("cache lookup failed"),
        "{}",
        ran.stderr
    );
    // Read through the application's session: it holds its lock on `parent`, where any
    // other reader would queue behind the first import's pending request.
    let n =
        |app: &mut postgres::Client, sql: &str| app.query_one(sql, &[]).unwrap().get::<_, i64>(0);
    assert_eq!(n(&mut app, "SELECT count(*) FROM parent WHERE id = 100"), 1);
    assert_eq!(n(&mut app, "SELECT count(*) FROM parent"), 1);
    assert_eq!(n(&mut app, "SELECT count(*) FROM app_orders"), 1000);

    // Once the application lets go, the first import finishes, alone.
    app.batch_execute("COMMIT").unwrap();
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pg.count("parent"), 3);
    assert_eq!(pg.count("app_orders"), 0);
    // And the lock went with it: a third import runs.
    work.import(&pg, &dump, &["--tables", "parent", "--cascade"])
        .ok();
}

#[test]
fn inconsistent_manifests_are_refused_naming_the_field() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let m = manifest(&dump);
    let (p, c) = (table_index(&m, "parent"), table_index(&m, "child"));
    let (flags, born) = (column_index(&m, p, "flags"), column_index(&m, p, "born"));
    let parent_file = m["tables"][p]["files"][0]["path"]
        .as_str()
        .unwrap()
        .to_string();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, String)> = vec![
        (
            "bit precision",
            Box::new(move |m| m["tables"][p]["columns"][flags]["precision"] = json!(4000000000u64)),
            format!(
                "tables[{p}].columns[{flags}].precision: 4000000000 is more than bit(n) allows (64)"
            ),
        ),
        (
            "date default",
            Box::new(move |m| {
                m["tables"][p]["columns"][born]["default"] = json!({"literal": "abcdé12345"})
            }),
            format!(
                "tables[{p}].columns[{born}].default: \"abcdé12345\" is not a date \
                 (YYYY-MM-DD[ HH:MM:SS[.ffffff]]) (the column's encoding is date)"
            ),
        ),
        (
            "primary key",
            Box::new(move |m| m["tables"][p]["primary_key"] = json!(["idd"])),
            format!(
                "tables[{p}].primary_key[0]: column \"idd\" is not a column of table \"parent\""
            ),
        ),
        (
            "foreign key column",
            Box::new(move |m| m["tables"][c]["foreign_keys"][0]["columns"] = json!(["nope"])),
            format!(
                "tables[{c}].foreign_keys[0].columns[0]: column \"nope\" is not a column of table \"child\""
            ),
        ),
        (
            "foreign key reference",
            Box::new(move |m| {
                m["tables"][c]["foreign_keys"][0]["referenced_columns"] = json!(["nope"])
            }),
            format!(
                "tables[{c}].foreign_keys[0].referenced_columns[0]: column \"nope\" is not a column of table \"parent\""
            ),
        ),
        (
            "table rows",
            Box::new(move |m| m["tables"][p]["rows"] = json!(7)),
            format!("tables[{p}].rows: table \"parent\" says 7, but its files' rows add up to 3"),
        ),
        (
            "duplicate table",
            Box::new(move |m| m["tables"][c]["name"] = json!("parent")),
            format!(
                "tables[{}].name: table \"parent\" appears twice (also tables[{}])",
                p.max(c),
                p.min(c)
            ),
        ),
        (
            "shared file",
            {
                let parent_file = parent_file.clone();
                Box::new(move |m| {
                    let f = m["tables"][p]["files"][0].clone();
                    m["tables"][c]["files"] = json!([f]);
                    m["tables"][c]["rows"] = f["rows"].clone();
                    m["tables"][c]["bytes"] = f["bytes"].clone();
                    m["tables"][c]["sha256"] = f["sha256"].clone();
                    let _ = &parent_file;
                })
            },
            format!(
                "tables[{}].files[0].path: \"{parent_file}\" is also the file of tables[{}].files[0]",
                p.max(c),
                p.min(c)
            ),
        ),
        (
            "file outside the dump",
            Box::new(move |m| m["tables"][p]["files"][0]["path"] = json!("../../etc/cron.d/x.csv")),
            format!(
                "tables[{p}].files[0].path: \"../../etc/cron.d/x.csv\" is not the name of a .csv file in the dump directory"
            ),
        ),
    ];
    for (what, edit, message) in cases {
        let forged = copy_dump(&dump, &work, &what.replace(' ', "_"));
        forge(&forged, edit);
        let pg = PgDb::new("hard_manifest");
        let ran = work.import(&pg, &forged, &["--create-schema"]);
        assert_refused(&work, &ran, &message);
        assert_eq!(public_tables(&pg), 0, "{what}: nothing was created");
        // Into existing tables too: the manifest is checked before anything else.
        let app = app_target("hard_manifest_app");
        let ran = work.import(&app, &forged, &["--cascade"]);
        assert_refused(&work, &ran, &message);
        assert_app_untouched(&app);
    }
}

#[test]
fn a_maxed_auto_increment_and_a_set_column_load_and_reload() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = PgDb::new("hard_seq");
    let ran = work.import(&pg, &dump, &["--create-schema"]).ok();
    assert!(
        ran.stderr.contains(
            "table `child`: sequence child_id_seq is exhausted: the loaded data (or the source's \
             AUTO_INCREMENT) reaches its maximum 2147483647, so it is left there and nextval \
             will fail"
        ),
        "{}",
        ran.stderr
    );
    let tags = |pg: &PgDb| {
        pg.text(
            "SELECT string_agg(id || '=' || coalesce(tags::text, 'NULL'), ' ' ORDER BY id) FROM child",
        )
    };
    let expected = Some("1={x,y} 2={} 3=NULL 2147483647={z}".to_string());
    assert_eq!(tags(&pg), expected);
    let next = pg
        .client()
        .query_one("SELECT nextval(pg_get_serial_sequence('child', 'id'))", &[])
        .unwrap_err();
    let next = next.as_db_error().unwrap().message().to_string();
    assert!(next.contains("reached maximum value"), "{next}");

    // The schema --create-schema made loads again without it: the SET column is text[].
    let ran = work.import(&pg, &dump, &[]).ok();
    assert!(ran.stderr.contains("is exhausted"), "{}", ran.stderr);
    assert_eq!(tags(&pg), expected);
    assert_eq!(pg.count("parent"), 3);
    // And with --commit per-table, table by table.
    work.import(&pg, &dump, &["--commit", "per-table", "--jobs", "2"])
        .ok();
    assert_eq!(tags(&pg), expected);
}

/// A compressed data file is untrusted too: bytes that are not zstd, a stream cut short
/// and a frame asking for a 32 MiB window (above the 16 MiB the readers accept, to keep
/// memory flat) are each refused with the file's name, by the import (nothing loaded,
/// no panic) and by waybill-verify, even when the manifest's hashes agree with them.
#[test]
fn a_broken_or_greedy_zstd_file_is_refused() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &["--compress", "zstd:19"]);
    let m = manifest(&dump);
    let file = table(&m, "parent")["files"][0]["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(file, "parent.csv.zst");
    let csv = zstd::decode_all(&fs::read(dump.join(&file)).unwrap()[..]).unwrap();
    // The whole CSV repeated: big enough that the header decodes before the damage.
    let mut long = csv.clone();
    for i in 4..20000 {
        long.extend_from_slice(format!("{i},n{i},\\N,\\N\n").as_bytes());
    }
    let packed = zstd::encode_all(&long[..], 3).unwrap();
    let greedy = {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.window_log(25).unwrap();
        e.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut e, &csv).unwrap();
        e.finish().unwrap()
    };
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "garbage",
            b"id,name,flags,born\n1,one,\\N,\\N\n".to_vec(),
            "not a valid zstd stream",
        ),
        (
            "truncated",
            packed[..packed.len() / 2].to_vec(),
            "not a valid zstd stream",
        ),
        ("greedy", greedy, "not a valid zstd stream"),
    ];
    for (name, bytes, message) in cases {
        let d = copy_dump(&dump, &work, name);
        fs::write(d.join(&file), &bytes).unwrap();
        let sha = sha256_hex(&bytes);
        let rows = long.iter().filter(|&&b| b == b'\n').count() as u64 - 1;
        forge(&d, |m| {
            let t = table_index(m, "parent");
            let f = &mut m["tables"][t]["files"][0];
            f["sha256"] = json!(sha);
            f["bytes"] = json!(bytes.len());
            if name == "truncated" {
                f["rows"] = json!(rows);
                m["tables"][t]["rows"] = json!(rows);
            }
            m["tables"][t]["sha256"] = json!(sha);
            m["tables"][t]["bytes"] = json!(bytes.len());
            let total: u64 = m["tables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["bytes"].as_u64().unwrap())
                .sum();
            m["totals"]["bytes"] = json!(total);
            let rows: u64 = m["tables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["rows"].as_u64().unwrap())
                .sum();
            m["totals"]["rows"] = json!(rows);
        });
        let pg = PgDb::new("zstd_bad");
        pg.exec(
            "CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL, flags bit(5), born date);
             INSERT INTO parent VALUES (100, 'sentinel', NULL, NULL);",
        );
        let (ran, _) = run_bounded(import_cmd(&work, &pg, &d, &["--tables", "parent"]));
        assert_refused(&work, &ran, message);
        assert!(ran.stderr.contains(&file), "{name}: {}", ran.stderr);
        assert_eq!(pg.count("parent"), 1, "{name}: the target is unchanged");
        assert_eq!(
            pg.text("SELECT name FROM parent").as_deref(),
            Some("sentinel")
        );
        let ran = work.run("waybill-verify", &[d.to_str().unwrap()]);
        assert_eq!(ran.code, Some(1), "{name}: {}", ran.all());
        assert!(
            ran.stderr.contains(message) && ran.stderr.contains(&file),
            "{name}: {}",
            ran.stderr
        );
    }
}
