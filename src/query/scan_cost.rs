//! `scan-cost`: what a set of queries would scan in Athena, before and after
//! compaction, measured from the objects and from each query's plan.
//!
//! For every query three figures, each per table scan the query makes (a
//! self-join scans the table twice in Athena as in DataFusion):
//! - `raw_bytes`: the seed's table over the raw logs reads every log object
//!   under SRC, whatever the query.
//! - `raw_partitioned_bytes`: the same table partitioned by the folders'
//!   account, region and date (the seed's partition example) reads the log
//!   objects of the folders the query's partition filters keep. The filters
//!   are the ones DataFusion pushed into the lake's table scan, evaluated on
//!   the raw folders' values.
//! - `lake_bytes`: DataFusion's physical plan names the lake files it reads
//!   (partitions already pruned), the columns each scan needs (struct fields
//!   read through `get_field` count only their own leaves) and the predicate
//!   it prunes row groups with. The figure is each file's footer plus the
//!   column chunks of those columns in the row groups the predicate cannot
//!   rule out, from the Parquet footers, pruned by DataFusion's own row-group
//!   filter. Dynamic filters found only while running (joins, TopK) are not
//!   counted, so this is what a reader must fetch at most, and never more
//!   than the files it touches.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::ScalarValue;
use datafusion::datasource::physical_plan::parquet::{
    ParquetAccessPlan, ParquetFileMetrics, RowGroupAccessPlanFilter,
};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_expr::expressions::{Column as PhysColumn, Literal};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_expr_adapter::replace_columns_with_literals;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::prelude::SessionContext;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::partition::{PartitionKey, PathHints};
use crate::query::{self, LakeSession, QueryError};
use crate::schema::PARTITION_COLUMNS;
use crate::source::{self, SourceFilter};
use crate::store::Location;

/// Athena's list price per TB scanned in us-east-1 (a setting).
pub const DEFAULT_PRICE_PER_TB: f64 = 5.0;
/// Athena bills at least 10 MB per query, rounded up to whole MB.
const MIN_BILLED_BYTES: u64 = 10 << 20;
const MB: u64 = 1 << 20;
const TB: f64 = (1u64 << 40) as f64;

#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("{url}: listing failed: {reason}")]
    Listing { url: String, reason: String },
    #[error("{file}: {reason}")]
    Footer { file: String, reason: String },
    #[error("costing the plan: {0}")]
    Plan(#[source] datafusion::error::DataFusionError),
    #[error("{lake}: the lake has no partitions yet; run `traillake compact` first")]
    NoPartitions { lake: String },
}

impl CostError {
    /// Whether the user's input is at fault.
    pub fn is_usage(&self) -> bool {
        match self {
            CostError::Query(q) => q.is_usage(),
            CostError::NoPartitions { .. } => true,
            _ => false,
        }
    }
}

/// One query to cost: a label and its SQL.
#[derive(Debug, Clone)]
pub struct NamedQuery {
    pub name: String,
    pub sql: String,
}

/// One line of the answer. Field order is the JSON output's.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueryCost {
    /// The preset's name, or the SQL for a query from `--queries`.
    pub query: String,
    pub raw_bytes: u64,
    pub raw_partitioned_bytes: u64,
    pub lake_bytes: u64,
    pub raw_usd: f64,
    pub raw_partitioned_usd: f64,
    pub lake_usd: f64,
    /// `1 - lake_bytes / raw_bytes`.
    pub reduction: f64,
    /// Table scans in the plan (each is billed).
    pub table_scans: usize,
    /// Lake files, row groups and column chunks the scans read.
    pub lake_files: usize,
    pub lake_row_groups: usize,
    pub lake_column_chunks: usize,
    pub sql: String,
}

/// What Athena would bill for `bytes`: whole MB, at least 10 MB.
pub fn athena_usd(bytes: u64, price_per_tb: f64) -> f64 {
    let billed = bytes.div_ceil(MB).saturating_mul(MB).max(MIN_BILLED_BYTES);
    billed as f64 / TB * price_per_tb
}

/// The built-in query set: every preset. Parameters not given are taken
/// from the lake: `day` is its newest day, `ip` the busiest source address
/// of that day.
pub async fn default_queries(
    session: &LakeSession,
    lake_url: &str,
    partitions: &BTreeSet<PartitionKey>,
    params: &[(String, String)],
) -> Result<Vec<NamedQuery>, CostError> {
    let mut params = params.to_vec();
    let has = |params: &[(String, String)], k: &str| params.iter().any(|(p, _)| p == k);
    let newest = partitions
        .iter()
        .map(|k| (k.year.clone(), k.month.clone(), k.day.clone()))
        .max();
    let Some((year, month, day)) = newest else {
        return Err(CostError::NoPartitions {
            lake: lake_url.to_string(),
        });
    };
    for (k, v) in [("year", &year), ("month", &month), ("day", &day)] {
        if !has(&params, k) {
            params.push((k.to_string(), v.clone()));
        }
    }
    if !has(&params, "ip") {
        let sql = format!(
            "SELECT sourceipaddress FROM cloudtrail WHERE year = '{year}' AND month = '{month}' \
             AND day = '{day}' AND sourceipaddress IS NOT NULL \
             GROUP BY sourceipaddress ORDER BY count(*) DESC, sourceipaddress LIMIT 1"
        );
        let plan = session.plan(&sql).await?;
        let batches = datafusion::physical_plan::collect(plan, session.ctx.task_ctx())
            .await
            .map_err(QueryError::Execution)?;
        let ip = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| b.column(0).as_string::<i32>().value(0).to_string())
            .unwrap_or_else(|| "0.0.0.0".to_string());
        params.push(("ip".to_string(), ip));
    }
    query::PRESETS
        .iter()
        .map(|p| {
            let own: Vec<(String, String)> = params
                .iter()
                .filter(|(k, _)| p.params.iter().any(|(n, _, _)| n == k))
                .cloned()
                .collect();
            Ok(NamedQuery {
                name: p.name.to_string(),
                sql: query::preset_sql(p.name, &own)?,
            })
        })
        .collect()
}

/// Queries from a file: one SQL statement per line; blank lines and lines
/// starting with `--` or `#` are skipped, a trailing `;` is dropped.
pub fn parse_queries(text: &str) -> Vec<NamedQuery> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--") && !l.starts_with('#'))
        .map(|l| {
            let sql = l.trim_end_matches(';').trim().to_string();
            NamedQuery {
                name: sql.clone(),
                sql,
            }
        })
        .collect()
}

/// The raw logs under SRC, as the seed's table sees them: one row per
/// folder with its partition values, and the bytes of its log objects.
struct RawInventory {
    /// `account, region, year, month, day` of each folder (null where the
    /// key is not in CloudTrail's layout), built once for every filter.
    folders: RecordBatch,
    bytes: Vec<u64>,
    total: u64,
}

impl RawInventory {
    async fn list(src: &Location) -> Result<Self, CostError> {
        let walked = source::walk::walk(
            src,
            &source::walk::WalkOptions {
                full_scan: true,
                concurrency: if src.is_local() { 8 } else { 32 },
                ..Default::default()
            },
        )
        .await;
        if let Some((folder, reason)) = walked.failed.first() {
            return Err(CostError::Listing {
                url: src.url_of_relative(folder),
                reason: reason.clone(),
            });
        }
        let mut by_folder: BTreeMap<[Option<String>; 5], u64> = BTreeMap::new();
        let all = SourceFilter::default();
        for o in walked.objects {
            let key = o.rel;
            if source::classify(&key, &all).is_err() {
                continue;
            }
            let h = PathHints::from_key(&key);
            let folder = [
                h.account,
                h.region,
                h.date.map(|d| format!("{:04}", d.year)),
                h.date.map(|d| format!("{:02}", d.month)),
                h.date.map(|d| format!("{:02}", d.day)),
            ];
            *by_folder.entry(folder).or_default() += o.size;
        }
        let fields: Vec<Field> = PARTITION_COLUMNS
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true))
            .collect();
        let columns = (0..PARTITION_COLUMNS.len())
            .map(|i| {
                Arc::new(
                    by_folder
                        .keys()
                        .map(|f| f[i].clone())
                        .collect::<StringArray>(),
                ) as Arc<dyn Array>
            })
            .collect();
        let folders = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| CostError::Plan(e.into()))?;
        let bytes: Vec<u64> = by_folder.into_values().collect();
        Ok(Self {
            folders,
            total: bytes.iter().sum(),
            bytes,
        })
    }

    /// Bytes in the folders that pass `filters` (over the partition
    /// columns). Without filters, everything; a key outside the layout has
    /// no partition values, so any filter drops it.
    fn bytes_kept(&self, ctx: &SessionContext, filters: &[Expr]) -> Result<u64, CostError> {
        if filters.is_empty() {
            return Ok(self.total);
        }
        let keep =
            query::table::passing(&ctx.state(), filters, &self.folders).map_err(CostError::Plan)?;
        Ok(self
            .bytes
            .iter()
            .zip(keep)
            .filter_map(|(b, k)| k.then_some(b))
            .sum())
    }
}

/// Costs `queries` over the raw logs at `source` and the lake in
/// `session`, at `price_per_tb`.
pub async fn scan_cost(
    source: &Location,
    lake: &Location,
    session: &LakeSession,
    queries: &[NamedQuery],
    price_per_tb: f64,
) -> Result<Vec<QueryCost>, CostError> {
    let raw = RawInventory::list(source).await?;
    let mut footers = FooterCache::default();
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        out.push(cost_one(session, lake, &raw, &mut footers, q, price_per_tb).await?);
    }
    Ok(out)
}

async fn cost_one(
    session: &LakeSession,
    loc: &Location,
    raw: &RawInventory,
    footers: &mut FooterCache,
    q: &NamedQuery,
    price: f64,
) -> Result<QueryCost, CostError> {
    let failed = CostError::Plan;
    let df = session.dataframe(&q.sql).await?;
    let logical = df.clone().into_optimized_plan().map_err(QueryError::Sql)?;
    let physical = df.create_physical_plan().await.map_err(QueryError::Sql)?;

    // Raw side: one full read per scan of the table, and per scan the
    // folders its partition filters keep.
    let mut scans = Vec::new();
    logical
        .apply(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                if scan.table_name.table() == "cloudtrail" {
                    scans.push(scan.filters.clone());
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .map_err(failed)?;
    let mut cost = QueryCost {
        query: q.name.clone(),
        raw_bytes: raw.total * scans.len() as u64,
        raw_partitioned_bytes: 0,
        lake_bytes: 0,
        raw_usd: 0.0,
        raw_partitioned_usd: 0.0,
        lake_usd: 0.0,
        reduction: 0.0,
        table_scans: scans.len(),
        lake_files: 0,
        lake_row_groups: 0,
        lake_column_chunks: 0,
        sql: q.sql.clone(),
    };
    for filters in &scans {
        let partition_only: Vec<Expr> = filters
            .iter()
            .filter(|f| {
                let cols = f.column_refs();
                !cols.is_empty()
                    && cols
                        .iter()
                        .all(|c| PARTITION_COLUMNS.contains(&c.name.as_str()))
            })
            .cloned()
            .collect();
        cost.raw_partitioned_bytes += raw.bytes_kept(&session.ctx, &partition_only)?;
    }

    // Lake side: every file scan in the physical plan.
    let mut file_scans = Vec::new();
    query::visit(&physical, &mut |node| {
        let any: &dyn std::any::Any = node;
        if let Some(exec) = any.downcast_ref::<DataSourceExec>() {
            let source: &dyn std::any::Any = exec.data_source().as_ref();
            if let Some(config) = source.downcast_ref::<FileScanConfig>() {
                file_scans.push(config.clone());
            }
        }
    });
    for config in &file_scans {
        let read = scan_reads(config, loc, footers).await?;
        cost.lake_bytes += read.bytes;
        cost.lake_files += read.files;
        cost.lake_row_groups += read.row_groups;
        cost.lake_column_chunks += read.column_chunks;
    }

    cost.raw_usd = athena_usd(cost.raw_bytes, price);
    cost.raw_partitioned_usd = athena_usd(cost.raw_partitioned_bytes, price);
    cost.lake_usd = athena_usd(cost.lake_bytes, price);
    cost.reduction = if cost.raw_bytes == 0 {
        0.0
    } else {
        1.0 - cost.lake_bytes as f64 / cost.raw_bytes as f64
    };
    Ok(cost)
}

/// A lake file's footer: its decoded metadata and its size in bytes
/// (metadata + length + magic).
#[derive(Default)]
struct FooterCache {
    files: HashMap<Path, (Arc<ParquetMetaData>, u64)>,
}

impl FooterCache {
    async fn get(
        &mut self,
        store: &Arc<dyn ObjectStore>,
        path: &Path,
        size: u64,
    ) -> Result<(Arc<ParquetMetaData>, u64), CostError> {
        if let Some(hit) = self.files.get(path) {
            return Ok(hit.clone());
        }
        let (meta, footer) =
            crate::lake::footer::read(store, path, size)
                .await
                .map_err(|reason| CostError::Footer {
                    file: path.to_string(),
                    reason,
                })?;
        let entry = (Arc::new(meta), footer);
        self.files.insert(path.clone(), entry.clone());
        Ok(entry)
    }
}

#[derive(Debug, Default)]
struct ScanRead {
    bytes: u64,
    files: usize,
    row_groups: usize,
    column_chunks: usize,
}

/// What one file scan reads: per distinct file, the footer plus the needed
/// column chunks of the row groups its predicate keeps.
async fn scan_reads(
    config: &FileScanConfig,
    loc: &Location,
    footers: &mut FooterCache,
) -> Result<ScanRead, CostError> {
    let file_schema = config.file_schema().clone();
    let partition_cols: Vec<String> = config
        .table_partition_cols()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let source = config.file_source();
    let needs = needed_paths(
        source.projection().map(|p| p.expr_iter().collect()),
        source.filter(),
        &file_schema,
    );
    let predicate = source.filter();

    let mut read = ScanRead::default();
    let mut seen = BTreeSet::new();
    for group in &config.file_groups {
        for file in group.files() {
            let path = &file.object_meta.location;
            if !seen.insert(path.clone()) {
                continue; // a file split into ranges is one read
            }
            let (meta, footer) = footers.get(&loc.store, path, file.object_meta.size).await?;
            read.files += 1;
            read.bytes += footer;
            let groups = meta.row_groups();
            let mut plan = RowGroupAccessPlanFilter::new(ParquetAccessPlan::new_all(groups.len()));
            if let Some(pred) = &predicate {
                // As DataFusion's opener does: partition columns become
                // this file's values, then the row groups' statistics are
                // tested.
                let literals: HashMap<&str, ScalarValue> = partition_cols
                    .iter()
                    .map(String::as_str)
                    .zip(file.partition_values.iter().cloned())
                    .collect();
                let pred = replace_columns_with_literals(pred.clone(), &literals)
                    .map_err(CostError::Plan)?;
                // A predicate the statistics cannot use prunes nothing.
                let pruning = PruningPredicateBuilder::new()
                    .with_file_schema(file_schema.clone())
                    .build(pred);
                if let Some(pruning) = pruning {
                    let metrics =
                        ParquetFileMetrics::new(0, path.as_ref(), &ExecutionPlanMetricsSet::new());
                    plan.prune_by_statistics(
                        &file_schema,
                        meta.file_metadata().schema_descr(),
                        groups,
                        &pruning,
                        &metrics,
                    );
                }
            }
            let plan = plan.build();
            let schema = meta.file_metadata().schema_descr();
            let leaves: Vec<usize> = (0..schema.num_columns())
                .filter(|&i| needs.wants(schema.column(i).path().parts()))
                .collect();
            for rg in plan.row_group_indexes() {
                read.row_groups += 1;
                for &leaf in &leaves {
                    read.bytes += groups[rg].column(leaf).byte_range().1;
                    read.column_chunks += 1;
                }
            }
        }
    }
    Ok(read)
}

/// The file columns a scan reads: whole top-level columns, or paths into a
/// struct (`useridentity.type`) when the scan only reads fields of it.
#[derive(Debug, Default)]
struct Needs {
    whole: BTreeSet<String>,
    paths: BTreeSet<Vec<String>>,
}

impl Needs {
    /// Does the Parquet leaf at `parts` (root name first) get read?
    fn wants(&self, parts: &[String]) -> bool {
        let Some(root) = parts.first() else {
            return false;
        };
        self.whole.contains(root)
            || self
                .paths
                .iter()
                .any(|p| parts.len() >= p.len() && parts[..p.len()] == p[..])
    }
}

/// The columns named by the scan's projection and predicate. No projection
/// means every file column.
fn needed_paths(
    projection: Option<Vec<Arc<dyn PhysicalExpr>>>,
    predicate: Option<Arc<dyn PhysicalExpr>>,
    file_schema: &Schema,
) -> Needs {
    let mut needs = Needs::default();
    let is_file_col = |name: &str| file_schema.field_with_name(name).is_ok();
    let Some(exprs) = projection else {
        needs.whole = file_schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        return needs;
    };
    for e in exprs.iter().chain(predicate.iter()) {
        let _ = e.apply(|node| {
            if let Some(path) = field_path(node) {
                if is_file_col(&path[0]) {
                    needs.paths.insert(path);
                }
                return Ok(TreeNodeRecursion::Jump);
            }
            if let Some(c) = node.downcast_ref::<PhysColumn>() {
                if is_file_col(c.name()) {
                    needs.whole.insert(c.name().to_string());
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    needs
}

/// `get_field(get_field(col, 'a'), 'b')` or `get_field(col, 'a', 'b')` ->
/// `[col, a, b]`.
fn field_path(expr: &Arc<dyn PhysicalExpr>) -> Option<Vec<String>> {
    if let Some(c) = expr.downcast_ref::<PhysColumn>() {
        return Some(vec![c.name().to_string()]);
    }
    let f = expr.downcast_ref::<ScalarFunctionExpr>()?;
    if f.name() != "get_field" {
        return None;
    }
    let (base, names) = f.args().split_first()?;
    let mut path = field_path(base)?;
    for n in names {
        let lit = n.downcast_ref::<Literal>()?;
        match lit.value() {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => path.push(s.clone()),
            _ => return None,
        }
    }
    // A bare column is not a field access.
    (path.len() > 1).then_some(path)
}

/// `812 B`, `4.3 KB`, `19.8 MB`, `1.2 TB` (decimal units, as the table
/// says them; the JSON has exact bytes).
fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Renders the table: one row per query, bytes with the dollars.
pub fn render_table(costs: &[QueryCost]) -> String {
    use std::fmt::Write as _;
    let mb = |b: u64| human_bytes(b);
    let usd = |u: f64| format!("${u:.6}");
    let rows: Vec<[String; 8]> = costs
        .iter()
        .map(|c| {
            [
                c.query.clone(),
                mb(c.raw_bytes),
                usd(c.raw_usd),
                mb(c.raw_partitioned_bytes),
                usd(c.raw_partitioned_usd),
                mb(c.lake_bytes),
                usd(c.lake_usd),
                format!("{:.2}%", c.reduction * 100.0),
            ]
        })
        .collect();
    let header = [
        "query",
        "raw",
        "raw $",
        "raw partitioned",
        "partitioned $",
        "lake",
        "lake $",
        "reduction",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count().min(40));
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let cell: String = if cell.chars().count() > 40 {
                cell.chars().take(39).chain(['…']).collect()
            } else {
                cell.clone()
            };
            if i == 0 {
                let _ = write!(s, "{cell:<w$}");
            } else {
                let _ = write!(s, "  {cell:>w$}");
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect(), &mut out);
    for r in rows {
        line(r.to_vec(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn athena_bills_whole_megabytes_and_at_least_ten() {
        let ten_mb = 10.0 * MB as f64 / TB * 5.0;
        assert_eq!(athena_usd(0, 5.0), ten_mb);
        assert_eq!(athena_usd(10 << 20, 5.0), ten_mb);
        assert_eq!(athena_usd((10 << 20) + 1, 5.0), 11.0 * MB as f64 / TB * 5.0);
        assert_eq!(athena_usd(1 << 40, 5.0), 5.0);
        assert_eq!(athena_usd(1 << 40, 0.0), 0.0);
    }

    #[test]
    fn query_files_skip_comments_and_blank_lines() {
        let q = parse_queries("-- a comment\n\n# another\nSELECT 1;\n  SELECT 2  \n");
        let sql: Vec<&str> = q.iter().map(|q| q.sql.as_str()).collect();
        assert_eq!(sql, ["SELECT 1", "SELECT 2"]);
        assert_eq!(q[0].name, "SELECT 1");
    }

    /// A footer is found with one GET when it fits the hint, with a second
    /// when it does not; both give the footer the file really has.
    #[test]
    fn footers_are_read_whole_small_or_large() {
        use datafusion::parquet::file::metadata::ParquetMetaDataReader;
        use object_store::{memory::InMemory, ObjectStoreExt as _, PutPayload};
        let records: Vec<String> = (0..400)
            .map(|i| {
                format!(
                    r#"{{"eventTime":"2024-01-15T00:{:02}:{:02}Z","eventID":"id-{i}","eventName":"E{i}","awsRegion":"us-east-1","recipientAccountId":"111122223333"}}"#,
                    i / 60 % 60,
                    i % 60
                )
            })
            .collect();
        let mut json = format!(r#"{{"Records":[{}]}}"#, records.join(",")).into_bytes();
        let mut decoder = crate::decode::Decoder::new();
        decoder.decode_file("k", &mut json);
        let batches: Vec<RecordBatch> = decoder.finish().into_iter().map(|(_, b)| b).collect();
        let merged = crate::sink::merge(batches);
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let rt = query::runtime().unwrap();
        for (rows_per_group, name) in [(400, "small.parquet"), (2, "large.parquet")] {
            let opts = crate::sink::WriteOptions {
                row_group_rows: rows_per_group,
                ..Default::default()
            };
            let file = crate::sink::encode(&merged, &opts).unwrap().remove(0);
            let n = file.len();
            let want_len = u32::from_le_bytes(file[n - 8..n - 4].try_into().unwrap()) as u64 + 8;
            let want = ParquetMetaDataReader::decode_metadata(&file[n - want_len as usize..n - 8])
                .unwrap();
            let path = Path::from(name);
            rt.block_on(store.put(&path, PutPayload::from(file)))
                .unwrap();
            let (meta, footer) = rt
                .block_on(FooterCache::default().get(&store, &path, n as u64))
                .unwrap();
            assert_eq!(footer, want_len, "{name}");
            assert_eq!(meta.num_row_groups(), want.num_row_groups(), "{name}");
            assert_eq!(meta.num_row_groups(), 400 / rows_per_group);
            // The small footer came in the first GET, the large one needed
            // the second.
            assert_eq!(
                footer > crate::lake::footer::FOOTER_HINT,
                name == "large.parquet",
                "{footer}"
            );
        }
    }

    #[test]
    fn bytes_read_as_people_say_them() {
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(4_300), "4.3 KB");
        assert_eq!(human_bytes(19_808_592), "19.8 MB");
    }
}
