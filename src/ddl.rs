//! Schema + lake layout + location -> Athena / Hive SQL text.
//!
//! Everything is rendered from [`schema::COLUMNS`], the same definition the
//! writer uses, so the table's columns are the files' columns. Statements are
//! separated by `;` and a blank line; each runs as is in Athena (engine v3)
//! and in Hive/Spark SQL (strip the `;` where a client wants one statement
//! without it, as Spark's `spark.sql` does).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::partition::PartitionKey;
use crate::schema::{self, Column, Kind, COLUMNS, PARTITION_COLUMNS};

/// How the table finds its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Athena partition projection: no partition maintenance at all.
    Projection,
    /// A plain Hive table, partitions registered by `MSCK REPAIR TABLE`
    /// (or explicit `ALTER TABLE ... ADD PARTITION`).
    Hive,
    /// The Delta table over the same files: the schema and partitions come
    /// from the log, so the statement names only the location.
    Delta,
}

/// What to print.
#[derive(Debug, Clone)]
pub struct DdlOptions {
    pub database: String,
    pub table: String,
    /// The lake's URL as the engine sees it (`s3://bucket/prefix`).
    pub location: String,
    pub style: Style,
    /// Hive style: explicit `ADD PARTITION` statements instead of `MSCK`.
    pub add_partitions: bool,
    /// Also a seed-style table over the raw logs at this URL.
    pub raw_source: Option<String>,
    /// Projection: accounts and regions beyond those in the lake, so that
    /// next month's new ones need no new DDL.
    pub extra_accounts: Vec<String>,
    pub extra_regions: Vec<String>,
    /// Projection: the last year to project (default: the lake's last).
    pub until_year: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum DdlError {
    #[error(
        "the lake has no partitions yet: run `traillake compact` first, or name the accounts \
         and regions to project with --account and --region"
    )]
    NothingToProject,
    #[error("{value:?} is not a valid partition value")]
    BadValue { value: String },
    #[error("--until-year {until} is before the lake's first year {first}")]
    UntilBeforeFirst { until: u32, first: u32 },
}

/// Hive type text of a column: `string`, `struct<a:string,...>`,
/// `array<struct<...>>`.
pub fn hive_type(kind: &Kind) -> String {
    match kind {
        Kind::Struct(children) => format!("struct<{}>", struct_members(children)),
        Kind::ListOfStruct(children) => format!("array<struct<{}>>", struct_members(children)),
        _ => "string".to_string(),
    }
}

fn struct_members(children: &[Column]) -> String {
    children
        .iter()
        .map(|c| format!("{}:{}", c.name, hive_type(&c.kind)))
        .collect::<Vec<_>>()
        .join(",")
}

fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn quote_str(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn column_comment(c: &Column) -> Option<&'static str> {
    match c.kind {
        Kind::CatchAll => {
            Some("JSON object of every field without a column of its own, nested as in the record")
        }
        Kind::SourceKey => Some("URL of the log object the row came from"),
        _ => None,
    }
}

/// A directory URL with exactly one trailing slash.
fn dir_url(url: &str) -> String {
    format!("{}/", url.trim_end_matches('/'))
}

fn create_table(out: &mut String, opts: &DdlOptions) {
    let name = format!(
        "{}.{}",
        quote_ident(&opts.database),
        quote_ident(&opts.table)
    );
    let _ = writeln!(out, "CREATE EXTERNAL TABLE IF NOT EXISTS {name} (");
    let cols: Vec<String> = COLUMNS
        .iter()
        .map(|c| {
            let mut line = format!("  {} {}", quote_ident(c.name), hive_type(&c.kind));
            if let Some(comment) = column_comment(c) {
                let _ = write!(line, " COMMENT {}", quote_str(comment));
            }
            line
        })
        .collect();
    let _ = writeln!(out, "{}", cols.join(",\n"));
    let _ = writeln!(out, ")");
    let _ = writeln!(
        out,
        "COMMENT 'AWS CloudTrail events, compacted by traillake'"
    );
    let parts: Vec<String> = PARTITION_COLUMNS
        .iter()
        .map(|p| format!("{} string", quote_ident(p)))
        .collect();
    let _ = writeln!(out, "PARTITIONED BY ({})", parts.join(", "));
    let _ = writeln!(out, "STORED AS PARQUET");
    let _ = write!(out, "LOCATION {}", quote_str(&dir_url(&opts.location)));
}

/// Renders every statement for a lake holding `partitions`.
/// DuckDB statements that open the lake at `url` (`file:///...` or
/// `s3://...`) as a view `cloudtrail`: every data file of every partition,
/// partition columns typed as strings as Athena's are (DuckDB would guess
/// BIGINT and drop an account id's leading zeros).
pub fn duckdb(url: &str) -> String {
    let root = url.strip_prefix("file://").unwrap_or(url);
    let glob = format!(
        "{root}/{}/*.parquet",
        PARTITION_COLUMNS
            .iter()
            .map(|c| format!("{c}=*"))
            .collect::<Vec<_>>()
            .join("/")
    );
    let types: Vec<String> = PARTITION_COLUMNS
        .iter()
        .map(|c| format!("'{c}': VARCHAR"))
        .collect();
    let mut out =
        String::from("-- The traillake lake as the view `cloudtrail` (DuckDB 1.1 or newer).\n");
    if url.starts_with("s3://") {
        out.push_str(
            "-- S3: credentials from the AWS chain, as the AWS CLI finds them.\n\
             INSTALL httpfs; LOAD httpfs; INSTALL aws; LOAD aws;\n\
             CREATE OR REPLACE SECRET traillake_s3 (TYPE s3, PROVIDER credential_chain);\n",
        );
    }
    out.push_str(&format!(
        "CREATE OR REPLACE VIEW cloudtrail AS\nSELECT * FROM read_parquet({},\n  \
         hive_partitioning = true,\n  hive_types = {{{}}},\n  union_by_name = true);\n",
        sql_string(&glob),
        types.join(", ")
    ));
    out
}

/// A SQL string literal.
fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub fn render(opts: &DdlOptions, partitions: &BTreeSet<PartitionKey>) -> Result<String, DdlError> {
    let mut statements = Vec::new();
    statements.push(format!(
        "CREATE DATABASE IF NOT EXISTS {}",
        quote_ident(&opts.database)
    ));
    let mut table = String::new();
    create_table(&mut table, opts);
    let name = format!(
        "{}.{}",
        quote_ident(&opts.database),
        quote_ident(&opts.table)
    );
    match opts.style {
        Style::Delta => {
            // Athena (engine v3) reads the schema, the partitions and each
            // file's statistics from the log.
            statements.push(format!(
                "CREATE EXTERNAL TABLE {name}\nLOCATION {}\nTBLPROPERTIES ('table_type' = 'DELTA')",
                quote_str(&dir_url(&opts.location))
            ));
        }
        Style::Projection => {
            table.push('\n');
            table.push_str(&projection_properties(opts, partitions)?);
            statements.push(table);
        }
        Style::Hive => {
            statements.push(table);
            if opts.add_partitions {
                let keys: Vec<&PartitionKey> = partitions.iter().collect();
                // One statement per 100 partitions keeps each well under
                // Athena's query-text limit.
                for chunk in keys.chunks(100) {
                    let mut s = format!("ALTER TABLE {name} ADD IF NOT EXISTS");
                    for k in chunk {
                        let spec: Vec<String> = PARTITION_COLUMNS
                            .iter()
                            .zip(k.values())
                            .map(|(c, v)| format!("{} = {}", quote_ident(c), quote_str(v)))
                            .collect();
                        let _ = write!(
                            s,
                            "\n  PARTITION ({}) LOCATION {}",
                            spec.join(", "),
                            quote_str(&dir_url(&format!(
                                "{}/{}",
                                opts.location.trim_end_matches('/'),
                                k.hive_path()
                            )))
                        );
                    }
                    statements.push(s);
                }
            } else {
                statements.push(format!("MSCK REPAIR TABLE {name}"));
            }
        }
    }
    if let Some(raw) = &opts.raw_source {
        statements.push(raw_table(opts, raw));
    }
    let mut out = statements.join(";\n\n") + ";\n";
    if opts.style == Style::Delta {
        let _ = writeln!(
            out,
            "\n-- Spark SQL (with delta-spark), the same table:\n-- CREATE TABLE IF NOT EXISTS \
             {name} USING DELTA LOCATION {}",
            quote_str(&dir_url(&opts.location))
        );
    }
    Ok(out)
}

fn projection_properties(
    opts: &DdlOptions,
    partitions: &BTreeSet<PartitionKey>,
) -> Result<String, DdlError> {
    let values = |f: fn(&PartitionKey) -> &str, extra: &[String]| -> BTreeSet<String> {
        partitions
            .iter()
            .map(|k| f(k).to_string())
            .chain(extra.iter().cloned())
            .collect()
    };
    let accounts = values(|k| &k.account, &opts.extra_accounts);
    let regions = values(|k| &k.region, &opts.extra_regions);
    if accounts.is_empty() || regions.is_empty() {
        return Err(DdlError::NothingToProject);
    }
    for v in accounts.iter().chain(&regions) {
        if !crate::partition::is_partition_value(v) {
            return Err(DdlError::BadValue { value: v.clone() });
        }
    }
    let years: BTreeSet<u32> = partitions
        .iter()
        .filter_map(|k| k.year.parse().ok())
        .collect();
    let first = years.first().copied().or(opts.until_year).unwrap_or(2013);
    let last = opts
        .until_year
        .into_iter()
        .chain(years.last().copied())
        .max()
        .unwrap_or(first);
    if last < first {
        return Err(DdlError::UntilBeforeFirst { until: last, first });
    }
    let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
    let template = format!(
        "{}/account=${{account}}/region=${{region}}/year=${{year}}/month=${{month}}/day=${{day}}/",
        opts.location.trim_end_matches('/')
    );
    let props = [
        ("projection.enabled", "true".to_string()),
        ("projection.account.type", "enum".to_string()),
        ("projection.account.values", join(&accounts)),
        ("projection.region.type", "enum".to_string()),
        ("projection.region.values", join(&regions)),
        ("projection.year.type", "integer".to_string()),
        ("projection.year.range", format!("{first},{last}")),
        ("projection.year.digits", "4".to_string()),
        ("projection.month.type", "integer".to_string()),
        ("projection.month.range", "1,12".to_string()),
        ("projection.month.digits", "2".to_string()),
        ("projection.day.type", "integer".to_string()),
        ("projection.day.range", "1,31".to_string()),
        ("projection.day.digits", "2".to_string()),
        ("storage.location.template", template),
    ];
    let body: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("  {}={}", quote_str(k), quote_str(v)))
        .collect();
    Ok(format!("TBLPROPERTIES (\n{}\n)", body.join(",\n")))
}

/// The seed's table over the raw logs (CloudTrail SerDe), to run the same
/// query against both.
fn raw_table(opts: &DdlOptions, raw: &str) -> String {
    let name = format!(
        "{}.{}",
        quote_ident(&opts.database),
        quote_ident(&format!("{}_raw", opts.table))
    );
    let seed_end = schema::column_index("recipientaccountid") + 1;
    let cols: Vec<String> = COLUMNS[..seed_end]
        .iter()
        .map(|c| format!("  {} {}", quote_ident(c.name), hive_type(&c.kind)))
        .collect();
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{}\n)\n\
         ROW FORMAT SERDE 'com.amazon.emr.hive.serde.CloudTrailSerde'\n\
         STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'\n\
         OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n\
         LOCATION {}",
        cols.join(",\n"),
        quote_str(&dir_url(raw))
    )
}

/// The partitions a lake holds, from its folder names.
#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: &str, r: &str, y: &str) -> PartitionKey {
        PartitionKey {
            account: a.into(),
            region: r.into(),
            year: y.into(),
            month: "01".into(),
            day: "15".into(),
        }
    }

    fn opts(style: Style) -> DdlOptions {
        DdlOptions {
            database: "traillake".into(),
            table: "cloudtrail".into(),
            location: "s3://bucket/lake".into(),
            style,
            add_partitions: false,
            raw_source: None,
            extra_accounts: vec![],
            extra_regions: vec![],
            until_year: None,
        }
    }

    #[test]
    fn projection_lists_the_lakes_accounts_regions_and_years() {
        let parts = BTreeSet::from([
            key("111", "us-east-1", "2023"),
            key("222", "eu-west-1", "2024"),
        ]);
        let mut o = opts(Style::Projection);
        o.extra_regions = vec!["ap-south-2".into()];
        let sql = render(&o, &parts).unwrap();
        assert!(
            sql.contains("'projection.account.values'='111,222'"),
            "{sql}"
        );
        assert!(sql.contains("'projection.region.values'='ap-south-2,eu-west-1,us-east-1'"));
        assert!(sql.contains("'projection.year.range'='2023,2024'"));
        assert!(sql.contains(
            "'storage.location.template'='s3://bucket/lake/account=${account}/region=${region}/year=${year}/month=${month}/day=${day}/'"
        ));
        assert!(sql.contains("LOCATION 's3://bucket/lake/'"));
        assert!(!sql.contains("MSCK"));
    }

    #[test]
    fn delta_style_names_the_location_and_the_table_type_only() {
        let sql = render(&opts(Style::Delta), &BTreeSet::new()).unwrap();
        assert!(sql.contains(
            "CREATE EXTERNAL TABLE `traillake`.`cloudtrail`\nLOCATION 's3://bucket/lake/'\n\
             TBLPROPERTIES ('table_type' = 'DELTA');"
        ));
        assert!(!sql.contains("PARTITIONED BY"), "{sql}");
        assert!(sql.contains("USING DELTA LOCATION 's3://bucket/lake/'"));
    }

    #[test]
    fn projection_needs_partitions_or_named_values() {
        assert!(render(&opts(Style::Projection), &BTreeSet::new()).is_err());
    }

    #[test]
    fn hive_style_repairs_or_adds_each_partition() {
        let parts = BTreeSet::from([key("111", "us-east-1", "2023")]);
        let sql = render(&opts(Style::Hive), &parts).unwrap();
        assert!(sql.contains("MSCK REPAIR TABLE `traillake`.`cloudtrail`;"));
        assert!(!sql.contains("projection"));
        let mut o = opts(Style::Hive);
        o.add_partitions = true;
        let sql = render(&o, &parts).unwrap();
        assert!(sql.contains(
            "PARTITION (`account` = '111', `region` = 'us-east-1', `year` = '2023', `month` = '01', `day` = '15') LOCATION 's3://bucket/lake/account=111/region=us-east-1/year=2023/month=01/day=15/'"
        ), "{sql}");
    }

    #[test]
    fn types_follow_the_schema() {
        assert_eq!(
            hive_type(&COLUMNS[schema::column_index("resources")].kind),
            "array<struct<arn:string,accountid:string,type:string>>"
        );
    }
}
