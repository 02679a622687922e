//! Capture writers: classic pcap (nanosecond timestamps) and pcapng.
//!
//! Both write straight to the underlying [`Write`] one record at a time and hold no
//! per-packet state, so they can produce captures of any size in constant memory. Wrap
//! the writer in a [`std::io::BufWriter`] for speed.

use crate::TimestampNs;
use std::io::{self, Write};

const NS_PER_S: i64 = 1_000_000_000;

/// Splits a timestamp into whole seconds and nanoseconds (floor division, so times before
/// 1970 keep a non-negative fraction).
fn split_ns(ts_ns: TimestampNs) -> (i64, i64) {
    (ts_ns.div_euclid(NS_PER_S), ts_ns.rem_euclid(NS_PER_S))
}

/// Classic pcap writer: little-endian, nanosecond magic (`a1b23c4d`), version 2.4.
pub struct PcapWriter<W: Write> {
    w: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header. `snaplen` also caps the bytes written per packet.
    pub fn new(mut w: W, linktype: u32, snaplen: u32) -> io::Result<Self> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&linktype.to_le_bytes());
        w.write_all(&h)?;
        Ok(PcapWriter { w, snaplen })
    }

    /// Writes one packet; bytes beyond the snap length are cut (the original length is
    /// still recorded).
    pub fn write_packet(&mut self, ts_ns: TimestampNs, data: &[u8]) -> io::Result<()> {
        let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.write_packet_with_orig_len(ts_ns, data, orig)
    }

    /// Writes one packet whose wire length `orig_len` may exceed `data.len()`.
    pub fn write_packet_with_orig_len(
        &mut self,
        ts_ns: TimestampNs,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let incl = data.len().min(self.snaplen as usize);
        let (sec, frac) = split_ns(ts_ns);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&(sec as u32).to_le_bytes());
        h[4..8].copy_from_slice(&(frac as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(incl as u32).to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.max(incl as u32).to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(&data[..incl])
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    pub fn into_inner(self) -> W {
        self.w
    }
}

/// Timestamp settings of one pcapng interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsFormat {
    /// `if_tsresol` byte: `n` means units of 10^-n s, `0x80 | n` units of 2^-n s.
    pub tsresol: u8,
    /// `if_tsoffset`: seconds added to every timestamp of the interface.
    pub tsoffset_s: i64,
}

impl Default for TsFormat {
    /// Nanoseconds, no offset.
    fn default() -> Self {
        TsFormat { tsresol: 9, tsoffset_s: 0 }
    }
}

impl TsFormat {
    /// Converts nanoseconds since the epoch to this interface's units (0 for times before
    /// the offset).
    fn units(&self, ts_ns: TimestampNs) -> u64 {
        let rel = ts_ns as i128 - self.tsoffset_s as i128 * NS_PER_S as i128;
        if rel <= 0 {
            return 0;
        }
        let rel = rel as u128;
        let exp = (self.tsresol & 0x7f) as u32;
        let units = if self.tsresol & 0x80 != 0 {
            (rel << exp.min(63)) / NS_PER_S as u128
        } else if exp >= 9 {
            rel * 10u128.pow(exp.min(19) - 9)
        } else {
            rel / 10u128.pow(9 - exp)
        };
        u64::try_from(units).unwrap_or(u64::MAX)
    }
}

#[derive(Debug, Clone, Copy)]
struct NgIface {
    snaplen: u32,
    ts: TsFormat,
}

/// pcapng writer (little-endian). [`PcapNgWriter::new`] starts a section; add interfaces
/// with [`PcapNgWriter::add_interface`] before writing packets on them.
pub struct PcapNgWriter<W: Write> {
    w: W,
    ifaces: Vec<NgIface>,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

impl<W: Write> PcapNgWriter<W> {
    /// Writes a Section Header Block.
    pub fn new(w: W) -> io::Result<Self> {
        let mut me = PcapNgWriter { w, ifaces: vec![] };
        me.start_section()?;
        Ok(me)
    }

    /// Starts a new section (a new SHB); interfaces of the previous section are forgotten.
    pub fn start_section(&mut self) -> io::Result<()> {
        let mut body = Vec::with_capacity(16);
        body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes()); // section length unknown
        self.ifaces.clear();
        self.write_block(0x0A0D_0D0A, &body)
    }

    /// Adds an interface with nanosecond timestamps (`if_tsresol` = 9); returns its id.
    pub fn add_interface(&mut self, linktype: u32, snaplen: u32) -> io::Result<u32> {
        self.add_interface_with(linktype, snaplen, TsFormat::default())
    }

    /// Adds an interface with the given timestamp resolution and offset; returns its id.
    pub fn add_interface_with(&mut self, linktype: u32, snaplen: u32, ts: TsFormat) -> io::Result<u32> {
        let mut body = Vec::with_capacity(40);
        body.extend_from_slice(&(linktype as u16).to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&snaplen.to_le_bytes());
        // if_tsresol (code 9), 1 byte + 3 padding.
        body.extend_from_slice(&9u16.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[ts.tsresol, 0, 0, 0]);
        if ts.tsoffset_s != 0 {
            // if_tsoffset (code 14), 8 bytes.
            body.extend_from_slice(&14u16.to_le_bytes());
            body.extend_from_slice(&8u16.to_le_bytes());
            body.extend_from_slice(&ts.tsoffset_s.to_le_bytes());
        }
        body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        self.write_block(1, &body)?;
        self.ifaces.push(NgIface { snaplen, ts });
        Ok(self.ifaces.len() as u32 - 1)
    }

    /// Writes an Enhanced Packet Block on `interface`.
    pub fn write_packet(&mut self, interface: u32, ts_ns: TimestampNs, data: &[u8]) -> io::Result<()> {
        let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.write_packet_with_orig_len(interface, ts_ns, data, orig)
    }

    /// Writes an Enhanced Packet Block whose wire length `orig_len` may exceed
    /// `data.len()`. Bytes beyond the interface's snap length are cut.
    pub fn write_packet_with_orig_len(
        &mut self,
        interface: u32,
        ts_ns: TimestampNs,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let iface = *self.ifaces.get(interface as usize).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("pcapng interface {interface} was not added"))
        })?;
        let mut cap = data.len();
        if iface.snaplen != 0 {
            cap = cap.min(iface.snaplen as usize);
        }
        let units = iface.ts.units(ts_ns);
        let mut head = [0u8; 20];
        head[0..4].copy_from_slice(&interface.to_le_bytes());
        head[4..8].copy_from_slice(&((units >> 32) as u32).to_le_bytes());
        head[8..12].copy_from_slice(&(units as u32).to_le_bytes());
        head[12..16].copy_from_slice(&(cap as u32).to_le_bytes());
        head[16..20].copy_from_slice(&orig_len.max(cap as u32).to_le_bytes());
        self.write_block_parts(6, &[&head, &data[..cap]])
    }

    /// Writes a Simple Packet Block (always interface 0, no timestamp).
    pub fn write_simple_packet(&mut self, data: &[u8]) -> io::Result<()> {
        let orig = (data.len() as u32).to_le_bytes();
        self.write_block_parts(3, &[&orig, data])
    }

    /// Writes a block of any type; `body` is padded to a multiple of 4 bytes.
    pub fn write_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        self.write_block_parts(block_type, &[body])
    }

    fn write_block_parts(&mut self, block_type: u32, parts: &[&[u8]]) -> io::Result<()> {
        let body_len: usize = parts.iter().map(|p| p.len()).sum();
        let total = 12 + body_len + pad4(body_len);
        let total = u32::try_from(total)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pcapng block too large"))?;
        self.w.write_all(&block_type.to_le_bytes())?;
        self.w.write_all(&total.to_le_bytes())?;
        for p in parts {
            self.w.write_all(p)?;
        }
        self.w.write_all(&[0u8; 3][..pad4(body_len)])?;
        self.w.write_all(&total.to_le_bytes())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    pub fn into_inner(self) -> W {
        self.w
    }
}
