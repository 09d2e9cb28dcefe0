//! The `traillake` binary: parse flags, resolve them with the config once
//! ([`settings`]), call the library, and map its errors to exit codes in one
//! place ([`Failure`]): 0 ok, 1 the run failed, 2 bad usage or config.

mod cli;
mod complete;
mod prompt;
mod settings;
mod show;

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
    AlertFormat, Cli, Command, CompactArgs, ConnectArgs, CostFormat, DdlArgs, DetectArgs,
    GenerateArgs, QueryArgs, RepairArgs, ScanCostArgs, VerifyArgs,
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
        match e {
            LocationError::Credentials { .. } => Failure::Failed(e.to_string()),
            LocationError::Invalid { .. } => usage(e.to_string()),
        }
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
            CompactError::Location(e) => e.into(),
            CompactError::LakeInsideSource { .. } => usage(e.to_string()),
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

/// The stack of the thread every command runs on. Planning a query
/// recurses as deep as its expressions nest (a WHERE of 10,000 ORs, a
/// Sigma rule with 10,000 values): DataFusion grows its stack where it
/// recurses on purpose, but cloning and dropping a deep expression recurse
/// too, and overflowed the main thread's 8 MiB. Address space only: pages
/// are committed as they are touched.
const STACK_BYTES: usize = 1 << 30;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let worker = std::thread::Builder::new()
        .name("traillake".into())
        .stack_size(STACK_BYTES)
        .spawn(move || run(cli));
    let result = match worker {
        Ok(handle) => match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(e) => Err(Failure::Failed(format!("could not start a thread: {e}"))),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("traillake: {}", f.message());
            ExitCode::from(f.code())
        }
    }
}

fn run(cli: Cli) -> Result<u8, Failure> {
    traillake::store::aws::use_profile(cli.profile.clone());
    match cli.command {
        Command::Completions(args) => return completions(args.shell),
        Command::Manpage => return manpage(),
        _ => {}
    }
    let config = settings::config(&cli.config)?;
    match cli.command {
        Command::Compact(args) => compact(args, &config, cli.quiet, cli.profile.as_deref()),
        Command::Ddl(args) => ddl(args, &config),
        Command::Query(args) => query(args, &config),
        Command::Detect(args) => detect(args, &config),
        Command::ScanCost(args) => scan_cost(args, &config),
        Command::Verify(args) => verify(args, &config),
        Command::Repair(args) => repair(args, &config, cli.quiet),
        Command::Generate(args) => generate(args),
        Command::Connect(args) => connect(args, &config),
        Command::History(args) => history(args, &config),
        Command::Completions(_) | Command::Manpage => unreachable!("handled above"),
    }
}

/// `traillake completions SHELL`: clap's completion script on stdout.
fn completions(shell: clap_complete::Shell) -> Result<u8, Failure> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "traillake", &mut out);
    emit(&String::from_utf8_lossy(&out))?;
    Ok(0)
}

/// `traillake manpage`: the man page (roff) on stdout, subcommands included.
fn manpage() -> Result<u8, Failure> {
    emit(&String::from_utf8_lossy(&manpage_roff()))?;
    Ok(0)
}

/// traillake(1) with a section per subcommand.
pub fn manpage_roff() -> Vec<u8> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out).expect("writes to memory");
    man.render_name_section(&mut out).expect("writes to memory");
    man.render_synopsis_section(&mut out)
        .expect("writes to memory");
    man.render_description_section(&mut out)
        .expect("writes to memory");
    man.render_options_section(&mut out)
        .expect("writes to memory");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        out.extend_from_slice(
            format!(
                ".SH \"TRAILLAKE {}\"\n{}\n",
                name.to_uppercase(),
                roff_text(&about)
            )
            .as_bytes(),
        );
        let sub_man = clap_mangen::Man::new(sub.clone().bin_name(format!("traillake {name}")));
        let mut section = Vec::new();
        sub_man
            .render_synopsis_section(&mut section)
            .expect("writes to memory");
        sub_man
            .render_options_section(&mut section)
            .expect("writes to memory");
        // Demote the subcommand's own headings under its section.
        let text = String::from_utf8_lossy(&section).replace(".SH ", ".SS ");
        out.extend_from_slice(text.as_bytes());
    }
    man.render_version_section(&mut out)
        .expect("writes to memory");
    out
}

/// Plain text for a roff line: a leading `.` or `'` escaped.
fn roff_text(s: &str) -> String {
    s.lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A lake opened and checked to be one: a store error is the run's
/// failure, a folder that holds no lake is named with what it holds.
fn open_lake(
    flag: &Option<String>,
    config: &Config,
    command: &str,
) -> Result<traillake::store::Location, Failure> {
    let lake = settings::lake(flag, config, command)?;
    // `ddl` may describe a lake before its first run (its accounts and
    // regions named), so an empty one will do there.
    let empty_ok = command == "ddl";
    runtime()?.block_on(Lake::new(lake.clone()).check(empty_ok))?;
    Ok(lake)
}

/// `traillake history`: the Delta log's versions, newest first.
fn history(args: cli::HistoryArgs, config: &Config) -> Result<u8, Failure> {
    let lake = open_lake(&args.lake, config, "history")?;
    let versions = runtime()?.block_on(traillake::lake::delta::history(
        &Lake::new(lake.clone()),
        args.limit,
    ))?;
    let mut text = String::new();
    let n = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    match args.format {
        cli::AlertFormat::Json => {
            for v in &versions {
                text.push_str(&serde_json::to_string(v).expect("a version serializes"));
                text.push('\n');
            }
        }
        cli::AlertFormat::Table => {
            text.push_str("version\ttime\toperation\tfiles_added\tfiles_removed\trows_written\trecords_read\trun\n");
            for v in &versions {
                text.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    v.version,
                    v.time,
                    v.operation,
                    n(v.files_added),
                    n(v.files_removed),
                    n(v.rows_written),
                    n(v.records_read),
                    v.run.as_deref().unwrap_or("-"),
                ));
            }
        }
    }
    emit(&text)?;
    Ok(0)
}

/// `traillake connect duckdb`: statements that open the lake in DuckDB
/// as a view `cloudtrail`, partition columns as strings (`hive_types`),
/// so account ids keep their leading zeros.
fn connect(args: ConnectArgs, config: &Config) -> Result<u8, Failure> {
    let lake = open_lake(&args.lake, config, "connect")?;
    let cli::Engine::Duckdb = args.engine;
    emit(&traillake::ddl::duckdb(&lake.url))?;
    Ok(0)
}

/// `traillake verify`: findings on stdout (a line each, or JSON), a summary
/// on stderr; exit 1 when any is an error.
fn verify(args: VerifyArgs, config: &Config) -> Result<u8, Failure> {
    let lake = open_lake(&args.lake, config, "verify")?;
    let rt = runtime()?;
    let progress = traillake::progress::Progress::default();
    let v = traillake::repair::verify(&Lake::new(lake.clone()), &rt, &progress)?;
    if args.json {
        emit(&format!(
            "{}\n",
            serde_json::to_string(&v).expect("findings serialize")
        ))?;
    } else {
        let mut text = String::new();
        for f in &v.findings {
            let label = match f.severity {
                traillake::repair::Severity::Error => "error",
                traillake::repair::Severity::Warning => "warning",
            };
            text.push_str(&format!(
                "{label}\t{}\t{}\n",
                lake.url_of_relative(&f.path),
                f.what
            ));
        }
        emit(&text)?;
    }
    let errors = v.errors();
    eprintln!(
        "traillake: verify {}: {} partition(s), {} data file(s), {} row(s), {} state file(s): {} \
         error(s), {} warning(s)",
        lake.arg(),
        v.partitions,
        v.data_files,
        v.rows,
        v.state_files,
        errors,
        v.findings.len() - errors
    );
    if v.partitions_without_manifest > 0 {
        eprintln!(
            "traillake: {} partition(s) were written before manifests existed: their footers \
             were checked, not whether a file is missing (the next compact touching them, or \
             `traillake repair`, records them)",
            v.partitions_without_manifest
        );
    }
    if errors > 0 {
        eprintln!(
            "traillake: to put it right: traillake repair --source SRC --lake {}",
            shell_word(lake.arg())
        );
        return Ok(1);
    }
    Ok(0)
}

/// `traillake repair`: what was set aside and read again, then the run.
fn repair(args: RepairArgs, config: &Config, quiet: bool) -> Result<u8, Failure> {
    let compact_args = CompactArgs {
        source: args.source.clone(),
        lake: args.lake.clone(),
        ..CompactArgs::default()
    };
    open_lake(&args.lake, config, "repair")?;
    let opts = settings::compact_options(&compact_args, config)?;
    let rt = runtime()?;
    let shown = show::start(opts.progress.clone(), show::Mode::choose(quiet));
    let result = traillake::repair::repair(&opts, &rt);
    shown.finish();
    let (done, after) = result?;
    if args.json {
        emit(&format!(
            "{}\n",
            serde_json::to_string(&done).expect("repair serializes")
        ))?;
    }
    for rel in &done.set_aside {
        eprintln!("set aside: {}", opts.lake.url_of_relative(rel));
    }
    for f in &done.folders_read_again {
        eprintln!("read again: {}", opts.source.url_of_relative(f));
    }
    for o in &done.other_sources {
        eprintln!("traillake: warning: {o}: run repair with that --source too");
    }
    if let Some(run) = &done.run {
        eprintln!("traillake: {}", run.summary());
    }
    eprintln!(
        "traillake: repair {}: {} file(s) set aside, {} source folder(s) read again, {} \
         partition manifest(s) written; verify now finds {} error(s)",
        opts.lake.arg(),
        done.set_aside.len(),
        done.folders_read_again.len(),
        done.manifests_written,
        done.errors_after
    );
    for f in after
        .findings
        .iter()
        .filter(|f| f.severity == traillake::repair::Severity::Error)
        .take(10)
    {
        eprintln!("error: {}: {}", opts.lake.url_of_relative(&f.path), f.what);
    }
    Ok(u8::from(done.errors_after > 0))
}

/// A runtime for the commands that do I/O outside the library's own.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    query::runtime().map_err(Failure::from)
}

fn compact(
    args: CompactArgs,
    config: &Config,
    quiet: bool,
    profile: Option<&str>,
) -> Result<u8, Failure> {
    let opts = settings::compact_options(&args, config)?;
    let shown = show::start(opts.progress.clone(), show::Mode::choose(quiet));
    let result = compact::compact(&opts);
    shown.finish();
    let report = result?;
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
    if report.future_folders > 0 {
        eprintln!(
            "traillake: warning: {} source folder(s) dated after tomorrow were not read and do \
             not move the incremental position (a typo, a clock far off, or a planted folder?); \
             they are read when their day comes: {}{}",
            report.future_folders,
            report.future_folder_urls.join(", "),
            if report.future_folders > report.future_folder_urls.len() as u64 {
                ", ..."
            } else {
                ""
            }
        );
    }
    eprintln!("traillake: {}", report.summary());
    if !report.dry_run && !quiet {
        next_steps(&report.lake, &opts.lake, profile);
    }
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

/// What to run after a first `compact`: query it here, open it in Athena;
/// with the `--profile` the run was given.
fn next_steps(url: &str, lake: &traillake::store::Location, profile: Option<&str>) {
    let path = shell_word(
        lake.local
            .as_ref()
            .map_or(url.to_string(), |p| p.display().to_string()),
    );
    let prof = profile.map_or(String::new(), |p| {
        format!(" --profile {}", shell_word(p.to_string()))
    });
    eprintln!("next: traillake query --lake {path}{prof} --preset top-events");
    if lake.is_local() {
        eprintln!(
            "      for Athena: copy the lake to S3 (aws s3 sync {path} s3://BUCKET/PREFIX{prof}), \
             then traillake ddl --lake {path} --location s3://BUCKET/PREFIX"
        );
    } else {
        eprintln!("      for Athena: traillake ddl --lake {path}{prof}");
    }
}

fn shell_word(s: String) -> String {
    traillake::store::shell_word(&s)
}

fn ddl(args: DdlArgs, config: &Config) -> Result<u8, Failure> {
    let lake = open_lake(&args.lake, config, "ddl")?;
    let opts = settings::ddl_options(args, config, &lake)?;
    if !opts.location.starts_with("s3://") {
        eprintln!(
            "traillake: warning: LOCATION is {}, which Athena cannot read: copy the lake to S3 \
             (aws s3 sync) and pass --location s3://BUCKET/PREFIX",
            opts.location
        );
    }
    let rt = runtime()?;
    if opts.style == ddl::Style::Delta
        && !rt.block_on(traillake::lake::delta::exists(&Lake::new(lake.clone())))?
    {
        eprintln!(
            "traillake: warning: {} has no Delta log yet ({}/): the next `traillake compact` \
             writes it; Athena cannot create the table before",
            lake.arg(),
            traillake::lake::delta::LOG_DIR
        );
    }
    let partitions = rt.block_on(Lake::new(lake).partitions())?;
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
    let lake = open_lake(&args.lake, config, "query")?;
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
            return prompt::run(&lake, &args, config);
        }
        (None, None, None) => read_stdin()?,
    };
    let statements = query::statements::split(&sql);
    if statements.is_empty() {
        return Err(usage("no SQL statement given (only comments or nothing)"));
    }
    for statement in &statements {
        run_statement(&lake, statement, &args, config)?;
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
        return Err(usage(format!("--rules {}: {}", k.file, k.reason)));
    }
    if texts.is_empty() {
        let paths: Vec<String> = args.rules.iter().map(|p| p.display().to_string()).collect();
        return Err(usage(format!(
            "--rules {}: no rule files (.yml or .yaml) in it",
            paths.join(" ")
        )));
    }
    let mut set = detect::load(&texts);
    set.skipped.splice(0..0, unread);
    if args.explain {
        emit(&detect::explain(&set))?;
        return Ok(0);
    }
    let lake = open_lake(&args.lake, config, "detect")?;
    let window = settings::window(&args.since, &args.until, &args.as_of, now())?;
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
    let (outcome, version) = runtime()?.block_on(async {
        let session = query::LakeSession::new(&lake, ranges, window);
        // Every rule reads one version of the lake, whoever commits
        // meanwhile; `--as-of` it to see again what this run saw.
        session.table.snapshot.pin();
        let version = session
            .table
            .snapshot()
            .await
            .map_err(Failure::from)?
            .version;
        Ok::<_, Failure>((detect::run(&session, &set, &mut sink).await, version))
    })?;
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
        "{} alert(s) from {} rule(s) run; {} not translated, {} failed, {} only feed \
         correlations{}",
        outcome.alerts,
        outcome.rules_run,
        set.skipped.len(),
        outcome.failed.len(),
        set.correlated_only.len(),
        version.map_or(String::new(), |v| format!(
            "; read the lake's Delta version {v} (`--as-of {v}` reads it again)"
        ))
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
    config: &Config,
) -> Result<(), Failure> {
    run_one(lake, sql, args, config).map_err(|e| older_version_gone(e, &args.as_of))
}

/// An older version's file that is gone: say why, and what keeps them.
fn older_version_gone(e: Failure, as_of: &Option<String>) -> Failure {
    match (e, as_of) {
        (Failure::Failed(m), Some(v)) if m.contains("not found") || m.contains("No such file") => {
            Failure::Failed(format!(
                "{m}\nA file of the lake's version {v} (--as-of) is gone: a run replaced it and \
                 deleted it. `[delta] keep_replaced_hours` keeps replaced files for readers of \
                 older versions; `traillake history` lists the versions"
            ))
        }
        (e, _) => e,
    }
}

fn run_one(
    lake: &traillake::store::Location,
    sql: &str,
    args: &QueryArgs,
    config: &Config,
) -> Result<(), Failure> {
    let ranges = aws_ranges(args.ip_ranges.as_deref(), sql.contains("is_aws_address"))?;
    let limits = query_limits(args, config)?;
    let format: query::Format = args.format.into();
    let scan = if format == query::Format::Table {
        let result = query::run_with(lake, sql, ranges, query_window(args)?, limits)?;
        emit(&query::render(&result.batches, format)?)?;
        result.scan
    } else {
        // CSV and JSON lines stream, a batch at a time.
        let mut first = true;
        let streamed = query::stream_with(lake, sql, ranges, query_window(args)?, limits, |b| {
            let mut text = String::new();
            query::render_rows(b, format, first, &mut text);
            first = false;
            write_out(&text)
        });
        match streamed {
            Ok(scan) => scan,
            // A reader that went away (`| head`): done, quietly.
            Err(query::QueryError::Output(e)) if e == CLOSED => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    };
    if args.explain {
        eprint!("{}", scan.render());
    }
    Ok(())
}

/// What a closed standard output is called while streaming results.
const CLOSED: &str = "the reader closed standard output";

/// Writes streamed results; a closed reader ends the stream.
fn write_out(text: &str) -> Result<(), query::QueryError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            Err(query::QueryError::Output(CLOSED.into()))
        }
        Err(e) => Err(query::QueryError::Output(e.to_string())),
    }
}

/// `--memory` (else the config's memory budget) and `--timeout`.
fn query_limits(args: &QueryArgs, config: &Config) -> Result<query::Limits, Failure> {
    let mib = args
        .memory
        .or(config.compact.memory_budget_mb)
        .unwrap_or(512);
    if mib == 0 || mib > 1 << 20 {
        return Err(usage(format!(
            "--memory {mib}: give MiB between 1 and {}",
            1 << 20
        )));
    }
    if args.timeout == Some(0) {
        return Err(usage("--timeout 0: give seconds, 1 or more"));
    }
    Ok(query::Limits {
        memory_bytes: mib << 20,
        timeout: args.timeout.map(std::time::Duration::from_secs),
        interruptible: false,
        table_names: table_names(config),
    })
}

/// The names the config gives the lake's table: `[ddl] table` (alone and
/// in `[ddl] database`) and `[query] tables`.
fn table_names(config: &Config) -> Vec<String> {
    let mut names = config.query_tables.clone();
    if let Some(t) = &config.table {
        names.push(t.clone());
        if let Some(db) = &config.database {
            names.push(format!("{db}.{t}"));
        }
    }
    names
}

/// The days `--since`/`--until` let a query read.
fn query_window(args: &QueryArgs) -> Result<query::Window, Failure> {
    settings::window(&args.since, &args.until, &args.as_of, now())
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
    let lake = open_lake(&args.lake, config, "scan-cost")?;
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
