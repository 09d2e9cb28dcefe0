//! `config.toml` -> validated, typed [`Config`]. Pure: no I/O but reading
//! the file it is given; relative paths in it are taken relative to the
//! file. Every value is parsed and checked here, once: the settings that
//! flags override are already typed.

use std::path::{Path, PathBuf};

use parquet::basic::Compression;
use serde::Deserialize;

use crate::sink::{StringEncoding, WriteOptions};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {reason}")]
    Invalid { file: String, reason: String },
}

/// The file as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    source: Option<String>,
    lake: Option<String>,
    #[serde(default)]
    compact: RawCompact,
    #[serde(default)]
    ddl: RawDdl,
    #[serde(default)]
    scan_cost: RawScanCost,
    #[serde(default)]
    query: RawQuery,
    #[serde(default)]
    delta: RawDelta,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelta {
    enabled: Option<bool>,
    checkpoint_interval: Option<u32>,
    log_retention_days: Option<u32>,
    keep_replaced_hours: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    tables: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScanCost {
    price_per_tb: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDdl {
    database: Option<String>,
    table: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompact {
    compression: Option<String>,
    string_encoding: Option<String>,
    target_file_mb: Option<u64>,
    row_group_rows: Option<usize>,
    memory_budget_mb: Option<usize>,
    chunk_mb: Option<u64>,
    threads: Option<usize>,
    lookback_days: Option<u32>,
    max_file_mb: Option<usize>,
    merge_files: Option<usize>,
    lease_timeout_secs: Option<u64>,
    spill_dir: Option<String>,
    spill_compression: Option<String>,
    shard_by: Option<String>,
}

/// How `--shard` splits the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardBy {
    /// Whole source folders (account, region, day): duplicate deliveries,
    /// which CloudTrail makes into the same folder, meet in one shard.
    Folder,
    /// Single objects: a hot folder is spread over every shard.
    Object,
}

/// `[compact]` settings after validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactConfig {
    pub compression: Option<Compression>,
    pub string_encoding: Option<StringEncoding>,
    pub target_file_mb: Option<u64>,
    pub row_group_rows: Option<usize>,
    pub memory_budget_mb: Option<usize>,
    pub chunk_mb: Option<u64>,
    /// 0 = every core.
    pub threads: Option<usize>,
    pub lookback_days: Option<u32>,
    pub max_file_mb: Option<usize>,
    pub merge_files: Option<usize>,
    pub lease_timeout_secs: Option<u64>,
    pub spill_dir: Option<PathBuf>,
    pub spill_compression: Option<crate::compact::spill::SpillCodec>,
    pub shard_by: Option<ShardBy>,
}

/// Worker threads a run takes at most.
pub const MAX_THREADS: usize = 1024;

/// Settings after validation, before command-line flags override them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub source: Option<String>,
    pub lake: Option<String>,
    pub compact: CompactConfig,
    pub database: Option<String>,
    pub table: Option<String>,
    /// Athena's price per TB scanned, USD.
    pub price_per_tb: Option<f64>,
    /// `[query] tables`: more names saved queries give the lake's table
    /// (`table` or `db.table`).
    pub query_tables: Vec<String>,
    /// `[delta]`: the Delta log over the lake.
    pub delta: crate::lake::delta::DeltaSettings,
}

impl ShardBy {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "folder" => Ok(Self::Folder),
            "object" => Ok(Self::Object),
            _ => Err(format!("bad shard_by {s:?}: use folder or object")),
        }
    }
}

impl Config {
    /// Parses config text; `file` resolves relative locations and names the
    /// file in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            file: file.display().to_string(),
            reason,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        let resolve = |s: Option<String>| s.map(|s| resolve_location(base, &s));
        let c = raw.compact;
        let at_least_one = |name: &str, v: Option<u64>| match v {
            Some(0) => Err(invalid(format!("compact.{name} must be at least 1"))),
            _ => Ok(()),
        };
        at_least_one("target_file_mb", c.target_file_mb)?;
        at_least_one("chunk_mb", c.chunk_mb)?;
        at_least_one("row_group_rows", c.row_group_rows.map(|v| v as u64))?;
        at_least_one("memory_budget_mb", c.memory_budget_mb.map(|v| v as u64))?;
        at_least_one("max_file_mb", c.max_file_mb.map(|v| v as u64))?;
        at_least_one("lease_timeout_secs", c.lease_timeout_secs)?;
        // Upper bounds: a value past them is a typo or a unit mistake, and
        // would hang a run (100,000 threads) or take the machine.
        let at_most = |name: &str, v: Option<u64>, max: u64, unit: &str| match v {
            Some(v) if v > max => Err(invalid(format!(
                "compact.{name} = {v} is more than {max}{unit}, the most it takes"
            ))),
            _ => Ok(()),
        };
        at_most(
            "threads",
            c.threads.map(|v| v as u64),
            MAX_THREADS as u64,
            "",
        )?;
        at_most("target_file_mb", c.target_file_mb, 4096, " MiB")?;
        at_most("chunk_mb", c.chunk_mb, 4096, " MiB")?;
        at_most(
            "row_group_rows",
            c.row_group_rows.map(|v| v as u64),
            16 << 20,
            "",
        )?;
        at_most(
            "memory_budget_mb",
            c.memory_budget_mb.map(|v| v as u64),
            1 << 20,
            " MiB",
        )?;
        at_most("max_file_mb", c.max_file_mb.map(|v| v as u64), 4096, " MiB")?;
        at_most("lease_timeout_secs", c.lease_timeout_secs, 86_400, " s")?;
        at_most("merge_files", c.merge_files.map(|v| v as u64), 1024, "")?;
        if c.merge_files.is_some_and(|n| n < 2) {
            return Err(invalid("compact.merge_files must be at least 2".into()));
        }
        if raw
            .scan_cost
            .price_per_tb
            .is_some_and(|p| !p.is_finite() || p < 0.0)
        {
            return Err(invalid(
                "scan_cost.price_per_tb must be a price in USD, 0 or more".into(),
            ));
        }
        let compact = CompactConfig {
            compression: c
                .compression
                .as_deref()
                .map(WriteOptions::parse_compression)
                .transpose()
                .map_err(invalid)?,
            string_encoding: c
                .string_encoding
                .as_deref()
                .map(StringEncoding::parse)
                .transpose()
                .map_err(invalid)?,
            target_file_mb: c.target_file_mb,
            row_group_rows: c.row_group_rows,
            memory_budget_mb: c.memory_budget_mb,
            chunk_mb: c.chunk_mb,
            threads: c.threads,
            lookback_days: c.lookback_days,
            max_file_mb: c.max_file_mb,
            merge_files: c.merge_files,
            lease_timeout_secs: c.lease_timeout_secs,
            spill_dir: c.spill_dir.map(|d| base.join(d)),
            spill_compression: c
                .spill_compression
                .as_deref()
                .map(crate::compact::spill::SpillCodec::parse)
                .transpose()
                .map_err(invalid)?,
            shard_by: c
                .shard_by
                .as_deref()
                .map(ShardBy::parse)
                .transpose()
                .map_err(invalid)?,
        };
        let d = raw.delta;
        let defaults = crate::lake::delta::DeltaSettings::default();
        for (name, v, min, max) in [
            ("checkpoint_interval", d.checkpoint_interval, 1, 100_000),
            ("log_retention_days", d.log_retention_days, 1, 36_500),
            ("keep_replaced_hours", d.keep_replaced_hours, 0, 87_600),
        ] {
            if let Some(v) = v.filter(|v| *v < min || *v > max) {
                return Err(invalid(format!(
                    "delta.{name} = {v}: expected {min} to {max}"
                )));
            }
        }
        let delta = crate::lake::delta::DeltaSettings {
            enabled: d.enabled.unwrap_or(defaults.enabled),
            checkpoint_interval: d
                .checkpoint_interval
                .unwrap_or(defaults.checkpoint_interval),
            log_retention_days: d.log_retention_days.unwrap_or(defaults.log_retention_days),
            keep_replaced_hours: d
                .keep_replaced_hours
                .unwrap_or(defaults.keep_replaced_hours),
        };
        Ok(Self {
            delta,
            source: resolve(raw.source),
            lake: resolve(raw.lake),
            compact,
            database: raw.ddl.database,
            table: raw.ddl.table,
            price_per_tb: raw.scan_cost.price_per_tb,
            query_tables: {
                let tables = raw.query.tables.unwrap_or_default();
                if let Some(bad) = tables.iter().find(|t| {
                    t.trim().is_empty()
                        || t.split('.').count() > 3
                        || t.split('.').any(str::is_empty)
                }) {
                    return Err(invalid(format!(
                        "query.tables: {bad:?} is not a table name (`table`, `db.table` or `catalog.db.table`)"
                    )));
                }
                tables
            },
        })
    }

    /// Reads `path`; a missing default config is not an error.
    pub fn load(path: &Path, must_exist: bool) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Self::default())
            }
            Err(e) => Err(ConfigError::Invalid {
                file: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

/// A relative local path in a config file is relative to that file.
fn resolve_location(base: &Path, s: &str) -> String {
    if s.contains("://") || Path::new(s).is_absolute() {
        return s.to_string();
    }
    let p: PathBuf = base.join(s);
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_config_file() {
        let c = Config::parse(
            "source = \"examples/flaws2\"\nlake = \"s3://b/l\"\n[compact]\nthreads = 0\n",
            Path::new("/repo/config.toml"),
        )
        .unwrap();
        assert_eq!(c.source.as_deref(), Some("/repo/examples/flaws2"));
        assert_eq!(c.lake.as_deref(), Some("s3://b/l"));
        assert_eq!(c.compact.threads, Some(0));
        let err = Config::parse(
            "source = \"x\"\nlake = \"y\"\n[compact]\nthreads = 100000\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("compact.threads = 100000 is more than 1024"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_the_file() {
        for (text, want) in [
            (
                "[compact]\ncompression = \"lzma\"",
                "c.toml: bad compression",
            ),
            (
                "[compact]\nstring_encoding = \"rle\"",
                "c.toml: bad string encoding",
            ),
            ("[compact]\nshard_by = \"day\"", "c.toml: bad shard_by"),
            ("[compact]\nmerge_files = 1", "c.toml: compact.merge_files"),
            (
                "[compact]\nmemory_budget_mb = 0",
                "c.toml: compact.memory_budget_mb",
            ),
        ] {
            let e = Config::parse(text, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{e}");
        }
        let e = Config::parse("sorce = \"x\"", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field"), "{e}");
    }
}
