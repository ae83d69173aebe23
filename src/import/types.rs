//! The type-level pre-flight: before any write, every dump column is compared with the
//! target column it loads into, and the pair is classified:
//! - *exact*: no value can change (a narrower target is fine when the manifest's facts,
//!   gathered by the export, prove that no actual value needs more: then we say so);
//! - *normalizing*: values keep their meaning, not their spelling (JSON into jsonb, a
//!   MySQL timestamp into `timestamp without time zone`): listed as notes;
//! - *lossy*: some values could change (scale or precision reduced, fractional seconds
//!   dropped, datetime into date, double into real, text into a shorter or padded
//!   column): listed as a table, and the import is refused unless `--allow-lossy`
//!   accepts them;
//! - *impossible*: COPY would reject values that exist; PostgreSQL refuses those itself,
//!   so they are notes here.
//!
//! Before this, for loads into existing tables, `compat` asks whether COPY can read the
//! dump's text as the target type at all, from the target's catalog (an enum's labels,
//! an array's element, a domain's base type: what a type's name does not say), and
//! refuses the pairs it would reject (a plain value into an array, a value that is not
//! a label, `2.50` into an integer) with a fix.
//!
//! A dump written before the facts existed has none: where a fact would have been needed
//! the pair is classified lossy.

use crate::cli::report::render_table;
use crate::dump::encoding::Encoding;
use crate::dump::manifest::TableEntry;
use crate::dump::schema::Column;
use crate::target::pgtype::PgType;

/// Which lossy columns the user accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AllowLossy {
    #[default]
    None,
    /// `--allow-lossy`: all of them.
    All,
    /// `--allow-lossy TABLE.COLUMN`, repeatable (names as in the dump).
    Columns(Vec<String>),
}

impl AllowLossy {
    fn allows(&self, table: &str, column: &str) -> bool {
        match self {
            AllowLossy::None => false,
            AllowLossy::All => true,
            AllowLossy::Columns(list) => list.iter().any(|l| {
                l.rsplit_once('.').is_some_and(|(t, c)| {
                    (t == table || t.eq_ignore_ascii_case(table))
                        && (c == column || c.eq_ignore_ascii_case(column))
                })
            }),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Exact,
    /// Exact, proven by what the data showed (the proof is the message).
    Proven(String),
    Normalizing(String),
    Lossy(String),
    Impossible(String),
}

/// One classified pair.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    pub table: String,
    pub column: String,
    pub source_type: String,
    pub target_type: String,
    pub class: Class,
}

/// Text-like encodings: the value is the source's text, spaces and all.
fn textual(e: Encoding) -> bool {
    matches!(
        e,
        Encoding::Text | Encoding::EnumText | Encoding::SetText | Encoding::JsonText
    )
}

/// Largest number of digits an integer column's values can have.
fn integer_digits(c: &Column) -> u64 {
    if let Some(p) = c.precision {
        return p + u64::from(c.unsigned && c.data_type == "mediumint");
    }
    // Without a declared precision only MySQL's names are trusted; anything else may
    // hold 64-bit values (a SQLite INTEGER).
    match c.data_type.as_str() {
        "tinyint" => 3,
        "smallint" => 5,
        "mediumint" => 8,
        "int" => 10,
        _ => 20,
    }
}

/// Decimal precision and scale as declared.
fn decimal_ps(c: &Column) -> (u64, u64) {
    (c.precision.unwrap_or(65), c.scale.unwrap_or(30))
}

/// Whether every value of an integer or decimal column has at most `digits` significant
/// digits (and, for decimals, at most `scale` after the point): by type, else by facts.
fn fits_digits(c: &Column, digits: u64) -> Option<Class> {
    match c.encoding {
        Encoding::Integer => {
            if integer_digits(c) <= digits {
                Some(Class::Exact)
            } else {
                match c.stats.max_integer_digits {
                    Some(n) if u64::from(n) <= digits => {
                        Some(Class::Proven(format!("no value has more than {n} digits")))
                    }
                    _ => None,
                }
            }
        }
        Encoding::Decimal => {
            if decimal_ps(c).0 <= digits {
                Some(Class::Exact)
            } else {
                match (c.stats.max_integer_digits, c.stats.max_scale) {
                    (Some(i), Some(s)) if u64::from(i + s) <= digits => Some(Class::Proven(
                        format!("no value has more than {} significant digits", i + s),
                    )),
                    _ => None,
                }
            }
        }
        Encoding::BooleanInt | Encoding::Year => Some(Class::Exact),
        _ => None,
    }
}

fn fraction_fits(c: &Column, keep: u32) -> Option<Class> {
    // Undeclared (a SQLite column): as many digits as a value may carry.
    let declared = c.datetime_precision.unwrap_or(6);
    if declared <= u64::from(keep) {
        return Some(Class::Exact);
    }
    match c.stats.max_fraction_digits {
        Some(n) if n <= keep => Some(Class::Proven(format!(
            "no value has more than {n} fractional-second digit(s)"
        ))),
        _ => None,
    }
}

/// Classifies loading dump column `c` into a target column of type `t`. `mysql`: the
/// dump came from MySQL or MariaDB, whose CHAR values never end in blanks.
pub(crate) fn classify(c: &Column, t: &PgType, mysql: bool) -> Class {
    use Encoding as E;
    let e = c.encoding;
    match t {
        PgType::Text => Class::Exact,
        PgType::Varchar(None) => Class::Exact,
        PgType::Varchar(Some(n)) => text_length(c, *n, false, mysql),
        PgType::Char(n) => text_length(c, n.unwrap_or(u64::MAX), true, mysql),
        PgType::Boolean => match e {
            E::BooleanInt if c.stats.non_boolean > 0 => Class::Impossible(format!(
                "{} value(s) are not 0 or 1; COPY rejects them",
                c.stats.non_boolean
            )),
            E::BooleanInt | E::Integer => Class::Exact,
            E::BitString if c.precision == Some(1) => Class::Exact,
            _ => Class::Normalizing("read as a boolean (printed t/f)".into()),
        },
        PgType::SmallInt | PgType::Integer | PgType::BigInt => match e {
            E::Integer | E::BooleanInt | E::Year => Class::Exact,
            E::Decimal if c.scale.unwrap_or(0) == 0 => Class::Exact,
            E::BitString => Class::Lossy("the bit digits are read as a decimal number".into()),
            E::Decimal | E::Float | E::Double => Class::Impossible(
                "values with a decimal point are rejected by integer input".into(),
            ),
            _ => Class::Normalizing(format!("the dump's text is read as {t:?}").to_lowercase()),
        },
        PgType::Numeric(None) => match e {
            E::Integer | E::Decimal | E::BooleanInt | E::Year | E::Float | E::Double => {
                Class::Exact
            }
            _ => Class::Normalizing("the dump's text is read as a number".into()),
        },
        PgType::Numeric(Some((p, s))) => numeric(c, *p, *s),
        PgType::Real => match e {
            E::Float => Class::Exact,
            E::Double => match c.stats.inexact_in_real {
                Some(0) => Class::Proven("every value is exact in real".into()),
                Some(n) => Class::Lossy(format!(
                    "{n} value(s) need more than real's 6-9 significant digits and are rounded"
                )),
                None => Class::Lossy(
                    "doubles keep only 6-9 significant digits in real and are rounded".into(),
                ),
            },
            E::Integer | E::Decimal | E::BooleanInt | E::Year => {
                fits_digits(c, 6).unwrap_or_else(|| {
                    Class::Lossy(
                        "numbers with more than 6 significant digits are rounded (real keeps 6-9)"
                            .into(),
                    )
                })
            }
            _ => Class::Normalizing("the dump's text is read as a number".into()),
        },
        PgType::Double => match e {
            E::Float | E::Double => Class::Exact,
            E::Integer | E::Decimal | E::BooleanInt | E::Year => {
                fits_digits(c, 15).unwrap_or_else(|| {
                    Class::Lossy(
                        "numbers with more than 15 significant digits are rounded (double \
                         precision keeps 15-17)"
                            .into(),
                    )
                })
            }
            _ => Class::Normalizing("the dump's text is read as a number".into()),
        },
        PgType::Date => match e {
            E::Date => Class::Exact,
            E::Datetime | E::TimestampUtc => Class::Lossy("the time of day is dropped".into()),
            _ => Class::Normalizing("the dump's text is read as a date".into()),
        },
        PgType::Timestamp(p) | PgType::Timestamptz(p) => {
            let tz = matches!(t, PgType::Timestamptz(_));
            match e {
                E::Date => Class::Exact,
                E::Datetime | E::TimestampUtc => match fraction_fits(c, *p) {
                    Some(Class::Exact) if e == E::TimestampUtc && !tz => Class::Normalizing(
                        "the instant is kept as UTC wall time; the zone is dropped".into(),
                    ),
                    Some(ok) => ok,
                    None => Class::Lossy(format!(
                        "fractional seconds beyond {p} digit(s) are rounded, which can move a \
                         value into the next second, minute or day"
                    )),
                },
                _ => Class::Normalizing("the dump's text is read as a timestamp".into()),
            }
        }
        PgType::Time(p) => match e {
            E::TimeText => fraction_fits(c, *p).unwrap_or_else(|| {
                Class::Lossy(format!(
                    "fractional seconds beyond {p} digit(s) are rounded"
                ))
            }),
            E::Datetime | E::TimestampUtc => Class::Lossy("the date is dropped".into()),
            _ => Class::Normalizing("the dump's text is read as a time".into()),
        },
        PgType::Interval => match e {
            E::TimeText => Class::Exact,
            _ => Class::Normalizing("the dump's text is read as an interval".into()),
        },
        PgType::Uuid => match e {
            E::UuidText if c.stats.invalid_uuids > 0 => Class::Impossible(format!(
                "{} value(s) are not UUIDs; COPY rejects them",
                c.stats.invalid_uuids
            )),
            E::UuidText => Class::Exact,
            _ => Class::Normalizing("UUIDs are printed in lower case".into()),
        },
        PgType::Json => Class::Exact,
        PgType::Jsonb => match (e, c.stats.json_duplicate_keys) {
            (E::JsonText | E::Text, Some(0)) => {
                Class::Normalizing("whitespace and key order are not kept".into())
            }
            (E::JsonText | E::Text, Some(n)) => Class::Lossy(format!(
                "{n} value(s) have a duplicate object key; jsonb keeps only the last"
            )),
            (E::JsonText | E::Text, None) => Class::Lossy(
                "a duplicate object key would keep only its last value (this dump does not \
                 record whether any value has one)"
                    .into(),
            ),
            _ => Class::Normalizing("the dump's text is read as JSON".into()),
        },
        PgType::Bytea => match e {
            E::ByteaHex => Class::Exact,
            _ => Class::Lossy("backslashes in the text are read as bytea escapes".into()),
        },
        PgType::Bit(n) => match e {
            E::BitString if c.precision.unwrap_or(1) == *n => Class::Exact,
            E::BitString => Class::Impossible(format!(
                "bit({}) values do not have exactly {n} bits; COPY rejects them",
                c.precision.unwrap_or(1)
            )),
            _ => Class::Normalizing("the dump's text is read as a bit string".into()),
        },
        PgType::VarBit(n) => match e {
            E::BitString if n.is_none_or(|n| c.precision.unwrap_or(1) <= n) => Class::Exact,
            _ => Class::Normalizing("the dump's text is read as a bit string".into()),
        },
        PgType::TextArray => match e {
            E::SetText => Class::Exact,
            _ => Class::Normalizing("the dump's text is read as an array".into()),
        },
        PgType::Geometry => match e {
            E::GeometryEwkt => Class::Normalizing("stored as geometry, compared as EWKT".into()),
            _ => Class::Normalizing("the dump's text is read as geometry".into()),
        },
        PgType::TimeTz => {
            Class::Normalizing("the dump's text is read as time with time zone".into())
        }
        PgType::Other(name) => {
            Class::Normalizing(format!("PostgreSQL reads the dump's text as {name}"))
        }
    }
}

/// Text into varchar(n) (`padded`: character(n)). PostgreSQL cuts a longer value only
/// when the excess is blanks, and rejects it otherwise; character(n) also pads shorter
/// values, and its trailing blanks are not part of the value.
fn text_length(c: &Column, n: u64, padded: bool, mysql: bool) -> Class {
    let e = c.encoding;
    if !textual(e) && e != Encoding::UuidText {
        // Numbers, dates, hex: no blanks to lose; too long is rejected.
        return if padded {
            Class::Normalizing(format!("blank-padded to {n} characters"))
        } else {
            Class::Exact
        };
    }
    // MySQL CHAR values never end in blanks (MySQL strips them when reading).
    let mysql_char = mysql && c.data_type == "char";
    let trailing = if mysql_char {
        Some(0)
    } else {
        c.stats.trailing_spaces
    };
    let declared = match e {
        Encoding::UuidText => Some(36),
        _ => c.max_length,
    };
    let fits = if declared.is_some_and(|d| d <= n) {
        Some(Class::Exact)
    } else {
        match c.stats.max_chars {
            Some(m) if m <= n => Some(Class::Proven(format!(
                "the longest value has {m} character(s)"
            ))),
            _ => None,
        }
    };
    if padded {
        return match (trailing, fits) {
            (Some(0), Some(_)) if mysql_char && declared == Some(n) => Class::Exact,
            (Some(0), Some(_)) => {
                Class::Normalizing(format!("blank-padded to {n} characters when read back"))
            }
            (Some(0), None) => match c.stats.max_chars {
                Some(m) => Class::Impossible(format!(
                    "values of up to {m} characters do not fit; COPY rejects them"
                )),
                None => Class::Normalizing(format!(
                    "blank-padded to {n} characters when read back (longer values are rejected)"
                )),
            },
            (Some(k), _) => Class::Lossy(format!(
                "{k} value(s) end in blanks, which character({n}) does not keep"
            )),
            (None, _) => Class::Lossy(format!(
                "trailing blanks are not kept by character({n}) (this dump does not record \
                 whether any value has them)"
            )),
        };
    }
    match (fits, trailing, c.stats.max_chars) {
        (Some(ok), _, _) => ok,
        (None, Some(0), Some(m)) => Class::Impossible(format!(
            "values of up to {m} characters do not fit; COPY rejects them"
        )),
        (None, Some(0), None) => Class::Exact,
        (None, _, _) => Class::Lossy(format!(
            "values longer than {n} characters lose their trailing blanks (longer ones are rejected)"
        )),
    }
}

fn numeric(c: &Column, p: u64, s: i64) -> Class {
    use Encoding as E;
    let s_u = s.max(0) as u64;
    let int_room = p.saturating_sub(s_u);
    match c.encoding {
        E::BooleanInt | E::Year => Class::Exact,
        E::Integer => {
            if integer_digits(c) <= int_room {
                Class::Exact
            } else {
                match c.stats.max_integer_digits {
                    Some(n) if u64::from(n) <= int_room => {
                        Class::Proven(format!("no value has more than {n} digits"))
                    }
                    _ => Class::Impossible(format!(
                        "values with more than {int_room} digits overflow numeric({p},{s}); COPY rejects them"
                    )),
                }
            }
        }
        E::Decimal => {
            let (p1, s1) = decimal_ps(c);
            let mut proofs = Vec::new();
            if s1 > s_u {
                match c.stats.max_scale {
                    Some(m) if u64::from(m) <= s_u => {
                        proofs.push(format!("no value has more than {m} decimal place(s)"))
                    }
                    _ => {
                        return Class::Lossy(format!(
                            "values with more than {s_u} decimal place(s) are rounded"
                        ));
                    }
                }
            }
            if p1.saturating_sub(s1) > int_room {
                match c.stats.max_integer_digits {
                    Some(m) if u64::from(m) <= int_room => {
                        proofs.push(format!("no value has more than {m} integer digit(s)"))
                    }
                    _ => {
                        return Class::Impossible(format!(
                            "values with more than {int_room} integer digits overflow; COPY rejects them"
                        ));
                    }
                }
            }
            if proofs.is_empty() {
                Class::Exact
            } else {
                Class::Proven(proofs.join(" and "))
            }
        }
        // A double's text (its shortest decimal) is what numeric stores: it fits when
        // the data shows no value needs more places or digits.
        E::Double => match (c.stats.max_scale, c.stats.max_integer_digits) {
            (Some(sc), Some(i)) if u64::from(sc) <= s_u && u64::from(i) <= int_room => {
                Class::Proven(format!(
                    "no value has more than {sc} decimal place(s) or {i} integer digit(s)"
                ))
            }
            _ => Class::Lossy(format!(
                "floating-point values are rounded to {s_u} decimal place(s)"
            )),
        },
        E::Float => Class::Lossy(format!(
            "floating-point values are rounded to {s_u} decimal place(s)"
        )),
        _ => Class::Normalizing("the dump's text is read as a number".into()),
    }
}

/// Classifies every column of a table; `target_types[i]` is the target type of dump
/// column `i` as the target spells it.
pub(crate) fn check_table(
    entry: &TableEntry,
    target_types: &[String],
    mysql: bool,
) -> Vec<Finding> {
    entry
        .schema
        .columns
        .iter()
        .zip(target_types)
        .map(|(c, t)| Finding {
            table: entry.name().to_string(),
            column: c.name.clone(),
            source_type: c.column_type.clone(),
            target_type: t.clone(),
            class: classify(c, &PgType::parse(t), mysql),
        })
        .collect()
}

/// What the pre-flight does with the findings: notes to print, and the lossy pairs the
/// user has not accepted (as the lines of the refusal). Lossy pairs that were accepted
/// come back as notes too.
pub(crate) struct Verdict {
    pub notes: Vec<String>,
    pub refused: Vec<String>,
    /// The lossy table, for `--dry-run` and the log.
    pub lossy_table: Option<String>,
}

pub(crate) fn judge(findings: &[Finding], allow: &AllowLossy) -> Verdict {
    let mut notes = Vec::new();
    let mut lossy = Vec::new();
    let mut refuse = false;
    for f in findings {
        let at = format!("{}.{}", f.table, f.column);
        match &f.class {
            Class::Exact => {}
            Class::Proven(why) => notes.push(format!(
                "{at}: {} into {} is exact for this data: {why}",
                f.source_type, f.target_type
            )),
            Class::Normalizing(what) => notes.push(format!(
                "{at}: {} into {} keeps the values' meaning: {what}",
                f.source_type, f.target_type
            )),
            Class::Impossible(what) => notes.push(format!(
                "{at}: {} into {}: {what}",
                f.source_type, f.target_type
            )),
            Class::Lossy(what) => {
                let accepted = allow.allows(&f.table, &f.column);
                refuse |= !accepted;
                lossy.push(vec![
                    f.table.clone(),
                    f.column.clone(),
                    f.source_type.clone(),
                    f.target_type.clone(),
                    what.clone(),
                    if accepted { "accepted" } else { "refused" }.to_string(),
                ]);
            }
        }
    }
    let lossy_table = (!lossy.is_empty()).then(|| {
        render_table(
            &[
                "table",
                "column",
                "source type",
                "target type",
                "what can change",
                "status",
            ],
            &lossy,
        )
    });
    let mut refused = Vec::new();
    if refuse && let Some(t) = &lossy_table {
        refused.push(
            "these columns load into target types that can change some of their values:".into(),
        );
        refused.extend(t.lines().map(str::to_string));
        refused.push(
            "accept them with --allow-lossy (all) or --allow-lossy TABLE.COLUMN (repeatable), \
             or change the target columns; run with --verify to prove which values changed"
                .into(),
        );
    }
    Verdict {
        notes,
        refused,
        lossy_table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::encoding::ColumnStats;

    fn col(dt: &str, ct: &str, enc: Encoding) -> Column {
        let (p, s, dp, len) = match dt {
            "decimal" => {
                let inner = ct.trim_start_matches("decimal(").trim_end_matches(')');
                let mut it = inner.split(',').map(|x| x.parse::<u64>().unwrap());
                (it.next(), it.next(), None, None)
            }
            "datetime" | "timestamp" | "time" => (
                None,
                None,
                ct.split('(')
                    .nth(1)
                    .map(|x| x.trim_end_matches(')').parse().unwrap())
                    .or(Some(0)),
                None,
            ),
            "varchar" | "char" => (
                None,
                None,
                None,
                ct.split('(')
                    .nth(1)
                    .map(|x| x.trim_end_matches(')').parse::<u64>().unwrap()),
            ),
            "int" => (Some(10), Some(0), None, None),
            "bigint" => (Some(19), Some(0), None, None),
            _ => (None, None, None, None),
        };
        let mut c: Column = serde_json::from_value(serde_json::json!({
            "name": "c", "column_type": ct, "data_type": dt, "nullable": true,
            "encoding": enc, "unsigned": ct.contains("unsigned"),
        }))
        .unwrap();
        c.precision = p;
        c.scale = s;
        c.datetime_precision = dp;
        c.max_length = len;
        c.stats = ColumnStats::for_encoding(enc);
        c
    }

    fn class(c: &Column, t: &str) -> Class {
        classify(c, &PgType::parse(t), true)
    }

    fn is_lossy(c: &Column, t: &str) -> bool {
        matches!(class(c, t), Class::Lossy(_))
    }

    #[test]
    fn the_issues_table() {
        use Encoding::*;
        let mut d = col("decimal", "decimal(10,4)", Decimal);
        d.stats.max_scale = Some(4);
        assert!(is_lossy(&d, "numeric(10,2)"));
        d.stats.max_scale = Some(2);
        assert!(matches!(class(&d, "numeric(10,2)"), Class::Proven(p) if p.contains("2 decimal")));
        d.stats.max_scale = None;
        assert!(is_lossy(&d, "numeric(10,2)"), "an old dump is conservative");
        let mut d1 = col("decimal", "decimal(10,1)", Decimal);
        d1.stats.max_scale = Some(1);
        assert!(is_lossy(&d1, "numeric(10,0)"));
        let mut dt = col("datetime", "datetime(6)", Datetime);
        dt.stats.max_fraction_digits = Some(6);
        assert!(is_lossy(&dt, "timestamp(0) without time zone"));
        assert_eq!(class(&dt, "timestamp with time zone"), Class::Exact);
        dt.stats.max_fraction_digits = Some(0);
        assert!(matches!(class(&dt, "timestamp(0)"), Class::Proven(_)));
        assert!(is_lossy(&col("datetime", "datetime", Datetime), "date"));
        let mut dbl = col("double", "double", Double);
        dbl.stats.inexact_in_real = Some(1);
        assert!(is_lossy(&dbl, "real"));
        dbl.stats.inexact_in_real = Some(0);
        assert!(matches!(class(&dbl, "real"), Class::Proven(_)));
        let mut big = col("int", "int(10) unsigned", Integer);
        big.stats.max_integer_digits = Some(10);
        assert!(is_lossy(&big, "real"));
        assert_eq!(class(&big, "double precision"), Class::Exact);
        let mut t = col("varchar", "varchar(20)", Text);
        t.stats.max_chars = Some(10);
        t.stats.trailing_spaces = Some(1);
        assert!(is_lossy(&t, "character varying(5)"));
        assert!(is_lossy(&t, "character(5)"));
        t.stats.trailing_spaces = Some(0);
        assert!(matches!(
            class(&t, "character varying(5)"),
            Class::Impossible(_)
        ));
        assert!(matches!(
            class(&t, "character varying(10)"),
            Class::Proven(_)
        ));
        let mut j = col("json", "json", JsonText);
        j.stats.json_duplicate_keys = Some(1);
        assert!(is_lossy(&j, "jsonb"));
        assert_eq!(class(&j, "json"), Class::Exact);
        let mut price = col("double", "double", Double);
        price.stats.max_scale = Some(1);
        price.stats.max_integer_digits = Some(1);
        assert!(matches!(class(&price, "numeric(6,2)"), Class::Proven(_)));
        price.stats.max_scale = Some(3);
        assert!(is_lossy(&price, "numeric(6,2)"));
        price.stats.max_scale = None;
        assert!(
            is_lossy(&price, "numeric(6,2)"),
            "an old dump is conservative"
        );
    }

    #[test]
    fn exact_schema_first_pairs_load_without_a_flag() {
        use Encoding::*;
        assert_eq!(
            class(&col("char", "char(36)", UuidText), "uuid"),
            Class::Exact
        );
        assert_eq!(
            class(
                &col("datetime", "datetime(6)", Datetime),
                "timestamp with time zone"
            ),
            Class::Exact
        );
        assert_eq!(
            class(&col("tinyint", "tinyint(1)", BooleanInt), "boolean"),
            Class::Exact
        );
        assert!(matches!(
            class(&col("json", "json", JsonText), "jsonb"),
            Class::Normalizing(_)
        ));
        assert!(matches!(
            class(&col("longtext", "longtext", Text), "jsonb"),
            Class::Normalizing(_)
        ));
        assert!(matches!(
            class(
                &col("timestamp", "timestamp", TimestampUtc),
                "timestamp without time zone"
            ),
            Class::Normalizing(_)
        ));
        assert_eq!(
            class(&col("char", "char(3)", Text), "character(3)"),
            Class::Exact
        );
        assert_eq!(
            class(&col("enum", "enum('a')", EnumText), "text"),
            Class::Exact
        );
        assert_eq!(
            class(&col("set", "set('a')", SetText), "text[]"),
            Class::Exact
        );
        assert_eq!(
            class(&col("decimal", "decimal(20,4)", Decimal), "numeric(20,4)"),
            Class::Exact
        );
        assert_eq!(
            class(
                &col("bigint", "bigint(20) unsigned", Integer),
                "numeric(20,0)"
            ),
            Class::Exact
        );
        assert_eq!(class(&col("float", "float", Float), "real"), Class::Exact);
        assert_eq!(
            class(&col("time", "time", TimeText), "interval"),
            Class::Exact
        );
        assert_eq!(
            class(&col("int", "int(10) unsigned", Integer), "integer"),
            Class::Exact
        );
        assert_eq!(
            class(&col("year", "year(4)", Year), "smallint"),
            Class::Exact
        );
        assert_eq!(
            class(
                &col("varchar", "varchar(45)", Text),
                "character varying(45)"
            ),
            Class::Exact
        );
    }

    #[test]
    fn allow_lossy_and_the_table() {
        let f = |col: &str| Finding {
            table: "price".into(),
            column: col.into(),
            source_type: "decimal(10,4)".into(),
            target_type: "numeric(10,2)".into(),
            class: Class::Lossy("values with more than 2 decimal place(s) are rounded".into()),
        };
        let findings = [f("amount"), f("tax")];
        let v = judge(&findings, &AllowLossy::None);
        assert!(
            v.refused
                .iter()
                .any(|l| l.starts_with("price  amount  decimal(10,4)")),
            "{:?}",
            v.refused
        );
        assert!(v.refused.last().unwrap().contains("--allow-lossy"));
        assert!(judge(&findings, &AllowLossy::All).refused.is_empty());
        let some = AllowLossy::Columns(vec!["price.amount".into()]);
        assert!(!judge(&findings, &some).refused.is_empty());
        let both = AllowLossy::Columns(vec!["price.amount".into(), "PRICE.tax".into()]);
        assert!(judge(&findings, &both).refused.is_empty());
    }
}
