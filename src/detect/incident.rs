//! Alerts into incidents: alerts that share an actor (a caller's identity,
//! an access key or a source address) within a gap of time are one
//! incident, transitively, so one intruder's steps (anonymous reads from a
//! laptop, then a stolen role's calls from the same address, then a second
//! role) read as one story. AWS services are never actors: an ECS task's
//! or a Lambda function's own `AssumeRole` (caller `ecs-tasks.amazonaws.com`)
//! would otherwise tie together everything those services ever did.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use super::{Alert, Event};

/// One incident: alerts tied together by their actors.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Incident {
    /// 1 for the first in [`incidents`]' order (most severe, then earliest).
    pub incident: usize,
    /// The highest level of its alerts.
    pub level: String,
    pub first: String,
    pub last: String,
    /// Its rules, with how many alerts each raised.
    pub rules: Vec<RuleCount>,
    pub identities: BTreeSet<String>,
    pub source_ips: BTreeSet<String>,
    pub access_keys: BTreeSet<String>,
    pub accounts: BTreeSet<String>,
    pub regions: BTreeSet<String>,
    /// Distinct events among its alerts.
    pub events: usize,
    /// Its alerts, in time order.
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleCount {
    pub rule_id: String,
    pub title: String,
    pub level: String,
    pub tags: Vec<String>,
    pub alerts: usize,
}

/// An event of an incident and the alerts that hold it.
pub type Flagged<'a> = (&'a Event, Vec<&'a Alert>);

impl Incident {
    /// Its events once each, in time order, each with the alerts that
    /// hold it (one per rule).
    pub fn flagged_events(&self) -> Vec<Flagged<'_>> {
        let mut m: BTreeMap<(Option<&str>, Option<&str>), Flagged<'_>> = BTreeMap::new();
        for a in &self.alerts {
            for e in a.events() {
                let entry = m
                    .entry((e.eventtime.as_deref(), e.eventid.as_deref()))
                    .or_insert((e, Vec::new()));
                if !entry.1.iter().any(|b| b.rule_id == a.rule_id) {
                    entry.1.push(a);
                }
            }
        }
        m.into_values().collect()
    }
}

/// Sigma's levels, lowest first; anything else ranks below them.
pub fn rank(level: &str) -> usize {
    ["informational", "low", "medium", "high", "critical"]
        .iter()
        .position(|l| l.eq_ignore_ascii_case(level))
        .map_or(0, |p| p + 1)
}

/// `YYYY-MM-DDTHH:MM:SS...` as seconds since 1970, UTC.
pub fn seconds(t: &str) -> Option<i64> {
    let date = crate::partition::Date::parse(t.get(..10)?)?;
    let hms = t.get(11..19)?;
    let mut parts = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(date.to_days() * 86_400 + h * 3600 + m * 60 + s)
}

/// `useridentity.type` values, which the alert's identity falls back to
/// when a call names no one: not an actor.
const IDENTITY_TYPES: &[&str] = &[
    "Root",
    "IAMUser",
    "AssumedRole",
    "FederatedUser",
    "AWSAccount",
    "AWSService",
    "SAMLUser",
    "WebIdentityUser",
    "IdentityCenterUser",
    "Directory",
    "Unknown",
];

/// What ties an event to others: its caller (unless a service, anonymous,
/// or only a type), its access key, its source address (an IP address,
/// not a service name).
fn actors(alert: &Alert) -> BTreeSet<(u8, String)> {
    let mut out = BTreeSet::new();
    for e in alert.events() {
        if let Some(id) = e.identity.as_deref().filter(|i| is_person(i)) {
            out.insert((0, id.to_string()));
        }
        if let Some(k) = e.accesskey.as_deref().filter(|k| !k.is_empty()) {
            out.insert((1, k.to_string()));
        }
        if let Some(ip) = e.sourceipaddress.as_deref().filter(|ip| is_address(ip)) {
            out.insert((2, ip.to_string()));
        }
    }
    out
}

/// A caller who is someone: not an AWS service, not anonymous, not a bare
/// identity type.
pub fn is_person(identity: &str) -> bool {
    !identity.is_empty()
        && !identity.ends_with(".amazonaws.com")
        && identity != "ANONYMOUS_PRINCIPAL"
        && !IDENTITY_TYPES.contains(&identity)
}

/// A source address that is an address (CloudTrail also writes service
/// names, `AWS Internal`, ...).
pub fn is_address(ip: &str) -> bool {
    ip.parse::<IpAddr>().is_ok()
}

/// Groups alerts into incidents: two alerts are in one when they share an
/// actor and one starts within `gap_seconds` of the other's end (or of the
/// end of an alert already tied to it). Ordered most severe first, then
/// earliest. Memory is the alerts'.
pub fn incidents(mut alerts: Vec<Alert>, gap_seconds: i64) -> Vec<Incident> {
    alerts.sort_by(|a, b| a.span().0.cmp(&b.span().0).then_with(|| a.cmp(b)));
    let mut parent: Vec<usize> = (0..alerts.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    // Each actor's latest alert so far and when it ended.
    let mut seen: HashMap<(u8, String), (usize, i64)> = HashMap::new();
    for (i, a) in alerts.iter().enumerate() {
        let (first, last) = a.span();
        let first = first.and_then(seconds).unwrap_or(i64::MIN);
        let last = last.and_then(seconds).unwrap_or(first);
        for actor in actors(a) {
            let end = match seen.get(&actor) {
                Some(&(j, end)) if first.saturating_sub(end) <= gap_seconds => {
                    let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                    parent[ri] = rj;
                    end.max(last)
                }
                _ => last,
            };
            seen.insert(actor, (i, end));
        }
    }
    let mut groups: BTreeMap<usize, Vec<Alert>> = BTreeMap::new();
    let roots: Vec<usize> = (0..alerts.len()).map(|i| root(&mut parent, i)).collect();
    for (a, r) in alerts.into_iter().zip(roots) {
        groups.entry(r).or_default().push(a);
    }
    let mut out: Vec<Incident> = groups.into_values().map(incident).collect();
    out.sort_by(|a, b| {
        rank(&b.level)
            .cmp(&rank(&a.level))
            .then_with(|| a.first.cmp(&b.first))
    });
    for (i, inc) in out.iter_mut().enumerate() {
        inc.incident = i + 1;
    }
    out
}

fn incident(alerts: Vec<Alert>) -> Incident {
    let mut inc = Incident {
        incident: 0,
        level: String::new(),
        first: String::new(),
        last: String::new(),
        rules: Vec::new(),
        identities: BTreeSet::new(),
        source_ips: BTreeSet::new(),
        access_keys: BTreeSet::new(),
        accounts: BTreeSet::new(),
        regions: BTreeSet::new(),
        events: 0,
        alerts: Vec::new(),
    };
    let mut rules: BTreeMap<String, RuleCount> = BTreeMap::new();
    let mut events = BTreeSet::new();
    for a in &alerts {
        if inc.level.is_empty() || rank(&a.level) > rank(&inc.level) {
            inc.level = a.level.clone();
        }
        let (first, last) = a.span();
        if let Some(f) = first {
            if inc.first.is_empty() || f < inc.first.as_str() {
                inc.first = f.to_string();
            }
        }
        if let Some(l) = last {
            if l > inc.last.as_str() {
                inc.last = l.to_string();
            }
        }
        rules
            .entry(a.rule_id.clone())
            .or_insert_with(|| RuleCount {
                rule_id: a.rule_id.clone(),
                title: a.title.clone(),
                level: a.level.clone(),
                tags: a.tags.clone(),
                alerts: 0,
            })
            .alerts += 1;
        for e in a.events() {
            events.insert((e.eventtime.clone(), e.eventid.clone()));
            let put = |set: &mut BTreeSet<String>, v: &Option<String>, keep: fn(&str) -> bool| {
                if let Some(v) = v.as_deref().filter(|v| keep(v)) {
                    set.insert(v.to_string());
                }
            };
            put(&mut inc.identities, &e.identity, |v| !v.is_empty());
            put(&mut inc.source_ips, &e.sourceipaddress, |v| !v.is_empty());
            put(&mut inc.access_keys, &e.accesskey, |v| !v.is_empty());
            put(&mut inc.accounts, &e.account, |v| !v.is_empty());
            put(&mut inc.regions, &e.region, |v| !v.is_empty());
        }
    }
    inc.events = events.len();
    let mut rules: Vec<RuleCount> = rules.into_values().collect();
    rules.sort_by(|a, b| {
        rank(&b.level)
            .cmp(&rank(&a.level))
            .then(b.alerts.cmp(&a.alerts))
            .then_with(|| a.title.cmp(&b.title))
    });
    inc.rules = rules;
    inc.alerts = alerts;
    inc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Event;

    fn alert(rule: &str, level: &str, time: &str, identity: &str, ip: &str) -> Alert {
        Alert {
            event: Event {
                eventtime: Some(time.into()),
                eventid: Some(format!("{rule}-{time}")),
                identity: Some(identity.into()),
                sourceipaddress: Some(ip.into()),
                ..Event::default()
            },
            rule_id: rule.into(),
            title: rule.into(),
            level: level.into(),
            tags: Vec::new(),
            last_eventtime: None,
            group: Default::default(),
            events: Vec::new(),
        }
    }

    #[test]
    fn alerts_sharing_an_actor_within_the_gap_are_one_incident_services_tie_nothing() {
        let user = "arn:aws:iam::1:user/a";
        let alerts = vec![
            alert("r1", "low", "2024-01-01T10:00:00Z", user, "1.2.3.4"),
            // The same address, 50 minutes later, another identity: joined.
            alert(
                "r2",
                "high",
                "2024-01-01T10:50:00Z",
                "arn:aws:sts::1:assumed-role/x/y",
                "1.2.3.4",
            ),
            // Its identity, 30 minutes after that: joined through it.
            alert(
                "r3",
                "medium",
                "2024-01-01T11:20:00Z",
                "arn:aws:sts::1:assumed-role/x/y",
                "5.6.7.8",
            ),
            // A service's own call and an anonymous one: tied to nothing.
            alert(
                "r1",
                "low",
                "2024-01-01T10:10:00Z",
                "ecs-tasks.amazonaws.com",
                "ecs-tasks.amazonaws.com",
            ),
            alert(
                "r1",
                "low",
                "2024-01-01T10:11:00Z",
                "ANONYMOUS_PRINCIPAL",
                "9.9.9.9",
            ),
            // The first user again, but three hours later: a new incident.
            alert("r1", "low", "2024-01-01T14:30:00Z", user, "10.0.0.1"),
        ];
        let inc = incidents(alerts, 3600);
        assert_eq!(inc.len(), 4, "{inc:#?}");
        assert_eq!(inc[0].level, "high");
        assert_eq!(inc[0].alerts.len(), 3);
        assert_eq!(inc[0].first, "2024-01-01T10:00:00Z");
        assert_eq!(inc[0].last, "2024-01-01T11:20:00Z");
        assert_eq!(
            inc[0].source_ips.iter().collect::<Vec<_>>(),
            ["1.2.3.4", "5.6.7.8"]
        );
        assert_eq!(inc[0].rules[0].rule_id, "r2");
        assert!(inc[1..]
            .iter()
            .all(|i| i.alerts.len() == 1 && i.level == "low"));
        let ids: Vec<usize> = inc.iter().map(|i| i.incident).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
    }

    #[test]
    fn times_and_levels() {
        assert_eq!(seconds("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(seconds("2024-13-01T00:00:00Z"), None);
        assert!(rank("critical") > rank("high") && rank("low") > rank("whatever"));
        assert!(is_address("2001:db8::1") && !is_address("AWS Internal"));
        assert!(!is_person("lambda.amazonaws.com") && !is_person("AssumedRole"));
    }
}
