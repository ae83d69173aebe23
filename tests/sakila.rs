//! The Sakila sample database (../shared/datasets/sakila), a real schema nobody here
//! wrote: exported with the right row counts, imported into a hand-written PostgreSQL
//! schema with every row, value and sequence in place.

mod common;

use std::process::Command;

use common::*;
use mysql::prelude::Queryable;

fn sakila_pg() -> PgDb {
    let pg = PgDb::new("sakila");
    pg.exec(include_str!("fixtures/sakila_postgres.sql"));
    pg
}

#[test]
fn sakila_exports_all_16_tables() {
    let url = ensure_sakila();
    let work = Work::new();
    let dump = work.export_url(&url_text(&url), &[]);
    let m = manifest(&dump);
    let tables = m["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 16);
    let mut c = mysql_conn(&url);
    for (name, rows) in SAKILA_COUNTS {
        assert_eq!(
            table(&m, name)["rows"].as_i64(),
            Some(*rows),
            "manifest rows of {name}"
        );
        let live: i64 = c
            .query_first(format!("SELECT COUNT(*) FROM sakila.`{name}`"))
            .unwrap()
            .unwrap();
        assert_eq!(live, *rows, "SELECT COUNT(*) of {name}");
    }
    assert_eq!(m["views"].as_array().unwrap().len(), 7);
    assert_eq!(m["totals"]["rows"], 47273);
    let film = table(&m, "film");
    assert_eq!(film["auto_increment"], 1001);
    assert!(
        film["foreign_keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["referenced_table"] == "language")
    );
    let check = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&dump)
        .status()
        .unwrap();
    assert!(check.success());
}

#[test]
fn sakila_round_trip_into_a_handwritten_schema() {
    let url = ensure_sakila();
    let pg = sakila_pg();
    let work = Work::new();
    let dump = work.export_url(&url_text(&url), &[]);
    work.import(&pg, &dump, &[]).ok();
    for (name, rows) in SAKILA_COUNTS {
        assert_eq!(pg.count(name), *rows, "rows of {name}");
    }
    assert_sakila_values(&pg, &url);

    // Every sequence is past the loaded ids (serial and identity alike).
    assert_sequences_past_max(
        &pg,
        &[
            ("actor", "actor_id"),
            ("address", "address_id"),
            ("category", "category_id"),
            ("city", "city_id"),
            ("country", "country_id"),
            ("customer", "customer_id"),
            ("film", "film_id"),
            ("inventory", "inventory_id"),
            ("language", "language_id"),
            ("payment", "payment_id"),
            ("rental", "rental_id"),
            ("staff", "staff_id"),
            ("store", "store_id"),
        ],
    );
    assert_eq!(
        pg.text("SELECT last_value::text FROM rental_rental_id_seq")
            .as_deref(),
        Some("16050")
    );
}

/// `--compress zstd:LEVEL`: every data file is stored as `<name>.csv.zst`, its manifest
/// entry says so and its sha256 and bytes are the stored file's (`sha256sum -c` checks
/// the dump as it is); decompressed, each file is byte for byte the plain export's. The
/// compressed dump verifies, and loads (binary and text COPY) with every value equal.
#[test]
fn sakila_compressed_round_trip() {
    let url = ensure_sakila();
    let work = Work::new();
    let src = url_text(&url);
    let plain = work.export_url(&src, &["--chunk-rows", "5000"]);
    let packed = work.export_url(&src, &["--chunk-rows", "5000", "--compress", "zstd:5"]);
    let (mp, mz) = (manifest(&plain), manifest(&packed));
    assert_eq!(mz["options"]["compress"], "zstd:5");
    assert!(mp["options"].get("compress").is_none());
    let (mut plain_bytes, mut packed_bytes) = (0u64, 0u64);
    let mut files = 0;
    for (tp, tz) in mp["tables"]
        .as_array()
        .unwrap()
        .iter()
        .zip(mz["tables"].as_array().unwrap())
    {
        assert_eq!(tp["rows"], tz["rows"]);
        let (fp, fz) = (
            tp["files"].as_array().unwrap(),
            tz["files"].as_array().unwrap(),
        );
        assert_eq!(fp.len(), fz.len(), "{}", tz["name"]);
        for (p, z) in fp.iter().zip(fz) {
            files += 1;
            let (pp, zp) = (p["path"].as_str().unwrap(), z["path"].as_str().unwrap());
            assert_eq!(zp, format!("{pp}.zst"));
            assert_eq!(z["compression"], "zstd");
            assert!(p.get("compression").is_none());
            assert_eq!(p["rows"], z["rows"]);
            let stored = std::fs::read(packed.join(zp)).unwrap();
            assert_eq!(z["bytes"].as_u64(), Some(stored.len() as u64), "{zp}");
            use sha2::Digest;
            assert_eq!(
                z["sha256"].as_str().unwrap(),
                hex::encode(sha2::Sha256::digest(&stored)),
                "{zp}"
            );
            let csv = std::fs::read(plain.join(pp)).unwrap();
            assert!(
                zstd::decode_all(&stored[..]).unwrap() == csv,
                "{zp} decompressed differs from {pp}"
            );
            plain_bytes += csv.len() as u64;
            packed_bytes += stored.len() as u64;
        }
    }
    assert!(files > 16, "payment and rental are chunked: {files} files");
    assert_eq!(mz["totals"]["bytes"].as_u64(), Some(packed_bytes));
    assert!(
        packed_bytes * 10 < plain_bytes * 4,
        "compressed {packed_bytes} bytes against {plain_bytes}"
    );
    let check = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&packed)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let d = packed.to_str().unwrap();
    let ran = work.run("waybill-verify", &[d]).ok();
    assert!(
        ran.stderr
            .contains("16 table(s), 47273 rows, every value equal"),
        "{}",
        ran.stderr
    );

    for format in ["binary", "text"] {
        let pg = sakila_pg();
        let ran = work
            .import(&pg, &packed, &["--verify", "--copy-format", format])
            .ok();
        assert!(
            ran.stderr
                .contains("verified: 47,273 rows read back before COMMIT, every value equal"),
            "{}",
            ran.stderr
        );
        for (name, rows) in SAKILA_COUNTS {
            assert_eq!(pg.count(name), *rows, "{format}: rows of {name}");
        }
        assert_sakila_values(&pg, &url);
        let t = pg.url_text();
        let ran = work.run("waybill-verify", &[d, "--target", &t]).ok();
        assert!(
            ran.stderr
                .contains("16 table(s), 47273 rows, every value equal"),
            "{}",
            ran.stderr
        );
    }
}
