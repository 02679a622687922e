//! Invoke matching and the session rules, pinned to exact values: the latency a finding
//! carries, the words it says, and the boundaries of the timeouts.

use super::*;
use crate::analysis::invoke::describe;
use crate::analysis::state::Pending;
use crate::cti::spec::MessageType;

fn pending(call: Option<u32>) -> Pending {
    Pending {
        req: MessageType::SET_AGENT_STATE_REQ,
        name: "SET_AGENT_STATE_REQ",
        confirm: Some(MessageType::SET_AGENT_STATE_CONF),
        frame: 7,
        ts: 0,
        reported: false,
        call,
        agent: None,
        monitor: None,
        invoke: 17,
        peripheral: None,
    }
}

#[test]
fn a_request_in_words() {
    let subject = |agent: Option<&str>, extension: Option<&str>| findings::Subject {
        agent: agent.map(str::to_string),
        extension: extension.map(str::to_string),
        ..findings::Subject::default()
    };
    let p = pending(Some(16_795_322));
    assert_eq!(
        describe(&p, &subject(Some("1001"), Some("5001"))),
        "SET_AGENT_STATE_REQ (InvokeID 17, agent 1001, extension 5001, call 16795322)"
    );
    assert_eq!(
        describe(&p, &subject(Some("1001"), None)),
        "SET_AGENT_STATE_REQ (InvokeID 17, agent 1001, call 16795322)"
    );
    assert_eq!(
        describe(&p, &subject(None, Some("5001"))),
        "SET_AGENT_STATE_REQ (InvokeID 17, extension 5001, call 16795322)"
    );
    assert_eq!(describe(&pending(None), &subject(None, None)), "SET_AGENT_STATE_REQ (InvokeID 17)");
    // InvokeIDs and call ids over the whole 32-bit range.
    let mut p = pending(Some(u32::MAX));
    p.invoke = u32::MAX;
    assert_eq!(
        describe(&p, &subject(None, None)),
        "SET_AGENT_STATE_REQ (InvokeID 4294967295, call 4294967295)"
    );
}

#[test]
fn a_confirm_of_the_wrong_type_carries_its_latency() {
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("ANSWER_CALL_REQ", 2)));
    s.push(Step::Msg(C, 137, inv("HOLD_CALL_CONF", 2)));
    let r = run(s);
    let f = find(&r, "confirm-wrong-type");
    assert_eq!(f.frames, vec![4, 5]);
    assert_eq!(f.subject.latency_ns, Some(37_000_000));
    assert_eq!(f.subject.invoke, Some(2));
    assert_eq!(f.subject.request, Some("ANSWER_CALL_REQ"));
    assert_eq!(f.subject.confirm, Some("HOLD_CALL_CONF"));
    assert_eq!(
        f.message,
        "ANSWER_CALL_REQ (InvokeID 2) answered by HOLD_CALL_CONF, expected ANSWER_CALL_CONF, \
         FAILURE_CONF or CONTROL_FAILURE_CONF"
    );
    // The answer still counts in the request's latency.
    let l = &r.latency["ANSWER_CALL_REQ"];
    assert_eq!((l.count, l.max_ns), (1, 37_000_000));
}

#[test]
fn a_late_answer_is_told_to_the_unanswered_finding() {
    // Timeout 2 s: the CLEAR_CALL_REQ at 0.1 s is reported by the server message at 2.21 s,
    // then answered at 3 s.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2)));
    s.push(Step::Msg(S, 2_200, inv("HEARTBEAT_REQ", 3)));
    s.push(Step::Msg(C, 2_210, inv("HEARTBEAT_CONF", 3)));
    s.push(Step::Msg(C, 3_000, inv("CLEAR_CALL_CONF", 2)));
    let settings = Settings { request_timeout_ns: 2_000_000_000, ..Settings::default() };
    let r = run_with(ConnStart::Handshake, s, settings);
    let f = find(&r, "invoke-unanswered");
    assert_eq!(f.frames, vec![4, 7]);
    assert_eq!(f.subject.latency_ns, Some(2_900_000_000));
    assert_eq!(f.subject.confirm, Some("CLEAR_CALL_CONF"));
    assert_eq!(
        f.message,
        "CLEAR_CALL_REQ (InvokeID 2) sent at 00:00:00.100 not answered within 2 s; \
         answered by CLEAR_CALL_CONF (frame 7) after 2.900 s"
    );
    let l = &r.latency["CLEAR_CALL_REQ"];
    assert_eq!((l.count, l.max_ns), (1, 2_900_000_000));
}

/// A request at 0.1 s with a 2 s timeout, and a server message (a heartbeat's answer) at
/// `at` ms; the capture ends there.
fn timeout_boundary(at: i64) -> Report {
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2)));
    s.push(Step::Msg(S, at - 5, inv("HEARTBEAT_REQ", 3)));
    s.push(Step::Msg(C, at, inv("HEARTBEAT_CONF", 3)));
    let settings = Settings { request_timeout_ns: 2_000_000_000, ..Settings::default() };
    run_with(ConnStart::Handshake, s, settings)
}

#[test]
fn a_request_times_out_at_the_server_message_that_reaches_its_deadline() {
    // One nanosecond short of the timeout is still pending when the capture ends.
    let r = timeout_boundary(2_099);
    assert_eq!(rules_of(&r), vec!["invoke-pending-at-end"]);
    assert_eq!(find(&r, "invoke-pending-at-end").subject.latency_ns, Some(1_999_000_000));
    // At the deadline, the server message reports it, as not answered within the timeout
    // (not as never answered at the capture's end).
    let r = timeout_boundary(2_100);
    assert_eq!(rules_of(&r), vec!["invoke-unanswered"]);
    let f = find(&r, "invoke-unanswered");
    assert_eq!(f.frames, vec![4]);
    assert_eq!(f.message, "CLEAR_CALL_REQ (InvokeID 2) sent at 00:00:00.100 not answered within 2 s");
    assert_eq!(f.subject.latency_ns, None);
}

#[test]
fn an_unmatched_server_confirm_waits_for_the_client_direction() {
    // The client bytes before it turn out lost: its request may have been among them.
    let mut s = opened(60, 0);
    s.push(Step::Msg(C, 100, inv("HOLD_CALL_CONF", 9)));
    s.push(Step::Gap(S, 110));
    let r = run(s);
    assert!(!has(&r, "confirm-unmatched"), "{:#?}", r.findings);
    let f = find(&r, "confirm-request-not-captured");
    assert_eq!(f.frames, vec![4]);
    assert_eq!(f.message, "HOLD_CALL_CONF with InvokeID 9: the request was lost in a gap");
    // Nothing lost: it answers nothing.
    let mut s = opened(60, 0);
    s.push(Step::Msg(C, 100, inv("HOLD_CALL_CONF", 9)));
    let r = run(s);
    let f = find(&r, "confirm-unmatched");
    assert_eq!(f.message, "HOLD_CALL_CONF with InvokeID 9 answers no outstanding request");
    assert_eq!(f.subject.invoke, Some(9));
}

#[test]
fn a_confirm_with_the_client_direction_missing_is_not_judged() {
    // Only the server direction captured: the client direction is reported missing, and
    // a confirm can not be judged without it.
    let r =
        run(vec![Step::Msg(C, 10, open_conf(1, 0x10, 1, 0)), Step::Msg(C, 100, inv("HOLD_CALL_CONF", 9))]);
    assert!(has(&r, "direction-not-captured"), "{:#?}", r.findings);
    assert!(!has(&r, "confirm-unmatched"), "{:#?}", r.findings);
    assert!(!has(&r, "confirm-request-not-captured"), "{:#?}", r.findings);
}

#[test]
fn a_message_before_the_open_names_itself() {
    // From the client (reported at once).
    let r = run(vec![Step::Msg(S, 0, inv("HEARTBEAT_REQ", 1)), Step::Msg(C, 5, inv("HEARTBEAT_CONF", 1))]);
    let f = find(&r, "session-not-open");
    assert_eq!(f.subject.message, Some("HEARTBEAT_REQ"));
    assert_eq!(f.message, "HEARTBEAT_REQ (client->server) before the session was opened");
    // From the server (a suspect until the client direction is known).
    let r = run(vec![Step::Msg(S, 0, open_req(1, 60, 0)), Step::Msg(C, 5, inv("HEARTBEAT_REQ", 1))]);
    let f = find(&r, "session-not-open");
    assert_eq!(f.subject.message, Some("HEARTBEAT_REQ"));
    assert_eq!(f.frames, vec![2, 3]);
}

#[test]
fn unanswered_heartbeats_are_counted_apart() {
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("HEARTBEAT_REQ", 2)));
    s.push(Step::End(ConnEnd::Rst, 200));
    let r = run(s);
    assert_eq!(find(&r, "heartbeat-unanswered").frames, vec![4]);
    assert!(!has(&r, "invoke-unanswered"));
    assert_eq!(r.connections[0].heartbeats_unanswered, 1);
    assert!(
        find(&r, "reset-without-close").message.ends_with(" after 1 unanswered HEARTBEAT_REQ"),
        "{}",
        find(&r, "reset-without-close").message
    );
    // Any other request is not a heartbeat.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2)));
    s.push(Step::End(ConnEnd::Rst, 200));
    let r = run(s);
    assert_eq!(find(&r, "invoke-unanswered").frames, vec![4]);
    assert!(!has(&r, "heartbeat-unanswered"));
    assert_eq!(r.connections[0].heartbeats_unanswered, 0);
    assert_eq!(find(&r, "reset-without-close").message, "connection reset by the one side without CLOSE_REQ");
}

#[test]
fn requests_that_the_server_never_answers_at_all() {
    // From the start of the connection, the server never spoke: its direction is missing,
    // and its requests are not judged one by one.
    let r = run(vec![Step::Msg(S, 0, open_req(1, 60, 0)), Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2))]);
    let f = find(&r, "direction-not-captured");
    assert_eq!(f.frames, vec![2]);
    assert!(!has(&r, "invoke-pending-at-end") && !has(&r, "invoke-unanswered"), "{:#?}", r.findings);
    // Mid-stream, the server may simply have been silent since the capture started.
    let r = run_mid(vec![Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2))]);
    assert!(!has(&r, "direction-not-captured"), "{:#?}", r.findings);
    assert_eq!(find(&r, "invoke-pending-at-end").frames, vec![2]);
}

#[test]
fn a_client_message_settles_the_server_suspects_before_it() {
    // A client message after an unmatched server confirm: the client direction was
    // captured up to it, so the confirm answers nothing, whatever is lost later.
    let mut s = opened(60, 0);
    s.push(Step::Msg(C, 100, inv("HOLD_CALL_CONF", 9)));
    s.push(Step::Msg(S, 110, inv("HEARTBEAT_REQ", 3)));
    s.push(Step::Gap(S, 120));
    let r = run(s);
    assert_eq!(find(&r, "confirm-unmatched").frames, vec![4]);
    assert!(!has(&r, "confirm-request-not-captured"), "{:#?}", r.findings);
    // Server messages do not settle each other: both wait, and the later client loss
    // makes both requests possibly lost.
    let mut s = opened(60, 0);
    s.push(Step::Msg(C, 100, inv("HOLD_CALL_CONF", 9)));
    s.push(Step::Msg(C, 105, inv("HOLD_CALL_CONF", 10)));
    s.push(Step::Gap(S, 110));
    let r = run(s);
    assert!(!has(&r, "confirm-unmatched"), "{:#?}", r.findings);
    let lost: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule == "confirm-request-not-captured")
        .map(|f| f.frames.clone())
        .collect();
    assert_eq!(lost, vec![vec![4], vec![5]]);
}

#[test]
fn a_client_message_before_the_open_stands_once_the_server_speaks() {
    // HEARTBEAT_REQ after OPEN_REQ, before OPEN_CONF: judged at the server's first message.
    let r = run(vec![
        Step::Msg(S, 0, open_req(1, 60, 0)),
        Step::Msg(S, 5, inv("HEARTBEAT_REQ", 2)),
        Step::Msg(C, 10, open_conf(1, 0x10, 1, 0)),
    ]);
    let f = find(&r, "session-not-open");
    assert_eq!(f.message, "HEARTBEAT_REQ (client->server) before the session was opened");
    assert_eq!(f.frames, vec![2, 3]);
    assert_eq!(f.ts_ns, 5_000_000);
    assert_eq!(r.findings.iter().filter(|f| f.rule == "session-not-open").count(), 1);
    // The server never speaks: the client's early message is not judged.
    let r = run(vec![Step::Msg(S, 0, open_req(1, 60, 0)), Step::Msg(S, 5, inv("HEARTBEAT_REQ", 2))]);
    assert!(!has(&r, "session-not-open"), "{:#?}", r.findings);
}

#[test]
fn the_server_speaking_first_shows_the_client_direction_missing() {
    let r = run(vec![Step::Msg(C, 10, inv("HEARTBEAT_CONF", 1)), Step::Msg(C, 20, inv("HEARTBEAT_CONF", 2))]);
    let f = find(&r, "direction-not-captured");
    assert_eq!(f.frames, vec![2]);
    assert!(
        f.message.contains("the server is sending: that direction is missing from the capture"),
        "{}",
        f.message
    );
    // Mid-stream it is not: the client may have spoken before the capture started.
    let r =
        run_mid(vec![Step::Msg(C, 10, inv("HEARTBEAT_CONF", 1)), Step::Msg(C, 20, inv("HEARTBEAT_CONF", 2))]);
    assert!(!has(&r, "direction-not-captured"), "{:#?}", r.findings);
    // A client message first: nothing missing.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("HEARTBEAT_REQ", 2)));
    s.push(Step::Msg(C, 110, inv("HEARTBEAT_CONF", 2)));
    assert!(rules_of(&run(s)).is_empty());
}

#[test]
fn the_client_idle_timeout_boundary() {
    // IdleTimeout 20 s; the client's OPEN_REQ at 0, its next message at `at` ms.
    let idle = |at: i64| {
        let mut s = opened(20, 0);
        s.push(Step::Msg(S, at, inv("HEARTBEAT_REQ", 2)));
        s.push(Step::Msg(C, at + 10, inv("HEARTBEAT_CONF", 2)));
        run(s)
    };
    assert!(rules_of(&idle(20_000)).is_empty(), "{:#?}", idle(20_000).findings);
    let r = idle(20_001);
    let f = find(&r, "client-idle-timeout");
    assert_eq!(f.frames, vec![2, 4]);
    assert_eq!(f.message, "client silent for 20.001 s, longer than its IdleTimeout of 20 s");
    // Silence is measured from the client's last message, not from the start.
    let mut s = opened(20, 0);
    for (i, at) in [15_000, 30_000, 45_000].into_iter().enumerate() {
        s.push(Step::Msg(S, at, inv("HEARTBEAT_REQ", 2 + i as u64)));
        s.push(Step::Msg(C, at + 10, inv("HEARTBEAT_CONF", 2 + i as u64)));
    }
    assert!(rules_of(&run(s)).is_empty());
}

#[test]
fn a_server_message_before_the_open_waits_for_the_client_direction() {
    // The server speaks after OPEN_REQ, before any OPEN_CONF; then client bytes are lost:
    // the server's message is not judged (a suspect dropped by the loss).
    let r = run(vec![
        Step::Msg(S, 0, open_req(1, 60, 0)),
        Step::Msg(C, 5, inv("HEARTBEAT_REQ", 1)),
        Step::Gap(S, 10),
    ]);
    assert!(!has(&r, "session-not-open"), "{:#?}", r.findings);
    // A client message before the open stands at once, whatever is lost after it.
    let r = run(vec![Step::Msg(S, 0, inv("HEARTBEAT_REQ", 1)), Step::Gap(S, 10)]);
    assert_eq!(find(&r, "session-not-open").frames, vec![2]);
}

/// CALL_DELIVERED_EVENT of call 7 naming MonitorID `m`.
fn monitored(m: u64) -> Vec<u8> {
    let mut e = call_event("CALL_DELIVERED_EVENT", 7, "1001");
    e.set("MonitorID", m).unwrap();
    e.build()
}

#[test]
fn the_monitor_of_the_open_conf_is_known() {
    // OPEN_CONF with MonitorID 7 and the peripheral monitor service (0x20).
    let s = |m: u64| {
        vec![
            Step::Msg(S, 0, open_req(1, 60, 0)),
            Step::Msg(C, 10, open_conf(1, 0x20, 1, 7)),
            Step::Msg(C, 40, monitored(m)),
        ]
    };
    assert!(rules_of(&run(s(7))).is_empty(), "{:#?}", run(s(7)).findings);
    let r = run(s(8));
    assert_eq!(find(&r, "monitor-unknown").frames, vec![4]);
    // MonitorID 0 in OPEN_CONF names no monitor: an event naming 0 names none either.
    let r = run(vec![
        Step::Msg(S, 0, open_req(1, 60, 0)),
        Step::Msg(C, 10, open_conf(1, 0x20, 1, 0)),
        Step::Msg(C, 40, monitored(0)),
        Step::Msg(C, 50, monitored(u64::from(u32::MAX))),
    ]);
    assert!(rules_of(&r).is_empty(), "{:#?}", r.findings);
}

#[test]
fn session_messages_count_only_from_their_sender() {
    // An OPEN_REQ from the server and an OPEN_CONF from the client open nothing.
    let r = run(vec![Step::Msg(C, 0, open_req(1, 60, 0))]);
    assert_eq!((r.connections[0].open, r.connections[0].version), ("not opened", None));
    let r = run(vec![Step::Msg(S, 0, open_conf(1, 0x10, 1, 0))]);
    assert_eq!(r.connections[0].open, "not opened");
    // A CLOSE_REQ from the server is not the client's: a reset after it is still reported.
    let mut s = opened(60, 0);
    s.push(Step::Msg(C, 100, inv("CLOSE_REQ", 2)));
    s.push(Step::End(ConnEnd::Rst, 200));
    assert!(has(&run(s), "reset-without-close"));
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLOSE_REQ", 2)));
    s.push(Step::End(ConnEnd::Rst, 200));
    assert!(!has(&run(s), "reset-without-close"));
    // A CLOSE_CONF from the client closes nothing: no data after close.
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("CLOSE_CONF", 2)));
    s.push(Step::Msg(S, 200, inv("HEARTBEAT_REQ", 3)));
    s.push(Step::Msg(C, 210, inv("HEARTBEAT_CONF", 3)));
    let r = run(s);
    assert!(!has(&r, "data-after-close"), "{:#?}", r.findings);
    assert_eq!(r.connections[0].open, "open");
}

#[test]
fn the_session_version_is_the_one_the_open_req_was_decoded_with() {
    // Decoded at version 24 (seen on the wire) although its VersionNumber says 20.
    let mut m = b("OPEN_REQ");
    m.set("InvokeID", 1).unwrap();
    m.set("VersionNumber", 20).unwrap();
    m.set("IdleTimeout", 60).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("ServicesRequested", 0x10).unwrap();
    m.set("CallMsgMask", 0).unwrap();
    m.text("ClientID", "bridge").unwrap();
    m.bytes("ClientPassword", b"").unwrap();
    let r = run(vec![Step::Msg(S, 0, m.build())]);
    assert_eq!(r.connections[0].version, Some(24));
}

#[test]
fn an_open_req_seen_mid_stream_opens_the_session() {
    let r = run_mid(vec![Step::Msg(S, 0, open_req(1, 60, 0))]);
    assert_eq!(r.connections[0].open, "open requested");
    assert_eq!(r.connections[0].version, Some(24));
    // Then a client message before the OPEN_CONF is early, as at the start of a stream.
    let r = run_mid(vec![
        Step::Msg(S, 0, open_req(1, 60, 0)),
        Step::Msg(S, 5, inv("HEARTBEAT_REQ", 2)),
        Step::Msg(C, 10, open_conf(1, 0x10, 1, 0)),
    ]);
    assert_eq!(find(&r, "session-not-open").frames, vec![2, 3]);
}

#[test]
fn failures_that_answer_nothing_are_counted() {
    let mut cf = b("CONTROL_FAILURE_CONF");
    cf.set("InvokeID", 8).unwrap();
    cf.set("FailureCode", 78).unwrap();
    let mut s = opened(60, 0);
    s.push(Step::Msg(C, 100, failure_conf(7, 5)));
    s.push(Step::Msg(C, 110, cf.build()));
    let r = run(s);
    assert_eq!(r.findings.iter().filter(|f| f.rule == "confirm-unmatched").count(), 2);
    let failures: Vec<(&str, u64)> = r.failures.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures.iter().any(|(k, n)| k.starts_with("FAILURE_CONF ") && *n == 1), "{failures:?}");
    assert!(failures.iter().any(|(k, n)| k.starts_with("CONTROL_FAILURE_CONF ") && *n == 1), "{failures:?}");
}

#[test]
fn a_failed_heartbeat_is_a_server_failure() {
    // The server refused a heartbeat: its reset needs no CLOSE_REQ.
    let reset_after = |req: &str| {
        let mut s = opened(60, 0);
        s.push(Step::Msg(S, 100, inv(req, 2)));
        s.push(Step::Msg(C, 110, failure_conf(2, 5)));
        s.push(Step::End(ConnEnd::Rst, 200));
        run(s)
    };
    assert!(!has(&reset_after("HEARTBEAT_REQ"), "reset-without-close"));
    // Any other request refused is not.
    assert!(has(&reset_after("CLEAR_CALL_REQ"), "reset-without-close"));
}

#[test]
fn unknown_monitors_are_judged_on_server_events_with_the_monitor_service() {
    // Without the peripheral monitor service (0x20), MonitorIDs are not followed.
    let r = run(vec![
        Step::Msg(S, 0, open_req(1, 60, 0)),
        Step::Msg(C, 10, open_conf(1, 0x10, 1, 0)),
        Step::Msg(C, 40, monitored(5)),
    ]);
    assert!(!has(&r, "monitor-unknown"), "{:#?}", r.findings);
    // With it, a client request naming a monitor is not an event from the server.
    let mut stop = b("MONITOR_STOP_REQ");
    stop.set("InvokeID", 3).unwrap();
    stop.set("MonitorID", 99).unwrap();
    let r = run(vec![
        Step::Msg(S, 0, open_req(1, 60, 0)),
        Step::Msg(C, 10, open_conf(1, 0x20, 1, 0)),
        Step::Msg(S, 40, stop.build()),
    ]);
    assert!(!has(&r, "monitor-unknown"), "{:#?}", r.findings);
}

#[test]
fn a_reset_after_unanswered_heartbeats_counts_them() {
    let mut s = opened(60, 0);
    s.push(Step::Msg(S, 100, inv("HEARTBEAT_REQ", 2)));
    s.push(Step::Msg(S, 200, inv("HEARTBEAT_REQ", 3)));
    s.push(Step::End(ConnEnd::Rst, 300));
    let r = run(s);
    assert_eq!(r.connections[0].heartbeats_unanswered, 2);
    assert_eq!(
        find(&r, "reset-without-close").message,
        "connection reset by the one side without CLOSE_REQ after 2 unanswered HEARTBEAT_REQs"
    );
}

#[test]
fn a_request_never_answered_says_how_the_connection_ended() {
    let ended = |end: ConnEnd| {
        let mut s = opened(60, 0);
        s.push(Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2)));
        s.push(Step::End(end, 200));
        find(&run(s), "invoke-unanswered").message.clone()
    };
    let sent = "CLEAR_CALL_REQ (InvokeID 2) sent at 00:00:00.100 never answered";
    assert_eq!(
        ended(ConnEnd::Rst),
        format!("{sent}: the connection was reset by the one side 0.100 s after it")
    );
    assert_eq!(
        ended(ConnEnd::Fin),
        format!("{sent}: the connection was closed by the one side 0.100 s after it")
    );
    assert_eq!(ended(ConnEnd::Reused), format!("{sent}: a new connection replaced it 0.100 s after it"));
}

#[test]
fn an_answer_exactly_at_the_timeout_is_late() {
    // Timeout 2 s, mid-stream (no other request's deadline): sent at 0.1 s, answered at
    // 2.1 s, its deadline.
    let late = |at: i64| {
        let s =
            vec![Step::Msg(S, 100, inv("CLEAR_CALL_REQ", 2)), Step::Msg(C, at, inv("CLEAR_CALL_CONF", 2))];
        let settings = Settings { request_timeout_ns: 2_000_000_000, ..Settings::default() };
        run_with(ConnStart::Midstream, s, settings)
    };
    let r = late(2_100);
    let f = find(&r, "invoke-unanswered");
    assert_eq!(f.frames, vec![2, 3]);
    assert_eq!(f.subject.latency_ns, Some(2_000_000_000));
    // A millisecond earlier it is in time.
    assert!(rules_of(&late(2_099)).is_empty(), "{:#?}", late(2_099).findings);
}
