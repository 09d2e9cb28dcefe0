//! SQL as people pass it: several statements separated by `;`, with `--`
//! and `/* */` comments, split into statements that each run in turn.

/// What a scan of SQL text ends in.
struct Scanned {
    /// Byte offsets of the `;` that end statements.
    semicolons: Vec<usize>,
    /// The last byte of code (outside comments and space), if any.
    last_code: Option<u8>,
    /// The text ends inside a string, quoted name or block comment.
    open: bool,
}

fn scan(sql: &str) -> Scanned {
    let b = sql.as_bytes();
    let mut out = Scanned {
        semicolons: Vec::new(),
        last_code: None,
        open: false,
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                out.open = true;
                while i < b.len() {
                    if b[i] == q {
                        // A doubled quote is a quote inside.
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        out.open = false;
                        break;
                    }
                    i += 1;
                }
                out.last_code = Some(q);
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                out.open = true;
                while i < b.len() {
                    if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        out.open = false;
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            c => {
                if c == b';' {
                    out.semicolons.push(i);
                }
                if !c.is_ascii_whitespace() {
                    out.last_code = Some(c);
                }
                i += 1;
            }
        }
    }
    out
}

/// The statements of `sql`, each without its `;`, comments kept; a
/// statement that is only comments and space is dropped. `;` inside
/// strings (`'...'`, with `''` as a quote), quoted identifiers (`"..."`)
/// and comments does not split.
pub fn split(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let ends = scan(sql).semicolons.into_iter().chain([sql.len()]);
    for end in ends {
        let piece = &sql[start..end];
        if scan(piece).last_code.is_some() {
            out.push(piece.trim().to_string());
        }
        start = (end + 1).min(sql.len());
    }
    out
}

/// Whether `sql` ends a statement (its last code is a `;` outside strings
/// and comments): what the interactive prompt waits for.
pub fn is_complete(sql: &str) -> bool {
    let s = scan(sql);
    !s.open && s.last_code == Some(b';')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_strings_and_comments() {
        let sql = "-- top events\nSELECT 'a;b' AS \"x;y\" FROM t; /* c; d */ SELECT 2 -- end; here\n;  ;\n-- only a comment\n";
        assert_eq!(
            split(sql),
            [
                "-- top events\nSELECT 'a;b' AS \"x;y\" FROM t",
                "/* c; d */ SELECT 2 -- end; here"
            ]
        );
        assert_eq!(split("SELECT 'it''s; fine'"), ["SELECT 'it''s; fine'"]);
        assert!(split("-- nothing\n\n").is_empty());
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- done"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1"));
    }
}
