//! `config.toml` -> validated [`Config`]. Pure: no I/O but reading the file
//! it is given; relative paths in it are taken relative to the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

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
}

/// Settings after validation, before command-line flags override them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub source: Option<String>,
    pub lake: Option<String>,
    pub compression: Option<String>,
    pub string_encoding: Option<String>,
    pub target_file_mb: Option<u64>,
    pub row_group_rows: Option<usize>,
    pub memory_budget_mb: Option<usize>,
    pub chunk_mb: Option<u64>,
    pub threads: Option<usize>,
    pub database: Option<String>,
    pub table: Option<String>,
    /// Athena's price per TB scanned, USD.
    pub price_per_tb: Option<f64>,
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
        if let Some(c) = &raw.compact.compression {
            crate::sink::WriteOptions::parse_compression(c).map_err(invalid)?;
        }
        if let Some(e) = &raw.compact.string_encoding {
            crate::sink::StringEncoding::parse(e).map_err(invalid)?;
        }
        if raw.compact.target_file_mb == Some(0) {
            return Err(invalid("compact.target_file_mb must be at least 1".into()));
        }
        if raw.compact.chunk_mb == Some(0) {
            return Err(invalid("compact.chunk_mb must be at least 1".into()));
        }
        if raw.compact.row_group_rows == Some(0) {
            return Err(invalid("compact.row_group_rows must be at least 1".into()));
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
        Ok(Self {
            source: resolve(raw.source),
            lake: resolve(raw.lake),
            compression: raw.compact.compression,
            string_encoding: raw.compact.string_encoding,
            target_file_mb: raw.compact.target_file_mb,
            row_group_rows: raw.compact.row_group_rows,
            memory_budget_mb: raw.compact.memory_budget_mb,
            chunk_mb: raw.compact.chunk_mb,
            threads: raw.compact.threads.filter(|&t| t > 0),
            database: raw.ddl.database,
            table: raw.ddl.table,
            price_per_tb: raw.scan_cost.price_per_tb,
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
        assert_eq!(c.threads, None);
    }

    #[test]
    fn bad_values_name_the_file() {
        let e = Config::parse("[compact]\ncompression = \"lzma\"", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml: bad compression"), "{e}");
        let e = Config::parse("[compact]\nstring_encoding = \"rle\"", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml: bad string encoding"), "{e}");
        let e = Config::parse("sorce = \"x\"", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field"), "{e}");
    }
}
