//! Staging one partition: its new rows (in memory, and spilled), merged with
//! the lake's small files the policy picks ([`super::policy`]), checked
//! against the files that stay, and written to staging as files of about
//! the target size, row group by row group. Peak memory is the budget's
//! share of new rows in memory, one batch per sorted run, and one row group
//! being encoded: it does not grow with the partition or its values.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{mpsc, Arc};

use arrow::array::RecordBatch;

use super::policy::{self, Choice};
use super::read::{LakeFileRun, OpenLakeFile, SettledRun};
use super::spill::{self, spill_rows, PartitionBuffer, Spill, SpillCodec, SpillRun, SpillWriter};
use super::{CompactError, Reconcile};
use crate::lake::layout::{self, Owner};
use crate::lake::manifest::{self, Damage, ManifestFile, Manifests};
use crate::lake::sinks::open_sink;
use crate::lake::{Lake, LakeFile};
use crate::partition::PartitionKey;
use crate::schema;
use crate::sink::stream::{Origin, SortedRun, StreamMerge};
use crate::sink::{self, Chunk, Conflicts, Merged, PartitionWriter, SinkError, WriteOptions};

/// Sorted runs merged at once; more spills than this are merged in passes.
const FAN_IN: usize = 16;

/// What staging a partition did.
#[derive(Debug, Default)]
pub struct StagedPartition {
    /// `(staged, final)` of each file written.
    pub moves: Vec<(String, String)>,
    /// Lake files the new ones replace.
    pub deletes: Vec<String>,
    /// Lake files left as they are, and the new files: what a later staging
    /// of the same partition in this run checks its rows against.
    pub settled: Vec<LakeFile>,
    /// Rows of the replaced files.
    pub rows_before: u64,
    /// New records taken for the partition.
    pub new_in: u64,
    pub new_written: u64,
    pub new_duplicates: u64,
    pub lake_written: u64,
    /// Rows of replaced files dropped as duplicates of other rows.
    pub lake_duplicates: u64,
    pub conflicts: Conflicts,
    pub bytes_out: u64,
    /// The partition's files as listed before this run, and its manifests.
    pub existing: Vec<LakeFile>,
    pub manifests: Manifests,
    /// The files written, by final name.
    pub written: Vec<ManifestFile>,
    /// The source folders of the new rows.
    pub sources: BTreeSet<String>,
    /// Events the new rows' updates supersede.
    pub superseded: BTreeSet<String>,
    /// Delta statistics of the files written, by final path.
    pub stats: BTreeMap<String, String>,
}

/// What every staging job of a run shares.
pub struct Staging {
    pub handle: tokio::runtime::Handle,
    pub lake: Lake,
    pub run_id: String,
    pub owner: Owner,
    pub write: WriteOptions,
    /// Small files of one generation that make a merge.
    pub merge_at: usize,
    /// Bytes of a batch read from a run.
    pub batch_bytes: usize,
    pub spill_dir: PathBuf,
    pub spill_codec: SpillCodec,
    /// The run's memory budget: a spilled partition's merge fits in it.
    pub memory: super::MemoryBudget,
    /// Partitions and rows written so far.
    pub progress: Arc<crate::progress::Progress>,
    /// The source's URL, for the `repair` a damaged partition needs.
    pub source_url: String,
}

impl Staging {
    /// Stages one partition's new rows. When `prior` staged the partition
    /// earlier in this run, the rows go to one more new file, checked
    /// against everything that staging left.
    pub fn stage(
        &self,
        key: &PartitionKey,
        mut buffer: PartitionBuffer,
        prior: Option<StagedPartition>,
    ) -> Result<StagedPartition, CompactError> {
        super::stopping()?;
        let lake = &self.lake;
        let mut existing = Vec::new();
        let mut manifests = Manifests::default();
        let choice = match &prior {
            Some(p) => Choice {
                merge: Vec::new(),
                settled: p.settled.clone(),
                generation: 0,
            },
            None => {
                existing = self.handle.block_on(lake.partition_files(key))?;
                // The files a run recorded, and nothing else: a missing,
                // changed or foreign file stops the run before it merges
                // around the hole.
                manifests = self
                    .handle
                    .block_on(manifest::read(lake, key, self.owner))?;
                let damage = manifests.check(key, &existing, self.owner);
                if !damage.is_empty() {
                    return Err(self.damaged(damage));
                }
                policy::choose(
                    &existing,
                    self.owner,
                    self.write.target_file_bytes,
                    self.merge_at,
                )
            }
        };
        // A partition that spilled is merged from its spills, a batch held
        // per spill, into a row group being encoded: with its rows still in
        // memory too, that passed the budget (a 10 GB partition peaked at
        // 631 MiB with 512). Where it would, those rows are spilled first.
        let merge_bytes =
            FAN_IN.min(buffer.spills.len() + 1) * self.batch_bytes + self.write.row_group_bytes;
        if !buffer.spills.is_empty()
            && !buffer.batches.is_empty()
            && buffer.bytes + merge_bytes > self.memory.merge_limit()
        {
            let path = self.spill_path(key, "last", buffer.spills.len());
            let batches = std::mem::take(&mut buffer.batches);
            buffer.bytes = 0;
            buffer.add_spill(spill_rows(
                batches,
                path,
                self.batch_bytes,
                self.spill_codec,
            )?);
        }
        if !buffer.spills.is_empty() {
            super::memory::trim();
        }
        // More spills than a merge takes at once: merge them in passes.
        while buffer.spills.len() + 1 > FAN_IN {
            let group: Vec<Spill> = buffer.spills.drain(..FAN_IN).collect();
            let merged = self.merge_spills(key, &group, buffer.spills.len())?;
            buffer.duplicates += merged.1;
            buffer.spills.push(merged.0);
            for s in group {
                let _ = std::fs::remove_file(&s.path);
            }
            super::memory::trim();
        }
        let merged = sink::merge(std::mem::take(&mut buffer.batches));
        let merged_duplicates = merged.duplicates;
        let mut conflicts = std::mem::take(&mut buffer.conflicts);
        conflicts.absorb(merged.conflicts.clone());
        // The new rows' time range: only files that meet it are checked.
        let mut range = merged.time_range();
        for s in &buffer.spills {
            range = Some(match range {
                None => (s.first.clone(), s.last.clone()),
                Some((a, b)) => (a.min(s.first.clone()), b.max(s.last.clone())),
            });
        }
        let open = |f: &LakeFile| {
            OpenLakeFile::open(lake, f, &self.handle).map_err(|e| match e {
                SinkError::Parquet { .. } | SinkError::Schema { .. } => {
                    self.damaged(vec![(f.rel.clone(), Damage::Unreadable(e.to_string()))])
                }
                e => e.into(),
            })
        };
        let merging: Vec<OpenLakeFile> = choice.merge.iter().map(open).collect::<Result<_, _>>()?;
        let rows_before: u64 = merging.iter().map(OpenLakeFile::rows).sum();
        self.progress.lake_rows_merged.add(rows_before);
        let mut settled_runs = Vec::new();
        if let Some((first, last)) = &range {
            for f in &choice.settled {
                if let Some(run) = SettledRun::new(open(f)?, first, last, lake, &self.handle)? {
                    settled_runs.push(run);
                }
            }
        }

        let base = prior.as_ref().map_or(0, |p| p.moves.len());
        let mut moves = Vec::new();
        let (written, stats) = {
            let mut writer = PartitionWriter::new(&self.write, |i| {
                let final_rel = layout::data_file(key, &self.run_id, choice.generation, base + i);
                let staged = layout::staged(&self.run_id, &final_rel);
                let sink = open_sink(lake, &staged, &self.handle)?;
                moves.push((staged, final_rel));
                Ok(sink)
            });
            let stats = if merging.is_empty() && settled_runs.is_empty() && buffer.spills.is_empty()
            {
                // Nothing to merge with: the rows in memory as they are.
                writer.write(&merged.chunk(0, merged.num_rows()))?;
                self.progress.rows_encoded.add(merged.num_rows() as u64);
                sink::stream::StreamStats {
                    new_written: merged.num_rows() as u64,
                    ..Default::default()
                }
            } else {
                let mut runs: Vec<(Origin, Box<dyn SortedRun>)> = Vec::new();
                let batch_rows = batch_rows(&merged, self.batch_bytes);
                runs.push((Origin::New, Box::new(MergedRun::new(merged, batch_rows))));
                for s in &buffer.spills {
                    runs.push((Origin::New, Box::new(SpillRun::open(s)?)));
                }
                for f in &merging {
                    runs.push((
                        Origin::Lake,
                        Box::new(LakeFileRun::new(f, self.batch_bytes)?),
                    ));
                }
                for r in settled_runs {
                    runs.push((Origin::Settled, Box::new(r)));
                }
                let m = StreamMerge::new(runs, batch_rows.max(1024));
                merge_into(m, &mut writer, &self.progress.rows_encoded)?
            };
            (writer.finish()?, stats)
        };
        for s in &buffer.spills {
            let _ = std::fs::remove_file(&s.path);
        }
        conflicts.absorb(stats.conflicts.clone());

        let rows_out: u64 = written.iter().map(|f| f.rows).sum();
        let bytes_out: u64 = written.iter().map(|f| f.bytes).sum();
        let written_files: Vec<ManifestFile> = moves
            .iter()
            .zip(&written)
            .map(|((_, final_rel), f)| ManifestFile {
                name: final_rel.rsplit('/').next().unwrap_or("").to_string(),
                size: f.bytes,
                rows: Some(f.rows),
            })
            .collect();
        let file_stats: BTreeMap<String, String> = moves
            .iter()
            .zip(&written)
            .map(|((_, final_rel), f)| (final_rel.clone(), f.stats.clone()))
            .collect();
        let mut staged = StagedPartition {
            moves,
            deletes: choice.merge.iter().map(|f| f.rel.clone()).collect(),
            settled: choice.settled.clone(),
            rows_before,
            new_in: buffer.rows,
            new_written: stats.new_written,
            new_duplicates: 0,
            lake_written: stats.lake_written,
            lake_duplicates: stats.lake_duplicates,
            conflicts,
            bytes_out,
            existing,
            manifests,
            written: written_files,
            sources: std::mem::take(&mut buffer.sources),
            superseded: std::mem::take(&mut buffer.superseded),
            stats: file_stats,
        };
        staged.new_duplicates = buffer
            .duplicates
            .checked_add(merged_duplicates)
            .and_then(|d| d.checked_add(stats.new_duplicates))
            .ok_or(Reconcile::overflow("duplicates"))?;
        staged.settled.extend(
            staged
                .moves
                .iter()
                .zip(&written)
                .map(|((staged_rel, _), f)| LakeFile {
                    rel: staged_rel.clone(),
                    size: f.bytes,
                }),
        );
        // Every row accounted for, checked, before anything is committed.
        let check = |what: &str, left: Option<u64>, right: Option<u64>| match (left, right) {
            (Some(l), Some(r)) if l == r => Ok(()),
            _ => Err(CompactError::Reconcile(Reconcile {
                what: format!("{key}: {what}: {left:?} against {right:?}"),
            })),
        };
        check(
            "new records taken = written + duplicates",
            Some(staged.new_in),
            staged.new_written.checked_add(staged.new_duplicates),
        )?;
        check(
            "rows of replaced files = rewritten + duplicates",
            Some(staged.rows_before),
            staged.lake_written.checked_add(staged.lake_duplicates),
        )?;
        check(
            "rows in the new files = new + rewritten",
            Some(rows_out),
            staged.new_written.checked_add(staged.lake_written),
        )?;
        Ok(match prior {
            None => staged,
            Some(mut p) => {
                p.moves.append(&mut staged.moves);
                p.settled = staged.settled;
                p.new_in += staged.new_in;
                p.new_written += staged.new_written;
                p.new_duplicates += staged.new_duplicates;
                p.conflicts.absorb(staged.conflicts);
                p.bytes_out += staged.bytes_out;
                p.written.append(&mut staged.written);
                p.sources.append(&mut staged.sources);
                p.superseded.append(&mut staged.superseded);
                p.stats.append(&mut staged.stats);
                p
            }
        })
    }

    /// The error of a partition whose files are not what its runs wrote.
    fn damaged(&self, files: Vec<(String, Damage)>) -> CompactError {
        CompactError::Damaged(super::Damaged {
            lake: self.lake.loc.arg(),
            source_url: self.source_url.clone(),
            files: files
                .into_iter()
                .map(|(rel, d)| (self.lake.loc.url_of_relative(&rel), d))
                .collect(),
        })
    }

    /// A spill file of `key`'s own, made at stage time (`what`: `merged`,
    /// `last`), the `seq`th.
    fn spill_path(&self, key: &PartitionKey, what: &str, seq: usize) -> PathBuf {
        self.spill_dir.join(format!(
            "{}-{what}-{seq:06}.spill",
            key.hive_path().replace('/', "_")
        ))
    }

    /// Merges spill files into one; with the duplicates dropped.
    fn merge_spills(
        &self,
        key: &PartitionKey,
        spills: &[Spill],
        seq: usize,
    ) -> Result<(Spill, u64), CompactError> {
        let mut runs: Vec<(Origin, Box<dyn SortedRun>)> = Vec::new();
        for s in spills {
            runs.push((Origin::New, Box::new(SpillRun::open(s)?)));
        }
        let mut m = StreamMerge::new(runs, 8192);
        let path = self.spill_path(key, "merged", seq);
        let mut w = SpillWriter::create(&path, self.spill_codec)?;
        while let Some(chunk) = m.next_chunk()? {
            super::stopping()?;
            for batch in spill::batches(&chunk)? {
                w.write(&batch)?;
            }
        }
        Ok((w.finish()?, m.stats.new_duplicates))
    }
}

/// Runs a merge on a thread of its own, two chunks ahead of the writer,
/// so that merging (reading spills, comparing keys) overlaps encoding
/// (which fans out over the pool): one large partition at the end of a run
/// otherwise kept a core idle while it was merged.
fn merge_into(
    mut m: StreamMerge,
    writer: &mut PartitionWriter<'_>,
    encoded: &crate::progress::Count,
) -> Result<sink::stream::StreamStats, CompactError> {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel(2);
        let merger = scope.spawn(move || {
            loop {
                match m.next_chunk() {
                    Ok(Some(chunk)) => {
                        if tx.send(chunk).is_err() {
                            // The writer failed; its error is the one to tell.
                            return Ok(m.stats);
                        }
                    }
                    Ok(None) => return Ok(m.stats),
                    Err(e) => return Err(e),
                }
            }
        });
        let mut written = Ok(());
        for chunk in rx {
            if let Err(e) = super::stopping().and_then(|()| Ok(writer.write(&chunk)?)) {
                written = Err(e);
                break;
            }
            encoded.add((0..chunk.pieces()).map(|p| chunk.rows(p) as u64).sum());
            crate::lake::delaypoint("merge-chunk");
        }
        let stats = merger.join().expect("the merge does not panic");
        written?;
        Ok(stats?)
    })
}

/// Rows of a batch about `batch_bytes` big, for rows like `merged`'s.
fn batch_rows(merged: &Merged, batch_bytes: usize) -> usize {
    let per_row = merged
        .memory_size()
        .checked_div(merged.num_rows())
        .unwrap_or(1024)
        .max(1);
    (batch_bytes / per_row).clamp(16, 8192)
}

/// The new rows still in memory, as a sorted run.
struct MergedRun {
    merged: Merged,
    at: usize,
    rows: usize,
}

impl MergedRun {
    fn new(merged: Merged, rows: usize) -> Self {
        Self {
            merged,
            at: 0,
            rows,
        }
    }
}

impl SortedRun for MergedRun {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, SinkError> {
        let n = self.merged.num_rows();
        if self.at >= n {
            return Ok(None);
        }
        let chunk = self.merged.chunk(self.at, self.rows.min(n - self.at));
        // One piece at a time: a long run is a slice, no copy.
        let rows = chunk.rows(0);
        let columns = (0..schema::arrow_schema().fields().len())
            .map(|c| chunk.column(0, c))
            .collect();
        self.at += rows;
        Ok(Some(
            RecordBatch::try_new(schema::arrow_schema(), columns).expect("the lake schema"),
        ))
    }
}

type StageResult = (PartitionKey, Result<StagedPartition, CompactError>);

/// Stages partitions on the rayon pool while the main thread decodes the
/// next chunk. At most `limit` are in flight, since each holds a
/// partition's rows in memory; `stage` waits for one to finish beyond that.
/// Dropping the stager waits for every job, so no job outlives the run's
/// runtime.
pub struct Stager {
    staging: Arc<Staging>,
    limit: usize,
    tx: mpsc::Sender<StageResult>,
    rx: mpsc::Receiver<StageResult>,
    in_flight: HashMap<PartitionKey, ()>,
    done: std::collections::BTreeMap<PartitionKey, StagedPartition>,
    /// Partitions staged at least once, for the progress count.
    written: std::collections::HashSet<PartitionKey>,
    error: Option<CompactError>,
}

impl Stager {
    pub fn new(staging: Staging, limit: usize) -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            staging: Arc::new(staging),
            limit: limit.max(1),
            tx,
            rx,
            in_flight: HashMap::new(),
            done: Default::default(),
            written: Default::default(),
            error: None,
        }
    }

    /// Partitions staged or being staged.
    pub fn partitions(&self) -> impl Iterator<Item = &PartitionKey> {
        self.done.keys().chain(self.in_flight.keys())
    }

    pub fn is_staging(&self, key: &PartitionKey) -> bool {
        self.in_flight.contains_key(key)
    }

    /// Starts staging `buffer`.
    pub fn stage(
        &mut self,
        pool: &rayon::ThreadPool,
        key: PartitionKey,
        buffer: PartitionBuffer,
    ) -> Result<(), CompactError> {
        while self.in_flight.len() >= self.limit || self.in_flight.contains_key(&key) {
            self.receive_one();
        }
        if let Some(e) = self.error.take() {
            self.drain();
            return Err(e);
        }
        let prior = self.done.remove(&key);
        if prior.is_none() {
            self.staging.progress.partitions_taken.add(1);
        }
        let (staging, tx) = (self.staging.clone(), self.tx.clone());
        self.in_flight.insert(key.clone(), ());
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
                if self.written.insert(key.clone()) {
                    self.staging.progress.partitions_written.add(1);
                }
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

    /// Every partition staged, in key order; the first error, if any.
    pub fn finish(mut self) -> Result<Vec<(PartitionKey, StagedPartition)>, CompactError> {
        self.drain();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        Ok(std::mem::take(&mut self.done).into_iter().collect())
    }
}

impl Drop for Stager {
    fn drop(&mut self) {
        self.drain();
    }
}
