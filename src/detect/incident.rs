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
    /// How many alerts it holds (also when `alerts` was let go, as the
    /// table does to keep only what it prints).
    pub alert_count: usize,
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
/// An offset (`+02:00`) counts, as it does for the partition's day; a
/// time with none is taken as UTC.
pub fn seconds(t: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(t.timestamp());
    }
    chrono::NaiveDateTime::parse_from_str(t.get(..19)?, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// Alerts in time order (of their first event), then as `Ord` has them.
pub fn by_time(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    a.span().0.cmp(&b.span().0).then_with(|| a.cmp(b))
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
/// earliest, and numbered so. Memory is the alerts' ([`Builder`] streams;
/// `detect` uses it over a [`Spool`]): the rule as one call, for tests.
#[cfg(test)]
pub fn incidents(mut alerts: Vec<Alert>, gap_seconds: i64) -> Vec<Incident> {
    alerts.sort_by(by_time);
    let mut out = Vec::new();
    let mut keep = |i: Incident| out.push(i);
    let mut b = Builder::new(gap_seconds, true, &mut keep);
    for a in alerts {
        b.push(a);
    }
    b.finish();
    sort(&mut out);
    for (i, inc) in out.iter_mut().enumerate() {
        inc.incident = i + 1;
    }
    out
}

/// Most severe first, then earliest.
pub fn sort(incidents: &mut [Incident]) {
    incidents.sort_by(|a, b| {
        rank(&b.level)
            .cmp(&rank(&a.level))
            .then_with(|| a.first.cmp(&b.first))
            .then_with(|| a.incident.cmp(&b.incident))
    });
}

type Actor = (u8, String);

/// An incident still open: a later alert may join it.
struct Open {
    summary: Summary,
    actors: Vec<Actor>,
    /// Its latest event, in seconds.
    end: i64,
}

/// Incidents from alerts that come in time order (of their first event),
/// handed on as they close: an incident closes once an alert starts more
/// than the gap after its end, for no later alert can join it then. Memory
/// holds the open incidents, not every alert: a day's alerts of a lake
/// stream through in the memory of the incidents of a gap's length.
/// Numbered in the order they close.
pub struct Builder<'a> {
    gap: i64,
    open: HashMap<usize, Open>,
    /// Each actor's open incident and the end of its latest alert.
    actors: HashMap<Actor, (usize, i64)>,
    /// (end, incident) of open incidents, earliest first; entries of
    /// incidents merged away or extended since are skipped when met.
    ends: std::collections::BinaryHeap<std::cmp::Reverse<(i64, usize)>>,
    next: usize,
    closed: usize,
    /// Whether incidents keep their alerts, or only their summary (what
    /// the table prints).
    keep_alerts: bool,
    emit: &'a mut dyn FnMut(Incident),
}

impl<'a> Builder<'a> {
    pub fn new(gap_seconds: i64, keep_alerts: bool, emit: &'a mut dyn FnMut(Incident)) -> Self {
        Self {
            keep_alerts,
            gap: gap_seconds,
            open: HashMap::new(),
            actors: HashMap::new(),
            ends: Default::default(),
            next: 0,
            closed: 0,
            emit,
        }
    }

    /// Takes the next alert (none starts before one taken earlier).
    pub fn push(&mut self, a: Alert) {
        let (first, last) = a.span();
        let first = first.and_then(seconds).unwrap_or(i64::MIN);
        let last = last.and_then(seconds).unwrap_or(first).max(first);
        self.close_before(first);
        let acts: Vec<Actor> = actors(&a).into_iter().collect();
        let mut joined: Vec<usize> = Vec::new();
        for k in &acts {
            if let Some(&(id, end)) = self.actors.get(k) {
                if first.saturating_sub(end) <= self.gap
                    && self.open.contains_key(&id)
                    && !joined.contains(&id)
                {
                    joined.push(id);
                }
            }
        }
        // The largest open incident takes the others in.
        joined.sort_by_key(|id| std::cmp::Reverse(self.open[id].summary.inc.alert_count));
        let id = match joined.first() {
            Some(&id) => id,
            None => {
                self.next += 1;
                self.open.insert(
                    self.next,
                    Open {
                        summary: Summary::new(),
                        actors: Vec::new(),
                        end: last,
                    },
                );
                self.next
            }
        };
        for other in joined.iter().skip(1) {
            let o = self.open.remove(other).expect("joined incidents are open");
            for k in &o.actors {
                if let Some(entry) = self.actors.get_mut(k) {
                    if entry.0 == *other {
                        entry.0 = id;
                    }
                }
            }
            let target = self.open.get_mut(&id).expect("open");
            target.summary.merge(o.summary);
            target.actors.extend(o.actors);
            target.end = target.end.max(o.end);
        }
        let target = self.open.get_mut(&id).expect("open");
        target.summary.absorb(a, self.keep_alerts);
        target.end = target.end.max(last);
        for k in acts {
            let end = match self.actors.get(&k) {
                Some(&(i, e)) if i == id => e.max(last),
                _ => last,
            };
            if self
                .actors
                .insert(k.clone(), (id, end))
                .is_none_or(|(i, _)| i != id)
            {
                target.actors.push(k);
            }
        }
        self.ends.push(std::cmp::Reverse((target.end, id)));
    }

    /// Hands on every incident that ended more than the gap before `t`.
    fn close_before(&mut self, t: i64) {
        while let Some(&std::cmp::Reverse((end, id))) = self.ends.peek() {
            if t.saturating_sub(end) <= self.gap {
                break;
            }
            self.ends.pop();
            if self.open.get(&id).is_some_and(|o| o.end == end) {
                self.close(id);
            }
        }
    }

    fn close(&mut self, id: usize) {
        let o = self.open.remove(&id).expect("open");
        for k in &o.actors {
            if self.actors.get(k).is_some_and(|(i, _)| *i == id) {
                self.actors.remove(k);
            }
        }
        self.closed += 1;
        let mut inc = o.summary.finish();
        inc.incident = self.closed;
        (self.emit)(inc);
    }

    /// Hands on the incidents still open, earliest end first.
    pub fn finish(mut self) {
        self.close_before(i64::MAX);
        let mut rest: Vec<(i64, usize)> = self.open.iter().map(|(id, o)| (o.end, *id)).collect();
        rest.sort();
        for (_, id) in rest {
            self.close(id);
        }
    }
}

/// Alerts spooled to disk as they come (each query's in time order), read
/// back merged in time order: the incidents of a run of hundreds of
/// thousands of alerts are built holding one query's alerts and the open
/// incidents, not every alert.
pub struct Spool {
    dir: std::path::PathBuf,
    files: Vec<std::path::PathBuf>,
}

impl Spool {
    pub fn new() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "traillake-alerts-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            files: Vec::new(),
        })
    }

    /// One query's alerts, in time order.
    pub fn add(&mut self, mut alerts: Vec<Alert>) -> std::io::Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        alerts.sort_by(by_time);
        let path = self.dir.join(format!("{:05}.jsonl", self.files.len()));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for a in &alerts {
            serde_json::to_writer(&mut w, a)?;
            std::io::Write::write_all(&mut w, b"\n")?;
        }
        std::io::Write::flush(&mut w)?;
        self.files.push(path);
        Ok(())
    }

    /// Every alert, in time order (a k-way merge of the queries' files).
    pub fn drain(&self, mut f: impl FnMut(Alert)) -> std::io::Result<()> {
        use std::io::BufRead;
        let mut readers = Vec::new();
        for p in &self.files {
            readers.push(std::io::BufReader::new(std::fs::File::open(p)?).lines());
        }
        let next = |r: &mut std::io::Lines<std::io::BufReader<std::fs::File>>| -> std::io::Result<Option<Alert>> {
            match r.next() {
                None => Ok(None),
                Some(line) => Ok(Some(serde_json::from_str(&line?)?)),
            }
        };
        let mut heads: Vec<Option<Alert>> = Vec::new();
        for r in &mut readers {
            heads.push(next(r)?);
        }
        let mut heap = std::collections::BinaryHeap::new();
        for (i, h) in heads.iter().enumerate() {
            if let Some(a) = h {
                heap.push(std::cmp::Reverse((a.span().0.unwrap_or("").to_string(), i)));
            }
        }
        while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
            let a = heads[i].take().expect("a head per heap entry");
            heads[i] = next(&mut readers[i])?;
            if let Some(n) = &heads[i] {
                heap.push(std::cmp::Reverse((n.span().0.unwrap_or("").to_string(), i)));
            }
            f(a);
        }
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An incident being built: its summary so far, and the events seen (to
/// count each once).
struct Summary {
    inc: Incident,
    events: std::collections::HashSet<(Option<String>, Option<String>)>,
}

impl Summary {
    fn new() -> Self {
        Summary {
            inc: Incident {
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
                alert_count: 0,
                alerts: Vec::new(),
            },
            events: Default::default(),
        }
    }

    /// Counts `a` in; keeps it too with `keep`.
    fn absorb(&mut self, a: Alert, keep: bool) {
        let inc = &mut self.inc;
        raise(&mut inc.level, &a.level);
        let (first, last) = a.span();
        widen(&mut inc.first, &mut inc.last, first, last);
        match inc.rules.iter_mut().find(|r| r.rule_id == a.rule_id) {
            Some(r) => r.alerts += 1,
            None => inc.rules.push(RuleCount {
                rule_id: a.rule_id.clone(),
                title: a.title.clone(),
                level: a.level.clone(),
                tags: a.tags.clone(),
                alerts: 1,
            }),
        }
        for e in a.events() {
            self.events.insert((e.eventtime.clone(), e.eventid.clone()));
            let put = |set: &mut BTreeSet<String>, v: &Option<String>| {
                if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    if !set.contains(v) {
                        set.insert(v.to_string());
                    }
                }
            };
            put(&mut inc.identities, &e.identity);
            put(&mut inc.source_ips, &e.sourceipaddress);
            put(&mut inc.access_keys, &e.accesskey);
            put(&mut inc.accounts, &e.account);
            put(&mut inc.regions, &e.region);
        }
        inc.alert_count += 1;
        if keep {
            inc.alerts.push(a);
        }
    }

    /// Takes `other` in.
    fn merge(&mut self, other: Summary) {
        let (inc, o) = (&mut self.inc, other.inc);
        raise(&mut inc.level, &o.level);
        widen(
            &mut inc.first,
            &mut inc.last,
            Some(o.first.as_str()).filter(|f| !f.is_empty()),
            Some(o.last.as_str()).filter(|l| !l.is_empty()),
        );
        for r in o.rules {
            match inc.rules.iter_mut().find(|x| x.rule_id == r.rule_id) {
                Some(x) => x.alerts += r.alerts,
                None => inc.rules.push(r),
            }
        }
        inc.identities.extend(o.identities);
        inc.source_ips.extend(o.source_ips);
        inc.access_keys.extend(o.access_keys);
        inc.accounts.extend(o.accounts);
        inc.regions.extend(o.regions);
        inc.alert_count += o.alert_count;
        inc.alerts.extend(o.alerts);
        self.events.extend(other.events);
    }

    fn finish(self) -> Incident {
        let mut inc = self.inc;
        inc.events = self.events.len();
        inc.rules.sort_by(|a, b| {
            rank(&b.level)
                .cmp(&rank(&a.level))
                .then(b.alerts.cmp(&a.alerts))
                .then_with(|| a.title.cmp(&b.title))
        });
        inc.alerts.sort_by(by_time);
        inc
    }
}

/// `level` raised to `other` where that ranks higher.
fn raise(level: &mut String, other: &str) {
    if level.is_empty() || rank(other) > rank(level) {
        *level = other.to_string();
    }
}

/// `[first, last]` widened to take in `[f, l]`.
fn widen(first: &mut String, last: &mut String, f: Option<&str>, l: Option<&str>) {
    if let Some(f) = f {
        if first.is_empty() || f < first.as_str() {
            *first = f.to_string();
        }
    }
    if let Some(l) = l {
        if l > last.as_str() {
            *last = l.to_string();
        }
    }
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

    /// The rule written as a union-find over every alert at once.
    fn reference(mut alerts: Vec<Alert>, gap: i64) -> BTreeSet<BTreeSet<String>> {
        alerts.sort_by(by_time);
        let mut parent: Vec<usize> = (0..alerts.len()).collect();
        fn root(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                i = p[i];
            }
            i
        }
        let mut seen: HashMap<Actor, (usize, i64)> = HashMap::new();
        for (i, a) in alerts.iter().enumerate() {
            let first = seconds(a.span().0.unwrap()).unwrap();
            let last = seconds(a.span().1.unwrap()).unwrap();
            for actor in actors(a) {
                let end = match seen.get(&actor) {
                    Some(&(j, end)) if first - end <= gap => {
                        let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                        parent[ri] = rj;
                        end.max(last)
                    }
                    _ => last,
                };
                seen.insert(actor, (i, end));
            }
        }
        let mut groups: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        for (i, a) in alerts.iter().enumerate() {
            let r = root(&mut parent, i);
            groups
                .entry(r)
                .or_default()
                .insert(a.event.eventid.clone().unwrap());
        }
        groups.into_values().collect()
    }

    #[test]
    fn streaming_incidents_equal_a_union_find_over_every_alert() {
        let mut state = 7u64;
        let mut rnd = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        for round in 0..50 {
            let mut alerts = Vec::new();
            for k in 0..200 {
                let t = rnd(86_400 * 2) as i64;
                let time = |t: i64| {
                    format!(
                        "2024-01-{:02}T{:02}:{:02}:{:02}Z",
                        1 + t / 86_400,
                        t % 86_400 / 3600,
                        t % 3600 / 60,
                        t % 60
                    )
                };
                let mut a = alert(
                    "r",
                    ["low", "high"][rnd(2) as usize],
                    &time(t),
                    &format!("arn:aws:iam::1:user/u{}", rnd(30)),
                    &format!("10.0.0.{}", rnd(40)),
                );
                a.event.eventid = Some(format!("{round}-{k}"));
                if rnd(4) == 0 {
                    // A correlation's alert, lasting a while.
                    a.last_eventtime = Some(time(t + rnd(7200) as i64));
                    a.events = vec![a.event.clone()];
                }
                if rnd(5) == 0 {
                    a.event.accesskey = Some(format!("AKIA{}", rnd(10)));
                }
                alerts.push(a);
            }
            let gap = [600, 3600, 7200][round % 3];
            let got: BTreeSet<BTreeSet<String>> = incidents(alerts.clone(), gap)
                .into_iter()
                .map(|i| {
                    i.alerts
                        .iter()
                        .map(|a| a.event.eventid.clone().unwrap())
                        .collect()
                })
                .collect();
            assert_eq!(got, reference(alerts, gap), "round {round}");
        }
    }

    #[test]
    fn spooled_alerts_come_back_in_time_order() {
        let mut spool = Spool::new().unwrap();
        spool
            .add(vec![
                alert("a", "low", "2024-01-01T10:00:00Z", "x", "1.1.1.1"),
                alert("a", "low", "2024-01-01T12:00:00Z", "x", "1.1.1.1"),
            ])
            .unwrap();
        spool
            .add(vec![alert(
                "b",
                "low",
                "2024-01-01T11:00:00Z",
                "y",
                "2.2.2.2",
            )])
            .unwrap();
        spool.add(Vec::new()).unwrap();
        let mut got = Vec::new();
        spool
            .drain(|a| got.push((a.rule_id, a.event.eventtime.unwrap())))
            .unwrap();
        assert_eq!(
            got,
            [
                ("a".to_string(), "2024-01-01T10:00:00Z".to_string()),
                ("b".to_string(), "2024-01-01T11:00:00Z".to_string()),
                ("a".to_string(), "2024-01-01T12:00:00Z".to_string()),
            ]
        );
        let dir = spool.dir.clone();
        drop(spool);
        assert!(!dir.exists());
    }

    #[test]
    fn times_and_levels() {
        assert_eq!(seconds("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(seconds("2024-13-01T00:00:00Z"), None);
        // An offset counts; fractions of a second do not.
        assert_eq!(
            seconds("2024-01-01T02:00:00+02:00"),
            seconds("2024-01-01T00:00:00.250Z")
        );
        assert_eq!(
            seconds("2024-01-01T00:00:00"),
            seconds("2024-01-01T00:00:00Z")
        );
        assert!(rank("critical") > rank("high") && rank("low") > rank("whatever"));
        assert!(is_address("2001:db8::1") && !is_address("AWS Internal"));
        assert!(!is_person("lambda.amazonaws.com") && !is_person("AssumedRole"));
    }
}
