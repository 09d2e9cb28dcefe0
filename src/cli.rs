//! Command-line flags (clap derive). The only place that knows about flags;
//! `main` resolves them against the config into library options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "traillake",
    version,
    about = "Compact raw AWS CloudTrail logs into a Hive-partitioned Parquet lake"
)]
pub struct Cli {
    /// Config file (default: ./config.toml, if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// AWS profile of ~/.aws/config and ~/.aws/credentials for s3://
    /// locations (default: AWS_PROFILE, else `default`), as the AWS CLI's
    /// --profile. Log in to an SSO profile first with `aws sso login`.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// No progress on stderr (errors and warnings still go there).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Raw logs -> partitioned Parquet, incremental (the nightly job).
    Compact(CompactArgs),
    /// Print the Athena / Hive DDL (database, table, partitions) for a lake.
    Ddl(DdlArgs),
    /// Run SQL (or a preset) against the lake; the table is `cloudtrail`.
    Query(QueryArgs),
    /// Run Sigma rules over the lake: one alert per matching event.
    Detect(DetectArgs),
    /// Bytes and dollars a query set would scan in Athena: raw logs vs lake.
    ScanCost(ScanCostArgs),
    /// Check the lake against what its runs recorded (read-only): missing,
    /// changed, unreadable or foreign files, damaged state. Exit 1 with a
    /// list when anything is lost or unreadable.
    Verify(VerifyArgs),
    /// Put the lake right from the source: set aside what is unreadable or
    /// foreign, read again the source folders of damaged partitions, then
    /// compact. Idempotent; safe to kill and run again.
    Repair(RepairArgs),
    /// Fetch AWS's published address ranges (ip-ranges.json) for `detect
    /// --ip-ranges`, so AWS's own addresses do not count as outside AWS.
    IpRanges(IpRangesArgs),
    /// Write synthetic CloudTrail logs in the real S3 layout.
    Generate(GenerateArgs),
    /// Print the statements that open the lake in another engine (DuckDB),
    /// with the right types, as a view named `cloudtrail`.
    Connect(ConnectArgs),
    /// The table's versions (its Delta log): run, time and counts, newest
    /// first.
    History(HistoryArgs),
    /// Print shell completions: `traillake completions bash > ...`.
    Completions(CompletionsArgs),
    /// Print the man page (roff): `traillake manpage > traillake.1`.
    Manpage,
}

#[derive(Debug, Args)]
pub struct IpRangesArgs {
    /// Write it here (default: stdout).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Where AWS publishes it.
    #[arg(long, value_name = "URL", default_value = IP_RANGES_URL)]
    pub url: String,
}

/// AWS's published address ranges.
pub const IP_RANGES_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The lake (default: config `lake`).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
    /// At most this many versions, newest first.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// `table` for people, `json` (one version per line) for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub format: AlertFormat,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The lake (default: config `lake`).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
    /// Print the findings as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The raw logs the lake was made from (default: config `source`).
    #[arg(long, value_name = "SRC")]
    pub source: Option<String>,
    /// The lake (default: config `lake`).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
    /// Print what was done as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The engine to open the lake in.
    #[arg(value_enum)]
    pub engine: Engine,
    /// The lake (default: config `lake`).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
}

/// Engines `connect` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// DuckDB: a view over read_parquet with Hive partitions as strings.
    Duckdb,
}

#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// The lake (default: config `lake`).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
    /// SQL over the table `cloudtrail`: one statement or several separated
    /// by `;`, comments allowed; `-` reads it from standard input. Without
    /// SQL, --file or --preset, and on a terminal: an interactive prompt.
    #[arg(
        value_name = "SQL",
        allow_hyphen_values = true,
        conflicts_with_all = ["preset", "list_presets", "file"]
    )]
    pub sql: Option<String>,
    /// Read the SQL from FILE (`-` for standard input).
    #[arg(long, short = 'f', value_name = "FILE", conflicts_with_all = ["preset", "list_presets"])]
    pub file: Option<PathBuf>,
    /// Run a named query (see --list-presets).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// A preset parameter, key=value (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// List the presets and their parameters.
    #[arg(long)]
    pub list_presets: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also print partitions and files kept and pruned, row groups pruned
    /// and bytes scanned (on stderr).
    #[arg(long)]
    pub explain: bool,
    /// AWS's published ip-ranges.json, for `is_aws_address` and the
    /// role-outside-aws preset.
    #[arg(long, value_name = "FILE")]
    pub ip_ranges: Option<PathBuf>,
    #[command(flatten)]
    pub days: EventDays,
    /// Memory the query may hold, in MiB (default: config
    /// compact.memory_budget_mb, 512): sorts and aggregations spill to disk
    /// within it; a query that needs more stops with a clear error.
    #[arg(long, value_name = "MIB")]
    pub memory: Option<usize>,
    /// Stop a query that runs longer than this many seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

/// The events `query` and `detect` read: event days (the lake's
/// partitions, UTC), and the lake's version.
#[derive(Debug, Clone, Args)]
pub struct EventDays {
    /// Only events of the days from this one on (UTC): YYYY-MM-DD, or a
    /// time ago such as `7d`, `12h`, `2w`. Event days: only those partition
    /// folders are read, for presets, SQL and rules alike (compact's
    /// --since is the days CloudTrail delivered in).
    #[arg(long, value_name = "DATE|AGO")]
    pub since: Option<String>,
    /// Only events of the days up to this one (inclusive), as --since.
    #[arg(long, value_name = "DATE|AGO")]
    pub until: Option<String>,
    /// Read the lake as it was: a Delta version (see `traillake history`)
    /// or a UTC time (2024-06-01T12:00:00Z; a day alone means its end), to
    /// see what a query or detection saw then.
    #[arg(long, value_name = "VERSION|TIME")]
    pub as_of: Option<String>,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// The lake (default: config `lake`).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
    /// Sigma rule files or folders of them (`.yml`/`.yaml`, recursive);
    /// repeatable. They run with traillake's own rules (the seed's alert
    /// signals) unless --no-builtin.
    #[arg(long, value_name = "DIR|FILE", num_args = 1..)]
    pub rules: Vec<PathBuf>,
    /// Run only the --rules given, not traillake's own.
    #[arg(long)]
    pub no_builtin: bool,
    #[command(flatten)]
    pub days: EventDays,
    /// `table`: one line per incident (alerts sharing an identity, access
    /// key or source IP within --gap); `incidents`: one JSON object per
    /// incident with its alerts; `json`: one JSON object per alert, for a
    /// SIEM; `html`: a self-contained report with a timeline per incident.
    #[arg(long, value_enum, default_value = "table")]
    pub format: DetectFormat,
    /// Alerts sharing an actor are one incident when one starts within
    /// this long of the other's end: `30m`, `1h` (default), `2d`.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub gap: String,
    /// With the table: each incident's rules and events below it.
    #[arg(long, short)]
    pub verbose: bool,
    /// Memory each rule's query may hold, in MiB (default: config
    /// compact.memory_budget_mb, 512); a rule that needs more is named,
    /// and the others run.
    #[arg(long, value_name = "MIB")]
    pub memory: Option<usize>,
    /// Print each rule's SQL (and the rules without one) instead of
    /// running them.
    #[arg(long)]
    pub explain: bool,
    /// AWS's published ip-ranges.json, for the `%aws_ip_ranges%`
    /// placeholder (`expand`).
    #[arg(long, value_name = "FILE")]
    pub ip_ranges: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DetectFormat {
    Table,
    Incidents,
    Json,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlertFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ScanCostArgs {
    /// The raw logs the lake was compacted from (default: config `source`).
    #[arg(long, value_name = "SRC")]
    pub source: Option<String>,
    /// The lake (default: config `lake`).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
    /// One SQL statement per line (blank lines and `--` comments skipped);
    /// default: every preset.
    #[arg(long, value_name = "FILE")]
    pub queries: Option<PathBuf>,
    /// A preset parameter for the built-in set, key=value (repeatable);
    /// default: the lake's newest day and its busiest source IP.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: CostFormat,
    /// Athena's price per TB scanned, in USD (default: config
    /// `scan_cost.price_per_tb`, else 5.0).
    #[arg(long, value_name = "USD")]
    pub price_per_tb: Option<f64>,
    /// AWS's published ip-ranges.json, for queries using `is_aws_address`.
    #[arg(long, value_name = "FILE")]
    pub ip_ranges: Option<PathBuf>,
}

/// Output format of `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// RFC 4180 with a header row.
    Csv,
    /// One JSON object per row, columns in SELECT order.
    Json,
}

/// How the DDL's table finds its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Style {
    /// Athena partition projection: no partition maintenance at all.
    Projection,
    /// A plain Hive table, partitions registered by MSCK REPAIR TABLE.
    Hive,
    /// The Delta table over the same files (Athena engine v3, Spark):
    /// whole runs only, older versions readable.
    Delta,
}

impl From<Style> for traillake::ddl::Style {
    fn from(s: Style) -> Self {
        match s {
            Style::Projection => Self::Projection,
            Style::Hive => Self::Hive,
            Style::Delta => Self::Delta,
        }
    }
}

/// Output format of `scan-cost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CostFormat {
    /// Aligned columns, for people.
    Table,
    /// One JSON object per query, one per line.
    Json,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?}: expected key=value"))
}

#[derive(Debug, Args)]
pub struct DdlArgs {
    /// The lake to describe (default: config `lake`); its partitions give the
    /// projected accounts, regions and years, or the partitions to add.
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
    /// The lake's URL as the engine sees it, when it differs from --lake
    /// (e.g. a local lake synced to s3://bucket/prefix).
    #[arg(long, value_name = "URL")]
    pub location: Option<String>,
    /// projection: Athena partition projection; hive: plain table + MSCK
    /// REPAIR; delta: the Delta table (Athena and Spark statements).
    #[arg(long, value_enum, default_value = "projection")]
    pub style: Style,
    /// With --style hive: one ALTER TABLE ADD PARTITION per partition in the lake.
    #[arg(long)]
    pub add_partitions: bool,
    /// Database name (default: config `ddl.database`, else `traillake`).
    #[arg(long)]
    pub database: Option<String>,
    /// Table name (default: config `ddl.table`, else `cloudtrail`).
    #[arg(long)]
    pub table: Option<String>,
    /// Also print the seed-style table over the raw logs at this URL.
    #[arg(long, value_name = "URL")]
    pub raw_source: Option<String>,
    /// Projection: an account to project beyond those in the lake (repeatable).
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    /// Projection: a region to project beyond those in the lake (repeatable).
    #[arg(long = "region", value_name = "R")]
    pub regions: Vec<String>,
    /// Projection: last year to project (default: the lake's last year).
    #[arg(long, value_name = "YYYY")]
    pub until_year: Option<u32>,
}

#[derive(Debug, Default, Args)]
pub struct CompactArgs {
    /// Raw logs: a path, file:// URL or s3://bucket/prefix (default: config `source`).
    #[arg(long, value_name = "SRC")]
    pub source: Option<String>,
    /// The lake: a path, file:// URL or s3://bucket/prefix (default: config `lake`).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
    /// List every day folder of the source, not only those in the window
    /// the lake's state gives (a repair: objects that landed in old
    /// folders after their window passed).
    #[arg(long)]
    pub full_scan: bool,
    /// Only the source's day folders from this one on: YYYY-MM-DD, or a
    /// time ago such as `3d`, `2w`. Delivery days: CloudTrail files a log
    /// under the day it delivers it, so a late event's file lands in a
    /// newer folder (query's --since is event days).
    #[arg(long, value_name = "DATE|AGO")]
    pub since: Option<String>,
    /// Only the source's day folders up to this one (inclusive), as --since.
    #[arg(long, value_name = "DATE|AGO")]
    pub until: Option<String>,
    /// Only this account's folders (repeatable).
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    /// Only this region's folders (repeatable).
    #[arg(long = "region", value_name = "R")]
    pub regions: Vec<String>,
    /// Worker threads (default: all cores; 0 also means all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// List what would be read, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the run report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when any input was quarantined.
    #[arg(long)]
    pub strict: bool,
    /// Also read CloudTrail-Insight/ objects.
    #[arg(long)]
    pub include_insights: bool,
    /// Parquet compression: zstd, zstd(N), snappy or none.
    #[arg(long, value_name = "CODEC")]
    pub compression: Option<String>,
    /// Encoding of the many-valued string columns: delta (smaller; Athena
    /// engine 3, Trino, Spark 3.4+, DuckDB) or plain (any reader).
    #[arg(long, value_name = "delta|plain")]
    pub string_encoding: Option<String>,
    /// Process one shard of the work: K/N, or N with K from
    /// AWS_BATCH_JOB_ARRAY_INDEX / JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// How shards split the work: whole source folders (default), or
    /// single objects, so one busy folder spreads over every shard.
    #[arg(long, value_name = "folder|object")]
    pub shard_by: Option<String>,
    /// Target size of a lake file, in MiB.
    #[arg(long, value_name = "MIB")]
    pub target_file_mb: Option<u64>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output folder; logs go under OUT/AWSLogs/...
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 2)]
    pub accounts: usize,
    #[arg(long, default_value_t = 2)]
    pub regions: usize,
    #[arg(long, default_value_t = 2)]
    pub days: usize,
    /// First day (YYYY-MM-DD).
    #[arg(long, default_value = "2024-01-15")]
    pub start: String,
    /// Events per account, region and day.
    #[arg(long, default_value_t = 500)]
    pub events_per_day: usize,
    /// Log files per account, region and day, each an equal slice of it
    /// (CloudTrail delivers one about every five minutes).
    #[arg(long, default_value_t = 288)]
    pub files_per_day: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}
