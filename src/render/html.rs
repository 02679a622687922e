//! `ctiscope report`: one self-contained HTML file that draws a capture.
//!
//! The file holds everything it needs: the page (`report.html`), its style (`report.css`)
//! and its script (`report.js`) are compiled into the binary and written inline, and the
//! capture's data follows as compact JSON in a `<script type="application/json">` element.
//! The script draws every chart itself (inline SVG, no library) and creates the SVG rows of
//! the ladder and the rows of the long lists only for the window on screen, so a report of
//! a hundred thousand messages opens in a few seconds.
//!
//! What the data holds: the analysis's [`Report`] (sessions, findings grouped as `check`
//! groups them, calls, agent states, latency with its histogram) and, from a [`Ladder`]
//! that sees every event of the capture, the messages drawn in the ladder: for each, its
//! frame, time, connection, endpoints, type, summary fields (as the summary line shows
//! them), the request or confirm it pairs with, and its `decode -V` tree ([`tree`]). Trees
//! are gzip-compressed in chunks ([`TREES_PER_CHUNK`]) and unpacked by the browser when
//! one is shown. The ladder keeps at most `max_messages` events (the rest are counted per
//! connection and the report says how to select them), so memory stays bounded whatever
//! the capture's size.
//!
//! Text from the capture reaches the page only as JSON data that the script places with
//! `textContent`; the JSON has every `<` written as `\u003c`, so no string can close the
//! script element that holds it.

use crate::analysis::{CallSummary, Report, Severity};
use crate::cti::decode::Decoded;
use crate::cti::spec::fields::field;
use crate::cti::spec::{values, Role};
use crate::net::tcp::ConnId;
use crate::pipeline::{Direction, Event, Stats};
use crate::render::{report as text, summary, time, tree};
use crate::TimestampNs;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;

/// Events the ladder keeps by default (messages, gaps, resyncs, connection lines).
pub const DEFAULT_MAX_MESSAGES: usize = 150_000;
/// `decode -V` trees per compressed chunk.
pub const TREES_PER_CHUNK: usize = 256;
/// Agent state reason codes other than 0 remembered (by frame), for the Gantt's hover text.
const MAX_REASONS: usize = 1_000_000;
/// Requests waiting for their confirm, for the ladder's request-confirm links.
const MAX_PENDING: usize = 100_000;

const PAGE: &str = include_str!("report.html");
const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// What kind of event a ladder row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RowKind {
    Message = 0,
    Gap = 1,
    Resync = 2,
    Incomplete = 3,
    Implausible = 4,
    Conflict = 5,
    ConnectionStart = 6,
    ConnectionEnd = 7,
    Limit = 8,
}

/// The events drawn in a capture's ladder, gathered while the capture is read.
#[derive(Debug)]
pub struct Ladder {
    max: usize,
    first_ts: Option<TimestampNs>,
    frame: Vec<u64>,
    /// Microseconds after the capture's first event.
    t_us: Vec<i64>,
    conn: Vec<u32>,
    src: Vec<u32>,
    dst: Vec<u32>,
    kind: Vec<u8>,
    /// Index into `types`, -1 for a row that is not a message.
    ty: Vec<i32>,
    label: Vec<String>,
    /// The row a request or confirm pairs with, -1 for none.
    link: Vec<i64>,
    /// Request to confirm, on both rows of a pair; -1 for none.
    latency_ns: Vec<i64>,
    addrs: Vec<String>,
    addr_idx: crate::FastMap<SocketAddr, u32>,
    types: Vec<&'static str>,
    type_idx: crate::FastMap<&'static str, u32>,
    trees: Vec<String>,
    tree_chunks: Vec<String>,
    /// Messages (and events) without a tree: none are, a tree per message row; kept for
    /// the indexes of the chunks.
    tree_rows: usize,
    pending: crate::FastMap<(u32, u8, u32), usize>,
    endpoints: crate::IntMap<ConnId, (SocketAddr, SocketAddr)>,
    /// Connections with a row in the ladder.
    drawn: crate::IntSet<ConnId>,
    /// Events selected but left out at the cap, per connection.
    left: BTreeMap<u32, u64>,
    left_other: u64,
    /// Messages selected (drawn or left out).
    selected: u64,
    reasons: crate::FastMap<u64, u64>,
    line: Vec<u8>,
}

impl Ladder {
    pub fn new(max_messages: usize) -> Self {
        Ladder {
            max: max_messages,
            first_ts: None,
            frame: Vec::new(),
            t_us: Vec::new(),
            conn: Vec::new(),
            src: Vec::new(),
            dst: Vec::new(),
            kind: Vec::new(),
            ty: Vec::new(),
            label: Vec::new(),
            link: Vec::new(),
            latency_ns: Vec::new(),
            addrs: Vec::new(),
            addr_idx: Default::default(),
            types: Vec::new(),
            type_idx: Default::default(),
            trees: Vec::new(),
            tree_chunks: Vec::new(),
            tree_rows: 0,
            pending: Default::default(),
            endpoints: Default::default(),
            drawn: Default::default(),
            left: BTreeMap::new(),
            left_other: 0,
            selected: 0,
            reasons: Default::default(),
            line: Vec::new(),
        }
    }

    /// Rows kept.
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }

    /// Whether a row of connection `conn` has been drawn.
    pub fn draws(&self, conn: ConnId) -> bool {
        self.drawn.contains(&conn)
    }

    /// Events selected but left out at the cap.
    pub fn left_out(&self) -> u64 {
        self.left.values().sum::<u64>() + self.left_other
    }

    fn addr(&mut self, a: SocketAddr) -> u32 {
        if let Some(&i) = self.addr_idx.get(&a) {
            return i;
        }
        let i = self.addrs.len() as u32;
        self.addrs.push(a.to_string());
        self.addr_idx.insert(a, i);
        i
    }

    fn type_index(&mut self, name: &'static str) -> i32 {
        if let Some(&i) = self.type_idx.get(name) {
            return i as i32;
        }
        let i = self.types.len() as u32;
        self.types.push(name);
        self.type_idx.insert(name, i);
        i as i32
    }

    /// One event of the capture, in capture order, with its decoded message; `selected`:
    /// the selection (`--session`, `--agent`, `--call`, `-Y`) keeps it for the ladder.
    pub fn event(&mut self, ev: &Event<'_>, d: Option<&Decoded>, selected: bool) {
        let ts = summary::event_ts(ev);
        let first = *self.first_ts.get_or_insert(ts);
        if let (Event::Message { frame, .. }, Some(d)) = (ev, d) {
            if self.reasons.len() < MAX_REASONS && d.get(field::AgentState).is_some() {
                // Reason code 0 is "none": only the others are kept.
                let code = d.number_of(field::EventReasonCode).or_else(|| d.number("ReasonCode"));
                if let Some(c) = code.filter(|&c| c != 0) {
                    self.reasons.insert(frame.last_frame, c);
                }
            }
        }
        if let Event::Connection { conn, client, server, .. } = ev {
            self.endpoints.insert(*conn, (*client, *server));
        }
        let conn = ev.conn();
        if matches!(ev, Event::Message { .. }) && selected {
            self.selected += 1;
        }
        if !selected {
            if let Event::ConnectionEnd { conn, .. } = ev {
                self.endpoints.remove(conn);
            }
            return;
        }
        if self.len() >= self.max {
            match conn {
                Some(c) if matches!(ev, Event::Message { .. }) => *self.left.entry(c).or_insert(0) += 1,
                _ => self.left_other += 1,
            }
            if let Event::ConnectionEnd { conn, .. } = ev {
                self.endpoints.remove(conn);
            }
            return;
        }
        // Saturating: a capture's timestamps are whatever its file says.
        let t_us = ts.saturating_sub(first) / 1_000;
        match (ev, d) {
            (Event::Message { flow, frame }, Some(d)) => {
                let i = self.len();
                let name = d.type_name().unwrap_or("UNKNOWN");
                let ty = self.type_index(name);
                self.line.clear();
                summary::push_fields(&mut self.line, frame.bytes, d);
                summary::push_anomalies(&mut self.line, d);
                let label = String::from_utf8_lossy(self.line.trim_ascii_start()).into_owned();
                let (src, dst) = (self.addr(flow.src), self.addr(flow.dst));
                self.push_row(frame.last_frame, t_us, flow.conn, src, dst, RowKind::Message, ty, label);
                let mut tree_text = Vec::new();
                let _ = tree::write_tree(&mut tree_text, flow, frame, d);
                self.push_tree(String::from_utf8_lossy(&tree_text).into_owned());
                let dir = u8::from(flow.dir == Direction::ToClient);
                let invoke = d.fixed(field::InvokeID).and_then(|f| f.number()).map(|v| v as u32);
                match (d.spec.map(|s| s.role), invoke) {
                    (Some(Role::Request), Some(inv)) if self.pending.len() < MAX_PENDING => {
                        self.pending.insert((flow.conn, dir, inv), i);
                    }
                    (Some(Role::Confirm), Some(inv)) => {
                        if let Some(r) = self.pending.remove(&(flow.conn, 1 - dir, inv)) {
                            let lat = frame
                                .ts_ns
                                .saturating_sub(first)
                                .saturating_sub(self.t_us[r].saturating_mul(1_000));
                            let lat = lat.max(0);
                            self.link[r] = i as i64;
                            self.link[i] = r as i64;
                            self.latency_ns[r] = lat;
                            self.latency_ns[i] = lat;
                        }
                    }
                    _ => {}
                }
            }
            (Event::Message { .. }, None) => {}
            _ => {
                let Some((kind, src, dst, frame, tag)) = self.row_of(ev) else { return };
                self.line.clear();
                let mut s = summary::Summary::new(summary::TimeFormat::Relative);
                let _ = s.write_event(&mut self.line, ev);
                let line = String::from_utf8_lossy(&self.line).into_owned();
                let label = line.find(tag).map_or(line.as_str(), |i| &line[i + 1..]).trim_end().to_string();
                let (src, dst) = (self.addr(src), self.addr(dst));
                self.push_row(frame, t_us, conn.unwrap_or(0), src, dst, kind, -1, label);
                self.push_tree(String::new());
                if let Event::ConnectionEnd { conn, .. } = ev {
                    self.endpoints.remove(conn);
                    self.pending.retain(|k, _| k.0 != *conn);
                }
            }
        }
    }

    /// A non-message event's kind, endpoints (sender first), frame and the tag its line
    /// starts with; `None` for an event of no connection known.
    fn row_of(&self, ev: &Event<'_>) -> Option<(RowKind, SocketAddr, SocketAddr, u64, &'static str)> {
        Some(match ev {
            Event::Connection { client, server, frame, .. } => {
                (RowKind::ConnectionStart, *client, *server, *frame, " [connection ")
            }
            Event::ConnectionEnd { conn, by, frame, .. } => {
                let (c, s) = *self.endpoints.get(conn)?;
                let (a, b) = if *by == Some(Direction::ToClient) { (s, c) } else { (c, s) };
                (RowKind::ConnectionEnd, a, b, *frame, " [connection ")
            }
            Event::Gap { flow, frame, .. } => (RowKind::Gap, flow.src, flow.dst, *frame, " [gap]"),
            Event::Skipped { flow, last_frame, .. } => {
                (RowKind::Resync, flow.src, flow.dst, *last_frame, " [resync]")
            }
            Event::Incomplete { flow, last_frame, .. } => {
                (RowKind::Incomplete, flow.src, flow.dst, *last_frame, " [incomplete]")
            }
            Event::Implausible { flow, frame, .. } => {
                (RowKind::Implausible, flow.src, flow.dst, *frame, " [implausible header]")
            }
            Event::Conflict { flow, frame, .. } => {
                (RowKind::Conflict, flow.src, flow.dst, *frame, " [retransmission conflict]")
            }
            Event::Limit { conn: Some(conn), frame, .. } => {
                let (c, s) = *self.endpoints.get(conn)?;
                (RowKind::Limit, c, s, *frame, " [limit]")
            }
            Event::Limit { conn: None, .. } | Event::PacketIssue { .. } | Event::Message { .. } => {
                return None
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn push_row(
        &mut self,
        frame: u64,
        t_us: i64,
        conn: u32,
        src: u32,
        dst: u32,
        kind: RowKind,
        ty: i32,
        label: String,
    ) {
        self.frame.push(frame);
        self.t_us.push(t_us);
        self.conn.push(conn);
        self.src.push(src);
        self.dst.push(dst);
        self.kind.push(kind as u8);
        self.ty.push(ty);
        self.label.push(label);
        self.link.push(-1);
        self.latency_ns.push(-1);
        self.drawn.insert(conn);
    }

    fn push_tree(&mut self, t: String) {
        self.trees.push(t);
        self.tree_rows += 1;
        if self.trees.len() == TREES_PER_CHUNK {
            self.flush_trees();
        }
    }

    fn flush_trees(&mut self) {
        if self.trees.is_empty() {
            return;
        }
        let text = serde_json::to_vec(&self.trees).expect("strings serialise");
        self.trees.clear();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).expect("in memory");
        let bytes = gz.finish().expect("in memory");
        self.tree_chunks.push(base64(&bytes));
    }

    /// The ladder's data as a JSON object, written column by column (no copy of the
    /// columns is built).
    fn write_json(mut self, w: &mut dyn Write, selection: &str) -> io::Result<()> {
        self.flush_trees();
        let head = json!({
            "cap": self.max,
            "selection": selection,
            "selected": self.selected,
            "left_out": self.left_out(),
            "left": self.left.iter().map(|(c, n)| json!([c, n])).collect::<Vec<_>>(),
            "chunk": TREES_PER_CHUNK,
        });
        let head = serde_json::to_string(&head).expect("serialisable");
        w.write_all(&head.as_bytes()[..head.len() - 1])?;
        macro_rules! col {
            ($name:literal, $v:expr) => {
                w.write_all(concat!(",\"", $name, "\":").as_bytes())?;
                serde_json::to_writer(&mut *w, &$v)?;
            };
        }
        col!("addrs", self.addrs);
        col!("types", self.types);
        col!("frame", self.frame);
        col!("t", self.t_us);
        col!("conn", self.conn);
        col!("src", self.src);
        col!("dst", self.dst);
        col!("kind", self.kind);
        col!("ty", self.ty);
        col!("label", self.label);
        col!("link", self.link);
        col!("lat", self.latency_ns);
        col!("trees", self.tree_chunks);
        w.write_all(b"}")
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                s.push(A[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// One capture of the report: its name, what the analysis found, the pipeline's counters
/// (`None` when the read failed) and the ladder.
pub struct Capture {
    pub name: String,
    pub report: Report,
    pub stats: Option<Stats>,
    pub ladder: Ladder,
    /// The selection in words (`session 3`, `agent 1001`, `every message`).
    pub selection: String,
}

/// Unanswered requests per request type, from the findings' groups.
fn unanswered(r: &Report) -> BTreeMap<&'static str, u64> {
    let mut m = BTreeMap::new();
    for g in &r.groups {
        if matches!(g.rule, "invoke-unanswered" | "heartbeat-unanswered" | "config-request-unanswered") {
            *m.entry(g.message.unwrap_or("?")).or_insert(0) += g.count;
        }
    }
    m
}

/// The ring, talk and hold intervals of a call, from its events: ring from delivered to
/// established, talk from established to cleared, hold from held to retrieved; an interval
/// still open ends with the call's last event. Times in microseconds after `first`.
fn segments(c: &CallSummary, first: TimestampNs) -> Vec<Json> {
    let mut out = Vec::new();
    let (mut ring, mut talk, mut hold): (Option<i64>, Option<i64>, Option<i64>) = (None, None, None);
    let us = |t: i64| t.saturating_sub(first) / 1_000;
    let mut close = |kind: &str, from: &mut Option<i64>, to: i64| {
        if let Some(f) = from.take() {
            out.push(json!([kind, us(f), us(to)]));
        }
    };
    for &(ts, _, name) in &c.events {
        match name {
            "CALL_DELIVERED_EVENT" if ring.is_none() && talk.is_none() => ring = Some(ts),
            "CALL_ESTABLISHED_EVENT" => {
                close("ring", &mut ring, ts);
                talk.get_or_insert(ts);
            }
            "CALL_HELD_EVENT" => {
                hold.get_or_insert(ts);
            }
            "CALL_RETRIEVED_EVENT" => close("hold", &mut hold, ts),
            "CALL_CLEARED_EVENT" | "CALL_CONNECTION_CLEARED_EVENT" | "END_CALL_EVENT" => {
                close("ring", &mut ring, ts);
                close("hold", &mut hold, ts);
                close("talk", &mut talk, ts);
            }
            _ => {}
        }
    }
    close("ring", &mut ring, c.last_ts);
    close("hold", &mut hold, c.last_ts);
    close("talk", &mut talk, c.last_ts);
    out
}

/// The messages that tell an agent's state.
const STATE_MESSAGES: &[&str] = &["AGENT_STATE_EVENT", "QUERY_AGENT_STATE_CONF", "AGENT_TEAM_CONFIG_EVENT"];

/// A ServicesGranted mask, named.
fn services(mask: u32) -> String {
    match crate::render::value::named(&values::SERVICE_MASK, mask) {
        Some(names) => format!("0x{mask:08x} ({names})"),
        None => format!("0x{mask:08x}"),
    }
}

fn capture_json(c: Capture) -> Prepared {
    let Capture { name, report: r, stats, ladder, selection } = c;
    let first = r.first_ts.or(ladder.first_ts).unwrap_or(0);
    let us = |t: i64| t.saturating_sub(first) / 1_000;
    // The ladder rows of each frame and connection, to link findings, agent states and call
    // events to their arrow: of the messages completed by one frame, the one of the type
    // named, else the first.
    let mut rows: crate::FastMap<(u64, u32), Vec<usize>> = Default::default();
    for i in 0..ladder.len() {
        rows.entry((ladder.frame[i], ladder.conn[i])).or_default().push(i);
    }
    let is_message = |i: usize| ladder.kind[i] == RowKind::Message as u8;
    let type_of = |i: usize| ladder.types[ladder.ty[i] as usize];
    let row_of = |frames: &[u64], conn: Option<u32>, prefer: &[&str]| -> Option<usize> {
        let conn = conn?;
        let mut fallback = None;
        for f in frames {
            let Some(v) = rows.get(&(*f, conn)) else { continue };
            if let Some(&i) = v.iter().find(|&&i| is_message(i) && prefer.contains(&type_of(i))) {
                return Some(i);
            }
            fallback = fallback.or_else(|| v.iter().copied().find(|&i| is_message(i))).or(Some(v[0]));
        }
        fallback
    };
    let sessions: Vec<Json> = r
        .connections
        .iter()
        .map(|s| {
            json!({
                "conn": s.conn,
                "client": s.client,
                "server": s.server,
                "cti": s.cti,
                "client_id": s.client_id,
                "agent": s.agent_id,
                "extension": s.extension,
                "instrument": s.instrument,
                "desktop": s.desktop,
                "services": s.services_granted.map(services),
                "version": s.version,
                "open": s.open,
                "midstream": s.midstream,
                "end": s.end,
                "end_by": s.end_by,
                "end_frame": s.end_frame,
                "first_frame": s.first_frame,
                "first": us(s.first_ts),
                "last": us(s.last_ts),
                "messages": s.messages,
                "bytes": s.bytes,
                "lost": s.lost,
                "follows": s.follows.map(|(c, _)| c),
                "drawn": ladder.draws(s.conn),
            })
        })
        .collect();
    let findings: Vec<Json> = r
        .findings
        .iter()
        .map(|f| {
            json!({
                "rule": f.rule,
                "severity": f.severity.as_str(),
                "conn": f.conn,
                "frames": f.frames,
                "t": us(f.ts_ns),
                "message": f.message,
                "cause": f.cause,
                "row": row_of(&f.frames, f.conn, &[f.subject.message.unwrap_or(""), f.subject.request.unwrap_or(""), f.subject.confirm.unwrap_or("")]),
            })
        })
        .collect();
    let groups: Vec<Json> = r.groups.iter().map(text::group_json).collect();
    // Agents and calls, each serialised as it is built: their many small arrays never
    // stand as JSON values all at once.
    let agents: Vec<String> = r
        .agents
        .iter()
        .map(|a| {
            let states: Vec<Json> = a
                .states
                .iter()
                .map(|(ts, fr, conn, st)| {
                    let row = row_of(&[*fr], Some(*conn), STATE_MESSAGES);
                    json!([us(*ts), fr, conn, st, ladder.reasons.get(fr), row])
                })
                .collect();
            serde_json::to_string(&json!({
                "id": a.id,
                "extension": a.extension,
                "instrument": a.instrument,
                "conns": a.conns,
                "final": a.final_state,
                "dropped": a.states_dropped,
                "states": states,
            }))
            .expect("serialisable")
        })
        .collect();
    // Calls joined by a transfer or conference: the message that named both.
    let mut joins: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, c) in r.calls.iter().enumerate() {
        for &(_, fr, name) in &c.events {
            if matches!(name, "CALL_TRANSFERRED_EVENT" | "CALL_CONFERENCED_EVENT") {
                let v = joins.entry(fr).or_default();
                if !v.contains(&i) {
                    v.push(i);
                }
            }
        }
    }
    let mut joined: Vec<Vec<(usize, &'static str)>> = vec![Vec::new(); r.calls.len()];
    for (fr, calls) in &joins {
        for &a in calls {
            for &b in calls.iter().filter(|&&b| b != a) {
                let how = r.calls[a].events.iter().find(|e| e.1 == *fr).map_or("", |e| {
                    if e.2 == "CALL_TRANSFERRED_EVENT" {
                        "transfer"
                    } else {
                        "conference"
                    }
                });
                if !joined[a].iter().any(|j| j.0 == b) {
                    joined[a].push((b, how));
                }
            }
        }
    }
    let calls: Vec<String> = r
        .calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let events: Vec<Json> = c
                .events
                .iter()
                .map(|(ts, fr, name)| json!([us(*ts), fr, name, row_of(&[*fr], Some(c.conn), &[name])]))
                .collect();
            serde_json::to_string(&json!({
                "ids": c.call_ids,
                "peripheral": c.peripheral,
                "device": c.device,
                "conn": c.conn,
                "conns": c.conns,
                "first": us(c.first_ts),
                "last": us(c.last_ts),
                "first_frame": c.first_frame,
                "begin_seen": c.begin_seen,
                "ended": c.ended,
                "ring_ns": c.ring_ns,
                "talk_ns": c.talk_ns,
                "hold_ns": c.hold_ns,
                "events": events,
                "events_dropped": c.events_dropped,
                "segments": segments(c, first),
                "joined": joined[i].iter().map(|(b, how)| json!([b, how])).collect::<Vec<_>>(),
                "vars": c.vars,
            }))
            .expect("serialisable")
        })
        .collect();
    let unanswered = unanswered(&r);
    let mut latency: Vec<Json> = r
        .latency
        .iter()
        .map(|(name, l)| {
            json!({
                "request": name,
                "count": l.count,
                "p50_ns": l.p50_ns,
                "p90_ns": l.p90_ns,
                "p99_ns": l.p99_ns,
                "max_ns": l.max_ns,
                "histogram": l.histogram,
                "unanswered": unanswered.get(name).copied().unwrap_or(0),
            })
        })
        .collect();
    for (name, n) in &unanswered {
        if !r.latency.contains_key(name) {
            latency.push(json!({"request": name, "count": 0, "histogram": [], "unanswered": n}));
        }
    }
    let count = |s: Severity| r.groups.iter().filter(|g| g.severity == s).map(|g| g.count).sum::<u64>();
    let last = r.last_ts.max(first);
    let j = json!({
        "file": name,
        "t0_us": first / 1_000,
        "first_time": time::format_rfc3339(first),
        "last_time": time::format_rfc3339(last),
        "span": us(last),
        "stats": stats.map(|s| json!({
            "packets": s.packets,
            "tcp_segments": s.tcp_segments,
            "messages": s.messages,
            "message_bytes": s.message_bytes,
            "gaps": s.gaps,
            "gap_bytes": s.gap_bytes,
            "skipped_bytes": s.skipped_bytes,
            "packet_issues": s.packet_issues,
        })),
        "cut_short": r.cut_short,
        "messages": r.messages.values().sum::<u64>(),
        "refused": r.refused,
        "empty": r.empty,
        "headline": text::headline(&r),
        "summary": text::summary_line(&r),
        "counts": {"error": count(Severity::Error), "warning": count(Severity::Warning), "note": count(Severity::Note)},
        "sessions": sessions,
        "groups": groups,
        "findings": findings,
        "calls_dropped": r.calls_dropped,
        "latency": latency,
    });
    Prepared { head: j, agents, calls, ladder, selection }
}

/// A capture's data, ready to write: the small part as a JSON value, agents and calls
/// serialised one by one, and the ladder written column by column.
struct Prepared {
    head: Json,
    agents: Vec<String>,
    calls: Vec<String>,
    ladder: Ladder,
    selection: String,
}

/// JSON that is safe inside a `<script>` element: every `<` escaped.
#[cfg(test)]
fn script_safe(j: &Json) -> String {
    let mut out = Vec::new();
    serde_json::to_writer(ScriptSafe(&mut out), j).expect("serialisable");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// A writer that writes every `<` as `\u003c`: JSON written through it cannot close the
/// `<script>` element that holds it (a `<` in JSON is always inside a string).
struct ScriptSafe<'a, W: Write + ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for ScriptSafe<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|&b| b == b'<') {
            self.0.write_all(&rest[..i])?;
            self.0.write_all(b"\\u003c")?;
            rest = &rest[i + 1..];
        }
        self.0.write_all(rest)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Counts the bytes written through it.
struct Counted<'a>(&'a mut dyn Write, usize);

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1 += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Write the report of these captures as one HTML document; returns the bytes of embedded
/// data. Each capture's data is built and written in turn.
pub fn write_report(w: &mut dyn Write, captures: Vec<Capture>, title: &str) -> io::Result<usize> {
    let title = escape(title);
    let page = PAGE.replace("{{TITLE}}", &title);
    let (head, rest) = page.split_once("/*STYLE*/").expect("style marker");
    let (mid, rest) = rest.split_once("{{DATA}}").expect("data marker");
    let (mid2, tail) = rest.split_once("/*SCRIPT*/").expect("script marker");
    w.write_all(head.as_bytes())?;
    w.write_all(STYLE.as_bytes())?;
    w.write_all(mid.as_bytes())?;
    let mut counted = Counted(w, 0);
    {
        let mut d = ScriptSafe(&mut counted);
        let generator = serde_json::to_string(&format!("ctiscope {}", env!("CARGO_PKG_VERSION")))?;
        write!(d, "{{\"generator\":{generator},\"captures\":[")?;
        for (i, c) in captures.into_iter().enumerate() {
            if i > 0 {
                d.write_all(b",")?;
            }
            let p = capture_json(c);
            let text = serde_json::to_string(&p.head)?;
            d.write_all(&text.as_bytes()[..text.len() - 1])?;
            for (key, items) in [("agents", &p.agents), ("calls", &p.calls)] {
                write!(d, ",\"{key}\":[")?;
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        d.write_all(b",")?;
                    }
                    d.write_all(item.as_bytes())?;
                }
                d.write_all(b"]")?;
            }
            d.write_all(b",\"ladder\":")?;
            p.ladder.write_json(&mut d, &p.selection)?;
            d.write_all(b"}")?;
        }
        d.write_all(b"]}")?;
    }
    let data_len = counted.1;
    w.write_all(mid2.as_bytes())?;
    // The script holds no `</script`: a unit test checks it.
    w.write_all(SCRIPT.as_bytes())?;
    w.write_all(tail.as_bytes())?;
    Ok(data_len)
}

/// Text for HTML: `&`, `<`, `>` and quotes escaped.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn capture_text_cannot_close_the_data_script() {
        let j = json!({"agent": "</script><script>alert(1)</script>"});
        let s = script_safe(&j);
        assert!(!s.contains('<'), "{s}");
        let back: Json = serde_json::from_str(&s).unwrap();
        assert_eq!(back, j);
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn the_script_and_style_never_close_their_element_early() {
        assert!(!SCRIPT.to_ascii_lowercase().contains("</script"));
        assert!(!STYLE.to_ascii_lowercase().contains("</style"));
        for marker in ["/*STYLE*/", "{{DATA}}", "/*SCRIPT*/", "{{TITLE}}"] {
            assert!(PAGE.contains(marker), "{marker}");
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for text in [PAGE, SCRIPT, STYLE] {
            let lower = text.to_ascii_lowercase();
            for bad in
                ["http://", "https://", "//cdn", "@import", "src=\"", "url(", "fetch(", "xmlhttprequest"]
            {
                let hits: Vec<&str> =
                    lower.match_indices(bad).map(|(i, _)| &text[i..(i + 60).min(text.len())]).collect();
                // The SVG namespace is a name, not a request.
                let hits: Vec<&&str> =
                    hits.iter().filter(|h| !h.starts_with("http://www.w3.org/2000/svg")).collect();
                assert!(hits.is_empty(), "{bad}: {hits:?}");
            }
        }
    }
}
