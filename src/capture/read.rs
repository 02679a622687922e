//! The capture reader: one parser for classic pcap and pcapng that runs over a
//! [`Source`], either a borrowed slice (memory-mapped file, zero copy) or a refill buffer
//! over any [`Read`] (stdin, pipes, gzip).
//!
//! Limits, so that no input can make the reader allocate without bound:
//! - a classic pcap record larger than [`MAX_PCAP_RECORD`] bytes is `Malformed`;
//! - a pcapng block larger than [`MAX_PCAPNG_BLOCK`] bytes is `Malformed`;
//! - a pcapng section with more than [`MAX_INTERFACES`] interfaces is `Malformed`.
//!
//! The streaming buffer therefore never grows beyond the largest record allowed.

use super::{CaptureError, CaptureErrorKind, CaptureFormat, CaptureInfo, Packet};
use pcap_parser::pcapng::{
    parse_enhancedpacketblock_be, parse_enhancedpacketblock_le, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock, OptionCode,
};
use std::io::Read;

/// Largest `incl_len` accepted in a classic pcap record (256 KiB, the largest snap length
/// tcpdump uses).
pub const MAX_PCAP_RECORD: u32 = 256 * 1024;
/// Largest pcapng block accepted (16 MiB).
pub const MAX_PCAPNG_BLOCK: u32 = 16 * 1024 * 1024;
/// Largest number of interfaces accepted in one pcapng section.
pub const MAX_INTERFACES: usize = 65_536;

/// Smallest amount requested from the underlying reader on a refill.
const READ_CHUNK: usize = 64 * 1024;

/// Where the parser gets its bytes.
pub(crate) trait Source {
    /// Makes up to `n` bytes available from the current position and returns them; the
    /// result is shorter than `n` only at the end of the input.
    fn fill(&mut self, n: usize) -> std::io::Result<&[u8]>;
    /// Moves the current position forward by `n` bytes (at most what `fill` returned).
    fn consume(&mut self, n: usize);
    /// Current position in the input.
    fn offset(&self) -> u64;
}

/// A whole input already in memory.
pub(crate) struct SliceSource<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> SliceSource<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        SliceSource { data, pos: 0 }
    }
}

impl Source for SliceSource<'_> {
    fn fill(&mut self, n: usize) -> std::io::Result<&[u8]> {
        let end = self.pos.saturating_add(n).min(self.data.len());
        Ok(&self.data[self.pos..end])
    }
    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.data.len());
    }
    fn offset(&self) -> u64 {
        self.pos as u64
    }
}

/// A reader with a buffer that holds at most one record (plus one read chunk).
pub(crate) struct StreamSource<'r> {
    r: &'r mut dyn Read,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    offset: u64,
    eof: bool,
}

impl<'r> StreamSource<'r> {
    pub(crate) fn new(r: &'r mut dyn Read) -> Self {
        StreamSource { r, buf: Vec::new(), start: 0, end: 0, offset: 0, eof: false }
    }

    /// The bytes read from the reader but not yet consumed.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

impl Source for StreamSource<'_> {
    fn fill(&mut self, n: usize) -> std::io::Result<&[u8]> {
        if self.end - self.start < n && !self.eof {
            // Move what is left to the front, then grow the buffer to fit `n` bytes.
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let want = n.max(READ_CHUNK);
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            while self.end < n {
                match self.r.read(&mut self.buf[self.end..]) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(k) => self.end += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let avail = (self.end - self.start).min(n);
        Ok(&self.buf[self.start..self.start + avail])
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }
    fn offset(&self) -> u64 {
        self.offset
    }
}

/// Parser state shared by both formats.
struct Ctx<'n> {
    name: &'n str,
    gzip: bool,
    /// Number the next packet will get.
    frame: u64,
}

impl Ctx<'_> {
    fn err(&self, offset: u64, kind: CaptureErrorKind) -> CaptureError {
        CaptureError { input: self.name.to_string(), frame: self.frame, offset, kind }
    }
    fn io_err(&self, offset: u64, e: std::io::Error) -> CaptureError {
        let kind = if self.gzip && offset > 0 && e.to_string().contains("invalid gzip header") {
            // The decoder finished a gzip member and found no other after it.
            CaptureErrorKind::Gzip(
                "trailing garbage: bytes after the end of the gzip data are not gzip (every packet before them was read)".into(),
            )
        } else if self.gzip {
            CaptureErrorKind::Gzip(e.to_string())
        } else {
            CaptureErrorKind::Io(e.to_string())
        };
        self.err(offset, kind)
    }
    fn truncated(&self, offset: u64, expected: &'static str) -> CaptureError {
        self.err(offset, CaptureErrorKind::Truncated { expected })
    }
    fn malformed(&self, offset: u64, msg: String) -> CaptureError {
        self.err(offset, CaptureErrorKind::Malformed(msg))
    }
}

/// What the first four bytes say.
pub(crate) enum Magic {
    Gzip,
    Pcap { big_endian: bool, nanos: bool },
    PcapNg,
    Unknown([u8; 4]),
}

pub(crate) fn magic(b: &[u8]) -> Magic {
    if b.len() >= 2 && b[0] == 0x1f && b[1] == 0x8b {
        return Magic::Gzip;
    }
    let mut m = [0u8; 4];
    let k = b.len().min(4);
    m[..k].copy_from_slice(&b[..k]);
    match m {
        [0xd4, 0xc3, 0xb2, 0xa1] => Magic::Pcap { big_endian: false, nanos: false },
        [0xa1, 0xb2, 0xc3, 0xd4] => Magic::Pcap { big_endian: true, nanos: false },
        [0x4d, 0x3c, 0xb2, 0xa1] => Magic::Pcap { big_endian: false, nanos: true },
        [0xa1, 0xb2, 0x3c, 0x4d] => Magic::Pcap { big_endian: true, nanos: true },
        [0x0a, 0x0d, 0x0d, 0x0a] => Magic::PcapNg,
        other => Magic::Unknown(other),
    }
}

/// Parses a plain (not compressed) capture from `src`. A gzip magic here is reported as
/// an unknown format (the caller has already removed one gzip layer, if any).
pub(crate) fn run<S: Source>(
    name: &str,
    src: &mut S,
    gzip: bool,
    f: &mut dyn FnMut(&Packet<'_>),
) -> Result<CaptureInfo, CaptureError> {
    let mut ctx = Ctx { name, gzip, frame: 1 };
    super::clear_stop();
    let head = src.fill(4).map_err(|e| ctx.io_err(0, e))?;
    if head.is_empty() {
        return Err(ctx.err(0, CaptureErrorKind::Empty));
    }
    let m = magic(head);
    let short = head.len() < 4;
    let format = match m {
        Magic::Pcap { big_endian, nanos } => {
            pcap(&mut ctx, src, big_endian, nanos, f)?;
            CaptureFormat::Pcap
        }
        Magic::PcapNg => {
            pcapng(&mut ctx, src, f)?;
            CaptureFormat::PcapNg
        }
        Magic::Gzip => {
            let mut magic = [0u8; 4];
            magic[..2].copy_from_slice(&[0x1f, 0x8b]);
            return Err(ctx.err(0, CaptureErrorKind::UnknownFormat { magic }));
        }
        Magic::Unknown(_) if short => {
            return Err(ctx.truncated(0, "capture file header"));
        }
        Magic::Unknown(magic) => {
            return Err(ctx.err(0, CaptureErrorKind::UnknownFormat { magic }));
        }
    };
    Ok(CaptureInfo { format, gzip, packets: ctx.frame - 1, bytes: src.offset() })
}

fn u32_at(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn u16_at(b: &[u8], at: usize, big_endian: bool) -> u16 {
    let a = [b[at], b[at + 1]];
    if big_endian {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

/// Ask for the bytes a few records ahead to be brought into the cache: each record's
/// position depends on the length in the one before it, so the reader would otherwise wait
/// for memory at every record of a mapped file that is not in the CPU caches.
#[inline(always)]
fn prefetch_ahead(rec: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = rec.as_ptr().wrapping_add(4096) as *const i8;
        // SAFETY: a prefetch is a hint with no effect on memory or program state; any
        // address, mapped or not, is allowed. SSE is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
    }
}

/// Classic pcap: 24-byte global header, then 16-byte record headers each followed by
/// `incl_len` bytes.
fn pcap<S: Source>(
    ctx: &mut Ctx<'_>,
    src: &mut S,
    be: bool,
    nanos: bool,
    f: &mut dyn FnMut(&Packet<'_>),
) -> Result<(), CaptureError> {
    let hdr = src.fill(24).map_err(|e| ctx.io_err(0, e))?;
    if hdr.len() < 24 {
        return Err(ctx.truncated(0, "pcap global header"));
    }
    // The link type is the low 16 bits; the upper bits carry FCS information.
    let linktype = u32_at(hdr, 20, be) & 0xffff;
    src.consume(24);
    let frac_ns: i64 = if nanos { 1 } else { 1000 };
    loop {
        if super::stop_requested() {
            return Ok(());
        }
        let off = src.offset();
        let rh = src.fill(16).map_err(|e| ctx.io_err(off, e))?;
        if rh.is_empty() {
            return Ok(());
        }
        if rh.len() < 16 {
            return Err(ctx.truncated(off, "pcap record header"));
        }
        let ts_sec = u32_at(rh, 0, be) as i64;
        let ts_frac = u32_at(rh, 4, be) as i64;
        let incl_len = u32_at(rh, 8, be);
        let orig_len = u32_at(rh, 12, be);
        if incl_len > MAX_PCAP_RECORD {
            return Err(ctx.malformed(
                off,
                format!("pcap record length {incl_len} exceeds the {MAX_PCAP_RECORD}-byte limit"),
            ));
        }
        let total = 16 + incl_len as usize;
        let rec = src.fill(total).map_err(|e| ctx.io_err(off, e))?;
        if rec.len() < total {
            return Err(ctx.truncated(off + 16, "pcap record data"));
        }
        prefetch_ahead(rec);
        f(&Packet {
            frame: ctx.frame,
            ts_ns: ts_sec * 1_000_000_000 + ts_frac * frac_ns,
            linktype,
            data: &rec[16..],
            orig_len,
        });
        ctx.frame += 1;
        src.consume(total);
    }
}

/// One pcapng interface.
#[derive(Debug, Clone, Copy)]
struct Iface {
    linktype: u32,
    snaplen: u32,
    /// Timestamp units per second are `10^exp` (`pow2 == false`) or `2^exp`.
    resol_exp: u8,
    resol_pow2: bool,
    offset_s: i64,
}

impl Iface {
    /// Converts a timestamp in interface units to nanoseconds since the epoch, saturating
    /// at the ends of the `i64` range.
    fn ts_ns(&self, units: u64) -> i64 {
        let units = units as u128;
        let ns: u128 = if self.resol_pow2 {
            (units * 1_000_000_000) >> self.resol_exp
        } else if self.resol_exp <= 9 {
            units * 10u128.pow(9 - self.resol_exp as u32)
        } else {
            units / 10u128.pow(self.resol_exp as u32 - 9)
        };
        let ns = i64::try_from(ns).unwrap_or(i64::MAX);
        ns.saturating_add(self.offset_s.saturating_mul(1_000_000_000))
    }
}

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const OBSOLETE_PB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;

/// pcapng: a sequence of sections, each an SHB followed by IDBs, packet blocks and
/// blocks this reader skips (NRB, ISB, DSB, custom and unknown types).
///
/// A Simple Packet Block has no timestamp: it is given the timestamp of the packet before
/// it (0 if it is the first packet).
/// Block types a resynchronising reader accepts: the section header, interface
/// description, packet (obsolete, simple, enhanced), name resolution, interface
/// statistics and decryption secrets blocks.
const KNOWN_BLOCKS: [u32; 8] = [SHB, IDB, OBSOLETE_PB, SPB, 4, 5, EPB, 10];

/// How far past a damaged block the reader looks for the next valid one.
const RESYNC_WINDOW: usize = 4 * 1024 * 1024;

/// After a damaged block at the current position: the distance to the next position (on a
/// 4-byte boundary, within [`RESYNC_WINDOW`]) where a block of a known type starts whose
/// leading and trailing lengths agree, if any.
fn next_block<S: Source>(src: &mut S, be: bool) -> std::io::Result<Option<usize>> {
    let mut p = 4;
    while p < RESYNC_WINDOW {
        let b = src.fill(p + 8)?;
        if b.len() < p + 8 {
            return Ok(None);
        }
        let raw = u32::from_le_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]);
        let t = if raw == SHB { SHB } else { u32_at(b, p, be) };
        if KNOWN_BLOCKS.contains(&t) {
            let len = if t == SHB {
                // The section's own byte order decides.
                let magic = b.get(p + 8..p + 12);
                match magic {
                    Some([0x1a, 0x2b, 0x3c, 0x4d]) => u32_at(b, p + 4, true),
                    Some([0x4d, 0x3c, 0x2b, 0x1a]) => u32_at(b, p + 4, false),
                    _ => 0,
                }
            } else {
                u32_at(b, p + 4, be)
            } as usize;
            if (12..=MAX_PCAPNG_BLOCK as usize).contains(&len) && len % 4 == 0 {
                let whole = src.fill(p + len)?;
                if whole.len() >= p + len {
                    let be_here = if t == SHB { whole[p + 8] == 0x1a } else { be };
                    if u32_at(whole, p + len - 4, be_here) as usize == len {
                        return Ok(Some(p));
                    }
                }
            }
        }
        p += 4;
    }
    Ok(None)
}

fn pcapng<S: Source>(
    ctx: &mut Ctx<'_>,
    src: &mut S,
    f: &mut dyn FnMut(&Packet<'_>),
) -> Result<(), CaptureError> {
    let mut be = false;
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut last_ts: i64 = 0;
    // Damaged blocks skipped: (offset of the first, bytes skipped in all, first reason, the
    // frame number the damage came at).
    let mut damage: Option<(u64, u64, String, u64)> = None;
    loop {
        if super::stop_requested() {
            return Ok(());
        }
        let off = src.offset();
        let head = src.fill(12).map_err(|e| ctx.io_err(off, e))?;
        if head.is_empty() {
            return match damage {
                None => Ok(()),
                Some((at, skipped, why, frame)) => {
                    let mut e = ctx.malformed(
                        at,
                        format!("{why}; {skipped} bytes of damaged blocks were skipped, every block after them was read"),
                    );
                    e.frame = frame;
                    Err(e)
                }
            };
        }
        if head.len() < 8 {
            return Err(ctx.truncated(off, "pcapng block header"));
        }
        let raw_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if raw_type == SHB {
            // The byte-order magic decides how this section, SHB included, is read.
            if head.len() < 12 {
                return Err(ctx.truncated(off, "pcapng section header block"));
            }
            be = match &head[8..12] {
                [0x1a, 0x2b, 0x3c, 0x4d] => true,
                [0x4d, 0x3c, 0x2b, 0x1a] => false,
                other => {
                    return Err(ctx.malformed(
                        off,
                        format!(
                            "section header block at offset {off} has bad byte-order magic {:02x}{:02x}{:02x}{:02x}",
                            other[0], other[1], other[2], other[3]
                        ),
                    ))
                }
            };
        }
        let btype = u32_at(head, 0, be);
        let blen = u32_at(head, 4, be);
        let bad_len = if blen < 12 || blen % 4 != 0 {
            Some(format!("block at offset {off} (type 0x{btype:08x}) has bad length {blen}"))
        } else if blen > MAX_PCAPNG_BLOCK {
            Some(format!(
                "block at offset {off} (type 0x{btype:08x}) has length {blen}, over the {MAX_PCAPNG_BLOCK}-byte limit"
            ))
        } else {
            None
        };
        let bad_trailer = bad_len.is_none() && {
            let block = src.fill(blen as usize).map_err(|e| ctx.io_err(off, e))?;
            block.len() >= blen as usize && u32_at(block, blen as usize - 4, be) != blen
        };
        if bad_len.is_some() || bad_trailer {
            let why = bad_len.unwrap_or_else(|| {
                let block = src.fill(blen as usize).unwrap_or(&[]);
                let trailer = if block.len() >= blen as usize { u32_at(block, blen as usize - 4, be) } else { 0 };
                format!("block at offset {off} (type 0x{btype:08x}) has length {blen} but trailing length {trailer}")
            });
            // Look for the next block whose type is known and whose two lengths agree.
            match next_block(src, be).map_err(|e| ctx.io_err(off, e))? {
                Some(skip) => {
                    src.consume(skip);
                    let d = damage.get_or_insert((off, 0, why, ctx.frame));
                    d.1 += skip as u64;
                    continue;
                }
                None => return Err(ctx.malformed(off, format!("{why}; no valid block follows it"))),
            }
        }
        let blen = blen as usize;
        let block = src.fill(blen).map_err(|e| ctx.io_err(off, e))?;
        if block.len() < blen {
            return Err(ctx.truncated(off, "pcapng block"));
        }
        let bad = |what: &str| format!("bad {what} at offset {off}");
        match btype {
            SHB => {
                parse_sectionheaderblock(block)
                    .map_err(|_| ctx.malformed(off, bad("section header block")))?;
                ifaces.clear();
            }
            IDB => {
                let idb = if be {
                    parse_interfacedescriptionblock_be(block)
                } else {
                    parse_interfacedescriptionblock_le(block)
                }
                .map_err(|_| ctx.malformed(off, bad("interface description block")))?
                .1;
                if ifaces.len() >= MAX_INTERFACES {
                    return Err(
                        ctx.malformed(off, format!("more than {MAX_INTERFACES} interfaces in one section"))
                    );
                }
                let mut iface = Iface {
                    linktype: idb.linktype.0 as u16 as u32,
                    snaplen: idb.snaplen,
                    resol_exp: 6,
                    resol_pow2: false,
                    offset_s: 0,
                };
                for opt in &idb.options {
                    if opt.code == OptionCode::IfTsresol && !opt.value.is_empty() {
                        let v = opt.value[0];
                        let (exp, pow2) = (v & 0x7f, v & 0x80 != 0);
                        if (pow2 && exp > 63) || (!pow2 && exp > 19) {
                            return Err(ctx.malformed(
                                off,
                                format!("interface at offset {off} has bad if_tsresol 0x{v:02x}"),
                            ));
                        }
                        iface.resol_exp = exp;
                        iface.resol_pow2 = pow2;
                    } else if opt.code == OptionCode::IfTsoffset && opt.value.len() >= 8 {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(&opt.value[..8]);
                        iface.offset_s = if be { i64::from_be_bytes(a) } else { i64::from_le_bytes(a) };
                    }
                }
                ifaces.push(iface);
            }
            EPB => {
                let epb = if be {
                    parse_enhancedpacketblock_be(block)
                } else {
                    parse_enhancedpacketblock_le(block)
                }
                .map_err(|_| ctx.malformed(off, bad("enhanced packet block")))?
                .1;
                let iface = *ifaces.get(epb.if_id as usize).ok_or_else(|| {
                    ctx.malformed(
                        off,
                        format!(
                            "packet block at offset {off} names interface {} but the section has {}",
                            epb.if_id,
                            ifaces.len()
                        ),
                    )
                })?;
                let caplen = (epb.caplen as usize).min(epb.data.len());
                let ts = iface.ts_ns(((epb.ts_high as u64) << 32) | epb.ts_low as u64);
                last_ts = ts;
                f(&Packet {
                    frame: ctx.frame,
                    ts_ns: ts,
                    linktype: iface.linktype,
                    data: &epb.data[..caplen],
                    orig_len: epb.origlen,
                });
                ctx.frame += 1;
            }
            SPB | OBSOLETE_PB => {
                // Parsed by hand: SPB is 4 fixed bytes, the obsolete Packet Block 20.
                let (if_id, ts_units, caplen, orig_len, data_at) = if btype == SPB {
                    if blen < 16 {
                        return Err(ctx.malformed(off, bad("simple packet block")));
                    }
                    let orig = u32_at(block, 8, be);
                    (0usize, None, orig, orig, 12)
                } else {
                    if blen < 32 {
                        return Err(ctx.malformed(off, bad("packet block")));
                    }
                    let hi = u32_at(block, 12, be) as u64;
                    let lo = u32_at(block, 16, be) as u64;
                    (
                        u16_at(block, 8, be) as usize,
                        Some((hi << 32) | lo),
                        u32_at(block, 20, be),
                        u32_at(block, 24, be),
                        28,
                    )
                };
                let iface = *ifaces.get(if_id).ok_or_else(|| {
                    ctx.malformed(
                        off,
                        format!(
                            "packet block at offset {off} names interface {if_id} but the section has {}",
                            ifaces.len()
                        ),
                    )
                })?;
                let room = blen - 4 - data_at;
                let mut len = (caplen as usize).min(room);
                if btype == SPB && iface.snaplen != 0 {
                    len = len.min(iface.snaplen as usize);
                }
                let ts = match ts_units {
                    Some(u) => iface.ts_ns(u),
                    None => last_ts,
                };
                last_ts = ts;
                f(&Packet {
                    frame: ctx.frame,
                    ts_ns: ts,
                    linktype: iface.linktype,
                    data: &block[data_at..data_at + len],
                    orig_len,
                });
                ctx.frame += 1;
            }
            _ => {}
        }
        src.consume(blen);
    }
}
