//! What can stop a run: every failure `compact` reports, with the file,
//! object or partition it concerns.

use super::plan;
use crate::lake::LakeError;
use crate::sink::SinkError;
use crate::store::LocationError;

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("the lake {lake} lies inside the source {source_url}: it would ingest its own output")]
    LakeInsideSource { lake: String, source_url: String },
    #[error("{0}")]
    Reconcile(Reconcile),
    #[error("{0}")]
    NoLogs(plan::NoLogs),
    #[error("{url}: listing failed: {reason}")]
    Listing { url: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("stopped by {signal} before committing: nothing of this run is in the lake; the next run reads its input again")]
    Interrupted { signal: &'static str },
    #[error("{0}")]
    Damaged(Damaged),
    #[error("could not start the {what}: {source}")]
    Runtime {
        what: &'static str,
        source: std::io::Error,
    },
}

/// Lake files that are not what the runs that wrote them left: the run
/// stops before merging around them, and names `repair`.
#[derive(Debug)]
pub struct Damaged {
    pub lake: String,
    pub source_url: String,
    /// `(url, what is wrong)`.
    pub files: Vec<(String, crate::lake::manifest::Damage)>,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the lake is damaged: {} file(s) are not what the runs that wrote them left:",
            self.files.len()
        )?;
        for (url, d) in self.files.iter().take(10) {
            write!(f, "\n  {url}: {d}")?;
        }
        if self.files.len() > 10 {
            write!(f, "\n  ... and {} more", self.files.len() - 10)?;
        }
        write!(
            f,
            "\nNothing of this run was committed. `traillake verify --lake {lake}` lists all \
             damage; `traillake repair --source {src} --lake {lake}` sets aside what is \
             unreadable or foreign and reads the source folders that fed these partitions \
             again; then compact runs as before",
            lake = crate::store::shell_word(&self.lake),
            src = crate::store::shell_word(&self.source_url),
        )
    }
}

/// Counts that do not add up: a bug, reported loudly instead of committed.
#[derive(Debug)]
pub struct Reconcile {
    pub what: String,
}

impl Reconcile {
    pub fn overflow(what: &str) -> CompactError {
        CompactError::Reconcile(Reconcile {
            what: format!("{what}: count overflowed"),
        })
    }
}

impl std::fmt::Display for Reconcile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "counts do not reconcile ({}); nothing was committed. This is a bug: please \
             report it",
            self.what
        )
    }
}

impl From<std::io::Error> for CompactError {
    fn from(source: std::io::Error) -> Self {
        CompactError::Io {
            path: String::new(),
            source,
        }
    }
}
