//! CTI sessions over the connections: the OPEN exchange once TCP is up, what each kind of
//! client does right after it (an agent desktop hands over to its agent, an All Events
//! bridge acquires the configuration, a Peripheral Monitor client starts monitoring its
//! agents' devices), requests and their confirms, heartbeats, SYSTEM_EVENTs and CLOSE.
//!
//! Messages are scheduled as application writes ([`TcpEvent::Write`]) on the event queue.

use super::center::{self, PERIPHERAL_ID};
use super::msgs::{self as m, AgentInfo};
use super::queue::{Pace, Queue, MS, SEC, US};
use super::rng::Rng;
use super::tcp::{latency, Dir, TcpEvent, C2S, S2C};
use super::truth::ProtoFault;
use crate::cti::spec::values::{agent_state, system_event_id};
use crate::cti::spec::MessageType;

/// The kind of CTI client at the other end of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The desktop of this agent (Client Events, Client Control, Call Data Update).
    Desktop(u32),
    /// An All Events client.
    Bridge,
    /// A Peripheral Monitor client.
    Monitor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Open,
    Closing,
}

/// What happens to a session at a given time.
#[derive(Debug)]
pub enum SessionEvent {
    /// Time to check whether a HEARTBEAT_REQ is due.
    Heartbeat(u32),
    /// A SYSTEM_EVENT to a bridge.
    SystemEvent(u32),
    /// The client closes the session.
    Close(u32),
}

/// What the start of a session asks of the agents.
#[derive(Debug)]
pub enum Opened {
    /// The desktop of agent `agent` is open from time `at`.
    Desktop {
        agent: u32,
        at: i64,
    },
    Bridge,
    /// MONITOR_START_REQ sent for these agents: (agent, MonitorID).
    Monitor(Vec<(u32, u32)>),
}

struct Session {
    kind: Kind,
    state: State,
    /// Messages to the client are accepted from this time on.
    open_at: i64,
    /// No more messages after this time.
    closed_at: i64,
    invoke: u32,
    client_id: String,
    services: u32,
    hb_interval: i64,
    last_client_send: i64,
    /// Monitor: the agents whose devices it monitors.
    devices: Vec<u32>,
}

/// Every session, by connection index.
pub struct Sessions {
    list: Vec<Session>,
    next_monitor_id: u32,
    version: u32,
    /// Rate of the unanswered-request fault.
    unanswered: f64,
    pace: Pace,
}

impl Sessions {
    pub fn new(version: u32, unanswered: f64, pace: Pace) -> Self {
        Sessions { list: Vec::new(), next_monitor_id: 1, version, unanswered, pace }
    }

    /// A session of `kind` on the next connection: the services it asks for, its client
    /// id and heartbeat interval follow from the kind. `first_invoke` is its first
    /// InvokeID.
    pub fn add(&mut self, kind: Kind, client_id: String, first_invoke: u32) {
        use crate::cti::spec::values::service_mask::*;
        let (services, hb_interval) = match kind {
            Kind::Desktop(_) => (
                CTI_SERVICE_CLIENT_EVENTS | CTI_SERVICE_CLIENT_CONTROL | CTI_SERVICE_CALL_DATA_UPDATE,
                60 * SEC,
            ),
            Kind::Bridge => (CTI_SERVICE_ALL_EVENTS, 10 * SEC),
            Kind::Monitor => (CTI_SERVICE_PERIPHERAL_MONITOR, 20 * SEC),
        };
        self.list.push(Session {
            kind,
            state: State::Idle,
            open_at: i64::MAX,
            closed_at: i64::MAX,
            invoke: first_invoke,
            client_id,
            services,
            hb_interval,
            last_client_send: 0,
            devices: Vec::new(),
        });
    }

    /// A monitor session also watches agent `a`'s device.
    pub fn monitor_device(&mut self, c: u32, a: u32) {
        self.list[c as usize].devices.push(a);
    }

    /// The number of sessions (connections).
    pub fn count(&self) -> u32 {
        self.list.len() as u32
    }

    pub fn kind(&self, c: u32) -> Kind {
        self.list[c as usize].kind
    }

    pub fn client_id(&self, c: u32) -> &str {
        &self.list[c as usize].client_id
    }

    /// Is the session open to messages at time `t`?
    pub fn is_open(&self, c: u32, t: i64) -> bool {
        let s = &self.list[c as usize];
        s.state == State::Open && t >= s.open_at && t < s.closed_at
    }

    pub fn next_invoke(&mut self, c: u32) -> u32 {
        let s = &mut self.list[c as usize];
        let i = s.invoke;
        s.invoke = s.invoke.wrapping_add(1);
        i
    }

    /// Queues a message on a connection at time `t` (dropped by TCP if the connection is
    /// closing by then).
    pub fn send<E: From<TcpEvent>>(
        &mut self,
        q: &mut Queue<E>,
        t: i64,
        c: u32,
        d: Dir,
        bytes: Vec<u8>,
        fault: Option<ProtoFault>,
    ) {
        let s = &mut self.list[c as usize];
        if d == C2S {
            s.last_client_send = s.last_client_send.max(t);
        }
        q.at(t, TcpEvent::Write { conn: c, dir: d, bytes, fault });
    }

    /// A request at `t` and its answer (`conf`, unless the unanswered fault drops it).
    /// Returns the time of the answer.
    #[allow(clippy::too_many_arguments)]
    pub fn request<E: From<TcpEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        t: i64,
        c: u32,
        req: Vec<u8>,
        invoke: u32,
        conf: Vec<u8>,
    ) -> i64 {
        debug_assert!(m::answers(self.version, &req, &conf), "a request and a confirm that do not pair");
        let lat = latency(rng);
        let unanswered = rng.chance(self.unanswered);
        let fault = unanswered.then_some(ProtoFault::Unanswered { invoke });
        self.send(q, t, c, C2S, req, fault);
        if !unanswered {
            self.send(q, t + lat, c, S2C, conf, None);
        }
        t + lat
    }

    /// The OPEN exchange right after the handshake, and the start of what the kind of
    /// client does. `agents` is the roster.
    pub fn open<E: From<TcpEvent> + From<SessionEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        c: u32,
        agents: &[AgentInfo],
    ) -> Opened {
        let v = self.version;
        let t = q.now() + 100 * US;
        let s = &self.list[c as usize];
        let (kind, services) = (s.kind, s.services);
        let idle = (s.hb_interval / SEC * 4) as u32;
        let agent = match kind {
            Kind::Desktop(a) => Some(&agents[a as usize]),
            _ => None,
        };
        let invoke = self.next_invoke(c);
        let req = m::open_req(v, invoke, services, idle, self.client_id(c), agent);
        let cc_time = (t / SEC) as u32;
        let state = agent_state::AGENT_STATE_LOGOUT;
        let conf = m::open_conf(v, invoke, services, cc_time, agent, PERIPHERAL_ID, state);
        debug_assert!(m::answers(v, &req, &conf));
        let lat = latency(rng);
        self.send(q, t, c, C2S, req, None);
        self.send(q, t + lat, c, S2C, conf, None);
        let open_at = t + lat + US;
        let s = &mut self.list[c as usize];
        s.state = State::Open;
        s.open_at = open_at;
        q.at(open_at + s.hb_interval, SessionEvent::Heartbeat(c));
        match kind {
            Kind::Desktop(agent) => Opened::Desktop { agent, at: open_at },
            Kind::Bridge => {
                self.bridge_opened(q, rng, c, open_at, cc_time, agents);
                Opened::Bridge
            }
            Kind::Monitor => Opened::Monitor(self.start_monitors(q, rng, c, open_at, agents)),
        }
    }

    /// A bridge learns that the peripheral is online and (from PV19) acquires the
    /// configuration; SYSTEM_EVENTs follow now and then.
    fn bridge_opened<E: From<TcpEvent> + From<SessionEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        c: u32,
        open_at: i64,
        cc_time: u32,
        agents: &[AgentInfo],
    ) {
        let v = self.version;
        let ev = m::system_event(v, system_event_id::SYS_PERIPHERAL_ONLINE, PERIPHERAL_ID, cc_time, None);
        self.send(q, open_at + 30 * US, c, S2C, ev, None);
        if v >= 19 {
            let at = open_at + 5 * MS + rng.below(20 * MS as u64) as i64;
            self.config_acquisition(q, rng, c, at, agents);
        }
        let d = self.pace.dur(rng, 60.0, 300.0).max(SEC);
        q.at(open_at + d, SessionEvent::SystemEvent(c));
    }

    /// MONITOR_START_REQ for each device the monitor watches; returns the MonitorIDs.
    fn start_monitors<E: From<TcpEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        c: u32,
        open_at: i64,
        agents: &[AgentInfo],
    ) -> Vec<(u32, u32)> {
        let v = self.version;
        let mut t = open_at + 2 * MS;
        let devices = std::mem::take(&mut self.list[c as usize].devices);
        let mut started = Vec::with_capacity(devices.len());
        for &a in &devices {
            let invoke = self.next_invoke(c);
            let mid = self.next_monitor_id;
            self.next_monitor_id += 1;
            let req = m::monitor_start_req(v, invoke, PERIPHERAL_ID, &agents[a as usize].ext);
            let conf = m::monitor_start_conf(v, invoke, mid);
            self.request(q, rng, t, c, req, invoke, conf);
            started.push((a, mid));
            t += MS + rng.below(3 * MS as u64) as i64;
        }
        self.list[c as usize].devices = devices;
        started
    }

    /// CONFIG_REQUEST_EVENT from the client at `t`, answered by the configuration: skill
    /// groups, agents (ten per message), devices, and CONFIG_END_EVENT.
    fn config_acquisition<E: From<TcpEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        c: u32,
        t: i64,
        agents: &[AgentInfo],
    ) {
        let v = self.version;
        self.send(q, t, c, C2S, m::config_request_event(v), None);
        let mut t = t + latency(rng);
        let key = rng.next_u64();
        self.send(q, t, c, S2C, m::config_begin_event(v, key), None);
        t += 40 * US;
        let skills = m::config_skill_group_event(v, PERIPHERAL_ID, &center::skill_groups());
        self.send(q, t, c, S2C, skills, None);
        for chunk in agents.chunks(10) {
            t += 40 * US + rng.below(100_000) as i64;
            self.send(q, t, c, S2C, m::config_agent_event(v, chunk), None);
        }
        t += 40 * US;
        self.send(q, t, c, S2C, m::config_device_event(v, PERIPHERAL_ID, &center::devices()), None);
        t += 40 * US;
        self.send(q, t, c, S2C, m::config_end_event(v), None);
    }

    /// A HEARTBEAT_REQ when the client has sent nothing for a heartbeat interval.
    pub fn heartbeat<E: From<TcpEvent> + From<SessionEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        c: u32,
    ) {
        let now = q.now();
        if !self.is_open(c, now) {
            return;
        }
        let s = &self.list[c as usize];
        let due = s.last_client_send + s.hb_interval;
        let hb = s.hb_interval;
        if now >= due {
            let v = self.version;
            let invoke = self.next_invoke(c);
            let req = m::invoke_only(MessageType::HEARTBEAT_REQ, v, invoke);
            let conf = m::plain_confirm(v, &req, invoke);
            self.request(q, rng, now, c, req, invoke, conf);
            q.at(now + hb, SessionEvent::Heartbeat(c));
        } else {
            q.at(due, SessionEvent::Heartbeat(c));
        }
    }

    /// A SYSTEM_EVENT to a bridge: a half-hour change or a text message.
    pub fn system_event<E: From<TcpEvent> + From<SessionEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        c: u32,
    ) {
        let now = q.now();
        if !self.is_open(c, now) {
            return;
        }
        let v = self.version;
        let cc = (now / SEC) as u32;
        let ev = if rng.chance(0.5) {
            m::system_event(v, system_event_id::SYS_HALF_HOUR_CHANGE, 0, cc, None)
        } else {
            let texts = ["PG side A active", "Router heartbeat restored", "Peripheral statistics reset"];
            let text = *rng.pick(&texts);
            m::system_event(v, system_event_id::SYS_TEXT_FYI, 0, cc, Some(text))
        };
        self.send(q, now, c, S2C, ev, None);
        let d = self.pace.dur(rng, 60.0, 300.0).max(SEC);
        q.at(now + d, SessionEvent::SystemEvent(c));
    }

    /// CLOSE_REQ and CLOSE_CONF, then the TCP teardown.
    pub fn close<E: From<TcpEvent>>(&mut self, q: &mut Queue<E>, rng: &mut Rng, c: u32) {
        if self.list[c as usize].state != State::Open {
            return;
        }
        let v = self.version;
        let t = q.now();
        let invoke = self.next_invoke(c);
        let lat = latency(rng);
        let req = m::close_req(v, invoke);
        let conf = m::plain_confirm(v, &req, invoke);
        self.send(q, t, c, C2S, req, None);
        self.send(q, t + lat, c, S2C, conf, None);
        let s = &mut self.list[c as usize];
        s.closed_at = t;
        s.state = State::Closing;
        q.at(t + lat + MS, TcpEvent::Fin(c));
    }
}
