//! The analysis [`Report`] printed: findings (table or JSON lines), the timeline (table,
//! JSON or JSON lines), statistics and the rule list.

use crate::analysis::report::{MessageDetail, Report, TimelineEntry, TimelineWhat, SCHEMA};
use crate::analysis::{Finding, Severity};
use crate::cti::spec::fields::field;
use crate::pipeline::Direction;
use crate::render::{time, value};
use comfy_table::{presets, Table};
use serde_json::{json, Value as Json};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// The `what` column of a timeline line: the message's type name, or `finding RULE`.
pub fn timeline_what(e: &TimelineEntry) -> Cow<'static, str> {
    match &e.what {
        TimelineWhat::Message { name, .. } => Cow::Borrowed(name),
        TimelineWhat::Finding { rule, .. } => Cow::Owned(format!("finding {rule}")),
    }
}

/// The `detail` column of a timeline line: a message's fields worth a line and the request
/// it answers, or a finding's severity and message.
pub fn timeline_detail(e: &TimelineEntry) -> String {
    match &e.what {
        TimelineWhat::Message { detail, .. } => message_detail(detail),
        TimelineWhat::Finding { severity, message, .. } => format!("[{}] {message}", severity.as_str()),
    }
}

/// `InvokeID=7 AgentID=1001 ... answers REQ (frame N) after M ms`.
fn message_detail(d: &MessageDetail) -> String {
    let mut parts: Vec<String> = Vec::new();
    for f in &d.fields {
        parts.push(format!("{}={}", f.meta.id.name(), value::short(f, &d.bytes)));
    }
    if let Some(a) = &d.answers {
        parts.push(format!("answers {} (frame {}) after {} ms", a.request, a.frame, millis(a.latency_ns)));
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
        "what": timeline_what(e),
        "detail": timeline_detail(e),
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
            timeline_what(e).into_owned(),
            timeline_detail(e),
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
        field::ClientID.name(),
        field::AgentID.name(),
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
    for r in crate::analysis::rules() {
        t.add_row(vec![
            r.id.to_string(),
            r.severity.as_str().to_string(),
            r.description.to_string(),
            r.reference.to_string(),
        ]);
    }
    writeln!(w, "{t}")
}
