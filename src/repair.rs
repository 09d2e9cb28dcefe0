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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::compact::plan::SourceState;
use crate::compact::read::OpenLakeFile;
use crate::compact::{self, CompactError, CompactOptions};
use crate::lake::layout::{self, Owner};
use crate::lake::lease::Lease;
use crate::lake::ledger::Segment;
use crate::lake::manifest::{self, Damage, Manifest, Manifests};
use crate::lake::{Journal, Lake, LakeError, LakeFile};
use crate::partition::PartitionKey;
use crate::report::RunReport;
use object_store::ObjectStoreExt;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Rows lost or unreadable, or state `compact` stops on.
    Error,
    /// Nothing lost; worth knowing.
    Warning,
}

/// What `verify` found wrong with one object of the lake.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Relative to the lake's root.
    pub path: String,
    pub what: String,
    #[serde(skip)]
    pub kind: Kind,
}

/// What to do about a finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Kind {
    /// Nothing (a warning).
    #[default]
    Note,
    /// A data file missing or damaged: its partition's sources are read
    /// again; the file, if there, is set aside.
    Data { partition: String, set_aside: bool },
    /// A Parquet (or other) file traillake did not write, in a partition:
    /// set aside, nothing to read again.
    Foreign,
    /// A manifest that does not parse: set aside and rebuilt from the
    /// partition's files.
    Manifest { partition: String },
    /// A ledger segment that does not parse: set aside; its folder is read
    /// again (`source` is the segment's source id, `folder` its folder).
    Ledger { source: String, folder: String },
    /// Another state file (source state, journal) that does not parse or
    /// is unsafe: set aside; the next run rebuilds it.
    State,
    /// The Delta log's latest version and the partition folders disagree:
    /// a version is committed that makes the log hold the folders' files.
    Delta,
}

/// What `verify` saw.
#[derive(Debug, Default, Serialize)]
pub struct Verified {
    pub lake: String,
    pub partitions: u64,
    pub data_files: u64,
    pub rows: u64,
    pub state_files: u64,
    /// The Delta log's latest version, when the lake has one.
    pub delta_version: Option<u64>,
    /// Partitions whose files were written before manifests existed: only
    /// their footers can be checked (the next run touching them, or
    /// `repair`, writes their manifests).
    pub partitions_without_manifest: u64,
    pub findings: Vec<Finding>,
}

impl Verified {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// Footers read at once (each is one or two ranged GETs on S3).
const FOOTER_READERS: usize = 16;

/// Checks the whole lake; read-only.
pub fn verify(
    lake: &Lake,
    rt: &tokio::runtime::Runtime,
    progress: &crate::progress::Progress,
) -> Result<Verified, LakeError> {
    progress.set_phase(crate::progress::Phase::Listing);
    let all = rt.block_on(lake.list(""))?;
    let kept = rt.block_on(crate::lake::retained::kept(lake))?;
    let mut out = Verified {
        lake: lake.loc.url.clone(),
        ..Verified::default()
    };
    let mut found = |severity, path: &str, what: String, kind| {
        out.findings.push(Finding {
            severity,
            path: path.to_string(),
            what,
            kind,
        })
    };
    let mut data: BTreeMap<String, Vec<LakeFile>> = BTreeMap::new();
    let mut manifests: BTreeMap<String, Manifests> = BTreeMap::new();
    let mut state_files = 0u64;
    let state_prefix = format!("{}/", layout::STATE_DIR);
    for meta in &all {
        let rel = lake.loc.relative(&meta.location);
        if rel.starts_with(&format!("{}/", crate::lake::delta::LOG_DIR)) {
            continue;
        }
        let Some(state) = rel.strip_prefix(&state_prefix) else {
            match partition_of(&rel) {
                // Replaced, kept for readers of older Delta versions.
                Some((_, name)) if layout::is_data_file(name) && kept.contains(&rel) => {}
                Some((dir, name)) if layout::is_data_file(name) => {
                    data.entry(dir.to_string()).or_default().push(LakeFile {
                        rel: rel.clone(),
                        size: meta.size,
                    })
                }
                // Engines skip `_` and `.` names; anything else in a
                // partition folder is read as data by Athena and fails it.
                Some((_, name)) if !name.starts_with(['_', '.']) => found(
                    Severity::Error,
                    &rel,
                    "not a Parquet file, in a partition folder: Athena reads it as data and fails"
                        .into(),
                    Kind::Foreign,
                ),
                Some(_) => {}
                None => found(
                    Severity::Warning,
                    &rel,
                    "not part of the lake (no partition folder, not state); ignored".into(),
                    Kind::Note,
                ),
            }
            continue;
        };
        let (folder, _) = state.split_once('/').unwrap_or(("", state));
        let parse = |what: &str| -> Result<bytes::Bytes, String> {
            rt.block_on(lake.get(&rel))
                .map_err(|e| format!("could not read the {what}: {e}"))
        };
        state_files += 1;
        match folder {
            "journal" if layout::is_journal(&rel) => {
                let checked = parse("journal").and_then(|b| {
                    serde_json::from_slice::<Journal>(&b).map_err(|e| format!("unreadable: {e}"))
                });
                match checked {
                    Ok(j) => match j.unsafe_path() {
                        Some(what) => found(
                            Severity::Error,
                            &rel,
                            format!("a commit journal naming {what}, outside the lake: refused"),
                            Kind::State,
                        ),
                        None => found(
                            Severity::Warning,
                            &rel,
                            "a run committed but did not finish; the next compact finishes it"
                                .into(),
                            Kind::Note,
                        ),
                    },
                    Err(e) => found(
                        Severity::Error,
                        &rel,
                        format!("commit journal {e}"),
                        Kind::State,
                    ),
                }
            }
            "manifest" if layout::is_state_file(&rel) => {
                let dir = state
                    .strip_prefix("manifest/")
                    .and_then(|p| p.rsplit_once('/'))
                    .map(|(d, _)| d.to_string())
                    .unwrap_or_default();
                match parse("manifest").and_then(|b| {
                    serde_json::from_slice::<Manifest>(&b).map_err(|e| format!("unreadable: {e}"))
                }) {
                    Ok(m) => manifests.entry(dir).or_default().read.push((rel, m)),
                    Err(e) => found(
                        Severity::Error,
                        &rel,
                        format!("partition manifest {e}"),
                        Kind::Manifest { partition: dir },
                    ),
                }
            }
            "ledger" if layout::is_state_file(&rel) => {
                // Segments lie at `ledger/<source>/_/<folder>/<run>.json`;
                // lists of older releases directly in `ledger/`.
                let segment = state.strip_prefix("ledger/").and_then(|p| {
                    let (source, rest) = p.split_once("/_")?;
                    let folder = rest.strip_prefix('/').unwrap_or(rest);
                    let folder = folder.rsplit_once('/').map_or("", |(f, _)| f);
                    Some((source.to_string(), folder.to_string()))
                });
                let ok = parse("ledger segment").and_then(|b| match &segment {
                    Some(_) => serde_json::from_slice::<Segment>(&b)
                        .map(|_| ())
                        .map_err(|e| format!("unreadable: {e}")),
                    None => serde_json::from_slice::<Vec<String>>(&b)
                        .map(|_| ())
                        .map_err(|e| format!("unreadable: {e}")),
                });
                if let Err(e) = ok {
                    let kind = match segment {
                        Some((source, folder)) => Kind::Ledger { source, folder },
                        None => Kind::State,
                    };
                    found(Severity::Error, &rel, format!("ledger {e}"), kind);
                }
            }
            "sources" if layout::is_state_file(&rel) => {
                if let Err(e) = parse("source state").and_then(|b| {
                    serde_json::from_slice::<SourceState>(&b)
                        .map_err(|e| format!("unreadable: {e}"))
                }) {
                    found(
                        Severity::Error,
                        &rel,
                        format!("source state {e}"),
                        Kind::State,
                    );
                }
            }
            "runs" | "quarantine" | "lease" | "staging" | "retained" => {}
            _ => {
                state_files -= 1;
                found(
                    Severity::Warning,
                    &rel,
                    "a stray file among the lake's state; ignored".into(),
                    Kind::Note,
                );
            }
        }
    }
    out.state_files = state_files;

    // Every partition's files against its manifests.
    let partitions: BTreeSet<&String> = data.keys().chain(manifests.keys()).collect();
    let empty = Manifests::default();
    let mut to_open: Vec<(String, LakeFile, Option<u64>)> = Vec::new();
    for dir in partitions {
        let Some(key) = PartitionKey::from_hive_path(dir) else {
            continue;
        };
        out.partitions += 1;
        let listed = data.get(dir).map(Vec::as_slice).unwrap_or_default();
        let m = manifests.get(dir).unwrap_or(&empty);
        if m.read.is_empty() && !listed.is_empty() {
            out.partitions_without_manifest += 1;
        }
        let recorded = m.files();
        for (path, damage) in m.check(&key, listed, Owner::All) {
            let kind = match damage {
                Damage::Foreign => Kind::Foreign,
                Damage::Missing => Kind::Data {
                    partition: dir.clone(),
                    set_aside: false,
                },
                _ => Kind::Data {
                    partition: dir.clone(),
                    set_aside: true,
                },
            };
            found(Severity::Error, &path, damage.to_string(), kind);
        }
        for f in listed {
            if manifest::is_ours(f.name()) {
                let rows = recorded.get(f.name()).and_then(|m| m.rows);
                to_open.push((dir.clone(), f.clone(), rows));
            }
        }
    }

    // Footers, a few at a time.
    progress.set_phase(crate::progress::Phase::Reading);
    progress.objects_to_read.add(to_open.len() as u64);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<u64, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..FOOTER_READERS.min(to_open.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((_, f, _)) = to_open.get(i) else {
                    return;
                };
                let r = OpenLakeFile::open(lake, f, rt.handle())
                    .map(|o| o.rows())
                    .map_err(|e| e.to_string());
                progress.objects_read.add(1);
                results.lock().expect("not poisoned").push((i, r));
            });
        }
    });
    let mut results = results.into_inner().expect("not poisoned");
    results.sort_by_key(|(i, _)| *i);
    for (i, r) in results {
        let (dir, f, recorded_rows) = &to_open[i];
        let kind = || Kind::Data {
            partition: dir.clone(),
            set_aside: true,
        };
        match r {
            Ok(rows) => {
                out.data_files += 1;
                out.rows += rows;
                if let Some(expected) = recorded_rows.filter(|e| *e != rows) {
                    found(
                        Severity::Error,
                        &f.rel,
                        format!("holds {rows} rows, written with {expected}"),
                        kind(),
                    );
                }
            }
            Err(e) => found(
                Severity::Error,
                &f.rel,
                Damage::Unreadable(e).to_string(),
                kind(),
            ),
        }
    }
    // The Delta log's latest version against the folders.
    // The same listing: every data file but the kept ones.
    let listed: Vec<LakeFile> = data.values().flatten().cloned().collect();
    if let Some(drift) = rt.block_on(crate::lake::delta::drift(lake, &listed))? {
        out.delta_version = Some(drift.version);
        for f in &drift.unlisted {
            found(
                Severity::Error,
                &f.rel,
                format!(
                    "in its partition folder, not in the Delta log's version {}: Delta readers \
                     miss its rows",
                    drift.version
                ),
                Kind::Delta,
            );
        }
        for f in &drift.gone {
            found(
                Severity::Error,
                &f.rel,
                format!(
                    "in the Delta log's version {}, not in its partition folder: Delta readers \
                     fail on it",
                    drift.version
                ),
                Kind::Delta,
            );
        }
    }
    out.findings.sort();
    Ok(out)
}

/// `(partition folder, file name)` of a path directly in a partition.
fn partition_of(rel: &str) -> Option<(&str, &str)> {
    let (dir, name) = rel.rsplit_once('/')?;
    (dir.split('/').count() == 5 && PartitionKey::from_hive_path(dir).is_some())
        .then_some((dir, name))
}

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
