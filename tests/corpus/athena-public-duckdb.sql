-- DuckDB's spelling of the public Athena queries (athena-public.jsonl) that
-- return rows on the test logs and that check.py's mechanical renames
-- (json_extract_scalar, from_iso8601_timestamp, regexp_like) do not cover.
-- Same block format as queries.sql; `-- name:` is the public query's id.

-- name: awsdocs-03
SELECT awsregion, replace(unnested.resources_entry.ARN, 'arn:aws:s3:::', '') AS deleted_bucket, eventtime AS time_deleted, useridentity.username, unnested.resources_entry.accountid AS bucket_acct_id FROM cloudtrail t CROSS JOIN UNNEST(t.resources) unnested (resources_entry) WHERE eventname = 'DeleteBucket' ORDER BY eventtime

-- name: unres-det-rapid-enumeration
-- unordered-lists
SELECT useridentity.arn AS identity, useridentity.type AS identity_type, date_trunc('hour', CAST(eventtime AS TIMESTAMPTZ)) AS hour, count(DISTINCT eventname) AS distinct_apis, count(DISTINCT eventsource) AS distinct_services, count(*) AS calls, array_agg(DISTINCT sourceipaddress) AS source_ips, array_agg(DISTINCT useragent) AS user_agents FROM cloudtrail WHERE concat(year, '/', month, '/', day) >= strftime(current_date - INTERVAL 3650 DAY, '%Y/%m/%d') AND regexp_matches(eventname, '^(List|Describe|Get)') AND useridentity.type IN ('IAMUser', 'AssumedRole', 'Root', 'FederatedUser') AND sourceipaddress NOT LIKE '%.amazonaws.com' AND useridentity.invokedby IS NULL GROUP BY 1, 2, 3 HAVING count(DISTINCT eventname) >= 30 AND count(DISTINCT eventsource) >= 5 ORDER BY distinct_apis DESC

-- name: unres-flaws2-ko-q2
-- DuckDB's regexp_extract gives '' where Trino's gives NULL (no match).
SELECT eventTime, eventName, errorCode, nullif(regexp_extract(requestParameters, '"functionName":"([^"]+)"', 1), '') AS fn, nullif(regexp_extract(requestParameters, '"bucketName":"([^"]+)"', 1), '') AS bucket FROM cloudtrail WHERE sourceIpAddress = '104.102.221.250' ORDER BY eventTime ASC
