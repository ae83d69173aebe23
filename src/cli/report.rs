//! What a person sees: progress while work runs (only on a terminal, never with
//! --quiet), and summary tables at the end. Everything goes to stderr, so stdout stays
//! clean for what scripts read (the dump directory, or the `--json` document).
//!
//! Progress is one overall bar, a bar per table in flight (rows, bytes, rate, ETA),
//! and a spinner with a label for the steps that have no rows to count (hashing the
//! dump, building indexes, foreign keys, sequences). Tables are laid out to the
//! terminal's width: text cells wrap, numbers never do.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::printable::{escaped, escaped_lines};

/// What a bar counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Rows (the export: the length is the source's estimate); bytes are counted on
    /// the side with `bytes`.
    Rows,
    /// Bytes (the import: the length is exact); rows are shown in proportion, from the
    /// manifest's count.
    Bytes,
}

struct Bar {
    bar: ProgressBar,
    /// `Unit::Rows`: the bytes written so far.
    bytes: Arc<AtomicU64>,
}

/// The key under which the overall bar is kept.
const OVERALL: &str = "\0overall";
const PREFIX_WIDTH: usize = 16;

pub struct Progress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, Bar>>,
    spinners: Mutex<HashMap<String, ProgressBar>>,
    enabled: bool,
    quiet: bool,
}

/// `12,345,678` (the same grouping the dump's own reports use).
pub use crate::dump::collection::thousands;

/// Terminals narrower than this get bars without the bar itself (just the numbers),
/// so that a line never wraps.
const WIDE: usize = 100;

fn style(unit: Unit, rows_total: u64, bytes: Arc<AtomicU64>, overall: bool) -> ProgressStyle {
    let template = match (overall, width(Stream::Stderr) >= WIDE) {
        (true, true) => {
            "{prefix:16!.bold} {wide_bar} {rows:>19} rows {size:>10} {rate:>15} ETA {eta:>3}  {msg}"
        }
        (false, true) => {
            "{prefix:16!} {wide_bar} {rows:>19} rows {size:>10} {rate:>15} ETA {eta:>3}"
        }
        (true, false) => "{prefix:12!.bold} {rows} rows, {size}, {rate}, ETA {eta}, {msg}",
        (false, false) => "{prefix:12!} {rows} rows, {size}, {rate}, ETA {eta}",
    };
    let base = ProgressStyle::with_template(template)
        .expect("valid template")
        .progress_chars("=> ");
    match unit {
        Unit::Rows => base
            .with_key("rows", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = match s.len().filter(|l| *l > 0) {
                    Some(len) => write!(w, "{}/~{}", thousands(s.pos()), thousands(len)),
                    None => write!(w, "{}", thousands(s.pos())),
                };
            })
            .with_key(
                "size",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}", human_bytes(bytes.load(Ordering::Relaxed)));
                },
            )
            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{} rows/s", thousands(s.per_sec() as u64));
            }),
        Unit::Bytes => base
            .with_key(
                "rows",
                move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let len = s.len().unwrap_or(0).max(1);
                    let done = (s.pos().min(len) as u128 * rows_total as u128 / len as u128) as u64;
                    let _ = write!(w, "{}/{}", thousands(done), thousands(rows_total));
                },
            )
            .with_key("size", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", human_bytes(s.pos()));
            })
            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", human_bytes(s.per_sec() as u64));
            }),
    }
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
            spinners: Mutex::new(HashMap::new()),
            enabled,
            quiet,
        }
    }

    fn bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bar>> {
        self.bars.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, key: &str, label: &str, total: u64, unit: Unit, rows_total: u64, overall: bool) {
        if !self.enabled {
            return;
        }
        let bytes = Arc::new(AtomicU64::new(0));
        let bar = ProgressBar::new(total.max(1))
            .with_style(style(unit, rows_total, bytes.clone(), overall))
            .with_prefix(truncate(&escaped(label), PREFIX_WIDTH));
        // The overall bar stays on top; tables come and go below it.
        let bar = self.multi.add(bar);
        self.bars().insert(key.to_string(), Bar { bar, bytes });
    }

    /// The bar for the whole run: `total` in `unit` (rows: the source's estimate;
    /// bytes: exact), over `tables` tables; `rows_total` is the manifest's row count
    /// when the unit is bytes.
    pub fn overall(&self, label: &str, total: u64, unit: Unit, rows_total: u64, tables: usize) {
        self.add(OVERALL, label, total, unit, rows_total, true);
        if let Some(b) = self.bars().get(OVERALL) {
            b.bar.set_message(format!("0/{tables} tables"));
        }
    }

    /// One more table is done, for the overall bar's `n/N tables`.
    pub fn table_finished(&self, done: usize, tables: usize) {
        if let Some(b) = self.bars().get(OVERALL) {
            b.bar.set_message(format!("{done}/{tables} tables"));
        }
    }

    /// A table's bar: `total` rows (an estimate) or bytes; `rows_total` as in `overall`.
    pub fn start(&self, table: &str, total: u64, unit: Unit, rows_total: u64) {
        self.add(table, table, total, unit, rows_total, false);
    }

    /// Moves a table's bar (and the overall bar) on by `n` of its unit.
    pub fn inc(&self, table: &str, n: u64) {
        let bars = self.bars();
        for key in [table, OVERALL] {
            if let Some(b) = bars.get(key) {
                let b = &b.bar;
                if b.position() + n > b.length().unwrap_or(0) {
                    b.set_length(b.position() + n);
                }
                b.inc(n);
            }
        }
    }

    /// Bytes written for a table counted in rows (and for the overall bar).
    pub fn bytes(&self, table: &str, n: u64) {
        let bars = self.bars();
        for key in [table, OVERALL] {
            if let Some(b) = bars.get(key) {
                b.bytes.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub fn finish(&self, table: &str) {
        if let Some(b) = self.bars().remove(table) {
            b.bar.finish_and_clear();
        }
    }

    /// A spinner with `label` while a step without rows runs; with `total_bytes`, a bar
    /// of bytes too (`phase_inc`). `key` tells concurrent steps apart.
    pub fn phase(&self, key: &str, label: &str, total_bytes: Option<u64>) {
        if !self.enabled {
            return;
        }
        let template = match (total_bytes, width(Stream::Stderr) >= WIDE) {
            (Some(_), true) => {
                "{spinner} {msg} {wide_bar} {binary_bytes}/{binary_total_bytes}  {binary_bytes_per_sec}  ETA {eta}"
            }
            (Some(_), false) => "{spinner} {msg}: {binary_bytes}/{binary_total_bytes}, ETA {eta}",
            (None, _) => "{spinner} {msg} ({elapsed})",
        };
        let bar = match total_bytes {
            Some(n) => ProgressBar::new(n.max(1)),
            None => ProgressBar::new_spinner(),
        }
        .with_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        )
        .with_message(escaped(label).into_owned());
        let bar = self.multi.add(bar);
        bar.enable_steady_tick(Duration::from_millis(120));
        self.spinners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), bar);
    }

    /// Moves the bar of the phase `key` on by `n` bytes.
    pub fn phase_inc(&self, key: &str, n: u64) {
        if let Some(b) = self
            .spinners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
        {
            b.inc(n);
        }
    }

    pub fn phase_done(&self, key: &str) {
        if let Some(b) = self
            .spinners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)
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

    /// Removes every bar and spinner from the screen.
    pub fn clear(&self) {
        for (_, b) in self.bars().drain() {
            b.bar.finish_and_clear();
        }
        for (_, b) in self
            .spinners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            b.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.width() <= n {
        s.to_string()
    } else {
        let mut t = String::new();
        let mut w = 0;
        for c in s.chars() {
            let cw = c.width().unwrap_or(0);
            if w + cw > n - 1 {
                break;
            }
            w += cw;
            t.push(c);
        }
        t.push('~');
        t
    }
}

/// Which stream a table is printed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The width tables are laid out to: `COLUMNS` when set, else the terminal's width when
/// `stream` is a terminal, else 120.
pub fn width(stream: Stream) -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return n;
    }
    let term = match stream {
        Stream::Stdout => console::Term::stdout(),
        Stream::Stderr => console::Term::stderr(),
    };
    term.size_checked()
        .map(|(_, cols)| cols as usize)
        .unwrap_or(120)
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || ",. KMGTiBs/%-".contains(c))
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '-')
}

/// Splits `text` into lines no wider than `width` columns: at spaces where it can, in
/// the middle of a word where it must.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut line_w = 0;
    for word in text.split(' ') {
        let ww = word.width();
        let gap = usize::from(!line.is_empty());
        if line_w + gap + ww <= width {
            if gap == 1 {
                line.push(' ');
            }
            line.push_str(word);
            line_w += gap + ww;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            line_w = 0;
        }
        for c in word.chars() {
            let cw = c.width().unwrap_or(0);
            if line_w + cw > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line_w = 0;
            }
            line.push(c);
            line_w += cw;
        }
    }
    lines.push(line);
    lines
}

/// A plain text table, at most `max_width` columns wide where the numbers allow it:
/// numbers right-aligned and never wrapped, text left-aligned and wrapped when the
/// table would be too wide (the widest text column gives way first). Control
/// characters in cells (names and messages from a dump or an audit log) are escaped.
pub fn render_table_width(headers: &[&str], rows: &[Vec<String>], max_width: usize) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escaped(c).into_owned()).collect())
        .collect();
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.width());
        }
    }
    let numeric_col: Vec<bool> = (0..n)
        .map(|i| {
            i > 0
                && rows
                    .iter()
                    .all(|r| r.get(i).is_none_or(|c| c.is_empty() || is_numeric(c)))
        })
        .collect();
    // Prose (a cell with two spaces or more, like a message) gives way first, down to
    // 20 columns; then any text column, widest first, down to its header and at least 8.
    // Identifiers (run ids, names) so stay whole as long as possible.
    let prose: Vec<bool> = (0..n)
        .map(|i| {
            !numeric_col[i]
                && rows
                    .iter()
                    .any(|r| r.get(i).is_some_and(|c| c.matches(' ').count() >= 2))
        })
        .collect();
    let floor: Vec<usize> = (0..n)
        .map(|i| widths[i].min(headers[i].width().max(8)))
        .collect();
    let prose_floor: Vec<usize> = (0..n).map(|i| floor[i].max(20)).collect();
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * n.saturating_sub(1);
    let text_col: Vec<bool> = numeric_col.iter().map(|n| !n).collect();
    for (eligible, floors) in [(&prose, &prose_floor), (&text_col, &floor)] {
        while total(&widths) > max_width {
            let widest = (0..n)
                .filter(|&i| eligible[i] && widths[i] > floors[i])
                .max_by_key(|&i| widths[i]);
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
    }
    let fmt_row = |cells: Vec<&str>, header: bool, out: &mut String| {
        let wrapped: Vec<Vec<String>> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if numeric_col[i] || c.width() <= widths[i] {
                    vec![c.to_string()]
                } else {
                    wrap(c, widths[i])
                }
            })
            .collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
        for line in 0..height {
            let text = wrapped
                .iter()
                .enumerate()
                .map(|(i, lines)| {
                    let c = lines.get(line).map(String::as_str).unwrap_or("");
                    let pad = " ".repeat(widths[i].saturating_sub(c.width()));
                    // A number right-aligned; a piece of wrapped text never is.
                    let number = numeric_col[i] || (i > 0 && lines.len() == 1 && is_numeric(c));
                    if !header && number {
                        format!("{pad}{c}")
                    } else {
                        format!("{c}{pad}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ");
            out.push_str(text.trim_end());
            out.push('\n');
        }
    };
    let mut out = String::new();
    fmt_row(headers.to_vec(), true, &mut out);
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    out.push('\n');
    for r in &rows {
        fmt_row(r.iter().map(String::as_str).collect(), false, &mut out);
    }
    out
}

/// `render_table_width` for the width of `stream`.
pub fn render_table_for(stream: Stream, headers: &[&str], rows: &[Vec<String>]) -> String {
    render_table_width(headers, rows, width(stream))
}

/// A table without a width limit (for files and logs).
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    render_table_width(headers, rows, usize::MAX)
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

/// Rows per second with thousands separators, or `-` for no time.
pub fn per_second(n: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    thousands((n as f64 / secs).round() as u64)
}

/// `12.34 s`, or `2 min 03.4 s` from a minute on.
pub fn elapsed(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.2} s")
    } else {
        let whole = secs as u64;
        format!(
            "{} min {:04.1} s",
            whole / 60,
            secs - (whole / 60 * 60) as f64
        )
    }
}

/// Writes a line to stderr, ignoring failure: after SIGHUP the terminal may be gone,
/// and a failed message must not stop the run from rolling back and logging `failed`
/// (`eprintln!` would panic).
pub fn stderr_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Writes text to stderr, ignoring failure (see `stderr_line`).
pub fn stderr_text(text: &str) {
    use std::io::Write;
    let _ = write!(std::io::stderr(), "{text}");
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
                vec!["payment".into(), "16,049".into()],
            ],
        );
        assert_eq!(
            t,
            "table    rows\n-------  ------\nactor       200\npayment  16,049\n"
        );
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn numbers_read_in_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(16049), "16,049");
        assert_eq!(thousands(1234567890), "1,234,567,890");
        assert_eq!(per_second(1_000_000, 2.0), "500,000");
        assert_eq!(per_second(5, 0.0), "-");
        assert_eq!(elapsed(3.456), "3.46 s");
        assert_eq!(elapsed(123.4), "2 min 03.4 s");
    }

    #[test]
    fn tables_fit_the_width_by_wrapping_text() {
        let rows = vec![
            vec![
                "2026-11-23 10:15:02".to_string(),
                "20261123T101502Z-export-3fa9c1d2".into(),
                "1,234".into(),
                "export of mysql://app@db:3306/shop completed: 16 tables, 46,000 rows, and a \
                 message long enough to need several lines"
                    .into(),
            ],
            vec![
                "2026-11-23 10:15:03".into(),
                "r2".into(),
                "-".into(),
                "ünïcode ✓ 名前名前名前名前名前名前名前名前名前名前名前名前".into(),
            ],
        ];
        let headers = ["time (UTC)", "run", "rows", "message"];
        for width in [60, 80, 100] {
            let t = render_table_width(&headers, &rows, width);
            for line in t.lines() {
                assert!(line.width() <= width, "{width}: {line:?}\n{t}");
            }
            // Nothing is lost: the words are still there.
            for word in ["several", "1,234", "2026-11-23"] {
                assert!(t.contains(word), "{t}");
            }
        }
        let wide = render_table_width(&headers, &rows, 1000);
        assert_eq!(wide.lines().count(), 4, "{wide}");
    }

    #[test]
    fn wrapping_breaks_at_spaces_then_inside_words() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("名前名前", 4), ["名前", "名前"]);
        assert_eq!(wrap("", 4), [""]);
    }
}
