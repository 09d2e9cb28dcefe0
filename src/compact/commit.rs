//! What a run commits beside its data files, staged like them so that one
//! journal switches everything in at once: the ledger segments of the
//! folders it read, the source's state, its quarantine file and its report.
//! A run that dies before its journal leaves none of them; one that dies
//! after it has all of them put in place by the next run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use super::plan::{self, Plan};
use super::stage::StagedPartition;
use super::{CompactError, CompactOptions, Reconcile};
use crate::lake::manifest::{Manifest, ManifestFile, Superseded};
use crate::lake::{delta, ledger};
use crate::lake::{layout, Journal, Lake};
use crate::partition::PartitionKey;
use crate::report::{self, RunReport};
use crate::sink::Conflicts;
use crate::source::SourceObject;

/// Stages everything but the data (already staged) and returns the journal.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    rt: &tokio::runtime::Runtime,
    lake: &Lake,
    opts: &CompactOptions,
    run_id: &str,
    plan: &Plan,
    read: &[SourceObject],
    failed_folders: &BTreeSet<String>,
    staged: Vec<(PartitionKey, StagedPartition)>,
    quarantine: Option<&Path>,
    report: &mut RunReport,
    started: Instant,
) -> Result<Journal, CompactError> {
    let mut journal = Journal {
        run_id: run_id.to_string(),
        ..Journal::default()
    };
    let add =
        |a: u64, b: u64, what: &str| a.checked_add(b).ok_or_else(|| Reconcile::overflow(what));
    let mut taken = 0u64;
    let mut conflicts = Conflicts::default();
    let mut puts: Vec<(String, Vec<u8>)> = Vec::new();
    let mut change = delta::Change {
        run_id: run_id.to_string(),
        settings: opts.delta.clone(),
        ..delta::Change::default()
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    // Replaced files kept for readers of older Delta versions.
    let keep_replaced = opts.delta.enabled && opts.delta.keep_replaced_hours > 0;
    let mut kept: Vec<String> = Vec::new();
    for (key, s) in staged {
        let sizes: BTreeMap<&str, u64> = s
            .written
            .iter()
            .map(|f| (f.name.as_str(), f.size))
            .chain(s.existing.iter().map(|f| (f.name(), f.size)))
            .collect();
        for (_, rel) in &s.moves {
            let name = rel.rsplit('/').next().unwrap_or("");
            change.adds.push(delta::FileAdd {
                rel: rel.clone(),
                size: sizes.get(name).copied().unwrap_or(0),
                stats: s.stats.get(rel).cloned(),
                modified_ms: now_ms,
            });
        }
        for rel in &s.deletes {
            let name = rel.rsplit('/').next().unwrap_or("");
            change.removes.push(delta::FileRemove {
                rel: rel.clone(),
                size: sizes.get(name).copied().unwrap_or(0),
            });
        }
        if !s.superseded.is_empty() {
            // The owner's list in the partition, with this run's added.
            let rel = layout::superseded(&key, &opts.owner().tag());
            let mut list: Superseded = rt.block_on(lake.get_json(&rel))?.unwrap_or_default();
            let before = list.original_event_ids.len();
            list.original_event_ids.extend(s.superseded.iter().cloned());
            if list.original_event_ids.len() > before {
                puts.push((rel, serde_json::to_vec(&list).expect("list serializes")));
            }
        }
        if !s.moves.is_empty() || !s.deletes.is_empty() {
            let (writes, stale) = next_manifests(&key, opts.owner(), &s);
            for (rel, m) in writes {
                puts.push((rel, serde_json::to_vec(&m).expect("manifest serializes")));
            }
            journal.deletes.extend(stale);
        }
        if !s.moves.is_empty() {
            report.partitions_written += 1;
        }
        taken = add(taken, s.new_in, "records taken")?;
        report.rows_written = add(report.rows_written, s.new_written, "rows written")?;
        report.duplicates_dropped = add(report.duplicates_dropped, s.new_duplicates, "duplicates")?;
        report.lake_duplicates_removed = add(
            report.lake_duplicates_removed,
            s.lake_duplicates,
            "duplicates removed",
        )?;
        report.files_written += s.moves.len() as u64;
        report.files_replaced += s.deletes.len() as u64;
        report.bytes_out = add(report.bytes_out, s.bytes_out, "bytes out")?;
        conflicts.absorb(s.conflicts);
        journal.moves.extend(s.moves);
        if keep_replaced {
            kept.extend(s.deletes);
        } else {
            journal.deletes.extend(s.deletes);
        }
    }
    if !kept.is_empty() {
        let until_ms = now_ms.saturating_add(i64::from(opts.delta.keep_replaced_hours) * 3_600_000);
        let list = crate::lake::retained::Retained {
            until_ms,
            files: kept,
        };
        puts.push((
            layout::retained(run_id),
            serde_json::to_vec(&list).expect("list serializes"),
        ));
    }
    report.eventid_conflicts = conflicts.rows;
    if opts.delta.enabled {
        // A run that changes no file commits no version, unless the lake
        // has no log yet: then its first version is made from the files
        // the partitions hold.
        if !change.is_empty() || !rt.block_on(delta::exists(lake))? {
            change.metrics = [
                ("rows_written", report.rows_written),
                ("records_read", report.records_read),
                ("duplicates_dropped", report.duplicates_dropped),
                ("records_quarantined", report.records_quarantined),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            journal.delta = Some(change);
        }
    } else if rt.block_on(delta::exists(lake))? {
        opts.progress.note(format!(
            "warning: [delta] enabled = false, but the lake has a Delta log: it no longer \
             follows the lake, and Delta readers will not see this run. Delete {} or enable the \
             log again",
            lake.loc.url_of_relative(delta::LOG_DIR)
        ));
    }
    report.conflicts = conflicts.examples;
    let accepted = report
        .records_read
        .checked_sub(report.records_quarantined)
        .ok_or_else(|| Reconcile::overflow("records quarantined beyond those read"))?;
    if taken != accepted {
        return Err(CompactError::Reconcile(Reconcile {
            what: format!(
                "{accepted} records taken by the decoder, {taken} reached the partitions"
            ),
        }));
    }

    // The ledger: a segment for each folder read (with the legacy entries
    // of that folder converted into it).
    let mut added: BTreeMap<String, Vec<ledger::Entry>> = BTreeMap::new();
    for o in read {
        added.entry(o.folder().to_string()).or_default().push((
            o.name().to_string(),
            Some(o.size),
            o.tag.clone(),
        ));
    }
    if let Some(legacy) = &plan.legacy {
        for (folder, names) in &legacy.folders {
            added
                .entry(folder.clone())
                .or_default()
                .extend(names.iter().map(|n| (n.clone(), None, None)));
        }
        journal.deletes.extend(legacy.files.iter().cloned());
    }
    let empty = ledger::FolderLedger::default();
    for (folder, objects) in added {
        let existing = plan.ledgers.get(&folder).unwrap_or(&empty);
        let (segment, replaced) =
            ledger::next_segment(&opts.source.url, &folder, existing, objects);
        let rel = layout::ledger_segment(&plan.source_id, &folder, run_id);
        puts.push((
            rel,
            serde_json::to_vec(&segment).expect("segment serializes"),
        ));
        journal.deletes.extend(replaced);
    }
    let state = plan::next_state(plan, &opts.source.url, failed_folders);
    puts.push((
        layout::source_state(&plan.source_id, opts.owner()),
        serde_json::to_vec_pretty(&state).expect("state serializes"),
    ));

    let stage = |rel: &str| layout::staged(run_id, rel);
    rt.block_on(async {
        futures::future::try_join_all(puts.iter().map(|(rel, data)| {
            let staged = stage(rel);
            let data = data.clone();
            async move { lake.put(&staged, data).await }
        }))
        .await
    })?;
    for (rel, _) in &puts {
        journal.moves.push((stage(rel), rel.clone()));
    }
    if let Some(path) = quarantine {
        let rel = layout::quarantine(run_id);
        rt.block_on(lake.put_file(&stage(&rel), path))?;
        journal.moves.push((stage(&rel), rel));
    }

    report.seconds = started.elapsed().as_secs_f64();
    report.source_requests = opts.source.requests.snapshot();
    report.lake_requests = lake.loc.requests.snapshot();
    report.peak_rss_bytes = report::peak_rss();
    if !report.reconciles() {
        return Err(CompactError::Reconcile(Reconcile {
            what: format!(
                "records read {} = rows written {} + duplicates {} + quarantined {}; inputs \
                 listed {} = read {} + skipped {} + quarantined {}",
                report.records_read,
                report.rows_written,
                report.duplicates_dropped,
                report.records_quarantined,
                report.inputs_listed,
                report.inputs_read,
                report.inputs_skipped,
                report.files_quarantined
            ),
        }));
    }
    let rel = layout::run_report(run_id);
    rt.block_on(lake.put(
        &stage(&rel),
        serde_json::to_vec_pretty(&report).expect("report serializes"),
    ))?;
    journal.moves.push((stage(&rel), rel));
    Ok(journal)
}

/// A changed partition's manifests: the files it held minus those replaced,
/// plus those written; rows as recorded before, or as written.
fn next_manifests(
    key: &PartitionKey,
    owner: layout::Owner,
    s: &StagedPartition,
) -> (Vec<(String, Manifest)>, Vec<String>) {
    let recorded = s.manifests.files();
    let replaced: BTreeSet<&str> = s.deletes.iter().map(String::as_str).collect();
    let files: Vec<ManifestFile> = s
        .existing
        .iter()
        .filter(|f| !replaced.contains(f.rel.as_str()))
        .map(|f| ManifestFile {
            name: f.name().to_string(),
            size: f.size,
            rows: recorded.get(f.name()).and_then(|m| m.rows),
        })
        .chain(s.written.iter().cloned())
        .collect();
    s.manifests.next(key, owner, &files, &s.sources)
}
