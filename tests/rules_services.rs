//! The rules on services, event masks, session-dependent fields and sentinels (module
//! `analysis::services`): `synth --scenario service-violations` breaks each of them at a
//! known frame, and `check` finds exactly those; on every shipped capture, on the other
//! scenarios and on simulated traffic the rules stay silent.

mod common;

use common::{ctiscope, ctiscope_in, root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ctiscope::analysis::rules::SERVICE_RULES as RULES;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ctiscope-rules-services-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// The findings of these rules in `check --all -T jsonl` of `args` run in `dir`.
fn findings_in(dir: &Path, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["check", "--all", "-T", "jsonl"];
    a.extend_from_slice(args);
    let (out, err, code) = ctiscope_in(&a, dir);
    // A capture cut short exits 2 after its analysis (the shipped truncated ones).
    let cut = code == 2 && err.contains("capture is truncated");
    assert!(code == 0 || code == 1 || cut, "{args:?}: exit {code}: {err}");
    lines(&out).into_iter().filter(|f| f["rule"].as_str().is_some_and(|r| RULES.contains(&r))).collect()
}

/// Writes scenario `name` into `dir`; returns its truth lines.
fn scenario(dir: &Path, name: &str) -> Vec<Value> {
    let (file, truth) = (format!("{name}.pcap"), format!("{name}.truth.jsonl"));
    let (_, err, code) = ctiscope_in(&["synth", "--scenario", name, "-w", &file, "--truth", &truth], dir);
    assert_eq!(code, 0, "{name}: {err}");
    lines(&std::fs::read_to_string(dir.join(truth)).unwrap())
}

#[test]
fn every_violation_of_the_scenario_is_found_and_nothing_else() {
    let dir = tmp("violations");
    let truth = scenario(&dir, "service-violations");
    let violations: Vec<&Value> = truth.iter().filter(|t| t["kind"] == "violation").collect();
    // Each rule is broken at least once.
    for r in RULES {
        assert!(violations.iter().any(|v| v["rule"] == r), "no violation of {r} in the scenario");
    }
    let found = findings_in(&dir, &["service-violations.pcap"]);
    // (rule, connection, frame of the message) -> the findings.
    let mut by_key: BTreeMap<(String, u64, u64), Vec<&Value>> = BTreeMap::new();
    for f in &found {
        let frames = f["frames"].as_array().unwrap();
        let last = frames.last().and_then(Value::as_u64).unwrap();
        let key = (f["rule"].as_str().unwrap().to_string(), f["connection"].as_u64().unwrap(), last);
        by_key.entry(key).or_default().push(f);
    }
    for v in &violations {
        let key = (
            v["rule"].as_str().unwrap().to_string(),
            v["conn"].as_u64().unwrap(),
            v["frame"].as_u64().unwrap(),
        );
        let fs = by_key.get(&key).unwrap_or_else(|| panic!("{v} not found; found: {found:#?}"));
        assert_eq!(fs.len(), 1, "{v}: {fs:#?}");
        // The same instant (the truth gives microseconds).
        let t = v["time"].as_str().unwrap();
        let ft = fs[0]["time"].as_str().unwrap();
        assert_eq!(&ft[..26], &t[..26], "{v}");
        let warning = ["service-requires", "value-not-zero"].contains(&key.0.as_str());
        assert_eq!(fs[0]["severity"], if warning { "warning" } else { "error" });
        assert!(fs[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(found.len(), violations.len(), "findings the truth does not name: {found:#?}");
    // The confirm violation names its request and confirm.
    let confirm = found.iter().find(|f| f["rule"] == "service-confirm-not-granted").unwrap();
    assert_eq!(confirm["request"], "SET_CALL_DATA_REQ", "{confirm}");
    assert_eq!(confirm["confirm"], "SET_CALL_DATA_CONF", "{confirm}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_scenario_is_deterministic_and_clean_otherwise() {
    let (a, b) = (tmp("det-a"), tmp("det-b"));
    let (x, y) = (scenario(&a, "service-violations"), scenario(&b, "service-violations"));
    assert_eq!(x, y);
    let bytes = |d: &Path| std::fs::read(d.join("service-violations.pcap")).unwrap();
    assert!(bytes(&a) == bytes(&b), "different bytes");
    assert_eq!(x[0]["kind"], "scenario");
    assert_eq!(x[0]["protocol_version"], 24);
    // Every message decodes without anomalies, and only these rules fire.
    let (out, err, code) = ctiscope_in(&["decode", "-T", "jsonl", "service-violations.pcap"], &a);
    assert_eq!(code, 0, "{err}");
    let msgs: Vec<Value> = lines(&out).into_iter().filter(|e| e["event"] == "message").collect();
    assert_eq!(msgs.len() as u64, x[0]["messages"].as_u64().unwrap());
    for m in &msgs {
        assert_eq!(m["anomalies"].as_array().unwrap().len(), 0, "{m}");
    }
    let (out, _, _) = ctiscope_in(&["check", "--all", "-T", "jsonl", "service-violations.pcap"], &a);
    for f in lines(&out) {
        assert!(RULES.contains(&f["rule"].as_str().unwrap()), "another rule fired: {f}");
    }
    let _ = std::fs::remove_dir_all(a);
    let _ = std::fs::remove_dir_all(b);
}

/// Every capture file under `dir`, recursively.
fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            captures(&p, out);
        } else if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
            if n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".pcap.gz") {
                out.push(p);
            }
        }
    }
}

#[test]
fn silent_on_every_shipped_capture() {
    let mut files = Vec::new();
    captures(&root().join("captures"), &mut files);
    captures(&root().join("tests/data"), &mut files);
    let independent = root().join("tests/data/independent/independent.pcap");
    assert!(files.contains(&independent));
    assert!(files.len() >= 25, "{files:?}");
    for f in &files {
        let found = findings_in(&root(), &[f.to_str().unwrap()]);
        assert!(found.is_empty(), "{}: {found:#?}", f.display());
    }
    // The independent capture on its own port, as its test reads it.
    let head: Value = serde_json::from_str(
        std::fs::read_to_string(root().join("tests/data/independent/independent.truth.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let port = head["port"].as_u64().unwrap().to_string();
    let found = findings_in(&root(), &["--port", &port, independent.to_str().unwrap()]);
    assert!(found.is_empty(), "{found:#?}");
    // And `ctiscope rules` lists them.
    let (out, _, _) = ctiscope(&["rules", "-T", "jsonl"]);
    for r in RULES {
        assert!(lines(&out).iter().any(|l| l["rule"] == r), "{r} not in `ctiscope rules`");
    }
}

#[test]
fn silent_on_the_other_scenarios_and_on_simulated_traffic() {
    let dir = tmp("silent");
    for name in ["failover", "dead-server", "no-cti", "server-close-pending", "late-confirm"] {
        scenario(&dir, name);
        let found = findings_in(&dir, &[&format!("{name}.pcap")]);
        assert!(found.is_empty(), "{name}: {found:#?}");
    }
    let runs: [&[&str]; 4] = [
        &[],
        &["--clients", "8", "--bridges", "2", "--monitors", "2", "--calls-per-agent", "4"],
        &["--protocol-version", "15", "--clients", "6"],
        &["--clients", "6", "--faults", "lost=0.01,reorder=0.01,unanswered=0.02,after-end=0.02"],
    ];
    for (i, extra) in runs.iter().enumerate() {
        let file = format!("sim{i}.pcap");
        let mut args = vec!["synth", "-w", &file];
        args.extend_from_slice(extra);
        let (_, err, code) = ctiscope_in(&args, &dir);
        assert_eq!(code, 0, "{extra:?}: {err}");
        let found = findings_in(&dir, &[&file]);
        assert!(found.is_empty(), "synth {extra:?}: {found:#?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
