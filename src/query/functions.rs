//! Functions Athena's CloudTrail queries use that DataFusion does not name
//! the same way: `json_extract_scalar` and `json_extract` on the JSON-text
//! columns, and `is_aws_address` for the `role-outside-aws` preset.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::prelude::SessionContext;

use super::presets::AwsRanges;

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
    args: &[ColumnarValue],
    f: impl Fn(&serde_json::Value) -> Option<String>,
) -> datafusion::error::Result<ColumnarValue> {
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let cast = |a: &ArrayRef| datafusion::arrow::compute::cast(a, &DataType::Utf8);
    let (docs, paths) = (cast(&arrays[0])?, cast(&arrays[1])?);
    let (docs, paths) = (docs.as_string::<i32>(), paths.as_string::<i32>());
    let out: StringArray = (0..docs.len())
        .map(|i| {
            if docs.is_null(i) || paths.is_null(i) {
                return None;
            }
            let steps = json_path(paths.value(i))?;
            let doc: serde_json::Value = serde_json::from_str(docs.value(i)).ok()?;
            json_lookup(&doc, &steps).and_then(&f)
        })
        .collect();
    finish(Arc::new(out), scalar)
}

fn finish(out: ArrayRef, scalar: bool) -> datafusion::error::Result<ColumnarValue> {
    if scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(out))
    }
}

pub fn register(ctx: &SessionContext, ranges: Arc<AwsRanges>) {
    super::trino::register(ctx);
    // json_extract_scalar: a scalar as text; NULL for objects and arrays.
    ctx.register_udf(create_udf(
        "json_extract_scalar",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args| {
            json_udf(args, |v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
        }),
    ));
    // json_extract: the value as JSON text.
    ctx.register_udf(create_udf(
        "json_extract",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args| json_udf(args, |v| Some(v.to_string()))),
    ));
    ctx.register_udf(create_udf(
        "is_aws_address",
        vec![DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(move |args| {
            let scalar = matches!(args[0], ColumnarValue::Scalar(_));
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let s = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let s = s.as_string::<i32>();
            let out: BooleanArray = (0..s.len())
                .map(|i| (!s.is_null(i)).then(|| ranges.is_aws(s.value(i))))
                .collect();
            finish(Arc::new(out), scalar)
        }),
    ));
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
