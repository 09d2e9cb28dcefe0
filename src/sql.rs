//! The commands that run SQL over the lake (`query`, `detect`,
//! `scan-cost`): DataFusion's, so only in a build with the `sql` feature
//! (the default). A compaction-only build (`--no-default-features`) has
//! the same command line and says these need the full build.

use std::io::{IsTerminal, Read};

use traillake::config::Config;
use traillake::detect;
use traillake::lake::Lake;
use traillake::query::scan_cost;
use traillake::query::{self, AwsRanges};

use crate::cli::{CostFormat, DetectArgs, DetectFormat, Format, QueryArgs, ScanCostArgs};
use crate::output::{emit, usage, write_out, Failure, CLOSED};
use crate::{open_lake, runtime, settings};

pub(crate) fn query(args: QueryArgs, config: &Config) -> Result<u8, Failure> {
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
    let split = |sql: String| query::statements::split(&sql);
    let statements = match (&args.preset, &args.sql, &args.file) {
        (Some(path), _, _) if is_rule_file(path) => {
            if !args.params.is_empty() {
                return Err(usage(
                    "--param goes with the named presets, not a rule file",
                ));
            }
            rule_file_statements(path)?
        }
        (Some(name), _, _) => split(query::preset_sql(name, &args.params)?),
        (None, Some(sql), _) if sql == "-" => split(read_stdin()?),
        (None, Some(sql), _) => split(sql.clone()),
        (None, None, Some(path)) if path.as_os_str() == "-" => split(read_stdin()?),
        (None, None, Some(path)) => split(
            std::fs::read_to_string(path).map_err(|e| usage(format!("{}: {e}", path.display())))?,
        ),
        (None, None, None) if std::io::stdin().is_terminal() => {
            return crate::prompt::run(engine(&lake, &args, config, true)?, &lake.url, &args);
        }
        (None, None, None) => split(read_stdin()?),
    };
    if statements.is_empty() {
        return Err(usage("no SQL statement given (only comments or nothing)"));
    }
    let mut engine = engine(&lake, &args, config, false)?;
    let format = args.format;
    let ran = statements
        .iter()
        .try_for_each(|statement| run_statement(&mut engine, statement, format, &args));
    warn_if_guessed(engine.session(), &mut false);
    ran?;
    Ok(0)
}

/// A `--preset` that names a Sigma rule file rather than a preset.
fn is_rule_file(preset: &str) -> bool {
    preset.ends_with(".yml") || preset.ends_with(".yaml") || preset.contains('/')
}

/// The queries of a Sigma rule file, one statement per rule.
fn rule_file_statements(path: &str) -> Result<Vec<String>, Failure> {
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
        .map(|d| format!("-- {} {}\n{}", d.id, d.title, d.sql))
        .collect())
}

pub(crate) fn detect(args: DetectArgs, config: &Config) -> Result<u8, Failure> {
    if args.no_builtin && args.rules.is_empty() {
        return Err(usage(
            "--no-builtin leaves no rules: give rule files or folders with --rules",
        ));
    }
    let gap = settings::parse_span("--gap", &args.gap)?;
    let (user, unread) = detect::files(&args.rules);
    if !args.rules.is_empty() && user.is_empty() {
        if let Some(k) = unread.first() {
            return Err(usage(format!("--rules {}: {}", k.file, k.reason)));
        }
        let paths: Vec<String> = args.rules.iter().map(|p| p.display().to_string()).collect();
        return Err(usage(format!(
            "--rules {}: no rule files (.yml or .yaml) in it",
            paths.join(" ")
        )));
    }
    // Our rules, unless asked not to or given again by path (the same text
    // twice would alert twice).
    let mut texts: Vec<(String, String)> = Vec::new();
    if !args.no_builtin {
        texts.extend(
            detect::BUILTIN
                .iter()
                .filter(|(_, text)| !user.iter().any(|(_, t)| t == text))
                .map(|(name, text)| (format!("(built in) {name}"), text.to_string())),
        );
    }
    texts.extend(user);
    let mut set = detect::load(&texts);
    set.skipped.splice(0..0, unread);
    if args.explain {
        emit(&detect::explain(&set))?;
        return Ok(0);
    }
    let lake = open_lake(&args.lake, config, "detect")?;
    let window = settings::window(
        &args.days.since,
        &args.days.until,
        &args.days.as_of,
        settings::now(),
    )?;
    let ranges = aws_ranges(args.ip_ranges.as_deref())?;
    let limits = query::Limits {
        memory_bytes: memory_bytes(args.memory, config)?,
        table_names: table_names(config),
        ..Default::default()
    };
    // JSON lines go out as each query ends; for incidents, each query's
    // alerts are spooled to disk and read back in time order.
    let mut spool = match args.format {
        DetectFormat::Json => None,
        _ => Some(
            detect::incident::Spool::new()
                .map_err(|e| Failure::Failed(format!("{}: {e}", std::env::temp_dir().display())))?,
        ),
    };
    let mut written = Ok(());
    let mut sink = |alerts: Vec<detect::Alert>| match (&mut spool, args.format) {
        (_, DetectFormat::Json) if written.is_ok() => {
            written = emit(&crate::output::alerts::alerts_json(&alerts))
        }
        (Some(spool), _) if written.is_ok() => {
            written = spool
                .add(alerts)
                .map_err(|e| Failure::Failed(format!("spooling alerts: {e}")))
        }
        _ => {}
    };
    let rt = runtime()?;
    let session = query::LakeSession::with_limits(&lake, ranges, window, limits);
    let (outcome, version) = rt.block_on(async {
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
    warn_if_guessed(&session, &mut false);
    // Incidents close as the alerts stream through in time order: the JSON
    // lines go out as they do; the table keeps each one's line (and, with
    // -v, its alerts), the report everything.
    let mut incidents = Vec::new();
    let mut count = 0usize;
    let mut written = Ok(());
    if let Some(spool) = &spool {
        let mut take = |i: detect::incident::Incident| {
            count += 1;
            match args.format {
                DetectFormat::Incidents if written.is_ok() => {
                    written = emit(&crate::output::alerts::incidents_json(
                        std::slice::from_ref(&i),
                    ))
                }
                DetectFormat::Table | DetectFormat::Html => incidents.push(i),
                _ => {}
            }
        };
        // The table without -v prints a line per incident: its alerts
        // are counted, not kept.
        let keep = args.format != DetectFormat::Table || args.verbose;
        let mut builder = detect::incident::Builder::new(gap, keep, &mut take);
        spool
            .drain(|a| builder.push(a))
            .map_err(|e| Failure::Failed(format!("reading spooled alerts: {e}")))?;
        builder.finish();
    }
    written?;
    detect::incident::sort(&mut incidents);
    match args.format {
        DetectFormat::Json | DetectFormat::Incidents => {}
        DetectFormat::Table => {
            let width = std::io::stdout()
                .is_terminal()
                .then(|| console::Term::stdout().size().1 as usize)
                .filter(|w| *w > 0);
            emit(&crate::output::alerts::incidents_table(
                &incidents,
                width,
                args.verbose,
            ))?
        }
        DetectFormat::Html => {
            // The same pinned version the rules read.
            let raw = rt.block_on(raw_events(&session, &incidents))?;
            emit(&crate::output::html::report(
                &incidents, &set, version, &raw,
            ))?
        }
    }
    for k in set.skipped.iter().chain(&outcome.failed) {
        let rule = if k.rule.is_empty() {
            String::new()
        } else {
            format!("{}: ", k.rule)
        };
        eprintln!("traillake: rule not run: {}: {rule}{}", k.file, k.reason);
    }
    let incidents_note = if args.format == DetectFormat::Json {
        String::new()
    } else {
        format!("{count} incident(s) from ")
    };
    eprintln!(
        "{incidents_note}{} alert(s) from {} rule(s) run; {} not translated, {} failed, {} only \
         feed correlations{}",
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

/// The incidents' events as the lake holds them (JSON, nulls left out),
/// by eventID, read 500 ids a query, for the report's "raw event".
async fn raw_events(
    session: &query::LakeSession,
    incidents: &[detect::incident::Incident],
) -> Result<std::collections::HashMap<String, String>, Failure> {
    use datafusion::arrow::array::{Array, AsArray};
    let ids: std::collections::BTreeSet<&str> = incidents
        .iter()
        .flat_map(|i| i.alerts.iter().flat_map(|a| a.events()))
        .filter_map(|e| e.eventid.as_deref())
        .collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let list = chunk
            .iter()
            .map(|id| format!("'{}'", id.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT * FROM cloudtrail WHERE eventid IN ({list})");
        let (_, batches) = session.collect(&sql).await.map_err(Failure::from)?;
        for b in &batches {
            let ids = b
                .column_by_name("eventid")
                .and_then(|c| c.as_string_opt::<i32>().cloned());
            for row in 0..b.num_rows() {
                let Some(id) = ids
                    .as_ref()
                    .filter(|c| !c.is_null(row))
                    .map(|c| c.value(row))
                else {
                    continue;
                };
                let json = crate::output::results::row_json(b, row);
                out.insert(
                    id.to_string(),
                    serde_json::to_string_pretty(&json).expect("a row serializes"),
                );
            }
        }
    }
    Ok(out)
}

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
    Ok(query::Engine::new(
        lake,
        ranges,
        query_window(args)?,
        limits,
    )?)
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
pub(crate) fn query_limits(args: &QueryArgs, config: &Config) -> Result<query::Limits, Failure> {
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

/// The days `--since`/`--until` let a query read.
pub(crate) fn query_window(args: &QueryArgs) -> Result<query::Window, Failure> {
    settings::window(
        &args.days.since,
        &args.days.until,
        &args.days.as_of,
        settings::now(),
    )
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
pub(crate) fn warn_if_guessed(session: &query::LakeSession, warned: &mut bool) {
    if session.ranges.guessed() && !*warned {
        *warned = true;
        eprintln!(
            "traillake: no --ip-ranges given: every IP address counted as outside AWS (only \
             service names such as ecs-tasks.amazonaws.com count as AWS), so AWS's own addresses \
             (a Lambda function's calls) may have matched too; fetch AWS's ranges with \
             `traillake ip-ranges --out ip-ranges.json` and pass `--ip-ranges ip-ranges.json`"
        );
    }
}

/// `traillake ip-ranges`: AWS's ip-ranges.json, fetched, checked (it must
/// hold prefixes) and written out as fetched.
pub(crate) fn ip_ranges(args: crate::cli::IpRangesArgs) -> Result<u8, Failure> {
    use object_store::ObjectStoreExt as _;
    let url =
        url::Url::parse(&args.url).map_err(|e| usage(format!("--url {:?}: {e}", args.url)))?;
    let name = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| usage(format!("--url {:?}: no file name in it", args.url)))?
        .to_string();
    let mut base = url.clone();
    base.path_segments_mut()
        .map_err(|()| usage(format!("--url {:?}: not an http(s) URL", args.url)))?
        .pop();
    let failed = |e: &dyn std::fmt::Display| {
        Failure::Failed(format!(
            "could not fetch {}: {e}. Where this machine cannot reach it, download it where \
             one can (`curl -o ip-ranges.json {}`) and pass `detect --ip-ranges ip-ranges.json`",
            args.url,
            crate::cli::IP_RANGES_URL
        ))
    };
    let store = object_store::http::HttpBuilder::new()
        .with_url(base.as_str())
        // AWS's URL is https; an http one given by --url (a mirror on the
        // local network) is allowed, its content checked like any.
        .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
        .build()
        .map_err(|e| failed(&e))?;
    let body = runtime()?
        .block_on(async {
            store
                .get(&object_store::path::Path::from(name.as_str()))
                .await?
                .bytes()
                .await
        })
        .map_err(|e| failed(&e.to_string().lines().next().unwrap_or("").to_string()))?;
    let text = String::from_utf8_lossy(&body);
    let ranges = AwsRanges::parse(&text)
        .map_err(|e| Failure::Failed(format!("{}: not AWS's ip-ranges.json: {e}", args.url)))?;
    match &args.out {
        Some(path) => std::fs::write(path, &body)
            .map_err(|e| Failure::Failed(format!("{}: {e}", path.display())))?,
        None => emit(&text)?,
    }
    eprintln!(
        "traillake: {} address prefixes from {}{}; pass it to `detect --ip-ranges`",
        ranges.len(),
        args.url,
        args.out
            .as_ref()
            .map_or(String::new(), |p| format!(" written to {}", p.display()))
    );
    Ok(0)
}

pub(crate) fn scan_cost(args: ScanCostArgs, config: &Config) -> Result<u8, Failure> {
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
    // Costing plans the queries but runs none: the ranges judge nothing.
    let ranges = aws_ranges(args.ip_ranges.as_deref())?;
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
