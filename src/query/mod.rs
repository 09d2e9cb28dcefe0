//! `query`: SQL over the lake with DataFusion. The table `cloudtrail`
//! ([`table::LakeTable`]) lists only the partitions its filters allow and
//! reads a consistent snapshot of the lake; `eventtime` ranges skip row
//! groups by their statistics (files are sorted by time). Queries written
//! for the seed's Athena table run unchanged, including Athena's
//! `json_extract_scalar` on the JSON-text columns ([`functions`]). Queries
//! only read: a statement that would write (DDL, DML, `COPY`, `SET`) is
//! refused.

pub mod athena;
pub mod dialect;
pub mod functions;
pub mod presets;
pub mod render;
pub mod scan_cost;
pub mod statements;
pub mod table;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

use crate::lake::Lake;
use crate::store::Location;

pub use functions::ip::AwsRanges;
pub use presets::{list_presets, preset_sql, Preset, PRESETS};
pub use render::{render, render_rows};
pub use table::{LakeTable, Listing, Window};

/// The tables of every session: the window's events (`cloudtrail`), every
/// version's rows (`cloudtrail_all_versions`), and the lake's days before
/// the window (`cloudtrail_before_window`, what `first_seen` rules compare
/// with).
pub const TABLES: [&str; 3] = [
    "cloudtrail",
    "cloudtrail_all_versions",
    "cloudtrail_before_window",
];

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A preset or one of its parameters is wrong.
    #[error("{0}")]
    Preset(String),
    /// The SQL does not plan (syntax, names, types), or it would write.
    #[error("in the SQL: {}", .0.to_string().trim())]
    Sql(#[source] DataFusionError),
    /// The query planned but failed while it ran.
    #[error("running the query: {}", reword(&.0.to_string()))]
    Execution(#[source] DataFusionError),
    /// The lake could not be read (a store error, a missing or damaged
    /// file): the run failed, the SQL is not at fault.
    #[error(
        "reading the lake: {}. If a lake file is damaged, `traillake verify --lake LAKE` names \
         it and `traillake repair --source SRC --lake LAKE` puts it right",
        .0.to_string().trim()
    )]
    Lake(#[source] DataFusionError),
    #[error("rendering the results: {0}")]
    Render(#[source] datafusion::arrow::error::ArrowError),
    /// The query needed more memory than it may take.
    #[error(
        "the query needs more than {} MiB of memory (what it holds at once: joins, DISTINCT, \
         sorts and aggregates beyond what spills to disk); narrow it (--since/--until, a WHERE on \
         the partition columns, fewer columns) or give it more with --memory MIB. ({})",
        .limit_mib, .detail
    )]
    Memory { limit_mib: usize, detail: String },
    /// The query ran past `--timeout`.
    #[error("the query ran past --timeout {0} s and was stopped")]
    Timeout(u64),
    #[error("writing the results: {0}")]
    Output(String),
    /// Ctrl-C at the prompt.
    #[error("cancelled")]
    Cancelled,
    #[error("could not start the query runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl QueryError {
    /// Whether the user's input is at fault (bad SQL, preset or
    /// parameter), rather than the lake or the machine.
    pub fn is_usage(&self) -> bool {
        matches!(self, QueryError::Preset(_) | QueryError::Sql(_))
    }
}

/// DataFusion's words for a failure it did not expect, without the request
/// to file a bug report (the query was too large, most often a regex
/// repetition over its size limit).
fn reword(text: &str) -> String {
    let text = text.trim();
    const BUG: &str = "This issue was likely caused by a bug in DataFusion's code";
    const BUG2: &str = "This was likely caused by a bug in DataFusion's code";
    match text.find(BUG).or_else(|| text.find(BUG2)) {
        Some(at) => {
            let what = text[..at].trim().trim_end_matches('.');
            let what = what.strip_prefix("Internal error: ").unwrap_or(what);
            format!("it could not be run: {what}")
        }
        None => text.to_string(),
    }
}

/// What a query may use: memory (the pool DataFusion's operators reserve
/// from, spilling sorts and aggregations to disk within it) and time.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_bytes: usize,
    pub timeout: Option<std::time::Duration>,
    /// Ctrl-C cancels the query instead of ending the process (the
    /// prompt's).
    pub interruptible: bool,
    /// Other names of the lake's table (config's `[ddl] table` and
    /// `[query] tables`): each reads the lake in any query, even one that
    /// names several tables.
    pub table_names: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 << 20,
            timeout: None,
            interruptible: false,
            table_names: Vec::new(),
        }
    }
}

impl Limits {
    /// Runs `work` on `rt` within the time limit, cancelled by Ctrl-C when
    /// interruptible.
    fn block_on<T>(
        &self,
        rt: &tokio::runtime::Runtime,
        work: impl std::future::Future<Output = Result<T, QueryError>>,
    ) -> Result<T, QueryError> {
        rt.block_on(async {
            let timed = async {
                match self.timeout {
                    None => work.await,
                    Some(t) => tokio::time::timeout(t, work)
                        .await
                        .unwrap_or(Err(QueryError::Timeout(t.as_secs()))),
                }
            };
            if !self.interruptible {
                return timed.await;
            }
            let (interrupted, done) = ctrl_c_watcher();
            let r = tokio::select! {
                r = timed => r,
                Ok(()) = interrupted => Err(QueryError::Cancelled),
            };
            drop(done);
            r
        })
    }
}

/// Ctrl-C seen on a thread of its own: the query's runtime notices a
/// signal only when a worker is idle, and a query's workers may all be
/// busy for minutes (a cross join). The first receiver fires on Ctrl-C;
/// dropping the sender ends the watcher.
fn ctrl_c_watcher() -> (
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (fire, interrupted) = tokio::sync::oneshot::channel();
    let (done, mut finished) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if r.is_ok() {
                        let _ = fire.send(());
                    }
                }
                _ = &mut finished => {}
            }
        });
    });
    (interrupted, done)
}

impl Limits {
    /// The error of a run: a memory pool exhausted, or another.
    fn classify(&self, e: DataFusionError) -> QueryError {
        if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) {
            return QueryError::Memory {
                limit_mib: self.memory_bytes >> 20,
                detail: e.find_root().to_string().trim().to_string(),
            };
        }
        if reads_the_lake(&e) {
            QueryError::Lake(e)
        } else {
            QueryError::Execution(e)
        }
    }
}

/// The memory pool, except that a `RepartitionExec`'s buffers always fit:
/// DataFusion 55's RepartitionExec, refused memory, spills to a pool of
/// files whose reader can wait forever on the wrong file
/// (apache/datafusion#24883, fixed after 55): a query under the limit hung
/// with every worker parked (2 runs in 12 of a self-join with DISTINCT at
/// `--memory 4`). Its buffers are a few batches per partition, counted in
/// the pool; sorts, joins and aggregates still spill or fail within it.
#[derive(Debug)]
struct NoRepartitionSpill<P>(P);

impl<P: std::fmt::Display> std::fmt::Display for NoRepartitionSpill<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<P: datafusion::execution::memory_pool::MemoryPool>
    datafusion::execution::memory_pool::MemoryPool for NoRepartitionSpill<P>
{
    fn name(&self) -> &str {
        self.0.name()
    }

    fn register(&self, consumer: &datafusion::execution::memory_pool::MemoryConsumer) {
        self.0.register(consumer)
    }

    fn unregister(&self, consumer: &datafusion::execution::memory_pool::MemoryConsumer) {
        self.0.unregister(consumer)
    }

    fn grow(&self, r: &datafusion::execution::memory_pool::MemoryReservation, additional: usize) {
        self.0.grow(r, additional)
    }

    fn shrink(&self, r: &datafusion::execution::memory_pool::MemoryReservation, shrink: usize) {
        self.0.shrink(r, shrink)
    }

    fn try_grow(
        &self,
        r: &datafusion::execution::memory_pool::MemoryReservation,
        additional: usize,
    ) -> datafusion::error::Result<()> {
        if r.consumer().name().starts_with("RepartitionExec") {
            self.0.grow(r, additional);
            return Ok(());
        }
        self.0.try_grow(r, additional)
    }

    fn reserved(&self) -> usize {
        self.0.reserved()
    }

    fn memory_limit(&self) -> datafusion::execution::memory_pool::MemoryLimit {
        self.0.memory_limit()
    }
}

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

/// A planning error as the user's (bad SQL) or the lake's (a store or
/// file error met while listing or reading footers).
fn planning(e: DataFusionError) -> QueryError {
    if reads_the_lake(&e) {
        QueryError::Lake(e)
    } else {
        QueryError::Sql(e)
    }
}

/// Whether an error came from reading the lake rather than from the SQL.
fn reads_the_lake(e: &DataFusionError) -> bool {
    match e.find_root() {
        DataFusionError::ObjectStore(_)
        | DataFusionError::IoError(_)
        | DataFusionError::ParquetError(_) => true,
        DataFusionError::External(inner) => {
            inner.is::<crate::lake::LakeError>()
                || inner.is::<object_store::Error>()
                || inner.is::<std::io::Error>()
        }
        _ => false,
    }
}

/// Output format of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// RFC 4180 with a header row.
    Csv,
    /// One JSON object per row, columns in SELECT order.
    Json,
}

/// What `--explain` reports about the scan.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ScanReport {
    /// The listing of each scan of the lake the plan made.
    pub listings: Vec<Listing>,
    /// Scan metrics: row groups pruned, bytes read, ...
    pub metrics: Vec<(String, String)>,
}

impl ScanReport {
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for l in &self.listings {
            if let Some(v) = l.delta_version {
                let _ = writeln!(
                    s,
                    "delta version: {v} (its files, pruned by the partition filters; data \
                     folders are listed only for superseded-event lists)"
                );
            }
            let _ = writeln!(
                s,
                "partitions: {} kept ({} folders pruned by the partition filters, unlisted below)\n\
                 files: {} in those partitions, {} bytes (row groups are pruned below)\n\
                 folders listed: {}",
                l.partitions_kept, l.folders_pruned, l.files, l.file_bytes, l.folders_listed
            );
            if l.journals_applied > 0 {
                let _ = writeln!(s, "commits in progress applied: {}", l.journals_applied);
            }
        }
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

/// Runs one SQL statement against the lake, in a session of its own.
pub fn run(
    lake: &Location,
    sql: &str,
    ranges: AwsRanges,
    window: Window,
) -> Result<QueryResult, QueryError> {
    Engine::new(lake, ranges, window, Limits::default())?.run(sql)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_while_planning_are_the_lakes_not_the_sqls() {
        let lake = crate::lake::LakeError::Store {
            url: "s3://b/lake".into(),
            reason: "no AWS credentials found".into(),
        };
        let e = DataFusionError::External(Box::new(lake));
        assert!(matches!(planning(e), QueryError::Lake(_)));
        let wrapped = DataFusionError::Context(
            "listing".into(),
            Box::new(DataFusionError::ObjectStore(Box::new(
                object_store::Error::NotFound {
                    path: "x".into(),
                    source: "gone".into(),
                },
            ))),
        );
        let q = planning(wrapped);
        assert!(matches!(q, QueryError::Lake(_)));
        assert!(!q.is_usage());
        let bad_sql = DataFusionError::Plan("No field named eventnme".into());
        assert!(planning(bad_sql).is_usage());
    }
}
