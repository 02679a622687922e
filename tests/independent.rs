//! A capture ctiscope's own encoder did not write: `tools/independent/` (Python, standard
//! library only, built from spec/ and docs/protocol.md) ran a CTI server and an agent desktop
//! over real TCP on 127.0.0.1, tcpdump captured it, and the script wrote every message it sent
//! to a truth file. These tests decode the committed capture and compare it with that truth,
//! so that a misunderstanding shared by ctiscope's encoder and decoder would show.
//! They need neither Python, tcpdump nor root.

mod common;

use common::{ctiscope, root};
use serde_json::Value as Json;
use std::collections::BTreeMap;

const PCAP: &str = "tests/data/independent/independent.pcap";
const TRUTH: &str = "tests/data/independent/independent.truth.jsonl";

/// (header line, messages) of the truth file.
fn truth() -> (Json, Vec<Json>) {
    let text = std::fs::read_to_string(root().join(TRUTH)).unwrap();
    let mut rows = text.lines().map(|l| serde_json::from_str::<Json>(l).unwrap());
    let head = rows.next().unwrap();
    (head, rows.collect())
}

fn port() -> String {
    truth().0["port"].as_u64().unwrap().to_string()
}

/// Every JSONL object of `decode -T jsonl --port P`.
fn decoded() -> Vec<Json> {
    let p = port();
    let (out, err, code) = ctiscope(&["decode", "-T", "jsonl", "--port", &p, PCAP]);
    assert_eq!(code, 0, "{err}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

type Key = (u64, String);

fn by_flow<'a>(rows: impl Iterator<Item = &'a Json>) -> BTreeMap<Key, Vec<&'a Json>> {
    let mut m: BTreeMap<Key, Vec<&Json>> = BTreeMap::new();
    for r in rows {
        let k = (r["connection"].as_u64().unwrap(), r["direction"].as_str().unwrap().to_string());
        m.entry(k).or_default().push(r);
    }
    m
}

/// The value table `table` of spec/values.tsv: value -> name.
fn value_names(table: &str) -> BTreeMap<u64, String> {
    let text = std::fs::read_to_string(root().join("spec/values.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c.len() >= 3 && c[0] == table).then(|| (c[1].parse().ok(), c[2].to_string()))
        })
        .filter_map(|(v, n)| v.map(|v| (v, n)))
        .collect()
}

#[test]
fn connections_are_the_three_sessions() {
    let (head, _) = truth();
    let p = port();
    let rows = decoded();
    let starts: Vec<&Json> = rows.iter().filter(|r| r["event"] == "connection").collect();
    let ends: Vec<&Json> = rows.iter().filter(|r| r["event"] == "connection_end").collect();
    let sessions = head["sessions"].as_array().unwrap();
    assert_eq!(starts.len(), sessions.len());
    assert_eq!(ends.len(), sessions.len());
    for (i, s) in starts.iter().enumerate() {
        assert_eq!(s["connection"], i as u64);
        assert_eq!(s["start"], "handshake", "{s}");
        assert_eq!(s["detection"], "port", "{s}");
        assert!(s["server"].as_str().unwrap().ends_with(&format!(":{p}")), "{s}");
    }
    for e in &ends {
        assert_eq!(e["end"], "fin", "{e}");
    }
    let others: Vec<&Json> = rows
        .iter()
        .filter(|r| !["message", "connection", "connection_end"].contains(&r["event"].as_str().unwrap()))
        .collect();
    assert!(others.is_empty(), "gaps, resyncs or other events: {others:?}");
}

#[test]
fn messages_match_the_truth() {
    let (head, truth) = truth();
    let rows = decoded();
    let messages: Vec<&Json> = rows.iter().filter(|r| r["event"] == "message").collect();
    let want = by_flow(truth.iter());
    let got = by_flow(messages.iter().copied());
    let counts =
        |m: &BTreeMap<Key, Vec<&Json>>| m.iter().map(|(k, v)| (k.clone(), v.len())).collect::<Vec<_>>();
    assert_eq!(counts(&got), counts(&want), "messages per connection and direction");
    let agent_states = value_names("AgentState");
    let mut compared = 0;
    for (key, wants) in &want {
        for (i, (w, g)) in wants.iter().zip(&got[key]).enumerate() {
            let at = format!("connection {} {} message {i} ({})", key.0, key.1, w["type"]);
            assert_eq!(g["type"], w["type"], "{at}");
            assert_eq!(g["type_id"], w["type_id"], "{at}");
            assert_eq!(g["length"], w["length"], "{at}: MessageLength");
            let v = &head["sessions"][key.0 as usize]["protocol_version"];
            assert_eq!(&g["protocol_version"], v, "{at}");
            assert_eq!(g["version_source"], "seen", "{at}");
            assert_eq!(g["anomalies"], Json::Array(vec![]), "{at}: decode anomalies");
            for (field, value) in w["fields"].as_object().unwrap() {
                assert_eq!(&g["fields"][field], value, "{at}: fixed field {field}");
            }
            // No fixed field the truth did not put in (a version-gated field decoded too early).
            let gf: Vec<&String> = g["fields"].as_object().unwrap().keys().collect();
            let wf: Vec<&String> = w["fields"].as_object().unwrap().keys().collect();
            assert_eq!(gf, wf, "{at}: fixed field names and order");
            if let Some(state) = w["fields"].get("AgentState").and_then(Json::as_u64) {
                assert_eq!(g["named"]["AgentState"], agent_states[&state].as_str(), "{at}: named AgentState");
            }
            let gfl = g["floating"].as_array().unwrap();
            let wfl = w["floating"].as_array().unwrap();
            assert_eq!(gfl.len(), wfl.len(), "{at}: floating fields {gfl:?}");
            for (gx, wx) in gfl.iter().zip(wfl) {
                assert_eq!(gx["tag"], wx["tag"], "{at}: floating tag");
                assert_eq!(gx["name"], wx["name"], "{at}: floating name of tag {}", wx["tag"]);
                assert_eq!(gx["value"], wx["value"], "{at}: floating {}", wx["name"]);
                for k in ["group", "index"] {
                    if wx.get(k).is_some() {
                        assert_eq!(gx[k], wx[k], "{at}: floating {} {k}", wx["name"]);
                    }
                }
            }
            compared += 1;
        }
    }
    assert_eq!(compared, truth.len());
}

/// (rule, connection, frames) of `check -T jsonl` with extra arguments.
fn findings(extra: &[&str]) -> Vec<(String, u64, Json)> {
    let p = port();
    let mut args = vec!["check", "-T", "jsonl", "--port", &p];
    args.extend_from_slice(extra);
    args.push(PCAP);
    let (out, err, code) = ctiscope(&args);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .map(|f| {
            (f["rule"].as_str().unwrap().to_string(), f["connection"].as_u64().unwrap(), f["frames"].clone())
        })
        .collect()
}

/// Frame of the unanswered heartbeat (the first HEARTBEAT_REQ of connection 0).
fn unanswered_heartbeat_frame() -> Json {
    let rows = decoded();
    let hb = rows.iter().find(|r| r["type"] == "HEARTBEAT_REQ" && r["connection"] == 0).unwrap();
    assert_eq!(hb["fields"]["InvokeID"], 2);
    Json::Array(vec![hb["frame"].clone()])
}

#[test]
fn check_reports_only_what_the_scenario_caused() {
    // The scenario leaves HEARTBEAT_REQ InvokeID 2 of session 1 unanswered for 1.5 s; the
    // FAILURE_CONF answers a SET_AGENT_STATE_REQ, which is allowed (no rule applies).
    let frame = unanswered_heartbeat_frame();
    assert_eq!(
        findings(&["--request-timeout", "1"]),
        vec![("heartbeat-unanswered".to_string(), 0, frame.clone())]
    );
    // With the default 15 s timeout the session closes first, the heartbeat still
    // outstanding: never answered.
    assert_eq!(findings(&[]), vec![("heartbeat-unanswered".to_string(), 0, frame)]);
}
