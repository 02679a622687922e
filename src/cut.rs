//! Cutting a capture (`decode -w OUT`): the packets that carried the selected messages, or
//! every packet of the connections that hold one (`--whole-connections`), written to a new
//! pcapng file that ctiscope and Wireshark read on their own.
//!
//! Two passes over the input: the decode pass records, per TCP connection (its address
//! pair), the frame ranges to keep ([`Cut::message`], [`Cut::connection`]); the second pass
//! ([`Cut::write`]) reads the capture again and copies each packet of a kept connection that
//! falls in one of its ranges, with its original timestamp, link type and length. A
//! connection kept whole also keeps the payload-less packets that close it (the last ACKs
//! after the FIN or RST).
//!
//! What is kept is bounded by what was selected: one range per message, merged with the
//! previous one of its connection when they touch.

use crate::capture::write::PcapNgWriter;
use crate::capture::{read_path, Packet};
use crate::net::{NetDecoder, NetSettings};
use std::collections::HashMap;
use std::io::{self, BufWriter};
use std::net::SocketAddr;

/// A connection's address pair, the lower address first.
type Key = (SocketAddr, SocketAddr);

fn key(a: SocketAddr, b: SocketAddr) -> Key {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// What one connection keeps.
#[derive(Debug, Default)]
struct Keep {
    /// Inclusive frame ranges, ascending.
    ranges: Vec<(u64, u64)>,
    /// Kept whole from this frame on: also the payload-less packets after its last range.
    whole_from: Option<u64>,
}

/// The frames to keep, by connection.
#[derive(Debug, Default)]
pub struct Cut {
    keep: HashMap<Key, Keep>,
}

/// What [`Cut::write`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub packets: u64,
    pub bytes: u64,
}

impl Cut {
    pub fn new() -> Self {
        Cut::default()
    }

    /// Nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.keep.is_empty()
    }

    /// Keep the packets of connection `a`-`b` from frame `first` to `last` (a message's).
    pub fn message(&mut self, a: SocketAddr, b: SocketAddr, first: u64, last: u64) {
        let k = self.keep.entry(key(a, b)).or_default();
        let (first, last) = (first.min(last), first.max(last));
        match k.ranges.last_mut() {
            Some(r) if first <= r.1.saturating_add(1) && last >= r.0 => {
                r.0 = r.0.min(first);
                r.1 = r.1.max(last);
            }
            _ => k.ranges.push((first, last)),
        }
    }

    /// Keep every packet of connection `a`-`b` from its first frame `start` to its end
    /// `end`, and the payload-less packets that follow it.
    pub fn connection(&mut self, a: SocketAddr, b: SocketAddr, start: u64, end: u64) {
        self.message(a, b, start, end);
        let k = self.keep.get_mut(&key(a, b)).expect("just added");
        k.whole_from = Some(k.whole_from.map_or(start, |w| w.min(start)));
        k.ranges.sort_unstable();
        // Merge what overlaps now.
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(k.ranges.len());
        for &(a, b) in &k.ranges {
            match merged.last_mut() {
                Some(r) if a <= r.1.saturating_add(1) => r.1 = r.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        k.ranges = merged;
    }

    /// Whether a packet of connection `k` at `frame` is kept.
    fn keeps(&self, k: &Key, frame: u64, payload: bool) -> bool {
        let Some(keep) = self.keep.get(k) else { return false };
        let i = keep.ranges.partition_point(|r| r.1 < frame);
        if keep.ranges.get(i).is_some_and(|r| r.0 <= frame) {
            return true;
        }
        // A connection kept whole: its closing ACKs after the FIN or RST.
        !payload && keep.whole_from.is_some_and(|w| frame >= w)
    }

    /// Read `input` again and write the kept packets to `out` (pcapng).
    pub fn write(&self, input: &str, out: &str, net: NetSettings) -> io::Result<Result<Written, String>> {
        let file = std::fs::File::create(out).map_err(|e| io::Error::new(e.kind(), format!("{out}: {e}")))?;
        let mut w = PcapNgWriter::new(BufWriter::with_capacity(1 << 20, file))?;
        let mut ifaces: Vec<u32> = Vec::new();
        let mut decoder = NetDecoder::new(net);
        let mut written = Written::default();
        let mut err: Option<io::Error> = None;
        let res = read_path(input, &mut |pkt: &Packet<'_>| {
            if err.is_some() {
                return;
            }
            let mut keep = false;
            let _ = decoder.decode(pkt, &mut |seg| {
                keep |= self.keeps(&key(seg.src, seg.dst), pkt.frame, !seg.payload.is_empty());
            });
            if !keep {
                return;
            }
            let iface = match ifaces.iter().position(|&l| l == pkt.linktype) {
                Some(i) => i as u32,
                None => match w.add_interface(pkt.linktype, 262_144) {
                    Ok(i) => {
                        ifaces.push(pkt.linktype);
                        i
                    }
                    Err(e) => {
                        err = Some(e);
                        return;
                    }
                },
            };
            match w.write_packet_with_orig_len(iface, pkt.ts_ns, pkt.data, pkt.orig_len) {
                Ok(()) => {
                    written.packets += 1;
                    written.bytes += pkt.data.len() as u64;
                }
                Err(e) => err = Some(e),
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        w.flush()?;
        Ok(match res {
            Ok(_) => Ok(written),
            Err(e) => Err(e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_merge_and_select() {
        let (a, b) = (addr("10.0.0.1:5000"), addr("10.0.0.2:42027"));
        let mut c = Cut::new();
        c.message(a, b, 10, 12);
        c.message(b, a, 13, 13);
        c.message(a, b, 20, 21);
        let k = key(a, b);
        assert_eq!(c.keep[&k].ranges, [(10, 13), (20, 21)]);
        assert!(c.keeps(&k, 11, true) && c.keeps(&k, 13, false) && c.keeps(&k, 21, true));
        assert!(!c.keeps(&k, 9, true) && !c.keeps(&k, 15, true) && !c.keeps(&k, 22, false));
        assert!(!c.keeps(&key(a, addr("10.0.0.3:42027")), 11, true));
        // Whole: the closing ACKs after its end are kept, payload after it is not.
        c.connection(a, b, 5, 30);
        assert_eq!(c.keep[&k].ranges, [(5, 30)]);
        assert!(c.keeps(&k, 31, false));
        assert!(!c.keeps(&k, 31, true));
        assert!(!c.keeps(&k, 4, false));
    }
}
