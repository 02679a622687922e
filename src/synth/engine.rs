//! The simulation: a time-ordered event queue driving client sessions, agents and the TCP
//! stacks of both ends of every connection.

use super::msgs::{self as m, AgentInfo, BuildFaults, CallInfo};
use super::wire::Wire;
use super::{Config, Limit, Rng};
use crate::capture::build::TcpSpec;
use crate::cti::spec;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const US: i64 = 1_000;
const MS: i64 = 1_000_000;
const SEC: i64 = 1_000_000_000;

/// Writes made within this interval of the first pending one share a segment.
const COALESCE: i64 = 200 * US;
/// A receiver with nothing to send acknowledges after this delay.
const ACK_DELAY: i64 = 2 * MS;
/// Retransmissions appear this long after the original.
const RTO: i64 = 200 * MS;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// Stream direction: 0 client to server, 1 server to client. Side `d` sends direction `d`.
type Dir = usize;
const C2S: Dir = 0;
const S2C: Dir = 1;

fn dir_name(d: Dir) -> &'static str {
    if d == C2S {
        "client->server"
    } else {
        "server->client"
    }
}

/// What the generator wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub packets: u64,
    pub bytes: u64,
    pub messages: u64,
    pub connections: u32,
    pub calls: u64,
    pub faults: u64,
}

/// One message as an application wrote it (before TCP), for tests.
#[derive(Debug, Clone)]
pub struct GeneratedMessage {
    pub connection: u32,
    /// "client->server" or "server->client".
    pub direction: &'static str,
    pub version: u32,
    pub bytes: Vec<u8>,
    /// The protocol fault injected into this message, if any.
    pub fault: Option<&'static str>,
}

/// A protocol fault carried by a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProtoFault {
    Unanswered { invoke: u32 },
    AfterEnd { call: u32 },
    Oversize,
    BadCount,
}

impl ProtoFault {
    fn name(self) -> &'static str {
        match self {
            ProtoFault::Unanswered { .. } => "unanswered",
            ProtoFault::AfterEnd { .. } => "after-end",
            ProtoFault::Oversize => "oversize",
            ProtoFault::BadCount => "bad-count",
        }
    }
}

#[derive(Debug)]
enum Ev {
    Syn(u32),
    SynAck(u32),
    HandshakeAck(u32),
    Msg {
        conn: u32,
        dir: Dir,
        bytes: Vec<u8>,
        fault: Option<ProtoFault>,
    },
    Agent(u32),
    Heartbeat(u32),
    SystemEvent(u32),
    Close(u32),
    Fin(u32),
    FinAck(u32),
    LastAck(u32),
    Flush(u32, Dir),
    /// The receiver of direction `Dir` acknowledges it.
    Ack(u32, Dir),
    Resend {
        conn: u32,
        dir: Dir,
        off: u64,
        data: Vec<u8>,
        diverge: bool,
        original: u64,
    },
}

/// A queue entry: time, insertion number (ties keep insertion order) and the slot of the
/// event in the slab, so the heap moves small keys only.
struct Entry {
    t: i64,
    seq: u64,
    slot: u32,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed: the heap pops the earliest entry first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.t, o.seq).cmp(&(self.t, self.seq))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Desktop(u32),
    Bridge,
    Monitor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Open,
    Closing,
    Done,
}

/// A message in a TCP send queue, waiting for the segments that carry it.
#[derive(Debug)]
struct MsgRec {
    off: u64,
    len: u64,
    type_id: u32,
    fault: Option<ProtoFault>,
    first_frame: u64,
    captured: bool,
}

struct Conn {
    kind: Kind,
    /// Connection number in the truth files: connections are numbered in the order of
    /// their SYNs.
    id: u32,
    addr: [SocketAddr; 2],
    isn: [u32; 2],
    /// Stream bytes handed to TCP per direction.
    sent: [u64; 2],
    /// Bytes of each direction acknowledged in a captured or lost packet so far.
    acked: [u64; 2],
    ack_scheduled: [bool; 2],
    fin_sent: [bool; 2],
    pending: [Vec<u8>; 2],
    pending_since: [i64; 2],
    queue: [VecDeque<MsgRec>; 2],
    /// Stream offset of the next message written per direction.
    written: [u64; 2],
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
    version: u32,
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
    consult: Option<(CallInfo, String, bool)>,
    answer_attempts: u32,
}

struct Agent {
    info: AgentInfo,
    desktop: Option<u32>,
    monitors: Vec<(u32, u32)>,
    state: u16,
    state_since: i64,
    calls_left: Option<u32>,
    step: Step,
    call: Option<Call>,
}

struct Engine<'a, W: Write> {
    cfg: &'a Config,
    rng: Rng,
    heap: BinaryHeap<Entry>,
    slab: Vec<Option<Ev>>,
    free: Vec<u32>,
    seq: u64,
    now: i64,
    last_ts: i64,
    end: i64,
    scale: f64,
    conns: Vec<Conn>,
    agents: Vec<Agent>,
    bridges: Vec<u32>,
    active_agents: u32,
    wire: Wire<W>,
    truth: Option<&'a mut dyn Write>,
    truth_msgs: Option<&'a mut dyn Write>,
    collect: Option<Vec<GeneratedMessage>>,
    next_call_id: u32,
    next_router_call: u32,
    next_monitor_id: u32,
    next_conn_id: u32,
    mss: usize,
    /// Midstream: packets are not written until this connection's OPEN_CONF has gone by.
    midstream_conn: Option<u32>,
    skipped: u64,
    summary: Summary,
    scratch: Vec<u8>,
    stop: bool,
}

const FIRST: [&str; 12] = [
    "Maria", "James", "Aiko", "Omar", "Lena", "Carlos", "Priya", "Noah", "Fatima", "Jonas", "Chloe", "Mateo",
];
const LAST: [&str; 12] = [
    "Garcia", "Smith", "Tanaka", "Haddad", "Schmidt", "Rossi", "Patel", "Brown", "Okafor", "Nilsen",
    "Martin", "Lopez",
];
const SKILLS: [&str; 4] = ["Sales", "Support", "Billing", "Retention"];
const AREA: [&str; 8] = ["415", "212", "312", "617", "206", "512", "303", "404"];
const INTENTS: [&str; 5] =
    ["billing_inquiry", "new_order", "tech_support", "cancel_service", "address_change"];
const PRODUCTS: [&str; 6] = ["FIBER-500", "MOBILE-UNL", "TV-BASIC", "HOME-PHONE", "CLOUD-1TB", "SECURITY"];
const PERIPHERAL_ID: u32 = 5000;

fn dialed_number(service: u32) -> String {
    format!("800555{:04}", 100 + service)
}

/// Generates the capture, streaming, and returns what was written.
pub fn generate<'a, W: Write>(
    cfg: &'a Config,
    capture: W,
    truth: Option<&'a mut dyn Write>,
    truth_messages: Option<&'a mut dyn Write>,
) -> io::Result<Summary> {
    let wire = Wire::new(capture, cfg.format, cfg.link, cfg.ipv6)?;
    let mut e = Engine::new(cfg, wire, truth, truth_messages, false);
    e.run()?;
    e.finish()
}

/// The messages the generator writes for `cfg` (fault-free TCP, in write order), without
/// packetising them into a capture.
pub fn messages(cfg: &Config) -> Vec<GeneratedMessage> {
    let wire = Wire::new(io::sink(), cfg.format, cfg.link, cfg.ipv6).expect("sink");
    let mut e = Engine::new(cfg, wire, None, None, true);
    e.run().expect("sink does not fail");
    e.collect.take().unwrap_or_default()
}

impl<'a, W: Write> Engine<'a, W> {
    fn new(
        cfg: &'a Config,
        wire: Wire<W>,
        truth: Option<&'a mut dyn Write>,
        truth_msgs: Option<&'a mut dyn Write>,
        collect: bool,
    ) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let agents_n = cfg.agents.max(cfg.desktops);
        // Natural call cycle: ring, talk, wrap-up, idle (seconds).
        let cycle = 5.0 + 150.0 + 18.0 + 45.0;
        let scale = match (cfg.calls_per_agent, cfg.limit) {
            (_, Limit::Bytes(_) | Limit::Messages(_)) => 0.05,
            (Some(k), _) if k > 0 => {
                let avail = (cfg.duration_s * 0.85 - 20.0).max(cfg.duration_s * 0.5);
                (avail / (k as f64 * cycle)).min(1.0)
            }
            _ => 1.0,
        };
        let end = match cfg.limit {
            Limit::Sessions => cfg.start_ns + (cfg.duration_s * SEC as f64) as i64,
            _ => i64::MAX / 2,
        };
        let mut e = Engine {
            cfg,
            rng: rng.fork(1),
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            seq: 0,
            now: cfg.start_ns,
            last_ts: cfg.start_ns,
            end,
            scale,
            conns: Vec::new(),
            agents: Vec::new(),
            bridges: Vec::new(),
            active_agents: agents_n,
            wire,
            truth,
            truth_msgs,
            collect: if collect { Some(Vec::new()) } else { None },
            next_call_id: 0x0100_0000 + (rng.next_u32() & 0xFFFF),
            next_router_call: 1 + (rng.next_u32() & 0xFFFFF),
            next_monitor_id: 1,
            next_conn_id: 0,
            mss: if cfg.ipv6 { 1440 } else { 1460 },
            midstream_conn: None,
            skipped: 0,
            summary: Summary::default(),
            scratch: Vec::with_capacity(2048),
            stop: false,
        };
        e.setup(agents_n);
        e
    }

    fn push(&mut self, t: i64, ev: Ev) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(ev);
                i
            }
            None => {
                self.slab.push(Some(ev));
                self.slab.len() as u32 - 1
            }
        };
        self.heap.push(Entry { t, seq: self.seq, slot });
    }

    fn dur(&mut self, lo_s: f64, hi_s: f64) -> i64 {
        let s = lo_s + (hi_s - lo_s) * self.rng.unit();
        ((s * self.scale).max(0.05) * SEC as f64) as i64
    }

    /// Server reply delay. Longer than the coalescing window, so that a reply never leaves
    /// before the request it answers, which may still wait to be coalesced.
    fn latency(&mut self) -> i64 {
        COALESCE + 50 * US + self.rng.below(450_000) as i64
    }

    fn setup(&mut self, agents_n: u32) {
        let cfg = self.cfg;
        for i in 0..agents_n {
            let info = AgentInfo {
                id: format!("{}", 1001 + i),
                ext: format!("{}", 40001 + i),
                peripheral_id: PERIPHERAL_ID,
                skill_number: 100 + i % 4,
                skill_id: 5100 + i % 4,
                icm_agent_id: 7001 + i,
                first: FIRST[(i as usize * 7) % FIRST.len()],
                last: LAST[(i as usize * 5 + i as usize / 12) % LAST.len()],
            };
            self.agents.push(Agent {
                info,
                desktop: None,
                monitors: Vec::new(),
                state: m::AS_LOGOUT,
                state_since: cfg.start_ns,
                calls_left: cfg.calls_per_agent,
                step: Step::Login,
                call: None,
            });
        }
        let mut t = cfg.start_ns + self.rng.below(50 * MS as u64) as i64;
        let open = |e: &mut Self, kind: Kind, t: i64| -> u32 {
            let id = e.new_conn(kind);
            e.push(t, Ev::Syn(id));
            id
        };
        for _ in 0..cfg.bridges {
            let id = open(self, Kind::Bridge, t);
            self.bridges.push(id);
            t += 20 * MS + self.rng.below(200 * MS as u64) as i64;
        }
        for mi in 0..cfg.monitors {
            let id = open(self, Kind::Monitor, t);
            // Each monitor watches up to eight agents' devices.
            for ai in (mi..agents_n).step_by(cfg.monitors as usize).take(8) {
                self.agents[ai as usize].monitors.push((id, 0));
            }
            t += 20 * MS + self.rng.below(200 * MS as u64) as i64;
        }
        // Desktops come up over the first part of the run.
        let spread = ((cfg.duration_s * 0.05).clamp(1.0, 30.0) * SEC as f64) as i64;
        for ai in 0..cfg.desktops.min(agents_n) {
            let at = t + self.rng.below(spread as u64) as i64;
            let id = open(self, Kind::Desktop(ai), at);
            self.agents[ai as usize].desktop = Some(id);
        }
        for ai in cfg.desktops.min(agents_n)..agents_n {
            let at = t + self.rng.below(spread as u64) as i64;
            self.push(at, Ev::Agent(ai));
        }
        if agents_n == 0 {
            let end = cfg.start_ns + (cfg.duration_s * SEC as f64) as i64;
            for c in 0..self.conns.len() as u32 {
                self.push(end, Ev::Close(c));
            }
        }
        if cfg.faults.midstream && !self.conns.is_empty() {
            // Connections are opened in index order: half of them are caught mid-stream.
            self.midstream_conn = Some((self.conns.len() as u32 - 1) / 2);
        }
    }

    fn new_conn(&mut self, kind: Kind) -> u32 {
        let idx = self.conns.len() as u32;
        let cfg = self.cfg;
        let host = match kind {
            Kind::Bridge => 200 * 256 + idx,
            Kind::Monitor => 201 * 256 + idx,
            Kind::Desktop(a) => 1 + a,
        };
        let (cip, sip) = if cfg.ipv6 {
            (
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0xc71, 0, 1, 0, 0, (host >> 16) as u16, host as u16)),
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0xc71, 0, 0, 0, 0, 0, 0x20)),
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::new(10, 20, (host >> 8) as u8, (host & 0xff) as u8)),
                IpAddr::V4(Ipv4Addr::new(10, 10, 1, 20)),
            )
        };
        let port = 49152 + self.rng.below(16000) as u16;
        let (services, hb, client_id) = match kind {
            Kind::Desktop(a) => (
                m::SVC_CLIENT_EVENTS | m::SVC_CLIENT_CONTROL | m::SVC_CALL_DATA_UPDATE,
                60 * SEC,
                format!("Finesse-{}", self.agents[a as usize].info.id),
            ),
            Kind::Bridge => (m::SVC_ALL_EVENTS, 10 * SEC, format!("CTIBridge{idx}")),
            Kind::Monitor => (m::SVC_PERIPHERAL_MONITOR, 20 * SEC, format!("Recorder{idx}")),
        };
        self.conns.push(Conn {
            kind,
            id: u32::MAX,
            addr: [SocketAddr::new(cip, port), SocketAddr::new(sip, cfg.server_port)],
            isn: [self.rng.next_u32(), self.rng.next_u32()],
            sent: [0; 2],
            acked: [0; 2],
            ack_scheduled: [false; 2],
            fin_sent: [false; 2],
            pending: [Vec::new(), Vec::new()],
            pending_since: [0; 2],
            queue: [VecDeque::new(), VecDeque::new()],
            written: [0; 2],
            state: State::Idle,
            open_at: i64::MAX,
            closed_at: i64::MAX,
            invoke: 1 + self.rng.below(1000) as u32,
            client_id,
            services,
            hb_interval: hb,
            last_client_send: 0,
            version: cfg.version,
        });
        self.summary.connections += 1;
        idx
    }

    fn run(&mut self) -> io::Result<()> {
        while let Some(Entry { t, slot, .. }) = self.heap.pop() {
            let ev = self.slab[slot as usize].take().expect("queued event");
            self.free.push(slot);
            self.now = t.max(self.now);
            self.event(ev)?;
            if self.stop {
                break;
            }
        }
        // Whatever is still waiting in send buffers goes out.
        for c in 0..self.conns.len() as u32 {
            for d in [C2S, S2C] {
                if self.conns[c as usize].state != State::Done {
                    self.flush(c, d, true)?;
                }
            }
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<Summary> {
        self.summary.packets = self.wire.frames;
        if self.cfg.faults.truncate {
            // One more acknowledgement, cut in half: the file ends inside its record.
            let c = &self.conns[0];
            let spec = TcpSpec {
                src: c.addr[1],
                dst: c.addr[0],
                seq: c.isn[1].wrapping_add(1 + c.sent[1] as u32 + c.fin_sent[1] as u32),
                ack: c.isn[0].wrapping_add(1 + c.sent[0] as u32 + c.fin_sent[0] as u32),
                flags: TCP_ACK,
                payload: &[],
            };
            let frame = self.wire.frames + 1;
            let ts = self.last_ts + MS;
            let bytes_before = self.wire.bytes;
            let Engine { wire, truth, .. } = self;
            let (rec, cut) = wire.finish_truncated(ts, &spec)?;
            self.summary.faults += 1;
            self.summary.bytes = bytes_before + cut;
            if let Some(t) = truth {
                writeln!(
                    t,
                    "{{\"fault\":\"truncate\",\"frame\":{frame},\"record_length\":{rec},\"written\":{cut}}}"
                )?;
                t.flush()?;
            }
            if let Some(t) = self.truth_msgs {
                t.flush()?;
            }
            return Ok(self.summary);
        }
        self.summary.bytes = self.wire.bytes;
        let Engine { wire, truth, truth_msgs, summary, .. } = self;
        wire.finish()?;
        if let Some(t) = truth {
            t.flush()?;
        }
        if let Some(t) = truth_msgs {
            t.flush()?;
        }
        Ok(summary)
    }

    fn check_limit(&mut self) {
        match self.cfg.limit {
            Limit::Bytes(b) if self.wire.bytes >= b => self.stop = true,
            Limit::Messages(n) if self.summary.messages >= n => self.stop = true,
            _ => {}
        }
    }

    fn event(&mut self, ev: Ev) -> io::Result<()> {
        match ev {
            Ev::Syn(c) => {
                self.conns[c as usize].id = self.next_conn_id;
                self.next_conn_id += 1;
                let lat = self.latency();
                self.segment(c, C2S, TCP_SYN, &[], None)?;
                self.push(self.now + lat, Ev::SynAck(c));
            }
            Ev::SynAck(c) => {
                self.segment(c, S2C, TCP_SYN | TCP_ACK, &[], None)?;
                let lat = self.latency();
                self.push(self.now + lat, Ev::HandshakeAck(c));
            }
            Ev::HandshakeAck(c) => {
                self.segment(c, C2S, TCP_ACK, &[], None)?;
                self.session_open(c);
            }
            Ev::Msg { conn, dir, bytes, fault } => self.app_write(conn, dir, bytes, fault)?,
            Ev::Agent(a) => self.agent_step(a),
            Ev::Heartbeat(c) => self.heartbeat(c),
            Ev::SystemEvent(c) => self.system_event(c),
            Ev::Close(c) => self.close_session(c),
            Ev::Fin(c) => {
                self.flush(c, C2S, true)?;
                self.flush(c, S2C, true)?;
                self.segment(c, C2S, TCP_FIN | TCP_ACK, &[], None)?;
                let lat = self.latency();
                self.push(self.now + lat, Ev::FinAck(c));
            }
            Ev::FinAck(c) => {
                self.segment(c, S2C, TCP_FIN | TCP_ACK, &[], None)?;
                let lat = self.latency();
                self.push(self.now + lat, Ev::LastAck(c));
            }
            Ev::LastAck(c) => {
                self.segment(c, C2S, TCP_ACK, &[], None)?;
                self.conns[c as usize].state = State::Done;
            }
            Ev::Flush(c, d) => {
                let conn = &self.conns[c as usize];
                if !conn.pending[d].is_empty() && self.now >= conn.pending_since[d] + COALESCE {
                    self.flush(c, d, true)?;
                }
            }
            Ev::Ack(c, d) => {
                let conn = &mut self.conns[c as usize];
                conn.ack_scheduled[d] = false;
                if conn.state != State::Done && conn.acked[d] < conn.sent[d] {
                    self.segment(c, 1 - d, TCP_ACK, &[], None)?;
                }
            }
            Ev::Resend { conn, dir, off, mut data, diverge, original } => {
                if self.conns[conn as usize].state == State::Done {
                    return Ok(());
                }
                if diverge {
                    let mid = data.len() / 2;
                    let end = (mid + 8).min(data.len());
                    for b in &mut data[mid..end] {
                        *b ^= 0x5a;
                    }
                }
                let frame = self.segment(conn, dir, TCP_ACK | TCP_PSH, &data, Some(off))?;
                if let Some(frame) = frame {
                    let name = if diverge { "diverge" } else { "retransmit" };
                    let conn = self.conns[conn as usize].id;
                    self.fault_line(&format!(
                        "{{\"fault\":\"{name}\",\"frame\":{frame},\"original_frame\":{original},\"connection\":{conn},\"direction\":\"{}\",\"stream_offset\":{off},\"length\":{}}}",
                        dir_name(dir),
                        data.len()
                    ))?;
                }
            }
        }
        Ok(())
    }

    // ----- TCP -----

    /// Writes one segment of direction `d` (sent by side `d`). `data_off` is the stream
    /// offset of a data payload (None for control segments, which carry the next offset).
    /// Returns the frame number, None when the packet was not captured.
    fn segment(
        &mut self,
        c: u32,
        d: Dir,
        flags: u8,
        payload: &[u8],
        data_off: Option<u64>,
    ) -> io::Result<Option<u64>> {
        let conn = &mut self.conns[c as usize];
        let o = 1 - d;
        let syn = flags & TCP_SYN != 0;
        let seq = if syn {
            conn.isn[d]
        } else {
            let off = data_off.unwrap_or(conn.sent[d] + conn.fin_sent[d] as u64);
            conn.isn[d].wrapping_add(1).wrapping_add(off as u32)
        };
        let ack = if flags & TCP_ACK != 0 {
            conn.acked[o] = conn.acked[o].max(conn.sent[o]);
            conn.isn[o]
                .wrapping_add(1)
                .wrapping_add(conn.sent[o] as u32)
                .wrapping_add(conn.fin_sent[o] as u32)
        } else {
            0
        };
        if flags & TCP_FIN != 0 {
            conn.fin_sent[d] = true;
        }
        let spec = TcpSpec { src: conn.addr[d], dst: conn.addr[o], seq, ack, flags, payload };
        let ts = self.now.max(self.last_ts);
        self.last_ts = ts;
        if let Some(mc) = self.midstream_conn {
            self.skipped += 1;
            if c == mc && d == S2C && !payload.is_empty() {
                self.midstream_conn = None;
                let n = self.skipped;
                self.fault_line(&format!("{{\"fault\":\"midstream\",\"frame\":1,\"skipped_packets\":{n}}}"))?;
            }
            return Ok(None);
        }
        let f = self.wire.write(ts, &spec)?;
        self.check_limit();
        Ok(Some(f))
    }

    /// An application write of one message.
    fn app_write(&mut self, c: u32, d: Dir, bytes: Vec<u8>, fault: Option<ProtoFault>) -> io::Result<()> {
        let conn = &mut self.conns[c as usize];
        if conn.state == State::Done || conn.fin_sent[d] {
            return Ok(());
        }
        let type_id = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        conn.queue[d].push_back(MsgRec {
            off: conn.written[d],
            len: bytes.len() as u64,
            type_id,
            fault,
            first_frame: 0,
            captured: true,
        });
        conn.written[d] += bytes.len() as u64;
        if conn.pending[d].is_empty() {
            conn.pending_since[d] = self.now;
            self.push(self.now + COALESCE, Ev::Flush(c, d));
        }
        let conn = &mut self.conns[c as usize];
        conn.pending[d].extend_from_slice(&bytes);
        self.summary.messages += 1;
        if let Some(col) = &mut self.collect {
            col.push(GeneratedMessage {
                connection: conn.id,
                direction: dir_name(d),
                version: conn.version,
                bytes,
                fault: fault.map(ProtoFault::name),
            });
        }
        if fault.is_some() {
            self.summary.faults += 1;
        }
        while self.conns[c as usize].pending[d].len() >= self.mss {
            self.flush(c, d, false)?;
        }
        self.check_limit();
        Ok(())
    }

    /// Sends pending bytes of direction `d`: one full segment, or everything (`all`).
    fn flush(&mut self, c: u32, d: Dir, all: bool) -> io::Result<()> {
        loop {
            let conn = &mut self.conns[c as usize];
            let n = conn.pending[d].len().min(self.mss);
            if n == 0 {
                return Ok(());
            }
            let mut data = std::mem::take(&mut self.scratch);
            data.clear();
            data.extend_from_slice(&conn.pending[d][..n]);
            conn.pending[d].drain(..n);
            let off = conn.sent[d];
            self.data_segment(c, d, off, &data)?;
            self.scratch = data;
            if !all || self.conns[c as usize].pending[d].is_empty() {
                return Ok(());
            }
        }
    }

    /// One data segment, with the TCP faults.
    fn data_segment(&mut self, c: u32, d: Dir, off: u64, data: &[u8]) -> io::Result<()> {
        let faults = &self.cfg.faults;
        let (p_lost, p_reorder, p_re, p_div) =
            (faults.lost, faults.reorder, faults.retransmit, faults.diverge);
        let flags = TCP_ACK | TCP_PSH;
        let lost = self.rng.chance(p_lost);
        let reorder = !lost && data.len() >= 2 && self.rng.chance(p_reorder);
        let len = data.len() as u64;
        let mut first_frame = None;
        let id = self.conns[c as usize].id;
        if lost {
            let frame = self.wire.frames + 1;
            self.conns[c as usize].sent[d] = off + len;
            self.account(c, d, off, len, frame, false)?;
            self.summary.faults += 1;
            if self.midstream_conn.is_none() {
                self.fault_line(&format!(
                    "{{\"fault\":\"lost\",\"frame\":{frame},\"connection\":{id},\"direction\":\"{}\",\"stream_offset\":{off},\"length\":{len}}}",
                    dir_name(d)
                ))?;
            }
        } else if reorder {
            // The second half overtakes the first.
            let cut = 1 + self.rng.below(len - 1);
            self.conns[c as usize].sent[d] = off + len;
            let f2 = self.segment(c, d, flags, &data[cut as usize..], Some(off + cut))?;
            let f1 = self.segment(c, d, flags, &data[..cut as usize], Some(off))?;
            let (a, b) = (f1.unwrap_or(0), f2.unwrap_or(0));
            self.account(c, d, off, cut, a, f1.is_some())?;
            self.account(c, d, off + cut, len - cut, b, f2.is_some())?;
            if let (Some(a), Some(b)) = (f1, f2) {
                self.summary.faults += 1;
                self.fault_line(&format!(
                    "{{\"fault\":\"reorder\",\"frame\":{a},\"connection\":{id},\"direction\":\"{}\",\"stream_offset\":{off},\"length\":{cut},\"other_frame\":{b},\"other_stream_offset\":{},\"other_length\":{}}}",
                    dir_name(d),
                    off + cut,
                    len - cut
                ))?;
            }
        } else {
            let f = self.segment(c, d, flags, data, Some(off))?;
            self.conns[c as usize].sent[d] = off + len;
            self.account(c, d, off, len, f.unwrap_or(0), f.is_some())?;
            first_frame = f;
        }
        if let Some(orig) = first_frame {
            let diverge = self.rng.chance(p_div);
            if diverge || self.rng.chance(p_re) {
                self.summary.faults += 1;
                let delay = RTO + self.rng.below(100 * MS as u64) as i64;
                self.push(
                    self.now + delay,
                    Ev::Resend { conn: c, dir: d, off, data: data.to_vec(), diverge, original: orig },
                );
            }
        }
        let o = 1 - d;
        let conn = &mut self.conns[c as usize];
        if !conn.ack_scheduled[d] {
            conn.ack_scheduled[d] = true;
            let _ = o;
            self.push(self.now + ACK_DELAY, Ev::Ack(c, d));
        }
        Ok(())
    }

    /// Records that stream bytes `off..off+len` of direction `d` went out in `frame`
    /// (`captured` false: not in the capture) and writes the truth lines of the messages
    /// completed by them.
    fn account(&mut self, c: u32, d: Dir, off: u64, len: u64, frame: u64, captured: bool) -> io::Result<()> {
        let end = off + len;
        loop {
            let conn = &mut self.conns[c as usize];
            let Some(rec) = conn.queue[d].front_mut() else {
                return Ok(());
            };
            if rec.off >= end {
                return Ok(());
            }
            if rec.off >= off {
                rec.first_frame = frame;
            }
            if !captured {
                rec.captured = false;
            }
            if rec.off + rec.len > end {
                return Ok(());
            }
            let rec = conn.queue[d].pop_front().expect("front exists");
            let version = conn.version;
            self.message_done(c, d, &rec, frame, version)?;
        }
    }

    fn message_done(
        &mut self,
        c: u32,
        d: Dir,
        rec: &MsgRec,
        last_frame: u64,
        version: u32,
    ) -> io::Result<()> {
        let id = self.conns[c as usize].id;
        let name = spec::message(rec.type_id, Some(version))
            .map(|s| s.name)
            .or_else(|| spec::type_name(rec.type_id))
            .unwrap_or("?");
        if let Some(t) = &mut self.truth_msgs {
            writeln!(
                t,
                "{{\"connection\":{id},\"direction\":\"{}\",\"type\":\"{name}\",\"type_id\":{},\"stream_offset\":{},\"length\":{},\"first_frame\":{},\"last_frame\":{last_frame},\"captured\":{}}}",
                dir_name(d),
                rec.type_id,
                rec.off,
                rec.len,
                rec.first_frame,
                rec.captured
            )?;
        }
        if let Some(f) = rec.fault {
            let extra = match f {
                ProtoFault::Unanswered { invoke } => format!(",\"invoke_id\":{invoke}"),
                ProtoFault::AfterEnd { call } => format!(",\"call_id\":{call}"),
                ProtoFault::Oversize => ",\"field\":\"CallVariable1\"".to_string(),
                ProtoFault::BadCount => ",\"field\":\"NumNamedVariables\"".to_string(),
            };
            self.fault_line(&format!(
                "{{\"fault\":\"{}\",\"frame\":{},\"connection\":{id},\"direction\":\"{}\",\"stream_offset\":{},\"length\":{},\"type\":\"{name}\",\"captured\":{}{extra}}}",
                f.name(),
                rec.first_frame,
                dir_name(d),
                rec.off,
                rec.len,
                rec.captured
            ))?;
        }
        Ok(())
    }

    fn fault_line(&mut self, line: &str) -> io::Result<()> {
        if let Some(t) = &mut self.truth {
            writeln!(t, "{line}")?;
        }
        Ok(())
    }

    // ----- application -----

    /// Queues a message on a connection at time `t` (dropped if the session is not open
    /// then, except for the session's own OPEN/CLOSE exchange).
    fn send(&mut self, t: i64, c: u32, d: Dir, bytes: Vec<u8>, fault: Option<ProtoFault>) {
        let conn = &mut self.conns[c as usize];
        if d == C2S {
            conn.last_client_send = conn.last_client_send.max(t);
        }
        self.push(t, Ev::Msg { conn: c, dir: d, bytes, fault });
    }

    fn is_open(&self, c: u32, t: i64) -> bool {
        let conn = &self.conns[c as usize];
        conn.state == State::Open && t >= conn.open_at && t < conn.closed_at
    }

    fn next_invoke(&mut self, c: u32) -> u32 {
        let conn = &mut self.conns[c as usize];
        let i = conn.invoke;
        conn.invoke = conn.invoke.wrapping_add(1);
        i
    }

    /// A request at `t` and its answer (`conf`, unless the unanswered fault drops it).
    /// Returns the time of the answer.
    fn request(&mut self, t: i64, c: u32, req: Vec<u8>, invoke: u32, conf: Vec<u8>) -> i64 {
        let lat = self.latency();
        let unanswered = self.rng.chance(self.cfg.faults.unanswered);
        let fault = unanswered.then_some(ProtoFault::Unanswered { invoke });
        self.send(t, c, C2S, req, fault);
        if !unanswered {
            self.send(t + lat, c, S2C, conf, None);
        }
        t + lat
    }

    fn session_open(&mut self, c: u32) {
        let t = self.now + 100 * US;
        let v = self.cfg.version;
        let conn = &self.conns[c as usize];
        let kind = conn.kind;
        let services = conn.services;
        let idle = (conn.hb_interval / SEC * 4) as u32;
        let client_id = conn.client_id.clone();
        let agent = match kind {
            Kind::Desktop(a) => Some(self.agents[a as usize].info.clone()),
            _ => None,
        };
        let invoke = self.next_invoke(c);
        let req = m::open_req(v, invoke, services, idle, &client_id, agent.as_ref());
        let cc_time = (t / SEC) as u32;
        let conf = m::open_conf(v, invoke, services, cc_time, agent.as_ref(), m::AS_LOGOUT);
        let lat = self.latency();
        self.send(t, c, C2S, req, None);
        self.send(t + lat, c, S2C, conf, None);
        let open_at = t + lat + US;
        let conn = &mut self.conns[c as usize];
        conn.state = State::Open;
        conn.open_at = open_at;
        let hb = conn.hb_interval;
        self.push(open_at + hb, Ev::Heartbeat(c));
        match kind {
            Kind::Desktop(a) => {
                let d = self.dur(0.5, 3.0);
                self.push(open_at + d, Ev::Agent(a));
            }
            Kind::Bridge => {
                let ev = m::system_event(v, 3, PERIPHERAL_ID, cc_time, None);
                self.send(open_at + 30 * US, c, S2C, ev, None);
                if v >= 19 {
                    let at = open_at + 5 * MS + self.rng.below(20 * MS as u64) as i64;
                    self.config_acquisition(c, at);
                }
                let d = self.dur(60.0, 300.0).max(SEC);
                self.push(open_at + d, Ev::SystemEvent(c));
            }
            Kind::Monitor => {
                let mut t = open_at + 2 * MS;
                for ai in 0..self.agents.len() {
                    let Some(slot) = self.agents[ai].monitors.iter().position(|x| x.0 == c) else {
                        continue;
                    };
                    let invoke = self.next_invoke(c);
                    let mid = self.next_monitor_id;
                    self.next_monitor_id += 1;
                    let req = m::monitor_start_req(v, invoke, PERIPHERAL_ID, &self.agents[ai].info.ext);
                    let conf = m::monitor_start_conf(v, invoke, mid);
                    let tc = self.request(t, c, req, invoke, conf);
                    let _ = tc;
                    self.agents[ai].monitors[slot].1 = mid;
                    t += MS + self.rng.below(3 * MS as u64) as i64;
                }
            }
        }
    }

    fn config_acquisition(&mut self, c: u32, t: i64) {
        let v = self.cfg.version;
        self.send(t, c, C2S, m::config_request_event(v), None);
        let mut t = t + self.latency();
        let key = self.rng.next_u64();
        self.send(t, c, S2C, m::config_begin_event(v, key), None);
        let skills: Vec<m::SkillGroupRec> = (0..4)
            .map(|i| m::SkillGroupRec { number: 100 + i, id: 5100 + i, name: SKILLS[i as usize].to_string() })
            .collect();
        t += 40 * US;
        self.send(t, c, S2C, m::config_skill_group_event(v, PERIPHERAL_ID, &skills), None);
        let infos: Vec<AgentInfo> = self.agents.iter().map(|a| a.info.clone()).collect();
        for chunk in infos.chunks(10) {
            t += 40 * US + self.rng.below(100_000) as i64;
            self.send(t, c, S2C, m::config_agent_event(v, chunk), None);
        }
        let devices: Vec<m::DeviceRec> = (0..4)
            .map(|i| m::DeviceRec { number: 9000 + i, service: 2000 + i, dialed: dialed_number(i) })
            .collect();
        t += 40 * US;
        self.send(t, c, S2C, m::config_device_event(v, PERIPHERAL_ID, &devices), None);
        t += 40 * US;
        self.send(t, c, S2C, m::config_end_event(v), None);
    }

    fn heartbeat(&mut self, c: u32) {
        if !self.is_open(c, self.now) {
            return;
        }
        let conn = &self.conns[c as usize];
        let due = conn.last_client_send + conn.hb_interval;
        let hb = conn.hb_interval;
        if self.now >= due {
            let v = self.cfg.version;
            let invoke = self.next_invoke(c);
            let req = m::invoke_only("HEARTBEAT_REQ", v, invoke);
            let conf = m::invoke_only("HEARTBEAT_CONF", v, invoke);
            self.request(self.now, c, req, invoke, conf);
            self.push(self.now + hb, Ev::Heartbeat(c));
        } else {
            self.push(due, Ev::Heartbeat(c));
        }
    }

    fn system_event(&mut self, c: u32) {
        if !self.is_open(c, self.now) {
            return;
        }
        let v = self.cfg.version;
        let cc = (self.now / SEC) as u32;
        let ev = if self.rng.chance(0.5) {
            m::system_event(v, 9, 0, cc, None)
        } else {
            let texts = ["PG side A active", "Router heartbeat restored", "Peripheral statistics reset"];
            let text = *self.rng.pick(&texts);
            m::system_event(v, 5, 0, cc, Some(text))
        };
        self.send(self.now, c, S2C, ev, None);
        let d = self.dur(60.0, 300.0).max(SEC);
        self.push(self.now + d, Ev::SystemEvent(c));
    }

    fn close_session(&mut self, c: u32) {
        if self.conns[c as usize].state != State::Open {
            return;
        }
        let v = self.cfg.version;
        let t = self.now;
        let invoke = self.next_invoke(c);
        let lat = self.latency();
        self.send(t, c, C2S, m::close_req(v, invoke), None);
        self.send(t + lat, c, S2C, m::invoke_only("CLOSE_CONF", v, invoke), None);
        let conn = &mut self.conns[c as usize];
        conn.closed_at = t;
        conn.state = State::Closing;
        self.push(t + lat + MS, Ev::Fin(c));
    }

    // ----- agents -----

    /// Sends an agent or call event to every session that sees it: the agent's desktop,
    /// every bridge, and the monitors of the agent's device (with their MonitorID).
    fn event_to_all(&mut self, a: u32, t: i64, bytes: Vec<u8>, fault: Option<ProtoFault>) {
        let agent = &self.agents[a as usize];
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
        targets.retain(|&(c, _)| self.is_open(c, t));
        let n = targets.len();
        let mut bytes = Some(bytes);
        for (i, (c, mid)) in targets.into_iter().enumerate() {
            let mut b = if i + 1 == n {
                bytes.take().expect("last use")
            } else {
                bytes.as_ref().expect("still held").clone()
            };
            if mid != 0 {
                b[8..12].copy_from_slice(&mid.to_be_bytes());
            }
            self.send(t, c, S2C, b, fault);
        }
    }

    fn desktop_open(&self, a: u32, t: i64) -> Option<u32> {
        self.agents[a as usize].desktop.filter(|&c| self.is_open(c, t))
    }

    fn set_state(&mut self, a: u32, t: i64, state: u16, reason: u16) {
        let v = self.cfg.version;
        let agent = &mut self.agents[a as usize];
        let duration = ((t - agent.state_since).max(0) / SEC) as u32;
        agent.state = state;
        agent.state_since = t;
        let in_call = matches!(state, m::AS_TALKING | m::AS_HOLD | m::AS_RESERVED);
        let sig = agent.desktop.map(|c| self.conns[c as usize].client_id.clone());
        let ev = m::agent_state_event(
            v,
            &self.agents[a as usize].info,
            sig.as_deref(),
            state,
            reason,
            duration,
            in_call,
        );
        self.event_to_all(a, t, ev, None);
    }

    /// The agent asks for a state change (if it has a desktop) and the server reports it.
    fn request_state(&mut self, a: u32, t: i64, state: u16, reason: u16) -> i64 {
        let v = self.cfg.version;
        let mut te = t;
        if let Some(c) = self.desktop_open(a, t) {
            let invoke = self.next_invoke(c);
            let login = matches!(state, m::AS_LOGIN | m::AS_LOGOUT);
            let req = m::set_agent_state_req(v, invoke, &self.agents[a as usize].info, state, reason, login);
            let conf = m::invoke_only("SET_AGENT_STATE_CONF", v, invoke);
            te = self.request(t, c, req, invoke, conf) + 50 * US;
        }
        self.set_state(a, te, state, reason);
        te
    }

    /// A call control request from the agent's desktop: the confirm, or now and then a
    /// CONTROL_FAILURE_CONF (returned as false). Agents without a desktop always succeed.
    fn control(
        &mut self,
        a: u32,
        t: i64,
        req: impl FnOnce(u32) -> Vec<u8>,
        conf_name: &str,
        fail: f64,
    ) -> (i64, bool) {
        let Some(c) = self.desktop_open(a, t) else {
            return (t, true);
        };
        let v = self.cfg.version;
        let invoke = self.next_invoke(c);
        let req = req(invoke);
        if self.rng.chance(fail) {
            let code = *self.rng.pick(&[22u16, 24, 28, 32]);
            let conf = m::control_failure_conf(v, invoke, code, 0);
            return (self.request(t, c, req, invoke, conf), false);
        }
        let conf = m::invoke_only(conf_name, v, invoke);
        (self.request(t, c, req, invoke, conf) + 40 * US, true)
    }

    fn new_call(&mut self, service: u32) -> CallInfo {
        let call_id = self.next_call_id;
        self.next_call_id = self.next_call_id.wrapping_add(1 + self.rng.below(3) as u32);
        self.next_router_call += 1;
        let r = &mut self.rng;
        let ani = format!("+1{}5550{:03}", r.pick(&AREA), r.below(200));
        let dialed = dialed_number(service);
        let mut vars = vec![
            (1, format!("ACC-{:07}", r.below(10_000_000))),
            (2, r.pick(&["en-US", "es-US", "fr-CA"]).to_string()),
            (3, r.pick(&["gold", "silver", "bronze"]).to_string()),
        ];
        if r.chance(0.5) {
            vars.push((4, format!("ivr>main>{}", SKILLS[service as usize % 4].to_ascii_lowercase())));
        }
        let ecc = vec![
            ("user.CustomerID".to_string(), format!("{}", 100_000 + r.below(900_000))),
            ("user.Intent".to_string(), r.pick(&INTENTS).to_string()),
        ];
        let n_arr = r.below(3) as u8;
        let arrays =
            (0..n_arr).map(|i| (i, "user.Products".to_string(), r.pick(&PRODUCTS).to_string())).collect();
        let ced = if r.chance(0.6) { format!("{}", 10_000 + r.below(90_000)) } else { String::new() };
        CallInfo {
            call_id,
            call_type: m::CALLTYPE_ACD_IN,
            ani,
            dnis: dialed.clone(),
            dialed,
            ced,
            vars,
            ecc,
            arrays,
            router_day: 150_000 + (self.now / (86_400 * SEC)) as u32 % 1000,
            router_call: self.next_router_call,
            service: 2000 + service,
            wrapup: None,
        }
    }

    fn signatures(&self, a: u32, t: i64) -> Vec<(String, u32)> {
        match self.desktop_open(a, t) {
            Some(c) => vec![(self.conns[c as usize].client_id.clone(), (t / SEC) as u32)],
            None => Vec::new(),
        }
    }

    fn agent_step(&mut self, a: u32) {
        let now = self.now;
        let step = self.agents[a as usize].step;
        let next = match step {
            Step::Login => {
                let t = self.request_state(a, now, m::AS_LOGIN, 0);
                self.set_state(a, t + 60 * US, m::AS_NOT_READY, 0);
                self.agents[a as usize].step = Step::GoReady;
                Some(t + self.dur(2.0, 20.0))
            }
            Step::GoReady => {
                self.request_state(a, now, m::AS_AVAILABLE, 0);
                self.agents[a as usize].step = Step::Idle;
                let mean = 45.0 * self.scale;
                Some(now + ((self.rng.exp(mean) + 0.5 * self.scale) * SEC as f64) as i64)
            }
            Step::Idle => {
                let agent = &self.agents[a as usize];
                if now >= self.end || agent.calls_left == Some(0) {
                    self.agents[a as usize].step = Step::Logout;
                    Some(now)
                } else {
                    Some(self.call_arrives(a))
                }
            }
            Step::Answer => Some(self.answer(a)),
            Step::Talk => Some(self.talk(a)),
            Step::Wrapup => {
                let agent = &mut self.agents[a as usize];
                if let Some(n) = &mut agent.calls_left {
                    *n = n.saturating_sub(1);
                }
                if self.rng.chance(0.1) {
                    let reason = *self.rng.pick(&[3u16, 5, 12]);
                    let t = self.request_state(a, now, m::AS_NOT_READY, reason);
                    self.agents[a as usize].step = Step::GoReady;
                    Some(t + self.dur(10.0, 60.0))
                } else {
                    self.agents[a as usize].step = Step::GoReady;
                    Some(now)
                }
            }
            Step::Logout => {
                let t = self.request_state(a, now, m::AS_LOGOUT, 1);
                self.agents[a as usize].step = Step::Done;
                if let Some(c) = self.agents[a as usize].desktop {
                    let at = t + 300 * MS + self.rng.below(500 * MS as u64) as i64;
                    self.push(at, Ev::Close(c));
                }
                self.active_agents -= 1;
                if self.active_agents == 0 {
                    let others: Vec<u32> = (0..self.conns.len() as u32)
                        .filter(|&c| !matches!(self.conns[c as usize].kind, Kind::Desktop(_)))
                        .collect();
                    for c in others {
                        let d = SEC + self.rng.below(2 * SEC as u64) as i64;
                        self.push(t + d, Ev::Close(c));
                    }
                }
                None
            }
            Step::Done => None,
        };
        if let Some(t) = next {
            self.push(t.max(now), Ev::Agent(a));
        }
    }

    fn call_arrives(&mut self, a: u32) -> i64 {
        let v = self.cfg.version;
        let now = self.now;
        let service = self.agents[a as usize].info.skill_number - 100;
        let info = self.new_call(service);
        self.summary.calls += 1;
        self.set_state(a, now, m::AS_RESERVED, 0);
        let t = now + 80 * US;
        let oversize = self.rng.chance(self.cfg.faults.oversize);
        let sigs = self.signatures(a, t);
        let sig_refs: Vec<(&str, u32)> = sigs.iter().map(|(s, ts)| (s.as_str(), *ts)).collect();
        let begin = m::begin_call_event(
            v,
            &self.agents[a as usize].info,
            &info,
            &sig_refs,
            BuildFaults { oversize, bad_count: false },
        );
        self.event_to_all(a, t, begin, oversize.then_some(ProtoFault::Oversize));
        let delivered = m::call_delivered_event(v, &self.agents[a as usize].info, &info);
        self.event_to_all(a, t + 60 * US, delivered, None);
        // Plan the conversation.
        let mut plan = VecDeque::new();
        if self.rng.chance(0.5) {
            plan.push_back(Action::SetData);
        }
        if self.rng.chance(0.25) {
            plan.push_back(Action::Hold);
        }
        if self.rng.chance(0.2) {
            let conference = self.rng.chance(0.4);
            plan.push_back(Action::Consult { conference });
        }
        plan.push_back(Action::End);
        self.agents[a as usize].call = Some(Call { info, plan, consult: None, answer_attempts: 0 });
        self.agents[a as usize].step = Step::Answer;
        now + self.dur(2.0, 8.0)
    }

    fn answer(&mut self, a: u32) -> i64 {
        let v = self.cfg.version;
        let now = self.now;
        let info = self.agents[a as usize].info.clone();
        let call = self.agents[a as usize].call.as_mut().expect("ringing call");
        call.answer_attempts += 1;
        let fail = if call.answer_attempts < 3 { 0.04 } else { 0.0 };
        let cinfo = call.info.clone();
        let (t, ok) = self.control(
            a,
            now,
            |inv| m::call_req("ANSWER_CALL_REQ", v, inv, &info, cinfo.call_id),
            "ANSWER_CALL_CONF",
            fail,
        );
        if !ok {
            return t + SEC;
        }
        let est = m::call_established_event(v, &info, &cinfo, &info.ext, &cinfo.ani, &info.ext);
        self.event_to_all(a, t, est, None);
        self.set_state(a, t + 50 * US, m::AS_TALKING, 0);
        self.agents[a as usize].step = Step::Talk;
        let n = self.agents[a as usize].call.as_ref().map_or(1, |c| c.plan.len()) as f64;
        let talk = self.dur(20.0, 280.0);
        t + (talk as f64 / n) as i64
    }

    fn talk(&mut self, a: u32) -> i64 {
        let v = self.cfg.version;
        let now = self.now;
        let info = self.agents[a as usize].info.clone();
        let Some(action) = self.agents[a as usize].call.as_mut().and_then(|c| c.plan.pop_front()) else {
            self.agents[a as usize].step = Step::Wrapup;
            return now;
        };
        let cinfo = self.agents[a as usize].call.as_ref().expect("call").info.clone();
        let call_id = cinfo.call_id;
        match action {
            Action::SetData => {
                let mut updated = cinfo.clone();
                updated
                    .vars
                    .push((5, format!("disp={}", self.rng.pick(&["resolved", "callback", "escalated"]))));
                updated.wrapup = Some(format!("case {}", 40_000 + self.rng.below(60_000)));
                let mut t = now;
                if let Some(c) = self.desktop_open(a, now) {
                    let invoke = self.next_invoke(c);
                    let req = m::set_call_data_req(v, invoke, &info, &updated);
                    if self.rng.chance(0.03) {
                        // E_CTI_INVALID_CALLID
                        let conf = m::failure_conf(v, invoke, 13);
                        self.request(now, c, req, invoke, conf);
                        return now + self.dur(10.0, 40.0);
                    }
                    let conf = m::invoke_only("SET_CALL_DATA_CONF", v, invoke);
                    t = self.request(now, c, req, invoke, conf) + 40 * US;
                }
                let bad_count = self.rng.chance(self.cfg.faults.bad_count);
                let sigs = self.signatures(a, t);
                let sig_refs: Vec<(&str, u32)> = sigs.iter().map(|(s, ts)| (s.as_str(), *ts)).collect();
                let ev = m::call_data_update_event(
                    v,
                    &info,
                    &updated,
                    &sig_refs,
                    BuildFaults { oversize: false, bad_count },
                );
                self.event_to_all(a, t, ev, bad_count.then_some(ProtoFault::BadCount));
                if let Some(c) = self.agents[a as usize].call.as_mut() {
                    c.info = updated;
                }
                now + self.dur(10.0, 60.0)
            }
            Action::Hold => {
                let (t, ok) = self.control(
                    a,
                    now,
                    |inv| m::call_req("HOLD_CALL_REQ", v, inv, &info, call_id),
                    "HOLD_CALL_CONF",
                    0.02,
                );
                if ok {
                    self.event_to_all(a, t, m::hold_event(v, &info, call_id, true), None);
                    self.set_state(a, t + 50 * US, m::AS_HOLD, 0);
                    if let Some(c) = self.agents[a as usize].call.as_mut() {
                        c.plan.push_front(Action::Retrieve);
                    }
                    return t + self.dur(10.0, 60.0);
                }
                now + self.dur(5.0, 20.0)
            }
            Action::Retrieve => {
                let (t, _) = self.control(
                    a,
                    now,
                    |inv| m::retrieve_call_req(v, inv, &info, call_id),
                    "RETRIEVE_CALL_CONF",
                    0.0,
                );
                self.event_to_all(a, t, m::hold_event(v, &info, call_id, false), None);
                self.set_state(a, t + 50 * US, m::AS_TALKING, 0);
                now + self.dur(10.0, 60.0)
            }
            Action::Consult { conference } => {
                let target = format!("{}", 60001 + self.rng.below(20));
                let Some(c) = self.desktop_open(a, now) else {
                    // Without a desktop the consultation is not visible as requests; the
                    // call simply goes on.
                    return now + self.dur(10.0, 40.0);
                };
                let invoke = self.next_invoke(c);
                let req = m::consultation_call_req(v, invoke, &info, call_id, &target, conference);
                let mut consult = self.new_call(0);
                consult.call_type = m::CALLTYPE_CONSULT;
                consult.ani = info.ext.clone();
                consult.dialed = target.clone();
                consult.dnis = target.clone();
                consult.vars.clear();
                consult.ecc.clear();
                consult.arrays.clear();
                consult.ced.clear();
                let lat = self.latency();
                let unanswered = self.rng.chance(self.cfg.faults.unanswered);
                self.send(now, c, C2S, req, unanswered.then_some(ProtoFault::Unanswered { invoke }));
                let t = now + lat;
                self.event_to_all(a, t, m::hold_event(v, &info, call_id, true), None);
                if !unanswered {
                    let conf = m::consultation_call_conf(v, invoke, &info, consult.call_id);
                    self.send(t + 30 * US, c, S2C, conf, None);
                }
                let sigs = self.signatures(a, t);
                let sig_refs: Vec<(&str, u32)> = sigs.iter().map(|(s, ts)| (s.as_str(), *ts)).collect();
                let begin = m::begin_call_event(v, &info, &consult, &sig_refs, BuildFaults::default());
                self.event_to_all(a, t + 60 * US, begin, None);
                self.event_to_all(
                    a,
                    t + 90 * US,
                    m::call_originated_event(v, &info, &consult, &target),
                    None,
                );
                self.event_to_all(
                    a,
                    t + 120 * US,
                    m::consult_delivered_event(v, &info, &consult, &target),
                    None,
                );
                if let Some(call) = self.agents[a as usize].call.as_mut() {
                    call.consult = Some((consult, target, conference));
                    call.plan.push_front(Action::Join);
                    call.plan.push_front(Action::ConsultAnswered);
                }
                now + self.dur(3.0, 6.0)
            }
            Action::ConsultAnswered => {
                let call = self.agents[a as usize].call.as_ref().expect("call");
                let (consult, target, _) = call.consult.clone().expect("consultation");
                let ev = m::call_established_event(v, &info, &consult, &target, &info.ext, &target);
                self.event_to_all(a, now, ev, None);
                now + self.dur(10.0, 40.0)
            }
            Action::Join => {
                let call = self.agents[a as usize].call.as_mut().expect("call");
                let (consult, target, conference) = call.consult.take().expect("consultation");
                let t = match self.desktop_open(a, now) {
                    Some(c) => {
                        let invoke = self.next_invoke(c);
                        let req = m::join_call_req(v, invoke, &info, call_id, consult.call_id, conference);
                        let conf = m::join_call_conf(v, invoke, &info, &cinfo, &target, conference);
                        self.request(now, c, req, invoke, conf) + 40 * US
                    }
                    None => now,
                };
                let ev = m::joined_event(v, &info, &cinfo, consult.call_id, &target, conference);
                self.event_to_all(a, t, ev, None);
                self.event_to_all(a, t + 40 * US, m::end_call_event(v, &info, consult.call_id), None);
                if conference {
                    self.set_state(a, t + 80 * US, m::AS_TALKING, 0);
                    now + self.dur(20.0, 90.0)
                } else {
                    self.event_to_all(a, t + 80 * US, m::end_call_event(v, &info, call_id), None);
                    self.after_end(a, t + 2 * MS, &cinfo);
                    self.set_state(a, t + 120 * US, m::AS_WORK_READY, 0);
                    if let Some(call) = self.agents[a as usize].call.as_mut() {
                        call.plan.clear();
                    }
                    self.agents[a as usize].call = None;
                    self.agents[a as usize].step = Step::Wrapup;
                    t + self.dur(5.0, 30.0)
                }
            }
            Action::End => {
                let agent_hangs_up = self.rng.chance(0.5);
                let mut t = now;
                let mut releasing = cinfo.ani.clone();
                if agent_hangs_up {
                    if let Some(c) = self.desktop_open(a, now) {
                        let invoke = self.next_invoke(c);
                        let req = m::call_req("RELEASE_CALL_REQ", v, invoke, &info, call_id);
                        let conf = m::invoke_only("RELEASE_CALL_CONF", v, invoke);
                        t = self.request(now, c, req, invoke, conf) + 40 * US;
                    }
                    releasing = info.ext.clone();
                }
                self.event_to_all(a, t, m::connection_cleared_event(v, &info, call_id, &releasing), None);
                self.event_to_all(a, t + 40 * US, m::call_cleared_event(v, &info, call_id), None);
                let wrap_state = if self.rng.chance(0.8) { m::AS_WORK_READY } else { m::AS_WORK_NOT_READY };
                self.set_state(a, t + 80 * US, wrap_state, 0);
                self.event_to_all(a, t + 120 * US, m::end_call_event(v, &info, call_id), None);
                self.after_end(a, t + 2 * MS, &cinfo);
                self.agents[a as usize].call = None;
                self.agents[a as usize].step = Step::Wrapup;
                t + self.dur(5.0, 30.0)
            }
        }
    }

    /// The after-end fault: a CALL_DATA_UPDATE_EVENT for a call already ended, to the
    /// first session that sees the agent.
    fn after_end(&mut self, a: u32, t: i64, call: &CallInfo) {
        if !self.rng.chance(self.cfg.faults.after_end) {
            return;
        }
        let agent = &self.agents[a as usize];
        let target =
            agent.desktop.into_iter().chain(self.bridges.iter().copied()).find(|&c| self.is_open(c, t));
        let Some(c) = target else { return };
        let ev = m::call_data_update_event(self.cfg.version, &agent.info, call, &[], BuildFaults::default());
        self.send(t, c, S2C, ev, Some(ProtoFault::AfterEnd { call: call.call_id }));
    }
}
