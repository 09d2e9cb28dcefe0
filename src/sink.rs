//! The Parquet side of one partition: merge rows (existing and new),
//! deduplicate by `eventid`, sort by `eventtime`, and encode files of a
//! target size with row-group statistics.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    make_array, Array, ArrayData, ArrayRef, AsArray, BooleanBufferBuilder, ListArray,
    MutableArrayData, RecordBatch, StringArray, StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Fields};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowColumnWriter};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

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
    /// How the many-valued string columns are encoded.
    pub string_encoding: StringEncoding,
}

/// How the many-valued string columns (ids, addresses, key ids, times),
/// which take no dictionary, are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringEncoding {
    /// Parquet's delta encodings where they are smaller: lengths apart
    /// from the bytes (`DELTA_LENGTH_BYTE_ARRAY`) or also prefixes shared
    /// with the previous value (`DELTA_BYTE_ARRAY`). Athena (engine 3),
    /// Trino, Spark 3.4+, DuckDB and arrow read them. The default.
    Delta,
    /// `PLAIN` throughout, for readers without the delta encodings.
    Plain,
}

impl StringEncoding {
    /// Parses `delta` or `plain`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "delta" => Ok(Self::Delta),
            "plain" => Ok(Self::Plain),
            _ => Err(format!("bad string encoding {s:?}: use delta or plain")),
        }
    }
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            // zstd(1) is ~1.8x faster to write than zstd(3) for about the
            // same size on CloudTrail JSON text.
            compression: Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")),
            target_file_bytes: 128 << 20,
            row_group_rows: 65_536,
            string_encoding: StringEncoding::Delta,
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
        // Statistics: per page for `eventtime` (rows are sorted by it, so
        // readers skip row groups and pages by time); per row group for the
        // few columns in [`CHUNK_STATISTICS`]; none for the rest. A min/max
        // costs two compares per value as it is written, and on most
        // columns it can never rule a row group out: a partition's row
        // group spans nearly every ARN, key id, address, user agent and
        // flag value there is. They were dropped in steps, each measured:
        // on free text and documents (~5% of a run, perf), on identity
        // columns (~2%), on names and hosts (~1.5%), and on the remaining
        // dictionary columns (-2.3% instructions, callgrind). Every footer
        // that readers fetch is smaller for it too.
        let mut props = WriterProperties::builder()
            .set_compression(self.compression)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            // 256 KiB pages rather than parquet's 1 MiB: a page's buffer is
            // filled, copied with its levels and compressed, and the smaller
            // one stays in the core's 2 MiB L2 and in freed heap memory
            // (measured while the plain buffer still grew by doubling, before
            // vendor/parquet's patch: callgrind with a 2 MiB last-level
            // cache, -8% misses, -0.3% instructions; 17 alternating pairs on
            // 430 MB: faster in 14, 2-5% less CPU, ~8% fewer page faults).
            // The lake grows 0.8%, and readers skip by time in finer steps.
            .set_data_page_size_limit(PAGE_BYTES)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_column_statistics_enabled(ColumnPath::from(EVENT_TIME), EnabledStatistics::Page);
        for col in CHUNK_STATISTICS {
            props = props.set_column_statistics_enabled(path(col), EnabledStatistics::Chunk);
        }
        // Dictionary encoding only costs time on columns that are (nearly)
        // unique per row: hashing every value, then falling back to plain.
        // On the many-valued identity columns and the sorted `eventtime`,
        // plain + zstd is also smaller than dictionary + zstd (measured on
        // 430 MB of generated logs against DuckDB's plain + zstd output).
        // On the rest, dictionary + zstd is both smaller and faster than
        // plain + zstd (without any dictionary: +1.4% instructions, +9%
        // bytes).
        for col in UNIQUE_PER_ROW.iter().chain(PLAIN) {
            props = props.set_column_dictionary_enabled(path(col), false);
        }
        if self.string_encoding == StringEncoding::Delta {
            for (col, encoding) in DELTA {
                props = props.set_column_encoding(path(col), *encoding);
            }
        }
        props.build()
    }
}

/// Data page size limit.
const PAGE_BYTES: usize = 256 << 10;

/// Columns, besides `eventtime`, with row-group statistics (null count,
/// min and max). `errorcode`'s null count lets readers skip row groups
/// without errors (`errorcode IS NOT NULL`, scan-cost's `errors`); event
/// names and sources are what an investigation filters by, and a quiet
/// account's day can miss the one asked for; account and region are the
/// same in every row of a partition, so a query that names them instead
/// of the partition columns still skips other partitions' files.
const CHUNK_STATISTICS: &[&str] = &[
    "errorcode",
    "eventname",
    "eventsource",
    "recipientaccountid",
    "awsregion",
];

/// Columns whose values are (nearly) unique per row.
const UNIQUE_PER_ROW: &[&str] = &[
    "eventid",
    "requestid",
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "serviceeventdetails",
    "otherfields",
];

/// Many-valued columns written plain (no dictionary).
const PLAIN: &[&str] = &[
    "eventtime",
    "sourceipaddress",
    "useridentity.principalid",
    "useridentity.accesskeyid",
    "useridentity.arn",
    "useridentity.sessioncontext.sessionissuer.principalid",
    "useridentity.sessioncontext.attributes.creationdate",
];

/// Columns without a dictionary that take a delta encoding (unless
/// [`StringEncoding::Plain`]), each in the one that came out smallest
/// under zstd (430 MB of generated logs): random ids, key ids and
/// addresses keep only their lengths apart (eventid and requestid -8%,
/// creationdate -16%); principal ids also drop the prefix they share
/// with the value before (the issuer's -2%; the user's +2%, but 0.9% fewer
/// instructions). The rest stay `PLAIN`: ARNs repeat whole, which zstd
/// finds better, and `eventtime` was 5% larger either way. Fewer bytes go
/// through zstd: -4.1% instructions (callgrind), 3% smaller, and 5 of 6
/// alternating pairs faster, with 8% less CPU.
const DELTA: &[(&str, Encoding)] = &[
    ("eventid", Encoding::DELTA_LENGTH_BYTE_ARRAY),
    ("requestid", Encoding::DELTA_LENGTH_BYTE_ARRAY),
    ("sourceipaddress", Encoding::DELTA_LENGTH_BYTE_ARRAY),
    (
        "useridentity.accesskeyid",
        Encoding::DELTA_LENGTH_BYTE_ARRAY,
    ),
    (
        "useridentity.sessioncontext.attributes.creationdate",
        Encoding::DELTA_LENGTH_BYTE_ARRAY,
    ),
    ("useridentity.principalid", Encoding::DELTA_BYTE_ARRAY),
    (
        "useridentity.sessioncontext.sessionissuer.principalid",
        Encoding::DELTA_BYTE_ARRAY,
    ),
];

/// A Parquet column path from dotted names.
fn path(dotted: &str) -> ColumnPath {
    ColumnPath::new(dotted.split('.').map(str::to_string).collect())
}

/// A partition after merging: sorted by time, one row per event. The rows
/// stay in their source batches; `order` says which to take, in what order.
/// [`encode`] writes long runs of it straight from their batches and
/// gathers the rest a slice at a time, so a partition's rows are never held
/// twice (gathering the whole partition at once cost a fresh copy of it:
/// ~18% of a run's page faults, measured with `perf record -e page-faults`).
pub struct Merged {
    batches: Vec<RecordBatch>,
    order: Vec<(usize, usize)>,
    /// `order` as runs `(batch, start, end)` of consecutive rows of one
    /// batch, and where each run starts in `order`.
    runs: Vec<(usize, usize, usize)>,
    run_starts: Vec<usize>,
    /// Rows dropped because another row had the same `eventid`.
    pub duplicates: u64,
}

impl Merged {
    /// Rows after deduplication.
    pub fn num_rows(&self) -> usize {
        self.order.len()
    }

    /// Column `c` of the merged rows `[offset, offset + len)`.
    ///
    /// The decoder takes a slice's records in time order, so the merged
    /// order is mostly runs of consecutive rows of one batch: those are
    /// copied a run at a time, into buffers sized exactly beforehand.
    /// Gathering row by row with `interleave` was ~7% of a run (perf); it
    /// is kept for orders made of short runs.
    pub fn column_slice(&self, c: usize, offset: usize, len: usize) -> ArrayRef {
        let order = &self.order[offset..offset + len];
        let arrays: Vec<&dyn Array> = self.batches.iter().map(|b| b.column(c).as_ref()).collect();
        let runs = self.runs(offset, len);
        if runs.len() * MIN_RUN > len {
            return interleave(&arrays, order).expect("batches share the lake schema");
        }
        gather_runs(&arrays, &runs, len)
    }

    /// Rows `[offset, offset + len)` as the pieces [`encode`] writes in
    /// turn: a run of at least [`LONG_RUN`] rows is written straight from
    /// its batch (a zero-copy slice); shorter runs are gathered, up to
    /// [`GATHER_ROWS`] rows at a time. The decoder takes a slice's files
    /// in time order and each file's records sorted, so a partition's rows
    /// are mostly a few long runs, about one per batch; gathering them all
    /// was ~5% of a run (perf).
    fn pieces(&self, offset: usize, len: usize) -> Vec<Piece> {
        let mut out = Vec::new();
        // Short runs not yet written: from `pending` to `at`.
        let (mut pending, mut at) = (offset, offset);
        for (b, start, end) in self.runs(offset, len) {
            let n = end - start;
            if n >= LONG_RUN {
                if pending < at {
                    out.push(Piece::Gather(pending, at - pending));
                }
                out.push(Piece::Run(b, start, n));
                pending = at + n;
            } else if at + n - pending > GATHER_ROWS {
                if pending < at {
                    out.push(Piece::Gather(pending, at - pending));
                }
                pending = at;
            }
            at += n;
        }
        if pending < at {
            out.push(Piece::Gather(pending, at - pending));
        }
        out
    }

    /// Column `c` of one piece.
    fn piece(&self, c: usize, piece: &Piece) -> ArrayRef {
        match *piece {
            Piece::Run(b, start, n) => self.batches[b].column(c).slice(start, n),
            Piece::Gather(offset, len) => self.column_slice(c, offset, len),
        }
    }

    /// The runs of rows `[offset, offset + len)`, cut to that range.
    fn runs(&self, offset: usize, len: usize) -> Vec<(usize, usize, usize)> {
        // The run holding `offset`: the last one starting at or before it.
        let first = self.run_starts.partition_point(|&s| s <= offset) - 1;
        let mut out = Vec::new();
        for (i, &(b, start, end)) in self.runs.iter().enumerate().skip(first) {
            let at = self.run_starts[i];
            if at >= offset + len {
                break;
            }
            let skip = offset.saturating_sub(at);
            let take = (end - start - skip).min(offset + len - at.max(offset));
            out.push((b, start + skip, start + skip + take));
        }
        out
    }

    /// The merged rows `[offset, offset + len)` as one batch (tests compare
    /// with it; [`encode`] gathers column by column).
    #[cfg(test)]
    pub fn slice(&self, offset: usize, len: usize) -> RecordBatch {
        let schema = schema::arrow_schema();
        let columns = (0..schema.fields().len())
            .map(|c| self.column_slice(c, offset, len))
            .collect();
        RecordBatch::try_new(schema, columns).expect("batches share the lake schema")
    }
}

/// Average run length below which rows are gathered one by one.
const MIN_RUN: usize = 4;

/// Runs at least this long are written from their batch as they are:
/// past it, a write's fixed cost (levels, page checks, for each of ~50
/// leaf columns) is small next to copying the rows.
const LONG_RUN: usize = 512;

/// Most rows gathered into one array.
const GATHER_ROWS: usize = 8192;

/// Part of a row group's rows, in merged order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// `(batch, start, rows)`: consecutive rows of one batch.
    Run(usize, usize, usize),
    /// `(offset, rows)`: merged rows gathered from short runs.
    Gather(usize, usize),
}

/// `order` as runs `(batch, start, end)` of consecutive rows of one batch.
fn runs(order: &[(usize, usize)]) -> Vec<(usize, usize, usize)> {
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for &(b, r) in order {
        match runs.last_mut() {
            Some((lb, _, end)) if *lb == b && *end == r => *end += 1,
            _ => runs.push((b, r, r + 1)),
        }
    }
    runs
}

/// Gathers `runs` of `arrays` into one array of `len` rows, copying each
/// run's bytes at once into buffers sized beforehand. Structs and lists are
/// taken apart and their children gathered the same way (arrow's
/// `MutableArrayData` sizes nested buffers only by doubling as they fill,
/// and refuses struct capacities); it serves only types the lake schema
/// does not use.
fn gather_runs(arrays: &[&dyn Array], runs: &[(usize, usize, usize)], len: usize) -> ArrayRef {
    match arrays[0].data_type() {
        DataType::Utf8 => {
            let strings: Vec<&StringArray> = arrays.iter().map(|a| a.as_string::<i32>()).collect();
            let bytes: usize = runs
                .iter()
                .map(|&(b, start, end)| {
                    let offsets = strings[b].value_offsets();
                    (offsets[end] - offsets[start]) as usize
                })
                .sum();
            assert!(
                bytes <= i32::MAX as usize,
                "a slice of rows fits in 32-bit offsets"
            );
            let mut offsets: Vec<i32> = Vec::with_capacity(len + 1);
            offsets.push(0);
            let mut values: Vec<u8> = Vec::with_capacity(bytes);
            for &(b, start, end) in runs {
                let from = strings[b].value_offsets();
                extend_offsets(&mut offsets, from, start, end);
                values.extend_from_slice(
                    &strings[b].value_data()[from[start] as usize..from[end] as usize],
                );
            }
            let nulls = gather_nulls(arrays, runs, len);
            let offsets = OffsetBuffer::new(offsets.into());
            // SAFETY: `values` is whole values of valid string arrays, each
            // run's bytes copied from one value start to another, and
            // `offsets` marks those same starts (checked monotonic by
            // `OffsetBuffer::new`). Validating the UTF-8 again was ~1% of a
            // run (perf).
            Arc::new(unsafe { StringArray::new_unchecked(offsets, values.into(), nulls) })
        }
        DataType::Struct(fields) => {
            let children = (0..fields.len())
                .map(|i| {
                    let columns: Vec<&dyn Array> = arrays
                        .iter()
                        .map(|a| a.as_struct().column(i).as_ref())
                        .collect();
                    gather_runs(&columns, runs, len)
                })
                .collect();
            let nulls = gather_nulls(arrays, runs, len);
            Arc::new(
                StructArray::try_new(fields.clone(), children, nulls)
                    .expect("children gathered alike"),
            )
        }
        DataType::List(field) => {
            let lists: Vec<&ListArray> = arrays.iter().map(|a| a.as_list::<i32>()).collect();
            let mut offsets = Vec::with_capacity(len + 1);
            offsets.push(0i32);
            let mut element_runs = Vec::with_capacity(runs.len());
            for &(b, start, end) in runs {
                let from = lists[b].value_offsets();
                extend_offsets(&mut offsets, from, start, end);
                element_runs.push((b, from[start] as usize, from[end] as usize));
            }
            let values: Vec<&dyn Array> = lists.iter().map(|l| l.values().as_ref()).collect();
            let elements = *offsets.last().expect("starts at 0") as usize;
            let values = gather_runs(&values, &element_runs, elements);
            let nulls = gather_nulls(arrays, runs, len);
            Arc::new(
                ListArray::try_new(
                    field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    values,
                    nulls,
                )
                .expect("offsets gathered with their elements"),
            )
        }
        _ => {
            let data: Vec<ArrayData> = arrays.iter().map(|a| a.to_data()).collect();
            let mut out = MutableArrayData::new(data.iter().collect(), false, len);
            for &(b, start, end) in runs {
                out.try_extend(b, start, end)
                    .expect("a slice of rows fits in 32-bit offsets");
            }
            make_array(out.freeze())
        }
    }
}

/// Appends the offsets of rows `[start, end)` (offsets `from`) to `out`,
/// shifted so they continue from `out`'s last offset.
fn extend_offsets(out: &mut Vec<i32>, from: &[i32], start: usize, end: usize) {
    let base = *out.last().expect("offsets start at 0") - from[start];
    out.extend(from[start + 1..=end].iter().map(|o| o + base));
}

/// The validity of `runs` of `arrays`; `None` when no row is null.
fn gather_nulls(
    arrays: &[&dyn Array],
    runs: &[(usize, usize, usize)],
    len: usize,
) -> Option<NullBuffer> {
    if arrays.iter().all(|a| a.null_count() == 0) {
        return None;
    }
    let mut valid = BooleanBufferBuilder::new(len);
    for &(b, start, end) in runs {
        match arrays[b].nulls() {
            Some(nulls) => valid.append_buffer(&nulls.inner().slice(start, end - start)),
            None => valid.append_n(end - start, true),
        }
    }
    Some(NullBuffer::new(valid.finish()))
}

/// Merges batches of one partition: drops duplicate deliveries (same
/// non-null `eventid`), keeping the row with the smallest `sourcekey` (then
/// the earliest), and sorts by `eventtime`, `eventid`, `sourcekey`, arrival.
///
/// Nothing is copied here: the order is computed on `(batch, row)` pairs,
/// and [`encode`] writes long runs of it from their batches and gathers the
/// rest (`Merged::pieces`).
pub fn merge(batches: Vec<RecordBatch>) -> Merged {
    let strings = |name: &str| -> Vec<&StringArray> {
        let i = schema::column_index(name);
        batches
            .iter()
            .map(|b| b.column(i).as_string::<i32>())
            .collect()
    };
    let (times, ids, keys) = (strings(EVENT_TIME), strings(EVENT_ID), strings(SOURCE_KEY));
    fn get<'a>(col: &[&'a StringArray], (b, r): (usize, usize)) -> Option<&'a str> {
        let a = col[b];
        (!a.is_null(r)).then(|| a.value(r))
    }
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    // Sorted on a fixed-width prefix of `eventtime` first, the strings
    // compared only on ties: string compares were most of the sort's time.
    let mut keyed: Vec<(TimePrefix, (usize, usize))> = Vec::with_capacity(n);
    for (b, batch) in batches.iter().enumerate() {
        keyed.extend((0..batch.num_rows()).map(|r| (time_prefix(get(&times, (b, r))), (b, r))));
    }
    // `keyed` is in arrival order, so (b, r) order is arrival order. The
    // order is total, so a stable sort gives the same result; it finds the
    // sorted runs each file's rows arrive in and merges them.
    keyed.sort_by(|(px, x), (py, y)| {
        px.cmp(py).then_with(|| {
            let key = |p| (get(&times, p), get(&ids, p), get(&keys, p));
            cmp_nulls_last(key(*x), key(*y)).then(x.cmp(y))
        })
    });
    let mut rows: Vec<(usize, usize)> = keyed.into_iter().map(|(_, p)| p).collect();
    // The copy of each eventid to keep: smallest (sourcekey, arrival).
    let mut best: HashMap<&str, (usize, usize), foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(n, Default::default());
    for &p in &rows {
        if let Some(id) = get(&ids, p) {
            best.entry(id)
                .and_modify(|q| {
                    if (get(&keys, p), p) < (get(&keys, *q), *q) {
                        *q = p;
                    }
                })
                .or_insert(p);
        }
    }
    rows.retain(|&p| get(&ids, p).is_none_or(|id| best[id] == p));
    drop(best);
    let duplicates = (n - rows.len()) as u64;
    let runs = runs(&rows);
    let run_starts = runs
        .iter()
        .scan(0, |at, &(_, start, end)| {
            let s = *at;
            *at += end - start;
            Some(s)
        })
        .collect();
    Merged {
        batches,
        order: rows,
        runs,
        run_starts,
        duplicates,
    }
}

/// A time's sort prefix: null last, then its first 24 bytes zero-padded as
/// big-endian words. Prefixes order as the strings do, except that equal
/// prefixes may still hide different strings (compared in full then).
type TimePrefix = (bool, [u64; 3]);

fn time_prefix(t: Option<&str>) -> TimePrefix {
    let Some(t) = t else {
        return (true, [0; 3]);
    };
    let mut buf = [0u8; 24];
    let n = t.len().min(24);
    buf[..n].copy_from_slice(&t.as_bytes()[..n]);
    let word = |i: usize| u64::from_be_bytes(buf[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    (false, [word(0), word(1), word(2)])
}

/// Orders `None` after every value, as `ORDER BY ... NULLS LAST` does.
fn cmp_nulls_last<T: Ord>(
    a: (Option<T>, Option<T>, Option<T>),
    b: (Option<T>, Option<T>, Option<T>),
) -> std::cmp::Ordering {
    fn one<T: Ord>(a: Option<T>, b: Option<T>) -> std::cmp::Ordering {
        match (a, b) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    }
    one(a.0, b.0)
        .then_with(|| one(a.1, b.1))
        .then_with(|| one(a.2, b.2))
}

/// Encodes merged rows as one or more Parquet files of about the target
/// size each (a file is closed at the first row-group boundary at or past
/// the target; row groups are shortened to land near it).
///
/// The columns of a row group are encoded in parallel on the current rayon
/// pool, each writing its own rows in sorted order, piece by piece (see
/// `Merged::pieces`). While
/// decoding keeps both cores busy this changes nothing; at the end of a run,
/// when one large partition is left, it no longer runs on one core alone
/// (that tail left ~0.1 core-seconds idle per run on 430 MB of JSON). The
/// bytes are the same as `ArrowWriter`'s: the same column writers, fed the
/// same pieces, and `ArrowWriter` still writes the file's schema metadata.
pub fn encode(merged: &Merged, opts: &WriteOptions) -> Result<Vec<Vec<u8>>, SinkError> {
    let err = |source| SinkError::Parquet {
        file: "<new file>".to_string(),
        source,
    };
    let props = opts.properties();
    let arrow_schema = schema::arrow_schema();
    // The file's buffer, sized once: Parquet is a fraction of the Arrow
    // size, and pages never touched cost nothing; growing it by doubling
    // copied every file once more.
    let arrow_bytes: usize = merged
        .batches
        .iter()
        .map(|b| b.get_array_memory_size())
        .sum();
    let capacity = (arrow_bytes / 4).min(opts.target_file_bytes as usize + (8 << 20));
    let target = opts.target_file_bytes as usize;
    let total = merged.num_rows();
    let mut files = Vec::new();
    let mut row = 0;
    while row < total {
        let (mut file, factory) = ArrowWriter::try_new(
            Vec::with_capacity(capacity),
            arrow_schema.clone(),
            Some(props.clone()),
        )
        .and_then(ArrowWriter::into_serialized_writer)
        .map_err(err)?;
        // Leaf columns of each top-level column, in leaf order.
        let descr = file.schema_descr();
        let mut leaves = vec![0usize; arrow_schema.fields().len()];
        for leaf in 0..descr.num_columns() {
            leaves[descr.get_column_root_idx(leaf)] += 1;
        }
        let (mut file_rows, mut group) = (0usize, 0usize);
        while row < total {
            let written = file.bytes_written();
            let mut rows = opts.row_group_rows.min(total - row);
            if let Some(per_row) = written.checked_div(file_rows) {
                // Rows that still fit, at this file's bytes per row so far;
                // within a few dozen rows of the target, the file is done.
                let fit = target.saturating_sub(written) / per_row.max(1);
                if fit < rows && fit < 64 {
                    break;
                }
                rows = rows.min(fit);
            }
            let writers = factory.create_column_writers(group).map_err(err)?;
            let chunks =
                encode_row_group(merged, arrow_schema.fields(), row, rows, &leaves, writers)
                    .map_err(err)?;
            let mut rg = file.next_row_group().map_err(err)?;
            for chunk in chunks {
                chunk.append_to_row_group(&mut rg).map_err(err)?;
            }
            rg.close().map_err(err)?;
            row += rows;
            file_rows += rows;
            group += 1;
        }
        files.push(file.into_inner().map_err(err)?);
    }
    Ok(files)
}

/// Encodes merged rows `[start, start + rows)` as one row group's column
/// chunks (in leaf order), a top-level column per rayon task.
fn encode_row_group(
    merged: &Merged,
    fields: &Fields,
    start: usize,
    rows: usize,
    leaves: &[usize],
    writers: Vec<ArrowColumnWriter>,
) -> parquet::errors::Result<Vec<ArrowColumnChunk>> {
    let pieces = merged.pieces(start, rows);
    let mut writers = writers.into_iter();
    let columns: Vec<(usize, Vec<ArrowColumnWriter>)> = leaves
        .iter()
        .enumerate()
        .map(|(c, &n)| (c, writers.by_ref().take(n).collect()))
        .collect();
    let chunks: Vec<Vec<ArrowColumnChunk>> = columns
        .into_par_iter()
        .map(|(c, mut writers)| {
            for piece in &pieces {
                let array = merged.piece(c, piece);
                for (leaf, w) in compute_leaves(&fields[c], &array)?.iter().zip(&mut writers) {
                    w.write(leaf)?;
                }
            }
            writers.into_iter().map(ArrowColumnWriter::close).collect()
        })
        .collect::<parquet::errors::Result<_>>()?;
    Ok(chunks.into_iter().flatten().collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;
    use proptest::prelude::*;

    /// Times whose first 24 bytes tie but whose ends differ, prefixes of
    /// one another, and plain second-resolution times.
    const TIMES: &[&str] = &[
        "2024-01-15T10:00:00Z",
        "2024-01-15T10:00:00.5Z",
        "2024-01-15T10:00:00.123456789Z",
        "2024-01-15T10:00:00.123456781Z",
        "2024-01-15T10:00:00.1234Z",
        "2024-01-15T09:59:59Z",
        "2024-01-15T23:00:00Z",
    ];

    /// The merge rule written the slow, obvious way: `(time, id, key,
    /// arrival)` of the rows kept, in order.
    fn reference(rows: &[(usize, usize, usize)]) -> Vec<(String, String, String)> {
        let mut all: Vec<(usize, (&str, String, String))> = rows
            .iter()
            .enumerate()
            .map(|(i, &(t, id, key))| (i, (TIMES[t], format!("id{id}"), format!("k{key}"))))
            .collect();
        all.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        let mut best: HashMap<String, (String, usize)> = HashMap::new();
        for (i, (_, id, key)) in &all {
            let cand = (key.clone(), *i);
            let e = best.entry(id.clone()).or_insert(cand.clone());
            if cand < *e {
                *e = cand;
            }
        }
        all.into_iter()
            .filter(|(i, (_, id, key))| best[id] == (key.clone(), *i))
            .map(|(_, (t, id, key))| (t.to_string(), id, key))
            .collect()
    }

    /// A few thousand generated records of one partition, decoded.
    fn generated_batches(events: usize) -> Vec<RecordBatch> {
        let dir = tempfile::tempdir().unwrap();
        let opts = crate::generate::GenerateOptions {
            out: dir.path().to_path_buf(),
            accounts: 1,
            regions: 1,
            days: 1,
            events_per_day: events,
            ..Default::default()
        };
        crate::generate::generate(&opts).unwrap();
        let root = object_store::path::Path::from_filesystem_path(dir.path()).unwrap();
        let mut inflater = crate::source::Inflater::new();
        let mut listed = crate::source::list_local(dir.path(), &root).unwrap();
        listed.sort_by(|a, b| a.location.cmp(&b.location));
        let mut files = Vec::new();
        for meta in listed {
            let key = meta.location.to_string();
            if crate::source::classify(&key, &Default::default()) != Ok(true) {
                continue;
            }
            let data = std::fs::read(format!("/{key}")).unwrap();
            let mut json = Vec::new();
            crate::source::gunzip(&data, &mut inflater, &mut json).unwrap();
            files.push((key, json));
        }
        // Slices of 100 files, as the pipeline decodes them: each slice's
        // rows are mostly one sorted run, cut short where slices overlap.
        let mut batches = Vec::new();
        for slice in files.chunks(100) {
            let mut d = Decoder::new();
            let mut text = slice.iter().flat_map(|(_, j)| j.clone()).collect();
            let keys: Vec<(&str, usize)> =
                slice.iter().map(|(k, j)| (k.as_str(), j.len())).collect();
            d.decode_files(&mut text, &keys);
            batches.extend(d.finish().into_iter().map(|(_, b)| b));
        }
        batches
    }

    /// What `ArrowWriter` writes for the same rows, slices and properties.
    fn arrow_writer_file(merged: &Merged, opts: &WriteOptions) -> Vec<u8> {
        let mut w =
            ArrowWriter::try_new(Vec::new(), schema::arrow_schema(), Some(opts.properties()))
                .unwrap();
        // The pieces `encode` writes, row group by row group.
        let mut offset = 0;
        while offset < merged.num_rows() {
            let rows = opts.row_group_rows.min(merged.num_rows() - offset);
            for piece in merged.pieces(offset, rows) {
                let columns = (0..schema::arrow_schema().fields().len())
                    .map(|c| merged.piece(c, &piece))
                    .collect();
                w.write(&RecordBatch::try_new(schema::arrow_schema(), columns).unwrap())
                    .unwrap();
            }
            offset += rows;
        }
        w.into_inner().unwrap()
    }

    #[test]
    fn every_column_named_in_the_write_options_is_a_leaf_of_the_lake() {
        let descr = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&schema::arrow_schema())
            .unwrap();
        let leaves: Vec<String> = descr.columns().iter().map(|c| c.path().string()).collect();
        let delta = DELTA.iter().map(|(c, _)| c);
        for name in UNIQUE_PER_ROW
            .iter()
            .chain(PLAIN)
            .chain(CHUNK_STATISTICS)
            .chain(delta)
        {
            assert!(leaves.iter().any(|l| l == name), "{name} is not a leaf");
        }
    }

    #[test]
    fn delta_string_encoding_is_used_where_asked_and_reads_back_the_same_rows() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let merged = merge(generated_batches(3000));
        let read = |file: &Bytes| {
            let reader = ParquetRecordBatchReaderBuilder::try_new(file.clone())
                .unwrap()
                .build()
                .unwrap();
            reader.map(Result::unwrap).collect::<Vec<_>>()
        };
        let mut rows = Vec::new();
        for string_encoding in [StringEncoding::Delta, StringEncoding::Plain] {
            let opts = WriteOptions {
                string_encoding,
                ..WriteOptions::default()
            };
            let file = Bytes::from(encode(&merged, &opts).unwrap().remove(0));
            let meta = SerializedFileReader::new(file.clone()).unwrap();
            let group = meta.metadata().row_group(0);
            for c in group.columns() {
                let name = c.column_path().string();
                let asked = DELTA.iter().find(|(d, _)| *d == name).map(|(_, e)| *e);
                let want = match (string_encoding, asked) {
                    (StringEncoding::Delta, Some(e)) => e,
                    _ => Encoding::PLAIN,
                };
                let has = |e: Encoding| c.encodings().any(|x| x == e);
                assert!(has(want), "{name}: {:?}", c.encodings().collect::<Vec<_>>());
                let delta = [
                    Encoding::DELTA_LENGTH_BYTE_ARRAY,
                    Encoding::DELTA_BYTE_ARRAY,
                ];
                if want == Encoding::PLAIN {
                    assert!(!delta.into_iter().any(has), "{name}");
                }
            }
            rows.push(read(&file));
        }
        assert_eq!(rows[0], rows[1]);
        assert_eq!(StringEncoding::parse(" Plain"), Ok(StringEncoding::Plain));
        assert!(StringEncoding::parse("rle").is_err());
    }

    #[test]
    fn zstd_contexts_reused_across_files_compress_at_each_files_level() {
        // The vendored parquet pools zstd contexts (vendor/README.md): one
        // last used at one level must compress the next file at its own.
        let merged = merge(generated_batches(3000));
        let file = |level| {
            let opts = WriteOptions {
                compression: Compression::ZSTD(ZstdLevel::try_new(level).unwrap()),
                ..WriteOptions::default()
            };
            encode(&merged, &opts).unwrap().remove(0)
        };
        let fast = file(1);
        let small = file(12);
        // Parquet pages of these columns gain little from the higher level
        // (0.7% here), but never nothing.
        assert!(
            small.len() < fast.len(),
            "{} against {}",
            small.len(),
            fast.len()
        );
        // Byte for byte the same again, on contexts the other level used.
        assert!(file(1) == fast);
        assert!(file(12) == small);
    }

    #[test]
    fn pieces_cover_the_rows_in_order_writing_long_runs_whole() {
        let merged = merge(generated_batches(6000));
        let n = merged.num_rows();
        let (mut runs, mut gathers) = (0, 0);
        for (offset, len) in [(0, n), (0, 1), (1, 777), (n / 2, n - n / 2), (n - 5, 5)] {
            let mut rows = Vec::new();
            let mut at = offset;
            for piece in merged.pieces(offset, len) {
                match piece {
                    Piece::Run(b, start, k) => {
                        // Whole unless cut by the range's ends.
                        assert!(k >= LONG_RUN || len < LONG_RUN, "{piece:?}");
                        rows.extend((start..start + k).map(|r| (b, r)));
                        runs += 1;
                    }
                    Piece::Gather(o, k) => {
                        assert_eq!(o, at, "gathers follow on");
                        assert!(k <= GATHER_ROWS);
                        rows.extend_from_slice(&merged.order[o..o + k]);
                        gathers += 1;
                    }
                }
                at = offset + rows.len();
            }
            assert_eq!(rows, merged.order[offset..offset + len], "{offset}+{len}");
        }
        // Both kinds were exercised.
        assert!(runs > 0 && gathers > 0, "{runs} runs, {gathers} gathers");
    }

    #[test]
    fn column_parallel_encoding_writes_the_bytes_arrow_writer_writes() {
        let merged = merge(generated_batches(3000));
        assert!(merged.num_rows() > 2500);
        for row_group_rows in [65_536, 700] {
            let opts = WriteOptions {
                row_group_rows,
                ..WriteOptions::default()
            };
            let files = encode(&merged, &opts).unwrap();
            assert_eq!(files.len(), 1);
            assert!(
                files[0] == arrow_writer_file(&merged, &opts),
                "{row_group_rows}"
            );
        }
        assert!(encode(&merge(Vec::new()), &WriteOptions::default())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn gathering_by_runs_equals_gathering_row_by_row() {
        let merged = merge(generated_batches(3000));
        let n = merged.num_rows();
        // Rows are sorted within files, so the order is mostly long runs.
        assert!(
            merged.runs.len() * MIN_RUN * 4 <= n,
            "{} runs",
            merged.runs.len()
        );
        for (offset, len) in [(0, n), (0, 1), (1, 777), (n / 2, n - n / 2), (n - 5, 5)] {
            let cut = merged.runs(offset, len);
            let rows: Vec<(usize, usize)> = cut
                .iter()
                .flat_map(|&(b, s, e)| (s..e).map(move |r| (b, r)))
                .collect();
            assert_eq!(rows, merged.order[offset..offset + len]);
            for c in 0..schema::arrow_schema().fields().len() {
                let arrays: Vec<&dyn Array> = merged
                    .batches
                    .iter()
                    .map(|b| b.column(c).as_ref())
                    .collect();
                let want = interleave(&arrays, &rows).unwrap();
                let got = gather_runs(&arrays, &cut, len);
                assert_eq!(got.null_count(), want.null_count(), "column {c}");
                assert!(
                    got.to_data() == want.to_data(),
                    "column {c}, rows {offset}+{len}"
                );
            }
        }
    }

    #[test]
    fn files_close_near_the_target_size_and_keep_every_row_in_order() {
        let merged = merge(generated_batches(3000));
        let whole = encode(&merged, &WriteOptions::default())
            .unwrap()
            .remove(0)
            .len();
        let target = whole / 3;
        let opts = WriteOptions {
            target_file_bytes: target as u64,
            row_group_rows: 200,
            ..WriteOptions::default()
        };
        let files = encode(&merged, &opts).unwrap();
        assert!((3..=5).contains(&files.len()), "{} files", files.len());
        let mut times = Vec::new();
        for (i, f) in files.iter().enumerate() {
            assert!(
                f.len() < target * 5 / 4,
                "file {i}: {} bytes, target {target}",
                f.len()
            );
            if i + 1 < files.len() {
                assert!(
                    f.len() > target * 3 / 4,
                    "file {i}: {} bytes, target {target}",
                    f.len()
                );
            }
            for b in decode("f", Bytes::from(f.clone())).unwrap() {
                let t = b
                    .column(schema::column_index(EVENT_TIME))
                    .as_string::<i32>();
                times.extend((0..b.num_rows()).map(|r| t.value(r).to_string()));
            }
        }
        assert_eq!(times.len(), merged.num_rows());
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    proptest! {
        #[test]
        fn merge_sorts_and_deduplicates_as_the_rule_says(
            rows in proptest::collection::vec((0..TIMES.len(), 0usize..12, 0usize..3), 1..60),
            split in 1usize..5,
        ) {
            // Rows arrive in `split` batches (files), each with its key.
            let mut batches = Vec::new();
            for part in rows.chunks(rows.len().div_ceil(split)) {
                let mut d = Decoder::new();
                for &(t, id, key) in part {
                    let mut doc = format!(
                        r#"{{"Records":[{{"eventTime":"{}","eventID":"id{id}","awsRegion":"eu-west-1","recipientAccountId":"111122223333"}}]}}"#,
                        TIMES[t]
                    )
                    .into_bytes();
                    d.decode_file(&format!("k{key}"), &mut doc);
                }
                batches.extend(d.finish().into_iter().map(|(_, b)| b));
            }
            let merged = merge(batches);
            let got = merged.slice(0, merged.num_rows());
            let col = |name: &str| {
                let a = got.column(schema::column_index(name)).as_string::<i32>().clone();
                (0..got.num_rows()).map(move |r| a.value(r).to_string())
            };
            let got: Vec<(String, String, String)> = col(EVENT_TIME)
                .zip(col(EVENT_ID))
                .zip(col(SOURCE_KEY))
                .map(|((t, i), k)| (t, i, k))
                .collect();
            let want = reference(&rows);
            prop_assert_eq!(merged.duplicates as usize, rows.len() - want.len());
            prop_assert_eq!(got, want);
        }
    }
}
