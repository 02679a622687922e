//! Tests of the filter language: messages built with the encoder, decoded, and filtered.

use super::*;
use crate::cti::decode::{decode, VersionSource};
use crate::cti::encode::MessageBuilder;
use crate::cti::spec::fields::field;
use crate::cti::spec::values::{agent_state, service_mask};

/// 2026-01-05 09:00:18.364264 UTC.
const TS: i64 = 1_767_603_618_364_264_000;

/// A message and where it was captured.
struct Msg {
    bytes: Vec<u8>,
    decoded: Decoded,
    dir: Direction,
    src: SocketAddr,
    dst: SocketAddr,
    findings: Vec<&'static str>,
}

impl Msg {
    fn new(b: &MessageBuilder, dir: Direction) -> Msg {
        let bytes = b.build();
        let decoded = decode(&bytes, b.version(), VersionSource::Seen);
        let (client, server): (SocketAddr, SocketAddr) =
            ("10.20.0.2:53650".parse().unwrap(), "10.10.1.20:42027".parse().unwrap());
        let (src, dst) = match dir {
            Direction::ToServer => (client, server),
            Direction::ToClient => (server, client),
        };
        Msg { bytes, decoded, dir, src, dst, findings: Vec::new() }
    }

    fn record(&self) -> Record<'_> {
        Record {
            decoded: &self.decoded,
            bytes: &self.bytes,
            frame: 39,
            ts_ns: TS,
            first_ts_ns: TS - 12_500_000_000,
            conn: 3,
            dir: self.dir,
            src: self.src,
            dst: self.dst,
            findings: &self.findings,
        }
    }

    /// Does `expr` (which must compile) match?
    fn is(&self, expr: &str) -> bool {
        let f = Filter::compile(expr).unwrap_or_else(|e| panic!("{expr}: {e}\n{}", e.pointer(expr)));
        f.matches(&self.record())
    }

    /// Each filter matches.
    fn all(&self, exprs: &[&str]) {
        for e in exprs {
            assert!(self.is(e), "{e} should match");
        }
    }

    /// No filter matches.
    fn none(&self, exprs: &[&str]) {
        for e in exprs {
            assert!(!self.is(e), "{e} should not match");
        }
    }
}

/// AGENT_STATE_EVENT of agent 1001, talking, in two skill groups (100, and the null skill
/// group, -1 in the INT FltSkillGroupNumber), from the server.
fn agent_state_event() -> Msg {
    let mut b = MessageBuilder::named("AGENT_STATE_EVENT", 24);
    b.set(field::PeripheralID, 5000).unwrap().set(field::PeripheralType, 17).unwrap();
    b.set(field::AgentState, agent_state::AGENT_STATE_TALKING.into()).unwrap();
    b.set(field::SkillGroupState, agent_state::AGENT_STATE_AVAILABLE.into()).unwrap();
    b.set(field::MRDID, u64::from(u32::MAX)).unwrap();
    b.set(field::ICMAgentID, 5001).unwrap();
    b.set(field::NumFltSkillGroups, 2).unwrap();
    b.text(field::AgentID, "1001").unwrap();
    b.text(field::AgentExtension, "40001").unwrap();
    b.number(field::Direction, 1).unwrap();
    for (number, state) in
        [(100, agent_state::AGENT_STATE_TALKING), (u64::from(u32::MAX), agent_state::AGENT_STATE_AVAILABLE)]
    {
        b.number(field::FltSkillGroupNumber, number).unwrap();
        b.number(field::FltSkillGroupID, 7).unwrap();
        b.number(field::FltSkillGroupPriority, 0).unwrap();
        b.number(field::FltSkillGroupState, state.into()).unwrap();
    }
    b.number(field::MaxBeyondTaskLimit, 0).unwrap();
    let m = Msg::new(&b, Direction::ToClient);
    assert!(m.decoded.anomalies.is_empty(), "{:?}", m.decoded.anomalies);
    m
}

/// OPEN_REQ from the client: InvokeID 1, client events and all events, quotes in the
/// ClientID, bytes in the password.
fn open_req() -> Msg {
    let mut b = MessageBuilder::named("OPEN_REQ", 24);
    b.set(field::InvokeID, 1).unwrap().set(field::VersionNumber, 24).unwrap();
    b.set(field::IdleTimeout, u64::from(u32::MAX)).unwrap();
    let services = service_mask::CTI_SERVICE_CLIENT_EVENTS | service_mask::CTI_SERVICE_ALL_EVENTS;
    b.set(field::ServicesRequested, services.into()).unwrap();
    b.text(field::ClientID, "desk'1\"").unwrap();
    b.bytes(field::ClientPassword, &[0x01, 0x00, 0xff]).unwrap();
    b.text(field::AgentID, "1001").unwrap();
    let m = Msg::new(&b, Direction::ToServer);
    assert!(m.decoded.anomalies.is_empty(), "{:?}", m.decoded.anomalies);
    m
}

/// CALL_DATA_UPDATE_EVENT with call variables, two named variables and a named array.
fn call_data_update() -> Msg {
    let mut b = MessageBuilder::named("CALL_DATA_UPDATE_EVENT", 24);
    b.set(field::NumNamedVariables, 2).unwrap().set(field::NumNamedArrays, 1).unwrap();
    b.text(field::CallVariable1, "ACC-0393419").unwrap();
    b.named_var("user.CustomerID", "193890").unwrap();
    b.named_var("user.Intent", "billing_inquiry").unwrap();
    b.named_array(12, "user.Products", "HOME-PHONE").unwrap();
    Msg::new(&b, Direction::ToClient)
}

/// A HEARTBEAT_REQ with two bytes after its fixed part: a `trailing_bytes` anomaly.
fn heartbeat_with_trailing_bytes() -> Msg {
    let mut b = MessageBuilder::named("HEARTBEAT_REQ", 24);
    b.set(field::InvokeID, 9).unwrap();
    let mut m = Msg::new(&b, Direction::ToServer);
    m.bytes.extend_from_slice(&[0xAA, 0xBB]);
    m.bytes[3] += 2;
    m.decoded = decode(&m.bytes, 24, VersionSource::Seen);
    assert_eq!(m.decoded.anomalies.len(), 1);
    m
}

#[test]
fn comparison_operators() {
    let m = open_req();
    m.all(&[
        "InvokeID == 1",
        "InvokeID != 2",
        "InvokeID < 2",
        "InvokeID <= 1",
        "InvokeID > 0",
        "InvokeID >= 1",
    ]);
    m.none(&[
        "InvokeID == 2",
        "InvokeID != 1",
        "InvokeID < 1",
        "InvokeID <= 0",
        "InvokeID > 1",
        "InvokeID >= 2",
    ]);
    m.all(&[
        "InvokeID eq 1",
        "InvokeID ne 2",
        "InvokeID lt 2",
        "InvokeID le 1",
        "InvokeID gt 0",
        "InvokeID ge 1",
    ]);
    m.none(&[
        "InvokeID eq 2",
        "InvokeID ne 1",
        "InvokeID lt 1",
        "InvokeID le 0",
        "InvokeID gt 1",
        "InvokeID ge 2",
    ]);
    // No spaces needed.
    m.all(&["InvokeID==1&&VersionNumber>=24", "(InvokeID<2)||InvokeID>5"]);
}

#[test]
fn hex_and_decimal_numbers() {
    let m = open_req();
    m.all(&[
        "ServicesRequested == 0x11",
        "ServicesRequested == 0X11",
        "ServicesRequested == 17",
        "InvokeID == 0x1",
    ]);
    m.none(&["ServicesRequested == 0x10"]);
    // A UINT holding 0xFFFFFFFF compares as that unsigned number.
    m.all(&[
        "IdleTimeout == 0xFFFFFFFF",
        "IdleTimeout == 4294967295",
        "IdleTimeout > 0",
        "IdleTimeout == NO_HEARTBEAT",
    ]);
    m.none(&["IdleTimeout == -1", "IdleTimeout < 0"]);
}

#[test]
fn signed_fields_compare_as_signed() {
    let m = agent_state_event();
    m.all(&["MRDID == -1", "MRDID < 0", "MRDID >= -1", "ICMAgentID == 5001", "ICMAgentID > -5"]);
    m.none(&["MRDID == 0xFFFFFFFF", "MRDID > 0"]);
}

#[test]
fn enumerations_by_name() {
    let m = agent_state_event();
    m.all(&[
        "AgentState == AGENT_STATE_TALKING",
        "AgentState == TALKING",
        "AgentState == 4",
        "AgentState == \"AGENT_STATE_TALKING\"",
        "AgentState == 'TALKING'",
        "AgentState != AGENT_STATE_AVAILABLE",
        "AgentState in {AGENT_STATE_AVAILABLE TALKING}",
        "AgentState > AGENT_STATE_NOT_READY",
        "SkillGroupState == AVAILABLE",
        "PeripheralID == 5000",
    ]);
    m.none(&["AgentState == AGENT_STATE_AVAILABLE", "AgentState == AVAILABLE", "AgentState != TALKING"]);
    // A field with two value tables: Direction's "in" (1) and RTPDirection's "output" (1).
    m.all(&["Direction == \"in\"", "Direction == 'output'", "Direction == 1"]);
    m.none(&["Direction == \"out\""]);
    // Special values of a plain number, and their negative reading in an INT.
    m.all(&["FltSkillGroupNumber == NULL_SKILL_GROUP", "FltSkillGroupNumber == -1"]);
    assert!(open_req().is("PeripheralID != NULL_PERIPHERAL_ID") == open_req().is("PeripheralID"));
}

#[test]
fn mask_bits() {
    let m = open_req();
    m.all(&[
        "ServicesRequested & CTI_SERVICE_CLIENT_EVENTS",
        "ServicesRequested & CTI_SERVICE_ALL_EVENTS",
        "ServicesRequested & ALL_EVENTS",
        "ServicesRequested & 0x10",
        "ServicesRequested & 0x14",
        "ServicesRequested & 1 && !(ServicesRequested & CTI_SERVICE_CLIENT_CONTROL)",
        "ServicesRequested == CTI_SERVICE_CLIENT_EVENTS || ServicesRequested & 0x1",
    ]);
    m.none(&[
        "ServicesRequested & CTI_SERVICE_CLIENT_CONTROL",
        "ServicesRequested & 0x4",
        "ServicesRequested == CTI_SERVICE_CLIENT_EVENTS",
        "ServicesRequested & 0",
    ]);
    // A negative number's two's complement bits.
    agent_state_event().all(&["MRDID & 0x80000000"]);
}

#[test]
fn strings_quotes_and_escapes() {
    let m = open_req();
    m.all(&[
        "AgentID == \"1001\"",
        "AgentID == '1001'",
        "AgentID == 1001",
        "ClientID == \"desk'1\\\"\"",
        "ClientID == 'desk\\'1\"'",
        "ClientID == \"desk\\x271\\x22\"",
        "ClientPassword == \"\\x01\\0\\xff\"",
        "ClientPassword contains \"\\0\"",
        "ClientPassword contains '\\xff'",
    ]);
    m.none(&[
        "AgentID == \"1001 \"",
        "AgentID == \"100\"",
        "AgentID == 01001",
        "ClientPassword == \"\\x01\"",
        "ClientPassword contains \"\\x02\"",
    ]);
    // Text is compared without its NUL.
    m.none(&["AgentID == \"1001\\0\""]);
}

#[test]
fn sets() {
    let m = open_req();
    m.all(&[
        "AgentID in {1001 1002}",
        "AgentID in {\"1002\", '1001'}",
        "InvokeID in {1,2,3}",
        "InvokeID in { 3 , 2 1 }",
        "InvokeID in {0..5}",
        "InvokeID in {1..1}",
        "InvokeID not in {2 3}",
        "type in {OPEN_REQ 30}",
        "type in {1..3}",
        "dir in {client server}",
        "tcp.port in {42027 43027}",
        "ip.addr in {192.168.0.1 10.10.1.0/24}",
    ]);
    m.none(&["AgentID in {1002 1003}", "InvokeID in {2..9}", "InvokeID not in {1 2}", "type not in {3}"]);
}

#[test]
fn contains_and_matches() {
    let m = call_data_update();
    m.all(&[
        "CallVariable1 contains \"0393\"",
        "CallVariable1 contains ACC",
        "CallVariable1 contains \"\"",
        "CallVariable1 matches \"^ACC-[0-9]+$\"",
        "CallVariable1 ~ \"[0-9]{7}\"",
        "CallVariable1 matches \"(?i)^acc\"",
        "CallVariable1 matches \"^ACC-\\d+\"",
        "type contains \"DATA_UPDATE\"",
        "type matches \"^CALL_.*_EVENT$\"",
    ]);
    m.none(&[
        "CallVariable1 contains \"acc\"",
        "CallVariable1 matches \"^acc\"",
        "CallVariable1 matches \"^0393\"",
    ]);
}

#[test]
fn named_variables_and_arrays() {
    let m = call_data_update();
    m.all(&[
        "NamedVariable",
        "NamedVariable == \"user.Intent=billing_inquiry\"",
        "NamedVariable == \"user.CustomerID=193890\"",
        "NamedVariable contains \"Intent=bill\"",
        "NamedVariable matches \"^user\\.CustomerID=[0-9]+$\"",
        "NamedVariable.name == \"user.Intent\"",
        "NamedVariable.value == 193890",
        "NamedVariable.value contains billing",
        "NamedVariable.name in {\"user.Intent\" \"user.Other\"}",
        "NamedArray == \"user.Products[12]=HOME-PHONE\"",
        "NamedArray matches \"^user\\.Products\\[12\\]=HOME\"",
        "NamedArray.index == 12",
        "NamedArray.index > 10",
        "NamedArray.name == 'user.Products'",
        "NamedArray.value matches \"PHONE$\"",
        "NamedVariable.name != \"user.Other\"",
    ]);
    m.none(&[
        "NamedVariable == \"user.Intent\"",
        "NamedVariable == \"user.Intent=billing\"",
        "NamedVariable == \"user.CustomerID=193890x\"",
        "NamedVariable.name == \"user.intent\"",
        "NamedVariable.name != \"user.Intent\"",
        "NamedArray == \"user.Products=HOME-PHONE\"",
        "NamedArray == \"user.Products[1]=HOME-PHONE\"",
        "NamedArray.index == 0",
    ]);
    open_req().none(&["NamedVariable", "NamedVariable.name", "NamedVariable.value != \"x\""]);
}

#[test]
fn existence() {
    let m = open_req();
    m.all(&[
        "AgentID",
        "ClientPassword",
        "cti.ClientID",
        "InvokeID",
        "!ANI",
        "not AgentState",
        "finding || !finding",
    ]);
    m.none(&["ANI", "AgentState", "anomaly", "finding"]);
}

#[test]
fn precedence_and_parentheses() {
    let m = open_req(); // InvokeID 1, no ANI
                        // not > and > or: `a || b && c` is `a || (b && c)`.
    m.all(&["InvokeID == 1 || ANI && ANI", "ANI && ANI || InvokeID == 1", "!ANI && InvokeID == 1"]);
    m.none(&["(InvokeID == 1 || ANI) && ANI", "!(ANI || InvokeID == 1)", "not InvokeID == 1 or ANI"]);
    // `not` binds tighter than `or` and `and`.
    m.all(&["not InvokeID or InvokeID", "! ANI && ! ANI"]);
    m.none(&["not ANI and ANI", "!InvokeID || !InvokeID"]);
    m.all(&["not ANI and InvokeID == 1", "!!InvokeID", "!(!(InvokeID == 1))", "((((InvokeID))))"]);
    m.all(&["ANI or InvokeID == 2 or AgentID == 1001", "InvokeID and AgentID and ClientID"]);
    m.none(&["ANI and InvokeID", "InvokeID and ANI", "!InvokeID || ANI"]);
}

#[test]
fn any_occurrence_of_a_repeated_field() {
    let m = agent_state_event(); // FltSkillGroupNumber 100 and -1
    m.all(&[
        "FltSkillGroupNumber == 100",
        "FltSkillGroupNumber == -1",
        "FltSkillGroupNumber > 99",
        "FltSkillGroupNumber < 0",
        "FltSkillGroupNumber != 5",
        "FltSkillGroupNumber in {5 100}",
        "FltSkillGroupState == TALKING",
        "FltSkillGroupState == AVAILABLE",
        "FltSkillGroupNumber == 100 && FltSkillGroupNumber == -1",
    ]);
    // != is "no occurrence equals": one of them is 100.
    m.none(&[
        "FltSkillGroupNumber != 100",
        "FltSkillGroupNumber > 100",
        "FltSkillGroupNumber not in {100 7}",
    ]);
    assert!(m.is("!(FltSkillGroupNumber == 100)") == m.is("FltSkillGroupNumber != 100"));
}

#[test]
fn not_equal_needs_the_field() {
    let m = open_req(); // no ANI, no Status
    m.none(&["ANI != \"5551234\"", "Status != E_CTI_NO_ERROR", "ANI not in {1 2}"]);
    m.all(&["!(ANI == \"5551234\")", "!(Status == 0)", "!(ANI in {1 2})"]);
}

#[test]
fn the_cti_prefix() {
    let m = open_req();
    m.all(&["cti.AgentID == 1001", "cti.InvokeID == 1", "cti.ServicesRequested & CTI_SERVICE_CLIENT_EVENTS"]);
    m.none(&["cti.InvokeID == 2"]);
}

#[test]
fn pseudo_fields() {
    let m = open_req(); // client 10.20.0.2:53650 -> server 10.10.1.20:42027
    m.all(&[
        "frame == 39",
        "frame > 38 && frame < 40",
        "conn == 3",
        "dir == client",
        "dir == \"client\"",
        "dir != server",
        "type == OPEN_REQ",
        "type == \"OPEN_REQ\"",
        "type == 3",
        "type < 4",
        "type <= OPEN_REQ",
        "type != OPEN_CONF",
        "version == 24",
        "version >= 20",
        "len == 80",
        "len > 8",
        "ip.addr == 10.10.1.20",
        "ip.addr == 10.20.0.2",
        "ip.addr == 10.0.0.0/8",
        "ip.src == 10.20.0.2",
        "ip.dst == 10.10.1.20",
        "ip.addr != 10.99.0.1",
        "ip.src == \"10.20.0.0/16\"",
        "tcp.port == 42027",
        "tcp.port == 53650",
        "tcp.srcport == 53650",
        "tcp.dstport == 42027",
        "tcp.port != 43027",
    ]);
    assert_eq!(m.bytes.len(), 80);
    m.none(&[
        "dir == server",
        "type == OPEN_CONF",
        "type == 4",
        "ip.src == 10.10.1.20",
        "ip.addr != 10.10.1.20",
        "ip.addr == 10.10.2.0/24",
        "ip.addr == ::1",
        "tcp.srcport == 42027",
        "tcp.port != 42027",
        "version < 24",
    ]);
    agent_state_event().all(&["dir == server", "ip.src == 10.10.1.20", "tcp.srcport == 42027"]);
}

#[test]
fn ipv6_addresses() {
    let mut m = open_req();
    m.src = "[fe80::1]:53650".parse().unwrap();
    m.dst = "[2001:db8::20]:42027".parse().unwrap();
    m.all(&[
        "ip.src == fe80::1",
        "ip.addr == 2001:db8::20",
        "ip.addr == \"2001:db8::/32\"",
        "ip.dst == 2001:db8::/64",
    ]);
    m.none(&["ip.addr == 10.10.1.20", "ip.src == fe80::2", "ip.addr == 0.0.0.0/0"]);
    // An IPv4 address carried as IPv4-mapped IPv6 is the IPv4 address.
    m.src = "[::ffff:10.20.0.2]:53650".parse().unwrap();
    m.all(&["ip.src == 10.20.0.2", "ip.addr == 10.20.0.0/16", "ip.src == ::ffff:10.20.0.2"]);
    m.src = "10.20.0.2:53650".parse().unwrap();
    m.all(&["ip.src == ::ffff:10.20.0.2", "ip.src == \"::ffff:10.20.0.0/112\""]);
}

#[test]
fn times_compare_at_the_precision_written() {
    let m = open_req(); // 2026-01-05 09:00:18.364264, 12.5 s after the first packet
    m.all(&[
        "time == \"2026-01-05 09:00:18\"",
        "time == \"2026-01-05 09:00:18.364264\"",
        "time == \"2026-01-05 09:00:18.3\"",
        "time == \"2026-01-05T09:00:18Z\"",
        "time == 2026-01-05T09:00:18.364Z",
        "time == \"2026-01-05T10:00:18+01:00\"",
        "time == \"2026-01-05 09:00\"",
        "time == \"2026-01-05\"",
        "time == 2026-01-05",
        "time == 1767603618",
        "time == 1767603618.364264",
        "time > \"2026-01-05 09:00:18\"",
        "time >= \"2026-01-05 09:00:18.364264\"",
        "time <= \"2026-01-05 09:00:18.364264\"",
        "time < \"2026-01-05 09:00:18.364265\"",
        "time != \"2026-01-05 09:00:19\"",
        "time in {\"2026-01-04\" \"2026-01-05\"}",
        "reltime == 12.5",
        "reltime == 12",
        "reltime > 12",
        "reltime >= 12.5",
        "reltime < 12.6",
        "reltime <= 12.5",
        "reltime in {1 12.5}",
    ]);
    m.none(&[
        "time == \"2026-01-05 09:00:19\"",
        "time == \"2026-01-05 09:00:18.4\"",
        "time == \"2026-01-05 09:00:18.364263\"",
        "time == \"2026-01-06\"",
        "time < \"2026-01-05 09:00:18\"",
        "time > \"2026-01-05 09:00:18.364264\"",
        "time > \"2026-01-05 09:01\"",
        "reltime == 12.6",
        "reltime == 13",
        "reltime < 12.5",
        "reltime > 12.5",
    ]);
}

#[test]
fn anomalies_and_findings() {
    let mut m = heartbeat_with_trailing_bytes();
    m.all(&[
        "anomaly",
        "anomaly == trailing_bytes",
        "anomaly == \"trailing_bytes\"",
        "anomaly != required_missing",
        "anomaly contains trailing",
        "anomaly matches \"^trail\"",
        "anomaly in {required_missing trailing_bytes}",
    ]);
    m.none(&["anomaly == required_missing", "anomaly != trailing_bytes", "finding"]);
    m.findings = vec!["session-not-open", "invoke-unanswered"];
    m.all(&[
        "finding",
        "finding == invoke-unanswered",
        "finding == session-not-open",
        "finding != heartbeat-unanswered",
        "finding contains \"invoke\"",
        "finding matches \"^session-\"",
    ]);
    m.none(&["finding == heartbeat-unanswered", "finding != invoke-unanswered"]);
    // Decode anomaly rules are findings too.
    assert!(Filter::compile("finding == decode-trailing-bytes").is_ok());
    agent_state_event().none(&["anomaly", "anomaly != trailing_bytes"]);
}

/// OPEN_CONF from the server: PeripheralOnline set, ICMCentralControllerTime
/// 2026-01-05 09:00:18.
fn open_conf() -> Msg {
    let mut b = MessageBuilder::named("OPEN_CONF", 24);
    b.set(field::InvokeID, 1).unwrap().set(field::PeripheralOnline, 1).unwrap();
    b.set(field::ICMCentralControllerTime, 1_767_603_618).unwrap();
    b.number(field::NumPeripherals, 0).unwrap();
    Msg::new(&b, Direction::ToClient)
}

#[test]
fn bool_and_time_fields() {
    let m = open_conf();
    m.all(&[
        "PeripheralOnline == true",
        "PeripheralOnline == 1",
        "PeripheralOnline != false",
        "ICMCentralControllerTime == 1767603618",
        "ICMCentralControllerTime == \"2026-01-05 09:00:18\"",
        "ICMCentralControllerTime == \"2026-01-05\"",
        "ICMCentralControllerTime > \"2026-01-05 09:00:17\"",
        "ICMCentralControllerTime < \"2026-01-05 09:00:18.5\"",
    ]);
    m.none(&[
        "PeripheralOnline == false",
        "ICMCentralControllerTime == \"2026-01-05 09:00:18.5\"",
        "ICMCentralControllerTime == \"2026-01-05 09:01\"",
    ]);
}

#[test]
fn fields_and_pseudo_fields_read() {
    let f = Filter::compile(
        "AgentID == 1001 && (cti.AgentState == TALKING || AgentID) && !finding && NamedVariable.name && type",
    )
    .unwrap();
    let mut fields: Vec<&str> = f.fields().map(|id| id.name()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["AgentID", "AgentState", "NamedVariable"]);
    assert!(f.uses(Pseudo::Finding) && f.uses(Pseudo::Type));
    assert!(!f.uses(Pseudo::Anomaly) && !f.uses(Pseudo::Frame));
    let g = Filter::compile("frame == 1").unwrap();
    assert_eq!(g.fields().count(), 0);
    assert_eq!(Pseudo::ALL.iter().filter(|&&p| g.uses(p)).collect::<Vec<_>>(), [&Pseudo::Frame]);
    assert_eq!(g.to_string(), "frame == 1");
    assert_eq!(g.as_str(), "frame == 1");
    for p in Pseudo::ALL {
        assert_eq!(Pseudo::by_name(p.name()), Some(p));
        let f = Filter::compile(p.name()).unwrap();
        assert!(f.uses(p));
    }
}

#[test]
fn a_filter_is_shared_between_threads() {
    fn shared<T: Send + Sync + Clone>() {}
    shared::<Filter>();
    shared::<FilterError>();
}

/// Error `expr` gives: its column and message.
fn error(expr: &str) -> (usize, String) {
    match Filter::compile(expr) {
        Ok(_) => panic!("{expr} compiled"),
        Err(e) => {
            assert!(e.message.contains(&format!("at column {}", e.column)), "{expr}: {e}");
            assert_eq!(e.to_string(), e.message);
            (e.column, e.message)
        }
    }
}

#[test]
fn unknown_names_suggest_the_closest() {
    let cases: &[(&str, usize, &str)] = &[
        ("AgentId == 1001", 1, "unknown field 'AgentId' at column 1; did you mean 'AgentID'?"),
        (
            "AgentState == AGENT_STATE_TALKIN",
            15,
            "unknown value 'AGENT_STATE_TALKIN' for AgentState at column 15; did you mean 'AGENT_STATE_TALKING'?",
        ),
        ("AgentState == TALKIN", 15, "unknown value 'TALKIN' for AgentState at column 15; did you mean 'TALKING'?"),
        ("AgentState == talking", 15, "unknown value 'talking' for AgentState at column 15; did you mean 'TALKING'?"),
        ("AgentState == \"Talk\"", 15, "unknown value 'Talk' for AgentState at column 15"),
        ("cti.AgentStat", 1, "unknown field 'cti.AgentStat' at column 1; did you mean 'cti.AgentState'?"),
        ("cti.frame == 1", 1, "unknown field 'cti.frame' at column 1"),
        ("frme == 1", 1, "unknown field 'frme' at column 1; did you mean 'frame'?"),
        ("tcp.prot == 1", 1, "unknown field 'tcp.prot' at column 1; did you mean 'tcp.port'?"),
        ("Foo", 1, "unknown field 'Foo' at column 1"),
        ("AGENT_STATE_EVENT", 1, "unknown field 'AGENT_STATE_EVENT' at column 1; did you mean 'type == AGENT_STATE_EVENT'?"),
        ("dir == clinet", 8, "unknown value 'clinet' for dir at column 8; did you mean 'client'?"),
        ("dir == up", 8, "unknown value 'up' for dir at column 8"),
        ("type == AGENT_STATE_EVNT", 9, "unknown value 'AGENT_STATE_EVNT' for type at column 9; did you mean 'AGENT_STATE_EVENT'?"),
        ("type < OPEN_REQQ", 8, "unknown value 'OPEN_REQQ' for type at column 8; did you mean 'OPEN_REQ'?"),
        ("anomaly == required_mising", 12, "unknown value 'required_mising' for anomaly at column 12; did you mean 'required_missing'?"),
        ("finding == invoke-unanswerd", 12, "unknown value 'invoke-unanswerd' for finding at column 12; did you mean 'invoke-unanswered'?"),
        (
            "ServicesRequested & CTI_SERVICE_CLIENT_EVENT",
            21,
            "unknown value 'CTI_SERVICE_CLIENT_EVENT' for ServicesRequested at column 21; did you mean 'CTI_SERVICE_CLIENT_EVENTS'?",
        ),
        (
            "AgentState in {TALKING AVAILABL}",
            24,
            "unknown value 'AVAILABL' for AgentState at column 24; did you mean 'AVAILABLE'?",
        ),
        // Columns count characters, not bytes.
        ("AgentID == \"ééé\" && Foo", 21, "unknown field 'Foo' at column 21"),
    ];
    for &(expr, column, message) in cases {
        assert_eq!(error(expr), (column, message.to_string()), "{expr}");
    }
}

#[test]
fn syntax_errors() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty filter at column 1"),
        ("   ", 1, "empty filter at column 1"),
        ("(AgentID == 1", 1, "unclosed '(' at column 1"),
        ("((AgentID) || (ANI)", 1, "unclosed '(' at column 1"),
        ("(", 1, "unclosed '(' at column 1"),
        ("AgentID == 1)", 13, "unmatched ')' at column 13"),
        (")", 1, "unmatched ')' at column 1"),
        ("()", 1, "empty parentheses at column 1"),
        ("AgentID ==", 9, "'==' at column 9 needs a value after it"),
        ("AgentID == )", 9, "'==' at column 9 needs a value after it"),
        ("(AgentID contains)", 10, "'contains' at column 10 needs a value after it"),
        ("AgentID matches", 9, "'matches' at column 9 needs a value after it"),
        ("ServicesRequested &", 19, "'&' at column 19 needs a value after it"),
        ("== 1", 1, "'==' at column 1 needs a field before it"),
        ("contains \"x\"", 1, "'contains' at column 1 needs a field before it"),
        ("AgentID &&", 9, "'&&' at column 9 needs an expression after it"),
        ("AgentID || ", 9, "'||' at column 9 needs an expression after it"),
        ("AgentID and", 9, "'and' at column 9 needs an expression after it"),
        ("(AgentID or)", 10, "'or' at column 10 needs an expression after it"),
        ("AgentID && || ANI", 9, "'&&' at column 9 needs an expression after it"),
        ("&& AgentID", 1, "'&&' at column 1 needs an expression before it"),
        ("or AgentID", 1, "'or' at column 1 needs an expression before it"),
        ("!", 1, "'!' at column 1 needs an expression after it"),
        ("AgentID && not", 12, "'not' at column 12 needs an expression after it"),
        ("AgentID in", 9, "'in' at column 9 needs a set after it, as in {1 2 3}"),
        ("AgentID in 1001", 9, "'in' at column 9 needs a set after it, as in {1 2 3}"),
        ("AgentID not in", 13, "'in' at column 13 needs a set after it, as in {1 2 3}"),
        ("InvokeID in {}", 13, "empty set '{}' at column 13"),
        ("InvokeID in { , }", 15, "unexpected ',' at column 15; expected a value or '}'"),
        ("InvokeID in {1 ,, 2}", 17, "unexpected ',' at column 17; expected a value or '}'"),
        ("InvokeID in {1 2", 13, "unclosed '{' at column 13"),
        ("InvokeID in {1 (2)}", 16, "unexpected '(' at column 16; expected a value or '}'"),
        ("InvokeID in {5..1}", 14, "bad range '5..1' at column 14: write low..high, as in 1..5"),
        (
            "AgentID == 1001 1002",
            17,
            "unexpected '1002' at column 17; expected '&&', '||' or the end of the filter",
        ),
        (
            "AgentID AgentState",
            9,
            "unexpected 'AgentState' at column 9; expected '&&', '||' or the end of the filter",
        ),
        ("(AgentID ANI)", 10, "unexpected 'ANI' at column 10; expected '&&', '||' or ')'"),
        ("AgentID not ANI", 9, "unexpected 'not' at column 9; expected '&&', '||' or the end of the filter"),
        ("AgentID = 1", 9, "'=' at column 9: use '==' to compare"),
        ("AgentID | ANI", 9, "'|' at column 9: use '||' (or 'or')"),
        ("AgentID == \"abc", 12, "unterminated string at column 12"),
        ("AgentID == 'abc\\'", 12, "unterminated string at column 12"),
        ("ClientPassword == \"\\x4\"", 20, "'\\x' at column 20 needs two hex digits, as in \\x41"),
        ("AgentID @ 1", 9, "unexpected character '@' at column 9"),
        ("AgentID == {1}", 9, "'==' at column 9 needs a value after it"),
        ("\"1001\" == AgentID", 1, "expected a field name at column 1, found the string \"1001\""),
        (
            "5 == frame",
            1,
            "expected a field name at column 1, found '5': a test starts with the field, as in frame == 5",
        ),
        ("{1}", 1, "unexpected '{' at column 1"),
    ];
    for &(expr, column, message) in cases {
        assert_eq!(error(expr), (column, message.to_string()), "{expr}");
    }
}

#[test]
fn type_errors() {
    let cases: &[(&str, usize, &str)] = &[
        ("AgentID < \"5\"", 9, "'<' at column 9 compares numbers and times, and AgentID is text"),
        ("AgentID >= 5", 9, "'>=' at column 9 compares numbers and times, and AgentID is text"),
        ("anomaly > trailing_bytes", 9, "'>' at column 9 compares numbers and times, and anomaly is text"),
        ("dir <= client", 5, "'<=' at column 5 compares numbers and times, and dir is a direction"),
        ("ip.addr < 10.0.0.1", 9, "'<' at column 9 compares numbers and times, and ip.addr is an address"),
        ("NamedVariable.value gt 5", 21, "'gt' at column 21 compares numbers and times, and NamedVariable.value is text"),
        ("InvokeID contains \"1\"", 10, "'contains' at column 10 applies to text, and InvokeID is a number"),
        ("frame matches \"1\"", 7, "'matches' at column 7 applies to text, and frame is a number"),
        ("ip.src contains 10", 8, "'contains' at column 8 applies to text, and ip.src is an address"),
        ("AgentID & 1", 9, "'&' at column 9 tests bits of a number, and AgentID is text"),
        ("dir & 1", 5, "'&' at column 5 tests bits of a number, and dir is a direction"),
        ("ServicesRequested & -1", 21, "a bit mask is not negative: -1 at column 21"),
        (
            "CallVariable1 matches \"(ab\"",
            23,
            "invalid regular expression \"(ab\" at column 23: unclosed group",
        ),
        (
            "CallVariable1 ~ 'a{2,1}'",
            17,
            "invalid regular expression 'a{2,1}' at column 17: invalid repetition count range, the start must be <= the end",
        ),
        ("AgentID == abc", 12, "unquoted text 'abc' for AgentID at column 12: write it in quotes, \"abc\""),
        ("NamedVariable.name == user", 23, "unquoted text 'user' for NamedVariable.name at column 23: write it in quotes, \"user\""),
        (
            "AgentID == AgentExtension",
            12,
            "'AgentExtension' at column 12 is a field: a field is compared with a constant, not another field",
        ),
        ("frame == conn", 10, "'conn' at column 10 is a field: a field is compared with a constant, not another field"),
        ("InvokeID == abc", 13, "expected a number for InvokeID at column 13, found abc"),
        ("InvokeID == \"abc\"", 13, "expected a number for InvokeID at column 13, found \"abc\""),
        ("InvokeID < 1.5", 12, "expected a number for InvokeID at column 12, found 1.5"),
        ("frame == 0x", 10, "expected a number for frame at column 10, found 0x"),
        ("NamedArray.index == x", 21, "expected a number for NamedArray.index at column 21, found x"),
        (
            "time > \"2026-13-01\"",
            8,
            "expected a time, \"YYYY-MM-DD HH:MM:SS\" (UTC, fraction optional) or seconds since 1970, for time at column 8, found \"2026-13-01\"",
        ),
        ("reltime < 1,5", 12, "unexpected ',' at column 12; expected '&&', '||' or the end of the filter"),
        ("reltime == x", 12, "expected seconds (as in 12.5) for reltime at column 12, found x"),
        (
            "time >= 2026-01-05 09:00:18",
            9,
            "a date and time are written in quotes: \"2026-01-05 09:00:18\" at column 9",
        ),
        (
            "ip.addr == 10.0.0.256",
            12,
            "expected an IPv4 or IPv6 address (a network: 10.0.0.0/8) for ip.addr at column 12, found 10.0.0.256",
        ),
        ("NamedVariable.index", 1, "NamedVariable has no member 'index' at column 1: it has '.name' and '.value'"),
        ("AgentID.name", 1, "AgentID has no member 'name' at column 1: it has no members"),
        ("NamedArray.size", 1, "NamedArray has no member 'size' at column 1: it has '.name', '.value' and '.index'"),
        ("PeripheralOnline == maybe", 21, "expected a number for PeripheralOnline at column 21, found maybe"),
    ];
    for &(expr, column, message) in cases {
        assert_eq!(error(expr), (column, message.to_string()), "{expr}");
    }
}

#[test]
fn the_pointer_shows_the_column() {
    let e = Filter::compile("AgentID ==\t").unwrap_err();
    assert_eq!(e.pointer("AgentID ==\t"), "AgentID == \n        ^");
}

#[test]
fn short_value_names() {
    use crate::cti::spec::values;
    let short = |t: &crate::cti::spec::ValueTable, name: &str| {
        let i = t.entries.iter().position(|e| e.1 == name).unwrap();
        compile::short_names(t)[i]
    };
    assert_eq!(short(&values::AGENT_STATE, "AGENT_STATE_TALKING"), Some("TALKING"));
    assert_eq!(short(&values::AGENT_STATE, "AGENT_STATE_WORK_READY"), Some("WORK_READY"));
    // Nine in ten names of a family: E_INVALID_CONFIG_MSG_MASK, CTI_AGENT_STATE_CONTROL_ONLY
    // keep their full names only.
    assert_eq!(short(&values::STATUS_CODE, "E_CTI_NO_ERROR"), Some("NO_ERROR"));
    assert_eq!(short(&values::STATUS_CODE, "E_INVALID_CONFIG_MSG_MASK"), None);
    assert_eq!(short(&values::SERVICE_MASK, "CTI_SERVICE_CLIENT_EVENTS"), Some("CLIENT_EVENTS"));
    assert_eq!(short(&values::SERVICE_MASK, "CTI_AGENT_STATE_CONTROL_ONLY"), None);
    // Families of a table.
    assert_eq!(short(&values::EVENT_CAUSE, "CEC_TRANSFER"), Some("TRANSFER"));
    assert_eq!(short(&values::EVENT_CAUSE, "CECX_BUSY"), Some("BUSY"));
    assert_eq!(short(&values::CALL_TYPE, "CALLTYPE_ACD_IN"), Some("ACD_IN"));
    assert_eq!(short(&values::CALL_TYPE, "NULL_CALLTYPE"), None, "a family of one");
    assert_eq!(short(&values::SKILL_GROUP, "NULL_SKILL_GROUP"), None, "a table of one");
    assert_eq!(short(&values::DIRECTION, "in"), None, "no prefix");
    let ok = |e: &str| Filter::compile(e).unwrap_or_else(|e| panic!("{e}"));
    ok("EventCause == TRANSFER || EventCause == CEC_BUSY || EventCause == CECX_BUSY");
    ok("Status == NO_ERROR || Status == E_INVALID_CONFIG_MSG_MASK");
    assert_eq!(
        error("EventCause == BUSY"),
        (15, "'BUSY' at column 15 is short for several values of EventCause (CEC_BUSY, CECX_BUSY): write the full name".to_string())
    );
    assert_eq!(
        error("ServicesRequested & AGENT_STATE_CONTROL_ONLY").1,
        "unknown value 'AGENT_STATE_CONTROL_ONLY' for ServicesRequested at column 21; did you mean 'CTI_AGENT_STATE_CONTROL_ONLY'?"
    );
}

/// Every dictionary field compiles alone, with `==` on a value its layouts can hold, and
/// every value name of its tables compiles.
#[test]
fn every_field_and_value_name_compiles() {
    for (name, id) in crate::cti::spec::fields::BY_NAME {
        let f = Filter::compile(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.fields().collect::<Vec<_>>(), [*id]);
        let p = compile::profile(*id);
        for t in &p.tables {
            for (_, v) in t.entries {
                let expr = format!("{name} == \"{v}\"");
                Filter::compile(&expr).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        if p.numeric {
            Filter::compile(&format!("{name} == 0 || {name} < 5")).unwrap_or_else(|e| panic!("{e}"));
        }
        if p.text {
            Filter::compile(&format!("{name} == \"x\" || {name} contains \"x\""))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn long_chains_and_deep_nesting() {
    let m = open_req();
    // A long chain is one list of terms: no recursion per term when matching.
    let chain = vec!["InvokeID == 1"; 5000].join(" && ");
    assert!(m.is(&chain));
    let chain = vec!["ANI"; 5000].join(" or ") + " or AgentID";
    assert!(m.is(&chain));
    let deep = format!("{}InvokeID{}", "(".repeat(compile::MAX_NESTING), ")".repeat(compile::MAX_NESTING));
    assert!(m.is(&deep));
    let nots = format!("{}InvokeID", "!".repeat(compile::MAX_NESTING));
    assert!(m.is(&nots));
    // Parentheses closed do not count against the limit.
    let siblings = vec!["((InvokeID))"; 500].join(" && ");
    assert!(m.is(&siblings));
    let too_deep = format!("{}InvokeID{}", "(".repeat(101), ")".repeat(101));
    assert_eq!(
        error(&too_deep),
        (
            101,
            "'(' at column 101 is nested too deeply: at most 100 parentheses and negations inside each other"
                .to_string()
        )
    );
    let too_many_nots = format!("{}InvokeID", "!".repeat(101));
    assert_eq!(error(&too_many_nots).0, 101);
}

/// The engine's edges pinned value by value.
mod pinned;
