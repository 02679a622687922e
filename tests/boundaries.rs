//! Exact boundaries: every limit at N - 1, N and N + 1 (value lengths, count maxima, message
//! sizes, the named-data budget, `--max-message-length`), InvokeIDs over the whole 32-bit
//! range, the request, heartbeat and idle timeouts to the millisecond, the protocol version
//! kept over a whole connection, and golden files of captures/midstream.pcap in every
//! output mode. Each test pins today's behaviour, so that an off-by-one fails here.

mod common;

use common::messages::{base, config_agents, named_value};
use common::*;
use ctiscope::analysis::{Analyzer, Report, Settings};
use ctiscope::capture::build::Link;
use ctiscope::cti::decode::{decode, Decoded, VersionSource, NAMED_DATA_BUDGET};
use ctiscope::cti::encode::MessageBuilder;
use ctiscope::cti::framing::Frame;
use ctiscope::cti::spec::{self, fields::field, MessageType};
use ctiscope::net::tcp::{ConnEnd, ConnStart};
use ctiscope::pipeline::{Detection, Direction, Event, Flow};
use std::collections::BTreeMap;
use std::net::SocketAddr;

// ---------------------------------------------------------------------------------------
// Decoder limits
// ---------------------------------------------------------------------------------------

fn codes(d: &Decoded) -> Vec<&'static str> {
    assert_eq!(d.anomalies_dropped, 0);
    d.anomalies.iter().map(|a| a.code).collect()
}

fn floating_max(message: &str, name: &str) -> usize {
    let m = spec::message_by_name(message).unwrap();
    usize::from(m.floating.iter().find(|f| f.name == name).unwrap().max)
}

#[test]
fn value_too_long_at_the_maximum_of_a_string_and_of_an_unspec_field() {
    // OPEN_REQ.AgentID: a STRING whose maximum (12) counts its NUL.
    let n = floating_max("OPEN_REQ", "AgentID");
    assert_eq!(n, 12);
    for (data_len, want) in [(n - 1, vec![]), (n, vec![]), (n + 1, vec!["value_too_long"])] {
        let mut b = base("OPEN_REQ", 24);
        b.text("AgentID", &"7".repeat(data_len - 1)).unwrap();
        let d = decode(&b.build(), 24, VersionSource::Forced);
        assert_eq!(codes(&d), want, "AgentID of {data_len} bytes: {:#?}", d.anomalies);
        if data_len > n {
            let a = &d.anomalies[0];
            assert_eq!(a.field, Some("AgentID"));
            assert_eq!(a.message, format!("AgentID is {data_len} bytes, its maximum is {n}"));
        }
    }
    // OPEN_REQ.ClientPassword: UNSPEC, at most 64 bytes.
    let n = floating_max("OPEN_REQ", "ClientPassword");
    assert_eq!(n, 64);
    for (len, want) in [(n - 1, vec![]), (n, vec![]), (n + 1, vec!["value_too_long"])] {
        let mut b = MessageBuilder::named("OPEN_REQ", 24);
        b.set("InvokeID", 1).unwrap().set("VersionNumber", 24).unwrap();
        b.text("ClientID", "c").unwrap().bytes("ClientPassword", &vec![0xa5; len]).unwrap();
        let d = decode(&b.build(), 24, VersionSource::Forced);
        assert_eq!(codes(&d), want, "ClientPassword of {len} bytes: {:#?}", d.anomalies);
    }
}

/// CALL_CONFERENCED_EVENT with `n` parties, NumParties = `n`.
fn parties(n: u32) -> Vec<u8> {
    let mut b = base("CALL_CONFERENCED_EVENT", 24);
    b.set("NumParties", u64::from(n)).unwrap();
    let device_type = named_value(spec::value_table("DeviceIDType").unwrap(), 2);
    for i in 0..u64::from(n) {
        b.number("ConnectedPartyCallID", 100 + i).unwrap();
        b.number("ConnectedPartyDeviceIDType", device_type).unwrap();
        b.text("ConnectedPartyDeviceID", &format!("{}", 3000 + i)).unwrap();
    }
    b.build()
}

#[test]
fn count_over_max_only_above_the_documented_maximum() {
    let n = spec::count_maximum(MessageType::CALL_CONFERENCED_EVENT, field::NumParties).unwrap();
    assert_eq!(n, 16);
    for (count, want) in [(n - 1, vec![]), (n, vec![]), (n + 1, vec!["count_over_max"])] {
        let d = decode(&parties(count), 24, VersionSource::Forced);
        assert_eq!(codes(&d), want, "NumParties = {count}: {:#?}", d.anomalies);
    }
    // A message's own maximum wins over the general one: SET_AGENT_STATE_REQ.NumSkillGroups
    // is at most 10 (20 elsewhere), and the fixed count is checked alone.
    let own = spec::count_maximum(MessageType::SET_AGENT_STATE_REQ, field::NumSkillGroups).unwrap();
    let general = spec::count_maximum(MessageType::AGENT_STATE_EVENT, field::NumSkillGroups).unwrap();
    assert_eq!((own, general), (10, 20));
}

/// A CONFIG_AGENT_EVENT of exactly `size` bytes, header included.
fn config_of_size(version: u32, size: usize) -> Vec<u8> {
    // Up to 10 records (NumRecords' maximum), more where 10 are too few (at versions 16 to
    // 19 the one-byte tags leave out the widest fields).
    let records = (1..=20).find(|&n| config_agents(version, n, 0).len() > size).expect("enough records");
    let full = config_agents(version, records, 0).len();
    let frame = config_agents(version, records, full - size);
    assert_eq!(frame.len(), size);
    frame
}

#[test]
fn message_too_large_only_above_the_maximum_of_each_version() {
    assert_eq!(spec::versions::max_message_size(15), 4329);
    assert_eq!(spec::versions::max_message_size(16), 12500);
    for (version, n) in [(14, 4329), (15, 4329), (16, 12500), (24, 12500)] {
        assert_eq!(spec::versions::max_message_size(version), n);
        let at = |size| {
            let d = decode(&config_of_size(version, size), version, VersionSource::Forced);
            codes(&d)
        };
        // At version 16 it takes more records than NumRecords allows: count_over_max, the
        // same at each size.
        let others: Vec<&str> = if version == 16 { vec!["count_over_max"] } else { vec![] };
        assert_eq!(at(n - 1), others, "{} bytes at version {version}", n - 1);
        assert_eq!(at(n), others, "{n} bytes at version {version}");
        let mut over = vec!["message_too_large"];
        over.extend(&others);
        assert_eq!(at(n + 1), over, "{} bytes at version {version}", n + 1);
    }
    // 12500 bytes (in more than 10 records) are too large for version 15.
    let d = decode(&config_of_size(15, 12500), 15, VersionSource::Forced);
    assert_eq!(codes(&d), ["message_too_large", "count_over_max"]);
}

/// SET_CALL_DATA_REQ with ten NAMEDVARs whose data total `total` bytes.
fn named_data(total: usize) -> Vec<u8> {
    let mut b = base("SET_CALL_DATA_REQ", 24);
    b.set("NumNamedVariables", 10).unwrap();
    let each = total / 10;
    for i in 0..10 {
        let len = if i == 9 { total - 9 * each } else { each };
        // name "user.i" (6), NUL, value, NUL.
        let name = format!("user.{i}");
        b.named_var(&name, &"v".repeat(len - name.len() - 2)).unwrap();
    }
    b.build()
}

#[test]
fn named_data_too_much_only_above_the_budget() {
    let n = NAMED_DATA_BUDGET;
    assert_eq!(n, 2000);
    for (total, want) in [(n - 1, vec![]), (n, vec![]), (n + 1, vec!["named_data_too_much"])] {
        let d = decode(&named_data(total), 24, VersionSource::Forced);
        let sum: u32 = d.fields.iter().filter(|f| f.name() == "NamedVariable").map(|f| f.data_len()).sum();
        assert_eq!(sum as usize, total);
        assert_eq!(codes(&d), want, "{total} bytes of named data: {:#?}", d.anomalies);
    }
}

// ---------------------------------------------------------------------------------------
// Analysis: InvokeIDs and timeouts, fed to the Analyzer directly
// ---------------------------------------------------------------------------------------

const V: u32 = 24;
const TO_S: Direction = Direction::ToServer;
const TO_C: Direction = Direction::ToClient;
const MS: i64 = 1_000_000;
const SECOND: i64 = 1_000_000_000;

enum Step {
    /// A message at a time in nanoseconds.
    Msg(Direction, i64, Vec<u8>),
    End(ConnEnd, i64),
}

fn client() -> SocketAddr {
    "10.0.0.1:50000".parse().unwrap()
}
fn server() -> SocketAddr {
    "10.0.0.2:42027".parse().unwrap()
}

/// Run a script on connection 0, started with a handshake (frame = step index + 2).
fn run(steps: &[Step], settings: Settings) -> Report {
    let mut a = Analyzer::new(settings);
    let conn = Event::Connection {
        conn: 0,
        client: client(),
        server: server(),
        start: ConnStart::Handshake,
        detection: Detection::Port,
        frame: 1,
        ts_ns: 0,
    };
    a.event(&conn, None);
    let mut offsets = [0u64; 2];
    for (i, st) in steps.iter().enumerate() {
        let frame = i as u64 + 2;
        match st {
            Step::Msg(dir, ts, bytes) => {
                let di = usize::from(*dir == TO_C);
                let f = Frame {
                    offset: offsets[di],
                    first_frame: frame,
                    last_frame: frame,
                    ts_ns: *ts,
                    msg_type: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
                    length: bytes.len() as u32 - 8,
                    bytes,
                };
                offsets[di] += bytes.len() as u64;
                let (src, dst) = if *dir == TO_S { (client(), server()) } else { (server(), client()) };
                let d = decode(bytes, V, VersionSource::Seen);
                assert!(d.anomalies.is_empty(), "{:#?}", d.anomalies);
                a.event(&Event::Message { flow: Flow { conn: 0, dir: *dir, src, dst }, frame: f }, Some(&d));
            }
            Step::End(end, ts) => {
                a.event(&Event::ConnectionEnd { conn: 0, end: *end, by: None, frame, ts_ns: *ts }, None)
            }
        }
    }
    a.finish()
}

fn rules(r: &Report) -> Vec<&'static str> {
    r.findings.iter().map(|f| f.rule).collect()
}

fn with_invoke(name: &str, invoke: u32) -> Vec<u8> {
    let mut m = base(name, V);
    m.set("InvokeID", u64::from(invoke)).unwrap();
    m.build()
}

/// OPEN_REQ (InvokeID 0x1234) at 0 and OPEN_CONF at 1 ms; `idle`: IdleTimeout in seconds.
fn opened(idle: u32) -> Vec<Step> {
    let mut open = MessageBuilder::named("OPEN_REQ", V);
    open.set("InvokeID", 0x1234).unwrap().set("VersionNumber", u64::from(V)).unwrap();
    open.set("IdleTimeout", u64::from(idle)).unwrap();
    open.text("ClientID", "bridge").unwrap().bytes("ClientPassword", b"").unwrap();
    let mut conf = MessageBuilder::named("OPEN_CONF", V);
    conf.set("InvokeID", 0x1234).unwrap().set("PeripheralType", 1).unwrap();
    conf.number("NumPeripherals", 0).unwrap();
    vec![Step::Msg(TO_S, 0, open.build()), Step::Msg(TO_C, MS, conf.build())]
}

const NO_HEARTBEAT: u32 = 0xFFFF_FFFF;

const INVOKE_IDS: [u32; 8] = [0, 1, 65535, 65536, 65537, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];

#[test]
fn invoke_ids_over_the_whole_32_bit_range_match_their_own_confirm() {
    // All eight outstanding at once (several share their low 16 bits), answered in reverse
    // order, each after a latency that names it: 10 ms + its index.
    let mut s = opened(NO_HEARTBEAT);
    for (i, &id) in INVOKE_IDS.iter().enumerate() {
        s.push(Step::Msg(TO_S, 10 * MS + i as i64 * MS, with_invoke("CLEAR_CALL_REQ", id)));
    }
    // The confirm of request i (sent at 10 + i ms) comes at 200 + (7 - i) ms: a latency of
    // 197 - 2i ms.
    for (k, &id) in INVOKE_IDS.iter().rev().enumerate() {
        s.push(Step::Msg(TO_C, 200 * MS + k as i64 * MS, with_invoke("CLEAR_CALL_CONF", id)));
    }
    s.push(Step::End(ConnEnd::Fin, 500 * MS));
    let r = run(&s, Settings::default());
    assert_eq!(rules(&r), Vec::<&str>::new(), "{:#?}", r.findings);
    let l = &r.latency["CLEAR_CALL_REQ"];
    assert_eq!((l.count, l.max_ns), (8, 197 * MS), "InvokeID 0 answered by its own confirm");

    // Each pair in turn, the timeline naming the request each confirm answers.
    let mut s = opened(NO_HEARTBEAT);
    let mut t = 10 * MS;
    for &id in &INVOKE_IDS {
        s.push(Step::Msg(TO_S, t, with_invoke("CLEAR_CALL_REQ", id)));
        s.push(Step::Msg(TO_C, t + MS, with_invoke("CLEAR_CALL_CONF", id)));
        t += 10 * MS;
    }
    s.push(Step::End(ConnEnd::Fin, t));
    let r = run(&s, Settings::default());
    assert_eq!(rules(&r), Vec::<&str>::new(), "{:#?}", r.findings);
    assert_eq!(r.latency["CLEAR_CALL_REQ"].count, 8);
}

#[test]
fn a_confirm_differing_only_above_bit_16_answers_nothing() {
    for (req, conf) in [
        (1u32, 65537u32),
        (65537, 1),
        (0, 65536),
        (65535, 0xffff_ffff),
        (0x8000_0000, 0),
        (0x7fff_ffff, 0xffff_ffff),
    ] {
        assert_eq!(req & 0xffff, conf & 0xffff);
        let mut s = opened(NO_HEARTBEAT);
        s.push(Step::Msg(TO_S, 10 * MS, with_invoke("CLEAR_CALL_REQ", req)));
        s.push(Step::Msg(TO_C, 20 * MS, with_invoke("CLEAR_CALL_CONF", conf)));
        // A later client message settles the unmatched confirm: the client direction is
        // complete.
        s.push(Step::Msg(TO_S, 30 * MS, with_invoke("HEARTBEAT_REQ", 0x4321)));
        s.push(Step::Msg(TO_C, 31 * MS, with_invoke("HEARTBEAT_CONF", 0x4321)));
        s.push(Step::End(ConnEnd::Fin, 40 * MS));
        let r = run(&s, Settings::default());
        // Sorted by first frame: the request (frame 4), never answered before the
        // connection closed, then the confirm (frame 5).
        assert_eq!(
            rules(&r),
            ["invoke-unanswered", "confirm-unmatched"],
            "{req} / {conf}: {:#?}",
            r.findings
        );
        assert_eq!(r.findings[0].frames, [4], "the request is still outstanding");
        assert_eq!(r.findings[0].subject.invoke, Some(req));
        assert_eq!(r.findings[1].frames, [5]);
        assert_eq!(
            r.findings[1].message,
            format!("CLEAR_CALL_CONF with InvokeID {conf} answers no outstanding request")
        );
        assert!(!r.latency.contains_key("CLEAR_CALL_REQ"));
    }
}

/// A request (InvokeID 7) at 10 ms; a server event `event_after` ns after it and its confirm
/// `confirm_after` ns after it (each if given); the end of the connection 1 ms after the
/// last.
fn timed(request: &str, settings: Settings, event_after: Option<i64>, confirm_after: Option<i64>) -> Report {
    let (req, conf) = match request {
        "HEARTBEAT_REQ" => ("HEARTBEAT_REQ", "HEARTBEAT_CONF"),
        _ => ("CLEAR_CALL_REQ", "CLEAR_CALL_CONF"),
    };
    let t0 = 10 * MS;
    let mut s = opened(NO_HEARTBEAT);
    s.push(Step::Msg(TO_S, t0, with_invoke(req, 7)));
    let mut server: Vec<(i64, Vec<u8>)> = Vec::new();
    if let Some(a) = event_after {
        let mut e = base("SYSTEM_EVENT", V);
        e.set("PGStatus", 0).unwrap();
        e.set("SystemEventID", 1).unwrap();
        server.push((t0 + a, e.build()));
    }
    if let Some(a) = confirm_after {
        server.push((t0 + a, with_invoke(conf, 7)));
    }
    server.sort_by_key(|x| x.0);
    let mut last = t0;
    for (ts, m) in server {
        last = ts;
        s.push(Step::Msg(TO_C, ts, m));
    }
    s.push(Step::End(ConnEnd::Fin, last + MS));
    run(&s, settings)
}

fn timeout_settings(ns: i64) -> Settings {
    Settings { request_timeout_ns: ns, ..Settings::default() }
}

#[test]
fn request_timeout_is_reached_at_exactly_the_timeout() {
    assert_eq!(Settings::default().request_timeout_ns, 15 * SECOND);
    for t in [15 * SECOND, 2_500 * MS] {
        let settings = || timeout_settings(t);
        let secs = ctiscope::time::format_seconds(t, 0);
        // A confirm at the timeout or after it, even as the first server message after
        // the deadline: the request is unanswered (the boundary is inclusive), and the
        // finding says when the answer came; before it: nothing to report.
        for (after, unanswered) in
            [(t - 50 * MS, false), (t - MS, false), (t, true), (t + MS, true), (t + 50 * MS, true)]
        {
            for event in [None, Some(after - MS)] {
                let r = timed("CLEAR_CALL_REQ", settings(), event, Some(after));
                let want: &[&str] = if unanswered { &["invoke-unanswered"] } else { &[] };
                assert_eq!(rules(&r), want, "timeout {t}, confirm {after} ns after: {:#?}", r.findings);
                assert_eq!(r.latency["CLEAR_CALL_REQ"].max_ns, after);
                if unanswered {
                    let f = &r.findings[0];
                    let confirm_frame = if event.is_some() { 6 } else { 5 };
                    assert_eq!(f.frames, [4, confirm_frame]);
                    assert_eq!(f.subject.invoke, Some(7));
                    assert_eq!(f.subject.request, Some("CLEAR_CALL_REQ"));
                    assert_eq!(f.subject.latency_ns, Some(after));
                    assert!(f.message.starts_with("CLEAR_CALL_REQ (InvokeID 7) sent at "), "{}", f.message);
                    let answered = format!(
                        "not answered within {secs} s; answered by CLEAR_CALL_CONF (frame {confirm_frame}) after {} s",
                        ctiscope::time::format_seconds(after, 3)
                    );
                    assert!(f.message.ends_with(&answered), "{}", f.message);
                }
            }
            // A server message at the deadline without the confirm: unanswered at once.
            let r = timed("CLEAR_CALL_REQ", settings(), Some(after), None);
            if unanswered {
                assert_eq!(rules(&r), ["invoke-unanswered"]);
                assert!(r.findings[0].message.ends_with(&format!("not answered within {secs} s")));
            }
        }
        // The capture ends with the request outstanding: unanswered from the timeout on,
        // pending before it.
        for (end_after, rule) in [
            (t - 50 * MS, "invoke-pending-at-end"),
            (t - MS, "invoke-pending-at-end"),
            (t, "invoke-unanswered"),
            (t + MS, "invoke-unanswered"),
            (t + 50 * MS, "invoke-unanswered"),
        ] {
            let mut s = opened(NO_HEARTBEAT);
            s.push(Step::Msg(TO_S, 10 * MS, with_invoke("CLEAR_CALL_REQ", 7)));
            s.push(Step::End(ConnEnd::CaptureEnd, 10 * MS + end_after));
            let r = run(&s, settings());
            assert_eq!(rules(&r), [rule], "timeout {t}, end {end_after} ns after: {:#?}", r.findings);
            // The connection itself ends (FIN) with the request outstanding: never answered,
            // whenever.
            let mut s = opened(NO_HEARTBEAT);
            s.push(Step::Msg(TO_S, 10 * MS, with_invoke("CLEAR_CALL_REQ", 7)));
            s.push(Step::End(ConnEnd::Fin, 10 * MS + end_after));
            let r = run(&s, settings());
            assert_eq!(rules(&r), ["invoke-unanswered"], "FIN {end_after} ns after: {:#?}", r.findings);
            assert!(
                r.findings[0].message.contains("never answered: the connection was closed"),
                "{}",
                r.findings[0].message
            );
        }
    }
}

#[test]
fn heartbeat_answered_just_inside_or_just_outside_the_timeout() {
    let t = 15 * SECOND;
    for (after, late) in
        [(t - 50 * MS, false), (t - MS, false), (t, true), (t + MS, true), (t + 50 * MS, true)]
    {
        // Another server message 1 ms before, then the HEARTBEAT_CONF at `after`.
        let r = timed("HEARTBEAT_REQ", Settings::default(), Some(after - MS), Some(after));
        let want: &[&str] = if late { &["heartbeat-unanswered"] } else { &[] };
        assert_eq!(rules(&r), want, "HEARTBEAT_CONF {after} ns after: {:#?}", r.findings);
        // The HEARTBEAT_CONF alone: the same.
        let r = timed("HEARTBEAT_REQ", Settings::default(), None, Some(after));
        assert_eq!(rules(&r), want, "HEARTBEAT_CONF alone {after} ns after: {:#?}", r.findings);
    }
    // With a custom timeout.
    let t = 5 * SECOND;
    for (after, late) in [(t - MS, false), (t, true), (t + MS, true)] {
        let r = timed("HEARTBEAT_REQ", timeout_settings(t), Some(after - MS), Some(after));
        let want: &[&str] = if late { &["heartbeat-unanswered"] } else { &[] };
        assert_eq!(rules(&r), want, "server message {after} ns after: {:#?}", r.findings);
    }
}

#[test]
fn client_idle_timeout_only_after_more_than_the_idle_timeout() {
    let idle = 30u32;
    let it = i64::from(idle) * SECOND;
    // The client's last message is the OPEN_REQ at 0 ms; the next comes `gap` later (the
    // boundary is exclusive: exactly IdleTimeout is still in time).
    for (gap, late) in
        [(it - 50 * MS, false), (it - MS, false), (it, false), (it + MS, true), (it + 50 * MS, true)]
    {
        let mut s = opened(idle);
        s.push(Step::Msg(TO_S, gap, with_invoke("HEARTBEAT_REQ", 2)));
        s.push(Step::Msg(TO_C, gap + MS, with_invoke("HEARTBEAT_CONF", 2)));
        // A second silence, of exactly IdleTimeout + 1 ms after that heartbeat.
        s.push(Step::Msg(TO_S, gap + it + MS, with_invoke("HEARTBEAT_REQ", 3)));
        s.push(Step::Msg(TO_C, gap + it + 2 * MS, with_invoke("HEARTBEAT_CONF", 3)));
        s.push(Step::End(ConnEnd::Fin, gap + it + 3 * MS));
        let r = run(&s, Settings::default());
        let want: Vec<&str> = if late {
            vec!["client-idle-timeout", "client-idle-timeout"]
        } else {
            vec!["client-idle-timeout"]
        };
        assert_eq!(rules(&r), want, "silence of {gap} ns: {:#?}", r.findings);
        let last = r.findings.last().unwrap();
        assert_eq!(last.frames, [4, 6]);
        assert_eq!(last.message, "client silent for 30.001 s, longer than its IdleTimeout of 30 s");
        if late {
            assert_eq!(r.findings[0].frames, [2, 4]);
        }
    }
    // IdleTimeout 0xFFFFFFFF: no heartbeats, no idle timeout.
    let mut s = opened(NO_HEARTBEAT);
    s.push(Step::Msg(TO_S, 3_600 * SECOND, with_invoke("HEARTBEAT_REQ", 2)));
    s.push(Step::Msg(TO_C, 3_600 * SECOND + MS, with_invoke("HEARTBEAT_CONF", 2)));
    assert_eq!(rules(&run(&s, Settings::default())), Vec::<&str>::new());
}

// ---------------------------------------------------------------------------------------
// Through the binary, on captures written here
// ---------------------------------------------------------------------------------------

/// A temporary capture file, removed when dropped.
struct TempCapture(std::path::PathBuf);

impl TempCapture {
    fn new(name: &str, bytes: &[u8]) -> Self {
        let p = std::env::temp_dir().join(format!("ctiscope-boundaries-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        TempCapture(p)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempCapture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Open session, CLEAR_CALL_REQ at t0, its confirm `after` ns later, then a close.
fn timeout_capture(after: i64) -> Vec<u8> {
    let (cm, sm) = desktop_session(V);
    let mut c =
        Conv::new(Link::Ethernet, "10.0.0.1:50000", "10.0.0.2:42027", [1000, 5000], 1_767_600_000 * SECOND);
    c.handshake();
    // desktop_session's OPEN_REQ has IdleTimeout 120: stay below it.
    c.send(C, &cm[0], 1460);
    c.send(S, &sm[0], 1460);
    c.send(C, &with_invoke("CLEAR_CALL_REQ", 70000), 1460);
    let t0 = c.ts;
    c.ts = t0 + after - MS; // push adds 1 ms
    c.send(S, &with_invoke("CLEAR_CALL_CONF", 70000), 1460);
    assert_eq!(c.ts, t0 + after);
    c.send(C, &cm[2], 1460);
    c.send(S, &sm[5], 1460);
    c.close();
    pcap_bytes(1, &c.pkts)
}

fn check_rules(path: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["check", "-T", "jsonl", "--fail-on", "note"];
    args.extend_from_slice(extra);
    args.push(path);
    let (out, err, _) = ctiscope(&args);
    assert!(err.is_empty(), "{err}");
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn request_timeout_option_through_the_binary() {
    let t = 15 * SECOND;
    for (after, unanswered) in [(t - 50 * MS, false), (t - MS, false), (t, true), (t + MS, true)] {
        let cap = TempCapture::new(&format!("timeout-{after}.pcap"), &timeout_capture(after));
        let got = check_rules(cap.path(), &[]);
        let want: Vec<String> = if unanswered { vec!["invoke-unanswered".into()] } else { vec![] };
        assert_eq!(got, want, "default timeout, confirm {after} ns after the request");
        // --request-timeout: the same boundary at 2.5 s.
        let got = check_rules(cap.path(), &["--request-timeout", "2.5"]);
        assert_eq!(got, ["invoke-unanswered"], "2.5 s");
    }
    for (after, unanswered) in [(2_500 * MS - MS, false), (2_500 * MS, true), (2_500 * MS + MS, true)] {
        let cap = TempCapture::new(&format!("timeout-short-{after}.pcap"), &timeout_capture(after));
        let got = check_rules(cap.path(), &["--request-timeout", "2.5"]);
        let want: Vec<String> = if unanswered { vec!["invoke-unanswered".into()] } else { vec![] };
        assert_eq!(got, want, "timeout 2.5 s, confirm {after} ns after the request");
        let (out, _, code) = ctiscope(&["check", "--request-timeout", "2.5", cap.path()]);
        assert_eq!(code, 0, "invoke-unanswered is a warning: {out}");
    }
}

#[test]
fn max_message_length_frames_exactly_n_bytes() {
    let c = desktop_conv(Link::Ethernet, "10.0.0.1:50000", "10.0.0.2:42027", V, 1460, 1_767_600_000 * SECOND);
    let cap = TempCapture::new("maxlen.pcap", &pcap_bytes(1, &c.pkts));
    let (cm, sm) = desktop_session(V);
    // The largest MessageLength of the session (header excluded).
    let n = cm.iter().chain(&sm).map(|m| m.len() - 8).max().unwrap();
    let largest = cm.iter().chain(&sm).find(|m| m.len() - 8 == n).unwrap();
    let name = spec::type_name(u32::from_be_bytes([largest[4], largest[5], largest[6], largest[7]])).unwrap();
    assert_eq!(cm.iter().chain(&sm).filter(|m| m.len() - 8 == n).count(), 1);
    for (limit, framed) in [(n - 1, false), (n, true), (n + 1, true)] {
        let arg = limit.to_string();
        let (out, err, code) = ctiscope(&["decode", "--max-message-length", &arg, cap.path()]);
        assert_eq!((code, err.as_str()), (0, ""), "{out}");
        let implausible = out.lines().filter(|l| l.contains("[implausible header]")).count();
        let shown = out.lines().filter(|l| l.contains(&format!(" {name} ("))).count();
        if framed {
            assert_eq!((implausible, shown), (0, 1), "--max-message-length {limit}, message of {n}:\n{out}");
            assert!(!out.contains("[limit]"), "{out}");
        } else {
            assert_eq!((implausible, shown), (1, 0), "--max-message-length {limit}, message of {n}:\n{out}");
            assert!(out.contains(&format!("MessageLength {n}")) || out.contains(&n.to_string()), "{out}");
        }
    }
}

/// (connection, protocol_version, version_source) of each message of `decode -T jsonl`.
fn message_versions(capture: &str) -> Vec<(u64, u64, String, String)> {
    let (out, err, code) = ctiscope(&["decode", "-T", "jsonl", capture]);
    assert_eq!((code, err.as_str()), (0, ""));
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "message")
        .map(|v| {
            (
                v["connection"].as_u64().unwrap(),
                v["protocol_version"].as_u64().unwrap(),
                v["version_source"].as_str().unwrap().to_string(),
                v["type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn an_inferred_version_is_kept_for_the_rest_of_the_connection() {
    let msgs = message_versions("captures/midstream.pcap");
    let mut by_conn: BTreeMap<u64, Vec<(u64, String)>> = BTreeMap::new();
    for (conn, v, src, _) in msgs {
        by_conn.entry(conn).or_default().push((v, src));
    }
    assert_eq!(by_conn.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
    // (messages before the first inference, messages from it on) per connection.
    let mut counts = Vec::new();
    for (conn, ms) in &by_conn {
        let first =
            ms.iter().position(|m| m.1 == "inferred").unwrap_or_else(|| panic!("{conn}: none inferred"));
        assert!(ms[..first].iter().all(|m| m.1 == "assumed"), "{conn}: {:?}", &ms[..first]);
        let version = ms[first].0;
        assert_eq!(version, 24);
        for (i, m) in ms[first..].iter().enumerate() {
            assert_eq!(
                (m.0, m.1.as_str()),
                (version, "inferred"),
                "connection {conn}, message {}",
                first + i
            );
        }
        counts.push((first, ms.len() - first));
    }
    assert_eq!(counts, [(0, 52), (2, 155), (0, 57)]);

    // With the OPEN_REQ captured, every message from it on is "seen".
    let msgs = message_versions("captures/contact-center.pcapng");
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    let mut seen = 0;
    for (conn, v, src, ty) in &msgs {
        if ty == "OPEN_REQ" {
            open.insert(*conn, *v);
        }
        if let Some(ov) = open.get(conn) {
            assert_eq!((v, src.as_str()), (ov, "seen"), "connection {conn} {ty}");
            seen += 1;
        }
    }
    assert!(!open.is_empty());
    assert_eq!(seen, msgs.len(), "every message follows its connection's OPEN_REQ");
}

// ---------------------------------------------------------------------------------------
// Golden files of captures/midstream.pcap
// ---------------------------------------------------------------------------------------

#[test]
fn midstream_in_every_output_mode() {
    let modes: [(&str, &[&str]); 7] = [
        ("decode.txt", &["decode"]),
        ("decode-V-x.txt", &["decode", "-V", "-x"]),
        ("decode.jsonl", &["decode", "-T", "jsonl"]),
        ("check.txt", &["check"]),
        ("check.jsonl", &["check", "-T", "jsonl"]),
        ("stats.txt", &["stats"]),
        ("timeline-session-0.txt", &["timeline", "--session", "0"]),
    ];
    for (name, args) in modes {
        let mut a = args.to_vec();
        a.push("captures/midstream.pcap");
        let (out, err, code) = ctiscope(&a);
        assert!(err.is_empty(), "{name}: {err}");
        assert!(code == 0 || (code == 1 && a[0] == "check"), "{name}: exit {code}");
        snapshot_in("midstream", name, &out);
    }
}

/// `decode -T jsonl` of packets: the non-message events.
fn stream_events(name: &str, pkts: &[Pkt], extra: &[&str]) -> Vec<serde_json::Value> {
    let cap = TempCapture::new(name, &pcap_bytes(1, pkts));
    let mut args = vec!["decode", "-T", "jsonl"];
    args.extend_from_slice(extra);
    args.push(cap.path());
    let (out, err, code) = ctiscope(&args);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] != "message")
        .collect()
}

/// A connection whose client loses its first 100 bytes and then sends `k` bytes the server
/// never acknowledges: `k` out-of-order bytes wait for the hole.
fn held_bytes(client: &str, k: usize, ts: i64) -> Conv {
    let mut c = Conv::new(Link::Ethernet, client, "10.0.0.2:42027", [1000, 5000], ts);
    c.handshake();
    c.lose(C, 100);
    c.send(C, &vec![0x55; k], 1460);
    c
}

/// What the buffer budgets count for out-of-order bytes besides the bytes: per chunk of
/// adjacent segments 96 bytes, and per segment (up to 64 of them) a 24-byte mark (README,
/// "Limits"). `held_bytes` holds one chunk of one segment.
const ONE_CHUNK: usize = 96 + 24;

#[test]
fn max_buffered_declares_a_gap_beyond_exactly_n_bytes() {
    let n = 1000usize;
    let room = n - ONE_CHUNK;
    for (k, over) in [(room - 1, false), (room, false), (room + 1, true)] {
        let c = held_bytes("10.0.0.1:50000", k, 1_767_600_000 * SECOND);
        let ev = stream_events(&format!("buffered-{k}.pcap"), &c.pkts, &["--max-buffered", "1000"]);
        let gaps: Vec<&serde_json::Value> = ev.iter().filter(|e| e["event"] == "gap").collect();
        assert_eq!(gaps.len(), 1, "{k}: {ev:?}");
        let want = if over { "buffer_limit" } else { "connection_end" };
        assert_eq!(gaps[0]["reason"], want, "{k} bytes held, limit {n}");
        assert_eq!(gaps[0]["length"], 100);
        let limits = ev
            .iter()
            .filter(|e| e["event"] == "limit" && e["setting"] == "max_buffered_per_direction")
            .count();
        assert_eq!(limits, usize::from(over), "{k}");
    }
}

#[test]
fn max_buffered_total_counts_every_connection() {
    // Two connections hold 600 bytes and 400 + d bytes, each in one chunk; the capture-wide
    // budget is 1000 bytes and the two chunks' bookkeeping.
    for (d, over) in [(0usize, false), (1, true)] {
        let a = held_bytes("10.0.0.1:50000", 600, 1_767_600_000 * SECOND);
        let b = held_bytes("10.0.0.3:50001", 400 + d, 1_767_600_000 * SECOND + 100 * MS);
        let mut pkts = a.pkts.clone();
        pkts.extend(b.pkts.iter().cloned());
        let ev = stream_events(
            &format!("total-{d}.pcap"),
            &pkts,
            &["--max-buffered-total", &(1000 + 2 * ONE_CHUNK).to_string(), "--max-buffered", "1M"],
        );
        let limit_gaps = ev.iter().filter(|e| e["event"] == "gap" && e["reason"] == "buffer_limit").count();
        assert_eq!(limit_gaps, usize::from(over), "400 + {d}: {ev:?}");
        let limits =
            ev.iter().filter(|e| e["event"] == "limit" && e["setting"] == "max_buffered_total").count();
        assert_eq!(limits, usize::from(over));
    }
}

#[test]
fn max_connections_evicts_only_beyond_n() {
    let n = 3;
    for (k, over) in [(n - 1, false), (n, false), (n + 1, true)] {
        let mut pkts = Vec::new();
        for i in 0..k {
            let mut c = Conv::new(
                Link::Ethernet,
                &format!("10.0.0.1:{}", 50000 + i),
                "10.0.0.2:42027",
                [1000, 5000],
                1_767_600_000 * SECOND + i as i64 * 10 * MS,
            );
            c.handshake();
            pkts.extend(c.pkts);
        }
        pkts.sort_by_key(|p| p.0);
        let ev = stream_events(&format!("conns-{k}.pcap"), &pkts, &["--max-connections", "3"]);
        let evicted = ev.iter().filter(|e| e["event"] == "connection_end" && e["end"] == "evicted").count();
        assert_eq!(evicted, usize::from(over), "{k} connections: {ev:?}");
        let limits = ev.iter().filter(|e| e["event"] == "limit" && e["setting"] == "max_connections").count();
        assert_eq!(limits, usize::from(over));
        if over {
            // The least recently active one: the first.
            let e = ev.iter().find(|e| e["end"] == "evicted").unwrap();
            assert_eq!(e["connection"], 0);
        }
    }
}
