//! The rule table: every finding the analyzer can raise, with its severity, a description
//! and where the protocol documents the expectation.

use crate::cti::decode::ANOMALY_CODES;
use std::collections::HashMap;
use std::sync::OnceLock;

/// How serious a finding is (Wireshark expert-info levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable kebab-case id.
    pub id: &'static str,
    pub severity: Severity,
    pub description: &'static str,
    /// Where the expectation is documented, in a form a user can open: the Cisco guide's table
    /// numbers or chapter and section names ("guide Table 2", "guide Configuration Acquisition
    /// Messages (Message Order)"), a section of the repository's protocol document as
    /// "docs/protocol.md §7.5 InvokeID and confirms", or a file of the repository's `spec/`.
    pub reference: &'static str,
}

const fn r(id: &'static str, severity: Severity, description: &'static str, reference: &'static str) -> Rule {
    Rule { id, severity, description, reference }
}

use Severity::{Error, Note, Warning};

/// The protocol rules (decode anomaly rules are added by [`rules`]).
const BASE: &[Rule] = &[
    // Sessions.
    r("session-not-open", Error,
      "a message other than OPEN_REQ (or the answer to it) was exchanged before the session was opened",
      "docs/protocol.md §7.1 Opening a session"),
    r("open-duplicate", Warning,
      "a second OPEN_REQ on a connection that already sent one",
      "docs/protocol.md §7.1 Opening a session"),
    r("open-failed", Warning,
      "OPEN_REQ was answered by FAILURE_CONF: the session was refused",
      "docs/protocol.md §7.1 Opening a session"),
    r("heartbeat-unanswered", Warning,
      "HEARTBEAT_REQ without HEARTBEAT_CONF within the request timeout",
      "docs/protocol.md §7.2 Heartbeats"),
    r("client-idle-timeout", Warning,
      "the client sent nothing for longer than the IdleTimeout of its OPEN_REQ",
      "docs/protocol.md §7.3 Idle timeout"),
    r("data-after-close", Warning,
      "messages on a session after its CLOSE_CONF",
      "docs/protocol.md §7.4 Closing a session"),
    r("standby-request", Warning,
      "a request other than HEARTBEAT_REQ/CLOSE_REQ sent to a standby CTI Server (OPEN_CONF SessionType 2), which refuses it",
      "docs/protocol.md §7.6 Active and standby servers"),
    r("failure-event", Warning,
      "the server sent FAILURE_EVENT",
      "docs/protocol.md §6 Session messages, §7.4 Closing a session"),
    r("reset-without-close", Warning,
      "the connection was reset (RST) without a CLOSE_REQ, a refused open or a server failure before it",
      "docs/protocol.md §7.4 Closing a session"),
    r("session-reconnect", Warning,
      "a session ended without CLOSE_REQ (reset, closed, FAILURE_EVENT, heartbeats unanswered) and the same client (ClientID, agent or instrument) opened another: a reconnect, or a failover to the other side",
      "docs/protocol.md §7.2 Heartbeats, §7.6 Active and standby servers"),
    // Invokes.
    r("invoke-unanswered", Warning,
      "a request got no confirm within the request timeout (the guide allows 10 to 15 seconds for control requests)",
      "docs/protocol.md §7.5 InvokeID and confirms; guide Client Control service"),
    r("invoke-pending-at-end", Note,
      "a request was still unanswered when the connection or capture ended (before its timeout, or the answer may be lost in a gap)",
      "docs/protocol.md §7.5 InvokeID and confirms"),
    r("confirm-unmatched", Warning,
      "a confirm whose InvokeID matches no outstanding request, on a connection captured from its start without gaps",
      "docs/protocol.md §7.5 InvokeID and confirms"),
    r("confirm-request-not-captured", Note,
      "a confirm whose request was not captured (the capture started mid-connection or the request was lost in a gap)",
      "docs/protocol.md §7.5 InvokeID and confirms"),
    r("confirm-wrong-type", Error,
      "a request answered by a confirm of another request type (FAILURE_CONF and CONTROL_FAILURE_CONF answer any request)",
      "docs/protocol.md §7.5 InvokeID and confirms; guide message tables"),
    r("invoke-reused", Warning,
      "an InvokeID reused while the request that carried it is still outstanding",
      "docs/protocol.md §7.5 InvokeID and confirms"),
    // Configuration acquisition.
    r("config-request-overlap", Warning,
      "CONFIG_REQUEST_EVENT or CONFIG_REQUEST_KEY_EVENT sent while another configuration request is outstanding",
      "guide Configuration Acquisition Messages (Message Order); docs/protocol.md §7.5 InvokeID and confirms"),
    r("config-request-unanswered", Warning,
      "a configuration request not answered (CONFIG_KEY_EVENT / final CONFIG_END_EVENT) within the request timeout",
      "guide Configuration Acquisition Messages; Tables 154, 167"),
    r("config-unpaired", Warning,
      "CONFIG_BEGIN_EVENT while a block is open, or CONFIG_END_EVENT with no block and no request",
      "guide Tables 156, 167"),
    r("config-record-order", Warning,
      "configuration records out of the guide's order (service, skill group, agent, agent services, device, call type, media routing domain, peripheral, agent desk settings)",
      "guide Configuration Acquisition Messages (Message Order)"),
    r("config-end-error", Warning,
      "CONFIG_END_EVENT with an error status (UNKNOWN_CUSTOMER, INVALID or an unknown status)",
      "guide Table 168"),
    r("config-partial-unfinished", Warning,
      "the last CONFIG_END_EVENT of an acquisition had status CONFIGEND_PARTIAL and no further block followed before the connection ended",
      "guide Table 167"),
    // Calls and monitors.
    r("call-event-before-begin", Warning,
      "a call event for a call whose BEGIN_CALL_EVENT was not sent (session asked for BEGIN_CALL_MASK, captured from its start without gaps)",
      "guide Table 2 (BEGIN_CALL_EVENT precedes any other event for the call)"),
    r("call-event-after-end", Warning,
      "a call event for a call after its END_CALL_EVENT",
      "guide Table 3"),
    r("call-begin-duplicate", Warning,
      "BEGIN_CALL_EVENT for a call that already began and has not ended",
      "guide Table 2"),
    r("monitor-unknown", Warning,
      "an event names a MonitorID that no OPEN_CONF or MONITOR_START_CONF created (or that MONITOR_STOP_CONF ended), on a Peripheral Monitor session",
      "guide Tables 34-37; docs/protocol.md §7.7 Monitors"),
    // Services, masks and presence that depend on the session.
    r("service-request-not-granted", Error,
      "the client sent a request of a service its session was not granted (OPEN_CONF ServicesGranted): Client Control (All Events sessions may control agents), Supervisor, Call Data Update, Peripheral Monitor, Client Monitor, Server; or SNAPSHOT_DEVICE_REQ for another device without All Events",
      "guide Tables 33, 40, 47, 61; guide Client Control Service, Server Service; SNAPSHOT_DEVICE_REQ (Table 133); docs/protocol.md §7.8 Services and masks"),
    r("service-confirm-not-granted", Error,
      "the server answered a request of a service the session was not granted with its positive confirm instead of a failure",
      "guide Tables 33, 40, 47, 61; guide Client Control Service; docs/protocol.md §7.8 Services and masks"),
    r("service-event-not-granted", Error,
      "the server sent an unsolicited event of a service the session was not granted (call and agent events without Client Events, All Events or Peripheral Monitor; CLIENT_SESSION_*_EVENT without Client Monitor; AGENT_TEAM_CONFIG_EVENT without Supervisor)",
      "guide Tables 1, 31, 33, 40, 47; docs/protocol.md §7.8 Services and masks"),
    r("service-requires", Warning,
      "OPEN_REQ asks for a service without another one the guide requires with it (CTI_SERVICE_SUPERVISOR requires CTI_SERVICE_CLIENT_EVENTS)",
      "guide Supervisor Service; docs/protocol.md §7.8 Services and masks"),
    r("event-masked", Error,
      "the server sent an event that the mask in force leaves out: a monitor's CallMsgMask/AgentStateMask (MONITOR_START_REQ, CHANGE_MONITOR_MASK_REQ), a Client Events session's OPEN_REQ masks, a configuration update record outside the OPEN_REQ ConfigMsgMask, or call variables the REGISTER_VARIABLES_REQ CallVariableMask leaves out",
      "guide Tables 34, 38, 80, 81, 155; guide Unsolicited Call Event Message Masks, Agent State Masks, Configuration Acquisition Messages; docs/protocol.md §7.8 Services and masks"),
    r("agent-identity-missing", Error,
      "a request from a client with All Events or Peripheral Monitor service names none of AgentExtension, AgentID, AgentInstrument where the guide requires one",
      "guide Tables 51, 72, 76, 85, 87, 137, 139; docs/protocol.md §7.8 Services and masks"),
    r("call-or-agent-missing", Error,
      "SUPERVISE_CALL_REQ names neither the agent's call (AgentConnectionCallID and AgentConnectionDeviceID) nor the agent (AgentExtension, AgentID or AgentInstrument)",
      "guide Table 48; docs/protocol.md §7.8 Services and masks"),
    r("mrd-agent-missing", Error,
      "QUERY_AGENT_STATE_REQ without MRDID and one of ICMAgentID, AgentExtension, AgentID, AgentInstrument",
      "guide Table 96; docs/protocol.md §7.8 Services and masks"),
    r("conditional-field-missing", Error,
      "a request lacks a field the guide requires in its case: SET_AGENT_STATE_REQ to AGENT_STATE_LOGIN or AGENT_STATE_LOGOUT without AgentID (or without AgentPassword unless SSOEnabled is 1), MONITOR_START_REQ without the call monitor's ConnectionDeviceID or the device monitor's MonitoredDeviceID, USER_MESSAGE_REQ to DISTRIBUTE_TO_CLIENT without ClientID, CONFERENCE_CALL_REQ or TRANSFER_CALL_REQ with neither HeldConnectionDeviceID nor DialedNumber, QUERY_SKILL_GROUP_STATISTICS_REQ with both SkillGroupNumber and SkillGroupID NULL_SKILL_GROUP, SUPERVISE_CALL_REQ without SupervisorInstrument from a client with All Events or Peripheral Monitor service",
      "guide Tables 34, 48, 72, 78, 98, 108, 124; docs/protocol.md §7.8 Services and masks"),
    r("value-not-zero", Warning,
      "a field the guide sets to zero holds another value: QUERY_DEVICE_INFO_REQ's Reserved, CALL_ATTRIBUTE_CHANGE_EVENT's MonitorID (always 0), CALL_AGENT_GREETING_EVENT's PeripheralErrorCode unless EventCode is FAILED",
      "guide Tables 4, 22, 126"),
    r("sentinel-not-set", Error,
      "a field the guide says must hold a sentinel when something is absent does not: a single step TRANSFER_CALL_REQ's HeldConnectionCallID 0xffffffff and HeldConnectionDeviceIDType CONNECTION_ID_NONE, SUPERVISE_CALL_REQ's SupervisorConnectionCallID 0xffffffff with no supervisor call, MONITOR_START_REQ's ConnectionDeviceIDType/MonitoredDeviceType, CLIENT_SESSION_OPENED_EVENT's PeripheralID",
      "guide Tables 34, 41, 48, 124; docs/protocol.md §7.8 Services and masks"),
    // Call-state preconditions and lifecycles.
    r("hold-already-held", Warning,
      "HOLD_CALL_REQ, CONSULTATION_CALL_REQ or ALTERNATE_CALL_REQ (which put the active call on hold) for a call connection that the session's own events (CALL_HELD_EVENT) show already held at that device, with no call-control request for the call since",
      "guide Tables 100, 110, 114 (HOLD_CALL_REQ places an existing call connection into the held state; CONSULTATION_CALL_REQ cannot be used for a call already on hold)"),
    r("retrieve-not-held", Warning,
      "RETRIEVE_CALL_REQ or RECONNECT_CALL_REQ for a call connection that the session's own events show not held at that device (alerting, connected or cleared); ALTERNATE_CALL_REQ for another call neither held nor alerting",
      "guide Tables 100, 120, 122 (RETRIEVE_CALL_REQ retrieves an existing held connection; RECONNECT_CALL_REQ retrieves an existing held call)"),
    r("transfer-no-common-device", Warning,
      "TRANSFER_CALL_REQ or CONFERENCE_CALL_REQ joining a held and an active call that, by the session's own events, have no device in common",
      "guide Tables 108, 124 (the two calls must have connections to a single common device)"),
    r("answer-not-alerting", Warning,
      "ANSWER_CALL_REQ or DEFLECT_CALL_REQ for a call connection that the session's own events show not alerting at that device (connected, held or cleared already)",
      "guide Tables 102, 112 (ANSWER_CALL_REQ connects an alerting call at the device that is alerting; DEFLECT_CALL_REQ takes an alerting call from a known device)"),
    r("pre-call-abort-unannounced", Warning,
      "AGENT_PRE_CALL_ABORT_EVENT for a call (RouterCallKeyDay, RouterCallKeyCallID) that no captured AGENT_PRE_CALL_EVENT announced, on a session captured from its start and for at least a minute before",
      "guide Tables 23, 24 (the abort is for a call previously announced by AGENT_PRE_CALL_EVENT)"),
    r("unregister-missing", Warning,
      "a server application sent CLOSE_REQ with a service it registered (REGISTER_SERVICE_REQ, REGISTER_SERVICE_CONF) not unregistered by UNREGISTER_SERVICE_REQ",
      "guide Tables 150, 152 (UNREGISTER_SERVICE_REQ must be sent prior to closing the session)"),
    r("monitor-not-recreated", Warning,
      "a client that reopened a lost session named, in MONITOR_STOP_REQ or CHANGE_MONITOR_MASK_REQ, a MonitorID of its old session without creating it again with MONITOR_START_REQ",
      "guide Tables 34-37; docs/protocol.md §7.7 Monitors"),
    r("reason-code-missing", Warning,
      "SET_AGENT_STATE_REQ to NOT_READY or LOGOUT with EventReasonCode 0 (or none) for an agent whose desk settings (AGENT_DESK_SETTINGS_CONF DeskSettingsMask, or the configuration's CONFIG_AGENT_DESK_SETTINGS_EVENT for the agent's AgentDeskSettingsID) require a reason for idle or logout",
      "guide Tables 90, 91, 98, 159, 161"),
    // Protocol versions.
    r("layout-variant", Note,
      "messages of a type were decoded with the fixed part of a neighbouring protocol version, because their bytes fit it and not the connection's (an implementation that does not follow the version history); said once per connection and message type",
      "spec/versions.tsv; docs/protocol.md §8 Protocol versions"),
    // Capture and reassembly.
    r("direction-not-captured", Note,
      "one direction of a connection carried no message although the other shows it must have (server messages without an OPEN_REQ, requests never answered): it is missing from the capture, and rules that need both directions are not applied",
      "docs/protocol.md §7 Session rules, §9 Decoding a capture without its beginning"),
    r("tcp-gap", Warning,
      "stream bytes were not captured: messages may be missing",
      "docs/protocol.md §9 Decoding a capture without its beginning"),
    r("cti-resync", Note,
      "bytes skipped while looking for a message header (mid-stream start or after a gap)",
      "docs/protocol.md §2 Message header, §9 Decoding a capture without its beginning"),
    r("cti-incomplete", Warning,
      "a message cut short by a gap or the end of the stream",
      "docs/protocol.md §2 Message header"),
    r("cti-implausible-length", Error,
      "a message header with an impossible MessageLength in a synchronised stream",
      "docs/protocol.md §2 Message header"),
    r("tcp-retransmission-conflict", Warning,
      "a TCP retransmission carried bytes that differ from the first copy",
      "docs/protocol.md §1 Transport"),
    r("capture-limit", Note,
      "a reassembly or framing limit was reached",
      "ctiscope settings"),
    r("analysis-limit", Note,
      "an analysis limit was reached: later data of that kind is summarised, not kept",
      "ctiscope settings"),
    r("packet-issue", Note,
      "a captured packet could not be sliced",
      "capture file"),
];

/// The rules on services, masks and presence that depends on the session (module
/// `services`).
pub const SERVICE_RULES: [&str; 11] = [
    "service-request-not-granted",
    "service-confirm-not-granted",
    "service-event-not-granted",
    "service-requires",
    "event-masked",
    "agent-identity-missing",
    "call-or-agent-missing",
    "mrd-agent-missing",
    "conditional-field-missing",
    "value-not-zero",
    "sentinel-not-set",
];

/// The call-state precondition and lifecycle rules (module `preconditions`).
pub const PRECONDITION_RULES: [&str; 8] = [
    "hold-already-held",
    "retrieve-not-held",
    "transfer-no-common-device",
    "answer-not-alerting",
    "pre-call-abort-unannounced",
    "unregister-missing",
    "monitor-not-recreated",
    "reason-code-missing",
];

/// Severity of a decode anomaly code.
pub fn anomaly_severity(code: &str) -> Severity {
    match code {
        "fixed_part_short" | "floating_header_truncated" | "floating_past_end" | "count_mismatch" => Error,
        "unknown_enum_value" | "unknown_mask_bits" | "layout_unknown" | "too_many_anomalies" => Note,
        _ => Warning,
    }
}

/// Where the protocol documents what a decode anomaly breaks.
fn anomaly_reference(code: &str) -> &'static str {
    match code {
        "fixed_part_short" | "trailing_bytes" => "docs/protocol.md §2 Message header; guide message tables",
        "floating_header_truncated" | "floating_past_end" | "duplicate_field" => {
            "docs/protocol.md §4 Floating fields"
        }
        "string_without_nul" | "bad_field_length" => "docs/protocol.md §3 Data types, §4 Floating fields",
        "bad_named_variable" | "named_data_too_much" => "docs/protocol.md §5 Named variables and arrays",
        "message_too_large" => "docs/protocol.md §2 Message header",
        "unknown_message_type" | "layout_unknown" => {
            "guide Messaging Conventions (message types); spec/message_types.tsv"
        }
        "unknown_enum_value" | "unknown_mask_bits" => "guide Constants and Status Codes; spec/values.tsv",
        _ => "guide message tables",
    }
}

/// Rule id of a decode anomaly code (`decode-` and the code in kebab case).
pub fn anomaly_rule_id(code: &str) -> &'static str {
    static BY_CODE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    let map = BY_CODE.get_or_init(|| {
        ANOMALY_CODES
            .iter()
            .filter_map(|&(c, _)| {
                rules()
                    .iter()
                    .find(|r| r.id.strip_prefix("decode-").is_some_and(|k| eq_kebab(k, c)))
                    .map(|r| (c, r.id))
            })
            .collect()
    });
    map.get(code).copied().unwrap_or("decode-anomaly")
}

fn eq_kebab(kebab: &str, snake: &str) -> bool {
    kebab.len() == snake.len()
        && kebab.bytes().zip(snake.bytes()).all(|(a, b)| a == b || (a == b'-' && b == b'_'))
}

/// Every rule: the protocol rules then one `decode-*` rule per decode anomaly code.
pub fn rules() -> &'static [Rule] {
    static ALL: OnceLock<Vec<Rule>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = BASE.to_vec();
        for &(code, meaning) in ANOMALY_CODES {
            let id: &'static str = Box::leak(format!("decode-{}", code.replace('_', "-")).into_boxed_str());
            let description: &'static str = Box::leak(format!("decode anomaly: {meaning}").into_boxed_str());
            v.push(Rule {
                id,
                severity: anomaly_severity(code),
                description,
                reference: anomaly_reference(code),
            });
        }
        v.push(r(
            "decode-anomaly",
            Warning,
            "decode anomaly with a code this table does not list",
            "guide message tables",
        ));
        v
    })
}

/// The rule with this id. Panics on an unknown id (a programming error).
pub fn rule(id: &str) -> &'static Rule {
    static BY_ID: OnceLock<HashMap<&'static str, &'static Rule>> = OnceLock::new();
    let map = BY_ID.get_or_init(|| rules().iter().map(|r| (r.id, r)).collect());
    map.get(id).copied().unwrap_or_else(|| panic!("no rule {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut ids: Vec<&str> = rules().iter().map(|r| r.id).collect();
        for id in &ids {
            assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{id}");
        }
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn the_rule_families_name_rules_of_the_table() {
        let ids: Vec<&str> = rules().iter().map(|r| r.id).collect();
        for id in SERVICE_RULES.into_iter().chain(PRECONDITION_RULES) {
            assert!(ids.contains(&id), "{id}");
        }
    }

    #[test]
    fn every_anomaly_code_has_a_rule() {
        for (code, _) in ANOMALY_CODES {
            let id = anomaly_rule_id(code);
            assert_ne!(id, "decode-anomaly", "{code}");
            assert_eq!(rule(id).severity, anomaly_severity(code));
        }
    }
}
