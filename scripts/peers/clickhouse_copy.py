# ClickHouse (chdb, in process): the same schema as named tuples, objects
# read as JSON text, ARRAY JOIN over Records, zstd Parquet, one file per
# (account, region, year, month, day).
import chdb, sys
src, out = sys.argv[1], sys.argv[2]
S = "Nullable(String)"
uid = ("Tuple(type Nullable(String), principalId Nullable(String), arn Nullable(String), "
       "accountId Nullable(String), invokedBy Nullable(String), accessKeyId Nullable(String), "
       "userName Nullable(String), sessionContext Tuple(attributes Tuple(mfaAuthenticated "
       "Nullable(String), creationDate Nullable(String)), sessionIssuer Tuple(type Nullable(String), "
       "principalId Nullable(String), arn Nullable(String), accountId Nullable(String), "
       "userName Nullable(String))))")
cols = [("eventVersion", S), ("userIdentity", uid), ("eventTime", S), ("eventSource", S),
        ("eventName", S), ("awsRegion", S), ("sourceIPAddress", S), ("userAgent", S),
        ("errorCode", S), ("errorMessage", S), ("requestParameters", S),
        ("responseElements", S), ("requestID", S), ("eventID", S),
        ("resources", "Array(Tuple(ARN Nullable(String), accountId Nullable(String), type Nullable(String)))"),
        ("eventType", S), ("readOnly", S), ("recipientAccountId", S),
        ("additionalEventData", S), ("eventCategory", S), ("managementEvent", S),
        ("tlsDetails", "Tuple(tlsVersion Nullable(String), cipherSuite Nullable(String), clientProvidedHostHeader Nullable(String))")]
rec = "Array(Tuple(" + ", ".join(f"{n} {t}" for n, t in cols) + "))"
names = ", ".join(f"r.{n} AS {n}" for n, _ in cols)
chdb.query(f"""
INSERT INTO FUNCTION file('{out}/{{_partition_id}}.parquet', 'Parquet')
PARTITION BY (account, region, year, month, day)
SELECT {names},
       recipientAccountId AS account, awsRegion AS region,
       substring(eventTime, 1, 4) AS year, substring(eventTime, 6, 2) AS month,
       substring(eventTime, 9, 2) AS day
FROM file('{src}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz', 'JSONEachRow', 'Records {rec}')
ARRAY JOIN Records AS r
SETTINGS max_threads = 2, output_format_parquet_compression_method = 'zstd',
         input_format_json_read_objects_as_strings = 1,
         input_format_json_named_tuples_as_objects = 1,
         input_format_json_defaults_for_missing_elements_in_named_tuple = 1,
         input_format_json_ignore_unknown_keys_in_named_tuple = 1,
         engine_file_truncate_on_insert = 1
""")
