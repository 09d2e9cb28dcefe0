//! Every path and file name in a lake, in one place. Paths are relative to
//! the lake's root, `/`-separated.
//!
//! ```text
//! account=A/region=R/year=Y/month=M/day=D/part-<run>-g<G>-<n>.parquet
//! account=A/.../day=D/_superseded-<owner>.json events updates replaced
//! _traillake/journal/<run>.json               a committing run's switch
//! _traillake/staging/<run>/<final path>.staged a run's files before its switch
//! _traillake/ledger/<source>/<folder>/<run>.json source objects ingested
//! _traillake/sources/<source>/<owner>.json    last day seen per region folder
//! _traillake/runs/<run>.json                  run reports
//! _traillake/quarantine/<run>.jsonl           what could not be taken
//! _traillake/lease/<owner>.json               who is compacting
//! _traillake/manifest/<partition>/<owner>.json files a partition should hold
//! _traillake/quarantine/<run>/<path>.set-aside what `repair` moved aside
//! _traillake/retained/<run>.json              replaced files kept for Delta readers
//! _delta_log/...                              the Delta table's log (deltalake)
//! ```
//!
//! Every state name starts with `_`, so Athena, Spark and DuckDB never read
//! it as data, and staged files do not end in `.parquet`, so no
//! `**/*.parquet` glob picks them up. A run id is sortable by its start
//! time and names its owner: `all` for an unsharded run, `s1of4` for a
//! shard, so each shard finds its own runs and files by name.

use crate::partition::{Date, PartitionKey};

pub const STATE_DIR: &str = "_traillake";

/// Who runs: all of the lake, or one shard of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    All,
    Shard { index: u32, count: u32 },
}

impl Owner {
    /// `all` or `s1of4`: marks this owner's runs, files and lease.
    pub fn tag(&self) -> String {
        match self {
            Owner::All => "all".to_string(),
            Owner::Shard { index, count } => format!("s{index}of{count}"),
        }
    }

    /// Whether a run id or file name belongs to this owner. An unsharded
    /// run owns every file of the lake.
    pub fn owns(&self, name: &str) -> bool {
        match self {
            Owner::All => true,
            Owner::Shard { .. } => name.contains(&format!("-{}-", self.tag())),
        }
    }

    /// Whether a run id is this owner's own (for recovery: an unsharded run
    /// recovers only unsharded runs' journals and staging, since a shard
    /// may be running right now).
    pub fn ran(&self, run_id: &str) -> bool {
        match self {
            // Runs of every unsharded release, also ids without an owner.
            Owner::All => !has_shard_tag(run_id),
            Owner::Shard { .. } => run_id.contains(&format!("-{}-", self.tag())),
        }
    }

    /// The owner a run id names: the shard of its tag (`-s1of4-`), else
    /// the unsharded owner.
    pub fn of_run(run_id: &str) -> Owner {
        run_id
            .split('-')
            .filter(|part| is_shard_tag(part))
            .find_map(|part| {
                let (index, count) = part.strip_prefix('s')?.split_once("of")?;
                Some(Owner::Shard {
                    index: index.parse().ok()?,
                    count: count.parse().ok()?,
                })
            })
            .unwrap_or(Owner::All)
    }
}

/// Whether a name holds a shard's tag (`-s1of4-`).
fn has_shard_tag(name: &str) -> bool {
    name.split('-').any(is_shard_tag)
}

/// Whether one `-`-separated part of a name is a shard's tag (`s1of4`).
pub fn is_shard_tag(part: &str) -> bool {
    part.strip_prefix('s')
        .and_then(|p| p.split_once("of"))
        .is_some_and(|(k, n)| {
            !k.is_empty()
                && !n.is_empty()
                && k.bytes().all(|b| b.is_ascii_digit())
                && n.bytes().all(|b| b.is_ascii_digit())
        })
}

pub use crate::store::is_safe_rel;

/// The list of data files a run replaced but keeps for readers of older
/// Delta versions (`[delta] keep_replaced_hours`).
pub fn retained(run_id: &str) -> String {
    format!("{STATE_DIR}/retained/{run_id}.json")
}

pub fn retained_dir() -> String {
    format!("{STATE_DIR}/retained")
}

/// A unique, sortable run id: UTC time, owner tag, process id.
pub fn new_run_id(owner: Owner) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let d = Date::from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}-{:06}-{}-{:x}",
        d.year,
        d.month,
        d.day,
        t / 3600,
        t / 60 % 60,
        t % 60,
        now.subsec_micros(),
        owner.tag(),
        std::process::id()
    )
}

/// A data file's name: `part-<run>-g<generation>-<n>.parquet`. The
/// generation counts the merges its rows went through (see
/// `crate::compact::policy`).
pub fn data_file_name(run_id: &str, generation: u32, n: usize) -> String {
    format!("part-{run_id}-g{generation}-{n:05}.parquet")
}

/// A data file's path.
pub fn data_file(key: &PartitionKey, run_id: &str, generation: u32, n: usize) -> String {
    format!(
        "{}/{}",
        key.hive_path(),
        data_file_name(run_id, generation, n)
    )
}

/// The generation a data file's name gives; files of older releases, whose
/// names carry none, are generation 0.
pub fn generation(name: &str) -> u32 {
    let Some(stem) = name.strip_suffix(".parquet") else {
        return 0;
    };
    stem.rsplit('-')
        .nth(1)
        .and_then(|g| g.strip_prefix('g'))
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}

pub fn is_data_file(name: &str) -> bool {
    name.ends_with(".parquet") && !name.starts_with('_') && !name.starts_with('.')
}

pub fn state(rel: &str) -> String {
    format!("{STATE_DIR}/{rel}")
}

pub fn journal_dir() -> String {
    state("journal")
}

pub fn journal(run_id: &str) -> String {
    state(&format!("journal/{run_id}.json"))
}

/// Whether a path in the journal folder is a journal (`<run>.json` directly
/// in it), not a stray file.
pub fn is_journal(rel: &str) -> bool {
    rel.strip_prefix(&format!("{}/", journal_dir()))
        .is_some_and(|name| !name.contains('/') && is_state_file(name))
}

/// Whether a path in a state folder names a state file (`<name>.json`),
/// not a stray one (`.DS_Store`, `._x.json`, notes): every reader of state
/// skips the others.
pub fn is_state_file(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.ends_with(".json") && !name.starts_with('.')
}

pub fn staging_dir() -> String {
    state("staging")
}

pub fn staging_run(run_id: &str) -> String {
    state(&format!("staging/{run_id}"))
}

/// Where a run stages the file it will move to `final_rel`.
pub fn staged(run_id: &str, final_rel: &str) -> String {
    format!("{}/{final_rel}.staged", staging_run(run_id))
}

/// A short, stable id of a source URL: the ledgers and state of one source
/// live under it, so one lake can take several sources.
pub fn source_id(url: &str) -> String {
    let h = url.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{h:016x}")
}

pub fn ledger_root() -> String {
    state("ledger")
}

/// The ledger folder of one source folder.
pub fn ledger_folder(source: &str, folder: &str) -> String {
    if folder.is_empty() {
        state(&format!("ledger/{source}/_"))
    } else {
        state(&format!("ledger/{source}/_/{folder}"))
    }
}

/// A ledger segment: what one run ingested from one source folder.
pub fn ledger_segment(source: &str, folder: &str, run_id: &str) -> String {
    format!("{}/{run_id}.json", ledger_folder(source, folder))
}

pub fn source_state_dir(source: &str) -> String {
    state(&format!("sources/{source}"))
}

pub fn source_state(source: &str, owner: Owner) -> String {
    format!("{}/{}.json", source_state_dir(source), owner.tag())
}

pub fn run_report(run_id: &str) -> String {
    state(&format!("runs/{run_id}.json"))
}

pub fn quarantine(run_id: &str) -> String {
    state(&format!("quarantine/{run_id}.jsonl"))
}

/// The events an owner's runs saw superseded in a partition (CloudTrail's
/// `addendum.reason = UPDATED_DATA`): `_superseded-<owner>.json` in the
/// partition's folder, where a query lists anyway, so it costs a GET only
/// where it exists. The leading `_` keeps engines from reading it as data.
pub fn superseded(key: &PartitionKey, tag: &str) -> String {
    format!("{}/{SUPERSEDED_PREFIX}{tag}.json", key.hive_path())
}

/// The start of a superseded list's name.
pub const SUPERSEDED_PREFIX: &str = "_superseded-";

/// Whether a file name in a partition folder is a superseded list.
pub fn is_superseded_list(name: &str) -> bool {
    name.starts_with(SUPERSEDED_PREFIX) && name.ends_with(".json")
}

/// The folder of a partition's manifests.
pub fn manifest_dir(key: &PartitionKey) -> String {
    state(&format!("manifest/{}", key.hive_path()))
}

/// The manifest of one owner tag's files in a partition.
pub fn manifest(key: &PartitionKey, tag: &str) -> String {
    format!("{}/{tag}.json", manifest_dir(key))
}

/// Where `repair` sets aside a file it found damaged or foreign: under the
/// quarantine folder, by run, at its path in the lake.
pub fn set_aside(run_id: &str, rel: &str) -> String {
    state(&format!("quarantine/{run_id}/{rel}.set-aside"))
}

pub fn lease_dir() -> String {
    state("lease")
}

pub fn lease(owner: Owner) -> String {
    format!("{}/{}.json", lease_dir(), owner.tag())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_owner_and_generation() {
        let shard = Owner::Shard { index: 1, count: 4 };
        let run = new_run_id(shard);
        assert!(shard.ran(&run) && shard.owns(&run), "{run}");
        assert!(!Owner::All.ran(&run) && Owner::All.owns(&run));
        let name = data_file_name(&run, 3, 7);
        assert!(is_data_file(&name));
        assert_eq!(generation(&name), 3);
        assert!(shard.owns(&name));
        assert!(!Owner::Shard { index: 2, count: 4 }.owns(&name));
        // Names from releases before generations: generation 0.
        assert_eq!(
            generation("part-20240101T000000-000001-all-1f-00003.parquet"),
            0
        );
        assert!(!is_data_file("x.parquet.staged"));
        assert!(staged(&run, "a/b.parquet").ends_with(".parquet.staged"));
    }

    #[test]
    fn ledger_segments_lie_directly_in_their_folders_ledger() {
        let seg = ledger_segment("s", "AWSLogs/1/CloudTrail/r/2024/01/15", "run");
        let dir = ledger_folder("s", "AWSLogs/1/CloudTrail/r/2024/01/15");
        assert_eq!(seg.rsplit_once('/').unwrap().0, dir);
        // The source root's own folder has a ledger too.
        assert_eq!(ledger_folder("s", ""), "_traillake/ledger/s/_");
        assert_ne!(source_id("s3://a/b"), source_id("s3://a/c"));
    }
}
