//! Capture input: classic pcap and pcapng, plain or gzip-compressed, from a file
//! (memory-mapped) or a stream (stdin, pipes).
//!
//! Every packet is handed to a callback as a [`Packet`] that borrows the capture bytes;
//! nothing is copied for memory-mapped, uncompressed files.

use crate::TimestampNs;

/// One captured packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// 1-based frame number across the whole input (all sections of a pcapng), as
    /// Wireshark numbers them.
    pub frame: u64,
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: TimestampNs,
    /// LINKTYPE_* value of the interface the packet was captured on.
    pub linktype: u32,
    /// Captured bytes (may be shorter than `orig_len` when the snap length cut it).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

/// What went wrong reading a capture. Always names where: the input's name, the frame
/// number that could not be read (the frames before it were all delivered) and the
/// byte offset in the (decompressed) input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError {
    pub input: String,
    /// Frame number the error stopped at (the number the next frame would have had).
    pub frame: u64,
    /// Byte offset in the input (after decompression) where the problem is.
    pub offset: u64,
    pub kind: CaptureErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureErrorKind {
    /// The file could not be opened or read.
    Io(String),
    /// The input is empty.
    Empty,
    /// Not a pcap, pcapng or gzip file: the first bytes are shown.
    UnknownFormat { magic: [u8; 4] },
    /// The input ended in the middle of a header or record.
    Truncated { expected: &'static str },
    /// A header or block is malformed (bad block length, bad section header...).
    Malformed(String),
    /// The gzip layer failed.
    Gzip(String),
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: frame {} (byte offset {}): ",
            self.input, self.frame, self.offset
        )?;
        match &self.kind {
            CaptureErrorKind::Io(e) => write!(f, "cannot read: {e}"),
            CaptureErrorKind::Empty => write!(f, "empty input, expected a pcap or pcapng file"),
            CaptureErrorKind::UnknownFormat { magic } => write!(
                f,
                "not a capture file: magic {:02x}{:02x}{:02x}{:02x}, expected pcap (a1b2c3d4, a1b23c4d), pcapng (0a0d0d0a) or gzip (1f8b)",
                magic[0], magic[1], magic[2], magic[3]
            ),
            CaptureErrorKind::Truncated { expected } => {
                write!(f, "capture is truncated: input ends inside {expected}")
            }
            CaptureErrorKind::Malformed(m) => write!(f, "malformed capture: {m}"),
            CaptureErrorKind::Gzip(m) => write!(f, "gzip decompression failed: {m}"),
        }
    }
}

impl std::error::Error for CaptureError {}

/// What a completed read saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureInfo {
    pub format: CaptureFormat,
    pub gzip: bool,
    pub packets: u64,
    /// Bytes of capture input read (after decompression).
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaptureFormat {
    #[default]
    Pcap,
    PcapNg,
}
