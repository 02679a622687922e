//! Scenarios: small captures of one hand-placed session story each, with a truth file
//! that says what an analysis of the capture must find.
//!
//! Unlike the simulation of [`super::generate`], nothing here is random: every packet is
//! placed at a chosen time (relative to the configured start), so the same scenario, start
//! and format always give the same bytes. The TCP traffic is real (handshakes, sequence and
//! acknowledgement numbers, delayed ACKs, FIN and RST), each CTI message is built with
//! [`crate::cti::encode::MessageBuilder`] at protocol version 24 and sent in its own
//! segment, and the packets go through the capture writers of [`crate::capture::write`].
//!
//! | scenario | story |
//! |---|---|
//! | `failover` | agent 1001's desktop on side A (10.10.0.1:42027) runs normally for a minute, then side A stops answering it (three heartbeats and a SET_AGENT_STATE_REQ unanswered) and the desktop resets the connection; 0.5 s later it opens a session on side B (10.10.0.2:43027), which runs for a minute and ends with FAILURE_EVENT and FIN; four connection attempts, A, B, A, B, are refused; side A accepts the fifth, and that session closes with CLOSE_REQ after 21 s. Agent 1002's desktop stays on side A throughout and closes cleanly at the end |
//! | `dead-server` | four SYNs to side A, one second apart, each refused with an RST |
//! | `no-cti` | HTTP on port 80, TLS records on port 443 and one DNS datagram: no CTI |
//! | `server-close-pending` | two desktops on one server: the first sends SET_AGENT_STATE_REQ, then CLOSE_REQ, and the server answers only the CLOSE_REQ and closes; the second has a QUERY_AGENT_STATE_REQ outstanding when the server sends FAILURE_EVENT and closes |
//! | `late-confirm` | one desktop without heartbeats whose SET_AGENT_STATE_REQ is answered after 17.2 s, with nothing from the server in between, and whose QUERY_AGENT_STATE_REQ is answered in 3 ms |
//! | `service-violations` | three sessions that break the rules on services, event masks, session-dependent fields and sentinels (a desktop sending requests of services it was not granted and receiving masked and ungranted events, a desktop asking for Supervisor without Client Events, a Peripheral Monitor client with per-monitor masks and malformed requests); each violation is a `violation` line of the truth (module `scenario_services.rs`) |
//! | `call-violations` | an agent desktop, a CTI bridge, a recording server application and a Peripheral Monitor client, each breaking call-state preconditions or lifecycles of `check` at known frames (a hold of a held call, a retrieve of a connected one, an answer of a connected call, a transfer of two calls with no device in common, a pre-call abort never announced, a close with a service still registered, a MonitorID of a lost session used without re-creating it, NOT_READY without the reason code the desk settings require) beside the correct sequences (hold then retrieve, answer of an alerting call, a consultation and transfer, a pre-call then its abort, register then unregister, a monitor created again); see `scenario_calls.rs` |
//!
//! Desktops open with ServicesRequested CTI_SERVICE_CLIENT_EVENTS | CTI_SERVICE_CLIENT_CONTROL
//! and their ClientID, AgentID, AgentExtension and AgentInstrument. Their SET_AGENT_STATE_REQ
//! carries no AgentID (the session says whose it is), as real desktops send it. InvokeIDs
//! count up per desktop across its connections (desk-1001 from 1, desk-1002 from 501).
//!
//! # Truth file
//!
//! JSON Lines, one object per fact, each with a `"kind"`. Common keys: `conn`, a connection
//! number as `ctiscope decode` gives it (0, 1, 2... in the order of the connections' first
//! packets); `frame`, a 1-based capture frame number; `time`, RFC 3339 UTC with
//! microseconds; `invoke`, an InvokeID; durations in seconds (`*_s`). Lines are in the
//! order of the frames they are about, the `scenario` line first and the `drop-field`
//! line last.
//!
//! | kind | keys | what it says |
//! |---|---|---|
//! | `scenario` | `name`, `protocol_version`, `packets`, `connections`, `messages`, `start`, `end` | the capture as a whole (not for `dead-server` and `no-cti`) |
//! | `session` | `conn`, `agent`, `client_id`, `client`, `server`, `first_frame`, `opened`, `open_frame`, `open_time`, `heartbeat_s` (null: none), `idle_timeout` (null: no heartbeats), `messages`, `end` (`fin`, `rst`), `closed_by` (`client`, `server`), `close` (`close-req`, `failure-event`, `none`), `end_frame`, `end_time` | one CTI session; `open_frame` is the OPEN_CONF, `end_frame` the packet that ends the connection (the second FIN, or the RST) |
//! | `request` | `conn`, `request`, `invoke`, `frame`, `time`, `answer` (null: never answered), `answer_frame`, `latency_s` | every request of the capture with its confirm |
//! | `agent-state` | `conn`, `agent`, `state`, `frame`, `time` | every AGENT_STATE_EVENT |
//! | `heartbeat-unanswered` | `conn`, `invoke`, `frame`, `time`, `ended_by`, `ended_frame`, `outstanding_s` | a HEARTBEAT_REQ never answered; `ended_by` is what ended the wait (`reset`, `close-conf`, `failure-event`) at `ended_frame` |
//! | `request-unanswered` | `conn`, `request`, `invoke`, `frame`, `time`, `ended_by`, `ended_frame`, `outstanding_s` | any other request never answered |
//! | `late-confirm` | `conn`, `request`, `confirm`, `invoke`, `latency_s`, `request_frame`, `confirm_frame`, `request_time`, `confirm_time` | a confirm that came after more than 15 s (the guide's longest wait for a control request) |
//! | `reset` | `conn`, `by` (`client`, `server`), `frame`, `time` | an RST that ends a CTI session |
//! | `failure-event` | `conn`, `status`, `frame`, `time` | the server ends a session with FAILURE_EVENT |
//! | `refused` | `conn`, `client`, `server`, `frame` (the SYN), `rst_frame`, `time` | a connection attempt answered by an RST, no data |
//! | `failover` | `agent`, `client_id`, `from_conn`, `to_conn`, `from`, `to`, `from_end` (`rst`, `fin`), `from_end_frame`, `to_first_frame`, `gap_s`, `refused`, `time` | the agent's desktop opens its next session on another server; `gap_s` runs from the end of the old connection to the SYN of the new one, `refused` counts the attempts refused in between |
//! | `no-cti` | `packets`, `tcp_ports` | the whole truth of `no-cti`: a capture without CTI |
//! | `violation` | `rule`, `conn`, `frame`, `time` | `service-violations` and `call-violations`: a message that breaks a rule of `check`: `rule` is the rule id `check` reports it under, `frame` the message's frame (for `service-confirm-not-granted`, the confirm's) |
//! | `drop-field` | `field`, `message` (null: every message type), `messages` (how many lost the field), `fault` | with `--faults drop-field=...` |

#[path = "scenario_calls.rs"]
mod calls;
#[path = "scenario_services.rs"]
mod services;

use super::config::{DropField, Format};
use super::msgs::{self as m, AgentInfo};
use super::rng::Rng;
use super::script::{Conn, Done, End, Pkt, Script};
use crate::cti::spec::values::{agent_state, idle_timeout, service_mask, status_code};
use crate::cti::spec::{self, MessageType};
use crate::time::format_utc;
use serde_json::{Map, Value};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const SEC: i64 = 1_000_000_000;

/// Protocol version of every scenario.
pub const VERSION: u32 = 24;
/// Server reply delay.
const LATENCY: i64 = 400 * US;
/// Between messages the server writes one after the other.
const NEXT: i64 = 60 * US;
/// Round trip of a handshake.
const RTT: i64 = 400 * US;
/// A refused SYN's RST comes this long after it.
const REFUSE: i64 = 300 * US;
/// Between the FINs of a teardown and its last ACK.
const TEARDOWN: i64 = 500 * US;
/// A confirm later than this is late (the guide's longest wait for a control request).
const LATE: i64 = 15 * SEC;

/// The scenarios [`write_scenario`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Failover,
    DeadServer,
    NoCti,
    ServerClosePending,
    LateConfirm,
    ServiceViolations,
    CallViolations,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Failover,
        Scenario::DeadServer,
        Scenario::NoCti,
        Scenario::ServerClosePending,
        Scenario::LateConfirm,
        Scenario::ServiceViolations,
        Scenario::CallViolations,
    ];

    /// The name the command line takes.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Failover => "failover",
            Scenario::DeadServer => "dead-server",
            Scenario::NoCti => "no-cti",
            Scenario::ServerClosePending => "server-close-pending",
            Scenario::LateConfirm => "late-confirm",
            Scenario::ServiceViolations => "service-violations",
            Scenario::CallViolations => "call-violations",
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// What a scenario is told.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    pub format: Format,
    /// Capture start, nanoseconds since the epoch; every packet is placed relative to it.
    pub start_ns: i64,
    /// The drop-field fault, applied to every message.
    pub drop_field: Option<DropField>,
}

/// What a scenario wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioSummary {
    pub packets: u64,
    pub connections: u32,
    pub messages: u64,
    /// Lines of the truth file.
    pub facts: u64,
}

/// Writes the capture of scenario `s` and, if asked, its truth file and its message truth
/// file (one line per CTI message, as [`super::generate`] writes them).
pub fn write_scenario<W: Write>(
    s: Scenario,
    cfg: &ScenarioConfig,
    capture: W,
    truth: Option<&mut dyn Write>,
    truth_messages: Option<&mut dyn Write>,
) -> io::Result<ScenarioSummary> {
    let mut st = Story::new(s, cfg);
    match s {
        Scenario::Failover => failover(&mut st),
        Scenario::DeadServer => dead_server(&mut st),
        Scenario::NoCti => no_cti(&mut st),
        Scenario::ServerClosePending => server_close_pending(&mut st),
        Scenario::LateConfirm => late_confirm(&mut st),
        Scenario::ServiceViolations => services::service_violations(&mut st),
        Scenario::CallViolations => calls::call_violations(&mut st),
    }
    let Story { script, facts, header, .. } = st;
    let done = script.finish();
    done.write(capture, cfg.format)?;
    let lines = render(s, &done, facts, header, cfg.start_ns);
    if let Some(t) = truth {
        for l in &lines {
            writeln!(t, "{l}")?;
        }
        t.flush()?;
    }
    if let Some(t) = truth_messages {
        for l in done.message_lines() {
            writeln!(t, "{l}")?;
        }
        t.flush()?;
    }
    Ok(ScenarioSummary {
        packets: done.packets(),
        connections: done.connections(),
        messages: done.messages.len() as u64,
        facts: lines.len() as u64,
    })
}

/// RFC 3339 UTC with microseconds.
fn rfc3339_us(t: i64) -> String {
    format!("{}Z", format_utc(t, 6).replacen(' ', "T", 1))
}

/// Seconds, as a JSON number.
fn seconds(ns: i64) -> f64 {
    ns as f64 / SEC as f64
}

/// A value of a truth line, some known only once the packets are merged.
enum V {
    S(String),
    U(u64),
    F(f64),
    B(bool),
    Null,
    Frame(Pkt),
    Conn(Conn),
    Conns(Vec<Conn>),
    Time(i64),
    /// The number of CTI messages of a connection.
    Messages(Conn),
    /// The number of packets in the capture.
    Packets,
    List(Vec<u64>),
}

/// One truth line: its kind, the packet it is ordered by, and its keys in order.
struct Fact {
    at: Pkt,
    kv: Vec<(&'static str, V)>,
}

impl Fact {
    fn new(kind: &str, at: Pkt) -> Fact {
        Fact { at, kv: vec![("kind", V::S(kind.to_string()))] }
    }
    fn s(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.kv.push((k, V::S(v.into())));
        self
    }
    fn u(mut self, k: &'static str, v: impl Into<u64>) -> Self {
        self.kv.push((k, V::U(v.into())));
        self
    }
    fn secs(mut self, k: &'static str, ns: i64) -> Self {
        self.kv.push((k, V::F(seconds(ns))));
        self
    }
    fn b(mut self, k: &'static str, v: bool) -> Self {
        self.kv.push((k, V::B(v)));
        self
    }
    fn null(mut self, k: &'static str) -> Self {
        self.kv.push((k, V::Null));
        self
    }
    fn frame(mut self, k: &'static str, p: Pkt) -> Self {
        self.kv.push((k, V::Frame(p)));
        self
    }
    fn conn(mut self, k: &'static str, c: Conn) -> Self {
        self.kv.push((k, V::Conn(c)));
        self
    }
    fn time(mut self, k: &'static str, t: i64) -> Self {
        self.kv.push((k, V::Time(t)));
        self
    }
}

/// The truth lines: the header (if the scenario has one), the facts in frame order, the
/// drop-field line.
fn render(s: Scenario, done: &Done, mut facts: Vec<Fact>, header: bool, start_ns: i64) -> Vec<String> {
    let value = |v: &V| -> Value {
        match v {
            V::S(s) => Value::from(s.as_str()),
            V::U(n) => Value::from(*n),
            V::F(x) => Value::from(*x),
            V::B(b) => Value::from(*b),
            V::Null => Value::Null,
            V::Frame(p) => Value::from(done.frame(*p)),
            V::Conn(c) => Value::from(done.conn(*c)),
            V::Conns(cs) => Value::from(cs.iter().map(|c| done.conn(*c)).collect::<Vec<_>>()),
            V::Time(t) => Value::from(rfc3339_us(*t)),
            V::Messages(c) => Value::from(done.messages.iter().filter(|m| m.conn == *c).count()),
            V::Packets => Value::from(done.packets()),
            V::List(v) => Value::from(v.clone()),
        }
    };
    let line = |kv: &[(&'static str, V)]| -> String {
        let mut o = Map::new();
        for (k, v) in kv {
            o.insert(k.to_string(), value(v));
        }
        Value::Object(o).to_string()
    };
    let mut out = Vec::new();
    if header {
        let (first, last) = done.span();
        out.push(line(&[
            ("kind", V::S("scenario".into())),
            ("name", V::S(s.name().into())),
            ("protocol_version", V::U(u64::from(VERSION))),
            ("packets", V::U(done.packets())),
            ("connections", V::U(u64::from(done.connections()))),
            ("messages", V::U(done.messages.len() as u64)),
            ("start", V::Time(if done.packets() == 0 { start_ns } else { first })),
            ("end", V::Time(if done.packets() == 0 { start_ns } else { last })),
        ]));
    }
    facts.sort_by_key(|f| done.frame(f.at));
    out.extend(facts.iter().map(|f| line(&f.kv)));
    if let Some(d) = &done.drop {
        out.push(d.truth_line(done.dropped));
    }
    out
}

/// An agent desktop: who it is, where it connects from, its InvokeID counter and
/// heartbeat settings.
struct Desk {
    agent: AgentInfo,
    client_id: String,
    ip: Ipv4Addr,
    next_port: u16,
    invoke: u32,
    /// Heartbeat interval and IdleTimeout (seconds); `None`: no heartbeats (IdleTimeout
    /// 0xFFFFFFFF).
    heartbeat: Option<(i64, u32)>,
    /// The agent's state at the peripheral.
    state: u32,
}

impl Desk {
    fn new(id: u32, ip: [u8; 4], first_port: u16, first_invoke: u32, heartbeat: Option<(i64, u32)>) -> Desk {
        let n = id - 1001;
        Desk {
            agent: AgentInfo {
                id: id.to_string(),
                ext: (5001 + n).to_string(),
                peripheral_id: super::center::PERIPHERAL_ID,
                skill_number: 100,
                skill_id: 5100,
                icm_agent_id: 7001 + n,
                first: ["Maria", "James"][n as usize % 2],
                last: ["Garcia", "Smith"][n as usize % 2],
            },
            client_id: format!("desk-{id}"),
            ip: Ipv4Addr::from(ip),
            next_port: first_port,
            invoke: first_invoke,
            heartbeat,
            state: agent_state::AGENT_STATE_LOGOUT,
        }
    }

    fn next_invoke(&mut self) -> u32 {
        let i = self.invoke;
        self.invoke += 1;
        i
    }

    fn next_addr(&mut self) -> SocketAddr {
        let a = SocketAddr::V4(SocketAddrV4::new(self.ip, self.next_port));
        self.next_port += 1;
        a
    }

    /// OPEN_REQ.IdleTimeout.
    fn idle_timeout(&self) -> u32 {
        self.heartbeat.map_or(idle_timeout::NO_HEARTBEAT, |h| h.1)
    }
}

/// A request not answered (yet).
struct Pending {
    ty: MessageType,
    invoke: u32,
    pkt: Pkt,
}

/// One CTI session of a desktop: its connection and what is outstanding on it.
struct Session {
    c: Conn,
    first: Pkt,
    open_conf: Pkt,
    pending: Vec<Pending>,
}

/// How a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client sends CLOSE_REQ, the server CLOSE_CONF, and the client starts the FIN
    /// teardown.
    Close,
    /// The client sends CLOSE_REQ, the server CLOSE_CONF and starts the FIN teardown.
    CloseServerFin,
    /// The server sends FAILURE_EVENT (E_CTI_CTI_SERVER_OFFLINE) and starts the FIN
    /// teardown.
    FailureEvent,
    /// The client resets the connection.
    ClientReset,
}

/// What a desktop or its server does at a given time.
#[derive(Debug, Clone, Copy)]
enum Act {
    Heartbeat {
        answered: bool,
    },
    /// SET_AGENT_STATE_REQ; the confirm after the delay, then the AGENT_STATE_EVENT.
    SetState {
        state: u32,
        reason: u32,
        answer: Option<i64>,
    },
    /// QUERY_AGENT_STATE_REQ; the confirm after the delay.
    Query {
        answer: Option<i64>,
    },
    /// An AGENT_STATE_EVENT the server sends of its own.
    StateEvent {
        state: u32,
    },
    End(Ending),
}

/// A scenario being written: the script, the truth lines, the clock.
struct Story {
    script: Script,
    facts: Vec<Fact>,
    header: bool,
    t0: i64,
    isn: Rng,
}

impl Story {
    fn new(s: Scenario, cfg: &ScenarioConfig) -> Story {
        let seed = 0x5ce0 + Scenario::ALL.iter().position(|x| *x == s).unwrap_or(0) as u64;
        Story {
            script: Script::new(cfg.drop_field),
            facts: Vec::new(),
            header: !matches!(s, Scenario::DeadServer | Scenario::NoCti),
            t0: cfg.start_ns,
            isn: Rng::new(seed),
        }
    }

    /// `us` microseconds after the start.
    fn at(&self, us: i64) -> i64 {
        self.t0 + us * US
    }

    fn conn(&mut self, client: SocketAddr, server: SocketAddr) -> Conn {
        let isn = [self.isn.next_u32(), self.isn.next_u32()];
        self.script.conn(client, server, isn, VERSION)
    }

    fn fact(&mut self, f: Fact) {
        self.facts.push(f);
    }

    /// A connection attempt of `d` to `server` at `t`, refused.
    fn refused(&mut self, d: &mut Desk, server: SocketAddr, t: i64) -> Conn {
        let client = d.next_addr();
        let c = self.conn(client, server);
        let (syn, rst) = self.script.refused(c, t, REFUSE);
        self.fact(
            Fact::new("refused", syn)
                .conn("conn", c)
                .s("client", client.to_string())
                .s("server", server.to_string())
                .frame("frame", syn)
                .frame("rst_frame", rst)
                .time("time", t),
        );
        c
    }

    /// `d` connects to `server` at `t` and opens its session (OPEN_REQ 1 ms after the SYN).
    fn open(&mut self, d: &mut Desk, server: SocketAddr, t: i64) -> Session {
        let client = d.next_addr();
        let c = self.conn(client, server);
        let first = self.script.handshake(c, t, RTT);
        let invoke = d.next_invoke();
        let services = service_mask::CTI_SERVICE_CLIENT_EVENTS | service_mask::CTI_SERVICE_CLIENT_CONTROL;
        let req = m::open_req(VERSION, invoke, services, d.idle_timeout(), &d.client_id, Some(&d.agent));
        let t_req = t + MS;
        let conf = m::open_conf(
            VERSION,
            invoke,
            services,
            (t_req / SEC) as u32,
            Some(&d.agent),
            super::center::PERIPHERAL_ID,
            d.state,
        );
        let mut s = Session { c, first, open_conf: first, pending: Vec::new() };
        let (_, answer) = self.request(&mut s, t_req, req, invoke, Some((LATENCY, conf)));
        s.open_conf = answer.expect("answered");
        s
    }

    /// A request from the client at `t`, answered `answer.0` later with `answer.1` (or
    /// never). Returns the request and its answer.
    fn request(
        &mut self,
        s: &mut Session,
        t: i64,
        req: Vec<u8>,
        invoke: u32,
        answer: Option<(i64, Vec<u8>)>,
    ) -> (Pkt, Option<Pkt>) {
        let ty = m::message_type(&req);
        let p = self.script.message(s.c, End::Client, t, req);
        let Some((delay, conf)) = answer else {
            s.pending.push(Pending { ty, invoke, pkt: p });
            return (p, None);
        };
        let cty = m::message_type(&conf);
        let a = self.script.message(s.c, End::Server, t + delay, conf);
        self.fact(
            Fact::new("request", p)
                .conn("conn", s.c)
                .s("request", ty.name_or_unknown())
                .u("invoke", invoke)
                .frame("frame", p)
                .time("time", t)
                .s("answer", cty.name_or_unknown())
                .frame("answer_frame", a)
                .secs("latency_s", delay),
        );
        if delay > LATE {
            self.fact(
                Fact::new("late-confirm", a)
                    .conn("conn", s.c)
                    .s("request", ty.name_or_unknown())
                    .s("confirm", cty.name_or_unknown())
                    .u("invoke", invoke)
                    .secs("latency_s", delay)
                    .frame("request_frame", p)
                    .frame("confirm_frame", a)
                    .time("request_time", t)
                    .time("confirm_time", t + delay),
            );
        }
        (p, Some(a))
    }

    /// AGENT_STATE_EVENT from the server at `t`.
    fn state_event(&mut self, s: &Session, d: &mut Desk, t: i64, state: u32, reason: u32) {
        d.state = state;
        let ev = m::agent_state_event(VERSION, &d.agent, Some(&d.client_id), state, reason, 0, false);
        let p = self.script.message(s.c, End::Server, t, ev);
        let name = spec::values::AGENT_STATE.name_of(state).unwrap_or("?");
        self.fact(
            Fact::new("agent-state", p)
                .conn("conn", s.c)
                .s("agent", d.agent.id.clone())
                .s("state", name)
                .frame("frame", p)
                .time("time", t),
        );
    }

    /// Runs the acts of a session in time order (acts of the same time in list order)
    /// and ends it (the list must hold one [`Act::End`], the last in time). Returns the
    /// ending and its packet.
    fn run(&mut self, s: &mut Session, d: &mut Desk, mut acts: Vec<(i64, Act)>) -> (Ending, Pkt) {
        acts.sort_by_key(|a| a.0);
        for (t, act) in acts {
            match act {
                Act::Heartbeat { answered } => {
                    let invoke = d.next_invoke();
                    let req = m::invoke_only(MessageType::HEARTBEAT_REQ, VERSION, invoke);
                    let conf = answered.then(|| (LATENCY, m::plain_confirm(VERSION, &req, invoke)));
                    self.request(s, t, req, invoke, conf);
                }
                Act::SetState { state, reason, answer } => {
                    let invoke = d.next_invoke();
                    let req = m::set_agent_state_req(VERSION, invoke, &d.agent, state, reason, false);
                    let conf = answer.map(|delay| (delay, m::plain_confirm(VERSION, &req, invoke)));
                    if let (_, Some(_)) = self.request(s, t, req, invoke, conf) {
                        let delay = answer.expect("answered");
                        self.state_event(s, d, t + delay + NEXT, state, reason);
                    }
                }
                Act::Query { answer } => {
                    let invoke = d.next_invoke();
                    let req = m::query_agent_state_req(VERSION, invoke, &d.agent);
                    let conf = answer
                        .map(|delay| (delay, m::query_agent_state_conf(VERSION, invoke, &d.agent, d.state)));
                    self.request(s, t, req, invoke, conf);
                }
                Act::StateEvent { state } => self.state_event(s, d, t, state, 0),
                Act::End(e) => return (e, self.end(s, d, t, e)),
            }
        }
        panic!("a session's acts end with Act::End")
    }

    /// Ends a session at `t`; writes its `session` line and the lines of the requests
    /// left unanswered. Returns the packet that ends the connection.
    fn end(&mut self, s: &mut Session, d: &mut Desk, t: i64, e: Ending) -> Pkt {
        let c = s.c;
        let (ended_by, ended, last) = match e {
            Ending::Close | Ending::CloseServerFin => {
                let invoke = d.next_invoke();
                let req = m::close_req(VERSION, invoke);
                let conf = m::plain_confirm(VERSION, &req, invoke);
                let (_, a) = self.request(s, t, req, invoke, Some((LATENCY, conf)));
                let a = a.expect("answered");
                let from = if e == Ending::Close { End::Client } else { End::Server };
                let last = self.script.close(c, from, t + LATENCY + MS, TEARDOWN);
                ("close-conf", a, last)
            }
            Ending::FailureEvent => {
                let status = status_code::E_CTI_CTI_SERVER_OFFLINE;
                let p = self.script.message(c, End::Server, t, m::failure_event(VERSION, status));
                let name = spec::values::STATUS_CODE.name_of(status).unwrap_or("?");
                self.fact(
                    Fact::new("failure-event", p)
                        .conn("conn", c)
                        .s("status", name)
                        .frame("frame", p)
                        .time("time", t),
                );
                let last = self.script.close(c, End::Server, t + TEARDOWN, TEARDOWN);
                ("failure-event", p, last)
            }
            Ending::ClientReset => {
                let p = self.script.rst(c, End::Client, t);
                self.fact(
                    Fact::new("reset", p).conn("conn", c).s("by", "client").frame("frame", p).time("time", t),
                );
                ("reset", p, p)
            }
        };
        let ended_t = self.script.time(ended);
        for p in std::mem::take(&mut s.pending) {
            let name = p.ty.name_or_unknown();
            let t_req = self.script.time(p.pkt);
            self.fact(
                Fact::new("request", p.pkt)
                    .conn("conn", c)
                    .s("request", name)
                    .u("invoke", p.invoke)
                    .frame("frame", p.pkt)
                    .time("time", t_req)
                    .null("answer")
                    .null("answer_frame")
                    .null("latency_s"),
            );
            let f = if p.ty == MessageType::HEARTBEAT_REQ {
                Fact::new("heartbeat-unanswered", p.pkt).conn("conn", c)
            } else {
                Fact::new("request-unanswered", p.pkt).conn("conn", c).s("request", name)
            };
            self.fact(
                f.u("invoke", p.invoke)
                    .frame("frame", p.pkt)
                    .time("time", t_req)
                    .s("ended_by", ended_by)
                    .frame("ended_frame", ended)
                    .secs("outstanding_s", ended_t - t_req),
            );
        }
        let [client, server] = self.script.addrs(c);
        let (end, closed_by, close) = match e {
            Ending::Close => ("fin", "client", "close-req"),
            Ending::CloseServerFin => ("fin", "server", "close-req"),
            Ending::FailureEvent => ("fin", "server", "failure-event"),
            Ending::ClientReset => ("rst", "client", "none"),
        };
        let open_t = self.script.time(s.open_conf);
        let mut f = Fact::new("session", s.first)
            .conn("conn", c)
            .s("agent", d.agent.id.clone())
            .s("client_id", d.client_id.clone())
            .s("client", client.to_string())
            .s("server", server.to_string())
            .frame("first_frame", s.first)
            .b("opened", true)
            .frame("open_frame", s.open_conf)
            .time("open_time", open_t);
        f = match d.heartbeat {
            Some((h, idle)) => f.secs("heartbeat_s", h).u("idle_timeout", idle),
            None => f.null("heartbeat_s").null("idle_timeout"),
        };
        f.kv.push(("messages", V::Messages(c)));
        let end_t = self.script.time(last);
        self.fact(
            f.s("end", end)
                .s("closed_by", closed_by)
                .s("close", close)
                .frame("end_frame", last)
                .time("end_time", end_t),
        );
        last
    }

    /// The agent's desktop moved from the connection that ended at `from_end` to `to`,
    /// with `refused` attempts in between.
    fn failover(&mut self, d: &Desk, from: Conn, from_end: (&str, Pkt), to: &Session, refused: Vec<Conn>) {
        let [_, from_server] = self.script.addrs(from);
        let [_, to_server] = self.script.addrs(to.c);
        let t_end = self.script.time(from_end.1);
        let t_syn = self.script.time(to.first);
        let mut f = Fact::new("failover", to.first)
            .s("agent", d.agent.id.clone())
            .s("client_id", d.client_id.clone())
            .conn("from_conn", from)
            .conn("to_conn", to.c)
            .s("from", from_server.to_string())
            .s("to", to_server.to_string())
            .s("from_end", from_end.0)
            .frame("from_end_frame", from_end.1)
            .frame("to_first_frame", to.first)
            .secs("gap_s", t_syn - t_end)
            .u("refused", refused.len() as u64);
        f.kv.push(("refused_conns", V::Conns(refused)));
        self.fact(f.time("time", t_syn));
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a literal address")
}

/// `count` heartbeats, every `every` after `from`, answered or not.
fn heartbeats(from: i64, every: i64, count: u32, answered: bool) -> Vec<(i64, Act)> {
    (1..=i64::from(count)).map(|k| (from + k * every, Act::Heartbeat { answered })).collect()
}

fn failover(st: &mut Story) {
    use agent_state::*;
    let side_a = addr("10.10.0.1:42027");
    let side_b = addr("10.10.0.2:43027");
    let mut d1 = Desk::new(1001, [10, 10, 1, 10], 50001, 1, Some((5 * SEC, 30)));
    let mut d2 = Desk::new(1002, [10, 10, 1, 11], 50101, 501, Some((30 * SEC, 120)));

    // Agent 1001 on side A: a minute of normal session, then side A stops answering.
    let t = st.at(1_000_000);
    let mut a1 = st.open(&mut d1, side_a, t);
    let open = t + MS;
    let mut acts = vec![
        (st.at(3_000_000), Act::StateEvent { state: AGENT_STATE_LOGIN }),
        (st.at(3_000_060), Act::StateEvent { state: AGENT_STATE_NOT_READY }),
        (st.at(8_000_000), Act::SetState { state: AGENT_STATE_AVAILABLE, reason: 0, answer: Some(LATENCY) }),
    ];
    acts.extend(heartbeats(open, 5 * SEC, 12, true));
    acts.extend(heartbeats(open + 60 * SEC, 5 * SEC, 3, false));
    acts.push((st.at(68_500_000), Act::SetState { state: AGENT_STATE_NOT_READY, reason: 5, answer: None }));
    acts.push((st.at(80_000_000), Act::End(Ending::ClientReset)));
    let (_, rst) = st.run(&mut a1, &mut d1, acts);

    // 0.5 s later, side B: a minute, then FAILURE_EVENT.
    let t = st.at(80_500_000);
    let mut b1 = st.open(&mut d1, side_b, t);
    st.failover(&d1, a1.c, ("rst", rst), &b1, Vec::new());
    let open = t + MS;
    let mut acts = vec![
        (st.at(80_502_000), Act::StateEvent { state: AGENT_STATE_AVAILABLE }),
        (st.at(82_000_000), Act::SetState { state: AGENT_STATE_NOT_READY, reason: 5, answer: Some(LATENCY) }),
        (st.at(95_000_000), Act::SetState { state: AGENT_STATE_AVAILABLE, reason: 0, answer: Some(LATENCY) }),
    ];
    acts.extend(heartbeats(open, 5 * SEC, 12, true));
    acts.push((st.at(142_000_000), Act::End(Ending::FailureEvent)));
    let (_, fin) = st.run(&mut b1, &mut d1, acts);

    // Both sides refuse, in turn, one second apart; side A accepts the fifth attempt.
    let refused: Vec<Conn> = [side_a, side_b, side_a, side_b]
        .into_iter()
        .enumerate()
        .map(|(i, server)| st.refused(&mut d1, server, st.at(143_000_000 + i as i64 * 1_000_000)))
        .collect();
    let t = st.at(147_000_000);
    let mut a2 = st.open(&mut d1, side_a, t);
    st.failover(&d1, b1.c, ("fin", fin), &a2, refused);
    let open = t + MS;
    let mut acts = vec![(st.at(147_002_000), Act::StateEvent { state: AGENT_STATE_AVAILABLE })];
    acts.extend(heartbeats(open, 5 * SEC, 4, true));
    acts.push((st.at(168_000_000), Act::End(Ending::Close)));
    st.run(&mut a2, &mut d1, acts);

    // Agent 1002 on side A all along, heartbeats every 30 s, closing at the end.
    let t = st.at(2_000_000);
    let mut s2 = st.open(&mut d2, side_a, t);
    let open = t + MS;
    let mut acts = vec![
        (st.at(4_000_000), Act::StateEvent { state: AGENT_STATE_LOGIN }),
        (st.at(4_000_060), Act::StateEvent { state: AGENT_STATE_NOT_READY }),
        (st.at(10_000_000), Act::SetState { state: AGENT_STATE_AVAILABLE, reason: 0, answer: Some(LATENCY) }),
    ];
    acts.extend(heartbeats(open, 30 * SEC, 5, true));
    acts.push((st.at(170_000_000), Act::End(Ending::Close)));
    st.run(&mut s2, &mut d2, acts);
}

fn dead_server(st: &mut Story) {
    let server = addr("10.10.0.1:42027");
    let mut d = Desk::new(1001, [10, 10, 1, 10], 50001, 1, None);
    for i in 0..4 {
        st.refused(&mut d, server, st.at(1_000_000 + i * 1_000_000));
    }
}

fn server_close_pending(st: &mut Story) {
    use agent_state::*;
    let server = addr("10.10.0.1:42027");
    let mut d1 = Desk::new(1001, [10, 10, 1, 10], 50001, 1, None);
    let mut d2 = Desk::new(1002, [10, 10, 1, 11], 50101, 501, None);

    // SET_AGENT_STATE_REQ, then CLOSE_REQ: only the CLOSE_REQ is answered.
    let mut s1 = st.open(&mut d1, server, st.at(1_000_000));
    let acts = vec![
        (st.at(2_000_000), Act::StateEvent { state: AGENT_STATE_LOGIN }),
        (st.at(2_000_060), Act::StateEvent { state: AGENT_STATE_NOT_READY }),
        (st.at(4_000_000), Act::SetState { state: AGENT_STATE_AVAILABLE, reason: 0, answer: None }),
        (st.at(6_000_000), Act::End(Ending::CloseServerFin)),
    ];
    st.run(&mut s1, &mut d1, acts);

    // QUERY_AGENT_STATE_REQ outstanding when the server sends FAILURE_EVENT.
    let mut s2 = st.open(&mut d2, server, st.at(1_500_000));
    let acts = vec![
        (st.at(2_500_000), Act::StateEvent { state: AGENT_STATE_LOGIN }),
        (st.at(2_500_060), Act::StateEvent { state: AGENT_STATE_NOT_READY }),
        (st.at(8_000_000), Act::Query { answer: None }),
        (st.at(10_000_000), Act::End(Ending::FailureEvent)),
    ];
    st.run(&mut s2, &mut d2, acts);
}

fn late_confirm(st: &mut Story) {
    use agent_state::*;
    let server = addr("10.10.0.1:42027");
    let mut d = Desk::new(1001, [10, 10, 1, 10], 50001, 1, None);
    let mut s = st.open(&mut d, server, st.at(1_000_000));
    let acts = vec![
        (st.at(2_000_000), Act::StateEvent { state: AGENT_STATE_LOGIN }),
        (st.at(2_000_060), Act::StateEvent { state: AGENT_STATE_NOT_READY }),
        (st.at(3_000_000), Act::Query { answer: Some(3 * MS) }),
        (
            st.at(5_000_000),
            Act::SetState { state: AGENT_STATE_AVAILABLE, reason: 0, answer: Some(17_200 * MS) },
        ),
        (st.at(25_000_000), Act::End(Ending::Close)),
    ];
    st.run(&mut s, &mut d, acts);
}

/// DNS, HTTP and TLS: TCP connections and a datagram, none of them CTI.
fn no_cti(st: &mut Story) {
    let client = Ipv4Addr::new(10, 10, 1, 10);
    let sock = |port: u16| SocketAddr::V4(SocketAddrV4::new(client, port));
    let mut query = vec![0x4a, 0x11, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["intranet", "example", "com"] {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let dns = st.script.udp(st.at(500_000), sock(53001), addr("10.10.0.53:53"), &query);
    let web = addr("10.10.0.80:80");
    let pages = ["/", "/status", "/favicon.ico"];
    for (i, path) in pages.iter().enumerate() {
        let t = st.at(1_000_000 + i as i64 * 2_000_000);
        let c = st.conn(sock(50001 + i as u16), web);
        st.script.handshake(c, t, RTT);
        let get = format!("GET {path} HTTP/1.1\r\nHost: intranet.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n");
        st.script.data(c, End::Client, t + MS, get.as_bytes());
        let body = format!("<html><body>{path} ok</body></html>\n");
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        st.script.data(c, End::Server, t + 4 * MS, resp.as_bytes());
        st.script.close(c, End::Server, t + 5 * MS, TEARDOWN);
    }
    // TLS 1.2 records (handshake, change cipher spec, application data, alert) with
    // pseudo-random contents.
    let mut rng = Rng::new(443);
    let mut record = |ty: u8, len: usize| -> Vec<u8> {
        let mut r = vec![ty, 0x03, 0x03, (len >> 8) as u8, len as u8];
        r.extend((0..len).map(|_| rng.next_u32() as u8));
        r
    };
    let t = st.at(8_000_000);
    let c = st.conn(sock(50004), addr("10.10.0.80:443"));
    st.script.handshake(c, t, RTT);
    let steps: [(End, i64, Vec<u8>); 6] = [
        (End::Client, MS, record(0x16, 512)),
        (End::Server, 3 * MS, record(0x16, 1400)),
        (End::Client, 5 * MS, [record(0x14, 1), record(0x16, 40)].concat()),
        (End::Server, 7 * MS, [record(0x14, 1), record(0x16, 40)].concat()),
        (End::Client, 8 * MS, record(0x17, 230)),
        (End::Server, 20 * MS, record(0x17, 900)),
    ];
    for (from, dt, bytes) in steps {
        st.script.data(c, from, t + dt, &bytes);
    }
    st.script.data(c, End::Client, t + 100 * MS, &record(0x15, 26));
    st.script.close(c, End::Client, t + 101 * MS, TEARDOWN);
    let mut f = Fact::new("no-cti", dns);
    f.kv.push(("packets", V::Packets));
    f.kv.push(("tcp_ports", V::List(vec![80, 443])));
    st.fact(f);
}
