//! JSON text: Athena's JSON paths (`$.a.b[0]["c d"]`) and the functions
//! over the JSON-text columns (`requestparameters`, ...).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use super::{str_at, strings, udf};

/// Presto/Athena-style JSON path: `$.a.b[0]["c d"]`.
fn json_path(path: &str) -> Option<Vec<PathStep>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(PathStep::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                steps.push(PathStep::Key(q.to_string()));
            } else {
                steps.push(PathStep::Index(inner.parse().ok()?));
            }
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

/// The value at an Athena JSON path in a document, if any.
pub fn lookup<'a>(doc: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    json_lookup(doc, &json_path(path)?)
}

enum PathStep {
    Key(String),
    Index(usize),
}

fn json_lookup<'a>(v: &'a serde_json::Value, steps: &[PathStep]) -> Option<&'a serde_json::Value> {
    steps.iter().try_fold(v, |v, s| match s {
        PathStep::Key(k) => v.get(k),
        PathStep::Index(i) => v.get(i),
    })
}

/// Applies a string function row by row over (json, path) arguments.
fn json_udf(
    a: &[ArrayRef],
    rows: usize,
    f: impl Fn(&serde_json::Value) -> Option<String>,
) -> Result<ArrayRef> {
    let (docs, paths) = (strings(&a[0])?, strings(&a[1])?);
    let out: StringArray = (0..rows)
        .map(|i| {
            let steps = json_path(str_at(&paths, i)?)?;
            let doc = json(str_at(&docs, i)?)?;
            json_lookup(&doc, &steps).and_then(&f)
        })
        .collect();
    Ok(Arc::new(out))
}

fn json(s: &str) -> Option<serde_json::Value> {
    serde_json::from_str(s).ok()
}

/// Registers the JSON functions in `ctx`.
pub fn register(ctx: &SessionContext) {
    // json_extract_scalar: a scalar as text; NULL for objects and arrays.
    udf(
        ctx,
        "json_extract_scalar",
        &[2],
        DataType::Utf8,
        |a, rows| {
            json_udf(a, rows, |v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
        },
    );
    // json_extract: the value as JSON text.
    udf(ctx, "json_extract", &[2], DataType::Utf8, |a, rows| {
        json_udf(a, rows, |v| Some(v.to_string()))
    });
    udf(ctx, "json_array_length", &[1], DataType::Int64, |a, _| {
        let s = strings(&a[0])?;
        let out: Int64Array = s
            .iter()
            .map(|v| json(v?)?.as_array().map(|x| x.len() as i64))
            .collect();
        Ok(Arc::new(out))
    });
    udf(
        ctx,
        "json_array_contains",
        &[2],
        DataType::Boolean,
        |a, rows| {
            let s = strings(&a[0])?;
            let needle: Vec<Option<serde_json::Value>> = match a[1].data_type() {
                DataType::Boolean => a[1]
                    .as_boolean()
                    .iter()
                    .map(|v| v.map(serde_json::Value::Bool))
                    .collect(),
                dt if dt.is_numeric() => {
                    let f = cast(&a[1], &DataType::Float64)?;
                    f.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                        .iter()
                        .map(|v| {
                            v.and_then(serde_json::Number::from_f64)
                                .map(serde_json::Value::Number)
                        })
                        .collect()
                }
                _ => strings(&a[1])?
                    .iter()
                    .map(|v| v.map(|v| serde_json::Value::String(v.to_string())))
                    .collect(),
            };
            let out: BooleanArray = (0..rows)
                .map(|i| {
                    let arr = json(str_at(&s, i)?)?;
                    let needle = needle[i].as_ref()?;
                    Some(arr.as_array()?.iter().any(|x| match (x, needle) {
                        (serde_json::Value::Number(a), serde_json::Value::Number(b)) => {
                            a.as_f64() == b.as_f64()
                        }
                        (x, n) => x == n,
                    }))
                })
                .collect();
            Ok(Arc::new(out))
        },
    );
    udf(ctx, "json_size", &[2], DataType::Int64, |a, rows| {
        let (s, p) = (strings(&a[0])?, strings(&a[1])?);
        let out: Int64Array = (0..rows)
            .map(|i| {
                let doc = json(str_at(&s, i)?)?;
                let v = lookup(&doc, str_at(&p, i)?)?;
                Some(match v {
                    serde_json::Value::Array(x) => x.len() as i64,
                    serde_json::Value::Object(x) => x.len() as i64,
                    _ => 0,
                })
            })
            .collect();
        Ok(Arc::new(out))
    });
    for name in ["json_parse", "json_format"] {
        udf(ctx, name, &[1], DataType::Utf8, |a, _| {
            let s = strings(&a[0])?;
            let out: StringArray = s.iter().map(|v| json(v?).map(|j| j.to_string())).collect();
            Ok(Arc::new(out))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_follow_athena() {
        let doc: serde_json::Value =
            serde_json::from_str(r#"{"a":{"b":[10,{"c d":"x"}]},"n":1}"#).unwrap();
        let get = |p: &str| json_path(p).and_then(|s| json_lookup(&doc, &s).cloned());
        assert_eq!(get("$.a.b[0]"), Some(serde_json::json!(10)));
        assert_eq!(get("$.a.b[1][\"c d\"]"), Some(serde_json::json!("x")));
        assert_eq!(get("$.missing"), None);
        assert!(json_path("a.b").is_none());
    }
}
