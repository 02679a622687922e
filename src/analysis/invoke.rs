//! Invoke/confirm matching: each request is kept until the confirm with its InvokeID comes
//! back; a confirm of the wrong type, a confirm that answers nothing, a reused InvokeID and
//! a request past its timeout are reported.

use super::findings::{Cause, Findings, Subject};
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
        let cause = Cause::new(Some(name), "InvokeID reused while a request with it is outstanding");
        f.report("invoke-reused", Some(m.flow.conn), &[prev.frame, fr], ts, cause, || {
            let mut subject = c.subject(Some(name));
            subject.invoke = Some(inv);
            subject.request = Some(prev.name);
            (
                format!(
                    "InvokeID {inv} of {name} reused while {} (frame {}) is outstanding",
                    prev.name, prev.frame
                ),
                subject,
            )
        });
    }
    if c.pending.len() >= lim.max_pending && !c.pending.contains_key(&key) {
        c.pending_overflow = true;
        f.limit("max_pending_invokes", Some(m.flow.conn), fr, ts);
        return;
    }
    let monitor = m.d.fixed(crate::cti::spec::fields::field::MonitorID).and_then(|f| f.number());
    let peripheral = m.d.fixed(crate::cti::spec::fields::field::PeripheralID).and_then(|f| f.number());
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
            invoke: inv,
            peripheral: peripheral.map(|v| v as u32),
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
    // A confirm sent in segments (guide Table 56, LIST_AGENT_TEAM_CONF: More "1: more
    // messages to follow") answers its request with its last segment; the others leave it
    // outstanding.
    let more =
        m.d.fixed(crate::cti::spec::fields::field::More).and_then(|x| x.number()).is_some_and(|v| v != 0);
    if more && c.pending.contains_key(&(1 - di, inv)) {
        return None;
    }
    let Some(p) = c.pending.remove(&(1 - di, inv)) else {
        unmatched(c, f, m, inv);
        return None;
    };
    let generic = matches!(id, MessageType::FAILURE_CONF | MessageType::CONTROL_FAILURE_CONF);
    if !generic && p.confirm.is_some_and(|e| e != id) {
        let expected = p.confirm.and_then(|e| crate::cti::spec::message(e.0, None)).map_or("?", |m| m.name);
        let cause = Cause::new(Some(p.name), format!("answered by {name}, expected {expected}"));
        f.report("confirm-wrong-type", Some(m.flow.conn), &[p.frame, fr], ts, cause, || {
            let mut subject = c.request_subject(&p, inv);
            subject.confirm = Some(name);
            subject.latency_ns = Some(ts - p.ts);
            (
                format!(
                    "{} answered by {name}, expected {expected}, FAILURE_CONF or CONTROL_FAILURE_CONF",
                    describe(&p, &subject)
                ),
                subject,
            )
        });
    }
    stats.latency(p.name, ts - p.ts, lim.max_latency_samples);
    if p.reported {
        // Reported as unanswered at its timeout: the finding learns the answer.
        f.answered_late(m.flow.conn, p.frame, inv, name, fr, ts - p.ts);
        c.recompute_deadline(lim.timeout);
    }
    Some(p)
}

/// A request in words: `SET_AGENT_STATE_REQ (InvokeID 17, agent 1001, call 16795322)`.
pub(crate) fn describe(p: &Pending, s: &Subject) -> String {
    let mut parts = vec![format!("InvokeID {}", p.invoke)];
    match (&s.agent, &s.extension) {
        (Some(a), Some(e)) => parts.push(format!("agent {a}, extension {e}")),
        (Some(a), None) => parts.push(format!("agent {a}")),
        (None, Some(e)) => parts.push(format!("extension {e}")),
        (None, None) => {}
    }
    if let Some(call) = p.call {
        parts.push(format!("call {call}"));
    }
    format!("{} ({})", p.name, parts.join(", "))
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
    let mut subject = c.subject(Some(name));
    subject.invoke = Some(inv);
    subject.confirm = Some(name);
    if !c.complete(1 - di) {
        let why = if c.midstream {
            "the request was sent before the capture started"
        } else {
            "the request was lost in a gap"
        };
        let cause = Cause::new(Some(name), why);
        f.report("confirm-request-not-captured", Some(flow.conn), &[fr], ts, cause, || {
            (format!("{name} with InvokeID {inv}: {why}"), subject)
        });
        return;
    }
    let unmatched = "confirm-unmatched";
    let cause = Cause::new(Some(name), "answers no outstanding request");
    if flow.dir != Direction::ToClient {
        f.report(unmatched, Some(flow.conn), &[fr], ts, cause, || {
            (format!("{name} with InvokeID {inv} answers no outstanding request"), subject)
        });
        return;
    }
    let lost_why = "the request was lost in a gap";
    let s = Suspect {
        frame: fr,
        rule: unmatched,
        frames: vec![fr],
        ts,
        seq: f.seq,
        message: format!("{name} with InvokeID {inv} answers no outstanding request"),
        cause,
        subject,
        if_lost: Some((
            "confirm-request-not-captured",
            format!("{name} with InvokeID {inv}: {lost_why}"),
            Cause::new(Some(name), lost_why),
        )),
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

/// Requests past their timeout, judged on server messages only (before the message is
/// matched, so that a late answer is still a late answer): once one is delivered, every
/// server byte before it was delivered or declared lost, so a missing answer is not still in
/// the reassembly buffer. A silent server is judged when the connection ends.
pub(crate) fn timeouts(c: &mut Conn, f: &mut Findings, conn: ConnId, ts: TimestampNs, timeout: i64) {
    if c.next_deadline.is_none_or(|dl| ts < dl) {
        return;
    }
    let answer_lost = c.lost[1];
    let mut due: Vec<Pending> = Vec::new();
    for p in c.pending.values_mut() {
        if !p.reported && ts - p.ts >= timeout {
            p.reported = true;
            if !answer_lost {
                due.push(p.clone());
            }
        }
    }
    for p in due {
        unanswered(c, f, conn, &p, timeout, None);
    }
    c.recompute_deadline(timeout);
}

/// Report a request not answered within the timeout (`end`: never answered, and why).
fn unanswered(
    c: &mut Conn,
    f: &mut Findings,
    conn: ConnId,
    p: &Pending,
    timeout: i64,
    end: Option<(String, i64)>,
) {
    if p.req == MessageType::HEARTBEAT_REQ {
        c.heartbeats_unanswered += 1;
    }
    let secs = crate::time::format_seconds(timeout, 0);
    let cause = match &end {
        None => Cause::new(Some(p.name), format!("not answered within {secs} s")),
        Some(_) => Cause::new(Some(p.name), "never answered before the session ended"),
    };
    f.report(unanswered_rule(p), Some(conn), &[p.frame], p.ts, cause, || {
        let mut subject = c.request_subject(p, p.invoke);
        let sent = crate::time::format_time_of_day(p.ts, 3);
        let text = match end {
            None => format!("{} sent at {sent} not answered within {secs} s", describe(p, &subject)),
            Some((why, elapsed)) => {
                subject.latency_ns = Some(elapsed);
                format!("{} sent at {sent} never answered: {why}", describe(p, &subject))
            }
        };
        (text, subject)
    });
}

/// How a connection ended, for requests left outstanding.
#[derive(Debug, Clone)]
pub(crate) struct Ending {
    /// The connection really ended (FIN, RST, a new connection on its ports), not the capture.
    pub ended: bool,
    /// A sentence: `the server closed the session (CLOSE_CONF, frame 88)`.
    pub why: String,
    pub ts: TimestampNs,
}

/// A connection ends with requests outstanding: unanswered past their timeout, never answered
/// because the session ended, or still pending when the capture ended (the answer may be
/// lost, or the capture ended first).
pub(crate) fn at_end(c: &mut Conn, f: &mut Findings, end: Ending, timeout: i64) {
    let id = c.id;
    let ts = end.ts;
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
    let pending: Vec<Pending> = c.pending.values().filter(|p| !p.reported).cloned().collect();
    if c.uncaptured[1] {
        return;
    }
    for p in pending {
        let elapsed = ts - p.ts;
        if answer_lost {
            let cause =
                Cause::new(Some(p.name), "still unanswered at the end: the answer may be lost in a gap");
            f.report("invoke-pending-at-end", Some(id), &[p.frame], p.ts, cause, || {
                let subject = c.request_subject(&p, p.invoke);
                (
                    format!(
                        "{} still unanswered at the end: the answer may be lost in a gap",
                        describe(&p, &subject)
                    ),
                    subject,
                )
            });
        } else if end.ended {
            let why = format!("{} {} s after it", end.why, crate::time::format_seconds(elapsed, 3));
            unanswered(c, f, id, &p, timeout, Some((why, elapsed)));
        } else if elapsed >= timeout {
            let why = format!("the capture ended {} s after it", crate::time::format_seconds(elapsed, 3));
            unanswered(c, f, id, &p, timeout, Some((why, elapsed)));
        } else {
            let cause =
                Cause::new(Some(p.name), "still unanswered when the capture ended, before its timeout");
            f.report("invoke-pending-at-end", Some(id), &[p.frame], p.ts, cause, || {
                let mut subject = c.request_subject(&p, p.invoke);
                subject.latency_ns = Some(elapsed);
                (
                    format!(
                        "{} still unanswered when the capture ended {} s after it, before its timeout",
                        describe(&p, &subject),
                        crate::time::format_seconds(elapsed, 3)
                    ),
                    subject,
                )
            });
        }
    }
}
