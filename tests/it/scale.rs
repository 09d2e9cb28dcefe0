//! A run costs what its new data costs: the window of folders it lists, the
//! ledgers it reads, the files it rewrites, the memory it holds, the
//! requests it makes; and at every size the lake is exact.

use std::path::Path;

use serde_json::Value;

use super::helpers::*;

fn n(r: &Value, field: &str) -> u64 {
    r[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {r}"))
}

/// Copies the files of `from` that `take` picks into `to`, keeping paths.
fn copy_where(from: &Path, to: &Path, take: impl Fn(&Path) -> bool) -> usize {
    let mut copied = 0;
    for f in walk(from) {
        if take(&f) {
            let dest = to.join(f.strip_prefix(from).unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&f, dest).unwrap();
            copied += 1;
        }
    }
    copied
}

const REGION: &str = "AWSLogs/111111111111/CloudTrail/us-east-1";

#[test]
fn late_files_in_old_folders_are_found_within_the_lookback_and_by_a_full_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    let gen_args = [
        "--accounts",
        "1",
        "--regions",
        "1",
        "--events-per-day",
        "300",
    ];
    generate(&src, &[&["--days", "6"][..], &gen_args].concat());
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let first = n(&r, "folders_listed");
    // Other events, delivered late into old folders: one 2 days before the
    // last day seen (inside the 3-day lookback), one 5 days before.
    let late = tmp.path().join("late");
    generate(
        &late,
        &[&["--days", "1", "--seed", "99"][..], &gen_args].concat(),
    );
    let logs: Vec<_> = walk(&late.join(format!("{REGION}/2024/01/15")))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    let pick = |day: &str, name: &str| {
        let f = &logs[if day == "19" { 0 } else { 1 }];
        let dest = src.join(format!("{REGION}/2024/01/{day}/{name}"));
        std::fs::copy(f, &dest).unwrap();
    };
    pick(
        "19",
        "111111111111_CloudTrail_us-east-1_20240119T2359Z_late0000000001.json.gz",
    );
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "inputs_read"), 1, "{r}");
    // Only the window's day folders (and the layout above them) are listed.
    assert!(
        n(&r, "folders_listed") < first,
        "{} vs {first}",
        n(&r, "folders_listed")
    );
    pick(
        "16",
        "111111111111_CloudTrail_us-east-1_20240116T2359Z_late0000000002.json.gz",
    );
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "inputs_read"), 0, "beyond the lookback: {r}");
    let (code, r, err) = compact(&src, &lake, &["--full-scan"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "inputs_read"), 1, "{r}");
    assert_lake_matches(&lake, &read_raw(&src));
}

#[test]
fn a_file_rewritten_in_place_is_read_again_and_no_row_is_doubled() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, lake) = (tmp.path().join("src"), tmp.path().join("lake"));
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    // One log rewritten with one more record (a copy of its first, with a
    // new id), as a replicated or repaired object would be.
    let file = walk(&src)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".json.gz"))
        .unwrap();
    let mut text = Vec::new();
    use std::io::Read;
    flate2::read::MultiGzDecoder::new(&std::fs::read(&file).unwrap()[..])
        .read_to_end(&mut text)
        .unwrap();
    let mut doc: Value = serde_json::from_slice(&text).unwrap();
    let records = doc["Records"].as_array_mut().unwrap();
    let before = records.len() as u64;
    let mut extra = records[0].clone();
    extra["eventID"] = Value::String("00000000-rewritten-in-place".into());
    records.push(extra);
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, gz(&serde_json::to_vec(&doc).unwrap())).unwrap();
    let (code, r, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "inputs_rewritten"), 1, "{r}");
    assert_eq!(n(&r, "records_read"), before + 1);
    assert_eq!(n(&r, "rows_written"), 1, "{r}");
    assert_eq!(n(&r, "duplicates_dropped"), before);
    assert_lake_matches(&lake, &read_raw(&src));
    // And it is not read a third time.
    let (_, r, _) = compact(&src, &lake, &[]);
    assert_eq!(n(&r, "inputs_read"), 0, "{r}");
}

/// Delivery time (`..._20240115T0935Z_...`) of a log file, in minutes of
/// its day, and whether it lies in the day's own folder.
fn delivered(p: &Path) -> Option<(u32, String)> {
    let name = p.file_name()?.to_str()?;
    let at = name.find("_2024")?;
    let stamp = &name[at + 1..at + 14];
    let minutes: u32 =
        stamp[9..11].parse::<u32>().ok()? * 60 + stamp[11..13].parse::<u32>().ok()?;
    Some((minutes, stamp[..8].to_string()))
}

#[test]
fn hourly_runs_over_a_day_make_the_lake_of_one_run_writing_under_twice_its_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    generate_logs(&all, [1, 1, 1, 40000], &[]);
    let (src, lake, one) = (
        tmp.path().join("src"),
        tmp.path().join("inc"),
        tmp.path().join("one"),
    );
    let mut written = 0;
    for hour in 0..24u32 {
        copy_where(&all, &src, |p| match delivered(p) {
            Some((minutes, day)) if day == "20240115" => minutes / 60 == hour,
            // The next day's folder (late events) with the last run.
            Some(_) => hour == 23,
            None => hour == 0,
        });
        let (code, r, err) = compact(&src, &lake, &[]);
        assert_eq!(code, 0, "{err}");
        written += n(&r, "bytes_out");
    }
    let (code, _, err) = compact(&src, &one, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read_lake(&lake), read_lake(&one));
    let final_bytes: u64 = snapshot(&lake).values().map(|b| b.len() as u64).sum();
    assert!(
        written <= 2 * final_bytes,
        "{written} bytes written for {final_bytes} bytes of final files"
    );
    assert_lake_matches(&lake, &read_raw(&src));
}

#[test]
fn a_busy_folder_split_over_three_shards_makes_the_lake_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate_logs(&src, [1, 1, 1, 3000], &[]);
    let (sharded, one) = (tmp.path().join("sharded"), tmp.path().join("one"));
    let mut per_shard = Vec::new();
    for k in 0..3 {
        let shard = format!("{k}/3");
        let (code, r, err) = compact(&src, &sharded, &["--shard", &shard, "--shard-by", "object"]);
        assert_eq!(code, 0, "{err}");
        per_shard.push(n(&r, "inputs_read"));
    }
    // One folder's objects spread over every shard.
    assert!(per_shard.iter().all(|&c| c > 0), "{per_shard:?}");
    let (code, _, err) = compact(&src, &one, &[]);
    assert_eq!(code, 0, "{err}");
    // Row for row; of an event delivered twice, whichever copy a shard took
    // first is kept (later shards find it in the lake and drop theirs), so
    // only its sourcekey may differ from one run's (the smaller key).
    let raw = read_raw(&src);
    let mut copies = std::collections::HashMap::<String, usize>::new();
    for e in &raw {
        *copies
            .entry(e.record["eventID"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let normalized = |lake: &Path| {
        let mut lake = read_lake(lake);
        for rows in lake.values_mut() {
            for row in rows.iter_mut() {
                if copies[row["eventid"].as_str().unwrap()] > 1 {
                    row["sourcekey"] = Value::String("(delivered twice)".into());
                }
            }
            rows.sort_by_key(|r| r.to_string());
        }
        lake
    };
    assert!(
        copies.values().any(|&c| c > 1),
        "no duplicate delivery to test"
    );
    assert_eq!(normalized(&sharded), normalized(&one));
}

#[test]
fn with_a_small_budget_memory_does_not_grow_with_the_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("tight.toml");
    std::fs::write(&cfg, "[compact]\nmemory_budget_mb = 2\nchunk_mb = 1\n").unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    let mut peaks = Vec::new();
    for events in [8_000, 40_000] {
        let src = tmp.path().join(format!("src{events}"));
        let lake = tmp.path().join(format!("lake{events}"));
        generate(
            &src,
            &[
                "--accounts",
                "1",
                "--regions",
                "1",
                "--days",
                "1",
                "--events-per-day",
                &events.to_string(),
            ],
        );
        let (code, r, err) = compact(&src, &lake, &["--config", &cfg]);
        assert_eq!(code, 0, "{err}");
        peaks.push((n(&r, "json_bytes_in"), n(&r, "peak_rss_bytes")));
        assert_lake_matches(&lake, &read_raw(&src));
    }
    let ((small_json, small), (big_json, big)) = (peaks[0], peaks[1]);
    assert!(big_json > 4 * small_json);
    // Five times the partition, and not five times the memory: flat within
    // a few MiB of allocator slack.
    assert!(
        big < small + (24 << 20),
        "peak RSS {} MiB on {} MB of JSON against {} MiB on {} MB",
        big >> 20,
        big_json / 1_000_000,
        small >> 20,
        small_json / 1_000_000
    );
}

#[test]
fn a_nightly_runs_requests_do_not_grow_with_the_history() {
    let s3 = S3Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let mut counts = Vec::new();
    for days in [10, 40] {
        let (bucket, lake) = (format!("src{days}"), format!("lake{days}"));
        s3.create_bucket(&bucket);
        s3.create_bucket(&lake);
        let hist = tmp.path().join(format!("hist{days}"));
        generate(
            &hist,
            &[
                "--accounts",
                "1",
                "--regions",
                "2",
                "--days",
                &days.to_string(),
                "--events-per-day",
                "100",
            ],
        );
        s3.upload(&hist, &bucket, "");
        let src = format!("s3://{bucket}");
        let lake_url = format!("s3://{lake}/lake");
        let (code, _, err) = compact_env(&src, &lake_url, &[], &s3.env());
        assert_eq!(code, 0, "{err}");
        // The next day arrives.
        let day = tmp.path().join(format!("next{days}"));
        let start = traillake::partition::Date::from_days(
            traillake::partition::Date::parse("2024-01-15")
                .unwrap()
                .to_days()
                + days,
        )
        .to_string();
        generate(
            &day,
            &[
                "--accounts",
                "1",
                "--regions",
                "2",
                "--days",
                "1",
                "--start",
                &start,
                "--events-per-day",
                "100",
                "--seed",
                "5",
            ],
        );
        s3.upload(&day, &bucket, "");
        let (code, r, err) = compact_env(&src, &lake_url, &[], &s3.env());
        assert_eq!(code, 0, "{err}");
        assert!(n(&r, "inputs_read") > 0);
        counts.push((r["source_requests"].clone(), r["lake_requests"].clone()));
    }
    let lists = |c: &Value| c["list"].as_u64().unwrap();
    let (short, long) = (&counts[0], &counts[1]);
    // The same folders in the window, whatever lies before it.
    assert_eq!(lists(&short.0), lists(&long.0), "{counts:?}");
    assert_eq!(lists(&short.1), lists(&long.1), "{counts:?}");
    assert_eq!(short.1["get"], long.1["get"], "{counts:?}");
}
