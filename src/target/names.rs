//! How the dump's table and column names become PostgreSQL names, in one place for both
//! ways of importing:
//!
//! - into an existing schema (an application's migrations made it), each dump name is
//!   matched against the target's catalog: a `--rename-file` line first, then the name
//!   in the chosen `--identifiers` style, the exact name, the name ignoring case, and
//!   finally the snake_case forms of both sides (`InvoiceLineId` finds
//!   `invoice_line_id`, as TypeORM's SnakeNamingStrategy, Prisma's `@map`, Rails and
//!   Django name things). More than one candidate at a step is an error, never a guess;
//! - with `--create-schema`, each name is the rename file's, or the dump's name in the
//!   chosen style, cut to PostgreSQL's 63 bytes; two names that end up equal are an
//!   error.
//!
//! The functions take manifest entries and catalog rows only, so every tool that pairs
//! a dump with a target (the import, a verification) gets the same answer.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::dump::manifest::TableEntry;
use crate::error::{Error, Result};
use crate::printable::escaped;
use crate::target::catalog::TargetTable;
use crate::target::ddl::{MAX_IDENT, fit_identifier};
use crate::target::sql::qualified;

/// The naming convention of the target (`--identifiers`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdentifierStyle {
    /// The dump's names as they are (matching also tries case and snake_case).
    #[default]
    Exact,
    /// Folded to lower case.
    Lower,
    /// `InvoiceLineId` → `invoice_line_id` (see [`snake_case`]).
    SnakeCase,
}

impl IdentifierStyle {
    /// The dump name `name` in this style.
    pub fn apply(self, name: &str) -> String {
        match self {
            IdentifierStyle::Exact => name.to_string(),
            IdentifierStyle::Lower => name.to_lowercase(),
            IdentifierStyle::SnakeCase => snake_case(name),
        }
    }

    /// The flag value that chooses this style.
    pub fn flag_value(self) -> &'static str {
        match self {
            IdentifierStyle::Exact => "exact",
            IdentifierStyle::Lower => "lower",
            IdentifierStyle::SnakeCase => "snake_case",
        }
    }
}

/// The snake_case form of a name. An underscore goes before an upper-case letter that
/// follows a lower-case letter or a digit (`createdAt` → `created_at`, `Line2Item` →
/// `line2_item`), and before the last capital of a run of capitals that a lower-case
/// letter follows (`HTTPStatus` → `http_status`); everything is then lower-cased.
/// Digits never start a word (`userID2` → `user_id2`); underscores already there are
/// kept, and none is added next to one (`Invoice_Line` → `invoice_line`, `_Private` →
/// `_private`); other characters (spaces, `-`, `$`) are kept as they are. Letters
/// beyond ASCII follow the same rules by their Unicode case (`ÄrgerÜber` →
/// `ärger_über`); letters without case (CJK) neither start nor end a word.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// One line of a rename file: `Table=new_name` or `Table.Column=new_name`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RenameLine {
    line: usize,
    /// The left side as written (a table, or a table and a column joined by `.`).
    from: String,
    to: String,
}

/// `--rename-file`: target names for dump tables and columns that no rule finds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Renames {
    file: Option<PathBuf>,
    lines: Vec<RenameLine>,
}

impl Renames {
    pub fn read_file(path: &Path) -> Result<Renames> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Renames::parse(&text, path)
    }

    /// Parses a rename file's text. Blank lines and lines starting with `#` are skipped,
    /// as is a trailing comment after ` #`. Errors name the file and line.
    pub fn parse(text: &str, file: &Path) -> Result<Renames> {
        let at = |n: usize, why: String| {
            Error::config(format!("--rename-file {} line {n}: {why}", file.display()))
        };
        let mut lines: Vec<RenameLine> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let content = match raw.find(" #").or_else(|| raw.find("\t#")) {
                Some(cut) => &raw[..cut],
                None => raw,
            };
            let content = content.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let Some((from, to)) = content.split_once('=') else {
                return Err(at(
                    n,
                    "expected OldTable=new_table or OldTable.OldColumn=new_column".into(),
                ));
            };
            let (from, to) = (from.trim(), to.trim());
            if from.is_empty() || to.is_empty() {
                return Err(at(n, "a name is missing on one side of `=`".into()));
            }
            if to.len() > MAX_IDENT {
                return Err(at(
                    n,
                    format!(
                        "`{}` is {} bytes long; PostgreSQL names are at most {MAX_IDENT}",
                        escaped(to),
                        to.len()
                    ),
                ));
            }
            if let Some(first) = lines.iter().find(|l| l.from == from) {
                return Err(at(
                    n,
                    format!(
                        "`{}` is renamed again (first on line {})",
                        escaped(from),
                        first.line
                    ),
                ));
            }
            lines.push(RenameLine {
                line: n,
                from: from.into(),
                to: to.into(),
            });
        }
        Ok(Renames {
            file: Some(file.to_path_buf()),
            lines,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn place(&self, line: usize) -> String {
        format!(
            "--rename-file {} line {line}",
            self.file
                .as_deref()
                .map(|f| f.display().to_string())
                .unwrap_or_default()
        )
    }
}

/// A table's name and its columns' names on the reference side: the dump, or (for
/// `waybill-verify --source --target`) a live source.
pub(crate) struct NamedTable<'a> {
    pub name: &'a str,
    pub columns: Vec<&'a str>,
}

impl<'a> NamedTable<'a> {
    pub(crate) fn of(entry: &'a TableEntry) -> Self {
        NamedTable {
            name: entry.name(),
            columns: entry.schema.column_names(),
        }
    }
}

/// The rename file's lines, each pinned to a table or a column of the reference side.
pub(crate) struct RenameIndex<'r> {
    renames: &'r Renames,
    tables: HashMap<String, &'r RenameLine>,
    columns: HashMap<(String, String), &'r RenameLine>,
}

impl RenameIndex<'_> {
    fn table(&self, name: &str) -> Option<&RenameLine> {
        self.tables.get(name).copied()
    }

    fn column(&self, table: &str, column: &str) -> Option<&RenameLine> {
        self.columns
            .get(&(table.to_string(), column.to_string()))
            .copied()
    }
}

impl Renames {
    /// Which line means which table or column of `all` (every table of the reference
    /// side, selected or not): the left side is a table if a table has that name, else
    /// `table.column` split at a dot. A line that names nothing is an error (a typo must
    /// not go unnoticed).
    pub(crate) fn index<'r>(&'r self, all: &[NamedTable]) -> Result<RenameIndex<'r>> {
        let mut out = RenameIndex {
            renames: self,
            tables: HashMap::new(),
            columns: HashMap::new(),
        };
        for l in &self.lines {
            if all.iter().any(|t| t.name == l.from) {
                out.tables.insert(l.from.clone(), l);
                continue;
            }
            let column = l.from.match_indices('.').find_map(|(i, _)| {
                let (t, c) = (&l.from[..i], &l.from[i + 1..]);
                let table = all.iter().find(|x| x.name == t)?;
                table
                    .columns
                    .contains(&c)
                    .then(|| (t.to_string(), c.to_string()))
            });
            match column {
                Some(key) => {
                    out.columns.insert(key, l);
                }
                None => {
                    return Err(Error::config(format!(
                        "{}: `{}` is neither a table nor a table.column of the dump (names as \
                         in the dump, case included)",
                        self.place(l.line),
                        escaped(&l.from)
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// How a dump name found its target name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matched {
    /// The same name.
    Exact,
    /// The same name ignoring case (`Customer` and `customer`).
    IgnoringCase,
    /// The same snake_case form (`InvoiceLine` and `invoice_line`), tried after exact
    /// and case-insensitive matching found nothing.
    SnakeCase,
    /// The dump name in the `--identifiers` style.
    Style(IdentifierStyle),
    /// A line of the rename file.
    Renamed { line: usize },
    /// Cut to 63 bytes, with a hash suffix (`--create-schema`).
    Shortened,
}

impl fmt::Display for Matched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matched::Exact => write!(f, "same name"),
            Matched::IgnoringCase => write!(f, "ignoring case"),
            Matched::SnakeCase => write!(f, "snake_case, automatic"),
            Matched::Style(s) => write!(f, "--identifiers {}", s.flag_value()),
            Matched::Renamed { line } => write!(f, "rename file line {line}"),
            Matched::Shortened => write!(f, "shortened to 63 bytes"),
        }
    }
}

/// One dump name and the target name it maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedName {
    /// The dump table.
    pub table: String,
    /// The dump column (none for the table itself).
    pub column: Option<String>,
    /// The target name (of the table, or of the column).
    pub target: String,
    pub how: Matched,
}

impl MappedName {
    /// `InvoiceLine` or `InvoiceLine.InvoiceLineId`.
    pub fn dump_name(&self) -> String {
        match &self.column {
            Some(c) => format!("{}.{c}", self.table),
            None => self.table.clone(),
        }
    }

    /// Whether the target name differs from the dump's.
    pub fn changed(&self) -> bool {
        self.target != self.column.as_deref().unwrap_or(&self.table)
    }
}

/// `--identifiers` and `--rename-file` together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameOptions {
    pub style: IdentifierStyle,
    pub renames: Renames,
}

/// A dump table and the target names of it and its columns (CSV order).
pub(crate) struct TableNames<'m> {
    pub entry: &'m TableEntry,
    pub target: String,
    pub how: Matched,
    pub columns: Vec<(String, Matched)>,
}

impl TableNames<'_> {
    /// The table's names as a list: the table first, then its columns.
    pub(crate) fn mapped(&self) -> Vec<MappedName> {
        let mut v = vec![MappedName {
            table: self.entry.name().into(),
            column: None,
            target: self.target.clone(),
            how: self.how.clone(),
        }];
        v.extend(
            self.entry
                .schema
                .columns
                .iter()
                .zip(&self.columns)
                .map(|(c, (t, how))| MappedName {
                    table: self.entry.name().into(),
                    column: Some(c.name.clone()),
                    target: t.clone(),
                    how: how.clone(),
                }),
        );
        v
    }
}

/// Finds `name` among the names of the same database (a dump against its own source):
/// the exact name, then the only one equal ignoring case. `Err` lists several.
pub(crate) fn find_name<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str> + Clone,
) -> std::result::Result<Option<&'a str>, Vec<&'a str>> {
    if let Some(exact) = candidates.clone().find(|c| *c == name) {
        return Ok(Some(exact));
    }
    let lower = name.to_lowercase();
    let folded: Vec<&str> = candidates.filter(|c| c.to_lowercase() == lower).collect();
    match folded.len() {
        0 => Ok(None),
        1 => Ok(Some(folded[0])),
        _ => Err(folded),
    }
}

/// What one name found among the candidates.
enum Found<'a> {
    One(&'a str, Matched),
    None,
    /// Several candidates at the same step.
    Many(Vec<&'a str>, Matched),
}

/// Finds the target name for dump name `name` among `candidates`, step by step (see
/// the module doc); a renamed name must exist as written (or ignoring case).
fn find<'a>(
    name: &str,
    style: IdentifierStyle,
    rename: Option<&RenameLine>,
    candidates: &[&'a str],
) -> Found<'a> {
    let pick = |hits: Vec<&'a str>, how: Matched| match hits.len() {
        0 => None,
        1 => Some(Found::One(hits[0], how)),
        _ => Some(Found::Many(hits, how)),
    };
    let exact = |wanted: &str| candidates.iter().copied().find(|c| *c == wanted);
    let folded = |wanted: &str| {
        let w = wanted.to_lowercase();
        candidates
            .iter()
            .copied()
            .filter(|c| c.to_lowercase() == w)
            .collect::<Vec<_>>()
    };
    if let Some(r) = rename {
        let how = Matched::Renamed { line: r.line };
        if let Some(c) = exact(&r.to) {
            return Found::One(c, how);
        }
        return pick(folded(&r.to), how).unwrap_or(Found::None);
    }
    if style != IdentifierStyle::Exact
        && let Some(c) = exact(&style.apply(name))
    {
        return Found::One(c, Matched::Style(style));
    }
    if let Some(c) = exact(name) {
        return Found::One(c, Matched::Exact);
    }
    if let Some(f) = pick(folded(name), Matched::IgnoringCase) {
        return f;
    }
    let snake = snake_case(name);
    let hits: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|c| snake_case(c) == snake)
        .collect();
    pick(hits, Matched::SnakeCase).unwrap_or(Found::None)
}

/// The target names of one table and its columns (in the reference side's order).
#[derive(Debug)]
pub(crate) struct TargetNames {
    pub table: String,
    pub how: Matched,
    pub columns: Vec<(String, Matched)>,
}

fn list<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| escaped(n.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds table `t` and its columns among the tables of `schema` in the target.
/// `Ok(None)`: no target table (skip it, or an error with --strict). `Err`: what stops
/// the import (an ambiguous or impossible match, a renamed name the target does not
/// have, unmapped columns, two columns on one target column).
pub(crate) fn match_table(
    t: &NamedTable,
    targets: &[TargetTable],
    schema: &str,
    style: IdentifierStyle,
    index: &RenameIndex,
) -> std::result::Result<Option<TargetNames>, Vec<String>> {
    let name = t.name;
    let table_names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let rename = index.table(name);
    let (target, how) = match find(name, style, rename, &table_names) {
        Found::One(t, how) => (t, how),
        Found::None => {
            return match rename {
                Some(r) => Err(vec![format!(
                    "{}: table `{}` is renamed to {}, which is not a table of the target \
                     (tables of schema {schema}: {})",
                    index.renames.place(r.line),
                    escaped(name),
                    qualified(schema, &r.to),
                    if table_names.is_empty() {
                        "none".into()
                    } else {
                        list(&table_names)
                    }
                )]),
                None => Ok(None),
            };
        }
        Found::Many(many, how) => {
            return Err(vec![format!(
                "table `{}`: several target tables match {}: {} (name the one to load into \
                 with --rename-file)",
                escaped(name),
                step_words(&how),
                list(&many)
            )]);
        }
    };
    let tt = targets
        .iter()
        .find(|x| x.name == target)
        .expect("found among them");
    let col_names: Vec<&str> = tt.columns.iter().map(|c| c.name.as_str()).collect();
    let mut columns = Vec::new();
    let mut unmapped = Vec::new();
    let mut problems = Vec::new();
    for c in &t.columns {
        let rename = index.column(name, c);
        match find(c, style, rename, &col_names) {
            Found::One(t, how) => columns.push((t.to_string(), how)),
            Found::None => match rename {
                Some(r) => problems.push(format!(
                    "{}: column `{}`.`{}` is renamed to {}, which is not a column of {} (it \
                     has: {})",
                    index.renames.place(r.line),
                    escaped(name),
                    escaped(c),
                    escaped(&r.to),
                    qualified(schema, target),
                    list(&col_names)
                )),
                None => unmapped.push(*c),
            },
            Found::Many(many, how) => problems.push(format!(
                "table `{}`: column `{}` matches several target columns {}: {} (name the one \
                 to load into with --rename-file)",
                escaped(name),
                escaped(c),
                step_words(&how),
                list(&many)
            )),
        }
    }
    if !unmapped.is_empty() {
        problems.push(format!(
            "table `{}`: no target column for {} in {} (target has: {}); name them with \
             --rename-file",
            escaped(name),
            unmapped
                .iter()
                .map(|c| format!("`{}`", escaped(c)))
                .collect::<Vec<_>>()
                .join(", "),
            qualified(schema, target),
            list(&col_names)
        ));
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (c, (t, _)) in t.columns.iter().zip(&columns) {
        if let Some(first) = seen.insert(t, c) {
            problems.push(format!(
                "table `{}`: columns `{}` and `{}` both map to target column {}",
                escaped(name),
                escaped(first),
                escaped(c),
                escaped(t)
            ));
        }
    }
    if problems.is_empty() {
        Ok(Some(TargetNames {
            table: target.to_string(),
            how,
            columns,
        }))
    } else {
        Err(problems)
    }
}

/// The result of matching a dump with an existing schema.
pub(crate) struct ExistingNames<'m> {
    /// Tables with a target table and every column mapped, in dump order.
    pub tables: Vec<TableNames<'m>>,
    /// Dump tables without a target table (skipped, or an error with --strict).
    pub missing: Vec<&'m TableEntry>,
    /// Everything that stops the import: ambiguous or impossible matches, unmapped
    /// columns, two dump names on one target name, rename lines that find nothing.
    pub problems: Vec<String>,
}

/// Matches the dump tables `entries` (those selected; `all` is every table of the dump,
/// for the rename file) with the tables of `schema` in the target.
pub(crate) fn match_existing<'m>(
    all: &[&'m TableEntry],
    entries: &[&'m TableEntry],
    targets: &[TargetTable],
    schema: &str,
    opts: &NameOptions,
) -> Result<ExistingNames<'m>> {
    let named: Vec<NamedTable> = all.iter().map(|e| NamedTable::of(e)).collect();
    let index = opts.renames.index(&named)?;
    let mut out = ExistingNames {
        tables: Vec::new(),
        missing: Vec::new(),
        problems: Vec::new(),
    };
    let mut used: HashMap<String, &str> = HashMap::new();
    for &entry in entries {
        match match_table(&NamedTable::of(entry), targets, schema, opts.style, &index) {
            Ok(None) => out.missing.push(entry),
            Err(problems) => out.problems.extend(problems),
            Ok(Some(t)) => {
                if let Some(other) = used.insert(t.table.clone(), entry.name()) {
                    out.problems.push(format!(
                        "tables `{}` and `{}` both map to target table {}",
                        escaped(other),
                        escaped(entry.name()),
                        qualified(schema, &t.table)
                    ));
                    continue;
                }
                out.tables.push(TableNames {
                    entry,
                    target: t.table,
                    how: t.how,
                    columns: t.columns,
                });
            }
        }
    }
    Ok(out)
}

fn step_words(how: &Matched) -> &'static str {
    match how {
        Matched::IgnoringCase => "ignoring case",
        Matched::SnakeCase => "by their snake_case form",
        Matched::Renamed { .. } => "the renamed name ignoring case",
        _ => "",
    }
}

/// The names `--create-schema` gives the tables `entries` and their columns: the rename
/// file's, else the dump's in the chosen style, cut to 63 bytes. Two tables, or two
/// columns of a table, that would get the same name are an error naming both.
pub(crate) fn new_names<'m>(
    all: &[&'m TableEntry],
    entries: &[&'m TableEntry],
    opts: &NameOptions,
) -> Result<Vec<TableNames<'m>>> {
    let named: Vec<NamedTable> = all.iter().map(|e| NamedTable::of(e)).collect();
    let renames = opts.renames.index(&named)?;
    let name_of = |dump: &str, rename: Option<&RenameLine>| match rename {
        Some(r) => (r.to.clone(), Matched::Renamed { line: r.line }),
        None => {
            let styled = opts.style.apply(dump);
            let fitted = fit_identifier(&styled);
            let how = if fitted != styled {
                Matched::Shortened
            } else if styled != dump {
                Matched::Style(opts.style)
            } else {
                Matched::Exact
            };
            (fitted, how)
        }
    };
    let why = |how: &Matched, other: &Matched| {
        let mut v: Vec<String> = [how, other]
            .into_iter()
            .filter_map(|h| match h {
                Matched::Style(s) => Some(format!("--identifiers {}", s.flag_value())),
                Matched::Renamed { line } => Some(format!("--rename-file line {line}")),
                Matched::Shortened => Some("names are cut to 63 bytes".into()),
                _ => None,
            })
            .collect();
        v.dedup();
        if v.is_empty() {
            String::new()
        } else {
            format!(" ({})", v.join(", "))
        }
    };
    let mut out: Vec<TableNames> = Vec::new();
    let mut taken: HashMap<String, (&str, Matched)> = HashMap::new();
    for &entry in entries {
        let (target, how) = name_of(entry.name(), renames.table(entry.name()));
        if let Some((other, other_how)) = taken.get(&target) {
            return Err(Error::Preflight(vec![format!(
                "tables `{}` and `{}` would both be named {} in PostgreSQL{}; give one of \
                 them another name with --rename-file",
                escaped(other),
                escaped(entry.name()),
                escaped(&target),
                why(&how, other_how)
            )]));
        }
        taken.insert(target.clone(), (entry.name(), how.clone()));
        let mut columns: Vec<(String, Matched)> = Vec::new();
        let mut seen: HashMap<String, (&str, Matched)> = HashMap::new();
        for c in &entry.schema.columns {
            let (n, h) = name_of(&c.name, renames.column(entry.name(), &c.name));
            if let Some((other, other_how)) = seen.get(&n) {
                return Err(Error::Preflight(vec![format!(
                    "table `{}`: columns `{}` and `{}` would both be named {} in PostgreSQL{}; \
                     give one of them another name with --rename-file",
                    escaped(entry.name()),
                    escaped(other),
                    escaped(&c.name),
                    escaped(&n),
                    why(&h, other_how)
                )]));
            }
            seen.insert(n.clone(), (&c.name, h.clone()));
            columns.push((n, h));
        }
        out.push(TableNames {
            entry,
            target,
            how,
            columns,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_rules() {
        for (from, to) in [
            ("InvoiceLine", "invoice_line"),
            ("InvoiceLineId", "invoice_line_id"),
            ("createdAt", "created_at"),
            ("HTTPStatus", "http_status"),
            ("userID2", "user_id2"),
            ("Line2Item", "line2_item"),
            ("already_snake", "already_snake"),
            ("Invoice_Line", "invoice_line"),
            ("_PrivateField", "_private_field"),
            ("Name_", "name_"),
            ("ABC", "abc"),
            ("userIDs", "user_i_ds"),
            ("ÄrgerÜber", "ärger_über"),
            ("order items", "order items"),
            ("Ünïcode名前Table", "ünïcode名前table"),
            ("", ""),
        ] {
            assert_eq!(snake_case(from), to, "{from}");
        }
    }

    #[test]
    fn same_database_names_match_exactly_then_ignoring_case() {
        let cands = ["createdDate", "createddate", "Other"];
        assert_eq!(
            find_name("createdDate", cands.iter().copied()),
            Ok(Some("createdDate"))
        );
        assert_eq!(find_name("other", cands.iter().copied()), Ok(Some("Other")));
        assert!(find_name("CREATEDDATE", cands.iter().copied()).is_err());
        assert_eq!(find_name("nope", cands.iter().copied()), Ok(None));
    }

    #[test]
    fn matching_steps_and_ambiguity() {
        let c = [
            "invoice_line",
            "InvoiceLine",
            "customer",
            "Customer",
            "user_id",
            "User_ID",
        ];
        let one = |name: &str, style| match find(name, style, None, &c) {
            Found::One(t, how) => Some((t, how)),
            _ => None,
        };
        assert_eq!(
            one("InvoiceLine", IdentifierStyle::Exact),
            Some(("InvoiceLine", Matched::Exact))
        );
        assert_eq!(
            one("InvoiceLine", IdentifierStyle::SnakeCase),
            Some(("invoice_line", Matched::Style(IdentifierStyle::SnakeCase)))
        );
        assert!(matches!(
            find("CUSTOMER", IdentifierStyle::Exact, None, &c),
            Found::Many(_, Matched::IgnoringCase)
        ));
        // userID: no exact or case-insensitive match, two by their snake_case form.
        assert!(matches!(
            find("userID", IdentifierStyle::Exact, None, &c),
            Found::Many(_, Matched::SnakeCase)
        ));
        let only = ["invoice_line_id", "album"];
        assert!(matches!(
            find("InvoiceLineId", IdentifierStyle::Exact, None, &only),
            Found::One("invoice_line_id", Matched::SnakeCase)
        ));
        assert!(matches!(
            find("Nope", IdentifierStyle::Exact, None, &only),
            Found::None
        ));
        let r = RenameLine {
            line: 4,
            from: "Nope".into(),
            to: "album".into(),
        };
        assert!(matches!(
            find("Nope", IdentifierStyle::Exact, Some(&r), &only),
            Found::One("album", Matched::Renamed { line: 4 })
        ));
    }

    #[test]
    fn rename_files_name_the_line() {
        let f = Path::new("renames.txt");
        let r = Renames::parse(
            "# comment\n\nOld=new_table  # trailing\nOld.Col = new_col\n",
            f,
        )
        .unwrap();
        assert_eq!(
            r.lines,
            vec![
                RenameLine {
                    line: 3,
                    from: "Old".into(),
                    to: "new_table".into()
                },
                RenameLine {
                    line: 4,
                    from: "Old.Col".into(),
                    to: "new_col".into()
                }
            ]
        );
        for (text, why) in [
            (
                "a=b\nnonsense\n",
                "--rename-file renames.txt line 2: expected OldTable=new_table",
            ),
            (
                "a=\n",
                "--rename-file renames.txt line 1: a name is missing",
            ),
            (
                "a=b\na=c\n",
                "--rename-file renames.txt line 2: `a` is renamed again (first on line 1)",
            ),
        ] {
            let e = Renames::parse(text, f).unwrap_err().to_string();
            assert!(e.starts_with(why), "{e}");
        }
        let long = format!("a={}\n", "x".repeat(64));
        assert!(
            Renames::parse(&long, f)
                .unwrap_err()
                .to_string()
                .contains("64 bytes long")
        );
    }

    fn target(name: &str, columns: &[&str]) -> TargetTable {
        TargetTable {
            name: name.into(),
            kind: 'r',
            columns: columns
                .iter()
                .map(|c| crate::target::catalog::TargetColumn {
                    name: c.to_string(),
                    not_null: false,
                    has_default: false,
                    generated: false,
                    type_name: "text".into(),
                    array_type: None,
                    ty: Default::default(),
                })
                .collect(),
        }
    }

    fn entry(name: &str, columns: &[&str]) -> TableEntry {
        TableEntry::empty(crate::dump::schema::Table {
            name: name.into(),
            columns: columns
                .iter()
                .map(|c| {
                    serde_json::from_value(serde_json::json!({
                        "name": c, "column_type": "int(11)", "data_type": "int",
                        "nullable": true, "encoding": "integer", "unsigned": false,
                    }))
                    .unwrap()
                })
                .collect(),
            ..Default::default()
        })
    }

    fn renames(text: &str) -> Renames {
        Renames::parse(text, Path::new("r.txt")).unwrap()
    }

    #[test]
    fn rename_lines_are_pinned_to_a_table_or_a_column() {
        let a = ["Id", "Name"];
        let b = ["x.y"];
        let all = [
            NamedTable {
                name: "Album",
                columns: a.to_vec(),
            },
            NamedTable {
                name: "a.b",
                columns: b.to_vec(),
            },
        ];
        // A table named with a dot wins over table.column; a column is split at the dot
        // that names a real table (`a.b` then `x.y`).
        let r = renames("Album=albums\nAlbum.Name=title\na.b.x.y=xy\n");
        let ix = r.index(&all).unwrap();
        assert_eq!(ix.table("Album").map(|l| l.line), Some(1));
        assert_eq!(ix.column("Album", "Name").map(|l| l.line), Some(2));
        assert_eq!(ix.column("a.b", "x.y").map(|l| l.line), Some(3));
        assert!(ix.table("Name").is_none() && ix.column("Album", "Id").is_none());
        let e = renames("Album.Nope=x\n")
            .index(&all)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "--rename-file r.txt line 1: `Album.Nope` is neither a table nor a table.column \
             of the dump (names as in the dump, case included)"
        );
        assert!(renames("# nothing\n").is_empty() && !r.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.txt");
        std::fs::write(&file, "Album=albums\n").unwrap();
        let read = Renames::read_file(&file).unwrap();
        assert_eq!(read.lines.len(), 1);
        assert_eq!(read.lines[0].to, "albums");
        // A name of exactly 63 bytes is allowed.
        assert!(Renames::parse(&format!("a={}\n", "x".repeat(63)), Path::new("r")).is_ok());
    }

    #[test]
    fn a_table_and_its_columns_are_matched_with_the_target() {
        let targets = [
            target("invoice_line", &["invoice_line_id", "unit_price"]),
            target("album", &["album_id", "title"]),
        ];
        let dump = NamedTable {
            name: "InvoiceLine",
            columns: vec!["InvoiceLineId", "UnitPrice"],
        };
        let none = Renames::default();
        let ix = none.index(&[]).unwrap();
        let got = match_table(&dump, &targets, "public", IdentifierStyle::Exact, &ix)
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.table.as_str(), &got.how, &got.columns),
            (
                "invoice_line",
                &Matched::SnakeCase,
                &vec![
                    ("invoice_line_id".to_string(), Matched::SnakeCase),
                    ("unit_price".to_string(), Matched::SnakeCase),
                ]
            )
        );
        // No target table: skipped (None), not an error.
        let absent = NamedTable {
            name: "Track",
            columns: vec!["TrackId"],
        };
        assert!(
            match_table(&absent, &targets, "public", IdentifierStyle::Exact, &ix)
                .unwrap()
                .is_none()
        );
        // An unmapped column and two dump columns on one target column.
        let odd = NamedTable {
            name: "Album",
            columns: vec!["AlbumId", "Title", "TITLE", "Extra"],
        };
        let problems =
            match_table(&odd, &targets, "public", IdentifierStyle::Exact, &ix).unwrap_err();
        assert_eq!(
            problems,
            [
                "table `Album`: no target column for `Extra` in \"public\".\"album\" (target \
                 has: album_id, title); name them with --rename-file",
                "table `Album`: columns `Title` and `TITLE` both map to target column title",
            ]
        );
        // A rename to a table the target lacks names the line and the tables there.
        let all = [NamedTable {
            name: "Album",
            columns: vec!["AlbumId", "Title"],
        }];
        let r = renames("Album=records\n");
        let ix = r.index(&all).unwrap();
        let problems =
            match_table(&all[0], &targets, "public", IdentifierStyle::Exact, &ix).unwrap_err();
        assert_eq!(
            problems,
            [
                "--rename-file r.txt line 1: table `Album` is renamed to \"public\".\"records\", \
              which is not a table of the target (tables of schema public: invoice_line, album)"
            ]
        );
        let r = renames("Album.Title=name\n");
        let ix = r.index(&all).unwrap();
        let problems =
            match_table(&all[0], &targets, "public", IdentifierStyle::Exact, &ix).unwrap_err();
        assert_eq!(
            problems,
            [
                "--rename-file r.txt line 1: column `Album`.`Title` is renamed to name, which is \
              not a column of \"public\".\"album\" (it has: album_id, title)"
            ]
        );
        let empty: [TargetTable; 0] = [];
        let r = renames("Album=records\n");
        let ix = r.index(&all).unwrap();
        let problems = match_table(&all[0], &empty, "s", IdentifierStyle::Exact, &ix).unwrap_err();
        assert!(
            problems[0].contains("(tables of schema s: none)"),
            "{problems:?}"
        );
    }

    #[test]
    fn existing_tables_two_dump_tables_on_one_target_are_refused() {
        let (a, b) = (entry("Album", &["Id"]), entry("album", &["id"]));
        let all = [&a, &b];
        let targets = [target("album", &["id"])];
        let got = match_existing(&all, &all, &targets, "public", &NameOptions::default()).unwrap();
        assert_eq!(got.tables.len(), 1);
        assert_eq!(
            got.problems,
            ["tables `Album` and `album` both map to target table \"public\".\"album\""]
        );
        let mapped = got.tables[0].mapped();
        assert_eq!(
            mapped
                .iter()
                .map(|m| (m.dump_name(), m.target.as_str(), m.changed()))
                .collect::<Vec<_>>(),
            [
                ("Album".to_string(), "album", true),
                ("Album.Id".to_string(), "id", true)
            ]
        );
        let same = MappedName {
            table: "t".into(),
            column: Some("c".into()),
            target: "c".into(),
            how: Matched::Exact,
        };
        assert!(!same.changed());
        assert_eq!(same.dump_name(), "t.c");
        for (how, text) in [
            (Matched::Exact, "same name"),
            (Matched::IgnoringCase, "ignoring case"),
            (Matched::SnakeCase, "snake_case, automatic"),
            (
                Matched::Style(IdentifierStyle::Lower),
                "--identifiers lower",
            ),
            (Matched::Renamed { line: 7 }, "rename file line 7"),
            (Matched::Shortened, "shortened to 63 bytes"),
        ] {
            assert_eq!(how.to_string(), text);
        }
        assert_eq!(step_words(&Matched::IgnoringCase), "ignoring case");
        assert_eq!(step_words(&Matched::SnakeCase), "by their snake_case form");
        assert_eq!(
            step_words(&Matched::Renamed { line: 1 }),
            "the renamed name ignoring case"
        );
        assert_eq!(step_words(&Matched::Exact), "");
    }

    #[test]
    fn new_names_say_why_two_names_collide() {
        let (a, b) = (
            entry("InvoiceLine", &["Id"]),
            entry("invoice_line", &["id"]),
        );
        let opts = |style, text: &str| NameOptions {
            style,
            renames: renames(text),
        };
        let all = [&a, &b];
        let e = new_names(&all, &all, &opts(IdentifierStyle::SnakeCase, ""))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains(
                "tables `InvoiceLine` and `invoice_line` would both be named invoice_line in \
                 PostgreSQL (--identifiers snake_case)"
            ),
            "{e}"
        );
        let e = new_names(
            &all,
            &all,
            &opts(IdentifierStyle::Exact, "InvoiceLine=invoice_line\n"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("(--rename-file line 1)"), "{e}");
        let long = "x".repeat(70);
        let c = entry("t", &[&format!("{long}a"), &format!("{long}b")]);
        let named = new_names(&[&c], &[&c], &opts(IdentifierStyle::Exact, "")).unwrap();
        assert_eq!(named[0].columns[0].1, Matched::Shortened);
        assert_ne!(named[0].columns[0].0, named[0].columns[1].0);
        assert!(named[0].columns[0].0.len() <= 63);
        let renamed = new_names(
            &[&c],
            &[&c],
            &opts(IdentifierStyle::Exact, &format!("t.{long}a=short\n")),
        )
        .unwrap();
        assert_eq!(
            renamed[0].columns[0],
            ("short".to_string(), Matched::Renamed { line: 1 })
        );
        assert_eq!(renamed[0].how, Matched::Exact);
    }
}
