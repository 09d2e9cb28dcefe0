//! The AWS credential chain, end to end against the loopback S3 server
//! (moto): each run starts from an empty environment and a temporary HOME,
//! so only what the test gives it can supply credentials: a profile in the
//! shared files, a `credential_process` script, a container credentials
//! endpoint served here, web identity through moto's STS. And no request
//! ever leaves loopback while the metadata service is disabled.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use super::helpers::*;

/// A bucket of raw logs (flaws2, 37 events) and an empty lake bucket.
fn server_with_logs() -> (S3Server, tempfile::TempDir) {
    let s3 = S3Server::start();
    s3.create_bucket("raw");
    s3.create_bucket("lake");
    let tmp = tempfile::tempdir().unwrap();
    s3.upload(&repo().join("tests/data/flaws2"), "raw", "trail");
    (s3, tmp)
}

/// `traillake ARGS` with nothing of this process's environment but PATH:
/// HOME is `home`, S3 is the loopback server, the metadata service is off
/// and pointed at loopback besides.
fn clean(s3: &S3Server, home: &Path) -> Command {
    let mut cmd = bin();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .current_dir(home);
    cmd
}

/// Runs compact from `s3://raw/trail` into `s3://lake/<lake>`.
fn compact_into(cmd: &mut Command, lake: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
    cmd.args(["compact", "--json", "--source", "s3://raw/trail", "--lake"])
        .arg(format!("s3://lake/{lake}"))
        .args(extra);
    report_of(cmd.output().unwrap())
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// An ISO 8601 UTC time `secs` from now, as credential sources give
/// expirations.
fn iso_in(secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + secs;
    let day = traillake::partition::Date::from_days(now.div_euclid(86_400));
    let t = now.rem_euclid(86_400);
    format!("{day}T{:02}:{:02}:{:02}Z", t / 3600, t % 3600 / 60, t % 60)
}

#[test]
fn a_profile_of_the_shared_files_is_used_with_profile_or_aws_profile() {
    let (s3, tmp) = server_with_logs();
    let home = tmp.path();
    write(
        &home.join(".aws/credentials"),
        "[sec]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret-9f3\n",
    );
    write(
        &home.join(".aws/config"),
        "[profile sec]\nregion = us-east-1\n",
    );

    // No profile named and no default: no credentials, said so, exit 1.
    let (code, _, err) = compact_into(&mut clean(&s3, home), "none", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no AWS credentials found (tried:"), "{err}");
    assert!(
        err.contains("disabled by AWS_EC2_METADATA_DISABLED"),
        "{err}"
    );
    assert!(err.contains("--profile"), "{err}");

    let (code, r, err) = compact_into(&mut clean(&s3, home), "a", &["--profile", "sec"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["rows_written"], 37, "{r}");
    assert!(!err.contains("profile-secret-9f3"), "{err}");

    let mut cmd = clean(&s3, home);
    cmd.env("AWS_PROFILE", "sec");
    let (code, r, err) = compact_into(&mut cmd, "b", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["rows_written"], 37, "{r}");

    // An http:// endpoint needs no AWS_ALLOW_HTTP; AWS_ALLOW_HTTP=false
    // still refuses it.
    let mut cmd = clean(&s3, home);
    cmd.env_remove("AWS_ALLOW_HTTP");
    let (code, r, err) = compact_into(&mut cmd, "http", &["--profile", "sec"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["rows_written"], 37, "{r}");
    let mut cmd = clean(&s3, home);
    cmd.env("AWS_ALLOW_HTTP", "false");
    let (code, _, err) = compact_into(&mut cmd, "refused", &["--profile", "sec"]);
    assert_ne!(code, 0, "{err}");

    // A profile that is not there is named.
    let (code, _, err) = compact_into(&mut clean(&s3, home), "c", &["--profile", "nope"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nope"), "{err}");

    // query and detect read the lake with the same chain; without
    // credentials they fail as runs (exit 1), not as bad SQL.
    let out = clean(&s3, home)
        .args([
            "query",
            "--profile",
            "sec",
            "--lake",
            "s3://lake/a",
            "--format",
            "csv",
        ])
        .arg("SELECT count(*) AS n FROM cloudtrail")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim().replace("\r\n", "\n"), "n\n37");
    for command in ["query", "detect"] {
        let mut cmd = clean(&s3, home);
        cmd.args([command, "--lake", "s3://lake/a"]);
        if command == "query" {
            cmd.arg("SELECT 1");
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {err}");
        assert!(err.contains("no AWS credentials found"), "{command}: {err}");
    }
}

/// A `credential_process` script that counts its calls in `count` and
/// gives credentials expiring in `minutes`.
fn process_profile(home: &Path, name: &str, minutes: u32) -> PathBuf {
    let count = home.join(format!("{name}.calls"));
    let script = home.join(format!("{name}.sh"));
    write(
        &script,
        &format!(
            "#!/bin/sh\necho call >> '{}'\nexp=$(date -u -d '+{minutes} min' +%Y-%m-%dT%H:%M:%SZ)\n\
             printf '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \
             \"process-secret\", \"SessionToken\": \"process-token\", \"Expiration\": \"%s\"}}' \"$exp\"\n",
            count.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = home.join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap_or_default();
    text.push_str(&format!(
        "[profile {name}]\nregion = us-east-1\ncredential_process = {}\n",
        script.display()
    ));
    write(&config, &text);
    count
}

fn calls(count: &Path) -> usize {
    std::fs::read_to_string(count).map_or(0, |t| t.lines().count())
}

#[test]
fn credential_process_credentials_are_kept_until_they_near_expiry() {
    let (s3, tmp) = server_with_logs();
    let home = tmp.path();
    let lasting = process_profile(home, "lasting", 60);
    let brief = process_profile(home, "brief", 2);

    let (code, r, err) = compact_into(&mut clean(&s3, home), "lasting", &["--profile", "lasting"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["rows_written"], 37, "{r}");
    let requests = r["source_requests"]
        .as_object()
        .unwrap()
        .values()
        .chain(r["lake_requests"].as_object().unwrap().values());
    let requests: u64 = requests.map(|v| v.as_u64().unwrap()).sum();
    assert!(requests > 10, "{r}");
    // An hour left: fetched once for the whole run.
    assert_eq!(calls(&lasting), 1);

    // Two minutes left, inside the five-minute margin: fetched again as
    // the run goes on, never used stale.
    let (code, _, err) = compact_into(&mut clean(&s3, home), "brief", &["--profile", "brief"]);
    assert_eq!(code, 0, "{err}");
    assert!(calls(&brief) > 2, "{} calls", calls(&brief));
    assert!(!err.contains("process-secret"), "{err}");
}

/// A container credentials endpoint (as ECS and Batch serve them) on
/// loopback: answers each request with fresh credentials and records the
/// Authorization header it got.
fn container_endpoint() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/v2/credentials/task",
        listener.local_addr().unwrap()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_string();
                }
            }
            record.lock().unwrap().push(auth);
            let body = format!(
                "{{\"AccessKeyId\": \"AKIDCONTAINER\", \"SecretAccessKey\": \"container-secret\", \
                 \"Token\": \"container-token\", \"Expiration\": \"{}\"}}",
                iso_in(3600)
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn container_credentials_come_from_the_task_endpoint() {
    let (s3, tmp) = server_with_logs();
    let (url, seen) = container_endpoint();
    let mut cmd = clean(&s3, tmp.path());
    cmd.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "task-auth-token")
        .env("AWS_REGION", "us-east-1");
    let (code, r, err) = compact_into(&mut cmd, "container", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["rows_written"], 37, "{r}");
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "the endpoint was never asked");
    assert!(seen.iter().all(|a| a == "task-auth-token"), "{seen:?}");
}

#[test]
fn web_identity_assumes_the_role_through_sts() {
    let (s3, tmp) = server_with_logs();
    let token = tmp.path().join("token");
    // moto's STS takes any token; a real one is an OIDC JWT (EKS IRSA).
    write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0cmFpbGxha2UifQ.c2ln",
    );
    let mut cmd = clean(&s3, tmp.path());
    cmd.env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env(
            "AWS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/traillake-nightly",
        )
        .env("AWS_ROLE_SESSION_NAME", "traillake-test")
        .env("AWS_REGION", "us-east-1");
    let (code, r, err) = compact_into(&mut cmd, "irsa", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["rows_written"], 37, "{r}");

    // The same with a token file that is not there: no credentials, named.
    let mut cmd = clean(&s3, tmp.path());
    cmd.env("AWS_WEB_IDENTITY_TOKEN_FILE", tmp.path().join("missing"))
        .env(
            "AWS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/traillake-nightly",
        )
        .env("AWS_REGION", "us-east-1");
    let (code, _, err) = compact_into(&mut cmd, "irsa2", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no AWS credentials found"), "{err}");
}

/// A listener that counts the connections made to it.
fn counting_listener() -> (String, Arc<Mutex<usize>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(Mutex::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            *c.lock().unwrap() += 1;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (url, count)
}

#[test]
fn the_metadata_service_is_never_asked_when_disabled_and_nothing_leaves_loopback() {
    let (s3, tmp) = server_with_logs();
    let home = tmp.path();
    // Enabled, pointed at a loopback listener: the chain asks it (so this
    // test can see the calls it forbids below).
    let (url, count) = counting_listener();
    let mut cmd = clean(&s3, home);
    cmd.env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url)
        .env("AWS_METADATA_ENDPOINT", &url);
    let (code, _, err) = compact_into(&mut cmd, "imds", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        *count.lock().unwrap() > 0,
        "the enabled metadata service was not asked"
    );

    // Disabled: never asked.
    let (url, count) = counting_listener();
    let mut cmd = clean(&s3, home);
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url)
        .env("AWS_METADATA_ENDPOINT", &url);
    let (code, _, err) = compact_into(&mut cmd, "imds", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no AWS credentials found"), "{err}");
    assert_eq!(
        *count.lock().unwrap(),
        0,
        "the disabled metadata service was asked"
    );

    // And with the metadata endpoints left at their defaults, every
    // connection the process makes (strace) goes to loopback.
    let strace = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    // A check that cannot run fails: it never counts as passed.
    assert!(
        strace,
        "strace is needed for this test (apt-get install strace; scripts/test.sh installs it)"
    );
    let log = home.join("connects.txt");
    let exe = env!("CARGO_BIN_EXE_traillake");
    let cmd = clean(&s3, home);
    let mut wrapped = Command::new("strace");
    wrapped
        .args(["-f", "-e", "trace=connect", "-o"])
        .arg(&log)
        .arg(exe)
        .args([
            "compact",
            "--source",
            "s3://raw/trail",
            "--lake",
            "s3://lake/strace",
        ]);
    wrapped.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            if k != "AWS_EC2_METADATA_SERVICE_ENDPOINT" && k != "AWS_METADATA_ENDPOINT" {
                wrapped.env(k, v);
            }
        }
    }
    let out = wrapped.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = std::fs::read_to_string(&log).unwrap();
    assert!(
        trace.contains("+++ exited with 1 +++"),
        "strace saw no run: {trace}"
    );
    let inet: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("connect(") && (l.contains("AF_INET") || l.contains("AF_INET6")))
        .collect();
    for line in &inet {
        assert!(
            line.contains("127.0.0.1") || line.contains("::1"),
            "a connection outside loopback: {line}"
        );
    }
}
