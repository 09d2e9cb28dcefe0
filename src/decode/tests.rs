//! One test per decoder quirk seen in real logs (see tests/data/SOURCES.md).

use arrow::array::{Array, AsArray, RecordBatch, StructArray};

use super::builders::MAX_DEPTH;
use super::*;
use crate::schema::{self, Column, Kind, COLUMNS};

fn decode(key: &str, doc: &str) -> (Decoder, FileStats, Vec<(PartitionKey, RecordBatch)>) {
    let mut d = Decoder::new();
    let mut bytes = doc.as_bytes().to_vec();
    let stats = d.decode_file(key, &mut bytes);
    let out = d.finish();
    (d, stats, out)
}

fn one(doc: &str) -> RecordBatch {
    let (d, stats, out) = decode("k", doc);
    assert!(d.quarantined.is_empty(), "{:?}", d.quarantined);
    assert_eq!(stats.accepted, 1);
    assert_eq!(out.len(), 1);
    out.into_iter().next().unwrap().1
}

/// Value of a `/`-separated column path in row 0 (structs only).
fn get(batch: &RecordBatch, path: &str) -> Option<String> {
    let mut parts = path.split('/');
    let first = parts.next().unwrap();
    let mut arr = batch.column(schema::column_index(first)).clone();
    for p in parts {
        let s: &StructArray = arr.as_struct();
        if s.is_null(0) {
            return None;
        }
        arr = s.column_by_name(p).unwrap().clone();
    }
    let s = arr.as_string::<i32>();
    (!s.is_null(0)).then(|| s.value(0).to_string())
}

fn rec(fields: &str) -> String {
    format!(
        r#"{{"Records":[{{"eventTime":"2024-01-15T10:00:00Z","recipientAccountId":"111122223333","awsRegion":"eu-west-1","eventID":"e1"{fields}}}]}}"#
    )
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn keys_match_columns_ignoring_case() {
    let b = one(&rec(
        r#","resources":[{"ARN":"arn:x","accountId":"1","type":"T"}]"#,
    ));
    let res = b.column(schema::column_index("resources")).as_list::<i32>();
    let elem = res.value(0);
    let elem = elem.as_struct();
    assert_eq!(
        elem.column_by_name("arn")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "arn:x"
    );
    assert!(get(&b, "otherfields").is_none());
}

#[test]
fn scalars_in_string_columns_keep_their_json_text() {
    let b = one(&rec(
        r#","readOnly":true,"managementEvent":false,"apiVersion":20160101,"sessionCredentialFromConsole":"true""#,
    ));
    assert_eq!(get(&b, "readonly").as_deref(), Some("true"));
    assert_eq!(get(&b, "managementevent").as_deref(), Some("false"));
    assert_eq!(get(&b, "apiversion").as_deref(), Some("20160101"));
    assert_eq!(
        get(&b, "sessioncredentialfromconsole").as_deref(),
        Some("true")
    );
}

#[test]
fn objects_in_string_columns_become_compact_json() {
    let b = one(&rec(r#","sourceIPAddress":{"odd": [1, "x"]}"#));
    assert_eq!(
        get(&b, "sourceipaddress").as_deref(),
        Some(r#"{"odd":[1,"x"]}"#)
    );
}

#[test]
fn json_text_columns_keep_case_twins_and_unicode() {
    let b = one(&rec(
        r#","requestParameters":{"Tagging":{"TagSet":[]},"tagging":"","name":"日本 é"},"responseElements":null"#,
    ));
    let rp = get(&b, "requestparameters").unwrap();
    assert_eq!(
        rp,
        r#"{"Tagging":{"TagSet":[]},"tagging":"","name":"日本 é"}"#
    );
    assert_eq!(get(&b, "responseelements"), None);
}

#[test]
fn user_identity_without_type_and_string_mfa() {
    let b = one(&rec(
        r#","userIdentity":{"accountId":"1","invokedBy":"ec2.amazonaws.com","sessionContext":{"attributes":{"mfaAuthenticated":false,"creationDate":"2024-01-15T09:00:00Z"}}}"#,
    ));
    assert_eq!(get(&b, "useridentity/type"), None);
    assert_eq!(
        get(&b, "useridentity/invokedby").as_deref(),
        Some("ec2.amazonaws.com")
    );
    assert_eq!(
        get(
            &b,
            "useridentity/sessioncontext/attributes/mfaauthenticated"
        )
        .as_deref(),
        Some("false")
    );
    let ui = b.column(schema::column_index("useridentity")).as_struct();
    let sc = ui.column_by_name("sessioncontext").unwrap().as_struct();
    assert!(sc.column_by_name("sessionissuer").unwrap().is_null(0));
}

#[test]
fn unknown_fields_nest_in_the_catch_all_with_their_spelling() {
    let b = one(&rec(
        r#","userIdentity":{"type":"Root","inScopeOf":{},"sessionContext":{"sourceIdentity":"x","attributes":{"creationDate":"d","newAttr":1}}},"futureField":[1,2]"#,
    ));
    assert_eq!(get(&b, "useridentity/type").as_deref(), Some("Root"));
    assert_eq!(
        json(&get(&b, "otherfields").unwrap()),
        json(
            r#"{"userIdentity":{"inScopeOf":{},"sessionContext":{"sourceIdentity":"x","attributes":{"newAttr":1}}},"futureField":[1,2]}"#
        )
    );
}

#[test]
fn a_second_key_for_the_same_column_goes_to_the_catch_all() {
    let b = one(&rec(r#","eventName":"A","EventName":"B""#));
    assert_eq!(get(&b, "eventname").as_deref(), Some("A"));
    assert_eq!(
        json(&get(&b, "otherfields").unwrap()),
        json(r#"{"EventName":"B"}"#)
    );
}

#[test]
fn a_struct_column_given_a_string_keeps_the_value_in_the_catch_all() {
    let b = one(&rec(
        r#","userIdentity":"weird","tlsDetails":{"clientProvidedHostHeader":"h"}"#,
    ));
    assert_eq!(get(&b, "useridentity/type"), None);
    assert_eq!(
        get(&b, "tlsdetails/clientprovidedhostheader").as_deref(),
        Some("h")
    );
    assert_eq!(get(&b, "tlsdetails/tlsversion"), None);
    assert_eq!(
        json(&get(&b, "otherfields").unwrap()),
        json(r#"{"userIdentity":"weird"}"#)
    );
}

#[test]
fn resources_with_an_unknown_key_keep_the_whole_array() {
    let doc = rec(r#","resources":[{"ARN":"a","ARNPrefix":"p"},"odd"]"#);
    let b = one(&doc);
    assert_eq!(
        json(&get(&b, "otherfields").unwrap()),
        json(r#"{"resources":[{"ARN":"a","ARNPrefix":"p"},"odd"]}"#)
    );
    let res = b.column(schema::column_index("resources")).as_list::<i32>();
    assert_eq!(res.value(0).len(), 2);
}

#[test]
fn partition_comes_from_the_event_not_the_path() {
    let key = "AWSLogs/218007301253/CloudTrail/us-east-1/2024/01/16/f.json.gz";
    let doc = r#"{"Records":[
        {"eventTime":"2024-01-15T23:59:59Z","recipientAccountId":"123837392027","awsRegion":"us-east-1"},
        {"eventTime":"2024-01-16T00:00:01Z"}
    ]}"#;
    let (_, stats, out) = decode(key, doc);
    assert_eq!(stats.accepted, 2);
    let keys: Vec<String> = out.iter().map(|(k, _)| k.hive_path()).collect();
    assert_eq!(
        keys,
        [
            "account=123837392027/region=us-east-1/year=2024/month=01/day=15",
            "account=218007301253/region=us-east-1/year=2024/month=01/day=16",
        ]
    );
}

#[test]
fn records_without_a_usable_event_time_are_quarantined_alone() {
    let doc = r#"{"Records":[
        {"eventName":"NoTime"},
        {"eventTime":"yesterday"},
        42,
        {"eventTime":"2024-01-15T10:00:00Z","eventID":"ok"}
    ]}"#;
    let (d, stats, out) = decode("f.json", doc);
    assert_eq!(stats.records, 4);
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.quarantined, 3);
    let q: Vec<_> = d
        .quarantined
        .iter()
        .map(|q| (q.record, q.reason.as_str()))
        .collect();
    assert_eq!(q[0], (Some(0), "no eventTime"));
    assert_eq!(q[2], (Some(2), "record is not a JSON object"));
    assert!(q[1].1.contains("not an ISO-8601 time"));
    assert_eq!(
        d.quarantined[0].raw.as_deref(),
        Some(r#"{"eventName":"NoTime"}"#)
    );
    assert_eq!(out[0].1.num_rows(), 1);
}

#[test]
fn bad_documents_are_quarantined_whole() {
    for (doc, reason) in [
        ("{\"Records\":[", "invalid JSON"),
        ("{\"Records\":{}}", "no top-level \"Records\" array"),
        ("[1,2]", "no top-level \"Records\" array"),
        ("", "invalid JSON"),
    ] {
        let (d, stats, out) = decode("bad.json", doc);
        let failed = FileStats {
            failed: true,
            ..FileStats::default()
        };
        assert_eq!(stats, failed, "{doc}");
        assert!(out.is_empty());
        assert_eq!(d.quarantined.len(), 1);
        assert!(
            d.quarantined[0].reason.contains(reason),
            "{doc}: {:?}",
            d.quarantined
        );
        assert_eq!(d.quarantined[0].record, None);
    }
}

#[test]
fn empty_records_is_a_good_file_with_no_rows() {
    let (d, stats, out) = decode("empty.json", r#"{"Records":[]}"#);
    assert!(d.quarantined.is_empty());
    assert_eq!(stats.records, 0);
    assert!(out.is_empty());
}

#[test]
fn sourcekey_names_the_object() {
    let (_, _, out) = decode("s3://b/AWSLogs/x.json.gz", &rec(""));
    let b = &out[0].1;
    assert_eq!(
        get(b, "sourcekey").as_deref(),
        Some("s3://b/AWSLogs/x.json.gz")
    );
}

#[test]
fn an_enormous_record_is_quarantined_and_its_neighbours_kept() {
    let huge = "x".repeat(MAX_RECORD_BYTES + 10);
    let doc = format!(
        r#"{{"Records":[{{"eventTime":"2024-01-15T10:00:00Z","eventID":"a"}},{{"eventTime":"2024-01-15T10:00:01Z","eventID":"b","requestParameters":{{"blob":"{huge}"}}}}]}}"#
    );
    let (d, stats, out) = decode("big.json", &doc);
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.quarantined, 1);
    assert_eq!(d.quarantined[0].record, Some(1));
    assert!(
        d.quarantined[0].reason.contains("limit"),
        "{:?}",
        d.quarantined[0].reason
    );
    assert_eq!(out[0].1.num_rows(), 1);
}

#[test]
fn large_partitions_come_back_in_sized_batches_in_arrival_order() {
    // Two partitions interleaved, one with more rows than a batch holds,
    // keys in a changing order (the key-order guess must not misplace any).
    // Times tie, so rows are taken by eventid, which counts arrivals.
    let n = BATCH_ROWS * 2 + 17;
    let records: Vec<String> = (0..n)
        .map(|i| {
            let region = if i % 5 == 0 { "us-east-1" } else { "eu-west-1" };
            if i % 3 == 0 {
                format!(
                    r#"{{"eventID":"e{i:05}","awsRegion":"{region}","eventTime":"2024-01-15T10:00:00Z","recipientAccountId":"111122223333","userIdentity":{{"type":"IAMUser","arn":"a{i:05}"}}}}"#
                )
            } else {
                format!(
                    r#"{{"eventTime":"2024-01-15T10:00:00Z","recipientAccountId":"111122223333","awsRegion":"{region}","userIdentity":{{"arn":"a{i:05}","type":"Root"}},"eventID":"e{i:05}"}}"#
                )
            }
        })
        .collect();
    let doc = format!(r#"{{"Records":[{}]}}"#, records.join(","));
    let mut d = Decoder::new();
    // Twice through one decoder: the second round starts from the first
    // round's builder sizes.
    for round in 0..2 {
        let mut bytes = doc.clone().into_bytes();
        let stats = d.decode_file("k", &mut bytes);
        assert_eq!(stats.accepted, n as u64);
        let out = d.finish();
        assert!(out.iter().all(|(_, b)| b.num_rows() <= BATCH_ROWS));
        for region in ["eu-west-1", "us-east-1"] {
            let mut ids = Vec::new();
            let mut arns = Vec::new();
            for (_, b) in out.iter().filter(|(k, _)| k.region == region) {
                let id = b.column(schema::column_index("eventid")).as_string::<i32>();
                let uid = b.column(schema::column_index("useridentity")).as_struct();
                let arn = uid.column_by_name("arn").unwrap().as_string::<i32>();
                ids.extend((0..b.num_rows()).map(|r| id.value(r).to_string()));
                arns.extend((0..b.num_rows()).map(|r| arn.value(r).to_string()));
            }
            let want: Vec<String> = (0..n)
                .filter(|i| (i % 5 == 0) == (region == "us-east-1"))
                .map(|i| format!("e{i:05}"))
                .collect();
            assert_eq!(ids, want, "round {round}, {region}");
            let want_arns: Vec<String> = want.iter().map(|e| format!("a{}", &e[1..])).collect();
            assert_eq!(arns, want_arns, "round {round}, {region}");
        }
        assert!(out.iter().filter(|(k, _)| k.region == "eu-west-1").count() >= 2);
    }
}

#[test]
fn every_column_name_is_lowercase_letters_as_the_key_compare_needs() {
    fn check(columns: &[Column]) {
        for c in columns {
            assert!(
                !c.name.is_empty() && c.name.bytes().all(|b| b.is_ascii_lowercase()),
                "{:?}",
                c.name
            );
            if let Kind::Struct(cols) | Kind::ListOfStruct(cols) = &c.kind {
                check(cols);
            }
        }
    }
    check(COLUMNS);
    for name in ["eventtime", "recipientaccountid", "awsregion"] {
        assert!(name.bytes().all(|b| b.is_ascii_lowercase()));
    }
}

#[test]
fn structs_nest_less_deep_than_the_inline_stacks_hold() {
    // A value's path holds the keys of the structs it lies in; the
    // catch-all's `first` holds one more, for its root.
    fn depth(columns: &[Column]) -> usize {
        columns
            .iter()
            .map(|c| match &c.kind {
                Kind::Struct(cols) => 1 + depth(cols),
                // A list element's path starts afresh.
                Kind::ListOfStruct(cols) => depth(cols),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }
    assert!(depth(COLUMNS) < MAX_DEPTH, "{}", depth(COLUMNS));
    assert!(
        depth(COLUMNS) >= 3,
        "useridentity.sessioncontext.sessionissuer"
    );
}

proptest::proptest! {
    /// The word-at-a-time compare agrees with `eq_ignore_ascii_case` for
    /// every name and any key, including near misses in the bits that case
    /// folding must ignore or keep: a letter's byte with 0x20, 0x40 or 0x60
    /// flipped (`a` -> `A`, `!`, `\x01`).
    #[test]
    fn key_compare_agrees_with_eq_ignore_ascii_case(
        name in "[a-z]{1,30}",
        flips in proptest::collection::vec((0usize..30, 0u8..4, 0u8..128), 0..3),
        upper in proptest::collection::vec(proptest::bool::ANY, 30),
    ) {
        let mut key: Vec<u8> = name
            .bytes()
            .zip(&upper)
            .map(|(b, &u)| if u { b.to_ascii_uppercase() } else { b })
            .collect();
        for (at, how, byte) in flips {
            if let Some(k) = key.get_mut(at) {
                *k = match how {
                    0 => byte,
                    bits => name.as_bytes()[at] ^ (bits << 5),
                };
            }
        }
        let key = String::from_utf8(key).expect("ASCII");
        proptest::prop_assert_eq!(eq_lowercase(&key, &name), key.eq_ignore_ascii_case(&name));
        let longer = format!("{key}x");
        proptest::prop_assert!(!eq_lowercase(&longer, &name));
    }
}

#[test]
fn a_files_records_are_taken_in_the_merges_order_keeping_ties_and_indexes() {
    let r = |t: &str, id: Option<&str>, n: u32| {
        let id = id
            .map(|id| format!(r#","eventID":"{id}""#))
            .unwrap_or_default();
        format!(
            r#"{{"eventTime":"{t}","recipientAccountId":"111122223333","awsRegion":"eu-west-1","eventName":"n{n}"{id}}}"#
        )
    };
    // By time, then eventid with a missing one last; full ties (the same
    // time and eventid) keep their order in the file.
    let doc = format!(
        r#"{{"Records":[{},{},"not a record",{},{},{},{},{},{}]}}"#,
        r("2024-01-15T10:00:03Z", Some("c"), 0),
        r("2024-01-15T10:00:01Z", Some("a3"), 1),
        r("2024-01-15T10:00:02Z", Some("b"), 3),
        r("2024-01-15T10:00:01Z", None, 4),
        r("2024-01-15T10:00:01Z", Some("a1"), 5),
        r("2024-01-15T10:00:01Z", Some("a2"), 6),
        r("2024-01-15T10:00:01Z", Some("a1"), 7),
        r("2024-01-15T10:00:01Z", None, 8),
    );
    let (d, stats, out) = decode("k", &doc);
    assert_eq!(
        (stats.records, stats.accepted, stats.quarantined),
        (9, 8, 1)
    );
    assert_eq!(d.quarantined[0].record, Some(2));
    let b = &out[0].1;
    let col = |name| b.column(schema::column_index(name)).as_string::<i32>();
    let (ids, names) = (col("eventid"), col("eventname"));
    let got: Vec<(Option<&str>, &str)> = (0..b.num_rows())
        .map(|i| ((!ids.is_null(i)).then(|| ids.value(i)), names.value(i)))
        .collect();
    assert_eq!(
        got,
        [
            (Some("a1"), "n5"),
            (Some("a1"), "n7"),
            (Some("a2"), "n6"),
            (Some("a3"), "n1"),
            (None, "n4"),
            (None, "n8"),
            (Some("b"), "n3"),
            (Some("c"), "n0"),
        ]
    );
}

#[test]
fn a_slices_files_are_taken_by_first_event_time_and_stats_given_back_in_order() {
    let file = |times: &[&str]| {
        let records: Vec<String> = times
            .iter()
            .map(|t| {
                format!(
                    r#"{{"eventTime":"2024-01-15T{t}Z","recipientAccountId":"111122223333","awsRegion":"eu-west-1","eventID":"{t}"}}"#
                )
            })
            .collect();
        format!(r#"{{"Records":[{}]}}"#, records.join(",")).into_bytes()
    };
    // Delivered out of order, as CloudTrail does; one file is damaged.
    let late = file(&["10:05:00", "10:09:00"]);
    let bad = b"{\"Records\":[".to_vec();
    let early = file(&["10:01:00", "10:00:00", "10:04:00"]);
    let later = file(&["10:12:00"]);
    let mut d = Decoder::new();
    let files = [
        ("late", late),
        ("bad", bad),
        ("early", early),
        ("later", later),
    ];
    let mut text: Vec<u8> = files.iter().flat_map(|(_, f)| f.clone()).collect();
    let keys: Vec<(&str, usize)> = files.iter().map(|(k, f)| (*k, f.len())).collect();
    let stats = d.decode_files(&mut text, &keys);
    assert_eq!(text.len(), keys.iter().map(|k| k.1).sum::<usize>());
    let summary: Vec<(u64, bool)> = stats.iter().map(|s| (s.accepted, s.invalid)).collect();
    assert_eq!(summary, [(2, false), (0, true), (3, false), (1, false)]);
    // A document that does not parse is left to the caller, to decode
    // again from its original bytes: here, a truncated one, whole.
    assert!(d.quarantined.is_empty());
    let again = d.decode_records_alone("bad", b"{\"Records\":[");
    assert!(again.failed);
    assert_eq!(d.quarantined.len(), 1);
    assert_eq!(d.quarantined[0].key, "bad");
    let out = d.finish();
    assert_eq!(out.len(), 1);
    let b = &out[0].1;
    let col = |name| b.column(schema::column_index(name)).as_string::<i32>();
    let (ids, keys) = (col("eventid"), col("sourcekey"));
    let got: Vec<(&str, &str)> = (0..b.num_rows())
        .map(|i| (ids.value(i), keys.value(i)))
        .collect();
    // One sorted run: the early file first, each file sorted.
    assert_eq!(
        got,
        [
            ("10:00:00", "early"),
            ("10:01:00", "early"),
            ("10:04:00", "early"),
            ("10:05:00", "late"),
            ("10:09:00", "late"),
            ("10:12:00", "later"),
        ]
    );
}

#[test]
fn a_byte_order_mark_before_the_document_is_skipped() {
    let doc = format!("\u{feff}{}", rec(r#","eventName":"GetObject""#));
    assert!(doc.as_bytes().starts_with(b"\xEF\xBB\xBF"));
    let b = one(&doc);
    assert_eq!(get(&b, "eventname").as_deref(), Some("GetObject"));
    // Also where files are decoded one after another in one buffer.
    let mut d = Decoder::new();
    let second = format!("\u{feff}{}", rec(""));
    let mut text = format!("{}{second}", rec("")).into_bytes();
    let first_len = rec("").len();
    let stats = d.decode_files(&mut text, &[("a", first_len), ("b", second.len())]);
    assert!(d.quarantined.is_empty(), "{:?}", d.quarantined);
    assert_eq!(stats.iter().map(|s| s.accepted).sum::<u64>(), 2);
}

/// One bad record no longer costs its file: with the `Records` array
/// intact, the good records are kept and the bad one is quarantined alone
/// (an invalid UTF-8 byte, a lone surrogate, nesting 100,000 deep).
#[test]
fn one_bad_record_is_quarantined_alone_and_the_others_kept() {
    let good = |i: u32| {
        format!(
            r#"{{"eventTime":"2024-01-15T10:0{i}:00Z","eventID":"e{i}","recipientAccountId":"111122223333","awsRegion":"us-east-1","eventName":"A,]}}\"["}}"#
        )
        .into_bytes()
    };
    let deep = format!(
        r#"{{"eventTime":"2024-01-15T10:09:00Z","eventID":"deep","requestParameters":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    )
    .into_bytes();
    let bads: Vec<Vec<u8>> = vec![
        b"{\"eventTime\":\"2024-01-15T10:08:00Z\",\"eventID\":\"bad\",\"userAgent\":\"\xff\xfe\"}"
            .to_vec(),
        br#"{"eventTime":"2024-01-15T10:08:00Z","eventID":"bad","userAgent":"\ud800"}"#.to_vec(),
        deep,
    ];
    for bad in bads {
        let mut doc = b"{\"Records\": [ ".to_vec();
        doc.extend(good(1));
        doc.extend(b" ,\n");
        doc.extend(&bad);
        doc.extend(b",");
        doc.extend(good(2));
        doc.extend(b"]}\n");
        let mut d = Decoder::new();
        let stats = d.decode_file("k", &mut doc.clone());
        assert_eq!(
            (
                stats.records,
                stats.accepted,
                stats.quarantined,
                stats.failed
            ),
            (3, 2, 1, false)
        );
        assert_eq!(d.quarantined.len(), 1);
        assert_eq!(d.quarantined[0].record, Some(1));
        assert!(
            d.quarantined[0].reason.starts_with("invalid JSON"),
            "{:?}",
            d.quarantined[0].reason
        );
        let out = d.finish();
        let ids: Vec<String> = out[0]
            .1
            .column(schema::column_index("eventid"))
            .as_string::<i32>()
            .iter()
            .map(|v| v.unwrap().to_string())
            .collect();
        assert_eq!(ids, ["e1", "e2"]);
        assert_eq!(get(&out[0].1, "eventname").as_deref(), Some("A,]}\"["));
    }
    // Truncated: the array does not close, so nothing is split.
    assert_eq!(split_records(b"{\"Records\":[{\"a\":1},{\"b\":"), None);
    assert_eq!(split_records(b"{\"Records\":[]}"), Some(vec![]));
    assert_eq!(
        split_records(b"{\"x\":[1,2],\"Records\":[ 1 , \"a]\" ,{}]}").map(|v| v.len()),
        Some(3)
    );
}
