//! Names that differ between the source and the target: a PascalCase MySQL schema (the
//! Chinook sample's MySQL script) loaded into the snake_case schema an application's
//! migrations wrote (the same sample's PostgreSQL script; TypeORM, Prisma `@map`,
//! Rails and Django name things this way), `--rename-file` for what no rule finds,
//! refusals of ambiguous matches, and `--create-schema --identifiers snake_case`.

mod common;

use std::path::Path;

use common::*;
use mysql::prelude::Queryable;

/// Chinook's MySQL script, trimmed: PascalCase tables and columns, a two-word table
/// (`InvoiceLine`, `MediaType`, `PlaylistTrack`), a self-referencing key
/// (`Employee.ReportsTo`), composite keys, decimals, dates and NULLs.
const SOURCE: &[&str] = &[
    "CREATE TABLE `Artist` (`ArtistId` INT NOT NULL AUTO_INCREMENT, `Name` NVARCHAR(120),
        CONSTRAINT `PK_Artist` PRIMARY KEY (`ArtistId`))",
    "CREATE TABLE `Album` (`AlbumId` INT NOT NULL AUTO_INCREMENT, `Title` NVARCHAR(160) NOT NULL,
        `ArtistId` INT NOT NULL, CONSTRAINT `PK_Album` PRIMARY KEY (`AlbumId`),
        CONSTRAINT `FK_AlbumArtistId` FOREIGN KEY (`ArtistId`) REFERENCES `Artist` (`ArtistId`))",
    "CREATE INDEX `IFK_AlbumArtistId` ON `Album` (`ArtistId`)",
    "CREATE TABLE `Employee` (`EmployeeId` INT NOT NULL AUTO_INCREMENT,
        `LastName` NVARCHAR(20) NOT NULL, `FirstName` NVARCHAR(20) NOT NULL,
        `Title` NVARCHAR(30), `ReportsTo` INT, `BirthDate` DATETIME, `HireDate` DATETIME,
        `Email` NVARCHAR(60), CONSTRAINT `PK_Employee` PRIMARY KEY (`EmployeeId`),
        CONSTRAINT `FK_EmployeeReportsTo` FOREIGN KEY (`ReportsTo`) REFERENCES `Employee` (`EmployeeId`))",
    "CREATE INDEX `IFK_EmployeeReportsTo` ON `Employee` (`ReportsTo`)",
    "CREATE TABLE `Customer` (`CustomerId` INT NOT NULL AUTO_INCREMENT,
        `FirstName` NVARCHAR(40) NOT NULL, `LastName` NVARCHAR(20) NOT NULL,
        `Company` NVARCHAR(80), `Country` NVARCHAR(40), `Email` NVARCHAR(60) NOT NULL,
        `SupportRepId` INT, CONSTRAINT `PK_Customer` PRIMARY KEY (`CustomerId`),
        CONSTRAINT `FK_CustomerSupportRepId` FOREIGN KEY (`SupportRepId`) REFERENCES `Employee` (`EmployeeId`))",
    "CREATE TABLE `Genre` (`GenreId` INT NOT NULL AUTO_INCREMENT, `Name` NVARCHAR(120),
        CONSTRAINT `PK_Genre` PRIMARY KEY (`GenreId`))",
    "CREATE TABLE `MediaType` (`MediaTypeId` INT NOT NULL AUTO_INCREMENT, `Name` NVARCHAR(120),
        CONSTRAINT `PK_MediaType` PRIMARY KEY (`MediaTypeId`))",
    "CREATE TABLE `Track` (`TrackId` INT NOT NULL AUTO_INCREMENT, `Name` NVARCHAR(200) NOT NULL,
        `AlbumId` INT, `MediaTypeId` INT NOT NULL, `GenreId` INT, `Composer` NVARCHAR(220),
        `Milliseconds` INT NOT NULL, `Bytes` INT, `UnitPrice` NUMERIC(10,2) NOT NULL,
        CONSTRAINT `PK_Track` PRIMARY KEY (`TrackId`),
        CONSTRAINT `FK_TrackAlbumId` FOREIGN KEY (`AlbumId`) REFERENCES `Album` (`AlbumId`),
        CONSTRAINT `FK_TrackGenreId` FOREIGN KEY (`GenreId`) REFERENCES `Genre` (`GenreId`),
        CONSTRAINT `FK_TrackMediaTypeId` FOREIGN KEY (`MediaTypeId`) REFERENCES `MediaType` (`MediaTypeId`))",
    "CREATE TABLE `Invoice` (`InvoiceId` INT NOT NULL AUTO_INCREMENT, `CustomerId` INT NOT NULL,
        `InvoiceDate` DATETIME NOT NULL, `BillingCountry` NVARCHAR(40),
        `Total` NUMERIC(10,2) NOT NULL, CONSTRAINT `PK_Invoice` PRIMARY KEY (`InvoiceId`),
        CONSTRAINT `FK_InvoiceCustomerId` FOREIGN KEY (`CustomerId`) REFERENCES `Customer` (`CustomerId`))",
    "CREATE TABLE `InvoiceLine` (`InvoiceLineId` INT NOT NULL AUTO_INCREMENT,
        `InvoiceId` INT NOT NULL, `TrackId` INT NOT NULL, `UnitPrice` NUMERIC(10,2) NOT NULL,
        `Quantity` INT NOT NULL, CONSTRAINT `PK_InvoiceLine` PRIMARY KEY (`InvoiceLineId`),
        CONSTRAINT `FK_InvoiceLineInvoiceId` FOREIGN KEY (`InvoiceId`) REFERENCES `Invoice` (`InvoiceId`),
        CONSTRAINT `FK_InvoiceLineTrackId` FOREIGN KEY (`TrackId`) REFERENCES `Track` (`TrackId`))",
    "CREATE INDEX `IFK_InvoiceLineInvoiceId` ON `InvoiceLine` (`InvoiceId`)",
    "CREATE TABLE `Playlist` (`PlaylistId` INT NOT NULL AUTO_INCREMENT, `Name` NVARCHAR(120),
        CONSTRAINT `PK_Playlist` PRIMARY KEY (`PlaylistId`))",
    "CREATE TABLE `PlaylistTrack` (`PlaylistId` INT NOT NULL, `TrackId` INT NOT NULL,
        CONSTRAINT `PK_PlaylistTrack` PRIMARY KEY (`PlaylistId`, `TrackId`),
        CONSTRAINT `FK_PlaylistTrackPlaylistId` FOREIGN KEY (`PlaylistId`) REFERENCES `Playlist` (`PlaylistId`),
        CONSTRAINT `FK_PlaylistTrackTrackId` FOREIGN KEY (`TrackId`) REFERENCES `Track` (`TrackId`))",
    "INSERT INTO `Artist` VALUES (1, 'AC/DC'), (2, 'Accept'), (3, 'Antônio Carlos Jobim'), (4, NULL)",
    "INSERT INTO `Album` VALUES (1, 'For Those About To Rock We Salute You', 1),
        (2, 'Balls to the Wall', 2), (3, 'Warner 25 Anos', 3)",
    "INSERT INTO `Employee` VALUES
        (1, 'Adams', 'Andrew', 'General Manager', NULL, '1962-02-18 00:00:00', '2002-08-14 00:00:00', 'andrew@chinookcorp.com'),
        (2, 'Edwards', 'Nancy', 'Sales Manager', 1, '1958-12-08 00:00:00', '2002-05-01 00:00:00', 'nancy@chinookcorp.com'),
        (3, 'Peacock', 'Jane', 'Sales Support Agent', 2, '1973-08-29 00:00:00', '2002-04-01 00:00:00', NULL)",
    "INSERT INTO `Customer` VALUES
        (1, 'Luís', 'Gonçalves', 'Embraer - Empresa Brasileira de Aeronáutica S.A.', 'Brazil', 'luisg@embraer.com.br', 3),
        (2, 'Leonie', 'Köhler', NULL, 'Germany', 'leonekohler@surfeu.de', 3),
        (3, 'François', 'Tremblay', NULL, 'Canada', 'ftremblay@gmail.com', NULL)",
    "INSERT INTO `Genre` VALUES (1, 'Rock'), (2, 'Jazz'), (3, 'Bossa \"Nova\", ''69''')",
    "INSERT INTO `MediaType` VALUES (1, 'MPEG audio file'), (2, 'Protected AAC audio file')",
    "INSERT INTO `Track` VALUES
        (1, 'For Those About To Rock (We Salute You)', 1, 1, 1, 'Angus Young, Malcolm Young, Brian Johnson', 343719, 11170334, 0.99),
        (2, 'Balls to the Wall', 2, 2, 1, NULL, 342562, 5510424, 0.99),
        (3, 'Águas de Março', 3, 1, 2, 'Antônio Carlos Jobim', 213000, NULL, 1.99),
        (4, 'Put The Finger On You', 1, 1, 1, 'Angus Young,\nMalcolm Young', 205662, 6713451, 0.99)",
    "INSERT INTO `Invoice` VALUES (1, 2, '2009-01-01 00:00:00', 'Germany', 1.98),
        (2, 1, '2009-01-02 00:00:00', 'Brazil', 3.96), (98, 3, '2010-02-11 13:45:06', NULL, 1.99)",
    "INSERT INTO `InvoiceLine` VALUES (1, 1, 2, 0.99, 1), (2, 1, 4, 0.99, 1),
        (3, 2, 1, 0.99, 2), (4, 2, 3, 1.99, 1), (2240, 98, 3, 1.99, 1)",
    "INSERT INTO `Playlist` VALUES (1, 'Music'), (2, 'Movies'), (3, NULL)",
    "INSERT INTO `PlaylistTrack` VALUES (1, 1), (1, 2), (1, 3), (3, 4)",
];

/// The PostgreSQL schema an application's migrations wrote for the same data (Chinook's
/// PostgreSQL script): snake_case names, identity keys, the same foreign keys.
const TARGET: &str = r#"
CREATE TABLE artist (artist_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name varchar(120));
CREATE TABLE album (album_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    title varchar(160) NOT NULL, artist_id int NOT NULL REFERENCES artist (artist_id));
CREATE INDEX album_artist_id_idx ON album (artist_id);
CREATE TABLE employee (employee_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    last_name varchar(20) NOT NULL, first_name varchar(20) NOT NULL, title varchar(30),
    reports_to int REFERENCES employee (employee_id), birth_date timestamp, hire_date timestamp,
    email varchar(60));
CREATE TABLE customer (customer_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    first_name varchar(40) NOT NULL, last_name varchar(20) NOT NULL, company varchar(80),
    country varchar(40), email varchar(60) NOT NULL,
    support_rep_id int REFERENCES employee (employee_id));
CREATE TABLE genre (genre_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name varchar(120));
CREATE TABLE media_type (media_type_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name varchar(120));
CREATE TABLE track (track_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name varchar(200) NOT NULL, album_id int REFERENCES album (album_id),
    media_type_id int NOT NULL REFERENCES media_type (media_type_id),
    genre_id int REFERENCES genre (genre_id), composer varchar(220),
    milliseconds int NOT NULL, bytes int, unit_price numeric(10,2) NOT NULL);
CREATE TABLE invoice (invoice_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customer (customer_id),
    invoice_date timestamp NOT NULL, billing_country varchar(40), total numeric(10,2) NOT NULL);
CREATE TABLE invoice_line (invoice_line_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    invoice_id int NOT NULL REFERENCES invoice (invoice_id),
    track_id int NOT NULL REFERENCES track (track_id),
    unit_price numeric(10,2) NOT NULL, quantity int NOT NULL);
CREATE INDEX invoice_line_invoice_id_idx ON invoice_line (invoice_id);
CREATE TABLE playlist (playlist_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name varchar(120));
CREATE TABLE playlist_track (playlist_id int NOT NULL REFERENCES playlist (playlist_id),
    track_id int NOT NULL REFERENCES track (track_id), PRIMARY KEY (playlist_id, track_id));
"#;

/// Each source table with its columns, and the snake_case names the target uses.
const TABLES: &[(&str, &[&str])] = &[
    ("Artist", &["ArtistId", "Name"]),
    ("Album", &["AlbumId", "Title", "ArtistId"]),
    (
        "Employee",
        &[
            "EmployeeId",
            "LastName",
            "FirstName",
            "Title",
            "ReportsTo",
            "BirthDate",
            "HireDate",
            "Email",
        ],
    ),
    (
        "Customer",
        &[
            "CustomerId",
            "FirstName",
            "LastName",
            "Company",
            "Country",
            "Email",
            "SupportRepId",
        ],
    ),
    ("Genre", &["GenreId", "Name"]),
    ("MediaType", &["MediaTypeId", "Name"]),
    (
        "Track",
        &[
            "TrackId",
            "Name",
            "AlbumId",
            "MediaTypeId",
            "GenreId",
            "Composer",
            "Milliseconds",
            "Bytes",
            "UnitPrice",
        ],
    ),
    (
        "Invoice",
        &[
            "InvoiceId",
            "CustomerId",
            "InvoiceDate",
            "BillingCountry",
            "Total",
        ],
    ),
    (
        "InvoiceLine",
        &[
            "InvoiceLineId",
            "InvoiceId",
            "TrackId",
            "UnitPrice",
            "Quantity",
        ],
    ),
    ("Playlist", &["PlaylistId", "Name"]),
    ("PlaylistTrack", &["PlaylistId", "TrackId"]),
];

fn snake(name: &str) -> String {
    waybill::target::names::snake_case(name)
}

fn chinook() -> MyDb {
    let db = MyDb::new("chinook");
    db.exec(SOURCE);
    db
}

/// Every value of every table, source against target, as text; `rename` gives the
/// target's name for a table or `Table.Column` where it is not the snake_case form.
fn assert_same_values(db: &MyDb, pg: &PgDb, rename: &[(&str, &str)]) {
    let target = |name: &str| {
        rename
            .iter()
            .find(|(from, _)| *from == name)
            .map(|(_, to)| to.to_string())
            .unwrap_or_else(|| snake(name.rsplit('.').next().unwrap()))
    };
    let mut my = db.conn();
    let mut client = pg.client();
    for (table, columns) in TABLES {
        let key = columns[0];
        let my_sql = format!(
            "SELECT {} FROM `{table}` ORDER BY {}",
            columns
                .iter()
                .map(|c| format!("CAST(`{c}` AS CHAR)"))
                .collect::<Vec<_>>()
                .join(", "),
            columns
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let source: Vec<Vec<Option<String>>> = my
            .query_map(my_sql, |row: mysql::Row| {
                (0..row.len())
                    .map(|i| row.get::<Option<String>, _>(i).unwrap())
                    .collect()
            })
            .unwrap();
        let pg_cols: Vec<String> = columns
            .iter()
            .map(|c| format!("\"{}\"", target(&format!("{table}.{c}"))))
            .collect();
        // Ordered by the columns, not by their text (output names win in ORDER BY).
        let pg_sql = format!(
            "SELECT {} FROM \"{}\" t ORDER BY {}",
            pg_cols
                .iter()
                .map(|c| format!("{c}::text"))
                .collect::<Vec<_>>()
                .join(", "),
            target(table),
            pg_cols
                .iter()
                .map(|c| format!("t.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let loaded: Vec<Vec<Option<String>>> = client
            .query(&pg_sql, &[])
            .unwrap_or_else(|e| panic!("{pg_sql}: {e}"))
            .iter()
            .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
            .collect();
        assert!(!source.is_empty(), "{table} has rows");
        assert_eq!(loaded, source, "{table} (ordered by {key} ...)");
    }
}

fn write(work: &Work, name: &str, text: &str) -> String {
    let path = work.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn import_log(dump: &Path) -> String {
    let log = std::fs::read_dir(dump)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("import_log_")
        })
        .max()
        .expect("an import log");
    std::fs::read_to_string(log).unwrap()
}

#[test]
fn pascal_case_mysql_loads_into_a_snake_case_schema() {
    let db = chinook();
    let pg = PgDb::new("naming_snake");
    pg.exec(TARGET);
    let work = Work::new();
    let dump = work.export(&db, &[]);

    // The dry run shows every name that changes, and how it was found.
    let dry = work.import(&pg, &dump, &["--dry-run"]).ok();
    for expected in [
        "names that differ between the dump and the target:",
        "InvoiceLine.InvoiceLineId",
        "invoice_line_id",
        "Employee.ReportsTo",
        "reports_to",
        "snake_case, automatic",
    ] {
        assert!(dry.stderr.contains(expected), "{expected}:\n{}", dry.stderr);
    }
    assert!(
        dry.stderr
            .lines()
            .any(|l| l.starts_with("InvoiceLine ") && l.contains(" invoice_line ")),
        "{}",
        dry.stderr
    );
    assert!(
        dry.stdout
            .contains("\\copy \"public\".\"invoice_line\" (\"invoice_line_id\", \"invoice_id\""),
        "{}",
        dry.stdout
    );
    assert_eq!(pg.count("invoice_line"), 0, "a dry run writes nothing");

    let ran = work.import(&pg, &dump, &[]).ok();
    assert!(!ran.stderr.contains("skipped"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "names of `InvoiceLine`: table -> invoice_line, InvoiceLineId -> invoice_line_id, \
             InvoiceId -> invoice_id, TrackId -> track_id, UnitPrice -> unit_price (snake_case, \
             automatic); Quantity -> quantity (ignoring case)"
        ),
        "{}",
        ran.stderr
    );
    assert_same_values(&db, &pg, &[]);
    // The self-reference holds, and each identity sequence is past the data.
    assert_eq!(
        pg.text(
            "SELECT string_agg(e.first_name || '>' || coalesce(b.first_name, '-'), ' ' ORDER BY e.employee_id)
             FROM employee e LEFT JOIN employee b ON b.employee_id = e.reports_to"
        )
        .as_deref(),
        Some("Andrew>- Nancy>Andrew Jane>Nancy")
    );
    assert_sequences_past_max(
        &pg,
        &[
            ("invoice_line", "invoice_line_id"),
            ("employee", "employee_id"),
            ("media_type", "media_type_id"),
        ],
    );
    // The indexes dropped for the load are back, under the application's names.
    assert_eq!(
        pg.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'invoice_line_invoice_id_idx'")
            .as_deref(),
        Some(
            "CREATE INDEX invoice_line_invoice_id_idx ON public.invoice_line USING btree (invoice_id)"
        )
    );
    // The import log records the whole mapping.
    let log = import_log(&dump);
    assert!(
        log.contains(
            "names: table `InvoiceLine` -> \"public\".\"invoice_line\" (snake_case, automatic); \
             columns: `InvoiceLineId` -> \"invoice_line_id\" (snake_case, automatic), `InvoiceId` \
             -> \"invoice_id\""
        ),
        "{log}"
    );

    // waybill-verify finds the same tables and columns, and every value equal.
    let url = pg.url_text();
    let ran = work
        .run(
            "waybill-verify",
            &[dump.to_str().unwrap(), "--target", &url],
        )
        .ok();
    assert!(
        ran.stderr
            .contains("11 table(s), 37 rows, every value equal"),
        "{}",
        ran.stderr
    );

    // --identifiers snake_case asks for the same names outright.
    let ran = work
        .import(&pg, &dump, &["--identifiers", "snake_case", "--json", "-q"])
        .ok();
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let names = doc["names"].as_array().unwrap();
    assert!(
        names.contains(&serde_json::json!({
            "dump": "PlaylistTrack.TrackId", "target": "track_id", "how": "--identifiers snake_case"
        })),
        "{names:?}"
    );
    assert_same_values(&db, &pg, &[]);
}

#[test]
fn a_rename_file_names_what_no_rule_finds() {
    let db = chinook();
    let pg = PgDb::new("naming_rename");
    pg.exec(
        &TARGET
            .replace("CREATE TABLE playlist_track", "CREATE TABLE playlist_entry")
            .replace("milliseconds int NOT NULL", "duration_ms int NOT NULL"),
    );
    let work = Work::new();
    let dump = work.export(&db, &[]);

    // Without the file: the table is skipped (warned), the column is an error.
    let ran = work.import(&pg, &dump, &[]).failed();
    assert!(
        ran.stderr.contains(
            "table `Track`: no target column for `Milliseconds` in \"public\".\"track\" (target \
             has: track_id, name, album_id, media_type_id, genre_id, composer, duration_ms, \
             bytes, unit_price); name them with --rename-file"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("table `PlaylistTrack` skipped: no table \"public\".\"PlaylistTrack\""),
        "{}",
        ran.stderr
    );

    // A line that names nothing in the dump, and one whose target does not exist.
    let bad = write(
        &work,
        "bad.txt",
        "# typo below\nPlayListTrack=playlist_entry\n",
    );
    let ran = work.import(&pg, &dump, &["--rename-file", &bad]).failed();
    assert!(
        ran.stderr.contains(&format!(
            "--rename-file {bad} line 2: `PlayListTrack` is neither a table nor a table.column \
             of the dump"
        )),
        "{}",
        ran.stderr
    );
    let missing = write(
        &work,
        "missing.txt",
        "PlaylistTrack=playlist_entry\nTrack.Milliseconds = length_ms\n",
    );
    let ran = work
        .import(&pg, &dump, &["--rename-file", &missing])
        .failed();
    assert!(
        ran.stderr.contains(&format!(
            "--rename-file {missing} line 2: column `Track`.`Milliseconds` is renamed to \
             length_ms, which is not a column of \"public\".\"track\""
        )),
        "{}",
        ran.stderr
    );
    let syntax = write(&work, "syntax.txt", "PlaylistTrack playlist_entry\n");
    let ran = work
        .import(&pg, &dump, &["--rename-file", &syntax])
        .failed();
    assert!(
        ran.stderr.contains(&format!(
            "--rename-file {syntax} line 1: expected OldTable=new_table or \
             OldTable.OldColumn=new_column"
        )),
        "{}",
        ran.stderr
    );
    assert_eq!(pg.count("track"), 0, "nothing was written");

    let good = write(
        &work,
        "renames.txt",
        "# the application calls these differently\n\
         PlaylistTrack=playlist_entry   # a table\n\
         Track.Milliseconds=duration_ms # a column\n",
    );
    let ran = work.import(&pg, &dump, &["--rename-file", &good]).ok();
    assert!(
        ran.stderr
            .contains("names of `PlaylistTrack`: table -> playlist_entry (rename file line 2); PlaylistId -> playlist_id, TrackId -> track_id (snake_case, automatic)"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("Milliseconds -> duration_ms (rename file line 3)"),
        "{}",
        ran.stderr
    );
    assert_same_values(
        &db,
        &pg,
        &[
            ("PlaylistTrack", "playlist_entry"),
            ("Track.Milliseconds", "duration_ms"),
        ],
    );
    // waybill-verify takes the same file to find the same tables again.
    let url = pg.url_text();
    let dump_s = dump.to_str().unwrap();
    let ran = work
        .run(
            "waybill-verify",
            &[dump_s, "--target", &url, "--rename-file", &good],
        )
        .ok();
    assert!(
        ran.stderr
            .contains("11 table(s), 37 rows, every value equal"),
        "{}",
        ran.stderr
    );
    let ran = work
        .run("waybill-verify", &[dump_s, "--target", &url])
        .failed();
    assert!(
        ran.stderr
            .contains("no table \"public\".\"PlaylistTrack\" in the target"),
        "{}",
        ran.stderr
    );
}

#[test]
fn ambiguous_names_are_refused_before_any_write() {
    let db = chinook();
    let pg = PgDb::new("naming_ambiguous");
    pg.exec(TARGET);
    // Two columns whose snake_case form is invoice_id, neither equal to InvoiceId
    // ignoring case; and two tables equal to Genre ignoring case.
    pg.exec(
        "ALTER TABLE invoice_line ADD COLUMN \"Invoice_Id\" int;
         CREATE TABLE \"GENRE\" (genre_id int, name text);
         INSERT INTO artist VALUES (-1, 'kept');",
    );
    let work = Work::new();
    let dump = work.export(&db, &[]);
    let ran = work.import(&pg, &dump, &[]).failed();
    assert!(
        ran.stderr.contains(
            "table `InvoiceLine`: column `InvoiceId` matches several target columns by their \
             snake_case form: invoice_id, Invoice_Id (name the one to load into with \
             --rename-file)"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(
            "table `Genre`: several target tables match ignoring case: GENRE, genre (name the \
             one to load into with --rename-file)"
        ) || ran.stderr.contains(
            "table `Genre`: several target tables match ignoring case: genre, GENRE (name the \
             one to load into with --rename-file)"
        ),
        "{}",
        ran.stderr
    );
    assert_eq!(pg.count("artist"), 1, "nothing was written");
    // The rename file settles both.
    let renames = write(
        &work,
        "renames.txt",
        "Genre=genre\nInvoiceLine.InvoiceId=invoice_id\n",
    );
    work.import(&pg, &dump, &["--rename-file", &renames]).ok();
    assert_same_values(&db, &pg, &[]);

    // Two dump columns that would land on one target column.
    let db2 = MyDb::new("naming_collide");
    db2.exec(&[
        "CREATE TABLE t (id INT PRIMARY KEY, userId INT, user_id INT)",
        "INSERT INTO t VALUES (1, 2, 3)",
    ]);
    let pg2 = PgDb::new("naming_collide");
    let dump2 = work.export(&db2, &[]);
    let ran = work
        .import(
            &pg2,
            &dump2,
            &["--create-schema", "--identifiers", "snake_case"],
        )
        .failed();
    assert!(
        ran.stderr.contains(
            "table `t`: columns `userId` and `user_id` would both be named user_id in \
             PostgreSQL (--identifiers snake_case); give one of them another name with \
             --rename-file"
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn create_schema_with_snake_case_identifiers() {
    let db = chinook();
    let pg = PgDb::new("naming_create");
    let work = Work::new();
    let dump = work.export(&db, &[]);
    work.import(
        &pg,
        &dump,
        &["--create-schema", "--identifiers", "snake_case"],
    )
    .ok();
    let q = |sql: &str| pg.text(sql).unwrap_or_default();
    assert_eq!(
        q(
            "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
           WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        ),
        "album,artist,customer,employee,genre,invoice,invoice_line,media_type,playlist,playlist_track,track"
    );
    assert_eq!(
        q(
            "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
           WHERE attrelid = 'invoice_line'::regclass AND attnum > 0"
        ),
        "invoice_line_id,invoice_id,track_id,unit_price,quantity"
    );
    // Keys, indexes and foreign keys name the snake_case columns and tables.
    let constraints = q(
        "SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), '; ' ORDER BY conname)
         FROM pg_constraint WHERE conrelid = 'invoice_line'::regclass",
    );
    assert_eq!(
        constraints,
        "fk_invoice_line_invoice_id FOREIGN KEY (invoice_id) REFERENCES invoice(invoice_id) ON \
         UPDATE RESTRICT ON DELETE RESTRICT; fk_invoice_line_track_id FOREIGN KEY (track_id) \
         REFERENCES track(track_id) ON UPDATE RESTRICT ON DELETE RESTRICT; invoice_line_pkey \
         PRIMARY KEY (invoice_line_id)"
    );
    assert_eq!(
        q(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'fk_employee_reports_to'"
        ),
        "FOREIGN KEY (reports_to) REFERENCES employee(employee_id) ON UPDATE RESTRICT ON DELETE RESTRICT"
    );
    assert_eq!(
        q("SELECT indexdef FROM pg_indexes WHERE indexname = 'ifk_invoice_line_invoice_id'"),
        "CREATE INDEX ifk_invoice_line_invoice_id ON public.invoice_line USING btree (invoice_id)"
    );
    assert_eq!(
        q(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'playlist_track_pkey'"
        ),
        "PRIMARY KEY (playlist_id, track_id)"
    );
    assert_same_values(&db, &pg, &[]);
    assert_sequences_past_max(
        &pg,
        &[
            ("invoice_line", "invoice_line_id"),
            ("media_type", "media_type_id"),
            ("employee", "employee_id"),
        ],
    );
}
