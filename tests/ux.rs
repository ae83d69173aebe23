//! The operator's experience end to end: progress on a real terminal (a pseudo-terminal
//! made by `script`), summaries that fit its width, `--json` documents for machines,
//! and the errors a new user meets, each with the sentence that helps.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

/// Whether a line of the screen matches the regular expression `pattern`.
fn seen_in(lines: &[String], pattern: &str) -> bool {
    let re = regex::Regex::new(pattern).unwrap();
    lines.iter().any(|l| re.is_match(l))
}

/// What a terminal shows: escape sequences removed, carriage returns as line ends.
fn screen_lines(raw: &str) -> Vec<String> {
    let style = regex::Regex::new(r"\x1b\[[0-9;]*m").unwrap();
    let csi = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap();
    let raw = style.replace_all(raw, "");
    csi.replace_all(&raw, "\n")
        .split(['\r', '\n'])
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Runs `args` of binary `bin` on a pseudo-terminal `cols` columns wide (stdout and
/// stderr both on it, as in an interactive shell) and returns what it printed and its
/// exit code.
fn on_terminal(work: &Work, bin: &str, args: &[&str], cols: u16) -> (String, Option<i32>) {
    let exe = match bin {
        "waybill-export" => env!("CARGO_BIN_EXE_waybill-export"),
        "waybill-import" => env!("CARGO_BIN_EXE_waybill-import"),
        "waybill-log" => env!("CARGO_BIN_EXE_waybill-log"),
        other => panic!("unknown binary {other}"),
    };
    let quoted: Vec<String> = std::iter::once(exe)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let inner = format!(
        "stty cols {cols} rows 40; export COLUMNS={cols}; exec {}",
        quoted.join(" ")
    );
    let out = work
        .bash("script -qec \"$WB_CMD\" /dev/null")
        .env("WB_CMD", inner)
        .output()
        .expect("the script command (util-linux) runs a pseudo-terminal");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

/// The summary table: from its header line to the line before `stop`.
fn summary_lines<'a>(lines: &'a [String], header: &str, stop: &str) -> &'a [String] {
    let start = lines
        .iter()
        .rposition(|l| l.starts_with(header))
        .unwrap_or_else(|| panic!("no summary starting {header:?} in {lines:#?}"));
    let end = lines[start..]
        .iter()
        .position(|l| l.starts_with(stop))
        .map(|i| start + i)
        .unwrap_or(lines.len());
    &lines[start..end]
}

const LONG: &str = "a_table_with_a_name_long_enough_to_wrap_in_the_summary";

#[test]
fn progress_and_summaries_on_a_terminal() {
    let db = big_db();
    db.exec(&[
        &format!("CREATE TABLE {LONG} (id INT PRIMARY KEY, v TEXT)"),
        &format!("INSERT INTO {LONG} SELECT seq, 'x' FROM seq_1_to_12345"),
    ]);
    let work = Work::new();
    let url = db.url_text();
    let (raw, code) = on_terminal(
        &work,
        "waybill-export",
        &["--source", &url, "--out", "out", "--chunk-size", "0"],
        72,
    );
    assert_eq!(code, Some(0), "{raw}");
    let lines = screen_lines(&raw);
    // A table's bar: rows of the source's estimate, bytes, rate and ETA; the overall
    // bar too. Narrower than 100 columns, the numbers come without the bar itself.
    let seen = |pattern: &str| seen_in(&lines, pattern);
    assert!(
        seen(r"big +[\d,]+/~[\d,]+ rows, [\d.]+ MiB, [\d,]+ rows/s, ETA \d+s"),
        "{lines:#?}"
    );
    assert!(
        seen(
            r"export +[\d,]+/~[\d,]+ rows, [\d.]+ [KM]iB, [\d,]+ rows/s, ETA \d+s, [012]/2 tables"
        ),
        "{lines:#?}"
    );
    let summary = summary_lines(&lines, "table ", "snapshot:");
    for l in summary {
        assert!(
            l.width() <= 72,
            "wider than the terminal: {l:?}\n{summary:#?}"
        );
    }
    let total = summary.iter().find(|l| l.starts_with("TOTAL")).unwrap();
    assert!(total.contains("612,345"), "{total}");
    assert!(
        summary
            .iter()
            .any(|l| l.starts_with("big ") && l.contains("600,000")),
        "{summary:#?}"
    );
    // The long name wraps: its pieces are on consecutive lines of the first column.
    let joined: String = summary
        .iter()
        .map(|l| l.split("  ").next().unwrap_or("").trim())
        .collect();
    assert!(joined.contains(LONG), "{summary:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with("elapsed: ")),
        "{lines:#?}"
    );
    // The dump directory once: stdout is the terminal, so it is the last line there and
    // not in the summary.
    let dump = PathBuf::from(lines.last().unwrap().trim());
    assert!(dump.join("migration_manifest.json").is_file(), "{lines:#?}");
    let shown = dump.display().to_string();
    assert_eq!(raw.matches(&shown).count(), 1, "{raw}");

    // The import: hashing with a bar, a bar per table in bytes with rows in proportion,
    // the index rebuild, a summary with a TOTAL row and the elapsed time.
    let pg = big_target("ux_terminal");
    pg.exec(&format!("CREATE TABLE {LONG} (id int PRIMARY KEY, v text)"));
    let (raw, code) = on_terminal(
        &work,
        "waybill-import",
        &["--target", &pg.url_text(), dump.to_str().unwrap()],
        120,
    );
    assert_eq!(code, Some(0), "{raw}");
    let lines = screen_lines(&raw);
    let seen = |pattern: &str| seen_in(&lines, pattern);
    // A terminal 100 columns wide or more gets the bars drawn as well.
    assert!(
        seen(r"verifying the dump: hashing 2 file\(s\) [=> ]+ [\d.]+ [KM]iB/[\d.]+ MiB"),
        "{lines:#?}"
    );
    assert!(
        seen(r"big +[=> ]+ +[\d,]+/600,000 rows +[\d.]+ [KM]iB +[\d.]+ MiB/s ETA +\d+s"),
        "{lines:#?}"
    );
    assert!(
        seen(r"import +[=> ]+ +[\d,]+/612,345 rows .* [01]/2 tables"),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("building the indexes of big")),
        "{lines:#?}"
    );
    let summary = summary_lines(&lines, "table ", "wrote ");
    for l in summary {
        assert!(
            l.width() <= 120,
            "wider than the terminal: {l:?}\n{summary:#?}"
        );
    }
    let total = summary.iter().find(|l| l.starts_with("TOTAL")).unwrap();
    assert!(
        total.contains("612,345      612,345") || total.contains("612,345  612,345"),
        "{total}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("elapsed: ")),
        "{lines:#?}"
    );
    assert_eq!(pg.count("big"), 600_000);

    // --resume after a complete --commit per-table run keeps both tables: the overall
    // bar still ends at every row and every table.
    work.import(&pg, &dump, &["--commit", "per-table"]).ok();
    let (raw, code) = on_terminal(
        &work,
        "waybill-import",
        &[
            "--target",
            &pg.url_text(),
            "--commit",
            "per-table",
            "--resume",
            dump.to_str().unwrap(),
        ],
        120,
    );
    assert_eq!(code, Some(0), "{raw}");
    let lines = screen_lines(&raw);
    let seen = |pattern: &str| seen_in(&lines, pattern);
    assert!(
        seen(r"import +[=> ]+ +612,345/612,345 rows .* 2/2 tables"),
        "{lines:#?}"
    );
    assert!(
        seen(r"^big: kept \(proven equal\): 600000 row\(s\)"),
        "{lines:#?}"
    );
    assert_eq!(pg.count("big"), 600_000);

    // waybill-log show fits too, wrapping long messages.
    let (raw, code) = on_terminal(&work, "waybill-log", &["show"], 80);
    assert_eq!(code, Some(0), "{raw}");
    let lines = screen_lines(&raw);
    assert!(lines.len() > 4, "{lines:#?}");
    for l in &lines {
        assert!(
            l.width() <= 80,
            "wider than the terminal: {l:?}\n{lines:#?}"
        );
    }
    assert!(lines[0].starts_with("time (UTC)"), "{lines:#?}");
}

fn small_db(tag: &str) -> MyDb {
    let db = MyDb::new(tag);
    db.exec(&[
        "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE u (id INT PRIMARY KEY)",
        "INSERT INTO t VALUES (1, 'a'), (2, NULL), (3, 'c')",
        "INSERT INTO u VALUES (1)",
    ]);
    db
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}): {stdout}"))
}

#[test]
fn json_documents_for_machines() {
    let db = small_db("ux_json");
    let work = Work::new();
    let url = db.url_text();
    let ran = work
        .run(
            "waybill-export",
            &["--source", &url, "--out", "out", "--json"],
        )
        .ok();
    let doc = json(&ran.stdout);
    assert_eq!(doc["tool"], "waybill-export");
    assert_eq!(doc["status"], "completed");
    let dump = PathBuf::from(doc["dump_dir"].as_str().unwrap());
    assert!(dump.join("migration_manifest.json").is_file());
    assert_eq!(doc["source"], db.url.redacted());
    let events = audit_events(&work);
    assert_eq!(doc["run_id"], events.last().unwrap()["run_id"]);
    assert_eq!(doc["totals"]["rows"], 4);
    assert_eq!(doc["totals"]["tables"], 2);
    assert_eq!(doc["totals"]["files"], 2);
    assert_eq!(doc["snapshot"]["consistent"], true);
    let tables = doc["tables"].as_array().unwrap();
    let t = tables.iter().find(|t| t["name"] == "t").unwrap();
    assert_eq!(t["rows"], 3);
    assert_eq!(t["files"], 1);
    assert!(t["bytes"].as_u64().unwrap() > 0);
    assert!(doc["elapsed_secs"].as_f64().unwrap() >= 0.0);
    assert!(doc["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(doc["warnings"].as_array().unwrap().is_empty());
    // The human summary still goes to stderr.
    assert!(ran.stderr.contains("TOTAL"), "{}", ran.stderr);

    let pg = PgDb::new("ux_json");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY, name text); CREATE TABLE other (id int);");
    let dump_s = dump.to_str().unwrap();
    let ran = work.import(&pg, &dump, &["--json", "--dry-run"]).ok();
    let doc = json(&ran.stdout);
    assert_eq!(doc["status"], "dry_run");
    assert_eq!(doc["dry_run"], true);
    assert!(
        doc["sql"]
            .as_str()
            .unwrap()
            .contains("\\copy \"public\".\"t\" (\"id\", \"name\")"),
        "{doc}"
    );
    let ran = work.import(&pg, &dump, &["--json"]).ok();
    let doc = json(&ran.stdout);
    assert_eq!(doc["tool"], "waybill-import");
    assert_eq!(doc["status"], "committed");
    assert_eq!(doc["dump_dir"], dump_s);
    assert_eq!(doc["schema"], "public");
    assert_eq!(doc["target"], pg.url.redacted());
    assert_eq!(doc["totals"]["loaded"], 1);
    assert_eq!(doc["totals"]["skipped"], 1);
    assert_eq!(doc["totals"]["loaded_rows"], 3);
    assert_eq!(doc["totals"]["manifest_rows"], 4);
    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(tables[0]["name"], "t");
    assert_eq!(tables[0]["status"], "loaded");
    assert_eq!(tables[0]["loaded_rows"], 3);
    assert_eq!(tables[1]["name"], "u");
    assert_eq!(tables[1]["status"], "skipped");
    assert_eq!(tables[1]["loaded_rows"], Value::Null);
    assert!(
        doc["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("table `u` skipped")),
        "{doc}"
    );
    let events = audit_events(&work);
    assert_eq!(doc["run_id"], events.last().unwrap()["run_id"]);
    assert!(doc["log_path"].as_str().unwrap().starts_with(dump_s));
    assert_eq!(pg.count("t"), 3);

    // A failure is a document too, with the exit code unchanged.
    let empty = PgDb::new("ux_json_empty");
    let ran = work.import(&empty, &dump, &["--json"]);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let doc = json(&ran.stdout);
    assert_eq!(doc["status"], "failed");
    assert_eq!(doc["rolled_back"], false);
    assert!(
        doc["error"].as_str().unwrap().contains("--create-schema"),
        "{doc}"
    );
    assert!(doc["run_id"].as_str().unwrap().contains("-import-"));
    let ran = work.run(
        "waybill-export",
        &[
            "--source",
            &url.replace(&db.name, "wb_no_such_db"),
            "--json",
        ],
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let doc = json(&ran.stdout);
    assert_eq!(doc["status"], "failed");
    assert_eq!(doc["dump_dir"], Value::Null);
    assert!(
        doc["error"].as_str().unwrap().contains("wb_no_such_db"),
        "{doc}"
    );
    assert!(
        ran.stderr.contains("waybill-export: error: "),
        "{}",
        ran.stderr
    );
}

#[test]
fn an_empty_target_suggests_create_schema() {
    let db = small_db("ux_empty");
    let work = Work::new();
    let dump = work.export(&db, &["-q"]);
    let pg = PgDb::new("ux_empty");
    let ran = work.import(&pg, &dump, &["-q"]).failed();
    assert!(
        ran.stderr.contains(&format!(
            "schema public of the target database {} has no tables, so no table of the dump \
             has one to load into; to create them from the dump, add --create-schema (or run \
             your application's migrations first)",
            pg.name
        )),
        "{}",
        ran.stderr
    );
    // Tables that match nothing are listed.
    pg.exec("CREATE TABLE orders (id int); CREATE TABLE customers (id int);");
    let ran = work.import(&pg, &dump, &["-q"]).failed();
    assert!(
        ran.stderr.contains(&format!(
            "no table of the dump has a matching table in the target; nothing to load. schema \
             public of the target database {} has 2 table(s): customers, orders; to create the \
             dump's tables instead, add --create-schema",
            pg.name
        )),
        "{}",
        ran.stderr
    );
    let ran = work.import(&pg, &dump, &["-q", "--schema", "app"]).failed();
    assert!(
        ran.stderr.contains(&format!(
            "schema app does not exist in the target database {}; to create it and the dump's \
             tables from the manifest, add --create-schema",
            pg.name
        )),
        "{}",
        ran.stderr
    );
}

#[test]
fn the_wrong_directory_or_the_manifest_file() {
    let db = small_db("ux_dirs");
    let work = Work::new();
    let first = work.export(&db, &["-q"]);
    let second = work.export(&db, &["-q"]);
    let pg = PgDb::new("ux_dirs");
    pg.exec("CREATE TABLE t (id int PRIMARY KEY, name text); CREATE TABLE u (id int);");
    // The database directory: its dumps are listed, newest first.
    let database_dir = first.parent().unwrap();
    let ran = work.import(&pg, database_dir, &["-q"]).failed();
    assert!(
        ran.stderr.contains(&format!(
            "{} is not a dump but a database directory: its dumps are in its timestamped \
             subdirectories; pass one of them, e.g. the newest: {}, {}",
            database_dir.display(),
            second.display(),
            first.display()
        )),
        "{}",
        ran.stderr
    );
    // The export directory above it.
    let out = database_dir.parent().unwrap();
    let ran = work.import(&pg, out, &["-q"]).failed();
    assert!(
        ran.stderr.contains(&format!(
            "{} is not a dump but the export directory: its dumps are in \
             <database>/<YYYYMMDD_HHMMSS>/ below it; pass one of them, e.g. the newest: {}",
            out.display(),
            second.display()
        )),
        "{}",
        ran.stderr
    );
    // The manifest file stands for its directory.
    let manifest = second.join("migration_manifest.json");
    let ran = work.import(&pg, &manifest, &[]).ok();
    assert!(
        ran.stderr.contains(&format!(
            "{} is the dump's manifest: importing its directory",
            manifest.display()
        )),
        "{}",
        ran.stderr
    );
    assert_eq!(pg.count("t"), 3);
    let events = audit_events(&work);
    assert_eq!(
        events.last().unwrap()["dump_dir"],
        second.display().to_string()
    );
}

const WRONG: &str = "Wr0ng-pass-ux11";

#[test]
fn access_denied_says_where_the_setting_came_from() {
    let db = small_db("ux_denied");
    let work = Work::new();
    let dump = work.export(&db, &["-q"]);
    let pg = PgDb::new("ux_denied");
    let good_pw = pg.url.password().unwrap().to_string();
    let bad = url_text(&pg.url).replace(&format!(":{good_pw}@"), &format!(":{WRONG}@"));
    assert_ne!(bad, pg.url_text());
    let dump_s = dump.to_str().unwrap();
    let check = |stderr: &str, origin: &str| {
        assert!(
            stderr.contains("password authentication failed"),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("; check the user and password: {origin}")),
            "{origin}: {stderr}"
        );
        assert!(
            !stderr.contains(WRONG),
            "the password is never shown: {stderr}"
        );
    };
    // The flag.
    let ran = work
        .run("waybill-import", &["--target", &bad, dump_s, "-q"])
        .failed();
    check(&ran.stderr, "the URL came from --target");
    // The environment.
    let o = work
        .command("waybill-import")
        .env("WAYBILL_TARGET", &bad)
        .args([dump_s, "-q"])
        .output()
        .unwrap();
    check(
        &String::from_utf8_lossy(&o.stderr),
        "the URL came from WAYBILL_TARGET in the environment",
    );
    // .env, and a URL without a password that takes POSTGRES_PASSWORD from .env.
    let dotenv = work.path().join(".env");
    fs::write(&dotenv, format!("WAYBILL_TARGET={bad}\n")).unwrap();
    let ran = work.run("waybill-import", &[dump_s, "-q"]).failed();
    check(
        &ran.stderr,
        &format!("the URL came from WAYBILL_TARGET in {}", dotenv.display()),
    );
    let no_pw = url_text(&pg.url).replace(&format!(":{good_pw}@"), "@");
    fs::write(
        &dotenv,
        format!("WAYBILL_TARGET={no_pw}\nPOSTGRES_PASSWORD={WRONG}\n"),
    )
    .unwrap();
    let ran = work.run("waybill-import", &[dump_s, "-q"]).failed();
    check(
        &ran.stderr,
        &format!(
            "the URL came from WAYBILL_TARGET in {0}, the password from POSTGRES_PASSWORD in {0}",
            dotenv.display()
        ),
    );
    fs::remove_file(&dotenv).unwrap();

    // The source side: MySQL's discrete settings from the environment.
    let u = &db.url;
    let port = u.port.to_string();
    let o = work
        .command("waybill-export")
        .envs([
            ("MYSQL_HOST", u.host.as_str()),
            ("MYSQL_PORT", port.as_str()),
            ("MYSQL_USER", u.user.as_str()),
            ("MYSQL_PASSWORD", WRONG),
            ("MYSQL_DATABASE", db.name.as_str()),
        ])
        .args(["-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("ERROR 1045 (28000): Access denied"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "; check the user and password: the settings came from MYSQL_HOST in the \
             environment, MYSQL_PORT in the environment, MYSQL_USER in the environment, \
             MYSQL_PASSWORD in the environment, MYSQL_DATABASE in the environment"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains(WRONG), "{stderr}");
}

#[test]
fn a_stale_shell_variable_is_named_when_dotenv_says_otherwise() {
    let db = small_db("ux_stale");
    let work = Work::new();
    let good = db.url_text();
    let stale = good.replace(&db.name, "wb_old_database");
    fs::write(work.path().join(".env"), format!("WAYBILL_SOURCE={good}\n")).unwrap();
    let o = work
        .command("waybill-export")
        .env("WAYBILL_SOURCE", &stale)
        .args(["--out", "out", "-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.starts_with(&format!(
            "waybill-export: warning: WAYBILL_SOURCE is set in the environment and, to another \
             value, in {}; the environment's value is used (unset WAYBILL_SOURCE in the shell \
             to use the file's)\n",
            work.path().join(".env").display()
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&stale) && !stderr.contains(&good),
        "never a value: {stderr}"
    );
    assert!(
        stderr.contains("wb_old_database"),
        "the stale value won: {stderr}"
    );
    // The same value in both: nothing to say.
    let o = work
        .command("waybill-export")
        .env("WAYBILL_SOURCE", &good)
        .args(["--out", "out", "-q"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
}

#[test]
fn the_audit_log_before_anything_was_logged() {
    let work = Work::new();
    let expected = format!(
        "waybill-log: error: there is no audit log at csv_exports/migration_log.jsonl \
         (relative to {}) yet: nothing has been logged there (waybill-export, waybill-import \
         and `waybill-log <status>` create it; --audit-log or WAYBILL_AUDIT_LOG name another \
         file)\n",
        work.path().canonicalize().unwrap().display()
    );
    for args in [&["verify"][..], &["show"], &["show", "--json"]] {
        let ran = work.run("waybill-log", args);
        assert_eq!(ran.code, Some(1), "{args:?}");
        assert_eq!(ran.stderr, expected, "{args:?}");
        assert_eq!(ran.stdout, "", "{args:?}");
        assert!(!ran.stderr.contains("BROKEN"));
    }
    assert!(!work.audit_log().exists(), "reading never creates the log");
    // Once something is logged, show and verify work; a filter that matches nothing
    // says so.
    work.run("waybill-log", &["started", "window"]).ok();
    let ran = work
        .run("waybill-log", &["show", "--status", "failed"])
        .ok();
    assert_eq!(ran.stdout, "");
    assert!(ran.stderr.starts_with("no events in "), "{}", ran.stderr);
    work.run("waybill-log", &["verify"]).ok();
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_scripts_run_the_tools_from_a_checkout() {
    let work = Work::new();
    // The test binaries stand for installed ones, so nothing is built here.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_waybill-log"))
        .parent()
        .unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let script = |name: &str, args: &[&str]| {
        let o = work
            .command_path(&repo().join("scripts").join(name))
            .env("PATH", &path)
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, _) = script("waybill", &["log", "started", "from the wrapper"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("-log-"), "{out}");
    let (code, out, _) = script("waybill", &["log", "verify"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("ok: 1 events"), "{out}");
    let (code, out, _) = script("log_migration_run.sh", &["show"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("from the wrapper"), "{out}");
    let (code, _, err) = script("waybill", &["frobnicate"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown tool 'frobnicate'"), "{err}");
    assert!(err.contains("log verify"), "{err}");
    let (code, _, err) = script("log_migration_run.sh", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("show [--run ID]") && err.contains("verify"),
        "the usage says show and verify pass through: {err}"
    );
    let (code, out, _) = script("waybill", &["import", "--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("--rename-file"), "{out}");
}

#[test]
fn the_type_preflight_refuses_what_copy_would_reject() {
    let db = MyDb::new("ux_types");
    db.exec(&[
        "CREATE TABLE t (id INT PRIMARY KEY, kind ENUM('a','b','c') NOT NULL,
            flag TINYINT(1), price DECIMAL(10,2), born DATE, note VARCHAR(20),
            mood VARCHAR(10), tags SET('x','y','z'))",
        "INSERT INTO t VALUES (1, 'a', 1, 2.50, '2001-02-03', 'n1', 'happy', 'x,z'),
            (2, 'c', 2, 3.00, NULL, NULL, 'sad', '')",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &["-q"]);
    let pg = PgDb::new("ux_types");
    pg.exec(
        "CREATE TYPE kind_t AS ENUM ('a', 'b');
         CREATE TYPE mood_t AS ENUM ('happy', 'sad');
         CREATE TABLE t (id int PRIMARY KEY, kind kind_t NOT NULL, flag boolean,
             price integer, born integer, note text[], mood mood_t, tags text[]);
         INSERT INTO t (id, kind) VALUES (-1, 'a');",
    );
    let ran = work.import(&pg, &dump, &[]).failed();
    let expect = [
        "table `t`, column `kind` (source type enum('a','b','c'), in the dump as enum_text) into \
         \"public\".\"t\".\"kind\" of type kind_t: the source's values 'c' are not labels of \
         kind_t (it has 'a', 'b'); add them (ALTER TYPE kind_t ADD VALUE 'c'), or make the \
         column text",
        "table `t`, column `flag` (source type tinyint(1), in the dump as boolean_int) into \
         \"public\".\"t\".\"flag\" of type boolean: 1 value(s) of the dump are numbers other \
         than 0 and 1, which COPY does not read as booleans; make the column smallint (ALTER \
         TABLE \"public\".\"t\" ALTER COLUMN \"flag\" TYPE smallint USING \"flag\"::int)",
        "table `t`, column `price` (source type decimal(10,2), in the dump as decimal) into \
         \"public\".\"t\".\"price\" of type integer: the dump writes every value with 2 decimal \
         place(s) (`2.00`), which an integer column does not read; change the target column to \
         a type that takes it (e.g. numeric(10,2): ALTER TABLE \"public\".\"t\" ALTER COLUMN \
         \"price\" TYPE ...), or create the table with --create-schema",
        "table `t`, column `born` (source type date, in the dump as date) into \
         \"public\".\"t\".\"born\" of type integer: COPY reads only numbers into it; change the \
         target column to a type that takes it (e.g. date:",
        "table `t`, column `note` (source type varchar(20), in the dump as text) into \
         \"public\".\"t\".\"note\" of type text[]: COPY reads an array column as `{a,b}` \
         literals, and the dump holds single values;",
    ];
    for e in expect {
        assert!(ran.stderr.contains(e), "{e}\n{}", ran.stderr);
    }
    assert!(
        ran.stderr.contains(
            "warning: table `t`, column `mood` (source type varchar(10), in the dump as text) \
             into \"public\".\"t\".\"mood\" of type mood_t: every value must be one of its \
             labels ('happy', 'sad'); a value COPY rejects stops the load"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("column `tags`"),
        "a SET converts: {}",
        ran.stderr
    );
    assert_eq!(
        pg.text("SELECT string_agg(id::text, ',') FROM t")
            .as_deref(),
        Some("-1"),
        "nothing was written"
    );
    // With the fixes the refusals name, the same dump loads.
    pg.exec(
        "ALTER TYPE kind_t ADD VALUE 'c';
         ALTER TABLE t ALTER COLUMN flag TYPE smallint USING flag::int,
             ALTER COLUMN price TYPE numeric(10,2), ALTER COLUMN born TYPE date USING NULL,
             ALTER COLUMN note TYPE text USING NULL;",
    );
    work.import(&pg, &dump, &[]).ok();
    assert_eq!(
        pg.text(
            "SELECT string_agg(concat_ws('|', id, kind, flag, price, born, note, mood, tags), ';' ORDER BY id) FROM t"
        )
        .as_deref(),
        Some("1|a|1|2.50|2001-02-03|n1|happy|{x,z};2|c|2|3.00|sad|{}")
    );

    // A schema --create-schema made takes a plain import again (the SET is text[]).
    let pg2 = PgDb::new("ux_types_again");
    work.import(&pg2, &dump, &["--create-schema"]).ok();
    work.import(&pg2, &dump, &[]).ok();
    assert_eq!(
        pg2.text("SELECT string_agg(concat_ws('|', id, kind, flag, tags), ';' ORDER BY id) FROM t")
            .as_deref(),
        Some("1|a|1|{x,z};2|c|2|{}")
    );
}
