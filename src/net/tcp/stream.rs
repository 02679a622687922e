//! One direction of a TCP connection: sequence-to-offset mapping, out-of-order buffer,
//! recently delivered bytes (for retransmission comparison) and hole handling.

use super::{ConnId, GapReason, ReassemblyStats, Side, StreamEvent};
use crate::TimestampNs;
use std::collections::{BTreeMap, VecDeque};

/// Where the events of one direction go, and which segment is being processed.
pub(super) struct Ctx<'o, 'f> {
    pub conn: ConnId,
    pub side: Side,
    pub frame: u64,
    pub ts_ns: TimestampNs,
    pub max_buffered: usize,
    pub max_total: usize,
    pub window: usize,
    pub stats: &'o mut ReassemblyStats,
    pub out: &'o mut (dyn FnMut(StreamEvent<'_>) + 'f),
}

/// Start of the bytes that captured segments contributed to a buffered chunk, and the
/// frame that carried the last of them.
#[derive(Debug, Clone, Copy)]
struct Mark {
    /// Stream offset of the first byte.
    off: u64,
    frame: u64,
    ts_ns: TimestampNs,
}

/// A chunk keeps one mark per segment, so that every delivered byte names the frame that
/// carried it, up to this many marks. Beyond, a mark absorbs the segments next to it while it
/// spans at most [`MARK_SPAN`] bytes: a flood of tiny segments then costs a mark per
/// `MARK_SPAN` bytes, and the frame a delivered byte is attributed to is off by at most that
/// span. Segments of `MARK_SPAN` bytes or more never share a mark.
pub(super) const EXACT_MARKS: usize = 64;

/// The most bytes a shared mark spans.
pub(super) const MARK_SPAN: u64 = 64;

/// What one mark costs.
pub(super) const MARK_BYTES: usize = std::mem::size_of::<Mark>();

/// What one chunk costs besides its bytes and marks (map entry, headers), counted against
/// the byte budgets.
pub(super) const CHUNK_OVERHEAD: usize = 96;

/// Buffered, not yet deliverable part of the stream.
#[derive(Debug)]
enum Chunk {
    /// Captured bytes; adjacent segments, before or after, join one chunk, each keeping the
    /// frame that carried it (within [`MARK_SPAN`]).
    Bytes { data: VecDeque<u8>, marks: VecDeque<Mark> },
    /// Bytes cut by the snap length: reported as a `Truncated` gap when reached.
    Missing { len: u64, frame: u64, ts_ns: TimestampNs },
}

impl Chunk {
    fn len(&self) -> u64 {
        match self {
            Chunk::Bytes { data, .. } => data.len() as u64,
            Chunk::Missing { len, .. } => *len,
        }
    }

    /// The memory the chunk holds, as the budgets count it: its bytes, its marks and
    /// [`CHUNK_OVERHEAD`].
    fn cost(&self) -> usize {
        CHUNK_OVERHEAD
            + match self {
                Chunk::Bytes { data, marks } => data.len() + marks.len() * MARK_BYTES,
                Chunk::Missing { .. } => 0,
            }
    }
}

/// What a segment contributes to a range of the stream.
#[derive(Clone, Copy)]
enum Src<'a> {
    Bytes(&'a [u8]),
    Missing(u64),
}

/// State of one direction.
#[derive(Debug, Default)]
pub(super) struct Dir {
    /// Sequence number of stream offset 0 (ISN + 1, or the first mid-stream byte).
    pub base: Option<u32>,
    /// Sequence number of the SYN, when captured.
    pub isn: Option<u32>,
    /// Next offset to deliver; everything below was delivered or reported as a gap.
    pub next: u64,
    /// Highest offset acknowledged by the other side.
    acked: u64,
    /// Out-of-order chunks by start offset: non-empty, non-overlapping, all `>= next`;
    /// adjacent byte chunks are joined.
    buf: BTreeMap<u64, Chunk>,
    /// What `buf` costs ([`Chunk::cost`]).
    buf_bytes: usize,
    /// The last delivered bytes not yet acknowledged, ending at `next` (at most the
    /// retransmission window; cleared at a gap).
    hist: VecDeque<u8>,
    /// Fingerprints (offset, length, FNV-1a) of the last delivered pieces: a retransmission
    /// of bytes that already left `hist` (acknowledged, or older than the window) is still
    /// compared when it repeats a piece's exact range, as retransmissions normally do.
    prints: VecDeque<(u64, u64)>,
    /// Stream offset of the FIN, once seen.
    pub fin: Option<u64>,
    /// Highest sequence number (exclusive) this side used, serial order.
    pub seq_end: Option<u32>,
}

/// `a - b` in 32-bit serial arithmetic.
pub(super) fn serial_diff(a: u32, b: u32) -> i64 {
    a.wrapping_sub(b) as i32 as i64
}

impl Dir {
    /// Stream offset of `seq` (negative: before offset 0), relative to `next` so that
    /// streams longer than 4 GiB keep working. Requires `base`.
    pub fn offset_of(&self, seq: u32) -> Option<i64> {
        let base = self.base?;
        let next_seq = base.wrapping_add(self.next as u32);
        Some(self.next as i64 + serial_diff(seq, next_seq))
    }

    pub fn note_seq_end(&mut self, end: u32) {
        match self.seq_end {
            Some(cur) if serial_diff(end, cur) <= 0 => {}
            _ => self.seq_end = Some(end),
        }
    }

    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Records an acknowledgement number sent by the other side.
    pub fn ack(&mut self, ack: u32) {
        if let Some(off) = self.offset_of(ack) {
            if off > self.acked as i64 {
                self.acked = off as u64;
                // Acknowledged bytes are not compared any more: a retransmission of them is
                // spurious. Only in-flight bytes stay in the window.
                let hist_start = self.next - self.hist.len() as u64;
                let drop = self.acked.min(self.next).saturating_sub(hist_start) as usize;
                if drop > 0 {
                    self.hist.drain(..drop);
                }
            }
        }
    }

    /// A segment of this direction: `payload` starts at offset `off`; `wire` is its length
    /// on the wire (more than `payload.len()` when the snap length cut it).
    pub fn data(&mut self, off: i64, payload: &[u8], wire: u64, cx: &mut Ctx<'_, '_>) {
        let cap = payload.len() as u64;
        let wire = wire.max(cap);
        let cap_end = off.saturating_add(cap as i64);
        if cap > 0 {
            if cap_end <= 0 {
                cx.stats.bytes_before_start += cap;
            } else {
                let (start, bytes) = if off < 0 {
                    let cut = off.unsigned_abs() as usize;
                    cx.stats.bytes_before_start += cut as u64;
                    (0u64, &payload[cut..])
                } else {
                    (off as u64, payload)
                };
                self.captured(start, bytes, cx);
            }
        }
        if wire > cap {
            // The snap length cut the tail: it is a gap, placed like data.
            let tail_start = cap_end.max(0) as u64;
            let tail_end = off.saturating_add(wire as i64);
            if tail_end > 0 {
                let tail_end = tail_end as u64;
                let s = tail_start.max(self.next);
                if s < tail_end {
                    self.place(s, tail_end, Src::Missing(tail_end - s), cx);
                }
            }
        }
        self.release(cx);
    }

    /// Captured bytes `[start, start + bytes.len())`, `start >= 0`.
    fn captured(&mut self, start: u64, bytes: &[u8], cx: &mut Ctx<'_, '_>) {
        let end = start + bytes.len() as u64;
        if bytes.len() == 1 && end == self.next {
            // Keep-alive probe: sequence number one below the next byte, arbitrary content.
            cx.stats.keepalives += 1;
            return;
        }
        let mut s = start;
        let mut rest = bytes;
        if s < self.next {
            let ov_end = end.min(self.next);
            let n = (ov_end - s) as usize;
            self.compare_delivered(s, &rest[..n], cx);
            rest = &rest[n..];
            s = ov_end;
        }
        if !rest.is_empty() {
            self.place(s, end, Src::Bytes(rest), cx);
        }
    }

    /// Compares bytes that overlap already delivered data with the kept window.
    fn compare_delivered(&mut self, start: u64, bytes: &[u8], cx: &mut Ctx<'_, '_>) {
        let hist_start = self.next - self.hist.len() as u64;
        let end = start + bytes.len() as u64;
        if end <= hist_start {
            cx.stats.retransmitted_bytes += bytes.len() as u64;
            // Outside the byte window: compare with the fingerprint of the same range.
            let key = print_key(start, bytes.len());
            let fp = self.prints.iter().find(|p| Some(p.0) == key);
            if let Some(&(_, h)) = fp {
                if h != fingerprint(bytes) {
                    conflict(start, bytes.len() as u64, bytes.len(), cx);
                }
            }
            return;
        }
        let (cmp_start, bytes) = if start < hist_start {
            let cut = (hist_start - start) as usize;
            cx.stats.retransmitted_bytes += cut as u64;
            (hist_start, &bytes[cut..])
        } else {
            (start, bytes)
        };
        let i = (cmp_start - hist_start) as usize;
        let (h1, h2) = self.hist.as_slices();
        match diff_span(h1, h2, i, bytes) {
            None => cx.stats.retransmitted_bytes += bytes.len() as u64,
            Some((first, last)) => {
                conflict(cmp_start + first as u64, (last - first + 1) as u64, bytes.len(), cx)
            }
        }
    }

    /// Places `[s, e)` (all `>= next`) from `src`: delivered at once where it continues the
    /// stream, compared where it overlaps buffered chunks, buffered elsewhere.
    fn place(&mut self, s: u64, e: u64, src: Src<'_>, cx: &mut Ctx<'_, '_>) {
        debug_assert!(s >= self.next && s < e);
        let mut pos = s;
        while pos < e {
            // A buffered chunk covering `pos`: first copy wins.
            let cover = self
                .buf
                .range(..=pos)
                .next_back()
                .map(|(&cs, c)| (cs, cs + c.len()))
                .filter(|&(_, ce)| ce > pos);
            if let Some((cs, ce)) = cover {
                let ov_end = ce.min(e);
                match src {
                    Src::Bytes(b) => {
                        let new = &b[(pos - s) as usize..(ov_end - s) as usize];
                        match self.buf.get(&cs) {
                            Some(Chunk::Bytes { data, .. }) => {
                                let (h1, h2) = data.as_slices();
                                match diff_span(h1, h2, (pos - cs) as usize, new) {
                                    None => cx.stats.retransmitted_bytes += new.len() as u64,
                                    Some((f, l)) => {
                                        conflict(pos + f as u64, (l - f + 1) as u64, new.len(), cx)
                                    }
                                }
                            }
                            // Bytes where the snap length cut a first copy: the gap stands.
                            _ => cx.stats.retransmitted_bytes += new.len() as u64,
                        }
                    }
                    Src::Missing(_) => {}
                }
                pos = ov_end;
                continue;
            }
            let next_start = self.buf.range(pos..).next().map_or(u64::MAX, |(&k, _)| k);
            let piece_end = e.min(next_start);
            let piece = match src {
                Src::Bytes(b) => Src::Bytes(&b[(pos - s) as usize..(piece_end - s) as usize]),
                Src::Missing(_) => Src::Missing(piece_end - pos),
            };
            if pos == self.next {
                match piece {
                    Src::Bytes(b) => self.deliver(pos, b, cx.frame, cx.ts_ns, cx),
                    Src::Missing(len) => self.gap(len, GapReason::Truncated, cx.frame, cx.ts_ns, cx),
                }
            } else {
                self.insert(pos, piece, cx);
            }
            pos = piece_end;
        }
    }

    /// Buffers a piece that overlaps nothing buffered, joined with the byte chunks that end
    /// where it starts and start where it ends.
    fn insert(&mut self, pos: u64, piece: Src<'_>, cx: &mut Ctx<'_, '_>) {
        let b = match piece {
            Src::Bytes(b) => b,
            Src::Missing(len) => {
                let c = Chunk::Missing { len, frame: cx.frame, ts_ns: cx.ts_ns };
                self.account(0, c.cost(), cx);
                self.buf.insert(pos, c);
                return;
            }
        };
        cx.stats.out_of_order_segments += 1;
        let end = pos + b.len() as u64;
        let mark = Mark { off: pos, frame: cx.frame, ts_ns: cx.ts_ns };
        let before = match self.buf.range(..pos).next_back() {
            Some((&cs, c @ Chunk::Bytes { .. })) if cs + c.len() == pos => Some(cs),
            _ => None,
        };
        let after = matches!(self.buf.get(&end), Some(Chunk::Bytes { .. }));
        let (start, mut chunk) = match before {
            Some(cs) => {
                let mut c = self.take(cs, cx);
                if let Chunk::Bytes { data, marks } = &mut c {
                    data.extend(b);
                    push_mark_back(marks, mark, end);
                }
                (cs, c)
            }
            None if after => {
                let mut c = self.take(end, cx);
                if let Chunk::Bytes { data, marks } = &mut c {
                    let chunk_end = end + data.len() as u64;
                    for &x in b.iter().rev() {
                        data.push_front(x);
                    }
                    push_mark_front(marks, mark, chunk_end);
                }
                (pos, c)
            }
            None => {
                let c = Chunk::Bytes { data: b.iter().copied().collect(), marks: VecDeque::from([mark]) };
                (pos, c)
            }
        };
        if before.is_some() && after {
            // The piece filled the hole between two chunks: one chunk now.
            let next = self.take(end, cx);
            chunk = join(start, chunk, end, next);
        }
        self.account(0, chunk.cost(), cx);
        self.buf.insert(start, chunk);
    }

    /// Removes the chunk at `start` from the buffer and its cost from the budgets.
    fn take(&mut self, start: u64, cx: &mut Ctx<'_, '_>) -> Chunk {
        let c = self.buf.remove(&start).expect("the chunk is buffered");
        self.account(c.cost(), 0, cx);
        c
    }

    /// A chunk's cost leaves the budgets (`minus`) or joins them (`plus`).
    fn account(&mut self, minus: usize, plus: usize, cx: &mut Ctx<'_, '_>) {
        self.buf_bytes = self.buf_bytes - minus + plus;
        cx.stats.buffered_now = cx.stats.buffered_now - minus + plus;
    }

    /// Delivers bytes at `next`.
    fn deliver(&mut self, off: u64, data: &[u8], frame: u64, ts_ns: TimestampNs, cx: &mut Ctx<'_, '_>) {
        debug_assert_eq!(off, self.next);
        if data.is_empty() {
            return;
        }
        let buffered = cx.stats.buffered_now;
        (cx.out)(StreamEvent::Data {
            conn: cx.conn,
            side: cx.side,
            offset: off,
            data,
            frame,
            ts_ns,
            buffered,
        });
        cx.stats.delivered_bytes += data.len() as u64;
        self.next += data.len() as u64;
        let before = self.history_held();
        remember(&mut self.hist, data, cx.window);
        if let (true, Some(key)) = (cx.window > 0, print_key(off, data.len())) {
            if self.prints.len() == PRINTS {
                self.prints.pop_front();
            }
            self.prints.push_back((key, fingerprint(data)));
        }
        cx.stats.history_now = cx.stats.history_now - before + self.history_held();
        if cx.stats.buffered_now + cx.stats.history_now + cx.stats.held_elsewhere > cx.max_total {
            self.drop_history(cx);
        }
    }

    /// Room held for the retransmission window and the fingerprints of delivered pieces.
    pub fn history_held(&self) -> usize {
        self.hist.capacity() + self.prints.capacity() * std::mem::size_of::<(u64, u64)>()
    }

    /// Lets go of the retransmission window and the fingerprints to keep within
    /// `max_buffered_total`: retransmissions of those bytes are then counted without being
    /// compared.
    #[cold]
    fn drop_history(&mut self, cx: &mut Ctx<'_, '_>) {
        let held = self.history_held();
        if held == 0 {
            return;
        }
        cx.stats.history_now -= held;
        cx.stats.history_dropped += 1;
        self.hist = VecDeque::new();
        self.prints = VecDeque::new();
        if !cx.stats.total_limit_reported {
            cx.stats.total_limit_reported = true;
            let (frame, ts_ns) = (cx.frame, cx.ts_ns);
            (cx.out)(StreamEvent::Limit { conn: None, setting: "max_buffered_total", frame, ts_ns });
        }
    }

    /// Skips `len` bytes at `next`.
    fn gap(&mut self, len: u64, reason: GapReason, frame: u64, ts_ns: TimestampNs, cx: &mut Ctx<'_, '_>) {
        if len == 0 {
            return;
        }
        (cx.out)(StreamEvent::Gap {
            conn: cx.conn,
            side: cx.side,
            offset: self.next,
            len,
            reason,
            frame,
            ts_ns,
        });
        cx.stats.gaps += 1;
        cx.stats.gap_bytes += len;
        self.next += len;
        self.hist.clear();
    }

    /// Delivers the buffered chunks that continue the stream.
    fn release(&mut self, cx: &mut Ctx<'_, '_>) {
        while let Some(entry) = self.buf.first_entry() {
            if *entry.key() != self.next {
                debug_assert!(*entry.key() > self.next);
                break;
            }
            let start = *entry.key();
            let chunk = entry.remove();
            self.account(chunk.cost(), 0, cx);
            match chunk {
                Chunk::Bytes { mut data, marks } => {
                    let data = data.make_contiguous();
                    for (i, m) in marks.iter().enumerate() {
                        let at = (m.off - start) as usize;
                        let to = marks.get(i + 1).map_or(data.len(), |n| (n.off - start) as usize);
                        self.deliver(m.off, &data[at..to], m.frame, m.ts_ns, cx);
                    }
                }
                Chunk::Missing { len, frame, ts_ns } => self.gap(len, GapReason::Truncated, frame, ts_ns, cx),
            }
        }
    }

    /// Skips the hole at `next` up to `to` (at most the first buffered chunk), then delivers
    /// what follows.
    fn skip_hole(&mut self, to: u64, reason: GapReason, cx: &mut Ctx<'_, '_>) {
        let first = self.buf.keys().next().copied().unwrap_or(to);
        let to = to.min(first);
        if to > self.next {
            self.gap(to - self.next, reason, cx.frame, cx.ts_ns, cx);
        }
        self.release(cx);
    }

    /// Holes with buffered data after them that the other side acknowledged past.
    pub fn check_acked(&mut self, cx: &mut Ctx<'_, '_>) {
        while self.acked > self.next && self.has_buffered() {
            let before = self.next;
            self.skip_hole(self.acked, GapReason::AckedPastHole, cx);
            if self.next == before {
                break;
            }
        }
    }

    /// Whether the buffer (bytes and bookkeeping, [`Chunk::cost`]) is over its limit.
    pub fn over_limit(&self, cx: &Ctx<'_, '_>) -> bool {
        self.buf_bytes > cx.max_buffered
    }

    /// The capture-wide budget is exceeded and this direction holds buffered bytes.
    pub fn over_total(&self, cx: &Ctx<'_, '_>) -> bool {
        cx.stats.buffered_now + cx.stats.history_now + cx.stats.held_elsewhere > cx.max_total
            && self.buf_bytes > 0
    }

    /// Skips holes while the buffer is over its limits.
    pub fn limits(&mut self, cx: &mut Ctx<'_, '_>) {
        while self.over_limit(cx) || self.over_total(cx) {
            let before = (self.next, self.buf.len());
            self.skip_hole(u64::MAX, GapReason::BufferLimit, cx);
            if (self.next, self.buf.len()) == before {
                debug_assert!(false, "buffer limit made no progress");
                return;
            }
        }
    }

    /// The connection ends: every hole becomes a gap and all buffered data is delivered.
    pub fn flush(&mut self, cx: &mut Ctx<'_, '_>) {
        while self.has_buffered() {
            self.skip_hole(u64::MAX, GapReason::ConnectionEnd, cx);
        }
    }
}

/// A piece appended to a chunk: `m` starts it, the chunk now ends at `end`. Past
/// [`EXACT_MARKS`], the last mark absorbs it while the mark spans at most [`MARK_SPAN`]
/// bytes, and takes its frame (the frame of the mark's last byte).
fn push_mark_back(marks: &mut VecDeque<Mark>, m: Mark, end: u64) {
    let share = marks.len() >= EXACT_MARKS;
    match marks.back_mut() {
        Some(last) if share && end - last.off <= MARK_SPAN => {
            last.frame = m.frame;
            last.ts_ns = m.ts_ns;
        }
        _ => marks.push_back(m),
    }
}

/// A piece put in front of a chunk that ends at `chunk_end`: `m` starts it. Past
/// [`EXACT_MARKS`], the first mark absorbs it while the mark spans at most [`MARK_SPAN`]
/// bytes, and keeps its frame (its last byte is still its own).
fn push_mark_front(marks: &mut VecDeque<Mark>, m: Mark, chunk_end: u64) {
    let first_end = marks.get(1).map_or(chunk_end, |n| n.off);
    let share = marks.len() >= EXACT_MARKS;
    match marks.front_mut() {
        Some(first) if share && first_end - m.off <= MARK_SPAN => first.off = m.off,
        _ => marks.push_front(m),
    }
}

/// Two adjacent byte chunks, `a` at `sa` and `b` at `sb` right after it, as one: the smaller
/// one's bytes move (so that joining costs at most the smaller size).
fn join(sa: u64, a: Chunk, sb: u64, b: Chunk) -> Chunk {
    let (Chunk::Bytes { data: mut da, marks: mut ma }, Chunk::Bytes { data: mut db, marks: mut mb }) = (a, b)
    else {
        unreachable!("only byte chunks are joined")
    };
    debug_assert_eq!(sa + da.len() as u64, sb);
    if da.len() >= db.len() {
        da.extend(db);
        ma.extend(mb);
        Chunk::Bytes { data: da, marks: ma }
    } else {
        for &x in da.iter().rev() {
            db.push_front(x);
        }
        for m in ma.into_iter().rev() {
            mb.push_front(m);
        }
        Chunk::Bytes { data: db, marks: mb }
    }
}

fn conflict(offset: u64, len: u64, overlap: usize, cx: &mut Ctx<'_, '_>) {
    cx.stats.conflicts += 1;
    cx.stats.conflict_bytes += overlap as u64;
    let (conn, side, frame, ts_ns) = (cx.conn, cx.side, cx.frame, cx.ts_ns);
    (cx.out)(StreamEvent::Conflict { conn, side, offset, len, frame, ts_ns });
}

/// A fast 64-bit fingerprint of delivered bytes (every delivered byte is hashed once, so
/// this is on the hot path). Four lanes of eight bytes per step (independent multiply
/// chains, so the processor overlaps them), each step a bijection of the lane's state for a
/// given word, so a single changed word always changes its lane; the lanes are folded
/// into one state the same way, then a murmur3 finaliser over it and the length. Fixed
/// constants: runs are repeatable. Used only to compare retransmitted data with what was
/// delivered, not against an adversary.
fn fingerprint(data: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    #[inline(always)]
    fn step(h: u64, w: u64) -> u64 {
        (h.rotate_left(23) ^ w).wrapping_mul(K)
    }
    #[inline(always)]
    fn word(b: &[u8]) -> u64 {
        u64::from_le_bytes(b.try_into().expect("8 bytes"))
    }
    let mut lanes: [u64; 4] =
        [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344, 0xa409_3822_299f_31d0, 0x082e_fa98_ec4e_6c89];
    let mut blocks = data.chunks_exact(32);
    for b in &mut blocks {
        for (i, h) in lanes.iter_mut().enumerate() {
            *h = step(*h, word(&b[8 * i..8 * i + 8]));
        }
    }
    let mut h = lanes[0];
    for &l in &lanes[1..] {
        h = step(h, l);
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        h = step(h, word(w));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(last));
    }
    h ^= data.len() as u64;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Delivered pieces whose fingerprints are kept per direction.
const PRINTS: usize = 32;

/// A delivered piece's offset and length in one word (the offset's low 48 bits, the length's
/// 16), so that a fingerprint costs 16 bytes; `None` for a piece that does not fit (never in
/// practice: 256 TiB into a stream, or a piece over 64 KiB), which then has no fingerprint.
fn print_key(offset: u64, len: usize) -> Option<u64> {
    (offset < 1 << 48 && len < 1 << 16).then_some(offset << 16 | len as u64)
}

/// Appends delivered bytes to the window of recently delivered data, keeping at most
/// `window` bytes.
fn remember(hist: &mut VecDeque<u8>, data: &[u8], window: usize) {
    if window == 0 {
        return;
    }
    let data = &data[data.len().saturating_sub(window)..];
    let excess = (hist.len() + data.len()).saturating_sub(window);
    if excess > 0 {
        hist.drain(..excess);
    }
    hist.extend(data);
}

/// Compares `new` with the old bytes starting at index `i` of the concatenation `h1 ++ h2`
/// (which must cover them); returns the first and last differing index in `new`.
fn diff_span(h1: &[u8], h2: &[u8], i: usize, new: &[u8]) -> Option<(usize, usize)> {
    let old_at = |k: usize| {
        let j = i + k;
        if j < h1.len() {
            h1[j]
        } else {
            h2[j - h1.len()]
        }
    };
    // Fast path: compare contiguous slices.
    let equal = if i + new.len() <= h1.len() {
        h1[i..i + new.len()] == *new
    } else if i >= h1.len() {
        h2[i - h1.len()..i - h1.len() + new.len()] == *new
    } else {
        let n1 = h1.len() - i;
        h1[i..] == new[..n1] && h2[..new.len() - n1] == new[n1..]
    };
    if equal {
        return None;
    }
    let first = (0..new.len()).find(|&k| old_at(k) != new[k])?;
    let last = (first..new.len()).rev().find(|&k| old_at(k) != new[k]).unwrap_or(first);
    Some((first, last))
}

#[cfg(test)]
mod fingerprint_tests {
    use super::fingerprint;

    #[test]
    fn every_single_byte_change_and_every_length_changes_the_fingerprint() {
        let mut rng = crate::synth::rng::Rng::new(11);
        let data: Vec<u8> = (0..300).map(|_| rng.next_u32() as u8).collect();
        let mut seen = std::collections::HashSet::new();
        for n in 0..data.len() {
            assert!(seen.insert(fingerprint(&data[..n])), "prefix of {n} bytes collides");
        }
        let whole = fingerprint(&data);
        let mut changed = data.clone();
        for i in 0..data.len() {
            for bit in 0..8 {
                changed[i] ^= 1 << bit;
                assert_ne!(fingerprint(&changed), whole, "byte {i} bit {bit}");
                changed[i] ^= 1 << bit;
            }
        }
        // Zero bytes at the end are not lost in the padding of the last word.
        assert_ne!(fingerprint(&[1, 2, 3]), fingerprint(&[1, 2, 3, 0]));
        assert_eq!(fingerprint(&data), whole, "repeatable");
    }
}

#[cfg(test)]
mod print_key_tests {
    use super::print_key;

    #[test]
    fn offset_and_length_share_a_word_within_their_bits() {
        assert_eq!(print_key(0, 0), Some(0));
        assert_eq!(print_key(1, 2), Some(1 << 16 | 2));
        assert_eq!(print_key((1 << 48) - 1, 65_535), Some(u64::MAX));
        assert_eq!(print_key(1 << 48, 1), None);
        assert_eq!(print_key(5, 65_536), None);
        assert_ne!(print_key(1, 2), print_key(2, 1));
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    /// `h1 ++ h2` as [`diff_span`] reads it, every way of cutting `old` in two.
    fn diff_every_cut(old: &[u8], i: usize, new: &[u8]) -> Option<(usize, usize)> {
        let first = diff_span(old, &[], i, new);
        for cut in 0..=old.len() {
            let (h1, h2) = old.split_at(cut);
            assert_eq!(diff_span(h1, h2, i, new), first, "cut at {cut}, i {i}, new {new:?}");
        }
        first
    }

    #[test]
    fn differences_are_found_wherever_the_window_wraps() {
        let old = b"0123456789";
        // Equal ranges, at every start and length.
        for i in 0..old.len() {
            for n in 0..=old.len() - i {
                assert_eq!(diff_every_cut(old, i, &old[i..i + n]), None);
            }
        }
        // One changed byte, two, and the first and last of a range.
        assert_eq!(diff_every_cut(old, 2, b"2X4567"), Some((1, 1)));
        assert_eq!(diff_every_cut(old, 0, b"X12345678Y"), Some((0, 9)));
        assert_eq!(diff_every_cut(old, 3, b"34X6Y8"), Some((2, 4)));
        assert_eq!(diff_every_cut(old, 9, b"X"), Some((0, 0)));
        // A difference only on either side of where the window wraps.
        let (h1, h2) = old.split_at(4);
        assert_eq!(diff_span(h1, h2, 1, b"1X3456"), Some((1, 1)));
        assert_eq!(diff_span(h1, h2, 1, b"12345X"), Some((5, 5)));
        assert_eq!(diff_span(h1, h2, 3, b"3X"), Some((1, 1)));
        assert_eq!(diff_span(h1, h2, 3, b"X4"), Some((0, 0)));
        // Wholly in the second part, to its last byte.
        assert_eq!(diff_span(b"012", b"3456789", 3, b"3456789"), None);
        assert_eq!(diff_span(b"012", b"3456789", 3, b"345678X"), Some((6, 6)));
        assert_eq!(diff_span(b"012", b"3456789", 4, b"X56789"), Some((0, 0)));
    }

    #[test]
    fn the_window_keeps_the_last_bytes() {
        let mut hist = VecDeque::new();
        remember(&mut hist, b"abcdef", 4);
        assert_eq!(hist.iter().copied().collect::<Vec<_>>(), b"cdef");
        remember(&mut hist, b"gh", 4);
        assert_eq!(hist.iter().copied().collect::<Vec<_>>(), b"efgh");
        remember(&mut hist, b"ijkl", 4);
        assert_eq!(hist.iter().copied().collect::<Vec<_>>(), b"ijkl");
        remember(&mut hist, b"mn", 0);
        assert_eq!(hist.len(), 4, "a window of 0 keeps nothing new");
    }

    #[test]
    fn the_room_held_is_the_window_and_sixteen_bytes_a_fingerprint() {
        let mut d = Dir::default();
        assert_eq!(d.history_held(), 0);
        d.hist = VecDeque::with_capacity(100);
        let window = d.hist.capacity();
        assert_eq!(d.history_held(), window);
        d.prints = VecDeque::with_capacity(4);
        let prints = d.prints.capacity();
        assert!(prints >= 4);
        assert_eq!(d.history_held(), window + 16 * prints);
    }

    #[test]
    fn joined_chunks_keep_their_bytes_and_marks_in_order() {
        let mark = |off: u64, frame: u64| Mark { off, frame, ts_ns: frame as i64 };
        let chunk = |bytes: &[u8], marks: &[Mark]| Chunk::Bytes {
            data: bytes.iter().copied().collect(),
            marks: marks.iter().copied().collect(),
        };
        let bytes_and_frames = |c: Chunk| match c {
            Chunk::Bytes { data, marks } => (
                data.into_iter().collect::<Vec<u8>>(),
                marks.iter().map(|m| (m.off, m.frame)).collect::<Vec<_>>(),
            ),
            Chunk::Missing { .. } => unreachable!(),
        };
        // The larger first, the larger second, and equal sizes.
        for (a, b) in [(&b"abcd"[..], &b"ef"[..]), (b"ab", b"cdef"), (b"abc", b"def")] {
            let (sa, sb) = (10, 10 + a.len() as u64);
            let joined = join(sa, chunk(a, &[mark(sa, 1)]), sb, chunk(b, &[mark(sb, 2)]));
            let whole: Vec<u8> = a.iter().chain(b).copied().collect();
            assert_eq!(bytes_and_frames(joined), (whole, vec![(sa, 1), (sb, 2)]));
        }
    }

    #[test]
    fn fingerprints_spread_every_input_bit() {
        // A one-bit change of the input changes about half of the fingerprint's bits, and
        // never fewer than a sixth of them, whatever the length and position: the mixing
        // at the end reaches every bit both ways.
        let mut rng = crate::synth::rng::Rng::new(5);
        for len in [1usize, 3, 8, 13, 32, 45] {
            let data: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
            let base = fingerprint(&data);
            let mut total = 0u32;
            let mut changed = data.clone();
            for i in 0..len {
                for bit in 0..8 {
                    changed[i] ^= 1 << bit;
                    let d = (fingerprint(&changed) ^ base).count_ones();
                    changed[i] ^= 1 << bit;
                    assert!(d >= 11, "length {len}, byte {i} bit {bit}: {d} bits changed");
                    total += d;
                }
            }
            let mean = f64::from(total) / (len * 8) as f64;
            assert!((26.0..=38.0).contains(&mean), "length {len}: {mean} bits changed on average");
        }
    }
}

#[cfg(test)]
mod fingerprint_values {
    use super::fingerprint;

    /// The fingerprint is this function and no other: every step of its mixing is pinned
    /// by known answers (a weaker finaliser still tells single-bit changes apart, see
    /// `fingerprints_spread_every_input_bit`, but collides more).
    #[test]
    fn known_answers() {
        let got: Vec<u64> =
            [&b""[..], b"a", b"CTI", b"0123456789", &[0xff; 40]].iter().map(|d| fingerprint(d)).collect();
        assert_eq!(
            got,
            vec![
                0x623fbb0885f760e2,
                0x0b05c623f8166f85,
                0x1170ee43a2f303e5,
                0x767b15cf3168fee2,
                0x67d73026ba8ab80b
            ]
        );
    }
}
