//! Building packets: IPv4/IPv6 + TCP behind any supported link type, and IPv4
//! fragmentation. Used to write synthetic captures with [`super::write`].
//!
//! Checksums are filled in by etherparse for the IP and TCP layers it builds; link
//! headers it does not support (SLL2, BSD NULL, raw IP) are prepended by hand.

use etherparse::{
    IpHeaders, IpNumber, Ipv4Header, Ipv6Header, LinuxSllPacketType, PacketBuilder, TcpHeader, VlanId,
};
use std::net::{IpAddr, SocketAddr};

/// Link layer to put in front of the IP packet. Each variant maps to one LINKTYPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// Ethernet with one 802.1Q tag (VLAN id).
    Vlan(u16),
    /// Ethernet with an 802.1ad outer tag and an 802.1Q inner tag (outer, inner VLAN id).
    QinQ(u16, u16),
    /// LINKTYPE_LINUX_SLL (113), 16-byte header.
    Sll,
    /// LINKTYPE_LINUX_SLL2 (276), 20-byte header.
    Sll2,
    /// LINKTYPE_RAW (101): the packet starts with the IP header.
    Raw,
    /// LINKTYPE_IPV4 (228) or LINKTYPE_IPV6 (229), chosen by the IP version.
    RawVersioned,
    /// LINKTYPE_NULL (0): 4-byte address family in the writing host's byte order
    /// (little-endian here).
    Null,
}

impl Link {
    /// LINKTYPE value for a packet of this link type carrying the given IP version.
    pub fn linktype(self, ipv6: bool) -> u32 {
        match self {
            Link::Ethernet | Link::Vlan(_) | Link::QinQ(..) => 1,
            Link::Sll => 113,
            Link::Sll2 => 276,
            Link::Raw => 101,
            Link::RawVersioned if ipv6 => 229,
            Link::RawVersioned => 228,
            Link::Null => 0,
        }
    }
}

const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// One TCP segment to build.
#[derive(Debug, Clone, Copy)]
pub struct TcpSpec<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    /// TCP flag bits ([`crate::net::TcpFlags`] constants).
    pub flags: u8,
    pub payload: &'a [u8],
}

fn tcp_header(s: &TcpSpec<'_>) -> TcpHeader {
    let mut h = TcpHeader::new(s.src.port(), s.dst.port(), s.seq, 65535);
    h.acknowledgment_number = s.ack;
    h.fin = s.flags & 0x01 != 0;
    h.syn = s.flags & 0x02 != 0;
    h.rst = s.flags & 0x04 != 0;
    h.psh = s.flags & 0x08 != 0;
    h.ack = s.flags & 0x10 != 0;
    h.urg = s.flags & 0x20 != 0;
    h.ece = s.flags & 0x40 != 0;
    h.cwr = s.flags & 0x80 != 0;
    h
}

/// IP header for the spec. Panics if source and destination are of different families.
fn ip_headers(s: &TcpSpec<'_>) -> IpHeaders {
    match (s.src.ip(), s.dst.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            // The payload length is set by the builder when writing.
            let h = Ipv4Header::new(0, 64, IpNumber::TCP, a.octets(), b.octets())
                .expect("zero payload length is valid");
            IpHeaders::Ipv4(h, Default::default())
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => IpHeaders::Ipv6(
            Ipv6Header {
                next_header: IpNumber::TCP,
                hop_limit: 64,
                source: a.octets(),
                destination: b.octets(),
                ..Default::default()
            },
            Default::default(),
        ),
        _ => panic!("TcpSpec: source and destination must be the same IP version"),
    }
}

/// Builds the IP packet (IPv4 or IPv6 by the addresses) carrying the TCP segment.
///
/// Panics if the addresses mix IPv4 and IPv6 or the payload does not fit an IP packet.
pub fn tcp_ip_packet(s: &TcpSpec<'_>) -> Vec<u8> {
    let b = PacketBuilder::ip(ip_headers(s)).tcp_header(tcp_header(s));
    let mut out = Vec::with_capacity(b.size(s.payload.len()));
    b.write(&mut out, s.payload).expect("packet fits");
    out
}

/// Builds a complete frame for `link` carrying the TCP segment. etherparse builds the
/// Ethernet, VLAN and SLL headers; the others are prepended by [`wrap_ip`].
pub fn tcp_frame(link: Link, s: &TcpSpec<'_>) -> Vec<u8> {
    let ip = ip_headers(s);
    let tcp = tcp_header(s);
    let vid = |v: u16| VlanId::try_new(v & 0x0fff).expect("masked to 12 bits");
    let mut out = Vec::new();
    match link {
        Link::Ethernet => {
            PacketBuilder::ethernet2(SRC_MAC, DST_MAC).ip(ip).tcp_header(tcp).write(&mut out, s.payload)
        }
        Link::Vlan(v) => PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
            .single_vlan(vid(v))
            .ip(ip)
            .tcp_header(tcp)
            .write(&mut out, s.payload),
        Link::QinQ(o, i) => PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
            .double_vlan(vid(o), vid(i))
            .ip(ip)
            .tcp_header(tcp)
            .write(&mut out, s.payload),
        Link::Sll => {
            let mut addr = [0u8; 8];
            addr[..6].copy_from_slice(&SRC_MAC);
            PacketBuilder::linux_sll(LinuxSllPacketType::OUTGOING, 6, addr)
                .ip(ip)
                .tcp_header(tcp)
                .write(&mut out, s.payload)
        }
        Link::Sll2 | Link::Raw | Link::RawVersioned | Link::Null => {
            return wrap_ip(link, &tcp_ip_packet(s));
        }
    }
    .expect("packet fits");
    out
}

/// Puts a hand-built link header for `link` in front of an IP packet (any IP version,
/// any transport). The EtherType / family comes from the IP version nibble.
pub fn wrap_ip(link: Link, ip: &[u8]) -> Vec<u8> {
    let v6 = ip.first().map(|b| b >> 4) == Some(6);
    let ethertype: u16 = if v6 { 0x86dd } else { 0x0800 };
    let mut out = Vec::with_capacity(ip.len() + 22);
    match link {
        Link::Ethernet | Link::Vlan(_) | Link::QinQ(..) => {
            out.extend_from_slice(&DST_MAC);
            out.extend_from_slice(&SRC_MAC);
            match link {
                Link::Vlan(v) => {
                    out.extend_from_slice(&0x8100u16.to_be_bytes());
                    out.extend_from_slice(&(v & 0x0fff).to_be_bytes());
                }
                Link::QinQ(o, i) => {
                    out.extend_from_slice(&0x88a8u16.to_be_bytes());
                    out.extend_from_slice(&(o & 0x0fff).to_be_bytes());
                    out.extend_from_slice(&0x8100u16.to_be_bytes());
                    out.extend_from_slice(&(i & 0x0fff).to_be_bytes());
                }
                _ => {}
            }
            out.extend_from_slice(&ethertype.to_be_bytes());
        }
        Link::Sll => {
            out.extend_from_slice(&4u16.to_be_bytes()); // packet type: outgoing
            out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
            out.extend_from_slice(&6u16.to_be_bytes()); // address length
            out.extend_from_slice(&SRC_MAC);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&ethertype.to_be_bytes());
        }
        Link::Sll2 => {
            out.extend_from_slice(&ethertype.to_be_bytes());
            out.extend_from_slice(&[0, 0]); // reserved
            out.extend_from_slice(&2u32.to_be_bytes()); // interface index
            out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
            out.push(4); // packet type: outgoing
            out.push(6); // address length
            out.extend_from_slice(&SRC_MAC);
            out.extend_from_slice(&[0, 0]);
        }
        Link::Null => {
            let family: u32 = if v6 { 30 } else { 2 };
            out.extend_from_slice(&family.to_le_bytes());
        }
        Link::Raw | Link::RawVersioned => {}
    }
    out.extend_from_slice(ip);
    out
}

/// Inserts an 8-byte hop-by-hop options header (one PadN option) right after the fixed
/// IPv6 header of `ip`. Returns `None` if `ip` is not an IPv6 packet.
pub fn add_ipv6_hop_by_hop(ip: &[u8]) -> Option<Vec<u8>> {
    if ip.len() < 40 || ip[0] >> 4 != 6 {
        return None;
    }
    let mut out = Vec::with_capacity(ip.len() + 8);
    out.extend_from_slice(&ip[..40]);
    let next = out[6];
    out[6] = 0; // next header: hop-by-hop
    let plen = u16::from_be_bytes([out[4], out[5]]).wrapping_add(8);
    out[4..6].copy_from_slice(&plen.to_be_bytes());
    out.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    out.extend_from_slice(&ip[40..]);
    Some(out)
}

/// Splits an IPv4 packet into fragments carrying at most `max_data` bytes of IP payload
/// each (rounded down to a multiple of 8, at least 8). The header (options included) is
/// copied to every fragment; total length, flags, offset and header checksum are
/// rewritten. Returns `None` if `ip` is not a well-formed IPv4 packet.
pub fn fragment_ipv4(ip: &[u8], max_data: usize) -> Option<Vec<Vec<u8>>> {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = (ip[0] & 0x0f) as usize * 4;
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    if ihl < 20 || total < ihl || total > ip.len() {
        return None;
    }
    let step = (max_data / 8).max(1) * 8;
    let data = &ip[ihl..total];
    let orig_flags = u16::from_be_bytes([ip[6], ip[7]]);
    let orig_mf = orig_flags & 0x2000 != 0;
    let base_off = (orig_flags & 0x1fff) as usize;
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let end = (at + step).min(data.len());
        let last = end == data.len();
        let mut frag = Vec::with_capacity(ihl + end - at);
        frag.extend_from_slice(&ip[..ihl]);
        frag.extend_from_slice(&data[at..end]);
        let len = frag.len() as u16;
        frag[2..4].copy_from_slice(&len.to_be_bytes());
        let mf = !last || orig_mf;
        let off = (base_off + at / 8) as u16 & 0x1fff;
        // DF is cleared: the packet is being fragmented.
        let flags = if mf { 0x2000 } else { 0 } | off;
        frag[6..8].copy_from_slice(&flags.to_be_bytes());
        frag[10..12].copy_from_slice(&[0, 0]);
        let sum = ipv4_checksum(&frag[..ihl]);
        frag[10..12].copy_from_slice(&sum.to_be_bytes());
        out.push(frag);
        if last {
            return Some(out);
        }
        at = end;
    }
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in h.chunks(2) {
        let w = if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], 0]) };
        sum += w as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
