//! Athena engine 3 (Trino) functions that CloudTrail investigations use and
//! DataFusion lacks or spells differently, with Trino's semantics, one
//! theme per file, each registering its own:
//!
//! - [`time`]: `from_iso8601_timestamp`, `from_iso8601_date`, `date_parse`
//!   and `date_format` (MySQL patterns), `parse_datetime` and
//!   `format_datetime` (Joda patterns), `date_add(unit, n, t)`,
//!   `date_diff(unit, a, b)`, `date(x)`. Timestamps are UTC (`+00:00`), as
//!   Athena's session is.
//! - [`text`]: `split`, `regexp_extract`, `regexp_extract_all`,
//!   `regexp_replace` (every match; `$1` group references), `replace` with
//!   two arguments, `url_extract_*`.
//! - [`binary`]: `to_utf8`, `md5`, `sha*`, `to_hex`, base64, URL encoding.
//! - [`json`]: `json_extract_scalar`, `json_extract`, `json_array_length`,
//!   `json_array_contains`, `json_size`, `json_parse`, `json_format` on the
//!   JSON-text columns.
//! - [`ip`]: `ipaddress` and `ipprefix` (what `IPADDRESS '...'` and
//!   `CAST(x AS IPADDRESS)` become, see [`super::dialect`]: an address as 16
//!   bytes that order as the addresses do), `contains(array, x)` and
//!   `contains(ipprefix, ip)`, AWS's published ranges and `is_aws_address`.
//! - [`maps`]: `histogram`, `map_agg`, `element_at`.
//! - [`overloads`]: `reverse` and `concat` over arrays or text.
//!
//! A value a function cannot take (an unparsable time or address) gives
//! NULL, so a row of odd data never fails a query.

pub mod binary;
pub mod ip;
pub mod json;
pub mod maps;
pub mod overloads;
pub mod text;
pub mod time;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Registers every function of every theme in `ctx`; `is_aws_address`
/// answers from `ranges`.
pub fn register(ctx: &SessionContext, ranges: Arc<ip::AwsRanges>) {
    time::register(ctx);
    text::register(ctx);
    binary::register(ctx);
    json::register(ctx);
    ip::register(ctx, ranges);
    maps::register(ctx);
    overloads::register(ctx);
}

/// The timestamp type these functions return: UTC, as `now()` is.
pub fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))
}

pub(crate) fn list_of_strings() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// A function over arrays of `arities` arguments of any type, each cast
/// by the body as it needs.
pub(crate) fn udf(
    ctx: &SessionContext,
    name: &str,
    arities: &[usize],
    ret: DataType,
    body: impl Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync + 'static,
) {
    let signature = Signature::one_of(
        arities.iter().map(|&n| TypeSignature::Any(n)).collect(),
        Volatility::Immutable,
    );
    let fun = Arc::new(move |args: &[ColumnarValue]| {
        let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let rows = arrays.first().map_or(1, |a| a.len());
        let out = body(&arrays, rows)?;
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    });
    ctx.register_udf(ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name, signature, ret, fun,
    )));
}

pub(crate) fn strings(a: &ArrayRef) -> Result<StringArray> {
    Ok(cast(a, &DataType::Utf8)?.as_string::<i32>().clone())
}

pub(crate) fn str_at(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}
