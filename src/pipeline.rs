//! `compact`: list -> fetch -> gunzip + decode (rayon) -> per-partition
//! buffers -> merge with the lake -> staged Parquet -> commit.
//!
//! The source is read in chunks of `chunk_bytes`: while one chunk's results
//! are taken in, the next is already queued for decoding and the one after
//! is being fetched. A partition that a chunk brought no rows to is staged
//! at once (merged with the lake's files, encoded, written to staging) by a
//! job on the same pool, overlapping encoding with the decoding of later
//! chunks; rows that still arrive for it are merged into what was staged at
//! the end. So memory holds the partitions in flight, not the run: when the
//! buffered rows pass `memory_budget` anyway, the largest partitions are
//! written out as sorted spill files under staging and merged when staged.
//! Measured on 430 MB of JSON: 2.36 -> 1.94 s and 577 -> 396 MiB peak RSS
//! against staging everything after the last chunk.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use object_store::path::Path;
use object_store::ObjectStoreExt;

use crate::decode::{Decoder, Quarantined};
use crate::lake::{Journal, Lake, LakeError, STATE_DIR};
use crate::partition::PartitionKey;
use crate::report::RunReport;
use crate::sink::{self, SinkError, WriteOptions};
use crate::source::{self, SkipReason, SourceFilter, SourceObject};
use crate::store::{Location, LocationError};

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("{url}: listing failed: {source}")]
    List {
        url: String,
        source: object_store::Error,
    },
    #[error("the lake {lake} lies inside the source {source_url}: it would ingest its own output")]
    LakeInsideSource { lake: String, source_url: String },
    #[error("{0}")]
    Runtime(String),
}

/// Everything `compact` needs, resolved from flags and config.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    pub source: String,
    pub lake: String,
    pub filter: SourceFilter,
    pub threads: usize,
    pub dry_run: bool,
    pub write: WriteOptions,
    /// Decoded bytes buffered across partitions before spilling.
    pub memory_budget: usize,
    /// Compressed bytes fetched per step.
    pub chunk_bytes: u64,
    pub progress: bool,
    pub shard: Option<Shard>,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self {
            source: String::new(),
            lake: String::new(),
            filter: SourceFilter::default(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            dry_run: false,
            write: WriteOptions::default(),
            memory_budget: 512 << 20,
            // With chunks queued back to back, 4 MB is as fast as 8 MB
            // (medians 1.55 vs 1.68 s, 5 alternating runs on 430 MB of
            // JSON) and peaks ~100 MiB lower (270-300 vs 370-390 MiB).
            chunk_bytes: 4 << 20,
            progress: false,
            shard: None,
        }
    }
}

/// Rows of one partition gathered during a run.
#[derive(Default)]
struct PartitionBuffer {
    batches: Vec<RecordBatch>,
    bytes: usize,
    spills: Vec<Path>,
    duplicates: u64,
    /// The last chunk that brought rows.
    last_chunk: usize,
}

/// What decoding one slice of a chunk produced.
#[derive(Default)]
struct DecodedSlice {
    batches: Vec<(PartitionKey, RecordBatch)>,
    quarantined: Vec<Quarantined>,
    read: Vec<String>,
    records: u64,
    records_quarantined: u64,
    json_bytes: u64,
    bytes_in: u64,
}

/// One of N machines splitting a night's work with no coordination
/// (`--shard K/N`). A shard takes the source objects whose folder's
/// partition (account, region, date from the path) hashes to K, and owns the
/// lake files it writes: it merges and replaces only its own files, so
/// shards never touch each other's, even in the partition of an event
/// delivered into the next day's folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
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
        Ok(Self { index, count })
    }

    /// Name part that marks this shard's runs and files: `s1of4`.
    pub fn tag(&self) -> String {
        format!("s{}of{}", self.index, self.count)
    }

    /// Whether this shard takes the object at `key`.
    pub fn takes(&self, key: &str) -> bool {
        let h = crate::partition::PathHints::from_key(key);
        let folder = match (&h.account, &h.region, h.date) {
            (Some(a), Some(r), Some(d)) => format!("{a}/{r}/{d}"),
            // Not in CloudTrail's layout: the object's folder decides.
            _ => key.rsplit_once('/').map_or("", |(dir, _)| dir).to_string(),
        };
        fnv1a(folder.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }
}

/// FNV-1a: stable across releases and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A unique, sortable run id: UTC time, shard tag, process id.
pub fn new_run_id(shard: Option<Shard>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let d = crate::partition::Date::from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}-{:06}-{}-{:x}",
        d.year,
        d.month,
        d.day,
        t / 3600,
        t / 60 % 60,
        t % 60,
        now.subsec_micros(),
        shard.map_or("all".to_string(), |s| s.tag()),
        std::process::id()
    )
}

/// Runs `compact`. The report is also written under `_traillake/runs/`.
pub fn compact(opts: &CompactOptions) -> Result<RunReport, CompactError> {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CompactError::Runtime(e.to_string()))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| CompactError::Runtime(e.to_string()))?;

    let src = Location::parse(&opts.source, false)?;
    let run_id = new_run_id(opts.shard);
    let owner = opts.shard.map(|s| s.tag());
    let owner = owner.as_deref();
    let mut report = RunReport {
        run_id: run_id.clone(),
        source: src.url.clone(),
        lake: opts.lake.clone(),
        dry_run: opts.dry_run,
        shard: opts.shard.map(|s| s.tag()),
        ..RunReport::default()
    };
    // A dry run creates nothing: a lake that does not exist yet is empty.
    if opts.dry_run && !std::path::Path::new(&opts.lake).exists() && !opts.lake.contains("://") {
        let to_read = plan(&rt, &src, opts, &HashSet::new(), &mut report)?;
        return Ok(dry_run(&to_read, report, started));
    }
    let lake = Lake::new(Location::parse(&opts.lake, !opts.dry_run)?);
    report.lake = lake.loc.url.clone();
    if src.contains(&lake.loc) {
        return Err(CompactError::LakeInsideSource {
            lake: lake.loc.url.clone(),
            source_url: src.url.clone(),
        });
    }
    if !opts.dry_run {
        report.recovered_runs = rt.block_on(lake.recover(owner))?;
    }
    let ledger = rt.block_on(lake.read_ledger())?;
    let to_read = plan(&rt, &src, opts, &ledger, &mut report)?;
    if opts.dry_run {
        return Ok(dry_run(&to_read, report, started));
    }

    let progress = progress_bar(opts.progress, to_read.iter().map(|o| o.size).sum());
    let mut buffers: HashMap<PartitionKey, PartitionBuffer> = HashMap::new();
    let mut buffered = 0usize;
    let mut ledger_add = Vec::new();
    let mut spill_seq = 0usize;
    let mut peak_in_use = 0u64;
    // Two partitions in flight per thread, not one: with many small
    // partitions the main thread otherwise waits on a staging job instead
    // of queueing the next chunk (8,640 small files, 30 partitions: median
    // 0.66 -> 0.62 s; the 430 MB run and peak memory unchanged).
    let mut stager = Stager::new(&lake, &run_id, owner, &opts.write, &rt, opts.threads * 2);

    // Chunk i+1 is queued for decoding behind chunk i, and chunk i+2 is
    // fetched, while chunk i's results are taken in: the pool never waits
    // at a chunk's end for its last slice (that barrier left a core idle
    // ~10% of a run, seen in perf samples per 50 ms).
    let chunks = chunks(&to_read, opts.chunk_bytes);
    let spawn_fetch = |i: usize| {
        chunks
            .get(i)
            .map(|c| rt.spawn(fetch(src.clone(), c.to_vec())))
    };
    let start_next = |next: Option<tokio::task::JoinHandle<Vec<Fetched>>>| {
        next.map(|h| {
            rt.block_on(h)
                .map(|fetched| Decoding::start(&pool, fetched, opts.threads))
                .map_err(|e| CompactError::Runtime(e.to_string()))
        })
        .transpose()
    };
    let mut decoding = start_next(spawn_fetch(0))?;
    let mut next = spawn_fetch(1);
    for i in 0..chunks.len() {
        let current = decoding.take().expect("every chunk is started");
        decoding = start_next(next.take())?;
        next = spawn_fetch(i + 2);
        for slice in current.wait() {
            progress.inc(slice.bytes_in);
            report.inputs_read += slice.read.len() as u64;
            report.records_read += slice.records;
            report.records_quarantined += slice.records_quarantined;
            report.json_bytes_in += slice.json_bytes;
            report.bytes_in += slice.bytes_in;
            report.files_quarantined += slice
                .quarantined
                .iter()
                .filter(|q| q.record.is_none())
                .count() as u64;
            report.quarantined.extend(slice.quarantined);
            ledger_add.extend(slice.read);
            for (key, batch) in slice.batches {
                let size = batch.get_array_memory_size();
                buffered += size;
                let b = buffers.entry(key).or_default();
                b.bytes += size;
                b.batches.push(batch);
                b.last_chunk = i;
            }
        }
        progress.set_message(format!(
            "{} files, {} records",
            report.inputs_read, report.records_read
        ));
        // A partition this chunk brought nothing to is done, as far as the
        // source's order can tell: folders are listed account, region, day
        // in turn, and an event lands at most a folder or so after its own
        // day's. Stage it now, on the pool, while the next chunk decodes;
        // this overlaps encoding with decoding and frees its memory. Rows
        // that still arrive for it later are merged into what was staged.
        let mut idle: Vec<PartitionKey> = buffers
            .iter()
            .filter(|(k, b)| b.last_chunk < i && !stager.is_staging(k))
            .map(|(k, _)| k.clone())
            .collect();
        idle.sort();
        for key in idle {
            let buffer = buffers.remove(&key).expect("present");
            buffered -= buffer.bytes;
            stager.stage(&pool, key, buffer)?;
        }
        release_free_memory(&mut peak_in_use);
        // Spill the largest partitions until half the budget is free.
        while buffered > opts.memory_budget {
            let Some((key, _)) = buffers
                .iter()
                .filter(|(_, b)| !b.batches.is_empty())
                .max_by_key(|(k, b)| (b.bytes, std::cmp::Reverse((*k).clone())))
            else {
                break;
            };
            let key = key.clone();
            let b = buffers.get_mut(&key).expect("present");
            let merged = sink::merge(std::mem::take(&mut b.batches));
            b.duplicates += merged.duplicates;
            for data in pool.install(|| sink::encode(&merged, &opts.write))? {
                spill_seq += 1;
                let path = lake.state_path(&format!(
                    "staging/{run_id}/spill/{}/{spill_seq:06}.spill",
                    key.hive_path()
                ));
                rt.block_on(lake.put(&path, data))?;
                b.spills.push(path);
            }
            buffered -= b.bytes;
            b.bytes = 0;
            if buffered <= opts.memory_budget / 2 {
                break;
            }
        }
    }
    progress.finish_and_clear();

    // What is left: the last partitions, and any that got rows after they
    // were staged (merged with their staged files).
    // Largest first, so that the run does not end with one core encoding
    // a large partition alone; jobs still in flight are not waited for.
    let mut keys: Vec<(usize, PartitionKey)> =
        buffers.iter().map(|(k, b)| (b.bytes, k.clone())).collect();
    keys.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (_, key) in keys {
        let buffer = buffers.remove(&key).expect("present");
        stager.stage(&pool, key, buffer)?;
    }
    let staged = stager.finish()?;
    let mut journal = Journal {
        run_id: run_id.clone(),
        ledger: ledger_add,
        ..Journal::default()
    };
    for s in staged {
        report.bytes_out += s.bytes_out;
        report.partitions_written += 1;
        report.rows_written += s.rows_after - s.rows_before;
        report.duplicates_dropped += s.duplicates;
        report.files_written += s.moves.len() as u64;
        report.files_replaced += s.deletes.len() as u64;
        journal.moves.extend(s.moves);
        journal.deletes.extend(s.deletes);
    }

    if !journal.moves.is_empty() || !journal.ledger.is_empty() {
        rt.block_on(lake.commit(&journal))?;
    } else {
        rt.block_on(lake.recover(owner))?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    rt.block_on(write_run_files(&lake, &report))?;
    Ok(report)
}

/// Hands freed heap pages back to the system once the resident size is
/// twice the most the heap has had in use (`peak_in_use`, kept across
/// calls). Partitions come and go in buffers of every size on several
/// threads; glibc keeps the holes they leave, and without trimming the
/// resident size crept up with the input (16 MB chunks: 395 -> 514 MiB
/// from 430 MB to 1.3 GB of JSON, with 260-280 MiB in use throughout).
/// Trimming after every chunk kept it flat but made every reuse of a freed
/// page fault again: 165k page faults instead of 110k on 430 MB, and 1.3 GB
/// took 7.9 s instead of 5.8 s. Measured with 8 MB chunks on 1.3 GB: at
/// 1.5x the peak, 317k faults, 361 MiB, 6.7 s; at 2x, 105k, 371 MiB, 6.5 s.
fn release_free_memory(peak_in_use: &mut u64) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// glibc's `struct mallinfo2`.
        #[repr(C)]
        struct MallInfo2 {
            arena: usize,
            ordblks: usize,
            smblks: usize,
            hblks: usize,
            hblkhd: usize,
            usmblks: usize,
            fsmblks: usize,
            uordblks: usize,
            fordblks: usize,
            keepcost: usize,
        }
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
            fn mallinfo2() -> MallInfo2;
        }
        let Some(rss) = resident_bytes() else { return };
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let info = unsafe { mallinfo2() };
        let in_use = (info.uordblks + info.hblkhd) as u64;
        *peak_in_use = (*peak_in_use).max(in_use);
        if rss <= *peak_in_use * 2 {
            return;
        }
        // SAFETY: malloc_trim only returns unused memory to the kernel; it
        // is safe to call at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = peak_in_use;
}

/// This process's resident size, from /proc/self/status.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb << 10)
}

/// Lists the source and decides, object by object, what to read; counts
/// the rest as skipped in the report.
fn plan(
    rt: &tokio::runtime::Runtime,
    src: &Location,
    opts: &CompactOptions,
    ledger: &HashSet<String>,
    report: &mut RunReport,
) -> Result<Vec<SourceObject>, CompactError> {
    let listed = rt
        .block_on(source::list(src))
        .map_err(|source| CompactError::List {
            url: src.url.clone(),
            source,
        })?;
    let mut to_read = Vec::new();
    for meta in listed {
        report.inputs_listed += 1;
        let url = src.url_of(&meta.location);
        let rel = src.relative(&meta.location);
        let decision = source::classify(&rel, &opts.filter).and_then(|gz| {
            if opts.shard.is_some_and(|s| !s.takes(&rel)) {
                Err(SkipReason::OtherShard)
            } else if ledger.contains(&url) {
                Err(SkipReason::AlreadyIngested)
            } else {
                Ok(gz)
            }
        });
        match decision {
            Ok(gzipped) => to_read.push(SourceObject {
                path: meta.location,
                url,
                size: meta.size,
                gzipped,
            }),
            Err(reason) => {
                report.inputs_skipped += 1;
                *report.skipped_by_reason.entry(reason).or_default() += 1;
            }
        }
    }
    Ok(to_read)
}

/// `--dry-run`: what would be read, one line each, on stdout.
fn dry_run(to_read: &[SourceObject], mut report: RunReport, started: Instant) -> RunReport {
    for o in to_read {
        println!("read\t{}\t{}", o.size, o.url);
    }
    report.inputs_skipped += to_read.len() as u64;
    report.seconds = started.elapsed().as_secs_f64();
    report
}

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} gz ({bytes_per_sec}, eta {eta}) {msg}",
        )
        .expect("valid template"),
    );
    bar
}

/// Splits the objects into steps of about `limit` stored bytes.
fn chunks(objects: &[SourceObject], limit: u64) -> Vec<&[SourceObject]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0u64);
    for (i, o) in objects.iter().enumerate() {
        if i > start && size + o.size > limit {
            out.push(&objects[start..i]);
            start = i;
            size = 0;
        }
        size += o.size;
    }
    if start < objects.len() {
        out.push(&objects[start..]);
    }
    out
}

type Fetched = (SourceObject, Result<bytes::Bytes, String>);

/// Fetches a chunk's objects, a bounded number at a time, in order.
async fn fetch(src: Location, chunk: Vec<SourceObject>) -> Vec<Fetched> {
    if src.is_local() {
        // Local files are read in one blocking task per chunk. object_store's
        // local store hops to the blocking pool for every file (open, then
        // read); with thousands of small logs a chunk, those wake-ups cost
        // ~4% of a run (perf: try_to_wake_up, finish_task_switch).
        let read = tokio::task::spawn_blocking(move || {
            let fs = object_store::local::LocalFileSystem::new();
            chunk
                .into_iter()
                .map(|o| {
                    let data = fs
                        .path_to_filesystem(&o.path)
                        .map_err(|e| e.to_string())
                        .and_then(|p| std::fs::read(p).map_err(|e| e.to_string()));
                    (o, data.map(bytes::Bytes::from))
                })
                .collect()
        });
        return read.await.expect("reading files does not panic");
    }
    let src = &src;
    futures::stream::iter(chunk)
        .map(|o| async move {
            let r = match src.store.get(&o.path).await {
                Ok(r) => r.bytes().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            (o, r)
        })
        .buffered(16)
        .collect()
        .await
}

thread_local! {
    static INFLATER: std::cell::RefCell<source::Inflater> =
        std::cell::RefCell::new(source::Inflater::new());
    /// A decoder per pool thread, kept across slices and chunks: its parse
    /// buffers and builder sizes are reused instead of grown from nothing.
    static DECODER: std::cell::Cell<Option<(Decoder, Vec<u8>)>> =
        const { std::cell::Cell::new(None) };
}

/// One chunk being decoded on the pool, a job per slice of its objects.
struct Decoding {
    rx: mpsc::Receiver<(usize, DecodedSlice)>,
    slices: usize,
}

impl Decoding {
    fn start(pool: &rayon::ThreadPool, fetched: Vec<Fetched>, threads: usize) -> Self {
        let fetched = Arc::new(fetched);
        let per = fetched.len().div_ceil(threads.max(1) * 4).max(1);
        let slices = fetched.len().div_ceil(per);
        let (tx, rx) = mpsc::channel();
        for j in 0..slices {
            let (fetched, tx) = (fetched.clone(), tx.clone());
            pool.spawn(move || {
                let end = (j * per + per).min(fetched.len());
                // The receiver is dropped only when the run already failed.
                let _ = tx.send((j, decode_slice(&fetched[j * per..end])));
            });
        }
        Self { rx, slices }
    }

    /// The chunk's slices, in the order of its objects.
    fn wait(self) -> Vec<DecodedSlice> {
        let mut out: Vec<Option<DecodedSlice>> = (0..self.slices).map(|_| None).collect();
        for _ in 0..self.slices {
            let (j, slice) = self.rx.recv().expect("a decode job panicked");
            out[j] = Some(slice);
        }
        out.into_iter()
            .map(|s| s.expect("every slice sent"))
            .collect()
    }
}

fn decode_slice(objects: &[Fetched]) -> DecodedSlice {
    let (mut decoder, mut json) = DECODER.take().unwrap_or_default();
    let out = decode_objects(objects, &mut decoder, &mut json);
    DECODER.set(Some((decoder, json)));
    out
}

fn decode_objects(objects: &[Fetched], decoder: &mut Decoder, json: &mut Vec<u8>) -> DecodedSlice {
    let mut out = DecodedSlice::default();
    // Every object's JSON, one after another in one buffer (sized once
    // from the gzip trailers, where plausible), so the decoder can take the
    // slice's files in time order.
    json.clear();
    json.reserve(
        objects
            .iter()
            .filter_map(|(obj, data)| {
                let data = data.as_ref().ok()?;
                if obj.gzipped {
                    source::gzip_size(data)
                } else {
                    Some(data.len())
                }
            })
            .sum::<usize>()
            + simd_json::INPUT_PADDING,
    );
    let mut taken = Vec::with_capacity(objects.len());
    for (obj, data) in objects {
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                decoder.quarantine_file(&obj.url, format!("read failed: {e}"));
                continue;
            }
        };
        out.bytes_in += data.len() as u64;
        let start = json.len();
        let unpacked = if obj.gzipped {
            INFLATER.with(|d| source::gunzip(data, &mut d.borrow_mut(), json))
        } else {
            json.extend_from_slice(data);
            Ok(())
        };
        match unpacked {
            Ok(()) => taken.push((obj, json.len() - start)),
            Err(reason) => decoder.quarantine_file(&obj.url, reason),
        }
    }
    let files: Vec<(&str, usize)> = taken
        .iter()
        .map(|(obj, len)| (obj.url.as_str(), *len))
        .collect();
    let stats = decoder.decode_files(json, &files);
    for ((obj, len), stats) in taken.iter().zip(stats) {
        // A file that failed whole contributes nothing and is not marked read.
        if stats.failed {
            continue;
        }
        out.json_bytes += *len as u64;
        out.records += stats.records;
        out.records_quarantined += stats.quarantined;
        out.read.push(obj.url.clone());
    }
    out.batches = decoder.finish();
    out.quarantined = std::mem::take(&mut decoder.quarantined);
    out
}

struct StagedPartition {
    moves: Vec<(String, String)>,
    deletes: Vec<String>,
    rows_before: u64,
    rows_after: u64,
    duplicates: u64,
    bytes_out: u64,
}

type StageResult = (PartitionKey, Result<StagedPartition, CompactError>);

/// Stages partitions on the rayon pool while the main thread decodes the
/// next chunk. At most `limit` are in flight, since each holds a whole
/// partition's rows; `stage` waits for one to finish beyond that. Dropping
/// the stager waits for every job, so no job outlives the run's runtime.
struct Stager {
    staging: Arc<Staging>,
    limit: usize,
    tx: mpsc::Sender<StageResult>,
    rx: mpsc::Receiver<StageResult>,
    in_flight: HashSet<PartitionKey>,
    done: BTreeMap<PartitionKey, StagedPartition>,
    error: Option<CompactError>,
}

impl Stager {
    fn new(
        lake: &Lake,
        run_id: &str,
        owner: Option<&str>,
        write: &WriteOptions,
        rt: &tokio::runtime::Runtime,
        limit: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            staging: Arc::new(Staging {
                handle: rt.handle().clone(),
                lake: lake.clone(),
                run_id: run_id.into(),
                owner: owner.map(Into::into),
                write: write.clone(),
            }),
            limit: limit.max(1),
            tx,
            rx,
            in_flight: HashSet::new(),
            done: BTreeMap::new(),
            error: None,
        }
    }

    fn is_staging(&self, key: &PartitionKey) -> bool {
        self.in_flight.contains(key)
    }

    /// Starts staging `buffer`. A partition staged before in this run is
    /// merged with what that staging wrote.
    fn stage(
        &mut self,
        pool: &rayon::ThreadPool,
        key: PartitionKey,
        buffer: PartitionBuffer,
    ) -> Result<(), CompactError> {
        while self.in_flight.len() >= self.limit || self.in_flight.contains(&key) {
            self.receive_one();
        }
        if let Some(e) = self.error.take() {
            self.drain();
            return Err(e);
        }
        let prior = self.done.remove(&key);
        let (staging, tx) = (self.staging.clone(), self.tx.clone());
        self.in_flight.insert(key.clone());
        pool.spawn(move || {
            let staged = staging.stage(&key, buffer, prior);
            // The receiver lives until every job has reported.
            let _ = tx.send((key, staged));
        });
        Ok(())
    }

    fn receive_one(&mut self) {
        let (key, staged) = self.rx.recv().expect("the stager holds a sender");
        self.in_flight.remove(&key);
        match staged {
            Ok(s) => {
                self.done.insert(key, s);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    fn drain(&mut self) {
        while !self.in_flight.is_empty() {
            self.receive_one();
        }
    }

    /// Waits for every job; the first error, if any.
    fn wait_all(&mut self) -> Result<(), CompactError> {
        self.drain();
        self.error.take().map_or(Ok(()), Err)
    }

    /// Every partition staged, in key order.
    fn finish(mut self) -> Result<Vec<StagedPartition>, CompactError> {
        self.wait_all()?;
        Ok(std::mem::take(&mut self.done).into_values().collect())
    }
}

impl Drop for Stager {
    fn drop(&mut self) {
        self.drain();
    }
}

/// What every staging job of a run shares.
struct Staging {
    handle: tokio::runtime::Handle,
    lake: Lake,
    run_id: String,
    owner: Option<String>,
    write: WriteOptions,
}

impl Staging {
    /// Merges one partition's new rows with its spill files and the files the
    /// lake already has for it (or, when `prior` staged it earlier in this run,
    /// with the files that staging wrote), and stages the result.
    ///
    /// Only the reads and writes run inside `rt.block_on`: merging and encoding
    /// run outside it, because encoding fans out on the rayon pool, and a pool
    /// thread waiting for that work may pick up another partition's job, whose
    /// own `block_on` must not start inside this one's.
    fn stage(
        &self,
        key: &PartitionKey,
        buffer: PartitionBuffer,
        prior: Option<StagedPartition>,
    ) -> Result<StagedPartition, CompactError> {
        let Self {
            handle: rt,
            lake,
            run_id,
            owner,
            write,
        } = self;
        let owner = owner.as_deref();
        let (deletes, rows_before, duplicates_before, mut batches) = rt.block_on(async {
            let (inputs, deletes, rows_before, duplicates_before) = match prior {
                Some(p) => {
                    let staged: Vec<Path> = p
                        .moves
                        .iter()
                        .map(|(from, _)| lake.loc.child(from))
                        .collect();
                    (staged, p.deletes, Some(p.rows_before), p.duplicates)
                }
                None => {
                    let existing = lake.partition_files(key, owner).await?;
                    let deletes = existing
                        .iter()
                        .map(|m| lake.loc.relative(&m.location))
                        .collect();
                    (
                        existing.into_iter().map(|m| m.location).collect(),
                        deletes,
                        None,
                        0,
                    )
                }
            };
            let mut batches = Vec::new();
            let mut read_before = 0u64;
            for path in &inputs {
                let data = lake.get(path).await?;
                let read = sink::decode(&lake.loc.url_of(path), data)?;
                read_before += read.iter().map(|b| b.num_rows() as u64).sum::<u64>();
                batches.extend(read);
            }
            for spill in &buffer.spills {
                let data = lake.get(spill).await?;
                batches.extend(sink::decode(&lake.loc.url_of(spill), data)?);
            }
            let rows_before = rows_before.unwrap_or(read_before);
            Ok::<_, CompactError>((deletes, rows_before, duplicates_before, batches))
        })?;
        batches.extend(buffer.batches);
        let merged = sink::merge(batches);
        let files = sink::encode(&merged, write)?;
        let hive = key.hive_path();
        let (moves, bytes_out) = rt.block_on(async {
            let mut moves = Vec::new();
            let mut bytes_out = 0;
            for (i, data) in files.into_iter().enumerate() {
                let name = format!("part-{run_id}-{i:05}.parquet");
                let staged = format!("{STATE_DIR}/staging/{run_id}/{hive}/{name}.staged");
                bytes_out += data.len() as u64;
                lake.put(&lake.loc.child(&staged), data).await?;
                moves.push((staged, format!("{hive}/{name}")));
            }
            Ok::<_, CompactError>((moves, bytes_out))
        })?;
        Ok(StagedPartition {
            moves,
            deletes,
            rows_before,
            rows_after: merged.num_rows() as u64,
            duplicates: duplicates_before + buffer.duplicates + merged.duplicates,
            bytes_out,
        })
    }
}

/// Writes the run report and the quarantined records' JSON.
async fn write_run_files(lake: &Lake, report: &RunReport) -> Result<(), LakeError> {
    let path = lake.state_path(&format!("runs/{}.json", report.run_id));
    lake.put(
        &path,
        serde_json::to_vec_pretty(report).expect("report serializes"),
    )
    .await?;
    let lines: Vec<String> = report
        .quarantined
        .iter()
        .filter_map(|q| {
            q.raw.as_ref().map(|raw| {
                format!(
                    "{{\"key\":{},\"record\":{},\"reason\":{},\"raw\":{}}}",
                    serde_json::to_string(&q.key).expect("string"),
                    q.record.map_or("null".to_string(), |r| r.to_string()),
                    serde_json::to_string(&q.reason).expect("string"),
                    raw
                )
            })
        })
        .collect();
    if !lines.is_empty() {
        let path = lake.state_path(&format!("quarantine/{}.jsonl", report.run_id));
        lake.put(&path, (lines.join("\n") + "\n").into_bytes())
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parses_k_of_n_and_the_batch_and_kubernetes_indexes() {
        let none = |_: &str| None;
        assert_eq!(Shard::parse("1/4", none), Ok(Shard { index: 1, count: 4 }));
        assert!(Shard::parse("4/4", none).is_err());
        assert!(Shard::parse("0/0", none).is_err());
        assert!(Shard::parse("4", none)
            .unwrap_err()
            .contains("AWS_BATCH_JOB_ARRAY_INDEX"));
        let batch = |k: &str| (k == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "2".to_string());
        assert_eq!(Shard::parse("3", batch), Ok(Shard { index: 2, count: 3 }));
        let k8s = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "0".to_string());
        assert_eq!(Shard::parse("3", k8s), Ok(Shard { index: 0, count: 3 }));
    }

    #[test]
    fn every_object_goes_to_exactly_one_shard() {
        for i in 0..200 {
            let key = format!(
                "AWSLogs/{i}/CloudTrail/us-east-1/2024/01/{:02}/f.json.gz",
                i % 28 + 1
            );
            let takers = (0..5)
                .filter(|&k| Shard { index: k, count: 5 }.takes(&key))
                .count();
            assert_eq!(takers, 1, "{key}");
        }
    }
}
