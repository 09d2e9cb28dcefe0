-- Our own Athena (engine v3, Trino) queries over the CloudTrail table, in
-- the style of AWS's Athena guide and incident-response playbooks. Each runs
-- through `traillake query` on the real logs in tests/data and its answer is
-- compared with DuckDB's on the same Parquet files (tests/corpus/check.py).
--
-- A block starts with `-- name:`; `-- about:` says what it asks; `-- ordered`
-- compares rows in order (else as a multiset); `-- duckdb:` starts DuckDB's
-- spelling of the same question where the dialects differ (else the query
-- runs on DuckDB as it is). Every query must return rows.

-- name: top-event-sources
-- about: which services are called most
-- ordered
SELECT eventsource, count(*) AS calls FROM cloudtrail GROUP BY eventsource ORDER BY calls DESC, eventsource LIMIT 10

-- name: events-by-day
-- about: events per partition day, with string partition columns
-- ordered
SELECT year, month, day, count(*) AS events FROM cloudtrail GROUP BY year, month, day ORDER BY year, month, day

-- name: one-day-partition
-- about: a partition-pruned day, as the seed's partition example
SELECT eventname, count(*) FROM cloudtrail WHERE year = '2023' AND month = '07' AND day = '10' GROUP BY eventname

-- name: concat-date-partition
-- about: the yyyy/MM/dd partition form of many public queries
SELECT count(*) FROM cloudtrail WHERE concat(year, '/', month, '/', day) BETWEEN '2024/08/01' AND '2024/08/02'

-- name: from-iso8601-window
-- about: events in a time window, from_iso8601_timestamp on eventtime
SELECT eventname, eventtime FROM cloudtrail WHERE from_iso8601_timestamp(eventtime) BETWEEN from_iso8601_timestamp('2024-08-01T00:00:00Z') AND from_iso8601_timestamp('2024-08-01T12:00:00Z')
-- duckdb:
SELECT eventname, eventtime FROM cloudtrail WHERE CAST(eventtime AS TIMESTAMPTZ) BETWEEN TIMESTAMPTZ '2024-08-01 00:00:00+00' AND TIMESTAMPTZ '2024-08-01 12:00:00+00'

-- name: from-iso8601-date
-- about: events on or after a date given as an ISO 8601 date
SELECT count(*) FROM cloudtrail WHERE from_iso8601_timestamp(eventtime) >= from_iso8601_date('2024-10-01')
-- duckdb:
SELECT count(*) FROM cloudtrail WHERE CAST(eventtime AS TIMESTAMPTZ) >= TIMESTAMPTZ '2024-10-01 00:00:00+00'

-- name: date-parse-hours
-- about: events per hour of one day, date_parse with MySQL-style format
-- ordered
SELECT date_trunc('hour', date_parse(eventtime, '%Y-%m-%dT%H:%i:%sZ')) AS hour, count(*) AS events FROM cloudtrail WHERE year = '2023' GROUP BY 1 ORDER BY 1
-- duckdb:
SELECT date_trunc('hour', strptime(eventtime, '%Y-%m-%dT%H:%M:%SZ')) AS hour, count(*) AS events FROM cloudtrail WHERE year = '2023' GROUP BY 1 ORDER BY 1

-- name: date-parse-t-shorthand
-- about: date_parse with %T, as incident-response playbooks write it
SELECT eventname FROM cloudtrail WHERE date_parse(eventtime, '%Y-%m-%dT%TZ') < date_parse('2019-01-01', '%Y-%m-%d')
-- duckdb:
SELECT eventname FROM cloudtrail WHERE strptime(eventtime, '%Y-%m-%dT%H:%M:%SZ') < TIMESTAMP '2019-01-01'

-- name: parse-datetime-joda
-- about: parse_datetime with a Joda pattern
SELECT count(*) FROM cloudtrail WHERE parse_datetime(eventtime, 'yyyy-MM-dd''T''HH:mm:ss''Z''') >= parse_datetime('2024-11-01', 'yyyy-MM-dd')
-- duckdb:
SELECT count(*) FROM cloudtrail WHERE strptime(eventtime, '%Y-%m-%dT%H:%M:%SZ') >= TIMESTAMP '2024-11-01'

-- name: format-datetime-hour
-- about: format_datetime buckets (Joda pattern)
SELECT format_datetime(from_iso8601_timestamp(eventtime), 'yyyy-MM-dd HH') AS hour, count(*) FROM cloudtrail WHERE year = '2018' GROUP BY 1
-- duckdb:
SELECT strftime(CAST(eventtime AS TIMESTAMPTZ), '%Y-%m-%d %H') AS hour, count(*) FROM cloudtrail WHERE year = '2018' GROUP BY 1

-- name: date-format-minute
-- about: date_format buckets (MySQL pattern)
SELECT date_format(from_iso8601_timestamp(eventtime), '%Y-%m-%d %H:%i') AS minute, count(*) FROM cloudtrail WHERE year = '2018' GROUP BY 1
-- duckdb:
SELECT strftime(CAST(eventtime AS TIMESTAMPTZ), '%Y-%m-%d %H:%M') AS minute, count(*) FROM cloudtrail WHERE year = '2018' GROUP BY 1

-- name: date-add-window
-- about: a window that date_add opens after the first event of a day
SELECT count(*) FROM cloudtrail WHERE from_iso8601_timestamp(eventtime) < date_add('minute', 10, from_iso8601_timestamp('2018-11-28T22:31:59Z')) AND year = '2018'
-- duckdb:
SELECT count(*) FROM cloudtrail WHERE CAST(eventtime AS TIMESTAMPTZ) < TIMESTAMPTZ '2018-11-28 22:31:59+00' + INTERVAL 10 MINUTE AND year = '2018'

-- name: date-diff-session-length
-- about: how long each identity was active, date_diff in seconds
SELECT useridentity.arn, date_diff('second', min(from_iso8601_timestamp(eventtime)), max(from_iso8601_timestamp(eventtime))) AS seconds FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY useridentity.arn
-- duckdb:
SELECT useridentity.arn, date_diff('second', min(CAST(eventtime AS TIMESTAMPTZ)), max(CAST(eventtime AS TIMESTAMPTZ))) AS seconds FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY useridentity.arn

-- name: date-of-event
-- about: events per calendar date with date()
SELECT date(from_iso8601_timestamp(eventtime)) AS d, count(*) FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT CAST(CAST(eventtime AS TIMESTAMPTZ) AS DATE) AS d, count(*) FROM cloudtrail GROUP BY 1

-- name: unixtime-roundtrip
-- about: to_unixtime and from_unixtime
SELECT eventid, to_unixtime(from_iso8601_timestamp(eventtime)) AS epoch, from_unixtime(to_unixtime(from_iso8601_timestamp(eventtime))) AS back FROM cloudtrail WHERE year = '2018'
-- duckdb:
SELECT eventid, epoch(CAST(eventtime AS TIMESTAMPTZ)) AS epoch, to_timestamp(epoch(CAST(eventtime AS TIMESTAMPTZ))) AS back FROM cloudtrail WHERE year = '2018'

-- name: interval-arithmetic
-- about: INTERVAL arithmetic against current_timestamp
SELECT count(*) FROM cloudtrail WHERE from_iso8601_timestamp(eventtime) > current_timestamp - INTERVAL '36500' DAY
-- duckdb:
SELECT count(*) FROM cloudtrail WHERE CAST(eventtime AS TIMESTAMPTZ) > current_timestamp - INTERVAL 36500 DAY

-- name: date-part-functions
-- about: year, month, day, hour, day_of_week of each event
SELECT year(from_iso8601_timestamp(eventtime)) AS y, month(from_iso8601_timestamp(eventtime)) AS m, day(from_iso8601_timestamp(eventtime)) AS d, hour(from_iso8601_timestamp(eventtime)) AS h, day_of_week(from_iso8601_timestamp(eventtime)) AS dow, count(*) AS n FROM cloudtrail GROUP BY 1, 2, 3, 4, 5
-- duckdb:
SELECT year(CAST(eventtime AS TIMESTAMPTZ)) AS y, month(CAST(eventtime AS TIMESTAMPTZ)) AS m, day(CAST(eventtime AS TIMESTAMPTZ)) AS d, hour(CAST(eventtime AS TIMESTAMPTZ)) AS h, isodow(CAST(eventtime AS TIMESTAMPTZ)) AS dow, count(*) AS n FROM cloudtrail GROUP BY 1, 2, 3, 4, 5

-- name: split-principal
-- about: the session name after the colon of an assumed role's principal id, split()[n]
SELECT split(useridentity.principalid, ':')[2] AS session, count(*) FROM cloudtrail WHERE useridentity.type = 'AssumedRole' GROUP BY 1
-- duckdb:
SELECT string_split(useridentity.principalid, ':')[2] AS session, count(*) FROM cloudtrail WHERE useridentity.type = 'AssumedRole' GROUP BY 1

-- name: split-part-arn
-- about: the account and resource of each ARN with split_part
SELECT split_part(useridentity.arn, ':', 5) AS account, split_part(useridentity.arn, ':', 6) AS resource, count(*) FROM cloudtrail WHERE useridentity.arn LIKE 'arn:aws:%' GROUP BY 1, 2

-- name: strpos-user-agent
-- about: calls from the AWS CLI, strpos on the user agent
SELECT eventname, useragent FROM cloudtrail WHERE strpos(useragent, 'aws-cli') > 0

-- name: regexp-like-recon
-- about: reconnaissance calls by name pattern
SELECT eventname, count(*) FROM cloudtrail WHERE regexp_like(eventname, '^(List|Describe|Get)') AND errorcode IS NOT NULL GROUP BY eventname
-- duckdb:
SELECT eventname, count(*) FROM cloudtrail WHERE regexp_matches(eventname, '^(List|Describe|Get)') AND errorcode IS NOT NULL GROUP BY eventname

-- name: regexp-extract-bucket
-- about: bucket names from request parameters, regexp_extract with a group
SELECT regexp_extract(requestparameters, '"bucketName":"([^"]+)"', 1) AS bucket, count(*) FROM cloudtrail WHERE eventsource = 's3.amazonaws.com' AND regexp_extract(requestparameters, '"bucketName":"([^"]+)"', 1) IS NOT NULL GROUP BY 1
-- duckdb:
SELECT regexp_extract(requestparameters, '"bucketName":"([^"]+)"', 1) AS bucket, count(*) FROM cloudtrail WHERE eventsource = 's3.amazonaws.com' AND regexp_extract(requestparameters, '"bucketName":"([^"]+)"', 1) <> '' GROUP BY 1

-- name: regexp-extract-whole-match
-- about: regexp_extract without a group gives the whole match
SELECT DISTINCT regexp_extract(useridentity.arn, 'arn:aws:iam::[0-9]+') AS prefix FROM cloudtrail WHERE useridentity.arn LIKE 'arn:aws:iam::%'

-- name: regexp-extract-all-ids
-- about: every instance id a request names
SELECT eventid, regexp_extract_all(requestparameters, 'i-[0-9a-f]{8,17}') AS ids FROM cloudtrail WHERE cardinality(regexp_extract_all(requestparameters, 'i-[0-9a-f]{8,17}')) > 0
-- duckdb:
SELECT eventid, regexp_extract_all(requestparameters, 'i-[0-9a-f]{8,17}') AS ids FROM cloudtrail WHERE len(regexp_extract_all(requestparameters, 'i-[0-9a-f]{8,17}')) > 0

-- name: regexp-replace-mask
-- about: account ids masked in ARNs (every match replaced, as Trino does)
SELECT DISTINCT regexp_replace(useridentity.arn, '[0-9]{12}', 'ACCOUNT') AS arn FROM cloudtrail WHERE useridentity.arn IS NOT NULL
-- duckdb:
SELECT DISTINCT regexp_replace(useridentity.arn, '[0-9]{12}', 'ACCOUNT', 'g') AS arn FROM cloudtrail WHERE useridentity.arn IS NOT NULL

-- name: replace-two-arguments
-- about: replace(s, x) removes x, as the Athena guide's S3 query writes it
SELECT DISTINCT replace(eventsource, '.amazonaws.com') AS service FROM cloudtrail
-- duckdb:
SELECT DISTINCT replace(eventsource, '.amazonaws.com', '') AS service FROM cloudtrail

-- name: url-extract-host
-- about: the hosts and paths of the URLs in user agents and request documents
SELECT url_extract_host(regexp_extract(useragent, 'https?://[^ )]+')) AS host, url_extract_protocol(regexp_extract(useragent, 'https?://[^ )]+')) AS protocol, url_extract_path(json_extract_scalar(requestparameters, '$.Tagging.xmlns')) AS path, count(*) FROM cloudtrail WHERE useragent LIKE '%http%' GROUP BY 1, 2, 3
-- duckdb:
SELECT regexp_extract(regexp_extract(useragent, 'https?://[^ )]+'), '^[a-z]+://([^/:?#]+)', 1) AS host, regexp_extract(regexp_extract(useragent, 'https?://[^ )]+'), '^([a-z]+)://', 1) AS protocol, nullif(regexp_extract(json_extract_string(requestparameters, '$.Tagging.xmlns'), '^[a-z]+://[^/]+(/[^?#]*)', 1), '') AS path, count(*) FROM cloudtrail WHERE useragent LIKE '%http%' GROUP BY 1, 2, 3

-- name: md5-event-ids
-- about: graph-style ids: md5 of to_utf8 text, as hex
SELECT to_hex(md5(to_utf8(eventid))) AS id, eventname FROM cloudtrail WHERE year = '2018'
-- duckdb:
SELECT upper(md5(eventid)) AS id, eventname FROM cloudtrail WHERE year = '2018'

-- name: lower-upper-length
-- about: plain string functions over identity names
SELECT lower(useridentity.username) AS u, upper(eventname) AS e, length(eventname) AS n FROM cloudtrail WHERE useridentity.username IS NOT NULL AND year = '2024'

-- name: json-extract-scalar-role
-- about: the role each AssumeRole asked for
SELECT json_extract_scalar(requestparameters, '$.roleArn') AS role, count(*) FROM cloudtrail WHERE eventname = 'AssumeRole' GROUP BY 1
-- duckdb:
SELECT json_extract_string(requestparameters, '$.roleArn') AS role, count(*) FROM cloudtrail WHERE eventname = 'AssumeRole' GROUP BY 1

-- name: json-extract-nested
-- about: a nested value through json_extract then json_extract_scalar
SELECT json_extract_scalar(json_extract(responseelements, '$.credentials'), '$.accessKeyId') AS key FROM cloudtrail WHERE eventname = 'AssumeRole' AND responseelements IS NOT NULL
-- duckdb:
SELECT json_extract_string(json_extract(responseelements, '$.credentials'), '$.accessKeyId') AS key FROM cloudtrail WHERE eventname = 'AssumeRole' AND responseelements IS NOT NULL

-- name: json-array-length-rules
-- about: how many permissions a security group change carries
SELECT eventid, json_array_length(json_extract(requestparameters, '$.ipPermissions.items')) AS rules FROM cloudtrail WHERE eventname = 'AuthorizeSecurityGroupIngress' AND json_extract(requestparameters, '$.ipPermissions.items') IS NOT NULL
-- duckdb:
SELECT eventid, json_array_length(json_extract(requestparameters, '$.ipPermissions.items')) AS rules FROM cloudtrail WHERE eventname = 'AuthorizeSecurityGroupIngress' AND json_extract(requestparameters, '$.ipPermissions.items') IS NOT NULL

-- name: json-array-contains-action
-- about: bucket policies that grant an action (the Action list)
SELECT eventid FROM cloudtrail WHERE eventname = 'PutBucketPolicy' AND json_array_contains(json_extract(requestparameters, '$.bucketPolicy.Statement[0].Action'), 's3:GetObject')
-- duckdb:
SELECT eventid FROM cloudtrail WHERE eventname = 'PutBucketPolicy' AND CASE WHEN json_type(json_extract(requestparameters, '$.bucketPolicy.Statement[0].Action')) = 'ARRAY' THEN list_contains(CAST(json_extract(requestparameters, '$.bucketPolicy.Statement[0].Action') AS VARCHAR[]), 's3:GetObject') ELSE false END

-- name: json-size-statements
-- about: how many statements a bucket policy has, json_size
SELECT eventid, json_size(requestparameters, '$.bucketPolicy.Statement') AS statements FROM cloudtrail WHERE eventname = 'PutBucketPolicy'
-- duckdb:
SELECT eventid, json_array_length(requestparameters, '$.bucketPolicy.Statement') AS statements FROM cloudtrail WHERE eventname = 'PutBucketPolicy'

-- name: json-parse-format
-- about: json_format(json_parse(x)) gives the document back as text
SELECT eventid, json_format(json_parse(requestparameters)) AS doc FROM cloudtrail WHERE eventname = 'StopLogging'
-- duckdb:
SELECT eventid, CAST(json(requestparameters) AS VARCHAR) AS doc FROM cloudtrail WHERE eventname = 'StopLogging'

-- name: json-extract-path-compare
-- about: requests with a parameter set to a value
SELECT eventname, json_extract_scalar(requestparameters, '$.cidrIp') AS cidr FROM cloudtrail WHERE json_extract_scalar(requestparameters, '$.cidrIp') = '0.0.0.0/0'
-- duckdb:
SELECT eventname, json_extract_string(requestparameters, '$.cidrIp') AS cidr FROM cloudtrail WHERE json_extract_string(requestparameters, '$.cidrIp') = '0.0.0.0/0'

-- name: cardinality-resources
-- about: events naming more than one resource
SELECT eventname, cardinality(resources) AS n FROM cloudtrail WHERE cardinality(resources) > 1
-- duckdb:
SELECT eventname, len(resources) AS n FROM cloudtrail WHERE len(resources) > 1

-- name: element-at-first-resource
-- about: the first resource's type with element_at
SELECT element_at(resources, 1).type AS type, count(*) FROM cloudtrail WHERE resources IS NOT NULL GROUP BY 1
-- duckdb:
SELECT resources[1].type AS type, count(*) FROM cloudtrail WHERE resources IS NOT NULL GROUP BY 1

-- name: subscript-resource
-- about: an array subscript, then a struct field
SELECT resources[1].arn AS arn FROM cloudtrail WHERE cardinality(resources) >= 1 AND eventsource = 'kms.amazonaws.com'
-- duckdb:
SELECT resources[1].arn AS arn FROM cloudtrail WHERE len(resources) >= 1 AND eventsource = 'kms.amazonaws.com'

-- name: contains-array
-- about: contains() on an array of event names per identity
SELECT arn FROM (SELECT useridentity.arn AS arn, array_agg(eventname) AS names FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY useridentity.arn) WHERE contains(names, 'StopLogging')
-- duckdb:
SELECT arn FROM (SELECT useridentity.arn AS arn, array_agg(eventname) AS names FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY useridentity.arn) WHERE list_contains(names, 'StopLogging')

-- name: array-join-distinct
-- about: the distinct regions each account used, as text
SELECT account, array_join(array_sort(array_distinct(array_agg(region))), ',') AS regions FROM cloudtrail GROUP BY account
-- duckdb:
SELECT account, array_to_string(list_sort(list_distinct(array_agg(region))), ',') AS regions FROM cloudtrail GROUP BY account

-- name: slice-first-names
-- about: the first three event names of a sorted list, slice()
SELECT account, slice(array_sort(array_agg(eventname)), 1, 3) AS first FROM cloudtrail GROUP BY account
-- duckdb:
SELECT account, list_sort(array_agg(eventname))[1:3] AS first FROM cloudtrail GROUP BY account

-- name: count-if-errors
-- about: errors against all calls per service, count_if
SELECT eventsource, count(*) AS calls, count_if(errorcode IS NOT NULL) AS errors FROM cloudtrail GROUP BY eventsource

-- name: approx-distinct-ips
-- about: distinct source addresses per account (small counts are exact)
SELECT account, approx_distinct(sourceipaddress) AS ips FROM cloudtrail GROUP BY account
-- duckdb:
SELECT account, count(DISTINCT sourceipaddress) AS ips FROM cloudtrail GROUP BY account

-- name: arbitrary-account-name
-- about: arbitrary() of a value that is one per group
SELECT account, arbitrary(recipientaccountid) AS recipient FROM cloudtrail GROUP BY account
-- duckdb:
SELECT account, any_value(recipientaccountid) AS recipient FROM cloudtrail GROUP BY account

-- name: max-by-last-call
-- about: each identity's last call, max_by
SELECT useridentity.arn AS arn, max_by(eventname, eventtime || eventid) AS last_call, min_by(eventname, eventtime || eventid) AS first_call FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY useridentity.arn
-- duckdb:
SELECT useridentity.arn AS arn, arg_max(eventname, eventtime || eventid) AS last_call, arg_min(eventname, eventtime || eventid) AS first_call FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY useridentity.arn

-- name: array-agg-sorted
-- about: the calls of one source address, in time order
SELECT sourceipaddress, array_agg(eventname ORDER BY eventtime, eventid) AS calls FROM cloudtrail WHERE year = '2018' GROUP BY sourceipaddress

-- name: try-cast
-- about: try() around a cast that fails for some rows
SELECT count(try(CAST(json_extract_scalar(requestparameters, '$.maxResults') AS BIGINT))) AS with_max FROM cloudtrail
-- duckdb:
SELECT count(TRY_CAST(json_extract_string(requestparameters, '$.maxResults') AS BIGINT)) AS with_max FROM cloudtrail

-- name: try-cast-spelled
-- about: TRY_CAST written out
SELECT sum(TRY_CAST(json_extract_scalar(requestparameters, '$.maxResults') AS BIGINT)) AS total FROM cloudtrail
-- duckdb:
SELECT sum(TRY_CAST(json_extract_string(requestparameters, '$.maxResults') AS BIGINT)) AS total FROM cloudtrail

-- name: ipaddress-private
-- about: calls from private addresses, IPPREFIX contains an IPADDRESS
SELECT sourceipaddress, count(*) FROM cloudtrail WHERE regexp_like(sourceipaddress, '^[0-9.]+$') AND (contains(IPPREFIX '10.0.0.0/8', CAST(sourceipaddress AS IPADDRESS)) OR contains(IPPREFIX '192.168.0.0/16', CAST(sourceipaddress AS IPADDRESS))) GROUP BY 1
-- duckdb:
SELECT sourceipaddress, count(*) FROM cloudtrail WHERE regexp_matches(sourceipaddress, '^[0-9.]+$') AND (sourceipaddress LIKE '10.%' OR sourceipaddress LIKE '192.168.%') GROUP BY 1

-- name: ipaddress-literal-compare
-- about: addresses above a literal (an octet with a leading zero is no address, as in Trino)
SELECT DISTINCT sourceipaddress FROM cloudtrail WHERE try(CAST(sourceipaddress AS IPADDRESS)) > IPADDRESS '200.0.0.0'
-- duckdb:
SELECT DISTINCT sourceipaddress FROM cloudtrail WHERE regexp_matches(sourceipaddress, '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$') AND CAST(split_part(sourceipaddress, '.', 1) AS INTEGER) >= 200 AND sourceipaddress <> '200.0.0.0'

-- name: unnest-resources
-- about: every resource of every event, CROSS JOIN UNNEST AS t(r)
SELECT eventname, r.arn, r.type FROM cloudtrail CROSS JOIN UNNEST(resources) AS t(r)

-- name: unnest-qualified
-- about: the Athena guide's form, with the table's alias inside UNNEST
SELECT t.eventname, u.res.arn FROM cloudtrail t CROSS JOIN UNNEST(t.resources) u (res) WHERE u.res.type = 'AWS::KMS::Key'

-- name: unnest-with-ordinality
-- about: the position of each resource in its event
SELECT eventid, r.arn, n FROM cloudtrail CROSS JOIN UNNEST(resources) WITH ORDINALITY AS t(r, n)
-- duckdb:
SELECT eventid, resources[n].arn AS arn, n FROM cloudtrail CROSS JOIN generate_series(1, len(resources)) AS g(n) WHERE resources IS NOT NULL

-- name: unnest-distinct-order
-- about: SELECT DISTINCT with ORDER BY a field of the unnested struct
-- ordered
SELECT DISTINCT r.type FROM cloudtrail CROSS JOIN UNNEST(resources) AS t(r) ORDER BY r.type

-- name: unnest-in-subquery-join
-- about: resources joined back to their events
SELECT a.eventname, b.arn FROM cloudtrail a JOIN (SELECT eventid, r.arn AS arn FROM cloudtrail CROSS JOIN UNNEST(resources) AS t(r)) b ON a.eventid = b.eventid WHERE a.eventsource = 's3.amazonaws.com'

-- name: unnest-split
-- about: UNNEST of split() text
SELECT part, count(*) FROM cloudtrail CROSS JOIN UNNEST(split(useragent, ' ')) AS t(part) WHERE year = '2018' GROUP BY part
-- duckdb:
SELECT part, count(*) FROM cloudtrail CROSS JOIN UNNEST(string_split(useragent, ' ')) AS t(part) WHERE year = '2018' GROUP BY part

-- name: struct-field-names
-- about: struct fields named by their last name, as Athena names them
SELECT useridentity.sessioncontext.sessionissuer.arn, useridentity.sessioncontext.attributes.mfaauthenticated FROM cloudtrail WHERE useridentity.type = 'AssumedRole'

-- name: console-logins-without-mfa
-- about: console logins and whether MFA was used (additionaleventdata)
SELECT useridentity.arn, json_extract_scalar(additionaleventdata, '$.MFAUsed') AS mfa, json_extract_scalar(responseelements, '$.ConsoleLogin') AS result FROM cloudtrail WHERE eventname = 'ConsoleLogin'
-- duckdb:
SELECT useridentity.arn, json_extract_string(additionaleventdata, '$.MFAUsed') AS mfa, json_extract_string(responseelements, '$.ConsoleLogin') AS result FROM cloudtrail WHERE eventname = 'ConsoleLogin'

-- name: logging-tampering
-- about: CloudTrail tampering: StopLogging, DeleteTrail, UpdateTrail
SELECT eventtime, eventname, useridentity.arn, json_extract_scalar(requestparameters, '$.name') AS trail FROM cloudtrail WHERE eventsource = 'cloudtrail.amazonaws.com' AND eventname IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors')
-- duckdb:
SELECT eventtime, eventname, useridentity.arn, json_extract_string(requestparameters, '$.name') AS trail FROM cloudtrail WHERE eventsource = 'cloudtrail.amazonaws.com' AND eventname IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors')

-- name: iam-persistence
-- about: IAM persistence calls per identity
SELECT useridentity.arn, eventname, count(*) FROM cloudtrail WHERE eventsource = 'iam.amazonaws.com' AND eventname IN ('CreateUser', 'CreateAccessKey', 'CreateLoginProfile', 'AttachUserPolicy', 'PutUserPolicy', 'UpdateAssumeRolePolicy', 'AddUserToGroup') GROUP BY 1, 2

-- name: access-denied-by-identity
-- about: denied calls per identity and call (the errors preset widened)
SELECT useridentity.arn, eventname, errorcode, count(*) AS n FROM cloudtrail WHERE errorcode IN ('AccessDenied', 'Client.UnauthorizedOperation', 'AccessDeniedException', 'UnauthorizedOperation') GROUP BY 1, 2, 3 HAVING count(*) >= 1

-- name: secrets-read
-- about: secret values read, by identity
SELECT useridentity.arn, json_extract_scalar(requestparameters, '$.secretId') AS secret, count(*) FROM cloudtrail WHERE eventname = 'GetSecretValue' GROUP BY 1, 2
-- duckdb:
SELECT useridentity.arn, json_extract_string(requestparameters, '$.secretId') AS secret, count(*) FROM cloudtrail WHERE eventname = 'GetSecretValue' GROUP BY 1, 2

-- name: ec2-password-data
-- about: GetPasswordData against instances
SELECT json_extract_scalar(requestparameters, '$.instanceId') AS instance, count(*) AS calls, count_if(errorcode IS NOT NULL) AS failed FROM cloudtrail WHERE eventname = 'GetPasswordData' GROUP BY 1
-- duckdb:
SELECT json_extract_string(requestparameters, '$.instanceId') AS instance, count(*) AS calls, count_if(errorcode IS NOT NULL) AS failed FROM cloudtrail WHERE eventname = 'GetPasswordData' GROUP BY 1

-- name: anonymous-then-role
-- about: addresses seen both anonymous and with a role (the seed's signal)
SELECT DISTINCT a.sourceipaddress FROM cloudtrail a JOIN cloudtrail b ON a.sourceipaddress = b.sourceipaddress WHERE a.useridentity.accountid = 'ANONYMOUS_PRINCIPAL' AND b.useridentity.type = 'AssumedRole'

-- name: window-function-gap
-- about: the gap between an identity's consecutive calls, lag() over a window
SELECT useridentity.arn AS arn, eventtime, date_diff('second', lag(from_iso8601_timestamp(eventtime)) OVER (PARTITION BY useridentity.arn ORDER BY eventtime, eventid), from_iso8601_timestamp(eventtime)) AS gap FROM cloudtrail WHERE year = '2018'
-- duckdb:
SELECT useridentity.arn AS arn, eventtime, date_diff('second', lag(CAST(eventtime AS TIMESTAMPTZ)) OVER (PARTITION BY useridentity.arn ORDER BY eventtime, eventid), CAST(eventtime AS TIMESTAMPTZ)) AS gap FROM cloudtrail WHERE year = '2018'

-- name: cte-first-seen
-- about: a CTE of each address's first call, joined back
WITH first_seen AS (SELECT sourceipaddress, min(eventtime) AS first FROM cloudtrail GROUP BY sourceipaddress) SELECT c.sourceipaddress, c.eventname FROM cloudtrail c JOIN first_seen f ON c.sourceipaddress = f.sourceipaddress AND c.eventtime = f.first

-- name: case-classify
-- about: CASE over identity types, with coalesce for missing types
SELECT CASE WHEN useridentity.type = 'Root' THEN 'root' WHEN useridentity.type IN ('IAMUser', 'AssumedRole') THEN 'principal' ELSE coalesce(useridentity.type, 'unknown') END AS kind, count(*) FROM cloudtrail GROUP BY 1

-- name: union-all-sources
-- about: UNION ALL of two questions
SELECT 'error' AS kind, eventname FROM cloudtrail WHERE errorcode = 'AccessDenied' UNION ALL SELECT 'write' AS kind, eventname FROM cloudtrail WHERE readonly = 'false' AND year = '2018'

-- name: in-subquery
-- about: calls of identities that ever failed, IN (subquery)
SELECT useridentity.arn, count(*) FROM cloudtrail WHERE useridentity.arn IN (SELECT useridentity.arn FROM cloudtrail WHERE errorcode IS NOT NULL) GROUP BY 1

-- name: like-eventtime
-- about: LIKE on eventtime, as the seed does
SELECT eventname FROM cloudtrail WHERE eventtime LIKE '2018-11-28T22:3%'

-- name: readonly-string
-- about: the readonly flag is text, as in Athena's table
SELECT readonly, count(*) FROM cloudtrail GROUP BY readonly

-- name: tls-details
-- about: TLS versions of the calls (a struct column)
SELECT tlsdetails.tlsversion, count(*) FROM cloudtrail WHERE tlsdetails.tlsversion IS NOT NULL GROUP BY 1

-- name: having-busy-identities
-- about: identities with more than 50 calls, HAVING
SELECT useridentity.arn, count(*) AS calls FROM cloudtrail GROUP BY useridentity.arn HAVING count(*) > 50

-- name: source-evidence
-- about: the log object each StopLogging came from (sourcekey)
SELECT eventid, sourcekey FROM cloudtrail WHERE eventname = 'StopLogging'

-- name: local-time-in-a-zone
-- about: hour and date of each event where the responder is, AT TIME ZONE with an IANA name
SELECT eventid, format_datetime(from_iso8601_timestamp(eventtime) AT TIME ZONE 'Europe/Madrid', 'yyyy-MM-dd HH:mm') AS madrid, date_format(from_iso8601_timestamp(eventtime) AT TIME ZONE 'America/Los_Angeles', '%Y-%m-%d %H:%i') AS los_angeles, date(from_iso8601_timestamp(eventtime) AT TIME ZONE 'Asia/Tokyo') AS tokyo_day FROM cloudtrail
-- duckdb:
SELECT eventid, strftime(timezone('Europe/Madrid', CAST(eventtime AS TIMESTAMPTZ)), '%Y-%m-%d %H:%M') AS madrid, strftime(timezone('America/Los_Angeles', CAST(eventtime AS TIMESTAMPTZ)), '%Y-%m-%d %H:%M') AS los_angeles, CAST(timezone('Asia/Tokyo', CAST(eventtime AS TIMESTAMPTZ)) AS DATE) AS tokyo_day FROM cloudtrail

-- name: set-operation-struct-names
-- about: identities that listed buckets or asked who they are, minus those that ever failed, a CTE over a UNION and EXCEPT of struct fields
WITH x AS (SELECT useridentity.arn FROM cloudtrail WHERE eventname = 'ListBuckets' UNION SELECT useridentity.arn FROM cloudtrail WHERE eventname = 'GetCallerIdentity' EXCEPT SELECT useridentity.arn FROM cloudtrail WHERE errorcode IS NOT NULL) SELECT arn FROM x WHERE arn IS NOT NULL

-- name: if-and-levenshtein
-- about: Trino's if() and levenshtein_distance: event names one edit from a well-known one, labelled by outcome
SELECT eventname, if(errorcode IS NULL, 'ok', 'failed') AS outcome, levenshtein_distance(eventname, 'ListBuckets') AS edits, count(*) AS n FROM cloudtrail WHERE levenshtein_distance(eventname, 'ListBuckets') <= 3 GROUP BY 1, 2, 3
-- duckdb:
SELECT eventname, CASE WHEN errorcode IS NULL THEN 'ok' ELSE 'failed' END AS outcome, levenshtein(eventname, 'ListBuckets') AS edits, count(*) AS n FROM cloudtrail WHERE levenshtein(eventname, 'ListBuckets') <= 3 GROUP BY 1, 2, 3

-- name: like-escape-other-char
-- about: LIKE with an escape character other than backslash, as saved queries write it
SELECT count(*) AS n FROM cloudtrail WHERE useragent LIKE '%!_%' ESCAPE '!' OR eventname LIKE 'Get!%%' ESCAPE '!'

-- name: fetch-first-rows
-- about: FETCH FIRST n ROWS ONLY, the standard's LIMIT
-- ordered
SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY eventname ORDER BY n DESC, eventname FETCH FIRST 5 ROWS ONLY
-- duckdb:
SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY eventname ORDER BY n DESC, eventname LIMIT 5

-- name: cast-as-array-varchar
-- about: CAST(... AS ARRAY(VARCHAR)), Trino's array type syntax
SELECT eventname, cardinality(CAST(split(eventname, 'e') AS ARRAY(VARCHAR))) AS parts FROM cloudtrail WHERE eventsource = 'sts.amazonaws.com'
-- duckdb:
SELECT eventname, len(CAST(string_split(eventname, 'e') AS VARCHAR[])) AS parts FROM cloudtrail WHERE eventsource = 'sts.amazonaws.com'

-- name: lambda-transform-arns
-- about: the ARNs of an event's resources, transform() with a field of the lambda's parameter
SELECT eventid, transform(resources, r -> r.arn) AS arns FROM cloudtrail WHERE cardinality(resources) > 0
-- duckdb:
SELECT eventid, list_transform(resources, lambda r: r.arn) AS arns FROM cloudtrail WHERE len(resources) > 0

-- name: lambda-filter-iam-resources
-- about: only the IAM resources of each event, filter()
SELECT eventname, filter(resources, r -> r.type LIKE 'AWS::IAM::%') AS iam FROM cloudtrail WHERE cardinality(filter(resources, r -> r.type LIKE 'AWS::IAM::%')) > 0
-- duckdb:
SELECT eventname, list_filter(resources, lambda r: r.type LIKE 'AWS::IAM::%') AS iam FROM cloudtrail WHERE len(list_filter(resources, lambda r: r.type LIKE 'AWS::IAM::%')) > 0

-- name: lambda-any-match-bucket
-- about: events touching an S3 bucket, any_match()
SELECT eventname, count(*) FROM cloudtrail WHERE any_match(resources, r -> r.type = 'AWS::S3::Bucket') GROUP BY 1
-- duckdb:
SELECT eventname, count(*) FROM cloudtrail WHERE len(list_filter(resources, lambda r: r.type = 'AWS::S3::Bucket')) > 0 GROUP BY 1

-- name: lambda-all-match-own-account
-- about: events whose every resource is in the caller's account, all_match()
SELECT eventname, count(*) FROM cloudtrail WHERE cardinality(resources) > 0 AND all_match(resources, r -> r.accountid = recipientaccountid) GROUP BY 1
-- duckdb:
SELECT eventname, count(*) FROM cloudtrail WHERE len(resources) > 0 AND len(list_filter(resources, lambda r: NOT (r.accountid = recipientaccountid))) = 0 AND len(list_filter(resources, lambda r: (r.accountid = recipientaccountid) IS NULL)) = 0 GROUP BY 1

-- name: lambda-none-match-kms
-- about: events with resources but none a KMS key, none_match()
SELECT count(*) FROM cloudtrail WHERE cardinality(resources) > 0 AND none_match(resources, r -> r.type = 'AWS::KMS::Key')
-- duckdb:
SELECT count(*) FROM cloudtrail WHERE len(resources) > 0 AND len(list_filter(resources, lambda r: r.type = 'AWS::KMS::Key')) = 0 AND len(list_filter(resources, lambda r: r.type IS NULL)) = 0

-- name: lambda-transform-split
-- about: the first word of every user-agent token, transform() over split()
SELECT DISTINCT transform(split(useragent, ' '), w -> split_part(w, '/', 1)) AS products FROM cloudtrail WHERE year = '2018'
-- duckdb:
SELECT DISTINCT list_transform(string_split(useragent, ' '), lambda w: split_part(w, '/', 1)) AS products FROM cloudtrail WHERE year = '2018'

-- name: histogram-sources-per-account
-- about: calls per service for each account, histogram()
SELECT account, histogram(eventsource) AS calls FROM cloudtrail GROUP BY account

-- name: histogram-element-at
-- about: one service's count out of a histogram, element_at() on a map
SELECT account, element_at(histogram(eventsource), 'sts.amazonaws.com') AS sts FROM cloudtrail GROUP BY account HAVING element_at(histogram(eventsource), 'sts.amazonaws.com') > 0
-- duckdb:
SELECT account, histogram(eventsource)['sts.amazonaws.com'] AS sts FROM cloudtrail GROUP BY account HAVING histogram(eventsource)['sts.amazonaws.com'] > 0

-- name: map-agg-last-call
-- about: each identity's calls mapped to their last time, map_agg() over a grouped subquery
SELECT arn, map_agg(eventname, last) AS calls FROM (SELECT useridentity.arn AS arn, eventname, max(eventtime) AS last FROM cloudtrail WHERE useridentity.arn IS NOT NULL AND year = '2018' GROUP BY 1, 2) GROUP BY arn
-- duckdb:
SELECT arn, map_from_entries(list(struct_pack(k := eventname, v := last))) AS calls FROM (SELECT useridentity.arn AS arn, eventname, max(eventtime) AS last FROM cloudtrail WHERE useridentity.arn IS NOT NULL AND year = '2018' GROUP BY 1, 2) GROUP BY arn

-- name: map-keys-of-histogram
-- about: the error codes seen, map_keys(histogram())
SELECT array_sort(map_keys(histogram(errorcode))) AS codes FROM cloudtrail
-- duckdb:
SELECT list_sort(map_keys(histogram(errorcode))) AS codes FROM cloudtrail

-- name: left-join-unnest
-- about: every event with its resources, events without any kept once, LEFT JOIN UNNEST ON TRUE
SELECT eventid, r.arn FROM cloudtrail LEFT JOIN UNNEST(resources) AS t(r) ON TRUE WHERE eventsource = 'kms.amazonaws.com'
-- duckdb:
SELECT eventid, r.arn FROM cloudtrail LEFT JOIN (SELECT eventid AS id, unnest(resources) AS r FROM cloudtrail) u ON u.id = cloudtrail.eventid WHERE eventsource = 'kms.amazonaws.com'

-- name: left-join-unnest-count
-- about: resources per event including zero, LEFT JOIN UNNEST ON TRUE and count(r)
SELECT eventsource, count(*) AS rows, count(r) AS resources FROM cloudtrail LEFT JOIN UNNEST(resources) AS t(r) ON TRUE GROUP BY eventsource
-- duckdb:
SELECT eventsource, sum(greatest(coalesce(len(resources), 0), 1)) AS rows, sum(coalesce(len(resources), 0)) AS resources FROM cloudtrail GROUP BY eventsource

-- name: lateral-derived-name
-- about: a name computed once in a LATERAL subquery and used twice
SELECT l.who, count(*) FROM cloudtrail c CROSS JOIN LATERAL (SELECT coalesce(c.useridentity.username, split_part(c.useridentity.arn, '/', 2), c.useridentity.type) AS who) l GROUP BY l.who
-- duckdb:
SELECT coalesce(useridentity.username, split_part(useridentity.arn, '/', 2), useridentity.type) AS who, count(*) FROM cloudtrail GROUP BY 1

-- name: correlated-scalar-subquery
-- about: for each assumed-role call, how many calls its identity made in all, a correlated scalar subquery over a struct field
SELECT DISTINCT c.useridentity.arn AS arn, (SELECT count(*) FROM cloudtrail d WHERE d.useridentity.arn = c.useridentity.arn) AS total FROM cloudtrail c WHERE c.useridentity.type = 'AssumedRole'

-- name: correlated-exists
-- about: identities that also logged in to the console, EXISTS over the outer row's struct field
SELECT c.useridentity.arn AS arn, count(*) FROM cloudtrail c WHERE EXISTS (SELECT 1 FROM cloudtrail d WHERE d.eventname = 'ConsoleLogin' AND d.useridentity.arn = c.useridentity.arn) GROUP BY 1

-- name: correlated-not-exists
-- about: identities that never called GetCallerIdentity, NOT EXISTS
SELECT c.useridentity.arn AS arn, count(*) FROM cloudtrail c WHERE c.useridentity.arn IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cloudtrail d WHERE d.eventname = 'GetCallerIdentity' AND d.useridentity.arn = c.useridentity.arn) GROUP BY 1

-- name: in-subquery-struct
-- about: calls from addresses that ever got AccessDenied, IN (subquery)
SELECT sourceipaddress, count(*) FROM cloudtrail WHERE sourceipaddress IN (SELECT sourceipaddress FROM cloudtrail WHERE errorcode = 'AccessDenied') GROUP BY 1

-- name: row-number-first-call
-- about: each identity's first call, row_number() in a subquery
SELECT arn, eventname, eventtime FROM (SELECT useridentity.arn AS arn, eventname, eventtime, row_number() OVER (PARTITION BY useridentity.arn ORDER BY eventtime, eventid) AS rn FROM cloudtrail WHERE useridentity.arn IS NOT NULL) WHERE rn = 1

-- name: rank-services
-- about: services ranked by calls within each account, rank()
SELECT account, eventsource, n, rank() OVER (PARTITION BY account ORDER BY n DESC) AS rk FROM (SELECT account, eventsource, count(*) AS n FROM cloudtrail GROUP BY 1, 2)

-- name: dense-rank-errors
-- about: error codes ranked by count, dense_rank()
SELECT errorcode, n, dense_rank() OVER (ORDER BY n DESC) AS rk FROM (SELECT errorcode, count(*) AS n FROM cloudtrail WHERE errorcode IS NOT NULL GROUP BY 1)

-- name: lead-next-call
-- about: what each identity did next, lead()
SELECT useridentity.arn AS arn, eventname, lead(eventname) OVER (PARTITION BY useridentity.arn ORDER BY eventtime, eventid) AS next FROM cloudtrail WHERE year = '2018'

-- name: first-last-value
-- about: the first and last call of each address, first_value() and last_value() over a whole frame
SELECT DISTINCT sourceipaddress, first_value(eventname) OVER w AS first, last_value(eventname) OVER w AS last FROM cloudtrail WHERE year = '2018' WINDOW w AS (PARTITION BY sourceipaddress ORDER BY eventtime, eventid ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)

-- name: running-count
-- about: a running count of an identity's calls, count(*) OVER (ORDER BY ...)
SELECT useridentity.arn AS arn, eventtime, count(*) OVER (PARTITION BY useridentity.arn ORDER BY eventtime, eventid ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n FROM cloudtrail WHERE year = '2018'

-- name: ntile-quartiles
-- about: accounts in quartiles by activity, ntile()
SELECT account, n, ntile(4) OVER (ORDER BY n, account) AS quartile FROM (SELECT account, count(*) AS n FROM cloudtrail GROUP BY 1)

-- name: percent-rank-sources
-- about: each service's percentile by calls, percent_rank() and cume_dist()
SELECT eventsource, n, percent_rank() OVER (ORDER BY n) AS pr, cume_dist() OVER (ORDER BY n) AS cd FROM (SELECT eventsource, count(*) AS n FROM cloudtrail GROUP BY 1)

-- name: sliding-window-sum
-- about: calls in a sliding window of three hours, sum() over a ROWS frame on hourly counts
SELECT hour, n, sum(n) OVER (ORDER BY hour ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS last3 FROM (SELECT date_trunc('hour', from_iso8601_timestamp(eventtime)) AS hour, count(*) AS n FROM cloudtrail WHERE year = '2024' GROUP BY 1)
-- duckdb:
SELECT hour, n, sum(n) OVER (ORDER BY hour ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS last3 FROM (SELECT date_trunc('hour', CAST(eventtime AS TIMESTAMPTZ)) AS hour, count(*) AS n FROM cloudtrail WHERE year = '2024' GROUP BY 1)

-- name: count-distinct-beside-count
-- about: calls and distinct callers per service, count(DISTINCT) beside count(*)
SELECT eventsource, count(*) AS calls, count(DISTINCT useridentity.arn) AS callers, count(DISTINCT sourceipaddress) AS ips FROM cloudtrail GROUP BY 1

-- name: grouping-sets
-- about: totals per account, per region and overall, GROUPING SETS
SELECT account, region, count(*) FROM cloudtrail GROUP BY GROUPING SETS ((account), (region), ())

-- name: rollup-day
-- about: per day with subtotals per month and year, ROLLUP
SELECT year, month, day, count(*) FROM cloudtrail GROUP BY ROLLUP (year, month, day)

-- name: cube-type-error
-- about: identity type by error, CUBE
SELECT useridentity.type, errorcode IS NOT NULL AS failed, count(*) FROM cloudtrail GROUP BY CUBE (useridentity.type, errorcode IS NOT NULL)
-- duckdb:
SELECT useridentity.type AS type, errorcode IS NOT NULL AS failed, count(*) FROM cloudtrail GROUP BY CUBE (useridentity.type, errorcode IS NOT NULL)

-- name: filter-clause
-- about: successes and failures per call, count(*) FILTER (WHERE ...)
SELECT eventname, count(*) FILTER (WHERE errorcode IS NULL) AS ok, count(*) FILTER (WHERE errorcode IS NOT NULL) AS failed FROM cloudtrail GROUP BY 1

-- name: except-set
-- about: calls made in 2024 but never in 2023, EXCEPT
SELECT eventname FROM cloudtrail WHERE year = '2024' EXCEPT SELECT eventname FROM cloudtrail WHERE year = '2023'

-- name: intersect-set
-- about: calls made in two years, INTERSECT
SELECT eventname FROM cloudtrail WHERE year = '2024' INTERSECT SELECT eventname FROM cloudtrail WHERE year = '2023'

-- name: values-allowlist
-- about: calls from an allow-list given inline, a VALUES list without parentheses
SELECT eventname, count(*) FROM cloudtrail JOIN (VALUES 'ListBuckets', 'GetCallerIdentity', 'AssumeRole') AS allow(name) ON eventname = allow.name GROUP BY 1
-- duckdb:
SELECT eventname, count(*) FROM cloudtrail JOIN (VALUES ('ListBuckets'), ('GetCallerIdentity'), ('AssumeRole')) AS allow(name) ON eventname = allow.name GROUP BY 1

-- name: values-pairs
-- about: event names mapped to a tactic from an inline table of pairs
SELECT t.tactic, count(*) FROM cloudtrail JOIN (VALUES ('ListBuckets', 'discovery'), ('GetCallerIdentity', 'discovery'), ('CreateAccessKey', 'persistence'), ('StopLogging', 'defense-evasion')) AS t(name, tactic) ON eventname = t.name GROUP BY 1

-- name: regexp-count-digits
-- about: how many digits an access key holds, regexp_count()
SELECT useridentity.accesskeyid AS key, regexp_count(useridentity.accesskeyid, '[0-9]') AS digits FROM cloudtrail WHERE useridentity.accesskeyid IS NOT NULL AND year = '2018'
-- duckdb:
SELECT useridentity.accesskeyid AS key, len(regexp_extract_all(useridentity.accesskeyid, '[0-9]')) AS digits FROM cloudtrail WHERE useridentity.accesskeyid IS NOT NULL AND year = '2018'

-- name: regexp-position-first-digit
-- about: where the first digit of a user agent is, regexp_position() (-1 for none)
SELECT useragent, regexp_position(useragent, '[0-9]') AS at FROM cloudtrail WHERE year = '2018'
-- duckdb:
SELECT useragent, CASE WHEN regexp_matches(useragent, '[0-9]') THEN strpos(useragent, regexp_extract(useragent, '[0-9]')) ELSE -1 END AS at FROM cloudtrail WHERE year = '2018'

-- name: regexp-replace-backreference
-- about: an ARN's account and name swapped, regexp_replace() with $1 and $2
SELECT DISTINCT regexp_replace(useridentity.arn, '^arn:aws:iam::([0-9]+):user/(.+)$', '$2@$1') AS who FROM cloudtrail WHERE useridentity.type = 'IAMUser'
-- duckdb:
SELECT DISTINCT regexp_replace(useridentity.arn, '^arn:aws:iam::([0-9]+):user/(.+)$', '\2@\1', 'g') AS who FROM cloudtrail WHERE useridentity.type = 'IAMUser'

-- name: regexp-extract-group
-- about: the role name of an assumed-role ARN, regexp_extract() with a group (NULL when there is no match, where DuckDB gives '')
SELECT regexp_extract(useridentity.arn, 'assumed-role/([^/]+)/', 1) AS role, count(*) FROM cloudtrail WHERE useridentity.type = 'AssumedRole' GROUP BY 1
-- duckdb:
SELECT CASE WHEN regexp_matches(useridentity.arn, 'assumed-role/([^/]+)/') THEN regexp_extract(useridentity.arn, 'assumed-role/([^/]+)/', 1) END AS role, count(*) FROM cloudtrail WHERE useridentity.type = 'AssumedRole' GROUP BY 1

-- name: url-parts
-- about: a URL taken apart, the url_extract_* functions over a request's URL
SELECT url_extract_protocol(u) AS protocol, url_extract_host(u) AS host, url_extract_path(u) AS path, url_extract_parameter(u, 'Action') AS action FROM (SELECT 'https://' || eventsource || '/?Action=' || eventname || '&Version=1' AS u FROM cloudtrail WHERE year = '2018')
-- duckdb:
SELECT 'https' AS protocol, eventsource AS host, '/' AS path, eventname AS action FROM cloudtrail WHERE year = '2018'

-- name: url-encode-names
-- about: event names as URL parameters and back, url_encode() and url_decode()
SELECT eventname, url_encode(eventname || ' by ' || coalesce(useridentity.type, '?')) AS q, url_decode(url_encode(eventname || ' & ' || account)) AS back FROM cloudtrail WHERE year = '2018'
-- duckdb:
SELECT eventname, replace(url_encode(eventname || ' by ' || coalesce(useridentity.type, '?')), '%20', '+') AS q, eventname || ' & ' || account AS back FROM cloudtrail WHERE year = '2018'

-- name: sha256-event-ids
-- about: event ids hashed, lower(to_hex(sha256(to_utf8())))
SELECT eventid, lower(to_hex(sha256(to_utf8(eventid)))) AS h FROM cloudtrail WHERE year = '2018'
-- duckdb:
SELECT eventid, sha256(eventid) AS h FROM cloudtrail WHERE year = '2018'

-- name: sha1-and-base64
-- about: sha1 and base64 of the request id
SELECT requestid, lower(to_hex(sha1(to_utf8(requestid)))) AS h, to_base64(to_utf8(requestid)) AS b FROM cloudtrail WHERE year = '2018' AND requestid IS NOT NULL
-- duckdb:
SELECT requestid, sha1(requestid) AS h, to_base64(requestid::BLOB) AS b FROM cloudtrail WHERE year = '2018' AND requestid IS NOT NULL

-- name: from-base64-roundtrip
-- about: base64 and back, from_utf8(from_base64(to_base64()))
SELECT count(*) FROM cloudtrail WHERE from_utf8(from_base64(to_base64(to_utf8(eventname)))) = eventname
-- duckdb:
SELECT count(*) FROM cloudtrail WHERE eventname IS NOT NULL

-- name: lpad-rpad-hours
-- about: a fixed-width hour label, lpad() and rpad()
SELECT lpad(CAST(hour(from_iso8601_timestamp(eventtime)) AS VARCHAR), 2, '0') || rpad('h', 3, '.') AS label, count(*) FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT lpad(CAST(hour(CAST(eventtime AS TIMESTAMPTZ)) AS VARCHAR), 2, '0') || rpad('h', 3, '.') AS label, count(*) FROM cloudtrail GROUP BY 1

-- name: starts-with-and-reverse
-- about: services by name, starts_with() and reverse() of a string
SELECT DISTINCT eventsource, reverse(eventsource) AS backwards FROM cloudtrail WHERE starts_with(eventsource, 's')

-- name: concat-ws-and-translate
-- about: a label of identity and call, concat_ws() and translate()
SELECT DISTINCT concat_ws(':', useridentity.type, eventname) AS label, translate(eventsource, '.', '_') AS source FROM cloudtrail WHERE year = '2018'

-- name: chr-codepoint
-- about: the first letter of each call and its code, substr() and codepoint()
SELECT substr(eventname, 1, 1) AS letter, codepoint(substr(eventname, 1, 1)) AS code, count(*) FROM cloudtrail GROUP BY 1, 2
-- duckdb:
SELECT substr(eventname, 1, 1) AS letter, unicode(substr(eventname, 1, 1)) AS code, count(*) FROM cloudtrail GROUP BY 1, 2

-- name: position-in
-- about: where the first dot of a service name is, position(... IN ...)
SELECT DISTINCT eventsource, position('.' IN eventsource) AS dot FROM cloudtrail

-- name: date-trunc-day-counts
-- about: calls per day from the event time, date_trunc('day')
SELECT date_trunc('day', from_iso8601_timestamp(eventtime)) AS day, count(*) FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT date_trunc('day', CAST(eventtime AS TIMESTAMPTZ)) AS day, count(*) FROM cloudtrail GROUP BY 1

-- name: day-of-week-activity
-- about: calls per ISO day of the week, day_of_week()
SELECT day_of_week(from_iso8601_timestamp(eventtime)) AS dow, count(*) FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT isodow(CAST(eventtime AS TIMESTAMPTZ)) AS dow, count(*) FROM cloudtrail GROUP BY 1

-- name: at-time-zone-hour
-- about: calls per hour of the day in Tokyo, AT TIME ZONE and hour()
SELECT hour(from_iso8601_timestamp(eventtime) AT TIME ZONE 'Asia/Tokyo') AS h, count(*) FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT hour(CAST(eventtime AS TIMESTAMPTZ) AT TIME ZONE 'Asia/Tokyo') AS h, count(*) FROM cloudtrail GROUP BY 1

-- name: at-timezone-function
-- about: the local date in New York, at_timezone() and date()
SELECT date(at_timezone(from_iso8601_timestamp(eventtime), 'America/New_York')) AS local_day, count(*) FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT CAST(CAST(eventtime AS TIMESTAMPTZ) AT TIME ZONE 'America/New_York' AS DATE) AS local_day, count(*) FROM cloudtrail GROUP BY 1

-- name: format-datetime-zone-day
-- about: the local day name in Sydney, format_datetime() with a zone
SELECT format_datetime(from_iso8601_timestamp(eventtime) AT TIME ZONE 'Australia/Sydney', 'yyyy-MM-dd') AS d, count(*) FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT strftime(CAST(eventtime AS TIMESTAMPTZ) AT TIME ZONE 'Australia/Sydney', '%Y-%m-%d') AS d, count(*) FROM cloudtrail GROUP BY 1

-- name: date-diff-days-since
-- about: days between an identity's first and last call, date_diff('day')
SELECT useridentity.arn AS arn, date_diff('day', min(from_iso8601_timestamp(eventtime)), max(from_iso8601_timestamp(eventtime))) AS days FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY 1
-- duckdb:
SELECT useridentity.arn AS arn, date_diff('day', min(CAST(eventtime AS TIMESTAMPTZ)), max(CAST(eventtime AS TIMESTAMPTZ))) AS days FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY 1

-- name: to-unixtime-bucket
-- about: ten-minute buckets by epoch seconds, to_unixtime()
SELECT CAST(floor(to_unixtime(from_iso8601_timestamp(eventtime)) / 600) AS BIGINT) AS bucket, count(*) FROM cloudtrail WHERE year = '2018' GROUP BY 1
-- duckdb:
SELECT CAST(floor(epoch(CAST(eventtime AS TIMESTAMPTZ)) / 600) AS BIGINT) AS bucket, count(*) FROM cloudtrail WHERE year = '2018' GROUP BY 1

-- name: last-day-of-month
-- about: the month's last day of each event, last_day_of_month()
SELECT last_day_of_month(date(from_iso8601_timestamp(eventtime))) AS month_end, count(*) FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT last_day(CAST(CAST(eventtime AS TIMESTAMPTZ) AS DATE)) AS month_end, count(*) FROM cloudtrail GROUP BY 1

-- name: extract-fields
-- about: EXTRACT of year, month and hour
SELECT extract(year FROM from_iso8601_timestamp(eventtime)) AS y, extract(month FROM from_iso8601_timestamp(eventtime)) AS m, count(*) FROM cloudtrail GROUP BY 1, 2
-- duckdb:
SELECT extract(year FROM CAST(eventtime AS TIMESTAMPTZ)) AS y, extract(month FROM CAST(eventtime AS TIMESTAMPTZ)) AS m, count(*) FROM cloudtrail GROUP BY 1, 2

-- name: json-extract-array-index
-- about: the first instance id of RunInstances-like calls, json_extract_scalar() with an index
SELECT eventname, json_extract_scalar(responseelements, '$.instancesSet.items[0].instanceId') AS instance FROM cloudtrail WHERE json_extract_scalar(responseelements, '$.instancesSet.items[0].instanceId') IS NOT NULL
-- duckdb:
SELECT eventname, json_extract_string(responseelements, '$.instancesSet.items[0].instanceId') AS instance FROM cloudtrail WHERE json_extract_string(responseelements, '$.instancesSet.items[0].instanceId') IS NOT NULL

-- name: json-extract-object
-- about: a request's nested object as JSON, json_extract()
SELECT eventname, json_extract(requestparameters, '$.filterSet') AS filters FROM cloudtrail WHERE json_extract(requestparameters, '$.filterSet') IS NOT NULL
-- duckdb:
SELECT eventname, json_extract(requestparameters, '$.filterSet') AS filters FROM cloudtrail WHERE json_extract(requestparameters, '$.filterSet') IS NOT NULL

-- name: json-keys-count
-- about: how many request parameters a call has, json_size() of the root
SELECT eventname, json_size(requestparameters, '$') AS n FROM cloudtrail WHERE requestparameters IS NOT NULL AND year = '2018'
-- duckdb:
SELECT eventname, CASE json_type(requestparameters) WHEN 'OBJECT' THEN len(json_keys(requestparameters)) WHEN 'ARRAY' THEN json_array_length(requestparameters) ELSE 0 END AS n FROM cloudtrail WHERE requestparameters IS NOT NULL AND year = '2018'

-- name: array-distinct-sorted
-- about: the distinct resource types of each call, array_sort(array_distinct(array_agg()))
SELECT eventname, array_sort(array_distinct(array_agg(r.type))) AS types FROM cloudtrail CROSS JOIN UNNEST(resources) AS t(r) WHERE r.type IS NOT NULL GROUP BY 1
-- duckdb:
SELECT eventname, list_sort(list_distinct(list(r.type))) AS types FROM cloudtrail CROSS JOIN UNNEST(resources) AS t(r) WHERE r.type IS NOT NULL GROUP BY 1

-- name: array-position-and-contains
-- about: where 'aws-cli' is among the user agent's words, array_position() and contains()
SELECT useragent, array_position(transform(split(useragent, ' '), w -> split_part(w, '/', 1)), 'aws-cli') AS at FROM cloudtrail WHERE contains(transform(split(useragent, ' '), w -> split_part(w, '/', 1)), 'aws-cli')
-- duckdb:
SELECT useragent, list_position(list_transform(string_split(useragent, ' '), lambda w: split_part(w, '/', 1)), 'aws-cli') AS at FROM cloudtrail WHERE list_contains(list_transform(string_split(useragent, ' '), lambda w: split_part(w, '/', 1)), 'aws-cli')

-- name: array-max-min-len
-- about: the longest and shortest resource ARN per call, array_max()/array_min() of lengths
SELECT eventname, array_max(transform(resources, r -> length(r.arn))) AS longest, array_min(transform(resources, r -> length(r.arn))) AS shortest FROM cloudtrail WHERE cardinality(resources) > 0
-- duckdb:
SELECT eventname, list_max(list_transform(resources, lambda r: length(r.arn))) AS longest, list_min(list_transform(resources, lambda r: length(r.arn))) AS shortest FROM cloudtrail WHERE len(resources) > 0

-- name: array-concat-and-reverse
-- about: two arrays joined and turned around, concat() and reverse() of arrays
SELECT eventid, reverse(concat(ARRAY[eventname], split(eventsource, '.'))) AS parts FROM cloudtrail WHERE year = '2018'
-- duckdb:
SELECT eventid, list_reverse(list_concat([eventname], string_split(eventsource, '.'))) AS parts FROM cloudtrail WHERE year = '2018'

-- name: arrays-overlap-intersect
-- about: calls whose resources share an account with a list, arrays_overlap()
SELECT eventname, count(*) FROM cloudtrail WHERE arrays_overlap(transform(resources, r -> r.accountid), ARRAY['123837392027', '056392974792']) GROUP BY 1
-- duckdb:
SELECT eventname, count(*) FROM cloudtrail WHERE list_has_any(list_transform(resources, lambda r: r.accountid), ['123837392027', '056392974792']) GROUP BY 1

-- name: array-remove-all
-- about: the words of a user agent without one word, array_remove() (every match)
SELECT DISTINCT array_remove(split(useragent, ' '), 'exec-env/AWS_Lambda_python3.6') AS words FROM cloudtrail WHERE year = '2018'
-- duckdb:
SELECT DISTINCT list_filter(string_split(useragent, ' '), lambda w: w != 'exec-env/AWS_Lambda_python3.6') AS words FROM cloudtrail WHERE year = '2018'

-- name: flatten-resource-arns
-- about: every ARN of a call in one array, flatten(array_agg())
SELECT eventname, cardinality(flatten(array_agg(transform(resources, r -> r.arn)))) AS arns FROM cloudtrail WHERE cardinality(resources) > 0 GROUP BY 1
-- duckdb:
SELECT eventname, len(flatten(list(list_transform(resources, lambda r: r.arn)))) AS arns FROM cloudtrail WHERE len(resources) > 0 GROUP BY 1

-- name: sequence-hours
-- about: every hour of a day, with its calls or zero, sequence() unnested
SELECT h, count(c.eventid) FROM UNNEST(sequence(0, 23)) AS t(h) LEFT JOIN (SELECT eventid, hour(from_iso8601_timestamp(eventtime)) AS hh FROM cloudtrail WHERE year = '2018') c ON c.hh = t.h GROUP BY h
-- duckdb:
SELECT h, count(c.eventid) FROM (SELECT unnest(generate_series(0, 23)) AS h) t LEFT JOIN (SELECT eventid, hour(CAST(eventtime AS TIMESTAMPTZ)) AS hh FROM cloudtrail WHERE year = '2018') c ON c.hh = t.h GROUP BY h

-- name: repeat-array
-- about: an array of one word repeated, repeat() (an array in Trino)
SELECT DISTINCT cardinality(repeat(eventname, 3)) AS n, array_join(repeat('x', 2), '-') AS xs FROM cloudtrail WHERE year = '2018'
-- duckdb:
SELECT DISTINCT 3 AS n, 'x-x' AS xs FROM cloudtrail WHERE year = '2018'

-- name: trim-array-last
-- about: an ARN's parts without the last, trim_array() over split()
SELECT DISTINCT array_join(trim_array(split(useridentity.arn, '/'), 1), '/') AS prefix FROM cloudtrail WHERE useridentity.type = 'AssumedRole'
-- duckdb:
SELECT DISTINCT array_to_string(string_split(useridentity.arn, '/')[1:len(string_split(useridentity.arn, '/')) - 1], '/') AS prefix FROM cloudtrail WHERE useridentity.type = 'AssumedRole'

-- name: greatest-least-coalesce
-- about: the later of two times and a default name, greatest(), least(), coalesce(), nullif()
SELECT eventid, greatest(eventtime, '2018-11-28T23:00:00Z') AS later, least(eventtime, '2018-11-28T23:00:00Z') AS earlier, coalesce(nullif(errorcode, ''), 'ok') AS result FROM cloudtrail WHERE year = '2018'

-- name: typeof-columns
-- about: the types of a few columns, typeof()
SELECT DISTINCT typeof(eventname) AS a, typeof(cardinality(resources)) AS b FROM cloudtrail
-- duckdb:
SELECT DISTINCT 'varchar' AS a, 'bigint' AS b FROM cloudtrail

-- name: math-functions
-- about: counts on log and root scales, ln(), log10(), sqrt(), power(), round(x, d), mod()
SELECT eventsource, round(ln(count(*)), 3) AS l, round(log10(count(*)), 3) AS l10, round(sqrt(count(*)), 2) AS s, power(count(*), 2) AS sq, mod(count(*), 7) AS m FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT eventsource, round(ln(count(*)), 3) AS l, round(log10(count(*)), 3) AS l10, round(sqrt(count(*)), 2) AS s, power(count(*), 2) AS sq, count(*) % 7 AS m FROM cloudtrail GROUP BY 1

-- name: width-bucket-hours
-- about: calls in six-hour buckets, width_bucket()
SELECT width_bucket(hour(from_iso8601_timestamp(eventtime)), 0, 24, 4) AS bucket, count(*) FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT CAST(floor(hour(CAST(eventtime AS TIMESTAMPTZ)) * 4 / 24) AS BIGINT) + 1 AS bucket, count(*) FROM cloudtrail GROUP BY 1

-- name: stddev-variance
-- about: spread of calls per hour for each account, stddev() and variance()
SELECT account, round(stddev(n), 4) AS sd, round(variance(n), 4) AS var FROM (SELECT account, substr(eventtime, 1, 13) AS h, count(*) AS n FROM cloudtrail GROUP BY 1, 2) GROUP BY account HAVING count(*) > 1

-- name: bool-and-or
-- about: accounts where every call succeeded, or any was read-only, bool_and()/bool_or()/every()
SELECT account, bool_and(errorcode IS NULL) AS all_ok, bool_or(readonly = 'true') AS any_read, every(eventname IS NOT NULL) AS named FROM cloudtrail GROUP BY 1
-- duckdb:
SELECT account, bool_and(errorcode IS NULL) AS all_ok, bool_or(readonly = 'true') AS any_read, bool_and(eventname IS NOT NULL) AS named FROM cloudtrail GROUP BY 1

-- name: min-by-first-address
-- about: each identity's first address, min_by()
SELECT useridentity.arn AS arn, min_by(sourceipaddress, eventtime || eventid) AS first_ip FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY 1
-- duckdb:
SELECT useridentity.arn AS arn, arg_min(sourceipaddress, eventtime || eventid) AS first_ip FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY 1

-- name: saved-table-name-date-partition
-- about: a saved query on the console's table name with the projection's date_partition
SELECT eventname, count(*) FROM cloudtrail_logs_mybucket WHERE date_partition >= '2024/08/01' AND date_partition <= '2024/08/02' GROUP BY 1
-- duckdb:
SELECT eventname, count(*) FROM cloudtrail WHERE concat(year, '/', month, '/', day) BETWEEN '2024/08/01' AND '2024/08/02' GROUP BY 1

-- name: saved-quoted-db-table-camelcase
-- about: a three-part quoted table name and camelCase quoted columns
SELECT "eventName", "sourceIPAddress" FROM "awsdatacatalog"."security"."CloudTrail" WHERE "eventSource" = 'sts.amazonaws.com'
-- duckdb:
SELECT eventname, sourceipaddress FROM cloudtrail WHERE eventsource = 'sts.amazonaws.com'

-- name: saved-account-region-partition
-- about: the bootstrap's account_partition and region_partition names
SELECT account_partition, region_partition, count(*) FROM cloudtrail_000000000000 GROUP BY 1, 2
-- duckdb:
SELECT account, region, count(*) FROM cloudtrail GROUP BY 1, 2

-- name: cte-chain-burst
-- about: two CTEs: calls per identity and minute, then the bursts among them
WITH per_minute AS (SELECT useridentity.arn AS arn, date_trunc('minute', from_iso8601_timestamp(eventtime)) AS m, count(*) AS n FROM cloudtrail GROUP BY 1, 2), bursts AS (SELECT arn, m, n FROM per_minute WHERE n >= 20) SELECT arn, count(*) AS minutes, max(n) AS peak FROM bursts GROUP BY arn
-- duckdb:
WITH per_minute AS (SELECT useridentity.arn AS arn, date_trunc('minute', CAST(eventtime AS TIMESTAMPTZ)) AS m, count(*) AS n FROM cloudtrail GROUP BY 1, 2), bursts AS (SELECT arn, m, n FROM per_minute WHERE n >= 20) SELECT arn, count(*) AS minutes, max(n) AS peak FROM bursts GROUP BY arn

-- name: self-join-within-an-hour
-- about: a key used from two addresses within an hour, a self-join on a time range
SELECT DISTINCT a.useridentity.accesskeyid AS key, a.sourceipaddress AS ip1, b.sourceipaddress AS ip2 FROM cloudtrail a JOIN cloudtrail b ON a.useridentity.accesskeyid = b.useridentity.accesskeyid AND a.sourceipaddress < b.sourceipaddress AND from_iso8601_timestamp(b.eventtime) BETWEEN from_iso8601_timestamp(a.eventtime) AND from_iso8601_timestamp(a.eventtime) + INTERVAL '1' HOUR
-- duckdb:
SELECT DISTINCT a.useridentity.accesskeyid AS key, a.sourceipaddress AS ip1, b.sourceipaddress AS ip2 FROM cloudtrail a JOIN cloudtrail b ON a.useridentity.accesskeyid = b.useridentity.accesskeyid AND a.sourceipaddress < b.sourceipaddress AND CAST(b.eventtime AS TIMESTAMPTZ) BETWEEN CAST(a.eventtime AS TIMESTAMPTZ) AND CAST(a.eventtime AS TIMESTAMPTZ) + INTERVAL '1' HOUR

-- name: case-simple-form
-- about: a simple CASE on the identity type
SELECT CASE useridentity.type WHEN 'Root' THEN 'root' WHEN 'IAMUser' THEN 'user' WHEN 'AssumedRole' THEN 'role' ELSE 'other' END AS kind, count(*) FROM cloudtrail GROUP BY 1

-- name: if-three-args
-- about: succeeded or failed per call, if() with three arguments
SELECT eventname, if(errorcode IS NULL, 'ok', 'failed') AS result, count(*) FROM cloudtrail GROUP BY 1, 2
-- duckdb:
SELECT eventname, CASE WHEN errorcode IS NULL THEN 'ok' ELSE 'failed' END AS result, count(*) FROM cloudtrail GROUP BY 1, 2

-- name: try-json-number
-- about: a request's numeric field or NULL, try(CAST(json_extract_scalar() AS INTEGER))
SELECT eventname, try(CAST(json_extract_scalar(requestparameters, '$.maxResults') AS INTEGER)) AS max_results FROM cloudtrail WHERE json_extract_scalar(requestparameters, '$.maxResults') IS NOT NULL
-- duckdb:
SELECT eventname, TRY_CAST(json_extract_string(requestparameters, '$.maxResults') AS INTEGER) AS max_results FROM cloudtrail WHERE json_extract_string(requestparameters, '$.maxResults') IS NOT NULL

-- name: order-by-nulls-last-limit
-- about: the ten latest failures, ORDER BY ... DESC NULLS LAST with LIMIT
-- ordered
SELECT eventtime, eventid, errorcode FROM cloudtrail WHERE errorcode IS NOT NULL ORDER BY eventtime DESC NULLS LAST, eventid LIMIT 10

-- name: offset-paging
-- about: the second page of calls, OFFSET and LIMIT
-- ordered
SELECT eventid, eventtime FROM cloudtrail ORDER BY eventtime, eventid OFFSET 10 LIMIT 10
-- duckdb:
SELECT eventid, eventtime FROM cloudtrail ORDER BY eventtime, eventid LIMIT 10 OFFSET 10

-- name: distinct-on-struct
-- about: the distinct session issuers, SELECT DISTINCT of a nested struct field
SELECT DISTINCT useridentity.sessioncontext.sessionissuer.username FROM cloudtrail WHERE useridentity.sessioncontext.sessionissuer.username IS NOT NULL

-- name: approx-percentile-gap
-- about: the median and 90th percentile of the events per identity, approx_percentile() on a small set
SELECT approx_percentile(n, 0.5) AS p50 FROM (SELECT useridentity.arn, count(*) AS n FROM cloudtrail GROUP BY 1) HAVING count(*) > 0
-- duckdb:
SELECT quantile_disc(n, 0.5) AS p50 FROM (SELECT useridentity.arn, count(*) AS n FROM cloudtrail GROUP BY 1) HAVING count(*) > 0

-- name: ip-in-cidr
-- about: calls from private ranges, contains() with a CIDR and an address
SELECT sourceipaddress, count(*) FROM cloudtrail WHERE regexp_like(sourceipaddress, '^[0-9.]+$') AND (contains('10.0.0.0/8', CAST(sourceipaddress AS IPADDRESS)) OR contains('172.16.0.0/12', CAST(sourceipaddress AS IPADDRESS)) OR contains('192.168.0.0/16', CAST(sourceipaddress AS IPADDRESS))) GROUP BY 1
-- duckdb:
SELECT sourceipaddress, count(*) FROM cloudtrail WHERE regexp_matches(sourceipaddress, '^[0-9.]+$') AND (sourceipaddress LIKE '10.%' OR regexp_matches(sourceipaddress, '^172\.(1[6-9]|2[0-9]|3[01])\.') OR sourceipaddress LIKE '192.168.%') GROUP BY 1
