//! Agents and their calls: login, state changes through SET_AGENT_STATE_REQ and
//! AGENT_STATE_EVENT, inbound calls from BEGIN_CALL_EVENT to END_CALL_EVENT with answer,
//! hold, consultation, transfer and conference, call data updates, wrap-up and logout.
//!
//! An agent's desktop (if it has one) sends the requests; every session that sees the
//! agent (its desktop, every bridge, the monitors of its device) gets the events. The
//! call-level protocol faults (oversize, bad-count, after-end) are injected here.

use super::center::{self, Calls};
use super::config::{Config, Faults};
use super::msgs::{self as m, AgentInfo, BuildFaults, CallInfo};
use super::queue::{Pace, Queue, MS, SEC, US};
use super::rng::Rng;
use super::session::{Kind, SessionEvent, Sessions};
use super::tcp::{latency, TcpEvent, C2S, S2C};
use super::truth::ProtoFault;
use crate::cti::encode::{fixed_range_in, put_fixed};
use crate::cti::spec::fields::field;
use crate::cti::spec::values::{agent_state::*, call_type, control_failure_code::*, status_code};
use crate::cti::spec::MessageType;
use std::collections::VecDeque;

/// EventReasonCodes (site-defined) of an agent going not ready after a call.
const NOT_READY_REASONS: [u32; 3] = [3, 5, 12];
/// EventReasonCode of a logout at the end of the shift.
const LOGOUT_REASON: u32 = 1;
/// CONTROL_FAILURE_CONF codes a call control request may fail with.
const CONTROL_FAILURES: [u32; 4] =
    [CF_INVALID_OBJECT_STATE, CF_NO_ACTIVE_CALL, CF_NO_CALL_TO_ANSWER, CF_SERVICE_BUSY];

/// What happens to an agent at a given time.
#[derive(Debug)]
pub enum AgentEvent {
    /// The agent takes the next step of its shift.
    Step(u32),
}

/// The events agents schedule: their own, their sessions' and their messages.
pub trait Events: From<TcpEvent> + From<SessionEvent> + From<AgentEvent> {}
impl<T: From<TcpEvent> + From<SessionEvent> + From<AgentEvent>> Events for T {}

/// What an agent acts on: the event queue, the random stream and the sessions.
pub struct Ctx<'w, E> {
    pub q: &'w mut Queue<E>,
    pub rng: &'w mut Rng,
    pub sessions: &'w mut Sessions,
}

#[derive(Debug, Clone)]
enum Action {
    SetData,
    Hold,
    Retrieve,
    Consult { conference: bool },
    ConsultAnswered,
    Join,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Login,
    GoReady,
    Idle,
    Answer,
    Talk,
    Wrapup,
    Logout,
    Done,
}

struct Call {
    info: CallInfo,
    plan: VecDeque<Action>,
    /// The consultation call, its target and whether it ends in a conference.
    consult: Option<(CallInfo, String, bool)>,
    answer_attempts: u32,
}

struct Agent {
    desktop: Option<u32>,
    /// (monitor session, MonitorID once started).
    monitors: Vec<(u32, u32)>,
    state: u32,
    state_since: i64,
    calls_left: Option<u32>,
    step: Step,
    call: Option<Call>,
}

/// Every agent.
pub struct Agents {
    infos: Vec<AgentInfo>,
    list: Vec<Agent>,
    bridges: Vec<u32>,
    /// Agents not logged out yet.
    active: u32,
    /// No new calls after this time.
    end: i64,
    pace: Pace,
    calls: Calls,
    calls_made: u64,
    version: u32,
    faults: Faults,
}

impl Agents {
    /// `n` agents of the roster, logged out.
    pub fn new(cfg: &Config, n: u32, pace: Pace, calls: Calls, end: i64) -> Self {
        let list = (0..n)
            .map(|_| Agent {
                desktop: None,
                monitors: Vec::new(),
                state: AGENT_STATE_LOGOUT,
                state_since: cfg.start_ns,
                calls_left: cfg.calls_per_agent,
                step: Step::Login,
                call: None,
            })
            .collect();
        Agents {
            infos: (0..n).map(center::agent).collect(),
            list,
            bridges: Vec::new(),
            active: n,
            end,
            pace,
            calls,
            calls_made: 0,
            version: cfg.version,
            faults: cfg.faults.clone(),
        }
    }

    /// The roster.
    pub fn infos(&self) -> &[AgentInfo] {
        &self.infos
    }

    /// Calls that have arrived so far.
    pub fn calls_made(&self) -> u64 {
        self.calls_made
    }

    pub fn set_desktop(&mut self, a: u32, c: u32) {
        self.list[a as usize].desktop = Some(c);
    }

    pub fn add_bridge(&mut self, c: u32) {
        self.bridges.push(c);
    }

    /// Monitor session `c` watches agent `a`'s device (once its monitor has started).
    pub fn add_monitor(&mut self, a: u32, c: u32) {
        self.list[a as usize].monitors.push((c, 0));
    }

    /// Monitor session `c` has started monitoring agent `a`'s device as `monitor_id`.
    pub fn monitor_started(&mut self, a: u32, c: u32, monitor_id: u32) {
        let agent = &mut self.list[a as usize];
        if let Some(slot) = agent.monitors.iter_mut().find(|x| x.0 == c) {
            slot.1 = monitor_id;
        }
    }

    /// Agent `a`'s desktop session is open from `at`: the agent logs in a little later.
    pub fn desktop_opened<E: From<AgentEvent>>(&mut self, q: &mut Queue<E>, rng: &mut Rng, a: u32, at: i64) {
        let d = self.pace.dur(rng, 0.5, 3.0);
        q.at(at + d, AgentEvent::Step(a));
    }

    /// Sends an agent or call event to every session that sees it: the agent's desktop,
    /// every bridge, and the monitors of the agent's device (with their MonitorID).
    fn event_to_all<E: Events>(
        &mut self,
        w: &mut Ctx<'_, E>,
        a: u32,
        t: i64,
        bytes: Vec<u8>,
        fault: Option<ProtoFault>,
    ) {
        let agent = &self.list[a as usize];
        let mut targets: Vec<(u32, u32)> = Vec::with_capacity(4);
        if let Some(d) = agent.desktop {
            targets.push((d, 0));
        }
        for &b in &self.bridges {
            targets.push((b, 0));
        }
        for &(mc, mid) in &agent.monitors {
            if mid != 0 {
                targets.push((mc, mid));
            }
        }
        targets.retain(|&(c, _)| w.sessions.is_open(c, t));
        let monitor_id_at = if targets.iter().any(|x| x.1 != 0) {
            Some(fixed_range_in(&bytes, self.version, field::MonitorID).expect("an agent or call event"))
        } else {
            None
        };
        let n = targets.len();
        let mut bytes = Some(bytes);
        for (i, (c, mid)) in targets.into_iter().enumerate() {
            let mut b = if i + 1 == n {
                bytes.take().expect("last use")
            } else {
                bytes.as_ref().expect("still held").clone()
            };
            if let (true, Some(at)) = (mid != 0, &monitor_id_at) {
                put_fixed(&mut b, at.clone(), u64::from(mid));
            }
            w.sessions.send(w.q, t, c, S2C, b, fault);
        }
    }

    fn desktop_open(&self, sessions: &Sessions, a: u32, t: i64) -> Option<u32> {
        self.list[a as usize].desktop.filter(|&c| sessions.is_open(c, t))
    }

    /// The agent's state changes at `t` (an [`agent_state`](crate::cti::spec::values::agent_state)):
    /// AGENT_STATE_EVENT to every session that sees the agent.
    fn set_state<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32, t: i64, state: u32, reason: u32) {
        let agent = &mut self.list[a as usize];
        let duration = ((t - agent.state_since).max(0) / SEC) as u32;
        agent.state = state;
        agent.state_since = t;
        let in_call = matches!(state, AGENT_STATE_TALKING | AGENT_STATE_HOLD | AGENT_STATE_RESERVED);
        let sig = agent.desktop.map(|c| w.sessions.client_id(c));
        let info = &self.infos[a as usize];
        let ev = m::agent_state_event(self.version, info, sig, state, reason, duration, in_call);
        self.event_to_all(w, a, t, ev, None);
    }

    /// The agent asks for a state change (if it has a desktop) and the server reports it.
    fn request_state<E: Events>(
        &mut self,
        w: &mut Ctx<'_, E>,
        a: u32,
        t: i64,
        state: u32,
        reason: u32,
    ) -> i64 {
        let v = self.version;
        let mut te = t;
        if let Some(c) = self.desktop_open(w.sessions, a, t) {
            let invoke = w.sessions.next_invoke(c);
            let login = matches!(state, AGENT_STATE_LOGIN | AGENT_STATE_LOGOUT);
            let req = m::set_agent_state_req(v, invoke, &self.infos[a as usize], state, reason, login);
            let conf = m::plain_confirm(v, &req, invoke);
            te = w.sessions.request(w.q, w.rng, t, c, req, invoke, conf) + 50 * US;
        }
        self.set_state(w, a, te, state, reason);
        te
    }

    /// A call control request from the agent's desktop: its confirm, or now and then a
    /// CONTROL_FAILURE_CONF (returned as false). Agents without a desktop always succeed.
    fn control<E: Events>(
        &mut self,
        w: &mut Ctx<'_, E>,
        a: u32,
        t: i64,
        req: impl FnOnce(u32) -> Vec<u8>,
        fail: f64,
    ) -> (i64, bool) {
        let Some(c) = self.desktop_open(w.sessions, a, t) else {
            return (t, true);
        };
        let v = self.version;
        let invoke = w.sessions.next_invoke(c);
        let req = req(invoke);
        if w.rng.chance(fail) {
            let code = *w.rng.pick(&CONTROL_FAILURES);
            let conf = m::control_failure_conf(v, invoke, code, 0);
            return (w.sessions.request(w.q, w.rng, t, c, req, invoke, conf), false);
        }
        let conf = m::plain_confirm(v, &req, invoke);
        (w.sessions.request(w.q, w.rng, t, c, req, invoke, conf) + 40 * US, true)
    }

    /// The CTI client signatures of a call event: the agent's desktop, when open.
    fn signatures(&self, sessions: &Sessions, a: u32, t: i64) -> Vec<(String, u32)> {
        match self.desktop_open(sessions, a, t) {
            Some(c) => vec![(sessions.client_id(c).to_string(), (t / SEC) as u32)],
            None => Vec::new(),
        }
    }

    /// The next step of agent `a`'s shift.
    pub fn step<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32) {
        let now = w.q.now();
        let next = match self.list[a as usize].step {
            Step::Login => {
                let t = self.request_state(w, a, now, AGENT_STATE_LOGIN, 0);
                self.set_state(w, a, t + 60 * US, AGENT_STATE_NOT_READY, 0);
                self.list[a as usize].step = Step::GoReady;
                Some(t + self.pace.dur(w.rng, 2.0, 20.0))
            }
            Step::GoReady => {
                self.request_state(w, a, now, AGENT_STATE_AVAILABLE, 0);
                self.list[a as usize].step = Step::Idle;
                let scale = self.pace.scale;
                Some(now + ((w.rng.exp(45.0 * scale) + 0.5 * scale) * SEC as f64) as i64)
            }
            Step::Idle => {
                let agent = &mut self.list[a as usize];
                if now >= self.end || agent.calls_left == Some(0) {
                    agent.step = Step::Logout;
                    Some(now)
                } else {
                    Some(self.call_arrives(w, a))
                }
            }
            Step::Answer => Some(self.answer(w, a)),
            Step::Talk => Some(self.talk(w, a)),
            Step::Wrapup => Some(self.wrap_up(w, a)),
            Step::Logout => {
                self.log_out(w, a);
                None
            }
            Step::Done => None,
        };
        if let Some(t) = next {
            w.q.at(t.max(now), AgentEvent::Step(a));
        }
    }

    /// After a call: sometimes a not-ready break before the agent is available again.
    fn wrap_up<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32) -> i64 {
        let now = w.q.now();
        let agent = &mut self.list[a as usize];
        if let Some(n) = &mut agent.calls_left {
            *n = n.saturating_sub(1);
        }
        if w.rng.chance(0.1) {
            let reason = *w.rng.pick(&NOT_READY_REASONS);
            let t = self.request_state(w, a, now, AGENT_STATE_NOT_READY, reason);
            self.list[a as usize].step = Step::GoReady;
            t + self.pace.dur(w.rng, 10.0, 60.0)
        } else {
            self.list[a as usize].step = Step::GoReady;
            now
        }
    }

    /// The agent logs out and its desktop closes; after the last agent, every other
    /// session closes too.
    fn log_out<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32) {
        let now = w.q.now();
        let t = self.request_state(w, a, now, AGENT_STATE_LOGOUT, LOGOUT_REASON);
        self.list[a as usize].step = Step::Done;
        if let Some(c) = self.list[a as usize].desktop {
            let at = t + 300 * MS + w.rng.below(500 * MS as u64) as i64;
            w.q.at(at, SessionEvent::Close(c));
        }
        self.active -= 1;
        if self.active == 0 {
            for c in 0..w.sessions.count() {
                if !matches!(w.sessions.kind(c), Kind::Desktop(_)) {
                    let d = SEC + w.rng.below(2 * SEC as u64) as i64;
                    w.q.at(t + d, SessionEvent::Close(c));
                }
            }
        }
    }

    /// A call for the agent's service: reserved, BEGIN_CALL_EVENT and CALL_DELIVERED_EVENT,
    /// and the plan of the conversation. Returns when the agent answers.
    fn call_arrives<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32) -> i64 {
        let v = self.version;
        let now = w.q.now();
        let service = center::service_of(&self.infos[a as usize]);
        let info = self.calls.new_call(w.rng, now, service);
        self.calls_made += 1;
        self.set_state(w, a, now, AGENT_STATE_RESERVED, 0);
        let t = now + 80 * US;
        let oversize = w.rng.chance(self.faults.oversize);
        let sigs = self.signatures(w.sessions, a, t);
        let sig_refs: Vec<(&str, u32)> = sigs.iter().map(|(s, ts)| (s.as_str(), *ts)).collect();
        let agent = &self.infos[a as usize];
        let faults = BuildFaults { oversize, bad_count: false };
        let begin = m::begin_call_event(v, agent, &info, &sig_refs, faults);
        let delivered = m::call_delivered_event(v, agent, &info);
        self.event_to_all(w, a, t, begin, oversize.then_some(ProtoFault::Oversize));
        self.event_to_all(w, a, t + 60 * US, delivered, None);
        // Plan the conversation.
        let mut plan = VecDeque::new();
        if w.rng.chance(0.5) {
            plan.push_back(Action::SetData);
        }
        if w.rng.chance(0.25) {
            plan.push_back(Action::Hold);
        }
        if w.rng.chance(0.2) {
            let conference = w.rng.chance(0.4);
            plan.push_back(Action::Consult { conference });
        }
        plan.push_back(Action::End);
        self.list[a as usize].call = Some(Call { info, plan, consult: None, answer_attempts: 0 });
        self.list[a as usize].step = Step::Answer;
        now + self.pace.dur(w.rng, 2.0, 8.0)
    }

    /// ANSWER_CALL_REQ (retried after a failure), then the conversation.
    fn answer<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32) -> i64 {
        let v = self.version;
        let now = w.q.now();
        let info = self.infos[a as usize].clone();
        let call = self.list[a as usize].call.as_mut().expect("ringing call");
        call.answer_attempts += 1;
        let fail = if call.answer_attempts < 3 { 0.04 } else { 0.0 };
        let cinfo = call.info.clone();
        let answer = |inv| m::call_req(MessageType::ANSWER_CALL_REQ, v, inv, &info, cinfo.call_id);
        let (t, ok) = self.control(w, a, now, answer, fail);
        if !ok {
            return t + SEC;
        }
        let est = m::call_established_event(v, &info, &cinfo, &info.ext, &cinfo.ani, &info.ext);
        self.event_to_all(w, a, t, est, None);
        self.set_state(w, a, t + 50 * US, AGENT_STATE_TALKING, 0);
        self.list[a as usize].step = Step::Talk;
        let n = self.list[a as usize].call.as_ref().map_or(1, |c| c.plan.len()) as f64;
        let talk = self.pace.dur(w.rng, 20.0, 280.0);
        t + (talk as f64 / n) as i64
    }

    /// The next action of the conversation; returns the time of the one after.
    fn talk<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32) -> i64 {
        let now = w.q.now();
        let Some(action) = self.list[a as usize].call.as_mut().and_then(|c| c.plan.pop_front()) else {
            self.list[a as usize].step = Step::Wrapup;
            return now;
        };
        let info = self.infos[a as usize].clone();
        let cinfo = self.list[a as usize].call.as_ref().expect("call").info.clone();
        match action {
            Action::SetData => self.set_call_data(w, a, &info, &cinfo),
            Action::Hold => self.hold(w, a, &info, cinfo.call_id),
            Action::Retrieve => self.retrieve(w, a, &info, cinfo.call_id),
            Action::Consult { conference } => self.consult(w, a, &info, cinfo.call_id, conference),
            Action::ConsultAnswered => {
                let call = self.list[a as usize].call.as_ref().expect("call");
                let (consult, target, _) = call.consult.clone().expect("consultation");
                let v = self.version;
                let ev = m::call_established_event(v, &info, &consult, &target, &info.ext, &target);
                self.event_to_all(w, a, now, ev, None);
                now + self.pace.dur(w.rng, 10.0, 40.0)
            }
            Action::Join => self.join(w, a, &info, &cinfo),
            Action::End => self.end_call(w, a, &info, &cinfo),
        }
    }

    /// SET_CALL_DATA_REQ from the desktop (now and then refused) and the
    /// CALL_DATA_UPDATE_EVENT that follows.
    fn set_call_data<E: Events>(
        &mut self,
        w: &mut Ctx<'_, E>,
        a: u32,
        info: &AgentInfo,
        cinfo: &CallInfo,
    ) -> i64 {
        let v = self.version;
        let now = w.q.now();
        let mut updated = cinfo.clone();
        updated.vars.push((5, format!("disp={}", w.rng.pick(&["resolved", "callback", "escalated"]))));
        updated.wrapup = Some(format!("case {}", 40_000 + w.rng.below(60_000)));
        let mut t = now;
        if let Some(c) = self.desktop_open(w.sessions, a, now) {
            let invoke = w.sessions.next_invoke(c);
            let req = m::set_call_data_req(v, invoke, info, &updated);
            if w.rng.chance(0.03) {
                let conf = m::failure_conf(v, invoke, status_code::E_CTI_INVALID_CALLID);
                w.sessions.request(w.q, w.rng, now, c, req, invoke, conf);
                return now + self.pace.dur(w.rng, 10.0, 40.0);
            }
            let conf = m::plain_confirm(v, &req, invoke);
            t = w.sessions.request(w.q, w.rng, now, c, req, invoke, conf) + 40 * US;
        }
        let bad_count = w.rng.chance(self.faults.bad_count);
        let sigs = self.signatures(w.sessions, a, t);
        let sig_refs: Vec<(&str, u32)> = sigs.iter().map(|(s, ts)| (s.as_str(), *ts)).collect();
        let faults = BuildFaults { oversize: false, bad_count };
        let ev = m::call_data_update_event(v, info, &updated, &sig_refs, faults);
        self.event_to_all(w, a, t, ev, bad_count.then_some(ProtoFault::BadCount));
        if let Some(c) = self.list[a as usize].call.as_mut() {
            c.info = updated;
        }
        now + self.pace.dur(w.rng, 10.0, 60.0)
    }

    /// HOLD_CALL_REQ; once held, the call is retrieved next.
    fn hold<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32, info: &AgentInfo, call_id: u32) -> i64 {
        let v = self.version;
        let now = w.q.now();
        let hold = |inv| m::call_req(MessageType::HOLD_CALL_REQ, v, inv, info, call_id);
        let (t, ok) = self.control(w, a, now, hold, 0.02);
        if ok {
            self.event_to_all(w, a, t, m::hold_event(v, info, call_id, true), None);
            self.set_state(w, a, t + 50 * US, AGENT_STATE_HOLD, 0);
            if let Some(c) = self.list[a as usize].call.as_mut() {
                c.plan.push_front(Action::Retrieve);
            }
            return t + self.pace.dur(w.rng, 10.0, 60.0);
        }
        now + self.pace.dur(w.rng, 5.0, 20.0)
    }

    fn retrieve<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32, info: &AgentInfo, call_id: u32) -> i64 {
        let v = self.version;
        let now = w.q.now();
        let (t, _) = self.control(w, a, now, |inv| m::retrieve_call_req(v, inv, info, call_id), 0.0);
        self.event_to_all(w, a, t, m::hold_event(v, info, call_id, false), None);
        self.set_state(w, a, t + 50 * US, AGENT_STATE_TALKING, 0);
        now + self.pace.dur(w.rng, 10.0, 60.0)
    }

    /// CONSULTATION_CALL_REQ: the customer call is held and a consultation call to another
    /// agent begins; it is answered and then joined (transfer or conference).
    fn consult<E: Events>(
        &mut self,
        w: &mut Ctx<'_, E>,
        a: u32,
        info: &AgentInfo,
        call_id: u32,
        conference: bool,
    ) -> i64 {
        let v = self.version;
        let now = w.q.now();
        let target = format!("{}", 60001 + w.rng.below(20));
        let Some(c) = self.desktop_open(w.sessions, a, now) else {
            // Without a desktop the consultation is not visible as requests; the call
            // simply goes on.
            return now + self.pace.dur(w.rng, 10.0, 40.0);
        };
        let invoke = w.sessions.next_invoke(c);
        let req = m::consultation_call_req(v, invoke, info, call_id, &target, conference);
        let mut consult = self.calls.new_call(w.rng, now, 0);
        consult.call_type = call_type::CALLTYPE_CONSULT;
        consult.ani = info.ext.clone();
        consult.dialed = target.clone();
        consult.dnis = target.clone();
        consult.vars.clear();
        consult.ecc.clear();
        consult.arrays.clear();
        consult.ced.clear();
        // The confirm comes after the hold event the request causes.
        let conf = m::consultation_call_conf(v, invoke, info, consult.call_id);
        debug_assert!(m::answers(v, &req, &conf));
        let lat = latency(w.rng);
        let unanswered = w.rng.chance(self.faults.unanswered);
        let fault = unanswered.then_some(ProtoFault::Unanswered { invoke });
        w.sessions.send(w.q, now, c, C2S, req, fault);
        let t = now + lat;
        self.event_to_all(w, a, t, m::hold_event(v, info, call_id, true), None);
        if !unanswered {
            w.sessions.send(w.q, t + 30 * US, c, S2C, conf, None);
        }
        let sigs = self.signatures(w.sessions, a, t);
        let sig_refs: Vec<(&str, u32)> = sigs.iter().map(|(s, ts)| (s.as_str(), *ts)).collect();
        let begin = m::begin_call_event(v, info, &consult, &sig_refs, BuildFaults::default());
        self.event_to_all(w, a, t + 60 * US, begin, None);
        let originated = m::call_originated_event(v, info, &consult, &target);
        self.event_to_all(w, a, t + 90 * US, originated, None);
        let delivered = m::consult_delivered_event(v, info, &consult, &target);
        self.event_to_all(w, a, t + 120 * US, delivered, None);
        if let Some(call) = self.list[a as usize].call.as_mut() {
            call.consult = Some((consult, target, conference));
            call.plan.push_front(Action::Join);
            call.plan.push_front(Action::ConsultAnswered);
        }
        now + self.pace.dur(w.rng, 3.0, 6.0)
    }

    /// TRANSFER_CALL_REQ or CONFERENCE_CALL_REQ: the consultation joins the customer call.
    /// A transfer ends the agent's part of the call.
    fn join<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32, info: &AgentInfo, cinfo: &CallInfo) -> i64 {
        let v = self.version;
        let now = w.q.now();
        let call_id = cinfo.call_id;
        let call = self.list[a as usize].call.as_mut().expect("call");
        let (consult, target, conference) = call.consult.take().expect("consultation");
        let t = match self.desktop_open(w.sessions, a, now) {
            Some(c) => {
                let invoke = w.sessions.next_invoke(c);
                let req = m::join_call_req(v, invoke, info, call_id, consult.call_id, conference);
                let conf = m::join_call_conf(v, invoke, info, cinfo, &target, conference);
                w.sessions.request(w.q, w.rng, now, c, req, invoke, conf) + 40 * US
            }
            None => now,
        };
        let ev = m::joined_event(v, info, cinfo, consult.call_id, &target, conference);
        self.event_to_all(w, a, t, ev, None);
        self.event_to_all(w, a, t + 40 * US, m::end_call_event(v, info, consult.call_id), None);
        if conference {
            self.set_state(w, a, t + 80 * US, AGENT_STATE_TALKING, 0);
            return now + self.pace.dur(w.rng, 20.0, 90.0);
        }
        self.event_to_all(w, a, t + 80 * US, m::end_call_event(v, info, call_id), None);
        self.after_end(w, a, t + 2 * MS, cinfo);
        self.set_state(w, a, t + 120 * US, AGENT_STATE_WORK_READY, 0);
        self.list[a as usize].call = None;
        self.list[a as usize].step = Step::Wrapup;
        t + self.pace.dur(w.rng, 5.0, 30.0)
    }

    /// The call ends: the agent (RELEASE_CALL_REQ) or the customer hangs up, the call is
    /// cleared and the agent goes to work (wrap-up) state.
    fn end_call<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32, info: &AgentInfo, cinfo: &CallInfo) -> i64 {
        let v = self.version;
        let now = w.q.now();
        let call_id = cinfo.call_id;
        let agent_hangs_up = w.rng.chance(0.5);
        let mut t = now;
        let mut releasing = cinfo.ani.clone();
        if agent_hangs_up {
            if let Some(c) = self.desktop_open(w.sessions, a, now) {
                let invoke = w.sessions.next_invoke(c);
                let req = m::call_req(MessageType::RELEASE_CALL_REQ, v, invoke, info, call_id);
                let conf = m::plain_confirm(v, &req, invoke);
                t = w.sessions.request(w.q, w.rng, now, c, req, invoke, conf) + 40 * US;
            }
            releasing = info.ext.clone();
        }
        let cleared = m::connection_cleared_event(v, info, call_id, &releasing);
        self.event_to_all(w, a, t, cleared, None);
        self.event_to_all(w, a, t + 40 * US, m::call_cleared_event(v, info, call_id), None);
        let wrap_state = if w.rng.chance(0.8) { AGENT_STATE_WORK_READY } else { AGENT_STATE_WORK_NOT_READY };
        self.set_state(w, a, t + 80 * US, wrap_state, 0);
        self.event_to_all(w, a, t + 120 * US, m::end_call_event(v, info, call_id), None);
        self.after_end(w, a, t + 2 * MS, cinfo);
        self.list[a as usize].call = None;
        self.list[a as usize].step = Step::Wrapup;
        t + self.pace.dur(w.rng, 5.0, 30.0)
    }

    /// The after-end fault: a CALL_DATA_UPDATE_EVENT for a call already ended, to the
    /// first session that sees the agent.
    fn after_end<E: Events>(&mut self, w: &mut Ctx<'_, E>, a: u32, t: i64, call: &CallInfo) {
        if !w.rng.chance(self.faults.after_end) {
            return;
        }
        let agent = &self.list[a as usize];
        let sessions = &*w.sessions;
        let target =
            agent.desktop.into_iter().chain(self.bridges.iter().copied()).find(|&c| sessions.is_open(c, t));
        let Some(c) = target else { return };
        let info = &self.infos[a as usize];
        let ev = m::call_data_update_event(self.version, info, call, &[], BuildFaults::default());
        w.sessions.send(w.q, t, c, S2C, ev, Some(ProtoFault::AfterEnd { call: call.call_id }));
    }
}
