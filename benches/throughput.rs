//! Throughput and peak-memory benchmark: ctiscope's stages and commands, the floor (reading
//! the file), and tshark on the same capture when it is installed.
//!
//! `cargo bench --bench throughput` (environment: `CTISCOPE_BENCH_SIZE`, default `1G`;
//! `CTISCOPE_BENCH_CAPTURE=path` to use an existing capture; `CTISCOPE_BENCH_RUNS`, default 5;
//! `CTISCOPE_BENCH_TSHARK_SIZE`, default `32M`: tshark's JSON output is slow, so tshark runs on
//! a smaller capture made with the same generator and seed, and MB/s compare fairly;
//! `CTISCOPE_BENCH_LARGE`, e.g. `4G`: also run every ctiscope mode once on a capture of that
//! size and print a second table, to show that peak RSS does not grow with the capture).
//! The captures are made once with `ctiscope synth --seed 1 --size ...` into
//! `target/bench-data/`. Every mode runs as its own process (so its peak RSS is its own) with
//! output to /dev/null, several times; the table reports the median time. Output: a Markdown
//! table on stdout, the one the README quotes.

use ctiscope::pipeline::{Event, Pipeline, Settings};
use ctiscope::stage::Stage;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// In-process stages, run as `--child MODE PATH`.
fn child(mode: &str, path: &str) {
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
        "frame" | "decode" => {
            let mut p = Pipeline::new(Settings::default());
            let mut stage = Stage::new(None);
            let mut sink = |ev: Event<'_>| {
                if mode == "frame" {
                    if let Event::Message { frame, .. } = &ev {
                        messages += 1;
                        std::hint::black_box(frame.bytes.len());
                    }
                } else if let Some(d) = stage.decode(&ev) {
                    messages += 1;
                    std::hint::black_box(d.fields.len());
                }
            };
            ctiscope::capture::read_path(path, &mut |pkt| p.packet(pkt, &mut sink)).unwrap();
            p.finish(&mut sink);
        }
        other => panic!("unknown mode {other}"),
    }
    println!("{messages}");
}

/// Run a command with stdout to /dev/null; (seconds, peak RSS in KiB).
fn measured(cmd: &mut Command) -> (f64, u64) {
    let t = Instant::now();
    // Waited for with wait4 below (to read the child's own peak RSS), not with Child::wait.
    #[allow(clippy::zombie_processes)]
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; rusage is written by the kernel.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let secs = t.elapsed().as_secs_f64();
    assert!(r > 0 && libc::WIFEXITED(status), "{cmd:?} did not finish");
    let code = libc::WEXITSTATUS(status);
    assert!(code == 0 || code == 1, "{cmd:?} exited with {code}");
    (secs, ru.ru_maxrss as u64)
}

/// Read a file once into the page cache through a small buffer: the benchmark process must
/// stay small, since a child's peak RSS counts the memory it was spawned from.
fn warm(path: &Path) {
    use std::io::Read;
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf).unwrap() > 0 {}
}

fn synth(root: &Path, size: &str) -> PathBuf {
    let dir = root.join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("synth-{size}.pcap"));
    if !path.exists() {
        let tmp = path.with_extension("tmp");
        let st = Command::new(root.join("target/release/ctiscope"))
            .args(["synth", "--seed", "1", "--size", size, "-w"])
            .arg(&tmp)
            .status()
            .expect("run ctiscope synth");
        assert!(st.success(), "ctiscope synth failed");
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

fn count_messages(root: &Path, path: &Path) -> u64 {
    let out =
        Command::new(std::env::current_exe().unwrap()).args(["--child", "frame"]).arg(path).output().unwrap();
    let _ = root;
    String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
}

struct Row {
    mode: String,
    what: String,
    bytes: u64,
    messages: Option<u64>,
    secs: f64,
    rss_kb: u64,
}

/// Makes the command of one run of a mode.
type Make<'a> = Box<dyn Fn() -> Command + 'a>;

/// A mode to measure `runs` times.
struct Planned<'a> {
    mode: String,
    what: String,
    /// The capture it reads: read once right before each run, so that it is in the page
    /// cache (this machine reclaims idle page cache within a minute).
    input: PathBuf,
    bytes: u64,
    messages: Option<u64>,
    runs: usize,
    make: Make<'a>,
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
    let st =
        Command::new("cargo").args(["build", "--release", "--bin", "ctiscope"]).current_dir(&root).status();
    assert!(st.map(|s| s.success()).unwrap_or(false), "cargo build --release");
    let bin = root.join("target/release/ctiscope");
    let path = match std::env::var("CTISCOPE_BENCH_CAPTURE") {
        Ok(p) => PathBuf::from(p),
        Err(_) => synth(&root, &std::env::var("CTISCOPE_BENCH_SIZE").unwrap_or_else(|_| "1G".into())),
    };
    let bytes = std::fs::metadata(&path).unwrap().len();
    let runs: usize = std::env::var("CTISCOPE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let me = std::env::current_exe().unwrap();
    warm(&path);
    let messages = count_messages(&root, &path);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Every mode is planned first, then run round-robin (one run of each mode per round), so
    // that a slow phase of the machine falls on every mode alike and the ratios between rows
    // (the speed-up with more cores, the factor to the floor) hold within one run.
    let p = path.clone();
    // What the planned commands borrow: ctiscope's commands, (mode, what, arguments), each
    // on one core and, with more cores, the parallel ones on all of them; the smaller capture
    // for tshark.
    let mut cli: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut command = |args: &str, to_null: bool| {
        let mode = args.replace("decode -T ", "").replace("decode ", "summary ").replace("-j ", "-j");
        let redirect = if to_null { " > /dev/null" } else { "" };
        cli.push((mode, format!("`ctiscope {args}{redirect}`"), args.split(' ').map(String::from).collect()));
    };
    command("check -j 1", false);
    command("decode -T jsonl -j 1", true);
    command("decode -j 1", true);
    command("stats -j 1", false);
    if cores > 1 {
        command(&format!("decode -T jsonl -j {cores}"), false);
        command(&format!("decode -j {cores}"), false);
        command(&format!("check -j {cores}"), false);
    }
    // Every table of the capture written as Parquet (forced: each run writes them again).
    let tables = std::env::temp_dir().join(format!("ctiscope-bench-export-{}", std::process::id()));
    cli.push((
        "export".into(),
        "`ctiscope export -j 1 --force -o DIR` (every Parquet table)".into(),
        vec![
            "export".into(),
            "-j".into(),
            "1".into(),
            "--force".into(),
            "-o".into(),
            tables.to_string_lossy().into_owned(),
        ],
    ));
    // A display filter selecting about 1% of the messages (CALL_ORIGINATED_EVENT is 1.3% of
    // synth's traffic), printed; and the same selection cut into a file with -w.
    let filter = "type == CALL_ORIGINATED_EVENT".to_string();
    cli.push((
        "filter -j1".into(),
        format!("`ctiscope decode -j 1 -Y '{filter}' > /dev/null` (about 1% of the messages)"),
        vec!["decode".into(), "-j".into(), "1".into(), "-Y".into(), filter.clone()],
    ));
    let cut = std::env::temp_dir().join(format!("ctiscope-bench-cut-{}.pcapng", std::process::id()));
    cli.push((
        "cut -j1".into(),
        format!("`ctiscope decode -j 1 -q -Y '{filter}' -w OUT` (the same selection, cut into a file)"),
        vec![
            "decode".into(),
            "-j".into(),
            "1".into(),
            "-q".into(),
            "-Y".into(),
            filter,
            "-w".into(),
            cut.to_string_lossy().into_owned(),
        ],
    ));
    let tshark_ok =
        Command::new("tshark").arg("-v").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    let small = tshark_ok
        .then(|| synth(&root, &std::env::var("CTISCOPE_BENCH_TSHARK_SIZE").unwrap_or_else(|_| "32M".into())));
    let mut plan: Vec<Planned<'_>> = Vec::new();
    let mut add = |mode: &str, what: &str, input: &Path, msgs: Option<u64>, runs: usize, make| {
        let bytes = std::fs::metadata(input).unwrap().len();
        let input = input.to_path_buf();
        plan.push(Planned { mode: mode.into(), what: what.into(), input, bytes, messages: msgs, runs, make });
    };
    let child_cmd = |mode: &'static str| -> Make<'_> {
        let (me, p) = (&me, &p);
        Box::new(move || {
            let mut c = Command::new(me);
            c.args(["--child", mode]).arg(p);
            c
        })
    };
    add("floor", "memory-mapped file read once", &path, None, runs, child_cmd("floor"));
    add(
        "cat",
        "`cat FILE > /dev/null`",
        &path,
        None,
        runs,
        Box::new(|| {
            let mut c = Command::new("cat");
            c.arg(&p);
            c
        }),
    );
    for (mode, what) in [
        ("capture", "pcap records only"),
        ("frame", "capture + link/IP/TCP + reassembly + CTI framing"),
        ("decode", "... + full decode of every message, no output"),
    ] {
        add(mode, what, &path, Some(messages), runs, child_cmd(mode));
    }
    for (mode, what, a) in &cli {
        let (bin, p) = (&bin, &p);
        add(
            mode,
            what,
            &path,
            Some(messages),
            runs,
            Box::new(move || {
                let mut c = Command::new(bin);
                c.args(a).arg(p);
                c
            }),
        );
    }
    // tshark, on a smaller capture of the same traffic.
    if let Some(small) = &small {
        let small_msgs = count_messages(&root, small);
        warm(small);
        for (mode, what, a) in [
            // With nothing to print, no filter and no tap, tshark skips dissection: this row
            // measures reading the records, as fast with CTI in the file as without.
            (
                "tshark -q",
                "`tshark -n -q -r FILE` (reads the records; no filter or tap, so nothing is dissected)",
                vec!["-n", "-q", "-r"],
            ),
            // A display filter makes tshark dissect every packet: the row to compare with.
            (
                "tshark -q -Y tcp",
                "`tshark -n -q -Y tcp -r FILE` (dissects every packet, prints nothing)",
                vec!["-n", "-q", "-Y", "tcp", "-r"],
            ),
            ("tshark", "`tshark -n -r FILE` (summary lines)", vec!["-n", "-r"]),
            ("tshark -T json", "`tshark -n -T json -r FILE`", vec!["-n", "-T", "json", "-r"]),
        ] {
            add(
                mode,
                what,
                small,
                Some(small_msgs),
                runs.min(2),
                Box::new(move || {
                    let mut c = Command::new("tshark");
                    c.args(&a).arg(small);
                    c
                }),
            );
        }
        // tshark with ctiscope's generated Lua plugin: CTI dissected in Wireshark itself.
        let plugin = std::env::temp_dir().join(format!("ctiscope-bench-cti-{}.lua", std::process::id()));
        let made = Command::new(&bin)
            .args(["dissector", "--lua", "-o"])
            .arg(&plugin)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            let script = format!("lua_script:{}", plugin.display());
            for (mode, what, extra) in [
                (
                    "tshark+cti",
                    "`tshark -n -X lua_script:cti.lua -r FILE` (summary lines, CTI decoded)",
                    vec![],
                ),
                (
                    "tshark+cti -V",
                    "`tshark -n -V -X lua_script:cti.lua -r FILE` (every field of every message)",
                    vec!["-V"],
                ),
            ] {
                let script = script.clone();
                add(
                    mode,
                    what,
                    small,
                    Some(small_msgs),
                    runs.min(2),
                    Box::new(move || {
                        let mut c = Command::new("tshark");
                        c.arg("-n").args(&extra).args(["-X", &script, "-r"]).arg(small);
                        c
                    }),
                );
            }
        }
        let bin = &bin;
        for (mode, what, a) in [
            ("ctiscope (same file)", "`ctiscope decode -j 1` on tshark's capture", vec!["decode", "-j", "1"]),
            (
                "ctiscope -V (same file)",
                "`ctiscope decode -V -j 1` on tshark's capture",
                vec!["decode", "-V", "-j", "1"],
            ),
        ] {
            add(
                mode,
                what,
                small,
                Some(small_msgs),
                runs,
                Box::new(move || {
                    let mut c = Command::new(bin);
                    c.args(&a).arg(small);
                    c
                }),
            );
        }
        let what = "`ctiscope decode -T jsonl -j 1` on tshark's capture";
        add(
            "ctiscope jsonl (same file)",
            what,
            small,
            Some(small_msgs),
            runs,
            Box::new(move || {
                let mut c = Command::new(bin);
                c.args(["decode", "-T", "jsonl", "-j", "1"]).arg(small);
                c
            }),
        );
    }
    let rounds = plan.iter().map(|m| m.runs).max().unwrap_or(0);
    let mut times: Vec<Vec<(f64, u64)>> = vec![Vec::new(); plan.len()];
    let mut handoffs = Vec::new();
    let multi = format!("-j{cores}");
    for round in 0..rounds {
        for (m, t) in plan.iter().zip(&mut times) {
            if round < m.runs {
                // Runs on several cores are preceded by a look at how fast the cores hand
                // data over (see `handoff_ns`).
                warm(&m.input);
                let handoff = (cores > 1 && m.mode.ends_with(&multi)).then(handoff_ns);
                let r = measured(&mut (m.make)());
                // Every run's time on stderr, for a look at the spread behind the medians.
                match handoff {
                    Some(ns) => {
                        eprintln!("round {round}: {}: {:.3} s (hand-over {ns:.0} ns)", m.mode, r.0);
                        handoffs.push(ns);
                    }
                    None => eprintln!("round {round}: {}: {:.3} s", m.mode, r.0),
                }
                t.push(r);
            }
        }
    }
    let rows: Vec<Row> = plan
        .iter()
        .zip(times)
        .map(|(m, mut t)| {
            t.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            let (secs, rss_kb) = t[t.len() / 2];
            Row {
                mode: m.mode.clone(),
                what: m.what.clone(),
                bytes: m.bytes,
                messages: m.messages,
                secs,
                rss_kb,
            }
        })
        .collect();
    println!(
        "capture: {} ({:.0} MB, {messages} messages), {runs} runs per mode (round-robin), median time; {cores} cores\n",
        path.display(),
        bytes as f64 / 1e6
    );
    if !handoffs.is_empty() {
        let lo = handoffs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = handoffs.iter().copied().fold(0.0, f64::max);
        println!(
            "core-to-core hand-over, measured before each run on {cores} cores: {lo:.0} to {hi:.0} ns\n"
        );
    }
    let floor = &rows[0];
    let floor_mbs = floor.bytes as f64 / 1e6 / floor.secs;
    print_table(&rows, floor_mbs);
    let _ = std::fs::remove_dir_all(&tables);

    // Memory on a larger capture: every ctiscope mode once (peak RSS must not grow with the
    // capture).
    if let Ok(size) = std::env::var("CTISCOPE_BENCH_LARGE") {
        let large = synth(&root, &size);
        let large_bytes = std::fs::metadata(&large).unwrap().len();
        warm(&large);
        let large_msgs = count_messages(&root, &large);
        let j = cores.to_string();
        let mut large_rows = Vec::new();
        for mode in ["frame", "decode"] {
            warm(&large);
            let r = measured(Command::new(&me).args(["--child", mode]).arg(&large));
            large_rows.push(Row {
                mode: mode.into(),
                what: format!("`--child {mode}`"),
                bytes: large_bytes,
                messages: Some(large_msgs),
                secs: r.0,
                rss_kb: r.1,
            });
        }
        for a in [
            vec!["check", "-j", "1"],
            vec!["check", "-j", &j],
            vec!["stats", "-j", "1"],
            vec!["decode", "-T", "jsonl", "-j", "1"],
            vec!["decode", "-T", "jsonl", "-j", &j],
            vec!["decode", "-j", &j],
        ] {
            warm(&large);
            let r = measured(Command::new(&bin).args(&a).arg(&large));
            large_rows.push(Row {
                mode: a.join(" "),
                what: format!("`ctiscope {}`", a.join(" ")),
                bytes: large_bytes,
                messages: Some(large_msgs),
                secs: r.0,
                rss_kb: r.1,
            });
        }
        println!(
            "\nlarger capture: {} ({:.0} MB, {large_msgs} messages), one run per mode\n",
            large.display(),
            large_bytes as f64 / 1e6
        );
        print_table(&large_rows, floor_mbs);
    }
}

/// One-way hand-over time between two threads (ns): one thread writes a counter, the other
/// waits for it and answers, a million times. It is what the `-j` rows pay each time a cache
/// line moves between the threads' cores: about 30 ns when both cores share a cache, several
/// times that when the virtual machine's cores sit on different dies, which makes the `-j`
/// rows of a run comparable only with runs at a similar hand-over time.
fn handoff_ns() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    const N: u64 = 1_000_000;
    let flag = AtomicU64::new(0);
    // One side answers the even values, the other the odd ones.
    let side = |mut i: u64| {
        while i < N {
            while flag.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
            flag.store(i + 1, Ordering::Release);
            i += 2;
        }
    };
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| side(1));
        side(0);
    });
    t.elapsed().as_nanos() as f64 / N as f64
}

/// The table; "x floor" is how many times the floor's throughput (`floor_mbs`) is the
/// mode's.
fn print_table(rows: &[Row], floor_mbs: f64) {
    println!("| mode | what | MB/s | x floor | messages/s | peak RSS (MB) |");
    println!("|---|---|---:|---:|---:|---:|");
    for r in rows {
        let mbs = r.bytes as f64 / 1e6 / r.secs;
        let mps = r.messages.map_or("-".to_string(), |m| format!("{:.0}", m as f64 / r.secs));
        let x = floor_mbs / mbs;
        println!("| {} | {} | {mbs:.0} | {x:.1} | {mps} | {:.1} |", r.mode, r.what, r.rss_kb as f64 / 1024.0);
    }
}
