//! Call-state preconditions and lifecycles: what a client's request presumes of the calls,
//! agents and services its session knows, judged against what the session's own events
//! established.
//!
//! - Call connections: the state of each (PeripheralID, ConnectionCallID,
//!   ConnectionDeviceID) connection a session's call events name, as `callstate` follows
//!   it in `calls`' table of live calls.
//!   HOLD_CALL_REQ, CONSULTATION_CALL_REQ, RETRIEVE_CALL_REQ, RECONNECT_CALL_REQ,
//!   ANSWER_CALL_REQ, DEFLECT_CALL_REQ, ALTERNATE_CALL_REQ ([`preconditions_of`]),
//!   TRANSFER_CALL_REQ and CONFERENCE_CALL_REQ are judged against it only when the state
//!   is known: set by an
//!   event, with no call-control request for the call since that was not refused
//!   (CONTROL_FAILURE_CONF, FAILURE_CONF), on a session granted CTI_SERVICE_CLIENT_CONTROL
//!   (the others' call-control requests are refused anyway, and their events are not
//!   followed) captured from its start without loss in either direction. The verdict waits for the next server message (or the connection's end): a gap in the
//!   server's stream declared by then could hide an event that changed the state.
//! - AGENT_PRE_CALL_ABORT_EVENT: the call it aborts must have been announced by an
//!   AGENT_PRE_CALL_EVENT or AGENT_LEGACY_PRE_CALL_EVENT (same RouterCallKeyDay and
//!   RouterCallKeyCallID), on any connection of the capture; judged only on a session captured from its start, at least
//!   [`PRE_CALL_HORIZON_NS`] after it, so that the announcement could have been captured.
//! - Server applications: a service registered with REGISTER_SERVICE_REQ (confirmed by
//!   REGISTER_SERVICE_CONF) must be unregistered with UNREGISTER_SERVICE_REQ before
//!   CLOSE_REQ.
//! - Monitors across sessions: a client that reopens a lost session (as `links` finds it)
//!   and names, in MONITOR_STOP_REQ or CHANGE_MONITOR_MASK_REQ, a MonitorID of its old
//!   session must have created it again (MONITOR_START_CONF on the new session).
//! - Agent desk settings: AGENT_DESK_SETTINGS_CONF's DeskSettingsMask, per agent (else the
//!   configuration's: CONFIG_AGENT_EVENT's AgentDeskSettingsID of the agent's LoginID, and
//!   CONFIG_AGENT_DESK_SETTINGS_EVENT's FltDeskSettingsMask of that id), says whether
//!   NOT_READY (idle) and LOGOUT need a reason code; SET_AGENT_STATE_REQ to those states is
//!   checked for an EventReasonCode.
//!
//! Bounded: call states as `calls` keeps its live calls (`max_live_calls` per connection,
//! each of at most `MAX_DEVICES_PER_CALL` devices), waiting verdicts up to [`MAX_WAITING`], registrations
//! up to [`MAX_REGISTERED`], desk settings up to `max_agents` agents (and as many
//! AgentDeskSettingsIDs), announced pre-calls up to `max_ended_calls` (the oldest
//! forgotten first).

use super::calls::{fixed_num, peripheral, ConnCalls};
use super::callstate::{tracks_calls, whole, State};
use super::findings::{Cause, Findings, Subject};
use super::links::Links;
use super::settings::Settings;
use super::state::{Conn, Msg, OpenState, Pending};
use crate::cti::decode::Decoded;
use crate::cti::spec::fields::field;
use crate::cti::spec::values::agent_state::{AGENT_STATE_LOGOUT, AGENT_STATE_NOT_READY};
use crate::cti::spec::values::call_id::NULL_CALL_ID;
use crate::cti::spec::values::connection_device_id_type::CONNECTION_ID_STATIC;
use crate::cti::spec::values::desk_settings_mask::{
    DESK_IDLE_REASON_REQUIRED_MASK, DESK_LOGOUT_REASON_REQUIRED_MASK,
};
use crate::cti::spec::{FieldId, MessageType, Role};
use crate::pipeline::Direction;
use crate::{FastMap, TimestampNs};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet, VecDeque};

/// Verdicts waiting per connection; beyond it the oldest is decided at once.
pub(crate) const MAX_WAITING: usize = 64;
/// Registered services remembered per session.
pub(crate) const MAX_REGISTERED: usize = 64;
/// Desk settings requests remembered per session while outstanding.
const MAX_DESK_REQUESTS: usize = 16;
/// A session must have been captured this long before an AGENT_PRE_CALL_ABORT_EVENT for
/// the missing AGENT_PRE_CALL_EVENT to count: routing a call takes seconds, so an
/// announcement older than this is not expected to be aborted.
pub(crate) const PRE_CALL_HORIZON_NS: i64 = 60_000_000_000;

/// A call id naming no call.
const NULL_ID: u64 = NULL_CALL_ID as u64;

/// A finding about a request, reported once the server's next message shows no event was
/// lost before it.
#[derive(Debug)]
struct Waiting {
    seq: u64,
    rule: &'static str,
    frames: Vec<u64>,
    ts: TimestampNs,
    cause: Cause,
    message: String,
    subject: Subject,
}

/// What one connection's session holds for these rules.
#[derive(Debug, Default)]
pub(crate) struct ConnPre {
    waiting: VecDeque<Waiting>,
    /// RegisteredServiceIDs confirmed and not unregistered, with the REGISTER_SERVICE_REQ
    /// frame.
    registered: Vec<(u32, u64)>,
    /// REGISTER_SERVICE_REQs outstanding: InvokeID.
    register_reqs: SmallVec<[u32; 2]>,
    /// AGENT_DESK_SETTINGS_REQs outstanding: InvokeID and the AgentID they named.
    desk_reqs: SmallVec<[(u32, Option<String>); 2]>,
}

/// What the rules keep across connections.
#[derive(Debug, Default)]
pub(crate) struct Preconditions {
    /// DeskSettingsMask per AgentID, and the frame of its AGENT_DESK_SETTINGS_CONF.
    desk: FastMap<String, (u32, u64)>,
    /// From the configuration: AgentDeskSettingsID per agent (CONFIG_AGENT_EVENT's
    /// LoginID, the agent's peripheral number), and the mask and frame of each
    /// AgentDeskSettingsID (CONFIG_AGENT_DESK_SETTINGS_EVENT).
    agent_desk_id: FastMap<String, u64>,
    desk_by_id: FastMap<u64, (u32, u64)>,
    /// Calls announced by AGENT_PRE_CALL_EVENT (RouterCallKeyDay, RouterCallKeyCallID).
    announced: HashSet<(u64, u64)>,
    announced_order: VecDeque<(u64, u64)>,
    /// An announcement without a readable RouterCallKeyDay and RouterCallKeyCallID was
    /// seen: no abort can be said unannounced.
    unreadable_announcement: bool,
}

/// The call-control requests that change the state of the calls they name.
fn changes_calls(id: MessageType) -> bool {
    matches!(
        id,
        MessageType::ANSWER_CALL_REQ
            | MessageType::HOLD_CALL_REQ
            | MessageType::RETRIEVE_CALL_REQ
            | MessageType::TRANSFER_CALL_REQ
            | MessageType::CONFERENCE_CALL_REQ
            | MessageType::CONSULTATION_CALL_REQ
            | MessageType::ALTERNATE_CALL_REQ
            | MessageType::RECONNECT_CALL_REQ
            | MessageType::CLEAR_CALL_REQ
            | MessageType::CLEAR_CONNECTION_REQ
            | MessageType::RELEASE_CALL_REQ
            | MessageType::DEFLECT_CALL_REQ
    )
}

/// The call ids a request names.
const REQUEST_CALL_IDS: [FieldId; 4] = [
    field::ConnectionCallID,
    field::ActiveConnectionCallID,
    field::HeldConnectionCallID,
    field::OtherConnectionCallID,
];

/// The text of field `id` (fixed or floating).
fn text(d: &Decoded, frame: &[u8], id: FieldId) -> Option<String> {
    d.text_of(frame, id).map(|t| t.into_owned())
}

/// A connection a request names: peripheral, call id, device.
type Named<'b> = (u32, u32, Cow<'b, str>);

/// A connection a request names: peripheral, call id, device (static identifiers only).
fn named<'b>(d: &Decoded, frame: &'b [u8], call: FieldId, ty: FieldId, device: FieldId) -> Option<Named<'b>> {
    let call = fixed_num(d, call).filter(|&c| c != NULL_ID)?;
    if fixed_num(d, ty)? != u64::from(CONNECTION_ID_STATIC) {
        return None;
    }
    let dev = d.text_of(frame, device).filter(|s| !s.is_empty())?;
    Some((peripheral(d), call as u32, dev))
}

impl Preconditions {
    /// One message of connection `c`, whose calls' states `calls` holds (set by the
    /// events as `calls` handles them). Most messages concern none of these rules: they
    /// pass a few comparisons of their type.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn message(
        &mut self,
        settings: &Settings,
        f: &mut Findings,
        c: &Conn,
        p: &mut ConnPre,
        calls: &mut ConnCalls,
        m: &Msg<'_, '_>,
        matched: Option<&Pending>,
        links: &Links,
    ) {
        let to_server = m.flow.dir == Direction::ToServer;
        if !to_server && !p.waiting.is_empty() {
            settle(c, p, f);
        }
        if lifecycle(m.id) {
            self.lifecycle(settings, f, c, p, calls, m, matched, links, to_server);
        }
        if to_server && m.role == Some(Role::Request) && changes_calls(m.id) {
            request(f, c, p, calls, m);
        }
    }

    /// The messages of the other rules, and the refusals of call-control requests.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn lifecycle(
        &mut self,
        settings: &Settings,
        f: &mut Findings,
        c: &Conn,
        p: &mut ConnPre,
        calls: &mut ConnCalls,
        m: &Msg<'_, '_>,
        matched: Option<&Pending>,
        links: &Links,
        to_server: bool,
    ) {
        match m.id {
            MessageType::AGENT_PRE_CALL_EVENT | MessageType::AGENT_LEGACY_PRE_CALL_EVENT if !to_server => {
                self.announce(settings, m);
            }
            MessageType::AGENT_PRE_CALL_ABORT_EVENT if !to_server => self.abort(f, c, m),
            MessageType::AGENT_DESK_SETTINGS_REQ if to_server => {
                if let Some(inv) = fixed_num(m.d, field::InvokeID) {
                    if p.desk_reqs.len() >= MAX_DESK_REQUESTS {
                        p.desk_reqs.remove(0);
                    }
                    p.desk_reqs.push((inv as u32, text(m.d, m.frame.bytes, field::AgentID)));
                }
            }
            MessageType::AGENT_DESK_SETTINGS_CONF if !to_server => {
                self.desk_settings(settings, c, p, m, matched);
            }
            MessageType::SET_AGENT_STATE_REQ if to_server => self.set_state(f, c, m),
            MessageType::CONFIG_AGENT_EVENT | MessageType::CONFIG_AGENT_DESK_SETTINGS_EVENT if !to_server => {
                self.config(settings, m);
            }
            MessageType::REGISTER_SERVICE_REQ if to_server => {
                if let Some(inv) = fixed_num(m.d, field::InvokeID) {
                    if p.register_reqs.len() >= MAX_REGISTERED {
                        p.register_reqs.remove(0);
                    }
                    p.register_reqs.push(inv as u32);
                }
            }
            MessageType::REGISTER_SERVICE_CONF if !to_server => registered(p, m, matched),
            MessageType::UNREGISTER_SERVICE_REQ if to_server => {
                if let Some(id) = fixed_num(m.d, field::RegisteredServiceID) {
                    p.registered.retain(|r| u64::from(r.0) != id);
                }
            }
            MessageType::CLOSE_REQ if to_server => unregister_missing(f, c, p, m),
            MessageType::MONITOR_STOP_REQ | MessageType::CHANGE_MONITOR_MASK_REQ if to_server => {
                monitor_not_recreated(f, c, m, links);
            }
            MessageType::CONTROL_FAILURE_CONF | MessageType::FAILURE_CONF if !to_server => {
                if let Some(q) = matched.filter(|q| changes_calls(q.req)) {
                    // Refused: the request changed nothing.
                    for cs in calls.states_mut() {
                        cs.refused(q.invoke);
                    }
                }
            }
            _ => {}
        }
    }

    /// The connection ended: the verdicts still waiting stand if nothing was lost.
    pub(crate) fn conn_end(&mut self, f: &mut Findings, c: &Conn, p: &mut ConnPre) {
        settle(c, p, f);
    }

    fn announce(&mut self, settings: &Settings, m: &Msg<'_, '_>) {
        let Some(key) = router_key(m.d) else {
            // An announcement whose call cannot be read: any abort may be of its call.
            self.unreadable_announcement = true;
            return;
        };
        if self.announced.insert(key) {
            self.announced_order.push_back(key);
            while self.announced_order.len() > settings.max_ended_calls {
                if let Some(old) = self.announced_order.pop_front() {
                    self.announced.remove(&old);
                }
            }
        }
    }

    fn abort(&mut self, f: &mut Findings, c: &Conn, m: &Msg<'_, '_>) {
        let Some(key) = router_key(m.d) else { return };
        if self.announced.contains(&key)
            || self.unreadable_announcement
            || !c.complete(1)
            || c.open != OpenState::Open
            || m.ts - c.first_ts < PRE_CALL_HORIZON_NS
        {
            return;
        }
        let instrument = text(m.d, m.frame.bytes, field::AgentInstrument);
        let cause = Cause::new(Some(m.name), "for a call no AGENT_PRE_CALL_EVENT announced");
        f.report("pre-call-abort-unannounced", Some(m.flow.conn), &[m.fr], m.ts, cause, || {
            let mut s = c.subject(Some(m.name));
            if instrument.is_some() {
                s.instrument = instrument.clone();
            }
            let at = instrument.map_or(String::new(), |i| format!(" to instrument {i}"));
            (
                format!(
                    "AGENT_PRE_CALL_ABORT_EVENT for the call with RouterCallKeyDay {} and RouterCallKeyCallID {}{at}, which no AGENT_PRE_CALL_EVENT announced although the session was captured for {} s before it",
                    key.0,
                    key.1,
                    (m.ts - c.first_ts) / 1_000_000_000
                ),
                s,
            )
        });
    }

    fn desk_settings(
        &mut self,
        settings: &Settings,
        c: &Conn,
        p: &mut ConnPre,
        m: &Msg<'_, '_>,
        matched: Option<&Pending>,
    ) {
        let Some(inv) = fixed_num(m.d, field::InvokeID).map(|v| v as u32) else { return };
        let Some(i) = p.desk_reqs.iter().position(|r| r.0 == inv) else { return };
        let (_, named) = p.desk_reqs.remove(i);
        if matched.is_none_or(|q| q.req != MessageType::AGENT_DESK_SETTINGS_REQ) {
            return;
        }
        let agent = named.or_else(|| c.identity.agent().map(str::to_string));
        let (Some(agent), Some(mask)) = (agent, fixed_num(m.d, field::DeskSettingsMask)) else { return };
        if self.desk.len() >= settings.max_agents && !self.desk.contains_key(&agent) {
            return;
        }
        self.desk.insert(agent, (mask as u32, m.fr));
    }

    /// Configuration records: which desk settings each agent has, and what each says.
    fn config(&mut self, settings: &Settings, m: &Msg<'_, '_>) {
        let agents = m.id == MessageType::CONFIG_AGENT_EVENT;
        // Each record starts with its RecordType.
        let mut id: Option<u64> = None;
        let mut login: Option<String> = None;
        let mut mask: Option<u64> = None;
        let fields = m.d.floating_fields().iter().map(Some).chain(std::iter::once(None));
        for fld in fields {
            if fld.is_none_or(|f| f.meta.id == field::RecordType) {
                let room = |n: usize| n < settings.max_agents;
                match (agents, id.take(), login.take(), mask.take()) {
                    (true, Some(id), Some(agent), _)
                        if room(self.agent_desk_id.len()) || self.agent_desk_id.contains_key(&agent) =>
                    {
                        self.agent_desk_id.insert(agent, id);
                    }
                    (false, Some(id), _, Some(mask))
                        if room(self.desk_by_id.len()) || self.desk_by_id.contains_key(&id) =>
                    {
                        self.desk_by_id.insert(id, (mask as u32, m.fr));
                    }
                    _ => {}
                }
                continue;
            }
            let Some(f) = fld else { continue };
            match f.meta.id {
                field::AgentDeskSettingsID => id = f.number().filter(|&v| v != u64::from(u32::MAX)),
                field::LoginID => {
                    login = f.text(m.frame.bytes).map(|t| t.into_owned()).filter(|t| !t.is_empty())
                }
                field::FltDeskSettingsMask => mask = f.number(),
                _ => {}
            }
        }
    }

    fn set_state(&mut self, f: &mut Findings, c: &Conn, m: &Msg<'_, '_>) {
        let Some(state) = fixed_num(m.d, field::AgentState) else { return };
        let (need, what) = match u32::try_from(state) {
            Ok(AGENT_STATE_NOT_READY) => (DESK_IDLE_REASON_REQUIRED_MASK, "NOT_READY (idle)"),
            Ok(AGENT_STATE_LOGOUT) => (DESK_LOGOUT_REASON_REQUIRED_MASK, "LOGOUT"),
            _ => return,
        };
        if m.d.number_of(field::EventReasonCode).is_some_and(|r| r != 0) {
            return;
        }
        let own = text(m.d, m.frame.bytes, field::AgentID).filter(|a| !a.is_empty());
        let Some(agent) = own.or_else(|| c.identity.agent().map(str::to_string)) else { return };
        let configured = || {
            let id = self.agent_desk_id.get(&agent)?;
            self.desk_by_id.get(id)
        };
        let Some(&(mask, desk_frame)) = self.desk.get(&agent).or_else(configured) else { return };
        if mask & need == 0 {
            return;
        }
        let invoke = fixed_num(m.d, field::InvokeID).map(|v| v as u32);
        let flag = if need == DESK_IDLE_REASON_REQUIRED_MASK {
            "DESK_IDLE_REASON_REQUIRED_MASK"
        } else {
            "DESK_LOGOUT_REASON_REQUIRED_MASK"
        };
        let cause = Cause::new(
            Some(m.name),
            format!("to {what} without EventReasonCode, which the desk settings require"),
        );
        f.report("reason-code-missing", Some(m.flow.conn), &[desk_frame, m.fr], m.ts, cause, || {
            let mut s = c.subject(Some(m.name));
            s.invoke = invoke;
            s.request = Some(m.name);
            if s.agent.as_deref() != Some(agent.as_str()) {
                s.agent = Some(agent.clone());
                s.extension = None;
                s.instrument = None;
            }
            (
                format!(
                    "SET_AGENT_STATE_REQ (InvokeID {}) sets agent {agent} to {what} with EventReasonCode 0, but the agent's desk settings (frame {desk_frame}) have {flag}: the desktop must ask the agent for a reason code",
                    invoke.map_or("?".to_string(), |i| i.to_string()),
                ),
                s,
            )
        });
    }
}

/// The call an AGENT_PRE_CALL_EVENT or AGENT_PRE_CALL_ABORT_EVENT is about.
fn router_key(d: &Decoded) -> Option<(u64, u64)> {
    Some((d.number_of(field::RouterCallKeyDay)?, d.number_of(field::RouterCallKeyCallID)?))
}

/// Report the waiting verdicts if nothing was lost, else drop them.
#[cold]
#[inline(never)]
fn settle(c: &Conn, p: &mut ConnPre, f: &mut Findings) {
    let stand = whole(c);
    for w in std::mem::take(&mut p.waiting) {
        if stand {
            let (message, subject) = (w.message, w.subject);
            f.report_at(w.seq, w.rule, Some(c.id), &w.frames, w.ts, w.cause, || (message, subject));
        }
    }
}

/// A call-control request: judged against the states known, then the calls it names are
/// in flux until the next event.
#[inline(never)]
fn request(f: &mut Findings, c: &Conn, p: &mut ConnPre, calls: &mut ConnCalls, m: &Msg<'_, '_>) {
    let (d, bytes) = (m.d, m.frame.bytes);
    if whole(c) {
        // The connections the request names and the state each must not be in; the first
        // connection found breaking its precondition is the verdict.
        let verdict = preconditions_of(m.id).iter().find_map(|&((call, ty, device), bad, rule)| {
            let n = named(d, bytes, call, ty, device)?;
            judge_one(calls, n, bad).map(|v| (rule, v))
        });
        if let Some((rule, (n, state, frame))) = verdict {
            wait_one(f, c, p, m, rule, n, state, frame);
        }
        if matches!(m.id, MessageType::TRANSFER_CALL_REQ | MessageType::CONFERENCE_CALL_REQ) {
            no_common_device(f, c, p, calls, m);
        }
    }
    if !tracks_calls(c) {
        // No call state is followed.
        return;
    }
    let invoke = fixed_num(d, field::InvokeID).map(|v| v as u32);
    for n in REQUEST_CALL_IDS {
        if let Some(id) = fixed_num(d, n).filter(|&v| v != NULL_ID) {
            if let Some(cs) = calls.state_mut(peripheral(d), id as u32) {
                cs.request(invoke);
            }
        }
    }
}

/// A connection a request names (call id, device type and device fields), the states it
/// must not be in, and the rule that says so.
type Precondition = (Fields, fn(State) -> bool, &'static str);

/// A connection's call id, device type and device fields.
type Fields = (FieldId, FieldId, FieldId);

/// What each call-control request presumes of the connections it names: HOLD_CALL_REQ
/// (guide Table 114) and CONSULTATION_CALL_REQ ("you cannot use it for a call that is
/// already on hold", Table 110) a connection not held; RETRIEVE_CALL_REQ (Table 122) and
/// RECONNECT_CALL_REQ ("retrieving an existing held call", Table 120) a held one;
/// ANSWER_CALL_REQ (Table 102) and DEFLECT_CALL_REQ ("take an alerting call", Table 112)
/// an alerting one; ALTERNATE_CALL_REQ ("placing an active call on hold and then either
/// retrieving a previously held call or answering an alerting call", Table 100) an active
/// connection not held and the other held or alerting.
fn preconditions_of(id: MessageType) -> &'static [Precondition] {
    use field::*;
    const HELD: fn(State) -> bool = |s| s == State::Held;
    const NOT_HELD: fn(State) -> bool = |s| s != State::Held;
    const NOT_ALERTING: fn(State) -> bool = |s| s != State::Alerting;
    const NEITHER: fn(State) -> bool = |s| s != State::Held && s != State::Alerting;
    const CONN: Fields = (ConnectionCallID, ConnectionDeviceIDType, ConnectionDeviceID);
    const ACTIVE: Fields = (ActiveConnectionCallID, ActiveConnectionDeviceIDType, ActiveConnectionDeviceID);
    const HOLDING: Fields = (HeldConnectionCallID, HeldConnectionDeviceIDType, HeldConnectionDeviceID);
    const OTHER: Fields = (OtherConnectionCallID, OtherConnectionDeviceIDType, OtherConnectionDeviceID);
    match id {
        MessageType::HOLD_CALL_REQ => &[(CONN, HELD, "hold-already-held")],
        MessageType::CONSULTATION_CALL_REQ => &[(ACTIVE, HELD, "hold-already-held")],
        MessageType::RETRIEVE_CALL_REQ | MessageType::RECONNECT_CALL_REQ => {
            &[(HOLDING, NOT_HELD, "retrieve-not-held")]
        }
        MessageType::ANSWER_CALL_REQ | MessageType::DEFLECT_CALL_REQ => {
            &[(CONN, NOT_ALERTING, "answer-not-alerting")]
        }
        MessageType::ALTERNATE_CALL_REQ => {
            &[(ACTIVE, HELD, "hold-already-held"), (OTHER, NEITHER, "retrieve-not-held")]
        }
        _ => &[],
    }
}

/// The connection a request names, its known state and the frame that set it, if the
/// state is known and `bad` says it breaks the precondition.
fn judge_one<'b>(calls: &ConnCalls, n: Named<'b>, bad: fn(State) -> bool) -> Option<(Named<'b>, State, u64)> {
    let cs = calls.state(n.0, n.1).filter(|cs| !cs.in_flux())?;
    let (state, frame) = cs.get(n.2.as_bytes())?;
    bad(state).then_some((n, state, frame))
}

/// Queue a finding about a request until the server's next message.
fn queue(f: &mut Findings, c: &Conn, p: &mut ConnPre, w: Waiting) {
    if p.waiting.len() >= MAX_WAITING {
        if let Some(old) = p.waiting.pop_front().filter(|_| whole(c)) {
            let (message, subject) = (old.message, old.subject);
            f.report_at(old.seq, old.rule, Some(c.id), &old.frames, old.ts, old.cause, || (message, subject));
        }
    }
    p.waiting.push_back(w);
}

#[allow(clippy::too_many_arguments)]
fn wait_one(
    f: &mut Findings,
    c: &Conn,
    p: &mut ConnPre,
    m: &Msg<'_, '_>,
    rule: &'static str,
    n: Named<'_>,
    state: State,
    frame: u64,
) {
    let (periph, call, device) = n;
    let invoke = fixed_num(m.d, field::InvokeID).map(|v| v as u32);
    let reason = match (rule, m.id) {
        ("hold-already-held", _) => "for a call connection already held",
        ("retrieve-not-held", MessageType::ALTERNATE_CALL_REQ) => {
            "for a call connection neither held nor alerting"
        }
        ("retrieve-not-held", _) => "for a call connection not held",
        _ => "for a call connection not alerting",
    };
    let cause = Cause::new(Some(m.name), reason);
    let advice = match (rule, m.id) {
        ("hold-already-held", MessageType::CONSULTATION_CALL_REQ) => {
            "a consultation call puts the active call on hold, so it cannot start from a held one: the desktop's view of the call is out of step"
        }
        ("hold-already-held", MessageType::ALTERNATE_CALL_REQ) => {
            "alternating puts the active call on hold, so it cannot be held already: the desktop's view of the call is out of step"
        }
        ("hold-already-held", _) => "the desktop's view of the call is out of step: it should retrieve, not hold again",
        ("retrieve-not-held", MessageType::ALTERNATE_CALL_REQ) => {
            "alternating retrieves a held call or answers an alerting one: the desktop's view of the call is out of step"
        }
        ("retrieve-not-held", _) => "only a held connection can be retrieved: the desktop's view of the call is out of step",
        (_, MessageType::DEFLECT_CALL_REQ) => {
            "only an alerting connection can be deflected: the desktop's view of the call is out of step (answered already, or answered elsewhere)"
        }
        _ => "only an alerting connection can be answered: the desktop's view of the call is out of step (answered already, or answered elsewhere)",
    };
    let mut s = c.subject(Some(m.name));
    s.invoke = invoke;
    s.request = Some(m.name);
    s.peripheral = Some(periph);
    s.call = Some(call);
    s.device = Some(device.to_string());
    let message = format!(
        "{} (InvokeID {}) for call {call} at device {device} (peripheral {periph}), which is {} since frame {frame}: {advice}",
        m.name,
        invoke.map_or("?".to_string(), |i| i.to_string()),
        state.describe()
    );
    let w = Waiting { seq: f.seq, rule, frames: vec![frame, m.fr], ts: m.ts, cause, message, subject: s };
    queue(f, c, p, w);
}

/// TRANSFER_CALL_REQ or CONFERENCE_CALL_REQ: the held and the active call must have a
/// device in common.
fn no_common_device(f: &mut Findings, c: &Conn, p: &mut ConnPre, calls: &ConnCalls, m: &Msg<'_, '_>) {
    let (d, bytes) = (m.d, m.frame.bytes);
    let periph = peripheral(d);
    let (Some(active), Some(held)) = (
        fixed_num(d, field::ActiveConnectionCallID).filter(|&v| v != NULL_ID),
        fixed_num(d, field::HeldConnectionCallID).filter(|&v| v != NULL_ID),
    ) else {
        return;
    };
    let (Some(a), Some(h)) = (calls.state(periph, active as u32), calls.state(periph, held as u32)) else {
        return;
    };
    if a.in_flux() || h.in_flux() || a.full() || h.full() {
        return;
    }
    let adevs: BTreeSet<&[u8]> = a.devices_of().collect();
    let hdevs: BTreeSet<&[u8]> = h.devices_of().collect();
    if adevs.is_empty() || hdevs.is_empty() || adevs.intersection(&hdevs).next().is_some() {
        return;
    }
    let frames: Vec<u64> = {
        let mut v: Vec<u64> = a.devices.iter().chain(h.devices.iter()).map(|x| x.2).collect();
        v.sort_unstable();
        v.dedup();
        v.retain(|&x| x != m.fr);
        let mut out: Vec<u64> = v.into_iter().rev().take(2).collect();
        out.push(m.fr);
        out
    };
    let join =
        |s: &BTreeSet<&[u8]>| s.iter().map(|d| String::from_utf8_lossy(d)).collect::<Vec<_>>().join(", ");
    let (al, hl) = (join(&adevs), join(&hdevs));
    let invoke = fixed_num(d, field::InvokeID).map(|v| v as u32);
    let active_dev = text(d, bytes, field::ActiveConnectionDeviceID);
    let mut s = c.subject(Some(m.name));
    s.invoke = invoke;
    s.request = Some(m.name);
    s.peripheral = Some(periph);
    s.call = Some(active as u32);
    s.device = active_dev;
    let message = format!(
        "{} (InvokeID {}) joins held call {held} (devices {hl}) and active call {active} (devices {al}), which by this session's events have no device in common: the two calls must have connections to one common device",
        m.name,
        invoke.map_or("?".to_string(), |i| i.to_string()),
    );
    let cause = Cause::new(Some(m.name), "held and active calls with no device in common");
    let w = Waiting {
        seq: f.seq,
        rule: "transfer-no-common-device",
        frames,
        ts: m.ts,
        cause,
        message,
        subject: s,
    };
    queue(f, c, p, w);
}

/// REGISTER_SERVICE_CONF: the service its request registered.
fn registered(p: &mut ConnPre, m: &Msg<'_, '_>, matched: Option<&Pending>) {
    let inv = fixed_num(m.d, field::InvokeID).map(|v| v as u32);
    let (Some(inv), Some(q)) = (inv, matched) else { return };
    if q.req != MessageType::REGISTER_SERVICE_REQ || !p.register_reqs.contains(&inv) {
        return;
    }
    p.register_reqs.retain(|i| *i != inv);
    if let Some(id) = fixed_num(m.d, field::RegisteredServiceID) {
        if p.registered.len() < MAX_REGISTERED {
            p.registered.push((id as u32, q.frame));
        }
    }
}

/// The messages [`Preconditions::lifecycle`] handles.
#[inline]
fn lifecycle(id: MessageType) -> bool {
    matches!(
        id,
        MessageType::AGENT_PRE_CALL_EVENT
            | MessageType::AGENT_LEGACY_PRE_CALL_EVENT
            | MessageType::AGENT_PRE_CALL_ABORT_EVENT
            | MessageType::AGENT_DESK_SETTINGS_REQ
            | MessageType::AGENT_DESK_SETTINGS_CONF
            | MessageType::SET_AGENT_STATE_REQ
            | MessageType::CONFIG_AGENT_EVENT
            | MessageType::CONFIG_AGENT_DESK_SETTINGS_EVENT
            | MessageType::REGISTER_SERVICE_REQ
            | MessageType::REGISTER_SERVICE_CONF
            | MessageType::UNREGISTER_SERVICE_REQ
            | MessageType::CLOSE_REQ
            | MessageType::MONITOR_STOP_REQ
            | MessageType::CHANGE_MONITOR_MASK_REQ
            | MessageType::CONTROL_FAILURE_CONF
            | MessageType::FAILURE_CONF
    )
}

/// CLOSE_REQ with services still registered.
fn unregister_missing(f: &mut Findings, c: &Conn, p: &mut ConnPre, m: &Msg<'_, '_>) {
    if p.registered.is_empty() || c.lost[0] {
        return;
    }
    let ids: Vec<String> = p.registered.iter().map(|r| r.0.to_string()).collect();
    let mut frames: Vec<u64> = p.registered.iter().map(|r| r.1).collect();
    frames.push(m.fr);
    let cause = Cause::new(Some(m.name), "with a registered service not unregistered");
    let invoke = fixed_num(m.d, field::InvokeID).map(|v| v as u32);
    f.report("unregister-missing", Some(m.flow.conn), &frames, m.ts, cause, || {
        let who = c.identity.client_id.as_deref().map_or(String::new(), |id| format!(" {id}"));
        let mut s = c.subject(Some(m.name));
        s.invoke = invoke;
        s.request = Some(m.name);
        (
            format!(
                "server application{who} closes its session with RegisteredServiceID {} still registered: it must send UNREGISTER_SERVICE_REQ before CLOSE_REQ",
                ids.join(", ")
            ),
            s,
        )
    });
    p.registered.clear();
}

/// MONITOR_STOP_REQ or CHANGE_MONITOR_MASK_REQ naming a MonitorID of the client's lost
/// session that this session did not create.
fn monitor_not_recreated(f: &mut Findings, c: &Conn, m: &Msg<'_, '_>, links: &Links) {
    let Some(mon) = fixed_num(m.d, field::MonitorID).map(|v| v as u32) else { return };
    let Some((old_conn, old)) = links.monitors_before(c.id) else { return };
    if !old.contains(&mon) || c.monitors.contains(&mon) || !c.monitors_known || !whole(c) {
        return;
    }
    let invoke = fixed_num(m.d, field::InvokeID).map(|v| v as u32);
    let cause = Cause::new(Some(m.name), "names a MonitorID of the lost session, not created again");
    f.report("monitor-not-recreated", Some(m.flow.conn), &[m.fr], m.ts, cause, || {
        let mut s = c.subject(Some(m.name));
        s.invoke = invoke;
        s.request = Some(m.name);
        s.related_conn = Some(old_conn);
        (
            format!(
                "{} (InvokeID {}) names MonitorID {mon}, created on the client's lost session (connection {old_conn}) and not created again on this one: after a reconnect or failover the client must send MONITOR_START_REQ again",
                m.name,
                invoke.map_or("?".to_string(), |i| i.to_string()),
            ),
            s,
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_control_requests_change_calls_and_nothing_else_does() {
        use MessageType as T;
        let control = [
            T::ANSWER_CALL_REQ,
            T::HOLD_CALL_REQ,
            T::RETRIEVE_CALL_REQ,
            T::TRANSFER_CALL_REQ,
            T::CONFERENCE_CALL_REQ,
            T::CONSULTATION_CALL_REQ,
            T::ALTERNATE_CALL_REQ,
            T::RECONNECT_CALL_REQ,
            T::CLEAR_CALL_REQ,
            T::CLEAR_CONNECTION_REQ,
            T::RELEASE_CALL_REQ,
            T::DEFLECT_CALL_REQ,
        ];
        for m in crate::cti::spec::messages() {
            assert_eq!(changes_calls(m.id), control.contains(&m.id), "{}", m.name);
        }
    }
}
