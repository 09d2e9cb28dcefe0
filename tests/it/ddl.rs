//! `traillake ddl`: golden text, columns equal to the Parquet files', and the
//! printed statements run by real engines (Spark SQL with a Hive catalog,
//! DuckDB) answering the seed's queries exactly as the raw logs do.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::helpers::*;
use arrow::datatypes::{DataType, Field};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn ddl(args: &[&str]) -> String {
    let out = bin().arg("ddl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ddl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn lake_of(src: &Path, lake: &Path) {
    let (code, _, err) = compact(src, lake, &[]);
    assert_eq!(code, 0, "{err}");
}

/// Compares with a checked-in file; `UPDATE_GOLDEN=1` rewrites it.
fn golden(name: &str, text: &str) {
    let path = repo().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(text, want, "{name} differs from the golden file");
}

#[test]
fn ddl_text_matches_the_golden_files() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    lake_of(&repo().join("tests/data/flaws2"), &lake);
    let lake = lake.to_string_lossy().to_string();
    let loc = "s3://example-bucket/cloudtrail-lake";
    golden(
        "ddl_projection.sql",
        &ddl(&[
            "--lake",
            &lake,
            "--location",
            loc,
            "--raw-source",
            "s3://flaws2-logs/AWSLogs/653711331788/CloudTrail",
        ]),
    );
    golden(
        "ddl_hive.sql",
        &ddl(&["--lake", &lake, "--location", loc, "--style", "hive"]),
    );
    golden(
        "ddl_hive_partitions.sql",
        &ddl(&[
            "--lake",
            &lake,
            "--location",
            loc,
            "--style",
            "hive",
            "--add-partitions",
        ]),
    );
}

/// Hive type text of an Arrow type as the Parquet file has it: rendered here,
/// independently of src/ddl.rs.
fn hive_type_of(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 => "string".into(),
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), hive_type_of(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::List(f) => format!("array<{}>", hive_type_of(f.data_type())),
        other => panic!("type without a Hive equivalent in a lake file: {other}"),
    }
}

#[test]
fn ddl_columns_equal_the_parquet_files_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    lake_of(&repo().join("tests/data/invictus"), &lake);
    let sql = ddl(&["--lake", &lake.to_string_lossy()]);
    // Columns of the CREATE TABLE: lines "  `name` type[ COMMENT ...],".
    let table = sql.split("CREATE EXTERNAL TABLE").nth(1).unwrap();
    let body = table.split("\n)\n").next().unwrap();
    let ddl_cols: Vec<(String, String)> = body
        .lines()
        .skip(1)
        .map(|l| {
            let l = l.trim().trim_end_matches(',');
            let l = l.split(" COMMENT ").next().unwrap();
            let (name, ty) = l.split_once(' ').unwrap();
            (name.trim_matches('`').to_string(), ty.to_string())
        })
        .collect();
    let file = walk(&lake)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".parquet"))
        .unwrap();
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap()).unwrap();
    let file_cols: Vec<(String, String)> = reader
        .schema()
        .fields()
        .iter()
        .map(|f: &std::sync::Arc<Field>| (f.name().clone(), hive_type_of(f.data_type())))
        .collect();
    assert_eq!(ddl_cols, file_cols);
    assert!(sql.contains(
        "PARTITIONED BY (`account` string, `region` string, `year` string, `month` string, `day` string)"
    ));
}

#[test]
fn ddl_without_a_compacted_lake_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["ddl", "--lake"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no partitions yet"));
    // Naming what to project is enough.
    let out = bin()
        .args([
            "ddl",
            "--account",
            "123456789012",
            "--region",
            "us-east-1",
            "--until-year",
            "2026",
            "--lake",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("'projection.year.range'='2026,2026'"));
}

/// Spark SQL and DuckDB on the real flaws2 and Invictus logs and on
/// generated logs: `tests/interop/check_engines.py` does the checking, and
/// also recomputes `scan-cost`'s lake bytes from DuckDB's Parquet metadata.
#[test]
fn spark_and_duckdb_answer_the_seed_queries_like_the_raw_logs() {
    engines(&["pyspark", "duckdb"]);
    let tmp = tempfile::tempdir().unwrap();
    let gen = tmp.path().join("generated");
    generate(&gen, &["--days", "2", "--events-per-day", "400"]);
    let sources: Vec<(&str, PathBuf)> = vec![
        ("flaws2", repo().join("tests/data/flaws2")),
        ("invictus", repo().join("tests/data/invictus")),
        ("generated", gen),
    ];
    let mut jobs = Vec::new();
    for (name, src) in &sources {
        let lake = tmp.path().join(format!("lake-{name}"));
        lake_of(src, &lake);
        for style in ["projection", "hive"] {
            let database = format!("tl_{name}_{style}");
            let mut args = vec![
                "--lake",
                lake.to_str().unwrap(),
                "--database",
                &database,
                "--style",
                style,
            ];
            if style == "hive" {
                args.push("--add-partitions");
            }
            let file = tmp.path().join(format!("{database}.sql"));
            std::fs::write(&file, ddl(&args)).unwrap();
            let mut job = serde_json::json!({
                "name": name, "database": database, "ddl": file, "raw": src,
                "lake": lake, "style": style,
            });
            if style == "projection" {
                // scan-cost's lake bytes, recomputed by DuckDB from the files.
                let out = succeed(
                    bin()
                        .args(["scan-cost", "--format", "json", "--source"])
                        .arg(src)
                        .arg("--lake")
                        .arg(&lake),
                );
                let cost = tmp.path().join(format!("scan-cost-{name}.json"));
                std::fs::write(&cost, out).unwrap();
                job["scan_cost"] = serde_json::json!(cost);
            }
            jobs.push(job);
        }
    }
    let jobs_file = tmp.path().join("jobs.json");
    std::fs::write(&jobs_file, serde_json::to_string(&jobs).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(repo().join("tests/interop/check_engines.py"))
        .arg(&jobs_file)
        .output()
        .expect("python3 (with pyspark and duckdb: pip install pyspark duckdb)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "engines disagree with the raw logs:\n{stdout}\n{}",
        stderr.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    assert!(stdout.contains("0 mismatches"));
    assert_eq!(stdout.matches("scan-cost lake bytes of").count(), 3);
}
