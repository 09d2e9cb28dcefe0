//! The lake's files and its state under `LAKE/_traillake/` ([`layout`]):
//! reads, writes, listings and the partitions' files. A run's switch is
//! [`journal`]'s: the commit protocol that keeps files and state
//! consistent, and recovery.

pub mod delta;
pub mod footer;
pub mod journal;
pub mod layout;
pub mod lease;
pub mod ledger;
pub mod manifest;
pub mod retained;
pub mod sinks;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::Deserialize;

use crate::partition::PartitionKey;
use crate::progress::Count;
use crate::store::{describe, Location};

pub use journal::Journal;
pub use layout::STATE_DIR;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{url}: {reason}")]
    Store { url: String, reason: String },
    #[error(
        "{url}: unreadable state file: {source}. `traillake verify --lake LAKE` lists what is \
         wrong, `traillake repair --source SRC --lake LAKE` sets it aside and rebuilds it"
    )]
    State {
        url: String,
        source: serde_json::Error,
    },
    #[error("{0}")]
    Lease(String),
    #[error("{url} is not a traillake lake: {found}")]
    NotALake { url: String, found: String },
    /// A state file that cannot be what a run wrote.
    #[error(
        "{url}: {reason}. The lake's state is damaged: `traillake verify --lake LAKE` lists what \
         is wrong, `traillake repair --source SRC --lake LAKE` sets it aside and rebuilds it"
    )]
    Damaged { url: String, reason: String },
}

impl LakeError {
    /// Whether `traillake repair` is the way forward.
    pub fn needs_repair(&self) -> bool {
        matches!(self, LakeError::Damaged { .. } | LakeError::State { .. })
    }
}

/// The lake at one location.
#[derive(Clone, Debug)]
pub struct Lake {
    pub loc: Location,
    /// Replaced files kept for readers of older Delta versions
    /// ([`retained`]): in the folders, but no longer the lake's.
    pub kept: std::sync::Arc<std::collections::HashSet<String>>,
}

impl Lake {
    pub fn new(loc: Location) -> Self {
        Self {
            loc,
            kept: Default::default(),
        }
    }

    /// This lake, with the kept files of its [`retained`] lists left out
    /// of every listing of its data files.
    pub async fn leaving_out_kept(mut self) -> Result<Self, LakeError> {
        self.kept = std::sync::Arc::new(retained::kept(&self).await?);
        Ok(self)
    }

    pub fn store_error(&self, path: &Path, e: &object_store::Error) -> LakeError {
        LakeError::Store {
            url: self.loc.url_of(path),
            reason: describe(e),
        }
    }

    /// A path in the lake, from a path relative to its root.
    pub fn path(&self, rel: &str) -> Path {
        self.loc.child(rel)
    }

    /// Writes one object. Large files go up in parts of `MULTIPART_PART`
    /// bytes, a few at a time (S3 takes at most 5 GiB in one PUT, and parts
    /// retry alone).
    pub async fn put(&self, rel: &str, data: Vec<u8>) -> Result<(), LakeError> {
        const MULTIPART_THRESHOLD: usize = 16 << 20;
        let path = self.path(rel);
        let store = &self.loc.store;
        if data.len() <= MULTIPART_THRESHOLD {
            store
                .put(&path, PutPayload::from(data))
                .await
                .map_err(|e| self.store_error(&path, &e))?;
            return Ok(());
        }
        let mut writer = self.upload(rel).await?;
        for chunk in data.chunks(MULTIPART_PART) {
            writer
                .wait_for_capacity(4)
                .await
                .map_err(|e| self.store_error(&path, &e))?;
            writer.write(chunk);
        }
        writer
            .finish()
            .await
            .map_err(|e| self.store_error(&path, &e))?;
        Ok(())
    }

    /// Writes a local file's bytes to `rel`, a part at a time.
    pub async fn put_file(&self, rel: &str, file: &std::path::Path) -> Result<(), LakeError> {
        let io = |e: std::io::Error| LakeError::Store {
            url: self.loc.url_of_relative(rel),
            reason: format!("copying {}: {e}", file.display()),
        };
        if let Some(dest) = self.loc.local_path(rel) {
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            std::fs::copy(file, dest).map_err(io)?;
            return Ok(());
        }
        let size = std::fs::metadata(file).map_err(io)?.len() as usize;
        if size <= MULTIPART_PART * 2 {
            return self.put(rel, std::fs::read(file).map_err(io)?).await;
        }
        use std::io::Read;
        let path = self.path(rel);
        let mut writer = self.upload(rel).await?;
        let mut f = std::fs::File::open(file).map_err(io)?;
        let mut buf = vec![0u8; MULTIPART_PART];
        loop {
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            writer
                .wait_for_capacity(4)
                .await
                .map_err(|e| self.store_error(&path, &e))?;
            writer.write(&buf[..n]);
        }
        writer
            .finish()
            .await
            .map_err(|e| self.store_error(&path, &e))?;
        Ok(())
    }

    /// A multipart upload to `rel`, for files written as they are encoded.
    pub async fn upload(&self, rel: &str) -> Result<WriteMultipart, LakeError> {
        let path = self.path(rel);
        let upload = self
            .loc
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| self.store_error(&path, &e))?;
        Ok(WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART))
    }

    pub async fn get(&self, rel: &str) -> Result<bytes::Bytes, LakeError> {
        let path = self.path(rel);
        let r = self
            .loc
            .store
            .get(&path)
            .await
            .map_err(|e| self.store_error(&path, &e))?;
        r.bytes().await.map_err(|e| self.store_error(&path, &e))
    }

    /// `get`, with a missing object as `None`.
    pub async fn get_if_exists(&self, rel: &str) -> Result<Option<bytes::Bytes>, LakeError> {
        let path = self.path(rel);
        match self.loc.store.get(&path).await {
            Ok(r) => Ok(Some(
                r.bytes().await.map_err(|e| self.store_error(&path, &e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_error(&path, &e)),
        }
    }

    /// Reads a JSON state file.
    pub async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        rel: &str,
    ) -> Result<Option<T>, LakeError> {
        let Some(data) = self.get_if_exists(rel).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&data)
            .map(Some)
            .map_err(|source| LakeError::State {
                url: self.loc.url_of_relative(rel),
                source,
            })
    }

    /// Every object below `rel`, in name order.
    pub async fn list(&self, rel: &str) -> Result<Vec<ObjectMeta>, LakeError> {
        let prefix = self.path(rel);
        let mut v: Vec<ObjectMeta> = self
            .loc
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.store_error(&prefix, &e))?;
        v.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(v)
    }

    /// The objects directly in folder `rel` and its subfolders' names.
    pub async fn list_dir(&self, rel: &str) -> Result<(Vec<ObjectMeta>, Vec<String>), LakeError> {
        let prefix = self.path(rel);
        let r = self
            .loc
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| self.store_error(&prefix, &e))?;
        let mut objects = r.objects;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        let mut dirs: Vec<String> = r
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        dirs.sort();
        Ok((objects, dirs))
    }

    /// Fails, saying what is there instead, unless the location holds a
    /// lake: its state folder or partition folders (one listing), or is
    /// empty when `empty_ok`.
    pub async fn check(&self, empty_ok: bool) -> Result<(), LakeError> {
        let (objects, dirs) = self.list_dir("").await?;
        if empty_ok && objects.is_empty() && dirs.is_empty() {
            return Ok(());
        }
        if dirs.iter().any(|d| d.starts_with("account=")) {
            return Ok(());
        }
        // A lake without partitions yet (every input quarantined, say) has
        // run reports; a run that failed before committing leaves none.
        if dirs.iter().any(|d| d == STATE_DIR) {
            let (_, state) = self.list_dir(STATE_DIR).await?;
            if state.iter().any(|d| d == "runs") {
                return Ok(());
            }
            return Err(LakeError::NotALake {
                url: self.loc.url.clone(),
                found: format!(
                    "no run has committed to it yet ({STATE_DIR}/ holds no run report); run \
                     `traillake compact --source SRC --lake {}` first",
                    self.loc.url
                ),
            });
        }
        let make = format!(
            ". Make one with `traillake compact --source SRC --lake {}`, or point --lake at one",
            self.loc.url
        );
        let found = if dirs.iter().any(|d| d == "AWSLogs") || self.loc.url.contains("/AWSLogs") {
            format!(
                "it holds raw CloudTrail logs (AWSLogs/...), the input of `compact`: compact them \
                 with `traillake compact --source {} --lake LAKE`, then use --lake LAKE",
                self.loc.url
            )
        } else if dirs.is_empty() && objects.is_empty() {
            format!("it is empty{make}")
        } else {
            let names: Vec<String> = dirs
                .iter()
                .map(|d| format!("{d}/"))
                .chain(
                    objects
                        .iter()
                        .filter_map(|o| o.location.filename().map(str::to_string)),
                )
                .take(5)
                .collect();
            format!(
                "it holds no account=... folders, only {}{make}",
                names.join(", ")
            )
        };
        Err(LakeError::NotALake {
            url: self.loc.url.clone(),
            found,
        })
    }

    /// Data files of a partition, in name order, with their sizes.
    pub async fn partition_files(&self, key: &PartitionKey) -> Result<Vec<LakeFile>, LakeError> {
        let (objects, _) = self.list_dir(&key.hive_path()).await?;
        Ok(objects
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                let rel = format!("{}/{name}", key.hive_path());
                (layout::is_data_file(&name) && !self.kept.contains(&rel))
                    .then_some(LakeFile { rel, size: m.size })
            })
            .collect())
    }

    /// The partition folders, found level by level (`account=`, then
    /// `region=`, ...): each level is listed only below the folders `keep`
    /// kept of the level above (`keep(level, candidates)`, candidates as
    /// `(folder, values so far)`). Also the number of folders listed.
    pub async fn partition_folders<E: From<LakeError>>(
        &self,
        mut keep: impl FnMut(usize, Vec<(String, Vec<String>)>) -> Result<Vec<(String, Vec<String>)>, E>,
    ) -> Result<(Vec<(String, Vec<String>)>, usize), E> {
        use crate::schema::PARTITION_COLUMNS;
        let mut frontier: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new())];
        let mut listed_folders = 0;
        for (level, col) in PARTITION_COLUMNS.iter().enumerate() {
            let listed: Vec<_> = futures::stream::iter(frontier)
                .map(|(rel, values)| async move {
                    let dirs = self.list_dir(&rel).await.map(|(_, dirs)| dirs);
                    (rel, values, dirs)
                })
                .buffer_unordered(32)
                .collect()
                .await;
            let mut candidates = Vec::new();
            for (rel, values, dirs) in listed {
                listed_folders += 1;
                for d in dirs? {
                    let Some(v) = d.strip_prefix(&format!("{col}=")) else {
                        continue;
                    };
                    if !crate::partition::is_partition_value(v) {
                        continue;
                    }
                    let mut values = values.clone();
                    values.push(v.to_string());
                    let rel = if rel.is_empty() {
                        d.clone()
                    } else {
                        format!("{rel}/{d}")
                    };
                    candidates.push((rel, values));
                }
            }
            candidates.sort();
            frontier = keep(level, candidates)?;
        }
        Ok((frontier, listed_folders))
    }

    /// Every partition of the lake (folders only: no file is listed).
    pub async fn partitions(&self) -> Result<std::collections::BTreeSet<PartitionKey>, LakeError> {
        let (folders, _) = self
            .partition_folders::<LakeError>(|_, candidates| Ok(candidates))
            .await?;
        Ok(folders
            .into_iter()
            .filter_map(|(rel, _)| PartitionKey::from_hive_path(&rel))
            .collect())
    }

    /// Every data file of the lake, with its partition.
    pub async fn all_files(&self) -> Result<Vec<(PartitionKey, LakeFile)>, LakeError> {
        let files = self.list("").await?;
        Ok(files
            .into_iter()
            .filter_map(|m| {
                let rel = self.loc.relative(&m.location);
                let name = rel.rsplit('/').next().unwrap_or("");
                if !layout::is_data_file(name) || self.kept.contains(&rel) {
                    return None;
                }
                PartitionKey::from_hive_path(&rel).map(|k| (k, LakeFile { rel, size: m.size }))
            })
            .collect())
    }

    pub async fn delete(&self, rel: &str) -> Result<(), LakeError> {
        let p = self.path(rel);
        match self.loc.store.delete(&p).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.store_error(&p, &e)),
        }
    }

    pub async fn delete_prefix(&self, rel: &str) -> Result<(), LakeError> {
        let store = &self.loc.store;
        let prefix = self.path(rel);
        let paths = store.list(Some(&prefix)).map_ok(|m| m.location).boxed();
        let results: Vec<_> = store.delete_stream(paths).collect().await;
        for r in results {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.store_error(&prefix, &e)),
            }
        }
        if let Some(local) = self.loc.local_path(rel) {
            let _ = remove_empty_dirs(&local);
        }
        Ok(())
    }
}

/// Crash tests' hook: with `TRAILLAKE_FAILPOINT` set to `name`, the
/// process dies here as a SIGKILL would leave it (no cleanup, no unwinding),
/// so a test can stop a commit at an exact step instead of by luck.
pub fn failpoint(name: &str) {
    if std::env::var_os("TRAILLAKE_FAILPOINT").is_some_and(|v| v == name) {
        eprintln!("traillake: failpoint {name}: dying here");
        std::process::abort();
    }
}

/// Tests' hook: with `TRAILLAKE_DELAYPOINT` set to `name:ms` (several,
/// comma-separated), the run sleeps `ms` here, so a test can make one step
/// long (a merge of gigabytes, a listing of a million folders) and signal
/// it there.
pub fn delaypoint(name: &str) {
    let Some(spec) = std::env::var_os("TRAILLAKE_DELAYPOINT") else {
        return;
    };
    for part in spec.to_string_lossy().split(',') {
        if let Some(ms) = part
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|ms| ms.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
}

/// Parts of a multipart upload.
pub const MULTIPART_PART: usize = 8 << 20;

/// A data file of the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeFile {
    /// Relative to the lake's root.
    pub rel: String,
    pub size: u64,
}

impl LakeFile {
    pub fn name(&self) -> &str {
        self.rel.rsplit('/').next().unwrap_or("")
    }
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
