#!/usr/bin/env python3
"""Trino's functions, category by category as Trino's documentation lists
them, each called once through `traillake query` with the answer Trino
gives; writes (or checks) docs/trino-functions.md.

    functions.py TRAILLAKE LAKE [--write | --check]

A function is "yes" when its call answers as Trino does, "no" when it fails
and the list below says why. A call that answers differently from Trino, a
failure the list does not explain, or an explained failure that now runs is
an error (exit 1): the table can only say what was seen.
"""
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from check import norm  # noqa: E402

ANY = object()  # a call whose answer changes (now(), random()): it must run

# (category, function, a call, Trino's answer, why not when it does not run)
F = []


def f(cat, name, sql, want, why=None):
    F.append((cat, name, sql, want, why))


T = "FROM cloudtrail LIMIT 1"  # calls over a column read one row

# -- string
S = "String"
f(S, "concat", "concat('a', 'b', 'c')", "abc")
f(S, "||", "'a' || 'b'", "ab")
f(S, "length", "length('hello')", 5)
f(S, "lower", "lower('AbC')", "abc")
f(S, "upper", "upper('AbC')", "ABC")
f(S, "trim", "trim('  a  ')", "a")
f(S, "ltrim", "ltrim('  a ')", "a ")
f(S, "rtrim", "rtrim(' a  ')", " a")
f(S, "lpad", "lpad('7', 3, '0')", "007")
f(S, "rpad", "rpad('7', 3, '0')", "700")
f(S, "replace", "replace('a-b-c', '-')", "abc")
f(S, "replace (3 args)", "replace('a-b-c', '-', '+')", "a+b+c")
f(S, "reverse", "reverse('abc')", "cba")
f(S, "split", "split('a,b,c', ',')", ["a", "b", "c"])
f(S, "split (limit)", "split('a,b,c', ',', 2)", ["a", "b,c"])
f(S, "split_part", "split_part('a/b/c', '/', 2)", "b")
f(S, "strpos", "strpos('hello', 'l')", 3)
f(S, "position", "position('l' IN 'hello')", 3)
f(S, "substr", "substr('hello', 2, 3)", "ell")
f(S, "substring", "substring('hello', 2)", "ello")
f(S, "starts_with", "starts_with('hello', 'he')", True)
f(S, "chr", "chr(65)", "A")
f(S, "codepoint", "codepoint('A')", 65)
f(S, "levenshtein_distance", "levenshtein_distance('kitten', 'sitting')", 3)
f(S, "hamming_distance", "hamming_distance('abc', 'abd')", 1,
  "not in DataFusion 55; rare in CloudTrail queries")
f(S, "concat_ws", "concat_ws('-', 'a', 'b')", "a-b")
f(S, "format", "format('%s=%d', 'n', 3)", "n=3",
  "Java's format strings: no DataFusion equivalent")
f(S, "translate", "translate('abc', 'ab', 'xy')", "xyc")
f(S, "soundex", "soundex('Robert')", "R163",
  "not in DataFusion 55; no use on CloudTrail fields")
f(S, "split_to_map", "element_at(split_to_map('a=1&b=2', '&', '='), 'b')", "2",
  "not in DataFusion 55 (a map from text); url_extract_parameter covers query strings")
f(S, "to_utf8", "to_hex(to_utf8('a'))", "61")
f(S, "from_utf8", "from_utf8(to_utf8('héllo'))", "héllo")
f(S, "luhn_check", "luhn_check('79927398713')", True,
  "not in DataFusion 55")
f(S, "LIKE ... ESCAPE", "'a_b' LIKE 'a!_b' ESCAPE '!'", True)

# -- regular expressions
R = "Regular expression"
f(R, "regexp_like", "regexp_like('AKIA1234', '^AKIA')", True)
f(R, "regexp_extract", "regexp_extract('user/alice', '[a-z]+$')", "alice")
f(R, "regexp_extract (group)", "regexp_extract('role/admin-x', 'role/([a-z]+)', 1)", "admin")
f(R, "regexp_extract_all", "regexp_extract_all('a1b22c333', '[0-9]+')", ["1", "22", "333"])
f(R, "regexp_replace", "regexp_replace('a1b2', '[0-9]')", "ab")
f(R, "regexp_replace ($1)", "regexp_replace('john smith', '(\\w+) (\\w+)', '$2 $1')", "smith john")
f(R, "regexp_count", "regexp_count('a1b2c3', '[0-9]')", 3)
f(R, "regexp_position", "regexp_position('abc1', '[0-9]')", 4)
f(R, "regexp_position (none)", "regexp_position('abc', '[0-9]')", -1)
f(R, "regexp_split", "regexp_split('a1b2c', '[0-9]')", ["a", "b", "c"],
  "not in DataFusion 55; split() covers fixed separators")

# -- date and time
D = "Date and time"
f(D, "current_date", "current_date", ANY)
f(D, "now", "now()", ANY)
f(D, "current_timestamp", "current_timestamp", ANY)
f(D, "from_iso8601_timestamp", "from_iso8601_timestamp('2024-05-06T07:08:09Z')", "2024-05-06 07:08:09")
f(D, "from_iso8601_timestamp (offset)", "from_iso8601_timestamp('2024-05-06T09:08:09+02:00')", "2024-05-06 07:08:09")
f(D, "from_iso8601_date", "from_iso8601_date('2024-05-06')", "2024-05-06")
f(D, "to_iso8601", "to_iso8601(from_iso8601_timestamp('2024-05-06T07:08:09Z'))", "2024-05-06T07:08:09.000Z",
  "not in DataFusion 55; format_datetime(t, pattern) writes the same text with a pattern spelled out")
f(D, "date_parse", "date_parse('2024/05/06 07:08', '%Y/%m/%d %H:%i')", "2024-05-06 07:08:00")
f(D, "date_format", "date_format(from_iso8601_timestamp('2024-05-06T07:08:09Z'), '%Y-%m-%d %H:%i:%s')", "2024-05-06 07:08:09")
f(D, "format_datetime", "format_datetime(from_iso8601_timestamp('2024-05-06T07:08:09Z'), 'yyyy-MM-dd HH:mm')", "2024-05-06 07:08")
f(D, "format_datetime AT TIME ZONE", "format_datetime(from_iso8601_timestamp('2024-05-06T07:08:09Z') AT TIME ZONE 'Europe/Madrid', 'HH:mm')", "09:08")
f(D, "parse_datetime", "parse_datetime('2024-05-06 07:08', 'yyyy-MM-dd HH:mm')", "2024-05-06 07:08:00")
f(D, "date_trunc", "date_trunc('hour', from_iso8601_timestamp('2024-05-06T07:08:09Z'))", "2024-05-06 07:00:00")
f(D, "date_add", "date_add('day', 2, from_iso8601_timestamp('2024-05-06T07:08:09Z'))", "2024-05-08 07:08:09")
f(D, "date_diff", "date_diff('minute', from_iso8601_timestamp('2024-05-06T07:00:00Z'), from_iso8601_timestamp('2024-05-06T08:30:00Z'))", 90)
f(D, "interval arithmetic", "from_iso8601_timestamp('2024-05-06T07:08:09Z') - INTERVAL '1' DAY", "2024-05-05 07:08:09")
f(D, "at_timezone", "hour(at_timezone(from_iso8601_timestamp('2024-05-06T07:08:09Z'), 'Asia/Tokyo'))", 16)
f(D, "AT TIME ZONE", "hour(from_iso8601_timestamp('2024-05-06T07:08:09Z') AT TIME ZONE 'Asia/Tokyo')", 16)
f(D, "to_unixtime", "to_unixtime(from_iso8601_timestamp('2024-05-06T07:08:09Z'))", 1714979289)
f(D, "from_unixtime", "from_unixtime(1714979289)", "2024-05-06 07:08:09")
f(D, "from_unixtime (fraction)", "from_unixtime(1714979289.5)", "2024-05-06 07:08:09.500")
f(D, "year", "year(from_iso8601_timestamp('2024-05-06T07:08:09Z'))", 2024)
f(D, "month", "month(from_iso8601_timestamp('2024-05-06T07:08:09Z'))", 5)
f(D, "day", "day(from_iso8601_timestamp('2024-05-06T07:08:09Z'))", 6)
f(D, "hour", "hour(from_iso8601_timestamp('2024-05-06T07:08:09Z'))", 7)
f(D, "minute", "minute(from_iso8601_timestamp('2024-05-06T07:08:09Z'))", 8)
f(D, "second", "second(from_iso8601_timestamp('2024-05-06T07:08:09Z'))", 9)
f(D, "day_of_week", "day_of_week(from_iso8601_timestamp('2024-05-05T07:08:09Z'))", 7)
f(D, "day_of_year", "day_of_year(from_iso8601_timestamp('2024-02-01T00:00:00Z'))", 32)
f(D, "week", "week(from_iso8601_timestamp('2024-05-06T07:08:09Z'))", 19)
f(D, "quarter", "quarter(from_iso8601_timestamp('2024-05-06T07:08:09Z'))", 2)
f(D, "extract", "extract(hour FROM from_iso8601_timestamp('2024-05-06T07:08:09Z'))", 7)
f(D, "date", "date(from_iso8601_timestamp('2024-05-06T23:08:09Z'))", "2024-05-06")
f(D, "last_day_of_month", "last_day_of_month(from_iso8601_date('2024-02-10'))", "2024-02-29")
f(D, "human_readable_seconds", "human_readable_seconds(3661)", "1 hour, 1 minute, 1 second",
  "not in DataFusion 55")
f(D, "CAST(varchar AS timestamp)", "CAST('2024-05-06 07:08:09' AS TIMESTAMP)", "2024-05-06 07:08:09")

# -- JSON
J = "JSON"
f(J, "json_extract_scalar", "json_extract_scalar('{\"a\":{\"b\":\"x\"}}', '$.a.b')", "x")
f(J, "json_extract", "json_extract('{\"a\":{\"b\":1}}', '$.a')", {"b": 1})
f(J, "json_extract (array index)", "json_extract_scalar('{\"a\":[10,20]}', '$.a[1]')", "20")
f(J, "json_array_length", "json_array_length('[1,2,3]')", 3)
f(J, "json_size", "json_size('{\"a\":[1,2,3]}', '$.a')", 3)
f(J, "json_array_contains", "json_array_contains('[1,2,3]', 2)", True)
f(J, "json_array_get", "json_array_get('[\"a\",\"b\"]', 1)", "b",
  "deprecated in Trino; json_extract_scalar(x, '$[1]') answers the same")
f(J, "json_parse", "json_parse('{\"a\":1}')", {"a": 1})
f(J, "json_format", "json_format(json_parse('[1,2]'))", "[1,2]")
f(J, "is_json_scalar", "is_json_scalar('1')", True, "not in DataFusion 55")

# -- arrays
A = "Array"
f(A, "ARRAY[...]", "ARRAY[1, 2, 3]", [1, 2, 3])
f(A, "cardinality", "cardinality(ARRAY[1, 2, 3])", 3)
f(A, "contains", "contains(ARRAY['a', 'b'], 'b')", True)
f(A, "element_at", "element_at(ARRAY['a', 'b', 'c'], 2)", "b")
f(A, "element_at (negative)", "element_at(ARRAY['a', 'b', 'c'], -1)", "c")
f(A, "element_at (out of range)", "element_at(ARRAY['a'], 5)", None)
f(A, "subscript", "ARRAY['a', 'b'][2]", "b")
f(A, "array_distinct", "array_distinct(ARRAY[1, 1, 2])", [1, 2])
f(A, "array_intersect", "array_sort(array_intersect(ARRAY[1, 2, 3], ARRAY[2, 3, 4]))", [2, 3])
f(A, "array_union", "array_sort(array_union(ARRAY[1, 2], ARRAY[2, 3]))", [1, 2, 3])
f(A, "array_except", "array_except(ARRAY[1, 2, 3], ARRAY[2])", [1, 3])
f(A, "array_join", "array_join(ARRAY['a', 'b'], ',')", "a,b")
f(A, "array_max", "array_max(ARRAY[3, 1, 2])", 3)
f(A, "array_min", "array_min(ARRAY[3, 1, 2])", 1)
f(A, "array_position", "array_position(ARRAY['a', 'b'], 'b')", 2)
f(A, "array_remove", "array_remove(ARRAY[1, 2, 1], 1)", [2])
f(A, "array_sort", "array_sort(ARRAY[3, 1, 2])", [1, 2, 3])
f(A, "arrays_overlap", "arrays_overlap(ARRAY[1, 2], ARRAY[2, 3])", True)
f(A, "concat (arrays)", "concat(ARRAY[1], ARRAY[2, 3])", [1, 2, 3])
f(A, "flatten", "flatten(ARRAY[ARRAY[1], ARRAY[2, 3]])", [1, 2, 3])
f(A, "repeat", "repeat('x', 3)", ["x", "x", "x"])
f(A, "reverse (array)", "reverse(ARRAY[1, 2, 3])", [3, 2, 1])
f(A, "sequence", "sequence(1, 4)", [1, 2, 3, 4])
f(A, "slice", "slice(ARRAY[1, 2, 3, 4], 2, 2)", [2, 3])
f(A, "zip", "zip(ARRAY[1, 2], ARRAY['a', 'b'])", [{"field0": 1, "field1": "a"}, {"field0": 2, "field1": "b"}],
  "DataFusion's arrays_zip names the fields c0, c1 where Trino has field0, field1; not renamed yet")
f(A, "trim_array", "trim_array(ARRAY[1, 2, 3], 1)", [1, 2])
f(A, "combinations", "cardinality(combinations(ARRAY[1, 2, 3], 2))", 3, "not in DataFusion 55")
f(A, "ngrams", "cardinality(ngrams(ARRAY['a', 'b', 'c'], 2))", 2, "not in DataFusion 55")
f(A, "shuffle", "cardinality(shuffle(ARRAY[1, 2, 3]))", 3, "not in DataFusion 55")
f(A, "CAST AS ARRAY(VARCHAR)", "CAST(ARRAY[1, 2] AS ARRAY(VARCHAR))", ["1", "2"])
f(A, "UNNEST", "(SELECT count(*) FROM UNNEST(ARRAY[1, 2, 3]))", 3)

# -- lambdas
L = "Lambda"
f(L, "transform", "transform(ARRAY[1, 2], x -> x * 10)", [10, 20])
f(L, "transform (struct field)", "transform(resources, r -> r.accountid) IS NULL OR true", True)
f(L, "filter", "filter(ARRAY[1, 2, 3], x -> x > 1)", [2, 3])
f(L, "any_match", "any_match(ARRAY[1, 2], x -> x > 1)", True)
f(L, "all_match", "all_match(ARRAY[1, 2], x -> x > 1)", False)
f(L, "all_match (NULL)", "all_match(ARRAY[1, NULL], x -> x > 0)", None)
f(L, "none_match", "none_match(ARRAY[1, 2], x -> x > 5)", True)
f(L, "reduce", "reduce(ARRAY[1, 2, 3], 0, (s, x) -> s + x, s -> s)", 6,
  "DataFusion 55 has no fold over an array (its lambda functions are transform, filter, any_match and first)")
f(L, "zip_with", "zip_with(ARRAY[1, 2], ARRAY[3, 4], (a, b) -> a + b)", [4, 6],
  "DataFusion 55 has no two-array lambda function")
f(L, "transform_keys", "map_keys(transform_keys(map(ARRAY['a'], ARRAY[1]), (k, v) -> upper(k)))", ["A"],
  "DataFusion 55 has no lambda function over maps")
f(L, "transform_values", "map_values(transform_values(map(ARRAY['a'], ARRAY[1]), (k, v) -> v + 1))", [2],
  "DataFusion 55 has no lambda function over maps")
f(L, "map_filter", "map_keys(map_filter(map(ARRAY['a', 'b'], ARRAY[1, 2]), (k, v) -> v > 1))", ["b"],
  "DataFusion 55 has no lambda function over maps")

# -- maps
M = "Map"
f(M, "map", "element_at(map(ARRAY['a', 'b'], ARRAY[1, 2]), 'b')", 2)
f(M, "map_keys", "map_keys(map(ARRAY['a', 'b'], ARRAY[1, 2]))", ["a", "b"])
f(M, "map_values", "map_values(map(ARRAY['a', 'b'], ARRAY[1, 2]))", [1, 2])
f(M, "element_at (map)", "element_at(map(ARRAY['a'], ARRAY[1]), 'z')", None)
f(M, "subscript (map)", "map(ARRAY['a'], ARRAY[1])['a']", 1)
f(M, "cardinality (map)", "cardinality(map(ARRAY['a', 'b'], ARRAY[1, 2]))", 2)
f(M, "map_entries", "map_entries(map(ARRAY['a'], ARRAY[1]))", [{"key": "a", "value": 1}])
f(M, "map_from_entries", "element_at(map_from_entries(ARRAY[ROW('a', 1)]), 'a')", 1,
  "DataFusion 55's map_from_entries needs named struct fields; Trino's ROW(...) has none")
f(M, "map_concat", "cardinality(map_concat(map(ARRAY['a'], ARRAY[1]), map(ARRAY['b'], ARRAY[2])))", 2,
  "not in DataFusion 55")

# -- aggregates (over the lake's rows)
G = "Aggregate"
f(G, "count", "(SELECT count(*) FROM (VALUES 1, 2, 3) t(x))", 3)
f(G, "count(DISTINCT)", "(SELECT count(DISTINCT x) FROM (VALUES 1, 1, 2) t(x))", 2)
f(G, "count_if", "(SELECT count_if(x > 1) FROM (VALUES 1, 2, 3) t(x))", 2)
f(G, "sum", "(SELECT sum(x) FROM (VALUES 1, 2, 3) t(x))", 6)
f(G, "avg", "(SELECT avg(x) FROM (VALUES 1, 2, 3, 4) t(x))", 2.5)
f(G, "min", "(SELECT min(x) FROM (VALUES 1, 2, 3) t(x))", 1)
f(G, "max", "(SELECT max(x) FROM (VALUES 1, 2, 3) t(x))", 3)
f(G, "min_by", "(SELECT min_by(y, x) FROM (VALUES (1, 'a'), (2, 'b')) t(x, y))", "a")
f(G, "max_by", "(SELECT max_by(y, x) FROM (VALUES (1, 'a'), (2, 'b')) t(x, y))", "b")
f(G, "arbitrary", "(SELECT arbitrary(x) FROM (VALUES 7) t(x))", 7)
f(G, "any_value", "(SELECT any_value(x) FROM (VALUES 7) t(x))", 7)
f(G, "array_agg", "(SELECT array_agg(x ORDER BY x) FROM (VALUES 2, 1) t(x))", [1, 2])
f(G, "bool_and", "(SELECT bool_and(x > 0) FROM (VALUES 1, 2) t(x))", True)
f(G, "bool_or", "(SELECT bool_or(x > 1) FROM (VALUES 1, 2) t(x))", True)
f(G, "every", "(SELECT every(x > 1) FROM (VALUES 1, 2) t(x))", False)
f(G, "listagg", "(SELECT listagg(x, ',') WITHIN GROUP (ORDER BY x) FROM (VALUES 'b', 'a') t(x))", "a,b",
  "WITHIN GROUP is not in DataFusion 55's parser for listagg; array_join(array_agg(x ORDER BY x), ',') answers the same")
f(G, "approx_distinct", "(SELECT approx_distinct(x) FROM (VALUES 1, 1, 2) t(x))", 2)
f(G, "approx_percentile", "(SELECT approx_percentile(x, 0.5) FROM (VALUES 1, 2, 3) t(x))", 2)
f(G, "histogram", "(SELECT histogram(x) FROM (VALUES 'a', 'b', 'a') t(x))", {"a": 2, "b": 1})
f(G, "map_agg", "(SELECT map_agg(x, y) FROM (VALUES ('a', 1), ('b', 2)) t(x, y))", {"a": 1, "b": 2})
f(G, "multimap_agg", "(SELECT cardinality(multimap_agg(x, y)) FROM (VALUES ('a', 1), ('a', 2)) t(x, y))", 1,
  "not in DataFusion 55")
f(G, "approx_most_frequent", "(SELECT cardinality(approx_most_frequent(2, x, 100)) FROM (VALUES 'a') t(x))", 1,
  "not in DataFusion 55; histogram or GROUP BY ... ORDER BY count(*) answers it exactly")
f(G, "stddev", "(SELECT stddev(x) FROM (VALUES 1, 3) t(x))", 1.414214)
f(G, "variance", "(SELECT variance(x) FROM (VALUES 1, 3) t(x))", 2)
f(G, "corr", "(SELECT corr(x, y) FROM (VALUES (1, 2), (2, 4)) t(x, y))", 1)
f(G, "checksum", "(SELECT checksum(x) FROM (VALUES 1) t(x)) IS NOT NULL", True, "not in DataFusion 55")
f(G, "FILTER (WHERE ...)", "(SELECT count(*) FILTER (WHERE x > 1) FROM (VALUES 1, 2, 3) t(x))", 2)

# -- window functions
W = "Window"
WQ = "(SELECT {f} FROM (SELECT {w} AS v, x FROM (VALUES 1, 2, 2, 3) t(x)) WHERE x = 3)"
f(W, "row_number", WQ.format(f="v", w="row_number() OVER (ORDER BY x)"), 4)
f(W, "rank", WQ.format(f="v", w="rank() OVER (ORDER BY x)"), 4)
f(W, "dense_rank", WQ.format(f="v", w="dense_rank() OVER (ORDER BY x)"), 3)
f(W, "percent_rank", WQ.format(f="v", w="percent_rank() OVER (ORDER BY x)"), 1)
f(W, "cume_dist", WQ.format(f="v", w="cume_dist() OVER (ORDER BY x)"), 1)
f(W, "ntile", WQ.format(f="v", w="ntile(2) OVER (ORDER BY x)"), 2)
f(W, "lag", WQ.format(f="v", w="lag(x) OVER (ORDER BY x)"), 2)
f(W, "lead", WQ.format(f="v", w="lead(x, 1, 0) OVER (ORDER BY x)"), 0)
f(W, "first_value", WQ.format(f="v", w="first_value(x) OVER (ORDER BY x)"), 1)
f(W, "last_value", WQ.format(f="v", w="last_value(x) OVER (ORDER BY x ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"), 3)
f(W, "nth_value", WQ.format(f="v", w="nth_value(x, 2) OVER (ORDER BY x)"), 2)
f(W, "sum OVER (frame)", WQ.format(f="v", w="sum(x) OVER (ORDER BY x ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"), 5)

# -- conditional and conversion
C = "Conditional and conversion"
f(C, "if", "if(1 > 0, 'y', 'n')", "y")
f(C, "if (2 args)", "if(1 < 0, 'y')", None)
f(C, "coalesce", "coalesce(NULL, 'b')", "b")
f(C, "nullif", "nullif('a', 'a')", None)
f(C, "try", "try(CAST('x' AS INTEGER))", None)
f(C, "try_cast", "try_cast('x' AS INTEGER)", None)
f(C, "CASE", "CASE WHEN 1 = 1 THEN 'a' ELSE 'b' END", "a")
f(C, "greatest", "greatest(1, 3, 2)", 3)
f(C, "least", "least(1, 3, 2)", 1)
f(C, "typeof", "typeof('a')", "varchar")
f(C, "CAST", "CAST('42' AS BIGINT)", 42)

# -- math
N = "Mathematical"
f(N, "abs", "abs(-2)", 2)
f(N, "ceil", "ceil(1.2)", 2)
f(N, "floor", "floor(1.8)", 1)
f(N, "round", "round(2.5)", 3)
f(N, "round (digits)", "round(3.14159, 2)", 3.14)
f(N, "truncate", "truncate(2.7)", 2)
f(N, "mod", "mod(7, 3)", 1)
f(N, "%", "7 % 3", 1)
f(N, "power", "power(2, 10)", 1024)
f(N, "sqrt", "sqrt(16)", 4)
f(N, "cbrt", "cbrt(27)", 3)
f(N, "ln", "ln(1)", 0)
f(N, "log10", "log10(1000)", 3)
f(N, "log2", "log2(8)", 3)
f(N, "log (base)", "log(2, 8)", 3)
f(N, "exp", "exp(0)", 1)
f(N, "sign", "sign(-3)", -1)
f(N, "pi", "pi()", 3.141593)
f(N, "degrees", "degrees(pi())", 180)
f(N, "radians", "radians(180)", 3.141593)
f(N, "random", "random()", ANY)
f(N, "rand", "rand()", ANY)
f(N, "width_bucket", "width_bucket(5, 0, 10, 5)", 3)
f(N, "width_bucket (above)", "width_bucket(10, 0, 10, 5)", 6)
f(N, "is_nan", "is_nan(nan())", True)
f(N, "infinity", "infinity() > 1e308", True)
f(N, "to_base", "to_base(255, 16)", "ff", "not in DataFusion 55")
f(N, "from_base", "from_base('ff', 16)", 255, "not in DataFusion 55")
f(N, "bitwise_and", "bitwise_and(12, 10)", 8)
f(N, "&", "12 & 10", 8)

# -- URL
U = "URL"
URL = "'https://user@example.com:8443/a/b?x=1&y=2#frag'"
f(U, "url_extract_host", f"url_extract_host({URL})", "example.com")
f(U, "url_extract_path", f"url_extract_path({URL})", "/a/b")
f(U, "url_extract_query", f"url_extract_query({URL})", "x=1&y=2")
f(U, "url_extract_parameter", f"url_extract_parameter({URL}, 'y')", "2")
f(U, "url_extract_protocol", f"url_extract_protocol({URL})", "https")
f(U, "url_extract_port", f"url_extract_port({URL})", 8443)
f(U, "url_extract_fragment", f"url_extract_fragment({URL})", "frag")
f(U, "url_encode", "url_encode('a b&c')", "a+b%26c")
f(U, "url_decode", "url_decode('a+b%26c')", "a b&c")

# -- IP
I = "IP address"
f(I, "IPADDRESS literal", "IPADDRESS '10.1.2.3' = IPADDRESS '10.1.2.3'", True)
f(I, "CAST AS IPADDRESS", "CAST('10.1.2.3' AS IPADDRESS) = IPADDRESS '10.1.2.3'", True)
f(I, "contains (CIDR, address)", "contains('10.0.0.0/8', CAST('10.1.2.3' AS IPADDRESS))", True)
f(I, "contains (IPPREFIX)", "contains(IPPREFIX '192.168.0.0/16', IPADDRESS '10.1.2.3')", False)
f(I, "ip_subnet_min", "CAST(ip_subnet_min(IPPREFIX '10.1.0.0/16') AS VARCHAR)", "10.1.0.0",
  "not implemented here yet: contains() answers the CIDR questions CloudTrail queries ask")
f(I, "is_subnet_of", "is_subnet_of(IPPREFIX '10.0.0.0/8', IPPREFIX '10.1.0.0/16')", True,
  "not implemented here yet: contains() answers the CIDR questions CloudTrail queries ask")

# -- binary and hashing
B = "Binary and hashing"
f(B, "md5", "to_hex(md5(to_utf8('abc')))", "900150983CD24FB0D6963F7D28E17F72")
f(B, "url_encode (no URL)", "url_decode(url_encode('é x'))", "é x")
f(B, "sha256", "to_hex(sha256(to_utf8('abc')))",
  "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")
f(B, "sha1", "to_hex(sha1(to_utf8('abc')))", "A9993E364706816ABA3E25717850C26C9CD0D89D")
f(B, "sha512", "substr(to_hex(sha512(to_utf8('abc'))), 1, 16)", "DDAF35A193617ABA")
f(B, "to_hex", "to_hex(to_utf8('AB'))", "4142")
f(B, "from_hex", "from_utf8(from_hex('4142'))", "AB")
f(B, "to_base64", "to_base64(to_utf8('hi'))", "aGk=")
f(B, "from_base64", "from_utf8(from_base64('aGk='))", "hi")
f(B, "crc32", "crc32(to_utf8('abc'))", 891568578, "not in DataFusion 55")
f(B, "xxhash64", "to_hex(xxhash64(to_utf8('abc')))", "44BC2CF5AD770999", "not in DataFusion 55")


def run(bin_, lake, sql):
    p = subprocess.run([bin_, "query", "--lake", lake, "--format", "json", sql],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["?"])[0][:160]
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return rows, None


def same(got, want):
    if want is ANY:
        return True
    g, w = norm(got), norm(want)
    if isinstance(g, str) and isinstance(w, (int, float)):
        try:
            g = norm(float(g))
        except ValueError:
            pass
    if isinstance(g, (int, float)) and isinstance(w, (int, float)):
        return abs(g - w) < 1e-6
    return g == w


def main():
    bin_, lake = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else ""
    lines, errors = [], []
    counts = {}
    for cat, name, expr, want, why in F:
        sql = f"SELECT {expr} AS v {T}" if "cloudtrail" not in expr and "resources" in expr else f"SELECT {expr} AS v"
        if "resources" in expr:
            sql = f"SELECT {expr} AS v {T}"
        rows, err = run(bin_, lake, sql)
        if err is None:
            got = rows[0]["v"] if rows else "(no row)"
            if not same(got, want):
                errors.append(f"{name}: `{expr}` gave {got!r}, Trino gives {want!r}")
                status = "wrong"
            elif why:
                errors.append(f"{name}: runs and answers as Trino now: drop its reason")
                status = "yes"
            else:
                status = "yes"
        else:
            if not why:
                errors.append(f"{name}: `{expr}` failed: {err}")
            status = "no"
        counts.setdefault(cat, [0, 0])
        counts[cat][0] += status == "yes"
        counts[cat][1] += 1
        shown = "(changes)" if want is ANY else json.dumps(want)
        lines.append((cat, name, expr, shown, status, why or ""))
    doc = ["# Trino's functions in `traillake query`", "",
           "Every function of Trino's documentation categories that CloudTrail queries use,",
           "each called once through `traillake query` and compared with the answer Trino",
           "gives. Made by `tests/corpus/functions.py` (a test runs it with `--check`, so",
           "this table says what the build does). \"no\" says why; most are not in DataFusion",
           "55, the query engine, under any name.", "",
           "| category | supported |", "|---|---|"]
    for cat, (yes, n) in counts.items():
        doc.append(f"| {cat} | {yes} of {n} |")
    total_yes = sum(v[0] for v in counts.values())
    total = sum(v[1] for v in counts.values())
    doc.append(f"| all | {total_yes} of {total} |")
    cur = None
    for cat, name, expr, shown, status, why in lines:
        if cat != cur:
            doc += ["", f"## {cat}", "", "| function | call | Trino's answer | here | why not |", "|---|---|---|---|---|"]
            cur = cat
        cell = lambda s: s.replace("|", "\\|")
        doc.append(f"| {cell(name)} | `{cell(expr)}` | `{cell(shown)}` | {status} | {cell(why)} |")
    text = "\n".join(doc) + "\n"
    path = os.path.join(HERE, "..", "..", "docs", "trino-functions.md")
    for e in errors:
        print("ERROR", e)
    print(f"functions: {total_yes} of {total} as Trino answers, {len(errors)} error(s)")
    if mode == "--write":
        open(path, "w", encoding="utf-8").write(text)
    elif mode == "--check":
        if open(path, encoding="utf-8").read() != text:
            print("ERROR docs/trino-functions.md is not what this build gives: run with --write")
            errors.append("doc")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
