//! Merging one partition from sorted runs, in bounded memory: the lake's
//! files being rewritten, the spills of a large partition's new rows, and
//! the new rows still in memory are each sorted already; [`StreamMerge`]
//! takes the next rows in order from whichever run holds them and hands
//! them on a chunk at a time, holding one batch per run. Rows of untouched
//! lake files take part as *settled* runs of their keys only (`eventtime`
//! and `eventid`): a new row equal to a settled one is a duplicate, and is
//! dropped; the settled row's other columns are read only then.
//!
//! Where one run's rows come before every other run's next row, they are
//! handed on as one slice of its batch (found by binary search), so runs
//! that overlap little cost little more than copying; rows of one event met
//! in several runs are judged together ([`super::merge::Judge`]).

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::interleave;

use super::merge::{cmp_nulls_last, Conflicts, Judge};
use super::{Chunk, SinkError};
use crate::schema::{self, EVENT_ID, EVENT_TIME, SOURCE_KEY};

/// What a run's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Rows new in this run.
    New,
    /// Rows of a lake file being rewritten.
    Lake,
    /// Keys of rows that stay in the lake as they are: never written,
    /// only compared with.
    Settled,
}

/// A sorted run of rows (merge order: `eventtime`, `eventid` nulls last,
/// `sourcekey`), a batch at a time.
/// The next batch of a reader of lake-schema rows (a spill, a lake file),
/// labelled with the lake's schema; `err` names the file a failure is in.
pub fn next_in_lake_schema<E>(
    reader: &mut impl Iterator<Item = Result<RecordBatch, E>>,
    err: impl FnOnce(E) -> SinkError,
) -> Result<Option<RecordBatch>, SinkError> {
    reader
        .next()
        .transpose()
        .map(|b| {
            b.map(|b| {
                b.with_schema(crate::schema::arrow_schema()).expect(
                    "spills and lake files hold the lake schema (a lake file is checked on open)",
                )
            })
        })
        .map_err(err)
}

pub trait SortedRun: Send {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, SinkError>;

    /// For a settled run (whose batches hold only `eventtime` and
    /// `eventid`): row `row` of the `batch`th batch it returned, with every
    /// column, as a batch of full rows and the row's index in it. Rows
    /// asked for one after another come in one batch where they can, so
    /// comparisons with them reuse their comparators.
    fn full_row(&mut self, batch: usize, row: usize) -> Result<(RecordBatch, usize), SinkError> {
        let _ = (batch, row);
        Err(SinkError::Store(
            "full rows are read from settled runs only".into(),
        ))
    }
}

/// What a merge did, by origin.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamStats {
    /// New rows handed on.
    pub new_written: u64,
    /// New rows dropped as duplicates.
    pub new_duplicates: u64,
    /// Rows of rewritten lake files handed on again.
    pub lake_written: u64,
    /// Rows of rewritten lake files dropped (duplicates that had landed in
    /// different files, as shards can leave them).
    pub lake_duplicates: u64,
    pub conflicts: Conflicts,
}

struct Cursor {
    run: Box<dyn SortedRun>,
    origin: Origin,
    batch: Option<RecordBatch>,
    /// Batches taken from the run so far (the current one's number + 1).
    batches: usize,
    row: usize,
    times: Option<StringArray>,
    ids: Option<StringArray>,
    keys: Option<StringArray>,
    done: bool,
}

/// A row's merge key: (`eventtime`, `eventid`, `sourcekey`).
type Key<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn value(a: &Option<StringArray>, r: usize) -> Option<&str> {
    a.as_ref().and_then(|a| (!a.is_null(r)).then(|| a.value(r)))
}

impl Cursor {
    fn load(&mut self) -> Result<(), SinkError> {
        while !self.done && self.batch.as_ref().is_none_or(|b| self.row >= b.num_rows()) {
            match self.run.next_batch()? {
                Some(b) => {
                    let col = |name: &str| {
                        b.schema()
                            .index_of(name)
                            .ok()
                            .map(|i| b.column(i).as_string::<i32>().clone())
                    };
                    self.times = col(EVENT_TIME);
                    self.ids = col(EVENT_ID);
                    self.keys = col(SOURCE_KEY);
                    self.batch = Some(b);
                    self.batches += 1;
                    self.row = 0;
                }
                None => {
                    self.done = true;
                    self.batch = None;
                }
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.batch.as_ref().map_or(0, RecordBatch::num_rows)
    }

    fn key(&self, r: usize) -> Key<'_> {
        (
            value(&self.times, r),
            value(&self.ids, r),
            value(&self.keys, r),
        )
    }
}

/// The event a key belongs to: (`eventtime`, `eventid`), `None` when the
/// row has no id (such rows are never one event with another).
fn event<'a>(k: Key<'a>) -> Option<(Option<&'a str>, &'a str)> {
    k.1.map(|id| (k.0, id))
}

/// Rows handed on: slices of runs' batches, and rows gathered from short
/// runs.
pub struct StreamChunk {
    pieces: Vec<OutPiece>,
}

enum OutPiece {
    Slice(RecordBatch),
    Gather(Vec<RecordBatch>, Vec<(usize, usize)>),
}

impl StreamChunk {
    pub fn num_rows(&self) -> usize {
        (0..self.pieces.len()).map(|p| self.rows(p)).sum()
    }
}

impl Chunk for StreamChunk {
    fn pieces(&self) -> usize {
        self.pieces.len()
    }

    fn rows(&self, p: usize) -> usize {
        match &self.pieces[p] {
            OutPiece::Slice(b) => b.num_rows(),
            OutPiece::Gather(_, rows) => rows.len(),
        }
    }

    fn column(&self, p: usize, c: usize) -> ArrayRef {
        match &self.pieces[p] {
            OutPiece::Slice(b) => b.column(c).clone(),
            OutPiece::Gather(batches, rows) => {
                let arrays: Vec<&dyn Array> =
                    batches.iter().map(|b| b.column(c).as_ref()).collect();
                interleave(&arrays, rows).expect("batches share the lake schema")
            }
        }
    }
}

/// Slices at least this long are handed on as they are; shorter ones are
/// gathered.
const LONG_SLICE: usize = 512;

/// The k-way merge.
pub struct StreamMerge {
    cursors: Vec<Cursor>,
    judge: Judge,
    pub stats: StreamStats,
    /// Rows a chunk holds at most.
    chunk_rows: usize,
    /// Bytes of batches a gather draws on at most.
    gather_bytes: usize,
}

impl StreamMerge {
    /// Merges `runs`; chunks hold at most `chunk_rows` rows.
    pub fn new(runs: Vec<(Origin, Box<dyn SortedRun>)>, chunk_rows: usize) -> Self {
        Self {
            cursors: runs
                .into_iter()
                .map(|(origin, run)| Cursor {
                    run,
                    origin,
                    batch: None,
                    batches: 0,
                    row: 0,
                    times: None,
                    ids: None,
                    keys: None,
                    done: false,
                })
                .collect(),
            judge: Judge::default(),
            stats: StreamStats::default(),
            chunk_rows: chunk_rows.max(1),
            gather_bytes: 1 << 30,
        }
    }

    /// The next rows in merge order, or `None` when every run is done.
    pub fn next_chunk(&mut self) -> Result<Option<StreamChunk>, SinkError> {
        let mut out = Vec::new();
        let mut rows = 0usize;
        // Short slices gathered: their batches and (batch, row) pairs.
        let mut gather: (Vec<RecordBatch>, Vec<(usize, usize)>, usize) =
            (Vec::new(), Vec::new(), 0);
        let flush = |out: &mut Vec<OutPiece>,
                     g: &mut (Vec<RecordBatch>, Vec<(usize, usize)>, usize)| {
            if !g.1.is_empty() {
                out.push(OutPiece::Gather(
                    std::mem::take(&mut g.0),
                    std::mem::take(&mut g.1),
                ));
            }
            g.0.clear();
            g.2 = 0;
        };
        while rows < self.chunk_rows {
            for c in &mut self.cursors {
                c.load()?;
            }
            // The run with the smallest next row, and the next smallest.
            let mut live: Vec<usize> = (0..self.cursors.len())
                .filter(|&i| self.cursors[i].batch.is_some())
                .collect();
            if live.is_empty() {
                break;
            }
            live.sort_by(|&a, &b| {
                let (ca, cb) = (&self.cursors[a], &self.cursors[b]);
                cmp_nulls_last(ca.key(ca.row), cb.key(cb.row)).then(a.cmp(&b))
            });
            let first = live[0];
            let end = match live.get(1) {
                None => self.cursors[first].len(),
                Some(&second) => {
                    let (a, b) = (&self.cursors[first], &self.cursors[second]);
                    let bound = b.key(b.row);
                    // Rows of `first` before the next event of `second`.
                    let before = |r: usize| {
                        let k = a.key(r);
                        match (event(k), event(bound)) {
                            (Some(x), Some(y)) => x < y,
                            _ => cmp_nulls_last(k, bound).is_lt(),
                        }
                    };
                    let (mut lo, mut hi) = (a.row, a.len());
                    while lo < hi {
                        let mid = (lo + hi) / 2;
                        if before(mid) {
                            lo = mid + 1;
                        } else {
                            hi = mid;
                        }
                    }
                    lo
                }
            };
            let start = self.cursors[first].row;
            if end > start {
                let n = (end - start).min(self.chunk_rows - rows);
                let c = &mut self.cursors[first];
                c.row += n;
                match c.origin {
                    Origin::Settled => continue,
                    Origin::New => self.stats.new_written += n as u64,
                    Origin::Lake => self.stats.lake_written += n as u64,
                }
                let batch = c.batch.as_ref().expect("live");
                rows += n;
                if n >= LONG_SLICE {
                    flush(&mut out, &mut gather);
                    out.push(OutPiece::Slice(batch.slice(start, n)));
                } else {
                    push_gather(
                        &mut gather,
                        batch,
                        start,
                        n,
                        self.gather_bytes,
                        &mut out,
                        &flush,
                    );
                }
                continue;
            }
            // The next rows of several runs are one event (or share a key
            // without an id): take every row of it from every run.
            let head = {
                let c = &self.cursors[first];
                c.key(c.row)
            };
            let Some((time, id)) = event(head).map(|(t, i)| (t.map(str::to_string), i.to_string()))
            else {
                // No id: the smallest row alone.
                let c = &mut self.cursors[first];
                let batch = c.batch.clone().expect("live");
                let r = c.row;
                c.row += 1;
                match c.origin {
                    Origin::Settled => continue,
                    Origin::New => self.stats.new_written += 1,
                    Origin::Lake => self.stats.lake_written += 1,
                }
                rows += 1;
                push_gather(
                    &mut gather,
                    &batch,
                    r,
                    1,
                    self.gather_bytes,
                    &mut out,
                    &flush,
                );
                continue;
            };
            let mut candidates: Vec<(RecordBatch, usize, Origin, usize)> = Vec::new();
            let mut settled: Vec<(RecordBatch, usize)> = Vec::new();
            for i in live {
                loop {
                    let c = &mut self.cursors[i];
                    c.load()?;
                    if c.batch.is_none() {
                        break;
                    }
                    let k = c.key(c.row);
                    if k.1 != Some(id.as_str()) || k.0 != time.as_deref() {
                        break;
                    }
                    let r = c.row;
                    c.row += 1;
                    if c.origin == Origin::Settled {
                        let batch_no = c.batches - 1;
                        settled.push(c.run.full_row(batch_no, r)?);
                    } else {
                        candidates.push((c.batch.clone().expect("live"), r, c.origin, i));
                    }
                }
            }
            // Merge order within the event: source key, then run, then row.
            candidates.sort_by(|a, b| {
                let key = |(b, r, _, _): &(RecordBatch, usize, Origin, usize)| {
                    let k = b
                        .column(schema::column_index(SOURCE_KEY))
                        .as_string::<i32>();
                    (!k.is_null(*r)).then(|| k.value(*r).to_string())
                };
                key(a).cmp(&key(b)).then(a.3.cmp(&b.3)).then(a.1.cmp(&b.1))
            });
            let group: Vec<(&RecordBatch, usize)> =
                candidates.iter().map(|(b, r, _, _)| (b, *r)).collect();
            let runs: Vec<usize> = candidates.iter().map(|c| c.3).collect();
            let settled_rows: Vec<(&RecordBatch, usize)> =
                settled.iter().map(|(b, r)| (b, *r)).collect();
            let kept = self.judge.keep(&group, &runs, &settled_rows);
            for (k, (batch, r, origin, _)) in candidates.iter().enumerate() {
                let keep = kept.contains(&k);
                match (origin, keep) {
                    (Origin::New, true) => self.stats.new_written += 1,
                    (Origin::New, false) => self.stats.new_duplicates += 1,
                    (Origin::Lake, true) => self.stats.lake_written += 1,
                    (Origin::Lake, false) => self.stats.lake_duplicates += 1,
                    (Origin::Settled, _) => unreachable!("settled rows are not candidates"),
                }
                if keep {
                    rows += 1;
                    push_gather(
                        &mut gather,
                        batch,
                        *r,
                        1,
                        self.gather_bytes,
                        &mut out,
                        &flush,
                    );
                }
            }
        }
        flush(&mut out, &mut gather);
        self.stats.conflicts = self.judge.conflicts.clone();
        if out.is_empty() && self.cursors.iter().all(|c| c.done) {
            return Ok(None);
        }
        Ok(Some(StreamChunk { pieces: out }))
    }
}

type Gather = (Vec<RecordBatch>, Vec<(usize, usize)>, usize);

/// Adds rows `[start, start + n)` of `batch` to the gather, handing it on
/// first when it would draw on more than `limit` bytes of batches.
fn push_gather(
    g: &mut Gather,
    batch: &RecordBatch,
    start: usize,
    n: usize,
    limit: usize,
    out: &mut Vec<OutPiece>,
    flush: &impl Fn(&mut Vec<OutPiece>, &mut Gather),
) {
    let same = |b: &RecordBatch| std::sync::Arc::ptr_eq(b.column(0), batch.column(0));
    let at = match g.0.iter().position(same) {
        Some(i) => i,
        None => {
            let size = batch.get_array_memory_size();
            if g.2 + size > limit && !g.1.is_empty() {
                flush(out, g);
            }
            g.0.push(batch.clone());
            g.2 += size;
            g.0.len() - 1
        }
    };
    g.1.extend((start..start + n).map(|r| (at, r)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;
    use crate::sink::merge;

    /// A run over batches in memory.
    struct Batches(std::vec::IntoIter<RecordBatch>, Vec<RecordBatch>);

    impl SortedRun for Batches {
        fn next_batch(&mut self) -> Result<Option<RecordBatch>, SinkError> {
            Ok(self.0.next())
        }
        fn full_row(
            &mut self,
            batch: usize,
            row: usize,
        ) -> Result<(RecordBatch, usize), SinkError> {
            Ok((self.1[batch].clone(), row))
        }
    }

    fn decode(records: &[(&str, &str, &str)], key: &str) -> Vec<RecordBatch> {
        let mut d = Decoder::new();
        let body: Vec<String> = records
            .iter()
            .map(|(t, id, name)| {
                format!(
                    r#"{{"eventTime":"{t}","eventID":"{id}","eventName":"{name}","awsRegion":"eu-west-1","recipientAccountId":"111122223333"}}"#
                )
            })
            .collect();
        let mut doc = format!(r#"{{"Records":[{}]}}"#, body.join(",")).into_bytes();
        d.decode_file(key, &mut doc);
        d.finish().into_iter().map(|(_, b)| b).collect()
    }

    /// A sorted run of `records` from `key`, cut into batches of `per`.
    fn run(records: &[(&str, &str, &str)], key: &str, per: usize) -> Box<dyn SortedRun> {
        let merged = merge(decode(records, key));
        let whole = merged.slice(0, merged.num_rows());
        let batches: Vec<RecordBatch> = (0..whole.num_rows())
            .step_by(per)
            .map(|s| whole.slice(s, per.min(whole.num_rows() - s)))
            .collect();
        Box::new(Batches(batches.clone().into_iter(), batches))
    }

    fn settled(records: &[(&str, &str, &str)], key: &str) -> Box<dyn SortedRun> {
        let merged = merge(decode(records, key));
        let whole = merged.slice(0, merged.num_rows());
        let keys = whole
            .project(&[
                schema::column_index(EVENT_TIME),
                schema::column_index(EVENT_ID),
            ])
            .unwrap();
        Box::new(Batches(vec![keys].into_iter(), vec![whole]))
    }

    fn drain(m: &mut StreamMerge) -> Vec<(String, String, String, String)> {
        let mut out = Vec::new();
        while let Some(chunk) = m.next_chunk().unwrap() {
            for p in 0..chunk.pieces() {
                let col = |name: &str| chunk.column(p, schema::column_index(name));
                let (t, i, n, k) = (
                    col(EVENT_TIME),
                    col(EVENT_ID),
                    col("eventname"),
                    col(SOURCE_KEY),
                );
                for r in 0..chunk.rows(p) {
                    let s = |a: &ArrayRef| a.as_string::<i32>().value(r).to_string();
                    out.push((s(&t), s(&i), s(&n), s(&k)));
                }
            }
        }
        out
    }

    #[test]
    fn runs_merge_in_order_and_each_event_is_kept_once() {
        let a = [
            ("2024-01-15T01:00:00Z", "e1", "A"),
            ("2024-01-15T03:00:00Z", "e3", "C"),
            ("2024-01-15T05:00:00Z", "e5", "E"),
        ];
        let b = [
            ("2024-01-15T02:00:00Z", "e2", "B"),
            ("2024-01-15T03:00:00Z", "e3", "C"),
            ("2024-01-15T04:00:00Z", "e4", "D"),
        ];
        let mut m = StreamMerge::new(
            vec![
                (Origin::Lake, run(&a, "k1", 2)),
                (Origin::New, run(&b, "k2", 1)),
            ],
            4,
        );
        let rows = drain(&mut m);
        let ids: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(ids, ["e1", "e2", "e3", "e4", "e5"]);
        // The copy from the smaller source key is kept.
        assert_eq!(rows[2].3, "k1");
        assert_eq!(m.stats.new_duplicates, 1);
        assert_eq!(m.stats.new_written, 2);
        assert_eq!(m.stats.lake_written, 3);
        assert_eq!(m.stats.conflicts.rows, 0);
    }

    #[test]
    fn a_conflicting_row_is_kept_and_counted_and_settled_rows_drop_their_copies() {
        let new = [
            ("2024-01-15T01:00:00Z", "e1", "A"),
            ("2024-01-15T02:00:00Z", "e2", "Forged"),
            ("2024-01-15T03:00:00Z", "e3", "C"),
        ];
        let old = [
            ("2024-01-15T01:00:00Z", "e1", "A"),
            ("2024-01-15T02:00:00Z", "e2", "B"),
        ];
        let mut m = StreamMerge::new(
            vec![
                (Origin::Settled, settled(&old, "k0")),
                (Origin::New, run(&new, "k9", 8)),
            ],
            100,
        );
        let rows = drain(&mut m);
        // e1 is in the lake already; e2 differs: written beside it.
        let names: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
        assert_eq!(names, ["Forged", "C"]);
        assert_eq!(m.stats.new_duplicates, 1);
        assert_eq!(m.stats.conflicts.rows, 1);
        assert_eq!(m.stats.conflicts.examples[0].eventid, "e2");
        assert_eq!(m.stats.conflicts.examples[0].sourcekeys, ["k0", "k9"]);
    }

    #[test]
    fn streaming_equals_merging_in_memory() {
        // Many overlapping runs of generated-looking rows, some repeated.
        let times: Vec<String> = (0..300)
            .map(|i| format!("2024-01-15T{:02}:{:02}:00Z", i / 60, i % 60))
            .collect();
        let mut runs_data: Vec<Vec<(String, String, String)>> = vec![Vec::new(); 5];
        for (i, t) in times.iter().enumerate() {
            runs_data[i % 5].push((t.clone(), format!("id{i}"), "X".into()));
            if i % 7 == 0 {
                runs_data[(i + 2) % 5].push((t.clone(), format!("id{i}"), "X".into()));
            }
        }
        fn as_ref(v: &[(String, String, String)]) -> Vec<(&str, &str, &str)> {
            v.iter()
                .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
                .collect()
        }
        let mut all = Vec::new();
        let mut runs = Vec::new();
        for (i, v) in runs_data.iter().enumerate() {
            all.extend(decode(&as_ref(v), &format!("k{i}")));
            runs.push((Origin::New, run(&as_ref(v), &format!("k{i}"), 7)));
        }
        let merged = merge(all);
        let want = {
            let b = merged.slice(0, merged.num_rows());
            let col = |n: &str| b.column(schema::column_index(n)).as_string::<i32>().clone();
            let (t, i, n, k) = (
                col(EVENT_TIME),
                col(EVENT_ID),
                col("eventname"),
                col(SOURCE_KEY),
            );
            (0..b.num_rows())
                .map(|r| {
                    (
                        t.value(r).to_string(),
                        i.value(r).to_string(),
                        n.value(r).to_string(),
                        k.value(r).to_string(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let mut m = StreamMerge::new(runs, 64);
        assert_eq!(drain(&mut m), want);
        assert_eq!(m.stats.new_duplicates, merged.duplicates);
    }
}
