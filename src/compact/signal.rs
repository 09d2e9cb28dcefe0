//! SIGTERM and SIGINT: the run stops at its next step, cleanly, or exits
//! after a grace when a step does not end (nothing is visible before the
//! journal); a commit under way is finished first.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::CompactError;
use crate::lake::layout::{self, Owner};
use crate::lake::Lake;

/// The signal that asked the run to stop, if any (0 none, 15 TERM, 2 INT).
static STOP: AtomicU8 = AtomicU8::new(0);

pub(crate) fn stop_requested() -> Option<&'static str> {
    match STOP.load(Ordering::Relaxed) {
        0 => None,
        2 => Some("SIGINT"),
        _ => Some("SIGTERM"),
    }
}

/// Whether a stop was asked for; the stages check it between steps.
pub(crate) fn stopping() -> Result<(), CompactError> {
    match stop_requested() {
        Some(signal) => Err(CompactError::Interrupted { signal }),
        None => Ok(()),
    }
}

/// Set from the moment the journal is about to be written: a stop then
/// waits for the commit to finish (it is short, and the next run would
/// only finish it).
pub(crate) static COMMITTING: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Seconds a stopping run has to reach its next check before it exits
/// anyway: Batch and Kubernetes send SIGKILL 30 s after SIGTERM; a
/// runner's own grace is often 10 s.
const STOP_GRACE: Duration = Duration::from_secs(4);

/// Waits for SIGTERM or SIGINT and asks the run to stop. If it has not
/// stopped within [`STOP_GRACE`] (a long listing, a large merge or row
/// group) and is not committing, it exits here: nothing of the run is
/// visible before its journal, so this is as safe as SIGKILL, and the lease
/// is given back first so the next run need not wait for it to go stale.
pub(crate) async fn stop(lake: Lake, owner: Owner, run_id: String, spill: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    let code = tokio::select! {
        _ = term.recv() => 15,
        _ = int.recv() => 2,
    };
    STOP.store(code, Ordering::Relaxed);
    tokio::time::sleep(STOP_GRACE).await;
    if COMMITTING.load(Ordering::Relaxed) {
        return;
    }
    let rel = layout::lease(owner);
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        if let Ok(Some(h)) = lake.get_json::<crate::lake::lease::Holder>(&rel).await {
            if h.run_id == run_id {
                let _ = lake.delete(&rel).await;
            }
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(spill);
    eprintln!(
        "traillake: stopped by {} before committing: nothing of this run is in the lake; the next \
         run reads its input again",
        stop_requested().unwrap_or("a signal")
    );
    std::process::exit(1);
}
