//! The analysis [`Report`] printed: findings (table or JSON lines), the timeline (table,
//! JSON or JSON lines), statistics and the rule list.

use crate::analysis::coverage::{Statement, Summary as CoverageSummary};
use crate::analysis::report::{MessageDetail, Report, TimelineEntry, TimelineWhat, SCHEMA};
use crate::analysis::{Finding, Group, Severity};
use crate::cti::spec::fields::field;
use crate::pipeline::Direction;
use crate::render::{style, time, value};
use comfy_table::{Cell, Table};
use serde_json::{json, Value as Json};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// The `what` column of a timeline line: the message's type name, or `finding RULE`.
pub fn timeline_what(e: &TimelineEntry) -> Cow<'static, str> {
    match &e.what {
        TimelineWhat::Message { name, .. } => Cow::Borrowed(name),
        TimelineWhat::Finding { rule, .. } => Cow::Owned(format!("finding {rule}")),
        TimelineWhat::Connection { start: true, .. } => Cow::Borrowed("connection start"),
        TimelineWhat::Connection { start: false, .. } => Cow::Borrowed("connection end"),
    }
}

/// The `detail` column of a timeline line: a message's fields worth a line and the request
/// it answers, or a finding's severity and message.
pub fn timeline_detail(e: &TimelineEntry) -> String {
    match &e.what {
        TimelineWhat::Message { detail, .. } => message_detail(detail),
        TimelineWhat::Finding { severity, message, .. } => format!("[{}] {message}", severity.as_str()),
        TimelineWhat::Connection { detail, .. } => detail.clone(),
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

/// A table in the current style: fitted to a terminal, as wide as its content elsewhere.
fn new_table(header: Vec<&str>) -> Table {
    style::current().table(header)
}

fn frames_text(frames: &[u64]) -> String {
    frames.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(",")
}

/// How `check` lists findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Listing {
    /// One row per cause, with its count (the default).
    #[default]
    Grouped,
    /// One row per finding (`check --all`).
    All,
}

/// `check` as text: the headline, the findings (grouped by cause, or every one), and a
/// one-line summary.
pub fn write_check(w: &mut dyn Write, r: &Report, listing: Listing) -> io::Result<()> {
    for line in headline(r) {
        writeln!(w, "{line}")?;
    }
    if !r.findings.is_empty() {
        writeln!(w)?;
        match listing {
            Listing::Grouped => write_groups_table(w, r)?,
            Listing::All => write_findings_table(w, r)?,
        }
    }
    writeln!(w, "{}", summary_line(r))
}

/// The findings, one row per cause: severity, count, connections, frames, what, rule.
///
/// On a terminal the reference column is left out, so that the table fits; `--all`, the
/// JSON output and `ctiscope rules` give it.
fn write_groups_table(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    let tty = style::current().tty;
    let mut header = vec!["severity", "count", "conns", "frames", "what", "rule"];
    if !tty {
        header.push("reference");
    }
    let mut t = new_table(header);
    for g in &r.groups {
        let mut row = vec![
            style::current().severity_cell(g.severity),
            Cell::new(g.count),
            Cell::new(format!("{}{}", g.conns, if g.conns_more { "+" } else { "" })),
            Cell::new(frame_range(g.first_frame, g.last_frame)),
            Cell::new(group_what(g)),
            Cell::new(g.rule),
        ];
        if !tty {
            row.push(Cell::new(&g.reference));
        }
        t.add_row(row);
    }
    writeln!(w, "{t}")?;
    writeln!(w, "(one row per cause; `check --all` lists every finding with its identifiers)")
}

/// A group in words: the sentence of its only finding, or its cause and what each
/// occurrence is about (up to [`MAX_GROUP_IDS`](crate::analysis::findings::MAX_GROUP_IDS)).
fn group_what(g: &Group) -> String {
    if g.count == 1 && !g.example.is_empty() {
        return g.example.clone();
    }
    if g.ids_complete {
        return format!("{}: {}", g.cause, g.ids.join(", "));
    }
    if g.ids.is_empty() || g.count > 2 * crate::analysis::MAX_GROUP_IDS as u64 {
        // Too many to name: `check --all` lists them.
        return g.cause.clone();
    }
    format!("{}: {}, ...", g.cause, g.ids.join(", "))
}

fn frame_range(first: Option<u64>, last: Option<u64>) -> String {
    match (first, last) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => "-".to_string(),
    }
}

/// Every finding listed, one row each.
pub fn write_findings_table(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    let mut t = new_table(vec!["severity", "rule", "connection", "frames", "message", "reference"]);
    for f in &r.findings {
        t.add_row(vec![
            style::current().severity_cell(f.severity),
            Cell::new(f.rule),
            Cell::new(opt(&f.conn)),
            Cell::new(frames_text(&f.frames)),
            Cell::new(&f.message),
            Cell::new(&f.reference),
        ]);
    }
    writeln!(w, "{t}")
}

/// Rows of the headline: the groups worth reading first.
const HEADLINE_ROWS: usize = 6;
/// A group is told by its findings' own sentences up to this count.
const HEADLINE_EXAMPLES: u64 = 3;
/// Beyond that, the occurrences are named in short up to this count.
const HEADLINE_NAMED: usize = 6;

/// What went wrong in this capture, in the few lines a person reads first: the most serious
/// causes, each with its count or the sentences naming who and what.
pub fn headline(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let cti = r.cti_connections();
    let messages: u64 = r.messages.values().sum();
    if r.groups.is_empty() {
        // The summary line says it all.
        return out;
    }
    let count = |s: Severity| r.groups.iter().filter(|g| g.severity == s).map(|g| g.count).sum::<u64>();
    out.push(format!(
        "{}, {}, {} in {} on {}:",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        plural(count(Severity::Note), "note"),
        plural(messages, "message"),
        plural(cti, "CTI connection")
    ));
    for g in r.groups.iter().take(HEADLINE_ROWS) {
        let sev = style::current().severity(g.severity);
        if g.count <= HEADLINE_EXAMPLES {
            let examples: Vec<&str> = r
                .findings
                .iter()
                .filter(|f| f.rule == g.rule && f.cause == g.cause)
                .map(|f| f.message.as_str())
                .collect();
            if examples.len() as u64 == g.count {
                for e in examples {
                    out.push(format!("  {sev}: {e}"));
                }
                continue;
            }
        }
        let conns = if g.conns > 1 { format!(" on {} connections", g.conns) } else { String::new() };
        let named = if g.ids_complete && g.ids.len() <= HEADLINE_NAMED {
            format!(": {}", g.ids.join(", "))
        } else {
            format!(" (frames {})", frame_range(g.first_frame, g.last_frame))
        };
        out.push(format!("  {sev}: {} x {}{conns}{named}", g.count, g.cause));
    }
    if r.groups.len() > HEADLINE_ROWS {
        out.push(format!("  ... and {} more causes below", r.groups.len() - HEADLINE_ROWS));
    }
    out
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `N findings: E errors, W warnings, N notes (C connections, M messages)`, each noun in
/// the singular for a count of one; connection attempts without CTI are counted apart.
pub fn summary_line(r: &Report) -> String {
    let count = |s: Severity| r.groups.iter().filter(|g| g.severity == s).map(|g| g.count).sum::<u64>();
    let total: u64 = r.groups.iter().map(|g| g.count).sum();
    let messages: u64 = r.messages.values().sum();
    let cti = r.cti_connections();
    let mut s = format!(
        "{}: {}, {}, {} ({}, {})",
        plural(total, "finding"),
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        plural(count(Severity::Note), "note"),
        plural(cti, "connection"),
        plural(messages, "message")
    );
    if r.refused + r.empty > 0 {
        s.push_str(&format!(
            "; {} without CTI ({} refused, {} closed without data)",
            plural(r.refused + r.empty, "connection attempt"),
            r.refused,
            r.empty
        ));
    }
    if let Some(note) = released_note(r) {
        s.push_str("; ");
        s.push_str(&note);
    }
    if let Some(why) = &r.cut_short {
        s.push_str(&format!("\ncapture cut short, the report covers what was read: {why}"));
    }
    s
}

/// What `--max-analysis-memory` let go, in words, if anything.
fn released_note(r: &Report) -> Option<String> {
    let rel = r.connections_released;
    if !rel.any() {
        return None;
    }
    let mut parts = Vec::new();
    if rel.sessions + rel.attempts > 0 {
        let n = rel.sessions + rel.attempts;
        parts.push(format!(
            "{n} connection {} not kept ({} sessions, {} attempts)",
            if n == 1 { "summary" } else { "summaries" },
            rel.sessions,
            rel.attempts
        ));
    }
    if rel.live > 0 {
        parts.push(format!("{} let go while open", plural(rel.live, "connection")));
    }
    Some(format!("{} at --max-analysis-memory", parts.join(", ")))
}

fn released_json(r: &Report) -> Json {
    let rel = r.connections_released;
    json!({"sessions": rel.sessions, "attempts": rel.attempts, "live": rel.live})
}

/// One finding as a JSON object: its identifiers as typed keys beside the sentence.
pub fn finding_json(f: &Finding) -> Json {
    let mut o = json!({
        "schema": SCHEMA,
        "rule": f.rule,
        "severity": f.severity.as_str(),
        "frames": f.frames,
        "connection": f.conn,
        "time": time::format_rfc3339(f.ts_ns),
        "epoch_ns": f.ts_ns,
        "message": f.message,
        "cause": f.cause,
        "reference": f.reference,
    });
    let m = o.as_object_mut().expect("object");
    let s = &f.subject;
    let mut put = |k: &str, v: Json| {
        if !v.is_null() {
            m.insert(k.to_string(), v);
        }
    };
    put("message_type", json!(s.message));
    put("field", json!(s.field));
    put("invoke", json!(s.invoke));
    put("request", json!(s.request));
    put("confirm", json!(s.confirm));
    put("agent", json!(s.agent));
    put("extension", json!(s.extension));
    put("instrument", json!(s.instrument));
    put("peripheral", json!(s.peripheral));
    put("call", json!(s.call));
    put("device", json!(s.device));
    put("latency_ns", json!(s.latency_ns));
    put("by", json!(s.by));
    put("client", json!(s.client));
    put("server", json!(s.server));
    put("client_id", json!(s.client_id));
    put("related_connection", json!(s.related_conn));
    o
}

/// One group of findings as a JSON object.
pub fn group_json(g: &Group) -> Json {
    json!({
        "rule": g.rule,
        "severity": g.severity.as_str(),
        "cause": g.cause,
        "message_type": g.message,
        "field": g.field,
        "count": g.count,
        "connections": g.conns,
        "connections_more": g.conns_more,
        "first_frame": g.first_frame,
        "last_frame": g.last_frame,
        "first_time": time::format_rfc3339(g.first_ts),
        "last_time": time::format_rfc3339(g.last_ts),
        "example": g.example,
        "ids": g.ids,
        "ids_complete": g.ids_complete,
        "reference": g.reference,
    })
}

/// One finding per line.
pub fn write_findings_jsonl(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    for f in &r.findings {
        writeln!(w, "{}", finding_json(f))?;
    }
    Ok(())
}

/// `check -T json`: one object with the headline, the groups, every finding listed and the
/// counts.
pub fn check_json(r: &Report) -> Json {
    let count = |s: Severity| r.groups.iter().filter(|g| g.severity == s).map(|g| g.count).sum::<u64>();
    json!({
        "schema": SCHEMA,
        "headline": headline(r),
        "groups": r.groups.iter().map(group_json).collect::<Vec<_>>(),
        "findings": r.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "summary": {
            "findings": r.groups.iter().map(|g| g.count).sum::<u64>(),
            "errors": count(Severity::Error),
            "warnings": count(Severity::Warning),
            "notes": count(Severity::Note),
            "connections": r.cti_connections(),
            "connections_released": released_json(r),
            "attempts_refused": r.refused,
            "attempts_empty": r.empty,
            "messages": r.messages.values().sum::<u64>(),
        },
    })
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

/// Seconds with milliseconds and the unit: `12.345 s`.
fn secs_unit(ns: i64) -> String {
    format!("{} s", secs(ns))
}

/// A table under its heading, or `none` when it has no rows.
fn section(w: &mut dyn Write, heading: &str, t: Table) -> io::Result<()> {
    writeln!(w, "{heading}")?;
    if t.row_iter().next().is_none() {
        writeln!(w, "none\n")
    } else {
        writeln!(w, "{t}\n")
    }
}

/// `rst by client`, `fin by server`, `capture_end`.
fn end_text(end: &str, by: Option<&str>) -> String {
    match by {
        Some(by) => format!("{end} by {by}"),
        None => end.to_string(),
    }
}

/// Rows of the `stats` connection, attempt and agent tables printed as text (a table is
/// laid out whole in memory before it is printed; `-T json` lists every row).
const TABLE_ROWS: usize = 10_000;

/// Statistics as text tables; durations carry their unit.
pub fn write_stats(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    let mut by_type: BTreeMap<&str, [u64; 2]> = BTreeMap::new();
    for ((label, dir), n) in &r.messages {
        let e = by_type.entry(label.as_str()).or_insert([0, 0]);
        e[usize::from(*dir != Direction::ToServer.as_str())] += n;
    }
    let mut t = new_table(vec!["message", "client->server", "server->client"]);
    for (label, [a, b]) in &by_type {
        t.add_row(vec![label.to_string(), a.to_string(), b.to_string()]);
    }
    let whole = if r.agent_selected.is_some() || r.display_selected { " (whole capture)" } else { "" };
    section(w, &format!("Messages per type and direction{whole}"), t)?;

    let mut t = new_table(vec![
        "conn",
        "client",
        "server",
        "start",
        "session",
        "version",
        field::ClientID.name(),
        "agent",
        "msgs c->s",
        "msgs s->c",
        "end",
        "gaps",
        "reopens",
    ]);
    let sessions = r.connections.iter().filter(|c| c.cti).count();
    for c in r.connections.iter().filter(|c| c.cti).take(TABLE_ROWS) {
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
            end_text(c.end, c.end_by),
            if c.lost { "yes" } else { "no" }.to_string(),
            c.follows.map_or("-".to_string(), |(conn, ns)| format!("conn {conn} after {}", secs_unit(ns))),
        ]);
    }
    section(w, "Connections", t)?;
    not_listed(w, sessions, "connections", "`--session N` or `-T json` shows one")?;

    let attempts: Vec<_> = r.connections.iter().filter(|c| !c.cti).collect();
    if !attempts.is_empty() {
        let mut t = new_table(vec!["conn", "client", "server", "time", "end"]);
        for c in attempts.iter().take(TABLE_ROWS) {
            t.add_row(vec![
                c.conn.to_string(),
                opt(&c.client),
                opt(&c.server),
                time::format_utc(c.first_ts, 3),
                if c.end == "rst" && c.end_by == Some("server") {
                    "refused (reset by server)".to_string()
                } else {
                    end_text(c.end, c.end_by)
                },
            ]);
        }
        section(w, "Connection attempts without CTI", t)?;
        not_listed(w, attempts.len(), "connection attempts", "`-T json` lists them")?;
    }
    if let Some(note) = released_note(r) {
        writeln!(w, "{note}: counted above, not listed\n")?;
    }

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
    section(w, &format!("Request latency (milliseconds){whole}"), t)?;

    let mut t = new_table(vec!["failure", "count"]);
    for (name, n) in &r.failures {
        t.add_row(vec![name.clone(), n.to_string()]);
    }
    section(w, &format!("Failures{whole}"), t)?;

    // Calls and agents are narrowed by --agent, not by -Y.
    let calls_whole = if r.display_selected && r.agent_selected.is_none() { " (whole capture)" } else { "" };
    writeln!(w, "Calls{calls_whole}")?;
    /// Calls listed one per row; the counts cover every call kept.
    const CALL_ROWS: usize = 100;
    let ended = r.calls.iter().filter(|c| c.ended).count();
    let begun = r.calls.iter().filter(|c| c.begin_seen).count();
    let with_data = r.calls.iter().filter(|c| c.data_set).count();
    if r.calls.is_empty() && r.calls_dropped == 0 {
        writeln!(w, "none")?;
    } else {
        writeln!(
            w,
            "{} ({} with BEGIN_CALL_EVENT, {} ended, {} with SET_CALL_DATA_REQ){}",
            plural(r.calls.len() as u64, "call"),
            begun,
            ended,
            with_data,
            if r.calls_dropped > 0 { format!(", {} more not kept", r.calls_dropped) } else { String::new() }
        )?;
    }
    if !r.calls.is_empty() {
        let mut t = new_table(vec![
            "connections",
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
                c.conns.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
                c.call_ids.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
                c.device.clone(),
                c.first_frame.to_string(),
                (c.events.len() as u64 + c.events_dropped).to_string(),
                c.ring_ns.map_or("-".into(), secs_unit),
                c.talk_ns.map_or("-".into(), secs_unit),
                secs_unit(c.hold_ns),
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

    let mut t = new_table(vec![
        "agent",
        "extension",
        "connections",
        "final state",
        "state changes",
        "time in state",
        "skill groups",
        "requests (ok/failed/unanswered)",
    ]);
    for a in r.agents.iter().take(TABLE_ROWS) {
        t.add_row(vec![
            a.id.clone(),
            opt(&a.extension),
            a.conns.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
            opt(&a.final_state),
            (a.states.len() as u64 + a.states_dropped).to_string(),
            a.time_in_state
                .iter()
                .map(|(s, ns)| format!("{s} {}", secs_unit(*ns)))
                .collect::<Vec<_>>()
                .join(", "),
            a.skill_groups.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
            a.requests
                .iter()
                .map(|(n, c)| format!("{n} {}/{}/{}", c.ok, c.failed, c.unanswered))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    section(w, &format!("Agents{calls_whole}"), t)?;
    not_listed(w, r.agents.len(), "agents", "`--agent ID` or `-T json` shows one")?;
    writeln!(w, "{}", summary_line(r))
}

/// Rows of a `stats` text table beyond [`TABLE_ROWS`]: how many were left out, and where
/// to find them.
fn not_listed(w: &mut dyn Write, rows: usize, what: &str, hint: &str) -> io::Result<()> {
    if rows > TABLE_ROWS {
        writeln!(w, "({} more {what} not listed; {hint})\n", rows - TABLE_ROWS)?;
    }
    Ok(())
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

/// The coverage table as text: one row per statement of the guide, then the summary line.
/// The rule and the reason share a column (a row has one of them), which leaves a terminal's
/// width to the statement.
pub fn write_coverage(w: &mut dyn Write, rows: &[Statement]) -> io::Result<()> {
    let mut t = new_table(vec!["id", "reference", "statement", "rule, or why none"]);
    for s in rows {
        let checked = s.rule.or(s.reason).unwrap_or("");
        t.add_row(vec![
            s.id.to_string(),
            s.reference.to_string(),
            s.statement.to_string(),
            checked.to_string(),
        ]);
    }
    writeln!(w, "{t}")?;
    writeln!(w, "{}", CoverageSummary::of(rows))
}

/// The coverage table as JSON: an array of objects with every column (`rule` or `reason`
/// is null where the row has the other).
pub fn coverage_json(rows: &[Statement]) -> Json {
    Json::Array(
        rows.iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "reference": s.reference,
                    "statement": s.statement,
                    "rule": s.rule,
                    "reason": s.reason,
                })
            })
            .collect(),
    )
}

/// Every rule as JSON: an array of objects.
pub fn rules_json() -> Json {
    Json::Array(
        crate::analysis::rules()
            .iter()
            .map(|r| {
                json!({
                    "rule": r.id,
                    "severity": r.severity.as_str(),
                    "description": r.description,
                    "reference": r.reference,
                })
            })
            .collect(),
    )
}

/// The rows of each `stats` table as JSON, in the order the text prints them. Durations are
/// in nanoseconds (`_ns`), as everywhere in the JSON output.
fn stats_tables(r: &Report) -> Vec<(&'static str, Rows<'_>)> {
    let messages: Rows<'_> = Box::new(
        r.messages.iter().map(|((label, dir), n)| json!({"message": label, "direction": dir, "count": n})),
    );
    let connections: Rows<'_> = Box::new(r.connections.iter().map(|c| {
        json!({
            "connection": c.conn,
            "client": c.client,
            "server": c.server,
            "start": if c.midstream { "midstream" } else { "handshake" },
            "cti": c.cti,
            "session": c.open,
            "version": c.version,
            "client_id": c.client_id,
            "agent": c.agent_id,
            "extension": c.extension,
            "instrument": c.instrument,
            "desktop": c.desktop,
            "messages": c.messages,
            "bytes": c.bytes,
            "end": c.end,
            "end_by": c.end_by,
            "end_frame": c.end_frame,
            "first_frame": c.first_frame,
            "first_time": time::format_rfc3339(c.first_ts),
            "last_time": time::format_rfc3339(c.last_ts),
            "heartbeats_unanswered": c.heartbeats_unanswered,
            "follows": c.follows.map(|(conn, ns)| json!({"connection": conn, "after_ns": ns})),
            "lost": c.lost,
        })
    }));
    let latency: Rows<'_> = Box::new(r
        .latency
        .iter()
        .map(|(name, l)| {
            let histogram: Vec<Json> =
                l.histogram.iter().map(|&(from, to, n)| json!({"from_ns": from, "to_ns": to, "count": n})).collect();
            json!({"request": name, "count": l.count, "p50_ns": l.p50_ns, "p90_ns": l.p90_ns, "p99_ns": l.p99_ns, "max_ns": l.max_ns, "histogram": histogram})
        })
        );
    let failures: Rows<'_> =
        Box::new(r.failures.iter().map(|(name, n)| json!({"failure": name, "count": n})));
    let calls: Rows<'_> = Box::new(r.calls.iter().map(|c| {
        json!({
            "connections": c.conns,
            "peripheral": c.peripheral,
            "call_ids": c.call_ids,
            "device": c.device,
            "first_frame": c.first_frame,
            "first_time": time::format_rfc3339(c.first_ts),
            "last_time": time::format_rfc3339(c.last_ts),
            "events": c.events.len() as u64 + c.events_dropped,
            "ring_ns": c.ring_ns,
            "talk_ns": c.talk_ns,
            "hold_ns": c.hold_ns,
            "variables": c.vars,
            "begin_seen": c.begin_seen,
            "ended": c.ended,
        })
    }));
    let agents: Rows<'_> = Box::new(r.agents.iter().map(|a| {
        let requests: serde_json::Map<String, Json> = a
            .requests
            .iter()
            .map(|(n, c)| {
                (n.to_string(), json!({"ok": c.ok, "failed": c.failed, "unanswered": c.unanswered}))
            })
            .collect();
        json!({
            "agent": a.id,
            "peripheral": a.peripheral,
            "extension": a.extension,
            "instrument": a.instrument,
            "connections": a.conns,
            "final_state": a.final_state,
            "state_changes": a.states.len() as u64 + a.states_dropped,
            "time_in_state_ns": a.time_in_state,
            "skill_groups": a.skill_groups,
            "requests": requests,
        })
    }));
    vec![
        ("messages", messages),
        ("connections", connections),
        ("latency", latency),
        ("failures", failures),
        ("calls", calls),
        ("agents", agents),
    ]
}

/// The rows of one `stats` table, made one at a time.
type Rows<'a> = Box<dyn Iterator<Item = Json> + 'a>;

/// The keys of `stats -T json` after the tables.
fn stats_trailer(r: &Report) -> [(&'static str, Json); 6] {
    [
        ("calls_not_kept", json!(r.calls_dropped)),
        ("attempts_refused", json!(r.refused)),
        ("attempts_empty", json!(r.empty)),
        ("connections_released", released_json(r)),
        ("summary", json!(summary_line(r))),
        ("agent_selected", json!(r.agent_selected)),
    ]
}

/// `stats -T json`: one object, a key per table, and the summary.
pub fn stats_json(r: &Report) -> Json {
    let mut o = serde_json::Map::new();
    o.insert("schema".into(), json!(SCHEMA));
    for (name, rows) in stats_tables(r) {
        o.insert(name.into(), Json::Array(rows.collect()));
    }
    for (k, v) in stats_trailer(r) {
        o.insert(k.into(), v);
    }
    Json::Object(o)
}

/// [`stats_json`] written row by row, never whole in memory, and a newline: the same bytes
/// as printing [`stats_json`].
pub fn write_stats_json(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    write!(w, "{{\"schema\":{SCHEMA}")?;
    for (name, rows) in stats_tables(r) {
        write!(w, ",\"{name}\":[")?;
        for (i, row) in rows.enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            write!(w, "{row}")?;
        }
        w.write_all(b"]")?;
    }
    for (k, v) in stats_trailer(r) {
        write!(w, ",\"{k}\":{v}")?;
    }
    writeln!(w, "}}")
}

/// `stats -T jsonl`: one object per table row, with a `table` key.
pub fn write_stats_jsonl(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    for (name, rows) in stats_tables(r) {
        for mut row in rows {
            if let Some(m) = row.as_object_mut() {
                m.insert("table".into(), json!(name));
                m.insert("schema".into(), json!(SCHEMA));
            }
            writeln!(w, "{row}")?;
        }
    }
    Ok(())
}
