//! Compact JSON text from a simd-json tape: what the JSON-text columns and
//! the catch-all hold. Key order, duplicate keys and unicode are kept as they
//! were; numbers are written so that they parse back to the same value.

use std::fmt::Write;

use simd_json::{Node, StaticNode};

/// Number of tape nodes the value starting at `nodes[0]` spans.
#[inline]
pub fn span(nodes: &[Node<'_>]) -> usize {
    match nodes[0] {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// Appends the compact JSON text of the value at `nodes[0]` to `out`: a
/// `String`, or a column builder directly (which saves copying the text
/// from a scratch string: ~74 MB of 430 MB of logs are JSON-text columns).
pub fn write_value<W: Write>(nodes: &[Node<'_>], out: &mut W) {
    match nodes[0] {
        Node::String(s) => write_string(s, out),
        Node::Static(v) => write_static(v, out),
        Node::Object { len, .. } => {
            let _ = out.write_char('{');
            let mut i = 1;
            for n in 0..len {
                if n > 0 {
                    let _ = out.write_char(',');
                }
                if let Node::String(k) = nodes[i] {
                    write_string(k, out);
                }
                let _ = out.write_char(':');
                i += 1;
                write_value(&nodes[i..], out);
                i += span(&nodes[i..]);
            }
            let _ = out.write_char('}');
        }
        Node::Array { len, .. } => {
            let _ = out.write_char('[');
            let mut i = 1;
            for n in 0..len {
                if n > 0 {
                    let _ = out.write_char(',');
                }
                write_value(&nodes[i..], out);
                i += span(&nodes[i..]);
            }
            let _ = out.write_char(']');
        }
    }
}

/// Text of a scalar for a string column: `true`, `42`, `1.5`, `null`.
pub fn write_static<W: Write>(v: StaticNode, out: &mut W) {
    let _ = match v {
        StaticNode::Null => out.write_str("null"),
        StaticNode::Bool(true) => out.write_str("true"),
        StaticNode::Bool(false) => out.write_str("false"),
        StaticNode::I64(n) => write!(out, "{n}"),
        StaticNode::U64(n) => write!(out, "{n}"),
        StaticNode::F64(f) if f.is_finite() => {
            // Rust's shortest round-trip formatting; keep a fraction so
            // the value stays a float for readers that care.
            let text = format!("{f:?}");
            let fraction = if text.contains(['.', 'e', 'E']) {
                ""
            } else {
                ".0"
            };
            write!(out, "{text}{fraction}")
        }
        StaticNode::F64(_) => out.write_str("null"),
    };
}

/// Appends `s` as a JSON string literal.
pub fn write_string<W: Write>(s: &str, out: &mut W) {
    let _ = out.write_char('"');
    if !any_needs_escape(s.as_bytes()) {
        let _ = out.write_str(s);
        let _ = out.write_char('"');
        return;
    }
    let mut start = 0;
    for (j, &b) in s.as_bytes().iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        let _ = out.write_str(&s[start..j]);
        let _ = if esc.is_empty() {
            write!(out, "\\u{:04x}", b)
        } else {
            out.write_str(esc)
        };
        start = j + 1;
    }
    let _ = out.write_str(&s[start..]);
    let _ = out.write_char('"');
}

/// Whether any byte of `b` is a control character, `"` or `\\`, eight
/// bytes at a time: the last eight overlap the ones before, and a string
/// shorter than eight is padded with spaces, so no byte is looked at alone
/// (a byte-at-a-time scan of the tails was ~2% of a run's instructions,
/// callgrind; most keys and values are shorter than 16 bytes).
#[inline]
fn any_needs_escape(b: &[u8]) -> bool {
    let n = b.len();
    if n < 8 {
        let mut w = [b' '; 8];
        w[..n].copy_from_slice(b);
        return needs_escape(u64::from_le_bytes(w));
    }
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let mut at = 0;
    while at + 8 <= n {
        if needs_escape(word(at)) {
            return true;
        }
        at += 8;
    }
    at < n && needs_escape(word(n - 8))
}

/// Whether any of the eight bytes of `w` is below 0x20, `"` or `\\`.
#[inline]
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Nonzero exactly when some byte of `x` is zero; `below_space` is the
    // same test for "some byte < 0x20" (Hacker's Delight / Bit Twiddling
    // Hacks' haszero and hasless).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let quote = has_zero(w ^ (ONES * b'"' as u64));
    let backslash = has_zero(w ^ (ONES * b'\\' as u64));
    below_space | quote | backslash != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(input: &str) -> String {
        let mut bytes = input.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).unwrap();
        let mut out = String::new();
        write_value(&tape.0, &mut out);
        out
    }

    #[test]
    fn compact_text_parses_back_to_the_same_value() {
        let inputs = [
            r#"{"a": 1, "b": [true, false, null, -3, 2.5, 1e300], "c": {"d": "x\"y\\z\n\u0001"}}"#,
            r#"{"Tagging": {"TagSet": []}, "tagging": ""}"#,
            r#"{"text": "héllo — 日本語 \ud83d\ude00", "n": 18446744073709551615}"#,
            r#"[]"#,
            r#"{}"#,
            r#""plain""#,
        ];
        for input in inputs {
            let out = round_trip(input);
            let a: serde_json::Value = serde_json::from_str(input).unwrap();
            let b: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(a, b, "{input} -> {out}");
            assert!(!out.contains(": "), "not compact: {out}");
        }
    }

    #[test]
    fn keys_differing_only_in_case_are_both_kept_in_order() {
        assert_eq!(
            round_trip(r#"{"Tagging": {"a": 1}, "tagging": ""}"#),
            r#"{"Tagging":{"a":1},"tagging":""}"#
        );
    }

    #[test]
    fn strings_are_escaped_wherever_the_character_falls() {
        for pad in 0..20 {
            for c in ['"', '\\', '\n', '\u{1}', '\u{1f}', 'é', '\u{7f}', ' '] {
                let s = format!("{}{c}{}", "a".repeat(pad), "b".repeat(pad % 7));
                let mut out = String::new();
                write_string(&s, &mut out);
                assert_eq!(out, serde_json::to_string(&s).unwrap(), "{s:?}");
            }
        }
    }

    #[test]
    fn floats_stay_floats() {
        assert_eq!(round_trip("[1.0, 0.5, -2.0]"), "[1.0,0.5,-2.0]");
    }
}
