//! The analysis commands and report writers.

use ctiscope::analysis::{self, Analyzer, Settings, TimelineFilter};
use ctiscope::cti::encode::MessageBuilder;
use ctiscope::cti::framing::Frame;
use ctiscope::net::tcp::{ConnEnd, ConnStart};
use ctiscope::pipeline::{Detection, Direction, Event, Flow};
use ctiscope::render::report;
use std::net::SocketAddr;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ctiscope"))
}

#[test]
fn rules_command_lists_every_rule() {
    let out = bin().arg("rules").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for r in analysis::rules() {
        assert!(text.contains(&format!("| {} ", r.id)), "{} missing from `ctiscope rules`", r.id);
    }
    let again = bin().arg("rules").output().unwrap();
    assert_eq!(text.as_bytes(), &again.stdout[..], "output is deterministic");
}

#[test]
fn analysis_commands_without_a_capture_exit_2() {
    for cmd in ["check", "stats", "timeline"] {
        let out = bin().arg(cmd).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A session whose HEARTBEAT_CONF answers nothing and whose CLEAR_CALL_REQ is answered by
/// the wrong confirm.
fn sample(settings: Settings) -> analysis::Report {
    let mut a = Analyzer::new(settings);
    let (c, s) = (addr("10.0.0.1:50000"), addr("10.0.0.2:42027"));
    a.event(
        &Event::Connection {
            conn: 0,
            client: c,
            server: s,
            start: ConnStart::Handshake,
            detection: Detection::Port,
            frame: 1,
            ts_ns: 0,
        },
        None,
    );
    let mut open = MessageBuilder::named("OPEN_REQ", 24);
    open.set("InvokeID", 1).unwrap();
    open.set("VersionNumber", 24).unwrap();
    open.set("IdleTimeout", 0xFFFF_FFFF).unwrap();
    open.text("ClientID", "t").unwrap();
    open.bytes("ClientPassword", b"").unwrap();
    let mut conf = MessageBuilder::named("OPEN_CONF", 24);
    conf.set("InvokeID", 1).unwrap();
    conf.set("PeripheralType", 1).unwrap();
    conf.number("NumPeripherals", 0).unwrap();
    let with_invoke = |name: &str, i: u64| {
        let mut m = MessageBuilder::named(name, 24);
        m.set("InvokeID", i).unwrap();
        m.build()
    };
    let msgs: Vec<(Direction, Vec<u8>)> = vec![
        (Direction::ToServer, open.build()),
        (Direction::ToClient, conf.build()),
        (Direction::ToClient, with_invoke("HEARTBEAT_CONF", 9)),
        (Direction::ToServer, with_invoke("CLEAR_CALL_REQ", 2)),
        (Direction::ToClient, with_invoke("HOLD_CALL_CONF", 2)),
    ];
    for (i, (dir, bytes)) in msgs.iter().enumerate() {
        let frame = i as u64 + 2;
        let flow = Flow {
            conn: 0,
            dir: *dir,
            src: if *dir == Direction::ToServer { c } else { s },
            dst: if *dir == Direction::ToServer { s } else { c },
        };
        let f = Frame {
            offset: 0,
            first_frame: frame,
            last_frame: frame,
            ts_ns: frame as i64 * 1_000_000,
            msg_type: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            length: bytes.len() as u32 - 8,
            bytes,
        };
        let d = ctiscope::cti::decode::decode(bytes, 24, ctiscope::cti::decode::VersionSource::Seen);
        a.event(&Event::Message { flow, frame: f }, Some(&d));
    }
    a.event(
        &Event::ConnectionEnd { conn: 0, end: ConnEnd::Fin, by: None, frame: 10, ts_ns: 10_000_000 },
        None,
    );
    a.finish()
}

#[test]
fn findings_as_json_lines_and_table() {
    let r = sample(Settings::default());
    let mut buf = Vec::new();
    report::write_findings_jsonl(&mut buf, &r).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows.len() >= 2);
    for row in &rows {
        assert_eq!(row["schema"], 1);
        for k in ["rule", "severity", "frames", "connection", "message", "reference"] {
            assert!(row.get(k).is_some(), "{k} missing in {row}");
        }
    }
    let rules: Vec<&str> = rows.iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"confirm-unmatched"));
    assert!(rules.contains(&"confirm-wrong-type"));
    // Sorted by first frame.
    let firsts: Vec<u64> = rows.iter().map(|r| r["frames"][0].as_u64().unwrap_or(u64::MAX)).collect();
    let mut sorted = firsts.clone();
    sorted.sort_unstable();
    assert_eq!(firsts, sorted);

    // Every finding has its identifiers as keys: the confirm of the wrong type names its
    // request, InvokeID and confirm.
    let wrong = rows.iter().find(|r| r["rule"] == "confirm-wrong-type").unwrap();
    assert!(wrong["invoke"].is_u64(), "{wrong}");
    assert!(wrong["request"].is_string() && wrong["confirm"].is_string(), "{wrong}");

    for listing in [report::Listing::Grouped, report::Listing::All] {
        let mut buf = Vec::new();
        report::write_check(&mut buf, &r, listing).unwrap();
        let table = String::from_utf8(buf).unwrap();
        assert!(table.contains("| severity"));
        assert!(table.contains("confirm-wrong-type"));
        assert!(table.trim_end().lines().last().unwrap().contains("1 error,"), "{table}");
        // The headline comes first and names the error.
        assert!(table.lines().next().unwrap().starts_with("1 error, "), "{table}");
        assert!(table.lines().nth(1).unwrap().starts_with("  error: "), "{table}");
    }
}

#[test]
fn stats_and_timeline_output() {
    let r = sample(Settings { timeline: Some(TimelineFilter::default()), ..Settings::default() });
    let mut buf = Vec::new();
    report::write_stats(&mut buf, &r).unwrap();
    let text = String::from_utf8(buf).unwrap();
    for section in ["Messages per type", "Connections", "Request latency", "Failures"] {
        assert!(text.contains(section), "{section}");
    }
    assert!(text.contains("OPEN_REQ (3)"));
    let mut buf = Vec::new();
    report::write_timeline_json(&mut buf, &r).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    let entries = v.as_array().unwrap();
    assert!(entries.iter().any(|e| e["what"] == "CLEAR_CALL_REQ"));
    let times: Vec<i64> = entries.iter().map(|e| e["epoch_ns"].as_i64().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted);
}

/// `n` connections that open and, when `close`, end without carrying CTI.
fn attempts(settings: Settings, n: u32, close: bool) -> analysis::Report {
    let mut a = Analyzer::new(settings);
    let s = addr("10.0.0.2:42027");
    for i in 0..n {
        let c = SocketAddr::new(std::net::Ipv4Addr::from(0x0a01_0000 + i).into(), 50_000);
        let (frame, ts_ns) = (u64::from(i) * 2 + 1, i64::from(i) * 1_000_000);
        let start = Event::Connection {
            conn: i,
            client: c,
            server: s,
            start: ConnStart::Handshake,
            detection: Detection::Port,
            frame,
            ts_ns,
        };
        a.event(&start, None);
        if close {
            let end = Event::ConnectionEnd {
                conn: i,
                end: ConnEnd::Fin,
                by: None,
                frame: frame + 1,
                ts_ns: ts_ns + 1,
            };
            a.event(&end, None);
        }
    }
    a.finish()
}

#[test]
fn the_analysis_memory_budget_lets_the_oldest_summaries_go_and_says_so() {
    // Unbounded: every attempt is listed.
    let all = attempts(Settings::default(), 5_000, true);
    assert_eq!(all.connections.len(), 5_000);
    assert!(!all.connections_released.any());
    // 256 KiB hold some hundreds of summaries: the latest are kept, the rest counted.
    let r = attempts(Settings { max_analysis_memory: 256 << 10, ..Settings::default() }, 5_000, true);
    let rel = r.connections_released;
    assert!(r.connections.len() > 100 && r.connections.len() < 2_000, "{}", r.connections.len());
    assert_eq!(r.connections.len() as u64 + rel.attempts, 5_000);
    assert_eq!((rel.sessions, rel.live), (0, 0));
    assert_eq!(r.connections.first().unwrap().conn as u64, rel.attempts, "the oldest went first");
    assert_eq!(r.connections.last().unwrap().conn, 4_999);
    assert_eq!((r.refused, r.empty), (0, 5_000), "attempts are counted whatever is kept");
    let limits: Vec<_> = r.findings.iter().filter(|f| f.rule == "analysis-limit").collect();
    assert_eq!(limits.len(), 1, "reported once");
    assert!(limits[0].message.contains("max_analysis_memory"), "{}", limits[0].message);
    let line = report::summary_line(&r);
    assert!(
        line.contains(&format!(
            "{} connection summaries not kept (0 sessions, {} attempts) at --max-analysis-memory",
            rel.attempts, rel.attempts
        )),
        "{line}"
    );
    let mut text = Vec::new();
    report::write_stats(&mut text, &r).unwrap();
    assert!(String::from_utf8(text).unwrap().contains("at --max-analysis-memory: counted above, not listed"));
    let json = report::stats_json(&r);
    assert_eq!(json["connections_released"]["attempts"], rel.attempts);
    assert_eq!(json["connections"].as_array().unwrap().len(), r.connections.len());
}

#[test]
fn the_analysis_memory_budget_lets_the_least_recently_active_open_connections_go() {
    let r = attempts(Settings { max_analysis_memory: 256 << 10, ..Settings::default() }, 5_000, false);
    let rel = r.connections_released;
    assert!(rel.live > 0, "{rel:?}");
    // Every connection is listed, or counted as let go (open, or its summary).
    assert_eq!(r.connections.len() as u64 + rel.live + rel.attempts, 5_000);
    // The ones let go while open are the first (least recently active).
    assert!(r.connections.iter().all(|c| u64::from(c.conn) >= rel.live), "{rel:?}");
}

#[test]
fn stats_json_is_written_row_by_row_as_the_whole_document() {
    for r in [
        sample(Settings { timeline: Some(TimelineFilter::default()), ..Settings::default() }),
        attempts(Settings { max_analysis_memory: 64 << 10, ..Settings::default() }, 300, true),
    ] {
        let mut buf = Vec::new();
        report::write_stats_json(&mut buf, &r).unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), format!("{}\n", report::stats_json(&r)));
    }
}

#[test]
fn a_timeline_takes_at_most_half_the_analysis_budget_and_says_where_it_stopped() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/contact-center.pcapng");
    let run = |budget: &str| -> Vec<serde_json::Value> {
        let out = bin()
            .args(["timeline", "--agent", "1001", "-T", "jsonl", "--max-analysis-memory", budget, file])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let limited = |v: &[serde_json::Value]| {
        v.iter()
            .filter(|e| {
                e["what"] == "finding analysis-limit"
                    && e["detail"].as_str().unwrap().contains("max_analysis_memory")
            })
            .count()
    };
    let messages = |v: &[serde_json::Value]| v.iter().filter(|e| e["direction"].is_string()).count();
    let whole = run("64M");
    let cut = run("16K");
    assert_eq!(limited(&whole), 0);
    assert_eq!(limited(&cut), 1, "{cut:?}");
    assert!(
        messages(&cut) > 0 && messages(&cut) < messages(&whole),
        "{} of {}",
        messages(&cut),
        messages(&whole)
    );
    // What was kept is the start of the story: the same entries as the whole timeline's.
    let first = |v: &[serde_json::Value]| -> Vec<u64> {
        v.iter().filter(|e| e["direction"].is_string()).map(|e| e["frame"].as_u64().unwrap()).collect()
    };
    let (w, c) = (first(&whole), first(&cut));
    assert_eq!(&w[..c.len()], &c[..]);
}
