//! The statement's text before parsing: Trino spellings the parser does
//! not take (`IPADDRESS '...'`, `CAST(x AS ARRAY(VARCHAR))`, `VALUES 1, 2`),
//! quoted identifiers in lower case.

use super::*;

/// `IPADDRESS '...'` and `IPPREFIX '...'` literals as function calls: they
/// do not parse as they are.
pub fn prepare(sql: &str) -> String {
    let dialect = crate::query::athena::Athena;
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        return sql.to_string();
    };
    // Everything but the rewritten literals is copied from the text as it
    // was written (quotes, escapes and comments included).
    let mut cursor = Cursor::default();
    let mut offset = |loc: Location| cursor.byte_offset(sql, loc);
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut i = 0;
    while i < tokens.len() {
        if let Token::Word(w) = &tokens[i].token {
            // Athena's identifiers ignore case, quoted or not: `"eventName"`
            // is the column `eventname`, and so is its result name.
            if w.quote_style == Some('"') && w.value.chars().any(char::is_uppercase) {
                let start = offset(tokens[i].span.start);
                let end = offset(tokens[i].span.end);
                out.push_str(&sql[copied..start]);
                out.push('"');
                out.push_str(&w.value.to_lowercase().replace('"', "\"\""));
                out.push('"');
                copied = end;
                i += 1;
                continue;
            }
            let name = w.value.to_ascii_uppercase();
            // Trino's `VALUES 1, 2, 3`: one-column rows without their
            // parentheses, which the parser wants.
            if w.quote_style.is_none() && name == "VALUES" {
                if let Some((text, next)) = values_rows(sql, &tokens, i, &mut offset) {
                    let start = offset(tokens[i].span.start);
                    out.push_str(&sql[copied..start]);
                    out.push_str(&text);
                    copied = offset(tokens[next - 1].span.end);
                    i = next;
                    continue;
                }
            }
            // Trino's `CAST(x AS ARRAY(VARCHAR))`: DataFusion's `VARCHAR[]`.
            if w.quote_style.is_none() && name == "ARRAY" {
                let at = |k: usize| tokens.get(k).map(|t| &t.token);
                let skip_ws = |mut k: usize| {
                    while matches!(at(k), Some(Token::Whitespace(_))) {
                        k += 1;
                    }
                    k
                };
                let mut back = i;
                let after_as = loop {
                    if back == 0 {
                        break false;
                    }
                    back -= 1;
                    match at(back) {
                        Some(Token::Whitespace(_)) => continue,
                        Some(Token::Word(p)) => break p.value.eq_ignore_ascii_case("AS"),
                        _ => break false,
                    }
                };
                let open = skip_ws(i + 1);
                let ty = skip_ws(open + 1);
                let close = skip_ws(ty + 1);
                if let (true, Some(Token::LParen), Some(Token::Word(t)), Some(Token::RParen)) =
                    (after_as, at(open), at(ty), at(close))
                {
                    let start = offset(tokens[i].span.start);
                    let end = offset(tokens[close].span.end);
                    out.push_str(&sql[copied..start]);
                    out.push_str(&format!("{}[]", t.value));
                    copied = end;
                    i = close + 1;
                    continue;
                }
            }
            if w.quote_style.is_none() && (name == "IPADDRESS" || name == "IPPREFIX") {
                // The next token past whitespace: a string literal?
                let mut j = i + 1;
                while matches!(tokens.get(j).map(|t| &t.token), Some(Token::Whitespace(_))) {
                    j += 1;
                }
                if let Some(Token::SingleQuotedString(s)) = tokens.get(j).map(|t| &t.token) {
                    let start = offset(tokens[i].span.start);
                    out.push_str(&sql[copied..start]);
                    out.push_str(&format!(
                        "{}('{}')",
                        name.to_ascii_lowercase(),
                        s.replace('\'', "''")
                    ));
                    copied = offset(tokens[j].span.end);
                    i = j + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&sql[copied..]);
    out
}

/// `VALUES a, b, c` (at token `at`) as `VALUES (a), (b), (c)`, and the
/// index of the token after it; None when the rows have their parentheses
/// (`VALUES (1, 'a'), ...`).
pub(super) fn values_rows(
    sql: &str,
    tokens: &[datafusion::sql::sqlparser::tokenizer::TokenWithSpan],
    at: usize,
    offset: &mut impl FnMut(Location) -> usize,
) -> Option<(String, usize)> {
    let mut j = at + 1;
    while matches!(tokens.get(j).map(|t| &t.token), Some(Token::Whitespace(_))) {
        j += 1;
    }
    if matches!(tokens.get(j).map(|t| &t.token), Some(Token::LParen) | None) {
        return None;
    }
    // The rows end at a closing parenthesis, `;`, the end, or a clause
    // keyword at depth 0.
    let mut depth = 0usize;
    let mut items: Vec<(usize, usize)> = Vec::new(); // token ranges
    let mut first = j;
    let mut k = j;
    let mut last = j; // last non-space token of the current item
    while let Some(t) = tokens.get(k) {
        match &t.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket if depth == 0 => break,
            Token::RParen | Token::RBracket => depth -= 1,
            Token::SemiColon if depth == 0 => break,
            Token::Comma if depth == 0 => {
                items.push((first, last));
                first = k + 1;
                while matches!(
                    tokens.get(first).map(|t| &t.token),
                    Some(Token::Whitespace(_))
                ) {
                    first += 1;
                }
            }
            Token::Word(w)
                if depth == 0
                    && w.quote_style.is_none()
                    && matches!(
                        w.value.to_ascii_uppercase().as_str(),
                        "ORDER" | "LIMIT" | "UNION" | "EXCEPT" | "INTERSECT" | "OFFSET" | "FETCH"
                    ) =>
            {
                break
            }
            Token::Whitespace(_) => {}
            _ => {}
        }
        if !matches!(t.token, Token::Whitespace(_) | Token::Comma) {
            last = k;
        }
        k += 1;
    }
    if last < first {
        return None;
    }
    items.push((first, last));
    let rows: Vec<String> = items
        .iter()
        .map(|&(a, b)| {
            let (from, to) = (offset(tokens[a].span.start), offset(tokens[b].span.end));
            format!("({})", &sql[from..to])
        })
        .collect();
    Some((format!("VALUES {}", rows.join(", ")), last + 1))
}

/// Byte offsets of tokenizer locations (1-based line and column, the
/// column in characters) in `sql`, asked for in increasing order: each is
/// found from the last, so a statement's tokens cost one pass over it.
#[derive(Default)]
pub(super) struct Cursor {
    at: usize,
    line: u64,
    column: u64,
}

impl Cursor {
    fn byte_offset(&mut self, sql: &str, loc: Location) -> usize {
        if self.line == 0 || (loc.line, loc.column) < (self.line, self.column) {
            *self = Cursor {
                at: 0,
                line: 1,
                column: 1,
            };
        }
        for (i, c) in sql[self.at..].char_indices() {
            if self.line == loc.line && self.column == loc.column {
                self.at += i;
                return self.at;
            }
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.at = sql.len();
        sql.len()
    }
}
