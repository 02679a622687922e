//! `ctiscope corpus`: files, manifest, deduplication, and the corpus re-read as a capture.

mod common;

use common::ctiscope;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ctiscope-corpus-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn corpus_reread_as_a_capture_decodes_to_the_same_messages() {
    let dir = tmp("frames");
    let pcap = dir.with_extension("pcap");
    let input = "tests/data/multi-connection.pcapng";
    let (_, err, code) = ctiscope(&[
        "corpus",
        input,
        "-o",
        dir.to_str().unwrap(),
        "--mutate",
        "4",
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let manifest = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = manifest.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let originals: BTreeSet<Vec<u8>> = lines
        .iter()
        .filter(|l| l["mutation"].is_null())
        .map(|l| std::fs::read(dir.join(l["file"].as_str().unwrap())).unwrap())
        .collect();
    // Every manifest line names a file of that size; mutated variants exist.
    for l in &lines {
        let b = std::fs::read(dir.join(l["file"].as_str().unwrap())).unwrap();
        assert_eq!(b.len() as u64, l["bytes"].as_u64().unwrap());
    }
    assert!(lines.iter().any(|l| !l["mutation"].is_null()));
    // The input's distinct messages, straight from decode.
    let (out, _, _) = ctiscope(&["decode", "-T", "jsonl", input]);
    let types_in: BTreeSet<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "message")
        .map(|v| v["type"].as_str().unwrap().to_string())
        .collect();
    // The corpus capture decodes to exactly the original files' bytes.
    let (out, _, code) = ctiscope(&["decode", "-x", pcap.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (json, _, _) = ctiscope(&["decode", "-T", "jsonl", pcap.to_str().unwrap()]);
    let msgs: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["event"] == "message")
        .collect();
    assert_eq!(msgs.len(), originals.len(), "{out}");
    let types_out: BTreeSet<String> = msgs.iter().map(|v| v["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(types_in, types_out);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn per_type_limit_and_body_format() {
    let dir = tmp("body");
    let (_, err, code) = ctiscope(&[
        "corpus",
        "tests/data/multi-connection.pcapng",
        "-o",
        dir.to_str().unwrap(),
        "--per-type",
        "1",
        "--format",
        "body",
    ]);
    assert_eq!(code, 0, "{err}");
    let manifest = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    let mut types = BTreeSet::new();
    for l in manifest.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(types.insert(v["type"].as_str().unwrap().to_string()), "two files of one type: {l}");
        if v["type"] == "HEARTBEAT_REQ" {
            // Body only: the 4-byte InvokeID.
            assert_eq!(v["bytes"], 4);
        }
    }
    assert!(types.contains("OPEN_REQ") && types.contains("HEARTBEAT_REQ"));
    let _ = std::fs::remove_dir_all(&dir);
}
