//! SQLite as a source, end to end, on real SQLite files the tests make with rusqlite (and
//! on Chinook, made by its authors): a Prisma-style and a Django-style database, each
//! loaded into PostgreSQL both with --create-schema and into the schema the application's
//! own PostgreSQL migrations would make, every value compared with what SQLite holds
//! (timestamps as instants, numbers by value, bytes exactly); columns of mixed storage
//! classes refused with counts and rowids, then exported with --cast; a live WAL-mode
//! database written to during the export; the URL forms and their errors.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use time::PrimitiveDateTime;
use time::macros::format_description;

/// How a column's values are compared.
#[derive(Clone, Copy, Debug)]
enum K {
    Int,
    /// 0/1 in SQLite, boolean (or an integer) in PostgreSQL.
    Bool,
    Text,
    Dec,
    F64,
    /// A timestamp: ISO text, or numbers counting this many milliseconds per unit.
    Ts(i64),
    Date,
    Time,
    Json,
    Bytes,
}

#[derive(Debug, PartialEq)]
enum V {
    Null,
    Int(i64),
    Text(String),
    /// A decimal as (sign, significant digits, exponent of the last digit).
    Dec(bool, String, i64),
    F64(u64),
    Micros(i128),
    Json(serde_json::Value),
    Bytes(Vec<u8>),
}

fn dec(s: &str) -> V {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.trim_start_matches('+')),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().unwrap()),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let trimmed = digits.trim_start_matches('0');
    let sig = trimmed.trim_end_matches('0');
    if sig.is_empty() {
        return V::Dec(false, String::new(), 0);
    }
    let exp = exp - frac.len() as i64 + (trimmed.len() - sig.len()) as i64;
    V::Dec(neg, sig.to_string(), exp)
}

fn iso_micros(s: &str) -> i128 {
    let s = s.replace('T', " ");
    let at = if s.len() == 10 {
        PrimitiveDateTime::parse(
            &format!("{s} 00:00:00"),
            format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        )
    } else {
        PrimitiveDateTime::parse(
            &s,
            format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
            ),
        )
    }
    .unwrap_or_else(|e| panic!("{s}: {e}"));
    at.assume_utc().unix_timestamp_nanos() / 1000
}

fn time_micros(s: &str) -> i128 {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let parts: Vec<i128> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    let secs = parts[0] * 3600 + parts[1] * 60 + parts.get(2).copied().unwrap_or(0);
    let frac: i128 = format!("{frac:0<6}")[..6].parse().unwrap();
    secs * 1_000_000 + frac
}

/// What a SQLite value should be once loaded, by the documented conversions.
fn expected(k: K, v: ValueRef) -> V {
    use ValueRef as R;
    let text = |t: &[u8]| String::from_utf8(t.to_vec()).unwrap();
    match (k, v) {
        (_, R::Null) => V::Null,
        (K::Int | K::Bool, R::Integer(i)) => V::Int(i),
        (K::Text | K::Date, R::Text(t)) => V::Text(text(t)),
        (K::Text, R::Integer(i)) => V::Text(i.to_string()),
        (K::Text, R::Real(f)) => V::Text(ryu::Buffer::new().format(f).to_string()),
        (K::Text, R::Blob(b)) => V::Text(text(b)),
        (K::Dec, R::Integer(i)) => dec(&i.to_string()),
        (K::Dec, R::Real(f)) => dec(ryu::Buffer::new().format(f)),
        (K::Dec, R::Text(t)) => dec(&text(t)),
        (K::F64, R::Real(f)) => V::F64(f.to_bits()),
        (K::F64, R::Integer(i)) => V::F64((i as f64).to_bits()),
        (K::Ts(unit), R::Integer(i)) => V::Micros(i128::from(i) * i128::from(unit) * 1000),
        (K::Ts(unit), R::Real(f)) => V::Micros((f * (unit * 1000) as f64).round() as i128),
        (K::Ts(_), R::Text(t)) => V::Micros(iso_micros(&text(t))),
        (K::Time, R::Text(t)) => V::Micros(time_micros(&text(t))),
        (K::Json, R::Text(t)) => V::Json(serde_json::from_slice(t).unwrap()),
        (K::Json, R::Integer(i)) => V::Json(i.into()),
        (K::Json, R::Real(f)) => V::Json(f.into()),
        (K::Bytes, R::Blob(b)) => V::Bytes(b.to_vec()),
        (K::Bytes, R::Text(t)) => V::Bytes(t.to_vec()),
        (k, v) => panic!("no expectation for {k:?} from {v:?}"),
    }
}

fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every row of `table`, ordered by `order`, as SQLite holds it.
fn sqlite_values(path: &Path, table: &str, cols: &[(&str, K)], order: &[&str]) -> Vec<Vec<V>> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let list: Vec<String> = cols.iter().map(|(c, _)| q(c)).collect();
    let by: Vec<String> = order.iter().map(|c| q(c)).collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        list.join(", "),
        q(table),
        by.join(", ")
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut out = Vec::new();
    while let Some(r) = rows.next().unwrap() {
        out.push(
            cols.iter()
                .enumerate()
                .map(|(i, (_, k))| expected(*k, r.get_ref(i).unwrap()))
                .collect(),
        );
    }
    out
}

/// Every row of `table` as PostgreSQL holds it, in the same order (text keys in byte
/// order, as SQLite sorts them).
fn pg_values(pg: &PgDb, table: &str, cols: &[(&str, K)], order: &[&str]) -> Vec<Vec<V>> {
    let exprs: Vec<String> = cols
        .iter()
        .map(|(c, k)| {
            let c = q(c);
            match k {
                K::Int => format!("({c})::bigint"),
                K::Bool => format!("({c})::int::bigint"),
                K::Text | K::Dec | K::Date | K::Json => format!("({c})::text"),
                K::F64 => format!("({c})::float8"),
                K::Ts(_) => format!("(extract(epoch from {c}) * 1000000)::numeric(38,0)::text"),
                K::Time => format!("(extract(epoch from {c}) * 1000000)::numeric(38,0)::text"),
                K::Bytes => c,
            }
        })
        .collect();
    let by: Vec<String> = order
        .iter()
        .map(|o| {
            let k = cols.iter().find(|(c, _)| c == o).map(|(_, k)| *k);
            match k {
                Some(K::Text) => format!("{} COLLATE \"C\"", q(o)),
                _ => q(o),
            }
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        exprs.join(", "),
        q(table),
        by.join(", ")
    );
    let mut c = pg.client();
    c.query(&sql, &[])
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .iter()
        .map(|r| {
            cols.iter()
                .enumerate()
                .map(|(i, (_, k))| match k {
                    K::Int | K::Bool => r.get::<_, Option<i64>>(i).map_or(V::Null, V::Int),
                    K::Text | K::Date => r.get::<_, Option<String>>(i).map_or(V::Null, V::Text),
                    K::Dec => r.get::<_, Option<String>>(i).map_or(V::Null, |s| dec(&s)),
                    K::Json => r
                        .get::<_, Option<String>>(i)
                        .map_or(V::Null, |s| V::Json(serde_json::from_str(&s).unwrap())),
                    K::F64 => r
                        .get::<_, Option<f64>>(i)
                        .map_or(V::Null, |f| V::F64(f.to_bits())),
                    K::Ts(_) | K::Time => r
                        .get::<_, Option<String>>(i)
                        .map_or(V::Null, |s| V::Micros(s.parse().unwrap())),
                    K::Bytes => r.get::<_, Option<Vec<u8>>>(i).map_or(V::Null, V::Bytes),
                })
                .collect()
        })
        .collect()
}

/// Compares every value of `table` on both sides; returns the row count.
fn assert_same(path: &Path, pg: &PgDb, table: &str, cols: &[(&str, K)], order: &[&str]) -> usize {
    let want = sqlite_values(path, table, cols, order);
    let got = pg_values(pg, table, cols, order);
    assert_eq!(got.len(), want.len(), "{table}: row count");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        for (j, (gv, wv)) in g.iter().zip(w).enumerate() {
            assert_eq!(gv, wv, "{table}.{} in row {}", cols[j].0, i + 1);
        }
    }
    want.len()
}

fn make_sqlite(dir: &Path, name: &str, sql: &str) -> PathBuf {
    let path = dir.join(name);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(sql).unwrap();
    path
}

fn col_type(pg: &PgDb, table: &str, column: &str) -> String {
    pg.text(&format!(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = '{}'::regclass AND attname = '{column}'",
        q(table)
    ))
    .unwrap_or_else(|| panic!("no column {table}.{column}"))
}

fn next_value(pg: &PgDb, table: &str, column: &str) -> i64 {
    pg.client()
        .query_one(
            &format!(
                "SELECT nextval(pg_get_serial_sequence('{}', '{column}'))",
                q(table)
            ),
            &[],
        )
        .unwrap()
        .get(0)
}

// ---------------------------------------------------------------------------------------
// Prisma

const PRISMA: &str = r#"
CREATE TABLE "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
);
CREATE TABLE "User" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "name" TEXT,
    "isAdmin" BOOLEAN NOT NULL DEFAULT false,
    "balance" DECIMAL NOT NULL DEFAULT 0,
    "visits" BIGINT NOT NULL DEFAULT 0,
    "rating" REAL,
    "profile" JSONB,
    "avatar" BLOB,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    "deletedAt" DATETIME
);
CREATE TABLE "Category" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL
);
CREATE TABLE "Post" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "title" TEXT NOT NULL,
    "published" BOOLEAN NOT NULL DEFAULT false,
    "authorId" TEXT NOT NULL,
    "categoryId" INTEGER,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Post_categoryId_fkey" FOREIGN KEY ("categoryId") REFERENCES "Category" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE UNIQUE INDEX "Category_name_key" ON "Category"("name");
CREATE INDEX "Post_authorId_idx" ON "Post"("authorId");

INSERT INTO "_prisma_migrations" VALUES ('6c1f9d2e-3b7a-4c55-9f3e-2a1b0c9d8e7f', 'abc123', 1710054000250, '20240310070000_init', NULL, NULL, 1710054000000, 1);
INSERT INTO "User" VALUES ('clu1a2b3c0000qwer5678tyui', 'ada@example.com', 'Ada "the first", Lovelace
😀', 1, 12.5, 9223372036854775807, 4.5, '{"theme":"dark","tags":["a","b"],"n":1.5}', x'00ff10', 1710054000250, 1710054000250, NULL);
INSERT INTO "User" VALUES ('clu1a2b3c0001asdf5678ghjk', 'bob@example.com', NULL, 0, 0, -1, 0.30000000000000004, '42', x'', -86400001, 1710054000999, 1710140400123);
INSERT INTO "User" VALUES ('clu1a2b3c0002zxcv5678bnmq', 'cy@example.com', 'Cy, \N', 0, -0.01, 0, 1e-7, '"just text"', NULL, 1, 2, NULL);
INSERT INTO "User" VALUES ('clu1a2b3c0003poiu5678lkjh', 'dee@example.com', '', 1, 1234567.89, 7, NULL, NULL, x'deadbeef', 1710054000000, 1710054000000, NULL);
INSERT INTO "Category" ("name") VALUES ('news'), ('tech'), ('gone');
DELETE FROM "Category" WHERE "name" = 'gone';
INSERT INTO "Post" VALUES ('0b7e8a6e-6c2f-4f7b-9a51-1d2c3b4a5f60', 'Hello', 1, 'clu1a2b3c0000qwer5678tyui', 1, 1710054000250);
INSERT INTO "Post" VALUES ('1c8f9b7f-7d30-4a8c-8b62-2e3d4c5b6a71', 'Draft, "quoted"', 0, 'clu1a2b3c0000qwer5678tyui', NULL, 1710054000500);
INSERT INTO "Post" ("id", "title", "authorId", "categoryId") VALUES ('2d90ac80-8e41-4b9d-9c73-3f4e5d6c7b82', 'Written by SQLite''s default', 'clu1a2b3c0001asdf5678ghjk', 2);
"#;

const PRISMA_USER: &[(&str, K)] = &[
    ("id", K::Text),
    ("email", K::Text),
    ("name", K::Text),
    ("isAdmin", K::Bool),
    ("balance", K::Dec),
    ("visits", K::Int),
    ("rating", K::F64),
    ("profile", K::Json),
    ("avatar", K::Bytes),
    ("createdAt", K::Ts(1)),
    ("updatedAt", K::Ts(1)),
    ("deletedAt", K::Ts(1)),
];
const PRISMA_POST: &[(&str, K)] = &[
    ("id", K::Text),
    ("title", K::Text),
    ("published", K::Bool),
    ("authorId", K::Text),
    ("categoryId", K::Int),
    ("createdAt", K::Ts(1)),
];
const PRISMA_CATEGORY: &[(&str, K)] = &[("id", K::Int), ("name", K::Text)];

fn assert_prisma_values(db: &Path, pg: &PgDb) {
    assert_eq!(assert_same(db, pg, "User", PRISMA_USER, &["id"]), 4);
    assert_eq!(assert_same(db, pg, "Post", PRISMA_POST, &["id"]), 3);
    assert_eq!(assert_same(db, pg, "Category", PRISMA_CATEGORY, &["id"]), 2);
}

#[test]
fn prisma_database_with_create_schema() {
    let work = Work::new();
    let db = make_sqlite(work.path(), "dev.db", PRISMA);
    let ran = work
        .run(
            "waybill-export",
            &["--source", db.to_str().unwrap(), "--out", "out"],
        )
        .ok();
    assert!(
        ran.stderr.contains(
            "warning: `_prisma_migrations` is Prisma's migration history: skipped (--include-internal exports it)"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("warning: `sqlite_sequence` is SQLite's AUTOINCREMENT counter"),
        "{}",
        ran.stderr
    );
    let dump = PathBuf::from(ran.last_line());
    assert!(dump.starts_with(work.path().join("out/dev")), "{dump:?}");
    let m = manifest(&dump);
    assert_eq!(m["source"]["engine"], "sqlite");
    assert_eq!(m["source"]["path"], db.to_str().unwrap());
    assert_eq!(m["source"]["database"], "dev");
    assert_eq!(m["source"]["server_version"], rusqlite::version());
    assert!(m["source"].get("host").is_none() && m["source"].get("user").is_none());
    assert_eq!(m["snapshot"]["consistent"], true);
    assert_eq!(m["snapshot"]["method"], "sqlite_read_transaction");
    assert_eq!(m["options"]["jobs"], 1);
    let names: Vec<&str> = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Category", "Post", "User"]);
    let created = column(&m, "User", "createdAt");
    assert_eq!(created["encoding"], "datetime");
    assert_eq!(created["representation"], "unix_ms");
    assert_eq!(created["datetime_precision"], 3);
    // One post was written by SQLite's own DEFAULT CURRENT_TIMESTAMP: ISO text.
    let post_created = column(&m, "Post", "createdAt");
    assert_eq!(post_created["representation"], "iso_text+unix_ms");
    assert_eq!(
        post_created["storage_classes"],
        serde_json::json!({"null": 0, "integer": 2, "real": 0, "text": 1, "blob": 0})
    );
    let profile = column(&m, "User", "profile");
    assert_eq!(profile["encoding"], "json_text");
    assert_eq!(
        profile["storage_classes"],
        serde_json::json!({"null": 1, "integer": 1, "real": 0, "text": 2, "blob": 0})
    );
    assert_eq!(column(&m, "User", "isAdmin")["encoding"], "boolean_int");
    assert_eq!(column(&m, "User", "balance")["encoding"], "decimal");
    assert_eq!(column(&m, "User", "avatar")["encoding"], "bytea_hex");
    assert_eq!(column(&m, "User", "rating")["encoding"], "double");
    assert_eq!(column(&m, "Category", "id")["auto_increment"], true);
    // AUTOINCREMENT never reuses 3, deleted: the next value is 4, not max + 1.
    assert_eq!(table(&m, "Category")["auto_increment"], 4);
    let fk = table(&m, "Post")["foreign_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Post_authorId_fkey")
        .unwrap()
        .clone();
    assert_eq!(fk["on_delete"], "CASCADE");
    assert_eq!(fk["referenced_table"], "User");
    let csv = std::fs::read_to_string(dump.join("User.csv")).unwrap();
    assert!(
        csv.contains("2024-03-10 07:00:00.250,2024-03-10 07:00:00.250,\\N"),
        "{csv}"
    );
    assert!(csv.contains(",1969-12-30 23:59:59.999,"), "{csv}");
    assert!(csv.contains(",0.30000000000000004,"), "{csv}");
    assert!(csv.contains(",\\x00ff10,"), "{csv}");

    let pg = PgDb::new("sq_prisma_cs");
    let ran = work.import(&pg, &dump, &["--create-schema"]).ok();
    assert!(!ran.stderr.contains("not translated"), "{}", ran.stderr);
    for (t, c, ty) in [
        ("User", "id", "text"),
        ("User", "isAdmin", "boolean"),
        ("User", "balance", "numeric"),
        ("User", "visits", "bigint"),
        ("User", "rating", "double precision"),
        ("User", "profile", "jsonb"),
        ("User", "avatar", "bytea"),
        ("User", "createdAt", "timestamp(3) without time zone"),
        ("Post", "createdAt", "timestamp(6) without time zone"),
        ("Post", "categoryId", "bigint"),
        ("Category", "id", "bigint"),
    ] {
        assert_eq!(col_type(&pg, t, c), ty, "{t}.{c}");
    }
    assert_eq!(
        pg.text(
            "SELECT attidentity::text FROM pg_attribute WHERE attrelid = '\"Category\"'::regclass AND attname = 'id'"
        )
        .as_deref(),
        Some("d")
    );
    assert_eq!(
        pg.text(
            "SELECT confdeltype::text || confupdtype::text FROM pg_constraint WHERE conname = 'Post_authorId_fkey'"
        )
        .as_deref(),
        Some("cc")
    );
    assert_eq!(
        pg.text(
            "SELECT confdeltype::text FROM pg_constraint WHERE conname = 'Post_categoryId_fkey'"
        )
        .as_deref(),
        Some("n")
    );
    assert!(
        pg.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'User_email_key'")
            .unwrap()
            .contains("UNIQUE INDEX")
    );
    assert_eq!(
        pg.text(
            "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE adrelid = '\"User\"'::regclass AND attname = 'isAdmin'"
        )
        .as_deref(),
        Some("false")
    );
    assert_prisma_values(&db, &pg);
    assert_eq!(next_value(&pg, "Category", "id"), 4);

    // --include-internal brings _prisma_migrations along.
    let dump2 = work.export_url(db.to_str().unwrap(), &["--include-internal"]);
    let m2 = manifest(&dump2);
    assert_eq!(m2["options"]["include_internal"], true);
    assert_eq!(table(&m2, "_prisma_migrations")["rows"], 1);
    // So does naming it.
    let dump3 = work.export_url(
        db.to_str().unwrap(),
        &["--tables", "_prisma_migrations", "-q"],
    );
    let m3 = manifest(&dump3);
    assert_eq!(m3["tables"].as_array().unwrap().len(), 1);
    assert_eq!(
        column(&m3, "_prisma_migrations", "finished_at")["representation"],
        "unix_ms"
    );
}

/// The schema `prisma migrate deploy` makes on PostgreSQL for the same models.
const PRISMA_POSTGRES: &str = r#"
CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id"));
INSERT INTO "_prisma_migrations" VALUES ('pg-own-migration', 'def456', now(), '20240310070000_init', NULL, NULL, now(), 1);
CREATE TABLE "User" (
    "id" TEXT NOT NULL, "email" TEXT NOT NULL, "name" TEXT,
    "isAdmin" BOOLEAN NOT NULL DEFAULT false, "balance" DECIMAL(65,30) NOT NULL DEFAULT 0,
    "visits" BIGINT NOT NULL DEFAULT 0, "rating" DOUBLE PRECISION, "profile" JSONB, "avatar" BYTEA,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" TIMESTAMP(3) NOT NULL,
    "deletedAt" TIMESTAMP(3),
    CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
CREATE TABLE "Category" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL,
    CONSTRAINT "Category_pkey" PRIMARY KEY ("id"));
CREATE TABLE "Post" (
    "id" TEXT NOT NULL, "title" TEXT NOT NULL, "published" BOOLEAN NOT NULL DEFAULT false,
    "authorId" TEXT NOT NULL, "categoryId" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE UNIQUE INDEX "Category_name_key" ON "Category"("name");
CREATE INDEX "Post_authorId_idx" ON "Post"("authorId");
ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Post" ADD CONSTRAINT "Post_categoryId_fkey" FOREIGN KEY ("categoryId") REFERENCES "Category"("id") ON DELETE SET NULL ON UPDATE CASCADE;
"#;

#[test]
fn prisma_database_into_the_applications_schema() {
    let work = Work::new();
    let db = make_sqlite(work.path(), "dev.db", PRISMA);
    let dump = work.export_url(db.to_str().unwrap(), &["-q"]);
    let pg = PgDb::new("sq_prisma_app");
    pg.exec(PRISMA_POSTGRES);
    let ran = work.import(&pg, &dump, &[]).ok();
    assert!(ran.all().contains("committed"), "{}", ran.all());
    assert_prisma_values(&db, &pg);
    // Past the data and past SQLite's AUTOINCREMENT counter (3 was used, then deleted).
    assert_eq!(next_value(&pg, "Category", "id"), 4);
    // Prisma's own migration history on PostgreSQL is left alone.
    assert_eq!(
        pg.text("SELECT string_agg(id, ',') FROM \"_prisma_migrations\"")
            .as_deref(),
        Some("pg-own-migration")
    );
}

// ---------------------------------------------------------------------------------------
// Django

const DJANGO: &str = r#"
CREATE TABLE "django_migrations" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "app" varchar(255) NOT NULL, "name" varchar(255) NOT NULL, "applied" datetime NOT NULL);
CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "first_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL);
CREATE TABLE "shop_order" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "total" decimal NOT NULL, "placed_on" date NOT NULL, "ships_at" time NULL, "note" text NOT NULL, "user_id" integer NOT NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED, "deleted_at" datetime NULL);
CREATE INDEX "shop_order_user_id_idx" ON "shop_order" ("user_id");
CREATE UNIQUE INDEX "shop_order_open_note" ON "shop_order" ("note") WHERE "deleted_at" IS NULL;
CREATE TABLE "shop_tag" ("tag" varchar(30) NOT NULL, "order_id" integer NOT NULL REFERENCES "shop_order" ("id"), "weight" real NOT NULL DEFAULT 1.0, PRIMARY KEY ("tag", "order_id")) WITHOUT ROWID;
CREATE VIEW "open_orders" AS SELECT * FROM "shop_order" WHERE "deleted_at" IS NULL;
CREATE TRIGGER "touch" AFTER UPDATE ON "shop_order" BEGIN SELECT 1; END;

INSERT INTO "django_migrations" ("app", "name", "applied") VALUES
  ('contenttypes', '0001_initial', '2024-03-10 07:00:00.123456'),
  ('auth', '0001_initial', '2024-03-10 07:00:01.5'),
  ('shop', '0001_initial', '2024-03-10 07:00:02');
INSERT INTO "auth_user" VALUES
  (1, 'pbkdf2_sha256$720000$salt$hash=', '2024-03-11 09:15:00.000001', 1, 'admin', 'Ådmin', 'admin@example.com', 1, '2024-03-10 07:00:00'),
  (2, 'pbkdf2_sha256$720000$salt2$hash=', NULL, 0, 'zoë', 'Zoë, "Z"', 'zoe@example.com', 0, '1999-12-31 23:59:59.999999'),
  (3, '!', NULL, 0, 'gone', '', 'gone@example.com', 1, '2024-03-12 00:00:00');
DELETE FROM "auth_user" WHERE "id" = 3;
INSERT INTO "shop_order" ("total", "placed_on", "ships_at", "note", "user_id", "deleted_at") VALUES
  ('19.99', '2024-03-10', '10:30:00', 'first', 1, NULL),
  ('0.10', '2024-02-29', '23:59:59.500000', 'leap day', 2, NULL),
  ('1200', '2023-12-31', NULL, 'first', 1, '2024-01-01 00:00:00');
INSERT INTO "shop_tag" VALUES ('gift', 1, 1.0), ('bulk', 3, 0.25), ('gift', 2, 2.5);
"#;

const DJANGO_MIGRATIONS: &[(&str, K)] = &[
    ("id", K::Int),
    ("app", K::Text),
    ("name", K::Text),
    ("applied", K::Ts(1000)),
];
const DJANGO_USER: &[(&str, K)] = &[
    ("id", K::Int),
    ("password", K::Text),
    ("last_login", K::Ts(1000)),
    ("is_superuser", K::Bool),
    ("username", K::Text),
    ("first_name", K::Text),
    ("email", K::Text),
    ("is_active", K::Bool),
    ("date_joined", K::Ts(1000)),
];
const DJANGO_ORDER: &[(&str, K)] = &[
    ("id", K::Int),
    ("total", K::Dec),
    ("placed_on", K::Date),
    ("ships_at", K::Time),
    ("note", K::Text),
    ("user_id", K::Int),
    ("deleted_at", K::Ts(1000)),
];
const DJANGO_TAG: &[(&str, K)] = &[("tag", K::Text), ("order_id", K::Int), ("weight", K::F64)];

fn assert_django_values(db: &Path, pg: &PgDb) {
    assert_eq!(
        assert_same(db, pg, "django_migrations", DJANGO_MIGRATIONS, &["id"]),
        3
    );
    assert_eq!(assert_same(db, pg, "auth_user", DJANGO_USER, &["id"]), 2);
    assert_eq!(assert_same(db, pg, "shop_order", DJANGO_ORDER, &["id"]), 3);
    assert_eq!(
        assert_same(db, pg, "shop_tag", DJANGO_TAG, &["tag", "order_id"]),
        3
    );
}

#[test]
fn django_database_with_create_schema() {
    let work = Work::new();
    let db = make_sqlite(work.path(), "db.sqlite3", DJANGO);
    let ran = work
        .run(
            "waybill-export",
            &["--source", "db.sqlite3", "--out", "out"],
        )
        .ok();
    assert!(
        ran.stderr.contains(
            "warning: triggers are not exported (their SQLite SQL is not translated): touch"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("views not exported (listed in the manifest): open_orders"),
        "{}",
        ran.stderr
    );
    let dump = PathBuf::from(ran.last_line());
    let m = manifest(&dump);
    assert_eq!(m["source"]["path"], db.to_str().unwrap());
    assert!(
        m["views"][0]["definition"]
            .as_str()
            .unwrap()
            .starts_with("CREATE VIEW \"open_orders\"")
    );
    let joined = column(&m, "auth_user", "date_joined");
    assert_eq!(joined["representation"], "iso_text");
    assert_eq!(joined["datetime_precision"], 6);
    assert_eq!(column(&m, "shop_order", "placed_on")["encoding"], "date");
    assert_eq!(
        column(&m, "shop_order", "ships_at")["encoding"],
        "time_text"
    );
    assert_eq!(table(&m, "auth_user")["auto_increment"], 4);
    assert_eq!(table(&m, "shop_tag")["engine"], "without_rowid");
    assert_eq!(
        table(&m, "shop_tag")["primary_key"],
        serde_json::json!(["tag", "order_id"])
    );
    let partial = table(&m, "shop_order")["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "shop_order_open_note")
        .unwrap()
        .clone();
    assert_eq!(partial["where"], "\"deleted_at\" IS NULL");
    assert!(
        table(&m, "auth_user")["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "auth_user_username_key" && i["unique"] == true)
    );

    let pg = PgDb::new("sq_django_cs");
    let ran = work.import(&pg, &dump, &["--create-schema"]).ok();
    assert!(
        ran.stderr.contains(
            "views are not created (their SQLite definitions are in the manifest): open_orders"
        ),
        "{}",
        ran.stderr
    );
    for (t, c, ty) in [
        ("auth_user", "id", "bigint"),
        ("auth_user", "username", "character varying(150)"),
        ("auth_user", "is_active", "boolean"),
        ("auth_user", "date_joined", "timestamp(6) without time zone"),
        ("shop_order", "total", "numeric"),
        ("shop_order", "placed_on", "date"),
        ("shop_order", "ships_at", "time without time zone"),
        ("shop_order", "user_id", "bigint"),
        ("shop_tag", "weight", "double precision"),
    ] {
        assert_eq!(col_type(&pg, t, c), ty, "{t}.{c}");
    }
    assert_eq!(
        pg.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'shop_order_open_note'")
            .as_deref(),
        Some(
            "CREATE UNIQUE INDEX shop_order_open_note ON public.shop_order USING btree (note) WHERE (deleted_at IS NULL)"
        )
    );
    assert_eq!(
        pg.text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'shop_tag_pkey'"
        )
        .as_deref(),
        Some("PRIMARY KEY (tag, order_id)")
    );
    assert_eq!(
        pg.text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'shop_order_user_id_fkey'"
        )
        .as_deref(),
        Some("FOREIGN KEY (user_id) REFERENCES auth_user(id)")
    );
    assert_django_values(&db, &pg);
    assert_eq!(next_value(&pg, "auth_user", "id"), 4);
    assert_eq!(next_value(&pg, "shop_order", "id"), 4);
}

/// What Django's migrations make on PostgreSQL (USE_TZ: timestamptz) for these models.
const DJANGO_POSTGRES: &str = r#"
CREATE TABLE "django_migrations" ("id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, "app" varchar(255) NOT NULL, "name" varchar(255) NOT NULL, "applied" timestamp with time zone NOT NULL);
CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, "password" varchar(128) NOT NULL, "last_login" timestamp with time zone NULL, "is_superuser" boolean NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "first_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_active" boolean NOT NULL, "date_joined" timestamp with time zone NOT NULL);
CREATE TABLE "shop_order" ("id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, "total" numeric(10, 2) NOT NULL, "placed_on" date NOT NULL, "ships_at" time NULL, "note" text NOT NULL, "user_id" integer NOT NULL, "deleted_at" timestamp with time zone NULL);
ALTER TABLE "shop_order" ADD CONSTRAINT "shop_order_user_id_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE "shop_tag" ("tag" varchar(30) NOT NULL, "order_id" bigint NOT NULL REFERENCES "shop_order" ("id") DEFERRABLE INITIALLY DEFERRED, "weight" real NOT NULL, PRIMARY KEY ("tag", "order_id"));
INSERT INTO "django_migrations" ("app", "name", "applied") VALUES ('contenttypes', '0001_initial', now());
"#;

#[test]
fn django_database_into_the_applications_schema() {
    let work = Work::new();
    let db = make_sqlite(work.path(), "db.sqlite3", DJANGO);
    let dump = work.export_url(&format!("sqlite://{}", db.display()), &["-q"]);
    let pg = PgDb::new("sq_django_app");
    pg.exec(DJANGO_POSTGRES);
    work.import(&pg, &dump, &[]).ok();
    // shop_tag.weight is real (float4) here: compare it as such.
    let tag_real: &[(&str, K)] = &[("tag", K::Text), ("order_id", K::Int)];
    assert_eq!(
        assert_same(&db, &pg, "shop_tag", tag_real, &["tag", "order_id"]),
        3
    );
    assert_eq!(
        pg.text("SELECT string_agg(weight::text, ',' ORDER BY tag, order_id) FROM shop_tag")
            .as_deref(),
        Some("0.25,1,2.5")
    );
    assert_eq!(
        assert_same(&db, &pg, "django_migrations", DJANGO_MIGRATIONS, &["id"]),
        3
    );
    assert_eq!(assert_same(&db, &pg, "auth_user", DJANGO_USER, &["id"]), 2);
    assert_eq!(
        assert_same(&db, &pg, "shop_order", DJANGO_ORDER, &["id"]),
        3
    );
    assert_eq!(next_value(&pg, "auth_user", "id"), 4);
    assert_eq!(next_value(&pg, "django_migrations", "id"), 4);
    assert_eq!(next_value(&pg, "shop_order", "id"), 4);
}

// ---------------------------------------------------------------------------------------
// Mixed storage classes

const MIXED: &str = r#"
CREATE TABLE inventory (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, qty INTEGER, price REAL,
    seen DATETIME, logged_s TIMESTAMP, data BLOB, note);
INSERT INTO inventory VALUES (1, 'a', 5, 1.5, '2024-03-10 07:00:00', 1710054000, x'01', 1);
INSERT INTO inventory VALUES (2, 'b', 'abc', 2, 1710054000250, 1710054001, x'02', 'two');
INSERT INTO inventory VALUES (3, 'c', 2.5, 'cheap', 'yesterday', NULL, 'text, not bytes', 3.5);
INSERT INTO inventory VALUES (4, 'd', NULL, NULL, NULL, 0, NULL, NULL);
INSERT INTO inventory VALUES (5, 'e', 7, 3, '2024-03-10T08:00:00Z', -1, x'05', 5);
INSERT INTO inventory VALUES (6, 'f', 'n/a', 4.25, 1710054000999, 86400, x'', 'six');
CREATE TABLE keyed (code TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
INSERT INTO keyed VALUES ('k1', 1), ('k2', 'two'), ('k3', 3);
"#;

const MIXED_MESSAGE: &str = "export failed: SQLite stores any value in any column, and 6 column(s) hold values that cannot all be exported as the column's type; nothing was written:
  table `inventory`, column `qty` (INTEGER): 1 null, 2 integer, 1 real, 2 text; 1 real (rowid 3) and 2 text (rowid 2, 6) cannot be exported as integer; --cast inventory.qty=text exports the column as text
  table `inventory`, column `price` (REAL): 1 null, 4 real, 1 text; 1 text (rowid 3) cannot be exported as real; --cast inventory.price=text exports the column as text
  table `inventory`, column `seen` (DATETIME): 1 null, 2 integer, 3 text; 1 text (rowid 3) cannot be exported as datetime; --cast inventory.seen=text exports the column as text
  table `inventory`, column `data` (BLOB): 1 null, 1 text, 4 blob; 1 text (rowid 3) cannot be exported as blob; --cast inventory.data=text exports the column as text
  table `inventory`, column `note` (no declared type): 1 null, 2 integer, 1 real, 2 text; a column without a declared type must hold one kind of value; --cast inventory.note=text exports the column as text
  table `keyed`, column `n` (INTEGER): 2 integer, 1 text; 1 text (primary key (code=\"k2\")) cannot be exported as integer; --cast keyed.n=text exports the column as text";

const MIXED_CASTS: &[&str] = &[
    "--cast",
    "inventory.qty=text",
    "--cast",
    "inventory.price=text",
    "--cast",
    "inventory.seen=text",
    "--cast",
    "inventory.data=blob",
    "--cast",
    "inventory.note=text",
    "--cast",
    "keyed.n=text",
];

const INVENTORY: &[(&str, K)] = &[
    ("id", K::Int),
    ("sku", K::Text),
    ("qty", K::Text),
    ("price", K::Text),
    ("seen", K::Text),
    ("logged_s", K::Ts(1000)),
    ("data", K::Bytes),
    ("note", K::Text),
];

#[test]
fn mixed_storage_classes_are_reported_then_cast() {
    let work = Work::new();
    let db = make_sqlite(work.path(), "mixed.sqlite", MIXED);
    let ran = work
        .run(
            "waybill-export",
            &["--source", db.to_str().unwrap(), "--out", "out"],
        )
        .failed();
    assert_eq!(
        ran.stderr.trim_end(),
        format!("waybill-export: error: {MIXED_MESSAGE}").replace("export failed: ", ""),
        "{}",
        ran.stderr
    );
    assert!(
        !work.path().join("out").exists(),
        "nothing may be written when columns are refused"
    );
    let audit = std::fs::read_to_string(work.audit_log()).unwrap();
    let failed: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["message"], MIXED_MESSAGE);
    assert_eq!(
        failed["source"],
        format!("sqlite:{}", db.display()).as_str()
    );

    let ran = work
        .run(
            "waybill-export",
            &[
                "--source",
                db.to_str().unwrap(),
                "--out",
                "out",
                "--cast",
                "inventory.qty=txt",
            ],
        )
        .failed();
    assert!(
        ran.stderr.contains(
            "--cast inventory.qty=txt: unknown kind `txt` (expected one of text, blob, integer, real, decimal, boolean, datetime, unix_seconds, unix_ms, date, time, json)"
        ),
        "{}",
        ran.stderr
    );

    let dump = work.export_url(db.to_str().unwrap(), MIXED_CASTS);
    let m = manifest(&dump);
    assert_eq!(
        m["options"]["casts"],
        serde_json::json!([
            "inventory.qty=text",
            "inventory.price=text",
            "inventory.seen=text",
            "inventory.data=blob",
            "inventory.note=text",
            "keyed.n=text"
        ])
    );
    assert_eq!(column(&m, "inventory", "qty")["encoding"], "text");
    assert_eq!(column(&m, "inventory", "data")["encoding"], "bytea_hex");
    let logged = column(&m, "inventory", "logged_s");
    assert_eq!(logged["representation"], "unix_seconds");
    assert_eq!(logged["datetime_precision"], 0);
    let csv = std::fs::read_to_string(dump.join("inventory.csv")).unwrap();
    assert!(
        csv.contains("2,b,abc,2.0,1710054000250,2024-03-10 07:00:01,\\x02,two\n"),
        "{csv}"
    );
    assert!(
        csv.contains("3,c,2.5,cheap,yesterday,\\N,\\x74657874"),
        "{csv}"
    );

    let pg = PgDb::new("sq_mixed_cs");
    work.import(&pg, &dump, &["--create-schema"]).ok();
    assert_eq!(col_type(&pg, "inventory", "qty"), "text");
    assert_eq!(
        col_type(&pg, "inventory", "logged_s"),
        "timestamp(0) without time zone"
    );
    assert_eq!(assert_same(&db, &pg, "inventory", INVENTORY, &["id"]), 6);
    assert_eq!(
        assert_same(
            &db,
            &pg,
            "keyed",
            &[("code", K::Text), ("n", K::Text)],
            &["code"]
        ),
        3
    );
    assert_eq!(next_value(&pg, "inventory", "id"), 7);

    let app = PgDb::new("sq_mixed_app");
    app.exec(
        "CREATE TABLE inventory (id serial PRIMARY KEY, sku text NOT NULL, qty text, price text,
            seen text, logged_s timestamptz, data bytea, note text);
         CREATE TABLE keyed (code text PRIMARY KEY, n text);",
    );
    work.import(&app, &dump, &[]).ok();
    assert_eq!(assert_same(&db, &app, "inventory", INVENTORY, &["id"]), 6);
    assert_eq!(next_value(&app, "inventory", "id"), 7);
}

// ---------------------------------------------------------------------------------------
// A live database

#[test]
fn live_wal_database_exports_one_consistent_snapshot() {
    let work = Work::new();
    let path = work.path().join("live.db");
    {
        let conn = Connection::open(&path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.execute_batch(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, pad TEXT NOT NULL);
             CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL, pad TEXT NOT NULL);
             CREATE TABLE counter (n INTEGER NOT NULL);
             WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000)
               INSERT INTO a SELECT i, printf('%0100d', i) FROM s;
             INSERT INTO b SELECT id, id, pad FROM a;
             INSERT INTO counter VALUES (100000);",
        )
        .unwrap();
    }
    // Every transaction adds one row to a, one to b, and counts it.
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, commits, path) = (stop.clone(), commits.clone(), path.clone());
        std::thread::spawn(move || {
            let conn = Connection::open(&path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            let mut id = 100000;
            while !stop.load(Ordering::SeqCst) {
                id += 1;
                conn.execute_batch(&format!(
                    "BEGIN IMMEDIATE;
                     INSERT INTO a VALUES ({id}, 'live');
                     INSERT INTO b VALUES ({id}, {id}, 'live');
                     UPDATE counter SET n = n + 1;
                     COMMIT;"
                ))
                .unwrap();
                commits.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    wait_for("the writer to commit", || {
        (commits.load(Ordering::SeqCst) >= 20).then_some(())
    });
    let before = commits.load(Ordering::SeqCst);
    let dump = work.export_url(path.to_str().unwrap(), &["-q"]);
    let after = commits.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();

    let m = manifest(&dump);
    assert_eq!(m["source"]["journal_mode"], "wal");
    assert_eq!(m["snapshot"]["consistent"], true);
    let rows = |t: &str| table(&m, t)["rows"].as_u64().unwrap();
    let counted: u64 = std::fs::read_to_string(dump.join("counter.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        rows("a"),
        counted,
        "a and the counter are from one snapshot"
    );
    assert_eq!(
        rows("b"),
        counted,
        "b and the counter are from one snapshot"
    );
    let ids = |t: &str| -> Vec<String> {
        std::fs::read_to_string(dump.join(format!("{t}.csv")))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("a"), ids("b"));
    // The snapshot saw the writes before the export and none of those during it.
    assert!(counted >= 100000 + before, "{counted} {before}");
    assert!(
        after > counted - 100000,
        "the writer committed during the export ({after} commits, {} in the dump)",
        counted - 100000
    );
    // The storage-class pass ran in the same snapshot as the data.
    assert_eq!(
        column(&m, "a", "pad")["storage_classes"]["text"].as_u64(),
        Some(rows("a"))
    );
}

// ---------------------------------------------------------------------------------------
// Chinook

const CHINOOK_COUNTS: &[(&str, usize)] = &[
    ("Album", 347),
    ("Artist", 275),
    ("Customer", 59),
    ("Employee", 8),
    ("Genre", 25),
    ("Invoice", 412),
    ("InvoiceLine", 2240),
    ("MediaType", 5),
    ("Playlist", 18),
    ("PlaylistTrack", 8715),
    ("Track", 3503),
];

/// How to compare a column, from its encoding in the manifest.
fn kind_of(c: &serde_json::Value) -> K {
    match c["encoding"].as_str().unwrap() {
        "integer" => K::Int,
        "boolean_int" => K::Bool,
        "decimal" => K::Dec,
        "double" => K::F64,
        "datetime" => match c["representation"].as_str() {
            Some("unix_ms" | "iso_text+unix_ms") => K::Ts(1),
            _ => K::Ts(1000),
        },
        "date" => K::Date,
        "time_text" => K::Time,
        "json_text" => K::Json,
        "bytea_hex" => K::Bytes,
        _ => K::Text,
    }
}

#[test]
fn chinook_exports_and_loads_every_value() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets/chinook/Chinook_Sqlite.sqlite");
    assert!(shared.is_file(), "Chinook is missing: {}", shared.display());
    let work = Work::new();
    let db = work.path().join("Chinook_Sqlite.sqlite");
    std::fs::copy(&shared, &db).unwrap();
    let before = std::fs::read(&db).unwrap();
    let dump = work.export_url(db.to_str().unwrap(), &["-q"]);
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the export changed the file"
    );
    let m = manifest(&dump);
    let invoice_date = column(&m, "Invoice", "InvoiceDate");
    assert_eq!(invoice_date["representation"], "iso_text");
    let price = column(&m, "Track", "UnitPrice");
    assert_eq!(price["encoding"], "decimal");
    assert_eq!(price["storage_classes"]["real"], 3503);

    let pg = PgDb::new("sq_chinook");
    work.import(&pg, &dump, &["--create-schema"]).ok();
    assert_eq!(col_type(&pg, "Track", "UnitPrice"), "numeric(10,2)");
    assert_eq!(col_type(&pg, "Track", "Name"), "character varying(200)");
    assert_eq!(
        col_type(&pg, "Invoice", "InvoiceDate"),
        "timestamp(6) without time zone"
    );
    for (name, rows) in CHINOOK_COUNTS {
        let t = table(&m, name);
        let cols: Vec<(&str, K)> = t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap(), kind_of(c)))
            .collect();
        let order: Vec<&str> = t["primary_key"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(assert_same(&db, &pg, name, &cols, &order), *rows, "{name}");
        assert_eq!(pg.count(&q(name)), *rows as i64, "{name}");
    }
    let fks: i64 = pg
        .text("SELECT count(*)::text FROM pg_constraint WHERE contype = 'f'")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(fks, 11);
    assert_eq!(next_value(&pg, "Track", "TrackId"), 3504);
}

// ---------------------------------------------------------------------------------------
// Awkward schemas

const ODD: &str = r#"
CREATE TABLE "we""ird table" ("rowid" TEXT, "x""y" INTEGER, "total" REAL,
    "twice" REAL GENERATED ALWAYS AS ("total" * 2) VIRTUAL, "Ünï" TEXT);
INSERT INTO "we""ird table" ("rowid", "x""y", "total", "Ünï") VALUES
    ('r1', 1, 1.5, 'ä'), ('r2', NULL, 2.25, NULL), ('a where b', 3, -0.5, '');
CREATE INDEX "odd where" ON "we""ird table" ("x""y") WHERE "rowid" <> 'a where b';
CREATE INDEX "by expression" ON "we""ird table" (lower("Ünï"));
CREATE VIRTUAL TABLE docs USING fts5(body);
INSERT INTO docs VALUES ('hello');
"#;

#[test]
fn awkward_names_virtual_tables_and_generated_columns() {
    let work = Work::new();
    let db = make_sqlite(work.path(), "odd.sqlite", ODD);
    let ran = work
        .run(
            "waybill-export",
            &["--source", "odd.sqlite", "--out", "out"],
        )
        .ok();
    for w in [
        "warning: `docs` is a virtual table: skipped",
        "warning: `docs_data` is the shadow table of a virtual table: skipped",
    ] {
        assert!(ran.stderr.contains(w), "{w}\n{}", ran.stderr);
    }
    let dump = PathBuf::from(ran.last_line());
    let m = manifest(&dump);
    assert_eq!(m["tables"].as_array().unwrap().len(), 1);
    let t = table(&m, "we\"ird table");
    assert_eq!(t["files"][0]["path"], "we%22ird%20table.csv");
    assert_eq!(
        column(&m, "we\"ird table", "twice")["generated"]["stored"],
        false
    );
    // The column called rowid hides SQLite's rowid; the rows still come in rowid order.
    let csv = std::fs::read_to_string(dump.join("we%22ird%20table.csv")).unwrap();
    assert_eq!(
        csv,
        "rowid,\"x\"\"y\",total,twice,Ünï\nr1,1,1.5,3.0,ä\nr2,\\N,2.25,4.5,\\N\na where b,3,-0.5,-1.0,\"\"\n"
    );

    let pg = PgDb::new("sq_odd");
    let ran = work.import(&pg, &dump, &["--create-schema"]).ok();
    for w in [
        "we\"ird table: index by expression: has an expression part: skipped",
        "we\"ird table.twice: generated column (SQLite expression not translated)",
    ] {
        assert!(ran.stderr.contains(w), "{w}\n{}", ran.stderr);
    }
    assert_eq!(
        pg.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'odd where'")
            .as_deref(),
        Some(
            "CREATE INDEX \"odd where\" ON public.\"we\"\"ird table\" USING btree (\"x\"\"y\") WHERE (rowid <> 'a where b'::text)"
        )
    );
    let cols: &[(&str, K)] = &[
        ("rowid", K::Text),
        ("x\"y", K::Int),
        ("total", K::F64),
        ("twice", K::F64),
        ("Ünï", K::Text),
    ];
    assert_eq!(assert_same(&db, &pg, "we\"ird table", cols, &["rowid"]), 3);
}

// ---------------------------------------------------------------------------------------
// Addresses

#[test]
fn sqlite_addresses_and_their_errors() {
    let work = Work::new();
    let db = make_sqlite(
        work.path(),
        "app.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'x');",
    );
    let abs = db.to_str().unwrap();
    // The same file, named four ways.
    for source in [
        format!("sqlite://{abs}"),
        format!("sqlite:{abs}"),
        "app.db".to_string(),
        abs.to_string(),
    ] {
        let dump = work.export_url(&source, &["-q"]);
        let m = manifest(&dump);
        assert_eq!(m["source"]["path"], abs, "{source}");
        assert_eq!(table(&m, "t")["rows"], 1);
    }
    let out = work
        .command("waybill-export")
        .env("WAYBILL_SOURCE", "sqlite:app.db")
        .args(["--out", "out", "-q"])
        .output()
        .unwrap();
    let ran = Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
    .ok();
    assert_eq!(manifest(Path::new(&ran.last_line()))["source"]["path"], abs);
    let audit = std::fs::read_to_string(work.audit_log()).unwrap();
    assert!(
        audit.contains(&format!("\"source\":\"sqlite:{abs}\"")),
        "{audit}"
    );

    let missing = work.path().join("missing.db");
    let ran = work
        .run(
            "waybill-export",
            &["--source", missing.to_str().unwrap(), "--out", "out"],
        )
        .failed();
    assert!(
        ran.stderr.contains(&format!(
            "SQLite database {} does not exist",
            missing.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(!missing.exists(), "the export must never create the file");

    std::fs::write(
        work.path().join("notes.sqlite"),
        "not a database, just text\n".repeat(200),
    )
    .unwrap();
    let ran = work
        .run(
            "waybill-export",
            &["--source", "notes.sqlite", "--out", "out"],
        )
        .failed();
    assert!(
        ran.stderr.contains("file is not a database"),
        "{}",
        ran.stderr
    );
    let ran = work
        .run("waybill-export", &["--source", "sqlite:", "--out", "out"])
        .failed();
    assert!(
        ran.stderr
            .contains("the sqlite: URL names no file (expected sqlite:///path/to/app.db)"),
        "{}",
        ran.stderr
    );
    let ran = work
        .run(
            "waybill-export",
            &[
                "--source",
                "app.db",
                "--out",
                "out",
                "--cast",
                "t.nope=text",
            ],
        )
        .failed();
    assert!(
        ran.stderr
            .contains("--cast t.nope=text: table `t` has no column `nope`"),
        "{}",
        ran.stderr
    );
}
