//! Every anomaly code of the decoder, each triggered by a frame built for it: the code, the
//! field it names and its byte offset in the frame (header included). Decoding is lenient:
//! the fields after a bad one are still decoded.

mod common;

use common::messages::{base, config_agents, named_value};
use ctiscope::cti::decode::{
    decode, Decoded, Part, Value, VersionSource, ANOMALY_CODES, MAX_ANOMALIES_PER_MESSAGE, NAMED_DATA_BUDGET,
};
use ctiscope::cti::encode::MessageBuilder;
use ctiscope::cti::framing::{GUIDE_MAX_MESSAGE_OLD, GUIDE_MAX_MESSAGE_V24, HEADER_LEN};
use ctiscope::cti::spec::{self, ValueKind};

/// The codes the tests of this file trigger, one test each (checked against ANOMALY_CODES).
const EXERCISED: &[&str] = &[
    "fixed_part_short",
    "trailing_bytes",
    "floating_header_truncated",
    "floating_past_end",
    "unknown_tag",
    "tag_not_allowed",
    "duplicate_field",
    "required_missing",
    "value_too_long",
    "bad_field_length",
    "string_without_nul",
    "bad_named_variable",
    "count_mismatch",
    "count_over_max",
    "named_data_too_much",
    "message_too_large",
    "unknown_enum_value",
    "unknown_mask_bits",
    "unknown_message_type",
    "layout_unknown",
    "too_many_anomalies",
];

/// A floating tag no source defines.
const UNDEFINED_TAG: u16 = 54;

fn d24(frame: &[u8]) -> Decoded {
    decode(frame, 24, VersionSource::Forced)
}

/// (code, field, offset) of each anomaly.
fn anomalies(d: &Decoded) -> Vec<(&'static str, Option<&'static str>, u32)> {
    d.anomalies.iter().map(|a| (a.code, a.field, a.offset)).collect()
}

/// Asserts the message has exactly these anomalies.
fn assert_anomalies(d: &Decoded, want: &[(&str, Option<&str>, usize)]) {
    let got = anomalies(d);
    let want: Vec<_> = want.iter().map(|&(c, f, o)| (c, f, o as u32)).collect();
    assert_eq!(got, want, "{:#?}", d.anomalies);
    assert_eq!(d.anomalies_dropped, 0);
}

/// The frame with `tail` appended, MessageLength updated.
fn with_tail(mut frame: Vec<u8>, tail: &[u8]) -> Vec<u8> {
    frame.extend_from_slice(tail);
    let body = (frame.len() - HEADER_LEN) as u32;
    frame[..4].copy_from_slice(&body.to_be_bytes());
    frame
}

fn floating(d: &Decoded) -> Vec<&'static str> {
    d.fields.iter().filter(|f| f.part() == Part::Floating).map(|f| f.name()).collect()
}

fn fixed_offset(name: &str, field: &str, version: u32) -> usize {
    let spec = spec::message_by_name(name).unwrap();
    HEADER_LEN
        + spec::fixed_layout(spec, version)
            .take_while(|f| f.name != field)
            .map(|f| usize::from(f.size))
            .sum::<usize>()
}

#[test]
fn every_code_is_exercised() {
    for (code, _) in ANOMALY_CODES {
        assert!(EXERCISED.contains(code), "no test triggers {code}");
    }
    for code in EXERCISED {
        assert!(ANOMALY_CODES.iter().any(|(c, _)| c == code), "{code} is not a listed code");
    }
    assert_eq!(EXERCISED.len(), ANOMALY_CODES.len());
}

#[test]
fn base_messages_are_clean() {
    for name in [
        "OPEN_REQ",
        "AGENT_STATE_EVENT",
        "CALL_CONFERENCED_EVENT",
        "SET_CALL_DATA_REQ",
        "HEARTBEAT_REQ",
        "CONFIG_AGENT_EVENT",
    ] {
        for version in [15, 24] {
            let frame = base(name, version).build();
            let d = decode(&frame, version, VersionSource::Forced);
            assert_anomalies(&d, &[]);
        }
    }
}

#[test]
fn fixed_part_short() {
    // AGENT_STATE_EVENT cut in its third field, SessionID (body offset 8).
    let full = base("AGENT_STATE_EVENT", 24).build();
    let frame = with_tail(full[..HEADER_LEN + 10].to_vec(), &[]);
    let d = d24(&frame);
    assert_anomalies(&d, &[("fixed_part_short", Some("SessionID"), 16)]);
    // The fields before it are decoded, the two bytes of SessionID kept raw.
    let names: Vec<_> = d.fields.iter().map(|f| f.name()).collect();
    assert_eq!(names, ["MonitorID", "PeripheralID", "SessionID"]);
    assert!(matches!(d.fields[2].value, Value::Raw { start: 16, len: 2 }));

    // A frame without a complete header.
    let d = d24(&[0, 0, 0]);
    assert_anomalies(&d, &[("fixed_part_short", None, 0)]);
}

#[test]
fn trailing_bytes() {
    let frame = with_tail(base("HEARTBEAT_REQ", 24).build(), &[0xAB, 0xCD]);
    let d = d24(&frame);
    assert_anomalies(&d, &[("trailing_bytes", None, 12)]);
    assert_eq!(d.number("InvokeID"), Some(0));
    let t = d.field("TrailingBytes").unwrap();
    assert_eq!((t.offset, t.len), (12, 2));
}

#[test]
fn floating_header_truncated() {
    // 2-byte headers: 3 bytes cannot hold a tag and a length.
    let ok = base("OPEN_REQ", 24).build();
    let at = ok.len();
    let d = d24(&with_tail(ok, &[0, 5, 0]));
    assert_anomalies(&d, &[("floating_header_truncated", None, at)]);
    assert_eq!(floating(&d), ["ClientID", "ClientPassword", "TruncatedField"]);

    // 1-byte headers: one byte left.
    let ok = base("OPEN_REQ", 15).build();
    let at = ok.len();
    let d = decode(&with_tail(ok, &[5]), 15, VersionSource::Forced);
    assert_anomalies(&d, &[("floating_header_truncated", None, at)]);
}

#[test]
fn floating_past_end() {
    // ClientPassword (UNSPEC) declares 10 bytes, 4 follow.
    let mut b = MessageBuilder::named("OPEN_REQ", 24);
    b.text("ClientID", "me").unwrap();
    let at = b.build().len();
    let frame = with_tail(b.build(), &[0, 2, 0, 10, 1, 2, 3, 4]);
    let d = d24(&frame);
    assert_anomalies(&d, &[("floating_past_end", Some("ClientPassword"), at)]);
    let f = d.field("ClientPassword").unwrap();
    assert_eq!((f.data_offset() as usize, f.data_len()), (at + 4, 4));
}

#[test]
fn unknown_tag() {
    assert!(spec::tag(UNDEFINED_TAG).is_none());
    let mut b = base("OPEN_REQ", 24);
    let at = b.build().len();
    b.raw(UNDEFINED_TAG, b"??").unwrap();
    b.text("AgentID", "1001").unwrap();
    let frame = b.build();
    let d = d24(&frame);
    assert_anomalies(&d, &[("unknown_tag", None, at)]);
    // Kept raw, and the field after it is decoded.
    assert_eq!(floating(&d), ["ClientID", "ClientPassword", "UnknownTag", "AgentID"]);
    assert_eq!(d.text(&frame, "AgentID").as_deref(), Some("1001"));
}

#[test]
fn tag_not_allowed() {
    // ANI (tag 8) is a known tag that OPEN_REQ does not carry.
    let ani = spec::tag(8).unwrap().name;
    let mut b = base("OPEN_REQ", 24);
    let at = b.build().len();
    b.raw(8, b"5551234\0").unwrap();
    b.text("AgentID", "1001").unwrap();
    let frame = b.build();
    let d = d24(&frame);
    assert_anomalies(&d, &[("tag_not_allowed", Some(ani), at)]);
    // Decoded with the tag's own type, and the field after it too.
    assert_eq!(d.text(&frame, ani).as_deref(), Some("5551234"));
    assert_eq!(d.text(&frame, "AgentID").as_deref(), Some("1001"));
}

#[test]
fn duplicate_field() {
    let mut b = base("OPEN_REQ", 24);
    let at = b.build().len();
    b.text("ClientID", "again").unwrap();
    let d = d24(&b.build());
    assert_anomalies(&d, &[("duplicate_field", Some("ClientID"), at)]);
    // List members may repeat.
    let mut b = base("SET_CALL_DATA_REQ", 24);
    b.set("NumNamedVariables", 2).unwrap();
    b.named_var("a", "1").unwrap().named_var("b", "2").unwrap();
    assert_anomalies(&d24(&b.build()), &[]);
}

#[test]
fn required_missing() {
    // OPEN_REQ without ClientID: reported at the start of the floating part.
    let floating_start = HEADER_LEN + 44;
    let mut b = MessageBuilder::named("OPEN_REQ", 24);
    b.bytes("ClientPassword", &[]).unwrap();
    let d = d24(&b.build());
    assert_anomalies(&d, &[("required_missing", Some("ClientID"), floating_start)]);

    // Without any floating part both required fields are missing.
    let d = d24(&MessageBuilder::named("OPEN_REQ", 24).build());
    assert_anomalies(
        &d,
        &[
            ("required_missing", Some("ClientID"), floating_start),
            ("required_missing", Some("ClientPassword"), floating_start),
        ],
    );
}

#[test]
fn value_too_long() {
    // AgentID holds 12 bytes with its NUL; 20 characters are 21.
    let mut b = base("OPEN_REQ", 24);
    let at = b.build().len();
    let long = "A".repeat(20);
    b.text("AgentID", &long).unwrap();
    b.text("AgentInstrument", "3001").unwrap();
    let frame = b.build();
    let d = d24(&frame);
    assert_anomalies(&d, &[("value_too_long", Some("AgentID"), at)]);
    // The value is still decoded, and what follows.
    assert_eq!(d.text(&frame, "AgentID").as_deref(), Some(long.as_str()));
    assert_eq!(d.text(&frame, "AgentInstrument").as_deref(), Some("3001"));
}

#[test]
fn bad_field_length() {
    // Duration (tag 150) is a UINT: 3 bytes.
    let mut b = base("AGENT_STATE_EVENT", 24);
    let at = b.build().len();
    b.raw(150, &[0, 0, 9]).unwrap();
    b.text("AgentInstrument", "3001").unwrap();
    let frame = b.build();
    let d = d24(&frame);
    assert_anomalies(&d, &[("bad_field_length", Some("Duration"), at)]);
    let f = d.field("Duration").unwrap();
    assert_eq!(f.value, Value::Raw { start: (at + 4) as u32, len: 3 });
    assert_eq!(d.text(&frame, "AgentInstrument").as_deref(), Some("3001"));
}

#[test]
fn string_without_nul() {
    let mut b = base("OPEN_REQ", 24);
    let at = b.build().len();
    b.raw(5, b"1001").unwrap();
    let empty_at = b.build().len();
    b.raw(4, b"").unwrap();
    b.text("AgentInstrument", "3001").unwrap();
    let frame = b.build();
    let d = d24(&frame);
    assert_anomalies(
        &d,
        &[
            ("string_without_nul", Some("AgentID"), at),
            ("string_without_nul", Some("AgentExtension"), empty_at),
        ],
    );
    // The text is kept whole, and the fields after it decoded.
    assert_eq!(d.text(&frame, "AgentID").as_deref(), Some("1001"));
    assert_eq!(d.text(&frame, "AgentExtension").as_deref(), Some(""));
    assert_eq!(d.text(&frame, "AgentInstrument").as_deref(), Some("3001"));
}

#[test]
fn bad_named_variable() {
    let mut b = base("SET_CALL_DATA_REQ", 24);
    b.set("NumNamedVariables", 1).unwrap();
    b.set("NumNamedArrays", 1).unwrap();
    let var_at = b.build().len();
    // The value has no NUL.
    b.raw(82, b"user.x\0value").unwrap();
    let arr_at = b.build().len();
    // An index and nothing else.
    b.raw(83, &[1]).unwrap();
    b.text("CallVariable1", "cv1").unwrap();
    let frame = b.build();
    let d = d24(&frame);
    assert_anomalies(
        &d,
        &[
            ("bad_named_variable", Some("NamedVariable"), var_at),
            ("bad_named_variable", Some("NamedArray"), arr_at),
        ],
    );
    assert!(matches!(d.field("NamedVariable").unwrap().value, Value::Raw { len: 12, .. }));
    assert_eq!(d.text(&frame, "CallVariable1").as_deref(), Some("cv1"));
}

/// CALL_CONFERENCED_EVENT with `declared` in NumParties and `present` parties.
fn parties(declared: u64, present: u16) -> Vec<u8> {
    let mut b = base("CALL_CONFERENCED_EVENT", 24);
    b.set("NumParties", declared).unwrap();
    let device_type = named_value(spec::value_table("DeviceIDType").unwrap(), 2);
    for i in 0..present {
        b.number("ConnectedPartyCallID", 100 + u64::from(i))
            .unwrap()
            .number("ConnectedPartyDeviceIDType", device_type)
            .unwrap()
            .text("ConnectedPartyDeviceID", &format!("{}", 3000 + i))
            .unwrap();
    }
    b.build()
}

#[test]
fn count_mismatch() {
    let at = fixed_offset("CALL_CONFERENCED_EVENT", "NumParties", 24);
    let d = d24(&parties(2, 1));
    assert_anomalies(&d, &[("count_mismatch", Some("NumParties"), at)]);
    assert_anomalies(&d24(&parties(2, 2)), &[]);
    // The present party is decoded.
    assert_eq!(d.field("ConnectedPartyCallID").unwrap().group(), Some(("ConnectedParty", 0)));
}

#[test]
fn count_over_max() {
    // NumParties is at most 16; 17 parties are all present.
    let at = fixed_offset("CALL_CONFERENCED_EVENT", "NumParties", 24);
    let d = d24(&parties(17, 17));
    assert_anomalies(&d, &[("count_over_max", Some("NumParties"), at)]);
    let last = d.fields.last().unwrap();
    assert_eq!(last.group(), Some(("ConnectedParty", 16)));
    assert_anomalies(&d24(&parties(16, 16)), &[]);
}

#[test]
fn named_data_too_much() {
    // Nine NAMEDVARs of 240 bytes each: 2160 bytes, over the 2000-byte budget.
    let mut b = base("SET_CALL_DATA_REQ", 24);
    let start = HEADER_LEN + 30;
    b.set("NumNamedVariables", 9).unwrap();
    let value = "v".repeat(240 - 2 - 6);
    for i in 0..9 {
        b.named_var(&format!("user.{i}"), &value).unwrap();
    }
    let d = d24(&b.build());
    let total: u32 = d.fields.iter().filter(|f| f.name() == "NamedVariable").map(|f| f.data_len()).sum();
    assert_eq!(total, 9 * 240);
    assert!(total as usize > NAMED_DATA_BUDGET);
    assert_anomalies(&d, &[("named_data_too_much", Some("NamedVariable"), start)]);
    // Eight are within it.
    let mut b = base("SET_CALL_DATA_REQ", 24);
    b.set("NumNamedVariables", 8).unwrap();
    for i in 0..8 {
        b.named_var(&format!("user.{i}"), &value).unwrap();
    }
    assert_anomalies(&d24(&b.build()), &[]);
}

#[test]
fn message_too_large() {
    for (version, limit) in [(24, GUIDE_MAX_MESSAGE_V24 as usize), (15, GUIDE_MAX_MESSAGE_OLD as usize)] {
        // The fewest records (at most 10, NumRecords' maximum) that exceed the limit.
        let n = (1..=10)
            .find(|&n| config_agents(version, n, 0).len() > limit)
            .expect("ten records exceed the limit");
        assert!(n > 1);
        let frame = config_agents(version, n, 0);
        let d = decode(&frame, version, VersionSource::Forced);
        assert_anomalies(&d, &[("message_too_large", None, 0)]);
        // Every record is still decoded.
        let records = d.fields.iter().filter(|f| f.name() == "RecordType").count();
        assert_eq!(records, usize::from(n));
        // One record less is within the limit.
        let frame = config_agents(version, n - 1, 0);
        assert!(frame.len() <= limit);
        assert_anomalies(&decode(&frame, version, VersionSource::Forced), &[]);
    }
    // A message within the PV24 limit but above the older one.
    let frame = config_agents(24, 3, 0);
    assert!((GUIDE_MAX_MESSAGE_OLD as usize..=GUIDE_MAX_MESSAGE_V24 as usize).contains(&frame.len()));
    assert_anomalies(&d24(&frame), &[]);
}

#[test]
fn unknown_enum_value() {
    let mut b = base("AGENT_STATE_EVENT", 24);
    b.set("AgentState", 99).unwrap();
    b.text("AgentInstrument", "3001").unwrap();
    let frame = b.build();
    let d = d24(&frame);
    let at = fixed_offset("AGENT_STATE_EVENT", "AgentState", 24);
    assert_eq!(at, HEADER_LEN + 30);
    assert_anomalies(&d, &[("unknown_enum_value", Some("AgentState"), at)]);
    assert_eq!(d.number("AgentState"), Some(99));
    assert_eq!(d.text(&frame, "AgentInstrument").as_deref(), Some("3001"));

    // In a floating field too: NextAgentState (tag 123) holds AgentState values.
    let mut b = base("AGENT_STATE_EVENT", 24);
    let at = b.build().len();
    b.number("NextAgentState", 99).unwrap();
    let d = d24(&b.build());
    assert_anomalies(&d, &[("unknown_enum_value", Some("NextAgentState"), at)]);
}

#[test]
fn unknown_mask_bits() {
    let table = spec::value_table("ServiceMask").unwrap();
    assert_eq!(table.kind, ValueKind::Mask);
    let known = table.entries.iter().fold(0u32, |a, e| a | e.0);
    let bit = (0..32).map(|i| 1u32 << i).find(|b| known & b == 0).expect("an unnamed bit");
    let mut b = base("OPEN_REQ", 24);
    b.set("ServicesRequested", u64::from(bit | 0x10)).unwrap();
    let d = d24(&b.build());
    let at = fixed_offset("OPEN_REQ", "ServicesRequested", 24);
    assert_eq!(at, HEADER_LEN + 16);
    assert_anomalies(&d, &[("unknown_mask_bits", Some("ServicesRequested"), at)]);
}

#[test]
fn unknown_message_type() {
    for ty in [0u32, 0xFFFF_FFFF] {
        assert!(spec::type_info(ty).is_none());
        let mut frame = vec![0, 0, 0, 0];
        frame.extend_from_slice(&ty.to_be_bytes());
        let d = d24(&frame);
        assert_anomalies(&d, &[("unknown_message_type", None, 4)]);
        assert!(d.fields.is_empty());
        // A body is kept raw.
        let d = d24(&with_tail(frame, &[1, 2, 3, 4]));
        assert_anomalies(&d, &[("unknown_message_type", None, 4)]);
        assert_eq!(d.fields[0].name(), "Body");
        assert!(matches!(d.fields[0].value, Value::Raw { start: 8, len: 4 }));
    }
}

#[test]
fn layout_unknown() {
    // 151 is an ARM message type that has a name but no documented body.
    assert!(spec::type_info(151).is_some());
    assert!(spec::message(151, Some(24)).is_none());
    let mut frame = vec![0, 0, 0, 0];
    frame.extend_from_slice(&151u32.to_be_bytes());
    let d = d24(&with_tail(frame, &[9; 6]));
    assert_anomalies(&d, &[("layout_unknown", None, 8)]);
    assert_eq!(d.type_name(), spec::type_name(151));
    assert!(matches!(d.fields[0].value, Value::Raw { start: 8, len: 6 }));
}

#[test]
fn too_many_anomalies() {
    // 100 unknown tags: 63 are kept, then the marker; the other 37 are counted.
    let mut b = base("OPEN_REQ", 24);
    let first = b.build().len();
    for _ in 0..100 {
        b.raw(UNDEFINED_TAG, &[]).unwrap();
    }
    let d = d24(&b.build());
    assert_eq!(d.anomalies.len(), MAX_ANOMALIES_PER_MESSAGE);
    assert_eq!(d.anomalies_dropped, 37);
    let kept = MAX_ANOMALIES_PER_MESSAGE - 1;
    for (i, a) in d.anomalies[..kept].iter().enumerate() {
        assert_eq!((a.code, a.offset as usize), ("unknown_tag", first + 4 * i));
    }
    let last = &d.anomalies[kept];
    assert_eq!((last.code, last.field, last.offset as usize), ("too_many_anomalies", None, first + 4 * kept));
    // Every field is still decoded.
    assert_eq!(floating(&d).len(), 102);

    // 63 anomalies fit without the marker.
    let mut b = base("OPEN_REQ", 24);
    for _ in 0..kept {
        b.raw(UNDEFINED_TAG, &[]).unwrap();
    }
    let d = d24(&b.build());
    assert_eq!(d.anomalies.len(), kept);
    assert!(d.anomalies.iter().all(|a| a.code == "unknown_tag"));
    assert_eq!(d.anomalies_dropped, 0);
}

#[test]
fn one_bad_field_does_not_hide_the_others() {
    // Several bad fields in one message, each reported, every field decoded.
    let mut b = base("OPEN_REQ", 15);
    b.set("VersionNumber", 15).unwrap();
    let bad_id = b.build().len();
    b.raw(5, b"1001").unwrap(); // no NUL
    let unknown = b.build().len();
    b.raw(UNDEFINED_TAG, &[1, 2]).unwrap();
    let bad_path = b.build().len();
    b.raw(97, &[0, 1]).unwrap(); // an INT of 2 bytes
    b.text("AgentInstrument", "3001").unwrap();
    let frame = b.build();
    let d = decode(&frame, 15, VersionSource::Forced);
    assert_anomalies(
        &d,
        &[
            ("string_without_nul", Some("AgentID"), bad_id),
            ("unknown_tag", None, unknown),
            ("bad_field_length", Some("ApplicationPathID"), bad_path),
        ],
    );
    assert_eq!(
        floating(&d),
        ["ClientID", "ClientPassword", "AgentID", "UnknownTag", "ApplicationPathID", "AgentInstrument"]
    );
    assert_eq!(d.number("VersionNumber"), Some(15));
    assert_eq!(d.text(&frame, "AgentInstrument").as_deref(), Some("3001"));
}
