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

/// `(rule id, eventID)` of each alert, as a count (a doubled alert shows).
fn pairs<'a>(rows: impl IntoIterator<Item = &'a Value>) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        let key = (
            r["rule_id"].as_str().unwrap().to_string(),
            r["eventid"].as_str().unwrap().to_string(),
        );
        *m.entry(key).or_insert(0) += 1;
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
    if !engines(&["yaml"]) {
        return;
    }
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
    assert_eq!(constructs, 25, "{fired:?}");
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
        &["--rules", rules.to_str().unwrap(), "--format", "json"],
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

    // The table names the rule and the evidence.
    let (code, out, _) = detect(&lake, &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("sourcekey") && out.contains("AWSLogs/653711331788/"),
        "{out}"
    );
}
