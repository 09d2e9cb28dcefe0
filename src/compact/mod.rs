//! `compact`, the nightly job, in stages:
//!
//! 1. **lease** ([`crate::lake::lease`]): one unsharded run at a time, one
//!    run per shard;
//! 2. **recover** ([`crate::lake::Lake::recover`]): finish or roll back what
//!    an interrupted run left;
//! 3. **plan** ([`plan`]): the window from the lake's state, the listing of
//!    the folders in it, their ledgers, and the objects to read;
//! 4. **fetch and decode** ([`fetch`]): chunks of objects gunzipped and
//!    decoded on the pool, a chunk ahead;
//! 5. **stage** ([`stage`]): each partition's new rows merged with the files
//!    the policy picks ([`policy`]), checked against the rest, written to
//!    staging; partitions no longer receiving rows are staged while later
//!    chunks decode, and the largest are spilled when rows in memory pass
//!    the budget;
//! 6. **commit** ([`commit`]): ledger segments, the source's state, the
//!    quarantine and the report are staged too, then one journal switches
//!    everything in ([`crate::lake`]).
//!
//! Every count is checked on the way: a run whose rows do not add up fails
//! before it commits.

pub mod commit;
pub mod fetch;
pub mod memory;
pub mod plan;
pub mod policy;
pub mod quarantine;
pub mod read;
pub mod stage;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::lake::layout::{self, Owner};
use crate::lake::lease::Lease;
use crate::lake::{Lake, LakeError};
use crate::partition::PartitionKey;
use crate::progress::{Phase, Progress};
use crate::report::RunReport;
use crate::sink::{SinkError, WriteOptions};
use crate::source::{SourceFilter, SourceObject};
use crate::store::{Location, LocationError};
use fetch::{DecodeSettings, Decoding, Fetched};
use quarantine::QuarantineFile;
use stage::{PartitionBuffer, Spiller, Stager, Staging};

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("the lake {lake} lies inside the source {source_url}: it would ingest its own output")]
    LakeInsideSource { lake: String, source_url: String },
    #[error("{0}")]
    Reconcile(Reconcile),
    #[error("{0}")]
    NoLogs(plan::NoLogs),
    #[error("{url}: listing failed: {reason}")]
    Listing { url: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("stopped by {signal} before committing: nothing of this run is in the lake; the next run reads its input again")]
    Interrupted { signal: &'static str },
    #[error("{0}")]
    Damaged(Damaged),
    #[error("could not start the {what}: {source}")]
    Runtime {
        what: &'static str,
        source: std::io::Error,
    },
}

/// Lake files that are not what the runs that wrote them left: the run
/// stops before merging around them, and names `repair`.
#[derive(Debug)]
pub struct Damaged {
    pub lake: String,
    pub source_url: String,
    /// `(url, what is wrong)`.
    pub files: Vec<(String, crate::lake::manifest::Damage)>,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the lake is damaged: {} file(s) are not what the runs that wrote them left:",
            self.files.len()
        )?;
        for (url, d) in self.files.iter().take(10) {
            write!(f, "\n  {url}: {d}")?;
        }
        if self.files.len() > 10 {
            write!(f, "\n  ... and {} more", self.files.len() - 10)?;
        }
        write!(
            f,
            "\nNothing of this run was committed. `traillake verify --lake {lake}` lists all \
             damage; `traillake repair --source {src} --lake {lake}` sets aside what is \
             unreadable or foreign and reads the source folders that fed these partitions \
             again; then compact runs as before",
            lake = crate::store::shell_word(&self.lake),
            src = crate::store::shell_word(&self.source_url),
        )
    }
}

/// Counts that do not add up: a bug, reported loudly instead of committed.
#[derive(Debug)]
pub struct Reconcile {
    pub what: String,
}

impl Reconcile {
    pub fn overflow(what: &str) -> CompactError {
        CompactError::Reconcile(Reconcile {
            what: format!("{what}: count overflowed"),
        })
    }
}

impl std::fmt::Display for Reconcile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "counts do not reconcile ({}); nothing was committed. This is a bug: please \
             report it",
            self.what
        )
    }
}

/// Everything `compact` needs, resolved from flags and config.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    pub source: Location,
    pub lake: Location,
    pub filter: SourceFilter,
    pub full_scan: bool,
    /// Days before the last day seen in a region listed again.
    pub lookback_days: u32,
    pub threads: usize,
    pub dry_run: bool,
    pub write: WriteOptions,
    /// Decoded bytes in memory, across partitions, before spilling.
    pub memory_budget: usize,
    /// Compressed bytes fetched per step.
    pub chunk_bytes: u64,
    /// Largest JSON a log object may decompress to.
    pub max_file_bytes: usize,
    /// What the run has done so far, for the caller to show.
    pub progress: Arc<Progress>,
    pub shard: Option<Shard>,
    /// Small files of one generation that make a merge.
    pub merge_at: usize,
    /// A lease not renewed for this long is taken over.
    pub lease_timeout: Duration,
    /// Where spill files go.
    pub spill_dir: PathBuf,
    /// How spill files are compressed.
    pub spill_codec: crate::sink::spill::SpillCodec,
    /// The newest day a source folder may be dated (default: tomorrow,
    /// UTC); later folders are reported and left for their day.
    pub newest_day: Option<crate::partition::Date>,
    /// The Delta log a run commits to.
    pub delta: crate::lake::delta::DeltaSettings,
}

impl CompactOptions {
    /// Options with defaults for everything but where to read and write.
    pub fn new(source: Location, lake: Location) -> Self {
        let memory_budget = 512 << 20;
        Self {
            source,
            lake,
            filter: SourceFilter::default(),
            full_scan: false,
            lookback_days: DEFAULT_LOOKBACK_DAYS,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            dry_run: false,
            write: WriteOptions::default(),
            memory_budget,
            // With chunks queued back to back, 4 MB is as fast as 8 MB
            // (medians 1.55 vs 1.68 s, 5 alternating runs on 430 MB of
            // JSON) and peaks ~100 MiB lower.
            chunk_bytes: 4 << 20,
            max_file_bytes: max_file_bytes(memory_budget),
            progress: Arc::default(),
            shard: None,
            merge_at: 8,
            lease_timeout: Duration::from_secs(600),
            spill_dir: std::env::temp_dir(),
            spill_codec: Default::default(),
            newest_day: None,
            delta: crate::lake::delta::DeltaSettings::default(),
        }
    }

    fn owner(&self) -> Owner {
        self.shard.map_or(Owner::All, Shard::owner)
    }

    fn window(&self) -> String {
        if self.full_scan {
            return "full scan".into();
        }
        match (self.filter.since, self.filter.until) {
            (None, None) => format!(
                "the last day seen in each region folder, minus {} days",
                self.lookback_days
            ),
            (s, u) => format!(
                "{} to {}",
                s.map_or("the first day".into(), |d| d.to_string()),
                u.map_or("the last day".into(), |d| d.to_string())
            ),
        }
    }
}

/// CloudTrail delivers a log file about 5 minutes after the calls it holds,
/// usually within 15 minutes, into the folder of the day it delivers it
/// (so a late event lands in a newer folder, never an older one). Files do
/// land in older folders when a trail's bucket is filled by replication
/// or copied in late, and when CloudTrail delivers again after an outage.
/// Three days covers those with a margin, at a few LISTs per region.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 3;

/// The per-file limit for a memory budget: an eighth of it (a file is
/// decoded by one thread, and its tape can be several times its size),
/// between 16 MiB and 1 GiB.
pub fn max_file_bytes(memory_budget: usize) -> usize {
    (memory_budget / 8).clamp(16 << 20, crate::source::MAX_DECOMPRESSED)
}

/// One of N machines splitting a night's work with no coordination
/// (`--shard K/N`). By default a shard takes the source objects whose folder
/// (account, region, date from the path) hashes to K; with `by_object`, the
/// objects whose key does, so one busy folder is spread over every shard.
/// A shard owns the lake files it writes: it merges and replaces only its
/// own files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
    pub by_object: bool,
}

impl Shard {
    /// `K/N`, or `N` alone with K from `AWS_BATCH_JOB_ARRAY_INDEX` (AWS
    /// Batch array jobs) or `JOB_COMPLETION_INDEX` (Kubernetes indexed jobs).
    pub fn parse(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let bad = || format!("--shard {s:?}: expected K/N (0 <= K < N) or N");
        let (k, n) = match s.split_once('/') {
            Some((k, n)) => (k.trim().to_string(), n),
            None => {
                let k = env("AWS_BATCH_JOB_ARRAY_INDEX")
                    .or_else(|| env("JOB_COMPLETION_INDEX"))
                    .ok_or_else(|| {
                        format!(
                            "--shard {s}: no shard index: give K/N, or set \
                             AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX"
                        )
                    })?;
                (k, s)
            }
        };
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self {
            index,
            count,
            by_object: false,
        })
    }

    pub fn owner(self) -> Owner {
        Owner::Shard {
            index: self.index,
            count: self.count,
        }
    }

    /// Whether this shard takes the object at `key` (relative to SRC).
    pub fn takes(&self, key: &str) -> bool {
        let unit = if self.by_object {
            key.to_string()
        } else {
            let h = crate::partition::PathHints::from_key(key);
            match (&h.account, &h.region, h.date) {
                (Some(a), Some(r), Some(d)) => format!("{a}/{r}/{d}"),
                // Not in CloudTrail's layout: the object's folder decides.
                _ => key.rsplit_once('/').map_or("", |(dir, _)| dir).to_string(),
            }
        };
        fnv1a(unit.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }
}

/// FNV-1a: stable across releases and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The signal that asked the run to stop, if any (0 none, 15 TERM, 2 INT).
static STOP: AtomicU8 = AtomicU8::new(0);

fn stop_requested() -> Option<&'static str> {
    match STOP.load(Ordering::Relaxed) {
        0 => None,
        2 => Some("SIGINT"),
        _ => Some("SIGTERM"),
    }
}

/// Whether a stop was asked for; the stages check it between steps.
pub(crate) fn stopping() -> Result<(), CompactError> {
    match stop_requested() {
        Some(signal) => Err(CompactError::Interrupted { signal }),
        None => Ok(()),
    }
}

/// Set from the moment the journal is about to be written: a stop then
/// waits for the commit to finish (it is short, and the next run would
/// only finish it).
static COMMITTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Seconds a stopping run has to reach its next check before it exits
/// anyway: Batch and Kubernetes send SIGKILL 30 s after SIGTERM; a
/// runner's own grace is often 10 s.
const STOP_GRACE: Duration = Duration::from_secs(4);

/// Waits for SIGTERM or SIGINT and asks the run to stop. If it has not
/// stopped within [`STOP_GRACE`] (a long listing, a large merge or row
/// group) and is not committing, it exits here: nothing of the run is
/// visible before its journal, so this is as safe as SIGKILL, and the lease
/// is given back first so the next run need not wait for it to go stale.
async fn stop(lake: Lake, owner: Owner, run_id: String, spill: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    let code = tokio::select! {
        _ = term.recv() => 15,
        _ = int.recv() => 2,
    };
    STOP.store(code, Ordering::Relaxed);
    tokio::time::sleep(STOP_GRACE).await;
    if COMMITTING.load(Ordering::Relaxed) {
        return;
    }
    let rel = layout::lease(owner);
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        if let Ok(Some(h)) = lake.get_json::<crate::lake::lease::Holder>(&rel).await {
            if h.run_id == run_id {
                let _ = lake.delete(&rel).await;
            }
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(spill);
    eprintln!(
        "traillake: stopped by {} before committing: nothing of this run is in the lake; the next \
         run reads its input again",
        stop_requested().unwrap_or("a signal")
    );
    std::process::exit(1);
}

/// Runs `compact`. The report is also committed under `_traillake/runs/`.
pub fn compact(opts: &CompactOptions) -> Result<RunReport, CompactError> {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| CompactError::Runtime {
            what: "I/O runtime",
            source,
        })?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| CompactError::Runtime {
            what: "thread pool",
            source: std::io::Error::other(e),
        })?;
    let src = &opts.source;
    let owner = opts.owner();
    let run_id = layout::new_run_id(owner);
    // SIGTERM and SIGINT stop the run at the next step, cleanly; a step
    // that does not end within a few seconds is cut short (see `stop`).
    rt.spawn(stop(
        Lake::new(opts.lake.clone()),
        owner,
        run_id.clone(),
        opts.spill_dir.join(format!("traillake-spill-{run_id}")),
    ));

    let mut report = RunReport {
        run_id: run_id.clone(),
        source: src.url.clone(),
        lake: opts.lake.url.clone(),
        dry_run: opts.dry_run,
        shard: opts.shard.map(|s| s.owner().tag()),
        window: opts.window(),
        ..RunReport::default()
    };
    if src.contains(&opts.lake) {
        return Err(CompactError::LakeInsideSource {
            lake: opts.lake.url.clone(),
            source_url: src.url.clone(),
        });
    }
    let lake = Lake::new(opts.lake.clone());
    opts.progress.set_phase(Phase::Starting);
    if opts.dry_run {
        let exists = lake.loc.local.as_ref().is_none_or(|d| d.exists());
        let plan = rt.block_on(plan::plan(
            src,
            exists.then_some(&lake),
            opts,
            owner,
            &mut report,
        ))?;
        return Ok(dry_run(&plan.to_read, report, started, opts));
    }
    let lease = rt.block_on(Lease::acquire(&lake, owner, &run_id, opts.lease_timeout))?;
    let result = run(
        opts, &rt, &pool, &lake, &lease, &run_id, owner, report, started,
    );
    // The lease goes back whatever happened; a failure to give it back is
    // only worth a word (it goes stale).
    if let Err(e) = rt.block_on(lease.release()) {
        eprintln!("traillake: could not give the lease back: {e}");
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn run(
    opts: &CompactOptions,
    rt: &tokio::runtime::Runtime,
    pool: &rayon::ThreadPool,
    lake: &Lake,
    lease: &Lease,
    run_id: &str,
    owner: Owner,
    mut report: RunReport,
    started: Instant,
) -> Result<RunReport, CompactError> {
    let src = &opts.source;
    report.recovered_runs = rt.block_on(lake.recover(owner))?;
    // Replaced files kept past their time go; those still kept are left
    // out of the partitions' files from here on.
    let now_ms = chrono::Utc::now().timestamp_millis();
    rt.block_on(crate::lake::retained::expire(lake, owner, now_ms))?;
    let lake = &rt.block_on(lake.clone().leaving_out_kept())?;
    let plan = rt.block_on(plan::plan(src, Some(lake), opts, owner, &mut report))?;
    let to_read = &plan.to_read;
    let progress = &opts.progress;
    progress.objects_to_read.add(to_read.len() as u64);
    progress
        .bytes_to_read
        .add(to_read.iter().map(|o| o.size).sum());
    progress.set_phase(Phase::Reading);

    let spill_dir = crate::sink::spill::SpillDir::create(&opts.spill_dir, run_id)?;
    let quarantine_path = spill_dir.path.join("quarantine.jsonl");
    let quarantine = Arc::new(QuarantineFile::create(quarantine_path.clone()).map_err(
        |source| CompactError::Io {
            path: quarantine_path.display().to_string(),
            source,
        },
    )?);
    let settings = DecodeSettings {
        max_file_bytes: opts.max_file_bytes,
        quarantine: quarantine.clone(),
    };

    let mut buffers: HashMap<PartitionKey, PartitionBuffer> = HashMap::new();
    let mut buffered = 0usize;
    let mut read: Vec<SourceObject> = Vec::new();
    let mut failed_folders: BTreeSet<String> = BTreeSet::new();
    let mut peak_in_use = 0u64;
    let batch_bytes = (opts.memory_budget / 64).clamp(32 << 10, 8 << 20);
    let mut write = opts.write.clone();
    write.row_group_bytes = write
        .row_group_bytes
        .min((opts.memory_budget / 4).max(1 << 20));
    // Two partitions in flight per thread, not one: with many small
    // partitions the main thread otherwise waits on a staging job instead
    // of queueing the next chunk (8,640 small files, 30 partitions: median
    // 0.66 -> 0.62 s; the 430 MB run and peak memory unchanged).
    let mut spiller = Spiller::new(spill_dir.path.clone(), batch_bytes, opts.spill_codec);
    let mut stager = Stager::new(
        Staging {
            handle: rt.handle().clone(),
            lake: lake.clone(),
            run_id: run_id.to_string(),
            owner,
            write,
            merge_at: opts.merge_at,
            batch_bytes,
            spill_dir: spill_dir.path.clone(),
            spill_codec: opts.spill_codec,
            memory_budget: opts.memory_budget,
            progress: progress.clone(),
            source_url: opts.source.arg(),
        },
        opts.threads * 2,
    );

    // Chunk i+1 is queued for decoding behind chunk i, and chunk i+2 is
    // fetched, while chunk i's results are taken in: the pool never waits
    // at a chunk's end for its last slice (that barrier left a core idle
    // ~10% of a run, seen in perf samples per 50 ms).
    let chunks = fetch::chunks(to_read, opts.chunk_bytes);
    let max_stored = opts.max_file_bytes as u64;
    let spawn_fetch = |i: usize| {
        chunks
            .get(i)
            .map(|c| rt.spawn(fetch::fetch(src.clone(), c.to_vec(), max_stored)))
    };
    let start_next = |next: Option<tokio::task::JoinHandle<Vec<Fetched>>>| {
        next.map(|h| {
            let fetched = rt.block_on(h).expect("fetching does not panic");
            Decoding::start(pool, fetched, opts.threads, &settings)
        })
    };
    let mut decoding = start_next(spawn_fetch(0));
    let mut next = spawn_fetch(1);
    for i in 0..chunks.len() {
        if let Some(signal) = stop_requested() {
            return Err(CompactError::Interrupted { signal });
        }
        let current = decoding.take().expect("every chunk is started");
        decoding = start_next(next.take());
        next = spawn_fetch(i + 2);
        for slice in current.wait() {
            progress
                .objects_read
                .add((slice.read.len() + slice.failed.len()) as u64);
            progress.bytes_read.add(slice.bytes_in);
            progress.json_bytes.add(slice.json_bytes);
            progress.records.add(slice.records);
            report.inputs_read += slice.read.len() as u64;
            report.records_read += slice.records;
            report.records_quarantined += slice.records_quarantined;
            report.json_bytes_in += slice.json_bytes;
            report.bytes_in += slice.bytes_in;
            report.files_quarantined += slice.failed.len() as u64;
            failed_folders.extend(slice.failed.iter().map(|o| o.folder().to_string()));
            read.extend(slice.read);
            for (key, batch) in slice.batches {
                let size = batch.get_array_memory_size();
                buffered += size;
                let b = buffers.entry(key).or_default();
                b.bytes += size;
                b.rows += batch.num_rows() as u64;
                crate::lake::manifest::note_sources(&batch, &mut b.sources);
                crate::lake::manifest::note_superseded(&batch, &mut b.superseded);
                b.batches.push(batch);
                b.last_chunk = i;
            }
        }
        // A partition this chunk brought nothing to is done, as far as the
        // source's order can tell: folders are listed account, region, day
        // in turn, and an event lands at most a folder or so after its own
        // day's. Stage it now, on the pool, while the next chunk decodes.
        let mut idle: Vec<PartitionKey> = buffers
            .iter()
            .filter(|(k, b)| b.last_chunk < i && !stager.is_staging(k))
            .map(|(k, _)| k.clone())
            .collect();
        idle.sort();
        for key in idle {
            if spiller.is_spilling(&key) {
                spiller.wait(&mut buffers)?;
            }
            let buffer = buffers.remove(&key).expect("present");
            buffered -= buffer.bytes;
            stager.stage(pool, key, buffer)?;
        }
        memory::release_free_memory(&mut peak_in_use, opts.memory_budget as u64);
        // Rows in memory, with those being spilled, stay under 3/8 of the
        // budget (the rest is for the chunks being decoded, the spill being
        // written and the encoders): past it, the largest partitions are
        // spilled, one at a time on the pool, until 1/8 is left in memory.
        let limit = opts.memory_budget / 8 * 3;
        spiller.poll(&mut buffers)?;
        if buffered + spiller.bytes() > limit {
            while buffered > opts.memory_budget / 8 {
                let Some((key, _)) = buffers
                    .iter()
                    .filter(|(_, b)| !b.batches.is_empty())
                    .max_by_key(|(k, b)| (b.bytes, std::cmp::Reverse((*k).clone())))
                else {
                    break;
                };
                let key = key.clone();
                buffered -= buffers[&key].bytes;
                spiller.start(pool, &mut buffers, key)?;
            }
        }
    }
    let partitions = stager
        .partitions()
        .chain(buffers.keys())
        .collect::<BTreeSet<_>>()
        .len();
    progress.partitions_total.add(partitions as u64);
    progress.set_phase(Phase::Writing);
    spiller.wait(&mut buffers)?;
    // What is left: the last partitions, largest first, so that the run
    // does not end with one core encoding a large partition alone.
    let mut keys: Vec<(usize, PartitionKey)> =
        buffers.iter().map(|(k, b)| (b.bytes, k.clone())).collect();
    keys.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (_, key) in keys {
        let buffer = buffers.remove(&key).expect("present");
        stager.stage(pool, key, buffer)?;
    }
    let staged = stager.finish()?;
    if let Some(signal) = stop_requested() {
        return Err(CompactError::Interrupted { signal });
    }
    quarantine.close().map_err(|source| CompactError::Io {
        path: quarantine_path.display().to_string(),
        source,
    })?;
    let (examples, by_reason) = quarantine.summary();
    report.quarantined.extend(examples);
    report.quarantined.truncate(quarantine::EXAMPLES);
    for (reason, n) in by_reason {
        *report.quarantined_by_reason.entry(reason).or_default() += n;
    }

    let journal = commit::prepare(
        rt,
        lake,
        opts,
        run_id,
        &plan,
        &read,
        &failed_folders,
        staged,
        (!quarantine.is_empty()).then_some(quarantine_path.as_path()),
        &mut report,
        started,
    )?;
    if let Some(signal) = stop_requested() {
        return Err(CompactError::Interrupted { signal });
    }
    rt.block_on(lease.verify())?;
    COMMITTING.store(true, Ordering::Relaxed);
    stopping()?;
    progress
        .files_to_commit
        .add((journal.moves.len() + journal.deletes.len()) as u64);
    progress.set_phase(Phase::Committing);
    let commit_started = Instant::now();
    let committed = rt.block_on(lake.commit_counting(&journal, &progress.files_committed))?;
    report.commit_seconds = commit_started.elapsed().as_secs_f64();
    if let Some(crate::lake::delta::Committed::Version { version, .. }) = committed {
        report.delta_version = Some(version);
    }
    progress.set_phase(Phase::Done);
    if let Some(signal) = stop_requested() {
        eprintln!("traillake: {signal} came while committing; the commit was finished first");
    }
    Ok(report)
}

/// `--dry-run`: what would be read, one line each, on stdout.
fn dry_run(
    to_read: &[SourceObject],
    mut report: RunReport,
    started: Instant,
    opts: &CompactOptions,
) -> RunReport {
    for o in to_read {
        println!("read\t{}\t{}", o.size, o.url);
    }
    report.inputs_skipped += to_read.len() as u64;
    report.seconds = started.elapsed().as_secs_f64();
    report.source_requests = opts.source.requests.snapshot();
    report.lake_requests = opts.lake.requests.snapshot();
    report
}

impl From<std::io::Error> for CompactError {
    fn from(source: std::io::Error) -> Self {
        CompactError::Io {
            path: String::new(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parses_k_of_n_and_the_batch_and_kubernetes_indexes() {
        let none = |_: &str| None;
        let shard = |index, count| Shard {
            index,
            count,
            by_object: false,
        };
        assert_eq!(Shard::parse("1/4", none), Ok(shard(1, 4)));
        assert!(Shard::parse("4/4", none).is_err());
        assert!(Shard::parse("0/0", none).is_err());
        assert!(Shard::parse("4", none)
            .unwrap_err()
            .contains("AWS_BATCH_JOB_ARRAY_INDEX"));
        let batch = |k: &str| (k == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "2".to_string());
        assert_eq!(Shard::parse("3", batch), Ok(shard(2, 3)));
        let k8s = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "0".to_string());
        assert_eq!(Shard::parse("3", k8s), Ok(shard(0, 3)));
    }

    #[test]
    fn every_object_goes_to_exactly_one_shard_by_folder_or_by_object() {
        for by_object in [false, true] {
            for i in 0..200 {
                let key = format!(
                    "AWSLogs/{}/CloudTrail/us-east-1/2024/01/{:02}/f{i}.json.gz",
                    i % 3,
                    i % 28 + 1
                );
                let takers = (0..5)
                    .filter(|&k| {
                        Shard {
                            index: k,
                            count: 5,
                            by_object,
                        }
                        .takes(&key)
                    })
                    .count();
                assert_eq!(takers, 1, "{key}");
            }
        }
        // By object, one folder's files spread over the shards.
        let spread: BTreeSet<u32> = (0..50)
            .map(|i| format!("AWSLogs/1/CloudTrail/us-east-1/2024/01/15/f{i}.json.gz"))
            .map(|key| {
                (0..4)
                    .find(|&k| {
                        Shard {
                            index: k,
                            count: 4,
                            by_object: true,
                        }
                        .takes(&key)
                    })
                    .unwrap()
            })
            .collect();
        assert_eq!(spread.len(), 4);
    }
}
