//! The Parquet side of one partition: merge rows (in memory, [`merge`],
//! or streamed from sorted runs, [`stream`]), keep one row of each event,
//! and encode files of a target size with row-group statistics
//! ([`encode`]). Nothing here does I/O: readers and sinks come from the
//! caller.

pub mod encode;
pub mod merge;
pub mod stats;
pub mod stream;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::schema::{self, EVENT_TIME};

pub use encode::{encode, Chunk, FileSink, MemorySink, PartitionWriter, WrittenFile};
pub use merge::{merge, Conflict, Conflicts, Merged};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{file}: {source}")]
    Parquet {
        file: String,
        source: parquet::errors::ParquetError,
    },
    #[error("{file}: schema differs from traillake's: {detail}")]
    Schema { file: String, detail: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {source}")]
    Arrow {
        file: String,
        source: arrow::error::ArrowError,
    },
    #[error("{0}")]
    Store(String),
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
    /// A row group is closed once its encoded column chunks hold this many
    /// bytes, whatever its rows (bounds memory with huge values).
    pub row_group_bytes: usize,
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
            row_group_bytes: 128 << 20,
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

    pub fn properties(&self) -> WriterProperties {
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
            // (measured with parquet's plain buffer growing by doubling, as
            // the released crate does: callgrind with a 2 MiB last-level
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
        // A codec is made per column chunk, and the released parquet makes
        // a zstd compression and decompression context for each, which
        // traps to the hypervisor (`cpuid`) on a virtual machine. Columns of
        // one or two values per partition come out of the dictionary as a
        // few bytes of levels and indices a page, which zstd cannot shrink
        // further: those are left uncompressed, and skip the codec.
        if matches!(self.compression, Compression::ZSTD(_)) {
            for col in FEW_VALUED {
                props = props.set_column_compression(path(col), Compression::UNCOMPRESSED);
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
pub const CHUNK_STATISTICS: &[&str] = &[
    "errorcode",
    "eventname",
    "eventsource",
    "recipientaccountid",
    "awsregion",
];

/// Columns with one value in a partition, or two in long runs, or mostly
/// null (measured: the identity type, MFA flag and event version are not,
/// and grow by a half to three quarters uncompressed).
const FEW_VALUED: &[&str] = &[
    "awsregion",
    "recipientaccountid",
    "eventtype",
    "readonly",
    "managementevent",
    "eventcategory",
    "apiversion",
    "vpcendpointid",
    "vpcendpointaccountid",
    "sessioncredentialfromconsole",
    "tlsdetails.tlsversion",
    "addendum",
    "edgedevicedetails",
    "insightdetails",
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
pub(crate) mod test_support {
    use arrow::record_batch::RecordBatch;

    use crate::decode::Decoder;

    /// A few thousand generated records of one partition, decoded.
    pub fn generated_batches(events: usize) -> Vec<RecordBatch> {
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
        let mut paths = Vec::new();
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    paths.push(p);
                }
            }
        }
        paths.sort();
        let mut inflater = crate::source::Inflater::new();
        let mut files = Vec::new();
        for p in paths {
            let key = p.to_string_lossy().trim_start_matches('/').to_string();
            if crate::source::classify(&key, &Default::default()) != Ok(true) {
                continue;
            }
            let data = std::fs::read(&p).unwrap();
            let mut json = Vec::new();
            crate::source::gunzip(&data, &mut inflater, &mut json, 1 << 30).unwrap();
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
}

#[cfg(test)]
mod tests {
    use super::test_support::generated_batches;
    use super::*;
    use arrow::array::AsArray;
    use parquet::arrow::ArrowWriter;

    /// What `ArrowWriter` writes for the same rows, slices and properties.
    fn arrow_writer_file(merged: &Merged, opts: &WriteOptions) -> Vec<u8> {
        let mut w =
            ArrowWriter::try_new(Vec::new(), schema::arrow_schema(), Some(opts.properties()))
                .unwrap();
        // The pieces `encode` writes, in turn; ArrowWriter cuts them at
        // row-group boundaries as PartitionWriter does.
        let chunk = merged.chunk(0, merged.num_rows());
        for p in 0..chunk.pieces() {
            let columns = (0..schema::arrow_schema().fields().len())
                .map(|c| chunk.column(p, c))
                .collect();
            w.write(&RecordBatch::try_new(schema::arrow_schema(), columns).unwrap())
                .unwrap();
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
    fn each_file_is_compressed_at_its_own_zstd_level() {
        // Files written one after another at different levels keep their
        // own level, and a rewrite at the same level is byte-identical.
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
        // Byte for byte the same again, after the other level was used.
        assert!(file(1) == fast);
        assert!(file(12) == small);
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
}
