//! Partition keys: which `account=/region=/year=/month=/day=` folder an event
//! belongs to, decided by the event itself (`recipientAccountId`, `awsRegion`,
//! UTC date of `eventTime`), with the log object's path only as fallback.
//! One function renders Hive paths.

use std::fmt;

/// A lake partition. Values are strings, zero-padded (`month=01`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub account: String,
    pub region: String,
    pub year: String,
    pub month: String,
    pub day: String,
}

impl PartitionKey {
    /// `account=A/region=R/year=Y/month=M/day=D`, relative to the lake root.
    pub fn hive_path(&self) -> String {
        format!(
            "account={}/region={}/year={}/month={}/day={}",
            self.account, self.region, self.year, self.month, self.day
        )
    }

    /// Parses a Hive path (`account=../day=..`, possibly with more segments
    /// after it) back into a key.
    pub fn from_hive_path(path: &str) -> Option<Self> {
        let mut parts = path.split('/');
        let mut next = |name: &str| -> Option<String> {
            let seg = parts.next()?;
            let value = seg.strip_prefix(name)?.strip_prefix('=')?;
            is_partition_value(value).then(|| value.to_string())
        };
        Some(Self {
            account: next("account")?,
            region: next("region")?,
            year: next("year")?,
            month: next("month")?,
            day: next("day")?,
        })
    }

    pub fn values(&self) -> [&str; 5] {
        [
            &self.account,
            &self.region,
            &self.year,
            &self.month,
            &self.day,
        ]
    }

    /// `YYYY-MM-DD`, for date filters.
    pub fn date(&self) -> String {
        format!("{}-{}-{}", self.year, self.month, self.day)
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hive_path())
    }
}

/// A value may become a path segment: non-empty, short, and only characters
/// that need no escaping anywhere (S3 keys, Hive, local file systems).
pub fn is_partition_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v != "."
        && v != ".."
        && v.bytes().all(|b| PARTITION_BYTES[b as usize])
}

/// The bytes a partition value may hold: ASCII letters and digits, `-`,
/// `_` and `.` (a table: checking each byte's class took ~300 instructions
/// a record for its account and region, callgrind).
const PARTITION_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
        i += 1;
    }
    table
};

/// An inclusive range of UTC days, either end open: `--since`/`--until`
/// (of source folders in `compact`, of event-day partitions in `query`).
/// The one test of whether a day, or a year or month folder, lies in it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub since: Option<Date>,
    pub until: Option<Date>,
}

impl Days {
    pub fn contains(&self, d: Date) -> bool {
        self.since.is_none_or(|s| d >= s) && self.until.is_none_or(|u| d <= u)
    }

    /// Whether a folder of `year` (and `month`, and `day`, when given)
    /// holds a day of the range.
    pub fn overlaps(&self, year: i32, month: Option<u32>, day: Option<u32>) -> bool {
        let first = (year, month.unwrap_or(1), day.unwrap_or(1));
        let last = (year, month.unwrap_or(12), day.unwrap_or(31));
        self.since.is_none_or(|s| last >= (s.year, s.month, s.day))
            && self.until.is_none_or(|u| first <= (u.year, u.month, u.day))
    }

    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }
}

/// A civil date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let date = Date {
            year: digits(&b[0..4])? as i32,
            month: digits(&b[5..7])?,
            day: digits(&b[8..10])?,
        };
        date.is_valid().then_some(date)
    }

    fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month) && self.day >= 1 && self.day <= days_in_month(*self)
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    pub fn to_days(self) -> i64 {
        let y = self.year as i64 - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = self.month as i64;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + self.day as i64 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146097 + doe - 719468
    }

    pub fn from_days(z: i64) -> Self {
        let z = z + 719468;
        let era = z.div_euclid(146097);
        let doe = z - era * 146097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(d: Date) -> u32 {
    match d.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// The UTC date of an ISO-8601 / RFC 3339 timestamp as CloudTrail writes it
/// (`2018-11-28T22:31:59Z`, also with fractional seconds or a `+hh:mm`
/// offset). `None` when it is not such a timestamp.
pub fn utc_date(ts: &str) -> Option<Date> {
    let b = ts.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let date = Date::parse(&ts[..10])?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let hh = digits(&b[11..13])? as i64;
    let mm = digits(&b[14..16])? as i64;
    let ss = digits(&b[17..19])?;
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &rest[1 + n..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])? as i64;
            let m = digits(&[*m1, *m2])? as i64;
            let off = h * 60 + m;
            // Offsets in use run from -12:00 to +14:00.
            if m > 59 || off > 14 * 60 {
                return None;
            }
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let minutes = hh * 60 + mm - offset_minutes;
    // Nearly always UTC already (`Z`): the same day, no day arithmetic.
    if (0..24 * 60).contains(&minutes) {
        return Some(date);
    }
    Some(Date::from_days(
        date.to_days() + minutes.div_euclid(24 * 60),
    ))
}

/// The first year an event can have: CloudTrail began in November 2013.
pub const FIRST_EVENT_YEAR: i32 = 2013;

/// The last year an event can have: next year by this machine's clock (a
/// clock set far back still takes this year's events).
pub fn last_event_year() -> i32 {
    static LAST: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Date::from_days(now.div_euclid(86_400)).year.max(2026) + 1
    })
}

/// What a log object's key says about it, in CloudTrail's S3 layout:
/// `.../AWSLogs/[o-org/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<file>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathHints {
    pub account: Option<String>,
    pub region: Option<String>,
    pub date: Option<Date>,
}

impl PathHints {
    pub fn from_key(key: &str) -> Self {
        let segs: Vec<&str> = key.split('/').collect();
        let Some(ct) = segs.iter().rposition(|s| *s == "CloudTrail") else {
            return Self::default();
        };
        let get = |i: usize| segs.get(i).copied().filter(|v| is_partition_value(v));
        let account = ct.checked_sub(1).and_then(get).map(str::to_string);
        let region = get(ct + 1).map(str::to_string);
        let date = match (get(ct + 2), get(ct + 3), get(ct + 4)) {
            (Some(y), Some(m), Some(d)) if ct + 5 < segs.len() => {
                Date::parse(&format!("{y}-{m}-{d}"))
            }
            _ => None,
        };
        Self {
            account,
            region,
            date,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_hold_a_day_and_overlap_year_and_month_folders() {
        let d = |s: &str| Date::parse(s);
        let days = Days {
            since: d("2024-02-28"),
            until: d("2024-03-02"),
        };
        assert!(days.contains(d("2024-03-01").unwrap()));
        assert!(!days.contains(d("2024-03-03").unwrap()));
        assert!(days.overlaps(2024, None, None));
        assert!(!days.overlaps(2023, None, None));
        assert!(days.overlaps(2024, Some(2), None));
        assert!(!days.overlaps(2024, Some(1), None));
        assert!(!days.overlaps(2024, Some(2), Some(27)));
        assert!(days.overlaps(2024, Some(3), Some(2)));
        let open = Days::default();
        assert!(open.is_open() && open.overlaps(1999, Some(1), Some(1)));
    }

    #[test]
    fn utc_date_handles_fraction_and_offsets() {
        for (ts, want) in [
            ("2018-11-28T22:31:59Z", Some("2018-11-28")),
            ("2020-09-14T00:44:20.000Z", Some("2020-09-14")),
            // An offset that moves the time into another UTC day, or not.
            ("2024-01-01T00:30:00+01:00", Some("2023-12-31")),
            ("2024-02-28T23:30:00-01:00", Some("2024-02-29")),
            ("2024-01-01T05:00:00+01:00", Some("2024-01-01")),
            ("2024-12-31T23:59:59-00:00", Some("2024-12-31")),
            ("2024-13-01T00:00:00Z", None),
            ("2024-01-01T00:00:00+99:99", None),
            ("2024-01-01T00:00:00+14:01", None),
            ("2024-01-01T00:00:00+14:00", Some("2023-12-31")),
            ("2024-02-30T00:00:00Z", None),
            ("yesterday", None),
            ("", None),
        ] {
            assert_eq!(utc_date(ts).map(|d| d.to_string()).as_deref(), want, "{ts}");
        }
    }

    #[test]
    fn days_round_trip() {
        for z in [-1000, 0, 1, 17863, 19000, 20000, 40000] {
            assert_eq!(Date::from_days(z).to_days(), z);
        }
        assert_eq!(Date::parse("1970-01-01").unwrap().to_days(), 0);
    }

    #[test]
    fn path_hints_for_single_account_and_org_trails() {
        let h = PathHints::from_key(
            "bucket/AWSLogs/123456789012/CloudTrail/eu-west-1/2024/01/15/x.json.gz",
        );
        assert_eq!(h.account.as_deref(), Some("123456789012"));
        assert_eq!(h.region.as_deref(), Some("eu-west-1"));
        assert_eq!(h.date, Date::parse("2024-01-15"));
        let o = PathHints::from_key(
            "AWSLogs/o-abc123/123456789012/CloudTrail/us-gov-west-1/2024/01/15/x.json.gz",
        );
        assert_eq!(o.account.as_deref(), Some("123456789012"));
        assert_eq!(o.region.as_deref(), Some("us-gov-west-1"));
        assert_eq!(PathHints::from_key("flat/file.json"), PathHints::default());
    }

    #[test]
    fn hive_path_round_trips_and_rejects_unsafe_values() {
        let k = PartitionKey {
            account: "123".into(),
            region: "cn-north-1".into(),
            year: "2024".into(),
            month: "01".into(),
            day: "05".into(),
        };
        let p = k.hive_path();
        assert_eq!(p, "account=123/region=cn-north-1/year=2024/month=01/day=05");
        assert_eq!(
            PartitionKey::from_hive_path(&format!("{p}/f.parquet")),
            Some(k)
        );
        assert!(!is_partition_value("a/b"));
        assert!(!is_partition_value(".."));
        assert!(!is_partition_value(""));
        assert!(!is_partition_value("a=b"));
    }
}
