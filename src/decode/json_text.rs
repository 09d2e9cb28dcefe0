//! Compact JSON text from a simd-json tape: what the JSON-text columns and
//! the catch-all hold. Key order, duplicate keys and unicode are kept as they
//! were; numbers are written so that they parse back to the same value.

use std::fmt::Write as _;

use simd_json::{Node, StaticNode};

/// Number of tape nodes the value starting at `nodes[0]` spans.
#[inline]
pub fn span(nodes: &[Node<'_>]) -> usize {
    match nodes[0] {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// Appends the compact JSON text of the value at `nodes[0]` to `out`.
pub fn write_value(nodes: &[Node<'_>], out: &mut String) {
    match nodes[0] {
        Node::String(s) => write_string(s, out),
        Node::Static(v) => write_static(v, out),
        Node::Object { len, .. } => {
            out.push('{');
            let mut i = 1;
            for n in 0..len {
                if n > 0 {
                    out.push(',');
                }
                if let Node::String(k) = nodes[i] {
                    write_string(k, out);
                }
                out.push(':');
                i += 1;
                write_value(&nodes[i..], out);
                i += span(&nodes[i..]);
            }
            out.push('}');
        }
        Node::Array { len, .. } => {
            out.push('[');
            let mut i = 1;
            for n in 0..len {
                if n > 0 {
                    out.push(',');
                }
                write_value(&nodes[i..], out);
                i += span(&nodes[i..]);
            }
            out.push(']');
        }
    }
}

/// Text of a scalar for a string column: `true`, `42`, `1.5`, `null`.
pub fn write_static(v: StaticNode, out: &mut String) {
    match v {
        StaticNode::Null => out.push_str("null"),
        StaticNode::Bool(true) => out.push_str("true"),
        StaticNode::Bool(false) => out.push_str("false"),
        StaticNode::I64(n) => {
            let _ = write!(out, "{n}");
        }
        StaticNode::U64(n) => {
            let _ = write!(out, "{n}");
        }
        StaticNode::F64(f) => {
            if f.is_finite() {
                // Rust's shortest round-trip formatting; keep a fraction so
                // the value stays a float for readers that care.
                let start = out.len();
                let _ = write!(out, "{f:?}");
                if !out[start..].contains(['.', 'e', 'E']) {
                    out.push_str(".0");
                }
            } else {
                out.push_str("null");
            }
        }
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
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
    fn floats_stay_floats() {
        assert_eq!(round_trip("[1.0, 0.5, -2.0]"), "[1.0,0.5,-2.0]");
    }
}
