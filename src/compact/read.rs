//! Reading the lake's own files as sorted runs for a merge: a file being
//! rewritten, whole ([`LakeFileRun`]); a file that stays, by its keys only
//! and only in the row groups whose `eventtime` range meets the new rows'
//! ([`SettledRun`]). On S3 a file is read by ranged GETs, each covering
//! the column chunks of one row group that the read needs (so a run holds
//! one row group's compressed chunks, never the file).

use std::ops::Range;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use bytes::{Buf, Bytes};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::Statistics;

use crate::lake::{Lake, LakeFile};
use crate::schema::{self, EVENT_ID, EVENT_TIME};
use crate::sink::stream::SortedRun;
use crate::sink::SinkError;
use crate::store::{describe, RequestKind};

/// A lake file's bytes, local or remote.
#[derive(Clone)]
pub enum Source {
    Local(Arc<std::fs::File>),
    Remote(Arc<Remote>),
}

pub struct Remote {
    store: Arc<dyn ObjectStore>,
    path: Path,
    url: String,
    size: u64,
    handle: tokio::runtime::Handle,
    /// Byte ranges fetched whole when first touched: the column chunks a
    /// read needs, one range per row group (adjacent chunks coalesced).
    plan: Mutex<Vec<Range<u64>>>,
    cache: Mutex<Option<(Range<u64>, Bytes)>>,
}

impl Source {
    pub fn open(
        lake: &Lake,
        file: &LakeFile,
        handle: &tokio::runtime::Handle,
    ) -> Result<Source, SinkError> {
        if let Some(path) = lake.loc.local_path(&file.rel) {
            lake.loc.requests.count(RequestKind::Get);
            let f = std::fs::File::open(&path).map_err(|source| SinkError::Io {
                file: lake.loc.url_of_relative(&file.rel),
                source,
            })?;
            return Ok(Source::Local(Arc::new(f)));
        }
        Ok(Source::Remote(Arc::new(Remote {
            store: lake.loc.store.clone(),
            path: lake.path(&file.rel),
            url: lake.loc.url_of_relative(&file.rel),
            size: file.size,
            handle: handle.clone(),
            plan: Mutex::new(Vec::new()),
            cache: Mutex::new(None),
        })))
    }

    /// Reads the ranges a read of `columns` (leaf indices) in `row_groups`
    /// will need whole, a row group at a time.
    fn plan(&self, meta: &ParquetMetaData, row_groups: &[usize], columns: &[usize]) {
        let Source::Remote(r) = self else { return };
        let mut plan = Vec::new();
        for &g in row_groups {
            let rg = meta.row_group(g);
            let mut ranges: Vec<Range<u64>> = columns
                .iter()
                .map(|&c| {
                    let (start, len) = rg.column(c).byte_range();
                    start..start + len
                })
                .collect();
            ranges.sort_by_key(|r| r.start);
            // One range per row group: the span from its first needed chunk
            // to its last, unless that span is mostly chunks not needed.
            let needed: u64 = ranges.iter().map(|r| r.end - r.start).sum();
            let span = ranges
                .first()
                .map_or(0..0, |f| f.start..ranges.last().expect("some").end);
            if span.end - span.start <= needed * 2 + (1 << 20) {
                plan.push(span);
            } else {
                plan.extend(ranges);
            }
        }
        *r.plan.lock().expect("no panic holding it") = plan;
    }
}

impl Remote {
    fn fetch(&self, range: Range<u64>) -> parquet::errors::Result<Bytes> {
        let store = self.store.clone();
        let path = self.path.clone();
        let r = range.clone();
        self.handle
            .block_on(async move { store.get_range(&path, r).await })
            .map_err(|e| {
                parquet::errors::ParquetError::External(
                    format!("{}: {}", self.url, describe(&e)).into(),
                )
            })
    }

    fn bytes(&self, start: u64, len: usize) -> parquet::errors::Result<Bytes> {
        let end = start + len as u64;
        {
            let cache = self.cache.lock().expect("no panic holding it");
            if let Some((r, b)) = cache.as_ref() {
                if r.start <= start && end <= r.end {
                    return Ok(b.slice((start - r.start) as usize..(end - r.start) as usize));
                }
            }
        }
        let planned = self
            .plan
            .lock()
            .expect("no panic holding it")
            .iter()
            .find(|r| r.start <= start && end <= r.end)
            .cloned();
        match planned {
            Some(range) => {
                let data = self.fetch(range.clone())?;
                let out = data.slice((start - range.start) as usize..(end - range.start) as usize);
                *self.cache.lock().expect("no panic holding it") = Some((range, data));
                Ok(out)
            }
            None => self.fetch(start..end),
        }
    }
}

impl Length for Source {
    fn len(&self) -> u64 {
        match self {
            Source::Local(f) => f.len(),
            Source::Remote(r) => r.size,
        }
    }
}

impl ChunkReader for Source {
    type T = Box<dyn std::io::Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        match self {
            Source::Local(f) => Ok(Box::new(f.as_ref().get_read(start)?)),
            Source::Remote(r) => {
                // Page headers: what the cache holds from there on, or up to
                // 64 KiB.
                let cached_end = r
                    .cache
                    .lock()
                    .expect("no panic holding it")
                    .as_ref()
                    .filter(|(range, _)| range.start <= start && start < range.end)
                    .map(|(range, _)| range.end);
                let plan_end = r
                    .plan
                    .lock()
                    .expect("no panic holding it")
                    .iter()
                    .find(|range| range.start <= start && start < range.end)
                    .map(|range| range.end);
                let end = cached_end
                    .or(plan_end)
                    .unwrap_or_else(|| (start + (64 << 10)).min(r.size));
                Ok(Box::new(r.bytes(start, (end - start) as usize)?.reader()))
            }
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            Source::Local(f) => f.as_ref().get_bytes(start, length),
            Source::Remote(r) => r.bytes(start, length),
        }
    }
}

fn parquet_err(file: &str) -> impl Fn(parquet::errors::ParquetError) -> SinkError + '_ {
    move |source| SinkError::Parquet {
        file: file.to_string(),
        source,
    }
}

/// A lake file opened for reading: its footer and rows.
pub struct OpenLakeFile {
    pub file: LakeFile,
    pub url: String,
    source: Source,
    meta: ArrowReaderMetadata,
}

impl OpenLakeFile {
    pub fn open(
        lake: &Lake,
        file: &LakeFile,
        handle: &tokio::runtime::Handle,
    ) -> Result<Self, SinkError> {
        let url = lake.loc.url_of_relative(&file.rel);
        let source = Source::open(lake, file, handle)?;
        let meta = ArrowReaderMetadata::load(&source, ArrowReaderOptions::default())
            .map_err(parquet_err(&url))?;
        let fields = meta.schema().fields();
        if fields != schema::arrow_schema().fields() {
            return Err(SinkError::Schema {
                file: url,
                detail: format!("{fields:?}"),
            });
        }
        Ok(Self {
            file: file.clone(),
            url,
            source,
            meta,
        })
    }

    pub fn rows(&self) -> u64 {
        self.meta.metadata().file_metadata().num_rows().max(0) as u64
    }

    /// Adds the source folders of the file's rows (its `sourcekey` column,
    /// read alone) to `into`.
    pub fn source_folders(
        &self,
        into: &mut std::collections::BTreeSet<String>,
    ) -> Result<(), SinkError> {
        let md = self.meta.metadata();
        let Some(leaf) = leaf_index(md, schema::SOURCE_KEY) else {
            return Ok(());
        };
        let groups = (0..md.num_row_groups()).collect();
        for batch in self.reader(groups, Some(&[leaf]), None, 8192)? {
            let batch = batch.map_err(|e| SinkError::Parquet {
                file: self.url.clone(),
                source: e.into(),
            })?;
            crate::lake::manifest::note_sources(&batch, into);
        }
        Ok(())
    }

    /// The `eventtime` range of each row group, from its statistics.
    fn time_ranges(&self) -> Vec<Option<(Vec<u8>, Vec<u8>)>> {
        let md = self.meta.metadata();
        let leaf = leaf_index(md, EVENT_TIME);
        (0..md.num_row_groups())
            .map(
                |g| match leaf.and_then(|l| md.row_group(g).column(l).statistics()) {
                    Some(Statistics::ByteArray(s)) => {
                        Some((s.min_bytes_opt()?.to_vec(), s.max_bytes_opt()?.to_vec()))
                    }
                    _ => None,
                },
            )
            .collect()
    }

    /// Whether any row's `eventtime` may lie in `[first, last]`.
    pub fn overlaps(&self, first: &str, last: &str) -> bool {
        !self.overlapping(first, last).is_empty()
    }

    fn overlapping(&self, first: &str, last: &str) -> Vec<usize> {
        self.time_ranges()
            .iter()
            .enumerate()
            .filter(|(_, r)| match r {
                Some((min, max)) => {
                    min.as_slice() <= last.as_bytes() && first.as_bytes() <= max.as_slice()
                }
                None => true,
            })
            .map(|(g, _)| g)
            .collect()
    }

    /// Average decoded bytes of a row.
    fn row_bytes(&self) -> usize {
        let md = self.meta.metadata();
        let bytes: i64 = md.row_groups().iter().map(|g| g.total_byte_size()).sum();
        (bytes.max(0) as usize)
            .checked_div(self.rows() as usize)
            .unwrap_or(1024)
            .max(1)
    }

    fn reader(
        &self,
        row_groups: Vec<usize>,
        projection: Option<&[usize]>,
        selection: Option<RowSelection>,
        batch_rows: usize,
    ) -> Result<ParquetRecordBatchReader, SinkError> {
        self.reader_on(&self.source, row_groups, projection, selection, batch_rows)
    }

    /// [`Self::reader`] reading through `source` (the same file opened
    /// again, so two readers of it do not share a plan or a cache).
    fn reader_on(
        &self,
        source: &Source,
        row_groups: Vec<usize>,
        projection: Option<&[usize]>,
        selection: Option<RowSelection>,
        batch_rows: usize,
    ) -> Result<ParquetRecordBatchReader, SinkError> {
        let md = self.meta.metadata().clone();
        let leaves: Vec<usize> = match projection {
            Some(p) => p.to_vec(),
            None => (0..md.file_metadata().schema_descr().num_columns()).collect(),
        };
        source.plan(&md, &row_groups, &leaves);
        let mut b =
            ParquetRecordBatchReaderBuilder::new_with_metadata(source.clone(), self.meta.clone())
                .with_row_groups(row_groups)
                .with_batch_size(batch_rows.max(1));
        if let Some(p) = projection {
            let mask = ProjectionMask::leaves(b.parquet_schema(), p.iter().copied());
            b = b.with_projection(mask);
        }
        if let Some(s) = selection {
            b = b.with_row_selection(s);
        }
        b.build().map_err(parquet_err(&self.url))
    }
}

fn leaf_index(md: &ParquetMetaData, name: &str) -> Option<usize> {
    md.file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().string() == name)
}

/// A lake file's rows, every column, in batches of about `batch_bytes`.
pub struct LakeFileRun {
    reader: ParquetRecordBatchReader,
    url: String,
}

impl LakeFileRun {
    pub fn new(file: &OpenLakeFile, batch_bytes: usize) -> Result<Self, SinkError> {
        let groups = (0..file.meta.metadata().num_row_groups()).collect();
        let rows = (batch_bytes / file.row_bytes()).clamp(16, 8192);
        Ok(Self {
            reader: file.reader(groups, None, None, rows)?,
            url: file.url.clone(),
        })
    }
}

impl SortedRun for LakeFileRun {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, SinkError> {
        let url = &self.url;
        crate::sink::stream::next_in_lake_schema(&mut self.reader, |e| SinkError::Parquet {
            file: url.clone(),
            source: e.into(),
        })
    }
}

/// The keys (`eventtime`, `eventid`) of a file that stays as it is, in the
/// row groups that meet a time range; a row's other columns on demand.
///
/// Rows are asked for in the merge's order, which is the file's: so every
/// column is read by one more reader that only goes forward, a batch at a
/// time, started (again) at the row group of the row asked for when that
/// lies past what it would read next. A day delivered twice, every row a
/// duplicate, reads the file once more, not once per row.
pub struct SettledRun {
    file: OpenLakeFile,
    groups: Vec<usize>,
    /// Where each of `groups` starts, counted in rows of `groups`.
    group_starts: Vec<usize>,
    reader: ParquetRecordBatchReader,
    /// Where each batch returned starts, counted in rows of `groups`.
    batch_starts: Vec<usize>,
    rows_out: usize,
    /// The lake and runtime, to open the file again for the full rows.
    lake: Lake,
    handle: tokio::runtime::Handle,
    full: Option<FullRows>,
}

/// The forward-only reader of every column of a settled file.
struct FullRows {
    reader: ParquetRecordBatchReader,
    /// The batch read last and the row (of `groups`) it starts at.
    batch: Option<RecordBatch>,
    start: usize,
    /// The row the next batch starts at.
    next: usize,
}

impl SettledRun {
    /// `None` when no row group meets `[first, last]`.
    pub fn new(
        file: OpenLakeFile,
        first: &str,
        last: &str,
        lake: &Lake,
        handle: &tokio::runtime::Handle,
    ) -> Result<Option<Self>, SinkError> {
        let groups = file.overlapping(first, last);
        if groups.is_empty() {
            return Ok(None);
        }
        let md = file.meta.metadata().clone();
        let keys: Vec<usize> = [EVENT_TIME, EVENT_ID]
            .iter()
            .filter_map(|n| leaf_index(&md, n))
            .collect();
        let mut group_starts = Vec::with_capacity(groups.len());
        let mut at = 0usize;
        for &g in &groups {
            group_starts.push(at);
            at += md.row_group(g).num_rows().max(0) as usize;
        }
        let reader = file.reader(groups.clone(), Some(&keys), None, 8192)?;
        Ok(Some(Self {
            file,
            groups,
            group_starts,
            reader,
            batch_starts: Vec::new(),
            rows_out: 0,
            lake: lake.clone(),
            handle: handle.clone(),
            full: None,
        }))
    }

    /// A forward reader of every column from the `i`th of `groups` on.
    fn full_from(&self, i: usize) -> Result<FullRows, SinkError> {
        let source = Source::open(&self.lake, &self.file.file, &self.handle)?;
        let rows = ((1usize << 20) / self.file.row_bytes()).clamp(16, 4096);
        let reader = self
            .file
            .reader_on(&source, self.groups[i..].to_vec(), None, None, rows)?;
        Ok(FullRows {
            reader,
            batch: None,
            start: self.group_starts[i],
            next: self.group_starts[i],
        })
    }
}

impl SortedRun for SettledRun {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, SinkError> {
        match self.reader.next() {
            None => Ok(None),
            Some(r) => {
                let b = r.map_err(|e| SinkError::Parquet {
                    file: self.file.url.clone(),
                    source: e.into(),
                })?;
                self.batch_starts.push(self.rows_out);
                self.rows_out += b.num_rows();
                Ok(Some(b))
            }
        }
    }

    fn full_row(&mut self, batch: usize, row: usize) -> Result<(RecordBatch, usize), SinkError> {
        let at = self.batch_starts[batch] + row;
        if at >= self.rows_out {
            return Err(SinkError::Store(format!(
                "{}: row beyond the row groups read",
                self.file.url
            )));
        }
        // The row group holding `at`.
        let i = self.group_starts.partition_point(|&s| s <= at) - 1;
        let restart = match &self.full {
            None => true,
            // Behind the reader (not in the merge's order), or whole row
            // groups ahead of it: start again at the row's row group.
            Some(f) => at < f.start || self.group_starts[i] > f.next,
        };
        if restart {
            self.full = Some(self.full_from(i)?);
        }
        let url = &self.file.url;
        let f = self.full.as_mut().expect("started above");
        loop {
            if let Some(b) = &f.batch {
                if at < f.start + b.num_rows() {
                    return Ok((b.clone(), at - f.start));
                }
            }
            let b = f
                .reader
                .next()
                .ok_or_else(|| SinkError::Store(format!("{url}: row {at} missing")))?
                .map_err(|e| SinkError::Parquet {
                    file: url.clone(),
                    source: e.into(),
                })?;
            f.start = f.next;
            f.next += b.num_rows();
            f.batch = Some(
                b.with_schema(schema::arrow_schema())
                    .expect("checked on open"),
            );
        }
    }
}
