#!/usr/bin/env python3
"""How far sqlglot's Trino-to-DuckDB translation of our corpus
(tests/corpus/queries.sql) gets: each query through `traillake query` and
through DuckDB as sqlglot translates it, answers compared. A measurement for
the corpus's hand-written `-- duckdb:` spellings, not a test.

    pip install sqlglot duckdb
    scripts/corpus-vs-sqlglot.py TRAILLAKE LAKE
"""
import os
import sys

import duckdb
import sqlglot

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'corpus'))
from check import parse_corpus, ours, norm, same_answer, key
bin_, lake = sys.argv[1], sys.argv[2]
con = duckdb.connect(); con.execute("SET TimeZone = 'UTC'")
con.execute(f"""CREATE VIEW cloudtrail AS SELECT * EXCLUDE (account, region, year, month, day), account, region, year, month, day FROM read_parquet('{lake}/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)""")
ok = bad = err = 0; wrong = []
for q in parse_corpus(os.path.join(sys.path[0], 'queries.sql')):
    got, e = ours(bin_, lake, q['sql'])
    try:
        t = sqlglot.transpile(q['sql'], read='trino', write='duckdb')[0]
        want = [[norm(v) for v in r] for r in con.execute(t).fetchall()]
    except Exception as ex:
        err += 1; wrong.append((q['name'], 'error', str(ex)[:80])); continue
    if same_answer(got, want, q['ordered'], unordered_lists=q['unordered_lists']): ok += 1
    else: bad += 1; wrong.append((q['name'], 'differs', ''))
print(f"sqlglot: {ok} equal, {bad} differ, {err} fail on DuckDB")
for w in wrong: print(*w)
