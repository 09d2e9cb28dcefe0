//! Query results as text: aligned tables, CSV (RFC 4180) and JSON lines.

use std::fmt::Write as _;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use datafusion::arrow::error::ArrowError;

use crate::cli::Format;

/// Renders results in `format`.
pub fn render(batches: &[RecordBatch], format: Format) -> Result<String, ArrowError> {
    match format {
        Format::Table => datafusion::arrow::util::pretty::pretty_format_batches(batches)
            .map(|t| format!("{t}\n")),
        Format::Csv | Format::Json => {
            let mut out = String::new();
            for (i, batch) in batches.iter().enumerate() {
                render_rows(batch, format, i == 0, &mut out);
            }
            Ok(out)
        }
    }
}

/// Appends one batch's rows as CSV (with the header row when `first`) or
/// JSON lines: results are streamed a batch at a time.
pub fn render_rows(batch: &RecordBatch, format: Format, first: bool, out: &mut String) {
    let schema = batch.schema();
    match format {
        Format::Csv => {
            if first {
                let header: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| csv_field(f.name()))
                    .collect();
                out.push_str(&header.join(","));
                out.push_str("\r\n");
            }
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = batch
                    .columns()
                    .iter()
                    .map(|c| match cell_json(c, row) {
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::String(s) => csv_field(&s),
                        other => csv_field(&other.to_string()),
                    })
                    .collect();
                out.push_str(&cells.join(","));
                out.push_str("\r\n");
            }
        }
        Format::Json | Format::Table => {
            for row in 0..batch.num_rows() {
                out.push('{');
                for (i, (field, col)) in schema.fields().iter().zip(batch.columns()).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(
                        out,
                        "{}:{}",
                        serde_json::Value::String(field.name().clone()),
                        cell_json(col, row)
                    );
                }
                out.push_str("}\n");
            }
        }
    }
}

/// Row `row` of `batch` as a JSON object, its nulls left out: a record as
/// the lake holds it (`detect --format html` shows each event's).
pub fn row_json(batch: &RecordBatch, row: usize) -> serde_json::Value {
    serde_json::Value::Object(
        batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, c)| (f.name().clone(), cell_json(c, row)))
            .filter(|(_, v)| !v.is_null())
            .collect(),
    )
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One cell as JSON: strings, numbers and booleans as such, structs and
/// maps as objects, lists as arrays, anything else as its display text.
fn cell_json(col: &ArrayRef, row: usize) -> serde_json::Value {
    use serde_json::Value;
    if col.is_null(row) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::Utf8 => Value::String(col.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Value::String(col.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Value::String(col.as_string_view().value(row).to_string()),
        DataType::Boolean => Value::Bool(col.as_boolean().value(row)),
        DataType::Struct(fields) => {
            let s = col.as_struct();
            Value::Object(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), cell_json(c, row)))
                    .collect(),
            )
        }
        DataType::List(_) => {
            let values = col.as_list::<i32>().value(row);
            Value::Array((0..values.len()).map(|i| cell_json(&values, i)).collect())
        }
        // A map as an object, its keys as text (as Trino's JSON cast).
        DataType::Map(..) => {
            let entries = col.as_map().value(row);
            let (keys, values) = (entries.column(0), entries.column(1));
            Value::Object(
                (0..entries.len())
                    .map(|i| {
                        let key = match cell_json(keys, i) {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, cell_json(values, i))
                    })
                    .collect(),
            )
        }
        dt if dt.is_integer() || dt.is_floating() => {
            let text = display(col, row);
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        _ => Value::String(display(col, row)),
    }
}

fn display(col: &ArrayRef, row: usize) -> String {
    ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
        .map(|f| f.value(row).to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_per_rfc_4180() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
