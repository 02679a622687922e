//! What the analysis produces, and how it prints: findings (table or JSON lines), the
//! timeline (table or JSON), statistics and the rule list. Everything is sorted: output does
//! not depend on hash order.

use super::session::Pending;
use super::{Analyzer, Finding, Severity};
use crate::cti::decode::Decoded;
use crate::pipeline::Direction;
use crate::render::time;
use crate::TimestampNs;
use comfy_table::{presets, Table};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// JSON schema version of the analysis output.
pub const SCHEMA: u32 = 1;

/// One connection.
#[derive(Debug, Clone)]
pub struct ConnSummary {
    pub conn: u32,
    pub client: Option<String>,
    pub server: Option<String>,
    pub midstream: bool,
    pub first_frame: u64,
    pub first_ts: TimestampNs,
    pub last_ts: TimestampNs,
    pub end: &'static str,
    pub open: &'static str,
    pub version: Option<u32>,
    pub client_id: Option<String>,
    pub agent_id: Option<String>,
    pub services_granted: Option<u32>,
    pub session_type: Option<u64>,
    /// Messages and bytes per direction (client->server, server->client).
    pub messages: [u64; 2],
    pub bytes: [u64; 2],
    pub lost: bool,
}

/// One call.
#[derive(Debug, Clone)]
pub struct CallSummary {
    pub seq: u64,
    pub conn: u32,
    pub peripheral: u32,
    pub call_ids: Vec<u32>,
    pub device_type: u16,
    pub device: String,
    pub begin_seen: bool,
    pub ended: bool,
    pub first_frame: u64,
    pub first_ts: TimestampNs,
    pub last_ts: TimestampNs,
    /// Delivered to established.
    pub ring_ns: Option<i64>,
    /// Established to cleared (or the end), hold excluded.
    pub talk_ns: Option<i64>,
    pub hold_ns: i64,
    pub events: Vec<(TimestampNs, u64, &'static str)>,
    pub events_dropped: u64,
    /// Call variables and ECC variables, last value.
    pub vars: BTreeMap<String, String>,
    /// SET_CALL_DATA_REQ was sent for the call.
    pub data_set: bool,
}

/// One agent.
#[derive(Debug, Clone)]
pub struct AgentSummary {
    pub id: String,
    pub peripheral: Option<u32>,
    pub extension: Option<String>,
    pub instrument: Option<String>,
    pub conns: Vec<u32>,
    pub states: Vec<(TimestampNs, u64, u32, String)>,
    pub states_dropped: u64,
    pub time_in_state: BTreeMap<String, i64>,
    pub skill_groups: Vec<u32>,
    pub requests: BTreeMap<&'static str, (u64, u64)>,
}

/// Latency of one request type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyStats {
    pub count: u64,
    pub p50_ns: i64,
    pub p90_ns: i64,
    pub p99_ns: i64,
    pub max_ns: i64,
}

/// One line of the timeline.
#[derive(Debug, Clone)]
pub struct TimelineEntry {
    pub ts_ns: TimestampNs,
    pub frame: u64,
    pub conn: Option<u32>,
    pub direction: Option<&'static str>,
    pub what: String,
    pub detail: String,
    pub call: Option<u32>,
    pub agent: Option<String>,
    pub invoke: Option<u32>,
    /// Position in the capture's event order.
    pub(crate) seq: u64,
}

#[derive(Debug, Default)]
pub(crate) struct LatAcc {
    count: u64,
    max: i64,
    samples: Vec<i64>,
}

/// Counters gathered while analysing.
#[derive(Debug, Default)]
pub(crate) struct StatsAcc {
    /// Messages per MessageType below [`COUNTED_TYPES`] and direction, with the type name.
    pub by_type: Vec<(&'static str, [u64; 2])>,
    /// (MessageType, name, direction) -> messages, for larger MessageTypes.
    pub messages: BTreeMap<(u32, &'static str, &'static str), u64>,
    /// Per request name, in first-answered order (a few dozen names at most: a list is
    /// cheaper to search than a map keyed by strings).
    pub latency: Vec<(&'static str, LatAcc)>,
    /// (failure message, status or failure code) -> count.
    pub failures: BTreeMap<(u32, Option<u64>), u64>,
    pub conns: Vec<ConnSummary>,
}

/// MessageTypes counted in a table indexed by type (every documented type is below it).
const COUNTED_TYPES: usize = 512;

impl StatsAcc {
    pub fn count(&mut self, name: &'static str, msg_type: u32, dir: Direction) {
        let t = msg_type as usize;
        if t < COUNTED_TYPES {
            if self.by_type.is_empty() {
                self.by_type = vec![("", [0, 0]); COUNTED_TYPES];
            }
            let e = &mut self.by_type[t];
            e.0 = name;
            e.1[super::dir_index(dir)] += 1;
        } else {
            *self.messages.entry((msg_type, name, dir.as_str())).or_insert(0) += 1;
        }
    }

    pub fn latency(&mut self, name: &'static str, ns: i64, cap: usize) {
        let i = self.latency.iter().position(|(n, _)| *n == name).unwrap_or_else(|| {
            self.latency.push((name, LatAcc::default()));
            self.latency.len() - 1
        });
        let l = &mut self.latency[i].1;
        l.count += 1;
        l.max = l.max.max(ns);
        if l.samples.len() < cap {
            l.samples.push(ns);
        }
    }

    /// A FAILURE_CONF, FAILURE_EVENT or CONTROL_FAILURE_CONF (`msg_type`) with its status or
    /// failure code.
    pub fn failure(&mut self, msg_type: u32, code: Option<u64>) {
        *self.failures.entry((msg_type, code)).or_insert(0) += 1;
    }
}

/// Everything the analysis found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Sorted by first frame.
    pub findings: Vec<Finding>,
    /// Sorted by connection number.
    pub connections: Vec<ConnSummary>,
    /// (type label, direction) -> count.
    pub messages: BTreeMap<(String, &'static str), u64>,
    pub latency: BTreeMap<&'static str, LatencyStats>,
    pub failures: BTreeMap<String, u64>,
    /// Sorted by first frame.
    pub calls: Vec<CallSummary>,
    pub calls_dropped: u64,
    /// Sorted by AgentID.
    pub agents: Vec<AgentSummary>,
    /// Time-ordered (empty unless a timeline was asked for).
    pub timeline: Vec<TimelineEntry>,
    pub first_ts: Option<TimestampNs>,
    pub last_ts: TimestampNs,
}

impl Report {
    /// Findings at or above a severity.
    pub fn count_at_least(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity >= s).count()
    }
}

fn percentile(sorted: &[i64], p: u32) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    // Nearest rank.
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// `FAILURE_CONF E_CTI_... (n)`: a failure message and its code, named.
fn failure_label(msg_type: u32, code: Option<u64>) -> String {
    use crate::cti::spec::values;
    let (name, table) = match msg_type {
        super::session::CONTROL_FAILURE_CONF => ("CONTROL_FAILURE_CONF", &values::CONTROL_FAILURE_CODE),
        super::session::FAILURE_EVENT => ("FAILURE_EVENT", &values::STATUS_CODE),
        _ => ("FAILURE_CONF", &values::STATUS_CODE),
    };
    match code {
        Some(c) => format!("{name} {}", super::value_name(table, c)),
        None => format!("{name} ?"),
    }
}

pub(crate) fn build(a: Analyzer, findings: Vec<Finding>, timeline: Vec<TimelineEntry>) -> Report {
    let mut connections = a.stats.conns;
    connections.sort_by_key(|c| (c.conn, c.first_frame));
    let latency = a
        .stats
        .latency
        .into_iter()
        .map(|(k, mut l)| {
            l.samples.sort_unstable();
            (
                k,
                LatencyStats {
                    count: l.count,
                    p50_ns: percentile(&l.samples, 50),
                    p90_ns: percentile(&l.samples, 90),
                    p99_ns: percentile(&l.samples, 99),
                    max_ns: l.max,
                },
            )
        })
        .collect();
    let mut calls = a.calls.done;
    calls.sort_by_key(|c| (c.first_frame, c.seq));
    let mut agents: Vec<_> = a.agents.agents.into_values().collect();
    agents.sort_unstable_by(|x, y| x.id.cmp(&y.id));
    let agents = agents
        .into_iter()
        .map(|ag| AgentSummary {
            id: ag.id,
            peripheral: ag.peripheral,
            extension: ag.extension,
            instrument: ag.instrument,
            conns: ag.conns.into_iter().collect(),
            states: ag.states.into_iter().map(|(ts, fr, conn, s)| (ts, fr, conn, s.into_owned())).collect(),
            states_dropped: ag.states_dropped,
            time_in_state: ag.time_in.into_iter().map(|(s, ns)| (s.into_owned(), ns)).collect(),
            skill_groups: ag.skill_groups.into_iter().collect(),
            requests: ag.requests,
        })
        .collect();
    Report {
        findings,
        connections,
        messages: {
            let mut m: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
            for (ty, (name, n)) in a.stats.by_type.iter().enumerate() {
                for (di, dir) in [Direction::ToServer, Direction::ToClient].into_iter().enumerate() {
                    if n[di] > 0 {
                        m.insert((format!("{name} ({ty})"), dir.as_str()), n[di]);
                    }
                }
            }
            for ((ty, name, dir), n) in a.stats.messages {
                m.insert((format!("{name} ({ty})"), dir), n);
            }
            m
        },
        latency,
        failures: {
            let mut m: BTreeMap<String, u64> = BTreeMap::new();
            for ((ty, code), n) in a.stats.failures {
                *m.entry(failure_label(ty, code)).or_insert(0) += n;
            }
            m
        },
        calls,
        calls_dropped: a.calls.dropped,
        agents,
        timeline,
        first_ts: a.first_ts,
        last_ts: a.last_ts,
    }
}

/// Fields worth a timeline line, when present.
const DETAIL_FIELDS: &[&str] = &[
    "InvokeID",
    "ConnectionCallID",
    "NewConnectionCallID",
    "PrimaryCallID",
    "SecondaryCallID",
    "ConnectionDeviceID",
    "AgentID",
    "AgentExtension",
    "AgentState",
    "EventCause",
    "Status",
    "FailureCode",
    "MonitorID",
    "ConfigEndStatus",
];

/// Short description of a message for the timeline.
pub(crate) fn message_detail(
    d: &Decoded,
    frame: &[u8],
    matched: Option<&Pending>,
    ts: TimestampNs,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    for n in DETAIL_FIELDS {
        if let Some(f) = d.field(n) {
            parts.push(format!("{n}={}", crate::render::value::short(f, frame)));
        }
    }
    if let Some(p) = matched {
        parts.push(format!("answers {} (frame {}) after {} ms", p.name, p.frame, millis(ts - p.ts)));
    }
    parts.join(" ")
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_string(), |x| x.to_string())
}

fn new_table(header: Vec<&str>) -> Table {
    let mut t = Table::new();
    t.load_style(presets::ASCII_MARKDOWN);
    t.force_no_tty();
    t.set_header(header);
    t
}

fn frames_text(frames: &[u64]) -> String {
    frames.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(",")
}

/// The findings table and a one-line summary.
pub fn write_findings_table(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    if !r.findings.is_empty() {
        let mut t = new_table(vec!["severity", "rule", "connection", "frames", "message", "reference"]);
        for f in &r.findings {
            t.add_row(vec![
                f.severity.as_str().to_string(),
                f.rule.to_string(),
                opt(&f.conn),
                frames_text(&f.frames),
                f.message.clone(),
                f.reference.clone(),
            ]);
        }
        writeln!(w, "{t}")?;
    }
    writeln!(w, "{}", summary_line(r))
}

/// `N findings: E errors, W warnings, N notes (C connections, M messages)`, each noun in
/// the singular for a count of one.
pub fn summary_line(r: &Report) -> String {
    let count = |s| r.findings.iter().filter(|f| f.severity == s).count() as u64;
    let n = |k: u64, noun: &str| if k == 1 { format!("1 {noun}") } else { format!("{k} {noun}s") };
    let messages: u64 = r.messages.values().sum();
    format!(
        "{}: {}, {}, {} ({}, {})",
        n(r.findings.len() as u64, "finding"),
        n(count(Severity::Error), "error"),
        n(count(Severity::Warning), "warning"),
        n(count(Severity::Note), "note"),
        n(r.connections.len() as u64, "connection"),
        n(messages, "message")
    )
}

/// One finding as a JSON object.
pub fn finding_json(f: &Finding) -> Json {
    json!({
        "schema": SCHEMA,
        "rule": f.rule,
        "severity": f.severity.as_str(),
        "frames": f.frames,
        "connection": f.conn,
        "message": f.message,
        "reference": f.reference,
    })
}

/// One finding per line.
pub fn write_findings_jsonl(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    for f in &r.findings {
        writeln!(w, "{}", finding_json(f))?;
    }
    Ok(())
}

fn entry_json(e: &TimelineEntry) -> Json {
    json!({
        "schema": SCHEMA,
        "time": time::format_rfc3339(e.ts_ns),
        "epoch_ns": e.ts_ns,
        "frame": e.frame,
        "connection": e.conn,
        "direction": e.direction,
        "what": e.what,
        "detail": e.detail,
        "call": e.call,
        "agent": e.agent,
        "invoke": e.invoke,
    })
}

/// The timeline as a table.
pub fn write_timeline_table(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    let mut t = new_table(vec!["time", "frame", "conn", "direction", "what", "detail"]);
    for e in &r.timeline {
        t.add_row(vec![
            time::format_utc(e.ts_ns, 6),
            e.frame.to_string(),
            opt(&e.conn),
            e.direction.unwrap_or("-").to_string(),
            e.what.clone(),
            e.detail.clone(),
        ]);
    }
    writeln!(w, "{t}")?;
    writeln!(w, "{} entries", r.timeline.len())
}

/// The timeline as one JSON array.
pub fn write_timeline_json(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    let v: Vec<Json> = r.timeline.iter().map(entry_json).collect();
    writeln!(w, "{}", Json::Array(v))
}

/// The timeline as one JSON object per line.
pub fn write_timeline_jsonl(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    for e in &r.timeline {
        writeln!(w, "{}", entry_json(e))?;
    }
    Ok(())
}

/// Milliseconds with microsecond precision (server replies take well under a millisecond).
fn millis(ns: i64) -> String {
    let us = ns / 1_000;
    format!("{}.{:03}", us / 1_000, (us % 1_000).abs())
}

fn secs(ns: i64) -> String {
    time::format_seconds(ns, 3)
}

/// Statistics as text tables.
pub fn write_stats(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    writeln!(w, "Messages per type and direction")?;
    let mut by_type: BTreeMap<&str, [u64; 2]> = BTreeMap::new();
    for ((label, dir), n) in &r.messages {
        let e = by_type.entry(label.as_str()).or_insert([0, 0]);
        e[usize::from(*dir != Direction::ToServer.as_str())] += n;
    }
    let mut t = new_table(vec!["message", "client->server", "server->client"]);
    for (label, [a, b]) in &by_type {
        t.add_row(vec![label.to_string(), a.to_string(), b.to_string()]);
    }
    writeln!(w, "{t}\n")?;

    writeln!(w, "Connections")?;
    let mut t = new_table(vec![
        "conn",
        "client",
        "server",
        "start",
        "session",
        "version",
        "ClientID",
        "AgentID",
        "msgs c->s",
        "msgs s->c",
        "end",
        "gaps",
    ]);
    for c in &r.connections {
        t.add_row(vec![
            c.conn.to_string(),
            opt(&c.client),
            opt(&c.server),
            if c.midstream { "mid-stream" } else { "handshake" }.to_string(),
            c.open.to_string(),
            opt(&c.version),
            opt(&c.client_id),
            opt(&c.agent_id),
            c.messages[0].to_string(),
            c.messages[1].to_string(),
            c.end.to_string(),
            if c.lost { "yes" } else { "no" }.to_string(),
        ]);
    }
    writeln!(w, "{t}\n")?;

    writeln!(w, "Request latency (milliseconds)")?;
    let mut t = new_table(vec!["request", "count", "p50", "p90", "p99", "max"]);
    for (name, l) in &r.latency {
        t.add_row(vec![
            name.to_string(),
            l.count.to_string(),
            millis(l.p50_ns),
            millis(l.p90_ns),
            millis(l.p99_ns),
            millis(l.max_ns),
        ]);
    }
    writeln!(w, "{t}\n")?;

    writeln!(w, "Failures")?;
    let mut t = new_table(vec!["failure", "count"]);
    for (name, n) in &r.failures {
        t.add_row(vec![name.clone(), n.to_string()]);
    }
    writeln!(w, "{t}\n")?;

    writeln!(w, "Calls")?;
    /// Calls listed one per row; the counts cover every call kept.
    const CALL_ROWS: usize = 100;
    let ended = r.calls.iter().filter(|c| c.ended).count();
    let begun = r.calls.iter().filter(|c| c.begin_seen).count();
    let with_data = r.calls.iter().filter(|c| c.data_set).count();
    writeln!(
        w,
        "{} calls ({} with BEGIN_CALL_EVENT, {} ended, {} with SET_CALL_DATA_REQ){}",
        r.calls.len(),
        begun,
        ended,
        with_data,
        if r.calls_dropped > 0 { format!(", {} more not kept", r.calls_dropped) } else { String::new() }
    )?;
    if !r.calls.is_empty() {
        let mut t = new_table(vec![
            "conn",
            "call ids",
            "device",
            "first frame",
            "events",
            "ring",
            "talk",
            "hold",
            "variables",
            "ended",
        ]);
        for c in r.calls.iter().take(CALL_ROWS) {
            t.add_row(vec![
                c.conn.to_string(),
                c.call_ids.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
                c.device.clone(),
                c.first_frame.to_string(),
                (c.events.len() as u64 + c.events_dropped).to_string(),
                c.ring_ns.map_or("-".into(), secs),
                c.talk_ns.map_or("-".into(), secs),
                secs(c.hold_ns),
                c.vars.len().to_string(),
                if c.ended { "yes" } else { "no" }.to_string(),
            ]);
        }
        writeln!(w, "{t}")?;
        if r.calls.len() > CALL_ROWS {
            writeln!(
                w,
                "({} more calls not listed; `ctiscope timeline --call ID` tells one call's story)",
                r.calls.len() - CALL_ROWS
            )?;
        }
    }
    writeln!(w)?;

    writeln!(w, "Agents")?;
    let mut t = new_table(vec![
        "agent",
        "extension",
        "connections",
        "state changes",
        "time in state",
        "skill groups",
        "requests (ok/failed)",
    ]);
    for a in &r.agents {
        t.add_row(vec![
            a.id.clone(),
            opt(&a.extension),
            a.conns.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
            (a.states.len() as u64 + a.states_dropped).to_string(),
            a.time_in_state.iter().map(|(s, ns)| format!("{s} {}", secs(*ns))).collect::<Vec<_>>().join(", "),
            a.skill_groups.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
            a.requests.iter().map(|(n, (ok, bad))| format!("{n} {ok}/{bad}")).collect::<Vec<_>>().join(", "),
        ]);
    }
    writeln!(w, "{t}\n")?;
    writeln!(w, "{}", summary_line(r))
}

/// Every rule as a table.
pub fn write_rules(w: &mut dyn Write) -> io::Result<()> {
    let mut t = new_table(vec!["rule", "severity", "description", "reference"]);
    for r in super::rules::rules() {
        t.add_row(vec![
            r.id.to_string(),
            r.severity.as_str().to_string(),
            r.description.to_string(),
            r.reference.to_string(),
        ]);
    }
    writeln!(w, "{t}")
}
