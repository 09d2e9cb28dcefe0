//! S3 end to end against a real S3-compatible server (moto) on loopback:
//! S3 -> S3 compaction, exact results, no credentials in any output.

use super::helpers::*;

fn n(r: &serde_json::Value, f: &str) -> u64 {
    r[f].as_u64()
        .unwrap_or_else(|| panic!("{f} missing in {r}"))
}

#[test]
fn s3_to_s3_compaction_is_exact_and_idempotent() {
    let Some(s3) = S3Server::try_start() else {
        return;
    };
    s3.create_bucket("raw-logs");
    s3.create_bucket("lake");
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("src");
    copy_dir(&repo().join("tests/data/flaws2"), &local);
    copy_dir(&repo().join("tests/data/invictus"), &local);
    s3.upload(&local, "raw-logs", "trail");
    let env = s3.env();

    let (code, r, err) = compact_env("s3://raw-logs/trail", "s3://lake/cloudtrail", &[], &env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "inputs_read"), 63);
    assert_eq!(n(&r, "records_read"), 2937);
    assert_eq!(n(&r, "rows_written"), 2937);
    assert_eq!(r["lake"], "s3://lake/cloudtrail");
    let out = tmp.path().join("lake");
    s3.download("lake", "cloudtrail", &out);
    assert_lake_matches(&out, &read_raw_as(&local, "s3://raw-logs/trail"));
    assert!(walk(&out.join("_traillake/runs")).len() == 1);

    // A re-run reads nothing and rewrites nothing.
    let before = snapshot(&out);
    let (code, r, err) = compact_env("s3://raw-logs/trail", "s3://lake/cloudtrail", &[], &env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(n(&r, "inputs_read"), 0);
    let again = tmp.path().join("lake2");
    s3.download("lake", "cloudtrail", &again);
    assert_eq!(snapshot(&again), before);

    // scan-cost reads S3 as it reads a folder: the same figures from the
    // bucket as from the local copies of the same objects.
    let cost = |src: &str, lake: &str| {
        let out = succeed(
            bin()
                .args([
                    "scan-cost",
                    "--format",
                    "json",
                    "--source",
                    src,
                    "--lake",
                    lake,
                ])
                .envs(env.iter().cloned()),
        );
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        lines
            .iter()
            .map(|c| {
                (
                    c["query"].clone(),
                    c["raw_bytes"].clone(),
                    c["raw_partitioned_bytes"].clone(),
                    c["lake_bytes"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let remote = cost("s3://raw-logs/trail", "s3://lake/cloudtrail");
    assert_eq!(remote.len(), 9);
    assert_eq!(
        remote,
        cost(local.to_str().unwrap(), again.to_str().unwrap())
    );

    // No credential appears in output, reports or the lake's state.
    for text in [err.clone(), r.to_string()] {
        assert!(!text.contains(&s3.secret), "secret leaked: {text}");
        assert!(!text.contains("AKIDTRAILLAKETEST"), "key id leaked: {text}");
    }
    for f in walk(&again.join("_traillake")) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(!text.contains(&s3.secret));
    }
}

#[test]
fn s3_errors_name_the_object_and_never_the_credentials() {
    let Some(s3) = S3Server::try_start() else {
        return;
    };
    s3.create_bucket("lake");
    let env = s3.env();
    let (code, _, err) = compact_env("s3://no-such-bucket/logs", "s3://lake/x", &[], &env);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("s3://no-such-bucket/logs"), "{err}");
    assert!(!err.contains(&s3.secret), "{err}");
    // A lake inside the source would ingest its own output.
    let (code, _, err) = compact_env("s3://lake/logs", "s3://lake/logs/lake", &[], &env);
    assert_eq!(code, 2);
    assert!(err.contains("inside the source"), "{err}");
}

#[test]
fn a_large_lake_file_goes_up_in_parts_and_reads_back() {
    let Some(s3) = S3Server::try_start() else {
        return;
    };
    s3.create_bucket("raw");
    s3.create_bucket("lake");
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("src");
    generate_logs(&local, [1, 1, 1, 40000], &[]);
    s3.upload(&local, "raw", "");
    // No compression makes the one partition's file larger than the
    // 16 MiB multipart threshold (parts of 8 MiB).
    let (code, r, err) = compact_env(
        "s3://raw",
        "s3://lake",
        &["--compression", "none"],
        &s3.env(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(n(&r, "bytes_out") > 16 << 20, "{r}");
    let out = tmp.path().join("lake");
    s3.download("lake", "", &out);
    assert_lake_matches(&out, &read_raw_as(&local, "s3://raw"));
}
