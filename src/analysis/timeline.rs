//! The timeline: the messages (and, for a session, the findings) that a filter selects, in
//! the capture's event order, each with what it says ([`MessageDetail`]).

use super::findings::{Finding, Findings};
use super::settings::{Settings, TimelineFilter};
use super::state::{Msg, Pending};
use super::types::{Answered, MessageDetail, TimelineEntry, TimelineWhat, DETAIL_FIELDS};
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
    pub matched: Option<&'a Pending>,
}

/// Add a message to the timeline if the filter selects it.
pub(crate) fn message(
    timeline: &mut Vec<TimelineEntry>,
    settings: &Settings,
    filter: &TimelineFilter,
    f: &mut Findings,
    m: &Msg<'_, '_>,
    mut names: Names<'_>,
) {
    if let Some(p) = names.matched {
        names.call_ids.extend(p.call);
    }
    let agent = names.agent.or_else(|| names.matched.and_then(|p| p.agent.clone()));
    let conn = m.flow.conn;
    let ok = filter.session.is_none_or(|s| s == conn)
        && filter.invoke.is_none_or(|i| names.invoke == Some(i))
        && filter.call.is_none_or(|x| names.call_ids.contains(&x))
        && filter.agent.as_ref().is_none_or(|a| agent.as_deref() == Some(a.as_str()));
    if !ok {
        return;
    }
    if timeline.len() >= settings.max_timeline_entries {
        f.limit("max_timeline_entries", Some(conn), m.fr, m.ts);
        return;
    }
    timeline.push(TimelineEntry {
        ts_ns: m.ts,
        frame: m.fr,
        conn: Some(conn),
        direction: Some(m.flow.dir.as_str()),
        what: TimelineWhat::Message { name: m.name, detail: detail(m.d, m.frame.bytes, names.matched, m.ts) },
        call: names.call_ids.first().copied(),
        agent,
        invoke: names.invoke,
        seq: f.seq,
    });
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

/// At the end of a capture: the findings join a timeline that only selects a session (or
/// everything), and the timeline is put in event order.
pub(crate) fn finish(
    timeline: &mut Vec<TimelineEntry>,
    settings: &Settings,
    findings: &[Finding],
    last_frame: u64,
) {
    let Some(filter) = &settings.timeline else { return };
    let only_session = filter.call.is_none() && filter.agent.is_none() && filter.invoke.is_none();
    if only_session {
        for f in findings {
            if filter.session.is_some() && f.conn != filter.session {
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
                what: TimelineWhat::Finding {
                    rule: f.rule,
                    severity: f.severity,
                    message: f.message.clone(),
                },
                call: None,
                agent: None,
                invoke: None,
                seq: f.seq,
            });
        }
    }
    // Event order, as `decode` prints: a gap comes before the bytes skipped after it even
    // when it was declared at a later frame.
    timeline.sort_by_key(|e| e.seq);
}
