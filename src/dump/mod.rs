//! The dump: what travels between hosts. Everything that defines a dump lives here, and
//! nothing here talks to a database, so both sides (and any other reader of a dump)
//! share one vocabulary:
//!
//! - `manifest`: `migration_manifest.json` and `SHA256SUMS`;
//! - `schema`: the source schema as the manifest records it;
//! - `collection`: what a MongoDB collection held (BSON types per field, input files);
//! - `encoding`: how each column's values are written, and what the data showed;
//! - `facts`: cheap per-value facts (scale, length, fractional digits ...) behind that;
//! - `csv`: the CSV dialect (PostgreSQL's `COPY ... FORMAT csv` with `\N` for NULL);
//! - `files`: opening a dump's files (regular files only: no links, FIFOs or devices),
//!   and reading and writing data files plain or zstd-compressed;
//! - `names`: file names that are safe on every filesystem;
//! - `hashing`: SHA-256 while streaming;
//! - `validate`: the one boundary where a parsed manifest is checked and becomes trusted;
//! - `verify`: proving a dump intact against its manifest.

pub mod collection;
pub(crate) mod csv;
pub mod encoding;
pub(crate) mod facts;
pub(crate) mod files;
pub mod hashing;
pub mod manifest;
pub(crate) mod names;
pub mod schema;
pub(crate) mod validate;
#[cfg(test)]
mod validate_tests;
pub mod verify;
#[cfg(test)]
mod verify_tests;
