//! The `traillake` binary: parse flags, resolve them with the config once
//! ([`settings`]), call the library, and map its errors to exit codes in one
//! place ([`output::Failure`]): 0 ok, 1 the run failed, 2 bad usage or
//! config; every word printed goes through [`output`] or [`show`].

mod cli;
#[cfg(feature = "sql")]
mod complete;
mod output;
#[cfg(feature = "sql")]
mod prompt;
mod settings;
mod show;
#[cfg(feature = "sql")]
mod sql;

use std::process::ExitCode;

use clap::Parser;
use output::{emit, usage, Failure};
use traillake::compact;
use traillake::config::Config;
use traillake::ddl;
use traillake::generate::{self, GenerateOptions};
use traillake::lake::Lake;
use traillake::partition::Date;

use cli::{Cli, Command, CompactArgs, ConnectArgs, DdlArgs, GenerateArgs, RepairArgs, VerifyArgs};

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
        #[cfg(feature = "sql")]
        Command::Query(args) => sql::query(args, &config),
        #[cfg(feature = "sql")]
        Command::Detect(args) => sql::detect(args, &config),
        #[cfg(feature = "sql")]
        Command::ScanCost(args) => sql::scan_cost(args, &config),
        #[cfg(feature = "sql")]
        Command::IpRanges(args) => sql::ip_ranges(args),
        #[cfg(not(feature = "sql"))]
        Command::Query(_) | Command::Detect(_) | Command::ScanCost(_) | Command::IpRanges(_) => {
            Err(usage(
                "this traillake was built without its SQL engine (`--no-default-features`, for \
                 compaction only): `query`, `detect`, `scan-cost` and `ip-ranges` need the \
                 default build (`cargo install --path .`)",
            ))
        }
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

/// A runtime for the commands that do I/O outside the library's own (the
/// query engine's, with its large stacks, where there is one).
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    #[cfg(feature = "sql")]
    return traillake::query::runtime().map_err(Failure::from);
    #[cfg(not(feature = "sql"))]
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("could not start the I/O runtime: {e}")))
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
    // --dry-run: what would be read, one line each.
    let reads: String = report
        .would_read
        .iter()
        .map(|(size, url)| format!("read\t{size}\t{url}\n"))
        .collect();
    emit(&reads)?;
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
        files_per_day: args.files_per_day,
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
