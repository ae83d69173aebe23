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
            assert_eq!(
                a,
                b,
                "{} differs from what the generator writes",
                n.display()
            );
        }
    }
}

/// Exports `source` (a `mongodump:`/`mongoexport:` URL) with `extra` flags.
fn export(work: &Work, source: &str, extra: &[&str]) -> PathBuf {
    work.export_url(source, extra)
}

fn source(form: &str) -> String {
    let dir = match form {
        "mongodump" | "mongodump-gzip" => fixtures().join(form).join("shop"),
        _ => fixtures().join(form),
    };
    let scheme = if form.starts_with("mongodump") {
        "mongodump"
    } else {
        "mongoexport"
    };
    format!("{scheme}://{}", dir.display())
}

const FORMS: [&str; 4] = [
    "mongodump",
    "mongodump-gzip",
    "mongoexport-canonical",
    "mongoexport-relaxed",
];

/// The `doc` of each `kinds` document, as relaxed Extended JSON with waybill's choices
/// for what jsonb would lose (-0.0, NaN, Infinity, integral doubles with an exponent).
const KINDS_DOCS: [(&str, &str); 2] = [
    (
        "65f0a1b2c3d4e5f601234567",
        r#"{"_id":{"$oid":"65f0a1b2c3d4e5f601234567"},"name":"Ada \"quotes\", commas\nnewline\ttab \\ backslash é 🎉","born":{"$date":{"$numberLong":"-4861728000000"}},"when":{"$date":"2024-03-10T07:00:00.250Z"},"balance":{"$numberDecimal":"1234567890.123456789012345678901234"},"i32":2147483647,"i64":9223372036854775807,"dbl":0.1,"negzero":{"$numberDouble":"-0.0"},"nan":{"$numberDouble":"NaN"},"inf":{"$numberDouble":"Infinity"},"bin":{"$binary":{"base64":"AAH+/w==","subType":"00"}},"uid":{"$binary":{"base64":"ASNFZ4mrze8BI0VniavN7w==","subType":"04"}},"re":{"$regularExpression":{"pattern":"^a.*z$","options":"im"}},"ts":{"$timestamp":{"t":1700000000,"i":7}},"lo":{"$minKey":1},"hi":{"$maxKey":1},"items":[{"sku":"a","qty":1},{"sku":"b","qty":2,"dims":[[1,2],[3]]}],"a.b":"dotted","$price":9.5,"nested":{"x.y":{"$z":true},"arr":[]},"flag":true,"none":null}"#,
    ),
    (
        "65f0a1b2c3d4e5f601234568",
        r#"{"_id":{"$oid":"65f0a1b2c3d4e5f601234568"},"name":"Bob","born":{"$date":{"$numberLong":"-1"}},"when":{"$date":"1970-01-01T00:00:00.000Z"},"balance":{"$numberDecimal":"-0.000001"},"i32":-2147483648,"i64":-9223372036854775808,"dbl":{"$numberDouble":"1e300"},"inf":{"$numberDouble":"-Infinity"},"bin":{"$binary":{"base64":"","subType":"00"}},"flag":false}"#,
    ),
];

/// Rows of a query, every column as text (NULL as `None`).
fn rows(pg: &PgDb, sql: &str) -> Vec<Vec<Option<String>>> {
    pg.client()
        .query(sql, &[])
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .iter()
        .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
        .collect()
}

fn texts(v: &[&str]) -> Vec<Option<String>> {
    v.iter()
        .map(|s| (*s != "NULL").then(|| s.to_string()))
        .collect()
}

/// The default shape: every form of the fixture loads the same `_id`s and documents.
fn assert_doc_shape(pg: &PgDb) {
    for (id, json) in KINDS_DOCS {
        let mut c = pg.client();
        let row = c
            .query_one(
                "SELECT doc::text, $2::text::jsonb::text, doc = $2::text::jsonb FROM kinds WHERE _id = $1",
                &[&id, &json],
            )
            .unwrap();
        let (stored, expected, equal): (String, String, bool) =
            (row.get(0), row.get(1), row.get(2));
        assert_eq!(stored, expected, "kinds {id}");
        assert!(equal);
    }
    assert_eq!(
        rows(
            pg,
            "SELECT doc->>'name', (doc->'i64')::text, doc#>>'{items,1,dims,0,1}', \
             doc->'nested'->'x.y'->>'$z', doc->>'$price' FROM kinds ORDER BY _id LIMIT 1"
        ),
        [texts(&[
            "Ada \"quotes\", commas\nnewline\ttab \\ backslash é 🎉",
            "9223372036854775807",
            "2",
            "true",
            "9.5"
        ])]
    );
    // _id: ObjectId as 24 hex, UUID as uuid, anything else as its Extended JSON.
    assert_eq!(
        rows(
            pg,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = \
             'sessions'::regclass AND attname = '_id'"
        ),
        [texts(&["uuid"])]
    );
    assert_eq!(
        rows(
            pg,
            "SELECT _id::text, doc->'user'->>'$oid', (doc->'_id')::text FROM sessions ORDER BY _id"
        ),
        [
            texts(&[
                "00112233-4455-6677-8899-aabbccddeeff",
                CUSTOMER_1,
                r#"{"$binary": {"base64": "ABEiM0RVZneImaq7zN3u/w==", "subType": "04"}}"#
            ]),
            texts(&[
                "ffeeddcc-bbaa-9988-7766-554433221100",
                CUSTOMER_3,
                r#"{"$binary": {"base64": "/+7dzLuqmYh3ZlVEMyIRAA==", "subType": "04"}}"#
            ])
        ]
    );
    assert_eq!(
        rows(
            pg,
            "SELECT _id, doc->>'v', (doc->'_id')::text FROM odd_ids ORDER BY doc->>'v'"
        ),
        [
            texts(&["{\"a\":1}", "document", "{\"a\": 1}"]),
            texts(&["1", "int", "1"]),
            texts(&[
                "{\"$oid\":\"65f0e0000000000000000001\"}",
                "objectId",
                "{\"$oid\": \"65f0e0000000000000000001\"}"
            ]),
            texts(&["\"x\"", "string", "\"x\""]),
        ]
    );
    assert_eq!(
        rows(pg, "SELECT count(*)::text FROM orders"),
        [texts(&["6"])]
    );
}

#[test]
fn every_form_loads_every_bson_type_as_jsonb() {
    for form in FORMS {
        let work = Work::new();
        let dump = export(&work, &source(form), &[]);
        let m = manifest(&dump);
        assert_eq!(m["source"]["engine"], "mongodb", "{form}");
        assert_eq!(
            m["source"]["input_format"],
            if form.starts_with("mongodump") {
                "mongodump"
            } else {
                "mongoexport"
            }
        );
        // The manifest proves which files the dump came from.
        let kinds = table(&m, "kinds");
        let files = kinds["collection"]["input_files"].as_array().unwrap();
        let dir = if form.starts_with("mongodump") {
            fixtures().join(form).join("shop")
        } else {
            fixtures().join(form)
        };
        assert!(!files.is_empty());
        for f in files {
            let bytes = std::fs::read(dir.join(f["path"].as_str().unwrap())).unwrap();
            assert_eq!(f["bytes"], bytes.len() as u64);
            assert_eq!(
                f["sha256"].as_str().unwrap(),
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
            );
        }
        assert_eq!(kinds["collection"]["shape"], "doc");
        assert_eq!(kinds["collection"]["documents"], 2);
        assert_eq!(kinds["primary_key"], serde_json::json!(["_id"]));
        let pg = PgDb::new("mongo_doc");
        work.import(&pg, &dump, &["--create-schema"]).ok();
        assert_doc_shape(&pg);
    }
}

/// Every flattened `kinds` column as text, in UTC.
const KINDS_FLAT_SQL: &str = "SELECT _id, name, (born AT TIME ZONE 'UTC')::text, \
     (\"when\" AT TIME ZONE 'UTC')::text, balance::text, i32::text, i64::text, dbl::text, \
     negzero::text, nan::text, inf::text, bin::text, uid::text, re::text, ts::text, lo::text, \
     hi::text, items::text, \"a.b\", \"$price\"::text, nested::text, flag::text, \"none\" \
     FROM kinds ORDER BY _id";

fn kinds_flat(price: &str) -> Vec<Vec<Option<String>>> {
    vec![
        texts(&[
            "65f0a1b2c3d4e5f601234567",
            "Ada \"quotes\", commas\nnewline\ttab \\ backslash é 🎉",
            "1815-12-10 00:00:00",
            "2024-03-10 07:00:00.25",
            "1234567890.123456789012345678901234",
            "2147483647",
            "9223372036854775807",
            "0.1",
            "-0",
            "NaN",
            "Infinity",
            "\\x0001feff",
            "01234567-89ab-cdef-0123-456789abcdef",
            r#"{"$regularExpression": {"options": "im", "pattern": "^a.*z$"}}"#,
            r#"{"$timestamp": {"i": 7, "t": 1700000000}}"#,
            r#"{"$minKey": 1}"#,
            r#"{"$maxKey": 1}"#,
            r#"[{"qty": 1, "sku": "a"}, {"qty": 2, "sku": "b", "dims": [[1, 2], [3]]}]"#,
            "dotted",
            price,
            r#"{"arr": [], "x.y": {"$z": true}}"#,
            "true",
            "NULL",
        ]),
        texts(&[
            "65f0a1b2c3d4e5f601234568",
            "Bob",
            "1969-12-31 23:59:59.999",
            "1970-01-01 00:00:00",
            "-0.000001",
            "-2147483648",
            "-9223372036854775808",
            "1e+300",
            "NULL",
            "NULL",
            "-Infinity",
            "\\x",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "false",
            "NULL",
        ]),
    ]
}

fn column_types(pg: &PgDb, table: &str) -> Vec<String> {
    rows(
        pg,
        &format!(
            "SELECT attname || ' ' || format_type(atttypid, atttypmod) || \
             CASE WHEN attnotnull THEN ' not null' ELSE '' END FROM pg_attribute \
             WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ),
    )
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect()
}

#[test]
fn flatten_types_every_field_with_create_schema() {
    let work = Work::new();
    let dump = export(&work, &source("mongodump"), &["--flatten"]);
    let m = manifest(&dump);
    assert_eq!(m["options"]["flatten"], serde_json::json!(["*"]));
    let events = audit_events(&work);
    let exported: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["tool"] == "export")
        .map(|e| {
            (
                e["status"].as_str().unwrap(),
                e["table"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(exported.first(), Some(&("started", "")));
    assert_eq!(exported.last(), Some(&("completed", "")));
    assert_eq!(exported.len(), 7, "{exported:?}");
    assert_eq!(
        events[0]["source"],
        format!("mongodump:{}", fixtures().join("mongodump/shop").display())
    );
    assert_eq!(
        column(&m, "kinds", "i64")["column_type"],
        "long",
        "BSON type recorded per column"
    );
    let pg = PgDb::new("mongo_flat");
    work.import(&pg, &dump, &["--create-schema"]).ok();
    assert_eq!(
        column_types(&pg, "kinds"),
        [
            "_id text not null",
            "name text not null",
            "born timestamp(3) with time zone not null",
            "when timestamp(3) with time zone not null",
            "balance numeric not null",
            "i32 integer not null",
            "i64 bigint not null",
            "dbl double precision not null",
            "negzero double precision",
            "nan double precision",
            "inf double precision not null",
            "bin bytea not null",
            "uid uuid",
            "re jsonb",
            "ts jsonb",
            "lo jsonb",
            "hi jsonb",
            "items jsonb",
            "a.b text",
            "$price double precision",
            "nested jsonb",
            "flag boolean not null",
            "none text",
        ]
    );
    assert_eq!(rows(&pg, KINDS_FLAT_SQL), kinds_flat("9.5"));
    assert_eq!(
        column_types(&pg, "sessions"),
        ["_id uuid not null", "user text not null"]
    );
    // The unique index of the metadata file comes along.
    assert_eq!(
        rows(
            &pg,
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'customers' ORDER BY indexname"
        ),
        [
            texts(&["CREATE UNIQUE INDEX customers_pkey ON public.customers USING btree (_id)"]),
            texts(&["CREATE UNIQUE INDEX email_1 ON public.customers USING btree (email)"]),
        ]
    );
}

#[test]
fn flatten_into_a_schema_the_application_made() {
    let work = Work::new();
    let dump = export(
        &work,
        &source("mongoexport-relaxed"),
        &["--flatten", "kinds"],
    );
    let pg = PgDb::new("mongo_schema_first");
    pg.exec(
        "CREATE TABLE kinds (\"_id\" char(24) PRIMARY KEY, name varchar(200) NOT NULL, \
         born timestamptz, \"when\" timestamptz, balance numeric(40, 30), i32 int, i64 bigint, \
         dbl float8, negzero float8, nan float8, inf float8, bin bytea, uid uuid, re jsonb, \
         ts jsonb, lo jsonb, hi jsonb, items jsonb, \"a.b\" text, \"$price\" numeric(6, 2), \
         nested jsonb, flag boolean, \"none\" text, created_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE customers (\"_id\" text PRIMARY KEY, doc jsonb NOT NULL);
         CREATE TABLE orders (\"_id\" text PRIMARY KEY, doc jsonb NOT NULL);
         CREATE TABLE sessions (\"_id\" uuid PRIMARY KEY, doc jsonb NOT NULL);
         CREATE TABLE odd_ids (\"_id\" text PRIMARY KEY, doc jsonb NOT NULL);",
    );
    work.import(&pg, &dump, &[]).ok();
    let mut expected = kinds_flat("9.50");
    expected[0][4] = Some("1234567890.123456789012345678901234000000".into());
    expected[1][4] = Some("-0.000001000000000000000000000000".into());
    assert_eq!(rows(&pg, KINDS_FLAT_SQL), expected);
    assert_eq!(
        rows(
            &pg,
            "SELECT count(*)::text FROM kinds WHERE created_at IS NOT NULL"
        ),
        [texts(&["2"])]
    );
    assert_doc_shape_of_other_collections(&pg);
}

fn assert_doc_shape_of_other_collections(pg: &PgDb) {
    assert_eq!(
        rows(pg, "SELECT _id, doc->>'email' FROM customers ORDER BY _id"),
        [
            texts(&[CUSTOMER_1, "ann@example.com"]),
            texts(&[CUSTOMER_2, "ben@example.com"]),
            texts(&[CUSTOMER_3, "cy@example.com"]),
        ]
    );
}

const ORDER_IDS: [&str; 6] = [
    "65f0d0000000000000000001",
    "65f0d0000000000000000002",
    "65f0d0000000000000000003",
    "65f0d0000000000000000004",
    "65f0d0000000000000000005",
    "65f0d0000000000000000006",
];

#[test]
fn mixed_types_missing_fields_and_orphans_are_reported_exactly() {
    let work = Work::new();
    let src = source("mongodump");
    // The dry run: per collection the documents, the columns and the problems.
    let ran = work
        .run(
            "waybill-export",
            &["--source", &src, "--flatten", "orders", "--dry-run", "-q"],
        )
        .ok();
    let lines: Vec<&str> = ran.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "collection `orders`: 6 document(s), flattened")
        .unwrap_or_else(|| panic!("{}", ran.stdout));
    let block: Vec<String> = lines[at..at + 7]
        .iter()
        .map(|l| l.trim_end().to_string())
        .collect();
    let price = "double 3, int 1, string 1, missing 1; double: _id 65f0d0000000000000000001, \
        65f0d0000000000000000003, 65f0d0000000000000000005; int: _id 65f0d0000000000000000004; \
        string: _id 65f0d0000000000000000002; missing: _id 65f0d0000000000000000006";
    assert_eq!(
        block,
        [
            "collection `orders`: 6 document(s), flattened",
            "column       PostgreSQL type  nullable  BSON types",
            &format!(
                "-----------  ---------------  --------  {}",
                "-".repeat(price.len())
            ),
            "_id          text             no        objectId 6",
            "customer_id  text             yes       objectId 4, null 1, missing 1; missing: _id 65f0d0000000000000000004",
            &format!("price        jsonb            yes       {price}"),
            "qty          integer          yes       int 5, missing 1; missing: _id 65f0d0000000000000000003",
        ]
    );
    assert!(
        ran.stdout.contains(
            "  collection `orders`, field `price` has mixed types (double 3, int 1, string 1, \
             missing 1; double: _id 65f0d0000000000000000001, 65f0d0000000000000000003, \
             65f0d0000000000000000005; int: _id 65f0d0000000000000000004; string: _id \
             65f0d0000000000000000002; missing: _id 65f0d0000000000000000006): exported as jsonb\n"
        ),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("collection `customers`: 3 document(s), _id + doc jsonb\n")
    );
    assert!(
        ran.stdout
            .contains("views (not exported, definitions kept in the manifest): big_orders\n")
    );
    assert!(!work.path().join("csv_exports").join("shop").exists());

    let dump = export(&work, &src, &["--flatten", "orders,sessions,customers"]);
    let m = manifest(&dump);
    let fields = &table(&m, "orders")["collection"]["fields"];
    assert_eq!(
        fields[2],
        serde_json::json!({
            "name": "price",
            "types": {"double": 3, "int": 1, "string": 1},
            "missing": 1,
            "samples": {
                "double": [ORDER_IDS[0], ORDER_IDS[2], ORDER_IDS[4]],
                "int": [ORDER_IDS[3]],
                "string": [ORDER_IDS[1]],
            },
            "missing_samples": [ORDER_IDS[5]],
        })
    );
    assert_eq!(
        fields[1],
        serde_json::json!({
            "name": "customer_id",
            "types": {"objectId": 4, "null": 1},
            "missing": 1,
            "missing_samples": [ORDER_IDS[3]],
        })
    );
    assert_eq!(m["views"][0]["name"], "big_orders");

    // Orphans fail the import, named by _id, with counts; nothing is committed.
    let pg = PgDb::new("mongo_refs");
    let refs = [
        "--create-schema",
        "--references",
        "orders.customer_id=customers._id",
        "--references",
        "sessions.user=customers._id",
    ];
    let ran = work.import(&pg, &dump, &refs).failed();
    assert!(
        ran.stderr.contains(
            "waybill-import: error: --references orders.customer_id=customers._id: 2 row(s) of \
             `orders` have a `customer_id` that is not a `_id` of `customers` (1 distinct \
             missing value(s): '65f0c00000000000000000ff'); the rows with _id \
             65f0d0000000000000000003, 65f0d0000000000000000006\nnothing was committed; fix the \
             data, or rerun with --allow-orphans to load the orphans anyway\n"
        ),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("foreign key sessions_user_fkey added"));
    assert_eq!(
        rows(
            &pg,
            "SELECT count(*)::text FROM pg_tables WHERE schemaname = 'public'"
        ),
        [texts(&["0"])]
    );

    // --allow-orphans loads them, warns, and adds only the foreign key that holds.
    let mut allow = refs.to_vec();
    allow.push("--allow-orphans");
    let ran = work.import(&pg, &dump, &allow).ok();
    assert!(
        ran.stderr
            .contains("(loaded anyway: --allow-orphans; no foreign key added)")
    );
    assert!(ran.stderr.contains(
        "--references sessions.user=customers._id: every reference resolves; foreign key \
         sessions_user_fkey added"
    ));
    assert_eq!(
        rows(
            &pg,
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE contype = 'f' ORDER BY conname"
        ),
        [texts(&[
            "sessions",
            "FOREIGN KEY (\"user\") REFERENCES customers(_id)"
        ])]
    );
    assert_eq!(
        rows(
            &pg,
            "SELECT _id, customer_id, price::text, qty::text FROM orders ORDER BY _id"
        ),
        [
            texts(&[ORDER_IDS[0], CUSTOMER_1, "9.99", "1"]),
            texts(&[ORDER_IDS[1], CUSTOMER_2, "\"free\"", "2"]),
            texts(&[ORDER_IDS[2], NOBODY, "4.5", "NULL"]),
            texts(&[ORDER_IDS[3], "NULL", "12", "3"]),
            texts(&[ORDER_IDS[4], "NULL", "1.25", "1"]),
            texts(&[ORDER_IDS[5], NOBODY, "NULL", "5"]),
        ]
    );
    // The import log says the same.
    let log = std::fs::read_dir(&dump)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("import_log_"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(log.contains("the rows with _id 65f0d0000000000000000003, 65f0d0000000000000000006"));
}

/// A mongodump directory `<tmp>/dump/<db>` holding `docs` as collection `name`.
fn dump_of(tmp: &Path, db: &str, name: &str, docs: &[Document]) -> PathBuf {
    let dir = tmp.join("dump").join(db);
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = Vec::new();
    for d in docs {
        d.to_writer(&mut bytes).unwrap();
    }
    std::fs::write(dir.join(format!("{name}.bson")), bytes).unwrap();
    std::fs::write(dir.join(format!("{name}.metadata.json")), metadata(name, 0)).unwrap();
    dir
}

#[test]
fn a_16_mb_document_in_both_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    // As large as MongoDB allows: 16 MiB of BSON, with a string, a binary and a
    // sub-document holding most of it.
    let text: String = (0..12 * 1024 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let blob: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut d = doc! {
        "_id": oid("65f0f0000000000000000001"),
        "text": &text,
        "blob": bin(BinarySubtype::Generic, &blob),
        "sub": { "n": 1, "s": "x".repeat(500_000) },
    };
    let size = bson_len(&d);
    let pad = 16 * 1024 * 1024 - size - 20;
    d.insert("pad", "p".repeat(pad));
    let size = bson_len(&d);
    assert!(
        size <= 16 * 1024 * 1024 && size > 16 * 1024 * 1024 - 64,
        "{size}"
    );
    let dir = dump_of(tmp.path(), "big", "big", &[d]);
    let url = format!("mongodump://{}", dir.display());
    for flatten in [false, true] {
        let work = Work::new();
        let dump = export(&work, &url, if flatten { &["--flatten"] } else { &[] });
        let pg = PgDb::new("mongo_16mb");
        let md5 = |b: &[u8]| -> String {
            pg.client()
                .query_one("SELECT md5($1::bytea)", &[&b])
                .unwrap()
                .get(0)
        };
        let (text_md5, blob_md5) = (md5(text.as_bytes()), md5(&blob));
        work.import(&pg, &dump, &["--create-schema"]).ok();
        let sql = if flatten {
            "SELECT md5(text), md5(blob), length(pad)::text, (sub->>'n') FROM big"
        } else {
            "SELECT md5(doc->>'text'), md5(decode(doc->'blob'->'$binary'->>'base64', 'base64')), \
             length(doc->>'pad')::text, (doc->'sub'->>'n') FROM big"
        };
        assert_eq!(
            rows(&pg, sql),
            [vec![
                Some(text_md5.clone()),
                Some(blob_md5.clone()),
                Some(pad.to_string()),
                Some("1".to_string())
            ]],
            "flatten: {flatten}"
        );
    }
}

fn bson_len(d: &Document) -> usize {
    let mut v = Vec::new();
    d.to_writer(&mut v).unwrap();
    v.len()
}

/// The export fails with `expected` in its error and leaves no dump directory.
fn export_fails(work: &Work, url: &str, extra: &[&str], expected: &str) {
    let mut args = vec!["--source", url, "--out", "out"];
    args.extend_from_slice(extra);
    let ran = work.run("waybill-export", &args).failed();
    assert!(ran.stderr.contains(expected), "{}", ran.stderr);
    let out = work.path().join("out");
    assert!(
        !out.exists()
            || !files_under(&out)
                .iter()
                .any(|f| f.ends_with("migration_manifest.json")),
        "a failed export must not write a manifest"
    );
}

#[test]
fn damaged_and_unusual_input_is_refused_with_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let work = Work::new();
    let kinds = std::fs::read(fixtures().join("mongodump/shop/kinds.bson")).unwrap();
    let first = i32::from_le_bytes(kinds[..4].try_into().unwrap()) as usize;

    let truncated = tmp.path().join("truncated/shop");
    std::fs::create_dir_all(&truncated).unwrap();
    std::fs::write(truncated.join("kinds.bson"), &kinds[..kinds.len() - 10]).unwrap();
    export_fails(
        &work,
        &format!("mongodump://{}", truncated.display()),
        &[],
        &format!(
            "kinds.bson: document 2 (at byte {first}): the file ends inside this {}-byte \
             document: it is truncated",
            kinds.len() - first
        ),
    );

    let huge = tmp.path().join("huge/shop");
    std::fs::create_dir_all(&huge).unwrap();
    let mut bytes = kinds[..first].to_vec();
    bytes.extend_from_slice(&i32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 16]);
    std::fs::write(huge.join("kinds.bson"), bytes).unwrap();
    export_fails(
        &work,
        &format!("mongodump://{}", huge.display()),
        &[],
        &format!(
            "kinds.bson: document 2 (at byte {first}): length 2147483647 is not a BSON \
             document's (5 to 16793600 bytes): the file is damaged or not a mongodump .bson file"
        ),
    );

    let gz = tmp.path().join("gz/shop");
    std::fs::create_dir_all(&gz).unwrap();
    std::fs::write(gz.join("kinds.bson.gz"), b"not gzip at all").unwrap();
    export_fails(
        &work,
        &format!("mongodump://{}", gz.display()),
        &[],
        "kinds.bson.gz: cannot be decompressed (",
    );

    let array = tmp.path().join("array");
    std::fs::create_dir_all(&array).unwrap();
    let relaxed =
        std::fs::read_to_string(fixtures().join("mongoexport-relaxed/orders.json")).unwrap();
    std::fs::write(array.join("orders.json"), relaxed.trim_end_matches(']')).unwrap();
    export_fails(
        &work,
        &format!("mongoexport://{}", array.display()),
        &[],
        &format!(
            "orders.json: document 7 (at byte {}): the file ends inside the JSON array (no \
             closing `]`): it is truncated",
            relaxed.len() - 1
        ),
    );

    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("things.json"),
        "{\"_id\": 1}\n{\"_id\": {\"$oid\": \"nothex\"}}\n",
    )
    .unwrap();
    export_fails(
        &work,
        &format!("mongoexport://{}", bad.display()),
        &[],
        "things.json: document 2 (at byte 11): not valid Extended JSON (",
    );

    // A field no column can be named after: refused for --flatten, fine as a document.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(
        empty.join("things.json"),
        "{\"_id\": 1, \"\": \"no name\"}\n{\"_id\": 2, \"a\": 1}\n",
    )
    .unwrap();
    let url = format!("mongoexport://{}", empty.display());
    export_fails(
        &work,
        &url,
        &["--flatten"],
        "1 collection(s) cannot be exported as asked; nothing was written:\n  collection \
         `things`: 1 document(s) have a top-level field with an empty name (_id 1), which no \
         PostgreSQL column can have; export this collection without --flatten (its documents \
         then go whole into `doc`)",
    );
    let loaded = Work::new();
    let dump = export(&loaded, &url, &[]);
    let pg = PgDb::new("mongo_empty_key");
    loaded.import(&pg, &dump, &["--create-schema"]).ok();
    assert_eq!(
        rows(&pg, "SELECT _id::text, doc::text FROM things ORDER BY _id"),
        [
            texts(&["1", r#"{"": "no name", "_id": 1}"#]),
            texts(&["2", r#"{"a": 1, "_id": 2}"#])
        ]
    );

    export_fails(
        &work,
        &source("mongodump"),
        &["--flatten", "nosuch"],
        "--flatten: no collection named nosuch is exported from",
    );
    export_fails(
        &work,
        &format!("mongodump://{}", fixtures().join("mongodump").display()),
        &[],
        &format!(
            "{} holds no <collection>.bson or .metadata.json files; it looks like a mongodump \
             of several databases (shop): name one, e.g. mongodump://{}",
            fixtures().join("mongodump").display(),
            fixtures().join("mongodump/shop").display()
        ),
    );
    export_fails(
        &work,
        "mysql://u:p@127.0.0.1:1/x",
        &["--flatten"],
        "--flatten is for MongoDB sources (mongodump:// or mongoexport://)",
    );
}

#[test]
fn a_string_holding_nul_follows_the_nul_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = dump_of(
        tmp.path(),
        "nul",
        "notes",
        &[doc! { "_id": 1, "text": "a\u{0}b", "deep": { "k": ["x\u{0}"] } }],
    );
    let url = format!("mongodump://{}", dir.display());
    let work = Work::new();
    export_fails(
        &work,
        &url,
        &[],
        "table `notes`, column `doc`, row with primary key (_id=1): value ",
    );
    export_fails(
        &work,
        &url,
        &[],
        "contains a NUL byte, which PostgreSQL text cannot store (rerun with --nul strip to remove NUL bytes)",
    );
    let stripped = Work::new();
    let dump = export(&stripped, &url, &["--nul", "strip"]);
    assert_eq!(
        column(&manifest(&dump), "notes", "doc")["stats"]["nul_bytes_stripped"],
        1
    );
    let pg = PgDb::new("mongo_nul");
    stripped.import(&pg, &dump, &["--create-schema"]).ok();
    assert_eq!(
        rows(&pg, "SELECT doc::text FROM notes"),
        [texts(&[
            r#"{"_id": 1, "deep": {"k": ["x"]}, "text": "ab"}"#
        ])]
    );
}

/// waybill-verify on MongoDB dumps, in both shapes: the dump against the target it was
/// loaded into, and against the files it was exported from (the "source"), each equal;
/// then a value changed in PostgreSQL is named by its `_id`, and a document added to a
/// copy of the source files is found as written since the export.
#[test]
fn mongo_dumps_are_verified_value_by_value() {
    let work = Work::new();
    for (shape, extra) in [("doc", &[][..]), ("flat", &["--flatten", "kinds"][..])] {
        let src_dir = work.path().join(format!("src_{shape}"));
        copy_tree(&fixtures().join("mongoexport-canonical"), &src_dir);
        let src = format!("mongoexport://{}", src_dir.display());
        let dump = export(&work, &src, extra);
        let pg = PgDb::new(&format!("mongo_verify_{shape}"));
        work.import(&pg, &dump, &["--create-schema", "--verify"])
            .ok();
        let d = dump.to_str().unwrap();
        let url = pg.url_text();
        for with in [&["--target", &url][..], &["--source", &src]] {
            let ran = work.run("waybill-verify", &[&[d][..], with].concat()).ok();
            assert!(
                ran.stderr.contains("every value equal"),
                "{shape} {with:?}: {}",
                ran.stderr
            );
        }

        let changed = if shape == "doc" {
            "UPDATE customers SET doc = jsonb_set(doc, '{email}', '\"ben@example.org\"') \
             WHERE _id = '65f0c0000000000000000002'"
        } else {
            "UPDATE kinds SET name = 'Bobby' WHERE _id = '65f0a1b2c3d4e5f601234568'"
        };
        pg.exec(changed);
        let ran = work.run("waybill-verify", &[d, "--target", &url]).failed();
        let (table, key) = if shape == "doc" {
            ("customers", "_id=65f0c0000000000000000002")
        } else {
            ("kinds", "_id=65f0a1b2c3d4e5f601234568")
        };
        assert!(
            ran.stderr.contains(&format!("table `{table}`"))
                && ran.stderr.contains(key)
                && ran.stderr.contains("1 of 5 table(s) differ"),
            "{shape}: {}",
            ran.stderr
        );

        // A document written to the source files since the export.
        let customers = src_dir.join("customers.json");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&customers)
            .unwrap();
        writeln!(
            f,
            r#"{{"_id":{{"$oid":"65f0c0000000000000000009"}},"name":"Dee","email":"dee@example.com"}}"#
        )
        .unwrap();
        drop(f);
        let ran = work.run("waybill-verify", &[d, "--source", &src]).failed();
        assert!(
            ran.stderr.contains("table `customers`")
                && ran.stderr.contains("_id=65f0c0000000000000000009"),
            "{shape}: {}",
            ran.stderr
        );
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
