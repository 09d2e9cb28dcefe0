//! A new user's path: mistakes named with their fix and a non-zero exit,
//! progress through every phase in a log, a final line that says where the
//! lake is and what to run next, completions and the man page, and DuckDB
//! opening the lake with the types Athena gives it.

use std::path::Path;

use super::helpers::*;

fn run(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = bin().args(args).current_dir(dir).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_source_without_cloudtrail_logs_fails_saying_what_it_expected_and_found() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let lake = t.join("lake");

    // Empty.
    let empty = t.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = run(&["compact", "--source", s(&empty), "--lake", s(&lake)], t);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no CloudTrail log objects under"), "{err}");
    assert!(
        err.contains("AWSLogs/<account>/CloudTrail/<region>"),
        "{err}"
    );

    // Other files: some are named.
    let other = t.join("other");
    std::fs::create_dir_all(other.join("exports")).unwrap();
    std::fs::write(other.join("exports/report.csv"), "a,b\n").unwrap();
    let (code, _, err) = run(&["compact", "--source", s(&other), "--lake", s(&lake)], t);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Found instead:") && err.contains("report.csv"),
        "{err}"
    );

    // A typo in the last part: what lies beside it is shown.
    let src = t.join("bucket");
    copy_dir(&repo().join("tests/data/flaws2"), &src);
    let typo = src.join("AWSlogs");
    std::fs::create_dir_all(&typo).unwrap();
    let (code, _, err) = run(&["compact", "--source", s(&typo), "--lake", s(&lake)], t);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("Beside it:") && err.contains("AWSLogs/"),
        "{err}"
    );
    // A filter that matches nothing says so too.
    let (code, _, err) = run(
        &[
            "compact",
            "--source",
            s(&src),
            "--lake",
            s(&lake),
            "--account",
            "000000000000",
        ],
        t,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--account"), "{err}");
    // A window past the logs' days names the window, not the layout (the
    // logs are there); a time ago is a day too.
    for since in ["2030-01-01", "3d"] {
        let (code, _, err) = run(
            &[
                "compact",
                "--source",
                s(&src),
                "--lake",
                s(&lake),
                "--since",
                since,
            ],
            t,
        );
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("in the day folders of") && err.contains("widen them"),
            "{err}"
        );
        assert!(!err.contains("Expected CloudTrail's layout"), "{err}");
    }
    // Nothing was made a lake by these runs.
    let (code, _, err) = run(&["query", "--lake", s(&lake), "SELECT 1"], t);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn a_lake_that_is_not_one_and_missing_paths_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let src = repo().join("tests/data/flaws2");
    for command in ["query", "detect", "ddl", "connect"] {
        let mut args = vec![command];
        if command == "connect" {
            args.push("duckdb");
        }
        args.extend(["--lake", s(&src)]);
        if command == "query" {
            args.push("SELECT count(*) FROM cloudtrail");
        }
        let (code, out, err) = run(&args, t);
        assert_eq!(code, 1, "{command}: {out} {err}");
        assert!(err.contains("raw CloudTrail logs"), "{command}: {err}");
        assert!(err.contains("traillake compact"), "{command}: {err}");
        assert!(err.contains("then use --lake LAKE"), "{command}: {err}");
    }
    let missing = t.join("no-such-lake");
    let (code, _, err) = run(&["query", "--lake", s(&missing), "SELECT 1"], t);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--lake") && err.contains("no such directory"),
        "{err}"
    );
    let (code, _, err) = run(
        &[
            "compact",
            "--source",
            s(&missing),
            "--lake",
            s(&t.join("l")),
        ],
        t,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--source") && err.contains("no such directory"),
        "{err}"
    );

    // Rules: a folder with none is bad usage.
    let lake = t.join("lake");
    let (code, _, err) = compact(&src, &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let rules = t.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let (code, _, err) = run(&["detect", "--lake", s(&lake), "--rules", s(&rules)], t);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no rule files"), "{err}");

    // ddl on a local lake warns that Athena needs s3://, and says how.
    let (code, out, err) = run(&["ddl", "--lake", s(&lake)], t);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("CREATE EXTERNAL TABLE"), "{out}");
    assert!(
        err.contains("Athena cannot read") && err.contains("--location"),
        "{err}"
    );
    let (code, _, err) = run(
        &["ddl", "--lake", s(&lake), "--location", "s3://bucket/lake"],
        t,
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn a_run_without_a_terminal_logs_each_phase_and_ends_with_what_to_do_next() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let src = t.join("src");
    generate_logs(&src, [2, 2, 3, 300], &[]);
    let lake = t.join("lake");
    let out = bin()
        .args(["compact", "--source", s(&src), "--lake", s(&lake)])
        .env("TRAILLAKE_PROGRESS_SECS", "0.2")
        .current_dir(t)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // A line per phase, in order, each a plain log line.
    let mut at = 0;
    for phase in [
        "listing:",
        "reading:",
        "merging and writing:",
        "committing:",
    ] {
        let found = err[at..]
            .find(phase)
            .unwrap_or_else(|| panic!("no {phase} line after byte {at}: {err}"));
        at += found;
    }
    for line in err
        .lines()
        .filter(|l| l.contains("listing:") || l.contains("reading:"))
    {
        assert!(line.starts_with("traillake: ["), "{line}");
        assert!(!line.contains('\r') && !line.contains('\x1b'), "{line:?}");
    }
    // The summary names the lake in human units, and the next command.
    assert!(
        err.contains(&format!(
            "rows to file://{}",
            lake.canonicalize().unwrap().display()
        )),
        "{err}"
    );
    assert!(err.contains(" KB") || err.contains(" MB"), "{err}");
    assert!(err.contains("next: traillake query --lake"), "{err}");
    assert!(err.contains("traillake ddl --lake"), "{err}");

    // --quiet: the summary and nothing of the progress.
    generate_logs(&src, [2, 2, 4, 300], &[]);
    let out = bin()
        .args([
            "compact",
            "--quiet",
            "--source",
            s(&src),
            "--lake",
            s(&lake),
        ])
        .env("TRAILLAKE_PROGRESS_SECS", "0.2")
        .current_dir(t)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("reading:") && !err.contains("listing:"),
        "{err}"
    );
    assert!(err.contains("rows to file://"), "{err}");
}

#[test]
fn completions_and_the_man_page_install() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completions", shell], t);
        assert_eq!(code, 0, "{err}");
        for word in ["compact", "query", "detect", "--lake", "--profile"] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    // bash loads the script and completes a subcommand from it.
    let (_, script, _) = run(&["completions", "bash"], t);
    std::fs::write(t.join("traillake.bash"), script).unwrap();
    let probe = format!(
        "source {}; COMP_WORDS=(traillake comp); COMP_CWORD=1; COMP_LINE='traillake comp'; \
         COMP_POINT=${{#COMP_LINE}}; _traillake traillake comp traillake; echo \"${{COMPREPLY[@]}}\"",
        t.join("traillake.bash").display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &probe])
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(
        words.contains("compact") && words.contains("completions"),
        "{words:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, page, err) = run(&["manpage"], t);
    assert_eq!(code, 0, "{err}");
    assert!(
        page.starts_with(".ie") || page.contains(".TH traillake 1"),
        "{page}"
    );
    // roff writes a flag's hyphens as `\-`.
    for section in [
        "TRAILLAKE COMPACT",
        "TRAILLAKE QUERY",
        r"\-\-profile",
        r"\-\-source",
    ] {
        assert!(page.contains(section), "man page lacks {section}");
    }
    // The page shipped in the repo is this build's.
    let shipped = std::fs::read_to_string(repo().join("docs/traillake.1")).unwrap();
    assert!(
        shipped == page,
        "docs/traillake.1 is stale: cargo run -- manpage > docs/traillake.1"
    );
}

#[test]
fn duckdb_opens_the_lake_with_string_account_ids() {
    engines(&["duckdb"]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // An account id with a leading zero, which DuckDB's own guess (BIGINT)
    // would turn into 12345678901.
    let folder = t.join("src/AWSLogs/012345678901/CloudTrail/eu-west-1/2024/03/05");
    std::fs::create_dir_all(&folder).unwrap();
    let records: Vec<String> = (0..5)
        .map(|i| {
            format!(
                r#"{{"eventVersion":"1.08","eventTime":"2024-03-05T10:0{i}:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","sourceIPAddress":"10.0.0.{i}","eventID":"e{i}","recipientAccountId":"012345678901","userIdentity":{{"type":"IAMUser","accountId":"012345678901"}}}}"#
            )
        })
        .collect();
    let json = format!("{{\"Records\":[{}]}}", records.join(","));
    std::fs::write(
        folder.join("012345678901_CloudTrail_eu-west-1_20240305T1010Z_abc.json.gz"),
        gz(json.as_bytes()),
    )
    .unwrap();
    let lake = t.join("lake");
    let (code, _, err) = compact(&t.join("src"), &lake, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, sql, err) = run(&["connect", "duckdb", "--lake", s(&lake)], t);
    assert_eq!(code, 0, "{err}");
    std::fs::write(t.join("open.sql"), &sql).unwrap();
    let script = format!(
        "import duckdb\ncon = duckdb.connect()\ncon.execute(open({:?}).read())\n\
         rows = con.execute(\"SELECT account, typeof(account), region, year, month, day, count(*) \
         FROM cloudtrail GROUP BY ALL\").fetchall()\nprint(rows)\n",
        t.join("open.sql").display().to_string()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.trim(),
        "[('012345678901', 'VARCHAR', 'eu-west-1', '2024', '03', '05', 5)]"
    );
}
