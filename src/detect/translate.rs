//! A Sigma rule's detection as one SQL condition over the `cloudtrail`
//! table.
//!
//! Semantics, as Sigma defines them and as an event's JSON reads:
//! - A field is a CloudTrail record path (`userIdentity.arn`,
//!   `requestParameters.bucketName`). Paths to our columns and struct fields
//!   match them ignoring ASCII case; a path into a JSON-text column
//!   (`requestParameters`, ...) is read with `json_extract_scalar` (a scalar
//!   as text), or `json_extract` (an object or array as compact JSON text);
//!   a path without a column (`userIdentity.identityProvider`, `status`)
//!   is read from `otherfields`, where every such key lands. A field the
//!   event does not have is NULL.
//! - Values are text; numbers and booleans compare as their JSON text.
//!   Strings match case-insensitively (`ILIKE`) unless `cased`; `*` and `?`
//!   are wildcards; `contains`, `startswith`, `endswith` add them. A list of
//!   values is OR (AND with `all`); `null` means the field is absent.
//! - Every predicate is two-valued: a NULL field does not match, so `not
//!   filter` keeps an event without the filter's field, as Sigma means.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SigmaString, SigmaValue,
    SpecialChar, StringPart,
};

use crate::schema::{Column, Kind, CATCH_ALL, COLUMNS};

/// Why a rule has no SQL.
pub type Reason = String;

/// The SQL expression (text) of a Sigma field name.
pub fn field(name: &str) -> Result<String, Reason> {
    if name.contains('[') {
        return Err(format!(
            "field {name}: array indexes and quantifiers are not supported"
        ));
    }
    let segments: Vec<&str> = name.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("field {name}: an empty path segment"));
    }
    let mut expr = String::new();
    let mut level: &[Column] = COLUMNS;
    for (i, seg) in segments.iter().enumerate() {
        let rest = &segments[i + 1..];
        let Some(col) = level.iter().find(|c| c.name.eq_ignore_ascii_case(seg)) else {
            // No column: the key is kept in `otherfields`, nested as in
            // the record, spelled as the record (and so the rule) spells it.
            return Ok(json_value(CATCH_ALL, &segments));
        };
        if expr.is_empty() {
            expr = col.name.to_string();
        } else {
            let _ = write!(expr, "['{}']", col.name);
        }
        match &col.kind {
            Kind::Str | Kind::Json | Kind::CatchAll | Kind::SourceKey if rest.is_empty() => {
                return Ok(expr)
            }
            Kind::Str | Kind::Json | Kind::CatchAll | Kind::SourceKey => {
                return Ok(json_value(&expr, rest))
            }
            Kind::Struct(children) => {
                if rest.is_empty() {
                    return Err(format!("field {name} is an object; name one of its fields"));
                }
                level = children;
            }
            Kind::ListOfStruct(_) => {
                return Err(format!(
                    "field {name} is inside the `{}` array; array fields are not supported",
                    col.name
                ))
            }
        }
    }
    unreachable!("the loop returns at the last segment")
}

/// The value at `path` in a JSON-text expression: a scalar as text, an
/// object or array as compact JSON.
fn json_value(expr: &str, path: &[&str]) -> String {
    let mut p = String::from("$");
    for seg in path {
        if seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let _ = write!(p, ".{seg}");
        } else {
            let _ = write!(p, "[\"{}\"]", seg.replace('"', "\\\""));
        }
    }
    let p = literal(&p);
    format!("coalesce(json_extract_scalar({expr}, {p}), json_extract({expr}, {p}))")
}

/// A SQL string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A named detection's condition.
pub fn detection(d: &Detection) -> Result<String, Reason> {
    match d {
        Detection::AllOf(items) => {
            let parts = items.iter().map(item).collect::<Result<Vec<_>, _>>()?;
            Ok(join(parts, "AND", "TRUE"))
        }
        Detection::AnyOf(ds) => {
            let parts = ds.iter().map(detection).collect::<Result<Vec<_>, _>>()?;
            Ok(join(parts, "OR", "FALSE"))
        }
        Detection::And(ds) => {
            let parts = ds.iter().map(detection).collect::<Result<Vec<_>, _>>()?;
            Ok(join(parts, "AND", "TRUE"))
        }
        Detection::Keywords(_) => {
            Err("keyword search (values without a field) is not supported".to_string())
        }
        Detection::ArrayMatch { field, .. } => Err(format!(
            "field {field}: array object-scope blocks are not supported"
        )),
        Detection::Conditional { .. } => {
            Err("array object-scope conditions are not supported".to_string())
        }
    }
}

fn join(parts: Vec<String>, op: &str, empty: &str) -> String {
    match parts.len() {
        0 => empty.to_string(),
        1 => parts.into_iter().next().expect("one part"),
        _ => format!("({})", parts.join(&format!(" {op} "))),
    }
}

/// One `field|modifiers: values` line.
fn item(it: &DetectionItem) -> Result<String, Reason> {
    let name = it
        .field
        .name
        .as_deref()
        .ok_or("keyword search (values without a field) is not supported")?;
    let mods = &it.field.modifiers;
    for m in mods {
        if !matches!(
            m,
            Modifier::Contains
                | Modifier::StartsWith
                | Modifier::EndsWith
                | Modifier::All
                | Modifier::Re
                | Modifier::Cidr
                | Modifier::Cased
                | Modifier::Exists
                | Modifier::FieldRef
                | Modifier::Gt
                | Modifier::Gte
                | Modifier::Lt
                | Modifier::Lte
                | Modifier::Neq
                | Modifier::IgnoreCase
                | Modifier::Multiline
                | Modifier::DotAll
                | Modifier::Expand
        ) {
            return Err(format!(
                "field {name}: modifier {} is not supported",
                modifier_name(m)
            ));
        }
    }
    let v = field(name)?;
    let has = |m: Modifier| mods.contains(&m);
    if has(Modifier::Exists) {
        return match it.values.as_slice() {
            [SigmaValue::Bool(true)] => Ok(format!("{v} IS NOT NULL")),
            [SigmaValue::Bool(false)] => Ok(format!("{v} IS NULL")),
            _ => Err(format!("field {name}|exists: expects true or false")),
        };
    }
    let mut parts = Vec::new();
    let mut values: Vec<&SigmaValue> = it.values.iter().collect();
    // Plain values, matched whole and ignoring case: one `IN` list instead
    // of an OR per value, so a rule of 10,000 values costs a set lookup per
    // row, not 10,000 comparisons (nor planning 10,000 nested ORs).
    if mods.is_empty() {
        let plain: Vec<String> = values.iter().filter_map(|v| plain_ascii(v)).collect();
        if plain.len() > 1 {
            values.retain(|v| plain_ascii(v).is_none());
            let list: Vec<String> = plain
                .iter()
                .map(|p| literal(&p.to_ascii_lowercase()))
                .collect();
            parts.push(format!(
                "coalesce(lower({v}) IN ({}), false)",
                list.join(", ")
            ));
        }
    }
    // Many strings matched as substrings, prefixes, suffixes or with
    // wildcards: one regular expression (an automaton over all of them)
    // instead of an ILIKE per value, so the cost per row does not grow with
    // the list (2,000 `contains` values: 69 s -> 1 s on 240,000 rows).
    if values.len() >= REGEX_LIST && !has(Modifier::All) {
        if let Some(pattern) = regex_list(&values, mods) {
            values.clear();
            parts.push(format!(
                "coalesce(regexp_like({v}, {}), false)",
                literal(&pattern)
            ));
        }
    }
    for value in values {
        let p = if has(Modifier::Expand) {
            placeholder(name, &v, value, mods)?
        } else if has(Modifier::FieldRef) {
            if mods.len() > 1 && !(mods.len() == 2 && has(Modifier::All)) {
                return Err(format!(
                    "field {name}|fieldref: only plain equality is supported"
                ));
            }
            let SigmaValue::String(other) = value else {
                return Err(format!("field {name}|fieldref: expects a field name"));
            };
            let other = field(&other.original)?;
            format!("coalesce({v} = {other}, false)")
        } else {
            value_predicate(name, &v, value, mods)?
        };
        parts.push(p);
    }
    let combined = if has(Modifier::All) {
        join(parts, "AND", "TRUE")
    } else {
        join(parts, "OR", "FALSE")
    };
    Ok(if has(Modifier::Neq) {
        format!("NOT {combined}")
    } else {
        combined
    })
}

/// Values of one field from which a list becomes one regular expression.
const REGEX_LIST: usize = 8;

/// One regular expression matching any of `values` as `mods` say (only
/// `contains`, `startswith`, `endswith`, wildcards and `cased`; anything
/// else: `None`, the values are matched one by one).
fn regex_list(values: &[&SigmaValue], mods: &[Modifier]) -> Option<String> {
    let kinds: Vec<&Modifier> = mods.iter().filter(|m| **m != Modifier::Cased).collect();
    let (start, end) = match kinds.as_slice() {
        [] => (true, true),
        [Modifier::Contains] => (false, false),
        [Modifier::StartsWith] => (true, false),
        [Modifier::EndsWith] => (false, true),
        _ => return None,
    };
    let mut alternatives = Vec::with_capacity(values.len());
    for value in values {
        let SigmaValue::String(s) = value else {
            return None;
        };
        let mut p = String::new();
        for part in &s.parts {
            match part {
                StringPart::Plain(t) => p.push_str(&regex::escape(t)),
                StringPart::Special(SpecialChar::WildcardMulti) => p.push_str(".*"),
                StringPart::Special(SpecialChar::WildcardSingle) => p.push('.'),
            }
        }
        alternatives.push(p);
    }
    let flags = if mods.contains(&Modifier::Cased) {
        "(?s)"
    } else {
        "(?is)"
    };
    Some(format!(
        "{flags}{}(?:{}){}",
        if start { "^" } else { "" },
        alternatives.join("|"),
        if end { "$" } else { "" }
    ))
}

/// A value matched as plain ASCII text (no wildcards), as its text: such
/// values can go in an `IN` list compared in lower case, which is what
/// `ILIKE` without wildcards does with ASCII.
fn plain_ascii(value: &SigmaValue) -> Option<String> {
    let text = match value {
        SigmaValue::String(s) => {
            let mut out = String::new();
            for part in &s.parts {
                match part {
                    StringPart::Plain(p) => out.push_str(p),
                    StringPart::Special(_) => return None,
                }
            }
            out
        }
        SigmaValue::Integer(i) => i.to_string(),
        SigmaValue::Bool(b) => b.to_string(),
        SigmaValue::Float(_) | SigmaValue::Null => return None,
    };
    text.is_ascii().then_some(text)
}

/// `expand`'s placeholders: `%aws_ip_ranges%` is AWS's own address, a
/// service name or an address in AWS's published ranges (`--ip-ranges`),
/// as `is_aws_address` tells.
fn placeholder(
    name: &str,
    v: &str,
    value: &SigmaValue,
    mods: &[Modifier],
) -> Result<String, Reason> {
    let SigmaValue::String(s) = value else {
        return Err(format!("field {name}|expand: expects a %placeholder%"));
    };
    if mods.len() > 1 {
        return Err(format!(
            "field {name}|expand: no other modifier goes with a placeholder"
        ));
    }
    match s.original.as_str() {
        "%aws_ip_ranges%" => Ok(format!("coalesce(is_aws_address({v}), false)")),
        other => Err(format!(
            "field {name}|expand: unknown placeholder {other} (traillake knows %aws_ip_ranges%)"
        )),
    }
}

fn modifier_name(m: &Modifier) -> String {
    format!("{m:?}").to_ascii_lowercase()
}

/// One value of a field: a two-valued predicate.
fn value_predicate(
    name: &str,
    v: &str,
    value: &SigmaValue,
    mods: &[Modifier],
) -> Result<String, Reason> {
    let has = |m: Modifier| mods.contains(&m);
    let numeric = [Modifier::Gt, Modifier::Gte, Modifier::Lt, Modifier::Lte];
    if let Some(op) = numeric.iter().find(|m| has(**m)) {
        let n = match value {
            SigmaValue::Integer(i) => *i as f64,
            SigmaValue::Float(f) => *f,
            SigmaValue::String(s) => s
                .original
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("field {name}: {} needs a number", modifier_name(op)))?,
            _ => {
                return Err(format!(
                    "field {name}: {} needs a number",
                    modifier_name(op)
                ))
            }
        };
        let sql_op = match op {
            Modifier::Gt => ">",
            Modifier::Gte => ">=",
            Modifier::Lt => "<",
            _ => "<=",
        };
        return Ok(format!(
            "coalesce(try_cast({v} AS DOUBLE) {sql_op} {n:?}, false)"
        ));
    }
    let text = match value {
        SigmaValue::Null => {
            return Ok(format!("{v} IS NULL"));
        }
        SigmaValue::Bool(b) => SigmaString::from_raw(&b.to_string()),
        SigmaValue::Integer(i) => SigmaString::from_raw(&i.to_string()),
        SigmaValue::Float(f) => SigmaString::from_raw(&f.to_string()),
        SigmaValue::String(s) => s.clone(),
    };
    if has(Modifier::Re) {
        let mut flags = String::new();
        for (m, f) in [
            (Modifier::IgnoreCase, 'i'),
            (Modifier::Multiline, 'm'),
            (Modifier::DotAll, 's'),
        ] {
            if has(m) {
                flags.push(f);
            }
        }
        let pattern = if flags.is_empty() {
            text.original.clone()
        } else {
            format!("(?{flags}){}", text.original)
        };
        if let Err(e) = regex::Regex::new(&pattern) {
            return Err(format!("field {name}|re: {e}"));
        }
        return Ok(format!(
            "coalesce(regexp_like({v}, {}), false)",
            literal(&pattern)
        ));
    }
    if has(Modifier::Cidr) {
        let prefix = text.original.trim();
        if !valid_cidr(prefix) {
            return Err(format!("field {name}|cidr: {prefix:?} is not a network"));
        }
        return Ok(format!(
            "coalesce(contains(ipprefix({}), {v}), false)",
            literal(prefix)
        ));
    }
    let mut pattern = String::new();
    if has(Modifier::Contains) || has(Modifier::EndsWith) {
        pattern.push('%');
    }
    for part in &text.parts {
        match part {
            StringPart::Plain(s) => {
                for c in s.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        pattern.push('\\');
                    }
                    pattern.push(c);
                }
            }
            StringPart::Special(SpecialChar::WildcardMulti) => pattern.push('%'),
            StringPart::Special(SpecialChar::WildcardSingle) => pattern.push('_'),
        }
    }
    if has(Modifier::Contains) || has(Modifier::StartsWith) {
        pattern.push('%');
    }
    let like = if has(Modifier::Cased) {
        "LIKE"
    } else {
        "ILIKE"
    };
    Ok(format!(
        "coalesce({v} {like} {} ESCAPE '\\', false)",
        literal(&pattern)
    ))
}

fn valid_cidr(s: &str) -> bool {
    crate::query::functions::ip::Prefix::parse(s).is_some()
}

/// A condition over the rule's named detections.
pub fn condition(c: &ConditionExpr, named: &BTreeMap<String, String>) -> Result<String, Reason> {
    let all = |cs: &[ConditionExpr], op, empty| -> Result<String, Reason> {
        let parts = cs
            .iter()
            .map(|c| condition(c, named))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(join(parts, op, empty))
    };
    match c {
        ConditionExpr::And(cs) => all(cs, "AND", "TRUE"),
        ConditionExpr::Or(cs) => all(cs, "OR", "FALSE"),
        ConditionExpr::Not(c) => Ok(format!("NOT {}", condition(c, named)?)),
        ConditionExpr::Identifier(id) => named
            .get(id)
            .cloned()
            .ok_or_else(|| format!("the condition names {id:?}, which the detection lacks")),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let parts: Vec<String> = named
                .iter()
                .filter(|(name, _)| pattern.matches_detection_name(name))
                .map(|(_, sql)| sql.clone())
                .collect();
            if parts.is_empty() {
                return Err(format!("`{c}` matches no detection"));
            }
            Ok(match quantifier {
                Quantifier::Any => join(parts, "OR", "FALSE"),
                Quantifier::All => join(parts, "AND", "TRUE"),
                Quantifier::Count(n) => {
                    let sum: Vec<String> = parts
                        .iter()
                        .map(|p| format!("CASE WHEN {p} THEN 1 ELSE 0 END"))
                        .collect();
                    format!("({}) >= {n}", sum.join(" + "))
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_map_to_columns_struct_fields_json_paths_and_otherfields() {
        assert_eq!(field("eventName").unwrap(), "eventname");
        assert_eq!(
            field("userIdentity.sessionContext.sessionIssuer.type").unwrap(),
            "useridentity['sessioncontext']['sessionissuer']['type']"
        );
        assert_eq!(
            field("requestParameters.bucketName").unwrap(),
            "coalesce(json_extract_scalar(requestparameters, '$.bucketName'), \
             json_extract(requestparameters, '$.bucketName'))"
        );
        assert!(field("userIdentity.identityProvider")
            .unwrap()
            .contains("json_extract_scalar(otherfields, '$.userIdentity.identityProvider')"));
        assert!(field("status")
            .unwrap()
            .contains("json_extract_scalar(otherfields, '$.status')"));
        assert!(field("resources.ARN").is_err());
        assert!(field("userIdentity").is_err());
    }
}
