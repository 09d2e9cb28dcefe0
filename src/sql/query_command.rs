//! `traillake query`: SQL text, a file, a preset or a rule file's statements
//! run in one engine, or the prompt.

use std::io::{IsTerminal, Read};

use traillake::config::Config;
use traillake::detect;
use traillake::query::{self};

use crate::cli::QueryArgs;
use crate::open_lake;
use crate::output::{emit, usage, Failure};

use super::*;

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
    warn_if_guessed(engine.session());
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
