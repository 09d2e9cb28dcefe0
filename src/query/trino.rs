//! Athena engine 3 (Trino) functions that CloudTrail investigations use and
//! DataFusion lacks or spells differently, with Trino's semantics:
//!
//! - time: `from_iso8601_timestamp`, `from_iso8601_date`, `date_parse` and
//!   `date_format` (MySQL patterns), `parse_datetime` and `format_datetime`
//!   (Joda patterns), `date_add(unit, n, t)`, `date_diff(unit, a, b)`,
//!   `date(x)`. Timestamps are UTC (`+00:00`), as Athena's session is.
//! - strings: `split`, `regexp_extract`, `regexp_extract_all`,
//!   `regexp_replace` (every match; `$1` group references), `replace` with
//!   two arguments, `url_extract_*`, `to_utf8`, `md5`, `to_hex`.
//! - JSON text: `json_array_length`, `json_array_contains`, `json_size`,
//!   `json_parse`, `json_format`.
//! - `contains(array, x)` and `contains(ipprefix, ip)`; `ipaddress` and
//!   `ipprefix` (what `IPADDRESS '...'` and `CAST(x AS IPADDRESS)` become,
//!   see [`super::dialect`]): an address as 16 bytes that order as the
//!   addresses do.
//!
//! A value a function cannot take (an unparsable time or address) gives
//! NULL, so a row of odd data never fails a query.

use std::sync::Arc;

use super::cidr::{self, Prefix};

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Int64Array, ListArray,
    StringArray, StringBuilder, TimestampNanosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility,
};
use datafusion::prelude::SessionContext;

/// The timestamp type these functions return: UTC, as `now()` is.
pub fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))
}

fn list_of_strings() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// A function over arrays of `arities` arguments of any type, each cast
/// by the body as it needs.
pub(super) fn udf(
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

pub(super) fn strings(a: &ArrayRef) -> Result<StringArray> {
    Ok(cast(a, &DataType::Utf8)?.as_string::<i32>().clone())
}

fn str_at(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

fn timestamps(a: &ArrayRef) -> Result<TimestampNanosecondArray> {
    let t = match a.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = strings(a)?;
            let parsed: TimestampNanosecondArray =
                s.iter().map(|v| v.and_then(parse_iso8601)).collect();
            return Ok(parsed.with_timezone("+00:00"));
        }
        _ => cast(a, &utc())?,
    };
    Ok(
        t.as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>()
            .clone(),
    )
}

fn to_utc(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

fn nanos(t: DateTime<Utc>) -> Option<i64> {
    t.timestamp_nanos_opt()
}

/// ISO 8601 as Trino's `from_iso8601_timestamp` takes it: a date, or a date
/// and time with an optional fraction and offset (`Z`, `+hh:mm`); no offset
/// means UTC.
fn parse_iso8601(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return nanos(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return nanos(t.with_timezone(&Utc));
        }
    }
    let naive = s.trim_end_matches(['Z', 'z']);
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, f) {
            return nanos(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| nanos(d.and_hms_opt(0, 0, 0)?.and_utc()))
}

/// A MySQL pattern (`date_parse`, `date_format`) as a chrono one.
fn mysql_to_chrono(p: &str) -> String {
    let mut out = String::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(k) = chars.next() else {
            out.push_str("%%");
            break;
        };
        out.push_str(match k {
            'Y' => "%Y",
            'y' => "%y",
            'm' => "%m",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'H' => "%H",
            'k' => "%-H",
            'h' | 'I' => "%I",
            'l' => "%-I",
            'i' => "%M",
            's' | 'S' => "%S",
            'f' => "%6f",
            'p' => "%p",
            'T' => "%H:%M:%S",
            'r' => "%I:%M:%S %p",
            'a' => "%a",
            'W' => "%A",
            'b' => "%b",
            'M' => "%B",
            'j' => "%j",
            '%' => "%%",
            other => {
                // Not a specifier: the characters themselves.
                out.push_str("%%");
                out.push(other);
                continue;
            }
        });
    }
    out
}

/// A Joda pattern (`parse_datetime`, `format_datetime`) as a chrono one.
fn joda_to_chrono(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // A quoted literal; '' is a quote.
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                if chars[i] == '%' {
                    out.push_str("%%");
                } else {
                    out.push(chars[i]);
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        let piece = match (c, n) {
            ('y' | 'Y' | 'u', 2) => "%y",
            ('y' | 'Y' | 'u', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('D', _) => "%j",
            ('Z', 1) => "%z",
            ('Z', _) => "%:z",
            ('%', _) => "%%",
            _ => {
                for _ in 0..n {
                    out.push(c);
                }
                i += n;
                continue;
            }
        };
        out.push_str(piece);
        i += n;
    }
    out
}

/// Parses `s` with a chrono pattern: with an offset if the pattern has one,
/// else as UTC; a pattern of only a date gives its midnight.
fn parse_with(s: &str, pattern: &str) -> Option<i64> {
    if pattern.contains("%z") || pattern.contains("%:z") {
        return DateTime::parse_from_str(s, pattern)
            .ok()
            .and_then(|t| nanos(t.with_timezone(&Utc)));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, pattern) {
        return nanos(t.and_utc());
    }
    NaiveDate::parse_from_str(s, pattern)
        .ok()
        .and_then(|d| nanos(d.and_hms_opt(0, 0, 0)?.and_utc()))
}

fn format_with(t: i64, pattern: &str, zone: Option<&Tz>) -> Option<String> {
    use std::fmt::Write as _;
    let mut out = String::new();
    match zone {
        Some(z) => write!(out, "{}", to_utc(t).with_timezone(z).format(pattern)).ok()?,
        None => write!(out, "{}", to_utc(t).format(pattern)).ok()?,
    }
    Some(out)
}

/// Arrow's time zone (IANA names and offsets).
type Tz = datafusion::arrow::array::timezone::Tz;

/// The zone a timestamp argument carries (`x AT TIME ZONE 'Europe/Madrid'`,
/// `with_timezone(...)`): formatting and date parts are in it, as Trino's
/// are for a timestamp with time zone. None for UTC, text and naive values.
fn zone_of(a: &ArrayRef) -> Option<Tz> {
    match a.data_type() {
        DataType::Timestamp(_, Some(z)) if !matches!(z.as_ref(), "UTC" | "+00:00" | "Z") => {
            z.parse().ok()
        }
        _ => None,
    }
}

/// `date_add`'s arithmetic: a calendar unit and a count.
fn add(t: i64, unit: &str, n: i64) -> Option<i64> {
    let t = to_utc(t);
    let months = |m: i64| {
        if m >= 0 {
            t.checked_add_months(Months::new(u32::try_from(m).ok()?))
        } else {
            t.checked_sub_months(Months::new(u32::try_from(-m).ok()?))
        }
    };
    let delta = |d: Option<TimeDelta>| t.checked_add_signed(d?);
    let out = match unit.to_ascii_lowercase().as_str() {
        "millisecond" => delta(TimeDelta::try_milliseconds(n)),
        "second" => delta(TimeDelta::try_seconds(n)),
        "minute" => delta(TimeDelta::try_minutes(n)),
        "hour" => delta(TimeDelta::try_hours(n)),
        "day" => delta(TimeDelta::try_days(n)),
        "week" => delta(TimeDelta::try_weeks(n)),
        "month" => months(n),
        "quarter" => months(n.checked_mul(3)?),
        "year" => months(n.checked_mul(12)?),
        _ => None,
    }?;
    nanos(out)
}

/// `date_diff`: whole units from `a` to `b` (negative when `b` is first).
fn diff(unit: &str, a: i64, b: i64) -> Option<i64> {
    let (ta, tb) = (to_utc(a), to_utc(b));
    let d = tb - ta;
    let months = || {
        let m = (tb.year() as i64 * 12 + tb.month() as i64)
            - (ta.year() as i64 * 12 + ta.month() as i64);
        // A month counts once the same day and time of the month is reached.
        let (da, db) = (
            (ta.day(), ta.num_seconds_from_midnight(), ta.nanosecond()),
            (tb.day(), tb.num_seconds_from_midnight(), tb.nanosecond()),
        );
        if m > 0 && db < da {
            m - 1
        } else if m < 0 && db > da {
            m + 1
        } else {
            m
        }
    };
    Some(match unit.to_ascii_lowercase().as_str() {
        "millisecond" => d.num_milliseconds(),
        "second" => d.num_seconds(),
        "minute" => d.num_minutes(),
        "hour" => d.num_hours(),
        "day" => d.num_days(),
        "week" => d.num_weeks(),
        "month" => months(),
        "quarter" => months() / 3,
        "year" => months() / 12,
        _ => return None,
    })
}

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

fn json(s: &str) -> Option<serde_json::Value> {
    serde_json::from_str(s).ok()
}

/// Registers every function of this module in `ctx`.
pub fn register(ctx: &SessionContext) {
    udf(ctx, "from_iso8601_timestamp", &[1], utc(), |a, _| {
        let s = strings(&a[0])?;
        let t: TimestampNanosecondArray = s.iter().map(|v| v.and_then(parse_iso8601)).collect();
        Ok(Arc::new(t.with_timezone("+00:00")))
    });
    udf(ctx, "from_iso8601_date", &[1], DataType::Date32, |a, _| {
        let s = strings(&a[0])?;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
        let d: Date32Array = s
            .iter()
            .map(|v| {
                let d = NaiveDate::parse_from_str(v?.trim(), "%Y-%m-%d").ok()?;
                i32::try_from((d - epoch).num_days()).ok()
            })
            .collect();
        Ok(Arc::new(d))
    });
    udf(ctx, "date", &[1], DataType::Date32, |a, _| {
        let zone = zone_of(&a[0]);
        let t = timestamps(&a[0])?;
        let Some(zone) = zone else {
            return Ok(cast(&(Arc::new(t) as ArrayRef), &DataType::Date32)?);
        };
        // The date where the zone is, not in UTC.
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
        let d: Date32Array = t
            .iter()
            .map(|v| {
                let local = to_utc(v?).with_timezone(&zone).date_naive();
                i32::try_from((local - epoch).num_days()).ok()
            })
            .collect();
        Ok(Arc::new(d))
    });
    for (name, convert) in [
        ("date_parse", mysql_to_chrono as fn(&str) -> String),
        ("parse_datetime", joda_to_chrono),
    ] {
        udf(ctx, name, &[2], utc(), move |a, rows| {
            let (s, p) = (strings(&a[0])?, strings(&a[1])?);
            let t: TimestampNanosecondArray = (0..rows)
                .map(|i| parse_with(str_at(&s, i)?.trim(), &convert(str_at(&p, i)?)))
                .collect();
            Ok(Arc::new(t.with_timezone("+00:00")))
        });
    }
    for (name, convert) in [
        ("date_format", mysql_to_chrono as fn(&str) -> String),
        ("format_datetime", joda_to_chrono),
    ] {
        udf(ctx, name, &[2], DataType::Utf8, move |a, rows| {
            let zone = zone_of(&a[0]);
            let (t, p) = (timestamps(&a[0])?, strings(&a[1])?);
            let out: StringArray = (0..rows)
                .map(|i| {
                    if t.is_null(i) {
                        return None;
                    }
                    format_with(t.value(i), &convert(str_at(&p, i)?), zone.as_ref())
                })
                .collect();
            Ok(Arc::new(out))
        });
    }
    udf(ctx, "date_add", &[3], utc(), |a, rows| {
        let (u, n, t) = (
            strings(&a[0])?,
            cast(&a[1], &DataType::Int64)?,
            timestamps(&a[2])?,
        );
        let n = n.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let out: TimestampNanosecondArray = (0..rows)
            .map(|i| {
                if n.is_null(i) || t.is_null(i) {
                    return None;
                }
                add(t.value(i), str_at(&u, i)?, n.value(i))
            })
            .collect();
        Ok(Arc::new(out.with_timezone("+00:00")))
    });
    udf(ctx, "date_diff", &[3], DataType::Int64, |a, rows| {
        let (u, x, y) = (strings(&a[0])?, timestamps(&a[1])?, timestamps(&a[2])?);
        let out: Int64Array = (0..rows)
            .map(|i| {
                if x.is_null(i) || y.is_null(i) {
                    return None;
                }
                diff(str_at(&u, i)?, x.value(i), y.value(i))
            })
            .collect();
        Ok(Arc::new(out))
    });

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
    udf(ctx, "to_utf8", &[1], DataType::Binary, |a, _| {
        let s = strings(&a[0])?;
        let out: BinaryArray = s.iter().map(|v| v.map(str::as_bytes)).collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "md5", &[1], DataType::Binary, |a, _| {
        use md5::Digest;
        let bytes = cast(&a[0], &DataType::Binary)?;
        let out: BinaryArray = bytes
            .as_binary::<i32>()
            .iter()
            .map(|v| v.map(|b| md5::Md5::digest(b).to_vec()))
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "to_hex", &[1], DataType::Utf8, |a, _| {
        let out: StringArray = match a[0].data_type() {
            dt if dt.is_integer() => {
                let n = cast(&a[0], &DataType::Int64)?;
                n.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .iter()
                    .map(|v| v.map(|v| format!("{v:x}")))
                    .collect()
            }
            _ => {
                let b = cast(&a[0], &DataType::Binary)?;
                b.as_binary::<i32>()
                    .iter()
                    .map(|v| v.map(|b| b.iter().map(|x| format!("{x:02X}")).collect::<String>()))
                    .collect()
            }
        };
        Ok(Arc::new(out))
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
                let v = super::functions::lookup(&doc, str_at(&p, i)?)?;
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

    udf(ctx, "ipaddress", &[1], DataType::Binary, |a, _| {
        let s = strings(&a[0])?;
        let out: BinaryArray = s
            .iter()
            .map(|v| v.and_then(cidr::address).map(|b| b.to_vec()))
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "ipprefix", &[1], DataType::Utf8, |a, _| {
        let s = strings(&a[0])?;
        let out: StringArray = s
            .iter()
            .map(|v| {
                let v = v?;
                Prefix::parse(v)?;
                Some(v.trim().to_string())
            })
            .collect();
        Ok(Arc::new(out))
    });
    udf(ctx, "contains", &[2], DataType::Boolean, |a, rows| {
        match a[0].data_type() {
            DataType::List(_) | DataType::LargeList(_) => {
                let list = cast(&a[0], &list_of_strings())?;
                let list = list
                    .as_any()
                    .downcast_ref::<ListArray>()
                    .ok_or_else(|| DataFusionError::Execution("contains: not an array".into()))?;
                let needle = strings(&a[1])?;
                let out: BooleanArray = (0..rows)
                    .map(|i| {
                        if list.is_null(i) {
                            return None;
                        }
                        let n = str_at(&needle, i)?;
                        let values = list.value(i);
                        let values = values.as_string::<i32>();
                        Some(values.iter().any(|v| v == Some(n)))
                    })
                    .collect();
                Ok(Arc::new(out))
            }
            _ => {
                // contains(IPPREFIX '10.0.0.0/8', address): the address as
                // text or as `ipaddress`'s bytes.
                let p = strings(&a[0])?;
                let ips: Vec<Option<[u8; 16]>> = match a[1].data_type() {
                    DataType::Binary => a[1]
                        .as_binary::<i32>()
                        .iter()
                        .map(|v| v.and_then(|b| b.try_into().ok()))
                        .collect(),
                    _ => strings(&a[1])?
                        .iter()
                        .map(|v| v.and_then(cidr::address))
                        .collect(),
                };
                let out: BooleanArray = (0..rows)
                    .map(|i| {
                        let pre = Prefix::parse(str_at(&p, i)?)?;
                        Some(pre.contains(&ips[i]?))
                    })
                    .collect();
                Ok(Arc::new(out))
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        parse_iso8601(s).unwrap()
    }

    #[test]
    fn iso8601_takes_dates_fractions_and_offsets() {
        assert_eq!(ts("2023-03-28T17:07:25Z"), ts("2023-03-28T19:07:25+02:00"));
        assert_eq!(ts("2023-03-28"), ts("2023-03-28T00:00:00Z"));
        assert!(parse_iso8601("2023-03-28T17:07:25.123Z").is_some());
        assert!(parse_iso8601("yesterday").is_none());
    }

    #[test]
    fn patterns_follow_mysql_and_joda() {
        let t = ts("2024-01-05T07:08:09Z");
        assert_eq!(
            format_with(t, &mysql_to_chrono("%Y/%m/%d %H:%i:%s"), None).unwrap(),
            "2024/01/05 07:08:09"
        );
        assert_eq!(
            format_with(t, &joda_to_chrono("yyyy-MM-dd'T'HH:mm:ss"), None).unwrap(),
            "2024-01-05T07:08:09"
        );
        assert_eq!(
            parse_with(
                "2024-01-05T07:08:09Z",
                &mysql_to_chrono("%Y-%m-%dT%H:%i:%sZ")
            ),
            Some(t)
        );
        assert_eq!(
            parse_with("2023-07-01", &joda_to_chrono("yyyy-MM-dd")),
            Some(ts("2023-07-01"))
        );
    }

    #[test]
    fn date_arithmetic_is_calendar_arithmetic() {
        let t = ts("2024-01-31T10:00:00Z");
        assert_eq!(add(t, "month", 1), Some(ts("2024-02-29T10:00:00Z")));
        assert_eq!(add(t, "day", -31), Some(ts("2023-12-31T10:00:00Z")));
        assert_eq!(
            diff(
                "second",
                ts("2024-01-01T00:00:00Z"),
                ts("2024-01-01T00:01:30Z")
            ),
            Some(90)
        );
        assert_eq!(
            diff(
                "month",
                ts("2024-01-31T00:00:00Z"),
                ts("2024-02-29T00:00:00Z")
            ),
            Some(0)
        );
        assert_eq!(
            diff(
                "month",
                ts("2024-01-15T00:00:00Z"),
                ts("2024-03-15T00:00:00Z")
            ),
            Some(2)
        );
        assert_eq!(
            diff(
                "day",
                ts("2024-01-02T00:00:00Z"),
                ts("2024-01-01T00:00:00Z")
            ),
            Some(-1)
        );
    }

    #[test]
    fn java_group_references_become_regex_ones() {
        assert_eq!(java_replacement("$1a-$2"), "${1}a-${2}");
        assert_eq!(java_replacement("\\$1"), "$$1");
    }
}
