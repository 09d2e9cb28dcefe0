//! The listing: CloudTrail's S3 layout walked folder by folder,
//! `AWSLogs/` -> `[o-org/]` -> account -> `CloudTrail/` -> region ->
//! `yyyy/` -> `mm/` -> `dd/`, with one delimiter listing per folder (a
//! directory read locally), many folders at a time, descending only into
//! the folders a run needs:
//!
//! - accounts and regions named by `--account` / `--region`, when given;
//! - in each region, the day folders inside its window: `--since/--until`
//!   when given, otherwise from the day before the last one seen there
//!   minus the lookback (late files land in recent folders), and every
//!   day of a region never seen before; `--full-scan` takes every day;
//! - folders an earlier run could not finish (`retry`), whatever their date;
//! - never `CloudTrail-Digest/`, nor `CloudTrail-Insight/` unless asked for.
//!
//! So a nightly run lists a handful of folders per region, however many
//! years of logs lie under it. A day folder is listed whole (it is paginated
//! by the store). A folder outside the layout is listed whole, whatever
//! lies in it. A folder that cannot be listed (permissions, a key the store
//! cannot name) is reported by name and the walk goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use super::{Handle, SourceFilter};
use crate::partition::{is_partition_value, Date};
use crate::store::{describe, escape, Location, RequestKind};

/// What to walk.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    pub filter: SourceFilter,
    /// Every day folder, ignoring what earlier runs saw.
    pub full_scan: bool,
    /// Days before the last day seen in a region that are listed again.
    pub lookback_days: u32,
    /// The last day folder seen in each region folder (relative to SRC).
    pub latest_seen: BTreeMap<String, Date>,
    /// Folders listed whatever their date (relative to SRC).
    pub retry: BTreeSet<String>,
    /// The lake, when local: a link into it is not followed.
    pub exclude: Option<PathBuf>,
    /// Folders listed at once.
    pub concurrency: usize,
    /// Folders and objects listed so far.
    pub progress: std::sync::Arc<crate::progress::Progress>,
    /// The newest day a folder may be dated (today, plus a day for clocks
    /// and time zones): a folder after it is reported, never walked, so it
    /// cannot become a region's latest day and move the window past the
    /// real ones. It is walked when its day comes.
    pub newest_day: Option<Date>,
}

/// One object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Key below SRC, escaped.
    pub rel: String,
    pub handle: Handle,
    pub size: u64,
    /// ETag, or the modification time in nanoseconds (local).
    pub tag: Option<String>,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Listing {
    /// In key order.
    pub objects: Vec<ListedObject>,
    /// Region folders walked and the last day folder listed in each.
    pub latest: BTreeMap<String, Date>,
    /// Region folders walked (with or without day folders).
    pub regions: BTreeSet<String>,
    /// Folders that could not be listed: (relative path, reason).
    pub failed: Vec<(String, String)>,
    /// Links into the lake, not followed.
    pub inside_lake: u64,
    /// Folders listed.
    pub folders_listed: u64,
    /// Year, month or day folders dated after `newest_day`, not walked.
    pub future: Vec<String>,
}

/// Where a folder lies in CloudTrail's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    /// Not (yet) in the layout: listed whole, every subfolder descended.
    Unknown,
    /// `AWSLogs/`: accounts and organization ids.
    Logs,
    /// `AWSLogs/o-xxxx/`: accounts.
    Org,
    /// `AWSLogs/[o-x/]<account>/`: `CloudTrail/` and its siblings.
    Account,
    /// `.../CloudTrail/` or `.../CloudTrail-Insight/`: regions.
    Trail,
    /// `.../<region>/`: years.
    Region,
    Year(i32),
    Month(i32, u32),
    /// `.../<yyyy>/<mm>/<dd>/`: listed whole, recursively.
    Day(Date),
}

#[derive(Debug, Clone)]
struct Folder {
    /// Relative to SRC, escaped; "" for SRC itself.
    rel: String,
    level: Level,
    /// The region folder this lies in ("" when SRC is at or below it).
    region: Option<String>,
    at: At,
}

#[derive(Debug, Clone)]
enum At {
    Store(Path),
    /// A local directory and the (device, inode) of it and its ancestors,
    /// so a link back up is not followed round.
    Dir(PathBuf, Vec<(u64, u64)>),
}

/// What one folder holds.
#[derive(Default)]
struct Entries {
    files: Vec<ListedObject>,
    /// (name as escaped, where it is)
    dirs: Vec<(String, At)>,
    failed: Vec<(String, String)>,
    inside_lake: u64,
}

/// Walks `src` as `opts` says.
pub async fn walk(src: &Location, opts: &WalkOptions) -> Listing {
    let mut listing = Listing::default();
    let (level, region) = start_level(src);
    let at = match &src.local {
        Some(dir) => {
            use std::os::unix::fs::MetadataExt;
            match std::fs::metadata(dir) {
                Ok(m) => At::Dir(dir.clone(), vec![(m.dev(), m.ino())]),
                Err(e) => {
                    listing.failed.push((String::new(), e.to_string()));
                    return listing;
                }
            }
        }
        None => At::Store(src.prefix.clone()),
    };
    if level == Level::Region {
        listing.regions.insert(String::new());
    }
    let mut queue = vec![Folder {
        rel: String::new(),
        level,
        region,
        at,
    }];
    let concurrency = opts.concurrency.max(1);
    while !queue.is_empty() {
        let listed: Vec<(Folder, Entries)> = futures::stream::iter(std::mem::take(&mut queue))
            .map(|folder| async move {
                let entries = list_folder(src, &folder, opts).await;
                opts.progress.folders_listed.add(1);
                opts.progress.objects_listed.add(entries.files.len() as u64);
                (folder, entries)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (folder, entries) in listed {
            listing.folders_listed += 1;
            listing.inside_lake += entries.inside_lake;
            listing.objects.extend(entries.files);
            listing.failed.extend(entries.failed);
            for (name, at) in entries.dirs {
                let rel = join(&folder.rel, &name);
                let Some(level) = child_level(&folder.level, &name, &opts.filter) else {
                    continue;
                };
                if opts.newest_day.is_some_and(|n| in_future(&level, n)) {
                    listing.future.push(rel);
                    continue;
                }
                let region = match level {
                    Level::Region => Some(rel.clone()),
                    _ => folder.region.clone(),
                };
                let retried = opts
                    .retry
                    .iter()
                    .any(|r| r == &rel || r.starts_with(&format!("{rel}/")));
                if !retried && !in_window(&level, region.as_deref(), opts) {
                    continue;
                }
                if level == Level::Region {
                    listing.regions.insert(rel.clone());
                }
                if let (Level::Day(day), Some(region)) = (&level, &region) {
                    let latest = listing.latest.entry(region.clone()).or_insert(*day);
                    *latest = (*latest).max(*day);
                }
                queue.push(Folder {
                    rel,
                    level,
                    region,
                    at,
                });
            }
        }
    }
    listing.objects.sort_by(|a, b| a.rel.cmp(&b.rel));
    listing.failed.sort();
    listing.future.sort();
    listing
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

fn date(y: i32, m: u32, d: u32) -> Option<Date> {
    Date::parse(&format!("{y:04}-{m:02}-{d:02}"))
}

/// The level of SRC itself, from the names in its path (SRC may point at
/// any folder of the layout).
fn start_level(src: &Location) -> (Level, Option<String>) {
    let parts: Vec<String> = src.prefix.parts().map(|p| p.as_ref().to_string()).collect();
    let Some(logs) = parts.iter().rposition(|p| p == "AWSLogs") else {
        return (Level::Unknown, None);
    };
    let mut level = Level::Logs;
    let everything = SourceFilter {
        include_insights: true,
        ..SourceFilter::default()
    };
    for name in &parts[logs + 1..] {
        match child_level(&level, name, &everything) {
            Some(next) => level = next,
            None => return (Level::Unknown, None),
        }
    }
    let region = matches!(
        level,
        Level::Region | Level::Year(_) | Level::Month(..) | Level::Day(_)
    )
    .then(String::new);
    (level, region)
}

/// What a subfolder `name` of a folder at `parent` is; `None` when it is
/// not to be walked at all.
fn child_level(parent: &Level, name: &str, filter: &SourceFilter) -> Option<Level> {
    let digits = |n: usize| name.len() == n && name.bytes().all(|b| b.is_ascii_digit());
    let listed = |list: &[String]| list.is_empty() || list.iter().any(|v| v == name);
    Some(match parent {
        Level::Unknown if name == "AWSLogs" => Level::Logs,
        Level::Unknown => Level::Unknown,
        Level::Logs if name.starts_with("o-") => Level::Org,
        Level::Logs | Level::Org if is_partition_value(name) => {
            if !listed(&filter.accounts) {
                return None;
            }
            Level::Account
        }
        Level::Logs | Level::Org => Level::Unknown,
        Level::Account => match name {
            "CloudTrail" => Level::Trail,
            "CloudTrail-Insight" if filter.include_insights => Level::Trail,
            // Digests, Insights not asked for, and other services' logs
            // that share AWSLogs/ (VPC flow logs, ELB, ...): never events.
            _ => return None,
        },
        Level::Trail if is_partition_value(name) => {
            if !listed(&filter.regions) {
                return None;
            }
            Level::Region
        }
        Level::Trail => Level::Unknown,
        Level::Region if digits(4) => Level::Year(name.parse().ok()?),
        Level::Year(y) if digits(2) && (1..=12).contains(&name.parse::<u32>().ok()?) => {
            Level::Month(*y, name.parse().ok()?)
        }
        Level::Month(y, m) if digits(2) => match date(*y, *m, name.parse().ok()?) {
            Some(d) => Level::Day(d),
            None => Level::Unknown,
        },
        Level::Region | Level::Year(_) | Level::Month(..) => Level::Unknown,
        // Below a day folder everything is listed with it.
        Level::Day(_) => return None,
    })
}

/// Whether a year, month or day folder lies wholly after `newest`.
fn in_future(level: &Level, newest: Date) -> bool {
    match *level {
        Level::Year(y) => y > newest.year,
        Level::Month(y, m) => (y, m) > (newest.year, newest.month),
        Level::Day(d) => d > newest,
        _ => false,
    }
}

/// Whether a folder at `level` in region folder `region` holds days of the
/// region's window.
fn in_window(level: &Level, region: Option<&str>, opts: &WalkOptions) -> bool {
    let (mut from, until) = (opts.filter.since, opts.filter.until);
    if from.is_none() && opts.filter.until.is_none() && !opts.full_scan {
        if let Some(last) = region.and_then(|r| opts.latest_seen.get(r)) {
            from = Some(Date::from_days(
                last.to_days() - i64::from(opts.lookback_days),
            ));
        }
    }
    let days = crate::partition::Days { since: from, until };
    match level {
        Level::Year(y) => days.overlaps(*y, None, None),
        Level::Month(y, m) => days.overlaps(*y, Some(*m), None),
        Level::Day(d) => days.contains(*d),
        _ => true,
    }
}

/// Lists one folder: its files and subfolders (a day folder: every file
/// below it).
async fn list_folder(src: &Location, folder: &Folder, opts: &WalkOptions) -> Entries {
    match &folder.at {
        At::Store(path) => {
            let store = &src.store;
            let mut entries = Entries::default();
            let recursive = matches!(folder.level, Level::Day(_));
            let result = if recursive {
                store
                    .list(Some(path))
                    .try_collect::<Vec<_>>()
                    .await
                    .map(|objects| (objects, Vec::new()))
            } else {
                store
                    .list_with_delimiter(Some(path))
                    .await
                    .map(|r| (r.objects, r.common_prefixes))
            };
            match result {
                Ok((objects, dirs)) => {
                    for m in objects {
                        let rel = src.relative(&m.location);
                        let rel = escape(rel.as_bytes());
                        entries.files.push(ListedObject {
                            rel,
                            handle: Handle::Store(m.location),
                            size: m.size,
                            tag: m.e_tag,
                        });
                    }
                    for d in dirs {
                        let name = d.filename().unwrap_or("").to_string();
                        entries.dirs.push((escape(name.as_bytes()), At::Store(d)));
                    }
                }
                Err(e) => entries.failed.push((folder.rel.clone(), describe(&e))),
            }
            entries
        }
        At::Dir(dir, ancestors) => {
            src.requests.count(RequestKind::List);
            let (dir, ancestors, rel) = (dir.clone(), ancestors.clone(), folder.rel.clone());
            let recursive = matches!(folder.level, Level::Day(_));
            let exclude = opts.exclude.clone();
            let requests = src.requests.clone();
            tokio::task::spawn_blocking(move || {
                let mut entries = Entries::default();
                read_dir(&dir, &rel, &ancestors, exclude.as_deref(), &mut entries);
                if recursive {
                    // Everything below a day folder, depth first.
                    let mut stack = std::mem::take(&mut entries.dirs);
                    while let Some((name, at)) = stack.pop() {
                        let At::Dir(sub, anc) = at else { continue };
                        requests.count(RequestKind::List);
                        let mut below = Entries::default();
                        let sub_rel = join(&rel, &name);
                        read_dir(&sub, &sub_rel, &anc, exclude.as_deref(), &mut below);
                        entries.files.append(&mut below.files);
                        entries.failed.append(&mut below.failed);
                        entries.inside_lake += below.inside_lake;
                        stack.extend(
                            below
                                .dirs
                                .into_iter()
                                .map(|(n, at)| (format!("{name}/{n}"), at)),
                        );
                    }
                }
                entries
            })
            .await
            .unwrap_or_else(|e| Entries {
                failed: vec![(folder.rel.clone(), format!("listing panicked: {e}"))],
                ..Entries::default()
            })
        }
    }
}

/// Reads one local directory into `out`: files with their size and
/// modification time, subdirectories with their identity. Links are
/// followed (a broken one is skipped, one into `exclude` is counted and
/// skipped); an entry that vanished meanwhile is skipped; anything else
/// that fails is reported by name and the rest is read.
fn read_dir(
    dir: &std::path::Path,
    rel: &str,
    ancestors: &[(u64, u64)],
    exclude: Option<&std::path::Path>,
    out: &mut Entries,
) {
    use std::os::unix::fs::MetadataExt;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // Gone since its parent was read: nothing to list.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            out.failed.push((rel.to_string(), e.to_string()));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                out.failed.push((rel.to_string(), e.to_string()));
                continue;
            }
        };
        let raw = entry.file_name();
        let name = escape(raw.as_encoded_bytes());
        let full = entry.path();
        let meta = match entry.file_type() {
            Ok(t) if t.is_symlink() => {
                let Ok(m) = std::fs::metadata(&full) else {
                    continue; // broken link
                };
                if let Some(lake) = exclude {
                    if std::fs::canonicalize(&full).is_ok_and(|p| p.starts_with(lake)) {
                        out.inside_lake += 1;
                        continue;
                    }
                }
                m
            }
            Ok(_) => match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    out.failed.push((join(rel, &name), e.to_string()));
                    continue;
                }
            },
            Err(e) => {
                out.failed.push((join(rel, &name), e.to_string()));
                continue;
            }
        };
        if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if !ancestors.contains(&id) {
                let mut ancestors = ancestors.to_vec();
                ancestors.push(id);
                out.dirs.push((name, At::Dir(full, ancestors)));
            }
        } else if meta.is_file() && !is_upload_temporary(&name) {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos());
            out.files.push(ListedObject {
                rel: join(rel, &name),
                handle: Handle::File(full),
                size: meta.len(),
                tag: modified.map(|n| format!("mtime:{n}")),
            });
        }
    }
}

/// object_store's local store writes `name#123` and renames it when done;
/// its listing hides such files, and so does ours.
fn is_upload_temporary(name: &str) -> bool {
    match name.split_once('#') {
        Some((_, suffix)) => !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &std::path::Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    fn walk_local(root: &std::path::Path, opts: &WalkOptions) -> (Listing, Location) {
        let src = Location::parse(root.to_str().unwrap(), false).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (rt.block_on(walk(&src, opts)), src)
    }

    fn rels(l: &Listing) -> Vec<&str> {
        l.objects.iter().map(|o| o.rel.as_str()).collect()
    }

    const DAY: &str = "AWSLogs/111122223333/CloudTrail/eu-west-1";
    /// The day folders of the test tree below [`DAY`].
    const DAYS: [&str; 5] = [
        "2023/12/31",
        "2024/01/01",
        "2024/01/14",
        "2024/01/15",
        "2024/02/01",
    ];

    fn tree(root: &std::path::Path) {
        for d in DAYS {
            touch(root, &format!("{DAY}/{d}/a.json.gz"));
        }
        touch(
            root,
            "AWSLogs/111122223333/CloudTrail/ConfigWritabilityCheckFile",
        );
        touch(
            root,
            "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2024/01/15/d.json.gz",
        );
        touch(
            root,
            "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2024/01/15/f.log.gz",
        );
        touch(
            root,
            "AWSLogs/o-abc/444455556666/CloudTrail/us-east-1/2024/01/15/b.json.gz",
        );
        touch(root, "loose/notes.json");
    }

    #[test]
    fn a_first_walk_lists_every_day_and_skips_digests_and_other_services() {
        let tmp = tempfile::tempdir().unwrap();
        tree(tmp.path());
        let (l, _) = walk_local(tmp.path(), &WalkOptions::default());
        let mut want = vec![
            "AWSLogs/111122223333/CloudTrail/ConfigWritabilityCheckFile".to_string(),
            "AWSLogs/o-abc/444455556666/CloudTrail/us-east-1/2024/01/15/b.json.gz".to_string(),
            "loose/notes.json".to_string(),
        ];
        for d in DAYS {
            want.push(format!("{DAY}/{d}/a.json.gz"));
        }
        want.sort();
        assert_eq!(rels(&l), want);
        assert_eq!(l.latest[DAY], Date::parse("2024-02-01").unwrap());
        assert!(l.failed.is_empty(), "{:?}", l.failed);
    }

    #[test]
    fn a_later_walk_lists_only_the_lookback_and_new_regions() {
        let tmp = tempfile::tempdir().unwrap();
        tree(tmp.path());
        let opts = WalkOptions {
            lookback_days: 18,
            latest_seen: [(DAY.to_string(), Date::parse("2024-02-01").unwrap())].into(),
            ..WalkOptions::default()
        };
        let (l, _) = walk_local(tmp.path(), &opts);
        let days: Vec<&str> = rels(&l)
            .into_iter()
            .filter(|r| r.starts_with(DAY))
            .collect();
        // 2024-02-01 minus 18 days is 2024-01-14.
        assert_eq!(
            days,
            [
                format!("{DAY}/2024/01/14/a.json.gz"),
                format!("{DAY}/2024/01/15/a.json.gz"),
                format!("{DAY}/2024/02/01/a.json.gz"),
            ]
        );
        // The region in the organization's account was never seen: whole.
        assert!(rels(&l).iter().any(|r| r.contains("444455556666")));
        // A folder to retry is listed whatever its date.
        let opts = WalkOptions {
            retry: [format!("{DAY}/2023/12/31")].into(),
            ..opts
        };
        let (l, _) = walk_local(tmp.path(), &opts);
        assert!(rels(&l).contains(&format!("{DAY}/2023/12/31/a.json.gz").as_str()));
        assert!(!rels(&l).contains(&format!("{DAY}/2024/01/01/a.json.gz").as_str()));
    }

    #[test]
    fn folders_dated_after_the_newest_day_are_reported_not_walked() {
        let tmp = tempfile::tempdir().unwrap();
        tree(tmp.path());
        touch(tmp.path(), &format!("{DAY}/2099/01/01/planted.json.gz"));
        touch(tmp.path(), &format!("{DAY}/2024/03/02/typo.json.gz"));
        std::fs::create_dir_all(tmp.path().join(format!("{DAY}/2024/02/09"))).unwrap();
        let opts = WalkOptions {
            newest_day: Date::parse("2024-02-02"),
            ..WalkOptions::default()
        };
        let (l, _) = walk_local(tmp.path(), &opts);
        assert_eq!(
            l.future,
            [
                format!("{DAY}/2024/02/09"),
                format!("{DAY}/2024/03"),
                format!("{DAY}/2099"),
            ]
        );
        assert_eq!(l.latest[DAY], Date::parse("2024-02-01").unwrap());
        assert!(!rels(&l)
            .iter()
            .any(|r| r.contains("planted") || r.contains("typo")));
        // When their day comes they are walked like any other.
        let opts = WalkOptions {
            newest_day: Date::parse("2099-01-02"),
            ..WalkOptions::default()
        };
        let (l, _) = walk_local(tmp.path(), &opts);
        assert!(l.future.is_empty());
        assert!(rels(&l).iter().any(|r| r.contains("planted")));
    }

    #[test]
    fn since_until_accounts_and_regions_prune_folders() {
        let tmp = tempfile::tempdir().unwrap();
        tree(tmp.path());
        let opts = WalkOptions {
            filter: SourceFilter {
                since: Date::parse("2024-01-15"),
                until: Date::parse("2024-01-31"),
                accounts: vec!["111122223333".into()],
                ..SourceFilter::default()
            },
            ..WalkOptions::default()
        };
        let (l, _) = walk_local(tmp.path(), &opts);
        let r = rels(&l);
        assert!(
            r.contains(&format!("{DAY}/2024/01/15/a.json.gz").as_str()),
            "{r:?}"
        );
        assert!(!r
            .iter()
            .any(|x| x.contains("2024/02/01") || x.contains("2024/01/14")));
        assert!(!r.iter().any(|x| x.contains("444455556666")));
        // Folders listed: not the other days.
        assert!(l.folders_listed < 12, "{}", l.folders_listed);
    }

    #[test]
    fn a_source_pointing_inside_the_layout_is_walked_from_there() {
        let tmp = tempfile::tempdir().unwrap();
        tree(tmp.path());
        let (l, src) = walk_local(&tmp.path().join(DAY).join("2024"), &WalkOptions::default());
        assert_eq!(
            rels(&l),
            [
                "01/01/a.json.gz",
                "01/14/a.json.gz",
                "01/15/a.json.gz",
                "02/01/a.json.gz"
            ]
        );
        assert!(src.url.ends_with("/2024"));
        assert_eq!(l.latest[""], Date::parse("2024-02-01").unwrap());
    }

    #[test]
    fn odd_names_are_listed_escaped_and_unreadable_folders_reported() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let day = tmp.path().join(DAY).join("2024/01/15");
        std::fs::create_dir_all(&day).unwrap();
        for name in [
            &b"tab\tx.json.gz"[..],
            b"esc\x1bx.json.gz",
            b"bad\xffx.json.gz",
            b"lf\nx.json.gz",
            b"ok.json.gz",
            b"up.json.gz#12",
        ] {
            std::fs::write(day.join(std::ffi::OsStr::from_bytes(name)), b"x").unwrap();
        }
        let locked = tmp.path().join(DAY).join("2024/01/16");
        std::fs::create_dir_all(&locked).unwrap();
        std::fs::write(locked.join("a.json.gz"), b"x").unwrap();
        let mut perms = std::fs::metadata(&locked).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o000);
        std::fs::set_permissions(&locked, perms.clone()).unwrap();
        let (l, _) = walk_local(tmp.path(), &WalkOptions::default());
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&locked, perms).unwrap();
        let names: Vec<&str> = l
            .objects
            .iter()
            .map(|o| o.rel.rsplit('/').next().unwrap())
            .collect();
        assert!(names.contains(&"tab%09x.json.gz"), "{names:?}");
        assert!(names.contains(&"esc%1Bx.json.gz"), "{names:?}");
        assert!(names.contains(&"bad%FFx.json.gz"), "{names:?}");
        assert!(names.contains(&"lf%0Ax.json.gz"), "{names:?}");
        assert!(names.contains(&"ok.json.gz"));
        assert!(!names.iter().any(|n| n.contains('#')));
        // The odd file is read by its real name.
        let odd = l
            .objects
            .iter()
            .find(|o| o.rel.ends_with("bad%FFx.json.gz"))
            .unwrap();
        let Handle::File(p) = &odd.handle else {
            panic!()
        };
        assert_eq!(std::fs::read(p).unwrap(), b"x");
        // Root can read anything; as another user the folder is reported.
        let is_root = std::fs::read_dir(&locked).is_ok();
        if !is_root {
            assert_eq!(l.failed.len(), 1, "{:?}", l.failed);
            assert!(l.failed[0].0.ends_with("2024/01/16"));
        }
    }

    #[test]
    fn links_are_followed_but_not_into_the_lake_nor_round_a_loop() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("src");
        tree(&root);
        let lake = tmp.path().join("lake");
        touch(
            &lake,
            "account=1/region=r/year=2024/month=01/day=15/part-x.parquet",
        );
        std::os::unix::fs::symlink(&lake, root.join("lake-link")).unwrap();
        let outside = tmp.path().join("outside");
        touch(&outside, "linked.json");
        std::os::unix::fs::symlink(&outside, root.join("dirlink")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("loop")).unwrap();
        let opts = WalkOptions {
            exclude: Some(std::fs::canonicalize(&lake).unwrap()),
            ..WalkOptions::default()
        };
        let (l, _) = walk_local(&root, &opts);
        let r = rels(&l);
        assert!(r.contains(&"dirlink/linked.json"), "{r:?}");
        assert!(!r.iter().any(|x| x.contains("parquet")), "{r:?}");
        assert_eq!(l.inside_lake, 1);
        assert!(!r.iter().any(|x| x.starts_with("loop/")), "{r:?}");
    }
}
