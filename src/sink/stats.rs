//! A Parquet file's statistics as Delta's log holds them (`stats` of an
//! `add` action), from the row groups' statistics the writer kept: computed
//! as a file is written and, for files older than the log, from footers.

use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;

/// Columns with per-file statistics: `eventtime` (files are sorted by it,
/// so a query by time skips whole files) and the columns the writer keeps
/// row-group statistics for.
pub fn stats_columns() -> Vec<&'static str> {
    let mut v = vec![crate::schema::EVENT_TIME];
    v.extend(super::CHUNK_STATISTICS);
    v
}

/// Longest string value kept as a file's min or max: longer ones are left
/// out (a reader then cannot skip by that column, which is always safe).
const MAX_STAT_CHARS: usize = 64;

/// Delta's statistics of a Parquet file from its row groups' statistics:
/// `numRecords` and, for [`stats_columns`], `minValues`, `maxValues` and
/// `nullCount` (a column whose statistics a row group lacks is left out).
pub fn file_stats(row_groups: &[RowGroupMetaData]) -> String {
    let rows: i64 = row_groups.iter().map(|rg| rg.num_rows()).sum();
    let mut min = serde_json::Map::new();
    let mut max = serde_json::Map::new();
    let mut nulls = serde_json::Map::new();
    for name in stats_columns() {
        let mut lo: Option<String> = None;
        let mut hi: Option<String> = None;
        let mut null_count = 0u64;
        let mut complete = !row_groups.is_empty();
        let mut bounded = true;
        for rg in row_groups {
            let Some(col) = rg
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
            else {
                complete = false;
                break;
            };
            let Some(Statistics::ByteArray(s)) = col.statistics() else {
                complete = false;
                break;
            };
            let Some(n) = s.null_count_opt() else {
                complete = false;
                break;
            };
            null_count += n;
            if n == rg.num_rows() as u64 {
                continue;
            }
            let text = |b: Option<&parquet::data_type::ByteArray>| {
                b.and_then(|b| std::str::from_utf8(b.data()).ok())
                    .map(str::to_string)
            };
            match (text(s.min_opt()), text(s.max_opt())) {
                (Some(a), Some(b)) if s.min_is_exact() && s.max_is_exact() => {
                    if lo.as_ref().is_none_or(|l| a < *l) {
                        lo = Some(a);
                    }
                    if hi.as_ref().is_none_or(|h| b > *h) {
                        hi = Some(b);
                    }
                }
                _ => bounded = false,
            }
        }
        if !complete {
            continue;
        }
        nulls.insert(name.into(), null_count.into());
        if let (true, Some(lo), Some(hi)) = (bounded, lo, hi) {
            if lo.chars().count() <= MAX_STAT_CHARS && hi.chars().count() <= MAX_STAT_CHARS {
                min.insert(name.into(), lo.into());
                max.insert(name.into(), hi.into());
            }
        }
    }
    serde_json::json!({
        "numRecords": rows,
        "minValues": min,
        "maxValues": max,
        "nullCount": nulls,
    })
    .to_string()
}
