"""Reads the tables `ctiscope export` wrote with DuckDB and checks them against ctiscope's
own outputs for the same captures (decode -T jsonl, stats -T json, check --all -T jsonl) and,
where there is one, the capture's truth file. Used by tests/export.rs.

    python export_checks.py PLAN.json

PLAN: {"dir": DIR, "captures": [{"file", "jsonl", "stats", "check", "truth"}]}. Prints one
line per capture checked; any difference raises (non-zero exit) naming the capture.
"""
import json
import sys

import duckdb

plan = json.load(open(sys.argv[1]))
out = plan["dir"]
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
for t in ["messages", "requests", "findings", "sessions", "calls", "agent_states", "gaps"]:
    con.execute(
        f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{out}/{t}/*/*/*.parquet', hive_partitioning=true)"
    )
manifest = {}
for line in con.execute(f"SELECT file, capture, rows FROM read_json_auto('{out}/_manifest/*.json')").fetchall():
    manifest[line[0]] = (line[1], line[2])


def rows(sql, *params):
    return con.execute(sql, list(params)).fetchall()


def nearest_rank(sorted_values, p):
    if not sorted_values:
        return 0
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


checked = 0
for cap in plan["captures"]:
    name = cap["file"]
    check(name in manifest, f"{name}: not in the manifest")
    cid, counts = manifest[name]
    # Every message, in capture order, as decode -T jsonl gives it.
    expected = [json.loads(l) for l in open(cap["jsonl"]) if l.strip()]
    expected = [m for m in expected if m.get("event") == "message"]
    got = rows(
        "SELECT frame, time_ns, connection, direction, type, type_id, length, stream_offset, protocol_version,"
        " version_source, invoke_id, agent_id, fields FROM messages WHERE capture = ?"
        " ORDER BY frame, connection, direction, stream_offset",
        cid,
    )
    check(len(got) == len(expected), f"{name}: {len(got)} messages in the table, decode printed {len(expected)}")
    check(counts["messages"] == len(got), f"{name}: the manifest counts {counts['messages']} messages")
    expected.sort(key=lambda m: (m["frame"], m["connection"], m["direction"], m["stream_offset"]))
    for g, e in zip(got, expected):
        want = (e["frame"], e["epoch_ns"], e["connection"], e["direction"], e["type"], e["type_id"], e["length"],
                e["stream_offset"], e["protocol_version"], e["version_source"])
        check(tuple(g[:10]) == want, f"{name}: frame {e['frame']}: {g[:10]} != {want}")
        fields = json.loads(g[12])
        fixed, named = e["fields"], e["named"]
        for k, v in fixed.items():
            check(fields.get(k) in (v, named.get(k)), f"{name}: frame {e['frame']}: {k} = {fields.get(k)!r}, decode: {v!r}")
        seen = {}
        for f in e["floating"]:
            seen[f["name"]] = seen.get(f["name"], 0) + 1
            key = f["name"] if seen[f["name"]] == 1 else f"{f['name']}#{seen[f['name']]}"
            check(fields.get(key) in (f["value"], f.get("named")), f"{name}: frame {e['frame']}: {key} = {fields.get(key)!r}, decode: {f['value']!r}")
        check(g[10] == fixed.get("InvokeID"), f"{name}: frame {e['frame']}: invoke_id {g[10]}")
        agent = fixed.get("AgentID", next((f["value"] for f in e["floating"] if f["name"] == "AgentID"), None))
        check(g[11] == agent, f"{name}: frame {e['frame']}: agent_id {g[11]!r} != {agent!r}")

    stats = json.load(open(cap["stats"]))
    # Requests: every pair stats counts, with the same latencies.
    for lat in stats["latency"]:
        vals = sorted(r[0] for r in rows(
            "SELECT latency_ns FROM requests WHERE capture = ? AND request = ? AND latency_ns IS NOT NULL",
            cid, lat["request"]))
        check(len(vals) == lat["count"], f"{name}: {lat['request']}: {len(vals)} answered, stats {lat['count']}")
        for p in (50, 90, 99):
            check(nearest_rank(vals, p) == lat[f"p{p}_ns"], f"{name}: {lat['request']} p{p}")
        check(max(vals) == lat["max_ns"], f"{name}: {lat['request']} max")
    answered = rows("SELECT count(*) FROM requests WHERE capture = ? AND reply IS NOT NULL", cid)[0][0]
    check(answered == sum(l["count"] for l in stats["latency"]), f"{name}: answered requests")
    # Agents: one interval per state change, time in each state as stats sums it.
    for a in stats["agents"]:
        n = rows("SELECT count(*) FROM agent_states WHERE capture = ? AND agent_id = ?", cid, a["agent"])[0][0]
        check(n == a["state_changes"], f"{name}: agent {a['agent']}: {n} intervals, stats {a['state_changes']} changes")
        for state, ns in a["time_in_state_ns"].items():
            full = state if state.isdigit() else "AGENT_STATE_" + state
            got_ns = rows("SELECT coalesce(sum(duration_ns), -1) FROM agent_states WHERE capture = ? AND agent_id = ?"
                          " AND state = ?", cid, a["agent"], full)[0][0]
            check(got_ns == ns, f"{name}: agent {a['agent']} {state}: {got_ns} ns, stats {ns}")
    # Calls, sessions, findings.
    check(stats["calls_not_kept"] == 0, f"{name}: calls not kept")
    calls = rows("SELECT first_frame, call_ids, ring_ns, talk_ns, hold_ns, device FROM calls WHERE capture = ?"
                 " ORDER BY first_frame, call", cid)
    want = sorted((c["first_frame"], json.dumps(c["call_ids"], separators=(",", ":")), c.get("ring_ns"),
                   c.get("talk_ns"), c["hold_ns"], c["device"]) for c in stats["calls"])
    check(sorted(calls) == want, f"{name}: calls {calls} != {want}")
    n = rows("SELECT count(*) FROM sessions WHERE capture = ?", cid)[0][0]
    check(n == len(stats["connections"]), f"{name}: {n} sessions, stats {len(stats['connections'])}")
    findings = [json.loads(l) for l in open(cap["check"]) if l.strip()]
    want = sorted((f["rule"], min(f["frames"]) if f["frames"] else None) for f in findings)
    got = sorted(tuple(r) for r in rows("SELECT rule, frame FROM findings WHERE capture = ?", cid))
    check(got == want, f"{name}: findings {got} != {want}")
    # The truth of a scripted scenario.
    if cap.get("truth"):
        truth = [json.loads(l) for l in open(cap["truth"]) if l.strip()]
        reqs = [t for t in truth if t["kind"] == "request"]
        check(reqs, f"{name}: the truth lists requests")
        for t in reqs:
            r = rows("SELECT reply, reply_frame, invoke_id FROM requests WHERE capture = ? AND request = ?"
                     " AND request_frame = ?", cid, t["request"], t["frame"])
            check(len(r) == 1, f"{name}: truth request {t}: rows {r}")
            check(r[0] == (t.get("answer"), t.get("answer_frame"), t["invoke"]), f"{name}: truth request {t}: {r[0]}")
        for t in (t for t in truth if t["kind"] == "request-unanswered"):
            r = rows("SELECT reply, status FROM requests WHERE capture = ? AND request = ? AND request_frame = ?",
                     cid, t["request"], t["frame"])
            check(r == [(None, "unanswered")], f"{name}: truth unanswered request {t}: {r}")
        last = {}
        for t in (t for t in truth if t["kind"] == "agent-state"):
            if last.get(t["agent"]) == t["state"]:
                continue
            last[t["agent"]] = t["state"]
            r = rows("SELECT count(*) FROM agent_states WHERE capture = ? AND agent_id = ? AND state = ?"
                     " AND start_frame = ?", cid, t["agent"], t["state"], t["frame"])
            check(r[0][0] == 1, f"{name}: truth agent state {t}: {r}")
    checked += 1
    print(f"{name}: {len(expected)} messages, {answered} answered requests, {len(got)} findings: as ctiscope reports them")
print(f"{checked} captures checked")
