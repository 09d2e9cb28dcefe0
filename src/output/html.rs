//! `detect --format html`: one self-contained page (no script, no font, no
//! network: inline CSS and SVG only), so it can be mailed, attached to a
//! ticket or opened on an air-gapped machine. A summary (alerts per rule,
//! with their Sigma ids and ATT&CK tags, and per day), then per incident:
//! its facts, a timeline of its events (one lane per identity and address,
//! each event a mark coloured by the highest level that flagged it, its
//! details on hover), the rules that fired, and its events one click away
//! (`<details>`), each naming the log object that holds it, and each as the
//! lake holds it (its JSON, one more click).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::alerts::{duration, short};
use traillake::detect::incident::{rank, seconds, Flagged, Incident};
use traillake::detect::{Event, RuleSet};

/// Text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn colour(level: &str) -> &'static str {
    match rank(level) {
        5 => "#7b1fa2",
        4 => "#c62828",
        3 => "#ef6c00",
        2 => "#f9a825",
        _ => "#1565c0",
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}\
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f4f4f4}.t{white-space:nowrap}.lvl{color:#fff;padding:1px 6px;border-radius:3px;font-size:12px}\
code,.mono{font-family:ui-monospace,monospace;font-size:12px}details{margin:8px 0}\
summary{cursor:pointer;font-weight:600}.facts td:first-child{font-weight:600;white-space:nowrap}\
svg text{font:11px system-ui,sans-serif}";

fn badge(level: &str) -> String {
    format!(
        "<span class=\"lvl\" style=\"background:{}\">{}</span>",
        colour(level),
        esc(level)
    )
}

/// The whole report.
pub fn report(
    incidents: &[Incident],
    set: &RuleSet,
    version: Option<u64>,
    raw: &std::collections::HashMap<String, String>,
) -> String {
    let mut h = String::new();
    let alerts: usize = incidents.iter().map(|i| i.alert_count).sum();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>traillake detect: {} incident(s)</title><style>{STYLE}</style></head><body>\n\
         <h1>traillake detect: {} incident(s), {alerts} alert(s)</h1>\n<p>{} rule(s) run{}.</p>\n",
        incidents.len(),
        incidents.len(),
        set.detectors.len(),
        version.map_or(String::new(), |v| format!(
            " over the lake's Delta version {v} (<code>--as-of {v}</code> reads it again)"
        ))
    );
    summary(&mut h, incidents, set);
    for i in incidents {
        incident(&mut h, i, set, raw);
    }
    h.push_str("</body></html>\n");
    h
}

fn summary(h: &mut String, incidents: &[Incident], set: &RuleSet) {
    // Alerts per rule, and per day of their first event.
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
    for i in incidents {
        for a in &i.alerts {
            *per_rule.entry(a.rule_id.as_str()).or_default() += 1;
            let day = a
                .event
                .eventtime
                .as_deref()
                .and_then(|t| t.get(..10))
                .unwrap_or("?");
            *per_day.entry(day.to_string()).or_default() += 1;
        }
    }
    h.push_str(
        "<h2 id=\"summary\">Summary</h2>\n<table><tr><th>#</th><th>level</th><th>first (UTC)</th>\
                <th>span</th><th>alerts</th><th>events</th><th>rules</th></tr>\n",
    );
    for i in incidents {
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#incident-{n}\">{n}</a></td><td>{}</td><td class=\"mono t\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            badge(&i.level),
            esc(&i.first),
            duration(&i.first, &i.last),
            i.alerts.len(),
            i.events,
            esc(&i.rules.iter().map(|r| r.title.as_str()).collect::<Vec<_>>().join(", ")),
            n = i.incident,
        );
    }
    h.push_str("</table>\n<h3>Alerts per rule</h3>\n<table><tr><th>rule</th><th>level</th><th>Sigma id</th>\
                <th>ATT&amp;CK</th><th>alerts</th></tr>\n");
    let mut rules: Vec<_> = set
        .detectors
        .iter()
        .filter_map(|d| per_rule.get(d.id.as_str()).map(|n| (d, *n)))
        .collect();
    rules.sort_by(|a, b| rank(&b.0.level).cmp(&rank(&a.0.level)).then(b.1.cmp(&a.1)));
    for (d, n) in rules {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{n}</td></tr>",
            esc(&d.title),
            badge(&d.level),
            esc(&d.id),
            esc(&attack(&d.tags))
        );
    }
    h.push_str("</table>\n<h3>Alerts per day</h3>\n");
    let most = per_day.values().copied().max().unwrap_or(1).max(1);
    let bar_h = 18;
    let _ = writeln!(
        h,
        "<svg role=\"img\" aria-label=\"alerts per day\" width=\"640\" height=\"{}\">",
        per_day.len() * bar_h + 4
    );
    for (k, (day, n)) in per_day.iter().enumerate() {
        let w = (*n as f64 / most as f64 * 440.0).max(2.0);
        let y = k * bar_h;
        let _ = writeln!(
            h,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"90\" y=\"{}\" width=\"{w:.0}\" height=\"{}\" fill=\"#546e7a\">\
             <title>{n} alert(s)</title></rect><text x=\"{:.0}\" y=\"{}\">{n}</text>",
            y + 13,
            esc(day),
            y + 2,
            bar_h - 4,
            96.0 + w,
            y + 13
        );
    }
    h.push_str("</svg>\n");
}

/// The ATT&CK tags of a rule (`attack.t1552.005`, `attack.discovery`).
fn attack(tags: &[String]) -> String {
    tags.iter()
        .filter(|t| t.starts_with("attack."))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn incident(
    h: &mut String,
    i: &Incident,
    set: &RuleSet,
    raw: &std::collections::HashMap<String, String>,
) {
    let join = |s: &std::collections::BTreeSet<String>| {
        esc(&s.iter().cloned().collect::<Vec<_>>().join(", "))
    };
    let _ = writeln!(
        h,
        "<h2 id=\"incident-{n}\">Incident {n} {} <span class=\"mono\">{}</span> to <span class=\"mono\">{}</span> ({})</h2>\n\
         <table class=\"facts\"><tr><td>identities</td><td class=\"mono\">{}</td></tr>\
         <tr><td>source IPs</td><td class=\"mono\">{}</td></tr><tr><td>access keys</td><td class=\"mono\">{}</td></tr>\
         <tr><td>accounts</td><td class=\"mono\">{}</td></tr><tr><td>regions</td><td class=\"mono\">{}</td></tr>\
         <tr><td>alerts, events</td><td>{}, {}</td></tr></table>",
        badge(&i.level),
        esc(&i.first),
        esc(&i.last),
        duration(&i.first, &i.last),
        join(&i.identities),
        join(&i.source_ips),
        join(&i.access_keys),
        join(&i.accounts),
        join(&i.regions),
        i.alerts.len(),
        i.events,
        n = i.incident,
    );
    let events = i.flagged_events();
    timeline(h, i, &events);
    h.push_str("<table><tr><th>rule</th><th>level</th><th>Sigma id</th><th>ATT&amp;CK</th><th>alerts</th><th>from</th></tr>\n");
    for r in &i.rules {
        let file = set
            .detectors
            .iter()
            .find(|d| d.id == r.rule_id)
            .map_or("", |d| d.file.as_str());
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            esc(&r.title),
            badge(&r.level),
            esc(&r.rule_id),
            esc(&attack(&r.tags)),
            r.alerts,
            esc(file)
        );
    }
    let _ = writeln!(
        h,
        "</table>\n<details><summary>{} event(s)</summary>\n<table><tr><th>time (UTC)</th><th>event</th>\
         <th>identity</th><th>source IP</th><th>access key</th><th>account</th><th>region</th><th>rules</th>\
         <th>event id</th><th>log object</th></tr>",
        events.len()
    );
    let o = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
    for (e, rules) in &events {
        let _ = writeln!(
            h,
            "<tr><td class=\"mono\">{}</td><td>{}<br><span class=\"mono\">{}</span></td><td class=\"mono\">{}</td>\
             <td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
             <td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>{}",
            o(&e.eventtime),
            o(&e.eventname),
            o(&e.eventsource),
            o(&e.identity),
            o(&e.sourceipaddress),
            o(&e.accesskey),
            o(&e.account),
            o(&e.region),
            esc(&rules.iter().map(|a| a.title.as_str()).collect::<Vec<_>>().join("; ")),
            o(&e.eventid),
            o(&e.sourcekey),
            e.eventid
                .as_deref()
                .and_then(|id| raw.get(id))
                .map_or(String::new(), |json| format!(
                    "<tr><td colspan=\"10\"><details><summary>raw event</summary><pre class=\"mono\">{}</pre></details></td></tr>",
                    esc(json)
                )),
        );
    }
    h.push_str("</table></details>\n");
}

/// The incident's events on a time axis, one lane per identity and
/// address pair.
fn timeline(h: &mut String, i: &Incident, events: &[Flagged<'_>]) {
    let lane_of = |e: &Event| {
        format!(
            "{} @ {}",
            short(e.identity.as_deref().unwrap_or("?")),
            e.sourceipaddress.as_deref().unwrap_or("?")
        )
    };
    let mut lanes: Vec<String> = Vec::new();
    for (e, _) in events {
        let l = lane_of(e);
        if !lanes.contains(&l) {
            lanes.push(l);
        }
    }
    let t0 = seconds(&i.first).unwrap_or(0);
    let t1 = seconds(&i.last).unwrap_or(t0).max(t0 + 1);
    let (label_w, plot_w, lane_h, top) = (300.0, 620.0, 22.0, 24.0);
    let height = top + lanes.len() as f64 * lane_h + 28.0;
    let x = |t: i64| label_w + (t - t0) as f64 / (t1 - t0) as f64 * plot_w;
    let _ = writeln!(
        h,
        "<svg class=\"timeline\" role=\"img\" aria-label=\"timeline of incident {}\" width=\"{:.0}\" height=\"{height:.0}\">",
        i.incident,
        label_w + plot_w + 20.0
    );
    for (k, lane) in lanes.iter().enumerate() {
        let y = top + k as f64 * lane_h;
        // 11px text: ~48 characters fill the 300 px of labels.
        let shown: String = if lane.chars().count() > 42 {
            let tail: String = lane
                .chars()
                .rev()
                .take(41)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("…{tail}")
        } else {
            lane.clone()
        };
        let _ = writeln!(
            h,
            "<text x=\"0\" y=\"{:.0}\"><title>{}</title>{}</text><line x1=\"{label_w}\" x2=\"{:.0}\" y1=\"{:.0}\" y2=\"{:.0}\" stroke=\"#eee\"/>",
            y + 4.0,
            esc(lane),
            esc(&shown),
            label_w + plot_w,
            y,
            y
        );
    }
    // The axis: start, middle and end times.
    let axis_y = top + lanes.len() as f64 * lane_h;
    let _ = writeln!(
        h,
        "<line x1=\"{label_w}\" x2=\"{:.0}\" y1=\"{axis_y:.0}\" y2=\"{axis_y:.0}\" stroke=\"#999\"/>",
        label_w + plot_w
    );
    for (k, anchor) in [(0i64, "start"), (1, "middle"), (2, "end")] {
        let t = t0 + (t1 - t0) * k / 2;
        let _ = writeln!(
            h,
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"{anchor}\">{}</text>",
            x(t),
            axis_y + 16.0,
            esc(&clock(t))
        );
    }
    for (e, rules) in events {
        let lane = lanes.iter().position(|l| *l == lane_of(e)).unwrap_or(0);
        let y = top + lane as f64 * lane_h;
        let t = e.eventtime.as_deref().and_then(seconds).unwrap_or(t0);
        let level = rules
            .iter()
            .map(|a| a.level.as_str())
            .max_by_key(|l| rank(l))
            .unwrap_or("");
        let _ = writeln!(
            h,
            "<circle cx=\"{:.1}\" cy=\"{y:.0}\" r=\"5\" fill=\"{}\" fill-opacity=\"0.8\"><title>{} {} by {} from {}: {}</title></circle>",
            x(t),
            colour(level),
            esc(e.eventtime.as_deref().unwrap_or("")),
            esc(e.eventname.as_deref().unwrap_or("")),
            esc(e.identity.as_deref().unwrap_or("")),
            esc(e.sourceipaddress.as_deref().unwrap_or("")),
            esc(&rules.iter().map(|a| a.title.as_str()).collect::<Vec<_>>().join("; "))
        );
    }
    h.push_str("</svg>\n");
}

/// Seconds since 1970 as `YYYY-MM-DD HH:MM:SS`.
fn clock(t: i64) -> String {
    let d = traillake::partition::Date::from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!("{d} {:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_times_printed() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(clock(86_400 + 3661), "1970-01-02 01:01:01");
    }
}
