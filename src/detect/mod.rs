//! `detect`: Sigma rules over the lake. Each rule is translated into one
//! SQL query over `cloudtrail` ([`rules`], [`translate`]); the queries run
//! in one session whose table reads only the `--since`/`--until` window's
//! partitions, single-event rules sharing scans; every matching event is
//! one [`Alert`]. A rule that cannot be
//! translated, or whose query fails, is reported by name with the reason,
//! and the others still run.

use std::collections::BTreeMap;

pub mod incident;
pub mod rules;
pub mod translate;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;

use crate::query::{LakeSession, QueryError};

pub use rules::{files, load, Detector, RuleSet, Skipped, ALERT_COLUMNS, BUILTIN};

/// One CloudTrail event of an alert.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Event {
    pub eventtime: Option<String>,
    pub eventid: Option<String>,
    pub eventsource: Option<String>,
    pub eventname: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The caller: the first non-empty of `useridentity.arn`, its principal
    /// id, invoking service, account id (`ANONYMOUS_PRINCIPAL`), or its type.
    pub identity: Option<String>,
    pub sourceipaddress: Option<String>,
    /// The log object the event came from: the evidence.
    pub sourcekey: Option<String>,
    pub accesskey: Option<String>,
}

/// What a rule matched: one event, or for a correlation one group's events
/// within its timespan (`events`, in time order; the top-level event
/// fields are its first event's, so single-event consumers keep working).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    #[serde(flatten)]
    pub event: Event,
    pub rule_id: String,
    pub title: String,
    pub level: String,
    pub tags: Vec<String>,
    /// A correlation's last event time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_eventtime: Option<String>,
    /// A correlation's group: each group-by field and its value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group: BTreeMap<String, String>,
    /// A correlation's events, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

impl Alert {
    /// The events it is about: a correlation's members, or its one event.
    pub fn events(&self) -> &[Event] {
        if self.events.is_empty() {
            std::slice::from_ref(&self.event)
        } else {
            &self.events
        }
    }

    /// Its first and last event times.
    pub fn span(&self) -> (Option<&str>, Option<&str>) {
        let first = self.event.eventtime.as_deref();
        (first, self.last_eventtime.as_deref().or(first))
    }
}

/// What a run of the rules did (the alerts went to the caller's sink).
#[derive(Debug, Default)]
pub struct Outcome {
    pub alerts: u64,
    pub rules_run: usize,
    /// Rules whose query failed, with the reason.
    pub failed: Vec<Skipped>,
}

/// Rules sharing one scan: the single-event rules, this many per query.
const SHARED: usize = 100;

/// Runs every detector of `set` in `session`, handing each query's alerts
/// (in event time order) to `sink` as the query ends, so memory holds one
/// query's alerts, not the run's. Single-event rules share scans (one query
/// tests each row against up to [`SHARED`] rules); correlations run one
/// query each. If a shared query fails, its rules run one by one, so the
/// failing rule is named and the others still run.
pub async fn run(
    session: &LakeSession,
    set: &RuleSet,
    sink: &mut dyn FnMut(Vec<Alert>),
) -> Outcome {
    let mut out = Outcome::default();
    let mut emit = |mut a: Vec<Alert>, out: &mut Outcome| {
        a.sort();
        out.alerts += a.len() as u64;
        sink(a);
    };
    let (single, mut alone): (Vec<&Detector>, Vec<&Detector>) =
        set.detectors.iter().partition(|d| d.condition.is_some());
    for chunk in single.chunks(SHARED) {
        match shared(session, chunk).await {
            Ok(a) => {
                out.rules_run += chunk.len();
                emit(a, &mut out);
            }
            Err(_) => alone.extend(chunk),
        }
    }
    for d in alone {
        let found = session
            .collect(&d.sql)
            .await
            .and_then(|(_, b)| Ok((rows(&b)?, groups(&b, d.group_by.len().max(1))?)));
        match found {
            Ok((rows, groups)) => {
                out.rules_run += 1;
                let alerts = match (d.span_seconds, &d.threshold) {
                    (None, _) => rows.into_iter().map(|(_, e)| alert(d, e)).collect(),
                    (Some(span), None) => correlated(d, rows, groups, span),
                    (Some(span), Some(threshold)) => {
                        let (rows, groups) = counted(rows, groups, threshold, span);
                        correlated(d, rows, groups, span)
                    }
                };
                emit(alerts, &mut out);
            }
            Err(e) => out.failed.push(Skipped {
                file: d.file.clone(),
                rule: d.id.clone(),
                reason: e.to_string(),
            }),
        }
    }
    out
}

/// One scan for several single-event rules: `m<k>` says whether a row
/// matched rule `k`.
async fn shared(session: &LakeSession, rules: &[&Detector]) -> Result<Vec<Alert>, QueryError> {
    let conds: Vec<&str> = rules
        .iter()
        .filter_map(|d| d.condition.as_deref())
        .collect();
    let flags: String = conds
        .iter()
        .enumerate()
        .map(|(k, c)| format!(", {c} AS m{k}"))
        .collect();
    let any = conds
        .iter()
        .map(|c| format!("({c})"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!("SELECT {ALERT_COLUMNS}{flags} FROM cloudtrail WHERE {any}");
    let batches = session.collect(&sql).await?.1;
    // Each batch's match flags, by rule.
    let flags: Vec<Vec<BooleanArray>> = batches
        .iter()
        .map(|b| {
            (0..rules.len())
                .map(|k| {
                    b.column_by_name(&format!("m{k}"))
                        .and_then(|c| c.as_boolean_opt().cloned())
                        .ok_or_else(|| {
                            QueryError::Execution(datafusion::error::DataFusionError::Plan(
                                format!("the shared scan lost its flag m{k}"),
                            ))
                        })
                })
                .collect()
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for ((b, row), event) in rows(&batches)? {
        for (k, d) in rules.iter().enumerate() {
            if flags[b][k].is_valid(row) && flags[b][k].value(row) {
                out.push(alert(d, event.clone()));
            }
        }
    }
    Ok(out)
}

const EVENT_COLUMNS: [&str; 10] = [
    "eventtime",
    "eventid",
    "eventsource",
    "eventname",
    "account",
    "region",
    "identity",
    "sourceipaddress",
    "sourcekey",
    "accesskey",
];

/// An event with its (batch, row) position in a query's results.
type Located = ((usize, usize), Event);

/// Each result row's alert columns, with its position.
fn rows(batches: &[RecordBatch]) -> Result<Vec<Located>, QueryError> {
    let mut out = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        let mut cols = Vec::with_capacity(EVENT_COLUMNS.len());
        for name in EVENT_COLUMNS {
            let c = b.column_by_name(name).ok_or_else(|| {
                QueryError::Execution(datafusion::error::DataFusionError::Plan(format!(
                    "the rule's query has no column {name}"
                )))
            })?;
            let c = datafusion::arrow::compute::cast(c, &DataType::Utf8)
                .map_err(|e| QueryError::Execution(e.into()))?;
            cols.push(c.as_string::<i32>().clone());
        }
        for row in 0..b.num_rows() {
            let v = |c: usize| (!cols[c].is_null(row)).then(|| cols[c].value(row).to_string());
            let e = Event {
                eventtime: v(0),
                eventid: v(1),
                eventsource: v(2),
                eventname: v(3),
                account: v(4),
                region: v(5),
                identity: v(6),
                sourceipaddress: v(7),
                sourcekey: v(8),
                accesskey: v(9),
            };
            out.push(((i, row), e));
        }
    }
    Ok(out)
}

fn alert(d: &Detector, event: Event) -> Alert {
    Alert {
        event,
        rule_id: d.id.clone(),
        title: d.title.clone(),
        level: d.level.clone(),
        tags: d.tags.clone(),
        last_eventtime: None,
        group: BTreeMap::new(),
        events: Vec::new(),
    }
}

/// A correlation's group (`k0`, `k1`, ... as text), time (`t`, in
/// seconds) and counted value (`v`, for `value_count`) of each result row.
type Grouped = Vec<(Vec<String>, f64, Option<String>)>;

fn groups(batches: &[RecordBatch], keys: usize) -> Result<Grouped, QueryError> {
    let mut out = Vec::new();
    let missing = |name: &str| {
        QueryError::Execution(datafusion::error::DataFusionError::Plan(format!(
            "the correlation's query has no column {name}"
        )))
    };
    let cast = |c: &datafusion::arrow::array::ArrayRef, to: &DataType| {
        datafusion::arrow::compute::cast(c, to).map_err(|e| QueryError::Execution(e.into()))
    };
    for b in batches {
        let Some(t) = b.column_by_name("t") else {
            // A single-event rule's rows: no groups.
            return Ok(Vec::new());
        };
        let t = cast(t, &DataType::Float64)?;
        let t = t.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        let v = match b.column_by_name("v") {
            Some(v) => Some(cast(v, &DataType::Utf8)?.as_string::<i32>().clone()),
            None => None,
        };
        let mut cols = Vec::new();
        for k in 0..keys {
            let name = format!("k{k}");
            let c = b.column_by_name(&name).ok_or_else(|| missing(&name))?;
            cols.push(cast(c, &DataType::Utf8)?.as_string::<i32>().clone());
        }
        for row in 0..b.num_rows() {
            let key = cols.iter().map(|c| c.value(row).to_string()).collect();
            let value = v
                .as_ref()
                .and_then(|v| (!v.is_null(row)).then(|| v.value(row).to_string()));
            out.push((key, t.value(row), value));
        }
    }
    Ok(out)
}

/// The events of an `event_count` or `value_count` correlation that make
/// its count: for each event (rows in group and time order), the window of
/// the timespan ending at its time; where the window's count (of events,
/// or of distinct non-null values) passes the threshold, every event in
/// it is kept. Two pointers per group: linear in the rows.
fn counted(
    rows: Vec<Located>,
    groups: Grouped,
    threshold: &rules::Threshold,
    span: u64,
) -> (Vec<Located>, Grouped) {
    let n = rows.len();
    let mut keep = vec![false; n];
    let mut start = 0;
    while start < n {
        let mut end = start;
        while end < n && groups[end].0 == groups[start].0 {
            end += 1;
        }
        let (mut lo, mut hi, mut marked) = (start, start, start);
        let mut values: std::collections::HashMap<&str, usize> = Default::default();
        while hi < end {
            let t = groups[hi].1;
            // Every row at this time joins the window; rows older than
            // the timespan leave it.
            while hi < end && groups[hi].1 <= t {
                if let Some(v) = &groups[hi].2 {
                    *values.entry(v.as_str()).or_default() += 1;
                }
                hi += 1;
            }
            while groups[lo].1 < t - span as f64 {
                if let Some(v) = &groups[lo].2 {
                    let c = values.get_mut(v.as_str()).expect("counted on entry");
                    *c -= 1;
                    if *c == 0 {
                        values.remove(v.as_str());
                    }
                }
                lo += 1;
            }
            let count = if threshold.distinct_values {
                values.len()
            } else {
                hi - lo
            };
            if threshold.passes(count as u64) {
                for k in keep.iter_mut().take(hi).skip(marked.max(lo)) {
                    *k = true;
                }
                marked = hi;
            }
        }
        start = end;
    }
    rows.into_iter()
        .zip(groups)
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .unzip()
}

/// One alert per group and stretch of time: the correlation's rows come in
/// group and time order; a group's events more than the timespan apart
/// start a new alert.
fn correlated(d: &Detector, rows: Vec<Located>, groups: Grouped, span: u64) -> Vec<Alert> {
    let mut out: Vec<Alert> = Vec::new();
    let mut last: Option<(Vec<String>, f64)> = None;
    for ((_, event), (key, t, _)) in rows.into_iter().zip(groups) {
        let same = last
            .as_ref()
            .is_some_and(|(k, lt)| *k == key && t - lt <= span as f64);
        if same {
            let a = out.last_mut().expect("an alert is open");
            a.last_eventtime = event.eventtime.clone();
            a.events.push(event);
        } else {
            let mut a = alert(d, event.clone());
            a.group = if d.group_by.is_empty() {
                BTreeMap::new()
            } else {
                d.group_by
                    .iter()
                    .cloned()
                    .zip(key.iter().cloned())
                    .collect()
            };
            a.last_eventtime = event.eventtime.clone();
            a.events.push(event);
            out.push(a);
        }
        last = Some((key, t));
    }
    out
}

/// `--explain`: each rule's SQL, and the rules without one.
pub fn explain(set: &RuleSet) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for d in &set.detectors {
        let _ = writeln!(s, "-- {} {} ({})\n{};\n", d.id, d.title, d.file, d.sql);
    }
    for k in &set.skipped {
        let _ = writeln!(s, "-- not translated: {}: {}: {}", k.file, k.rule, k.reason);
    }
    s
}
