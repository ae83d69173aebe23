//! `waybill-import --create-schema`: the PostgreSQL schema built from the dump alone.
//! Sakila lands complete (tables, rows, keys, indexes, sequences); every mapping rule is
//! checked against the PostgreSQL catalog.

mod common;

use common::*;
use mysql::prelude::Queryable;

fn col_type(pg: &PgDb, table: &str, column: &str) -> String {
    pg.text(&format!(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = '{table}'::regclass AND attname = '{column}'"
    ))
    .unwrap_or_else(|| panic!("no column {table}.{column}"))
}

fn not_null(pg: &PgDb, table: &str, column: &str) -> bool {
    pg.text(&format!(
        "SELECT attnotnull::text FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attname = '{column}'"
    ))
    .as_deref()
        == Some("true")
}

#[test]
fn sakila_into_an_empty_database() {
    let url = ensure_sakila();
    let pg = PgDb::new("cs_sakila");
    let work = Work::new();
    let dump = work.export_url(&url_text(&url), &[]);
    let ran = work.import(&pg, &dump, &["--create-schema"]).ok();
    assert!(
        ran.stderr.contains("views are not created"),
        "{}",
        ran.stderr
    );
    for (name, rows) in SAKILA_COUNTS {
        assert_eq!(pg.count(name), *rows, "{name}");
    }
    let n = |sql: &str| -> i64 {
        pg.client()
            .query_one(&format!("SELECT ({sql})::bigint"), &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(
        n(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace"
        ),
        16
    );
    assert_eq!(
        n(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        ),
        22
    );
    let mut c = mysql_conn(&url);
    let secondary: i64 = c
        .query_first("SELECT COUNT(DISTINCT TABLE_NAME, INDEX_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'sakila' AND INDEX_NAME <> 'PRIMARY'")
        .unwrap()
        .unwrap();
    let pg_secondary = n(
        "SELECT count(*) FROM pg_indexes i WHERE schemaname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype = 'p')",
    );
    assert_eq!(
        pg_secondary, secondary,
        "every MySQL secondary index has a PostgreSQL index"
    );
    assert!(
        pg.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_title'")
            .unwrap()
            .contains("(title)")
    );
    assert!(
        pg.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_unique_manager'")
            .unwrap()
            .contains("UNIQUE")
    );
    assert!(
        pg.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_title_description'")
            .unwrap()
            .contains("gin")
    );
    assert_sakila_values(&pg, &url);
    let features: Option<String> = c
        .query_first("SELECT special_features FROM sakila.film WHERE film_id = 1")
        .unwrap();
    assert_eq!(
        pg.text("SELECT array_to_string(special_features, ',') FROM film WHERE film_id = 1"),
        features
    );
    assert_eq!(col_type(&pg, "film", "special_features"), "text[]");
    assert_eq!(col_type(&pg, "customer", "active"), "boolean");
    assert_eq!(col_type(&pg, "payment", "amount"), "numeric(5,2)");
    // Sequences past the data and the source AUTO_INCREMENT.
    assert_sequences_past_max(
        &pg,
        &[
            ("actor", "actor_id"),
            ("payment", "payment_id"),
            ("rental", "rental_id"),
            ("film", "film_id"),
        ],
    );
    assert_eq!(
        pg.text("SELECT nextval(pg_get_serial_sequence('rental', 'rental_id'))::text")
            .as_deref(),
        Some("16051")
    );
    // Every table but film_text has `last_update ... ON UPDATE CURRENT_TIMESTAMP`: a
    // trigger each, and they work.
    assert!(
        ran.stderr
            .contains("15 triggers for ON UPDATE CURRENT_TIMESTAMP"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        n("SELECT count(*) FROM pg_trigger WHERE tgname = 'waybill_on_update'"),
        15
    );
    assert_eq!(
        n(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'waybill_on_update' AND tgrelid = 'film_text'::regclass"
        ),
        0
    );
    let mut pc = pg.client();
    pc.batch_execute("UPDATE actor SET first_name = 'PENELOPE2' WHERE actor_id = 1")
        .unwrap();
    assert_eq!(
        n("SELECT count(*) FROM actor WHERE last_update > now() - interval '1 hour'"),
        1
    );
    pc.batch_execute(
        "UPDATE actor SET first_name = 'NICK2', last_update = '2001-02-03 04:05:06+00' WHERE actor_id = 2",
    )
    .unwrap();
    assert_eq!(
        pg.text(
            "SELECT extract(epoch FROM last_update)::bigint::text FROM actor WHERE actor_id = 2"
        )
        .as_deref(),
        Some("981173106")
    );
}

const LONG_TABLE: &str = "a_table_whose_name_is_exactly_sixty_four_characters_long_abcdefg";
const LONG_COLUMN: &str = "a_column_whose_name_is_exactly_sixty_four_characters_long_abcdef";

fn mapping_source() -> MyDb {
    let db = MyDb::new("mapping");
    assert_eq!(LONG_TABLE.len(), 64);
    assert_eq!(LONG_COLUMN.len(), 64);
    db.exec(&[
        "CREATE TABLE parent (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20)) AUTO_INCREMENT = 500",
        "CREATE TABLE mapping (
            id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
            parentId BIGINT UNSIGNED NULL,
            flag TINYINT(1) NOT NULL DEFAULT 1,
            odd TINYINT(1) NULL,
            b1 BIT(1) NULL DEFAULT b'0', b5 BIT(5) NULL,
            tu TINYINT UNSIGNED, su SMALLINT UNSIGNED, mi MEDIUMINT, iu INT UNSIGNED, bu BIGINT UNSIGNED,
            dec1 DECIMAL(10,3) NOT NULL DEFAULT 0.5, f FLOAT, dbl DOUBLE,
            good_uuid CHAR(36) NULL, bad_uuid CHAR(36) NULL,
            createdDate DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            ts TIMESTAMP NULL, y YEAR, tm TIME,
            required_day DATE NOT NULL, early DATE,
            bl BLOB, j JSON,
            kind ENUM('small','large') NOT NULL DEFAULT 'small',
            tags SET('x','y','z') NOT NULL DEFAULT 'x,y',
            name VARCHAR(20) NOT NULL DEFAULT 'it''s', body TEXT,
            FOREIGN KEY (parentId) REFERENCES parent(id),
            UNIQUE KEY uq_name (name),
            KEY idx_body (body(10)),
            KEY idx_desc (createdDate DESC),
            FULLTEXT KEY ft_body (body)
         ) COMMENT 'mapping fixture'",
        &format!("CREATE TABLE `{LONG_TABLE}` (id INT PRIMARY KEY, `{LONG_COLUMN}` INT, KEY `{LONG_COLUMN}` (`{LONG_COLUMN}`))"),
        &format!("INSERT INTO `{LONG_TABLE}` VALUES (1, 10), (2, 20)"),
        "INSERT INTO parent (id, name) VALUES (1, 'p1'), (2, 'p2')",
        "INSERT INTO mapping (id, parentId, flag, odd, b1, b5, tu, su, mi, iu, bu, dec1, f, dbl, good_uuid, bad_uuid,
                              createdDate, ts, y, tm, required_day, early, bl, j, kind, tags, name, body) VALUES
            (1, 1, 1, 2, b'1', b'10101', 255, 65535, -8388608, 4294967295, 18446744073709551615, 1234567.891, 1.5, 2.25,
             '6a1f0c2e-0b7b-4d3e-9a55-0c1d2e3f4a5b', 'not-a-uuid',
             '2024-01-02 03:04:05.123456', '2024-06-01 00:00:00', 2024, '100:00:00', '0000-00-00', '0009-01-01',
             X'00FF', '{\"a\": 1}', 'large', 'x,z', 'first', 'some text body'),
            (2, NULL, 0, 0, b'0', b'00000', 0, 0, 0, 0, 0, 0, 0, 0, '', '6a1f0c2e-0b7b-4d3e-9a55-0c1d2e3f4a5b',
             '2024-01-02 03:04:05', NULL, 1999, '-01:00:00', '2024-02-03', NULL, NULL, NULL, 'small', '', 'second', NULL)",
    ]);
    db
}

#[test]
fn every_mapping_rule() {
    let db = mapping_source();
    let pg = PgDb::new("cs_map");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let ran = work.import(&pg, &dump, &["--create-schema"]).ok();
    let warnings = &ran.stderr;
    for (c, t) in [
        ("id", "bigint"),
        ("parentId", "bigint"),
        ("flag", "boolean"),
        ("odd", "smallint"),
        ("b1", "boolean"),
        ("b5", "bit(5)"),
        ("tu", "smallint"),
        ("su", "integer"),
        ("mi", "integer"),
        ("iu", "bigint"),
        ("bu", "numeric(20,0)"),
        ("dec1", "numeric(10,3)"),
        ("f", "real"),
        ("dbl", "double precision"),
        ("good_uuid", "uuid"),
        ("bad_uuid", "character varying(36)"),
        ("createdDate", "timestamp(6) without time zone"),
        ("ts", "timestamp(0) with time zone"),
        ("y", "smallint"),
        ("tm", "interval"),
        ("required_day", "date"),
        ("bl", "bytea"),
        ("j", "jsonb"),
        ("kind", "text"),
        ("tags", "text[]"),
        ("name", "character varying(20)"),
        ("body", "text"),
    ] {
        assert_eq!(col_type(&pg, "\"mapping\"", c), t, "type of {c}");
    }
    assert_eq!(
        col_type(&pg, "parent", "id"),
        "bigint",
        "auto_increment bigint unsigned becomes bigint identity"
    );
    assert!(
        warnings.contains("mapping.odd: tinyint(1) holds 1 value(s) other than 0 and 1"),
        "{warnings}"
    );
    assert!(
        warnings.contains("mapping.bad_uuid: 1 value(s) are not UUIDs; created as varchar(36)"),
        "{warnings}"
    );
    assert!(
        warnings.contains("mapping.required_day: NOT NULL dropped: 1 value(s) became NULL"),
        "{warnings}"
    );
    assert!(!not_null(&pg, "mapping", "required_day"));
    assert!(not_null(&pg, "mapping", "name"));
    let row = |sql: &str| pg.text(sql);
    assert_eq!(
        row("SELECT required_day::text FROM mapping WHERE id = 1"),
        None,
        "zero date became NULL"
    );
    assert_eq!(
        row("SELECT early::text FROM mapping WHERE id = 1").as_deref(),
        Some("0009-01-01")
    );
    assert_eq!(
        row("SELECT tags::text FROM mapping WHERE id = 1").as_deref(),
        Some("{x,z}")
    );
    assert_eq!(
        row("SELECT tags::text FROM mapping WHERE id = 2").as_deref(),
        Some("{}")
    );
    assert_eq!(
        row("SELECT bu::text FROM mapping WHERE id = 1").as_deref(),
        Some("18446744073709551615")
    );
    assert_eq!(
        row("SELECT tm::text FROM mapping WHERE id = 1").as_deref(),
        Some("100:00:00")
    );
    assert_eq!(
        row("SELECT \"createdDate\"::text FROM mapping WHERE id = 1").as_deref(),
        Some("2024-01-02 03:04:05.123456")
    );
    assert_eq!(
        row("SELECT b5::text FROM mapping WHERE id = 1").as_deref(),
        Some("10101")
    );
    // Defaults, CHECKs, keys, indexes, foreign keys, comments.
    let default = |c: &str| {
        row(&format!(
            "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef JOIN pg_attribute ON attrelid = adrelid AND attnum = adnum WHERE adrelid = 'mapping'::regclass AND attname = '{c}'"
        ))
    };
    assert_eq!(default("flag").as_deref(), Some("true"));
    assert_eq!(default("b1").as_deref(), Some("false"));
    assert_eq!(default("dec1").as_deref(), Some("0.500"));
    assert_eq!(
        default("name").as_deref(),
        Some("'it''s'::character varying")
    );
    assert_eq!(default("createdDate").as_deref(), Some("CURRENT_TIMESTAMP"));
    assert_eq!(
        default("tags").as_deref(),
        Some("ARRAY['x'::text, 'y'::text]")
    );
    // Sequences: parent honours AUTO_INCREMENT 500, mapping is past its data.
    assert_eq!(
        row("SELECT nextval(pg_get_serial_sequence('parent', 'id'))::text").as_deref(),
        Some("500")
    );
    assert_eq!(
        row("SELECT nextval(pg_get_serial_sequence('mapping', 'id'))::text").as_deref(),
        Some("3")
    );
    let mut c = pg.client();
    assert!(
        c.batch_execute(
            "INSERT INTO mapping (name, required_day, kind) VALUES ('n3', '2024-01-01', 'medium')"
        )
        .is_err(),
        "enum CHECK"
    );
    assert!(
        c.batch_execute(
            "INSERT INTO mapping (name, required_day, tags) VALUES ('n4', '2024-01-01', '{w}')"
        )
        .is_err(),
        "set CHECK"
    );
    let defs: Vec<String> = c
        .query(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'mapping' ORDER BY indexname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let joined = defs.join("\n");
    assert!(
        joined.contains("UNIQUE INDEX uq_name ON public.mapping USING btree (name)"),
        "{joined}"
    );
    assert!(
        joined.contains("idx_body ON public.mapping USING btree (\"left\"(body, 10))"),
        "{joined}"
    );
    assert!(
        joined.contains("idx_desc ON public.mapping USING btree (\"createdDate\" DESC)"),
        "{joined}"
    );
    assert!(
        joined.contains("ft_body ON public.mapping USING gin (to_tsvector('simple'"),
        "{joined}"
    );
    assert_eq!(row("SELECT count(*)::text FROM pg_constraint WHERE conrelid = 'mapping'::regclass AND contype = 'f'").as_deref(), Some("1"));
    assert_eq!(
        row("SELECT obj_description('mapping'::regclass)").as_deref(),
        Some("mapping fixture")
    );
    // Names over 63 bytes: cut deterministically, data loaded.
    let long_t = waybill::target::ddl::fit_identifier(LONG_TABLE);
    let long_c = waybill::target::ddl::fit_identifier(LONG_COLUMN);
    assert!(long_t.len() <= 63 && long_t != LONG_TABLE[..63]);
    assert_eq!(
        row(&format!("SELECT sum(\"{long_c}\")::text FROM \"{long_t}\"")).as_deref(),
        Some("30")
    );
    assert!(
        row(&format!(
            "SELECT indexname FROM pg_indexes WHERE tablename = '{long_t}' AND indexname <> '{}'",
            waybill::target::ddl::fit_identifier(&format!("{long_t}_pkey"))
        ))
        .is_some()
    );
}

#[test]
fn identifiers_casts_dry_run_and_existing_tables() {
    let db = mapping_source();
    let pg = PgDb::new("cs_opts");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    // Dry run: the DDL is printed, nothing is created.
    let dry = work
        .import(
            &pg,
            &dump,
            &["--create-schema", "--dry-run", "--schema", "app"],
        )
        .ok();
    assert!(
        dry.stdout.contains("CREATE SCHEMA IF NOT EXISTS \"app\""),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(
            "CREATE TABLE \"app\".\"mapping\" (\n    \"id\" bigint GENERATED BY DEFAULT AS IDENTITY"
        ),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("\"createdDate\" timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        pg.text("SELECT count(*)::text FROM pg_namespace WHERE nspname = 'app'")
            .as_deref(),
        Some("0")
    );

    // Lower-case names and cast overrides, into a named schema.
    work.import(
        &pg,
        &dump,
        &[
            "--create-schema",
            "--schema",
            "app",
            "--lowercase-identifiers",
            "--cast",
            "datetime=timestamptz",
            "--cast",
            "mapping.flag=smallint",
        ],
    )
    .ok();
    assert_eq!(
        col_type(&pg, "app.mapping", "createddate"),
        "timestamp with time zone"
    );
    assert_eq!(col_type(&pg, "app.mapping", "flag"), "smallint");
    assert_eq!(pg.count("app.mapping"), 2);

    // Again: the tables exist now.
    let again = work
        .import(
            &pg,
            &dump,
            &[
                "--create-schema",
                "--schema",
                "app",
                "--lowercase-identifiers",
            ],
        )
        .failed();
    assert!(
        again.stderr.contains("these tables already exist")
            && again.stderr.contains("--drop-existing"),
        "{}",
        again.stderr
    );
    let cast_file = work.path().join("casts.txt");
    std::fs::write(
        &cast_file,
        "# keep booleans as numbers\ntinyint(1)=smallint\n",
    )
    .unwrap();
    work.import(
        &pg,
        &dump,
        &[
            "--create-schema",
            "--schema",
            "app",
            "--lowercase-identifiers",
            "--drop-existing",
            "--cast-file",
            cast_file.to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(col_type(&pg, "app.mapping", "flag"), "smallint");
    assert_eq!(
        col_type(&pg, "app.mapping", "createddate"),
        "timestamp(6) without time zone"
    );
    assert_eq!(pg.count("app.mapping"), 2);
}
