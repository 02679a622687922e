//! Session rules: the opening (OPEN_REQ, OPEN_CONF), messages before the open and after
//! the close, the client's idle timeout, requests to a standby server, one-direction
//! captures, monitors, failures, and the end of a connection.

use super::findings::{value_name, Cause, Findings, Subject};
use super::invoke::Ending;
use super::state::{Conn, OpenState, Pending, Suspect};
use super::stats::StatsAcc;
use super::types::ConnSummary;
use crate::cti::decode::{Decoded, VersionSource};
use crate::cti::framing::Frame;
use crate::cti::spec::fields::field;
use crate::cti::spec::values::{idle_timeout, service_mask, session_type};
use crate::cti::spec::{values, MessageType, Role};
use crate::net::tcp::{ConnEnd, ConnId};
use crate::pipeline::{Direction, Flow};
use crate::TimestampNs;

/// A MonitorID naming no monitor (MonitorID has no value table; all ones is the guide's
/// null value of every 32-bit id).
const NO_MONITOR: u64 = u32::MAX as u64;

/// Text of a failure status: `E_CTI_... (n)`.
pub(crate) fn status_name(v: u64) -> String {
    value_name(&values::STATUS_CODE, v)
}

/// Which directions are captured: a client message settles the suspects before it; a
/// server message before any client message shows the client direction missing; the first
/// server message confirms a client message sent too early.
pub(crate) fn directions(c: &mut Conn, f: &mut Findings, flow: &Flow, frame: &Frame<'_>) {
    let (fr, ts) = (frame.last_frame, frame.ts_ns);
    // A client message captured after a suspect settles it.
    if flow.dir == Direction::ToServer && !c.suspects.is_empty() {
        c.settle_suspects(f, frame.first_frame);
    }
    // One-direction captures: the server speaks only after an OPEN_REQ.
    if flow.dir == Direction::ToClient && c.messages[0] == 0 && !c.midstream {
        c.mark_uncaptured(f, 0, "the server is sending: that direction is missing from the capture", fr, ts);
    }
    if flow.dir == Direction::ToClient && c.messages[1] == 1 {
        // The server direction is captured: a client message sent too early stands.
        if let Some((ef, ets, ename)) = c.early_client.take() {
            let mut frames = vec![ef];
            frames.extend(c.open_req_frame);
            f.push(
                "session-not-open",
                Some(flow.conn),
                frames,
                ets,
                format!("{ename} (client->server) before the session was opened"),
            );
        }
    }
}

/// Where a message falls in the session: before the open, after the close, after a long
/// client silence, or a request to a standby server.
#[allow(clippy::too_many_arguments)]
pub(crate) fn order(
    c: &mut Conn,
    f: &mut Findings,
    flow: &Flow,
    id: MessageType,
    name: &'static str,
    role: Option<Role>,
    fr: u64,
    ts: TimestampNs,
) {
    let answers_open =
        matches!(id, MessageType::OPEN_CONF | MessageType::FAILURE_CONF) && c.open == OpenState::Requested;
    if id != MessageType::OPEN_REQ
        && !answers_open
        && matches!(c.open, OpenState::NotOpen | OpenState::Requested)
        && !c.any_lost()
        && !c.not_open_reported
    {
        c.not_open_reported = true;
        not_open(c, f, flow, name, fr, ts);
    }
    // Data after close.
    if let Some(cf) = c.close_conf {
        if !c.after_close_reported {
            c.after_close_reported = true;
            f.push(
                "data-after-close",
                Some(flow.conn),
                vec![cf, fr],
                ts,
                format!("{name} ({}) after CLOSE_CONF", flow.dir.as_str()),
            );
        }
    }
    // Idle timeout: client silence.
    if flow.dir == Direction::ToServer {
        if let (Some((lts, lfr)), Some(it)) = (c.last_client, c.idle_timeout) {
            let no_timeout = u64::from(idle_timeout::NO_HEARTBEAT);
            if it != no_timeout && !c.client_lost_since && ts - lts > it as i64 * 1_000_000_000 {
                f.push(
                    "client-idle-timeout",
                    Some(flow.conn),
                    vec![lfr, fr],
                    ts,
                    format!(
                        "client silent for {} s, longer than its IdleTimeout of {it} s",
                        crate::time::format_seconds(ts - lts, 3)
                    ),
                );
            }
        }
        c.last_client = Some((ts, fr));
        c.client_lost_since = false;
    }
    // Standby server.
    if flow.dir == Direction::ToServer
        && role == Some(Role::Request)
        && c.session_type == Some(u64::from(session_type::STANDBY))
        && !matches!(id, MessageType::OPEN_REQ | MessageType::HEARTBEAT_REQ | MessageType::CLOSE_REQ)
        && !c.standby_reported
    {
        c.standby_reported = true;
        f.push(
            "standby-request",
            Some(flow.conn),
            vec![fr],
            ts,
            format!("{name} sent to a standby CTI Server, which accepts only OPEN_REQ, HEARTBEAT_REQ and CLOSE_REQ"),
        );
    }
}

/// A message before the session was opened (reported once).
fn not_open(c: &mut Conn, f: &mut Findings, flow: &Flow, name: &'static str, fr: u64, ts: TimestampNs) {
    if flow.dir == Direction::ToServer && c.open == OpenState::Requested && c.messages[1] == 0 {
        // Nothing from the server yet: wait and see whether that direction is captured at
        // all.
        c.early_client = Some((fr, ts, name));
        return;
    }
    let mut frames = vec![fr];
    frames.extend(c.open_req_frame);
    let message = format!("{name} ({}) before the session was opened", flow.dir.as_str());
    if flow.dir == Direction::ToClient {
        // Unless the client's OPEN_REQ turns out lost in a gap.
        let s = Suspect {
            frame: fr,
            rule: "session-not-open",
            frames,
            ts,
            seq: f.seq,
            message,
            cause: Cause::new(Some(name), "server message before the session was opened"),
            subject: Subject { message: Some(name), ..Subject::default() },
            if_lost: None,
            confirmed_by_data: true,
        };
        c.suspect(f, s);
    } else {
        let cause = Cause::new(Some(name), "client message before the session was opened");
        f.report("session-not-open", Some(flow.conn), &frames, ts, cause, || {
            (message, Subject { message: Some(name), ..Subject::default() })
        });
    }
}

/// What OPEN_REQ, OPEN_CONF, FAILURE_EVENT, CLOSE_REQ and CLOSE_CONF change in the session.
pub(crate) fn session_message(
    c: &mut Conn,
    f: &mut Findings,
    stats: &mut StatsAcc,
    flow: &Flow,
    id: MessageType,
    d: &Decoded,
    frame: &Frame<'_>,
) {
    let (fr, ts) = (frame.last_frame, frame.ts_ns);
    match id {
        MessageType::OPEN_REQ if flow.dir == Direction::ToServer => {
            if let Some(prev) = c.open_req_frame {
                f.push(
                    "open-duplicate",
                    Some(flow.conn),
                    vec![prev, fr],
                    ts,
                    "second OPEN_REQ on the connection".into(),
                );
                return;
            }
            c.open_req_frame = Some(fr);
            // The stage decoded the OPEN_REQ with its own VersionNumber, unless forced.
            c.version = match d.version_source {
                Some(VersionSource::Seen) => Some(d.version),
                _ => d.number_of(field::VersionNumber).map(|v| v as u32),
            };
            c.idle_timeout = d.number_of(field::IdleTimeout);
            c.call_msg_mask = d.number_of(field::CallMsgMask).map(|v| v as u32);
            if c.open == OpenState::NotOpen || c.open == OpenState::Unknown {
                c.open = OpenState::Requested;
            }
        }
        MessageType::OPEN_CONF if flow.dir == Direction::ToClient => {
            c.open = OpenState::Open;
            c.services_granted = d.number_of(field::ServicesGranted).map(|v| v as u32);
            c.session_type = d.fixed(field::SessionType).and_then(|f| f.number());
            c.monitors_known = true;
            if let Some(m) = d.number_of(field::MonitorID).filter(|&m| m != 0) {
                c.monitors.insert(m as u32);
            }
        }
        MessageType::FAILURE_EVENT => {
            c.server_failure = true;
            c.failure_event.get_or_insert(fr);
            let status = d.number_of(field::Status);
            stats.failure(MessageType::FAILURE_EVENT, status);
            let st = status.map_or("?".to_string(), status_name);
            let cause = Cause::new(Some("FAILURE_EVENT"), format!("status {st}"));
            f.report("failure-event", Some(flow.conn), &[fr], ts, cause, || {
                let who =
                    c.identity.describe_agent().map_or(String::new(), |a| format!(" to the desktop of {a}"));
                (format!("FAILURE_EVENT with status {st}{who}"), c.subject(Some("FAILURE_EVENT")))
            });
        }
        MessageType::CLOSE_REQ if flow.dir == Direction::ToServer => {
            c.close_req.get_or_insert(fr);
        }
        MessageType::CLOSE_CONF if flow.dir == Direction::ToClient => {
            c.close_conf.get_or_insert(fr);
        }
        _ => {}
    }
}

/// Failures counted, and what an answer changes in the session: a refused open, a failed
/// heartbeat, monitors started and stopped.
#[allow(clippy::too_many_arguments)]
pub(crate) fn answered(
    c: &mut Conn,
    f: &mut Findings,
    stats: &mut StatsAcc,
    conn: ConnId,
    id: MessageType,
    d: &Decoded,
    matched: Option<&Pending>,
    fr: u64,
    ts: TimestampNs,
) {
    let Some(p) = matched else {
        match id {
            MessageType::FAILURE_CONF => stats.failure(id, d.number_of(field::Status)),
            MessageType::CONTROL_FAILURE_CONF => stats.failure(id, d.number_of(field::FailureCode)),
            _ => {}
        }
        return;
    };
    match id {
        MessageType::FAILURE_CONF => {
            let status = d.number_of(field::Status);
            stats.failure(id, status);
            if p.req == MessageType::OPEN_REQ {
                let st = status.map_or("?".to_string(), status_name);
                c.open = OpenState::Refused;
                c.server_failure = true;
                f.push(
                    "open-failed",
                    Some(conn),
                    vec![p.frame, fr],
                    ts,
                    format!("OPEN_REQ refused with {st}"),
                );
            } else if p.req == MessageType::HEARTBEAT_REQ {
                c.server_failure = true;
            }
        }
        MessageType::CONTROL_FAILURE_CONF => {
            stats.failure(id, d.number_of(field::FailureCode));
        }
        MessageType::MONITOR_START_CONF => {
            if let Some(m) = d.number_of(field::MonitorID) {
                c.monitors.insert(m as u32);
            }
        }
        MessageType::MONITOR_STOP_CONF => {
            if let Some(m) = p.monitor {
                c.monitors.remove(&m);
            }
        }
        _ => {}
    }
}

/// An event from the server naming a MonitorID that no OPEN_CONF or MONITOR_START_CONF
/// created (checked once the session's monitors are known; reported once per MonitorID).
pub(crate) fn monitors(
    c: &mut Conn,
    f: &mut Findings,
    flow: &Flow,
    d: &Decoded,
    name: &'static str,
    fr: u64,
    ts: TimestampNs,
) {
    let pm = c.services_granted.is_some_and(|s| s & service_mask::CTI_SERVICE_PERIPHERAL_MONITOR != 0);
    if flow.dir == Direction::ToClient
        && d.spec.is_some_and(|s| s.role == Role::Event)
        && pm
        && c.monitors_known
        && c.complete(1)
    {
        if let Some(m) = d.fixed(field::MonitorID).and_then(|f| f.number()) {
            if m != 0
                && m != NO_MONITOR
                && !c.monitors.contains(&(m as u32))
                && c.monitors_reported.insert(m as u32)
            {
                f.push(
                    "monitor-unknown",
                    Some(flow.conn),
                    vec![fr],
                    ts,
                    format!("{name} names MonitorID {m}, which no OPEN_CONF or MONITOR_START_CONF created (or MONITOR_STOP_CONF ended)"),
                );
            }
        }
    }
}

/// A connection ends: the suspects still waiting stand, and a reset without CLOSE_REQ is
/// reported.
pub(crate) fn close(
    c: &mut Conn,
    f: &mut Findings,
    end: Option<ConnEnd>,
    by: Option<Direction>,
    frame: u64,
    ts: TimestampNs,
) {
    for s in std::mem::take(&mut c.suspects) {
        s.report(c.id, f);
    }
    if end == Some(ConnEnd::Rst)
        && c.carried_cti()
        && c.close_req.is_none()
        && !c.server_failure
        && !c.lost[0]
        && c.open != OpenState::Refused
    {
        let who = by.map_or("one side", Direction::sender);
        let cause = Cause::new(None, format!("connection reset by the {who} without CLOSE_REQ"));
        f.report("reset-without-close", Some(c.id), &[frame], ts, cause, || {
            let mut subject = c.subject(None);
            subject.by = by.map(Direction::sender);
            let mut text = format!("connection reset by the {who} without CLOSE_REQ");
            if let Some(a) = c.identity.describe_agent() {
                text.push_str(&format!(" (desktop of {a})"));
            }
            if c.heartbeats_unanswered > 0 {
                let n = c.heartbeats_unanswered;
                text.push_str(&format!(
                    " after {n} unanswered HEARTBEAT_REQ{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
            (text, subject)
        });
    }
}

/// How a connection ended, for the requests it leaves outstanding.
pub(crate) fn ending(c: &Conn, end: Option<ConnEnd>, by: Option<Direction>, ts: TimestampNs) -> Ending {
    let ended = matches!(end, Some(ConnEnd::Fin | ConnEnd::Rst | ConnEnd::Reused));
    let who = by.map_or("one side", Direction::sender);
    let why = if let Some(fr) = c.close_conf {
        format!("the server closed the session (CLOSE_CONF, frame {fr})")
    } else if let Some(fr) = c.failure_event {
        format!("the server ended the session (FAILURE_EVENT, frame {fr})")
    } else {
        match end {
            Some(ConnEnd::Rst) => format!("the connection was reset by the {who}"),
            Some(ConnEnd::Fin) => format!("the connection was closed by the {who}"),
            Some(ConnEnd::Reused) => "a new connection replaced it".to_string(),
            _ => "the capture ended".to_string(),
        }
    };
    Ending { ended, why, ts }
}

/// The summary of a connection that ended (`end` None: the capture ended).
pub(crate) fn summary(
    c: &Conn,
    end: Option<ConnEnd>,
    by: Option<Direction>,
    frame: u64,
    ts: TimestampNs,
) -> ConnSummary {
    ConnSummary {
        conn: c.id,
        client: c.client.map(|a| a.to_string()),
        server: c.server.map(|a| a.to_string()),
        midstream: c.midstream,
        first_frame: c.first_frame,
        first_ts: c.first_ts,
        last_ts: c.last_ts.max(ts),
        end: end.unwrap_or(ConnEnd::CaptureEnd).as_str(),
        end_by: by.map(Direction::sender),
        end_frame: frame,
        cti: c.carried_cti(),
        extension: c.identity.extension.clone(),
        instrument: c.identity.instrument.clone(),
        desktop: c.identity.is_desktop(),
        follows: c.follows,
        heartbeats_unanswered: c.heartbeats_unanswered,
        open: c.open.as_str(c.close_conf.is_some()),
        version: c.version,
        client_id: c.identity.client_id.clone(),
        agent_id: c.identity.agent().map(str::to_string),
        services_granted: c.services_granted,
        session_type: c.session_type,
        messages: c.messages,
        bytes: c.bytes,
        lost: c.any_lost(),
    }
}
