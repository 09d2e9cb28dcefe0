//! `detect`: Sigma rules over the lake. Each rule is translated into one
//! SQL query over `cloudtrail` ([`rules`], [`translate`]); the queries run
//! in one session whose table reads only the `--since`/`--until` window's
//! partitions; every matching event is one [`Alert`]. A rule that cannot be
//! translated, or whose query fails, is reported by name with the reason,
//! and the others still run.

pub mod rules;
pub mod translate;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
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
    /// The caller: `useridentity.arn`, else its principal id, invoking
    /// service, account id (`ANONYMOUS_PRINCIPAL`) or type.
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

/// Runs every detector of `set` in `session`.
pub async fn run(session: &LakeSession, set: &RuleSet) -> Outcome {
    let mut out = Outcome::default();
    for d in &set.detectors {
        match alerts(session, d).await {
            Ok(a) => {
                out.rules_run += 1;
                out.alerts.extend(a);
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

async fn alerts(session: &LakeSession, d: &Detector) -> Result<Vec<Alert>, QueryError> {
    let mut tries = 0;
    let batches = loop {
        tries += 1;
        let df = session.dataframe(&d.sql).await?;
        match df.collect().await {
            Ok(b) => break b,
            // A commit replaced a file between listing and reading: the
            // next plan lists the new files.
            Err(e) if tries < 4 && crate::query::vanished(&e) => continue,
            Err(e) => return Err(QueryError::Execution(e)),
        }
    };
    let mut out = Vec::new();
    for b in &batches {
        let col = |name: &str| -> Result<StringArray, QueryError> {
            let c = b.column_by_name(name).ok_or_else(|| {
                QueryError::Execution(datafusion::error::DataFusionError::Plan(format!(
                    "the rule's query has no column {name}"
                )))
            })?;
            let c = datafusion::arrow::compute::cast(c, &DataType::Utf8)
                .map_err(|e| QueryError::Execution(e.into()))?;
            Ok(c.as_string::<i32>().clone())
        };
        let cols = [
            "eventtime",
            "eventid",
            "eventsource",
            "eventname",
            "account",
            "region",
            "identity",
            "sourceipaddress",
            "sourcekey",
        ]
        .map(col);
        let mut arrays = Vec::with_capacity(cols.len());
        for c in cols {
            arrays.push(c?);
        }
        let at = |c: usize, row: usize| -> Option<String> {
            let a = &arrays[c];
            (!a.is_null(row)).then(|| a.value(row).to_string())
        };
        for row in 0..b.num_rows() {
            out.push(Alert {
                eventtime: at(0, row),
                rule_id: d.id.clone(),
                title: d.title.clone(),
                level: d.level.clone(),
                tags: d.tags.clone(),
                eventid: at(1, row),
                eventsource: at(2, row),
                eventname: at(3, row),
                account: at(4, row),
                region: at(5, row),
                identity: at(6, row),
                sourceipaddress: at(7, row),
                sourcekey: at(8, row),
            });
        }
    }
    Ok(out)
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
