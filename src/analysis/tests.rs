//! Rules over hand-made event streams: each rule triggered, and the look-alike cases
//! (mid-stream start, gaps, valid answers) that must not trigger it.

use super::types::{dir_index, RequestCounts};
use super::*;
use crate::cti::encode::MessageBuilder;
use crate::cti::framing::{Frame, SkipReason};
use crate::net::tcp::{ConnEnd, ConnStart, GapReason};
use crate::pipeline::{Detection, Direction, Event, Flow};
use std::net::SocketAddr;

const V: u32 = 24;
const S: Direction = Direction::ToServer;
const C: Direction = Direction::ToClient;

/// One step of a scripted capture.
enum Step {
    Msg(Direction, i64, Vec<u8>),
    Gap(Direction, i64),
    Skip(Direction, i64),
    End(ConnEnd, i64),
}

fn client() -> SocketAddr {
    "10.0.0.1:50000".parse().unwrap()
}
fn server() -> SocketAddr {
    "10.0.0.2:42027".parse().unwrap()
}

/// Run a script on connection 0 (times in milliseconds; frame = step index + 1).
fn run_with(start: ConnStart, steps: Vec<Step>, settings: Settings) -> Report {
    run_from(0, start, steps, settings)
}

/// [`run_with`] on a connection seen first at `ms`.
fn run_from(ms: i64, start: ConnStart, steps: Vec<Step>, settings: Settings) -> Report {
    let mut a = Analyzer::new(settings);
    a.event(
        &Event::Connection {
            conn: 0,
            client: client(),
            server: server(),
            start,
            detection: Detection::Port,
            frame: 1,
            ts_ns: ms * 1_000_000,
        },
        None,
    );
    let flow = |dir| Flow {
        conn: 0,
        dir,
        src: if dir == S { client() } else { server() },
        dst: if dir == S { server() } else { client() },
    };
    let mut offsets = [0u64; 2];
    for (i, st) in steps.iter().enumerate() {
        let frame = i as u64 + 2;
        match st {
            Step::Msg(dir, ms, bytes) => {
                let di = dir_index(*dir);
                let f = Frame {
                    offset: offsets[di],
                    first_frame: frame,
                    last_frame: frame,
                    ts_ns: ms * 1_000_000,
                    msg_type: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
                    length: bytes.len() as u32 - 8,
                    bytes,
                };
                offsets[di] += bytes.len() as u64;
                let d = crate::cti::decode::decode(bytes, V, crate::cti::decode::VersionSource::Seen);
                a.event(&Event::Message { flow: flow(*dir), frame: f }, Some(&d));
            }
            Step::Gap(dir, ms) => a.event(
                &Event::Gap {
                    flow: flow(*dir),
                    offset: offsets[dir_index(*dir)],
                    len: 100,
                    reason: GapReason::AckedPastHole,
                    frame,
                    ts_ns: ms * 1_000_000,
                },
                None,
            ),
            Step::Skip(dir, ms) => a.event(
                &Event::Skipped {
                    flow: flow(*dir),
                    offset: 0,
                    len: 10,
                    reason: SkipReason::Midstream,
                    first_frame: frame,
                    last_frame: frame,
                    ts_ns: ms * 1_000_000,
                },
                None,
            ),
            Step::End(end, ms) => a.event(
                &Event::ConnectionEnd { conn: 0, end: *end, by: None, frame, ts_ns: ms * 1_000_000 },
                None,
            ),
        }
    }
    a.finish()
}

fn run(steps: Vec<Step>) -> Report {
    run_with(ConnStart::Handshake, steps, Settings::default())
}

fn run_mid(steps: Vec<Step>) -> Report {
    run_with(ConnStart::Midstream, steps, Settings::default())
}

fn rules_of(r: &Report) -> Vec<&'static str> {
    r.findings.iter().filter(|f| !f.rule.starts_with("decode-")).map(|f| f.rule).collect()
}

fn has(r: &Report, rule: &str) -> bool {
    r.findings.iter().any(|f| f.rule == rule)
}

fn find<'r>(r: &'r Report, rule: &str) -> &'r Finding {
    r.findings.iter().find(|f| f.rule == rule).unwrap_or_else(|| panic!("no {rule} in {:#?}", r.findings))
}

fn b(name: &str) -> MessageBuilder {
    MessageBuilder::named(name, V)
}

fn open_req(invoke: u64, idle: u64, call_mask: u64) -> Vec<u8> {
    let mut m = b("OPEN_REQ");
    m.set("InvokeID", invoke).unwrap();
    m.set("VersionNumber", V as u64).unwrap();
    m.set("IdleTimeout", idle).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("ServicesRequested", 0x10).unwrap();
    m.set("CallMsgMask", call_mask).unwrap();
    m.text("ClientID", "bridge").unwrap();
    m.bytes("ClientPassword", b"").unwrap();
    m.build()
}

fn open_conf(invoke: u64, services: u64, session_type: u64, monitor: u64) -> Vec<u8> {
    let mut m = b("OPEN_CONF");
    m.set("InvokeID", invoke).unwrap();
    m.set("ServicesGranted", services).unwrap();
    m.set("MonitorID", monitor).unwrap();
    m.set("SessionType", session_type).unwrap();
    m.set("PeripheralType", 1).unwrap();
    m.number("NumPeripherals", 0).unwrap();
    m.build()
}

fn inv(name: &str, invoke: u64) -> Vec<u8> {
    let mut m = b(name);
    m.set("InvokeID", invoke).unwrap();
    m.build()
}

fn failure_conf(invoke: u64, status: u64) -> Vec<u8> {
    let mut m = b("FAILURE_CONF");
    m.set("InvokeID", invoke).unwrap();
    m.set("Status", status).unwrap();
    m.build()
}

/// An opened session: OPEN_REQ (1) at 0 ms, OPEN_CONF at 10 ms.
fn opened(idle: u64, call_mask: u64) -> Vec<Step> {
    vec![Step::Msg(S, 0, open_req(1, idle, call_mask)), Step::Msg(C, 10, open_conf(1, 0x10, 1, 0))]
}

fn call_event(name: &str, call: u64, device: &str) -> MessageBuilder {
    let mut m = b(name);
    m.set("PeripheralID", 5000).unwrap();
    m.set("ConnectionCallID", call).unwrap();
    m.set("ConnectionDeviceIDType", 0).unwrap();
    m.text("ConnectionDeviceID", device).unwrap();
    m
}

fn ev(name: &str, call: u64) -> Vec<u8> {
    call_event(name, call, "1001").build()
}

const BEGIN_MASK: u64 = 0x2000 | 0x4000 | 0x1 | 0x4;

#[test]
fn clean_session_has_no_findings() {
    let mut s = opened(60, BEGIN_MASK);
    s.push(Step::Msg(S, 1_000, inv("HEARTBEAT_REQ", 2)));
    s.push(Step::Msg(C, 1_010, inv("HEARTBEAT_CONF", 2)));
    s.push(Step::Msg(S, 2_000, inv("CLOSE_REQ", 3)));
    s.push(Step::Msg(C, 2_010, inv("CLOSE_CONF", 3)));
    s.push(Step::End(ConnEnd::Rst, 2_020));
    let r = run(s);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.connections.len(), 1);
    assert_eq!(r.connections[0].open, "closed");
    let l = &r.latency["HEARTBEAT_REQ"];
    assert_eq!((l.count, l.max_ns), (1, 10_000_000));
    assert_eq!(r.latency["OPEN_REQ"].p50_ns, 10_000_000);
}

#[test]
fn message_before_open() {
    let r = run(vec![Step::Msg(S, 0, inv("HEARTBEAT_REQ", 1))]);
    assert_eq!(find(&r, "session-not-open").severity, Severity::Error);
    // Mid-stream: the opening was simply not captured.
    let r = run_mid(vec![Step::Msg(S, 0, inv("HEARTBEAT_REQ", 1))]);
    assert!(!has(&r, "session-not-open"));
    // After a gap the OPEN_REQ may be lost.
    let r = run(vec![Step::Gap(S, 0), Step::Msg(S, 1, inv("HEARTBEAT_REQ", 1))]);
    assert!(!has(&r, "session-not-open"));
}

#[test]
fn second_open_and_refused_open() {
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 20, open_req(2, 60, 0)));
    s.push(Step::Msg(C, 30, open_conf(2, 0x10, 1, 0)));
    let r = run(s);
    assert_eq!(find(&r, "open-duplicate").frames, vec![2, 4]);

    let r = run(vec![
        Step::Msg(S, 0, open_req(1, 60, 0)),
        Step::Msg(C, 10, failure_conf(1, 12)),
        Step::End(ConnEnd::Rst, 20),
    ]);
    let f = find(&r, "open-failed");
    assert!(f.message.contains("E_CTI_"), "{}", f.message);
    // A reset after a refused open is expected.
    assert!(!has(&r, "reset-without-close"));
    assert_eq!(r.failures.keys().count(), 1);
}

#[test]
fn heartbeat_unanswered() {
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 1_000, inv("HEARTBEAT_REQ", 2)));
    s.push(Step::Msg(S, 20_000, inv("HEARTBEAT_REQ", 3)));
    s.push(Step::Msg(C, 20_010, inv("HEARTBEAT_CONF", 3)));
    let r = run(s);
    assert_eq!(rules_of(&r), vec!["heartbeat-unanswered"]);
    // The answer may be lost in a gap of the server's stream.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 1_000, inv("HEARTBEAT_REQ", 2)));
    s.push(Step::Gap(C, 1_500));
    s.push(Step::Msg(S, 20_000, inv("HEARTBEAT_REQ", 3)));
    let r = run(s);
    assert!(!has(&r, "heartbeat-unanswered"));
    assert!(has(&r, "invoke-pending-at-end"));
}

#[test]
fn client_idle_timeout() {
    let mut s = opened(20, 0);
    s.push(Step::Msg(S, 25_000, inv("HEARTBEAT_REQ", 2)));
    s.push(Step::Msg(C, 25_010, inv("HEARTBEAT_CONF", 2)));
    let r = run(s);
    assert_eq!(find(&r, "client-idle-timeout").frames, vec![2, 4]);
    // 0xFFFFFFFF: no idle timeout.
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(S, 250_000, inv("HEARTBEAT_REQ", 2)));
    assert!(!has(&run(s), "client-idle-timeout"));
    // A gap in the client's stream may hide its heartbeats.
    let mut s = opened(20, 0);
    s.push(Step::Gap(S, 10_000));
    s.push(Step::Msg(S, 25_000, inv("HEARTBEAT_REQ", 2)));
    assert!(!has(&run(s), "client-idle-timeout"));
}

#[test]
fn data_after_close() {
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLOSE_REQ", 2)));
    s.push(Step::Msg(C, 110, inv("CLOSE_CONF", 2)));
    s.push(Step::Msg(S, 120, inv("HEARTBEAT_REQ", 3)));
    let r = run(s);
    assert_eq!(find(&r, "data-after-close").frames, vec![5, 6]);
}

#[test]
fn standby_server_refuses_requests() {
    let mut q = b("QUERY_AGENT_STATE_REQ");
    q.set("InvokeID", 2).unwrap();
    q.text("AgentID", "1001").unwrap();
    let s = vec![
        Step::Msg(S, 0, open_req(1, 60, 0)),
        Step::Msg(C, 10, open_conf(1, 0x10, 2, 0)),
        Step::Msg(S, 20, inv("HEARTBEAT_REQ", 3)),
        Step::Msg(S, 30, q.build()),
    ];
    let r = run(s);
    assert_eq!(find(&r, "standby-request").frames, vec![5]);
    // Active server: fine.
    let s = vec![
        Step::Msg(S, 0, open_req(1, 60, 0)),
        Step::Msg(C, 10, open_conf(1, 0x10, 1, 0)),
        Step::Msg(S, 30, q.build()),
    ];
    assert!(!has(&run(s), "standby-request"));
}

#[test]
fn failure_event_and_reset() {
    let mut fe = b("FAILURE_EVENT");
    fe.set("Status", 17).unwrap();
    let mut s = opened(60, 0);
    s.push(Step::Msg(C, 100, fe.build()));
    s.push(Step::End(ConnEnd::Rst, 200));
    let r = run(s);
    assert!(has(&r, "failure-event"));
    assert!(!has(&r, "reset-without-close"));

    let mut s = opened(60, 0);
    s.push(Step::End(ConnEnd::Rst, 200));
    assert_eq!(rules_of(&run(s)), vec!["reset-without-close"]);
    let mut s = opened(60, 0);
    s.push(Step::End(ConnEnd::Fin, 200));
    assert!(rules_of(&run(s)).is_empty());
}

#[test]
fn unanswered_requests() {
    // Past the timeout at the end of the capture.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2)));
    s.push(Step::Msg(S, 30_000, inv("HEARTBEAT_REQ", 3)));
    s.push(Step::Msg(C, 30_010, inv("HEARTBEAT_CONF", 3)));
    let r = run(s);
    assert_eq!(find(&r, "invoke-unanswered").frames, vec![4]);
    // Still within the timeout when the capture ends: a note.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2)));
    let r = run(s);
    assert_eq!(rules_of(&r), vec!["invoke-pending-at-end"]);
    assert_eq!(find(&r, "invoke-pending-at-end").severity, Severity::Note);
    // A custom timeout.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2)));
    s.push(Step::Msg(S, 2_200, inv("HEARTBEAT_REQ", 3)));
    s.push(Step::Msg(C, 2_210, inv("HEARTBEAT_CONF", 3)));
    let settings = Settings { request_timeout_ns: 2_000_000_000, ..Settings::default() };
    let r = run_with(ConnStart::Handshake, s, settings);
    assert!(has(&r, "invoke-unanswered"));
}

#[test]
fn confirm_without_request() {
    let mut s = opened(60, 0);
    s.push(Step::Msg(C, 100, inv("HEARTBEAT_CONF", 9)));
    let r = run(s);
    assert_eq!(find(&r, "confirm-unmatched").severity, Severity::Warning);
    // Mid-stream: the request came before the capture.
    let r = run_mid(vec![Step::Msg(C, 100, inv("HEARTBEAT_CONF", 9))]);
    assert_eq!(rules_of(&r), vec!["confirm-request-not-captured"]);
    assert!(find(&r, "confirm-request-not-captured").message.contains("before the capture started"));
    // After a gap in the client's stream.
    let mut s = opened(60, 0);
    s.push(Step::Gap(S, 50));
    s.push(Step::Msg(C, 100, inv("HEARTBEAT_CONF", 9)));
    let r = run(s);
    assert!(find(&r, "confirm-request-not-captured").message.contains("lost in a gap"));
    assert!(!has(&r, "confirm-unmatched"));
}

#[test]
fn confirm_of_the_wrong_type() {
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("ANSWER_CALL_REQ", 2)));
    s.push(Step::Msg(C, 110, inv("HOLD_CALL_CONF", 2)));
    let r = run(s);
    let f = find(&r, "confirm-wrong-type");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("ANSWER_CALL_CONF"), "{}", f.message);
    // CONTROL_FAILURE_CONF and FAILURE_CONF answer anything.
    let mut cf = b("CONTROL_FAILURE_CONF");
    cf.set("InvokeID", 2).unwrap();
    cf.set("FailureCode", 78).unwrap();
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("ANSWER_CALL_REQ", 2)));
    s.push(Step::Msg(C, 110, cf.build()));
    s.push(Step::Msg(S, 120, inv("HOLD_CALL_REQ", 3)));
    s.push(Step::Msg(C, 130, failure_conf(3, 5)));
    let r = run(s);
    assert!(rules_of(&r).is_empty(), "{:#?}", r.findings);
    assert_eq!(r.failures.len(), 2);
    assert_eq!(r.latency["ANSWER_CALL_REQ"].count, 1);
}

#[test]
fn a_confirm_in_segments_answers_with_its_last() {
    let mut q = b("LIST_AGENT_TEAM_REQ");
    q.set("InvokeID", 5).unwrap();
    q.set("SupervisorID", 77).unwrap();
    let conf = |more: u64, segment: u64| {
        let mut m = b("LIST_AGENT_TEAM_CONF");
        m.set("InvokeID", 5).unwrap();
        m.set("NumberOfAgentTeams", 1).unwrap();
        m.set("SegmentNumber", segment).unwrap();
        m.set("More", more).unwrap();
        m.number("TeamID", 10 + segment).unwrap();
        m.build()
    };
    use crate::cti::spec::values::service_mask::{CTI_SERVICE_CLIENT_EVENTS, CTI_SERVICE_SUPERVISOR};
    let supervisor = u64::from(CTI_SERVICE_CLIENT_EVENTS | CTI_SERVICE_SUPERVISOR);
    let opened =
        || vec![Step::Msg(S, 0, open_req(1, 60, 0)), Step::Msg(C, 10, open_conf(1, supervisor, 1, 0))];
    let mut s = opened();
    s.push(Step::Msg(S, 100, q.build()));
    s.push(Step::Msg(C, 110, conf(1, 1)));
    s.push(Step::Msg(C, 120, conf(1, 2)));
    s.push(Step::Msg(C, 130, conf(0, 3)));
    let r = run(s);
    assert!(rules_of(&r).is_empty(), "{:#?}", r.findings);
    // A segment after the last one answers nothing.
    let mut s = opened();
    s.push(Step::Msg(S, 100, q.build()));
    s.push(Step::Msg(C, 110, conf(0, 1)));
    s.push(Step::Msg(C, 120, conf(0, 2)));
    assert_eq!(rules_of(&run(s)), vec!["confirm-unmatched"]);
}

#[test]
fn invoke_reused_while_outstanding() {
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2)));
    s.push(Step::Msg(S, 110, inv("HOLD_CALL_REQ", 2)));
    s.push(Step::Msg(C, 120, inv("HOLD_CALL_CONF", 2)));
    let r = run(s);
    assert_eq!(rules_of(&r), vec!["invoke-reused"]);
    // Reuse after the answer is fine.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2)));
    s.push(Step::Msg(C, 105, inv("CLEAR_CALL_CONF", 2)));
    s.push(Step::Msg(S, 110, inv("HOLD_CALL_REQ", 2)));
    s.push(Step::Msg(C, 120, inv("HOLD_CALL_CONF", 2)));
    assert!(rules_of(&run(s)).is_empty());
}

fn config_request(info: u64) -> Vec<u8> {
    let mut m = b("CONFIG_REQUEST_EVENT");
    m.set("ConfigInformation", info).unwrap();
    m.build()
}

fn config_end(status: u64) -> Vec<u8> {
    let mut m = b("CONFIG_END_EVENT");
    m.set("ConfigEndStatus", status).unwrap();
    m.build()
}

fn config_begin() -> Vec<u8> {
    let mut m = b("CONFIG_BEGIN_EVENT");
    m.set("ConfigType", 1).unwrap();
    m.build()
}

fn config_record(name: &str) -> Vec<u8> {
    b(name).build()
}

#[test]
fn configuration_acquisition_in_order() {
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, config_request(0x3f)));
    s.push(Step::Msg(C, 110, config_begin()));
    s.push(Step::Msg(C, 111, config_record("CONFIG_SERVICE_EVENT")));
    s.push(Step::Msg(C, 112, config_record("CONFIG_SKILL_GROUP_EVENT")));
    s.push(Step::Msg(C, 113, config_end(5)));
    s.push(Step::Msg(C, 120, config_begin()));
    s.push(Step::Msg(C, 121, config_record("CONFIG_AGENT_EVENT")));
    s.push(Step::Msg(C, 122, config_record("CONFIG_DEVICE_EVENT")));
    s.push(Step::Msg(C, 123, config_end(0)));
    s.push(Step::End(ConnEnd::Fin, 200));
    let r = run(s);
    assert!(rules_of(&r).is_empty(), "{:#?}", r.findings);
    assert_eq!(r.latency["CONFIG_REQUEST_EVENT"].max_ns, 23_000_000);
}

#[test]
fn configuration_acquisition_violations() {
    // Order, overlap.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, config_request(0x3f)));
    s.push(Step::Msg(S, 101, config_request(0x3f)));
    s.push(Step::Msg(C, 110, config_begin()));
    s.push(Step::Msg(C, 111, config_record("CONFIG_AGENT_EVENT")));
    s.push(Step::Msg(C, 112, config_record("CONFIG_SERVICE_EVENT")));
    s.push(Step::Msg(C, 113, config_end(0)));
    let r = run(s);
    assert_eq!(rules_of(&r), vec!["config-request-overlap", "config-record-order"]);
    // Nested begin, unpaired end, error status.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, config_request(0x3f)));
    s.push(Step::Msg(C, 110, config_begin()));
    s.push(Step::Msg(C, 111, config_begin()));
    s.push(Step::Msg(C, 112, config_end(3)));
    s.push(Step::Msg(C, 113, config_end(0)));
    let r = run(s);
    assert_eq!(rules_of(&r), vec!["config-unpaired", "config-end-error", "config-unpaired"]);
    // PARTIAL and then nothing before the connection ended.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, config_request(0x3f)));
    s.push(Step::Msg(C, 110, config_begin()));
    s.push(Step::Msg(C, 113, config_end(5)));
    s.push(Step::End(ConnEnd::Fin, 200));
    assert_eq!(rules_of(&run(s)), vec!["config-partial-unfinished"]);
    // Mid-stream: an END whose BEGIN was not captured is fine.
    let r = run_mid(vec![Step::Msg(C, 113, config_end(0))]);
    assert!(rules_of(&r).is_empty());
    // Unanswered request.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, config_request(0x3f)));
    s.push(Step::Msg(S, 20_000, inv("HEARTBEAT_REQ", 2)));
    s.push(Step::Msg(C, 20_001, inv("HEARTBEAT_CONF", 2)));
    assert_eq!(rules_of(&run(s)), vec!["config-request-unanswered"]);
}

#[test]
fn call_lifecycle_and_durations() {
    let mut s = opened(60, BEGIN_MASK);
    s.push(Step::Msg(C, 1_000, ev("BEGIN_CALL_EVENT", 7)));
    s.push(Step::Msg(C, 1_100, ev("CALL_DELIVERED_EVENT", 7)));
    s.push(Step::Msg(C, 3_100, ev("CALL_ESTABLISHED_EVENT", 7)));
    let mut upd = call_event("CALL_DATA_UPDATE_EVENT", 7, "1001");
    upd.set("NewConnectionCallID", 8).unwrap();
    upd.set("NewConnectionDeviceIDType", 0).unwrap();
    upd.text("NewConnectionDeviceID", "1002").unwrap();
    upd.text("CallVariable1", "acct-42").unwrap();
    upd.named_var("user.lang", "fr").unwrap();
    s.push(Step::Msg(C, 4_000, upd.build()));
    s.push(Step::Msg(C, 5_000, call_event("CALL_HELD_EVENT", 8, "1002").build()));
    s.push(Step::Msg(C, 6_000, call_event("CALL_RETRIEVED_EVENT", 8, "1002").build()));
    s.push(Step::Msg(C, 9_100, call_event("CALL_CLEARED_EVENT", 8, "1002").build()));
    s.push(Step::Msg(C, 9_200, call_event("END_CALL_EVENT", 8, "1002").build()));
    let r = run(s);
    assert!(rules_of(&r).is_empty(), "{:#?}", r.findings);
    assert_eq!(r.calls.len(), 1);
    let c = &r.calls[0];
    assert_eq!(c.call_ids, vec![7, 8]);
    assert!(c.begin_seen && c.ended);
    assert_eq!(c.ring_ns, Some(2_000_000_000));
    assert_eq!(c.hold_ns, 1_000_000_000);
    assert_eq!(c.talk_ns, Some(5_000_000_000));
    assert_eq!(c.vars["CallVariable1"], "acct-42");
    assert_eq!(c.vars["user.lang"], "fr");
    assert_eq!(c.events.len(), 8);
}

#[test]
fn a_call_keeps_at_most_its_share_of_variables() {
    let mut s = opened(60, BEGIN_MASK);
    s.push(Step::Msg(C, 1_000, ev("BEGIN_CALL_EVENT", 7)));
    // 200 updates, each naming 5 new ECC variables of 60-byte values: 1,000 variables.
    let value = "v".repeat(60);
    for i in 0..200 {
        let mut upd = call_event("CALL_DATA_UPDATE_EVENT", 7, "1001");
        upd.set("NewConnectionCallID", 7).unwrap();
        upd.set("NewConnectionDeviceIDType", 0).unwrap();
        upd.text("NewConnectionDeviceID", "1001").unwrap();
        for k in 0..5 {
            upd.named_var(&format!("user.v{}", i * 5 + k), &value).unwrap();
        }
        s.push(Step::Msg(C, 2_000 + i, upd.build()));
    }
    // A variable already kept still takes its new value.
    let mut upd = call_event("CALL_DATA_UPDATE_EVENT", 7, "1001");
    upd.set("NewConnectionCallID", 7).unwrap();
    upd.set("NewConnectionDeviceIDType", 0).unwrap();
    upd.text("NewConnectionDeviceID", "1001").unwrap();
    upd.named_var("user.v0", "last").unwrap();
    s.push(Step::Msg(C, 3_000, upd.build()));
    s.push(Step::Msg(C, 9_200, ev("END_CALL_EVENT", 7)));
    let r = run(s);
    let c = &r.calls[0];
    let held: usize =
        c.vars.iter().map(|(n, v)| n.len() + v.len() + 2 * std::mem::size_of::<String>() + 16).sum();
    assert!(held <= super::calls::MAX_VAR_BYTES, "{held} bytes of variables kept");
    // The first ones are kept, up to the limit, and no more.
    assert!(c.vars.len() > 20 && c.vars.len() < 1_000, "{} variables", c.vars.len());
    assert_eq!(c.vars["user.v1"], value);
    assert_eq!(c.vars["user.v0"], "last");
    assert!(!c.vars.contains_key("user.v999"));
}

/// 200 calls, each begun and ended.
fn many_calls() -> Vec<Step> {
    let mut s = opened(60, BEGIN_MASK);
    for call in 0..200u64 {
        s.push(Step::Msg(C, 1_000 + 2 * call as i64, ev("BEGIN_CALL_EVENT", 100 + call)));
        s.push(Step::Msg(C, 1_001 + 2 * call as i64, ev("END_CALL_EVENT", 100 + call)));
    }
    s
}

#[test]
fn finished_calls_hold_at_most_a_quarter_of_the_analysis_memory() {
    let all = run(many_calls());
    assert_eq!((all.calls.len(), all.calls_dropped), (200, 0));
    // 64 KiB: the finished calls may hold 16 KiB; the first ones are kept, the rest counted.
    let small = Settings { max_analysis_memory: 64 << 10, ..Settings::default() };
    let r = run_with(ConnStart::Handshake, many_calls(), small);
    assert!(r.calls_dropped > 0 && r.calls.len() as u64 + r.calls_dropped == 200, "{} kept", r.calls.len());
    let held: usize = r.calls.iter().map(super::calls::done_cost).sum();
    assert!(held <= 16 << 10, "{held} bytes of finished calls");
    assert!(find(&r, "analysis-limit").message.contains("max_analysis_memory"));
    assert_eq!(r.calls[0].call_ids, vec![100]);
}

#[test]
fn call_events_out_of_place() {
    let mut s = opened(60, BEGIN_MASK);
    s.push(Step::Msg(C, 1_000, ev("CALL_DELIVERED_EVENT", 7)));
    s.push(Step::Msg(C, 1_100, ev("END_CALL_EVENT", 7)));
    s.push(Step::Msg(C, 1_200, ev("CALL_CLEARED_EVENT", 7)));
    s.push(Step::Msg(C, 2_000, ev("BEGIN_CALL_EVENT", 9)));
    s.push(Step::Msg(C, 2_100, ev("BEGIN_CALL_EVENT", 9)));
    let r = run(s);
    assert_eq!(rules_of(&r), vec!["call-event-before-begin", "call-event-after-end", "call-begin-duplicate"]);
    // No BEGIN_CALL_MASK: BEGIN_CALL_EVENT is not expected.
    let mut s = opened(60, 0x1);
    s.push(Step::Msg(C, 1_000, ev("CALL_DELIVERED_EVENT", 7)));
    assert!(rules_of(&run(s)).is_empty());
    // Mid-stream start.
    let r = run_mid(vec![Step::Msg(C, 1_000, ev("CALL_DELIVERED_EVENT", 7))]);
    assert!(rules_of(&r).is_empty());
    // A gap in the server's stream.
    let mut s = opened(60, BEGIN_MASK);
    s.push(Step::Gap(C, 500));
    s.push(Step::Msg(C, 1_000, ev("CALL_DELIVERED_EVENT", 7)));
    assert_eq!(rules_of(&run(s)), vec!["tcp-gap"]);
    // A new BEGIN after END reuses the key legitimately.
    let mut s = opened(60, BEGIN_MASK);
    s.push(Step::Msg(C, 1_000, ev("BEGIN_CALL_EVENT", 7)));
    s.push(Step::Msg(C, 1_100, ev("END_CALL_EVENT", 7)));
    s.push(Step::Msg(C, 1_200, ev("BEGIN_CALL_EVENT", 7)));
    s.push(Step::Msg(C, 1_300, ev("CALL_DELIVERED_EVENT", 7)));
    let r = run(s);
    assert!(rules_of(&r).is_empty(), "{:#?}", r.findings);
    assert_eq!(r.calls.len(), 2);
}

#[test]
fn monitors() {
    // A device monitor of 1001.
    let mut start = b("MONITOR_START_REQ");
    start.set("InvokeID", 2).unwrap();
    start.set("ConnectionDeviceIDType", 0xFFFF).unwrap();
    start.set("MonitoredDeviceType", 0).unwrap();
    start.text("MonitoredDeviceID", "1001").unwrap();
    let mut conf = b("MONITOR_START_CONF");
    conf.set("InvokeID", 2).unwrap();
    conf.set("MonitorID", 77).unwrap();
    let mut stop = b("MONITOR_STOP_REQ");
    stop.set("InvokeID", 3).unwrap();
    stop.set("MonitorID", 77).unwrap();
    let mon_ev = |m: u64| {
        let mut e = call_event("CALL_DELIVERED_EVENT", 7, "1001");
        e.set("MonitorID", m).unwrap();
        e.build()
    };
    let steps = |with_stop: bool| {
        let mut s = vec![
            Step::Msg(S, 0, open_req(1, 60, 0)),
            Step::Msg(C, 10, open_conf(1, 0x20, 1, 0)),
            Step::Msg(S, 20, start.build()),
            Step::Msg(C, 30, conf.build()),
            Step::Msg(C, 40, mon_ev(77)),
        ];
        if with_stop {
            s.push(Step::Msg(S, 50, stop.build()));
            s.push(Step::Msg(C, 60, inv("MONITOR_STOP_CONF", 3)));
            s.push(Step::Msg(C, 70, mon_ev(77)));
        }
        s
    };
    assert!(rules_of(&run(steps(false))).is_empty());
    assert_eq!(find(&run(steps(true)), "monitor-unknown").frames, vec![9]);
    // Never created.
    let s = vec![
        Step::Msg(S, 0, open_req(1, 60, 0)),
        Step::Msg(C, 10, open_conf(1, 0x20, 1, 0)),
        Step::Msg(C, 40, mon_ev(5)),
    ];
    assert!(has(&run(s), "monitor-unknown"));
    // Mid-stream: the monitor may predate the capture.
    assert!(!has(&run_mid(vec![Step::Msg(C, 40, mon_ev(5))]), "monitor-unknown"));
}

fn agent_state(agent: &str, state: u64) -> Vec<u8> {
    let mut m = b("AGENT_STATE_EVENT");
    m.set("PeripheralID", 5000).unwrap();
    m.set("AgentState", state).unwrap();
    m.set("SkillGroupNumber", 12).unwrap();
    m.text("AgentID", agent).unwrap();
    m.text("AgentExtension", "3001").unwrap();
    m.build()
}

#[test]
fn agent_timeline_and_requests() {
    let mut q = b("SET_AGENT_STATE_REQ");
    q.set("InvokeID", 2).unwrap();
    q.set("AgentState", 3).unwrap();
    q.text("AgentID", "1001").unwrap();
    let mut s = opened(60, 0);
    s.push(Step::Msg(C, 1_000, agent_state("1001", 2)));
    s.push(Step::Msg(S, 2_000, q.build()));
    s.push(Step::Msg(C, 2_100, inv("SET_AGENT_STATE_CONF", 2)));
    s.push(Step::Msg(C, 3_000, agent_state("1001", 3)));
    s.push(Step::Msg(C, 4_000, agent_state("1001", 3)));
    s.push(Step::Msg(C, 7_000, agent_state("1001", 4)));
    s.push(Step::End(ConnEnd::Fin, 10_000));
    let r = run(s);
    assert_eq!(r.agents.len(), 1);
    let a = &r.agents[0];
    assert_eq!(a.id, "1001");
    assert_eq!(a.extension.as_deref(), Some("3001"));
    assert_eq!(a.states.len(), 3);
    assert_eq!(a.time_in_state["NOT_READY"], 2_000_000_000);
    assert_eq!(a.time_in_state["AVAILABLE"], 4_000_000_000);
    assert_eq!(a.time_in_state["TALKING"], 3_000_000_000);
    assert_eq!(a.skill_groups, vec![12]);
    assert_eq!(a.requests["SET_AGENT_STATE_REQ"], RequestCounts { ok: 1, failed: 0, unanswered: 0 });
    assert_eq!(a.final_state.as_deref(), Some("TALKING"));
}

#[test]
fn an_agents_skill_groups_leave_out_the_null_skill_group() {
    // The fixed SkillGroupNumber (UINT) and the floating FltSkillGroupNumber (INT) both use
    // NULL_SKILL_GROUP (0xFFFFFFFF, -1 as an INT) for none.
    let mut m = b("AGENT_STATE_EVENT");
    m.set("PeripheralID", 5000).unwrap();
    m.set("AgentState", 3).unwrap();
    m.set("SkillGroupNumber", 0xFFFF_FFFF).unwrap();
    m.text("AgentID", "1001").unwrap();
    m.number("FltSkillGroupNumber", 13).unwrap();
    m.number("FltSkillGroupNumber", 0xFFFF_FFFF).unwrap();
    let mut s = opened(60, 0);
    s.push(Step::Msg(C, 1_000, m.build()));
    let r = run(s);
    assert_eq!(r.agents[0].skill_groups, vec![13]);
}

/// 100 agents, each changing state 20 times.
fn many_agents() -> Vec<Step> {
    let mut s = opened(60, 0);
    for round in 0..20i64 {
        for agent in 0..100i64 {
            s.push(Step::Msg(
                C,
                1_000 + round * 1_000 + agent,
                agent_state(&format!("{}", 1000 + agent), 2 + round as u64 % 2),
            ));
        }
    }
    s
}

#[test]
fn agents_hold_at_most_a_quarter_of_the_analysis_memory() {
    // The default budget keeps every agent and every change.
    let all = run_with(
        ConnStart::Handshake,
        many_agents(),
        Settings { call_summaries: true, ..Settings::default() },
    );
    assert_eq!(all.agents.len(), 100);
    assert!(all.agents.iter().all(|a| a.states.len() == 20 && a.states_dropped == 0));
    assert!(!has(&all, "analysis-limit"));
    // 64 KiB: the agents may hold 16 KiB. Agents past it are not added; the histories of
    // those kept stop growing, but their changes are still counted and timed.
    let small = Settings { call_summaries: true, max_analysis_memory: 64 << 10, ..Settings::default() };
    let r = run_with(ConnStart::Handshake, many_agents(), small);
    assert!(!r.agents.is_empty() && r.agents.len() < 100, "{} agents kept", r.agents.len());
    let f = find(&r, "analysis-limit");
    assert!(f.message.contains("max_analysis_memory"), "{}", f.message);
    for a in &r.agents {
        assert_eq!(a.states.len() as u64 + a.states_dropped, 20, "agent {}", a.id);
        assert!(a.states.len() < 20, "agent {} kept its whole history", a.id);
        assert_eq!(a.time_in_state.values().filter(|&&ns| ns > 0).count(), 2, "agent {}", a.id);
    }
}

#[test]
fn decode_anomalies_and_stream_losses_are_findings() {
    // OPEN_REQ without its required ClientID.
    let mut m = b("OPEN_REQ");
    m.set("InvokeID", 1).unwrap();
    m.set("VersionNumber", 24).unwrap();
    let r = run(vec![Step::Msg(S, 0, m.build()), Step::Skip(C, 5), Step::Gap(S, 10)]);
    let f = find(&r, "decode-required-missing");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.starts_with("OPEN_REQ"));
    assert!(has(&r, "tcp-gap"));
    assert!(has(&r, "cti-resync"));
}

#[test]
fn findings_are_capped_per_rule() {
    let mut s = opened(60, 0);
    for i in 0..10 {
        s.push(Step::Msg(C, 100 + i, inv("HEARTBEAT_CONF", 100 + i as u64)));
    }
    let settings = Settings { max_findings_per_rule: 3, ..Settings::default() };
    let r = run_with(ConnStart::Handshake, s, settings);
    let n: Vec<&Finding> = r.findings.iter().filter(|f| f.rule == "confirm-unmatched").collect();
    assert_eq!(n.len(), 4);
    assert!(n[3].frames.is_empty());
    assert!(n[3].message.contains("7 more"), "{}", n[3].message);
}

#[test]
fn pending_invokes_are_bounded() {
    let mut s = opened(60, 0);
    for i in 0..5 {
        s.push(Step::Msg(S, 100 + i, inv("CLEAR_CALL_REQ", 10 + i as u64)));
    }
    for i in 0..5 {
        s.push(Step::Msg(C, 200 + i, inv("CLEAR_CALL_CONF", 10 + i as u64)));
    }
    let settings = Settings { max_pending_invokes: 2, ..Settings::default() };
    let r = run_with(ConnStart::Handshake, s, settings);
    // The limit is reported once; unmatched confirms after it are not blamed.
    assert_eq!(rules_of(&r), vec!["analysis-limit"]);
}

#[test]
fn timeline_filters() {
    let mut ans = b("ANSWER_CALL_REQ");
    ans.set("InvokeID", 2).unwrap();
    ans.set("ConnectionCallID", 7).unwrap();
    ans.text("ConnectionDeviceID", "1001").unwrap();
    let steps = || {
        let mut s = opened(60, BEGIN_MASK);
        s.push(Step::Msg(C, 1_000, ev("BEGIN_CALL_EVENT", 7)));
        s.push(Step::Msg(C, 1_001, ev("BEGIN_CALL_EVENT", 9)));
        s.push(Step::Msg(S, 1_100, ans.build()));
        s.push(Step::Msg(C, 1_200, inv("ANSWER_CALL_CONF", 2)));
        s.push(Step::Msg(C, 1_300, ev("CALL_ESTABLISHED_EVENT", 7)));
        s
    };
    let with = |filter: TimelineFilter| {
        let settings = Settings { timeline: Some(filter), ..Settings::default() };
        run_with(ConnStart::Handshake, steps(), settings)
    };
    let r = with(TimelineFilter { call: Some(7), ..TimelineFilter::default() });
    let what: Vec<&str> = r
        .timeline
        .iter()
        .filter_map(|e| match &e.what {
            TimelineWhat::Message { name, .. } => Some(*name),
            _ => None,
        })
        .collect();
    assert_eq!(
        what,
        vec!["BEGIN_CALL_EVENT", "ANSWER_CALL_REQ", "ANSWER_CALL_CONF", "CALL_ESTABLISHED_EVENT"]
    );
    // The findings about call 7 (its events carry test values the tables do not name) are
    // in place beside its messages, in time order; no connection rows for a call.
    let findings: Vec<&TimelineEntry> =
        r.timeline.iter().filter(|e| matches!(e.what, TimelineWhat::Finding { .. })).collect();
    assert!(!findings.is_empty());
    assert!(findings.iter().all(|e| e.call == Some(7)));
    assert!(r.timeline.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    assert!(!r.timeline.iter().any(|e| matches!(e.what, TimelineWhat::Connection { .. })));
    let r = with(TimelineFilter { invoke: Some(2), ..TimelineFilter::default() });
    assert_eq!(r.timeline.len(), 2);
    let TimelineWhat::Message { detail, .. } = &r.timeline[1].what else { panic!("a message") };
    assert_eq!(detail.answers.as_ref().map(|a| a.request), Some("ANSWER_CALL_REQ"));
    let r = with(TimelineFilter::default());
    let messages = r.timeline.iter().filter(|e| e.direction.is_some()).count();
    assert_eq!(messages, 7);
    // No timeline unless asked.
    assert!(run(steps()).timeline.is_empty());
}

#[test]
fn agent_states_learnt_from_queries_and_team_events() {
    // A query names agent 1002: its confirm's state is the agent's.
    let mut q = b("QUERY_AGENT_STATE_REQ");
    q.set("InvokeID", 2).unwrap();
    q.set("PeripheralID", 5000).unwrap();
    q.text("AgentID", "1002").unwrap();
    let mut qc = b("QUERY_AGENT_STATE_CONF");
    qc.set("InvokeID", 2).unwrap();
    qc.set("AgentState", 3).unwrap();
    // A team event gives each member's state.
    let mut team = b("AGENT_TEAM_CONFIG_EVENT");
    team.set("PeripheralID", 5000).unwrap();
    team.set("NumberOfAgents", 2).unwrap();
    team.text("AtcAgentID", "1003").unwrap();
    team.number("AtcAgentState", 2).unwrap();
    team.text("AtcAgentID", "1004").unwrap();
    team.number("AtcAgentState", 4).unwrap();
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 1_000, q.build()));
    s.push(Step::Msg(C, 1_001, qc.build()));
    s.push(Step::Msg(C, 2_000, team.build()));
    s.push(Step::End(ConnEnd::Fin, 5_000));
    let r = run(s);
    let get = |id: &str| {
        r.agents.iter().find(|a| a.id == id).unwrap_or_else(|| panic!("agent {id}: {:#?}", r.agents))
    };
    let a = get("1002");
    assert_eq!(a.final_state.as_deref(), Some("AVAILABLE"));
    assert_eq!(a.time_in_state["AVAILABLE"], 3_999_000_000);
    assert_eq!(a.requests["QUERY_AGENT_STATE_REQ"], RequestCounts { ok: 1, failed: 0, unanswered: 0 });
    assert_eq!(get("1003").final_state.as_deref(), Some("NOT_READY"));
    assert_eq!(get("1004").final_state.as_deref(), Some("TALKING"));
    assert_eq!(get("1004").time_in_state["TALKING"], 3_000_000_000);
}

/// OPEN_REQ of a desktop: ServicesRequested, CallMsgMask and AgentStateMask as given.
fn desktop_open_req(services: u64, call_mask: u64, agent_mask: u64) -> Vec<u8> {
    let mut m = b("OPEN_REQ");
    m.set("InvokeID", 1).unwrap();
    m.set("VersionNumber", V as u64).unwrap();
    m.set("IdleTimeout", 0xFFFF_FFFF).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("ServicesRequested", services).unwrap();
    m.set("CallMsgMask", call_mask).unwrap();
    m.set("AgentStateMask", agent_mask).unwrap();
    m.text("ClientID", "desk-1001").unwrap();
    m.bytes("ClientPassword", b"").unwrap();
    m.text("AgentInstrument", "1001").unwrap();
    m.build()
}

use super::rules::SERVICE_RULES;

/// The findings of the rules of module `services`, sorted by rule id.
fn service_rules(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<_> = r.findings.iter().map(|f| f.rule).filter(|r| SERVICE_RULES.contains(r)).collect();
    v.sort_unstable();
    v
}

#[test]
fn services_and_masks_need_the_session_and_a_complete_client_direction() {
    // A desktop granted Client Events and Client Control, without CALL_HELD_MASK.
    let masks = 0x3FF_FFFF & !0x8;
    let open = || {
        vec![Step::Msg(S, 0, desktop_open_req(0x5, masks, 0x3FF)), Step::Msg(C, 10, open_conf(1, 0x5, 1, 0))]
    };
    let set_call_data = || {
        let mut m = b("SET_CALL_DATA_REQ");
        m.set("InvokeID", 2).unwrap();
        m.build()
    };
    // The violations.
    let mut s = open();
    s.push(Step::Msg(S, 100, set_call_data()));
    s.push(Step::Msg(C, 110, inv("SET_CALL_DATA_CONF", 2)));
    s.push(Step::Msg(C, 200, ev("CALL_HELD_EVENT", 7)));
    s.push(Step::Msg(C, 300, ev("CALL_ESTABLISHED_EVENT", 7)));
    let r = run(s);
    assert_eq!(
        service_rules(&r),
        vec!["event-masked", "service-confirm-not-granted", "service-request-not-granted"],
        "{:#?}",
        r.findings
    );
    assert_eq!(find(&r, "service-confirm-not-granted").frames, vec![4, 5]);
    assert_eq!(find(&r, "event-masked").frames, vec![6]);
    assert_eq!(find(&r, "event-masked").subject.call, Some(7));
    // The same failure answer is no confirm violation.
    let mut s = open();
    s.push(Step::Msg(S, 100, set_call_data()));
    s.push(Step::Msg(C, 110, failure_conf(2, 12)));
    assert_eq!(service_rules(&run(s)), vec!["service-request-not-granted"]);
    // Mid-stream: services and masks unknown, nothing is judged.
    let s = vec![
        Step::Msg(S, 100, set_call_data()),
        Step::Msg(C, 110, inv("SET_CALL_DATA_CONF", 2)),
        Step::Msg(C, 200, ev("CALL_HELD_EVENT", 7)),
    ];
    assert!(service_rules(&run_mid(s)).is_empty());
    // Client bytes lost before the event (a mask change may be in them): not judged.
    let mut s = open();
    s.push(Step::Gap(S, 150));
    s.push(Step::Msg(C, 200, ev("CALL_HELD_EVENT", 7)));
    assert!(!has(&run(s), "event-masked"));
    // Client bytes declared lost after the event: the finding is dropped.
    let mut s = open();
    s.push(Step::Msg(C, 200, ev("CALL_HELD_EVENT", 7)));
    s.push(Step::Gap(S, 250));
    assert!(!has(&run(s), "event-masked"));
    // A bridge (All Events) is not judged by its OPEN_REQ masks.
    let s = vec![
        Step::Msg(S, 0, desktop_open_req(0x10, masks, 0x3FF)),
        Step::Msg(C, 10, open_conf(1, 0x10, 1, 0)),
        Step::Msg(C, 200, ev("CALL_HELD_EVENT", 7)),
    ];
    assert!(service_rules(&run(s)).is_empty());
    // Supervisor without Client Events; a call event without any event service.
    let s = vec![
        Step::Msg(S, 0, desktop_open_req(0x84, 0x3FF_FFFF, 0x3FF)),
        Step::Msg(C, 10, open_conf(1, 0x4, 1, 0)),
        Step::Msg(C, 200, ev("CALL_HELD_EVENT", 7)),
        Step::Msg(C, 300, inv("HEARTBEAT_CONF", 9)),
    ];
    let r = run(s);
    assert_eq!(service_rules(&r), vec!["service-event-not-granted", "service-requires"]);
}

#[path = "preconditions_tests.rs"]
mod preconditions_tests;

#[path = "presence_tests.rs"]
mod presence_tests;

#[path = "services_tests.rs"]
mod services_tests;

/// Invoke matching and session rules pinned value by value (latencies, texts, boundaries).
mod invoke_session;
