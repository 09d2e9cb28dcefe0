//! Tab completion at the `query` prompt: SQL keywords, the tables, their
//! columns and the fields of struct columns (`useridentity.sessioncontext.`
//! then Tab), Trino's functions, dot commands, and preset names after
//! `.preset`.

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use traillake::query::presets::PRESETS;
use traillake::schema::{Column, Kind, COLUMNS, PARTITION_COLUMNS};

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "DISTINCT",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS NULL",
    "IS NOT NULL",
    "LIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "JOIN",
    "LEFT JOIN",
    "CROSS JOIN",
    "UNNEST",
    "ON",
    "WITH",
    "UNION ALL",
    "EXCEPT",
    "INTERSECT",
    "OVER",
    "PARTITION BY",
    "ROWS BETWEEN",
    "DESC",
    "ASC",
    "NULLS LAST",
    "DESCRIBE",
    "EXPLAIN",
    "CAST",
    "TRY_CAST",
    "INTERVAL",
    "AT TIME ZONE",
    "LATERAL",
    "VALUES",
    "WITH ORDINALITY",
    "FILTER",
];

/// Trino's functions CloudTrail queries use (docs/trino-functions.md).
const FUNCTIONS: &[&str] = &[
    "abs",
    "all_match",
    "any_match",
    "approx_distinct",
    "approx_percentile",
    "arbitrary",
    "array_agg",
    "array_distinct",
    "array_except",
    "array_intersect",
    "array_join",
    "array_max",
    "array_min",
    "array_position",
    "array_remove",
    "array_sort",
    "array_union",
    "arrays_overlap",
    "at_timezone",
    "avg",
    "bool_and",
    "bool_or",
    "cardinality",
    "ceil",
    "coalesce",
    "concat",
    "concat_ws",
    "contains",
    "count",
    "count_if",
    "date",
    "date_add",
    "date_diff",
    "date_format",
    "date_parse",
    "date_trunc",
    "day",
    "day_of_week",
    "dense_rank",
    "element_at",
    "filter",
    "first_value",
    "flatten",
    "floor",
    "format_datetime",
    "from_base64",
    "from_iso8601_date",
    "from_iso8601_timestamp",
    "from_unixtime",
    "from_utf8",
    "greatest",
    "histogram",
    "hour",
    "if",
    "is_aws_address",
    "json_array_contains",
    "json_array_length",
    "json_extract",
    "json_extract_scalar",
    "json_format",
    "json_parse",
    "json_size",
    "lag",
    "last_value",
    "lead",
    "least",
    "length",
    "levenshtein_distance",
    "lower",
    "lpad",
    "ltrim",
    "map_agg",
    "map_keys",
    "map_values",
    "max",
    "max_by",
    "md5",
    "min",
    "min_by",
    "minute",
    "month",
    "none_match",
    "now",
    "nullif",
    "parse_datetime",
    "position",
    "rank",
    "regexp_count",
    "regexp_extract",
    "regexp_extract_all",
    "regexp_like",
    "regexp_position",
    "regexp_replace",
    "replace",
    "reverse",
    "round",
    "row_number",
    "rpad",
    "rtrim",
    "sequence",
    "sha256",
    "slice",
    "split",
    "split_part",
    "starts_with",
    "strpos",
    "substr",
    "sum",
    "to_base64",
    "to_hex",
    "to_unixtime",
    "to_utf8",
    "transform",
    "trim",
    "try",
    "typeof",
    "upper",
    "url_decode",
    "url_encode",
    "url_extract_host",
    "url_extract_parameter",
    "url_extract_path",
    "year",
];

const DOT_COMMANDS: &[&str] = &[
    ".help", ".tables", ".schema", ".mode", ".timer", ".preset", ".quit",
];

/// The prompt's completer (and rustyline's other helpers, left as they
/// are).
pub struct Complete;

impl Helper for Complete {}
impl Hinter for Complete {
    type Hint = String;
}
impl Highlighter for Complete {}
impl Validator for Complete {}

impl Completer for Complete {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, words) = candidates(&line[..pos]);
        Ok((
            start,
            words
                .into_iter()
                .map(|w| Pair {
                    display: w.clone(),
                    replacement: w,
                })
                .collect(),
        ))
    }
}

/// What may follow `before` (the line up to the cursor): where the word
/// being completed starts, and its completions.
pub fn candidates(before: &str) -> (usize, Vec<String>) {
    let trimmed = before.trim_start();
    // Dot commands and their arguments.
    if trimmed.starts_with('.') {
        let lead = before.len() - trimmed.len();
        return match trimmed.split_once(' ') {
            None => (lead, starting(DOT_COMMANDS.iter().copied(), trimmed)),
            Some((cmd, arg)) => {
                let start = before.len() - arg.len();
                let options: Vec<&str> = match cmd {
                    ".preset" => PRESETS.iter().map(|p| p.name).collect(),
                    ".mode" => vec!["table", "csv", "json"],
                    ".timer" => vec!["on", "off"],
                    _ => Vec::new(),
                };
                (start, starting(options.into_iter(), arg))
            }
        };
    }
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    if let Some(dot) = word.rfind('.') {
        // A struct field: the path before the last dot names a column (a
        // table or alias before it is skipped).
        let path: Vec<&str> = word[..dot].split('.').collect();
        let partial = &word[dot + 1..];
        let fields = (0..path.len())
            .find_map(|skip| struct_fields(&path[skip..]))
            .unwrap_or_default();
        return (start + dot + 1, starting(fields.into_iter(), partial));
    }
    if word.is_empty() {
        return (start, Vec::new());
    }
    let upper = word.chars().next().is_some_and(char::is_uppercase);
    let keywords = KEYWORDS.iter().map(|k| {
        if upper {
            k.to_string()
        } else {
            k.to_lowercase()
        }
    });
    let names = COLUMNS
        .iter()
        .map(|c| c.name.to_string())
        .chain(PARTITION_COLUMNS.iter().map(|p| p.to_string()))
        .chain(traillake::query::TABLES.iter().map(|t| t.to_string()))
        .chain(FUNCTIONS.iter().map(|f| format!("{f}(")));
    let mut out: Vec<String> = keywords
        .chain(names)
        .filter(|c| c.to_lowercase().starts_with(&word.to_lowercase()))
        .collect();
    out.sort();
    out.dedup();
    (start, out)
}

fn starting<'a>(options: impl Iterator<Item = &'a str>, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = options
        .filter(|o| o.starts_with(prefix))
        .map(String::from)
        .collect();
    out.sort();
    out
}

/// The field names of the struct a path of column and field names reaches
/// (`["useridentity", "sessioncontext"]`), if it reaches one.
fn struct_fields(path: &[&str]) -> Option<Vec<&'static str>> {
    let mut level: &[Column] = COLUMNS;
    for name in path {
        let column = level.iter().find(|c| c.name.eq_ignore_ascii_case(name))?;
        level = match &column.kind {
            Kind::Struct(children) | Kind::ListOfStruct(children) => children,
            _ => return None,
        };
    }
    Some(level.iter().map(|c| c.name).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_struct_fields_at_every_depth() {
        let (at, c) = candidates("SELECT useridentity.ses");
        assert_eq!(at, "SELECT useridentity.".len());
        assert_eq!(c, ["sessioncontext"]);
        let (_, c) = candidates("SELECT t.useridentity.sessioncontext.sessionissuer.");
        assert_eq!(c, ["accountid", "arn", "principalid", "type", "username"]);
        let (_, c) = candidates("SELECT r.");
        assert!(c.is_empty());
    }

    #[test]
    fn completes_keywords_columns_functions_and_presets() {
        let (at, c) = candidates("SELECT count(*) FROM cloudtrail WHERE eventn");
        assert_eq!(at, "SELECT count(*) FROM cloudtrail WHERE ".len());
        assert_eq!(c, ["eventname"]);
        let (_, c) = candidates("SEL");
        assert_eq!(c, ["SELECT"]);
        let (_, c) = candidates("select json_extract_s");
        assert_eq!(c, ["json_extract_scalar("]);
        let (_, c) = candidates("select * from cloudtrail_a");
        assert_eq!(c, ["cloudtrail_all_versions"]);
        let (at, c) = candidates(".preset top-");
        assert_eq!(at, ".preset ".len());
        assert_eq!(c, ["top-events"]);
        let (_, c) = candidates(".mo");
        assert_eq!(c, [".mode"]);
    }
}
