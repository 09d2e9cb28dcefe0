//! The Parquet side of one partition: merge rows (existing and new),
//! deduplicate by `eventid`, sort by `eventtime`, and encode files of a
//! target size with row-group statistics.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{
    concat_batches, lexsort_to_indices, take_record_batch, SortColumn, SortOptions,
};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::schema::{self, EVENT_ID, EVENT_TIME, SOURCE_KEY};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{file}: {source}")]
    Parquet {
        file: String,
        source: parquet::errors::ParquetError,
    },
    #[error("{file}: schema differs from traillake's: {detail}")]
    Schema { file: String, detail: String },
}

/// How lake files are written.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub compression: Compression,
    /// A partition's rows go into as few files as this size allows.
    pub target_file_bytes: u64,
    /// Rows per row group: smaller groups let readers skip more by time.
    pub row_group_rows: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            // zstd(1) is ~1.8x faster to write than zstd(3) for about the
            // same size on CloudTrail JSON text.
            compression: Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")),
            target_file_bytes: 128 << 20,
            row_group_rows: 65_536,
        }
    }
}

impl WriteOptions {
    /// Parses `zstd`, `zstd(3)`, `snappy` or `none`.
    pub fn parse_compression(s: &str) -> Result<Compression, String> {
        let s = s.trim().to_ascii_lowercase();
        if s == "none" || s == "uncompressed" {
            return Ok(Compression::UNCOMPRESSED);
        }
        if s == "snappy" {
            return Ok(Compression::SNAPPY);
        }
        let level = match s.strip_prefix("zstd") {
            Some("") => 1,
            Some(rest) => rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|n| n.parse::<i32>().ok())
                .ok_or_else(|| {
                    format!("bad compression {s:?}: use zstd, zstd(N), snappy or none")
                })?,
            None => {
                return Err(format!(
                    "bad compression {s:?}: use zstd, zstd(N), snappy or none"
                ))
            }
        };
        ZstdLevel::try_new(level)
            .map(Compression::ZSTD)
            .map_err(|e| format!("bad zstd level {level}: {e}"))
    }

    fn properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(self.compression)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_statistics_enabled(EnabledStatistics::Page)
            .build()
    }
}

/// A partition after merging: sorted by time, one row per event.
pub struct Merged {
    pub batch: RecordBatch,
    /// Rows dropped because another row had the same `eventid`.
    pub duplicates: u64,
}

/// Merges batches of one partition: drops duplicate deliveries (same
/// non-null `eventid`), keeping the row with the smallest `sourcekey` (then
/// the earliest), and sorts by `eventtime`, `eventid`, `sourcekey`.
pub fn merge(batches: &[RecordBatch]) -> Merged {
    let schema = schema::arrow_schema();
    let all = concat_batches(&schema, batches).expect("batches share the lake schema");
    let n = all.num_rows();
    let seq: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..n as u32));
    let col = |name: &str| all.column(schema::column_index(name)).clone();
    let asc = SortOptions {
        descending: false,
        nulls_first: false,
    };
    let sort = |cols: Vec<ArrayRef>| {
        let cols: Vec<SortColumn> = cols
            .into_iter()
            .map(|values| SortColumn {
                values,
                options: Some(asc),
            })
            .collect();
        lexsort_to_indices(&cols, None).expect("sortable columns")
    };

    // Pass 1: dedupe on eventid, first by (sourcekey, arrival).
    let by_id = sort(vec![col(EVENT_ID), col(SOURCE_KEY), seq.clone()]);
    let ids = all
        .column(schema::column_index(EVENT_ID))
        .as_string::<i32>();
    let mut keep = Vec::with_capacity(n);
    let mut prev: Option<&str> = None;
    for &i in by_id.values() {
        let id = (!ids.is_null(i as usize)).then(|| ids.value(i as usize));
        if id.is_some() && id == prev {
            continue;
        }
        prev = id;
        keep.push(i);
    }
    let duplicates = (n - keep.len()) as u64;
    keep.sort_unstable();
    let kept = take_record_batch(&all, &UInt32Array::from(keep)).expect("indices in range");

    // Pass 2: order by time.
    let kcol = |name: &str| kept.column(schema::column_index(name)).clone();
    let kseq: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..kept.num_rows() as u32));
    let order = sort(vec![
        kcol(EVENT_TIME),
        kcol(EVENT_ID),
        kcol(SOURCE_KEY),
        kseq,
    ]);
    let batch = take_record_batch(&kept, &order).expect("indices in range");
    Merged { batch, duplicates }
}

/// Encodes sorted rows as one or more Parquet files of about the target
/// size each.
pub fn encode(batch: &RecordBatch, opts: &WriteOptions) -> Result<Vec<Vec<u8>>, SinkError> {
    const SLICE: usize = 8192;
    let err = |source| SinkError::Parquet {
        file: "<new file>".to_string(),
        source,
    };
    let props = opts.properties();
    let mut files = Vec::new();
    let mut writer: Option<ArrowWriter<Vec<u8>>> = None;
    let mut offset = 0;
    while offset < batch.num_rows() {
        let len = SLICE.min(batch.num_rows() - offset);
        let w = match writer.as_mut() {
            Some(w) => w,
            None => writer.insert(
                ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props.clone()))
                    .map_err(err)?,
            ),
        };
        w.write(&batch.slice(offset, len)).map_err(err)?;
        offset += len;
        if (w.bytes_written() + w.in_progress_size()) as u64 >= opts.target_file_bytes {
            files.push(writer.take().expect("open").into_inner().map_err(err)?);
        }
    }
    if let Some(w) = writer {
        files.push(w.into_inner().map_err(err)?);
    }
    Ok(files)
}

/// Reads a lake file back. It must have traillake's schema.
pub fn decode(name: &str, data: Bytes) -> Result<Vec<RecordBatch>, SinkError> {
    let err = |source| SinkError::Parquet {
        file: name.to_string(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)
        .map_err(err)?
        .with_batch_size(65_536)
        .build()
        .map_err(err)?;
    let expected = schema::arrow_schema();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| SinkError::Parquet {
            file: name.to_string(),
            source: e.into(),
        })?;
        if batch.schema().fields() != expected.fields() {
            return Err(SinkError::Schema {
                file: name.to_string(),
                detail: format!("{:?}", batch.schema().fields()),
            });
        }
        out.push(batch.with_schema(expected.clone()).expect("same fields"));
    }
    Ok(out)
}
