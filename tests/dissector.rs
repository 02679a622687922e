//! The generated Wireshark Lua plugin (`ctiscope dissector --lua`) against ctiscope itself:
//! tshark with the plugin over every shipped capture and synthetic captures at protocol
//! versions 13 to 25 must show, message by message, the same type and the same fields with
//! the same values as `ctiscope decode -T jsonl`.
//!
//! Skipped (with a message) when tshark is not installed; CI installs it (.ci/run) and
//! requires it (`CTISCOPE_REQUIRE_TOOLS=1`).

mod common;

use common::dialects::{self, *};
use common::messages::base;
use common::{pcap_bytes, tool_available, Conv, C, S};
use ctiscope::capture::build::Link;
use ctiscope::cti::encode::MessageBuilder;
use ctiscope::cti::spec::{self, WireType};
use ctiscope::dissector::{field_kinds, FieldKind};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ctiscope(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ctiscope")).args(args).current_dir(root()).output().unwrap();
    assert!(out.status.success(), "ctiscope {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `ctiscope decode`: a capture cut inside a record is decoded up to there, then reported
/// with a failing exit status; what was decoded is still compared.
fn ctiscope_decode(file: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ctiscope"))
        .args(["decode", "-T", "jsonl"])
        .arg(file)
        .current_dir(root())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn have_tshark() -> bool {
    Command::new("tshark").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Captures where tshark's TCP reassembly and ctiscope's framing legitimately part ways, so
/// that some messages exist on one side only (the messages both show are still compared
/// field by field): the reason for each.
const FRAMING_DIFFERS: &[(&str, &str)] = &[
    (
        "captures/faults-lost.pcap",
        "bytes lost: ctiscope resynchronises after each gap, tshark's reassembly waits for them",
    ),
    (
        "tests/data/gap.pcap",
        "bytes lost: ctiscope resynchronises after the gap, tshark's reassembly waits for them",
    ),
    (
        "its OPEN_REQ lost",
        "the client's first bytes lost: ctiscope reads the client from its next message, tshark's reassembly waits for them",
    ),
];

/// One message's fields as (name, canonical value), sorted.
type Fields = Vec<(String, String)>;

/// A message: type number and fields; keyed by (frame, index in frame).
type Messages = BTreeMap<(u64, usize), Message>;

/// Type number and fields.
type Message = (u64, Fields);

fn hex_of(s: &str) -> String {
    s.chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase()
}

/// `name` in ctiscope's JSON (a spec name) to the canonical (name, value) the plugin shows.
fn from_ctiscope(kinds: &BTreeMap<&str, FieldKind>, name: &str, v: &Value) -> (String, String) {
    let kind = kinds.get(name).copied().unwrap_or(FieldKind::Str);
    let named_type = spec::field_id(name)
        .and_then(|f| f.info())
        .is_some_and(|i| matches!(i.ty, WireType::NamedVar | WireType::NamedArray));
    match v {
        Value::Number(n) => (name.to_string(), n.to_string()),
        Value::String(s) => match kind {
            FieldKind::Bytes => (name.to_string(), s.clone()),
            FieldKind::Str if !named_type => (name.to_string(), s.clone()),
            // A value ctiscope could not read as its type: its bytes.
            _ => ("raw".to_string(), s.clone()),
        },
        Value::Object(o) => {
            let mut s = o["name"].as_str().unwrap().to_string();
            if let Some(i) = o.get("index") {
                s += &format!("[{i}]");
            }
            s += "=";
            s += o["value"].as_str().unwrap();
            (name.to_string(), s)
        }
        Value::Array(a) => (name.to_string(), a.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")),
        other => panic!("unexpected value {other} for {name}"),
    }
}

fn ctiscope_messages(file: &Path, kinds: &BTreeMap<&str, FieldKind>) -> Messages {
    let out = ctiscope_decode(file);
    let mut msgs = Messages::new();
    let mut last: (u64, usize) = (0, 0);
    for line in out.lines() {
        let j: Value = serde_json::from_str(line).unwrap();
        if j["event"] != "message" {
            continue;
        }
        let frame = j["frame"].as_u64().unwrap();
        let k = if last.0 == frame { last.1 + 1 } else { 0 };
        last = (frame, k);
        let mut fields: Fields = Vec::new();
        for (name, v) in j["fields"].as_object().unwrap() {
            fields.push(from_ctiscope(kinds, name, v));
        }
        for f in j["floating"].as_array().unwrap() {
            fields.push(from_ctiscope(kinds, f["name"].as_str().unwrap(), &f["value"]));
        }
        // A message decoded with another version's fixed part: the plugin gives the
        // version as a generated field and a note.
        if let Some(v) = j["layout_variant"]["fixed_part_version"].as_u64() {
            fields.push(("fixed_part_version".to_string(), v.to_string()));
            fields.push((format!("{ANOMALY}layout_variant"), "note".to_string()));
        }
        for a in j["anomalies"].as_array().unwrap() {
            let code = a["code"].as_str().unwrap();
            // The severity of ctiscope's finding for the code, as the plugin must give it.
            let sev = ctiscope::analysis::rules::anomaly_severity(code).as_str().to_string();
            fields.push((format!("{ANOMALY}{code}"), sev));
        }
        fields.sort();
        msgs.insert((frame, k), (j["type_id"].as_u64().unwrap(), fields));
    }
    msgs
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// "Jan  5, 2026 09:00:18.000000000 UTC" to seconds since the epoch.
fn parse_time(s: &str) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let parts: Vec<&str> = s.split_whitespace().collect();
    let month = MONTHS.iter().position(|m| *m == parts[0]).unwrap_or_else(|| panic!("time {s:?}")) as i64 + 1;
    let day: i64 = parts[1].trim_end_matches(',').parse().unwrap();
    let year: i64 = parts[2].parse().unwrap();
    let hms: Vec<f64> = parts[3].split(':').map(|x| x.parse().unwrap()).collect();
    let secs =
        days_from_civil(year, month, day) * 86400 + hms[0] as i64 * 3600 + hms[1] as i64 * 60 + hms[2] as i64;
    secs.to_string()
}

fn from_tshark(kinds: &BTreeMap<&str, FieldKind>, name: &str, v: &str) -> (String, String) {
    let value = match kinds.get(name).copied().unwrap_or(FieldKind::Str) {
        FieldKind::Uint | FieldKind::Int | FieldKind::Int64 => match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).unwrap().to_string(),
            None => v.to_string(),
        },
        FieldKind::Time => parse_time(v),
        FieldKind::Bytes => hex_of(v),
        FieldKind::Str => v.to_string(),
    };
    (name.to_string(), value)
}

/// The name prefix under which anomalies are compared with the plugin's expert info.
const ANOMALY: &str = "anomaly:";

/// Keys of the plugin's own that ctiscope's JSON has elsewhere or not at all.
const NOT_FIELDS: &[&str] =
    &["type", "length", "version", "version_source", "tag", "request_in", "response_in", "latency"];

fn flatten(kinds: &BTreeMap<&str, FieldKind>, v: &Value, out: &mut Fields) {
    let Value::Object(o) = v else { return };
    for (k, x) in o {
        if k == "_ws.expert" {
            for e in std::slice::from_ref(x).iter().chain(x.as_array().into_iter().flatten()) {
                let Value::Object(e) = e else { continue };
                // Wireshark's severity levels: note 0x00400000, warn 0x00600000, error 0x00800000.
                let sev = match e
                    .get("_ws.expert.severity")
                    .and_then(|s| s.as_str())
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    Some(0x0040_0000) => "note",
                    Some(0x0060_0000) => "warning",
                    Some(0x0080_0000) => "error",
                    _ => "?",
                };
                for code in e.keys().filter_map(|k| k.strip_prefix("cti.")) {
                    out.push((format!("{ANOMALY}{code}"), sev.to_string()));
                }
            }
            continue;
        }
        if let Some(name) = k.strip_prefix("cti.") {
            if !name.ends_with("_tree") && !NOT_FIELDS.contains(&name) {
                match x {
                    Value::String(s) => out.push(from_tshark(kinds, name, s)),
                    Value::Array(a) => {
                        for s in a {
                            out.push(from_tshark(kinds, name, s.as_str().unwrap()));
                        }
                    }
                    _ => {}
                }
                continue;
            }
        }
        match x {
            Value::Object(_) => flatten(kinds, x, out),
            Value::Array(a) => a.iter().for_each(|y| flatten(kinds, y, out)),
            _ => {}
        }
    }
}

fn tshark_messages(plugin: &Path, file: &Path, kinds: &BTreeMap<&str, FieldKind>) -> Messages {
    let out = Command::new("tshark")
        .args(["-n", "-X", &format!("lua_script:{}", plugin.display()), "-r"])
        .arg(file)
        .args(["-T", "json", "--no-duplicate-keys", "-o", "tcp.reassemble_out_of_order:TRUE"])
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| !l.contains("Running as user")).collect();
    assert!(
        !errors.iter().any(|l| l.contains("Lua") || l.contains(".lua\"]:") || l.contains(".lua:")),
        "{}: Lua errors:\n{}",
        file.display(),
        errors.join("\n")
    );
    // A Lua error while dissecting shows in the packet tree, not on stderr.
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(p) = stdout.find("Lua Error") {
        panic!("{}: {}", file.display(), &stdout[p..(p + 300).min(stdout.len())]);
    }
    let packets: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{}: tshark JSON: {e}\n{stderr}", file.display()));
    let mut msgs = Messages::new();
    for p in packets.as_array().unwrap() {
        let layers = &p["_source"]["layers"];
        let frame: u64 = layers["frame"]["frame.number"].as_str().unwrap().parse().unwrap();
        let list: Vec<&Value> = match &layers["cti"] {
            Value::Array(a) => a.iter().collect(),
            Value::Null => continue,
            one => vec![one],
        };
        for (k, m) in list.into_iter().enumerate() {
            let ty: u64 = m["cti.type"].as_str().unwrap().parse().unwrap();
            let mut fields = Fields::new();
            flatten(kinds, m, &mut fields);
            fields.sort();
            msgs.insert((frame, k), (ty, fields));
        }
    }
    msgs
}

/// A PV15 desktop session whose AGENT_STATE_EVENTs carry Direction (tag 244), which
/// protocol version 16 introduced; without its OPEN_REQ the version is inferred.
fn later_field_capture(with_open_req: bool) -> Vec<u8> {
    let mut c = dialects::desktop_connection();
    if with_open_req {
        c.send(C, &dialects::open_req(15), 1460);
        c.send(S, &dialects::open_conf(Dialect { version: 15, open_conf: 15, agent_state: 15 }), 1460);
    }
    for state in [3, 2] {
        let mut b = MessageBuilder::named("AGENT_STATE_EVENT", 15);
        b.set("PeripheralID", 5000)
            .unwrap()
            .set("AgentState", state)
            .unwrap()
            .set("PeripheralType", 17)
            .unwrap();
        b.text("AgentID", "1001").unwrap().raw(244, &[0, 0, 0, 1]).unwrap();
        c.send(S, &b.build(), 1460);
    }
    c.close();
    pcap_bytes(1, &c.pkts)
}

/// `frame` with `extra` bytes appended and its MessageLength fixed.
fn append(mut frame: Vec<u8>, extra: &[u8]) -> Vec<u8> {
    frame.extend_from_slice(extra);
    let len = (frame.len() - 8) as u32;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    frame
}

/// A PV24 session whose messages carry the anomalies the plugin reports as expert info.
fn anomaly_capture() -> Vec<u8> {
    let mut open = base("OPEN_REQ", 24);
    open.set("VersionNumber", 24).unwrap();
    let req = "SET_AGENT_STATE_REQ";
    let agent_tag = base(req, 24).tag_of("AgentID").unwrap().0;
    let frames: Vec<Vec<u8>> = vec![
        open.build(),
        // trailing_bytes
        append(base("HEARTBEAT_REQ", 24).build(), &[1, 2, 3]),
        // unknown_tag
        base(req, 24).raw(999, b"xyz").unwrap().build(),
        // required_missing (and the zero enumerations of an empty fixed part)
        MessageBuilder::named(req, 24).build(),
        // value_too_long
        base(req, 24)
            .raw(agent_tag, &[b'7'; 40].iter().copied().chain([0]).collect::<Vec<u8>>())
            .unwrap()
            .build(),
        // tag_not_allowed, string_without_nul
        base(req, 24).raw(1, b"client").unwrap().build(),
        // floating_past_end
        append(base(req, 24).build(), &[0, 4, 0, 20, b'1', b'2']),
        // floating_header_truncated
        append(base(req, 24).build(), &[0, 4, 0]),
        // a fixed part cut short
        {
            let f = base(req, 24).build();
            append(f[..14].to_vec(), &[])
        },
        // too_many_anomalies: 70 unknown tags, of which 63 are kept and then the cap
        {
            let mut b = base(req, 24);
            for _ in 0..70 {
                b.raw(999, b"x").unwrap();
            }
            b.build()
        },
        // count_mismatch and count_over_max: NumSkillGroups says 25 (the maximum is 20)
        // and no skill group follows
        {
            let mut b = base(req, 24);
            b.set("NumSkillGroups", 25).unwrap();
            b.build()
        },
    ];
    let mut c = Conv::new(
        Link::Ethernet,
        "10.1.0.1:50100",
        "10.1.0.2:42027",
        [1000, 9000],
        1_767_600_000_000_000_000,
    );
    c.handshake();
    for f in &frames {
        c.send(C, f, 1400);
        c.ack(S);
    }
    c.close();
    pcap_bytes(1, &c.pkts)
}

#[derive(Default)]
struct Tally {
    files: usize,
    messages: usize,
    fields: usize,
    anomalies: usize,
    /// Anomaly codes met in the compared messages.
    codes: std::collections::BTreeSet<String>,
    one_side: usize,
    differences: Vec<String>,
}

fn compare(plugin: &Path, file: &Path, label: &str, kinds: &BTreeMap<&str, FieldKind>, t: &mut Tally) {
    let ours = ctiscope_messages(file, kinds);
    let theirs = tshark_messages(plugin, file, kinds);
    let framing_differs = FRAMING_DIFFERS.iter().any(|(f, _)| label.ends_with(f));
    t.files += 1;
    // Messages at the same place (frame, index in the frame) are the same message. Where
    // the two reassemblies complete a message in different frames (reordered or
    // retransmitted segments), the remaining messages are paired in order.
    let mut pairs: Vec<((u64, usize), &Message, &Message)> = Vec::new();
    let mut ours_left = Vec::new();
    for (key, m) in &ours {
        match theirs.get(key) {
            Some(m2) => pairs.push((*key, m, m2)),
            None => ours_left.push((*key, m)),
        }
    }
    let theirs_left: Vec<_> = theirs.iter().filter(|(k, _)| !ours.contains_key(k)).collect();
    let mut one_side = 0;
    if ours_left.len() == theirs_left.len() {
        pairs.extend(ours_left.iter().zip(&theirs_left).map(|((k, m), (_, m2))| (*k, *m, *m2)));
    } else {
        one_side = ours_left.len() + theirs_left.len();
    }
    for (key, (ty, fields), (ty2, fields2)) in pairs {
        t.messages += 1;
        t.fields += fields.iter().filter(|f| !f.0.starts_with(ANOMALY)).count();
        t.anomalies += fields.iter().filter(|f| f.0.starts_with(ANOMALY)).count();
        for f in fields.iter().filter_map(|f| f.0.strip_prefix(ANOMALY)) {
            t.codes.insert(f.to_string());
        }
        if ty != ty2 || fields != fields2 {
            let only_ours: Vec<_> = fields.iter().filter(|f| !fields2.contains(f)).collect();
            let only_theirs: Vec<_> = fields2.iter().filter(|f| !fields.contains(f)).collect();
            t.differences.push(format!(
                "{label} frame {} #{}: type {ty} vs {ty2}; ctiscope only {only_ours:?}; plugin only {only_theirs:?}",
                key.0, key.1
            ));
        }
    }
    if one_side > 0 {
        if framing_differs {
            t.one_side += one_side;
        } else {
            t.differences.push(format!("{label}: {one_side} messages shown by one side only"));
        }
    }
    eprintln!(
        "{label}: {} ctiscope messages, {} plugin messages, {one_side} on one side only",
        ours.len(),
        theirs.len()
    );
}

#[test]
fn lua_plugin_shows_what_ctiscope_decodes() {
    if !tool_available("tshark", have_tshark()) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ctiscope-dissector-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plugin = dir.join("cti.lua");
    ctiscope(&["dissector", "--lua", "-o", plugin.to_str().unwrap()]);
    let kinds = field_kinds();
    let mut t = Tally::default();
    let mut files: Vec<PathBuf> = Vec::new();
    for d in ["captures", "tests/data"] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(d))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_str().unwrap();
                n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".pcap.gz")
            })
            .collect();
        v.sort();
        files.extend(v);
    }
    for f in &files {
        let label = f.strip_prefix(root()).unwrap().display().to_string();
        compare(&plugin, f, &label, &kinds, &mut t);
    }
    for v in 13..=25 {
        let f = dir.join(format!("synth-v{v}.pcap"));
        let vs = v.to_string();
        ctiscope(&["synth", "--protocol-version", &vs, "--messages", "2000", "-w", f.to_str().unwrap()]);
        compare(&plugin, &f, &format!("synth v{v}"), &kinds, &mut t);
    }
    // What real implementations send: fixed parts of a neighbouring version, with and
    // without the OPEN_REQ (the version stated, then inferred).
    for d in
        [PV19_WITHOUT_DEPARTMENT, PV24_WITHOUT_SESSION_TYPE, PV18_WITH_DEPARTMENT, PV24_WITHOUT_DEPARTMENT]
    {
        for with_open_req in [true, false] {
            let f = dialects::capture(d, with_open_req);
            let open_req = if with_open_req { "with its OPEN_REQ" } else { "its OPEN_REQ lost" };
            let label = format!(
                "PV{} session, fixed parts of {} and {}, {open_req}",
                d.version, d.open_conf, d.agent_state
            );
            compare(&plugin, &f, &label, &kinds, &mut t);
        }
    }
    // A field a later version adds, at a stated version (tag_not_allowed) and an inferred
    // one (no anomaly).
    for with_open_req in [true, false] {
        let f = dir.join(format!("later-field-{with_open_req}.pcap"));
        std::fs::write(&f, later_field_capture(with_open_req)).unwrap();
        compare(
            &plugin,
            &f,
            &format!("PV15 session, a PV16 field, open_req {with_open_req}"),
            &kinds,
            &mut t,
        );
    }
    let f = dir.join("anomalies.pcap");
    std::fs::write(&f, anomaly_capture()).unwrap();
    compare(&plugin, &f, "crafted anomalies", &kinds, &mut t);
    // Anomalies: oversized values and messages, bad counts, a dropped field.
    let f = dir.join("synth-faults.pcap");
    ctiscope(&[
        "synth",
        "--messages",
        "3000",
        "--faults",
        "oversize=0.02,bad-count=0.02,drop-field=AgentID",
        "-w",
        f.to_str().unwrap(),
    ]);
    compare(&plugin, &f, "synth faults", &kinds, &mut t);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "compared {} captures: {} messages, {} fields, {} anomalies; {} messages on one side only (framing, listed); {} differences",
        t.files,
        t.messages,
        t.fields,
        t.anomalies,
        t.one_side,
        t.differences.len()
    );
    for d in t.differences.iter().take(30) {
        eprintln!("  {d}");
    }
    assert!(t.differences.is_empty(), "{} differences", t.differences.len());
    // The crafted capture and the faults make the plugin show these codes, each compared.
    for code in [
        "count_mismatch",
        "count_over_max",
        "too_many_anomalies",
        "unknown_tag",
        "value_too_long",
        "fixed_part_short",
        "layout_variant",
    ] {
        assert!(t.codes.contains(code), "{code} was not compared: {:?}", t.codes);
    }
}

/// The plugin pairs each confirm with its request by InvokeID per connection, as ctiscope
/// does: `cti.request_in` and `cti.latency` on the confirm, `cti.response_in` on the request
/// (tshark's second pass), on every request/confirm pair of the shipped capture.
#[test]
fn lua_plugin_pairs_requests_and_confirms() {
    if !tool_available("tshark", have_tshark()) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ctiscope-dissector-pairs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plugin = dir.join("cti.lua");
    ctiscope(&["dissector", "--lua", "-o", plugin.to_str().unwrap()]);
    let cap = root().join("captures/contact-center.pcapng");
    // ctiscope's pairs: (confirm frame, request frame, latency in ns) from the timeline.
    let timeline = ctiscope(&["timeline", "-T", "jsonl", cap.to_str().unwrap()]);
    let mut want: Vec<(u64, u64)> = Vec::new();
    for l in timeline.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        let detail = v["detail"].as_str().unwrap_or("");
        if let Some(i) = detail.find("(frame ") {
            let req: u64 = detail[i + 7..].split(')').next().unwrap().parse().unwrap();
            want.push((v["frame"].as_u64().unwrap(), req));
        }
    }
    assert!(want.len() > 50);
    let out = Command::new("tshark")
        .args(["-n", "-2", "-X"])
        .arg(format!("lua_script:{}", plugin.display()))
        .arg("-r")
        .arg(&cap)
        .args(["-Y", "cti.request_in", "-T", "fields", "-e", "frame.number", "-e", "cti.request_in"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut got: Vec<(u64, u64)> = Vec::new();
    for l in text.lines() {
        let mut cols = l.split('\t');
        let frame: u64 = cols.next().unwrap().parse().unwrap();
        for r in cols.next().unwrap_or("").split(',').filter(|x| !x.is_empty()) {
            got.push((frame, r.parse().unwrap()));
        }
    }
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "confirm frame, request frame");
    // The requests point at their answers.
    let out = Command::new("tshark")
        .args(["-n", "-2", "-X"])
        .arg(format!("lua_script:{}", plugin.display()))
        .arg("-r")
        .arg(&cap)
        .args(["-Y", "cti.response_in", "-T", "fields", "-e", "frame.number", "-e", "cti.response_in"])
        .output()
        .unwrap();
    let mut back: Vec<(u64, u64)> = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let mut cols = l.split('\t');
        let frame: u64 = cols.next().unwrap().parse().unwrap();
        for r in cols.next().unwrap_or("").split(',').filter(|x| !x.is_empty()) {
            back.push((r.parse().unwrap(), frame));
        }
    }
    back.sort_unstable();
    assert_eq!(back, want, "request frame -> response frame");
    let _ = std::fs::remove_dir_all(&dir);
}
