//! tshark's working habits on files: cutting a capture (`-w`, `--whole-connections`),
//! stopping early (`-c`), time windows (`--since`, `--until`) and the time column (`-t`).

mod common;

use common::*;
use serde_json::Value as Json;

const CAP: &str = "captures/contact-center.pcapng";

fn tmp(name: &str) -> String {
    std::env::temp_dir()
        .join(format!("ctiscope-habits-{}-{name}", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

/// The messages of `decode -T jsonl`, without what a cut renumbers (frames, connections).
fn messages(args: &[&str]) -> Vec<Json> {
    let mut a = vec!["decode", "-T", "jsonl"];
    a.extend_from_slice(args);
    let (out, err, code) = ctiscope(&a);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .filter(|v| v["event"] == "message")
        .map(|mut v| {
            let o = v.as_object_mut().unwrap();
            o.remove("frame");
            o.remove("frames");
            o.remove("connection");
            o.remove("version_source");
            // A cut that starts mid-connection counts stream offsets from its first byte.
            o.remove("stream_offset");
            v
        })
        .collect()
}

#[test]
fn a_cut_of_one_session_decodes_to_exactly_its_messages() {
    for whole in [true, false] {
        let out = tmp(&format!("session2-{whole}.pcapng"));
        let mut args = vec!["decode", "--session", "2", "-w", &out];
        if whole {
            args.push("--whole-connections");
        }
        args.push(CAP);
        let (_, err, code) = ctiscope(&args);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains(&format!("to {out}")), "{err}");
        let want = messages(&["--session", "2", CAP]);
        let got = messages(&[&out]);
        assert!(want.len() > 50);
        assert_eq!(got.len(), want.len(), "whole {whole}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "whole {whole}");
        }
        // The whole cut starts with the handshake; the other starts mid-connection.
        let (text, _, _) = ctiscope(&["decode", &out]);
        let first = text.lines().next().unwrap();
        assert_eq!(first.contains("handshake captured"), whole, "{first}");
        // And it passes check as the original session does.
        let (chk, _, code) = ctiscope(&["check", &out]);
        assert_eq!(code, 0, "{chk}");
        let _ = std::fs::remove_file(&out);
    }
}

#[test]
fn a_cut_of_one_agent_keeps_the_agent_sessions() {
    let out = tmp("agent1001.pcapng");
    let (_, err, code) = ctiscope(&["decode", "--agent", "1001", "-w", &out, CAP]);
    assert_eq!(code, 0, "{err}");
    // The cut holds every message selected (in a cut of sparse messages the holes between
    // them are declared when the connection ends, so messages may come out in another
    // order), and the desktop session's messages are all there.
    let sorted = |v: Vec<Json>| {
        let mut s: Vec<String> = v.iter().map(|m| m.to_string()).collect();
        s.sort();
        s
    };
    let want = sorted(messages(&["--agent", "1001", CAP]));
    let got = sorted(messages(&["--agent", "1001", &out]));
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the cut decodes to other messages");
    let desktop = messages(&["--session", "3", CAP]);
    let all = messages(&[&out]);
    assert!(desktop.iter().all(|m| all.contains(m)), "the desktop session is whole");
    let _ = std::fs::remove_file(&out);
}

#[test]
fn cut_arguments_are_checked() {
    let (_, err, code) = ctiscope(&["decode", "-w", &tmp("x.pcapng"), "-"]);
    assert_eq!(code, 2);
    assert!(err.contains("give exactly one FILE"), "{err}");
    let (_, err, code) = ctiscope(&["decode", "-w", &tmp("x.pcapng"), CAP, CAP]);
    assert_eq!(code, 2);
    assert!(err.contains("give exactly one FILE"), "{err}");
    let (_, err, code) = ctiscope(&["decode", "--whole-connections", CAP]);
    assert_eq!(code, 2);
    assert!(err.contains("--whole-connections goes with -w"), "{err}");
}

fn message_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.contains(" → ")).collect()
}

#[test]
fn count_stops_after_n_selected_messages() {
    let (out, _, code) = ctiscope(&["decode", "-c", "5", CAP]);
    assert_eq!(code, 0);
    assert_eq!(message_lines(&out).len(), 5);
    let (out, _, _) = ctiscope(&["decode", "-c", "2", "--type", "HEARTBEAT_REQ", CAP]);
    let lines = message_lines(&out);
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l.contains("HEARTBEAT_REQ")));
    // The read stops there: nothing after the second one.
    let last = out.lines().last().unwrap();
    let frame: u64 = last.split_whitespace().next().unwrap().parse().unwrap();
    let second: u64 = lines[1].split_whitespace().next().unwrap().parse().unwrap();
    assert!(frame <= second + 1, "{out}");
    // The analysis commands analyse the first N messages.
    let (out, _, _) = ctiscope(&["stats", "-c", "100", "-T", "json", CAP]);
    let st: Json = serde_json::from_str(&out).unwrap();
    let n: u64 = st["messages"].as_array().unwrap().iter().map(|m| m["count"].as_u64().unwrap()).sum();
    assert!((100..=110).contains(&n), "{n}: the packet that completed the 100th may carry a few more");
}

#[test]
fn time_windows_select_packets() {
    let all = messages(&[CAP]);
    let t0 = all[0]["epoch_ns"].as_i64().unwrap();
    let times = |args: &[&str]| -> Vec<i64> {
        messages(args).iter().map(|m| m["epoch_ns"].as_i64().unwrap()).collect()
    };
    // Relative to the first packet (not the first message).
    let (out, _, _) = ctiscope(&["decode", "-T", "jsonl", "-c", "1", CAP]);
    let first_packet =
        serde_json::from_str::<Json>(out.lines().next().unwrap()).unwrap()["epoch_ns"].as_i64().unwrap();
    assert!(first_packet <= t0);
    let w = times(&["--since", "60", "--until", "120", CAP]);
    assert!(!w.is_empty());
    assert!(w.iter().all(|&t| t >= first_packet + 60_000_000_000 && t <= first_packet + 120_000_000_000));
    let inside = all
        .iter()
        .filter(|m| {
            let t = m["epoch_ns"].as_i64().unwrap();
            t >= first_packet + 60_000_000_000 && t <= first_packet + 120_000_000_000
        })
        .count();
    // Messages whose packets all fall in the window (a stream cut at the window's start
    // may lose the message in flight).
    assert!(w.len() <= inside && w.len() + 5 >= inside, "{} of {inside}", w.len());
    // Absolute, both spellings.
    let a = times(&["--since", "2026-01-05 09:05:00", CAP]);
    let b = times(&["--since", "2026-01-05T09:05:00Z", CAP]);
    assert_eq!(a, b);
    assert!(!a.is_empty() && a.iter().all(|&t| t >= 1_767_603_900_000_000_000));
    let (_, err, code) = ctiscope(&["decode", "--since", "yesterday", CAP]);
    assert_eq!(code, 2);
    assert!(err.contains("neither a UTC time"), "{err}");
}

#[test]
fn time_formats_as_tshark() {
    let first = |fmt: &str, extra: &[&str]| -> Vec<String> {
        let mut a = vec!["decode", "-t", fmt, "--type", "HEARTBEAT_REQ", "-c", "3"];
        a.extend_from_slice(extra);
        a.push(CAP);
        let (out, _, _) = ctiscope(&a);
        message_lines(&out).iter().map(|l| l.split_whitespace().nth(1).unwrap().to_string()).collect()
    };
    let ud: Vec<String> = {
        let (out, _, _) = ctiscope(&["decode", "-t", "ud", "--type", "HEARTBEAT_REQ", "-c", "3", CAP]);
        message_lines(&out)
            .iter()
            .map(|l| l.split_whitespace().take(3).skip(1).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(ud[0], "2026-01-05 09:00:10.022754");
    // The default is UTC with the date.
    let (dflt, _, _) = ctiscope(&["decode", "--type", "HEARTBEAT_REQ", "-c", "1", CAP]);
    assert!(dflt.contains(" 2026-01-05 09:00:10.022754 "), "{dflt}");
    assert_eq!(first("u", &[])[0], "09:00:10.022754");
    assert_eq!(first("e", &[])[0], "1767603610.022754");
    assert_eq!(first("r", &[])[0], "10.007607");
    // dd: since the previous line shown; d: since the previous event of the capture.
    let column = |fmt: &str| -> Vec<f64> {
        let args = ["decode", "-t", fmt, "--session", "0", "--type", "HEARTBEAT_REQ", "-c", "3", CAP];
        let (out, _, _) = ctiscope(&args);
        out.lines().map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap()).collect()
    };
    let (e, dd, d) = (column("e"), column("dd"), column("d"));
    assert_eq!(e.len(), dd.len());
    assert_eq!(dd[0], 0.0);
    for i in 1..e.len() {
        assert!((dd[i] - (e[i] - e[i - 1])).abs() < 2e-6, "line {i}: {dd:?} {e:?}");
        assert!(d[i] <= dd[i] + 1e-6, "the previous event is never before the previous line shown");
    }
    assert!(d.iter().zip(&dd).any(|(a, b)| a < b), "hidden events in between: {d:?} {dd:?}");
    // Local time follows TZ.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ctiscope"))
        .args(["decode", "-t", "ad", "--type", "HEARTBEAT_REQ", "-c", "1", CAP])
        .env("TZ", "Asia/Tokyo")
        .current_dir(root())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    let tz_known = std::path::Path::new("/usr/share/zoneinfo/Asia/Tokyo").exists();
    if tz_known {
        assert!(out.contains(" 2026-01-05 18:00:10.022754 "), "{out}");
    } else {
        assert!(out.contains(" 2026-01-05 09:00:10.022754 "), "without zone data, UTC: {out}");
    }
}

#[test]
fn with_a_filter_only_connections_holding_a_selected_message_show() {
    let (out, _, _) = ctiscope(&["decode", "--type", "CALL_TRANSFERRED_EVENT", CAP]);
    let conns_with_messages: std::collections::BTreeSet<&str> = out
        .lines()
        .filter(|l| l.contains(" → ") && !l.contains('['))
        .map(|l| l.split_whitespace().nth(5).unwrap())
        .collect();
    let bracket: Vec<&str> = out.lines().filter(|l| l.contains("[connection ")).collect();
    // A start and an end line for each connection that holds a transfer, none for the others.
    assert_eq!(bracket.len(), 2 * conns_with_messages.len(), "{out}");
    let (all, _, _) = ctiscope(&["decode", CAP]);
    let total = all.lines().filter(|l| l.contains("[connection ") && l.contains("CTI client")).count();
    assert!(total > conns_with_messages.len());
    // Each connection line comes before its first selected message.
    let first_msg = out.lines().position(|l| l.contains("CALL_TRANSFERRED_EVENT")).unwrap();
    assert!(out.lines().take(first_msg).any(|l| l.contains("CTI client")));
}
