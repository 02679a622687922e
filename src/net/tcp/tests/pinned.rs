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
