//! Integration tests, one binary (one link of DataFusion): a module per
//! area, driving the real `traillake` binary on real and generated logs,
//! with the real engines (Spark SQL, DuckDB) and a real S3-compatible
//! server (moto) on loopback. Tests that need an engine skip with a note
//! when it is missing under a plain `cargo test`; `scripts/test.sh` sets
//! `TRAILLAKE_REQUIRE_ENGINES=1`, which makes a missing engine a failure.

mod helpers;

mod aws;
mod compact;
mod crash;
mod ddl;
mod detect;
mod fuzz;
mod hardening;
mod newcomer;
mod query;
mod repair;
mod s3;
mod scale;
mod scan_cost;
