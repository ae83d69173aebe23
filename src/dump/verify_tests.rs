//! Unit tests for `verify`: a small dump built on disk (a table in one file, a table in
//! two chunks), then damaged one way at a time. Each case asserts the exact problem
//! reported, so a check that is skipped, weakened or worded without the file name fails.

use std::fs;
use std::path::{Path, PathBuf};

use super::hashing::sha256_hex;
use super::manifest::{
    CsvDialect, ExportOptions, FileEntry, MANIFEST_FILE, Manifest, SUMS_FILE, Snapshot, Source,
    TableEntry, Tool, Totals, sums_text,
};
use super::schema::Table;
use super::verify::{VerifiedDump, verify_dump};
use crate::error::Error;

const A: &[u8] = b"id,v\n1,x\n2,y\n";
const B1: &[u8] = b"id\n1\n2\n3\n";
const B2: &[u8] = b"id\n4\n";

struct Dump {
    dir: tempfile::TempDir,
}

fn file(path: &str, data: &[u8], rows: u64) -> FileEntry {
    FileEntry {
        path: path.into(),
        rows,
        bytes: data.len() as u64,
        sha256: sha256_hex(data),
        key_range: None,
        role: None,
        compression: None,
    }
}

/// A table whose columns are the names in its files' header line.
fn entry(name: &str, header: &[u8], files: Vec<FileEntry>) -> TableEntry {
    let columns = std::str::from_utf8(header)
        .unwrap()
        .split(',')
        .map(|c| {
            serde_json::from_value(serde_json::json!({
                "name": c, "column_type": "int(11)", "data_type": "int",
                "nullable": true, "encoding": "integer", "unsigned": false,
            }))
            .unwrap()
        })
        .collect();
    TableEntry {
        schema: Table {
            name: name.into(),
            columns,
            ..Table::default()
        },
        rows: files.iter().map(|f| f.rows).sum(),
        bytes: files.iter().map(|f| f.bytes).sum(),
        sha256: None,
        duration_secs: 0.0,
        files,
        upserts: None,
        deletes: None,
    }
}

fn manifest(tables: Vec<TableEntry>) -> Manifest {
    let totals = Totals {
        tables: tables.len(),
        files: tables.iter().map(|t| t.files.len()).sum(),
        rows: tables.iter().map(|t| t.rows).sum(),
        bytes: tables.iter().map(|t| t.bytes).sum(),
        ..Totals::default()
    };
    Manifest {
        format: super::manifest::FORMAT.into(),
        format_version: super::manifest::FORMAT_VERSION,
        kind: Default::default(),
        tool: Tool::current("waybill-export"),
        created_at: "2024-01-01T00:00:00Z".into(),
        completed_at: "2024-01-01T00:00:01Z".into(),
        source: Source {
            engine: "mariadb".into(),
            server_version: "10.11".into(),
            host: "h".into(),
            port: 3306,
            database: "d".into(),
            user: "u".into(),
            charset: "utf8mb4".into(),
            time_zone: "+00:00".into(),
            tls_cipher: None,
            path: None,
            input_format: None,
            journal_mode: None,
            server_id: None,
            server_uuid: None,
        },
        snapshot: Snapshot::default(),
        csv: CsvDialect::default(),
        options: ExportOptions::default(),
        tables,
        views: Vec::new(),
        totals,
        delta: None,
    }
}

impl Dump {
    /// The intact dump: a.csv, b.0001.csv, b.0002.csv, the manifest and SHA256SUMS.
    fn new() -> Self {
        let d = Dump {
            dir: tempfile::tempdir().unwrap(),
        };
        let m = manifest(vec![
            entry("a", b"id,v", vec![file("a.csv", A, 2)]),
            entry(
                "b",
                b"id",
                vec![file("b.0001.csv", B1, 3), file("b.0002.csv", B2, 1)],
            ),
        ]);
        d.write("a.csv", A);
        d.write("b.0001.csv", B1);
        d.write("b.0002.csv", B2);
        d.write_manifest(&m, true);
        d
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn at(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    fn write(&self, name: &str, data: &[u8]) {
        fs::write(self.at(name), data).unwrap();
    }

    /// Writes the manifest and, when `sums`, a SHA256SUMS that agrees with it.
    fn write_manifest(&self, m: &Manifest, sums: bool) {
        let json = m.to_json();
        self.write(MANIFEST_FILE, &json);
        if sums {
            let mut lines: Vec<(String, String)> = m
                .files()
                .map(|(_, f)| (f.sha256.clone(), f.path.clone()))
                .collect();
            lines.push((sha256_hex(&json), MANIFEST_FILE.into()));
            self.write(SUMS_FILE, sums_text(&lines).as_bytes());
        }
    }

    fn manifest(&self) -> Manifest {
        Manifest::load(self.path()).unwrap().0
    }

    fn sums(&self) -> String {
        fs::read_to_string(self.at(SUMS_FILE)).unwrap()
    }

    fn verify(&self) -> Result<VerifiedDump, Error> {
        verify_dump(self.path(), |_| true, &())
    }

    /// The problems a failed verification lists.
    fn problems(&self) -> Vec<String> {
        match self.verify() {
            Err(Error::Verification(p)) => p,
            Err(e) => panic!("expected a verification error, got: {e}"),
            Ok(_) => panic!("the damaged dump verified"),
        }
    }
}

#[test]
fn an_intact_dump_verifies_and_counts_what_it_hashed() {
    let d = Dump::new();
    let v = d.verify().unwrap();
    assert_eq!(v.hashed_files, 3);
    assert_eq!(v.hashed_bytes, (A.len() + B1.len() + B2.len()) as u64);
    assert_eq!(
        v.manifest_sha256,
        sha256_hex(&fs::read(d.at(MANIFEST_FILE)).unwrap())
    );
    assert_eq!(v.dir, d.path());
    assert_eq!(v.manifest.tables.len(), 2);
}

#[test]
fn a_subset_hashes_only_its_tables_but_checks_every_size() {
    let d = Dump::new();
    let v = verify_dump(d.path(), |t| t == "b", &()).unwrap();
    assert_eq!(v.hashed_files, 2);
    assert_eq!(v.hashed_bytes, (B1.len() + B2.len()) as u64);
    // A same-size change in a table that is not loaded is not hashed ...
    d.write("a.csv", b"id,v\n1,x\n2,z\n");
    assert!(verify_dump(d.path(), |t| t == "b", &()).is_ok());
    // ... but a missing or truncated file is found in every table.
    d.write("a.csv", b"id,v\n");
    let Err(Error::Verification(p)) = verify_dump(d.path(), |t| t == "b", &()) else {
        panic!("truncated a.csv passed");
    };
    assert_eq!(
        p,
        [format!(
            "a.csv: 5 bytes, the manifest says {} (truncated or changed)",
            A.len()
        )]
    );
}

#[test]
fn a_changed_byte_is_named_with_both_hashes() {
    let d = Dump::new();
    d.write("b.0002.csv", b"id\n5\n");
    assert_eq!(
        d.problems(),
        [format!(
            "b.0002.csv: sha256 is {}, the manifest says {} (the file is corrupted or was changed)",
            sha256_hex(b"id\n5\n"),
            sha256_hex(B2)
        )]
    );
}

#[test]
fn missing_and_truncated_files_are_all_named_in_one_run() {
    let d = Dump::new();
    fs::remove_file(d.at("b.0001.csv")).unwrap();
    d.write("a.csv", &A[..4]);
    assert_eq!(
        d.problems(),
        [
            format!(
                "a.csv: 4 bytes, the manifest says {} (truncated or changed)",
                A.len()
            ),
            "b.0001.csv: file is missing (table `b`)".to_string(),
        ]
    );
}

/// The manifest claiming one row more for `a`, consistently (file, table and totals), so
/// only the hashes can tell.
fn one_row_more(mut m: Manifest) -> Manifest {
    m.tables[0].files[0].rows += 1;
    m.tables[0].rows += 1;
    m.totals.rows += 1;
    m
}

#[test]
fn an_empty_or_missing_sha256sums_fails() {
    let d = Dump::new();
    d.write(SUMS_FILE, b"");
    assert_eq!(
        d.problems(),
        ["SHA256SUMS is empty: it must list migration_manifest.json and every data file"]
    );
    // An edited manifest cannot hide behind an emptied SHA256SUMS.
    d.write_manifest(&one_row_more(d.manifest()), false);
    d.write(SUMS_FILE, b"\n\n");
    assert_eq!(
        d.problems(),
        ["SHA256SUMS is empty: it must list migration_manifest.json and every data file"]
    );
    fs::remove_file(d.at(SUMS_FILE)).unwrap();
    let p = d.problems();
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("SHA256SUMS: cannot read it ("), "{p:?}");
}

#[test]
fn an_edited_manifest_disagrees_with_sha256sums() {
    let d = Dump::new();
    let old = sha256_hex(&fs::read(d.at(MANIFEST_FILE)).unwrap());
    d.write_manifest(&one_row_more(d.manifest()), false);
    let new = sha256_hex(&fs::read(d.at(MANIFEST_FILE)).unwrap());
    assert_eq!(
        d.problems(),
        [format!(
            "migration_manifest.json: sha256 is {new}, SHA256SUMS says {old} (the manifest was changed)"
        )]
    );
}

#[test]
fn sha256sums_must_list_exactly_the_manifests_files() {
    let d = Dump::new();
    let sums = d.sums();
    let without = |name: &str| -> String {
        sums.lines()
            .filter(|l| !l.ends_with(&format!("  {name}")))
            .map(|l| format!("{l}\n"))
            .collect()
    };

    d.write(SUMS_FILE, without(MANIFEST_FILE).as_bytes());
    assert_eq!(
        d.problems(),
        ["SHA256SUMS has no line for migration_manifest.json"]
    );

    d.write(SUMS_FILE, without("a.csv").as_bytes());
    assert_eq!(d.problems(), ["a.csv: missing from SHA256SUMS"]);

    let other = "f".repeat(64);
    d.write(SUMS_FILE, sums.replace(&sha256_hex(B1), &other).as_bytes());
    assert_eq!(
        d.problems(),
        [format!(
            "b.0001.csv: the manifest says sha256 {}, SHA256SUMS says {other}",
            sha256_hex(B1)
        )]
    );

    d.write(SUMS_FILE, format!("{sums}{other}  extra.csv\n").as_bytes());
    assert_eq!(
        d.problems(),
        ["SHA256SUMS lists extra.csv, which the manifest does not"]
    );

    d.write(SUMS_FILE, format!("{sums}not a line\n").as_bytes());
    assert_eq!(d.problems(), ["SHA256SUMS: line 5: not `<sha256>  <file>`"]);

    // Upper-case hex and the binary-mode marker are what sha256sum may write.
    d.write(
        SUMS_FILE,
        sums.to_uppercase()
            .replace("  A.CSV", " *a.csv")
            .replace("  B.0001.CSV", "  b.0001.csv")
            .replace("  B.0002.CSV", "  b.0002.csv")
            .replace("  MIGRATION_MANIFEST.JSON", "  migration_manifest.json")
            .as_bytes(),
    );
    assert!(d.verify().is_ok());
}

#[test]
fn manifest_paths_must_stay_in_the_dump_directory() {
    let d = Dump::new();
    let mut m = d.manifest();
    m.tables[0].files[0].path = "../a.csv".into();
    d.write_manifest(&m, true);
    assert_eq!(
        d.problems(),
        [format!(
            "{}: tables[0].files[0].path: \"../a.csv\" is not the name of a .csv file in the dump directory",
            d.at(MANIFEST_FILE).display()
        )]
    );
}
