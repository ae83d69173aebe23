//! What a MongoDB collection held, as the manifest records it (`tables[].collection`).
//! A collection has no declared schema: the export reads every document once, counts
//! each top-level field's BSON types, and chooses the table's columns from that. The
//! counts, the shape chosen and the input files (with their own sha256, so the dump
//! proves which backup it came from) travel with the dump, so a reader sees
//! `price: double 9812, string 3` and can decide what to do about it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a collection became a table.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// `_id` plus `doc jsonb`: the whole document in relaxed Extended JSON.
    #[default]
    Doc,
    /// `--flatten`: `_id` plus one typed column per top-level field.
    Flatten,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Collection {
    pub shape: Shape,
    pub documents: u64,
    /// The files the documents (and the collection's metadata) were read from, relative
    /// to the source directory, each with its own size and sha256.
    pub input_files: Vec<InputFile>,
    /// Top-level fields in order of first appearance, with how many documents held each
    /// BSON type.
    pub fields: Vec<FieldTypes>,
    /// More distinct top-level field names than waybill keeps counts for: only the first
    /// ones are listed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fields_truncated: bool,
    /// From `<collection>.metadata.json` (mongodump): the collection's UUID, options and
    /// index definitions as MongoDB wrote them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<serde_json::Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct InputFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldTypes {
    pub name: String,
    /// Documents holding the field, per BSON type, by MongoDB's type aliases (`double`,
    /// `string`, `objectId`, `int`, `long`, `decimal`, `date`, `binData`, ...; `uuid` is
    /// binData subtype 4 of 16 bytes; `null` is an explicit null).
    pub types: BTreeMap<String, u64>,
    /// Documents without the field.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missing: u64,
    /// For a field of mixed types: up to three `_id`s of documents holding each type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub samples: BTreeMap<String, Vec<String>>,
    /// Up to three `_id`s of documents without the field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_samples: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FieldTypes {
    /// `double 9,812, string 3`: the counts, largest first.
    pub fn describe(&self) -> String {
        let mut v: Vec<(&String, &u64)> = self.types.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut parts: Vec<String> = v
            .into_iter()
            .map(|(t, n)| format!("{t} {}", thousands(*n)))
            .collect();
        if self.missing > 0 {
            parts.push(format!("missing {}", thousands(self.missing)));
        }
        parts.join(", ")
    }

    /// `describe`, then the sample `_id`s: `double 2, string 1; string: _id 65f...;
    /// missing: _id 65f...`.
    pub fn describe_with_samples(&self) -> String {
        let mut parts = vec![self.describe()];
        for (t, s) in &self.samples {
            parts.push(format!("{t}: _id {}", s.join(", ")));
        }
        if !self.missing_samples.is_empty() {
            parts.push(format!("missing: _id {}", self.missing_samples.join(", ")));
        }
        parts.join("; ")
    }

    /// The BSON types other than null that the field held.
    pub fn value_types(&self) -> impl Iterator<Item = &str> {
        self.types
            .keys()
            .map(String::as_str)
            .filter(|t| *t != "null")
    }
}

/// `9812` as `9,812`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_words() {
        let f = FieldTypes {
            name: "price".into(),
            types: [("string".to_string(), 3), ("double".to_string(), 9812)]
                .into_iter()
                .collect(),
            missing: 1,
            ..FieldTypes::default()
        };
        assert_eq!(f.describe(), "double 9,812, string 3, missing 1");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
