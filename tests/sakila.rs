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
