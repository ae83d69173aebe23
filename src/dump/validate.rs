//! The one boundary where a manifest becomes trusted. A dump may have been crafted, so
//! before anything uses a manifest (verification, pre-flight, `--create-schema`), every
//! name, number, default, key and reference in it is checked here, once, and anything
//! inconsistent is refused with a message that names the manifest field
//! (`tables[3].primary_key[0]: column "idd" is not a column of table "t"`). Everything
//! after this can rely on what it checks:
//!
//! - names (tables, columns, indexes, keys, checks, views) are non-empty, at most 64
//!   characters (MySQL's limit), free of control characters, and unique where MySQL
//!   makes them unique;
//! - keys, indexes, chunk ranges and foreign keys name columns of their table (and of
//!   the referenced table when it is in the dump), with matching column counts;
//! - numbers are in MySQL's ranges (bit(1..64), decimal(1..65, 0..30), fractional
//!   seconds 0..6), per-column counts never exceed the table's rows, and a table's rows
//!   and bytes are the sums of its files';
//! - literal defaults have the shape of their column's values (a date default is a
//!   date); no text holds a NUL byte, which PostgreSQL cannot store;
//! - file names are plain `.csv` names inside the dump directory, each used once
//!   (`.csv.zst` for a file whose `compression` is `zstd`); `options.compress`, when
//!   present, is a compression waybill writes;
//! - the CSV dialect is the one waybill writes;
//! - a delta's files are each an `upserts` or a `deletes` file with matching counts, and
//!   a full dump has none of a delta's fields.

use std::collections::{HashMap, HashSet};

use crate::dump::encoding::Encoding;
use crate::dump::manifest::{Compress, CsvDialect, DumpKind, FileRole, Manifest, TableEntry};
use crate::dump::schema::{Column, ColumnDefault, Table};
use crate::printable::{escaped, is_unsafe};

/// MySQL's limit for identifiers.
const MAX_MYSQL_NAME_CHARS: usize = 64;
/// Other sources allow longer names: SQLite has no limit of its own, a MongoDB
/// namespace (database and collection) has up to 255 bytes and a field name no limit.
/// `--create-schema` fits longer names to PostgreSQL's 63 bytes with a hash suffix.
const MAX_NAME_CHARS: usize = 255;
/// At most this many problems are listed; the rest are counted.
const MAX_PROBLEMS: usize = 25;

/// `"name"`, with control characters escaped, for messages.
fn q(s: &str) -> String {
    format!("\"{}\"", escaped(s))
}

struct Problems {
    found: Vec<String>,
    /// The longest name the source engine allows.
    max_name: usize,
}

impl Problems {
    fn push(&mut self, at: &str, what: impl std::fmt::Display) {
        self.found.push(format!("{at}: {what}"));
    }

    fn name(&mut self, at: &str, kind: &str, name: &str) {
        if name.is_empty() {
            self.push(at, format!("the {kind} name is empty"));
        } else if name.chars().any(is_unsafe) {
            self.push(
                at,
                format!("the {kind} name {} contains control characters", q(name)),
            );
        } else if name.chars().count() > self.max_name {
            self.push(
                at,
                format!(
                    "the {kind} name {} is longer than {} characters",
                    q(name),
                    self.max_name
                ),
            );
        }
    }

    /// Text PostgreSQL must be able to hold (comments, defaults, CHECK clauses).
    fn text(&mut self, at: &str, s: &str) {
        if s.contains('\0') {
            self.push(at, "contains a NUL byte, which PostgreSQL text cannot hold");
        }
    }

    fn at_most(&mut self, at: &str, n: u64, max: u64, of: &str) {
        if n > max {
            self.push(at, format!("{n} is more than {of} ({max})"));
        }
    }
}

/// Checks a parsed manifest; `Err` lists the problems, each naming its field.
pub(crate) fn validate(m: &Manifest) -> Result<(), Vec<String>> {
    let max_name = match m.source.engine.as_str() {
        "mysql" | "mariadb" => MAX_MYSQL_NAME_CHARS,
        _ => MAX_NAME_CHARS,
    };
    let mut p = Problems {
        found: Vec::new(),
        max_name,
    };
    dialect(&m.csv, &mut p);
    if let Some(c) = &m.options.compress
        && let Err(e) = Compress::parse(c)
    {
        p.push("options.compress", e);
    }
    let by_name: HashMap<&str, &Table> = m.tables.iter().map(|t| (t.name(), &t.schema)).collect();
    let mut table_at: HashMap<&str, usize> = HashMap::new();
    let mut file_at: HashMap<&str, String> = HashMap::new();
    let (mut files, mut rows, mut bytes) = (0usize, Some(0u64), Some(0u64));
    for (i, t) in m.tables.iter().enumerate() {
        let at = format!("tables[{i}]");
        p.name(&format!("{at}.name"), "table", t.name());
        if let Some(j) = table_at.insert(t.name(), i) {
            p.push(
                &format!("{at}.name"),
                format!("table {} appears twice (also tables[{j}])", q(t.name())),
            );
        }
        table(&at, t, &by_name, &mut file_at, &mut p);
        files += t.files.len();
        rows = rows.and_then(|r| r.checked_add(t.rows));
        bytes = bytes.and_then(|b| b.checked_add(t.bytes));
    }
    for (i, v) in m.views.iter().enumerate() {
        p.name(&format!("views[{i}].name"), "view", &v.name);
    }
    kind(m, &mut p);
    let totals = [
        (
            "tables",
            Some(m.tables.len() as u64),
            m.totals.tables as u64,
        ),
        ("views", Some(m.views.len() as u64), m.totals.views as u64),
        ("files", Some(files as u64), m.totals.files as u64),
        ("rows", rows, m.totals.rows),
        ("bytes", bytes, m.totals.bytes),
    ];
    for (field, sum, total) in totals {
        if sum != Some(total) {
            p.push(
                &format!("totals.{field}"),
                format!(
                    "{total}, but the tables add up to {}",
                    sum.map_or("more than 2^64".to_string(), |s| s.to_string())
                ),
            );
        }
    }
    let mut problems = p.found;
    if problems.is_empty() {
        return Ok(());
    }
    if problems.len() > MAX_PROBLEMS {
        let more = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(format!("... and {more} more problem(s)"));
    }
    Err(problems)
}

fn dialect(d: &CsvDialect, p: &mut Problems) {
    let want = CsvDialect::default();
    let fields = [
        ("delimiter", &d.delimiter, &want.delimiter),
        ("quote", &d.quote, &want.quote),
        ("escape", &d.escape, &want.escape),
        ("null", &d.null, &want.null),
        ("encoding", &d.encoding, &want.encoding),
        ("line_terminator", &d.line_terminator, &want.line_terminator),
    ];
    for (field, got, want) in fields {
        if got != want {
            p.push(
                &format!("csv.{field}"),
                format!(
                    "{}, but waybill reads only dumps written with {}",
                    q(got),
                    q(want)
                ),
            );
        }
    }
    if !d.header {
        p.push(
            "csv.header",
            "false, but waybill reads only dumps with a header row",
        );
    }
}

fn table<'m>(
    at: &str,
    t: &'m TableEntry,
    tables: &HashMap<&str, &Table>,
    file_at: &mut HashMap<&'m str, String>,
    p: &mut Problems,
) {
    let s = &t.schema;
    let tq = q(&s.name);
    p.text(&format!("{at}.comment"), &s.comment);
    if s.columns.is_empty() {
        p.push(
            &format!("{at}.columns"),
            format!("table {tq} has no columns"),
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut auto_increment: Option<&str> = None;
    for (j, c) in s.columns.iter().enumerate() {
        let cat = format!("{at}.columns[{j}]");
        p.name(&format!("{cat}.name"), "column", &c.name);
        if let Some(k) = names.insert(&c.name, j) {
            p.push(
                &format!("{cat}.name"),
                format!(
                    "column {} appears twice in table {tq} (also columns[{k}])",
                    q(&c.name)
                ),
            );
        }
        if c.auto_increment {
            if let Some(other) = auto_increment {
                p.push(
                    &format!("{cat}.auto_increment"),
                    format!(
                        "table {tq} has a second AUTO_INCREMENT column (also {})",
                        q(other)
                    ),
                );
            }
            auto_increment = Some(&c.name);
        }
        column(&cat, c, t.rows, p);
    }
    let is_column = |c: &str| names.contains_key(c);
    let column_list = |field: &str, cols: &[String], p: &mut Problems| {
        let mut seen = HashSet::new();
        for (k, c) in cols.iter().enumerate() {
            let kat = format!("{at}.{field}[{k}]");
            if !is_column(c) {
                p.push(
                    &kat,
                    format!("column {} is not a column of table {tq}", q(c)),
                );
            } else if !seen.insert(c.as_str()) {
                p.push(&kat, format!("column {} is listed twice", q(c)));
            }
        }
    };
    column_list("primary_key", &s.primary_key, p);

    let mut index_names = HashSet::new();
    for (k, idx) in s.indexes.iter().enumerate() {
        let iat = format!("{at}.indexes[{k}]");
        p.name(&format!("{iat}.name"), "index", &idx.name);
        if !index_names.insert(idx.name.as_str()) {
            p.push(
                &format!("{iat}.name"),
                format!("index {} appears twice in table {tq}", q(&idx.name)),
            );
        }
        p.text(&format!("{iat}.comment"), &idx.comment);
        let kind = idx.kind.to_ascii_uppercase();
        if !matches!(kind.as_str(), "BTREE" | "HASH" | "FULLTEXT" | "SPATIAL") {
            p.push(
                &format!("{iat}.kind"),
                format!(
                    "{} is not an index kind (BTREE, HASH, FULLTEXT or SPATIAL)",
                    q(&idx.kind)
                ),
            );
        }
        if idx.columns.is_empty() {
            p.push(&format!("{iat}.columns"), "the index has no columns");
        }
        for (l, ic) in idx.columns.iter().enumerate() {
            let cat = format!("{iat}.columns[{l}]");
            match (&ic.name, &ic.expression) {
                (Some(c), _) if !is_column(c) => p.push(
                    &format!("{cat}.name"),
                    format!("column {} is not a column of table {tq}", q(c)),
                ),
                // An expression part the source could not spell out (SQLite); the
                // index is then reported and not created.
                (None, None) => {}
                _ => {}
            }
            if let Some(e) = &ic.expression {
                p.text(&format!("{cat}.expression"), e);
            }
            if let Some(n) = ic.prefix {
                if n == 0 {
                    p.push(&format!("{cat}.prefix"), "0 is not a prefix length");
                }
                p.at_most(&format!("{cat}.prefix"), n, 65_535, "any prefix length");
            }
        }
    }

    let mut fk_names = HashSet::new();
    for (k, fk) in s.foreign_keys.iter().enumerate() {
        let fat = format!("{at}.foreign_keys[{k}]");
        p.name(&format!("{fat}.name"), "foreign key", &fk.name);
        if !fk_names.insert(fk.name.as_str()) {
            p.push(
                &format!("{fat}.name"),
                format!("foreign key {} appears twice in table {tq}", q(&fk.name)),
            );
        }
        if fk.columns.is_empty() {
            p.push(&format!("{fat}.columns"), "the foreign key has no columns");
        }
        column_list(&format!("foreign_keys[{k}].columns"), &fk.columns, p);
        p.name(
            &format!("{fat}.referenced_table"),
            "table",
            &fk.referenced_table,
        );
        if let Some(schema) = &fk.referenced_schema {
            p.name(&format!("{fat}.referenced_schema"), "schema", schema);
        }
        if fk.referenced_columns.len() != fk.columns.len() {
            p.push(
                &format!("{fat}.referenced_columns"),
                format!(
                    "{} column(s) reference {} column(s)",
                    fk.columns.len(),
                    fk.referenced_columns.len()
                ),
            );
        }
        let parent = tables
            .get(fk.referenced_table.as_str())
            .filter(|_| fk.referenced_schema.is_none());
        for (l, c) in fk.referenced_columns.iter().enumerate() {
            let rat = format!("{fat}.referenced_columns[{l}]");
            match parent {
                Some(pt) if pt.column(c).is_none() => p.push(
                    &rat,
                    format!(
                        "column {} is not a column of table {}",
                        q(c),
                        q(&fk.referenced_table)
                    ),
                ),
                _ => p.name(&rat, "column", c),
            }
        }
        for (field, action) in [("on_update", &fk.on_update), ("on_delete", &fk.on_delete)] {
            let known = [
                "RESTRICT",
                "CASCADE",
                "SET NULL",
                "SET DEFAULT",
                "NO ACTION",
            ];
            if !known.iter().any(|a| a.eq_ignore_ascii_case(action)) {
                p.push(
                    &format!("{fat}.{field}"),
                    format!(
                        "{} is not a foreign key action (RESTRICT, CASCADE, SET NULL, SET DEFAULT or NO ACTION)",
                        q(action)
                    ),
                );
            }
        }
    }
    for (k, ch) in s.checks.iter().enumerate() {
        p.name(&format!("{at}.checks[{k}].name"), "check", &ch.name);
        p.text(&format!("{at}.checks[{k}].clause"), &ch.clause);
    }

    let (mut rows, mut bytes) = (Some(0u64), Some(0u64));
    for (k, f) in t.files.iter().enumerate() {
        let fat = format!("{at}.files[{k}]");
        let stored = match f.compression {
            None => Some(f.path.as_str()),
            Some(c) => f.path.strip_suffix(c.extension()),
        };
        if !stored.is_some_and(is_plain_csv_name) {
            p.push(
                &format!("{fat}.path"),
                match f.compression {
                    None => format!(
                        "{} is not the name of a .csv file in the dump directory",
                        q(&f.path)
                    ),
                    Some(c) => format!(
                        "{} is not the name of a .csv{} file in the dump directory ({fat}.compression \
                         is {})",
                        q(&f.path),
                        c.extension(),
                        c.as_str()
                    ),
                },
            );
        } else if let Some(other) = file_at.insert(&f.path, fat.clone()) {
            p.push(
                &format!("{fat}.path"),
                format!("{} is also the file of {other}", q(&f.path)),
            );
        }
        if f.sha256.len() != 64
            || !f
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            p.push(
                &format!("{fat}.sha256"),
                format!("{} is not a lowercase hex SHA-256", q(&f.sha256)),
            );
        }
        if let Some(r) = &f.key_range {
            column_list(&format!("files[{k}].key_range.columns"), &r.columns, p);
            for (field, bound) in [("lower", &r.lower), ("upper", &r.upper)] {
                if let Some(b) = bound
                    && b.len() != r.columns.len()
                {
                    p.push(
                        &format!("{fat}.key_range.{field}"),
                        format!("{} value(s) for {} column(s)", b.len(), r.columns.len()),
                    );
                }
            }
        }
        rows = rows.and_then(|n| n.checked_add(f.rows));
        bytes = bytes.and_then(|n| n.checked_add(f.bytes));
    }
    for (field, sum, total) in [("rows", rows, t.rows), ("bytes", bytes, t.bytes)] {
        if sum != Some(total) {
            p.push(
                &format!("{at}.{field}"),
                format!(
                    "table {tq} says {total}, but its files' {field} add up to {}",
                    sum.map_or("more than 2^64".to_string(), |s| s.to_string())
                ),
            );
        }
    }
    if let Some(h) = &t.sha256
        && (t.files.len() != 1 || t.files[0].sha256 != *h)
    {
        p.push(
            &format!("{at}.sha256"),
            "is set, but the table is not one file with that sha256",
        );
    }
    if !(t.duration_secs.is_finite() && t.duration_secs >= 0.0) {
        p.push(&format!("{at}.duration_secs"), "is not a duration");
    }
}

fn is_sha256(h: &str) -> bool {
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A delta's own fields (every file an `upserts` or `deletes` file, at most one of each
/// per table, counts that match them, a base named by its sha256), and none of them in
/// a full dump.
fn kind(m: &Manifest, p: &mut Problems) {
    let delta = m.kind == DumpKind::Delta;
    match (&m.delta, delta) {
        (Some(_), false) => p.push("delta", "is set, but the manifest's kind is full"),
        (None, true) => p.push("kind", "is delta, but the manifest has no delta section"),
        _ => {}
    }
    for (i, t) in m.tables.iter().enumerate() {
        let at = format!("tables[{i}]");
        if !delta {
            if t.upserts.is_some() || t.deletes.is_some() {
                p.push(
                    &at,
                    "upserts/deletes are counts of a delta, and this is a full dump",
                );
            }
            for (k, f) in t.files.iter().enumerate() {
                if f.role.is_some() {
                    p.push(&format!("{at}.files[{k}].role"), "is set in a full dump");
                }
            }
            continue;
        }
        let mut seen = HashSet::new();
        for (k, f) in t.files.iter().enumerate() {
            let fat = format!("{at}.files[{k}]");
            match f.role {
                None => p.push(&format!("{fat}.role"), "is missing (upserts or deletes)"),
                Some(r) if !seen.insert(r) => p.push(
                    &format!("{fat}.role"),
                    format!("a second {r:?} file of the table"),
                ),
                Some(_) => {}
            }
            if f.key_range.is_some() {
                p.push(&format!("{fat}.key_range"), "is set in a delta");
            }
        }
        for (field, role, count) in [
            ("upserts", FileRole::Upserts, t.upserts),
            ("deletes", FileRole::Deletes, t.deletes),
        ] {
            let rows: u64 = t
                .files
                .iter()
                .filter(|f| f.role == Some(role))
                .map(|f| f.rows)
                .sum();
            if count.unwrap_or(0) != rows {
                p.push(
                    &format!("{at}.{field}"),
                    format!(
                        "{}, but the table's {field} file holds {rows} rows",
                        count.unwrap_or(0)
                    ),
                );
            }
        }
        if !t.files.is_empty() && t.schema.primary_key.is_empty() {
            p.push(
                &format!("{at}.files"),
                format!("table {} has changes but no primary key", q(t.name())),
            );
        }
    }
    if let Some(d) = &m.delta {
        if !is_sha256(&d.base_manifest_sha256) {
            p.push(
                "delta.base_manifest_sha256",
                format!(
                    "{} is not a lowercase hex SHA-256",
                    q(&d.base_manifest_sha256)
                ),
            );
        }
        if d.sequence == 0 {
            p.push(
                "delta.sequence",
                "0; the first delta after a full dump is 1",
            );
        }
        for (i, x) in d.excluded_tables.iter().enumerate() {
            p.name(
                &format!("delta.excluded_tables[{i}].name"),
                "table",
                &x.name,
            );
        }
    }
}

/// A file inside the dump directory, named as the export names data files.
fn is_plain_csv_name(p: &str) -> bool {
    p.len() > 4
        && p.ends_with(".csv")
        && !p.starts_with('.')
        && !p.contains(['/', '\\'])
        && !p.chars().any(is_unsafe)
}

fn column(at: &str, c: &Column, rows: u64, p: &mut Problems) {
    // Empty for a SQLite column declared without a type.
    if !c
        .data_type
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'_')
    {
        p.push(
            &format!("{at}.data_type"),
            format!("{} is not a data type name", q(&c.data_type)),
        );
    }
    p.text(&format!("{at}.column_type"), &c.column_type);
    p.text(&format!("{at}.comment"), &c.comment);
    for (k, v) in c.values.iter().enumerate() {
        p.text(&format!("{at}.values[{k}]"), v);
        if c.encoding == Encoding::SetText && v.contains(',') {
            p.push(
                &format!("{at}.values[{k}]"),
                format!("the SET member {} contains a comma", q(v)),
            );
        }
    }
    if let Some(g) = &c.generated {
        p.text(&format!("{at}.generated.expression"), &g.expression);
    }
    if let Some(u) = &c.on_update {
        p.text(&format!("{at}.on_update"), u);
    }
    for (field, v) in [("charset", &c.charset), ("collation", &c.collation)] {
        if let Some(v) = v {
            p.text(&format!("{at}.{field}"), v);
        }
    }

    if let Some(n) = c.precision {
        let (min, max, of) = match c.encoding {
            Encoding::BitString => (1, 64, "bit(n) allows"),
            Encoding::Decimal => (1, 65, "decimal(p,s) allows"),
            _ => (0, 65, "any MySQL type has"),
        };
        if n < min {
            p.push(&format!("{at}.precision"), format!("{n} is below {min}"));
        }
        p.at_most(&format!("{at}.precision"), n, max, of);
    }
    if let Some(s) = c.scale {
        p.at_most(&format!("{at}.scale"), s, 30, "decimal(p,s) allows");
        if let Some(n) = c.precision
            && s > n
        {
            p.push(
                &format!("{at}.scale"),
                format!("{s} is more than the precision {n}"),
            );
        }
    }
    if let Some(n) = c.datetime_precision {
        p.at_most(
            &format!("{at}.datetime_precision"),
            n,
            6,
            "fractional seconds allow",
        );
    }
    if let Some(n) = c.max_length {
        p.at_most(
            &format!("{at}.max_length"),
            n,
            u64::from(u32::MAX),
            "MySQL's longest value",
        );
    }

    let st = &c.stats;
    let counts = [
        ("nulls", st.nulls),
        ("zero_dates_to_null", st.zero_dates_to_null),
        ("empty_uuids_to_null", st.empty_uuids_to_null),
        ("nul_bytes_stripped", st.nul_bytes_stripped),
        ("invalid_uuids", st.invalid_uuids),
        ("non_boolean", st.non_boolean),
    ];
    for (field, n) in counts {
        p.at_most(&format!("{at}.stats.{field}"), n, rows, "the table's rows");
    }
    if st.converted_to_null() > st.nulls {
        p.push(
            &format!("{at}.stats.nulls"),
            format!(
                "{}, fewer than the values turned into NULL ({})",
                st.nulls,
                st.converted_to_null()
            ),
        );
    }

    match &c.default {
        Some(ColumnDefault::Literal(v)) => {
            p.text(&format!("{at}.default"), v);
            if let Some(shape) = literal_shape(c.encoding)
                && !shape.1(v)
            {
                p.push(
                    &format!("{at}.default"),
                    format!(
                        "{} is not {} (the column's encoding is {})",
                        q(v),
                        shape.0,
                        encoding_name(c.encoding)
                    ),
                );
            }
        }
        Some(ColumnDefault::Expression(e)) => p.text(&format!("{at}.default"), e),
        Some(ColumnDefault::Null) | None => {}
    }
}

pub(crate) fn encoding_name(e: Encoding) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

type Shape = (&'static str, fn(&str) -> bool);

/// What a literal default must look like for columns of an encoding (none: any text).
fn literal_shape(e: Encoding) -> Option<Shape> {
    match e {
        Encoding::Integer | Encoding::BooleanInt | Encoding::Year => {
            Some(("an integer", is_integer))
        }
        Encoding::Decimal | Encoding::Float | Encoding::Double => Some(("a number", is_number)),
        Encoding::Date | Encoding::Datetime | Encoding::TimestampUtc => {
            Some(("a date (YYYY-MM-DD[ HH:MM:SS[.ffffff]])", is_date))
        }
        Encoding::BitString => Some(("a bit value (digits or b'0101')", is_bit_literal)),
        _ => None,
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_integer(s: &str) -> bool {
    digits(s.strip_prefix('-').unwrap_or(s))
}

/// `-12`, `1.50`, `1e10`, `-2.5E-3`: what MySQL prints for a numeric default.
pub(crate) fn is_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mantissa_ok =
        (digits(int) && (frac.is_empty() || digits(frac))) || (int.is_empty() && digits(frac));
    let exponent_ok = exponent.is_none_or(|x| digits(x.strip_prefix(['-', '+']).unwrap_or(x)));
    mantissa_ok && exponent_ok && !mantissa.ends_with('.')
}

/// `YYYY-MM-DD`, optionally ` HH:MM:SS` and up to six fractional digits.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let num =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date =
        b.len() >= 10 && num(0..4) && b[4] == b'-' && num(5..7) && b[7] == b'-' && num(8..10);
    if !date {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    let time = b.len() >= 19
        && b[10] == b' '
        && num(11..13)
        && b[13] == b':'
        && num(14..16)
        && b[16] == b':'
        && num(17..19);
    time && (b.len() == 19 || (b[19] == b'.' && (21..=26).contains(&b.len()) && num(20..b.len())))
}

fn is_bit_literal(s: &str) -> bool {
    digits(s)
        || s.strip_prefix("b'")
            .and_then(|r| r.strip_suffix('\''))
            .is_some_and(|bits| bits.bytes().all(|b| b == b'0' || b == b'1'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        for ok in ["0", "-12", "1.50", "1e10", "-2.5E-3", ".5", "+3"] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in ["", "-", "1.", "e5", "1e", "NaN", "inf", "1x", "1..2", "abc"] {
            assert!(!is_number(bad), "{bad}");
        }
        for ok in [
            "2024-01-31",
            "0000-00-00 00:00:00",
            "2024-01-31 10:00:00.123456",
        ] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "abcdé12345",
            "2024-01-31x",
            "2024-01-31 10:00",
            "2024-01-31 10:00:00.",
            "2024-01-31 10:00:00.1234567",
            "2024/01/31",
            "2024-01/31",
            "20x4-01-31",
            "2024-01-31T10:00:00",
            "2024-01-31 10-00:00",
            "2024-01-31 10:00-00",
            "2024-01-31 1x:00:00",
            "2024-01-31 10:00:00x1",
            "é",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
        assert!(is_bit_literal("b'0101'") && is_bit_literal("5"));
        assert!(!is_bit_literal("b'0'||x'") && !is_bit_literal("b'2'"));
        assert!(is_plain_csv_name("t%2Fx.0001.csv"));
        for bad in [
            "",
            ".csv",
            "../x.csv",
            "/etc/x.csv",
            "a\\b.csv",
            ".h.csv",
            "a.txt",
            "a\n.csv",
        ] {
            assert!(!is_plain_csv_name(bad), "{bad}");
        }
    }
}
