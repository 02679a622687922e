//! Hand-placed packets for the scenarios: each TCP connection is written step by step at
//! chosen times (handshake, one segment per message, FIN, RST, a SYN refused with an RST),
//! with sequence and acknowledgement numbers kept by the connection, and the packets of all
//! connections are merged by time into one capture.
//!
//! Every application message is its own segment (the guide asks CTI clients to disable
//! Nagle's algorithm, and the server answers one message at a time). A side that received
//! data and sends nothing for [`ACK_DELAY`] acknowledges it with a pure ACK, as delayed
//! acknowledgement does.
//!
//! Frame numbers and connection numbers are known only once the packets are merged:
//! [`Script::finish`] sorts them and answers, for each [`Pkt`] handle, its frame number,
//! and for each connection, the number ctiscope gives it (connections numbered 0, 1, 2... in
//! the order of their first packet).

use super::config::{DropField, Format};
use super::strip::drop_floating;
use super::wire::Wire;
use crate::capture::build::{tcp_frame, Link, TcpSpec};
use crate::cti::framing::parse_header;
use crate::cti::spec::MessageType;
use etherparse::PacketBuilder;
use std::io::{self, Write};
use std::net::SocketAddr;

/// A side that has data to acknowledge and nothing to send acknowledges after this delay.
pub const ACK_DELAY: i64 = 40_000_000;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// The two ends of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Client,
    Server,
}

impl End {
    fn i(self) -> usize {
        match self {
            End::Client => 0,
            End::Server => 1,
        }
    }

    fn other(self) -> End {
        match self {
            End::Client => End::Server,
            End::Server => End::Client,
        }
    }
}

/// A packet of the script, resolved to its frame number by [`Done::frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pkt(usize);

/// A TCP connection of the script, resolved to ctiscope's connection number by
/// [`Done::conn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn(usize);

struct Planned {
    t: i64,
    frame: Vec<u8>,
}

struct ConnState {
    /// Client, server.
    addr: [SocketAddr; 2],
    /// Next sequence number of each end.
    next: [u32; 2],
    /// Stream bytes each end has sent.
    sent: [u64; 2],
    /// Time of the first byte each end received and has not acknowledged yet.
    unacked_since: [Option<i64>; 2],
    last_t: i64,
    first: Option<Pkt>,
    closed: bool,
    version: u32,
}

/// A CTI message the script sent.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub conn: Conn,
    pub from: End,
    pub ty: MessageType,
    /// Offset of the message in its direction's stream, and its length (header included).
    pub offset: u64,
    pub len: u64,
    pub pkt: Pkt,
}

/// Packets being placed.
pub struct Script {
    link: Link,
    pkts: Vec<Planned>,
    conns: Vec<ConnState>,
    drop: Option<DropField>,
    dropped: u64,
    messages: Vec<SentMessage>,
}

impl Script {
    /// An empty script; `drop` is the drop-field fault applied to every message sent.
    pub fn new(drop: Option<DropField>) -> Self {
        Script {
            link: Link::Ethernet,
            pkts: Vec::new(),
            conns: Vec::new(),
            drop,
            dropped: 0,
            messages: Vec::new(),
        }
    }

    fn push(&mut self, t: i64, frame: Vec<u8>) -> Pkt {
        self.pkts.push(Planned { t, frame });
        Pkt(self.pkts.len() - 1)
    }

    /// The time of a packet.
    pub fn time(&self, p: Pkt) -> i64 {
        self.pkts[p.0].t
    }

    /// The client and server addresses of a connection.
    pub fn addrs(&self, c: Conn) -> [SocketAddr; 2] {
        self.conns[c.0].addr
    }

    /// A new connection from `client` to `server` (not connected yet) whose messages are
    /// at protocol `version`; `isn` are the initial sequence numbers of client and server.
    pub fn conn(&mut self, client: SocketAddr, server: SocketAddr, isn: [u32; 2], version: u32) -> Conn {
        self.conns.push(ConnState {
            addr: [client, server],
            next: isn,
            sent: [0; 2],
            unacked_since: [None; 2],
            last_t: i64::MIN,
            first: None,
            closed: false,
            version,
        });
        Conn(self.conns.len() - 1)
    }

    /// One segment from `from` at `t`: sequence and acknowledgement numbers from the
    /// connection, pending acknowledgements of both ends sent first.
    fn segment(&mut self, c: Conn, from: End, t: i64, flags: u8, payload: &[u8]) -> Pkt {
        self.flush_acks(c, t);
        self.emit(c, from, t, flags, payload)
    }

    /// One segment, as [`Script::segment`] without the pending acknowledgements.
    fn emit(&mut self, c: Conn, from: End, t: i64, flags: u8, payload: &[u8]) -> Pkt {
        let link = self.link;
        let st = &mut self.conns[c.0];
        assert!(!st.closed, "a segment on a connection already closed");
        assert!(t >= st.last_t, "packets of a connection are placed in time order");
        let (d, o) = (from.i(), from.other().i());
        let ack = if flags & ACK != 0 { st.next[o] } else { 0 };
        let spec = TcpSpec { src: st.addr[d], dst: st.addr[o], seq: st.next[d], ack, flags, payload };
        let frame = tcp_frame(link, &spec);
        let grows = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        st.next[d] = st.next[d].wrapping_add(grows);
        st.sent[d] += payload.len() as u64;
        st.last_t = t;
        if flags & ACK != 0 {
            st.unacked_since[d] = None;
        }
        if !payload.is_empty() || flags & FIN != 0 {
            st.unacked_since[o].get_or_insert(t);
        }
        if flags & RST != 0 {
            st.closed = true;
        }
        let p = self.push(t, frame);
        self.conns[c.0].first.get_or_insert(p);
        p
    }

    /// Pure ACKs of both ends whose delayed acknowledgement is due by `t`.
    fn flush_acks(&mut self, c: Conn, t: i64) {
        loop {
            let st = &self.conns[c.0];
            if st.closed {
                return;
            }
            let due = [End::Client, End::Server]
                .into_iter()
                .filter_map(|e| st.unacked_since[e.i()].map(|s| (s + ACK_DELAY, e)))
                .filter(|&(at, _)| at <= t)
                .min_by_key(|&(at, _)| at);
            let Some((at, e)) = due else { return };
            self.emit(c, e, at, ACK, &[]);
        }
    }

    /// The three-way handshake from `t` (SYN, SYN-ACK `rtt / 2` later, ACK `rtt` later);
    /// returns the SYN.
    pub fn handshake(&mut self, c: Conn, t: i64, rtt: i64) -> Pkt {
        let syn = self.segment(c, End::Client, t, SYN, &[]);
        self.segment(c, End::Server, t + rtt / 2, SYN | ACK, &[]);
        self.segment(c, End::Client, t + rtt, ACK, &[]);
        syn
    }

    /// A SYN at `t` answered `after` later by an RST (nothing listens); returns (SYN, RST).
    pub fn refused(&mut self, c: Conn, t: i64, after: i64) -> (Pkt, Pkt) {
        let syn = self.segment(c, End::Client, t, SYN, &[]);
        let rst = self.segment(c, End::Server, t + after, RST | ACK, &[]);
        (syn, rst)
    }

    /// One CTI message from `from` at `t`, in its own segment (after the drop-field fault,
    /// if any).
    pub fn message(&mut self, c: Conn, from: End, t: i64, bytes: Vec<u8>) -> Pkt {
        let version = self.conns[c.0].version;
        let bytes = match self.drop.as_ref().and_then(|f| drop_floating(&bytes, version, f)) {
            Some(stripped) => {
                self.dropped += 1;
                stripped
            }
            None => bytes,
        };
        let (_, ty) = parse_header(&bytes).expect("a whole message");
        let offset = self.conns[c.0].sent[from.i()];
        let pkt = self.data(c, from, t, &bytes);
        let len = bytes.len() as u64;
        self.messages.push(SentMessage { conn: c, from, ty: MessageType(ty), offset, len, pkt });
        pkt
    }

    /// Application bytes (not CTI) from `from` at `t`, in one segment.
    pub fn data(&mut self, c: Conn, from: End, t: i64, bytes: &[u8]) -> Pkt {
        self.segment(c, from, t, PSH | ACK, bytes)
    }

    /// A FIN from `from` at `t`.
    pub fn fin(&mut self, c: Conn, from: End, t: i64) -> Pkt {
        self.segment(c, from, t, FIN | ACK, &[])
    }

    /// A pure ACK from `from` at `t`.
    pub fn ack(&mut self, c: Conn, from: End, t: i64) -> Pkt {
        self.segment(c, from, t, ACK, &[])
    }

    /// An RST from `from` at `t` (an abortive close: linger on with a zero timeout).
    pub fn rst(&mut self, c: Conn, from: End, t: i64) -> Pkt {
        self.segment(c, from, t, RST | ACK, &[])
    }

    /// The orderly teardown started by `from` at `t`: its FIN, the other end's FIN `step`
    /// later and the last ACK `2 * step` later. Returns the second FIN, the packet at which
    /// both directions are closed.
    pub fn close(&mut self, c: Conn, from: End, t: i64, step: i64) -> Pkt {
        self.fin(c, from, t);
        let second = self.fin(c, from.other(), t + step);
        self.ack(c, from, t + 2 * step);
        self.conns[c.0].closed = true;
        second
    }

    /// One UDP datagram (IPv4 addresses).
    pub fn udp(&mut self, t: i64, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Pkt {
        let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
            panic!("UDP datagrams of the scenarios are IPv4")
        };
        let b = PacketBuilder::ethernet2([0x02, 0, 0, 0, 0, 0x01], [0x02, 0, 0, 0, 0, 0x02])
            .ipv4(s.ip().octets(), d.ip().octets(), 64)
            .udp(s.port(), d.port());
        let mut frame = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut frame, payload).expect("datagram fits");
        self.push(t, frame)
    }

    /// Sends what every open connection still has to acknowledge and merges the packets
    /// by time (packets of the same time keep the order they were placed in).
    pub fn finish(mut self) -> Done {
        for c in 0..self.conns.len() {
            self.flush_acks(Conn(c), i64::MAX);
        }
        let mut order: Vec<usize> = (0..self.pkts.len()).collect();
        order.sort_by_key(|&i| self.pkts[i].t);
        let mut frame_of = vec![0u64; self.pkts.len()];
        for (n, &i) in order.iter().enumerate() {
            frame_of[i] = n as u64 + 1;
        }
        let mut by_first: Vec<usize> =
            (0..self.conns.len()).filter(|&c| self.conns[c].first.is_some()).collect();
        by_first.sort_by_key(|&c| frame_of[self.conns[c].first.expect("filtered").0]);
        let mut conn_no = vec![u32::MAX; self.conns.len()];
        for (n, &c) in by_first.iter().enumerate() {
            conn_no[c] = n as u32;
        }
        Done {
            pkts: self.pkts,
            order,
            frame_of,
            conn_no,
            dropped: self.dropped,
            drop: self.drop,
            messages: self.messages,
        }
    }
}

/// The merged packets, with frame and connection numbers.
pub struct Done {
    pkts: Vec<Planned>,
    order: Vec<usize>,
    frame_of: Vec<u64>,
    conn_no: Vec<u32>,
    /// Messages the drop-field fault changed.
    pub dropped: u64,
    pub drop: Option<DropField>,
    /// Every CTI message, in the order they were placed.
    pub messages: Vec<SentMessage>,
}

impl Done {
    /// The frame number (1-based) of a packet.
    pub fn frame(&self, p: Pkt) -> u64 {
        self.frame_of[p.0]
    }

    /// ctiscope's number of a connection.
    pub fn conn(&self, c: Conn) -> u32 {
        self.conn_no[c.0]
    }

    /// Packets in the capture.
    pub fn packets(&self) -> u64 {
        self.pkts.len() as u64
    }

    /// TCP connections in the capture.
    pub fn connections(&self) -> u32 {
        self.conn_no.iter().filter(|&&n| n != u32::MAX).count() as u32
    }

    /// Time of the first and the last packet.
    pub fn span(&self) -> (i64, i64) {
        let t = |i: Option<&usize>| i.map_or(0, |&i| self.pkts[i].t);
        (t(self.order.first()), t(self.order.last()))
    }

    /// One line per CTI message in capture order, as the message truth file of the
    /// simulation writes them: connection, direction, type, stream offset, length (header
    /// included) and frames.
    pub fn message_lines(&self) -> Vec<String> {
        let mut order: Vec<&SentMessage> = self.messages.iter().collect();
        order.sort_by_key(|m| self.frame(m.pkt));
        order
            .into_iter()
            .map(|m| {
                let dir = if m.from == End::Client { "client->server" } else { "server->client" };
                let frame = self.frame(m.pkt);
                format!(
                    "{{\"connection\":{},\"direction\":\"{dir}\",\"type\":\"{}\",\"type_id\":{},\"stream_offset\":{},\"length\":{},\"first_frame\":{frame},\"last_frame\":{frame},\"captured\":true}}",
                    self.conn(m.conn),
                    m.ty.name_or_unknown(),
                    m.ty.0,
                    m.offset,
                    m.len
                )
            })
            .collect()
    }

    /// Writes the capture.
    pub fn write<W: Write>(&self, w: W, format: Format) -> io::Result<()> {
        let mut wire = Wire::new(w, format, Link::Ethernet, false)?;
        for &i in &self.order {
            wire.write_frame(self.pkts[i].t, &self.pkts[i].frame)?;
        }
        wire.finish()
    }
}
