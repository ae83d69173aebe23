//! MySQL expressions (CHECK clauses, generated columns) translated to PostgreSQL, for
//! `--create-schema`.
//!
//! A tokenizer and a recursive-descent parser read the expression into a small tree; a
//! printer writes PostgreSQL from that tree alone. Nothing of the source text is ever
//! copied into the output: identifiers are looked up among the table's columns and
//! written as their (mapped) target names through `quote_ident`, literals are decoded
//! and written through `quote_literal`, numbers are re-checked digit strings, and every
//! keyword, operator and function name comes from the printer. A manifest may have been
//! crafted; the worst it can do here is to be reported as untranslatable.
//!
//! The subset is small on purpose, and each construct has an exact PostgreSQL
//! equivalent (`Outcome::Untranslated` names the part that has none):
//!
//! - column references (backticks or bare), string literals (with `_utf8mb4`-style
//!   introducers and MySQL's backslash escapes), numbers, `NULL`, `TRUE`/`FALSE`,
//!   `DATE '...'`, `TIMESTAMP '...'`, `TIME '...'`;
//! - `=`, `<>`/`!=`, `<`, `<=`, `>`, `>=`, `<=>` (as `IS NOT DISTINCT FROM`),
//!   `[NOT] BETWEEN`, `[NOT] IN (...)`, `IS [NOT] NULL`, `AND`/`&&`, `OR`, `NOT`/`!`;
//! - `+`, `-`, `*` (integers in 64 bits, as MySQL computes them), `/` (exact numbers
//!   cut to the decimals MySQL keeps of a quotient, NULL on a zero divisor as in
//!   MySQL), `DIV`, `%`/`MOD`;
//! - `[NOT] LIKE [ESCAPE]`, `[NOT] REGEXP`/`RLIKE`/`REGEXP_LIKE()` → `~` (`~*` under a
//!   case-insensitive collation) for patterns whose syntax both engines read alike;
//! - `CHAR_LENGTH`, `LENGTH` (→ `octet_length`, for UTF-8 and ASCII columns),
//!   `LOWER`/`LCASE`, `UPPER`/`UCASE`, `COALESCE`, `IFNULL`, `JSON_VALID` (a `jsonb`
//!   cast, in a CHECK's top-level conditions), `CONCAT` (→ `||`, NULL if any argument
//!   is NULL, as in MySQL), `CONCAT_WS`, `IF`, `CASE`, `ROUND`, `ABS`,
//!   `SUBSTRING`/`SUBSTR`/`MID` (positive literal positions), `TRIM`/`LTRIM`/`RTRIM`.
//!
//! Types are followed through the tree: MySQL converts freely between numbers, strings
//! and dates, PostgreSQL does not, so a comparison of a number with a string, or of a
//! date with an expression that is not a date literal, is reported rather than guessed.
//! A MySQL boolean (`tinyint(1)`, a boolean in PostgreSQL) used as a number becomes
//! `::integer`, a number used as a condition becomes `<> 0`.
//!
//! Both servers' spellings are read: MariaDB prints `` ucase(`code`) ``, `'it\'s'`,
//! `octet_length()`; MySQL 8 wraps every operation in parentheses, writes
//! `regexp_like()`, puts introducers on strings (`_utf8mb4'x'`) and escapes the whole
//! clause once more in `information_schema` (`_utf8mb4\'x\'`), which is undone first.

mod parse;

use crate::printable::escaped;
use crate::target::sql::{quote_ident, quote_literal};
use crate::target::typemap::Dialect;
use parse::{BinOp, Expr, Node, Span, Temporal, TrimSide};

/// A column as an expression sees it.
#[derive(Clone, Debug, Default)]
pub(crate) struct ColumnInfo {
    /// The target column's name (unquoted): the same mapping the DDL uses.
    pub target: String,
    /// Its PostgreSQL type once the import is done.
    pub pg_type: String,
    pub charset: Option<String>,
    pub collation: Option<String>,
    /// Created as a generated column (another generated column may not use it).
    pub generated: bool,
}

/// What the expression becomes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose<'a> {
    /// A CHECK constraint's condition.
    Check,
    /// A stored generated column of this PostgreSQL type (the expression must be
    /// IMMUTABLE there).
    Generated { pg_type: &'a str },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Translated {
        sql: String,
        /// Where PostgreSQL's result may differ from MySQL's for values the loaded data
        /// does not show (text compared under a case-insensitive collation).
        notes: Vec<String>,
    },
    /// The condition holds by the column's type (JSON_VALID on a jsonb column).
    Implied(String),
    Untranslated {
        /// The exact part of the expression that has no translation.
        fragment: String,
        why: String,
    },
}

/// Translates `text`, an expression in the source's SQL, for `purpose`. `columns`
/// looks a column name of the table up (exactly, then ignoring case, as MySQL does).
pub(crate) fn translate(
    dialect: Dialect,
    text: &str,
    purpose: Purpose,
    columns: &dyn Fn(&str) -> Option<ColumnInfo>,
) -> Outcome {
    if dialect != Dialect::MySql {
        return Outcome::Untranslated {
            fragment: text.to_string(),
            why: format!("{} expressions are not translated", dialect.sql_name()),
        };
    }
    let (decoded, tree) = parse::parse(text);
    let tree = match tree {
        Ok(t) => t,
        Err((span, why)) => return untranslated(&decoded, span, why),
    };
    let mut tr = Tr {
        columns,
        notes: Vec::new(),
        generated: matches!(purpose, Purpose::Generated { .. }),
        stable: None,
    };
    let result = match purpose {
        Purpose::Check => tr.check(&tree),
        Purpose::Generated { pg_type } => tr.generated_value(&tree, pg_type).map(Some),
    };
    match result {
        Ok(_) if tr.generated && tr.stable.is_some() => {
            let (span, what) = tr.stable.clone().expect("checked");
            untranslated(
                &decoded,
                span,
                format!("{what} is not IMMUTABLE in PostgreSQL, which a generated column requires"),
            )
        }
        Ok(Some(sql)) => Outcome::Translated {
            sql,
            notes: tr.notes,
        },
        Ok(None) => Outcome::Implied("the jsonb type admits only valid JSON".into()),
        Err(f) => untranslated(&decoded, f.span, f.why),
    }
}

fn untranslated(text: &str, span: Span, why: String) -> Outcome {
    let (a, b) = (span.0.min(text.len()), span.1.min(text.len()));
    let fragment = text
        .get(a..b.max(a))
        .filter(|f| !f.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_string();
    Outcome::Untranslated { fragment, why }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An integer; `wide` when PostgreSQL holds it in 64 bits.
    Int {
        wide: bool,
    },
    /// An exact decimal; `scale` when it prints with a fixed number of decimals.
    Dec {
        scale: Option<u32>,
    },
    Float,
    Text,
    /// A condition (in MySQL: 1, 0 or NULL).
    Bool,
    /// A boolean column (MySQL's tinyint(1)): a number to MySQL.
    BoolColumn,
    Null,
    Date,
    Timestamp,
    TimestampTz,
    /// MySQL's TIME, an interval in PostgreSQL.
    Interval,
    Json,
    Uuid,
    Bytes,
    Other,
}

impl Kind {
    fn of_type(pg_type: &str) -> Kind {
        let t = pg_type.trim().to_ascii_lowercase();
        if t.starts_with("timestamptz")
            || t.ends_with("with time zone") && t.starts_with("timestamp")
        {
            return Kind::TimestampTz;
        }
        let base = t.split(['(', ' ', '[']).next().unwrap_or("");
        if t.ends_with("[]") {
            return Kind::Other;
        }
        match base {
            "smallint" | "integer" | "int" | "int2" | "int4" => Kind::Int { wide: false },
            "bigint" | "int8" => Kind::Int { wide: true },
            "numeric" | "decimal" => Kind::Dec {
                scale: t
                    .split_once('(')
                    .and_then(|(_, r)| r.strip_suffix(')'))
                    .map(|args| match args.split_once(',') {
                        Some((_, s)) => s.trim().parse().ok(),
                        None => Some(0),
                    })
                    .unwrap_or(None),
            },
            "real" | "double" | "float4" | "float8" | "float" => Kind::Float,
            "text" | "varchar" | "character" | "char" | "citext" | "bpchar" => Kind::Text,
            "boolean" | "bool" => Kind::BoolColumn,
            "date" => Kind::Date,
            "timestamp" => Kind::Timestamp,
            "interval" => Kind::Interval,
            "json" | "jsonb" => Kind::Json,
            "uuid" => Kind::Uuid,
            "bytea" => Kind::Bytes,
            _ => Kind::Other,
        }
    }

    fn numeric(self) -> bool {
        matches!(
            self,
            Kind::Int { .. } | Kind::Dec { .. } | Kind::Float | Kind::Bool | Kind::BoolColumn
        )
    }

    fn temporal(self) -> bool {
        matches!(
            self,
            Kind::Date | Kind::Timestamp | Kind::TimestampTz | Kind::Interval
        )
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Int { .. } => "an integer",
            Kind::Dec { .. } => "a decimal",
            Kind::Float => "a floating-point number",
            Kind::Text => "text",
            Kind::Bool | Kind::BoolColumn => "a boolean",
            Kind::Null => "NULL",
            Kind::Date => "a date",
            Kind::Timestamp => "a datetime",
            Kind::TimestampTz => "a timestamp",
            Kind::Interval => "a time",
            Kind::Json => "JSON",
            Kind::Uuid => "a uuid",
            Kind::Bytes => "bytes",
            Kind::Other => "a value of another type",
        }
    }
}

/// A translated value.
#[derive(Clone, Debug)]
struct Val {
    sql: String,
    kind: Kind,
    /// The column whose text this is, and that column's collation.
    coll: Option<(String, String)>,
    /// Its bytes in MySQL are its UTF-8 bytes (a UTF-8 or ASCII column, a literal).
    utf8: bool,
    /// PostgreSQL prints it as MySQL does (for CONCAT).
    same_text: bool,
}

impl Val {
    fn new(sql: String, kind: Kind) -> Val {
        Val {
            sql,
            kind,
            coll: None,
            utf8: true,
            same_text: false,
        }
    }
}

struct Fail {
    span: Span,
    why: String,
}

fn fail<T>(e: &Expr, why: impl Into<String>) -> Result<T, Fail> {
    Err(Fail {
        span: e.span,
        why: why.into(),
    })
}

type R<T> = Result<T, Fail>;

struct Tr<'a> {
    columns: &'a dyn Fn(&str) -> Option<ColumnInfo>,
    notes: Vec<String>,
    generated: bool,
    /// The first construct that is only STABLE in PostgreSQL.
    stable: Option<(Span, String)>,
}

/// A binary collation compares what PostgreSQL compares; others fold case (`_ci`) or
/// accents, or ignore trailing spaces.
fn binary_collation(c: &str) -> bool {
    let c = c.to_ascii_lowercase();
    c == "binary" || c.ends_with("_bin")
}

fn case_insensitive(c: &str) -> bool {
    c.to_ascii_lowercase().ends_with("_ci")
}

/// How many decimals MySQL and MariaDB keep of a quotient of exact numbers with `sa`
/// and `sb` decimals (`strings/decimal.c`, `do_div_mod`, with `div_precision_increment`
/// at its default of 4): each operand's decimals are rounded up to whole 9-digit groups,
/// and one more group is added when that rounding left fewer than 4 spare digits. The
/// rest is cut, not rounded (2/3 is 0.666666666).
fn quotient_digits(sa: u32, sb: u32) -> u32 {
    const INCREMENT: u32 = 4;
    let group = |s: u32| s.div_ceil(9) * 9;
    let (fa, fb) = (group(sa), group(sb));
    let spare = (fa - sa) + (fb - sb);
    fa + fb + if spare < INCREMENT { 9 } else { 0 }
}

fn parens(s: &str) -> String {
    format!("({s})")
}

/// A positive integer literal's value.
fn literal_int(e: &Expr) -> Option<i64> {
    match &e.node {
        Node::Num(n) if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
        Node::Neg(inner) => literal_int(inner).map(|v| -v),
        _ => None,
    }
}

/// `YYYY-MM-DD`, optionally followed by ` HH:MM:SS[.ffffff]` when `time` allows it.
fn date_literal(v: &str, time: bool) -> bool {
    let b = v.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let date = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    if !date {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    time && matches!(b[10], b' ' | b'T') && time_literal(&v[11..], false)
}

/// `HH:MM:SS[.ffffff]`; with `sign_and_hours`, MySQL TIME's `-838:59:59` too.
fn time_literal(v: &str, sign_and_hours: bool) -> bool {
    let v = if sign_and_hours {
        v.strip_prefix('-').unwrap_or(v)
    } else {
        v
    };
    let (hms, frac) = v.split_once('.').unwrap_or((v, "0"));
    let parts: Vec<&str> = hms.split(':').collect();
    let hours_ok = |h: &str| {
        !h.is_empty()
            && h.bytes().all(|b| b.is_ascii_digit())
            && (if sign_and_hours {
                h.len() <= 3
            } else {
                h.len() == 2
            })
    };
    parts.len() == 3
        && hours_ok(parts[0])
        && parts[1..]
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
        && !frac.is_empty()
        && frac.len() <= 6
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a regular expression reads the same to MySQL (ICU), MariaDB (PCRE) and
/// PostgreSQL (ARE): literals, `.`, `^`, `$`, `*`, `+`, `?`, `{m,n}`, `|`, groups,
/// bracket expressions (with `[:alpha:]`-style classes), `\d \w \s` and escaped
/// punctuation. `Err` names the first construct outside that.
fn regex_ok(p: &str) -> Result<(), String> {
    let mut chars = p.chars().peekable();
    // Inside a bracket expression, `[.x.]` and `[=x=]` are collating elements.
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if !in_bracket => match chars.next() {
                Some(e) if "dDwWsS".contains(e) || e.is_ascii_punctuation() => {}
                Some(e) => {
                    return Err(format!(
                        "`\\{e}` means different things in MySQL's and PostgreSQL's regular expressions"
                    ));
                }
                None => return Err("a pattern that ends with a backslash".into()),
            },
            '\\' => {
                return Err(
                    "a backslash in a bracket expression means different things in MySQL's and PostgreSQL's regular expressions"
                        .into(),
                );
            }
            '(' if !in_bracket && chars.peek() == Some(&'?') => {
                return Err(
                    "`(?` constructs differ between MySQL's and PostgreSQL's regular expressions"
                        .into(),
                );
            }
            '[' if !in_bracket => {
                in_bracket = true;
                // A `]` (after an optional `^`) right at the start is a literal.
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                }
            }
            '[' => match chars.peek() {
                Some('.') | Some('=') => {
                    return Err("collating elements `[.` `[=` are not translated".into());
                }
                Some(':') => {
                    // A class like [:alpha:]: skip to its `:]`.
                    chars.next();
                    let mut prev = ' ';
                    for n in chars.by_ref() {
                        if prev == ':' && n == ']' {
                            break;
                        }
                        prev = n;
                    }
                }
                _ => {}
            },
            ']' if in_bracket => in_bracket = false,
            _ => {}
        }
    }
    Ok(())
}

impl Tr<'_> {
    fn column(&mut self, e: &Expr, name: &str) -> R<(ColumnInfo, Kind)> {
        let Some(info) = (self.columns)(name) else {
            return fail(
                e,
                format!("`{}` is not a column of this table", escaped(name)),
            );
        };
        if self.generated && info.generated {
            return fail(
                e,
                format!(
                    "`{}` is a generated column, and PostgreSQL does not let a generated column use another",
                    escaped(name)
                ),
            );
        }
        let kind = Kind::of_type(&info.pg_type);
        Ok((info, kind))
    }

    /// A CHECK's condition: its top-level AND terms may be `JSON_VALID(column)`, which
    /// becomes a jsonb cast (an invalid value raises an error, refusing the row as the
    /// CHECK would); `None` when the whole condition holds by the column types.
    fn check(&mut self, e: &Expr) -> R<Option<String>> {
        match &e.node {
            Node::Bin(BinOp::And, l, r) => {
                let l = self.check(l)?;
                let r = self.check(r)?;
                Ok(match (l, r) {
                    (Some(l), Some(r)) => Some(format!("({l} AND {r})")),
                    (one, None) | (None, one) => one,
                })
            }
            Node::Call(name, args) if name == "json_valid" => {
                let [arg] = args.as_slice() else {
                    return fail(e, "JSON_VALID takes one argument");
                };
                let Node::Column(c) = &arg.node else {
                    return fail(e, "JSON_VALID is translated for a column only");
                };
                let (info, kind) = self.column(arg, c)?;
                let q = quote_ident(&info.target);
                match kind {
                    Kind::Json => Ok(None),
                    Kind::Text => Ok(Some(format!("({q} IS NULL OR ({q})::jsonb IS NOT NULL)"))),
                    k => fail(e, format!("JSON_VALID of {}", k.name())),
                }
            }
            _ => self.cond(e).map(Some),
        }
    }

    /// `e` as a condition: MySQL reads any number as one (non-zero is true).
    fn cond(&mut self, e: &Expr) -> R<String> {
        match &e.node {
            Node::Bin(op @ (BinOp::And | BinOp::Or), l, r) => {
                let l = self.cond(l)?;
                let r = self.cond(r)?;
                let op = if *op == BinOp::And { "AND" } else { "OR" };
                return Ok(format!("({l} {op} {r})"));
            }
            Node::Not(inner) => return Ok(format!("(NOT {})", self.cond(inner)?)),
            Node::Bool(b) => return Ok(b.to_string()),
            _ => {}
        }
        if let Some(n) = literal_int(e) {
            return Ok((n != 0).to_string());
        }
        let v = self.value(e)?;
        match v.kind {
            Kind::Bool | Kind::BoolColumn | Kind::Null => Ok(v.sql),
            Kind::Int { .. } | Kind::Dec { .. } | Kind::Float => Ok(format!("({} <> 0)", v.sql)),
            k => fail(
                e,
                format!(
                    "{} used as a condition (MySQL reads it as a number)",
                    k.name()
                ),
            ),
        }
    }

    /// `e` as a number; a condition or boolean column becomes an integer.
    fn number(&mut self, e: &Expr) -> R<Val> {
        let v = self.value(e)?;
        match v.kind {
            Kind::Bool | Kind::BoolColumn => Ok(Val {
                sql: format!("({})::integer", v.sql),
                kind: Kind::Int { wide: false },
                same_text: true,
                ..v
            }),
            Kind::Int { .. } | Kind::Dec { .. } | Kind::Float | Kind::Null => Ok(v),
            k => fail(
                e,
                format!("{} in arithmetic (MySQL converts it to a number)", k.name()),
            ),
        }
    }

    /// `e` as text (or NULL).
    fn text(&mut self, e: &Expr) -> R<Val> {
        let v = self.value(e)?;
        match v.kind {
            Kind::Text | Kind::Null => Ok(v),
            k => fail(
                e,
                format!(
                    "{} where text is expected (MySQL converts it to text)",
                    k.name()
                ),
            ),
        }
    }

    fn note_collation(&mut self, v: &Val) {
        if let Some((col, c)) = &v.coll
            && !binary_collation(c)
        {
            let note = format!(
                "PostgreSQL compares `{}` exactly (case and trailing spaces count); MySQL compared it under collation {}",
                escaped(col),
                escaped(c)
            );
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
    }

    /// Values compared with each other (`=`, `BETWEEN`, `IN`, `CASE x WHEN`): they must be
    /// of one kind, as PostgreSQL compares them; a string literal may stand for a date
    /// or time when it is written as one.
    fn comparable(&mut self, exprs: &[&Expr]) -> R<Vec<String>> {
        let mut vals = Vec::with_capacity(exprs.len());
        for e in exprs {
            vals.push(self.value(e)?);
        }
        let is_str = |e: &Expr| matches!(e.node, Node::Str(_));
        let anchor = exprs
            .iter()
            .zip(&vals)
            .find(|(e, v)| v.kind != Kind::Null && !is_str(e))
            .or_else(|| exprs.iter().zip(&vals).find(|(_, v)| v.kind != Kind::Null))
            .map(|(_, v)| v.kind)
            .unwrap_or(Kind::Null);
        let mut out = Vec::with_capacity(vals.len());
        for (e, v) in exprs.iter().zip(vals) {
            let ok = match (anchor, v.kind) {
                (_, Kind::Null) | (Kind::Null, _) => true,
                (a, k) if a.numeric() && k.numeric() => true,
                (Kind::Text, Kind::Text) => {
                    self.note_collation(&v);
                    true
                }
                (Kind::Date, Kind::Date | Kind::Timestamp)
                | (Kind::Timestamp, Kind::Date | Kind::Timestamp)
                | (Kind::Interval, Kind::Interval)
                | (Kind::TimestampTz, Kind::TimestampTz) => true,
                (a, Kind::Text) if a.temporal() => {
                    let Node::Str(s) = &e.node else {
                        return fail(e, format!("compares {} with text", a.name()));
                    };
                    match a {
                        Kind::Date => date_literal(s, false),
                        Kind::Timestamp => date_literal(s, true),
                        Kind::Interval => time_literal(s, true),
                        _ => {
                            return fail(
                                e,
                                "a timestamp compared with a literal depends on the session's time zone",
                            );
                        }
                    }
                }
                _ => false,
            };
            if !ok {
                return fail(
                    e,
                    format!(
                        "compares {} with {} (MySQL converts one to the other, PostgreSQL does not)",
                        anchor.name(),
                        v.kind.name()
                    ),
                );
            }
            if matches!(anchor, Kind::Json | Kind::Uuid | Kind::Bytes | Kind::Other) {
                return fail(e, format!("{} values are not compared here", anchor.name()));
            }
            out.push(match v.kind {
                Kind::Bool | Kind::BoolColumn => format!("({})::integer", v.sql),
                _ => v.sql,
            });
        }
        Ok(out)
    }

    /// The branches of COALESCE, IF and CASE: one kind, as PostgreSQL needs.
    fn branches(&mut self, exprs: &[&Expr]) -> R<(Vec<String>, Val)> {
        let mut vals = Vec::with_capacity(exprs.len());
        for e in exprs {
            vals.push(self.value(e)?);
        }
        let kinds: Vec<Kind> = vals
            .iter()
            .map(|v| v.kind)
            .filter(|k| *k != Kind::Null)
            .collect();
        let first = kinds.first().copied().unwrap_or(Kind::Null);
        let all_same = kinds.iter().all(|k| *k == first);
        let kind = if kinds.iter().all(|k| k.numeric()) && !kinds.is_empty() {
            if all_same {
                first
            } else if kinds.contains(&Kind::Float) {
                Kind::Float
            } else if kinds.iter().any(|k| matches!(k, Kind::Dec { .. })) {
                Kind::Dec { scale: None }
            } else {
                Kind::Int {
                    wide: kinds.contains(&Kind::Int { wide: true }),
                }
            }
        } else if all_same && !matches!(first, Kind::Json | Kind::Uuid | Kind::Other) {
            first
        } else {
            return match exprs
                .iter()
                .zip(&vals)
                .find(|(_, v)| v.kind != Kind::Null && v.kind != first)
            {
                Some((e, v)) => fail(
                    e,
                    format!(
                        "{} beside {} (MySQL converts one to the other, PostgreSQL does not)",
                        v.kind.name(),
                        first.name()
                    ),
                ),
                // All of one kind that is not translated here (JSON).
                None => fail(
                    exprs[0],
                    format!("{} values are not translated here", first.name()),
                ),
            };
        };
        let mixed_bools = !all_same;
        let sql = vals
            .iter()
            .map(|v| match v.kind {
                Kind::Bool | Kind::BoolColumn if mixed_bools => format!("({})::integer", v.sql),
                _ => v.sql.clone(),
            })
            .collect();
        let meta = Val {
            sql: String::new(),
            kind: if mixed_bools && kind == Kind::Bool {
                Kind::Int { wide: false }
            } else {
                kind
            },
            coll: vals.iter().find_map(|v| v.coll.clone()),
            utf8: vals.iter().all(|v| v.utf8),
            same_text: all_same && vals.iter().all(|v| v.same_text || v.kind == Kind::Null),
        };
        Ok((sql, meta))
    }

    /// An argument of CONCAT as text, printed as MySQL prints it.
    fn concat_piece(&mut self, e: &Expr) -> R<Val> {
        let v = self.value(e)?;
        match v.kind {
            Kind::Text | Kind::Null => Ok(v),
            Kind::Int { .. } | Kind::Dec { .. } if v.same_text => Ok(Val {
                sql: format!("({})::text", v.sql),
                kind: Kind::Text,
                ..v
            }),
            Kind::Bool | Kind::BoolColumn => Ok(Val {
                sql: format!("({})::integer::text", v.sql),
                kind: Kind::Text,
                ..v
            }),
            k => fail(
                e,
                format!("{} prints differently in MySQL and PostgreSQL", k.name()),
            ),
        }
    }

    fn value(&mut self, e: &Expr) -> R<Val> {
        match &e.node {
            Node::Column(name) => {
                let (info, kind) = self.column(e, name)?;
                match kind {
                    Kind::Uuid => {
                        return fail(
                            e,
                            format!(
                                "`{}` is a uuid in PostgreSQL, whose text is normalized to lower case",
                                escaped(name)
                            ),
                        );
                    }
                    Kind::Other => {
                        return fail(
                            e,
                            format!(
                                "`{}` is {} in PostgreSQL, which translated expressions do not use",
                                escaped(name),
                                escaped(&info.pg_type)
                            ),
                        );
                    }
                    _ => {}
                }
                let utf8 = info.charset.as_deref().is_none_or(|c| {
                    matches!(
                        c.to_ascii_lowercase().as_str(),
                        "utf8mb4" | "utf8mb3" | "utf8" | "ascii"
                    )
                });
                Ok(Val {
                    sql: quote_ident(&info.target),
                    kind,
                    coll: info
                        .collation
                        .clone()
                        .filter(|_| kind == Kind::Text)
                        .map(|c| (name.clone(), c)),
                    utf8,
                    same_text: matches!(kind, Kind::Int { .. } | Kind::Text)
                        || matches!(kind, Kind::Dec { scale: Some(_) }),
                })
            }
            Node::Str(s) => {
                if s.contains('\0') {
                    return fail(e, "a NUL character, which PostgreSQL text cannot hold");
                }
                Ok(Val {
                    same_text: true,
                    ..Val::new(quote_literal(s), Kind::Text)
                })
            }
            Node::Num(n) => {
                if n.contains(['e', 'E']) {
                    let n = if n.starts_with('.') {
                        format!("0{n}")
                    } else {
                        n.clone()
                    };
                    return Ok(Val::new(format!("({n}::double precision)"), Kind::Float));
                }
                if let Some((int, frac)) = n.split_once('.') {
                    let int = if int.is_empty() { "0" } else { int };
                    let frac = if frac.is_empty() { "0" } else { frac };
                    return Ok(Val {
                        same_text: true,
                        ..Val::new(
                            format!("{int}.{frac}"),
                            Kind::Dec {
                                scale: Some(frac.len() as u32),
                            },
                        )
                    });
                }
                let kind = match n.parse::<i64>() {
                    Ok(v) => Kind::Int {
                        wide: v > i32::MAX as i64,
                    },
                    Err(_) => Kind::Dec { scale: Some(0) },
                };
                Ok(Val {
                    same_text: true,
                    ..Val::new(n.clone(), kind)
                })
            }
            Node::Null => Ok(Val::new("NULL".into(), Kind::Null)),
            Node::Bool(b) => Ok(Val {
                same_text: true,
                ..Val::new(if *b { "1" } else { "0" }.into(), Kind::Int { wide: false })
            }),
            Node::Typed(t, v) => {
                let (ok, kw, kind) = match t {
                    Temporal::Date => (date_literal(v, false), "DATE", Kind::Date),
                    Temporal::Timestamp => (date_literal(v, true), "TIMESTAMP", Kind::Timestamp),
                    Temporal::Time => (time_literal(v, true), "INTERVAL", Kind::Interval),
                };
                if !ok {
                    return fail(e, "a date or time literal PostgreSQL may read differently");
                }
                Ok(Val::new(format!("{kw} {}", quote_literal(v)), kind))
            }
            Node::Neg(inner) => {
                let v = self.number(inner)?;
                Ok(Val {
                    sql: format!("(- {})", v.sql),
                    same_text: false,
                    ..v
                })
            }
            Node::Not(_) | Node::Bin(BinOp::And | BinOp::Or, _, _) => {
                Ok(Val::new(self.cond(e)?, Kind::Bool))
            }
            Node::Bin(BinOp::Other, _, _) => fail(e, "XOR and bit operators are not translated"),
            Node::Bin(
                op @ (BinOp::Eq
                | BinOp::Ne
                | BinOp::Lt
                | BinOp::Le
                | BinOp::Gt
                | BinOp::Ge
                | BinOp::NullSafeEq),
                l,
                r,
            ) => {
                let s = self.comparable(&[l, r])?;
                let op = match op {
                    BinOp::Eq => "=",
                    BinOp::Ne => "<>",
                    BinOp::Lt => "<",
                    BinOp::Le => "<=",
                    BinOp::Gt => ">",
                    BinOp::Ge => ">=",
                    _ => "IS NOT DISTINCT FROM",
                };
                Ok(Val::new(format!("({} {op} {})", s[0], s[1]), Kind::Bool))
            }
            Node::Bin(op, l, r) => self.arithmetic(e, *op, l, r),
            Node::Between {
                e: x,
                lo,
                hi,
                negated,
            } => {
                let s = self.comparable(&[x, lo, hi])?;
                let not = if *negated { "NOT " } else { "" };
                Ok(Val::new(
                    format!("({} {not}BETWEEN {} AND {})", s[0], s[1], s[2]),
                    Kind::Bool,
                ))
            }
            Node::In {
                e: x,
                list,
                negated,
            } => {
                let mut all: Vec<&Expr> = vec![x];
                all.extend(list.iter());
                let s = self.comparable(&all)?;
                let not = if *negated { "NOT " } else { "" };
                Ok(Val::new(
                    format!("({} {not}IN ({}))", s[0], s[1..].join(", ")),
                    Kind::Bool,
                ))
            }
            Node::IsNull { e: x, negated } => {
                // Any column may be tested for NULL, whatever its type.
                let sql = match &x.node {
                    Node::Column(c) => quote_ident(&self.column(x, c)?.0.target),
                    _ => self.value(x)?.sql,
                };
                let not = if *negated { "NOT " } else { "" };
                Ok(Val::new(format!("({sql} IS {not}NULL)"), Kind::Bool))
            }
            Node::Like {
                e: x,
                pattern,
                escape,
                negated,
            } => {
                let v = self.text(x)?;
                let p = self.text(pattern)?;
                self.note_collation(&v);
                let esc = match escape {
                    None => String::new(),
                    Some(esc) => match &esc.node {
                        Node::Str(c) if c.chars().count() == 1 => {
                            format!(" ESCAPE {}", quote_literal(c))
                        }
                        _ => return fail(esc, "an ESCAPE that is not one character"),
                    },
                };
                let not = if *negated { "NOT " } else { "" };
                Ok(Val::new(
                    format!("({} {not}LIKE {}{esc})", v.sql, p.sql),
                    Kind::Bool,
                ))
            }
            Node::Regexp {
                e: x,
                pattern,
                flags,
                negated,
            } => {
                let v = self.text(x)?;
                let Node::Str(p) = &pattern.node else {
                    return fail(pattern, "a pattern that is not a literal");
                };
                if let Err(why) = regex_ok(p) {
                    return fail(pattern, why);
                }
                let insensitive = match flags.as_deref().map(|f| &f.node) {
                    Some(Node::Str(f)) if f == "c" => false,
                    Some(Node::Str(f)) if f == "i" => true,
                    Some(_) => {
                        return fail(
                            flags.as_deref().expect("some"),
                            "match types other than 'c' and 'i'",
                        );
                    }
                    None => match &v.coll {
                        Some((_, c)) => case_insensitive(c),
                        None if v.kind == Kind::Null => false,
                        None => {
                            return fail(
                                x,
                                "its case sensitivity depends on the connection's collation",
                            );
                        }
                    },
                };
                let op = match (*negated, insensitive) {
                    (false, false) => "~",
                    (false, true) => "~*",
                    (true, false) => "!~",
                    (true, true) => "!~*",
                };
                Ok(Val::new(
                    format!("({} {op} {})", v.sql, quote_literal(p)),
                    Kind::Bool,
                ))
            }
            Node::Trim { side, chars, e: x } => {
                let v = self.text(x)?;
                let c = match chars {
                    None => "' '".to_string(),
                    Some(c) => match &c.node {
                        Node::Str(s) if s.chars().count() == 1 => quote_literal(s),
                        _ => {
                            return fail(
                                c,
                                "TRIM of anything but one character (MySQL removes a string, PostgreSQL a set of characters)",
                            );
                        }
                    },
                };
                let side = match side {
                    TrimSide::Both => "BOTH",
                    TrimSide::Leading => "LEADING",
                    TrimSide::Trailing => "TRAILING",
                };
                Ok(Val {
                    sql: format!("trim({side} {c} FROM {})", v.sql),
                    ..v
                })
            }
            Node::Case {
                operand,
                whens,
                otherwise,
            } => {
                let conds: Vec<String> = match operand {
                    Some(op) => {
                        let mut all: Vec<&Expr> = vec![op];
                        all.extend(whens.iter().map(|(w, _)| w));
                        let s = self.comparable(&all)?;
                        s[1..].iter().map(|w| format!("{} = {w}", s[0])).collect()
                    }
                    None => {
                        let mut c = Vec::new();
                        for (w, _) in whens {
                            c.push(self.cond(w)?);
                        }
                        c
                    }
                };
                let mut results: Vec<&Expr> = whens.iter().map(|(_, t)| t).collect();
                if let Some(o) = otherwise {
                    results.push(o);
                }
                let (sql, meta) = self.branches(&results)?;
                let mut out = String::from("CASE");
                for (c, r) in conds.iter().zip(&sql) {
                    out.push_str(&format!(" WHEN {c} THEN {r}"));
                }
                if otherwise.is_some() {
                    out.push_str(&format!(" ELSE {}", sql[sql.len() - 1]));
                }
                out.push_str(" END");
                Ok(Val {
                    sql: parens(&out),
                    ..meta
                })
            }
            Node::Call(name, args) => self.call(e, name, args),
            Node::Unsupported(why) => fail(e, why.clone()),
        }
    }

    fn arithmetic(&mut self, e: &Expr, op: BinOp, l: &Expr, r: &Expr) -> R<Val> {
        let a = self.number(l)?;
        let b = self.number(r)?;
        // MySQL gives NULL for a zero divisor, PostgreSQL raises an error.
        let nonzero = match &r.node {
            Node::Num(n) => {
                n.bytes().any(|b| (b'1'..=b'9').contains(&b)) && !n.contains(['e', 'E'])
            }
            _ => false,
        };
        let divisor = |sql: &str| {
            if nonzero {
                sql.to_string()
            } else {
                format!("NULLIF({sql}, 0)")
            }
        };
        let float = a.kind == Kind::Float || b.kind == Kind::Float;
        let scale = |k: Kind| match k {
            Kind::Int { .. } => Some(0),
            Kind::Dec { scale } => scale,
            _ => None,
        };
        let exact = |v: &Val| matches!(v.kind, Kind::Int { .. } | Kind::Dec { .. } | Kind::Null);
        match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul => {
                let sym = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    _ => "*",
                };
                let kind = if float {
                    Kind::Float
                } else if let (Kind::Int { wide: wa }, Kind::Int { wide: wb }) = (a.kind, b.kind) {
                    // MySQL computes integers in 64 bits: so must PostgreSQL.
                    if !wa && !wb {
                        return Ok(Val {
                            same_text: true,
                            ..Val::new(
                                format!("(({})::bigint {sym} {})", a.sql, b.sql),
                                Kind::Int { wide: true },
                            )
                        });
                    }
                    Kind::Int { wide: true }
                } else if a.kind == Kind::Null || b.kind == Kind::Null {
                    Kind::Null
                } else {
                    let (sa, sb) = (scale(a.kind), scale(b.kind));
                    Kind::Dec {
                        scale: match (sa, sb, op) {
                            (Some(x), Some(y), BinOp::Mul) => Some(x + y),
                            (Some(x), Some(y), _) => Some(x.max(y)),
                            _ => None,
                        },
                    }
                };
                Ok(Val {
                    same_text: matches!(kind, Kind::Int { .. }),
                    ..Val::new(format!("({} {sym} {})", a.sql, b.sql), kind)
                })
            }
            BinOp::Div if float => Ok(Val::new(
                format!("({} / {})", a.sql, divisor(&b.sql)),
                Kind::Float,
            )),
            BinOp::Div => {
                if a.kind == Kind::Null || b.kind == Kind::Null {
                    return Ok(Val::new("NULL".into(), Kind::Null));
                }
                let (Some(sa), Some(sb)) = (scale(a.kind), scale(b.kind)) else {
                    return fail(
                        e,
                        "a quotient of a value whose number of decimals is not known",
                    );
                };
                // MySQL divides exact numbers to a number of decimals it derives from
                // the operands' (in 9-digit groups) and cuts the rest: so does this.
                let digits = quotient_digits(sa, sb);
                if digits > 36 {
                    return fail(e, "a quotient with more than 36 decimals");
                }
                let zeros = "0".repeat(digits as usize);
                Ok(Val::new(
                    format!(
                        "(div(({})::numeric * 1{zeros}, {}) * 0.{}1)",
                        a.sql,
                        divisor(&format!("({})::numeric", b.sql)),
                        &zeros[1..]
                    ),
                    Kind::Dec {
                        scale: Some(digits),
                    },
                ))
            }
            BinOp::IntDiv | BinOp::Mod if !(exact(&a) && exact(&b)) => fail(
                e,
                "DIV and MOD of floating-point numbers are not translated",
            ),
            BinOp::IntDiv => Ok(Val {
                same_text: true,
                ..Val::new(
                    format!(
                        "div(({})::numeric, {})",
                        a.sql,
                        divisor(&format!("({})::numeric", b.sql))
                    ),
                    Kind::Dec { scale: Some(0) },
                )
            }),
            BinOp::Mod => {
                let kind = match (a.kind, b.kind) {
                    (Kind::Int { wide: wa }, Kind::Int { wide: wb }) => {
                        Kind::Int { wide: wa || wb }
                    }
                    _ => Kind::Dec {
                        scale: scale(a.kind).zip(scale(b.kind)).map(|(x, y)| x.max(y)),
                    },
                };
                Ok(Val {
                    same_text: true,
                    ..Val::new(format!("mod({}, {})", a.sql, divisor(&b.sql)), kind)
                })
            }
            _ => fail(e, "this operator is not translated"),
        }
    }

    fn call(&mut self, e: &Expr, name: &str, args: &[Expr]) -> R<Val> {
        let arity = |lo: usize, hi: usize| -> R<()> {
            if args.len() < lo || args.len() > hi {
                fail(
                    e,
                    format!("{}() with {} argument(s)", name.to_uppercase(), args.len()),
                )
            } else {
                Ok(())
            }
        };
        match name {
            "char_length" | "character_length" => {
                arity(1, 1)?;
                let v = self.text(&args[0])?;
                Ok(Val {
                    same_text: true,
                    ..Val::new(format!("char_length({})", v.sql), Kind::Int { wide: false })
                })
            }
            "length" | "octet_length" => {
                arity(1, 1)?;
                let v = self.value(&args[0])?;
                match v.kind {
                    Kind::Text | Kind::Null if v.utf8 => {}
                    Kind::Bytes => {}
                    Kind::Text => {
                        return fail(
                            e,
                            "LENGTH counts bytes in the column's own character set, PostgreSQL would count UTF-8 bytes",
                        );
                    }
                    k => return fail(&args[0], format!("LENGTH of {}", k.name())),
                }
                Ok(Val {
                    same_text: true,
                    ..Val::new(
                        format!("octet_length({})", v.sql),
                        Kind::Int { wide: false },
                    )
                })
            }
            "lower" | "lcase" | "upper" | "ucase" => {
                arity(1, 1)?;
                let v = self.text(&args[0])?;
                let f = if name.starts_with('l') {
                    "lower"
                } else {
                    "upper"
                };
                Ok(Val {
                    sql: format!("{f}({})", v.sql),
                    ..v
                })
            }
            "coalesce" | "ifnull" => {
                if name == "ifnull" {
                    arity(2, 2)?;
                } else {
                    arity(1, usize::MAX)?;
                }
                let all: Vec<&Expr> = args.iter().collect();
                let (sql, meta) = self.branches(&all)?;
                Ok(Val {
                    sql: format!("COALESCE({})", sql.join(", ")),
                    ..meta
                })
            }
            "if" => {
                arity(3, 3)?;
                let c = self.cond(&args[0])?;
                let (sql, meta) = self.branches(&[&args[1], &args[2]])?;
                Ok(Val {
                    sql: format!("(CASE WHEN {c} THEN {} ELSE {} END)", sql[0], sql[1]),
                    ..meta
                })
            }
            "concat" => {
                arity(1, usize::MAX)?;
                let mut pieces = Vec::new();
                for a in args {
                    pieces.push(self.concat_piece(a)?);
                }
                let sql = if pieces.len() == 1 {
                    format!("({})::text", pieces[0].sql)
                } else {
                    parens(
                        &pieces
                            .iter()
                            .map(|p| p.sql.as_str())
                            .collect::<Vec<_>>()
                            .join(" || "),
                    )
                };
                Ok(Val {
                    sql,
                    kind: Kind::Text,
                    coll: pieces.iter().find_map(|p| p.coll.clone()),
                    utf8: pieces.iter().all(|p| p.utf8),
                    same_text: true,
                })
            }
            "concat_ws" => {
                arity(2, usize::MAX)?;
                let sep = self.text(&args[0])?;
                let mut pieces = vec![sep.sql];
                for a in &args[1..] {
                    pieces.push(self.concat_piece(a)?.sql);
                }
                if self.stable.is_none() {
                    self.stable = Some((e.span, "CONCAT_WS".into()));
                }
                Ok(Val {
                    same_text: true,
                    ..Val::new(format!("concat_ws({})", pieces.join(", ")), Kind::Text)
                })
            }
            "round" => {
                arity(1, 2)?;
                let v = self.number(&args[0])?;
                if v.kind == Kind::Float {
                    return fail(
                        &args[0],
                        "ROUND of a floating-point number depends on the C library in MySQL",
                    );
                }
                let digits = match args.get(1) {
                    None => None,
                    Some(d) => match literal_int(d) {
                        Some(n) if (-30..=30).contains(&n) => Some(n),
                        _ => return fail(d, "ROUND's digits must be an integer literal"),
                    },
                };
                let sql = match digits {
                    Some(d) => format!("round(({})::numeric, {d})", v.sql),
                    None => format!("round(({})::numeric)", v.sql),
                };
                Ok(Val {
                    same_text: true,
                    ..Val::new(
                        sql,
                        Kind::Dec {
                            scale: Some(digits.unwrap_or(0).max(0) as u32),
                        },
                    )
                })
            }
            "abs" => {
                arity(1, 1)?;
                let v = self.number(&args[0])?;
                Ok(Val {
                    sql: format!("abs({})", v.sql),
                    ..v
                })
            }
            "substring" => {
                arity(2, 3)?;
                let v = self.text(&args[0])?;
                let mut sql = format!("substr({}", v.sql);
                for (i, a) in args[1..].iter().enumerate() {
                    match literal_int(a) {
                        Some(n) if n > 0 || (i == 1 && n == 0) => sql.push_str(&format!(", {n}")),
                        _ => {
                            return fail(
                                a,
                                "SUBSTRING with a position below 1 or a computed position (MySQL and PostgreSQL count those differently)",
                            );
                        }
                    }
                }
                sql.push(')');
                Ok(Val { sql, ..v })
            }
            "ltrim" | "rtrim" => {
                arity(1, 1)?;
                let v = self.text(&args[0])?;
                Ok(Val {
                    sql: format!("{name}({}, ' ')", v.sql),
                    ..v
                })
            }
            "json_valid" => fail(
                e,
                "JSON_VALID is translated only as a condition of its own in a CHECK (PostgreSQL raises an error for invalid JSON where MySQL returns 0)",
            ),
            "now" | "sysdate" | "curdate" | "curtime" | "current_timestamp" | "current_date"
            | "current_time" | "localtime" | "localtimestamp" | "utc_timestamp" | "rand"
            | "uuid" | "uuid_short" | "connection_id" | "user" | "current_user" | "database" => {
                fail(
                    e,
                    format!(
                        "{}() changes from one evaluation to the next",
                        name.to_uppercase()
                    ),
                )
            }
            _ => fail(
                e,
                format!("{}() is not in the translated subset", name.to_uppercase()),
            ),
        }
    }

    /// A generated column's expression, of the column's PostgreSQL type.
    fn generated_value(&mut self, e: &Expr, pg_type: &str) -> R<String> {
        let v = self.value(e)?;
        let target = Kind::of_type(pg_type);
        let sql = match (target, v.kind) {
            (_, Kind::Null) => v.sql,
            (Kind::Int { .. } | Kind::Dec { .. }, Kind::Int { .. } | Kind::Dec { .. }) => v.sql,
            (Kind::Float, Kind::Int { .. } | Kind::Dec { .. } | Kind::Float) => v.sql,
            (Kind::Int { .. } | Kind::Dec { .. } | Kind::Float, Kind::Bool | Kind::BoolColumn) => {
                format!("({})::integer", v.sql)
            }
            (Kind::BoolColumn, Kind::Bool | Kind::BoolColumn) => v.sql,
            (Kind::Text, Kind::Text) => v.sql,
            (Kind::Text, Kind::Int { .. } | Kind::Dec { .. }) if v.same_text => {
                format!("({})::text", v.sql)
            }
            (Kind::Date, Kind::Date)
            | (Kind::Timestamp, Kind::Timestamp)
            | (Kind::TimestampTz, Kind::TimestampTz)
            | (Kind::Interval, Kind::Interval)
            | (Kind::Json, Kind::Json) => v.sql,
            (t, k) => {
                return fail(
                    e,
                    format!(
                        "it gives {} and the column is {} ({}): MySQL converts one to the other, PostgreSQL does not",
                        k.name(),
                        t.name(),
                        escaped(pg_type)
                    ),
                );
            }
        };
        Ok(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(name: &str) -> Option<ColumnInfo> {
        let (target, pg_type, charset, collation, generated) =
            match name.to_ascii_lowercase().as_str() {
                "id" => ("id", "integer", None, None, false),
                "salary" => ("salary", "numeric(10,2)", None, None, false),
                "age" => ("age", "integer", None, None, false),
                "big" => ("big", "bigint", None, None, false),
                "name" => (
                    "name",
                    "varchar(50)",
                    Some("utf8mb4"),
                    Some("utf8mb4_general_ci"),
                    false,
                ),
                "email" => (
                    "email",
                    "varchar(100)",
                    Some("utf8mb4"),
                    Some("utf8mb4_general_ci"),
                    false,
                ),
                "code" => (
                    "Code",
                    "varchar(3)",
                    Some("utf8mb4"),
                    Some("utf8mb4_bin"),
                    false,
                ),
                "status" => (
                    "status",
                    "varchar(10)",
                    Some("utf8mb4"),
                    Some("utf8mb4_general_ci"),
                    false,
                ),
                "doc" => ("doc", "text", Some("utf8mb4"), Some("utf8mb4_bin"), false),
                "js" => ("js", "jsonb", None, None, false),
                "qty" => ("qty", "integer", None, None, false),
                "price" => ("price", "numeric(10,2)", None, None, false),
                "flag" => ("flag", "boolean", None, None, false),
                "u" => ("u", "uuid", None, None, false),
                "created" => ("created", "timestamp(3)", None, None, false),
                "d" => ("d", "date", None, None, false),
                "t" => ("t", "interval", None, None, false),
                "ts" => ("ts", "timestamptz(0)", None, None, false),
                "lat" => (
                    "lat",
                    "text",
                    Some("latin1"),
                    Some("latin1_swedish_ci"),
                    false,
                ),
                "f" => ("f", "double precision", None, None, false),
                "tags" => ("tags", "text[]", None, None, false),
                "total" => ("total", "numeric(12,2)", None, None, true),
                "we\"ird" => ("we\"ird", "integer", None, None, false),
                _ => return None,
            };
        Some(ColumnInfo {
            target: target.into(),
            pg_type: pg_type.into(),
            charset: charset.map(Into::into),
            collation: collation.map(Into::into),
            generated,
        })
    }

    fn check(text: &str) -> Outcome {
        translate(Dialect::MySql, text, Purpose::Check, &columns)
    }

    fn sql(text: &str) -> String {
        match check(text) {
            Outcome::Translated { sql, .. } => sql,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn notes(text: &str) -> Vec<String> {
        match check(text) {
            Outcome::Translated { notes, .. } => notes,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn gen_sql(text: &str, ty: &str) -> String {
        match translate(
            Dialect::MySql,
            text,
            Purpose::Generated { pg_type: ty },
            &columns,
        ) {
            Outcome::Translated { sql, .. } => sql,
            other => panic!("{text}: {other:?}"),
        }
    }

    /// The fragment and reason of an untranslated expression.
    fn not_translated(text: &str) -> (String, String) {
        match check(text) {
            Outcome::Untranslated { fragment, why } => (fragment, why),
            other => panic!("{text} should not translate: {other:?}"),
        }
    }

    fn gen_not_translated(text: &str, ty: &str) -> (String, String) {
        match translate(
            Dialect::MySql,
            text,
            Purpose::Generated { pg_type: ty },
            &columns,
        ) {
            Outcome::Untranslated { fragment, why } => (fragment, why),
            other => panic!("{text} should not translate: {other:?}"),
        }
    }

    const CI_NAME: &str = "PostgreSQL compares `name` exactly (case and trailing spaces count); MySQL compared it under collation utf8mb4_general_ci";

    #[test]
    fn mariadb_spelling_of_every_construct() {
        // Clauses as MariaDB 10.11 shows them in information_schema.CHECK_CONSTRAINTS.
        assert_eq!(sql("`salary` > 0"), r#"("salary" > 0)"#);
        assert_eq!(
            sql("`age` between 18 and 99"),
            r#"("age" BETWEEN 18 AND 99)"#
        );
        assert_eq!(
            sql(r"`status` in ('new','paid','it\'s')"),
            r#"("status" IN ('new', 'paid', 'it''s'))"#
        );
        assert_eq!(
            sql("`name` is not null and (char_length(`name`) >= 2 or `name` like 'x%')"),
            r#"(("name" IS NOT NULL) AND ((char_length("name") >= 2) OR ("name" LIKE 'x%')))"#
        );
        assert_eq!(
            notes("`name` is not null and (char_length(`name`) >= 2 or `name` like 'x%')"),
            vec![CI_NAME.to_string()]
        );
        // REGEXP follows the column's collation: case-insensitive under _ci.
        assert_eq!(
            sql("`email` regexp '^[^@]+@[^@]+$'"),
            r#"("email" ~* '^[^@]+@[^@]+$')"#
        );
        assert_eq!(
            sql("`code` not regexp '^[A-Z]+$'"),
            r#"("Code" !~ '^[A-Z]+$')"#
        );
        assert_eq!(sql("`email` rlike 'x'"), r#"("email" ~* 'x')"#);
        // ucase/lcase and octet_length (MariaDB's LENGTH); names map to target names.
        assert_eq!(
            sql("ucase(`code`) = `code` and octet_length(`code`) = 3"),
            r#"((upper("Code") = "Code") AND (octet_length("Code") = 3))"#
        );
        assert!(
            notes("ucase(`code`) = `code`").is_empty(),
            "utf8mb4_bin compares exactly"
        );
        assert_eq!(
            sql(
                "`qty` >= 0 and coalesce(`qty`,0) + 1 <> 0 and ifnull(`price`,1) * 2 >= -5.5 and `qty` MOD 2 = 0 or `qty` DIV 2 > 1"
            ),
            r#"((((("qty" >= 0) AND (((COALESCE("qty", 0))::bigint + 1) <> 0)) AND ((COALESCE("price", 1) * 2) >= (- 5.5))) AND (mod("qty", 2) = 0)) OR (div(("qty")::numeric, (2)::numeric) > 1))"#
        );
        assert_eq!(
            sql(
                r"`name` <> 'dq' and `name`  not like 'a\\_b%' escape '\\' and lcase(`name`) <> 'x\'y\\z'"
            ),
            r#"((("name" <> 'dq') AND ("name" NOT LIKE 'a\_b%' ESCAPE '\')) AND (lower("name") <> 'x''y\z'))"#
        );
        assert_eq!(
            sql(
                "`age` is null or `age` is not null or `code` not in ('a','b') or `qty` not between 1 and 2"
            ),
            r#"(((("age" IS NULL) OR ("age" IS NOT NULL)) OR ("Code" NOT IN ('a', 'b'))) OR ("qty" NOT BETWEEN 1 AND 2))"#
        );
        // MariaDB prints TRUE as 1, and NOT (x < 0) as x >= 0.
        assert_eq!(sql("`qty` >= 0 and 1"), r#"(("qty" >= 0) AND true)"#);
        assert_eq!(
            sql("not `qty` < 0 and !(`age` > 3)"),
            r#"((NOT ("qty" < 0)) AND (NOT ("age" > 3)))"#
        );
        assert_eq!(
            sql("-`qty` < 10 and `qty` <=> `age`"),
            r#"(((- "qty") < 10) AND ("qty" IS NOT DISTINCT FROM "age"))"#
        );
        assert_eq!(
            sql(
                "`created` >= '2020-01-01 00:00:00' and `d` < DATE'2030-01-01' and `t` < '838:59:59'"
            ),
            r#"((("created" >= '2020-01-01 00:00:00') AND ("d" < DATE '2030-01-01')) AND ("t" < '838:59:59'))"#
        );
        assert_eq!(
            sql(
                "if(`qty` > 0,1,0) >= 0 and case when `qty` > 0 then 1 else 0 end >= 0 and case `qty` when 1 then 'a' end <> 'b'"
            ),
            r#"((((CASE WHEN ("qty" > 0) THEN 1 ELSE 0 END) >= 0) AND ((CASE WHEN ("qty" > 0) THEN 1 ELSE 0 END) >= 0)) AND ((CASE WHEN "qty" = 1 THEN 'a' END) <> 'b'))"#
        );
        assert_eq!(
            sql("concat(`name`,' <',`email`,'>') <> '' and concat_ws(',',`name`,`qty`) <> ''"),
            r#"((("name" || ' <' || "email" || '>') <> '') AND (concat_ws(',', "name", ("qty")::text) <> ''))"#
        );
        assert_eq!(
            sql(
                "round(`price`,1) > 1 and abs(`qty`) < 5 and round(`qty`) = 1 and round(`price`,-1) < 100"
            ),
            r#"((((round(("price")::numeric, 1) > 1) AND (abs("qty") < 5)) AND (round(("qty")::numeric) = 1)) AND (round(("price")::numeric, -1) < 100))"#
        );
        assert_eq!(
            sql(
                "substr(`name`,1,3) = 'abc' and substr(`name`,2) <> '' and trim(`name`) <> '' and trim(both 'x' from `name`) <> '' and trim(leading 'x' from `name`) <> '' and rtrim(`name`) <> ''"
            ),
            r#"((((((substr("name", 1, 3) = 'abc') AND (substr("name", 2) <> '')) AND (trim(BOTH ' ' FROM "name") <> '')) AND (trim(BOTH 'x' FROM "name") <> '')) AND (trim(LEADING 'x' FROM "name") <> '')) AND (rtrim("name", ' ') <> ''))"#
        );
        assert_eq!(
            sql("`qty` / 4 > 1 and `f` / `qty` > 1 and `qty` % `age` = 0"),
            r#"((((div(("qty")::numeric * 1000000000, (4)::numeric) * 0.000000001) > 1) AND (("f" / NULLIF("qty", 0)) > 1)) AND (mod("qty", NULLIF("age", 0)) = 0))"#
        );
        assert_eq!(
            sql("`qty` * `price` > 1.5e3"),
            r#"(("qty" * "price") > (1.5e3::double precision))"#
        );
    }

    #[test]
    fn mysql8_spelling() {
        // MySQL 8.0 wraps every operation in parentheses, puts introducers on strings and
        // escapes the clause once more in information_schema (literal examples: only
        // MariaDB can be installed on the test machine).
        assert_eq!(sql("(`salary` > 0)"), r#"("salary" > 0)"#);
        assert_eq!(
            sql("((`age` between 18 and 99))"),
            r#"("age" BETWEEN 18 AND 99)"#
        );
        assert_eq!(
            sql(r"(`status` in (_utf8mb4\'new\',_utf8mb4\'paid\',_utf8mb4\'it\\\'s\'))"),
            r#"("status" IN ('new', 'paid', 'it''s'))"#
        );
        assert_eq!(
            sql(
                r"((`name` is not null) and ((char_length(`name`) >= 2) or (`name` like _utf8mb4\'x%\')))"
            ),
            r#"(("name" IS NOT NULL) AND ((char_length("name") >= 2) OR ("name" LIKE 'x%')))"#
        );
        assert_eq!(
            sql(r"regexp_like(`email`,_utf8mb4\'^[^@]+@[^@]+$\')"),
            r#"("email" ~* '^[^@]+@[^@]+$')"#
        );
        assert_eq!(
            sql(r"regexp_like(`email`,_utf8mb4\'a\',_utf8mb4\'c\')"),
            r#"("email" ~ 'a')"#
        );
        assert_eq!(
            sql("((upper(`code`) = `code`) and (length(`code`) = 3))"),
            r#"((upper("Code") = "Code") AND (octet_length("Code") = 3))"#
        );
        assert_eq!(sql("((`qty` % 2) = 0)"), r#"(mod("qty", 2) = 0)"#);
        assert_eq!(sql("(not((`qty` < 0)))"), r#"(NOT ("qty" < 0))"#);
        assert_eq!(sql("(`qty` > -(5))"), r#"("qty" > (- 5))"#);
        assert_eq!(sql("(`qty` <> 0)"), r#"("qty" <> 0)"#);
        assert_eq!(
            sql("((`qty` DIV 2) > 1)"),
            r#"(div(("qty")::numeric, (2)::numeric) > 1)"#
        );
        assert_eq!(
            sql("json_valid(`doc`)"),
            r#"("doc" IS NULL OR ("doc")::jsonb IS NOT NULL)"#
        );
        assert_eq!(
            sql(r"(if((`qty` > 0),1,0) >= 0)"),
            r#"((CASE WHEN ("qty" > 0) THEN 1 ELSE 0 END) >= 0)"#
        );
        assert_eq!(
            sql(
                r"((case when (`qty` > 0) then _utf8mb4\'a\' else _utf8mb4\'b\' end) <> _utf8mb4\'c\')"
            ),
            r#"((CASE WHEN ("qty" > 0) THEN 'a' ELSE 'b' END) <> 'c')"#
        );
        assert_eq!(
            sql(r"(`name` <> _utf8mb4\'a\\\\b\')"),
            r#"("name" <> 'a\b')"#
        );
        assert_eq!(
            sql(
                r"((`name` like _utf8mb4\'a!_%\' escape _utf8mb4\'!\') and (trim(both _utf8mb4\'x\' from `name`) <> _utf8mb4\'\'))"
            ),
            r#"(("name" LIKE 'a!_%' ESCAPE '!') AND (trim(BOTH 'x' FROM "name") <> ''))"#
        );
        // A newline MySQL escaped inside the clause is just white space.
        assert_eq!(sql(r"(`qty`\n > 0)"), r#"("qty" > 0)"#);
        assert_eq!(
            gen_sql(r"concat(`name`,_utf8mb4\' \',`email`)", "text"),
            r#"("name" || ' ' || "email")"#
        );
        assert_eq!(
            gen_sql("(`qty` * `price`)", "numeric(12,2)"),
            r#"("qty" * "price")"#
        );
    }

    #[test]
    fn types_are_followed() {
        // A MySQL boolean is a number; a number is a condition.
        assert_eq!(
            sql("`flag` = 1 and `flag` and `flag` in (0,1)"),
            r#"(((("flag")::integer = 1) AND "flag") AND (("flag")::integer IN (0, 1)))"#
        );
        assert_eq!(sql("`qty`"), r#"("qty" <> 0)"#);
        assert_eq!(
            sql("(`qty` > 0) + (`age` > 0) >= 1"),
            r#"((((("qty" > 0))::integer)::bigint + (("age" > 0))::integer) >= 1)"#
        );
        // Integers add in 64 bits, as in MySQL.
        assert_eq!(
            sql("`qty` + `age` > 0"),
            r#"((("qty")::bigint + "age") > 0)"#
        );
        assert_eq!(sql("`big` + 1 > 0"), r#"(("big" + 1) > 0)"#);
        // Any column may be tested for NULL.
        assert_eq!(
            sql("`u` is not null and `tags` is null and `js` is not null"),
            r#"((("u" IS NOT NULL) AND ("tags" IS NULL)) AND ("js" IS NOT NULL))"#
        );
        assert_eq!(
            sql("`name` like concat('%','a') or 1"),
            r#"(("name" LIKE ('%' || 'a')) OR true)"#
        );
        for (text, fragment, why) in [
            ("`name` > 5", "5", "compares text with an integer"),
            ("`qty` + 'a' > 0", "'a'", "text in arithmetic"),
            ("`name`", "`name`", "text used as a condition"),
            ("`u` = 'x'", "`u`", "is a uuid in PostgreSQL"),
            ("`tags` = 'x'", "`tags`", "is text[] in PostgreSQL"),
            ("`ts` > '2020-01-01'", "'2020-01-01'", "session's time zone"),
            (
                "`d` > 'yesterday'",
                "'yesterday'",
                "compares a date with text",
            ),
            (
                "`d` > 20200101",
                "20200101",
                "compares a date with an integer",
            ),
            (
                "`lat` = 'x' and length(`lat`) > 1",
                "length(`lat`)",
                "own character set",
            ),
            (
                "coalesce(`qty`, 'none') <> ''",
                "'none'",
                "text beside an integer",
            ),
            ("substr(`name`, 0) <> ''", "0", "position below 1"),
            ("substr(`name`, -2) <> ''", "-2", "position below 1"),
            (
                "trim(both 'xy' from `name`) <> ''",
                "'xy'",
                "a set of characters",
            ),
            ("round(`f`) > 1", "`f`", "C library"),
            ("`f` div 2 > 1", "`f` div 2", "floating-point"),
            (
                "`name` regexp concat('a','b')",
                "concat('a','b')",
                "not a literal",
            ),
            ("'a' regexp 'b'", "'a'", "connection's collation"),
        ] {
            let (f, w) = not_translated(text);
            assert_eq!(f, fragment, "{text}: {w}");
            assert!(w.contains(why), "{text}: {w}");
        }
    }

    #[test]
    fn json_valid_in_a_check() {
        assert_eq!(
            check("json_valid(`js`)"),
            Outcome::Implied("the jsonb type admits only valid JSON".into())
        );
        // The jsonb column's term holds by its type; the rest stays.
        assert_eq!(sql("json_valid(`js`) and `qty` > 0"), r#"("qty" > 0)"#);
        assert_eq!(
            sql("json_valid(`doc`) and `qty` > 0"),
            r#"(("doc" IS NULL OR ("doc")::jsonb IS NOT NULL) AND ("qty" > 0))"#
        );
        // Under OR or NOT, an error is not a "false": not translated.
        let (f, w) = not_translated("json_valid(`doc`) or `qty` > 0");
        assert_eq!(f, "json_valid(`doc`)");
        assert!(w.contains("condition of its own"), "{w}");
        let (f, _) = not_translated("not json_valid(`doc`)");
        assert_eq!(f, "json_valid(`doc`)");
        let (f, w) = not_translated("json_valid(`qty`)");
        assert_eq!(
            (f.as_str(), w.as_str()),
            ("json_valid(`qty`)", "JSON_VALID of an integer")
        );
    }

    #[test]
    fn generated_expressions() {
        assert_eq!(
            gen_sql("`qty` * `price`", "numeric(12,2)"),
            r#"("qty" * "price")"#
        );
        // A quotient keeps MySQL's decimals (9 here) and cuts the rest, as MySQL does.
        assert_eq!(
            gen_sql("`qty` / 2", "numeric(10,4)"),
            r#"(div(("qty")::numeric * 1000000000, (2)::numeric) * 0.000000001)"#
        );
        assert_eq!(
            gen_sql("`price` / `qty` / 3", "numeric(30,20)"),
            r#"(div(((div(("price")::numeric * 1000000000, NULLIF(("qty")::numeric, 0)) * 0.000000001))::numeric * 1000000000000000000, (3)::numeric) * 0.000000000000000001)"#
        );
        assert_eq!(
            gen_sql("concat(`name`,' <',`email`,'>')", "varchar(200)"),
            r#"("name" || ' <' || "email" || '>')"#
        );
        assert_eq!(
            gen_sql("concat(`name`, `qty`, `price`, `flag`)", "text"),
            r#"("name" || ("qty")::text || ("price")::text || ("flag")::integer::text)"#
        );
        assert_eq!(gen_sql("`qty` > 5", "boolean"), r#"("qty" > 5)"#);
        assert_eq!(
            gen_sql("`qty` > 5", "smallint"),
            r#"(("qty" > 5))::integer"#
        );
        assert_eq!(
            gen_sql("`qty` + 1", "text"),
            r#"((("qty")::bigint + 1))::text"#
        );
        assert_eq!(
            gen_sql("lower(`email`)", "varchar(100)"),
            r#"lower("email")"#
        );
        assert_eq!(
            gen_sql("if(`flag`, 'yes', 'no')", "varchar(3)"),
            r#"(CASE WHEN "flag" THEN 'yes' ELSE 'no' END)"#
        );
        assert_eq!(
            gen_sql("`qty` div 3", "bigint"),
            r#"div(("qty")::numeric, (3)::numeric)"#
        );
        assert_eq!(
            gen_sql("ifnull(`name`, '')", "text"),
            r#"COALESCE("name", '')"#
        );
        for (text, ty, fragment, why) in [
            (
                "concat_ws(' ', `name`, `email`)",
                "text",
                "concat_ws(' ', `name`, `email`)",
                "not IMMUTABLE",
            ),
            (
                "`total` * 2",
                "numeric(12,2)",
                "`total`",
                "a generated column",
            ),
            (
                "`f` * 2",
                "numeric(10,2)",
                "`f` * 2",
                "it gives a floating-point number and the column is a decimal",
            ),
            ("`created`", "date", "`created`", "it gives a datetime"),
            ("concat(`name`, `f`)", "text", "`f`", "prints differently"),
            ("concat(`name`, `d`)", "text", "`d`", "prints differently"),
            ("`qty` / 3", "text", "`qty` / 3", "it gives a decimal"),
            (
                "json_valid(`doc`)",
                "boolean",
                "json_valid(`doc`)",
                "condition of its own",
            ),
            ("now()", "timestamp", "now()", "changes from one evaluation"),
        ] {
            let (f, w) = gen_not_translated(text, ty);
            assert_eq!(f, fragment, "{text}: {w}");
            assert!(w.contains(why), "{text}: {w}");
        }
    }

    #[test]
    fn outside_the_subset_names_the_fragment() {
        for (text, fragment, why) in [
            ("`qty` > 0 and x'41' = 'A'", "x'41'", "hexadecimal"),
            ("`qty` > 0 and X'41' = 'A'", "X'41'", "hexadecimal"),
            (
                "cast(`qty` as char charset utf8mb3) <> ''",
                "cast(`qty` as char charset utf8mb3)",
                "CAST is not translated",
            ),
            ("`qty` xor `age`", "`qty` xor `age`", "XOR"),
            ("`qty` & 1 = 1", "`qty` & 1", "bit operators"),
            (
                "`created` <= current_timestamp()",
                "current_timestamp()",
                "changes from one evaluation",
            ),
            (
                "`created` <= current_timestamp",
                "current_timestamp",
                "changes from one evaluation",
            ),
            (
                "`qty` > 0 and `created` > now() - interval 1 day",
                "interval 1 day",
                "INTERVAL",
            ),
            (
                "`name` collate utf8mb4_bin = 'x'",
                "`name` collate utf8mb4_bin",
                "COLLATE",
            ),
            (
                "(`name`,`age`) <> ('a',1)",
                "(`name`,`age`)",
                "a row of values",
            ),
            ("`qty` = (select 1)", "(select 1)", "subquery"),
            (
                "`qty` in (select max(id) from t)",
                "`qty` in (select max(id) from t)",
                "subquery",
            ),
            (
                "`nope` > 0",
                "`nope`",
                "`nope` is not a column of this table",
            ),
            ("`t`.`qty` > 0", "`t`.`qty` > 0", "qualified name"),
            (
                "soundex(`name`) <> ''",
                "soundex(`name`)",
                "SOUNDEX() is not in the translated subset",
            ),
            ("`name` sounds like 'x'", "sounds like 'x'", "`sounds`"),
            (
                "regexp_like(`email`, 'a\\\\bc')",
                "'a\\\\bc'",
                "`\\b` means different things",
            ),
            ("`email` regexp '(?i)abc'", "'(?i)abc'", "`(?`"),
            ("`email` regexp 'a\\\\1'", "'a\\\\1'", "`\\1`"),
            ("\"dq\" = `name`", "\"dq\" = `name`", "ANSI_QUOTES"),
            ("`qty` > ", "", "ends too early"),
            ("`qty` > 0 )", ")", "not expected"),
            ("`name` = 'abc", "'abc", "not closed"),
        ] {
            let (f, w) = not_translated(text);
            if !fragment.is_empty() {
                assert_eq!(f, fragment, "{text}: {w}");
            }
            assert!(w.contains(why), "{text}: {w}");
        }
        match translate(Dialect::Sqlite, "\"a\" > 0", Purpose::Check, &columns) {
            Outcome::Untranslated { fragment, why } => {
                assert_eq!(fragment, "\"a\" > 0");
                assert_eq!(why, "SQLite expressions are not translated");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn crafted_text_never_becomes_sql() {
        // A literal stays one literal, quotes doubled.
        assert_eq!(
            sql("`name` = 'x''); DROP TABLE t; --'"),
            r#"("name" = 'x''); DROP TABLE t; --')"#
        );
        assert_eq!(
            sql(r"`name` = 'x\'); DROP TABLE t; --'"),
            r#"("name" = 'x''); DROP TABLE t; --')"#
        );
        // Control characters become an escape string, on one line.
        assert_eq!(sql(r"`name` <> 'a\nb'"), r#"("name" <> E'a\nb')"#);
        // A name is only ever a known column, written through quote_ident.
        assert_eq!(sql("`we\"ird` > 0"), r#"("we""ird" > 0)"#);
        for text in [
            "1; DROP TABLE t",
            "`qty` > 0) OR (1 = 1",
            "`qty` > 0 -- comment",
            "`qty` > 0 /* x */",
            "`qty` > 0 # x",
            "`qty\" > 0); DROP TABLE t; --` > 0",
            "`qty` > 0 and now(); drop table t",
            "`name` = $$x$$",
            "`name` = E'x'",
            "`qty` > 0 \\",
            "`name` = 'a\\0b'",
            "`qty` :: text = 'a'",
        ] {
            let out = check(text);
            assert!(
                matches!(out, Outcome::Untranslated { .. }),
                "{text}: {out:?}"
            );
        }
        // Nesting a crafted clause deeply is refused, not a stack overflow.
        let deep = format!("{}`qty`{}", "(".repeat(100_000), ")".repeat(100_000));
        let (_, why) = not_translated(&deep);
        assert_eq!(why, "the expression is nested too deeply");
        let nots = format!("{}`qty`", "not ".repeat(100_000));
        assert_eq!(
            not_translated(&nots).1,
            "the expression is nested too deeply"
        );
        let negs = format!("{}1 > 0", "- ".repeat(100_000));
        assert_eq!(
            not_translated(&negs).1,
            "the expression is nested too deeply"
        );
        // Moderate nesting is fine.
        assert_eq!(
            sql(&format!("{}`qty` > 0{}", "(".repeat(40), ")".repeat(40))),
            r#"("qty" > 0)"#
        );
    }

    #[test]
    fn literals() {
        assert!(date_literal("2024-02-03", false));
        assert!(!date_literal("2024-02-03 10:00:00", false));
        assert!(date_literal("2024-02-03 10:00:00.123456", true));
        assert!(!date_literal("2024-2-3", true));
        assert!(!date_literal("yesterday", true));
        assert!(time_literal("-838:59:59", true));
        assert!(!time_literal("10:00", true));
        assert_eq!(
            sql("`salary` > .5 and `salary` < 1."),
            r#"(("salary" > 0.5) AND ("salary" < 1.0))"#
        );
        assert_eq!(
            sql("`big` > 99999999999999999999"),
            r#"("big" > 99999999999999999999)"#
        );
        assert_eq!(
            sql("`t` > TIME'10:00:00' and `created` > TIMESTAMP'2020-01-01 00:00:00'"),
            r#"(("t" > INTERVAL '10:00:00') AND ("created" > TIMESTAMP '2020-01-01 00:00:00'))"#
        );
        assert_eq!(
            sql("`qty` > 0 and true and not false"),
            r#"((("qty" > 0) AND true) AND (NOT false))"#
        );
        assert_eq!(
            sql("`qty` = null or `qty` <=> null"),
            r#"(("qty" = NULL) OR ("qty" IS NOT DISTINCT FROM NULL))"#
        );
        assert_eq!(sql("`name` = N'x'"), r#"("name" = 'x')"#);
        assert!(matches!(
            check("`name` = _binary'x'"),
            Outcome::Untranslated { .. }
        ));
        assert!(matches!(
            check("`qty` = 0x41"),
            Outcome::Untranslated { .. }
        ));
        assert!(matches!(
            check("`qty` = b'01'"),
            Outcome::Untranslated { .. }
        ));
        // Found by the fuzz harness: branches all of a kind that is not translated.
        assert_eq!(
            not_translated("coalesce(`js`) = 1").1,
            "JSON values are not translated here"
        );
        // Found by the fuzz harness: a hex literal running into a multi-byte letter.
        assert!(matches!(
            check("`qty` = 0x41andé"),
            Outcome::Untranslated { .. }
        ));
    }

    #[test]
    fn regular_expressions_both_engines_read_alike() {
        for ok in [
            "^[^@ ]+@[^@ ]+[.][a-z]+$",
            "^[[:alpha:]]+$",
            "^[]a]$",
            "^[^]a]$",
            "a{2,3}(b|c)?\\.\\d\\w\\s",
        ] {
            assert_eq!(regex_ok(ok), Ok(()), "{ok}");
        }
        for bad in [
            "[[.a.]]", "[[=a=]]", "[\\d]", "\\bword", "(?i)x", "a\\1", "x\\",
        ] {
            assert!(regex_ok(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quotients_keep_mysqls_decimals() {
        // (decimals of the dividend, of the divisor, of the quotient), as MariaDB 10.11
        // computes them (CAST(1.00/3.000 AS DECIMAL(65,38)) and so on).
        for (sa, sb, d) in [
            (0, 0, 9),
            (2, 0, 9),
            (5, 0, 9),
            (6, 0, 18),
            (0, 6, 18),
            (2, 3, 18),
            (5, 1, 18),
            (0, 9, 18),
            (0, 10, 18),
            (14, 0, 18),
            (15, 0, 27),
            (5, 8, 18),
        ] {
            assert_eq!(quotient_digits(sa, sb), d, "{sa}, {sb}");
        }
    }

    #[test]
    fn kinds_of_types() {
        assert_eq!(Kind::of_type("numeric(10,2)"), Kind::Dec { scale: Some(2) });
        assert_eq!(Kind::of_type("numeric(20)"), Kind::Dec { scale: Some(0) });
        assert_eq!(Kind::of_type("numeric"), Kind::Dec { scale: None });
        assert_eq!(
            Kind::of_type("timestamp(6) with time zone"),
            Kind::TimestampTz
        );
        assert_eq!(Kind::of_type("timestamptz(3)"), Kind::TimestampTz);
        assert_eq!(Kind::of_type("timestamp(3)"), Kind::Timestamp);
        assert_eq!(Kind::of_type("character varying(36)"), Kind::Text);
        assert_eq!(Kind::of_type("double precision"), Kind::Float);
        assert_eq!(Kind::of_type("text[]"), Kind::Other);
        assert_eq!(Kind::of_type("bit(5)"), Kind::Other);
        assert_eq!(Kind::of_type("bigint"), Kind::Int { wide: true });
    }
}
