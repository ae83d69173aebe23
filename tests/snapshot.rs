//! One point in time under real concurrent writers. While a parallel, chunked export
//! runs, other connections keep moving amounts between two tables, one transaction
//! per move, so the total over both tables never changes at any committed point. Chunks
//! read on different connections at different times, or outside the snapshot, would
//! catch some moves half-way and the total in the dump would be off. A MyISAM table
//! cannot take part in the snapshot, and the manifest must say so.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;
use mysql::prelude::Queryable;

const ROWS: i64 = 40_000;
const START: i64 = 1_000;

fn source() -> MyDb {
    let db = MyDb::new("snap");
    db.exec(&[
        "CREATE TABLE checking (id INT PRIMARY KEY, amount BIGINT NOT NULL, pad CHAR(60) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE savings (id INT PRIMARY KEY, amount BIGINT NOT NULL, pad CHAR(60) NOT NULL) ENGINE=InnoDB",
        &format!("INSERT INTO checking SELECT seq, {START}, 'c' FROM seq_1_to_{ROWS}"),
        &format!("INSERT INTO savings SELECT seq, {START}, 's' FROM seq_1_to_{ROWS}"),
        "CREATE TABLE legacy (id INT PRIMARY KEY, note VARCHAR(20)) ENGINE=MyISAM",
        "INSERT INTO legacy VALUES (1, 'kept outside')",
    ]);
    db
}

/// Moves amounts between random rows of the two tables, one transaction per move, until
/// `stop`; counts the committed moves.
fn writer(
    db: &MyDb,
    seed: u64,
    stop: Arc<AtomicBool>,
    moves: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let mut c = db.conn();
    std::thread::spawn(move || {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        while !stop.load(Ordering::SeqCst) {
            let from = next() % ROWS as u64 + 1;
            let to = next() % ROWS as u64 + 1;
            let amount = next() % 500 + 1;
            let (a, b) = if next() % 2 == 0 {
                ("checking", "savings")
            } else {
                ("savings", "checking")
            };
            c.query_drop("START TRANSACTION").unwrap();
            c.query_drop(format!(
                "UPDATE {a} SET amount = amount - {amount} WHERE id = {from}"
            ))
            .unwrap();
            c.query_drop(format!(
                "UPDATE {b} SET amount = amount + {amount} WHERE id = {to}"
            ))
            .unwrap();
            c.query_drop("COMMIT").unwrap();
            moves.fetch_add(1, Ordering::SeqCst);
        }
    })
}

struct Dumped {
    /// The sum of column `amount` over every file of the table.
    total: i64,
    rows: i64,
    /// Rows whose amount the writer had changed.
    changed: i64,
    files: usize,
}

fn dumped(dump: &Path, m: &serde_json::Value, t: &str) -> Dumped {
    let files = table(m, t)["files"].as_array().unwrap();
    let mut d = Dumped {
        total: 0,
        rows: 0,
        changed: 0,
        files: files.len(),
    };
    for f in files {
        let mut r = csv::Reader::from_path(dump.join(f["path"].as_str().unwrap())).unwrap();
        for rec in r.records() {
            let amount: i64 = rec.unwrap()[1].parse().unwrap();
            d.total += amount;
            d.rows += 1;
            d.changed += i64::from(amount != START);
        }
    }
    d
}

#[test]
fn a_parallel_chunked_export_under_writes_sees_one_point_in_time() {
    let db = source();
    let work = Work::new();
    let stop = Arc::new(AtomicBool::new(false));
    let moves = Arc::new(AtomicU64::new(0));
    // Several writers, so that moves keep committing between any two reads.
    let writers: Vec<_> = (1..=3)
        .map(|seed| writer(&db, seed, stop.clone(), moves.clone()))
        .collect();
    wait_for("the writer to commit", || {
        (moves.load(Ordering::SeqCst) > 20).then_some(())
    });
    let before = moves.load(Ordering::SeqCst);
    let dump = work.export(
        &db,
        &[
            "--jobs",
            "4",
            "--chunk-rows",
            "500",
            "--exclude",
            "^legacy$",
        ],
    );
    let during = moves.load(Ordering::SeqCst) - before;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        during >= 20,
        "the writer must keep committing while the export runs ({during} moves)"
    );

    let m = manifest(&dump);
    assert_eq!(m["snapshot"]["method"], "global_read_lock");
    assert_eq!(m["snapshot"]["consistent"], true);
    assert!(m["snapshot"].get("non_transactional_tables").is_none());
    let checking = dumped(&dump, &m, "checking");
    let savings = dumped(&dump, &m, "savings");
    assert_eq!((checking.rows, savings.rows), (ROWS, ROWS));
    assert!(
        checking.files >= 40 && savings.files >= 40,
        "both tables chunked: {} and {} files",
        checking.files,
        savings.files
    );
    assert!(
        checking.changed + savings.changed > 0,
        "the dump holds the writer's moves"
    );
    assert_eq!(
        checking.total + savings.total,
        2 * ROWS * START,
        "the total over both tables holds in the dump (checking {}, savings {}, {during} moves \
         committed during the export)",
        checking.total,
        savings.total
    );
    // The writer kept the total too.
    let total: i64 = db
        .conn()
        .query_first(
            "SELECT CAST((SELECT SUM(amount) FROM checking) + (SELECT SUM(amount) FROM savings) AS SIGNED)",
        )
        .unwrap()
        .unwrap();
    assert_eq!(total, 2 * ROWS * START);
}

#[test]
fn a_myisam_table_makes_the_snapshot_inconsistent() {
    let db = source();
    let work = Work::new();
    let ran = work
        .run(
            "waybill-export",
            &[
                "--source",
                &db.url_text(),
                "--out",
                "out",
                "--jobs",
                "2",
                "--tables",
                "legacy,savings",
            ],
        )
        .ok();
    assert!(
        ran.stderr.contains("snapshot: NOT consistent"),
        "{}",
        ran.stderr
    );
    let m = manifest(Path::new(&ran.last_line()));
    assert_eq!(m["snapshot"]["consistent"], false);
    assert_eq!(
        m["snapshot"]["non_transactional_tables"],
        serde_json::json!(["legacy"])
    );
    assert!(
        m["snapshot"]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "tables with a non-transactional engine were read outside the snapshot"),
        "{}",
        m["snapshot"]
    );
    assert_eq!(table(&m, "legacy")["engine"], "MyISAM");
    assert_eq!(table(&m, "legacy")["rows"], 1);
}
