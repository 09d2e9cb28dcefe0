//! The lake's files and its state under `LAKE/_traillake/`, and the commit
//! protocol that keeps the two consistent.
//!
//! Layout of the state (every name starts with `_`, so Athena, Spark and
//! DuckDB never read it as data, and staged files do not end in `.parquet`,
//! so no `**/*.parquet` glob picks them up):
//!
//! ```text
//! _traillake/ledger/<run>.json      source objects a committed run ingested
//! _traillake/journal/<run>.json     the switch a run is making (transient)
//! _traillake/staging/<run>/...      new files not yet switched in (transient)
//! _traillake/runs/<run>.json        run reports
//! _traillake/quarantine/<run>.jsonl records that could not be taken, verbatim
//! ```
//!
//! Commit protocol (works on a local disk and on S3, which has no atomic
//! multi-object rename):
//! 1. every new file of the run is written under `staging/<run>/`;
//! 2. the journal is written in one PUT: the moves (staged -> final name),
//!    the old files to delete, and the source objects to add to the ledger;
//!    from here on the run is committed;
//! 3. the moves, then the deletes, then the ledger segment are carried out;
//! 4. the journal and the staging folder are deleted.
//!
//! A run that dies before step 2 leaves only staging, which the next run
//! deletes (roll back). A run that dies after it leaves the journal, which
//! the next run carries out again before anything else (roll forward): every
//! step is idempotent. New files have new names (the run id is in them), so
//! a reader never sees a half-written file. Between a move and its delete a
//! reader of the directory may briefly see old and new files of the same
//! partition; there is no way around that on S3 without a table format.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};

use crate::partition::PartitionKey;
use crate::store::Location;

pub const STATE_DIR: &str = "_traillake";

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{url}: {source}")]
    Store {
        url: String,
        source: object_store::Error,
    },
    #[error("{url}: unreadable state file: {source}")]
    State {
        url: String,
        source: serde_json::Error,
    },
}

/// The switch a run makes, written before it makes it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Journal {
    pub run_id: String,
    /// `(staged, final)`, relative to the lake root.
    pub moves: Vec<(String, String)>,
    /// Files replaced by the run, relative to the lake root.
    pub deletes: Vec<String>,
    /// Source object URLs to add to the ledger.
    pub ledger: Vec<String>,
}

/// The lake at one location.
#[derive(Clone)]
pub struct Lake {
    pub loc: Location,
}

impl Lake {
    pub fn new(loc: Location) -> Self {
        Self { loc }
    }

    fn err(&self, path: &Path) -> impl Fn(object_store::Error) -> LakeError + '_ {
        let url = self.loc.url_of(path);
        move |source| LakeError::Store {
            url: url.clone(),
            source,
        }
    }

    pub fn state_path(&self, rel: &str) -> Path {
        self.loc.child(&format!("{STATE_DIR}/{rel}"))
    }

    /// Writes one object. Large files go up in parts of `MULTIPART_PART`
    /// bytes, a few at a time (S3 takes at most 5 GiB in one PUT, and parts
    /// retry alone).
    pub async fn put(&self, path: &Path, data: Vec<u8>) -> Result<(), LakeError> {
        const MULTIPART_THRESHOLD: usize = 16 << 20;
        const MULTIPART_PART: usize = 8 << 20;
        let store = &self.loc.store;
        if data.len() <= MULTIPART_THRESHOLD {
            store
                .put(path, PutPayload::from(data))
                .await
                .map_err(self.err(path))?;
            return Ok(());
        }
        let upload = store.put_multipart(path).await.map_err(self.err(path))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART);
        for chunk in data.chunks(MULTIPART_PART) {
            writer.wait_for_capacity(4).await.map_err(self.err(path))?;
            writer.write(chunk);
        }
        writer.finish().await.map_err(self.err(path))?;
        Ok(())
    }

    pub async fn get(&self, path: &Path) -> Result<bytes::Bytes, LakeError> {
        let r = self.loc.store.get(path).await.map_err(self.err(path))?;
        r.bytes().await.map_err(self.err(path))
    }

    async fn list(&self, prefix: &Path) -> Result<Vec<ObjectMeta>, LakeError> {
        let mut v: Vec<ObjectMeta> = self
            .loc
            .store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(self.err(prefix))?;
        v.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(v)
    }

    /// Data files of a partition, in name order; with `owner` (a shard
    /// tag), only the files that shard wrote.
    pub async fn partition_files(
        &self,
        key: &PartitionKey,
        owner: Option<&str>,
    ) -> Result<Vec<ObjectMeta>, LakeError> {
        let files = self.list(&self.loc.child(&key.hive_path())).await?;
        Ok(files
            .into_iter()
            .filter(|m| {
                let name = m.location.filename().unwrap_or("");
                name.ends_with(".parquet")
                    && owner.is_none_or(|tag| name.contains(&format!("-{tag}-")))
            })
            .collect())
    }

    /// Every data file of the lake, with its partition.
    pub async fn all_files(&self) -> Result<Vec<(PartitionKey, ObjectMeta)>, LakeError> {
        let files = self.list(&self.loc.prefix).await?;
        Ok(files
            .into_iter()
            .filter(|m| m.location.as_ref().ends_with(".parquet"))
            .filter_map(|m| {
                let rel = self.loc.relative(&m.location);
                PartitionKey::from_hive_path(&rel).map(|k| (k, m))
            })
            .collect())
    }

    /// Source objects ingested by committed runs.
    pub async fn read_ledger(&self) -> Result<HashSet<String>, LakeError> {
        let mut seen = HashSet::new();
        for meta in self.list(&self.state_path("ledger")).await? {
            let data = self.get(&meta.location).await?;
            let urls: Vec<String> =
                serde_json::from_slice(&data).map_err(|source| LakeError::State {
                    url: self.loc.url_of(&meta.location),
                    source,
                })?;
            seen.extend(urls);
        }
        Ok(seen)
    }

    /// Finishes any committed run that was interrupted (roll forward), then
    /// drops staged files of runs that never committed (roll back). Returns
    /// the run ids rolled forward. With `owner` (a shard tag), only that
    /// shard's runs are touched: other shards may be running right now.
    pub async fn recover(&self, owner: Option<&str>) -> Result<Vec<String>, LakeError> {
        let mine = |name: &str| owner.is_none_or(|tag| name.contains(&format!("-{tag}-")));
        let mut rolled = Vec::new();
        for meta in self.list(&self.state_path("journal")).await? {
            if !mine(meta.location.filename().unwrap_or("")) {
                continue;
            }
            let data = self.get(&meta.location).await?;
            let journal: Journal =
                serde_json::from_slice(&data).map_err(|source| LakeError::State {
                    url: self.loc.url_of(&meta.location),
                    source,
                })?;
            self.apply(&journal).await?;
            rolled.push(journal.run_id);
        }
        if let Some(state) = local_dir(&self.loc, &self.state_path("")) {
            remove_partial_puts(&state, &mine);
        }
        let staging = self.state_path("staging");
        if owner.is_none() {
            self.delete_prefix(&staging).await?;
        } else {
            let runs = self
                .loc
                .store
                .list_with_delimiter(Some(&staging))
                .await
                .map_err(self.err(&staging))?;
            for run in runs.common_prefixes {
                if mine(run.filename().unwrap_or("")) {
                    self.delete_prefix(&run).await?;
                }
            }
        }
        Ok(rolled)
    }

    /// Commits a run whose new files are all staged (steps 2-4 above).
    pub async fn commit(&self, journal: &Journal) -> Result<(), LakeError> {
        let path = self.journal_path(&journal.run_id);
        let data = serde_json::to_vec_pretty(journal).expect("journal serializes");
        self.put(&path, data).await?;
        self.apply(journal).await
    }

    fn journal_path(&self, run_id: &str) -> Path {
        self.state_path(&format!("journal/{run_id}.json"))
    }

    async fn apply(&self, journal: &Journal) -> Result<(), LakeError> {
        let store = &self.loc.store;
        for (from, to) in &journal.moves {
            let (from, to) = (self.loc.child(from), self.loc.child(to));
            match store.rename(&from, &to).await {
                Ok(()) => {}
                // Already moved by an earlier, interrupted attempt.
                Err(object_store::Error::NotFound { .. }) if store.head(&to).await.is_ok() => {}
                Err(e) => return Err(self.err(&from)(e)),
            }
        }
        for rel in &journal.deletes {
            let p = self.loc.child(rel);
            match store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(&p)(e)),
            }
        }
        if !journal.ledger.is_empty() {
            let p = self.state_path(&format!("ledger/{}.json", journal.run_id));
            let data = serde_json::to_vec(&journal.ledger).expect("ledger serializes");
            self.put(&p, data).await?;
        }
        let jp = self.journal_path(&journal.run_id);
        match store.delete(&jp).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.err(&jp)(e)),
        }
        self.delete_prefix(&self.state_path(&format!("staging/{}", journal.run_id)))
            .await
    }

    async fn delete_prefix(&self, prefix: &Path) -> Result<(), LakeError> {
        let store = &self.loc.store;
        let paths = store.list(Some(prefix)).map_ok(|m| m.location).boxed();
        let results: Vec<_> = store.delete_stream(paths).collect().await;
        for r in results {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(prefix)(e)),
            }
        }
        if let Some(local) = local_dir(&self.loc, prefix) {
            let _ = remove_empty_dirs(&local);
        }
        Ok(())
    }
}

/// The local directory behind a path, when the lake is on local disk.
fn local_dir(loc: &Location, path: &Path) -> Option<std::path::PathBuf> {
    loc.is_local()
        .then(|| std::path::PathBuf::from(format!("/{}", path.as_ref())))
}

/// A local put writes `<name>#<n>` and renames it; a run killed in between
/// leaves that file, which object_store's listing hides. Remove the ones of
/// runs this one owns (their names carry the run id).
fn remove_partial_puts(dir: &std::path::Path, mine: &dyn Fn(&str) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            remove_partial_puts(&p, mine);
        } else if name.contains('#') && mine(&name) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Local disk keeps empty folders that S3 would not have: remove them so an
/// emptied staging area leaves no trace.
fn remove_empty_dirs(dir: &std::path::Path) -> std::io::Result<bool> {
    if !dir.is_dir() {
        return Ok(false);
    }
    let mut empty = true;
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if !(p.is_dir() && remove_empty_dirs(&p)?) {
            empty = false;
        }
    }
    if empty {
        std::fs::remove_dir(dir)?;
    }
    Ok(empty)
}
