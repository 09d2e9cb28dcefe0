//! `query`: SQL over the lake with DataFusion. The table `cloudtrail`
//! ([`table::LakeTable`]) lists only the partitions its filters allow and
//! reads a consistent snapshot of the lake; `eventtime` ranges skip row
//! groups by their statistics (files are sorted by time). Queries written
//! for the seed's Athena table run unchanged, including Athena's
//! `json_extract_scalar` on the JSON-text columns ([`functions`]). Queries
//! only read: a statement that would write (DDL, DML, `COPY`, `SET`) is
//! refused.

pub mod athena;
pub mod dialect;
mod error;
pub mod functions;
mod limits;
pub mod presets;
pub mod scan_cost;
mod session;
pub mod statements;
pub mod table;

use datafusion::arrow::array::RecordBatch;

pub use error::QueryError;
pub use functions::ip::AwsRanges;
pub use limits::Limits;
pub use presets::{list_presets, preset_sql, Preset, PRESETS};
pub use session::{read_only, runtime, store_root, visit, Engine, LakeSession};
pub use table::{LakeTable, Listing, Window};

/// The tables of every session: the window's events (`cloudtrail`), every
/// version's rows (`cloudtrail_all_versions`), and the lake's days before
/// the window (`cloudtrail_before_window`, what `first_seen` rules compare
/// with).
pub const TABLES: [&str; 3] = [
    "cloudtrail",
    "cloudtrail_all_versions",
    "cloudtrail_before_window",
];

/// What `--explain` reports about the scan.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ScanReport {
    /// The listing of each scan of the lake the plan made.
    pub listings: Vec<Listing>,
    /// Scan metrics: row groups pruned, bytes read, ...
    pub metrics: Vec<(String, String)>,
}

impl ScanReport {
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for l in &self.listings {
            if let Some(v) = l.delta_version {
                let _ = writeln!(
                    s,
                    "delta version: {v} (its files, pruned by the partition filters; data \
                     folders are listed only for superseded-event lists)"
                );
            }
            let _ = writeln!(
                s,
                "partitions: {} kept ({} folders pruned by the partition filters, unlisted below)\n\
                 files: {} in those partitions, {} bytes (row groups are pruned below)\n\
                 folders listed: {}",
                l.partitions_kept, l.folders_pruned, l.files, l.file_bytes, l.folders_listed
            );
            if l.journals_applied > 0 {
                let _ = writeln!(s, "commits in progress applied: {}", l.journals_applied);
            }
        }
        for (k, v) in &self.metrics {
            let _ = writeln!(s, "{k}: {v}");
        }
        s
    }
}

/// The result of a query.
pub struct QueryResult {
    pub batches: Vec<RecordBatch>,
    pub scan: ScanReport,
}

#[cfg(test)]
mod tests {
    use datafusion::error::DataFusionError;

    use super::error::planning;
    use super::*;

    #[test]
    fn store_errors_while_planning_are_the_lakes_not_the_sqls() {
        let lake = crate::lake::LakeError::Store {
            url: "s3://b/lake".into(),
            reason: "no AWS credentials found".into(),
        };
        let e = DataFusionError::External(Box::new(lake));
        assert!(matches!(planning(e), QueryError::Lake(_)));
        let wrapped = DataFusionError::Context(
            "listing".into(),
            Box::new(DataFusionError::ObjectStore(Box::new(
                object_store::Error::NotFound {
                    path: "x".into(),
                    source: "gone".into(),
                },
            ))),
        );
        let q = planning(wrapped);
        assert!(matches!(q, QueryError::Lake(_)));
        assert!(!q.is_usage());
        let bad_sql = DataFusionError::Plan("No field named eventnme".into());
        assert!(planning(bad_sql).is_usage());
    }
}
