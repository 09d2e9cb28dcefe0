//! Merging one partition's rows in memory: sort, and keep one row of each
//! event (see [`merge`] for what counts as the same event).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    make_array, make_comparator, Array, ArrayData, ArrayRef, AsArray, BooleanBufferBuilder,
    DynComparator, ListArray, MutableArrayData, RecordBatch, StringArray, StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{interleave, SortOptions};
use arrow::datatypes::DataType;

use crate::schema::{self, EVENT_ID, EVENT_TIME, SOURCE_KEY};

/// A partition after merging: sorted by time, one row per event. The rows
/// stay in their source batches; `order` says which to take, in what order.
/// [`super::encode`] writes long runs of it straight from their batches and
/// gathers the rest a slice at a time, so a partition's rows are never held
/// twice (gathering the whole partition at once cost a fresh copy of it:
/// ~18% of a run's page faults, measured with `perf record -e page-faults`).
pub struct Merged {
    batches: Vec<RecordBatch>,
    /// Each batch's size in memory: gathers stay well inside 32-bit offsets.
    batch_bytes: Vec<usize>,
    order: Vec<(usize, usize)>,
    /// `order` as runs `(batch, start, end)` of consecutive rows of one
    /// batch, and where each run starts in `order`.
    runs: Vec<(usize, usize, usize)>,
    run_starts: Vec<usize>,
    /// Rows dropped as duplicate deliveries of a row kept.
    pub duplicates: u64,
    /// Rows kept beside another with the same `eventid` and `eventtime` but
    /// other content.
    pub conflicts: Conflicts,
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

    /// Rows `[offset, offset + len)` as the pieces [`super::encode`] writes in
    /// turn: a run of at least [`LONG_RUN`] rows is written straight from
    /// its batch (a zero-copy slice); shorter runs are gathered, up to
    /// [`GATHER_ROWS`] rows at a time, and never from batches holding more
    /// than [`GATHER_BYTES`] together (so no gathered column outgrows its
    /// 32-bit offsets, whatever the values' sizes). The decoder takes a slice's files
    /// in time order and each file's records sorted, so a partition's rows
    /// are mostly a few long runs, about one per batch; gathering them all
    /// was ~5% of a run (perf).
    fn pieces(&self, offset: usize, len: usize) -> Vec<Piece> {
        let mut out = Vec::new();
        // Short runs not yet written: from `pending` to `at`, drawing on
        // the batches in `touched`, of `touched_bytes` together.
        let (mut pending, mut at) = (offset, offset);
        let mut touched: Vec<usize> = Vec::new();
        let mut touched_bytes = 0usize;
        for (b, start, end) in self.runs(offset, len) {
            let n = end - start;
            if n >= LONG_RUN {
                if pending < at {
                    out.push(Piece::Gather(pending, at - pending));
                }
                out.push(Piece::Run(b, start, n));
                pending = at + n;
                touched.clear();
                touched_bytes = 0;
            } else {
                let more = if touched.contains(&b) {
                    0
                } else {
                    self.batch_bytes[b]
                };
                if at + n - pending > GATHER_ROWS || touched_bytes + more > GATHER_BYTES {
                    if pending < at {
                        out.push(Piece::Gather(pending, at - pending));
                    }
                    pending = at;
                    touched.clear();
                    touched_bytes = 0;
                }
                if !touched.contains(&b) {
                    touched.push(b);
                    touched_bytes += self.batch_bytes[b];
                }
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
    /// with it; [`super::encode`] gathers column by column).
    #[cfg(test)]
    pub fn slice(&self, offset: usize, len: usize) -> RecordBatch {
        let schema = schema::arrow_schema();
        let columns = (0..schema.fields().len())
            .map(|c| self.column_slice(c, offset, len))
            .collect();
        RecordBatch::try_new(schema, columns).expect("batches share the lake schema")
    }
}

/// Rows of a [`Merged`] as the pieces an encoder takes.
pub struct MergedChunk<'a> {
    merged: &'a Merged,
    pieces: Vec<Piece>,
}

impl Merged {
    /// Rows `[offset, offset + len)` for [`super::PartitionWriter::write`].
    pub fn chunk(&self, offset: usize, len: usize) -> MergedChunk<'_> {
        MergedChunk {
            merged: self,
            pieces: if len == 0 {
                Vec::new()
            } else {
                self.pieces(offset, len)
            },
        }
    }

    /// Bytes of the batches the rows lie in.
    pub fn memory_size(&self) -> usize {
        self.batch_bytes.iter().sum()
    }

    /// The `eventtime` of the first and last rows.
    pub fn time_range(&self) -> Option<(String, String)> {
        let time = |&(b, r): &(usize, usize)| {
            let a = self.batches[b]
                .column(schema::column_index(EVENT_TIME))
                .as_string::<i32>();
            a.value(r).to_string()
        };
        Some((time(self.order.first()?), time(self.order.last()?)))
    }
}

impl super::Chunk for MergedChunk<'_> {
    fn pieces(&self) -> usize {
        self.pieces.len()
    }

    fn rows(&self, p: usize) -> usize {
        match self.pieces[p] {
            Piece::Run(_, _, n) | Piece::Gather(_, n) => n,
        }
    }

    fn column(&self, p: usize, c: usize) -> ArrayRef {
        self.merged.piece(c, &self.pieces[p])
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

/// Most bytes of batches one gather draws on (past it, the gather is cut).
/// A batch holds at most a slice group's JSON plus one file's, well under
/// 2 GiB (`crate::compact`), so a gather fits in an array's 32-bit offsets
/// however large the values are.
const GATHER_BYTES: usize = 1 << 30;

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
                "gathers draw on at most GATHER_BYTES of batches"
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
                    .expect("gathers draw on at most GATHER_BYTES of batches");
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

/// Merges batches of one partition: sorts by `eventtime`, `eventid`,
/// `sourcekey`, then arrival, and keeps one row of each duplicate delivery.
///
/// Rows are the same event when they have the same `eventid` and
/// `eventtime` (CloudTrail never changes an event's time when it delivers
/// it again); those are compared in full, every column but `sourcekey`.
/// Equal rows are one event delivered more than once: the one from the
/// smallest `sourcekey` (then the earliest) is kept. Rows that differ are
/// an eventID conflict (a forged or corrupted record, or a bug upstream):
/// every distinct row is kept and the conflict counted, so no event is
/// ever dropped for looking like another. Rows without an `eventid` are
/// all kept.
///
/// Nothing is copied here: the order is computed on `(batch, row)` pairs,
/// and [`super::encode`] writes long runs of it from their batches and
/// gathers the rest (`Merged::pieces`).
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
    let sorted: Vec<(usize, usize)> = keyed.into_iter().map(|(_, p)| p).collect();
    // Rows of one event are next to each other now: judge each group.
    let mut judge = Judge::default();
    let mut rows = Vec::with_capacity(n);
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i + 1;
        if let Some(id) = get(&ids, sorted[i]) {
            let time = get(&times, sorted[i]);
            while j < sorted.len()
                && get(&ids, sorted[j]) == Some(id)
                && get(&times, sorted[j]) == time
            {
                j += 1;
            }
        }
        if j - i == 1 {
            rows.push(sorted[i]);
        } else {
            let group: Vec<(&RecordBatch, usize)> = sorted[i..j]
                .iter()
                .map(|&(b, r)| (&batches[b], r))
                .collect();
            let runs: Vec<usize> = (0..group.len()).collect();
            for k in judge.keep(&group, &runs, &[]) {
                rows.push(sorted[i + k]);
            }
        }
        i = j;
    }
    drop(sorted);
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
    let batch_bytes = batches.iter().map(|b| b.get_array_memory_size()).collect();
    Merged {
        batches,
        batch_bytes,
        order: rows,
        runs,
        run_starts,
        duplicates,
        conflicts: judge.conflicts,
    }
}

/// eventID conflicts found while merging: how many, and the first few.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflicts {
    /// Rows kept beside another row of the same `eventid` and `eventtime`.
    pub rows: u64,
    /// The first [`Conflicts::EXAMPLES`] of them.
    pub examples: Vec<Conflict>,
}

impl Conflicts {
    pub const EXAMPLES: usize = 20;

    pub fn absorb(&mut self, other: Conflicts) {
        self.rows += other.rows;
        for c in other.examples {
            if self.examples.len() < Self::EXAMPLES {
                self.examples.push(c);
            }
        }
    }
}

/// One event id with rows that differ.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    pub eventid: String,
    pub eventtime: String,
    /// The log objects of the differing rows.
    pub sourcekeys: Vec<String>,
}

/// Two batches' first columns, and comparators of their other columns.
type Pair = (ArrayRef, ArrayRef, Vec<DynComparator>);

/// Pairs of batches whose comparators a [`Judge`] keeps. Each holds both
/// batches alive (a settled file's full rows come a batch of up to 1 MiB
/// at a time): 256 pairs held 720 MiB when a day of 200,000 events was
/// delivered again; rows come in the merge's order, so a few pairs do.
const MAX_COMPARATORS: usize = 16;

/// Decides which rows of one event to keep (see [`merge`]).
#[derive(Default)]
pub struct Judge {
    /// Comparators of every column but `sourcekey`, by pair of batches
    /// (their first column's address; the entry holds both columns, so an
    /// address is not reused by another batch while it is a key here: a
    /// row read back for one comparison and dropped left its address to
    /// the next, which then met the old row's comparators).
    comparators: HashMap<(usize, usize), Pair>,
    pub conflicts: Conflicts,
}

impl Judge {
    /// Of `group` (rows of one `eventid` and `eventtime`, in merge order),
    /// the indices of the rows to keep: the first of each distinct content
    /// that no row of `settled` (rows staying in the lake as they are)
    /// already has. Conflicts are counted.
    ///
    /// `runs[i]` names the sorted run row `i` came from: rows of one run
    /// that differ were counted as conflicts when that run was merged, and
    /// are not counted again (in memory every row is a run of its own).
    pub fn keep(
        &mut self,
        group: &[(&RecordBatch, usize)],
        runs: &[usize],
        settled: &[(&RecordBatch, usize)],
    ) -> Vec<usize> {
        let mut distinct_settled: Vec<(&RecordBatch, usize)> = Vec::new();
        for &s in settled {
            if !distinct_settled.iter().any(|&d| self.same(d, s)) {
                distinct_settled.push(s);
            }
        }
        let mut kept: Vec<usize> = Vec::new();
        for (i, &row) in group.iter().enumerate() {
            let seen = distinct_settled.iter().any(|&s| self.same(s, row))
                || kept.iter().any(|&k| self.same(group[k], row));
            if !seen {
                kept.push(i);
            }
        }
        // The first distinct row is the event; every other row kept beside
        // it is a conflict (rows already in the lake were counted when they
        // were written).
        let mut per_run: HashMap<usize, usize> = HashMap::new();
        for &k in &kept {
            *per_run.entry(runs[k]).or_default() += 1;
        }
        let counted: usize = per_run.values().map(|n| n - 1).sum();
        let conflicting = if distinct_settled.is_empty() {
            kept.len().saturating_sub(1)
        } else {
            kept.len()
        }
        .saturating_sub(counted);
        if conflicting > 0 {
            self.conflicts.rows += conflicting as u64;
            if self.conflicts.examples.len() < Conflicts::EXAMPLES {
                let string = |(b, r): (&RecordBatch, usize), name: &str| {
                    let a = b.column(schema::column_index(name)).as_string::<i32>();
                    (!a.is_null(r)).then(|| a.value(r).to_string())
                };
                let mut sourcekeys: Vec<String> = distinct_settled
                    .iter()
                    .copied()
                    .chain(kept.iter().map(|&k| group[k]))
                    .filter_map(|row| string(row, SOURCE_KEY))
                    .collect();
                sourcekeys.dedup();
                self.conflicts.examples.push(Conflict {
                    eventid: string(group[0], EVENT_ID).unwrap_or_default(),
                    eventtime: string(group[0], EVENT_TIME).unwrap_or_default(),
                    sourcekeys,
                });
            }
        }
        kept
    }

    /// Whether two rows are equal in every column but `sourcekey`.
    fn same(&mut self, (a, ra): (&RecordBatch, usize), (b, rb): (&RecordBatch, usize)) -> bool {
        let id = |x: &RecordBatch| Arc::as_ptr(x.column(0)) as *const () as usize;
        let key = (id(a), id(b));
        if self.comparators.len() > MAX_COMPARATORS {
            self.comparators.clear();
        }
        let skip = schema::column_index(SOURCE_KEY);
        let (_, _, cmps) = self.comparators.entry(key).or_insert_with(|| {
            let cmps = (0..a.num_columns())
                .filter(|&c| c != skip)
                .map(|c| {
                    make_comparator(
                        a.column(c).as_ref(),
                        b.column(c).as_ref(),
                        SortOptions::default(),
                    )
                    .expect("rows of the lake schema compare")
                })
                .collect();
            (a.column(0).clone(), b.column(0).clone(), cmps)
        });
        cmps.iter()
            .all(|cmp| cmp(ra, rb) == std::cmp::Ordering::Equal)
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

/// Orders `None` after every value, as `ORDER BY ... NULLS LAST` does: the
/// order of rows in a lake file, which every merge keeps.
pub(crate) fn cmp_nulls_last<T: Ord>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;
    use crate::sink::test_support::generated_batches;
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

    /// The merge rule written the slow, obvious way: `(time, id, key)` of
    /// the rows kept, in order.
    fn reference(rows: &[(usize, usize, usize)]) -> Vec<(String, String, String)> {
        let mut all: Vec<(usize, (&str, String, String))> = rows
            .iter()
            .enumerate()
            .map(|(i, &(t, id, key))| (i, (TIMES[t], format!("id{id}"), format!("k{key}"))))
            .collect();
        all.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        // One event: the same id and time (the records are otherwise alike).
        let mut best: HashMap<(&str, String), (String, usize)> = HashMap::new();
        for (i, (t, id, key)) in &all {
            let cand = (key.clone(), *i);
            let e = best.entry((*t, id.clone())).or_insert(cand.clone());
            if cand < *e {
                *e = cand;
            }
        }
        all.into_iter()
            .filter(|(i, (t, id, key))| best[&(*t, id.clone())] == (key.clone(), *i))
            .map(|(_, (t, id, key))| (t.to_string(), id, key))
            .collect()
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
