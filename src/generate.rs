//! `generate`: synthetic CloudTrail logs in the real S3 layout, for tests,
//! benches and demos. Deterministic for a given seed.
//!
//! What it imitates, because the compactor must cope with it: several
//! accounts and regions; one file per region about every five minutes;
//! events delivered after midnight into the next day's folder; exact
//! duplicate deliveries of a file under another name; type drift inside
//! `requestParameters` (an int or a string, an array or an object); keys
//! differing only by case; `userIdentity` without `type`; unknown new
//! fields; non-ASCII text; digest files and a writability check file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::partition::Date;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    pub accounts: usize,
    pub regions: usize,
    pub days: usize,
    pub start: Date,
    /// Events per account, region and day.
    pub events_per_day: usize,
    /// Log files per account, region and day (CloudTrail delivers one
    /// about every five minutes: 288), each covering an equal slice of it.
    pub files_per_day: usize,
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            out: PathBuf::from("generated"),
            accounts: 2,
            regions: 2,
            days: 2,
            start: Date {
                year: 2024,
                month: 1,
                day: 15,
            },
            events_per_day: 500,
            files_per_day: 288,
            seed: 42,
        }
    }
}

/// What `generate` wrote.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct GenerateSummary {
    pub files: u64,
    pub duplicate_files: u64,
    pub other_files: u64,
    pub records: u64,
    pub json_bytes: u64,
    pub gz_bytes: u64,
}

/// splitmix64: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let _ = write!(s, "{:016x}", self.next());
        }
        s.truncate(n);
        s
    }
    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

const REGIONS: &[&str] = &[
    "us-east-1",
    "eu-west-1",
    "ap-southeast-2",
    "us-gov-west-1",
    "cn-north-1",
    "il-central-1",
];

const AGENTS: &[&str] = &[
    "aws-cli/2.15.10 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2023 prompt/off command/s3.ls",
    "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.11.6",
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64",
    "[Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15]",
    "AWS Internal",
    "console.amazonaws.com",
];

fn timestamp(date: Date, second_of_day: u64) -> String {
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date,
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

fn account_id(i: usize) -> String {
    format!(
        "{:012}",
        111_111_111_111u64 * (i as u64 + 1) % 1_000_000_000_000
    )
}

/// One synthetic record.
fn event(rng: &mut Rng, account: &str, region: &str, time: &str) -> Value {
    let role = *rng.pick(&["web-app-task", "ingest-lambda", "ci-deployer", "analytics"]);
    let session = rng.hex(8);
    let assumed = json!({
        "type": "AssumedRole",
        "principalId": format!("AROA{}:{}", rng.hex(16).to_uppercase(), session),
        "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        "accountId": account,
        "accessKeyId": format!("ASIA{}", rng.hex(16).to_uppercase()),
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": format!("AROA{}", rng.hex(16).to_uppercase()),
                "arn": format!("arn:aws:iam::{account}:role/{role}"),
                "accountId": account,
                "userName": role
            },
            "webIdFederationData": {},
            "attributes": {
                "creationDate": time,
                "mfaAuthenticated": if rng.chance(50) { json!("false") } else { json!(false) }
            }
        }
    });
    let ip = if rng.chance(20) {
        format!(
            "{}.amazonaws.com",
            rng.pick(&["ecs-tasks", "lambda", "ec2"])
        )
    } else {
        format!(
            "{}.{}.{}.{}",
            rng.below(223) + 1,
            rng.below(256),
            rng.below(256),
            rng.below(256)
        )
    };
    let kind = rng.below(100);
    let (source, name, identity, params, response, resources, read_only): (
        &str,
        &str,
        Value,
        Value,
        Value,
        Option<Value>,
        bool,
    ) = match kind {
        0..=34 => {
            let bucket = format!("data-{}-{}", account, rng.below(5));
            let key = format!(
                "exports/{}/part-{:05}.csv",
                rng.pick(&["daily", "é-report", "日本"]),
                rng.below(1000)
            );
            (
                "s3.amazonaws.com",
                *rng.pick(&["GetObject", "PutObject", "HeadObject"]),
                assumed.clone(),
                json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"), "key": key, "x-id": "GetObject"}),
                Value::Null,
                Some(json!([
                    {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")},
                    {"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}
                ])),
                true,
            )
        }
        35..=54 => (
            "ec2.amazonaws.com",
            *rng.pick(&[
                "DescribeInstances",
                "DescribeSecurityGroups",
                "DescribeVolumes",
            ]),
            assumed.clone(),
            json!({
                "maxResults": if rng.chance(50) { json!(1000) } else { json!("1000") },
                "filterSet": {"items": [{"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}]}}]},
                "instancesSet": {}
            }),
            Value::Null,
            None,
            true,
        ),
        55..=69 => (
            "sts.amazonaws.com",
            "AssumeRole",
            json!({"type": "AWSService", "invokedBy": "ecs-tasks.amazonaws.com"}),
            json!({"roleArn": format!("arn:aws:iam::{account}:role/{role}"), "roleSessionName": session, "durationSeconds": 3600}),
            json!({"credentials": {"accessKeyId": format!("ASIA{}", rng.hex(16).to_uppercase()), "sessionToken": rng.hex(120), "expiration": "Jan 16, 2024, 1:00:00 AM"}, "assumedRoleUser": {"assumedRoleId": format!("AROA{}:{}", rng.hex(16).to_uppercase(), session), "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}")}}),
            Some(
                json!([{"accountId": account, "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{account}:role/{role}")}]),
            ),
            false,
        ),
        70..=79 => (
            "iam.amazonaws.com",
            *rng.pick(&["TagRole", "ListRoles", "GetRole"]),
            json!({"type": "IAMUser", "principalId": format!("AIDA{}", rng.hex(16).to_uppercase()), "arn": format!("arn:aws:iam::{account}:user/alice"), "accountId": account, "accessKeyId": format!("AKIA{}", rng.hex(16).to_uppercase()), "userName": "alice"}),
            json!({"roleName": role, "tags": if rng.chance(50) { json!([{"key": "team", "value": "sec"}]) } else { json!({"key": "team", "value": true}) }}),
            Value::Null,
            None,
            false,
        ),
        80..=89 => (
            "kms.amazonaws.com",
            "Decrypt",
            // AWS service events carry a userIdentity without `type`.
            json!({"accountId": account, "invokedBy": "secretsmanager.amazonaws.com"}),
            json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"SecretARN": format!("arn:aws:secretsmanager:{region}:{account}:secret:db-{}", rng.hex(6))}}),
            Value::Null,
            Some(
                json!([{"accountId": account, "type": "AWS::KMS::Key", "ARN": format!("arn:aws:kms:{region}:{account}:key/{}", rng.uuid())}]),
            ),
            true,
        ),
        _ => (
            "s3.amazonaws.com",
            "PutBucketTagging",
            assumed.clone(),
            // Keys that differ only by case, as real PutBucketTagging has.
            json!({"bucketName": format!("logs-{account}"), "Tagging": {"TagSet": {"Tag": [{"Key": "env", "Value": "prod"}]}}, "tagging": ""}),
            Value::Null,
            None,
            false,
        ),
    };
    let mut rec = json!({
        "eventVersion": *rng.pick(&["1.08", "1.09", "1.10"]),
        "userIdentity": identity,
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": *rng.pick(AGENTS),
        "requestParameters": params,
        "responseElements": response,
        "requestID": rng.uuid(),
        "eventID": rng.uuid(),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": source != "s3.amazonaws.com",
        "recipientAccountId": account,
        "eventCategory": if source == "s3.amazonaws.com" { "Data" } else { "Management" },
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.split('.').next().unwrap_or("api"))}
    });
    let obj = rec.as_object_mut().expect("object");
    if rng.chance(8) {
        obj.insert("errorCode".into(), json!("AccessDenied"));
        obj.insert(
            "errorMessage".into(),
            json!(format!(
                "User is not authorized to perform: {name} — accès refusé"
            )),
        );
    }
    if let Some(resources) = resources {
        obj.insert("resources".into(), resources);
    }
    if rng.chance(3) {
        // A field no release of traillake knows yet.
        obj.insert(
            "futureField".into(),
            json!({"added": "2026", "n": rng.below(10)}),
        );
    }
    if rng.chance(3) {
        obj.insert("additionalEventData".into(), json!({"SignatureVersion": "SigV4", "bytesTransferredIn": 0, "x-amz-id-2": rng.hex(20)}));
    }
    rec
}

/// Writes the synthetic logs under `opts.out`.
pub fn generate(opts: &GenerateOptions) -> std::io::Result<GenerateSummary> {
    let mut rng = Rng(opts.seed);
    let mut summary = GenerateSummary::default();
    let mut compressor = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let accounts: Vec<String> = (0..opts.accounts).map(account_id).collect();
    let regions: Vec<&str> = REGIONS.iter().copied().cycle().take(opts.regions).collect();
    // One file per region every `slot_seconds` (five minutes by default).
    let files_per_day = opts.files_per_day.clamp(1, 86_400) as u64;
    let slot_seconds = 86_400 / files_per_day;
    for account in &accounts {
        for region in &regions {
            for day in 0..opts.days {
                let date = Date::from_days(opts.start.to_days() + day as i64);
                let slots = files_per_day;
                for slot in 0..slots {
                    // Spread the day's events evenly over every slot.
                    let per_day = opts.events_per_day as u64;
                    let n = per_day * (slot + 1) / slots - per_day * slot / slots;
                    if n == 0 {
                        continue;
                    }
                    let mut records: Vec<(u64, Value)> = (0..n)
                        .map(|_| {
                            let sec = slot * slot_seconds + rng.below(slot_seconds);
                            (sec, event(&mut rng, account, region, &timestamp(date, sec)))
                        })
                        .collect();
                    // Records within a file are not in time order.
                    records.sort_by_key(|(s, _)| *s ^ 7);
                    // Delivered a few minutes later: the last slots of a day
                    // land in the next day's folder.
                    let delivered = slot * slot_seconds + slot_seconds + 60 + rng.below(600);
                    let (folder, ts) = if delivered >= 86_400 {
                        (Date::from_days(date.to_days() + 1), delivered - 86_400)
                    } else {
                        (date, delivered)
                    };
                    let body =
                        json!({"Records": records.into_iter().map(|(_, r)| r).collect::<Vec<_>>()});
                    let text = serde_json::to_vec(&body)?;
                    let dir = folder_path(&opts.out, account, region, folder);
                    let stamp = timestamp(folder, ts).replace([':', '-'], "");
                    let name = format!(
                        "{account}_CloudTrail_{region}_{}Z_{}.json.gz",
                        &stamp[..13],
                        rng.hex(16)
                    );
                    let gz = gzip(&mut compressor, &text);
                    write(&dir.join(&name), &gz)?;
                    summary.files += 1;
                    summary.records += n;
                    summary.json_bytes += text.len() as u64;
                    summary.gz_bytes += gz.len() as u64;
                    if rng.chance(1) {
                        // CloudTrail sometimes delivers the same file twice.
                        let dup = name.replace(".json.gz", "") + &rng.hex(4) + ".json.gz";
                        write(&dir.join(dup), &gz)?;
                        summary.duplicate_files += 1;
                        summary.records += n;
                        summary.json_bytes += text.len() as u64;
                        summary.gz_bytes += gz.len() as u64;
                    }
                }
                // One digest file a day, which the compactor must skip.
                let digest_dir = opts
                    .out
                    .join(format!("AWSLogs/{account}/CloudTrail-Digest/{region}"))
                    .join(format!(
                        "{:04}/{:02}/{:02}",
                        date.year, date.month, date.day
                    ));
                let digest = json!({"awsAccountId": account, "digestStartTime": timestamp(date, 0), "logFiles": []});
                write(
                    &digest_dir.join(format!(
                        "{account}_CloudTrail-Digest_{region}_{}.json.gz",
                        date
                    )),
                    &gzip(&mut compressor, &serde_json::to_vec(&digest)?),
                )?;
                summary.other_files += 1;
            }
        }
        write(
            &opts.out.join(format!(
                "AWSLogs/{account}/CloudTrail/ConfigWritabilityCheckFile"
            )),
            b"",
        )?;
        summary.other_files += 1;
    }
    Ok(summary)
}

fn folder_path(out: &Path, account: &str, region: &str, d: Date) -> PathBuf {
    out.join(format!(
        "AWSLogs/{account}/CloudTrail/{region}/{:04}/{:02}/{:02}",
        d.year, d.month, d.day
    ))
}

fn gzip(c: &mut libdeflater::Compressor, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0; c.gzip_compress_bound(data.len())];
    let n = c.gzip_compress(data, &mut out).expect("bound is enough");
    out.truncate(n);
    out
}

fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, data)
}
