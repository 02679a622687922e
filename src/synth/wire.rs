//! Packets to capture records: builds each TCP segment behind the chosen link layer and
//! writes it with the pcap or pcapng writer, counting frames and bytes.

use super::config::Format;
use crate::capture::build::{tcp_frame, Link, TcpSpec};
use crate::capture::write::{PcapNgWriter, PcapWriter};
use crate::TimestampNs;
use std::io::{self, Write};

const SNAPLEN: u32 = 262_144;

enum Out<W: Write> {
    Pcap(PcapWriter<W>),
    Ng(PcapNgWriter<W>),
}

pub struct Wire<W: Write> {
    out: Out<W>,
    link: Link,
    /// Frames written so far (the last frame's number).
    pub frames: u64,
    /// Capture bytes written so far.
    pub bytes: u64,
}

impl<W: Write> Wire<W> {
    pub fn new(w: W, format: Format, link: Link, ipv6: bool) -> io::Result<Self> {
        let linktype = link.linktype(ipv6);
        let (out, bytes) = match format {
            Format::Pcap => (Out::Pcap(PcapWriter::new(w, linktype, SNAPLEN)?), 24),
            Format::PcapNg => {
                let mut ng = PcapNgWriter::new(w)?;
                ng.add_interface(linktype, SNAPLEN)?;
                // Section header (28) and interface description with if_tsresol (32).
                (Out::Ng(ng), 28 + 32)
            }
        };
        Ok(Wire { out, link, frames: 0, bytes })
    }

    fn record_len(&self, data_len: usize) -> u64 {
        match self.out {
            Out::Pcap(_) => 16 + data_len as u64,
            Out::Ng(_) => 32 + data_len.div_ceil(4) as u64 * 4,
        }
    }

    /// Writes one segment; returns its frame number.
    pub fn write(&mut self, ts_ns: TimestampNs, seg: &TcpSpec<'_>) -> io::Result<u64> {
        let frame = tcp_frame(self.link, seg);
        self.write_frame(ts_ns, &frame)
    }

    /// Writes one link-layer frame built elsewhere; returns its frame number.
    pub fn write_frame(&mut self, ts_ns: TimestampNs, frame: &[u8]) -> io::Result<u64> {
        match &mut self.out {
            Out::Pcap(w) => w.write_packet(ts_ns, frame)?,
            Out::Ng(w) => w.write_packet(0, ts_ns, frame)?,
        }
        self.bytes += self.record_len(frame.len());
        self.frames += 1;
        Ok(self.frames)
    }

    /// Writes the start of one more record, cut in the middle, and closes the output.
    /// Returns (record length, bytes written of it).
    pub fn finish_truncated(self, ts_ns: TimestampNs, seg: &TcpSpec<'_>) -> io::Result<(u64, u64)> {
        let frame = tcp_frame(self.link, seg);
        let mut rec = Vec::with_capacity(frame.len() + 32);
        let (mut w, rec) = match self.out {
            Out::Pcap(w) => {
                let secs = ts_ns.div_euclid(1_000_000_000) as u32;
                let frac = ts_ns.rem_euclid(1_000_000_000) as u32;
                rec.extend_from_slice(&secs.to_le_bytes());
                rec.extend_from_slice(&frac.to_le_bytes());
                rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
                rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
                rec.extend_from_slice(&frame);
                (w.into_inner(), rec)
            }
            Out::Ng(w) => {
                let pad = frame.len().div_ceil(4) * 4 - frame.len();
                let total = (32 + frame.len() + pad) as u32;
                let units = ts_ns.max(0) as u64;
                rec.extend_from_slice(&6u32.to_le_bytes());
                rec.extend_from_slice(&total.to_le_bytes());
                rec.extend_from_slice(&0u32.to_le_bytes());
                rec.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
                rec.extend_from_slice(&(units as u32).to_le_bytes());
                rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
                rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
                rec.extend_from_slice(&frame);
                rec.extend_from_slice(&[0u8; 3][..pad]);
                rec.extend_from_slice(&total.to_le_bytes());
                (w.into_inner(), rec)
            }
        };
        let cut = rec.len() / 2;
        w.write_all(&rec[..cut])?;
        w.flush()?;
        Ok((rec.len() as u64, cut as u64))
    }

    pub fn finish(self) -> io::Result<()> {
        match self.out {
            Out::Pcap(mut w) => w.flush(),
            Out::Ng(mut w) => w.flush(),
        }
    }
}
