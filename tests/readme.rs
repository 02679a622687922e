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

/// Words of a shell line: blanks split, single and double quotes group (no escapes).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// The "Filters" section's examples run on the shipped captures, and each filter selects
/// messages in at least one of them.
#[test]
fn every_filter_example_runs_and_selects_something() {
    let text = readme();
    let section = &text[text.find("## Filters").expect("a Filters section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let lines: Vec<Vec<String>> = section
        .split("```")
        .skip(1)
        .step_by(2)
        .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
        .map(|l| l.split(" #").next().unwrap().trim().to_string())
        .filter(|l| l.starts_with("ctiscope ") && l.contains(" FILE"))
        .map(|l| shell_words(&l))
        .collect();
    assert!(
        lines.iter().filter(|w| w.iter().any(|x| x == "-Y")).count() >= 10,
        "ten filter examples: {lines:?}"
    );
    let captures: Vec<String> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .map(|p| p.strip_prefix(root()).unwrap().to_string_lossy().into_owned())
        .collect();
    for words in &lines {
        let mut selected = 0;
        for cap in &captures {
            let args: Vec<String> = words[1..]
                .iter()
                .map(|w| {
                    if w == "FILE" {
                        cap.clone()
                    } else {
                        w.replace(".pcapng", &format!("-{}.pcapng", std::process::id()))
                    }
                })
                .collect();
            if args.iter().any(|a| a == "-w") {
                // The cut goes to a temporary file.
                let mut a = args.clone();
                let i = a.iter().position(|x| x == "-w").unwrap();
                a[i + 1] = std::env::temp_dir()
                    .join(format!("readme-cut-{}.pcapng", std::process::id()))
                    .to_string_lossy()
                    .into_owned();
                let refs: Vec<&str> = a.iter().map(String::as_str).collect();
                let (code, _) = run(&refs);
                assert!(code == 0 || cap.contains("truncated"), "{words:?} on {cap}: exit {code}");
                let _ = std::fs::remove_file(&a[i + 1]);
                selected += 1;
                continue;
            }
            let mut a = args.clone();
            if a[0] == "decode" && !a.iter().any(|x| x == "-T") {
                a.splice(1..1, ["-T".to_string(), "jsonl".to_string()]);
            }
            let refs: Vec<&str> = a.iter().map(String::as_str).collect();
            let (code, out) = run(&refs);
            // truncated.pcap is damaged on purpose: exit 2 after what could be read.
            let damaged = cap.contains("truncated") && code == 2;
            assert!(
                code == 0 || (code == 1 && a[0] == "check") || damaged,
                "{words:?} on {cap}: exit {code}"
            );
            selected += match a[0].as_str() {
                "decode" if a.iter().any(|x| x == "fields") => out.lines().count(),
                "decode" => out.lines().filter(|l| l.contains("\"event\":\"message\"")).count(),
                _ => usize::from(!out.is_empty()),
            };
        }
        assert!(selected > 0, "{words:?} selects nothing in the shipped captures");
    }
}
