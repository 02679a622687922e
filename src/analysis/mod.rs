//! Capture analysis: sessions, invoke/confirm matching, configuration acquisition, calls,
//! monitors and agents, and the findings where a capture departs from the protocol.
//!
//! An [`Analyzer`] consumes the pipeline's [`Event`]s one at a time and produces a
//! [`Report`] at [`Analyzer::finish`]. State is bounded: a request leaves the live table when
//! it is answered, a call when it ends; the summaries kept for `stats` and `timeline` are
//! capped by [`Settings`], and reaching a cap is reported once (rule `analysis-limit`).
//!
//! Rules never claim a violation that a gap or a mid-stream start could explain: a confirm
//! whose request was not captured is a note, a call event for a call whose BEGIN_CALL_EVENT
//! was not seen is accepted on such a connection, and so on.

mod calls;
mod fields;
pub mod report;
pub mod rules;
mod session;

#[cfg(test)]
mod tests;

pub use report::{AgentSummary, CallSummary, ConnSummary, LatencyStats, Report, TimelineEntry};
pub use rules::{rule, rules, Rule, Severity};

use crate::cti::decode::{Decoded, Decoder, Part};
use crate::cti::framing::SkipReason;
use crate::net::tcp::ConnId;
use crate::net::tcp::GapReason;
use crate::pipeline::{Direction, Event};
use crate::IntMap;
use crate::TimestampNs;
use std::collections::BTreeMap;

/// Analysis limits and options; every limit has a default.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A request unanswered this long is reported (`--request-timeout`, default 15 s: the
    /// guide's "10 to 15 seconds" for client control requests).
    pub request_timeout_ns: i64,
    /// Outstanding requests tracked per connection.
    pub max_pending_invokes: usize,
    /// Finished-call summaries kept.
    pub max_calls: usize,
    /// Live calls tracked per connection.
    pub max_live_calls: usize,
    /// Findings listed per rule; further ones are counted in one summary finding.
    pub max_findings_per_rule: usize,
    /// Agents tracked.
    pub max_agents: usize,
    /// Events kept per call summary.
    pub max_events_per_call: usize,
    /// State changes kept per agent.
    pub max_states_per_agent: usize,
    /// Latency samples kept per request type (count and maximum are always exact).
    pub max_latency_samples: usize,
    /// Timeline entries kept.
    pub max_timeline_entries: usize,
    /// Ended calls remembered across connections, the oldest forgotten first (for events
    /// after END_CALL_EVENT).
    pub max_ended_calls: usize,
    /// Record a timeline, with this filter.
    pub timeline: Option<TimelineFilter>,
    /// Keep per-call and per-agent summaries (call events, variables, durations; agent
    /// states, skill groups, requests) for `stats`; the rules do not need them (agents are
    /// still counted against `max_agents`).
    pub call_summaries: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            request_timeout_ns: 15_000_000_000,
            max_pending_invokes: 10_000,
            max_calls: 10_000,
            max_live_calls: 100_000,
            max_findings_per_rule: 1_000,
            max_agents: 100_000,
            max_events_per_call: 64,
            max_states_per_agent: 1_000,
            max_latency_samples: 100_000,
            max_timeline_entries: 1_000_000,
            max_ended_calls: 16_384,
            timeline: None,
            call_summaries: true,
        }
    }
}

/// Which messages the timeline keeps: all given criteria must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineFilter {
    /// A ConnectionCallID (any the call had, or Primary/Secondary/New call ids).
    pub call: Option<u32>,
    /// An AgentID.
    pub agent: Option<String>,
    /// A connection number.
    pub session: Option<ConnId>,
    /// An InvokeID.
    pub invoke: Option<u32>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub conn: Option<ConnId>,
    /// Capture frame numbers involved, in order.
    pub frames: Vec<u64>,
    pub ts_ns: TimestampNs,
    pub message: String,
    pub reference: String,
    /// Position in the capture's event order (the order `decode` prints), for the timeline.
    pub(crate) seq: u64,
}

impl Finding {
    /// First frame, for sorting (findings without frames sort last).
    pub fn first_frame(&self) -> u64 {
        self.frames.iter().copied().min().unwrap_or(u64::MAX)
    }
}

/// Where findings go: counts per rule and the cap.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub list: Vec<Finding>,
    pub per_rule: BTreeMap<&'static str, u64>,
    pub cap: usize,
    /// Limits already reported.
    pub limits: Vec<&'static str>,
    /// Event-order position of the event being analysed.
    pub seq: u64,
}

impl Findings {
    /// Whether a further finding of this rule would be listed (beyond the cap it is only
    /// counted): callers skip building the message when it would not.
    pub fn listing(&self, rule_id: &str) -> bool {
        self.per_rule.get(rule_id).is_none_or(|&n| (n as usize) < self.cap)
    }

    /// Push a finding whose message is built only if it will be listed.
    pub fn push_lazy(
        &mut self,
        rule_id: &'static str,
        conn: Option<ConnId>,
        frames: &[u64],
        ts_ns: TimestampNs,
        message: impl FnOnce() -> String,
    ) {
        if self.listing(rule_id) {
            self.push(rule_id, conn, frames.to_vec(), ts_ns, message());
        } else {
            self.count_only(rule_id);
        }
    }

    /// Count a finding without listing it (the rule is past its cap).
    pub fn count_only(&mut self, rule_id: &'static str) {
        *self.per_rule.entry(rule_id).or_insert(0) += 1;
    }

    pub fn push(
        &mut self,
        rule_id: &'static str,
        conn: Option<ConnId>,
        frames: Vec<u64>,
        ts_ns: TimestampNs,
        message: String,
    ) {
        let r = rules::rule(rule_id);
        self.push_with(r.id, r.severity, conn, frames, ts_ns, message, r.reference.into());
    }

    /// Push a finding decided later than the event it is about (event-order position `seq`).
    pub fn push_at(
        &mut self,
        seq: u64,
        rule_id: &'static str,
        conn: Option<ConnId>,
        frames: Vec<u64>,
        ts_ns: TimestampNs,
        message: String,
    ) {
        let now = std::mem::replace(&mut self.seq, seq);
        self.push(rule_id, conn, frames, ts_ns, message);
        self.seq = now;
    }

    #[allow(clippy::too_many_arguments)]
    pub fn push_with(
        &mut self,
        rule_id: &'static str,
        severity: Severity,
        conn: Option<ConnId>,
        mut frames: Vec<u64>,
        ts_ns: TimestampNs,
        message: String,
        reference: String,
    ) {
        let n = self.per_rule.entry(rule_id).or_insert(0);
        *n += 1;
        if *n as usize > self.cap {
            return;
        }
        frames.sort_unstable();
        frames.dedup();
        let seq = self.seq;
        self.list.push(Finding { rule: rule_id, severity, conn, frames, ts_ns, message, reference, seq });
    }

    /// Report reaching an analysis limit, once per setting.
    pub fn limit(&mut self, setting: &'static str, conn: Option<ConnId>, frame: u64, ts: i64) {
        if self.limits.contains(&setting) {
            return;
        }
        self.limits.push(setting);
        self.push(
            "analysis-limit",
            conn,
            vec![frame],
            ts,
            format!("analysis limit {setting} reached: further entries are not kept"),
        );
    }
}

/// Direction index: 0 client->server, 1 server->client.
pub(crate) fn dir_index(d: Direction) -> usize {
    match d {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

/// Numeric fixed or floating field.
pub(crate) fn num(d: &Decoded, name: &str) -> Option<u64> {
    d.number(name)
}

/// Numeric field of the fixed part only.
pub(crate) fn fixed_num(d: &Decoded, name: &str) -> Option<u64> {
    d.fields
        .iter()
        .find(|f| f.part() == Part::Fixed && crate::cti::decode::same_name(f.name(), name))
        .and_then(|f| f.number())
}

pub(crate) fn text(d: &Decoded, frame: &[u8], name: &str) -> Option<String> {
    d.text(frame, name).map(|c| c.into_owned())
}

/// Why a gap was declared, in words.
fn gap_why(r: GapReason) -> &'static str {
    match r {
        GapReason::BufferLimit => "later data exceeded the reassembly buffer",
        GapReason::AckedPastHole => "acknowledged by the peer, never captured",
        GapReason::ConnectionEnd => "the connection ended with the hole open",
        GapReason::Truncated => "cut by the capture's snap length",
    }
}

/// Why bytes were skipped, in words.
fn skip_why(r: SkipReason) -> &'static str {
    match r {
        SkipReason::Midstream => "the capture started mid-stream",
        SkipReason::AfterGap => "after a gap",
        SkipReason::Implausible => "after an implausible header",
        SkipReason::StreamEnd => "the stream ended",
    }
}

/// Name of a value in a table, or the number.
pub(crate) fn value_name(t: &crate::cti::spec::ValueTable, v: u64) -> String {
    match u32::try_from(v).ok().and_then(|v| t.name_of(v)) {
        Some(n) => format!("{n} ({v})"),
        None => v.to_string(),
    }
}

/// The analyzer.
pub struct Analyzer {
    pub(crate) settings: Settings,
    pub(crate) conns: IntMap<ConnId, session::Conn>,
    pub(crate) findings: Findings,
    pub(crate) calls: calls::CallTables,
    pub(crate) agents: calls::AgentTables,
    pub(crate) stats: report::StatsAcc,
    pub(crate) timeline: Vec<TimelineEntry>,
    decoder: Decoder,
    /// Reused for the messages decoded here.
    scratch: Decoded,
    pub(crate) first_ts: Option<TimestampNs>,
    pub(crate) last_ts: TimestampNs,
    pub(crate) last_frame: u64,
}

impl Analyzer {
    pub fn new(settings: Settings) -> Self {
        Analyzer {
            findings: Findings { cap: settings.max_findings_per_rule, ..Findings::default() },
            settings,
            conns: IntMap::default(),
            calls: calls::CallTables::default(),
            agents: calls::AgentTables::default(),
            stats: report::StatsAcc::default(),
            timeline: Vec::new(),
            decoder: Decoder::default(),
            scratch: Decoded::default(),
            first_ts: None,
            last_ts: 0,
            last_frame: 0,
        }
    }

    /// Decode with this protocol version instead of the OPEN_REQ's or an inferred one, when
    /// messages are not handed in decoded.
    pub fn force_version(&mut self, version: Option<u32>) {
        self.decoder.forced = version;
    }

    fn clock(&mut self, frame: u64, ts: TimestampNs) {
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        self.last_ts = self.last_ts.max(ts);
        self.last_frame = self.last_frame.max(frame);
    }

    /// Consume one pipeline event. `decoded` is the decoded message for `Event::Message`
    /// (decoded here when `None`).
    pub fn event(&mut self, ev: &Event<'_>, decoded: Option<&Decoded>) {
        self.findings.seq += 1;
        // Messages, nearly every event, without the other events' code around them.
        if let Event::Message { flow, version, frame } = ev {
            self.clock(frame.last_frame, frame.ts_ns);
            self.message(flow, *version, frame, decoded);
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
                        gap_why(*reason)
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
                        skip_why(*reason)
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
                        crate::render::summary::type_label(*msg_type),
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
                        crate::render::summary::type_label(*msg_type),
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
            Event::ConnectionEnd { conn, end, frame, ts_ns } => {
                self.clock(*frame, *ts_ns);
                self.connection_end(*conn, *end, *frame, *ts_ns);
            }
            Event::PacketIssue { frame, ts_ns, issue } => {
                self.clock(*frame, *ts_ns);
                self.findings.push("packet-issue", None, vec![*frame], *ts_ns, issue.clone());
            }
        }
    }

    /// The capture ended: close what is still open and build the report.
    pub fn finish(mut self) -> Report {
        let mut ids: Vec<ConnId> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.close_conn(id, None, self.last_frame, self.last_ts);
        }
        self.calls_finish();
        let mut findings = std::mem::take(&mut self.findings);
        for (rule_id, n) in &findings.per_rule {
            let cap = findings.cap as u64;
            if *n > cap {
                let r = rules::rule(rule_id);
                findings.list.push(Finding {
                    rule: r.id,
                    severity: r.severity,
                    conn: None,
                    frames: Vec::new(),
                    ts_ns: self.last_ts,
                    message: format!(
                        "{} more findings of this rule not listed (max_findings_per_rule = {cap})",
                        n - cap
                    ),
                    reference: r.reference.to_string(),
                    seq: u64::MAX,
                });
            }
        }
        let mut list = findings.list;
        list.sort_by(|a, b| {
            a.first_frame()
                .cmp(&b.first_frame())
                .then(a.rule.cmp(b.rule))
                .then(a.conn.cmp(&b.conn))
                .then(a.message.cmp(&b.message))
        });
        let mut timeline = std::mem::take(&mut self.timeline);
        if self.settings.timeline.is_some() {
            let filter = self.settings.timeline.clone().unwrap_or_default();
            let only_session = filter.call.is_none() && filter.agent.is_none() && filter.invoke.is_none();
            if only_session {
                for f in &list {
                    if filter.session.is_some() && f.conn != filter.session {
                        continue;
                    }
                    if timeline.len() >= self.settings.max_timeline_entries {
                        break;
                    }
                    timeline.push(TimelineEntry {
                        ts_ns: f.ts_ns,
                        frame: f.frames.first().copied().unwrap_or(self.last_frame),
                        conn: f.conn,
                        direction: None,
                        what: format!("finding {}", f.rule),
                        detail: format!("[{}] {}", f.severity.as_str(), f.message),
                        call: None,
                        agent: None,
                        invoke: None,
                        seq: f.seq,
                    });
                }
            }
            // Event order, as `decode` prints: a gap comes before the bytes skipped after it
            // even when it was declared at a later frame.
            timeline.sort_by_key(|e| e.seq);
        }
        report::build(self, list, timeline)
    }
}
