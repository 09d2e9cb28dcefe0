//! The lake as a Delta table: a transaction log at `LAKE/_delta_log/` over
//! the Parquet files the runs write, in the same Hive folders (no copy), so
//! every engine that reads Delta (Athena engine v3, Spark, Trino, DuckDB,
//! Polars) sees whole runs, whoever is writing, and any version the log
//! still holds.
//!
//! The log is written with the `deltalake` crate (its commit protocol: a
//! conditional PUT of the next version, on a local disk and on S3, no
//! DynamoDB), at reader/writer protocol 1/2, the newest Athena reads.
//!
//! How a run commits ([`crate::lake`] has the whole protocol): the run's
//! journal carries its [`Change`] (files added with their statistics, files
//! removed). Carrying the journal out moves the data files in, commits the
//! change as one Delta version, then deletes the replaced files. The
//! version holds an application transaction (`txn`: the owner, and the
//! run's time as its version), so a run rolled forward after a kill
//! commits once: if the log already holds its `txn`, the commit is done.
//! Shards commit through the log's optimistic concurrency: a version taken
//! by another writer is retried on the newer table (shards never replace
//! each other's files, so their changes never conflict).
//!
//! A lake written before the log existed gets its first version from the
//! files its partitions hold, at its next run.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Once};

use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::layout::{self};
use super::{Lake, LakeError, LakeFile};
use crate::partition::PartitionKey;

/// The log's folder, under the lake's root.
mod commit;
pub use commit::{commit, txn_version, Committed};
use commit::{data_files, with_stats};

pub const LOG_DIR: &str = "_delta_log";

/// `[delta]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaSettings {
    /// Whether runs commit to the log.
    pub enabled: bool,
    /// A checkpoint every this many versions.
    pub checkpoint_interval: u32,
    /// Days of log kept for reading older versions.
    pub log_retention_days: u32,
    /// Hours a replaced data file is kept for readers of older versions
    /// (0: deleted right after the commit, so the Hive table stays exact).
    pub keep_replaced_hours: u32,
}

impl Default for DeltaSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            checkpoint_interval: 10,
            log_retention_days: 30,
            keep_replaced_hours: 0,
        }
    }
}

/// What one run changes in the table: written into its journal, committed
/// as one version when the journal is carried out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub run_id: String,
    pub adds: Vec<FileAdd>,
    /// Paths relative to the lake.
    pub removes: Vec<FileRemove>,
    /// Counts for the version's `commitInfo` (`operationMetrics`).
    pub metrics: BTreeMap<String, u64>,
    /// Table properties, should this version create the table.
    pub settings: DeltaSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileAdd {
    /// Final path, relative to the lake.
    pub rel: String,
    pub size: u64,
    /// Delta's per-file statistics (JSON), when known.
    pub stats: Option<String>,
    /// Milliseconds since the epoch.
    pub modified_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRemove {
    pub rel: String,
    pub size: u64,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.adds.is_empty() && self.removes.is_empty()
    }
}

/// The table of `lake`, not loaded.
fn builder(lake: &Lake) -> Result<DeltaTableBuilder, LakeError> {
    // The crate knows `file://` and `memory://`; S3 (and S3-compatible
    // stores) commit by conditional PUT, which its default log store does
    // with the store we give it (our credentials, retries and counters).
    static S3: Once = Once::new();
    S3.call_once(|| {
        let url = url::Url::parse("s3://").expect("a URL");
        deltalake_core::logstore::logstore_factories().insert(url, Arc::new(ConditionalPut));
    });
    let url = url::Url::parse(&format!("{}/", lake.loc.url)).map_err(|e| LakeError::Store {
        url: lake.loc.url.clone(),
        reason: format!("not a URL for the Delta log: {e}"),
    })?;
    Ok(DeltaTableBuilder::from_url(url.clone())
        .map_err(|e| delta_error(lake, &e))?
        .with_storage_backend(lake.loc.store.clone(), url))
}

/// The crate's default log store (commits by conditional PUT), for `s3://`
/// tables: the crate registers it for `file://` and `memory://` only, and
/// its factory is private.
struct ConditionalPut;

impl deltalake_core::logstore::LogStoreFactory for ConditionalPut {
    fn with_options(
        &self,
        prefixed_store: deltalake_core::logstore::ObjectStoreRef,
        root_store: deltalake_core::logstore::ObjectStoreRef,
        location: &url::Url,
        options: &deltalake_core::logstore::StorageConfig,
    ) -> deltalake_core::DeltaResult<Arc<dyn deltalake_core::logstore::LogStore>> {
        Ok(deltalake_core::logstore::default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

fn delta_error(lake: &Lake, e: &DeltaTableError) -> LakeError {
    LakeError::Store {
        url: lake.loc.url_of_relative(LOG_DIR),
        reason: format!("Delta log: {}", first_line(e)),
    }
}

/// An error's message without the backtrace the Delta kernel appends to
/// some of its errors (lines after the first).
fn first_line(e: &DeltaTableError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// Which version to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AsOf {
    #[default]
    Latest,
    Version(u64),
    /// Milliseconds since the epoch: the last version committed by then.
    Time(i64),
}

impl AsOf {
    /// `VERSION` or a UTC time (`2024-06-01`, `2024-06-01T12:00:00Z`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(v) = s.parse::<u64>() {
            return Ok(AsOf::Version(v));
        }
        let bad = || {
            format!(
                "--as-of {s:?}: expected a version number or a UTC time (2024-06-01, \
                 2024-06-01T12:00:00Z)"
            )
        };
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
            return Ok(AsOf::Time(t.timestamp_millis()));
        }
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
            return Ok(AsOf::Time(t.and_utc().timestamp_millis()));
        }
        // A day alone: the lake as it was at the end of that day.
        let d = crate::partition::Date::parse(s).ok_or_else(bad)?;
        Ok(AsOf::Time((d.to_days() + 1) * 86_400_000 - 1))
    }
}

/// Whether the lake has a Delta log: its checkpoint hint, or else its
/// first version (the clean-up deletes old versions only behind a
/// checkpoint, which writes the hint). One or two GETs, however long the
/// log: a LIST of the folder would grow with the versions kept.
pub async fn exists(lake: &Lake) -> Result<bool, LakeError> {
    for name in ["_last_checkpoint", "00000000000000000000.json"] {
        let rel = format!("{LOG_DIR}/{name}");
        let path = lake.path(&rel);
        match lake.loc.store.head(&path).await {
            Ok(_) => return Ok(true),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(lake.store_error(&path, &e)),
        }
    }
    Ok(false)
}

/// The table at `at`, or `None` when the lake has no log.
pub async fn load(lake: &Lake, at: &AsOf) -> Result<Option<DeltaTable>, LakeError> {
    if !exists(lake).await? {
        return Ok(None);
    }
    let mut table = builder(lake)?.build().map_err(|e| delta_error(lake, &e))?;
    let loaded = match at {
        AsOf::Latest => table.load().await,
        AsOf::Version(v) => table.load_version(*v).await,
        AsOf::Time(ms) => match chrono::DateTime::from_timestamp_millis(*ms) {
            Some(t) => table.load_with_datetime(t).await,
            None => {
                return Err(LakeError::Store {
                    url: lake.loc.url_of_relative(LOG_DIR),
                    reason: format!("no such time: {ms} ms"),
                })
            }
        },
    };
    loaded.map_err(|e| match (at, &e) {
        (AsOf::Latest, _) => delta_error(lake, &e),
        _ => LakeError::Store {
            url: lake.loc.url_of_relative(LOG_DIR),
            reason: format!(
                "no version {}: {}. `traillake history --lake LAKE` lists the versions the log \
                 holds",
                match at {
                    AsOf::Version(v) => v.to_string(),
                    AsOf::Time(ms) => chrono::DateTime::from_timestamp_millis(*ms)
                        .map(|t| format!("at {}", t.to_rfc3339()))
                        .unwrap_or_default(),
                    AsOf::Latest => String::new(),
                },
                first_line(&e)
            ),
        },
    })?;
    Ok(Some(table))
}

/// A file of a loaded version.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveFile {
    /// Relative to the lake.
    pub rel: String,
    pub size: u64,
    pub partition: PartitionKey,
    pub rows: Option<u64>,
}

/// The data files of a loaded version.
pub fn active_files(lake: &Lake, table: &DeltaTable) -> Result<Vec<ActiveFile>, LakeError> {
    let state = table.snapshot().map_err(|e| delta_error(lake, &e))?;
    let mut out = Vec::new();
    for f in state.log_data().iter() {
        let rel = f.path().to_string();
        let Some(partition) = PartitionKey::from_hive_path(&rel) else {
            return Err(LakeError::Damaged {
                url: lake.loc.url_of_relative(LOG_DIR),
                reason: format!(
                    "the Delta log names {rel:?}, which is not a file in a partition folder"
                ),
            });
        };
        if !layout::is_safe_rel(&rel) {
            return Err(LakeError::Damaged {
                url: lake.loc.url_of_relative(LOG_DIR),
                reason: format!("the Delta log names {rel:?}, outside the lake"),
            });
        }
        out.push(ActiveFile {
            size: u64::try_from(f.size()).unwrap_or(0),
            rows: f.num_records().map(|n| n as u64),
            rel,
            partition,
        });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Where the latest version and the partition folders disagree.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Drift {
    pub version: u64,
    /// In the folders, not in the version.
    pub unlisted: Vec<LakeFile>,
    /// In the version, not in the folders.
    pub gone: Vec<FileRemove>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.unlisted.is_empty() && self.gone.is_empty()
    }
}

/// The latest version's files against the folders' files `listed` (all
/// data files of the partitions, kept ones aside; `None`: no log).
pub async fn drift(lake: &Lake, listed: &[LakeFile]) -> Result<Option<Drift>, LakeError> {
    let Some(table) = load(lake, &AsOf::Latest).await? else {
        return Ok(None);
    };
    let active = active_files(lake, &table)?;
    let listed: Vec<&LakeFile> = listed
        .iter()
        .filter(|f| super::manifest::is_ours(f.name()))
        .collect();
    let in_log: HashSet<&str> = active.iter().map(|f| f.rel.as_str()).collect();
    let in_folders: HashSet<&str> = listed.iter().map(|f| f.rel.as_str()).collect();
    Ok(Some(Drift {
        version: table.version().unwrap_or(0),
        unlisted: listed
            .iter()
            .filter(|f| !in_log.contains(f.rel.as_str()))
            .map(|f| (*f).clone())
            .collect(),
        gone: active
            .iter()
            .filter(|f| !in_folders.contains(f.rel.as_str()))
            .map(|f| FileRemove {
                rel: f.rel.clone(),
                size: f.size,
            })
            .collect(),
    }))
}

/// Commits a version that makes the log hold exactly the folders' files
/// (`repair`, after it set files aside): `None` when they agree already.
pub async fn reconcile(
    lake: &Lake,
    run_id: &str,
    settings: &DeltaSettings,
) -> Result<Option<Committed>, LakeError> {
    let lake = lake.clone().leaving_out_kept().await?;
    let listed = data_files(&lake).await?;
    let Some(drift) = drift(&lake, &listed).await? else {
        return Ok(None);
    };
    if drift.is_empty() {
        return Ok(None);
    }
    let change = Change {
        run_id: run_id.to_string(),
        adds: with_stats(&lake, drift.unlisted).await?,
        removes: drift.gone,
        metrics: BTreeMap::new(),
        settings: settings.clone(),
    };
    commit(&lake, &change).await.map(Some)
}

/// One version, as `history` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub version: u64,
    /// RFC 3339, UTC.
    pub time: String,
    pub operation: String,
    pub run: Option<String>,
    pub files_added: Option<u64>,
    pub files_removed: Option<u64>,
    pub rows_written: Option<u64>,
    pub records_read: Option<u64>,
}

/// The versions the log holds, newest first (at most `limit`).
pub async fn history(lake: &Lake, limit: Option<usize>) -> Result<Vec<Version>, LakeError> {
    let Some(table) = load(lake, &AsOf::Latest).await? else {
        return Err(LakeError::NotALake {
            url: lake.loc.url.clone(),
            found: format!(
                "it has no Delta log ({LOG_DIR}/): `traillake compact` writes one at its next run"
            ),
        });
    };
    let latest = table.version().unwrap_or(0);
    let infos: Vec<_> = table.history(limit).collect().await;
    let mut out = Vec::new();
    for (i, info) in infos.into_iter().enumerate() {
        let info = info.map_err(|e| delta_error(lake, &e))?;
        let version = info
            .read_version
            .map(|v| v + 1)
            .unwrap_or(latest.saturating_sub(i as u64));
        let metric = |k: &str| -> Option<u64> {
            let v = info.info.get("operationMetrics")?.get(k)?;
            v.as_u64().or_else(|| v.as_str()?.parse().ok())
        };
        out.push(Version {
            version,
            time: info
                .timestamp
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            operation: info.operation.clone().unwrap_or_default(),
            run: info
                .info
                .get("traillake")
                .and_then(|t| t.get("run"))
                .and_then(|r| r.as_str())
                .map(str::to_string),
            files_added: metric("numFiles"),
            files_removed: metric("numRemovedFiles"),
            rows_written: metric("rows_written"),
            records_read: metric("records_read"),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::commit::table_schema;
    use super::*;
    use crate::lake::layout::Owner;
    use crate::schema::PARTITION_COLUMNS;

    #[test]
    fn a_run_id_gives_its_owner_and_a_version_that_grows_with_time() {
        let a = "20240115T020304-000123-all-1f";
        let b = "20240115T020304-000124-s1of4-1f";
        assert_eq!(Owner::of_run(a), Owner::All);
        assert_eq!(Owner::of_run(b), Owner::Shard { index: 1, count: 4 });
        assert!(txn_version(a).unwrap() < txn_version(b).unwrap());
        assert_eq!(
            txn_version(a).unwrap() % 1_000_000,
            123,
            "microseconds kept"
        );
        assert_eq!(txn_version("nonsense"), None);
    }

    #[test]
    fn as_of_takes_a_version_or_a_utc_time() {
        assert_eq!(AsOf::parse("7"), Ok(AsOf::Version(7)));
        assert!(AsOf::parse("-1").is_err());
        assert_eq!(AsOf::parse("0"), Ok(AsOf::Version(0)));
        assert_eq!(
            AsOf::parse("2024-01-01T00:00:01Z"),
            Ok(AsOf::Time(1_704_067_201_000))
        );
        // A day: its last millisecond.
        assert_eq!(AsOf::parse("2024-01-01"), Ok(AsOf::Time(1_704_153_599_999)));
        assert!(AsOf::parse("yesterday").unwrap_err().contains("version"));
    }

    #[test]
    fn the_table_schema_has_the_files_columns_and_the_partition_columns() {
        let s = table_schema().unwrap();
        let names: Vec<&String> = s.fields().map(|f| f.name()).collect();
        assert_eq!(names.first().map(|s| s.as_str()), Some("eventversion"));
        assert_eq!(
            names[names.len() - 5..]
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            PARTITION_COLUMNS
        );
    }
}
