//! Can COPY read the dump's text into the target's column type? Asked for every column
//! of a load into existing tables, before any write, from the manifest (the column's
//! encoding, its ENUM/SET values, its counters) and the target's catalog (the type, a
//! domain's base type, an enum's labels, an array's element).
//!
//! A pair that COPY would reject for the data the manifest describes is refused, named
//! with both types and a fix: a plain value into an array column, a value that is not
//! a label into an enum, numbers other than 0 and 1 into a boolean, dates into a number,
//! `2.50` into an integer, `00101` (a bit string) into anything but bits. A pair that
//! depends on values the manifest does not describe (free text into an enum or a
//! boolean) is warned about: a value COPY rejects still rolls the whole load back. A
//! MySQL SET into an array of text or of an enum holding its members converts (the
//! staging load of `steps::STAGE`).
//!
//! Whether a target type can hold every value unchanged (narrower numbers, shorter
//! text, lost precision) is another question, and not asked here.

use crate::dump::encoding::Encoding;
use crate::dump::manifest::TableEntry;
use crate::dump::schema::Column;
use crate::printable::escaped;
use crate::target::catalog::{TargetTable, TargetType};
use crate::target::sql::{qualified, quote_ident, quote_literal};

/// What the check found for one table.
#[derive(Default)]
pub(crate) struct Findings {
    /// Pairs COPY would reject: the import stops before any write.
    pub refused: Vec<String>,
    /// Pairs that depend on the values.
    pub warnings: Vec<String>,
}

/// How the dump writes a column, in the manifest's words (`uuid_text`).
fn encoding_name(e: Encoding) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A PostgreSQL type that takes the column as the dump writes it (what
/// `--create-schema` would choose, roughly).
fn suggested(c: &Column) -> String {
    match c.encoding {
        Encoding::Text | Encoding::EnumText => "text".into(),
        Encoding::UuidText => "uuid".into(),
        Encoding::Integer => "bigint".into(),
        Encoding::BooleanInt => "boolean or smallint".into(),
        Encoding::Decimal => match (c.precision, c.scale) {
            (Some(p), Some(s)) => format!("numeric({p},{s})"),
            _ => "numeric".into(),
        },
        Encoding::Float => "real".into(),
        Encoding::Double => "double precision".into(),
        Encoding::BitString => c
            .column_type
            .strip_prefix("bit")
            .map(|n| format!("bit{n}"))
            .unwrap_or_else(|| "varbit".into()),
        Encoding::Year => "smallint".into(),
        Encoding::Date => "date".into(),
        Encoding::Datetime => "timestamp".into(),
        Encoding::TimestampUtc => "timestamptz".into(),
        Encoding::TimeText => "interval".into(),
        Encoding::SetText => "text[] (converted) or text".into(),
        Encoding::JsonText => "jsonb".into(),
        Encoding::ByteaHex => "bytea".into(),
        Encoding::GeometryEwkt => "geometry (PostGIS) or text".into(),
    }
}

/// The spellings PostgreSQL's boolean input accepts (any case).
fn is_boolean_word(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "t" | "f" | "true" | "false" | "y" | "n" | "yes" | "no" | "on" | "off" | "1" | "0"
    )
}

fn is_number(v: &str) -> bool {
    v.trim().parse::<f64>().is_ok_and(f64::is_finite)
}

enum Verdict {
    Fine,
    /// Why COPY would reject it, and the fix (when not the generic one).
    Refuse(String, Option<String>),
    /// Why it depends on the values.
    Depends(String),
}

fn missing_labels<'a>(values: &'a [String], labels: &[String]) -> Vec<&'a str> {
    values
        .iter()
        .filter(|v| !labels.contains(v))
        .map(String::as_str)
        .collect()
}

fn quoted_list<S: AsRef<str>>(values: &[S]) -> String {
    values
        .iter()
        .map(|v| quote_literal(v.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `t` describes the target column's type, which `type_name` names (`format_type`).
fn verdict(c: &Column, t: &TargetType, type_name: &str, target_column: &str, qt: &str) -> Verdict {
    use Encoding as E;
    let e = c.encoding;
    let int_target = matches!(t.base.as_str(), "int2" | "int4" | "int8");
    match t.category {
        // Arrays: COPY reads `{a,b}`; a SET goes through the staging table instead.
        'A' => match (e, &t.element) {
            (E::SetText, Some(('S', _))) => Verdict::Fine,
            (E::SetText, Some(('E', labels))) => {
                let missing = missing_labels(&c.values, labels);
                if missing.is_empty() {
                    Verdict::Fine
                } else {
                    Verdict::Refuse(
                        format!(
                            "the SET members {} are not labels of the array's enum",
                            quoted_list(&missing)
                        ),
                        Some("add them to the enum (ALTER TYPE ... ADD VALUE)".into()),
                    )
                }
            }
            (E::SetText, _) => Verdict::Refuse(
                "a SET becomes an array of text or of an enum, not of this element type".into(),
                None,
            ),
            _ => Verdict::Refuse(
                "COPY reads an array column as `{a,b}` literals, and the dump holds single \
                 values"
                    .into(),
                None,
            ),
        },
        'E' => match e {
            E::EnumText => {
                let missing = missing_labels(&c.values, &t.labels);
                if missing.is_empty() {
                    Verdict::Fine
                } else {
                    Verdict::Refuse(
                        format!(
                            "the source's values {} are not labels of {} (it has {})",
                            quoted_list(&missing),
                            type_name,
                            quoted_list(&t.labels)
                        ),
                        Some(format!(
                            "add them (ALTER TYPE {} ADD VALUE {}), or make the column text",
                            type_name,
                            quote_literal(missing[0])
                        )),
                    )
                }
            }
            E::Text => Verdict::Depends(format!(
                "every value must be one of its labels ({})",
                quoted_list(&t.labels)
            )),
            _ => Verdict::Refuse(
                format!("COPY accepts only the labels {}", quoted_list(&t.labels)),
                None,
            ),
        },
        'B' => match e {
            E::BooleanInt if c.stats.non_boolean == 0 => Verdict::Fine,
            E::BooleanInt => Verdict::Refuse(
                format!(
                    "{} value(s) of the dump are numbers other than 0 and 1, which COPY does \
                     not read as booleans",
                    c.stats.non_boolean
                ),
                Some(format!(
                    "make the column smallint (ALTER TABLE {qt} ALTER COLUMN {} TYPE smallint \
                     USING {}::int)",
                    quote_ident(target_column),
                    quote_ident(target_column)
                )),
            ),
            E::BitString if c.column_type.eq_ignore_ascii_case("bit(1)") => Verdict::Fine,
            E::EnumText => {
                let not: Vec<&String> = c.values.iter().filter(|v| !is_boolean_word(v)).collect();
                if not.is_empty() {
                    Verdict::Fine
                } else {
                    Verdict::Refuse(
                        format!("the values {} are not booleans", quoted_list(&not)),
                        None,
                    )
                }
            }
            E::Text | E::Integer => Verdict::Depends(
                "every value must be a boolean (0, 1, t, f, true, false, yes, no, on, off)".into(),
            ),
            _ => Verdict::Refuse(
                "COPY reads only boolean words and 0/1 as booleans".into(),
                None,
            ),
        },
        'N' => match e {
            E::Integer | E::BooleanInt | E::Year => Verdict::Fine,
            E::Decimal if int_target && c.scale.is_some_and(|s| s > 0) => Verdict::Refuse(
                format!(
                    "the dump writes every value with {} decimal place(s) (`2.{}`), which an \
                     integer column does not read",
                    c.scale.unwrap_or(0),
                    "0".repeat(c.scale.unwrap_or(0).min(6) as usize)
                ),
                None,
            ),
            E::Decimal | E::Float | E::Double => Verdict::Fine,
            E::EnumText => {
                let not: Vec<&String> = c.values.iter().filter(|v| !is_number(v)).collect();
                if not.is_empty() {
                    Verdict::Fine
                } else {
                    Verdict::Refuse(
                        format!("the values {} are not numbers", quoted_list(&not)),
                        None,
                    )
                }
            }
            E::Text => Verdict::Fine,
            E::BitString => Verdict::Refuse(
                "a bit string (`00101`) would be read as the decimal number 101".into(),
                None,
            ),
            _ => Verdict::Refuse("COPY reads only numbers into it".into(), None),
        },
        'D' => {
            let time_only = matches!(t.base.as_str(), "time" | "timetz");
            match e {
                E::Date if time_only => {
                    Verdict::Refuse("a date without a time of day is not a time".into(), None)
                }
                E::TimeText if time_only => Verdict::Depends(
                    "MySQL times beyond 24 hours or below zero are not times of day".into(),
                ),
                E::Date | E::Datetime | E::TimestampUtc | E::Text => Verdict::Fine,
                _ => Verdict::Refuse("COPY reads only dates and times into it".into(), None),
            }
        }
        'T' => match e {
            E::TimeText | E::Text => Verdict::Fine,
            _ => Verdict::Refuse("COPY reads only durations into it".into(), None),
        },
        'V' => match e {
            E::BitString | E::BooleanInt | E::Text => Verdict::Fine,
            _ => Verdict::Refuse("COPY reads only strings of 0 and 1 into it".into(), None),
        },
        'U' if t.base == "uuid" => match e {
            E::UuidText | E::Text => Verdict::Fine,
            _ => Verdict::Refuse("COPY reads only UUIDs into it".into(), None),
        },
        'U' if t.base == "json" || t.base == "jsonb" => match e {
            E::JsonText
            | E::Integer
            | E::BooleanInt
            | E::Decimal
            | E::Float
            | E::Double
            | E::Year
            | E::Text => Verdict::Fine,
            _ => Verdict::Refuse(
                "the dump's values are not JSON documents (a date, a UUID or a label is not \
                 valid JSON without quotes)"
                    .into(),
                None,
            ),
        },
        // Text, bytea, geometry and the rest read any text.
        _ => Verdict::Fine,
    }
}

/// Checks every dump column of `entry` against the target column it loads into
/// (`columns`, in CSV order) of table `tt` in `schema`.
pub(crate) fn check(
    entry: &TableEntry,
    columns: &[String],
    tt: &TargetTable,
    schema: &str,
) -> Findings {
    let mut out = Findings::default();
    let qt = qualified(schema, &tt.name);
    for (c, target) in entry.schema.columns.iter().zip(columns) {
        let Some(tc) = tt.columns.iter().find(|x| x.name == *target) else {
            continue;
        };
        let what = format!(
            "table `{}`, column `{}` (source type {}, in the dump as {}) into {}.{} of type {}",
            escaped(entry.name()),
            escaped(&c.name),
            escaped(&c.column_type),
            encoding_name(c.encoding),
            qt,
            quote_ident(target),
            escaped(&tc.type_name)
        );
        match verdict(c, &tc.ty, &tc.type_name, target, &qt) {
            Verdict::Fine => {}
            Verdict::Refuse(why, fix) => out.refused.push(format!(
                "{what}: {why}; {}",
                fix.unwrap_or_else(|| format!(
                    "change the target column to a type that takes it (e.g. {}: ALTER TABLE \
                     {qt} ALTER COLUMN {} TYPE ...), or create the table with --create-schema",
                    suggested(c),
                    quote_ident(target)
                ))
            )),
            Verdict::Depends(why) => out.warnings.push(format!(
                "{what}: {why}; a value COPY rejects stops the load, which is then rolled back"
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(encoding: Encoding, column_type: &str, values: &[&str]) -> Column {
        serde_json::from_value(serde_json::json!({
            "name": "c",
            "column_type": column_type,
            "data_type": column_type,
            "nullable": true,
            "encoding": encoding,
            "values": values,
            "precision": 10,
            "scale": 2,
        }))
        .expect("a column")
    }

    fn ty(base: &str, category: char) -> TargetType {
        TargetType {
            base: base.into(),
            category,
            ..TargetType::default()
        }
    }

    fn refused(c: &Column, t: &TargetType) -> bool {
        matches!(
            verdict(c, t, &t.base, "c", "\"public\".\"t\""),
            Verdict::Refuse(..)
        )
    }

    #[test]
    fn what_copy_would_reject() {
        let text = column(Encoding::Text, "varchar(20)", &[]);
        let set = column(Encoding::SetText, "set('a','b')", &["a", "b"]);
        let en = column(Encoding::EnumText, "enum('a','b')", &["a", "b"]);
        let mut text_array = ty("_text", 'A');
        text_array.element = Some(('S', vec![]));
        assert!(!refused(&set, &text_array), "a SET converts into text[]");
        assert!(
            refused(&text, &text_array),
            "plain text is not an array literal"
        );
        let mut mood = ty("mood", 'E');
        mood.labels = vec!["a".into()];
        assert!(refused(&en, &mood), "`b` is not a label");
        mood.labels.push("b".into());
        assert!(!refused(&en, &mood));
        assert!(matches!(
            verdict(&text, &mood, "mood", "c", "t"),
            Verdict::Depends(_)
        ));
        let mut bools = column(Encoding::BooleanInt, "tinyint(1)", &[]);
        assert!(!refused(&bools, &ty("bool", 'B')));
        bools.stats.non_boolean = 3;
        assert!(refused(&bools, &ty("bool", 'B')));
        let date = column(Encoding::Date, "date", &[]);
        assert!(refused(&date, &ty("int4", 'N')));
        assert!(refused(&date, &ty("bool", 'B')));
        assert!(refused(&date, &ty("jsonb", 'U')));
        assert!(!refused(&date, &ty("timestamptz", 'D')));
        let money = column(Encoding::Decimal, "decimal(10,2)", &[]);
        assert!(
            refused(&money, &ty("int4", 'N')),
            "`2.50` is not an integer"
        );
        assert!(!refused(&money, &ty("numeric", 'N')));
        let bits = column(Encoding::BitString, "bit(5)", &[]);
        assert!(refused(&bits, &ty("int8", 'N')));
        assert!(!refused(&bits, &ty("varbit", 'V')));
        assert!(!refused(&text, &ty("varchar", 'S')));
        assert!(!refused(
            &column(Encoding::JsonText, "json", &[]),
            &ty("jsonb", 'U')
        ));
        assert!(refused(
            &column(Encoding::UuidText, "char(36)", &[]),
            &ty("jsonb", 'U')
        ));
    }
}
