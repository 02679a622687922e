//! The curated captures in `captures/`: each is exactly what its `captures/make.sh` line
//! writes, `ctiscope check` on each matches its golden output, and on the captures made with
//! faults `check` reports every injected fault (from the synth truth file) and nothing else.
//! (A `--scenario` capture's truth file is checked against the capture by
//! tests/scenarios.rs.)

mod common;

use common::{bless, bless_from, ctiscope_in, root};
use std::collections::BTreeSet;

/// (file name, synth arguments) from captures/make.sh.
fn recipes() -> Vec<(String, Vec<String>)> {
    let script = std::fs::read_to_string(root().join("captures/make.sh")).unwrap();
    let list = script.split("<<'LIST'\n").nth(1).unwrap().split("\nLIST").next().unwrap();
    list.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, args) = l.split_once('|').unwrap();
            (name.to_string(), args.split_whitespace().map(str::to_string).collect())
        })
        .collect()
}

#[test]
fn captures_are_reproduced_by_make_sh() {
    let tmp = std::env::temp_dir().join(format!("ctiscope-captures-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let recipes = recipes();
    assert!(recipes.len() >= 8);
    for (name, args) in &recipes {
        let mut a = vec!["synth", "-w", name.as_str()];
        a.extend(args.iter().map(String::as_str));
        let (_, err, code) = ctiscope_in(&a, &tmp);
        assert_eq!(code, 0, "{name}: {err}");
        let made = std::fs::read(tmp.join(name)).unwrap();
        let committed = std::fs::read(root().join("captures").join(name)).unwrap();
        assert!(made == committed, "captures/{name} differs from what captures/make.sh writes");
        let size = committed.len();
        assert!(size < 100_000, "captures/{name} is {size} bytes; keep curated captures small");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn check_output_of_every_capture_matches_its_snapshot() {
    for (name, _) in recipes() {
        let (out, err, code) = ctiscope_in(&["check", &name], &root().join("captures"));
        let actual = format!("{out}{err}exit {code}\n");
        let snap = root().join("tests/snapshots/captures").join(format!("{name}.check.txt"));
        if bless() {
            std::fs::create_dir_all(snap.parent().unwrap()).unwrap();
            std::fs::write(&snap, &actual).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&snap).unwrap_or_else(|e| panic!("{}: {e}", snap.display()));
        assert_eq!(want, actual, "check {name} differs from {}", snap.display());
    }
}

/// A `--scenario` recipe: a scripted story whose truth file lists what an analysis must
/// find (tests/scenarios.rs checks it against the capture), not synth fault lines.
fn is_scenario(args: &[String]) -> bool {
    args.iter().any(|a| a == "--scenario")
}

#[test]
fn clean_captures_pass_check() {
    for (name, args) in recipes() {
        if args.iter().any(|a| a == "--faults") || is_scenario(&args) {
            continue;
        }
        let (out, _, code) = ctiscope_in(&["check", &name], &root().join("captures"));
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.starts_with("0 findings"), "{name}: {out}");
    }
}

/// What `check` must report for one injected fault: (rule, frame or stream offset key).
fn expected(fault: &serde_json::Value) -> Option<(String, String)> {
    let kind = fault["fault"].as_str().unwrap();
    if matches!(kind, "reorder" | "retransmit" | "midstream" | "truncate") {
        // Reordering and identical retransmissions are repaired silently; a capture that
        // starts mid-stream or ends inside a record is not a protocol fault.
        return None;
    }
    let conn = fault["connection"].as_u64().unwrap();
    let frame = fault["frame"].as_u64().unwrap_or(0);
    let off = fault["stream_offset"].as_u64().unwrap_or(0);
    let dir = fault["direction"].as_str().unwrap_or("");
    match kind {
        "lost" => Some(("tcp-gap".into(), format!("{conn} {dir} @{off}"))),
        "diverge" => Some(("tcp-retransmission-conflict".into(), format!("{conn} {dir} @{off}"))),
        "unanswered" => {
            let rule =
                if fault["type"] == "HEARTBEAT_REQ" { "heartbeat-unanswered" } else { "invoke-unanswered" };
            Some((rule.into(), format!("{conn} #{frame}")))
        }
        "after-end" => Some(("call-event-after-end".into(), format!("{conn} #{frame}"))),
        "bad-count" => Some(("decode-count-mismatch".into(), format!("{conn} #{frame}"))),
        "oversize" => Some(("decode-value-too-long".into(), format!("{conn} #{frame}"))),
        other => panic!("unknown fault kind {other}"),
    }
}

#[test]
fn check_reports_every_injected_fault_and_nothing_else() {
    let dir = root().join("captures");
    for (name, args) in recipes() {
        if is_scenario(&args) {
            continue;
        }
        let Some(i) = args.iter().position(|a| a == "--truth") else { continue };
        let truth = std::fs::read_to_string(dir.join(&args[i + 1])).unwrap();
        let mut want: BTreeSet<(String, String)> = BTreeSet::new();
        let mut lost: Vec<(u64, String, u64, u64)> = Vec::new();
        for line in truth.lines() {
            let f: serde_json::Value = serde_json::from_str(line).unwrap();
            if f["fault"] == "lost" {
                lost.push((
                    f["connection"].as_u64().unwrap(),
                    f["direction"].as_str().unwrap().to_string(),
                    f["stream_offset"].as_u64().unwrap(),
                    f["length"].as_u64().unwrap(),
                ));
                continue;
            }
            if let Some(e) = expected(&f) {
                want.insert(e);
            }
        }
        let (out, _, _) = ctiscope_in(&["check", "-T", "jsonl", &name], &dir);
        let mut got: BTreeSet<(String, String)> = BTreeSet::new();
        let mut gaps: Vec<(u64, String, u64, u64)> = Vec::new();
        for line in out.lines() {
            let f: serde_json::Value = serde_json::from_str(line).unwrap();
            let rule = f["rule"].as_str().unwrap().to_string();
            let conn = f["connection"].as_u64().unwrap_or(u64::MAX);
            // Notes that explain what a lost segment took with it on that connection are
            // the gap's consequences, not further faults.
            let explains_gap = matches!(
                rule.as_str(),
                "confirm-request-not-captured" | "cti-resync" | "cti-incomplete" | "invoke-pending-at-end"
            );
            if f["severity"] == "note" && explains_gap && lost.iter().any(|l| l.0 == conn) {
                continue;
            }
            let frame = f["frames"][0].as_u64().unwrap_or(0);
            if rule == "tcp-gap" || rule == "tcp-retransmission-conflict" || rule == "cti-resync" {
                let msg = f["message"].as_str().unwrap();
                let dir_s = if msg.contains("client->server") { "client->server" } else { "server->client" };
                let num = |key: &str| -> u64 {
                    msg.split(key)
                        .nth(1)
                        .unwrap()
                        .split(|c: char| !c.is_ascii_digit())
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                };
                if rule == "tcp-gap" {
                    let len: u64 = msg.split_whitespace().next().unwrap().parse().unwrap();
                    gaps.push((conn, dir_s.to_string(), num("at offset "), len));
                    continue;
                }
                got.insert((rule, format!("{conn} {dir_s} @{}", num("at offset "))));
            } else {
                got.insert((rule, format!("{conn} #{frame}")));
            }
        }
        assert_eq!(got, want, "{name}: findings other than the injected faults:\n{out}");
        // Every lost segment lies inside a reported gap, and every gap covers lost bytes only.
        for (c, d, off, len) in &lost {
            assert!(
                gaps.iter().any(|(gc, gd, go, gl)| gc == c && gd == d && go <= off && off + len <= go + gl),
                "{name}: lost {len} bytes at {off} ({c} {d}) not reported; gaps {gaps:?}"
            );
        }
        let lost_total: u64 = lost.iter().map(|l| l.3).sum();
        let gap_total: u64 = gaps.iter().map(|g| g.3).sum();
        assert_eq!(gap_total, lost_total, "{name}: gap bytes vs lost bytes");
    }
}

/// Golden files are rewritten only with `CTISCOPE_BLESS=1`; any other value is refused.
#[test]
fn only_bless_1_blesses() {
    assert!(!bless_from(None));
    assert!(bless_from(Some("1")));
    for v in ["0", "", "true", "yes"] {
        assert!(std::panic::catch_unwind(|| bless_from(Some(v))).is_err(), "CTISCOPE_BLESS={v:?}");
    }
}
