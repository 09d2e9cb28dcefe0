# DuckDB: CloudTrail's Records with an explicit schema (auto-detection fails
# on real quirks such as keys that differ only by case), free-form objects
# kept as JSON text, partitioned by the event.
import duckdb, sys
src, out = sys.argv[1], sys.argv[2]
S = "VARCHAR"
uid = ("STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, "
       "invokedBy VARCHAR, accessKeyId VARCHAR, userName VARCHAR, sessionContext STRUCT("
       "attributes STRUCT(mfaAuthenticated VARCHAR, creationDate VARCHAR), sessionIssuer "
       "STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, userName VARCHAR)))")
cols = [("eventVersion", S), ("userIdentity", uid), ("eventTime", S), ("eventSource", S),
        ("eventName", S), ("awsRegion", S), ("sourceIPAddress", S), ("userAgent", S),
        ("errorCode", S), ("errorMessage", S), ("requestParameters", "JSON"),
        ("responseElements", "JSON"), ("requestID", S), ("eventID", S),
        ("resources", "STRUCT(ARN VARCHAR, accountId VARCHAR, type VARCHAR)[]"),
        ("eventType", S), ("readOnly", S), ("recipientAccountId", S),
        ("additionalEventData", "JSON"), ("eventCategory", S), ("managementEvent", S),
        ("tlsDetails", "STRUCT(tlsVersion VARCHAR, cipherSuite VARCHAR, clientProvidedHostHeader VARCHAR)")]
rec = "STRUCT(" + ", ".join(f'"{n}" {t}' for n, t in cols) + ")[]"
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute(f"""
COPY (
  SELECT r.*,
         r.recipientAccountId AS account, r.awsRegion AS region,
         substr(r.eventTime, 1, 4) AS year, substr(r.eventTime, 6, 2) AS month,
         substr(r.eventTime, 9, 2) AS day
  FROM (SELECT unnest(Records) AS r
        FROM read_json('{src}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz',
                       columns = {{'Records': '{rec}'}},
                       maximum_object_size = 268435456))
) TO '{out}' (FORMAT parquet, PARTITION_BY (account, region, year, month, day),
              COMPRESSION zstd, OVERWRITE_OR_IGNORE true)
""")
