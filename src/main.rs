//! The `traillake` binary: parse flags, resolve them with the config once
//! ([`settings`]), call the library, and map its errors to exit codes in one
//! place ([`Failure`]): 0 ok, 1 the run failed, 2 bad usage or config.

mod cli;
mod prompt;
mod settings;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::Parser;
use traillake::compact::{self, CompactError};
use traillake::config::{Config, ConfigError};
use traillake::ddl::{self, DdlError};
use traillake::generate::{self, GenerateOptions};
use traillake::lake::{Lake, LakeError};
use traillake::partition::Date;
use traillake::query::{self, AwsRanges, QueryError};
use traillake::scan_cost::{self, CostError};
use traillake::store::LocationError;

use cli::{
    AlertFormat, Cli, Command, CompactArgs, CostFormat, DdlArgs, DetectArgs, GenerateArgs,
    QueryArgs, ScanCostArgs,
};
use traillake::detect;

/// Why the binary stops with a non-zero exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad flags, config, SQL or presets: exit 2.
    Usage(String),
    /// The run failed: exit 1.
    Failed(String),
}

pub fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Failed(_) => 1,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Failed(m) => m,
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        usage(e.to_string())
    }
}

impl From<LocationError> for Failure {
    fn from(e: LocationError) -> Self {
        usage(e.to_string())
    }
}

impl From<LakeError> for Failure {
    fn from(e: LakeError) -> Self {
        Failure::Failed(e.to_string())
    }
}

impl From<DdlError> for Failure {
    fn from(e: DdlError) -> Self {
        usage(e.to_string())
    }
}

impl From<CompactError> for Failure {
    fn from(e: CompactError) -> Self {
        match e {
            CompactError::Location(_) | CompactError::LakeInsideSource { .. } => {
                usage(e.to_string())
            }
            e => Failure::Failed(e.to_string()),
        }
    }
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Self {
        if e.is_usage() {
            usage(e.to_string())
        } else {
            Failure::Failed(e.to_string())
        }
    }
}

impl From<CostError> for Failure {
    fn from(e: CostError) -> Self {
        if e.is_usage() {
            usage(e.to_string())
        } else {
            Failure::Failed(e.to_string())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("traillake: {}", f.message());
            ExitCode::from(f.code())
        }
    }
}

fn run(cli: Cli) -> Result<u8, Failure> {
    let config = settings::config(&cli.config)?;
    match cli.command {
        Command::Compact(args) => compact(args, &config),
        Command::Ddl(args) => ddl(args, &config),
        Command::Query(args) => query(args, &config),
        Command::Detect(args) => detect(args, &config),
        Command::ScanCost(args) => scan_cost(args, &config),
        Command::Generate(args) => generate(args),
    }
}

/// A runtime for the commands that do I/O outside the library's own.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    query::runtime().map_err(Failure::from)
}

fn compact(args: CompactArgs, config: &Config) -> Result<u8, Failure> {
    let opts = settings::compact_options(&args, config)?;
    let report = compact::compact(&opts)?;
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
            "traillake: {} file(s), {} record(s) and {} folder(s) quarantined; see \
             {}/_traillake/quarantine/{}.jsonl",
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
    let lake = settings::lake(&args.lake, config, "ddl")?;
    let opts = settings::ddl_options(args, config, &lake)?;
    let partitions = runtime()?.block_on(Lake::new(lake).partitions())?;
    emit(&ddl::render(&opts, &partitions)?)?;
    Ok(0)
}

fn query(args: QueryArgs, config: &Config) -> Result<u8, Failure> {
    if args.list_presets {
        emit(&query::list_presets())?;
        return Ok(0);
    }
    if args.preset.is_none() && !args.params.is_empty() {
        return Err(usage("--param goes with --preset"));
    }
    let lake = settings::lake(&args.lake, config, "query")?;
    let read_stdin = || {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::Failed(format!("reading SQL from standard input: {e}")))?;
        Ok::<_, Failure>(text)
    };
    let sql = match (&args.preset, &args.sql, &args.file) {
        (Some(path), _, _) if is_rule_file(path) => {
            if !args.params.is_empty() {
                return Err(usage(
                    "--param goes with the named presets, not a rule file",
                ));
            }
            rule_file_sql(path)?
        }
        (Some(name), _, _) => query::preset_sql(name, &args.params)?,
        (None, Some(sql), _) if sql == "-" => read_stdin()?,
        (None, Some(sql), _) => sql.clone(),
        (None, None, Some(path)) if path.as_os_str() == "-" => read_stdin()?,
        (None, None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|e| usage(format!("{}: {e}", path.display())))?
        }
        (None, None, None) if std::io::stdin().is_terminal() => {
            return prompt::run(&lake, &args);
        }
        (None, None, None) => read_stdin()?,
    };
    let statements = query::statements::split(&sql);
    if statements.is_empty() {
        return Err(usage("no SQL statement given (only comments or nothing)"));
    }
    for statement in &statements {
        run_statement(&lake, statement, &args)?;
    }
    Ok(0)
}

/// A `--preset` that names a Sigma rule file rather than a preset.
fn is_rule_file(preset: &str) -> bool {
    preset.ends_with(".yml") || preset.ends_with(".yaml") || preset.contains('/')
}

/// The queries of a Sigma rule file, one statement per rule.
fn rule_file_sql(path: &str) -> Result<String, Failure> {
    let (texts, unread) = detect::files(&[path.into()]);
    let set = detect::load(&texts);
    if let Some(k) = unread.iter().chain(&set.skipped).next() {
        return Err(usage(format!("{}: {}: {}", k.file, k.rule, k.reason)));
    }
    if set.detectors.is_empty() {
        return Err(usage(format!("{path}: no rule in it")));
    }
    Ok(set
        .detectors
        .iter()
        .map(|d| format!("-- {} {}\n{};\n", d.id, d.title, d.sql))
        .collect())
}

fn detect(args: DetectArgs, config: &Config) -> Result<u8, Failure> {
    let (texts, unread) = if args.rules.is_empty() {
        let builtin = detect::BUILTIN
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect();
        (builtin, Vec::new())
    } else {
        detect::files(&args.rules)
    };
    if texts.is_empty() && !unread.is_empty() {
        let k = &unread[0];
        return Err(usage(format!("{}: {}", k.file, k.reason)));
    }
    let mut set = detect::load(&texts);
    set.skipped.splice(0..0, unread);
    if args.explain {
        emit(&detect::explain(&set))?;
        return Ok(0);
    }
    let lake = settings::lake(&args.lake, config, "detect")?;
    let window = settings::window(&args.since, &args.until, now())?;
    let uses_ranges = set
        .detectors
        .iter()
        .any(|d| d.sql.contains("is_aws_address"));
    let ranges = aws_ranges(args.ip_ranges.as_deref(), uses_ranges)?;
    // JSON lines go out as each query ends; a table needs them all.
    let mut table = Vec::new();
    let mut written = Ok(());
    let mut sink = |alerts: Vec<detect::Alert>| match args.format {
        AlertFormat::Json if written.is_ok() => written = emit(&detect::render_json(&alerts)),
        AlertFormat::Json => {}
        AlertFormat::Table => table.extend(alerts),
    };
    let outcome = runtime()?.block_on(async {
        let session = query::LakeSession::new(&lake, ranges, window);
        detect::run(&session, &set, &mut sink).await
    });
    written?;
    if args.format == AlertFormat::Table {
        table.sort();
        emit(&detect::render_table(&table))?;
    }
    for k in set.skipped.iter().chain(&outcome.failed) {
        let rule = if k.rule.is_empty() {
            String::new()
        } else {
            format!("{}: ", k.rule)
        };
        eprintln!("traillake: rule not run: {}: {rule}{}", k.file, k.reason);
    }
    eprintln!(
        "{} alert(s) from {} rule(s) run; {} not translated, {} failed, {} only feed correlations",
        outcome.alerts,
        outcome.rules_run,
        set.skipped.len(),
        outcome.failed.len(),
        set.correlated_only.len()
    );
    Ok(if outcome.failed.is_empty() { 0 } else { 1 })
}

/// Now, in seconds since the epoch.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs one statement and prints its results (and `--explain`'s figures).
fn run_statement(
    lake: &traillake::store::Location,
    sql: &str,
    args: &QueryArgs,
) -> Result<(), Failure> {
    let ranges = aws_ranges(args.ip_ranges.as_deref(), sql.contains("is_aws_address"))?;
    let result = query::run(lake, sql, ranges, query_window(args)?)?;
    emit(&query::render(&result.batches, args.format.into())?)?;
    if args.explain {
        eprint!("{}", result.scan.render());
    }
    Ok(())
}

/// The days `--since`/`--until` let a query read.
fn query_window(args: &QueryArgs) -> Result<query::Window, Failure> {
    settings::window(&args.since, &args.until, now())
}

/// Writes results to stdout. A reader that went away (`| head`) ends the
/// output quietly, as with other command-line tools; other errors fail.
pub fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Failed(format!("writing results: {e}"))),
    }
}

/// AWS's address ranges from `--ip-ranges`; without them, a warning when
/// the SQL would have used them.
fn aws_ranges(path: Option<&std::path::Path>, used: bool) -> Result<AwsRanges, Failure> {
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
    let source = settings::source(&args.source, config, "scan-cost")?;
    let lake = settings::lake(&args.lake, config, "scan-cost")?;
    let price = args
        .price_per_tb
        .or(config.price_per_tb)
        .unwrap_or(scan_cost::DEFAULT_PRICE_PER_TB);
    if !price.is_finite() || price < 0.0 {
        return Err(usage("--price-per-tb must be a price in USD, 0 or more"));
    }
    let from_file = match &args.queries {
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
            Some(queries)
        }
        None => None,
    };
    // Costing plans the queries but runs none, so no warning about ranges.
    let ranges = aws_ranges(args.ip_ranges.as_deref(), false)?;
    let costs = runtime()?.block_on(async {
        let session = query::LakeSession::new(&lake, ranges, query::Window::default());
        let queries = match from_file {
            Some(q) => q,
            None => {
                let partitions = Lake::new(lake.clone()).partitions().await?;
                scan_cost::default_queries(&session, &lake.url, &partitions, &args.params).await?
            }
        };
        let costs = scan_cost::scan_cost(&source, &lake, &session, &queries, price).await?;
        Ok::<_, Failure>(costs)
    })?;
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
    let summary = generate::generate(&opts)
        .map_err(|e| Failure::Failed(format!("{}: {e}", opts.out.display())))?;
    println!(
        "{}",
        serde_json::to_string(&summary).expect("summary serializes")
    );
    Ok(0)
}
