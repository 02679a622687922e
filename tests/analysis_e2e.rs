//! The analysis commands (`check`, `stats`, `timeline`) and the `decode` filters run by the
//! built binary over real capture files: the captures of `tests/data/` against golden outputs
//! in `tests/snapshots/analysis/`, and small captures written here with the `Conv` scenario
//! builder, one per rule that must fire.
//!
//! Regenerate the golden outputs after a deliberate change with
//! `CTISCOPE_BLESS=1 cargo test --test analysis_e2e` and review the diff like code.

mod common;

use common::*;
use ctiscope::capture::build::Link;
use ctiscope::cti::encode::MessageBuilder;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const TS0: i64 = 1_767_600_000_000_000_000; // 2026-01-05 08:00:00 UTC
const V: u32 = 24;

/// Every capture directly in `tests/data/` (not its subfolders, which hold captures with
/// tests of their own), sorted.
fn data_captures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("tests/data"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| format!("tests/data/{}", e.file_name().to_string_lossy()))
        .collect();
    v.sort();
    assert!(v.len() >= 10, "tests/data holds the test captures");
    v
}

fn snap_base(rel: &str) -> String {
    Path::new(rel).file_name().unwrap().to_string_lossy().replace('.', "_")
}

/// Rule ids of `check -T jsonl` output, and the findings.
fn jsonl(out: &str) -> Vec<Json> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

// ---------------------------------------------------------------------------------------
// The captures of tests/data.

#[test]
fn check_stats_and_timeline_of_every_test_capture() {
    for rel in data_captures() {
        let base = snap_base(&rel);
        let unreadable = rel.contains("truncated");
        let input_code = if unreadable { 2 } else { 0 };

        let (out, err, code) = ctiscope(&["check", &rel]);
        assert_eq!(code, input_code, "check {rel}: {err}");
        if unreadable {
            assert!(err.contains(&rel) && err.contains("frame 15"), "{err}");
            assert_eq!(err.matches(&rel).count(), 1, "the file is named once: {err}");
        } else {
            assert!(err.is_empty(), "check {rel}: {err}");
        }
        snapshot(&format!("{base}.check.txt"), &out);

        let (out, err, code) = ctiscope(&["stats", &rel]);
        assert_eq!(code, input_code, "stats {rel}: {err}");
        snapshot(&format!("{base}.stats.txt"), &out);

        let (out, err, code) = ctiscope(&["timeline", &rel]);
        assert_eq!(code, input_code, "timeline {rel}: {err}");
        snapshot(&format!("{base}.timeline.txt"), &out);
    }
}

#[test]
fn clean_test_captures_have_no_findings() {
    for rel in data_captures() {
        if ["gap", "one-direction", "truncated"].iter().any(|s| rel.contains(s)) {
            continue;
        }
        let (out, err, code) = ctiscope(&["check", "-T", "jsonl", "--fail-on", "note", &rel]);
        assert_eq!(code, 0, "{rel}: {out}{err}");
        assert_eq!(out, "", "{rel}");
    }
}

#[test]
fn midstream_gap_and_one_direction_captures_are_not_violations() {
    // The capture starts after the OPEN_REQ and OPEN_CONF: nothing to report.
    let (out, _, code) =
        ctiscope(&["check", "-T", "jsonl", "--fail-on", "note", "tests/data/midstream.pcap"]);
    assert_eq!((out.as_str(), code), ("", 0));

    // A lost segment: the gap and the bytes skipped after it, nothing piled on top.
    let (out, _, code) = ctiscope(&["check", "-T", "jsonl", "tests/data/gap.pcap"]);
    assert_eq!(code, 0, "warnings and notes only");
    let rules: Vec<String> = jsonl(&out).iter().map(|f| f["rule"].as_str().unwrap().to_string()).collect();
    assert_eq!(rules, ["cti-resync", "tcp-gap"]);
    let (_, _, code) = ctiscope(&["check", "--fail-on", "warning", "tests/data/gap.pcap"]);
    assert_eq!(code, 1);

    // Only the server's packets: one note, no unmatched confirms, no "not open".
    let (out, _, code) = ctiscope(&["check", "-T", "jsonl", "tests/data/one-direction.pcap"]);
    assert_eq!(code, 0);
    let f = jsonl(&out);
    assert_eq!(f.len(), 1, "{out}");
    assert_eq!(f[0]["rule"], "direction-not-captured");
    assert_eq!(f[0]["severity"], "note");
    assert_eq!(f[0]["frames"], serde_json::json!([2]));
    let (_, _, code) = ctiscope(&["check", "--fail-on", "note", "tests/data/one-direction.pcap"]);
    assert_eq!(code, 1);
}

#[test]
fn unreadable_inputs_exit_2() {
    for cmd in ["check", "stats", "timeline"] {
        let (out, err, code) = ctiscope(&[cmd, "tests/data/does-not-exist.pcap"]);
        assert_eq!(code, 2, "{cmd}");
        assert!(err.contains("does-not-exist.pcap"), "{cmd}: {err}");
        // Nothing analysed: an empty report at most.
        assert!(!out.contains("| 0  "), "{cmd}: {out}");
    }
    // An unreadable input wins over findings.
    let (_, _, code) = ctiscope(&["check", "--fail-on", "note", "tests/data/truncated.pcap"]);
    assert_eq!(code, 2);
}

#[test]
fn several_inputs_get_a_header_each() {
    let (out, _, code) = ctiscope(&["check", "tests/data/desktop-ethernet.pcap", "tests/data/gap.pcap"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("# tests/data/desktop-ethernet.pcap\n"), "{out}");
    assert!(out.contains("\n# tests/data/gap.pcap\n"), "{out}");
}

// ---------------------------------------------------------------------------------------
// One capture per rule, written here.

/// A conversation being scripted, with the frame number of each packet.
struct Script {
    conv: Conv,
}

impl Script {
    fn new() -> Self {
        let mut conv = Conv::new(Link::Ethernet, "10.20.0.15:51234", "10.10.1.20:42027", [1000, 5000], TS0);
        conv.handshake();
        Script { conv }
    }

    /// Send one message from `side`; returns its frame number.
    fn send(&mut self, side: usize, msg: &[u8]) -> u64 {
        self.conv.send(side, msg, 1460);
        self.conv.pkts.len() as u64
    }

    /// Let `secs` seconds pass.
    fn wait(&mut self, secs: i64) {
        self.conv.ts += secs * 1_000_000_000;
    }

    /// OPEN_REQ (InvokeID 1) and OPEN_CONF; `call_mask` is the OPEN_REQ's CallMsgMask.
    fn open(&mut self, call_mask: u64) -> (u64, u64) {
        (self.send(C, &open_req(1, call_mask)), self.send(S, &open_conf(1)))
    }

    /// CLOSE_REQ and CLOSE_CONF with InvokeID `invoke`, then FINs.
    fn close(&mut self, invoke: u64) -> (u64, u64) {
        let a = self.send(C, &close_req(invoke));
        let b = self.send(S, &inv("CLOSE_CONF", invoke));
        self.conv.close();
        (a, b)
    }

    /// A reset from the client; returns its frame number.
    fn rst(&mut self) -> u64 {
        let f = self.conv.segment(C, self.conv.seq[C], RST | ACK, &[]);
        self.conv.push(f);
        self.conv.pkts.len() as u64
    }

    /// Write the capture to a temporary file named after `name`.
    fn write(&self, name: &str) -> TempFile {
        let p = std::env::temp_dir().join(format!("ctiscope-e2e-{}-{name}.pcap", std::process::id()));
        std::fs::write(&p, pcap_bytes(1, &self.conv.pkts)).unwrap();
        TempFile(p)
    }
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn b(name: &str) -> MessageBuilder {
    MessageBuilder::named(name, V)
}

fn open_req(invoke: u64, call_mask: u64) -> Vec<u8> {
    let mut m = b("OPEN_REQ");
    m.set("InvokeID", invoke).unwrap().set("VersionNumber", V as u64).unwrap();
    m.set("IdleTimeout", 0xFFFF_FFFF).unwrap().set("PeripheralID", 5000).unwrap();
    m.set("ServicesRequested", 0x7).unwrap().set("CallMsgMask", call_mask).unwrap();
    m.text("ClientID", "desk1").unwrap().bytes("ClientPassword", b"").unwrap();
    m.text("AgentExtension", "3001").unwrap().text("AgentID", "1001").unwrap();
    m.build()
}

fn open_conf(invoke: u64) -> Vec<u8> {
    let mut m = b("OPEN_CONF");
    m.set("InvokeID", invoke).unwrap().set("ServicesGranted", 0x7).unwrap();
    m.set("PeripheralOnline", 1).unwrap().set("PeripheralType", 17).unwrap().set("AgentState", 2).unwrap();
    m.set("SessionType", 1).unwrap();
    m.number("NumPeripherals", 0).unwrap();
    m.build()
}

fn inv(name: &str, invoke: u64) -> Vec<u8> {
    let mut m = b(name);
    m.set("InvokeID", invoke).unwrap();
    m.build()
}

fn close_req(invoke: u64) -> Vec<u8> {
    let mut m = b("CLOSE_REQ");
    m.set("InvokeID", invoke).unwrap().set("Status", 0).unwrap();
    m.build()
}

fn query_agent_state(invoke: u64) -> Vec<u8> {
    let mut m = b("QUERY_AGENT_STATE_REQ");
    m.set("InvokeID", invoke).unwrap().set("PeripheralID", 5000).unwrap();
    m.set("MRDID", 1).unwrap().set("ICMAgentID", 0xFFFF_FFFF).unwrap();
    m.text("AgentID", "1001").unwrap();
    m.build()
}

fn agent_state_event(state: u64) -> Vec<u8> {
    let mut m = b("AGENT_STATE_EVENT");
    m.set("PeripheralID", 5000).unwrap().set("AgentState", state).unwrap().set("PeripheralType", 17).unwrap();
    m.text("AgentID", "1001").unwrap().text("AgentExtension", "3001").unwrap();
    m.number("Direction", 0).unwrap().number("MaxBeyondTaskLimit", 0).unwrap();
    m.build()
}

fn call_msg(name: &str, call: u64) -> MessageBuilder {
    let mut m = b(name);
    m.set("PeripheralID", 5000).unwrap().set("PeripheralType", 17).unwrap();
    m.set("ConnectionCallID", call).unwrap().set("ConnectionDeviceIDType", 0).unwrap();
    m.text("ConnectionDeviceID", "3001").unwrap();
    m
}

fn begin_call(call: u64) -> Vec<u8> {
    let mut m = call_msg("BEGIN_CALL_EVENT", call);
    m.set("CallType", 1).unwrap().set("NumNamedVariables", 0).unwrap();
    m.build()
}

fn end_call(call: u64) -> Vec<u8> {
    call_msg("END_CALL_EVENT", call).build()
}

fn call_cleared(call: u64) -> Vec<u8> {
    let mut m = call_msg("CALL_CLEARED_EVENT", call);
    m.set("LocalConnectionState", 0).unwrap().set("EventCause", 0xFFFF).unwrap();
    m.build()
}

fn config_begin() -> Vec<u8> {
    let mut m = b("CONFIG_BEGIN_EVENT");
    m.set("ConfigType", 1).unwrap().set("ConfigInformation", 1).unwrap();
    for k in [
        "ServiceConfigKey",
        "SkillGroupConfigKey",
        "AgentConfigKey",
        "DeviceConfigKey",
        "CallTypeConfKey",
        "PeripheralConfigKey",
        "AgentDeskConfigKey",
    ] {
        m.bytes(k, &[0; 8]).unwrap();
    }
    m.build()
}

/// `check -T jsonl` of a capture: (rule, frames) of each finding, and the exit code.
fn check(file: &TempFile, extra: &[&str]) -> (Vec<(String, Vec<u64>)>, i32) {
    let mut args = vec!["check", "-T", "jsonl", file.path()];
    args.extend_from_slice(extra);
    let (out, err, code) = ctiscope(&args);
    assert!(err.is_empty(), "{err}");
    let found = jsonl(&out)
        .iter()
        .map(|f| {
            let frames = f["frames"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
            (f["rule"].as_str().unwrap().to_string(), frames)
        })
        .collect();
    (found, code)
}

/// The scenario's findings are exactly `want`, in order.
fn expect(name: &str, s: &Script, want: &[(&str, &[u64])], code: i32) {
    let file = s.write(name);
    let (found, got_code) = check(&file, &[]);
    let want: Vec<(String, Vec<u64>)> = want.iter().map(|(r, f)| (r.to_string(), f.to_vec())).collect();
    assert_eq!(found, want, "{name}");
    assert_eq!(got_code, code, "{name}: exit status");
}

#[test]
fn a_clean_written_session_has_no_findings() {
    let mut s = Script::new();
    s.open(0xffff);
    s.send(C, &inv("HEARTBEAT_REQ", 2));
    s.send(S, &inv("HEARTBEAT_CONF", 2));
    s.send(S, &agent_state_event(3));
    s.send(S, &begin_call(77));
    s.send(S, &call_cleared(77));
    s.send(S, &end_call(77));
    s.send(S, &config_begin());
    let mut end = b("CONFIG_END_EVENT");
    end.set("ConfigEndStatus", 0).unwrap();
    s.send(S, &end.build());
    s.close(3);
    let file = s.write("clean");
    let (found, code) = check(&file, &["--fail-on", "note"]);
    assert_eq!(found, vec![]);
    assert_eq!(code, 0);
}

#[test]
fn request_never_answered() {
    let mut s = Script::new();
    s.open(0);
    let q = s.send(C, &query_agent_state(2));
    s.wait(20);
    s.close(3);
    expect("unanswered", &s, &[("invoke-unanswered", &[q])], 0);

    // The session closes within the timeout with the request outstanding: the server
    // answered CLOSE_REQ and never the query.
    let mut s = Script::new();
    s.open(0);
    let q = s.send(C, &query_agent_state(2));
    s.close(3);
    expect("closed", &s, &[("invoke-unanswered", &[q])], 0);
    let file = s.write("closed-text");
    let (out, _, _) = ctiscope(&["check", "--all", file.path()]);
    assert!(out.contains("never answered: the server closed the session (CLOSE_CONF"), "{out}");

    // Still within the timeout when the capture ends: a note.
    let mut s = Script::new();
    s.open(0);
    let q = s.send(C, &query_agent_state(2));
    s.wait(1);
    s.send(C, &inv("HEARTBEAT_REQ", 9));
    s.send(S, &inv("HEARTBEAT_CONF", 9));
    expect("pending", &s, &[("invoke-pending-at-end", &[q])], 0);
}

#[test]
fn heartbeat_unanswered() {
    let mut s = Script::new();
    s.open(0);
    let h = s.send(C, &inv("HEARTBEAT_REQ", 2));
    s.wait(16);
    s.send(C, &inv("HEARTBEAT_REQ", 3));
    s.send(S, &inv("HEARTBEAT_CONF", 3));
    s.close(4);
    expect("heartbeat", &s, &[("heartbeat-unanswered", &[h])], 0);
}

#[test]
fn confirm_with_no_request() {
    let mut s = Script::new();
    s.open(0);
    let c = s.send(S, &inv("HEARTBEAT_CONF", 9));
    s.close(3);
    expect("unmatched", &s, &[("confirm-unmatched", &[c])], 0);
}

#[test]
fn confirm_request_before_the_capture_is_a_note() {
    // The same conversation seen from after the OPEN_CONF, the HEARTBEAT_REQ uncaptured.
    let mut s = Script::new();
    s.open(0);
    s.send(C, &inv("HEARTBEAT_REQ", 2));
    let start = s.conv.pkts.len();
    s.send(S, &inv("HEARTBEAT_CONF", 2));
    s.close(3);
    s.conv.pkts.drain(..start);
    expect("before-capture", &s, &[("confirm-request-not-captured", &[1])], 0);
}

#[test]
fn confirm_of_the_wrong_type() {
    let mut s = Script::new();
    s.open(0);
    let q = s.send(C, &query_agent_state(2));
    let c = s.send(S, &inv("HEARTBEAT_CONF", 2));
    s.close(3);
    expect("wrong-type", &s, &[("confirm-wrong-type", &[q, c])], 1);
}

#[test]
fn invoke_id_reused() {
    let mut s = Script::new();
    s.open(0);
    let a = s.send(C, &inv("HEARTBEAT_REQ", 2));
    let b2 = s.send(C, &inv("HEARTBEAT_REQ", 2));
    s.send(S, &inv("HEARTBEAT_CONF", 2));
    s.close(3);
    expect("reused", &s, &[("invoke-reused", &[a, b2])], 0);
}

#[test]
fn second_open_req() {
    let mut s = Script::new();
    let (o, _) = s.open(0);
    let o2 = s.send(C, &open_req(2, 0));
    s.send(S, &open_conf(2));
    s.close(3);
    expect("reopen", &s, &[("open-duplicate", &[o, o2])], 0);
}

#[test]
fn message_before_open_req() {
    let mut s = Script::new();
    let h = s.send(C, &inv("HEARTBEAT_REQ", 5));
    s.send(S, &inv("HEARTBEAT_CONF", 5));
    s.open(0);
    s.close(3);
    expect("not-open", &s, &[("session-not-open", &[h])], 1);

    // A request sent before the OPEN_CONF arrived.
    let mut s = Script::new();
    let o = s.send(C, &open_req(1, 0));
    let h = s.send(C, &inv("HEARTBEAT_REQ", 2));
    s.send(S, &open_conf(1));
    s.send(S, &inv("HEARTBEAT_CONF", 2));
    s.close(3);
    expect("early", &s, &[("session-not-open", &[o, h])], 1);
}

#[test]
fn data_after_close_conf() {
    let mut s = Script::new();
    s.open(0);
    s.send(C, &close_req(2));
    let cc = s.send(S, &inv("CLOSE_CONF", 2));
    let ev = s.send(S, &agent_state_event(3));
    s.conv.close();
    expect("after-close", &s, &[("data-after-close", &[cc, ev])], 0);
}

#[test]
fn call_event_after_end_call_event() {
    let mut s = Script::new();
    s.open(0xffff);
    s.send(S, &begin_call(77));
    s.send(S, &end_call(77));
    let late = s.send(S, &call_cleared(77));
    s.close(3);
    expect("after-end", &s, &[("call-event-after-end", &[late])], 0);
}

#[test]
fn begin_call_event_twice() {
    let mut s = Script::new();
    s.open(0xffff);
    let b1 = s.send(S, &begin_call(77));
    let b2 = s.send(S, &begin_call(77));
    s.send(S, &end_call(77));
    s.close(3);
    expect("begin-twice", &s, &[("call-begin-duplicate", &[b1, b2])], 0);
}

#[test]
fn config_begin_without_end() {
    let mut s = Script::new();
    s.open(0);
    let cb = s.send(S, &config_begin());
    s.close(3);
    let fin = s.conv.pkts.len() as u64 - 1; // the second FIN ends the connection
    expect("config-unpaired", &s, &[("config-unpaired", &[cb, fin])], 0);
}

#[test]
fn reset_without_close() {
    let mut s = Script::new();
    s.open(0);
    let r = s.rst();
    expect("rst", &s, &[("reset-without-close", &[r])], 0);

    // After CLOSE_REQ the client resets: that is how sessions end.
    let mut s = Script::new();
    s.open(0);
    s.send(C, &close_req(2));
    s.send(S, &inv("CLOSE_CONF", 2));
    s.rst();
    expect("rst-after-close", &s, &[], 0);
}

#[test]
fn lost_request_is_not_a_violation() {
    // The HEARTBEAT_REQ segment is lost; its confirm arrives.
    let mut s = Script::new();
    s.open(0);
    let hb = inv("HEARTBEAT_REQ", 2);
    s.conv.lose(C, hb.len() as u32);
    s.send(C, &inv("HEARTBEAT_REQ", 3));
    let c2 = s.send(S, &inv("HEARTBEAT_CONF", 2));
    s.send(S, &inv("HEARTBEAT_CONF", 3));
    s.close(4);
    let file = s.write("lost-request");
    let (found, code) = check(&file, &[]);
    let rules: BTreeSet<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
    assert!(rules.contains("tcp-gap"), "{found:?}");
    assert!(!rules.contains("confirm-unmatched"), "{found:?}");
    assert!(found.contains(&("confirm-request-not-captured".to_string(), vec![c2])), "{found:?}");
    assert_eq!(code, 0);
}

#[test]
fn lost_open_req_is_not_a_session_violation() {
    // The OPEN_REQ segment is lost; the server's OPEN_CONF acknowledges past the hole.
    let mut s = Script::new();
    s.conv.lose(C, open_req(1, 0).len() as u32);
    s.send(S, &open_conf(1));
    // The next client segment reveals the hole.
    let hb = s.send(C, &inv("HEARTBEAT_REQ", 2));
    s.send(S, &inv("HEARTBEAT_CONF", 2));
    s.close(3);
    expect("lost-open", &s, &[("tcp-gap", &[hb])], 0);
}

#[test]
fn client_only_capture_is_one_note() {
    let mut s = Script::new();
    let (o, _) = s.open(0);
    for i in 0..4 {
        s.wait(30);
        s.send(C, &inv("HEARTBEAT_REQ", 2 + i));
        s.send(S, &inv("HEARTBEAT_CONF", 2 + i));
    }
    s.close(9);
    let server = s.conv.server;
    s.conv.pkts.retain(|(_, p)| u16::from_be_bytes([p[34], p[35]]) != server.port());
    // Frame numbers shift: the OPEN_REQ is now the third frame (SYN, ACK, OPEN_REQ).
    assert_eq!(o, 4);
    expect("client-only", &s, &[("direction-not-captured", &[3])], 0);
}

// ---------------------------------------------------------------------------------------
// decode filters.

/// Message type names of the summary lines, and the bracketed event lines.
fn summary_parts(out: &str) -> (Vec<String>, Vec<String>) {
    let mut msgs = Vec::new();
    let mut events = Vec::new();
    for l in out.lines() {
        if let Some(i) = l.find(" [") {
            events.push(l[i + 1..].to_string());
        } else {
            let ty = l
                .split_whitespace()
                .find(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_') && w.len() > 3);
            msgs.push(ty.unwrap_or("?").to_string());
        }
    }
    (msgs, events)
}

#[test]
fn decode_filter_by_call() {
    let (out, _, code) = ctiscope(&["decode", "--call", "77", "tests/data/desktop-ethernet.pcap"]);
    assert_eq!(code, 0);
    let (msgs, events) = summary_parts(&out);
    assert_eq!(msgs, ["BEGIN_CALL_EVENT", "END_CALL_EVENT"]);
    assert_eq!(events.len(), 2, "connection lines still print: {out}");
    let (out, _, _) = ctiscope(&["decode", "--call", "78", "tests/data/desktop-ethernet.pcap"]);
    assert_eq!(summary_parts(&out).0, Vec::<String>::new());
}

#[test]
fn decode_filter_by_agent() {
    // AgentID 1001 and AgentExtension 3001 both name the agent, and the capture is that
    // agent's desktop session (its OPEN_REQ names the agent): every message of the session
    // is the agent's, the heartbeats and call events too.
    let (all, _, _) = ctiscope(&["decode", "tests/data/desktop-ethernet.pcap"]);
    let (every, _) = summary_parts(&all);
    assert!(every.len() > 2);
    for agent in ["1001", "3001"] {
        let (out, err, code) = ctiscope(&["decode", "--agent", agent, "tests/data/desktop-ethernet.pcap"]);
        assert_eq!(code, 0);
        assert!(err.is_empty(), "{err}");
        let (msgs, _) = summary_parts(&out);
        assert_eq!(msgs, every, "--agent {agent}");
    }
    let (out, err, _) = ctiscope(&["decode", "--agent", "100", "tests/data/desktop-ethernet.pcap"]);
    assert_eq!(summary_parts(&out).0, Vec::<String>::new(), "whole values only");
    assert!(err.contains("the selection matches no message"), "{err}");
}

#[test]
fn decode_filter_by_type() {
    let rel = "tests/data/desktop-ethernet.pcap";
    let (by_name, _, code) =
        ctiscope(&["decode", "--type", "HEARTBEAT_REQ", "--type", "heartbeat_conf", rel]);
    assert_eq!(code, 0);
    assert_eq!(summary_parts(&by_name).0, ["HEARTBEAT_REQ", "HEARTBEAT_CONF"]);
    let (by_number, _, _) = ctiscope(&["decode", "--type", "5", "--type", "6", rel]);
    assert_eq!(by_name, by_number);
    // JSON output stays well formed.
    let (out, _, _) = ctiscope(&["decode", "-T", "json", "--type", "30", rel]);
    let v: Json = serde_json::from_str(&out).unwrap();
    let types: Vec<&str> = v.as_array().unwrap().iter().filter_map(|o| o["type"].as_str()).collect();
    assert!(types.contains(&"AGENT_STATE_EVENT"), "{out}");
    assert!(!types.contains(&"OPEN_REQ"), "{out}");
    let (_, err, code) = ctiscope(&["decode", "--type", "NO_SUCH_TYPE", rel]);
    assert_eq!(code, 2);
    assert!(err.contains("NO_SUCH_TYPE"), "{err}");
}

#[test]
fn decode_filter_by_session() {
    let rel = "tests/data/multi-connection.pcapng";
    let (all, _, _) = ctiscope(&["decode", rel]);
    let (out, _, code) = ctiscope(&["decode", "--session", "2", rel]);
    assert_eq!(code, 0);
    let (msgs, events) = summary_parts(&out);
    assert_eq!(msgs.len(), 9, "{out}");
    assert_eq!(events, ["[connection 2] CTI client 10.20.0.17:50002, server 10.10.1.22:9000 (handshake captured; recognised by CTI header heuristic)", "[connection 2] closed (FIN) by the client"]);
    assert!(out.lines().all(|l| all.lines().any(|a| a == l)), "a subset of the unfiltered lines");
    assert!(!out.contains("10.20.0.15"), "{out}");
    // Criteria combine.
    let (out, _, _) =
        ctiscope(&["decode", "--session", "1", "--call", "77", "--type", "END_CALL_EVENT", rel]);
    let (msgs, _) = summary_parts(&out);
    assert_eq!(msgs, ["END_CALL_EVENT"]);
    assert!(out.contains("10.10.1.21:43027 → 10.20.0.16:50001 END_CALL_EVENT"), "{out}");
    // The gap of the selected connection is kept.
    let (out, _, _) = ctiscope(&["decode", "--session", "0", "--type", "OPEN_REQ", "tests/data/gap.pcap"]);
    assert!(out.contains("[gap]") && out.contains("[resync]") && out.contains("OPEN_REQ"), "{out}");
    assert!(!out.contains("BEGIN_CALL_EVENT"), "{out}");
}

/// Compare with `tests/snapshots/analysis/NAME`.
fn snapshot(name: &str, actual: &str) {
    snapshot_in("analysis", name, actual);
}
