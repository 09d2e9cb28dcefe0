//! Everything a run is told: where to read and write, the window, the
//! memory budget, sharding, and their defaults.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::memory::MemoryBudget;
use crate::lake::layout::Owner;
use crate::progress::Progress;
use crate::sink::WriteOptions;
use crate::source::SourceFilter;
use crate::store::Location;

/// Everything `compact` needs, resolved from flags and config.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    pub source: Location,
    pub lake: Location,
    pub filter: SourceFilter,
    pub full_scan: bool,
    /// Days before the last day seen in a region listed again.
    pub lookback_days: u32,
    pub threads: usize,
    pub dry_run: bool,
    pub write: WriteOptions,
    /// The memory budget and its shares (the largest file among them).
    pub memory: MemoryBudget,
    /// Compressed bytes fetched per step.
    pub chunk_bytes: u64,
    /// What the run has done so far, for the caller to show.
    pub progress: Arc<Progress>,
    pub shard: Option<Shard>,
    /// Small files of one generation that make a merge.
    pub merge_at: usize,
    /// A lease not renewed for this long is taken over.
    pub lease_timeout: Duration,
    /// Where spill files go.
    pub spill_dir: PathBuf,
    /// How spill files are compressed.
    pub spill_codec: crate::compact::spill::SpillCodec,
    /// The newest day a source folder may be dated (default: tomorrow,
    /// UTC); later folders are reported and left for their day.
    pub newest_day: Option<crate::partition::Date>,
    /// The Delta log a run commits to.
    pub delta: crate::lake::delta::DeltaSettings,
}

impl CompactOptions {
    /// Options with defaults for everything but where to read and write.
    pub fn new(source: Location, lake: Location) -> Self {
        Self {
            source,
            lake,
            filter: SourceFilter::default(),
            full_scan: false,
            lookback_days: DEFAULT_LOOKBACK_DAYS,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            dry_run: false,
            write: WriteOptions::default(),
            memory: MemoryBudget::default(),
            // With chunks queued back to back, 4 MB is as fast as 8 MB
            // (medians 1.55 vs 1.68 s, 5 alternating runs on 430 MB of
            // JSON) and peaks ~100 MiB lower.
            chunk_bytes: 4 << 20,
            progress: Arc::default(),
            shard: None,
            merge_at: 8,
            lease_timeout: Duration::from_secs(600),
            spill_dir: std::env::temp_dir(),
            spill_codec: Default::default(),
            newest_day: None,
            delta: crate::lake::delta::DeltaSettings::default(),
        }
    }

    pub(crate) fn owner(&self) -> Owner {
        self.shard.map_or(Owner::All, Shard::owner)
    }

    pub(crate) fn window(&self) -> String {
        if self.full_scan {
            return "full scan".into();
        }
        match (self.filter.since, self.filter.until) {
            (None, None) => format!(
                "the last day seen in each region folder, minus {} days",
                self.lookback_days
            ),
            (s, u) => format!(
                "{} to {}",
                s.map_or("the first day".into(), |d| d.to_string()),
                u.map_or("the last day".into(), |d| d.to_string())
            ),
        }
    }
}

/// CloudTrail delivers a log file about 5 minutes after the calls it holds,
/// usually within 15 minutes, into the folder of the day it delivers it
/// (so a late event lands in a newer folder, never an older one). Files do
/// land in older folders when a trail's bucket is filled by replication
/// or copied in late, and when CloudTrail delivers again after an outage.
/// Three days covers those with a margin, at a few LISTs per region.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 3;

/// One of N machines splitting a night's work with no coordination
/// (`--shard K/N`). By default a shard takes the source objects whose folder
/// (account, region, date from the path) hashes to K; with `by_object`, the
/// objects whose key does, so one busy folder is spread over every shard.
/// A shard owns the lake files it writes: it merges and replaces only its
/// own files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
    pub by_object: bool,
}

impl Shard {
    /// `K/N`, or `N` alone with K from `AWS_BATCH_JOB_ARRAY_INDEX` (AWS
    /// Batch array jobs) or `JOB_COMPLETION_INDEX` (Kubernetes indexed jobs).
    pub fn parse(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let bad = || format!("--shard {s:?}: expected K/N (0 <= K < N) or N");
        let (k, n) = match s.split_once('/') {
            Some((k, n)) => (k.trim().to_string(), n),
            None => {
                let k = env("AWS_BATCH_JOB_ARRAY_INDEX")
                    .or_else(|| env("JOB_COMPLETION_INDEX"))
                    .ok_or_else(|| {
                        format!(
                            "--shard {s}: no shard index: give K/N, or set \
                             AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX"
                        )
                    })?;
                (k, s)
            }
        };
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self {
            index,
            count,
            by_object: false,
        })
    }

    pub fn owner(self) -> Owner {
        Owner::Shard {
            index: self.index,
            count: self.count,
        }
    }

    /// Whether this shard takes the object at `key` (relative to SRC).
    pub fn takes(&self, key: &str) -> bool {
        let unit = if self.by_object {
            key.to_string()
        } else {
            let h = crate::partition::PathHints::from_key(key);
            match (&h.account, &h.region, h.date) {
                (Some(a), Some(r), Some(d)) => format!("{a}/{r}/{d}"),
                // Not in CloudTrail's layout: the object's folder decides.
                _ => key.rsplit_once('/').map_or("", |(dir, _)| dir).to_string(),
            }
        };
        fnv1a(unit.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }
}

/// FNV-1a: stable across releases and platforms, unlike std's hasher.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn shard_parses_k_of_n_and_the_batch_and_kubernetes_indexes() {
        let none = |_: &str| None;
        let shard = |index, count| Shard {
            index,
            count,
            by_object: false,
        };
        assert_eq!(Shard::parse("1/4", none), Ok(shard(1, 4)));
        assert!(Shard::parse("4/4", none).is_err());
        assert!(Shard::parse("0/0", none).is_err());
        assert!(Shard::parse("4", none)
            .unwrap_err()
            .contains("AWS_BATCH_JOB_ARRAY_INDEX"));
        let batch = |k: &str| (k == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "2".to_string());
        assert_eq!(Shard::parse("3", batch), Ok(shard(2, 3)));
        let k8s = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "0".to_string());
        assert_eq!(Shard::parse("3", k8s), Ok(shard(0, 3)));
    }

    #[test]
    fn every_object_goes_to_exactly_one_shard_by_folder_or_by_object() {
        for by_object in [false, true] {
            for i in 0..200 {
                let key = format!(
                    "AWSLogs/{}/CloudTrail/us-east-1/2024/01/{:02}/f{i}.json.gz",
                    i % 3,
                    i % 28 + 1
                );
                let takers = (0..5)
                    .filter(|&k| {
                        Shard {
                            index: k,
                            count: 5,
                            by_object,
                        }
                        .takes(&key)
                    })
                    .count();
                assert_eq!(takers, 1, "{key}");
            }
        }
        // By object, one folder's files spread over the shards.
        let spread: BTreeSet<u32> = (0..50)
            .map(|i| format!("AWSLogs/1/CloudTrail/us-east-1/2024/01/15/f{i}.json.gz"))
            .map(|key| {
                (0..4)
                    .find(|&k| {
                        Shard {
                            index: k,
                            count: 4,
                            by_object: true,
                        }
                        .takes(&key)
                    })
                    .unwrap()
            })
            .collect();
        assert_eq!(spread.len(), 4);
    }
}
