//! CTI framing: cutting one direction's byte stream into messages.
//!
//! Every message starts with the 8-byte header of docs/protocol.md §2 Message header:
//! `MessageLength` (UINT, the number of body bytes after the header) then `MessageType`
//! (UINT), both big-endian. A frame is complete when `8 + MessageLength` bytes are there;
//! a TCP segment may carry several frames or a piece of one.
//!
//! The framer is *synced* when it knows that the next byte starts a header: at the start of
//! a stream whose handshake was captured, and after every complete frame. It is *unsynced*
//! at a mid-stream start and after a gap; it then scans for the first plausible header
//! (a known MessageType and a MessageLength within the guide's limit), confirmed by the
//! header that follows it when those bytes are there, and reports the bytes it skipped.
//!
//! In the synced state frames are cut straight out of the data handed in (no copy); only a
//! frame split across segments is assembled in a buffer, bounded by the hard length cap.
//!
//! One wrong MessageLength must not lose the rest of a direction: in sync, a complete
//! message is accepted when the 8 bytes after it (if they are already there) are a
//! plausible header, or when it ends where the data handed in ends (segments usually end on
//! message boundaries). When the bytes after it are not a plausible header but one starts
//! within 8 bytes before or after that point (confirmed by the header after it, when those
//! bytes are there), the message's own length is taken as damaged:
//! the framer backs off to the byte after the message's start and resynchronises on the
//! next confirmed header, reporting the bytes it skipped (`bad_length`). A message that was
//! accepted because the data ended with it, or fewer than 8 bytes after it, is judged by the
//! header that comes next: when that is not plausible but one starts in the last 8 bytes of
//! the message (its length was too long), the framer backs off and resynchronises from
//! there on, losing the message whose header was swallowed. (With no plausible
//! header nearby, the message stands and what follows is judged on its own: a corrupt
//! header, or a type the tables do not know.) So a length off by one, four or eight bytes, or a flipped high bit, costs
//! the damaged message and at most the one after it. Plausible means a MessageType of the
//! tables and a MessageLength within the PV24 guide's 12500-byte maximum, for every
//! protocol version (the older guides' 4329 bytes are not enforced here: that is a decode
//! finding, not a framing error).

use crate::cti::spec;
use crate::TimestampNs;

/// Size of the message header.
pub const HEADER_LEN: usize = 8;

/// Largest message (header included) the PV24 guide allows.
pub const GUIDE_MAX_MESSAGE_V24: u32 = crate::cti::spec::versions::max_message_size(24) as u32;
/// Largest message (header included) the PV9 and PV15 guides allow.
pub const GUIDE_MAX_MESSAGE_OLD: u32 = crate::cti::spec::versions::max_message_size(15) as u32;

/// Framing limits.
#[derive(Debug, Clone)]
pub struct FramingSettings {
    /// A MessageLength above this can not be framed (memory bound): the header is treated
    /// as corrupt and the framer resynchronises (`--max-message-length`).
    pub hard_max_length: u32,
    /// While resynchronising, a header is plausible only if its MessageLength is at most
    /// this (the PV24 guide's 12500-byte maximum, less the header).
    pub resync_max_length: u32,
}

impl Default for FramingSettings {
    fn default() -> Self {
        FramingSettings {
            hard_max_length: 1 << 16,
            resync_max_length: GUIDE_MAX_MESSAGE_V24 - HEADER_LEN as u32,
        }
    }
}

/// One complete CTI message.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Stream offset of the first header byte in this direction.
    pub offset: u64,
    /// Capture frame that carried the first header byte.
    pub first_frame: u64,
    /// Capture frame that carried the last byte (the one that completed the message).
    pub last_frame: u64,
    /// Timestamp of the capture frame that completed the message.
    pub ts_ns: TimestampNs,
    pub msg_type: u32,
    /// MessageLength: body bytes after the header.
    pub length: u32,
    /// Header and body.
    pub bytes: &'a [u8],
}

impl Frame<'_> {
    pub fn body(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// Everything but the bytes.
    pub fn info(&self) -> FrameInfo {
        FrameInfo {
            offset: self.offset,
            first_frame: self.first_frame,
            last_frame: self.last_frame,
            ts_ns: self.ts_ns,
            msg_type: self.msg_type,
            length: self.length,
        }
    }
}

/// A [`Frame`] without its bytes: what travels with a copy of them (to a decoding thread).
#[derive(Debug, Clone, Copy)]
pub struct FrameInfo {
    pub offset: u64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub ts_ns: TimestampNs,
    pub msg_type: u32,
    pub length: u32,
}

impl FrameInfo {
    /// The frame again, over `bytes` (its header and body).
    pub fn with<'a>(&self, bytes: &'a [u8]) -> Frame<'a> {
        Frame {
            offset: self.offset,
            first_frame: self.first_frame,
            last_frame: self.last_frame,
            ts_ns: self.ts_ns,
            msg_type: self.msg_type,
            length: self.length,
            bytes,
        }
    }
}

/// Why bytes were skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The capture started in the middle of the stream.
    Midstream,
    /// The bytes followed a gap in the stream.
    AfterGap,
    /// A header with an impossible length (beyond the hard cap) was met in sync.
    Implausible,
    /// In sync, a message was not followed by a plausible header: its length was taken as
    /// damaged.
    BadLength,
    /// The stream ended before a plausible header was found.
    StreamEnd,
    /// The message being assembled was given up to keep within the buffer budget
    /// (`max_buffered_total`); its other bytes are skipped.
    BufferLimit,
}

impl SkipReason {
    /// The word for the reason (JSON `reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Midstream => "midstream",
            SkipReason::AfterGap => "after_gap",
            SkipReason::Implausible => "implausible_header",
            SkipReason::BadLength => "bad_length",
            SkipReason::StreamEnd => "stream_end",
            SkipReason::BufferLimit => "buffer_limit",
        }
    }

    /// Why the bytes were skipped, as a phrase.
    pub fn explain(self) -> &'static str {
        match self {
            SkipReason::Midstream => "the capture started mid-stream",
            SkipReason::AfterGap => "after a gap",
            SkipReason::Implausible => "after an implausible header",
            SkipReason::BadLength => "a message's length did not lead to a plausible next header",
            SkipReason::StreamEnd => "the stream ended",
            SkipReason::BufferLimit => {
                "the rest of a message given up at the buffer budget (max_buffered_total)"
            }
        }
    }
}

/// What the framer reports.
#[derive(Debug)]
pub enum FramerEvent<'a> {
    Frame(Frame<'a>),
    /// Bytes `offset .. offset+len` did not belong to any frame that could be found.
    Skipped {
        offset: u64,
        len: u64,
        first_frame: u64,
        last_frame: u64,
        reason: SkipReason,
    },
    /// A message whose header was seen could not be completed (a gap or the end of the
    /// stream came first): `have` of `need` bytes (header included) were there.
    Incomplete {
        offset: u64,
        msg_type: u32,
        have: u64,
        need: u64,
        first_frame: u64,
        last_frame: u64,
    },
    /// A header whose MessageLength exceeds the hard cap was met in sync.
    Implausible {
        offset: u64,
        msg_type: u32,
        length: u32,
        frame: u64,
    },
}

/// Read a header from the first 8 bytes.
#[inline]
pub fn parse_header(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < HEADER_LEN {
        return None;
    }
    let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let ty = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    Some((len, ty))
}

/// Is this a header a resynchronising framer may believe: a named MessageType and a
/// MessageLength within the guide's limit?
#[inline]
pub fn plausible_header(length: u32, msg_type: u32, settings: &FramingSettings) -> bool {
    length <= settings.resync_max_length && spec::type_info(msg_type).is_some()
}

/// Outcome of looking for a header at one position while unsynced.
enum Probe {
    /// Accept: a plausible header, confirmed.
    Accept,
    /// Reject this position.
    Reject,
    /// Plausible but not confirmable yet: more bytes needed.
    Wait,
}

/// Judge position 0 of `b` as a frame start. `at_end`: no more bytes will come.
fn probe(b: &[u8], settings: &FramingSettings, at_end: bool) -> Probe {
    let Some((len, ty)) = parse_header(b) else {
        return if at_end { Probe::Reject } else { Probe::Wait };
    };
    if !plausible_header(len, ty, settings) {
        return Probe::Reject;
    }
    let end = HEADER_LEN + len as usize;
    if b.len() == end {
        // Ends exactly where the data ends: segments usually end on message boundaries.
        return Probe::Accept;
    }
    if b.len() >= end + HEADER_LEN {
        let (nlen, nty) = parse_header(&b[end..]).expect("8 bytes checked");
        return if plausible_header(nlen, nty, settings) { Probe::Accept } else { Probe::Reject };
    }
    if at_end {
        // The whole frame is there but nothing reliable follows it.
        return if b.len() >= end { Probe::Accept } else { Probe::Reject };
    }
    Probe::Wait
}

/// Does `data` (the first bytes of a stream direction) look like CTI traffic? Used to
/// recognise CTI connections on ports that are not configured as CTI server ports.
/// `from_start`: the bytes are the very start of the stream (handshake captured).
pub fn looks_like_cti(data: &[u8], from_start: bool, settings: &FramingSettings) -> bool {
    if from_start {
        return matches!(probe(data, settings, false), Probe::Accept);
    }
    // Mid-stream: a confirmed header somewhere in the first bytes.
    let scan = data.len().min(4096);
    (0..scan).any(|p| {
        let b = &data[p..];
        if b.len() < HEADER_LEN {
            return false;
        }
        let (len, _) = parse_header(b).expect("length checked");
        // Demand the confirming next header (or an exact end) here: a lone header is weak.
        matches!(probe(b, settings, false), Probe::Accept)
            && (b.len() == HEADER_LEN + len as usize || b.len() >= 2 * HEADER_LEN + len as usize)
    })
}

/// Frames one direction of one connection.
/// Room a framer keeps for pending bytes once they are delivered (more is let go).
const KEEP_CAPACITY: usize = 4 << 10;

#[derive(Debug)]
pub struct Framer {
    settings: FramingSettings,
    synced: bool,
    /// Why we are unsynced (reported with the skipped bytes).
    unsynced_reason: SkipReason,
    /// Bytes held: a partial frame when synced, undecided bytes when unsynced.
    buf: Vec<u8>,
    /// Stream offset of `buf[0]` (or of the next byte when `buf` is empty).
    buf_offset: u64,
    /// Capture frame of `buf[0]`.
    buf_first_frame: u64,
    /// Capture frame of the last byte appended to `buf`.
    buf_last_frame: u64,
    /// Skipped-bytes run being accumulated while unsynced: (start offset, first frame).
    skip: Option<(u64, u64)>,
    /// In sync: the last bytes of the stream before `buf_offset` (the end of the last
    /// frame), up to a header's length, to look back into when a header is not plausible.
    tail: [u8; HEADER_LEN],
    tail_len: usize,
}

impl Framer {
    /// A framer at the start of a stream (the handshake was captured).
    pub fn new_synced() -> Self {
        Self::with_settings(FramingSettings::default(), true, SkipReason::Midstream)
    }

    /// A framer that starts mid-stream and must find the first header.
    pub fn new_midstream() -> Self {
        Self::with_settings(FramingSettings::default(), false, SkipReason::Midstream)
    }

    pub fn with_settings(settings: FramingSettings, synced: bool, reason: SkipReason) -> Self {
        Framer {
            settings,
            synced,
            unsynced_reason: reason,
            buf: Vec::new(),
            buf_offset: 0,
            buf_first_frame: 0,
            buf_last_frame: 0,
            skip: None,
            tail: [0; HEADER_LEN],
            tail_len: 0,
        }
    }

    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Bytes currently held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The memory the framer holds for its pending bytes (what the budgets count).
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// Lets go of a large buffer once nothing is pending in it: a connection that once
    /// assembled a long message does not keep the room for it.
    pub fn trim(&mut self) {
        if self.buf.capacity() > KEEP_CAPACITY && self.buf.len() <= self.buf.capacity() / 4 {
            self.buf.shrink_to(self.buf.len().max(KEEP_CAPACITY / 2));
        }
    }

    /// Keeps no more room than the pending bytes need (under memory pressure).
    pub fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }

    /// Gives up the message being assembled to keep within the buffer budget: it is
    /// reported incomplete (or the undecided bytes skipped), and the framer looks for the
    /// next header, skipping the rest of that message as `buffer_limit`.
    pub fn abandon(&mut self, frame: u64, out: &mut dyn FnMut(FramerEvent<'_>)) {
        self.flush_held(frame, out);
        self.buf = Vec::new();
        self.synced = false;
        self.unsynced_reason = SkipReason::BufferLimit;
    }

    /// Feed in-order bytes starting at stream offset `offset` carried by capture frame
    /// `frame`. Offsets must follow on from the previous call unless [`Framer::gap`] was
    /// called in between.
    ///
    /// Generic over `out` so that the caller's handling of each frame is compiled into the
    /// loop that finds the frames (this is the path every message takes).
    pub fn push<F: FnMut(FramerEvent<'_>) + ?Sized>(
        &mut self,
        offset: u64,
        data: &[u8],
        frame: u64,
        ts_ns: TimestampNs,
        out: &mut F,
    ) {
        if data.is_empty() {
            return;
        }
        if self.buf.is_empty() {
            self.buf_offset = offset;
            self.buf_first_frame = frame;
        }
        let mut data = data;
        let mut offset = offset;
        if self.synced && !self.buf.is_empty() {
            // Complete the pending frame from the new bytes.
            let had_header = self.buf.len() >= HEADER_LEN;
            let consumed = self.fill_pending(data, frame);
            if !had_header && self.buf.len() >= HEADER_LEN {
                let (len, ty) = parse_header(&self.buf).expect("header complete");
                if !plausible_header(len, ty, &self.settings) {
                    // The header and everything after it, as one run of bytes.
                    let mut held = self.buf.clone();
                    held.extend_from_slice(&data[consumed..]);
                    if self.header_misplaced(&held) || self.header_behind(&held) {
                        let (start, first) = (self.buf_offset, self.buf_first_frame);
                        self.buf.clear();
                        self.back_off(start, first, &held, frame, ts_ns, &mut |e| out(e));
                        return;
                    }
                }
            }
            self.buf_last_frame = frame;
            data = &data[consumed..];
            offset += consumed as u64;
            if self.pending_complete() && !self.next_plausible(data) {
                // The pending frame and what follows it, as one run of bytes.
                let mut held = self.buf.clone();
                held.extend_from_slice(data);
                if self.length_damaged(&held, self.buf.len()) {
                    // Its length led nowhere: back off over it and what follows.
                    let (start, first) = (self.buf_offset, self.buf_first_frame);
                    self.buf.clear();
                    self.back_off(start, first, &held, frame, ts_ns, &mut |e| out(e));
                    return;
                }
            }
            if !self.emit_pending(frame, ts_ns, &mut |e| out(e)) {
                // Still incomplete (all of `data` consumed) or resync started.
                if !self.synced {
                    return self.push_unsynced(offset, data, frame, ts_ns, &mut |e| out(e));
                }
                return;
            }
        }
        if self.synced {
            self.push_synced(offset, data, frame, ts_ns, out);
        } else {
            self.push_unsynced(offset, data, frame, ts_ns, &mut |e| out(e));
        }
    }

    /// Bytes `offset .. offset+len` are missing. A partial frame is lost; the framer
    /// resynchronises on the bytes after the gap.
    pub fn gap(&mut self, offset: u64, len: u64, frame: u64, out: &mut dyn FnMut(FramerEvent<'_>)) {
        let _ = len;
        self.flush_held(frame, out);
        self.synced = false;
        self.tail_len = 0;
        self.unsynced_reason = SkipReason::AfterGap;
        self.buf_offset = offset + len;
    }

    /// The stream ended: report what is held.
    pub fn finish(&mut self, frame: u64, ts_ns: TimestampNs, out: &mut dyn FnMut(FramerEvent<'_>)) {
        if !self.synced && !self.buf.is_empty() {
            // A last chance: frames that are complete at the end of the stream.
            self.scan(frame, ts_ns, true, out);
        }
        self.flush_held(frame, out);
    }

    /// Report the held bytes as incomplete (synced) or skipped (unsynced) and clear them.
    fn flush_held(&mut self, frame: u64, out: &mut dyn FnMut(FramerEvent<'_>)) {
        if self.synced {
            if !self.buf.is_empty() {
                let (len, ty) = parse_header_partial(&self.buf);
                out(FramerEvent::Incomplete {
                    offset: self.buf_offset,
                    msg_type: ty,
                    have: self.buf.len() as u64,
                    need: HEADER_LEN as u64 + len as u64,
                    first_frame: self.buf_first_frame,
                    last_frame: self.buf_last_frame.max(self.buf_first_frame),
                });
            }
        } else {
            let end = self.buf_offset + self.buf.len() as u64;
            if let Some((start, first)) = self.skip.take() {
                if end > start {
                    out(FramerEvent::Skipped {
                        offset: start,
                        len: end - start,
                        first_frame: first,
                        last_frame: frame.max(first),
                        reason: self.unsynced_reason,
                    });
                }
            } else if !self.buf.is_empty() {
                out(FramerEvent::Skipped {
                    offset: self.buf_offset,
                    len: self.buf.len() as u64,
                    first_frame: self.buf_first_frame,
                    last_frame: frame.max(self.buf_first_frame),
                    reason: self.unsynced_reason,
                });
            }
        }
        self.buf_offset += self.buf.len() as u64;
        self.buf.clear();
    }

    /// Whether the bytes after a complete message may follow it: nothing yet (or fewer than
    /// a header's bytes), or a plausible header.
    #[inline]
    fn next_plausible(&self, rest: &[u8]) -> bool {
        match parse_header(rest) {
            None => true,
            Some((len, ty)) => plausible_header(len, ty, &self.settings),
        }
    }

    /// The header after a message (at `need` in `msg`, which starts with the message) is not
    /// plausible: is the message's own length to blame? Yes when a plausible header starts
    /// within 8 bytes before or after where the length points (a length off by a few bytes);
    /// otherwise the message is kept and what follows it is judged on its own (a corrupt
    /// header, a type the tables do not know).
    #[cold]
    fn length_damaged(&self, msg: &[u8], need: usize) -> bool {
        let lo = need.saturating_sub(HEADER_LEN).max(HEADER_LEN);
        (lo..need + HEADER_LEN).filter(|&p| p != need).any(|p| {
            // A header there, confirmed by the one after it (or not refuted for want of bytes).
            let b = msg.get(p..).unwrap_or(&[]);
            b.len() >= HEADER_LEN && !matches!(probe(b, &self.settings, false), Probe::Reject)
        })
    }

    /// In sync, `b` starts with what should be a header but is not a plausible one: does a
    /// confirmed header start 1 to 7 bytes on? Then a previous length was off by that much.
    #[cold]
    fn header_misplaced(&self, b: &[u8]) -> bool {
        (1..HEADER_LEN).any(|p| {
            let w = b.get(p..).unwrap_or(&[]);
            w.len() >= HEADER_LEN && matches!(probe(w, &self.settings, false), Probe::Accept)
        })
    }

    /// The pending frame in `buf` has all its bytes.
    fn pending_complete(&self) -> bool {
        parse_header(&self.buf).is_some_and(|(len, _)| {
            len <= self.settings.hard_max_length && self.buf.len() >= HEADER_LEN + len as usize
        })
    }

    /// In sync, the message starting `bytes` (at stream offset `start`, first seen in capture
    /// frame `first`) was not followed by a plausible header: skip its first byte and
    /// resynchronise on what follows.
    fn back_off(
        &mut self,
        start: u64,
        first: u64,
        bytes: &[u8],
        frame: u64,
        ts_ns: TimestampNs,
        out: &mut dyn FnMut(FramerEvent<'_>),
    ) {
        self.synced = false;
        self.unsynced_reason = SkipReason::BadLength;
        self.skip = Some((start, first));
        self.buf.clear();
        self.buf_offset = start + 1;
        self.buf_first_frame = first;
        self.push_unsynced(start + 1, &bytes[1..], frame, ts_ns, out);
    }

    /// Append to the pending frame what it still needs from `data`; returns bytes used.
    fn fill_pending(&mut self, data: &[u8], _frame: u64) -> usize {
        let mut used = 0;
        if self.buf.len() < HEADER_LEN {
            let n = (HEADER_LEN - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            used = n;
            if self.buf.len() < HEADER_LEN {
                return used;
            }
        }
        let (len, _) = parse_header(&self.buf).expect("header complete");
        if len > self.settings.hard_max_length {
            return used; // emit_pending turns this into a resync
        }
        let need = HEADER_LEN + len as usize;
        let n = (need - self.buf.len()).min(data.len() - used);
        self.buf.extend_from_slice(&data[used..used + n]);
        used + n
    }

    /// If the pending frame in `buf` is complete, emit it and clear; true when emitted.
    /// A header beyond the hard cap switches to resync (buffer kept as undecided bytes).
    fn emit_pending(&mut self, frame: u64, ts_ns: TimestampNs, out: &mut dyn FnMut(FramerEvent<'_>)) -> bool {
        let Some((len, ty)) = parse_header(&self.buf) else {
            return false;
        };
        if len > self.settings.hard_max_length {
            out(FramerEvent::Implausible {
                offset: self.buf_offset,
                msg_type: ty,
                length: len,
                frame: self.buf_first_frame,
            });
            self.synced = false;
            self.unsynced_reason = SkipReason::Implausible;
            self.skip = Some((self.buf_offset, self.buf_first_frame));
            // Drop the first byte so the scan does not accept the same header again.
            self.buf.drain(..1);
            self.buf_offset += 1;
            return false;
        }
        let need = HEADER_LEN + len as usize;
        if self.buf.len() < need {
            return false;
        }
        out(FramerEvent::Frame(Frame {
            offset: self.buf_offset,
            first_frame: self.buf_first_frame,
            last_frame: frame,
            ts_ns,
            msg_type: ty,
            length: len,
            bytes: &self.buf[..need],
        }));
        let (tail, len) =
            (self.buf[need - HEADER_LEN..need].try_into().expect("a header's length"), HEADER_LEN);
        (self.tail, self.tail_len) = (tail, len);
        self.buf_offset += need as u64;
        self.buf.clear();
        true
    }

    /// The fast path: cut frames straight out of `data`.
    fn push_synced<F: FnMut(FramerEvent<'_>) + ?Sized>(
        &mut self,
        mut offset: u64,
        mut data: &[u8],
        frame: u64,
        ts_ns: TimestampNs,
        out: &mut F,
    ) {
        let all = data;
        let mut first = true;
        while data.len() >= HEADER_LEN {
            let (len, ty) = parse_header(data).expect("length checked");
            if len > self.settings.hard_max_length {
                out(FramerEvent::Implausible { offset, msg_type: ty, length: len, frame });
                self.synced = false;
                self.unsynced_reason = SkipReason::Implausible;
                self.skip = Some((offset, frame));
                self.buf_offset = offset + 1;
                self.buf_first_frame = frame;
                return self.push_unsynced(offset + 1, &data[1..], frame, ts_ns, &mut |e| out(e));
            }
            if !plausible_header(len, ty, &self.settings)
                && (self.header_misplaced(data) || (first && self.header_behind(data)))
            {
                // Not a header, and one starts a few bytes on or back: the previous length
                // was off.
                return self.back_off(offset, frame, data, frame, ts_ns, &mut |e| out(e));
            }
            first = false;
            let need = HEADER_LEN + len as usize;
            if data.len() < need {
                break;
            }
            if !self.next_plausible(&data[need..]) && self.length_damaged(data, need) {
                // The length led nowhere: back off and resynchronise after this start.
                return self.back_off(offset, frame, data, frame, ts_ns, &mut |e| out(e));
            }
            out(FramerEvent::Frame(Frame {
                offset,
                first_frame: frame,
                last_frame: frame,
                ts_ns,
                msg_type: ty,
                length: len,
                bytes: &data[..need],
            }));
            data = &data[need..];
            offset += need as u64;
        }
        self.remember_tail(&all[..all.len() - data.len()]);
        if !data.is_empty() {
            self.buf.clear();
            self.buf.extend_from_slice(data);
            self.buf_offset = offset;
            self.buf_first_frame = frame;
            self.buf_last_frame = frame;
        } else {
            self.buf_offset = offset;
        }
    }

    /// `framed` (whole frames) ends where the bytes held next begin: keep its last bytes.
    #[inline]
    fn remember_tail(&mut self, framed: &[u8]) {
        let n = framed.len();
        if n >= HEADER_LEN {
            self.tail.copy_from_slice(&framed[n - HEADER_LEN..]);
            self.tail_len = HEADER_LEN;
        } else if n > 0 {
            let keep = self.tail_len.min(HEADER_LEN - n);
            self.tail.copy_within(self.tail_len - keep..self.tail_len, 0);
            self.tail[keep..keep + n].copy_from_slice(framed);
            self.tail_len = keep + n;
        }
    }

    /// In sync, `b` starts with what should be a header but is not a plausible one: does a
    /// plausible header (confirmed by the one after it, or not refuted for want of bytes)
    /// start 1 to 8 bytes back, in the end of the last frame? Then that frame's length was
    /// too long by that much, and the message whose header it swallowed is lost.
    #[cold]
    fn header_behind(&self, b: &[u8]) -> bool {
        let t = self.tail_len;
        if t == 0 {
            return false;
        }
        let take = b.len().min(2 * HEADER_LEN + self.settings.resync_max_length as usize);
        let mut held = Vec::with_capacity(t + take);
        held.extend_from_slice(&self.tail[..t]);
        held.extend_from_slice(&b[..take]);
        (0..t).any(|p| !matches!(probe(&held[p..], &self.settings, false), Probe::Reject))
    }

    /// Unsynced: accumulate and scan for a plausible header.
    fn push_unsynced(
        &mut self,
        offset: u64,
        data: &[u8],
        frame: u64,
        ts_ns: TimestampNs,
        out: &mut dyn FnMut(FramerEvent<'_>),
    ) {
        if self.buf.is_empty() {
            self.buf_offset = offset;
            self.buf_first_frame = frame;
        }
        if self.skip.is_none() {
            self.skip = Some((self.buf_offset, self.buf_first_frame));
        }
        self.buf.extend_from_slice(data);
        self.buf_last_frame = frame;
        self.scan(frame, ts_ns, false, out);
    }

    /// Scan `buf` for a frame start; on success switch to synced and frame the rest.
    fn scan(&mut self, frame: u64, ts_ns: TimestampNs, at_end: bool, out: &mut dyn FnMut(FramerEvent<'_>)) {
        let mut p = 0;
        let mut found = false;
        while p < self.buf.len() {
            match probe(&self.buf[p..], &self.settings, at_end) {
                Probe::Accept => {
                    found = true;
                    break;
                }
                Probe::Reject => p += 1,
                Probe::Wait => break,
            }
        }
        if p > 0 {
            // Bytes before p are skipped for good.
            self.buf.drain(..p);
            self.buf_offset += p as u64;
            self.buf_first_frame = frame;
        }
        if !found {
            return;
        }
        if let Some((start, first)) = self.skip.take() {
            if self.buf_offset > start {
                out(FramerEvent::Skipped {
                    offset: start,
                    len: self.buf_offset - start,
                    first_frame: first,
                    last_frame: frame,
                    reason: self.unsynced_reason,
                });
            }
        }
        self.synced = true;
        self.tail_len = 0;
        let held = std::mem::take(&mut self.buf);
        let off = self.buf_offset;
        self.push_synced(off, &held, frame, ts_ns, out);
        if self.buf.is_empty() {
            // Keep the allocation for later partial frames.
            let mut held = held;
            held.clear();
            self.buf = held;
        }
        // A partial frame left by push_synced started in an earlier capture frame only if
        // it was already held; the first frame of held bytes is not tracked per byte, so
        // the scan's frame is used.
    }
}

/// Length and type from a possibly short header (missing bytes read as 0).
fn parse_header_partial(b: &[u8]) -> (u32, u32) {
    let mut h = [0u8; HEADER_LEN];
    let n = b.len().min(HEADER_LEN);
    h[..n].copy_from_slice(&b[..n]);
    parse_header(&h).expect("8 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(body.len() as u32).to_be_bytes());
        v.extend_from_slice(&ty.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[derive(Debug, PartialEq)]
    enum Ev {
        F(u64, u32, Vec<u8>, u64, u64),
        S(u64, u64, SkipReason),
        I(u64, u64, u64),
        X(u64, u32),
    }

    fn collect(f: &mut Framer, chunks: &[(u64, &[u8], u64)], evs: &mut Vec<Ev>) {
        for (off, d, fr) in chunks {
            f.push(*off, d, *fr, 0, &mut |e| evs.push(conv(e)));
        }
    }

    fn conv(e: FramerEvent<'_>) -> Ev {
        match e {
            FramerEvent::Frame(fr) => {
                Ev::F(fr.offset, fr.msg_type, fr.bytes.to_vec(), fr.first_frame, fr.last_frame)
            }
            FramerEvent::Skipped { offset, len, reason, .. } => Ev::S(offset, len, reason),
            FramerEvent::Incomplete { offset, have, need, .. } => Ev::I(offset, have, need),
            FramerEvent::Implausible { offset, length, .. } => Ev::X(offset, length),
        }
    }

    #[test]
    fn several_frames_in_one_chunk_zero_copy() {
        let mut s = msg(5, &[0, 0, 0, 1]);
        s.extend(msg(6, &[0, 0, 0, 1]));
        let mut f = Framer::new_synced();
        let base = s.as_ptr() as usize;
        let mut ptrs = Vec::new();
        f.push(0, &s, 1, 0, &mut |e| {
            if let FramerEvent::Frame(fr) = e {
                ptrs.push(fr.bytes.as_ptr() as usize - base);
            }
        });
        assert_eq!(ptrs, vec![0, 12]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn frame_split_across_chunks_keeps_first_and_last_frame() {
        let m = msg(30, &[7u8; 40]);
        let mut f = Framer::new_synced();
        let mut evs = Vec::new();
        collect(&mut f, &[(0, &m[..3], 10), (3, &m[3..20], 11), (20, &m[20..], 12)], &mut evs);
        assert_eq!(evs, vec![Ev::F(0, 30, m.clone(), 10, 12)]);
    }

    #[test]
    fn midstream_start_skips_to_first_confirmed_header() {
        let mut s = vec![0x41u8; 5];
        s.extend(msg(5, &[0, 0, 0, 9]));
        s.extend(msg(6, &[0, 0, 0, 9]));
        let mut f = Framer::new_midstream();
        let mut evs = Vec::new();
        collect(&mut f, &[(100, &s, 3)], &mut evs);
        assert_eq!(
            evs,
            vec![
                Ev::S(100, 5, SkipReason::Midstream),
                Ev::F(105, 5, msg(5, &[0, 0, 0, 9]), 3, 3),
                Ev::F(117, 6, msg(6, &[0, 0, 0, 9]), 3, 3)
            ]
        );
    }

    #[test]
    fn a_long_message_leaves_no_room_behind() {
        let big = msg(9, &[1u8; 12_000]);
        let small = msg(5, &[0, 0, 0, 1]);
        let mut f = Framer::new_synced();
        let mut evs = Vec::new();
        collect(&mut f, &[(0, &big[..5_000], 1)], &mut evs);
        assert!(f.held() >= 5_000, "the pending bytes are held");
        let rest = [&big[5_000..], &small[..]].concat();
        collect(&mut f, &[(5_000, &rest, 2)], &mut evs);
        f.trim();
        assert_eq!(evs.len(), 2);
        assert!(f.held() <= KEEP_CAPACITY, "{} bytes kept", f.held());
    }

    #[test]
    fn an_abandoned_message_is_reported_and_its_rest_skipped() {
        let a = msg(9, &[1u8; 200]);
        let b = msg(10, &[2u8; 10]);
        let mut f = Framer::new_synced();
        let mut evs = Vec::new();
        collect(&mut f, &[(0, &a[..100], 1)], &mut evs);
        f.abandon(1, &mut |e| evs.push(conv(e)));
        assert_eq!(f.held(), 0);
        let rest = [&a[100..], &b[..]].concat();
        collect(&mut f, &[(100, &rest, 2)], &mut evs);
        f.finish(3, 0, &mut |e| evs.push(conv(e)));
        assert_eq!(evs[0], Ev::I(0, 100, 208));
        assert!(matches!(evs[1], Ev::S(100, _, SkipReason::BufferLimit)), "{evs:?}");
        assert_eq!(*evs.last().unwrap(), Ev::F(208, 10, b.clone(), 2, 2));
    }

    #[test]
    fn gap_loses_partial_frame_and_resyncs() {
        let a = msg(9, &[1u8; 20]);
        let b = msg(10, &[2u8; 10]);
        let mut f = Framer::new_synced();
        let mut evs = Vec::new();
        collect(&mut f, &[(0, &a[..12], 1)], &mut evs);
        f.gap(12, 16, 2, &mut |e| evs.push(conv(e)));
        // After the gap: the tail of nothing useful, then a whole frame.
        let mut tail = vec![0xEEu8; 3];
        tail.extend_from_slice(&b);
        collect(&mut f, &[(28, &tail, 3)], &mut evs);
        assert_eq!(
            evs,
            vec![Ev::I(0, 12, 28), Ev::S(28, 3, SkipReason::AfterGap), Ev::F(31, 10, b.clone(), 3, 3)]
        );
    }

    #[test]
    fn implausible_length_in_sync_triggers_resync() {
        let mut s = Vec::new();
        s.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
        s.extend_from_slice(&5u32.to_be_bytes());
        let good = msg(5, &[0, 0, 0, 2]);
        s.extend_from_slice(&good);
        s.extend_from_slice(&good);
        let mut f = Framer::new_synced();
        let mut evs = Vec::new();
        collect(&mut f, &[(0, &s, 1)], &mut evs);
        assert_eq!(
            evs,
            vec![
                Ev::X(0, 0x7fff_ffff),
                Ev::S(0, 8, SkipReason::Implausible),
                Ev::F(8, 5, good.clone(), 1, 1),
                Ev::F(20, 5, good, 1, 1)
            ]
        );
    }

    #[test]
    fn finish_reports_incomplete_frame() {
        let a = msg(9, &[1u8; 20]);
        let mut f = Framer::new_synced();
        let mut evs = Vec::new();
        collect(&mut f, &[(0, &a[..10], 1)], &mut evs);
        f.finish(2, 0, &mut |e| evs.push(conv(e)));
        assert_eq!(evs, vec![Ev::I(0, 10, 28)]);
    }

    #[test]
    fn byte_by_byte_delivery_equals_contiguous() {
        let mut s = Vec::new();
        for i in 0..20u32 {
            s.extend(msg(1 + i % 8, &vec![i as u8; (i * 7 % 50) as usize]));
        }
        let mut whole = Vec::new();
        Framer::new_synced().push(0, &s, 1, 0, &mut |e| whole.push(conv(e)));
        let mut f = Framer::new_synced();
        let mut pieces = Vec::new();
        for (i, b) in s.iter().enumerate() {
            f.push(i as u64, std::slice::from_ref(b), 1, 0, &mut |e| pieces.push(conv(e)));
        }
        assert_eq!(whole.len(), 20);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn random_bytes_are_skipped_in_bounded_memory() {
        let mut f = Framer::new_midstream();
        let mut x: u32 = 12345;
        let mut frames = 0;
        for i in 0..2000u64 {
            let chunk: Vec<u8> = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x | 0x80) as u8 // high bit set: never a plausible length
                })
                .collect();
            f.push(i * 64, &chunk, i, 0, &mut |e| {
                if matches!(e, FramerEvent::Frame(_)) {
                    frames += 1;
                }
            });
            assert!(f.buffered() < 64 + 16);
        }
        assert_eq!(frames, 0);
    }

    #[test]
    fn looks_like_cti_recognises_headers() {
        let mut s = msg(3, &[0u8; 44]);
        s.extend(msg(5, &[0, 0, 0, 1]));
        let st = FramingSettings::default();
        assert!(looks_like_cti(&s, true, &st));
        assert!(!looks_like_cti(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true, &st));
        let mut mid = b"xyz".to_vec();
        mid.extend_from_slice(&s);
        assert!(looks_like_cti(&mid, false, &st));
    }
}
