//! Parquet encoding of one partition's sorted rows, with no I/O of its own:
//! a [`PartitionWriter`] takes rows a chunk at a time, in order, and writes
//! files of about the target size into sinks its caller opens (a local
//! file, an S3 multipart upload, a buffer in memory), row group by row
//! group. It holds one row group's encoded column chunks at most (cut at
//! [`WriteOptions::row_group_rows`] rows or `row_group_bytes`), never a
//! whole file, so memory does not grow with the partition.
//!
//! The columns of a row group are encoded in parallel on the current rayon
//! pool, each writing its own rows in order, piece by piece. While decoding
//! keeps both cores busy this changes nothing; when one large partition is
//! left, it no longer runs on one core alone. The bytes are the same as
//! `ArrowWriter`'s for the same pieces: the same column writers, fed the
//! same arrays, and `ArrowWriter` still writes the file's schema metadata.

use std::io::Write;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{SinkError, WriteOptions};
use crate::schema;

/// Rows to write, in order, as pieces whose columns are taken one at a
/// time, so that gathering a column runs in that column's encoding task.
pub trait Chunk: Sync {
    /// Pieces in the chunk.
    fn pieces(&self) -> usize;
    /// Rows of piece `p`.
    fn rows(&self, p: usize) -> usize;
    /// Column `c` (a top-level column of the lake schema) of piece `p`.
    fn column(&self, p: usize, c: usize) -> ArrayRef;
}

/// Where a file's bytes go. `finish` is called once, after the footer.
pub trait FileSink: Write + Send {
    fn finish(self: Box<Self>) -> Result<(), SinkError>;
}

/// A sink that counts the bytes it is given: the file's size, footer
/// included (the writer's own count stops before the footer).
struct Counted {
    inner: Box<dyn FileSink>,
    written: Arc<AtomicU64>,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl FileSink for Counted {
    fn finish(self: Box<Self>) -> Result<(), SinkError> {
        self.inner.finish()
    }
}

/// A file kept in memory.
#[derive(Default)]
pub struct MemorySink(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for MemorySink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("no panic holding it")
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl FileSink for MemorySink {
    fn finish(self: Box<Self>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Index among the partition's files written by this writer.
    pub index: usize,
    pub rows: u64,
    pub bytes: u64,
    /// Its Delta statistics (JSON), from its row groups' statistics.
    pub stats: String,
}

type Opener<'a> = dyn FnMut(usize) -> Result<Box<dyn FileSink>, SinkError> + 'a;

struct OpenFile {
    index: usize,
    /// Bytes the sink took, footer included.
    written: Arc<AtomicU64>,
    writer: SerializedFileWriter<Box<dyn FileSink>>,
    factory: ArrowRowGroupWriterFactory,
    /// Leaf columns of each top-level column, in leaf order.
    leaves: Vec<usize>,
    group: usize,
    rows: usize,
    /// The open row group: its column writers and rows so far, and the rows
    /// it will take.
    columns: Option<Vec<Vec<ArrowColumnWriter>>>,
    group_rows: usize,
    group_target: usize,
}

/// Writes one partition's rows as files of about the target size (a file
/// is closed at the first row-group boundary at or past the target; row
/// groups are shortened to land near it).
pub struct PartitionWriter<'a> {
    opts: WriteOptions,
    props: WriterProperties,
    schema: SchemaRef,
    open: Box<Opener<'a>>,
    file: Option<OpenFile>,
    written: Vec<WrittenFile>,
    /// A row group is closed once its encoded chunks hold this many bytes.
    row_group_bytes: usize,
}

impl<'a> PartitionWriter<'a> {
    /// `open(i)` opens the sink of the partition's `i`th file.
    pub fn new(
        opts: &WriteOptions,
        open: impl FnMut(usize) -> Result<Box<dyn FileSink>, SinkError> + 'a,
    ) -> Self {
        Self {
            props: opts.properties(),
            opts: opts.clone(),
            schema: schema::arrow_schema(),
            open: Box::new(open),
            file: None,
            written: Vec::new(),
            row_group_bytes: opts.row_group_bytes,
        }
    }

    /// Appends `chunk`'s rows.
    pub fn write(&mut self, chunk: &dyn Chunk) -> Result<(), SinkError> {
        // Pieces of the open row group not yet written: (piece, start, rows).
        let mut pending: Vec<(usize, usize, usize)> = Vec::new();
        for p in 0..chunk.pieces() {
            let (mut start, mut left) = (0, chunk.rows(p));
            while left > 0 {
                self.start_group()?;
                let file = self.file.as_mut().expect("a group is open");
                let n = left.min(file.group_target - file.group_rows);
                pending.push((p, start, n));
                file.group_rows += n;
                start += n;
                left -= n;
                if file.group_rows >= file.group_target {
                    self.feed(chunk, &std::mem::take(&mut pending))?;
                    self.end_group()?;
                }
            }
        }
        self.feed(chunk, &pending)?;
        // A row group of huge values ends early, to bound its memory.
        if let Some(file) = &self.file {
            let bytes: usize = file
                .columns
                .iter()
                .flatten()
                .flatten()
                .map(ArrowColumnWriter::get_estimated_total_bytes)
                .sum();
            if file.columns.is_some() && bytes >= self.row_group_bytes {
                self.end_group()?;
            }
        }
        Ok(())
    }

    /// Closes the last file; what was written.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, SinkError> {
        self.end_group()?;
        self.end_file()?;
        Ok(self.written)
    }

    /// Rows written so far, including the open row group's.
    pub fn rows(&self) -> u64 {
        self.written.iter().map(|f| f.rows).sum::<u64>()
            + self
                .file
                .as_ref()
                .map_or(0, |f| (f.rows + f.group_rows) as u64)
    }

    fn start_group(&mut self) -> Result<(), SinkError> {
        if self.file.as_ref().is_some_and(|f| f.columns.is_some()) {
            return Ok(());
        }
        let target = self.opts.target_file_bytes as usize;
        // Rows that still fit, at this file's bytes per row so far; within a
        // few dozen rows of the target, the file is done.
        if let Some(file) = &self.file {
            let written = file.writer.bytes_written();
            if let Some(per_row) = written.checked_div(file.rows) {
                let fit = target.saturating_sub(written) / per_row.max(1);
                if fit < 64 {
                    self.end_file()?;
                }
            }
        }
        if self.file.is_none() {
            let index = self.written.len();
            let written = Arc::new(AtomicU64::new(0));
            let sink: Box<dyn FileSink> = Box::new(Counted {
                inner: (self.open)(index)?,
                written: written.clone(),
            });
            let (writer, factory) =
                ArrowWriter::try_new(sink, self.schema.clone(), Some(self.props.clone()))
                    .and_then(ArrowWriter::into_serialized_writer)
                    .map_err(new_file)?;
            let descr = writer.schema_descr();
            let mut leaves = vec![0usize; self.schema.fields().len()];
            for leaf in 0..descr.num_columns() {
                leaves[descr.get_column_root_idx(leaf)] += 1;
            }
            self.file = Some(OpenFile {
                index,
                written,
                writer,
                factory,
                leaves,
                group: 0,
                rows: 0,
                columns: None,
                group_rows: 0,
                group_target: 0,
            });
        }
        let file = self.file.as_mut().expect("opened above");
        let mut rows = self.opts.row_group_rows;
        let written = file.writer.bytes_written();
        if let Some(per_row) = written.checked_div(file.rows) {
            rows = rows.min((target.saturating_sub(written) / per_row.max(1)).max(1));
        }
        let mut writers = file
            .factory
            .create_column_writers(file.group)
            .map_err(new_file)?
            .into_iter();
        file.columns = Some(
            file.leaves
                .iter()
                .map(|&n| writers.by_ref().take(n).collect())
                .collect(),
        );
        file.group_rows = 0;
        file.group_target = rows.max(1);
        Ok(())
    }

    /// Writes pieces into the open row group's column writers, a top-level
    /// column per rayon task.
    fn feed(
        &mut self,
        chunk: &dyn Chunk,
        pending: &[(usize, usize, usize)],
    ) -> Result<(), SinkError> {
        if pending.is_empty() {
            return Ok(());
        }
        let file = self.file.as_mut().expect("a group is open");
        let columns = file.columns.as_mut().expect("a group is open");
        let fields = self.schema.fields();
        columns
            .par_iter_mut()
            .enumerate()
            .try_for_each(|(c, writers)| {
                for &(p, start, n) in pending {
                    let mut array = chunk.column(p, c);
                    if start > 0 || n < array.len() {
                        array = array.slice(start, n);
                    }
                    for (leaf, w) in compute_leaves(&fields[c], &array)?
                        .iter()
                        .zip(writers.iter_mut())
                    {
                        w.write(leaf)?;
                    }
                }
                Ok::<_, parquet::errors::ParquetError>(())
            })
            .map_err(new_file)
    }

    fn end_group(&mut self) -> Result<(), SinkError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let Some(columns) = file.columns.take() else {
            return Ok(());
        };
        let chunks: Vec<_> = columns
            .into_par_iter()
            .map(|writers| {
                writers
                    .into_iter()
                    .map(ArrowColumnWriter::close)
                    .collect::<parquet::errors::Result<Vec<_>>>()
            })
            .collect::<parquet::errors::Result<_>>()
            .map_err(new_file)?;
        let mut rg = file.writer.next_row_group().map_err(new_file)?;
        for chunk in chunks.into_iter().flatten() {
            chunk.append_to_row_group(&mut rg).map_err(new_file)?;
        }
        rg.close().map_err(new_file)?;
        file.rows += file.group_rows;
        file.group_rows = 0;
        file.group += 1;
        Ok(())
    }

    fn end_file(&mut self) -> Result<(), SinkError> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let stats = super::stats::file_stats(file.writer.flushed_row_groups());
        let sink = file.writer.into_inner().map_err(new_file)?;
        sink.finish()?;
        let bytes = file.written.load(Ordering::Relaxed);
        self.written.push(WrittenFile {
            index: file.index,
            rows: file.rows as u64,
            bytes,
            stats,
        });
        Ok(())
    }
}

fn new_file(source: parquet::errors::ParquetError) -> SinkError {
    SinkError::Parquet {
        file: "<new file>".to_string(),
        source,
    }
}

/// Encodes merged rows as one or more Parquet files in memory.
pub fn encode(merged: &super::Merged, opts: &WriteOptions) -> Result<Vec<Vec<u8>>, SinkError> {
    let mut buffers = Vec::new();
    let mut writer = PartitionWriter::new(opts, |_| {
        let sink = MemorySink::default();
        buffers.push(sink.0.clone());
        Ok(Box::new(sink) as Box<dyn FileSink>)
    });
    writer.write(&merged.chunk(0, merged.num_rows()))?;
    writer.finish()?;
    Ok(buffers
        .into_iter()
        .map(|b| std::mem::take(&mut *b.lock().expect("no panic holding it")))
        .collect())
}
