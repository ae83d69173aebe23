//! The source schema as the dump records it. Everything the target side needs to create
//! tables or map columns is here, so the import never has to reach the source database.

use serde::{Deserialize, Serialize};

use crate::dump::encoding::{ColumnStats, Encoding};

/// A column default as MySQL/MariaDB reports it, with MariaDB's quoting undone.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ColumnDefault {
    Null,
    /// A constant, unquoted (`abc`, `0`, `0000-00-00 00:00:00`).
    Literal(String),
    /// An expression in MySQL syntax (`current_timestamp()`, `uuid()`, `b'0'`).
    Expression(String),
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    pub expression: String,
    pub stored: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Column {
    pub name: String,
    pub column_type: String,
    pub data_type: String,
    pub nullable: bool,
    /// How the values are written in the CSV.
    pub encoding: Encoding,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<ColumnDefault>,
    #[serde(default)]
    pub auto_increment: bool,
    #[serde(default)]
    pub unsigned: bool,
    /// `ON UPDATE ...` in MySQL syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_update: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<Generated>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datetime_precision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
    /// The members of an enum or set, in declaration order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// What the data showed while it was written.
    #[serde(default)]
    pub stats: ColumnStats,
    /// SQLite: how a date/time column's values were stored, as detected from the data
    /// (every value was converted to the encoding's text form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representation: Option<Representation>,
    /// SQLite: how many values of each storage class the column held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_classes: Option<StorageClasses>,
    /// SQLite: values that do not fit the declared length or precision (SQLite does not
    /// enforce them), so the declared type cannot hold them in PostgreSQL.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub values_beyond_declared: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How a SQLite date/time column stored its values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Representation {
    /// ISO-8601 text (`2024-03-10 07:00:00.250`, `T` and a UTC offset accepted).
    #[serde(rename = "iso_text")]
    IsoText,
    /// Seconds since 1970-01-01 UTC.
    #[serde(rename = "unix_seconds")]
    UnixSeconds,
    /// Milliseconds since 1970-01-01 UTC (what Prisma writes).
    #[serde(rename = "unix_ms")]
    UnixMs,
    /// Both: ISO text and Unix seconds.
    #[serde(rename = "iso_text+unix_seconds")]
    IsoTextAndUnixSeconds,
    /// Both: ISO text and Unix milliseconds (a Prisma column with rows written by
    /// SQLite's own `DEFAULT CURRENT_TIMESTAMP`).
    #[serde(rename = "iso_text+unix_ms")]
    IsoTextAndUnixMs,
}

impl Representation {
    /// Milliseconds per unit of a number in the column (`None`: numbers are not expected).
    pub fn number_unit_ms(self) -> Option<i64> {
        match self {
            Representation::IsoText => None,
            Representation::UnixSeconds | Representation::IsoTextAndUnixSeconds => Some(1000),
            Representation::UnixMs | Representation::IsoTextAndUnixMs => Some(1),
        }
    }
}

/// SQLite storage classes: how many values of each the column held.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageClasses {
    pub null: u64,
    pub integer: u64,
    pub real: u64,
    pub text: u64,
    pub blob: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct IndexColumn {
    /// `None` for an expression part (MySQL 8 functional index).
    pub name: Option<String>,
    /// Prefix length of a prefix index (`KEY (title(10))`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<u64>,
    #[serde(default)]
    pub descending: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    /// BTREE, HASH, FULLTEXT or SPATIAL.
    pub kind: String,
    pub columns: Vec<IndexColumn>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// A partial index's condition, in the source's SQL (SQLite `WHERE ...`).
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    /// Set when the parent table is in another database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referenced_schema: Option<String>,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    /// In MySQL syntax.
    pub clause: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Table {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    /// The source's next AUTO_INCREMENT value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_increment: Option<u64>,
    #[serde(default)]
    pub indexes: Vec<Index>,
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
    #[serde(default)]
    pub checks: Vec<Check>,
    /// MongoDB: what the collection's documents held and how they became this table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<crate::dump::collection::Collection>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct View {
    pub name: String,
    /// In the source's SQL (MySQL: as information_schema shows it; SQLite: the CREATE
    /// VIEW statement); not loaded by the import.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub definition: String,
}
