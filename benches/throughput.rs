//! Throughput and peak-memory benchmark of the pipeline stages over a large synthetic capture.
//!
//! `cargo bench --bench throughput` (env: `CTISCOPE_BENCH_SIZE`, default `1G`;
//! `CTISCOPE_BENCH_CAPTURE=path` to use an existing capture; `CTISCOPE_BENCH_RUNS`, default 3).
//! The capture is made once with `ctiscope synth --size ...` into `target/bench-data/`.
//! Each mode runs in a child process (so its peak RSS is its own), several times; the table
//! reports the median. Output: a Markdown table on stdout.

use ctiscope::cti::decode::{Decoded, Decoder, VersionState};
use ctiscope::pipeline::{Event, Pipeline, Settings};
use ctiscope::render::{json, summary::Summary};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const MODES: &[(&str, &str)] = &[
    ("floor", "read the memory-mapped file once"),
    ("capture", "capture parsing only (pcap records)"),
    ("frame", "capture + link/IP/TCP + reassembly + CTI framing"),
    ("decode", "... + full decode of every message, no output"),
    ("summary", "... + summary lines to a sink"),
    ("jsonl", "... + JSON Lines to a sink"),
];

fn peak_rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Run one mode in this process; prints "messages seconds peak_kb".
fn child(mode: &str, path: &str) {
    let t = Instant::now();
    let mut messages = 0u64;
    match mode {
        "floor" => {
            let f = std::fs::File::open(path).unwrap();
            let m = unsafe { memmap2::Mmap::map(&f).unwrap() };
            let mut acc = 0u64;
            for c in m.chunks_exact(8) {
                acc = acc.wrapping_add(u64::from_le_bytes(c.try_into().unwrap()));
            }
            std::hint::black_box(acc);
        }
        "capture" => {
            ctiscope::capture::read_path(path, &mut |p| {
                messages += 1;
                std::hint::black_box(p.data.len());
            })
            .unwrap();
        }
        _ => {
            let mut p = Pipeline::new(Settings::default());
            let decoder = Decoder::default();
            let mut d = Decoded::default();
            let mut versions: ctiscope::FastMap<u32, VersionState> = Default::default();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::sink());
            let summary = Summary::default();
            let mut sink = |ev: Event<'_>| {
                if let Event::Message { flow, version, frame } = &ev {
                    messages += 1;
                    if mode == "frame" {
                        std::hint::black_box(frame.bytes.len());
                        return;
                    }
                    let st = versions.entry(flow.conn).or_default();
                    decoder.decode_into(frame.bytes, *version, st, &mut d);
                    match mode {
                        "summary" => summary.write_message(&mut out, flow, frame, &d).unwrap(),
                        "jsonl" => {
                            json::write_message(&mut out, flow, frame, &d).unwrap();
                            out.write_all(b"\n").unwrap();
                        }
                        _ => {
                            std::hint::black_box(d.fields.len());
                        }
                    }
                }
            };
            ctiscope::capture::read_path(path, &mut |pkt| p.packet(pkt, &mut sink)).unwrap();
            p.finish(&mut sink);
            out.flush().unwrap();
        }
    }
    println!("{messages} {} {}", t.elapsed().as_secs_f64(), peak_rss_kb());
}

fn capture_path(root: &Path) -> PathBuf {
    if let Ok(p) = std::env::var("CTISCOPE_BENCH_CAPTURE") {
        return PathBuf::from(p);
    }
    let size = std::env::var("CTISCOPE_BENCH_SIZE").unwrap_or_else(|_| "1G".into());
    let dir = root.join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("synth-{size}.pcap"));
    if !path.exists() {
        let bin = root.join("target/release/ctiscope");
        let st = Command::new("cargo")
            .args(["build", "--release", "--bin", "ctiscope"])
            .current_dir(root)
            .status();
        assert!(st.map(|s| s.success()).unwrap_or(false), "cargo build --release");
        let tmp = path.with_extension("tmp");
        let st = Command::new(&bin)
            .args(["synth", "--seed", "1", "--size", &size, "-w"])
            .arg(&tmp)
            .status()
            .expect("run ctiscope synth");
        assert!(st.success(), "ctiscope synth failed");
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2]);
        return;
    }
    // `cargo test --all-targets` runs bench binaries without `--bench`: nothing to do then.
    if !args.iter().any(|a| a == "--bench") {
        println!("throughput: run with `cargo bench --bench throughput`");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = capture_path(&root);
    let bytes = std::fs::metadata(&path).unwrap().len();
    let runs: usize = std::env::var("CTISCOPE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let me = std::env::current_exe().unwrap();
    // Warm the page cache.
    let _ = std::fs::read(&path).map(|v| v.len());
    println!(
        "capture: {} ({:.1} MB), {runs} runs per mode, median shown\n",
        path.display(),
        bytes as f64 / 1e6
    );
    println!("| mode | what | MB/s | messages/s | peak RSS (MB) |");
    println!("|---|---|---:|---:|---:|");
    for (mode, what) in MODES {
        let mut results: Vec<(f64, u64, u64)> = (0..runs)
            .map(|_| {
                let out = Command::new(&me).args(["--child", mode]).arg(&path).output().unwrap();
                assert!(out.status.success(), "{mode}: {}", String::from_utf8_lossy(&out.stderr));
                let s = String::from_utf8(out.stdout).unwrap();
                let v: Vec<&str> = s.split_whitespace().collect();
                (v[1].parse().unwrap(), v[0].parse().unwrap(), v[2].parse().unwrap())
            })
            .collect();
        results.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let (secs, msgs, rss) = results[results.len() / 2];
        let mbs = bytes as f64 / 1e6 / secs;
        let mps = if *mode == "floor" || *mode == "capture" {
            "-".to_string()
        } else {
            format!("{:.0}", msgs as f64 / secs)
        };
        println!("| {mode} | {what} | {mbs:.0} | {mps} | {:.1} |", rss as f64 / 1024.0);
    }
}
