//! The call-state precondition and lifecycle rules of `check`: the `call-violations`
//! scenario breaks each at known frames, and `check` reports exactly those; the rules stay
//! silent on every shipped capture, on the other scenarios, on simulations whose calls are
//! answered, held, retrieved, transferred and conferenced, and where a capture starts
//! mid-stream.

mod common;

use common::{ctiscope_in, root};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The rules these tests are about.
use ctiscope::analysis::rules::PRECONDITION_RULES as RULES;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ctiscope-rules-calls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// The output of a run that read its whole input (exit 0, or 1 for findings), or of a
/// capture cut short (exit 2, saying so: everything before the damage is analysed).
fn run(args: &[&str], dir: &Path) -> String {
    let (out, err, code) = ctiscope_in(args, dir);
    let cut_short = code == 2 && err.contains("capture is truncated");
    assert!(code == 0 || code == 1 || cut_short, "{args:?}: exit {code}: {err}");
    out
}

/// The findings of [`RULES`] that `check --all -T jsonl` reports, with `extra` arguments.
fn call_findings(file: &str, dir: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["check", "--all", "-T", "jsonl"];
    args.extend_from_slice(extra);
    args.push(file);
    lines(&run(&args, dir))
        .into_iter()
        .filter(|f| RULES.contains(&f["rule"].as_str().unwrap_or("")))
        .collect()
}

fn frames(f: &Value) -> Vec<u64> {
    f["frames"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect()
}

/// `synth --scenario call-violations`: the capture and its truth lines.
fn scenario(dir: &Path) -> Vec<Value> {
    let (_, err, code) = ctiscope_in(
        &["synth", "--scenario", "call-violations", "-w", "cv.pcap", "--truth", "cv.truth.jsonl"],
        dir,
    );
    assert_eq!(code, 0, "{err}");
    lines(&std::fs::read_to_string(dir.join("cv.truth.jsonl")).unwrap())
}

#[test]
fn every_violation_is_found_at_its_frame_and_nothing_else() {
    let dir = tmp("found");
    let truth = scenario(&dir);
    let violations: Vec<&Value> = truth.iter().filter(|t| t["kind"] == "violation").collect();
    let named: BTreeSet<&str> = violations.iter().map(|t| t["rule"].as_str().unwrap()).collect();
    assert_eq!(named, RULES.into_iter().collect(), "each rule is broken at least once");
    // The capture is clean protocol otherwise: no decode anomaly.
    let decoded = lines(&run(&["decode", "-T", "jsonl", "cv.pcap"], &dir));
    for m in decoded.iter().filter(|e| e["event"] == "message") {
        assert_eq!(m["anomalies"].as_array().unwrap().len(), 0, "{m}");
    }
    let found = call_findings("cv.pcap", &dir, &[]);
    for t in &violations {
        let (rule, conn, frame) = (&t["rule"], &t["conn"], t["frame"].as_u64().unwrap());
        let hit = found
            .iter()
            .find(|f| &f["rule"] == rule && &f["connection"] == conn && frames(f).contains(&frame));
        let f = hit.unwrap_or_else(|| panic!("{t} not found in {found:#?}"));
        // The frame of the message is the finding's last.
        assert_eq!(frames(f).last(), Some(&frame), "{f}");
        // It names what it is about.
        assert!(f["message_type"].is_string(), "{f}");
        let decoded_type = decoded
            .iter()
            .find(|m| m["event"] == "message" && m["frames"].as_array().unwrap().contains(&t["frame"]))
            .unwrap();
        assert_eq!(f["message_type"], decoded_type["type"], "{f}");
    }
    for f in &found {
        let named = violations.iter().any(|t| {
            t["rule"] == f["rule"]
                && t["conn"] == f["connection"]
                && frames(f).last() == t["frame"].as_u64().as_ref()
        });
        assert!(named, "a finding the truth does not name: {f}");
    }
    assert_eq!(found.len(), violations.len());
    // The identifiers of the call-state findings.
    let hold = found.iter().find(|f| f["rule"] == "hold-already-held").unwrap();
    assert_eq!((hold["call"].as_u64(), hold["device"].as_str()), (Some(9001), Some("5001")), "{hold}");
    assert_eq!(hold["agent"], "1001");
    assert!(hold["invoke"].is_u64() && hold["peripheral"].is_u64(), "{hold}");
    let reason = found.iter().find(|f| f["rule"] == "reason-code-missing").unwrap();
    assert_eq!(reason["agent"], "1001");
    let transfer = found.iter().find(|f| f["rule"] == "transfer-no-common-device").unwrap();
    assert!(transfer["message"].as_str().unwrap().contains("9101"), "{transfer}");
    assert!(transfer["message"].as_str().unwrap().contains("9102"), "{transfer}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A capture that starts after the events that set the calls' states: nothing to judge.
#[test]
fn a_mid_stream_start_is_never_a_violation() {
    let dir = tmp("midstream");
    scenario(&dir);
    // The states of call 9001 were learnt before 42 s; the violations come after.
    let found = call_findings("cv.pcap", &dir, &["--since", "42"]);
    let state_rules =
        ["hold-already-held", "retrieve-not-held", "answer-not-alerting", "transfer-no-common-device"];
    for f in &found {
        assert!(!state_rules.contains(&f["rule"].as_str().unwrap()), "{f}");
        assert_ne!(f["rule"], "pre-call-abort-unannounced", "{f}");
        assert_ne!(f["rule"], "monitor-not-recreated", "{f}");
    }
    // Whereas the whole capture has them all.
    let all = call_findings("cv.pcap", &dir, &[]);
    assert!(state_rules.iter().all(|r| all.iter().any(|f| f["rule"] == *r)));
    let _ = std::fs::remove_dir_all(dir);
}

/// Every capture file under `dir` (recursively).
fn captures_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            captures_under(&p, out);
        } else {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if [".pcap", ".pcapng", ".pcap.gz"].iter().any(|x| name.ends_with(x)) {
                out.push(p);
            }
        }
    }
}

#[test]
fn silent_on_every_shipped_capture() {
    let mut files = Vec::new();
    captures_under(&root().join("captures"), &mut files);
    captures_under(&root().join("tests/data"), &mut files);
    assert!(files.iter().any(|f| f.ends_with("tests/data/independent/independent.pcap")));
    assert!(files.iter().any(|f| f.ends_with("captures/contact-center.pcapng")));
    for f in &files {
        let found = call_findings(f.to_str().unwrap(), &root(), &[]);
        assert!(found.is_empty(), "{}: {found:#?}", f.display());
    }
}

#[test]
fn silent_on_the_other_scenarios() {
    let dir = tmp("scenarios");
    for name in ["failover", "dead-server", "no-cti", "server-close-pending", "late-confirm"] {
        let file = format!("{name}.pcap");
        let (_, err, code) = ctiscope_in(&["synth", "--scenario", name, "-w", &file], &dir);
        assert_eq!(code, 0, "{err}");
        let found = call_findings(&file, &dir, &[]);
        assert!(found.is_empty(), "{name}: {found:#?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Simulated contact centers: desktops answer alerting calls, hold and retrieve them,
/// consult, transfer and conference; bridges and monitors see the same calls. The rules
/// judge those requests (the states are known) and find nothing wrong.
#[test]
fn silent_on_simulated_call_handling() {
    let dir = tmp("sim");
    let runs = [
        ("default", None),
        ("7", None),
        ("11", None),
        ("3", Some("unanswered=0.05,after-end=0.05,retransmit=0.01")),
    ];
    for (seed, faults) in runs {
        let mut args = vec!["synth", "-w", "sim.pcap"];
        if seed != "default" {
            let more = [
                "--desktops",
                "8",
                "--bridges",
                "1",
                "--monitors",
                "1",
                "--calls-per-agent",
                "8",
                "--seed",
                seed,
            ];
            args.extend(more);
        }
        if let Some(f) = faults {
            args.extend(["--faults", f]);
        }
        let (_, err, code) = ctiscope_in(&args, &dir);
        assert_eq!(code, 0, "{err}");
        let decoded = lines(&run(&["decode", "-T", "jsonl", "sim.pcap"], &dir));
        let count = |ty: &str| decoded.iter().filter(|m| m["type"] == ty).count();
        for ty in [
            "ANSWER_CALL_REQ",
            "HOLD_CALL_REQ",
            "RETRIEVE_CALL_REQ",
            "CALL_HELD_EVENT",
            "CALL_RETRIEVED_EVENT",
        ] {
            assert!(count(ty) > 0, "seed {seed}: no {ty}");
        }
        assert!(count("TRANSFER_CALL_REQ") > 0, "seed {seed}: no transfer");
        if seed != "default" {
            assert!(count("CONFERENCE_CALL_REQ") > 0, "seed {seed}: no conference");
        }
        let found = call_findings("sim.pcap", &dir, &[]);
        assert!(found.is_empty(), "seed {seed}: {found:#?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The scenario is the same bytes every time, in both formats, and small.
#[test]
fn the_scenario_is_deterministic() {
    let (a, b) = (tmp("det-a"), tmp("det-b"));
    for format in ["pcap", "pcapng"] {
        let args = ["synth", "--scenario", "call-violations", "-w", "x", "--truth", "t", "--format", format];
        for d in [&a, &b] {
            let (_, err, code) = ctiscope_in(&args, d);
            assert_eq!(code, 0, "{err}");
        }
        let read = |d: &PathBuf, f: &str| std::fs::read(d.join(f)).unwrap();
        assert!(read(&a, "x") == read(&b, "x"), "{format}: different bytes");
        assert_eq!(read(&a, "t"), read(&b, "t"));
        let truth = lines(&String::from_utf8(read(&a, "t")).unwrap());
        let packets = truth[0]["packets"].as_u64().unwrap();
        assert!(packets > 0 && packets < 200, "{packets} packets");
    }
    let _ = std::fs::remove_dir_all(a);
    let _ = std::fs::remove_dir_all(b);
}
