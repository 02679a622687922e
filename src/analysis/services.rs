//! Rules that depend on what the session asked for and was granted: the services of its
//! requests and events (guide, the introduction of each service), the event masks in force
//! (OPEN_REQ CallMsgMask, AgentStateMask and ConfigMsgMask, MONITOR_START_REQ and
//! CHANGE_MONITOR_MASK_REQ, REGISTER_VARIABLES_REQ; guide Tables 34, 38, 80, 155; the
//! CLIENT_EVENT_REPORT_REQ of Table 70 has no mask), the fields required only of clients with some services
//! (guide Tables 51, 72, 76, 85, 87, 137, 139), the fields required in one of two forms
//! (Tables 48, 96), the fields a request needs in its case (Tables 34, 48, 72, 98, 108,
//! 124), the fields set to zero (Tables 4, 22, 126), and the sentinels a field must hold
//! when something is absent (Tables 34, 41, 48, 124).
//!
//! The fields a message needs in its case, its zeros and its sentinels are judged on the
//! message alone. Nothing else is judged without the session's opening: the services are those of
//! the OPEN_CONF (ServicesGranted) and the masks those of the OPEN_REQ, so a capture that
//! starts mid-session gives no other finding here. A mask change lost in a gap could make an event look
//! masked: masks are judged only while the client direction is complete, and a finding
//! about an event waits (as a [`Suspect`]) until a later client message shows that no client
//! bytes before it were lost.
//!
//! Which service a message belongs to is the `service` of its spec (spec/messages.jsonl,
//! from the guide's service tables). Messages of the Session Management, Miscellaneous and
//! Configuration Acquisition services are provided to every session and are never judged.

use super::findings::{Cause, Findings, Subject};
use super::state::{Conn, Msg, OpenState, Pending, Suspect, MAX_MASK_ENTRIES};
use crate::cti::decode::Decoded;
use crate::cti::spec::fields::field;
use crate::cti::spec::values::AGENT_STATE;
use crate::cti::spec::values::{
    agent_greeting_event_code, agent_state, agent_state_mask, call_id, call_msg_mask as cm, config_mask,
    config_type, connection_device_id_type, device_id_type, distribution, peripheral_id, service_mask as sm,
    skill_group, sso_enabled,
};
use crate::cti::spec::{FieldId, MessageSpec, MessageType, Role, MAX_MESSAGE_TYPE};
use crate::pipeline::Direction;
use std::sync::OnceLock;

/// Sessions that receive events for devices other than an agent's own phone (All Events,
/// Peripheral Monitor, Client Monitor), or whose events the guide does not describe
/// (Supervisor team monitoring, agent reporting, task services, update notifications).
/// The session-wide masks of the OPEN_REQ are judged only on sessions with none of these.
const BEYOND_OWN_PHONE: u32 = sm::CTI_SERVICE_ALL_EVENTS
    | sm::CTI_SERVICE_PERIPHERAL_MONITOR
    | sm::CTI_SERVICE_CLIENT_MONITOR
    | sm::CTI_SERVICE_SUPERVISOR
    | sm::CTI_SERVICE_AGENT_REPORTING
    | sm::CTI_SERVICE_ALL_TASK_EVENTS
    | sm::CTI_SERVICE_TASK_MONITOR
    | sm::CTI_SERVICE_UPDATE_EVENTS;

/// Client Control requests are allowed with any of these.
const CONTROL: u32 =
    sm::CTI_SERVICE_CLIENT_CONTROL | sm::CTI_AGENT_STATE_CONTROL_ONLY | sm::CTI_SERVICE_ALL_EVENTS;

/// The services of which one must be granted for a client request of `spec`, and their
/// names. The guide's service tables (spec/messages.jsonl "service"):
///
/// - Client Control (guide Client Control Service): CTI_SERVICE_CLIENT_CONTROL, or
///   CTI_AGENT_STATE_CONTROL_ONLY, which a server may grant instead of it (any request of
///   the service is then accepted: which ones that bit allows is not documented), or
///   CTI_SERVICE_ALL_EVENTS: the guide's introduction of the service says "CTI clients with
///   All Events service may attempt to control any agent device", which is read as allowing
///   them the service's requests;
/// - Supervisor (guide Table 47): CTI_SERVICE_SUPERVISOR. EMERGENCY_CALL_REQ, which the
///   spec files under Supervisor (guide Table 51), is an agent's request for help and is
///   also printed with the Client Control messages (guide Table 139): it is judged as Client
///   Control;
/// - Call Data Update (guide Table 61): CTI_SERVICE_CALL_DATA_UPDATE;
/// - Peripheral Monitor (guide Table 33): CTI_SERVICE_PERIPHERAL_MONITOR;
/// - Client Monitor (guide Table 40): CTI_SERVICE_CLIENT_MONITOR;
/// - Server (guide Server Service): CTI_SERVICE_SERVER.
fn request_services(spec: &MessageSpec) -> Option<(u32, &'static str)> {
    if spec.id == MessageType::EMERGENCY_CALL_REQ {
        return Some((CONTROL, "CTI_SERVICE_CLIENT_CONTROL"));
    }
    Some(match spec.service {
        "Client Control" => (CONTROL, "CTI_SERVICE_CLIENT_CONTROL"),
        "Supervisor" => (sm::CTI_SERVICE_SUPERVISOR, "CTI_SERVICE_SUPERVISOR"),
        "Call Data Update" => (sm::CTI_SERVICE_CALL_DATA_UPDATE, "CTI_SERVICE_CALL_DATA_UPDATE"),
        "Peripheral Monitor" => (sm::CTI_SERVICE_PERIPHERAL_MONITOR, "CTI_SERVICE_PERIPHERAL_MONITOR"),
        "Client Monitor" => (sm::CTI_SERVICE_CLIENT_MONITOR, "CTI_SERVICE_CLIENT_MONITOR"),
        "Server" => (sm::CTI_SERVICE_SERVER, "CTI_SERVICE_SERVER"),
        _ => return None,
    })
}

/// The services of which one must be granted for the server to send event `spec`, and
/// their names:
///
/// - Client Events events (guide Table 1) go to Client Events sessions and to the sessions
///   that see other devices' events (All Events, guide Table 31; Peripheral Monitor, Table
///   33; Client Monitor, Table 40), and to the services whose events the guide does not
///   list (Supervisor, agent reporting, tasks, update notifications);
/// - CALL_TRANSLATION_ROUTE_EVENT (All Events, guide Table 31) also goes to Peripheral
///   Monitor sessions (guide Peripheral Monitor Service) and Client Monitor ones;
/// - CLIENT_SESSION_OPENED_EVENT and CLIENT_SESSION_CLOSED_EVENT need Client Monitor (guide
///   Table 40);
/// - AGENT_TEAM_CONFIG_EVENT needs Supervisor (guide Table 47), or a service that sees
///   other devices' events. EMERGENCY_CALL_EVENT is not judged: the guide does not say
///   whether the agent's own desktop receives it.
fn event_services(spec: &MessageSpec) -> Option<(u32, &'static str)> {
    const OTHERS: u32 =
        sm::CTI_SERVICE_ALL_EVENTS | sm::CTI_SERVICE_PERIPHERAL_MONITOR | sm::CTI_SERVICE_CLIENT_MONITOR;
    if spec.id == MessageType::AGENT_TEAM_CONFIG_EVENT {
        return Some((sm::CTI_SERVICE_SUPERVISOR | OTHERS, "CTI_SERVICE_SUPERVISOR"));
    }
    Some(match spec.service {
        "Client Events" => (sm::CTI_SERVICE_CLIENT_EVENTS | BEYOND_OWN_PHONE, "CTI_SERVICE_CLIENT_EVENTS"),
        "All Events" => (OTHERS, "CTI_SERVICE_ALL_EVENTS or CTI_SERVICE_PERIPHERAL_MONITOR"),
        "Client Monitor" => (sm::CTI_SERVICE_CLIENT_MONITOR, "CTI_SERVICE_CLIENT_MONITOR"),
        _ => return None,
    })
}

/// What the rules need to know of a message type, worked out once per type from the spec:
/// the services of its requests ([`request_services`]) and events ([`event_services`]) as
/// bits, 0 for none. A dense table of 12-byte entries stays in the processor's caches, where
/// the spec's service names (strings compared per message) would not; the names are looked
/// up again only for a finding.
#[derive(Clone, Copy)]
struct TypeServices {
    request: u32,
    event: u32,
    /// The event is judged by a mask: CallMsgMask ([`call_event_bit`]) or AgentStateMask.
    maskable: bool,
    /// Its CallMsgMask bit ([`call_event_bit`]), 0 for none.
    call_bit: u32,
    /// A configuration event: CONFIG_BEGIN_EVENT, CONFIG_END_EVENT or a record that
    /// ConfigMsgMask judges ([`config_bit`]).
    config: bool,
    /// An event whose own fields are judged ([`event_fields`]).
    own_fields: bool,
}

fn type_services(spec: &MessageSpec) -> TypeServices {
    static TABLE: OnceLock<Vec<TypeServices>> = OnceLock::new();
    const NONE: TypeServices =
        TypeServices { request: 0, event: 0, maskable: false, call_bit: 0, config: false, own_fields: false };
    let table = TABLE.get_or_init(|| {
        let mut t = vec![NONE; MAX_MESSAGE_TYPE as usize + 1];
        for s in crate::cti::spec::messages() {
            if let Some(slot) = t.get_mut(s.id.0 as usize) {
                *slot = TypeServices {
                    request: request_services(s).map_or(0, |r| r.0),
                    event: event_services(s).map_or(0, |e| e.0),
                    maskable: s.id == MessageType::AGENT_STATE_EVENT || call_event_bit(s.id).is_some(),
                    call_bit: call_event_bit(s.id).unwrap_or(0),
                    config: matches!(s.id, MessageType::CONFIG_BEGIN_EVENT | MessageType::CONFIG_END_EVENT)
                        || config_bit(s.id).is_some(),
                    own_fields: matches!(
                        s.id,
                        MessageType::CLIENT_SESSION_OPENED_EVENT
                            | MessageType::CALL_ATTRIBUTE_CHANGE_EVENT
                            | MessageType::CALL_AGENT_GREETING_EVENT
                    ),
                };
            }
        }
        t
    });
    // Every spec's id is within the table (spec::MAX_MESSAGE_TYPE).
    table.get(spec.id.0 as usize).copied().unwrap_or(NONE)
}

/// The CallMsgMask bit that lets event `id` through (guide Unsolicited Call Event Message
/// Masks). AGENT_STATE_EVENT goes by AgentStateMask ([`agent_state_bit`]). The network
/// recording events are not judged: their bits are printed only from protocol version 25.
/// AGENT_PRE_CALL_EVENT passes with AGENT_PRE_CALL_MASK or AGENT_LEGACY_PRE_CALL_MASK.
fn call_event_bit(id: MessageType) -> Option<u32> {
    use MessageType as T;
    Some(match id {
        T::CALL_DELIVERED_EVENT => cm::CALL_DELIVERED_MASK,
        T::CALL_QUEUED_EVENT => cm::CALL_QUEUED_MASK,
        T::CALL_ESTABLISHED_EVENT => cm::CALL_ESTABLISHED_MASK,
        T::CALL_HELD_EVENT => cm::CALL_HELD_MASK,
        T::CALL_RETRIEVED_EVENT => cm::CALL_RETRIEVED_MASK,
        T::CALL_CLEARED_EVENT => cm::CALL_CLEARED_MASK,
        T::CALL_CONNECTION_CLEARED_EVENT => cm::CALL_CONNECTION_CLEARED_MASK,
        T::CALL_ORIGINATED_EVENT => cm::CALL_ORIGINATED_MASK,
        T::CALL_CONFERENCED_EVENT => cm::CALL_CONFERENCED_MASK,
        T::CALL_TRANSFERRED_EVENT => cm::CALL_TRANSFERRED_MASK,
        T::CALL_DIVERTED_EVENT => cm::CALL_DIVERTED_MASK,
        T::CALL_SERVICE_INITIATED_EVENT => cm::CALL_SERVICE_INITIATED_MASK,
        T::CALL_TRANSLATION_ROUTE_EVENT => cm::CALL_TRANSLATION_ROUTE_MASK,
        T::BEGIN_CALL_EVENT => cm::BEGIN_CALL_MASK,
        T::END_CALL_EVENT => cm::END_CALL_MASK,
        T::CALL_DATA_UPDATE_EVENT => cm::CALL_DATA_UPDATE_MASK,
        T::CALL_FAILED_EVENT => cm::CALL_FAILED_MASK,
        T::CALL_REACHED_NETWORK_EVENT => cm::CALL_REACHED_NETWORK_MASK,
        T::CALL_DEQUEUED_EVENT => cm::CALL_DEQUEUED_MASK,
        T::AGENT_PRE_CALL_EVENT => cm::AGENT_PRE_CALL_MASK | cm::AGENT_LEGACY_PRE_CALL_MASK,
        T::AGENT_PRE_CALL_ABORT_EVENT => cm::AGENT_PRE_CALL_ABORT_MASK,
        T::RTP_STARTED_EVENT => cm::RTP_STARTED_MASK,
        T::RTP_STOPPED_EVENT => cm::RTP_STOPPED_MASK,
        T::AGENT_TEAM_CONFIG_EVENT => cm::AGENT_TEAM_CONFIG_MASK,
        T::CALL_ATTRIBUTE_CHANGE_EVENT => cm::CALL_ATTRIBUTE_CHANGE_MASK,
        T::CALL_AGENT_GREETING_EVENT => cm::CALL_AGENT_GREETING_MASK,
        _ => return None,
    })
}

/// The AgentStateMask bit of an agent state (guide Agent State Masks: the bit of the state's
/// value, except HOLD, which takes the bit UNKNOWN has none of). UNKNOWN has no bit.
fn agent_state_bit(state: u64) -> Option<u32> {
    let s = u32::try_from(state).ok()?;
    match s {
        0..=8 => Some(1 << s),
        agent_state::AGENT_STATE_HOLD => Some(agent_state_mask::AGENT_HOLD_MASK),
        11..=14 => Some(agent_state_mask::AGENT_ACTIVE_MASK << (s - 11)),
        _ => None,
    }
}

/// The services the session was granted, once its OPEN_CONF was seen. ServicesGranted 0 (a
/// session granted nothing, which a server would refuse rather than open) is taken as not
/// known: nothing is judged by it.
fn granted(c: &Conn) -> Option<u32> {
    c.services_granted.filter(|&g| g != 0)
}

/// A session that sees its own phone's events alone: Client Events and none of
/// [`BEYOND_OWN_PHONE`]. Only such sessions are judged by their OPEN_REQ masks.
fn own_phone_only(granted: u32) -> bool {
    granted & sm::CTI_SERVICE_CLIENT_EVENTS != 0 && granted & BEYOND_OWN_PHONE == 0
}

/// A floating text field present and not empty.
fn has_text(d: &Decoded, bytes: &[u8], id: FieldId) -> bool {
    d.get(id).and_then(|f| f.text(bytes)).is_some_and(|t| !t.trim_end_matches('\0').is_empty())
}

/// The message names an agent (AgentExtension, AgentID or AgentInstrument).
fn names_agent(d: &Decoded, bytes: &[u8]) -> bool {
    [field::AgentExtension, field::AgentID, field::AgentInstrument].iter().any(|&id| has_text(d, bytes, id))
}

/// Analyse one message (after the session, invoke and monitor modules): `matched` is the
/// request a server message answers.
///
/// Most messages are server events: they take [`event`], kept short; the rest go out of line.
#[inline]
pub(crate) fn message(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>, matched: Option<&Pending>) {
    match m.flow.dir {
        Direction::ToServer => client(c, f, m),
        Direction::ToClient if matched.is_none() && m.role == Some(Role::Event) => event(c, f, m),
        Direction::ToClient => server(c, f, m, matched),
    }
}

/// The subject of a finding about message `m`: the session's agent, else the message's own.
fn subject(c: &Conn, m: &Msg<'_, '_>, invoke: Option<u32>) -> Subject {
    let mut s = c.subject(Some(m.name));
    let bytes = m.frame.bytes;
    if s.agent.is_none() {
        s.agent = m.d.text_of(bytes, field::AgentID).map(|t| t.into_owned());
        s.extension = m.d.text_of(bytes, field::AgentExtension).map(|t| t.into_owned());
        s.instrument = m.d.text_of(bytes, field::AgentInstrument).map(|t| t.into_owned());
    }
    s.invoke = invoke;
    if m.role == Some(Role::Request) {
        s.request = Some(m.name);
    }
    s.call = m.d.number_of(field::ConnectionCallID).map(|v| v as u32);
    s.peripheral = m.d.number_of(field::PeripheralID).map(|v| v as u32);
    s
}

fn report(c: &Conn, f: &mut Findings, rule: &'static str, m: &Msg<'_, '_>, reason: String, text: String) {
    let invoke = m.d.number_of(field::InvokeID).map(|v| v as u32);
    let cause = Cause::new(Some(m.name), reason);
    f.report(rule, Some(c.id), &[m.fr], m.ts, cause, || (text, subject(c, m, invoke)));
}

#[inline(never)]
fn client(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    let d = m.d;
    if m.id == MessageType::OPEN_REQ && c.open_req_frame == Some(m.fr) {
        open_req(c, f, m);
        return;
    }
    if m.role != Some(Role::Request) {
        return;
    }
    let invoke = d.number_of(field::InvokeID).map(|v| v as u32);
    if let Some(inv) = invoke {
        c.masks.not_granted.remove(&inv);
        mask_change(c, m, inv);
        if m.id == MessageType::REGISTER_VARIABLES_REQ {
            c.masks.call_vars_asked = d.number_of(field::CallVariableMask).map(|v| (inv, v as u32));
        }
    }
    if let (Some(granted), OpenState::Open, Some(spec)) = (granted(c), c.open, d.spec) {
        not_granted(c, f, m, spec, granted, invoke);
        if granted & (sm::CTI_SERVICE_ALL_EVENTS | sm::CTI_SERVICE_PERIPHERAL_MONITOR) != 0 {
            agent_identity(c, f, m);
        }
    }
    presence(c, f, m);
}

/// OPEN_REQ: the services asked for, and the masks.
fn open_req(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    let d = m.d;
    let requested = d.number_of(field::ServicesRequested).map(|v| v as u32);
    c.masks.requested = requested;
    if let (Some(call), Some(agent)) = (d.number_of(field::CallMsgMask), d.number_of(field::AgentStateMask)) {
        c.masks.session = Some((call as u32, agent as u32));
    }
    c.masks.config = d.number_of(field::ConfigMsgMask).map(|v| v as u32);
    // guide Supervisor Service: CTI_SERVICE_SUPERVISOR "requires CTI_SERVICE_CLIENT_EVENTS to
    // be specified as well". The guide states no other such pairing for OPEN_REQ.
    if let Some(r) = requested {
        if r & sm::CTI_SERVICE_SUPERVISOR != 0 && r & sm::CTI_SERVICE_CLIENT_EVENTS == 0 {
            report(
                c,
                f,
                "service-requires",
                m,
                "CTI_SERVICE_SUPERVISOR without CTI_SERVICE_CLIENT_EVENTS".into(),
                format!(
                    "OPEN_REQ asks for CTI_SERVICE_SUPERVISOR (ServicesRequested 0x{r:08x}) without CTI_SERVICE_CLIENT_EVENTS, which the guide requires with it: the server may refuse the session or grant less"
                ),
            );
        }
    }
}

/// MONITOR_START_REQ and CHANGE_MONITOR_MASK_REQ: until the confirm, the mask in force may
/// be the old or the new one, so the monitor's masks are widened to both.
fn mask_change(c: &mut Conn, m: &Msg<'_, '_>, inv: u32) {
    let d = m.d;
    let target = match m.id {
        MessageType::MONITOR_START_REQ => None,
        MessageType::CHANGE_MONITOR_MASK_REQ => Some(d.number_of(field::MonitorID).unwrap_or(0) as u32),
        _ => return,
    };
    let call = d.number_of(field::CallMsgMask).unwrap_or(u64::from(u32::MAX)) as u32;
    let agent = d.number_of(field::AgentStateMask).unwrap_or(u64::from(u32::MAX)) as u32;
    let w = &mut c.masks;
    if let Some(t) = target {
        let masks = match w.monitors.get_mut(&t) {
            Some(mm) => Some(mm),
            None => w.session.as_mut(),
        };
        if let Some(mm) = masks {
            mm.0 |= call;
            mm.1 |= agent;
        }
    }
    if w.changes.len() >= MAX_MASK_ENTRIES {
        w.unknown = true;
    } else {
        w.changes.insert(inv, (target, call, agent));
    }
}

/// A request of a service the session was not granted (`service-request-not-granted`).
fn not_granted(
    c: &mut Conn,
    f: &mut Findings,
    m: &Msg<'_, '_>,
    spec: &MessageSpec,
    granted: u32,
    invoke: Option<u32>,
) {
    let mut why = None;
    let bits = type_services(spec).request;
    if bits != 0 && granted & bits == 0 {
        let names = request_services(spec).map_or("", |r| r.1);
        why = Some((
            format!("session not granted {names}"),
            format!(
                "{} is a request of the {} service, which the session was not granted (ServicesGranted 0x{granted:08x}): the server should refuse it",
                m.name, spec.service
            ),
        ));
    }
    // guide SNAPSHOT_DEVICE_REQ: "The CTI Client must be granted both Client Control and All
    // Events services to look at all devices."
    if why.is_none() && m.id == MessageType::SNAPSHOT_DEVICE_REQ && granted & sm::CTI_SERVICE_ALL_EVENTS == 0
    {
        let bytes = m.frame.bytes;
        let own = [&c.identity.instrument, &c.identity.extension];
        if let Some(dev) = m.d.text_of(bytes, field::AgentInstrument) {
            let known = own.iter().any(|o| o.is_some());
            if known && !dev.is_empty() && !own.iter().any(|o| o.as_deref() == Some(&*dev)) {
                why = Some((
                    "snapshot of another device without CTI_SERVICE_ALL_EVENTS".to_string(),
                    format!(
                        "SNAPSHOT_DEVICE_REQ for device {dev}, not the session's own, without CTI_SERVICE_ALL_EVENTS: the guide requires Client Control and All Events to look at other devices"
                    ),
                ));
            }
        }
    }
    let Some((reason, text)) = why else { return };
    report(c, f, "service-request-not-granted", m, reason, text);
    if let Some(inv) = invoke {
        if c.masks.not_granted.len() < MAX_MASK_ENTRIES {
            c.masks.not_granted.insert(inv);
        }
    }
}

/// Requests that a client with All Events or Peripheral Monitor service must address to an
/// agent (`agent-identity-missing`): guide Tables 51 and 139 (EMERGENCY_CALL_REQ), 76
/// (QUERY_AGENT_STATISTICS_REQ), 85 (START_RECORDING_REQ), 87 (STOP_RECORDING_REQ), 137
/// (SUPERVISOR_ASSIST_REQ), and 72 (USER_MESSAGE_REQ, when Distribution is
/// DISTRIBUTE_TO_SUPERVISOR or DISTRIBUTE_TO_TEAM).
fn agent_identity(c: &Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    use MessageType as T;
    let d = m.d;
    let applies = match m.id {
        T::EMERGENCY_CALL_REQ
        | T::QUERY_AGENT_STATISTICS_REQ
        | T::START_RECORDING_REQ
        | T::STOP_RECORDING_REQ
        | T::SUPERVISOR_ASSIST_REQ => true,
        T::USER_MESSAGE_REQ => d.number_of(field::Distribution).is_some_and(|v| {
            v == u64::from(distribution::DISTRIBUTE_TO_SUPERVISOR)
                || v == u64::from(distribution::DISTRIBUTE_TO_TEAM)
        }),
        _ => false,
    };
    // guide Table 48: "SupervisorInstrument: This field is required for clients with ALL
    // EVENTS or PERIPHERAL MONITOR service."
    if m.id == T::SUPERVISE_CALL_REQ && !has_text(d, m.frame.bytes, field::SupervisorInstrument) {
        missing(
            c,
            f,
            m,
            "SupervisorInstrument",
            "from a client with All Events or Peripheral Monitor service",
        );
    }
    if applies && !names_agent(d, m.frame.bytes) {
        report(
            c,
            f,
            "agent-identity-missing",
            m,
            "no AgentExtension, AgentID or AgentInstrument from an All Events or Peripheral Monitor client".into(),
            format!(
                "{} from a client with All Events or Peripheral Monitor service names no agent: the guide requires at least one of AgentExtension, AgentID or AgentInstrument",
                m.name
            ),
        );
    }
}

/// `conditional-field-missing`: a field the request must carry is not there.
/// `what` names one field, or two joined by " or "; `when` (if not empty) says the case.
fn missing(c: &Conn, f: &mut Findings, m: &Msg<'_, '_>, what: &str, when: &str) {
    let when = if when.is_empty() { String::new() } else { format!(" {when}") };
    let required = if what.contains(" or ") { "one of them" } else { "it then" };
    report(
        c,
        f,
        "conditional-field-missing",
        m,
        format!("no {what}{when}"),
        format!("{} has no {what}{when}: the guide requires {required}", m.name),
    );
}

/// `value-not-zero`: a field the guide sets to zero holds another value. guide Table 126
/// (QUERY_DEVICE_INFO_REQ Reserved: "set this field to zero"), Table 22
/// (CALL_ATTRIBUTE_CHANGE_EVENT MonitorID: "Always 0"), Table 4 (CALL_AGENT_GREETING_EVENT
/// PeripheralErrorCode: "Zero otherwise", unless EventCode is 2, FAILED).
#[cold]
#[inline(never)]
fn must_be_zero(c: &Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    let d = m.d;
    let (id, when) = match m.id {
        MessageType::QUERY_DEVICE_INFO_REQ => (field::Reserved, "(reserved: the client sets it to zero)"),
        MessageType::CALL_ATTRIBUTE_CHANGE_EVENT => (field::MonitorID, "(always 0 in this event)"),
        MessageType::CALL_AGENT_GREETING_EVENT
            if d.number_of(field::EventCode) != Some(u64::from(agent_greeting_event_code::FAILED)) =>
        {
            (field::PeripheralErrorCode, "(zero unless EventCode is FAILED)")
        }
        _ => return,
    };
    let Some(v) = d.number_of(id).filter(|&v| v != 0) else { return };
    let name = d.get(id).map_or("?", |fl| fl.meta.name);
    report(
        c,
        f,
        "value-not-zero",
        m,
        format!("{name} not zero"),
        format!("{} has {name} {v} {when}: the guide requires zero", m.name),
    );
}

/// Presence in one of two forms, fields a request needs in its case
/// (`conditional-field-missing`: guide Tables 34, 72, 78, 98, 108, 124; Table 48's
/// SupervisorInstrument depends on the session's services, see [`agent_identity`]), zeros
/// and sentinels, in client requests.
fn presence(c: &Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    let (d, bytes) = (m.d, m.frame.bytes);
    let null_call = u64::from(call_id::NULL_CALL_ID);
    let none_type = u64::from(connection_device_id_type::CONNECTION_ID_NONE);
    match m.id {
        MessageType::QUERY_DEVICE_INFO_REQ => must_be_zero(c, f, m),
        MessageType::SET_AGENT_STATE_REQ => {
            // Table 98: AgentID "required when AgentState is AGENT_STATE_LOGIN or
            // AGENT_STATE_LOGOUT"; AgentPassword too, "and the SSOEnabled element is not
            // set to 1". A password may be empty: the field itself is what is required.
            let state = d.number_of(field::AgentState).map(|s| s as u32);
            let Some(s) = state
                .filter(|&s| s == agent_state::AGENT_STATE_LOGIN || s == agent_state::AGENT_STATE_LOGOUT)
            else {
                return;
            };
            let when = format!("with AgentState {}", AGENT_STATE.name_of(s).unwrap_or("?"));
            if !has_text(d, bytes, field::AgentID) {
                missing(c, f, m, "AgentID", &when);
            }
            let sso = d.number_of(field::SSOEnabled) == Some(u64::from(sso_enabled::ENABLED));
            if !sso && d.get(field::AgentPassword).is_none() {
                missing(c, f, m, "AgentPassword", &format!("{when} and SSOEnabled not 1"));
            }
        }
        MessageType::USER_MESSAGE_REQ => {
            // Table 72: ClientID "Required if the distribution field specifies
            // DISTRIBUTE_TO_CLIENT."
            let to_client =
                d.number_of(field::Distribution) == Some(u64::from(distribution::DISTRIBUTE_TO_CLIENT));
            if to_client && !has_text(d, bytes, field::ClientID) {
                missing(c, f, m, "ClientID", "with Distribution DISTRIBUTE_TO_CLIENT");
            }
        }
        MessageType::QUERY_SKILL_GROUP_STATISTICS_REQ => {
            // Table 78: SkillGroupNumber "May contain the special value NULL_SKILL_GROUP when
            // SkillGroupID is supplied", and SkillGroupID when SkillGroupNumber is: not both.
            let null = Some(u64::from(skill_group::NULL_SKILL_GROUP));
            if d.number_of(field::SkillGroupNumber) == null && d.number_of(field::SkillGroupID) == null {
                missing(c, f, m, "SkillGroupNumber or SkillGroupID", "(both NULL_SKILL_GROUP)");
            }
        }
        MessageType::SUPERVISE_CALL_REQ => {
            // guide Table 48: "Either ConnectionCallID and ConnectionDeviceID, or one of
            // AgentExtension, AgentID, or AgentInstrument must be provided."
            let call = d.number_of(field::AgentConnectionCallID).filter(|&v| v != null_call);
            let device = has_text(d, bytes, field::AgentConnectionDeviceID);
            if !(names_agent(d, bytes) || call.is_some() && device) {
                report(
                    c,
                    f,
                    "call-or-agent-missing",
                    m,
                    "neither the agent's call nor the agent".into(),
                    "SUPERVISE_CALL_REQ names neither the agent's call (AgentConnectionCallID and AgentConnectionDeviceID) nor the agent (AgentExtension, AgentID or AgentInstrument): the guide requires one of them".into(),
                );
            }
            // guide Table 48: "If there is no supervisor call, this field must be set to
            // 0xffffffff." No SupervisorConnectionDeviceID: no supervisor call.
            if !has_text(d, bytes, field::SupervisorConnectionDeviceID) {
                if let Some(v) = d.number_of(field::SupervisorConnectionCallID).filter(|&v| v != null_call) {
                    report(
                        c,
                        f,
                        "sentinel-not-set",
                        m,
                        "SupervisorConnectionCallID not 0xffffffff without a supervisor call".into(),
                        format!(
                            "SUPERVISE_CALL_REQ has no SupervisorConnectionDeviceID (no supervisor call) but SupervisorConnectionCallID {v}: the guide requires 0xffffffff then"
                        ),
                    );
                }
            }
        }
        MessageType::QUERY_AGENT_STATE_REQ => {
            // guide Table 96: "MRDID and one of ICMAgentID, AgentExtension, AgentID, or
            // AgentInstrument must be provided." MRDID is a fixed field, present from the
            // version that introduced it; ICMAgentID 0 or -1 names no agent (an INT: read
            // as its 32 bits, whichever way the decoder extended its sign).
            let icm = d.number_of(field::ICMAgentID).map(|v| v as u32).filter(|&v| v != 0 && v != u32::MAX);
            if d.number_of(field::MRDID).is_some() && icm.is_none() && !names_agent(d, bytes) {
                report(
                    c,
                    f,
                    "mrd-agent-missing",
                    m,
                    "no ICMAgentID, AgentExtension, AgentID or AgentInstrument".into(),
                    "QUERY_AGENT_STATE_REQ names no agent: the guide requires MRDID and one of ICMAgentID, AgentExtension, AgentID or AgentInstrument".into(),
                );
            }
        }
        MessageType::TRANSFER_CALL_REQ | MessageType::CONFERENCE_CALL_REQ => {
            let held = has_text(d, bytes, field::HeldConnectionDeviceID);
            let dialed = has_text(d, bytes, field::DialedNumber);
            // Tables 108, 124: "Either a HeldConnectionDeviceID or DialedNumber is required."
            if !held && !dialed {
                missing(c, f, m, "HeldConnectionDeviceID or DialedNumber", "");
            }
            if m.id == MessageType::TRANSFER_CALL_REQ && !held && dialed {
                single_step_transfer(c, f, m);
            }
        }
        MessageType::MONITOR_START_REQ => {
            // guide Table 34: ConnectionDeviceIDType "Set this field to CONNECTION_ID_NONE
            // when creating a monitor for a device"; MonitoredDeviceType "Set this field to
            // DEVID_NONE when creating a monitor for a call". (ConnectionCallID "set to zero"
            // for a device monitor is not judged: implementations commonly send 0xffffffff.)
            let device = has_text(d, bytes, field::MonitoredDeviceID);
            let call = has_text(d, bytes, field::ConnectionDeviceID);
            let wrong = if device && !call {
                d.number_of(field::ConnectionDeviceIDType)
                    .filter(|&v| v != none_type)
                    .map(|v| ("ConnectionDeviceIDType", v, "CONNECTION_ID_NONE", "a device"))
            } else if call && !device {
                d.number_of(field::MonitoredDeviceType)
                    .filter(|&v| v != u64::from(device_id_type::DEVID_NONE))
                    .map(|v| ("MonitoredDeviceType", v, "DEVID_NONE", "a call"))
            } else {
                None
            };
            if let Some((name, v, sentinel, what)) = wrong {
                report(
                    c,
                    f,
                    "sentinel-not-set",
                    m,
                    format!("{name} not {sentinel} for a monitor of {what}"),
                    format!("MONITOR_START_REQ creates a monitor of {what} with {name} {v}: the guide requires {sentinel}"),
                );
            }
            // Table 34: ConnectionDeviceID "required for call monitor", MonitoredDeviceID
            // "required for device monitor". The kind is what the types say: a device
            // monitor has ConnectionDeviceIDType CONNECTION_ID_NONE, a call monitor
            // MonitoredDeviceType DEVID_NONE.
            let no_conn = d.number_of(field::ConnectionDeviceIDType) == Some(none_type);
            let no_dev =
                d.number_of(field::MonitoredDeviceType) == Some(u64::from(device_id_type::DEVID_NONE));
            let (what, when) = match (no_conn, no_dev) {
                (true, false) if !device => {
                    ("MonitoredDeviceID", "for a device monitor (ConnectionDeviceIDType CONNECTION_ID_NONE)")
                }
                (false, true) if !call => {
                    ("ConnectionDeviceID", "for a call monitor (MonitoredDeviceType DEVID_NONE)")
                }
                _ if !call && !device => ("ConnectionDeviceID or MonitoredDeviceID", ""),
                _ => return,
            };
            missing(c, f, m, what, when);
        }
        _ => {}
    }
}

/// guide Table 124: with no held call (single step transfer) HeldConnectionCallID "must be
/// set to 0xffffffff" and HeldConnectionDeviceIDType "must be set to CONNECTION_ID_NONE".
/// No HeldConnectionDeviceID but a DialedNumber: no held call.
fn single_step_transfer(c: &Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    let d = m.d;
    let null_call = u64::from(call_id::NULL_CALL_ID);
    let none_type = u64::from(connection_device_id_type::CONNECTION_ID_NONE);
    let mut wrong = Vec::new();
    if let Some(v) = d.number_of(field::HeldConnectionCallID).filter(|&v| v != null_call) {
        wrong.push(format!("HeldConnectionCallID {v} (not 0xffffffff)"));
    }
    if let Some(v) = d.number_of(field::HeldConnectionDeviceIDType).filter(|&v| v != none_type) {
        wrong.push(format!("HeldConnectionDeviceIDType {v} (not CONNECTION_ID_NONE)"));
    }
    if !wrong.is_empty() {
        report(
            c,
            f,
            "sentinel-not-set",
            m,
            "single step transfer without the held call's sentinels".into(),
            format!(
                "TRANSFER_CALL_REQ is a single step transfer (DialedNumber, no HeldConnectionDeviceID) with {}: the guide requires the sentinels when there is no held call",
                wrong.join(" and ")
            ),
        );
    }
}

/// A server message other than an unsolicited event: OPEN_CONF, and the answers to requests.
#[inline(never)]
fn server(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>, matched: Option<&Pending>) {
    if m.id == MessageType::OPEN_CONF {
        c.masks.open_monitor = m.d.number_of(field::MonitorID).map(|v| v as u32).filter(|&v| v != 0);
        return;
    }
    if let Some(p) = matched {
        answered(c, f, m, p);
    }
}

/// A server event: its service, its mask, the configuration masks. Inlined where each
/// message is analysed: most events are judged by none of these rules, and pass a few tests
/// of their type's entry and of the session; the rules themselves are out of line.
#[inline]
fn event(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    let Some(spec) = m.d.spec else { return };
    let t = type_services(spec);
    if t.config {
        config_event(c, f, m);
    }
    if t.own_fields {
        event_fields(c, f, m);
    }
    let Some(granted) = granted(c) else { return };
    if t.event != 0 && granted & t.event == 0 {
        event_not_granted(c, f, m, spec, granted);
        return;
    }
    let w = &c.masks;
    // A monitor's masks, or the session's where [`masked`] judges them and they may leave
    // the event out.
    if t.maskable
        && (!w.monitors.is_empty()
            || w.session.is_some_and(|mm| own_phone_only(granted) && !session_passes(mm, m, t.call_bit)))
    {
        masked(c, f, m, granted, t.call_bit);
    }
    if c.masks.call_vars.is_some() {
        call_variables_masked(c, f, m);
    }
}

/// The fields an event must hold (CLIENT_SESSION_OPENED_EVENT's sentinel, the zeros of
/// CALL_ATTRIBUTE_CHANGE_EVENT and CALL_AGENT_GREETING_EVENT).
#[cold]
#[inline(never)]
fn event_fields(c: &Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    match m.id {
        MessageType::CLIENT_SESSION_OPENED_EVENT => client_session_opened(c, f, m),
        MessageType::CALL_ATTRIBUTE_CHANGE_EVENT | MessageType::CALL_AGENT_GREETING_EVENT => {
            must_be_zero(c, f, m);
        }
        _ => {}
    }
}

/// `service-event-not-granted`.
#[cold]
#[inline(never)]
fn event_not_granted(c: &Conn, f: &mut Findings, m: &Msg<'_, '_>, spec: &MessageSpec, granted: u32) {
    let names = event_services(spec).map_or("", |e| e.1);
    report(
        c,
        f,
        "service-event-not-granted",
        m,
        format!("event for a session without {names}"),
        format!(
            "{} is an event of the {} service, which the session was not granted (ServicesGranted 0x{granted:08x})",
            m.name, spec.service
        ),
    );
}

/// The mask of `masks` (CallMsgMask, AgentStateMask) that judges event `m`, its value and
/// the event's bit in it: a call event's `call_bit`, an AGENT_STATE_EVENT's state. None
/// when nothing judges the event (no bit for it).
#[inline]
fn mask_for(masks: (u32, u32), m: &Msg<'_, '_>, call_bit: u32) -> Option<(&'static str, u32, u32)> {
    if m.id == MessageType::AGENT_STATE_EVENT {
        let bit = m.d.number_of(field::AgentState).and_then(agent_state_bit)?;
        Some(("AgentStateMask", masks.1, bit))
    } else {
        (call_bit != 0).then_some(("CallMsgMask", masks.0, call_bit))
    }
}

/// Whether a mask of `value` passes an event of `bit`. A mask of zero is not judged: it is
/// as likely a client that leaves the field unset (and a server that then filters
/// nothing) as one that wants no such event at all.
#[inline]
fn mask_passes(value: u32, bit: u32) -> bool {
    value == 0 || value & bit != 0
}

/// Whether the session's OPEN_REQ masks pass a maskable event without [`masked`]'s help.
/// The usual desktop asks for every event, and its events then cost [`masked`] no call.
#[inline]
fn session_passes(masks: (u32, u32), m: &Msg<'_, '_>, call_bit: u32) -> bool {
    mask_for(masks, m, call_bit).is_none_or(|(_, value, bit)| mask_passes(value, bit))
}

/// CONFIG_BEGIN_EVENT and CONFIG_END_EVENT delimit a block; a record in it may be masked.
#[cold]
#[inline(never)]
fn config_event(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    match m.id {
        MessageType::CONFIG_BEGIN_EVENT => {
            let unsolicited = u64::from(config_type::UNSOLICITED);
            c.masks.config_block = Some(m.d.number_of(field::ConfigType) == Some(unsolicited));
        }
        MessageType::CONFIG_END_EVENT => c.masks.config_block = None,
        _ => config_masked(c, f, m),
    }
}

/// The answer to request `p`: a mask change takes effect; a request not granted answered by
/// its positive confirm (`service-confirm-not-granted`).
fn answered(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>, p: &Pending) {
    let positive = Some(m.id) == p.confirm;
    if let Some((target, call, agent)) = c.masks.changes.remove(&p.invoke) {
        if positive {
            let w = &mut c.masks;
            match target {
                None => {
                    if let Some(id) = m.d.number_of(field::MonitorID).map(|v| v as u32) {
                        if w.monitors.len() >= MAX_MASK_ENTRIES {
                            w.unknown = true;
                        } else {
                            w.monitors.insert(id, (call, agent));
                        }
                    }
                }
                Some(t) => {
                    if let Some(mm) = w.monitors.get_mut(&t) {
                        *mm = (call, agent);
                    } else if (t == 0 || Some(t) == w.open_monitor) && w.session.is_some() {
                        w.session = Some((call, agent));
                    }
                }
            }
        }
    }
    if p.req == MessageType::REGISTER_VARIABLES_REQ && positive {
        if let Some((inv, mask)) = c.masks.call_vars_asked.take() {
            if inv == p.invoke {
                c.masks.call_vars = Some(mask);
            }
        }
    }
    if p.req == MessageType::MONITOR_STOP_REQ && positive {
        if let Some(mon) = p.monitor {
            c.masks.monitors.remove(&mon);
        }
    }
    if c.masks.not_granted.remove(&p.invoke) && positive {
        let cause = Cause::new(Some(m.name), format!("{} confirmed though not granted", p.name));
        f.report("service-confirm-not-granted", Some(c.id), &[p.frame, m.fr], m.ts, cause, || {
            let mut s = c.request_subject(p, p.invoke);
            s.confirm = Some(m.name);
            s.latency_ns = Some(m.ts - p.ts);
            (
                format!(
                    "{} (InvokeID {}) of a service the session was not granted was answered by {} instead of a failure",
                    p.name, p.invoke, m.name
                ),
                s,
            )
        });
    }
}

/// CLIENT_SESSION_OPENED_EVENT (guide Table 41): PeripheralID "Otherwise [not Client Events
/// Service], this field contains the special value 0xFFFFFFFF".
fn client_session_opened(c: &Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    let d = m.d;
    let (Some(services), Some(p)) = (d.number_of(field::ServicesGranted), d.number_of(field::PeripheralID))
    else {
        return;
    };
    if services & u64::from(sm::CTI_SERVICE_CLIENT_EVENTS) == 0
        && p != u64::from(peripheral_id::NULL_PERIPHERAL_ID)
    {
        report(
            c,
            f,
            "sentinel-not-set",
            m,
            "PeripheralID not 0xFFFFFFFF for a session without Client Events".into(),
            format!(
                "CLIENT_SESSION_OPENED_EVENT reports a session without CTI_SERVICE_CLIENT_EVENTS (ServicesGranted 0x{services:08x}) with PeripheralID {p}: the guide requires 0xFFFFFFFF then"
            ),
        );
    }
}

/// The ConfigMsgMask bit of a configuration record event (guide CONFIG_REQUEST_EVENT
/// ConfigInformation, Table 155, whose bits OPEN_REQ ConfigMsgMask takes). The bits from
/// 0x40 on (peripheral, agent desk settings, terminal, agent services) are printed only by
/// the protocol version 25 guide and are not judged.
fn config_bit(id: MessageType) -> Option<u32> {
    use MessageType as T;
    Some(match id {
        T::CONFIG_SERVICE_EVENT => config_mask::SERVICE_INFORMATION,
        T::CONFIG_SKILL_GROUP_EVENT => config_mask::SKILL_GROUP_INFORMATION,
        T::CONFIG_AGENT_EVENT => config_mask::AGENT_INFORMATION,
        T::CONFIG_DEVICE_EVENT => config_mask::DEVICE_INFORMATION,
        T::CONFIG_CALL_TYPE_EVENT => config_mask::CALL_TYPE_INFORMATION,
        T::CONFIG_MRD_EVENT => config_mask::MEDIA_ROUTING_DOMAIN_INFORMATION,
        _ => return None,
    })
}

/// A configuration record of an unsolicited update block that the OPEN_REQ ConfigMsgMask
/// leaves out (`event-masked`): guide Configuration Acquisition Messages, "the server
/// should honor the mask for the particular configuration event message types specified
/// in the OPEN_REQ message". Records answering a CONFIG_REQUEST_EVENT (solicited blocks)
/// follow its ConfigInformation instead and are not judged, nor is a zero mask, nor a block
/// whose CONFIG_BEGIN_EVENT may have been lost.
fn config_masked(c: &Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    let (Some(bit), Some(mask), Some(true)) = (config_bit(m.id), c.masks.config, c.masks.config_block) else {
        return;
    };
    if mask == 0 || mask & bit != 0 || !c.complete(1) || c.open != OpenState::Open {
        return;
    }
    report(
        c,
        f,
        "event-masked",
        m,
        "configuration update left out by ConfigMsgMask".into(),
        format!(
            "{} in an unsolicited update block though the OPEN_REQ ConfigMsgMask (0x{mask:08x}) leaves it out (bit 0x{bit:08x})",
            m.name
        ),
    );
}

/// An event carrying call variables the session's REGISTER_VARIABLES_REQ left out
/// (`event-masked`): guide REGISTER_VARIABLES_REQ, "If a CTI Client does not want to receive
/// all possible variables, it must explicitly register for each variable that it wants"
/// (Table 80, CallVariableMask; Table 81). Judged from the positive
/// REGISTER_VARIABLES_CONF on, with a mask other than zero, while the client direction is
/// complete (a later registration lost in a gap could have widened it).
#[inline(never)]
fn call_variables_masked(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>) {
    let Some(mask) = c.masks.call_vars.filter(|&v| v != 0) else { return };
    if c.midstream || c.lost[0] {
        return;
    }
    let d = m.d;
    // CallVariable1..10 in CallVariableMask bit order (guide Table 81).
    let extra: Vec<String> = crate::cti::spec::CALL_VARIABLES
        .iter()
        .enumerate()
        .filter(|&(i, &id)| mask & (1 << i) == 0 && d.get(id).is_some())
        .map(|(i, _)| format!("CallVariable{}", i + 1))
        .collect();
    if extra.is_empty() {
        return;
    }
    let message = format!(
        "{} carries {} though the session registered CallVariableMask 0x{mask:04x} (REGISTER_VARIABLES_REQ)",
        m.name,
        extra.join(", ")
    );
    masked_event(c, f, m, message, "call variables left out by CallVariableMask".into());
}

/// An event the client's mask leaves out, `message` saying which: reported only once the
/// client direction proves complete up to it (a mask change may have been lost).
fn masked_event(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>, message: String, cause: String) {
    let s = Suspect {
        frame: m.fr,
        rule: "event-masked",
        frames: vec![m.fr],
        ts: m.ts,
        seq: f.seq,
        message,
        cause: Cause::new(Some(m.name), cause),
        subject: subject(c, m, None),
        if_lost: None,
        confirmed_by_data: true,
    };
    c.suspect(f, s);
}

/// An event the mask in force leaves out (`event-masked`): the masks of the monitor the
/// event names, or for an event of the session's own (MonitorID 0 or the OPEN_CONF's) the
/// OPEN_REQ masks, judged only on sessions that see their own phone's events alone (how the
/// server filters the events of All Events, Peripheral Monitor or Client Monitor sessions by
/// the OPEN_REQ masks the guide does not say).
///
/// `call_bit` is the event's CallMsgMask bit ([`call_event_bit`]), 0 for none.
#[inline(never)]
fn masked(c: &mut Conn, f: &mut Findings, m: &Msg<'_, '_>, granted: u32, call_bit: u32) {
    let w = &c.masks;
    if w.unknown || c.midstream || c.lost[0] {
        return;
    }
    let d = m.d;
    let monitor = d.fixed(field::MonitorID).and_then(|x| x.number()).unwrap_or(0) as u32;
    // Whose masks (a monitor's, else the session's) is named only in a finding.
    let (masks, of_monitor) = if monitor != 0 && Some(monitor) != w.open_monitor {
        match w.monitors.get(&monitor) {
            Some(&mm) => (mm, true),
            None => return,
        }
    } else {
        match w.session {
            Some(mm) if own_phone_only(granted) => (mm, false),
            _ => return,
        }
    };
    let Some((mask_name, value, bit)) = mask_for(masks, m, call_bit) else { return };
    if mask_passes(value, bit) {
        return;
    }
    let what = if m.id == MessageType::AGENT_STATE_EVENT {
        let st = d.number_of(field::AgentState).unwrap_or(0);
        let name = crate::cti::spec::values::AGENT_STATE.name_of(st as u32).unwrap_or("?");
        format!("{} {name}", m.name)
    } else {
        m.name.to_string()
    };
    let whose =
        if of_monitor { format!("MonitorID {monitor}") } else { "the session (OPEN_REQ)".to_string() };
    let message = format!(
        "{what} sent though the {mask_name} of {whose} (0x{value:08x}) leaves it out (bit 0x{bit:08x})"
    );
    masked_event(c, f, m, message, format!("left out by {mask_name}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_event_passes_by_the_call_msg_mask_bit_of_its_name() {
        // X_EVENT by X_MASK of the guide's CallMsgMask table; AGENT_PRE_CALL_EVENT also by
        // AGENT_LEGACY_PRE_CALL_MASK.
        let table = &crate::cti::spec::values::CALL_MSG_MASK;
        let mut judged = 0;
        for m in crate::cti::spec::messages() {
            let mask_name = m.name.strip_suffix("_EVENT").map(|n| format!("{n}_MASK"));
            let bit = table.entries.iter().find(|e| Some(e.1) == mask_name.as_deref()).map(|e| e.0);
            let want = match m.id {
                MessageType::AGENT_PRE_CALL_EVENT => bit.map(|b| b | cm::AGENT_LEGACY_PRE_CALL_MASK),
                // Their bits are printed only from protocol version 25: not judged.
                _ if m.name.starts_with("NETWORK_RECORDING_") => None,
                _ => bit,
            };
            assert_eq!(call_event_bit(m.id), want, "{}", m.name);
            judged += usize::from(want.is_some());
        }
        assert_eq!(judged, 26, "the call events judged by CallMsgMask");
    }

    #[test]
    fn the_type_table_marks_masked_and_configuration_events() {
        use MessageType as T;
        let config = [
            T::CONFIG_BEGIN_EVENT,
            T::CONFIG_END_EVENT,
            T::CONFIG_SERVICE_EVENT,
            T::CONFIG_SKILL_GROUP_EVENT,
            T::CONFIG_AGENT_EVENT,
            T::CONFIG_DEVICE_EVENT,
            T::CONFIG_CALL_TYPE_EVENT,
            T::CONFIG_MRD_EVENT,
        ];
        for m in crate::cti::spec::messages() {
            let t = type_services(m);
            assert_eq!(t.config, config.contains(&m.id), "{}", m.name);
            let maskable = m.id == T::AGENT_STATE_EVENT || call_event_bit(m.id).is_some();
            assert_eq!(t.maskable, maskable, "{}", m.name);
            assert_eq!(t.call_bit, call_event_bit(m.id).unwrap_or(0), "{}", m.name);
            assert_eq!(t.request, request_services(m).map_or(0, |r| r.0), "{}", m.name);
            assert_eq!(t.event, event_services(m).map_or(0, |e| e.0), "{}", m.name);
            let own = [
                T::CLIENT_SESSION_OPENED_EVENT,
                T::CALL_ATTRIBUTE_CHANGE_EVENT,
                T::CALL_AGENT_GREETING_EVENT,
            ];
            assert_eq!(t.own_fields, own.contains(&m.id), "{}", m.name);
        }
    }

    #[test]
    fn the_service_bits_of_requests_and_events() {
        // The guide's ServicesMask bits, written out.
        assert_eq!(BEYOND_OWN_PHONE, 0x10 | 0x20 | 0x40 | 0x80 | 0x400 | 0x800 | 0x1000 | 0x8_0000);
        assert_eq!(CONTROL, 0x4 | 0x2000 | 0x10);
        let requests = [
            ("Client Control", 0x2014),
            ("Supervisor", 0x80),
            ("Call Data Update", 0x2),
            ("Peripheral Monitor", 0x20),
            ("Client Monitor", 0x40),
            ("Server", 0x100),
        ];
        let events = [("Client Events", 0x1 | 0x8_1CF0), ("All Events", 0x70), ("Client Monitor", 0x40)];
        let mut seen = std::collections::BTreeSet::new();
        for m in crate::cti::spec::messages() {
            let want = |table: &[(&str, u32)]| table.iter().find(|t| t.0 == m.service).map(|t| t.1);
            let request = match m.id {
                MessageType::EMERGENCY_CALL_REQ => Some(0x2014),
                _ => want(&requests),
            };
            assert_eq!(request_services(m).map(|r| r.0), request, "{}", m.name);
            let event = match m.id {
                MessageType::AGENT_TEAM_CONFIG_EVENT => Some(0x80 | 0x70),
                _ => want(&events),
            };
            assert_eq!(event_services(m).map(|e| e.0), event, "{}", m.name);
            seen.insert(m.service);
        }
        for s in requests.iter().chain(&events).map(|t| t.0) {
            assert!(seen.contains(s), "a message of the {s} service");
        }
    }

    #[test]
    fn agent_state_bits_follow_the_mask_table() {
        use agent_state::*;
        assert_eq!(agent_state_bit(u64::from(AGENT_STATE_LOGIN)), Some(agent_state_mask::AGENT_LOGIN_MASK));
        assert_eq!(
            agent_state_bit(u64::from(AGENT_STATE_RESERVED)),
            Some(agent_state_mask::AGENT_RESERVED_MASK)
        );
        assert_eq!(agent_state_bit(u64::from(AGENT_STATE_UNKNOWN)), None);
        assert_eq!(agent_state_bit(u64::from(AGENT_STATE_HOLD)), Some(agent_state_mask::AGENT_HOLD_MASK));
        assert_eq!(agent_state_bit(u64::from(AGENT_STATE_ACTIVE)), Some(agent_state_mask::AGENT_ACTIVE_MASK));
        assert_eq!(
            agent_state_bit(u64::from(AGENT_STATE_NOT_ACTIVE)),
            Some(agent_state_mask::AGENT_NOT_ACTIVE_MASK)
        );
        assert_eq!(agent_state_bit(99), None);
    }

    #[test]
    fn every_service_of_the_spec_is_placed() {
        // A service name this module does not know would silently judge nothing.
        let known = [
            "Session Management",
            "Client Events",
            "All Events",
            "Peripheral Monitor",
            "Client Monitor",
            "Supervisor",
            "Call Data Update",
            "Miscellaneous",
            "Client Control",
            "Server",
            "Configuration Acquisition",
        ];
        for s in crate::cti::spec::messages() {
            assert!(known.contains(&s.service), "{}: service {}", s.name, s.service);
        }
    }

    #[test]
    fn the_type_table_agrees_with_the_services_of_every_spec() {
        for s in crate::cti::spec::messages() {
            let t = type_services(s);
            assert_eq!(t.request, request_services(s).map_or(0, |r| r.0), "{}", s.name);
            assert_eq!(t.event, event_services(s).map_or(0, |e| e.0), "{}", s.name);
            assert!(
                request_services(s).is_none_or(|r| r.0 != 0) && event_services(s).is_none_or(|e| e.0 != 0)
            );
            assert_eq!(t.maskable, s.id == MessageType::AGENT_STATE_EVENT || call_event_bit(s.id).is_some());
        }
    }

    #[test]
    fn requests_and_events_map_to_their_services() {
        let spec = |t: MessageType| crate::cti::spec::message(t.0, Some(24)).expect("spec");
        let bits = |t| request_services(spec(t)).map(|x| x.0);
        assert_eq!(bits(MessageType::SET_CALL_DATA_REQ), Some(sm::CTI_SERVICE_CALL_DATA_UPDATE));
        assert_eq!(bits(MessageType::SUPERVISE_CALL_REQ), Some(sm::CTI_SERVICE_SUPERVISOR));
        assert_eq!(bits(MessageType::MONITOR_START_REQ), Some(sm::CTI_SERVICE_PERIPHERAL_MONITOR));
        assert!(
            bits(MessageType::EMERGENCY_CALL_REQ).is_some_and(|b| b & sm::CTI_SERVICE_CLIENT_CONTROL != 0)
        );
        assert_eq!(bits(MessageType::HEARTBEAT_REQ), None);
        assert_eq!(bits(MessageType::QUERY_AGENT_STATISTICS_REQ), None);
        let ev = |t| event_services(spec(t)).map(|x| x.0);
        assert_eq!(ev(MessageType::CLIENT_SESSION_OPENED_EVENT), Some(sm::CTI_SERVICE_CLIENT_MONITOR));
        assert_eq!(ev(MessageType::SYSTEM_EVENT), None);
        assert_eq!(ev(MessageType::FAILURE_EVENT), None);
        assert!(ev(MessageType::BEGIN_CALL_EVENT).is_some_and(|b| b & sm::CTI_SERVICE_ALL_EVENTS != 0));
        assert_eq!(ev(MessageType::EMERGENCY_CALL_EVENT), None);
        assert_eq!(call_event_bit(MessageType::BEGIN_CALL_EVENT), Some(cm::BEGIN_CALL_MASK));
        assert_eq!(call_event_bit(MessageType::FAILURE_EVENT), None);
    }
}
