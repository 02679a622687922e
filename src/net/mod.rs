//! Network layers: link types, IPv4 (with fragment reassembly) and IPv6 (with extension
//! headers), TCP header slicing, and per-connection TCP stream reassembly ([`tcp`]).

mod ip;
pub mod link;
pub mod tcp;

use crate::capture::Packet;
use crate::TimestampNs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

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

/// Limits of the network decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetSettings {
    /// Most bytes held for IPv4 fragment reassembly, all datagrams together (each stored
    /// fragment also costs 64 bytes of bookkeeping). Default 4 MiB.
    pub max_fragment_bytes: usize,
    /// An incomplete datagram is dropped this long (capture time) after its first
    /// fragment. Default 30 s.
    pub fragment_timeout_ns: i64,
}

impl Default for NetSettings {
    fn default() -> Self {
        NetSettings { max_fragment_bytes: 4 * 1024 * 1024, fragment_timeout_ns: 30_000_000_000 }
    }
}

/// A packet the decoder could not take down to TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetIssue {
    /// The capture's link type is not one the decoder knows.
    UnsupportedLinktype(u32),
    /// A header is malformed or cut short. `layer` is one of "ethernet", "sll", "sll2",
    /// "null", "ip", "ipv4", "ipv6", "tcp".
    Malformed { layer: &'static str, detail: String },
    /// The fragment reassembly buffer was full: the oldest incomplete datagrams (or the
    /// new fragment, if it alone exceeds the limit) were dropped.
    FragmentLimit,
}

impl std::fmt::Display for NetIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetIssue::UnsupportedLinktype(t) => write!(
                f,
                "link type {t} is not supported (supported: Ethernet, Linux cooked SLL and SLL2, raw IP, BSD loopback)"
            ),
            NetIssue::Malformed { layer, detail } => {
                write!(f, "malformed {layer} header: {detail}")
            }
            NetIssue::FragmentLimit => write!(
                f,
                "the IPv4 fragment reassembly buffer is full, so the oldest incomplete datagrams were dropped"
            ),
        }
    }
}

impl std::error::Error for NetIssue {}

/// Takes captured packets down to TCP segments, reassembling IPv4 fragments.
///
/// IPv6 fragments are not reassembled (TCP over IPv6 does not fragment in practice):
/// they are skipped like non-TCP traffic.
pub struct NetDecoder {
    defrag: ip::Defrag,
}

impl Default for NetDecoder {
    fn default() -> Self {
        NetDecoder::new(NetSettings::default())
    }
}

impl NetDecoder {
    pub fn new(settings: NetSettings) -> Self {
        NetDecoder { defrag: ip::Defrag::new(settings.max_fragment_bytes, settings.fragment_timeout_ns) }
    }

    /// Bytes held for fragment reassembly right now.
    pub fn fragment_bytes(&self) -> usize {
        self.defrag.bytes()
    }

    /// Incomplete fragmented datagrams held right now.
    pub fn pending_datagrams(&self) -> usize {
        self.defrag.pending()
    }

    /// Slices the packet down to TCP and calls `out` with the segment: zero or one call.
    /// A fragmented datagram yields its segment when its last missing fragment arrives,
    /// with that fragment's frame number and timestamp. Non-TCP traffic (UDP, ARP,
    /// ICMP...) is `Ok(())` without a call.
    ///
    /// The segment's payload borrows the packet's bytes, except for reassembled datagrams.
    pub fn decode(&mut self, pkt: &Packet<'_>, out: &mut dyn FnMut(&TcpSegment<'_>)) -> Result<(), NetIssue> {
        self.defrag.expire(pkt.ts_ns);
        let (net, link_len) = link::strip(pkt.linktype, pkt.data)?;
        // Length of the network packet on the wire, as far as the capture says.
        let wire = (pkt.orig_len as usize).max(pkt.data.len()).saturating_sub(link_len);
        let ipo = match net {
            link::Net::Ipv4(d) => ip::ipv4(d, wire)?,
            link::Net::Ipv6(d) => ip::ipv6(d, wire)?,
            link::Net::Other => return Ok(()),
        };
        match ipo {
            ip::IpOut::Other => Ok(()),
            ip::IpOut::Tcp4 { src, dst, l4, l4_wire_len } => {
                let t = ip::tcp(l4, l4_wire_len)?;
                let (src, dst) = (Ipv4Addr::from_bits(src), Ipv4Addr::from_bits(dst));
                out(&segment(pkt, IpAddr::V4(src), IpAddr::V4(dst), &t));
                Ok(())
            }
            ip::IpOut::Tcp6 { src, dst, l4, l4_wire_len } => {
                let t = ip::tcp(l4, l4_wire_len)?;
                out(&segment(pkt, IpAddr::V6(src), IpAddr::V6(dst), &t));
                Ok(())
            }
            ip::IpOut::Fragment { key, offset, more, data } => {
                let res = self.defrag.add(pkt.ts_ns, key, offset, more, data)?;
                if let Some(buf) = res.done {
                    let t = ip::tcp(&buf, buf.len())?;
                    out(&segment(pkt, IpAddr::V4(key.src), IpAddr::V4(key.dst), &t));
                }
                if res.limit_hit {
                    Err(NetIssue::FragmentLimit)
                } else {
                    Ok(())
                }
            }
        }
    }
}

fn segment<'a>(pkt: &Packet<'_>, src: IpAddr, dst: IpAddr, t: &ip::Tcp<'a>) -> TcpSegment<'a> {
    TcpSegment {
        frame: pkt.frame,
        ts_ns: pkt.ts_ns,
        src: SocketAddr::new(src, t.src_port),
        dst: SocketAddr::new(dst, t.dst_port),
        seq: t.seq,
        ack: t.ack,
        flags: TcpFlags(t.flags),
        payload: t.payload,
        wire_payload_len: t.wire_payload_len,
    }
}

#[cfg(test)]
mod tests;
