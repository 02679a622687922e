//! Live capture on a Linux interface (`lo`, `eth0`, ... or `any`) through an AF_PACKET
//! socket with a TPACKET_V3 memory-mapped ring, feeding the same [`Pipeline`] as capture
//! files.
//!
//! - A named interface whose hardware type is Ethernet or loopback is captured with its
//!   Ethernet header (LINKTYPE_ETHERNET; loopback frames carry a zero Ethernet header).
//!   Any other interface, and `any`, is captured without link header and given a Linux
//!   cooked (SLL, LINKTYPE 113) header built from the packet's socket address.
//! - The kernel filters with a classic BPF program ([`bpf`]): by default TCP to or from
//!   the CTI server ports; `filter` replaces that with a tcpdump-style expression. On
//!   loopback every packet passes the capture point twice (sent, then received): the sent
//!   copy is dropped by the filter.
//! - Timestamps are the kernel's, in nanoseconds.
//! - Packets the kernel dropped because the ring was full are counted from
//!   PACKET_STATISTICS and reported as [`LiveEvent::KernelDrops`].

pub mod bpf;
mod ring;

use crate::capture::write::PcapNgWriter;
use crate::capture::Packet;
use crate::cti::decode::Decoded;
use crate::pipeline::{Event, Pipeline, Settings};
use crate::stage::Stage;
use crate::TimestampNs;
use ring::{Ring, RingConfig, RingPacket, SockKind};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// LINKTYPE_LINUX_SLL.
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// Length of the Linux cooked header put in front of packets captured without link
/// header.
pub const SLL_HEADER_LEN: usize = 16;

const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;

/// How to capture.
#[derive(Debug, Clone)]
pub struct Options {
    /// Interface name; `any` captures on every interface.
    pub interface: String,
    /// tcpdump-style filter expression (see [`bpf`] for the subset); `None` captures TCP
    /// to or from `ports`.
    pub filter: Option<String>,
    /// CTI server ports for the default filter.
    pub ports: Vec<u16>,
    /// Bytes kept per packet.
    pub snaplen: u32,
    /// Size of the kernel ring, in bytes (rounded down to whole blocks, at least 4 blocks).
    pub buffer_bytes: usize,
    /// Milliseconds after which the kernel hands over a partly filled block: the longest
    /// a captured packet waits before it is decoded.
    pub latency_ms: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            interface: "any".into(),
            filter: None,
            ports: crate::pipeline::DEFAULT_SERVER_PORTS.to_vec(),
            snaplen: 262_144,
            buffer_bytes: 64 << 20,
            latency_ms: 10,
        }
    }
}

/// Why live capture could not start or go on.
#[derive(Debug)]
pub enum LiveError {
    /// No interface of that name.
    NoSuchInterface { interface: String, known: Vec<String> },
    /// The socket needs privileges the process does not have.
    Permission { interface: String, call: &'static str, err: io::Error },
    /// The filter expression is outside the supported subset.
    Filter(bpf::FilterError),
    /// Another system call failed.
    Sys { interface: String, call: &'static str, err: io::Error },
    /// Writing the capture file failed.
    Write(io::Error),
}

/// An OS error's text without the "(os error N)" suffix.
fn os_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveError::NoSuchInterface { interface, known } => {
                write!(f, "no interface named {interface:?}")?;
                if !known.is_empty() {
                    write!(f, " (interfaces: {}, any)", known.join(", "))?;
                }
                Ok(())
            }
            LiveError::Permission { interface, call, err } => {
                write!(f, "live capture on {interface} needs root or CAP_NET_RAW ({call}: {})", os_text(err))
            }
            LiveError::Filter(e) => write!(f, "capture filter: {e}"),
            LiveError::Sys { interface, call, err } => {
                write!(f, "live capture on {interface}: {call}: {}", os_text(err))
            }
            LiveError::Write(e) => write!(f, "writing the capture file: {e}"),
        }
    }
}

impl std::error::Error for LiveError {}

/// Names of the interfaces in /sys/class/net, sorted.
pub fn interfaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn ifindex(name: &str) -> u32 {
    let Ok(c) = std::ffi::CString::new(name) else { return 0 };
    // SAFETY: NUL-terminated string.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

/// ARPHRD_* hardware type of an interface (Ethernet when it cannot be read).
fn hardware_type(name: &str) -> u16 {
    std::fs::read_to_string(format!("/sys/class/net/{name}/type"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(ARPHRD_ETHER)
}

/// An open live capture.
pub struct Capture {
    ring: Ring,
    interface: String,
    kind: SockKind,
    lo_index: i32,
    linktype: u32,
    filter_text: String,
    snaplen: u32,
    frame: u64,
    scratch: Vec<u8>,
}

impl Capture {
    /// Opens the interface, compiles and attaches the filter, and maps the ring.
    pub fn open(opts: &Options) -> Result<Capture, LiveError> {
        let iface = opts.interface.as_str();
        let (index, kind) = if iface == "any" {
            (0, SockKind::Dgram)
        } else {
            let i = ifindex(iface);
            if i == 0 {
                return Err(LiveError::NoSuchInterface { interface: iface.to_string(), known: interfaces() });
            }
            let kind = match hardware_type(iface) {
                ARPHRD_ETHER | ARPHRD_LOOPBACK => SockKind::Raw,
                _ => SockKind::Dgram,
            };
            (i as i32, kind)
        };
        let lo_index = interfaces()
            .iter()
            .find(|n| hardware_type(n) == ARPHRD_LOOPBACK)
            .map(|n| ifindex(n) as i32)
            .unwrap_or(1);
        let (expr, filter_text) = match &opts.filter {
            Some(f) => (bpf::parse(f).map_err(LiveError::Filter)?, f.clone()),
            None => {
                let ports: Vec<String> = opts.ports.iter().map(|p| format!("port {p}")).collect();
                (bpf::tcp_ports(&opts.ports), format!("tcp and ({})", ports.join(" or ")))
            }
        };
        // The sent copy of a loopback packet is dropped; its received copy is kept.
        let not_lo_out = bpf::Expr::not(bpf::Expr::and(
            bpf::Expr::Atom(bpf::Atom::PktType(bpf::PACKET_OUTGOING)),
            bpf::Expr::Atom(bpf::Atom::IfIndex(lo_index as u32)),
        ));
        let expr = bpf::Expr::and(not_lo_out, expr);
        let link = match kind {
            SockKind::Raw => bpf::LinkKind::Ethernet,
            SockKind::Dgram => bpf::LinkKind::Cooked,
        };
        let prog = bpf::compile(&expr, link, opts.snaplen).map_err(LiveError::Filter)?;
        let block_size = 1 << 20;
        let cfg = RingConfig {
            block_size,
            block_count: (opts.buffer_bytes / block_size).max(4),
            retire_ms: opts.latency_ms.max(1),
        };
        let ring = Ring::open(kind, index, &prog, cfg).map_err(|e| {
            let interface = iface.to_string();
            if matches!(e.err.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
                LiveError::Permission { interface, call: e.call, err: e.err }
            } else if e.err.raw_os_error() == Some(libc::ENODEV) {
                LiveError::NoSuchInterface { interface, known: interfaces() }
            } else {
                LiveError::Sys { interface, call: e.call, err: e.err }
            }
        })?;
        Ok(Capture {
            ring,
            interface: iface.to_string(),
            kind,
            lo_index,
            linktype: match kind {
                SockKind::Raw => LINKTYPE_ETHERNET,
                SockKind::Dgram => LINKTYPE_LINUX_SLL,
            },
            filter_text,
            snaplen: opts.snaplen,
            frame: 0,
            scratch: Vec::with_capacity(1 << 16),
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// LINKTYPE of the packets delivered.
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// The filter in force, as text.
    pub fn filter_text(&self) -> &str {
        &self.filter_text
    }

    /// Packets delivered so far.
    pub fn packets(&self) -> u64 {
        self.frame
    }

    /// Waits up to `timeout_ms` for the kernel to hand over a batch of packets and calls
    /// `f` for each. Returns how many were delivered (0 after a timeout or a signal).
    pub fn next_batch(
        &mut self,
        timeout_ms: i32,
        f: &mut dyn FnMut(&Packet<'_>),
    ) -> Result<usize, LiveError> {
        let Capture { ring, kind, lo_index, linktype, frame, scratch, interface, .. } = self;
        let mut delivered = 0;
        ring.next_block(timeout_ms, &mut |rp| {
            if rp.pkttype == bpf::PACKET_OUTGOING as u8 && rp.ifindex == *lo_index {
                return;
            }
            *frame += 1;
            delivered += 1;
            let (data, orig_len): (&[u8], u32) = match (*kind, rp.vlan) {
                (SockKind::Raw, None) => (rp.data, rp.orig_len),
                (SockKind::Raw, Some((tci, tpid))) => {
                    reinsert_vlan(scratch, rp.data, tci, tpid);
                    (&scratch[..], rp.orig_len + 4)
                }
                (SockKind::Dgram, _) => {
                    cooked(scratch, rp);
                    (&scratch[..], rp.orig_len + SLL_HEADER_LEN as u32)
                }
            };
            f(&Packet { frame: *frame, ts_ns: rp.ts_ns, linktype: *linktype, data, orig_len });
        })
        .map_err(|e| LiveError::Sys { interface: interface.clone(), call: e.call, err: e.err })?;
        Ok(delivered)
    }

    /// Packets the kernel dropped since the last call.
    pub fn take_drops(&mut self) -> Result<u64, LiveError> {
        self.ring.stats().map(|(drops, _)| drops).map_err(|e| LiveError::Sys {
            interface: self.interface.clone(),
            call: e.call,
            err: e.err,
        })
    }
}

/// Puts back the 802.1Q tag the kernel stripped, after the two MAC addresses.
fn reinsert_vlan(out: &mut Vec<u8>, frame: &[u8], tci: u16, tpid: u16) {
    out.clear();
    let split = frame.len().min(12);
    out.extend_from_slice(&frame[..split]);
    out.extend_from_slice(&tpid.to_be_bytes());
    out.extend_from_slice(&tci.to_be_bytes());
    out.extend_from_slice(&frame[split..]);
}

/// Builds a Linux cooked (SLL) header from the packet's socket address, then the packet.
fn cooked(out: &mut Vec<u8>, rp: &RingPacket<'_>) {
    out.clear();
    out.extend_from_slice(&(rp.pkttype as u16).to_be_bytes());
    out.extend_from_slice(&rp.hatype.to_be_bytes());
    out.extend_from_slice(&(rp.halen as u16).to_be_bytes());
    let mut addr = [0u8; 8];
    let n = (rp.halen as usize).min(8);
    addr[..n].copy_from_slice(&rp.addr[..n]);
    out.extend_from_slice(&addr);
    out.extend_from_slice(&rp.protocol.to_be_bytes());
    out.extend_from_slice(rp.data);
}

/// When to stop, besides a stop request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Stop after this many CTI messages (later messages are not reported).
    pub max_messages: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

/// What [`run`] reports: the pipeline's events, each with its decoded message (the decode
/// stage's output, see [`crate::stage`]), and what the capture itself has to say.
#[derive(Debug)]
pub enum LiveEvent<'a, 'b> {
    Pipeline(&'a Event<'b>, Option<&'a Decoded>),
    /// The kernel dropped `dropped` packets (ring full) since the previous report.
    KernelDrops {
        dropped: u64,
        frame: u64,
        ts_ns: TimestampNs,
    },
    /// The end of a batch of packets: a good moment to flush output.
    BatchEnd,
}

/// Why [`run`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The stop flag was raised (a signal).
    Requested,
    /// `max_messages` reached.
    Count,
    /// `duration` elapsed.
    Duration,
    /// The event sink failed (closed output).
    Output,
}

/// What a live run saw.
#[derive(Debug, Clone)]
pub struct Summary {
    pub packets: u64,
    pub messages: u64,
    pub kernel_drops: u64,
    pub stopped: StopReason,
}

fn now_ns() -> TimestampNs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// How long the ring keeps being read after a stop, for packets already captured.
const DRAIN: Duration = Duration::from_millis(300);
/// How often the kernel's drop counter is read.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// Longest wait in the kernel, so a stop request is seen promptly.
const POLL_MS: i32 = 100;

/// Captures until a limit is reached, `stop` is raised or `sink` fails: every packet is
/// written to `write` (flushed after every batch, so the file is valid up to the last
/// whole batch at any moment), fed to a [`Pipeline`] and the decode [`Stage`] (`forced`:
/// `--protocol-version`), and every event handed to `sink` with its decoded message.
/// At the end the pipeline is finished (its closing events go to `sink`) and the kernel's
/// drop count is read a last time. A `sink` error stops the capture; the error is returned
/// after the file is flushed.
pub fn run<W: Write>(
    cap: &mut Capture,
    settings: &Settings,
    forced: Option<u32>,
    limits: Limits,
    stop: &AtomicBool,
    mut write: Option<&mut PcapNgWriter<W>>,
    sink: &mut dyn FnMut(LiveEvent<'_, '_>) -> io::Result<()>,
) -> Result<Summary, RunError> {
    let mut pipeline = Pipeline::new(settings.clone());
    let mut stage = Stage::new(forced);
    let iface = match write.as_deref_mut() {
        Some(w) => Some(w.add_interface(cap.linktype(), cap.snaplen).map_err(RunError::Write)?),
        None => None,
    };
    let start = Instant::now();
    let mut last_stats = start;
    let mut messages = 0u64;
    let mut drops = 0u64;
    let mut out_err: Option<io::Error> = None;
    let mut write_err: Option<io::Error> = None;
    let mut stopped = None;
    let mut drain_until: Option<Instant> = None;
    loop {
        let wait = if drain_until.is_some() { 2 * POLL_MS } else { POLL_MS };
        let n = cap
            .next_batch(wait, &mut |pkt| {
                if stopped == Some(StopReason::Count) || out_err.is_some() || write_err.is_some() {
                    return;
                }
                if let (Some(w), Some(i)) = (write.as_deref_mut(), iface) {
                    if let Err(e) = w.write_packet_with_orig_len(i, pkt.ts_ns, pkt.data, pkt.orig_len) {
                        write_err = Some(e);
                        return;
                    }
                }
                pipeline.packet(pkt, &mut |ev| {
                    if out_err.is_some() || stopped == Some(StopReason::Count) {
                        return;
                    }
                    if let Event::Message { .. } = ev {
                        messages += 1;
                        if limits.max_messages.is_some_and(|m| messages >= m) {
                            stopped = Some(StopReason::Count);
                        }
                    }
                    let d = stage.decode(&ev);
                    if let Err(e) = sink(LiveEvent::Pipeline(&ev, d)) {
                        out_err = Some(e);
                    }
                });
            })
            .map_err(RunError::Live)?;
        if n > 0 {
            if let Some(w) = write.as_deref_mut() {
                if let Err(e) = w.flush() {
                    write_err.get_or_insert(e);
                }
            }
            if out_err.is_none() {
                if let Err(e) = sink(LiveEvent::BatchEnd) {
                    out_err = Some(e);
                }
            }
        }
        if write_err.is_some() {
            break;
        }
        if out_err.is_some() {
            stopped = Some(StopReason::Output);
            break;
        }
        let now = Instant::now();
        if now.duration_since(last_stats) >= STATS_EVERY {
            last_stats = now;
            let d = cap.take_drops().map_err(RunError::Live)?;
            if d > 0 {
                drops += d;
                if let Err(e) =
                    sink(LiveEvent::KernelDrops { dropped: d, frame: cap.packets(), ts_ns: now_ns() })
                {
                    out_err = Some(e);
                }
            }
        }
        if stopped == Some(StopReason::Count) {
            break;
        }
        match drain_until {
            Some(until) => {
                if n == 0 || now >= until {
                    break;
                }
            }
            None => {
                if stop.load(Ordering::Relaxed) {
                    stopped = Some(StopReason::Requested);
                } else if limits.duration.is_some_and(|d| start.elapsed() >= d) {
                    stopped = Some(StopReason::Duration);
                }
                if stopped.is_some() {
                    drain_until = Some(now + DRAIN);
                }
            }
        }
    }
    if let Some(w) = write {
        if let Err(e) = w.flush() {
            write_err.get_or_insert(e);
        }
    }
    if out_err.is_none() {
        pipeline.finish(&mut |ev| {
            if out_err.is_none() {
                let d = stage.decode(&ev);
                if let Err(e) = sink(LiveEvent::Pipeline(&ev, d)) {
                    out_err = Some(e);
                }
            }
        });
    }
    if let Ok(d) = cap.take_drops() {
        if d > 0 {
            drops += d;
            if out_err.is_none() {
                if let Err(e) =
                    sink(LiveEvent::KernelDrops { dropped: d, frame: cap.packets(), ts_ns: now_ns() })
                {
                    out_err = Some(e);
                }
            }
        }
    }
    if out_err.is_none() {
        if let Err(e) = sink(LiveEvent::BatchEnd) {
            out_err = Some(e);
        }
    }
    let summary = Summary {
        packets: cap.packets(),
        messages,
        kernel_drops: drops,
        stopped: if out_err.is_some() {
            StopReason::Output
        } else {
            stopped.unwrap_or(StopReason::Requested)
        },
    };
    if let Some(e) = write_err {
        return Err(RunError::Write(e));
    }
    if let Some(e) = out_err {
        return Err(RunError::Output(e, summary));
    }
    Ok(summary)
}

/// Why [`run`] failed.
#[derive(Debug)]
pub enum RunError {
    Live(LiveError),
    /// Writing the capture file failed (the capture stopped there).
    Write(io::Error),
    /// The event sink failed; the summary of what was captured until then.
    Output(io::Error, Summary),
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Installs SIGINT and SIGTERM handlers that raise the returned flag (and do nothing
/// else, so a capture in progress ends cleanly). Calling it again is harmless.
pub fn stop_on_signals() -> &'static AtomicBool {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with an async-signal-safe handler (one atomic store)
        // and an empty mask.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    &STOP
}
