//! Binary COPY (the default: the client converts the CSV) must load exactly what text
//! COPY (`--copy-format text`: PostgreSQL parses the CSV) loads, value for value, with
//! typmods applied the same way and the same rows refused with the same words. Each
//! test loads one dump both ways into two databases and compares every value's text.
//! The spellings come from a real export, and from CSV files rewritten by hand (with
//! the manifest's hashes fixed up) for spellings no export writes, which the client
//! hands to PostgreSQL's input functions.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}

/// Replaces data file `name` of `dump` with `content` (plain CSV), and fixes the
/// manifest (rows, bytes, sha256 of the file, its table and the totals) and
/// `SHA256SUMS`, as a careful hand edit would.
fn rewrite_file(dump: &Path, name: &str, content: &str) {
    fs::write(dump.join(name), content).unwrap();
    let rows = content.matches('\n').count() as u64 - 1;
    let path = dump.join("migration_manifest.json");
    let mut m: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let sha = sha256_hex(content.as_bytes());
    let (mut total_rows, mut total_bytes) = (0u64, 0u64);
    for t in m["tables"].as_array_mut().unwrap() {
        let mut hit = false;
        for f in t["files"].as_array_mut().unwrap() {
            if f["path"] == name {
                f["rows"] = rows.into();
                f["bytes"] = (content.len() as u64).into();
                f["sha256"] = sha.clone().into();
                hit = true;
            }
        }
        if hit {
            let files = t["files"].as_array().unwrap().clone();
            t["rows"] = files
                .iter()
                .map(|f| f["rows"].as_u64().unwrap())
                .sum::<u64>()
                .into();
            t["bytes"] = files
                .iter()
                .map(|f| f["bytes"].as_u64().unwrap())
                .sum::<u64>()
                .into();
            if files.len() == 1 {
                t["sha256"] = sha.clone().into();
            }
            // The facts no longer describe the values: the type pre-flight is told to
            // accept whatever it finds (--allow-lossy).
        }
        total_rows += t["rows"].as_u64().unwrap();
        total_bytes += t["bytes"].as_u64().unwrap();
    }
    m["totals"]["rows"] = total_rows.into();
    m["totals"]["bytes"] = total_bytes.into();
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

/// Every row of `table` with every column as text, in key order.
fn rows_as_text(pg: &PgDb, table: &str) -> Vec<Vec<Option<String>>> {
    let mut c = pg.client();
    let cols: Vec<String> = c
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::text::regclass \
             AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let list: Vec<String> = cols.iter().map(|c| format!("\"{c}\"::text")).collect();
    c.batch_execute(
        "SET extra_float_digits = 3; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
         SET TimeZone = 'UTC'",
    )
    .unwrap();
    c.query(
        &format!("SELECT {} FROM {table} ORDER BY 1", list.join(", ")),
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (0..cols.len()).map(|i| r.get(i)).collect())
    .collect()
}

/// The import's own log in the dump directory (the newest).
fn import_log(dump: &Path) -> String {
    let mut logs: Vec<PathBuf> = fs::read_dir(dump)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("import_log_")
        })
        .collect();
    logs.sort();
    fs::read_to_string(logs.last().expect("an import log")).unwrap()
}

/// Loads `dump` into two copies of `schema`, binary and text, and compares `tables`.
fn both_ways(work: &Work, dump: &Path, schema: &str, tables: &[&str], extra: &[&str]) {
    let bin = PgDb::new("exact_bin");
    let txt = PgDb::new("exact_txt");
    bin.exec(schema);
    txt.exec(schema);
    let mut args = vec!["--allow-lossy"];
    args.extend_from_slice(extra);
    work.import(&bin, dump, &args).ok();
    let log = import_log(dump);
    for t in tables {
        assert!(
            log.contains(&format!("{t}: binary COPY")),
            "table {t} was not loaded by binary COPY:\n{log}"
        );
    }
    let mut text_args = args.clone();
    text_args.extend(["--copy-format", "text"]);
    work.import(&txt, dump, &text_args).ok();
    for t in tables {
        let (b, x) = (rows_as_text(&bin, t), rows_as_text(&txt, t));
        assert!(!b.is_empty(), "{t}: nothing loaded");
        assert_eq!(b.len(), x.len(), "{t}: row counts");
        for (rb, rx) in b.iter().zip(&x) {
            assert_eq!(
                rb, rx,
                "{t}: binary COPY (left) differs from text COPY (right)"
            );
        }
    }
}

const TYPES_SOURCE: &[&str] = &[
    "CREATE TABLE t (
        id INT PRIMARY KEY,
        flag TINYINT(1), small SMALLINT, med MEDIUMINT, big BIGINT, ubig BIGINT UNSIGNED,
        dec_wide DECIMAL(30,10), dec_small DECIMAL(7,3), fl FLOAT, dbl DOUBLE,
        d DATE, dt6 DATETIME(6), dt0 DATETIME, ts6 TIMESTAMP(6) NULL, tm TIME(6),
        u CHAR(36), vc VARCHAR(20), ch CHAR(5), tx TEXT, js JSON, bl BLOB, bits BIT(10),
        yr YEAR, en ENUM('a','b c','Déjà'))",
    "SET time_zone = '+00:00'",
    "INSERT INTO t VALUES
     (1, 1, -32768, -8388608, -9223372036854775808, 18446744073709551615,
      12345678901234567890.0123456789, -9999.999, 3.4028235e38, 1.7976931348623157e308,
      '0001-01-01', '9999-12-31 23:59:59.999999', '2024-02-29 12:00:00', '1970-01-01 00:00:01.000001',
      '838:59:59.999999', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'x', 'ab', 'multi\nline, \"quoted\"',
      '{\"k\": [1, 2.50, \"é\"], \"n\": null}', X'00FF10', b'1010101010', 1901, 'a'),
     (2, 0, 32767, 8388607, 9223372036854775807, 0,
      -0.0000000001, 0.001, -1.17549435e-38, 2.2250738585072014e-308,
      '2000-01-01', '1999-12-31 23:59:59.5', '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999',
      '-838:59:59', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '', 'abc  ', '', '[]', X'', b'0000000001', 2155, 'b c'),
     (3, 1, 0, 0, 0, 9223372036854775808,
      0.0000000000, 0.000, 1.0000001, 4.9406564584124654e-324,
      '1969-07-20', '1969-07-20 20:17:40.123', '1900-01-01 00:00:00', '2024-03-10 07:00:00.25',
      '-00:00:00.5', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'trailing  ', 'é', 'NULL', '\"\\\\\\\\N\"', X'5C4E', b'1111111111', 2000, 'Déjà'),
     (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
      NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
     (5, 0, 1, 1, 1, 1, 0.5, 0.5, 0.1, 0.1, '2024-12-31', '2024-12-31 23:59:59.999999',
      '2024-12-31 23:59:59', '2024-12-31 23:59:59.999999', '00:00:00', '00000000-0000-0000-0000-000000000000',
      '\\\\N', '\\\\.', '\\\\.', '{\"a\": {\"b\": {\"c\": 1e300}}}', X'5C2E', b'0000000000', 1999, 'a')",
];

/// The target: typmods that round and pad (numeric scales, timestamp precisions,
/// char padding, an interval precision), and the natural types.
const TYPES_TARGET: &str = "CREATE TABLE t (
    id integer PRIMARY KEY,
    flag boolean, small smallint, med integer, big bigint, ubig numeric(20),
    dec_wide numeric(25,4), dec_small numeric(7,2), fl real, dbl double precision,
    d date, dt6 timestamp(3), dt0 timestamp(0), ts6 timestamptz(2), tm interval(3),
    u uuid, vc varchar(20), ch char(5), tx text, js jsonb, bl bytea, bits bit(10),
    yr smallint, en text);
    CREATE TABLE t_wide (LIKE t);
    ALTER TABLE t_wide ALTER dec_wide TYPE numeric, ALTER dec_small TYPE numeric,
      ALTER dt6 TYPE timestamp, ALTER ts6 TYPE timestamptz, ALTER tm TYPE interval,
      ALTER ch TYPE varchar(10), ALTER js TYPE json, ALTER bits TYPE varbit(12),
      ALTER fl TYPE double precision, ALTER dbl TYPE numeric, ALTER yr TYPE numeric(5,1)";

#[test]
fn every_type_loads_the_same_as_text_copy() {
    let db = MyDb::new("exact");
    db.exec(TYPES_SOURCE);
    db.exec(&[
        "CREATE TABLE t_wide LIKE t",
        "INSERT INTO t_wide SELECT * FROM t",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &[]);
    both_ways(&work, &dump, TYPES_TARGET, &["t", "t_wide"], &[]);
}

/// A deterministic stream of pseudo-random numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// A decimal spelling with up to 30 digits, a point somewhere and sometimes an
/// exponent: the shapes a correctly rounding parser can get wrong.
fn number(r: &mut Rng) -> String {
    let n = r.below(18) as usize;
    let int = r.digits(n);
    let n = r.below(25) as usize;
    let frac = r.digits(n);
    let mut s = String::new();
    if r.below(3) == 0 {
        s.push('-');
    }
    s.push_str(if int.is_empty() && frac.is_empty() {
        "0"
    } else {
        &int
    });
    if !frac.is_empty() {
        s.push('.');
        s.push_str(&frac);
    }
    match r.below(4) {
        // Within real's range either way (1e-35 to 1e28).
        0 => s.push_str(&format!("e{}", r.below(21) as i64 - 10)),
        1 => s.push_str(&format!("E+{}", r.below(11))),
        _ => {}
    }
    s
}

fn stamp(r: &mut Rng) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        1 + r.below(9999),
        1 + r.below(12),
        1 + r.below(28),
        r.below(24),
        r.below(60),
        r.below(60)
    );
    let n = r.below(7) as usize;
    if n > 0 {
        s.push('.');
        s.push_str(&r.digits(n));
    }
    s
}

#[test]
fn random_numbers_and_times_and_odd_spellings_load_the_same() {
    let db = MyDb::new("exact_rand");
    db.exec(&[
        "CREATE TABLE r (id INT PRIMARY KEY, n DECIMAL(65,30), f DOUBLE, g FLOAT, \
         ts DATETIME(6), tz TIMESTAMP(6) NULL, i BIGINT, b TINYINT(1), u CHAR(36), \
         x BLOB, tm TIME, d DATE, bits BIT(8))",
        "INSERT INTO r VALUES (1, 1, 1, 1, '2000-01-01', '2000-01-01 00:00:01', 1, 1, \
         'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', X'00', '00:00:00', '2000-01-01', b'1')",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut csv = String::from("id,n,f,g,ts,tz,i,b,u,x,tm,d,bits\n");
    let mut id = 0;
    let mut row = |cells: [String; 12]| {
        id += 1;
        csv.push_str(&format!("{id},{}\n", cells.join(",")));
    };
    let q = |s: &str| format!("\"{s}\"");
    for _ in 0..3000 {
        let n = number(&mut r);
        let frac_digits = 1 + r.below(6) as usize;
        let ts = stamp(&mut r);
        let tz = format!(
            "{}{}{:02}{}",
            stamp(&mut r),
            if r.below(2) == 0 { "+" } else { "-" },
            r.below(15),
            if r.below(2) == 0 {
                format!(":{:02}", r.below(60))
            } else {
                String::new()
            }
        );
        let i = format!("{}", r.next() as i64 >> r.below(60));
        let tm = format!(
            "{}{}:{:02}:{:02}.{}",
            if r.below(2) == 0 { "-" } else { "" },
            r.below(839),
            r.below(60),
            r.below(60),
            r.digits(frac_digits)
        );
        let d = &ts[..10];
        let bits: String = (0..8)
            .map(|_| if r.below(2) == 0 { '0' } else { '1' })
            .collect();
        let x = format!("\\x{:016x}", r.next());
        row([
            n.clone(),
            n.clone(),
            n,
            ts.clone(),
            tz,
            i,
            r.below(2).to_string(),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into(),
            x,
            tm,
            d.to_string(),
            bits,
        ]);
    }
    // Spellings no export writes: PostgreSQL's input functions read them (the client
    // hands them over), and they must come out as text COPY makes them.
    let odd: [[&str; 12]; 6] = [
        [
            " 42 ",
            "+1.5e3",
            " -0.0 ",
            "2024-01-01T10:00:00",
            "2024-06-01 10:00:00 Europe/Paris",
            " +7",
            "yes",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "\\x00 ff",
            "1 day 02:00",
            "20240101",
            "B101",
        ],
        [
            "NaN",
            "Infinity",
            "-inf",
            "2024-02-29 23:59:60",
            "epoch",
            "-0",
            "off",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "abc\\\\000",
            "24:00:00",
            "Jan 8, 1999",
            "X1f",
        ],
        [
            "1E-1000",
            "1e-320",
            "1e-45",
            "2000-01-01 24:00:00",
            "2000-01-01 10:00:00Z",
            "00000000000000000000042",
            "TRUE",
            "A0EE-BC99-9C0B-4EF8-BB6D-6BB9-BD38-0A11",
            "\\x",
            "-1 02:03:04.5",
            "0099-01-01 BC",
            "",
        ],
        [
            "0.0000000000000000000000000000001",
            "1.0000000000000000000000000001",
            "3.40282356e38",
            "2000-01-01 00:00:00.9999995",
            "2000-01-01 00:00:00.1234567+01:30:15",
            "-9223372036854775808",
            "t",
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "\\xABCDEF",
            "838:59:59.9999999",
            "2000-02-29",
            "00000000",
        ],
        [
            "12345678901234567890123456789012345.123456789012345678901234567890",
            "4.9406564584124654e-324",
            "1.4e-45",
            "infinity",
            "-infinity",
            "9223372036854775807",
            "f",
            "00000000-0000-0000-0000-000000000000",
            "\\x0a0B",
            "-838:59:59",
            "infinity",
            "1",
        ],
        [
            "-.5",
            ".5e1",
            "5.",
            "1999-12-31 23:59:59.9999996",
            "1999-12-31 23:59:59.9999996-00:30",
            "-1",
            "1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "\\\\x",
            "00:00:60",
            "1999-12-31",
            "0",
        ],
    ];
    for o in odd {
        row(o.map(|c| {
            if c.is_empty() {
                "\"\"".to_string()
            } else {
                q(c)
            }
        }));
    }
    rewrite_file(&dump, "r.csv", &csv);
    both_ways(
        &work,
        &dump,
        "CREATE TABLE r (id int PRIMARY KEY, n numeric, f double precision, g real, \
         ts timestamp(6), tz timestamptz, i bigint, b boolean, u uuid, x bytea, tm interval, \
         d date, bits varbit(8));
         CREATE TABLE r_round (LIKE r); ALTER TABLE r_round ALTER n TYPE numeric(40,12), \
         ALTER ts TYPE timestamp(1), ALTER tz TYPE timestamptz(0), ALTER tm TYPE interval(2)",
        &["r"],
        &[],
    );
}

/// A value PostgreSQL refuses is refused the same way by both formats: the same words,
/// the same CSV record and column, and nothing is left behind.
#[test]
fn rejected_values_are_rejected_alike_naming_record_and_column() {
    let db = MyDb::new("exact_bad");
    db.exec(&[
        "CREATE TABLE e (id INT PRIMARY KEY, vc VARCHAR(10), n DECIMAL(10,3), u CHAR(36), \
         s INT, bits BIT(4), j TEXT)",
        "INSERT INTO e VALUES (1, 'ok', 1.5, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1, b'1', '{}')",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let pg = PgDb::new("exact_bad");
    pg.exec(
        "CREATE TABLE e (id int PRIMARY KEY, vc varchar(3), n numeric(4,1), u uuid, s smallint, \
         bits bit(4), j jsonb); INSERT INTO e (id, vc) VALUES (-1, 'old')",
    );
    let good = "2,ab,1.0,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,7,0101,{}\n";
    let cases = [
        (
            "3,abcd,1,\\N,1,0101,{}",
            "value too long for type character varying(3)",
            "vc",
            "\"abcd\"",
        ),
        (
            "3,ab,1234.5,,1,0101,{}",
            "numeric field overflow",
            "n",
            "\"1234.5\"",
        ),
        (
            "3,ab,1,not-a-uuid,1,0101,{}",
            "invalid input syntax for type uuid: \"not-a-uuid\"",
            "u",
            "\"not-a-uuid\"",
        ),
        (
            "3,ab,1,\\N,40000,0101,{}",
            "value \"40000\" is out of range for type smallint",
            "s",
            "\"40000\"",
        ),
        (
            "3,ab,1,\\N,1,01,{}",
            "bit string length 2 does not match type bit(4)",
            "bits",
            "\"01\"",
        ),
        (
            "3,ab,1,\\N,1,0101,\"{\"\"a\"\":}\"",
            "invalid input syntax for type json",
            "j",
            "\"{\"a\":}\"",
        ),
    ];
    for (bad, message, column, value) in cases {
        rewrite_file(
            &dump,
            "e.csv",
            &format!("id,vc,n,u,s,bits,j\n{good}{bad}\n"),
        );
        let mut seen = Vec::new();
        for format in ["binary", "text"] {
            let ran = work
                .import(&pg, &dump, &["--allow-lossy", "--copy-format", format])
                .failed();
            assert!(ran.stderr.contains(message), "{format}: {}", ran.stderr);
            assert!(
                ran.stderr
                    .contains("at CSV record 3 of e.csv (the header is record 1)")
                    && ran
                        .stderr
                        .contains(&format!("column `{column}`, value starts {value}")),
                "{format}: {}",
                ran.stderr
            );
            assert_eq!(pg.count("e"), 1, "{format}: the target is unchanged");
            assert_eq!(pg.text("SELECT vc FROM e").as_deref(), Some("old"));
            let start = ran.stderr.find("failed: ").unwrap();
            let end = ran.stderr[start..].find('(').unwrap();
            seen.push(ran.stderr[start..start + end].to_string());
        }
        assert_eq!(seen[0], seen[1], "the same words either way");
    }
}

/// The remaining conversions: TIME into `time` (with and without a typmod that rounds),
/// an ENUM into a PostgreSQL enum, DATE into `timestamp` and `timestamptz`, booleans and
/// years into integers, a DATETIME into `date`-less `timestamptz(0)`.
#[test]
fn time_enum_and_widened_columns_load_the_same_as_text_copy() {
    let db = MyDb::new("exact_more");
    db.exec(&[
        "CREATE TABLE m (id INT PRIMARY KEY, t TIME(6), t2 TIME(6), mood ENUM('sad','ok','happy'), \
         d DATE, d2 DATE, flag TINYINT(1), yr YEAR, dt DATETIME(6))",
        "INSERT INTO m VALUES
         (1, '00:00:00', '23:59:59.999999', 'sad', '2024-02-29', '0001-01-01', 1, 1901, '2024-01-01 00:00:00.5'),
         (2, '12:34:56.789012', '00:00:00.004999', 'happy', '1999-12-31', '9999-12-31', 0, 2155, '1970-01-01 00:00:00'),
         (3, '23:59:59.999999', '10:00:00.005', 'ok', '2000-01-01', '1969-07-20', NULL, 2000, '2038-01-19 03:14:07.999999'),
         (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    ]);
    let work = Work::new();
    let dump = work.export(&db, &[]);
    both_ways(
        &work,
        &dump,
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE m (id int PRIMARY KEY, t time, t2 time(2), mood mood, d timestamp,
           d2 timestamptz, flag smallint, yr integer, dt timestamptz(0))",
        &["m"],
        &[],
    );
}
