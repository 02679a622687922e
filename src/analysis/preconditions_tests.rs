//! The call-state preconditions over hand-made event streams: a request judged against
//! the state the session's events set, and never after a loss, on a mid-stream start, or
//! while an earlier request for the call may still be changing it.

use super::*;

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

#[test]
fn a_server_application_unregisters_before_it_closes() {
    // Frames (after the handshake's): REGISTER_SERVICE_REQ 4 and 6, their confirms 5 and 7.
    let steps = |unregister: Option<u64>| {
        let mut s = opened(0xFFFF_FFFF, 0);
        s.push(Step::Msg(S, 100, register(2, false, 0)));
        s.push(Step::Msg(C, 110, register(2, true, 77)));
        s.push(Step::Msg(S, 120, register(3, false, 0)));
        s.push(Step::Msg(C, 130, register(3, true, 78)));
        if let Some(id) = unregister {
            let mut u = b("UNREGISTER_SERVICE_REQ");
            u.set("InvokeID", 4).unwrap();
            u.set("RegisteredServiceID", id).unwrap();
            s.push(Step::Msg(S, 140, u.build()));
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
