//! The `traillake` binary: parse flags, load config, call the library, map
//! errors to exit codes (0 ok, 1 the run failed, 2 bad usage or config).

mod cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use traillake::compact::{self, CompactError, CompactOptions};
use traillake::config::Config;
use traillake::config::ShardBy;
use traillake::ddl;
use traillake::generate::{self, GenerateOptions};
use traillake::partition::Date;
use traillake::sink::{StringEncoding, WriteOptions};
use traillake::source::SourceFilter;
use traillake::store::Location;

use cli::{Cli, Command, CompactArgs, CostFormat, DdlArgs, GenerateArgs, QueryArgs, ScanCostArgs};

/// An error and the exit code it means.
struct Failure {
    code: u8,
    message: String,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("traillake: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, Failure> {
    let config = match &cli.config {
        Some(p) => Config::load(p, true),
        None => Config::load(&PathBuf::from("config.toml"), false),
    }
    .map_err(|e| usage(e.to_string()))?;
    match cli.command {
        Command::Compact(args) => compact(args, &config),
        Command::Ddl(args) => ddl(args, &config),
        Command::Query(args) => query(args, &config),
        Command::ScanCost(args) => scan_cost(args, &config),
        Command::Generate(args) => generate(args),
    }
}

fn parse_date(flag: &str, v: &Option<String>) -> Result<Option<Date>, Failure> {
    v.as_deref()
        .map(|s| Date::parse(s).ok_or_else(|| usage(format!("{flag} {s:?}: expected YYYY-MM-DD"))))
        .transpose()
}

fn compact_options(args: &CompactArgs, config: &Config) -> Result<CompactOptions, Failure> {
    let source = args
        .source
        .clone()
        .or_else(|| config.source.clone())
        .ok_or_else(|| usage("compact needs --source (or `source` in config.toml)"))?;
    let lake = args
        .lake
        .clone()
        .or_else(|| config.lake.clone())
        .ok_or_else(|| usage("compact needs --lake (or `lake` in config.toml)"))?;
    let source = Location::parse(&source, false).map_err(|e| usage(e.to_string()))?;
    let lake = if args.dry_run {
        Location::parse_maybe_missing(&lake)
    } else {
        Location::parse(&lake, true)
    }
    .map_err(|e| usage(e.to_string()))?;
    let c = &config.compact;
    let mut opts = CompactOptions::new(source, lake);
    opts.filter = SourceFilter {
        since: parse_date("--since", &args.since)?,
        until: parse_date("--until", &args.until)?,
        accounts: args.accounts.clone(),
        regions: args.regions.clone(),
        include_insights: args.include_insights,
    };
    opts.full_scan = args.full_scan;
    if let Some(t) = args.threads.or(c.threads).filter(|&t| t > 0) {
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
        opts.memory_budget = mb << 20;
        opts.max_file_bytes = traillake::compact::max_file_bytes(opts.memory_budget);
    }
    if let Some(mb) = c.max_file_mb {
        opts.max_file_bytes = (mb << 20).min(traillake::source::MAX_DECOMPRESSED);
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
    opts.progress = std::io::stderr().is_terminal();
    Ok(opts)
}

fn compact(args: CompactArgs, config: &Config) -> Result<u8, Failure> {
    let opts = compact_options(&args, config)?;
    let report = compact::compact(&opts).map_err(|e| Failure {
        code: match e {
            CompactError::Location(_) | CompactError::LakeInsideSource { .. } => 2,
            _ => 1,
        },
        message: e.to_string(),
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("report serializes")
        );
    }
    // A few lines by name, escaped; the rest are in the quarantine file.
    const SHOWN: usize = 20;
    for q in report.quarantined.iter().take(SHOWN) {
        match q.record {
            Some(r) => eprintln!("quarantined: {}: record {r}: {}", q.key, q.reason),
            None => eprintln!("quarantined: {}: {}", q.key, q.reason),
        }
    }
    let total = report.files_quarantined + report.records_quarantined + report.folders_quarantined;
    if total > SHOWN as u64 {
        eprintln!("quarantined: ... and {} more", total - SHOWN as u64);
    }
    eprintln!("{}", report.summary());
    if total > 0 && !report.dry_run {
        eprintln!(
            "traillake: {} file(s), {} record(s) and {} folder(s) quarantined; see {}/_traillake/quarantine/{}.jsonl",
            report.files_quarantined,
            report.records_quarantined,
            report.folders_quarantined,
            report.lake,
            report.run_id
        );
        if args.strict {
            return Ok(1);
        }
    }
    Ok(0)
}

fn ddl(args: DdlArgs, config: &Config) -> Result<u8, Failure> {
    let lake = args
        .lake
        .or_else(|| config.lake.clone())
        .ok_or_else(|| usage("ddl needs --lake (or `lake` in config.toml)"))?;
    let partitions = ddl::lake_partitions(&lake).map_err(usage)?;
    let location = match args.location {
        Some(l) => l,
        None => {
            traillake::store::Location::parse(&lake, false)
                .map_err(|e| usage(e.to_string()))?
                .url
        }
    };
    if args.add_partitions && args.style != ddl::Style::Hive {
        return Err(usage("--add-partitions goes with --style hive"));
    }
    let opts = ddl::DdlOptions {
        database: args
            .database
            .or_else(|| config.database.clone())
            .unwrap_or_else(|| "traillake".to_string()),
        table: args
            .table
            .or_else(|| config.table.clone())
            .unwrap_or_else(|| "cloudtrail".to_string()),
        location,
        style: args.style,
        add_partitions: args.add_partitions,
        raw_source: args.raw_source,
        extra_accounts: args.accounts,
        extra_regions: args.regions,
        until_year: args.until_year,
    };
    let sql = ddl::render(&opts, &partitions).map_err(|e| usage(e.to_string()))?;
    emit(&sql)?;
    Ok(0)
}

fn query(args: QueryArgs, config: &Config) -> Result<u8, Failure> {
    use traillake::query;
    if args.list_presets {
        emit(&query::list_presets())?;
        return Ok(0);
    }
    let lake = args
        .lake
        .or_else(|| config.lake.clone())
        .ok_or_else(|| usage("query needs --lake (or `lake` in config.toml)"))?;
    let sql = match (&args.sql, &args.preset) {
        (Some(sql), None) => {
            if !args.params.is_empty() {
                return Err(usage("--param goes with --preset"));
            }
            sql.clone()
        }
        (None, Some(name)) => {
            query::preset_sql(name, &args.params).map_err(|e| usage(e.to_string()))?
        }
        _ => {
            return Err(usage(
                "query needs SQL or --preset NAME (--list-presets lists them)",
            ))
        }
    };
    let ranges = aws_ranges(args.ip_ranges.as_deref(), sql.contains("is_aws_address"))?;
    let result = query::run(&lake, &sql, ranges).map_err(query_failure)?;
    let text = query::render(&result.batches, args.format).map_err(|e| Failure {
        code: 1,
        message: e.to_string(),
    })?;
    emit(&text)?;
    if args.explain {
        eprint!("{}", result.scan.render());
    }
    Ok(0)
}

/// Writes results to stdout. A reader that went away (`| head`) ends the
/// output quietly, as with other command-line tools; other errors fail.
fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure {
            code: 1,
            message: format!("writing results: {e}"),
        }),
    }
}

fn query_failure(e: traillake::query::QueryError) -> Failure {
    match e {
        traillake::query::QueryError::Usage(m) => usage(m),
        traillake::query::QueryError::Failed(m) => Failure {
            code: 1,
            message: m,
        },
    }
}

/// AWS's address ranges from `--ip-ranges`; without them, a warning when
/// the SQL would have used them.
fn aws_ranges(
    path: Option<&std::path::Path>,
    used: bool,
) -> Result<traillake::query::AwsRanges, Failure> {
    use traillake::query::AwsRanges;
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("{}: {e}", path.display())))?;
            AwsRanges::parse(&text).map_err(|e| usage(format!("{}: {e}", path.display())))
        }
        None => {
            if used {
                eprintln!(
                    "traillake: no --ip-ranges given: assuming every IP address is outside AWS \
                     (only service names such as ecs-tasks.amazonaws.com count as AWS); pass \
                     AWS's ip-ranges.json to exclude AWS's own addresses"
                );
            }
            Ok(AwsRanges::default())
        }
    }
}

fn scan_cost(args: ScanCostArgs, config: &Config) -> Result<u8, Failure> {
    use traillake::scan_cost;
    let source = args
        .source
        .or_else(|| config.source.clone())
        .ok_or_else(|| usage("scan-cost needs --source (or `source` in config.toml)"))?;
    let lake = args
        .lake
        .or_else(|| config.lake.clone())
        .ok_or_else(|| usage("scan-cost needs --lake (or `lake` in config.toml)"))?;
    let price = args
        .price_per_tb
        .or(config.price_per_tb)
        .unwrap_or(scan_cost::DEFAULT_PRICE_PER_TB);
    if !price.is_finite() || price < 0.0 {
        return Err(usage("--price-per-tb must be a price in USD, 0 or more"));
    }
    let queries = match &args.queries {
        Some(path) => {
            if !args.params.is_empty() {
                return Err(usage(
                    "--param goes with the built-in queries, not --queries",
                ));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("{}: {e}", path.display())))?;
            let queries = scan_cost::parse_queries(&text);
            if queries.is_empty() {
                return Err(usage(format!("{}: no queries in it", path.display())));
            }
            queries
        }
        None => scan_cost::default_queries(&lake, &args.params).map_err(query_failure)?,
    };
    // Costing plans the queries but runs none, so no warning about ranges.
    let ranges = aws_ranges(args.ip_ranges.as_deref(), false)?;
    let costs =
        scan_cost::scan_cost(&source, &lake, &queries, price, ranges).map_err(query_failure)?;
    match args.format {
        CostFormat::Table => emit(&scan_cost::render_table(&costs))?,
        CostFormat::Json => {
            let lines: String = costs
                .iter()
                .map(|c| serde_json::to_string(c).expect("cost serializes") + "\n")
                .collect();
            emit(&lines)?;
        }
    }
    Ok(0)
}

fn generate(args: GenerateArgs) -> Result<u8, Failure> {
    let start = Date::parse(&args.start)
        .ok_or_else(|| usage(format!("--start {:?}: expected YYYY-MM-DD", args.start)))?;
    let opts = GenerateOptions {
        out: args.out,
        accounts: args.accounts,
        regions: args.regions,
        days: args.days,
        start,
        events_per_day: args.events_per_day,
        seed: args.seed,
    };
    let summary = generate::generate(&opts).map_err(|e| Failure {
        code: 1,
        message: format!("{}: {e}", opts.out.display()),
    })?;
    println!(
        "{}",
        serde_json::to_string(&summary).expect("summary serializes")
    );
    Ok(0)
}
