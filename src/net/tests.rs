use super::*;
use crate::capture::build::{
    add_ipv6_hop_by_hop, fragment_ipv4, tcp_frame, tcp_ip_packet, wrap_ip, Link, TcpSpec,
};
use crate::capture::write::PcapWriter;
use crate::capture::{read_bytes, Packet};

#[derive(Debug, Clone, PartialEq, Eq)]
struct S {
    frame: u64,
    ts: i64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
    wire: u32,
}

fn own(s: &TcpSegment<'_>) -> S {
    S {
        frame: s.frame,
        ts: s.ts_ns,
        src: s.src,
        dst: s.dst,
        seq: s.seq,
        ack: s.ack,
        flags: s.flags.0,
        payload: s.payload.to_vec(),
        wire: s.wire_payload_len,
    }
}

fn pkt(frame: u64, linktype: u32, data: &[u8]) -> Packet<'_> {
    Packet { frame, ts_ns: frame as i64 * 1000, linktype, data, orig_len: data.len() as u32 }
}

fn decode_one(dec: &mut NetDecoder, p: &Packet<'_>) -> Result<Vec<S>, NetIssue> {
    let mut v = vec![];
    dec.decode(p, &mut |s| v.push(own(s)))?;
    Ok(v)
}

fn v4() -> (SocketAddr, SocketAddr) {
    ("10.0.0.1:42027".parse().unwrap(), "10.0.0.2:42028".parse().unwrap())
}

fn v6() -> (SocketAddr, SocketAddr) {
    ("[2001:db8::1]:5000".parse().unwrap(), "[2001:db8::2]:42027".parse().unwrap())
}

fn spec(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> TcpSpec<'_> {
    TcpSpec { src, dst, seq: 0x0102_0304, ack: 0xa0b0_c0d0, flags: TcpFlags::ACK | TcpFlags::PSH, payload }
}

fn expect(frame: u64, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> S {
    S {
        frame,
        ts: frame as i64 * 1000,
        src,
        dst,
        seq: 0x0102_0304,
        ack: 0xa0b0_c0d0,
        flags: 0x18,
        payload: payload.to_vec(),
        wire: payload.len() as u32,
    }
}

#[test]
fn every_link_type_with_ipv4_and_ipv6() {
    let links = [
        Link::Ethernet,
        Link::Vlan(100),
        Link::QinQ(200, 300),
        Link::Sll,
        Link::Sll2,
        Link::Raw,
        Link::RawVersioned,
        Link::Null,
    ];
    let payload = b"\x00\x00\x00\x0c\x00\x00\x00\x03hello CTI!!!";
    for link in links {
        for (ipv6, (src, dst)) in [(false, v4()), (true, v6())] {
            let frame = tcp_frame(link, &spec(src, dst, payload));
            let lt = link.linktype(ipv6);
            let mut dec = NetDecoder::default();
            let got = decode_one(&mut dec, &pkt(7, lt, &frame)).unwrap();
            assert_eq!(got, vec![expect(7, src, dst, payload)], "{link:?} ipv6={ipv6}");
            // The hand-built link header gives the same result.
            let hand = wrap_ip(link, &tcp_ip_packet(&spec(src, dst, payload)));
            let got = decode_one(&mut dec, &pkt(7, lt, &hand)).unwrap();
            assert_eq!(got, vec![expect(7, src, dst, payload)], "hand {link:?} ipv6={ipv6}");
        }
    }
    assert_eq!(Link::Sll2.linktype(false), 276);
    assert_eq!(Link::RawVersioned.linktype(true), 229);
}

#[test]
fn payload_borrows_the_packet_bytes() {
    let (src, dst) = v4();
    let frame = tcp_frame(Link::Ethernet, &spec(src, dst, b"zero-copy"));
    let mut dec = NetDecoder::default();
    let mut ptr = std::ptr::null();
    dec.decode(&pkt(1, 1, &frame), &mut |s| ptr = s.payload.as_ptr()).unwrap();
    assert_eq!(ptr, frame[14 + 20 + 20..].as_ptr());
}

#[test]
fn raw_bsd_linktypes_and_big_endian_null_family() {
    let (src, dst) = v6();
    let ip = tcp_ip_packet(&spec(src, dst, b"x"));
    let mut dec = NetDecoder::default();
    for lt in [12, 14] {
        assert_eq!(decode_one(&mut dec, &pkt(1, lt, &ip)).unwrap(), vec![expect(1, src, dst, b"x")]);
    }
    for family in [24u32, 28, 30] {
        let mut f = family.to_be_bytes().to_vec();
        f.extend_from_slice(&ip);
        assert_eq!(decode_one(&mut dec, &pkt(2, 0, &f)).unwrap(), vec![expect(2, src, dst, b"x")]);
    }
    // Unknown family: silently not TCP.
    let mut f = 7u32.to_le_bytes().to_vec();
    f.extend_from_slice(&ip);
    assert_eq!(decode_one(&mut dec, &pkt(3, 0, &f)).unwrap(), vec![]);
}

#[test]
fn three_vlan_tags_including_old_qinq_ethertype() {
    let (src, dst) = v4();
    let mut f = tcp_frame(Link::QinQ(1, 2), &spec(src, dst, b"deep"));
    // Replace the outer 802.1ad by 0x9100 and add one more 802.1Q tag.
    f[12..14].copy_from_slice(&0x9100u16.to_be_bytes());
    f.splice(16..16, [0x81, 0x00, 0x00, 0x05]);
    let got = decode_one(&mut NetDecoder::default(), &pkt(1, 1, &f)).unwrap();
    assert_eq!(got, vec![expect(1, src, dst, b"deep")]);
}

#[test]
fn ipv6_hop_by_hop_extension_header() {
    let (src, dst) = v6();
    let ip = add_ipv6_hop_by_hop(&tcp_ip_packet(&spec(src, dst, b"hbh"))).unwrap();
    assert_eq!(ip[6], 0);
    let f = wrap_ip(Link::Ethernet, &ip);
    let got = decode_one(&mut NetDecoder::default(), &pkt(4, 1, &f)).unwrap();
    assert_eq!(got, vec![expect(4, src, dst, b"hbh")]);
}

#[test]
fn ipv6_non_first_fragment_is_skipped() {
    let (src, dst) = v6();
    let mut ip = tcp_ip_packet(&spec(src, dst, b"frag"));
    // Insert a fragment header (offset 8, M set) in front of TCP.
    ip[6] = 44;
    let plen = u16::from_be_bytes([ip[4], ip[5]]) + 8;
    ip[4..6].copy_from_slice(&plen.to_be_bytes());
    ip.splice(40..40, [6, 0, 0, 0x09, 0, 0, 0, 1]);
    let got = decode_one(&mut NetDecoder::default(), &pkt(1, 101, &ip)).unwrap();
    assert_eq!(got, vec![]);
}

#[test]
fn ethernet_padding_is_not_payload() {
    let (src, dst) = v4();
    let mut f = tcp_frame(Link::Ethernet, &spec(src, dst, b"ab"));
    assert_eq!(f.len(), 56);
    f.extend_from_slice(&[0xee; 4]); // pad to 60 bytes
    let got = decode_one(&mut NetDecoder::default(), &pkt(1, 1, &f)).unwrap();
    assert_eq!(got, vec![expect(1, src, dst, b"ab")]);
}

#[test]
fn segmentation_offload_total_length_zero() {
    let (src, dst) = v4();
    let mut f = tcp_frame(Link::Ethernet, &spec(src, dst, b"tso payload"));
    f[14 + 2..14 + 4].copy_from_slice(&[0, 0]);
    let got = decode_one(&mut NetDecoder::default(), &pkt(1, 1, &f)).unwrap();
    assert_eq!(got, vec![expect(1, src, dst, b"tso payload")]);
}

#[test]
fn non_tcp_is_silently_ignored() {
    let udp = etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(53, 53);
    let mut f = vec![];
    udp.write(&mut f, b"dns").unwrap();
    let mut dec = NetDecoder::default();
    assert_eq!(decode_one(&mut dec, &pkt(1, 1, &f)).unwrap(), vec![]);
    let mut arp = vec![0xff; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    assert_eq!(decode_one(&mut dec, &pkt(2, 1, &arp)).unwrap(), vec![]);
}

#[test]
fn unsupported_linktype_and_malformed_headers() {
    let mut dec = NetDecoder::default();
    let e = decode_one(&mut dec, &pkt(1, 147, b"whatever")).unwrap_err();
    assert_eq!(e, NetIssue::UnsupportedLinktype(147));
    assert!(e.to_string().starts_with("link type 147 is not supported"));

    let e = decode_one(&mut dec, &pkt(1, 1, &[0; 10])).unwrap_err();
    assert!(matches!(e, NetIssue::Malformed { layer: "ethernet", .. }), "{e}");

    let (src, dst) = v4();
    let f = tcp_frame(Link::Ethernet, &spec(src, dst, b"abc"));
    // TCP header cut by the snap length.
    let cut = &f[..14 + 20 + 12];
    let p = Packet { orig_len: f.len() as u32, ..pkt(1, 1, cut) };
    let e = decode_one(&mut dec, &p).unwrap_err();
    assert_eq!(
        e,
        NetIssue::Malformed { layer: "tcp", detail: "header cut to 12 bytes by the snap length".into() }
    );
    assert_eq!(e.to_string(), "malformed tcp header: header cut to 12 bytes by the snap length");

    // IPv4 header length below 20.
    let mut bad = f.clone();
    bad[14] = 0x44;
    let e = decode_one(&mut dec, &pkt(1, 1, &bad)).unwrap_err();
    assert!(matches!(e, NetIssue::Malformed { layer: "ipv4", .. }), "{e}");

    // Raw IP with version 5.
    let e = decode_one(&mut dec, &pkt(1, 101, &[0x50; 40])).unwrap_err();
    assert!(matches!(e, NetIssue::Malformed { layer: "ip", .. }), "{e}");
}

#[test]
fn snaplen_truncated_payload_through_a_capture() {
    let (src, dst) = v4();
    let payload: Vec<u8> = (0..100u8).collect();
    let f = tcp_frame(Link::Ethernet, &spec(src, dst, &payload));
    let mut w = PcapWriter::new(Vec::new(), 1, 60).unwrap();
    w.write_packet(5_000, &f).unwrap();
    let cap = w.into_inner();
    let mut dec = NetDecoder::default();
    let mut got = vec![];
    read_bytes("snap", &cap, &mut |p| {
        assert_eq!((p.data.len(), p.orig_len), (60, 154));
        dec.decode(p, &mut |s| got.push(own(s))).unwrap();
    })
    .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, payload[..6].to_vec());
    assert_eq!(got[0].wire, 100);
    assert_eq!(got[0].ts, 5_000);
}

fn fragments(payload: &[u8]) -> (Vec<Vec<u8>>, S) {
    let (src, dst) = v4();
    let ip = tcp_ip_packet(&spec(src, dst, payload));
    let frags = fragment_ipv4(&ip, 24).unwrap();
    (frags, expect(0, src, dst, payload))
}

#[test]
fn fragment_ipv4_builder_output() {
    let payload: Vec<u8> = (0..50u8).collect();
    let (frags, _) = fragments(&payload);
    // 20 TCP + 50 payload = 70 bytes in pieces of 24: 24, 24, 22.
    assert_eq!(frags.iter().map(|f| f.len()).collect::<Vec<_>>(), vec![44, 44, 42]);
    let fo = |f: &Vec<u8>| u16::from_be_bytes([f[6], f[7]]);
    assert_eq!(frags.iter().map(fo).collect::<Vec<_>>(), vec![0x2000, 0x2003, 0x0006]);
    for f in &frags {
        let h = etherparse::Ipv4HeaderSlice::from_slice(f).unwrap();
        assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
    }
}

#[test]
fn fragmented_ipv4_in_order_and_out_of_order() {
    let payload: Vec<u8> = (0..50u8).collect();
    let (frags, want) = fragments(&payload);
    for order in [[0usize, 1, 2], [2, 0, 1], [1, 2, 0]] {
        let mut dec = NetDecoder::default();
        let mut got = vec![];
        for (i, &k) in order.iter().enumerate() {
            let f = wrap_ip(Link::Ethernet, &frags[k]);
            got.extend(decode_one(&mut dec, &pkt(i as u64 + 1, 1, &f)).unwrap());
            if i < 2 {
                assert!(got.is_empty());
            }
        }
        let mut w = want.clone();
        w.frame = 3;
        w.ts = 3000;
        assert_eq!(got, vec![w], "order {order:?}");
        assert_eq!((dec.pending_datagrams(), dec.fragment_bytes()), (0, 0));
    }
}

#[test]
fn overlapping_fragments_first_arrival_wins() {
    let payload: Vec<u8> = (0..50u8).collect();
    let (frags, want) = fragments(&payload);
    let mut forged = frags[1].clone();
    for b in &mut forged[20..] {
        *b = 0xff;
    }
    let mut dec = NetDecoder::default();
    let mut got = vec![];
    // The forged copy of fragment 2 arrives first; the genuine one later loses.
    for (i, f) in [&forged, &frags[0], &frags[1], &frags[2]].into_iter().enumerate() {
        got.extend(decode_one(&mut dec, &pkt(i as u64 + 1, 101, f)).unwrap());
    }
    assert_eq!(got.len(), 1);
    let mut expected = payload.clone();
    // Fragment 2 carries datagram bytes 24..48, i.e. payload bytes 4..28.
    for b in &mut expected[4..28] {
        *b = 0xff;
    }
    assert_eq!(got[0].payload, expected);
    assert_eq!(got[0].seq, want.seq);
}

#[test]
fn fragment_limit_drops_oldest_and_reports() {
    let payload: Vec<u8> = (0..50u8).collect();
    let mut dec =
        NetDecoder::new(NetSettings { max_fragment_bytes: 300, fragment_timeout_ns: 30_000_000_000 });
    let (src, dst) = v4();
    let mk = |id: u16| {
        let mut ip = tcp_ip_packet(&spec(src, dst, &payload));
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        fragment_ipv4(&ip, 24).unwrap()
    };
    let a = mk(1);
    let b = mk(2);
    // Fragments cost 24 + 64 = 88 bytes (the last 22 + 64 = 86).
    assert_eq!(decode_one(&mut dec, &pkt(1, 101, &a[0])), Ok(vec![]));
    assert_eq!(decode_one(&mut dec, &pkt(2, 101, &b[0])), Ok(vec![]));
    assert_eq!(decode_one(&mut dec, &pkt(3, 101, &b[1])), Ok(vec![]));
    assert_eq!((dec.fragment_bytes(), dec.pending_datagrams()), (264, 2));
    // The last fragment of datagram 2 does not fit: datagram 1 (the oldest) is dropped,
    // datagram 2 completes and is delivered, and the limit is reported.
    let mut got = vec![];
    let r = dec.decode(&pkt(4, 101, &b[2]), &mut |s| got.push(own(s)));
    assert_eq!(r, Err(NetIssue::FragmentLimit));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, payload);
    assert_eq!(got[0].frame, 4);
    assert_eq!((dec.fragment_bytes(), dec.pending_datagrams()), (0, 0));
    // The rest of datagram 1 can no longer complete it.
    assert_eq!(decode_one(&mut dec, &pkt(5, 101, &a[1])), Ok(vec![]));
    assert_eq!(decode_one(&mut dec, &pkt(6, 101, &a[2])), Ok(vec![]));
    assert_eq!(dec.pending_datagrams(), 1);
    // A fragment larger than the whole budget is dropped on its own.
    let mut small = NetDecoder::new(NetSettings { max_fragment_bytes: 50, fragment_timeout_ns: 1 });
    assert_eq!(decode_one(&mut small, &pkt(1, 101, &a[0])), Err(NetIssue::FragmentLimit));
    assert_eq!(small.pending_datagrams(), 0);
}

#[test]
fn fragments_time_out_by_capture_time() {
    let payload: Vec<u8> = (0..50u8).collect();
    let (frags, _) = fragments(&payload);
    let mut dec =
        NetDecoder::new(NetSettings { max_fragment_bytes: 1 << 20, fragment_timeout_ns: 30_000_000_000 });
    fn at(ts: i64, d: &[u8]) -> Packet<'_> {
        Packet { frame: 1, ts_ns: ts, linktype: 101, data: d, orig_len: d.len() as u32 }
    }
    let mut n = 0;
    dec.decode(&at(0, &frags[0]), &mut |_| n += 1).unwrap();
    dec.decode(&at(1_000_000_000, &frags[1]), &mut |_| n += 1).unwrap();
    assert_eq!(dec.pending_datagrams(), 1);
    // 31 s after the first fragment: the datagram has expired, the last fragment starts a
    // new one that stays incomplete.
    dec.decode(&at(31_000_000_000, &frags[2]), &mut |_| n += 1).unwrap();
    assert_eq!(n, 0);
    assert_eq!(dec.pending_datagrams(), 1);
    assert_eq!(dec.fragment_bytes(), 22 + 64);
}

#[test]
fn garbage_never_panics() {
    // Every prefix and every single-byte corruption of a few valid frames.
    let (s4, d4) = v4();
    let (s6, d6) = v6();
    let frames = [
        (1, tcp_frame(Link::QinQ(1, 2), &spec(s4, d4, b"abcdef"))),
        (276, tcp_frame(Link::Sll2, &spec(s6, d6, b"abcdef"))),
        (101, add_ipv6_hop_by_hop(&tcp_ip_packet(&spec(s6, d6, b"abcdef"))).unwrap()),
        (0, tcp_frame(Link::Null, &spec(s4, d4, b"abcdef"))),
    ];
    let mut dec = NetDecoder::default();
    let mut calls = 0;
    for (lt, f) in &frames {
        for n in 0..=f.len() {
            let _ = dec.decode(&pkt(1, *lt, &f[..n]), &mut |_| calls += 1);
        }
        for i in 0..f.len() {
            for v in [0x00, 0xff, 0x45, 0x2c] {
                let mut g = f.clone();
                g[i] = v;
                let _ = dec.decode(&pkt(1, *lt, &g), &mut |_| calls += 1);
            }
        }
    }
    assert!(calls > 0);
}
