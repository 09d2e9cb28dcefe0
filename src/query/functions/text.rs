//! Text: `split`, the `regexp_*` functions (Java's group references), a
//! two-argument `replace`, and the `url_extract_*` functions.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use super::{list_of_strings, str_at, strings, udf};

/// The optional group argument (the third) of the `regexp_extract`s.
fn group_arg(a: &[ArrayRef]) -> Result<Option<ArrayRef>> {
    a.get(2)
        .map(|g| cast(g, &DataType::Int64))
        .transpose()
        .map_err(Into::into)
}

/// Row `i`'s group: 0 (the whole match) without the argument; none when
/// it is NULL or negative.
fn group_at(g: &Option<ArrayRef>, i: usize) -> Option<usize> {
    match g {
        Some(g) => {
            let g = g.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            if g.is_null(i) {
                return None;
            }
            usize::try_from(g.value(i)).ok()
        }
        None => Some(0),
    }
}

/// A cached regex for each distinct pattern of a batch (patterns are
/// nearly always one literal).
struct Regexes(Vec<(String, Option<regex::Regex>)>);

impl Regexes {
    fn get(&mut self, p: &str) -> Option<&regex::Regex> {
        if let Some(i) = self.0.iter().position(|(k, _)| k == p) {
            return self.0[i].1.as_ref();
        }
        self.0.push((p.to_string(), regex::Regex::new(p).ok()));
        self.0.last().and_then(|(_, r)| r.as_ref())
    }
}

/// Java's `$1` group references in a replacement, as the regex crate
/// reads them (`${1}`; its own `$1a` would be a group named `1a`).
fn java_replacement(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if n == '$' {
                        out.push_str("$$");
                    } else {
                        out.push(n);
                    }
                }
            }
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn url_part(s: &str, part: &str) -> Option<String> {
    let u = url::Url::parse(s).ok()?;
    match part {
        "host" => u.host_str().map(str::to_string),
        "path" => Some(u.path().to_string()),
        "protocol" => Some(u.scheme().to_string()),
        "query" => u.query().map(str::to_string),
        "fragment" => u.fragment().map(str::to_string),
        _ => None,
    }
}

/// Registers the text functions in `ctx`.
pub fn register(ctx: &SessionContext) {
    udf(ctx, "split", &[2, 3], list_of_strings(), |a, rows| {
        let (s, d) = (strings(&a[0])?, strings(&a[1])?);
        let limit = match a.get(2) {
            Some(l) => Some(cast(l, &DataType::Int64)?),
            None => None,
        };
        let mut b = datafusion::arrow::array::ListBuilder::new(StringBuilder::new());
        for i in 0..rows {
            match (str_at(&s, i), str_at(&d, i)) {
                (Some(s), Some(d)) => {
                    let n = limit.as_ref().and_then(|l| {
                        let l = l.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                        (!l.is_null(i)).then(|| l.value(i).max(1) as usize)
                    });
                    let parts: Vec<&str> = match (n, d.is_empty()) {
                        (_, true) => vec![s],
                        (Some(n), false) => s.splitn(n, d).collect(),
                        (None, false) => s.split(d).collect(),
                    };
                    for p in parts {
                        b.values().append_value(p);
                    }
                    b.append(true);
                }
                _ => b.append(false),
            }
        }
        Ok(Arc::new(b.finish()))
    });
    udf(ctx, "regexp_extract", &[2, 3], DataType::Utf8, |a, rows| {
        let (s, p) = (strings(&a[0])?, strings(&a[1])?);
        let g = group_arg(a)?;
        let mut cache = Regexes(Vec::new());
        let out: StringArray = (0..rows)
            .map(|i| {
                let group = group_at(&g, i)?;
                let re = cache.get(str_at(&p, i)?)?;
                let caps = re.captures(str_at(&s, i)?)?;
                caps.get(group).map(|m| m.as_str().to_string())
            })
            .collect();
        Ok(Arc::new(out))
    });
    udf(
        ctx,
        "regexp_extract_all",
        &[2, 3],
        list_of_strings(),
        |a, rows| {
            let (s, p) = (strings(&a[0])?, strings(&a[1])?);
            let g = group_arg(a)?;
            let mut cache = Regexes(Vec::new());
            let mut b = datafusion::arrow::array::ListBuilder::new(StringBuilder::new());
            for i in 0..rows {
                let group = group_at(&g, i);
                match (
                    str_at(&s, i),
                    str_at(&p, i).and_then(|p| cache.get(p).cloned()),
                    group,
                ) {
                    (Some(s), Some(re), Some(group)) => {
                        for caps in re.captures_iter(s) {
                            match caps.get(group) {
                                Some(m) => b.values().append_value(m.as_str()),
                                None => b.values().append_null(),
                            }
                        }
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Ok(Arc::new(b.finish()))
        },
    );
    udf(ctx, "regexp_replace", &[2, 3], DataType::Utf8, |a, rows| {
        let (s, p) = (strings(&a[0])?, strings(&a[1])?);
        let r = match a.get(2) {
            Some(r) => Some(strings(r)?),
            None => None,
        };
        let mut cache = Regexes(Vec::new());
        let out: StringArray = (0..rows)
            .map(|i| {
                let with = match &r {
                    Some(r) => java_replacement(str_at(r, i)?),
                    None => String::new(),
                };
                let re = cache.get(str_at(&p, i)?)?;
                Some(re.replace_all(str_at(&s, i)?, with.as_str()).into_owned())
            })
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "replace", &[2, 3], DataType::Utf8, |a, rows| {
        let (s, from) = (strings(&a[0])?, strings(&a[1])?);
        let to = match a.get(2) {
            Some(t) => Some(strings(t)?),
            None => None,
        };
        let out: StringArray = (0..rows)
            .map(|i| {
                let to = match &to {
                    Some(t) => str_at(t, i)?,
                    None => "",
                };
                let (s, from) = (str_at(&s, i)?, str_at(&from, i)?);
                Some(if from.is_empty() {
                    s.to_string()
                } else {
                    s.replace(from, to)
                })
            })
            .collect();
        Ok(Arc::new(out))
    });
    for part in ["host", "path", "protocol", "query", "fragment"] {
        udf(
            ctx,
            &format!("url_extract_{part}"),
            &[1],
            DataType::Utf8,
            move |a, _| {
                let s = strings(&a[0])?;
                let out: StringArray = s.iter().map(|v| url_part(v?, part)).collect();
                Ok(Arc::new(out))
            },
        );
    }
    udf(ctx, "url_extract_port", &[1], DataType::Int64, |a, _| {
        let s = strings(&a[0])?;
        let out: Int64Array = s
            .iter()
            .map(|v| url::Url::parse(v?).ok()?.port().map(i64::from))
            .collect();
        Ok(Arc::new(out))
    });
    udf(
        ctx,
        "url_extract_parameter",
        &[2],
        DataType::Utf8,
        |a, rows| {
            let (s, name) = (strings(&a[0])?, strings(&a[1])?);
            let out: StringArray = (0..rows)
                .map(|i| {
                    let u = url::Url::parse(str_at(&s, i)?).ok()?;
                    let name = str_at(&name, i)?;
                    u.query_pairs()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.into_owned())
                })
                .collect();
            Ok(Arc::new(out))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_group_references_become_regex_ones() {
        assert_eq!(java_replacement("$1a-$2"), "${1}a-${2}");
        assert_eq!(java_replacement("\\$1"), "$$1");
    }
}
