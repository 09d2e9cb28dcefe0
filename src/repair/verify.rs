//! `traillake verify`: read-only, one listing of the whole lake, every
//! state file parsed, every partition's files against its manifests, every
//! data file's footer and schema read (rows against the manifest). It
//! returns findings: errors (something is lost or unreadable, and
//! `compact` would stop on it) and warnings (stray files nobody reads,
//! state a run will rebuild).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::compact::plan::SourceState;
use crate::compact::read::OpenLakeFile;
use crate::lake::layout::{self, Owner};
use crate::lake::ledger::Segment;
use crate::lake::manifest::{self, Damage, Manifest, Manifests};
use crate::lake::{Journal, Lake, LakeError, LakeFile};
use crate::partition::PartitionKey;

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
