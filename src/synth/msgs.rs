//! The messages the synthetic sessions exchange, each built with
//! [`crate::cti::encode::MessageBuilder`] from the spec tables at the session's protocol
//! version: messages by [`MessageType`], fields by their dictionary ids
//! ([`spec::fields::field`]), values by the constants of their value tables
//! ([`spec::values`]).
//!
//! Floating fields the protocol version does not know yet (a tag introduced later, or a
//! tag above 255 where floating headers are one byte wide) are left out, as a server or
//! client speaking that version would.

use crate::cti::encode::MessageBuilder;
use crate::cti::framing::parse_header;
use crate::cti::spec::fields::field;
use crate::cti::spec::values::{
    agent_availability_status, agent_mode, agent_state, agent_state_mask, agent_work_mode, call_id,
    call_msg_mask, call_type, config_device_type, config_end_status, config_mask, config_type,
    connection_device_id_type, consult_type, device_id_type, direction, disposition, event_cause,
    forced_flag, line_type, local_connection_state, multiline_agent_control, peripheral_id, peripheral_type,
    record_type, service_mask, session_type, sso_enabled, status_code,
};
use crate::cti::spec::{self, FieldId, MessageType};

/// The peripheral type every message reports.
pub const PERIPHERAL_TYPE: u32 = peripheral_type::PT_ENTERPRISE_AGENT;

/// Every unsolicited call event bit named up to CALL_ATTRIBUTE_CHANGE_MASK.
pub const CALL_MSG_MASK: u32 = (call_msg_mask::CALL_ATTRIBUTE_CHANGE_MASK << 1) - 1;
/// Agent state bits LOGIN .. HOLD.
pub const AGENT_STATE_MASK: u32 = (agent_state_mask::AGENT_HOLD_MASK << 1) - 1;
/// Skill group, agent and device information.
pub const CONFIG_MASK: u32 =
    config_mask::SKILL_GROUP_INFORMATION | config_mask::AGENT_INFORMATION | config_mask::DEVICE_INFORMATION;
/// A mask with none of its bits set (PGStatus: every component up; AgentServiceReq: no
/// service requested; ConfigMsgMask: no configuration events).
const NO_BITS: u32 = 0;

/// A message builder that skips floating fields the protocol version cannot carry.
pub struct M {
    b: MessageBuilder,
}

impl M {
    pub fn new(ty: MessageType, v: u32) -> M {
        M { b: MessageBuilder::for_type(ty, v) }
    }

    /// Sets a fixed field; a field the version does not carry yet is skipped.
    pub fn set(&mut self, f: FieldId, value: impl Into<u64>) -> &mut Self {
        if self.b.set(f, value.into()).is_err() {
            let spec = self.b.spec();
            assert!(spec.fixed.iter().any(|x| x.id == f), "{} has no fixed field {}", spec.name, f.name());
        }
        self
    }

    /// Does the layout list floating field `f`?
    fn lists(&self, f: FieldId) -> bool {
        self.b.spec().floating.iter().any(|x| x.id == f)
    }

    fn usable(&self, f: FieldId) -> bool {
        match self.b.carries(f) {
            Ok(carried) => carried,
            Err(e) => panic!("{e}"),
        }
    }

    pub fn text(&mut self, f: FieldId, s: &str) -> &mut Self {
        if self.usable(f) {
            self.b.text(f, s).expect("string fits");
        }
        self
    }

    pub fn num(&mut self, f: FieldId, v: impl Into<u64>) -> &mut Self {
        if self.usable(f) {
            self.b.number(f, v.into()).expect("numeric field");
        }
        self
    }

    pub fn bytes(&mut self, f: FieldId, b: &[u8]) -> &mut Self {
        if self.usable(f) {
            self.b.bytes(f, b).expect("bytes fit");
        }
        self
    }

    pub fn named_var(&mut self, name: &str, value: &str) -> &mut Self {
        self.b.named_var(name, value).expect("named variable fits");
        self
    }

    pub fn named_array(&mut self, index: u8, name: &str, value: &str) -> &mut Self {
        self.b.named_array(index, name, value).expect("named array fits");
        self
    }

    pub fn build(&self) -> Vec<u8> {
        self.b.build()
    }
}

/// The agent a message is about.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    pub id: String,
    pub ext: String,
    pub peripheral_id: u32,
    pub skill_number: u32,
    pub skill_id: u32,
    pub icm_agent_id: u32,
    pub first: &'static str,
    pub last: &'static str,
}

/// Call context carried by BEGIN_CALL_EVENT and CALL_DATA_UPDATE_EVENT.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub call_id: u32,
    /// A [`call_type`] value.
    pub call_type: u32,
    pub ani: String,
    pub dnis: String,
    pub dialed: String,
    pub ced: String,
    /// (n, value) of CallVariable`n`.
    pub vars: Vec<(u8, String)>,
    pub ecc: Vec<(String, String)>,
    pub arrays: Vec<(u8, String, String)>,
    pub router_day: u32,
    pub router_call: u32,
    pub service: u32,
    pub wrapup: Option<String>,
}

impl CallInfo {
    /// A call without variables, CED or wrap-up data, routed on day 150000 with its
    /// ConnectionCallID as RouterCallKeyCallID (the scripted scenarios' calls).
    pub fn scripted(call_id: u32, call_type: u32, ani: &str, dialed: &str, service: u32) -> Self {
        CallInfo {
            call_id,
            call_type,
            ani: ani.to_string(),
            dnis: dialed.to_string(),
            dialed: dialed.to_string(),
            ced: String::new(),
            vars: Vec::new(),
            ecc: Vec::new(),
            arrays: Vec::new(),
            router_day: 150_000,
            router_call: call_id,
            service,
            wrapup: None,
        }
    }
}

/// Protocol faults a message builder can put into its message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildFaults {
    /// A floating string longer than its maximum.
    pub oversize: bool,
    /// NumNamedVariables one more than the NAMEDVARs present.
    pub bad_count: bool,
}

/// The MessageType of a built message.
pub fn message_type(frame: &[u8]) -> MessageType {
    MessageType(parse_header(frame).expect("a whole message").1)
}

/// The positive confirm of `request` (a built request message, at protocol `v`) that carries
/// just its InvokeID, as the spec pairs them (HEARTBEAT_REQ: HEARTBEAT_CONF, ...).
pub fn plain_confirm(v: u32, request: &[u8], invoke: u32) -> Vec<u8> {
    let ty = message_type(request);
    let confirm = spec::message(ty.0, Some(v)).and_then(|s| s.confirm);
    let confirm = confirm.unwrap_or_else(|| panic!("{:?} has no confirm", ty.name()));
    invoke_only(confirm, v, invoke)
}

/// Does `conf` answer `request` (both built at protocol `v`): the request's confirm as the
/// spec pairs them, or a FAILURE_CONF or CONTROL_FAILURE_CONF?
pub fn answers(v: u32, request: &[u8], conf: &[u8]) -> bool {
    let confirm = spec::message(message_type(request).0, Some(v)).and_then(|s| s.confirm);
    let ty = message_type(conf);
    Some(ty) == confirm || ty == MessageType::FAILURE_CONF || ty == MessageType::CONTROL_FAILURE_CONF
}

pub fn open_req(
    v: u32,
    invoke: u32,
    services: u32,
    idle_timeout: u32,
    client_id: &str,
    agent: Option<&AgentInfo>,
) -> Vec<u8> {
    let mut m = M::new(MessageType::OPEN_REQ, v);
    let desktop = services & service_mask::CTI_SERVICE_CLIENT_EVENTS != 0;
    let bridge = services & service_mask::CTI_SERVICE_ALL_EVENTS != 0;
    m.set(field::InvokeID, invoke)
        .set(field::VersionNumber, v)
        .set(field::IdleTimeout, idle_timeout)
        .set(
            field::PeripheralID,
            match agent {
                Some(a) if desktop => a.peripheral_id,
                _ => peripheral_id::NULL_PERIPHERAL_ID,
            },
        )
        .set(field::ServicesRequested, services)
        .set(field::CallMsgMask, CALL_MSG_MASK)
        .set(field::AgentStateMask, AGENT_STATE_MASK)
        .set(field::ConfigMsgMask, if bridge && v >= 20 { CONFIG_MASK } else { NO_BITS });
    m.text(field::ClientID, client_id).bytes(field::ClientPassword, b"");
    m.text(field::ClientSignature, client_id);
    if let (Some(a), true) = (agent, desktop) {
        m.text(field::AgentExtension, &a.ext)
            .text(field::AgentID, &a.id)
            .text(field::AgentInstrument, &a.ext);
    }
    m.build()
}

pub fn open_conf(
    v: u32,
    invoke: u32,
    services: u32,
    cc_time: u32,
    agent: Option<&AgentInfo>,
    peripheral: u32,
    state: u32,
) -> Vec<u8> {
    let mut m = M::new(MessageType::OPEN_CONF, v);
    m.set(field::InvokeID, invoke)
        .set(field::ServicesGranted, services)
        .set(field::MonitorID, 0u32)
        .set(field::PGStatus, NO_BITS)
        .set(field::ICMCentralControllerTime, cc_time)
        .set(field::PeripheralOnline, true)
        .set(field::PeripheralType, PERIPHERAL_TYPE)
        .set(field::AgentState, state)
        .set(field::DepartmentID, 0u32)
        .set(field::SessionType, session_type::ACTIVE);
    if let Some(a) = agent {
        m.text(field::AgentExtension, &a.ext)
            .text(field::AgentID, &a.id)
            .text(field::AgentInstrument, &a.ext);
        m.num(field::NumPeripherals, 0u32);
    } else {
        m.num(field::NumPeripherals, 1u32)
            .num(field::FltPeripheralID, peripheral)
            .num(field::MultilineAgentControl, multiline_agent_control::SINGLE_LINE_ONLY);
    }
    m.build()
}

/// A message whose body is just an InvokeID (HEARTBEAT_*, CLOSE_CONF and the plain confirms).
pub fn invoke_only(ty: MessageType, v: u32, invoke: u32) -> Vec<u8> {
    let mut m = M::new(ty, v);
    m.set(field::InvokeID, invoke);
    m.build()
}

pub fn close_req(v: u32, invoke: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::CLOSE_REQ, v);
    m.set(field::InvokeID, invoke).set(field::Status, status_code::E_CTI_NO_ERROR);
    m.build()
}

/// FAILURE_EVENT with a [`spec::values::status_code`] (E_CTI_CTI_SERVER_OFFLINE: the server
/// wants the session closed).
pub fn failure_event(v: u32, status: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::FAILURE_EVENT, v);
    m.set(field::Status, status);
    m.build()
}

/// QUERY_AGENT_STATE_REQ for the agent at its instrument.
pub fn query_agent_state_req(v: u32, invoke: u32, a: &AgentInfo) -> Vec<u8> {
    let mut m = M::new(MessageType::QUERY_AGENT_STATE_REQ, v);
    m.set(field::InvokeID, invoke)
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::MRDID, 1u32)
        .set(field::ICMAgentID, a.icm_agent_id);
    m.text(field::AgentInstrument, &a.ext);
    m.build()
}

/// QUERY_AGENT_STATE_CONF: the agent in an [`agent_state`], no skill group listed.
pub fn query_agent_state_conf(v: u32, invoke: u32, a: &AgentInfo, state: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::QUERY_AGENT_STATE_CONF, v);
    let available = if state == agent_state::AGENT_STATE_AVAILABLE {
        agent_availability_status::ICM_AVAILABLE
    } else {
        agent_availability_status::NOT_AVAILABLE
    };
    m.set(field::InvokeID, invoke)
        .set(field::AgentState, state)
        .set(field::NumSkillGroups, 0u32)
        .set(field::MRDID, 1u32)
        .set(field::NumTasks, 0u32)
        .set(field::AgentMode, agent_mode::ROUTABLE)
        .set(field::MaxTaskLimit, 1u32)
        .set(field::ICMAgentID, a.icm_agent_id)
        .set(field::AgentAvailabilityStatus, available)
        .set(field::DepartmentID, 0u32);
    m.text(field::AgentID, &a.id)
        .text(field::AgentExtension, &a.ext)
        .text(field::AgentInstrument, &a.ext)
        .num(field::InternalAgentState, state)
        .num(field::MaxBeyondTaskLimit, 0u32);
    m.build()
}

/// FAILURE_CONF with a [`spec::values::status_code`].
pub fn failure_conf(v: u32, invoke: u32, status: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::FAILURE_CONF, v);
    m.set(field::InvokeID, invoke).set(field::Status, status);
    m.build()
}

/// CONTROL_FAILURE_CONF with a [`spec::values::control_failure_code`].
pub fn control_failure_conf(v: u32, invoke: u32, code: u32, peripheral_error: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::CONTROL_FAILURE_CONF, v);
    m.set(field::InvokeID, invoke)
        .set(field::FailureCode, code)
        .set(field::PeripheralErrorCode, peripheral_error);
    m.build()
}

/// SYSTEM_EVENT with a [`spec::values::system_event_id`].
pub fn system_event(v: u32, id: u32, arg1: u32, cc_time: u32, text: Option<&str>) -> Vec<u8> {
    let mut m = M::new(MessageType::SYSTEM_EVENT, v);
    m.set(field::PGStatus, NO_BITS)
        .set(field::ICMCentralControllerTime, cc_time)
        .set(field::SystemEventID, id)
        .set(field::SystemEventArg1, arg1)
        .set(field::EventDeviceType, device_id_type::DEVID_NONE);
    if let Some(t) = text {
        m.text(field::Text, t);
    }
    m.build()
}

pub fn monitor_start_req(v: u32, invoke: u32, peripheral_id: u32, ext: &str) -> Vec<u8> {
    let mut m = M::new(MessageType::MONITOR_START_REQ, v);
    m.set(field::InvokeID, invoke)
        .set(field::PeripheralID, peripheral_id)
        .set(field::ConnectionCallID, call_id::NULL_CALL_ID)
        .set(field::CallMsgMask, CALL_MSG_MASK)
        .set(field::AgentStateMask, AGENT_STATE_MASK)
        .set(field::ConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_NONE)
        .set(field::MonitoredDeviceType, device_id_type::DEVID_DEVICE_IDENTIFIER);
    m.text(field::MonitoredDeviceID, ext);
    m.build()
}

pub fn monitor_start_conf(v: u32, invoke: u32, monitor_id: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::MONITOR_START_CONF, v);
    m.set(field::InvokeID, invoke).set(field::MonitorID, monitor_id);
    m.build()
}

pub fn config_request_event(v: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::CONFIG_REQUEST_EVENT, v);
    m.set(field::ConfigInformation, CONFIG_MASK)
        .set(field::ConfigMsgMask, CONFIG_MASK)
        .set(field::PeripheralID, peripheral_id::NULL_PERIPHERAL_ID);
    m.num(field::CustomerID, 0u32);
    m.build()
}

/// The configuration keys of CONFIG_BEGIN_EVENT, in the order they are written.
pub const CONFIG_KEYS: [FieldId; 7] = [
    field::ServiceConfigKey,
    field::SkillGroupConfigKey,
    field::AgentConfigKey,
    field::DeviceConfigKey,
    field::CallTypeConfKey,
    field::PeripheralConfigKey,
    field::AgentDeskConfigKey,
];

pub fn config_begin_event(v: u32, keys: u64) -> Vec<u8> {
    let mut m = M::new(MessageType::CONFIG_BEGIN_EVENT, v);
    m.set(field::ConfigType, config_type::SOLICITED).set(field::ConfigInformation, CONFIG_MASK);
    for (i, f) in CONFIG_KEYS.into_iter().enumerate() {
        m.bytes(f, &keys.wrapping_add(i as u64).to_be_bytes());
    }
    m.build()
}

/// CONFIG_END_EVENT: the end of the acquisition CONFIG_REQUEST_EVENT started (the spec
/// pairs them as request and confirm).
pub fn config_end_event(v: u32) -> Vec<u8> {
    let request = spec::message(MessageType::CONFIG_REQUEST_EVENT.0, Some(v));
    let end = request.and_then(|s| s.confirm).expect("CONFIG_REQUEST_EVENT is answered");
    let mut m = M::new(end, v);
    m.set(field::ConfigEndStatus, config_end_status::CONFIGEND_SUCCESS);
    m.build()
}

/// A skill group configuration record.
#[derive(Debug, Clone)]
pub struct SkillGroupRec {
    pub number: u32,
    pub id: u32,
    pub name: String,
}

pub fn config_skill_group_event(v: u32, peripheral_id: u32, recs: &[SkillGroupRec]) -> Vec<u8> {
    let mut m = M::new(MessageType::CONFIG_SKILL_GROUP_EVENT, v);
    m.set(field::NumRecords, recs.len() as u64);
    for r in recs {
        m.num(field::RecordType, record_type::ADD)
            .num(field::FltPeripheralID, peripheral_id)
            .num(field::PeripheralNumber, r.number)
            .num(field::SkillGroupSkillTargetID, r.id)
            .text(field::Extension, "")
            .text(field::PeripheralName, &r.name)
            .text(field::Description, &format!("{} queue", r.name))
            .num(field::FltMRDomainID, 1u32)
            .num(field::FltPrecisionQueueID, 0u32)
            .text(field::FltPrecisionQueueName, "")
            .text(field::ConfigParam, "");
    }
    m.build()
}

pub fn config_agent_event(v: u32, agents: &[AgentInfo]) -> Vec<u8> {
    let mut m = M::new(MessageType::CONFIG_AGENT_EVENT, v);
    m.set(field::NumRecords, agents.len() as u64);
    for a in agents {
        m.num(field::RecordType, record_type::ADD)
            .num(field::FltPeripheralID, a.peripheral_id)
            // AgentType has no numbered values in the spec; 0 is an agent.
            .num(field::AgentType, 0u32)
            .num(field::AgentDeskSettingsID, u32::MAX)
            .text(field::LoginID, &a.id)
            .text(field::LoginName, &format!("{}.{}", a.first, a.last).to_ascii_lowercase())
            .text(field::LastName, a.last)
            .text(field::FirstName, a.first)
            .text(field::Extension, &a.ext)
            .text(field::Description, "")
            .num(field::NumSkills, 0u32)
            .num(field::SSOEnabled, sso_enabled::DISABLED)
            .num(field::NumMRDs, 1u32)
            .num(field::FltAgentMRDID, 1u32)
            .num(field::FltAgentMRDState, agent_state::AGENT_STATE_LOGOUT);
    }
    m.build()
}

/// A device configuration record: a dialed number routing to a service.
#[derive(Debug, Clone)]
pub struct DeviceRec {
    pub number: u32,
    pub service: u32,
    pub dialed: String,
}

pub fn config_device_event(v: u32, peripheral_id: u32, recs: &[DeviceRec]) -> Vec<u8> {
    let mut m = M::new(MessageType::CONFIG_DEVICE_EVENT, v);
    m.set(field::NumRecords, recs.len() as u64);
    for r in recs {
        m.num(field::RecordType, record_type::ADD)
            .num(field::FltPeripheralID, peripheral_id)
            .num(field::PeripheralNumber, r.number)
            .num(field::DeviceType, config_device_type::ROUTE_POINT)
            .num(field::MaxQueued, 50u32)
            .num(field::FltServiceID, r.service)
            .text(field::DialedNumber, &r.dialed)
            .text(field::DNIS, &r.dialed)
            .text(field::Description, "route point");
    }
    m.build()
}

/// SET_AGENT_STATE_REQ for an [`agent_state`]; `with_login` for LOGIN and LOGOUT (forced,
/// with the agent's id and password).
pub fn set_agent_state_req(
    v: u32,
    invoke: u32,
    a: &AgentInfo,
    state: u32,
    reason: u32,
    with_login: bool,
) -> Vec<u8> {
    let mut m = M::new(MessageType::SET_AGENT_STATE_REQ, v);
    m.set(field::InvokeID, invoke)
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::AgentState, state)
        .set(
            field::AgentWorkMode,
            if with_login { agent_work_mode::AWM_MANUAL_IN } else { agent_work_mode::AWM_UNSPECIFIED },
        )
        .set(field::NumSkillGroups, 0u32)
        .set(field::EventReasonCode, reason)
        .set(field::ForcedFlag, if with_login { forced_flag::TRUE } else { forced_flag::FALSE })
        .set(field::AgentServiceReq, NO_BITS);
    m.text(field::AgentInstrument, &a.ext);
    if with_login {
        m.text(field::AgentID, &a.id).text(field::AgentPassword, "");
    }
    m.build()
}

/// AGENT_STATE_EVENT reporting an [`agent_state`].
#[allow(clippy::too_many_arguments)]
pub fn agent_state_event(
    v: u32,
    a: &AgentInfo,
    signature: Option<&str>,
    state: u32,
    reason: u32,
    duration: u32,
    in_call: bool,
) -> Vec<u8> {
    let mut m = M::new(MessageType::AGENT_STATE_EVENT, v);
    let available = if state == agent_state::AGENT_STATE_AVAILABLE {
        agent_availability_status::ICM_AVAILABLE
    } else {
        agent_availability_status::NOT_AVAILABLE
    };
    m.set(field::MonitorID, 0u32)
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::SessionID, 0u32)
        .set(field::PeripheralType, PERIPHERAL_TYPE)
        .set(field::SkillGroupState, state)
        .set(field::StateDuration, duration)
        .set(field::SkillGroupNumber, a.skill_number)
        .set(field::SkillGroupID, a.skill_id)
        .set(field::SkillGroupPriority, 0u32)
        .set(field::AgentState, state)
        .set(field::EventReasonCode, reason)
        .set(field::MRDID, 1u32)
        .set(field::NumTasks, in_call)
        .set(field::AgentMode, agent_mode::ROUTABLE)
        .set(field::MaxTaskLimit, 1u32)
        .set(field::ICMAgentID, a.icm_agent_id)
        .set(field::AgentAvailabilityStatus, available)
        .set(field::NumFltSkillGroups, 1u32)
        .set(field::DepartmentID, 0u32);
    if let Some(sig) = signature {
        m.text(field::CTIClientSignature, sig);
    }
    m.text(field::AgentID, &a.id)
        .text(field::AgentExtension, &a.ext)
        .text(field::AgentInstrument, &a.ext)
        .num(field::Duration, duration)
        .num(field::Direction, if in_call { direction::IN } else { direction::NONE })
        .num(field::FltSkillGroupNumber, a.skill_number)
        .num(field::FltSkillGroupID, a.skill_id)
        .num(field::FltSkillGroupPriority, 0u32)
        .num(field::FltSkillGroupState, state)
        .num(field::MaxBeyondTaskLimit, 0u32);
    m.build()
}

/// The fixed fields every call event starts with.
fn call_head(m: &mut M, a: &AgentInfo, call_id: u32) {
    m.set(field::MonitorID, 0u32)
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::PeripheralType, PERIPHERAL_TYPE)
        .set(field::ConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC)
        .set(field::ConnectionCallID, call_id);
}

/// Call variables, ECC variables and arrays, and the counts for them.
fn call_context(m: &mut M, c: &CallInfo, f: BuildFaults) {
    for (i, val) in &c.vars {
        let var = spec::CALL_VARIABLES[usize::from(*i) - 1];
        if f.oversize && *i == 1 {
            // 60 characters where 40 (41 with the NUL) are allowed.
            let long = format!("{val:-<60}");
            m.text(var, &long);
        } else {
            m.text(var, val);
        }
    }
    if let Some(w) = &c.wrapup {
        m.text(field::CallWrapupData, w);
    }
    for (n, val) in &c.ecc {
        m.named_var(n, val);
    }
    for (i, n, val) in &c.arrays {
        m.named_array(*i, n, val);
    }
    let nv = c.ecc.len() as u64 + f.bad_count as u64;
    m.set(field::NumNamedVariables, nv).set(field::NumNamedArrays, c.arrays.len() as u64);
}

/// The CTI clients a call event names: (client signature, timestamp).
fn client_signatures(m: &mut M, signatures: &[(&str, u32)]) {
    for (sig, ts) in signatures {
        m.text(field::CTIClientSignature, sig).num(field::CTIClientTimestamp, *ts);
    }
}

pub fn begin_call_event(
    v: u32,
    a: &AgentInfo,
    c: &CallInfo,
    signatures: &[(&str, u32)],
    f: BuildFaults,
) -> Vec<u8> {
    let mut m = M::new(MessageType::BEGIN_CALL_EVENT, v);
    call_head(&mut m, a, c.call_id);
    m.set(field::NumCTIClients, signatures.len() as u64)
        .set(field::CallType, c.call_type)
        .set(field::CalledPartyDisposition, disposition::DISCONNECT_DROP_HANDLED_PRIMARY_ROUTE);
    m.text(field::ConnectionDeviceID, &a.ext)
        .text(field::ANI, &c.ani)
        .text(field::DNIS, &c.dnis)
        .text(field::DialedNumber, &c.dialed);
    if !c.ced.is_empty() {
        m.text(field::CallerEnteredDigits, &c.ced);
    }
    m.num(field::RouterCallKeyDay, c.router_day)
        .num(field::RouterCallKeyCallID, c.router_call)
        .num(field::RouterCallKeySequenceNumber, 0u32);
    call_context(&mut m, c, f);
    client_signatures(&mut m, signatures);
    m.build()
}

pub fn call_data_update_event(
    v: u32,
    a: &AgentInfo,
    c: &CallInfo,
    signatures: &[(&str, u32)],
    f: BuildFaults,
) -> Vec<u8> {
    let mut m = M::new(MessageType::CALL_DATA_UPDATE_EVENT, v);
    call_head(&mut m, a, c.call_id);
    m.set(field::NumCTIClients, signatures.len() as u64)
        .set(field::CallType, c.call_type)
        .set(field::NewConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC)
        .set(field::NewConnectionCallID, c.call_id)
        .set(field::CalledPartyDisposition, disposition::DISCONNECT_DROP_HANDLED_PRIMARY_ROUTE)
        .set(field::CampaignID, 0u32)
        .set(field::QueryRuleID, 0u32);
    m.text(field::ConnectionDeviceID, &a.ext)
        .text(field::NewConnectionDeviceID, &a.ext)
        .text(field::ANI, &c.ani)
        .text(field::DNIS, &c.dnis)
        .text(field::DialedNumber, &c.dialed)
        .num(field::RouterCallKeyDay, c.router_day)
        .num(field::RouterCallKeyCallID, c.router_call)
        .num(field::RouterCallKeySequenceNumber, 0u32);
    call_context(&mut m, c, f);
    client_signatures(&mut m, signatures);
    m.build()
}

/// Service, skill group and line fields of CALL_DELIVERED/ESTABLISHED/ORIGINATED_EVENT.
fn routing_fields(m: &mut M, a: &AgentInfo, c: &CallInfo, inside: bool) {
    m.set(field::LineHandle, 0u32)
        .set(
            field::LineType,
            if inside { line_type::LINETYPE_INSIDE } else { line_type::LINETYPE_INBOUND_ACD },
        )
        .set(field::ServiceNumber, c.service)
        .set(field::ServiceID, 5000 + u64::from(c.service))
        .set(field::SkillGroupNumber, a.skill_number)
        .set(field::SkillGroupID, a.skill_id)
        .set(field::SkillGroupPriority, 0u32);
}

/// A device's [`device_id_type`]: external for a number in international format.
fn device_type_of(device: &str) -> u32 {
    if device.starts_with('+') {
        device_id_type::DEVID_EXTERNAL
    } else {
        device_id_type::DEVID_DEVICE_IDENTIFIER
    }
}

pub fn call_delivered_event(v: u32, a: &AgentInfo, c: &CallInfo) -> Vec<u8> {
    use device_id_type::{DEVID_DEVICE_IDENTIFIER, DEVID_EXTERNAL, DEVID_ROUTE_POINT};
    let mut m = M::new(MessageType::CALL_DELIVERED_EVENT, v);
    call_head(&mut m, a, c.call_id);
    routing_fields(&mut m, a, c, false);
    m.set(field::AlertingDeviceType, DEVID_DEVICE_IDENTIFIER)
        .set(field::CallingDeviceType, DEVID_EXTERNAL)
        .set(field::CalledDeviceType, DEVID_DEVICE_IDENTIFIER)
        .set(field::LastRedirectDeviceType, DEVID_ROUTE_POINT)
        .set(field::LocalConnectionState, local_connection_state::LCS_ALERTING)
        .set(field::EventCause, event_cause::CEC_NEW_CALL)
        .set(field::NumNamedVariables, 0u32)
        .set(field::NumNamedArrays, 0u32);
    m.text(field::ConnectionDeviceID, &a.ext)
        .text(field::AlertingDeviceID, &a.ext)
        .text(field::CallingDeviceID, &c.ani)
        .text(field::CalledDeviceID, &a.ext)
        .text(field::LastRedirectDeviceID, &c.dnis)
        .num(field::TrunkNumber, 100 + c.call_id % 23)
        .num(field::TrunkGroupNumber, 10u32)
        .num(field::SecondaryConnectionCallID, call_id::NULL_CALL_ID)
        .text(field::ANI, &c.ani)
        .text(field::DNIS, &c.dnis)
        .text(field::DialedNumber, &c.dialed);
    m.build()
}

/// The consulting agent's view of its consultation call being delivered to `target`.
pub fn consult_delivered_event(v: u32, a: &AgentInfo, c: &CallInfo, target: &str) -> Vec<u8> {
    use device_id_type::{DEVID_DEVICE_IDENTIFIER, DEVID_NONE};
    let mut m = M::new(MessageType::CALL_DELIVERED_EVENT, v);
    call_head(&mut m, a, c.call_id);
    routing_fields(&mut m, a, c, true);
    m.set(field::AlertingDeviceType, DEVID_DEVICE_IDENTIFIER)
        .set(field::CallingDeviceType, DEVID_DEVICE_IDENTIFIER)
        .set(field::CalledDeviceType, DEVID_DEVICE_IDENTIFIER)
        .set(field::LastRedirectDeviceType, DEVID_NONE)
        .set(field::LocalConnectionState, local_connection_state::LCS_INITIATE)
        .set(field::EventCause, event_cause::CEC_CONSULT)
        .set(field::NumNamedVariables, 0u32)
        .set(field::NumNamedArrays, 0u32);
    m.text(field::ConnectionDeviceID, &a.ext)
        .text(field::AlertingDeviceID, target)
        .text(field::CallingDeviceID, &a.ext)
        .text(field::CalledDeviceID, target)
        .num(field::SecondaryConnectionCallID, call_id::NULL_CALL_ID)
        .text(field::DialedNumber, target);
    m.build()
}

pub fn call_established_event(
    v: u32,
    a: &AgentInfo,
    c: &CallInfo,
    answering: &str,
    calling: &str,
    called: &str,
) -> Vec<u8> {
    use device_id_type::{DEVID_DEVICE_IDENTIFIER, DEVID_NONE};
    let mut m = M::new(MessageType::CALL_ESTABLISHED_EVENT, v);
    call_head(&mut m, a, c.call_id);
    routing_fields(&mut m, a, c, c.call_type == call_type::CALLTYPE_CONSULT);
    m.set(field::AnsweringDeviceType, DEVID_DEVICE_IDENTIFIER)
        .set(field::CallingDeviceType, device_type_of(calling))
        .set(field::CalledDeviceType, DEVID_DEVICE_IDENTIFIER)
        .set(field::LastRedirectDeviceType, DEVID_NONE)
        .set(field::LocalConnectionState, local_connection_state::LCS_CONNECT)
        .set(field::EventCause, event_cause::CEC_NONE);
    m.text(field::ConnectionDeviceID, &a.ext)
        .text(field::AnsweringDeviceID, answering)
        .text(field::CallingDeviceID, calling)
        .text(field::CalledDeviceID, called);
    m.build()
}

pub fn call_originated_event(v: u32, a: &AgentInfo, c: &CallInfo, target: &str) -> Vec<u8> {
    let mut m = M::new(MessageType::CALL_ORIGINATED_EVENT, v);
    call_head(&mut m, a, c.call_id);
    routing_fields(&mut m, a, c, true);
    m.set(field::CallingDeviceType, device_id_type::DEVID_DEVICE_IDENTIFIER)
        .set(field::CalledDeviceType, device_id_type::DEVID_DEVICE_IDENTIFIER)
        .set(field::LocalConnectionState, local_connection_state::LCS_INITIATE)
        .set(field::EventCause, event_cause::CEC_CONSULT);
    m.text(field::ConnectionDeviceID, &a.ext)
        .text(field::CallingDeviceID, &a.ext)
        .text(field::CalledDeviceID, target);
    m.build()
}

/// CALL_HELD_EVENT (`held`) or CALL_RETRIEVED_EVENT.
pub fn hold_event(v: u32, a: &AgentInfo, call_id: u32, held: bool) -> Vec<u8> {
    let (ty, dev_type, dev_id, lcs) = if held {
        (
            MessageType::CALL_HELD_EVENT,
            field::HoldingDeviceType,
            field::HoldingDeviceID,
            local_connection_state::LCS_HOLD,
        )
    } else {
        (
            MessageType::CALL_RETRIEVED_EVENT,
            field::RetrievingDeviceType,
            field::RetrievingDeviceID,
            local_connection_state::LCS_CONNECT,
        )
    };
    let mut m = M::new(ty, v);
    call_head(&mut m, a, call_id);
    m.set(dev_type, device_id_type::DEVID_DEVICE_IDENTIFIER)
        .set(field::LocalConnectionState, lcs)
        .set(field::EventCause, event_cause::CEC_NONE);
    m.text(field::ConnectionDeviceID, &a.ext).text(dev_id, &a.ext);
    m.build()
}

/// ANSWER_CALL_REQ, CLEAR_CALL_REQ, HOLD_CALL_REQ or RELEASE_CALL_REQ on the agent's
/// connection (with the agent's instrument where the layout has it).
pub fn call_req(ty: MessageType, v: u32, invoke: u32, a: &AgentInfo, call_id: u32) -> Vec<u8> {
    let mut m = M::new(ty, v);
    m.set(field::InvokeID, invoke)
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::ConnectionCallID, call_id)
        .set(field::ConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC);
    m.text(field::ConnectionDeviceID, &a.ext);
    if m.lists(field::AgentInstrument) {
        m.text(field::AgentInstrument, &a.ext);
    }
    m.build()
}

pub fn retrieve_call_req(v: u32, invoke: u32, a: &AgentInfo, call_id: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::RETRIEVE_CALL_REQ, v);
    m.set(field::InvokeID, invoke)
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::HeldConnectionCallID, call_id)
        .set(field::HeldConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC);
    m.text(field::HeldConnectionDeviceID, &a.ext).text(field::AgentInstrument, &a.ext);
    m.build()
}

pub fn consultation_call_req(
    v: u32,
    invoke: u32,
    a: &AgentInfo,
    active: u32,
    target: &str,
    conference: bool,
) -> Vec<u8> {
    let mut m = M::new(MessageType::CONSULTATION_CALL_REQ, v);
    m.set(field::InvokeID, invoke)
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::ActiveConnectionCallID, active)
        .set(field::ActiveConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC)
        .set(
            field::ConsultType,
            if conference { consult_type::CT_CONFERENCE } else { consult_type::CT_TRANSFER },
        )
        .set(field::NumNamedVariables, 0u32)
        .set(field::NumNamedArrays, 0u32);
    m.text(field::ActiveConnectionDeviceID, &a.ext)
        .text(field::DialedNumber, target)
        .text(field::AgentInstrument, &a.ext);
    m.build()
}

pub fn consultation_call_conf(v: u32, invoke: u32, a: &AgentInfo, new_call: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::CONSULTATION_CALL_CONF, v);
    m.set(field::InvokeID, invoke)
        .set(field::NewConnectionCallID, new_call)
        .set(field::NewConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC)
        .set(field::LineHandle, 1u32)
        .set(field::LineType, line_type::LINETYPE_INSIDE);
    m.text(field::NewConnectionDeviceID, &a.ext);
    m.build()
}

/// TRANSFER_CALL_REQ or CONFERENCE_CALL_REQ joining the held and the active call.
pub fn join_call_req(
    v: u32,
    invoke: u32,
    a: &AgentInfo,
    held: u32,
    active: u32,
    conference: bool,
) -> Vec<u8> {
    let ty = if conference { MessageType::CONFERENCE_CALL_REQ } else { MessageType::TRANSFER_CALL_REQ };
    let mut m = M::new(ty, v);
    m.set(field::InvokeID, invoke)
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::ActiveConnectionCallID, active)
        .set(field::HeldConnectionCallID, held)
        .set(field::ActiveConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC)
        .set(field::HeldConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC)
        .set(field::NumNamedVariables, 0u32)
        .set(field::NumNamedArrays, 0u32);
    m.text(field::ActiveConnectionDeviceID, &a.ext)
        .text(field::HeldConnectionDeviceID, &a.ext)
        .text(field::AgentInstrument, &a.ext);
    m.build()
}

/// The parties of a joined call: (call id, [`device_id_type`], device id).
type Party<'a> = (u32, u32, &'a str);

/// The customer, the agent (in a conference) and the consulted party.
fn joined_parties<'a>(
    a: &'a AgentInfo,
    c: &'a CallInfo,
    target: &'a str,
    conference: bool,
) -> Vec<Party<'a>> {
    let mut list: Vec<Party<'a>> = vec![(c.call_id, device_id_type::DEVID_EXTERNAL, &c.ani)];
    if conference {
        list.push((c.call_id, device_id_type::DEVID_DEVICE_IDENTIFIER, &a.ext));
    }
    list.push((c.call_id, device_id_type::DEVID_DEVICE_IDENTIFIER, target));
    list
}

fn parties(m: &mut M, list: &[Party<'_>]) {
    m.set(field::NumParties, list.len() as u64);
    for (call, ty, dev) in list {
        m.num(field::ConnectedPartyCallID, *call)
            .num(field::ConnectedPartyDeviceIDType, *ty)
            .text(field::ConnectedPartyDeviceID, dev);
    }
}

/// TRANSFER_CALL_CONF or CONFERENCE_CALL_CONF.
pub fn join_call_conf(
    v: u32,
    invoke: u32,
    a: &AgentInfo,
    c: &CallInfo,
    target: &str,
    conference: bool,
) -> Vec<u8> {
    let ty = if conference { MessageType::CONFERENCE_CALL_CONF } else { MessageType::TRANSFER_CALL_CONF };
    let mut m = M::new(ty, v);
    m.set(field::InvokeID, invoke)
        .set(field::NewConnectionCallID, c.call_id)
        .set(field::NewConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC)
        .set(field::LineHandle, 0u32)
        .set(field::LineType, line_type::LINETYPE_INBOUND_ACD);
    m.text(field::NewConnectionDeviceID, &a.ext);
    parties(&mut m, &joined_parties(a, c, target, conference));
    m.build()
}

/// CALL_TRANSFERRED_EVENT or CALL_CONFERENCED_EVENT: `primary` (the customer call) joined
/// with `secondary` (the consultation call to `target`).
pub fn joined_event(
    v: u32,
    a: &AgentInfo,
    c: &CallInfo,
    secondary: u32,
    target: &str,
    conference: bool,
) -> Vec<u8> {
    use device_id_type::DEVID_DEVICE_IDENTIFIER;
    let (ty, from_t, from_id, to_t, to_id) = if conference {
        (
            MessageType::CALL_CONFERENCED_EVENT,
            field::ControllerDeviceType,
            field::ControllerDeviceID,
            field::AddedPartyDeviceType,
            field::AddedPartyDeviceID,
        )
    } else {
        (
            MessageType::CALL_TRANSFERRED_EVENT,
            field::TransferringDeviceType,
            field::TransferringDeviceID,
            field::TransferredDeviceType,
            field::TransferredDeviceID,
        )
    };
    let (lcs, cause) = if conference {
        (local_connection_state::LCS_CONNECT, event_cause::CEC_NONE)
    } else {
        (local_connection_state::LCS_NULL, event_cause::CEC_TRANSFER)
    };
    let mut m = M::new(ty, v);
    m.set(field::MonitorID, 0u32)
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::PeripheralType, PERIPHERAL_TYPE)
        .set(field::PrimaryDeviceIDType, DEVID_DEVICE_IDENTIFIER)
        .set(field::PrimaryCallID, c.call_id)
        .set(field::LineHandle, 0u32)
        .set(field::LineType, line_type::LINETYPE_INBOUND_ACD)
        .set(field::SkillGroupNumber, a.skill_number)
        .set(field::SkillGroupID, a.skill_id)
        .set(field::SkillGroupPriority, 0u32)
        .set(field::SecondaryDeviceIDType, DEVID_DEVICE_IDENTIFIER)
        .set(field::SecondaryCallID, secondary)
        .set(from_t, DEVID_DEVICE_IDENTIFIER)
        .set(to_t, DEVID_DEVICE_IDENTIFIER)
        .set(field::LocalConnectionState, lcs)
        .set(field::EventCause, cause);
    m.text(field::PrimaryDeviceID, &a.ext)
        .text(field::SecondaryDeviceID, &a.ext)
        .text(from_id, &a.ext)
        .text(to_id, target);
    parties(&mut m, &joined_parties(a, c, target, conference));
    m.build()
}

pub fn set_call_data_req(v: u32, invoke: u32, a: &AgentInfo, c: &CallInfo) -> Vec<u8> {
    let mut m = M::new(MessageType::SET_CALL_DATA_REQ, v);
    m.set(field::InvokeID, invoke)
        .set(field::PeripheralID, a.peripheral_id)
        .set(field::ConnectionDeviceIDType, connection_device_id_type::CONNECTION_ID_STATIC)
        .set(field::ConnectionCallID, c.call_id)
        .set(field::CallType, c.call_type)
        .set(field::CalledPartyDisposition, disposition::DISCONNECT_DROP_HANDLED_PRIMARY_ROUTE)
        .set(field::CampaignID, 0u32)
        .set(field::QueryRuleID, 0u32);
    m.text(field::ConnectionDeviceID, &a.ext);
    call_context(&mut m, c, BuildFaults::default());
    m.build()
}

pub fn connection_cleared_event(v: u32, a: &AgentInfo, call_id: u32, releasing: &str) -> Vec<u8> {
    let mut m = M::new(MessageType::CALL_CONNECTION_CLEARED_EVENT, v);
    call_head(&mut m, a, call_id);
    m.set(field::ReleasingDeviceType, device_type_of(releasing))
        .set(field::LocalConnectionState, local_connection_state::LCS_NULL)
        .set(field::EventCause, event_cause::CEC_NONE);
    m.text(field::ConnectionDeviceID, &a.ext).text(field::ReleasingDeviceID, releasing);
    m.build()
}

pub fn call_cleared_event(v: u32, a: &AgentInfo, call_id: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::CALL_CLEARED_EVENT, v);
    call_head(&mut m, a, call_id);
    m.set(field::LocalConnectionState, local_connection_state::LCS_NULL)
        .set(field::EventCause, event_cause::CEC_NONE);
    m.text(field::ConnectionDeviceID, &a.ext);
    m.build()
}

pub fn end_call_event(v: u32, a: &AgentInfo, call_id: u32) -> Vec<u8> {
    let mut m = M::new(MessageType::END_CALL_EVENT, v);
    call_head(&mut m, a, call_id);
    m.text(field::ConnectionDeviceID, &a.ext);
    m.build()
}
