//! A run's change committed as one Delta version: its actions (adds with
//! statistics, removes, the run's `txn`), the table created from the files
//! a lake older than its log holds, and the retry when another writer took
//! the version.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{
    new_metadata, Action, Add, Metadata, Protocol, Remove, StructType, Transaction,
};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::DeltaTableError;
use futures::StreamExt;

use super::super::layout::Owner;
use super::super::{Lake, LakeError, LakeFile};
use crate::partition::PartitionKey;
use crate::schema::PARTITION_COLUMNS;
use crate::sink::stats::{file_stats, stats_columns};

use super::*;

/// The application id of an owner's runs in the log's `txn` actions.
pub(super) fn app_id(owner: Owner) -> String {
    format!("traillake-{}", owner.tag())
}

/// A run's `txn` version: its start in microseconds since the epoch, from
/// its id (`YYYYMMDDTHHMMSS-micros-...`); runs of one owner never overlap.
pub fn txn_version(run_id: &str) -> Option<i64> {
    let (stamp, rest) = run_id.split_once('-')?;
    let micros: i64 = rest.split('-').next()?.parse().ok()?;
    let t = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S").ok()?;
    Some(t.and_utc().timestamp() * 1_000_000 + micros)
}

/// The table's schema: the files' columns, then the partition columns.
pub(super) fn table_schema() -> Result<StructType, String> {
    let arrow = arrow::datatypes::Schema::new(crate::schema::table_fields(true));
    (&arrow).try_into_kernel().map_err(|e| e.to_string())
}

/// What creates the table: protocol 1/2 (what Athena reads), and the
/// schema, partition columns and properties.
pub(super) fn create_actions(settings: &DeltaSettings) -> Result<(Protocol, Metadata), String> {
    let protocol: Protocol =
        serde_json::from_value(serde_json::json!({"minReaderVersion": 1, "minWriterVersion": 2}))
            .map_err(|e| e.to_string())?;
    let config = [
        (
            "delta.checkpointInterval".to_string(),
            settings.checkpoint_interval.max(1).to_string(),
        ),
        (
            "delta.logRetentionDuration".to_string(),
            format!("interval {} days", settings.log_retention_days.max(1)),
        ),
        (
            "delta.deletedFileRetentionDuration".to_string(),
            format!("interval {} hours", settings.keep_replaced_hours),
        ),
        (
            "delta.dataSkippingStatsColumns".to_string(),
            stats_columns().join(","),
        ),
    ];
    let metadata =
        new_metadata(&table_schema()?, PARTITION_COLUMNS, config).map_err(|e| e.to_string())?;
    Ok((protocol, metadata))
}

/// A data file's partition values, as Delta's actions hold them.
pub(super) fn partition_values(rel: &str) -> Result<HashMap<String, Option<String>>, String> {
    let key = PartitionKey::from_hive_path(rel)
        .ok_or_else(|| format!("{rel} is not in a partition folder"))?;
    Ok(PARTITION_COLUMNS
        .iter()
        .zip(key.values())
        .map(|(c, v)| (c.to_string(), Some(v.to_string())))
        .collect())
}

pub(super) fn add_action(f: &FileAdd) -> Result<Action, String> {
    Ok(Action::Add(Add {
        path: f.rel.clone(),
        partition_values: partition_values(&f.rel)?,
        size: i64::try_from(f.size).map_err(|_| format!("{}: size {}", f.rel, f.size))?,
        modification_time: f.modified_ms,
        data_change: true,
        stats: f.stats.clone(),
        ..Default::default()
    }))
}

pub(super) fn remove_action(f: &FileRemove, now_ms: i64) -> Result<Action, String> {
    Ok(Action::Remove(Remove {
        path: f.rel.clone(),
        data_change: true,
        deletion_timestamp: Some(now_ms),
        extended_file_metadata: Some(true),
        partition_values: Some(partition_values(&f.rel)?),
        size: i64::try_from(f.size).ok(),
        ..Default::default()
    }))
}

/// Attempts at a version before giving up: each retry follows a version
/// another writer committed meanwhile (with N shards, at most N-1 each).
const ATTEMPTS: usize = 64;

/// What [`commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// The version that holds the change; when it created the table, the
    /// number of data files the lake held before it (a lake older than its
    /// log), which the version adds too.
    Version {
        version: u64,
        created_from: Option<usize>,
    },
    /// An earlier attempt of this run committed it already.
    Already,
}

/// Commits a run's change as one version (creating the table first if the
/// lake has no log), unless the log holds it already. Data files added
/// must be in place, and files removed still there (for a table created
/// now, from what the partitions hold).
pub async fn commit(lake: &Lake, change: &Change) -> Result<Committed, LakeError> {
    let owner = Owner::of_run(&change.run_id);
    let app = app_id(owner);
    let version = txn_version(&change.run_id).ok_or_else(|| LakeError::Damaged {
        url: lake.loc.url_of_relative(LOG_DIR),
        reason: format!("a run id without a time: {:?}", change.run_id),
    })?;
    let bad = |reason: String| LakeError::Damaged {
        url: lake.loc.url_of_relative(LOG_DIR),
        reason,
    };
    for attempt in 0..ATTEMPTS {
        let table = load(lake, &AsOf::Latest).await?;
        let mut bootstrapped = 0;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut actions: Vec<Action> = Vec::new();
        let created = table.is_none();
        let mut creation = None;
        match &table {
            Some(t) => {
                let state = t.snapshot().map_err(|e| delta_error(lake, &e))?;
                let done = state
                    .transaction_version(t.log_store().as_ref(), &app)
                    .await
                    .map_err(|e| delta_error(lake, &e))?;
                if done == Some(version) {
                    return Ok(Committed::Already);
                }
            }
            None => {
                let (protocol, metadata) = create_actions(&change.settings).map_err(bad)?;
                actions.push(Action::Protocol(protocol.clone()));
                actions.push(Action::Metadata(metadata.clone()));
                creation = Some((protocol, metadata));
                for f in existing_files(lake, change).await? {
                    actions.push(add_action(&f).map_err(bad)?);
                    bootstrapped += 1;
                }
            }
        }
        for f in &change.adds {
            actions.push(add_action(f).map_err(bad)?);
        }
        if !created {
            for f in &change.removes {
                actions.push(remove_action(f, now_ms).map_err(bad)?);
            }
        }
        let mut info: HashMap<String, serde_json::Value> = HashMap::new();
        info.insert(
            "traillake".into(),
            serde_json::json!({"run": change.run_id, "owner": owner.tag()}),
        );
        let mut metrics: serde_json::Map<String, serde_json::Value> = change
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string().into()))
            .collect();
        metrics.insert("numFiles".into(), change.adds.len().to_string().into());
        metrics.insert(
            "numRemovedFiles".into(),
            change.removes.len().to_string().into(),
        );
        info.insert("operationMetrics".into(), metrics.into());
        let props = CommitProperties::default()
            .with_max_retries(0)
            .with_create_checkpoint(true)
            .with_cleanup_expired_logs(Some(true))
            .with_application_transaction(Transaction::new_with_last_update(
                &app,
                version,
                Some(now_ms),
            ))
            .with_metadata(info);
        let operation = if let Some((protocol, metadata)) = creation {
            DeltaOperation::Create {
                mode: SaveMode::Append,
                location: url::Url::parse(&lake.loc.url).map_err(|e| bad(e.to_string()))?,
                protocol,
                metadata,
            }
        } else {
            DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: Some(PARTITION_COLUMNS.iter().map(|c| c.to_string()).collect()),
                predicate: None,
            }
        };
        let log_store = match &table {
            Some(t) => t.log_store(),
            None => builder(lake)?
                .build_storage()
                .map_err(|e| delta_error(lake, &e))?,
        };
        let snapshot = match &table {
            Some(t) => Some(t.snapshot().map_err(|e| delta_error(lake, &e))?),
            None => None,
        };
        let result = CommitBuilder::from(props)
            .with_actions(actions)
            .build(
                snapshot.map(|s| s as &dyn deltalake_core::kernel::transaction::TableReference),
                log_store,
                operation,
            )
            .await;
        match result {
            Ok(done) => {
                return Ok(Committed::Version {
                    version: done.version(),
                    created_from: created.then_some(bootstrapped),
                });
            }
            Err(DeltaTableError::Transaction {
                source:
                    TransactionError::VersionAlreadyExists(_)
                    | TransactionError::MaxCommitAttempts(_)
                    | TransactionError::CommitConflict(_),
            }) => {
                // Another writer took the version: read the newer table and
                // try again, after a pause that grows (with jitter, so
                // shards that collided do not collide again).
                let ms = 20u64 << attempt.min(6);
                let jitter = u64::from(std::process::id()) % ms.max(1);
                tokio::time::sleep(Duration::from_millis(ms + jitter)).await;
            }
            Err(e) => return Err(delta_error(lake, &e)),
        }
    }
    Err(delta_error(
        lake,
        &DeltaTableError::Generic(format!(
            "{ATTEMPTS} attempts at a version all lost to other writers"
        )),
    ))
}

/// The data files the partitions hold now, but for those `change` adds or
/// removes: a lake older than its log starts its table with them.
pub(super) async fn existing_files(
    lake: &Lake,
    change: &Change,
) -> Result<Vec<FileAdd>, LakeError> {
    let skip: HashSet<&str> = change
        .adds
        .iter()
        .map(|f| f.rel.as_str())
        .chain(change.removes.iter().map(|f| f.rel.as_str()))
        .collect();
    let files: Vec<LakeFile> = data_files(lake)
        .await?
        .into_iter()
        .filter(|f| !skip.contains(f.rel.as_str()))
        .collect();
    with_stats(lake, files).await
}

/// traillake's data files in the partition folders (one listing of the
/// lake; files the lake leaves out as kept are not listed).
pub(super) async fn data_files(lake: &Lake) -> Result<Vec<LakeFile>, LakeError> {
    Ok(lake
        .all_files()
        .await?
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| super::super::manifest::is_ours(f.name()))
        .collect())
}

/// `files` as added to the table, with statistics from their footers (32
/// at a time).
pub(super) async fn with_stats(
    lake: &Lake,
    files: Vec<LakeFile>,
) -> Result<Vec<FileAdd>, LakeError> {
    let store = &lake.loc.store;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let read: Vec<Result<FileAdd, LakeError>> = futures::stream::iter(files)
        .map(|f| async move {
            let path = lake.path(&f.rel);
            let (meta, _) = super::super::footer::read(store, &path, f.size)
                .await
                .map_err(|reason| LakeError::Damaged {
                    url: lake.loc.url_of_relative(&f.rel),
                    reason: format!("unreadable footer ({reason})"),
                })?;
            Ok(FileAdd {
                stats: Some(file_stats(meta.row_groups())),
                rel: f.rel,
                size: f.size,
                modified_ms: now_ms,
            })
        })
        .buffer_unordered(32)
        .collect()
        .await;
    read.into_iter().collect()
}
