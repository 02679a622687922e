//! What the analysis knows of one connection's session, shared by the modules that follow
//! it: open state, what OPEN_REQ and OPEN_CONF said, outstanding requests, monitors, and
//! which bytes were lost, with the findings whose verdict waits on a loss ([`Suspect`]).

use super::findings::{Cause, Findings, Subject};
use super::identity::Identity;
use crate::cti::decode::Decoded;
use crate::cti::framing::Frame;
use crate::cti::spec::{MessageType, Role};
use crate::net::tcp::ConnId;
use crate::pipeline::Flow;
use crate::TimestampNs;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

/// The message being analysed, and what every module reads of it.
#[derive(Clone, Copy)]
pub(crate) struct Msg<'a, 'f> {
    pub flow: &'a Flow,
    pub frame: &'a Frame<'f>,
    pub d: &'a Decoded,
    /// Its type (the spec's id, else the header's).
    pub id: MessageType,
    pub name: &'static str,
    pub role: Option<Role>,
    /// Its last capture frame and its time.
    pub fr: u64,
    pub ts: TimestampNs,
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

impl OpenState {
    /// The session column of `stats` (`closed` once CLOSE_CONF was seen).
    pub fn as_str(self, closed: bool) -> &'static str {
        match self {
            OpenState::Unknown => "not captured",
            OpenState::NotOpen => "not opened",
            OpenState::Requested => "open requested",
            OpenState::Open if closed => "closed",
            OpenState::Open => "open",
            OpenState::Refused => "refused",
        }
    }
}

/// An outstanding request.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub req: MessageType,
    pub name: &'static str,
    /// Its positive confirm.
    pub confirm: Option<MessageType>,
    pub frame: u64,
    pub ts: TimestampNs,
    /// Reported as unanswered already.
    pub reported: bool,
    pub call: Option<u32>,
    pub agent: Option<String>,
    pub monitor: Option<u32>,
    pub invoke: u32,
    /// The request's PeripheralID.
    pub peripheral: Option<u32>,
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
    pub cause: Cause,
    pub subject: Subject,
    /// What stands instead when client bytes turn out lost: rule, sentence, cause.
    pub if_lost: Option<(&'static str, String, Cause)>,
    /// A later client message confirms it (else it dismisses it).
    pub confirmed_by_data: bool,
}

impl Suspect {
    pub fn report(self, conn: ConnId, f: &mut Findings) {
        let (message, subject) = (self.message, self.subject);
        f.report_at(self.seq, self.rule, Some(conn), &self.frames, self.ts, self.cause, || {
            (message, subject)
        });
    }

    /// The client bytes before it turned out lost: what stands instead, if anything.
    pub fn report_if_lost(self, conn: ConnId, f: &mut Findings) {
        if let Some((rule, message, cause)) = self.if_lost {
            let subject = self.subject;
            f.report_at(self.seq, rule, Some(conn), &self.frames, self.ts, cause, || (message, subject));
        }
    }
}

/// Entries of each table of [`Masks`]; beyond it the masks are no longer judged on the
/// connection (a change not followed could make an event look masked).
pub(crate) const MAX_MASK_ENTRIES: usize = 256;

/// The services a session asked for and the event masks in force, as the `services` module
/// follows them.
#[derive(Debug, Default)]
pub(crate) struct Masks {
    /// OPEN_REQ ServicesRequested.
    pub requested: Option<u32>,
    /// The session's own masks (OPEN_REQ CallMsgMask, AgentStateMask), widened by a
    /// CHANGE_MONITOR_MASK_REQ until its confirm.
    pub session: Option<(u32, u32)>,
    /// OPEN_CONF MonitorID (the session's own monitor, when not zero).
    pub open_monitor: Option<u32>,
    /// Masks (call, agent state) of the monitors MONITOR_START_CONF created, by MonitorID.
    pub monitors: BTreeMap<u32, (u32, u32)>,
    /// MONITOR_START_REQ and CHANGE_MONITOR_MASK_REQ waiting for their confirm, by InvokeID:
    /// the monitor changed (`None`: a new monitor, or the session's masks) and the masks asked.
    pub changes: BTreeMap<u32, (Option<u32>, u32, u32)>,
    /// A table overflowed: masks are no longer judged.
    pub unknown: bool,
    /// OPEN_REQ ConfigMsgMask.
    pub config: Option<u32>,
    /// Inside a CONFIG_BEGIN_EVENT block: whether it is an unsolicited update block.
    pub config_block: Option<bool>,
    /// The CallVariableMask of the last REGISTER_VARIABLES_REQ confirmed, and the one
    /// outstanding (InvokeID, mask).
    pub call_vars: Option<u32>,
    pub call_vars_asked: Option<(u32, u32)>,
    /// Requests of a service the session was not granted, by InvokeID, waiting for their answer.
    pub not_granted: BTreeSet<u32>,
}

/// One connection's session.
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
    pub services_granted: Option<u32>,
    pub call_msg_mask: Option<u32>,
    /// What OPEN_REQ asked for and the event masks in force (module `services`).
    pub masks: Masks,
    /// ClientID and, for a desktop, its agent.
    pub identity: Identity,
    pub session_type: Option<u64>,
    /// The session ended abnormally on the server's word (FAILURE_EVENT, FAILURE_CONF to an
    /// open or heartbeat): a reset after it is expected.
    pub server_failure: bool,
    /// The FAILURE_EVENT that ended the session, if one did.
    pub failure_event: Option<u64>,
    /// HEARTBEAT_REQs reported unanswered.
    pub heartbeats_unanswered: u32,
    /// The lost session of the same client this one reopened, and the time between them.
    pub follows: Option<(ConnId, i64)>,
    /// Last client message, and whether bytes were lost since.
    pub last_client: Option<(TimestampNs, u64)>,
    pub client_lost_since: bool,
    pub close_req: Option<u64>,
    pub close_conf: Option<u64>,
    pub after_close_reported: bool,
    pub not_open_reported: bool,
    pub standby_reported: bool,
    /// Outstanding requests by (direction, InvokeID).
    pub pending: BTreeMap<(usize, u32), Pending>,
    pub next_deadline: Option<TimestampNs>,
    pub pending_overflow: bool,
    /// MonitorIDs in force; `monitors_known` once OPEN_CONF was seen.
    pub monitors: BTreeSet<u32>,
    pub monitors_known: bool,
    /// Unknown MonitorIDs reported already.
    pub monitors_reported: BTreeSet<u32>,
    pub messages: [u64; 2],
    pub bytes: [u64; 2],
    /// Message types already reported decoded with a layout variant (`layout-variant`).
    pub variants_noted: smallvec::SmallVec<[u32; 2]>,
}

impl Conn {
    pub fn new(id: ConnId, midstream: bool, frame: u64, ts: TimestampNs) -> Self {
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
            services_granted: None,
            call_msg_mask: None,
            masks: Masks::default(),
            identity: Identity::default(),
            session_type: None,
            server_failure: false,
            failure_event: None,
            heartbeats_unanswered: 0,
            follows: None,
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
            monitors: BTreeSet::new(),
            monitors_known: false,
            monitors_reported: BTreeSet::new(),
            messages: [0; 2],
            bytes: [0; 2],
            variants_noted: smallvec::SmallVec::new(),
        }
    }

    /// A finding's subject on this session: the message type and, for a desktop, its agent.
    pub fn subject(&self, message: Option<&'static str>) -> Subject {
        let id = &self.identity;
        let desktop = id.is_desktop();
        let agent = |s: &Option<String>| if desktop { s.clone() } else { None };
        Subject {
            message,
            agent: agent(&id.agent_id),
            extension: agent(&id.extension),
            instrument: agent(&id.instrument),
            ..Subject::default()
        }
    }

    /// A request's subject: its InvokeID, type, call and agent (its own AgentID, else the
    /// session's).
    pub fn request_subject(&self, p: &Pending, inv: u32) -> Subject {
        let mut s = self.subject(Some(p.name));
        s.invoke = Some(inv);
        s.request = Some(p.name);
        s.call = p.call;
        if let Some(a) = &p.agent {
            if s.agent.as_deref() != Some(a) {
                s.agent = Some(a.clone());
                s.extension = None;
                s.instrument = None;
            }
        }
        s
    }

    /// Whether the connection carried any CTI: a message, or bytes lost in a gap.
    pub fn carried_cti(&self) -> bool {
        self.messages != [0, 0] || self.any_lost()
    }

    /// Everything in this direction was captured from the session's start.
    pub fn complete(&self, dir: usize) -> bool {
        !self.midstream && !self.lost[dir]
    }

    pub fn any_lost(&self) -> bool {
        self.lost[0] || self.lost[1]
    }

    pub fn recompute_deadline(&mut self, timeout: i64) {
        self.next_deadline = self.pending.values().filter(|p| !p.reported).map(|p| p.ts + timeout).min();
    }

    /// Queue a finding whose verdict waits (see [`Suspect`]).
    pub fn suspect(&mut self, f: &mut Findings, s: Suspect) {
        if self.suspects.len() >= MAX_SUSPECTS {
            if let Some(old) = self.suspects.pop_front() {
                old.report(self.id, f);
            }
        }
        self.suspects.push_back(s);
    }

    /// Settle the suspects about server messages captured before frame `first_frame` of a
    /// client message.
    #[cold]
    #[inline(never)]
    pub fn settle_suspects(&mut self, f: &mut Findings, first_frame: u64) {
        // Suspects are queued in capture order.
        while self.suspects.front().is_some_and(|s| s.frame < first_frame) {
            let s = self.suspects.pop_front().expect("front");
            if s.confirmed_by_data {
                s.report(self.id, f);
            }
        }
    }

    /// Judge direction `dir` not captured: it carried no message while the other one shows
    /// that it must have (a server message needs an OPEN_REQ; a request past its timeout
    /// needs an answer). Reported once per direction.
    pub fn mark_uncaptured(&mut self, f: &mut Findings, dir: usize, why: &str, frame: u64, ts: TimestampNs) {
        if self.uncaptured[dir] {
            return;
        }
        self.uncaptured[dir] = true;
        let already_lost = self.lost[dir];
        self.lost[dir] = true;
        if dir == 0 {
            self.client_lost_since = true;
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
                cause: Cause::new(None, format!("no {name} message captured")),
                subject: Subject::default(),
                if_lost: None,
                confirmed_by_data: false,
            };
            self.suspect(f, s);
        } else {
            f.push("direction-not-captured", Some(self.id), vec![frame], ts, message);
        }
    }
}
