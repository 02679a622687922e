//! The `ctiscope` binary over the capture files in `tests/data/` and `captures/`, with golden
//! outputs in `tests/snapshots/`.
//!
//! The capture files are made by the scenarios of `tests/common` with the crate's own
//! writers; `capture_files_are_reproducible` checks that the committed bytes are exactly what
//! the scenarios produce. To regenerate captures and snapshots after a deliberate change, run
//! `CTISCOPE_BLESS=1 cargo test --test cli` and review the diff like code.

mod common;

use common::*;
use ctiscope::capture::build::Link;
use std::path::Path;
use std::process::Command;

const TS0: i64 = 1_767_600_000_000_000_000; // 2026-01-05 08:00:00 UTC

/// Every test capture: (path relative to the repository, bytes).
fn capture_files() -> Vec<(&'static str, Vec<u8>)> {
    let cl = "10.20.0.15:51234";
    let sv = "10.10.1.20:42027";
    let desk = |link| desktop_conv(link, cl, sv, 24, 1460, TS0);
    let mut files = vec![
        ("tests/data/desktop-ethernet.pcap", pcap_bytes(1, &desk(Link::Ethernet).pkts)),
        ("tests/data/desktop-vlan.pcapng", pcapng_bytes(1, &desk(Link::Vlan(120)).pkts)),
        ("tests/data/desktop-qinq.pcap", pcap_bytes(1, &desk(Link::QinQ(300, 120)).pkts)),
        ("tests/data/desktop-sll.pcap", pcap_bytes(113, &desk(Link::Sll).pkts)),
        ("tests/data/desktop-sll2.pcapng", pcapng_bytes(276, &desk(Link::Sll2).pkts)),
        ("tests/data/desktop-null.pcap", pcap_bytes(0, &desk(Link::Null).pkts)),
        (
            "tests/data/desktop-raw-ipv6.pcap",
            pcap_bytes(
                101,
                &desktop_conv(Link::Raw, "[2001:db8:20::15]:51234", "[2001:db8:10::20]:42027", 24, 1460, TS0)
                    .pkts,
            ),
        ),
        ("tests/data/desktop-ethernet.pcap.gz", gzip(&pcap_bytes(1, &desk(Link::Ethernet).pkts))),
        (
            "tests/data/desktop-v15-split.pcap",
            pcap_bytes(1, &desktop_conv(Link::Ethernet, cl, sv, 15, 9, TS0).pkts),
        ),
    ];
    // Mid-stream: the handshake, OPEN_REQ and OPEN_CONF are not captured.
    let d = desk(Link::Ethernet);
    files.push(("tests/data/midstream.pcap", pcap_bytes(1, &d.pkts[5..])));
    // One direction: only what the server sent.
    let one: Vec<Pkt> =
        d.pkts.iter().filter(|(_, p)| u16::from_be_bytes([p[34], p[35]]) == 42027).cloned().collect();
    files.push(("tests/data/one-direction.pcap", pcap_bytes(1, &one)));
    // Reordered and retransmitted segments.
    let mut r = desktop_conv(Link::Ethernet, cl, sv, 24, 24, TS0).pkts;
    r.swap(6, 7);
    let dup = r[10].clone();
    r.insert(12, dup);
    files.push(("tests/data/reorder-retransmit.pcap", pcap_bytes(1, &r)));
    // A lost segment in the middle of an AGENT_STATE_EVENT.
    let (cm, sm) = desktop_session(24);
    let mut g = Conv::new(Link::Ethernet, cl, sv, [1000, 5000], TS0);
    g.handshake();
    g.send(C, &cm[0], 1460);
    g.send(S, &sm[0], 1460);
    g.lose(S, 20);
    g.send(S, &sm[2][20..], 1460);
    g.send(S, &sm[3], 1460);
    g.ack(C);
    g.send(S, &sm[4], 1460);
    g.close();
    files.push(("tests/data/gap.pcap", pcap_bytes(1, &g.pkts)));
    // Two server sides and a CTI server on an unconfigured port, interleaved.
    let a = desktop_conv(Link::Ethernet, cl, sv, 24, 1460, TS0);
    let b = desktop_conv(Link::Ethernet, "10.20.0.16:50001", "10.10.1.21:43027", 20, 100, TS0 + 400_000);
    let h = desktop_conv(Link::Ethernet, "10.20.0.17:50002", "10.10.1.22:9000", 19, 1460, TS0 + 700_000);
    let mut m: Vec<Pkt> = a.pkts.into_iter().chain(b.pkts).chain(h.pkts).collect();
    m.sort_by_key(|p| p.0);
    files.push(("tests/data/multi-connection.pcapng", pcapng_bytes(1, &m)));
    // A capture cut in the middle of a record.
    let full = pcap_bytes(1, &d.pkts);
    files.push(("tests/data/truncated.pcap", full[..full.len() - 30].to_vec()));
    // The same session in pcapng.
    files.push(("tests/data/desktop-session.pcapng", pcapng_bytes(1, &d.pkts)));
    files
}

#[test]
fn capture_files_are_reproducible() {
    for (rel, bytes) in capture_files() {
        let p = root().join(rel);
        if bless() {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &bytes).unwrap();
            continue;
        }
        let committed = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            committed == bytes,
            "{rel} differs from what its scenario writes (CTISCOPE_BLESS=1 to regenerate)"
        );
    }
}

fn snap_name(rel: &str, suffix: &str) -> String {
    let f = Path::new(rel).file_name().unwrap().to_string_lossy().replace('.', "_");
    format!("{f}.{suffix}")
}

#[test]
fn summary_snapshots_of_every_test_capture() {
    for (rel, _) in capture_files() {
        let (out, err, code) = ctiscope(&["decode", rel]);
        let expect_code = if rel.contains("truncated") { 2 } else { 0 };
        assert_eq!(code, expect_code, "{rel}: {err}");
        snapshot(&snap_name(rel, "txt"), &out);
    }
}

#[test]
fn tree_hex_and_json_snapshots() {
    let rel = "tests/data/desktop-ethernet.pcap";
    let (out, _, code) = ctiscope(&["decode", "-V", "-x", rel]);
    assert_eq!(code, 0);
    snapshot("desktop-ethernet.tree.txt", &out);
    let (out, _, code) = ctiscope(&["decode", "-T", "jsonl", rel]);
    assert_eq!(code, 0);
    snapshot("desktop-ethernet.jsonl", &out);
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["schema"], 1);
    }
    let (out, _, _) = ctiscope(&["decode", "-T", "json", rel]);
    let arr: serde_json::Value = serde_json::from_str(&out).unwrap();
    // 9 messages, the connection and its end.
    assert_eq!(arr.as_array().unwrap().len(), 9 + 2);
}

#[test]
fn shorthands_read_like_tshark() {
    let rel = "tests/data/desktop-ethernet.pcap";
    let (a, _, code) = ctiscope(&["decode", rel]);
    assert_eq!(code, 0);
    assert!(a.contains("OPEN_REQ"), "{a}");
    let (b, err, code) = ctiscope(&[rel]);
    assert_eq!(code, 0, "{err}");
    let (c, _, _) = ctiscope(&["-r", rel]);
    assert_eq!(a, b);
    assert_eq!(a, c);
    // `-` (stdin) is a capture too.
    let out = Command::new(env!("CARGO_BIN_EXE_ctiscope"))
        .arg("-")
        .current_dir(root())
        .stdin(std::fs::File::open(root().join(rel)).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), a);
}

#[test]
fn a_mistyped_command_is_not_read_as_a_capture() {
    let (out, err, code) = ctiscope(&["stat", "tests/data/gap.pcap"]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("unknown command 'stat' (did you mean 'stats'?)"), "{err}");
    assert!(!err.contains("frame"), "{err}");
    let (_, err, code) = ctiscope(&["timline"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown command 'timline' (did you mean 'timeline'?)"), "{err}");
    // Nothing close: no suggestion, the list of commands.
    let (out, err, code) = ctiscope(&["xyz", "tests/data/gap.pcap"]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("unknown command 'xyz' and no such file; commands: decode, live,"), "{err}");
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn an_existing_file_named_like_a_command_is_decoded() {
    // A file wins over the suggestion: `stat` here is a capture.
    let dir = std::env::temp_dir().join(format!("ctiscope-cli-{}-stat", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(root().join("tests/data/desktop-ethernet.pcap"), dir.join("stat")).unwrap();
    let (want, _, _) = ctiscope(&["decode", "tests/data/desktop-ethernet.pcap"]);
    let (got, err, code) = ctiscope_in(&["stat"], &dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    assert!(got.contains("OPEN_REQ") && got == want, "{got}");
}

#[test]
fn unreadable_inputs_exit_2_with_a_clear_message() {
    for cmd in ["decode", "check", "stats", "timeline"] {
        let (out, err, code) = ctiscope(&[cmd, "tests/data/does-not-exist.pcap"]);
        assert_eq!(code, 2, "{cmd}");
        assert!(out.is_empty(), "{cmd}: {out}");
        assert_eq!(err.trim_end(), "ctiscope: tests/data/does-not-exist.pcap: no such file", "{cmd}");
    }
    // Checked before anything is read or printed: no output for the good file either.
    let (out, err, code) = ctiscope(&["decode", "tests/data/gap.pcap", "-r", "nosuchfile.pcap"]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("ctiscope: nosuchfile.pcap: no such file"), "{err}");
    let (out, err, code) = ctiscope(&["decode", "tests/data"]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("tests/data: is a directory"), "{err}");
    let (out, err, code) = ctiscope(&["decode", "tests/data/truncated.pcap"]);
    assert_eq!(code, 2);
    assert!(out.contains("CLOSE_CONF"), "frames before the damage are printed");
    assert!(err.contains("truncated.pcap") && err.contains("frame"), "{err}");
}

#[test]
fn an_input_without_read_permission_is_named() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = std::env::temp_dir().join(format!("ctiscope-cli-{}-perm", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret.pcap");
    std::fs::copy(root().join("tests/data/gap.pcap"), &file).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ctiscope"));
    cmd.args(["decode", file.to_str().unwrap()]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Root reads anything: run as nobody.
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("secret.pcap: permission denied"), "{err}");
}

/// Each option of a help text, by name (`-V`, `--verbose`), with the heading it is listed
/// under ("Options", "Input", ...). An option listed twice fails the test.
fn help_headings(help: &str) -> std::collections::BTreeMap<String, String> {
    let mut map = std::collections::BTreeMap::new();
    let mut heading = String::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            heading = line.trim_end_matches(':').to_string();
            continue;
        }
        let t = line.trim_start();
        // An option line starts with its names, indented by at most 6 columns; wrapped help
        // and possible-value lines (`- ad: ...`) do not.
        if !t.starts_with('-') || t.starts_with("- ") || line.len() - t.len() > 6 {
            continue;
        }
        let names = t.split("  ").next().unwrap();
        for name in names.split(", ") {
            let name = name.split([' ', '=']).next().unwrap().to_string();
            if let Some(before) = map.insert(name.clone(), heading.clone()) {
                panic!("{name} listed under {before} and {heading}:\n{help}");
            }
        }
    }
    map
}

/// The output of `ctiscope ARGS`, which must succeed.
fn help(args: &[&str]) -> String {
    let (out, err, code) = ctiscope(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

#[test]
fn help_lists_each_option_under_its_heading() {
    let want: &[(&str, &[(&str, &str)])] = &[
        (
            "decode",
            &[
                ("-h", "Options"),
                ("-r", "Input"),
                ("-t", "Output"),
                ("-V", "Output"),
                ("--verbose", "Output"),
                ("-x", "Output"),
                ("-T", "Output"),
                ("--call", "Selection"),
                ("--agent", "Selection"),
                ("--type", "Selection"),
                ("--session", "Selection"),
                ("--protocol-version", "Decoding"),
                ("--port", "Decoding"),
                ("--no-heuristics", "Decoding"),
                ("-j", "Limits"),
                ("--max-buffered", "Limits"),
                ("--max-message-length", "Limits"),
            ],
        ),
        (
            "check",
            &[
                ("-r", "Input"),
                ("-T", "Output"),
                ("--fail-on", "Output"),
                ("--request-timeout", "Analysis"),
                ("--max-findings-per-rule", "Analysis"),
                ("--protocol-version", "Decoding"),
                ("--port", "Decoding"),
                ("-j", "Limits"),
                ("--max-connections", "Limits"),
            ],
        ),
        (
            "timeline",
            &[
                ("-r", "Input"),
                ("--call", "Selection"),
                ("--agent", "Selection"),
                ("--session", "Selection"),
                ("--invoke", "Selection"),
                ("-T", "Output"),
                ("--request-timeout", "Analysis"),
                ("-j", "Limits"),
            ],
        ),
        (
            "stats",
            &[
                ("-r", "Input"),
                ("--request-timeout", "Analysis"),
                ("--protocol-version", "Decoding"),
                ("-j", "Limits"),
                ("--max-buffered-total", "Limits"),
            ],
        ),
        (
            "corpus",
            &[
                ("-r", "Input"),
                ("-o", "Output"),
                ("--force", "Output"),
                ("--format", "Output"),
                ("--pcap", "Output"),
                ("--per-type", "Selection"),
                ("--mutate", "Mutation"),
                ("--seed", "Mutation"),
                ("--port", "Decoding"),
                ("--max-buffered", "Limits"),
            ],
        ),
        (
            "live",
            &[
                ("-V", "Output"),
                ("-T", "Output"),
                ("--call", "Selection"),
                ("--protocol-version", "Decoding"),
                ("--max-buffered", "Limits"),
            ],
        ),
    ];
    let live_options = ["--buffer-size", "--duration", "--interface", "-B", "-c", "-f", "-i", "-w"];
    for (cmd, options) in want {
        for flag in ["-h", "--help"] {
            let text = help(&[cmd, flag]);
            let got = help_headings(&text);
            for (option, heading) in options.iter() {
                assert_eq!(
                    got.get(*option).map(String::as_str),
                    Some(*heading),
                    "`ctiscope {cmd} {flag}`: {option}\n{text}"
                );
            }
            // "Live capture" lists the live capture options, and only them.
            let live: Vec<&str> =
                got.iter().filter(|(_, h)| *h == "Live capture").map(|(o, _)| o.as_str()).collect();
            let want_live: &[&str] = if *cmd == "corpus" { &[] } else { &live_options };
            assert_eq!(live, want_live, "`ctiscope {cmd} {flag}`\n{text}");
        }
    }
}

#[test]
fn live_takes_no_capture_files() {
    for flag in ["-h", "--help"] {
        let text = help(&["live", flag]);
        let got = help_headings(&text);
        assert!(!text.contains("[FILE]"), "{text}");
        assert!(!got.contains_key("-r") && !got.contains_key("--read"), "{text}");
        assert!(got.contains_key("-i"), "{text}");
    }
    let (_, err, code) = ctiscope(&["live", "-i", "lo", "-r", "tests/data/gap.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '-r'"), "{err}");
    let (_, err, code) = ctiscope(&["live", "-i", "lo", "tests/data/gap.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument 'tests/data/gap.pcap'"), "{err}");
}

#[test]
fn corpus_offers_no_live_capture_options() {
    for flag in ["-h", "--help"] {
        let text = help(&["corpus", flag]);
        let got = help_headings(&text);
        for live in ["-w", "-c", "-i", "-f", "-B", "--duration", "--interface"] {
            assert!(!got.contains_key(live), "corpus {flag} offers {live}:\n{text}");
        }
        assert!(got.contains_key("-o") && got.contains_key("--force"), "{text}");
    }
    let (_, err, code) =
        ctiscope(&["corpus", "tests/data/gap.pcap", "-o", "/nonexistent/x", "-w", "y.pcapng"]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '-w'"), "{err}");
}

#[test]
fn spec_command_lists_and_describes() {
    let (out, _, code) = ctiscope(&["spec"]);
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.trim() == "30 AGENT_STATE_EVENT"), "{out}");
    let (out, _, code) = ctiscope(&["spec", "AGENT_STATE_EVENT"]);
    assert_eq!(code, 0);
    assert!(out.contains("Table 18") || out.contains("guide table: 18"), "{out}");
    let (by_num, _, _) = ctiscope(&["spec", "30"]);
    assert_eq!(by_num, out);
    let (_, err, code) = ctiscope(&["spec", "NO_SUCH_MESSAGE"]);
    assert_eq!(code, 2);
    assert!(err.contains("NO_SUCH_MESSAGE"));
}

#[test]
fn closed_pipe_ends_quietly() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctiscope"))
        .args(["decode", "-V", "tests/data/multi-connection.pcapng"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.is_empty(), "{err}");
    assert!(status.success(), "{status:?}");
}

#[test]
fn parallel_decoding_gives_identical_output() {
    for capture in
        ["captures/contact-center.pcapng", "tests/data/multi-connection.pcapng", "captures/faults-lost.pcap"]
    {
        for mode in [&[][..], &["-V", "-x"][..], &["-T", "jsonl"][..], &["-T", "json"][..], &["-t", "r"][..]]
        {
            let mut one = vec!["decode", "-j", "1", capture];
            one.extend_from_slice(mode);
            let (want, _, c1) = ctiscope(&one);
            assert!(!want.is_empty());
            // Tiny batches so that every thread takes part: with -j 2 the main thread and one
            // worker render, with -j 3 two workers too.
            for jobs in ["2", "3"] {
                let mut many = vec!["decode", "-j", jobs, "--batch-items", "7", capture];
                many.extend_from_slice(mode);
                let (got, _, c2) = ctiscope(&many);
                assert_eq!(c1, c2);
                assert!(want == got, "{capture} {mode:?}: -j {jobs} output differs from -j 1");
            }
        }
    }
}

#[test]
fn parallel_analysis_gives_identical_output() {
    for capture in [
        "captures/contact-center.pcapng",
        "tests/data/multi-connection.pcapng",
        "captures/faults-lost.pcap",
        "tests/data/midstream.pcap",
        "tests/data/gap.pcap",
    ] {
        for cmd in [
            &["check"][..],
            &["check", "-T", "jsonl"][..],
            &["timeline"][..],
            &["stats"][..],
            &["timeline", "-T", "jsonl"][..],
            &["check", "--protocol-version", "15"][..],
        ] {
            let mut one = cmd.to_vec();
            one.extend_from_slice(&["-j", "1", capture]);
            let (want, err1, c1) = ctiscope(&one);
            // Tiny batches so that every thread takes part: with -j 2 the pipeline thread and
            // the calling thread decode, with -j 3 a worker too.
            for jobs in ["2", "3"] {
                let mut many = cmd.to_vec();
                many.extend_from_slice(&["-j", jobs, "--batch-items", "3", capture]);
                let (got, err2, c2) = ctiscope(&many);
                assert_eq!(c1, c2, "{capture} {cmd:?}: exit status");
                assert_eq!(err1, err2, "{capture} {cmd:?}: stderr");
                assert!(want == got, "{capture} {cmd:?}: -j {jobs} output differs from -j 1");
            }
            // `check --format jsonl` prints nothing for a capture without findings.
            assert!(!want.is_empty() || cmd.contains(&"jsonl"), "{capture} {cmd:?}: no output");
        }
    }
}

/// Compare with `tests/snapshots/NAME`.
fn snapshot(name: &str, actual: &str) {
    snapshot_in("", name, actual);
}

/// Byte options take K, M and G suffixes (powers of 1024), as `synth --size` does.
#[test]
fn byte_options_take_size_suffixes() {
    let cap = "captures/faults-lost.pcap";
    let (plain, _, code) = ctiscope(&["decode", cap]);
    assert_eq!(code, 0);
    for args in [
        ["--max-buffered", "1M"],
        ["--max-buffered-total", "96M"],
        ["--max-message-length", "64K"],
        ["--max-message-length", "65536"],
    ] {
        let (out, err, code) = ctiscope(&["decode", args[0], args[1], cap]);
        assert_eq!((code, err.as_str()), (0, ""), "{args:?}");
        assert_eq!(out, plain, "{args:?} is the default");
    }
    let (small, _, _) = ctiscope(&["decode", "--max-buffered", "2K", cap]);
    let (bytes, _, _) = ctiscope(&["decode", "--max-buffered", "2048", cap]);
    assert_eq!(small, bytes);
    for bad in ["1x", "K", "5G"] {
        let (_, err, code) = ctiscope(&["decode", "--max-message-length", bad, cap]);
        assert_eq!(code, 2, "{bad}");
        assert!(err.contains("--max-message-length"), "{bad}: {err}");
    }
}
