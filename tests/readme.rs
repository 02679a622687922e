//! The README tells the truth: its usage lines run on `captures/contact-center.pcapng` and
//! select what they say they select, its list of bracketed lines names every one the tool
//! prints, and it names no file outside the repository.

use std::path::Path;
use std::process::Command;

const CAPTURE: &str = "captures/contact-center.pcapng";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// The lines of the "Usage" section's code block that read a capture named FILE (not
/// `corpus`, which writes a directory).
fn usage_lines() -> Vec<String> {
    let text = readme();
    let usage = &text[text.find("## Usage").expect("a Usage section")..];
    let block = usage.split("```").nth(1).expect("a code block in Usage");
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap().split(" | ").next().unwrap().trim().to_string())
        .filter(|l| l.starts_with("ctiscope ") && !l.starts_with("ctiscope corpus"))
        .filter(|l| l.split_whitespace().any(|w| w == "FILE" || w == "FILE..."))
        .collect()
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ctiscope")).args(args).current_dir(root()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn every_usage_line_runs_on_the_shipped_capture() {
    let lines = usage_lines();
    assert!(lines.len() >= 12, "usage lines found: {lines:?}");
    for line in &lines {
        let args: Vec<&str> = line
            .split_whitespace()
            .skip(1)
            .map(|w| if w == "FILE" || w == "FILE..." { CAPTURE } else { w })
            .filter(|w| !w.starts_with('`'))
            .collect();
        // `ctiscope FILE ... also `ctiscope -r FILE``: the comment was cut at " #".
        let (code, out) = run(&args);
        assert_eq!(code, 0, "`{line}` exited {code}");
        // `check -T jsonl` prints one line per finding, and the capture has none.
        if !line.contains("-T jsonl --fail-on") {
            assert!(!out.trim().is_empty(), "`{line}` printed nothing");
        }
        // A selector's id is in what it selected, beyond the connection lines.
        for (flag, id) in args.iter().zip(args.iter().skip(1)) {
            if ["--call", "--agent", "--invoke"].contains(flag) {
                let hits = out.lines().filter(|l| !l.contains("[connection") && l.contains(id)).count();
                assert!(hits >= 2, "`{line}`: {id} appears in {hits} lines:\n{out}");
            }
        }
    }
}

#[test]
fn the_selectors_of_the_examples_pick_the_right_messages() {
    let (_, out) = run(&["decode", "--call", "16795322", "--type", "CALL_ESTABLISHED_EVENT", CAPTURE]);
    let msgs: Vec<&str> = out.lines().filter(|l| l.contains(" → ")).collect();
    assert_eq!(msgs.len(), 3, "one CALL_ESTABLISHED_EVENT per connection that reports the call:\n{out}");
    assert!(msgs
        .iter()
        .all(|l| l.contains("CALL_ESTABLISHED_EVENT") && l.contains("ConnectionCallID=16795322")));
    let (_, out) = run(&["timeline", "--invoke", "469", CAPTURE]);
    assert!(
        out.contains("SET_AGENT_STATE_REQ") && out.contains("answers SET_AGENT_STATE_REQ (frame 38)"),
        "{out}"
    );
}

/// Every `[word` line that the renderers print is described in the README.
#[test]
fn the_readme_lists_every_bracketed_line() {
    let text = readme();
    let mut kinds = Vec::new();
    for file in ["src/render/summary.rs", "src/bin/ctiscope/live_cmd.rs"] {
        let src = std::fs::read_to_string(root().join(file)).unwrap();
        for (i, _) in src.match_indices("\"[").chain(src.match_indices("} [")) {
            let rest = &src[i + if src[i..].starts_with('}') { 3 } else { 2 }..];
            let kind: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == ' ').collect();
            let kind = kind.trim_end().to_string();
            if !kind.is_empty() && !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    for must in
        ["connection", "gap", "resync", "incomplete", "implausible header", "limit", "packet", "kernel drops"]
    {
        assert!(kinds.iter().any(|k| k == must), "the renderer no longer prints [{must}]: {kinds:?}");
    }
    for kind in &kinds {
        assert!(text.contains(&format!("`[{kind}")), "README does not describe [{kind}]");
    }
}

/// Nothing in the README points outside the repository.
#[test]
fn the_readme_names_only_files_in_the_repository() {
    let text = readme();
    assert!(!text.contains("../"), "README refers to a path outside the repository");
    for word in text.split(|c: char| c.is_whitespace() || "`()[],".contains(c)) {
        let word = word.trim_end_matches(['.', ':', ';']);
        let is_repo_path = ["spec/", "docs/", "captures/", "tests/", "tools/", "src/", "benches/", "fuzz/"]
            .iter()
            .any(|p| word.starts_with(p));
        if is_repo_path && !word.contains('*') && !word.contains('<') && !word.ends_with('/') {
            assert!(root().join(word).exists(), "README names {word}, which is not in the repository");
        }
    }
}
