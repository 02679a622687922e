//! Capture input: classic pcap and pcapng, plain or gzip-compressed, from a file
//! (memory-mapped) or a stream (stdin, pipes).
//!
//! Every packet is handed to a callback as a [`Packet`] that borrows the capture bytes;
//! nothing is copied for memory-mapped, uncompressed files.

pub mod build;
mod read;
pub mod write;

pub use read::{MAX_INTERFACES, MAX_PCAPNG_BLOCK, MAX_PCAP_RECORD};

use crate::TimestampNs;
use read::{Magic, SliceSource, Source, StreamSource};
use std::io::Read;

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
    /// The file could not be opened (missing, a directory, no permission): nothing was read.
    Open(String),
    /// The file could not be read.
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
        if let CaptureErrorKind::Open(why) = &self.kind {
            return write!(f, "{}: {why}", self.input);
        }
        write!(f, "{}: frame {} (byte offset {}): ", self.input, self.frame, self.offset)?;
        match &self.kind {
            CaptureErrorKind::Open(_) => Ok(()),
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

thread_local! {
    /// Set by [`stop_reading`]: the capture read on this thread ends after the packet being
    /// delivered.
    static STOP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Stop the capture being read on this thread after the packet being delivered, as if the
/// file ended there (`-c N`, `--until`). Called from the packet callback (or from what it
/// calls); the next read on the thread starts afresh.
pub fn stop_reading() {
    STOP.with(|s| s.set(true));
}

pub(crate) fn stop_requested() -> bool {
    STOP.with(|s| s.get())
}

pub(crate) fn clear_stop() {
    STOP.with(|s| s.set(false));
}

/// Input bytes read between two calls of the progress hook.
pub const PROGRESS_STEP: u64 = 256 << 10;

/// What [`set_progress_hook`] installs.
pub type ProgressHook = Box<dyn FnMut(u64)>;

thread_local! {
    /// Set by [`set_progress_hook`].
    static PROGRESS: std::cell::RefCell<Option<ProgressHook>> = const { std::cell::RefCell::new(None) };
}

/// Make the captures [`read_path`] reads on this thread report how far they are: `hook` is
/// called with the bytes of the file read so far (its position in the file, before any
/// decompression) every [`PROGRESS_STEP`] bytes or so, and once with the bytes read when the
/// read ends. `None` removes it. The position comes from the reader for free: the offset of
/// the packet being delivered in a memory-mapped file, the bytes a stream has handed over.
pub fn set_progress_hook(hook: Option<ProgressHook>) {
    PROGRESS.with(|p| *p.borrow_mut() = hook);
}

/// A reader that reports the bytes read through it to the progress hook.
struct Counted<'a> {
    r: &'a mut dyn Read,
    read: u64,
    next: u64,
    hook: &'a mut dyn FnMut(u64),
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.r.read(buf)?;
        self.read += n as u64;
        if self.read >= self.next {
            (self.hook)(self.read);
            self.next = self.read + PROGRESS_STEP;
        }
        Ok(n)
    }
}

/// Reads a capture from `path` (`"-"` is standard input) and calls `f` for every packet,
/// in order. Regular files are memory-mapped (zero copy); when mapping fails (empty files,
/// FIFOs, some special files) the file is read as a stream. Gzip compression is detected
/// by its magic bytes, not by the file name.
///
/// On a read error, every packet before the damage has been delivered when the error is
/// returned.
pub fn read_path(path: &str, f: &mut dyn FnMut(&Packet<'_>)) -> Result<CaptureInfo, CaptureError> {
    let Some(mut hook) = PROGRESS.with(|p| p.borrow_mut().take()) else {
        return read_path_with(path, f, None);
    };
    let res = read_path_with(path, f, Some(&mut *hook));
    PROGRESS.with(|p| {
        let mut p = p.borrow_mut();
        if p.is_none() {
            *p = Some(hook);
        }
    });
    res
}

fn read_path_with(
    path: &str,
    f: &mut dyn FnMut(&Packet<'_>),
    hook: Option<&mut dyn FnMut(u64)>,
) -> Result<CaptureInfo, CaptureError> {
    if path == "-" {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        return read_counted("<stdin>", &mut lock, f, hook);
    }
    let open_err = |e: std::io::Error| CaptureError {
        input: path.to_string(),
        frame: 1,
        offset: 0,
        kind: CaptureErrorKind::Open(match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => format!("cannot open: {e}"),
        }),
    };
    let mut file = std::fs::File::open(path).map_err(open_err)?;
    let is_file = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    // A gzip file is read as a stream: decompression copies every byte anyway, and the pages
    // of a mapped compressed file could not be released behind the reader (the packets point
    // into the decompressed data), so it would stay resident whole.
    if is_file && !gzip_file(&mut file) {
        // SAFETY: the map is only read. A file truncated by another process while mapped
        // could fault; that is the accepted cost of zero-copy reading of capture files.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            return read_mapped(path, &map, f, hook);
        }
    }
    read_counted(path, &mut file, f, hook)
}

/// [`read_stream`], the bytes taken from `r` reported to `hook`.
fn read_counted(
    name: &str,
    r: &mut dyn Read,
    f: &mut dyn FnMut(&Packet<'_>),
    hook: Option<&mut dyn FnMut(u64)>,
) -> Result<CaptureInfo, CaptureError> {
    let Some(hook) = hook else { return read_stream(name, r, f) };
    let mut counted = Counted { r, read: 0, next: PROGRESS_STEP, hook };
    let res = read_stream(name, &mut counted, f);
    (counted.hook)(counted.read);
    res
}

/// The file starts with the gzip magic (read at its start, then rewound).
fn gzip_file(file: &mut std::fs::File) -> bool {
    use std::io::Seek;
    let mut head = [0u8; 2];
    let n = file.read(&mut head).unwrap_or(0);
    let rewound = file.seek(std::io::SeekFrom::Start(0)).is_ok();
    // A file that cannot be rewound is read as a stream from where it stands: nothing read.
    n == 2 && rewound && matches!(read::magic(&head), Magic::Gzip)
}

/// Bytes of a mapped capture read between two releases of the pages behind the reader.
const RELEASE_EVERY: usize = 16 << 20;

/// Reads a memory-mapped capture, releasing the pages already read so that the resident
/// memory does not grow with the file: the page cache keeps them, the process does not.
/// Only bytes before the packet being delivered are released: nothing downstream holds a
/// borrowed packet once its callback has returned (reassembly and framing copy what they
/// keep).
///
/// `hook` is told the offset of the packet being delivered every [`PROGRESS_STEP`] bytes,
/// and the bytes read (the whole file, or up to the damage) at the end.
fn read_mapped(
    name: &str,
    map: &memmap2::Mmap,
    f: &mut dyn FnMut(&Packet<'_>),
    mut hook: Option<&mut dyn FnMut(u64)>,
) -> Result<CaptureInfo, CaptureError> {
    let _ = map.advise(memmap2::Advice::Sequential);
    let base = map.as_ptr() as usize;
    let page = 4096usize;
    let mut released = 0usize;
    let mut next_report = if hook.is_some() { PROGRESS_STEP as usize } else { usize::MAX };
    let res = read_bytes(name, map, &mut |pkt| {
        let at = (pkt.data.as_ptr() as usize).wrapping_sub(base);
        if at >= next_report && at < map.len() {
            if let Some(h) = hook.as_mut() {
                h(at as u64);
            }
            next_report = at + PROGRESS_STEP as usize;
        }
        if at < map.len() && at >= released + RELEASE_EVERY {
            let upto = at / page * page;
            // SAFETY: DONTNEED on a read-only file mapping only drops this process's copies
            // of the pages; a later access would read them again from the file. No slice into
            // [released, upto) is alive: every earlier packet's callback has returned.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, released, upto - released)
            };
            released = upto;
        }
        f(pkt)
    });
    if let Some(h) = hook {
        h(match &res {
            Ok(_) => map.len() as u64,
            Err(e) => e.offset.min(map.len() as u64),
        });
    }
    res
}

/// Reads a capture held in memory. `name` is used in error messages. Gzip-compressed data
/// is decompressed as a stream; plain data is parsed in place, without copying.
pub fn read_bytes(
    name: &str,
    data: &[u8],
    f: &mut dyn FnMut(&Packet<'_>),
) -> Result<CaptureInfo, CaptureError> {
    if let Magic::Gzip = read::magic(data) {
        let mut cursor = data;
        return read_stream(name, &mut cursor, f);
    }
    read::run(name, &mut SliceSource::new(data), false, f)
}

/// Reads a capture from any reader (stdin, a pipe, a socket), gzip-compressed or not.
///
/// Streaming: memory stays bounded by the largest record allowed
/// ([`MAX_PCAP_RECORD`], [`MAX_PCAPNG_BLOCK`]) plus a 64 KiB read chunk, and each packet
/// is delivered as soon as its record has been read, so a live `tcpdump -w -` pipe works.
pub fn read_stream(
    name: &str,
    r: &mut dyn Read,
    f: &mut dyn FnMut(&Packet<'_>),
) -> Result<CaptureInfo, CaptureError> {
    let mut src = StreamSource::new(r);
    let head = src.fill(2).map_err(|e| CaptureError {
        input: name.to_string(),
        frame: 1,
        offset: 0,
        kind: CaptureErrorKind::Io(e.to_string()),
    })?;
    if let Magic::Gzip = read::magic(head) {
        // Put the bytes already read back in front of the rest of the stream.
        let prefix = src.buffered().to_vec();
        drop(src);
        let chained = std::io::Read::chain(&prefix[..], r);
        let mut gz = flate2::read::MultiGzDecoder::new(chained);
        let mut inner = StreamSource::new(&mut gz);
        return read::run(name, &mut inner, true, f);
    }
    read::run(name, &mut src, false, f)
}

#[cfg(test)]
mod tests;
