//! The commands that run SQL over the lake (`query`, `detect`,
//! `scan-cost`): DataFusion's, so only in a build with the `sql` feature
//! (the default). A compaction-only build (`--no-default-features`) has
//! the same command line and says these need the full build.

use traillake::config::Config;
use traillake::query::{self, AwsRanges};

use crate::cli::{Format, QueryArgs};
use crate::output::{emit, usage, write_out, Failure, CLOSED};
use crate::settings;

mod detect_command;
mod ip_ranges;
mod query_command;
mod scan_cost_command;

pub(crate) use detect_command::detect;
pub(crate) use ip_ranges::ip_ranges;
pub(crate) use query_command::query;
pub(crate) use scan_cost_command::scan_cost;

/// One invocation's engine over the lake: `--ip-ranges`, the window and
/// the limits resolved once, for every statement (and the prompt, whose
/// Ctrl-C cancels a statement rather than the process).
pub(crate) fn engine(
    lake: &traillake::store::Location,
    args: &QueryArgs,
    config: &Config,
    interruptible: bool,
) -> Result<query::Engine, Failure> {
    let ranges = aws_ranges(args.ip_ranges.as_deref())?;
    let mut limits = query_limits(args, config)?;
    limits.interruptible = interruptible;
    let window = settings::window(&args.days, settings::now())?;
    Ok(query::Engine::new(lake, ranges, window, limits)?)
}

/// Runs one statement and prints its results in `format` (and
/// `--explain`'s figures).
pub(crate) fn run_statement(
    engine: &mut query::Engine,
    sql: &str,
    format: Format,
    args: &QueryArgs,
) -> Result<(), Failure> {
    run_one(engine, sql, format, args.explain).map_err(|e| older_version_gone(e, &args.days.as_of))
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
    engine: &mut query::Engine,
    sql: &str,
    format: Format,
    explain: bool,
) -> Result<(), Failure> {
    let scan = if format == Format::Table {
        let result = engine.run(sql)?;
        emit(&crate::output::results::render(&result.batches, format)?)?;
        result.scan
    } else {
        // CSV and JSON lines stream, a batch at a time.
        let mut first = true;
        let streamed = engine.stream(sql, |b| {
            let mut text = String::new();
            crate::output::results::render_rows(b, format, first, &mut text);
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
    if explain {
        eprint!("{}", scan.render());
    }
    Ok(())
}

/// `--memory` in bytes: the flag's MiB, else the config's memory budget,
/// else 512.
fn memory_bytes(flag: Option<usize>, config: &Config) -> Result<usize, Failure> {
    let mib = flag.or(config.compact.memory_budget_mb).unwrap_or(512);
    if mib == 0 || mib > 1 << 20 {
        return Err(usage(format!(
            "--memory {mib}: give MiB between 1 and {}",
            1 << 20
        )));
    }
    Ok(mib << 20)
}

/// `--memory` (else the config's memory budget) and `--timeout`.
fn query_limits(args: &QueryArgs, config: &Config) -> Result<query::Limits, Failure> {
    let memory_bytes = memory_bytes(args.memory, config)?;
    if args.timeout == Some(0) {
        return Err(usage("--timeout 0: give seconds, 1 or more"));
    }
    Ok(query::Limits {
        memory_bytes,
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

/// AWS's address ranges from `--ip-ranges` (none without it).
pub(crate) fn aws_ranges(path: Option<&std::path::Path>) -> Result<AwsRanges, Failure> {
    let Some(path) = path else {
        return Ok(AwsRanges::default());
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    AwsRanges::parse(&text).map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// Once per invocation: `is_aws_address` judged an address without
/// `--ip-ranges`, so it called AWS's own addresses outside AWS.
pub(crate) fn warn_if_guessed(session: &query::LakeSession) {
    if session.ranges.tell_guess() {
        eprintln!(
            "traillake: no --ip-ranges given: every IP address counted as outside AWS (only \
             service names such as ecs-tasks.amazonaws.com count as AWS), so AWS's own addresses \
             (a Lambda function's calls) may have matched too; fetch AWS's ranges with \
             `traillake ip-ranges --out ip-ranges.json` and pass `--ip-ranges ip-ranges.json`"
        );
    }
}
