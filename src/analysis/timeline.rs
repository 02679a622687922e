//! The timeline: the messages (and, for a session, the findings) that a filter selects, in
//! the capture's event order, each with what it says ([`MessageDetail`]).

use super::findings::{Finding, Findings};
use super::identity::Identity;
use super::settings::{Settings, TimelineFilter};
use super::state::{Msg, Pending};
use super::types::{Answered, ConnSummary, MessageDetail, TimelineEntry, TimelineWhat, DETAIL_FIELDS};
use crate::cti::decode::Decoded;
use crate::cti::spec::fields::field;
use crate::cti::spec::values::call_id::NULL_CALL_ID;
use crate::TimestampNs;

/// The call ids a message names (ConnectionCallID, NewConnectionCallID, PrimaryCallID,
/// SecondaryCallID), for the timeline's call filter.
pub(crate) fn call_ids(d: &Decoded) -> Vec<u32> {
    let mut ids = Vec::new();
    for n in
        [field::ConnectionCallID, field::NewConnectionCallID, field::PrimaryCallID, field::SecondaryCallID]
    {
        if let Some(v) = d.fixed(n).and_then(|f| f.number()) {
            if v != u64::from(NULL_CALL_ID) {
                ids.push(v as u32);
            }
        }
    }
    ids
}

/// What the timeline knows of a message besides the message itself.
pub(crate) struct Names<'a> {
    pub invoke: Option<u32>,
    /// Call ids the message names, then those of the call it belongs to.
    pub call_ids: Vec<u32>,
    /// The AgentID the message carries.
    pub agent: Option<String>,
    /// The session's identity: a desktop's messages belong to its agent.
    pub session: &'a Identity,
    pub matched: Option<&'a Pending>,
}

/// Estimated bytes of one entry.
pub(crate) fn entry_cost(e: &TimelineEntry) -> usize {
    let what = match &e.what {
        TimelineWhat::Message { detail, .. } => {
            detail.bytes.len() + detail.fields.capacity() * std::mem::size_of::<crate::cti::decode::Field>()
        }
        TimelineWhat::Finding { message, .. } => message.capacity(),
        TimelineWhat::Connection { detail, .. } => detail.capacity(),
    };
    std::mem::size_of::<TimelineEntry>() + what + e.agent.as_ref().map_or(0, |a| a.capacity())
}

/// Add a message to the timeline if the filter selects it and `room` (bytes) holds it;
/// returns the bytes it took.
pub(crate) fn message(
    timeline: &mut Vec<TimelineEntry>,
    (settings, room): (&Settings, usize),
    filter: &TimelineFilter,
    f: &mut Findings,
    m: &Msg<'_, '_>,
    mut names: Names<'_>,
) -> usize {
    if let Some(p) = names.matched {
        names.call_ids.extend(p.call);
    }
    let agent = names
        .agent
        .or_else(|| names.matched.and_then(|p| p.agent.clone()))
        .or_else(|| names.session.agent().map(str::to_string));
    let conn = m.flow.conn;
    let ok = filter.session.is_none_or(|s| s == conn)
        && filter.invoke.is_none_or(|i| names.invoke == Some(i))
        && filter.call.is_none_or(|x| names.call_ids.contains(&x))
        && filter
            .agent
            .as_ref()
            .is_none_or(|a| agent.as_deref() == Some(a.as_str()) || names.session.is_agent(a));
    if !ok {
        return 0;
    }
    if timeline.len() >= settings.max_timeline_entries {
        f.limit("max_timeline_entries", Some(conn), m.fr, m.ts);
        return 0;
    }
    let entry = TimelineEntry {
        ts_ns: m.ts,
        frame: m.fr,
        conn: Some(conn),
        direction: Some(m.flow.dir.as_str()),
        what: TimelineWhat::Message { name: m.name, detail: detail(m.d, m.frame.bytes, names.matched, m.ts) },
        call: names.call_ids.first().copied(),
        agent,
        invoke: names.invoke,
        seq: f.seq,
    };
    let cost = entry_cost(&entry);
    if cost > room {
        f.limit("max_analysis_memory", Some(conn), m.fr, m.ts);
        return 0;
    }
    timeline.push(entry);
    cost
}

/// What a timeline line shows of a message.
fn detail(d: &Decoded, frame: &[u8], matched: Option<&Pending>, ts: TimestampNs) -> MessageDetail {
    let fields: Vec<_> = DETAIL_FIELDS.iter().filter_map(|&id| d.get(id).copied()).collect();
    // The bytes the fields' values point into.
    let end = fields.iter().map(|f| (f.offset + f.len) as usize).max().unwrap_or(0).min(frame.len());
    MessageDetail {
        bytes: frame[..end].into(),
        fields,
        answers: matched.map(|p| Answered { request: p.name, frame: p.frame, latency_ns: ts - p.ts }),
    }
}

/// Whether a connection is one the filter selects whole: the session asked for, or a desktop
/// session of the agent asked for.
fn selects_conn(filter: &TimelineFilter, c: &ConnSummary) -> bool {
    if filter.call.is_some() || filter.invoke.is_some() {
        return false;
    }
    let agent_ok = filter.agent.as_ref().is_none_or(|a| {
        c.desktop
            && [&c.agent_id, &c.extension, &c.instrument].iter().any(|x| x.as_deref() == Some(a.as_str()))
    });
    filter.session.is_none_or(|s| s == c.conn) && agent_ok
}

/// Whether the filter selects a finding: by its connection, or by what it names. A limit
/// reached is always shown: it says the timeline may be incomplete.
fn selects_finding(filter: &TimelineFilter, f: &Finding, agent_conns: &[u32]) -> bool {
    if f.rule == "analysis-limit" {
        return true;
    }
    let s = &f.subject;
    let agent_ok = filter.agent.as_ref().is_none_or(|a| {
        [&s.agent, &s.extension, &s.instrument].iter().any(|x| x.as_deref() == Some(a.as_str()))
            || f.conn.is_some_and(|c| agent_conns.contains(&c))
    });
    filter.session.is_none_or(|x| f.conn == Some(x))
        && filter.call.is_none_or(|x| s.call == Some(x))
        && filter.invoke.is_none_or(|x| s.invoke == Some(x))
        && agent_ok
}

/// At the end of a capture: the findings and the connections' starts and ends join the
/// timeline where the filter selects them, and the timeline is put in time order (event
/// order among equal times, as `decode` prints).
pub(crate) fn finish(
    timeline: &mut Vec<TimelineEntry>,
    settings: &Settings,
    findings: &[Finding],
    conns: &[ConnSummary],
    last_frame: u64,
) {
    let Some(filter) = &settings.timeline else { return };
    let mut selected: Vec<&ConnSummary> = conns.iter().filter(|c| selects_conn(filter, c)).collect();
    selected.sort_by_key(|c| c.conn);
    let agent_conns: Vec<u32> =
        if filter.agent.is_some() { selected.iter().map(|c| c.conn).collect() } else { Vec::new() };
    for c in &selected {
        if timeline.len() + 2 > settings.max_timeline_entries {
            break;
        }
        timeline.push(TimelineEntry {
            ts_ns: c.first_ts,
            frame: c.first_frame,
            conn: Some(c.conn),
            direction: None,
            what: TimelineWhat::Connection { start: true, detail: connection_start(c) },
            call: None,
            agent: c.agent_id.clone(),
            invoke: None,
            seq: 0,
        });
        timeline.push(TimelineEntry {
            ts_ns: c.last_ts,
            frame: c.end_frame,
            conn: Some(c.conn),
            direction: None,
            what: TimelineWhat::Connection { start: false, detail: connection_end(c) },
            call: None,
            agent: c.agent_id.clone(),
            invoke: None,
            seq: u64::MAX,
        });
    }
    for f in findings {
        if f.seq == u64::MAX || !selects_finding(filter, f, &agent_conns) {
            continue;
        }
        if timeline.len() >= settings.max_timeline_entries {
            break;
        }
        timeline.push(TimelineEntry {
            ts_ns: f.ts_ns,
            frame: f.frames.first().copied().unwrap_or(last_frame),
            conn: f.conn,
            direction: None,
            what: TimelineWhat::Finding { rule: f.rule, severity: f.severity, message: f.message.clone() },
            call: f.subject.call,
            agent: f.subject.agent.clone(),
            invoke: f.subject.invoke,
            seq: f.seq,
        });
    }
    timeline.sort_by_key(|e| (e.ts_ns, e.seq));
}

/// `client 10.0.0.5:5000 to side A (10.0.0.1:42027), handshake captured; desktop of agent 1001`.
fn connection_start(c: &ConnSummary) -> String {
    let mut s = format!(
        "client {} to {}, {}",
        c.client.as_deref().unwrap_or("?"),
        super::links::server_name(c.server.as_deref().and_then(|a| a.parse().ok())),
        if c.midstream { "mid-stream (opening not captured)" } else { "handshake captured" }
    );
    if let Some(a) = &c.agent_id {
        s.push_str(&format!("; desktop of agent {a}"));
    } else if let Some(cid) = &c.client_id {
        s.push_str(&format!("; ClientID {cid}"));
    }
    if let Some((prev, gap)) = c.follows {
        s.push_str(&format!(
            "; reopens the session of connection {prev} lost {} s before",
            crate::time::format_seconds(gap, 3)
        ));
    }
    s
}

/// `reset by the client (session open)`, `closed by the server (FIN) after CLOSE_CONF`, ...
fn connection_end(c: &ConnSummary) -> String {
    let by = c.end_by.unwrap_or("one side");
    let how = match c.end {
        "rst" => format!("reset by the {by}"),
        "fin" => format!("closed by the {by} (FIN)"),
        "capture_end" => "still open at the end of the capture".to_string(),
        "reused" => "replaced by a new connection on the same ports".to_string(),
        "evicted" => "no longer followed: max_connections reached".to_string(),
        other => other.to_string(),
    };
    if !c.cti {
        let what = if c.end == "rst" && c.end_by == Some("server") {
            "refused: no CTI exchanged"
        } else {
            "no CTI exchanged"
        };
        return format!("{how}; {what}");
    }
    let open = if c.open == "not captured" { "opening not captured" } else { c.open };
    let mut s = format!("{how}; session {open}, {} messages", c.messages[0] + c.messages[1]);
    if c.heartbeats_unanswered > 0 {
        s.push_str(&format!(", {} unanswered heartbeats", c.heartbeats_unanswered));
    }
    s
}
