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
use crate::{usage, Failure};

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

pub fn parse_date(flag: &str, v: &Option<String>) -> Result<Option<Date>, Failure> {
    v.as_deref()
        .map(|s| Date::parse(s).ok_or_else(|| usage(format!("{flag} {s:?}: expected YYYY-MM-DD"))))
        .transpose()
}

/// A length of time, `90s`, `30m`, `1h`, `2d` or `1w`, in seconds.
#[cfg(feature = "sql")]
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

/// `--since`/`--until` of `query`: a day, or a time ago (`7d`, `12h`,
/// `2w`) counted back from `now` (seconds since the epoch, UTC).
#[cfg(feature = "sql")]
pub fn window(
    since: &Option<String>,
    until: &Option<String>,
    as_of: &Option<String>,
    now: i64,
) -> Result<traillake::query::Window, Failure> {
    let day = |flag: &str, v: &Option<String>| -> Result<Option<Date>, Failure> {
        let Some(v) = v.as_deref() else {
            return Ok(None);
        };
        if let Some(d) = Date::parse(v) {
            return Ok(Some(d));
        }
        let bad = || {
            usage(format!(
                "{flag} {v:?}: expected YYYY-MM-DD or a time ago such as 7d, 12h, 2w"
            ))
        };
        let (n, unit) = v.split_at(v.len().saturating_sub(1));
        let n: i64 = n.parse().map_err(|_| bad())?;
        let seconds = match unit {
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        let ago = n.checked_mul(seconds).filter(|s| *s >= 0).ok_or_else(bad)?;
        Ok(Some(Date::from_days((now - ago).div_euclid(86_400))))
    };
    let window = traillake::query::Window {
        since: day("--since", since)?,
        until: day("--until", until)?,
        as_of: match as_of {
            Some(s) => traillake::lake::delta::AsOf::parse(s).map_err(usage)?,
            None => traillake::lake::delta::AsOf::Latest,
        },
    };
    if let (Some(s), Some(u)) = (window.since, window.until) {
        if s > u {
            return Err(usage(format!("--since {s} is after --until {u}")));
        }
    }
    Ok(window)
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
    opts.filter = SourceFilter {
        since: parse_date("--since", &args.since)?,
        until: parse_date("--until", &args.until)?,
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

    #[cfg(feature = "sql")]
    #[test]
    fn a_window_is_days_or_a_time_ago() {
        // 2024-03-15T10:00:00Z
        let now = Date::parse("2024-03-15").unwrap().to_days() * 86_400 + 36_000;
        let w = window(&Some("7d".into()), &None, &None, now).unwrap();
        assert_eq!(w.since, Date::parse("2024-03-08"));
        assert_eq!(w.until, None);
        let w = window(&Some("11h".into()), &Some("2024-03-15".into()), &None, now).unwrap();
        assert_eq!(w.since, Date::parse("2024-03-14"));
        let w = window(&Some("2w".into()), &Some("1d".into()), &None, now).unwrap();
        assert_eq!(
            (w.since, w.until),
            (Date::parse("2024-03-01"), Date::parse("2024-03-14"))
        );
        assert!(window(&Some("7x".into()), &None, &None, now).is_err());
        assert!(window(&Some("-7d".into()), &None, &None, now).is_err());
        assert!(window(
            &Some("2024-03-10".into()),
            &Some("2024-03-01".into()),
            &None,
            now
        )
        .is_err());
    }
}
