//! `detect`: Sigma rules over the lake. Each rule is translated into one
//! SQL query over `cloudtrail` ([`rules`], [`translate`]); the queries run
//! in one session whose table reads only the `--since`/`--until` window's
//! partitions, single-event rules sharing scans; every matching event is
//! one [`Alert`]. A rule that cannot be
//! translated, or whose query fails, is reported by name with the reason,
//! and the others still run.

pub mod rules;
pub mod translate;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;

use crate::query::{LakeSession, QueryError};

pub use rules::{files, load, Detector, RuleSet, Skipped, ALERT_COLUMNS, BUILTIN};

/// One event a rule matched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Alert {
    pub eventtime: Option<String>,
    pub rule_id: String,
    pub title: String,
    pub level: String,
    pub tags: Vec<String>,
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
        match session.collect(&d.sql).await.and_then(|(_, b)| rows(&b)) {
            Ok(rows) => {
                out.rules_run += 1;
                emit(
                    rows.into_iter().map(|(_, e)| alert(d, e)).collect(),
                    &mut out,
                );
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

/// The alert columns of one event, in [`ALERT_COLUMNS`] order.
type Event = [Option<String>; 9];

const EVENT_COLUMNS: [&str; 9] = [
    "eventtime",
    "eventid",
    "eventsource",
    "eventname",
    "account",
    "region",
    "identity",
    "sourceipaddress",
    "sourcekey",
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
            let e: Event = std::array::from_fn(|c| {
                (!cols[c].is_null(row)).then(|| cols[c].value(row).to_string())
            });
            out.push(((i, row), e));
        }
    }
    Ok(out)
}

fn alert(d: &Detector, e: Event) -> Alert {
    let [eventtime, eventid, eventsource, eventname, account, region, identity, sourceipaddress, sourcekey] =
        e;
    Alert {
        eventtime,
        rule_id: d.id.clone(),
        title: d.title.clone(),
        level: d.level.clone(),
        tags: d.tags.clone(),
        eventid,
        eventsource,
        eventname,
        account,
        region,
        identity,
        sourceipaddress,
        sourcekey,
    }
}

/// Alerts as one JSON object per line.
pub fn render_json(alerts: &[Alert]) -> String {
    alerts
        .iter()
        .map(|a| serde_json::to_string(a).expect("an alert serializes") + "\n")
        .collect()
}

/// Alerts as an aligned table, one line per alert (written out directly:
/// a table of 500k alerts costs its text, not a grid of cells).
pub fn render_table(alerts: &[Alert]) -> String {
    use std::fmt::Write as _;
    type Cell = fn(&Alert) -> &str;
    const COLUMNS: [(&str, Cell); 10] = [
        ("eventtime", |a| opt(&a.eventtime)),
        ("level", |a| &a.level),
        ("rule", |a| &a.title),
        ("eventname", |a| opt(&a.eventname)),
        ("account", |a| opt(&a.account)),
        ("region", |a| opt(&a.region)),
        ("identity", |a| opt(&a.identity)),
        ("sourceipaddress", |a| opt(&a.sourceipaddress)),
        ("eventid", |a| opt(&a.eventid)),
        ("sourcekey", |a| opt(&a.sourcekey)),
    ];
    if alerts.is_empty() {
        return String::new();
    }
    let width: Vec<usize> = COLUMNS
        .iter()
        .map(|(name, cell)| {
            alerts
                .iter()
                .map(|a| cell(a).chars().count())
                .fold(name.len(), usize::max)
        })
        .collect();
    let rules: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        for (i, c) in cells.enumerate() {
            if i + 1 == COLUMNS.len() {
                out.push_str(c);
            } else {
                let _ = write!(out, "{c:<w$}  ", w = width[i]);
            }
        }
        out.push('\n');
    };
    line(&mut COLUMNS.iter().map(|(n, _)| *n));
    line(&mut rules.iter().map(String::as_str));
    for a in alerts {
        line(&mut COLUMNS.iter().map(|(_, cell)| cell(a)));
    }
    out
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
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
