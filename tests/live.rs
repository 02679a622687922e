//! Live capture over real sockets on the loopback interface: a CTI server and client talk
//! over 127.0.0.1 (or ::1) while `ctiscope live -i lo` captures; every message must come
//! out decoded, in order, with its direction, and the `-w` capture file must decode to
//! the same output. These tests need root (or CAP_NET_RAW) and fail without it.

use ctiscope::cti::encode::MessageBuilder;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ctiscope");
const VERSION: u32 = 24;

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "tests/live.rs captures on the loopback interface and needs root (or CAP_NET_RAW); \
         run the tests as root"
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToServer,
    ToClient,
}

impl Dir {
    fn json(self) -> &'static str {
        match self {
            Dir::ToServer => "client->server",
            Dir::ToClient => "server->client",
        }
    }
}

/// One scripted message: who sends it, its type name, its bytes.
struct Step {
    dir: Dir,
    name: &'static str,
    bytes: Vec<u8>,
}

fn step(dir: Dir, b: &MessageBuilder) -> Step {
    Step { dir, name: b.spec().name, bytes: b.build() }
}

/// OPEN, events, heartbeat, a query and its confirm, CLOSE.
fn script() -> Vec<Step> {
    let mut v = Vec::new();
    let mut m = MessageBuilder::named("OPEN_REQ", VERSION);
    m.set("InvokeID", 1).unwrap();
    m.set("VersionNumber", VERSION as u64).unwrap();
    m.set("IdleTimeout", 30).unwrap();
    m.set("ServicesRequested", 0x10).unwrap();
    m.text("ClientID", "live-test").unwrap();
    m.bytes("ClientPassword", b"").unwrap();
    m.text("AgentID", "1001").unwrap();
    v.push(step(Dir::ToServer, &m));
    let mut m = MessageBuilder::named("OPEN_CONF", VERSION);
    m.set("InvokeID", 1).unwrap();
    m.set("ServicesGranted", 0x10).unwrap();
    m.set("PeripheralOnline", 1).unwrap();
    m.set("PeripheralType", 1).unwrap();
    m.set("SessionType", 1).unwrap();
    m.number("NumPeripherals", 0).unwrap();
    v.push(step(Dir::ToClient, &m));
    for (i, state) in [3u64, 2, 4].into_iter().enumerate() {
        let mut m = MessageBuilder::named("AGENT_STATE_EVENT", VERSION);
        m.set("PeripheralID", 5000).unwrap();
        m.set("PeripheralType", 1).unwrap();
        m.set("AgentState", state).unwrap();
        m.set("StateDuration", 10 + i as u64).unwrap();
        m.text("CTIClientSignature", "live-test").unwrap();
        m.number("Direction", 0).unwrap();
        m.number("MaxBeyondTaskLimit", 0).unwrap();
        v.push(step(Dir::ToClient, &m));
    }
    let mut m = MessageBuilder::named("HEARTBEAT_REQ", VERSION);
    m.set("InvokeID", 2).unwrap();
    v.push(step(Dir::ToServer, &m));
    let mut m = MessageBuilder::named("HEARTBEAT_CONF", VERSION);
    m.set("InvokeID", 2).unwrap();
    v.push(step(Dir::ToClient, &m));
    let mut m = MessageBuilder::named("QUERY_AGENT_STATE_REQ", VERSION);
    m.set("InvokeID", 3).unwrap();
    m.set("PeripheralID", 5000).unwrap();
    m.text("AgentID", "1001").unwrap();
    v.push(step(Dir::ToServer, &m));
    let mut m = MessageBuilder::named("QUERY_AGENT_STATE_CONF", VERSION);
    m.set("InvokeID", 3).unwrap();
    m.set("AgentState", 3).unwrap();
    m.number("InternalAgentState", 3).unwrap();
    m.number("MaxBeyondTaskLimit", 0).unwrap();
    v.push(step(Dir::ToClient, &m));
    let mut m = MessageBuilder::named("CLOSE_REQ", VERSION);
    m.set("InvokeID", 4).unwrap();
    v.push(step(Dir::ToServer, &m));
    let mut m = MessageBuilder::named("CLOSE_CONF", VERSION);
    m.set("InvokeID", 4).unwrap();
    v.push(step(Dir::ToClient, &m));
    v
}

/// Plays one side of the script: writes this side's messages, reads and checks the peer's.
fn play(mut s: TcpStream, script: &[Step], me: Dir) {
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for st in script {
        if st.dir == me {
            s.write_all(&st.bytes).unwrap();
        } else {
            let mut buf = vec![0u8; st.bytes.len()];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(buf, st.bytes, "{} arrived altered", st.name);
        }
    }
}

/// Runs the whole session over real sockets on `listener`; returns when both sides closed.
fn session(listener: TcpListener, script: &[Step]) {
    let addr = listener.local_addr().unwrap();
    thread::scope(|sc| {
        let server = sc.spawn(|| {
            let (s, _) = listener.accept().unwrap();
            play(s, script, Dir::ToClient);
        });
        let client = sc.spawn(move || {
            let s = TcpStream::connect(addr).unwrap();
            play(s, script, Dir::ToServer);
        });
        client.join().unwrap();
        server.join().unwrap();
    });
}

/// A running ctiscope with its stderr collected; `start` returns once it is capturing.
struct Live {
    child: Child,
    stderr: mpsc::Receiver<String>,
    stderr_text: String,
}

impl Live {
    fn start(args: &[&str]) -> Live {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut live = Live { child, stderr: rx, stderr_text: String::new() };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match live.stderr.recv_timeout(left) {
                Ok(line) => {
                    live.stderr_text.push_str(&line);
                    live.stderr_text.push('\n');
                    if line.contains("capturing on") {
                        return live;
                    }
                }
                Err(_) => {
                    let _ = live.child.kill();
                    panic!("ctiscope did not start capturing; stderr:\n{}", live.stderr_text);
                }
            }
        }
    }

    fn interrupt(&self) {
        self.signal(libc::SIGINT);
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: signals the child this test started.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0);
    }

    /// Waits for the exit (at most 20 s); returns the exit code, stdout and stderr.
    fn wait(mut self) -> (i32, String, String) {
        let mut out = String::new();
        let mut stdout = self.child.stdout.take().unwrap();
        let reader = thread::spawn(move || {
            stdout.read_to_string(&mut out).unwrap();
            out
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("ctiscope did not stop; stderr so far:\n{}", self.stderr_text);
            }
            thread::sleep(Duration::from_millis(20));
        };
        let out = reader.join().unwrap();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            self.stderr_text.push_str(&line);
            self.stderr_text.push('\n');
        }
        (status.code().unwrap_or(-1), out, self.stderr_text)
    }
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn messages(objs: &[Value]) -> Vec<&Value> {
    objs.iter().filter(|o| o["event"] == "message").collect()
}

fn tmp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ctiscope-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Checks the decoded messages against the script: same types, same order, same
/// directions, every one between the session's two endpoints.
fn check_against_script(msgs: &[&Value], script: &[Step], server: SocketAddr) {
    let got: Vec<(String, String)> = msgs
        .iter()
        .map(|m| {
            (m["type"].as_str().unwrap_or("?").to_string(), m["direction"].as_str().unwrap().to_string())
        })
        .collect();
    let want: Vec<(String, String)> =
        script.iter().map(|s| (s.name.to_string(), s.dir.json().to_string())).collect();
    assert_eq!(got, want);
    for (m, s) in msgs.iter().zip(script) {
        let server_end = if s.dir == Dir::ToServer { &m["dst"] } else { &m["src"] };
        assert_eq!(server_end.as_str().unwrap(), server.to_string());
        assert_eq!(m["length"].as_u64().unwrap() as usize, s.bytes.len() - 8, "{}", s.name);
        assert_eq!(m["anomalies"].as_array().unwrap().len(), 0, "{}: {m}", s.name);
    }
}

#[test]
fn live_capture_on_loopback_decodes_a_session_and_writes_the_same_capture() {
    require_root();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let port = server.port().to_string();
    let pcap = tmp_path("session.pcapng");
    let pcap_s = pcap.to_str().unwrap();
    let live =
        Live::start(&["live", "-i", "lo", "--port", &port, "-T", "jsonl", "-w", pcap_s, "--duration", "60"]);
    let script = script();
    session(listener, &script);
    // Let the last packets (FIN, ACK) reach the capture, then stop it like Ctrl-C does.
    thread::sleep(Duration::from_millis(300));
    live.interrupt();
    let (code, out, err) = live.wait();
    assert_eq!(code, 0, "stderr:\n{err}");
    let objs = jsonl(&out);
    let msgs = messages(&objs);
    check_against_script(&msgs, &script, server);
    // The OPEN_REQ's version is used for the whole connection.
    assert!(msgs.iter().all(|m| m["protocol_version"] == VERSION && m["version_source"] == "seen"));
    // Field values survive: the events' AgentState and the query's AgentID.
    let states: Vec<&str> = msgs
        .iter()
        .filter(|m| m["type"] == "AGENT_STATE_EVENT")
        .map(|m| m["named"]["AgentState"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 3);
    assert_eq!(msgs[0]["fields"]["VersionNumber"], VERSION);
    // One connection, started by its handshake and ended by FIN.
    let conns: Vec<&Value> = objs.iter().filter(|o| o["event"] == "connection").collect();
    assert_eq!(conns.len(), 1, "{out}");
    assert_eq!(conns[0]["start"], "handshake");
    assert_eq!(conns[0]["server"], server.to_string());
    let ends: Vec<&Value> = objs.iter().filter(|o| o["event"] == "connection_end").collect();
    assert_eq!(ends.len(), 1, "{out}");
    assert_eq!(ends[0]["end"], "fin");
    assert!(!out.contains("kernel_drops"), "{out}");
    assert!(err.contains("0 packets dropped by the kernel"), "{err}");
    assert!(err.contains(&format!("{} messages", script.len())), "{err}");

    // The capture file decodes to the same output, object for object.
    let file = Command::new(BIN).args(["decode", "--port", &port, "-T", "jsonl", pcap_s]).output().unwrap();
    assert!(file.status.success(), "{}", String::from_utf8_lossy(&file.stderr));
    let from_file = jsonl(&String::from_utf8(file.stdout).unwrap());
    assert_eq!(from_file.len(), objs.len());
    for (f, l) in from_file.iter().zip(&objs) {
        assert_eq!(f, l, "the capture file and the live run differ");
    }
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn decode_dash_i_stops_after_dash_c_messages() {
    require_root();
    // IPv6 loopback when the host has it, IPv4 otherwise.
    let listener = TcpListener::bind("[::1]:0").or_else(|_| TcpListener::bind("127.0.0.1:0")).unwrap();
    let server = listener.local_addr().unwrap();
    let port = server.port().to_string();
    let live = Live::start(&["decode", "-i", "lo", "--port", &port, "-c", "4", "-T", "jsonl"]);
    let script = script();
    session(listener, &script);
    let (code, out, err) = live.wait();
    assert_eq!(code, 0, "stderr:\n{err}");
    let objs = jsonl(&out);
    let msgs = messages(&objs);
    check_against_script(&msgs, &script[..4], server);
    assert!(err.contains("message count reached"), "{err}");
}

#[test]
fn text_output_on_any_interface_with_a_filter() {
    require_root();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let port = server.port().to_string();
    let filter = format!("tcp and port {port}");
    let script = script();
    let count = script.len().to_string();
    let live = Live::start(&["live", "-i", "any", "--port", &port, "-f", &filter, "-c", &count]);
    session(listener, &script);
    let (code, out, err) = live.wait();
    assert_eq!(code, 0, "stderr:\n{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(" → ")).collect();
    assert_eq!(lines.len(), script.len(), "{out}");
    for (l, s) in lines.iter().zip(&script) {
        assert!(l.contains(s.name), "{l} should be {}", s.name);
    }
    // The loopback copies are counted once.
    assert!(!out.contains("retransmission"), "{out}");
}

#[test]
fn without_privileges_the_error_says_what_is_needed() {
    require_root();
    use std::os::unix::process::CommandExt;
    let out = Command::new(BIN).args(["live", "-i", "lo"]).uid(65534).gid(65534).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("live capture on lo needs root or CAP_NET_RAW (socket: Operation not permitted)"),
        "{err}"
    );
}

#[test]
fn bad_interface_and_filter_are_refused() {
    let out = Command::new(BIN).args(["live", "-i", "no-such-if0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no interface named \"no-such-if0\""));
    let out = Command::new(BIN).args(["live", "-i", "lo", "-f", "portrange 1-9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unsupported filter primitive \"portrange\"") && err.contains("supported:"),
        "{err}"
    );
    // -w writes a file from a file only with decode (a cut); elsewhere it is live-only.
    let out = Command::new(BIN).args(["check", "-w", "x.pcapng", "in.pcap"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-i IFACE"));
    let out = Command::new(BIN).args(["decode", "-f", "tcp", "in.pcap"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-i IFACE"));
}

#[test]
fn kernel_drops_are_reported_when_the_ring_overflows() {
    require_root();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    // The smallest ring (4 blocks of 1 MiB); ctiscope is stopped while 32 MiB go by.
    let live = Live::start(&["live", "-i", "lo", "--port", &port, "-B", "1"]);
    let pid = live.child.id() as i32;
    // SAFETY: signals the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    thread::scope(|sc| {
        let l = &listener;
        sc.spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = vec![0u8; 1 << 16];
            while s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
        });
        let mut c = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let chunk = vec![0x5au8; 1 << 16];
        for _ in 0..512 {
            c.write_all(&chunk).unwrap();
        }
    });
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    thread::sleep(Duration::from_millis(300));
    live.interrupt();
    let (code, out, err) = live.wait();
    assert_eq!(code, 0, "stderr:\n{err}");
    assert!(out.contains("[kernel drops]") && out.contains("packets dropped by the kernel"), "{out}");
    assert!(!err.contains(" 0 packets dropped by the kernel"), "{err}");
}

#[test]
fn stats_dash_i_analyses_what_was_captured() {
    require_root();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let script = script();
    let count = script.len().to_string();
    let live = Live::start(&["stats", "-i", "lo", "--port", &port, "-c", &count]);
    session(listener, &script);
    let (code, out, err) = live.wait();
    assert_eq!(code, 0, "stderr:\n{err}");
    let row = out.lines().find(|l| l.contains("AGENT_STATE_EVENT")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains(" 3 "), "{row}");
    assert!(out.contains("live-test"), "{out}");
}

#[test]
fn sigterm_stops_cleanly_and_leaves_a_complete_capture_file() {
    require_root();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let pcap = tmp_path("sigterm.pcapng");
    let pcap_s = pcap.to_str().unwrap();
    let live = Live::start(&["live", "-i", "lo", "--port", &port, "-w", pcap_s]);
    let script = script();
    session(listener, &script);
    thread::sleep(Duration::from_millis(300));
    live.signal(libc::SIGTERM);
    let (code, out, err) = live.wait();
    assert_eq!(code, 0, "stderr:\n{err}");
    assert!(err.contains(&format!("{} messages", script.len())), "{err}");
    let file = Command::new(BIN).args(["decode", "--port", &port, pcap_s]).output().unwrap();
    assert!(file.status.success(), "{}", String::from_utf8_lossy(&file.stderr));
    assert_eq!(String::from_utf8(file.stdout).unwrap(), out);
    let _ = std::fs::remove_file(&pcap);
}
