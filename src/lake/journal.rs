//! The commit protocol that keeps the lake's files and its state
//! consistent, and recovery.
//!
//! Commit protocol (works on a local disk and on S3, which has no atomic
//! multi-object rename):
//! 1. every file of the run is written under `staging/<run>/`: new data
//!    files, ledger segments, the run report, quarantined records and the
//!    source state;
//! 2. the journal is written in one PUT: the moves (staged -> final name)
//!    and the files to delete (data files replaced, ledger segments
//!    compacted); from here on the run is committed;
//! 3. the data moves, the data deletes, then the state moves and deletes
//!    are carried out;
//! 4. the journal and the staging folder are deleted.
//!
//! A run that dies before step 2 leaves only staging, which the next run
//! deletes (roll back): nothing of it counts, so its input is read again.
//! A run that dies after it leaves the journal, which the next run carries
//! out again before anything else (roll forward): every step is
//! idempotent. So the quarantined records and the report of a run are
//! there exactly when its ledger is. New files have new names (the run id
//! is in them), so a reader never sees a half-written file; a reader that
//! wants a consistent view while a journal exists applies it to what it
//! lists ([`Lake::journals`]), as `traillake query` does.

use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use super::layout::{self, Owner, STATE_DIR};
use super::*;

/// The switch a run makes, written before it makes it. Paths are relative
/// to the lake's root.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub run_id: String,
    /// `(staged, final)`: data files first, then state files.
    pub moves: Vec<(String, String)>,
    /// Files the run replaces or compacts away.
    pub deletes: Vec<String>,
    /// The Delta version the run commits, once its data files are in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<delta::Change>,
}

impl Journal {
    /// Why a journal cannot be one a run wrote: a path outside the lake, a
    /// move from outside its run's staging, or a run id that is not a name.
    pub fn unsafe_path(&self) -> Option<String> {
        if !layout::is_safe_rel(&self.run_id) || self.run_id.contains('/') {
            return Some(format!("run id {:?}", self.run_id));
        }
        let staging = format!("{}/", layout::staging_run(&self.run_id));
        for (from, to) in &self.moves {
            if !layout::is_safe_rel(from) || !from.starts_with(&staging) {
                return Some(format!("a move from {from:?}"));
            }
            if !layout::is_safe_rel(to) {
                return Some(format!("a move to {to:?}"));
            }
        }
        self.deletes
            .iter()
            .find(|d| !layout::is_safe_rel(d))
            .map(|d| format!("a delete of {d:?}"))
    }

    fn data_first<'a>(items: impl Iterator<Item = &'a String> + Clone) -> Vec<&'a String> {
        let state = |p: &&String| p.starts_with(&format!("{STATE_DIR}/"));
        items
            .clone()
            .filter(|p| !state(p))
            .chain(items.filter(state))
            .collect()
    }
}

impl Lake {
    /// Journals of committed runs not yet fully carried out.
    /// Other files in the journal folder (`.DS_Store`, notes) are not
    /// journals and are left alone; a journal that does not parse, or
    /// names a path outside the lake, is refused: `repair` sets it aside.
    pub async fn journals(&self) -> Result<Vec<Journal>, LakeError> {
        let mut out = Vec::new();
        for meta in self.list(&layout::journal_dir()).await? {
            let rel = self.loc.relative(&meta.location);
            if !layout::is_journal(&rel) {
                continue;
            }
            // A journal carried out meanwhile is gone: nothing to apply.
            let journal = match self.get_json::<Journal>(&rel).await {
                Ok(Some(j)) => j,
                Ok(None) => continue,
                Err(LakeError::State { url, source }) => {
                    return Err(LakeError::Damaged {
                        url,
                        reason: format!("an unreadable commit journal ({source})"),
                    })
                }
                Err(e) => return Err(e),
            };
            if let Some(what) = journal.unsafe_path() {
                return Err(LakeError::Damaged {
                    url: self.loc.url_of_relative(&rel),
                    reason: format!(
                        "a commit journal naming {what}, outside the lake or its run's staging: \
                         refused"
                    ),
                });
            }
            out.push(journal);
        }
        Ok(out)
    }

    /// Finishes any committed run that was interrupted (roll forward), then
    /// drops staged files of runs that never committed (roll back). Returns
    /// the run ids rolled forward. Only `owner`'s own runs are touched:
    /// other shards may be running right now.
    pub async fn recover(&self, owner: Owner) -> Result<Vec<String>, LakeError> {
        let mut rolled = Vec::new();
        for journal in self.journals().await? {
            if owner.ran(&journal.run_id) {
                self.apply(&journal, &Count::default()).await?;
                rolled.push(journal.run_id);
            }
        }
        if let Some(state) = self.loc.local_path(STATE_DIR) {
            remove_partial_puts(&state, &|name| owner.ran(name));
        }
        let (_, runs) = self.list_dir(&layout::staging_dir()).await?;
        for run in runs {
            if owner.ran(&run) {
                self.delete_prefix(&layout::staging_run(&run)).await?;
            }
        }
        Ok(rolled)
    }

    /// Commits a run whose files are all staged (steps 2-4 above).
    pub async fn commit(&self, journal: &Journal) -> Result<(), LakeError> {
        self.commit_counting(journal, &Count::default())
            .await
            .map(|_| ())
    }

    /// [`Lake::commit`], adding each file moved or deleted to `done`.
    pub async fn commit_counting(
        &self,
        journal: &Journal,
        done: &Count,
    ) -> Result<Option<delta::Committed>, LakeError> {
        let data = serde_json::to_vec_pretty(journal).expect("journal serializes");
        self.put(&layout::journal(&journal.run_id), data).await?;
        failpoint("after-journal");
        self.apply(journal, done).await
    }

    /// Carries a journal out; what its Delta commit did, if it has one.
    async fn apply(
        &self,
        journal: &Journal,
        done: &Count,
    ) -> Result<Option<delta::Committed>, LakeError> {
        let mut committed = None;
        let store = &self.loc.store;
        let finals: Vec<&String> = journal.moves.iter().map(|(_, to)| to).collect();
        let order = Journal::data_first(finals.iter().copied());
        let deletes = Journal::data_first(journal.deletes.iter());
        let state = |p: &str| p.starts_with(&format!("{STATE_DIR}/"));
        // Each target's source, looked up rather than searched for: a
        // first run over a year of an organization moves hundreds of
        // thousands of files.
        let from_of: std::collections::HashMap<&str, &str> = journal
            .moves
            .iter()
            .map(|(from, to)| (to.as_str(), from.as_str()))
            .collect();
        // Data moves, data deletes, state moves, state deletes.
        for phase in [false, true] {
            for to_rel in order.iter().filter(|p| state(p) == phase) {
                let from_rel = from_of[to_rel.as_str()];
                let (from, to) = (self.path(from_rel), self.path(to_rel));
                match store.rename(&from, &to).await {
                    Ok(()) => {}
                    // Already moved by an earlier, interrupted attempt.
                    Err(object_store::Error::NotFound { .. }) if store.head(&to).await.is_ok() => {}
                    Err(e) => return Err(self.store_error(&from, &e)),
                }
                done.add(1);
            }
            if !phase {
                failpoint("after-data-moves");
                // The Delta version, between the data moves (its files are
                // in place) and the data deletes (the files it removes are
                // still there for a table it creates from the listing).
                if let Some(change) = &journal.delta {
                    committed = Some(delta::commit(self, change).await?);
                    failpoint("after-delta-commit");
                }
            }
            for rel in deletes.iter().filter(|p| state(p) == phase) {
                let p = self.path(rel);
                match store.delete(&p).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.store_error(&p, &e)),
                }
                done.add(1);
            }
        }
        let jp = self.path(&layout::journal(&journal.run_id));
        match store.delete(&jp).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.store_error(&jp, &e)),
        }
        self.delete_prefix(&layout::staging_run(&journal.run_id))
            .await?;
        Ok(committed)
    }
}
