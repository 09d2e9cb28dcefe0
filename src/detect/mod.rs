//! `detect`: Sigma rules over the lake. Each rule is translated into one
//! SQL query over `cloudtrail` ([`rules`], [`translate`]); the queries run
//! in one session whose table reads only the `--since`/`--until` window's
//! partitions, single-event rules sharing scans; every matching event is
//! one [`Alert`]. A rule that cannot be
//! translated, or whose query fails, is reported by name with the reason,
//! and the others still run.

pub mod rules;
pub mod translate;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch, StringArray};
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

/// What a run of the rules found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// In event time order.
    pub alerts: Vec<Alert>,
    pub rules_run: usize,
    /// Rules whose query failed, with the reason.
    pub failed: Vec<Skipped>,
}

/// Rules sharing one scan: the single-event rules, this many per query.
const SHARED: usize = 100;

/// Runs every detector of `set` in `session`. Single-event rules share
/// scans (one query tests each row against up to [`SHARED`] rules);
/// correlations run one query each. If a shared query fails, its rules run
/// one by one, so the failing rule is named and the others still run.
pub async fn run(session: &LakeSession, set: &RuleSet) -> Outcome {
    let mut out = Outcome::default();
    let (single, mut alone): (Vec<&Detector>, Vec<&Detector>) =
        set.detectors.iter().partition(|d| d.condition.is_some());
    for chunk in single.chunks(SHARED) {
        match shared(session, chunk).await {
            Ok(a) => {
                out.rules_run += chunk.len();
                out.alerts.extend(a);
            }
            Err(_) => alone.extend(chunk),
        }
    }
    for d in alone {
        match collect(session, &d.sql).await.and_then(|b| rows(&b)) {
            Ok(rows) => {
                out.rules_run += 1;
                out.alerts
                    .extend(rows.into_iter().map(|(_, e)| alert(d, e)));
            }
            Err(e) => out.failed.push(Skipped {
                file: d.file.clone(),
                rule: d.id.clone(),
                reason: e.to_string(),
            }),
        }
    }
    out.alerts.sort();
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
    let batches = collect(session, &sql).await?;
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

async fn collect(session: &LakeSession, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let df = session.dataframe(sql).await?;
        match df.collect().await {
            Ok(b) => return Ok(b),
            // A commit replaced a file between listing and reading: the
            // next plan lists the new files.
            Err(e) if tries < 4 && crate::query::vanished(&e) => continue,
            Err(e) => return Err(QueryError::Execution(e)),
        }
    }
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

/// Alerts as an aligned table.
pub fn render_table(alerts: &[Alert]) -> Result<String, QueryError> {
    if alerts.is_empty() {
        return Ok(String::new());
    }
    let column = |f: &dyn Fn(&Alert) -> Option<String>| -> std::sync::Arc<dyn Array> {
        std::sync::Arc::new(alerts.iter().map(f).collect::<StringArray>())
    };
    let batch = RecordBatch::try_from_iter([
        ("eventtime", column(&|a| a.eventtime.clone())),
        ("level", column(&|a| Some(a.level.clone()))),
        ("rule", column(&|a| Some(a.title.clone()))),
        ("eventname", column(&|a| a.eventname.clone())),
        ("account", column(&|a| a.account.clone())),
        ("region", column(&|a| a.region.clone())),
        ("identity", column(&|a| a.identity.clone())),
        ("sourceipaddress", column(&|a| a.sourceipaddress.clone())),
        ("eventid", column(&|a| a.eventid.clone())),
        ("sourcekey", column(&|a| a.sourcekey.clone())),
    ])
    .map_err(QueryError::Render)?;
    crate::query::render(&[batch], crate::query::Format::Table)
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
