//! waybill moves a MySQL/MariaDB database into PostgreSQL through a dump on disk: typed
//! CSV files plus a checksummed manifest that travels with them. `export` writes a dump
//! from one consistent snapshot; `import` proves the dump intact and loads it in one
//! transaction; `audit` keeps the append-only trail of who did what.
//!
//! The engines take plain plan structs (`export::ExportPlan`, `import::ImportPlan`);
//! command-line parsing lives in `cli` and the binaries, never in the engines.

pub mod audit;
pub mod chunk;
pub mod cli;
pub mod dburl;
pub mod ddl;
pub mod encode;
pub mod error;
pub mod export;
pub mod hashing;
pub mod import;
pub mod interrupt;
pub mod manifest;
pub mod mysql_source;
pub mod names;
pub mod pg_target;
pub mod pgcsv;
pub mod report;
pub mod schema;
pub mod snapshot;
pub mod timefmt;
pub mod tls;
pub mod typemap;
pub mod verify;

pub use error::{Error, Result};
