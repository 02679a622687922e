//! Network layers: link types, IPv4 (with fragment reassembly) and IPv6 (with extension
//! headers), TCP header slicing, and per-connection TCP stream reassembly ([`tcp`]).

pub mod tcp;

use crate::TimestampNs;
use std::net::SocketAddr;

/// TCP header flags (the low 8 bits of the flags field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// One TCP segment sliced out of a packet.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub frame: u64,
    pub ts_ns: TimestampNs,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload length according to the IP header. Larger than `payload.len()` when the
    /// snap length cut the packet: the missing bytes are a gap for reassembly.
    pub wire_payload_len: u32,
}
