//! A dump against its own manifest, with no database: the check to run after copying a
//! dump to another host. On top of what the import verifies (manifest, `SHA256SUMS`,
//! every file's size and sha256), every file is parsed as CSV: its header must be the
//! manifest's columns, every record must have one field per column, and the number of
//! records must be the manifest's row count. One read per file does all of it.

use std::path::Path;

use rayon::prelude::*;

use super::result::TableResult;
use super::sides::read_dump_file;
use super::{VerifyObserver, VerifyPlan};
use crate::dump::manifest::Manifest;

pub(super) fn check(
    plan: &VerifyPlan,
    dir: &Path,
    m: &Manifest,
    obs: &dyn VerifyObserver,
) -> Vec<TableResult> {
    let entries: Vec<_> = m
        .tables
        .iter()
        .filter(|t| plan.selected(t.name()))
        .collect();
    obs.started(
        &entries
            .iter()
            .map(|e| (e.name().to_string(), e.rows))
            .collect::<Vec<_>>(),
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.jobs.max(1))
        .build();
    let work = |entry: &&crate::dump::manifest::TableEntry| {
        let clock = std::time::Instant::now();
        let mut r = TableResult::new(entry.name());
        r.other_rows = entry.rows;
        for f in &entry.files {
            // A missing or resized file is already reported with the dump's problems.
            let size = std::fs::metadata(dir.join(&f.path)).map(|md| md.len()).ok();
            if size != Some(f.bytes) {
                r.problems
                    .push(format!("{}: missing or not the manifest's size", f.path));
                continue;
            }
            let mut unreported = 0u64;
            let name = entry.name();
            let checked = read_dump_file(dir, entry, f, &mut |_| {
                unreported += 1;
                if unreported == 4096 {
                    obs.rows(name, unreported);
                    unreported = 0;
                    crate::interrupt::check()?;
                }
                Ok(())
            });
            obs.rows(name, unreported);
            match checked {
                Ok(c) => {
                    r.rows += c.records;
                    if c.sha256 != f.sha256 {
                        r.problems.push(format!(
                            "{}: sha256 is {}, the manifest says {} (the file is corrupted or was changed)",
                            f.path, c.sha256, f.sha256
                        ));
                    }
                    if c.records != f.rows {
                        r.problems.push(format!(
                            "{}: {} CSV records, the manifest says {} rows",
                            f.path, c.records, f.rows
                        ));
                    }
                }
                Err(e) => r.problems.extend(super::problems_of(e)),
            }
        }
        if r.problems.is_empty() {
            r.equal = r.rows;
        }
        r.seconds = clock.elapsed().as_secs_f64();
        obs.table_done(&r);
        r
    };
    match pool {
        Ok(pool) => pool.install(|| entries.par_iter().map(work).collect()),
        Err(_) => entries.iter().map(work).collect(),
    }
}
