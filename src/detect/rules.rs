//! Loading Sigma rules (files and folders of `.yml`/`.yaml`) and turning
//! each into one SQL query over `cloudtrail`, or a reason it has none.
//!
//! Detection rules become `SELECT <alert columns> FROM cloudtrail WHERE
//! <condition>`; Sigma filters (`filter:` documents) add `AND <their
//! condition>` (typically `not selection`) to the rules they name; `temporal` correlations join their rules' events on
//! the group-by fields within the timespan.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rsigma_parser::{
    parse_sigma_yaml, ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType,
    Detections, FilterRule, FilterRuleTarget, Level, LogSource, SigmaRule, WindowMode,
};

use super::translate::{self, Reason};

/// A rule with its SQL.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Detector {
    pub id: String,
    pub title: String,
    pub level: String,
    pub tags: Vec<String>,
    /// The file the rule came from.
    pub file: String,
    /// The rule's query, as `--explain` prints it.
    pub sql: String,
    /// A single-event rule's condition over `cloudtrail`, so that many
    /// rules can share one scan; `None` for correlations.
    pub condition: Option<String>,
    /// A correlation's group-by fields (its query returns them as `k0`,
    /// `k1`, ...) and timespan in seconds: its events are one alert per
    /// group and stretch of time.
    pub group_by: Vec<String>,
    pub span_seconds: Option<u64>,
    /// An `event_count` or `value_count` correlation's test, applied to
    /// the events its query returns (in group and time order, with the
    /// counted field as `v`).
    pub threshold: Option<Threshold>,
}

/// What an aggregating correlation counts in a sliding window of its
/// timespan, and the test the count must pass.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Threshold {
    /// Distinct values of `v` (`value_count`), else events (`event_count`).
    pub distinct_values: bool,
    /// Every one must hold: (`gt`, `gte`, `lt`, `lte`, `eq` or `neq`, N).
    pub predicates: Vec<(String, u64)>,
}

impl Threshold {
    pub fn passes(&self, count: u64) -> bool {
        self.predicates.iter().all(|(op, n)| match op.as_str() {
            "gt" => count > *n,
            "gte" => count >= *n,
            "lt" => count < *n,
            "lte" => count <= *n,
            "eq" => count == *n,
            _ => count != *n,
        })
    }
}

impl Detector {
    /// A detector's rule metadata, with no SQL yet.
    fn meta(id: String, title: &str, level: Option<Level>, tags: &[String], file: &str) -> Self {
        Detector {
            id,
            title: title.to_string(),
            level: level.map_or("", |l| l.as_str()).to_string(),
            tags: tags.to_vec(),
            file: file.to_string(),
            sql: String::new(),
            condition: None,
            group_by: Vec::new(),
            span_seconds: None,
            threshold: None,
        }
    }
}

/// A rule (or a file) that has no SQL, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub file: String,
    /// The rule's id or title; empty when the whole file failed.
    pub rule: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct RuleSet {
    pub detectors: Vec<Detector>,
    pub skipped: Vec<Skipped>,
    /// Rules that only feed a correlation (`generate: false`), by id.
    pub correlated_only: Vec<String>,
}

impl RuleSet {
    /// Records that `rule` of `file` (empty: the whole file) has no SQL.
    fn skip(&mut self, file: &str, rule: String, reason: String) {
        self.skipped.push(Skipped {
            file: file.to_string(),
            rule,
            reason,
        });
    }
}

/// The columns of every alert query, in this order.
pub const ALERT_COLUMNS: &str = "eventtime, eventid, eventsource, eventname, account, region, \
     coalesce(nullif(useridentity.arn, ''), nullif(useridentity.principalid, ''), nullif(useridentity.invokedby, ''), nullif(useridentity.accountid, ''), useridentity.type) AS identity, \
     sourceipaddress, sourcekey, useridentity.accesskeyid AS accesskey";

/// Our own rules (the seed's four alert signals), built into the binary:
/// what `detect` runs without `--rules`.
pub const BUILTIN: &[(&str, &str)] = &[(
    "rules/traillake/seed-signals.yml",
    include_str!("../../rules/traillake/seed-signals.yml"),
)];

/// The largest rule file read. SigmaHQ's largest CloudTrail rule is a few
/// KB; a file of megabytes is a mistake or an attack, and its values would
/// be held by the planner several times over.
pub const MAX_RULE_FILE_BYTES: u64 = 1 << 20;

/// The `.yml`/`.yaml` files under the given files and folders, each
/// folder's in name order; a path that cannot be read is reported.
pub fn files(paths: &[PathBuf]) -> (Vec<(String, String)>, Vec<Skipped>) {
    let mut texts = Vec::new();
    let mut skipped = Vec::new();
    fn walk(p: &Path, texts: &mut Vec<(String, String)>, skipped: &mut Vec<Skipped>, top: bool) {
        let name = p.display().to_string();
        let fail = |skipped: &mut Vec<Skipped>, e: std::io::Error| {
            skipped.push(Skipped {
                file: name.clone(),
                rule: String::new(),
                reason: e.to_string(),
            })
        };
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let mut entries: Vec<PathBuf> = match std::fs::read_dir(p) {
                    Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                    Err(e) => return fail(skipped, e),
                };
                entries.sort();
                for e in entries {
                    walk(&e, texts, skipped, false);
                }
            }
            Ok(m) => {
                let yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"));
                // A file named on the command line is read whatever its name.
                if (yaml || top) && m.len() > MAX_RULE_FILE_BYTES {
                    skipped.push(Skipped {
                        file: name.clone(),
                        rule: String::new(),
                        reason: format!(
                            "{} bytes, over the {} MiB a rule file may have (a list that long \
                             belongs in a lookup table, not a rule)",
                            m.len(),
                            MAX_RULE_FILE_BYTES >> 20
                        ),
                    });
                } else if yaml || top {
                    match std::fs::read_to_string(p) {
                        Ok(t) => texts.push((name, t)),
                        Err(e) => fail(skipped, e),
                    }
                }
            }
            Err(e) => fail(skipped, e),
        }
    }
    for p in paths {
        walk(p, &mut texts, &mut skipped, true);
    }
    (texts, skipped)
}

/// Parses and translates rule files (`(name, text)` pairs).
pub fn load(texts: &[(String, String)]) -> RuleSet {
    let mut set = RuleSet::default();
    let mut rules: Vec<(String, SigmaRule)> = Vec::new();
    let mut correlations: Vec<(String, CorrelationRule)> = Vec::new();
    let mut filters: Vec<(String, FilterRule)> = Vec::new();
    for (file, text) in texts {
        match parse_sigma_yaml(text) {
            Ok(c) => {
                for e in c.errors {
                    set.skip(file, String::new(), e);
                }
                rules.extend(c.rules.into_iter().map(|r| (file.clone(), r)));
                correlations.extend(c.correlations.into_iter().map(|r| (file.clone(), r)));
                filters.extend(c.filters.into_iter().map(|r| (file.clone(), r)));
            }
            Err(e) => set.skip(file, String::new(), e.to_string()),
        }
    }
    // Each rule's condition, with the filters that apply to it.
    let mut conditions: HashMap<usize, Result<String, Reason>> = HashMap::new();
    for (i, (_, rule)) in rules.iter().enumerate() {
        let cond = cloudtrail(&rule.logsource)
            .and_then(|()| detections(&rule.detection))
            .and_then(|cond| {
                let mut cond = cond;
                for (_, f) in &filters {
                    if applies(f, rule) {
                        let fc = detections(&f.detection)
                            .map_err(|e| format!("filter {:?}: {e}", f.title))?;
                        cond = format!("{cond} AND {fc}");
                    }
                }
                Ok(cond)
            });
        conditions.insert(i, cond);
    }
    let find = |r: &str| {
        rules
            .iter()
            .position(|(_, x)| x.id.as_deref() == Some(r) || x.name.as_deref() == Some(r))
    };
    let mut hidden = vec![false; rules.len()];
    for (file, c) in &correlations {
        let id = c.id.clone().or(c.name.clone()).unwrap_or(c.title.clone());
        let members: Vec<Option<usize>> = c.rules.iter().map(|r| find(r)).collect();
        if !c.generate {
            for m in members.iter().flatten() {
                hidden[*m] = true;
            }
        }
        let sql = correlation(c, &members, &rules, &conditions);
        match sql {
            Ok((sql, threshold)) => set.detectors.push(Detector {
                sql,
                condition: None,
                group_by: c.group_by.clone(),
                span_seconds: Some(c.timespan.seconds),
                threshold,
                ..Detector::meta(id, &c.title, c.level, &c.tags, file)
            }),
            Err(reason) => set.skip(file, id, reason),
        }
    }
    for (i, (file, rule)) in rules.iter().enumerate() {
        let id = rule_id(rule);
        if hidden[i] {
            set.correlated_only.push(id);
            continue;
        }
        match (&conditions[&i], rule.custom_attributes.get(FIRST_SEEN)) {
            (Ok(cond), Some(spec)) => match first_seen(spec, cond) {
                Ok(sql) => set.detectors.push(Detector {
                    sql,
                    ..Detector::meta(id, &rule.title, rule.level, &rule.tags, file)
                }),
                Err(reason) => set.skip(file, id, reason),
            },
            (Ok(cond), None) => set.detectors.push(Detector {
                sql: format!(
                    "SELECT {ALERT_COLUMNS}\nFROM cloudtrail\nWHERE {cond}\nORDER BY eventtime, eventid"
                ),
                condition: Some(cond.clone()),
                ..Detector::meta(id, &rule.title, rule.level, &rule.tags, file)
            }),
            (Err(reason), _) => set.skip(file, id, reason.clone()),
        }
    }
    set
}

/// The key of traillake's own rule kind: a detection rule with
/// `first_seen: {fields: [...]}` alerts on the first event in the window of
/// each combination of those fields' values (none null) that no event
/// matching the rule had before the window (`cloudtrail_before_window`: the
/// lake's days before `--since`; without `--since`, nothing, so each
/// combination's first event in the lake alerts). Elastic's "new terms"
/// rules, over the lake's own history.
pub const FIRST_SEEN: &str = "first_seen";

fn first_seen<T: serde::Serialize>(spec: &T, cond: &str) -> Result<String, Reason> {
    let bad = || "first_seen needs `fields:`, a list of one or more field names".to_string();
    let spec = serde_json::to_value(spec).map_err(|e| e.to_string())?;
    let fields: Vec<&str> = spec["fields"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|f| f.as_str().ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    if fields.is_empty() {
        return Err(bad());
    }
    if let Some(other) = spec
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "fields"))
    {
        return Err(format!(
            "first_seen: unknown key {other:?} (it takes fields)"
        ));
    }
    let keys = fields
        .iter()
        .enumerate()
        .map(|(i, f)| Ok(format!("CAST({} AS VARCHAR) AS k{i}", translate::field(f)?)))
        .collect::<Result<Vec<_>, Reason>>()?
        .join(", ");
    let names: Vec<String> = (0..fields.len()).map(|i| format!("k{i}")).collect();
    let known = names
        .iter()
        .map(|k| format!("{k} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let on = names
        .iter()
        .map(|k| format!("f.{k} = h.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    Ok(format!(
        "WITH w AS (SELECT {ALERT_COLUMNS}, {keys} FROM cloudtrail WHERE {cond}),\n\
         h AS (SELECT DISTINCT {keys}, 1 AS seen FROM cloudtrail_before_window WHERE {cond}),\n\
         f AS (SELECT *, row_number() OVER (PARTITION BY {} ORDER BY eventtime, eventid) AS n FROM w WHERE {known})\n\
         SELECT f.eventtime, f.eventid, f.eventsource, f.eventname, f.account, f.region, f.identity, \
         f.sourceipaddress, f.sourcekey, f.accesskey\n\
         FROM f LEFT JOIN h ON {on}\nWHERE f.n = 1 AND h.seen IS NULL\nORDER BY f.eventtime, f.eventid",
        names.join(", ")
    ))
}

fn rule_id(rule: &SigmaRule) -> String {
    rule.id
        .clone()
        .or(rule.name.clone())
        .unwrap_or(rule.title.clone())
}

/// Rules for other log sources are not ours to run.
fn cloudtrail(ls: &LogSource) -> Result<(), Reason> {
    let is =
        |v: &Option<String>, want: &str| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(want));
    if is(&ls.product, "aws") && is(&ls.service, "cloudtrail") {
        Ok(())
    } else {
        Err(format!(
            "logsource is not product: aws, service: cloudtrail (product: {}, service: {})",
            ls.product.as_deref().unwrap_or("-"),
            ls.service.as_deref().unwrap_or("-")
        ))
    }
}

fn detections(d: &Detections) -> Result<String, Reason> {
    if d.timeframe.is_some() {
        return Err("`timeframe` aggregations are not supported (use a correlation)".into());
    }
    let mut named = BTreeMap::new();
    for (name, det) in &d.named {
        named.insert(
            name.clone(),
            translate::detection(det).map_err(|e| format!("{name}: {e}"))?,
        );
    }
    let conds = d
        .conditions
        .iter()
        .map(|c| translate::condition(c, &named))
        .collect::<Result<Vec<_>, _>>()?;
    match conds.len() {
        0 => Err("no condition".into()),
        1 => Ok(conds.into_iter().next().expect("one")),
        _ => Ok(format!("({})", conds.join(" OR "))),
    }
}

fn applies(f: &FilterRule, rule: &SigmaRule) -> bool {
    let logsource_ok = f.logsource.as_ref().is_none_or(|ls| cloudtrail(ls).is_ok());
    logsource_ok
        && match &f.rules {
            FilterRuleTarget::Any => true,
            FilterRuleTarget::Specific(names) => names.iter().any(|n| {
                rule.id.as_deref() == Some(n) || rule.name.as_deref() == Some(n) || rule.title == *n
            }),
        }
}

/// A correlation's query. `temporal`: every event of a member rule that
/// has, in the same group (the `group-by` fields, through `aliases`, not
/// null), an event of each other member rule within `timespan` of it.
/// `event_count` and `value_count`: every event of the member rules with
/// its group and the counted field (`v`); the count over a sliding window
/// of the timespan is taken by [`super::run`] ([`Threshold`]). Rows carry
/// their group (`k0`, `k1`, ...) and time in seconds (`t`), in group and
/// time order, so that one alert is made of each group's stretch.
fn correlation(
    c: &CorrelationRule,
    members: &[Option<usize>],
    rules: &[(String, SigmaRule)],
    conditions: &HashMap<usize, Result<String, Reason>>,
) -> Result<(String, Option<Threshold>), Reason> {
    let threshold = match (&c.correlation_type, &c.condition) {
        (CorrelationType::Temporal, _) => None,
        (
            t @ (CorrelationType::EventCount | CorrelationType::ValueCount),
            CorrelationCondition::Threshold {
                predicates, field, ..
            },
        ) => {
            if !matches!(c.window, WindowMode::Sliding) {
                return Err(format!(
                    "window {} is not supported (sliding, the default, is)",
                    c.window.as_str()
                ));
            }
            let distinct_values = matches!(t, CorrelationType::ValueCount);
            let field = match field.as_deref() {
                Some([f]) => Some(f.clone()),
                Some(_) => return Err("value_count of several fields is not supported".into()),
                None if distinct_values => return Err("value_count needs condition.field".into()),
                None => None,
            };
            Some((
                Threshold {
                    distinct_values,
                    predicates: predicates
                        .iter()
                        .map(|(op, n)| (op_name(op).to_string(), *n))
                        .collect(),
                },
                field,
            ))
        }
        (t, _) => {
            return Err(format!(
                "correlation type {} is not supported (temporal, event_count and value_count are)",
                t.as_str()
            ))
        }
    };
    if threshold.is_none() && members.len() < 2 {
        return Err("a temporal correlation needs two rules or more".into());
    }
    if members.is_empty() {
        return Err("a correlation needs a rule".into());
    }
    let mut ctes = Vec::new();
    for (k, (m, name)) in members.iter().zip(&c.rules).enumerate() {
        let m = m.ok_or_else(|| format!("rule {name:?} is not among the loaded rules"))?;
        let rule = &rules[m].1;
        let cond = conditions[&m]
            .as_ref()
            .map_err(|e| format!("rule {name:?}: {e}"))?;
        let mut keys = String::new();
        for (g, group) in c.group_by.iter().enumerate() {
            let field = aliased(c, group, rule, name)?;
            let _ = write!(keys, ", {} AS k{g}", translate::field(&field)?);
        }
        if c.group_by.is_empty() {
            // One group: every event of the rules.
            keys.push_str(", '' AS k0");
        }
        if let Some((_, field)) = &threshold {
            let v = match field {
                Some(f) => format!(
                    "CAST({} AS VARCHAR)",
                    translate::field(&aliased(c, f, rule, name)?)?
                ),
                None => "CAST(NULL AS VARCHAR)".to_string(),
            };
            let _ = write!(keys, ", {v} AS v");
        }
        ctes.push(format!(
            "r{k} AS (SELECT {ALERT_COLUMNS}{keys}, to_unixtime(eventtime) AS t FROM cloudtrail WHERE {cond})"
        ));
    }
    // All members' events in one set, each tagged with its rule `m`, in
    // time order per group: for each other rule, the last of its events
    // at or before this one and the first at or after. An event alerts
    // when each other rule has one within the span: a sort, not a join,
    // so a busy group costs n log n, not n * m.
    let span = c.timespan.seconds;
    let keys: Vec<String> = (0..c.group_by.len().max(1))
        .map(|g| format!("k{g}"))
        .collect();
    let known: Vec<String> = keys.iter().map(|k| format!("{k} IS NOT NULL")).collect();
    if let Some((threshold, _)) = threshold {
        // Each event once (an event of two member rules counts once).
        let union = (0..members.len())
            .map(|k| format!("SELECT * FROM r{k}"))
            .collect::<Vec<_>>()
            .join(" UNION ");
        return Ok((
            format!(
                "WITH {},\nevents AS ({union})\n\
                 SELECT eventtime, eventid, eventsource, eventname, account, region, identity, sourceipaddress, sourcekey, accesskey, {}, v, t\n\
                 FROM events WHERE {}\nORDER BY {}, t, eventid",
                ctes.join(",\n"),
                keys.join(", "),
                known.join(" AND "),
                keys.join(", "),
            ),
            Some(threshold),
        ));
    }
    let union = (0..members.len())
        .map(|k| format!("SELECT *, {k} AS m FROM r{k}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let window = format!("PARTITION BY {} ORDER BY t", keys.join(", "));
    let mut near = String::new();
    let mut test = Vec::new();
    for o in 0..members.len() {
        let _ = write!(
            near,
            ", max(CASE WHEN m = {o} THEN t END) OVER ({window} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS before{o}\
             , min(CASE WHEN m = {o} THEN t END) OVER ({window} ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS after{o}"
        );
        test.push(format!(
            "(m = {o} OR t - before{o} <= {span} OR after{o} - t <= {span})"
        ));
    }
    Ok((format!(
        "WITH {},\nevents AS ({union}),\nnear AS (SELECT *{near} FROM events WHERE {})\n\
         SELECT DISTINCT eventtime, eventid, eventsource, eventname, account, region, identity, sourceipaddress, sourcekey, accesskey, {}, t\n\
         FROM near WHERE {}\nORDER BY {}, t, eventid",
        ctes.join(",\n"),
        known.join(" AND "),
        keys.join(", "),
        test.join(" AND "),
        keys.join(", "),
    ), None))
}

/// The field `name` stands for in `rule` (`rule_ref` as the correlation
/// names it): its alias's field for that rule, or itself.
fn aliased(
    c: &CorrelationRule,
    name: &str,
    rule: &SigmaRule,
    rule_ref: &str,
) -> Result<String, Reason> {
    match c.aliases.iter().find(|a| a.alias == name) {
        None => Ok(name.to_string()),
        Some(a) => [rule.id.as_deref(), rule.name.as_deref(), Some(rule_ref)]
            .into_iter()
            .flatten()
            .find_map(|r| a.mapping.get(r))
            .cloned()
            .ok_or_else(|| format!("alias {name:?} has no field for rule {rule_ref:?}")),
    }
}

fn op_name(op: &ConditionOperator) -> &'static str {
    match op {
        ConditionOperator::Lt => "lt",
        ConditionOperator::Lte => "lte",
        ConditionOperator::Gt => "gt",
        ConditionOperator::Gte => "gte",
        ConditionOperator::Eq => "eq",
        ConditionOperator::Neq => "neq",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> RuleSet {
        load(&[("t.yml".to_string(), text.to_string())])
    }

    const BASE: &str =
        "title: base\nname: base\nid: b1\nlogsource:\n  product: aws\n  service: cloudtrail\n\
                        detection:\n  sel:\n    eventName: ListBuckets\n  condition: sel\n";

    #[test]
    fn a_filter_document_excludes_its_events_from_the_rules_it_names() {
        let set = one(&format!(
            "{BASE}---\ntitle: not admins\nfilter:\n  rules:\n    - base\n  \
             selection:\n    userIdentity.arn|endswith: ':user/admin'\n  condition: not selection\n"
        ));
        assert!(set.skipped.is_empty(), "{:?}", set.skipped);
        let sql = &set.detectors[0].sql;
        assert!(
            sql.contains(
                "AND NOT coalesce(useridentity['arn'] ILIKE '%:user/admin' ESCAPE '\\', false)"
            ),
            "{sql}"
        );
    }

    #[test]
    fn correlations_name_what_they_lack_and_hide_their_rules() {
        let set = one(&format!(
            "{BASE}---\ntitle: two\ncorrelation:\n  type: temporal\n  rules: [base, nowhere]\n  \
             group-by: [sourceIPAddress]\n  timespan: 1h\n---\ntitle: sum\ncorrelation:\n  \
             type: value_sum\n  rules: [base]\n  group-by: [sourceIPAddress]\n  timespan: 1h\n  \
             condition:\n    field: x\n    gte: 10\n---\ntitle: tumbling\ncorrelation:\n  \
             type: event_count\n  rules: [base]\n  timespan: 1h\n  window: tumbling\n  \
             condition:\n    gte: 10\n"
        ));
        let reasons: Vec<&str> = set.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("\"nowhere\" is not among the loaded rules")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("value_sum is not supported")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("window tumbling is not supported")),
            "{reasons:?}"
        );
        // generate: false (the default): the base rule only feeds them.
        assert_eq!(set.correlated_only, ["b1"]);
        assert!(set.detectors.is_empty());
    }

    #[test]
    fn a_temporal_correlation_joins_its_rules_on_the_aliased_key_within_the_span() {
        let set = one(&format!(
            "{BASE}---\ntitle: other\nname: other\nid: o1\nlogsource:\n  product: aws\n  service: cloudtrail\n\
             detection:\n  sel:\n    eventName: AssumeRole\n  condition: sel\n---\ntitle: pair\nid: p1\n\
             correlation:\n  type: temporal\n  rules: [base, other]\n  aliases:\n    who:\n      \
             base: userIdentity.arn\n      other: requestParameters.roleArn\n  group-by: [who]\n  timespan: 30m\n"
        ));
        assert!(set.skipped.is_empty(), "{:?}", set.skipped);
        let sql = &set.detectors[0].sql;
        assert!(sql.contains("useridentity['arn'] AS k0"), "{sql}");
        assert!(sql.contains("'$.roleArn'"), "{sql}");
        assert!(
            sql.contains("(m = 0 OR t - before0 <= 1800 OR after0 - t <= 1800)"),
            "{sql}"
        );
        assert!(
            sql.contains("(m = 1 OR t - before1 <= 1800 OR after1 - t <= 1800)"),
            "{sql}"
        );
    }
}
