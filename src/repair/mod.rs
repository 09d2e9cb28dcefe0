//! `traillake verify` and `traillake repair`: the lake checked against
//! what its runs recorded, and put right from the source.
//!
//! `verify` is read-only: one listing of the whole lake, every state file
//! parsed, every partition's files against its manifests, every data
//! file's footer and schema read (rows against the manifest). It returns
//! findings: errors (something is lost or unreadable, and `compact` would
//! stop on it) and warnings (stray files nobody reads, state a run will
//! rebuild).
//!
//! `repair` takes the lease, sets aside (moves under
//! `_traillake/quarantine/<run>/`) whatever is unreadable or foreign, and
//! makes every damaged partition's source folders be read again: their
//! ledger segments are set aside and the folders added to the source
//! state's retry list, then each damaged partition's manifest is rewritten
//! to the files it now holds. Then `compact` runs: it reads those folders
//! again and keeps their events once (rows still in the lake are
//! duplicates). Each step is idempotent and a kill between any two leaves
//! either the damage (found again by the next `repair`) or the retry list
//! (carried out by the next `compact`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::compact::plan::SourceState;
use crate::compact::read::OpenLakeFile;
use crate::compact::{self, CompactError, CompactOptions};
use crate::lake::layout::{self, Owner};
use crate::lake::lease::Lease;
use crate::lake::manifest::{self, Manifests};
use crate::lake::{Lake, LakeError};
use crate::partition::PartitionKey;
use crate::report::RunReport;
use object_store::ObjectStoreExt;

mod verify;
pub use verify::{verify, Finding, Kind, Severity, Verified};

/// What `repair` did.
#[derive(Debug, Default, Serialize)]
pub struct Repaired {
    /// Files moved under `_traillake/quarantine/<run>/`.
    pub set_aside: Vec<String>,
    /// Source folders (relative to SRC) read again.
    pub folders_read_again: Vec<String>,
    /// Damaged partitions fed by other sources too: repair with those.
    pub other_sources: Vec<String>,
    /// Partitions whose manifests were written.
    pub manifests_written: u64,
    /// The compact run that read the folders again.
    pub run: Option<RunReport>,
    /// What `verify` finds afterwards.
    pub errors_after: usize,
}

/// Repairs the lake from `opts.source` (see the module's comment), then
/// compacts.
pub fn repair(
    opts: &CompactOptions,
    rt: &tokio::runtime::Runtime,
) -> Result<(Repaired, Verified), CompactError> {
    // Files kept for older Delta versions are not the partitions' files.
    let lake = rt.block_on(Lake::new(opts.lake.clone()).leaving_out_kept())?;
    let run_id = layout::new_run_id(Owner::All);
    let lease = rt.block_on(Lease::acquire(
        &lake,
        Owner::All,
        &run_id,
        opts.lease_timeout,
    ))?;
    let result = put_right(opts, rt, &lake, &run_id).and_then(|r| {
        // The log made to hold what the folders hold now (files set aside
        // are removed from it); the compact below adds what it reads again.
        if opts.delta.enabled {
            rt.block_on(crate::lake::delta::reconcile(&lake, &run_id, &opts.delta))?;
        }
        Ok(r)
    });
    if let Err(e) = rt.block_on(lease.release()) {
        eprintln!("traillake: could not give the lease back: {e}");
    }
    let mut repaired = result?;
    // Read the folders again (and finish what any run left).
    let report = compact::compact(opts)?;
    repaired.run = Some(report);
    let after = verify(&lake, rt, &opts.progress)?;
    repaired.errors_after = after.errors();
    Ok((repaired, after))
}

fn put_right(
    opts: &CompactOptions,
    rt: &tokio::runtime::Runtime,
    lake: &Lake,
    run_id: &str,
) -> Result<Repaired, CompactError> {
    let mut out = Repaired::default();
    let found = verify(lake, rt, &opts.progress)?;
    let source_id = layout::source_id(&opts.source.url);
    let source_prefix = format!("{}/", opts.source.url);
    let mut damaged: BTreeSet<String> = BTreeSet::new();
    let mut folders: BTreeSet<String> = BTreeSet::new();
    let mut ledger_aside: Vec<String> = Vec::new();
    let mut rebuild_manifest: BTreeSet<String> = BTreeSet::new();
    for f in found
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
    {
        let aside = match &f.kind {
            // Reconciled after the rest (see `repair`).
            Kind::Note | Kind::Delta => false,
            Kind::Data {
                partition,
                set_aside,
            } => {
                damaged.insert(partition.clone());
                *set_aside
            }
            Kind::Foreign | Kind::State => true,
            Kind::Manifest { partition } => {
                rebuild_manifest.insert(partition.clone());
                true
            }
            Kind::Ledger { source, folder } => {
                if *source == source_id {
                    folders.insert(folder.clone());
                    ledger_aside.push(f.path.clone());
                } else {
                    out.other_sources
                        .push(format!("{}: a ledger segment of another source", f.path));
                }
                true
            }
        };
        if aside {
            set_aside(lake, rt, run_id, &f.path)?;
            out.set_aside.push(f.path.clone());
        }
    }
    // Each partition to put right, read once: its manifests (with the bad
    // ones set aside above) and the source folders that fed it.
    let mut partitions: BTreeMap<&String, (PartitionKey, Manifests, BTreeSet<String>)> =
        BTreeMap::new();
    for dir in damaged.iter().chain(&rebuild_manifest) {
        let key = PartitionKey::from_hive_path(dir).expect("a partition folder");
        let m = rt.block_on(manifest::read(lake, &key, Owner::All))?;
        let mut sources = m.sources();
        if sources.is_empty() {
            sources = sources_in_files(lake, rt, &key)?;
        }
        partitions.insert(dir, (key, m, sources));
    }
    // The source folders that fed each damaged partition.
    for dir in &damaged {
        for url in &partitions[dir].2 {
            match url.strip_prefix(&source_prefix) {
                Some(folder) => {
                    folders.insert(folder.to_string());
                }
                None if *url == opts.source.url => {
                    folders.insert(String::new());
                }
                None => out.other_sources.push(format!("{dir}: fed also by {url}")),
            }
        }
    }
    // 1. Every owner's state lists the folders again until they are read.
    if !folders.is_empty() {
        let dir = layout::source_state_dir(&source_id);
        let mut states: Vec<String> = rt
            .block_on(lake.list(&dir))?
            .iter()
            .map(|m| lake.loc.relative(&m.location))
            .filter(|r| layout::is_state_file(r) && !out.set_aside.contains(r))
            .collect();
        if states.is_empty() {
            states.push(layout::source_state(&source_id, Owner::All));
        }
        for rel in states {
            let mut state: SourceState = rt.block_on(lake.get_json(&rel))?.unwrap_or_default();
            state.source = opts.source.url.clone();
            state.retry.extend(folders.iter().cloned());
            rt.block_on(lake.put(
                &rel,
                serde_json::to_vec_pretty(&state).expect("state serializes"),
            ))?;
        }
        // 2. Their ledgers forget them, so their objects are new again.
        for folder in &folders {
            let dir = layout::ledger_folder(&source_id, folder);
            let (segments, _) = rt.block_on(lake.list_dir(&dir))?;
            for meta in segments {
                let rel = lake.loc.relative(&meta.location);
                if layout::is_state_file(&rel) && !ledger_aside.contains(&rel) {
                    set_aside(lake, rt, run_id, &rel)?;
                    out.set_aside.push(rel);
                }
            }
        }
    }
    // 3. Manifests say what the damaged partitions now hold.
    for (key, m, sources) in partitions.values() {
        let listed = rt.block_on(lake.partition_files(key))?;
        let recorded = m.files();
        let files: Vec<manifest::ManifestFile> = listed
            .iter()
            .filter(|f| manifest::is_ours(f.name()))
            .map(|f| manifest::ManifestFile {
                name: f.name().to_string(),
                size: f.size,
                rows: recorded
                    .get(f.name())
                    .filter(|r| r.size == f.size)
                    .and_then(|r| r.rows),
            })
            .collect();
        let (writes, deletes) = m.next(key, Owner::All, &files, sources);
        for (rel, m) in writes {
            rt.block_on(lake.put(&rel, serde_json::to_vec(&m).expect("serializes")))?;
        }
        for rel in deletes {
            rt.block_on(lake.delete(&rel))?;
        }
        out.manifests_written += 1;
    }
    out.folders_read_again = folders.into_iter().collect();
    out.other_sources.sort();
    out.other_sources.dedup();
    Ok(out)
}

/// Moves `rel` under the quarantine folder of this repair.
fn set_aside(
    lake: &Lake,
    rt: &tokio::runtime::Runtime,
    run_id: &str,
    rel: &str,
) -> Result<(), LakeError> {
    let (from, to) = (lake.path(rel), lake.path(&layout::set_aside(run_id, rel)));
    match rt.block_on(lake.loc.store.rename(&from, &to)) {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(lake.store_error(&from, &e)),
    }
}

/// The source folders of the rows of a partition's readable files, for a
/// partition whose manifest does not name them.
fn sources_in_files(
    lake: &Lake,
    rt: &tokio::runtime::Runtime,
    key: &PartitionKey,
) -> Result<BTreeSet<String>, LakeError> {
    let mut out = BTreeSet::new();
    for f in rt.block_on(lake.partition_files(key))? {
        if let Ok(open) = OpenLakeFile::open(lake, &f, rt.handle()) {
            // An unreadable one is set aside; its folders are unknown.
            let _ = open.source_folders(&mut out);
        }
    }
    Ok(out)
}
