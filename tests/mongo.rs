//! MongoDB sources end to end, on files in the exact formats `mongodump` and
//! `mongoexport` write. No MongoDB server can run here, so the fixtures in
//! `tests/fixtures/mongo/` are made from the specifications (BSON, Extended JSON v2
//! canonical and relaxed) by `fixture_documents` and `write_fixtures` below, with the
//! `bson` crate: `cargo test --test mongo -- --ignored regenerate_fixtures` writes them,
//! and `fixtures_are_what_the_generator_writes` proves the committed files are exactly
//! that (the gzip ones compared uncompressed). The same documents are in all four
//! forms (mongodump, mongodump --gzip, mongoexport canonical one per line, mongoexport
//! relaxed --jsonArray), so every form must load the same values. The 16 MB document
//! is generated at test time.
//!
//! Every value is asserted as PostgreSQL stores it, in both shapes: `_id` + `doc jsonb`
//! (compared as jsonb text, which keeps `1.0` apart from `1`), and `--flatten` (typed
//! columns, compared as text), with `--create-schema` and into a schema the test writes.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Decimal128, Document, Regex, Timestamp, doc, oid::ObjectId};
use common::*;

fn oid(hex: &str) -> ObjectId {
    ObjectId::parse_str(hex).unwrap()
}

fn dec(s: &str) -> Bson {
    Bson::Decimal128(s.parse::<Decimal128>().unwrap())
}

fn bin(subtype: BinarySubtype, bytes: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype,
        bytes: bytes.to_vec(),
    })
}

const CUSTOMER_1: &str = "65f0c0000000000000000001";
const CUSTOMER_2: &str = "65f0c0000000000000000002";
const CUSTOMER_3: &str = "65f0c0000000000000000003";
const NOBODY: &str = "65f0c00000000000000000ff";

/// The collections and their documents, in file order.
fn fixture_documents() -> Vec<(&'static str, Vec<Document>)> {
    let kinds = vec![
        doc! {
            "_id": oid("65f0a1b2c3d4e5f601234567"),
            "name": "Ada \"quotes\", commas\nnewline\ttab \\ backslash é 🎉",
            "born": DateTime::from_millis(-4861728000000),
            "when": DateTime::from_millis(1710054000250),
            "balance": dec("1234567890.123456789012345678901234"),
            "i32": 2147483647_i32,
            "i64": 9223372036854775807_i64,
            "dbl": 0.1,
            "negzero": -0.0,
            "nan": f64::NAN,
            "inf": f64::INFINITY,
            "bin": bin(BinarySubtype::Generic, &[0x00, 0x01, 0xfe, 0xff]),
            "uid": bin(BinarySubtype::Uuid, &hex::decode("0123456789abcdef0123456789abcdef").unwrap()),
            "re": Regex { pattern: "^a.*z$".try_into().unwrap(), options: "im".try_into().unwrap() },
            "ts": Timestamp { time: 1700000000, increment: 7 },
            "lo": Bson::MinKey,
            "hi": Bson::MaxKey,
            "items": [
                { "sku": "a", "qty": 1 },
                { "sku": "b", "qty": 2, "dims": [[1, 2], [3]] },
            ],
            "a.b": "dotted",
            "$price": 9.5,
            "nested": { "x.y": { "$z": true }, "arr": [] },
            "flag": true,
            "none": Bson::Null,
        },
        doc! {
            "_id": oid("65f0a1b2c3d4e5f601234568"),
            "name": "Bob",
            "born": DateTime::from_millis(-1),
            "when": DateTime::from_millis(0),
            "balance": dec("-0.000001"),
            "i32": -2147483648_i32,
            "i64": -9223372036854775808_i64,
            "dbl": 1e300,
            "inf": f64::NEG_INFINITY,
            "bin": bin(BinarySubtype::Generic, &[]),
            "flag": false,
        },
    ];
    let customers = vec![
        doc! { "_id": oid(CUSTOMER_1), "name": "Ann", "email": "ann@example.com" },
        doc! { "_id": oid(CUSTOMER_2), "name": "Ben", "email": "ben@example.com" },
        doc! { "_id": oid(CUSTOMER_3), "name": "Cy", "email": "cy@example.com" },
    ];
    let order = |n: u8| oid(&format!("65f0d00000000000000000{n:02x}"));
    let orders = vec![
        doc! { "_id": order(1), "customer_id": oid(CUSTOMER_1), "price": 9.99, "qty": 1 },
        doc! { "_id": order(2), "customer_id": oid(CUSTOMER_2), "price": "free", "qty": 2 },
        doc! { "_id": order(3), "customer_id": oid(NOBODY), "price": 4.5 },
        doc! { "_id": order(4), "price": 12, "qty": 3 },
        doc! { "_id": order(5), "customer_id": Bson::Null, "price": 1.25, "qty": 1 },
        doc! { "_id": order(6), "customer_id": oid(NOBODY), "qty": 5 },
    ];
    let uuid = |s: &str| bin(BinarySubtype::Uuid, &hex::decode(s).unwrap());
    let sessions = vec![
        doc! { "_id": uuid("00112233445566778899aabbccddeeff"), "user": oid(CUSTOMER_1) },
        doc! { "_id": uuid("ffeeddccbbaa99887766554433221100"), "user": oid(CUSTOMER_3) },
    ];
    let odd_ids = vec![
        doc! { "_id": 1, "v": "int" },
        doc! { "_id": "x", "v": "string" },
        doc! { "_id": oid("65f0e0000000000000000001"), "v": "objectId" },
        doc! { "_id": { "a": 1 }, "v": "document" },
    ];
    vec![
        ("customers", customers),
        ("kinds", kinds),
        ("odd_ids", odd_ids),
        ("orders", orders),
        ("sessions", sessions),
    ]
}

/// `<collection>.metadata.json` as mongodump writes it (canonical Extended JSON).
fn metadata(collection: &str, n: usize) -> String {
    let mut indexes = vec![doc! { "v": 2, "key": { "_id": 1 }, "name": "_id_" }];
    if collection == "customers" {
        indexes.push(doc! { "v": 2, "key": { "email": 1 }, "name": "email_1", "unique": true });
    }
    if collection == "orders" {
        indexes.push(doc! { "v": 2, "key": { "customer_id": 1, "price": -1 }, "name": "customer_id_1_price_-1" });
        indexes.push(doc! { "v": 2, "key": { "items.sku": 1 }, "name": "items.sku_1" });
    }
    let m = doc! {
        "options": {},
        "indexes": indexes,
        "uuid": format!("{:032x}", 0xa1b2c3d4_u128 + n as u128),
        "collectionName": collection,
        "type": "collection",
    };
    serde_json::to_string(&Bson::Document(m).into_canonical_extjson()).unwrap()
}

const VIEW_METADATA: &str = r#"{"options":{"viewOn":"orders","pipeline":[{"$match":{"qty":{"$gt":{"$numberInt":"1"}}}}]},"indexes":[],"uuid":"","collectionName":"big_orders","type":"view"}"#;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(bytes), &mut out).unwrap();
    out
}

/// Writes the four forms of the fixture under `root`.
fn write_fixtures(root: &Path) {
    let dump = root.join("mongodump/shop");
    let gz = root.join("mongodump-gzip/shop");
    let canonical = root.join("mongoexport-canonical");
    let relaxed = root.join("mongoexport-relaxed");
    for d in [&dump, &gz, &canonical, &relaxed] {
        std::fs::create_dir_all(d).unwrap();
    }
    for (n, (name, docs)) in fixture_documents().into_iter().enumerate() {
        let mut bson_bytes = Vec::new();
        let mut lines = String::new();
        let mut array = Vec::new();
        for d in &docs {
            d.to_writer(&mut bson_bytes).unwrap();
            let b = Bson::Document(d.clone());
            lines.push_str(&serde_json::to_string(&b.clone().into_canonical_extjson()).unwrap());
            lines.push('\n');
            array.push(serde_json::to_string(&b.into_relaxed_extjson()).unwrap());
        }
        let meta = metadata(name, n);
        std::fs::write(dump.join(format!("{name}.bson")), &bson_bytes).unwrap();
        std::fs::write(dump.join(format!("{name}.metadata.json")), &meta).unwrap();
        std::fs::write(gz.join(format!("{name}.bson.gz")), gzip(&bson_bytes)).unwrap();
        std::fs::write(
            gz.join(format!("{name}.metadata.json.gz")),
            gzip(meta.as_bytes()),
        )
        .unwrap();
        std::fs::write(canonical.join(format!("{name}.json")), lines).unwrap();
        std::fs::write(
            relaxed.join(format!("{name}.json")),
            format!("[{}]", array.join(",\n")),
        )
        .unwrap();
    }
    std::fs::write(dump.join("big_orders.metadata.json"), VIEW_METADATA).unwrap();
    std::fs::write(
        gz.join("big_orders.metadata.json.gz"),
        gzip(VIEW_METADATA.as_bytes()),
    )
    .unwrap();
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mongo")
}

#[test]
#[ignore = "writes tests/fixtures/mongo; run it when fixture_documents changes"]
fn regenerate_fixtures() {
    let root = fixtures();
    let _ = std::fs::remove_dir_all(&root);
    write_fixtures(&root);
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn fixtures_are_what_the_generator_writes() {
    let fresh = tempfile::tempdir().unwrap();
    write_fixtures(fresh.path());
    let committed = fixtures();
    let names = files_under(fresh.path());
    assert_eq!(files_under(&committed), names);
    for n in names {
        let (a, b) = (
            std::fs::read(fresh.path().join(&n)).unwrap(),
            std::fs::read(committed.join(&n)).unwrap(),
        );
        if n.extension().is_some_and(|x| x == "gz") {
            assert_eq!(gunzip(&a), gunzip(&b), "{}", n.display());
        } else {
            assert_eq!(a, b, "{} differs from what the generator writes", n.display());
        }
    }
}
