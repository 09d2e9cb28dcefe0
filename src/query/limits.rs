//! What a query may hold and take: a memory pool its operators spill
//! within, a time limit, and Ctrl-C at the prompt.

use datafusion::error::DataFusionError;

use super::error::reads_the_lake;
use super::*;

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
    pub(super) fn block_on<T>(
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
    pub(super) fn classify(&self, e: DataFusionError) -> QueryError {
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
pub(super) struct NoRepartitionSpill<P>(pub(super) P);

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
