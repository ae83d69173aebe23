//! The rules a source schema carried beside its shapes, for `--create-schema`: CHECK
//! constraints, `ON UPDATE CURRENT_TIMESTAMP` columns and generated columns. `ddl`
//! creates the tables; this module decides what becomes of each rule, from the
//! manifest's source-neutral facts (`checks[].clause`, `columns[].generated`,
//! `columns[].on_update`, each in the source's SQL) through `target::expr`.
//!
//! - A CHECK is translated (or taken from `--check-file`) and added after the load, in
//!   the same transaction, so PostgreSQL validates it against every loaded row; a
//!   violation fails the import and names the constraint and sample rows. One outside
//!   the translated subset is reported with the part that has no translation.
//! - `ON UPDATE CURRENT_TIMESTAMP` becomes one `BEFORE UPDATE` trigger per table, all
//!   calling one function per schema (`waybill_on_update_current_timestamp`): when a row
//!   changes and the UPDATE left the column as it was, the column gets the statement's
//!   time, cut to the column's precision, as MySQL and MariaDB do.
//! - A generated column (STORED or VIRTUAL; PostgreSQL 12 to 17 only store them) is
//!   created `GENERATED ALWAYS AS (...) STORED`. COPY cannot skip a CSV field, and the
//!   dump's values are the proof the expression is right, so such a table is loaded
//!   through a staging table holding the generated columns twice: computed by PostgreSQL
//!   from the same expressions (`LIKE ... INCLUDING GENERATED`), and as exported. Rows
//!   where the two differ fail the import (the read-back); the others move on with an
//!   `INSERT ... SELECT` that leaves the generated columns out, so PostgreSQL computes
//!   them again in the table. Measured on 1 million rows: plain COPY 1.3 s, through the
//!   staging table 4.2 s (COPY 1.6 s, read-back 0.3 s, INSERT 2.2 s); loading a plain
//!   column, then dropping it and adding the generated one takes 3.7 s but moves the
//!   column to the end of the table, so the staging table it is. An expression outside
//!   the subset leaves a plain column with the exported values, reported.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::dump::manifest::TableEntry;
use crate::dump::schema::Column;
use crate::error::{Error, Result};
use crate::printable::escaped;
use crate::target::expr::{self, ColumnInfo, Outcome, Purpose};
use crate::target::sql::{qualified, quote_ident, quote_literal};
use crate::target::typemap::Dialect;

/// The trigger function's name, one per schema.
pub(crate) const ON_UPDATE_FUNCTION: &str = "waybill_on_update_current_timestamp";
/// The trigger's name on each table.
pub(crate) const ON_UPDATE_TRIGGER: &str = "waybill_on_update";

/// `--check-file`: the PostgreSQL text of CHECK constraints, by `table.constraint` (the
/// dump's names). One per line, `table.constraint = condition`; a line that starts with
/// `#` is a comment; nothing after `=` skips that constraint.
#[derive(Clone, Debug, Default)]
pub struct CheckFile {
    entries: Vec<CheckFileEntry>,
    /// Where the entries came from, for messages.
    source: String,
}

#[derive(Clone, Debug)]
struct CheckFileEntry {
    line: usize,
    /// `table.constraint`, split against the dump's tables when used.
    name: String,
    /// The PostgreSQL condition; `None` skips the constraint.
    condition: Option<String>,
}

impl CheckFile {
    pub fn read(path: &Path) -> Result<CheckFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        CheckFile::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source: &str) -> Result<CheckFile> {
        let mut entries: Vec<CheckFileEntry> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let Some((name, condition)) = t.split_once('=') else {
                return Err(Error::config(format!(
                    "--check-file {source} line {line_no}: expected TABLE.CONSTRAINT = CONDITION \
                     (or nothing after = to skip the constraint)"
                )));
            };
            let name = name.trim();
            if !name.contains('.') || name.starts_with('.') || name.ends_with('.') {
                return Err(Error::config(format!(
                    "--check-file {source} line {line_no}: {:?} is not TABLE.CONSTRAINT",
                    escaped(name)
                )));
            }
            if let Some(other) = entries.iter().find(|e| e.name == name) {
                return Err(Error::config(format!(
                    "--check-file {source} line {line_no}: {} is given on line {} too",
                    escaped(name),
                    other.line
                )));
            }
            let condition = condition.trim();
            entries.push(CheckFileEntry {
                line: line_no,
                name: name.to_string(),
                condition: (!condition.is_empty()).then(|| condition.to_string()),
            });
        }
        Ok(CheckFile {
            entries,
            source: source.to_string(),
        })
    }

    fn find(&self, table: &str, constraint: &str) -> Option<&CheckFileEntry> {
        let wanted = format!("{table}.{constraint}");
        self.entries.iter().find(|e| e.name == wanted)
    }

    /// Every entry must name a CHECK constraint of a table being created: a typo must
    /// not silently leave a constraint as it was.
    pub(crate) fn check_names(&self, entries: &[&TableEntry]) -> Result<()> {
        let known: BTreeSet<String> = entries
            .iter()
            .flat_map(|e| {
                e.schema
                    .checks
                    .iter()
                    .map(move |c| format!("{}.{}", e.name(), c.name))
            })
            .collect();
        let unknown: Vec<String> = self
            .entries
            .iter()
            .filter(|f| !known.contains(&f.name))
            .map(|f| format!("line {} ({})", f.line, escaped(&f.name)))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        Err(Error::config(format!(
            "--check-file {}: {} name(s) no CHECK constraint of the tables being created (the \
             dump's names, TABLE.CONSTRAINT); they have: {}",
            self.source,
            unknown.join(", "),
            if known.is_empty() {
                "none".to_string()
            } else {
                known
                    .iter()
                    .map(|n| escaped(n).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )))
    }
}

/// What became of the rules, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RulesReport {
    /// CHECK constraints added (translated or from --check-file) and validated.
    pub checks_added: usize,
    /// Of those, taken from --check-file.
    pub checks_from_file: usize,
    /// Left out by --check-file.
    pub checks_skipped: usize,
    /// Outside the translated subset, not added.
    pub checks_reported: usize,
    /// ON UPDATE CURRENT_TIMESTAMP triggers.
    pub triggers: usize,
    /// Generated columns recreated (VIRTUAL ones included).
    pub generated: usize,
    /// Of those, VIRTUAL in the source (STORED in PostgreSQL).
    pub generated_virtual: usize,
    /// Kept as plain columns holding the exported values.
    pub generated_reported: usize,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl RulesReport {
    /// One line per kind of rule, e.g. "3 CHECK constraints translated and validated,
    /// 1 reported"; `done` is false for a dry run.
    pub fn lines(&self, done: bool) -> Vec<String> {
        let mut out = Vec::new();
        let checks = self.checks_added + self.checks_skipped + self.checks_reported;
        if checks > 0 {
            let mut s = format!(
                "{} {}",
                plural(self.checks_added, "CHECK constraint", "CHECK constraints"),
                if done {
                    "translated and validated"
                } else {
                    "translated, to be validated"
                }
            );
            if self.checks_from_file > 0 {
                s.push_str(&format!(" ({} from --check-file)", self.checks_from_file));
            }
            if self.checks_skipped > 0 {
                s.push_str(&format!(
                    ", {} skipped by --check-file",
                    self.checks_skipped
                ));
            }
            s.push_str(&format!(", {} reported", self.checks_reported));
            out.push(s);
        }
        if self.triggers > 0 {
            out.push(format!(
                "{} for ON UPDATE CURRENT_TIMESTAMP",
                plural(self.triggers, "trigger", "triggers")
            ));
        }
        if self.generated + self.generated_reported > 0 {
            let mut s = format!(
                "{} recreated{}",
                plural(self.generated, "generated column", "generated columns"),
                if done {
                    " and verified against the dump"
                } else {
                    ", to be verified against the dump"
                }
            );
            if self.generated_virtual > 0 {
                s.push_str(&format!(
                    " ({} VIRTUAL, now STORED)",
                    self.generated_virtual
                ));
            }
            s.push_str(&format!(
                ", {} kept as plain columns",
                self.generated_reported
            ));
            out.push(s);
        }
        out
    }
}

/// A CHECK constraint added after the load.
#[derive(Clone, Debug)]
pub(crate) struct CheckStep {
    /// The dump's table and constraint names.
    pub table: String,
    pub name: String,
    /// `ALTER TABLE ... ADD CONSTRAINT ... CHECK (...)`.
    pub sql: String,
    /// The rows that violate it: a total count, then the key columns as text (up to 5).
    pub offenders: String,
    /// The key columns `offenders` returns.
    pub key_columns: Vec<String>,
    /// Where the condition came from, for the script and messages.
    pub origin: String,
    /// The target table and the PostgreSQL condition (for the pre-flight's type check).
    pub target: String,
    pub condition: String,
    /// The --check-file line it came from (`None`: translated).
    pub file_line: Option<usize>,
}

/// A query that makes PostgreSQL parse and type-check `condition` against `columns`
/// (name, type) without reading or writing anything: the pre-flight runs it for each
/// CHECK before the load.
pub(crate) fn check_probe_sql(columns: &[(String, String)], condition: &str) -> String {
    let row: Vec<String> = columns
        .iter()
        .map(|(n, t)| format!("NULL::{t} AS {}", quote_ident(n)))
        .collect();
    format!(
        "SELECT ({condition})::boolean FROM (SELECT {}) AS waybill_probe LIMIT 0",
        row.join(", ")
    )
}

/// A generated column as the load sees it.
#[derive(Clone, Debug)]
pub(crate) struct GeneratedLoad {
    /// The target column.
    pub column: String,
    /// The staging table's column holding the exported values.
    pub source: String,
    pub pg_type: String,
    /// The source expression, for messages.
    pub expression: String,
}

/// A column of a table being created, as the rules need it.
pub(crate) struct ColumnView<'a> {
    pub source: &'a Column,
    pub info: ColumnInfo,
    /// Its type came from --cast (a generated column then stays plain).
    pub overridden: bool,
    pub set_to_array: bool,
}

/// A table being created, as the rules need it.
pub(crate) struct TableView<'a> {
    pub entry: &'a TableEntry,
    pub target: String,
    pub schema: String,
    pub columns: Vec<ColumnView<'a>>,
    /// Target names of the primary key's columns.
    pub primary_key: Vec<String>,
}

impl TableView<'_> {
    fn qualified(&self) -> String {
        qualified(&self.schema, &self.target)
    }

    /// A source column by name: exactly, then ignoring case (MySQL's names are).
    fn lookup(&self, name: &str) -> Option<ColumnInfo> {
        self.columns
            .iter()
            .find(|c| c.source.name == name)
            .or_else(|| {
                let mut it = self
                    .columns
                    .iter()
                    .filter(|c| c.source.name.eq_ignore_ascii_case(name));
                let first = it.next()?;
                it.next().is_none().then_some(first)
            })
            .map(|c| c.info.clone())
    }

    /// The columns that identify a row in messages: the primary key, else the first
    /// three columns.
    pub(crate) fn key_columns(&self) -> Vec<String> {
        if self.primary_key.is_empty() {
            self.columns
                .iter()
                .filter(|c| c.source.generated.is_none())
                .take(3)
                .map(|c| c.info.target.clone())
                .collect()
        } else {
            self.primary_key.clone()
        }
    }
}

/// What becomes of a generated column.
pub(crate) enum GeneratedPlan {
    /// `GENERATED ALWAYS AS (sql) STORED`.
    Stored { sql: String, virtual_: bool },
    /// A plain column with the exported values; the warning says why.
    Plain(String),
}

/// Decides each generated column of `t`. `fk_actions` are the columns of foreign keys
/// whose actions write the child column (PostgreSQL refuses those on generated columns).
pub(crate) fn generated(
    dialect: Dialect,
    t: &TableView,
    fk_written: &BTreeSet<String>,
) -> HashMap<String, GeneratedPlan> {
    let mut out = HashMap::new();
    for c in &t.columns {
        let Some(g) = &c.source.generated else {
            continue;
        };
        let at = format!("{}.{}", t.entry.name(), c.source.name);
        let plain = |why: String| {
            GeneratedPlan::Plain(format!(
                "{at}: generated column ({} expression {}) {why}; created as a plain column holding the exported values",
                dialect.sql_name(),
                escaped(&g.expression)
            ))
        };
        let plan = if dialect != Dialect::MySql {
            // Only MySQL's expressions are translated (SQLite's are not in the dump yet).
            GeneratedPlan::Plain(format!(
                "{at}: generated column ({} expression not translated); created as a plain column holding the exported values",
                dialect.sql_name()
            ))
        } else if c.overridden {
            plain("has its type from --cast".into())
        } else if c.set_to_array {
            plain("is a SET, converted to an array after the load".into())
        } else if fk_written.contains(&c.source.name) {
            plain("is written by a foreign key's ON UPDATE/ON DELETE action, which PostgreSQL does not allow on a generated column".into())
        } else {
            match expr::translate(
                dialect,
                &g.expression,
                Purpose::Generated {
                    pg_type: &c.info.pg_type,
                },
                &|n| t.lookup(n),
            ) {
                Outcome::Translated { sql, .. } => GeneratedPlan::Stored {
                    sql,
                    virtual_: !g.stored,
                },
                Outcome::Implied(_) => plain("was not translated".into()),
                Outcome::Untranslated { fragment, why } => plain(format!(
                    "was not translated: `{}`: {}",
                    escaped(&fragment),
                    escaped(&why)
                )),
            }
        };
        out.insert(c.source.name.clone(), plan);
    }
    out
}

/// The outcome of a table's CHECK constraints.
#[derive(Default)]
pub(crate) struct CheckPlan {
    pub steps: Vec<CheckStep>,
    pub warnings: Vec<String>,
    /// Comments for the script: what was not translated or holds by a column's type.
    pub comments: Vec<String>,
    pub report: RulesReport,
}

/// Plans `t`'s CHECK constraints. `taken` holds the constraint names the table already
/// uses (keys, enum CHECKs, foreign keys); `ident` makes a PostgreSQL name.
pub(crate) fn checks(
    dialect: Dialect,
    t: &TableView,
    file: &CheckFile,
    taken: &mut BTreeSet<String>,
    ident: &dyn Fn(&str) -> String,
) -> CheckPlan {
    let mut plan = CheckPlan::default();
    let table = t.entry.name();
    for ch in &t.entry.schema.checks {
        let shown = escaped(&ch.clause);
        let (condition, origin, file_line) = match file.find(table, &ch.name) {
            Some(f) => match &f.condition {
                None => {
                    plan.report.checks_skipped += 1;
                    let msg = format!(
                        "{table}: CHECK {} ({shown}) skipped (--check-file line {})",
                        escaped(&ch.name),
                        f.line
                    );
                    plan.comments.push(msg.clone());
                    plan.warnings.push(msg);
                    continue;
                }
                Some(c) => {
                    plan.report.checks_from_file += 1;
                    (
                        c.clone(),
                        format!("--check-file line {}", f.line),
                        Some(f.line),
                    )
                }
            },
            None => match expr::translate(dialect, &ch.clause, Purpose::Check, &|n| t.lookup(n)) {
                Outcome::Translated { sql, notes } => {
                    for n in notes {
                        plan.warnings.push(format!(
                            "{table}: CHECK {} translated; note: {n}",
                            escaped(&ch.name)
                        ));
                    }
                    (sql, format!("{}: {shown}", dialect.sql_name()), None)
                }
                Outcome::Implied(why) => {
                    plan.comments.push(format!(
                        "{table}: CHECK {} ({shown}) holds by the column types: {why}",
                        escaped(&ch.name)
                    ));
                    continue;
                }
                Outcome::Untranslated { fragment, why } => {
                    plan.report.checks_reported += 1;
                    let msg = format!(
                        "{table}: CHECK {} ({shown}) was not translated: `{}`: {}; give its \
                         PostgreSQL text with --check-file ({}.{} = CONDITION)",
                        escaped(&ch.name),
                        escaped(&fragment),
                        escaped(&why),
                        escaped(table),
                        escaped(&ch.name)
                    );
                    plan.comments.push(msg.clone());
                    plan.warnings.push(msg);
                    continue;
                }
            },
        };
        let mut name = ident(&ch.name);
        let mut n = 2;
        while taken.contains(&name) {
            name = ident(&format!("{}_{n}", ch.name));
            n += 1;
        }
        taken.insert(name.clone());
        let qt = t.qualified();
        let keys = t.key_columns();
        let key_list: Vec<String> = keys
            .iter()
            .map(|k| format!("({})::text", quote_ident(k)))
            .collect();
        plan.report.checks_added += 1;
        plan.steps.push(CheckStep {
            table: table.to_string(),
            name: ch.name.clone(),
            sql: format!(
                "ALTER TABLE {qt} ADD CONSTRAINT {} CHECK ({condition})",
                quote_ident(&name)
            ),
            offenders: format!(
                "SELECT count(*) OVER (){} FROM {qt} WHERE NOT ({condition}) ORDER BY {} LIMIT 5",
                key_list
                    .iter()
                    .map(|k| format!(", {k}"))
                    .collect::<String>(),
                keys.iter()
                    .map(|k| quote_ident(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            key_columns: keys,
            origin,
            target: t.target.clone(),
            condition,
            file_line,
        });
    }
    plan
}

/// `current_timestamp`, `current_timestamp(3)`, `now()`, `localtimestamp`: the ON UPDATE
/// clauses MySQL and MariaDB allow.
fn is_current_timestamp(clause: &str) -> bool {
    let c: String = clause
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let base = c.split('(').next().unwrap_or("");
    let args = c[base.len()..]
        .trim_start_matches('(')
        .trim_end_matches(')');
    matches!(
        base,
        "current_timestamp" | "now" | "localtimestamp" | "localtime"
    ) && args.bytes().all(|b| b.is_ascii_digit())
        && args.len() <= 1
}

/// The fractional-second digits of a timestamp type (`timestamp(3)`: 3; none: 6).
fn precision(pg_type: &str) -> Option<u32> {
    let t = pg_type.trim().to_ascii_lowercase();
    if !t.starts_with("timestamp") {
        return None;
    }
    Some(
        t.split_once('(')
            .and_then(|(_, r)| r.split(')').next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(6)
            .min(6),
    )
}

/// The trigger for `t`'s ON UPDATE CURRENT_TIMESTAMP columns, if any; warnings for the
/// ones that get none.
pub(crate) fn on_update_trigger(t: &TableView, warnings: &mut Vec<String>) -> Option<String> {
    let mut args = Vec::new();
    for c in &t.columns {
        let Some(clause) = &c.source.on_update else {
            continue;
        };
        let at = format!("{}.{}", t.entry.name(), c.source.name);
        if !is_current_timestamp(clause) {
            warnings.push(format!(
                "{at}: ON UPDATE {} was not translated (only CURRENT_TIMESTAMP is)",
                escaped(clause)
            ));
            continue;
        }
        let Some(p) = precision(&c.info.pg_type) else {
            warnings.push(format!(
                "{at}: ON UPDATE CURRENT_TIMESTAMP needs a timestamp column, and it is {}: no trigger",
                escaped(&c.info.pg_type)
            ));
            continue;
        };
        args.push(quote_literal(&c.info.target));
        args.push(quote_literal(&p.to_string()));
    }
    if args.is_empty() {
        return None;
    }
    let generated: Vec<String> = t
        .columns
        .iter()
        .filter(|c| c.info.generated)
        .map(|c| quote_literal(&c.info.target))
        .collect();
    if !generated.is_empty() {
        args.push("''".into());
        args.extend(generated);
    }
    Some(format!(
        "CREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}({})",
        quote_ident(ON_UPDATE_TRIGGER),
        t.qualified(),
        qualified(&t.schema, ON_UPDATE_FUNCTION),
        args.join(", ")
    ))
}

/// The trigger function every ON UPDATE trigger of `schema` calls. Its arguments are
/// pairs of (column, fractional digits), then optionally `''` and the table's generated
/// columns (NULL in NEW before the update, so they are left out when deciding whether
/// the row changed). A session that sets `waybill.loading` to `on` (a catch-up delta,
/// whose rows carry the source's timestamps) is left alone.
pub(crate) fn on_update_function(schema: &str) -> String {
    format!(
        r#"CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $waybill$
DECLARE
    n jsonb := to_jsonb(NEW);
    o jsonb := to_jsonb(OLD);
    skip text[] := '{{}}';
    stamps jsonb := '{{}}';
    at timestamptz := statement_timestamp();
    cut timestamptz;
    i int := 0;
BEGIN
    -- waybill's own writes (a catch-up delta) carry the source's values: leave them.
    IF current_setting('waybill.loading', true) = 'on' THEN
        RETURN NEW;
    END IF;
    -- Arguments: (column, fractional digits) pairs, then '' and the generated columns.
    WHILE i < TG_NARGS AND TG_ARGV[i] <> '' LOOP
        i := i + 2;
    END LOOP;
    IF i + 1 < TG_NARGS THEN
        skip := TG_ARGV[i + 1 : TG_NARGS - 1];
    END IF;
    -- As in MySQL: only when the row changes, and only the columns the UPDATE left as
    -- they were; the time is the statement's, cut (not rounded) to the column's digits.
    IF (n - skip) IS DISTINCT FROM (o - skip) THEN
        FOR k IN 0 .. i - 2 BY 2 LOOP
            IF n -> TG_ARGV[k] IS NOT DISTINCT FROM o -> TG_ARGV[k] THEN
                cut := at - make_interval(secs => (extract(microseconds FROM at)::bigint
                    % (10 ^ (6 - TG_ARGV[k + 1]::int))::bigint) / 1000000.0);
                stamps := stamps || jsonb_build_object(TG_ARGV[k], cut);
            END IF;
        END LOOP;
        IF stamps <> '{{}}' THEN
            NEW := jsonb_populate_record(NEW, stamps);
        END IF;
    END IF;
    RETURN NEW;
END
$waybill$"#,
        qualified(schema, ON_UPDATE_FUNCTION)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_file_format() {
        let f = CheckFile::parse(
            "# overrides\n\nemp.salary_positive = salary > 0\nemp.age_range =\n  t.x.y = a = b\n",
            "checks.txt",
        )
        .unwrap();
        assert_eq!(f.entries.len(), 3);
        assert_eq!(
            f.find("emp", "salary_positive")
                .unwrap()
                .condition
                .as_deref(),
            Some("salary > 0")
        );
        assert_eq!(f.find("emp", "age_range").unwrap().condition, None);
        // The first `=` splits; a table name may hold a dot.
        assert_eq!(
            f.find("t.x", "y").unwrap().condition.as_deref(),
            Some("a = b")
        );
        assert_eq!(
            f.find("t", "x.y").unwrap().condition.as_deref(),
            Some("a = b")
        );
        assert!(f.find("emp", "salary").is_none());
        for (bad, why) in [
            (
                "emp.c > 0\n",
                "line 1: expected TABLE.CONSTRAINT = CONDITION",
            ),
            ("nodot = x\n", "line 1: \"nodot\" is not TABLE.CONSTRAINT"),
            ("a.b = x\na.b = y\n", "line 2: a.b is given on line 1 too"),
        ] {
            let e = CheckFile::parse(bad, "f.txt").unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
            assert!(e.starts_with("--check-file f.txt"), "{e}");
        }
    }

    #[test]
    fn summary_lines() {
        let r = RulesReport {
            checks_added: 3,
            checks_reported: 1,
            ..Default::default()
        };
        assert_eq!(
            r.lines(true),
            vec!["3 CHECK constraints translated and validated, 1 reported"]
        );
        let r = RulesReport {
            checks_added: 1,
            checks_from_file: 1,
            checks_skipped: 1,
            triggers: 16,
            generated: 2,
            generated_virtual: 1,
            generated_reported: 1,
            ..Default::default()
        };
        assert_eq!(
            r.lines(false),
            vec![
                "1 CHECK constraint translated, to be validated (1 from --check-file), 1 skipped by --check-file, 0 reported",
                "16 triggers for ON UPDATE CURRENT_TIMESTAMP",
                "2 generated columns recreated, to be verified against the dump (1 VIRTUAL, now STORED), 1 kept as plain columns",
            ]
        );
        assert!(RulesReport::default().lines(true).is_empty());
    }

    #[test]
    fn on_update_clauses() {
        for ok in [
            "current_timestamp()",
            "CURRENT_TIMESTAMP",
            "current_timestamp(3)",
            "CURRENT_TIMESTAMP(6)",
            "now()",
        ] {
            assert!(is_current_timestamp(ok), "{ok}");
        }
        for bad in [
            "current_timestamp(3) + 1",
            "curdate()",
            "x",
            "current_timestamp(10)",
        ] {
            assert!(!is_current_timestamp(bad), "{bad}");
        }
        assert_eq!(precision("timestamp(3)"), Some(3));
        assert_eq!(precision("timestamp(0) with time zone"), Some(0));
        assert_eq!(precision("timestamptz"), Some(6));
        assert_eq!(precision("text"), None);
    }
}
