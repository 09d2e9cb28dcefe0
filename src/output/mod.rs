//! Every word the binary prints, and how it ends: [`Failure`] (each
//! library error as a message and an exit code: 0 ok, 1 the run failed, 2
//! bad usage or config), and standard output, where a reader that went
//! away (`| head`) ends the output quietly. Query results as tables, CSV
//! and JSON lines ([`results`]); detect's alerts and incidents as a table
//! or JSON ([`alerts`]) and as a self-contained HTML report ([`html`]).

#[cfg(feature = "sql")]
pub mod alerts;
#[cfg(feature = "sql")]
pub mod html;
#[cfg(feature = "sql")]
pub mod results;

use traillake::compact::CompactError;
use traillake::config::ConfigError;
use traillake::ddl::DdlError;
use traillake::lake::LakeError;
#[cfg(feature = "sql")]
use traillake::query::{scan_cost::CostError, QueryError};
use traillake::store::LocationError;

/// Why the binary stops with a non-zero exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad flags, config, SQL or presets: exit 2.
    Usage(String),
    /// The run failed: exit 1.
    Failed(String),
}

pub fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Failed(_) => 1,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Failed(m) => m,
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        usage(e.to_string())
    }
}

impl From<LocationError> for Failure {
    fn from(e: LocationError) -> Self {
        match e {
            LocationError::Credentials { .. } => Failure::Failed(e.to_string()),
            LocationError::Invalid { .. } => usage(e.to_string()),
        }
    }
}

#[cfg(feature = "sql")]
impl From<datafusion::arrow::error::ArrowError> for Failure {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Failure::Failed(format!("rendering the results: {e}"))
    }
}

impl From<LakeError> for Failure {
    fn from(e: LakeError) -> Self {
        Failure::Failed(e.to_string())
    }
}

impl From<DdlError> for Failure {
    fn from(e: DdlError) -> Self {
        usage(e.to_string())
    }
}

impl From<CompactError> for Failure {
    fn from(e: CompactError) -> Self {
        match e {
            CompactError::Location(e) => e.into(),
            CompactError::LakeInsideSource { .. } => usage(e.to_string()),
            e => Failure::Failed(e.to_string()),
        }
    }
}

#[cfg(feature = "sql")]
impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Self {
        if e.is_usage() {
            usage(e.to_string())
        } else {
            Failure::Failed(e.to_string())
        }
    }
}

#[cfg(feature = "sql")]
impl From<CostError> for Failure {
    fn from(e: CostError) -> Self {
        if e.is_usage() {
            usage(e.to_string())
        } else {
            Failure::Failed(e.to_string())
        }
    }
}

/// Writes `text` to stdout and flushes it.
fn to_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush())
}

/// Writes results to stdout. A reader that went away (`| head`) ends the
/// output quietly, as with other command-line tools; other errors fail.
pub fn emit(text: &str) -> Result<(), Failure> {
    match to_stdout(text) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Failed(format!("writing results: {e}"))),
    }
}

#[cfg(feature = "sql")]
/// What a closed standard output is called while streaming results.
pub const CLOSED: &str = "the reader closed standard output";

#[cfg(feature = "sql")]
/// Writes streamed results; a closed reader ends the stream.
pub fn write_out(text: &str) -> Result<(), traillake::query::QueryError> {
    use traillake::query::QueryError;
    match to_stdout(text) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            Err(QueryError::Output(CLOSED.into()))
        }
        Err(e) => Err(QueryError::Output(e.to_string())),
    }
}
