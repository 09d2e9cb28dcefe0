//! Numbers JSON allows but a 64-bit parser does not: integers beyond 64
//! bits, and decimals beyond `f64`'s range (`1e400`). simd-json refuses the
//! whole document over one of them; rather than quarantine a file of real
//! events for it, such a number is kept digit for digit as a JSON string,
//! and the document parsed again.

/// `text` with every number too wide for 64 bits quoted; `None` when there
/// is none (the document is invalid for another reason).
pub fn quote_wide_numbers(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() + 16);
    let mut i = 0;
    let mut in_string = false;
    let mut quoted = false;
    while i < text.len() {
        let c = text[i];
        if in_string {
            out.push(c);
            if c == b'\\' {
                if let Some(&next) = text.get(i + 1) {
                    out.push(next);
                    i += 1;
                }
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                in_string = true;
                out.push(c);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < text.len()
                    && matches!(text[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                let token = &text[start..i];
                if is_wide(token) {
                    out.push(b'"');
                    out.extend_from_slice(token);
                    out.push(b'"');
                    quoted = true;
                } else {
                    out.extend_from_slice(token);
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    quoted.then_some(out)
}

/// A well-formed JSON number that a 64-bit integer or finite `f64` cannot
/// hold.
fn is_wide(token: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(token) else {
        return false;
    };
    if s.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return s.parse::<f64>().is_ok_and(|f| !f.is_finite());
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<i64>().is_err()
        && s.parse::<u64>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numbers_too_wide_are_quoted() {
        let text = br#"{"a":123456789012345678901234567890,"b":1e400,"c":-99999999999999999999,"d":18446744073709551615,"e":-5,"f":1.5e3,"s":"9999999999999999999999"}"#;
        let out = quote_wide_numbers(text).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"123456789012345678901234567890","b":"1e400","c":"-99999999999999999999","d":18446744073709551615,"e":-5,"f":1.5e3,"s":"9999999999999999999999"}"#
        );
        assert_eq!(quote_wide_numbers(br#"{"a":1,"b":"x\"1e400"}"#), None);
    }
}
