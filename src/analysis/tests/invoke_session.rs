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
