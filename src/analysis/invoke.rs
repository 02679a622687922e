//! Invoke/confirm matching: each request is kept until the confirm with its InvokeID comes
//! back; a confirm of the wrong type, a confirm that answers nothing, a reused InvokeID and
//! a request past its timeout are reported.

use super::findings::Findings;
use super::state::{Conn, Msg, Pending, Suspect};
use super::stats::StatsAcc;
use super::types::dir_index;
use crate::cti::spec::{MessageType, Role};
use crate::net::tcp::ConnId;
use crate::pipeline::Direction;
use crate::TimestampNs;

/// What matching reads of the settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InvokeLimits {
    pub timeout: i64,
    pub max_pending: usize,
    pub max_latency_samples: usize,
}

/// What the timeline and the agent summaries keep with a request: its call and agent.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub call: Option<u32>,
    pub agent: Option<String>,
}

/// Match a request or a confirm carrying InvokeID `inv`; returns the request a confirm
/// answers.
pub(crate) fn matching(
    c: &mut Conn,
    f: &mut Findings,
    stats: &mut StatsAcc,
    m: &Msg<'_, '_>,
    inv: u32,
    names: &Names,
    lim: InvokeLimits,
) -> Option<Pending> {
    match m.role? {
        Role::Request => {
            request(c, f, m, inv, names, lim);
            None
        }
        Role::Confirm => confirm(c, f, stats, m, inv, lim),
        Role::Event => None,
    }
}

fn request(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>, inv: u32, names: &Names, lim: InvokeLimits) {
    let (fr, ts, name) = (m.fr, m.ts, m.name);
    let key = (dir_index(m.flow.dir), inv);
    let s = m.d.spec.expect("role from spec");
    if let Some(prev) = c.pending.get(&key) {
        f.push(
            "invoke-reused",
            Some(m.flow.conn),
            vec![prev.frame, fr],
            ts,
            format!(
                "InvokeID {inv} of {name} reused while {} (frame {}) is outstanding",
                prev.name, prev.frame
            ),
        );
    }
    if c.pending.len() >= lim.max_pending && !c.pending.contains_key(&key) {
        c.pending_overflow = true;
        f.limit("max_pending_invokes", Some(m.flow.conn), fr, ts);
        return;
    }
    let monitor = m.d.fixed(crate::cti::spec::fields::field::MonitorID).and_then(|f| f.number());
    c.pending.insert(
        key,
        Pending {
            req: s.id,
            name: s.name,
            confirm: s.confirm,
            frame: fr,
            ts,
            reported: false,
            call: names.call,
            agent: names.agent.clone(),
            monitor: monitor.map(|v| v as u32),
        },
    );
    let dl = ts + lim.timeout;
    c.next_deadline = Some(c.next_deadline.map_or(dl, |x| x.min(dl)));
}

fn confirm(
    c: &mut Conn,
    f: &mut Findings,
    stats: &mut StatsAcc,
    m: &Msg<'_, '_>,
    inv: u32,
    lim: InvokeLimits,
) -> Option<Pending> {
    let (fr, ts, name, id) = (m.fr, m.ts, m.name, m.id);
    let di = dir_index(m.flow.dir);
    let Some(p) = c.pending.remove(&(1 - di, inv)) else {
        unmatched(c, f, m, inv);
        return None;
    };
    let generic = matches!(id, MessageType::FAILURE_CONF | MessageType::CONTROL_FAILURE_CONF);
    if !generic && p.confirm.is_some_and(|e| e != id) {
        let expected = p.confirm.and_then(|e| crate::cti::spec::message(e.0, None)).map_or("?", |m| m.name);
        f.push(
            "confirm-wrong-type",
            Some(m.flow.conn),
            vec![p.frame, fr],
            ts,
            format!(
                "{} (InvokeID {inv}) answered by {name}, expected {expected}, FAILURE_CONF or CONTROL_FAILURE_CONF",
                p.name
            ),
        );
    }
    stats.latency(p.name, ts - p.ts, lim.max_latency_samples);
    if p.reported {
        c.recompute_deadline(lim.timeout);
    }
    Some(p)
}

/// A confirm whose request is not outstanding: an error when both directions were captured
/// completely, a note when the request may have been lost.
fn unmatched(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>, inv: u32) {
    let (fr, ts, name, flow) = (m.fr, m.ts, m.name, m.flow);
    let di = dir_index(flow.dir);
    if c.pending_overflow || c.uncaptured[1 - di] {
        // The request may not have been kept, or its direction was not captured (reported
        // once for the connection).
        return;
    }
    if !c.complete(1 - di) {
        let why = if c.midstream {
            "the request was sent before the capture started"
        } else {
            "the request was lost in a gap"
        };
        f.push(
            "confirm-request-not-captured",
            Some(flow.conn),
            vec![fr],
            ts,
            format!("{name} with InvokeID {inv}: {why}"),
        );
        return;
    }
    // Messages are built only while their rules are listed.
    let unmatched = "confirm-unmatched";
    let message = if f.listing(unmatched) {
        format!("{name} with InvokeID {inv} answers no outstanding request")
    } else {
        String::new()
    };
    if flow.dir != Direction::ToClient {
        f.push(unmatched, Some(flow.conn), vec![fr], ts, message);
        return;
    }
    let lost_rule = "confirm-request-not-captured";
    let lost_message = if f.listing(lost_rule) {
        format!("{name} with InvokeID {inv}: the request was lost in a gap")
    } else {
        String::new()
    };
    let s = Suspect {
        frame: fr,
        rule: unmatched,
        frames: vec![fr],
        ts,
        seq: f.seq,
        message,
        if_lost: Some((lost_rule, lost_message)),
        confirmed_by_data: true,
    };
    c.suspect(f, s);
}

/// The rule for a request left unanswered.
fn unanswered_rule(p: &Pending) -> &'static str {
    if p.req == MessageType::HEARTBEAT_REQ {
        "heartbeat-unanswered"
    } else {
        "invoke-unanswered"
    }
}

/// Requests past their timeout, judged on server messages only: once one is delivered,
/// every server byte before it was delivered or declared lost, so a missing answer is not
/// still in the reassembly buffer. A silent server is judged when the connection ends.
pub(crate) fn timeouts(c: &mut Conn, f: &mut Findings, conn: ConnId, ts: TimestampNs, timeout: i64) {
    if c.next_deadline.is_none_or(|dl| ts < dl) {
        return;
    }
    let answer_lost = c.lost[1];
    for p in c.pending.values_mut() {
        if !p.reported && ts - p.ts >= timeout {
            p.reported = true;
            if answer_lost {
                continue;
            }
            f.push(
                unanswered_rule(p),
                Some(conn),
                vec![p.frame],
                p.ts,
                format!("{} not answered within {} s", p.name, crate::time::format_seconds(timeout, 0)),
            );
        }
    }
    c.recompute_deadline(timeout);
}

/// A connection ends with requests outstanding: unanswered past their timeout, or still
/// pending (the answer may be lost, or the capture ended first).
pub(crate) fn at_end(c: &mut Conn, f: &mut Findings, ts: TimestampNs, timeout: i64) {
    let id = c.id;
    if !c.pending.is_empty() && c.messages[1] == 0 && !c.midstream {
        let p = c.pending.values().map(|p| (p.frame, p.ts)).min().expect("not empty");
        c.mark_uncaptured(
            f,
            1,
            "the client sent requests: that direction is missing from the capture, or the server never answered",
            p.0,
            p.1,
        );
    }
    let answer_lost = c.lost[1];
    for p in c.pending.values() {
        if p.reported || c.uncaptured[1] {
            continue;
        }
        let elapsed = ts - p.ts;
        if elapsed >= timeout && !answer_lost {
            f.push(
                unanswered_rule(p),
                Some(id),
                vec![p.frame],
                p.ts,
                format!(
                    "{} never answered ({} s before the end)",
                    p.name,
                    crate::time::format_seconds(elapsed, 3)
                ),
            );
        } else {
            let why = if answer_lost {
                "the answer may be lost in a gap"
            } else {
                "the connection or capture ended before its timeout"
            };
            f.push(
                "invoke-pending-at-end",
                Some(id),
                vec![p.frame],
                p.ts,
                format!("{} still unanswered at the end: {why}", p.name),
            );
        }
    }
}
