//! A session over the lake (`LakeSession`: the tables, Athena's
//! functions, a memory pool) and one invocation's `Engine` (the session
//! and its runtime, reused by every statement).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

use crate::lake::Lake;
use crate::store::Location;

use super::error::planning;
use super::limits::NoRepartitionSpill;
use super::*;

/// An Arrow type by Athena's (Hive DDL) name for it.
fn athena_type(t: &datafusion::arrow::datatypes::DataType) -> String {
    use datafusion::arrow::datatypes::DataType as D;
    match t {
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "string".into(),
        D::Int8 => "tinyint".into(),
        D::Int16 => "smallint".into(),
        D::Int32 => "int".into(),
        D::Int64 | D::UInt64 | D::UInt32 => "bigint".into(),
        D::UInt8 | D::UInt16 => "int".into(),
        D::Float32 => "float".into(),
        D::Float64 => "double".into(),
        D::Boolean => "boolean".into(),
        D::Date32 | D::Date64 => "date".into(),
        D::Timestamp(..) => "timestamp".into(),
        D::Binary | D::LargeBinary | D::BinaryView => "binary".into(),
        D::Decimal128(p, s) | D::Decimal256(p, s) => format!("decimal({p},{s})"),
        D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => {
            format!("array<{}>", athena_type(f.data_type()))
        }
        D::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), athena_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        D::Map(entries, _) => match entries.data_type() {
            D::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                athena_type(kv[0].data_type()),
                athena_type(kv[1].data_type())
            ),
            other => other.to_string().to_lowercase(),
        },
        other => other.to_string().to_lowercase(),
    }
}

/// One statement of Athena's SQL ([`athena::Athena`]), parsed as
/// `SessionState::sql_to_statement` parses, with the session's recursion
/// limit.
fn parse_statement(
    state: &datafusion::execution::SessionState,
    sql: &str,
) -> Result<datafusion::sql::parser::Statement, DataFusionError> {
    let limit = state.config().options().sql_parser.recursion_limit.get();
    let mut statements = datafusion::sql::parser::DFParserBuilder::new(sql)
        .with_dialect(&athena::Athena)
        .with_recursion_limit(limit)
        .build()?
        .parse_statements()?;
    if statements.len() > 1 {
        return Err(DataFusionError::Plan(format!(
            "{} statements given: run one at a time",
            statements.len()
        )));
    }
    statements
        .pop_front()
        .ok_or_else(|| DataFusionError::Plan("no SQL statement given".into()))
}

/// A two-worker runtime: the machine's cores, no more. Its workers
/// evaluate expressions as deep as a query's (10,000 ORs): a large stack,
/// reserved, committed only as touched.
pub fn runtime() -> Result<tokio::runtime::Runtime, QueryError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(512 << 20)
        .enable_all()
        .build()
        .map_err(QueryError::Runtime)
}

/// Statements `query` takes: queries only.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// A session over the lake: the table `cloudtrail` and Athena's functions.
pub struct LakeSession {
    pub ctx: SessionContext,
    pub table: Arc<LakeTable>,
    pub limits: Limits,
    /// AWS's address ranges `is_aws_address` answers from.
    pub ranges: Arc<AwsRanges>,
}

impl LakeSession {
    pub fn new(lake: &Location, ranges: AwsRanges, window: Window) -> Self {
        Self::with_limits(lake, ranges, window, Limits::default())
    }

    /// A session whose operators reserve memory from a pool of
    /// `limits.memory_bytes`: sorts, joins' and aggregates' state spill to
    /// the system's temporary directory within it, and a query that needs
    /// more fails with [`QueryError::Memory`] instead of growing.
    pub fn with_limits(lake: &Location, ranges: AwsRanges, window: Window, limits: Limits) -> Self {
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_information_schema(true);
        let pool = NoRepartitionSpill(datafusion::execution::memory_pool::FairSpillPool::new(
            limits.memory_bytes,
        ));
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(pool))
            .build_arc()
            .expect("a runtime with a memory pool builds");
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let root = store_root(&lake.url);
        let url = url::Url::parse(&root).expect("a store root is a URL");
        ctx.register_object_store(&url, lake.store.clone());
        let ranges = Arc::new(ranges);
        functions::register(&ctx, ranges.clone());
        let table = Arc::new(LakeTable::new(
            Lake::new(lake.clone()),
            ObjectStoreUrl::parse(&root).expect("a store root is a URL"),
            window,
        ));
        ctx.register_table(TABLES[0], table.clone())
            .expect("a fresh session takes the table");
        let all = LakeTable::new(
            Lake::new(lake.clone()),
            ObjectStoreUrl::parse(&root).expect("a store root is a URL"),
            window,
        )
        .sharing_snapshot(&table)
        .all_versions();
        ctx.register_table(TABLES[1], Arc::new(all))
            .expect("a fresh session takes the table");
        // The lake's days before the window (none without --since), in the
        // same version: what `first_seen` rules compare the window with.
        let before = LakeTable::new(
            Lake::new(lake.clone()),
            ObjectStoreUrl::parse(&root).expect("a store root is a URL"),
            window.before(),
        )
        .sharing_snapshot(&table);
        ctx.register_table(TABLES[2], Arc::new(before))
            .expect("a fresh session takes the table");
        Self {
            ctx,
            table,
            limits,
            ranges,
        }
    }

    /// `sql` (one statement, Athena's dialect, read-only) as a DataFrame.
    pub async fn dataframe(&self, sql: &str) -> Result<DataFrame, QueryError> {
        let state = self.ctx.state();
        let mut stmt = parse_statement(&state, &dialect::prepare(sql)).map_err(QueryError::Sql)?;
        if let Some(df) = self.describe(&stmt).await? {
            return Ok(df);
        }
        dialect::rewrite(&mut stmt, &self.limits.table_names);
        let plan = state.statement_to_plan(stmt).await.map_err(planning)?;
        read_only().verify_plan(&plan).map_err(QueryError::Sql)?;
        self.ctx.execute_logical_plan(plan).await.map_err(planning)
    }

    /// `DESCRIBE t` (`DESC t`, `DESCRIBE TABLE t`) as Athena answers it:
    /// each column with its type as Athena names it (`string`,
    /// `struct<...>`, `array<...>`, `bigint`) and `partition key` beside
    /// the partition columns. Any name but `cloudtrail_all_versions` is the
    /// lake's table, as in a query naming one table.
    async fn describe(
        &self,
        stmt: &datafusion::sql::parser::Statement,
    ) -> Result<Option<DataFrame>, QueryError> {
        use datafusion::arrow::array::StringArray;
        use datafusion::sql::sqlparser::ast::{DescribeAlias, Statement};
        let datafusion::sql::parser::Statement::Statement(s) = stmt else {
            return Ok(None);
        };
        let Statement::ExplainTable {
            describe_alias: DescribeAlias::Describe | DescribeAlias::Desc,
            table_name,
            ..
        } = s.as_ref()
        else {
            return Ok(None);
        };
        let name = table_name
            .0
            .last()
            .map(|p| p.to_string().trim_matches('"').to_lowercase())
            .unwrap_or_default();
        let table = if name == "cloudtrail_all_versions" {
            name.as_str()
        } else {
            "cloudtrail"
        };
        let provider = self
            .ctx
            .table_provider(table)
            .await
            .map_err(QueryError::Sql)?;
        let schema = provider.schema();
        let partitions = crate::schema::PARTITION_COLUMNS;
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| athena_type(f.data_type()))
            .collect();
        let comments: Vec<&str> = names
            .iter()
            .map(|n| {
                if partitions.contains(n) {
                    "partition key"
                } else {
                    ""
                }
            })
            .collect();
        let batch = RecordBatch::try_from_iter([
            ("col_name", Arc::new(StringArray::from(names)) as ArrayRef),
            ("data_type", Arc::new(StringArray::from(types)) as ArrayRef),
            ("comment", Arc::new(StringArray::from(comments)) as ArrayRef),
        ])
        .map_err(|e| QueryError::Sql(e.into()))?;
        self.ctx
            .read_batch(batch)
            .map(Some)
            .map_err(QueryError::Sql)
    }

    /// What the last planned statement's scans listed and read.
    pub fn scan_report(&self, plan: &Arc<dyn ExecutionPlan>) -> ScanReport {
        ScanReport {
            listings: self.table.listings(),
            metrics: scan_metrics(plan),
        }
    }

    /// Plans `sql` (one statement, read-only).
    pub async fn plan(&self, sql: &str) -> Result<Arc<dyn ExecutionPlan>, QueryError> {
        let df = self.dataframe(sql).await?;
        df.create_physical_plan().await.map_err(planning)
    }

    /// Plans and runs `sql`. A file that vanished between listing and
    /// reading (a commit switched its partition) makes it plan again, up
    /// to four times; the table's listings are those of the last plan.
    pub async fn collect(
        &self,
        sql: &str,
    ) -> Result<(Arc<dyn ExecutionPlan>, Vec<RecordBatch>), QueryError> {
        let mut tries = 0;
        loop {
            tries += 1;
            self.table.clear_listings();
            let plan = self.plan(sql).await?;
            match collect(plan.clone(), self.ctx.task_ctx()).await {
                Ok(batches) => return Ok((plan, batches)),
                Err(e) if tries < 4 && vanished(&e) => continue,
                Err(e) => return Err(self.limits.classify(e)),
            }
        }
    }

    /// Runs `sql` and hands its batches to `out` as they come; a file that
    /// vanished under a commit is retried only before the first batch.
    pub async fn stream(
        &self,
        sql: &str,
        out: &mut impl FnMut(&RecordBatch) -> Result<(), QueryError>,
    ) -> Result<ScanReport, QueryError> {
        use futures::StreamExt;
        let limits = &self.limits;
        let mut tries = 0;
        let plan = loop {
            tries += 1;
            self.table.clear_listings();
            let plan = self.plan(sql).await?;
            let stream =
                datafusion::physical_plan::execute_stream(plan.clone(), self.ctx.task_ctx())
                    .map_err(|e| limits.classify(e))?;
            let mut stream = if limits.interruptible {
                on_a_worker(stream)
            } else {
                stream
            };
            let mut sent = false;
            let mut again = false;
            while let Some(batch) = stream.next().await {
                match batch {
                    Ok(b) => {
                        sent = true;
                        out(&b)?;
                    }
                    Err(e) if !sent && tries < 4 && vanished(&e) => {
                        again = true;
                        break;
                    }
                    Err(e) => return Err(limits.classify(e)),
                }
            }
            if !again {
                break plan;
            }
        };
        Ok(self.scan_report(&plan))
    }
}

/// One invocation's queries: one session over the lake (its functions,
/// tables, snapshot and memory pool, built once) and the runtime that
/// drives it, reused by every statement of a file and by the prompt.
pub struct Engine {
    session: LakeSession,
    rt: Option<tokio::runtime::Runtime>,
}

impl Engine {
    pub fn new(
        lake: &Location,
        ranges: AwsRanges,
        window: Window,
        limits: Limits,
    ) -> Result<Self, QueryError> {
        Ok(Self {
            session: LakeSession::with_limits(lake, ranges, window, limits),
            rt: Some(runtime()?),
        })
    }

    pub fn session(&self) -> &LakeSession {
        &self.session
    }

    /// The runtime, taken for one statement; a new one after a cancelled
    /// statement left the last one's workers to stop on their own.
    fn take_runtime(&mut self) -> Result<tokio::runtime::Runtime, QueryError> {
        match self.rt.take() {
            Some(rt) => Ok(rt),
            None => runtime(),
        }
    }

    /// The runtime back after a statement; after Ctrl-C, a worker may be
    /// inside one long step of the plan: it is left to stop at its next
    /// yield rather than waited for here.
    fn give_back<T>(&mut self, rt: tokio::runtime::Runtime, result: &Result<T, QueryError>) {
        if matches!(result, Err(QueryError::Cancelled)) {
            rt.shutdown_background();
        } else {
            self.rt = Some(rt);
        }
    }

    /// Runs one statement and collects its batches.
    pub fn run(&mut self, sql: &str) -> Result<QueryResult, QueryError> {
        let rt = self.take_runtime()?;
        let session = &self.session;
        let result = session.limits.block_on(&rt, async {
            let (plan, batches) = session.collect(sql).await?;
            Ok(QueryResult {
                batches,
                scan: session.scan_report(&plan),
            })
        });
        self.give_back(rt, &result);
        result
    }

    /// Runs one statement and hands its batches to `out` as they come, so
    /// a result of any size streams to its destination (CSV, JSON lines)
    /// in the memory of a few batches. A file that vanished under a commit
    /// is retried only before the first batch was handed on.
    pub fn stream(
        &mut self,
        sql: &str,
        mut out: impl FnMut(&RecordBatch) -> Result<(), QueryError>,
    ) -> Result<ScanReport, QueryError> {
        let rt = self.take_runtime()?;
        let session = &self.session;
        let result = session.limits.block_on(&rt, session.stream(sql, &mut out));
        self.give_back(rt, &result);
        result
    }
}

/// `stream` polled on a runtime worker, its batches handed over a channel:
/// the caller waits on the channel, so Ctrl-C is seen at once even while
/// one step of the plan (a nested-loop join building its side) runs for
/// long without yielding. The worker stops when the receiver is dropped.
fn on_a_worker(
    mut stream: datafusion::physical_plan::SendableRecordBatchStream,
) -> datafusion::physical_plan::SendableRecordBatchStream {
    use futures::StreamExt;
    let schema = stream.schema();
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let task = tokio::spawn(async move {
        while let Some(batch) = stream.next().await {
            if tx.send(batch).await.is_err() {
                break;
            }
        }
    });
    let abort = task.abort_handle();
    let batches = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    // Dropping the stream (a cancelled query) aborts the worker too.
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let guard = AbortOnDrop(abort);
    let batches = batches.map(move |b| {
        let _ = &guard;
        b
    });
    Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, batches))
}

/// Whether a failure is a file that vanished between listing and reading:
/// a commit switched the partition meanwhile; planning again sees the new
/// files.
fn vanished(e: &DataFusionError) -> bool {
    let text = e.to_string();
    text.contains("not found") || text.contains("No such file or directory")
}

/// Row groups pruned and matched, bytes scanned, of every scan in a plan.
fn scan_metrics(plan: &Arc<dyn ExecutionPlan>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    visit(plan, &mut |node| {
        if let Some(metrics) = node.metrics() {
            for m in metrics.aggregate_by_name().iter() {
                let name = m.value().name().to_string();
                if name.contains("pruned")
                    || name.contains("matched")
                    || name.contains("bytes_scanned")
                {
                    out.push((name, m.value().to_string()));
                }
            }
        }
    });
    out.sort();
    out
}

/// `s3://bucket` or `file:///` for a location URL.
pub fn store_root(url: &str) -> String {
    match url.strip_prefix("s3://") {
        Some(rest) => format!("s3://{}", rest.split('/').next().unwrap_or("")),
        None => "file:///".to_string(),
    }
}

pub fn visit(plan: &Arc<dyn ExecutionPlan>, f: &mut impl FnMut(&dyn ExecutionPlan)) {
    f(plan.as_ref());
    for child in plan.children() {
        visit(child, f);
    }
}
