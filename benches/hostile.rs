//! Time and peak memory of the pipeline over hostile captures.
//!
//! `cargo bench --bench hostile` generates each case into `target/bench-data/hostile/` (once;
//! delete the directory to regenerate), runs it through the pipeline and the decoder in a
//! child process (so the peak RSS is the case's own) and prints a Markdown table. Most cases
//! are generated at full size and at a quarter of it: time should scale with the input and
//! the peak memory should not.
//!
//! Cases:
//! - `ooo`: one connection whose segments arrive shuffled within windows of 20,000 segments
//!   (1,000,000 segments of 96 bytes);
//! - `conns`: 100,000 simultaneous connections (handshake and one message each, none closed);
//! - `tiny`: one 100,000-byte message in 100,000 one-byte segments;
//! - `incomplete`: 65,536 connections, each with the first 60 KB of a message that never
//!   completes (held by the framers, within `--max-buffered-total`);
//! - `reversed`: 600 messages of 168 bytes (100,800 bytes) in one-byte segments, last byte
//!   first (each joins the buffered bytes after it: nothing is lost);
//! - `handshakes`: 2,000,000 connections to port 42027 with no CTI data: each a handshake,
//!   every other one also closed with FINs (the rest left open, dropped at `--max-connections`);
//!   run through the pipeline and also through `ctiscope check`, `stats` and `timeline`
//!   (`-j 1`), whose per-connection state must stay within `--max-analysis-memory`;
//! - `random`: 200 MB of random bytes to port 42027, no handshake;
//! - `gz-random`: the `random` capture gzip-compressed (about 200 MB of compressed file: its
//!   peak RSS should be that of `random`, not the file's size);
//! - `gzbomb`: 1 GB of zeros, gzip-compressed;
//! - `gzbomb-pcap`: a pcap header followed by 1 GB of zeros, gzip-compressed (67 million
//!   empty records);
//! - `clean`: `target/bench-data/synth-1G.pcap` (or `CTISCOPE_BENCH_CLEAN=path`), if present.
//!
//! Env: `CTISCOPE_HOSTILE_CASES=ooo,conns,...` runs only those cases.
//!
//! Run without `--bench` (as `cargo test --all-targets` does), every case is 1/1024 of its
//! size, generated under the build's temporary directory: a quick check that the cases
//! still run.

use ctiscope::capture::build::{tcp_frame, Link, TcpSpec};
use ctiscope::capture::write::PcapWriter;
use ctiscope::pipeline::{Event, Pipeline, Settings};
use ctiscope::stage::Stage;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const TS0: i64 = 1_767_600_000_000_000_000;

fn peak_rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Deterministic xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn msg(ty: u32, body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(&ty.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A HEARTBEAT_REQ with the given InvokeID (12 bytes).
fn heartbeat(invoke: u32) -> Vec<u8> {
    msg(5, &invoke.to_be_bytes())
}

type Out = PcapWriter<BufWriter<std::fs::File>>;

fn writer(path: &Path) -> Out {
    let f = std::fs::File::create(path).unwrap();
    PcapWriter::new(BufWriter::with_capacity(1 << 20, f), 1, 65535).unwrap()
}

/// Writes one segment from `ends.0` to `ends.1`.
fn seg(w: &mut Out, ts: i64, ends: (SocketAddr, SocketAddr), seq: u32, ack: u32, flags: u8, payload: &[u8]) {
    let (src, dst) = ends;
    let f = tcp_frame(Link::Ethernet, &TcpSpec { src, dst, seq, ack, flags, payload });
    w.write_packet(ts, &f).unwrap();
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// One connection; the server sends `segments` segments of 96 bytes (8 heartbeats each),
/// shuffled within windows of 20,000 segments.
fn gen_ooo(path: &Path, segments: usize) {
    let mut w = writer(path);
    let (c, s) = (addr("10.0.0.1:50000"), addr("10.0.0.2:42027"));
    seg(&mut w, TS0, (c, s), 999, 0, SYN, &[]);
    seg(&mut w, TS0 + 1, (s, c), 4999, 1000, SYN | ACK, &[]);
    let mut payload = Vec::with_capacity(96);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let window = 20_000;
    let mut order: Vec<usize> = Vec::with_capacity(window);
    let mut ts = TS0 + 2;
    for start in (0..segments).step_by(window) {
        let end = (start + window).min(segments);
        order.clear();
        order.extend(start..end);
        for i in (1..order.len()).rev() {
            let j = rng.below(i + 1);
            order.swap(i, j);
        }
        for &k in &order {
            payload.clear();
            for m in 0..8 {
                payload.extend(heartbeat((k * 8 + m) as u32));
            }
            let seq = 5000u32.wrapping_add((k * 96) as u32);
            seg(&mut w, ts, (s, c), seq, 1000, PSH | ACK, &payload);
            ts += 1000;
        }
    }
    w.flush().unwrap();
}

/// The `i`th of many client addresses: 50,000 ports on each address from 10.1.0.0 on.
fn nth_client(i: usize) -> SocketAddr {
    let ip = std::net::Ipv4Addr::from(0x0a01_0000u32 + (i / 50_000) as u32);
    SocketAddr::new(ip.into(), 10_000 + (i % 50_000) as u16)
}

/// A three-way handshake from client `c` to server `s` at `ts` (client ISN 999, server 4999).
fn handshake(w: &mut Out, ts: i64, (c, s): (SocketAddr, SocketAddr)) {
    seg(w, ts, (c, s), 999, 0, SYN, &[]);
    seg(w, ts + 1, (s, c), 4999, 1000, SYN | ACK, &[]);
    seg(w, ts + 2, (c, s), 1000, 5000, ACK, &[]);
}

/// `n` connections, each a handshake and one heartbeat from the client, none closed.
fn gen_conns(path: &Path, n: usize) {
    let mut w = writer(path);
    let s = addr("10.0.0.2:42027");
    let hb = heartbeat(1);
    let mut ts = TS0;
    for i in 0..n {
        let c = nth_client(i);
        handshake(&mut w, ts, (c, s));
        seg(&mut w, ts + 3, (c, s), 1000, 5000, PSH | ACK, &hb);
        ts += 1000;
    }
    w.flush().unwrap();
}

/// `n` connections without CTI data: a handshake each, and every other one closed by both
/// sides (FIN, FIN+ACK, ACK).
fn gen_handshakes(path: &Path, n: usize) {
    let mut w = writer(path);
    let s = addr("10.0.0.2:42027");
    let mut ts = TS0;
    for i in 0..n {
        let c = nth_client(i);
        handshake(&mut w, ts, (c, s));
        if i % 2 == 0 {
            seg(&mut w, ts + 3, (c, s), 1000, 5000, FIN | ACK, &[]);
            seg(&mut w, ts + 4, (s, c), 5000, 1001, FIN | ACK, &[]);
            seg(&mut w, ts + 5, (c, s), 1001, 5001, ACK, &[]);
        }
        ts += 1000;
    }
    w.flush().unwrap();
}

/// One message of `len` bytes (header included) from the server, one byte per segment.
fn gen_tiny(path: &Path, len: usize) {
    let mut w = writer(path);
    let (c, s) = (addr("10.0.0.1:50000"), addr("10.0.0.2:42027"));
    seg(&mut w, TS0, (c, s), 999, 0, SYN, &[]);
    seg(&mut w, TS0 + 1, (s, c), 4999, 1000, SYN | ACK, &[]);
    let body: Vec<u8> = (0..len - 8).map(|i| i as u8).collect();
    let m = msg(5, &body);
    for (i, b) in m.iter().enumerate() {
        seg(&mut w, TS0 + 2 + i as i64, (s, c), 5000 + i as u32, 1000, PSH | ACK, std::slice::from_ref(b));
    }
    w.flush().unwrap();
}

/// `n` connections, each sending the first 60,000 bytes of a 61,000-byte message.
fn gen_incomplete(path: &Path, n: usize) {
    let mut w = writer(path);
    let mut ts = TS0;
    let mut m = 60_992u32.to_be_bytes().to_vec();
    m.extend(25u32.to_be_bytes());
    m.resize(60_000, 0);
    for i in 0..n {
        let c =
            addr(&format!("10.{}.{}.{}:{}", 1 + i / 65_536, (i / 256) % 256, i % 256, 20_000 + i % 40_000));
        let s = addr("10.0.0.2:42027");
        seg(&mut w, ts, (c, s), 999, 0, SYN, &[]);
        seg(&mut w, ts + 1, (s, c), 4999, 1000, SYN | ACK, &[]);
        for (k, piece) in m.chunks(1460).enumerate() {
            seg(&mut w, ts + 2 + k as i64, (s, c), 5000 + (k * 1460) as u32, 1000, PSH | ACK, piece);
        }
        ts += 1000;
    }
    w.flush().unwrap();
}

/// `n` 168-byte messages from the server, one byte per segment, the last byte first.
fn gen_reversed(path: &Path, n: usize) {
    let mut w = writer(path);
    let (c, s) = (addr("10.0.0.1:50000"), addr("10.0.0.2:42027"));
    seg(&mut w, TS0, (c, s), 999, 0, SYN, &[]);
    seg(&mut w, TS0 + 1, (s, c), 4999, 1000, SYN | ACK, &[]);
    let stream: Vec<u8> =
        (0..n as u32).flat_map(|i| msg(5, &[i.to_be_bytes().as_slice(), &[0u8; 156]].concat())).collect();
    for (k, (i, b)) in stream.iter().enumerate().rev().enumerate() {
        seg(&mut w, TS0 + 2 + k as i64, (s, c), 5000 + i as u32, 1000, PSH | ACK, std::slice::from_ref(b));
    }
    w.flush().unwrap();
}

/// `bytes` random bytes from port 42027, no handshake, 1460 per segment.
fn gen_random(path: &Path, bytes: usize) {
    let mut w = writer(path);
    let (c, s) = (addr("10.0.0.1:50000"), addr("10.0.0.2:42027"));
    let mut rng = Rng(42);
    let mut payload = vec![0u8; 1460];
    let mut seq = 77u32;
    let mut sent = 0;
    let mut ts = TS0;
    while sent < bytes {
        let n = payload.len().min(bytes - sent);
        for c8 in payload[..n].chunks_mut(8) {
            let r = rng.next().to_le_bytes();
            c8.copy_from_slice(&r[..c8.len()]);
        }
        seg(&mut w, ts, (s, c), seq, 1000, PSH | ACK, &payload[..n]);
        seq = seq.wrapping_add(n as u32);
        sent += n;
        ts += 1000;
    }
    w.flush().unwrap();
}

/// `zeros` zero bytes, after `prefix`, gzip-compressed.
fn gen_gzbomb(path: &Path, prefix: &[u8], zeros: usize) {
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(BufWriter::new(f), flate2::Compression::best());
    gz.write_all(prefix).unwrap();
    let block = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(block.len());
        gz.write_all(&block[..n]).unwrap();
        left -= n;
    }
    gz.finish().unwrap().flush().unwrap();
}

/// `gen_random`'s capture of `bytes`, gzip-compressed (random payloads hardly compress: the
/// file is about as large as the capture).
fn gen_random_gz(path: &Path, bytes: usize) {
    let plain = path.with_extension("plain");
    gen_random(&plain, bytes);
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(BufWriter::new(f), flate2::Compression::fast());
    std::io::copy(&mut std::fs::File::open(&plain).unwrap(), &mut gz).unwrap();
    gz.finish().unwrap().flush().unwrap();
    std::fs::remove_file(plain).unwrap();
}

fn pcap_header() -> Vec<u8> {
    PcapWriter::new(Vec::new(), 1, 65535).unwrap().into_inner()
}

/// Pipeline settings of a case (the `tiny` message is above the default hard maximum).
fn settings(case: &str) -> Settings {
    let mut s = Settings::default();
    if case.starts_with("tiny") {
        s.framing.hard_max_length = 1 << 20;
    }
    s
}

/// Runs one case in this process; prints
/// "seconds peak_kb messages gaps skipped_bytes limits packet_issues error".
fn child(case: &str, path: &str) {
    let t = Instant::now();
    let mut p = Pipeline::new(settings(case));
    let mut stage = Stage::new(None);
    let (mut messages, mut limits, mut issues) = (0u64, 0u64, 0u64);
    let mut sink = |ev: Event<'_>| match (&ev, stage.decode(&ev)) {
        (Event::Message { .. }, Some(d)) => {
            messages += 1;
            std::hint::black_box(d.fields.len());
        }
        (Event::Limit { .. }, _) => limits += 1,
        (Event::PacketIssue { .. }, _) => issues += 1,
        _ => {}
    };
    let res = ctiscope::capture::read_path(path, &mut |pkt| p.packet(pkt, &mut sink));
    p.finish(&mut sink);
    let st = p.stats().clone();
    let err = match res {
        Ok(_) => "-".to_string(),
        Err(e) => match e.kind {
            ctiscope::capture::CaptureErrorKind::UnknownFormat { .. } => "not-a-capture".into(),
            k => format!("{k:?}").split(['(', ' ', '{']).next().unwrap_or("error").to_string(),
        },
    };
    println!(
        "{} {} {messages} {} {} {limits} {issues} {err}",
        t.elapsed().as_secs_f64(),
        peak_rss_kb(),
        st.gaps,
        st.skipped_bytes
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], &args[i + 2]);
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // `cargo bench` passes --bench; anything else gets the small smoke run.
    let full = args.iter().any(|a| a == "--bench");
    let scale = if full { 1 } else { 1024 };
    let dir = if full {
        root.join("target/bench-data/hostile")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile-smoke")
    };
    std::fs::create_dir_all(&dir).unwrap();
    let only: Option<Vec<String>> =
        std::env::var("CTISCOPE_HOSTILE_CASES").ok().map(|v| v.split(',').map(str::to_string).collect());
    let want = |case: &str| only.as_ref().is_none_or(|o| o.iter().any(|c| case.starts_with(c.as_str())));
    type Gen = Box<dyn Fn(&Path)>;
    let mut cases: Vec<(String, &str, Gen)> = vec![];
    for (tag, div) in [("", scale), ("/4", 4 * scale)] {
        cases.push((
            format!("ooo{tag}"),
            "one connection, 96-byte segments shuffled in windows of 20,000",
            Box::new(move |p| gen_ooo(p, 1_000_000 / div)),
        ));
        cases.push((
            format!("conns{tag}"),
            "simultaneous connections, one message each",
            Box::new(move |p| gen_conns(p, 100_000 / div)),
        ));
        cases.push((
            format!("tiny{tag}"),
            "one message in one-byte segments",
            Box::new(move |p| gen_tiny(p, 100_000 / div)),
        ));
        cases.push((
            format!("incomplete{tag}"),
            "connections each holding the first 60 KB of a message",
            Box::new(move |p| gen_incomplete(p, (65_536 / div).max(4))),
        ));
        cases.push((
            format!("reversed{tag}"),
            "168-byte messages in one-byte segments, last byte first",
            Box::new(move |p| gen_reversed(p, (600 / div).max(4))),
        ));
        cases.push((
            format!("handshakes{tag}"),
            "connections without CTI data, half of them closed",
            Box::new(move |p| gen_handshakes(p, 2_000_000 / div)),
        ));
        cases.push((
            format!("random{tag}"),
            "random bytes to port 42027, mid-stream",
            Box::new(move |p| gen_random(p, 200_000_000 / div)),
        ));
    }
    cases.push((
        "gz-random".into(),
        "the random case gzip-compressed (read as a stream, not mapped)",
        Box::new(move |p| gen_random_gz(p, 200_000_000 / scale)),
    ));
    cases.push((
        "gzbomb".into(),
        "1 GB of zeros, gzip",
        Box::new(move |p| gen_gzbomb(p, &[], (1 << 30) / scale)),
    ));
    cases.push((
        "gzbomb-pcap".into(),
        "pcap header + 1 GB of zeros, gzip",
        Box::new(move |p| gen_gzbomb(p, &pcap_header(), (1 << 30) / scale)),
    ));
    let me = std::env::current_exe().unwrap();
    println!("| case | input | input MB | seconds | MB/s | peak RSS MB | messages | gaps | skipped MB | limits | packet issues | read error |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let clean = std::env::var("CTISCOPE_BENCH_CLEAN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/bench-data/synth-1G.pcap"));
    let mut runs: Vec<(String, String, PathBuf)> = vec![];
    for (case, what, gen) in &cases {
        if !want(case) {
            continue;
        }
        let path = dir.join(format!(
            "{}.pcap{}",
            case.replace('/', "-q"),
            if case.starts_with("gz") { ".gz" } else { "" }
        ));
        if !path.exists() {
            let tmp = path.with_extension("tmp");
            gen(&tmp);
            std::fs::rename(&tmp, &path).unwrap();
        }
        runs.push((case.clone(), what.to_string(), path));
    }
    if full && want("clean") && clean.exists() {
        runs.push(("clean".into(), "synthetic CTI capture (synth-1G)".into(), clean));
    }
    for (case, what, path) in &runs {
        let bytes = std::fs::metadata(path).unwrap().len();
        warm(path);
        let out = Command::new(&me).args(["--child", case]).arg(path).output().unwrap();
        assert!(out.status.success(), "{case}: {}", String::from_utf8_lossy(&out.stderr));
        let s = String::from_utf8(out.stdout).unwrap();
        let v: Vec<&str> = s.split_whitespace().collect();
        let secs: f64 = v[0].parse().unwrap();
        let rss: f64 = v[1].parse::<f64>().unwrap() / 1024.0;
        let mb = bytes as f64 / 1e6;
        let skipped_mb = v[4].parse::<f64>().unwrap() / 1e6;
        println!(
            "| {case} | {what} | {mb:.1} | {secs:.2} | {:.0} | {rss:.1} | {} | {} | {skipped_mb:.1} | {} | {} | {} |",
            mb / secs,
            v[2],
            v[3],
            v[5],
            v[6],
            v[7]
        );
    }
    // The analysis keeps per-connection state of its own: the commands, as a user runs them.
    println!();
    println!("| case | command | seconds | peak RSS MB | exit |");
    println!("|---|---|---:|---:|---:|");
    for (case, _, path) in &runs {
        if !["handshakes", "conns", "incomplete", "clean"].iter().any(|c| case.starts_with(c)) {
            continue;
        }
        for cmd in
            [&["check", "-j", "1"][..], &["stats", "-j", "1"], &["timeline", "-j", "1", "--session", "1"]]
        {
            let (secs, rss_kb, code) = run_command(cmd, path);
            println!("| {case} | `{}` | {secs:.2} | {:.1} | {code} |", cmd.join(" "), rss_kb as f64 / 1024.0);
        }
    }
}

/// Reads a file once into the page cache through a small buffer: this process must stay
/// small, since a child's peak RSS counts the memory it was spawned from.
fn warm(path: &Path) {
    use std::io::Read;
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf).unwrap() > 0 {}
}

/// Runs `ctiscope ARGS PATH` with its output discarded: seconds, peak RSS (KiB), exit code.
fn run_command(args: &[&str], path: &Path) -> (f64, u64, i32) {
    let t = Instant::now();
    // Waited for with wait4 below (to read the child's own peak RSS), not with Child::wait.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_ctiscope"))
        .args(args)
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn ctiscope");
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; rusage is written by the kernel.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert!(r > 0 && libc::WIFEXITED(status), "ctiscope {args:?} did not finish");
    (t.elapsed().as_secs_f64(), ru.ru_maxrss as u64, libc::WEXITSTATUS(status))
}
