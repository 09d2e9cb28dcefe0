//! The run report every `compact` run writes (SPEC section 6).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::decode::Quarantined;
use crate::source::SkipReason;

#[derive(Debug, Default, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub source: String,
    pub lake: String,
    pub dry_run: bool,
    /// `s1of4` when this run was one shard of four.
    pub shard: Option<String>,
    /// Objects listed under the source.
    pub inputs_listed: u64,
    /// Objects read and decoded (files quarantined whole are not counted).
    pub inputs_read: u64,
    /// Objects not read, for the reasons in `skipped_by_reason`.
    pub inputs_skipped: u64,
    pub skipped_by_reason: BTreeMap<SkipReason, u64>,
    /// Whole files (`record` null) and single records that could not be taken.
    pub quarantined: Vec<Quarantined>,
    pub files_quarantined: u64,
    pub records_read: u64,
    pub rows_written: u64,
    pub duplicates_dropped: u64,
    pub records_quarantined: u64,
    pub partitions_written: u64,
    pub files_written: u64,
    pub files_replaced: u64,
    /// Bytes of the objects read, as stored (gzipped).
    pub bytes_in: u64,
    /// Bytes of JSON after decompression.
    pub json_bytes_in: u64,
    /// Bytes of Parquet files written.
    pub bytes_out: u64,
    /// Runs an earlier crash left committed but unfinished, finished first.
    pub recovered_runs: Vec<String>,
    pub seconds: f64,
}

impl RunReport {
    /// records read = rows written + duplicates dropped + records quarantined.
    pub fn reconciles(&self) -> bool {
        self.records_read == self.rows_written + self.duplicates_dropped + self.records_quarantined
            && self.inputs_listed == self.inputs_read + self.inputs_skipped + self.files_quarantined
    }

    /// A one-paragraph summary for stderr.
    pub fn summary(&self) -> String {
        let mb = |b: u64| b as f64 / 1e6;
        let mut s = format!(
            "{} inputs listed, {} read, {} skipped; {} records read, {} rows written, \
             {} duplicates dropped, {} records quarantined; {} partitions written; \
             {:.1} MB in ({:.1} MB JSON), {:.1} MB out; {:.2} s",
            self.inputs_listed,
            self.inputs_read,
            self.inputs_skipped,
            self.records_read,
            self.rows_written,
            self.duplicates_dropped,
            self.records_quarantined,
            self.partitions_written,
            mb(self.bytes_in),
            mb(self.json_bytes_in),
            mb(self.bytes_out),
            self.seconds,
        );
        if self.seconds > 0.0 && self.json_bytes_in > 0 {
            s.push_str(&format!(
                " ({:.0} MB/s of JSON)",
                mb(self.json_bytes_in) / self.seconds
            ));
        }
        s
    }
}
