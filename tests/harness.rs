//! The test harness itself, which every other test trusts: scratch accounts go away when
//! a test fails, scratch databases left by runs that are gone are removed (and nothing
//! else), and the shared Sakila copy is recognised as changed when anything in it
//! changes.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use mysql::prelude::Queryable;

fn mysql_admin() -> mysql::Conn {
    mysql_conn(&mysql_base())
}

fn pg_admin() -> postgres::Client {
    pg_client(&pg_base().with_database("postgres"))
}

fn my_exists(sql: &str, name: &str) -> bool {
    let n: Option<i64> = mysql_admin().exec_first(sql, (name,)).unwrap();
    n.unwrap_or(0) > 0
}

fn my_schema_exists(name: &str) -> bool {
    my_exists(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
        name,
    )
}

fn my_user_exists(name: &str) -> bool {
    my_exists("SELECT COUNT(*) FROM mysql.user WHERE User = ?", name)
}

fn pg_exists(sql: &str, name: &str) -> bool {
    pg_admin().query_opt(sql, &[&name]).unwrap().is_some()
}

fn pg_db_exists(name: &str) -> bool {
    pg_exists("SELECT 1 FROM pg_database WHERE datname = $1", name)
}

fn pg_role_exists(name: &str) -> bool {
    pg_exists("SELECT 1 FROM pg_roles WHERE rolname = $1", name)
}

#[test]
fn scratch_accounts_and_databases_are_dropped_when_a_test_fails() {
    let outcome = std::panic::catch_unwind(|| {
        let db = MyDb::new("guard");
        let pg = PgDb::new("guard");
        let user = MyUser::create(&db, "guard-pw-1", &["GRANT SELECT ON *.* TO {user}"]);
        let role = PgRole::create(&pg, "guard-pw-1");
        role.client(&pg)
            .batch_execute("CREATE TABLE owned_by_role (id int)")
            .unwrap();
        assert!(my_user_exists(&user.name) && pg_role_exists(&role.name));
        let names = [
            db.name.clone(),
            user.name.clone(),
            pg.name.clone(),
            role.name.clone(),
        ];
        // The test fails here, with everything still in scope.
        std::panic::panic_any(names)
    });
    let [my_db, my_user, pg_db, pg_role] = *outcome
        .expect_err("the closure panics")
        .downcast::<[String; 4]>()
        .unwrap();
    assert!(!my_schema_exists(&my_db), "{my_db} left behind");
    assert!(!my_user_exists(&my_user), "{my_user} left behind");
    assert!(!pg_db_exists(&pg_db), "{pg_db} left behind");
    assert!(!pg_role_exists(&pg_role), "{pg_role} left behind");
}

/// A process id that no longer exists: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    pid
}

#[test]
fn scratch_names_and_staleness() {
    let me = std::process::id();
    let dead = dead_pid();
    let alive = std::os::unix::process::parent_id();
    assert_eq!(scratch_pid(&format!("wb_rt_{me}_3")), Some(me));
    assert_eq!(scratch_pid(&format!("wb_two_parts_{me}_12")), Some(me));
    for other in [
        "wb_probe_cs",
        "wb_rt_12",
        "wb__1_2",
        "sakila",
        "wb_rt_x_1",
        "wb_rt_1_",
    ] {
        assert_eq!(scratch_pid(other), None, "{other}");
        assert!(!is_stale(other, None), "{other}");
    }
    assert!(
        is_stale(&format!("wb_rt_{dead}_0"), None),
        "its process is gone"
    );
    assert!(!is_stale(&format!("wb_rt_{me}_0"), None), "this run's own");
    assert!(!is_stale(&format!("wb_rt_{alive}_0"), None), "a live run's");
    let hours_ago = |h: u64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        format!("waybill-test created {}", now - h * 3600)
    };
    assert!(is_stale(&format!("wb_rt_{alive}_0"), Some(&hours_ago(3))));
    assert!(!is_stale(&format!("wb_rt_{alive}_0"), Some(&hours_ago(1))));
    assert!(!is_stale(&format!("wb_rt_{alive}_0"), Some("a comment")));
}

#[test]
fn stale_scratch_objects_of_other_runs_are_removed() {
    let dead = dead_pid();
    let alive = std::os::unix::process::parent_id();
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000;
    let gone = format!("wb_stale_{dead}_{n}");
    let old = format!("wb_stale_{alive}_{n}");
    let live = format!("wb_stalelive_{alive}_{n}");
    let other = format!("wb_stale{n}");
    let three_hours_ago = format!(
        "waybill-test created {}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 3 * 3600
    );
    let fresh = created_comment();

    let mut my = mysql_admin();
    for (name, comment) in [
        (&gone, &fresh),
        (&old, &three_hours_ago),
        (&live, &fresh),
        (&other, &three_hours_ago),
    ] {
        my.query_drop(format!("CREATE DATABASE `{name}` COMMENT '{comment}'"))
            .unwrap();
    }
    my.query_drop(format!("CREATE USER '{gone}_u'@'%' IDENTIFIED BY 'x'"))
        .unwrap();
    my.query_drop(format!("CREATE USER '{live}_u'@'%' IDENTIFIED BY 'x'"))
        .unwrap();
    let mut pg = pg_admin();
    for (name, comment) in [
        (&gone, &fresh),
        (&old, &three_hours_ago),
        (&live, &fresh),
        (&other, &three_hours_ago),
    ] {
        pg.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap();
        pg.batch_execute(&format!("COMMENT ON DATABASE \"{name}\" IS '{comment}'"))
            .unwrap();
    }
    pg.batch_execute(&format!(
        "CREATE ROLE \"{gone}_r\"; CREATE ROLE \"{live}_r\""
    ))
    .unwrap();

    remove_stale_mysql(&mut my);
    remove_stale_postgres(&mut pg);
    let kept = (
        [&gone, &old, &live, &other].map(|d| my_schema_exists(d)),
        [&gone, &live].map(|u| my_user_exists(&format!("{u}_u"))),
        [&gone, &old, &live, &other].map(|d| pg_db_exists(d)),
        [&gone, &live].map(|r| pg_role_exists(&format!("{r}_r"))),
    );

    // Clean up what is meant to stay before asserting.
    for d in [&live, &other] {
        let _ = my.query_drop(format!("DROP DATABASE IF EXISTS `{d}`"));
        let _ = pg.batch_execute(&format!("DROP DATABASE IF EXISTS \"{d}\""));
    }
    let _ = my.query_drop(format!("DROP USER IF EXISTS '{live}_u'@'%'"));
    let _ = pg.batch_execute(&format!("DROP ROLE IF EXISTS \"{live}_r\""));
    for d in [&gone, &old] {
        let _ = my.query_drop(format!("DROP DATABASE IF EXISTS `{d}`"));
        let _ = pg.batch_execute(&format!("DROP DATABASE IF EXISTS \"{d}\""));
    }
    let _ = my.query_drop(format!("DROP USER IF EXISTS '{gone}_u'@'%'"));
    let _ = pg.batch_execute(&format!("DROP ROLE IF EXISTS \"{gone}_r\""));

    assert_eq!(
        kept,
        (
            [false, false, true, true],
            [false, true],
            [false, false, true, true],
            [false, true]
        ),
        "(MariaDB databases, users, PostgreSQL databases, roles) kept: {gone} (process gone), \
         {old} (3 hours old), {live} (live and fresh), {other} (not a scratch name)"
    );
}

#[test]
fn the_fingerprint_sees_any_change() {
    let db = MyDb::new("fingerprint");
    db.exec(&[
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))",
        "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
        "CREATE VIEW w AS SELECT id FROM t",
    ]);
    let mut c = db.conn();
    let fp = |c: &mut mysql::Conn| schema_fingerprint(c, &db.name);
    let original = fp(&mut c);
    assert_eq!(fp(&mut c), original, "stable while nothing changes");
    let changes: [(&str, &str); 5] = [
        (
            "UPDATE t SET v = 'c' WHERE id = 2",
            "UPDATE t SET v = 'b' WHERE id = 2",
        ),
        (
            "INSERT INTO t VALUES (3, 'x')",
            "DELETE FROM t WHERE id = 3",
        ),
        (
            "ALTER TABLE t ADD COLUMN extra INT",
            "ALTER TABLE t DROP COLUMN extra",
        ),
        (
            "CREATE OR REPLACE VIEW w AS SELECT id, v FROM t",
            "CREATE OR REPLACE VIEW w AS SELECT id FROM t",
        ),
        ("CREATE TABLE t2 (id INT)", "DROP TABLE t2"),
    ];
    for (change, undo) in changes {
        c.query_drop(change).unwrap();
        assert_ne!(fp(&mut c), original, "{change}");
        c.query_drop(undo).unwrap();
        assert_eq!(fp(&mut c), original, "{undo}");
    }
}
