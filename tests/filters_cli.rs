//! Display filters (`-Y`) and field extraction (`-T fields`) through the command line:
//! every filter checked against a reference evaluation of the same condition over the
//! JSON output, on the shipped captures.

mod common;

use common::*;
use serde_json::Value as Json;

const CAP: &str = "captures/contact-center.pcapng";
const FAILOVER: &str = "captures/failover.pcap";

fn jsonl(out: &str) -> Vec<Json> {
    out.lines().map(|l| serde_json::from_str(l).unwrap()).filter(|v: &Json| v["event"] == "message").collect()
}

fn frames_of(v: &[Json]) -> Vec<(u64, String, String)> {
    v.iter()
        .map(|m| {
            (
                m["frame"].as_u64().unwrap(),
                m["type"].as_str().unwrap_or("").to_string(),
                m["dst"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A field's values in a message's JSON: fixed fields, then floating ones.
fn values<'a>(m: &'a Json, name: &str) -> Vec<&'a Json> {
    let mut v: Vec<&Json> = m["fields"].get(name).into_iter().collect();
    for f in m["floating"].as_array().into_iter().flatten() {
        if f["name"] == name {
            v.push(&f["value"]);
        }
    }
    v
}

fn named<'a>(m: &'a Json, name: &str) -> Option<&'a Json> {
    m["named"].get(name).or_else(|| {
        m["floating"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["name"] == name)
            .and_then(|f| f.get("named"))
    })
}

#[test]
fn filters_agree_with_a_reference_over_the_json() {
    type Pred = fn(&Json) -> bool;
    let cases: Vec<(&str, &str, Pred)> = vec![
        (CAP, "type == AGENT_STATE_EVENT", |m| m["type"] == "AGENT_STATE_EVENT"),
        (CAP, "AgentState == AGENT_STATE_TALKING", |m| {
            named(m, "AgentState").is_some_and(|v| v == "AGENT_STATE_TALKING")
        }),
        (CAP, "AgentState == TALKING && AgentID == 1001", |m| {
            named(m, "AgentState").is_some_and(|v| v == "AGENT_STATE_TALKING")
                && values(m, "AgentID").iter().any(|v| *v == "1001")
        }),
        (CAP, "cti.InvokeID >= 600 && InvokeID < 0x280", |m| {
            values(m, "InvokeID").iter().any(|v| (600..640).contains(&v.as_u64().unwrap()))
        }),
        (CAP, "dir == server && !(type in {HEARTBEAT_CONF AGENT_STATE_EVENT})", |m| {
            m["direction"] == "server->client"
                && m["type"] != "HEARTBEAT_CONF"
                && m["type"] != "AGENT_STATE_EVENT"
        }),
        (CAP, "ConnectionCallID", |m| !values(m, "ConnectionCallID").is_empty()),
        (CAP, "ServicesRequested & CTI_SERVICE_ALL_EVENTS", |m| {
            values(m, "ServicesRequested").iter().any(|v| v.as_u64().unwrap() & 0x10 != 0)
        }),
        (CAP, "AgentExtension contains \"4000\"", |m| {
            values(m, "AgentExtension").iter().any(|v| v.as_str().unwrap().contains("4000"))
        }),
        (CAP, "ClientID matches \"^Finesse-100[12]$\"", |m| {
            values(m, "ClientID")
                .iter()
                .any(|v| ["Finesse-1001", "Finesse-1002"].contains(&v.as_str().unwrap()))
        }),
        (CAP, "tcp.port == 56961 || ip.dst == 10.20.201.1", |m| {
            m["src"].as_str().unwrap().ends_with(":56961")
                || m["dst"].as_str().unwrap().ends_with(":56961")
                || m["dst"].as_str().unwrap().starts_with("10.20.201.1:")
        }),
        (CAP, "len > 150 and version == 24", |m| {
            m["length"].as_u64().unwrap() + 8 > 150 && m["protocol_version"] == 24
        }),
        (CAP, "frame in {39..45}", |m| (39..=45).contains(&m["frame"].as_u64().unwrap())),
        (CAP, "reltime >= 300", |m| {
            m["epoch_ns"].as_i64().unwrap() >= 1_767_603_600_015_147_241 + 300_000_000_000
        }),
        (CAP, "time >= \"2026-01-05 09:05:00\"", |m| {
            m["epoch_ns"].as_i64().unwrap() >= 1_767_603_900_000_000_000
        }),
        (FAILOVER, "conn in {0 2 7} && type == SET_AGENT_STATE_REQ", |m| {
            m["type"] == "SET_AGENT_STATE_REQ" && m["src"].as_str().unwrap().starts_with("10.10.1.10:")
        }),
        (FAILOVER, "Status != E_CTI_NO_ERROR", |m| named(m, "Status").is_some_and(|v| v != "E_CTI_NO_ERROR")),
    ];
    for (cap, expr, pred) in cases {
        let (all, _, _) = ctiscope(&["decode", "-T", "jsonl", cap]);
        let want: Vec<Json> = jsonl(&all).into_iter().filter(pred).collect();
        let (out, err, code) = ctiscope(&["decode", "-T", "jsonl", "-Y", expr, cap]);
        assert_eq!(code, 0, "{expr}: {err}");
        let got = jsonl(&out);
        assert!(!want.is_empty(), "{expr} selects something");
        assert_eq!(frames_of(&got), frames_of(&want), "{expr}");
    }
}

#[test]
fn bad_filters_are_refused_before_any_work() {
    for (expr, want) in [
        ("AgentId == 1001", "unknown field 'AgentId' at column 1; did you mean 'AgentID'?"),
        ("AgentState == AGENT_STATE_TALKIN", "at column 15"),
        ("type == AGENT_STATE_EVENT &&", "column"),
        ("(AgentID == 1", "column"),
    ] {
        let (out, err, code) = ctiscope(&["decode", "-Y", expr, CAP]);
        assert_eq!(code, 2, "{expr}");
        assert!(out.is_empty());
        assert!(err.contains(want), "{expr}: {err}");
        assert!(err.contains('^'), "a caret under the column: {err}");
        let (_, err2, code) = ctiscope(&["check", "-Y", expr, CAP]);
        assert_eq!(code, 2);
        assert!(err2.contains(want), "{err2}");
    }
}

#[test]
fn finding_in_decode_reads_the_analysis_first() {
    let (out, err, code) =
        ctiscope(&["decode", "-T", "jsonl", "-Y", "finding == heartbeat-unanswered", FAILOVER]);
    assert_eq!(code, 0, "{err}");
    let frames: Vec<u64> = jsonl(&out).iter().map(|m| m["frame"].as_u64().unwrap()).collect();
    assert_eq!(frames, [69, 73, 75]);
    let (_, err, code) = ctiscope(&["check", "-Y", "finding", FAILOVER]);
    assert_eq!(code, 2);
    assert!(err.contains("use it with `decode -Y`"), "{err}");
}

#[test]
fn fields_as_tshark() {
    let base = [
        "decode",
        "-T",
        "fields",
        "-e",
        "frame",
        "-e",
        "type",
        "-e",
        "AgentID",
        "-e",
        "AgentState",
        "-Y",
        "type == AGENT_STATE_EVENT",
        "-c",
        "3",
    ];
    let (out, _, code) = ctiscope(&[&base[..], &[CAP]].concat());
    assert_eq!(code, 0);
    assert_eq!(out, "39\tAGENT_STATE_EVENT\t1002\tAGENT_STATE_LOGIN\n39\tAGENT_STATE_EVENT\t1002\tAGENT_STATE_NOT_READY\n40\tAGENT_STATE_EVENT\t1002\tAGENT_STATE_LOGIN\n");
    // CSV a spreadsheet opens: a header, commas, double quotes (doubled inside values).
    let (out, _, _) =
        ctiscope(&[&base[..], &["-E", "header=y", "-E", "separator=,", "-E", "quote=d", CAP]].concat());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "\"frame\",\"type\",\"AgentID\",\"AgentState\"");
    assert_eq!(lines[1], "\"39\",\"AGENT_STATE_EVENT\",\"1002\",\"AGENT_STATE_LOGIN\"");
    // Raw values, single quotes, space separator.
    let (out, _, _) = ctiscope(&[&base[..], &["-n", "-E", "quote=s", "-E", "separator=/s", CAP]].concat());
    assert_eq!(out.lines().next().unwrap(), "'39' '30' '1002' '0'");
    // Occurrences of a repeated field and of a pseudo-field with two values.
    let occ = |o: &str| {
        let (out, _, _) = ctiscope(&[
            "decode",
            "-T",
            "fields",
            "-e",
            "ip.addr",
            "-e",
            "tcp.port",
            "-E",
            &format!("occurrence={o}"),
            "-E",
            "aggregator=;",
            "-c",
            "1",
            CAP,
        ]);
        out
    };
    assert_eq!(occ("a"), "10.20.200.0;10.10.1.20\t56961;42027\n");
    assert_eq!(occ("f"), "10.20.200.0\t56961\n");
    assert_eq!(occ("l"), "10.10.1.20\t42027\n");
    // Errors.
    let (_, err, code) = ctiscope(&["decode", "-T", "fields", "-e", "AgentId", CAP]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean 'AgentID'?"), "{err}");
    let (_, err, code) = ctiscope(&["decode", "-T", "fields", CAP]);
    assert_eq!(code, 2);
    assert!(err.contains("at least one -e"), "{err}");
    let (_, err, code) = ctiscope(&["decode", "-e", "frame", CAP]);
    assert_eq!(code, 2);
    assert!(err.contains("go with -T fields"), "{err}");
    let (_, err, code) = ctiscope(&["decode", "-T", "fields", "-e", "frame", "-E", "quote=x", CAP]);
    assert_eq!(code, 2);
    assert!(err.contains("quote=x"), "{err}");
}

#[test]
fn analysis_commands_report_on_the_selected_messages() {
    // check: the findings of connection 0 only.
    let (out, _, _) = ctiscope(&["check", "-T", "jsonl", "-Y", "conn == 0", FAILOVER]);
    let f: Vec<Json> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(f.len(), 4);
    assert!(f.iter().all(|x| x["connection"] == 0));
    // timeline: the selected messages, their findings and their connections' rows.
    let (out, _, _) = ctiscope(&["timeline", "-T", "jsonl", "-Y", "type == SET_AGENT_STATE_REQ", FAILOVER]);
    let rows: Vec<Json> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let msgs: Vec<&Json> = rows.iter().filter(|r| r["direction"].is_string()).collect();
    assert!(msgs.iter().all(|r| r["what"] == "SET_AGENT_STATE_REQ"));
    let (dec, _, _) = ctiscope(&["decode", "-T", "jsonl", "-Y", "type == SET_AGENT_STATE_REQ", FAILOVER]);
    assert_eq!(msgs.len(), jsonl(&dec).len());
    assert!(rows.iter().any(|r| r["what"] == "finding invoke-unanswered"));
    // stats: the selected messages' counts, and the connections holding them.
    let (out, _, _) =
        ctiscope(&["stats", "-T", "json", "-Y", "type == HEARTBEAT_REQ && conn == 1", FAILOVER]);
    let st: Json = serde_json::from_str(&out).unwrap();
    let m = st["messages"].as_array().unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["message"], "HEARTBEAT_REQ (5)");
    let conns: Vec<u64> =
        st["connections"].as_array().unwrap().iter().map(|c| c["connection"].as_u64().unwrap()).collect();
    assert_eq!(conns, [1]);
    let (_, err, _) = ctiscope(&["stats", "-Y", "AgentID == 4242", FAILOVER]);
    assert!(err.contains("selects no message"), "{err}");
}

#[test]
fn agent_and_display_filter_combine() {
    // The OPEN_REQ that names the desktop's agent is not selected by -Y, yet it still
    // teaches the session its agent: the agent's SET_AGENT_STATE_REQs (no AgentID) match.
    let (out, _, code) = ctiscope(&[
        "decode",
        "-T",
        "jsonl",
        "--agent",
        "1001",
        "-Y",
        "type == SET_AGENT_STATE_REQ",
        FAILOVER,
    ]);
    assert_eq!(code, 0);
    let got = jsonl(&out);
    let (all, _, _) = ctiscope(&[
        "decode",
        "-T",
        "jsonl",
        "-Y",
        "type == SET_AGENT_STATE_REQ && ip.src == 10.10.1.10",
        FAILOVER,
    ]);
    assert_eq!(frames_of(&got), frames_of(&jsonl(&all)));
    assert!(!got.is_empty());
}
