//! `traillake detect`: SigmaHQ's CloudTrail rules and our own over a lake of
//! real logs (Stratus Red Team, Invictus, flaws2), every alert compared with
//! an independent evaluation of the same rules over the raw JSON
//! (`tests/detect/sigma_eval.py`); untranslatable rules reported by name;
//! `--explain`, `--since`/`--until`, rule files as presets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::helpers::*;
use serde_json::Value;

const LOGS: [&str; 3] = ["stratus-red-team", "invictus", "flaws2"];

/// One lake of the three real log sets.
fn real_lake(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    for l in LOGS {
        copy_dir(&repo().join("tests/data").join(l), &src);
    }
    let lake = dir.join("lake");
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    lake
}

fn detect(lake: &Path, args: &[&str]) -> (i32, String, String) {
    on_lake("detect", lake, args)
}

fn alerts(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `(rule id, eventID)` of each alert's events (a correlation's alert
/// holds its group's, in `events`), as a count (a doubled alert shows).
fn pairs<'a>(rows: impl IntoIterator<Item = &'a Value>) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        let events = match r["events"].as_array() {
            Some(events) => events.iter().collect(),
            None => vec![r],
        };
        for e in events {
            let key = (
                r["rule_id"].as_str().unwrap().to_string(),
                e["eventid"].as_str().unwrap().to_string(),
            );
            *m.entry(key).or_insert(0) += 1;
        }
    }
    m
}

/// SigmaHQ's rules, ours, and one rule per Sigma construct we translate.
fn rules() -> [PathBuf; 3] {
    [
        repo().join("rules/sigmahq/cloudtrail"),
        repo().join("rules/traillake"),
        repo().join("tests/detect/semantics.yml"),
    ]
}

#[test]
fn sigma_rules_alert_exactly_as_an_independent_evaluation_of_the_raw_logs() {
    engines(&["yaml"]);
    let dir = tempfile::tempdir().unwrap();
    let lake = real_lake(dir.path());
    let ranges = repo().join("tests/data/ip-ranges-sample.json");
    let [sigmahq, ours, semantics] = rules();
    let (code, out, err) = detect(
        &lake,
        &[
            "--rules",
            sigmahq.to_str().unwrap(),
            ours.to_str().unwrap(),
            semantics.to_str().unwrap(),
            "--ip-ranges",
            ranges.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let ours_alerts = alerts(&out);

    // The independent evaluation.
    let mut eval = Command::new("python3");
    eval.arg(repo().join("tests/detect/sigma_eval.py"))
        .arg("--rules")
        .args([&sigmahq, &ours, &semantics])
        .arg("--logs");
    for l in LOGS {
        eval.arg(repo().join("tests/data").join(l));
    }
    let eval = eval.arg("--ip-ranges").arg(&ranges).output().unwrap();
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let theirs = alerts(&String::from_utf8_lossy(&eval.stdout));
    // Compared for the rules both ran: each side reports what it skipped.
    let skipped: BTreeSet<String> = err
        .lines()
        .filter_map(|l| l.strip_prefix("traillake: rule not run: "))
        .filter_map(|l| l.split(": ").nth(1).map(str::to_string))
        .collect();
    let theirs: Vec<Value> = theirs
        .into_iter()
        .filter(|a| !skipped.contains(a["rule_id"].as_str().unwrap()))
        .collect();
    let (a, b) = (pairs(&ours_alerts), pairs(&theirs));
    let missing: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    let false_alerts: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    assert!(missing.is_empty(), "alerts detect missed: {missing:?}");
    assert!(
        false_alerts.is_empty(),
        "alerts not in the raw logs: {false_alerts:?}"
    );
    assert!(a.values().all(|n| *n == 1), "an alert printed twice");

    // Enough of it to mean something: at least 52 of SigmaHQ's 57 rules
    // translate, a dozen of them fire, so do the seed's four signals, and
    // all but two of the construct rules (a miss by case, an escaped `*`).
    assert!(skipped.len() <= 5, "{err}");
    let fired: BTreeSet<&str> = ours_alerts
        .iter()
        .map(|a| a["rule_id"].as_str().unwrap())
        .collect();
    let constructs = fired.iter().filter(|r| r.starts_with("sem-")).count();
    assert!(fired.len() - constructs >= 15, "{fired:?}");
    // 25 single-event constructs, the three counting correlations and
    // first_seen.
    assert_eq!(constructs, 29, "{fired:?}");
    for seed in [
        "7a5b6cb3-b829-4d46-aa4a-36708ebf1a18",
        "362fd733-32c7-4e14-b1fa-6b352e865459",
        "fb0b7186-bbca-4d07-999a-75c46556d5c9",
        "c077afb7-1a23-49ed-931d-09c97b4626d4",
    ] {
        assert!(fired.contains(seed), "seed signal {seed} found nothing");
    }

    // Each alert names its evidence: the log object holding that event.
    let mut files: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in &ours_alerts {
        let key = a["sourcekey"].as_str().unwrap().to_string();
        let ids = files.entry(key.clone()).or_insert_with(|| {
            let raw = read_raw(Path::new(key.strip_prefix("file://").unwrap_or(&key)));
            raw.iter()
                .map(|r| r["eventID"].as_str().unwrap().to_string())
                .collect()
        });
        assert!(ids.contains(a["eventid"].as_str().unwrap()), "{a}");
        for field in ["title", "level", "eventtime", "account", "region"] {
            assert!(a[field].is_string(), "{field} in {a}");
        }
        assert!(a["tags"].is_array(), "{a}");
    }
}

/// The records of one raw log file.
fn read_raw(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["Records"].as_array().unwrap().clone()
}

#[test]
fn untranslatable_rules_are_named_with_the_reason_and_the_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let lake = dir.path().join("lake");
    assert_eq!(compact(&src, &lake, &[]).0, 0);
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("more")).unwrap();
    let rule = |title: &str, logsource: &str, detection: &str| {
        format!(
            "title: {title}\nid: {title}\nlogsource:\n{logsource}\ndetection:\n{detection}\nlevel: high\n"
        )
    };
    let aws = "    product: aws\n    service: cloudtrail";
    std::fs::write(
        rules.join("good.yml"),
        rule(
            "good",
            aws,
            "    selection:\n        eventName: ListBuckets\n        userAgent|contains: 'Darwin'\n    condition: selection",
        ),
    )
    .unwrap();
    std::fs::write(
        rules.join("keywords.yml"),
        rule(
            "keywords",
            aws,
            "    keywords:\n        - evil\n    condition: keywords",
        ),
    )
    .unwrap();
    std::fs::write(
        rules.join("more/windows.yaml"),
        rule(
            "windows",
            "    product: windows\n    category: process_creation",
            "    selection:\n        Image|endswith: '\\cmd.exe'\n    condition: selection",
        ),
    )
    .unwrap();
    std::fs::write(
        rules.join("more/base64.yml"),
        rule(
            "base64",
            aws,
            "    selection:\n        userAgent|base64: 'x'\n    condition: selection",
        ),
    )
    .unwrap();
    std::fs::write(
        rules.join("more/undefined.yml"),
        rule(
            "undefined",
            aws,
            "    selection:\n        eventName: x\n    condition: selection and not filter",
        ),
    )
    .unwrap();
    std::fs::write(rules.join("broken.yml"), "title: [unclosed\n  detection: {").unwrap();
    std::fs::write(rules.join("notes.txt"), "not a rule").unwrap();

    let (code, out, err) = detect(
        &lake,
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--no-builtin",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let found = alerts(&out);
    assert!(!found.is_empty());
    assert!(found.iter().all(|a| a["rule_id"] == "good"
        && a["eventname"] == "ListBuckets"
        && a["level"] == "high"));
    for (file, why) in [
        ("keywords.yml", "keyword"),
        ("windows.yaml", "logsource"),
        ("base64.yml", "base64"),
        ("undefined.yml", "filter"),
        ("broken.yml", ""),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains("rule not run") && l.contains(file) && l.contains(why)),
            "{file}: {err}"
        );
    }
    assert!(!err.contains("notes.txt"), "{err}");
    assert!(err.contains("5 not translated"), "{err}");

    // --explain prints the SQL without a lake; a rule file runs as a
    // preset and returns the same events.
    let explain = bin()
        .args(["detect", "--explain", "--rules"])
        .arg(rules.join("good.yml"))
        .output()
        .unwrap();
    assert!(explain.status.success());
    let sql = String::from_utf8_lossy(&explain.stdout);
    assert!(sql.contains("FROM cloudtrail"), "{sql}");
    assert!(sql.contains("ILIKE '%Darwin%'"), "{sql}");
    let preset = bin()
        .args(["query", "--format", "json", "--lake"])
        .arg(&lake)
        .arg("--preset")
        .arg(rules.join("good.yml"))
        .output()
        .unwrap();
    assert!(
        preset.status.success(),
        "{}",
        String::from_utf8_lossy(&preset.stderr)
    );
    let rows = alerts(&String::from_utf8_lossy(&preset.stdout));
    let ids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|r| r["eventid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&rows), ids(&found));
    // A rule file that does not translate is refused as a preset.
    let bad = bin()
        .args(["query", "--lake"])
        .arg(&lake)
        .arg("--preset")
        .arg(rules.join("keywords.yml"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_window_reads_only_its_days_and_the_default_rules_are_the_seed_signals() {
    let dir = tempfile::tempdir().unwrap();
    let lake = real_lake(dir.path());
    // No --rules: the seed's signals, which fire on flaws2 (2018-11-28).
    let (code, out, err) = detect(&lake, &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let all = alerts(&out);
    let titles: BTreeSet<&str> = all.iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert!(
        titles.contains("One address anonymous and as an assumed role within an hour"),
        "{titles:?}"
    );
    assert!(titles.contains("AWS CLI on a compute role"), "{titles:?}");
    assert!(all
        .iter()
        .any(|a| a["eventtime"].as_str().unwrap().starts_with("2018-11-28")));

    let (code, out, err) = detect(
        &lake,
        &[
            "--since",
            "2023-07-10",
            "--until",
            "2023-07-10",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let windowed = alerts(&out);
    assert!(windowed
        .iter()
        .all(|a| a["eventtime"].as_str().unwrap().starts_with("2023-07-10")));
    let in_day: Vec<&Value> = all
        .iter()
        .filter(|a| a["eventtime"].as_str().unwrap().starts_with("2023-07-10"))
        .collect();
    assert_eq!(pairs(windowed.iter()), pairs(in_day));

    // The table names the rules; --verbose each event's evidence.
    let (code, out, _) = detect(&lake, &[]);
    assert_eq!(code, 0);
    assert!(out.contains("AWS CLI on a compute role ("), "{out}");
    let (code, out, _) = detect(&lake, &["--verbose"]);
    assert_eq!(code, 0);
    assert!(out.contains("AWSLogs/653711331788/"), "{out}");
}

/// `(rule id, eventID)` pairs of `tests/detect/sigma_eval.py` over the
/// raw logs in `logs`, with `extra` arguments.
fn evaluated(
    rules: &[&Path],
    logs: &[PathBuf],
    extra: &[&str],
) -> BTreeMap<(String, String), usize> {
    let out = Command::new("python3")
        .arg(repo().join("tests/detect/sigma_eval.py"))
        .arg("--rules")
        .args(rules)
        .arg("--logs")
        .args(logs)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pairs(&alerts(&String::from_utf8_lossy(&out.stdout)))
}

/// flaws2's logs, and the same calls again the next day (new event ids),
/// plus one call level1 never made before: a day whose callers all have
/// history.
fn flaws2_and_a_day_after(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let mut records = Vec::new();
    for f in walk(&src) {
        if f.to_string_lossy().ends_with(".json.gz") {
            records.extend(read_raw(&f));
        }
    }
    let mut next_day: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let t = r["eventTime"]
                .as_str()
                .unwrap()
                .replace("2018-11-28", "2018-11-29");
            r["eventTime"] = Value::from(t);
            let id = format!("{}-again", r["eventID"].as_str().unwrap());
            r["eventID"] = Value::from(id);
            r
        })
        .collect();
    let mut new_call = next_day
        .iter()
        .find(|r| r["eventName"] == "ListImages")
        .unwrap()
        .clone();
    new_call["eventName"] = Value::from("DeleteRepository");
    new_call["eventID"] = Value::from("never-before");
    next_day.push(new_call);
    let folder = src.join("AWSLogs/653711331788/CloudTrail/us-east-1/2018/11/29");
    std::fs::create_dir_all(&folder).unwrap();
    let body = serde_json::json!({ "Records": next_day });
    std::fs::write(
        folder.join("653711331788_CloudTrail_us-east-1_20181129T2310Z_replayed.json.gz"),
        gz(body.to_string().as_bytes()),
    )
    .unwrap();
    src
}

#[test]
fn first_seen_and_every_rule_over_a_window_equal_an_independent_evaluation() {
    engines(&["yaml"]);
    let dir = tempfile::tempdir().unwrap();
    let src = flaws2_and_a_day_after(dir.path());
    let lake = dir.path().join("lake");
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let semantics = repo().join("tests/detect/semantics.yml");
    let ours_rules = repo().join("rules/traillake");
    let rules = [semantics.as_path(), ours_rules.as_path()];
    let since = "2018-11-29";
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--rules",
            rules[0].to_str().unwrap(),
            rules[1].to_str().unwrap(),
        ];
        args.extend(["--no-builtin", "--format", "json"]);
        args.extend(extra);
        let (code, out, err) = detect(&lake, &args);
        assert_eq!(code, 0, "{err}");
        alerts(&out)
    };
    let first_seen_rules = ["sem-first-seen", "8a4e6b21-0d3f-4f7a-b5c2-91e7d3a60f12"];
    let first_seen = |p: &BTreeMap<(String, String), usize>| {
        p.keys()
            .filter(|(r, _)| first_seen_rules.contains(&r.as_str()))
            .map(|(r, e)| (r.clone(), e.clone()))
            .collect::<BTreeSet<_>>()
    };
    // Every rule over the window, first_seen with the day before as its
    // history, as the independent evaluation has them.
    let ours = pairs(&run(&["--since", since]));
    let theirs = evaluated(&rules, std::slice::from_ref(&src), &["--since", since]);
    assert_eq!(ours, theirs);
    // The replayed day is all history but its one new call.
    let expected: BTreeSet<(String, String)> = first_seen_rules
        .iter()
        .map(|r| (r.to_string(), "never-before".to_string()))
        .collect();
    assert_eq!(first_seen(&ours), expected);
    // Without the history the day would be all new.
    let no_history = evaluated(
        &rules,
        std::slice::from_ref(&src),
        &["--since", since, "--no-history"],
    );
    assert!(first_seen(&no_history).len() > 4, "{no_history:?}");
    // And over the whole lake: the first day's first calls, then the new one.
    let whole = pairs(&run(&[]));
    assert_eq!(whole, evaluated(&rules, std::slice::from_ref(&src), &[]));
    let on_day_two: BTreeSet<_> = first_seen(&whole)
        .into_iter()
        .filter(|(_, e)| e.ends_with("-again") || e == "never-before")
        .collect();
    assert_eq!(on_day_two, expected);
}

/// The flaws2 lake, with AWS's address ranges (the sample) given.
fn flaws2_lake(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let lake = dir.join("lake");
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    lake
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_flaws2_attack_is_one_incident_and_correlations_alert_once_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let lake = flaws2_lake(dir.path());
    let ranges = repo().join("tests/data/ip-ranges-sample.json");
    let ranges = ranges.to_str().unwrap();
    let (code, out, err) = detect(&lake, &["--ip-ranges", ranges, "--format", "incidents"]);
    assert_eq!(code, 0, "{err}");
    let incidents = alerts(&out);
    assert_eq!(incidents.len(), 1, "{out}");
    let i = &incidents[0];
    assert_eq!(i["incident"], 1);
    assert_eq!(i["level"], "high");
    assert_eq!(
        strings(&i["source_ips"])
            .iter()
            .filter(|ip| ip.starts_with("104."))
            .count(),
        1
    );
    assert!(strings(&i["source_ips"]).contains(&"104.102.221.250".to_string()));
    let ids = strings(&i["identities"]);
    for role in [":assumed-role/level1/", ":assumed-role/level3/"] {
        assert!(ids.iter().any(|id| id.contains(role)), "{role} in {ids:?}");
    }
    let events: Vec<&Value> = i["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["events"].as_array().unwrap())
        .collect();
    let names: BTreeSet<&str> = events
        .iter()
        .map(|e| e["eventname"].as_str().unwrap())
        .collect();
    // The ECR pulls with the stolen level1 role, and level3's ListBuckets
    // from the laptop.
    for name in [
        "ListImages",
        "BatchGetImage",
        "GetDownloadUrlForLayer",
        "ListBuckets",
    ] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    // Every correlation alert is one group: its group named, its events of
    // more than one kind, never a service's anchor event alone.
    let all = i["alerts"].as_array().unwrap();
    assert_eq!(all.len(), 7, "{out}");
    for a in all {
        assert!(a["group"].as_object().is_some_and(|g| !g.is_empty()), "{a}");
        let evs = a["events"].as_array().unwrap();
        assert!(evs.len() >= 2, "{a}");
        assert!(
            evs.iter()
                .any(|e| !e["identity"].as_str().unwrap().ends_with(".amazonaws.com")),
            "an alert on a service's own event alone: {a}"
        );
    }
    assert!(err.contains("1 incident(s) from 7 alert(s)"), "{err}");

    // The table: a header and one line per incident, rules counted.
    let (code, out, err) = detect(&lake, &["--ip-ranges", ranges]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("actors") && lines[0].contains("rules"),
        "{out}"
    );
    assert!(
        lines[1].contains("104.102.221.250")
            && lines[1].contains("Compute role used from outside AWS (2)"),
        "{out}"
    );
    // --verbose: its rules, then each event once, in time order.
    let (code, out, _) = detect(&lake, &["--ip-ranges", ranges, "-v"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("    rule ")).count(),
        4,
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("    2018-")).count(),
        events_distinct(&events),
        "{out}"
    );

    // --rules adds to ours; --no-builtin runs only the given ones.
    let extra = dir.path().join("extra.yml");
    std::fs::write(
        &extra,
        "title: listing buckets\nid: extra-1\nlogsource:\n  product: aws\n  service: cloudtrail\n\
         detection:\n  sel:\n    eventName: ListBuckets\n  condition: sel\nlevel: low\n",
    )
    .unwrap();
    let extra = extra.to_str().unwrap();
    let (code, out, err) = detect(
        &lake,
        &["--ip-ranges", ranges, "--rules", extra, "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let found = alerts(&out);
    assert!(found.iter().any(|a| a["rule_id"] == "extra-1"), "{out}");
    assert!(
        found
            .iter()
            .any(|a| a["rule_id"] == "7a5b6cb3-b829-4d46-aa4a-36708ebf1a18"),
        "{out}"
    );
    let (code, out, _) = detect(
        &lake,
        &["--rules", extra, "--no-builtin", "--format", "json"],
    );
    assert_eq!(code, 0);
    assert!(
        alerts(&out).iter().all(|a| a["rule_id"] == "extra-1"),
        "{out}"
    );
    let (code, _, err) = detect(&lake, &["--no-builtin"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--no-builtin leaves no rules"), "{err}");
    // A rule's query has the memory --memory gives it.
    let (code, _, err) = detect(&lake, &["--memory", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--memory 0: give MiB"), "{err}");
    // A typo'd gap is refused, naming the forms it takes.
    let (code, _, err) = detect(&lake, &["--gap", "1hour"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("30m, 1h, 2d"), "{err}");
    // Without the ranges, the warning says how to get them.
    let (_, _, err) = detect(&lake, &[]);
    assert!(
        err.contains("traillake ip-ranges --out ip-ranges.json"),
        "{err}"
    );
}

fn events_distinct(events: &[&Value]) -> usize {
    events
        .iter()
        .map(|e| e["eventid"].as_str().unwrap())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Debian's Chromium, headless, as root too.
fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    let found = Command::new("chromium").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "chromium is not installed: this test renders the HTML report in it (scripts/test.sh \
         installs Debian's chromium)"
    );
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_html_report_is_self_contained_and_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let ranges = repo().join("tests/data/ip-ranges-sample.json");
    let flaws2 = flaws2_lake(&dir.path().join("flaws2"));
    let src = dir.path().join("stratus/src");
    copy_dir(&repo().join("tests/data/stratus-red-team"), &src);
    let stratus = dir.path().join("stratus/lake");
    assert_eq!(compact(&src, &stratus, &[]).0, 0);
    let sigmahq = repo().join("rules/sigmahq/cloudtrail");
    for (name, lake, rules) in [
        ("flaws2", &flaws2, None),
        ("stratus", &stratus, Some(&sigmahq)),
    ] {
        let mut args = vec!["--ip-ranges", ranges.to_str().unwrap(), "--format", "html"];
        if let Some(r) = rules {
            args.extend(["--rules", r.to_str().unwrap()]);
        }
        let (code, html, err) = detect(lake, &args);
        assert_eq!(code, 0, "{err}");
        let (code, out, _) = detect(
            lake,
            &[&args[..2], &["--format", "incidents"], &args[4..]].concat(),
        );
        assert_eq!(code, 0);
        let incidents = alerts(&out);
        assert!(!incidents.is_empty(), "{name}: no incident");
        // Self-contained: nothing fetched, nothing run.
        for never in ["<script", "src=", "url(", "@import", "<link"] {
            assert!(!html.contains(never), "{name}: {never} in the report");
        }
        assert!(
            !html.contains("href=\"http"),
            "{name}: a link out of the page"
        );
        let page = dir.path().join(format!("{name}.html"));
        std::fs::write(&page, &html).unwrap();
        let url = format!("file://{}", page.display());
        // The page as Chromium parsed it: a timeline per incident, a mark
        // per event.
        let dom = chromium(
            &["--dump-dom", &url],
            &dir.path().join(format!("profile-{name}-dom")),
        );
        assert!(
            dom.status.success(),
            "{}",
            String::from_utf8_lossy(&dom.stderr)
        );
        let dom = String::from_utf8_lossy(&dom.stdout);
        assert_eq!(
            dom.matches("class=\"timeline\"").count(),
            incidents.len(),
            "{name}"
        );
        let marks: usize = incidents
            .iter()
            .map(|i| {
                let evs: Vec<&Value> = i["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|a| match a["events"].as_array() {
                        Some(e) => e.iter().collect::<Vec<_>>(),
                        None => vec![a],
                    })
                    .collect();
                evs.iter()
                    .map(|e| {
                        (
                            e["eventtime"].as_str().unwrap(),
                            e["eventid"].as_str().unwrap(),
                        )
                    })
                    .collect::<BTreeSet<_>>()
                    .len()
            })
            .sum();
        assert_eq!(dom.matches("<circle").count(), marks, "{name}");
        assert!(
            dom.contains(&format!("Incident {}", incidents.len())),
            "{name}"
        );
        // Each event's record, as the lake holds it, one click away.
        assert_eq!(
            dom.matches("<summary>raw event</summary>").count(),
            marks,
            "{name}"
        );
        assert!(dom.contains("\"eventid\": \""), "{name}");
        // And a picture of it: a screenshot of the page, not blank.
        let shot = dir.path().join(format!("{name}.png"));
        let out = chromium(
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=1280,1600",
                &url,
            ],
            &dir.path().join(format!("profile-{name}-shot")),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let png = std::fs::read(&shot).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        assert!(
            png.len() > 30_000,
            "{name}: a {} byte screenshot is a blank page",
            png.len()
        );
        if let Some(keep) = std::env::var_os("TRAILLAKE_KEEP_SCREENSHOTS") {
            std::fs::copy(
                &shot,
                Path::new(&keep).join(format!("detect-report-{name}.png")),
            )
            .unwrap();
            std::fs::copy(
                &page,
                Path::new(&keep).join(format!("detect-report-{name}.html")),
            )
            .unwrap();
        }
    }
}

#[test]
fn ip_ranges_fetches_checks_and_writes_aws_ranges_and_says_what_to_do_offline() {
    let dir = tempfile::tempdir().unwrap();
    // AWS's file served on loopback.
    let served = dir.path().join("www");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::copy(
        repo().join("tests/data/ip-ranges-sample.json"),
        served.join("ip-ranges.json"),
    )
    .unwrap();
    std::fs::write(served.join("other.json"), "{\"prefixes\": []}").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&served)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/ip-ranges.json");
    let out = dir.path().join("ranges.json");
    let mut result = None;
    for _ in 0..100 {
        let r = tl(
            &["ip-ranges", "--url", &url, "--out", out.to_str().unwrap()],
            dir.path(),
        );
        if r.0 == 0 {
            result = Some(r);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (code, _, err) = result.expect("the loopback server answers");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("address prefixes"), "{err}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(repo().join("tests/data/ip-ranges-sample.json")).unwrap()
    );
    // Not AWS's file: refused, nothing written.
    let bad = dir.path().join("bad.json");
    let (code, _, err) = tl(
        &[
            "ip-ranges",
            "--url",
            &url.replace("ip-ranges.json", "other.json"),
            "--out",
            bad.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not AWS's ip-ranges.json"), "{err}");
    assert!(!bad.exists());
    let _ = server.kill();
    let _ = server.wait();
    // Nothing listening (as where the network does not reach AWS): the
    // error says how to get the file another way.
    let (code, _, err) = tl(
        &["ip-ranges", "--url", &url, "--out", bad.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("could not fetch") && err.contains("curl -o ip-ranges.json"),
        "{err}"
    );
}

/// The binary with `args`, in `dir`.
fn tl(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = bin().args(args).current_dir(dir).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
