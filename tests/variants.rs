//! What real implementations send where the version history and the wire disagree: fixed
//! parts of a neighbouring version (DepartmentID missing at 19, SessionType missing at 24,
//! DepartmentID already at 18), tags the version does not define, and the network recording
//! messages renumbered at 25. Frames are built with the encoder at both versions, put in real
//! captures with and without the OPEN_REQ, and read back through the binary.

mod common;

use common::dialects::*;
use common::{ctiscope, pcap_bytes, C, S};
use ctiscope::cti::decode::{decode, Decoder, VersionSource, VersionState};
use ctiscope::cti::encode::MessageBuilder;
use ctiscope::cti::spec;
use serde_json::Value as J;

fn jsonl(path: &std::path::Path) -> Vec<J> {
    let (out, err, code) = ctiscope(&["decode", "-T", "jsonl", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).filter(|j: &J| j["event"] == "message").collect()
}

/// The layout variant of each message: (type, fixed_part_version); each variant names
/// what the connection's own layout met.
fn variants(msgs: &[J]) -> Vec<(String, Option<u64>)> {
    msgs.iter()
        .map(|m| {
            let v = &m["layout_variant"];
            if v.is_object() {
                let misfit = v["misfit"].as_str().unwrap();
                assert!(["fixed_part_short", "floating_past_end", "tag_not_allowed", "required_missing"]
                    .contains(&misfit));
            }
            (m["type"].as_str().unwrap().to_string(), v["fixed_part_version"].as_u64())
        })
        .collect()
}

fn check_json(path: &std::path::Path) -> J {
    let (out, err, _) = ctiscope(&["check", "--all", "-T", "json", path.to_str().unwrap()]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
}

/// The value of floating field `name` of a message.
fn floating<'a>(m: &'a J, name: &str) -> &'a J {
    m["floating"].as_array().unwrap().iter().find(|f| f["name"] == name).map_or(&J::Null, |f| &f["value"])
}

fn assert_clean_and_right(msgs: &[J], d: Dialect) {
    assert_eq!(msgs.len(), if msgs[0]["type"] == "OPEN_REQ" { 7 } else { 6 });
    for m in msgs {
        assert_eq!(m["anomalies"].as_array().map_or(0, |a| a.len()), 0, "{m}");
        if m["type"] == "AGENT_STATE_EVENT"
            || m["type"] == "QUERY_AGENT_STATE_CONF"
            || m["type"] == "OPEN_CONF"
        {
            assert_eq!(floating(m, "AgentID"), "1001", "{m}");
            assert_eq!(floating(m, "AgentExtension"), "3001", "{m}");
            let has_dept = m["fields"].get("DepartmentID").is_some();
            let want = if m["type"] == "OPEN_CONF" { d.open_conf >= 19 } else { d.agent_state >= 19 };
            if m["version_source"] == "seen" {
                assert_eq!(has_dept, want, "{m}");
            }
            if has_dept {
                assert_eq!(m["fields"]["DepartmentID"], 12, "{m}");
            }
        }
    }
    let states: Vec<_> = msgs
        .iter()
        .filter(|m| m["type"] == "AGENT_STATE_EVENT")
        .map(|m| m["fields"]["AgentState"].as_u64().unwrap())
        .collect();
    assert_eq!(states, [3, 2, 3]);
}

#[test]
fn neighbouring_fixed_parts_decode_cleanly_with_the_open_req() {
    for (d, want) in [
        (
            PV19_WITHOUT_DEPARTMENT,
            vec![
                ("OPEN_REQ", None),
                ("OPEN_CONF", Some(18)),
                ("AGENT_STATE_EVENT", Some(18)),
                ("QUERY_AGENT_STATE_REQ", None),
                ("QUERY_AGENT_STATE_CONF", Some(18)),
                ("AGENT_STATE_EVENT", Some(18)),
                ("AGENT_STATE_EVENT", Some(18)),
            ],
        ),
        (
            PV24_WITHOUT_SESSION_TYPE,
            vec![
                ("OPEN_REQ", None),
                ("OPEN_CONF", Some(23)),
                ("AGENT_STATE_EVENT", None),
                ("QUERY_AGENT_STATE_REQ", None),
                ("QUERY_AGENT_STATE_CONF", None),
                ("AGENT_STATE_EVENT", None),
                ("AGENT_STATE_EVENT", None),
            ],
        ),
        (
            PV18_WITH_DEPARTMENT,
            vec![
                ("OPEN_REQ", None),
                ("OPEN_CONF", Some(19)),
                ("AGENT_STATE_EVENT", Some(19)),
                ("QUERY_AGENT_STATE_REQ", None),
                ("QUERY_AGENT_STATE_CONF", Some(19)),
                ("AGENT_STATE_EVENT", Some(19)),
                ("AGENT_STATE_EVENT", Some(19)),
            ],
        ),
        (
            PV24_WITHOUT_DEPARTMENT,
            vec![
                ("OPEN_REQ", None),
                ("OPEN_CONF", Some(18)),
                ("AGENT_STATE_EVENT", Some(18)),
                ("QUERY_AGENT_STATE_REQ", None),
                ("QUERY_AGENT_STATE_CONF", Some(18)),
                ("AGENT_STATE_EVENT", Some(18)),
                ("AGENT_STATE_EVENT", Some(18)),
            ],
        ),
    ] {
        let path = capture(d, true);
        let msgs = jsonl(&path);
        assert_clean_and_right(&msgs, d);
        // Decoding on several threads gives the same output, check the same findings.
        for cmd in [&["decode", "-T", "jsonl"][..], &["check", "--all", "-T", "json"][..]] {
            let outs: Vec<String> = ["1", "3"]
                .iter()
                .map(|j| {
                    let mut args = cmd.to_vec();
                    args.extend(["-j", j, path.to_str().unwrap()]);
                    ctiscope(&args).0
                })
                .collect();
            assert_eq!(outs[0], outs[1], "{cmd:?} with -j1 and -j3");
        }
        let got = variants(&msgs);
        let want: Vec<_> = want.into_iter().map(|(t, v)| (t.to_string(), v)).collect();
        assert_eq!(got, want, "{}", path.display());
        for m in &msgs {
            assert_eq!(m["version_source"], "seen");
            assert_eq!(m["protocol_version"], d.version);
            if let Some(reason) = m["layout_variant"]["reason"].as_str() {
                let v = m["layout_variant"]["fixed_part_version"].as_u64().unwrap();
                assert!(reason.starts_with(&format!("fixed part of protocol version {v} (with")), "{reason}");
                assert!(reason.contains("DepartmentID") || reason.contains("SessionType"), "{reason}");
            }
        }

        // One note per connection and message type, nothing else to say.
        let report = check_json(&path);
        let findings = report["findings"].as_array().unwrap();
        let notes: Vec<_> = findings.iter().filter(|f| f["rule"] == "layout-variant").collect();
        let types: std::collections::BTreeSet<_> = msgs
            .iter()
            .filter(|m| m.get("layout_variant").is_some())
            .map(|m| m["type"].to_string())
            .collect();
        assert_eq!(notes.len(), types.len(), "{notes:#?}");
        for n in &notes {
            assert_eq!(n["severity"], "note");
        }
        let others: Vec<_> = findings.iter().filter(|f| f["rule"] != "layout-variant").collect();
        assert!(others.is_empty(), "{others:#?}");
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn neighbouring_fixed_parts_decode_cleanly_without_the_open_req() {
    // Not PV18_WITH_DEPARTMENT: without its OPEN_REQ a PV18 session that sends DepartmentID
    // is byte for byte a PV19 session whose QUERY_AGENT_STATE_CONF lacks the required
    // InternalAgentState, and is decoded as that.
    for d in [PV19_WITHOUT_DEPARTMENT, PV24_WITHOUT_SESSION_TYPE, PV24_WITHOUT_DEPARTMENT] {
        let path = capture(d, false);
        let msgs = jsonl(&path);
        assert_eq!(msgs[0]["type"], "OPEN_CONF");
        assert_clean_and_right(&msgs, d);
        // No more than one note per connection and message type.
        let report = check_json(&path);
        let notes =
            report["findings"].as_array().unwrap().iter().filter(|f| f["rule"] == "layout-variant").count();
        assert!(notes <= 3, "{}: {notes} layout notes", path.display());
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn the_tree_names_the_layout() {
    let path = capture(PV19_WITHOUT_DEPARTMENT, true);
    let (out, err, code) = ctiscope(&["decode", "-V", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "    Layout: fixed part of protocol version 18 (without DepartmentID): with the fixed part of version 19,"
        ),
        "{out}"
    );
    std::fs::remove_file(&path).unwrap();
}

/// Without the variant the same bytes leave anomalies all over; the layout follows the bytes
/// message by message, and the connection's memory only decides where decoding starts.
#[test]
fn the_connection_layout_alone_leaves_anomalies() {
    use ctiscope::cti::decode::Decoded;
    let d = PV19_WITHOUT_DEPARTMENT;
    let frame = agent_state(d, 3);
    let plain = decode(&frame, 19, VersionSource::Seen);
    assert!(!plain.anomalies.is_empty());
    let dec = Decoder::default();
    let mut st = VersionState::default();
    let mut out = Decoded::default();
    dec.decode_into(&frame, Some(19), &mut st, &mut out);
    assert_eq!(out.variant.map(|v| v.fixed_version), Some(18));
    assert!(out.anomalies.is_empty(), "{:?}", out.anomalies);
    assert_eq!(dec.choose(&frame, Some(19), &mut st).start, Some(18), "the next one starts from it");
    // A message that fits the connection's layout again is decoded with it, and the
    // connection forgets the variant.
    let normal = agent_state(Dialect { agent_state: 19, ..d }, 3);
    dec.decode_into(&normal, Some(19), &mut st, &mut out);
    assert_eq!(out.variant, None);
    assert!(out.anomalies.is_empty(), "{:?}", out.anomalies);
    assert_eq!(dec.choose(&normal, Some(19), &mut st).start, None);
    // The outcome does not depend on where decoding started.
    for start in [None, Some(18), Some(19), Some(24)] {
        for f in [&frame, &normal] {
            let c = ctiscope::cti::decode::Choice { version: 19, source: VersionSource::Seen, start };
            ctiscope::cti::decode::decode_choice(f, &c, &mut out);
            let mut fresh = Decoded::default();
            Decoder::default().decode_into(f, Some(19), &mut VersionState::default(), &mut fresh);
            assert_eq!(format!("{:?}", out), format!("{:?}", fresh), "start {start:?}");
        }
    }
    // Damage that no layout explains is decoded with the connection's and reported.
    let mut cut = frame.clone();
    cut.truncate(cut.len() - 3);
    let len = (cut.len() - 8) as u32;
    cut[0..4].copy_from_slice(&len.to_be_bytes());
    Decoder::default().decode_into(&cut, Some(19), &mut VersionState::default(), &mut out);
    assert_eq!(out.variant, None);
    assert!(!out.anomalies.is_empty());
}

/// RTP_STARTED_EVENT of the PV19 codec still carries the IPv6 address tags 226/227, which the
/// history removes at 19 (and no layout of the chapter lists): decoded by their tag names all
/// the same, with `tag_not_allowed` saying the version does not define them, which `check`
/// reports as a note.
#[test]
fn tags_the_version_removed_are_decoded_all_the_same() {
    let mut b = MessageBuilder::named("RTP_STARTED_EVENT", 19);
    b.set("PeripheralID", 5000).unwrap();
    b.text("ConnectionDeviceID", "3001").unwrap();
    b.raw(226, b"fe80::1\0").unwrap().raw(227, b"fe80::2\0").unwrap();
    let frame = b.build();
    let d = decode(&frame, 19, VersionSource::Seen);
    let not_allowed: Vec<_> = d.anomalies.iter().filter(|a| a.code == "tag_not_allowed").collect();
    assert_eq!(not_allowed.len(), 2, "{:#?}", d.anomalies);
    assert!(
        not_allowed[0].message.ends_with(
            "is not a field of RTP_STARTED_EVENT, and protocol version 19 does not define it (defined in protocol versions 14 to 18)"
        ),
        "{}",
        not_allowed[0].message
    );
    for (tag, name, text) in
        [(226, "CLIENT_ADDRESS_IPV6_TAG", "fe80::1"), (227, "SENDING_ADDRESS_IPV6_TAG", "fe80::2")]
    {
        let got = d.fields.iter().find(|x| x.tag == Some(tag)).expect("kept");
        assert_eq!(got.name(), name);
        assert_eq!(got.text(&frame).as_deref(), Some(text));
    }

    // In a capture: `check` says it as a note, once per field.
    let mut c = desktop_connection();
    c.send(C, &open_req(19), 1460);
    c.send(S, &open_conf(Dialect { version: 19, open_conf: 19, agent_state: 19 }), 1460);
    c.send(S, &frame, 1460);
    c.send(S, &frame, 1460);
    c.close();
    let path = std::env::temp_dir().join(format!("ctiscope-variants-rtp-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap_bytes(1, &c.pkts)).unwrap();
    let report = check_json(&path);
    let groups: Vec<_> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["rule"] == "decode-tag-not-allowed")
        .collect();
    assert_eq!(groups.len(), 2, "{groups:#?}");
    for g in groups {
        assert_eq!((g["severity"].as_str(), g["count"].as_u64()), (Some("note"), Some(2)), "{g}");
    }
    std::fs::remove_file(&path).unwrap();
}

/// A field of the message that a later version introduces, at an earlier stated version.
#[test]
fn fields_a_later_version_adds_are_decoded_all_the_same() {
    let mut b = MessageBuilder::named("AGENT_STATE_EVENT", 15);
    b.set("PeripheralID", 5000).unwrap().set("AgentState", 3).unwrap().set("PeripheralType", 17).unwrap();
    b.text("AgentID", "1001").unwrap().raw(244, &[0, 0, 0, 1]).unwrap();
    let frame = b.build();
    let d = decode(&frame, 15, VersionSource::Seen);
    let a: Vec<_> = d.anomalies.iter().map(|a| (a.code, a.field)).collect();
    assert_eq!(a, [("tag_not_allowed", Some("Direction"))]);
    assert!(d.anomalies[0].message.contains("(defined from protocol version 16); decoded all the same"));
    assert_eq!(d.number("Direction"), Some(1));
    // Inferred or assumed versions stand for a layout, not a tag set: nothing to say.
    assert!(decode(&frame, 15, VersionSource::Inferred).anomalies.is_empty());
    assert!(decode(&frame, 16, VersionSource::Seen).anomalies.is_empty());
}

/// The network recording messages: 267-274 up to protocol version 24, 268-275 from 25.
#[test]
fn renumbered_messages_are_read_by_version() {
    for (name, v24, v25) in [
        ("START_NETWORK_RECORDING_REQ", 267, 268),
        ("START_NETWORK_RECORDING_CONF", 268, 269),
        ("NETWORK_RECORDING_TARGET_INFO_EVENT", 274, 275),
    ] {
        for (version, number) in [(23, v24), (24, v24), (25, v25)] {
            let frame = MessageBuilder::named(name, version).build();
            assert_eq!(u32::from_be_bytes(frame[4..8].try_into().unwrap()), number, "{name} at {version}");
            let d = decode(&frame, version, VersionSource::Seen);
            assert_eq!(d.type_name(), Some(name), "{name} at {version}");
        }
        assert_eq!(spec::type_name_at(v24, 24), Some(name));
        assert_eq!(spec::type_name_at(v25, 25), Some(name));
    }
    // 268 is START_NETWORK_RECORDING_CONF up to 24 and START_NETWORK_RECORDING_REQ from 25.
    let conf24 = MessageBuilder::named("START_NETWORK_RECORDING_CONF", 24).build();
    assert_eq!(decode(&conf24, 24, VersionSource::Seen).type_name(), Some("START_NETWORK_RECORDING_CONF"));
    // 267 means nothing at 25: said so, not named after its PV24 meaning.
    let mut stray = MessageBuilder::named("START_NETWORK_RECORDING_REQ", 24).build();
    stray.truncate(8);
    stray[0..4].copy_from_slice(&0u32.to_be_bytes());
    let d = decode(&stray, 25, VersionSource::Seen);
    assert_eq!(d.type_name(), None);
    assert_eq!(d.anomalies[0].code, "unknown_message_type");
    assert!(
        d.anomalies[0].message.contains("not assigned at protocol version 25"),
        "{}",
        d.anomalies[0].message
    );

    // In captures at both versions, `--type NAME` selects the message by name whatever its
    // number.
    for version in [24, 25] {
        let mut c = desktop_connection();
        c.send(C, &open_req(version), 1460);
        c.send(S, &open_conf(Dialect { version, open_conf: version, agent_state: version }), 1460);
        let mut req = MessageBuilder::named("START_NETWORK_RECORDING_REQ", version);
        req.set("InvokeID", 9).unwrap().set("PeripheralID", 5000).unwrap();
        req.text("ConnectionDeviceID", "3001").unwrap();
        c.send(C, &req.build(), 1460);
        let mut conf = MessageBuilder::named("START_NETWORK_RECORDING_CONF", version);
        conf.set("InvokeID", 9).unwrap();
        c.send(S, &conf.build(), 1460);
        c.close();
        let path =
            std::env::temp_dir().join(format!("ctiscope-renumbered-{version}-{}.pcap", std::process::id()));
        std::fs::write(&path, pcap_bytes(1, &c.pkts)).unwrap();
        let p = path.to_str().unwrap();
        let (out, err, code) =
            ctiscope(&["decode", "-T", "jsonl", "--type", "START_NETWORK_RECORDING_REQ", p]);
        assert_eq!(code, 0, "{err}");
        let msgs: Vec<J> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let msgs: Vec<_> = msgs.iter().filter(|m| m["event"] == "message").collect();
        assert_eq!(msgs.len(), 1, "{out}");
        assert_eq!(msgs[0]["type_id"], if version == 24 { 267 } else { 268 });
        assert_eq!(msgs[0]["anomalies"].as_array().map_or(0, |a| a.len()), 0, "{}", msgs[0]);
        // The request and its confirm pair up at both versions.
        let report = check_json(&path);
        assert!(report["findings"].as_array().unwrap().is_empty(), "{report:#}");
        std::fs::remove_file(&path).unwrap();
    }
}

/// `ctiscope spec` never contradicts itself: each number's line names exactly the messages
/// `spec NUMBER` describes, and `spec NAME` gives every number the name has had.
#[test]
fn spec_lists_every_number_with_its_versions() {
    let (list, _, code) = ctiscope(&["spec"]);
    assert_eq!(code, 0);
    let line =
        |n: u32| list.lines().find(|l| l.trim_start().starts_with(&format!("{n} "))).unwrap().to_string();
    assert_eq!(line(267).trim(), "267 START_NETWORK_RECORDING_REQ (up to protocol version 24)");
    assert_eq!(
        line(268).trim(),
        "268 START_NETWORK_RECORDING_CONF (up to protocol version 24); START_NETWORK_RECORDING_REQ (from protocol version 25)"
    );
    assert_eq!(line(275).trim(), "275 NETWORK_RECORDING_TARGET_INFO_EVENT (from protocol version 25)");
    for n in 260..=280u32 {
        let l = line(n);
        let (out, _, code) = ctiscope(&["spec", &n.to_string()]);
        assert_eq!(code, 0);
        for m in spec::type_meanings(n) {
            assert!(l.contains(m.name), "{l}");
            if m.layout.is_some() {
                assert!(out.contains(&format!("{} (MessageType ", m.name)), "spec {n}:\n{out}");
            }
        }
    }
    let (out, _, _) = ctiscope(&["spec", "268"]);
    assert!(out.starts_with(
        "MessageType 268 is START_NETWORK_RECORDING_CONF up to protocol version 24 and START_NETWORK_RECORDING_REQ from protocol version 25."
    ));
    let (out, _, _) = ctiscope(&["spec", "268", "--protocol-version", "25"]);
    assert!(out.starts_with("START_NETWORK_RECORDING_REQ (MessageType 267 up to protocol version 24, 268 from protocol version 25)"), "{out}");
    let (_, err, code) = ctiscope(&["spec", "267", "--protocol-version", "25"]);
    assert_eq!((code, err.trim()), (2, "ctiscope: MessageType 267 is not assigned at protocol version 25"));
    let (list25, _, _) = ctiscope(&["spec", "--protocol-version", "25"]);
    assert!(!list25.lines().any(|l| l.trim_start().starts_with("267 ")), "{list25}");
    assert!(list25.lines().any(|l| l.trim() == "268 START_NETWORK_RECORDING_REQ"), "{list25}");
    // Field versions: since and until.
    let (out, _, _) = ctiscope(&["spec", "AGENT_STATE_EVENT"]);
    assert!(out.contains("DepartmentID                       INT        4  since PV19"), "{out}");
    assert!(out.lines().any(|l| l.contains("DIRECTION_TAG") && l.ends_with("since PV16")), "{out}");
}

/// An empty ClientPassword at 24: length 0, one NUL byte, or left out.
#[test]
fn an_empty_client_password_in_its_three_forms() {
    let open = |password: Option<&[u8]>| {
        let mut b = MessageBuilder::named("OPEN_REQ", 24);
        b.set("InvokeID", 1).unwrap().set("VersionNumber", 24).unwrap().set("IdleTimeout", 120).unwrap();
        b.text("ClientID", "desk1").unwrap();
        if let Some(p) = password {
            b.bytes("ClientPassword", p).unwrap();
        }
        b.build()
    };
    for (password, anomalies) in [(Some(&b""[..]), 0), (Some(&b"\0"[..]), 0), (None, 1)] {
        let frame = open(password);
        let d = decode(&frame, 24, VersionSource::Seen);
        let codes: Vec<_> = d.anomalies.iter().map(|a| (a.code, a.field)).collect();
        assert_eq!(codes.len(), anomalies, "{codes:?}");
        if anomalies == 1 {
            assert_eq!(codes[0], ("required_missing", Some("ClientPassword")));
        } else {
            assert_eq!(d.field("ClientPassword").map(|f| f.data_len()), password.map(|p| p.len() as u32));
        }
        let mut c = desktop_connection();
        c.send(C, &frame, 1460);
        c.send(S, &open_conf(Dialect { version: 24, open_conf: 24, agent_state: 24 }), 1460);
        c.close();
        let path =
            std::env::temp_dir().join(format!("ctiscope-password-{anomalies}-{}.pcap", std::process::id()));
        std::fs::write(&path, pcap_bytes(1, &c.pkts)).unwrap();
        let report = check_json(&path);
        let findings = report["findings"].as_array().unwrap();
        assert_eq!(findings.len(), anomalies, "{findings:#?}");
        for f in findings {
            assert_eq!(
                (f["rule"].as_str(), f["severity"].as_str()),
                (Some("decode-required-missing"), Some("note"))
            );
        }
        std::fs::remove_file(&path).unwrap();
    }
}
