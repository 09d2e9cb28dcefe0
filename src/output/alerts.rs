//! What `detect` prints: incidents as a table that fits the terminal (one
//! line each; `--verbose` adds their alerts and events), incidents as JSON
//! lines, and alerts as JSON lines (one per alert, for a SIEM).

use std::fmt::Write as _;

use traillake::detect::incident::{self, Incident};
use traillake::detect::Alert;

/// Alerts as one JSON object per line.
pub fn alerts_json(alerts: &[Alert]) -> String {
    alerts
        .iter()
        .map(|a| serde_json::to_string(a).expect("an alert serializes") + "\n")
        .collect()
}

/// Incidents as one JSON object per line, each with its alerts.
pub fn incidents_json(incidents: &[Incident]) -> String {
    incidents
        .iter()
        .map(|i| serde_json::to_string(i).expect("an incident serializes") + "\n")
        .collect()
}

/// `2018-11-28T22:31:59Z` as `2018-11-28 22:31:59`.
fn when(t: &str) -> String {
    t.get(..19).unwrap_or(t).replacen('T', " ", 1)
}

/// An incident's length: `37m37s`, `2h05m`, `3d04h`.
pub fn duration(first: &str, last: &str) -> String {
    let (Some(a), Some(b)) = (incident::seconds(first), incident::seconds(last)) else {
        return String::new();
    };
    let s = (b - a).max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// An ARN as its resource part (`assumed-role/level1/level1`); anything
/// else as it is.
pub fn short(actor: &str) -> &str {
    if actor.starts_with("arn:") {
        actor.splitn(6, ':').nth(5).unwrap_or(actor)
    } else {
        actor
    }
}

/// The actors of an incident, addresses first, shortened.
fn actors(i: &Incident) -> Vec<String> {
    i.source_ips
        .iter()
        .filter(|ip| incident::is_address(ip))
        .map(|s| s.to_string())
        .chain(
            i.identities
                .iter()
                .filter(|id| incident::is_person(id))
                .map(|id| short(id).to_string()),
        )
        .chain(i.access_keys.iter().cloned())
        .collect()
}

/// Cuts `s` to `width` characters, ending in `…` when cut.
fn fit(s: &str, width: Option<usize>) -> String {
    match width {
        Some(w) if s.chars().count() > w => {
            let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
            out.push('…');
            out
        }
        _ => s.to_string(),
    }
}

/// One line per incident, fitted to `width` characters when given (a
/// terminal's); with `verbose`, each incident's alerts and events below it.
pub fn incidents_table(incidents: &[Incident], width: Option<usize>, verbose: bool) -> String {
    let mut out = String::new();
    if incidents.is_empty() {
        return out;
    }
    let num_w = incidents.len().to_string().len().max(1);
    let level_w = incidents
        .iter()
        .map(|i| i.level.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let head = format!(
        "{:>num_w$}  {:<level_w$}  {:<19}  {:>7}  {:>6}  {:>6}  ",
        "#", "level", "first (UTC)", "span", "alerts", "events"
    );
    let fixed = head.chars().count();
    // The rest of the line: actors, then rules.
    let rest = width.map(|w| w.saturating_sub(fixed).max(30));
    let actors_w = rest.map(|r| (r * 2 / 5).max(16));
    let rules_w = rest
        .zip(actors_w)
        .map(|(r, a)| r.saturating_sub(a + 2).max(12));
    let _ = writeln!(
        out,
        "{head}{:<aw$}  rules",
        "actors",
        aw = actors_w.unwrap_or(0)
    );
    for i in incidents {
        let actors = fit(&actors(i).join(", "), actors_w);
        let rules = i
            .rules
            .iter()
            .map(|r| format!("{} ({})", r.title, r.alerts))
            .collect::<Vec<_>>()
            .join(", ");
        let line = format!(
            "{:>num_w$}  {:<level_w$}  {:<19}  {:>7}  {:>6}  {:>6}  {:<aw$}  {}",
            i.incident,
            i.level,
            when(&i.first),
            duration(&i.first, &i.last),
            i.alert_count,
            i.events,
            actors,
            fit(&rules, rules_w),
            aw = actors_w.unwrap_or(0)
        );
        out.push_str(line.trim_end());
        out.push('\n');
        if verbose {
            verbose_lines(&mut out, i, width);
        }
    }
    out
}

/// An incident's alerts (rule, level, group, events) and then its events
/// in time order, each with the rules that flagged it and its log object.
fn verbose_lines(out: &mut String, i: &Incident, width: Option<usize>) {
    let line = |out: &mut String, s: String| {
        let _ = writeln!(out, "{}", fit(&s, width).trim_end());
    };
    line(
        out,
        format!(
            "    accounts {}; regions {}; {} to {}",
            i.accounts.iter().cloned().collect::<Vec<_>>().join(", "),
            i.regions.iter().cloned().collect::<Vec<_>>().join(", "),
            when(&i.first),
            when(&i.last)
        ),
    );
    for r in &i.rules {
        line(
            out,
            format!(
                "    rule  {:<13} {} ({} alert{}) {} {}",
                r.level,
                r.title,
                r.alerts,
                if r.alerts == 1 { "" } else { "s" },
                r.rule_id,
                r.tags.join(" ")
            ),
        );
    }
    for (e, alerts) in i.flagged_events() {
        let mut rules: Vec<&str> = alerts.iter().map(|a| a.title.as_str()).collect();
        rules.dedup();
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        line(
            out,
            format!(
                // The address before the identity: on a narrow terminal
                // the line is cut, and the address is shorter.
                "    {}  {:<24} {:<16} {:<40} {}  [{}]",
                when(&o(&e.eventtime)),
                o(&e.eventname),
                o(&e.sourceipaddress),
                short(&o(&e.identity)),
                rules.join("; "),
                o(&e.sourcekey)
            ),
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_short_names() {
        assert_eq!(
            duration("2018-11-28T22:31:59Z", "2018-11-28T23:09:36Z"),
            "37m37s"
        );
        assert_eq!(
            duration("2018-11-28T22:31:59Z", "2018-11-28T22:31:59Z"),
            "0s"
        );
        assert_eq!(
            duration("2018-11-28T00:00:00Z", "2018-11-30T05:00:00Z"),
            "2d05h"
        );
        assert_eq!(
            short("arn:aws:sts::653711331788:assumed-role/level1/level1"),
            "assumed-role/level1/level1"
        );
        assert_eq!(short("104.102.221.250"), "104.102.221.250");
        assert_eq!(fit("abcdef", Some(4)), "abc…");
        assert_eq!(fit("abc", Some(4)), "abc");
    }
}
