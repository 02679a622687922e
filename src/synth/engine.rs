//! The driver: sets up the contact center (agents, connections and their sessions), runs
//! the event queue, handing each event to the TCP stacks, the sessions or the agents, and
//! closes the capture.

use super::agent::{AgentEvent, Agents, Ctx};
use super::center::Calls;
use super::config::{Config, Limit};
use super::queue::{Pace, Queue, MS, SEC};
use super::rng::Rng;
use super::session::{Kind, Opened, SessionEvent, Sessions};
use super::tcp::{Tcp, TcpEvent};
use super::truth::{GeneratedMessage, Truth};
use super::wire::Wire;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the generator wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub packets: u64,
    pub bytes: u64,
    pub messages: u64,
    pub connections: u32,
    pub calls: u64,
    pub faults: u64,
}

/// Everything the simulation schedules.
#[derive(Debug)]
enum Ev {
    Tcp(TcpEvent),
    Session(SessionEvent),
    Agent(AgentEvent),
}

impl From<TcpEvent> for Ev {
    fn from(e: TcpEvent) -> Self {
        Ev::Tcp(e)
    }
}

impl From<SessionEvent> for Ev {
    fn from(e: SessionEvent) -> Self {
        Ev::Session(e)
    }
}

impl From<AgentEvent> for Ev {
    fn from(e: AgentEvent) -> Self {
        Ev::Agent(e)
    }
}

struct Engine<'a, W: Write> {
    cfg: &'a Config,
    rng: Rng,
    q: Queue<Ev>,
    tcp: Tcp<'a, W>,
    sessions: Sessions,
    agents: Agents,
}

/// Generates the capture, streaming, and returns what was written.
pub fn generate<'a, W: Write>(
    cfg: &'a Config,
    capture: W,
    truth: Option<&'a mut dyn Write>,
    truth_messages: Option<&'a mut dyn Write>,
) -> io::Result<Summary> {
    let wire = Wire::new(capture, cfg.format, cfg.link, cfg.ipv6)?;
    let mut e = Engine::new(cfg, wire, Truth::new(truth, truth_messages, false));
    e.run()?;
    e.finish(cfg.faults.truncate).map(|(summary, _)| summary)
}

/// The messages the generator writes for `cfg` (fault-free TCP, in write order), without
/// packetising them into a capture.
pub fn messages(cfg: &Config) -> Vec<GeneratedMessage> {
    let wire = Wire::new(io::sink(), cfg.format, cfg.link, cfg.ipv6).expect("sink");
    let mut e = Engine::new(cfg, wire, Truth::new(None, None, true));
    e.run().expect("sink does not fail");
    e.finish(false).expect("sink does not fail").1
}

/// The time scale that fits the calls into the run, and the time after which agents take
/// no new calls.
fn pace_and_end(cfg: &Config) -> (Pace, i64) {
    // Natural call cycle: ring, talk, wrap-up, idle (seconds).
    let cycle = 5.0 + 150.0 + 18.0 + 45.0;
    let scale = match (cfg.calls_per_agent, cfg.limit) {
        (_, Limit::Bytes(_) | Limit::Messages(_)) => 0.05,
        (Some(k), _) if k > 0 => {
            let avail = (cfg.duration_s * 0.85 - 20.0).max(cfg.duration_s * 0.5);
            (avail / (k as f64 * cycle)).min(1.0)
        }
        _ => 1.0,
    };
    let end = match cfg.limit {
        Limit::Sessions => cfg.start_ns + (cfg.duration_s * SEC as f64) as i64,
        _ => i64::MAX / 2,
    };
    (Pace { scale }, end)
}

/// The client and server addresses of connection `idx` of a client of `kind`.
fn addresses(kind: Kind, idx: u32, ipv6: bool) -> (IpAddr, IpAddr) {
    let host = match kind {
        Kind::Bridge => 200 * 256 + idx,
        Kind::Monitor => 201 * 256 + idx,
        Kind::Desktop(a) => 1 + a,
    };
    if ipv6 {
        (
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0xc71, 0, 1, 0, 0, (host >> 16) as u16, host as u16)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0xc71, 0, 0, 0, 0, 0, 0x20)),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::new(10, 20, (host >> 8) as u8, (host & 0xff) as u8)),
            IpAddr::V4(Ipv4Addr::new(10, 10, 1, 20)),
        )
    }
}

impl<'a, W: Write> Engine<'a, W> {
    fn new(cfg: &'a Config, wire: Wire<W>, truth: Truth<'a>) -> Self {
        let mut base = Rng::new(cfg.seed);
        let rng = base.fork(1);
        let calls = Calls::new(&mut base);
        let agents_n = cfg.agents.max(cfg.desktops);
        let (pace, end) = pace_and_end(cfg);
        let mut e = Engine {
            cfg,
            rng,
            q: Queue::new(cfg.start_ns),
            tcp: Tcp::new(wire, truth, &cfg.faults, cfg.limit, cfg.ipv6, cfg.start_ns),
            sessions: Sessions::new(cfg.version, cfg.faults.unanswered, pace),
            agents: Agents::new(cfg, agents_n, pace, calls, end),
        };
        e.setup(agents_n);
        e
    }

    /// Bridges and monitors connect first, desktops over the first part of the run;
    /// agents without a desktop start on their own.
    fn setup(&mut self, agents_n: u32) {
        let cfg = self.cfg;
        let mut t = cfg.start_ns + self.rng.below(50 * MS as u64) as i64;
        for _ in 0..cfg.bridges {
            let id = self.connect(Kind::Bridge, t);
            self.agents.add_bridge(id);
            t += 20 * MS + self.rng.below(200 * MS as u64) as i64;
        }
        for mi in 0..cfg.monitors {
            let id = self.connect(Kind::Monitor, t);
            // Each monitor watches up to eight agents' devices.
            for ai in (mi..agents_n).step_by(cfg.monitors as usize).take(8) {
                self.agents.add_monitor(ai, id);
                self.sessions.monitor_device(id, ai);
            }
            t += 20 * MS + self.rng.below(200 * MS as u64) as i64;
        }
        let spread = ((cfg.duration_s * 0.05).clamp(1.0, 30.0) * SEC as f64) as i64;
        for ai in 0..cfg.desktops.min(agents_n) {
            let at = t + self.rng.below(spread as u64) as i64;
            let id = self.connect(Kind::Desktop(ai), at);
            self.agents.set_desktop(ai, id);
        }
        for ai in cfg.desktops.min(agents_n)..agents_n {
            let at = t + self.rng.below(spread as u64) as i64;
            self.q.at(at, AgentEvent::Step(ai));
        }
        if agents_n == 0 {
            let end = cfg.start_ns + (cfg.duration_s * SEC as f64) as i64;
            for c in 0..self.sessions.count() {
                self.q.at(end, SessionEvent::Close(c));
            }
        }
        let n = self.tcp.connections();
        if cfg.faults.midstream && n > 0 {
            // Connections are opened in index order: half of them are caught mid-stream.
            self.tcp.start_midstream((n - 1) / 2);
        }
    }

    /// A client of `kind` that connects at `t`: its connection and session.
    fn connect(&mut self, kind: Kind, t: i64) -> u32 {
        let idx = self.tcp.connections();
        let (cip, sip) = addresses(kind, idx, self.cfg.ipv6);
        let port = 49152 + self.rng.below(16000) as u16;
        let addr = [SocketAddr::new(cip, port), SocketAddr::new(sip, self.cfg.server_port)];
        let isn = [self.rng.next_u32(), self.rng.next_u32()];
        let first_invoke = 1 + self.rng.below(1000) as u32;
        let client_id = match kind {
            Kind::Desktop(a) => format!("Finesse-{}", self.agents.infos()[a as usize].id),
            Kind::Bridge => format!("CTIBridge{idx}"),
            Kind::Monitor => format!("Recorder{idx}"),
        };
        let c = self.tcp.add(addr, isn, self.cfg.version);
        self.sessions.add(kind, client_id, first_invoke);
        self.q.at(t, TcpEvent::Syn(c));
        c
    }

    fn run(&mut self) -> io::Result<()> {
        while let Some(ev) = self.q.pop() {
            self.event(ev)?;
            if self.tcp.full() {
                break;
            }
        }
        self.tcp.flush_all(&mut self.q, &mut self.rng)
    }

    fn event(&mut self, ev: Ev) -> io::Result<()> {
        let q = &mut self.q;
        let rng = &mut self.rng;
        match ev {
            Ev::Tcp(e) => {
                if let Some(c) = self.tcp.handle(q, rng, e)? {
                    // The handshake is complete: the session opens.
                    match self.sessions.open(q, rng, c, self.agents.infos()) {
                        Opened::Desktop { agent, at } => self.agents.desktop_opened(q, rng, agent, at),
                        Opened::Monitor(started) => {
                            for (a, monitor_id) in started {
                                self.agents.monitor_started(a, c, monitor_id);
                            }
                        }
                        Opened::Bridge => {}
                    }
                }
            }
            Ev::Session(SessionEvent::Heartbeat(c)) => self.sessions.heartbeat(q, rng, c),
            Ev::Session(SessionEvent::SystemEvent(c)) => self.sessions.system_event(q, rng, c),
            Ev::Session(SessionEvent::Close(c)) => self.sessions.close(q, rng, c),
            Ev::Agent(AgentEvent::Step(a)) => {
                self.agents.step(&mut Ctx { q, rng, sessions: &mut self.sessions }, a);
            }
        }
        Ok(())
    }

    /// Closes the capture (`truncate`: inside a last record) and the truth files.
    fn finish(self, truncate: bool) -> io::Result<(Summary, Vec<GeneratedMessage>)> {
        let connections = self.tcp.connections();
        let calls = self.agents.calls_made();
        let (t, collected) = self.tcp.finish(truncate)?;
        let summary = Summary {
            packets: t.packets,
            bytes: t.bytes,
            messages: t.messages,
            connections,
            calls,
            faults: t.faults,
        };
        Ok((summary, collected))
    }
}
