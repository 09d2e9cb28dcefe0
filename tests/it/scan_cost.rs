//! `traillake scan-cost` through the real binary on generated lakes, checked
//! against the raw objects' sizes and the lake's Parquet footers read here
//! with the parquet crate: lake bytes must lie between the column chunks a
//! query has to read and the size of the files it touches.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::helpers::*;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;

/// Runs `traillake scan-cost --source SRC --lake LAKE EXTRA...`.
fn run_scan_cost(src: &Path, lake: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .args(["scan-cost", "--source"])
        .arg(src)
        .arg("--lake")
        .arg(lake)
        .args(extra)
        .output()
        .unwrap()
}

/// Its JSON lines, checking it succeeded.
fn scan_cost(src: &Path, lake: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["--format", "json"];
    args.extend(extra);
    let out = run_scan_cost(src, lake, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scan-cost failed: {err}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_name<'a>(costs: &'a [Value], name: &str) -> &'a Value {
    costs
        .iter()
        .find(|c| c["query"] == name)
        .unwrap_or_else(|| panic!("no {name} in {costs:?}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Raw log objects (`.json.gz` under `CloudTrail/`, not digests) under
/// `src` with the date their folder says.
fn raw_objects(src: &Path) -> Vec<(String, u64)> {
    walk(src)
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.ends_with(".json.gz") && s.contains("/CloudTrail/")
        })
        .map(|p| {
            let parts: Vec<String> = p.iter().map(|s| s.to_string_lossy().to_string()).collect();
            let n = parts.len();
            let date = format!("{}-{}-{}", parts[n - 4], parts[n - 3], parts[n - 2]);
            (date, std::fs::metadata(&p).unwrap().len())
        })
        .collect()
}

/// Lake data files with their partition date (from `year=/month=/day=`).
fn lake_files(lake: &Path) -> Vec<(String, PathBuf)> {
    walk(lake)
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "parquet")
                && !p.to_string_lossy().contains("_traillake")
        })
        .map(|p| {
            let v = |k: &str| {
                p.iter()
                    .find_map(|s| s.to_str()?.strip_prefix(k).map(str::to_string))
                    .unwrap()
            };
            (
                format!("{}-{}-{}", v("year="), v("month="), v("day=")),
                p.clone(),
            )
        })
        .collect()
}

fn footer(path: &Path) -> ParquetMetaData {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader.metadata().clone()
}

/// The footer's size: metadata, its length and the magic.
fn footer_bytes(path: &Path) -> u64 {
    let data = std::fs::read(path).unwrap();
    let n = data.len();
    assert_eq!(&data[n - 4..], b"PAR1");
    u64::from(u32::from_le_bytes(data[n - 8..n - 4].try_into().unwrap())) + 8
}

/// Bytes of the column chunks whose leaf path starts with one of `cols`
/// (`["useridentity", "arn"]`), in the row groups `keep` accepts.
fn chunk_bytes(
    meta: &ParquetMetaData,
    cols: &[&[&str]],
    keep: impl Fn(&parquet::file::metadata::RowGroupMetaData) -> bool,
) -> u64 {
    let mut total = 0;
    for rg in meta.row_groups() {
        if !keep(rg) {
            continue;
        }
        for c in rg.columns() {
            let parts = c.column_path().parts();
            if cols
                .iter()
                .any(|want| parts.len() >= want.len() && parts[..want.len()] == want[..])
            {
                total += c.compressed_size() as u64;
            }
        }
    }
    total
}

/// Athena's bill for `bytes` at $5/TB: whole MiB, at least 10 MiB.
fn usd(bytes: u64) -> f64 {
    let mib = bytes.div_ceil(1 << 20).max(10);
    (mib << 20) as f64 / (1u64 << 40) as f64 * 5.0
}

#[test]
fn lake_bytes_lie_between_the_needed_chunks_and_the_touched_files() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("raw");
    generate_logs(&src, [2, 1, 4, 3000], &[]);
    let cfg = tmp.path().join("small-row-groups.toml");
    std::fs::write(&cfg, "[compact]\nrow_group_rows = 500\n").unwrap();
    let lake = tmp.path().join("lake");
    let (code, _, err) = compact(&src, &lake, &["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    let raw = raw_objects(&src);
    let raw_total: u64 = raw.iter().map(|(_, b)| b).sum();
    let files = lake_files(&lake);
    let newest = files.iter().map(|(d, _)| d.clone()).max().unwrap();
    let costs = scan_cost(&src, &lake, &[]);
    assert_eq!(costs.len(), 9, "one line per preset: {costs:?}");

    // Every query: raw = all log objects per table scan; dollars follow
    // Athena's rule; reduction = 1 - lake/raw.
    for c in &costs {
        let scans = u(&c["table_scans"]);
        assert!(scans >= 1, "{c}");
        assert_eq!(u(&c["raw_bytes"]), raw_total * scans, "{c}");
        assert!((c["raw_usd"].as_f64().unwrap() - usd(u(&c["raw_bytes"]))).abs() < 1e-12);
        assert!((c["lake_usd"].as_f64().unwrap() - usd(u(&c["lake_bytes"]))).abs() < 1e-12);
        let reduction = 1.0 - u(&c["lake_bytes"]) as f64 / u(&c["raw_bytes"]) as f64;
        assert!(
            (c["reduction"].as_f64().unwrap() - reduction).abs() < 1e-9,
            "{c}"
        );
        assert!(u(&c["lake_bytes"]) < u(&c["raw_bytes"]), "{c}");
    }

    // The query, the columns it must read (leaf prefixes), which
    // partitions' files, and which row groups surely hold matching rows.
    type Keep = fn(&parquet::file::metadata::RowGroupMetaData) -> bool;
    let all_rgs: Keep = |_| true;
    let with_errors: Keep = |rg| {
        rg.columns()
            .iter()
            .find(|c| c.column_path().string() == "errorcode")
            .and_then(|c| c.statistics()?.null_count_opt())
            .is_some_and(|nulls| nulls < rg.num_rows() as u64)
    };
    let cases: [(&str, &[&[&str]], bool, Keep); 4] = [
        ("top-events", &[&["eventname"]], false, all_rgs),
        (
            "errors",
            &[
                &["eventtime"],
                &["eventname"],
                &["useridentity", "arn"],
                &["errorcode"],
                &["errormessage"],
            ],
            false,
            with_errors,
        ),
        (
            "assumed-roles",
            &[
                &["eventtime"],
                &["sourceipaddress"],
                &["eventname"],
                &["useridentity", "arn"],
                &["useridentity", "type"],
            ],
            false,
            all_rgs,
        ),
        (
            "day",
            &[
                &["eventtime"],
                &["eventsource"],
                &["eventname"],
                &["sourceipaddress"],
                &["useridentity", "arn"],
                &["errorcode"],
            ],
            true,
            all_rgs,
        ),
    ];
    for (name, cols, one_day, keep) in cases {
        let c = by_name(&costs, name);
        let touched: Vec<&PathBuf> = files
            .iter()
            .filter(|(d, _)| !one_day || *d == newest)
            .map(|(_, p)| p)
            .collect();
        let must: u64 = touched
            .iter()
            .map(|p| chunk_bytes(&footer(p), cols, keep))
            .sum();
        let file_bytes: u64 = touched
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        let lake = u(&c["lake_bytes"]);
        assert!(must > 0, "{name}: nothing to read?");
        assert!(
            must <= lake && lake <= file_bytes,
            "{name}: lake_bytes {lake} not within [{must}, {file_bytes}]"
        );
        // Reading only some columns is the point: well under the files.
        assert!(lake * 2 < file_bytes, "{name}: {lake} of {file_bytes}");
        assert_eq!(u(&c["lake_files"]), touched.len() as u64, "{name}");
        let raw_part = if one_day {
            raw.iter()
                .filter(|(d, _)| *d == newest)
                .map(|(_, b)| b)
                .sum()
        } else {
            raw_total
        };
        assert_eq!(u(&c["raw_partitioned_bytes"]), raw_part, "{name}");
    }

    // A self-join scans the table twice, in Athena as here.
    assert_eq!(u(&by_name(&costs, "anonymous-then-role")["table_scans"]), 2);

    // A time range: row groups whose eventtime statistics miss it are not
    // read, so the bytes fall below the whole column; partitions by
    // account filter the raw folders as well.
    let queries = tmp.path().join("queries.sql");
    let day = newest.replace('-', "/");
    let (y, rest) = day.split_once('/').unwrap();
    let (m, d) = rest.split_once('/').unwrap();
    std::fs::write(
        &queries,
        format!(
            "-- one hour of the newest day\n\n\
             SELECT count(*) FROM cloudtrail WHERE eventtime >= '{newest}T10:00:00Z' AND eventtime < '{newest}T11:00:00Z';\n\
             SELECT count(*) FROM cloudtrail WHERE year = '{y}' AND month = '{m}' AND day = '{d}' AND eventtime >= '{newest}T10:00:00Z' AND eventtime < '{newest}T11:00:00Z'\n"
        ),
    )
    .unwrap();
    let ranged = scan_cost(&src, &lake, &["--queries", queries.to_str().unwrap()]);
    assert_eq!(ranged.len(), 2);
    let whole_eventtime: u64 = files
        .iter()
        .map(|(_, p)| chunk_bytes(&footer(p), &[&["eventtime"]], all_rgs))
        .sum();
    let (all_days, one_day) = (u(&ranged[0]["lake_bytes"]), u(&ranged[1]["lake_bytes"]));
    assert!(u(&ranged[0]["lake_row_groups"]) > 0);
    assert!(
        u(&ranged[0]["lake_row_groups"])
            < files
                .iter()
                .map(|(_, p)| footer(p).num_row_groups() as u64)
                .sum::<u64>(),
        "the time range pruned no row group: {:?}",
        ranged[0]
    );
    assert!(one_day < all_days, "{one_day} vs {all_days}");
    let footers: u64 = files.iter().map(|(_, p)| footer_bytes(p)).sum();
    assert!(
        all_days - footers < whole_eventtime,
        "{all_days} - {footers} footer bytes vs {whole_eventtime}"
    );
    assert!(ranged[0]["query"]
        .as_str()
        .unwrap()
        .starts_with("SELECT count(*)"));
    assert_eq!(u(&ranged[0]["raw_partitioned_bytes"]), raw_total);
    let raw_day: u64 = raw
        .iter()
        .filter(|(d, _)| *d == newest)
        .map(|(_, b)| b)
        .sum();
    assert_eq!(u(&ranged[1]["raw_partitioned_bytes"]), raw_day);
}

#[test]
fn a_one_day_query_on_a_month_reads_under_one_percent_of_the_raw_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("raw");
    generate_logs(&src, [1, 1, 30, 2000], &["--start", "2024-03-01"]);
    let lake = tmp.path().join("lake");
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let costs = scan_cost(
        &src,
        &lake,
        &[
            "--param",
            "year=2024",
            "--param",
            "month=03",
            "--param",
            "day=15",
        ],
    );
    let day = by_name(&costs, "day");
    let (raw, lake_bytes) = (u(&day["raw_bytes"]), u(&day["lake_bytes"]));
    assert!(
        (lake_bytes as f64) <= 0.01 * raw as f64,
        "one day reads {lake_bytes} of {raw} raw bytes"
    );
    assert!(day["reduction"].as_f64().unwrap() >= 0.99);
    // And it reads that day's partition only.
    let files: BTreeSet<String> = lake_files(&lake)
        .into_iter()
        .filter(|(d, _)| d == "2024-03-15")
        .map(|(_, p)| p.display().to_string())
        .collect();
    assert_eq!(u(&day["lake_files"]), files.len() as u64);
}

#[test]
fn the_table_names_every_query_and_bad_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("raw");
    generate(&src, &["--days", "1", "--events-per-day", "200"]);
    let lake = tmp.path().join("lake");
    assert_eq!(compact(&src, &lake, &[]).0, 0);
    let out = run_scan_cost(&src, &lake, &[]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("query"), "{table}");
    for p in ["top-events", "by-ip", "day", "recon-from-app-role"] {
        assert!(table.contains(p), "{p} missing:\n{table}");
    }

    let bad = tmp.path().join("bad.sql");
    std::fs::write(&bad, "SELECT nosuchcolumn FROM cloudtrail\n").unwrap();
    let out = run_scan_cost(&src, &lake, &["--queries", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchcolumn"));

    let out = run_scan_cost(&src, &lake, &["--price-per-tb=-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--price-per-tb must be"));

    // The price is a setting: ten times the price, ten times the dollars.
    let base = scan_cost(&src, &lake, &[]);
    let tenfold = scan_cost(&src, &lake, &["--price-per-tb", "50"]);
    for (a, b) in base.iter().zip(&tenfold) {
        let (a, b) = (
            a["raw_usd"].as_f64().unwrap(),
            b["raw_usd"].as_f64().unwrap(),
        );
        assert!((b - 10.0 * a).abs() < 1e-12, "{a} {b}");
    }
}
