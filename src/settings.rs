//! Flags and config resolved once into the library's typed options: every
//! location parsed and opened here, every value checked, so commands only
//! run. A value that does not check is bad usage (exit 2).

use std::path::PathBuf;

use traillake::compact::{self, CompactOptions, MemoryBudget};
use traillake::config::{Config, ShardBy};
use traillake::ddl::DdlOptions;
use traillake::partition::Date;
use traillake::sink::{StringEncoding, WriteOptions};
use traillake::source::SourceFilter;
use traillake::store::{Location, LocationError};

use crate::cli::{CompactArgs, DdlArgs};
use crate::output::{usage, Failure};

/// A location flag, else its config key, opened; an error names where
/// the value came from (`--lake X: no such directory`).
fn location(
    flag: &Option<String>,
    configured: &Option<String>,
    name: &str,
    command: &str,
    open: impl FnOnce(&str) -> Result<Location, LocationError>,
) -> Result<Location, Failure> {
    let (value, origin) = match (flag, configured) {
        (Some(v), _) => (v, format!("--{name}")),
        (None, Some(v)) => (v, format!("`{name}` in the config file")),
        (None, None) => {
            return Err(usage(format!(
                "{command} needs --{name} (or `{name}` in config.toml)"
            )))
        }
    };
    open(value).map_err(|e| match e {
        LocationError::Credentials { .. } => Failure::Failed(e.to_string()),
        LocationError::Invalid { .. } => usage(format!("{origin} {e}")),
    })
}

/// `--lake`, else config `lake`, opened (not created).
pub fn lake(flag: &Option<String>, config: &Config, command: &str) -> Result<Location, Failure> {
    location(flag, &config.lake, "lake", command, |v| {
        Location::parse(v, false)
    })
}

/// `--source`, else config `source`, opened.
pub fn source(flag: &Option<String>, config: &Config, command: &str) -> Result<Location, Failure> {
    location(flag, &config.source, "source", command, |v| {
        Location::parse(v, false)
    })
}

/// A length of time, `90s`, `30m`, `1h`, `2d` or `1w`, in seconds.
pub fn parse_span(flag: &str, v: &str) -> Result<i64, Failure> {
    let bad = || {
        usage(format!(
            "{flag} {v:?}: expected a length of time such as 30m, 1h, 2d"
        ))
    };
    let (n, unit) = v.trim().split_at(v.trim().len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(unit).filter(|s| *s >= 0).ok_or_else(bad)
}

/// Now, in seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `--since` and `--until`, for every command that takes them: each a day
/// (YYYY-MM-DD, UTC) or a time ago (`7d`, `12h`, `2w`) counted back from
/// `now` (seconds since the epoch) to its day; `--since` not after
/// `--until`. What the days select is the command's: event days (the
/// lake's partitions) for `query` and `detect`, the days CloudTrail
/// delivered in (the source's folders) for `compact`.
pub fn days(
    since: &Option<String>,
    until: &Option<String>,
    now: i64,
) -> Result<(Option<Date>, Option<Date>), Failure> {
    let day = |flag: &str, v: &Option<String>| -> Result<Option<Date>, Failure> {
        let Some(v) = v.as_deref() else {
            return Ok(None);
        };
        if let Some(d) = Date::parse(v) {
            return Ok(Some(d));
        }
        let ago = parse_span(flag, v).map_err(|_| {
            usage(format!(
                "{flag} {v:?}: expected YYYY-MM-DD or a time ago such as 7d, 12h, 2w"
            ))
        })?;
        Ok(Some(Date::from_days((now - ago).div_euclid(86_400))))
    };
    let (since, until) = (day("--since", since)?, day("--until", until)?);
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(usage(format!("--since {s} is after --until {u}")));
        }
    }
    Ok((since, until))
}

/// The days and version `query` and `detect` read.
#[cfg(feature = "sql")]
pub fn window(
    days_flags: &crate::cli::EventDays,
    now: i64,
) -> Result<traillake::query::Window, Failure> {
    let (since, until) = days(&days_flags.since, &days_flags.until, now)?;
    Ok(traillake::query::Window {
        since,
        until,
        as_of: match &days_flags.as_of {
            Some(s) => traillake::lake::delta::AsOf::parse(s).map_err(usage)?,
            None => traillake::lake::delta::AsOf::Latest,
        },
    })
}

pub fn compact_options(args: &CompactArgs, config: &Config) -> Result<CompactOptions, Failure> {
    let source = source(&args.source, config, "compact")?;
    let lake = location(&args.lake, &config.lake, "lake", "compact", |v| {
        if args.dry_run {
            Location::parse_maybe_missing(v)
        } else {
            Location::parse(v, true)
        }
    })?;
    let c = &config.compact;
    let mut opts = CompactOptions::new(source, lake);
    opts.delta = config.delta.clone();
    let (since, until) = days(&args.since, &args.until, now())?;
    opts.filter = SourceFilter {
        since,
        until,
        accounts: args.accounts.clone(),
        regions: args.regions.clone(),
        include_insights: args.include_insights,
    };
    opts.full_scan = args.full_scan;
    if let Some(t) = args.threads.or(c.threads).filter(|&t| t > 0) {
        if t > traillake::config::MAX_THREADS {
            return Err(usage(format!(
                "--threads {t} is more than {}, the most a run takes",
                traillake::config::MAX_THREADS
            )));
        }
        opts.threads = t;
    }
    let mut write = WriteOptions::default();
    if let Some(text) = &args.compression {
        write.compression = WriteOptions::parse_compression(text).map_err(usage)?;
    } else if let Some(codec) = c.compression {
        write.compression = codec;
    }
    if let Some(text) = &args.string_encoding {
        write.string_encoding = StringEncoding::parse(text).map_err(usage)?;
    } else if let Some(e) = c.string_encoding {
        write.string_encoding = e;
    }
    if let Some(mb) = args.target_file_mb.or(c.target_file_mb) {
        if mb == 0 {
            return Err(usage("--target-file-mb must be at least 1"));
        }
        write.target_file_bytes = mb << 20;
    }
    if let Some(rows) = c.row_group_rows {
        write.row_group_rows = rows;
    }
    opts.write = write;
    if let Some(mb) = c.memory_budget_mb {
        opts.memory = MemoryBudget::new(mb << 20);
    }
    if let Some(mb) = c.max_file_mb {
        opts.memory = opts.memory.with_max_file_bytes(mb << 20);
    }
    if let Some(mb) = c.chunk_mb {
        opts.chunk_bytes = mb << 20;
    }
    if let Some(days) = c.lookback_days {
        opts.lookback_days = days;
    }
    if let Some(n) = c.merge_files {
        opts.merge_at = n;
    }
    if let Some(secs) = c.lease_timeout_secs {
        opts.lease_timeout = std::time::Duration::from_secs(secs);
    }
    if let Some(dir) = &c.spill_dir {
        opts.spill_dir = dir.clone();
    }
    if let Some(codec) = c.spill_compression {
        opts.spill_codec = codec;
    }
    opts.dry_run = args.dry_run;
    let shard_by = match &args.shard_by {
        Some(text) => Some(ShardBy::parse(text).map_err(usage)?),
        None => c.shard_by,
    };
    opts.shard = args
        .shard
        .as_deref()
        .map(|s| compact::Shard::parse(s, |k| std::env::var(k).ok()))
        .transpose()
        .map_err(usage)?
        .map(|mut s| {
            s.by_object = shard_by == Some(ShardBy::Object);
            s
        });
    if opts.shard.is_none() && args.shard_by.is_some() {
        return Err(usage("--shard-by goes with --shard"));
    }
    Ok(opts)
}

/// `ddl`'s options: `location` is the lake's URL unless `--location` says
/// how the engine sees it.
pub fn ddl_options(args: DdlArgs, config: &Config, lake: &Location) -> Result<DdlOptions, Failure> {
    if args.add_partitions && args.style != crate::cli::Style::Hive {
        return Err(usage("--add-partitions goes with --style hive"));
    }
    Ok(DdlOptions {
        database: args
            .database
            .or_else(|| config.database.clone())
            .unwrap_or_else(|| "traillake".to_string()),
        table: args
            .table
            .or_else(|| config.table.clone())
            .unwrap_or_else(|| "cloudtrail".to_string()),
        location: args.location.unwrap_or_else(|| lake.url.clone()),
        style: args.style.into(),
        add_partitions: args.add_partitions,
        raw_source: args.raw_source,
        extra_accounts: args.accounts,
        extra_regions: args.regions,
        until_year: args.until_year,
    })
}

/// The config file: `--config FILE`, else `./config.toml` if present.
pub fn config(path: &Option<PathBuf>) -> Result<Config, Failure> {
    Ok(match path {
        Some(p) => Config::load(p, true),
        None => Config::load(&PathBuf::from("config.toml"), false),
    }?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parser for every command's --since/--until (compact's too).
    #[test]
    fn days_are_dates_or_a_time_ago() {
        // 2024-03-15T10:00:00Z
        let now = Date::parse("2024-03-15").unwrap().to_days() * 86_400 + 36_000;
        let d = |s: &str| Some(s.to_string());
        assert_eq!(
            days(&d("7d"), &None, now).unwrap(),
            (Date::parse("2024-03-08"), None)
        );
        assert_eq!(
            days(&d("11h"), &d("2024-03-15"), now).unwrap().0,
            Date::parse("2024-03-14")
        );
        assert_eq!(
            days(&d("2w"), &d("1d"), now).unwrap(),
            (Date::parse("2024-03-01"), Date::parse("2024-03-14"))
        );
        for bad in ["7x", "-7d", "2024-13-01", "yesterday"] {
            let e = days(&d(bad), &None, now).unwrap_err();
            assert!(
                matches!(&e, Failure::Usage(m) if m.contains("expected YYYY-MM-DD or a time ago")),
                "{bad}"
            );
        }
        assert!(days(&d("2024-03-10"), &d("2024-03-01"), now).is_err());
    }

    #[cfg(feature = "sql")]
    #[test]
    fn a_window_carries_the_version() {
        let flags = |since: Option<&str>, as_of: &str| crate::cli::EventDays {
            since: since.map(str::to_string),
            until: None,
            as_of: Some(as_of.to_string()),
        };
        let w = window(&flags(Some("2024-03-01"), "3"), 0).unwrap();
        assert_eq!(w.since, Date::parse("2024-03-01"));
        assert!(window(&flags(None, "not a version"), 0).is_err());
    }
}
