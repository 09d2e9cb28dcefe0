//! Integration tests, one binary (one link of DataFusion): a module per
//! area, driving the real `traillake` binary on real and generated logs,
//! with the real engines (Spark SQL, DuckDB) and a real S3-compatible
//! server (moto) on loopback. A test whose engine is missing fails, naming
//! it: a skip never counts as a pass. `scripts/test.sh` installs them.

mod helpers;

mod aws;
mod compact;
mod crash;
mod ddl;
mod delta;
mod detect;
mod fuzz;
mod hardening;
mod newcomer;
mod query;
mod repair;
mod s3;
mod scale;
mod scan_cost;
