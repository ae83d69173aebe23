//! Target columns made by an application's own migrations that change values: each row
//! of issue 10's table, against the real MariaDB and PostgreSQL. The type pre-flight
//! refuses the lossy target and names the column; `--allow-lossy` lets it load (and the
//! value really changes); `--verify` then rolls the load back and names the changed
//! values; an exact target passes with every value equal. Values equal in meaning but
//! not in spelling are not reported.

mod common;

use std::fs;

use common::*;
use serde_json::Value;

/// (table, MySQL type, values, lossy target type, what PostgreSQL stores for the first
/// value, exact target type)
type Case = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static str,
    &'static str,
);

const CASES: &[Case] = &[
    (
        "t_d4",
        "DECIMAL(10,4)",
        &["1.2345", "9.9999"],
        "numeric(10,2)",
        "1.23",
        "numeric(10,4)",
    ),
    (
        "t_d1",
        "DECIMAL(10,1)",
        &["1.5", "2.5"],
        "numeric(10,0)",
        "2",
        "numeric(10,1)",
    ),
    (
        "t_dt6",
        "DATETIME(6)",
        &["2024-01-01 23:59:59.999999"],
        "timestamp(0)",
        "2024-01-02 00:00:00",
        "timestamp(6)",
    ),
    (
        "t_dt",
        "DATETIME",
        &["2024-01-01 13:14:15"],
        "date",
        "2024-01-01",
        "timestamp",
    ),
    (
        "t_dbl",
        "DOUBLE",
        &["123456789.12345679"],
        "real",
        "1.2345679e+08",
        "double precision",
    ),
    (
        "t_uint",
        "INT UNSIGNED",
        &["4294967295"],
        "real",
        "4.2949673e+09",
        "bigint",
    ),
    (
        "t_vc",
        "VARCHAR(20)",
        &["abc       "],
        "varchar(5)",
        "abc  ",
        "varchar(20)",
    ),
    (
        "t_ch",
        "VARCHAR(20)",
        &["abc       "],
        "char(5)",
        "abc  ",
        "text",
    ),
    (
        "t_json",
        "JSON",
        &[r#"{"a":1,"a":2}"#],
        "jsonb",
        r#"{"a": 2}"#,
        "json",
    ),
];

fn source() -> MyDb {
    let db = MyDb::new("lossy");
    let mut stmts = Vec::new();
    for (t, ty, values, ..) in CASES {
        stmts.push(format!("CREATE TABLE {t} (id INT PRIMARY KEY, x {ty})"));
        for (i, v) in values.iter().enumerate() {
            stmts.push(format!(
                "INSERT INTO {t} VALUES ({}, '{}')",
                i + 1,
                v.replace('\'', "''")
            ));
        }
    }
    let refs: Vec<&str> = stmts.iter().map(String::as_str).collect();
    db.exec(&refs);
    db
}

fn target(lossy: bool) -> PgDb {
    let pg = PgDb::new(if lossy { "lossy" } else { "exact" });
    let ddl: String = CASES
        .iter()
        .map(|(t, _, _, bad, _, good)| {
            format!(
                "CREATE TABLE {t} (id integer PRIMARY KEY, x {});\n",
                if lossy { bad } else { good }
            )
        })
        .collect();
    pg.exec(&ddl);
    pg
}

fn events(work: &Work) -> Vec<Value> {
    fs::read_to_string(work.audit_log())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The statuses of the last run of `tool` in the audit trail.
fn last_run(work: &Work, tool: &str) -> Vec<String> {
    let ev = events(work);
    let run = ev
        .iter()
        .rev()
        .find(|e| e["tool"] == tool)
        .map(|e| e["run_id"].clone())
        .unwrap();
    ev.iter()
        .filter(|e| e["run_id"] == run)
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect()
}

fn shown(v: &str) -> String {
    format!("{v:?}")
}

#[test]
fn each_lossy_target_is_refused_then_accepted_then_caught_by_verify() {
    let db = source();
    let pg = target(true);
    let work = Work::new();
    let dump = work.export(&db, &[]);

    // All at once: the pre-flight names every lossy column, before any write.
    let ran = work.import(&pg, &dump, &[]).failed();
    assert!(
        ran.stderr
            .contains("pre-flight check failed, nothing was loaded"),
        "{}",
        ran.stderr
    );
    for (t, ty, _, bad, ..) in CASES {
        let ty = ty
            .to_ascii_lowercase()
            .replace("int unsigned", "int(10) unsigned");
        assert!(
            ran.stderr.lines().any(|l| l.contains(&format!("{t} "))
                && l.contains(" x ")
                && l.contains(&ty)
                && l.contains(
                    &bad.replace("varchar", "character varying")
                        .replace("char(5)", "character(5)")
                        .replace("timestamp(0)", "timestamp(0) without time zone")
                )
                && l.trim_end().ends_with("refused")),
            "{t}: {}",
            ran.stderr
        );
    }
    assert!(ran.stderr.contains("--allow-lossy"), "{}", ran.stderr);
    assert_eq!(last_run(&work, "import"), ["started", "failed"]);
    for (t, ..) in CASES {
        assert_eq!(pg.count(t), 0, "nothing written to {t}");
    }

    for (t, _, values, bad, stored, _) in CASES {
        let only = ["--tables", t];
        // Refused alone, naming the column.
        let ran = work.import(&pg, &dump, &only).failed();
        assert!(
            ran.stderr.contains(&format!("{t} ")) && ran.stderr.contains("refused"),
            "{t}: {}",
            ran.stderr
        );
        assert_eq!(last_run(&work, "import"), ["started", "failed"], "{t}");
        // Accepting another column does not accept this one.
        let ran = work
            .import(&pg, &dump, &["--tables", t, "--allow-lossy", "t_d4.id"])
            .failed();
        assert!(ran.stderr.contains("refused"), "{t}: {}", ran.stderr);

        // Accepted: it loads, and the value really changes.
        let accept = format!("{t}.x");
        let ran = work
            .import(&pg, &dump, &["--tables", t, "--allow-lossy", &accept])
            .ok();
        assert!(
            ran.stderr
                .contains("lossy column types accepted with --allow-lossy"),
            "{t}: {}",
            ran.stderr
        );
        // character(n) keeps its padding only when read as itself (a cast to text drops it).
        let cast = if *bad == "char(5)" { "" } else { "::text" };
        let got = pg.text(&format!("SELECT x{cast} FROM {t} WHERE id = 1"));
        assert_eq!(
            got.as_deref(),
            Some(*stored),
            "{t} stores the changed value"
        );
        assert_eq!(pg.count(t), values.len() as i64);

        // --verify reads it back before COMMIT, names the value and rolls back.
        pg.exec(&format!("UPDATE {t} SET id = id + 100"));
        let ran = work
            .import(
                &pg,
                &dump,
                &["--tables", t, "--allow-lossy", &accept, "--verify"],
            )
            .failed();
        let line = format!(
            "table `{t}`, id=1, column `x`: the dump has {}, the target has {}",
            shown(values[0]),
            shown(stored)
        );
        assert!(
            ran.stderr.contains(&line),
            "{t}: want {line}\n{}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("nothing was committed")
                && ran.stderr.contains("the transaction was rolled back"),
            "{t}: {}",
            ran.stderr
        );
        assert_eq!(
            last_run(&work, "import"),
            ["started", "in_progress", "rolled_back", "failed"],
            "{t}"
        );
        assert_eq!(
            pg.text(&format!(
                "SELECT string_agg(id::text, ',' ORDER BY id) FROM {t}"
            )),
            Some(
                (1..=values.len())
                    .map(|i| (i + 100).to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            "{t}: the rolled-back load left the earlier rows as they were"
        );
    }
    // The issue's second values are caught too.
    let ran = work
        .import(
            &pg,
            &dump,
            &["--tables", "t_d4", "--allow-lossy", "--verify"],
        )
        .failed();
    assert!(
        ran.stderr.contains(
            "table `t_d4`, id=2, column `x`: the dump has \"9.9999\", the target has \"10.00\""
        ),
        "{}",
        ran.stderr
    );

    // A --allow-lossy column the dump does not have is a mistake, said before connecting.
    let ran = work
        .import(&pg, &dump, &["--allow-lossy", "t_d4.nope"])
        .failed();
    assert!(
        ran.stderr
            .contains("--allow-lossy: the dump has no column t_d4.nope"),
        "{}",
        ran.stderr
    );
}

#[test]
fn exact_targets_load_and_verify_with_no_flag() {
    let db = source();
    let pg = target(false);
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let ran = work.import(&pg, &dump, &["--verify"]).ok();
    assert!(
        ran.stderr.contains("every value equal to the dump"),
        "{}",
        ran.stderr
    );
    for (t, _, values, ..) in CASES {
        assert_eq!(pg.count(t), values.len() as i64);
    }
    assert_eq!(
        pg.text("SELECT x::text FROM t_dt6 WHERE id = 1").as_deref(),
        Some("2024-01-01 23:59:59.999999")
    );
    // The dry run prints the same verdict and writes nothing.
    let lossy = target(true);
    let ran = work
        .import(&lossy, &dump, &["--dry-run", "--allow-lossy"])
        .ok();
    assert!(
        ran.stderr.contains("t_dbl") && ran.stderr.contains("accepted"),
        "{}",
        ran.stderr
    );
    assert_eq!(lossy.count("t_dbl"), 0);
    let ran = work.import(&lossy, &dump, &["--dry-run"]).failed();
    assert!(ran.stderr.contains("refused"), "{}", ran.stderr);
}

#[test]
fn equal_in_meaning_is_not_reported() {
    let db = MyDb::new("meaning");
    db.exec(&[
        "CREATE TABLE m (id CHAR(36) PRIMARY KEY, j JSON, n DECIMAL(10,2), ts TIMESTAMP(3) NULL, \
         b TINYINT(1), dur TIME, e ENUM('x','y'), s SET('a','b'))",
        "SET time_zone = '+00:00'",
        r#"INSERT INTO m VALUES ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"b": 1,  "a": [1, 2.50]}', 1.50, '2024-03-10 07:00:00.250', 1, '-12:30:00', 'y', 'a,b'),
           ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '[]', -0.00, NULL, 0, '838:59:59', NULL, '')"#,
    ]);
    let pg = PgDb::new("meaning");
    pg.exec(
        "CREATE TABLE m (id uuid PRIMARY KEY, j jsonb, n numeric(12,1), ts timestamptz(3), \
         b boolean, dur interval, e text, s text)",
    );
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let ran = work.import(&pg, &dump, &["--verify"]).ok();
    // numeric(12,1) is narrower than decimal(10,2), but the data proves it enough.
    assert!(
        ran.stderr
            .contains("m.n: decimal(10,2) into numeric(12,1) is exact for this data: no value has more than 1 decimal place(s)"),
        "{}",
        ran.stderr
    );
    // MariaDB's JSON is a longtext with a json_valid check.
    assert!(
        ran.stderr
            .contains("m.j: longtext into jsonb keeps the values' meaning"),
        "{}",
        ran.stderr
    );
    // The spellings differ ...
    pg.exec(&format!(
        "ALTER DATABASE \"{}\" SET timezone = 'Asia/Kolkata'",
        pg.name
    ));
    assert_eq!(
        pg.text("SELECT id::text || ' ' || j::text || ' ' || n::text || ' ' || ts::text FROM m WHERE b"),
        Some(
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 {\"a\": [1, 2.50], \"b\": 1} 1.5 2024-03-10 12:30:00.25+05:30"
                .into()
        )
    );
    // ... the meanings do not: waybill-verify reads the target in its own time zone.
    let ran = work
        .run(
            "waybill-verify",
            &[dump.to_str().unwrap(), "--target", &pg.url_text()],
        )
        .ok();
    assert!(ran.stderr.contains("every value equal"), "{}", ran.stderr);
    let row = ran
        .stderr
        .lines()
        .find(|l| l.starts_with("m "))
        .unwrap_or_default();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>()[1..6],
        ["2", "2", "0", "0", "0"],
        "{}",
        ran.stderr
    );
    // A real change is still seen through all that normalizing.
    pg.exec("UPDATE m SET ts = ts + interval '1 millisecond' WHERE b");
    let ran = work
        .run(
            "waybill-verify",
            &[dump.to_str().unwrap(), "--target", &pg.url_text()],
        )
        .failed();
    assert!(
        ran.stderr.contains(
            "table `m`, id=A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11, column `ts`: the dump has \"2024-03-10 07:00:00.250+00\", the target has \"2024-03-10 12:30:00.251+05:30\""
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn with_jobs_each_table_is_verified_before_its_own_commit() {
    let db = source();
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let exact = target(false);
    let ran = work
        .import(
            &exact,
            &dump,
            &["--commit", "per-table", "--jobs", "2", "--verify"],
        )
        .ok();
    assert!(
        ran.stderr.contains("every value equal to the dump"),
        "{}",
        ran.stderr
    );
    let lossy = target(true);
    let ran = work
        .import(
            &lossy,
            &dump,
            &[
                "--commit",
                "per-table",
                "--jobs",
                "2",
                "--verify",
                "--allow-lossy",
                "--tables",
                "t_d4,t_vc",
            ],
        )
        .failed();
    assert!(
        ran.stderr
            .contains("table `t_d4` was rolled back: --verify:")
            || ran
                .stderr
                .contains("table `t_vc` was rolled back: --verify:"),
        "{}",
        ran.stderr
    );
    // Both change a value: neither commits, each is left empty.
    assert!(ran.stderr.contains("committed: none"), "{}", ran.stderr);
    for t in ["t_d4", "t_vc"] {
        assert_eq!(lossy.count(t), 0, "{t}");
    }
}
