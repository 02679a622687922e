//! The call-state preconditions over hand-made event streams: a request judged against
//! the state the session's events set, and never after a loss, on a mid-stream start, or
//! while an earlier request for the call may still be changing it.

use super::*;
use crate::analysis::callstate::MAX_DEVICES_PER_CALL;
use crate::analysis::preconditions::{MAX_REGISTERED, MAX_WAITING};

/// CALL_HELD_EVENT of `call`, held at device 1001.
fn held_at_1001(call: u64) -> Vec<u8> {
    let mut m = call_event("CALL_HELD_EVENT", call, "1001");
    m.set("LocalConnectionState", 4).unwrap();
    m.text("HoldingDeviceID", "1001").unwrap();
    m.build()
}

/// CALL_HELD_EVENT (`held`) or CALL_RETRIEVED_EVENT of call 7 at device 1001.
fn hold_ev(held: bool) -> Vec<u8> {
    let (name, dev) = if held {
        ("CALL_HELD_EVENT", "HoldingDeviceID")
    } else {
        ("CALL_RETRIEVED_EVENT", "RetrievingDeviceID")
    };
    let mut m = call_event(name, 7, "1001");
    m.set("LocalConnectionState", if held { 4 } else { 3 }).unwrap();
    m.text(dev, "1001").unwrap();
    m.build()
}

/// HOLD_CALL_REQ for call 7 at device 1001.
fn hold_req(invoke: u64) -> Vec<u8> {
    let mut m = b("HOLD_CALL_REQ");
    m.set("InvokeID", invoke).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("ConnectionCallID", 7).unwrap();
    m.set("ConnectionDeviceIDType", 0).unwrap();
    m.text("ConnectionDeviceID", "1001").unwrap();
    m.build()
}

fn control_failure(invoke: u64) -> Vec<u8> {
    let mut m = b("CONTROL_FAILURE_CONF");
    m.set("InvokeID", invoke).unwrap();
    m.set("FailureCode", 22).unwrap();
    m.build()
}

/// An opened session granted Client Control (and All Events), whose call-control requests
/// are judged (frames 2 and 3).
fn opened_control() -> Vec<Step> {
    let services = 0x10 | crate::cti::spec::values::service_mask::CTI_SERVICE_CLIENT_CONTROL as u64;
    vec![
        Step::Msg(S, 0, open_req(1, 0xFFFF_FFFF, BEGIN_MASK)),
        Step::Msg(C, 10, open_conf(1, services, 1, 0)),
    ]
}

/// An opened session with call 7 begun and held at 1001 (frames 2-5).
fn held() -> Vec<Step> {
    let mut s = opened_control();
    s.push(Step::Msg(C, 100, ev("BEGIN_CALL_EVENT", 7)));
    s.push(Step::Msg(C, 200, hold_ev(true)));
    s
}

#[test]
fn hold_of_a_held_call() {
    let mut s = held();
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, control_failure(2)));
    let r = run(s);
    let f = find(&r, "hold-already-held");
    assert_eq!(f.frames, vec![5, 6]);
    assert_eq!(
        (f.subject.call, f.subject.device.as_deref(), f.subject.invoke),
        (Some(7), Some("1001"), Some(2))
    );
    // A session without Client Control is not followed: its requests are refused anyway.
    let mut s = opened(0xFFFF_FFFF, BEGIN_MASK);
    s.extend(held().into_iter().skip(2));
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, control_failure(2)));
    assert!(!has(&run(s), "hold-already-held"));
    // Retrieved, then held: correct.
    let mut s = held();
    s.push(Step::Msg(C, 250, hold_ev(false)));
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, inv("HOLD_CALL_CONF", 2)));
    assert!(!has(&run(s), "hold-already-held"));
}

#[test]
fn no_verdict_after_a_loss_or_on_a_midstream_start() {
    // A gap in the server's stream before the request: an event may be missing.
    let mut s = held();
    s.push(Step::Gap(C, 250));
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, control_failure(2)));
    assert!(!has(&run(s), "hold-already-held"));
    // A gap declared after the request, before the server's next message: the verdict
    // waited for it and is dropped.
    let mut s = held();
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Gap(C, 305));
    s.push(Step::Msg(C, 310, control_failure(2)));
    assert!(!has(&run(s), "hold-already-held"));
    // Bytes of the client lost: a RETRIEVE_CALL_REQ may have been sent.
    let mut s = held();
    s.push(Step::Gap(S, 250));
    s.push(Step::Msg(S, 300, hold_req(2)));
    assert!(!has(&run(s), "hold-already-held"));
    // Mid-stream: the session's start was not captured.
    let mut s = vec![Step::Msg(C, 200, hold_ev(true))];
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, control_failure(2)));
    assert!(!has(&run_mid(s), "hold-already-held"));
}

#[test]
fn a_request_in_progress_leaves_the_state_unknown() {
    // HOLD_CALL_REQ confirmed, its CALL_HELD_EVENT not yet seen: a second hold is not judged.
    let mut s = held();
    s.push(Step::Msg(C, 250, hold_ev(false)));
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, inv("HOLD_CALL_CONF", 2)));
    s.push(Step::Msg(S, 320, hold_req(3)));
    s.push(Step::Msg(C, 330, control_failure(3)));
    assert!(!has(&run(s), "hold-already-held"));
    // A refused hold changed nothing: the next hold is judged (and the call is held).
    let mut s = held();
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, control_failure(2)));
    s.push(Step::Msg(S, 320, hold_req(3)));
    s.push(Step::Msg(C, 330, control_failure(3)));
    let r = run(s);
    let holds: Vec<_> = r.findings.iter().filter(|f| f.rule == "hold-already-held").collect();
    assert_eq!(holds.len(), 2, "{holds:#?}");
    // END_CALL_EVENT forgets the call.
    let mut s = held();
    s.push(Step::Msg(C, 250, ev("END_CALL_EVENT", 7)));
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, control_failure(2)));
    assert!(!has(&run(s), "hold-already-held"));
}

/// SET_AGENT_STATE_REQ of agent 1001 to `state` with `reason`.
fn set_state(invoke: u64, state: u64, reason: u64) -> Vec<u8> {
    let mut m = b("SET_AGENT_STATE_REQ");
    m.set("InvokeID", invoke).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("AgentState", state).unwrap();
    m.set("EventReasonCode", reason).unwrap();
    m.text("AgentInstrument", "5001").unwrap();
    m.text("AgentID", "1001").unwrap();
    m.build()
}

#[test]
fn reason_codes_the_configured_desk_settings_require() {
    // Agent 1001 has desk settings 3, which require a reason to log out (not to go idle).
    let mut agents = b("CONFIG_AGENT_EVENT");
    agents.set("NumRecords", 2).unwrap();
    for (login, desk) in [("1000", 4), ("1001", 3)] {
        agents.number("RecordType", 1).unwrap();
        agents.number("FltPeripheralID", 5000).unwrap();
        agents.number("AgentType", 0).unwrap();
        agents.number("AgentDeskSettingsID", desk).unwrap();
        agents.text("LoginID", login).unwrap();
    }
    let mut desks = b("CONFIG_AGENT_DESK_SETTINGS_EVENT");
    desks.set("NumRecords", 2).unwrap();
    for (desk, mask) in [(3, 0x10), (4, 0x08)] {
        desks.number("RecordType", 1).unwrap();
        desks.number("AgentDeskSettingsID", desk).unwrap();
        desks.number("FltDeskSettingsMask", mask).unwrap();
    }
    let steps = |state: u64, reason: u64| {
        let mut s = opened(0xFFFF_FFFF, 0);
        s.push(Step::Msg(C, 100, agents.build()));
        s.push(Step::Msg(C, 110, desks.build()));
        s.push(Step::Msg(S, 200, set_state(2, state, reason)));
        s.push(Step::Msg(C, 210, inv("SET_AGENT_STATE_CONF", 2)));
        s
    };
    let r = run(steps(1, 0));
    let f = find(&r, "reason-code-missing");
    assert_eq!(f.frames, vec![5, 6]);
    assert_eq!((f.subject.agent.as_deref(), f.subject.invoke), (Some("1001"), Some(2)));
    assert!(f.message.contains("DESK_LOGOUT_REASON_REQUIRED_MASK"), "{}", f.message);
    // With a reason, or to NOT_READY (agent 1000's settings require that, not 1001's).
    assert!(!has(&run(steps(1, 5)), "reason-code-missing"));
    assert!(!has(&run(steps(2, 0)), "reason-code-missing"));
}

/// AGENT_PRE_CALL_EVENT (`abort`: AGENT_PRE_CALL_ABORT_EVENT) for router call key (1, `call`).
fn pre_call(call: u64, abort: bool) -> Vec<u8> {
    let mut m = b(if abort { "AGENT_PRE_CALL_ABORT_EVENT" } else { "AGENT_PRE_CALL_EVENT" });
    m.text("AgentInstrument", "5001").unwrap();
    m.number("RouterCallKeyDay", 1).unwrap();
    m.number("RouterCallKeyCallID", call).unwrap();
    m.number("RouterCallKeySequenceNumber", 1).unwrap();
    m.build()
}

#[test]
fn pre_call_aborts_of_calls_never_announced() {
    let steps = |announced: bool, at_ms: i64| {
        let mut s = opened(0xFFFF_FFFF, 0);
        if announced {
            s.push(Step::Msg(C, at_ms - 500, pre_call(9, false)));
        }
        s.push(Step::Msg(C, at_ms, pre_call(9, true)));
        s
    };
    let r = run(steps(false, 61_000));
    let f = find(&r, "pre-call-abort-unannounced");
    assert!(f.message.contains("RouterCallKeyCallID 9"), "{}", f.message);
    assert_eq!(f.subject.instrument.as_deref(), Some("5001"));
    assert!(!has(&run(steps(true, 61_000)), "pre-call-abort-unannounced"));
    // Within a minute of the session's start the announcement may predate the capture.
    assert!(!has(&run(steps(false, 30_000)), "pre-call-abort-unannounced"));
    // Nor on a session whose start was not captured.
    assert!(!has(&run_mid(vec![Step::Msg(C, 61_000, pre_call(9, true))]), "pre-call-abort-unannounced"));
}

/// A call-control request `name` naming, for each prefix ("", "Active", "Held", "Other"),
/// the connection of `call` at device 1001.
fn naming(name: &str, invoke: u64, connections: &[(&str, u64)]) -> Vec<u8> {
    let mut m = b(name);
    m.set("InvokeID", invoke).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    for &(prefix, call) in connections {
        m.set(format!("{prefix}ConnectionCallID").as_str(), call).unwrap();
        m.set(format!("{prefix}ConnectionDeviceIDType").as_str(), 0).unwrap();
        m.text(format!("{prefix}ConnectionDeviceID").as_str(), "1001").unwrap();
    }
    m.build()
}

/// The precondition findings of `steps`: rule, cause and sentence.
fn verdicts(steps: Vec<Step>) -> Vec<(&'static str, String, String)> {
    let r = run(steps);
    let rules = ["hold-already-held", "retrieve-not-held", "answer-not-alerting"];
    let found = r.findings.iter().filter(|f| rules.contains(&f.rule));
    found.map(|f| (f.rule, f.cause.clone(), f.message.clone())).collect()
}

/// The one finding of `v`: its rule and cause, and whether its sentence has `advice`.
fn one(v: &[(&'static str, String, String)], rule: &str, cause: &str, advice: &str) {
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!((v[0].0, v[0].1.as_str()), (rule, cause), "{v:?}");
    assert!(v[0].2.contains(advice), "{v:?}");
}

#[test]
fn the_other_call_control_requests_presume_their_states_too() {
    // Call 7 is held at 1001 (frame 5).
    let on_held = |req: Vec<u8>| {
        let mut s = held();
        s.push(Step::Msg(S, 300, req));
        s.push(Step::Msg(C, 310, control_failure(2)));
        verdicts(s)
    };
    one(
        &on_held(naming("CONSULTATION_CALL_REQ", 2, &[("Active", 7)])),
        "hold-already-held",
        "CONSULTATION_CALL_REQ: for a call connection already held",
        "CONSULTATION_CALL_REQ (InvokeID 2) for call 7 at device 1001 (peripheral 5000), which is held since frame 5: a consultation call puts the active call on hold",
    );
    one(
        &on_held(naming("ALTERNATE_CALL_REQ", 2, &[("Active", 7), ("Other", 8)])),
        "hold-already-held",
        "ALTERNATE_CALL_REQ: for a call connection already held",
        "alternating puts the active call on hold",
    );
    one(
        &on_held(naming("DEFLECT_CALL_REQ", 2, &[("", 7)])),
        "answer-not-alerting",
        "DEFLECT_CALL_REQ: for a call connection not alerting",
        "only an alerting connection can be deflected",
    );
    // Reconnecting to a held call, or alternating to it, is what they are for.
    assert!(on_held(naming("RECONNECT_CALL_REQ", 2, &[("Active", 8), ("Held", 7)])).is_empty());
    assert!(on_held(naming("ALTERNATE_CALL_REQ", 2, &[("Active", 8), ("Other", 7)])).is_empty());

    // Call 7 retrieved at 1001 (frame 6): connected, neither held nor alerting.
    let on_connected = |req: Vec<u8>| {
        let mut s = held();
        s.push(Step::Msg(C, 250, hold_ev(false)));
        s.push(Step::Msg(S, 300, req));
        s.push(Step::Msg(C, 310, control_failure(2)));
        verdicts(s)
    };
    one(
        &on_connected(naming("RECONNECT_CALL_REQ", 2, &[("Active", 8), ("Held", 7)])),
        "retrieve-not-held",
        "RECONNECT_CALL_REQ: for a call connection not held",
        "which is connected since frame 6: only a held connection can be retrieved",
    );
    one(
        &on_connected(naming("ALTERNATE_CALL_REQ", 2, &[("Active", 8), ("Other", 7)])),
        "retrieve-not-held",
        "ALTERNATE_CALL_REQ: for a call connection neither held nor alerting",
        "alternating retrieves a held call or answers an alerting one",
    );
    one(
        &on_connected(naming("ANSWER_CALL_REQ", 2, &[("", 7)])),
        "answer-not-alerting",
        "ANSWER_CALL_REQ: for a call connection not alerting",
        "only an alerting connection can be answered",
    );
    assert!(on_connected(naming("CONSULTATION_CALL_REQ", 2, &[("Active", 7)])).is_empty());
    // The held call's own requests, once more.
    one(
        &on_held(naming("HOLD_CALL_REQ", 2, &[("", 7)])),
        "hold-already-held",
        "HOLD_CALL_REQ: for a call connection already held",
        "it should retrieve, not hold again",
    );
    one(
        &on_connected(naming("RETRIEVE_CALL_REQ", 2, &[("Held", 7)])),
        "retrieve-not-held",
        "RETRIEVE_CALL_REQ: for a call connection not held",
        "only a held connection can be retrieved",
    );
}

#[test]
fn alternating_leaves_both_calls_in_flux() {
    // After ALTERNATE_CALL_REQ names call 7 as its other call (not refused), the call's
    // state is no longer known: a HOLD_CALL_REQ right after it is not judged.
    let mut s = held();
    s.push(Step::Msg(S, 300, naming("ALTERNATE_CALL_REQ", 2, &[("Active", 8), ("Other", 7)])));
    s.push(Step::Msg(C, 310, inv("ALTERNATE_CALL_CONF", 2)));
    s.push(Step::Msg(S, 400, hold_req(3)));
    s.push(Step::Msg(C, 410, control_failure(3)));
    assert!(verdicts(s).is_empty());
}

fn register(invoke: u64, confirm: bool, service: u64) -> Vec<u8> {
    let mut m = b(if confirm { "REGISTER_SERVICE_CONF" } else { "REGISTER_SERVICE_REQ" });
    m.set("InvokeID", invoke).unwrap();
    if confirm {
        m.set("RegisteredServiceID", service).unwrap();
    } else {
        m.text("ServiceName", "callback").unwrap();
    }
    m.build()
}

fn unregister(invoke: u64, service: u64) -> Vec<u8> {
    let mut m = b("UNREGISTER_SERVICE_REQ");
    m.set("InvokeID", invoke).unwrap();
    m.set("RegisteredServiceID", service).unwrap();
    m.build()
}

#[test]
fn a_server_application_unregisters_before_it_closes() {
    // Frames (after the handshake's): REGISTER_SERVICE_REQ 4 and 6, their confirms 5 and 7.
    let steps = |unregistered: Option<u64>| {
        let mut s = opened(0xFFFF_FFFF, 0);
        s.push(Step::Msg(S, 100, register(2, false, 0)));
        s.push(Step::Msg(C, 110, register(2, true, 77)));
        s.push(Step::Msg(S, 120, register(3, false, 0)));
        s.push(Step::Msg(C, 130, register(3, true, 78)));
        if let Some(id) = unregistered {
            s.push(Step::Msg(S, 140, unregister(4, id)));
        }
        s.push(Step::Msg(S, 200, inv("CLOSE_REQ", 5)));
        s.push(Step::Msg(C, 210, inv("CLOSE_CONF", 5)));
        s
    };
    let r = run(steps(None));
    let f = find(&r, "unregister-missing");
    assert_eq!(f.frames, vec![4, 6, 8]);
    assert_eq!((f.subject.invoke, f.subject.request), (Some(5), Some("CLOSE_REQ")));
    assert!(f.message.contains("RegisteredServiceID 77, 78 still registered"), "{}", f.message);
    // One unregistered: the other is still named.
    let r = run(steps(Some(77)));
    let f = find(&r, "unregister-missing");
    assert!(f.message.contains("RegisteredServiceID 78 still"), "{}", f.message);
    assert_eq!(f.frames, vec![6, 9]);
    // A confirm that answers no REGISTER_SERVICE_REQ of the session registers nothing.
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(C, 110, register(2, true, 77)));
    s.push(Step::Msg(S, 200, inv("CLOSE_REQ", 5)));
    assert!(!has(&run(s), "unregister-missing"));
    // A refused registration registers nothing either.
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(S, 100, register(2, false, 0)));
    s.push(Step::Msg(C, 110, failure_conf(2, 12)));
    s.push(Step::Msg(S, 200, inv("CLOSE_REQ", 5)));
    assert!(!has(&run(s), "unregister-missing"));
}

/// TRANSFER_CALL_REQ joining held call 7 and active call 8.
fn transfer(invoke: u64) -> Vec<u8> {
    let mut m = b("TRANSFER_CALL_REQ");
    m.set("InvokeID", invoke).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("ActiveConnectionCallID", 8).unwrap();
    m.set("HeldConnectionCallID", 7).unwrap();
    m.set("ActiveConnectionDeviceIDType", 0).unwrap();
    m.set("HeldConnectionDeviceIDType", 0).unwrap();
    m.text("ActiveConnectionDeviceID", "1001").unwrap();
    m.text("HeldConnectionDeviceID", "1001").unwrap();
    m.build()
}

/// CALL_ESTABLISHED_EVENT of `call` at `device`, answered there.
fn established(call: u64, device: &str) -> Vec<u8> {
    let mut m = call_event("CALL_ESTABLISHED_EVENT", call, device);
    m.set("LocalConnectionState", 3).unwrap();
    m.text("AnsweringDeviceID", device).unwrap();
    m.build()
}

#[test]
fn a_transfer_joins_calls_with_a_device_in_common() {
    // Held call 7 at 1001 (frames 4-5); call 8 at `other` (frames 6-7); the request 8.
    let steps = |other: &str| {
        let mut s = held();
        s.push(Step::Msg(C, 250, ev("BEGIN_CALL_EVENT", 8)));
        s.push(Step::Msg(C, 260, established(8, other)));
        s.push(Step::Msg(S, 300, transfer(2)));
        s.push(Step::Msg(C, 310, control_failure(2)));
        s
    };
    let r = run(steps("2002"));
    let f = find(&r, "transfer-no-common-device");
    assert_eq!(f.frames, vec![5, 7, 8]);
    assert_eq!((f.subject.call, f.subject.invoke, f.subject.peripheral), (Some(8), Some(2), Some(5000)));
    assert!(
        f.message.contains("held call 7 (devices 1001) and active call 8 (devices 2002)"),
        "{}",
        f.message
    );
    // A device in common.
    assert!(!has(&run(steps("1001")), "transfer-no-common-device"));
    // The held call's state in doubt (a request for it not answered yet).
    let mut s = held();
    s.push(Step::Msg(C, 250, ev("BEGIN_CALL_EVENT", 8)));
    s.push(Step::Msg(C, 260, established(8, "2002")));
    s.push(Step::Msg(S, 270, hold_req(3)));
    s.push(Step::Msg(S, 300, transfer(2)));
    assert!(!has(&run(s), "transfer-no-common-device"));
}

/// AGENT_DESK_SETTINGS_REQ for `agent` (or none named) and its confirm with `mask`.
fn desk(invoke: u64, agent: Option<&str>, mask: u64) -> [Vec<u8>; 2] {
    let mut q = b("AGENT_DESK_SETTINGS_REQ");
    q.set("InvokeID", invoke).unwrap();
    q.set("PeripheralID", 5000).unwrap();
    if let Some(a) = agent {
        q.text("AgentID", a).unwrap();
    }
    let mut c = b("AGENT_DESK_SETTINGS_CONF");
    c.set("InvokeID", invoke).unwrap();
    c.set("PeripheralID", 5000).unwrap();
    c.set("DeskSettingsMask", mask).unwrap();
    [q.build(), c.build()]
}

#[test]
fn reason_codes_the_agents_own_desk_settings_require() {
    // DESK_IDLE_REASON_REQUIRED_MASK (0x08) for agent 1001: frames 4 and 5, the request 6.
    let steps = |agent: Option<&str>, mask: u64, state: u64, reason: u64| {
        let mut s = opened(0xFFFF_FFFF, 0);
        let [q, c] = desk(2, agent, mask);
        s.push(Step::Msg(S, 100, q));
        s.push(Step::Msg(C, 110, c));
        s.push(Step::Msg(S, 200, set_state(3, state, reason)));
        s.push(Step::Msg(C, 210, inv("SET_AGENT_STATE_CONF", 3)));
        s
    };
    let r = run(steps(Some("1001"), 0x08, 2, 0));
    let f = find(&r, "reason-code-missing");
    assert_eq!(f.frames, vec![5, 6]);
    assert_eq!((f.subject.agent.as_deref(), f.subject.invoke), (Some("1001"), Some(3)));
    assert!(f.message.contains("NOT_READY (idle)") && f.message.contains("DESK_IDLE_REASON_REQUIRED_MASK"));
    // Another agent's settings; settings that require nothing of NOT_READY; a reason given.
    assert!(!has(&run(steps(Some("1002"), 0x08, 2, 0)), "reason-code-missing"));
    assert!(!has(&run(steps(Some("1001"), 0x10, 2, 0)), "reason-code-missing"));
    assert!(!has(&run(steps(Some("1001"), 0x08, 2, 7)), "reason-code-missing"));
    // Logging out with the logout flag.
    let r = run(steps(Some("1001"), 0x10, 1, 0));
    assert!(find(&r, "reason-code-missing").message.contains("DESK_LOGOUT_REASON_REQUIRED_MASK"));
    // A request that names no agent is about the session's agent, unknown here.
    assert!(!has(&run(steps(None, 0x08, 2, 0)), "reason-code-missing"));
    // A confirm that answers another request sets nothing.
    let mut s = opened(0xFFFF_FFFF, 0);
    let [q, _] = desk(2, Some("1001"), 0x08);
    let [_, c] = desk(9, Some("1001"), 0x08);
    s.push(Step::Msg(S, 100, q));
    s.push(Step::Msg(C, 110, c));
    s.push(Step::Msg(S, 200, set_state(3, 2, 0)));
    assert!(!has(&run(s), "reason-code-missing"));
}

#[test]
fn events_set_and_forget_the_call_states() {
    // Call 7 held at 1001 (frame 5), then `events`, then HOLD_CALL_REQ for it.
    let hold_after = |events: Vec<Vec<u8>>| {
        let mut s = held();
        for (i, e) in events.into_iter().enumerate() {
            s.push(Step::Msg(C, 250 + i as i64, e));
        }
        s.push(Step::Msg(S, 300, hold_req(2)));
        s.push(Step::Msg(C, 310, control_failure(2)));
        verdicts(s)
    };
    assert_eq!(hold_after(vec![]).len(), 1, "held: a hold is judged");
    // A transfer or conference naming the call, its end, or a new call id: no longer known.
    for (name, first, second) in
        [("CALL_TRANSFERRED_EVENT", 7, 9), ("CALL_CONFERENCED_EVENT", 9, 7), ("CALL_TRANSFERRED_EVENT", 9, 9)]
    {
        let mut m = b(name);
        m.set("PeripheralID", 5000).unwrap();
        m.set("PrimaryCallID", first).unwrap();
        m.set("SecondaryCallID", second).unwrap();
        assert_eq!(hold_after(vec![m.build()]).len(), usize::from(first != 7 && second != 7), "{name}");
    }
    assert!(hold_after(vec![ev("END_CALL_EVENT", 7)]).is_empty());
    let update = |new: u64| {
        let mut m = call_event("CALL_DATA_UPDATE_EVENT", 7, "1001");
        m.set("NewConnectionCallID", new).unwrap();
        m.build()
    };
    assert!(hold_after(vec![update(8)]).is_empty(), "renamed");
    assert_eq!(hold_after(vec![update(7)]).len(), 1, "the same id: still held");
    // Another call's end changes nothing.
    assert_eq!(hold_after(vec![ev("END_CALL_EVENT", 8)]).len(), 1);
    // Cleared: every connection gone (a hold of it is not "already held").
    let mut cleared = call_event("CALL_CLEARED_EVENT", 7, "1001");
    cleared.set("LocalConnectionState", 0).unwrap();
    assert!(hold_after(vec![cleared.build()]).is_empty());
    // An event of the call at another device: this connection's state is its
    // LocalConnectionState (connected), or unknown when that is no state (LCS_NONE).
    let elsewhere = |lcs: u64| {
        let mut m = call_event("CALL_HELD_EVENT", 7, "1001");
        m.set("LocalConnectionState", lcs).unwrap();
        m.text("HoldingDeviceID", "2002").unwrap();
        m.build()
    };
    assert!(hold_after(vec![elsewhere(3)]).is_empty(), "connected by its LocalConnectionState");
    assert!(hold_after(vec![elsewhere(0xFFFF)]).is_empty(), "LCS_NONE: no longer known");
    assert_eq!(hold_after(vec![elsewhere(4)]).len(), 1, "still held by its LocalConnectionState");
    // An event without the connection's device: the call's state is no longer known.
    let mut m = b("CALL_RETRIEVED_EVENT");
    m.set("PeripheralID", 5000).unwrap();
    m.set("ConnectionCallID", 7).unwrap();
    m.set("ConnectionDeviceIDType", 0).unwrap();
    m.set("LocalConnectionState", 4).unwrap();
    assert!(hold_after(vec![m.build()]).is_empty());
}

#[test]
fn pre_call_announcements_kept_unreadable_and_forgotten() {
    let aborted = |steps: Vec<Step>, settings: Settings| {
        let r = run_with(ConnStart::Handshake, steps, settings);
        r.findings.iter().filter(|f| f.rule == "pre-call-abort-unannounced").count()
    };
    let abort_at = |ms: i64| {
        let mut s = opened(0xFFFF_FFFF, 0);
        s.push(Step::Msg(C, ms, pre_call(9, true)));
        s
    };
    // The horizon: a minute after the session's first message.
    assert_eq!(aborted(abort_at(60_000), Settings::default()), 1);
    assert_eq!(aborted(abort_at(59_999), Settings::default()), 0);
    let r = run(abort_at(61_000));
    assert!(find(&r, "pre-call-abort-unannounced").message.contains("captured for 61 s before it"));
    // An announcement whose call cannot be read (AGENT_LEGACY_PRE_CALL_EVENT, whose layout
    // no source gives) may be of any call: no abort is said unannounced after it.
    let mut legacy = vec![0, 0, 0, 4, 0, 0, 0, 189];
    legacy.extend_from_slice(&[0, 0, 0, 1]);
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(C, 1_000, legacy));
    s.push(Step::Msg(C, 61_000, pre_call(9, true)));
    assert_eq!(aborted(s, Settings::default()), 0);
    // At most max_ended_calls announcements are kept, the oldest forgotten first.
    let announced_then_aborted = |max: usize| {
        let mut s = opened(0xFFFF_FFFF, 0);
        s.push(Step::Msg(C, 1_000, pre_call(9, false)));
        s.push(Step::Msg(C, 1_100, pre_call(10, false)));
        s.push(Step::Msg(C, 1_200, pre_call(10, false)));
        s.push(Step::Msg(C, 61_000, pre_call(9, true)));
        aborted(s, Settings { max_ended_calls: max, ..Settings::default() })
    };
    assert_eq!(announced_then_aborted(1), 1, "call 9 forgotten for call 10");
    assert_eq!(announced_then_aborted(2), 0, "a repeated announcement takes no room");
}

#[test]
fn a_verdict_stands_once_the_server_speaks_again() {
    // The server's next message settles the verdict: a loss after it changes nothing.
    let mut s = held();
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, control_failure(2)));
    s.push(Step::Gap(C, 400));
    s.push(Step::Msg(C, 410, ev("CALL_CLEARED_EVENT", 7)));
    assert!(has(&run(s), "hold-already-held"));
    // The client's next message does not: a gap in the server's stream before the server
    // speaks again drops the verdict.
    let mut s = held();
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(S, 305, inv("HEARTBEAT_REQ", 3)));
    s.push(Step::Gap(C, 307));
    s.push(Step::Msg(C, 310, control_failure(2)));
    assert!(!has(&run(s), "hold-already-held"));
    // A request that does not control calls leaves the call's state known.
    let mut s = held();
    let mut data = b("SET_CALL_DATA_REQ");
    data.set("InvokeID", 3).unwrap();
    data.set("PeripheralID", 5000).unwrap();
    data.set("ConnectionCallID", 7).unwrap();
    data.set("ConnectionDeviceIDType", 0).unwrap();
    data.text("ConnectionDeviceID", "1001").unwrap();
    s.push(Step::Msg(S, 250, data.build()));
    s.push(Step::Msg(C, 260, inv("SET_CALL_DATA_CONF", 3)));
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, control_failure(2)));
    assert!(has(&run(s), "hold-already-held"));
}

#[test]
fn the_lifecycle_rules_read_each_message_from_its_own_side() {
    // Announced by the client: no announcement (a server event sent the wrong way).
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(S, 1_000, pre_call(9, false)));
    s.push(Step::Msg(C, 61_000, pre_call(9, true)));
    assert!(has(&run(s), "pre-call-abort-unannounced"));
    // An abort sent by the client is not judged.
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(S, 61_000, pre_call(9, true)));
    assert!(!has(&run(s), "pre-call-abort-unannounced"));
    // Desk settings: the server's copy of a request, and the client's copy of a confirm,
    // are neither the request nor its answer.
    let [q, c] = desk(2, Some("1001"), 0x08);
    let [q_other, c_other] = desk(2, Some("1002"), 0x08);
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(C, 90, q_other));
    s.push(Step::Msg(S, 100, q.clone()));
    s.push(Step::Msg(C, 110, c.clone()));
    s.push(Step::Msg(S, 200, set_state(3, 2, 0)));
    assert!(has(&run(s), "reason-code-missing"), "the settings are agent 1001's");
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(S, 100, q));
    s.push(Step::Msg(S, 105, c_other));
    s.push(Step::Msg(C, 110, c));
    s.push(Step::Msg(S, 200, set_state(3, 2, 0)));
    assert!(has(&run(s), "reason-code-missing"), "the request still waits for its answer");
    // SET_AGENT_STATE_REQ is the client's: one from the server is not judged.
    let mut s = opened(0xFFFF_FFFF, 0);
    let [q, c] = desk(2, Some("1001"), 0x08);
    s.push(Step::Msg(S, 100, q));
    s.push(Step::Msg(C, 110, c));
    s.push(Step::Msg(C, 200, set_state(3, 2, 0)));
    assert!(!has(&run(s), "reason-code-missing"));
    // Configuration records are the server's.
    let mut agents = b("CONFIG_AGENT_EVENT");
    agents.set("NumRecords", 1).unwrap();
    agents.number("RecordType", 1).unwrap();
    agents.number("FltPeripheralID", 5000).unwrap();
    agents.number("AgentType", 0).unwrap();
    agents.number("AgentDeskSettingsID", 3).unwrap();
    agents.text("LoginID", "1001").unwrap();
    let mut desks = b("CONFIG_AGENT_DESK_SETTINGS_EVENT");
    desks.set("NumRecords", 1).unwrap();
    desks.number("RecordType", 1).unwrap();
    desks.number("AgentDeskSettingsID", 3).unwrap();
    desks.number("FltDeskSettingsMask", 0x08).unwrap();
    for (agents_from, desks_from, found) in [(C, C, true), (S, C, false), (C, S, false)] {
        let mut s = opened(0xFFFF_FFFF, 0);
        s.push(Step::Msg(agents_from, 100, agents.build()));
        s.push(Step::Msg(desks_from, 110, desks.build()));
        s.push(Step::Msg(S, 200, set_state(3, 2, 0)));
        assert_eq!(has(&run(s), "reason-code-missing"), found, "{agents_from:?} {desks_from:?}");
    }
    // UNREGISTER_SERVICE_REQ and CLOSE_REQ are the client's.
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(S, 100, register(2, false, 0)));
    s.push(Step::Msg(C, 110, register(2, true, 77)));
    s.push(Step::Msg(C, 140, unregister(4, 77)));
    s.push(Step::Msg(C, 150, inv("CLOSE_REQ", 6)));
    s.push(Step::Msg(S, 200, inv("CLOSE_REQ", 5)));
    let r = run(s);
    assert_eq!(find(&r, "unregister-missing").frames, vec![4, 8]);
}

#[test]
fn a_verdict_still_waiting_stands_at_the_connection_s_end() {
    let mut s = held();
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::End(ConnEnd::Fin, 400));
    assert!(has(&run(s), "hold-already-held"));
}

#[test]
fn a_pre_call_abort_is_judged_on_an_open_session_a_minute_after_its_start() {
    // Never opened (OPEN_REQ unanswered): not judged.
    let s = vec![Step::Msg(S, 0, open_req(1, 0xFFFF_FFFF, 0)), Step::Msg(C, 61_000, pre_call(9, true))];
    assert!(!has(&run(s), "pre-call-abort-unannounced"));
    // The minute counts from the connection's first sight, not from the capture's start.
    let steps = |abort_ms: i64| {
        vec![
            Step::Msg(S, 100_000, open_req(1, 0xFFFF_FFFF, 0)),
            Step::Msg(C, 100_010, open_conf(1, 0x10, 1, 0)),
            Step::Msg(C, abort_ms, pre_call(9, true)),
        ]
    };
    let judged = |abort_ms| {
        has(
            &run_from(100_000, ConnStart::Handshake, steps(abort_ms), Settings::default()),
            "pre-call-abort-unannounced",
        )
    };
    assert!(!judged(130_000));
    assert!(judged(160_000));
}

#[test]
fn desk_settings_are_kept_for_at_most_max_agents() {
    let one = Settings { max_agents: 1, ..Settings::default() };
    // AGENT_DESK_SETTINGS_CONF: 1001's settings kept (and replaced), 1002's not.
    let steps = |second: &str, mask: u64| {
        let mut s = opened(0xFFFF_FFFF, 0);
        for (i, (agent, m)) in [("1001", 0x10), (second, mask)].into_iter().enumerate() {
            let [q, c] = desk(2 + i as u64, Some(agent), m);
            s.push(Step::Msg(S, 100 + 20 * i as i64, q));
            s.push(Step::Msg(C, 110 + 20 * i as i64, c));
        }
        s
    };
    let found = |mut s: Vec<Step>, agent: &str| {
        let mut q = b("SET_AGENT_STATE_REQ");
        q.set("InvokeID", 9).unwrap();
        q.set("AgentState", 2).unwrap();
        q.text("AgentID", agent).unwrap();
        s.push(Step::Msg(S, 200, q.build()));
        has(&run_with(ConnStart::Handshake, s, one.clone()), "reason-code-missing")
    };
    assert!(found(steps("1001", 0x08), "1001"), "1001's settings replaced");
    assert!(!found(steps("1002", 0x08), "1002"), "no room for 1002");
    // The configuration: the agents' desk settings ids and the settings of each id.
    let config = |logins: &[(&str, u64)], desks: &[(u64, u64)]| {
        let mut agents = b("CONFIG_AGENT_EVENT");
        agents.set("NumRecords", logins.len() as u64).unwrap();
        for &(login, id) in logins {
            agents.number("RecordType", 1).unwrap();
            agents.number("AgentDeskSettingsID", id).unwrap();
            agents.text("LoginID", login).unwrap();
        }
        let mut d = b("CONFIG_AGENT_DESK_SETTINGS_EVENT");
        d.set("NumRecords", desks.len() as u64).unwrap();
        for &(id, mask) in desks {
            d.number("RecordType", 1).unwrap();
            d.number("AgentDeskSettingsID", id).unwrap();
            d.number("FltDeskSettingsMask", mask).unwrap();
        }
        let mut s = opened(0xFFFF_FFFF, 0);
        s.push(Step::Msg(C, 100, agents.build()));
        s.push(Step::Msg(C, 110, d.build()));
        s
    };
    assert!(found(config(&[("1001", 3), ("1001", 4)], &[(4, 0x08)]), "1001"), "an agent's id replaced");
    assert!(!found(config(&[("1001", 3), ("1002", 4)], &[(4, 0x08)]), "1002"), "no room for 1002");
    assert!(found(config(&[("1001", 3)], &[(3, 0), (3, 0x08)]), "1001"), "an id's settings replaced");
    assert!(!found(config(&[("1001", 4)], &[(3, 0), (4, 0x08)]), "1001"), "no room for id 4");
}

#[test]
fn each_call_event_sets_its_state_at_its_own_device() {
    // Call 7 held at 1001 (frame 5), then `event` at 1001 with no LocalConnectionState
    // state (LCS_NONE: the event's own change applies), then RETRIEVE_CALL_REQ, which
    // presumes a held connection.
    let retrieve_after = |name: &str, device_field: Option<&str>| {
        let mut m = call_event(name, 7, "1001");
        m.set("LocalConnectionState", 0xFFFF).unwrap();
        if let Some(f) = device_field {
            m.text(f, "1001").unwrap();
        }
        let mut s = held();
        s.push(Step::Msg(C, 250, m.build()));
        s.push(Step::Msg(S, 300, naming("RETRIEVE_CALL_REQ", 2, &[("Held", 7)])));
        s.push(Step::Msg(C, 310, control_failure(2)));
        verdicts(s).into_iter().map(|v| v.2).collect::<Vec<_>>()
    };
    for (name, field, state) in [
        ("CALL_DELIVERED_EVENT", Some("AlertingDeviceID"), Some("alerting")),
        ("CALL_ESTABLISHED_EVENT", Some("AnsweringDeviceID"), Some("connected")),
        ("CALL_HELD_EVENT", Some("HoldingDeviceID"), None),
        ("CALL_RETRIEVED_EVENT", Some("RetrievingDeviceID"), Some("connected")),
        ("CALL_CONNECTION_CLEARED_EVENT", Some("ReleasingDeviceID"), Some("cleared")),
        ("CALL_CLEARED_EVENT", None, Some("cleared")),
    ] {
        let v = retrieve_after(name, field);
        match state {
            Some(s) => {
                assert_eq!(v.len(), 1, "{name}: {v:?}");
                assert!(v[0].contains(&format!("which is {s} since frame 6")), "{name}: {v:?}");
            }
            None => assert!(v.is_empty(), "{name}: {v:?}"),
        }
    }
    // An event that changes no state by itself sets the connection's LocalConnectionState.
    let mut m = call_event("CALL_ORIGINATED_EVENT", 7, "1001");
    m.set("LocalConnectionState", 3).unwrap();
    let mut s = held();
    s.push(Step::Msg(C, 250, m.build()));
    s.push(Step::Msg(S, 300, naming("RETRIEVE_CALL_REQ", 2, &[("Held", 7)])));
    assert_eq!(verdicts(s).len(), 1, "connected by CALL_ORIGINATED_EVENT's LocalConnectionState");
}

#[test]
fn at_most_max_live_calls_are_followed() {
    // Calls 7 and 8 alerting at 1001; an ANSWER_CALL_REQ of call 8 while it is connected.
    let steps = |max: usize| {
        let mut s = opened_control();
        for call in [7, 8] {
            let mut m = call_event("CALL_DELIVERED_EVENT", call, "1001");
            m.set("LocalConnectionState", 2).unwrap();
            m.text("AlertingDeviceID", "1001").unwrap();
            s.push(Step::Msg(C, 100 + call as i64, m.build()));
        }
        s.push(Step::Msg(C, 200, established(8, "1001")));
        s.push(Step::Msg(S, 300, naming("ANSWER_CALL_REQ", 2, &[("", 8)])));
        s.push(Step::Msg(C, 310, control_failure(2)));
        let settings = Settings { max_live_calls: max, ..Settings::default() };
        run_with(ConnStart::Handshake, s, settings)
            .findings
            .iter()
            .filter(|f| f.rule == "answer-not-alerting")
            .count()
    };
    assert_eq!(steps(2), 1);
    assert_eq!(steps(1), 0, "call 8 found no room");
}

#[test]
fn verdicts_wait_together_and_the_oldest_goes_first_past_the_limit() {
    // Two held calls, a hold of each, then a gap in the server's stream: both dropped.
    let mut s = opened_control();
    for call in [7, 8] {
        s.push(Step::Msg(C, 100 + call as i64, held_at_1001(call)));
    }
    s.push(Step::Msg(S, 300, naming("HOLD_CALL_REQ", 2, &[("", 7)])));
    s.push(Step::Msg(S, 301, naming("HOLD_CALL_REQ", 3, &[("", 8)])));
    s.push(Step::Gap(C, 305));
    s.push(Step::Msg(C, 310, control_failure(2)));
    assert!(verdicts(s).is_empty());
    // Past MAX_WAITING the oldest is decided at once: it stands despite the gap after.
    let mut s = opened_control();
    let n = MAX_WAITING as u64 + 1;
    for call in 0..n {
        s.push(Step::Msg(C, 100 + call as i64, held_at_1001(100 + call)));
    }
    let settings = Settings { max_live_calls: 1_000, ..Settings::default() };
    for call in 0..n {
        s.push(Step::Msg(S, 1_000 + call as i64, naming("HOLD_CALL_REQ", 2 + call, &[("", 100 + call)])));
    }
    s.push(Step::Gap(C, 2_000));
    s.push(Step::Msg(C, 2_010, control_failure(2)));
    let r = run_with(ConnStart::Handshake, s, settings);
    let held: Vec<_> = r.findings.iter().filter(|f| f.rule == "hold-already-held").collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].subject.call, Some(100));
}

#[test]
fn a_transfer_is_not_judged_on_calls_whose_devices_are_not_all_known() {
    // Held call 7 at 1001; active call 8 at 2002 with `named` more devices its events named.
    let steps = |named: usize, cleared_active: bool| {
        let mut s = held();
        s.push(Step::Msg(C, 250, ev("BEGIN_CALL_EVENT", 8)));
        if !cleared_active {
            s.push(Step::Msg(C, 260, established(8, "2002")));
        }
        for i in 0..named {
            let mut m = call_event("CALL_DELIVERED_EVENT", 8, "2002");
            m.set("LocalConnectionState", 3).unwrap();
            m.text("AlertingDeviceID", "2002").unwrap();
            m.text("CallingDeviceID", &format!("7{i:03}")).unwrap();
            s.push(Step::Msg(C, 270 + i as i64, m.build()));
        }
        if cleared_active {
            let mut m = call_event("CALL_CONNECTION_CLEARED_EVENT", 8, "2002");
            m.set("LocalConnectionState", 0).unwrap();
            m.text("ReleasingDeviceID", "2002").unwrap();
            s.push(Step::Msg(C, 290, m.build()));
        }
        s.push(Step::Msg(S, 300, transfer(2)));
        s.push(Step::Msg(C, 310, control_failure(2)));
        has(&run(s), "transfer-no-common-device")
    };
    assert!(steps(MAX_DEVICES_PER_CALL - 2, false), "a call's devices all known");
    assert!(!steps(MAX_DEVICES_PER_CALL, false), "the active call names as many devices as are kept");
    // The active call's only connection cleared, no device named: nothing to compare.
    assert!(!steps(0, true));
}

#[test]
fn registrations_are_kept_per_request_and_at_most_max_registered() {
    let close = |mut s: Vec<Step>| {
        s.push(Step::Msg(S, 5_000, inv("CLOSE_REQ", 999)));
        run(s).findings.into_iter().find(|f| f.rule == "unregister-missing")
    };
    // Two registrations outstanding at once.
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(S, 100, register(2, false, 0)));
    s.push(Step::Msg(S, 101, register(3, false, 0)));
    s.push(Step::Msg(C, 110, register(2, true, 77)));
    s.push(Step::Msg(C, 111, register(3, true, 78)));
    let f = close(s).expect("both registered");
    assert!(f.message.contains("RegisteredServiceID 77, 78 still"), "{}", f.message);
    // At most MAX_REGISTERED.
    let mut s = opened(0xFFFF_FFFF, 0);
    for i in 0..=MAX_REGISTERED as u64 {
        s.push(Step::Msg(S, 100 + 2 * i as i64, register(2 + i, false, 0)));
        s.push(Step::Msg(C, 101 + 2 * i as i64, register(2 + i, true, 1_000 + i)));
    }
    let f = close(s).expect("registered");
    assert_eq!(f.frames.len(), MAX_REGISTERED + 1, "each kept registration's request and the close");
    assert!(f.message.contains(&format!("{} still", 1_000 + MAX_REGISTERED as u64 - 1)), "{}", f.message);
    assert!(!f.message.contains(&format!("{}", 1_000 + MAX_REGISTERED as u64)), "{}", f.message);
}

#[test]
fn a_registration_the_server_sends_is_not_the_client_s() {
    // MAX_REGISTERED requests outstanding, then a REGISTER_SERVICE_REQ from the server
    // (which takes no room among them), then every confirm.
    let mut s = opened(0xFFFF_FFFF, 0);
    let n = MAX_REGISTERED as u64;
    for i in 0..n {
        s.push(Step::Msg(S, 100 + i as i64, register(2 + i, false, 0)));
    }
    s.push(Step::Msg(C, 500, register(999, false, 0)));
    for i in 0..n {
        s.push(Step::Msg(C, 600 + i as i64, register(2 + i, true, 1_000 + i)));
    }
    s.push(Step::Msg(S, 5_000, inv("CLOSE_REQ", 998)));
    let r = run(s);
    let f = find(&r, "unregister-missing");
    assert!(f.message.contains("RegisteredServiceID 1000, 1001,"), "{}", f.message);
    assert_eq!(f.frames.len(), MAX_REGISTERED + 1);
}

#[test]
fn a_hold_event_at_its_own_device_holds_the_connection() {
    // Call 7 retrieved at 1001, then CALL_HELD_EVENT held at 1001 with LCS_NONE: held by
    // the event itself, so a hold is judged.
    let mut m = call_event("CALL_HELD_EVENT", 7, "1001");
    m.set("LocalConnectionState", 0xFFFF).unwrap();
    m.text("HoldingDeviceID", "1001").unwrap();
    let mut s = held();
    s.push(Step::Msg(C, 250, hold_ev(false)));
    s.push(Step::Msg(C, 260, m.build()));
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 310, control_failure(2)));
    let v = verdicts(s);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].2.contains("which is held since frame 7"), "{v:?}");
}

#[test]
fn a_confirm_of_another_request_with_a_registration_s_invoke_registers_nothing() {
    // REGISTER_SERVICE_REQ, then HEARTBEAT_REQ reusing its InvokeID: the confirm answers
    // the heartbeat (the request outstanding under that id), not the registration.
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(S, 100, register(2, false, 0)));
    s.push(Step::Msg(S, 101, inv("HEARTBEAT_REQ", 2)));
    s.push(Step::Msg(C, 111, register(2, true, 77)));
    s.push(Step::Msg(S, 5_000, inv("CLOSE_REQ", 9)));
    let r = run(s);
    assert!(has(&r, "invoke-reused"));
    assert!(!has(&r, "unregister-missing"));
}

#[test]
fn answers_sent_by_the_client_answer_nothing_of_the_client_s() {
    // A REGISTER_SERVICE_CONF from the client (answering a request the server sent with the
    // same InvokeID) registers nothing; the server's confirm registers 77.
    let mut s = opened(0xFFFF_FFFF, 0);
    s.push(Step::Msg(S, 100, register(2, false, 0)));
    s.push(Step::Msg(C, 101, register(2, false, 0)));
    s.push(Step::Msg(S, 102, register(2, true, 55)));
    s.push(Step::Msg(C, 110, register(2, true, 77)));
    s.push(Step::Msg(S, 5_000, inv("CLOSE_REQ", 9)));
    let r = run(s);
    let f = find(&r, "unregister-missing");
    assert!(f.message.contains("RegisteredServiceID 77 still"), "{}", f.message);
    // A CONTROL_FAILURE_CONF from the client does not refuse the client's HOLD_CALL_REQ:
    // call 7 stays in doubt, and the next hold is not judged.
    let mut s = held();
    s.push(Step::Msg(S, 300, hold_req(2)));
    s.push(Step::Msg(C, 301, hold_req(2)));
    s.push(Step::Msg(S, 302, control_failure(2)));
    s.push(Step::Msg(S, 400, hold_req(3)));
    s.push(Step::Msg(C, 410, control_failure(3)));
    assert_eq!(verdicts(s).len(), 1, "only the first hold is judged");
}

#[test]
fn a_call_cleared_without_its_local_connection_state_clears_the_call() {
    // CALL_CLEARED_EVENT cut after ConnectionCallID (no LocalConnectionState, no device).
    let mut cleared = ev("CALL_CLEARED_EVENT", 7);
    cleared.truncate(24);
    cleared[..4].copy_from_slice(&16u32.to_be_bytes());
    let mut s = held();
    s.push(Step::Msg(C, 250, cleared));
    s.push(Step::Msg(S, 300, naming("RETRIEVE_CALL_REQ", 2, &[("Held", 7)])));
    s.push(Step::Msg(C, 310, control_failure(2)));
    let v = verdicts(s);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].2.contains("which is cleared since frame 6"), "{v:?}");
}
