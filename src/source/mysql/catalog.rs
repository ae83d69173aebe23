//! The MySQL/MariaDB catalog, read from information_schema into the dump's schema
//! vocabulary: columns with their encodings, keys, indexes, foreign keys, checks, views.
//! MariaDB and MySQL differ in how they report defaults, checks and JSON columns; both
//! are undone here, so the manifest says the same thing for the same schema.

use std::collections::HashMap;

use mysql::prelude::Queryable;
use mysql::{Conn, Row, Value};

use super::{ServerInfo, types};
use crate::dump::schema::{
    Check, Column, ColumnDefault, ForeignKey, Generated, Index, IndexColumn, Table, View,
};
use crate::error::{Error, Result, ResultExt};
use crate::source::{Catalog, Skipped, SourceTable};

fn text(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i)? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        v => Some(v.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn num(row: &Row, i: usize) -> Option<u64> {
    match row.as_ref(i)? {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::UInt(n) => Some(*n),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn rows(conn: &mut Conn, sql: &str, db: &str, what: &str) -> Result<Vec<Row>> {
    conn.exec(sql, (db,))
        .ctx(|| format!("reading {what} from information_schema"))
}

/// MariaDB quotes literal defaults and spells NULL out; MySQL does neither and marks
/// expressions with DEFAULT_GENERATED.
fn parse_default(
    raw: Option<String>,
    extra: &str,
    data_type: &str,
    mariadb: bool,
) -> Option<ColumnDefault> {
    let raw = raw?;
    if mariadb {
        if raw == "NULL" {
            return Some(ColumnDefault::Null);
        }
        if raw.len() >= 2 && raw.starts_with('\'') && raw.ends_with('\'') {
            let inner = &raw[1..raw.len() - 1];
            let mut s = String::new();
            let mut chars = inner.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    '\\' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('r') => s.push('\r'),
                        Some('0') => s.push('\0'),
                        Some(o) => s.push(o),
                        None => s.push('\\'),
                    },
                    c => s.push(c),
                }
            }
            return Some(ColumnDefault::Literal(s));
        }
        if raw.parse::<f64>().is_ok() {
            return Some(ColumnDefault::Literal(raw));
        }
        return Some(ColumnDefault::Expression(raw));
    }
    let is_expr = extra.to_ascii_lowercase().contains("default_generated")
        || (matches!(data_type, "timestamp" | "datetime")
            && raw.to_ascii_uppercase().starts_with("CURRENT_TIMESTAMP"));
    Some(if is_expr {
        ColumnDefault::Expression(raw)
    } else {
        ColumnDefault::Literal(raw)
    })
}

pub(super) fn read_catalog(conn: &mut Conn, db: &str, server: &ServerInfo) -> Result<Catalog> {
    let mariadb = server.is_mariadb();
    let mut tables: Vec<SourceTable> = Vec::new();
    let mut views = Vec::new();
    let mut skipped = Vec::new();
    for r in rows(
        conn,
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_ROWS, DATA_LENGTH, AUTO_INCREMENT, \
         TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
        db,
        "tables",
    )? {
        let name = text(&r, 0).unwrap_or_default();
        match text(&r, 1).as_deref() {
            Some("BASE TABLE") | Some("SYSTEM VERSIONED") => tables.push(SourceTable {
                schema: Table {
                    name,
                    engine: text(&r, 2),
                    comment: text(&r, 6).unwrap_or_default(),
                    auto_increment: num(&r, 5),
                    ..Table::default()
                },
                estimated_rows: num(&r, 3).unwrap_or(0),
                data_length: num(&r, 4).unwrap_or(0),
                internal: None,
                charset_checked: Vec::new(),
            }),
            Some("VIEW") => views.push(View {
                name,
                definition: String::new(),
            }),
            _ => skipped.push(Skipped {
                name,
                why: "is neither a base table nor a view (a sequence?)".into(),
            }),
        }
    }
    let index: HashMap<String, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.schema.name.clone(), i))
        .collect();
    let table_index = |name: &str| index.get(name).copied();

    // Checks first: MariaDB's JSON type is a longtext with a json_valid() check.
    let check_sql = if mariadb {
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = ? ORDER BY TABLE_NAME, CONSTRAINT_NAME"
    } else {
        "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE \
         FROM information_schema.TABLE_CONSTRAINTS tc JOIN information_schema.CHECK_CONSTRAINTS cc \
         ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
         WHERE tc.TABLE_SCHEMA = ? AND tc.CONSTRAINT_TYPE = 'CHECK' ORDER BY 1, 2"
    };
    // Servers before MySQL 8.0.16 / MariaDB 10.2 have no CHECK_CONSTRAINTS: no checks.
    let check_rows = rows(conn, check_sql, db, "check constraints").unwrap_or_default();
    let mut json_columns: Vec<(String, String)> = Vec::new();
    for r in &check_rows {
        let (Some(t), Some(name), Some(clause)) = (text(r, 0), text(r, 1), text(r, 2)) else {
            continue;
        };
        let compact = clause.replace([' ', '`'], "").to_ascii_lowercase();
        if let Some(col) = compact
            .strip_prefix("json_valid(")
            .and_then(|s| s.strip_suffix(')'))
        {
            json_columns.push((t.clone(), col.to_string()));
        }
        if let Some(i) = table_index(&t) {
            tables[i].schema.checks.push(Check { name, clause });
        }
    }

    for r in rows(
        conn,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE, \
         CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, \
         CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_TYPE, EXTRA, COLUMN_COMMENT, \
         GENERATION_EXPRESSION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
        db,
        "columns",
    )? {
        let table = text(&r, 0).unwrap_or_default();
        let Some(i) = table_index(&table) else {
            continue;
        };
        let name = text(&r, 1).unwrap_or_default();
        let data_type = text(&r, 4).unwrap_or_default().to_ascii_lowercase();
        let column_type = text(&r, 11).unwrap_or_default();
        let extra = text(&r, 12).unwrap_or_default();
        let extra_l = extra.to_ascii_lowercase();
        let max_length = num(&r, 5);
        let is_json = json_columns
            .iter()
            .any(|(t, c)| *t == table && c.eq_ignore_ascii_case(&name));
        let encoding = types::encoding_for(&data_type, &column_type, max_length, is_json);
        let generated = text(&r, 14)
            .filter(|e| {
                !e.is_empty()
                    && (extra_l.contains("generated")
                        || extra_l.contains("virtual")
                        || extra_l.contains("persistent")
                        || extra_l.contains("stored"))
            })
            .map(|expression| Generated {
                expression,
                stored: extra_l.contains("stored") || extra_l.contains("persistent"),
            });
        let on_update = extra_l
            .find("on update ")
            .map(|p| extra[p + "on update ".len()..].trim().to_string());
        let values = if matches!(data_type.as_str(), "enum" | "set") {
            types::parse_enum_values(&column_type)
        } else {
            Vec::new()
        };
        tables[i].schema.columns.push(Column {
            default: parse_default(text(&r, 2), &extra, &data_type, mariadb),
            nullable: text(&r, 3).as_deref() == Some("YES"),
            auto_increment: extra_l.contains("auto_increment"),
            unsigned: column_type.to_ascii_lowercase().contains("unsigned"),
            on_update,
            generated,
            max_length,
            precision: num(&r, 6),
            scale: num(&r, 7),
            datetime_precision: num(&r, 8),
            charset: text(&r, 9),
            collation: text(&r, 10),
            values,
            comment: text(&r, 13).unwrap_or_default(),
            stats: Default::default(),
            representation: None,
            storage_classes: None,
            values_beyond_declared: 0,
            name,
            column_type,
            data_type,
            encoding,
        });
    }

    let mut current: Option<(usize, Index)> = None;
    let finish = |tables: &mut Vec<SourceTable>, cur: Option<(usize, Index)>| {
        if let Some((i, idx)) = cur {
            if idx.name == "PRIMARY" {
                tables[i].schema.primary_key =
                    idx.columns.into_iter().filter_map(|c| c.name).collect();
            } else {
                tables[i].schema.indexes.push(idx);
            }
        }
    };
    for r in rows(
        conn,
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE, \
         COLLATION, INDEX_COMMENT FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? \
         ORDER BY TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
        db,
        "indexes",
    )? {
        let table = text(&r, 0).unwrap_or_default();
        let Some(i) = table_index(&table) else {
            continue;
        };
        let name = text(&r, 1).unwrap_or_default();
        let same = matches!(&current, Some((ci, idx)) if *ci == i && idx.name == name);
        if !same {
            finish(&mut tables, current.take());
            current = Some((
                i,
                Index {
                    name: name.clone(),
                    unique: num(&r, 2) == Some(0),
                    kind: text(&r, 5).unwrap_or_else(|| "BTREE".into()),
                    columns: Vec::new(),
                    comment: text(&r, 7).unwrap_or_default(),
                    predicate: None,
                },
            ));
        }
        let col_name = text(&r, 3);
        if let Some((_, idx)) = current.as_mut() {
            idx.columns.push(IndexColumn {
                expression: None,
                descending: text(&r, 6).as_deref() == Some("D"),
                prefix: num(&r, 4),
                name: col_name,
            });
        }
    }
    finish(&mut tables, current.take());

    let mut fks: Vec<(usize, ForeignKey)> = Vec::new();
    for r in rows(
        conn,
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, \
         k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, rc.UPDATE_RULE, rc.DELETE_RULE \
         FROM information_schema.KEY_COLUMN_USAGE k \
         JOIN information_schema.REFERENTIAL_CONSTRAINTS rc \
           ON rc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
          AND rc.TABLE_NAME = k.TABLE_NAME \
         WHERE k.TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        db,
        "foreign keys",
    )? {
        let table = text(&r, 0).unwrap_or_default();
        let Some(i) = table_index(&table) else {
            continue;
        };
        let name = text(&r, 1).unwrap_or_default();
        let col = text(&r, 2).unwrap_or_default();
        let ref_col = text(&r, 5).unwrap_or_default();
        match fks.last_mut() {
            Some((li, fk)) if *li == i && fk.name == name => {
                fk.columns.push(col);
                fk.referenced_columns.push(ref_col);
            }
            _ => {
                let ref_schema = text(&r, 3).filter(|s| s != db);
                fks.push((
                    i,
                    ForeignKey {
                        name,
                        columns: vec![col],
                        referenced_schema: ref_schema,
                        referenced_table: text(&r, 4).unwrap_or_default(),
                        referenced_columns: vec![ref_col],
                        on_update: text(&r, 6).unwrap_or_else(|| "RESTRICT".into()),
                        on_delete: text(&r, 7).unwrap_or_else(|| "RESTRICT".into()),
                    },
                ));
            }
        }
    }
    for (i, fk) in fks {
        tables[i].schema.foreign_keys.push(fk);
    }

    for r in rows(
        conn,
        "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?",
        db,
        "views",
    )
    .unwrap_or_default()
    {
        let name = text(&r, 0).unwrap_or_default();
        if let Some(v) = views.iter_mut().find(|v| v.name == name) {
            v.definition = text(&r, 1).unwrap_or_default();
        }
    }

    for t in &mut tables {
        if t.schema.columns.is_empty() {
            return Err(Error::config(format!(
                "table `{}`: information_schema lists no columns (missing privileges?)",
                t.schema.name
            )));
        }
        t.charset_checked = (0..t.schema.columns.len())
            .filter(|&i| types::charset_may_replace(&t.schema.columns[i]))
            .collect();
    }
    Ok(Catalog {
        tables,
        views,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        use ColumnDefault::*;
        assert_eq!(parse_default(None, "", "int", true), None);
        assert_eq!(
            parse_default(Some("NULL".into()), "", "int", true),
            Some(Null)
        );
        assert_eq!(
            parse_default(Some("'it''s'".into()), "", "varchar", true),
            Some(Literal("it's".into()))
        );
        assert_eq!(
            parse_default(Some("0".into()), "", "int", true),
            Some(Literal("0".into()))
        );
        assert_eq!(
            parse_default(Some("current_timestamp()".into()), "", "timestamp", true),
            Some(Expression("current_timestamp()".into()))
        );
        assert_eq!(
            parse_default(
                Some("CURRENT_TIMESTAMP".into()),
                "DEFAULT_GENERATED",
                "timestamp",
                false
            ),
            Some(Expression("CURRENT_TIMESTAMP".into()))
        );
        assert_eq!(
            parse_default(Some("abc".into()), "", "varchar", false),
            Some(Literal("abc".into()))
        );
    }
}
