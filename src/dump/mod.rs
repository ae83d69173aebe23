//! The dump: what travels between hosts. Everything that defines a dump lives here, and
//! nothing here talks to a database, so both sides (and any other reader of a dump)
//! share one vocabulary:
//!
//! - `manifest`: `migration_manifest.json` and `SHA256SUMS`;
//! - `schema`: the source schema as the manifest records it;
//! - `encoding`: how each column's values are written, and what the data showed;
//! - `csv`: the CSV dialect (PostgreSQL's `COPY ... FORMAT csv` with `\N` for NULL);
//! - `names`: file names that are safe on every filesystem;
//! - `hashing`: SHA-256 while streaming;
//! - `verify`: proving a dump intact against its manifest.

pub(crate) mod csv;
pub mod encoding;
pub mod hashing;
pub mod manifest;
pub(crate) mod names;
pub mod schema;
pub mod verify;
#[cfg(test)]
mod verify_tests;
