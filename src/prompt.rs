//! `traillake query` with no SQL on a terminal: a prompt, as duckdb and
//! datafusion-cli have. A statement may span lines and ends with `;`;
//! history is kept in `~/.traillake_history`; `.quit`, `\q`, `exit` or
//! Ctrl-D leave. An error is printed and the prompt goes on.

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use traillake::query::statements;
use traillake::store::Location;

use crate::cli::QueryArgs;
use crate::Failure;

pub fn run(lake: &Location, args: &QueryArgs, config: &crate::Config) -> Result<u8, Failure> {
    let mut editor =
        DefaultEditor::new().map_err(|e| Failure::Failed(format!("the prompt: {e}")))?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".traillake_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    eprintln!(
        "traillake query on {}: SQL over the table cloudtrail, ending with ';' (.quit to leave)",
        lake.url
    );
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
                if pending.is_empty() && matches!(word, ".quit" | ".exit" | "\\q" | "exit" | "quit")
                {
                    break;
                }
                pending.push_str(&line);
                pending.push('\n');
                if !statements::is_complete(&pending) {
                    continue;
                }
                let _ = editor.add_history_entry(pending.trim());
                for sql in statements::split(&pending) {
                    if let Err(e) = crate::run_statement(lake, &sql, args, config) {
                        eprintln!("traillake: {}", e_message(&e));
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
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(0)
}

fn e_message(f: &Failure) -> &str {
    match f {
        Failure::Usage(m) | Failure::Failed(m) => m,
    }
}
