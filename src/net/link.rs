//! Link layers: from a captured frame to the IP packet it carries.

use super::NetIssue;

/// What a link-layer frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Net<'a> {
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    /// ARP, LLDP, an unknown EtherType or address family...
    Other,
}

pub const LINKTYPE_NULL: u32 = 0;
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW_BSD12: u32 = 12;
pub const LINKTYPE_RAW_BSD14: u32 = 14;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_LOOP: u32 = 108;
pub const LINKTYPE_LINUX_SLL: u32 = 113;
pub const LINKTYPE_IPV4: u32 = 228;
pub const LINKTYPE_IPV6: u32 = 229;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_8021Q: u16 = 0x8100;
const ETHERTYPE_8021AD: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

fn malformed(layer: &'static str, detail: impl Into<String>) -> NetIssue {
    NetIssue::Malformed { layer, detail: detail.into() }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Strips the link header. Returns the network packet and the number of link-header bytes
/// in front of it.
pub(crate) fn strip(linktype: u32, data: &[u8]) -> Result<(Net<'_>, usize), NetIssue> {
    match linktype {
        LINKTYPE_ETHERNET => {
            if data.len() < 14 {
                return Err(malformed(
                    "ethernet",
                    format!("frame of {} bytes is shorter than the 14-byte header", data.len()),
                ));
            }
            by_ethertype("ethernet", data, be16(data, 12), 14)
        }
        LINKTYPE_LINUX_SLL => {
            if data.len() < 16 {
                return Err(malformed(
                    "sll",
                    format!("frame of {} bytes is shorter than the 16-byte header", data.len()),
                ));
            }
            by_ethertype("sll", data, be16(data, 14), 16)
        }
        LINKTYPE_LINUX_SLL2 => {
            if data.len() < 20 {
                return Err(malformed(
                    "sll2",
                    format!("frame of {} bytes is shorter than the 20-byte header", data.len()),
                ));
            }
            by_ethertype("sll2", data, be16(data, 0), 20)
        }
        LINKTYPE_RAW | LINKTYPE_RAW_BSD12 | LINKTYPE_RAW_BSD14 | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            by_version(data).map(|n| (n, 0))
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            if data.len() < 4 {
                return Err(malformed(
                    "null",
                    format!("frame of {} bytes is shorter than the 4-byte header", data.len()),
                ));
            }
            // The family is in the capturing host's byte order (network order for LOOP):
            // try both.
            let raw = [data[0], data[1], data[2], data[3]];
            let le = u32::from_le_bytes(raw);
            let family = if family_known(le) { le } else { u32::from_be_bytes(raw) };
            let rest = &data[4..];
            let net = match family {
                2 => Net::Ipv4(rest),
                24 | 28 | 30 => Net::Ipv6(rest),
                _ => Net::Other,
            };
            Ok((net, 4))
        }
        other => Err(NetIssue::UnsupportedLinktype(other)),
    }
}

fn family_known(f: u32) -> bool {
    matches!(f, 2 | 24 | 28 | 30)
}

/// Raw IP: the version nibble says which.
fn by_version(data: &[u8]) -> Result<Net<'_>, NetIssue> {
    match data.first().map(|b| b >> 4) {
        Some(4) => Ok(Net::Ipv4(data)),
        Some(6) => Ok(Net::Ipv6(data)),
        Some(v) => Err(malformed("ip", format!("raw IP packet has version {v}"))),
        None => Err(malformed("ip", "raw IP packet is empty")),
    }
}

/// Follows VLAN tags (802.1Q, 802.1ad, old QinQ; any depth) to the EtherType.
fn by_ethertype<'a>(
    layer: &'static str,
    data: &'a [u8],
    mut ethertype: u16,
    mut pos: usize,
) -> Result<(Net<'a>, usize), NetIssue> {
    while matches!(ethertype, ETHERTYPE_8021Q | ETHERTYPE_8021AD | ETHERTYPE_QINQ_OLD) {
        if data.len() < pos + 4 {
            return Err(malformed(layer, "VLAN tag cut short"));
        }
        ethertype = be16(data, pos + 2);
        pos += 4;
    }
    let rest = &data[pos..];
    let net = match ethertype {
        ETHERTYPE_IPV4 => Net::Ipv4(rest),
        ETHERTYPE_IPV6 => Net::Ipv6(rest),
        _ => Net::Other,
    };
    Ok((net, pos))
}
