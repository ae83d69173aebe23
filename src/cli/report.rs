//! What a person sees: a progress bar per table while work runs (only on a terminal,
//! never with --quiet), and a summary table at the end. Everything goes to stderr, so
//! stdout stays clean for the one line scripts read (the dump directory).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::printable::{escaped, escaped_lines};

pub enum Unit {
    Rows,
    Bytes,
}

pub struct Progress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    enabled: bool,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let enabled = !quiet && std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if enabled {
            ProgressDrawTarget::stderr_with_hz(8)
        } else {
            ProgressDrawTarget::hidden()
        });
        Progress {
            multi,
            bars: Mutex::new(HashMap::new()),
            enabled,
            quiet,
        }
    }

    pub fn start(&self, table: &str, total: u64, unit: Unit) {
        if !self.enabled {
            return;
        }
        let template = match unit {
            Unit::Rows => {
                "{prefix:>24.bold} [{bar:30}] {human_pos:>11} rows {rate:>14} {elapsed:>4}"
            }
            Unit::Bytes => {
                "{prefix:>24.bold} [{bar:30}] {binary_bytes:>10}/{binary_total_bytes:<10} {binary_bytes_per_sec:>12} {elapsed:>4}"
            }
        };
        let bar = self.multi.add(
            ProgressBar::new(total.max(1))
                .with_style(
                    ProgressStyle::with_template(template)
                        .expect("valid template")
                        .with_key(
                            "rate",
                            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                                let _ = write!(w, "{:.0} rows/s", state.per_sec());
                            },
                        )
                        .progress_chars("=> "),
                )
                .with_prefix(truncate(&escaped(table), 24)),
        );
        self.bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.to_string(), bar);
    }

    pub fn inc(&self, table: &str, n: u64) {
        if let Some(b) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
        {
            if b.position() + n > b.length().unwrap_or(0) {
                b.set_length(b.position() + n);
            }
            b.inc(n);
        }
    }

    pub fn finish(&self, table: &str) {
        if let Some(b) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(table)
        {
            b.finish_and_clear();
        }
    }

    /// An informational line above the bars; silent with --quiet.
    pub fn info(&self, line: &str) {
        if !self.quiet {
            self.println(line);
        }
    }

    /// A warning: printed even with --quiet.
    pub fn warn(&self, message: &str) {
        self.println(&format!("warning: {message}"));
    }

    /// Control characters in `line` (text from a dump or a server) are escaped.
    fn println(&self, line: &str) {
        let line = &*escaped_lines(line);
        if self.enabled {
            let _ = self.multi.println(line);
        } else {
            stderr_line(line);
        }
    }

    pub fn clear(&self) {
        let _ = self.multi.clear();
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('~');
        t
    }
}

/// A plain text table: numbers right-aligned, text left-aligned. Control characters in
/// cells (names and messages from a dump or an audit log) are escaped.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escaped(c).into_owned()).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let numeric = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_digit() || ",. KMGTiBs/%-".contains(c))
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == '-')
    };
    let fmt_row = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                if numeric(c) && i > 0 {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = fmt_row(headers.to_vec());
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.push('\n');
    for r in rows {
        out.push_str(&fmt_row(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn per_second(n: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    format!("{:.0}", n as f64 / secs)
}

/// Writes a line to stderr, ignoring failure: after SIGHUP the terminal may be gone,
/// and a failed message must not stop the run from rolling back and logging `failed`
/// (`eprintln!` would panic).
pub fn stderr_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_alignment() {
        let t = render_table(
            &["table", "rows"],
            &[
                vec!["actor".into(), "200".into()],
                vec!["payment".into(), "16049".into()],
            ],
        );
        assert_eq!(
            t,
            "table    rows\n-------  -----\nactor      200\npayment  16049\n"
        );
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
