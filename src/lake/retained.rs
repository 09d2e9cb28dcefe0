//! Replaced data files kept for readers of older Delta versions
//! (`[delta] keep_replaced_hours` above 0). A run that replaces files and
//! keeps them lists them in `_traillake/retained/<run>.json` (through its
//! journal, like its other state); the files stay in their partition
//! folders, out of the Delta table's current version and out of every
//! later run's view of the partition, until a run of the same owner finds
//! the list expired and deletes them, then the list.
//!
//! The trade-off: while kept, they are in the Hive folders too, so a Hive
//! table (`ddl --style projection|hive`) counts their rows twice. Delta
//! readers (`ddl --style delta`, `query`, `detect`) do not.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::layout::{self, Owner};
use super::{Lake, LakeError};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Retained {
    /// Milliseconds since the epoch after which the files go.
    pub until_ms: i64,
    /// Data files, relative to the lake.
    pub files: Vec<String>,
}

/// Every list, with its path.
pub async fn lists(lake: &Lake) -> Result<Vec<(String, Retained)>, LakeError> {
    let mut out = Vec::new();
    for meta in lake.list(&layout::retained_dir()).await? {
        let rel = lake.loc.relative(&meta.location);
        if !rel.ends_with(".json") {
            continue;
        }
        let Some(list) = lake.get_json::<Retained>(&rel).await? else {
            continue;
        };
        if let Some(bad) = list.files.iter().find(|f| {
            !layout::is_safe_rel(f) || crate::partition::PartitionKey::from_hive_path(f).is_none()
        }) {
            return Err(LakeError::Damaged {
                url: lake.loc.url_of_relative(&rel),
                reason: format!("a list of kept files naming {bad:?}, not a partition's file"),
            });
        }
        out.push((rel, list));
    }
    Ok(out)
}

/// The files every list keeps.
pub async fn kept(lake: &Lake) -> Result<HashSet<String>, LakeError> {
    Ok(lists(lake)
        .await?
        .into_iter()
        .flat_map(|(_, l)| l.files)
        .collect())
}

/// Deletes the files of `owner`'s expired lists, then the lists; returns
/// the number of files deleted. Idempotent: a kill in between leaves the
/// list, and the next run deletes what is left.
pub async fn expire(lake: &Lake, owner: Owner, now_ms: i64) -> Result<usize, LakeError> {
    let mut deleted = 0;
    for (rel, list) in lists(lake).await? {
        let run = rel
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".json");
        if !owner.ran(run) || list.until_ms > now_ms {
            continue;
        }
        for f in &list.files {
            lake.delete(f).await?;
            deleted += 1;
        }
        lake.delete(&rel).await?;
    }
    Ok(deleted)
}
