//! MongoDB's part of the type map. A dump from MongoDB records each column's BSON
//! type(s) in `column_type` (see `source::mongo::infer`): int32 becomes integer, int64
//! (or a mix of both) bigint; Decimal128 numeric without a fixed scale, so every
//! digit is kept. Everything else follows the encoding (text, double precision,
//! boolean, timestamptz(3), uuid, bytea, jsonb). MongoDB has no column defaults.

use crate::dump::encoding::Encoding;
use crate::dump::schema::Column;

/// The PostgreSQL type where the BSON type decides it (`None`: the encoding decides,
/// in `typemap`).
pub(super) fn column_type(c: &Column) -> Option<String> {
    Some(match c.encoding {
        Encoding::Integer if c.column_type == "int" => "integer".into(),
        Encoding::Integer => "bigint".into(),
        Encoding::Decimal => "numeric".into(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{CastRules, Dialect, map_column};
    use crate::dump::encoding::Encoding;
    use crate::dump::schema::Column;

    fn ty(column_type: &str, encoding: Encoding) -> String {
        let c: Column = serde_json::from_value(serde_json::json!({
            "name": "c", "column_type": column_type, "data_type": "bson", "nullable": true,
            "encoding": encoding,
        }))
        .unwrap();
        map_column(Dialect::Mongo, "t", &c, &CastRules::default())
            .final_type()
            .to_string()
    }

    #[test]
    fn bson_types() {
        use Encoding::*;
        assert_eq!(ty("int", Integer), "integer");
        assert_eq!(ty("long", Integer), "bigint");
        assert_eq!(ty("decimal", Decimal), "numeric");
        assert_eq!(ty("double", Double), "double precision");
        assert_eq!(ty("date", TimestampUtc), "timestamptz");
        assert_eq!(ty("objectId", Text), "text");
        assert_eq!(ty("uuid", UuidText), "uuid");
        assert_eq!(ty("binData", ByteaHex), "bytea");
        assert_eq!(ty("mixed", JsonText), "jsonb");
        assert_eq!(ty("bool", BooleanInt), "boolean");
    }
}
