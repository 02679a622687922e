//! The TCP stacks of both ends of every connection: handshake, application writes
//! coalesced into segments of at most one MSS (Nagle-like), delayed pure ACKs, FIN
//! teardown, and the faults injected on segments (lost, reordered, retransmitted and
//! divergent segments, a capture starting mid-stream, a file cut inside a record).
//!
//! Every segment goes to the capture through [`Wire`]; every message's first and last frame
//! goes to the message truth file when its last byte has been sent.

use super::config::{Faults, Limit};
use super::queue::{Queue, MS, US};
use super::rng::Rng;
use super::strip::drop_floating;
use super::truth::{GeneratedMessage, MessageRecord, ProtoFault, Truth};
use super::wire::Wire;
use crate::capture::build::TcpSpec;
use crate::cti::framing::parse_header;
use crate::cti::spec;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::SocketAddr;

/// Writes made within this interval of the first pending one share a segment.
pub const COALESCE: i64 = 200 * US;
/// A receiver with nothing to send acknowledges after this delay.
const ACK_DELAY: i64 = 2 * MS;
/// Retransmissions appear this long after the original.
const RTO: i64 = 200 * MS;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// Stream direction: 0 client to server, 1 server to client. Side `d` sends direction `d`.
pub type Dir = usize;
pub const C2S: Dir = 0;
pub const S2C: Dir = 1;

pub fn dir_name(d: Dir) -> &'static str {
    if d == C2S {
        "client->server"
    } else {
        "server->client"
    }
}

/// Server reply delay. Longer than the coalescing window, so that a reply never leaves
/// before the request it answers, which may still wait to be coalesced.
pub fn latency(rng: &mut Rng) -> i64 {
    COALESCE + 50 * US + rng.below(450_000) as i64
}

/// What happens to a connection's TCP stacks at a given time.
#[derive(Debug)]
pub enum TcpEvent {
    /// The client connects.
    Syn(u32),
    SynAck(u32),
    /// The client's ACK completes the handshake.
    HandshakeAck(u32),
    /// An application writes one message.
    Write {
        conn: u32,
        dir: Dir,
        bytes: Vec<u8>,
        fault: Option<ProtoFault>,
    },
    /// The coalescing window of direction `Dir` ends.
    Flush(u32, Dir),
    /// The receiver of direction `Dir` acknowledges it.
    Ack(u32, Dir),
    /// A data segment sent again, identical or (`diverge`) with other bytes.
    Resend {
        conn: u32,
        dir: Dir,
        off: u64,
        data: Vec<u8>,
        diverge: bool,
        original: u64,
    },
    /// The client closes.
    Fin(u32),
    FinAck(u32),
    LastAck(u32),
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

/// One connection's two TCP stacks.
struct Conn {
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
    /// The teardown is complete.
    closed: bool,
    /// Protocol version of the messages (for their names in the truth file).
    version: u32,
}

/// What went out, for the summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub packets: u64,
    pub bytes: u64,
    pub messages: u64,
    pub faults: u64,
}

/// Every connection's TCP stacks, the capture they write to and the truth outputs.
pub struct Tcp<'a, W: Write> {
    conns: Vec<Conn>,
    wire: Wire<W>,
    truth: Truth<'a>,
    faults: Faults,
    limit: Limit,
    mss: usize,
    next_conn_id: u32,
    /// Midstream: packets are not written until this connection's first server data has
    /// gone by.
    midstream_conn: Option<u32>,
    skipped: u64,
    last_ts: i64,
    messages: u64,
    fault_count: u64,
    /// Messages the drop-field fault changed.
    dropped_field: u64,
    scratch: Vec<u8>,
    stop: bool,
}

impl<'a, W: Write> Tcp<'a, W> {
    pub fn new(
        wire: Wire<W>,
        truth: Truth<'a>,
        faults: &Faults,
        limit: Limit,
        ipv6: bool,
        start: i64,
    ) -> Self {
        Tcp {
            conns: Vec::new(),
            wire,
            truth,
            faults: faults.clone(),
            limit,
            mss: if ipv6 { 1440 } else { 1460 },
            next_conn_id: 0,
            midstream_conn: None,
            skipped: 0,
            last_ts: start,
            messages: 0,
            fault_count: 0,
            dropped_field: 0,
            scratch: Vec::with_capacity(2048),
            stop: false,
        }
    }

    /// A new connection (index returned) between the client `addr[0]` and the server
    /// `addr[1]`, not connected yet.
    pub fn add(&mut self, addr: [SocketAddr; 2], isn: [u32; 2], version: u32) -> u32 {
        self.conns.push(Conn {
            id: u32::MAX,
            addr,
            isn,
            sent: [0; 2],
            acked: [0; 2],
            ack_scheduled: [false; 2],
            fin_sent: [false; 2],
            pending: [Vec::new(), Vec::new()],
            pending_since: [0; 2],
            queue: [VecDeque::new(), VecDeque::new()],
            written: [0; 2],
            closed: false,
            version,
        });
        self.conns.len() as u32 - 1
    }

    pub fn connections(&self) -> u32 {
        self.conns.len() as u32
    }

    /// The capture starts mid-stream: nothing is written until connection `c` has sent its
    /// first server data.
    pub fn start_midstream(&mut self, c: u32) {
        self.midstream_conn = Some(c);
    }

    /// The capture or message limit has been reached.
    pub fn full(&self) -> bool {
        self.stop
    }

    /// Handles one event; returns the connection whose handshake it completed.
    pub fn handle<E: From<TcpEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        ev: TcpEvent,
    ) -> io::Result<Option<u32>> {
        let now = q.now();
        match ev {
            TcpEvent::Syn(c) => {
                self.conns[c as usize].id = self.next_conn_id;
                self.next_conn_id += 1;
                let lat = latency(rng);
                self.segment(now, c, C2S, TCP_SYN, &[], None)?;
                q.at(now + lat, TcpEvent::SynAck(c));
            }
            TcpEvent::SynAck(c) => {
                self.segment(now, c, S2C, TCP_SYN | TCP_ACK, &[], None)?;
                q.at(now + latency(rng), TcpEvent::HandshakeAck(c));
            }
            TcpEvent::HandshakeAck(c) => {
                self.segment(now, c, C2S, TCP_ACK, &[], None)?;
                return Ok(Some(c));
            }
            TcpEvent::Write { conn, dir, bytes, fault } => self.app_write(q, rng, conn, dir, bytes, fault)?,
            TcpEvent::Flush(c, d) => {
                let conn = &self.conns[c as usize];
                if !conn.pending[d].is_empty() && now >= conn.pending_since[d] + COALESCE {
                    self.flush(q, rng, c, d, true)?;
                }
            }
            TcpEvent::Ack(c, d) => {
                let conn = &mut self.conns[c as usize];
                conn.ack_scheduled[d] = false;
                if !conn.closed && conn.acked[d] < conn.sent[d] {
                    self.segment(now, c, 1 - d, TCP_ACK, &[], None)?;
                }
            }
            TcpEvent::Resend { conn, dir, off, data, diverge, original } => {
                self.resend(now, conn, dir, off, data, diverge, original)?
            }
            TcpEvent::Fin(c) => {
                self.flush(q, rng, c, C2S, true)?;
                self.flush(q, rng, c, S2C, true)?;
                self.segment(now, c, C2S, TCP_FIN | TCP_ACK, &[], None)?;
                q.at(now + latency(rng), TcpEvent::FinAck(c));
            }
            TcpEvent::FinAck(c) => {
                self.segment(now, c, S2C, TCP_FIN | TCP_ACK, &[], None)?;
                q.at(now + latency(rng), TcpEvent::LastAck(c));
            }
            TcpEvent::LastAck(c) => {
                self.segment(now, c, C2S, TCP_ACK, &[], None)?;
                self.conns[c as usize].closed = true;
            }
        }
        Ok(None)
    }

    /// A retransmission of stream bytes `off..` of direction `d`, first sent in frame
    /// `original`.
    #[allow(clippy::too_many_arguments)]
    fn resend(
        &mut self,
        now: i64,
        c: u32,
        d: Dir,
        off: u64,
        mut data: Vec<u8>,
        diverge: bool,
        original: u64,
    ) -> io::Result<()> {
        if self.conns[c as usize].closed {
            return Ok(());
        }
        if diverge {
            let mid = data.len() / 2;
            let end = (mid + 8).min(data.len());
            for b in &mut data[mid..end] {
                *b ^= 0x5a;
            }
        }
        let frame = self.segment(now, c, d, TCP_ACK | TCP_PSH, &data, Some(off))?;
        if let Some(frame) = frame {
            let name = if diverge { "diverge" } else { "retransmit" };
            let id = self.conns[c as usize].id;
            self.truth.fault(&format!(
                "{{\"fault\":\"{name}\",\"frame\":{frame},\"original_frame\":{original},\"connection\":{id},\"direction\":\"{}\",\"stream_offset\":{off},\"length\":{}}}",
                dir_name(d),
                data.len()
            ))?;
        }
        Ok(())
    }

    fn check_limit(&mut self) {
        match self.limit {
            Limit::Bytes(b) if self.wire.bytes >= b => self.stop = true,
            Limit::Messages(n) if self.messages >= n => self.stop = true,
            _ => {}
        }
    }

    /// Writes one segment of direction `d` (sent by side `d`). `data_off` is the stream
    /// offset of a data payload (None for control segments, which carry the next offset).
    /// Returns the frame number, None when the packet was not captured.
    fn segment(
        &mut self,
        now: i64,
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
        let ts = now.max(self.last_ts);
        self.last_ts = ts;
        if let Some(mc) = self.midstream_conn {
            self.skipped += 1;
            if c == mc && d == S2C && !payload.is_empty() {
                self.midstream_conn = None;
                let n = self.skipped;
                self.truth
                    .fault(&format!("{{\"fault\":\"midstream\",\"frame\":1,\"skipped_packets\":{n}}}"))?;
            }
            return Ok(None);
        }
        let f = self.wire.write(ts, &spec)?;
        self.check_limit();
        Ok(Some(f))
    }

    /// An application write of one message.
    fn app_write<E: From<TcpEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        c: u32,
        d: Dir,
        bytes: Vec<u8>,
        fault: Option<ProtoFault>,
    ) -> io::Result<()> {
        let now = q.now();
        let conn = &mut self.conns[c as usize];
        if conn.closed || conn.fin_sent[d] {
            return Ok(());
        }
        let bytes = match self.faults.drop_field.as_ref().and_then(|f| drop_floating(&bytes, conn.version, f))
        {
            Some(stripped) => {
                self.dropped_field += 1;
                self.fault_count += 1;
                stripped
            }
            None => bytes,
        };
        let (_, type_id) = parse_header(&bytes).expect("a whole message");
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
            conn.pending_since[d] = now;
            q.at(now + COALESCE, TcpEvent::Flush(c, d));
        }
        let conn = &mut self.conns[c as usize];
        conn.pending[d].extend_from_slice(&bytes);
        self.messages += 1;
        let (id, version) = (conn.id, conn.version);
        if let Some(col) = self.truth.collecting() {
            col.push(GeneratedMessage {
                connection: id,
                direction: dir_name(d),
                version,
                bytes,
                fault: fault.map(ProtoFault::name),
            });
        }
        if fault.is_some() {
            self.fault_count += 1;
        }
        while self.conns[c as usize].pending[d].len() >= self.mss {
            self.flush(q, rng, c, d, false)?;
        }
        self.check_limit();
        Ok(())
    }

    /// Sends pending bytes of direction `d`: one full segment, or everything (`all`).
    fn flush<E: From<TcpEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        c: u32,
        d: Dir,
        all: bool,
    ) -> io::Result<()> {
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
            self.data_segment(q, rng, c, d, off, &data)?;
            self.scratch = data;
            if !all || self.conns[c as usize].pending[d].is_empty() {
                return Ok(());
            }
        }
    }

    /// Everything still waiting in send buffers goes out (the end of the run).
    pub fn flush_all<E: From<TcpEvent>>(&mut self, q: &mut Queue<E>, rng: &mut Rng) -> io::Result<()> {
        for c in 0..self.conns.len() as u32 {
            for d in [C2S, S2C] {
                if !self.conns[c as usize].closed {
                    self.flush(q, rng, c, d, true)?;
                }
            }
        }
        Ok(())
    }

    /// One data segment, with the TCP faults.
    fn data_segment<E: From<TcpEvent>>(
        &mut self,
        q: &mut Queue<E>,
        rng: &mut Rng,
        c: u32,
        d: Dir,
        off: u64,
        data: &[u8],
    ) -> io::Result<()> {
        let now = q.now();
        let lost = rng.chance(self.faults.lost);
        let reorder = !lost && data.len() >= 2 && rng.chance(self.faults.reorder);
        let first_frame = if lost {
            self.lost_segment(c, d, off, data.len() as u64)?;
            None
        } else if reorder {
            self.reordered_segment(now, rng, c, d, off, data)?;
            None
        } else {
            let len = data.len() as u64;
            let f = self.segment(now, c, d, TCP_ACK | TCP_PSH, data, Some(off))?;
            self.conns[c as usize].sent[d] = off + len;
            self.account(c, d, off, len, f.unwrap_or(0), f.is_some())?;
            f
        };
        if let Some(orig) = first_frame {
            let diverge = rng.chance(self.faults.diverge);
            if diverge || rng.chance(self.faults.retransmit) {
                self.fault_count += 1;
                let delay = RTO + rng.below(100 * MS as u64) as i64;
                let data = data.to_vec();
                q.at(now + delay, TcpEvent::Resend { conn: c, dir: d, off, data, diverge, original: orig });
            }
        }
        let conn = &mut self.conns[c as usize];
        if !conn.ack_scheduled[d] {
            conn.ack_scheduled[d] = true;
            q.at(now + ACK_DELAY, TcpEvent::Ack(c, d));
        }
        Ok(())
    }

    /// A data segment sent but not captured (the peer still acknowledges it).
    fn lost_segment(&mut self, c: u32, d: Dir, off: u64, len: u64) -> io::Result<()> {
        let frame = self.wire.frames + 1;
        self.conns[c as usize].sent[d] = off + len;
        self.account(c, d, off, len, frame, false)?;
        self.fault_count += 1;
        if self.midstream_conn.is_none() {
            let id = self.conns[c as usize].id;
            self.truth.fault(&format!(
                "{{\"fault\":\"lost\",\"frame\":{frame},\"connection\":{id},\"direction\":\"{}\",\"stream_offset\":{off},\"length\":{len}}}",
                dir_name(d)
            ))?;
        }
        Ok(())
    }

    /// A data segment cut in two, the second half overtaking the first.
    fn reordered_segment(
        &mut self,
        now: i64,
        rng: &mut Rng,
        c: u32,
        d: Dir,
        off: u64,
        data: &[u8],
    ) -> io::Result<()> {
        let flags = TCP_ACK | TCP_PSH;
        let len = data.len() as u64;
        let cut = 1 + rng.below(len - 1);
        self.conns[c as usize].sent[d] = off + len;
        let f2 = self.segment(now, c, d, flags, &data[cut as usize..], Some(off + cut))?;
        let f1 = self.segment(now, c, d, flags, &data[..cut as usize], Some(off))?;
        let (a, b) = (f1.unwrap_or(0), f2.unwrap_or(0));
        self.account(c, d, off, cut, a, f1.is_some())?;
        self.account(c, d, off + cut, len - cut, b, f2.is_some())?;
        if let (Some(a), Some(b)) = (f1, f2) {
            self.fault_count += 1;
            let id = self.conns[c as usize].id;
            self.truth.fault(&format!(
                "{{\"fault\":\"reorder\",\"frame\":{a},\"connection\":{id},\"direction\":\"{}\",\"stream_offset\":{off},\"length\":{cut},\"other_frame\":{b},\"other_stream_offset\":{},\"other_length\":{}}}",
                dir_name(d),
                off + cut,
                len - cut
            ))?;
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
            self.message_done(c, d, &rec, frame)?;
        }
    }

    fn message_done(&mut self, c: u32, d: Dir, rec: &MsgRec, last_frame: u64) -> io::Result<()> {
        let wanted = self.truth.wants_messages() || (rec.fault.is_some() && self.truth.wants_faults());
        if !wanted {
            return Ok(());
        }
        let conn = &self.conns[c as usize];
        let type_name = spec::message(rec.type_id, Some(conn.version))
            .map(|s| s.name)
            .or_else(|| spec::type_name(rec.type_id))
            .unwrap_or("?");
        self.truth.message(&MessageRecord {
            connection: conn.id,
            direction: dir_name(d),
            type_name,
            type_id: rec.type_id,
            stream_offset: rec.off,
            length: rec.len,
            first_frame: rec.first_frame,
            last_frame,
            captured: rec.captured,
            fault: rec.fault,
        })
    }

    /// Closes the capture and the truth files. With `truncate`, one more acknowledgement
    /// on the first connection is written cut in half, so that the file ends inside its
    /// record. Returns the totals and the collected messages.
    pub fn finish(self, truncate: bool) -> io::Result<(Totals, Vec<GeneratedMessage>)> {
        let Tcp { conns, wire, mut truth, last_ts, messages, fault_count, faults, dropped_field, .. } = self;
        let mut totals = Totals { packets: wire.frames, bytes: wire.bytes, messages, faults: fault_count };
        if truncate {
            let c = &conns[0];
            let spec = TcpSpec {
                src: c.addr[1],
                dst: c.addr[0],
                seq: c.isn[1].wrapping_add(1 + c.sent[1] as u32 + c.fin_sent[1] as u32),
                ack: c.isn[0].wrapping_add(1 + c.sent[0] as u32 + c.fin_sent[0] as u32),
                flags: TCP_ACK,
                payload: &[],
            };
            let frame = wire.frames + 1;
            let (rec, cut) = wire.finish_truncated(last_ts + MS, &spec)?;
            totals.faults += 1;
            totals.bytes += cut;
            truth.fault(&format!(
                "{{\"fault\":\"truncate\",\"frame\":{frame},\"record_length\":{rec},\"written\":{cut}}}"
            ))?;
        } else {
            wire.finish()?;
        }
        if let Some(f) = &faults.drop_field {
            truth.fault(&f.truth_line(dropped_field))?;
        }
        let collected = truth.finish()?;
        Ok((totals, collected))
    }
}
