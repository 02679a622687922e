//! The messages the synthetic sessions exchange, each built with
//! [`crate::cti::encode::MessageBuilder`] from the spec tables at the session's protocol
//! version.
//!
//! Floating fields the protocol version does not know yet (a tag introduced later, or a
//! tag above 255 where floating headers are one byte wide) are left out, as a server or
//! client speaking that version would.

use crate::cti::decode::{tag_since, tlv_width};
use crate::cti::encode::MessageBuilder;
use crate::cti::spec;

/// PT_ENTERPRISE_AGENT.
pub const PERIPHERAL_TYPE: u64 = 17;
pub const NULL_ID: u64 = 0xFFFF_FFFF;
pub const NONE16: u64 = 0xFFFF;

// AgentState values (spec/values.tsv, table AgentState).
pub const AS_LOGIN: u16 = 0;
pub const AS_LOGOUT: u16 = 1;
pub const AS_NOT_READY: u16 = 2;
pub const AS_AVAILABLE: u16 = 3;
pub const AS_TALKING: u16 = 4;
pub const AS_WORK_NOT_READY: u16 = 5;
pub const AS_WORK_READY: u16 = 6;
pub const AS_RESERVED: u16 = 8;
pub const AS_HOLD: u16 = 10;

// LocalConnectionState.
const LCS_NULL: u64 = 0;
const LCS_INITIATE: u64 = 1;
const LCS_ALERTING: u64 = 2;
const LCS_CONNECT: u64 = 3;
const LCS_HOLD: u64 = 4;

// EventCause.
const CEC_NONE: u64 = 0xFFFF;
const CEC_NEW_CALL: u64 = 22;
const CEC_TRANSFER: u64 = 32;
const CEC_CONSULT: u64 = 51;

// DeviceIDType.
const DEVID_DEVICE: u64 = 0;
const DEVID_EXTERNAL: u64 = 75;
const DEVID_ROUTE_POINT: u64 = 74;

// CallType.
pub const CALLTYPE_ACD_IN: u16 = 1;
pub const CALLTYPE_TRANSFER_IN: u16 = 4;
pub const CALLTYPE_CONSULT: u16 = 12;

/// CTI service masks (spec/values.tsv, table ServiceMask).
pub const SVC_CLIENT_EVENTS: u32 = 0x01;
pub const SVC_CALL_DATA_UPDATE: u32 = 0x02;
pub const SVC_CLIENT_CONTROL: u32 = 0x04;
pub const SVC_ALL_EVENTS: u32 = 0x10;
pub const SVC_PERIPHERAL_MONITOR: u32 = 0x20;

/// Every unsolicited call event bit named up to CALL_ATTRIBUTE_CHANGE_MASK.
pub const CALL_MSG_MASK: u64 = 0x03FF_FFFF;
/// Agent state bits LOGIN .. HOLD.
pub const AGENT_STATE_MASK: u64 = 0x3FF;
/// Skill group, agent and device information.
pub const CONFIG_MASK: u64 = 0x0E;

/// A message builder that skips floating fields the protocol version cannot carry.
pub struct M {
    b: MessageBuilder,
    v: u32,
}

impl M {
    pub fn new(name: &str, v: u32) -> M {
        M { b: MessageBuilder::named(name, v), v }
    }

    /// Sets a fixed field; a field the version does not carry yet is skipped.
    pub fn set(&mut self, field: &str, value: u64) -> &mut Self {
        if self.b.set(field, value).is_err() {
            let spec = self.b.spec();
            assert!(spec.fixed.iter().any(|f| f.name == field), "{} has no fixed field {field}", spec.name);
        }
        self
    }

    fn tag(&self, field: &str) -> u16 {
        let spec = self.b.spec();
        spec.floating
            .iter()
            .find(|f| f.name == field)
            .and_then(|f| f.tag)
            .or_else(|| spec::tags().iter().find(|t| t.name == field).map(|t| t.tag))
            .unwrap_or_else(|| panic!("{} has no floating field {field}", spec.name))
    }

    fn usable(&self, field: &str) -> bool {
        let tag = self.tag(field);
        tag_since(tag) <= self.v && (tlv_width(self.v) == 2 || tag <= 255)
    }

    pub fn text(&mut self, field: &str, s: &str) -> &mut Self {
        if self.usable(field) {
            self.b.text(field, s).expect("string fits");
        }
        self
    }

    pub fn num(&mut self, field: &str, v: u64) -> &mut Self {
        if self.usable(field) {
            self.b.number(field, v).expect("numeric field");
        }
        self
    }

    pub fn bytes(&mut self, field: &str, b: &[u8]) -> &mut Self {
        if self.usable(field) {
            self.b.bytes(field, b).expect("bytes fit");
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
    pub call_type: u16,
    pub ani: String,
    pub dnis: String,
    pub dialed: String,
    pub ced: String,
    pub vars: Vec<(u8, String)>,
    pub ecc: Vec<(String, String)>,
    pub arrays: Vec<(u8, String, String)>,
    pub router_day: u32,
    pub router_call: u32,
    pub service: u32,
    pub wrapup: Option<String>,
}

/// Protocol faults a message builder can put into its message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildFaults {
    /// A floating string longer than its maximum.
    pub oversize: bool,
    /// NumNamedVariables one more than the NAMEDVARs present.
    pub bad_count: bool,
}

pub fn open_req(
    v: u32,
    invoke: u32,
    services: u32,
    idle_timeout: u32,
    client_id: &str,
    agent: Option<&AgentInfo>,
) -> Vec<u8> {
    let mut m = M::new("OPEN_REQ", v);
    let desktop = services & SVC_CLIENT_EVENTS != 0;
    m.set("InvokeID", invoke as u64)
        .set("VersionNumber", v as u64)
        .set("IdleTimeout", idle_timeout as u64)
        .set(
            "PeripheralID",
            match agent {
                Some(a) if desktop => a.peripheral_id as u64,
                _ => NULL_ID,
            },
        )
        .set("ServicesRequested", services as u64)
        .set("CallMsgMask", CALL_MSG_MASK)
        .set("AgentStateMask", AGENT_STATE_MASK)
        .set("ConfigMsgMask", if services & SVC_ALL_EVENTS != 0 && v >= 20 { CONFIG_MASK } else { 0 });
    m.text("ClientID", client_id).bytes("ClientPassword", b"");
    m.text("ClientSignature", client_id);
    if let (Some(a), true) = (agent, desktop) {
        m.text("AgentExtension", &a.ext).text("AgentID", &a.id).text("AgentInstrument", &a.ext);
    }
    m.build()
}

pub fn open_conf(
    v: u32,
    invoke: u32,
    services: u32,
    cc_time: u32,
    agent: Option<&AgentInfo>,
    agent_state: u16,
) -> Vec<u8> {
    let mut m = M::new("OPEN_CONF", v);
    m.set("InvokeID", invoke as u64)
        .set("ServicesGranted", services as u64)
        .set("MonitorID", 0)
        .set("PGStatus", 0)
        .set("ICMCentralControllerTime", cc_time as u64)
        .set("PeripheralOnline", 1)
        .set("PeripheralType", PERIPHERAL_TYPE)
        .set("AgentState", agent_state as u64)
        .set("DepartmentID", 0)
        .set("SessionType", 1);
    if let Some(a) = agent {
        m.text("AgentExtension", &a.ext).text("AgentID", &a.id).text("AgentInstrument", &a.ext);
        m.num("NumPeripherals", 0);
    } else {
        m.num("NumPeripherals", 1).num("FltPeripheralID", 5000).num("MultilineAgentControl", 0);
    }
    m.build()
}

/// A message whose body is just an InvokeID (HEARTBEAT_*, CLOSE_CONF and the plain confirms).
pub fn invoke_only(name: &str, v: u32, invoke: u32) -> Vec<u8> {
    let mut m = M::new(name, v);
    m.set("InvokeID", invoke as u64);
    m.build()
}

pub fn close_req(v: u32, invoke: u32) -> Vec<u8> {
    let mut m = M::new("CLOSE_REQ", v);
    m.set("InvokeID", invoke as u64).set("Status", 0);
    m.build()
}

pub fn failure_conf(v: u32, invoke: u32, status: u32) -> Vec<u8> {
    let mut m = M::new("FAILURE_CONF", v);
    m.set("InvokeID", invoke as u64).set("Status", status as u64);
    m.build()
}

pub fn control_failure_conf(v: u32, invoke: u32, code: u16, peripheral_error: u32) -> Vec<u8> {
    let mut m = M::new("CONTROL_FAILURE_CONF", v);
    m.set("InvokeID", invoke as u64)
        .set("FailureCode", code as u64)
        .set("PeripheralErrorCode", peripheral_error as u64);
    m.build()
}

pub fn system_event(v: u32, id: u32, arg1: u32, cc_time: u32, text: Option<&str>) -> Vec<u8> {
    let mut m = M::new("SYSTEM_EVENT", v);
    m.set("PGStatus", 0)
        .set("ICMCentralControllerTime", cc_time as u64)
        .set("SystemEventID", id as u64)
        .set("SystemEventArg1", arg1 as u64)
        .set("EventDeviceType", NONE16);
    if let Some(t) = text {
        m.text("Text", t);
    }
    m.build()
}

pub fn monitor_start_req(v: u32, invoke: u32, peripheral_id: u32, ext: &str) -> Vec<u8> {
    let mut m = M::new("MONITOR_START_REQ", v);
    m.set("InvokeID", invoke as u64)
        .set("PeripheralID", peripheral_id as u64)
        .set("ConnectionCallID", NULL_ID)
        .set("CallMsgMask", CALL_MSG_MASK)
        .set("AgentStateMask", AGENT_STATE_MASK)
        .set("ConnectionDeviceIDType", NONE16)
        .set("MonitoredDeviceType", DEVID_DEVICE);
    m.text("MonitoredDeviceID", ext);
    m.build()
}

pub fn monitor_start_conf(v: u32, invoke: u32, monitor_id: u32) -> Vec<u8> {
    let mut m = M::new("MONITOR_START_CONF", v);
    m.set("InvokeID", invoke as u64).set("MonitorID", monitor_id as u64);
    m.build()
}

pub fn config_request_event(v: u32) -> Vec<u8> {
    let mut m = M::new("CONFIG_REQUEST_EVENT", v);
    m.set("ConfigInformation", CONFIG_MASK).set("ConfigMsgMask", CONFIG_MASK).set("PeripheralID", NULL_ID);
    m.num("CustomerID", 0);
    m.build()
}

pub fn config_begin_event(v: u32, keys: u64) -> Vec<u8> {
    let mut m = M::new("CONFIG_BEGIN_EVENT", v);
    m.set("ConfigType", 1).set("ConfigInformation", CONFIG_MASK);
    for (i, f) in [
        "ServiceConfigKey",
        "SkillGroupConfigKey",
        "AgentConfigKey",
        "DeviceConfigKey",
        "CallTypeConfKey",
        "PeripheralConfigKey",
        "AgentDeskConfigKey",
    ]
    .iter()
    .enumerate()
    {
        m.bytes(f, &keys.wrapping_add(i as u64).to_be_bytes());
    }
    m.build()
}

pub fn config_end_event(v: u32) -> Vec<u8> {
    let mut m = M::new("CONFIG_END_EVENT", v);
    m.set("ConfigEndStatus", 0);
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
    let mut m = M::new("CONFIG_SKILL_GROUP_EVENT", v);
    m.set("NumRecords", recs.len() as u64);
    for r in recs {
        m.num("RecordType", 0)
            .num("FltPeripheralID", peripheral_id as u64)
            .num("PeripheralNumber", r.number as u64)
            .num("SkillGroupSkillTargetID", r.id as u64)
            .text("Extension", "")
            .text("PeripheralName", &r.name)
            .text("Description", &format!("{} queue", r.name))
            .num("FltMRDomainID", 1)
            .num("FltPrecisionQueueID", 0)
            .text("FltPrecisionQueueName", "")
            .text("ConfigParam", "");
    }
    m.build()
}

pub fn config_agent_event(v: u32, agents: &[AgentInfo]) -> Vec<u8> {
    let mut m = M::new("CONFIG_AGENT_EVENT", v);
    m.set("NumRecords", agents.len() as u64);
    for a in agents {
        m.num("RecordType", 0)
            .num("FltPeripheralID", a.peripheral_id as u64)
            .num("AgentType", 0)
            .num("AgentDeskSettingsID", NULL_ID)
            .text("LoginID", &a.id)
            .text("LoginName", &format!("{}.{}", a.first, a.last).to_ascii_lowercase())
            .text("LastName", a.last)
            .text("FirstName", a.first)
            .text("Extension", &a.ext)
            .text("Description", "")
            .num("NumSkills", 0)
            .num("SSOEnabled", 0)
            .num("NumMRDs", 1)
            .num("FltAgentMRDID", 1)
            .num("FltAgentMRDState", AS_LOGOUT as u64);
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
    let mut m = M::new("CONFIG_DEVICE_EVENT", v);
    m.set("NumRecords", recs.len() as u64);
    for r in recs {
        m.num("RecordType", 0)
            .num("FltPeripheralID", peripheral_id as u64)
            .num("PeripheralNumber", r.number as u64)
            .num("DeviceType", 5)
            .num("MaxQueued", 50)
            .num("FltServiceID", r.service as u64)
            .text("DialedNumber", &r.dialed)
            .text("DNIS", &r.dialed)
            .text("Description", "route point");
    }
    m.build()
}

pub fn set_agent_state_req(
    v: u32,
    invoke: u32,
    a: &AgentInfo,
    state: u16,
    reason: u16,
    with_login: bool,
) -> Vec<u8> {
    let mut m = M::new("SET_AGENT_STATE_REQ", v);
    m.set("InvokeID", invoke as u64)
        .set("PeripheralID", a.peripheral_id as u64)
        .set("AgentState", state as u64)
        .set("AgentWorkMode", if with_login { 2 } else { 0 })
        .set("NumSkillGroups", 0)
        .set("EventReasonCode", reason as u64)
        .set("ForcedFlag", if with_login { 1 } else { 0 })
        .set("AgentServiceReq", 0);
    m.text("AgentInstrument", &a.ext);
    if with_login {
        m.text("AgentID", &a.id).text("AgentPassword", "");
    }
    m.build()
}

#[allow(clippy::too_many_arguments)]
pub fn agent_state_event(
    v: u32,
    a: &AgentInfo,
    signature: Option<&str>,
    state: u16,
    reason: u16,
    duration: u32,
    in_call: bool,
) -> Vec<u8> {
    let mut m = M::new("AGENT_STATE_EVENT", v);
    m.set("MonitorID", 0)
        .set("PeripheralID", a.peripheral_id as u64)
        .set("SessionID", 0)
        .set("PeripheralType", PERIPHERAL_TYPE)
        .set("SkillGroupState", state as u64)
        .set("StateDuration", duration as u64)
        .set("SkillGroupNumber", a.skill_number as u64)
        .set("SkillGroupID", a.skill_id as u64)
        .set("SkillGroupPriority", 0)
        .set("AgentState", state as u64)
        .set("EventReasonCode", reason as u64)
        .set("MRDID", 1)
        .set("NumTasks", in_call as u64)
        .set("AgentMode", 1)
        .set("MaxTaskLimit", 1)
        .set("ICMAgentID", a.icm_agent_id as u64)
        .set("AgentAvailabilityStatus", if state == AS_AVAILABLE { 1 } else { 0 })
        .set("NumFltSkillGroups", 1)
        .set("DepartmentID", 0);
    if let Some(sig) = signature {
        m.text("CTIClientSignature", sig);
    }
    m.text("AgentID", &a.id)
        .text("AgentExtension", &a.ext)
        .text("AgentInstrument", &a.ext)
        .num("Duration", duration as u64)
        .num("Direction", if in_call { 1 } else { 0 })
        .num("FltSkillGroupNumber", a.skill_number as u64)
        .num("FltSkillGroupID", a.skill_id as u64)
        .num("FltSkillGroupPriority", 0)
        .num("FltSkillGroupState", state as u64)
        .num("MaxBeyondTaskLimit", 0);
    m.build()
}

/// The fixed fields every call event starts with.
fn call_head(m: &mut M, a: &AgentInfo, call_id: u32) {
    m.set("MonitorID", 0)
        .set("PeripheralID", a.peripheral_id as u64)
        .set("PeripheralType", PERIPHERAL_TYPE)
        .set("ConnectionDeviceIDType", 0)
        .set("ConnectionCallID", call_id as u64);
}

/// Call variables, ECC variables and arrays, and the counts for them.
fn call_context(m: &mut M, c: &CallInfo, f: BuildFaults) {
    for (i, val) in &c.vars {
        let name = format!("CallVariable{i}");
        if f.oversize && *i == 1 {
            // 60 characters where 40 (41 with the NUL) are allowed.
            let long = format!("{val:-<60}");
            m.text(&name, &long);
        } else {
            m.text(&name, val);
        }
    }
    if let Some(w) = &c.wrapup {
        m.text("CallWrapupData", w);
    }
    for (n, val) in &c.ecc {
        m.named_var(n, val);
    }
    for (i, n, val) in &c.arrays {
        m.named_array(*i, n, val);
    }
    let nv = c.ecc.len() as u64 + f.bad_count as u64;
    m.set("NumNamedVariables", nv).set("NumNamedArrays", c.arrays.len() as u64);
}

pub fn begin_call_event(
    v: u32,
    a: &AgentInfo,
    c: &CallInfo,
    signatures: &[(&str, u32)],
    f: BuildFaults,
) -> Vec<u8> {
    let mut m = M::new("BEGIN_CALL_EVENT", v);
    call_head(&mut m, a, c.call_id);
    m.set("NumCTIClients", signatures.len() as u64)
        .set("CallType", c.call_type as u64)
        .set("CalledPartyDisposition", 13);
    m.text("ConnectionDeviceID", &a.ext)
        .text("ANI", &c.ani)
        .text("DNIS", &c.dnis)
        .text("DialedNumber", &c.dialed);
    if !c.ced.is_empty() {
        m.text("CallerEnteredDigits", &c.ced);
    }
    m.num("RouterCallKeyDay", c.router_day as u64)
        .num("RouterCallKeyCallID", c.router_call as u64)
        .num("RouterCallKeySequenceNumber", 0);
    call_context(&mut m, c, f);
    for (sig, ts) in signatures {
        m.text("CTIClientSignature", sig).num("CTIClientTimestamp", *ts as u64);
    }
    m.build()
}

pub fn call_data_update_event(
    v: u32,
    a: &AgentInfo,
    c: &CallInfo,
    signatures: &[(&str, u32)],
    f: BuildFaults,
) -> Vec<u8> {
    let mut m = M::new("CALL_DATA_UPDATE_EVENT", v);
    call_head(&mut m, a, c.call_id);
    m.set("NumCTIClients", signatures.len() as u64)
        .set("CallType", c.call_type as u64)
        .set("NewConnectionDeviceIDType", 0)
        .set("NewConnectionCallID", c.call_id as u64)
        .set("CalledPartyDisposition", 13)
        .set("CampaignID", 0)
        .set("QueryRuleID", 0);
    m.text("ConnectionDeviceID", &a.ext)
        .text("NewConnectionDeviceID", &a.ext)
        .text("ANI", &c.ani)
        .text("DNIS", &c.dnis)
        .text("DialedNumber", &c.dialed)
        .num("RouterCallKeyDay", c.router_day as u64)
        .num("RouterCallKeyCallID", c.router_call as u64)
        .num("RouterCallKeySequenceNumber", 0);
    call_context(&mut m, c, f);
    for (sig, ts) in signatures {
        m.text("CTIClientSignature", sig).num("CTIClientTimestamp", *ts as u64);
    }
    m.build()
}

/// Service, skill group and line fields of CALL_DELIVERED/ESTABLISHED/ORIGINATED_EVENT.
fn routing_fields(m: &mut M, a: &AgentInfo, c: &CallInfo, inside: bool) {
    m.set("LineHandle", 0)
        .set("LineType", if inside { 2 } else { 0 })
        .set("ServiceNumber", c.service as u64)
        .set("ServiceID", 5000 + c.service as u64)
        .set("SkillGroupNumber", a.skill_number as u64)
        .set("SkillGroupID", a.skill_id as u64)
        .set("SkillGroupPriority", 0);
}

pub fn call_delivered_event(v: u32, a: &AgentInfo, c: &CallInfo) -> Vec<u8> {
    let mut m = M::new("CALL_DELIVERED_EVENT", v);
    call_head(&mut m, a, c.call_id);
    routing_fields(&mut m, a, c, false);
    m.set("AlertingDeviceType", DEVID_DEVICE)
        .set("CallingDeviceType", DEVID_EXTERNAL)
        .set("CalledDeviceType", DEVID_DEVICE)
        .set("LastRedirectDeviceType", DEVID_ROUTE_POINT)
        .set("LocalConnectionState", LCS_ALERTING)
        .set("EventCause", CEC_NEW_CALL)
        .set("NumNamedVariables", 0)
        .set("NumNamedArrays", 0);
    m.text("ConnectionDeviceID", &a.ext)
        .text("AlertingDeviceID", &a.ext)
        .text("CallingDeviceID", &c.ani)
        .text("CalledDeviceID", &a.ext)
        .text("LastRedirectDeviceID", &c.dnis)
        .num("TrunkNumber", 100 + (c.call_id % 23) as u64)
        .num("TrunkGroupNumber", 10)
        .num("SecondaryConnectionCallID", NULL_ID)
        .text("ANI", &c.ani)
        .text("DNIS", &c.dnis)
        .text("DialedNumber", &c.dialed);
    m.build()
}

/// The consulting agent's view of its consultation call being delivered to `target`.
pub fn consult_delivered_event(v: u32, a: &AgentInfo, c: &CallInfo, target: &str) -> Vec<u8> {
    let mut m = M::new("CALL_DELIVERED_EVENT", v);
    call_head(&mut m, a, c.call_id);
    routing_fields(&mut m, a, c, true);
    m.set("AlertingDeviceType", DEVID_DEVICE)
        .set("CallingDeviceType", DEVID_DEVICE)
        .set("CalledDeviceType", DEVID_DEVICE)
        .set("LastRedirectDeviceType", NONE16)
        .set("LocalConnectionState", LCS_INITIATE)
        .set("EventCause", CEC_CONSULT)
        .set("NumNamedVariables", 0)
        .set("NumNamedArrays", 0);
    m.text("ConnectionDeviceID", &a.ext)
        .text("AlertingDeviceID", target)
        .text("CallingDeviceID", &a.ext)
        .text("CalledDeviceID", target)
        .num("SecondaryConnectionCallID", NULL_ID)
        .text("DialedNumber", target);
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
    let mut m = M::new("CALL_ESTABLISHED_EVENT", v);
    call_head(&mut m, a, c.call_id);
    routing_fields(&mut m, a, c, c.call_type == CALLTYPE_CONSULT);
    let calling_type = if calling.starts_with('+') { DEVID_EXTERNAL } else { DEVID_DEVICE };
    m.set("AnsweringDeviceType", DEVID_DEVICE)
        .set("CallingDeviceType", calling_type)
        .set("CalledDeviceType", DEVID_DEVICE)
        .set("LastRedirectDeviceType", NONE16)
        .set("LocalConnectionState", LCS_CONNECT)
        .set("EventCause", CEC_NONE);
    m.text("ConnectionDeviceID", &a.ext)
        .text("AnsweringDeviceID", answering)
        .text("CallingDeviceID", calling)
        .text("CalledDeviceID", called);
    m.build()
}

pub fn call_originated_event(v: u32, a: &AgentInfo, c: &CallInfo, target: &str) -> Vec<u8> {
    let mut m = M::new("CALL_ORIGINATED_EVENT", v);
    call_head(&mut m, a, c.call_id);
    routing_fields(&mut m, a, c, true);
    m.set("CallingDeviceType", DEVID_DEVICE)
        .set("CalledDeviceType", DEVID_DEVICE)
        .set("LocalConnectionState", LCS_INITIATE)
        .set("EventCause", CEC_CONSULT);
    m.text("ConnectionDeviceID", &a.ext).text("CallingDeviceID", &a.ext).text("CalledDeviceID", target);
    m.build()
}

/// CALL_HELD_EVENT (`held`) or CALL_RETRIEVED_EVENT.
pub fn hold_event(v: u32, a: &AgentInfo, call_id: u32, held: bool) -> Vec<u8> {
    let (name, dev_type, dev_id, lcs) = if held {
        ("CALL_HELD_EVENT", "HoldingDeviceType", "HoldingDeviceID", LCS_HOLD)
    } else {
        ("CALL_RETRIEVED_EVENT", "RetrievingDeviceType", "RetrievingDeviceID", LCS_CONNECT)
    };
    let mut m = M::new(name, v);
    call_head(&mut m, a, call_id);
    m.set(dev_type, DEVID_DEVICE).set("LocalConnectionState", lcs).set("EventCause", CEC_NONE);
    m.text("ConnectionDeviceID", &a.ext).text(dev_id, &a.ext);
    m.build()
}

/// ANSWER_CALL_REQ, CLEAR_CALL_REQ or HOLD_CALL_REQ on the agent's connection.
pub fn call_req(name: &str, v: u32, invoke: u32, a: &AgentInfo, call_id: u32) -> Vec<u8> {
    let mut m = M::new(name, v);
    m.set("InvokeID", invoke as u64)
        .set("PeripheralID", a.peripheral_id as u64)
        .set("ConnectionCallID", call_id as u64)
        .set("ConnectionDeviceIDType", 0);
    m.text("ConnectionDeviceID", &a.ext);
    if name != "RELEASE_CALL_REQ" {
        m.text("AgentInstrument", &a.ext);
    }
    m.build()
}

pub fn retrieve_call_req(v: u32, invoke: u32, a: &AgentInfo, call_id: u32) -> Vec<u8> {
    let mut m = M::new("RETRIEVE_CALL_REQ", v);
    m.set("InvokeID", invoke as u64)
        .set("PeripheralID", a.peripheral_id as u64)
        .set("HeldConnectionCallID", call_id as u64)
        .set("HeldConnectionDeviceIDType", 0);
    m.text("HeldConnectionDeviceID", &a.ext).text("AgentInstrument", &a.ext);
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
    let mut m = M::new("CONSULTATION_CALL_REQ", v);
    m.set("InvokeID", invoke as u64)
        .set("PeripheralID", a.peripheral_id as u64)
        .set("ActiveConnectionCallID", active as u64)
        .set("ActiveConnectionDeviceIDType", 0)
        .set("ConsultType", if conference { 2 } else { 1 })
        .set("NumNamedVariables", 0)
        .set("NumNamedArrays", 0);
    m.text("ActiveConnectionDeviceID", &a.ext).text("DialedNumber", target).text("AgentInstrument", &a.ext);
    m.build()
}

pub fn consultation_call_conf(v: u32, invoke: u32, a: &AgentInfo, new_call: u32) -> Vec<u8> {
    let mut m = M::new("CONSULTATION_CALL_CONF", v);
    m.set("InvokeID", invoke as u64)
        .set("NewConnectionCallID", new_call as u64)
        .set("NewConnectionDeviceIDType", 0)
        .set("LineHandle", 1)
        .set("LineType", 2);
    m.text("NewConnectionDeviceID", &a.ext);
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
    let name = if conference { "CONFERENCE_CALL_REQ" } else { "TRANSFER_CALL_REQ" };
    let mut m = M::new(name, v);
    m.set("InvokeID", invoke as u64)
        .set("PeripheralID", a.peripheral_id as u64)
        .set("ActiveConnectionCallID", active as u64)
        .set("HeldConnectionCallID", held as u64)
        .set("ActiveConnectionDeviceIDType", 0)
        .set("HeldConnectionDeviceIDType", 0)
        .set("NumNamedVariables", 0)
        .set("NumNamedArrays", 0);
    m.text("ActiveConnectionDeviceID", &a.ext)
        .text("HeldConnectionDeviceID", &a.ext)
        .text("AgentInstrument", &a.ext);
    m.build()
}

/// The parties of a joined call: (call id, device type, device id).
type Party<'a> = (u32, u64, &'a str);

fn parties(m: &mut M, list: &[Party<'_>]) {
    m.set("NumParties", list.len() as u64);
    for (call, ty, dev) in list {
        m.num("ConnectedPartyCallID", *call as u64)
            .num("ConnectedPartyDeviceIDType", *ty)
            .text("ConnectedPartyDeviceID", dev);
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
    let name = if conference { "CONFERENCE_CALL_CONF" } else { "TRANSFER_CALL_CONF" };
    let mut m = M::new(name, v);
    m.set("InvokeID", invoke as u64)
        .set("NewConnectionCallID", c.call_id as u64)
        .set("NewConnectionDeviceIDType", 0)
        .set("LineHandle", 0)
        .set("LineType", 0);
    m.text("NewConnectionDeviceID", &a.ext);
    let mut list: Vec<Party<'_>> = vec![(c.call_id, DEVID_EXTERNAL, &c.ani)];
    if conference {
        list.push((c.call_id, DEVID_DEVICE, &a.ext));
    }
    list.push((c.call_id, DEVID_DEVICE, target));
    parties(&mut m, &list);
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
    let (name, from_t, from_id, to_t, to_id) = if conference {
        (
            "CALL_CONFERENCED_EVENT",
            "ControllerDeviceType",
            "ControllerDeviceID",
            "AddedPartyDeviceType",
            "AddedPartyDeviceID",
        )
    } else {
        (
            "CALL_TRANSFERRED_EVENT",
            "TransferringDeviceType",
            "TransferringDeviceID",
            "TransferredDeviceType",
            "TransferredDeviceID",
        )
    };
    let mut m = M::new(name, v);
    m.set("MonitorID", 0)
        .set("PeripheralID", a.peripheral_id as u64)
        .set("PeripheralType", PERIPHERAL_TYPE)
        .set("PrimaryDeviceIDType", DEVID_DEVICE)
        .set("PrimaryCallID", c.call_id as u64)
        .set("LineHandle", 0)
        .set("LineType", 0)
        .set("SkillGroupNumber", a.skill_number as u64)
        .set("SkillGroupID", a.skill_id as u64)
        .set("SkillGroupPriority", 0)
        .set("SecondaryDeviceIDType", DEVID_DEVICE)
        .set("SecondaryCallID", secondary as u64)
        .set(from_t, DEVID_DEVICE)
        .set(to_t, DEVID_DEVICE)
        .set("LocalConnectionState", if conference { LCS_CONNECT } else { LCS_NULL })
        .set("EventCause", if conference { CEC_NONE } else { CEC_TRANSFER });
    m.text("PrimaryDeviceID", &a.ext)
        .text("SecondaryDeviceID", &a.ext)
        .text(from_id, &a.ext)
        .text(to_id, target);
    let mut list: Vec<Party<'_>> = vec![(c.call_id, DEVID_EXTERNAL, &c.ani)];
    if conference {
        list.push((c.call_id, DEVID_DEVICE, &a.ext));
    }
    list.push((c.call_id, DEVID_DEVICE, target));
    parties(&mut m, &list);
    m.build()
}

pub fn set_call_data_req(v: u32, invoke: u32, a: &AgentInfo, c: &CallInfo) -> Vec<u8> {
    let mut m = M::new("SET_CALL_DATA_REQ", v);
    m.set("InvokeID", invoke as u64)
        .set("PeripheralID", a.peripheral_id as u64)
        .set("ConnectionDeviceIDType", 0)
        .set("ConnectionCallID", c.call_id as u64)
        .set("CallType", c.call_type as u64)
        .set("CalledPartyDisposition", 13)
        .set("CampaignID", 0)
        .set("QueryRuleID", 0);
    m.text("ConnectionDeviceID", &a.ext);
    call_context(&mut m, c, BuildFaults::default());
    m.build()
}

pub fn connection_cleared_event(v: u32, a: &AgentInfo, call_id: u32, releasing: &str) -> Vec<u8> {
    let mut m = M::new("CALL_CONNECTION_CLEARED_EVENT", v);
    call_head(&mut m, a, call_id);
    let ty = if releasing.starts_with('+') { DEVID_EXTERNAL } else { DEVID_DEVICE };
    m.set("ReleasingDeviceType", ty).set("LocalConnectionState", LCS_NULL).set("EventCause", CEC_NONE);
    m.text("ConnectionDeviceID", &a.ext).text("ReleasingDeviceID", releasing);
    m.build()
}

pub fn call_cleared_event(v: u32, a: &AgentInfo, call_id: u32) -> Vec<u8> {
    let mut m = M::new("CALL_CLEARED_EVENT", v);
    call_head(&mut m, a, call_id);
    m.set("LocalConnectionState", LCS_NULL).set("EventCause", CEC_NONE);
    m.text("ConnectionDeviceID", &a.ext);
    m.build()
}

pub fn end_call_event(v: u32, a: &AgentInfo, call_id: u32) -> Vec<u8> {
    let mut m = M::new("END_CALL_EVENT", v);
    call_head(&mut m, a, call_id);
    m.text("ConnectionDeviceID", &a.ext);
    m.build()
}
