//! Test support: run the real binary, read raw logs independently with
//! serde_json and flate2, read the lake back, and compare.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, ArrayRef, AsArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};
use traillake::schema::{Column, Kind, COLUMNS};

/// Checks that the Python modules an engine test needs are installed, and
/// fails the test when they are not: a test that cannot run never counts
/// as passed (`scripts/test.sh` installs them).
pub fn engines(modules: &[&str]) {
    let script = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let present = Command::new("python3")
        .args(["-c", &script])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        present,
        "python3 cannot import {modules:?}, which this test needs (scripts/test.sh installs \
         them: pyspark, duckdb, moto[server], PyYAML)"
    );
}

/// Gzips bytes as CloudTrail does.
pub fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_traillake"))
}

/// Runs `traillake <command> --lake LAKE <args>`: (exit code, stdout, stderr).
pub fn on_lake(command: &str, lake: &Path, args: &[&str]) -> (i32, String, String) {
    let out = bin()
        .args([command, "--lake"])
        .arg(lake)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `traillake compact --json` and returns (exit code, report, stderr).
pub fn compact(src: &Path, lake: &Path, extra: &[&str]) -> (i32, Value, String) {
    let out = bin()
        .args(["compact", "--json", "--source"])
        .arg(src)
        .arg("--lake")
        .arg(lake)
        .args(extra)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run traillake");
    report_of(out)
}

pub fn report_of(out: Output) -> (i32, Value, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// Runs a command that must succeed; its standard output.
pub fn succeed(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `traillake generate --out OUT EXTRA...` and checks it succeeded.
pub fn generate(out: &Path, extra: &[&str]) {
    succeed(bin().args(["generate", "--out"]).arg(out).args(extra));
}

/// `traillake generate` of `accounts` x `regions` x `days` with
/// `events_per_day` each, plus `extra` flags.
pub fn generate_logs(
    out: &Path,
    [accounts, regions, days, events_per_day]: [u32; 4],
    extra: &[&str],
) {
    let shape = [accounts, regions, days, events_per_day].map(|n| n.to_string());
    let mut args = vec![
        "--accounts",
        &shape[0],
        "--regions",
        &shape[1],
        "--days",
        &shape[2],
        "--events-per-day",
        &shape[3],
    ];
    args.extend_from_slice(extra);
    generate(out, &args);
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &dest).unwrap();
    }
}

/// Every file below `dir`, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// An event as the raw logs have it, read without traillake's code.
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub partition: String,
    pub source_url: String,
    pub record: Value,
}

/// Reads every CloudTrail log file under `src` (skipping digests and other
/// objects) with flate2 + serde_json.
pub fn read_raw(src: &Path) -> Vec<RawEvent> {
    let src = std::fs::canonicalize(src).unwrap();
    let mut out = Vec::new();
    for f in walk(&src) {
        let s = f.to_string_lossy().to_string();
        if s.contains("CloudTrail-Digest") || !(s.ends_with(".json.gz") || s.ends_with(".json")) {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        let mut text = Vec::new();
        if s.ends_with(".gz") {
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut text)
                .unwrap();
        } else {
            text = bytes;
        }
        let doc: Value = serde_json::from_slice(&text).unwrap();
        let path_account = path_segment_before(&s, "CloudTrail");
        for r in doc["Records"].as_array().unwrap() {
            let account = r["recipientAccountId"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| path_account.clone());
            let region = r["awsRegion"].as_str().unwrap().to_string();
            let t = r["eventTime"].as_str().unwrap();
            let partition = format!(
                "account={account}/region={region}/year={}/month={}/day={}",
                &t[0..4],
                &t[5..7],
                &t[8..10]
            );
            out.push(RawEvent {
                partition,
                source_url: format!("file://{s}"),
                record: r.clone(),
            });
        }
    }
    out
}

fn path_segment_before(path: &str, seg: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    let i = parts.iter().rposition(|p| *p == seg).unwrap();
    parts[i - 1].to_string()
}

/// The expected lake row for a raw record, computed independently of the
/// decoder: each column's value as JSON, plus the catch-all as parsed JSON.
pub fn expected_row(record: &Value, source_url: &str) -> Value {
    let mut extra = Map::new();
    let mut row = expect_struct(record.as_object().unwrap(), COLUMNS, &mut extra);
    row.insert(
        "otherfields".into(),
        if extra.is_empty() {
            Value::Null
        } else {
            Value::Object(extra)
        },
    );
    row.insert("sourcekey".into(), Value::String(source_url.to_string()));
    Value::Object(row)
}

fn find<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<(&'a String, &'a Value)> {
    obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))
}

fn expect_struct(
    obj: &Map<String, Value>,
    cols: &[Column],
    extra: &mut Map<String, Value>,
) -> Map<String, Value> {
    let mut row = Map::new();
    for (k, v) in obj {
        let known = cols.iter().any(|c| {
            c.name.eq_ignore_ascii_case(k) && !matches!(c.kind, Kind::CatchAll | Kind::SourceKey)
        });
        if !known {
            extra.insert(k.clone(), v.clone());
        }
    }
    for c in cols {
        if matches!(c.kind, Kind::CatchAll | Kind::SourceKey) {
            continue;
        }
        let value = match find(obj, c.name) {
            None | Some((_, Value::Null)) => Value::Null,
            Some((key, v)) => match &c.kind {
                Kind::Str => match v {
                    Value::String(s) => Value::String(s.clone()),
                    Value::Bool(_) | Value::Number(_) => Value::String(v.to_string()),
                    other => Value::String(serde_json::to_string(other).unwrap()),
                },
                Kind::Json => Value::String(serde_json::to_string(v).unwrap()),
                Kind::Struct(children) => match v {
                    Value::Object(o) => {
                        let mut sub = Map::new();
                        let s = expect_struct(o, children, &mut sub);
                        if !sub.is_empty() {
                            extra.insert(key.clone(), Value::Object(sub));
                        }
                        Value::Object(s)
                    }
                    other => {
                        extra.insert(key.clone(), other.clone());
                        Value::Null
                    }
                },
                Kind::ListOfStruct(children) => match v {
                    Value::Array(items) => {
                        let mut misfit = false;
                        let elems = items
                            .iter()
                            .map(|e| match e {
                                Value::Object(o) => {
                                    let mut sub = Map::new();
                                    let s = expect_struct(o, children, &mut sub);
                                    misfit |= !sub.is_empty();
                                    Value::Object(s)
                                }
                                Value::Null => Value::Null,
                                _ => {
                                    misfit = true;
                                    Value::Null
                                }
                            })
                            .collect();
                        if misfit {
                            extra.insert(key.clone(), v.clone());
                        }
                        Value::Array(elems)
                    }
                    other => {
                        extra.insert(key.clone(), other.clone());
                        Value::Null
                    }
                },
                Kind::CatchAll | Kind::SourceKey => unreachable!(),
            },
        };
        row.insert(c.name.to_string(), value);
    }
    row
}

/// Every row of the lake as JSON (JSON-text columns compared as strings,
/// except `otherfields`, which is parsed), keyed by partition path, in the
/// merge's order (`eventtime`, `eventid`, `sourcekey`) across the
/// partition's files; each file must be sorted by `eventtime`.
pub fn read_lake(lake: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for f in walk(lake) {
        let s = f.to_string_lossy().to_string();
        // The Delta log's checkpoints are Parquet too, and not data.
        if !s.ends_with(".parquet") || s.contains("/_delta_log/") {
            continue;
        }
        assert!(!s.contains("/_traillake/"), "data file in state dir: {s}");
        let rel = f.strip_prefix(lake).unwrap().to_string_lossy().to_string();
        let partition = rel.rsplit_once('/').unwrap().0.to_string();
        let file = std::fs::File::open(&f).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let mut times: Vec<String> = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let t = batch.column(traillake::schema::column_index("eventtime"));
            times.extend((0..batch.num_rows()).map(|i| t.as_string::<i32>().value(i).to_string()));
            for i in 0..batch.num_rows() {
                let mut row = Map::new();
                for (c, arr) in COLUMNS.iter().zip(batch.columns()) {
                    let mut v = to_json(arr, i, &c.kind);
                    if matches!(c.kind, Kind::CatchAll) {
                        if let Value::String(s) = &v {
                            v = serde_json::from_str(s).unwrap();
                        }
                    }
                    row.insert(c.name.to_string(), v);
                }
                out.entry(partition.clone())
                    .or_default()
                    .push(Value::Object(row));
            }
        }
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{rel}: rows not sorted by eventtime"
        );
    }
    // A partition may hold several files: its rows in the merge's order.
    for rows in out.values_mut() {
        rows.sort_by(|a, b| {
            let key = |r: &Value| {
                (
                    r["eventtime"].as_str().map(str::to_string),
                    r["eventid"].as_str().map(str::to_string),
                    r["sourcekey"].as_str().map(str::to_string),
                )
            };
            key(a).cmp(&key(b))
        });
    }
    out
}

fn to_json(arr: &ArrayRef, i: usize, kind: &Kind) -> Value {
    if arr.is_null(i) {
        return Value::Null;
    }
    match kind {
        Kind::Struct(children) => {
            let s = arr.as_struct();
            Value::Object(
                children
                    .iter()
                    .zip(s.columns())
                    .map(|(c, a)| (c.name.to_string(), to_json(a, i, &c.kind)))
                    .collect(),
            )
        }
        Kind::ListOfStruct(children) => {
            let l = arr.as_list::<i32>();
            let values = l.value(i);
            let s = values.as_struct();
            Value::Array(
                (0..s.len())
                    .map(|j| {
                        if s.is_null(j) {
                            return Value::Null;
                        }
                        Value::Object(
                            children
                                .iter()
                                .zip(s.columns())
                                .map(|(c, a)| (c.name.to_string(), to_json(a, j, &c.kind)))
                                .collect(),
                        )
                    })
                    .collect(),
            )
        }
        _ => Value::String(arr.as_string::<i32>().value(i).to_string()),
    }
}

/// JSON-text columns hold text; compare them as parsed values.
pub fn normalize(mut row: Value) -> Value {
    for c in COLUMNS {
        if matches!(c.kind, Kind::Json) {
            if let Some(Value::String(s)) = row.get(c.name) {
                let parsed: Value = serde_json::from_str(s).unwrap();
                row[c.name] = parsed;
            }
        }
    }
    row
}

/// Asserts that the lake holds each distinct event of `raw` exactly once,
/// in the partition of its own time, with values equal to the raw record
/// (for duplicates, the copy from the first source object in key order).
pub fn assert_lake_matches(lake: &Path, raw: &[RawEvent]) {
    let mut expected: HashMap<(String, String), &RawEvent> = HashMap::new();
    for e in raw {
        let id = e.record["eventID"].as_str().unwrap().to_string();
        let slot = expected.entry((e.partition.clone(), id)).or_insert(e);
        if e.source_url < slot.source_url {
            *slot = e;
        }
    }
    let lake_rows = read_lake(lake);
    let mut seen = 0;
    for (partition, rows) in &lake_rows {
        let times: Vec<&str> = rows
            .iter()
            .map(|r| r["eventtime"].as_str().unwrap())
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{partition}: rows not sorted by eventtime"
        );
        for row in rows {
            let id = row["eventid"].as_str().unwrap().to_string();
            let e = expected
                .get(&(partition.clone(), id.clone()))
                .unwrap_or_else(|| panic!("{partition}: unexpected event {id}"));
            let want = normalize(expected_row(&e.record, &e.source_url));
            let got = normalize(row.clone());
            assert_eq!(got, want, "{partition}: event {id} differs");
            seen += 1;
        }
    }
    assert_eq!(seen, expected.len(), "lake rows vs distinct raw events");
}

/// Bytes of every data file, by path relative to the lake.
pub fn snapshot(lake: &Path) -> BTreeMap<String, Vec<u8>> {
    walk(lake)
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.ends_with(".parquet") && !s.contains("/_delta_log/")
        })
        .map(|p| {
            let rel = p.strip_prefix(lake).unwrap().to_string_lossy().to_string();
            (rel, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// A real S3-compatible server (moto, from PyPI) on a free loopback port,
/// stopped when dropped.
pub struct S3Server {
    child: std::process::Child,
    pub endpoint: String,
    /// A secret key no output may ever contain.
    pub secret: String,
}

impl S3Server {
    /// A server on a free loopback port; the test fails when moto is not
    /// installed.
    pub fn start() -> Self {
        engines(&["moto.server", "flask_cors"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (pip install 'moto[server]')");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto did not start on {endpoint}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let secret = format!("secret-{}-{}", std::process::id(), port);
        Self {
            child,
            endpoint,
            secret,
        }
    }

    /// Creates a bucket (moto accepts an unsigned PUT).
    pub fn create_bucket(&self, bucket: &str) {
        use std::io::{Read as _, Write as _};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
            "{resp}"
        );
    }

    /// The AWS environment a traillake process needs to reach the server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "AKIDTRAILLAKETEST".to_string()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
            ("AWS_SESSION_TOKEN", format!("token-{}", self.secret)),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            // No code path may reach the cloud's metadata address.
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9".to_string()),
        ]
    }

    fn store(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_access_key_id("AKIDTRAILLAKETEST")
            .with_secret_access_key(&self.secret)
            .build()
            .unwrap()
    }

    /// Copies a local folder to `s3://bucket/prefix/...`.
    pub fn upload(&self, dir: &Path, bucket: &str, prefix: &str) {
        use object_store::ObjectStoreExt;
        let store = self.store(bucket);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for f in walk(dir) {
            let rel = f.strip_prefix(dir).unwrap().to_string_lossy().to_string();
            let key = if prefix.is_empty() {
                rel
            } else {
                format!("{prefix}/{rel}")
            };
            let data = std::fs::read(&f).unwrap();
            rt.block_on(store.put(&object_store::path::Path::from(key), data.into()))
                .unwrap();
        }
    }

    /// Copies `s3://bucket/prefix/...` to a local folder.
    pub fn download(&self, bucket: &str, prefix: &str, dir: &Path) {
        use futures::TryStreamExt;
        use object_store::{ObjectStore, ObjectStoreExt};
        let store = self.store(bucket);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let p = object_store::path::Path::from(prefix);
        let metas: Vec<_> = rt
            .block_on(store.list(Some(&p)).try_collect::<Vec<_>>())
            .unwrap();
        for m in metas {
            let rel = m
                .location
                .as_ref()
                .strip_prefix(prefix)
                .unwrap()
                .trim_start_matches('/');
            let dest = dir.join(rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            let data =
                rt.block_on(async { store.get(&m.location).await.unwrap().bytes().await.unwrap() });
            std::fs::write(dest, data).unwrap();
        }
    }
}

/// `tests/faults.py` in front of an S3 server: a share of the exchanges
/// broken (5xx, resets, answers lost after the server acted, bodies cut
/// mid-way, stalls).
pub struct FaultProxy {
    child: std::process::Child,
    pub endpoint: String,
}

impl FaultProxy {
    /// `kinds`: comma-separated (empty: all); `only`: `SUBSTR:COUNT`.
    pub fn start(server: &S3Server, rate: f64, seed: u64, kinds: &str, only: Option<&str>) -> Self {
        use std::io::BufRead as _;
        let port = server.endpoint.rsplit(':').next().unwrap().to_string();
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/faults.py")).args([
            port,
            rate.to_string(),
            seed.to_string(),
            kinds.to_string(),
        ]);
        if let Some(o) = only {
            cmd.arg(o);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 tests/faults.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{}", line.trim());
        Self { child, endpoint }
    }

    /// `server.env()` pointed at the proxy.
    pub fn env(&self, server: &S3Server) -> Vec<(&'static str, String)> {
        server
            .env()
            .into_iter()
            .map(|(k, v)| {
                if k == "AWS_ENDPOINT_URL" {
                    (k, self.endpoint.clone())
                } else {
                    (k, v)
                }
            })
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `traillake compact --json` with extra environment.
pub fn compact_env(
    src: &str,
    lake: &str,
    extra: &[&str],
    env: &[(&str, String)],
) -> (i32, Value, String) {
    let mut cmd = bin();
    cmd.args(["compact", "--json", "--source", src, "--lake", lake])
        .args(extra)
        .current_dir(std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    report_of(cmd.output().expect("run traillake"))
}

/// `read_raw`, with each event's source URL rebased from the local folder
/// to where the same files live (e.g. `s3://src`).
pub fn read_raw_as(src: &Path, url: &str) -> Vec<RawEvent> {
    let local = format!("file://{}", std::fs::canonicalize(src).unwrap().display());
    read_raw(src)
        .into_iter()
        .map(|mut e| {
            e.source_url = e.source_url.replacen(&local, url, 1);
            e
        })
        .collect()
}

/// A Sigma rule over CloudTrail matching one field: `selection` is the
/// field's key and value(s) as YAML under `selection:` (e.g.
/// `"eventName: ListBuckets"`, or `"eventName|contains:\n      - a\n"`).
pub fn sigma_rule(title: &str, id: &str, selection: &str) -> String {
    format!(
        "title: {title}\nid: {id}\nstatus: test\nlogsource:\n  product: aws\n  service: \
         cloudtrail\ndetection:\n  selection:\n    {selection}\n  condition: selection\nlevel: low\n"
    )
}

/// `traillake detect --format json --rules RULES` on `lake`: (exit code,
/// the alerts, stderr).
pub fn detect_json(lake: &Path, rules: &Path) -> (i32, Vec<Value>, String) {
    let (code, out, err) = on_lake(
        "detect",
        lake,
        &["--format", "json", "--rules", rules.to_str().unwrap()],
    );
    let alerts = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (code, alerts, err)
}
