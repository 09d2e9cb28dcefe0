//! The run report every `compact` run writes (SPEC section 6).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::decode::Quarantined;
use crate::sink::Conflict;
use crate::source::SkipReason;
use crate::store::RequestCounts;

/// Quarantined entries a report keeps (and the run holds in memory): the
/// first ones, with the count of all by reason beside them.
pub const QUARANTINE_EXAMPLES: usize = 100;

#[derive(Debug, Default, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub source: String,
    pub lake: String,
    pub dry_run: bool,
    /// `s1of4` when this run was one shard of four.
    pub shard: Option<String>,
    /// The listing's window: `full_scan`, `since/until`, or the lookback
    /// from the last day each region folder was seen.
    pub window: String,
    /// Folders listed (directory reads, or S3 delimiter listings).
    pub folders_listed: u64,
    /// Year, month or day folders dated after tomorrow (UTC): not read,
    /// and never moving the incremental position; read when their day
    /// comes. A typo in a path, a clock far off, or a planted folder.
    pub future_folders: u64,
    /// The first of them.
    pub future_folder_urls: Vec<String>,
    /// Objects listed under the source.
    pub inputs_listed: u64,
    /// Objects read and decoded (files quarantined whole are not counted).
    pub inputs_read: u64,
    /// Objects read again because they were rewritten since they were
    /// ingested (their size or ETag / modification time changed).
    pub inputs_rewritten: u64,
    /// Objects not read, for the reasons in `skipped_by_reason`.
    pub inputs_skipped: u64,
    pub skipped_by_reason: BTreeMap<SkipReason, u64>,
    /// `--dry-run`: the objects a run would read, as (bytes, URL).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_read: Vec<(u64, String)>,
    /// The first quarantined files and records (`record` null for a whole
    /// file); all of them, verbatim, are in `_traillake/quarantine/<run>.jsonl`.
    pub quarantined: Vec<Quarantined>,
    /// Every quarantined file and record, by kind of reason.
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Folders that could not be listed (retried by every run).
    pub folders_quarantined: u64,
    pub files_quarantined: u64,
    pub records_read: u64,
    /// New rows written (each event once; conflicting rows included).
    pub rows_written: u64,
    pub duplicates_dropped: u64,
    pub records_quarantined: u64,
    /// Rows kept beside another of the same `eventid` and `eventtime` but
    /// different content (never dropped: both are in the lake).
    pub eventid_conflicts: u64,
    /// The first of them.
    pub conflicts: Vec<Conflict>,
    /// Rows of earlier runs removed while merging files, being duplicates
    /// of other rows of the lake (as shards splitting a folder leave them).
    pub lake_duplicates_removed: u64,
    pub partitions_written: u64,
    pub files_written: u64,
    pub files_replaced: u64,
    /// Bytes of the objects read, as stored (gzipped).
    pub bytes_in: u64,
    /// Bytes of JSON after decompression.
    pub json_bytes_in: u64,
    /// Bytes of Parquet files written.
    pub bytes_out: u64,
    /// Requests made to the source and the lake.
    pub source_requests: RequestCounts,
    pub lake_requests: RequestCounts,
    /// The process's peak resident memory, in bytes (Linux).
    pub peak_rss_bytes: u64,
    /// Runs an earlier crash left committed but unfinished, finished first.
    pub recovered_runs: Vec<String>,
    pub seconds: f64,
    /// The switch (moves, the Delta version, deletes), and the Delta
    /// version committed: known after the report is stored, so on stdout
    /// (`--json`) and in the summary line only.
    #[serde(default)]
    pub commit_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_version: Option<u64>,
}

impl RunReport {
    /// records read = rows written + duplicates dropped + records
    /// quarantined, and inputs listed = read + skipped + quarantined, in
    /// checked arithmetic: an overflow does not reconcile.
    pub fn reconciles(&self) -> bool {
        let records = self
            .rows_written
            .checked_add(self.duplicates_dropped)
            .and_then(|n| n.checked_add(self.records_quarantined));
        let inputs = self
            .inputs_read
            .checked_add(self.inputs_skipped)
            .and_then(|n| n.checked_add(self.files_quarantined));
        records == Some(self.records_read) && inputs == Some(self.inputs_listed)
    }

    pub fn skip(&mut self, reason: SkipReason) {
        self.inputs_skipped += 1;
        *self.skipped_by_reason.entry(reason).or_default() += 1;
    }

    /// A folder that could not be listed, by name.
    pub fn quarantine_folder(&mut self, url: &str, reason: &str) {
        self.folders_quarantined += 1;
        *self
            .quarantined_by_reason
            .entry("folder not listed".to_string())
            .or_default() += 1;
        if self.quarantined.len() < QUARANTINE_EXAMPLES {
            self.quarantined.push(Quarantined {
                key: url.to_string(),
                record: None,
                reason: format!("folder not listed: {reason}"),
                raw: None,
            });
        }
    }

    /// A one-paragraph summary for stderr.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} {} rows to {} in {}: {} partition(s), {} file(s), {} out; read {} of {} \
             object(s) listed ({} skipped), {} gz, {} of JSON, {} records, {} duplicate(s) \
             dropped, {} quarantined; requests: {} to the source, {} to the lake",
            if self.dry_run { "would write" } else { "wrote" },
            self.rows_written,
            self.lake,
            duration(self.seconds),
            self.partitions_written,
            self.files_written,
            human_bytes(self.bytes_out),
            self.inputs_read,
            self.inputs_listed,
            self.inputs_skipped,
            human_bytes(self.bytes_in),
            human_bytes(self.json_bytes_in),
            self.records_read,
            self.duplicates_dropped,
            self.records_quarantined,
            requests(&self.source_requests),
            requests(&self.lake_requests),
        );
        if self.seconds > 0.0 && self.json_bytes_in > 0 {
            s.push_str(&format!(
                "; {}/s of JSON",
                human_bytes((self.json_bytes_in as f64 / self.seconds) as u64)
            ));
        }
        if self.eventid_conflicts > 0 {
            s.push_str(&format!(
                "; {} rows conflict with another of the same eventID (both kept)",
                self.eventid_conflicts
            ));
        }
        if let Some(v) = self.delta_version {
            s.push_str(&format!(
                "; Delta version {v}, switched in {}",
                duration(self.commit_seconds)
            ));
        }
        s
    }
}

/// Requests by kind, as a run summary shows them: `12 (3 LIST, 9 GET)`.
fn requests(r: &RequestCounts) -> String {
    let kinds: Vec<String> = [
        (r.list, "LIST"),
        (r.get, "GET"),
        (r.head, "HEAD"),
        (r.put, "PUT"),
        (r.delete, "DELETE"),
        (r.other, "other"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, k)| format!("{n} {k}"))
    .collect();
    if kinds.is_empty() {
        "0".into()
    } else {
        format!("{} ({})", r.total(), kinds.join(", "))
    }
}

/// Bytes for people: `512 B`, `12.3 KB`, `4.5 MB`, `1.21 GB` (powers of 1000).
pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b < 1e3 {
        format!("{b} B")
    } else if b < 1e6 {
        format!("{:.1} KB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// Seconds for people: `0.42 s`, `12.3 s`, `4m 05s`, `1h 02m`.
pub fn duration(secs: f64) -> String {
    if secs < 10.0 {
        format!("{secs:.2} s")
    } else if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        let s = secs.round() as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let m = (secs / 60.0).round() as u64;
        format!("{}h {:02}m", m / 60, m % 60)
    }
}

/// This process's peak resident size, from /proc/self/status.
pub fn peak_rss() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb << 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reconcile_only_when_they_add_up_without_wrapping() {
        let mut r = RunReport {
            records_read: 10,
            rows_written: 7,
            duplicates_dropped: 2,
            records_quarantined: 1,
            inputs_listed: 4,
            inputs_read: 3,
            inputs_skipped: 1,
            ..RunReport::default()
        };
        assert!(r.reconciles());
        r.duplicates_dropped = 3;
        assert!(!r.reconciles());
        // Sums that wrap around to the right figure (the old report's
        // "18446744073709543417 rows written") never reconcile.
        r.records_read = 1;
        r.rows_written = u64::MAX - 1;
        r.duplicates_dropped = 2;
        r.records_quarantined = 1;
        assert_eq!(
            r.rows_written
                .wrapping_add(r.duplicates_dropped)
                .wrapping_add(r.records_quarantined),
            r.records_read
        );
        assert!(!r.reconciles());
    }
}
