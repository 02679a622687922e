//! Capture → reassembly → framing → decode stage, end to end over real pcap / pcapng bytes.

mod common;

use common::*;
use ctiscope::capture::build::Link;
use ctiscope::capture::read_bytes;
use ctiscope::cti::decode::VersionSource;
use ctiscope::net::tcp::{ConnEnd, ConnStart, GapReason};
use ctiscope::parallel;
use ctiscope::pipeline::{Direction, Event, Pipeline, Settings};
use ctiscope::stage::{self, Stage};
use proptest::prelude::*;

/// A compact, comparable view of the events.
#[derive(Debug, Clone, PartialEq, Eq)]
enum E {
    Conn(u32, String, String, ConnStart),
    Msg(u32, Direction, u32, Vec<u8>, u64, u64),
    Gap(u32, Direction, u64, u64, GapReason),
    Skip(u32, Direction, u64, u64),
    Incomplete(u32, Direction, u64),
    Conflict(u32, Direction, u64),
    End(u32, ConnEnd),
    Other(String),
}

fn run(name: &str, bytes: &[u8], settings: Settings) -> (Vec<E>, Result<(), String>) {
    let mut p = Pipeline::new(settings);
    let mut out = Vec::new();
    let mut sink = |ev: Event<'_>| {
        out.push(match ev {
            Event::Connection { conn, client, server, start, .. } => {
                E::Conn(conn, client.to_string(), server.to_string(), start)
            }
            Event::Message { flow, frame, .. } => E::Msg(
                flow.conn,
                flow.dir,
                frame.msg_type,
                frame.bytes.to_vec(),
                frame.first_frame,
                frame.last_frame,
            ),
            Event::Gap { flow, offset, len, reason, .. } => E::Gap(flow.conn, flow.dir, offset, len, reason),
            Event::Skipped { flow, offset, len, .. } => E::Skip(flow.conn, flow.dir, offset, len),
            Event::Incomplete { flow, offset, .. } => E::Incomplete(flow.conn, flow.dir, offset),
            Event::Conflict { flow, offset, .. } => E::Conflict(flow.conn, flow.dir, offset),
            Event::ConnectionEnd { conn, end, .. } => E::End(conn, end),
            other => E::Other(format!("{other:?}")),
        })
    };
    let res = read_bytes(name, bytes, &mut |pkt| p.packet(pkt, &mut sink));
    p.finish(&mut sink);
    (out, res.map(|_| ()).map_err(|e| e.to_string()))
}

fn messages(evs: &[E]) -> Vec<(u32, Direction, u32)> {
    evs.iter()
        .filter_map(|e| match e {
            E::Msg(c, d, t, ..) => Some((*c, *d, *t)),
            _ => None,
        })
        .collect()
}

const TS0: i64 = 1_767_600_000_000_000_000; // 2026-01-05 08:00:00 UTC

/// The message sequence of one desktop conversation as (direction, type).
fn desktop_types() -> Vec<(Direction, u32)> {
    use Direction::*;
    vec![
        (ToServer, 3),
        (ToClient, 4),
        (ToServer, 5),
        (ToClient, 6),
        (ToClient, 30),
        (ToClient, 23),
        (ToClient, 24),
        (ToServer, 7),
        (ToClient, 8),
    ]
}

fn with_conn(c: u32, v: Vec<(Direction, u32)>) -> Vec<(u32, Direction, u32)> {
    v.into_iter().map(|(d, t)| (c, d, t)).collect()
}

#[test]
fn every_link_type_in_pcap_and_pcapng_yields_every_message() {
    let links = [
        (Link::Ethernet, false),
        (Link::Vlan(10), false),
        (Link::QinQ(100, 10), false),
        (Link::Sll, false),
        (Link::Sll2, false),
        (Link::Raw, false),
        (Link::Null, false),
        (Link::Ethernet, true),
        (Link::Sll2, true),
        (Link::Raw, true),
    ];
    for (link, v6) in links {
        let (cl, sv) = if v6 {
            ("[2001:db8::5]:51000", "[2001:db8::1]:42027")
        } else {
            ("10.0.0.5:51000", "10.0.0.1:42027")
        };
        let conv = desktop_conv(link, cl, sv, 24, 1460, TS0);
        for bytes in [pcap_bytes(link.linktype(v6), &conv.pkts), pcapng_bytes(link.linktype(v6), &conv.pkts)]
        {
            let (evs, res) = run("t", &bytes, Settings::default());
            assert_eq!(res, Ok(()), "{link:?}");
            assert_eq!(messages(&evs), with_conn(0, desktop_types()), "{link:?} v6={v6}");
            assert_eq!(evs[0], E::Conn(0, cl.to_string(), sv.to_string(), ConnStart::Handshake));
            assert_eq!(evs.last(), Some(&E::End(0, ConnEnd::Fin)));
        }
    }
}

#[test]
fn gzip_compressed_capture_is_read() {
    let conv = desktop_conv(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", 24, 1460, TS0);
    let plain = pcap_bytes(1, &conv.pkts);
    let (evs, res) = run("t.pcap.gz", &gzip(&plain), Settings::default());
    assert_eq!(res, Ok(()));
    assert_eq!(messages(&evs), with_conn(0, desktop_types()));
}

#[test]
fn messages_split_across_small_segments_are_reassembled() {
    let conv = desktop_conv(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", 24, 7, TS0);
    let (evs, _) = run("t", &pcap_bytes(1, &conv.pkts), Settings::default());
    assert_eq!(messages(&evs), with_conn(0, desktop_types()));
    // The OPEN_REQ spans many frames: first frame 4 (after the handshake), last one later.
    match evs.iter().find(|e| matches!(e, E::Msg(_, _, 3, ..))) {
        Some(E::Msg(_, _, _, _, first, last)) => {
            assert_eq!(*first, 4);
            assert!(*last > *first + 5, "{first}..{last}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn midstream_capture_finds_the_first_header() {
    let conv = desktop_conv(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", 24, 1460, TS0);
    // Drop the handshake and the first two data packets (OPEN_REQ, OPEN_CONF).
    let pkts = &conv.pkts[5..];
    let (evs, _) = run("t", &pcap_bytes(1, pkts), Settings::default());
    assert_eq!(evs[0], E::Conn(0, "10.0.0.5:51000".into(), "10.0.0.1:42027".into(), ConnStart::Midstream));
    assert_eq!(messages(&evs), with_conn(0, desktop_types()[2..].to_vec()));
}

#[test]
fn midstream_start_inside_a_message_reports_skipped_bytes() {
    let mut c = Conv::new(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", [1000, 5000], TS0);
    let (cm, sm) = desktop_session(24);
    c.send(S, &sm[2][5..], 1460); // tail of an AGENT_STATE_EVENT
    c.send(S, &sm[3], 1460);
    c.send(S, &sm[4], 1460);
    let _ = cm;
    let (evs, _) = run("t", &pcap_bytes(1, &c.pkts), Settings::default());
    let skipped = sm[2].len() as u64 - 5;
    assert!(evs.contains(&E::Skip(0, Direction::ToClient, 0, skipped)), "{evs:?}");
    assert_eq!(messages(&evs), vec![(0, Direction::ToClient, 23), (0, Direction::ToClient, 24)]);
}

/// Through the decode stage: (message type, version, where the version came from) of every
/// message; checks that exactly the messages come decoded.
fn decoded(bytes: &[u8], forced: Option<u32>) -> Vec<(u32, u32, VersionSource)> {
    let mut p = Pipeline::new(Settings::default());
    let mut stage = Stage::new(forced);
    let mut out = Vec::new();
    let mut sink = |ev: Event<'_>| match (&ev, stage.decode(&ev)) {
        (Event::Message { frame, .. }, Some(d)) => {
            assert_eq!(d.msg_type, frame.msg_type);
            out.push((d.msg_type, d.version, d.version_source.expect("decoded")));
        }
        (Event::Message { .. }, None) => panic!("a message without its decoded form"),
        (other, Some(_)) => panic!("{other:?} decoded"),
        (_, None) => {}
    };
    read_bytes("t", bytes, &mut |pkt| p.packet(pkt, &mut sink)).unwrap();
    p.finish(&mut sink);
    out
}

#[test]
fn the_decode_stage_decodes_every_message_with_the_open_req_version() {
    for v in [15, 19, 24] {
        let conv = desktop_conv(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", v, 1460, TS0);
        let got = decoded(&pcap_bytes(1, &conv.pkts), None);
        let want: Vec<_> = desktop_types().iter().map(|&(_, t)| (t, v, VersionSource::Seen)).collect();
        assert_eq!(got, want, "the OPEN_REQ itself is decoded with its VersionNumber");
        // `--protocol-version` wins over the OPEN_REQ.
        let forced = decoded(&pcap_bytes(1, &conv.pkts), Some(20));
        assert!(forced.iter().all(|&(_, fv, src)| (fv, src) == (20, VersionSource::Forced)), "{forced:?}");
    }
}

#[test]
fn without_its_open_req_a_connection_is_decoded_with_an_inferred_or_assumed_version() {
    let conv = desktop_conv(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", 15, 1460, TS0);
    // Drop the handshake, OPEN_REQ and OPEN_CONF.
    let got = decoded(&pcap_bytes(1, &conv.pkts[5..]), None);
    assert_eq!(got.len(), desktop_types().len() - 2);
    assert!(got.iter().all(|&(_, _, src)| src != VersionSource::Seen), "{got:?}");
    // The event with floating fields decides the layout: 1-byte floating headers.
    let state = got.iter().find(|m| m.0 == 30).expect("AGENT_STATE_EVENT");
    assert_eq!(state.2, VersionSource::Inferred, "{got:?}");
    assert!(state.1 <= 19, "{got:?}");
}

#[test]
fn the_pool_hands_on_what_the_stage_does_on_every_shipped_capture() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut paths = Vec::new();
    for dir in ["captures", "tests/data"] {
        for e in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let path = e.unwrap().path();
            let name = path.to_string_lossy().to_string();
            if [".pcap", ".pcapng", ".gz"].iter().any(|x| name.ends_with(x)) {
                paths.push(name);
            }
        }
    }
    assert!(paths.len() > 20);
    let line = |ev: &Event<'_>, d: Option<&ctiscope::cti::decode::Decoded>| {
        format!("{ev:?} {:?}", d.map(|d| (d.version, d.version_source, d.fields.len(), d.anomalies.len())))
    };
    for path in paths {
        let mut want = Vec::new();
        let want_res =
            stage::run_path(&path, &Settings::default(), None, &mut |ev, d| want.push(line(ev, d)))
                .map_err(|e| e.to_string());
        for (jobs, items) in [(2, 3), (3, 1)] {
            let mut got = Vec::new();
            let res = parallel::run_path(&path, &Settings::default(), None, jobs, items, &mut |ev, d| {
                got.push(line(ev, d))
            })
            .map_err(|e| e.to_string());
            assert!(got == want, "{path}: -j {jobs}");
            assert_eq!(res, want_res, "{path}");
        }
    }
}

#[test]
fn lost_segment_is_a_gap_and_framing_resumes() {
    let (cm, sm) = desktop_session(24);
    let mut c = Conv::new(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", [1000, 5000], TS0);
    c.handshake();
    c.send(C, &cm[0], 1460);
    c.send(S, &sm[0], 1460);
    // AGENT_STATE_EVENT split in two segments; the first is lost.
    let st = &sm[2];
    c.lose(S, 20);
    c.send(S, &st[20..], 1460);
    c.send(S, &sm[3], 1460);
    c.ack(C); // the client acknowledges everything: the hole was sent, not captured
    c.send(S, &sm[4], 1460);
    c.close();
    let (evs, _) = run("t", &pcap_bytes(1, &c.pkts), Settings::default());
    let open_conf_len = sm[0].len() as u64;
    assert!(
        evs.iter().any(|e| matches!(e, E::Gap(0, Direction::ToClient, off, 20, _) if *off == open_conf_len)),
        "{evs:?}"
    );
    assert!(evs.iter().any(|e| matches!(e, E::Skip(0, Direction::ToClient, ..))), "{evs:?}");
    assert_eq!(
        messages(&evs),
        vec![
            (0, Direction::ToServer, 3),
            (0, Direction::ToClient, 4),
            (0, Direction::ToClient, 23),
            (0, Direction::ToClient, 24)
        ]
    );
}

#[test]
fn out_of_order_and_retransmitted_segments_give_the_same_messages() {
    let conv = desktop_conv(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", 24, 16, TS0);
    let mut pkts = conv.pkts.clone();
    // Swap two data packets and duplicate another.
    pkts.swap(6, 7);
    let dup = pkts[10].clone();
    pkts.insert(12, dup);
    let (evs, _) = run("t", &pcap_bytes(1, &pkts), Settings::default());
    assert_eq!(messages(&evs), with_conn(0, desktop_types()));
    assert!(!evs.iter().any(|e| matches!(e, E::Gap(..) | E::Conflict(..))));
}

#[test]
fn divergent_retransmission_is_reported_and_first_copy_wins() {
    let (cm, sm) = desktop_session(24);
    let mut c = Conv::new(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", [1000, 5000], TS0);
    c.handshake();
    c.send(C, &cm[0], 1460);
    let seq = c.seq[S];
    c.send(S, &sm[0], 1460);
    let mut bad = sm[0].clone();
    *bad.last_mut().unwrap() ^= 0xff;
    let f = c.segment(S, seq, PSH | ACK, &bad);
    c.push(f);
    let (evs, _) = run("t", &pcap_bytes(1, &c.pkts), Settings::default());
    // The conflict starts at the first byte that differs: the last byte of OPEN_CONF.
    let last = sm[0].len() as u64 - 1;
    assert!(evs.iter().any(|e| matches!(e, E::Conflict(0, Direction::ToClient, o) if *o == last)), "{evs:?}");
    let conf = evs.iter().find_map(|e| match e {
        E::Msg(_, _, 4, b, ..) => Some(b.clone()),
        _ => None,
    });
    assert_eq!(conf, Some(sm[0].clone()));
}

#[test]
fn one_direction_capture_is_decoded() {
    let conv = desktop_conv(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", 24, 1460, TS0);
    // Only server -> client packets (source port 42027).
    let pkts: Vec<Pkt> = conv
        .pkts
        .iter()
        .filter(|(_, p)| {
            let tcp = &p[14 + 20..];
            u16::from_be_bytes([tcp[0], tcp[1]]) == 42027
        })
        .cloned()
        .collect();
    let (evs, _) = run("t", &pcap_bytes(1, &pkts), Settings::default());
    let want: Vec<_> = desktop_types().into_iter().filter(|(d, _)| *d == Direction::ToClient).collect();
    assert_eq!(messages(&evs), with_conn(0, want));
}

#[test]
fn several_connections_at_once_and_other_ports_by_heuristic() {
    let a = desktop_conv(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", 24, 1460, TS0);
    let b = desktop_conv(Link::Ethernet, "10.0.0.6:52000", "10.0.0.1:43027", 15, 100, TS0 + 500_000);
    // A CTI server on a port nobody configured.
    let h = desktop_conv(Link::Ethernet, "10.0.0.7:53000", "10.0.0.2:9999", 20, 1460, TS0 + 700_000);
    let mut pkts: Vec<Pkt> = a.pkts.into_iter().chain(b.pkts).chain(h.pkts).collect();
    pkts.sort_by_key(|p| p.0);
    let bytes = pcap_bytes(1, &pkts);
    let (evs, _) = run("t", &bytes, Settings::default());
    for c in 0..3 {
        let mine: Vec<_> = messages(&evs).into_iter().filter(|m| m.0 == c).collect();
        assert_eq!(mine, with_conn(c, desktop_types()), "connection {c}");
    }
    let no_heur = Settings { heuristics: false, ..Settings::default() };
    let (evs, _) = run("t", &bytes, no_heur);
    assert!(messages(&evs).iter().all(|m| m.0 != 2));
}

#[test]
fn truncated_capture_keeps_frames_before_the_damage() {
    let conv = desktop_conv(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", 24, 1460, TS0);
    let bytes = pcap_bytes(1, &conv.pkts);
    let cut = &bytes[..bytes.len() - 30];
    let (evs, res) = run("cut.pcap", cut, Settings::default());
    let err = res.unwrap_err();
    assert!(err.contains("cut.pcap") && err.contains("truncated"), "{err}");
    // Everything but the last packet (the final ACK) was decoded.
    assert_eq!(messages(&evs), with_conn(0, desktop_types()));
}

#[test]
fn garbage_and_empty_inputs_fail_cleanly() {
    let (evs, res) = run("empty.pcap", &[], Settings::default());
    assert!(evs.is_empty());
    assert!(res.unwrap_err().contains("empty"));
    let (_, res) = run("junk", b"this is not a capture file at all", Settings::default());
    assert!(res.unwrap_err().contains("not a capture file"));
}

/// Build the contiguous byte stream of a few messages, and a capture that delivers it in
/// the given segmentation, duplication and order.
fn stream_capture(cuts: &[usize], order: &[usize], dups: &[usize]) -> (Vec<u8>, Vec<u8>) {
    let (_, sm) = desktop_session(24);
    let stream: Vec<u8> = sm.concat();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % stream.len()).collect();
    bounds.push(0);
    bounds.push(stream.len());
    bounds.sort_unstable();
    bounds.dedup();
    let segs: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let mut c = Conv::new(Link::Ethernet, "10.0.0.5:51000", "10.0.0.1:42027", [1000, 0xffff_ff00], TS0);
    c.handshake();
    let base = c.seq[S];
    // Apply a bounded reordering: order[i] swaps segment i with i+order[i]%4.
    let mut idx: Vec<usize> = (0..segs.len()).collect();
    for (i, o) in order.iter().enumerate() {
        if i < idx.len() {
            let j = (i + o % 4).min(idx.len() - 1);
            idx.swap(i, j);
        }
    }
    for (k, &i) in idx.iter().enumerate() {
        let (s, e) = segs[i];
        let f = c.segment(S, base.wrapping_add(s as u32), PSH | ACK, &stream[s..e]);
        c.push(f);
        if dups.contains(&k) {
            let f = c.segment(S, base.wrapping_add(s as u32), PSH | ACK, &stream[s..e]);
            c.push(f);
        }
    }
    (stream, pcap_bytes(1, &c.pkts))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn any_segmentation_duplication_and_reordering_yields_the_contiguous_frames(
        cuts in proptest::collection::vec(0usize..10_000, 0..40),
        order in proptest::collection::vec(0usize..4, 0..40),
        dups in proptest::collection::vec(0usize..40, 0..5),
    ) {
        let (stream, cap) = stream_capture(&cuts, &order, &dups);
        let (contiguous_stream, contiguous_cap) = stream_capture(&[], &[], &[]);
        prop_assert_eq!(&stream, &contiguous_stream);
        let (evs, res) = run("p", &cap, Settings::default());
        prop_assert_eq!(res, Ok(()));
        let (want, _) = run("c", &contiguous_cap, Settings::default());
        let strip = |v: &[E]| -> Vec<(u32, Direction, u32, Vec<u8>)> {
            v.iter().filter_map(|e| match e { E::Msg(c, d, t, b, ..) => Some((*c, *d, *t, b.clone())), _ => None }).collect()
        };
        prop_assert_eq!(strip(&evs), strip(&want));
        prop_assert!(!evs.iter().any(|e| matches!(e, E::Gap(..) | E::Skip(..) | E::Conflict(..) | E::Incomplete(..))), "{:?}", evs);
    }
}
