//! `conditional-field-missing` and `value-not-zero` over hand-made messages: each field
//! the guide requires in some case, missing in that case and not missing outside it, and
//! each field it sets to zero.

use super::*;

/// The `conditional-field-missing` findings of one request on an opened All Events session
/// (the request is frame 4: after the handshake, OPEN_REQ and OPEN_CONF), with their texts.
fn missing(req: Vec<u8>) -> Vec<String> {
    let mut s = opened(0xFFFF_FFFF, BEGIN_MASK);
    s.push(Step::Msg(S, 100, req));
    s.push(Step::Msg(C, 110, failure_conf(2, 1)));
    let r = run(s);
    let found: Vec<&Finding> = r.findings.iter().filter(|f| f.rule == "conditional-field-missing").collect();
    for f in &found {
        assert_eq!(f.frames, vec![4], "{f:#?}");
        assert_eq!(f.subject.invoke, Some(2), "{f:#?}");
    }
    found.iter().map(|f| f.message.clone()).collect()
}

fn set_state(state: u64, id: bool, password: bool, sso: Option<u64>) -> Vec<u8> {
    let mut m = b("SET_AGENT_STATE_REQ");
    m.set("InvokeID", 2).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("AgentState", state).unwrap();
    m.text("AgentInstrument", "1001").unwrap();
    if id {
        m.text("AgentID", "4711").unwrap();
    }
    if password {
        m.bytes("AgentPassword", b"\0").unwrap();
    }
    if let Some(v) = sso {
        m.number("SSOEnabled", v).unwrap();
    }
    m.build()
}

#[test]
fn login_and_logout_need_the_agent_and_its_password() {
    use crate::cti::spec::values::agent_state::*;
    let (login, logout, ready) =
        (u64::from(AGENT_STATE_LOGIN), u64::from(AGENT_STATE_LOGOUT), u64::from(AGENT_STATE_AVAILABLE));
    assert_eq!(
        missing(set_state(login, false, false, None)),
        vec![
            "SET_AGENT_STATE_REQ has no AgentID with AgentState AGENT_STATE_LOGIN: the guide requires it then",
            "SET_AGENT_STATE_REQ has no AgentPassword with AgentState AGENT_STATE_LOGIN and SSOEnabled not 1: the guide requires it then",
        ]
    );
    assert_eq!(
        missing(set_state(logout, true, false, Some(0))),
        vec!["SET_AGENT_STATE_REQ has no AgentPassword with AgentState AGENT_STATE_LOGOUT and SSOEnabled not 1: the guide requires it then"]
    );
    // Single sign-on needs no password; an empty password is one; other states need neither.
    assert!(missing(set_state(login, true, false, Some(1))).is_empty());
    assert!(missing(set_state(logout, true, true, None)).is_empty());
    assert!(missing(set_state(ready, false, false, None)).is_empty());
}

/// MONITOR_START_REQ with these types and, if asked, ConnectionDeviceID and MonitoredDeviceID
/// (both 1001).
pub(super) fn monitor(conn_type: u64, dev_type: u64, conn_dev: bool, dev: bool) -> Vec<u8> {
    let mut m = b("MONITOR_START_REQ");
    m.set("InvokeID", 2).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("ConnectionCallID", 0xFFFF_FFFF).unwrap();
    m.set("ConnectionDeviceIDType", conn_type).unwrap();
    m.set("MonitoredDeviceType", dev_type).unwrap();
    if conn_dev {
        m.text("ConnectionDeviceID", "1001").unwrap();
    }
    if dev {
        m.text("MonitoredDeviceID", "1001").unwrap();
    }
    m.build()
}

#[test]
fn a_monitor_names_its_call_or_its_device() {
    use crate::cti::spec::values::{connection_device_id_type as cdt, device_id_type as dt};
    let (none, stat) = (u64::from(cdt::CONNECTION_ID_NONE), u64::from(cdt::CONNECTION_ID_STATIC));
    let (dev_none, dev_id) = (u64::from(dt::DEVID_NONE), u64::from(dt::DEVID_DEVICE_IDENTIFIER));
    assert_eq!(
        missing(monitor(none, dev_id, false, false)),
        vec!["MONITOR_START_REQ has no MonitoredDeviceID for a device monitor (ConnectionDeviceIDType CONNECTION_ID_NONE): the guide requires it then"]
    );
    assert_eq!(
        missing(monitor(stat, dev_none, false, false)),
        vec!["MONITOR_START_REQ has no ConnectionDeviceID for a call monitor (MonitoredDeviceType DEVID_NONE): the guide requires it then"]
    );
    // Types that say neither kind, and neither device: one of them is missing.
    assert_eq!(
        missing(monitor(stat, dev_id, false, false)),
        vec!["MONITOR_START_REQ has no ConnectionDeviceID or MonitoredDeviceID: the guide requires one of them"]
    );
    assert!(missing(monitor(none, dev_id, false, true)).is_empty());
    assert!(missing(monitor(stat, dev_none, true, false)).is_empty());
    // A wrong type beside the right device is sentinel-not-set's, not this rule's.
    assert!(missing(monitor(stat, dev_id, false, true)).is_empty());
}

/// USER_MESSAGE_REQ with this Distribution, naming ClientID desk-2 and AgentID 4711 if asked.
pub(super) fn user_message(distribution: u32, client: bool, agent: bool) -> Vec<u8> {
    let mut m = b("USER_MESSAGE_REQ");
    m.set("InvokeID", 2).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.set("Distribution", u64::from(distribution)).unwrap();
    if agent {
        m.text("AgentID", "4711").unwrap();
    }
    if client {
        m.text("ClientID", "desk-2").unwrap();
    }
    m.text("Text", "hello").unwrap();
    m.build()
}

#[test]
fn a_message_to_a_client_names_it_and_a_conference_its_other_party() {
    use crate::cti::spec::values::distribution::*;
    let user = |dist: u32, client: bool| user_message(dist, client, true);
    assert_eq!(
        missing(user(DISTRIBUTE_TO_CLIENT, false)),
        vec!["USER_MESSAGE_REQ has no ClientID with Distribution DISTRIBUTE_TO_CLIENT: the guide requires it then"]
    );
    assert!(missing(user(DISTRIBUTE_TO_CLIENT, true)).is_empty());
    assert!(missing(user(DISTRIBUTE_TO_TEAM, false)).is_empty());
    let join = |name: &str, held: bool, dialed: bool| {
        let mut m = b(name);
        m.set("InvokeID", 2).unwrap();
        m.set("PeripheralID", 5000).unwrap();
        m.set("ActiveConnectionCallID", 7).unwrap();
        m.set("HeldConnectionCallID", if held { 8 } else { 0xFFFF_FFFF }).unwrap();
        m.set("ActiveConnectionDeviceIDType", 0).unwrap();
        m.set("HeldConnectionDeviceIDType", if held { 0 } else { 0xFFFF }).unwrap();
        m.text("ActiveConnectionDeviceID", "1001").unwrap();
        if held {
            m.text("HeldConnectionDeviceID", "1001").unwrap();
        }
        if dialed {
            m.text("DialedNumber", "5002").unwrap();
        }
        m.build()
    };
    for name in ["CONFERENCE_CALL_REQ", "TRANSFER_CALL_REQ"] {
        assert_eq!(
            missing(join(name, false, false)),
            vec![format!(
                "{name} has no HeldConnectionDeviceID or DialedNumber: the guide requires one of them"
            )]
        );
        assert!(missing(join(name, true, false)).is_empty(), "{name}");
        assert!(missing(join(name, false, true)).is_empty(), "{name}");
    }
}

#[test]
fn skill_group_statistics_name_a_skill_group() {
    let query = |number: u64, id: u64| {
        let mut m = b("QUERY_SKILL_GROUP_STATISTICS_REQ");
        m.set("InvokeID", 2).unwrap();
        m.set("PeripheralID", 5000).unwrap();
        m.set("SkillGroupNumber", number).unwrap();
        m.set("SkillGroupID", id).unwrap();
        m.build()
    };
    let null = 0xFFFF_FFFF;
    assert_eq!(
        missing(query(null, null)),
        vec!["QUERY_SKILL_GROUP_STATISTICS_REQ has no SkillGroupNumber or SkillGroupID (both NULL_SKILL_GROUP): the guide requires one of them"]
    );
    assert!(missing(query(null, 5100)).is_empty());
    assert!(missing(query(100, null)).is_empty());
}

#[test]
fn a_monitoring_client_names_the_supervisor_instrument() {
    let supervise = |instrument: bool| {
        let mut m = b("SUPERVISE_CALL_REQ");
        m.set("InvokeID", 2).unwrap();
        m.set("PeripheralID", 5000).unwrap();
        m.set("AgentConnectionCallID", 0xFFFF_FFFF).unwrap();
        m.set("SupervisorConnectionCallID", 0xFFFF_FFFF).unwrap();
        m.text("AgentID", "4711").unwrap();
        if instrument {
            m.text("SupervisorInstrument", "5099").unwrap();
        }
        m.build()
    };
    // The session (opened with All Events) must name it...
    assert_eq!(
        missing(supervise(false)),
        vec!["SUPERVISE_CALL_REQ has no SupervisorInstrument from a client with All Events or Peripheral Monitor service: the guide requires it then"]
    );
    assert!(missing(supervise(true)).is_empty());
    // ...a Client Events session need not.
    let mut s = vec![
        Step::Msg(S, 0, open_req(1, 0xFFFF_FFFF, BEGIN_MASK)),
        Step::Msg(
            C,
            10,
            open_conf(1, u64::from(crate::cti::spec::values::service_mask::CTI_SERVICE_CLIENT_EVENTS), 1, 0),
        ),
    ];
    s.push(Step::Msg(S, 100, supervise(false)));
    s.push(Step::Msg(C, 110, failure_conf(2, 1)));
    assert!(!has(&run(s), "conditional-field-missing"));
}

#[test]
fn judged_on_the_request_alone_even_mid_stream() {
    // The case is in the request itself: a capture that starts mid-session still shows it.
    use crate::cti::spec::values::agent_state::AGENT_STATE_LOGIN;
    let r = run_mid(vec![Step::Msg(S, 100, set_state(u64::from(AGENT_STATE_LOGIN), false, true, None))]);
    assert_eq!(find(&r, "conditional-field-missing").frames, vec![2]);
}

#[test]
fn zeros_the_guide_sets() {
    use crate::cti::spec::values::agent_greeting_event_code::{ENDED_OK, FAILED};
    let zero = |steps: Vec<Step>| -> Vec<String> {
        let r = run(steps);
        r.findings.iter().filter(|f| f.rule == "value-not-zero").map(|f| f.message.clone()).collect()
    };
    let greeting = |code: u32, error: u64| {
        let mut m = b("CALL_AGENT_GREETING_EVENT");
        m.set("PeripheralID", 5000).unwrap();
        m.set("ConnectionCallID", 7).unwrap();
        m.set("EventCode", u64::from(code)).unwrap();
        m.set("PeripheralErrorCode", error).unwrap();
        m.text("ConnectionDeviceID", "1001").unwrap();
        m.build()
    };
    let on_session = |msg: Vec<u8>| {
        let mut s = opened(0xFFFF_FFFF, BEGIN_MASK);
        s.push(Step::Msg(C, 100, msg));
        zero(s)
    };
    assert_eq!(
        on_session(greeting(ENDED_OK, 7)),
        vec!["CALL_AGENT_GREETING_EVENT has PeripheralErrorCode 7 (zero unless EventCode is FAILED): the guide requires zero"]
    );
    assert!(on_session(greeting(FAILED, 7)).is_empty());
    assert!(on_session(greeting(ENDED_OK, 0)).is_empty());
    let change = |monitor: u64| {
        let mut m = b("CALL_ATTRIBUTE_CHANGE_EVENT");
        m.set("MonitorID", monitor).unwrap();
        m.set("PeripheralID", 5000).unwrap();
        m.build()
    };
    assert_eq!(on_session(change(3)).len(), 1);
    assert!(on_session(change(0)).is_empty());
    let query = |reserved: u64| {
        let mut m = b("QUERY_DEVICE_INFO_REQ");
        m.set("InvokeID", 2).unwrap();
        m.set("PeripheralID", 5000).unwrap();
        m.set("Reserved", reserved).unwrap();
        m.text("AgentInstrument", "1001").unwrap();
        m.build()
    };
    let mut s = opened(0xFFFF_FFFF, BEGIN_MASK);
    s.push(Step::Msg(S, 100, query(1)));
    assert_eq!(
        zero(s),
        vec!["QUERY_DEVICE_INFO_REQ has Reserved 1 (reserved: the client sets it to zero): the guide requires zero"]
    );
    let mut s = opened(0xFFFF_FFFF, BEGIN_MASK);
    s.push(Step::Msg(S, 100, query(0)));
    assert!(zero(s).is_empty());
}

#[test]
fn an_all_events_client_names_the_agent_of_its_agent_requests() {
    // QUERY_AGENT_STATISTICS_REQ on an All Events session: one of AgentExtension, AgentID
    // or AgentInstrument, not empty.
    let rule = |fields: &[(&str, &str)]| {
        let mut m = b("QUERY_AGENT_STATISTICS_REQ");
        m.set("InvokeID", 2).unwrap();
        m.set("PeripheralID", 5000).unwrap();
        for &(f, v) in fields {
            m.text(f, v).unwrap();
        }
        let mut s = opened(0xFFFF_FFFF, BEGIN_MASK);
        s.push(Step::Msg(S, 100, m.build()));
        s.push(Step::Msg(C, 110, failure_conf(2, 1)));
        has(&run(s), "agent-identity-missing")
    };
    assert!(rule(&[]));
    assert!(rule(&[("AgentInstrument", "")]), "empty names no one");
    for f in ["AgentExtension", "AgentID", "AgentInstrument"] {
        assert!(!rule(&[(f, "1001")]), "{f}");
    }
}
