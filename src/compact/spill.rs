//! Spilling: a partition's rows gathered in memory ([`PartitionBuffer`]),
//! and, past the budget's share, the largest partitions written to local
//! disk by a pool job ([`Spiller`]) as spill files: sorted, each event kept
//! once, Arrow IPC (uncompressed by default: [`SpillCodec`]) in batches of
//! a bounded size, read back as a sorted run. IPC costs a copy, where
//! Parquet would cost an encoding: the rows are encoded once, when they
//! reach the lake.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::CompressionType;

use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc;

use super::CompactError;
use crate::partition::PartitionKey;
use crate::schema;
use crate::sink::stream::SortedRun;
use crate::sink::{self, Chunk, Conflicts, Merged, SinkError};

/// Rows of one partition gathered during a run.
#[derive(Default)]
pub struct PartitionBuffer {
    pub batches: Vec<RecordBatch>,
    /// Bytes of `batches` in memory.
    pub bytes: usize,
    /// Records taken for the partition (in memory and spilled).
    pub rows: u64,
    pub spills: Vec<Spill>,
    /// New rows dropped as duplicates when spilling.
    pub duplicates: u64,
    pub conflicts: Conflicts,
    /// The last chunk that brought rows.
    pub last_chunk: usize,
    /// The source folders its rows came from (for the manifest).
    pub sources: BTreeSet<String>,
    /// Events its new rows' updates supersede.
    pub superseded: BTreeSet<String>,
}

/// A spill written: the file, and the new rows dropped as duplicates of
/// others while sorting.
pub type Spilled = (Spill, u64, Conflicts);

/// Writes rows to a spill file, sorted, each event once.
pub(super) fn spill_rows(
    batches: Vec<RecordBatch>,
    path: PathBuf,
    batch_bytes: usize,
    codec: SpillCodec,
) -> Result<Spilled, CompactError> {
    let merged = sink::merge(batches);
    let spill = write(&path, &merged, batch_bytes, codec)?;
    Ok((spill, merged.duplicates, merged.conflicts))
}

impl PartitionBuffer {
    pub(super) fn add_spill(&mut self, (spill, duplicates, conflicts): Spilled) {
        self.spills.push(spill);
        self.duplicates += duplicates;
        self.conflicts.absorb(conflicts);
    }
}

/// Spills one partition's rows at a time on the pool, while the main thread
/// goes on taking in decoded chunks: spilling on the main thread left the
/// pool without work once the chunk queued ahead was decoded.
pub struct Spiller {
    tx: mpsc::Sender<(PartitionKey, Result<Spilled, CompactError>)>,
    rx: mpsc::Receiver<(PartitionKey, Result<Spilled, CompactError>)>,
    /// The partition being spilled and the bytes it holds meanwhile.
    in_flight: Option<(PartitionKey, usize)>,
    seq: usize,
    dir: PathBuf,
    batch_bytes: usize,
    codec: SpillCodec,
}

impl Spiller {
    pub fn new(dir: PathBuf, batch_bytes: usize, codec: SpillCodec) -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            tx,
            rx,
            in_flight: None,
            seq: 0,
            dir,
            batch_bytes,
            codec,
        }
    }

    /// Bytes of rows being spilled now (still in memory).
    pub fn bytes(&self) -> usize {
        self.in_flight.as_ref().map_or(0, |(_, b)| *b)
    }

    pub fn is_spilling(&self, key: &PartitionKey) -> bool {
        self.in_flight.as_ref().is_some_and(|(k, _)| k == key)
    }

    /// Starts spilling `key`'s rows in memory; waits for a spill in flight
    /// first.
    pub fn start(
        &mut self,
        pool: &rayon::ThreadPool,
        buffers: &mut HashMap<PartitionKey, PartitionBuffer>,
        key: PartitionKey,
    ) -> Result<(), CompactError> {
        self.wait(buffers)?;
        let b = buffers.get_mut(&key).expect("a buffered partition");
        let batches = std::mem::take(&mut b.batches);
        let bytes = std::mem::take(&mut b.bytes);
        self.seq += 1;
        let path = self.dir.join(format!("{:06}.spill", self.seq));
        let (tx, batch_bytes, codec) = (self.tx.clone(), self.batch_bytes, self.codec);
        self.in_flight = Some((key.clone(), bytes));
        pool.spawn(move || {
            let result = spill_rows(batches, path, batch_bytes, codec);
            // The receiver lives as long as the spiller.
            let _ = tx.send((key, result));
        });
        Ok(())
    }

    /// Hands a finished spill's file to its partition, without waiting.
    pub fn poll(
        &mut self,
        buffers: &mut HashMap<PartitionKey, PartitionBuffer>,
    ) -> Result<(), CompactError> {
        if self.in_flight.is_none() {
            return Ok(());
        }
        match self.rx.try_recv() {
            Ok((key, result)) => {
                self.in_flight = None;
                buffers.entry(key).or_default().add_spill(result?);
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }

    /// Waits for the spill in flight, if any, and hands its file to its
    /// partition.
    pub fn wait(
        &mut self,
        buffers: &mut HashMap<PartitionKey, PartitionBuffer>,
    ) -> Result<(), CompactError> {
        if self.in_flight.take().is_none() {
            return Ok(());
        }
        let (key, result) = self.rx.recv().expect("the spiller holds a sender");
        buffers.entry(key).or_default().add_spill(result?);
        Ok(())
    }
}

/// How spill files are compressed.
///
/// `None` by default: a spill is written once and read once, soon after,
/// mostly from the page cache, and LZ4 cost more than the disk it saved.
/// On the hot partition (one account-region-day, 1.33 GB of JSON, 5 runs
/// alternating) LZ4 frames took 4.65 s and 8.5 CPU-s, uncompressed IPC
/// 3.55 s and 6.5 CPU-s (LZ4's compress and frame decoder were ~10% of the
/// profile, with the copies around them more). Uncompressed spills take
/// about 3x the disk: `spill_compression = "lz4"` where `spill_dir` is small.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SpillCodec {
    #[default]
    None,
    Lz4,
}

impl SpillCodec {
    /// Parses `none` or `lz4`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "uncompressed" => Ok(Self::None),
            "lz4" => Ok(Self::Lz4),
            _ => Err(format!("bad spill compression {s:?}: use none or lz4")),
        }
    }
}

/// A spill file written.
#[derive(Debug, Clone)]
pub struct Spill {
    pub path: PathBuf,
    pub rows: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// `eventtime` of its first and last rows.
    pub first: String,
    pub last: String,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SinkError + '_ {
    move |source| SinkError::Io {
        file: path.display().to_string(),
        source,
    }
}

fn arrow_err(path: &Path) -> impl Fn(arrow::error::ArrowError) -> SinkError + '_ {
    move |source| SinkError::Arrow {
        file: path.display().to_string(),
        source,
    }
}

/// Writes sorted batches to a spill file.
pub struct SpillWriter {
    path: PathBuf,
    w: StreamWriter<BufWriter<File>>,
    rows: u64,
    first: Option<String>,
    last: String,
}

impl SpillWriter {
    pub fn create(path: &Path, codec: SpillCodec) -> Result<Self, SinkError> {
        let file = File::create(path).map_err(io(path))?;
        let compression = match codec {
            SpillCodec::None => None,
            SpillCodec::Lz4 => Some(CompressionType::LZ4_FRAME),
        };
        let options = IpcWriteOptions::default()
            .try_with_compression(compression)
            .map_err(arrow_err(path))?;
        let w = StreamWriter::try_new_with_options(
            BufWriter::with_capacity(1 << 20, file),
            &schema::arrow_schema(),
            options,
        )
        .map_err(arrow_err(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            w,
            rows: 0,
            first: None,
            last: String::new(),
        })
    }

    /// Appends a batch of rows that follow the ones written before.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let times = batch
            .column(schema::column_index(schema::EVENT_TIME))
            .as_string::<i32>();
        let time = |r: usize| (!times.is_null(r)).then(|| times.value(r).to_string());
        if self.first.is_none() {
            self.first = Some(time(0).unwrap_or_default());
        }
        if let Some(t) = time(n - 1) {
            self.last = t;
        }
        self.rows += n as u64;
        self.w.write(batch).map_err(arrow_err(&self.path))
    }

    pub fn finish(mut self) -> Result<Spill, SinkError> {
        self.w.finish().map_err(arrow_err(&self.path))?;
        let inner = self.w.into_inner().map_err(arrow_err(&self.path))?;
        inner
            .into_inner()
            .map_err(|e| io(&self.path)(e.into_error()))?;
        let bytes = std::fs::metadata(&self.path).map_err(io(&self.path))?.len();
        Ok(Spill {
            path: self.path,
            rows: self.rows,
            bytes,
            first: self.first.unwrap_or_default(),
            last: self.last,
        })
    }
}

/// The rows of `chunk` as batches of the lake schema.
pub fn batches(chunk: &dyn Chunk) -> Result<Vec<RecordBatch>, SinkError> {
    let schema = schema::arrow_schema();
    (0..chunk.pieces())
        .map(|p| {
            let columns = (0..schema.fields().len())
                .map(|c| chunk.column(p, c))
                .collect();
            RecordBatch::try_new(schema.clone(), columns).map_err(|source| SinkError::Arrow {
                file: "<spill>".into(),
                source,
            })
        })
        .collect()
}

/// Writes merged rows to `path`, in batches of about `batch_bytes`.
pub fn write(
    path: &Path,
    merged: &Merged,
    batch_bytes: usize,
    codec: SpillCodec,
) -> Result<Spill, SinkError> {
    let rows = merged.num_rows();
    let per_row = merged.memory_size().checked_div(rows).unwrap_or(1).max(1);
    let batch_rows = (batch_bytes / per_row).clamp(1, 65_536);
    let mut w = SpillWriter::create(path, codec)?;
    let mut at = 0;
    while at < rows {
        let n = batch_rows.min(rows - at);
        for batch in batches(&merged.chunk(at, n))? {
            w.write(&batch)?;
        }
        at += n;
    }
    w.finish()
}

/// A spill file read back, a batch at a time.
pub struct SpillRun {
    path: PathBuf,
    reader: StreamReader<BufReader<File>>,
}

impl SpillRun {
    pub fn open(spill: &Spill) -> Result<Self, SinkError> {
        let path = spill.path.clone();
        let file = File::open(&path).map_err(io(&path))?;
        let reader = StreamReader::try_new(BufReader::with_capacity(1 << 20, file), None)
            .map_err(arrow_err(&path))?;
        Ok(Self { path, reader })
    }
}

impl SortedRun for SpillRun {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, SinkError> {
        crate::sink::stream::next_in_lake_schema(&mut self.reader, arrow_err(&self.path))
    }
}

/// A folder for one run's spill files, removed when dropped; folders left
/// by runs that died are removed when the next run makes its own.
pub struct SpillDir {
    pub path: PathBuf,
}

impl SpillDir {
    /// `traillake-spill-<run>` under `root`.
    pub fn create(root: &Path, run_id: &str) -> Result<Self, SinkError> {
        if let Ok(entries) = std::fs::read_dir(root) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let Some(run) = name.strip_prefix("traillake-spill-") else {
                    continue;
                };
                // The run id ends with its process id, in hex.
                let pid = run
                    .rsplit('-')
                    .next()
                    .and_then(|p| u32::from_str_radix(p, 16).ok());
                if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let path = root.join(format!("traillake-spill-{run_id}"));
        std::fs::create_dir_all(&path).map_err(io(&path))?;
        Ok(Self { path })
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
