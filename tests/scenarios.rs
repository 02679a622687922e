//! `ctiscope synth --scenario`: every scenario is deterministic, decodes without anomalies,
//! and its truth file is true of the capture: the frames, connections, InvokeIDs, agents and
//! times it names are where `ctiscope decode` finds them. And the drop-field fault removes
//! exactly the field it names, in scenarios and in the simulation.

mod common;

use common::ctiscope_in;
use ctiscope::capture;
use ctiscope::net::{NetDecoder, TcpFlags};
use ctiscope::synth::{self, Config, Faults, Limit};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

const SCENARIOS: [&str; 5] = ["failover", "dead-server", "no-cti", "server-close-pending", "late-confirm"];

/// A fresh directory for one test.
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ctiscope-scenarios-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// What one `synth --scenario` run wrote.
struct Made {
    pcap: Vec<u8>,
    truth: Vec<Value>,
    truth_text: String,
    decoded: Vec<Value>,
}

/// `ctiscope synth --scenario NAME` with `extra` arguments in `dir`, then `ctiscope decode
/// -T jsonl` of the capture.
fn make(dir: &std::path::Path, name: &str, extra: &[&str]) -> Made {
    let file = format!("{name}.pcap");
    let truth = format!("{name}.truth.jsonl");
    let mut args = vec!["synth", "--scenario", name, "-w", &file, "--truth", &truth];
    args.extend_from_slice(extra);
    let (_, err, code) = ctiscope_in(&args, dir);
    assert_eq!(code, 0, "{name}: {err}");
    let (out, err, code) = ctiscope_in(&["decode", "-T", "jsonl", &file], dir);
    assert_eq!(code, 0, "{name}: {err}");
    let truth_text = std::fs::read_to_string(dir.join(&truth)).unwrap();
    Made {
        pcap: std::fs::read(dir.join(&file)).unwrap(),
        truth: lines(&truth_text),
        truth_text,
        decoded: lines(&out),
    }
}

/// One captured packet's TCP header (None for other packets), by frame number.
fn tcp_packets(pcap: &[u8]) -> BTreeMap<u64, Option<(String, String, u8)>> {
    packets_and_times(pcap).0
}

/// [`tcp_packets`], and each frame's time (RFC 3339, nanoseconds).
type Packets = BTreeMap<u64, Option<(String, String, u8)>>;
fn packets_and_times(pcap: &[u8]) -> (Packets, BTreeMap<u64, String>) {
    let mut net = NetDecoder::default();
    let mut out = BTreeMap::new();
    let mut times = BTreeMap::new();
    capture::read_bytes("scenario", pcap, &mut |p| {
        out.insert(p.frame, None);
        times.insert(p.frame, ctiscope::time::format_rfc3339(p.ts_ns));
        net.decode(p, &mut |s| {
            out.insert(s.frame, Some((s.src.to_string(), s.dst.to_string(), s.flags.0)));
        })
        .unwrap_or_else(|e| panic!("frame {}: {e}", p.frame));
    })
    .expect("capture reads");
    (out, times)
}

/// The decode of a capture, indexed.
struct Decoded<'a> {
    /// (connection, frame) -> messages completed in that frame.
    at: HashMap<(u64, u64), Vec<&'a Value>>,
    messages: Vec<&'a Value>,
    /// connection -> its `connection` event.
    starts: HashMap<u64, &'a Value>,
    /// connection -> its `connection_end` event.
    ends: HashMap<u64, &'a Value>,
    /// frame -> that frame's time (RFC 3339, nanoseconds).
    times: HashMap<u64, String>,
}

impl<'a> Decoded<'a> {
    fn new(events: &'a [Value]) -> Self {
        let mut d = Decoded {
            at: HashMap::new(),
            messages: Vec::new(),
            starts: HashMap::new(),
            ends: HashMap::new(),
            times: HashMap::new(),
        };
        for e in events {
            let conn = e["connection"].as_u64().unwrap_or(u64::MAX);
            let frame = e["frame"].as_u64().unwrap();
            d.times.insert(frame, e["time"].as_str().unwrap().to_string());
            match e["event"].as_str().unwrap() {
                "message" => {
                    d.at.entry((conn, frame)).or_default().push(e);
                    d.messages.push(e);
                }
                "connection" => {
                    d.starts.insert(conn, e);
                }
                "connection_end" => {
                    d.ends.insert(conn, e);
                }
                other => panic!("unexpected decode event {other}: {e}"),
            }
        }
        d
    }

    /// The message of `ty` on `conn` completed in `frame`, with InvokeID `invoke` if given.
    fn find(&self, conn: u64, frame: u64, ty: &str, invoke: Option<u64>) -> &'a Value {
        let found =
            self.at.get(&(conn, frame)).into_iter().flatten().find(|m| {
                m["type"] == ty && invoke.is_none_or(|i| m["fields"]["InvokeID"].as_u64() == Some(i))
            });
        found.unwrap_or_else(|| panic!("no {ty} (InvokeID {invoke:?}) on connection {conn} at frame {frame}"))
    }

    fn on(&self, conn: u64) -> impl Iterator<Item = &&'a Value> {
        self.messages.iter().filter(move |m| m["connection"].as_u64() == Some(conn))
    }
}

/// A truth time (microseconds) is the decode's time of that frame (nanoseconds) cut to
/// microseconds.
fn same_time(truth: &Value, decoded: &str) {
    let t = truth.as_str().unwrap();
    assert_eq!(t.len(), 27, "RFC 3339 with microseconds: {t}");
    assert_eq!(format!("{}Z", &decoded[..26]), t, "decoded {decoded}");
    assert!(decoded[26..29].chars().all(|c| c == '0'), "packet times are whole microseconds: {decoded}");
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no number {k} in {v}"))
}

fn s<'v>(v: &'v Value, k: &str) -> &'v str {
    v[k].as_str().unwrap_or_else(|| panic!("no string {k} in {v}"))
}

/// Nanoseconds since the epoch of a decode time.
fn epoch_ns(d: &Decoded<'_>, frame: u64) -> i64 {
    ctiscope::synth::parse_start(&d.times[&frame]).unwrap()
}

fn floating<'v>(m: &'v Value, name: &str) -> Option<&'v Value> {
    m["floating"].as_array().unwrap().iter().find(|f| f["name"] == name).map(|f| &f["value"])
}

/// Checks every truth line of a CTI scenario against the decode of its capture.
fn check_truth(name: &str, made: &Made) {
    let d = Decoded::new(&made.decoded);
    let (packets, times) = packets_and_times(&made.pcap);
    for m in &d.messages {
        assert_eq!(times[&u(m, "frame")], s(m, "time"), "{name}: the decode's time is the frame's");
        assert_eq!(m["anomalies"].as_array().unwrap().len(), 0, "{name}: anomalies in {m}");
        assert_eq!(m["version_source"], "seen", "{name}: {m}");
        assert_eq!(m["protocol_version"], 24, "{name}: {m}");
        assert_eq!(m["frames"].as_array().unwrap().len(), 1, "{name}: one segment per message: {m}");
    }
    let mut requests: BTreeSet<(u64, u64)> = BTreeSet::new();
    let mut sessions: HashMap<u64, &Value> = HashMap::new();
    let mut refused: BTreeSet<u64> = BTreeSet::new();
    for t in &made.truth {
        let kind = s(t, "kind");
        match kind {
            "scenario" => {
                assert_eq!(s(t, "name"), name);
                assert_eq!(u(t, "packets"), packets.len() as u64, "{name}: packets");
                assert_eq!(u(t, "connections"), d.starts.len() as u64, "{name}: connections");
                assert_eq!(u(t, "messages"), d.messages.len() as u64, "{name}: messages");
                same_time(&t["start"], &times[&1]);
                same_time(&t["end"], &times[&(packets.len() as u64)]);
            }
            "session" => {
                let c = u(t, "conn");
                sessions.insert(c, t);
                let start = d.starts[&c];
                assert_eq!(u(start, "frame"), u(t, "first_frame"));
                assert_eq!(start["client"], t["client"]);
                assert_eq!(start["server"], t["server"]);
                assert_eq!(start["start"], "handshake");
                let open = d.find(c, u(t, "open_frame"), "OPEN_CONF", None);
                same_time(&t["open_time"], s(open, "time"));
                let req = d.on(c).find(|m| m["type"] == "OPEN_REQ").expect("an OPEN_REQ");
                assert_eq!(floating(req, "ClientID").unwrap(), &t["client_id"]);
                assert_eq!(floating(req, "AgentID").unwrap(), &t["agent"]);
                assert_eq!(floating(req, "ClientSignature").unwrap(), &t["client_id"]);
                let idle = req["fields"]["IdleTimeout"].as_u64().unwrap();
                match t["idle_timeout"].as_u64() {
                    Some(i) => assert_eq!(idle, i),
                    None => assert_eq!(idle, 0xFFFF_FFFF),
                }
                assert_eq!(d.on(c).count() as u64, u(t, "messages"), "{name}: messages of connection {c}");
                let end = d.ends[&c];
                assert_eq!(end["end"], t["end"]);
                assert_eq!(u(end, "frame"), u(t, "end_frame"));
                same_time(&t["end_time"], &d.times[&u(t, "end_frame")]);
                let last = d.on(c).last().unwrap();
                match s(t, "close") {
                    "close-req" => assert_eq!(last["type"], "CLOSE_CONF"),
                    "failure-event" => assert_eq!(last["type"], "FAILURE_EVENT"),
                    _ => {}
                }
            }
            "request" => {
                let (c, frame, invoke) = (u(t, "conn"), u(t, "frame"), u(t, "invoke"));
                let m = d.find(c, frame, s(t, "request"), Some(invoke));
                assert_eq!(m["direction"], "client->server");
                same_time(&t["time"], s(m, "time"));
                assert!(requests.insert((c, invoke)), "{name}: InvokeID {invoke} twice on {c}");
                let answers: Vec<_> = d
                    .on(c)
                    .filter(|m| {
                        m["direction"] == "server->client" && m["fields"]["InvokeID"].as_u64() == Some(invoke)
                    })
                    .collect();
                if t["answer"].is_null() {
                    assert!(answers.is_empty(), "{name}: InvokeID {invoke} answered: {answers:?}");
                } else {
                    assert_eq!(answers.len(), 1, "{name}: InvokeID {invoke}");
                    let a = d.find(c, u(t, "answer_frame"), s(t, "answer"), Some(invoke));
                    let lat = (epoch_ns(&d, u(t, "answer_frame")) - epoch_ns(&d, frame)) as f64 / 1e9;
                    assert!((lat - t["latency_s"].as_f64().unwrap()).abs() < 1e-9, "{name}: {t}");
                    assert_eq!(a["direction"], "server->client");
                }
            }
            "heartbeat-unanswered" | "request-unanswered" => {
                let c = u(t, "conn");
                let ty = if kind == "heartbeat-unanswered" { "HEARTBEAT_REQ" } else { s(t, "request") };
                d.find(c, u(t, "frame"), ty, Some(u(t, "invoke")));
                same_time(&t["time"], &d.times[&u(t, "frame")]);
                let out = (epoch_ns(&d, u(t, "ended_frame")) - epoch_ns(&d, u(t, "frame"))) as f64 / 1e9;
                assert!((out - t["outstanding_s"].as_f64().unwrap()).abs() < 1e-9, "{name}: {t}");
                let ended = u(t, "ended_frame");
                match s(t, "ended_by") {
                    "reset" => assert_eq!(u(d.ends[&c], "frame"), ended),
                    "close-conf" => {
                        d.find(c, ended, "CLOSE_CONF", None);
                    }
                    "failure-event" => {
                        d.find(c, ended, "FAILURE_EVENT", None);
                    }
                    other => panic!("ended_by {other}"),
                }
            }
            "agent-state" => {
                let m = d.find(u(t, "conn"), u(t, "frame"), "AGENT_STATE_EVENT", None);
                assert_eq!(m["named"]["AgentState"], t["state"]);
                assert_eq!(floating(m, "AgentID").unwrap(), &t["agent"]);
                same_time(&t["time"], s(m, "time"));
            }
            "late-confirm" => {
                let (c, rf, cf) = (u(t, "conn"), u(t, "request_frame"), u(t, "confirm_frame"));
                d.find(c, rf, s(t, "request"), Some(u(t, "invoke")));
                d.find(c, cf, s(t, "confirm"), Some(u(t, "invoke")));
                let lat = (epoch_ns(&d, cf) - epoch_ns(&d, rf)) as f64 / 1e9;
                assert!((lat - t["latency_s"].as_f64().unwrap()).abs() < 1e-9);
                assert!(lat > 15.0);
                let between = d.on(c).filter(|m| {
                    let f = u(m, "frame");
                    m["direction"] == "server->client" && f > rf && f < cf
                });
                assert_eq!(between.count(), 0, "{name}: the late confirm is the first server message");
                same_time(&t["request_time"], &d.times[&rf]);
                same_time(&t["confirm_time"], &d.times[&cf]);
            }
            "reset" => {
                let (c, f) = (u(t, "conn"), u(t, "frame"));
                assert_eq!(d.ends[&c]["end"], "rst");
                assert_eq!(u(d.ends[&c], "frame"), f);
                let (src, _, flags) = packets[&f].clone().unwrap();
                assert!(flags & TcpFlags::RST != 0);
                let by = if src == s(d.starts[&c], "client") { "client" } else { "server" };
                assert_eq!(by, s(t, "by"));
                same_time(&t["time"], &d.times[&f]);
            }
            "failure-event" => {
                let m = d.find(u(t, "conn"), u(t, "frame"), "FAILURE_EVENT", None);
                assert_eq!(m["named"]["Status"], t["status"]);
                same_time(&t["time"], s(m, "time"));
            }
            "refused" => {
                let c = u(t, "conn");
                refused.insert(c);
                assert_eq!(u(d.starts[&c], "frame"), u(t, "frame"));
                assert_eq!(d.starts[&c]["server"], t["server"]);
                assert_eq!(d.starts[&c]["client"], t["client"]);
                assert_eq!(d.ends[&c]["end"], "rst");
                assert_eq!(u(d.ends[&c], "frame"), u(t, "rst_frame"));
                assert_eq!(d.on(c).count(), 0, "{name}: data on a refused connection");
                let (_, _, syn) = packets[&u(t, "frame")].clone().unwrap();
                assert_eq!(syn, TcpFlags::SYN);
                let (src, _, rst) = packets[&u(t, "rst_frame")].clone().unwrap();
                assert_eq!(rst, TcpFlags::RST | TcpFlags::ACK);
                assert_eq!(src, s(t, "server"));
                same_time(&t["time"], &d.times[&u(t, "frame")]);
            }
            "failover" => {
                let (from, to) = (u(t, "from_conn"), u(t, "to_conn"));
                assert!(from < to);
                assert_eq!(d.starts[&from]["server"], t["from"]);
                assert_eq!(d.starts[&to]["server"], t["to"]);
                assert_ne!(t["from"], t["to"]);
                assert_eq!(d.ends[&from]["end"], t["from_end"]);
                assert_eq!(u(d.ends[&from], "frame"), u(t, "from_end_frame"));
                assert_eq!(u(d.starts[&to], "frame"), u(t, "to_first_frame"));
                let gap = (epoch_ns(&d, u(t, "to_first_frame")) - epoch_ns(&d, u(t, "from_end_frame")))
                    as f64
                    / 1e9;
                assert!((gap - t["gap_s"].as_f64().unwrap()).abs() < 1e-9, "{t}");
                let between: Vec<u64> =
                    t["refused_conns"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
                assert_eq!(between.len() as u64, u(t, "refused"));
                assert!(between.iter().all(|&c| c > from && c < to));
                same_time(&t["time"], &d.times[&u(t, "to_first_frame")]);
            }
            other => panic!("{name}: unknown truth kind {other}"),
        }
    }
    // Every request of the capture is in the truth, and every session and refused
    // attempt is a connection of the capture.
    for m in &d.messages {
        let ty = s(m, "type");
        let request = ctiscope::cti::spec::message_by_name(ty).is_some_and(|sp| sp.confirm.is_some());
        if request {
            let key = (u(m, "connection"), m["fields"]["InvokeID"].as_u64().unwrap());
            assert!(requests.contains(&key), "{name}: {ty} {key:?} not in the truth");
        }
    }
    let described: BTreeSet<u64> = sessions.keys().copied().chain(refused.iter().copied()).collect();
    assert_eq!(described, d.starts.keys().copied().collect(), "{name}: connections");
    // Failovers join sessions of the same agent.
    for t in made.truth.iter().filter(|t| t["kind"] == "failover") {
        for k in ["from_conn", "to_conn"] {
            assert_eq!(sessions[&u(t, k)]["agent"], t["agent"]);
            assert_eq!(sessions[&u(t, k)]["client_id"], t["client_id"]);
        }
    }
    // Lines in frame order (after the scenario line).
    let frames: Vec<u64> = made
        .truth
        .iter()
        .filter_map(|t| ["first_frame", "frame", "to_first_frame"].iter().find_map(|k| t[*k].as_u64()))
        .collect();
    assert!(frames.windows(2).all(|w| w[0] <= w[1]), "{name}: truth lines out of frame order");
}

#[test]
fn every_scenario_is_deterministic_and_small() {
    let a = tmp("det-a");
    let b = tmp("det-b");
    for name in SCENARIOS {
        for format in [&["--format", "pcap"][..], &["--format", "pcapng"][..]] {
            let x = make(&a, name, format);
            let y = make(&b, name, format);
            assert!(x.pcap == y.pcap, "{name} {format:?}: different bytes");
            assert_eq!(x.truth_text, y.truth_text, "{name}");
            let n = tcp_packets(&x.pcap).len();
            assert!(n > 0 && n < 200, "{name}: {n} packets");
        }
    }
    // Another start moves every time and nothing else.
    let x = make(&a, "failover", &[]);
    let y = make(&b, "failover", &["--start", "2025-06-30T22:53:10Z"]);
    let strip = |v: &Value| {
        let mut v = v.clone();
        for k in ["time", "start", "end", "open_time", "end_time", "request_time", "confirm_time"] {
            if let Some(o) = v.as_object_mut() {
                o.remove(k);
            }
        }
        v
    };
    assert_eq!(x.truth.iter().map(strip).collect::<Vec<_>>(), y.truth.iter().map(strip).collect::<Vec<_>>());
    let reset = y.truth.iter().find(|t| t["kind"] == "reset").unwrap();
    assert_eq!(reset["time"], "2025-06-30T22:54:30.000000Z");
    let _ = std::fs::remove_dir_all(a);
    let _ = std::fs::remove_dir_all(b);
}

#[test]
fn truth_files_are_true_of_their_captures() {
    let dir = tmp("truth");
    for name in SCENARIOS.into_iter().filter(|n| *n != "no-cti") {
        for format in ["pcap", "pcapng"] {
            let made = make(&dir, name, &["--format", format]);
            check_truth(name, &made);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn each_scenario_tells_its_story() {
    let dir = tmp("story");
    let count = |m: &Made, kind: &str| m.truth.iter().filter(|t| t["kind"] == kind).count();
    let f = make(&dir, "failover", &[]);
    assert_eq!(count(&f, "heartbeat-unanswered"), 3);
    assert_eq!(count(&f, "request-unanswered"), 1);
    assert_eq!(count(&f, "refused"), 4);
    assert_eq!(count(&f, "failover"), 2);
    assert_eq!(count(&f, "failure-event"), 1);
    assert_eq!(count(&f, "reset"), 1);
    assert_eq!(count(&f, "session"), 4);
    let first = f.truth.iter().find(|t| t["kind"] == "failover").unwrap();
    assert_eq!(
        (first["from"].as_str(), first["to"].as_str(), first["gap_s"].as_f64(), first["agent"].as_str()),
        (Some("10.10.0.1:42027"), Some("10.10.0.2:43027"), Some(0.5), Some("1001"))
    );
    let hb: Vec<i64> = f
        .truth
        .iter()
        .filter(|t| t["kind"] == "heartbeat-unanswered")
        .map(|t| ctiscope::synth::parse_start(t["time"].as_str().unwrap()).unwrap())
        .collect();
    assert!(hb.windows(2).all(|w| w[1] - w[0] == 5_000_000_000), "three heartbeats 5 s apart");
    let unanswered = f.truth.iter().find(|t| t["kind"] == "request-unanswered").unwrap();
    assert_eq!(unanswered["request"], "SET_AGENT_STATE_REQ");
    // The SET_AGENT_STATE_REQs carry no AgentID; the OPEN_REQ says whose session it is.
    let d = Decoded::new(&f.decoded);
    for m in d.messages.iter().filter(|m| m["type"] == "SET_AGENT_STATE_REQ") {
        assert!(floating(m, "AgentID").is_none(), "{m}");
        assert!(floating(m, "AgentInstrument").is_some(), "{m}");
    }
    let open = d.messages.iter().find(|m| m["type"] == "OPEN_REQ").unwrap();
    assert_eq!(
        open["named"]["ServicesRequested"],
        serde_json::json!(["CTI_SERVICE_CLIENT_EVENTS", "CTI_SERVICE_CLIENT_CONTROL"])
    );
    assert_eq!(open["fields"]["IdleTimeout"], 30);
    assert_eq!(floating(open, "AgentExtension").unwrap(), "5001");
    assert_eq!(floating(open, "AgentInstrument").unwrap(), "5001");
    assert_eq!(floating(open, "ClientID").unwrap(), "desk-1001");

    let dead = make(&dir, "dead-server", &[]);
    assert_eq!(dead.truth.len(), 4);
    assert!(dead.truth.iter().all(|t| t["kind"] == "refused"));
    assert!(Decoded::new(&dead.decoded).messages.is_empty());

    let pending = make(&dir, "server-close-pending", &[]);
    let un: Vec<_> = pending.truth.iter().filter(|t| t["kind"] == "request-unanswered").collect();
    assert_eq!(un.len(), 2);
    assert_eq!(
        (un[0]["request"].as_str(), un[0]["ended_by"].as_str()),
        (Some("SET_AGENT_STATE_REQ"), Some("close-conf"))
    );
    assert_eq!(
        (un[1]["request"].as_str(), un[1]["ended_by"].as_str()),
        (Some("QUERY_AGENT_STATE_REQ"), Some("failure-event"))
    );
    assert!(un.iter().all(|t| t["outstanding_s"].as_f64().unwrap() < 15.0));
    assert_ne!(un[0]["conn"], un[1]["conn"]);

    let late = make(&dir, "late-confirm", &[]);
    let lc: Vec<_> = late.truth.iter().filter(|t| t["kind"] == "late-confirm").collect();
    assert_eq!(lc.len(), 1);
    assert_eq!(lc[0]["latency_s"].as_f64(), Some(17.2));
    let fast = late
        .truth
        .iter()
        .filter(|t| t["kind"] == "request" && t["latency_s"].as_f64() == Some(0.003))
        .count();
    assert_eq!(fast, 1);
    let sess = late.truth.iter().find(|t| t["kind"] == "session").unwrap();
    assert!(sess["heartbeat_s"].is_null());
    let hb = Decoded::new(&late.decoded).messages.iter().filter(|m| m["type"] == "HEARTBEAT_REQ").count();
    assert_eq!(hb, 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn no_cti_prints_nothing() {
    let dir = tmp("no-cti");
    let made = make(&dir, "no-cti", &[]);
    assert_eq!(made.truth.len(), 1);
    let t = &made.truth[0];
    assert_eq!(t["kind"], "no-cti");
    let packets = tcp_packets(&made.pcap);
    assert_eq!(u(t, "packets"), packets.len() as u64);
    assert!((30..=60).contains(&packets.len()), "{} packets", packets.len());
    assert_eq!(packets.values().filter(|p| p.is_none()).count(), 1, "one datagram");
    let mut ports: BTreeSet<u64> = BTreeSet::new();
    for (src, dst, _) in packets.values().flatten() {
        let port = |a: &str| a.rsplit(':').next().unwrap().parse::<u64>().unwrap();
        ports.insert(port(src).min(port(dst)));
    }
    let want: BTreeSet<u64> =
        t["tcp_ports"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(ports, want);
    assert!(made.decoded.is_empty(), "{:?}", made.decoded);
    let (out, err, code) = ctiscope_in(&["decode", "no-cti.pcap"], &dir);
    assert_eq!((out.as_str(), code), ("", 0));
    let ports = want.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ");
    assert_eq!(
        err,
        format!(
            "ctiscope: no-cti.pcap: no CTI connection in {} packets; TCP ports seen: {ports}; try --port\n",
            packets.len()
        )
    );
    // check says the same and passes.
    let (out, err2, code) = ctiscope_in(&["check", "no-cti.pcap"], &dir);
    assert_eq!(code, 0);
    assert_eq!(err2, err);
    assert!(out.starts_with("0 findings"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn scenarios_take_only_their_options() {
    let dir = tmp("options");
    for bad in [
        &["--seed", "3"][..],
        &["--desktops", "2"],
        &["--messages", "10"],
        &["--protocol-version", "15"],
        &["--faults", "lost=0.1"],
        &["--faults", "drop-field=Nope"],
        &["--faults", "drop-field=InvokeID"],
    ] {
        let mut args = vec!["synth", "--scenario", "failover", "-w", "x.pcap"];
        args.extend_from_slice(bad);
        let (_, err, code) = ctiscope_in(&args, &dir);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(!err.is_empty());
    }
    let (_, err, code) = ctiscope_in(&["synth", "--scenario", "nope", "-w", "x.pcap"], &dir);
    assert_eq!(code, 2);
    assert!(err.contains("failover") && err.contains("late-confirm"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The drop-field fault in a scenario: every AGENT_STATE_EVENT loses Direction (a required
/// field: `required_missing`), nothing else changes, and the count line is right.
#[test]
fn drop_field_in_a_scenario() {
    let dir = tmp("drop");
    let plain = make(&dir, "failover", &[]);
    for arg in ["drop-field=Direction", "drop-field=AGENT_STATE_EVENT.Direction"] {
        let made = make(&dir, "failover", &["--faults", arg]);
        let last = made.truth.last().unwrap();
        assert_eq!(last["kind"], "drop-field");
        assert_eq!(last["field"], "Direction");
        let events = Decoded::new(&made.decoded);
        let before = Decoded::new(&plain.decoded);
        let n = events.messages.iter().filter(|m| m["type"] == "AGENT_STATE_EVENT").count();
        assert!(n >= 10);
        assert_eq!(u(last, "messages"), n as u64);
        if arg.contains('.') {
            assert_eq!(last["message"], "AGENT_STATE_EVENT");
        } else {
            assert!(last["message"].is_null());
        }
        assert_eq!(events.messages.len(), before.messages.len());
        for (m, p) in events.messages.iter().zip(&before.messages) {
            assert_eq!(m["type"], p["type"]);
            assert_eq!(m["frame"], p["frame"], "same packets, same frames");
            let anomalies: Vec<(&str, &str)> = m["anomalies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| (a["code"].as_str().unwrap(), a["field"].as_str().unwrap_or("")))
                .collect();
            if m["type"] == "AGENT_STATE_EVENT" {
                assert_eq!(anomalies, vec![("required_missing", "Direction")]);
                assert!(floating(m, "Direction").is_none());
                assert!(floating(p, "Direction").is_some());
                assert_eq!(u(m, "length") + 8, u(p, "length"), "tag, length and a UINT less");
                let names = |v: &Value| -> Vec<String> {
                    v["floating"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f["name"].as_str().unwrap().to_string())
                        .collect()
                };
                let mut want = names(p);
                want.retain(|n| n != "Direction");
                assert_eq!(names(m), want);
            } else {
                assert!(anomalies.is_empty());
                assert_eq!(m["length"], p["length"]);
                assert_eq!(m["floating"], p["floating"]);
            }
        }
        // The rest of the truth is unchanged.
        assert_eq!(&made.truth[..made.truth.len() - 1], &plain.truth[..]);
    }
    // An optional field: no anomaly, and the count says where it went.
    let made = make(&dir, "failover", &["--faults", "drop-field=AGENT_STATE_EVENT.AgentInstrument"]);
    let d = Decoded::new(&made.decoded);
    assert!(d.messages.iter().all(|m| m["anomalies"].as_array().unwrap().is_empty()));
    let gone = d
        .messages
        .iter()
        .filter(|m| m["type"] == "AGENT_STATE_EVENT" && floating(m, "AgentInstrument").is_none());
    assert_eq!(gone.count() as u64, u(made.truth.last().unwrap(), "messages"));
    assert!(d
        .messages
        .iter()
        .filter(|m| m["type"] == "OPEN_REQ")
        .all(|m| floating(m, "AgentInstrument").is_some()));
    let _ = std::fs::remove_dir_all(dir);
}

fn sim(faults: &str) -> Config {
    Config { seed: 12, duration_s: 300.0, faults: Faults::parse(faults).unwrap(), ..Config::default() }
}

/// The drop-field fault in the simulation: the same messages, each carrying the field
/// without it and nothing else changed; the truth line counts them; other faults still
/// work beside it.
#[test]
fn drop_field_in_the_simulation() {
    use ctiscope::cti::decode::{decode, VersionSource};
    let plain = synth::messages(&sim(""));
    let dropped = synth::messages(&sim("drop-field=Direction"));
    assert_eq!(plain.len(), dropped.len());
    let mut changed = 0u64;
    for (p, d) in plain.iter().zip(&dropped) {
        let (dp, dd) = (
            decode(&p.bytes, p.version, VersionSource::Forced),
            decode(&d.bytes, d.version, VersionSource::Forced),
        );
        assert_eq!(dp.type_name(), dd.type_name());
        let has = |x: &ctiscope::cti::decode::Decoded| {
            x.fields.iter().any(|f| f.name() == "Direction" && f.tag.is_some())
        };
        assert!(!has(&dd));
        if p.bytes == d.bytes {
            assert!(!has(&dp));
            continue;
        }
        changed += 1;
        assert!(has(&dp));
        assert_eq!(p.bytes.len() - 8, d.bytes.len());
        let required =
            dp.spec.unwrap().floating.iter().any(|f| {
                f.name == "Direction" && matches!(f.presence, ctiscope::cti::spec::Presence::Required)
            });
        let codes: Vec<_> = dd.anomalies.iter().map(|a| (a.code, a.field)).collect();
        if required {
            assert_eq!(codes, vec![("required_missing", Some("Direction"))]);
        } else {
            assert!(codes.is_empty());
        }
    }
    assert!(changed > 50);
    // The truth line, at the end, beside a protocol fault and a message limit (neither
    // draws from the random stream by segment, so the messages are those of the run
    // without drop-field).
    let limited =
        |faults: &str| Config { limit: Limit::Messages(1500), calls_per_agent: None, ..sim(faults) };
    let cfg = limited("drop-field=Direction,unanswered=0.05");
    let mut truth = Vec::new();
    synth::generate(&cfg, &mut Vec::new(), Some(&mut truth), None).unwrap();
    let truth = lines(std::str::from_utf8(&truth).unwrap());
    let last = truth.last().unwrap();
    assert_eq!((last["kind"].as_str(), last["field"].as_str()), (Some("drop-field"), Some("Direction")));
    assert!(last["message"].is_null());
    assert!(truth.iter().any(|t| t["fault"] == "unanswered"));
    assert_eq!(truth.iter().filter(|t| t["kind"] == "drop-field").count(), 1);
    let carried = synth::messages(&limited("unanswered=0.05"))
        .iter()
        .filter(|m| {
            let d = decode(&m.bytes, m.version, VersionSource::Forced);
            d.fields.iter().any(|f| f.name() == "Direction" && f.tag.is_some())
        })
        .count();
    assert_eq!(u(last, "messages"), carried as u64);
    // Beside TCP faults and a size limit.
    let cfg = Config {
        limit: Limit::Bytes(300_000),
        calls_per_agent: None,
        ..sim("lost=0.02,reorder=0.02,drop-field=AGENT_STATE_EVENT.Direction")
    };
    let mut truth = Vec::new();
    synth::generate(&cfg, &mut Vec::new(), Some(&mut truth), None).unwrap();
    let truth = lines(std::str::from_utf8(&truth).unwrap());
    let last = truth.last().unwrap();
    assert_eq!(last["message"], "AGENT_STATE_EVENT");
    assert!(u(last, "messages") > 50);
    assert!(truth.iter().any(|t| t["fault"] == "lost") && truth.iter().any(|t| t["fault"] == "reorder"));
    // Without the fault, no drop-field line.
    let mut truth = Vec::new();
    synth::generate(&sim("unanswered=0.05"), &mut Vec::new(), Some(&mut truth), None).unwrap();
    assert!(!String::from_utf8(truth).unwrap().contains("drop-field"));
}

/// The shipped capture and truth file are what `synth --scenario failover` writes, and the
/// truth is true of the capture.
#[test]
fn the_shipped_failover_capture_and_truth() {
    let dir = tmp("shipped");
    let made = make(&dir, "failover", &[]);
    let root = common::root().join("captures");
    assert!(made.pcap == std::fs::read(root.join("failover.pcap")).unwrap(), "captures/failover.pcap");
    let shipped = std::fs::read_to_string(root.join("failover.truth.jsonl")).unwrap();
    assert_eq!(made.truth_text, shipped, "captures/failover.truth.jsonl");
    let (out, err, code) = ctiscope_in(&["decode", "-T", "jsonl", "failover.pcap"], &root);
    assert_eq!(code, 0, "{err}");
    check_truth("failover", &Made { decoded: lines(&out), ..made });
    let _ = std::fs::remove_dir_all(dir);
}

/// `--truth-messages` with a scenario lists exactly the messages `decode` finds.
#[test]
fn message_truth_of_scenarios() {
    let dir = tmp("messages");
    for name in SCENARIOS {
        let (_, err, code) =
            ctiscope_in(&["synth", "--scenario", name, "-w", "m.pcap", "--truth-messages", "m.jsonl"], &dir);
        assert_eq!(code, 0, "{err}");
        let want = lines(&std::fs::read_to_string(dir.join("m.jsonl")).unwrap());
        let (out, _, _) = ctiscope_in(&["decode", "-T", "jsonl", "m.pcap"], &dir);
        let got: Vec<(u64, String, String, u64, u64, u64)> = lines(&out)
            .iter()
            .filter(|e| e["event"] == "message")
            .map(|e| {
                let f = e["frames"][0].as_u64().unwrap();
                let dir = s(e, "direction").to_string();
                (
                    u(e, "connection"),
                    dir,
                    s(e, "type").to_string(),
                    u(e, "stream_offset"),
                    u(e, "length") + 8,
                    f,
                )
            })
            .collect();
        let want: Vec<_> = want
            .iter()
            .map(|m| {
                assert_eq!(m["first_frame"], m["last_frame"]);
                let dir = s(m, "direction").to_string();
                let ty = s(m, "type").to_string();
                (u(m, "connection"), dir, ty, u(m, "stream_offset"), u(m, "length"), u(m, "first_frame"))
            })
            .collect();
        assert_eq!(got, want, "{name}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
