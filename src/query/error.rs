//! What a query can fail with, and whose fault it is: the SQL's (exit 2)
//! or the run's (the lake could not be read, memory, time).

use datafusion::error::DataFusionError;

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

/// A planning error as the user's (bad SQL) or the lake's (a store or
/// file error met while listing or reading footers).
pub(super) fn planning(e: DataFusionError) -> QueryError {
    if reads_the_lake(&e) {
        QueryError::Lake(e)
    } else {
        QueryError::Sql(e)
    }
}

/// Whether an error came from reading the lake rather than from the SQL.
pub(super) fn reads_the_lake(e: &DataFusionError) -> bool {
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
