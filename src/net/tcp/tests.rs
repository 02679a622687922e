use super::*;
use crate::net::TcpFlags;
use proptest::prelude::*;

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const FIN: u8 = TcpFlags::FIN;
const RST: u8 = TcpFlags::RST;
const PSH: u8 = TcpFlags::PSH;

fn cli() -> SocketAddr {
    "10.0.0.1:40000".parse().unwrap()
}
fn srv() -> SocketAddr {
    "10.0.0.2:42027".parse().unwrap()
}

/// Owned copy of a [`StreamEvent`] (timestamps are `frame * 1000` in these tests).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Start { conn: ConnId, a: SocketAddr, b: SocketAddr, start: ConnStart, frame: u64 },
    Data { conn: ConnId, side: Side, offset: u64, data: Vec<u8>, frame: u64 },
    Gap { conn: ConnId, side: Side, offset: u64, len: u64, reason: GapReason, frame: u64 },
    Conflict { conn: ConnId, side: Side, offset: u64, len: u64, frame: u64 },
    Limit { conn: Option<ConnId>, setting: &'static str, frame: u64 },
    End { conn: ConnId, end: ConnEnd, frame: u64 },
}

fn own(e: StreamEvent<'_>) -> Ev {
    match e {
        StreamEvent::ConnectionStart { conn, a, b, start, frame, ts_ns } => {
            assert_eq!(ts_ns, frame as i64 * 1000);
            Ev::Start { conn, a, b, start, frame }
        }
        StreamEvent::Data { conn, side, offset, data, frame, ts_ns, .. } => {
            assert_eq!(ts_ns, frame as i64 * 1000);
            Ev::Data { conn, side, offset, data: data.to_vec(), frame }
        }
        StreamEvent::Gap { conn, side, offset, len, reason, frame, ts_ns } => {
            assert_eq!(ts_ns, frame as i64 * 1000);
            Ev::Gap { conn, side, offset, len, reason, frame }
        }
        StreamEvent::Conflict { conn, side, offset, len, frame, ts_ns } => {
            assert_eq!(ts_ns, frame as i64 * 1000);
            Ev::Conflict { conn, side, offset, len, frame }
        }
        StreamEvent::Limit { conn, setting, frame, ts_ns } => {
            assert_eq!(ts_ns, frame as i64 * 1000);
            Ev::Limit { conn, setting, frame }
        }
        StreamEvent::ConnectionEnd { conn, end, frame, ts_ns, .. } => {
            assert_eq!(ts_ns, frame as i64 * 1000);
            Ev::End { conn, end, frame }
        }
    }
}

struct H {
    r: Reassembler,
    frame: u64,
}

impl H {
    fn new() -> H {
        H::with(ReassemblySettings::default())
    }
    fn with(settings: ReassemblySettings) -> H {
        H { r: Reassembler::new(settings), frame: 0 }
    }
    /// Feeds one segment (frame numbers count from 1); returns its events.
    #[allow(clippy::too_many_arguments)]
    fn wire(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
        wire_len: u32,
    ) -> Vec<Ev> {
        self.frame += 1;
        let seg = TcpSegment {
            frame: self.frame,
            ts_ns: self.frame as i64 * 1000,
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(flags),
            payload,
            wire_payload_len: wire_len,
        };
        let mut v = Vec::new();
        self.r.segment(&seg, &mut |e| v.push(own(e)));
        v
    }
    fn seg(&mut self, src: SocketAddr, dst: SocketAddr, seq: u32, ack: u32, flags: u8, p: &[u8]) -> Vec<Ev> {
        self.wire(src, dst, seq, ack, flags, p, p.len() as u32)
    }
    /// Client -> server.
    fn c(&mut self, seq: u32, ack: u32, flags: u8, p: &[u8]) -> Vec<Ev> {
        self.seg(cli(), srv(), seq, ack, flags, p)
    }
    /// Server -> client.
    fn s(&mut self, seq: u32, ack: u32, flags: u8, p: &[u8]) -> Vec<Ev> {
        self.seg(srv(), cli(), seq, ack, flags, p)
    }
    /// SYN (client ISN `ci`), SYN-ACK (server ISN `si`), ACK: frames 1..=3.
    fn handshake(&mut self, ci: u32, si: u32) -> Vec<Ev> {
        let mut v = self.c(ci, 0, SYN, b"");
        v.extend(self.s(si, ci.wrapping_add(1), SYN | ACK, b""));
        v.extend(self.c(ci.wrapping_add(1), si.wrapping_add(1), ACK, b""));
        v
    }
    fn finish(&mut self) -> Vec<Ev> {
        let mut v = Vec::new();
        self.r.finish(&mut |e| v.push(own(e)));
        v
    }
}

fn data(conn: ConnId, side: Side, offset: u64, d: &[u8], frame: u64) -> Ev {
    Ev::Data { conn, side, offset, data: d.to_vec(), frame }
}

fn gap(conn: ConnId, side: Side, offset: u64, len: u64, reason: GapReason, frame: u64) -> Ev {
    Ev::Gap { conn, side, offset, len, reason, frame }
}

#[test]
fn handshake_and_in_order_delivery_borrow_the_payload() {
    let mut h = H::new();
    assert_eq!(
        h.handshake(1000, 5000),
        vec![Ev::Start { conn: 0, a: cli(), b: srv(), start: ConnStart::Handshake, frame: 1 }]
    );
    let p1 = b"hello".to_vec();
    let p2 = b" world".to_vec();
    let p3 = b"hi".to_vec();
    let mut ptrs = Vec::new();
    for (frame, (src, dst, seq, p)) in
        [(cli(), srv(), 1001u32, &p1), (cli(), srv(), 1006, &p2), (srv(), cli(), 5001, &p3)]
            .into_iter()
            .enumerate()
    {
        let seg = TcpSegment {
            frame: 4 + frame as u64,
            ts_ns: 0,
            src,
            dst,
            seq,
            ack: 1,
            flags: TcpFlags(PSH),
            payload: p,
            wire_payload_len: p.len() as u32,
        };
        h.r.segment(&seg, &mut |e| match e {
            StreamEvent::Data { conn, side, offset, data, frame, .. } => {
                ptrs.push((conn, side, offset, data.as_ptr(), data.len(), frame))
            }
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(
        ptrs,
        vec![
            (0, Side::A, 0, p1.as_ptr(), 5, 4),
            (0, Side::A, 5, p2.as_ptr(), 6, 5),
            (0, Side::B, 0, p3.as_ptr(), 2, 6),
        ]
    );
    assert_eq!(h.r.stats().delivered_bytes, 13);
    assert_eq!(h.r.stats().out_of_order_segments, 0);
}

#[test]
fn syn_ack_first_makes_its_receiver_side_a() {
    let mut h = H::new();
    assert_eq!(
        h.s(5000, 1001, SYN | ACK, b""),
        vec![Ev::Start { conn: 0, a: cli(), b: srv(), start: ConnStart::Handshake, frame: 1 }]
    );
    assert_eq!(h.s(5001, 1001, ACK, b"ab"), vec![data(0, Side::B, 0, b"ab", 2)]);
    assert_eq!(h.c(1001, 5003, ACK, b"xyz"), vec![data(0, Side::A, 0, b"xyz", 3)]);
}

#[test]
fn syn_ack_first_fixes_the_other_sides_start() {
    let mut h = H::new();
    h.s(5000, 1001, SYN | ACK, b""); // frame 1
                                     // The client's first bytes (offset 0..3) were not captured.
    assert_eq!(h.c(1004, 5001, ACK, b"def"), vec![]); // frame 2
                                                      // A retransmitted SYN from the client matches its known start: same connection.
    assert_eq!(h.c(1000, 0, SYN, b""), vec![]);
    assert_eq!(
        h.finish(),
        vec![
            gap(0, Side::A, 0, 3, GapReason::ConnectionEnd, 3),
            data(0, Side::A, 3, b"def", 2),
            Ev::End { conn: 0, end: ConnEnd::CaptureEnd, frame: 3 },
        ]
    );
}

#[test]
fn keepalive_probes_are_not_conflicts() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abc");
    assert_eq!(h.c(103, 901, ACK, b"\0"), vec![]);
    assert_eq!(h.c(103, 901, ACK, b""), vec![]);
    assert_eq!(h.r.stats().keepalives, 1);
    assert_eq!(h.r.stats().conflicts, 0);
    assert_eq!(h.c(104, 901, ACK, b"d"), vec![data(0, Side::A, 3, b"d", 7)]);
}

#[test]
fn reordered_segments_are_delivered_in_order_with_their_own_frames() {
    let mut h = H::new();
    h.handshake(100, 900);
    assert_eq!(h.c(101, 901, ACK, b"aaa"), vec![data(0, Side::A, 0, b"aaa", 4)]);
    assert_eq!(h.c(107, 901, ACK, b"ccc"), vec![]); // frame 5, buffered
    assert_eq!(h.c(110, 901, ACK, b"dd"), vec![]); // frame 6, appended to the same chunk
    assert_eq!(
        h.c(104, 901, ACK, b"bbb"), // frame 7 fills the hole
        vec![data(0, Side::A, 3, b"bbb", 7), data(0, Side::A, 6, b"ccc", 5), data(0, Side::A, 9, b"dd", 6),]
    );
    assert_eq!(h.r.stats().out_of_order_segments, 2);
    assert_eq!(h.r.stats().delivered_bytes, 11);
}

#[test]
fn identical_retransmissions_are_dropped() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abcdef");
    assert_eq!(h.c(101, 901, ACK, b"abcdef"), vec![]);
    // Partly new: only the new part is delivered.
    assert_eq!(h.c(104, 901, ACK, b"defgh"), vec![data(0, Side::A, 6, b"gh", 6)]);
    // Duplicate of buffered out-of-order data.
    assert_eq!(h.c(120, 901, ACK, b"zz"), vec![]);
    assert_eq!(h.c(120, 901, ACK, b"zz"), vec![]);
    assert_eq!(h.r.stats().retransmitted_bytes, 6 + 3 + 2);
    assert_eq!(h.r.stats().conflicts, 0);
}

#[test]
fn divergent_retransmission_is_a_conflict_and_first_copy_wins() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abcdef");
    assert_eq!(
        h.c(102, 901, ACK, b"bXdYfgh"), // frame 5: differs at offsets 2 and 4
        vec![
            Ev::Conflict { conn: 0, side: Side::A, offset: 2, len: 3, frame: 5 },
            data(0, Side::A, 6, b"gh", 5),
        ]
    );
    // Against buffered data: the buffered copy is what gets delivered.
    assert_eq!(h.c(111, 901, ACK, b"klm"), vec![]); // frame 6
    assert_eq!(
        h.c(112, 901, ACK, b"Lm"), // frame 7
        vec![Ev::Conflict { conn: 0, side: Side::A, offset: 11, len: 1, frame: 7 }]
    );
    assert_eq!(
        h.c(109, 901, ACK, b"ij"), // frame 8
        vec![data(0, Side::A, 8, b"ij", 8), data(0, Side::A, 10, b"klm", 6)]
    );
    assert_eq!(h.r.stats().conflicts, 2);
}

#[test]
fn overlaps_older_than_the_window_are_not_compared() {
    let mut h = H::with(ReassemblySettings { retransmit_window: 4, ..Default::default() });
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abcdefgh");
    // Offsets 0..4 are outside the window, 4..8 inside: only the latter are compared.
    assert_eq!(
        h.c(101, 901, ACK, b"XXXXeXgh"),
        vec![Ev::Conflict { conn: 0, side: Side::A, offset: 5, len: 1, frame: 5 }]
    );
    assert_eq!(h.r.stats().retransmitted_bytes, 4);
    // Acknowledged bytes are not compared either.
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abcdef"); // frame 4
    h.s(901, 105, ACK, b""); // frame 5: acknowledges offsets 0..4
    assert_eq!(
        h.c(101, 901, ACK, b"XXXXeY"),
        vec![Ev::Conflict { conn: 0, side: Side::A, offset: 5, len: 1, frame: 6 }]
    );
    assert_eq!(h.r.stats().retransmitted_bytes, 4);
}

#[test]
fn pieces_older_than_the_window_are_compared_by_fingerprint() {
    let mut h = H::with(ReassemblySettings { retransmit_window: 4, ..Default::default() });
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abcdef"); // frame 4: offsets 0..6
    h.c(107, 901, ACK, b"ghijkl"); // frame 5: offsets 6..12, the window holds 8..12
                                   // The first piece again, wholly outside the window: the same bytes, nothing to say.
    assert_eq!(h.c(101, 901, ACK, b"abcdef"), vec![]);
    // Other bytes in exactly its range: its fingerprint differs.
    assert_eq!(
        h.c(101, 901, ACK, b"abcdeX"), // frame 7
        vec![Ev::Conflict { conn: 0, side: Side::A, offset: 0, len: 6, frame: 7 }]
    );
    // A range that was not one piece (same start, other length): counted, not compared.
    assert_eq!(h.c(101, 901, ACK, b"abXX"), vec![]);
    assert_eq!(h.r.stats().conflicts, 1);
    assert_eq!(h.r.stats().retransmitted_bytes, 6 + 6 + 4);
}

#[test]
fn fingerprints_count_against_the_capture_wide_budget() {
    // 64 bytes for everything: each delivery's window and fingerprints pass it and are let go.
    let mut h = H::with(ReassemblySettings { max_buffered_total: 64, ..Default::default() });
    h.handshake(100, 900);
    for i in 0..40u32 {
        h.c(101 + 10 * i, 901, ACK, b"0123456789");
        assert!(h.r.stats().history_now <= 64, "{} bytes held", h.r.stats().history_now);
    }
    assert!(h.r.stats().history_dropped >= 40);
    // A changed copy of a delivered piece can no longer be compared: counted only.
    assert_eq!(h.c(101, 901, ACK, b"X123456789"), vec![]);
    assert_eq!(h.r.stats().conflicts, 0);
    assert_eq!(h.r.stats().retransmitted_bytes, 10);
}

#[test]
fn buffer_limit_skips_the_hole() {
    // Room for 10 bytes in one chunk with one mark.
    let budget = stream::CHUNK_OVERHEAD + stream::MARK_BYTES + 10;
    let mut h = H::with(ReassemblySettings { max_buffered_per_direction: budget, ..Default::default() });
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"ab");
    assert_eq!(h.c(113, 901, ACK, b"0123456"), vec![]); // frame 5, offset 12
    assert_eq!(
        h.c(120, 901, ACK, b"7890"), // frame 6: 11 bytes buffered
        vec![
            Ev::Limit { conn: Some(0), setting: "max_buffered_per_direction", frame: 6 },
            gap(0, Side::A, 2, 10, GapReason::BufferLimit, 6),
            data(0, Side::A, 12, b"0123456", 5),
            data(0, Side::A, 19, b"7890", 6),
        ]
    );
    // The limit is reported once per connection.
    assert_eq!(
        h.c(140, 901, ACK, b"0123456789X"), // frame 7, offset 39
        vec![gap(0, Side::A, 23, 16, GapReason::BufferLimit, 7), data(0, Side::A, 39, b"0123456789X", 7),]
    );
    assert_eq!(h.r.stats().gap_bytes, 26);
    assert_eq!(h.r.stats().gaps, 2);
}

#[test]
fn ack_past_the_hole_skips_it() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abc");
    assert_eq!(h.c(110, 901, ACK, b"jk"), vec![]); // offset 9, frame 5
                                                   // The server acknowledges up to offset 6: only [3, 6) is known lost.
    assert_eq!(h.s(901, 107, ACK, b""), vec![gap(0, Side::A, 3, 3, GapReason::AckedPastHole, 6)]);
    // Then past the buffered data.
    assert_eq!(
        h.s(901, 112, ACK, b""),
        vec![gap(0, Side::A, 6, 3, GapReason::AckedPastHole, 7), data(0, Side::A, 9, b"jk", 5)]
    );
    // An ACK received before the out-of-order data skips the hole when the data arrives.
    h.s(901, 130, ACK, b""); // acks up to offset 29, frame 8
    assert_eq!(
        h.c(125, 901, ACK, b"xy"), // offset 24, frame 9
        vec![gap(0, Side::A, 11, 13, GapReason::AckedPastHole, 9), data(0, Side::A, 24, b"xy", 9)]
    );
}

#[test]
fn holes_are_gaps_at_finish() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abc"); // frame 4
    h.c(106, 901, ACK, b"fg"); // frame 5
    h.s(901, 104, ACK, b"srv"); // frame 6
    h.s(910, 104, ACK, b"late"); // frame 7, offset 9
    assert_eq!(
        h.finish(),
        vec![
            gap(0, Side::A, 3, 2, GapReason::ConnectionEnd, 7),
            data(0, Side::A, 5, b"fg", 5),
            gap(0, Side::B, 3, 6, GapReason::ConnectionEnd, 7),
            data(0, Side::B, 9, b"late", 7),
            Ev::End { conn: 0, end: ConnEnd::CaptureEnd, frame: 7 },
        ]
    );
    assert_eq!(h.finish(), vec![]);
}

#[test]
fn snaplen_truncation_is_a_gap() {
    let mut h = H::new();
    h.handshake(100, 900);
    // 3 of 10 bytes captured.
    assert_eq!(
        h.wire(cli(), srv(), 101, 901, ACK, b"abc", 10),
        vec![data(0, Side::A, 0, b"abc", 4), gap(0, Side::A, 3, 7, GapReason::Truncated, 4)]
    );
    assert_eq!(h.c(111, 901, ACK, b"next"), vec![data(0, Side::A, 10, b"next", 5)]);
    // Out of order: the truncated tail waits in the buffer with its frame.
    assert_eq!(h.wire(cli(), srv(), 120, 901, ACK, b"xy", 6), vec![]); // frame 6, offset 19
    assert_eq!(
        h.c(115, 901, ACK, b"01234"), // frame 7, offset 14
        vec![
            data(0, Side::A, 14, b"01234", 7),
            data(0, Side::A, 19, b"xy", 6),
            gap(0, Side::A, 21, 4, GapReason::Truncated, 6),
        ]
    );
    assert_eq!(h.c(126, 901, ACK, b"z"), vec![data(0, Side::A, 25, b"z", 8)]);
}

#[test]
fn midstream_start_drops_bytes_before_offset_zero() {
    let mut h = H::new();
    assert_eq!(
        h.s(70_000, 3_000, ACK | PSH, b"world"),
        vec![
            Ev::Start { conn: 0, a: srv(), b: cli(), start: ConnStart::Midstream, frame: 1 },
            data(0, Side::A, 0, b"world", 1),
        ]
    );
    // Reordered at capture start: entirely before offset 0, dropped; partly, trimmed.
    assert_eq!(h.s(69_995, 3_000, ACK, b"hello"), vec![]);
    assert_eq!(h.s(69_998, 3_000, ACK, b"loworld!"), vec![data(0, Side::A, 5, b"!", 3)]);
    assert_eq!(h.r.stats().bytes_before_start, 7);
    // The other direction starts at its own first byte.
    assert_eq!(h.c(3_000, 70_006, ACK, b"ok"), vec![data(0, Side::B, 0, b"ok", 4)]);
}

#[test]
fn one_direction_capture_delivers_everything() {
    let mut h = H::new();
    let mut v = Vec::new();
    for i in 0..10u32 {
        v.extend(h.c(1_000 + i * 4, 77, ACK, &[i as u8; 4]));
    }
    let mut got = Vec::new();
    for e in &v[1..] {
        match e {
            Ev::Data { conn: 0, side: Side::A, offset, data, .. } => {
                assert_eq!(*offset, got.len() as u64);
                got.extend_from_slice(data);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got.len(), 40);
    assert_eq!(got[36..], [9, 9, 9, 9]);
    assert_eq!(h.finish(), vec![Ev::End { conn: 0, end: ConnEnd::CaptureEnd, frame: 10 }]);
}

#[test]
fn fin_from_both_sides_ends_the_connection() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"req"); // frame 4
    assert_eq!(h.c(104, 901, FIN | ACK, b""), vec![]); // frame 5
                                                       // Data after FIN-from-the-other-side is still delivered.
    assert_eq!(h.s(901, 105, ACK, b"resp"), vec![data(0, Side::B, 0, b"resp", 6)]);
    assert_eq!(
        h.s(905, 105, FIN | ACK, b"!"),
        vec![data(0, Side::B, 4, b"!", 7), Ev::End { conn: 0, end: ConnEnd::Fin, frame: 7 }]
    );
    // The final ACK and a retransmitted FIN belong to the closed connection.
    assert_eq!(h.c(105, 907, ACK, b""), vec![]);
    assert_eq!(h.s(905, 105, FIN | ACK, b"!"), vec![]);
    assert_eq!(h.r.stats().ignored_after_close, 2);
    assert_eq!(h.r.open_connections(), 0);
    // A new handshake on the same pair is a new connection.
    assert_eq!(
        h.c(5000, 0, SYN, b""),
        vec![Ev::Start { conn: 1, a: cli(), b: srv(), start: ConnStart::Handshake, frame: 10 }]
    );
}

#[test]
fn fin_flushes_holes_and_rst_ends_at_once() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"ab"); // frame 4
    h.c(106, 901, ACK, b"fg"); // frame 5, hole at 2..5
    h.c(108, 901, FIN | ACK, b""); // frame 6
    assert_eq!(
        h.s(901, 103, FIN | ACK, b""), // frame 7
        vec![
            gap(0, Side::A, 2, 3, GapReason::ConnectionEnd, 7),
            data(0, Side::A, 5, b"fg", 5),
            Ev::End { conn: 0, end: ConnEnd::Fin, frame: 7 },
        ]
    );
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"ab");
    assert_eq!(h.s(901, 103, RST | ACK, b"ignored"), vec![Ev::End { conn: 0, end: ConnEnd::Rst, frame: 5 }]);
    assert_eq!(h.r.stats().delivered_bytes, 2);
    // A segment well beyond the closed sequence space starts a new (mid-stream) connection.
    assert_eq!(
        h.c(1_000_000_000, 901, ACK, b"x"),
        vec![
            Ev::Start { conn: 1, a: cli(), b: srv(), start: ConnStart::Midstream, frame: 6 },
            data(1, Side::A, 0, b"x", 6),
        ]
    );
}

#[test]
fn new_syn_on_a_tracked_pair_reuses_it() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"ab"); // frame 4
                               // Retransmitted SYN with the same ISN: same connection.
    assert_eq!(h.c(100, 0, SYN, b""), vec![]);
    h.c(110, 901, ACK, b"zz"); // frame 6, buffered beyond a hole
    assert_eq!(
        h.c(7_000, 0, SYN, b""), // frame 7
        vec![
            gap(0, Side::A, 2, 7, GapReason::ConnectionEnd, 7),
            data(0, Side::A, 9, b"zz", 6),
            Ev::End { conn: 0, end: ConnEnd::Reused, frame: 7 },
            Ev::Start { conn: 1, a: cli(), b: srv(), start: ConnStart::Handshake, frame: 7 },
        ]
    );
    assert_eq!(h.c(7_001, 0, ACK, b"new"), vec![data(1, Side::A, 0, b"new", 8)]);
}

#[test]
fn sequence_numbers_wrap() {
    let mut h = H::new();
    h.handshake(0xFFFF_FFF0, 0xFFFF_FFFE);
    let mut got = Vec::new();
    let chunk = [7u8; 10];
    // Client: offsets 0.. from seq 0xFFFF_FFF1, crossing zero; sent out of order.
    let order = [1u32, 0, 3, 2, 4];
    for &i in &order {
        for e in h.c(0xFFFF_FFF1u32.wrapping_add(i * 10), 0xFFFF_FFFF, ACK, &chunk) {
            match e {
                Ev::Data { side: Side::A, offset, data, .. } => got.push((offset, data.len())),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(got, vec![(0, 10), (10, 10), (20, 10), (30, 10), (40, 10)]);
    // Server: ISN 0xFFFF_FFFE, offset 0 at seq 0xFFFF_FFFF, next at seq 1.
    assert_eq!(h.s(0xFFFF_FFFF, 0x21, ACK, b"a"), vec![data(0, Side::B, 0, b"a", 9)]);
    assert_eq!(h.s(0, 0x21, ACK, b"bc"), vec![data(0, Side::B, 1, b"bc", 10)]);
}

#[test]
fn max_connections_evicts_the_least_recently_active() {
    let mut h = H::with(ReassemblySettings { max_connections: 2, ..Default::default() });
    let peer = |p: u16| -> SocketAddr { format!("10.0.0.9:{p}").parse().unwrap() };
    h.seg(peer(1), srv(), 10, 0, ACK, b"one"); // conn 0
    h.seg(peer(2), srv(), 10, 0, ACK, b"two"); // conn 1
    h.seg(peer(1), srv(), 13, 0, ACK, b"!"); // conn 0 becomes the most recent
    h.seg(peer(1), srv(), 20, 0, ACK, b"buf"); // frame 4: buffered beyond a hole
    assert_eq!(
        h.seg(peer(3), srv(), 10, 0, ACK, b"x"), // frame 5
        vec![
            Ev::Limit { conn: None, setting: "max_connections", frame: 5 },
            Ev::End { conn: 1, end: ConnEnd::Evicted, frame: 5 },
            Ev::Start { conn: 2, a: peer(3), b: srv(), start: ConnStart::Midstream, frame: 5 },
            data(2, Side::A, 0, b"x", 5),
        ]
    );
    assert_eq!(
        h.seg(peer(4), srv(), 10, 0, ACK, b""), // frame 6: evicts conn 0, flushing it
        vec![
            gap(0, Side::A, 4, 6, GapReason::ConnectionEnd, 6),
            data(0, Side::A, 10, b"buf", 4),
            Ev::End { conn: 0, end: ConnEnd::Evicted, frame: 6 },
            Ev::Start { conn: 3, a: peer(4), b: srv(), start: ConnStart::Midstream, frame: 6 },
        ]
    );
    assert_eq!(h.r.stats().evicted, 2);
    assert_eq!(h.r.open_connections(), 2);
    assert_eq!(
        h.finish(),
        vec![
            Ev::End { conn: 2, end: ConnEnd::CaptureEnd, frame: 6 },
            Ev::End { conn: 3, end: ConnEnd::CaptureEnd, frame: 6 },
        ]
    );
}

#[test]
fn many_connections_stay_bounded() {
    let mut h = H::with(ReassemblySettings { max_connections: 50_000, ..Default::default() });
    let mut events = 0;
    for i in 0..100_000u32 {
        let src = SocketAddr::from(([10, 1, (i >> 16) as u8, (i >> 8) as u8], (i & 0xFF) as u16 + 1000));
        events += h.seg(src, srv(), i, 0, ACK, b"x").len();
    }
    // Start + Data per segment, Limit once, End per eviction.
    assert_eq!(events, 200_000 + 1 + 50_000);
    assert_eq!(h.r.open_connections(), 50_000);
    assert_eq!(h.r.stats().evicted, 50_000);
    assert_eq!(h.finish().len(), 50_000);
}

#[test]
fn consecutive_out_of_order_segments_share_one_chunk() {
    let mut h = H::new();
    h.c(0, 0, ACK, b"s"); // frame 1
    for i in 0..200_000u32 {
        assert_eq!(h.c(2 + i * 2, 0, ACK, b"yz"), vec![]); // frames 2..=200_001
    }
    let v = h.c(1, 0, ACK, b"h"); // frame 200_002

    // The first segments keep a mark each; from the 64th mark on, a mark takes up to 64
    // bytes (32 segments), with the frame of its last segment.
    let exact = stream::EXACT_MARKS as u64;
    let span = stream::MARK_SPAN;
    assert_eq!(v[0], data(0, Side::A, 1, b"h", 200_002));
    for k in 1..exact {
        assert_eq!(v[k as usize], data(0, Side::A, 2 * k, b"yz", k + 1));
    }
    let block = b"yz".repeat(span as usize / 2);
    assert_eq!(v[exact as usize], data(0, Side::A, 2 * exact, &block, exact + 32));
    let shared = &v[exact as usize..];
    assert_eq!(shared.len() as u64, (400_002 - 2 * exact).div_ceil(span));
    let mut at = 2 * exact;
    for e in shared {
        let Ev::Data { offset, data, frame, .. } = e else { panic!("{e:?}") };
        assert_eq!(*offset, at);
        assert!(data.len() as u64 <= span);
        assert_eq!(*frame, (offset + data.len() as u64) / 2, "the frame of the last segment");
        at += data.len() as u64;
    }
    assert_eq!(at, 400_002);
    assert_eq!(h.r.stats().delivered_bytes, 400_002);
    assert_eq!(h.r.stats().buffered_now, 0);
}

#[test]
fn segments_in_reverse_order_join_one_chunk() {
    // 100,800 one-byte segments, last byte first: each joins the chunk after it, so the
    // whole stream is held as one chunk and delivered when the first byte arrives.
    let mut h = H::new();
    h.c(0, 0, ACK, b"s"); // frame 1, offset 0
    let n = 100_800u32;
    for i in (0..n).rev() {
        assert_eq!(h.c(2 + i, 0, ACK, &[(i % 251) as u8]), vec![]);
    }
    let cost = h.r.stats().buffered_now;
    let marks = stream::EXACT_MARKS + (n as usize - stream::EXACT_MARKS).div_ceil(stream::MARK_SPAN as usize);
    assert_eq!(cost, stream::CHUNK_OVERHEAD + n as usize + marks * stream::MARK_BYTES);
    let v = h.c(1, 0, ACK, b"h");
    let mut got = Vec::new();
    for e in &v {
        match e {
            Ev::Data { data, .. } => got.extend_from_slice(data),
            other => panic!("{other:?}"),
        }
    }
    let want: Vec<u8> = std::iter::once(b'h').chain((0..n).map(|i| (i % 251) as u8)).collect();
    assert_eq!(got, want);
    assert_eq!((h.r.stats().gaps, h.r.stats().buffered_now), (0, 0));
}

#[test]
fn a_segment_that_fills_the_hole_between_two_chunks_joins_them() {
    let mut h = H::new();
    h.c(0, 0, ACK, b"s"); // offset 0
    assert_eq!(h.c(11, 0, ACK, b"klmno"), vec![]); // offsets 11..16
    assert_eq!(h.c(3, 0, ACK, b"cde"), vec![]); // offsets 3..6
    assert_eq!(h.c(6, 0, ACK, b"fghij"), vec![]); // offsets 6..11: joins both
    let one = stream::CHUNK_OVERHEAD + 13 + 3 * stream::MARK_BYTES;
    assert_eq!(h.r.stats().buffered_now, one, "one chunk, a mark per segment");
    let v = h.c(1, 0, ACK, b"ab");
    let got: Vec<u8> = v
        .iter()
        .flat_map(|e| match e {
            Ev::Data { data, .. } => data.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, b"abcdefghijklmno");
}

#[test]
fn scattered_tiny_segments_are_bounded_by_the_byte_budget() {
    // Each one-byte segment with a hole on both sides is a chunk of its own: its byte, a
    // mark and the chunk overhead count against the budget.
    let per_chunk = 1 + stream::MARK_BYTES + stream::CHUNK_OVERHEAD;
    let mut h =
        H::with(ReassemblySettings { max_buffered_per_direction: 1000 * per_chunk, ..Default::default() });
    h.c(0, 0, ACK, b"s");
    let mut events = Vec::new();
    // 200,000 one-byte segments in reverse order, a byte apart.
    for i in (0..200_000u32).rev() {
        events.extend(h.c(3 + 2 * i, 0, ACK, b"y"));
    }
    // At 1001 chunks the first hole is skipped, releasing the lowest chunk (i = 198_999).
    let frame = 2 + (199_999 - 198_999);
    assert_eq!(
        events,
        vec![
            Ev::Limit { conn: Some(0), setting: "max_buffered_per_direction", frame },
            gap(0, Side::A, 1, 398_000, GapReason::BufferLimit, frame),
            data(0, Side::A, 398_001, b"y", frame),
        ]
    );
    // Everything after lies before the delivered point: old retransmissions.
    assert_eq!(h.r.stats().retransmitted_bytes, 198_999);
    let end = h.finish();
    assert_eq!(end.len(), 1000 * 2 + 1);
    assert_eq!(h.r.stats().delivered_bytes, 1 + 1 + 1000);
    assert_eq!(h.r.stats().gaps, 1001);
}

/// A stream split into segments of random sizes, with duplicates and reordering within a
/// window, fed after a handshake.
fn shuffled_segments() -> impl Strategy<Value = (Vec<u8>, u32, Vec<(usize, usize)>)> {
    (
        proptest::collection::vec(any::<u8>(), 1..3000),
        prop_oneof![any::<u32>(), (0xFFFF_F000u32..=u32::MAX)],
        proptest::collection::vec(1usize..200, 1..64),
        proptest::collection::vec((0usize..8, any::<bool>()), 0..128),
    )
        .prop_map(|(bytes, isn, sizes, swaps)| {
            let mut segs = Vec::new();
            let (mut at, mut k) = (0, 0);
            while at < bytes.len() {
                let n = sizes[k % sizes.len()].min(bytes.len() - at);
                segs.push((at, at + n));
                at += n;
                k += 1;
            }
            // Bounded reordering and duplicates.
            for (i, &(d, dup)) in swaps.iter().enumerate() {
                let i = i % segs.len();
                let j = (i + d).min(segs.len() - 1);
                segs.swap(i, j);
                if dup {
                    let s = segs[j];
                    segs.insert(i, s);
                }
            }
            (bytes, isn, segs)
        })
}

proptest! {
    #[test]
    fn shuffled_duplicated_segments_reassemble_exactly(
        (bytes, isn, segs) in shuffled_segments(),
        close_with_fin in any::<bool>(),
    ) {
        let mut h = H::new();
        h.handshake(isn, 42);
        let mut got = Vec::new();
        let mut bad = Vec::new();
        for &(s, e) in &segs {
            let seq = isn.wrapping_add(1).wrapping_add(s as u32);
            for ev in h.c(seq, 43, ACK, &bytes[s..e]) {
                match ev {
                    Ev::Data { side: Side::A, offset, data, .. } => {
                        prop_assert_eq!(offset, got.len() as u64);
                        got.extend_from_slice(&data);
                    }
                    other => bad.push(other),
                }
            }
        }
        let mut ends = Vec::new();
        if close_with_fin {
            let fin_seq = isn.wrapping_add(1).wrapping_add(bytes.len() as u32);
            ends.extend(h.c(fin_seq, 43, FIN | ACK, b""));
            ends.extend(h.s(43, fin_seq.wrapping_add(1), FIN | ACK, b""));
            // The final ACK belongs to the closed connection.
            ends.extend(h.c(fin_seq.wrapping_add(1), 44, ACK, b""));
        }
        ends.extend(h.finish());
        let expected_end = if close_with_fin { ConnEnd::Fin } else { ConnEnd::CaptureEnd };
        for ev in ends {
            if !matches!(ev, Ev::End { conn: 0, end, .. } if end == expected_end) {
                bad.push(ev);
            }
        }
        prop_assert_eq!(bad, vec![]);
        prop_assert_eq!(got, bytes);
        prop_assert_eq!(h.r.stats().conflicts, 0);
    }

    #[test]
    fn arbitrary_segments_never_panic(
        segs in proptest::collection::vec(
            (0u8..4, 0u8..4, any::<u32>(), any::<u32>(), any::<u8>(),
             proptest::collection::vec(any::<u8>(), 0..40), 0u32..80, any::<bool>()),
            1..200),
        small in any::<bool>(),
    ) {
        let settings = if small {
            ReassemblySettings {
                max_buffered_per_direction: 16,
                max_connections: 2,
                retransmit_window: 8,
                max_buffered_total: 40,
            }
        } else {
            ReassemblySettings::default()
        };
        let mut h = H::with(settings);
        let addr = |i: u8| SocketAddr::from(([10, 0, 0, i % 3], 1000 + u16::from(i % 2)));
        // Near-sequential seq numbers half the time, so that the interesting paths run.
        let mut last = 0u32;
        let mut starts = 0u64;
        let mut ends = 0u64;
        for (src, dst, seq, ack, flags, payload, wire, near) in segs {
            let seq = if near { last.wrapping_add(seq % 64) } else { seq };
            last = seq;
            for ev in h.wire(addr(src), addr(dst), seq, ack, flags, &payload, wire) {
                match ev {
                    Ev::Start { .. } => starts += 1,
                    Ev::End { .. } => ends += 1,
                    Ev::Gap { len, .. } | Ev::Conflict { len, .. } => prop_assert!(len > 0),
                    Ev::Data { data, .. } => prop_assert!(!data.is_empty()),
                    Ev::Limit { .. } => {}
                }
            }
        }
        ends += h.finish().iter().filter(|e| matches!(e, Ev::End { .. })).count() as u64;
        prop_assert_eq!(starts, ends);
    }
}

#[test]
fn capture_wide_buffer_budget_bounds_all_connections_together() {
    // Each connection stays under its own limit (100 bytes), but together they exceed the
    // capture-wide budget (250 bytes): the connection that crosses it gives up its hole.
    let per_chunk = stream::CHUNK_OVERHEAD + stream::MARK_BYTES;
    let settings = ReassemblySettings {
        max_buffered_per_direction: 100 + per_chunk,
        max_buffered_total: 250 + 3 * per_chunk,
        ..Default::default()
    };
    let mut h = H::with(settings);
    let mut events = Vec::new();
    for i in 0..5u16 {
        let c: SocketAddr = format!("10.0.0.{}:5000", i + 2).parse().unwrap();
        events.extend(h.seg(c, srv(), 100, 0, SYN, b""));
        // A hole of 10 bytes, then 80 bytes buffered beyond it.
        events.extend(h.seg(c, srv(), 111, 0, ACK, &[b'x'; 80]));
    }
    let limits: Vec<&Ev> = events.iter().filter(|e| matches!(e, Ev::Limit { .. })).collect();
    assert_eq!(limits.len(), 1, "{events:?}");
    assert!(matches!(limits[0], Ev::Limit { conn: None, setting: "max_buffered_total", .. }));
    // The fourth connection crossed the budget (4 x 80 > 250): its hole became a gap and its
    // bytes were delivered; the budget holds from then on.
    assert!(events
        .iter()
        .any(|e| matches!(e, Ev::Gap { conn: 3, reason: GapReason::BufferLimit, len: 10, .. })));
    assert!(h.r.stats().buffered_now <= 250 + 3 * per_chunk + 80 + per_chunk, "{}", h.r.stats().buffered_now);
}

/// Reassembly pinned value by value.
mod pinned;
