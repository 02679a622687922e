//! The `call-violations` scenario: sessions that break the call-state preconditions and
//! lifecycle rules of `check` at known frames, beside correct sequences of the same kinds.
//!
//! - Agent 1001's desktop (extension 5001): desk settings that require a reason code for
//!   idle and logout; a call delivered and answered, held and retrieved (correct), then held
//!   twice (`hold-already-held`), a consultation call started from it while held
//!   (`hold-already-held`) and a deflection of it (`answer-not-alerting`), retrieved twice
//!   (`retrieve-not-held`), answered again while connected (`answer-not-alerting`) and
//!   reconnected to as if held (`retrieve-not-held`); a consultation call and a correct
//!   transfer;
//!   NOT_READY without a reason code (`reason-code-missing`), then with one.
//! - A CTI bridge (All Events and Client Control) that sees a call at extension 5002 and
//!   another, held, at 5003, and asks to transfer one to the other
//!   (`transfer-no-common-device`); an agent pre-call announced then aborted (correct), and
//!   an abort of a call never announced (`pre-call-abort-unannounced`).
//! - A recording server application (Server service): a session that registers and
//!   unregisters its service before closing (correct), and one that closes with the service
//!   still registered (`unregister-missing`).
//! - A Peripheral Monitor client with monitors 11 and 12 whose session is reset; on its
//!   next session it creates monitor 11 again and changes its mask (correct), then stops
//!   monitor 12 without creating it again (`monitor-not-recreated`).

use super::m::{self, AgentInfo, CallInfo, M};
use super::{addr, Desk, Ending, Fact, Session, Story, LATENCY, NEXT, SEC, VERSION};
use crate::cti::spec::fields::field;
use crate::cti::spec::values::{
    agent_state, call_type, connection_device_id_type, control_failure_code, desk_settings_mask,
    service_mask, status_code,
};
use crate::cti::spec::MessageType;
use crate::synth::msgs::BuildFaults;
use crate::synth::script::{End, Pkt};

/// A `violation` truth line: the rule `check` must report about the message of packet `p`.
fn violation(st: &mut Story, rule: &str, s: &Session, p: Pkt) {
    let t = st.script.time(p);
    st.fact(Fact::new("violation", p).s("rule", rule).conn("conn", s.c).frame("frame", p).time("time", t));
}

/// A server message at `t`.
fn server(st: &mut Story, s: &Session, t: i64, msg: Vec<u8>) -> Pkt {
    st.script.message(s.c, End::Server, t, msg)
}

/// A request answered `LATENCY` later by `answer` (its plain confirm when `None`).
fn ask(st: &mut Story, s: &mut Session, t: i64, req: Vec<u8>, answer: Option<Vec<u8>>) -> Pkt {
    let invoke = invoke_of(&req);
    let conf = answer.unwrap_or_else(|| m::plain_confirm(VERSION, &req, invoke));
    st.request(s, t, req, invoke, Some((LATENCY, conf))).0
}

/// The InvokeID of a built request (the first field after the header).
fn invoke_of(req: &[u8]) -> u32 {
    u32::from_be_bytes([req[8], req[9], req[10], req[11]])
}

/// CONTROL_FAILURE_CONF refusing `req`.
fn refuse(req: &[u8], code: u32) -> Vec<u8> {
    m::control_failure_conf(VERSION, invoke_of(req), code, 0)
}

/// A session of a client that is not an agent desktop: OPEN_REQ with `services`, no agent.
fn open_client(st: &mut Story, d: &mut Desk, services: u32, t: i64) -> Session {
    let client = d.next_addr();
    let c = st.conn(client, addr("10.10.0.1:42027"));
    let first = st.script.handshake(c, t, super::RTT);
    let invoke = d.next_invoke();
    let req = m::open_req(VERSION, invoke, services, d.idle_timeout(), &d.client_id, None);
    let t_req = t + super::MS;
    let conf = m::open_conf(
        VERSION,
        invoke,
        services,
        (t_req / SEC) as u32,
        None,
        crate::synth::center::PERIPHERAL_ID,
        agent_state::AGENT_STATE_LOGOUT,
    );
    let mut s = Session { c, first, open_conf: first, pending: Vec::new() };
    let (_, answer) = st.request(&mut s, t_req, req, invoke, Some((LATENCY, conf)));
    s.open_conf = answer.expect("answered");
    s
}

/// CLOSE_REQ, CLOSE_CONF and the client's FIN teardown. Returns the CLOSE_REQ.
fn close_client(st: &mut Story, s: &mut Session, d: &mut Desk, t: i64) -> Pkt {
    let invoke = d.next_invoke();
    let req = m::close_req(VERSION, invoke);
    let conf = m::plain_confirm(VERSION, &req, invoke);
    let (p, _) = st.request(s, t, req, invoke, Some((LATENCY, conf)));
    st.script.close(s.c, End::Client, t + LATENCY + super::MS, super::TEARDOWN);
    p
}

fn call(call_id: u32, ani: &str, dialed: &str) -> CallInfo {
    CallInfo::scripted(call_id, call_type::CALLTYPE_PREROUTE_ACD_IN, ani, dialed, 1)
}

/// BEGIN_CALL_EVENT and CALL_DELIVERED_EVENT of `c` at the agent's extension.
fn arrives(st: &mut Story, s: &Session, a: &AgentInfo, c: &CallInfo, t: i64) {
    server(st, s, t, m::begin_call_event(VERSION, a, c, &[], BuildFaults::default()));
    server(st, s, t + NEXT, m::call_delivered_event(VERSION, a, c));
}

fn established(st: &mut Story, s: &Session, a: &AgentInfo, c: &CallInfo, t: i64) {
    server(st, s, t, m::call_established_event(VERSION, a, c, &a.ext, &c.ani, &a.ext));
}

/// AGENT_PRE_CALL_EVENT (`abort`: AGENT_PRE_CALL_ABORT_EVENT) for the call with router key
/// (`day`, `call`) routed to `a`'s instrument.
fn pre_call(a: &AgentInfo, day: u32, call: u32, abort: bool) -> Vec<u8> {
    let ty = if abort { MessageType::AGENT_PRE_CALL_ABORT_EVENT } else { MessageType::AGENT_PRE_CALL_EVENT };
    let mut b = M::new(ty, VERSION);
    b.set(field::MonitorID, 0u32).set(field::MRDID, 1u32);
    if !abort {
        b.set(field::NumNamedVariables, 0u32)
            .set(field::NumNamedArrays, 0u32)
            .set(field::ServiceNumber, 1u32)
            .set(field::ServiceID, 5001u32)
            .set(field::SkillGroupNumber, a.skill_number)
            .set(field::SkillGroupID, a.skill_id)
            .set(field::SkillGroupPriority, 0u32)
            .set(field::AgentSkillTargetID, a.icm_agent_id);
    }
    b.text(field::AgentInstrument, &a.ext)
        .num(field::RouterCallKeyDay, day)
        .num(field::RouterCallKeyCallID, call)
        .num(field::RouterCallKeySequenceNumber, 1u32);
    if !abort {
        b.text(field::AgentID, &a.id);
    }
    b.build()
}

fn desk_settings_req(d: &mut Desk) -> Vec<u8> {
    let mut b = M::new(MessageType::AGENT_DESK_SETTINGS_REQ, VERSION);
    b.set(field::InvokeID, d.next_invoke()).set(field::PeripheralID, d.agent.peripheral_id);
    b.build()
}

/// AGENT_DESK_SETTINGS_CONF: a reason code required for idle and for logout.
fn desk_settings_conf(invoke: u32, peripheral: u32) -> Vec<u8> {
    let mask = desk_settings_mask::DESK_IDLE_REASON_REQUIRED_MASK
        | desk_settings_mask::DESK_LOGOUT_REASON_REQUIRED_MASK
        | desk_settings_mask::DESK_AVAIL_AFTER_INCOMING_MASK;
    let mut b = M::new(MessageType::AGENT_DESK_SETTINGS_CONF, VERSION);
    b.set(field::InvokeID, invoke)
        .set(field::PeripheralID, peripheral)
        .set(field::DeskSettingsMask, mask)
        .set(field::WrapupDataIncomingMode, 1u32)
        .set(field::WrapupDataOutgoingMode, 1u32)
        .set(field::LogoutNonActivityTime, 0u32)
        .set(field::QualityRecordingRate, 0u32)
        .set(field::RingNoAnswerTime, 12u32)
        .set(field::SilentMonitorWarningMessage, 0u32)
        .set(field::SilentMonitorAudibleIndication, 0u32)
        .set(field::SupervisorAssistCallMethod, 0u32)
        .set(field::EmergencyCallMethod, 0u32)
        .set(field::AutoRecordOnEmergency, 0u32)
        .set(field::RecordingMode, 0u32)
        .set(field::WorkModeTimer, 30u32)
        .set(field::RingNoAnswerDN, 0u32);
    b.num(field::PlayZipTone, 0u32).num(field::ACDSharedLineUsage, 0u32);
    b.build()
}

/// SET_AGENT_STATE_REQ, its confirm and the AGENT_STATE_EVENT. Returns the request.
fn set_state(st: &mut Story, s: &mut Session, d: &mut Desk, t: i64, state: u32, reason: u32) -> Pkt {
    let invoke = d.next_invoke();
    let req = m::set_agent_state_req(VERSION, invoke, &d.agent, state, reason, false);
    let conf = m::plain_confirm(VERSION, &req, invoke);
    let (p, _) = st.request(s, t, req, invoke, Some((LATENCY, conf)));
    st.state_event(s, d, t + LATENCY + NEXT, state, reason);
    p
}

fn agent_desktop(st: &mut Story) {
    use agent_state::*;
    use control_failure_code::CF_INVALID_OBJECT_STATE;
    let mut d = Desk::new(1001, [10, 10, 1, 10], 50001, 1, None);
    let mut s = st.open(&mut d, addr("10.10.0.1:42027"), st.at(1_000_000));
    st.state_event(&s, &mut d, st.at(1_500_000), AGENT_STATE_LOGIN, 0);
    st.state_event(&s, &mut d, st.at(1_500_060), AGENT_STATE_NOT_READY, 7);
    let req = desk_settings_req(&mut d);
    let conf = desk_settings_conf(invoke_of(&req), d.agent.peripheral_id);
    ask(st, &mut s, st.at(2_000_000), req, Some(conf));
    set_state(st, &mut s, &mut d, st.at(3_000_000), AGENT_STATE_AVAILABLE, 0);

    let a = d.agent.clone();
    let c = call(9001, "+14085550101", "8005550100");
    arrives(st, &s, &a, &c, st.at(5_000_000));
    // A correct answer, hold and retrieve.
    let answer =
        |d: &mut Desk| m::call_req(MessageType::ANSWER_CALL_REQ, VERSION, d.next_invoke(), &a, c.call_id);
    let hold =
        |d: &mut Desk| m::call_req(MessageType::HOLD_CALL_REQ, VERSION, d.next_invoke(), &a, c.call_id);
    let retrieve = |d: &mut Desk| m::retrieve_call_req(VERSION, d.next_invoke(), &a, c.call_id);
    let held = |held: bool| m::hold_event(VERSION, &a, c.call_id, held);
    let req = answer(&mut d);
    ask(st, &mut s, st.at(7_000_000), req, None);
    established(st, &s, &a, &c, st.at(7_000_000) + LATENCY + NEXT);
    st.state_event(&s, &mut d, st.at(7_000_000) + LATENCY + 2 * NEXT, AGENT_STATE_TALKING, 0);
    let req = hold(&mut d);
    ask(st, &mut s, st.at(20_000_000), req, None);
    server(st, &s, st.at(20_000_000) + LATENCY + NEXT, held(true));
    let req = retrieve(&mut d);
    ask(st, &mut s, st.at(30_000_000), req, None);
    server(st, &s, st.at(30_000_000) + LATENCY + NEXT, held(false));
    // Held, then held again.
    let req = hold(&mut d);
    ask(st, &mut s, st.at(40_000_000), req, None);
    server(st, &s, st.at(40_000_000) + LATENCY + NEXT, held(true));
    let req = hold(&mut d);
    let refusal = refuse(&req, CF_INVALID_OBJECT_STATE);
    let p = ask(st, &mut s, st.at(45_000_000), req, Some(refusal));
    violation(st, "hold-already-held", &s, p);
    // A consultation call from the held call (it would put it on hold), and a deflection of
    // it (it is not alerting).
    let req = m::consultation_call_req(VERSION, d.next_invoke(), &a, c.call_id, "5009", false);
    let refusal = refuse(&req, CF_INVALID_OBJECT_STATE);
    let p = ask(st, &mut s, st.at(46_000_000), req, Some(refusal));
    violation(st, "hold-already-held", &s, p);
    let mut b = M::new(MessageType::DEFLECT_CALL_REQ, VERSION);
    b.set(field::InvokeID, d.next_invoke())
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::ConnectionCallID, c.call_id)
        .set(field::ConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC)
        .set(field::CalledDeviceType, 0u32);
    b.text(field::ConnectionDeviceID, &a.ext).text(field::CalledDeviceID, "5009");
    let req = b.build();
    let refusal = refuse(&req, CF_INVALID_OBJECT_STATE);
    let p = ask(st, &mut s, st.at(47_000_000), req, Some(refusal));
    violation(st, "answer-not-alerting", &s, p);
    // Retrieved, then retrieved again.
    let req = retrieve(&mut d);
    ask(st, &mut s, st.at(50_000_000), req, None);
    server(st, &s, st.at(50_000_000) + LATENCY + NEXT, held(false));
    let req = retrieve(&mut d);
    let refusal = refuse(&req, CF_INVALID_OBJECT_STATE);
    let p = ask(st, &mut s, st.at(55_000_000), req, Some(refusal));
    violation(st, "retrieve-not-held", &s, p);
    // Answered again while connected.
    let req = answer(&mut d);
    let refusal = refuse(&req, CF_INVALID_OBJECT_STATE);
    let p = ask(st, &mut s, st.at(60_000_000), req, Some(refusal));
    violation(st, "answer-not-alerting", &s, p);
    // Reconnected to the call as if it were held.
    let mut b = M::new(MessageType::RECONNECT_CALL_REQ, VERSION);
    let stat = connection_device_id_type::CONNECTION_ID_STATIC;
    b.set(field::InvokeID, d.next_invoke())
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::ActiveConnectionCallID, 9009u32)
        .set(field::HeldConnectionCallID, c.call_id)
        .set(field::ActiveConnectionDeviceIDType, stat)
        .set(field::HeldConnectionDeviceIDType, stat);
    b.text(field::ActiveConnectionDeviceID, &a.ext).text(field::HeldConnectionDeviceID, &a.ext);
    let req = b.build();
    let refusal = refuse(&req, CF_INVALID_OBJECT_STATE);
    let p = ask(st, &mut s, st.at(62_000_000), req, Some(refusal));
    violation(st, "retrieve-not-held", &s, p);

    // A consultation call to 5009, answered, and a correct transfer.
    let target = "5009";
    let t = st.at(70_000_000);
    let invoke = d.next_invoke();
    let mut consult = call(9002, &a.ext, target);
    consult.call_type = call_type::CALLTYPE_CONSULT;
    let req = m::consultation_call_req(VERSION, invoke, &a, c.call_id, target, false);
    let conf = m::consultation_call_conf(VERSION, invoke, &a, consult.call_id);
    st.request(&mut s, t, req, invoke, Some((LATENCY, conf)));
    server(st, &s, t + LATENCY + NEXT, held(true));
    server(
        st,
        &s,
        t + LATENCY + 2 * NEXT,
        m::begin_call_event(VERSION, &a, &consult, &[], BuildFaults::default()),
    );
    server(st, &s, t + LATENCY + 3 * NEXT, m::call_originated_event(VERSION, &a, &consult, target));
    server(st, &s, t + LATENCY + 4 * NEXT, m::consult_delivered_event(VERSION, &a, &consult, target));
    let t = st.at(75_000_000);
    server(st, &s, t, m::call_established_event(VERSION, &a, &consult, target, &a.ext, target));
    let t = st.at(80_000_000);
    let invoke = d.next_invoke();
    let req = m::join_call_req(VERSION, invoke, &a, c.call_id, consult.call_id, false);
    let conf = m::join_call_conf(VERSION, invoke, &a, &c, target, false);
    st.request(&mut s, t, req, invoke, Some((LATENCY, conf)));
    server(st, &s, t + LATENCY + NEXT, m::joined_event(VERSION, &a, &c, consult.call_id, target, false));
    server(st, &s, t + LATENCY + 2 * NEXT, m::end_call_event(VERSION, &a, consult.call_id));
    server(st, &s, t + LATENCY + 3 * NEXT, m::end_call_event(VERSION, &a, c.call_id));
    st.state_event(&s, &mut d, t + LATENCY + 4 * NEXT, AGENT_STATE_WORK_READY, 0);

    // Idle without the reason code the desk settings require, then with one.
    let p = set_state(st, &mut s, &mut d, st.at(90_000_000), AGENT_STATE_NOT_READY, 0);
    violation(st, "reason-code-missing", &s, p);
    set_state(st, &mut s, &mut d, st.at(95_000_000), AGENT_STATE_NOT_READY, 12);
    st.end(&mut s, &mut d, st.at(100_000_000), Ending::Close);
}

fn bridge(st: &mut Story) {
    use control_failure_code::CF_INVALID_OBJECT_STATE;
    let mut d = Desk::new(1001, [10, 10, 1, 30], 51001, 1001, None);
    d.client_id = "cti-bridge".to_string();
    let services = service_mask::CTI_SERVICE_ALL_EVENTS | service_mask::CTI_SERVICE_CLIENT_CONTROL;
    let mut s = open_client(st, &mut d, services, st.at(1_200_000));
    let a2 = Desk::new(1002, [10, 10, 1, 11], 1, 1, None).agent;
    let a3 = Desk::new(1003, [10, 10, 1, 12], 1, 1, None).agent;
    let (c1, c2) = (call(9101, "+14085550102", "8005550100"), call(9102, "+14085550103", "8005550100"));
    arrives(st, &s, &a2, &c1, st.at(10_000_000));
    established(st, &s, &a2, &c1, st.at(10_500_000));
    arrives(st, &s, &a3, &c2, st.at(12_000_000));
    established(st, &s, &a3, &c2, st.at(12_500_000));
    server(st, &s, st.at(13_000_000), m::hold_event(VERSION, &a3, c2.call_id, true));
    // A pre-call announced, then aborted.
    server(st, &s, st.at(15_000_000), pre_call(&a2, 150_000, 777, false));
    server(st, &s, st.at(16_000_000), pre_call(&a2, 150_000, 777, true));
    // Transfer the call held at 5003 to the call at 5002: no device in common.
    let invoke = d.next_invoke();
    let mut b = M::new(MessageType::TRANSFER_CALL_REQ, VERSION);
    let stat = connection_device_id_type::CONNECTION_ID_STATIC;
    b.set(field::InvokeID, invoke)
        .set(field::PeripheralID, a2.peripheral_id)
        .set(field::ActiveConnectionCallID, c1.call_id)
        .set(field::HeldConnectionCallID, c2.call_id)
        .set(field::ActiveConnectionDeviceIDType, stat)
        .set(field::HeldConnectionDeviceIDType, stat)
        .set(field::NumNamedVariables, 0u32)
        .set(field::NumNamedArrays, 0u32);
    b.text(field::ActiveConnectionDeviceID, &a2.ext).text(field::HeldConnectionDeviceID, &a3.ext);
    let refusal = m::control_failure_conf(VERSION, invoke, CF_INVALID_OBJECT_STATE, 0);
    let (p, _) = st.request(&mut s, st.at(20_000_000), b.build(), invoke, Some((LATENCY, refusal)));
    violation(st, "transfer-no-common-device", &s, p);
    // An abort for a call never announced, more than a minute into the session.
    let p = server(st, &s, st.at(70_000_000), pre_call(&a3, 150_000, 778, true));
    violation(st, "pre-call-abort-unannounced", &s, p);
    for (i, (a, c)) in [(&a2, &c1), (&a3, &c2)].into_iter().enumerate() {
        let t = st.at(75_000_000 + i as i64 * 1_000_000);
        server(st, &s, t, m::call_cleared_event(VERSION, a, c.call_id));
        server(st, &s, t + NEXT, m::end_call_event(VERSION, a, c.call_id));
    }
    close_client(st, &mut s, &mut d, st.at(100_000_000));
}

fn register_req(d: &mut Desk) -> Vec<u8> {
    let mut b = M::new(MessageType::REGISTER_SERVICE_REQ, VERSION);
    b.set(field::InvokeID, d.next_invoke()).set(field::ServerMode, 0u32);
    b.text(field::ServiceName, "Cisco:CallRecording");
    b.build()
}

fn register_conf(invoke: u32, id: u32) -> Vec<u8> {
    let mut b = M::new(MessageType::REGISTER_SERVICE_CONF, VERSION);
    b.set(field::InvokeID, invoke).set(field::RegisteredServiceID, id);
    b.build()
}

fn recorder(st: &mut Story) {
    let mut d = Desk::new(1001, [10, 10, 1, 40], 52001, 2001, None);
    d.client_id = "recorder".to_string();
    let services = service_mask::CTI_SERVICE_SERVER;
    // Registers, unregisters, closes.
    let mut s = open_client(st, &mut d, services, st.at(2_000_000));
    let req = register_req(&mut d);
    let conf = register_conf(invoke_of(&req), 1);
    ask(st, &mut s, st.at(2_500_000), req, Some(conf));
    let mut b = M::new(MessageType::UNREGISTER_SERVICE_REQ, VERSION);
    b.set(field::InvokeID, d.next_invoke()).set(field::RegisteredServiceID, 1u32);
    ask(st, &mut s, st.at(30_000_000), b.build(), None);
    close_client(st, &mut s, &mut d, st.at(31_000_000));
    // Registers and closes with the service registered.
    let mut s = open_client(st, &mut d, services, st.at(40_000_000));
    let req = register_req(&mut d);
    let conf = register_conf(invoke_of(&req), 2);
    ask(st, &mut s, st.at(40_500_000), req, Some(conf));
    let p = close_client(st, &mut s, &mut d, st.at(60_000_000));
    violation(st, "unregister-missing", &s, p);
}

fn monitor_req(ty: MessageType, d: &mut Desk, monitor: u32) -> Vec<u8> {
    let mut b = M::new(ty, VERSION);
    b.set(field::InvokeID, d.next_invoke()).set(field::MonitorID, monitor);
    if ty == MessageType::CHANGE_MONITOR_MASK_REQ {
        b.set(field::CallMsgMask, m::CALL_MSG_MASK).set(field::AgentStateMask, m::AGENT_STATE_MASK);
    }
    b.build()
}

fn peripheral_monitor(st: &mut Story) {
    let mut d = Desk::new(1001, [10, 10, 1, 50], 53001, 3001, None);
    d.client_id = "pm-1".to_string();
    let services = service_mask::CTI_SERVICE_PERIPHERAL_MONITOR;
    let periph = d.agent.peripheral_id;
    let mut s = open_client(st, &mut d, services, st.at(3_000_000));
    for (i, (ext, monitor)) in [("5001", 11), ("5002", 12)].into_iter().enumerate() {
        let invoke = d.next_invoke();
        let req = m::monitor_start_req(VERSION, invoke, periph, ext);
        let conf = m::monitor_start_conf(VERSION, invoke, monitor);
        st.request(&mut s, st.at(3_500_000 + i as i64 * 100_000), req, invoke, Some((LATENCY, conf)));
    }
    // The client resets the session and opens another.
    st.script.rst(s.c, End::Client, st.at(30_000_000));
    let mut s = open_client(st, &mut d, services, st.at(31_000_000));
    let invoke = d.next_invoke();
    let req = m::monitor_start_req(VERSION, invoke, periph, "5001");
    let conf = m::monitor_start_conf(VERSION, invoke, 11);
    st.request(&mut s, st.at(31_500_000), req, invoke, Some((LATENCY, conf)));
    let req = monitor_req(MessageType::CHANGE_MONITOR_MASK_REQ, &mut d, 11);
    ask(st, &mut s, st.at(35_000_000), req, None);
    let req = monitor_req(MessageType::MONITOR_STOP_REQ, &mut d, 12);
    let invoke = invoke_of(&req);
    let refusal = m::failure_conf(VERSION, invoke, status_code::E_CTI_INVALID_MONITORID);
    let p = ask(st, &mut s, st.at(40_000_000), req, Some(refusal));
    violation(st, "monitor-not-recreated", &s, p);
    let req = monitor_req(MessageType::MONITOR_STOP_REQ, &mut d, 11);
    ask(st, &mut s, st.at(45_000_000), req, None);
    close_client(st, &mut s, &mut d, st.at(50_000_000));
}

/// The scenario.
pub(super) fn call_violations(st: &mut Story) {
    agent_desktop(st);
    bridge(st);
    recorder(st);
    peripheral_monitor(st);
}
