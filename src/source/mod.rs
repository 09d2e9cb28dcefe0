//! The raw side: walk CloudTrail's layout under SRC for the folders a run
//! needs ([`walk`]), tell event logs from the other objects CloudTrail
//! writes (digests, Insights, write checks), and gunzip ([`gunzip`]).

pub mod gunzip;
pub mod walk;

use std::path::PathBuf;

use object_store::path::Path;

use crate::partition::{Date, PathHints};

pub use gunzip::{gunzip, gzip_size, Inflater, MAX_DECOMPRESSED};

/// Where an object's bytes are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handle {
    /// A key in the source's object store.
    Store(Path),
    /// A local file, by its real name (which need not be UTF-8).
    File(PathBuf),
}

/// One raw log object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    pub handle: Handle,
    /// The key below SRC, escaped ([`crate::store::escape`]).
    pub rel: String,
    /// Full URL (`file:///...`, `s3://bucket/key`): the `sourcekey` column
    /// and the name in every message.
    pub url: String,
    pub size: u64,
    /// The ETag (S3) or modification time (local) it was listed with: with
    /// the size, what tells a rewritten object from the one ingested.
    pub tag: Option<String>,
    pub gzipped: bool,
}

impl SourceObject {
    /// The folder the object lies in, relative to SRC (its ledger's key).
    pub fn folder(&self) -> &str {
        self.rel.rsplit_once('/').map_or("", |(dir, _)| dir)
    }

    /// The object's name within its folder.
    pub fn name(&self) -> &str {
        self.rel
            .rsplit_once('/')
            .map_or(&self.rel, |(_, name)| name)
    }
}

/// Why a listed object is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Digest,
    Insight,
    WritabilityCheck,
    NotJson,
    Filtered,
    OtherShard,
    AlreadyIngested,
    /// A symbolic link into the lake: the lake's own files are never input.
    InsideLake,
}

/// Filters from the command line, applied to what the path says.
#[derive(Debug, Clone, Default)]
pub struct SourceFilter {
    pub since: Option<Date>,
    pub until: Option<Date>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub include_insights: bool,
}

impl SourceFilter {
    fn keeps(&self, hints: &PathHints) -> bool {
        let days = crate::partition::Days {
            since: self.since,
            until: self.until,
        };
        let date_ok = match hints.date {
            Some(d) => days.contains(d),
            None => days.is_open(),
        };
        let in_list = |list: &[String], v: &Option<String>| {
            list.is_empty() || v.as_ref().is_some_and(|v| list.contains(v))
        };
        date_ok && in_list(&self.accounts, &hints.account) && in_list(&self.regions, &hints.region)
    }
}

/// What an object under SRC is.
pub fn classify(key: &str, filter: &SourceFilter) -> Result<bool, SkipReason> {
    let segs: Vec<&str> = key.split('/').collect();
    let name = segs.last().copied().unwrap_or("");
    if segs.contains(&"CloudTrail-Digest") {
        return Err(SkipReason::Digest);
    }
    if segs.contains(&"CloudTrail-Insight") && !filter.include_insights {
        return Err(SkipReason::Insight);
    }
    if name.contains("ConfigWritabilityCheckFile") {
        return Err(SkipReason::WritabilityCheck);
    }
    let gzipped = if name.ends_with(".json.gz") {
        true
    } else if name.ends_with(".json") {
        false
    } else {
        return Err(SkipReason::NotJson);
    };
    if !filter.keeps(&PathHints::from_key(key)) {
        return Err(SkipReason::Filtered);
    }
    Ok(gzipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_skips_non_event_objects() {
        let f = SourceFilter::default();
        let base = "AWSLogs/1/CloudTrail/us-east-1/2024/01/02/";
        assert_eq!(classify(&format!("{base}a.json.gz"), &f), Ok(true));
        assert_eq!(classify(&format!("{base}a.json"), &f), Ok(false));
        assert_eq!(
            classify(
                "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/02/d.json.gz",
                &f
            ),
            Err(SkipReason::Digest)
        );
        assert_eq!(
            classify(
                "AWSLogs/1/CloudTrail-Insight/us-east-1/2024/01/02/i.json.gz",
                &f
            ),
            Err(SkipReason::Insight)
        );
        assert_eq!(
            classify("AWSLogs/1/CloudTrail/ConfigWritabilityCheckFile", &f),
            Err(SkipReason::WritabilityCheck)
        );
        assert_eq!(
            classify(&format!("{base}notes.txt"), &f),
            Err(SkipReason::NotJson)
        );
    }

    #[test]
    fn filters_use_the_path() {
        let f = SourceFilter {
            since: Date::parse("2024-01-02"),
            until: Date::parse("2024-01-03"),
            accounts: vec!["1".into()],
            regions: vec![],
            include_insights: false,
        };
        let key =
            |a: &str, d: &str| format!("AWSLogs/{a}/CloudTrail/us-east-1/2024/01/{d}/x.json.gz");
        assert_eq!(classify(&key("1", "02"), &f), Ok(true));
        assert_eq!(classify(&key("1", "04"), &f), Err(SkipReason::Filtered));
        assert_eq!(classify(&key("2", "02"), &f), Err(SkipReason::Filtered));
    }
}
