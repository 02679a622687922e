//! Per-connection session state: open/close, heartbeats, idle timeout, active/standby,
//! invoke/confirm matching and configuration acquisition.

use super::fields::Name;
use super::report::ConnSummary;
use super::{dir_index, fixed_num, num, text, value_name, Analyzer, TimelineEntry};
use crate::cti::decode::{Decoded, VersionState};
use crate::cti::framing::Frame;
use crate::cti::spec::{self, values, Role};
use crate::net::tcp::{ConnEnd, ConnId, ConnStart};
use crate::pipeline::{Direction, Flow};
use crate::render::events as ev_names;
use crate::TimestampNs;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

pub(crate) const FAILURE_CONF: u32 = 1;
pub(crate) const FAILURE_EVENT: u32 = 2;
pub(crate) const OPEN_REQ: u32 = 3;
pub(crate) const OPEN_CONF: u32 = 4;
pub(crate) const HEARTBEAT_REQ: u32 = 5;
pub(crate) const CLOSE_REQ: u32 = 7;
pub(crate) const CLOSE_CONF: u32 = 8;
pub(crate) const CONTROL_FAILURE_CONF: u32 = 35;
pub(crate) const MONITOR_START_CONF: u32 = 94;
pub(crate) const MONITOR_STOP_CONF: u32 = 96;
const CONFIG_REQUEST_KEY_EVENT: u32 = 230;
const CONFIG_KEY_EVENT: u32 = 231;
const CONFIG_REQUEST_EVENT: u32 = 232;
const CONFIG_BEGIN_EVENT: u32 = 233;
const CONFIG_END_EVENT: u32 = 234;
const CONFIGEND_PARTIAL: u64 = 5;
/// Latency samples kept for configuration requests (one or a few per session).
const CONFIG_LATENCY_SAMPLES: usize = 100_000;

/// IdleTimeout value meaning "no heartbeats, no idle timeout".
const NO_IDLE_TIMEOUT: u64 = 0xFFFF_FFFF;
/// OPEN_CONF SessionType of a standby server.
const SESSION_TYPE_STANDBY: u64 = 2;
/// CTI_SERVICE_PERIPHERAL_MONITOR.
pub(crate) const SERVICE_PERIPHERAL_MONITOR: u32 = 0x20;

/// Rank of a configuration record type in the guide's acquisition order.
fn config_rank(id: u32) -> Option<u8> {
    Some(match id {
        235 => 1, // CONFIG_SERVICE_EVENT
        236 => 2, // CONFIG_SKILL_GROUP_EVENT
        237 => 3, // CONFIG_AGENT_EVENT
        282 => 4, // CONFIG_AGENT_SERVICE_EVENT
        238 => 5, // CONFIG_DEVICE_EVENT
        245 => 6, // CONFIG_CALL_TYPE_EVENT
        254 => 7, // CONFIG_MRD_EVENT
        260 => 8, // CONFIG_PERIPHERAL_EVENT
        261 => 9, // CONFIG_AGENT_DESK_SETTINGS_EVENT
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenState {
    /// Mid-stream start: the opening was not captured.
    Unknown,
    NotOpen,
    Requested,
    Open,
    Refused,
}

/// An outstanding request.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// Spec id of the request.
    pub req: u32,
    pub name: &'static str,
    /// Spec id of its positive confirm.
    pub confirm: Option<u32>,
    pub frame: u64,
    pub ts: TimestampNs,
    /// Reported as unanswered already.
    pub reported: bool,
    pub call: Option<u32>,
    pub agent: Option<String>,
    pub monitor: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigReq {
    Key,
    Data,
}

#[derive(Debug, Default)]
pub(crate) struct ConfigState {
    /// Outstanding configuration request: kind, frame, time.
    pub request: Option<(ConfigReq, u64, TimestampNs, bool)>,
    /// Open CONFIG_BEGIN_EVENT block: frame.
    pub block: Option<u64>,
    /// Highest record rank seen in the acquisition.
    pub rank: u8,
    pub order_reported: bool,
    /// The last CONFIG_END_EVENT was PARTIAL: its frame.
    pub partial: Option<u64>,
}

impl ConfigState {
    /// Whether message `id` concerns configuration acquisition ([`config_message`]): a
    /// configuration message, or any message while a request or a block is open.
    #[inline]
    fn involves(&self, id: u32) -> bool {
        self.request.is_some()
            || self.block.is_some()
            || (CONFIG_REQUEST_KEY_EVENT..=CONFIG_END_EVENT).contains(&id)
    }
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub id: ConnId,
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    pub midstream: bool,
    pub first_frame: u64,
    pub first_ts: TimestampNs,
    pub last_frame: u64,
    pub last_ts: TimestampNs,
    /// Bytes were lost in this direction (gap, resync, incomplete message).
    pub lost: [bool; 2],
    /// This direction was judged not captured at all (one-direction capture).
    pub uncaptured: [bool; 2],
    /// A client message sent before any server message while the open was outstanding:
    /// reported as `session-not-open` only once the server direction proves captured.
    pub early_client: Option<(u64, TimestampNs, &'static str)>,
    /// Findings about server messages that hold only if the client direction is complete up
    /// to them; decided later (see [`Suspect`]).
    pub suspects: VecDeque<Suspect>,
    pub open: OpenState,
    pub open_req_frame: Option<u64>,
    pub version: Option<u32>,
    pub idle_timeout: Option<u64>,
    pub services_requested: Option<u32>,
    pub services_granted: Option<u32>,
    pub call_msg_mask: Option<u32>,
    pub client_id: Option<String>,
    pub agent_id: Option<String>,
    pub agent_extension: Option<String>,
    pub agent_instrument: Option<String>,
    pub session_type: Option<u64>,
    /// The session ended abnormally on the server's word (FAILURE_EVENT, FAILURE_CONF to an
    /// open or heartbeat): a reset after it is expected.
    pub server_failure: bool,
    /// Last client message, and whether bytes were lost since.
    pub last_client: Option<(TimestampNs, u64)>,
    pub client_lost_since: bool,
    pub close_req: Option<u64>,
    pub close_conf: Option<u64>,
    pub after_close_reported: bool,
    pub not_open_reported: bool,
    pub standby_reported: bool,
    pub pending: BTreeMap<(usize, u32), Pending>,
    pub next_deadline: Option<TimestampNs>,
    pub pending_overflow: bool,
    pub config: ConfigState,
    /// MonitorIDs in force; `monitors_known` once OPEN_CONF was seen.
    pub monitors: BTreeSet<u32>,
    pub monitors_known: bool,
    pub messages: [u64; 2],
    pub bytes: [u64; 2],
    pub calls: super::calls::ConnCalls,
    /// The decoder's protocol-version state, for the messages the analyzer decodes.
    pub decoding: VersionState,
}

impl Conn {
    fn new(id: ConnId, midstream: bool, frame: u64, ts: TimestampNs) -> Self {
        Conn {
            id,
            client: None,
            server: None,
            midstream,
            first_frame: frame,
            first_ts: ts,
            last_frame: frame,
            last_ts: ts,
            lost: [false; 2],
            uncaptured: [false; 2],
            early_client: None,
            suspects: VecDeque::new(),
            open: if midstream { OpenState::Unknown } else { OpenState::NotOpen },
            open_req_frame: None,
            version: None,
            idle_timeout: None,
            services_requested: None,
            services_granted: None,
            call_msg_mask: None,
            client_id: None,
            agent_id: None,
            agent_extension: None,
            agent_instrument: None,
            session_type: None,
            server_failure: false,
            last_client: None,
            client_lost_since: false,
            close_req: None,
            close_conf: None,
            after_close_reported: false,
            not_open_reported: false,
            standby_reported: false,
            pending: BTreeMap::new(),
            next_deadline: None,
            pending_overflow: false,
            config: ConfigState::default(),
            monitors: BTreeSet::new(),
            monitors_known: false,
            messages: [0; 2],
            bytes: [0; 2],
            calls: Default::default(),
            decoding: VersionState::default(),
        }
    }

    /// Everything in this direction was captured from the session's start.
    pub fn complete(&self, dir: usize) -> bool {
        !self.midstream && !self.lost[dir]
    }

    fn any_lost(&self) -> bool {
        self.lost[0] || self.lost[1]
    }

    fn recompute_deadline(&mut self, timeout: i64) {
        self.next_deadline = self.pending.values().filter(|p| !p.reported).map(|p| p.ts + timeout).min();
    }
}

/// Suspects kept per connection; beyond it the oldest is decided at once.
const MAX_SUSPECTS: usize = 1_024;

/// A finding about a server message that holds only if no client bytes sent before it were
/// lost. A loss in the client direction can be declared after the server message is seen
/// (the server's acknowledgement reveals the hole, or later data overflows the buffer), so
/// the verdict waits: a loss in the client direction turns it into `if_lost` (or drops it),
/// a client message captured after it settles it, and so does the end of the connection.
#[derive(Debug)]
pub(crate) struct Suspect {
    /// Frame of the server message.
    pub frame: u64,
    pub rule: &'static str,
    pub frames: Vec<u64>,
    pub ts: TimestampNs,
    /// Event-order position of the server message.
    pub seq: u64,
    pub message: String,
    /// What stands instead when client bytes turn out lost.
    pub if_lost: Option<(&'static str, String)>,
    /// A later client message confirms it (else it dismisses it).
    pub confirmed_by_data: bool,
}

impl Suspect {
    fn report(self, conn: ConnId, f: &mut super::Findings) {
        f.push_at(self.seq, self.rule, Some(conn), self.frames, self.ts, self.message);
    }
}

/// Settle the suspects about server messages captured before frame `first_frame` of a client
/// message.
#[cold]
#[inline(never)]
fn settle_suspects(c: &mut Conn, f: &mut super::Findings, first_frame: u64) {
    // Suspects are queued in capture order.
    while c.suspects.front().is_some_and(|s| s.frame < first_frame) {
        let s = c.suspects.pop_front().expect("front");
        if s.confirmed_by_data {
            s.report(c.id, f);
        }
    }
}

fn suspect(c: &mut Conn, f: &mut super::Findings, s: Suspect) {
    if c.suspects.len() >= MAX_SUSPECTS {
        if let Some(old) = c.suspects.pop_front() {
            old.report(c.id, f);
        }
    }
    c.suspects.push_back(s);
}

/// Judge direction `dir` of `c` not captured: it carried no message while the other one
/// shows that it must have (a server message needs an OPEN_REQ; a request past its timeout
/// needs an answer). Reported once per direction.
pub(crate) fn mark_uncaptured(
    c: &mut Conn,
    f: &mut super::Findings,
    dir: usize,
    why: &str,
    frame: u64,
    ts: TimestampNs,
) {
    if c.uncaptured[dir] {
        return;
    }
    c.uncaptured[dir] = true;
    let already_lost = c.lost[dir];
    c.lost[dir] = true;
    if dir == 0 {
        c.client_lost_since = true;
    }
    if already_lost {
        // A gap or a resync in that direction was reported already.
        return;
    }
    let name = if dir == 0 { "client->server" } else { "server->client" };
    let message =
        format!("no {name} message captured, yet {why}; rules that need that direction are not applied");
    if dir == 0 {
        // Dismissed if the client's bytes turn out lost in a gap or client messages follow.
        let s = Suspect {
            frame,
            rule: "direction-not-captured",
            frames: vec![frame],
            ts,
            seq: f.seq,
            message,
            if_lost: None,
            confirmed_by_data: false,
        };
        suspect(c, f, s);
    } else {
        f.push("direction-not-captured", Some(c.id), vec![frame], ts, message);
    }
}

/// Text of a failure status: `E_CTI_... (n)`.
pub(crate) fn status_name(v: u64) -> String {
    value_name(&values::STATUS_CODE, v)
}

impl Analyzer {
    pub(crate) fn connection(
        &mut self,
        id: ConnId,
        client: SocketAddr,
        server: SocketAddr,
        start: ConnStart,
        frame: u64,
        ts: TimestampNs,
    ) {
        if self.conns.contains_key(&id) {
            self.close_conn(id, None, frame, ts);
        }
        let mut c = Conn::new(id, start == ConnStart::Midstream, frame, ts);
        c.client = Some(client);
        c.server = Some(server);
        self.conns.insert(id, c);
    }

    fn conn_mut(&mut self, id: ConnId, frame: u64, ts: TimestampNs) -> &mut Conn {
        // A message without a Connection event before it: treat as mid-stream.
        self.conns.entry(id).or_insert_with(|| Conn::new(id, true, frame, ts))
    }

    /// Bytes of one direction were lost.
    pub(crate) fn lost(&mut self, id: ConnId, dir: Direction, ts: TimestampNs) {
        let c = self.conn_mut(id, 0, ts);
        c.lost[dir_index(dir)] = true;
        if dir == Direction::ToServer {
            c.client_lost_since = true;
            for s in std::mem::take(&mut c.suspects) {
                if let Some((rule, message)) = s.if_lost {
                    self.findings.push_at(s.seq, rule, Some(id), s.frames, s.ts, message);
                }
            }
        }
    }

    pub(crate) fn connection_end(&mut self, id: ConnId, end: ConnEnd, frame: u64, ts: TimestampNs) {
        self.close_conn(id, Some(end), frame, ts);
    }

    /// End a connection: report what is left open and keep its summary.
    pub(crate) fn close_conn(&mut self, id: ConnId, end: Option<ConnEnd>, frame: u64, ts: TimestampNs) {
        let Some(mut c) = self.conns.remove(&id) else {
            return;
        };
        let timeout = self.settings.request_timeout_ns;
        let f = &mut self.findings;
        for s in std::mem::take(&mut c.suspects) {
            s.report(id, f);
        }
        if end == Some(ConnEnd::Rst)
            && c.close_req.is_none()
            && !c.server_failure
            && !c.lost[0]
            && c.open != OpenState::Refused
        {
            f.push(
                "reset-without-close",
                Some(id),
                vec![frame],
                ts,
                "connection reset without CLOSE_REQ".into(),
            );
        }
        // Requests still outstanding.
        if !c.pending.is_empty() && c.messages[1] == 0 && !c.midstream {
            let p = c.pending.values().map(|p| (p.frame, p.ts)).min().expect("not empty");
            mark_uncaptured(&mut c, f, 1, "the client sent requests: that direction is missing from the capture, or the server never answered", p.0, p.1);
        }
        let answer_lost = c.lost[1];
        for p in c.pending.values() {
            if p.reported || c.uncaptured[1] {
                continue;
            }
            let elapsed = ts - p.ts;
            if elapsed >= timeout && !answer_lost {
                f.push(
                    if p.req == HEARTBEAT_REQ { "heartbeat-unanswered" } else { "invoke-unanswered" },
                    Some(id),
                    vec![p.frame],
                    p.ts,
                    format!(
                        "{} never answered ({} s before the end)",
                        p.name,
                        crate::render::time::format_seconds(elapsed, 3)
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
        // Configuration acquisition left open.
        let ended = matches!(end, Some(ConnEnd::Fin) | Some(ConnEnd::Rst));
        if let Some(pf) = c.config.partial {
            if ended && !c.lost[1] {
                f.push(
                    "config-partial-unfinished",
                    Some(id),
                    vec![pf, frame],
                    ts,
                    "configuration acquisition ended with CONFIGEND_PARTIAL and no further block".into(),
                );
            }
        } else if let Some((kind, rf, rts, reported)) = c.config.request {
            if !reported && ts - rts >= timeout && !c.lost[1] {
                f.push(
                    "config-request-unanswered",
                    Some(id),
                    vec![rf],
                    rts,
                    format!("{} never answered", config_req_name(kind)),
                );
            }
        }
        if let Some(bf) = c.config.block {
            if ended && !c.lost[1] {
                f.push(
                    "config-unpaired",
                    Some(id),
                    vec![bf, frame],
                    ts,
                    "CONFIG_BEGIN_EVENT block never closed by CONFIG_END_EVENT".into(),
                );
            }
        }
        let calls = std::mem::take(&mut c.calls);
        self.calls_conn_end(id, calls, ts);
        let summary = ConnSummary {
            conn: c.id,
            client: c.client.map(|a| a.to_string()),
            server: c.server.map(|a| a.to_string()),
            midstream: c.midstream,
            first_frame: c.first_frame,
            first_ts: c.first_ts,
            last_ts: c.last_ts.max(ts),
            end: end.map_or("capture_end", ev_names::conn_end),
            open: match c.open {
                OpenState::Unknown => "not captured",
                OpenState::NotOpen => "not opened",
                OpenState::Requested => "open requested",
                OpenState::Open => {
                    if c.close_conf.is_some() {
                        "closed"
                    } else {
                        "open"
                    }
                }
                OpenState::Refused => "refused",
            },
            version: c.version,
            client_id: c.client_id.clone(),
            agent_id: c.agent_id.clone(),
            services_granted: c.services_granted,
            session_type: c.session_type,
            messages: c.messages,
            bytes: c.bytes,
            lost: c.any_lost(),
        };
        self.stats.conns.push(summary);
    }

    /// Findings for the decode anomalies of a message.
    #[cold]
    #[inline(never)]
    fn anomalies(
        f: &mut super::Findings,
        conn: ConnId,
        fr: u64,
        ts: TimestampNs,
        name: &'static str,
        d: &Decoded,
    ) {
        for a in &d.anomalies {
            let rid = super::rules::anomaly_rule_id(a.code);
            if !f.listing(rid) {
                f.count_only(rid);
                continue;
            }
            let sev = super::rules::anomaly_severity(a.code);
            let reference = match d.spec.and_then(|s| s.table) {
                Some(t) => format!("guide Table {t}; {}", super::rules::rule(rid).reference),
                None => super::rules::rule(rid).reference.to_string(),
            };
            f.push_with(rid, sev, Some(conn), vec![fr], ts, format!("{name}: {}", a.message), reference);
        }
    }

    /// Handle one message: `decoded`, or else decoded here with the connection's decoding
    /// state (`version`: the protocol version of its OPEN_REQ, when captured).
    pub(crate) fn message(
        &mut self,
        flow: &Flow,
        version: Option<u32>,
        frame: &Frame<'_>,
        decoded: Option<&Decoded>,
    ) {
        let ts = frame.ts_ns;
        let fr = frame.last_frame;
        let di = dir_index(flow.dir);
        // A message without a Connection event before it: treat as mid-stream.
        let c = self.conns.entry(flow.conn).or_insert_with(|| Conn::new(flow.conn, true, fr, ts));
        let d: &Decoded = match decoded {
            Some(d) => d,
            None => {
                let d = &mut self.scratch;
                self.decoder.decode_into(frame.bytes, version, &mut c.decoding, d);
                d
            }
        };
        let spec = d.spec;
        let id = spec.map_or(frame.msg_type, |s| s.id.0);
        let name: &'static str = d.type_name().unwrap_or("UNKNOWN");
        self.stats.count(name, frame.msg_type, flow.dir);
        if !d.anomalies.is_empty() {
            Self::anomalies(&mut self.findings, flow.conn, fr, ts, name, d);
        }
        let timeout = self.settings.request_timeout_ns;
        let max_pending = self.settings.max_pending_invokes;
        let v = super::fields::view(d);
        let f = &mut self.findings;
        c.messages[di] += 1;
        c.bytes[di] += frame.bytes.len() as u64;
        c.last_frame = fr;
        c.last_ts = ts;
        let role = spec.map(|s| s.role);
        let invoke = v.fixed_num(Name::InvokeID).map(|v| v as u32);

        // A client message captured after a suspect settles it.
        if flow.dir == Direction::ToServer && !c.suspects.is_empty() {
            settle_suspects(c, f, frame.first_frame);
        }
        // One-direction captures: the server speaks only after an OPEN_REQ.
        if flow.dir == Direction::ToClient && c.messages[0] == 0 && !c.midstream {
            mark_uncaptured(
                c,
                f,
                0,
                "the server is sending: that direction is missing from the capture",
                fr,
                ts,
            );
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

        // Session open state.
        let answers_open = matches!(id, OPEN_CONF | FAILURE_CONF) && c.open == OpenState::Requested;
        if id != OPEN_REQ
            && !answers_open
            && matches!(c.open, OpenState::NotOpen | OpenState::Requested)
            && !c.any_lost()
            && !c.not_open_reported
        {
            c.not_open_reported = true;
            if flow.dir == Direction::ToServer && c.open == OpenState::Requested && c.messages[1] == 0 {
                // Nothing from the server yet: wait and see whether that direction is
                // captured at all.
                c.early_client = Some((fr, ts, name));
            } else {
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
                        if_lost: None,
                        confirmed_by_data: true,
                    };
                    suspect(c, f, s);
                } else {
                    f.push("session-not-open", Some(flow.conn), frames, ts, message);
                }
            }
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
                if it != NO_IDLE_TIMEOUT && !c.client_lost_since && ts - lts > it as i64 * 1_000_000_000 {
                    f.push(
                        "client-idle-timeout",
                        Some(flow.conn),
                        vec![lfr, fr],
                        ts,
                        format!(
                            "client silent for {} s, longer than its IdleTimeout of {it} s",
                            crate::render::time::format_seconds(ts - lts, 3)
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
            && c.session_type == Some(SESSION_TYPE_STANDBY)
            && !matches!(id, OPEN_REQ | HEARTBEAT_REQ | CLOSE_REQ)
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

        // Type-specific session handling.
        match id {
            OPEN_REQ if flow.dir == Direction::ToServer => {
                if let Some(prev) = c.open_req_frame {
                    f.push(
                        "open-duplicate",
                        Some(flow.conn),
                        vec![prev, fr],
                        ts,
                        "second OPEN_REQ on the connection".into(),
                    );
                } else {
                    c.open_req_frame = Some(fr);
                    c.version = num(d, "VersionNumber").map(|v| v as u32);
                    c.idle_timeout = num(d, "IdleTimeout");
                    c.services_requested = num(d, "ServicesRequested").map(|v| v as u32);
                    c.call_msg_mask = num(d, "CallMsgMask").map(|v| v as u32);
                    c.client_id = text(d, frame.bytes, "ClientID");
                    c.agent_id = text(d, frame.bytes, "AgentID");
                    c.agent_extension = text(d, frame.bytes, "AgentExtension");
                    c.agent_instrument = text(d, frame.bytes, "AgentInstrument");
                    if c.open == OpenState::NotOpen || c.open == OpenState::Unknown {
                        c.open = OpenState::Requested;
                    }
                }
            }
            OPEN_CONF if flow.dir == Direction::ToClient => {
                c.open = OpenState::Open;
                c.services_granted = num(d, "ServicesGranted").map(|v| v as u32);
                c.session_type = fixed_num(d, "SessionType");
                c.monitors_known = true;
                if let Some(m) = num(d, "MonitorID").filter(|&m| m != 0) {
                    c.monitors.insert(m as u32);
                }
                if c.agent_id.is_none() {
                    c.agent_id = text(d, frame.bytes, "AgentID");
                }
                if c.agent_extension.is_none() {
                    c.agent_extension = text(d, frame.bytes, "AgentExtension");
                }
            }
            FAILURE_EVENT => {
                c.server_failure = true;
                let status = num(d, "Status");
                self.stats.failure(FAILURE_EVENT, status);
                f.push_lazy("failure-event", Some(flow.conn), &[fr], ts, || {
                    let st = status.map_or("?".to_string(), status_name);
                    format!("FAILURE_EVENT with status {st}")
                });
            }
            CLOSE_REQ if flow.dir == Direction::ToServer => {
                c.close_req.get_or_insert(fr);
            }
            CLOSE_CONF if flow.dir == Direction::ToClient => {
                c.close_conf.get_or_insert(fr);
            }
            _ => {}
        }

        // Invoke matching.
        let mut matched: Option<Pending> = None;
        // The call ids and the agent a message names: for the timeline, and the agent of a
        // request for the agent's summary (kept with the request for its answer).
        let timeline = self.settings.timeline.is_some();
        let want_agent =
            timeline || (self.settings.call_summaries && role == Some(Role::Request) && invoke.is_some());
        let mut call_ids: Vec<u32> = Vec::new();
        if timeline {
            for n in [
                Name::ConnectionCallID,
                Name::NewConnectionCallID,
                Name::PrimaryCallID,
                Name::SecondaryCallID,
            ] {
                if let Some(v) = v.fixed_num(n) {
                    if v != 0xFFFF_FFFF {
                        call_ids.push(v as u32);
                    }
                }
            }
        }
        let agent_field =
            if want_agent { v.text(frame.bytes, Name::AgentID).map(|a| a.into_owned()) } else { None };
        if let (Some(inv), Some(role)) = (invoke, role) {
            match role {
                Role::Request => {
                    let key = (di, inv);
                    let s = spec.expect("role from spec");
                    if let Some(prev) = c.pending.get(&key) {
                        f.push(
                            "invoke-reused",
                            Some(flow.conn),
                            vec![prev.frame, fr],
                            ts,
                            format!(
                                "InvokeID {inv} of {name} reused while {} (frame {}) is outstanding",
                                prev.name, prev.frame
                            ),
                        );
                    }
                    if c.pending.len() >= max_pending && !c.pending.contains_key(&key) {
                        c.pending_overflow = true;
                        f.limit("max_pending_invokes", Some(flow.conn), fr, ts);
                    } else {
                        c.pending.insert(
                            key,
                            Pending {
                                req: s.id.0,
                                name: s.name,
                                confirm: s.confirm.map(|c| c.0),
                                frame: fr,
                                ts,
                                reported: false,
                                call: call_ids.first().copied(),
                                agent: agent_field.clone(),
                                monitor: v.fixed_num(Name::MonitorID).map(|v| v as u32),
                            },
                        );
                        let dl = ts + timeout;
                        c.next_deadline = Some(c.next_deadline.map_or(dl, |x| x.min(dl)));
                    }
                }
                Role::Confirm => {
                    let key = (1 - di, inv);
                    match c.pending.remove(&key) {
                        Some(p) => {
                            let generic = matches!(id, FAILURE_CONF | CONTROL_FAILURE_CONF);
                            if !generic && p.confirm.is_some_and(|e| e != id) {
                                let expected =
                                    p.confirm.and_then(|e| spec::message(e, None)).map_or("?", |m| m.name);
                                f.push(
                                    "confirm-wrong-type",
                                    Some(flow.conn),
                                    vec![p.frame, fr],
                                    ts,
                                    format!(
                                        "{} (InvokeID {inv}) answered by {name}, expected {expected}, FAILURE_CONF or CONTROL_FAILURE_CONF",
                                        p.name
                                    ),
                                );
                            }
                            self.stats.latency(p.name, ts - p.ts, self.settings.max_latency_samples);
                            if p.reported {
                                c.recompute_deadline(timeout);
                            }
                            matched = Some(p);
                        }
                        None => {
                            if c.pending_overflow || c.uncaptured[1 - di] {
                                // The request may not have been kept, or its direction was
                                // not captured (reported once for the connection).
                            } else if c.complete(1 - di) {
                                // Messages are built only while their rules are listed.
                                let unmatched = "confirm-unmatched";
                                let message = if f.listing(unmatched) {
                                    format!("{name} with InvokeID {inv} answers no outstanding request")
                                } else {
                                    String::new()
                                };
                                if flow.dir == Direction::ToClient {
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
                                    suspect(c, f, s);
                                } else {
                                    f.push("confirm-unmatched", Some(flow.conn), vec![fr], ts, message);
                                }
                            } else {
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
                            }
                        }
                    }
                }
                Role::Event => {}
            }
        }
        // Outcomes of answered requests.
        if let Some(p) = &matched {
            match id {
                FAILURE_CONF => {
                    let status = num(d, "Status");
                    self.stats.failure(FAILURE_CONF, status);
                    if p.req == OPEN_REQ {
                        let st = status.map_or("?".to_string(), status_name);
                        c.open = OpenState::Refused;
                        c.server_failure = true;
                        f.push(
                            "open-failed",
                            Some(flow.conn),
                            vec![p.frame, fr],
                            ts,
                            format!("OPEN_REQ refused with {st}"),
                        );
                    } else if p.req == HEARTBEAT_REQ {
                        c.server_failure = true;
                    }
                }
                CONTROL_FAILURE_CONF => {
                    self.stats.failure(CONTROL_FAILURE_CONF, num(d, "FailureCode"));
                }
                MONITOR_START_CONF => {
                    if let Some(m) = num(d, "MonitorID") {
                        c.monitors.insert(m as u32);
                    }
                }
                MONITOR_STOP_CONF => {
                    if let Some(m) = p.monitor {
                        c.monitors.remove(&m);
                    }
                }
                _ => {}
            }
        } else if id == FAILURE_CONF {
            self.stats.failure(FAILURE_CONF, num(d, "Status"));
        } else if id == CONTROL_FAILURE_CONF {
            self.stats.failure(CONTROL_FAILURE_CONF, num(d, "FailureCode"));
        }

        // Configuration acquisition.
        if c.config.involves(id) {
            let from_server = flow.dir == Direction::ToClient;
            config_message(c, f, &mut self.stats, flow.conn, from_server, id, name, d, fr, ts, timeout);
        }

        // Requests past their timeout.
        // Judged on server messages only: once one is delivered, every server byte before it
        // was delivered or declared lost, so a missing answer is not still in the reassembly
        // buffer. A silent server is judged when the connection ends.
        if flow.dir == Direction::ToClient && c.next_deadline.is_some_and(|dl| ts >= dl) {
            let answer_lost = c.lost[1];
            for p in c.pending.values_mut() {
                if !p.reported && ts - p.ts >= timeout {
                    p.reported = true;
                    if answer_lost {
                        continue;
                    }
                    f.push(
                        if p.req == HEARTBEAT_REQ { "heartbeat-unanswered" } else { "invoke-unanswered" },
                        Some(flow.conn),
                        vec![p.frame],
                        p.ts,
                        format!(
                            "{} not answered within {} s",
                            p.name,
                            crate::render::time::format_seconds(timeout, 0)
                        ),
                    );
                }
            }
            c.recompute_deadline(timeout);
        }

        // Calls, monitors, agents.
        let cx = super::calls::CallCtx {
            settings: &self.settings,
            findings: f,
            calls: &mut self.calls,
            agents: &mut self.agents,
        };
        let call_aliases = super::calls::call_message(cx, c, flow, frame, &v, id, name, matched.as_ref());

        // Timeline.
        if let Some(filter) = &self.settings.timeline {
            for a in call_aliases {
                if !call_ids.contains(&a) {
                    call_ids.push(a);
                }
            }
            if let Some(p) = &matched {
                call_ids.extend(p.call);
            }
            let agent = agent_field.or_else(|| matched.as_ref().and_then(|p| p.agent.clone()));
            let ok = filter.session.is_none_or(|s| s == flow.conn)
                && filter.invoke.is_none_or(|i| invoke == Some(i))
                && filter.call.is_none_or(|x| call_ids.contains(&x))
                && filter.agent.as_ref().is_none_or(|a| agent.as_deref() == Some(a.as_str()));
            if ok {
                if self.timeline.len() < self.settings.max_timeline_entries {
                    let detail = super::report::message_detail(d, frame.bytes, matched.as_ref(), ts);
                    self.timeline.push(TimelineEntry {
                        ts_ns: ts,
                        frame: fr,
                        conn: Some(flow.conn),
                        direction: Some(flow.dir.as_str()),
                        what: name.to_string(),
                        detail,
                        call: call_ids.first().copied(),
                        agent,
                        invoke,
                        seq: self.findings.seq,
                    });
                } else {
                    self.findings.limit("max_timeline_entries", Some(flow.conn), fr, ts);
                }
            }
        }
    }
}

fn config_req_name(k: ConfigReq) -> &'static str {
    match k {
        ConfigReq::Key => "CONFIG_REQUEST_KEY_EVENT",
        ConfigReq::Data => "CONFIG_REQUEST_EVENT",
    }
}

/// Configuration acquisition, for a message it [involves](ConfigState::involves).
#[allow(clippy::too_many_arguments)]
fn config_message(
    c: &mut Conn,
    f: &mut super::Findings,
    stats: &mut super::report::StatsAcc,
    conn: ConnId,
    from_server: bool,
    id: u32,
    name: &'static str,
    d: &Decoded,
    fr: u64,
    ts: TimestampNs,
    timeout: i64,
) {
    let complete_from_server = c.complete(1);
    let answer_lost = c.lost[1];
    let cfg = &mut c.config;
    // A configuration request past its timeout (judged on server messages, as requests are).
    if let Some((kind, rf, rts, reported)) = &mut cfg.request {
        if from_server && !*reported && ts - *rts >= timeout && cfg.partial.is_none() {
            *reported = true;
            if !answer_lost {
                f.push(
                    "config-request-unanswered",
                    Some(conn),
                    vec![*rf],
                    *rts,
                    format!(
                        "{} not answered within {} s",
                        config_req_name(*kind),
                        crate::render::time::format_seconds(timeout, 0)
                    ),
                );
            }
        }
    }
    match id {
        CONFIG_REQUEST_KEY_EVENT | CONFIG_REQUEST_EVENT => {
            let kind = if id == CONFIG_REQUEST_KEY_EVENT { ConfigReq::Key } else { ConfigReq::Data };
            if let Some((k, rf, _, _)) = cfg.request {
                f.push(
                    "config-request-overlap",
                    Some(conn),
                    vec![rf, fr],
                    ts,
                    format!("{name} while {} (frame {rf}) is outstanding", config_req_name(k)),
                );
            }
            // ConfigInformation 0 asks for no upload: nothing is owed in return.
            let nothing = kind == ConfigReq::Data && num(d, "ConfigInformation") == Some(0);
            cfg.request = if nothing { None } else { Some((kind, fr, ts, false)) };
            cfg.rank = 0;
            cfg.order_reported = false;
            cfg.partial = None;
        }
        CONFIG_KEY_EVENT => {
            if let Some((ConfigReq::Key, _, rts, _)) = cfg.request {
                stats.latency("CONFIG_REQUEST_KEY_EVENT", ts - rts, CONFIG_LATENCY_SAMPLES);
                cfg.request = None;
            }
        }
        CONFIG_BEGIN_EVENT => {
            if let Some(bf) = cfg.block {
                f.push(
                    "config-unpaired",
                    Some(conn),
                    vec![bf, fr],
                    ts,
                    format!("CONFIG_BEGIN_EVENT while the block begun at frame {bf} is still open"),
                );
            }
            cfg.block = Some(fr);
            cfg.partial = None;
            let solicited = matches!(cfg.request, Some((ConfigReq::Data, ..)));
            if !solicited {
                // An update block: order is checked within the block.
                cfg.rank = 0;
                cfg.order_reported = false;
            }
        }
        CONFIG_END_EVENT => {
            let status = num(d, "ConfigEndStatus").unwrap_or(0);
            if cfg.block.is_none()
                && !matches!(cfg.request, Some((ConfigReq::Data, ..)))
                && complete_from_server
            {
                f.push(
                    "config-unpaired",
                    Some(conn),
                    vec![fr],
                    ts,
                    "CONFIG_END_EVENT with no CONFIG_BEGIN_EVENT and no CONFIG_REQUEST_EVENT before it"
                        .into(),
                );
            }
            cfg.block = None;
            match status {
                CONFIGEND_PARTIAL => cfg.partial = Some(fr),
                0 | 1 | 4 => {}
                _ => {
                    f.push(
                        "config-end-error",
                        Some(conn),
                        vec![fr],
                        ts,
                        format!("CONFIG_END_EVENT status {}", value_name(&values::CONFIG_END_STATUS, status)),
                    );
                }
            }
            if status != CONFIGEND_PARTIAL {
                cfg.partial = None;
                if let Some((ConfigReq::Data, _, rts, _)) = cfg.request {
                    stats.latency("CONFIG_REQUEST_EVENT", ts - rts, CONFIG_LATENCY_SAMPLES);
                    cfg.request = None;
                }
            }
        }
        _ => {
            if let Some(rank) = config_rank(id) {
                if cfg.block.is_some() {
                    if rank < cfg.rank && !cfg.order_reported {
                        cfg.order_reported = true;
                        f.push(
                            "config-record-order",
                            Some(conn),
                            vec![fr],
                            ts,
                            format!("{name} after records that the guide orders after it"),
                        );
                    }
                    cfg.rank = cfg.rank.max(rank);
                }
            }
        }
    }
}
