//! TCP stream reassembly, per connection and per direction.
//!
//! INTERFACE (implementation pending): see the types below.

use super::TcpSegment;
use crate::TimestampNs;
use std::net::SocketAddr;

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
    /// and skipped (`--max-buffered`).
    pub max_buffered_per_direction: usize,
    /// Connections tracked at once (`--max-connections`); beyond it the least recently
    /// active connection is closed (reported).
    pub max_connections: usize,
}

impl Default for ReassemblySettings {
    fn default() -> Self {
        ReassemblySettings {
            max_buffered_per_direction: 1 << 20,
            max_connections: 65_536,
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
    Data {
        conn: ConnId,
        side: Side,
        offset: u64,
        data: &'a [u8],
        frame: u64,
        ts_ns: TimestampNs,
    },
    /// Bytes `offset .. offset+len` of one direction were never captured; data resumes at
    /// `offset+len`.
    Gap {
        conn: ConnId,
        side: Side,
        offset: u64,
        len: u64,
        reason: GapReason,
        frame: u64,
        ts_ns: TimestampNs,
    },
    /// A retransmission carried bytes that differ from the first copy (first copy wins).
    Conflict {
        conn: ConnId,
        side: Side,
        offset: u64,
        len: u64,
        frame: u64,
        ts_ns: TimestampNs,
    },
    /// A setting's limit was reached (reported once per connection and setting).
    Limit {
        conn: Option<ConnId>,
        setting: &'static str,
        frame: u64,
        ts_ns: TimestampNs,
    },
    ConnectionEnd {
        conn: ConnId,
        end: ConnEnd,
        frame: u64,
        ts_ns: TimestampNs,
    },
}

/// Per-capture reassembly state.
pub struct Reassembler {
    _settings: ReassemblySettings,
}

impl Reassembler {
    pub fn new(settings: ReassemblySettings) -> Self {
        Reassembler {
            _settings: settings,
        }
    }
    /// Feed one segment; events are emitted through `out` as they become ready.
    pub fn segment(&mut self, _seg: &TcpSegment<'_>, _out: &mut dyn FnMut(StreamEvent<'_>)) {
        unimplemented!()
    }
    /// The capture ended: deliver what is buffered (reporting holes as gaps) and end every
    /// open connection with `ConnEnd::CaptureEnd`.
    pub fn finish(&mut self, _out: &mut dyn FnMut(StreamEvent<'_>)) {
        unimplemented!()
    }
}
