//! The service and mask rules over hand-made sessions, case by case: which masks judge an
//! event (the session's, a monitor's, none), how a mask change takes effect, the call
//! variables a registration leaves out, configuration update blocks, the snapshot of
//! another device, and the sentinels and either-or fields of single requests.

use super::presence_tests::{monitor, user_message};
use super::*;
use crate::cti::spec::values::agent_state::{AGENT_STATE_AVAILABLE, AGENT_STATE_NOT_READY};
use crate::cti::spec::values::call_msg_mask::{CALL_DELIVERED_MASK, CALL_HELD_MASK};
use crate::cti::spec::values::config_mask::{AGENT_INFORMATION, SERVICE_INFORMATION};
use crate::cti::spec::values::config_type::UNSOLICITED;
use crate::cti::spec::values::service_mask::{
    CTI_SERVICE_ALL_EVENTS, CTI_SERVICE_CLIENT_CONTROL, CTI_SERVICE_CLIENT_EVENTS,
};

/// Every call event but CALL_HELD_EVENT.
const NOT_HELD: u64 = 0x3FF_FFFF & !(CALL_HELD_MASK as u64);
/// The null call id, 0xFFFFFFFF.
const NULL: u64 = 0xFFFF_FFFF;
/// Client Events and Client Control: a desktop that sees its own phone alone.
const DESKTOP: u64 = (CTI_SERVICE_CLIENT_EVENTS | CTI_SERVICE_CLIENT_CONTROL) as u64;

fn bit(state: u32) -> u64 {
    1 << state
}

/// An opened session: the desktop's OPEN_REQ (frame 2) with these masks, the OPEN_CONF
/// (frame 3) granting `granted` with the session's MonitorID `monitor`.
fn session(granted: u64, call_mask: u64, agent_mask: u64, monitor: u64) -> Vec<Step> {
    vec![
        Step::Msg(S, 0, desktop_open_req(granted, call_mask, agent_mask)),
        Step::Msg(C, 10, open_conf(1, granted, 1, monitor)),
    ]
}

fn masked_frames(r: &Report) -> Vec<u64> {
    r.findings.iter().filter(|f| f.rule == "event-masked").flat_map(|f| f.frames.clone()).collect()
}

fn change_masks(invoke: u64, monitor: u64, call: u64, agent: u64) -> Vec<u8> {
    let mut m = b("CHANGE_MONITOR_MASK_REQ");
    m.set("InvokeID", invoke).unwrap();
    m.set("MonitorID", monitor).unwrap();
    m.set("CallMsgMask", call).unwrap();
    m.set("AgentStateMask", agent).unwrap();
    m.build()
}

fn on_monitor(name: &str, call: u64, monitor: u64) -> Vec<u8> {
    let mut m = call_event(name, call, "1001");
    m.set("MonitorID", monitor).unwrap();
    m.build()
}

fn start_monitor(invoke: u64, call_mask: u64) -> Vec<u8> {
    let mut m = b("MONITOR_START_REQ");
    m.set("InvokeID", invoke).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("ConnectionCallID", 0xFFFF_FFFF).unwrap();
    m.set("CallMsgMask", call_mask).unwrap();
    m.set("AgentStateMask", 0x3FF).unwrap();
    m.set("ConnectionDeviceIDType", 0xFFFF).unwrap();
    m.set("MonitoredDeviceType", 0).unwrap();
    m.text("MonitoredDeviceID", "2002").unwrap();
    m.build()
}

fn monitor_started(invoke: u64, monitor: u64) -> Vec<u8> {
    let mut m = b("MONITOR_START_CONF");
    m.set("InvokeID", invoke).unwrap();
    m.set("MonitorID", monitor).unwrap();
    m.build()
}

#[test]
fn a_mask_change_widens_the_masks_until_its_confirm_then_sets_them() {
    // CHANGE_MONITOR_MASK_REQ for the session (MonitorID 0) asks for CALL_DELIVERED_EVENT
    // and CALL_HELD_EVENT only: before its confirm both masks are in force (a held call
    // passes), from it the new one alone (an established call is left out).
    let asked = u64::from(CALL_DELIVERED_MASK | CALL_HELD_MASK);
    let mut s = session(DESKTOP, NOT_HELD, 0x3FF, 0);
    s.push(Step::Msg(S, 100, change_masks(2, 0, asked, 0x3FF)));
    s.push(Step::Msg(C, 110, ev("CALL_HELD_EVENT", 7)));
    s.push(Step::Msg(C, 120, inv("CHANGE_MONITOR_MASK_CONF", 2)));
    s.push(Step::Msg(C, 130, ev("CALL_HELD_EVENT", 7)));
    s.push(Step::Msg(C, 140, ev("CALL_ESTABLISHED_EVENT", 7)));
    let r = run(s);
    assert_eq!(masked_frames(&r), vec![8], "{:#?}", r.findings);
    // The session's own monitor named by the OPEN_CONF's MonitorID is the session too.
    let mut s = session(DESKTOP, NOT_HELD, 0x3FF, 9);
    s.push(Step::Msg(S, 100, change_masks(2, 9, asked, 0x3FF)));
    s.push(Step::Msg(C, 120, inv("CHANGE_MONITOR_MASK_CONF", 2)));
    s.push(Step::Msg(C, 130, on_monitor("CALL_HELD_EVENT", 7, 9)));
    s.push(Step::Msg(C, 140, on_monitor("CALL_ESTABLISHED_EVENT", 7, 9)));
    assert_eq!(masked_frames(&run(s)), vec![7]);
    // The confirm of a change to a monitor the session does not know sets no masks (the
    // session's stay widened by the request: whose masks it changed is not known).
    let mut s = session(DESKTOP, NOT_HELD, 0x3FF, 9);
    s.push(Step::Msg(S, 100, change_masks(2, 4, asked, 0x3FF)));
    s.push(Step::Msg(C, 120, inv("CHANGE_MONITOR_MASK_CONF", 2)));
    s.push(Step::Msg(C, 130, ev("CALL_HELD_EVENT", 7)));
    s.push(Step::Msg(C, 140, ev("CALL_ESTABLISHED_EVENT", 7)));
    assert!(masked_frames(&run(s)).is_empty());
}

#[test]
fn an_agent_state_mask_change_widens_then_sets() {
    let open_mask = 0x3FF & !bit(AGENT_STATE_NOT_READY);
    let asked = bit(AGENT_STATE_NOT_READY) | bit(AGENT_STATE_AVAILABLE);
    let mut s = session(DESKTOP, 0x3FF_FFFF, open_mask, 0);
    s.push(Step::Msg(C, 50, agent_state("4711", u64::from(AGENT_STATE_NOT_READY))));
    s.push(Step::Msg(S, 100, change_masks(2, 0, 0x3FF_FFFF, asked)));
    s.push(Step::Msg(C, 110, agent_state("4711", u64::from(AGENT_STATE_NOT_READY))));
    s.push(Step::Msg(C, 120, inv("CHANGE_MONITOR_MASK_CONF", 2)));
    s.push(Step::Msg(C, 130, agent_state("4711", u64::from(AGENT_STATE_AVAILABLE))));
    s.push(Step::Msg(
        C,
        140,
        agent_state("4711", u64::from(crate::cti::spec::values::agent_state::AGENT_STATE_TALKING)),
    ));
    let r = run(s);
    assert_eq!(masked_frames(&r), vec![4, 9], "{:#?}", r.findings);
    let texts: Vec<&str> =
        r.findings.iter().filter(|f| f.rule == "event-masked").map(|f| f.message.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "AGENT_STATE_EVENT AGENT_STATE_NOT_READY sent though the AgentStateMask of the session (OPEN_REQ) (0x000003fb) leaves it out (bit 0x00000004)",
            "AGENT_STATE_EVENT AGENT_STATE_TALKING sent though the AgentStateMask of the session (OPEN_REQ) (0x0000000c) leaves it out (bit 0x00000010)",
        ]
    );
}

#[test]
fn only_a_session_that_sees_its_own_phone_alone_is_judged_by_its_open_req_masks() {
    // Client Events with All Events: the OPEN_REQ masks do not judge the session's events,
    // with or without monitors of its own; a monitor's masks judge the events that name it.
    let granted = u64::from(CTI_SERVICE_CLIENT_EVENTS | CTI_SERVICE_ALL_EVENTS);
    let mut s = session(granted, NOT_HELD, 0x3FF, 0);
    s.push(Step::Msg(C, 100, ev("CALL_HELD_EVENT", 7)));
    assert!(masked_frames(&run(s)).is_empty());
    let mut s = session(granted, NOT_HELD, 0x3FF, 0);
    s.push(Step::Msg(S, 100, start_monitor(2, NOT_HELD)));
    s.push(Step::Msg(C, 110, monitor_started(2, 5)));
    s.push(Step::Msg(C, 120, ev("CALL_HELD_EVENT", 7)));
    s.push(Step::Msg(C, 130, on_monitor("CALL_HELD_EVENT", 8, 5)));
    let r = run(s);
    assert_eq!(masked_frames(&r), vec![7], "{:#?}", r.findings);
    assert_eq!(
        find(&r, "event-masked").message,
        "CALL_HELD_EVENT sent though the CallMsgMask of MonitorID 5 (0x03fffff7) leaves it out (bit 0x00000008)"
    );
    // An event that names the OPEN_CONF's MonitorID is the session's own.
    let mut s = session(DESKTOP, NOT_HELD, 0x3FF, 9);
    s.push(Step::Msg(C, 100, on_monitor("CALL_HELD_EVENT", 7, 9)));
    s.push(Step::Msg(C, 110, on_monitor("CALL_HELD_EVENT", 7, 4)));
    assert_eq!(masked_frames(&run(s)), vec![4]);
}

#[test]
fn masks_are_not_judged_once_their_table_overflowed() {
    // More monitors asked for than the masks table holds: which masks are in force is no
    // longer known.
    let mut s = session(DESKTOP, NOT_HELD, 0x3FF, 0);
    for i in 0..=super::super::state::MAX_MASK_ENTRIES as u64 {
        s.push(Step::Msg(S, 100, start_monitor(10 + i, 0x3FF_FFFF)));
    }
    s.push(Step::Msg(C, 200, ev("CALL_HELD_EVENT", 7)));
    assert!(masked_frames(&run(s)).is_empty());
}

#[test]
fn a_second_open_req_does_not_replace_the_session_masks() {
    let mut s = session(DESKTOP, NOT_HELD, 0x3FF, 0);
    s.push(Step::Msg(S, 100, desktop_open_req(DESKTOP, 0x3FF_FFFF, 0x3FF)));
    s.push(Step::Msg(C, 200, ev("CALL_HELD_EVENT", 7)));
    assert_eq!(masked_frames(&run(s)), vec![5]);
}

fn register_variables(invoke: u64, mask: u64) -> Vec<u8> {
    let mut m = b("REGISTER_VARIABLES_REQ");
    m.set("InvokeID", invoke).unwrap();
    m.set("CallVariableMask", mask).unwrap();
    m.build()
}

fn with_variables(vars: &[usize]) -> Vec<u8> {
    let mut m = call_event("BEGIN_CALL_EVENT", 7, "1001");
    for v in vars {
        m.text(format!("CallVariable{v}").as_str(), "x").unwrap();
    }
    m.build()
}

#[test]
fn call_variables_go_by_the_bit_of_their_number() {
    // CallVariableMask 0x2 registers CallVariable2 alone.
    let mut s = session(DESKTOP, 0x3FF_FFFF, 0x3FF, 0);
    s.push(Step::Msg(S, 100, register_variables(3, 0x2)));
    s.push(Step::Msg(C, 110, inv("REGISTER_VARIABLES_CONF", 3)));
    s.push(Step::Msg(C, 120, with_variables(&[2])));
    s.push(Step::Msg(C, 130, with_variables(&[1, 2, 10])));
    let r = run(s);
    assert_eq!(masked_frames(&r), vec![7], "{:#?}", r.findings);
    assert_eq!(
        find(&r, "event-masked").message,
        "BEGIN_CALL_EVENT carries CallVariable1, CallVariable10 though the session registered CallVariableMask 0x0002 (REGISTER_VARIABLES_REQ)"
    );
    // The registration takes effect at its own confirm, not at another request's.
    let mut s = session(DESKTOP, 0x3FF_FFFF, 0x3FF, 0);
    s.push(Step::Msg(S, 100, register_variables(3, 0x2)));
    s.push(Step::Msg(S, 101, inv("HEARTBEAT_REQ", 4)));
    s.push(Step::Msg(C, 105, inv("HEARTBEAT_CONF", 4)));
    s.push(Step::Msg(C, 110, inv("REGISTER_VARIABLES_CONF", 3)));
    s.push(Step::Msg(C, 130, with_variables(&[1])));
    assert_eq!(masked_frames(&run(s)), vec![8]);
    // Refused: no registration.
    let mut s = session(DESKTOP, 0x3FF_FFFF, 0x3FF, 0);
    s.push(Step::Msg(S, 100, register_variables(3, 0x2)));
    s.push(Step::Msg(C, 110, failure_conf(3, 1)));
    s.push(Step::Msg(C, 130, with_variables(&[1])));
    assert!(masked_frames(&run(s)).is_empty());
}

/// An OPEN_REQ asking for `services` with every call and agent state event, ConfigMsgMask
/// `config_mask`, and the agent's phone `instrument` if any.
fn open_req_with(services: u64, config_mask: u32, instrument: Option<&str>) -> Vec<u8> {
    let mut m = MessageBuilder::named("OPEN_REQ", V);
    m.set("InvokeID", 1).unwrap();
    m.set("VersionNumber", u64::from(V)).unwrap();
    m.set("IdleTimeout", 0xFFFF_FFFF).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("ServicesRequested", services).unwrap();
    m.set("CallMsgMask", 0x3FF_FFFF).unwrap();
    m.set("AgentStateMask", 0x3FF).unwrap();
    m.set("ConfigMsgMask", u64::from(config_mask)).unwrap();
    m.text("ClientID", "desk-1001").unwrap();
    m.bytes("ClientPassword", b"").unwrap();
    if let Some(i) = instrument {
        m.text("AgentInstrument", i).unwrap();
    }
    m.build()
}

fn open_with_config_mask(config_mask: u32) -> Vec<Step> {
    vec![
        Step::Msg(S, 0, open_req_with(DESKTOP, config_mask, None)),
        Step::Msg(C, 10, open_conf(1, DESKTOP, 1, 0)),
    ]
}

fn unsolicited_begin() -> Vec<u8> {
    let mut m = b("CONFIG_BEGIN_EVENT");
    m.set("ConfigType", u64::from(UNSOLICITED)).unwrap();
    m.build()
}

#[test]
fn configuration_updates_are_judged_inside_their_unsolicited_block() {
    let block = |mut s: Vec<Step>| {
        s.push(Step::Msg(C, 100, unsolicited_begin()));
        s.push(Step::Msg(C, 101, config_record("CONFIG_AGENT_EVENT")));
        s.push(Step::Msg(C, 102, config_record("CONFIG_SERVICE_EVENT")));
        s.push(Step::Msg(C, 103, config_end(0)));
        s.push(Step::Msg(C, 104, config_record("CONFIG_AGENT_EVENT")));
        s
    };
    // ConfigMsgMask asks for services alone: the agent record in the block is left out.
    let r = run(block(open_with_config_mask(SERVICE_INFORMATION)));
    assert_eq!(masked_frames(&r), vec![5], "{:#?}", r.findings);
    assert_eq!(
        find(&r, "event-masked").message,
        "CONFIG_AGENT_EVENT in an unsolicited update block though the OPEN_REQ ConfigMsgMask (0x00000001) leaves it out (bit 0x00000004)"
    );
    assert!(
        masked_frames(&run(block(open_with_config_mask(SERVICE_INFORMATION | AGENT_INFORMATION)))).is_empty()
    );
    // A zero mask is not judged.
    assert!(masked_frames(&run(block(open_with_config_mask(0)))).is_empty());
    // Server bytes lost: the block's records are not judged.
    let mut s = open_with_config_mask(SERVICE_INFORMATION);
    s.push(Step::Gap(C, 50));
    assert!(masked_frames(&run(block(s))).is_empty());
}

fn snapshot(instrument: &str) -> Vec<u8> {
    let mut m = b("SNAPSHOT_DEVICE_REQ");
    m.set("InvokeID", 2).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.text("AgentInstrument", instrument).unwrap();
    m.build()
}

fn not_granted_texts(granted: u64, with_instrument: bool, req: Vec<u8>) -> Vec<String> {
    let open = open_req_with(granted, 0, with_instrument.then_some("1001"));
    let s = vec![
        Step::Msg(S, 0, open),
        Step::Msg(C, 10, open_conf(1, granted, 1, 0)),
        Step::Msg(S, 100, req),
        Step::Msg(C, 110, failure_conf(2, 1)),
    ];
    let r = run(s);
    r.findings.iter().filter(|f| f.rule == "service-request-not-granted").map(|f| f.message.clone()).collect()
}

#[test]
fn a_snapshot_of_another_device_needs_all_events() {
    assert_eq!(
        not_granted_texts(DESKTOP, true, snapshot("2002")),
        vec!["SNAPSHOT_DEVICE_REQ for device 2002, not the session's own, without CTI_SERVICE_ALL_EVENTS: the guide requires Client Control and All Events to look at other devices"]
    );
    // Its own device; no device named; the session's own device not known; All Events.
    assert!(not_granted_texts(DESKTOP, true, snapshot("1001")).is_empty());
    assert!(not_granted_texts(DESKTOP, true, snapshot("")).is_empty());
    assert!(not_granted_texts(DESKTOP, false, snapshot("2002")).is_empty());
    let all = DESKTOP | u64::from(CTI_SERVICE_ALL_EVENTS);
    assert!(not_granted_texts(all, true, snapshot("2002")).is_empty());
    // Other requests naming another instrument are no snapshot.
    let mut q = b("QUERY_DEVICE_INFO_REQ");
    q.set("InvokeID", 2).unwrap();
    q.set("PeripheralID", 5000).unwrap();
    q.text("AgentInstrument", "2002").unwrap();
    assert!(not_granted_texts(DESKTOP, true, q.build()).is_empty());
}

#[test]
fn a_finding_about_a_request_names_the_request_and_the_agent_it_names() {
    // A session with no agent of its own (no AgentID, extension or instrument in its
    // OPEN_REQ): the request's own AgentID names the agent.
    // SUPERVISE_CALL_REQ needs Supervisor, which a desktop is not granted.
    let s = vec![
        Step::Msg(S, 0, open_req_with(DESKTOP, 0, None)),
        Step::Msg(C, 10, open_conf(1, DESKTOP, 1, 0)),
        Step::Msg(S, 100, supervise(NULL, false, true, NULL, false)),
        Step::Msg(C, 125, inv("SUPERVISE_CALL_CONF", 2)),
    ];
    let r = run(s);
    let f = find(&r, "service-request-not-granted");
    assert_eq!(f.subject.request, Some("SUPERVISE_CALL_REQ"));
    assert_eq!(f.subject.agent.as_deref(), Some("4711"));
    assert_eq!(f.subject.invoke, Some(2));
    let f = find(&r, "service-confirm-not-granted");
    assert_eq!(f.subject.latency_ns, Some(25_000_000));
    assert_eq!(f.subject.confirm, Some("SUPERVISE_CALL_CONF"));
    // An event's finding names no request.
    let mut s = session(DESKTOP, NOT_HELD, 0x3FF, 0);
    s.push(Step::Msg(C, 100, ev("CALL_HELD_EVENT", 7)));
    let r = run(s);
    assert_eq!(find(&r, "event-masked").subject.request, None);
}

/// The `sentinel-not-set` findings of one request on an opened All Events session.
fn sentinels(req: Vec<u8>) -> Vec<String> {
    let mut s = opened(0xFFFF_FFFF, BEGIN_MASK);
    s.push(Step::Msg(S, 100, req));
    s.push(Step::Msg(C, 110, failure_conf(2, 1)));
    let r = run(s);
    r.findings.iter().filter(|f| f.rule == "sentinel-not-set").map(|f| f.message.clone()).collect()
}

fn rules_of_request(req: Vec<u8>) -> Vec<&'static str> {
    let mut s = opened(0xFFFF_FFFF, BEGIN_MASK);
    s.push(Step::Msg(S, 100, req));
    s.push(Step::Msg(C, 110, failure_conf(2, 1)));
    service_rules(&run(s))
}

fn join(name: &str, held_call: u64, held_type: u64, held_device: bool) -> Vec<u8> {
    let mut m = b(name);
    m.set("InvokeID", 2).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("ActiveConnectionCallID", 8).unwrap();
    m.set("HeldConnectionCallID", held_call).unwrap();
    m.set("ActiveConnectionDeviceIDType", 0).unwrap();
    m.set("HeldConnectionDeviceIDType", held_type).unwrap();
    m.text("ActiveConnectionDeviceID", "1001").unwrap();
    if held_device {
        m.text("HeldConnectionDeviceID", "1001").unwrap();
    }
    m.text("DialedNumber", "5002").unwrap();
    m.build()
}

#[test]
fn a_single_step_transfer_sets_the_held_call_sentinels() {
    let (null, none) = (NULL, 0xFFFF);
    assert!(sentinels(join("TRANSFER_CALL_REQ", null, none, false)).is_empty());
    assert_eq!(
        sentinels(join("TRANSFER_CALL_REQ", 7, none, false)),
        vec!["TRANSFER_CALL_REQ is a single step transfer (DialedNumber, no HeldConnectionDeviceID) with HeldConnectionCallID 7 (not 0xffffffff): the guide requires the sentinels when there is no held call"]
    );
    assert_eq!(
        sentinels(join("TRANSFER_CALL_REQ", null, 0, false)),
        vec!["TRANSFER_CALL_REQ is a single step transfer (DialedNumber, no HeldConnectionDeviceID) with HeldConnectionDeviceIDType 0 (not CONNECTION_ID_NONE): the guide requires the sentinels when there is no held call"]
    );
    // A held call named, or a conference: no single step transfer.
    assert!(sentinels(join("TRANSFER_CALL_REQ", 7, 0, true)).is_empty());
    assert!(sentinels(join("CONFERENCE_CALL_REQ", 7, 0, false)).is_empty());
}

/// SUPERVISE_CALL_REQ for the agent's call `agent_call` (with its device if asked) and the
/// supervisor's call `supervisor_call` (with its device if asked), naming AgentID 4711 if asked
/// and the supervisor's instrument.
fn supervise(
    agent_call: u64,
    agent_device: bool,
    agent: bool,
    supervisor_call: u64,
    supervisor_device: bool,
) -> Vec<u8> {
    let mut m = b("SUPERVISE_CALL_REQ");
    m.set("InvokeID", 2).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("AgentConnectionCallID", agent_call).unwrap();
    m.set("SupervisorConnectionCallID", supervisor_call).unwrap();
    if agent_device {
        m.text("AgentConnectionDeviceID", "1001").unwrap();
    }
    if supervisor_device {
        m.text("SupervisorConnectionDeviceID", "5099").unwrap();
    }
    if agent {
        m.text("AgentID", "4711").unwrap();
    }
    m.text("SupervisorInstrument", "5099").unwrap();
    m.build()
}

#[test]
fn supervision_names_the_agents_call_or_the_agent() {
    let missing = |m| rules_of_request(m).contains(&"call-or-agent-missing");
    assert!(!missing(supervise(7, true, false, NULL, false)));
    // The null call id names no call; a call id needs its device.
    assert!(missing(supervise(NULL, true, false, NULL, false)));
    assert!(missing(supervise(7, false, false, NULL, false)));
}

fn agent_state_query(icm: u64) -> Vec<u8> {
    let mut m = b("QUERY_AGENT_STATE_REQ");
    m.set("InvokeID", 2).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("MRDID", 1).unwrap();
    m.set("ICMAgentID", icm).unwrap();
    m.build()
}

#[test]
fn an_agent_state_query_names_its_agent() {
    let missing = |icm| rules_of_request(agent_state_query(icm)).contains(&"mrd-agent-missing");
    assert!(!missing(5001));
    // 0 and -1 (an INT, 0xFFFFFFFF on the wire) name no agent; other negative numbers do.
    assert!(missing(0));
    assert!(missing(0xFFFF_FFFF));
    assert!(!missing(0xFFFF_FFFE));
}

#[test]
fn a_monitor_with_both_its_call_and_its_device_is_not_judged_by_its_types() {
    assert!(sentinels(monitor(0, 0, true, true)).is_empty());
}

fn stop_monitor(invoke: u64, monitor: u64) -> Vec<u8> {
    let mut m = b("MONITOR_STOP_REQ");
    m.set("InvokeID", invoke).unwrap();
    m.set("MonitorID", monitor).unwrap();
    m.build()
}

#[test]
fn a_monitors_masks_last_until_it_is_stopped() {
    // A Peripheral Monitor style session (All Events) with monitor 5 leaving out held calls.
    let granted = u64::from(CTI_SERVICE_ALL_EVENTS);
    let started = || {
        let mut s = session(granted, 0x3FF_FFFF, 0x3FF, 0);
        s.push(Step::Msg(S, 100, start_monitor(2, NOT_HELD)));
        s.push(Step::Msg(C, 110, monitor_started(2, 5)));
        s
    };
    // Stopped: its masks judge nothing more.
    let mut s = started();
    s.push(Step::Msg(S, 200, stop_monitor(3, 5)));
    s.push(Step::Msg(C, 210, inv("MONITOR_STOP_CONF", 3)));
    s.push(Step::Msg(C, 220, on_monitor("CALL_HELD_EVENT", 7, 5)));
    assert!(masked_frames(&run(s)).is_empty());
    // The stop refused: the monitor and its masks stay.
    let mut s = started();
    s.push(Step::Msg(S, 200, stop_monitor(3, 5)));
    s.push(Step::Msg(C, 210, failure_conf(3, 1)));
    s.push(Step::Msg(C, 220, on_monitor("CALL_HELD_EVENT", 7, 5)));
    assert_eq!(masked_frames(&run(s)), vec![8]);
    // Its masks changed: the new ones judge its events from the confirm on.
    let asked = u64::from(CALL_DELIVERED_MASK | CALL_HELD_MASK);
    let mut s = started();
    s.push(Step::Msg(S, 200, change_masks(3, 5, asked, 0x3FF)));
    s.push(Step::Msg(C, 210, inv("CHANGE_MONITOR_MASK_CONF", 3)));
    s.push(Step::Msg(C, 220, on_monitor("CALL_HELD_EVENT", 7, 5)));
    s.push(Step::Msg(C, 230, on_monitor("CALL_ESTABLISHED_EVENT", 7, 5)));
    assert_eq!(masked_frames(&run(s)), vec![9]);
}

#[test]
fn call_variables_are_not_judged_after_client_bytes_were_lost() {
    let mut s = session(DESKTOP, 0x3FF_FFFF, 0x3FF, 0);
    s.push(Step::Msg(S, 100, register_variables(3, 0x2)));
    s.push(Step::Msg(C, 110, inv("REGISTER_VARIABLES_CONF", 3)));
    s.push(Step::Gap(S, 120));
    s.push(Step::Msg(C, 130, with_variables(&[1])));
    s.push(Step::Msg(S, 140, inv("HEARTBEAT_REQ", 4)));
    assert!(masked_frames(&run(s)).is_empty());
}

#[test]
fn supervision_without_a_supervisor_call_sets_its_sentinel() {
    assert_eq!(
        sentinels(supervise(NULL, false, true, 7, false)),
        vec!["SUPERVISE_CALL_REQ has no SupervisorConnectionDeviceID (no supervisor call) but SupervisorConnectionCallID 7: the guide requires 0xffffffff then"]
    );
    assert!(sentinels(supervise(NULL, false, true, NULL, false)).is_empty());
    assert!(sentinels(supervise(NULL, false, true, 7, true)).is_empty());
}

#[test]
fn a_device_monitor_sets_the_connection_type_sentinel() {
    let device_monitor = |conn_type: u64| monitor(conn_type, 0, false, true);
    assert!(sentinels(device_monitor(0xFFFF)).is_empty());
    assert_eq!(
        sentinels(device_monitor(0)),
        vec!["MONITOR_START_REQ creates a monitor of a device with ConnectionDeviceIDType 0: the guide requires CONNECTION_ID_NONE"]
    );
}

#[test]
fn a_session_granted_client_events_alone_is_judged_by_its_masks() {
    let mut s = session(u64::from(CTI_SERVICE_CLIENT_EVENTS), NOT_HELD, 0x3FF, 0);
    s.push(Step::Msg(C, 100, ev("CALL_HELD_EVENT", 7)));
    assert_eq!(masked_frames(&run(s)), vec![4]);
}

#[test]
fn requests_not_granted_are_remembered_up_to_the_masks_table() {
    // One more SET_CALL_DATA_REQ outstanding than the table holds: the confirm of the
    // first is a violation, that of the last (not remembered) is not judged.
    let max = super::super::state::MAX_MASK_ENTRIES as u64;
    let set_call_data = |invoke: u64| {
        let mut m = b("SET_CALL_DATA_REQ");
        m.set("InvokeID", invoke).unwrap();
        m.build()
    };
    let confirmed = |invoke: u64| {
        let mut s = session(DESKTOP, 0x3FF_FFFF, 0x3FF, 0);
        for i in 0..=max {
            s.push(Step::Msg(S, 100, set_call_data(10 + i)));
        }
        s.push(Step::Msg(C, 200, inv("SET_CALL_DATA_CONF", invoke)));
        has(&run(s), "service-confirm-not-granted")
    };
    assert!(confirmed(10));
    assert!(confirmed(10 + max - 1));
    assert!(!confirmed(10 + max));
}

#[test]
fn an_open_conf_that_answers_no_request_still_names_the_sessions_monitor() {
    // Its InvokeID answers no OPEN_REQ (confirm-unmatched), but it is the server's word on
    // the session: an event naming its MonitorID is the session's own.
    let s = vec![
        Step::Msg(S, 0, desktop_open_req(DESKTOP, NOT_HELD, 0x3FF)),
        Step::Msg(C, 10, open_conf(2, DESKTOP, 1, 9)),
        Step::Msg(C, 100, on_monitor("CALL_HELD_EVENT", 7, 9)),
    ];
    let r = run(s);
    assert!(has(&r, "confirm-unmatched"));
    assert_eq!(masked_frames(&r), vec![4]);
}

#[test]
fn a_call_monitor_sets_the_device_type_sentinel() {
    let call_monitor = |dev_type: u64| monitor(0, dev_type, true, false);
    assert!(sentinels(call_monitor(0xFFFF)).is_empty());
    assert_eq!(
        sentinels(call_monitor(0)),
        vec!["MONITOR_START_REQ creates a monitor of a call with MonitoredDeviceType 0: the guide requires DEVID_NONE"]
    );
}

#[test]
fn a_user_message_to_supervisors_or_the_team_names_the_agent() {
    use crate::cti::spec::values::distribution::*;
    // On an All Events session (`opened`).
    let missing = |distribution: u32, agent: bool| {
        rules_of_request(user_message(distribution, true, agent)).contains(&"agent-identity-missing")
    };
    assert!(missing(DISTRIBUTE_TO_SUPERVISOR, false));
    assert!(missing(DISTRIBUTE_TO_TEAM, false));
    assert!(!missing(DISTRIBUTE_TO_SUPERVISOR, true));
    assert!(!missing(DISTRIBUTE_TO_TEAM, true));
    assert!(!missing(DISTRIBUTE_TO_CLIENT, false));
    assert!(!missing(DISTRIBUTE_TO_ALL, false));
}

#[test]
fn a_session_opened_without_client_events_has_the_null_peripheral() {
    let opened_event = |services: u64, peripheral: u64| {
        let mut m = b("CLIENT_SESSION_OPENED_EVENT");
        m.set("SessionID", 12).unwrap();
        m.set("PeripheralID", peripheral).unwrap();
        m.set("ServicesGranted", services).unwrap();
        m.text("ClientID", "desk-2").unwrap();
        let mut s = opened(0xFFFF_FFFF, BEGIN_MASK);
        s.push(Step::Msg(C, 100, m.build()));
        let r = run(s);
        r.findings
            .iter()
            .filter(|f| f.rule == "sentinel-not-set")
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
    };
    let all = u64::from(CTI_SERVICE_ALL_EVENTS);
    assert_eq!(
        opened_event(all, 5000),
        vec!["CLIENT_SESSION_OPENED_EVENT reports a session without CTI_SERVICE_CLIENT_EVENTS (ServicesGranted 0x00000010) with PeripheralID 5000: the guide requires 0xFFFFFFFF then"]
    );
    assert!(opened_event(all, 0xFFFF_FFFF).is_empty());
    assert!(opened_event(DESKTOP, 5000).is_empty());
}
