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

/// The names of the entries of `dir`, sorted.
fn entries(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// The files the manifest of `dir` names, and the manifest itself.
fn listed(dir: &std::path::Path) -> BTreeSet<String> {
    let manifest = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    let mut files: BTreeSet<String> = manifest
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["file"].as_str().unwrap().to_string())
        .collect();
    files.insert("manifest.jsonl".to_string());
    files
}

#[test]
fn a_directory_holding_files_is_refused_without_force() {
    let dir = tmp("refuse");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("stale.bin"), b"from an earlier run").unwrap();
    let d = dir.to_str().unwrap();
    let (_, err, code) = ctiscope(&["corpus", "tests/data/multi-connection.pcapng", "-o", d]);
    assert_eq!(code, 2);
    assert!(err.contains(d) && err.contains("not empty") && err.contains("--force"), "{err}");
    // Nothing was written or removed.
    assert_eq!(entries(&dir), BTreeSet::from(["stale.bin".to_string()]));
    // An earlier corpus is refused too: a second run does not mix its files in.
    let again = tmp("refuse-again");
    let a = again.to_str().unwrap();
    let (_, err, code) = ctiscope(&["corpus", "tests/data/gap.pcap", "-o", a]);
    assert_eq!(code, 0, "{err}");
    let before = entries(&again);
    let (_, err, code) = ctiscope(&["corpus", "tests/data/multi-connection.pcapng", "-o", a]);
    assert_eq!(code, 2);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(entries(&again), before);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&again);
}

#[test]
fn force_empties_the_directory_first() {
    let dir = tmp("force");
    let outside = tmp("force-outside");
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(dir.join("stale.bin"), b"stale").unwrap();
    std::fs::write(dir.join(".hidden"), b"stale").unwrap();
    std::fs::write(dir.join("sub/deeper/x.bin"), b"stale").unwrap();
    std::fs::write(outside.join("keep.txt"), b"not ours").unwrap();
    // Links inside DIR are removed, never followed.
    std::os::unix::fs::symlink(&outside, dir.join("link-to-dir")).unwrap();
    std::os::unix::fs::symlink(outside.join("keep.txt"), dir.join("link-to-file")).unwrap();
    let d = dir.to_str().unwrap();
    let (_, err, code) = ctiscope(&["corpus", "tests/data/multi-connection.pcapng", "-o", d, "--force"]);
    assert_eq!(code, 0, "{err}");
    let present = entries(&dir);
    assert!(!present.contains("stale.bin") && !present.contains("sub"), "{present:?}");
    assert_eq!(present, listed(&dir), "the manifest lists exactly the files present");
    assert!(present.len() > 5, "{present:?}");
    assert_eq!(std::fs::read(outside.join("keep.txt")).unwrap(), b"not ours");
    // A second forced run from another capture: again exactly what its manifest lists.
    let (_, err, code) = ctiscope(&["corpus", "tests/data/gap.pcap", "-o", d, "--force"]);
    assert_eq!(code, 0, "{err}");
    let second = entries(&dir);
    assert_eq!(second, listed(&dir));
    assert!(second.len() < present.len(), "{second:?}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&outside);
}

#[test]
fn force_does_not_delete_the_capture_being_read() {
    let dir = tmp("force-input");
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.pcap");
    std::fs::copy(common::root().join("tests/data/gap.pcap"), &input).unwrap();
    let (_, err, code) =
        ctiscope(&["corpus", input.to_str().unwrap(), "-o", dir.to_str().unwrap(), "--force"]);
    assert_eq!(code, 2);
    assert!(err.contains("in.pcap"), "{err}");
    assert!(input.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_existing_directory_is_used() {
    let dir = tmp("empty");
    std::fs::create_dir_all(&dir).unwrap();
    let (_, err, code) = ctiscope(&["corpus", "tests/data/gap.pcap", "-o", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let present = entries(&dir);
    assert!(present.contains("manifest.jsonl") && present.len() > 1, "{present:?}");
    assert_eq!(present, listed(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_capture_is_named_and_nothing_is_created() {
    let dir = tmp("missing-input");
    let (_, err, code) = ctiscope(&["corpus", "nosuchfile.pcap", "-o", dir.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(err.trim_end(), "ctiscope: nosuchfile.pcap: no such file");
    assert!(!dir.exists());
}
