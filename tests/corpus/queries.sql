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
