//! The pipeline from captured packets to CTI messages: link/IP slicing, TCP reassembly,
//! CTI framing, and the decision of which side of each connection is the CTI client.
//!
//! ```text
//! capture -> net (slicing, TCP reassembly) -> framing -> decode stage -> consumers
//! \______________ this module: Pipeline, Event ______/   crate::stage   render, analysis
//! ```
//!
//! [`Pipeline`] turns packets into [`Event`]s in capture order: connections, framed
//! messages ([`Event::Message`], the bytes of one message, not decoded), and everything
//! framing and reassembly have to say about the bytes around them (gaps, skipped bytes,
//! incomplete and implausible messages, retransmission conflicts, limits). It knows nothing
//! of protocol versions: the decode stage ([`crate::stage`]) learns each connection's
//! version and decodes every message once, and consumers take `(event, decoded)` from it
//! (in line, [`crate::stage::run_path`]; on several threads, [`crate::parallel`]).
//!
//! Which connections are CTI, and which side is the client:
//! - A connection to one of the server ports (`--port`, default 42027 and 43027: side A
//!   and side B of a CTI Server pair) is CTI; the endpoint on that port is the server.
//! - Any other connection is checked by the header heuristic of docs/protocol.md §9
//!   Decoding a capture without its beginning, on its first data (unless heuristics are
//!   switched off): a known MessageType with a MessageLength within the guide's limit,
//!   confirmed by the header that follows. The
//!   client is then the SYN sender when the handshake was captured, otherwise the sender of
//!   a client-only message (OPEN_REQ, HEARTBEAT_REQ, CLOSE_REQ and the other requests of
//!   spec/message_types.tsv), otherwise the receiver of a server-only message, otherwise the
//!   endpoint with the higher (ephemeral-looking) port.
//! - Connections that are not CTI are dropped silently.

use crate::capture::Packet;
use crate::cti::framing::{self, Frame, Framer, FramerEvent, FramingSettings, SkipReason};
use crate::cti::spec::{self, Origin};
use crate::net::tcp::{
    ConnEnd, ConnId, ConnStart, GapReason, Reassembler, ReassemblySettings, Side, StreamEvent,
};
use crate::net::{NetDecoder, NetSettings};
use crate::TimestampNs;
use std::net::SocketAddr;

/// Default CTI Server ports (docs/protocol.md §1 Transport): side A and side B.
pub const DEFAULT_SERVER_PORTS: [u16; 2] = [42027, 43027];

/// Everything the pipeline can be told.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Server ports; a connection to one of them is CTI.
    pub server_ports: Vec<u16>,
    /// Recognise CTI on other ports by the header heuristic.
    pub heuristics: bool,
    pub reassembly: ReassemblySettings,
    pub framing: FramingSettings,
    pub net: NetSettings,
    /// Packet issues reported one by one; beyond it they are counted (`--max-packet-issues`).
    pub max_packet_issues: u64,
    /// Only packets from this time on (`--since`): earlier ones are skipped before anything
    /// reads them.
    pub since: Option<crate::time::TimeBound>,
    /// Only packets up to this time (`--until`): the read stops at the first packet after
    /// it (captures are written in time order).
    pub until: Option<crate::time::TimeBound>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_ports: DEFAULT_SERVER_PORTS.to_vec(),
            heuristics: true,
            reassembly: ReassemblySettings::default(),
            framing: FramingSettings::default(),
            net: NetSettings::default(),
            max_packet_issues: 1000,
            since: None,
            until: None,
        }
    }
}

/// Direction of a CTI message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ToServer => "client->server",
            Direction::ToClient => "server->client",
        }
    }

    /// The side that sends in this direction: `client` or `server`.
    pub fn sender(self) -> &'static str {
        match self {
            Direction::ToServer => "client",
            Direction::ToClient => "server",
        }
    }
}

/// One direction of one connection, with its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub conn: ConnId,
    pub dir: Direction,
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

/// How a connection was recognised as CTI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// The server endpoint uses a configured server port.
    Port,
    /// The header heuristic.
    Heuristic,
}

/// What the pipeline produces, in capture order.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A CTI connection was seen for the first time.
    Connection {
        conn: ConnId,
        client: SocketAddr,
        server: SocketAddr,
        start: ConnStart,
        detection: Detection,
        frame: u64,
        ts_ns: TimestampNs,
    },
    /// A complete CTI message, not yet decoded (see [`crate::stage`]).
    Message { flow: Flow, frame: Frame<'a> },
    /// Stream bytes that were never captured.
    Gap { flow: Flow, offset: u64, len: u64, reason: GapReason, frame: u64, ts_ns: TimestampNs },
    /// Bytes skipped while looking for a message header.
    Skipped {
        flow: Flow,
        offset: u64,
        len: u64,
        reason: SkipReason,
        first_frame: u64,
        last_frame: u64,
        ts_ns: TimestampNs,
    },
    /// A message cut short by a gap or the end of the stream.
    Incomplete {
        flow: Flow,
        offset: u64,
        msg_type: u32,
        have: u64,
        need: u64,
        first_frame: u64,
        last_frame: u64,
        ts_ns: TimestampNs,
    },
    /// A header with an impossible MessageLength in a synced stream.
    Implausible { flow: Flow, offset: u64, msg_type: u32, length: u32, frame: u64, ts_ns: TimestampNs },
    /// A retransmission whose bytes differ from the first copy.
    Conflict { flow: Flow, offset: u64, len: u64, frame: u64, ts_ns: TimestampNs },
    /// A limit setting was reached.
    Limit { conn: Option<ConnId>, setting: &'static str, frame: u64, ts_ns: TimestampNs },
    ConnectionEnd {
        conn: ConnId,
        end: ConnEnd,
        /// The side whose RST (or first FIN) ended the connection, as the direction of what
        /// it sends (`ToServer`: the client); `None` when it did not end by FIN or RST.
        by: Option<Direction>,
        frame: u64,
        ts_ns: TimestampNs,
    },
    /// A packet that could not be sliced (reported once per link type for unsupported
    /// link types).
    PacketIssue { frame: u64, ts_ns: TimestampNs, issue: String },
}

impl Event<'_> {
    /// The connection the event belongs to, if any.
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Event::Connection { conn, .. } | Event::ConnectionEnd { conn, .. } => Some(*conn),
            Event::Message { flow, .. }
            | Event::Gap { flow, .. }
            | Event::Skipped { flow, .. }
            | Event::Incomplete { flow, .. }
            | Event::Implausible { flow, .. }
            | Event::Conflict { flow, .. } => Some(flow.conn),
            Event::Limit { conn, .. } => *conn,
            Event::PacketIssue { .. } => None,
        }
    }

    /// The event as an owned value, for every event but [`Event::Message`] (which borrows
    /// the message bytes): None for a message.
    pub fn detached(&self) -> Option<Event<'static>> {
        Some(match self.clone() {
            Event::Message { .. } => return None,
            Event::Connection { conn, client, server, start, detection, frame, ts_ns } => {
                Event::Connection { conn, client, server, start, detection, frame, ts_ns }
            }
            Event::Gap { flow, offset, len, reason, frame, ts_ns } => {
                Event::Gap { flow, offset, len, reason, frame, ts_ns }
            }
            Event::Skipped { flow, offset, len, reason, first_frame, last_frame, ts_ns } => {
                Event::Skipped { flow, offset, len, reason, first_frame, last_frame, ts_ns }
            }
            Event::Incomplete { flow, offset, msg_type, have, need, first_frame, last_frame, ts_ns } => {
                Event::Incomplete { flow, offset, msg_type, have, need, first_frame, last_frame, ts_ns }
            }
            Event::Implausible { flow, offset, msg_type, length, frame, ts_ns } => {
                Event::Implausible { flow, offset, msg_type, length, frame, ts_ns }
            }
            Event::Conflict { flow, offset, len, frame, ts_ns } => {
                Event::Conflict { flow, offset, len, frame, ts_ns }
            }
            Event::Limit { conn, setting, frame, ts_ns } => Event::Limit { conn, setting, frame, ts_ns },
            Event::ConnectionEnd { conn, end, by, frame, ts_ns } => {
                Event::ConnectionEnd { conn, end, by, frame, ts_ns }
            }
            Event::PacketIssue { frame, ts_ns, issue } => Event::PacketIssue { frame, ts_ns, issue },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Undecided,
    Cti,
    NotCti,
}

#[derive(Debug)]
struct ConnState {
    addrs: [SocketAddr; 2],
    start: ConnStart,
    kind: Kind,
    detection: Detection,
    client: Side,
    framers: [Framer; 2],
    /// A header over the framer's hard length cap (`max_message_length`) was reported.
    length_limit_reported: bool,
    /// Last frame and timestamp seen, for events at the connection end.
    last_frame: u64,
    last_ts: TimestampNs,
}

impl ConnState {
    fn flow(&self, conn: ConnId, side: Side) -> Flow {
        Flow {
            conn,
            dir: if side == self.client { Direction::ToServer } else { Direction::ToClient },
            src: self.addrs[side.index()],
            dst: self.addrs[side.other().index()],
        }
    }
}

/// Counters of what went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets: u64,
    pub tcp_segments: u64,
    pub cti_connections: u64,
    pub messages: u64,
    pub message_bytes: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub skipped_bytes: u64,
    /// Packets that could not be sliced (malformed headers, unsupported link types).
    pub packet_issues: u64,
    /// TCP connections seen.
    pub tcp_connections: u64,
    /// Server-side ports of the TCP connections seen (the port a SYN went to, else the lower
    /// one), the first [`MAX_PORTS_SEEN`] distinct ones: what to try with `--port` when a
    /// capture shows no CTI.
    pub tcp_ports: Vec<u16>,
}

/// Distinct TCP ports kept in [`Stats::tcp_ports`].
pub const MAX_PORTS_SEEN: usize = 32;

/// The whole pipeline: feed packets, get [`Event`]s.
pub struct Pipeline {
    settings: Settings,
    net: NetDecoder,
    tcp: Reassembler,
    /// Boxed: the table keeps twice as many slots as connections (at 65,536 connections a
    /// slot of the state itself would cost 40 MB), and an empty slot costs a pointer.
    conns: crate::IntMap<ConnId, Box<ConnState>>,
    reported_linktypes: Vec<u32>,
    /// The IPv4 fragment budget (`max_fragment_bytes`) was reached and reported.
    fragment_limit_reported: bool,
    stats: Stats,
    /// What the framers hold, counted against `max_buffered_total` with the reassembler's
    /// buffers.
    held: Held,
    last_frame: u64,
    last_ts: TimestampNs,
    /// The capture's first packet, for a time window relative to it.
    first_packet_ts: Option<TimestampNs>,
}

impl Pipeline {
    pub fn new(settings: Settings) -> Self {
        Pipeline {
            net: NetDecoder::new(settings.net),
            tcp: Reassembler::new(settings.reassembly.clone()),
            conns: crate::IntMap::default(),
            reported_linktypes: Vec::new(),
            fragment_limit_reported: false,
            stats: Stats::default(),
            held: Held::default(),
            last_frame: 0,
            last_ts: 0,
            first_packet_ts: None,
            settings,
        }
    }

    /// Whether a packet falls in the `--since`/`--until` window (bounds relative to the
    /// first packet count from the capture's first packet, inside the window or not). Past
    /// `--until` the read is asked to stop.
    fn in_window(&mut self, ts: TimestampNs) -> bool {
        let first = *self.first_packet_ts.get_or_insert(ts);
        if self.settings.until.is_some_and(|u| ts > u.resolve(first)) {
            crate::capture::stop_reading();
            return false;
        }
        self.settings.since.is_none_or(|s| ts >= s.resolve(first))
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Process one captured packet.
    pub fn packet(&mut self, pkt: &Packet<'_>, sink: &mut dyn FnMut(Event<'_>)) {
        if (self.settings.since.is_some() || self.settings.until.is_some()) && !self.in_window(pkt.ts_ns) {
            return;
        }
        self.stats.packets += 1;
        self.last_frame = pkt.frame;
        self.last_ts = pkt.ts_ns;
        let Pipeline {
            settings,
            net,
            tcp,
            conns,
            stats,
            held,
            reported_linktypes,
            fragment_limit_reported,
            ..
        } = self;
        let res = net.decode(pkt, &mut |seg| {
            stats.tcp_segments += 1;
            tcp.set_held_elsewhere(held.framers);
            tcp.segment(seg, &mut |ev| stream_event(ev, settings, conns, stats, held, sink));
        });
        match res {
            Ok(()) => {}
            Err(crate::net::NetIssue::FragmentLimit) => {
                // A memory bound like the reassembly limits: named once per capture.
                if !*fragment_limit_reported {
                    *fragment_limit_reported = true;
                    sink(Event::Limit {
                        conn: None,
                        setting: "max_fragment_bytes",
                        frame: pkt.frame,
                        ts_ns: pkt.ts_ns,
                    });
                }
            }
            Err(issue) => {
                if let crate::net::NetIssue::UnsupportedLinktype(lt) = issue {
                    if reported_linktypes.contains(&lt) {
                        return;
                    }
                    reported_linktypes.push(lt);
                }
                stats.packet_issues += 1;
                // A capture of garbage would otherwise print a line per packet: the first
                // ones are shown, then the setting is named once and the rest only counted.
                if stats.packet_issues <= settings.max_packet_issues {
                    sink(Event::PacketIssue { frame: pkt.frame, ts_ns: pkt.ts_ns, issue: issue.to_string() });
                } else if stats.packet_issues == settings.max_packet_issues + 1 {
                    sink(Event::Limit {
                        conn: None,
                        setting: "max_packet_issues",
                        frame: pkt.frame,
                        ts_ns: pkt.ts_ns,
                    });
                }
            }
        }
    }

    /// The capture ended: flush reassembly and framers.
    pub fn finish(&mut self, sink: &mut dyn FnMut(Event<'_>)) {
        let Pipeline { settings, tcp, conns, stats, held, .. } = self;
        tcp.finish(&mut |ev| stream_event(ev, settings, conns, stats, held, sink));
        // Connections the reassembler ended are gone; any left are flushed here.
        let mut ids: Vec<ConnId> = conns.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let c = conns.remove(&id).expect("id from keys");
            held.release(&c);
            finish_conn(id, c, (ConnEnd::CaptureEnd, None), self.last_frame, self.last_ts, stats, sink);
        }
    }
}

/// Framers holding fewer bytes than this keep them whatever the budget says (what they
/// hold is bounded by the number of connections).
const ABANDON_FROM: usize = 4 << 10;

/// What the framers hold (the messages they are assembling), for the buffer budget.
#[derive(Debug, Default)]
struct Held {
    /// [`Framer::held`] over every connection's framers.
    framers: usize,
    /// `max_buffered_total` was reported by the framers' side.
    limit_reported: bool,
}

impl Held {
    /// A connection's framers go.
    fn release(&mut self, c: &ConnState) {
        self.framers -= c.framers[0].held() + c.framers[1].held();
    }
}

fn stream_event(
    ev: StreamEvent<'_>,
    settings: &Settings,
    conns: &mut crate::IntMap<ConnId, Box<ConnState>>,
    stats: &mut Stats,
    held: &mut Held,
    sink: &mut dyn FnMut(Event<'_>),
) {
    match ev {
        StreamEvent::ConnectionStart { conn, a, b, start, frame, ts_ns } => {
            stats.tcp_connections += 1;
            // `a` sent the SYN when the handshake was seen.
            let port = if start == ConnStart::Handshake { b.port() } else { a.port().min(b.port()) };
            if stats.tcp_ports.len() < MAX_PORTS_SEEN && !stats.tcp_ports.contains(&port) {
                stats.tcp_ports.push(port);
            }
            let mut st = ConnState {
                addrs: [a, b],
                start,
                kind: Kind::Undecided,
                detection: Detection::Port,
                client: Side::A,
                framers: [new_framer(settings, start), new_framer(settings, start)],
                length_limit_reported: false,
                last_frame: frame,
                last_ts: ts_ns,
            };
            let a_srv = settings.server_ports.contains(&a.port());
            let b_srv = settings.server_ports.contains(&b.port());
            if a_srv || b_srv {
                st.kind = Kind::Cti;
                st.client = if b_srv { Side::A } else { Side::B };
                stats.cti_connections += 1;
                sink(Event::Connection {
                    conn,
                    client: st.addrs[st.client.index()],
                    server: st.addrs[st.client.other().index()],
                    start,
                    detection: Detection::Port,
                    frame,
                    ts_ns,
                });
            } else if !settings.heuristics {
                st.kind = Kind::NotCti;
            }
            conns.insert(conn, Box::new(st));
        }
        StreamEvent::Data { conn, side, offset, data, frame, ts_ns, buffered } => {
            let Some(c) = conns.get_mut(&conn) else {
                return;
            };
            c.last_frame = frame;
            c.last_ts = ts_ns;
            if c.kind == Kind::Undecided {
                decide(conn, c, side, offset, data, frame, ts_ns, settings, stats, sink);
            }
            if c.kind != Kind::Cti {
                return;
            }
            let flow = c.flow(conn, side);
            let ConnState { framers, length_limit_reported, .. } = &mut **c;
            let mut cx = FramerCx { flow, length_limit_reported, ts_ns };
            let f = &mut framers[side.index()];
            let before = f.held();
            f.push(offset, data, frame, ts_ns, &mut |fev| framer_event(fev, &mut cx, stats, sink));
            f.trim();
            held.framers = held.framers - before + f.held();
            if held.framers + buffered > settings.reassembly.max_buffered_total && f.held() > 0 {
                let before = f.held();
                if f.buffered() >= ABANDON_FROM {
                    // Over the budget while assembling this message: it is the one given up.
                    if !held.limit_reported {
                        held.limit_reported = true;
                        sink(Event::Limit { conn: None, setting: "max_buffered_total", frame, ts_ns });
                    }
                    f.abandon(frame, &mut |fev| framer_event(fev, &mut cx, stats, sink));
                } else {
                    // A few pending bytes: kept, in no more room than they need.
                    f.shrink();
                }
                held.framers = held.framers - before + f.held();
            }
        }
        StreamEvent::Gap { conn, side, offset, len, reason, frame, ts_ns } => {
            let Some(c) = conns.get_mut(&conn) else {
                return;
            };
            if c.kind == Kind::Undecided {
                // Data after a gap cannot be checked from its start: judge it mid-stream.
                c.start = ConnStart::Midstream;
            }
            if c.kind != Kind::Cti {
                return;
            }
            let flow = c.flow(conn, side);
            stats.gaps += 1;
            stats.gap_bytes += len;
            sink(Event::Gap { flow, offset, len, reason, frame, ts_ns });
            let ConnState { framers, length_limit_reported, .. } = &mut **c;
            let mut cx = FramerCx { flow, length_limit_reported, ts_ns };
            let f = &mut framers[side.index()];
            let before = f.held();
            f.gap(offset, len, frame, &mut |fev| framer_event(fev, &mut cx, stats, sink));
            f.trim();
            held.framers = held.framers - before + f.held();
        }
        StreamEvent::Conflict { conn, side, offset, len, frame, ts_ns } => {
            let Some(c) = conns.get(&conn) else { return };
            if c.kind == Kind::Cti {
                sink(Event::Conflict { flow: c.flow(conn, side), offset, len, frame, ts_ns });
            }
        }
        StreamEvent::Limit { conn, setting, frame, ts_ns } => {
            if conn.is_none() && setting == "max_buffered_total" {
                // Reached by the reassembler's side or the framers': named once.
                if held.limit_reported {
                    return;
                }
                held.limit_reported = true;
            }
            let relevant = match conn {
                Some(id) => conns.get(&id).is_some_and(|c| c.kind == Kind::Cti),
                None => true,
            };
            if relevant {
                sink(Event::Limit { conn, setting, frame, ts_ns });
            }
        }
        StreamEvent::ConnectionEnd { conn, end, by, frame, ts_ns } => {
            if let Some(c) = conns.remove(&conn) {
                held.release(&c);
                let by = by.map(|side| c.flow(conn, side).dir);
                finish_conn(conn, c, (end, by), frame, ts_ns, stats, sink);
            }
        }
    }
}

fn new_framer(settings: &Settings, start: ConnStart) -> Framer {
    let synced = start == ConnStart::Handshake;
    Framer::with_settings(settings.framing.clone(), synced, SkipReason::Midstream)
}

/// Decide whether an undecided connection is CTI from its first data.
#[allow(clippy::too_many_arguments)]
fn decide(
    conn: ConnId,
    c: &mut ConnState,
    side: Side,
    offset: u64,
    data: &[u8],
    frame: u64,
    ts_ns: TimestampNs,
    settings: &Settings,
    stats: &mut Stats,
    sink: &mut dyn FnMut(Event<'_>),
) {
    let from_start = c.start == ConnStart::Handshake && offset == 0;
    if !framing::looks_like_cti(data, from_start, &settings.framing) {
        c.kind = Kind::NotCti;
        return;
    }
    c.kind = Kind::Cti;
    c.detection = Detection::Heuristic;
    c.client = if c.start == ConnStart::Handshake {
        Side::A
    } else {
        let origin = first_header_type(data, from_start, &settings.framing)
            .and_then(spec::type_info)
            .map(|t| t.origin);
        match origin {
            Some(Origin::Client) => side,
            Some(Origin::Server) => side.other(),
            _ => {
                if c.addrs[0].port() >= c.addrs[1].port() {
                    Side::A
                } else {
                    Side::B
                }
            }
        }
    };
    if !from_start {
        // Both framers must look for the first header.
        for f in &mut c.framers {
            *f = Framer::with_settings(settings.framing.clone(), false, SkipReason::Midstream);
        }
    }
    stats.cti_connections += 1;
    sink(Event::Connection {
        conn,
        client: c.addrs[c.client.index()],
        server: c.addrs[c.client.other().index()],
        start: c.start,
        detection: Detection::Heuristic,
        frame,
        ts_ns,
    });
}

/// MessageType of the first plausible, confirmed header in `data`.
fn first_header_type(data: &[u8], from_start: bool, st: &FramingSettings) -> Option<u32> {
    let scan = if from_start { 1 } else { data.len().min(4096) };
    (0..scan).find_map(|p| {
        let b = data.get(p..)?;
        if framing::looks_like_cti(b, true, st) {
            framing::parse_header(b).map(|(_, ty)| ty)
        } else {
            None
        }
    })
}

/// What [`framer_event`] needs of the connection and direction a framer belongs to.
struct FramerCx<'a> {
    flow: Flow,
    length_limit_reported: &'a mut bool,
    ts_ns: TimestampNs,
}

fn framer_event(
    fev: FramerEvent<'_>,
    cx: &mut FramerCx<'_>,
    stats: &mut Stats,
    sink: &mut dyn FnMut(Event<'_>),
) {
    let (flow, ts_ns) = (cx.flow, cx.ts_ns);
    match fev {
        FramerEvent::Frame(frame) => {
            stats.messages += 1;
            stats.message_bytes += frame.bytes.len() as u64;
            sink(Event::Message { flow, frame });
        }
        FramerEvent::Skipped { offset, len, first_frame, last_frame, reason } => {
            stats.skipped_bytes += len;
            sink(Event::Skipped { flow, offset, len, reason, first_frame, last_frame, ts_ns });
        }
        FramerEvent::Incomplete { offset, msg_type, have, need, first_frame, last_frame } => {
            sink(Event::Incomplete { flow, offset, msg_type, have, need, first_frame, last_frame, ts_ns })
        }
        FramerEvent::Implausible { offset, msg_type, length, frame } => {
            sink(Event::Implausible { flow, offset, msg_type, length, frame, ts_ns });
            if !*cx.length_limit_reported {
                *cx.length_limit_reported = true;
                sink(Event::Limit { conn: Some(flow.conn), setting: "max_message_length", frame, ts_ns });
            }
        }
    }
}

fn finish_conn(
    conn: ConnId,
    mut c: Box<ConnState>,
    (end, by): (ConnEnd, Option<Direction>),
    frame: u64,
    ts_ns: TimestampNs,
    stats: &mut Stats,
    sink: &mut dyn FnMut(Event<'_>),
) {
    if c.kind != Kind::Cti {
        return;
    }
    let frame = frame.max(c.last_frame);
    let ts_ns = ts_ns.max(c.last_ts);
    for side in [Side::A, Side::B] {
        let flow = c.flow(conn, side);
        let ConnState { framers, length_limit_reported, .. } = &mut *c;
        let mut cx = FramerCx { flow, length_limit_reported, ts_ns };
        framers[side.index()].finish(frame, ts_ns, &mut |fev| framer_event(fev, &mut cx, stats, sink));
    }
    sink(Event::ConnectionEnd { conn, end, by, frame, ts_ns });
}

/// Run the pipeline over a capture path ("-" for stdin): messages come framed, not decoded
/// ([`crate::stage::run_path`] adds the decode stage). Returns the capture error, if any,
/// after every event before it was delivered.
pub fn run_path(
    path: &str,
    settings: &Settings,
    sink: &mut dyn FnMut(Event<'_>),
) -> Result<Stats, crate::capture::CaptureError> {
    let mut p = Pipeline::new(settings.clone());
    let res = crate::capture::read_path(path, &mut |pkt| p.packet(pkt, sink));
    p.finish(sink);
    res.map(|_| p.stats().clone())
}
