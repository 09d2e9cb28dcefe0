//! The promises under hostile input, crashes, concurrent runs and attack:
//! nothing lost or doubled, bad input quarantined by name while the run
//! goes on, no credential printed, memory bounded whatever the input.

use std::io::Read as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::helpers::*;

fn n(r: &Value, field: &str) -> u64 {
    r[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {r}"))
}

const DAY: &str = "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/01/15";

/// One string column of every row of the lake.
fn lake_column(lake: &Path, col: &str) -> Vec<String> {
    read_lake(lake)
        .into_values()
        .flatten()
        .map(|r| r[col].as_str().unwrap().to_string())
        .collect()
}

fn record(id: &str, name: &str, time: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"{time}","eventID":"{id}","eventName":"{name}","eventSource":"s3.amazonaws.com","awsRegion":"eu-west-1","recipientAccountId":"111122223333"}}"#
    )
}

fn write_log(src: &Path, name: &str, records: &[String]) {
    let dir = src.join(DAY);
    std::fs::create_dir_all(&dir).unwrap();
    let doc = format!(r#"{{"Records":[{}]}}"#, records.join(","));
    std::fs::write(dir.join(name), gz(doc.as_bytes())).unwrap();
}

#[test]
fn quarantined_records_and_the_report_survive_a_crash_after_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    // One record without an eventTime among good ones.
    write_log(
        &src,
        "bad.json.gz",
        &[
            record("good-1", "GetObject", "2024-01-15T10:00:00Z"),
            r#"{"eventID":"no-time","eventName":"PutObject"}"#.to_string(),
        ],
    );
    let out = bin()
        .args(["compact", "--source"])
        .arg(&src)
        .arg("--lake")
        .arg(&lake)
        .env("TRAILLAKE_FAILPOINT", "after-journal")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the failpoint did not fire");
    let journals = walk(&lake.join("_traillake/journal"));
    assert_eq!(journals.len(), 1, "{journals:?}");
    let run_id = journals[0]
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .to_string();
    // The next run finishes the crashed one: its quarantine and report are
    // in place, and the file with the bad record is not read again.
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["recovered_runs"], serde_json::json!([run_id]));
    assert_eq!(n(&r, "inputs_read"), 0, "{r}");
    let q = std::fs::read_to_string(lake.join(format!("_traillake/quarantine/{run_id}.jsonl")))
        .unwrap();
    assert_eq!(q.lines().count(), 1, "{q}");
    assert!(q.contains("\"no-time\""), "{q}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(lake.join(format!("_traillake/runs/{run_id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(n(&report, "records_quarantined"), 1);
    assert_eq!(report["quarantined"][0]["record"], 1);
}

#[test]
fn odd_file_names_are_read_and_printed_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    let dir = src.join(DAY);
    std::fs::create_dir_all(&dir).unwrap();
    let names: [&[u8]; 4] = [
        b"tab\there.json.gz",
        b"esc\x1b[31mred.json.gz",
        b"bad\xffutf8.json.gz",
        b"line\nfeed.json.gz",
    ];
    for (i, name) in names.iter().enumerate() {
        let doc = format!(
            r#"{{"Records":[{}]}}"#,
            record(&format!("odd-{i}"), "GetObject", "2024-01-15T10:00:00Z")
        );
        std::fs::write(
            dir.join(std::ffi::OsStr::from_bytes(name)),
            gz(doc.as_bytes()),
        )
        .unwrap();
    }
    // And one that is not gzip, to be quarantined by its (escaped) name.
    std::fs::write(
        dir.join(std::ffi::OsStr::from_bytes(b"junk\x1b[2J.json.gz")),
        b"not gzip",
    )
    .unwrap();
    let out = bin()
        .args(["compact", "--json", "--source"])
        .arg(&src)
        .arg("--lake")
        .arg(&lake)
        .output()
        .unwrap();
    let (code, r, err) = report_of(out);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "inputs_read"), 4, "{r}");
    assert_eq!(n(&r, "rows_written"), 4);
    assert_eq!(n(&r, "files_quarantined"), 1);
    assert!(
        !err.contains('\x1b'),
        "a raw ESC reached the terminal: {err:?}"
    );
    assert!(err.contains("junk%1B[2J.json.gz"), "{err}");
    let keys = lake_column(&lake, "sourcekey");
    for want in ["tab%09here", "esc%1B[31mred", "bad%FFutf8", "line%0Afeed"] {
        assert!(keys.iter().any(|k| k.contains(want)), "{want} in {keys:?}");
    }
    // Read once: a re-run finds them in the ledger.
    let (_, r, _) = compact(&src, &lake, &[]);
    assert_eq!(n(&r, "inputs_read"), 0, "{r}");
}

#[test]
fn two_runs_at_once_never_double_an_event() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate(&src, &["--days", "2", "--events-per-day", "1500"]);
    let reference = tmp.path().join("reference");
    let (code, _, err) = compact(&src, &reference, &[]);
    assert_eq!(code, 0, "{err}");
    let want = read_lake(&reference);
    let mut refused = 0;
    for trial in 0..5 {
        let lake = tmp.path().join(format!("lake{trial}"));
        let start = |delay_ms: u64| {
            std::thread::sleep(Duration::from_millis(delay_ms));
            bin()
                .args(["compact", "--source"])
                .arg(&src)
                .arg("--lake")
                .arg(&lake)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let a = start(0);
        let b = start(trial * 40);
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                assert!(err.contains("being compacted by"), "{err}");
                refused += 1;
            }
        }
        // Whatever happened, the lake holds each event once.
        let (code, _, err) = compact(&src, &lake, &[]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(read_lake(&lake), want, "trial {trial}");
    }
    eprintln!("{refused} of 5 trials of two runs 0-160 ms apart refused the second run");
    assert!(
        refused > 0,
        "no run was ever refused: the runs never overlapped"
    );
}

#[test]
fn query_refuses_statements_that_write() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let (code, _, err) = compact(&repo().join("tests/data/flaws2"), &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let target = tmp.path().join("written.csv");
    let lake_s = lake.to_str().unwrap();
    for sql in [
        format!("COPY (SELECT 1) TO '{}' STORED AS CSV", target.display()),
        "INSERT INTO cloudtrail SELECT * FROM cloudtrail".to_string(),
        format!(
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'",
            target.display()
        ),
        "CREATE TABLE t AS SELECT 1".to_string(),
        "DROP TABLE cloudtrail".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ] {
        let out = bin()
            .args(["query", "--lake", lake_s, &sql])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!target.exists());
    let out = bin()
        .args([
            "query",
            "--lake",
            lake_s,
            "SELECT count(*) AS n FROM cloudtrail",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("37"));
}

#[test]
fn errors_never_show_a_servers_response_body_or_credentials() {
    engines(&["http.server"]);
    // A server that answers 403 with the request's headers in its body, as
    // a misconfigured proxy would.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("<Error><Headers>" + str(self.headers) + "</Headers></Error>").encode()
        self.send_response(403); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_PUT = do_HEAD = do_POST = do_DELETE = do_GET
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;
    let mut server = std::process::Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the echo server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let secret = "s3cr3t-TRAILLAKE-never-print";
    let token = "t0ken-TRAILLAKE-never-print";
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIATRAILLAKE0000001".to_string()),
        ("AWS_SECRET_ACCESS_KEY", secret.to_string()),
        ("AWS_SESSION_TOKEN", token.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9".to_string()),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let (code, _, err) = compact_env("s3://logs/AWSLogs", lake.to_str().unwrap(), &[], &env);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("403"), "{err}");
    assert!(err.contains("s3://logs/AWSLogs"), "{err}");
    for leaked in [secret, token, "AKIATRAILLAKE0000001", "Headers>"] {
        assert!(!err.contains(leaked), "{leaked} in: {err}");
    }
}

#[test]
fn a_flood_of_bad_records_and_a_gzip_bomb_cost_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    let dir = src.join(DAY);
    std::fs::create_dir_all(&dir).unwrap();
    // A million records without an eventTime, in a few KB of gzip.
    let flood = format!("{{\"Records\":[{}{{}}]}}", "{},".repeat(999_999));
    std::fs::write(dir.join("flood.json.gz"), gz(flood.as_bytes())).unwrap();
    // 3 GiB of spaces in ~3 MB of gzip.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..3 << 10 {
        std::io::Write::write_all(&mut e, &spaces).unwrap();
    }
    std::fs::write(dir.join("bomb.json.gz"), e.finish().unwrap()).unwrap();
    write_log(
        &src,
        "good.json.gz",
        &[record("good-1", "GetObject", "2024-01-15T10:00:00Z")],
    );
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "records_quarantined"), 1_000_000);
    assert_eq!(n(&r, "files_quarantined"), 1, "the bomb: {r}");
    assert_eq!(n(&r, "rows_written"), 1);
    assert!(err.contains("per-file limit"), "{err}");
    // Bounded: a summary on stderr, a bounded list in the report, every
    // record in the quarantine file.
    assert!(
        err.lines().count() < 40,
        "{} lines on stderr",
        err.lines().count()
    );
    assert!(r["quarantined"].as_array().unwrap().len() <= 100);
    let by_reason = r["quarantined_by_reason"].as_object().unwrap();
    assert!(by_reason.values().any(|v| v == 1_000_000), "{by_reason:?}");
    let run = r["run_id"].as_str().unwrap();
    let mut q = String::new();
    std::fs::File::open(lake.join(format!("_traillake/quarantine/{run}.jsonl")))
        .unwrap()
        .read_to_string(&mut q)
        .unwrap();
    assert_eq!(q.lines().count(), 1_000_001);
    let peak = n(&r, "peak_rss_bytes");
    assert!(peak < 400 << 20, "peak RSS {} MiB", peak >> 20);
}

#[test]
fn an_eventid_conflict_keeps_both_rows_and_is_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    let t = "2024-01-15T10:00:00Z";
    write_log(&src, "b-real.json.gz", &[record("same-id", "GetObject", t)]);
    // A planted copy under a name that sorts first, with other content.
    write_log(
        &src,
        "a-planted.json.gz",
        &[record("same-id", "DeleteBucket", t)],
    );
    // A true redelivery of the real one: a duplicate.
    write_log(
        &src,
        "c-again.json.gz",
        &[record("same-id", "GetObject", t)],
    );
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "rows_written"), 2, "{r}");
    assert_eq!(n(&r, "duplicates_dropped"), 1);
    assert_eq!(n(&r, "eventid_conflicts"), 1);
    let keys = r["conflicts"][0]["sourcekeys"].to_string();
    assert!(
        keys.contains("a-planted") && keys.contains("b-real"),
        "{keys}"
    );
    assert!(err.contains("conflict"), "{err}");
    let names = lake_column(&lake, "eventname");
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"GetObject".to_string()) && names.contains(&"DeleteBucket".to_string())
    );
}

fn count(lake: &Path) -> (i32, u64, String) {
    let out = bin()
        .args(["query", "--format", "csv", "--lake"])
        .arg(lake)
        .arg("SELECT count(*) AS n, count(DISTINCT eventid) AS d FROM cloudtrail")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let n = stdout
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (
        out.status.code().unwrap_or(-1),
        n,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn queries_during_compactions_see_each_event_once() {
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    generate_logs(&all, [1, 1, 4, 2000], &[]);
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    // A commit that died between moving its files in and deleting the ones
    // they replace: readers still count each event once.
    copy_dir(&all, &src);
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let events = n(&r, "rows_written");
    let extra = tmp.path().join("extra");
    generate_logs(&extra, [1, 1, 1, 500], &["--seed", "3"]);
    let cfg = tmp.path().join("merge.toml");
    std::fs::write(&cfg, "[compact]\nmerge_files = 2\n").unwrap();
    copy_dir(&extra, &src);
    let out = bin()
        .args(["compact", "--config", cfg.to_str().unwrap(), "--source"])
        .arg(&src)
        .arg("--lake")
        .arg(&lake)
        .env("TRAILLAKE_FAILPOINT", "after-data-moves")
        .output()
        .unwrap();
    assert!(!out.status.success());
    // Read through the Delta log: the last version, without the killed
    // run (its version is committed when the next run finishes it).
    let (code, seen, err) = count(&lake);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        seen, events,
        "a Delta reader saw part of an uncommitted run"
    );
    // Read from the folders (a lake without a log): the journal is applied
    // to the listing.
    let log = lake.join("_delta_log");
    let aside = tmp.path().join("delta_log_aside");
    std::fs::rename(&log, &aside).unwrap();
    let (code, seen_in_folders, err) = count(&lake);
    assert_eq!(code, 0, "{err}");
    std::fs::rename(&aside, &log).unwrap();
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let (_, total, _) = count(&lake);
    assert_eq!(
        seen_in_folders, total,
        "a half-switched partition was counted twice or not at all"
    );
    assert!(total > events);

    // Queries in a loop while batches are compacted: none fails, and none
    // counts more events than were ever committed.
    let lake2 = tmp.path().join("lake2");
    let src2 = tmp.path().join("src2");
    let folders: Vec<_> =
        std::fs::read_dir(all.join("AWSLogs/111111111111/CloudTrail/us-east-1/2024/01"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    std::fs::create_dir_all(&lake2).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (lake2, stop) = (lake2.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut results = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                results.push(count(&lake2));
            }
            results
        })
    };
    let mut committed = vec![0];
    for folder in &folders {
        let rel = folder.strip_prefix(&all).unwrap();
        copy_dir(folder, &src2.join(rel));
        let (code, r, err) = compact(&src2, &lake2, &["--config", cfg.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        committed.push(committed.last().unwrap() + n(&r, "rows_written"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results = reader.join().unwrap();
    assert!(results.len() > 3, "{} queries", results.len());
    for (code, n, err) in results {
        // Before the lake's first commit the folder is not a lake yet.
        if code != 0 {
            assert!(err.contains("is not a traillake lake"), "{err}");
            continue;
        }
        assert!(
            committed.contains(&n),
            "a query counted {n} rows; commits made {committed:?}"
        );
    }
}

#[test]
fn sigterm_stops_a_run_cleanly_and_the_next_run_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate(&src, &["--days", "2", "--events-per-day", "6000"]);
    let cfg = tmp.path().join("small-chunks.toml");
    std::fs::write(&cfg, "[compact]\nchunk_mb = 1\n").unwrap();
    let reference = tmp.path().join("reference");
    let (code, _, err) = compact(&src, &reference, &[]);
    assert_eq!(code, 0, "{err}");
    let lake = tmp.path().join("lake");
    let mut stopped = 0;
    for delay in [100u64, 300, 600] {
        let child = bin()
            .args(["compact", "--config", cfg.to_str().unwrap(), "--source"])
            .arg(&src)
            .arg("--lake")
            .arg(&lake)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        unsafe_kill(child.id(), 15);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(err.contains("stopped by SIGTERM"), "{err}");
            stopped += 1;
        }
    }
    assert!(stopped > 0, "no SIGTERM landed mid-run");
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read_lake(&lake), read_lake(&reference));
}

/// SIGTERM at ten instants of a run over one hot partition (spilled,
/// merged, encoded): each run exits within 5 s of the signal, and the next
/// run leaves the lake of one clean run.
#[test]
fn sigterm_at_ten_instants_of_a_hot_partition_run_stops_within_five_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate_logs(&src, [1, 1, 1, 60_000], &[]);
    let cfg = tmp.path().join("small.toml");
    std::fs::write(&cfg, "[compact]\nchunk_mb = 1\nmemory_budget_mb = 24\n").unwrap();
    let reference = tmp.path().join("reference");
    let started = Instant::now();
    let (code, _, err) = compact(&src, &reference, &["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let clean = started.elapsed();
    let lake = tmp.path().join("lake");
    let mut stopped = 0;
    for i in 0..10u32 {
        let child = bin()
            .args(["compact", "--config", cfg.to_str().unwrap(), "--source"])
            .arg(&src)
            .arg("--lake")
            .arg(&lake)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(clean.mul_f64((f64::from(i) + 0.5) / 10.0));
        let signalled = Instant::now();
        unsafe_kill(child.id(), 15);
        let out = child.wait_with_output().unwrap();
        let took = signalled.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(took < Duration::from_secs(5), "{took:?} to stop: {err}");
        if !out.status.success() {
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(err.contains("stopped by SIGTERM"), "{err}");
            stopped += 1;
        }
        // Once a run commits, the lake starts again from nothing.
        if out.status.success() {
            std::fs::remove_dir_all(&lake).unwrap();
        }
    }
    assert!(stopped >= 5, "only {stopped} SIGTERMs landed mid-run");
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read_lake(&lake), read_lake(&reference));
}

/// SIGTERM in a long merge (made long by a delay per merged chunk) and in
/// a long listing (a delay before it): exit 1 within 5 s, lease given
/// back, and the next run gives the clean lake.
#[test]
fn sigterm_in_a_long_merge_or_listing_stops_within_five_seconds() {
    use std::io::BufRead as _;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate_logs(&src, [1, 1, 1, 40_000], &[]);
    let reference = tmp.path().join("reference");
    let (code, _, err) = compact(&src, &reference, &[]);
    assert_eq!(code, 0, "{err}");
    let lake = tmp.path().join("lake");
    for (delay, phase) in [
        ("merge-chunk:1500", "merging and writing"),
        ("listing:60000", "listing"),
    ] {
        let mut child = bin()
            .args(["compact", "--source"])
            .arg(&src)
            .arg("--lake")
            .arg(&lake)
            .env("TRAILLAKE_DELAYPOINT", delay)
            .env("TRAILLAKE_PROGRESS_SECS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let there = line.contains(&format!("] {phase}"));
            seen.push(line);
            if there {
                break;
            }
        }
        let signalled = Instant::now();
        unsafe_kill(child.id(), 15);
        let rest: Vec<String> = lines.map(Result::unwrap).collect();
        let status = child.wait().unwrap();
        let took = signalled.elapsed();
        let err = format!("{}\n{}", seen.join("\n"), rest.join("\n"));
        assert!(
            took < Duration::from_secs(5),
            "{delay}: {took:?} to stop: {err}"
        );
        assert_eq!(status.code(), Some(1), "{delay}: {err}");
        assert!(err.contains("stopped by SIGTERM"), "{err}");
        assert!(
            !lake.join("_traillake/lease/all.json").exists(),
            "{delay}: lease kept"
        );
    }
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read_lake(&lake), read_lake(&reference));
}

/// Sends a signal with the system's `kill` (no libc in the tests).
fn unsafe_kill(pid: u32, signal: i32) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status();
}

#[test]
fn a_link_inside_the_source_to_the_lake_is_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    std::os::unix::fs::symlink(&lake, src.join("lake-link")).unwrap();
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["skipped_by_reason"]["inside_lake"], 1, "{r}");
    assert_eq!(n(&r, "inputs_read"), 0);
}

/// A folder dated in the future (planted, a typo, a clock far off) would
/// become its region's latest day and move every later window past the
/// real days: reported instead, never walked, and the nightly runs go on.
#[test]
fn a_future_dated_folder_never_blinds_the_nightly_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    let region = src.join("AWSLogs/111122223333/CloudTrail/eu-west-1");
    write_log(
        &src,
        "day1.json.gz",
        &[record("a1", "GetObject", "2024-01-15T10:00:00Z")],
    );
    // One object, an empty gzip, in 2099; an empty folder for a mistyped year.
    std::fs::create_dir_all(region.join("2099/01/01")).unwrap();
    std::fs::write(region.join("2099/01/01/x.json.gz"), gz(b"")).unwrap();
    std::fs::create_dir_all(region.join("2999/12/02")).unwrap();
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "rows_written"), 1, "{r}");
    assert_eq!(n(&r, "future_folders"), 2, "{r}");
    assert!(
        err.contains("dated after tomorrow") && err.contains("/2099"),
        "{err}"
    );

    // Two nights later, new real days: each read by the next run.
    for (day, id) in [("2024/01/16", "b1"), ("2024/01/17", "c1")] {
        let dir = region.join(day);
        std::fs::create_dir_all(&dir).unwrap();
        let time = format!("{}T09:00:00Z", day.replace('/', "-"));
        let doc = format!(r#"{{"Records":[{}]}}"#, record(id, "PutObject", &time));
        std::fs::write(dir.join(format!("{id}.json.gz")), gz(doc.as_bytes())).unwrap();
        let (code, r, err) = compact(&src, &lake, &[]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(n(&r, "rows_written"), 1, "{day}: {r}");
    }
    let mut ids = lake_column(&lake, "eventid");
    ids.sort();
    assert_eq!(ids, ["a1", "b1", "c1"]);
}

/// A WHERE of 10,000 ORs, and a Sigma rule with 10,000 values, plan and
/// run (they aborted the process with a stack overflow, and with it every
/// other rule's alerts).
#[test]
fn ten_thousand_ors_in_a_query_or_a_rule_do_not_overflow_the_stack() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let (code, _, err) = compact(&repo().join("tests/data/flaws2"), &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<String> = (0..10_000)
        .map(|i| format!("'NoSuchCall{i}'"))
        .chain(["'GetObject'".to_string()])
        .collect();
    let sql = format!(
        "SELECT count(*) AS n FROM cloudtrail WHERE {}",
        names
            .iter()
            .map(|n| format!("eventname = {n}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    let file = tmp.path().join("ors.sql");
    std::fs::write(&file, &sql).unwrap();
    let (code, out, err) = on_lake(
        "query",
        &lake,
        &["--format", "csv", "--file", file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim().replace("\r\n", "\n"), "n\n22");

    // The same list as a Sigma rule, beside a second rule that must alert too.
    let rules = tmp.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let values: String = (0..10_000)
        .map(|i| format!("      - NoSuchCall{i}\n"))
        .collect();
    std::fs::write(
        rules.join("long.yml"),
        sigma_rule(
            "Long list",
            "0f3c8a7e-0000-4000-8000-000000000001",
            &format!("eventName:\n{values}      - GetObject"),
        ),
    )
    .unwrap();
    std::fs::write(
        rules.join("short.yml"),
        sigma_rule(
            "Bucket listing",
            "0f3c8a7e-0000-4000-8000-000000000002",
            "eventName: ListBuckets",
        ),
    )
    .unwrap();
    let (code, alerts, err) = detect_json(&lake, &rules);
    assert_eq!(code, 0, "{err}");
    let by = |title: &str| alerts.iter().filter(|a| a["title"] == title).count();
    assert_eq!(by("Long list"), 22, "{err}");
    assert!(by("Bucket listing") >= 1, "{err}");

    // 10,000 `contains` values are one regular expression; a rule file of
    // 2 MiB is refused by name; the others still alert.
    let values: String = (0..10_000)
        .map(|i| format!("      - NoSuch{i}x\n"))
        .collect();
    std::fs::write(
        rules.join("contains.yml"),
        sigma_rule(
            "Long contains",
            "0f3c8a7e-0000-4000-8000-000000000003",
            &format!("eventName|contains:\n{values}      - tObjec"),
        ),
    )
    .unwrap();
    let huge = "x".repeat(2 << 20);
    std::fs::write(
        rules.join("huge.yml"),
        sigma_rule(
            "Huge",
            "0f3c8a7e-0000-4000-8000-000000000004",
            &format!("eventName: '{huge}'"),
        ),
    )
    .unwrap();
    let (code, alerts, err) = detect_json(&lake, &rules);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("huge.yml") && err.contains("over the 1 MiB"),
        "{err}"
    );
    let by = |title: &str| alerts.iter().filter(|a| a["title"] == title).count();
    let (_, n, _) = on_lake(
        "query",
        &lake,
        &[
            "--format",
            "csv",
            "select count(*) from cloudtrail where eventname ilike '%tobjec%'",
        ],
    );
    let n: usize = n.lines().nth(1).unwrap().parse().unwrap();
    assert!(n >= 22);
    assert_eq!(by("Long contains"), n, "{err}");
    assert_eq!(by("Long list"), 22, "{err}");
}

/// A bad record costs itself, not its file; times no partition could hold
/// are quarantined with a reason; counts by kind of reason.
#[test]
fn bad_records_cost_themselves_and_impossible_times_are_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp
        .path()
        .join("src/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/15");
    std::fs::create_dir_all(&folder).unwrap();
    let rec = |time: &str, id: &str| {
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"{id}","recipientAccountId":"111122223333"}}"#
        )
    };
    // One record with an invalid UTF-8 byte between two good ones.
    let mut doc = format!("{{\"Records\":[{},", rec("2024-01-15T10:00:00Z", "g1")).into_bytes();
    doc.extend(
        b"{\"eventTime\":\"2024-01-15T10:01:00Z\",\"eventID\":\"bad\",\"userAgent\":\"\xff\"},",
    );
    doc.extend(format!("{}]}}", rec("2024-01-15T10:02:00Z", "g2")).into_bytes());
    std::fs::write(folder.join("a.json.gz"), gz(&doc)).unwrap();
    let times = format!(
        "{{\"Records\":[{},{},{},{}]}}",
        rec("0000-01-01T00:00:00+01:00", "y0"),
        rec("9999-12-31T23:59:59-01:00", "y10000"),
        rec("2024-01-15T12:00:00+99:99", "offset"),
        rec("2024-01-15T12:00:00+01:00", "g3"),
    );
    std::fs::write(folder.join("b.json.gz"), gz(times.as_bytes())).unwrap();
    let lake = tmp.path().join("lake");
    let (code, r, err) = compact(&tmp.path().join("src"), &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["rows_written"], 3, "{r}");
    assert_eq!(r["records_quarantined"], 4, "{r}");
    assert_eq!(r["files_quarantined"], 0, "{r}");
    let by_reason = r["quarantined_by_reason"].as_object().unwrap();
    for kind in [
        "invalid JSON",
        r#"eventTime "..." is before CloudTrail began (N)"#,
        r#"eventTime "..." is after N"#,
        r#"eventTime "..." is not an ISO-8601 time"#,
    ] {
        assert_eq!(
            by_reason.get(kind).and_then(Value::as_u64),
            Some(1),
            "{kind}: {by_reason:?}"
        );
    }
    for f in walk(&lake) {
        let p = f.to_string_lossy().to_string();
        assert!(!p.contains("year=-") && !p.contains("year=10000"), "{p}");
    }
}

/// A query that needs more memory than `--memory` stops with a clear error
/// (exit 1), never grows until killed; one past `--timeout` is stopped;
/// DataFusion's "file a bug report" never reaches the user; CSV and JSON
/// results stream.
#[test]
fn query_memory_and_time_are_bounded_and_results_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate_logs(&src, [1, 1, 1, 3000], &[]);
    let lake = tmp.path().join("lake");
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let join = "select count(*) from (select distinct a.eventid, b.eventid, b.requestparameters \
                from cloudtrail a join cloudtrail b on a.eventname = b.eventname)";
    // Twelve times, each with a deadline: DataFusion 55's RepartitionExec
    // could deadlock on this path (apache/datafusion#24883), 1 run in 4.
    for _ in 0..12 {
        let mut child = bin()
            .args(["query", "--memory", "4", "--lake"])
            .arg(&lake)
            .arg(join)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = String::new();
        let mut pipe = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("a query over its memory did not end within 60 s (a deadlock)");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        err.push_str(&reader.join().unwrap());
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(
            err.contains("more than 4 MiB of memory") && err.contains("--memory"),
            "{err}"
        );
    }
    // With room to spill, the same query answers.
    let (code, out, err) = on_lake("query", &lake, &["--memory", "64", "--format", "csv", join]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|n| n.parse::<u64>().unwrap() > 0),
        "{out}"
    );
    let cross = "select count(*) from cloudtrail a cross join cloudtrail b cross join cloudtrail c";
    let (code, _, err) = on_lake(
        "query",
        &lake,
        &["--timeout", "1", "--memory", "4096", cross],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ran past --timeout 1 s"), "{err}");
    let (code, _, err) = on_lake(
        "query",
        &lake,
        &["select count(*) from cloudtrail where regexp_like(eventname, 'a{1000}{1000}')"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        !err.contains("bug report") && !err.contains("likely caused by a bug"),
        "{err}"
    );
    // Streamed JSON lines and CSV hold every row once.
    let (code, out, err) = on_lake(
        "query",
        &lake,
        &["--format", "json", "select eventid from cloudtrail"],
    );
    assert_eq!(code, 0, "{err}");
    let ids: std::collections::BTreeSet<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["eventid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!((out.lines().count(), ids.len()), (3000, 3000));
    let (code, out, err) = on_lake(
        "query",
        &lake,
        &["--format", "csv", "select eventid from cloudtrail"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3001);
    assert_eq!(out.lines().next(), Some("eventid"));
}
