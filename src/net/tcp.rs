//! TCP stream reassembly, per connection and per direction.
//!
//! Each connection (keyed by the unordered address pair) is split into two directions; each
//! direction maps sequence numbers to 64-bit stream offsets (32-bit serial arithmetic, so
//! sequence wrap and streams over 4 GiB work) and delivers its bytes in order:
//!
//! - in-order bytes are delivered at once: the `Data` event borrows the segment's payload
//!   (no allocation per segment; the bytes are only copied into the bounded window of
//!   recently delivered data described below). Out-of-order bytes are copied into a buffer
//!   ordered by offset (consecutive out-of-order segments are appended to one chunk, each
//!   keeping its frame) and delivered when the hole fills;
//! - bytes overlapping what was already delivered or buffered are compared with the first
//!   copy: identical bytes are dropped (counted as retransmissions), different bytes give a
//!   [`StreamEvent::Conflict`] and are dropped (first copy wins). Delivered bytes are kept
//!   for comparison only while the other side has not acknowledged them, and at most
//!   [`ReassemblySettings::retransmit_window`] of them (so memory follows the bytes in
//!   flight when both directions are captured); overlaps older than that, or over a
//!   reported gap, count as retransmissions without comparison;
//! - a hole is skipped (a [`StreamEvent::Gap`]) when the buffer beyond it exceeds its
//!   limit, when the other side acknowledges past its start, or when the connection ends;
//!   a snap-length cut is a gap as soon as the stream reaches it;
//! - delivery never waits for acknowledgements, so one-direction captures work.
//!
//! A one-byte segment just below the next expected byte is a keep-alive probe whose byte
//! is arbitrary: it is counted ([`ReassemblyStats::keepalives`]), never a conflict.
//!
//! Mid-stream, offset 0 of a direction is the first byte of the first segment seen carrying
//! data (or a FIN) in it; bytes before it cannot be placed before bytes already delivered
//! and are dropped (counted in [`ReassemblyStats::bytes_before_start`]). Payload carried by
//! RST segments is not stream data and is ignored.
//!
//! A connection ends after both FINs, at an RST, when a new SYN reuses its address pair,
//! when evicted for `max_connections`, or at the end of the capture. After a FIN or RST
//! close, the address pair keeps a small record of the last sequence numbers used, so that
//! the final ACK, retransmitted FINs or a trailing RST do not start a new connection.

mod stream;
#[cfg(test)]
mod tests;

use super::TcpSegment;
use crate::TimestampNs;
use std::net::SocketAddr;
use stream::{serial_diff, Ctx, Dir};

/// Connection number: 0, 1, 2... in order of first appearance in the capture. A new
/// connection on the same address pair (port reuse after FIN/RST or a new SYN) gets a new id.
pub type ConnId = u32;

/// One of the two endpoints of a connection. `A` is the side that sent the SYN when the
/// handshake was captured, otherwise the source of the first segment seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Limits and waits; every one is a setting with a default.
#[derive(Debug, Clone)]
pub struct ReassemblySettings {
    /// Out-of-order bytes buffered per direction before the oldest hole is declared a gap
    /// and skipped (`--max-buffered`). The bookkeeping counts too: each chunk of adjacent
    /// segments costs its bytes, a 24-byte mark per up to 64 bytes of segments, and 96
    /// bytes, so that many tiny scattered segments are bounded by the same budget.
    pub max_buffered_per_direction: usize,
    /// Connections tracked at once (`--max-connections`); beyond it the least recently
    /// active connection is closed (reported).
    pub max_connections: usize,
    /// Recently delivered, not yet acknowledged bytes kept per direction to compare
    /// retransmissions with; older overlaps are counted as retransmissions without
    /// comparison. 0 disables comparison.
    pub retransmit_window: usize,
    /// What reassembly holds across all connections (`--max-buffered-total`): out-of-order
    /// bytes, the retransmission windows, and what is held elsewhere and counted with them
    /// ([`Reassembler::set_held_elsewhere`]: the messages the framers are assembling). When
    /// exceeded, the direction that adds more has its holes declared gaps at once, or gives
    /// up its retransmission window. Bounds memory whatever the number of connections.
    pub max_buffered_total: usize,
}

impl Default for ReassemblySettings {
    fn default() -> Self {
        ReassemblySettings {
            max_buffered_per_direction: 1 << 20,
            max_connections: 65_536,
            retransmit_window: 64 << 10,
            max_buffered_total: 96 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStart {
    /// SYN captured: the stream begins at its first byte.
    Handshake,
    /// No SYN: the capture started mid-connection.
    Midstream,
}

impl ConnStart {
    /// The word for how the connection started (JSON `start`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnStart::Handshake => "handshake",
            ConnStart::Midstream => "midstream",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnEnd {
    Fin,
    Rst,
    /// The capture ended with the connection still open.
    CaptureEnd,
    /// A new connection (SYN) reused the address pair.
    Reused,
    /// Evicted because `max_connections` was reached.
    Evicted,
}

impl ConnEnd {
    /// The word for how the connection ended (JSON `end`, the `stats` connection table).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnEnd::Fin => "fin",
            ConnEnd::Rst => "rst",
            ConnEnd::CaptureEnd => "capture_end",
            ConnEnd::Reused => "reused",
            ConnEnd::Evicted => "evicted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapReason {
    /// More than `max_buffered_per_direction` bytes were waiting beyond the hole.
    BufferLimit,
    /// The other side acknowledged bytes past the hole: they were sent but not captured.
    AckedPastHole,
    /// The connection ended (FIN, RST, capture end) with the hole still open.
    ConnectionEnd,
    /// The snap length cut the segment: its payload was not all captured.
    Truncated,
}

impl GapReason {
    /// The word for the reason (JSON `reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::BufferLimit => "buffer_limit",
            GapReason::AckedPastHole => "acked_past_hole",
            GapReason::ConnectionEnd => "connection_end",
            GapReason::Truncated => "snaplen",
        }
    }

    /// Why the gap was declared, as a phrase.
    pub fn explain(self) -> &'static str {
        match self {
            GapReason::BufferLimit => "later data exceeded the reassembly buffer",
            GapReason::AckedPastHole => "acknowledged by the peer, never captured",
            GapReason::ConnectionEnd => "the connection ended with the hole open",
            GapReason::Truncated => "cut by the capture's snap length",
        }
    }
}

/// What reassembly produces, in capture order.
#[derive(Debug)]
pub enum StreamEvent<'a> {
    ConnectionStart {
        conn: ConnId,
        a: SocketAddr,
        b: SocketAddr,
        start: ConnStart,
        frame: u64,
        ts_ns: TimestampNs,
    },
    /// In-order bytes of one direction. `offset` is the stream offset of `data[0]`
    /// (0 = first byte after the SYN, or the first byte seen mid-stream). Consecutive Data
    /// events of one direction are contiguous unless a Gap event lies between them.
    /// `buffered`: what the reassembler holds for all connections once these bytes left
    /// it (`ReassemblyStats::buffered_now`), for a budget shared with later stages.
    Data {
        conn: ConnId,
        side: Side,
        offset: u64,
        data: &'a [u8],
        frame: u64,
        ts_ns: TimestampNs,
        buffered: usize,
    },
    /// Bytes `offset .. offset+len` of one direction were never captured; data resumes at
    /// `offset+len`.
    Gap { conn: ConnId, side: Side, offset: u64, len: u64, reason: GapReason, frame: u64, ts_ns: TimestampNs },
    /// A retransmission carried bytes that differ from the first copy (first copy wins).
    Conflict { conn: ConnId, side: Side, offset: u64, len: u64, frame: u64, ts_ns: TimestampNs },
    /// A setting's limit was reached (reported once per connection and setting).
    Limit { conn: Option<ConnId>, setting: &'static str, frame: u64, ts_ns: TimestampNs },
    ConnectionEnd {
        conn: ConnId,
        end: ConnEnd,
        /// The side whose RST (or first FIN) ended it; `None` for the other ends.
        by: Option<Side>,
        frame: u64,
        ts_ns: TimestampNs,
    },
}

/// Counters over the whole capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    pub segments: u64,
    pub connections: u64,
    /// Bytes delivered in `Data` events.
    pub delivered_bytes: u64,
    /// Bytes dropped because they repeated bytes already delivered or buffered (compared
    /// equal, or too old to compare).
    pub retransmitted_bytes: u64,
    /// `Conflict` events, and the overlapping bytes of the retransmissions that caused them.
    pub conflicts: u64,
    pub conflict_bytes: u64,
    /// `Gap` events and their total length.
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Pieces of segments buffered out of order.
    pub out_of_order_segments: u64,
    /// One-byte keep-alive probes (one byte below the next expected offset), not compared.
    pub keepalives: u64,
    /// Mid-stream bytes dropped because they lie before a direction's offset 0.
    pub bytes_before_start: u64,
    /// Segments of an already closed connection (final ACK, retransmitted FIN, trailing RST).
    pub ignored_after_close: u64,
    /// Connections evicted because of `max_connections`.
    pub evicted: u64,
    /// Out-of-order bytes buffered right now, across all connections.
    pub buffered_now: usize,
    /// `max_buffered_total` was reached (reported once per capture).
    pub total_limit_reported: bool,
    /// Room held for recently delivered bytes kept to compare retransmissions with (the
    /// retransmission window of every direction), counted against `max_buffered_total`.
    pub history_now: usize,
    /// Directions that gave up their retransmission window to keep within
    /// `max_buffered_total` (later retransmissions of those bytes are compared by
    /// fingerprint only).
    pub history_dropped: u64,
    /// Bytes held outside the reassembler that count against `max_buffered_total` too
    /// (the messages the framers are assembling), as last told by
    /// [`Reassembler::set_held_elsewhere`].
    pub held_elsewhere: usize,
}

/// The unordered address pair of a connection, smaller address first. IPv4 pairs (nearly
/// all CTI traffic) are packed into two integers, which hash and compare in a few
/// instructions on the per-segment lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// Each side as `address << 16 | port`.
    V4(u64, u64),
    Other(SocketAddr, SocketAddr),
}

/// The key of an address pair. The endpoints are read through references, field by field:
/// copying whole `SocketAddr`s out of a segment just built in memory reads across the
/// stores that built it, which stalls.
fn key_of(x: &SocketAddr, y: &SocketAddr) -> Key {
    match (x, y) {
        (SocketAddr::V4(a), SocketAddr::V4(b)) => {
            let pack = |s: &std::net::SocketAddrV4| (s.ip().to_bits() as u64) << 16 | s.port() as u64;
            let (a, b) = (pack(a), pack(b));
            Key::V4(a.min(b), a.max(b))
        }
        _ if x <= y => Key::Other(*x, *y),
        _ => Key::Other(*y, *x),
    }
}

const NIL: u32 = u32::MAX;

/// How far (in sequence space) below the last sequence number of a closed connection a
/// segment may lie and still be taken as a late segment of that connection.
const CLOSED_SEQ_WINDOW: i64 = 1 << 24;

struct Conn {
    id: ConnId,
    key: Key,
    a: SocketAddr,
    dirs: [Dir; 2],
    limit_buffered_reported: bool,
    /// The side that ended the connection: its RST, or the first FIN.
    closed_by: Option<Side>,
}

impl Conn {
    fn side_of(&self, src: SocketAddr) -> Side {
        if src == self.a {
            Side::A
        } else {
            Side::B
        }
    }
}

/// Links of the recency list (slot indices; `prev` is more recent).
#[derive(Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

/// What is remembered of a connection closed by FIN or RST.
struct Closed {
    a: SocketAddr,
    seq_end: [Option<u32>; 2],
}

/// Per-capture reassembly state.
pub struct Reassembler {
    settings: ReassemblySettings,
    map: crate::FastMap<Key, u32>,
    slots: Vec<Option<Conn>>,
    links: Vec<Link>,
    free: Vec<u32>,
    /// Most and least recently active connections.
    head: u32,
    tail: u32,
    next_id: ConnId,
    closed: crate::FastMap<Key, Closed>,
    conn_limit_reported: bool,
    last_frame: u64,
    last_ts_ns: TimestampNs,
    stats: ReassemblyStats,
}

impl Reassembler {
    pub fn new(settings: ReassemblySettings) -> Self {
        Reassembler {
            settings,
            map: crate::FastMap::default(),
            slots: Vec::new(),
            links: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            next_id: 0,
            closed: crate::FastMap::default(),
            conn_limit_reported: false,
            last_frame: 0,
            last_ts_ns: 0,
            stats: ReassemblyStats::default(),
        }
    }

    /// Counters so far.
    /// Bytes held elsewhere that count against `max_buffered_total` (see
    /// [`ReassemblyStats::held_elsewhere`]).
    pub fn set_held_elsewhere(&mut self, n: usize) {
        self.stats.held_elsewhere = n;
    }

    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// Connections currently tracked.
    pub fn open_connections(&self) -> usize {
        self.map.len()
    }

    /// Feed one segment; events are emitted through `out` as they become ready.
    pub fn segment(&mut self, seg: &TcpSegment<'_>, out: &mut dyn FnMut(StreamEvent<'_>)) {
        self.stats.segments += 1;
        self.last_frame = seg.frame;
        self.last_ts_ns = seg.ts_ns;
        let key = key_of(&seg.src, &seg.dst);
        let syn = seg.flags.syn();
        let mut slot = self.map.get(&key).copied();
        if let (Some(s), true) = (slot, syn && !seg.flags.ack()) {
            // A new SYN on a tracked pair: a retransmitted SYN, or a new connection.
            if let Some(conn) = &self.slots[s as usize] {
                let side = conn.side_of(seg.src);
                let dir = &conn.dirs[side.index()];
                let same = match dir.isn {
                    Some(isn) => isn == seg.seq,
                    None => dir.base == Some(seg.seq.wrapping_add(1)),
                };
                if !same {
                    self.close(s, ConnEnd::Reused, seg.frame, seg.ts_ns, out);
                    slot = None;
                }
            }
        }
        let slot = match slot {
            Some(s) => {
                self.touch(s);
                s
            }
            None => {
                if !syn && self.is_late_for_closed(&key, seg) {
                    self.stats.ignored_after_close += 1;
                    return;
                }
                self.closed.remove(&key);
                self.open(key, seg, out)
            }
        };
        let Some(conn) = self.slots[slot as usize].as_mut() else {
            debug_assert!(false, "tracked connection without state");
            return;
        };
        let end = process(conn, &self.settings, &mut self.stats, seg, out);
        if let Some(end) = end {
            self.close(slot, end, seg.frame, seg.ts_ns, out);
        }
    }

    /// The capture ended: deliver what is buffered (reporting holes as gaps) and end every
    /// open connection with `ConnEnd::CaptureEnd`.
    pub fn finish(&mut self, out: &mut dyn FnMut(StreamEvent<'_>)) {
        let mut open: Vec<(ConnId, u32)> =
            self.slots.iter().enumerate().filter_map(|(i, c)| c.as_ref().map(|c| (c.id, i as u32))).collect();
        open.sort_unstable();
        for (_, slot) in open {
            self.close(slot, ConnEnd::CaptureEnd, self.last_frame, self.last_ts_ns, out);
        }
        self.closed.clear();
    }

    /// Whether `seg` (no SYN) belongs to the connection last closed on its address pair.
    fn is_late_for_closed(&self, key: &Key, seg: &TcpSegment<'_>) -> bool {
        let Some(c) = self.closed.get(key) else {
            return false;
        };
        let side = if seg.src == c.a { 0 } else { 1 };
        c.seq_end[side].is_some_and(|end| {
            let d = serial_diff(seg.seq, end);
            (-CLOSED_SEQ_WINDOW..=0).contains(&d)
        })
    }

    /// Starts tracking a connection (evicting the least recently active one if full).
    fn open(&mut self, key: Key, seg: &TcpSegment<'_>, out: &mut dyn FnMut(StreamEvent<'_>)) -> u32 {
        if self.map.len() >= self.settings.max_connections.max(1) && self.tail != NIL {
            if !self.conn_limit_reported {
                self.conn_limit_reported = true;
                out(StreamEvent::Limit {
                    conn: None,
                    setting: "max_connections",
                    frame: seg.frame,
                    ts_ns: seg.ts_ns,
                });
            }
            self.stats.evicted += 1;
            self.close(self.tail, ConnEnd::Evicted, seg.frame, seg.ts_ns, out);
        }
        let syn = seg.flags.syn();
        let (a, b) = if syn && seg.flags.ack() { (seg.dst, seg.src) } else { (seg.src, seg.dst) };
        let start = if syn { ConnStart::Handshake } else { ConnStart::Midstream };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.stats.connections += 1;
        let conn = Conn {
            id,
            key,
            a,
            dirs: [Dir::default(), Dir::default()],
            limit_buffered_reported: false,
            closed_by: None,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(conn);
                s
            }
            None => {
                self.slots.push(Some(conn));
                self.links.push(Link { prev: NIL, next: NIL });
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, slot);
        self.push_front(slot);
        out(StreamEvent::ConnectionStart { conn: id, a, b, start, frame: seg.frame, ts_ns: seg.ts_ns });
        slot
    }

    /// Flushes and forgets a connection.
    fn close(
        &mut self,
        slot: u32,
        end: ConnEnd,
        frame: u64,
        ts_ns: TimestampNs,
        out: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        let Some(mut conn) = self.slots[slot as usize].take() else {
            debug_assert!(false, "closing a free slot");
            return;
        };
        self.unlink(slot);
        self.free.push(slot);
        self.map.remove(&conn.key);
        for side in [Side::A, Side::B] {
            let mut cx = ctx(&conn, side, &self.settings, &mut self.stats, frame, ts_ns, out);
            conn.dirs[side.index()].flush(&mut cx);
            self.stats.history_now -= conn.dirs[side.index()].history_held();
        }
        let by = if matches!(end, ConnEnd::Fin | ConnEnd::Rst) { conn.closed_by } else { None };
        out(StreamEvent::ConnectionEnd { conn: conn.id, end, by, frame, ts_ns });
        if matches!(end, ConnEnd::Fin | ConnEnd::Rst) {
            if self.closed.len() >= self.settings.max_connections.max(1) {
                // Bounded memory: forget all closed pairs at once (rarely, amortized O(1)).
                self.closed.clear();
            }
            let seq_end = [conn.dirs[0].seq_end, conn.dirs[1].seq_end];
            self.closed.insert(conn.key, Closed { a: conn.a, seq_end });
        }
    }

    fn push_front(&mut self, slot: u32) {
        self.links[slot as usize] = Link { prev: NIL, next: self.head };
        if self.head != NIL {
            self.links[self.head as usize].prev = slot;
        }
        self.head = slot;
        if self.tail == NIL {
            self.tail = slot;
        }
    }

    fn unlink(&mut self, slot: u32) {
        let Link { prev, next } = self.links[slot as usize];
        if prev != NIL {
            self.links[prev as usize].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.links[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
        self.links[slot as usize] = Link { prev: NIL, next: NIL };
    }

    /// Marks a connection as the most recently active.
    fn touch(&mut self, slot: u32) {
        if self.head != slot {
            self.unlink(slot);
            self.push_front(slot);
        }
    }
}

fn ctx<'o, 'f>(
    conn: &Conn,
    side: Side,
    settings: &ReassemblySettings,
    stats: &'o mut ReassemblyStats,
    frame: u64,
    ts_ns: TimestampNs,
    out: &'o mut (dyn FnMut(StreamEvent<'_>) + 'f),
) -> Ctx<'o, 'f> {
    Ctx {
        conn: conn.id,
        side,
        frame,
        ts_ns,
        max_buffered: settings.max_buffered_per_direction,
        max_total: settings.max_buffered_total,
        window: settings.retransmit_window,
        stats,
        out,
    }
}

/// Applies one segment to its connection; returns how the connection ends, if it does.
fn process(
    conn: &mut Conn,
    settings: &ReassemblySettings,
    stats: &mut ReassemblyStats,
    seg: &TcpSegment<'_>,
    out: &mut dyn FnMut(StreamEvent<'_>),
) -> Option<ConnEnd> {
    let side = conn.side_of(seg.src);
    let d = side.index();
    let flags = seg.flags;
    let (syn, fin, rst) = (flags.syn(), flags.fin(), flags.rst());
    let data_seq = seg.seq.wrapping_add(syn as u32);
    let wire = u64::from(seg.wire_payload_len).max(seg.payload.len() as u64);
    let dir = &mut conn.dirs[d];
    dir.note_seq_end(data_seq.wrapping_add(wire as u32).wrapping_add(fin as u32));
    if syn {
        dir.isn.get_or_insert(seg.seq);
        dir.base.get_or_insert(data_seq);
    }
    if !rst && dir.base.is_none() && (wire > 0 || fin) {
        dir.base = Some(data_seq);
    }
    if syn && flags.ack() {
        // The SYN-ACK acknowledges the SYN: the other side's stream starts at its ACK.
        conn.dirs[side.other().index()].base.get_or_insert(seg.ack);
    }
    if !rst && wire > 0 {
        if let Some(off) = conn.dirs[d].offset_of(data_seq) {
            let mut cx = ctx(conn, side, settings, stats, seg.frame, seg.ts_ns, out);
            let dir = &mut conn.dirs[d];
            dir.data(off, seg.payload, wire, &mut cx);
            if dir.over_limit(&cx) && !conn.limit_buffered_reported {
                conn.limit_buffered_reported = true;
                limit(&mut cx, "max_buffered_per_direction");
            }
            if dir.over_total(&cx) && !cx.stats.total_limit_reported {
                cx.stats.total_limit_reported = true;
                limit_capture(&mut cx, "max_buffered_total");
            }
            dir.limits(&mut cx);
            dir.check_acked(&mut cx);
        }
    }
    if rst || (fin && conn.closed_by.is_none()) {
        conn.closed_by = Some(side);
    }
    if fin && !rst {
        let dir = &mut conn.dirs[d];
        if let Some(off) = dir.offset_of(data_seq) {
            dir.fin.get_or_insert(off.saturating_add(wire as i64).max(0) as u64);
        }
    }
    if flags.ack() {
        let other = side.other();
        let od = &mut conn.dirs[other.index()];
        od.ack(seg.ack);
        if od.has_buffered() {
            let mut cx = ctx(conn, other, settings, stats, seg.frame, seg.ts_ns, out);
            conn.dirs[other.index()].check_acked(&mut cx);
        }
    }
    if rst {
        Some(ConnEnd::Rst)
    } else if conn.dirs[0].fin.is_some() && conn.dirs[1].fin.is_some() {
        Some(ConnEnd::Fin)
    } else {
        None
    }
}

fn limit(cx: &mut Ctx<'_, '_>, setting: &'static str) {
    let (conn, frame, ts_ns) = (Some(cx.conn), cx.frame, cx.ts_ns);
    (cx.out)(StreamEvent::Limit { conn, setting, frame, ts_ns });
}

/// A capture-wide limit (no connection named).
fn limit_capture(cx: &mut Ctx<'_, '_>, setting: &'static str) {
    let (frame, ts_ns) = (cx.frame, cx.ts_ns);
    (cx.out)(StreamEvent::Limit { conn: None, setting, frame, ts_ns });
}
