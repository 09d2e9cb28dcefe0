//! `query`: SQL over the lake with DataFusion. The table `cloudtrail` is a
//! listing table over `LAKE` with `account, region, year, month, day` as
//! partition columns, so a filter on them skips whole folders, and
//! `eventtime` ranges skip row groups by their statistics (files are sorted
//! by time). Queries written for the seed's Athena table run unchanged,
//! including Athena's `json_extract_scalar` on the JSON-text columns.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::lake::Lake;
use crate::schema::{self, PARTITION_COLUMNS};
use crate::store::Location;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL, a preset or a parameter is wrong: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The query could not run: exit 1.
    #[error("{0}")]
    Failed(String),
}

/// Output format of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// RFC 4180 with a header row.
    Csv,
    /// One JSON object per row, columns in SELECT order.
    Json,
}

/// A named query with parameters.
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    /// `(name, default, help)`; no default means required.
    pub params: &'static [(&'static str, Option<&'static str>, &'static str)],
    sql: &'static str,
}

/// Roles that a compute service (ECS task, Lambda, EC2, EKS, Batch) assumed
/// in the lake's events: the roles meant for code, not people.
const COMPUTE_ROLES: &str = "compute_roles AS (
  SELECT DISTINCT json_extract_scalar(requestparameters, '$.roleArn') AS role_arn
  FROM cloudtrail
  WHERE eventname = 'AssumeRole'
    AND (useridentity.invokedby IN ('ecs-tasks.amazonaws.com', 'lambda.amazonaws.com', 'ec2.amazonaws.com', 'eks.amazonaws.com', 'batch.amazonaws.com')
      OR sourceipaddress IN ('ecs-tasks.amazonaws.com', 'lambda.amazonaws.com', 'ec2.amazonaws.com', 'eks.amazonaws.com', 'batch.amazonaws.com'))
)";

/// Calls made with a compute role's session; a preset adds its condition.
const COMPUTE_ROLE_CALLS: &str = "WITH {compute_roles}
SELECT eventtime, sourceipaddress, eventname, useridentity.sessioncontext.sessionissuer.username AS role, useragent
FROM cloudtrail
WHERE useridentity.type = 'AssumedRole'
  AND useridentity.sessioncontext.sessionissuer.arn IN (SELECT role_arn FROM compute_roles)";

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "top-events",
        about: "count of events by name, the seed's first query of any investigation",
        params: &[],
        sql: "SELECT eventname, count(*) AS events FROM cloudtrail GROUP BY eventname ORDER BY events DESC, eventname",
    },
    Preset {
        name: "by-ip",
        about: "everything one source address did, in time order",
        params: &[("ip", None, "source IP address")],
        sql: "SELECT eventtime, eventname, useridentity.arn AS arn FROM cloudtrail WHERE sourceipaddress = '{ip}' ORDER BY eventtime",
    },
    Preset {
        name: "assumed-roles",
        about: "calls made with assumed-role sessions",
        params: &[],
        sql: "SELECT eventtime, sourceipaddress, eventname, useridentity.arn AS arn FROM cloudtrail WHERE useridentity.type = 'AssumedRole' ORDER BY eventtime",
    },
    Preset {
        name: "errors",
        about: "failed and denied calls",
        params: &[],
        sql: "SELECT eventtime, eventname, useridentity.arn AS arn, errorcode, errormessage FROM cloudtrail WHERE errorcode IS NOT NULL ORDER BY eventtime",
    },
    Preset {
        name: "day",
        about: "one day's events, read from that day's partitions only",
        params: &[("year", None, "YYYY"), ("month", None, "MM"), ("day", None, "DD")],
        sql: "SELECT eventtime, account, region, eventsource, eventname, sourceipaddress, useridentity.arn AS arn, errorcode FROM cloudtrail WHERE year = '{year}' AND month = '{month}' AND day = '{day}' ORDER BY eventtime",
    },
    Preset {
        name: "role-outside-aws",
        about: "a compute role's session (ECS task, Lambda, ...) used from an address that is not AWS's",
        params: &[],
        sql: "{compute_role_calls}
  AND NOT is_aws_address(sourceipaddress)
ORDER BY eventtime",
    },
    Preset {
        name: "cli-on-compute-role",
        about: "the aws-cli user agent on a role meant for a container or function",
        params: &[],
        sql: "{compute_role_calls}
  AND useragent LIKE '%aws-cli%'
ORDER BY eventtime",
    },
    Preset {
        name: "anonymous-then-role",
        about: "one IP seen as ANONYMOUS_PRINCIPAL and as an assumed role within a window",
        params: &[("window", Some("60"), "minutes between the two")],
        sql: "SELECT a.sourceipaddress AS sourceipaddress, min(a.eventtime) AS first_anonymous, min(r.eventtime) AS first_as_role, r.useridentity.arn AS role_session, count(DISTINCT r.eventid) AS role_calls
FROM cloudtrail a JOIN cloudtrail r ON a.sourceipaddress = r.sourceipaddress
WHERE (a.useridentity.accountid = 'ANONYMOUS_PRINCIPAL' OR a.useridentity.principalid = 'ANONYMOUS_PRINCIPAL')
  AND r.useridentity.type = 'AssumedRole'
  AND to_unixtime(r.eventtime) BETWEEN to_unixtime(a.eventtime) - {window} * 60 AND to_unixtime(a.eventtime) + {window} * 60
GROUP BY a.sourceipaddress, r.useridentity.arn
ORDER BY first_anonymous, role_session",
    },
    Preset {
        name: "recon-from-app-role",
        about: "broad discovery calls (ListBuckets, DescribeInstances, ...) from application roles",
        params: &[],
        sql: "{compute_role_calls}
  AND eventname IN ('ListBuckets', 'DescribeInstances', 'ListRoles', 'ListUsers', 'ListPolicies',
    'GetAccountAuthorizationDetails', 'ListAccessKeys', 'DescribeSecurityGroups', 'DescribeSubnets',
    'DescribeVpcs', 'ListFunctions', 'ListSecrets', 'DescribeDBInstances', 'GetCallerIdentity',
    'ListImages', 'DescribeRepositories', 'ListClusters', 'DescribeSnapshots')
ORDER BY eventtime",
    },
];

/// `--list-presets` text.
pub fn list_presets() -> String {
    let mut s = String::new();
    for p in PRESETS {
        let _ = writeln!(s, "{:<22} {}", p.name, p.about);
        for (name, default, help) in p.params {
            let d = default.map_or("required".to_string(), |d| format!("default {d}"));
            let _ = writeln!(s, "{:<22}   --param {name}=...  {help} ({d})", "");
        }
    }
    s
}

/// The SQL of a preset with its parameters filled in.
pub fn preset_sql(name: &str, params: &[(String, String)]) -> Result<String, QueryError> {
    let preset = PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
        QueryError::Usage(format!(
            "no preset {name:?}; `traillake query --list-presets` lists them"
        ))
    })?;
    for (k, _) in params {
        if !preset.params.iter().any(|(p, _, _)| p == k) {
            return Err(QueryError::Usage(format!(
                "preset {name} has no parameter {k:?}"
            )));
        }
    }
    let mut sql = preset
        .sql
        .replace("{compute_role_calls}", COMPUTE_ROLE_CALLS)
        .replace("{compute_roles}", COMPUTE_ROLES);
    for (p, default, _) in preset.params {
        let value = params
            .iter()
            .rev()
            .find(|(k, _)| k == p)
            .map(|(_, v)| v.as_str())
            .or(*default)
            .ok_or_else(|| QueryError::Usage(format!("preset {name} needs --param {p}=...")))?;
        if *p == "window" && value.parse::<u32>().is_err() {
            return Err(QueryError::Usage(format!(
                "--param window={value}: expected whole minutes"
            )));
        }
        // Values go into string literals: double quotes as SQL does.
        sql = sql.replace(&format!("{{{p}}}"), &value.replace('\'', "''"));
    }
    Ok(sql)
}

/// What `--explain` reports about the scan.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ScanReport {
    pub partitions_total: usize,
    pub partitions_kept: usize,
    pub files_total: usize,
    pub files_kept: usize,
    /// Bytes of the files kept (what a full read of them would cost).
    pub file_bytes_kept: u64,
    /// Scan metrics: row groups pruned, bytes read, ...
    pub metrics: Vec<(String, String)>,
}

impl ScanReport {
    pub fn render(&self) -> String {
        let mut s = format!(
            "partitions: {} of {} kept ({} pruned)\nfiles: {} of {} kept ({} pruned), {} bytes\n",
            self.partitions_kept,
            self.partitions_total,
            self.partitions_total - self.partitions_kept,
            self.files_kept,
            self.files_total,
            self.files_total - self.files_kept,
            self.file_bytes_kept
        );
        for (k, v) in &self.metrics {
            let _ = writeln!(s, "{k}: {v}");
        }
        s
    }
}

/// The result of a query.
pub struct QueryResult {
    pub batches: Vec<RecordBatch>,
    pub scan: ScanReport,
}

/// Where `role-outside-aws` learns AWS's addresses.
#[derive(Debug, Default, Clone)]
pub struct AwsRanges {
    prefixes: Vec<(IpAddr, u8)>,
}

impl AwsRanges {
    /// Parses AWS's published `ip-ranges.json`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut prefixes = Vec::new();
        for (list, key) in [("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")] {
            for p in doc[list].as_array().into_iter().flatten() {
                let Some(cidr) = p[key].as_str() else {
                    continue;
                };
                let (ip, len) = cidr.split_once('/').ok_or(format!("bad prefix {cidr}"))?;
                let ip: IpAddr = ip.parse().map_err(|_| format!("bad prefix {cidr}"))?;
                let len: u8 = len.parse().map_err(|_| format!("bad prefix {cidr}"))?;
                prefixes.push((ip, len));
            }
        }
        if prefixes.is_empty() {
            return Err("no prefixes: not an ip-ranges.json".to_string());
        }
        Ok(Self { prefixes })
    }

    /// AWS's own: a service name (`ecs-tasks.amazonaws.com`, `AWS Internal`)
    /// or an address inside a published prefix. Without the ranges, every
    /// IP address literal counts as outside AWS.
    pub fn is_aws(&self, source: &str) -> bool {
        let Ok(ip) = source.parse::<IpAddr>() else {
            return true;
        };
        self.prefixes
            .iter()
            .any(|&(net, len)| in_prefix(ip, net, len))
    }
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Presto/Athena-style JSON path: `$.a.b[0]["c d"]`.
fn json_path(path: &str) -> Option<Vec<PathStep>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(PathStep::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                steps.push(PathStep::Key(q.to_string()));
            } else {
                steps.push(PathStep::Index(inner.parse().ok()?));
            }
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

enum PathStep {
    Key(String),
    Index(usize),
}

fn json_lookup<'a>(v: &'a serde_json::Value, steps: &[PathStep]) -> Option<&'a serde_json::Value> {
    steps.iter().try_fold(v, |v, s| match s {
        PathStep::Key(k) => v.get(k),
        PathStep::Index(i) => v.get(i),
    })
}

/// Applies a string function row by row over (json, path) arguments.
fn json_udf(
    args: &[ColumnarValue],
    f: impl Fn(&serde_json::Value) -> Option<String>,
) -> datafusion::error::Result<ColumnarValue> {
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let cast = |a: &ArrayRef| datafusion::arrow::compute::cast(a, &DataType::Utf8);
    let (docs, paths) = (cast(&arrays[0])?, cast(&arrays[1])?);
    let (docs, paths) = (docs.as_string::<i32>(), paths.as_string::<i32>());
    let out: StringArray = (0..docs.len())
        .map(|i| {
            if docs.is_null(i) || paths.is_null(i) {
                return None;
            }
            let steps = json_path(paths.value(i))?;
            let doc: serde_json::Value = serde_json::from_str(docs.value(i)).ok()?;
            json_lookup(&doc, &steps).and_then(&f)
        })
        .collect();
    finish(Arc::new(out), scalar)
}

fn finish(out: ArrayRef, scalar: bool) -> datafusion::error::Result<ColumnarValue> {
    if scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(out))
    }
}

fn register_functions(ctx: &SessionContext, ranges: Arc<AwsRanges>) {
    // json_extract_scalar: a scalar as text; NULL for objects and arrays.
    ctx.register_udf(create_udf(
        "json_extract_scalar",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args| {
            json_udf(args, |v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
        }),
    ));
    // json_extract: the value as JSON text.
    ctx.register_udf(create_udf(
        "json_extract",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args| json_udf(args, |v| Some(v.to_string()))),
    ));
    ctx.register_udf(create_udf(
        "is_aws_address",
        vec![DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(move |args| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let s = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let s = s.as_string::<i32>();
            let out: BooleanArray = (0..s.len())
                .map(|i| (!s.is_null(i)).then(|| ranges.is_aws(s.value(i))))
                .collect();
            finish(Arc::new(out), scalar)
        }),
    ));
}

/// A two-worker runtime: the machine's cores, no more.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, QueryError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| QueryError::Failed(e.to_string()))
}

/// Runs one SQL statement against the lake.
pub fn run(lake: &str, sql: &str, ranges: AwsRanges) -> Result<QueryResult, QueryError> {
    runtime()?.block_on(run_async(lake, sql, ranges))
}

/// A session with the lake registered as `cloudtrail` and Athena's
/// functions defined.
pub(crate) async fn session(
    lake: &str,
    ranges: AwsRanges,
) -> Result<(SessionContext, Location), QueryError> {
    let loc = Location::parse(lake, false).map_err(|e| QueryError::Usage(e.to_string()))?;
    let failed = |e: datafusion::error::DataFusionError| QueryError::Failed(e.to_string());
    let config = SessionConfig::new()
        .with_target_partitions(2)
        .with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    let store_url = url::Url::parse(&store_root(&loc.url))
        .map_err(|e| QueryError::Usage(format!("{}: {e}", loc.url)))?;
    ctx.register_object_store(&store_url, loc.store.clone());
    register_functions(&ctx, Arc::new(ranges));

    let table_url = ListingTableUrl::parse(format!("{}/", loc.url)).map_err(failed)?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(
            PARTITION_COLUMNS
                .iter()
                .map(|c| (c.to_string(), DataType::Utf8))
                .collect(),
        );
    let table_config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(schema::arrow_schema());
    let table = ListingTable::try_new(table_config).map_err(failed)?;
    ctx.register_table("cloudtrail", Arc::new(table))
        .map_err(failed)?;
    Ok((ctx, loc))
}

/// Planning errors are the user's SQL: exit 2 with DataFusion's words.
pub(crate) fn in_sql(e: datafusion::error::DataFusionError) -> QueryError {
    QueryError::Usage(format!("in the SQL: {}", e.to_string().trim()))
}

async fn run_async(lake: &str, sql: &str, ranges: AwsRanges) -> Result<QueryResult, QueryError> {
    let failed = |e: datafusion::error::DataFusionError| QueryError::Failed(e.to_string());
    let (ctx, loc) = session(lake, ranges).await?;
    let df = ctx.sql(sql).await.map_err(in_sql)?;
    let plan = df.create_physical_plan().await.map_err(in_sql)?;
    let batches = collect(plan.clone(), ctx.task_ctx())
        .await
        .map_err(failed)?;

    let mut scan = ScanReport::default();
    let all = Lake::new(loc)
        .all_files()
        .await
        .map_err(|e| QueryError::Failed(e.to_string()))?;
    scan.files_total = all.len();
    scan.partitions_total = all.iter().map(|(k, _)| k).collect::<BTreeSet<_>>().len();
    let mut kept_files = BTreeSet::new();
    visit(&plan, &mut |node| {
        let any: &dyn std::any::Any = node;
        let Some(exec) = any.downcast_ref::<DataSourceExec>() else {
            return;
        };
        let source: &dyn std::any::Any = exec.data_source().as_ref();
        if let Some(config) = source.downcast_ref::<FileScanConfig>() {
            for group in &config.file_groups {
                for f in group.files() {
                    if kept_files.insert(f.object_meta.location.to_string()) {
                        scan.file_bytes_kept += f.object_meta.size;
                    }
                }
            }
        }
        if let Some(metrics) = node.metrics() {
            for m in metrics.aggregate_by_name().iter() {
                let name = m.value().name().to_string();
                if name.contains("pruned")
                    || name.contains("matched")
                    || name.contains("bytes_scanned")
                {
                    scan.metrics.push((name, m.value().to_string()));
                }
            }
        }
    });
    scan.files_kept = kept_files.len();
    scan.partitions_kept = kept_files
        .iter()
        .filter_map(|f| f.rsplit_once('/').map(|(dir, _)| dir.to_string()))
        .collect::<BTreeSet<_>>()
        .len();
    scan.metrics.sort();
    Ok(QueryResult { batches, scan })
}

/// `s3://bucket` or `file:///` for a location URL.
fn store_root(url: &str) -> String {
    match url.strip_prefix("s3://") {
        Some(rest) => format!("s3://{}", rest.split('/').next().unwrap_or("")),
        None => "file:///".to_string(),
    }
}

pub(crate) fn visit(plan: &Arc<dyn ExecutionPlan>, f: &mut impl FnMut(&dyn ExecutionPlan)) {
    f(plan.as_ref());
    for child in plan.children() {
        visit(child, f);
    }
}

/// Renders results in `format`.
pub fn render(batches: &[RecordBatch], format: Format) -> Result<String, QueryError> {
    let failed = |e: datafusion::arrow::error::ArrowError| QueryError::Failed(e.to_string());
    match format {
        Format::Table => datafusion::arrow::util::pretty::pretty_format_batches(batches)
            .map(|t| format!("{t}\n"))
            .map_err(failed),
        Format::Csv => {
            let mut out = String::new();
            if let Some(first) = batches.first() {
                let header: Vec<String> = first
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| csv_field(f.name()))
                    .collect();
                out.push_str(&header.join(","));
                out.push_str("\r\n");
            }
            for batch in batches {
                for row in 0..batch.num_rows() {
                    let cells: Vec<String> = batch
                        .columns()
                        .iter()
                        .map(|c| match cell_json(c, row) {
                            serde_json::Value::Null => String::new(),
                            serde_json::Value::String(s) => csv_field(&s),
                            other => csv_field(&other.to_string()),
                        })
                        .collect();
                    out.push_str(&cells.join(","));
                    out.push_str("\r\n");
                }
            }
            Ok(out)
        }
        Format::Json => {
            let mut out = String::new();
            for batch in batches {
                let schema = batch.schema();
                for row in 0..batch.num_rows() {
                    out.push('{');
                    for (i, (field, col)) in schema.fields().iter().zip(batch.columns()).enumerate()
                    {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(
                            out,
                            "{}:{}",
                            serde_json::Value::String(field.name().clone()),
                            cell_json(col, row)
                        );
                    }
                    out.push_str("}\n");
                }
            }
            Ok(out)
        }
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One cell as JSON: strings, numbers and booleans as such, structs as
/// objects, lists as arrays, anything else as its display text.
fn cell_json(col: &ArrayRef, row: usize) -> serde_json::Value {
    use serde_json::Value;
    if col.is_null(row) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::Utf8 => Value::String(col.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Value::String(col.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Value::String(col.as_string_view().value(row).to_string()),
        DataType::Boolean => Value::Bool(col.as_boolean().value(row)),
        DataType::Struct(fields) => {
            let s = col.as_struct();
            Value::Object(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), cell_json(c, row)))
                    .collect(),
            )
        }
        DataType::List(_) => {
            let values = col.as_list::<i32>().value(row);
            Value::Array((0..values.len()).map(|i| cell_json(&values, i)).collect())
        }
        dt if dt.is_integer() || dt.is_floating() => {
            let text = display(col, row);
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        _ => Value::String(display(col, row)),
    }
}

fn display(col: &ArrayRef, row: usize) -> String {
    ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
        .map(|f| f.value(row).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_fill_parameters_and_refuse_unknown_ones() {
        let sql = preset_sql("by-ip", &[("ip".into(), "1.2.3.4".into())]).unwrap();
        assert!(sql.contains("sourceipaddress = '1.2.3.4'"));
        let sql = preset_sql("by-ip", &[("ip".into(), "x' OR '1'='1".into())]).unwrap();
        assert!(sql.contains("'x'' OR ''1''=''1'"), "{sql}");
        assert!(preset_sql("by-ip", &[]).is_err());
        assert!(preset_sql("by-ip", &[("port".into(), "1".into())]).is_err());
        assert!(preset_sql(
            "anonymous-then-role",
            &[("window".into(), "1; DROP".into())]
        )
        .is_err());
        assert!(preset_sql("nope", &[]).is_err());
        for p in PRESETS {
            assert!(list_presets().contains(p.name));
        }
    }

    #[test]
    fn aws_ranges_classify_addresses() {
        let r = AwsRanges::parse(
            r#"{"prefixes":[{"ip_prefix":"34.224.0.0/12"}],"ipv6_prefixes":[{"ipv6_prefix":"2600:1f00::/24"}]}"#,
        )
        .unwrap();
        assert!(r.is_aws("34.234.236.212"));
        assert!(!r.is_aws("104.102.221.250"));
        assert!(r.is_aws("2600:1f00::1"));
        assert!(r.is_aws("ecs-tasks.amazonaws.com"));
        assert!(r.is_aws("AWS Internal"));
        assert!(!AwsRanges::default().is_aws("34.234.236.212"));
    }

    #[test]
    fn json_paths_follow_athena() {
        let doc: serde_json::Value =
            serde_json::from_str(r#"{"a":{"b":[10,{"c d":"x"}]},"n":1}"#).unwrap();
        let get = |p: &str| json_path(p).and_then(|s| json_lookup(&doc, &s).cloned());
        assert_eq!(get("$.a.b[0]"), Some(serde_json::json!(10)));
        assert_eq!(get("$.a.b[1][\"c d\"]"), Some(serde_json::json!("x")));
        assert_eq!(get("$.missing"), None);
        assert!(json_path("a.b").is_none());
    }

    #[test]
    fn csv_quotes_per_rfc_4180() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
