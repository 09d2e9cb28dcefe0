//! `traillake detect`: rules run as queries in one session, alerts spooled
//! and grouped into incidents, then rendered.

use std::io::IsTerminal;

use traillake::config::Config;
use traillake::detect;
use traillake::query::{self};

use crate::cli::{DetectArgs, DetectFormat};
use crate::output::{emit, usage, Failure};
use crate::{open_lake, runtime, settings};

use super::*;

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
    let window = settings::window(&args.days, settings::now())?;
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
    warn_if_guessed(&session);
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
