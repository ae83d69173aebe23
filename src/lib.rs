//! waybill moves a database into PostgreSQL through a dump on disk: typed CSV files plus
//! a checksummed manifest that travels with them. The modules follow the data:
//!
//! - `source`: the databases waybill reads (`source::mysql`, `source::sqlite`, and
//!   MongoDB's mongodump/mongoexport files), behind one seam: a catalog, a snapshot,
//!   and ordered reads of rows as text cells;
//! - `export`: the driver-free engine that turns a source into a dump;
//! - `dump`: the dump itself, the vocabulary both sides share (manifest, schema, value
//!   encodings, CSV dialect, file names, hashing, verification); it imports no driver;
//! - `import`: proves a dump intact and loads it (pre-flight, steps, load, COPY);
//! - `target`: PostgreSQL (connection, catalog, type mapping, DDL);
//! - `compare`: proving values, not just files: a dump, the source and the target read
//!   back and compared by meaning (`waybill-verify`, `waybill-import --verify`);
//! - beside them: `audit` (the hash-chained trail), `cli` (flags, env, progress and
//!   summaries), `dburl` and `tls` (connections), `error`, `interrupt`, `printable`
//!   (untrusted text made safe to show), `timefmt`.
//!
//! The engines take plain plan structs (`export::ExportPlan`, `import::ImportPlan`);
//! command-line parsing lives in `cli` and the binaries, never in the engines.

pub mod audit;
pub mod cli;
pub mod compare;
pub mod dburl;
pub mod dump;
pub mod error;
pub mod export;
#[cfg(test)]
mod fuzz;
pub mod import;
pub mod interrupt;
pub(crate) mod printable;
pub mod source;
pub mod target;
pub mod timefmt;
pub mod tls;

pub use error::{Error, Result};
