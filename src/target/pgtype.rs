//! PostgreSQL column types as waybill reasons about them: the type-level pre-flight
//! decides from them whether a dump column can change on its way in, and the read-back
//! comparison decides from them how to read PostgreSQL's text output. Both spellings are
//! understood: `format_type()`'s (`character varying(36)`, `timestamp(3) with time zone`)
//! and the short one `--create-schema` writes (`varchar(36)`, `timestamptz(3)`).

/// A target column type. Lengths and precisions are the declared ones (`None`: none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PgType {
    /// text, citext, name: any length.
    Text,
    Varchar(Option<u64>),
    /// character(n) (bpchar): blank-padded to n.
    Char(Option<u64>),
    SmallInt,
    Integer,
    BigInt,
    /// numeric(precision, scale); `None` is unconstrained.
    Numeric(Option<(u64, i64)>),
    Real,
    Double,
    Boolean,
    Date,
    /// Fractional-second digits kept (6 when not declared).
    Timestamp(u32),
    Timestamptz(u32),
    Time(u32),
    TimeTz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    Bytea,
    Bit(u64),
    VarBit(Option<u64>),
    /// An array of a text type (`text[]`, `character varying[]`).
    TextArray,
    /// PostGIS geometry or geography.
    Geometry,
    /// Anything else (enums, domains, inet, money, other arrays ...).
    Other(String),
}

/// The numbers in the first `(...)` of a type name.
fn modifiers(s: &str) -> Vec<i64> {
    s.find('(')
        .and_then(|open| {
            let rest = &s[open + 1..];
            rest.find(')').map(|close| &rest[..close])
        })
        .map(|inner| {
            inner
                .split(',')
                .filter_map(|p| p.trim().parse::<i64>().ok())
                .collect()
        })
        .unwrap_or_default()
}

impl PgType {
    pub(crate) fn parse(name: &str) -> PgType {
        let lower = name.trim().to_ascii_lowercase();
        if let Some(elem) = lower.strip_suffix("[]") {
            return match PgType::parse(elem) {
                PgType::Text | PgType::Varchar(_) | PgType::Char(_) => PgType::TextArray,
                _ => PgType::Other(lower),
            };
        }
        let base: String = lower
            .split('(')
            .next()
            .unwrap_or("")
            .trim()
            .trim_start_matches("pg_catalog.")
            .to_string();
        let mods = modifiers(&lower);
        let first = mods.first().map(|&n| n.max(0) as u64);
        let with_tz = lower.contains("with time zone") || base.ends_with("tz");
        let precision = |default: u32| first.map(|p| p.min(6) as u32).unwrap_or(default);
        match base.as_str() {
            "text" | "citext" | "name" => PgType::Text,
            "character varying" | "varchar" => PgType::Varchar(first),
            "character" | "char" | "bpchar" => {
                // `character` without a length is character(1); bare `bpchar` has none.
                if base == "bpchar" {
                    PgType::Char(first)
                } else {
                    PgType::Char(Some(first.unwrap_or(1)))
                }
            }
            "smallint" | "int2" => PgType::SmallInt,
            "integer" | "int" | "int4" => PgType::Integer,
            "bigint" | "int8" => PgType::BigInt,
            "numeric" | "decimal" => PgType::Numeric(match mods.as_slice() {
                [p] => Some((*p as u64, 0)),
                [p, s] => Some((*p as u64, *s)),
                _ => None,
            }),
            "real" | "float4" => PgType::Real,
            "double precision" | "float8" => PgType::Double,
            "float" => match first {
                Some(p) if p <= 24 => PgType::Real,
                _ => PgType::Double,
            },
            "boolean" | "bool" => PgType::Boolean,
            "date" => PgType::Date,
            "timestamp" | "timestamp without time zone" if !with_tz => {
                PgType::Timestamp(precision(6))
            }
            "timestamp" | "timestamptz" | "timestamp with time zone" => {
                PgType::Timestamptz(precision(6))
            }
            "time" | "time without time zone" if !with_tz => PgType::Time(precision(6)),
            "time" | "timetz" | "time with time zone" => PgType::TimeTz,
            b if b.starts_with("interval") => PgType::Interval,
            "uuid" => PgType::Uuid,
            "json" => PgType::Json,
            "jsonb" => PgType::Jsonb,
            "bytea" => PgType::Bytea,
            "bit" => PgType::Bit(first.unwrap_or(1)),
            "bit varying" | "varbit" => PgType::VarBit(first),
            "geometry" | "geography" => PgType::Geometry,
            _ => PgType::Other(lower),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings() {
        use PgType::*;
        for (a, b) in [
            ("character varying(36)", Varchar(Some(36))),
            ("varchar(36)", Varchar(Some(36))),
            ("character varying", Varchar(None)),
            ("character(5)", Char(Some(5))),
            ("character", Char(Some(1))),
            ("bpchar", Char(None)),
            ("numeric(10,2)", Numeric(Some((10, 2)))),
            ("numeric(20)", Numeric(Some((20, 0)))),
            ("numeric", Numeric(None)),
            ("timestamp(0) without time zone", Timestamp(0)),
            ("timestamp without time zone", Timestamp(6)),
            ("timestamp(3)", Timestamp(3)),
            ("timestamp(3) with time zone", Timestamptz(3)),
            ("timestamptz(6)", Timestamptz(6)),
            ("timestamptz", Timestamptz(6)),
            ("time without time zone", Time(6)),
            ("time(2) with time zone", TimeTz),
            ("interval", Interval),
            ("interval day to second", Interval),
            ("double precision", Double),
            ("real", Real),
            ("text[]", TextArray),
            ("character varying(10)[]", TextArray),
            ("integer[]", Other("integer[]".into())),
            ("bit(3)", Bit(3)),
            ("bit varying(8)", VarBit(Some(8))),
            ("geometry(Point,4326)", Geometry),
            ("mpaa_rating", Other("mpaa_rating".into())),
        ] {
            assert_eq!(PgType::parse(a), b, "{a}");
        }
    }
}
