#!/usr/bin/env python3
"""The independent side of auditlake's Sigma differential test: pySigma's SQLite backend.

Usage: python pysigma_diff.py RULES_DIR EVENTS_DIR

Loads the raw events (NDJSON, one file per vendor) into SQLite as pySigma's SQLite backend
expects them (Zircolite's shape: one table per log source, one column per flattened field,
every column COLLATE NOCASE, plus the record's JSON text for keyword search), converts every
rule of RULES_DIR with pySigma, runs the queries, and prints one JSON object:

  {"<rule name or id>": ["<event id>", ...]}                 for detection rules
  {"<rule name or id>": ["t:YYYY-MM-DD HH:MM:SS.sss", ...]}   for correlation rules (the
                                                             occurrence times of the alerts)

Rules pySigma cannot convert are reported as {"<name>": {"error": "..."}}. Nothing here is
auditlake's code: the field names are the vendor's own, the only shared input is the files.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import sys
from pathlib import Path

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule

# The vendor each table holds, by Sigma logsource product; the id and time fields are the
# vendor's own (CloudTrail eventID/eventTime, Okta uuid/published, GitHub _document_id and
# @timestamp in epoch ms, Teleport uid/time).
VENDORS = {
    "aws": ("eventID", "eventTime"),
    "okta": ("uuid", "published"),
    "github": ("_document_id", "@timestamp"),
    "teleport": ("uid", "time"),
}


def vendor(rec: dict) -> str:
    if "_document_id" in rec or "@timestamp" in rec:
        return "github"
    if "eventVersion" in rec:
        return "aws"
    if "eventType" in rec and "published" in rec:
        return "okta"
    return "teleport"


def flatten(rec: dict, prefix: str = "", out: dict | None = None) -> dict:
    """Leaves by dotted path; a JSON key that itself holds a dot stays one segment."""
    out = {} if out is None else out
    for k, v in rec.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flatten(v, key + ".", out)
        elif isinstance(v, list):
            continue  # Sigma fields name scalars; arrays are not matched by either side.
        elif isinstance(v, bool):
            out[key] = "true" if v else "false"
        else:
            out[key] = v
    return out


def iso(value) -> str:
    if isinstance(value, (int, float)):
        t = dt.datetime.fromtimestamp(value / 1000, dt.timezone.utc)
    else:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def load(conn: sqlite3.Connection, events_dir: Path) -> None:
    rows: dict[str, list[tuple[dict, str]]] = {v: [] for v in VENDORS}
    for f in sorted(events_dir.glob("*.ndjson")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                rows[vendor(rec)].append((rec, line))
    for v, recs in rows.items():
        id_field, time_field = VENDORS[v]
        flat = [flatten(r) for r, _ in recs]
        cols = sorted({k for fr in flat for k in fr}, key=str.lower)
        seen, unique = set(), []
        for c in cols:  # SQLite column names are case-insensitive
            if c.lower() not in seen:
                seen.add(c.lower())
                unique.append(c)
        decl = ", ".join(f"{quote(c)} COLLATE NOCASE" for c in unique)
        extra = "sigma_eid TEXT, sigma_ts TEXT, sigma_raw TEXT COLLATE NOCASE"
        conn.execute(f"CREATE TABLE logs_{v} ({extra}{', ' + decl if decl else ''})")
        for (rec, line), fr in zip(recs, flat):
            names = ["sigma_eid", "sigma_ts", "sigma_raw"] + list(fr)
            vals = [str(rec[id_field]), iso(rec[time_field]), line] + list(fr.values())
            conn.execute(
                f"INSERT INTO logs_{v} ({', '.join(map(quote, names))}) "
                f"VALUES ({', '.join('?' * len(vals))})",
                vals,
            )


def ensure_columns(conn: sqlite3.Connection, table: str, fields) -> None:
    have = {r[1].lower() for r in conn.execute(f"PRAGMA table_info({table})")}
    for f in fields:
        if f.lower() not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {quote(f)} COLLATE NOCASE")
            have.add(f.lower())


def product_of(rule) -> str:
    if isinstance(rule, SigmaCorrelationRule):
        return product_of(rule.rules[0].rule)
    return (rule.logsource.product or "").lower()


def fields_of(rule, backend) -> set[str]:
    if isinstance(rule, SigmaCorrelationRule):
        out = set(rule.group_by or [])
        if getattr(rule.condition, "fieldref", None):
            out.add(rule.condition.fieldref)
        for ref in rule.rules:
            out |= fields_of(ref.rule, backend)
        return out
    return set(backend.required_fields(rule))


def main(rules_dir: Path, events_dir: Path) -> int:
    conn = sqlite3.connect(":memory:")
    conn.create_function(
        "REGEXP", 2, lambda p, s: s is not None and re.search(p, str(s)) is not None
    )
    load(conn, events_dir)
    result: dict[str, object] = {}
    for f in sorted(rules_dir.glob("*.yml")):
        collection = SigmaCollection.from_yaml(f.read_text(encoding="utf-8"))
        for rule in collection.rules:
            name = rule.name or str(rule.id)
            table = f"logs_{product_of(rule)}"
            backend = sqliteBackend(
                table=table,
                timestamp_field="sigma_ts",
                event_id_field="sigma_eid",
                fulltext_field="sigma_raw",
            )
            try:
                ensure_columns(conn, table, fields_of(rule, backend))
                if isinstance(rule, SigmaCorrelationRule):
                    queries = backend.convert_correlation_rule(rule)
                else:
                    queries = backend.convert_rule(rule)
                hits: set[str] = set()
                for q in queries:
                    cur = conn.execute(q)
                    cols = [d[0] for d in cur.description]
                    for row in cur:
                        rec = dict(zip(cols, row))
                        if isinstance(rule, SigmaCorrelationRule):
                            ms = round(float(rec["occurrence_time"]) * 1000)
                            hits.add("t:" + iso(ms))
                        else:
                            hits.add(str(rec["sigma_eid"]))
                result[name] = sorted(hits)
            except Exception as e:  # noqa: BLE001 - reported to the Rust side per rule
                result[name] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__ or "")
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
