//! The [`Analyzer`]: takes the pipeline's events with their decoded messages, one at a time,
//! hands each to the modules that follow sessions, requests, configuration, calls, agents
//! and the timeline, and builds the [`Report`] at the end.

use super::agents::AgentTables;
use super::calls::{self, CallCtx, CallTables, ConnCalls};
use super::config::{self, ConfigState, ServerSide};
use super::findings::{Cause, Findings};
use super::identity::Identity;
use super::invoke::{self, InvokeLimits};
use super::links::Links;
use super::preconditions::{ConnPre, Preconditions};
use super::record::{Outcome, Record, RequestRecord};
use super::report::{self, Report};
use super::services;
use super::session;
use super::settings::Settings;
use super::state::{Conn, Msg, Pending};
use super::stats::StatsAcc;
use super::timeline;
use super::types::{dir_index, TimelineEntry};
use crate::cti::decode::Decoded;
use crate::cti::framing::Frame;
use crate::cti::spec::fields::field;
use crate::cti::spec::{MessageType, Role};
use crate::net::tcp::{ConnEnd, ConnId, ConnStart};
use crate::pipeline::{Direction, Event, Flow};
use crate::IntMap;
use crate::TimestampNs;
use std::net::SocketAddr;

/// What the analysis keeps of one connection.
#[derive(Debug)]
struct ConnEntry {
    session: Conn,
    config: ConfigState,
    calls: ConnCalls,
    pre: ConnPre,
}

impl ConnEntry {
    fn new(id: ConnId, midstream: bool, frame: u64, ts: TimestampNs) -> Self {
        ConnEntry {
            session: Conn::new(id, midstream, frame, ts),
            config: ConfigState::default(),
            calls: ConnCalls::default(),
            pre: ConnPre::default(),
        }
    }
}

/// The analyzer.
pub struct Analyzer {
    settings: Settings,
    /// Boxed: a table sized for 65,536 connections has twice as many slots, and an empty slot
    /// costs only a pointer.
    conns: IntMap<ConnId, Box<ConnEntry>>,
    findings: Findings,
    calls: CallTables,
    agents: AgentTables,
    stats: StatsAcc,
    links: Links,
    pre: Preconditions,
    timeline: Vec<TimelineEntry>,
    first_ts: Option<TimestampNs>,
    last_ts: TimestampNs,
    last_frame: u64,
    /// Rows closed since the last [`Analyzer::drain`], when [`Analyzer::record`] asked for
    /// them.
    records: Option<Vec<Record>>,
    /// With records: the finished call views that, reached, make [`Analyzer::flush_calls`]
    /// hand out the calls no live call can join any more.
    calls_flush_at: usize,
    /// What the live connections held at the last [`Analyzer::budget`] (estimated bytes).
    live_held: usize,
    /// Events until the next [`Analyzer::budget`].
    budget_in: u32,
    /// Estimated bytes of the timeline's entries (at most half of `max_analysis_memory`).
    timeline_bytes: usize,
}

/// Events between two estimates of what the live connections hold: a connection grows by
/// at most one pending request or live call per message, so the estimate is never far off.
const BUDGET_EVERY: u32 = 4_096;

/// Estimated bytes of a live connection's state, outside its requests and calls: its
/// session, configuration and call maps, its allocation and two slots of the table.
const LIVE_CONN_COST: usize =
    std::mem::size_of::<ConnEntry>() + 16 + 2 * std::mem::size_of::<(ConnId, Box<ConnEntry>)>();
/// Estimated bytes of one outstanding request (a B-tree entry and its node's share).
const PENDING_COST: usize = std::mem::size_of::<((usize, u32), Pending)>() + 32;

/// What one live connection holds, estimated.
fn live_cost(e: &ConnEntry, call_cost: usize) -> usize {
    LIVE_CONN_COST
        + e.session.pending.len() * PENDING_COST
        + e.calls.live_count() * call_cost
        + e.calls.vars_bytes()
}

/// Finished call views gathered before calls are handed out as records.
const CALLS_FLUSH: usize = 1_024;

/// Margin before the earliest start of a live call (capture times are not strictly in
/// order across connections).
const CALLS_FLUSH_MARGIN_NS: i64 = 5_000_000_000;

impl Analyzer {
    pub fn new(settings: Settings) -> Self {
        Analyzer {
            findings: Findings { cap: settings.max_findings_per_rule, ..Findings::default() },
            settings,
            conns: IntMap::default(),
            calls: CallTables::default(),
            agents: AgentTables::default(),
            stats: StatsAcc::default(),
            links: Links::default(),
            pre: Preconditions::default(),
            timeline: Vec::new(),
            first_ts: None,
            last_ts: 0,
            last_frame: 0,
            records: None,
            calls_flush_at: CALLS_FLUSH,
            live_held: 0,
            budget_in: BUDGET_EVERY,
            timeline_bytes: 0,
        }
    }

    /// Keep what the analysis holds per connection within `max_analysis_memory`, less what
    /// the timeline (at most half of it), the agents and the finished calls (at most a
    /// quarter each) hold: the live connections (estimated every [`BUDGET_EVERY`] events)
    /// and the summaries of those that ended. Over it, the summaries of the connections that ended first go, then, if
    /// the live connections alone hold more, the least recently active of them, until it
    /// holds at most seven eighths of the budget; reported once (`analysis-limit`), and
    /// counted in the report.
    fn budget(&mut self, frame: u64, ts: TimestampNs, estimate: bool) {
        let others = self.timeline_bytes + self.agents.bytes + self.calls.done_bytes;
        let max = self.settings.max_analysis_memory.saturating_sub(others);
        if !estimate && self.live_held + self.stats.conns.bytes <= max {
            return;
        }
        let call_cost = calls::live_call_cost(&self.settings);
        self.live_held = self.conns.values().map(|e| live_cost(e, call_cost)).sum();
        let target = max / 8 * 7;
        if self.live_held + self.stats.conns.bytes <= max {
            return;
        }
        self.findings.limit("max_analysis_memory", None, frame, ts);
        while self.live_held + self.stats.conns.bytes > target && self.stats.conns.release_oldest() {}
        if self.live_held <= target {
            return;
        }
        // The least recently active first: as many as hold the excess on average, found
        // without sorting them all.
        let mut by_age: Vec<(TimestampNs, ConnId)> =
            self.conns.iter().map(|(id, e)| (e.session.last_ts, *id)).collect();
        let average = (self.live_held / by_age.len().max(1)).max(1);
        let n = ((self.live_held - target).div_ceil(average)).clamp(1, by_age.len());
        by_age.select_nth_unstable(n - 1);
        by_age.truncate(n);
        by_age.sort_unstable();
        for (_, id) in by_age {
            if let Some(e) = self.conns.remove(&id) {
                self.live_held -= live_cost(&e, call_cost).min(self.live_held);
                self.stats.conns.released.live += 1;
            }
        }
    }

    /// Hand out rows as they close ([`Record`]: each request with its answer, each agent
    /// state interval, each call once no live call can join it), to be taken with
    /// [`Analyzer::drain`] after each event. The analysis is otherwise the same.
    pub fn record(&mut self) {
        self.records.get_or_insert_with(Vec::new);
    }

    /// Hand out, as [`Record::Call`]s, the finished calls that no live call can join any
    /// more: merged as the report merges them, whose every view ended before the earliest
    /// start of a live call (and before `now`), with a margin.
    fn flush_calls(&mut self, now: TimestampNs) {
        let Some(out) = &mut self.records else { return };
        if self.calls.done.len() < self.calls_flush_at {
            return;
        }
        let live = self.conns.values().filter_map(|e| e.calls.min_first_ts()).min().unwrap_or(now);
        let cutoff = live.min(now) - CALLS_FLUSH_MARGIN_NS;
        let done = std::mem::take(&mut self.calls.done);
        for views in report::group_calls(done) {
            if views.iter().all(|v| v.last_ts < cutoff) {
                out.push(Record::Call(report::combine_views(views)));
            } else {
                self.calls.done.extend(views);
            }
        }
        self.calls.recount();
        self.calls_flush_at = self.calls.done.len() + CALLS_FLUSH;
    }

    /// The rows closed since the last call, in the order they closed.
    pub fn drain(&mut self, out: &mut dyn FnMut(Record)) {
        if let Some(r) = &mut self.records {
            r.drain(..).for_each(out);
        }
    }

    fn clock(&mut self, frame: u64, ts: TimestampNs) {
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        self.last_ts = self.last_ts.max(ts);
        self.last_frame = self.last_frame.max(frame);
    }

    /// Consume one pipeline event with its decoded message (`Some` for every
    /// `Event::Message`: the analysis does not decode; a message without one is ignored).
    pub fn event(&mut self, ev: &Event<'_>, decoded: Option<&Decoded>) {
        self.findings.seq += 1;
        self.budget_in -= 1;
        if self.budget_in == 0 {
            self.budget_in = BUDGET_EVERY;
            let (frame, ts) = (self.last_frame, self.last_ts);
            self.budget(frame, ts, true);
        }
        // Messages, nearly every event, without the other events' code around them.
        if let Event::Message { flow, frame, .. } = ev {
            self.clock(frame.last_frame, frame.ts_ns);
            debug_assert!(decoded.is_some(), "a message is handed in decoded");
            if let Some(d) = decoded {
                self.message(flow, frame, d);
                self.flush_calls(frame.ts_ns);
            }
        } else {
            self.other_event(ev);
        }
    }

    /// [`Analyzer::event`] for the events other than messages.
    #[inline(never)]
    fn other_event(&mut self, ev: &Event<'_>) {
        match ev {
            Event::Connection { conn, client, server, start, frame, ts_ns, .. } => {
                self.clock(*frame, *ts_ns);
                self.connection(*conn, *client, *server, *start, *frame, *ts_ns);
            }
            Event::Message { .. } => unreachable!("handled by event"),
            Event::Gap { flow, offset, len, reason, frame, ts_ns } => {
                self.clock(*frame, *ts_ns);
                self.lost(flow.conn, flow.dir, *ts_ns);
                self.findings.push(
                    "tcp-gap",
                    Some(flow.conn),
                    vec![*frame],
                    *ts_ns,
                    format!(
                        "{} bytes of the {} stream not captured at offset {offset} ({})",
                        len,
                        flow.dir.as_str(),
                        reason.explain()
                    ),
                );
            }
            Event::Skipped { flow, offset, len, reason, first_frame, last_frame, ts_ns } => {
                self.clock(*last_frame, *ts_ns);
                self.lost(flow.conn, flow.dir, *ts_ns);
                self.findings.push(
                    "cti-resync",
                    Some(flow.conn),
                    vec![*first_frame, *last_frame],
                    *ts_ns,
                    format!(
                        "{len} bytes of the {} stream skipped at offset {offset} looking for a message header ({})",
                        flow.dir.as_str(),
                        reason.explain()
                    ),
                );
            }
            Event::Incomplete { flow, msg_type, have, need, first_frame, last_frame, ts_ns, .. } => {
                self.clock(*last_frame, *ts_ns);
                self.lost(flow.conn, flow.dir, *ts_ns);
                self.findings.push(
                    "cti-incomplete",
                    Some(flow.conn),
                    vec![*first_frame, *last_frame],
                    *ts_ns,
                    format!(
                        "{} cut short: {have} of {need} bytes ({})",
                        MessageType(*msg_type).label(),
                        flow.dir.as_str()
                    ),
                );
            }
            Event::Implausible { flow, msg_type, length, frame, ts_ns, .. } => {
                self.clock(*frame, *ts_ns);
                self.lost(flow.conn, flow.dir, *ts_ns);
                self.findings.push(
                    "cti-implausible-length",
                    Some(flow.conn),
                    vec![*frame],
                    *ts_ns,
                    format!(
                        "header of {} with MessageLength {length} ({})",
                        MessageType(*msg_type).label(),
                        flow.dir.as_str()
                    ),
                );
            }
            Event::Conflict { flow, offset, len, frame, ts_ns } => {
                self.clock(*frame, *ts_ns);
                self.findings.push(
                    "tcp-retransmission-conflict",
                    Some(flow.conn),
                    vec![*frame],
                    *ts_ns,
                    format!(
                        "retransmitted {len} bytes at offset {offset} of the {} stream differ from the first copy (first copy kept)",
                        flow.dir.as_str()
                    ),
                );
            }
            Event::Limit { conn, setting, frame, ts_ns } => {
                self.clock(*frame, *ts_ns);
                self.findings.push(
                    "capture-limit",
                    *conn,
                    vec![*frame],
                    *ts_ns,
                    format!("limit {setting} reached"),
                );
            }
            Event::ConnectionEnd { conn, end, by, frame, ts_ns } => {
                self.clock(*frame, *ts_ns);
                self.close_conn(*conn, Some(*end), *by, *frame, *ts_ns);
            }
            Event::PacketIssue { frame, ts_ns, issue } => {
                self.clock(*frame, *ts_ns);
                self.findings.push("packet-issue", None, vec![*frame], *ts_ns, issue.clone());
            }
        }
    }

    fn connection(
        &mut self,
        id: ConnId,
        client: SocketAddr,
        server: SocketAddr,
        start: ConnStart,
        frame: u64,
        ts: TimestampNs,
    ) {
        if self.conns.contains_key(&id) {
            self.close_conn(id, None, None, frame, ts);
        }
        let mut c = Box::new(ConnEntry::new(id, start == ConnStart::Midstream, frame, ts));
        c.session.client = Some(client);
        c.session.server = Some(server);
        self.conns.insert(id, c);
    }

    /// The connection of a message or a loss (one without a Connection event before it is
    /// taken as mid-stream).
    fn conn_mut(&mut self, id: ConnId, frame: u64, ts: TimestampNs) -> &mut ConnEntry {
        self.conns.entry(id).or_insert_with(|| Box::new(ConnEntry::new(id, true, frame, ts)))
    }

    /// Bytes of one direction were lost.
    fn lost(&mut self, id: ConnId, dir: Direction, ts: TimestampNs) {
        let c = &mut self.conn_mut(id, 0, ts).session;
        c.lost[dir_index(dir)] = true;
        if dir == Direction::ToServer {
            c.client_lost_since = true;
            for s in std::mem::take(&mut c.suspects) {
                s.report_if_lost(id, &mut self.findings);
            }
        }
    }

    /// End a connection: report what is left open and keep its summary.
    fn close_conn(
        &mut self,
        id: ConnId,
        end: Option<ConnEnd>,
        by: Option<Direction>,
        frame: u64,
        ts: TimestampNs,
    ) {
        let Some(mut e) = self.conns.remove(&id) else {
            return;
        };
        let timeout = self.settings.request_timeout_ns;
        let f = &mut self.findings;
        let ending = session::ending(&e.session, end, by, ts);
        for p in e.session.pending.values() {
            self.agents.request_outcome(&self.settings, f, &e.session, p, None, (frame, ts));
        }
        if let Some(out) = &mut self.records {
            let mut left: Vec<&Pending> = e.session.pending.values().collect();
            left.sort_unstable_by_key(|p| (p.frame, p.invoke));
            for p in left {
                out.push(request_record(&e.session, id, p, None, None));
            }
        }
        invoke::at_end(&mut e.session, f, ending, timeout);
        session::close(&mut e.session, f, end, by, frame, ts);
        config::at_end(&e.config, e.session.lost[1], f, id, end, frame, ts, timeout);
        self.calls.conn_end(&self.settings, f, id, e.calls, ts);
        self.pre.conn_end(f, &e.session, &mut e.pre);
        self.links.ended(&e.session, end, by, frame, ts);
        self.stats.conns.push(session::summary(&e.session, end, by, frame, ts));
        self.budget(frame, ts, false);
    }

    /// Handle one message.
    fn message(&mut self, flow: &Flow, frame: &Frame<'_>, d: &Decoded) {
        let (fr, ts) = (frame.last_frame, frame.ts_ns);
        let di = dir_index(flow.dir);
        let id = d.spec.map_or(MessageType(frame.msg_type), |s| s.id);
        let name: &'static str = d.type_name().unwrap_or("UNKNOWN");
        let role = d.spec.map(|s| s.role);
        self.stats.count(name, frame.msg_type, flow.dir);
        if !d.anomalies.is_empty() {
            self.findings.anomalies(flow.conn, fr, ts, name, d, frame.bytes);
        }
        let m = Msg { flow, frame, d, id, name, role, fr, ts };
        let settings = &self.settings;
        let timeout = settings.request_timeout_ns;
        let entry =
            self.conns.entry(flow.conn).or_insert_with(|| Box::new(ConnEntry::new(flow.conn, true, fr, ts)));
        let c = &mut entry.session;
        let f = &mut self.findings;
        c.messages[di] += 1;
        c.bytes[di] += frame.bytes.len() as u64;
        c.last_frame = fr;
        c.last_ts = ts;
        let invoke = d.fixed(field::InvokeID).and_then(|f| f.number()).map(|v| v as u32);
        if d.variant.is_some() {
            layout_variant(c, f, flow, d, name, fr, ts);
        }

        session::directions(c, f, flow, frame);
        session::order(c, f, flow, id, name, role, fr, ts);
        if Identity::teaches(id) {
            c.identity.observe(flow.dir, id, d, frame.bytes);
        }
        session::session_message(c, f, &mut self.stats, flow, id, d, frame);
        if id == MessageType::OPEN_REQ && flow.dir == Direction::ToServer && c.follows.is_none() {
            c.follows = self.links.opened(f, c, fr, ts);
        }
        // Requests past their timeout are judged before a server message answers one, so
        // that a late answer is reported late.
        if flow.dir == Direction::ToClient {
            invoke::timeouts(c, f, flow.conn, ts, timeout);
        }

        // Invoke matching. The call ids and the agent a message names: for the timeline, and
        // the agent of a request for the agent's summary (kept with the request for its
        // answer).
        let timeline = settings.timeline.is_some();
        let want_agent =
            timeline || (settings.call_summaries && role == Some(Role::Request) && invoke.is_some());
        let mut call_ids = if timeline { timeline::call_ids(d) } else { Vec::new() };
        let agent = if want_agent {
            calls::floating(d, field::AgentID).and_then(|f| f.text(frame.bytes)).map(|a| a.into_owned())
        } else {
            None
        };
        let names = invoke::Names { call: call_ids.first().copied(), agent };
        let lim = InvokeLimits {
            timeout,
            max_pending: settings.max_pending_invokes,
            max_latency_samples: settings.max_latency_samples,
        };
        let matched = invoke.and_then(|inv| invoke::matching(c, f, &mut self.stats, &m, inv, &names, lim));
        session::answered(c, f, &mut self.stats, flow.conn, id, d, matched.as_ref(), fr, ts);
        services::message(c, f, &m, matched.as_ref());

        // Configuration acquisition.
        if entry.config.involves(id) {
            let server = ServerSide { complete: c.complete(1), lost: c.lost[1] };
            let before = entry.config.request;
            config::message(&mut entry.config, server, f, &mut self.stats, &m, timeout);
            let done = matches!(id, MessageType::CONFIG_KEY_EVENT | MessageType::CONFIG_END_EVENT);
            if let (Some(out), Some((kind, rf, rts, _)), true) = (&mut self.records, before, done) {
                if entry.config.request.is_none() {
                    out.push(Record::Request(RequestRecord {
                        conn: flow.conn,
                        invoke: None,
                        request: kind.name(),
                        request_frame: rf,
                        request_ts: rts,
                        reply: Some((name, fr, ts)),
                        outcome: Outcome::Ok,
                        failure_code: None,
                        agent: None,
                        peripheral: None,
                        call: None,
                        monitor: None,
                    }));
                }
            }
        }

        // Monitors, agents, calls.
        session::monitors(c, f, flow, d, name, fr, ts);
        self.agents.message(settings, f, c, &m, matched.as_ref(), self.records.as_mut());
        if let Some(p) = &matched {
            self.agents.request_outcome(settings, f, c, p, Some(id), (fr, ts));
            if let Some(out) = &mut self.records {
                let code = match id {
                    MessageType::CONTROL_FAILURE_CONF => d.number_of(field::FailureCode),
                    MessageType::FAILURE_CONF => d.number_of(field::Status),
                    _ => None,
                };
                out.push(request_record(c, flow.conn, p, Some((id, name, fr, ts)), code));
            }
        }
        let cx = CallCtx { settings, findings: f, calls: &mut self.calls };
        let aliases = calls::call_message(cx, c, &mut entry.calls, &m);
        self.pre.message(settings, f, c, &mut entry.pre, &mut entry.calls, &m, matched.as_ref(), &self.links);

        if let Some(filter) = &settings.timeline {
            for a in aliases {
                if !call_ids.contains(&a) {
                    call_ids.push(a);
                }
            }
            let names = timeline::Names {
                invoke,
                call_ids,
                agent: names.agent,
                session: &c.identity,
                matched: matched.as_ref(),
            };
            // The timeline may take half the budget; the connections the rest.
            let room = (settings.max_analysis_memory / 2).saturating_sub(self.timeline_bytes);
            self.timeline_bytes +=
                timeline::message(&mut self.timeline, (settings, room), filter, f, &m, names);
        }
    }

    /// The capture ended: close what is still open and build the report.
    pub fn finish(self) -> Report {
        self.finish_into(&mut |_| {})
    }

    /// [`Analyzer::finish`], handing `out` the rows that close at the end (requests still
    /// outstanding, agents' last states) when [`Analyzer::record`] asked for them.
    pub fn finish_into(mut self, out: &mut dyn FnMut(Record)) -> Report {
        let mut ids: Vec<ConnId> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.close_conn(id, None, None, self.last_frame, self.last_ts);
        }
        self.agents.finish(self.last_ts, self.records.as_mut());
        self.drain(out);
        let (mut findings, groups) = std::mem::take(&mut self.findings).into_sorted(self.last_ts);
        let conns = self.stats.conns.kept.make_contiguous();
        report::name_connections(&mut findings, conns);
        let mut timeline = std::mem::take(&mut self.timeline);
        timeline::finish(&mut timeline, &self.settings, &findings, conns, self.last_frame);
        report::build(report::Parts {
            findings,
            groups,
            attempts: (self.links.refused, self.links.empty),
            stats: self.stats,
            calls: self.calls,
            agents: self.agents,
            timeline,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
        })
    }
}

/// A message decoded with another version's fixed part: said once per connection and type.
#[cold]
#[inline(never)]
fn layout_variant(
    c: &mut Conn,
    f: &mut Findings,
    flow: &Flow,
    d: &Decoded,
    name: &'static str,
    fr: u64,
    ts: TimestampNs,
) {
    let (Some(v), Some(spec)) = (d.variant, d.spec) else { return };
    if c.variants_noted.contains(&spec.id.0) {
        return;
    }
    c.variants_noted.push(spec.id.0);
    let subject = c.subject(Some(name));
    let reason = format!("decoded with the {}", v.describe(spec, d.version));
    let cause = Cause::new(Some(name), reason.clone());
    f.report("layout-variant", Some(flow.conn), &[fr], ts, cause, || (format!("{name}: {reason}"), subject));
}

/// The row of request `p` of connection `conn`, answered by `reply` (its type, name, frame and
/// time) or never.
fn request_record(
    c: &Conn,
    conn: ConnId,
    p: &Pending,
    reply: Option<(MessageType, &'static str, u64, TimestampNs)>,
    failure_code: Option<u64>,
) -> Record {
    let outcome = match reply {
        None => Outcome::Unanswered,
        Some((id, ..)) if Some(id) == p.confirm => Outcome::Ok,
        Some(_) => Outcome::Failed,
    };
    Record::Request(RequestRecord {
        conn,
        invoke: Some(p.invoke),
        request: p.name,
        request_frame: p.frame,
        request_ts: p.ts,
        reply: reply.map(|(_, name, fr, ts)| (name, fr, ts)),
        outcome,
        failure_code,
        agent: p.agent.clone().or_else(|| c.identity.agent().map(str::to_string)),
        peripheral: p.peripheral,
        call: p.call,
        monitor: p.monitor,
    })
}
