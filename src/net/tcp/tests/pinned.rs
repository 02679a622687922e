//! Reassembly pinned value by value: the words of the JSON output (docs/json-schema.md)
//! and the boundaries of the limits.

use super::*;

#[test]
fn starts_ends_and_gaps_in_words() {
    assert_eq!(ConnStart::Handshake.as_str(), "handshake");
    assert_eq!(ConnStart::Midstream.as_str(), "midstream");
    let ends = [
        (ConnEnd::Fin, "fin"),
        (ConnEnd::Rst, "rst"),
        (ConnEnd::CaptureEnd, "capture_end"),
        (ConnEnd::Reused, "reused"),
        (ConnEnd::Evicted, "evicted"),
    ];
    for (end, word) in ends {
        assert_eq!(end.as_str(), word);
    }
    let gaps = [
        (GapReason::BufferLimit, "buffer_limit", "later data exceeded the reassembly buffer"),
        (GapReason::AckedPastHole, "acked_past_hole", "acknowledged by the peer, never captured"),
        (GapReason::ConnectionEnd, "connection_end", "the connection ended with the hole open"),
        (GapReason::Truncated, "snaplen", "cut by the capture's snap length"),
    ];
    for (reason, word, phrase) in gaps {
        assert_eq!(reason.as_str(), word);
        assert_eq!(reason.explain(), phrase);
    }
}

#[test]
fn an_ipv6_connection_is_one_connection_both_ways() {
    // Client address above the server's, then below it: both directions of each are one
    // connection.
    for (c, s) in [("[fe80::9]:40000", "[fe80::1]:42027"), ("[fe80::1]:40000", "[fe80::9]:42027")] {
        let (c, s): (SocketAddr, SocketAddr) = (c.parse().unwrap(), s.parse().unwrap());
        let mut h = H::new();
        assert_eq!(
            h.seg(c, s, 1000, 0, SYN, b""),
            vec![Ev::Start { conn: 0, a: c, b: s, start: ConnStart::Handshake, frame: 1 }]
        );
        assert_eq!(h.seg(s, c, 5000, 1001, SYN | ACK, b""), vec![]);
        assert_eq!(h.seg(c, s, 1001, 5001, ACK | PSH, b"req"), vec![data(0, Side::A, 0, b"req", 3)]);
        assert_eq!(h.seg(s, c, 5001, 1004, ACK | PSH, b"conf"), vec![data(0, Side::B, 0, b"conf", 4)]);
        assert_eq!(h.r.open_connections(), 1);
    }
}

#[test]
fn sides_in_order() {
    assert_eq!((Side::A.other(), Side::B.other()), (Side::B, Side::A));
    assert_eq!((Side::A.index(), Side::B.index()), (0, 1));
}

#[test]
fn bytes_held_elsewhere_are_counted() {
    let mut r = Reassembler::new(ReassemblySettings::default());
    assert_eq!(r.stats().held_elsewhere, 0);
    r.set_held_elsewhere(12_345);
    assert_eq!(r.stats().held_elsewhere, 12_345);
    r.set_held_elsewhere(7);
    assert_eq!(r.stats().held_elsewhere, 7);
}

#[test]
fn every_segment_is_counted() {
    let mut h = H::new();
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK | PSH, b"abc");
    assert_eq!(h.r.stats().segments, 4);
    assert_eq!(h.r.stats().connections, 1);
    assert_eq!(h.r.stats().delivered_bytes, 3);
}

#[test]
fn a_closed_connection_gives_back_its_retransmission_window() {
    let mut h = H::new();
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK | PSH, b"request");
    h.s(5001, 1008, ACK | PSH, b"confirm");
    let held = h.r.stats().history_now;
    assert!(held >= 14, "{held}");
    assert_eq!(h.c(1008, 5008, RST, b""), vec![Ev::End { conn: 0, end: ConnEnd::Rst, frame: 6 }]);
    assert_eq!(h.r.stats().history_now, 0);
    // Two connections: closing one gives back its own room only.
    let mut h = H::new();
    h.handshake(1000, 5000);
    h.c(1001, 5001, ACK | PSH, b"request");
    let one = h.r.stats().history_now;
    let other: SocketAddr = "10.0.0.3:40001".parse().unwrap();
    h.seg(other, srv(), 7000, 0, SYN, b"");
    h.seg(other, srv(), 7001, 0, ACK | PSH, b"request");
    assert_eq!(h.r.stats().history_now, 2 * one);
    h.c(1008, 5001, RST, b"");
    assert_eq!(h.r.stats().history_now, one);
}

#[test]
fn late_segments_of_every_closed_connection_are_ignored() {
    let mut h = H::new();
    let other: SocketAddr = "10.0.0.3:40001".parse().unwrap();
    h.handshake(1000, 5000);
    h.seg(other, srv(), 7000, 0, SYN, b"");
    h.seg(srv(), other, 9000, 7001, SYN | ACK, b"");
    h.seg(other, srv(), 7001, 9001, ACK, b"");
    h.c(1001, 5001, RST, b"");
    h.seg(other, srv(), 7001, 9001, RST, b"");
    assert_eq!(h.r.open_connections(), 0);
    // Late ACKs of both connections, the first closed first.
    assert_eq!(h.s(5001, 1001, ACK, b""), vec![]);
    assert_eq!(h.seg(srv(), other, 9001, 7001, ACK, b""), vec![]);
    assert_eq!(h.r.stats().ignored_after_close, 2);
    assert_eq!(h.r.open_connections(), 0);
}

#[test]
fn a_bare_ack_does_not_start_a_mid_stream_direction() {
    // Mid-stream: the client's first segment is an ACK without data at 999, its first
    // bytes come at 1000: they are offset 0, with nothing lost before them.
    let mut h = H::new();
    assert_eq!(
        h.c(999, 5000, ACK, b""),
        vec![Ev::Start { conn: 0, a: cli(), b: srv(), start: ConnStart::Midstream, frame: 1 }]
    );
    assert_eq!(h.c(1000, 5000, ACK | PSH, b"abc"), vec![data(0, Side::A, 0, b"abc", 2)]);
    assert_eq!(h.finish(), vec![Ev::End { conn: 0, end: ConnEnd::CaptureEnd, frame: 2 }]);
}

/// The side `by` of the ConnectionEnd after `segs` (src is the client when true; seq, flags).
fn ended_by(segs: &[(bool, u32, u8)]) -> Option<Option<Side>> {
    let mut r = Reassembler::new(ReassemblySettings::default());
    let mut by = None;
    let handshake = [(true, 1000, SYN), (false, 5000, SYN | ACK), (true, 1001, ACK)];
    for (i, &(client, seq, flags)) in handshake.iter().chain(segs).enumerate() {
        let (src, dst) = if client { (cli(), srv()) } else { (srv(), cli()) };
        let ack = if client { 5001 } else { 1001 };
        let seg = TcpSegment {
            frame: i as u64 + 1,
            ts_ns: 0,
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(if flags == SYN { SYN } else { flags | ACK }),
            payload: b"",
            wire_payload_len: 0,
        };
        r.segment(&seg, &mut |e| {
            if let StreamEvent::ConnectionEnd { by: b, .. } = e {
                by = Some(b);
            }
        });
    }
    by
}

#[test]
fn a_connection_is_ended_by_its_first_fin_or_its_rst() {
    // The server's FIN first, then the client's.
    assert_eq!(ended_by(&[(false, 5001, FIN), (true, 1001, FIN)]), Some(Some(Side::B)));
    assert_eq!(ended_by(&[(true, 1001, FIN), (false, 5001, FIN)]), Some(Some(Side::A)));
    // A RST after the other side's FIN: the RST ended it.
    assert_eq!(ended_by(&[(true, 1001, FIN), (false, 5001, RST)]), Some(Some(Side::B)));
    assert_eq!(ended_by(&[(false, 5001, RST)]), Some(Some(Side::B)));
}

#[test]
fn an_older_retransmission_does_not_move_the_end_of_a_sides_sequence_space() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"req"); // frame 4: the client's space ends at 104
    h.c(104, 901, FIN | ACK, b""); // frame 5: ... at 105
    h.c(101, 901, ACK, b"req"); // frame 6: the request again, ending at 104
    assert_eq!(h.s(901, 105, FIN | ACK, b"").last(), Some(&Ev::End { conn: 0, end: ConnEnd::Fin, frame: 7 }));
    // The client's final ACK, at the end of its space, belongs to the closed connection.
    assert_eq!(h.c(105, 902, ACK, b"x"), vec![]);
    assert_eq!(h.r.stats().ignored_after_close, 1);
    assert_eq!(h.r.open_connections(), 0);
}

#[test]
fn holes_acknowledged_past_are_skipped_one_after_the_other() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(111, 901, ACK, b"klmno"); // frame 4: offsets 10..15 after a hole
    h.c(131, 901, ACK, b"UVWXY"); // frame 5: offsets 30..35 after another

    // The server acknowledges up to offset 33: both holes were never captured.
    assert_eq!(
        h.s(901, 134, ACK, b""),
        vec![
            gap(0, Side::A, 0, 10, GapReason::AckedPastHole, 6),
            data(0, Side::A, 10, b"klmno", 4),
            gap(0, Side::A, 15, 15, GapReason::AckedPastHole, 6),
            data(0, Side::A, 30, b"UVWXY", 5),
        ]
    );
}

#[test]
fn a_conflict_with_buffered_bytes_names_the_differing_span() {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(111, 901, ACK, b"klmnopqrst"); // frame 4: offsets 10..20, buffered

    // Offsets 12..18 again, differing at 14 and 16.
    assert_eq!(
        h.c(113, 901, ACK, b"mnXpYr"), // frame 5
        vec![Ev::Conflict { conn: 0, side: Side::A, offset: 14, len: 3, frame: 5 }]
    );
    assert_eq!(h.r.stats().conflicts, 1);
    assert_eq!(h.r.stats().conflict_bytes, 6);
    assert_eq!(h.r.stats().retransmitted_bytes, 0);
    // Same bytes again: repeated, no conflict.
    assert_eq!(h.c(113, 901, ACK, b"mnopqr"), vec![]);
    assert_eq!(h.r.stats().retransmitted_bytes, 6);
    // A second conflict adds its own overlap.
    assert_eq!(
        h.c(119, 901, ACK, b"Z"), // frame 7
        vec![Ev::Conflict { conn: 0, side: Side::A, offset: 18, len: 1, frame: 7 }]
    );
    assert_eq!(h.r.stats().conflict_bytes, 7);
}

#[test]
fn bytes_over_a_gap_the_snap_length_left_stay_a_gap() {
    let mut h = H::new();
    h.handshake(100, 900);
    // Offsets 10..20 on the wire, 4 of them captured: 14..20 is a hole of the snap length.
    h.wire(cli(), srv(), 111, 901, ACK, b"klmn", 10); // frame 4

    // A copy with all ten bytes: the captured ones are repeated, the others stay a gap.
    assert_eq!(h.c(111, 901, ACK, b"klmnopqrst"), vec![]);
    assert_eq!(h.r.stats().retransmitted_bytes, 10);
}

#[test]
fn a_retransmission_reaching_into_the_window_is_compared_inside_it() {
    let mut h = H::with(ReassemblySettings { retransmit_window: 8, ..Default::default() });
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abcdefghij"); // frame 4: offsets 0..10
    h.c(111, 901, ACK, b"klmnopqrst"); // frame 5: offsets 10..20, the window holds 12..20

    // Offsets 5..17: 5..12 are older than the window (counted), 12..17 are compared.
    assert_eq!(h.c(106, 901, ACK, b"fghijklmnopq"), vec![]);
    assert_eq!(h.r.stats().retransmitted_bytes, 12);
    assert_eq!(
        h.c(106, 901, ACK, b"fghijklmnXpq"), // frame 7
        vec![Ev::Conflict { conn: 0, side: Side::A, offset: 14, len: 1, frame: 7 }]
    );
}

#[test]
fn a_window_of_nothing_compares_nothing() {
    let mut h = H::with(ReassemblySettings { retransmit_window: 0, ..Default::default() });
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abcdef");
    assert_eq!(h.r.stats().history_now, 0);
    assert_eq!(h.c(101, 901, ACK, b"abXdef"), vec![]);
    assert_eq!(h.r.stats().conflicts, 0);
    assert_eq!(h.r.stats().retransmitted_bytes, 6);
}

/// The room one delivery of `bytes` leaves held (window and fingerprint), measured.
fn room_after_one_delivery(bytes: &[u8]) -> usize {
    let mut h = H::new();
    h.handshake(100, 900);
    h.c(101, 901, ACK, bytes);
    h.r.stats().history_now
}

#[test]
fn the_budget_lets_the_window_go_only_beyond_it() {
    let held = room_after_one_delivery(b"abcdef");
    assert!(held > 0);
    for (budget, elsewhere, dropped) in [(held, 0, 0), (held - 1, 0, 1), (held + 5, 5, 0), (held + 4, 5, 1)] {
        let mut h = H::with(ReassemblySettings { max_buffered_total: budget, ..Default::default() });
        h.r.set_held_elsewhere(elsewhere);
        h.handshake(100, 900);
        h.c(101, 901, ACK, b"abcdef");
        let s = h.r.stats();
        assert_eq!(s.history_dropped, dropped, "budget {budget}, {elsewhere} held elsewhere");
        assert_eq!(s.history_now, if dropped == 1 { 0 } else { held });
    }
    // Two directions: the one that lets its window go gives back its own room only.
    let mut h = H::with(ReassemblySettings { max_buffered_total: held + held / 2, ..Default::default() });
    h.handshake(100, 900);
    h.c(101, 901, ACK, b"abcdef");
    h.s(901, 107, ACK, b"ghijkl");
    assert_eq!(h.r.stats().history_dropped, 1);
    assert_eq!(h.r.stats().history_now, held);
}

#[test]
fn out_of_order_bytes_are_given_up_only_beyond_the_budget() {
    // A hole of 5 bytes, then 10 bytes buffered: the chunk costs its bytes, its overhead
    // and one mark; nothing was delivered, so no window is held.
    let cost = stream::CHUNK_OVERHEAD + stream::MARK_BYTES + 10;
    for (elsewhere, given_up) in [(1000 - cost, false), (1001 - cost, true)] {
        let mut h = H::with(ReassemblySettings { max_buffered_total: 1000, ..Default::default() });
        h.r.set_held_elsewhere(elsewhere);
        h.handshake(100, 900);
        let ev = h.c(106, 901, ACK, b"fghijklmno");
        if given_up {
            assert_eq!(
                ev,
                vec![
                    Ev::Limit { conn: None, setting: "max_buffered_total", frame: 4 },
                    gap(0, Side::A, 0, 5, GapReason::BufferLimit, 4),
                    data(0, Side::A, 5, b"fghijklmno", 4),
                ]
            );
        } else {
            assert_eq!(ev, vec![], "{elsewhere} held elsewhere");
            assert_eq!(h.r.stats().buffered_now, cost);
            assert_eq!(h.r.stats().history_now, 0);
        }
    }
}

#[test]
fn a_direction_with_nothing_buffered_has_nothing_to_give_up() {
    // The framers hold more than the whole budget: the direction delivering in order has
    // no hole to skip, only its window to let go.
    let mut h = H::with(ReassemblySettings { max_buffered_total: 100, ..Default::default() });
    h.r.set_held_elsewhere(1000);
    h.handshake(100, 900);
    assert_eq!(
        h.c(101, 901, ACK, b"abc"),
        vec![
            data(0, Side::A, 0, b"abc", 4),
            Ev::Limit { conn: None, setting: "max_buffered_total", frame: 4 }
        ]
    );
    assert_eq!(h.c(104, 901, ACK, b"def"), vec![data(0, Side::A, 3, b"def", 5)]);
    assert_eq!(h.r.stats().gaps, 0);
}
