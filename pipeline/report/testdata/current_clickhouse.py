"""Runs the analyst queries on current ClickHouse and compares them with 18.16.

Used by TestCurrentClickHouse (pipeline/report/current_clickhouse_test.go),
which passes a JSON file:
  {"http": "127.0.0.1:8123", "source": "<18.16 database>",
   "ddl": ["CREATE ... {db} ...", ...],
   "tables": {"touchpoints": ["event_id", ...], ...},
   "queries": [{"name": "...", "sql": "... {db} ...", "ordered": false}, ...]}
It copies the raw rows of the tables from the 18.16 server (HTTP interface),
duplicates and superseded versions included, into chDB (the ClickHouse engine
of the chdb Python package), creates the schema there with the given DDL, runs
every query on both and prints one line per query: "ok NAME" or "FAIL NAME:
why". Numbers agree to 1e-9 relative; other cells exactly.
"""
import json
import sys
import tempfile
import urllib.parse
import urllib.request

from chdb import session

cfg = json.load(open(sys.argv[1]))
DB = "current"


def ch18(sql):
    url = "http://%s/?%s" % (cfg["http"], urllib.parse.urlencode({"query": sql}))
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read().decode()


work = tempfile.mkdtemp()
s = session.Session(work + "/chdb")
print("current", s.query("SELECT version()", "TSV").bytes().decode().strip())
for stmt in cfg["ddl"]:
    s.query(stmt.replace("{db}", DB))

for table, cols in cfg["tables"].items():
    path = "%s/%s.tsv" % (work, table)
    with open(path, "w") as f:
        # In insertion order (a part's first block number; parts are never
        # split), so that where 18.16 has not merged a replaced row yet the
        # copy's last row of a key is 18.16's latest too, as FINAL keeps.
        f.write(ch18("SELECT %s FROM %s.%s ORDER BY toUInt64(splitByChar('_', _part)[2]) FORMAT TabSeparated"
                     % (", ".join(cols), cfg["source"], table)))
    types = s.query(
        "SELECT arrayStringConcat(groupArray(name || ' ' || type), ', ') FROM "
        "(SELECT name, type FROM system.columns WHERE database = '%s' AND table = '%s' AND name IN (%s) ORDER BY position)"
        % (DB, table, ", ".join("'%s'" % c for c in cols)), "TSV").bytes().decode().strip()
    # optimize_on_insert = 0: keep the duplicates in the part, as 18.16 does.
    s.query("INSERT INTO %s.%s (%s) SELECT * FROM file('%s', 'TabSeparated', '%s') SETTINGS optimize_on_insert = 0"
            % (DB, table, ", ".join(cols), path, types))


def cells(text):
    rows = []
    for line in text.split("\n"):
        if line:
            rows.append(line.split("\t"))
    return rows


def num(c):
    try:
        return float(c)
    except ValueError:
        return None


def same_cell(a, b):
    x, y = num(a), num(b)
    if x is not None and y is not None:
        return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))
    return a == b


def sort_key(row):
    return [("%.6g" % num(c)) if num(c) is not None else c for c in row]


for q in cfg["queries"]:
    name = q["name"]
    try:
        old = cells(ch18(q["sql"].replace("{db}", cfg["source"])))
    except Exception as e:  # noqa: BLE001
        print("FAIL %s: 18.16: %s" % (name, str(e).replace("\n", " ")[:500]))
        continue
    try:
        new = cells(s.query(q["sql"].replace("{db}", DB), "TSV").bytes().decode())
    except Exception as e:  # noqa: BLE001
        print("FAIL %s: current: %s" % (name, str(e).replace("\n", " ")[:500]))
        continue
    if not q["ordered"]:
        old.sort(key=sort_key)
        new.sort(key=sort_key)
    if len(old) != len(new):
        print("FAIL %s: %d rows on 18.16, %d on current" % (name, len(old), len(new)))
        continue
    bad = [(a, b) for a, b in zip(old, new) if len(a) != len(b) or not all(same_cell(x, y) for x, y in zip(a, b))]
    if bad:
        print("FAIL %s: %d rows differ, e.g. 18.16 %s, current %s" % (name, len(bad), bad[0][0], bad[0][1]))
    else:
        print("ok %s (%d rows)" % (name, len(old)))
