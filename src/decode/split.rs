//! A document that does not parse whole, split into its records so each
//! can be parsed alone: one bad record is quarantined, not the file.

/// The byte ranges of the elements of a document's top-level `"Records"`
/// array, found by scanning (strings, escapes and nesting tracked, nothing
/// parsed or validated), so each can be parsed alone. `None` unless the
/// document is one object whose `Records` array and the object itself both
/// close: a truncated file is not split.
pub(super) fn split_records(text: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let mut depth = 0usize;
    let mut i = 0;
    let n = text.len();
    let mut records: Option<Vec<std::ops::Range<usize>>> = None;
    // Inside the Records array: where the current element started.
    let mut in_records = false;
    let mut element: Option<usize> = None;
    let mut last_key: Option<std::ops::Range<usize>> = None;
    while i < n {
        let c = text[i];
        match c {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < n && text[i] != b'"' {
                    if text[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= n {
                    return None;
                }
                if in_records && depth == 2 && element.is_none() {
                    element = Some(start - 1);
                }
                if depth == 1 {
                    last_key = Some(start..i);
                }
            }
            b'{' | b'[' => {
                if in_records && depth == 2 && element.is_none() {
                    element = Some(i);
                }
                depth += 1;
                if c == b'[' && depth == 2 && records.is_none() {
                    let key = last_key.take()?;
                    if &text[key] == b"Records" {
                        in_records = true;
                        records = Some(Vec::new());
                    }
                }
            }
            b'}' | b']' => {
                if in_records && depth == 2 && c == b']' {
                    if let Some(start) = element.take() {
                        records.as_mut()?.push(start..trim_end(text, start, i));
                    }
                    in_records = false;
                }
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    // Only whitespace may follow the document.
                    return text[i + 1..]
                        .iter()
                        .all(u8::is_ascii_whitespace)
                        .then_some(records)
                        .flatten();
                }
            }
            b',' if in_records && depth == 2 => {
                let start = element.take()?;
                records.as_mut()?.push(start..trim_end(text, start, i));
            }
            c if c.is_ascii_whitespace() || c == b':' || c == b',' => {}
            _ => {
                if in_records && depth == 2 && element.is_none() {
                    element = Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// `end` moved back over whitespace, not before `start`.
pub(super) fn trim_end(text: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && text[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    end
}
