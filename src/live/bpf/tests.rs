//! The filter compiler checked by running its programs in [`run`] over packets built with
//! [`crate::capture::build`], against a direct evaluation of the expression.

use super::*;
use crate::capture::build::{self, Link, TcpSpec};
use etherparse::{IpHeaders, IpNumber, Ipv4Header, Ipv6Header, PacketBuilder};
use std::net::{IpAddr, SocketAddr};

const SNAP: u32 = 262_144;

fn u16_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u16::from_be_bytes([*b.get(o)?, *b.get(o + 1)?]) as u32)
}

fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_be_bytes([*b.get(o)?, *b.get(o + 1)?, *b.get(o + 2)?, *b.get(o + 3)?]))
}

/// Evaluates `e` straight from the IP packet's bytes, in the same order as the program: a
/// field beyond the end of the packet makes the whole filter reject (`None`), as a failed
/// load does in the kernel.
fn eval(e: &Expr, ip: &[u8], m: &Meta) -> Option<bool> {
    Some(match e {
        Expr::True => true,
        Expr::Not(a) => !eval(a, ip, m)?,
        Expr::And(a, b) => eval(a, ip, m)? && eval(b, ip, m)?,
        Expr::Or(a, b) => eval(a, ip, m)? || eval(b, ip, m)?,
        Expr::Atom(a) => {
            let pick = |d: Dir, s: usize, t: usize| if d == Dir::Src { s } else { t };
            match *a {
                Atom::EtherType(t) => m.protocol == t,
                Atom::Ip4Proto(p) => *ip.get(9)? == p,
                Atom::Ip6Next(p) => *ip.get(6)? == p,
                Atom::Ip4FirstFragment => u16_at(ip, 6)? & 0x1fff == 0,
                Atom::Ip4Port(d, n) => {
                    let ihl = 4 * (*ip.first()? & 0xf) as usize;
                    u16_at(ip, ihl + pick(d, 0, 2))? == n as u32
                }
                Atom::Ip6Port(d, n) => u16_at(ip, 40 + pick(d, 0, 2))? == n as u32,
                Atom::Ip4Addr(d, v) => u32_at(ip, pick(d, 12, 16))? == v,
                Atom::Ip6AddrWord(d, i, v) => u32_at(ip, pick(d, 8, 24) + 4 * i as usize)? == v,
                Atom::PktType(p) => m.pkttype == p,
                Atom::IfIndex(i) => m.ifindex == i,
            }
        }
    })
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn tcp_ip(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    build::tcp_ip_packet(&TcpSpec { src: sa(src), dst: sa(dst), seq: 1, ack: 1, flags: 0x18, payload })
}

fn udp_ip(src: &str, dst: &str) -> Vec<u8> {
    let (s, d) = (sa(src), sa(dst));
    let ip = match (s.ip(), d.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => IpHeaders::Ipv4(
            Ipv4Header::new(0, 64, IpNumber::UDP, a.octets(), b.octets()).unwrap(),
            Default::default(),
        ),
        (IpAddr::V6(a), IpAddr::V6(b)) => IpHeaders::Ipv6(
            Ipv6Header {
                next_header: IpNumber::UDP,
                hop_limit: 64,
                source: a.octets(),
                destination: b.octets(),
                ..Default::default()
            },
            Default::default(),
        ),
        _ => unreachable!(),
    };
    let mut out = Vec::new();
    PacketBuilder::ip(ip).udp(s.port(), d.port()).write(&mut out, b"payload").unwrap();
    out
}

/// IPv4 packet with 4 bytes of options (IHL 6), so the transport header is at 24.
fn with_ip_options(ip: &[u8]) -> Vec<u8> {
    let mut out = ip[..20].to_vec();
    out[0] = 0x46;
    out.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
    out.extend_from_slice(&ip[20..]);
    let total = out.len() as u16;
    out[2..4].copy_from_slice(&total.to_be_bytes());
    out
}

/// A varied set of IP packets (network header first).
fn corpus() -> Vec<Vec<u8>> {
    let mut v = vec![
        tcp_ip("10.0.0.1:51000", "10.0.0.2:42027", b"hello"),
        tcp_ip("10.0.0.2:42027", "10.0.0.1:51000", b""),
        tcp_ip("10.0.0.1:51000", "10.0.0.2:43027", b"x"),
        tcp_ip("10.0.0.3:22", "10.0.0.4:51001", b"ssh"),
        tcp_ip("127.0.0.1:42027", "127.0.0.1:42027", b""),
        tcp_ip("[fd00::1]:51000", "[fd00::2]:42027", b"v6"),
        tcp_ip("[fd00::2]:43027", "[fd00::1]:51000", b""),
        tcp_ip("[::1]:80", "[fd00::2]:8080", b""),
        udp_ip("10.0.0.1:42027", "10.0.0.9:53"),
        udp_ip("10.0.0.1:5353", "10.0.0.9:53"),
        udp_ip("[fd00::1]:53", "[fd00::2]:42027"),
        with_ip_options(&tcp_ip("10.0.0.5:42027", "10.0.0.6:40000", b"opts")),
        with_ip_options(&tcp_ip("10.0.0.5:1", "10.0.0.6:2", b"opts")),
    ];
    // Fragments: the first carries the ports, the others never match a port.
    let big = tcp_ip("10.0.0.7:51000", "10.0.0.8:42027", &[7u8; 200]);
    v.extend(build::fragment_ipv4(&big, 64).unwrap());
    // IPv6 with a hop-by-hop header: the port is not found (as in tcpdump).
    v.push(build::add_ipv6_hop_by_hop(&tcp_ip("[fd00::1]:51000", "[fd00::2]:42027", b"")).unwrap());
    // Truncated packets: every load past the end rejects.
    let t = tcp_ip("10.0.0.1:51000", "10.0.0.2:42027", b"");
    v.push(t[..21].to_vec());
    v.push(t[..8].to_vec());
    v
}

fn meta_for(ip: &[u8], pkttype: u32, ifindex: u32) -> Meta {
    let protocol = match ip.first().map(|b| b >> 4) {
        Some(6) => 0x86dd,
        _ => 0x0800,
    };
    Meta { protocol, pkttype, ifindex }
}

/// Checks `e` compiled for both layouts against the reference over the corpus; returns how
/// many packets matched.
fn check(e: &Expr) -> usize {
    let eth = compile(e, LinkKind::Ethernet, SNAP).unwrap();
    let cooked = compile(e, LinkKind::Cooked, SNAP).unwrap();
    let mut matched = 0;
    for ip in corpus() {
        for (pkttype, ifindex) in [(0, 1), (PACKET_OUTGOING, 1), (0, 2)] {
            let m = meta_for(&ip, pkttype, ifindex);
            let want = eval(e, &ip, &m).unwrap_or(false);
            let frame = build::wrap_ip(Link::Ethernet, &ip);
            let got_eth = run(&eth, &frame, &m);
            let got_cooked = run(&cooked, &ip, &m);
            assert_eq!(got_eth != 0, want, "ethernet {e:?} on {ip:02x?} meta {m:?}");
            assert_eq!(got_cooked != 0, want, "cooked {e:?} on {ip:02x?} meta {m:?}");
            if want {
                assert_eq!(got_eth, SNAP);
                matched += 1;
            }
        }
    }
    matched
}

#[test]
fn default_filter_matches_tcp_on_server_ports_only() {
    let e = tcp_ports(&[42027, 43027]);
    let n = check(&e);
    assert!(n > 0);
    let prog = compile(&e, LinkKind::Ethernet, SNAP).unwrap();
    let m = Meta { protocol: 0x0800, pkttype: 0, ifindex: 1 };
    let yes = build::wrap_ip(Link::Ethernet, &tcp_ip("10.0.0.1:51000", "10.0.0.2:42027", b"a"));
    let yes_b = build::wrap_ip(Link::Ethernet, &tcp_ip("10.0.0.2:43027", "10.0.0.1:51000", b"a"));
    let no_port = build::wrap_ip(Link::Ethernet, &tcp_ip("10.0.0.1:51000", "10.0.0.2:42028", b"a"));
    let no_udp = build::wrap_ip(Link::Ethernet, &udp_ip("10.0.0.1:51000", "10.0.0.2:42027"));
    assert_eq!(run(&prog, &yes, &m), SNAP);
    assert_eq!(run(&prog, &yes_b, &m), SNAP);
    assert_eq!(run(&prog, &no_port, &m), 0);
    assert_eq!(run(&prog, &no_udp, &m), 0);
    // ARP and other EtherTypes are rejected.
    let mut arp = yes.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(run(&prog, &arp, &m), 0);
}

#[test]
fn parsed_filters_agree_with_the_reference() {
    for f in [
        "tcp",
        "udp",
        "ip",
        "ip6",
        "port 42027",
        "tcp port 42027",
        "udp port 42027",
        "src port 42027",
        "dst port 42027",
        "tcp dst port 42027 or tcp src port 43027",
        "port 42027 or 43027",
        "host 10.0.0.1",
        "src host 10.0.0.2",
        "dst host fd00::2",
        "host ::1",
        "not port 22",
        "! tcp",
        "tcp && !(port 42027 || port 43027)",
        "tcp or udp and port 42027",
        "(tcp or udp) and not (host 10.0.0.1 or host fd00::1)",
        "not not ip6",
        "",
    ] {
        let e = parse(f).unwrap_or_else(|err| panic!("{f}: {err}"));
        check(&e);
    }
}

#[test]
fn and_or_have_equal_precedence_left_to_right() {
    // tcpdump: `tcp or udp and port 53` is `(tcp or udp) and port 53`.
    let e = parse("tcp or udp and port 53").unwrap();
    let p = compile(&e, LinkKind::Cooked, SNAP).unwrap();
    let ip = tcp_ip("10.0.0.1:1000", "10.0.0.2:2000", b"");
    assert_eq!(run(&p, &ip, &meta_for(&ip, 0, 1)), 0);
    let ip = tcp_ip("10.0.0.1:1000", "10.0.0.2:53", b"");
    assert_eq!(run(&p, &ip, &meta_for(&ip, 0, 1)), SNAP);
}

#[test]
fn long_programs_use_jump_trampolines() {
    let text: Vec<String> = (1..=120).map(|p| format!("port {p}")).collect();
    let e = parse(&format!("{} or port 42027", text.join(" or "))).unwrap();
    let prog = compile(&e, LinkKind::Ethernet, SNAP).unwrap();
    assert!(prog.len() > 600, "{}", prog.len());
    assert!(prog.iter().any(|i| i.code == JMP | JA && i.k > 0));
    check(&e);
    let m = Meta { protocol: 0x0800, pkttype: 0, ifindex: 1 };
    for port in [1u16, 60, 120, 42027] {
        let f = build::wrap_ip(Link::Ethernet, &tcp_ip(&format!("10.0.0.1:{port}"), "10.0.0.2:50000", b""));
        assert_eq!(run(&prog, &f, &m), SNAP, "port {port}");
    }
    let f = build::wrap_ip(Link::Ethernet, &tcp_ip("10.0.0.1:121", "10.0.0.2:50000", b""));
    assert_eq!(run(&prog, &f, &m), 0);
}

#[test]
fn outgoing_copies_on_loopback_are_excluded() {
    let e = Expr::and(
        Expr::not(Expr::and(Expr::Atom(Atom::PktType(PACKET_OUTGOING)), Expr::Atom(Atom::IfIndex(1)))),
        tcp_ports(&[42027]),
    );
    check(&e);
    let p = compile(&e, LinkKind::Cooked, SNAP).unwrap();
    let ip = tcp_ip("127.0.0.1:51000", "127.0.0.1:42027", b"");
    assert_eq!(run(&p, &ip, &meta_for(&ip, 0, 1)), SNAP);
    assert_eq!(run(&p, &ip, &meta_for(&ip, PACKET_OUTGOING, 1)), 0);
    assert_eq!(run(&p, &ip, &meta_for(&ip, PACKET_OUTGOING, 2)), SNAP);
}

#[test]
fn empty_filter_accepts_everything() {
    let p = compile(&parse("  ").unwrap(), LinkKind::Ethernet, 100).unwrap();
    assert_eq!(p, vec![Insn { code: RET | K, jt: 0, jf: 0, k: 100 }]);
    assert_eq!(run(&p, &[], &Meta::default()), 100);
}

#[test]
fn unsupported_filters_are_named() {
    for (f, what) in [
        ("portrange 1-2", "portrange"),
        ("port 70000", "70000"),
        ("port", "port number"),
        ("host example.com", "not an IPv4 or IPv6 address"),
        ("(tcp", "missing ')'"),
        ("tcp)", "')'"),
        ("tcp and", "expression was expected"),
        ("42027", "qualifier"),
        ("tcp $", "unexpected character"),
        ("ether host 1", "ether"),
    ] {
        let err = parse(f).unwrap_err().to_string();
        assert!(err.contains(what), "{f}: {err}");
        assert!(err.contains("supported:"), "{f}: {err}");
    }
}

#[test]
fn interpreter_rejects_bad_programs() {
    let m = Meta::default();
    // Falling off the end, an invalid class, a jump out of the program.
    assert_eq!(run(&[Insn { code: LD | IMM, jt: 0, jf: 0, k: 1 }], &[], &m), 0);
    assert_eq!(run(&[Insn { code: 0x07, jt: 0, jf: 0, k: 0 }], &[], &m), 0);
    assert_eq!(run(&[Insn { code: JMP | JA, jt: 0, jf: 0, k: 5 }], &[], &m), 0);
    // RET A returns the accumulator.
    let p = [Insn { code: LD | IMM, jt: 0, jf: 0, k: 77 }, Insn { code: RET | 0x10, jt: 0, jf: 0, k: 0 }];
    assert_eq!(run(&p, &[], &m), 77);
}
