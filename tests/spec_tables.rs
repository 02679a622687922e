//! The message, tag and value tables checked against the spec files they are generated
//! from (`spec/` of the repository) and against their own invariants.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use ctiscope::cti::spec::{
    self, fixed_layout, fixed_size, message, message_by_name, messages, tag, tags, value_table, value_tables,
    MessageSpec, Origin, Presence, Role, ValueKind, WireType,
};
use serde_json::Value;

fn spec_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("spec");
    assert!(dir.join("messages.jsonl").is_file(), "spec files not found in {}", dir.display());
    dir
}

fn jsonl() -> Vec<Value> {
    let text = std::fs::read_to_string(spec_dir().join("messages.jsonl")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("messages.jsonl line parses"))
        .collect()
}

fn by_name(name: &str) -> &'static MessageSpec {
    message_by_name(name).unwrap_or_else(|| panic!("no message {name}"))
}

#[test]
fn ids_and_names_unique_and_sorted() {
    let all = messages();
    assert_eq!(all.len(), 163);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "sorted by id, ids unique");
    let names: HashSet<_> = all.iter().map(|m| m.name).collect();
    assert_eq!(names.len(), all.len());
    for m in all {
        assert_eq!(message(m.id.0, None).map(|x| x.name), Some(m.name));
        assert_eq!(message_by_name(m.name).map(|x| x.id), Some(m.id));
        assert_eq!(message_by_name(&m.name.to_ascii_lowercase()).map(|x| x.id), Some(m.id));
    }
}

/// Requests answered by something other than a Confirm from the other side.
const CONFIRM_EXCEPTIONS: &[&str] = &[
    // Recording requests go either way (client -> server and server -> recording client).
    "START_RECORDING_REQ",
    "STOP_RECORDING_REQ",
    // Configuration requests are answered by events: CONFIG_KEY_EVENT, and the
    // CONFIG_BEGIN_EVENT ... CONFIG_END_EVENT block.
    "CONFIG_REQUEST_KEY_EVENT",
    "CONFIG_REQUEST_EVENT",
];

#[test]
fn confirms_exist_and_answer_from_the_other_side() {
    for m in messages() {
        if m.role != Role::Request {
            assert!(m.confirm.is_none(), "{} is not a request", m.name);
            continue;
        }
        let c = m.confirm.unwrap_or_else(|| panic!("request {} has no confirm", m.name));
        let c = message(c.0, None).unwrap_or_else(|| panic!("{}: confirm {} missing", m.name, c.0));
        if CONFIRM_EXCEPTIONS.contains(&m.name) {
            continue;
        }
        assert_eq!(c.role, Role::Confirm, "{} -> {}", m.name, c.name);
        let other = match m.origin {
            Origin::Client => Origin::Server,
            Origin::Server => Origin::Client,
            Origin::Both => panic!("{} sent by both sides is not listed", m.name),
        };
        assert_eq!(c.origin, other, "{} -> {}", m.name, c.name);
    }
    // The exceptions are real: each is a request, and they answer as documented.
    for name in CONFIRM_EXCEPTIONS {
        assert_eq!(by_name(name).role, Role::Request);
    }
    assert_eq!(by_name("CONFIG_REQUEST_EVENT").confirm, Some(by_name("CONFIG_END_EVENT").id));
    assert_eq!(by_name("CONFIG_REQUEST_KEY_EVENT").confirm, Some(by_name("CONFIG_KEY_EVENT").id));
    // ACTIVE_MAINTENANCE_REQ_MSG is a server -> client request.
    let amr = by_name("ACTIVE_MAINTENANCE_REQ_MSG");
    assert_eq!((amr.role, amr.origin), (Role::Request, Origin::Server));
}

#[test]
fn fixed_sizes_are_type_sizes() {
    for m in messages() {
        for f in m.fixed {
            assert_eq!(f.ty.fixed_size(), Some(usize::from(f.size)), "{}.{}", m.name, f.name);
        }
    }
}

#[test]
fn fixed_sizes_match_messages_jsonl() {
    for j in jsonl() {
        let name = j["name"].as_str().unwrap();
        let m = by_name(name);
        match j["fixed_size"].as_u64() {
            Some(total) => assert_eq!(fixed_size(m, 25) + 8, total as usize, "{name}"),
            None => assert!(m.fixed.is_empty(), "{name}: body not documented"),
        }
    }
}

#[test]
fn every_jsonl_message_present_with_same_layout() {
    let lines = jsonl();
    assert_eq!(lines.len(), messages().len());
    for j in &lines {
        let name = j["name"].as_str().unwrap();
        let m = by_name(name);
        assert_eq!(u64::from(m.id.0), j["type"].as_u64().unwrap(), "{name}");
        let role = match m.role {
            Role::Request => "request",
            Role::Confirm => "confirm",
            Role::Event => "event",
        };
        assert_eq!(role, j["role"], "{name}");
        let origin = match m.origin {
            Origin::Client => "client->server",
            Origin::Server => "server->client",
            Origin::Both => "both",
        };
        assert_eq!(origin, j["direction"], "{name}");
        assert_eq!(m.service, j["service"], "{name}");
        assert_eq!(m.table.map(u64::from), j["table"].as_u64(), "{name}");
        match j.get("confirm").and_then(Value::as_str) {
            Some(c) => assert_eq!(m.confirm, Some(by_name(c).id), "{name}"),
            None => assert_eq!(m.confirm, None, "{name}"),
        }
        let fixed: Vec<&str> = j["fixed"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["type"] != "MHDR")
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        let ours: Vec<&str> = m.fixed.iter().map(|f| f.name).collect();
        assert_eq!(ours, fixed, "{name} fixed part");
        let floating = j["floating"].as_array().unwrap();
        assert_eq!(m.floating.len(), floating.len(), "{name} floating part");
        for (f, jf) in m.floating.iter().zip(floating) {
            let what = format!("{name}.{}", f.name);
            assert_eq!(f.name, jf["field"], "{what}");
            assert_eq!(f.tag.map(u64::from), jf["tag"].as_u64(), "{what}");
            assert_eq!(f.ty.name(), jf["type"], "{what}");
            match jf["max"].as_u64() {
                Some(max) => assert_eq!(u64::from(f.max), max, "{what}"),
                None => assert!(f.max_expr.is_some() && f.max_len().is_none(), "{what}"),
            }
            let presence = match f.presence {
                Presence::Required => "required",
                Presence::Optional => "optional",
                Presence::Conditional => "conditional",
            };
            assert_eq!(presence, jf["presence"], "{what}");
            assert_eq!(f.repeat, jf["repeat"].as_str(), "{what}");
            assert_eq!(f.group, jf["group"].as_str(), "{what}");
            assert_eq!(f.condition, jf.get("condition").and_then(Value::as_str), "{what}");
        }
    }
}

#[test]
fn floating_tags_exist_with_the_jsonl_name() {
    let mut untagged = Vec::new();
    for j in jsonl() {
        let name = j["name"].as_str().unwrap();
        let m = by_name(name);
        for (f, jf) in m.floating.iter().zip(j["floating"].as_array().unwrap()) {
            match f.tag {
                Some(n) => {
                    let t = tag(n).unwrap_or_else(|| panic!("{name}.{}: tag {n}", f.name));
                    assert_eq!(t.name, jf["tag_name"], "{name}.{}", f.name);
                }
                None => untagged.push(format!("{name}.{}", f.name)),
            }
        }
    }
    // messages-notes.md lists nine fields whose tag no source settles.
    assert_eq!(untagged.len(), 9, "{untagged:?}");
}

#[test]
fn repeats_name_existing_fields_and_groups_are_contiguous() {
    for m in messages() {
        let names: HashSet<&str> =
            m.fixed.iter().map(|f| f.name).chain(m.floating.iter().map(|f| f.name)).collect();
        let mut closed: HashSet<&str> = HashSet::new();
        let mut current: Option<&str> = None;
        for f in m.floating {
            if let Some(r) = f.repeat {
                assert!(names.contains(r), "{}.{} repeats {r}", m.name, f.name);
            }
            if f.group != current {
                if let Some(c) = current {
                    closed.insert(c);
                }
                if let Some(g) = f.group {
                    assert!(!closed.contains(g), "{}: group {g} split", m.name);
                }
                current = f.group;
            }
        }
    }
}

#[test]
fn value_tables_nonempty_unique_and_named() {
    let mut names = HashSet::new();
    for t in value_tables() {
        assert!(!t.entries.is_empty(), "{}", t.name);
        assert!(names.insert(t.name), "duplicate table {}", t.name);
        let values: HashSet<u32> = t.entries.iter().map(|e| e.0).collect();
        assert_eq!(values.len(), t.entries.len(), "{}: duplicate value", t.name);
        assert!(t.entries.windows(2).all(|w| w[0].0 < w[1].0), "{}: entries not sorted by value", t.name);
        // The precomputed fast-check field agrees with the entries.
        if t.kind == ValueKind::Mask {
            assert_eq!(t.fast, t.entries.iter().fold(0u64, |a, e| a | e.0 as u64), "{}", t.name);
        } else {
            for v in 0..64u32 {
                assert_eq!(t.knows(v), t.name_of(v).is_some(), "{} {v}", t.name);
            }
        }
        assert!(t.entries.iter().all(|e| !e.1.is_empty()), "{}", t.name);
        if t.kind == ValueKind::Mask {
            assert!(t.entries.iter().all(|e| e.0 != 0), "{}: a mask bit of 0", t.name);
        }
        assert!(value_table(t.name).is_some());
    }
}

/// spec/value_tables.tsv and spec/values.tsv, row for row, are the generated value tables:
/// same tables in the same order, same kinds, sources and notes, same values and names.
#[test]
fn value_tables_match_values_tsv() {
    let dir = spec_dir();
    let tables = std::fs::read_to_string(dir.join("value_tables.tsv")).unwrap();
    let listed: Vec<Vec<&str>> = tables.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    assert_eq!(listed.len(), value_tables().len(), "one row per table");
    for (row, t) in listed.iter().zip(value_tables()) {
        let kind = match t.kind {
            ValueKind::Enum => "Enum",
            ValueKind::Mask => "Mask",
            ValueKind::Special => "Special",
        };
        assert_eq!([row[0], row[1], row[2]], [t.name, kind, t.source], "{}", t.name);
        assert_eq!(t.note, Some(row[3]).filter(|n| !n.is_empty()), "{}", t.name);
    }
    let values = std::fs::read_to_string(dir.join("values.tsv")).unwrap();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for line in values.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (table, value, name) = (cols[0], cols[1], cols[2]);
        let value = match value.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
            None => value.parse().unwrap(),
        };
        let t = value_table(table).unwrap_or_else(|| panic!("table {table} missing"));
        assert_eq!(t.name_of(value), Some(name), "{table} {value}");
        *count.entry(table).or_default() += 1;
    }
    for t in value_tables() {
        assert_eq!(
            count.get(t.name).copied(),
            Some(t.entries.len()),
            "{}: entries not all in values.tsv",
            t.name
        );
    }
    assert!(count.values().sum::<usize>() > 800);
}

#[test]
fn every_named_tag_of_tags_tsv_is_present() {
    let text = std::fs::read_to_string(spec_dir().join("tags.tsv")).unwrap();
    let mut count = 0;
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let n: u16 = cols[0].parse().unwrap();
        let name = cols[1];
        if name.starts_with('(') {
            assert!(tag(n).is_none(), "placeholder tag {n} present");
            continue;
        }
        count += 1;
        let t = tag(n).unwrap_or_else(|| panic!("tag {n} {name} missing"));
        assert_eq!((t.tag, t.name), (n, name));
        let ty = if cols[2].is_empty() { "UNSPEC" } else { cols[2] };
        assert_eq!(t.ty.name(), ty, "tag {n}");
        assert_eq!(t.max, cols[3].parse().ok(), "tag {n}");
    }
    assert_eq!(tags().len(), count);
    assert!(tags().windows(2).all(|w| w[0].tag < w[1].tag));
    assert!(tag(0).is_none() && tag(u16::MAX).is_none());
}

#[test]
fn open_conf_fixed_part_by_version() {
    let m = by_name("OPEN_CONF");
    assert_eq!(fixed_size(m, 14), 26);
    assert_eq!(fixed_size(m, 18), 26);
    assert_eq!(fixed_size(m, 19), 30);
    assert_eq!(fixed_size(m, 20), 30);
    assert_eq!(fixed_size(m, 24), 32);
    assert_eq!(fixed_size(m, 25), 32);
    let last: Vec<&str> = fixed_layout(m, 20).map(|f| f.name).collect();
    assert_eq!(last.last(), Some(&"DepartmentID"));
}

// ---- Decisions where the sources disagree -------------------------------------------

/// DepartmentID appeared in PV19 (session.md section 8) as the last fixed field.
#[test]
fn department_id_is_gated_at_pv19() {
    for name in ["AGENT_STATE_EVENT", "AGENT_TEAM_CONFIG_EVENT", "QUERY_AGENT_STATE_CONF"] {
        let m = by_name(name);
        let last = m.fixed.last().unwrap();
        assert_eq!((last.name, last.since), ("DepartmentID", 19), "{name}");
        assert!(m.fixed[..m.fixed.len() - 1].iter().all(|f| f.since == 0));
        assert_eq!(fixed_size(m, 18) + 4, fixed_size(m, 19), "{name}");
    }
    // Only trailing fields are gated (OPEN_CONF's PV5/PV6 fields predate PV14).
    for m in messages() {
        let gated = m.fixed.iter().position(|f| f.since > 14);
        if let Some(i) = gated {
            assert!(m.fixed[i..].iter().all(|f| f.since > 14), "{}", m.name);
        }
    }
}

/// Network recording messages: PV24 numbers 267-274, chapter (PV25) numbers 268-275.
#[test]
fn network_recording_numbering_by_version() {
    let name = |id, v| message(id, v).map(|m| m.name);
    assert_eq!(name(267, Some(24)), Some("START_NETWORK_RECORDING_REQ"));
    assert_eq!(name(267, None), None);
    assert_eq!(name(267, Some(25)), None);
    assert_eq!(name(268, None), Some("START_NETWORK_RECORDING_REQ"));
    assert_eq!(name(268, Some(24)), Some("START_NETWORK_RECORDING_CONF"));
    assert_eq!(name(271, Some(23)), Some("NETWORK_RECORDING_STARTED_EVENT"));
    assert_eq!(name(271, Some(25)), Some("STOP_NETWORK_RECORDING_CONF"));
    assert_eq!(name(274, Some(24)), Some("NETWORK_RECORDING_TARGET_INFO_EVENT"));
    assert_eq!(name(275, Some(24)), None);
    assert_eq!(name(275, None), Some("NETWORK_RECORDING_TARGET_INFO_EVENT"));
    // Other numbers do not depend on the version.
    assert_eq!(name(30, Some(13)), Some("AGENT_STATE_EVENT"));
    assert_eq!(name(276, Some(20)), Some("CONFIG_TERMINAL_EVENT"));
    // type_name knows 275 (PV25) and 283/284 (chapter only).
    assert_eq!(spec::type_name(275), Some("NETWORK_RECORDING_TARGET_INFO_EVENT"));
    assert_eq!(spec::type_name(283), Some("SET_AGENT_SERVICE_DATA_REQ"));
    assert_eq!(spec::type_name(284), Some("SET_AGENT_SERVICE_DATA_CONF"));
    assert_eq!(spec::type_info(283).unwrap().origin, Origin::Client);
}

/// Status code 2 carries its PV25 name; the old name is in the table's note.
#[test]
fn status_code_2_uses_the_pv25_name() {
    let t = value_table("StatusCode").unwrap();
    assert_eq!(t.name_of(2), Some("E_CTI_INVALID_MESSAGE_LENGTH"));
    assert!(t.note.unwrap().contains("E_CTI_INVALID_MESSAGE_TYPE"));
    assert_eq!(t.name_of(99), None);
    assert_eq!(t.name_of(110), Some("E_CTI_SERVER_IN_MAINTENANCE_MODE"));
    let fc = by_name("FAILURE_CONF");
    assert_eq!(fc.fixed[1].values.unwrap().name, "StatusCode");
}

/// CallType 27 follows HS/JAVA (RESERVATION_PREVIEW); NON_ACD is 38.
#[test]
fn call_type_27_and_38() {
    let t = value_table("CallType").unwrap();
    assert_eq!(t.name_of(27), Some("RESERVATION_PREVIEW"));
    assert_eq!(t.name_of(38), Some("CALLTYPE_NON_ACD"));
    assert_eq!(t.name_of(0xFFFF), Some("NULL_CALLTYPE"));
    assert_eq!(t.name_of(0), None);
}

/// FAILURE_CONF has the 8-byte body of session.md, not the 10-byte C24M table.
#[test]
fn failure_conf_body_is_eight_bytes() {
    let m = by_name("FAILURE_CONF");
    assert_eq!(fixed_size(m, 24), 8);
    assert_eq!(m.fixed[1].name, "Status");
}

/// CALL_ATTRIBUTE_CHANGE_EVENT.ConnectionDeviceIDType is printed "USHORT 4": kept at 2.
#[test]
fn call_attribute_change_connection_type_is_two_bytes() {
    let m = by_name("CALL_ATTRIBUTE_CHANGE_EVENT");
    assert_eq!(m.id, 240);
    let f = m.fixed.iter().find(|f| f.name == "ConnectionDeviceIDType").unwrap();
    assert_eq!((f.ty, f.size), (WireType::UShort, 2));
    assert!(f.note.unwrap().contains("USHORT 4"));
    assert_eq!(fixed_size(m, 25), 28 - 8);
}

/// Chapter types and maxima win over tags.tsv inside a message; the tag keeps tags.tsv's.
#[test]
fn chapter_types_win_over_tags_tsv() {
    let f = by_name("AGENT_STATE_EVENT").floating.iter().find(|f| f.name == "FltSkillGroupNumber").unwrap();
    assert_eq!(f.ty, WireType::Int);
    assert_eq!(tag(62).unwrap().ty, WireType::UInt);
    let g =
        by_name("AGENT_PRE_CALL_EVENT").floating.iter().find(|f| f.name == "ProtocolReferenceGUID").unwrap();
    assert_eq!(g.max, 40);
    assert_eq!(tag(294).unwrap().max, Some(64));
}

/// FltEnabledServices is one field of 2*NumOfEnabledServices bytes.
#[test]
fn enabled_services_length_formula() {
    let f = by_name("SNAPSHOT_CALL_CONF").floating.iter().find(|f| f.name == "FltEnabledServices").unwrap();
    assert_eq!(f.max_expr, Some("2*NumOfEnabledServices"));
    assert_eq!(f.max_len(), None);
    assert_eq!(f.values.unwrap().name_of(1), Some("Agent_Answers"));
}

/// Mask tables whose printed values are broken take the bit of their row.
#[test]
fn chapter_masks_take_row_bits() {
    let cc = value_table("CallControlMask").unwrap();
    assert_eq!(cc.entries.len(), 19);
    assert_eq!(cc.name_of(0x1000), Some("CONTROL_RECONNECT_CALL"));
    assert_eq!(cc.name_of(0x2000), Some("CONTROL_RETRIEVE_CALL"));
    assert_eq!(cc.name_of(0x40000), Some("CONTROL_SEND_DTMF_SIGNAL"));
    let of = value_table("OtherFeatureMask").unwrap();
    assert_eq!(of.name_of(1), Some("FEATURE_POST_ROUTE"));
    assert_eq!(of.name_of(2), Some("FEATURE_UNIQUE_CONSULT_CALLID"));
    let ds = value_table("DeskSettingsMask").unwrap();
    assert_eq!(ds.name_of(1 << 13), Some("DESK_AGENT_CAN_SELECT_GROUP_MASK"));
    let tc = value_table("TransferConferenceSetupMask").unwrap();
    assert_eq!(tc.name_of(0x80), Some("TRANS_SETUP_ANY_SINGLE_CALL"));
}

/// Recording value names come from the chapter text, not enums.md's descriptions.
#[test]
fn recording_values_use_chapter_names() {
    let t = value_table("RecordingType").unwrap();
    assert_eq!(t.name_of(2), Some("CALL_RECORDING_TYPE_PERSONNEL_SENT"));
    let m = by_name("NETWORK_RECORDING_TARGET_INFO_EVENT");
    let f = m.floating.iter().find(|f| f.name == "RecorderStatus").unwrap();
    assert_eq!(f.values.unwrap().name_of(1), Some("CALL_RECORDING_MEDIA_FORKING_RECORDER_STATUS_SUCCESS"));
}

/// AgentType is numbered differently by HS and UCCX: no value table.
#[test]
fn agent_type_has_no_value_table() {
    assert!(tag(189).unwrap().values.is_none());
    let m = by_name("CONFIG_AGENT_EVENT");
    let f = m.floating.iter().find(|f| f.name == "AgentType").unwrap();
    assert!(f.values.is_none());
}

/// EventCause includes the CECX causes; 1046 is printed 1056 in C25K.
#[test]
fn event_cause_includes_cecx() {
    let t = value_table("EventCause").unwrap();
    assert_eq!(t.name_of(1046), Some("CECX_APPL_INVALID_DIALOGUE_ID"));
    assert_eq!(t.name_of(1056), Some("CECX_NETWORK_CONFERENCE"));
    assert_eq!(t.name_of(0xFFFF), Some("CEC_NONE"));
}

// ---- Bindings ------------------------------------------------------------------------

#[test]
fn common_fields_read_as_names() {
    let ase = by_name("AGENT_STATE_EVENT");
    let field = |m: &MessageSpec, n: &str| {
        m.fixed.iter().find(|f| f.name == n).and_then(|f| f.values).map(|t| t.name)
    };
    assert_eq!(
        ase.fixed.iter().find(|f| f.name == "AgentState").unwrap().values.unwrap().name_of(3),
        Some("AGENT_STATE_AVAILABLE")
    );
    assert_eq!(field(ase, "SkillGroupState"), Some("AgentState"));
    assert_eq!(field(ase, "PeripheralType"), Some("PeripheralType"));
    let open = by_name("OPEN_REQ");
    assert_eq!(field(open, "ServicesRequested"), Some("ServiceMask"));
    assert_eq!(field(open, "CallMsgMask"), Some("CallMsgMask"));
    assert_eq!(field(open, "AgentStateMask"), Some("AgentStateMask"));
    assert_eq!(field(open, "ConfigMsgMask"), Some("ConfigMask"));
    assert_eq!(field(open, "IdleTimeout"), Some("IdleTimeout"));
    let rtp = by_name("RTP_STARTED_EVENT");
    assert_eq!(field(rtp, "Direction"), Some("RTPDirection"));
    let d = ase.floating.iter().find(|f| f.name == "Direction").unwrap();
    assert_eq!(d.values.unwrap().name, "Direction");
    let del = by_name("CALL_DELIVERED_EVENT");
    for (f, t) in [
        ("ConnectionDeviceIDType", "ConnectionDeviceIDType"),
        ("AlertingDeviceType", "DeviceIDType"),
        ("LocalConnectionState", "LocalConnectionState"),
        ("EventCause", "EventCause"),
        ("LineType", "LineType"),
        ("ConnectionCallID", "CallID"),
    ] {
        assert_eq!(field(del, f), Some(t), "{f}");
    }
    assert_eq!(field(by_name("CONTROL_FAILURE_CONF"), "FailureCode"), Some("ControlFailureCode"));
    assert_eq!(field(by_name("SYSTEM_EVENT"), "SystemEventID"), Some("SystemEventID"));
    assert_eq!(field(by_name("SYSTEM_EVENT"), "PGStatus"), Some("PGStatus"));
    assert_eq!(field(by_name("CLOSE_REQ"), "Status"), Some("StatusCode"));
    assert_eq!(field(by_name("END_CALL_EVENT"), "PeripheralType"), Some("PeripheralType"));
    assert_eq!(tag(65).unwrap().values.unwrap().name, "AgentState");
    assert_eq!(tag(57).unwrap().values.unwrap().name, "ConnectionDeviceIDType");
    assert_eq!(tag(71).unwrap().values.unwrap().name, "LineType");
    // A special "none" value reads as a name, any other value as the number.
    let callid = value_table("CallID").unwrap();
    assert_eq!(callid.kind, ValueKind::Special);
    assert_eq!(callid.name_of(0xFFFF_FFFF), Some("NULL_CALL_ID"));
}

#[test]
fn describe_shows_the_layout() {
    let text = spec::describe(by_name("AGENT_STATE_EVENT"));
    assert!(text.contains("AGENT_STATE_EVENT (MessageType 30)"), "{text}");
    assert!(text.contains("guide table: 18"), "{text}");
    assert!(text.contains("values: AgentState"), "{text}");
    assert!(text.contains("since PV19"), "{text}");
    assert!(text.contains("FltSkillGroupNumber"), "{text}");
    let open = spec::describe(by_name("OPEN_REQ"));
    assert!(open.contains("confirm: OPEN_CONF (4)"), "{open}");
    assert!(open.contains("tag not published"), "{open}");
    let rec = spec::describe(by_name("START_NETWORK_RECORDING_REQ"));
    assert!(rec.contains("MessageType 267 up to protocol version 24"), "{rec}");
    let mut offsets = HashMap::new();
    for line in spec::describe(by_name("CALL_DELIVERED_EVENT")).lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 4 && w[0].parse::<usize>().is_ok() {
            offsets.insert(w[1].to_string(), w[0].parse::<usize>().unwrap());
        }
    }
    assert_eq!(offsets["MonitorID"], 0);
    assert_eq!(offsets["PeripheralType"], 8);
}

/// spec/versions.tsv, the protocol's version history, agrees with what the decoder does at
/// each version: where a tag starts, which fixed fields a layout has, the floating-field
/// header size and the largest message.
#[test]
fn version_history_matches_the_decoder() {
    use ctiscope::cti::decode::{max_message_size, tag_since, tlv_width};
    let text = std::fs::read_to_string(spec_dir().join("versions.tsv")).unwrap();
    let mut checked = 0;
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (version, change, subject): (u32, &str, &str) = (cols[0].parse().unwrap(), cols[1], cols[2]);
        let range = |s: &str| -> std::ops::RangeInclusive<u16> {
            match s.split_once('-') {
                Some((a, b)) => a.parse().unwrap()..=b.parse().unwrap(),
                None => s.parse().unwrap()..=s.parse().unwrap(),
            }
        };
        match change {
            "release" => continue,
            "tag" => {
                for t in range(subject) {
                    assert_eq!(tag_since(t), version, "tag {t}");
                }
            }
            // A removed tag existed before (the decoder still accepts it: real clients send it).
            "tag_removed" => {
                for t in range(subject) {
                    assert!(tag(t).is_some_and(|s| tag_since(s.tag) < version), "tag {t}");
                }
            }
            "fixed_field" => {
                let (msg, field) = subject.split_once('.').unwrap();
                let m = by_name(msg);
                let has = |v: u32| fixed_layout(m, v).any(|f| f.name == field);
                assert!(has(version) && !has(version - 1), "{subject} from {version}");
            }
            "floating_header" => {
                assert_eq!((tlv_width(version - 1), tlv_width(version)), (1, subject.parse().unwrap()));
            }
            "max_message_size" => {
                assert_eq!(max_message_size(version), subject.parse::<usize>().unwrap(), "{version}");
            }
            other => panic!("unknown change kind {other} in versions.tsv"),
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked} rows checked");
}

/// The field dictionary: one id per name, every layout's fields carry the id of their name,
/// the name index finds every field.
#[test]
fn field_dictionary_is_complete_and_consistent() {
    use ctiscope::cti::spec::fields::{field, BY_NAME, FIELDS};
    use ctiscope::cti::spec::{field_id, FieldId};
    let names: HashSet<&str> = FIELDS.iter().map(|f| f.name).collect();
    assert_eq!(names.len(), FIELDS.len(), "a name twice in the dictionary");
    assert_eq!(BY_NAME.len(), FIELDS.len());
    assert!(BY_NAME.windows(2).all(|w| w[0].0 < w[1].0), "BY_NAME sorted");
    for (i, f) in FIELDS.iter().enumerate() {
        assert_eq!(field_id(f.name), Some(FieldId(i as u16)), "{}", f.name);
    }
    let mut used = HashSet::new();
    for m in messages() {
        for f in m.fixed {
            assert_eq!(f.id.name(), f.name, "{}.{}", m.name, f.name);
            used.insert(f.id);
        }
        for f in m.floating {
            assert_eq!(f.id.name(), f.name, "{}.{}", m.name, f.name);
            used.insert(f.id);
        }
    }
    assert_eq!(used.len(), FIELDS.len(), "a dictionary field no layout carries");
    assert_eq!(field::AgentID.name(), "AgentID");
    assert_eq!(field_id("AgentId"), None);
    assert_eq!(FieldId::NONE.name(), "");
    // A floating field's first version is its tag's.
    let ms = field::MaxBeyondTaskLimit.info().unwrap();
    assert_eq!(u32::from(ms.since), ctiscope::cti::decode::tag_since(266));
}

/// Message type constants name the layouts' numbers; unknown numbers stay representable.
#[test]
fn message_type_constants() {
    use ctiscope::cti::spec::MessageType;
    for (c, name) in [
        (MessageType::FAILURE_CONF, "FAILURE_CONF"),
        (MessageType::OPEN_REQ, "OPEN_REQ"),
        (MessageType::AGENT_STATE_EVENT, "AGENT_STATE_EVENT"),
        (MessageType::CONFIG_END_EVENT, "CONFIG_END_EVENT"),
        (MessageType::START_NETWORK_RECORDING_REQ, "START_NETWORK_RECORDING_REQ"),
    ] {
        assert_eq!(by_name(name).id, c, "{name}");
    }
    assert_eq!(MessageType::OPEN_REQ, 3u32);
    assert_eq!(MessageType(3).name(), Some("OPEN_REQ"));
    assert_eq!(MessageType(5888).name(), None);
    assert_eq!(by_name("OPEN_REQ").confirm, Some(MessageType::OPEN_CONF));
}

/// Count maxima: a message's own row before the general one; ids, not names.
#[test]
fn count_maxima_from_counts_tsv() {
    use ctiscope::cti::spec::fields::field;
    use ctiscope::cti::spec::{count_maximum, MessageType};
    assert_eq!(count_maximum(MessageType::SET_AGENT_STATE_REQ, field::NumSkillGroups), Some(10));
    assert_eq!(count_maximum(MessageType::AGENT_STATE_EVENT, field::NumSkillGroups), Some(20));
    assert_eq!(count_maximum(MessageType::AGENT_STATE_EVENT, field::NumFltSkillGroups), Some(99));
    assert_eq!(count_maximum(MessageType::AGENT_STATE_EVENT, field::AgentID), None);
    let text = std::fs::read_to_string(spec_dir().join("counts.tsv")).unwrap();
    assert_eq!(text.lines().count() - 1, ctiscope::cti::spec::counts::COUNT_MAXIMA.len());
}

/// The generated value constants are the tables' values.
#[test]
fn value_constants_are_the_table_values() {
    use ctiscope::cti::spec::values::{agent_state, config_end_status, service_mask};
    let t = value_table("AgentState").unwrap();
    assert_eq!(t.name_of(agent_state::AGENT_STATE_TALKING), Some("AGENT_STATE_TALKING"));
    assert_eq!(t.name_of(agent_state::AGENT_STATE_HOLD), Some("AGENT_STATE_HOLD"));
    let m = value_table("ServiceMask").unwrap();
    assert_eq!(
        m.name_of(service_mask::CTI_SERVICE_PERIPHERAL_MONITOR),
        Some("CTI_SERVICE_PERIPHERAL_MONITOR")
    );
    let c = value_table("ConfigEndStatus").unwrap();
    assert!(c.entries.iter().any(|e| e.0 == config_end_status::CONFIGEND_PARTIAL));
}

/// The summary rule of spec/README.md ("Summary fields") for one field of a layout:
/// (reading group, rank), or `None` when the field is never on a summary line.
fn summary_kind(m: &MessageSpec, name: &str, fixed: bool) -> Option<(u8, u8)> {
    let carries = |n: &str| m.fixed.iter().any(|f| f.name == n) || m.floating.iter().any(|f| f.name == n);
    const PARTIES: [&str; 6] =
        ["Calling", "Called", "Transferring", "Transferred", "Controller", "AddedParty"];
    const OUTCOMES: [&str; 9] = [
        "AgentState",
        "EventCause",
        "Status",
        "FailureCode",
        "SystemEventID",
        "ServicesGranted",
        "ConfigEndStatus",
        "ConfigkeyStatus",
        "RecordFailureCause",
    ];
    match name {
        n if n.ends_with("InvokeID") && !n.starts_with("Num") => Some((0, 0)),
        "VersionNumber" | "ClientID" => Some((1, 0)),
        "MonitorID" => Some((2, 5)),
        n if n.ends_with("CallID") && !n.starts_with("RouterCallKey") => Some((3, if fixed { 1 } else { 8 })),
        "ConnectionDeviceID" if carries("ConnectionCallID") => Some((3, 2)),
        "NewConnectionDeviceID" if carries("NewConnectionCallID") => Some((3, 2)),
        n if n.strip_suffix("DeviceID").is_some_and(|p| PARTIES.contains(&p)) => Some((4, 6)),
        "AgentID" | "AgentExtension" => Some((5, 3)),
        "AgentInstrument" => Some((5, 7)),
        n if OUTCOMES.contains(&n) => Some((6, 4)),
        _ => None,
    }
}

/// Every layout's summary list follows the rule: exactly the candidates when they fit, the
/// lowest ranks otherwise (never losing a request or call identifier), in reading order,
/// each a field the layout carries once (not a repeating floating field), never PeripheralID.
#[test]
fn summary_fields_follow_the_rule() {
    use ctiscope::cti::spec::SUMMARY_MAX;
    assert_eq!(SUMMARY_MAX, 6, "spec/README.md documents six");
    let mut capped = Vec::new();
    for m in messages() {
        let mut candidates: Vec<(&str, (u8, u8))> = Vec::new();
        let fixed = m.fixed.iter().map(|f| (f.name, true));
        let floating = m.floating.iter().filter(|f| f.repeat.is_none()).map(|f| (f.name, false));
        for (name, is_fixed) in fixed.chain(floating) {
            if let Some(k) = summary_kind(m, name, is_fixed) {
                candidates.push((name, k));
            }
        }
        let summary: Vec<&str> = m.summary.iter().map(|f| f.name()).collect();
        let unique: HashSet<&str> = summary.iter().copied().collect();
        assert_eq!(unique.len(), summary.len(), "{}: {summary:?}", m.name);
        assert!(summary.len() <= SUMMARY_MAX, "{}: {summary:?}", m.name);
        assert!(!summary.contains(&"PeripheralID"), "{}", m.name);
        for name in &summary {
            assert!(candidates.iter().any(|c| c.0 == *name), "{}: {name} is not a summary field", m.name);
        }
        // Every fixed call id (RouterCallKey* aside) and InvokeID is shown.
        for f in m.fixed {
            let call = f.name.ends_with("CallID") && !f.name.starts_with("RouterCallKey");
            if call || f.name == "InvokeID" {
                assert!(summary.contains(&f.name), "{}: {} missing from {summary:?}", m.name, f.name);
            }
        }
        if candidates.len() <= SUMMARY_MAX {
            assert_eq!(unique.len(), candidates.len(), "{}: {summary:?} vs {candidates:?}", m.name);
        } else {
            assert_eq!(summary.len(), SUMMARY_MAX, "{}", m.name);
            let worst_kept =
                summary.iter().map(|n| candidates.iter().find(|c| c.0 == *n).unwrap().1 .1).max();
            for (name, (_, rank)) in &candidates {
                if !summary.contains(name) {
                    assert!(*rank > 1 && Some(*rank) >= worst_kept, "{}: {name} dropped", m.name);
                }
            }
            capped.push(m.name);
        }
        // Reading order: request, session, monitor, calls, parties, agent, outcome.
        let groups: Vec<u8> =
            summary.iter().map(|n| candidates.iter().find(|c| c.0 == *n).unwrap().1 .0).collect();
        assert!(groups.windows(2).all(|w| w[0] <= w[1]), "{}: {summary:?}", m.name);
        // A connection's device follows its call id.
        for (call, device) in
            [("ConnectionCallID", "ConnectionDeviceID"), ("NewConnectionCallID", "NewConnectionDeviceID")]
        {
            if let Some(i) = summary.iter().position(|n| *n == device) {
                assert_eq!(summary.get(i.wrapping_sub(1)), Some(&call), "{}: {summary:?}", m.name);
            }
        }
        if let Some(i) = summary.iter().position(|n| *n == "ConnectionCallID") {
            assert!(summary[..i].iter().all(|n| !n.ends_with("CallID")), "{}: {summary:?}", m.name);
        }
    }
    capped.sort_unstable();
    assert_eq!(
        capped,
        ["CALL_DELIVERED_EVENT", "OPEN_CONF", "START_RECORDING_REQ", "STOP_RECORDING_REQ"],
        "the layouts spec/README.md names as capped"
    );
    let names = |n: &str| by_name(n).summary.iter().map(|f| f.name()).collect::<Vec<_>>();
    assert_eq!(
        names("CALL_TRANSFERRED_EVENT"),
        [
            "MonitorID",
            "PrimaryCallID",
            "SecondaryCallID",
            "TransferringDeviceID",
            "TransferredDeviceID",
            "EventCause"
        ]
    );
    assert_eq!(
        names("CALL_DATA_UPDATE_EVENT"),
        [
            "MonitorID",
            "ConnectionCallID",
            "ConnectionDeviceID",
            "NewConnectionCallID",
            "NewConnectionDeviceID"
        ]
    );
    assert_eq!(
        names("CALL_DELIVERED_EVENT"),
        [
            "MonitorID",
            "ConnectionCallID",
            "ConnectionDeviceID",
            "CallingDeviceID",
            "CalledDeviceID",
            "EventCause"
        ]
    );
    assert_eq!(
        names("OPEN_REQ"),
        ["InvokeID", "VersionNumber", "ClientID", "AgentID", "AgentExtension", "AgentInstrument"]
    );
    assert!(names("CONFIG_BEGIN_EVENT").is_empty());
}
