//! The synthetic capture generator: captures parse, packets are well-formed TCP, the TCP
//! streams carry exactly the messages of the message truth file, and injected faults are
//! where the truth file says.

use ctiscope::capture::build::Link;
use ctiscope::capture::{self, CaptureErrorKind};
use ctiscope::net::{NetDecoder, TcpFlags};
use ctiscope::synth::{self, Config, Faults, Format};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

struct Run {
    pcap: Vec<u8>,
    truth: Vec<Value>,
    messages: Vec<Value>,
}

fn run(cfg: &Config) -> Run {
    let mut pcap = Vec::new();
    let mut truth = Vec::new();
    let mut msgs = Vec::new();
    synth::generate(cfg, &mut pcap, Some(&mut truth), Some(&mut msgs)).expect("in memory");
    let lines = |b: &[u8]| -> Vec<Value> {
        std::str::from_utf8(b)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    };
    Run { truth: lines(&truth), messages: lines(&msgs), pcap }
}

fn small() -> Config {
    Config { seed: 5, duration_s: 300.0, ..Config::default() }
}

/// One captured TCP segment.
#[derive(Debug, Clone)]
struct Seg {
    frame: u64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    flags: u8,
    payload: Vec<u8>,
}

/// Every packet must read and slice down to exactly one TCP segment.
fn segments(pcap: &[u8]) -> Vec<Seg> {
    let mut net = NetDecoder::default();
    let mut out = Vec::new();
    let mut packets = 0u64;
    capture::read_bytes("synth", pcap, &mut |p| {
        packets += 1;
        let mut n = 0;
        net.decode(p, &mut |s| {
            n += 1;
            assert_eq!(s.payload.len() as u32, s.wire_payload_len);
            out.push(Seg {
                frame: s.frame,
                src: s.src,
                dst: s.dst,
                seq: s.seq,
                flags: s.flags.0,
                payload: s.payload.to_vec(),
            });
        })
        .unwrap_or_else(|e| panic!("frame {}: {e}", p.frame));
        assert_eq!(n, 1, "frame {} is not one TCP segment", p.frame);
    })
    .expect("capture reads");
    assert_eq!(packets, out.len() as u64);
    out
}

/// Rebuilds each direction's stream from fault-free segments (SYN gives the ISN) and cuts
/// it into messages: (connection index, direction, offset, type id).
fn stream_messages(segs: &[Seg], server_port: u16) -> Vec<(u32, &'static str, u64, u32)> {
    let mut conn_of: HashMap<(SocketAddr, SocketAddr), u32> = HashMap::new();
    let mut isn: HashMap<(SocketAddr, SocketAddr), u32> = HashMap::new();
    let mut streams: BTreeMap<(u32, &'static str), Vec<u8>> = BTreeMap::new();
    for s in segs {
        let (client, server) = if s.dst.port() == server_port { (s.src, s.dst) } else { (s.dst, s.src) };
        let n = conn_of.len() as u32;
        let conn = *conn_of.entry((client, server)).or_insert(n);
        let dir = if s.dst.port() == server_port { "client->server" } else { "server->client" };
        if s.flags & TcpFlags::SYN != 0 {
            isn.insert((s.src, s.dst), s.seq);
            continue;
        }
        if s.payload.is_empty() {
            continue;
        }
        let base = isn[&(s.src, s.dst)];
        let off = s.seq.wrapping_sub(base).wrapping_sub(1) as usize;
        let st = streams.entry((conn, dir)).or_default();
        assert_eq!(off, st.len(), "frame {}: segment out of order", s.frame);
        st.extend_from_slice(&s.payload);
    }
    let mut out = Vec::new();
    for ((conn, dir), st) in &streams {
        let mut off = 0usize;
        while off < st.len() {
            let len = u32::from_be_bytes(st[off..off + 4].try_into().unwrap()) as usize;
            let ty = u32::from_be_bytes(st[off + 4..off + 8].try_into().unwrap());
            out.push((*conn, *dir, off as u64, ty));
            off += 8 + len;
        }
        assert_eq!(off, st.len(), "stream ends inside a message");
    }
    out.sort();
    out
}

fn truth_messages(r: &Run) -> Vec<(u32, &'static str, u64, u32)> {
    let mut v: Vec<_> = r
        .messages
        .iter()
        .map(|m| {
            let dir = if m["direction"] == "client->server" { "client->server" } else { "server->client" };
            (
                m["connection"].as_u64().unwrap() as u32,
                dir,
                m["stream_offset"].as_u64().unwrap(),
                m["type_id"].as_u64().unwrap() as u32,
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn captures_parse_as_well_formed_tcp_on_every_link() {
    let links = [Link::Ethernet, Link::Vlan(100), Link::Sll, Link::Sll2, Link::Raw];
    for (i, link) in links.into_iter().enumerate() {
        for format in [Format::Pcap, Format::PcapNg] {
            let cfg = Config { link, format, ipv6: i % 2 == 1, ..small() };
            let r = run(&cfg);
            let segs = segments(&r.pcap);
            assert!(segs.len() > 100);
            assert!(segs[0].flags & TcpFlags::SYN != 0, "starts with a handshake");
            let mss = if cfg.ipv6 { 1440 } else { 1460 };
            assert!(segs.iter().all(|s| s.payload.len() <= mss));
        }
    }
}

#[test]
fn streams_carry_exactly_the_truth_messages() {
    for version in [15, 20, 24] {
        // Twenty agents: the bridge's configuration upload exceeds one segment.
        let cfg = Config { version, agents: 20, ..small() };
        let r = run(&cfg);
        assert!(r.truth.is_empty(), "no faults asked for");
        let segs = segments(&r.pcap);
        let found = stream_messages(&segs, cfg.server_port);
        let want = truth_messages(&r);
        assert!(want.len() > 300);
        assert_eq!(found, want, "v{version}");
        assert!(r.messages.iter().all(|m| m["captured"] == true));
        // Coalescing: some segments carry several messages, some messages span segments.
        let spans = r.messages.iter().filter(|m| m["first_frame"] != m["last_frame"]).count();
        let frames: std::collections::HashSet<u64> =
            r.messages.iter().map(|m| m["first_frame"].as_u64().unwrap()).collect();
        assert!(frames.len() < r.messages.len(), "several messages per segment");
        if version >= 19 {
            // The configuration upload (protocol version 19 on) is a burst beyond one MSS.
            assert!(spans > 0, "messages split across segments");
        }
    }
}

#[test]
fn deterministic_per_seed() {
    let a = run(&small());
    let b = run(&small());
    assert_eq!(a.pcap, b.pcap);
    assert_eq!(a.messages, b.messages);
    let c = run(&Config { seed: 6, ..small() });
    assert_ne!(a.pcap, c.pcap);
}

#[test]
fn tcp_faults_are_where_the_truth_says() {
    let cfg = Config {
        faults: Faults::parse("lost=0.03,reorder=0.03,retransmit=0.03,diverge=0.02").unwrap(),
        ..small()
    };
    let r = run(&cfg);
    let segs = segments(&r.pcap);
    let by_frame: HashMap<u64, &Seg> = segs.iter().map(|s| (s.frame, s)).collect();
    let mut kinds = BTreeMap::new();
    for t in &r.truth {
        let kind = t["fault"].as_str().unwrap().to_string();
        *kinds.entry(kind.clone()).or_insert(0) += 1;
        let len = t["length"].as_u64().unwrap() as usize;
        let frame = t["frame"].as_u64().unwrap();
        match kind.as_str() {
            "lost" => {
                // Neither this frame number nor any other carries a segment of that length
                // at that place: the frame number is the one after the gap.
                assert!(frame <= segs.len() as u64 + 1);
            }
            "reorder" => {
                let other = t["other_frame"].as_u64().unwrap();
                assert!(other < frame, "the later bytes are written first");
                assert_eq!(by_frame[&frame].payload.len(), len);
            }
            "retransmit" | "diverge" => {
                let orig = by_frame[&t["original_frame"].as_u64().unwrap()];
                let copy = by_frame[&frame];
                assert_eq!(orig.seq, copy.seq);
                assert_eq!(orig.payload.len(), copy.payload.len());
                assert_eq!(orig.payload == copy.payload, kind == "retransmit");
            }
            other => panic!("unexpected fault {other}"),
        }
    }
    for k in ["lost", "reorder", "retransmit", "diverge"] {
        assert!(kinds.get(k).copied().unwrap_or(0) > 0, "no {k} in {kinds:?}");
    }
    // Messages touched by a lost segment are marked as not captured.
    let lost = r.truth.iter().filter(|t| t["fault"] == "lost").count();
    let uncaptured = r.messages.iter().filter(|m| m["captured"] == false).count();
    assert!(uncaptured >= lost);
}

#[test]
fn protocol_faults_are_recorded() {
    let cfg = Config {
        faults: Faults::parse("unanswered=0.05,after-end=0.3,oversize=0.3,bad-count=0.5").unwrap(),
        ..small()
    };
    let r = run(&cfg);
    let mut kinds = BTreeMap::new();
    for t in &r.truth {
        *kinds.entry(t["fault"].as_str().unwrap().to_string()).or_insert(0) += 1;
        assert!(t["frame"].as_u64().unwrap() >= 1);
    }
    for k in ["unanswered", "after-end", "oversize", "bad-count"] {
        assert!(kinds.get(k).copied().unwrap_or(0) > 0, "no {k} in {kinds:?}");
    }
    // The streams still carry exactly the messages written.
    let segs = segments(&r.pcap);
    assert_eq!(stream_messages(&segs, cfg.server_port), truth_messages(&r));
}

#[test]
fn midstream_and_truncate() {
    let cfg = Config { faults: Faults::parse("midstream,truncate").unwrap(), ..small() };
    let r = run(&cfg);
    let mid = r.truth.iter().find(|t| t["fault"] == "midstream").unwrap();
    assert!(mid["skipped_packets"].as_u64().unwrap() >= 5);
    let trunc = r.truth.iter().find(|t| t["fault"] == "truncate").unwrap();
    let mut n = 0u64;
    let mut first_syn = None;
    let mut net = NetDecoder::default();
    let err = capture::read_bytes("synth", &r.pcap, &mut |p| {
        n += 1;
        net.decode(p, &mut |s| {
            if first_syn.is_none() {
                first_syn = Some(s.flags.syn());
            }
        })
        .unwrap();
    })
    .expect_err("the file ends inside a record");
    assert!(matches!(err.kind, CaptureErrorKind::Truncated { .. }), "{err}");
    assert_eq!(err.frame, trunc["frame"].as_u64().unwrap());
    assert_eq!(n + 1, trunc["frame"].as_u64().unwrap());
    assert_eq!(first_syn, Some(false), "the capture starts mid-stream");
    // Messages before the capture started are marked as not captured.
    assert!(r.messages.iter().any(|m| m["captured"] == false));
}

#[test]
fn message_limit_stops_generation() {
    let cfg = Config {
        limit: synth::Limit::Messages(2000),
        calls_per_agent: None,
        desktops: 20,
        agents: 20,
        ..small()
    };
    let r = run(&cfg);
    assert!(r.messages.len() >= 2000 && r.messages.len() < 2100);
    segments(&r.pcap);
}

/// The whole pipeline finds exactly the messages the generator wrote.
#[test]
fn pipeline_finds_the_truth_messages() {
    use ctiscope::pipeline::{Direction, Event, Pipeline, Settings};
    let r = run(&small());
    let mut p = Pipeline::new(Settings::default());
    let mut found = Vec::new();
    let mut frames = Vec::new();
    let mut sink = |ev: Event<'_>| {
        if let Event::Message { flow, frame, .. } = ev {
            let dir = match flow.dir {
                Direction::ToServer => "client->server",
                Direction::ToClient => "server->client",
            };
            let ty = u32::from_be_bytes(frame.bytes[4..8].try_into().unwrap());
            found.push((flow.conn, dir, frame.offset, ty));
            frames.push((flow.conn, dir, frame.offset, frame.first_frame, frame.last_frame));
        }
    };
    capture::read_bytes("synth", &r.pcap, &mut |pkt| p.packet(pkt, &mut sink)).unwrap();
    p.finish(&mut sink);
    found.sort();
    assert_eq!(found, truth_messages(&r));
    frames.sort();
    let mut want: Vec<_> = r
        .messages
        .iter()
        .map(|m| {
            let dir = if m["direction"] == "client->server" { "client->server" } else { "server->client" };
            (
                m["connection"].as_u64().unwrap() as u32,
                dir,
                m["stream_offset"].as_u64().unwrap(),
                m["first_frame"].as_u64().unwrap(),
                m["last_frame"].as_u64().unwrap(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(frames, want);
}
