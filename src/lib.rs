//! traillake: raw AWS CloudTrail logs -> a Hive-partitioned Parquet lake.
//!
//! Data flows one way: [`source`] lists and gunzips log objects, [`decode`]
//! turns them into Arrow batches per [`partition`], [`sink`] merges and
//! encodes Parquet, [`lake`] stages and commits files with a journal and a
//! ledger, [`pipeline`] wires the stages together. [`query`] reads the lake
//! with DataFusion (and `query::scan_cost` measures what queries scan, raw
//! vs lake); [`detect`] runs Sigma rules over it as queries. Those two are
//! the `sql` feature (default): without it the crate compacts, commits and
//! repairs without DataFusion. [`schema`] is the one definition of the
//! columns.

pub mod compact;
pub mod config;
pub mod ddl;
pub mod decode;
#[cfg(feature = "sql")]
pub mod detect;
pub mod generate;
pub mod lake;
pub mod partition;
pub mod progress;
#[cfg(feature = "sql")]
pub mod query;
pub mod repair;
pub mod report;
pub mod schema;
pub mod sink;
pub mod source;
pub mod store;
