//! `traillake query` with no SQL on a terminal: a prompt, as duckdb and
//! datafusion-cli have. A statement may span lines and ends with `;`.
//! History is kept in `~/.traillake_history`, saved after every statement.
//! Ctrl-C while a query runs cancels it and keeps the prompt; Ctrl-C while
//! typing drops the statement; `.quit`, `\q`, `exit` or Ctrl-D leave.
//! Tables show the first [`SHOWN`] rows (with the count of all) and lines
//! fit the terminal's width. Dot commands: `.help`, `.tables`, `.schema`
//! (`\d`), `.mode table|csv|json`, `.timer on|off`, `.preset NAME
//! [key=value ...]`, `.quit`. Tab completes keywords, columns, struct
//! fields, functions and presets ([`crate::complete`]).

use std::time::Instant;

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::Editor;
use traillake::query::{self, statements, Engine, QueryError};

use crate::cli::Format;
use traillake::schema::COLUMNS;

use crate::cli::QueryArgs;
use crate::output::Failure;

/// Rows a table shows at the prompt (the rest are counted).
const SHOWN: usize = 40;

const HELP: &str = "\
SQL over the table `cloudtrail` (Athena's dialect), ending with ';'. Also:
  .tables            the tables
  .schema, \\d        cloudtrail's columns, with Athena's types
  .mode MODE         results as table (default), csv or json
  .timer on|off      print each statement's time
  .preset NAME [k=v] run a preset (traillake query --list-presets)
  .help              this
  .quit, \\q, Ctrl-D  leave
Ctrl-C cancels a running query (the prompt stays) or drops what is typed.
Tab completes keywords, columns, struct fields (useridentity.<Tab>),
functions and preset names.";

/// The prompt over `engine`'s session (`url` is the lake's), one for every
/// statement typed.
pub fn run(mut engine: Engine, url: &str, args: &QueryArgs) -> Result<u8, Failure> {
    let mut editor: Editor<crate::complete::Complete, DefaultHistory> =
        Editor::new().map_err(|e| Failure::Failed(format!("the prompt: {e}")))?;
    editor.set_helper(Some(crate::complete::Complete));
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".traillake_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    eprintln!(
        "traillake query on {}: SQL over the table cloudtrail, ending with ';' (.help, .quit)",
        url
    );
    let mut mode: Format = args.format;
    let mut timer = false;
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "traillake> "
        } else {
            "        -> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let word = line.trim();
                if pending.is_empty() && (word.starts_with('.') || word.starts_with('\\')) {
                    let _ = editor.add_history_entry(word);
                    save(&mut editor, &history);
                    match dot(word, &mut mode, &mut timer) {
                        Dot::Quit => break,
                        Dot::Done => {}
                        Dot::Run(sql) => {
                            let width = width(&mut editor);
                            if let Err(e) = statement(&mut engine, &sql, args, mode, width) {
                                eprintln!("traillake: {}", e_message(&e));
                            }
                            crate::sql::warn_if_guessed(engine.session());
                        }
                    }
                    continue;
                }
                if pending.is_empty() && matches!(word, "exit" | "quit") {
                    break;
                }
                pending.push_str(&line);
                pending.push('\n');
                if !statements::is_complete(&pending) {
                    continue;
                }
                let _ = editor.add_history_entry(pending.trim());
                save(&mut editor, &history);
                let width = width(&mut editor);
                for sql in statements::split(&pending) {
                    let started = Instant::now();
                    if let Err(e) = statement(&mut engine, &sql, args, mode, width) {
                        eprintln!("traillake: {}", e_message(&e));
                    }
                    crate::sql::warn_if_guessed(engine.session());
                    if timer {
                        eprintln!("time: {:.3} s", started.elapsed().as_secs_f64());
                    }
                }
                pending.clear();
            }
            // Ctrl-C drops the statement being typed.
            Err(ReadlineError::Interrupted) => pending.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Failure::Failed(format!("the prompt: {e}"))),
        }
    }
    save(&mut editor, &history);
    Ok(0)
}

/// The terminal's width in characters (120 when it cannot be told).
fn width(editor: &mut Editor<crate::complete::Complete, DefaultHistory>) -> usize {
    editor
        .dimensions()
        .map(|(w, _)| w as usize)
        .filter(|&w| w >= 20)
        .unwrap_or(120)
}

fn save(
    editor: &mut Editor<crate::complete::Complete, DefaultHistory>,
    history: &Option<std::path::PathBuf>,
) {
    if let Some(h) = history {
        let _ = editor.save_history(h);
    }
}

enum Dot {
    Done,
    Quit,
    /// Run this SQL (a preset's).
    Run(String),
}

/// A dot command.
fn dot(word: &str, mode: &mut Format, timer: &mut bool) -> Dot {
    let mut parts = word.split_whitespace();
    let cmd = parts.next().unwrap_or("");
    let arg = parts.next();
    match (cmd, arg) {
        (".quit" | ".exit" | "\\q", _) => return Dot::Quit,
        (".help" | "\\?" | "\\h", _) => eprintln!("{HELP}"),
        (".tables" | "\\dt", _) => {
            println!("{}", query::TABLES.join("\n"))
        }
        (".schema" | "\\d", _) => print!("{}", schema_text()),
        (".mode", Some("table")) => *mode = Format::Table,
        (".mode", Some("csv")) => *mode = Format::Csv,
        (".mode", Some("json")) => *mode = Format::Json,
        (".timer", Some("on")) => *timer = true,
        (".timer", Some("off")) => *timer = false,
        (".preset", Some(name)) => {
            let params: Vec<(String, String)> = parts
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            match query::presets::preset_sql(name, &params) {
                Ok(sql) => return Dot::Run(sql),
                Err(e) => eprintln!("traillake: {e}"),
            }
        }
        _ => eprintln!("traillake: unknown command {word:?}; .help lists them"),
    }
    Dot::Done
}

/// `cloudtrail`'s columns with Athena's types, as the DDL writes them.
fn schema_text() -> String {
    let mut out = String::new();
    for c in COLUMNS {
        out.push_str(&format!(
            "{:<28} {}\n",
            c.name,
            traillake::ddl::hive_type(&c.kind)
        ));
    }
    for p in traillake::schema::PARTITION_COLUMNS {
        out.push_str(&format!("{p:<28} string (partition)\n"));
    }
    out
}

/// Runs one statement at the prompt: cancelled by Ctrl-C; a table shows
/// the first [`SHOWN`] rows and counts the rest; lines fit the terminal.
fn statement(
    engine: &mut Engine,
    sql: &str,
    args: &QueryArgs,
    mode: Format,
    width: usize,
) -> Result<(), Failure> {
    if mode != Format::Table {
        return crate::sql::run_statement(engine, sql, mode, args);
    }
    let mut kept = Vec::new();
    let mut rows = 0usize;
    engine
        .stream(sql, |b| {
            let room = SHOWN.saturating_sub(rows);
            if room > 0 {
                kept.push(b.slice(0, room.min(b.num_rows())));
            }
            rows += b.num_rows();
            Ok(())
        })
        .map_err(|e| match e {
            QueryError::Cancelled => Failure::Failed("cancelled".into()),
            e => e.into(),
        })?;
    let text = crate::output::results::render(&kept, Format::Table)?;
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(&fit(line, width));
        out.push('\n');
    }
    if rows > SHOWN {
        out.push_str(&format!(
            "({rows} rows, the first {SHOWN} shown; .mode csv for all)\n"
        ));
    } else {
        out.push_str(&format!(
            "({rows} row{})\n",
            if rows == 1 { "" } else { "s" }
        ));
    }
    crate::output::emit(&out)
}

/// A line cut to `width` characters, ending in `…` when cut.
fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut s: String = line.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

fn e_message(f: &Failure) -> &str {
    match f {
        Failure::Usage(m) | Failure::Failed(m) => m,
    }
}
