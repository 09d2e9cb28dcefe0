//! Planning a run: which source objects to read. The window comes from the
//! lake's own state (the last day folder listed in each region folder, kept
//! per source in `_traillake/sources/`), the listing walks only the folders
//! in it ([`crate::source::walk`]), and only those folders' ledgers are
//! read ([`crate::lake::ledger`]). So a run's requests follow the folders
//! in its window, not the objects ever ingested.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::{CompactError, CompactOptions, Shard};
use crate::lake::ledger::{self, FolderLedger, Seen};
use crate::lake::{layout, Lake};
use crate::partition::Date;
use crate::report::RunReport;
use crate::source::walk::{self, WalkOptions};
use crate::source::{classify, SkipReason, SourceObject};
use crate::store::Location;

/// What the lake remembers of a source between runs.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceState {
    pub source: String,
    /// The last day folder listed, by region folder (relative to the
    /// source), as `YYYY-MM-DD`.
    pub latest: BTreeMap<String, String>,
    /// Folders listed again by every run, whatever their date, until what
    /// could not be read in them is read.
    pub retry: BTreeSet<String>,
}

impl SourceState {
    fn latest_dates(&self) -> BTreeMap<String, Date> {
        self.latest
            .iter()
            .filter_map(|(k, v)| Date::parse(v).map(|d| (k.clone(), d)))
            .collect()
    }
}

/// A run's plan.
#[derive(Debug, Default)]
pub struct Plan {
    /// In key order.
    pub to_read: Vec<SourceObject>,
    /// The ledgers of the folders of `to_read`.
    pub ledgers: HashMap<String, FolderLedger>,
    /// The state as this run found it.
    pub state: SourceState,
    /// The last day folder listed in each region folder walked.
    pub latest: BTreeMap<String, Date>,
    /// Folders that could not be listed.
    pub failed_folders: BTreeSet<String>,
    /// Folders whose objects were listed.
    pub listed_folders: BTreeSet<String>,
    /// Ledger entries of releases that kept one ledger list per run,
    /// by folder, and the old files they came from (converted by the
    /// commit).
    pub legacy: Option<Legacy>,
    pub source_id: String,
}

#[derive(Debug, Default)]
pub struct Legacy {
    pub folders: BTreeMap<String, Vec<String>>,
    /// Old ledger files every entry of which was converted.
    pub files: Vec<String>,
}

/// Plans a run of `owner` on `lake` (none for a dry run of a lake not made
/// yet).
pub async fn plan(
    src: &Location,
    lake: Option<&Lake>,
    opts: &CompactOptions,
    owner_tag: layout::Owner,
    report: &mut RunReport,
) -> Result<Plan, CompactError> {
    let source_id = layout::source_id(&src.url);
    let state = match lake {
        Some(lake) => read_state(lake, &source_id, owner_tag).await?,
        None => SourceState::default(),
    };
    let walk_opts = WalkOptions {
        filter: opts.filter.clone(),
        full_scan: opts.full_scan,
        lookback_days: opts.lookback_days,
        latest_seen: state.latest_dates(),
        retry: state.retry.clone(),
        exclude: lake.and_then(|l| l.loc.local.clone()),
        concurrency: if src.is_local() { 8 } else { 32 },
        progress: opts.progress.clone(),
        newest_day: Some(opts.newest_day.unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            Date::from_days(now.div_euclid(86_400) + 1)
        })),
    };
    opts.progress.set_phase(crate::progress::Phase::Listing);
    crate::lake::delaypoint("listing");
    let listing = walk::walk(src, &walk_opts).await;
    // Nothing could be listed at all (no such bucket, no access): fail.
    if let Some((_, reason)) = listing.failed.iter().find(|(f, _)| f.is_empty()) {
        return Err(CompactError::Listing {
            url: src.url.clone(),
            reason: reason.clone(),
        });
    }
    report.folders_listed = listing.folders_listed;
    report.future_folders = listing.future.len() as u64;
    report.future_folder_urls = listing
        .future
        .iter()
        .take(FUTURE_SHOWN)
        .map(|f| src.url_of_relative(f))
        .collect();
    let mut failed_folders = BTreeSet::new();
    for (folder, reason) in &listing.failed {
        report.quarantine_folder(&src.url_of_relative(folder), reason);
        failed_folders.insert(folder.clone());
    }
    if listing.inside_lake > 0 {
        *report
            .skipped_by_reason
            .entry(SkipReason::InsideLake)
            .or_default() += listing.inside_lake;
    }
    let listed_folders: BTreeSet<String> = listing
        .objects
        .iter()
        .map(|o| o.rel.rsplit_once('/').map_or("", |(d, _)| d).to_string())
        .collect();
    let mut candidates = Vec::new();
    let mut log_objects = 0u64;
    let mut others = Vec::new();
    for o in listing.objects {
        report.inputs_listed += 1;
        let classified = classify(&o.rel, &opts.filter);
        match classified {
            Ok(_) | Err(SkipReason::Filtered) => log_objects += 1,
            Err(_) if others.len() < 5 => others.push(src.url_of_relative(&o.rel)),
            Err(_) => {}
        }
        let decision = classified.and_then(|gz| {
            if opts.shard.is_some_and(|s: Shard| !s.takes(&o.rel)) {
                Err(SkipReason::OtherShard)
            } else {
                Ok(gz)
            }
        });
        match decision {
            Ok(gzipped) => candidates.push(SourceObject {
                url: src.url_of_relative(&o.rel),
                rel: o.rel,
                handle: o.handle,
                size: o.size,
                tag: o.tag,
                gzipped,
            }),
            Err(reason) => report.skip(reason),
        }
    }
    if log_objects == 0 && listing.failed.is_empty() {
        return Err(CompactError::NoLogs(NoLogs {
            url: src.url.clone(),
            folders: report.folders_listed,
            objects: report.inputs_listed,
            found: others,
            beside: beside(src).await,
            filtered: !opts.filter.accounts.is_empty() || !opts.filter.regions.is_empty(),
            window: (opts.filter.since.is_some() || opts.filter.until.is_some())
                .then(|| opts.window()),
        }));
    }
    let folders: Vec<String> = candidates
        .iter()
        .map(|o| o.folder().to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (mut ledgers, legacy) = match lake {
        Some(lake) => {
            let concurrency = if lake.loc.is_local() { 8 } else { 32 };
            opts.progress.ledgers_to_read.add(folders.len() as u64);
            let ledgers = ledger::read(
                lake,
                &source_id,
                &folders,
                concurrency,
                &opts.progress.ledgers_read,
            )
            .await?;
            let legacy = read_legacy(lake, &src.url).await?;
            (ledgers, legacy)
        }
        None => (HashMap::new(), None),
    };
    let legacy_names: HashMap<&str, BTreeSet<&str>> = legacy
        .iter()
        .flat_map(|l| l.folders.iter())
        .map(|(f, names)| (f.as_str(), names.iter().map(String::as_str).collect()))
        .collect();
    let mut to_read = Vec::new();
    for o in candidates {
        let ledger = ledgers.entry(o.folder().to_string()).or_default();
        let in_legacy = legacy_names
            .get(o.folder())
            .is_some_and(|names| names.contains(o.name()));
        match ledger.seen(o.name(), o.size, o.tag.as_deref()) {
            Seen::Ingested => report.skip(SkipReason::AlreadyIngested),
            Seen::New if in_legacy => report.skip(SkipReason::AlreadyIngested),
            Seen::New => to_read.push(o),
            Seen::Rewritten => {
                report.inputs_rewritten += 1;
                to_read.push(o);
            }
        }
    }
    // Only the ledgers of folders with objects to read: a set first, since
    // testing each folder against every object to read was quadratic (744
    // folders x 72,725 objects: 7 s of a debug build's listing phase).
    let reading: std::collections::HashSet<&str> = to_read.iter().map(|o| o.folder()).collect();
    ledgers.retain(|folder, _| reading.contains(folder.as_str()));
    Ok(Plan {
        to_read,
        ledgers,
        state,
        latest: listing.latest,
        failed_folders,
        listed_folders,
        legacy,
        source_id,
    })
}

/// Future-dated folders named in a report (all are counted).
const FUTURE_SHOWN: usize = 20;

/// A source with no CloudTrail log object in it: what was expected, and
/// what was there instead.
#[derive(Debug)]
pub struct NoLogs {
    pub url: String,
    pub folders: u64,
    pub objects: u64,
    /// Some objects found that are not CloudTrail logs.
    pub found: Vec<String>,
    /// What lies beside SRC, when SRC itself held nothing.
    pub beside: Vec<String>,
    /// `--account`/`--region` narrowed the walk.
    pub filtered: bool,
    /// `--since`/`--until`'s days, when given: only their day folders were
    /// listed.
    pub window: Option<String>,
}

impl std::fmt::Display for NoLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(window) = &self.window {
            return write!(
                f,
                "no CloudTrail log objects under {} in the day folders of {window} \
                 (--since/--until; {} folder(s) listed, {} object(s) found): they select the days \
                 CloudTrail delivered logs in; widen them, or leave them out to read every day \
                 not read yet",
                self.url, self.folders, self.objects
            );
        }
        write!(
            f,
            "no CloudTrail log objects under {} ({} folder(s) listed, {} object(s) found). \
             Expected CloudTrail's layout: \
             AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<file>.json.gz (or \
             AWSLogs/o-<org>/<account>/...); point --source at the bucket or any prefix of that",
            self.url, self.folders, self.objects
        )?;
        if self.filtered {
            write!(f, ", and check --account and --region")?;
        }
        if !self.found.is_empty() {
            write!(f, ". Found instead: {}", self.found.join(", "))?;
            if self.objects > self.found.len() as u64 {
                write!(f, ", ...")?;
            }
        } else if !self.beside.is_empty() {
            write!(f, ". Beside it: {}", self.beside.join(", "))?;
        }
        Ok(())
    }
}

/// Up to eight names in the folder that holds SRC (one listing), to show
/// a user who mistyped the last part of SRC what is there.
async fn beside(src: &Location) -> Vec<String> {
    let mut parts: Vec<_> = src.prefix.parts().collect();
    if parts.pop().is_none() {
        return Vec::new();
    }
    let parent: object_store::path::Path = parts.into_iter().collect();
    let Ok(listed) = src.store.list_with_delimiter(Some(&parent)).await else {
        return Vec::new();
    };
    let root = src.url.rsplit_once('/').map_or("", |(r, _)| r);
    let names = listed
        .common_prefixes
        .iter()
        .map(|p| format!("{}/", p.filename().unwrap_or("")))
        .chain(
            listed
                .objects
                .iter()
                .map(|o| o.location.filename().unwrap_or("").to_string()),
        );
    names.take(8).map(|n| format!("{root}/{n}")).collect()
}

/// The state this owner left; for an owner that has none yet, what every
/// other owner left together (the earliest day of each region, so nothing
/// any of them missed is missed).
async fn read_state(
    lake: &Lake,
    source_id: &str,
    owner: layout::Owner,
) -> Result<SourceState, CompactError> {
    if let Some(s) = lake
        .get_json::<SourceState>(&layout::source_state(source_id, owner))
        .await?
    {
        return Ok(s);
    }
    let mut merged: Option<SourceState> = None;
    for meta in lake.list(&layout::source_state_dir(source_id)).await? {
        let rel = lake.loc.relative(&meta.location);
        // Stray files (`.DS_Store`, notes) are not state.
        if !layout::is_state_file(&rel) {
            continue;
        }
        let Some(s) = lake.get_json::<SourceState>(&rel).await? else {
            continue;
        };
        merged = Some(match merged {
            None => s,
            Some(mut m) => {
                // Only regions every owner has seen keep a window.
                m.latest.retain(|k, _| s.latest.contains_key(k));
                for (k, v) in &s.latest {
                    if let Some(mine) = m.latest.get_mut(k) {
                        if v < mine {
                            *mine = v.clone();
                        }
                    }
                }
                m.retry.extend(s.retry);
                m
            }
        });
    }
    Ok(merged.unwrap_or_default())
}

/// Ledger lists of releases that kept one list of source URLs per run
/// (`_traillake/ledger/<run>.json`), for the objects under `source`:
/// honoured, and converted into per-folder segments by the commit.
async fn read_legacy(lake: &Lake, source: &str) -> Result<Option<Legacy>, CompactError> {
    let (objects, _) = lake.list_dir(&layout::ledger_root()).await?;
    if objects.is_empty() {
        return Ok(None);
    }
    let mut legacy = Legacy::default();
    let prefix = format!("{source}/");
    for meta in objects {
        let rel = lake.loc.relative(&meta.location);
        if !layout::is_state_file(&rel) {
            continue;
        }
        let Some(urls) = lake.get_json::<Vec<String>>(&rel).await? else {
            continue;
        };
        let mut all = true;
        for url in urls {
            match url.strip_prefix(&prefix) {
                Some(key) => {
                    let (folder, name) = key.rsplit_once('/').unwrap_or(("", key));
                    legacy
                        .folders
                        .entry(folder.to_string())
                        .or_default()
                        .push(name.to_string());
                }
                None => all = false,
            }
        }
        if all {
            legacy.files.push(rel);
        }
    }
    Ok(Some(legacy))
}

/// The state a run leaves: the last day listed in each region folder (never
/// earlier than before), and the folders to list again.
pub fn next_state(plan: &Plan, source_url: &str, failed_files: &BTreeSet<String>) -> SourceState {
    let mut state = plan.state.clone();
    state.source = source_url.to_string();
    for (region, day) in &plan.latest {
        let day = day.to_string();
        let e = state.latest.entry(region.clone()).or_insert(day.clone());
        if day > *e {
            *e = day;
        }
    }
    // Folders still failing, and those to retry that this run did not
    // get to (filtered out, say).
    let kept: Vec<String> = state
        .retry
        .iter()
        .filter(|f| !plan.listed_folders.contains(*f))
        .cloned()
        .collect();
    state.retry = plan
        .failed_folders
        .iter()
        .chain(failed_files)
        .cloned()
        .chain(kept)
        .collect();
    state
}
