#!/usr/bin/env python3
"""An independent Sigma evaluator over raw CloudTrail JSON, for the tests.

It shares nothing with traillake: PyYAML reads the rules, its own parser reads
the conditions, and every rule is matched against each raw record (the
`Records` of `.json.gz`/`.json` log files) as Python objects. It implements
the semantics traillake's README states for `detect`:

- a field is a dotted path through the record's objects; a missing key is
  null; a value is text (strings as they are, numbers and booleans as JSON
  text, objects and arrays as compact JSON);
- strings match case-insensitively (unless `cased`), `*`/`?` are wildcards,
  `\\` escapes them; contains/startswith/endswith; lists are OR (AND with
  `all`); `null` is a missing field; `re` searches; `cidr`, `exists`,
  `fieldref`, `gt`/`gte`/`lt`/`lte`, `neq`; `expand` of `%aws_ip_ranges%`
  (a service name, or an address in the given ranges);
- conditions with and/or/not, parentheses, `1 of`/`all of`/`N of` a pattern
  or `them` (names starting with `_` left out);
- `event_count` / `value_count` correlations (sliding window): see counted().
- traillake's own `first_seen` rules: see first_seen().
- `temporal` correlations: an event of a member rule is an alert when every
  other member rule has an event with the same group-by value (non-null)
  within the timespan; members of a `generate: false` correlation give no
  alerts of their own.

Prints one JSON line per alert, {"rule_id": ..., "eventid": ...}, sorted.
Events are taken once per eventID, as the lake keeps them.

usage: sigma_eval.py --rules PATH... --logs DIR... [--ip-ranges FILE]
"""

import argparse
import datetime
import fnmatch
import gzip
import ipaddress
import json
import os
import re
import sys

import yaml

MISSING = object()


def rule_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    if f.endswith((".yml", ".yaml")):
                        yield os.path.join(root, f)
        else:
            yield p


def records(dirs):
    seen = set()
    for d in dirs:
        for root, dirs_, files in os.walk(d):
            dirs_.sort()
            for f in sorted(files):
                path = os.path.join(root, f)
                if f.endswith(".json.gz"):
                    with gzip.open(path, "rt", encoding="utf-8") as fh:
                        doc = json.load(fh)
                elif f.endswith(".json"):
                    with open(path, encoding="utf-8") as fh:
                        doc = json.load(fh)
                else:
                    continue
                for r in doc.get("Records", []) if isinstance(doc, dict) else []:
                    if not isinstance(r, dict):
                        continue
                    eid = r.get("eventID")
                    if eid in seen:
                        continue
                    seen.add(eid)
                    yield r


def lookup(event, path):
    v = event
    for part in path.split("."):
        if not isinstance(v, dict) or part not in v:
            return MISSING
        v = v[part]
    return v


def text(v):
    if v is MISSING or v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(v)


def wildcard_regex(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in "*?\\":
            out.append(re.escape(s[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


class Unsupported(Exception):
    pass


SUPPORTED = {
    "contains", "startswith", "endswith", "all", "re", "cidr", "cased", "exists",
    "fieldref", "gt", "gte", "lt", "lte", "neq", "i", "m", "s", "expand",
}


def value_text(val):
    if isinstance(val, bool):
        return "true" if val else "false"
    return str(val)


def match_value(event, field_text, val, mods, ranges):
    if "expand" in mods:
        if val != "%aws_ip_ranges%":
            raise Unsupported("placeholder " + str(val))
        if field_text is None:
            return False
        try:
            ip = ipaddress.ip_address(field_text)
        except ValueError:
            return True
        return any(ip in n for n in ranges if n.version == ip.version)
    if "fieldref" in mods:
        other = text(lookup(event, val))
        return field_text is not None and other is not None and field_text == other
    for op in ("gt", "gte", "lt", "lte"):
        if op in mods:
            try:
                x, y = float(field_text), float(val)
            except (TypeError, ValueError):
                return False
            return {"gt": x > y, "gte": x >= y, "lt": x < y, "lte": x <= y}[op]
    if val is None:
        return field_text is None
    if field_text is None:
        return False
    if "re" in mods:
        flags = 0
        flags |= re.IGNORECASE if "i" in mods else 0
        flags |= re.MULTILINE if "m" in mods else 0
        flags |= re.DOTALL if "s" in mods else 0
        return re.search(val, field_text, flags) is not None
    if "cidr" in mods:
        try:
            return ipaddress.ip_address(field_text) in ipaddress.ip_network(val, strict=False)
        except ValueError:
            return False
    pattern = wildcard_regex(value_text(val))
    if "contains" in mods or "endswith" in mods:
        pattern = ".*" + pattern
    if "contains" in mods or "startswith" in mods:
        pattern = pattern + ".*"
    flags = re.DOTALL | (0 if "cased" in mods else re.IGNORECASE)
    return re.fullmatch(pattern, field_text, flags) is not None


def match_item(event, key, values, ranges):
    name, *mods = key.split("|")
    for m in mods:
        if m not in SUPPORTED:
            raise Unsupported("modifier " + m)
    if not isinstance(values, list):
        values = [values]
    field_text = text(lookup(event, name))
    if "exists" in mods:
        return (field_text is not None) == bool(values[0])
    results = [match_value(event, field_text, v, mods, ranges) for v in values]
    hit = all(results) if "all" in mods else any(results)
    return not hit if "neq" in mods else hit


def match_detection(event, det, ranges):
    if isinstance(det, dict):
        return all(match_item(event, k, v, ranges) for k, v in det.items())
    if isinstance(det, list):
        if any(not isinstance(d, dict) for d in det):
            raise Unsupported("keywords")
        return any(match_detection(event, d, ranges) for d in det)
    raise Unsupported("detection of type " + type(det).__name__)


def tokenize(cond):
    return re.findall(r"\(|\)|[^\s()]+", cond)


def parse_condition(cond, names):
    """The condition as a function of {name: bool}."""
    toks = tokenize(cond)
    pos = [0]

    def peek():
        return toks[pos[0]].lower() if pos[0] < len(toks) else None

    def take():
        t = toks[pos[0]]
        pos[0] += 1
        return t

    def selected(pattern):
        if pattern == "them":
            return [n for n in names if not n.startswith("_")]
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]

    def atom():
        t = peek()
        if t == "(":
            take()
            e = or_expr()
            assert take() == ")"
            return e
        if t == "not":
            take()
            e = atom()
            return lambda m: not e(m)
        first = take()
        if peek() == "of":
            take()
            sel = selected(take())
            if first.lower() == "all":
                return lambda m: all(m[n] for n in sel)
            k = 1 if first.lower() in ("1", "any") else int(first)
            return lambda m: sum(1 for n in sel if m[n]) >= k
        return lambda m: m[first]

    def and_expr():
        parts = [atom()]
        while peek() == "and":
            take()
            parts.append(atom())
        return lambda m: all(p(m) for p in parts)

    def or_expr():
        parts = [and_expr()]
        while peek() == "or":
            take()
            parts.append(and_expr())
        return lambda m: any(p(m) for p in parts)

    e = or_expr()
    assert pos[0] == len(toks), cond
    return e


def rule_matcher(doc, ranges):
    det = dict(doc["detection"])
    cond = det.pop("condition")
    det.pop("timeframe", None)
    conds = cond if isinstance(cond, list) else [cond]
    fns = [parse_condition(c, list(det)) for c in conds]

    def matches(event):
        m = {n: match_detection(event, d, ranges) for n, d in det.items()}
        return any(f(m) for f in fns)

    return matches


def epoch(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


SPAN = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def counted(body, members, matched, key, span, aliases):
    """event_count / value_count over a sliding window: for each event of
    the member rules (each event once), the events of its group within the
    timespan up to its time are counted (events, or distinct non-null
    values of condition.field); where the count passes every predicate of
    the condition, those events alert. Written as the definition says,
    window by window, not as traillake's two pointers."""
    cond = body["condition"]
    field = cond.get("field")
    tests = {
        "gt": lambda c, n: c > n,
        "gte": lambda c, n: c >= n,
        "lt": lambda c, n: c < n,
        "lte": lambda c, n: c <= n,
        "eq": lambda c, n: c == n,
        "neq": lambda c, n: c != n,
    }
    seen = {}
    for ref, rid in zip(body["rules"], members):
        for e in matched[rid]:
            k = key(ref, e)
            if k is None or id(e) in seen:
                continue
            value = None
            if field is not None:
                fieldname = aliases[field][ref] if field in aliases else field
                value = text(lookup(e, fieldname))
            seen[id(e)] = (k, epoch(e["eventTime"]), value, e)
    groups = {}
    for k, t, v, e in seen.values():
        groups.setdefault(k, []).append((t, v, e))
    out = []
    for evs in groups.values():
        for t, _, _ in evs:
            window = [(v, e) for (to, v, e) in evs if t - span <= to <= t]
            if body["type"] == "value_count":
                count = len({v for v, _ in window if v is not None})
            else:
                count = len(window)
            if all(tests[op](count, n) for op, n in cond.items() if op in tests):
                out.extend(e for _, e in window)
    return out


def first_seen(rule, matching, in_window):
    """traillake's first_seen: the first event in the window (by time, then
    eventID) of each combination of the fields' values (none null) that no
    matching event before the window had."""
    fields = rule["first_seen"]["fields"]
    key = lambda e: tuple(text(lookup(e, f)) for f in fields)
    seen = {key(e) for e in matching if not in_window(e)}
    out = []
    for e in sorted((e for e in matching if in_window(e)), key=lambda e: (e["eventTime"], e.get("eventID") or "")):
        k = key(e)
        if any(v is None for v in k) or k in seen:
            continue
        seen.add(k)
        out.append(e)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", nargs="+", required=True)
    ap.add_argument("--logs", nargs="+", required=True)
    ap.add_argument("--ip-ranges")
    ap.add_argument("--since", help="YYYY-MM-DD: only events of this day on; first_seen's history is before it")
    ap.add_argument("--no-history", action="store_true", help="first_seen ignores the days before --since")
    a = ap.parse_args()
    ranges = []
    if a.ip_ranges:
        doc = json.load(open(a.ip_ranges))
        ranges = [ipaddress.ip_network(p["ip_prefix"]) for p in doc.get("prefixes", [])]
        ranges += [ipaddress.ip_network(p["ipv6_prefix"]) for p in doc.get("ipv6_prefixes", [])]
    rules, correlations = [], []
    for f in rule_files(a.rules):
        for doc in yaml.safe_load_all(open(f, encoding="utf-8")):
            if not isinstance(doc, dict):
                continue
            if "correlation" in doc:
                correlations.append(doc)
            elif "detection" in doc:
                ls = doc.get("logsource", {})
                if ls.get("product") == "aws" and ls.get("service") == "cloudtrail":
                    rules.append(doc)
    every = list(records(a.logs))
    in_window = lambda e: a.since is None or e["eventTime"][:10] >= a.since
    events = [e for e in every if in_window(e)]
    matched = {}
    skipped = []
    alerts = []
    for r in rules:
        rid = r.get("id") or r.get("name") or r["title"]
        try:
            m = rule_matcher(r, ranges)
            if "first_seen" in r:
                history = [] if a.no_history else [e for e in every if not in_window(e)]
                alerts.extend((rid, e.get("eventID")) for e in first_seen(r, [e for e in history + events if m(e)], in_window))
                continue
            matched[rid] = [e for e in events if m(e)]
        except Unsupported as e:
            skipped.append((rid, str(e)))
    by_ref = {}
    for r in rules:
        for key in ("id", "name"):
            if r.get(key):
                by_ref[r[key]] = r.get("id") or r.get("name") or r["title"]
    hidden = set()
    for c in correlations:
        cid = c.get("id") or c.get("name") or c["title"]
        body = c["correlation"]
        members = [by_ref[x] for x in body["rules"]]
        if not body.get("generate", False):
            hidden.update(members)
        if body["type"] not in ("temporal", "event_count", "value_count"):
            continue
        span = int(body["timespan"][:-1]) * SPAN[body["timespan"][-1]]
        aliases = body.get("aliases", {})

        def key(ref, event):
            vals = []
            for g in body.get("group-by", []):
                fieldname = aliases[g][ref] if g in aliases else g
                vals.append(text(lookup(event, fieldname)))
            return None if any(v is None for v in vals) else tuple(vals)

        if body["type"] in ("event_count", "value_count"):
            alerts.extend((cid, e.get("eventID")) for e in counted(body, members, matched, key, span, aliases))
            continue

        keyed = [
            [(key(ref, e), epoch(e["eventTime"]), e) for e in matched[rid]]
            for ref, rid in zip(body["rules"], members)
        ]
        for k, events_k in enumerate(keyed):
            for kk, t, e in events_k:
                if kk is None:
                    continue
                if all(
                    any(ko == kk and abs(to - t) <= span for ko, to, _ in keyed[o])
                    for o in range(len(keyed))
                    if o != k
                ):
                    alerts.append((cid, e.get("eventID")))
    for rid, evs in matched.items():
        if rid in hidden:
            continue
        alerts.extend((rid, e.get("eventID")) for e in evs)
    for rid, why in skipped:
        print(json.dumps({"skipped": rid, "reason": why}), file=sys.stderr)
    for rid, eid in sorted(set(alerts)):
        print(json.dumps({"rule_id": rid, "eventid": eid}))


if __name__ == "__main__":
    main()
