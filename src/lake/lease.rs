//! The lease: one unsharded `compact` at a time on a lake, and one run per
//! shard, with no coordinator but the lake itself.
//!
//! A run takes `_traillake/lease/<owner>.json` with a conditional create
//! (S3's `If-None-Match: *`; an exclusive create on local disk), so of two
//! runs starting together exactly one gets it. An unsharded run then checks
//! that no shard holds a lease, and a shard that no unsharded run does;
//! a run that finds one gives its own back and stops. The holder writes
//! a heartbeat into the file every quarter of the timeout and checks that
//! the lease is still its own just before it commits.
//!
//! A lease whose holder died is taken over: at once when the holder ran on
//! this machine and its process is gone (a run killed with SIGKILL, then
//! run again), otherwise once its heartbeat is older than the timeout.

use std::time::Duration;

use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::layout::{self, Owner};
use super::{Lake, LakeError};

/// What the lease file says about its holder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub owner: String,
    pub run_id: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time in clock ticks since boot, so a reused pid
    /// is not taken for the holder.
    pub started_ticks: Option<u64>,
    pub heartbeat_unix: u64,
    pub timeout_secs: u64,
}

impl Holder {
    /// Seconds since the last heartbeat; negative when it is in the
    /// future (the holder's clock is ahead of this machine's).
    fn age(&self) -> i64 {
        now_unix() as i64 - self.heartbeat_unix as i64
    }

    fn describe(&self) -> String {
        let host = self.host.split('/').next().unwrap_or("");
        let age = self.age();
        if age < -CLOCK_TOLERANCE_SECS {
            format!(
                "run {} (pid {} on {host}), whose last heartbeat is {} s in the future: clock \
                 skew, {host}'s clock is ahead of this machine's (or this one is behind); set \
                 both by NTP",
                self.run_id, self.pid, -age
            )
        } else {
            format!(
                "run {} (pid {} on {host}), last heartbeat {} s ago",
                self.run_id,
                self.pid,
                age.max(0)
            )
        }
    }

    /// Whether the holder is gone: its process, when it ran here; its
    /// heartbeat, otherwise, judged by the shorter of its timeout and
    /// ours (a lease file cannot make itself never stale). A heartbeat in
    /// the future is a live holder with a clock ahead: not stale, and
    /// [`Holder::describe`] says so.
    fn is_stale(&self, our_timeout_secs: u64) -> bool {
        if self.host == host_id() {
            return !process_alive(self.pid, self.started_ticks);
        }
        let timeout = self.timeout_secs.min(our_timeout_secs).max(1);
        self.age() > timeout as i64
    }
}

/// Clocks closer than this are taken to agree.
const CLOCK_TOLERANCE_SECS: i64 = 5;

/// A lease held by this run. Dropping it stops the heartbeat; `release`
/// also removes the file.
pub struct Lease {
    lake: Lake,
    rel: String,
    holder: Holder,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// Why a lease was not taken.
fn busy(what: &str, h: &Holder, rel: &str, lake: &Lake) -> LakeError {
    LakeError::Lease(format!(
        "{what}: the lake is being compacted by {}; wait for it to finish, or, if that run \
         is surely dead, delete {}",
        h.describe(),
        lake.loc.url_of_relative(rel)
    ))
}

impl Lease {
    /// Takes `owner`'s lease on `lake` for run `run_id`.
    pub async fn acquire(
        lake: &Lake,
        owner: Owner,
        run_id: &str,
        timeout: Duration,
    ) -> Result<Lease, LakeError> {
        let rel = layout::lease(owner);
        let holder = Holder {
            owner: owner.tag(),
            run_id: run_id.to_string(),
            host: host_id(),
            pid: std::process::id(),
            started_ticks: process_start(std::process::id()),
            heartbeat_unix: now_unix(),
            timeout_secs: timeout.as_secs().max(1),
        };
        let mut tries = 0;
        loop {
            tries += 1;
            match put(lake, &rel, &holder, PutMode::Create).await {
                Ok(()) => break,
                Err(object_store::Error::AlreadyExists { .. }) if tries <= 3 => {
                    match lake.get_json::<Holder>(&rel).await {
                        // Our own create, applied by the server, whose
                        // answer was lost and whose retry found it there.
                        Ok(Some(h)) if h.run_id == holder.run_id && h.host == holder.host => break,
                        Ok(Some(h)) if !h.is_stale(holder.timeout_secs) => {
                            return Err(busy("lease not taken", &h, &rel, lake))
                        }
                        // Stale, unreadable (a half-written file of a
                        // dead run) or gone meanwhile: take it over.
                        _ => lake.delete(&rel).await?,
                    }
                }
                Err(e) => return Err(lake.store_error(&lake.path(&rel), &e)),
            }
        }
        // An unsharded run and the shards exclude each other.
        let others: Vec<String> = match owner {
            Owner::All => lake
                .list(&layout::lease_dir())
                .await?
                .into_iter()
                .map(|m| lake.loc.relative(&m.location))
                .filter(|r| *r != rel)
                .collect(),
            Owner::Shard { .. } => vec![layout::lease(Owner::All)],
        };
        for other in others {
            if let Ok(Some(h)) = lake.get_json::<Holder>(&other).await {
                if !h.is_stale(holder.timeout_secs) {
                    let _ = lake.delete(&rel).await;
                    return Err(busy("lease given back", &h, &other, lake));
                }
            }
        }
        let heartbeat = {
            let (lake, rel, holder) = (lake.clone(), rel.clone(), holder.clone());
            let every = Duration::from_secs((holder.timeout_secs / 4).max(1));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    // Only while it is still ours.
                    match lake.get_json::<Holder>(&rel).await {
                        Ok(Some(h)) if h.run_id == holder.run_id => {
                            let beat = Holder {
                                heartbeat_unix: now_unix(),
                                ..holder.clone()
                            };
                            let _ = put(&lake, &rel, &beat, PutMode::Overwrite).await;
                        }
                        _ => return,
                    }
                }
            })
        };
        Ok(Lease {
            lake: lake.clone(),
            rel,
            holder,
            heartbeat,
        })
    }

    /// Fails when the lease is no longer this run's (taken over as stale):
    /// checked just before the run commits.
    pub async fn verify(&self) -> Result<(), LakeError> {
        match self.lake.get_json::<Holder>(&self.rel).await? {
            Some(h) if h.run_id == self.holder.run_id => Ok(()),
            Some(h) => Err(busy("lease lost", &h, &self.rel, &self.lake)),
            None => Err(LakeError::Lease(format!(
                "lease lost: {} was removed while this run held it",
                self.lake.loc.url_of_relative(&self.rel)
            ))),
        }
    }

    /// Gives the lease back.
    pub async fn release(self) -> Result<(), LakeError> {
        self.heartbeat.abort();
        if let Ok(Some(h)) = self.lake.get_json::<Holder>(&self.rel).await {
            if h.run_id == self.holder.run_id {
                self.lake.delete(&self.rel).await?;
            }
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

async fn put(lake: &Lake, rel: &str, h: &Holder, mode: PutMode) -> object_store::Result<()> {
    let data = serde_json::to_vec_pretty(h).expect("holder serializes");
    let opts = PutOptions {
        mode,
        ..PutOptions::default()
    };
    lake.loc
        .store
        .put_opts(&lake.path(rel), PutPayload::from(data), opts)
        .await
        .map(|_| ())
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// This machine since its last boot: host name and boot id.
fn host_id() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    format!(
        "{}/{}",
        read("/proc/sys/kernel/hostname"),
        read("/proc/sys/kernel/random/boot_id")
    )
}

/// A process's start time in clock ticks since boot (`/proc/<pid>/stat`).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields follow the
    // last `)`, and the start time is the 22nd field, the 20th after it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn process_alive(pid: u32, started: Option<u64>) -> bool {
    match (process_start(pid), started) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Location;

    fn lake(dir: &std::path::Path) -> Lake {
        Lake::new(Location::parse(dir.to_str().unwrap(), true).unwrap())
    }

    #[test]
    fn one_run_at_a_time_and_a_dead_holder_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = lake(tmp.path());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let t = Duration::from_secs(60);
            let first = Lease::acquire(&lake, Owner::All, "r1-all-1", t)
                .await
                .unwrap();
            let e = Lease::acquire(&lake, Owner::All, "r2-all-2", t)
                .await
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("r1-all-1"), "{e}");
            // Shards and an unsharded run exclude each other.
            let shard = Owner::Shard { index: 0, count: 2 };
            let e = Lease::acquire(&lake, shard, "r3-s0of2-3", t)
                .await
                .err()
                .unwrap();
            assert!(e.to_string().contains("r1-all-1"), "{e}");
            first.verify().await.unwrap();
            first.release().await.unwrap();
            let s0 = Lease::acquire(&lake, shard, "r4-s0of2-4", t).await.unwrap();
            let s1 = Lease::acquire(&lake, Owner::Shard { index: 1, count: 2 }, "r5-s1of2-5", t)
                .await
                .unwrap();
            assert!(Lease::acquire(&lake, Owner::All, "r6-all-6", t)
                .await
                .is_err());
            s0.release().await.unwrap();
            s1.release().await.unwrap();
            // A lease of a process of this machine that is gone is stale.
            let dead = Holder {
                owner: "all".into(),
                run_id: "dead-all-1".into(),
                host: host_id(),
                pid: u32::MAX - 1,
                started_ticks: Some(1),
                heartbeat_unix: now_unix(),
                timeout_secs: 3600,
            };
            put(&lake, &layout::lease(Owner::All), &dead, PutMode::Overwrite)
                .await
                .unwrap();
            let taken = Lease::acquire(&lake, Owner::All, "r7-all-7", t)
                .await
                .unwrap();
            taken.verify().await.unwrap();
            // Another machine's lease: stale only after its timeout.
            let remote = Holder {
                host: "elsewhere/boot".into(),
                heartbeat_unix: now_unix() - 10,
                ..dead
            };
            put(
                &lake,
                &layout::lease(Owner::All),
                &remote,
                PutMode::Overwrite,
            )
            .await
            .unwrap();
            assert!(taken.verify().await.is_err(), "taken over: no longer ours");
            assert!(Lease::acquire(&lake, Owner::All, "r8-all-8", t)
                .await
                .is_err());
            let old = Holder {
                heartbeat_unix: now_unix() - 7200,
                ..remote
            };
            put(&lake, &layout::lease(Owner::All), &old, PutMode::Overwrite)
                .await
                .unwrap();
            let taken = Lease::acquire(&lake, Owner::All, "r9-all-9", t)
                .await
                .unwrap();
            drop(taken);
            // A lease file that claims a day's timeout is stale after ours.
            let claims = Holder {
                heartbeat_unix: now_unix() - 120,
                timeout_secs: 86_400,
                run_id: "long-all-1".into(),
                ..old.clone()
            };
            put(
                &lake,
                &layout::lease(Owner::All),
                &claims,
                PutMode::Overwrite,
            )
            .await
            .unwrap();
            Lease::acquire(&lake, Owner::All, "r10-all-10", t)
                .await
                .unwrap();
            // A heartbeat an hour ahead: not taken, and called clock skew.
            let ahead = Holder {
                heartbeat_unix: now_unix() + 3600,
                run_id: "ahead-all-1".into(),
                ..old
            };
            put(
                &lake,
                &layout::lease(Owner::All),
                &ahead,
                PutMode::Overwrite,
            )
            .await
            .unwrap();
            let e = Lease::acquire(&lake, Owner::All, "r11-all-11", t)
                .await
                .err()
                .unwrap()
                .to_string();
            assert!(
                e.contains("3600 s in the future") || e.contains("3599 s in the future"),
                "{e}"
            );
            assert!(e.contains("clock skew") && e.contains("NTP"), "{e}");
        });
    }
}
