//! Time: ISO 8601, MySQL and Joda patterns, calendar arithmetic, dates in
//! a zone. Timestamps are UTC (`+00:00`), as Athena's session is.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, StringArray, TimestampNanosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use super::{str_at, strings, udf, utc};

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

/// Registers the time functions in `ctx`.
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
}
