//! `--create-schema` carries the rules, not only the shapes: CHECK constraints (translated,
//! validated on the loaded rows, enforced afterwards, overridden by `--check-file`),
//! `ON UPDATE CURRENT_TIMESTAMP` (a trigger), and generated columns (recreated,
//! computed by PostgreSQL, equal to the source's values). Against real MariaDB and
//! PostgreSQL; only MariaDB can be installed here, so MySQL 8's spelling of the same
//! clauses is covered by the translator's unit tests (`target::expr`).

mod common;

use common::*;
use mysql::prelude::Queryable;

/// PostgreSQL's answer to a statement: Ok, or the constraint it names and the SQLSTATE.
fn pg_try(pg: &PgDb, sql: &str) -> Result<(), (Option<String>, String)> {
    pg.client().batch_execute(sql).map_err(|e| {
        let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
        (
            db.constraint().map(str::to_string),
            db.code().code().to_string(),
        )
    })
}

/// A valid `emp` row (MariaDB and PostgreSQL accept it), with `changes` made; `pg`
/// writes the boolean as PostgreSQL wants it.
fn emp_row(id: i64, changes: &[(&str, &str)], pg: bool) -> String {
    let mut cols = vec![
        ("id", id.to_string()),
        ("salary", "100.00".into()),
        ("bonus", "NULL".into()),
        ("age", "30".into()),
        ("name", "'Ann'".into()),
        ("nick", "NULL".into()),
        ("status", "'new'".into()),
        ("email", "'ann@example.com'".into()),
        ("code", "'ABC'".into()),
        ("qty", "4".into()),
        ("price", "2.50".into()),
        ("active", "1".into()),
    ];
    for (column, value) in changes {
        for c in cols.iter_mut() {
            if c.0 == *column {
                c.1 = value.to_string();
            }
        }
    }
    for c in cols.iter_mut() {
        if pg && c.0 == "active" {
            c.1 = if c.1 == "1" { "true" } else { "false" }.into();
        }
    }
    format!(
        "INSERT INTO emp ({}) VALUES ({})",
        cols.iter().map(|c| c.0).collect::<Vec<_>>().join(", "),
        cols.iter()
            .map(|c| c.1.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Every form of the translated subset, one constraint each, and one outside it.
const EMP: &str = "CREATE TABLE emp (
    id INT PRIMARY KEY,
    salary DECIMAL(10,2) NOT NULL CHECK (salary > 0),
    bonus DECIMAL(10,2) NULL,
    age INT NOT NULL,
    name VARCHAR(50),
    nick VARCHAR(20) NULL,
    status VARCHAR(10) NOT NULL,
    email VARCHAR(100) NOT NULL,
    code CHAR(3) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    qty INT NOT NULL,
    price DECIMAL(10,2) NOT NULL,
    active TINYINT(1) NOT NULL,
    CONSTRAINT age_range CHECK (age BETWEEN 18 AND 99),
    CONSTRAINT age_not_range CHECK (age NOT BETWEEN 90 AND 95),
    CONSTRAINT status_in CHECK (status IN ('new', 'paid', 'it''s')),
    CONSTRAINT nick_not_in CHECK (nick NOT IN ('root', 'admin')),
    CONSTRAINT name_len CHECK (name IS NOT NULL AND char_length(name) >= 2),
    CONSTRAINT nick_empty CHECK (nick IS NULL OR nick <> ''),
    CONSTRAINT email_like CHECK (email LIKE '%@%' AND email NOT LIKE '%.invalid'),
    CONSTRAINT email_re CHECK (email REGEXP '^[^@ ]+@[^@ ]+[.][a-z]+$'),
    CONSTRAINT code_upper CHECK (upper(code) = code AND length(code) = 3),
    CONSTRAINT code_lower CHECK (lower(code) <> 'zzz'),
    CONSTRAINT bonus_cap CHECK (coalesce(bonus, 0) + salary <= 10000),
    CONSTRAINT bonus_ifnull CHECK (ifnull(bonus, 1) * 2 >= 0),
    CONSTRAINT bonus_null_safe CHECK (NOT (bonus <=> 999.99)),
    CONSTRAINT qty_not_negative CHECK (NOT (qty < 0)),
    CONSTRAINT qty_even CHECK (qty MOD 2 = 0 AND qty DIV 2 < 50 AND qty % 2 = 0),
    CONSTRAINT price_per CHECK (price / qty <= 10 AND -price < 0 AND price * qty - 1 < 1000),
    CONSTRAINT active_flag CHECK (active IN (0, 1) AND (active = 1 OR salary < 500)),
    CONSTRAINT odd CHECK (cast(qty AS CHAR) <> 'x')
)";

/// (constraint, the changes to a valid row that violate it and only it).
const VIOLATIONS: &[(&str, &[(&str, &str)])] = &[
    ("salary", &[("salary", "-1")]),
    ("age_range", &[("age", "17")]),
    ("age_not_range", &[("age", "92")]),
    ("status_in", &[("status", "'old'")]),
    ("nick_not_in", &[("nick", "'root'")]),
    ("name_len", &[("name", "'A'")]),
    ("nick_empty", &[("nick", "''")]),
    ("email_like", &[("email", "'ann@example.invalid'")]),
    ("email_re", &[("email", "'ann@example'")]),
    ("code_upper", &[("code", "'abc'")]),
    ("code_lower", &[("code", "'ZZZ'")]),
    ("bonus_cap", &[("bonus", "9950")]),
    ("bonus_ifnull", &[("bonus", "-5")]),
    ("bonus_null_safe", &[("bonus", "999.99")]),
    ("qty_not_negative", &[("qty", "-2")]),
    ("qty_even", &[("qty", "3")]),
    ("price_per", &[("price", "45")]),
    ("active_flag", &[("active", "0"), ("salary", "600")]),
];

#[test]
fn every_check_form_is_translated_validated_and_enforced() {
    let db = MyDb::new("rules_checks");
    db.exec(&[EMP]);
    for id in 1..=3 {
        db.exec(&[&emp_row(id, &[("qty", &(id * 2).to_string())], false)]);
    }
    db.exec(&[
        &emp_row(4, &[("bonus", "50")], false),
        &emp_row(5, &[("status", "'it''s'")], false),
        &emp_row(6, &[("active", "0")], false),
    ]);
    // MariaDB enforces each of these constraints itself (and so on the loaded rows).
    let mut my = db.conn();
    for (constraint, changes) in VIOLATIONS {
        let err = my
            .query_drop(emp_row(100, changes, false))
            .expect_err(&format!("MariaDB accepted a row violating {constraint}"));
        // MariaDB names a column's own CHECK `table.column`.
        let e = err.to_string();
        assert!(
            e.contains(&format!("`{constraint}`")) || e.contains(&format!("`emp.{constraint}`")),
            "{constraint}: {e}"
        );
    }
    let pg = PgDb::new("rules_checks");
    let work = Work::new();
    let dump = work.export(&db, &[]);

    // The dry run prints each constraint, and says what it could not translate.
    let dry = work
        .import(&pg, &dump, &["--create-schema", "--dry-run"])
        .ok();
    assert!(
        dry.stdout.contains(
            "ALTER TABLE \"public\".\"emp\" ADD CONSTRAINT \"age_range\" CHECK ((\"age\" BETWEEN 18 AND 99));"
        ),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("-- emp: CHECK odd (cast(`qty` as char charset utf8mb4) <> 'x') was not translated: `cast(`qty` as char charset utf8mb4)`: CAST is not translated"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stderr
            .contains("18 CHECK constraints translated, to be validated, 1 reported"),
        "{}",
        dry.stderr
    );

    let ran = work.import(&pg, &dump, &["--create-schema"]).ok();
    assert!(
        ran.stderr.contains(
            "warning: emp: CHECK odd (cast(`qty` as char charset utf8mb4) <> 'x') was not translated: \
             `cast(`qty` as char charset utf8mb4)`: CAST is not translated; give its PostgreSQL text \
             with --check-file (emp.odd = CONDITION)"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("18 CHECK constraints translated and validated, 1 reported"),
        "{}",
        ran.stderr
    );
    // A case-insensitive collation is named where it matters.
    assert!(
        ran.stderr.contains(
            "emp: CHECK status_in translated; note: PostgreSQL compares `status` exactly (case and \
             trailing spaces count); MySQL compared it under collation utf8mb4_general_ci"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(pg.count("emp"), 6);
    let names: Vec<String> = pg
        .client()
        .query(
            "SELECT conname::text FROM pg_constraint WHERE conrelid = 'emp'::regclass AND contype = 'c' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut expected: Vec<&str> = VIOLATIONS.iter().map(|v| v.0).collect();
    expected.sort();
    assert_eq!(names, expected);
    // Validated: PostgreSQL checked every loaded row when the constraint was added.
    assert_eq!(
        pg.text("SELECT bool_and(convalidated)::text FROM pg_constraint WHERE conrelid = 'emp'::regclass AND contype = 'c'")
            .as_deref(),
        Some("true")
    );
    // Enforced: the row MariaDB refused, PostgreSQL refuses, naming the same constraint.
    for (constraint, changes) in VIOLATIONS {
        let sql = emp_row(100, changes, true);
        assert_eq!(
            pg_try(&pg, &sql),
            Err((Some(constraint.to_string()), "23514".to_string())),
            "{sql}"
        );
    }
    // A valid row goes in, on both sides alike.
    pg_try(&pg, &emp_row(100, &[("qty", "6")], true)).unwrap();
    my.query_drop(emp_row(100, &[("qty", "6")], false)).unwrap();
}

#[test]
fn a_violation_fails_the_import_and_check_file_overrides() {
    let db = MyDb::new("rules_file");
    // MariaDB compares under utf8mb4_general_ci, so it accepted 'NEW'; PostgreSQL
    // compares exactly, so the translated constraint does not hold on the loaded data.
    db.exec(&[
        "CREATE TABLE t (
            id INT PRIMARY KEY,
            status VARCHAR(10) NOT NULL,
            doc LONGTEXT,
            qty INT,
            CONSTRAINT status_in CHECK (status IN ('new', 'paid')),
            CONSTRAINT odd CHECK (cast(qty AS CHAR) <> 'x'),
            CONSTRAINT doc_json CHECK (json_valid(doc) AND doc LIKE '{%')
        )",
        "INSERT INTO t VALUES (1, 'new', '{\"a\": 1}', 1), (2, 'NEW', '{}', 2), (3, 'Paid', NULL, 3)",
    ]);
    let pg = PgDb::new("rules_file");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let failed = work.import(&pg, &dump, &["--create-schema"]).failed();
    assert!(
        failed.stderr.contains(
            "table `t`: 2 loaded row(s) violate CHECK status_in (MySQL: `status` in ('new','paid')), \
             e.g. the row(s) with id=2; id=3; either the source did not enforce it"
        ),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains("--check-file can give its PostgreSQL text (t.status_in = CONDITION) or skip it (t.status_in =)"),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains("the transaction was rolled back: nothing was committed"),
        "{}",
        failed.stderr
    );
    assert_eq!(
        pg.text("SELECT count(*)::text FROM pg_class WHERE relname = 't'")
            .as_deref(),
        Some("0"),
        "nothing was created"
    );

    // The user's text replaces the translation, and the untranslated one gets one too.
    let checks = work.path().join("checks.txt");
    std::fs::write(
        &checks,
        "# status is case-insensitive in the application\n\
         t.status_in = lower(status) IN ('new', 'paid')\n\
         t.odd = qty::text <> 'x'\n",
    )
    .unwrap();
    let ran = work
        .import(
            &pg,
            &dump,
            &["--create-schema", "--check-file", checks.to_str().unwrap()],
        )
        .ok();
    assert!(
        ran.stderr.contains(
            "3 CHECK constraints translated and validated (2 from --check-file), 0 reported"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(pg.count("t"), 3);
    assert_eq!(
        pg.text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'status_in'")
            .as_deref(),
        Some("CHECK ((lower((status)::text) = ANY (ARRAY['new'::text, 'paid'::text])))")
    );
    assert_eq!(
        pg_try(&pg, "INSERT INTO t VALUES (4, 'PAID', NULL, 4)"),
        Ok(())
    );
    assert_eq!(
        pg_try(&pg, "INSERT INTO t VALUES (5, 'gone', NULL, 5)"),
        Err((Some("status_in".into()), "23514".into()))
    );
    // JSON_VALID of a text column is a jsonb cast: invalid JSON is refused.
    assert_eq!(
        pg_try(&pg, "INSERT INTO t VALUES (6, 'new', '[1]', 6)"),
        Err((Some("doc_json".into()), "23514".into()))
    );
    assert_eq!(
        pg_try(&pg, "INSERT INTO t VALUES (7, 'new', '{bad', 7)"),
        Err((None, "22P02".into()))
    );
    assert_eq!(
        pg.text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'doc_json'")
            .as_deref(),
        Some("CHECK ((((doc IS NULL) OR ((doc)::jsonb IS NOT NULL)) AND (doc ~~ '{%'::text)))")
    );

    // Nothing after `=` skips a constraint.
    std::fs::write(&checks, "t.status_in =\nt.odd =\n").unwrap();
    let ran = work
        .import(
            &pg,
            &dump,
            &[
                "--create-schema",
                "--drop-existing",
                "--check-file",
                checks.to_str().unwrap(),
            ],
        )
        .ok();
    assert!(
        ran.stderr.contains(
            "t: CHECK status_in (`status` in ('new','paid')) skipped (--check-file line 1)"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(
            "1 CHECK constraint translated and validated, 2 skipped by --check-file, 0 reported"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(
        pg.text("SELECT count(*)::text FROM pg_constraint WHERE conrelid = 't'::regclass AND contype = 'c'")
            .as_deref(),
        Some("1")
    );

    // A name that is no constraint is refused before anything happens.
    std::fs::write(&checks, "t.status = status <> ''\n").unwrap();
    let bad = work
        .import(
            &pg,
            &dump,
            &[
                "--create-schema",
                "--drop-existing",
                "--check-file",
                checks.to_str().unwrap(),
            ],
        )
        .failed();
    assert!(
        bad.stderr.contains(
            "line 1 (t.status) name(s) no CHECK constraint of the tables being created (the dump's \
             names, TABLE.CONSTRAINT); they have: t.doc_json, t.odd, t.status_in"
        ),
        "{}",
        bad.stderr
    );
    // And a condition PostgreSQL refuses names the constraint, before anything is loaded.
    std::fs::write(&checks, "t.odd = qty ~ 1\n").unwrap();
    let refused = work
        .import(
            &pg,
            &dump,
            &[
                "--create-schema",
                "--drop-existing",
                "--check-file",
                checks.to_str().unwrap(),
            ],
        )
        .failed();
    assert!(
        refused
            .stderr
            .contains("pre-flight check failed, nothing was loaded:\n  --check-file: table `t`: PostgreSQL refuses the condition of CHECK odd (--check-file line 1): operator does not exist: integer ~ integer"),
        "{}",
        refused.stderr
    );
    assert_eq!(pg.count("t"), 3, "the last good import stays");
}

#[test]
fn on_update_current_timestamp_becomes_a_trigger() {
    let db = MyDb::new("rules_onupd");
    db.exec(&[
        "CREATE TABLE item (
            id INT PRIMARY KEY,
            name VARCHAR(20),
            qty INT,
            twice INT AS (qty * 2) STORED,
            updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
            seen TIMESTAMP NULL DEFAULT NULL ON UPDATE CURRENT_TIMESTAMP
        )",
        "CREATE TABLE note (id INT PRIMARY KEY, body TEXT, changed DATETIME ON UPDATE CURRENT_TIMESTAMP)",
        "INSERT INTO item (id, name, qty, updated_at, seen) VALUES
            (1, 'a', 1, '2020-01-01 00:00:00.000', FROM_UNIXTIME(1577836800)),
            (2, 'b', 2, '2020-01-01 00:00:00.000', NULL)",
        "INSERT INTO note VALUES (1, 'x', '2020-01-01 00:00:00')",
    ]);
    let pg = PgDb::new("rules_onupd");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let ran = work.import(&pg, &dump, &["--create-schema"]).ok();
    assert!(
        ran.stderr
            .contains("2 triggers for ON UPDATE CURRENT_TIMESTAMP"),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("has no PostgreSQL equivalent"),
        "{}",
        ran.stderr
    );
    // One function for the schema, one trigger per table.
    assert_eq!(
        pg.text("SELECT count(*)::text FROM pg_proc WHERE proname = 'waybill_on_update_current_timestamp'")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        pg.text("SELECT string_agg(tgrelid::regclass::text, ',' ORDER BY 1) FROM pg_trigger WHERE tgname = 'waybill_on_update'")
            .as_deref(),
        Some("item,note")
    );
    let before = "2020-01-01 00:00:00";
    let item = |id: i32| {
        pg.text(&format!(
            "SELECT updated_at::text || '|' || coalesce((seen AT TIME ZONE 'UTC')::text, '-') \
             || '|' || twice FROM item WHERE id = {id}"
        ))
        .unwrap()
    };
    assert_eq!(item(1), format!("{before}|{before}|2"));
    // A change to the row sets both columns to the statement's time, at their precision.
    let mut c = pg.client();
    c.batch_execute("UPDATE item SET qty = 5 WHERE id = 1")
        .unwrap();
    let row = c
        .query_one(
            "SELECT updated_at > '2024-01-01', extract(microseconds FROM updated_at)::bigint % 1000 = 0,
                    seen > '2024-01-01', extract(microseconds FROM seen)::bigint % 1000000 = 0,
                    twice, updated_at::text = (SELECT updated_at::text FROM item WHERE id = 2)
             FROM item WHERE id = 1",
            &[],
        )
        .unwrap();
    assert!(row.get::<_, bool>(0), "updated_at moved to now");
    assert!(row.get::<_, bool>(1), "datetime(3): milliseconds");
    assert!(row.get::<_, bool>(2), "seen moved to now");
    assert!(row.get::<_, bool>(3), "timestamp(0): whole seconds");
    assert_eq!(row.get::<_, i32>(4), 10, "the generated column follows");
    assert!(!row.get::<_, bool>(5), "the other row is untouched");
    assert_eq!(item(2), format!("{before}|-|4"));
    // An UPDATE that sets the column itself keeps that value (the other one moves).
    c.batch_execute("UPDATE item SET qty = 6, updated_at = '2021-05-05 05:05:05.5' WHERE id = 2")
        .unwrap();
    let two = item(2);
    assert!(
        two.starts_with("2021-05-05 05:05:05.5|20") && !two.contains("|-|") && two.ends_with("|12"),
        "{two}"
    );
    // An UPDATE that changes nothing changes no timestamp.
    c.batch_execute("UPDATE item SET qty = qty, name = name WHERE id = 2")
        .unwrap();
    assert_eq!(item(2), two);
    // waybill's own writes (a catch-up delta) keep the timestamps they carry.
    c.batch_execute(
        "BEGIN; SET LOCAL waybill.loading = 'on'; UPDATE item SET qty = 7 WHERE id = 2; COMMIT",
    )
    .unwrap();
    assert_eq!(item(2), two.replace("|12", "|14"));
    c.batch_execute("UPDATE note SET body = 'y'").unwrap();
    assert_eq!(
        pg.text("SELECT (changed > '2024-01-01' AND extract(microseconds FROM changed)::bigint % 1000000 = 0)::text FROM note")
            .as_deref(),
        Some("true")
    );
}

/// The rows of `table` in MariaDB and PostgreSQL, as text, by id.
fn rows_alike(db: &MyDb, pg: &PgDb, my_sql: &str, pg_sql: &str) {
    let mut my = db.conn();
    let mine: Vec<mysql::Row> = my.query(my_sql).unwrap();
    let mine: Vec<Vec<Option<String>>> = mine
        .into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<Option<String>, _>(i).unwrap())
                .collect()
        })
        .collect();
    let theirs: Vec<Vec<Option<String>>> = pg
        .client()
        .query(pg_sql, &[])
        .unwrap()
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<_, Option<String>>(i))
                .collect()
        })
        .collect();
    assert!(!mine.is_empty());
    assert_eq!(theirs.len(), mine.len(), "row counts");
    for (i, (t, m)) in theirs.iter().zip(&mine).enumerate() {
        for (j, (a, b)) in t.iter().zip(m).enumerate() {
            assert_eq!(a, b, "row {i}, column {j}: PostgreSQL {a:?}, MariaDB {b:?}");
        }
    }
}

#[test]
fn generated_columns_are_recreated_and_verified() {
    let db = MyDb::new("rules_gen");
    db.exec(&[
        "CREATE TABLE line (
            id INT PRIMARY KEY,
            name VARCHAR(40),
            qty INT,
            price DECIMAL(10,2),
            total DECIMAL(12,2) AS (qty * price) STORED,
            vtotal DECIMAL(12,2) AS (qty * price) VIRTUAL,
            label VARCHAR(100) AS (concat(upper(name), ' x', qty)) VIRTUAL,
            quarter DECIMAL(10,4) AS (qty / 4) STORED,
            big TINYINT(1) AS (qty > 5) VIRTUAL,
            tier VARCHAR(5) AS (CASE WHEN qty >= 10 THEN 'high' WHEN qty >= 5 THEN 'mid' ELSE 'low' END) STORED,
            digest VARCHAR(32) AS (md5(name)) STORED,
            KEY idx_total (total)
        )",
        "INSERT INTO line (id, name, qty, price) VALUES
            (1, 'bolt', 3, 0.25), (2, 'nut', 10, 1.99), (3, NULL, 7, 2.50),
            (4, 'washer', NULL, 0.10), (5, 'gear', 1, NULL), (6, 'cog', 0, 3.33)",
    ]);
    let pg = PgDb::new("rules_gen");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let dry = work
        .import(&pg, &dump, &["--create-schema", "--dry-run"])
        .ok();
    assert!(
        dry.stdout
            .contains("\"total\" numeric(12,2) GENERATED ALWAYS AS ((\"qty\" * \"price\")) STORED"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("\\copy pg_temp.\"waybill_stage\" (\"id\", \"name\", \"qty\", \"price\", \"waybill_source_1\""),
        "{}",
        dry.stdout
    );
    // With --verify too: every value PostgreSQL holds, generated ones included, is read
    // back and compared with the dump before COMMIT.
    let ran = work
        .import(&pg, &dump, &["--create-schema", "--verify"])
        .ok();
    for w in [
        "verified: 6 rows read back before COMMIT, every value equal to the dump",
        "line.vtotal: VIRTUAL generated column created STORED",
        "line.label: VIRTUAL generated column created STORED",
        "line.digest: generated column (MySQL expression md5(`name`)) was not translated: `md5(`name`)`: MD5() is not in the translated subset; created as a plain column holding the exported values",
        "6 generated columns recreated and verified against the dump (3 VIRTUAL, now STORED), 1 kept as plain columns",
    ] {
        assert!(ran.stderr.contains(w), "{w}\n{}", ran.stderr);
    }
    assert_eq!(
        pg.text("SELECT string_agg(attname || ':' || attgenerated::text, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'line'::regclass AND attnum > 0")
            .as_deref(),
        Some("id:,name:,qty:,price:,total:s,vtotal:s,label:s,quarter:s,big:s,tier:s,digest:")
    );
    // Computed by PostgreSQL, equal to MariaDB's values for every row.
    rows_alike(
        &db,
        &pg,
        "SELECT id, total, vtotal, label, quarter, big, tier, digest FROM line ORDER BY id",
        "SELECT id::text, total::text, vtotal::text, label, quarter::text, big::int::text, tier, digest FROM line ORDER BY id",
    );
    // A new row gets them computed, and the index on one of them is there.
    pg.exec("INSERT INTO line (id, name, qty, price, digest) VALUES (7, 'pin', 12, 0.05, 'x')");
    assert_eq!(
        pg.text(
            "SELECT concat_ws('|', total, vtotal, label, quarter, big, tier) FROM line WHERE id = 7"
        )
        .as_deref(),
        Some("0.60|0.60|PIN x12|3.0000|t|high")
    );
    assert!(
        pg.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_total'")
            .unwrap()
            .contains("(total)")
    );
    assert_eq!(
        pg_try(&pg, "INSERT INTO line (id, total) VALUES (8, 1)").map_err(|e| e.1),
        Err("428C9".to_string()),
        "a generated column cannot be written"
    );
    // The schema it made takes the same dump again, without --create-schema: the
    // generated columns are left to PostgreSQL and checked the same way, and a column
    // the dump does not fill gets its default.
    pg.exec("ALTER TABLE line ADD COLUMN extra text NOT NULL DEFAULT 'n'");
    let again = work.import(&pg, &dump, &[]).ok();
    assert!(again.stderr.contains("committed"), "{}", again.stderr);
    assert_eq!(pg.count("line"), 6);
    assert_eq!(
        pg.text("SELECT string_agg(DISTINCT extra, ',') FROM line")
            .as_deref(),
        Some("n")
    );
    rows_alike(
        &db,
        &pg,
        "SELECT id, total, vtotal, label, quarter, big, tier, digest FROM line ORDER BY id",
        "SELECT id::text, total::text, vtotal::text, label, quarter::text, big::int::text, tier, digest FROM line ORDER BY id",
    );
    // A target whose expression disagrees with the dump is refused, naming the rows.
    pg.exec(
        "ALTER TABLE line DROP COLUMN quarter; \
         ALTER TABLE line ADD COLUMN quarter numeric(10,4) GENERATED ALWAYS AS (qty / 4) STORED",
    );
    let failed = work.import(&pg, &dump, &[]).failed();
    assert!(
        failed.stderr.contains(
            "table `line`: PostgreSQL computes the generated column(s) `quarter` (`qty` / 4) \
             differently from the values in the dump:\n  row with id=1: column `quarter` is \
             '0.0000' in PostgreSQL, '0.7500' in the dump"
        ),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains("the target's generation expression does not match the source's"),
        "{}",
        failed.stderr
    );
    assert_eq!(pg.count("line"), 6, "rolled back");
}

#[test]
fn a_generated_column_computed_differently_fails_the_read_back() {
    let db = MyDb::new("rules_readback");
    // MariaDB compares under utf8mb4_general_ci: 'ABC' = 'abc' is true there, false in
    // PostgreSQL; the read-back catches the difference on the loaded rows.
    db.exec(&[
        "CREATE TABLE tag (id INT PRIMARY KEY, name VARCHAR(10), is_abc TINYINT(1) AS (name = 'abc') STORED)",
        "INSERT INTO tag (id, name) VALUES (1, 'abc'), (2, 'ABC'), (3, 'x')",
    ]);
    let pg = PgDb::new("rules_readback");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let failed = work.import(&pg, &dump, &["--create-schema"]).failed();
    assert!(
        failed.stderr.contains(
            "table `tag`: PostgreSQL computes the generated column(s) `is_abc` (`name` = 'abc') \
             differently from the values in the dump:\n  row with id=2: column `is_abc` is 'false' \
             in PostgreSQL, 'true' in the dump\nthe translated expression does not match the \
             source's; pass --cast tag.COLUMN=TYPE to keep such a column a plain one"
        ),
        "{}",
        failed.stderr
    );
    // As the message says: a cast keeps the column plain, with the dump's values.
    let ran = work
        .import(
            &pg,
            &dump,
            &["--create-schema", "--cast", "tag.is_abc=boolean"],
        )
        .ok();
    assert!(
        ran.stderr.contains("tag.is_abc: generated column (MySQL expression `name` = 'abc') has its type from --cast; created as a plain column"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        pg.text("SELECT string_agg(is_abc::text, ',' ORDER BY id) FROM tag")
            .as_deref(),
        Some("true,true,false")
    );
}

/// The translation against MariaDB itself: every construct of the subset as a generated
/// column over rows chosen for its edge cases (NULLs, zero divisors, negative numbers,
/// quotients MySQL cuts at 9 or 18 decimals, integers that overflow 32 bits, LIKE's
/// wildcards, multi-byte text). MariaDB computes each value; the import's read-back
/// fails on the first row where PostgreSQL computes another.
#[test]
fn every_construct_computes_what_mariadb_computes() {
    let db = MyDb::new("rules_diff");
    let generated = [
        ("g_cmp", "TINYINT(1)", "a > b"),
        ("g_ne", "TINYINT(1)", "a <> b"),
        ("g_nse", "TINYINT(1)", "a <=> b"),
        ("g_btw", "TINYINT(1)", "a BETWEEN -1 AND 3"),
        ("g_nbtw", "TINYINT(1)", "a NOT BETWEEN b AND 5"),
        ("g_in", "TINYINT(1)", "a IN (0, 1, NULL)"),
        ("g_nin", "TINYINT(1)", "a NOT IN (0, 1)"),
        ("g_isnull", "TINYINT(1)", "s IS NULL"),
        ("g_notnull", "TINYINT(1)", "s IS NOT NULL"),
        ("g_and", "TINYINT(1)", "a > 0 AND b > 0"),
        ("g_or", "TINYINT(1)", "a > 0 OR b > 0"),
        ("g_not", "TINYINT(1)", "NOT (a > 0)"),
        ("g_add", "BIGINT", "a + b"),
        ("g_sub", "BIGINT", "a - b"),
        ("g_mul", "BIGINT", "a * b"),
        ("g_neg", "BIGINT", "-a"),
        ("g_div", "DECIMAL(30,12)", "a / b"),
        ("g_div2", "DECIMAL(30,20)", "d / e"),
        ("g_div3", "DECIMAL(30,20)", "d / 7"),
        ("g_idiv", "BIGINT", "a DIV b"),
        ("g_mod", "BIGINT", "a MOD b"),
        ("g_dmod", "DECIMAL(12,2)", "d % 3"),
        ("g_dmul", "DECIMAL(30,8)", "d * e"),
        ("g_like", "TINYINT(1)", "s LIKE 'a_c'"),
        ("g_like_esc", "TINYINT(1)", "s LIKE 'a!_c' ESCAPE '!'"),
        ("g_nlike", "TINYINT(1)", "s NOT LIKE '%c'"),
        ("g_re", "TINYINT(1)", "s REGEXP '^[a-z]+$'"),
        ("g_clen", "BIGINT", "char_length(s)"),
        ("g_len", "BIGINT", "length(s)"),
        ("g_up", "VARCHAR(20)", "upper(t)"),
        ("g_low", "VARCHAR(20)", "lcase(t)"),
        ("g_coal", "BIGINT", "coalesce(a, b, 0)"),
        ("g_ifnull", "VARCHAR(20)", "ifnull(s, 'none')"),
        ("g_if", "VARCHAR(5)", "IF(a > 0, 'pos', 'other')"),
        (
            "g_case",
            "VARCHAR(5)",
            "CASE WHEN a > 5 THEN 'big' WHEN a > 0 THEN 'small' END",
        ),
        (
            "g_scase",
            "VARCHAR(5)",
            "CASE a WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END",
        ),
        ("g_concat", "VARCHAR(80)", "concat(s, '-', a, '-', d)"),
        ("g_round", "DECIMAL(12,1)", "round(d, 1)"),
        ("g_round0", "BIGINT", "round(d)"),
        ("g_abs", "BIGINT", "abs(a)"),
        ("g_substr", "VARCHAR(20)", "substring(s, 2, 2)"),
        ("g_subfrom", "VARCHAR(20)", "substr(s FROM 2)"),
        ("g_trim", "VARCHAR(20)", "trim(s)"),
        ("g_trimx", "VARCHAR(20)", "trim(both 'x' from t)"),
        ("g_rtrim", "VARCHAR(20)", "rtrim(s)"),
        ("g_flag", "BIGINT", "f + 1"),
        ("g_flagcond", "VARCHAR(3)", "IF(f, 'yes', 'no')"),
        (
            "g_date",
            "TINYINT(1)",
            "dt >= '2020-01-01' AND dt < DATE'2030-01-01'",
        ),
        ("g_float", "DOUBLE", "x * 2 + x / 3"),
    ];
    let mut create = String::from(
        "CREATE TABLE diff (id INT PRIMARY KEY, a INT, b INT, d DECIMAL(10,2), e DECIMAL(12,6), \
         s VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, t VARCHAR(20) CHARACTER SET ascii, \
         f TINYINT(1), dt DATE, x DOUBLE",
    );
    for (i, (name, ty, expr)) in generated.iter().enumerate() {
        let kind = if i % 3 == 0 { "STORED" } else { "VIRTUAL" };
        create.push_str(&format!(", {name} {ty} AS ({expr}) {kind}"));
    }
    create.push(')');
    db.exec(&[
        &create,
        "INSERT INTO diff (id, a, b, d, e, s, t, f, dt, x) VALUES
            (1, 7, 3, 2.25, 3.000000, 'abc', 'xabcx', 1, '2024-02-03', 0.1),
            (2, -7, 2, -2.25, 0.333333, 'ABC', 'Mixed', 0, '2019-12-31', -2.5),
            (3, 0, 0, 0.00, 0.000000, 'a_c', 'x', NULL, '2030-01-01', 0),
            (4, 1, -2, 1.05, -1.500000, 'a%c', '', 1, NULL, 1e300),
            (5, 2147483647, 3, 99999999.99, 1.000001, '', NULL, 0, '2020-01-01', 3.3333),
            (6, NULL, 5, NULL, NULL, NULL, 'xx', NULL, NULL, NULL),
            (7, 2, NULL, -0.01, 7.000000, ' x ', ' pad ', 1, '2025-05-05', -0.0),
            (8, 10, 4, 10.00, 4.000000, 'héllo', 'ABC', 0, '2000-01-01', 1.5),
            (9, -1, -1, 5.55, 2.500000, 'it''s', 'it''s', 1, '2029-12-31', 7),
            (10, 3, 7, 0.07, 0.070000, 'xyzc', 'xyz', 0, '2020-01-02', 2)",
    ]);
    let pg = PgDb::new("rules_diff");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let ran = work.import(&pg, &dump, &["--create-schema"]).ok();
    let n = generated.len();
    let virtual_ = (0..n).filter(|i| i % 3 != 0).count();
    assert!(
        ran.stderr.contains(&format!(
            "{n} generated columns recreated and verified against the dump ({virtual_} VIRTUAL, now STORED), 0 kept as plain columns"
        )),
        "{}",
        ran.stderr
    );
    // And, read with SQL on both sides, the same values for every row.
    let list: Vec<&str> = generated.iter().map(|g| g.0).collect();
    let pg_list: Vec<String> = generated
        .iter()
        .map(|(name, ty, _)| {
            if ty.starts_with("TINYINT") {
                format!("{name}::int::text")
            } else if *ty == "DOUBLE" {
                // PostgreSQL writes 1e+300, MariaDB 1e300.
                format!("replace({name}::float8::text, 'e+', 'e')")
            } else {
                format!("{name}::text")
            }
        })
        .collect();
    rows_alike(
        &db,
        &pg,
        &format!(
            "SELECT {} FROM diff ORDER BY id",
            list.iter()
                .zip(&generated)
                .map(|(c, g)| if g.1 == "DOUBLE" {
                    format!("CAST({c} AS CHAR)")
                } else {
                    c.to_string()
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        &format!("SELECT {} FROM diff ORDER BY id", pg_list.join(", ")),
    );
}
