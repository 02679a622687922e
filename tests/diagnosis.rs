//! What `check`, `timeline` and `stats` tell a support engineer, on captures of known stories
//! (`ctiscope synth --scenario`, with their truth files): findings that name their InvokeID,
//! agent and call; one row per cause; sessions linked across a failover; requests never
//! answered when the session ends; calls counted once; captures without CTI.

mod common;

use common::*;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// A scenario written into a fresh directory: the capture's file name and its truth lines.
struct Scenario {
    dir: PathBuf,
    truth: Vec<Json>,
}

impl Scenario {
    fn new(name: &str) -> Scenario {
        let dir = std::env::temp_dir().join(format!("ctiscope-diagnosis-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (_, err, code) =
            ctiscope_in(&["synth", "--scenario", name, "-w", "cap.pcap", "--truth", "truth.jsonl"], &dir);
        assert_eq!(code, 0, "{err}");
        let truth = lines(&std::fs::read_to_string(dir.join("truth.jsonl")).unwrap());
        Scenario { dir, truth }
    }

    fn run(&self, args: &[&str]) -> (String, String, i32) {
        let mut a = args.to_vec();
        a.push("cap.pcap");
        ctiscope_in(&a, &self.dir)
    }

    fn kind(&self, kind: &str) -> Vec<&Json> {
        self.truth.iter().filter(|t| t["kind"] == kind).collect()
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn lines(s: &str) -> Vec<Json> {
    s.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// `check -T jsonl`: every finding.
fn findings(s: &Scenario) -> Vec<Json> {
    let (out, _, _) = s.run(&["check", "-T", "jsonl"]);
    lines(&out)
}

fn of_rule<'a>(f: &'a [Json], rule: &str) -> Vec<&'a Json> {
    f.iter().filter(|x| x["rule"] == rule).collect()
}

#[test]
fn failover_story() {
    let s = Scenario::new("failover");
    let f = findings(&s);

    // Every heartbeat left unanswered is a finding naming its InvokeID, frame, agent,
    // connection and endpoints, never answered because the client reset the connection.
    let hb = of_rule(&f, "heartbeat-unanswered");
    let want = s.kind("heartbeat-unanswered");
    assert_eq!(hb.len(), want.len());
    for (got, t) in hb.iter().zip(&want) {
        assert_eq!(got["invoke"], t["invoke"], "{got}");
        assert_eq!(got["frames"][0], t["frame"], "{got}");
        assert_eq!(got["connection"], t["conn"], "{got}");
        assert_eq!(got["agent"], "1001", "{got}");
        assert_eq!(got["client_id"], "desk-1001", "{got}");
        assert_eq!(got["server"], "10.10.0.1:42027", "{got}");
        assert_eq!(got["request"], "HEARTBEAT_REQ", "{got}");
        let m = got["message"].as_str().unwrap();
        assert!(m.contains(&format!("InvokeID {}", t["invoke"])), "{m}");
        assert!(m.contains("never answered: the connection was reset by the client"), "{m}");
        let outstanding = (t["outstanding_s"].as_f64().unwrap() * 1e9).round() as i64;
        assert!((got["latency_ns"].as_i64().unwrap() - outstanding).abs() < 1_000_000, "{got}");
    }
    // The SET_AGENT_STATE_REQ carries no AgentID: the session's agent is named.
    let inv = of_rule(&f, "invoke-unanswered");
    let want = s.kind("request-unanswered");
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0]["invoke"], want[0]["invoke"]);
    assert_eq!(inv[0]["request"], "SET_AGENT_STATE_REQ");
    assert_eq!(inv[0]["agent"], "1001");
    assert_eq!(inv[0]["frames"][0], want[0]["frame"]);

    // One reset warning, saying the client reset; the refused attempts are not sessions.
    let resets = of_rule(&f, "reset-without-close");
    let t = s.kind("reset");
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(resets[0]["by"], "client");
    assert_eq!(resets[0]["connection"], t[0]["conn"]);
    assert!(resets[0]["message"].as_str().unwrap().contains("after 3 unanswered HEARTBEAT_REQs"));

    // The sessions are linked: side A to side B, then B back to A after 4 refused attempts.
    let links = of_rule(&f, "session-reconnect");
    let want = s.kind("failover");
    assert_eq!(links.len(), want.len());
    for (got, t) in links.iter().zip(&want) {
        assert_eq!(got["related_connection"], t["from_conn"], "{got}");
        assert_eq!(got["connection"], t["to_conn"], "{got}");
        assert_eq!(got["agent"], "1001", "{got}");
        let gap = (t["gap_s"].as_f64().unwrap() * 1e9).round() as i64;
        assert!((got["latency_ns"].as_i64().unwrap() - gap).abs() <= 1_000_000, "{got} vs {t}");
        assert!(got["frames"].as_array().unwrap().contains(&t["from_end_frame"]), "{got}");
        let m = got["message"].as_str().unwrap();
        let refused = t["refused"].as_u64().unwrap();
        assert_eq!(m.contains(&format!("after {refused} refused connection attempts")), refused > 1, "{m}");
        assert!(
            m.contains(&format!("lost side {}", if t["from"] == "10.10.0.1:42027" { "A" } else { "B" })),
            "{m}"
        );
        assert!(m.contains("desktop of agent 1001"), "{m}");
    }
    assert!(links[0]["message"]
        .as_str()
        .unwrap()
        .contains("after 3 unanswered heartbeats, reset by the client"));
    assert!(links[1]["message"].as_str().unwrap().contains("after a FAILURE_EVENT"));

    // The FAILURE_EVENT names the desktop it ended.
    let fe = of_rule(&f, "failure-event");
    assert_eq!(fe.len(), 1);
    assert_eq!(fe[0]["frames"][0], s.kind("failure-event")[0]["frame"]);
    assert_eq!(fe[0]["agent"], "1001");
    // Nothing else.
    assert_eq!(f.len(), 3 + 1 + 1 + 2 + 1, "{f:#?}");

    // The text: a headline, then one row per cause.
    let (out, _, code) = s.run(&["check"]);
    assert_eq!(code, 0, "warnings only");
    let head: Vec<&str> = out.lines().take_while(|l| !l.is_empty()).collect();
    assert!(
        head[0].starts_with("0 errors, 8 warnings, 0 notes in 101 messages on 4 CTI connections"),
        "{out}"
    );
    assert!(
        head.iter()
            .any(|l| l
                .contains("failed over: reopened on side B 10.10.0.2:43027 (connection 2) 0.500 s later")),
        "{out}"
    );
    assert!(out.contains("| 3     | 1     | 69-75"), "the three heartbeats are one row: {out}");
    assert!(
        out.trim_end().ends_with("4 connection attempts without CTI (4 refused, 0 closed without data)"),
        "{out}"
    );
}

#[test]
fn failover_timeline_follows_the_agent() {
    let s = Scenario::new("failover");
    let (out, _, code) = s.run(&["timeline", "--agent", "1001", "-T", "jsonl"]);
    assert_eq!(code, 0);
    let rows = lines(&out);
    // Strictly in time order.
    let times: Vec<i64> = rows.iter().map(|r| r["epoch_ns"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // Every message of the agent's three desktop sessions, the SET_AGENT_STATE_REQs without
    // an AgentID among them, and none of agent 1002's.
    let sessions: Vec<&Json> = s.kind("session").into_iter().filter(|t| t["agent"] == "1001").collect();
    let conns: Vec<u64> = sessions.iter().map(|t| t["conn"].as_u64().unwrap()).collect();
    assert_eq!(conns, [0, 2, 7]);
    let messages: Vec<&Json> = rows.iter().filter(|r| r["direction"].is_string()).collect();
    let want: u64 = sessions.iter().map(|t| t["messages"].as_u64().unwrap()).sum();
    assert_eq!(messages.len() as u64, want);
    assert!(messages.iter().all(|r| conns.contains(&r["connection"].as_u64().unwrap())));
    let set_state: Vec<&&Json> = messages.iter().filter(|r| r["what"] == "SET_AGENT_STATE_REQ").collect();
    assert!(set_state.len() >= 3);
    assert!(set_state.iter().all(|r| !r["detail"].as_str().unwrap().contains("AgentID")));
    // Each session's start and end, who ended it, and the findings in place.
    let starts = rows.iter().filter(|r| r["what"] == "connection start").count();
    let ends: Vec<&Json> = rows.iter().filter(|r| r["what"] == "connection end").collect();
    assert_eq!((starts, ends.len()), (3, 3));
    assert!(ends[0]["detail"].as_str().unwrap().starts_with("reset by the client"), "{}", ends[0]);
    assert!(ends[1]["detail"].as_str().unwrap().starts_with("closed by the server"), "{}", ends[1]);
    let hb_req = rows.iter().position(|r| r["what"] == "HEARTBEAT_REQ" && r["invoke"] == 15).unwrap();
    assert_eq!(rows[hb_req + 1]["what"], "finding heartbeat-unanswered", "beside its request");
    assert!(rows.iter().any(|r| r["what"] == "finding session-reconnect"));
}

#[test]
fn failover_stats() {
    let s = Scenario::new("failover");
    let (out, _, code) = s.run(&["stats", "-T", "json"]);
    assert_eq!(code, 0);
    let st: Json = serde_json::from_str(&out).unwrap();
    let conns = st["connections"].as_array().unwrap();
    let refused: Vec<&Json> = conns.iter().filter(|c| c["cti"] == false).collect();
    assert_eq!(refused.len(), s.kind("refused").len());
    assert!(refused.iter().all(|c| c["end"] == "rst" && c["end_by"] == "server"));
    assert_eq!(st["attempts_refused"], 4);
    let b = conns.iter().find(|c| c["connection"] == 2).unwrap();
    assert_eq!(b["follows"]["connection"], 0);
    let agents = st["agents"].as_array().unwrap();
    let a = agents.iter().find(|a| a["agent"] == "1001").unwrap();
    assert_eq!(a["connections"], serde_json::json!([0, 2, 7]));
    let req = &a["requests"]["SET_AGENT_STATE_REQ"];
    // Answered on each session, and the one side A never answered.
    let truth_ok = s
        .kind("request")
        .iter()
        .filter(|t| t["request"] == "SET_AGENT_STATE_REQ" && t["answer"] == "SET_AGENT_STATE_CONF")
        .filter(|t| [0, 2, 7].contains(&t["conn"].as_u64().unwrap()))
        .count();
    assert_eq!(req["ok"], truth_ok as u64);
    assert_eq!(req["unanswered"], 1);
    let last_state = s.kind("agent-state").into_iter().rfind(|t| t["agent"] == "1001").unwrap();
    let want = last_state["state"].as_str().unwrap().trim_start_matches("AGENT_STATE_");
    assert_eq!(a["final_state"], want);
    // The text says the units and "none" for empty tables.
    let (out, _, _) = s.run(&["stats"]);
    assert!(out.contains("Calls\nnone"), "{out}");
    assert!(out.contains("Connection attempts without CTI"), "{out}");
    assert!(out.contains(" s, "), "durations carry their unit: {out}");
}

#[test]
fn a_dead_server_is_refused_attempts_not_sessions() {
    let s = Scenario::new("dead-server");
    let (out, err, code) = s.run(&["check"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim_end(),
        "0 findings: 0 errors, 0 warnings, 0 notes (0 connections, 0 messages); 4 connection attempts without CTI (4 refused, 0 closed without data)"
    );
    assert!(err.contains("no CTI exchanged in 8 packets: 4 connection attempts to a CTI port carried no data (4 refused by the server)"), "{err}");
}

#[test]
fn requests_outstanding_when_the_server_ends_the_session_were_never_answered() {
    let s = Scenario::new("server-close-pending");
    let f = findings(&s);
    let inv = of_rule(&f, "invoke-unanswered");
    let want = s.kind("request-unanswered");
    assert_eq!(inv.len(), want.len());
    assert_eq!(want.len(), 2);
    for (got, t) in inv.iter().zip(&want) {
        assert_eq!(got["invoke"], t["invoke"]);
        assert_eq!(got["request"], t["request"]);
        assert_eq!(got["frames"][0], t["frame"]);
        let m = got["message"].as_str().unwrap();
        let why = if t["ended_by"] == "close-conf" {
            "never answered: the server closed the session (CLOSE_CONF"
        } else {
            "never answered: the server ended the session (FAILURE_EVENT"
        };
        assert!(m.contains(why), "{m}");
    }
    assert!(of_rule(&f, "invoke-pending-at-end").is_empty());
}

#[test]
fn a_late_confirm_is_unanswered_then_answered() {
    let s = Scenario::new("late-confirm");
    let f = findings(&s);
    let t = s.kind("late-confirm");
    assert_eq!(f.len(), 1, "{f:#?}");
    let got = &f[0];
    assert_eq!(got["rule"], "invoke-unanswered");
    assert_eq!(got["invoke"], t[0]["invoke"]);
    assert_eq!(got["frames"], serde_json::json!([t[0]["request_frame"], t[0]["confirm_frame"]]));
    assert_eq!(got["confirm"], t[0]["confirm"]);
    let latency = (t[0]["latency_s"].as_f64().unwrap() * 1e9).round() as i64;
    assert_eq!(got["latency_ns"].as_i64().unwrap(), latency);
    assert!(got["message"].as_str().unwrap().ends_with("after 17.200 s"), "{got}");
    // The timeline shows it in place: the request, the finding, then the late answer.
    let (out, _, _) = s.run(&["timeline", "--invoke", &t[0]["invoke"].to_string(), "-T", "jsonl"]);
    let rows = lines(&out);
    let what: Vec<&str> = rows.iter().map(|r| r["what"].as_str().unwrap()).collect();
    assert_eq!(what, ["SET_AGENT_STATE_REQ", "finding invoke-unanswered", "SET_AGENT_STATE_CONF"]);
    assert!(rows[2]["detail"].as_str().unwrap().contains("after 17200.000 ms"), "{}", rows[2]);
}

/// A large capture in which every AGENT_STATE_EVENT lacks the same required field and a few
/// dozen faults are injected: `check` fits on one screen, the shared anomaly is one row
/// with its count, and every injected fault is named.
#[test]
fn a_shared_anomaly_is_one_row_and_every_fault_is_named() {
    let dir = std::env::temp_dir().join(format!("ctiscope-diagnosis-big-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (_, err, code) = ctiscope_in(
        &[
            "synth",
            "--seed",
            "7",
            "--messages",
            "150000",
            "--faults",
            "drop-field=AGENT_STATE_EVENT.Direction,unanswered=0.0002,after-end=0.002,oversize=0.002",
            "--truth",
            "truth.jsonl",
            "-w",
            "big.pcap",
        ],
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    let truth = lines(&std::fs::read_to_string(dir.join("truth.jsonl")).unwrap());
    let faults: Vec<&Json> = truth.iter().filter(|t| t["kind"].is_null()).collect();
    assert!((10..=200).contains(&faults.len()), "{} faults", faults.len());
    let dropped = truth.iter().find(|t| t["kind"] == "drop-field").unwrap()["messages"].as_u64().unwrap();
    assert!(dropped > 10_000);

    let (out, _, code) = ctiscope_in(&["check", "big.pcap"], &dir);
    assert_eq!(code, 0, "warnings only: {out}");
    assert!(out.lines().count() <= 40, "one screen: {out}");
    let row = out.lines().find(|l| l.starts_with('|') && l.contains("AGENT_STATE_EVENT.Direction")).unwrap();
    assert!(row.contains(&format!("| {dropped} ")), "{row}");
    assert_eq!(out.lines().filter(|l| l.contains("decode-required-missing")).count(), 1);
    // Every injected fault is named by its frame.
    for t in &faults {
        let frame = t["frame"].as_u64().unwrap();
        let named = out.contains(&format!("frame {frame})"))
            || out.contains(&format!(" {frame},"))
            || out.contains(&format!(" {frame})"))
            || out.contains(&format!("| {frame} "));
        assert!(named, "fault {t} not named in:\n{out}");
    }
    // The unanswered requests with their InvokeIDs.
    for t in faults.iter().filter(|t| t["fault"] == "unanswered") {
        assert!(out.contains(&format!("InvokeID {}", t["invoke_id"])), "{t}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn calls_are_counted_once_across_connections() {
    // The shipped capture: bridges, a monitor and desktops all report the same calls.
    let (out, _, _) = ctiscope(&["stats", "-T", "json", "captures/contact-center.pcapng"]);
    let st: Json = serde_json::from_str(&out).unwrap();
    let calls = st["calls"].as_array().unwrap();
    let (dec, _, _) =
        ctiscope(&["decode", "-T", "jsonl", "--type", "BEGIN_CALL_EVENT", "captures/contact-center.pcapng"]);
    let mut ids: Vec<u64> = lines(&dec)
        .iter()
        .filter(|r| r["event"] == "message")
        .map(|r| r["fields"]["ConnectionCallID"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let begun: Vec<&Json> = calls.iter().filter(|c| c["begin_seen"] == true).collect();
    assert_eq!(begun.len(), ids.len(), "one call per ConnectionCallID");
    assert!(calls.iter().any(|c| c["connections"].as_array().unwrap().len() > 1));
}

#[test]
fn check_json_has_the_headline_groups_and_findings() {
    let s = Scenario::new("late-confirm");
    let (out, _, _) = s.run(&["check", "-T", "json"]);
    let v: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(v["headline"].as_array().unwrap().len(), 2);
    assert_eq!(v["groups"][0]["rule"], "invoke-unanswered");
    assert_eq!(v["groups"][0]["count"], 1);
    let invoke = v["findings"][0]["invoke"].as_u64().unwrap();
    assert!(v["groups"][0]["ids"][0].as_str().unwrap().starts_with(&format!("InvokeID {invoke} ")), "{v}");
    assert_eq!(v["groups"][0]["ids_complete"], true);
    assert_eq!(v["summary"]["warnings"], 1);
    // rules in JSON too.
    let (out, _, _) = ctiscope(&["rules", "-T", "jsonl"]);
    let rules = lines(&out);
    assert!(rules.iter().any(|r| r["rule"] == "session-reconnect" && r["severity"] == "warning"));
    let (out, _, _) = ctiscope(&["rules", "-T", "json"]);
    assert_eq!(serde_json::from_str::<Json>(&out).unwrap().as_array().unwrap().len(), rules.len());
    let _ = s.path();
}

#[test]
fn stats_for_one_agent() {
    let s = Scenario::new("failover");
    let (out, err, code) = s.run(&["stats", "--agent", "1001", "-T", "json"]);
    assert_eq!(code, 0, "{err}");
    let st: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(st["agent_selected"], "1001");
    let conns: Vec<u64> =
        st["connections"].as_array().unwrap().iter().map(|c| c["connection"].as_u64().unwrap()).collect();
    assert_eq!(conns, [0, 2, 7], "the agent's desktop sessions only");
    let agents = st["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["agent"], "1001");
    // By extension too.
    let (out5, _, _) = s.run(&["stats", "--agent", "5001", "-T", "json"]);
    let st5: Json = serde_json::from_str(&out5).unwrap();
    assert_eq!(st5["connections"], st["connections"]);
    // The text lists the findings about the agent, and says which tables are capture-wide.
    let (text, _, _) = s.run(&["stats", "--agent", "1001"]);
    assert!(text.contains("Messages per type and direction (whole capture)"), "{text}");
    assert!(text.contains("Findings about agent 1001"), "{text}");
    assert!(text.contains("session-reconnect"), "{text}");
    assert!(!text.contains("desk-1002"), "{text}");
    // An agent not in the capture says so.
    let (_, err, code) = s.run(&["stats", "--agent", "9999"]);
    assert_eq!(code, 0);
    assert!(err.contains("no session or state of agent 9999"), "{err}");
}

#[test]
fn agent_requests_are_counted_from_the_first() {
    // The first SET_AGENT_STATE_REQ (the login) is answered before the agent's first
    // AGENT_STATE_EVENT: it counts all the same.
    let (out, _, _) = ctiscope(&["stats", "-T", "json", "captures/contact-center.pcapng"]);
    let st: Json = serde_json::from_str(&out).unwrap();
    for (agent, session) in [("1001", "3"), ("1002", "2")] {
        let a = st["agents"].as_array().unwrap().iter().find(|a| a["agent"] == agent).unwrap();
        let (dec, _, _) =
            ctiscope(&["decode", "-T", "jsonl", "--session", session, "captures/contact-center.pcapng"]);
        let confs = lines(&dec).iter().filter(|r| r["type"] == "SET_AGENT_STATE_CONF").count() as u64;
        assert!(confs > 0);
        assert_eq!(a["requests"]["SET_AGENT_STATE_REQ"]["ok"], confs, "agent {agent}");
        assert_eq!(a["final_state"], "LOGOUT");
    }
}

#[test]
fn a_timeline_selecting_nothing_says_so() {
    let (out, err, code) = ctiscope(&["timeline", "--agent", "9999", "captures/contact-center.pcapng"]);
    assert_eq!(code, 0);
    assert!(out.trim_end().ends_with("0 entries"), "{out}");
    assert!(err.contains("the selection (agent 9999) matches nothing"), "{err}");
}
