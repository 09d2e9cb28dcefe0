//! Property tests (proptest) of the decoder and the gunzip step on hostile
//! input: never a panic, counts always reconcile, and allocation stays
//! bounded by the input (gunzip trusts no length field beyond deflate's
//! 1032:1 limit and a hard cap).

use std::io::Write;

use proptest::prelude::*;
use traillake::decode::Decoder;
use traillake::source::{gunzip, Inflater};

/// Arbitrary JSON values, CloudTrail-flavoured keys included.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("eventTime".to_string()),
        Just("EVENTTIME".to_string()),
        Just("eventID".to_string()),
        Just("userIdentity".to_string()),
        Just("sessionContext".to_string()),
        Just("resources".to_string()),
        Just("ARN".to_string()),
        Just("requestParameters".to_string()),
        Just("tlsDetails".to_string()),
        Just("recipientAccountId".to_string()),
        Just("awsRegion".to_string()),
        "[a-zA-Z/.=_-]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("2024-01-15T10:00:00Z")),
        Just(serde_json::Value::from("../../etc")),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn decode(bytes: &mut [u8]) {
    let mut d = Decoder::new();
    let stats = d.decode_file(
        "s3://fuzz/AWSLogs/1/CloudTrail/us-east-1/2024/01/15/f.json",
        bytes,
    );
    assert_eq!(stats.records, stats.accepted + stats.quarantined);
    let rows: usize = d.finish().iter().map(|(_, b)| b.num_rows()).sum();
    assert_eq!(rows as u64, stats.accepted);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn decoder_survives_arbitrary_bytes(mut bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        decode(&mut bytes);
    }

    #[test]
    fn decoder_survives_arbitrary_records(records in prop::collection::vec(json_value(), 0..8)) {
        let mut bytes = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
        decode(&mut bytes);
    }

    #[test]
    fn decoder_survives_truncated_and_spliced_documents(
        records in prop::collection::vec(json_value(), 1..4),
        cut in any::<prop::sample::Index>(),
        junk in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut bytes = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
        let at = cut.index(bytes.len());
        bytes.truncate(at);
        bytes.extend(junk);
        decode(&mut bytes);
    }

    #[test]
    fn gunzip_survives_arbitrary_and_corrupted_input(
        data in prop::collection::vec(any::<u8>(), 0..4096),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut inflater = Inflater::new();
        let mut out = Vec::new();
        let _ = gunzip(&data, &mut inflater, &mut out, 1 << 20);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&data).unwrap();
        let mut gz = e.finish().unwrap();
        // gunzip appends: start each call from an empty buffer.
        out.clear();
        prop_assert!(gunzip(&gz, &mut inflater, &mut out, 1 << 20).is_ok());
        prop_assert_eq!(&out, &data);
        for (i, b) in flips {
            let i = i.index(gz.len());
            gz[i] ^= b;
        }
        // Damage may go unnoticed only if the CRC still matches; either way
        // no panic and no output beyond deflate's limit.
        out.clear();
        if gunzip(&gz, &mut inflater, &mut out, 1 << 20).is_ok() {
            prop_assert!(out.len() <= gz.len() * 1032 + 64);
        }
    }
}
