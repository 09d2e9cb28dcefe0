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
mod error;
pub mod fetch;
pub mod memory;
mod options;
pub mod plan;
pub mod policy;
pub mod quarantine;
pub mod read;
mod signal;
pub mod spill;
pub mod stage;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::lake::layout::{self, Owner};
use crate::lake::lease::Lease;
use crate::lake::Lake;
use crate::partition::PartitionKey;
use crate::progress::Phase;
use crate::report::RunReport;
use crate::source::SourceObject;
use fetch::{DecodeSettings, Decoding, Fetched};
use quarantine::QuarantineFile;
use spill::{PartitionBuffer, Spiller};
use stage::{Stager, Staging};

pub use error::{CompactError, Damaged, Reconcile};
pub use memory::MemoryBudget;
pub use options::{CompactOptions, Shard, DEFAULT_LOOKBACK_DAYS};
pub(crate) use signal::stopping;
use signal::{stop, stop_requested, COMMITTING};

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
        opts.progress
            .note(format!("could not give the lease back: {e}"));
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

    let spill_dir = crate::compact::spill::SpillDir::create(&opts.spill_dir, run_id)?;
    let quarantine_path = spill_dir.path.join("quarantine.jsonl");
    let quarantine = Arc::new(QuarantineFile::create(quarantine_path.clone()).map_err(
        |source| CompactError::Io {
            path: quarantine_path.display().to_string(),
            source,
        },
    )?);
    let settings = DecodeSettings {
        max_file_bytes: opts.memory.max_file_bytes(),
        quarantine: quarantine.clone(),
    };

    let mut buffers: HashMap<PartitionKey, PartitionBuffer> = HashMap::new();
    let mut buffered = 0usize;
    let mut read: Vec<SourceObject> = Vec::new();
    let mut failed_folders: BTreeSet<String> = BTreeSet::new();
    let mut peak_in_use = 0u64;
    let batch_bytes = opts.memory.batch_bytes();
    let mut write = opts.write.clone();
    write.row_group_bytes = write.row_group_bytes.min(opts.memory.row_group_cap());
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
            memory: opts.memory,
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
    let max_stored = opts.memory.max_file_bytes() as u64;
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
        memory::release_free_memory(&mut peak_in_use, opts.memory.bytes() as u64);
        // Rows in memory, with those being spilled, stay under 3/8 of the
        // budget (the rest is for the chunks being decoded, the spill being
        // written and the encoders): past it, the largest partitions are
        // spilled, one at a time on the pool, until 1/8 is left in memory.
        let limit = opts.memory.buffered_limit();
        spiller.poll(&mut buffers)?;
        if buffered + spiller.bytes() > limit {
            while buffered > opts.memory.buffered_after_spill() {
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
    if let Some(crate::lake::delta::Committed::Version {
        version,
        created_from,
    }) = committed
    {
        report.delta_version = Some(version);
        if let Some(n) = created_from.filter(|&n| n > 0) {
            progress.note(format!(
                "the lake had no Delta log: version {version} holds the {n} data file(s) its \
                 partitions held (their footers read for statistics), and this run's"
            ));
        }
    }
    progress.set_phase(Phase::Done);
    if let Some(signal) = stop_requested() {
        progress.note(format!(
            "{signal} came while committing; the commit was finished first"
        ));
    }
    Ok(report)
}

/// `--dry-run`: what would be read, for the caller to list.
fn dry_run(
    to_read: &[SourceObject],
    mut report: RunReport,
    started: Instant,
    opts: &CompactOptions,
) -> RunReport {
    report.would_read = to_read.iter().map(|o| (o.size, o.url.clone())).collect();
    report.inputs_skipped += to_read.len() as u64;
    report.seconds = started.elapsed().as_secs_f64();
    report.source_requests = opts.source.requests.snapshot();
    report.lake_requests = opts.lake.requests.snapshot();
    report
}
