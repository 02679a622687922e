//! Live capture under load on the loopback interface (needs root or CAP_NET_RAW).
//!
//! `cargo bench --bench live` (env: `CTISCOPE_LIVE_RATE` messages per second, default
//! 100000; `CTISCOPE_LIVE_SECONDS`, default 10; `CTISCOPE_LIVE_FORMAT` `text` or `jsonl`,
//! default `text`).
//!
//! A CTI server thread sends small AGENT_STATE_EVENT messages (one `write` each, Nagle
//! off) to a client thread over a loopback TCP connection at the given rate, after an
//! OPEN_REQ / OPEN_CONF exchange, while `ctiscope live -i lo --port P` decodes with its
//! output going to /dev/null. Reported: messages sent and decoded, packets captured,
//! kernel drops (from ctiscope's closing line) and ctiscope's CPU time (from `wait4`).

use ctiscope::cti::encode::MessageBuilder;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("live capture benchmark: run it with `cargo bench --bench live` (as root)");
        return;
    }
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the live benchmark captures on lo and needs root (or CAP_NET_RAW)");
        std::process::exit(2);
    }
    let rate: u64 = env_or("CTISCOPE_LIVE_RATE", 100_000);
    let seconds: f64 = env_or("CTISCOPE_LIVE_SECONDS", 10.0);
    let format: String = env_or("CTISCOPE_LIVE_FORMAT", "text".to_string());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Reaped with wait4 below, which also returns its resource usage.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(env!("CARGO_BIN_EXE_ctiscope"))
        .args(["live", "-i", "lo", "--port", &port.to_string(), "-T", &format])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel::<String>();
    let err = child.stderr.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("ctiscope did not start");
        if line.contains("capturing on") {
            break;
        }
        eprintln!("{line}");
    }

    let mut open = MessageBuilder::named("OPEN_REQ", 24);
    open.set("InvokeID", 1).unwrap();
    open.set("VersionNumber", 24).unwrap();
    open.text("ClientID", "bench").unwrap();
    open.bytes("ClientPassword", b"").unwrap();
    let open = open.build();
    let mut conf = MessageBuilder::named("OPEN_CONF", 24);
    conf.set("InvokeID", 1).unwrap();
    conf.number("NumPeripherals", 0).unwrap();
    let conf = conf.build();
    let mut ev = MessageBuilder::named("AGENT_STATE_EVENT", 24);
    ev.set("PeripheralID", 5000).unwrap();
    ev.set("PeripheralType", 1).unwrap();
    ev.set("AgentState", 3).unwrap();
    ev.text("CTIClientSignature", "bench").unwrap();
    let event = ev.build();

    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(&open).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n as u64,
            }
        }
    });
    let (mut s, _) = listener.accept().unwrap();
    s.set_nodelay(true).unwrap();
    let mut req = vec![0u8; 8];
    s.read_exact(&mut req).unwrap();
    let len = u32::from_be_bytes([req[0], req[1], req[2], req[3]]) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    s.write_all(&conf).unwrap();

    let start = Instant::now();
    let total = (rate as f64 * seconds) as u64;
    let mut sent = 0u64;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        if due <= sent {
            thread::sleep(Duration::from_micros(50));
            continue;
        }
        while sent < due {
            s.write_all(&event).unwrap();
            sent += 1;
        }
    }
    let send_secs = start.elapsed().as_secs_f64();
    drop(s);
    let bytes = client.join().unwrap();
    thread::sleep(Duration::from_millis(500));

    // SAFETY: signals the child started above.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let mut status = 0;
    // SAFETY: zeroed rusage is valid output storage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(rc, pid);
    let wall = start.elapsed().as_secs_f64();
    let mut summary = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        if line.contains("packets captured") {
            summary = line;
        }
    }
    // "ctiscope: P packets captured, M messages, D packets dropped by the kernel (...)"
    let words: Vec<&str> = summary.split_whitespace().map(|w| w.trim_end_matches(',')).collect();
    let num = |a: &str, b: &str| -> u64 {
        words.windows(3).find(|w| w[1] == a && w[2] == b).and_then(|w| w[0].parse().ok()).unwrap_or(0)
    };
    let packets = num("packets", "captured");
    let messages =
        words.windows(2).find(|w| w[1] == "messages").and_then(|w| w[0].parse().ok()).unwrap_or(0u64);
    let drops = num("packets", "dropped");
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let (user, sys) = (cpu(ru.ru_utime), cpu(ru.ru_stime));

    println!("live capture on lo, {format} output to /dev/null, {seconds} s at {rate} messages/s\n");
    println!("| what | value |");
    println!("|---|---:|");
    println!("| messages sent (AGENT_STATE_EVENT, {} bytes) | {sent} |", event.len());
    println!("| sender rate achieved | {:.0} messages/s |", sent as f64 / send_secs);
    println!("| bytes received by the client | {bytes} |");
    println!("| messages decoded by ctiscope (incl. OPEN_REQ/OPEN_CONF) | {messages} |");
    println!("| decoded throughput | {:.0} messages/s |", messages as f64 / send_secs);
    println!("| packets captured | {packets} |");
    println!("| kernel drops | {drops} |");
    println!(
        "| ctiscope CPU (user + sys) | {user:.2} s + {sys:.2} s = {:.0}% of one core over {wall:.1} s |",
        (user + sys) / wall * 100.0
    );
    println!("| ctiscope peak RSS | {:.1} MB |", ru.ru_maxrss as f64 / 1024.0);
    println!("\n{summary}");
}
