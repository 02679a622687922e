//! IPv4 (with fragment reassembly), IPv6 (with extension headers) and TCP header slicing.
//!
//! Checksums are not validated. Lengths in the IP header are trusted over the captured
//! length when they are smaller (Ethernet pads short frames); a total length of 0 (what
//! a capture on a host with TCP segmentation offload shows) means "as long as the frame".

use super::NetIssue;
use crate::TimestampNs;
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

fn malformed(layer: &'static str, detail: impl Into<String>) -> NetIssue {
    NetIssue::Malformed { layer, detail: detail.into() }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The transport part of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpOut<'a> {
    /// A TCP segment over IPv4: the addresses (as numbers: this value is returned through
    /// memory, and reading an `IpAddr` back field by field stalls on the narrow stores that
    /// wrote it), the captured bytes from the TCP header on, and their length on the wire.
    Tcp4 { src: u32, dst: u32, l4: &'a [u8], l4_wire_len: usize },
    /// The same over IPv6.
    Tcp6 { src: Ipv6Addr, dst: Ipv6Addr, l4: &'a [u8], l4_wire_len: usize },
    /// A fragment of a TCP-carrying IPv4 datagram.
    Fragment {
        key: FragKey,
        /// Byte offset of `data` in the datagram's payload.
        offset: u32,
        more: bool,
        data: &'a [u8],
    },
    /// Not TCP (or an IPv6 fragment, which is not reassembled).
    Other,
}

/// Identifies one IPv4 datagram being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub id: u16,
    pub proto: u8,
}

/// Slices an IPv4 packet. `wire_len` is the packet's length on the wire as far as the
/// link layer knows (never less than `data.len()`).
pub(crate) fn ipv4(data: &[u8], wire_len: usize) -> Result<IpOut<'_>, NetIssue> {
    if data.len() < 20 {
        return Err(malformed(
            "ipv4",
            format!("{} bytes captured, less than the 20-byte header", data.len()),
        ));
    }
    let ihl = (data[0] & 0x0f) as usize * 4;
    if ihl < 20 {
        return Err(malformed("ipv4", format!("header length {ihl} is below 20")));
    }
    if ihl > data.len() {
        return Err(malformed(
            "ipv4",
            format!("header of {ihl} bytes cut to {} by the snap length", data.len()),
        ));
    }
    let total = match be16(data, 2) as usize {
        0 => wire_len.max(data.len()),
        t if t < ihl => {
            return Err(malformed(
                "ipv4",
                format!("total length {t} is smaller than the header length {ihl}"),
            ))
        }
        t => t,
    };
    let end = total.min(data.len());
    let proto = data[9];
    let src = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
    let dst = Ipv4Addr::new(data[16], data[17], data[18], data[19]);
    let frag = be16(data, 6);
    let more = frag & 0x2000 != 0;
    let offset = (frag & 0x1fff) as u32 * 8;
    if proto != 6 {
        return Ok(IpOut::Other);
    }
    if more || offset != 0 {
        return Ok(IpOut::Fragment {
            key: FragKey { src, dst, id: be16(data, 4), proto },
            offset,
            more,
            data: &data[ihl..end],
        });
    }
    Ok(IpOut::Tcp4 { src: src.to_bits(), dst: dst.to_bits(), l4: &data[ihl..end], l4_wire_len: total - ihl })
}

/// Most extension headers walked before giving up (the packet length bounds the walk
/// anyway; this bounds the work on a packet of tiny headers).
const MAX_EXT_HEADERS: usize = 64;

/// Slices an IPv6 packet, walking extension headers to TCP. Fragments (other than atomic
/// fragments, offset 0 without the M flag) are not reassembled: they are reported as
/// [`IpOut::Other`].
pub(crate) fn ipv6(data: &[u8], wire_len: usize) -> Result<IpOut<'_>, NetIssue> {
    if data.len() < 40 {
        return Err(malformed(
            "ipv6",
            format!("{} bytes captured, less than the 40-byte header", data.len()),
        ));
    }
    let total = match be16(data, 4) as usize {
        // Jumbogram or segmentation offload: as long as the frame.
        0 => wire_len.max(data.len()),
        p => 40 + p,
    };
    let end = total.min(data.len());
    let mut a = [0u8; 16];
    a.copy_from_slice(&data[8..24]);
    let src = Ipv6Addr::from(a);
    a.copy_from_slice(&data[24..40]);
    let dst = Ipv6Addr::from(a);
    let mut next = data[6];
    let mut pos = 40usize;
    for _ in 0..MAX_EXT_HEADERS {
        let hdr_len = match next {
            6 => {
                if pos > end {
                    return Err(malformed("ipv6", "extension headers run past the payload"));
                }
                return Ok(IpOut::Tcp6 { src, dst, l4: &data[pos..end], l4_wire_len: total - pos });
            }
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
            0 | 43 | 60 | 135 | 139 | 140 => {
                if pos + 2 > end {
                    return Err(malformed("ipv6", format!("extension header {next} cut short")));
                }
                (data[pos + 1] as usize + 1) * 8
            }
            // Fragment header.
            44 => {
                if pos + 8 > end {
                    return Err(malformed("ipv6", "fragment header cut short"));
                }
                let fo = be16(data, pos + 2);
                if fo & 0xfff8 != 0 || fo & 1 != 0 {
                    return Ok(IpOut::Other);
                }
                8
            }
            // Authentication header: length in 4-byte units, minus 2.
            51 => {
                if pos + 2 > end {
                    return Err(malformed("ipv6", "authentication header cut short"));
                }
                (data[pos + 1] as usize + 2) * 4
            }
            _ => return Ok(IpOut::Other),
        };
        if pos + hdr_len > end {
            return Err(malformed(
                "ipv6",
                format!("extension header {next} of {hdr_len} bytes runs past the packet"),
            ));
        }
        next = data[pos];
        pos += hdr_len;
    }
    Err(malformed("ipv6", format!("more than {MAX_EXT_HEADERS} extension headers")))
}

/// A sliced TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tcp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: &'a [u8],
    pub wire_payload_len: u32,
}

/// Slices a TCP header from `l4` (captured bytes) whose length on the wire is `wire_len`.
pub(crate) fn tcp(l4: &[u8], wire_len: usize) -> Result<Tcp<'_>, NetIssue> {
    if l4.len() < 20 {
        let detail = if wire_len < 20 {
            format!("segment of {wire_len} bytes is shorter than the 20-byte header")
        } else {
            format!("header cut to {} bytes by the snap length", l4.len())
        };
        return Err(malformed("tcp", detail));
    }
    let hl = (l4[12] >> 4) as usize * 4;
    if hl < 20 {
        return Err(malformed("tcp", format!("data offset {hl} is below 20 bytes")));
    }
    if hl > wire_len {
        return Err(malformed(
            "tcp",
            format!("header of {hl} bytes is longer than the {wire_len}-byte segment"),
        ));
    }
    if hl > l4.len() {
        return Err(malformed("tcp", format!("header of {hl} bytes cut to {} by the snap length", l4.len())));
    }
    let wire_payload = wire_len - hl;
    let payload = &l4[hl..];
    let payload = &payload[..payload.len().min(wire_payload)];
    Ok(Tcp {
        src_port: be16(l4, 0),
        dst_port: be16(l4, 2),
        seq: be32(l4, 4),
        ack: be32(l4, 8),
        flags: l4[13],
        payload,
        wire_payload_len: u32::try_from(wire_payload).unwrap_or(u32::MAX),
    })
}

/// Bytes charged per stored fragment on top of its data (bookkeeping), so that a flood
/// of empty fragments also reaches the limit.
const FRAGMENT_OVERHEAD: usize = 64;
/// Most fragments kept for one datagram.
const MAX_FRAGMENTS_PER_DATAGRAM: usize = 1024;
/// Largest IPv4 datagram payload (65535 minus the minimal header).
const MAX_DATAGRAM_PAYLOAD: u32 = 65_535 - 20;

struct Datagram {
    seq: u64,
    first_ts: TimestampNs,
    /// Payload length, known once the fragment without MF has arrived.
    total: Option<u32>,
    /// (offset, bytes) in arrival order.
    pieces: Vec<(u32, Vec<u8>)>,
    cost: usize,
}

/// What adding a fragment produced.
#[derive(Debug, Default)]
pub(crate) struct FragResult {
    /// The datagram's payload, when this fragment completed it.
    pub done: Option<Vec<u8>>,
    /// The byte limit was reached and older datagrams (or this fragment) were dropped.
    pub limit_hit: bool,
}

/// IPv4 fragment reassembly, bounded in bytes and by capture time.
pub(crate) struct Defrag {
    map: HashMap<FragKey, Datagram>,
    /// Datagrams by age (creation order), for expiry and for dropping the oldest.
    order: BTreeMap<u64, FragKey>,
    next_seq: u64,
    bytes: usize,
    max_bytes: usize,
    timeout_ns: i64,
}

impl Defrag {
    pub(crate) fn new(max_bytes: usize, timeout_ns: i64) -> Self {
        Defrag { map: HashMap::new(), order: BTreeMap::new(), next_seq: 0, bytes: 0, max_bytes, timeout_ns }
    }

    /// Bytes currently held (data plus per-fragment bookkeeping).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Datagrams currently incomplete.
    pub(crate) fn pending(&self) -> usize {
        self.map.len()
    }

    fn remove(&mut self, key: &FragKey) -> Option<Datagram> {
        let d = self.map.remove(key)?;
        self.order.remove(&d.seq);
        self.bytes -= d.cost;
        Some(d)
    }

    fn drop_oldest(&mut self) -> bool {
        let Some((_, key)) = self.order.pop_first() else {
            return false;
        };
        if let Some(d) = self.map.remove(&key) {
            self.bytes -= d.cost;
        }
        true
    }

    /// Drops datagrams whose first fragment is older than the timeout at time `now`.
    pub(crate) fn expire(&mut self, now: TimestampNs) {
        while let Some((_, key)) = self.order.first_key_value() {
            let first_ts = self.map.get(key).map_or(i64::MIN, |d| d.first_ts);
            if now.saturating_sub(first_ts) <= self.timeout_ns {
                break;
            }
            self.drop_oldest();
        }
    }

    /// Adds one fragment. Where fragments overlap, the bytes that arrived first win.
    pub(crate) fn add(
        &mut self,
        now: TimestampNs,
        key: FragKey,
        offset: u32,
        more: bool,
        data: &[u8],
    ) -> Result<FragResult, NetIssue> {
        self.expire(now);
        let end = offset as u64 + data.len() as u64;
        if end > MAX_DATAGRAM_PAYLOAD as u64 {
            return Err(malformed("ipv4", format!("fragment ends at byte {end}, past the largest datagram")));
        }
        let end = end as u32;
        let mut res = FragResult::default();
        let cost = data.len() + FRAGMENT_OVERHEAD;
        if cost > self.max_bytes {
            res.limit_hit = true;
            return Ok(res);
        }
        while self.bytes + cost > self.max_bytes {
            res.limit_hit = true;
            if !self.drop_oldest() {
                break;
            }
        }
        if !self.map.contains_key(&key) {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.order.insert(seq, key);
            self.map.insert(key, Datagram { seq, first_ts: now, total: None, pieces: Vec::new(), cost: 0 });
        }
        let d = self.map.get_mut(&key).expect("inserted above");
        if d.pieces.len() >= MAX_FRAGMENTS_PER_DATAGRAM {
            self.remove(&key);
            return Err(malformed(
                "ipv4",
                format!("more than {MAX_FRAGMENTS_PER_DATAGRAM} fragments in one datagram"),
            ));
        }
        if !more && d.total.is_none() {
            d.total = Some(end);
        }
        d.pieces.push((offset, data.to_vec()));
        d.cost += cost;
        self.bytes += cost;
        if let Some(total) = d.total {
            if covers(&d.pieces, total) {
                let d = self.remove(&key).expect("present");
                let mut buf = vec![0u8; total as usize];
                // Later arrivals first, so that earlier ones overwrite them.
                for (off, bytes) in d.pieces.iter().rev() {
                    let off = *off as usize;
                    if off >= buf.len() {
                        continue;
                    }
                    let n = bytes.len().min(buf.len() - off);
                    buf[off..off + n].copy_from_slice(&bytes[..n]);
                }
                res.done = Some(buf);
            }
        }
        Ok(res)
    }
}

/// Whether the pieces cover `0..total` without a hole.
fn covers(pieces: &[(u32, Vec<u8>)], total: u32) -> bool {
    let mut iv: Vec<(u32, u32)> = pieces.iter().map(|(o, b)| (*o, *o + b.len() as u32)).collect();
    iv.sort_unstable();
    let mut reach = 0u32;
    for (s, e) in iv {
        if s > reach {
            return false;
        }
        reach = reach.max(e);
        if reach >= total {
            return true;
        }
    }
    reach >= total
}
