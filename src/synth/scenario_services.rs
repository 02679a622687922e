//! The `service-violations` scenario: three sessions on one server, each breaking the
//! rules that depend on what a session asked for and was granted, every violation at a
//! known frame and written to the truth file as a `violation` line (the rule id, the
//! connection, the frame and its time).
//!
//! - connection 0, desktop of agent 1001, granted CTI_SERVICE_CLIENT_EVENTS |
//!   CTI_SERVICE_CLIENT_CONTROL with a CallMsgMask without CALL_HELD_MASK and an
//!   AgentStateMask without AGENT_WORK_READY_MASK, registered for CallVariable1 and 2 only:
//!   a CALL_DATA_UPDATE_EVENT with CallVariable3, SET_CALL_DATA_REQ (Call Data Update, not
//!   granted) answered by SET_CALL_DATA_CONF, LIST_AGENT_TEAM_REQ (Supervisor, not granted)
//!   answered by FAILURE_CONF, SNAPSHOT_DEVICE_REQ for another agent's device without All
//!   Events, CALL_HELD_EVENT and AGENT_STATE_EVENT WORK_READY left out by the masks,
//!   CLIENT_SESSION_OPENED_EVENT without Client Monitor; CALL_AGENT_GREETING_EVENT ENDED_OK
//!   with a PeripheralErrorCode, CALL_ATTRIBUTE_CHANGE_EVENT with a MonitorID and
//!   QUERY_DEVICE_INFO_REQ with its Reserved field set (each a field the guide sets to zero);
//! - connection 1, agent 1002's desktop asking for CTI_SERVICE_SUPERVISOR without
//!   CTI_SERVICE_CLIENT_EVENTS and granted CTI_SERVICE_CLIENT_CONTROL only: an
//!   AGENT_STATE_EVENT without Client Events;
//! - connection 2, a Peripheral Monitor client (also Client Events, Client Control,
//!   Supervisor and Client Monitor): MONITOR_START_REQ for a device with
//!   ConnectionDeviceIDType CONNECTION_ID_STATIC and a CallMsgMask without CALL_HELD_MASK,
//!   CALL_HELD_EVENT on that monitor, CHANGE_MONITOR_MASK_REQ trading CALL_ESTABLISHED_MASK
//!   for CALL_HELD_MASK, then CALL_HELD_EVENT (allowed now) and CALL_ESTABLISHED_EVENT (left
//!   out); CLIENT_SESSION_OPENED_EVENT of a bridge with PeripheralID 5000; SUPERVISE_CALL_REQ
//!   naming neither call nor agent; SUPERVISE_CALL_REQ without a supervisor call whose
//!   SupervisorConnectionCallID is not 0xffffffff; QUERY_AGENT_STATISTICS_REQ naming no agent;
//!   a single step TRANSFER_CALL_REQ with HeldConnectionCallID 0 and HeldConnectionDeviceIDType
//!   CONNECTION_ID_STATIC; QUERY_AGENT_STATE_REQ naming no agent; USER_MESSAGE_REQ to the
//!   team naming no agent; MONITOR_START_REQ for a call with MonitoredDeviceType
//!   DEVID_DEVICE_IDENTIFIER; requests without a field their case requires
//!   (SUPERVISE_CALL_REQ without SupervisorInstrument, SET_AGENT_STATE_REQ logging out
//!   without AgentPassword and logging in without AgentID, a device monitor without
//!   MonitoredDeviceID, USER_MESSAGE_REQ to DISTRIBUTE_TO_CLIENT without ClientID,
//!   CONFERENCE_CALL_REQ with neither HeldConnectionDeviceID nor DialedNumber,
//!   QUERY_SKILL_GROUP_STATISTICS_REQ with both skill group fields NULL_SKILL_GROUP); an
//!   unsolicited configuration update block whose skill group
//!   record the OPEN_REQ ConfigMsgMask (agent information only) leaves out, and whose agent
//!   record passes.
//!
//! Every session opens and closes cleanly (CLOSE_REQ, CLOSE_CONF, FIN).

use super::*;
use crate::cti::spec::fields::field;
use crate::cti::spec::values::{
    agent_greeting_event_code, agent_state, agent_state_mask, call_id, call_msg_mask as cm, call_type,
    call_variable_mask, config_mask, config_type, connection_device_id_type as cdt, device_id_type,
    distribution, peripheral_type, skill_group, supervisory_action,
};

const SERVER: &str = "10.10.0.1:42027";

/// One session of the scenario.
struct S {
    c: Conn,
    invoke: u32,
}

impl Story {
    fn violation(&mut self, rule: &str, c: Conn, p: Pkt) {
        let t = self.script.time(p);
        self.fact(
            Fact::new("violation", p).s("rule", rule).conn("conn", c).frame("frame", p).time("time", t),
        );
    }

    /// Connect and open a session: OPEN_REQ with `requested` and the masks (CallMsgMask,
    /// AgentStateMask, ConfigMsgMask), OPEN_CONF with `granted`. Returns the session and the
    /// OPEN_REQ's packet.
    #[allow(clippy::too_many_arguments)]
    fn open_session(
        &mut self,
        client: &str,
        t: i64,
        client_id: &str,
        agent: Option<&AgentInfo>,
        requested: u32,
        granted: u32,
        masks: (u32, u32, u32),
    ) -> (S, Pkt) {
        let c = self.conn(addr(client), addr(SERVER));
        self.script.handshake(c, t, RTT);
        let mut req = m::M::new(MessageType::OPEN_REQ, VERSION);
        req.set(field::InvokeID, 1u32)
            .set(field::VersionNumber, VERSION)
            .set(field::IdleTimeout, idle_timeout::NO_HEARTBEAT)
            .set(field::PeripheralID, agent.map_or(u32::MAX, |a| a.peripheral_id))
            .set(field::ServicesRequested, requested)
            .set(field::CallMsgMask, masks.0)
            .set(field::AgentStateMask, masks.1)
            .set(field::ConfigMsgMask, masks.2);
        req.text(field::ClientID, client_id).bytes(field::ClientPassword, b"");
        if let Some(a) = agent {
            req.text(field::AgentExtension, &a.ext)
                .text(field::AgentID, &a.id)
                .text(field::AgentInstrument, &a.ext);
        }
        let p = self.script.message(c, End::Client, t + MS, req.build());
        let conf = m::open_conf(
            VERSION,
            1,
            granted,
            ((t + MS) / SEC) as u32,
            agent,
            super::super::center::PERIPHERAL_ID,
            agent_state::AGENT_STATE_NOT_READY,
        );
        self.script.message(c, End::Server, t + MS + LATENCY, conf);
        (S { c, invoke: 2 }, p)
    }

    /// A client request at `t`, answered after the server's delay by `answer` (given the
    /// InvokeID). Returns the request's and the answer's packets.
    fn ask(
        &mut self,
        s: &mut S,
        t: i64,
        req: impl FnOnce(u32) -> Vec<u8>,
        answer: impl FnOnce(u32) -> Vec<u8>,
    ) -> (Pkt, Pkt) {
        let inv = s.invoke;
        s.invoke += 1;
        let p = self.script.message(s.c, End::Client, t, req(inv));
        let a = self.script.message(s.c, End::Server, t + LATENCY, answer(inv));
        (p, a)
    }

    fn event(&mut self, s: &S, t: i64, bytes: Vec<u8>) -> Pkt {
        self.script.message(s.c, End::Server, t, bytes)
    }

    /// CLOSE_REQ, CLOSE_CONF and the client's FIN.
    fn close_session(&mut self, s: &mut S, t: i64) {
        self.ask(s, t, |i| m::close_req(VERSION, i), |i| m::invoke_only(MessageType::CLOSE_CONF, VERSION, i));
        self.script.close(s.c, End::Client, t + LATENCY + MS, TEARDOWN);
    }
}

/// The agent of a desktop.
fn agent(id: u32) -> AgentInfo {
    let n = id - 1001;
    AgentInfo {
        id: id.to_string(),
        ext: (5001 + n).to_string(),
        peripheral_id: super::super::center::PERIPHERAL_ID,
        skill_number: 100,
        skill_id: 5100,
        icm_agent_id: 7001 + n,
        first: "Maria",
        last: "Garcia",
    }
}

fn call(call_id: u32) -> m::CallInfo {
    m::CallInfo::scripted(call_id, call_type::CALLTYPE_ACD_IN, "4085550100", "8005550199", 0)
}

/// Sets the MonitorID of an event (a fixed field: its offset is the header's 8 bytes and the
/// sizes of the fields before it that the version carries).
fn on_monitor(mut ev: Vec<u8>, monitor: u32) -> Vec<u8> {
    let spec = spec::message(m::message_type(&ev).0, Some(VERSION)).expect("known event");
    let carried = spec.fixed.iter().filter(|f| u32::from(f.since) <= VERSION);
    let before: usize =
        8 + carried.take_while(|f| f.id != field::MonitorID).map(|f| usize::from(f.size)).sum::<usize>();
    assert!(spec.fixed.iter().any(|f| f.id == field::MonitorID), "{} has no MonitorID", spec.name);
    ev[before..before + 4].copy_from_slice(&monitor.to_be_bytes());
    ev
}

/// CLIENT_SESSION_OPENED_EVENT of a session with `granted`, on `peripheral`.
fn session_opened(session: u32, peripheral: u32, granted: u32) -> Vec<u8> {
    let mut e = m::M::new(MessageType::CLIENT_SESSION_OPENED_EVENT, VERSION);
    e.set(field::SessionID, session)
        .set(field::PeripheralID, peripheral)
        .set(field::ServicesGranted, granted)
        .set(field::CallMsgMask, m::CALL_MSG_MASK)
        .set(field::AgentStateMask, m::AGENT_STATE_MASK)
        .set(field::ClientPort, 50_999u32);
    e.text(field::ClientAddress, "10.10.1.99")
        .text(field::ClientID, "bridge-1")
        .text(field::ClientSignature, "bridge-1");
    e.build()
}

pub(super) fn service_violations(st: &mut Story) {
    use service_mask::*;
    let all_calls = m::CALL_MSG_MASK;
    let all_states = m::AGENT_STATE_MASK;

    // Connection 0: a desktop with Client Events and Client Control only.
    let a1 = agent(1001);
    let t = st.at(1_000_000);
    let granted = CTI_SERVICE_CLIENT_EVENTS | CTI_SERVICE_CLIENT_CONTROL;
    // The desktop asks for agent greeting events too (a bit beyond m::CALL_MSG_MASK).
    let calls = (all_calls | cm::CALL_AGENT_GREETING_MASK) & !cm::CALL_HELD_MASK;
    let masks = (calls, all_states & !agent_state_mask::AGENT_WORK_READY_MASK, 0);
    let (mut s0, _) = st.open_session("10.10.1.10:50001", t, "desk-1001", Some(&a1), granted, granted, masks);
    let c0 = s0.c;
    let mut call0 = call(16_800_001);
    st.ask(
        &mut s0,
        t + 50 * MS,
        |i| {
            let mut r = m::M::new(MessageType::REGISTER_VARIABLES_REQ, VERSION);
            r.set(field::InvokeID, i)
                .set(
                    field::CallVariableMask,
                    call_variable_mask::CALL_VAR_1_MASK | call_variable_mask::CALL_VAR_2_MASK,
                )
                .set(field::NumNamedVariables, 0u32)
                .set(field::NumNamedArrays, 0u32);
            r.build()
        },
        |i| m::invoke_only(MessageType::REGISTER_VARIABLES_CONF, VERSION, i),
    );
    st.event(&s0, t + 100 * MS, m::begin_call_event(VERSION, &a1, &call0, &[], m::BuildFaults::default()));
    st.event(&s0, t + 100 * MS + NEXT, m::call_delivered_event(VERSION, &a1, &call0));
    // CallVariable1 was registered, CallVariable3 not.
    call0.vars = vec![(1, "4711".into())];
    let update = |c: &m::CallInfo| m::call_data_update_event(VERSION, &a1, c, &[], m::BuildFaults::default());
    st.event(&s0, t + 150 * MS, update(&call0));
    call0.vars.push((3, "gold".into()));
    let p = st.event(&s0, t + 160 * MS, update(&call0));
    st.violation("event-masked", c0, p);
    call0.vars.clear();
    let (req, conf) = st.ask(
        &mut s0,
        t + 200 * MS,
        |i| m::set_call_data_req(VERSION, i, &a1, &call0),
        |i| m::invoke_only(MessageType::SET_CALL_DATA_CONF, VERSION, i),
    );
    st.violation("service-request-not-granted", c0, req);
    st.violation("service-confirm-not-granted", c0, conf);
    let (req, _) = st.ask(
        &mut s0,
        t + 300 * MS,
        |i| {
            let mut r = m::M::new(MessageType::LIST_AGENT_TEAM_REQ, VERSION);
            r.set(field::InvokeID, i);
            r.build()
        },
        |i| m::failure_conf(VERSION, i, status_code::E_CTI_FUNCTION_NOT_AVAILABLE),
    );
    st.violation("service-request-not-granted", c0, req);
    let (req, _) = st.ask(
        &mut s0,
        t + 350 * MS,
        |i| {
            let mut r = m::M::new(MessageType::SNAPSHOT_DEVICE_REQ, VERSION);
            r.set(field::InvokeID, i)
                .set(field::PeripheralID, a1.peripheral_id)
                .set(field::SnapshotDeviceType, device_id_type::DEVID_DEVICE_IDENTIFIER);
            r.text(field::AgentInstrument, "5002");
            r.build()
        },
        |i| m::control_failure_conf(VERSION, i, 70, 0),
    );
    st.violation("service-request-not-granted", c0, req);
    let p = st.event(&s0, t + 400 * MS, m::hold_event(VERSION, &a1, call0.call_id, true));
    st.violation("event-masked", c0, p);
    let ev = m::agent_state_event(VERSION, &a1, None, agent_state::AGENT_STATE_WORK_READY, 0, 0, false);
    let p = st.event(&s0, t + 500 * MS, ev);
    st.violation("event-masked", c0, p);
    let ev = session_opened(7, a1.peripheral_id, CTI_SERVICE_CLIENT_EVENTS);
    let p = st.event(&s0, t + 600 * MS, ev);
    st.violation("service-event-not-granted", c0, p);
    // Fields the guide sets to zero: a greeting that ended well with a PeripheralErrorCode,
    // an attribute change with a MonitorID, a device query with its Reserved field set.
    let mut e = m::M::new(MessageType::CALL_AGENT_GREETING_EVENT, VERSION);
    e.set(field::PeripheralID, a1.peripheral_id)
        .set(field::ConnectionDeviceIDType, cdt::CONNECTION_ID_STATIC)
        .set(field::ConnectionCallID, call0.call_id)
        .set(field::EventCode, agent_greeting_event_code::ENDED_OK)
        .set(field::PeripheralErrorCode, 7u32);
    e.text(field::ConnectionDeviceID, &a1.ext).text(field::AgentID, &a1.id);
    let p = st.event(&s0, t + 650 * MS, e.build());
    st.violation("value-not-zero", c0, p);
    let mut e = m::M::new(MessageType::CALL_ATTRIBUTE_CHANGE_EVENT, VERSION);
    e.set(field::MonitorID, 3u32)
        .set(field::PeripheralID, a1.peripheral_id)
        .set(field::PeripheralType, peripheral_type::PT_ENTERPRISE_AGENT)
        .set(field::ConnectionDeviceIDType, cdt::CONNECTION_ID_STATIC)
        .set(field::CallTypeID, 1u32)
        .set(field::ServiceNumber, 1u32);
    e.text(field::ConnectionDeviceID, &a1.ext);
    let p = st.event(&s0, t + 660 * MS, e.build());
    st.violation("value-not-zero", c0, p);
    let (req, _) = st.ask(
        &mut s0,
        t + 670 * MS,
        |i| {
            let mut r = m::M::new(MessageType::QUERY_DEVICE_INFO_REQ, VERSION);
            r.set(field::InvokeID, i).set(field::PeripheralID, a1.peripheral_id).set(field::Reserved, 1u32);
            r.text(field::AgentInstrument, &a1.ext);
            r.build()
        },
        |i| m::control_failure_conf(VERSION, i, 70, 0),
    );
    st.violation("value-not-zero", c0, req);
    st.event(&s0, t + 700 * MS, m::end_call_event(VERSION, &a1, call0.call_id));
    st.close_session(&mut s0, t + 800 * MS);

    // Connection 1: a supervisor desktop without Client Events, granted Client Control only.
    let a2 = agent(1002);
    let t = st.at(3_000_000);
    let requested = CTI_SERVICE_SUPERVISOR | CTI_SERVICE_CLIENT_CONTROL;
    let (mut s1, open) = st.open_session(
        "10.10.1.11:50101",
        t,
        "desk-1002",
        Some(&a2),
        requested,
        CTI_SERVICE_CLIENT_CONTROL,
        (all_calls, all_states, 0),
    );
    let c1 = s1.c;
    st.violation("service-requires", c1, open);
    let ev = m::agent_state_event(VERSION, &a2, None, agent_state::AGENT_STATE_NOT_READY, 0, 0, false);
    let p = st.event(&s1, t + 100 * MS, ev);
    st.violation("service-event-not-granted", c1, p);
    st.close_session(&mut s1, t + 200 * MS);

    // Connection 2: a Peripheral Monitor client.
    let t = st.at(5_000_000);
    let granted = CTI_SERVICE_PERIPHERAL_MONITOR
        | CTI_SERVICE_CLIENT_EVENTS
        | CTI_SERVICE_CLIENT_CONTROL
        | CTI_SERVICE_SUPERVISOR
        | CTI_SERVICE_CLIENT_MONITOR;
    let masks = (all_calls, all_states, config_mask::AGENT_INFORMATION);
    let (mut s2, _) = st.open_session("10.10.1.20:50201", t, "monitor-1", None, granted, granted, masks);
    let c2 = s2.c;
    const MON: u32 = 11;
    let (req, _) = st.ask(
        &mut s2,
        t + 100 * MS,
        |i| {
            let mut r = m::M::new(MessageType::MONITOR_START_REQ, VERSION);
            r.set(field::InvokeID, i)
                .set(field::PeripheralID, a1.peripheral_id)
                .set(field::ConnectionCallID, 0u32)
                .set(field::CallMsgMask, all_calls & !cm::CALL_HELD_MASK)
                .set(field::AgentStateMask, all_states)
                .set(field::ConnectionDeviceIDType, cdt::CONNECTION_ID_STATIC)
                .set(field::MonitoredDeviceType, device_id_type::DEVID_DEVICE_IDENTIFIER);
            r.text(field::MonitoredDeviceID, &a1.ext);
            r.build()
        },
        |i| m::monitor_start_conf(VERSION, i, MON),
    );
    st.violation("sentinel-not-set", c2, req);
    let call2 = call(16_800_003);
    let ev = |b: Vec<u8>| on_monitor(b, MON);
    st.event(
        &s2,
        t + 200 * MS,
        ev(m::begin_call_event(VERSION, &a1, &call2, &[], m::BuildFaults::default())),
    );
    let p = st.event(&s2, t + 300 * MS, ev(m::hold_event(VERSION, &a1, call2.call_id, true)));
    st.violation("event-masked", c2, p);
    st.ask(
        &mut s2,
        t + 400 * MS,
        |i| {
            let mut r = m::M::new(MessageType::CHANGE_MONITOR_MASK_REQ, VERSION);
            r.set(field::InvokeID, i)
                .set(field::MonitorID, MON)
                .set(field::CallMsgMask, all_calls & !cm::CALL_ESTABLISHED_MASK)
                .set(field::AgentStateMask, all_states);
            r.build()
        },
        |i| m::invoke_only(MessageType::CHANGE_MONITOR_MASK_CONF, VERSION, i),
    );
    st.event(&s2, t + 500 * MS, ev(m::hold_event(VERSION, &a1, call2.call_id, false)));
    st.event(&s2, t + 500 * MS + NEXT, ev(m::hold_event(VERSION, &a1, call2.call_id, true)));
    let est = m::call_established_event(VERSION, &a1, &call2, &a1.ext, &call2.ani, &a1.ext);
    let p = st.event(&s2, t + 600 * MS, ev(est));
    st.violation("event-masked", c2, p);
    st.event(&s2, t + 700 * MS, ev(m::end_call_event(VERSION, &a1, call2.call_id)));
    let p = st.event(&s2, t + 800 * MS, session_opened(8, a1.peripheral_id, CTI_SERVICE_ALL_EVENTS));
    st.violation("sentinel-not-set", c2, p);
    let supervise = |i: u32, agent_call: u32, sup_call: u32, named: bool, instrument: bool| {
        let mut r = m::M::new(MessageType::SUPERVISE_CALL_REQ, VERSION);
        r.set(field::InvokeID, i)
            .set(field::PeripheralID, a1.peripheral_id)
            .set(field::AgentConnectionCallID, agent_call)
            .set(field::SupervisorConnectionCallID, sup_call)
            .set(field::AgentConnectionDeviceIDType, cdt::CONNECTION_ID_NONE)
            .set(field::SupervisorConnectionDeviceIDType, cdt::CONNECTION_ID_NONE)
            .set(field::SupervisoryAction, supervisory_action::SUPERVISOR_BARGE_IN);
        if named {
            r.text(field::AgentID, &a1.id);
        }
        if instrument {
            r.text(field::SupervisorInstrument, "5099");
        }
        r.build()
    };
    let fail = |i: u32| m::failure_conf(VERSION, i, status_code::E_CTI_FUNCTION_NOT_AVAILABLE);
    let (req, _) = st.ask(
        &mut s2,
        t + 900 * MS,
        |i| supervise(i, call_id::NULL_CALL_ID, call_id::NULL_CALL_ID, false, true),
        fail,
    );
    st.violation("call-or-agent-missing", c2, req);
    let (req, _) =
        st.ask(&mut s2, t + 1_000 * MS, |i| supervise(i, call_id::NULL_CALL_ID, 4242, true, true), fail);
    st.violation("sentinel-not-set", c2, req);
    let (req, _) = st.ask(
        &mut s2,
        t + 1_100 * MS,
        |i| {
            let mut r = m::M::new(MessageType::QUERY_AGENT_STATISTICS_REQ, VERSION);
            r.set(field::InvokeID, i).set(field::PeripheralID, a1.peripheral_id);
            r.build()
        },
        fail,
    );
    st.violation("agent-identity-missing", c2, req);
    let (req, _) = st.ask(
        &mut s2,
        t + 1_200 * MS,
        |i| {
            let mut r = m::M::new(MessageType::TRANSFER_CALL_REQ, VERSION);
            r.set(field::InvokeID, i)
                .set(field::PeripheralID, a1.peripheral_id)
                .set(field::HeldConnectionCallID, 0u32)
                .set(field::ActiveConnectionCallID, call2.call_id)
                .set(field::HeldConnectionDeviceIDType, cdt::CONNECTION_ID_STATIC)
                .set(field::ActiveConnectionDeviceIDType, cdt::CONNECTION_ID_STATIC);
            r.text(field::ActiveConnectionDeviceID, &a1.ext).text(field::DialedNumber, "5002");
            r.build()
        },
        |i| m::control_failure_conf(VERSION, i, 70, 0),
    );
    st.violation("sentinel-not-set", c2, req);
    let (req, _) = st.ask(
        &mut s2,
        t + 1_300 * MS,
        |i| {
            let mut r = m::M::new(MessageType::QUERY_AGENT_STATE_REQ, VERSION);
            r.set(field::InvokeID, i)
                .set(field::PeripheralID, a1.peripheral_id)
                .set(field::MRDID, 1u32)
                .set(field::ICMAgentID, 0u32);
            r.build()
        },
        fail,
    );
    st.violation("mrd-agent-missing", c2, req);
    // USER_MESSAGE_REQ from the monitor client, naming neither agent nor client.
    let user_message = |i: u32, to: u32, text: &str| {
        let mut r = m::M::new(MessageType::USER_MESSAGE_REQ, VERSION);
        r.set(field::InvokeID, i).set(field::PeripheralID, a1.peripheral_id).set(field::Distribution, to);
        r.text(field::CTIOSCILClientID, "monitor-1").text(field::Text, text);
        r.build()
    };
    let (req, _) = st.ask(
        &mut s2,
        t + 1_400 * MS,
        |i| user_message(i, distribution::DISTRIBUTE_TO_TEAM, "break at 10"),
        fail,
    );
    st.violation("agent-identity-missing", c2, req);
    let (req, _) = st.ask(
        &mut s2,
        t + 1_500 * MS,
        |i| {
            let mut r = m::M::new(MessageType::MONITOR_START_REQ, VERSION);
            r.set(field::InvokeID, i)
                .set(field::PeripheralID, a1.peripheral_id)
                .set(field::ConnectionCallID, call2.call_id)
                .set(field::CallMsgMask, all_calls)
                .set(field::AgentStateMask, all_states)
                .set(field::ConnectionDeviceIDType, cdt::CONNECTION_ID_STATIC)
                .set(field::MonitoredDeviceType, device_id_type::DEVID_DEVICE_IDENTIFIER);
            r.text(field::ConnectionDeviceID, &a1.ext);
            r.build()
        },
        fail,
    );
    st.violation("sentinel-not-set", c2, req);
    // Fields a request must carry in its case: SupervisorInstrument from a Peripheral
    // Monitor client, AgentPassword for a logout, AgentID for a login, a device monitor's
    // MonitoredDeviceID, ClientID for DISTRIBUTE_TO_CLIENT, a conference's other party.
    let (req, _) = st.ask(
        &mut s2,
        t + 1_510 * MS,
        |i| supervise(i, call_id::NULL_CALL_ID, call_id::NULL_CALL_ID, true, false),
        fail,
    );
    st.violation("conditional-field-missing", c2, req);
    let set_state = |i: u32, state: u32, id: bool, password: bool| {
        let mut r = m::M::new(MessageType::SET_AGENT_STATE_REQ, VERSION);
        r.set(field::InvokeID, i)
            .set(field::PeripheralID, a1.peripheral_id)
            .set(field::AgentState, state)
            .set(field::AgentWorkMode, 0u32)
            .set(field::NumSkillGroups, 0u32)
            .set(field::EventReasonCode, 0u32)
            .set(field::ForcedFlag, 0u32)
            .set(field::AgentServiceReq, 0u32);
        r.text(field::AgentInstrument, &a1.ext);
        if id {
            r.text(field::AgentID, &a1.id);
        }
        if password {
            r.bytes(field::AgentPassword, b"\0");
        }
        r.build()
    };
    let (req, _) =
        st.ask(&mut s2, t + 1_520 * MS, |i| set_state(i, agent_state::AGENT_STATE_LOGOUT, true, false), fail);
    st.violation("conditional-field-missing", c2, req);
    let (req, _) =
        st.ask(&mut s2, t + 1_530 * MS, |i| set_state(i, agent_state::AGENT_STATE_LOGIN, false, true), fail);
    st.violation("conditional-field-missing", c2, req);
    // Not ready needs neither.
    st.ask(&mut s2, t + 1_535 * MS, |i| set_state(i, agent_state::AGENT_STATE_NOT_READY, false, false), fail);
    let (req, _) = st.ask(
        &mut s2,
        t + 1_540 * MS,
        |i| {
            let mut r = m::M::new(MessageType::MONITOR_START_REQ, VERSION);
            r.set(field::InvokeID, i)
                .set(field::PeripheralID, a1.peripheral_id)
                .set(field::ConnectionCallID, call_id::NULL_CALL_ID)
                .set(field::CallMsgMask, all_calls)
                .set(field::AgentStateMask, all_states)
                .set(field::ConnectionDeviceIDType, cdt::CONNECTION_ID_NONE)
                .set(field::MonitoredDeviceType, device_id_type::DEVID_DEVICE_IDENTIFIER);
            r.build()
        },
        fail,
    );
    st.violation("conditional-field-missing", c2, req);
    let (req, _) = st.ask(
        &mut s2,
        t + 1_550 * MS,
        |i| user_message(i, distribution::DISTRIBUTE_TO_CLIENT, "call me"),
        fail,
    );
    st.violation("conditional-field-missing", c2, req);
    let (req, _) = st.ask(
        &mut s2,
        t + 1_560 * MS,
        |i| {
            let mut r = m::M::new(MessageType::CONFERENCE_CALL_REQ, VERSION);
            r.set(field::InvokeID, i)
                .set(field::PeripheralID, a1.peripheral_id)
                .set(field::HeldConnectionCallID, call_id::NULL_CALL_ID)
                .set(field::ActiveConnectionCallID, call2.call_id)
                .set(field::HeldConnectionDeviceIDType, cdt::CONNECTION_ID_NONE)
                .set(field::ActiveConnectionDeviceIDType, cdt::CONNECTION_ID_STATIC);
            r.text(field::ActiveConnectionDeviceID, &a1.ext);
            r.build()
        },
        |i| m::control_failure_conf(VERSION, i, 70, 0),
    );
    st.violation("conditional-field-missing", c2, req);
    let (req, _) = st.ask(
        &mut s2,
        t + 1_570 * MS,
        |i| {
            let mut r = m::M::new(MessageType::QUERY_SKILL_GROUP_STATISTICS_REQ, VERSION);
            r.set(field::InvokeID, i)
                .set(field::PeripheralID, a1.peripheral_id)
                .set(field::SkillGroupNumber, skill_group::NULL_SKILL_GROUP)
                .set(field::SkillGroupID, skill_group::NULL_SKILL_GROUP);
            r.build()
        },
        fail,
    );
    st.violation("conditional-field-missing", c2, req);
    // An unsolicited update block: skill group records are left out by the ConfigMsgMask,
    // agent records pass.
    let mut begin = m::M::new(MessageType::CONFIG_BEGIN_EVENT, VERSION);
    begin
        .set(field::ConfigType, config_type::UNSOLICITED)
        .set(field::ConfigInformation, config_mask::AGENT_INFORMATION | config_mask::SKILL_GROUP_INFORMATION);
    for (i, k) in m::CONFIG_KEYS.into_iter().enumerate() {
        begin.bytes(k, &(0x5e_0000 + i as u64).to_be_bytes());
    }
    st.event(&s2, t + 1_600 * MS, begin.build());
    let sg = m::SkillGroupRec { number: 100, id: 5100, name: "Sales".into() };
    let p =
        st.event(&s2, t + 1_600 * MS + NEXT, m::config_skill_group_event(VERSION, a1.peripheral_id, &[sg]));
    st.violation("event-masked", c2, p);
    st.event(&s2, t + 1_600 * MS + 2 * NEXT, m::config_agent_event(VERSION, std::slice::from_ref(&a1)));
    st.event(&s2, t + 1_600 * MS + 3 * NEXT, m::config_end_event(VERSION));
    st.close_session(&mut s2, t + 1_700 * MS);
}
