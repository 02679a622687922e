//! Hostile and malformed inputs: broken capture files, corrupt CTI headers and bodies, and
//! captures built to exhaust memory or time. Each case states the exact behaviour: the exit
//! code, the error sentence (input name, frame number, byte offset, what was expected) and
//! what is still decoded.
//!
//! Inputs are built here with the crate's writers into temporary files; the large cases run
//! at reduced counts (the full sizes are in `benches/hostile.rs`).

mod common;

use common::*;
use ctiscope::capture::build::{fragment_ipv4, tcp_ip_packet, wrap_ip, Link, TcpSpec};
use ctiscope::capture::write::{PcapNgWriter, PcapWriter};
use ctiscope::capture::{self, CaptureErrorKind};
use ctiscope::cti::encode::MessageBuilder;
use ctiscope::pipeline::{self, Event, Settings};
use std::path::PathBuf;
use std::process::Command;

const TS0: i64 = 1_767_600_000_000_000_000; // 2026-01-05 08:00:00 UTC
const CLIENT: &str = "10.20.0.15:51234";
const SERVER: &str = "10.10.1.20:42027";

/// Writes `bytes` to a fresh file under the test temporary directory.
fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("malformed").join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    p
}

struct Run {
    out: String,
    err: String,
    code: i32,
}

impl Run {
    /// Summary lines showing a CTI message (an arrow and a `len=`, not an event in brackets).
    fn messages(&self) -> Vec<&str> {
        self.out.lines().filter(|l| l.contains(" → ") && l.contains(" len=") && !l.contains(" [")).collect()
    }
    fn count(&self, needle: &str) -> usize {
        self.out.lines().filter(|l| l.contains(needle)).count()
    }
}

/// Runs the binary with `args` followed by the file.
fn ctiscope(args: &[&str], file: &std::path::Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ctiscope")).args(args).arg(file).output().unwrap();
    Run {
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn decode(name: &str, bytes: &[u8]) -> (Run, PathBuf) {
    let p = tmp(name, bytes);
    (ctiscope(&["decode"], &p), p)
}

/// A raw CTI frame.
fn msg(ty: u32, body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(&ty.to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn heartbeat(invoke: u32) -> Vec<u8> {
    msg(5, &invoke.to_be_bytes())
}

/// The desktop session of `tests/common` (9 messages, 15 frames).
fn desktop() -> Conv {
    desktop_conv(Link::Ethernet, CLIENT, SERVER, 24, 1460, TS0)
}

/// A captured connection whose server sends `bytes` in segments of at most `mss` bytes.
fn server_sends(bytes: &[u8], mss: usize) -> Vec<u8> {
    let mut c = Conv::new(Link::Ethernet, CLIENT, SERVER, [1000, 5000], TS0);
    c.handshake();
    c.send(S, bytes, mss);
    c.close();
    pcap_bytes(1, &c.pkts)
}

/// Byte offsets of the records of a classic pcap file (24-byte header, 16-byte record headers).
fn pcap_record_offsets(b: &[u8]) -> Vec<usize> {
    let mut at = 24;
    let mut v = vec![];
    while at + 16 <= b.len() {
        v.push(at);
        at += 16 + u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    v
}

/// Events of the pipeline over a capture held in memory.
fn pipeline_over(bytes: &[u8], settings: Settings, each: &mut dyn FnMut(&Event<'_>)) -> pipeline::Stats {
    let mut p = pipeline::Pipeline::new(settings);
    let res = capture::read_bytes("mem", bytes, &mut |pkt| p.packet(pkt, &mut |ev| each(&ev)));
    p.finish(&mut |ev| each(&ev));
    res.expect("capture reads");
    p.stats().clone()
}

// ---------------------------------------------------------------------------------------
// Capture files

#[test]
fn empty_file() {
    let (r, p) = decode("empty.pcap", b"");
    assert_eq!(r.code, 2);
    assert_eq!(r.out, "");
    let want =
        format!("{}: frame 1 (byte offset 0): empty input, expected a pcap or pcapng file", p.display());
    assert!(r.err.contains(&want), "{}", r.err);
    let c = ctiscope(&["check"], &p);
    assert_eq!(c.code, 2);
    assert!(c.err.contains(&want), "{}", c.err);
}

#[test]
fn wrong_magic() {
    let (r, p) = decode("magic.pcap", b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.code, 2);
    assert_eq!(r.out, "");
    assert!(
        r.err.contains(&format!(
            "{}: frame 1 (byte offset 0): not a capture file: magic 47455420, expected pcap (a1b2c3d4, a1b23c4d), pcapng (0a0d0d0a) or gzip (1f8b)",
            p.display()
        )),
        "{}",
        r.err
    );
    assert_eq!(ctiscope(&["check"], &p).code, 2);
}

#[test]
fn truncated_global_header() {
    let good = pcap_bytes(1, &desktop().pkts);
    let (r, p) = decode("short-header.pcap", &good[..10]);
    assert_eq!(r.code, 2);
    assert_eq!(r.out, "");
    let want = format!(
        "{}: frame 1 (byte offset 0): capture is truncated: input ends inside pcap global header",
        p.display()
    );
    assert!(r.err.contains(&want), "{}", r.err);
    // Fewer than 4 bytes: not even a magic.
    let (r, _) = decode("three-bytes.pcap", &good[..3]);
    assert_eq!(r.code, 2);
    assert!(r
        .err
        .contains("frame 1 (byte offset 0): capture is truncated: input ends inside capture file header"));
}

#[test]
fn truncated_record_header() {
    let good = pcap_bytes(1, &desktop().pkts);
    let mut b = good.clone();
    b.extend_from_slice(&[1, 2, 3, 4, 5]);
    let (r, p) = decode("short-record-header.pcap", &b);
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(
        r.err.contains(&format!(
            "{}: frame 16 (byte offset {}): capture is truncated: input ends inside pcap record header",
            p.display(),
            good.len()
        )),
        "{}",
        r.err
    );
    // Everything before the damage is decoded.
    assert_eq!(r.messages().len(), 9, "{}", r.out);
    assert_eq!(r.count("[connection 0] closed (FIN)"), 1);
    let c = ctiscope(&["check"], &p);
    assert_eq!(c.code, 2);
    assert!(c.err.contains("frame 16"), "{}", c.err);
}

#[test]
fn truncated_record_data() {
    let good = pcap_bytes(1, &desktop().pkts);
    let recs = pcap_record_offsets(&good);
    assert_eq!(recs.len(), 15);
    // Cut inside frame 9 (BEGIN_CALL_EVENT).
    let cut = recs[8] + 16 + 20;
    let (r, p) = decode("short-record-data.pcap", &good[..cut]);
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains(&format!(
            "{}: frame 9 (byte offset {}): capture is truncated: input ends inside pcap record data",
            p.display(),
            recs[8] + 16
        )),
        "{}",
        r.err
    );
    let m = r.messages();
    assert_eq!(m.len(), 5, "{}", r.out);
    assert!(m[4].contains("AGENT_STATE_EVENT (30)"), "{}", m[4]);
    assert_eq!(r.count("still open at the end of the capture"), 1);
}

#[test]
fn record_longer_than_snap_length_is_read() {
    // The snap length in the header is advisory: a record above it (but under the reader's
    // 256 KiB record limit) is read as it is, as Wireshark does.
    let mut b = pcap_bytes(1, &desktop().pkts);
    b[16..20].copy_from_slice(&60u32.to_le_bytes());
    let (r, _) = decode("over-snaplen.pcap", &b);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.err, "");
    assert_eq!(r.messages().len(), 9);
    // Above the record limit: malformed, named.
    let mut b = pcap_bytes(1, &desktop().pkts);
    let recs = pcap_record_offsets(&b);
    b[recs[3] + 8..recs[3] + 12].copy_from_slice(&300_000u32.to_le_bytes());
    let (r, p) = decode("over-record-limit.pcap", &b);
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains(&format!(
            "{}: frame 4 (byte offset {}): malformed capture: pcap record length 300000 exceeds the 262144-byte limit",
            p.display(),
            recs[3]
        )),
        "{}",
        r.err
    );
    assert_eq!(r.messages().len(), 0, "frames 1-3 carry no message");
    assert_eq!(r.count("[connection 0] CTI client"), 1);
}

#[test]
fn record_longer_than_the_file() {
    let mut b = pcap_bytes(1, &desktop().pkts);
    let recs = pcap_record_offsets(&b);
    b[recs[4] + 8..recs[4] + 12].copy_from_slice(&100_000u32.to_le_bytes());
    let (r, p) = decode("past-end.pcap", &b);
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains(&format!(
            "{}: frame 5 (byte offset {}): capture is truncated: input ends inside pcap record data",
            p.display(),
            recs[4] + 16
        )),
        "{}",
        r.err
    );
    let m = r.messages();
    assert_eq!(m.len(), 1);
    assert!(m[0].contains("OPEN_REQ (3)"));
}

/// The desktop session as pcapng, with the byte offset of every block.
fn pcapng_blocks() -> (Vec<u8>, Vec<usize>) {
    let b = pcapng_bytes(1, &desktop().pkts);
    let mut at = 0;
    let mut v = vec![];
    while at + 8 <= b.len() {
        v.push(at);
        at += u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    (b, v)
}

#[test]
fn pcapng_bad_block_lengths() {
    let (good, blocks) = pcapng_blocks();
    // SHB, IDB, then one EPB per frame: frame 6 is blocks[7].
    assert_eq!(blocks.len(), 2 + 15);
    let at = blocks[7];
    let set_len = |len: u32| {
        let mut b = good.clone();
        b[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
        b
    };
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "too-small",
            set_len(8),
            format!("malformed capture: block at offset {at} (type 0x00000006) has bad length 8"),
        ),
        (
            "not-multiple-of-4",
            set_len(110),
            format!("malformed capture: block at offset {at} (type 0x00000006) has bad length 110"),
        ),
        ("past-end", set_len(1 << 20), "capture is truncated: input ends inside pcapng block".to_string()),
        ("trailer", set_len(good.len() as u32 - at as u32 - 4), String::new()),
    ];
    for (name, bytes, want) in cases {
        let (r, p) = decode(&format!("pcapng-{name}.pcapng"), &bytes);
        assert_eq!(r.code, 2, "{name}");
        let want = if name == "trailer" {
            let len = good.len() - at - 4;
            let trailer = u32::from_le_bytes(good[at + len - 4..at + len].try_into().unwrap());
            format!(
                "malformed capture: block at offset {at} (type 0x00000006) has length {len} but trailing length {trailer}"
            )
        } else {
            want
        };
        let full = format!("{}: frame 6 (byte offset {at}): {want}", p.display());
        assert!(r.err.contains(&full), "{name}: {}\nwant: {full}", r.err);
        // Frames 1-5 are decoded: OPEN_REQ (4) and OPEN_CONF (5).
        let m = r.messages();
        assert!(m[1].contains("OPEN_CONF (4)"));
        if name == "past-end" {
            // Nothing valid follows a block longer than the file: it was cut.
            assert_eq!(m.len(), 2, "{name}: {}", r.out);
        } else {
            // The reader skipped the damaged block to the next valid one: the frames after
            // it are decoded (the damaged frame's message is lost, and the framer resyncs).
            assert!(
                r.err.contains("bytes of damaged blocks were skipped, every block after them was read"),
                "{}",
                r.err
            );
            assert!(m.len() > 2, "{name}: {}", r.out);
            assert!(r.out.contains("[gap]") || r.out.contains("[resync]"), "{name}: {}", r.out);
        }
    }
}

#[test]
fn pcapng_unknown_blocks_are_skipped() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let i = w.add_interface(1, 65535).unwrap();
    w.write_block(0x0000_0bad, b"unknown block body").unwrap();
    for (n, (ts, p)) in desktop().pkts.iter().enumerate() {
        w.write_packet(i, *ts, p).unwrap();
        // A custom block, a Name Resolution Block and an Interface Statistics Block.
        match n % 3 {
            0 => w.write_block(0x0000_0bad, &[0xab; 13]).unwrap(),
            1 => w.write_block(0x0000_0004, &[0, 0, 0, 0]).unwrap(),
            _ => w.write_block(0x0000_0005, &[0; 12]).unwrap(),
        }
    }
    let (r, _) = decode("unknown-blocks.pcapng", &w.into_inner());
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.err, "");
    let (want, _) = decode("unknown-blocks-ref.pcapng", &pcapng_bytes(1, &desktop().pkts));
    assert_eq!(r.out, want.out, "the same frames and messages as without the extra blocks");
    assert_eq!(r.messages().len(), 9);
}

// ---------------------------------------------------------------------------------------
// CTI headers and bodies

#[test]
fn message_length_zero_for_a_type_with_a_body() {
    let mut s = msg(4, &[]); // OPEN_CONF without its fixed part
    s.extend(heartbeat(7));
    let (r, p) = decode("len0.pcap", &server_sends(&s, 1460));
    assert_eq!(r.code, 0, "{}", r.err);
    let m = r.messages();
    assert_eq!(m.len(), 1, "{}", r.out);
    assert!(r.out.contains("OPEN_CONF (4) len=8 [1 anomaly: fixed_part_short]"), "{}", r.out);
    assert!(m[0].contains("HEARTBEAT_REQ (5) InvokeID=7 len=12"), "{}", m[0]);
    let v = ctiscope(&["decode", "-V"], &p);
    assert!(
        v.out.contains(
            "[fixed_part_short] body has 0 bytes, the fixed part of OPEN_CONF at protocol version 24 needs"
        ),
        "{}",
        v.out
    );
}

#[test]
fn giant_message_length_in_sync_resyncs() {
    let mut s = Vec::new();
    for i in 0..3u32 {
        // A header claiming 2 GiB, then two good messages.
        s.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
        s.extend_from_slice(&5u32.to_be_bytes());
        s.extend(heartbeat(10 + 2 * i));
        s.extend(heartbeat(11 + 2 * i));
    }
    let (r, p) = decode("giant.pcap", &server_sends(&s, 1460));
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(
        r.count("[implausible header] MessageLength 2147483647 (type 5) at stream offset 0: resynchronising"),
        1,
        "{}",
        r.out
    );
    assert_eq!(r.count("[implausible header] MessageLength 2147483647"), 3);
    assert_eq!(
        r.count("[resync] skipped 8 bytes at stream offset 32 (frames 4-4; after an implausible header)"),
        1
    );
    assert_eq!(r.count("[resync] skipped 8 bytes"), 3);
    // The limit is named once for the connection, however often it is hit.
    assert_eq!(r.count("[limit] connection 0: max_message_length reached"), 1, "{}", r.out);
    let m = r.messages();
    assert_eq!(m.len(), 6);
    for (k, line) in m.iter().enumerate() {
        assert!(line.contains(&format!("HEARTBEAT_REQ (5) InvokeID={} len=12", 10 + k)), "{line}");
    }
    // check reports the giant header as an error finding.
    let c = ctiscope(&["check"], &p);
    assert_eq!(c.code, 1, "cti-implausible-length is an error");
    assert!(c.out.contains("cti-implausible-length"), "{}", c.out);
}

#[test]
fn unknown_message_types_show_the_raw_body() {
    let mut s = msg(0, b"abc");
    s.extend(msg(0xffff_ffff, b"defg"));
    s.extend(heartbeat(1));
    let (r, p) = decode("types.pcap", &server_sends(&s, 1460));
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.contains("UNKNOWN (0) len=11 [1 anomaly: unknown_message_type]"), "{}", r.out);
    assert!(r.out.contains("UNKNOWN (4294967295) len=12 [1 anomaly: unknown_message_type]"), "{}", r.out);
    assert!(r.out.contains("HEARTBEAT_REQ (5) InvokeID=1 len=12"));
    let v = ctiscope(&["decode", "-V"], &p);
    assert!(v.out.contains("8+3     Body: 616263"), "{}", v.out);
    assert!(v.out.contains("8+4     Body: 64656667"), "{}", v.out);
    assert!(v.out.contains("[unknown_message_type] MessageType 4294967295 is not defined by any source"));
}

#[test]
fn floating_field_longer_than_the_message() {
    let mut b = MessageBuilder::named("AGENT_STATE_EVENT", 24);
    b.set("AgentState", 3).unwrap();
    b.text("AgentID", "1001").unwrap();
    let mut m = b.build();
    // The AgentID field's length (2 bytes before its 5 data bytes) now claims 1000 bytes.
    let at = m.len() - 5 - 2;
    m[at..at + 2].copy_from_slice(&1000u16.to_be_bytes());
    let mut s = m.clone();
    s.extend(heartbeat(2));
    let (r, p) = decode("floating-past-end.pcap", &server_sends(&s, 1460));
    assert_eq!(r.code, 0, "{}", r.err);
    // Decoded as far as it goes; the field keeps the bytes that are there.
    assert!(
        r.out.contains("AGENT_STATE_EVENT (30) MonitorID=0 AgentID=1001 AgentState=AGENT_STATE_AVAILABLE len=79 [4 anomalies: unknown_enum_value, …]"),
        "{}",
        r.out
    );
    assert!(r.out.contains("HEARTBEAT_REQ (5) InvokeID=2 len=12"), "the next message is framed");
    let v = ctiscope(&["decode", "-V"], &p);
    assert!(
        v.out.contains(
            "@70 [floating_past_end] tag 5 (AgentID) declares 1000 bytes but only 5 remain in the message"
        ),
        "{}",
        v.out
    );
}

#[test]
fn count_fields_of_65535() {
    let mut b = MessageBuilder::named("BEGIN_CALL_EVENT", 24);
    b.set("ConnectionCallID", 77).unwrap();
    b.set("NumNamedVariables", 65535).unwrap().set("NumNamedArrays", 65535).unwrap();
    b.set("NumCTIClients", 65535).unwrap();
    b.named_var("user.a", "1").unwrap();
    let mut s = b.build();
    s.extend(heartbeat(3));
    let (r, p) = decode("count65535.pcap", &server_sends(&s, 1460));
    assert_eq!(r.code, 0, "{}", r.err);
    let line = r.out.lines().find(|l| l.contains("BEGIN_CALL_EVENT (23)")).expect("decoded");
    assert!(line.contains("ConnectionCallID=77 len=47 [7 anomalies: unknown_enum_value, …]"), "{line}");
    assert!(r.out.contains("HEARTBEAT_REQ (5) InvokeID=3 len=12"));
    let v = ctiscope(&["decode", "-V"], &p);
    for want in [
        "@20 [count_mismatch] NumNamedVariables = 65535 but 1 are present",
        "@22 [count_mismatch] NumNamedArrays = 65535 but 0 are present",
        "@18 [count_over_max] NumCTIClients = 65535, above the documented maximum of 16",
        "@18 [count_mismatch] NumCTIClients = 65535 but 0 are present",
    ] {
        assert!(v.out.contains(want), "{want}\n{}", v.out);
    }
}

#[test]
fn anomalies_per_message_are_capped_at_64() {
    let mut b = MessageBuilder::named("AGENT_STATE_EVENT", 24);
    b.set("PeripheralType", 17).unwrap().set("AgentState", 3).unwrap();
    b.text("AgentID", "1001")
        .unwrap()
        .number("Direction", 0)
        .unwrap()
        .number("MaxBeyondTaskLimit", 0)
        .unwrap();
    for _ in 0..300 {
        b.raw(0x7ff0, &[1]).unwrap(); // an unknown tag, 300 times
    }
    let (r, p) = decode("many-anomalies.pcap", &server_sends(&b.build(), 1460));
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.contains(" [300 anomalies: unknown_tag, …]"), "{}", r.out);
    let v = ctiscope(&["decode", "-V"], &p);
    assert_eq!(v.count("[unknown_tag]"), 63, "63 kept");
    assert_eq!(v.count("[too_many_anomalies]"), 1);
}

// ---------------------------------------------------------------------------------------
// Resource exhaustion

#[test]
fn one_byte_segments() {
    // The whole desktop session in one-byte segments decodes to the same messages.
    let d = desktop_conv(Link::Ethernet, CLIENT, SERVER, 24, 1, TS0);
    let (r, _) = decode("one-byte.pcap", &pcap_bytes(1, &d.pkts));
    assert_eq!(r.code, 0, "{}", r.err);
    let (want, _) = decode("one-byte-ref.pcap", &pcap_bytes(1, &desktop().pkts));
    let strip = |s: &str| {
        s.split_once(" len=").map(|(a, b)| format!("{} len={b}", &a[a.find('→').unwrap()..])).unwrap()
    };
    let got: Vec<String> = r.messages().iter().map(|l| strip(l)).collect();
    let exp: Vec<String> = want.messages().iter().map(|l| strip(l)).collect();
    assert_eq!(got, exp);
    // One 30,000-byte message in 30,000 one-byte segments: framed once, byte for byte.
    let body: Vec<u8> = (0..30_000 - 8).map(|i| (i * 7) as u8).collect();
    let m = msg(5, &body);
    let cap = server_sends(&m, 1);
    let mut frames = vec![];
    let st = pipeline_over(&cap, Settings::default(), &mut |ev| {
        if let Event::Message { frame, .. } = ev {
            frames.push((frame.bytes.to_vec(), frame.first_frame, frame.last_frame));
        }
    });
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, m);
    assert_eq!((frames[0].1, frames[0].2), (4, 4 + 30_000 - 1));
    assert_eq!((st.gaps, st.skipped_bytes), (0, 0));
}

/// A server stream of `n` 96-byte segments (8 heartbeats each, InvokeIDs 0..8n) whose
/// segments are shuffled within windows of `window` segments.
fn shuffled_capture(n: usize, window: usize) -> Vec<u8> {
    let mut c = Conv::new(Link::Ethernet, CLIENT, SERVER, [1000, 5000], TS0);
    c.handshake();
    let base = c.seq[S];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut order: Vec<usize> = (0..n).collect();
    for w in order.chunks_mut(window) {
        for i in (1..w.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.swap(i, (x % (i as u64 + 1)) as usize);
        }
    }
    for k in order {
        let mut p = Vec::with_capacity(96);
        for m in 0..8 {
            p.extend(heartbeat((k * 8 + m) as u32));
        }
        let f = c.segment(S, base.wrapping_add(k as u32 * 96), PSH | ACK, &p);
        c.push(f);
    }
    pcap_bytes(1, &c.pkts)
}

#[test]
fn out_of_order_segments_are_bounded() {
    // 40,000 segments shuffled within windows of 20,000 (1.9 MB): beyond the 1 MiB buffer.
    let cap = shuffled_capture(40_000, 20_000);
    let mut seen = std::collections::HashSet::new();
    let mut limits = vec![];
    let mut gaps = 0u64;
    let st = pipeline_over(&cap, Settings::default(), &mut |ev| match ev {
        Event::Message { frame, .. } => {
            assert_eq!(frame.msg_type, 5);
            assert!(seen.insert(u32::from_be_bytes(frame.bytes[8..12].try_into().unwrap())), "decoded twice");
        }
        Event::Limit { setting, .. } => limits.push(*setting),
        Event::Gap { len, .. } => gaps += len,
        _ => {}
    });
    assert_eq!(limits, vec!["max_buffered_per_direction"], "reported once, by name");
    assert!(gaps > 0);
    // Every byte is a message or a reported gap.
    assert_eq!(st.message_bytes + st.gap_bytes + st.skipped_bytes, 40_000 * 96);
    assert!(seen.len() > 40_000 * 8 / 2, "most messages survive: {}", seen.len());
    // Many scattered chunks: their bookkeeping counts against the same budget, named once.
    let mut s = Settings::default();
    s.reassembly.max_buffered_per_direction = 20_000;
    let mut limits = vec![];
    pipeline_over(&cap, s, &mut |ev| {
        if let Event::Limit { setting, .. } = ev {
            limits.push(*setting);
        }
    });
    assert_eq!(limits, vec!["max_buffered_per_direction"]);
}

#[test]
fn one_byte_segments_in_reverse_order_lose_nothing() {
    // 8,400 heartbeats (100,800 bytes) sent as one-byte segments, last byte first: each
    // joins the buffered bytes after it, far below the 1 MiB buffer, and every message is
    // decoded once the first byte arrives.
    let mut c = Conv::new(Link::Ethernet, CLIENT, SERVER, [1000, 5000], TS0);
    c.handshake();
    let stream: Vec<u8> = (0..8_400u32).flat_map(heartbeat).collect();
    let base = c.seq[S];
    for (i, b) in stream.iter().enumerate().rev() {
        let f = c.segment(S, base.wrapping_add(i as u32), PSH | ACK, &[*b]);
        c.push(f);
    }
    let cap = pcap_bytes(1, &c.pkts);
    let mut invokes = vec![];
    let mut other = vec![];
    let st = pipeline_over(&cap, Settings::default(), &mut |ev| match ev {
        Event::Message { frame, .. } => {
            invokes.push(u32::from_be_bytes(frame.bytes[8..12].try_into().unwrap()))
        }
        Event::Gap { .. } | Event::Limit { .. } | Event::Skipped { .. } | Event::Incomplete { .. } => {
            other.push(format!("{ev:?}"))
        }
        _ => {}
    });
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(invokes, (0..8_400).collect::<Vec<_>>());
    assert_eq!(st.message_bytes, 100_800);
}

#[test]
fn many_connections_evict_once_reported() {
    let mut pkts = vec![];
    for i in 0..3_000u32 {
        let client = format!("10.1.{}.{}:{}", i / 250, i % 250 + 1, 20_000 + i);
        let mut c = Conv::new(Link::Ethernet, &client, SERVER, [1000, 5000], TS0 + i as i64 * 10_000_000);
        c.handshake();
        c.send(C, &heartbeat(i), 1460);
        pkts.extend(c.pkts);
    }
    let p = tmp("conns.pcap", &pcap_bytes(1, &pkts));
    let r = ctiscope(&["decode", "--max-connections", "1000"], &p);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.count("[limit] max_connections reached"), 1);
    assert_eq!(r.count("[limit]"), 1);
    assert_eq!(r.count("dropped: max_connections reached"), 2_000);
    assert_eq!(r.count("still open at the end of the capture"), 1_000);
    assert_eq!(r.count("HEARTBEAT_REQ (5)"), 3_000);
    let c = ctiscope(&["check", "--max-connections", "1000"], &p);
    assert!(c.out.contains("limit max_connections reached"), "{}", c.out);
}

/// Connections without CTI, every other one closed, the rest left open: what the analysis
/// keeps of them stays within `--max-analysis-memory`; every one is still counted.
#[test]
fn handshake_only_connections_stay_within_the_analysis_budget() {
    let n = 6_000u32;
    let mut pkts = vec![];
    for i in 0..n {
        let client = format!("10.2.{}.{}:{}", i / 250, i % 250 + 1, 20_000 + i);
        let mut c = Conv::new(Link::Ethernet, &client, SERVER, [1000, 5000], TS0 + i as i64 * 1_000_000);
        c.handshake();
        if i % 2 == 0 {
            c.close();
        }
        pkts.extend(c.pkts);
    }
    let p = tmp("handshakes.pcap", &pcap_bytes(1, &pkts));
    // Unbounded, every attempt is listed.
    let all = ctiscope(&["stats", "-T", "json"], &p);
    assert_eq!(all.code, 0, "{}", all.err);
    let v: serde_json::Value = serde_json::from_str(&all.out).unwrap();
    assert_eq!(v["connections"].as_array().unwrap().len(), n as usize);
    assert_eq!(v["connections_released"], serde_json::json!({"sessions": 0, "attempts": 0, "live": 0}));
    for cmd in ["stats", "check", "timeline"] {
        let mut args = vec![cmd, "-T", "json", "--max-analysis-memory", "256K"];
        if cmd == "timeline" {
            args.extend(["--session", "1"]);
        }
        let r = ctiscope(&args, &p);
        assert_eq!(r.code, 0, "{cmd}: {}", r.err);
        let v: serde_json::Value = serde_json::from_str(&r.out).unwrap_or(serde_json::Value::Null);
        if cmd == "stats" {
            let kept = v["connections"].as_array().unwrap().len() as u64;
            let rel = &v["connections_released"];
            let attempts = rel["attempts"].as_u64().unwrap();
            assert!(attempts > 0 && kept < 2_000, "{rel} with {kept} kept");
            // Every connection is listed or counted; the three thousand closed ones are
            // all counted as closed without data.
            assert_eq!(kept + attempts + rel["live"].as_u64().unwrap(), n as u64, "{rel}");
            assert_eq!(v["attempts_empty"], 3_000);
            assert!(v["summary"].as_str().unwrap().contains("at --max-analysis-memory"), "{}", v["summary"]);
        }
        if cmd == "check" {
            let limit = v["findings"].as_array().unwrap().iter().filter(|f| f["rule"] == "analysis-limit");
            assert_eq!(limit.count(), 1, "reported once: {}", r.out);
            assert!(r.out.contains("max_analysis_memory"), "{}", r.out);
        }
    }
}

#[test]
fn random_bytes_on_the_server_port() {
    let mut c = Conv::new(Link::Ethernet, CLIENT, SERVER, [1000, 5000], TS0);
    let mut x: u64 = 42;
    let mut payload = vec![0u8; 2_000_000];
    for b in payload.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 32) as u8;
    }
    // No handshake: the capture starts mid-stream.
    c.send(S, &payload, 1460);
    let cap = pcap_bytes(1, &c.pkts);
    let mut skipped = vec![];
    let mut messages = 0;
    let st = pipeline_over(&cap, Settings::default(), &mut |ev| match ev {
        Event::Message { frame, .. } => {
            messages += 1;
            assert!(ctiscope::cti::spec::type_info(frame.msg_type).is_some());
        }
        Event::Skipped { len, reason, .. } => skipped.push((*len, *reason)),
        _ => {}
    });
    assert_eq!(messages, 0, "random bytes hold no plausible header");
    assert_eq!(skipped, vec![(2_000_000, ctiscope::cti::framing::SkipReason::Midstream)]);
    assert_eq!(st.skipped_bytes, 2_000_000);
    let p = tmp("random.pcap", &cap);
    let r = ctiscope(&["decode"], &p);
    assert_eq!(r.code, 0);
    assert!(
        r.out.contains(
            "[resync] skipped 2000000 bytes at stream offset 0 (frames 1-1370; capture started mid-stream)"
        ),
        "{}",
        r.out
    );
}

#[test]
fn gzip_bomb_is_streamed() {
    use std::io::Write;
    // 256 MB of zeros compress to about 256 KB.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    for _ in 0..256 {
        gz.write_all(&block).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let (r, p) = decode("bomb.pcap.gz", &bomb);
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains(&format!(
            "{}: frame 1 (byte offset 0): not a capture file: magic 00000000",
            p.display()
        )),
        "{}",
        r.err
    );
    // A pcap header in front of the zeros: 16-byte empty records, streamed one at a time.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&PcapWriter::new(Vec::new(), 1, 65535).unwrap().into_inner()).unwrap();
    for _ in 0..4 {
        gz.write_all(&block).unwrap();
    }
    let bomb = gz.finish().unwrap();
    let mut packets = 0u64;
    let info = capture::read_bytes("bomb", &bomb, &mut |pkt| {
        assert!(pkt.data.is_empty());
        packets += 1;
    })
    .unwrap();
    assert!(info.gzip);
    assert_eq!(packets, 4 << 16);
    assert_eq!(info.bytes, 24 + (4 << 20));
}

#[test]
fn gzip_cut_short_is_reported() {
    let full = gzip(&pcap_bytes(1, &desktop().pkts));
    let (r, p) = decode("cut.pcap.gz", &full[..full.len() / 2]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains(&format!("{}: frame ", p.display())), "{}", r.err);
    let e = capture::read_bytes("cut", &full[..full.len() / 2], &mut |_| {}).unwrap_err();
    assert!(matches!(e.kind, CaptureErrorKind::Gzip(_) | CaptureErrorKind::Truncated { .. }), "{e}");
}

#[test]
fn fragment_buffer_limit_is_reported_once() {
    // 200 datagrams of which only the first 1,480-byte fragment is captured: 300 KB held,
    // over a 64 KiB fragment budget.
    let mut pkts = vec![];
    for i in 0..200u16 {
        let spec = TcpSpec {
            src: CLIENT.parse().unwrap(),
            dst: SERVER.parse().unwrap(),
            seq: 1000 + i as u32 * 4000,
            ack: 0,
            flags: PSH | ACK,
            payload: &[0x55; 4000],
        };
        let mut ip = tcp_ip_packet(&spec);
        ip[4..6].copy_from_slice(&i.to_be_bytes()); // IP identification
        let frags = fragment_ipv4(&ip, 1480).unwrap();
        pkts.push((TS0 + i as i64, wrap_ip(Link::Ethernet, &frags[0])));
    }
    let mut s = Settings::default();
    s.net.max_fragment_bytes = 64 << 10;
    let mut limits = vec![];
    let mut issues = 0;
    pipeline_over(&pcap_bytes(1, &pkts), s, &mut |ev| match ev {
        Event::Limit { setting, conn, .. } => limits.push((*setting, *conn)),
        Event::PacketIssue { .. } => issues += 1,
        _ => {}
    });
    assert_eq!(limits, vec![("max_fragment_bytes", None)]);
    assert_eq!(issues, 0);
}

/// An AGENT_STATE_EVENT of the shape synth writes (160 body bytes), its InvokeID-free body
/// marked by `k` so that each message of a stream is told apart.
fn state_event(k: u32) -> Vec<u8> {
    let mut b = ctiscope::cti::encode::MessageBuilder::named("AGENT_STATE_EVENT", 24);
    b.set("PeripheralID", 5000).unwrap();
    b.set("AgentState", 3).unwrap();
    b.set("ICMAgentID", u64::from(k)).unwrap();
    b.text("AgentID", &format!("{}", 1000 + k)).unwrap();
    b.text("AgentExtension", "40001").unwrap();
    b.build()
}

/// One wrong MessageLength costs the damaged message and at most the one after it, in
/// segments of one message each and of several: a length one byte long or short, four or
/// eight bytes long, or with its high bit flipped.
#[test]
fn one_wrong_length_loses_at_most_two_messages() {
    let n = 60u32;
    let stream: Vec<Vec<u8>> =
        (0..n).map(|k| if k % 3 == 0 { heartbeat(k) } else { state_event(k) }).collect();
    let marker = |line: &str| -> Option<u32> {
        if let Some(i) = line.find("InvokeID=") {
            return line[i + 9..].split_whitespace().next().and_then(|v| v.parse().ok());
        }
        line.find("AgentID=")
            .and_then(|i| line[i + 8..].split_whitespace().next())
            .and_then(|v| v.parse::<u32>().ok())
            .map(|a| a - 1000)
    };
    let damaged = 20usize; // an AGENT_STATE_EVENT
    assert_ne!(damaged % 3, 0);
    for (what, change) in [
        ("+1", (|l: u32| l + 1) as fn(u32) -> u32),
        ("-1", |l| l - 1),
        ("+4", |l| l + 4),
        ("+8", |l| l + 8),
        ("high bit", |l| l ^ 0x8000_0000),
    ] {
        for mss in [1460usize, 200] {
            let mut bytes = Vec::new();
            let mut segments: Vec<Vec<u8>> = Vec::new();
            for (k, m) in stream.iter().enumerate() {
                let mut m = m.clone();
                if k == damaged {
                    let l = u32::from_be_bytes(m[..4].try_into().unwrap());
                    m[..4].copy_from_slice(&change(l).to_be_bytes());
                }
                bytes.extend_from_slice(&m);
                segments.push(m);
            }
            // mss 200: one message per segment (each message fits); 1460: several per segment.
            let cap = if mss == 200 {
                let mut c = Conv::new(Link::Ethernet, CLIENT, SERVER, [1000, 5000], TS0);
                c.handshake();
                for s in &segments {
                    c.send(S, s, 1460);
                }
                c.close();
                pcap_bytes(1, &c.pkts)
            } else {
                server_sends(&bytes, mss)
            };
            let (r, _) = decode(&format!("wrong-length-{mss}.pcap"), &cap);
            assert_eq!(r.code, 0, "{}", r.err);
            let lines =
                r.out.lines().filter(|l| l.contains(" → ") && l.contains(" len=") && !l.contains("] "));
            let seen: Vec<u32> = lines.filter_map(marker).collect();
            let lost: Vec<u32> = (0..n).filter(|k| !seen.contains(k)).collect();
            assert!(
                lost.iter().all(|&k| k == damaged as u32 || k == damaged as u32 + 1),
                "{what}, mss {mss}: lost {lost:?}\n{}",
                r.out
            );
            // Nothing after the damage is lost, and nothing waits for a giant length.
            assert!(!r.out.contains("[incomplete]"), "{what}, mss {mss}:\n{}", r.out);
        }
    }
}

#[test]
fn gzip_with_trailing_garbage_says_so() {
    let mut gz =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/desktop-ethernet.pcap.gz")).unwrap();
    gz.extend_from_slice(b"GARBAGE AFTER THE GZIP DATA");
    let (r, _) = decode("trailing.pcap.gz", &gz);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("trailing garbage"), "{}", r.err);
    // Every message before it was decoded.
    let (plain, _) = decode(
        "plain.pcap.gz",
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/desktop-ethernet.pcap.gz")).unwrap(),
    );
    assert_eq!(r.messages().len(), plain.messages().len());
    assert!(!r.messages().is_empty());
}

#[test]
fn incomplete_messages_count_against_the_buffer_budget() {
    // 40 connections, each with the first 10,000 bytes of a 12,000-byte message that never
    // completes: together far beyond a 100 KB budget. The connection whose message crosses
    // the budget gives it up (reported incomplete at once, the limit named once), so what
    // is held stays bounded; every message is still accounted for.
    let mut pkts = vec![];
    for i in 0..40u32 {
        let client = format!("10.1.0.{}:{}", i + 1, 20_000 + i);
        let mut c = Conv::new(Link::Ethernet, &client, SERVER, [1000, 5000], TS0 + i as i64 * 10_000_000);
        c.handshake();
        let mut m = 11_992u32.to_be_bytes().to_vec();
        m.extend(25u32.to_be_bytes());
        m.extend(vec![0u8; 9_992]);
        c.send(S, &m, 1460);
        pkts.extend(c.pkts);
    }
    let p = tmp("held.pcap", &pcap_bytes(1, &pkts));
    let r = ctiscope(&["decode", "--max-buffered-total", "100K"], &p);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.count("[limit] max_buffered_total reached"), 1, "{}", r.out);
    assert_eq!(r.count("[incomplete] CALL_DATA_UPDATE_EVENT"), 40, "{}", r.out);
    // The rest of a message given up is skipped, with the reason.
    let rests = r.count("[resync]");
    assert!(rests > 0, "{}", r.out);
    assert_eq!(r.count("rest of a message given up at max_buffered_total"), rests, "{}", r.out);
    // Without the budget pressure every message waits for the end of its connection.
    let r = ctiscope(&["decode"], &p);
    assert_eq!(r.count("[limit]"), 0);
    assert_eq!(r.count("[incomplete] CALL_DATA_UPDATE_EVENT"), 40);
}
