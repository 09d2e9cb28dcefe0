//! CloudTrail JSON -> Arrow record batches, one set of builders per partition.
//!
//! A push decoder with no I/O: [`Decoder::decode_file`] takes one log
//! object's bytes (already gunzipped) and appends its records to the builders
//! of the partitions they belong to ([`Decoder::decode_files`] takes a slice
//! of objects, in time order); [`Decoder::finish`] hands back one
//! [`RecordBatch`] per partition. Local files, S3 objects and unit tests drive
//! it alike.
//!
//! Parsing uses simd-json's tape: records go straight from the tape into
//! Arrow builders with no per-record DOM. Decoding is tolerant, because real
//! logs are messy: keys match columns ignoring ASCII case (`ARN` = `arn`);
//! a scalar where a string column is expected is stored as its JSON text
//! (`true`, `42`); an object where a string is expected is stored as compact
//! JSON; a key without a column, a second key that maps to an already filled
//! column, or a value whose shape does not fit its struct column goes to the
//! catch-all column, nested as it was in the record. Nothing is dropped.
//!
//! Memory: the builders hold the decoded rows of every partition seen since
//! the last [`Decoder::finish`], roughly the size of the JSON text decoded.
//! A partition's builder is cut into a batch every [`BATCH_ROWS`] rows (or
//! at the end of a slice of input), and the partition's next builder is
//! allocated at the size the last one reached, so builders do not grow by
//! doubling: that cost a copy of every buffer and twice the
//! page faults (perf: reallocs in the builders were ~14% of a run's page
//! faults, the decoder's own scratch buffers another ~13%; both are kept
//! across files and slices now).

mod builders;
pub mod json_text;
pub mod numbers;
mod split;

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use simd_json::{Node, StaticNode};

use crate::partition::{is_partition_value, utc_date, Date, PartitionKey, PathHints};
use builders::{eq_lowercase, BatchBuilder};
use json_text::{span, write_value};
use split::split_records;

/// Why a whole file or one record of it could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quarantined {
    /// The log object's key.
    pub key: String,
    /// Index of the record in `Records`; `None` when the whole file failed.
    pub record: Option<usize>,
    pub reason: String,
    /// The record's compact JSON, kept so that nothing is lost.
    #[serde(skip)]
    pub raw: Option<String>,
}

/// What decoding one file produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FileStats {
    /// Records in the file's `Records` array.
    pub records: u64,
    /// Records that went into the builders.
    pub accepted: u64,
    /// Records quarantined (each one is also in [`Decoder::quarantined`]).
    pub quarantined: u64,
    /// The whole file was quarantined (not JSON, no `Records`).
    pub failed: bool,
    /// Parsing stopped at a number too wide for 64 bits; nothing was taken
    /// or quarantined: the caller decodes the file again with
    /// [`Decoder::decode_with_wide_numbers`].
    pub wide_numbers: bool,
    /// The document did not parse as a whole; nothing was taken or
    /// quarantined: the caller decodes it again from its original bytes
    /// with [`Decoder::decode_records_alone`], which keeps the good records.
    pub invalid: bool,
}

/// Decodes log objects into per-partition Arrow builders.
#[derive(Default)]
pub struct Decoder {
    /// Builders by partition; few per decoder, so a vector with the last
    /// one used checked first beats hashing a key per record.
    partitions: Vec<(PartitionKey, Date, BatchBuilder)>,
    last: usize,
    /// Batches cut from full builders since the last [`Decoder::finish`].
    full: Vec<(PartitionKey, RecordBatch)>,
    /// Buffer sizes each partition's builder last reached, by partition:
    /// its next builder starts there. A slice of input ends before most
    /// builders fill, so sizes learned only from full builders were never
    /// learned at all, and every builder grew from empty by doubling
    /// (reallocs were ~9% of a run, perf).
    learned: HashMap<PartitionKey, Vec<usize>, foldhash::fast::RandomState>,
    /// The sizes of the largest builder lately finished, for partitions
    /// this decoder has not seen yet.
    sizes: Vec<usize>,
    sizes_rows: usize,
    buffers: Option<simd_json::Buffers>,
    /// simd-json's tape, emptied between files; a fresh one per file cost
    /// ~8% of a run's page faults.
    tape: Option<simd_json::Tape<'static>>,
    /// A record's catch-all text, kept across records: two thirds of real
    /// and generated records have some (`webIdFederationData: {}`), and a
    /// fresh string grown from empty each time was ~2% of a run (perf).
    extra: String,
    /// Records and files that could not be taken since the last drain,
    /// when there is no [`Decoder::sink`].
    pub quarantined: Vec<Quarantined>,
    /// Where quarantined records go as they are found, so a file of a
    /// million bad records costs no memory (a run's quarantine file).
    pub sink: Option<std::sync::Arc<dyn QuarantineSink>>,
    /// The index of the record being decoded alone, in its file
    /// ([`Decoder::decode_records_alone`]); 0 otherwise.
    record_base: usize,
    /// Why the last document did not parse.
    last_parse_error: Option<String>,
}

/// Takes quarantined records and files as the decoder finds them.
pub trait QuarantineSink: Send + Sync {
    fn put(&self, q: Quarantined);
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one log object (`{"Records":[...]}`), already decompressed.
    /// `bytes` is used as simd-json's scratch space and left modified.
    /// A file that is not such a document is quarantined whole and
    /// contributes no rows; a bad record is quarantined alone.
    pub fn decode_file(&mut self, key: &str, bytes: &mut [u8]) -> FileStats {
        blank_bom(bytes);
        let len = bytes.len();
        let original = bytes.to_vec();
        let stats = self.parse_and_decode(key, len, |buffers, tape| {
            simd_json::fill_tape(bytes, buffers, tape)
        });
        if stats.wide_numbers {
            return self.decode_with_wide_numbers(key, &original);
        }
        if stats.invalid {
            return self.decode_records_alone(key, &original);
        }
        stats
    }

    /// Decodes a document that does not parse as a whole (one record with
    /// an invalid UTF-8 byte, a lone surrogate, nesting too deep): when its
    /// `Records` array is intact, each record is parsed alone, the good
    /// ones taken and the bad ones quarantined one by one (their bytes as
    /// text, invalid UTF-8 replaced); otherwise the file is quarantined
    /// whole, with the parser's reason.
    pub fn decode_records_alone(&mut self, key: &str, text: &[u8]) -> FileStats {
        let mut text = text.to_vec();
        blank_bom(&mut text);
        let Some(records) = split_records(&text) else {
            let mut copy = text.clone();
            let reason = match simd_json::to_tape(&mut copy) {
                Err(e) => format!("invalid JSON: {e}"),
                Ok(_) => "invalid JSON".to_string(),
            };
            self.quarantine_file(key, reason);
            return FileStats {
                failed: true,
                ..FileStats::default()
            };
        };
        let mut stats = FileStats::default();
        // A record alone as a document of its own (parsed in place, so made
        // again for a second parse).
        let alone = |element: &[u8]| {
            let mut doc = Vec::with_capacity(element.len() + 16);
            doc.extend_from_slice(b"{\"Records\":[");
            doc.extend_from_slice(element);
            doc.extend_from_slice(b"]}");
            doc
        };
        for (index, range) in records.into_iter().enumerate() {
            let element = &text[range];
            let mut doc = alone(element);
            self.record_base = index;
            let len = doc.len();
            let mut one = self.parse_and_decode(key, len, |buffers, tape| {
                simd_json::fill_tape(&mut doc, buffers, tape)
            });
            if one.wide_numbers {
                one = match numbers::quote_wide_numbers(&alone(element)) {
                    Some(mut quoted) => {
                        let len = quoted.len();
                        self.parse_and_decode(key, len, |buffers, tape| {
                            simd_json::fill_tape(&mut quoted, buffers, tape)
                        })
                    }
                    None => FileStats {
                        invalid: true,
                        ..FileStats::default()
                    },
                };
            }
            self.record_base = 0;
            if one.invalid || one.wide_numbers {
                stats.records += 1;
                stats.quarantined += 1;
                let reason = self
                    .last_parse_error
                    .take()
                    .unwrap_or_else(|| "invalid JSON: a malformed number".to_string());
                self.quarantine(Quarantined {
                    key: key.to_string(),
                    record: Some(index),
                    reason,
                    raw: Some(String::from_utf8_lossy(element).into_owned()),
                });
                continue;
            }
            stats.records += one.records;
            stats.accepted += one.accepted;
            stats.quarantined += one.quarantined;
        }
        stats
    }

    /// Decodes a file whose parse stopped at a number too wide for 64 bits
    /// (`stats.wide_numbers`): such numbers are kept digit for digit as
    /// JSON strings. A file that fails again is quarantined.
    pub fn decode_with_wide_numbers(&mut self, key: &str, json: &[u8]) -> FileStats {
        let Some(mut quoted) = numbers::quote_wide_numbers(json) else {
            self.quarantine_file(key, "invalid JSON: a malformed number".to_string());
            return FileStats {
                failed: true,
                ..FileStats::default()
            };
        };
        let len = quoted.len();
        let stats = self.parse_and_decode(key, len, |buffers, tape| {
            simd_json::fill_tape(&mut quoted, buffers, tape)
        });
        if stats.wide_numbers {
            self.quarantine_file(key, "invalid JSON: a malformed number".to_string());
            return FileStats {
                failed: true,
                ..FileStats::default()
            };
        }
        if stats.invalid {
            return self.decode_records_alone(key, json);
        }
        stats
    }

    /// [`Self::decode_file`] for `text[..len]`, parsed where it lies: the
    /// bytes after it (at least [`simd_json::INPUT_PADDING`]) pad it, and
    /// simd-json reads them without changing them. `fill_tape` copies every
    /// document into a padded buffer of its own first: ~2.4% of a run's
    /// instructions (callgrind).
    fn decode_padded(&mut self, key: &str, text: &mut [u8], len: usize) -> FileStats {
        blank_bom(&mut text[..len]);
        self.parse_and_decode(key, len, |buffers, tape| {
            simd_json::fill_tape_padded(text, len, buffers, tape)
        })
    }

    fn parse_and_decode<'t>(
        &mut self,
        key: &str,
        len: usize,
        parse: impl FnOnce(&mut simd_json::Buffers, &mut simd_json::Tape<'t>) -> simd_json::Result<()>,
    ) -> FileStats {
        let buffers = self
            .buffers
            .get_or_insert_with(|| simd_json::Buffers::new(len));
        let mut tape = self
            .tape
            .take()
            .unwrap_or_else(|| simd_json::Tape(Vec::new()))
            .reset();
        let stats = match parse(buffers, &mut tape) {
            Ok(()) => self.decode_tape(key, &tape.0, len),
            Err(e) if *e.error() == simd_json::ErrorType::InvalidNumber => FileStats {
                wide_numbers: true,
                ..FileStats::default()
            },
            Err(e) => {
                self.last_parse_error = Some(format!("invalid JSON: {e}"));
                FileStats {
                    invalid: true,
                    ..FileStats::default()
                }
            }
        };
        self.tape = Some(tape.reset());
        stats
    }

    fn decode_tape(&mut self, key: &str, nodes: &[Node<'_>], len: usize) -> FileStats {
        let mut stats = FileStats::default();
        let Some(records) = find_records(nodes) else {
            self.quarantine_file(
                key,
                "not a CloudTrail log: no top-level \"Records\" array".to_string(),
            );
            stats.failed = true;
            return stats;
        };
        let hints = PathHints::from_key(key);
        let Node::Array { len: n, .. } = records[0] else {
            unreachable!("find_records returns an array")
        };
        // Only a file larger than the limit can hold a record over it.
        let check_size = len > MAX_RECORD_BYTES;
        let mut recs = Vec::with_capacity(n);
        let mut i = 1;
        for index in 0..n {
            let rec = &records[i..i + span(&records[i..])];
            i += rec.len();
            let placed = match check_size.then(|| record_size(rec)) {
                Some(size) if size > MAX_RECORD_BYTES => Err(format!(
                    "record of about {size} bytes is over the {MAX_RECORD_BYTES}-byte limit"
                )),
                _ => place(rec, &hints),
            };
            recs.push((index, rec, placed));
        }
        // Records go to the builders in the merge's order: `eventtime`,
        // then `eventid` (missing last); records that cannot be placed come
        // first. Stable, so ties keep file order, as the merge would. A
        // file holds a few minutes of events, slightly shuffled, so its rows
        // become one sorted run, which the encoder writes or copies as a
        // range instead of row by row.
        type Rec<'t, 'a> = (usize, &'t [Node<'a>], Result<Placed<'a>, String>);
        fn order<'a>(r: &Rec<'_, 'a>) -> Option<(&'a str, bool, Option<&'a str>)> {
            r.2.as_ref().ok().map(|p| (p.time, p.id.is_none(), p.id))
        }
        if !recs.is_sorted_by(|a, b| order(a) <= order(b)) {
            recs.sort_by(|a, b| order(a).cmp(&order(b)));
        }
        for (index, rec, placed) in recs {
            stats.records += 1;
            match placed {
                Ok(placed) => {
                    self.add_record(key, rec, placed);
                    stats.accepted += 1;
                }
                Err(reason) => {
                    stats.quarantined += 1;
                    let mut raw = String::new();
                    write_value(rec, &mut raw);
                    self.quarantine(Quarantined {
                        key: key.to_string(),
                        record: Some(self.record_base + index),
                        reason,
                        raw: Some(raw),
                    });
                }
            }
        }
        stats
    }

    /// Decodes several log objects, given as `(key, bytes)`, as
    /// [`Decoder::decode_file`] does each; returns their stats in the order
    /// given.
    ///
    /// The files are taken in the order of their first `eventTime` (found
    /// in the text, without parsing; a file without one comes first), not
    /// in the order given. CloudTrail delivers files minutes late and out of
    /// order, and each holds a few minutes of events; taken in key order, a
    /// partition's rows came out as sorted runs of a few hundred rows, which
    /// the encoder had to gather into time order (~5% of a run, perf). In
    /// this order a slice's rows of a partition are mostly one sorted run,
    /// which the encoder writes as it is. It is only a hint: the merge
    /// still sorts, and its order does not depend on arrival except among
    /// rows of one file (see [`crate::sink::merge`]). Parsing every file
    /// first and sorting all their records instead kept a slice's tapes out
    /// of the cache: 4% slower in all.
    ///
    /// The files lie one after another in `text`, `files` giving each one's
    /// key and length in that order; each is parsed where it lies, padded
    /// by what follows it (and, after the last, by padding this adds and
    /// removes again). The bytes are left modified.
    pub fn decode_files(&mut self, text: &mut Vec<u8>, files: &[(&str, usize)]) -> Vec<FileStats> {
        let mut start = 0;
        let mut order: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, &(key, len))| {
                let at = start;
                start += len;
                (first_event_time(&text[at..start]), i, key, at, len)
            })
            .collect();
        assert_eq!(start, text.len(), "files cover the text");
        text.resize(start + simd_json::INPUT_PADDING, b' ');
        order.sort_unstable_by_key(|&(time, i, ..)| (time, i));
        let mut stats = vec![FileStats::default(); files.len()];
        for (_, i, key, at, len) in order {
            stats[i] = self.decode_padded(key, &mut text[at..], len);
        }
        text.truncate(start);
        stats
    }

    /// Records a whole-file failure (unreadable gzip, bad JSON, ...).
    pub fn quarantine_file(&mut self, key: &str, reason: String) {
        self.quarantine(Quarantined {
            key: key.to_string(),
            record: None,
            reason,
            raw: None,
        });
    }

    fn quarantine(&mut self, q: Quarantined) {
        match &self.sink {
            Some(sink) => sink.put(q),
            None => self.quarantined.push(q),
        }
    }

    fn add_record(&mut self, source_key: &str, rec: &[Node<'_>], placed: Placed<'_>) {
        let Placed {
            account,
            region,
            date,
            ..
        } = placed;
        let is = |(k, d, _): &(PartitionKey, Date, BatchBuilder)| {
            *d == date && k.account == account && k.region == region
        };
        let i = match self.partitions.get(self.last) {
            Some(p) if is(p) => self.last,
            _ => match self.partitions.iter().position(is) {
                Some(i) => i,
                None => {
                    let key = PartitionKey {
                        account: account.to_string(),
                        region: region.to_string(),
                        year: format!("{:04}", date.year),
                        month: format!("{:02}", date.month),
                        day: format!("{:02}", date.day),
                    };
                    // A partition's share of a slice repeats from slice
                    // to slice. One not seen yet often has few rows (a
                    // late event, the slice ends): start at half the last.
                    let builder = match self.learned.get(&key) {
                        Some(sizes) => BatchBuilder::with_sizes(sizes, 1),
                        None => BatchBuilder::with_sizes(&self.sizes, 2),
                    };
                    self.partitions.push((key, date, builder));
                    self.partitions.len() - 1
                }
            },
        };
        self.last = i;
        let (key, _, builder) = &mut self.partitions[i];
        builder.append(rec, source_key, &mut self.extra);
        if builder.rows >= BATCH_ROWS {
            let sizes = learn(&mut self.learned, key, builder);
            let next = BatchBuilder::with_sizes(sizes, 1);
            let full = std::mem::replace(builder, next).finish();
            self.full.push((key.clone(), full));
        }
    }

    /// Hands back the decoded rows and empties the builders: a partition's
    /// rows in one or more batches (of at most [`BATCH_ROWS`]), in arrival
    /// order, partitions in key order.
    pub fn finish(&mut self) -> Vec<(PartitionKey, RecordBatch)> {
        self.last = 0;
        let mut out = std::mem::take(&mut self.full);
        self.sizes_rows = 0;
        for (key, _, builder) in self.partitions.drain(..) {
            if builder.rows == 0 {
                continue;
            }
            let sizes = learn(&mut self.learned, &key, &builder);
            if builder.rows >= self.sizes_rows {
                self.sizes_rows = builder.rows;
                self.sizes.clone_from(sizes);
            }
            out.push((key, builder.finish()));
        }
        // Sizes of partitions long gone are not worth keeping.
        if self.learned.len() > MAX_LEARNED {
            self.learned.clear();
        }
        // Stable: a partition's batches keep their arrival order.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Records the buffer sizes `builder` reached as its partition's next
/// starting sizes.
fn learn<'a>(
    learned: &'a mut HashMap<PartitionKey, Vec<usize>, foldhash::fast::RandomState>,
    key: &PartitionKey,
    builder: &BatchBuilder,
) -> &'a Vec<usize> {
    if !learned.contains_key(key) {
        learned.insert(key.clone(), Vec::new());
    }
    let sizes = learned.get_mut(key).expect("just inserted");
    sizes.clear();
    builder.sizes(sizes);
    sizes
}

/// The value of the first `"eventTime":"` in a file's text, its first 32
/// bytes zero-padded: a hint for the order of files, not parsed or checked.
fn first_event_time(text: &[u8]) -> Option<[u8; 32]> {
    const NEEDLE: &[u8] = b"\"eventTime\":\"";
    let at = memchr::memmem::find(text, NEEDLE)? + NEEDLE.len();
    let rest = &text[at..text.len().min(at + 32)];
    let value = &rest[..memchr::memchr(b'"', rest).unwrap_or(rest.len())];
    let mut out = [0u8; 32];
    out[..value.len()].copy_from_slice(value);
    Some(out)
}

/// Partitions whose builder sizes a decoder remembers (a few hundred bytes
/// each); past that it starts learning afresh.
const MAX_LEARNED: usize = 4096;

/// Largest record taken into the lake. CloudTrail's own records are at most
/// a few hundred KB; one of tens of MB is damage or abuse, and would break
/// readers (Athena refuses rows over 32 MB).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// Rows per batch the decoder hands back: large enough that per-batch costs
/// vanish, small enough that a batch's buffers are reused by the next one.
pub const BATCH_ROWS: usize = 4096;

/// Approximate JSON size of a record: its strings plus a few bytes a node.
fn record_size(rec: &[Node<'_>]) -> usize {
    rec.iter()
        .map(|n| match n {
            Node::String(s) => s.len() + 3,
            _ => 8,
        })
        .sum()
}

/// The `Records` array of a CloudTrail document.
fn find_records<'t, 'i>(nodes: &'t [Node<'i>]) -> Option<&'t [Node<'i>]> {
    let Node::Object { len, .. } = nodes[0] else {
        return None;
    };
    let mut i = 1;
    for _ in 0..len {
        let Node::String(k) = nodes[i] else {
            return None;
        };
        let v = &nodes[i + 1..];
        let n = span(v);
        if k == "Records" {
            return matches!(v[0], Node::Array { .. }).then_some(&v[..n]);
        }
        i += 1 + n;
    }
    None
}

/// Iterates an object's `(key, value nodes)` pairs.
pub(super) fn object_entries<'t, 'i>(
    obj: &'t [Node<'i>],
) -> impl Iterator<Item = (&'i str, &'t [Node<'i>])> + 't {
    let len = match obj[0] {
        Node::Object { len, .. } => len,
        _ => 0,
    };
    let mut i = 1;
    (0..len).map(move |_| {
        let k = match obj[i] {
            Node::String(k) => k,
            _ => "",
        };
        let v = &obj[i + 1..];
        let v = &v[..span(v)];
        i += 1 + v.len();
        (k, v)
    })
}

/// Where a record goes: its partition, its `eventtime` as written, and
/// its `eventid` when that is a string (what the merge orders ties by).
struct Placed<'a> {
    account: &'a str,
    region: &'a str,
    date: Date,
    time: &'a str,
    id: Option<&'a str>,
}

/// Partition of a record: `recipientAccountId`, `awsRegion` and the UTC date
/// of `eventTime`; the path's account and region only when the record has
/// none usable. A record that is not an object, or has no readable
/// `eventTime`, is refused.
fn place<'a>(rec: &[Node<'a>], hints: &'a PathHints) -> Result<Placed<'a>, String> {
    let Node::Object { .. } = rec[0] else {
        return Err("record is not a JSON object".to_string());
    };
    let mut time = None;
    let mut account = None;
    let mut region = None;
    let mut id = None;
    for (k, v) in object_entries(rec) {
        let slot = if eq_lowercase(k, "eventtime") {
            &mut time
        } else if eq_lowercase(k, "eventid") {
            &mut id
        } else if eq_lowercase(k, "recipientaccountid") {
            &mut account
        } else if eq_lowercase(k, "awsregion") {
            &mut region
        } else {
            continue;
        };
        if slot.is_none() {
            *slot = Some(v[0]);
        }
    }
    let (time, date) = match time {
        None | Some(Node::Static(StaticNode::Null)) => return Err("no eventTime".to_string()),
        Some(Node::String(t)) => {
            let date =
                utc_date(t).ok_or_else(|| format!("eventTime {t:?} is not an ISO-8601 time"))?;
            // Outside these years a partition folder would not be four
            // digits (`year=-001`, `year=10000`), outside the DDL's
            // projection: Athena would never see the event.
            if date.year < crate::partition::FIRST_EVENT_YEAR {
                return Err(format!(
                    "eventTime {t:?} is before CloudTrail began ({})",
                    crate::partition::FIRST_EVENT_YEAR
                ));
            }
            let last = crate::partition::last_event_year();
            if date.year > last {
                return Err(format!("eventTime {t:?} is after {last}"));
            }
            (t, date)
        }
        Some(_) => return Err("eventTime is not a string".to_string()),
    };
    let pick = |v: Option<Node<'a>>, fallback: &'a Option<String>| -> &'a str {
        match v {
            Some(Node::String(s)) if is_partition_value(s) => s,
            _ => fallback.as_deref().unwrap_or("unknown"),
        }
    };
    Ok(Placed {
        account: pick(account, &hints.account),
        region: pick(region, &hints.region),
        date,
        time,
        id: match id {
            Some(Node::String(s)) => Some(s),
            _ => None,
        },
    })
}

/// A UTF-8 byte order mark before the document (written by some tools
/// that copy or re-export logs) becomes white space, which JSON allows, so
/// the file decodes instead of being quarantined whole.
fn blank_bom(text: &mut [u8]) {
    if text.starts_with(b"\xEF\xBB\xBF") {
        text[..3].fill(b' ');
    }
}

#[cfg(test)]
mod tests;
