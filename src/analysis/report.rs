//! What the analysis produces: the [`Report`], built from the analysis's tables when the
//! capture ends. Everything is sorted: nothing depends on hash order. The renderers
//! (the `render::report` module) print it.

use super::agents::AgentTables;
use super::calls::CallTables;
use super::findings::Finding;
use super::rules::Severity;
use super::stats::StatsAcc;
pub use super::types::{
    AgentSummary, Answered, CallSummary, ConnSummary, LatencyStats, MessageDetail, TimelineEntry,
    TimelineWhat, DETAIL_FIELDS, SCHEMA,
};
use crate::TimestampNs;
use std::collections::BTreeMap;

/// Everything the analysis found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Sorted by first frame.
    pub findings: Vec<Finding>,
    /// Sorted by connection number.
    pub connections: Vec<ConnSummary>,
    /// (type label, direction) -> count.
    pub messages: BTreeMap<(String, &'static str), u64>,
    pub latency: BTreeMap<&'static str, LatencyStats>,
    pub failures: BTreeMap<String, u64>,
    /// Sorted by first frame.
    pub calls: Vec<CallSummary>,
    pub calls_dropped: u64,
    /// Sorted by AgentID.
    pub agents: Vec<AgentSummary>,
    /// Time-ordered (empty unless a timeline was asked for).
    pub timeline: Vec<TimelineEntry>,
    pub first_ts: Option<TimestampNs>,
    pub last_ts: TimestampNs,
}

impl Report {
    /// Findings at or above a severity.
    pub fn count_at_least(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity >= s).count()
    }
}

/// The tables the report is built from.
pub(crate) struct Parts {
    pub findings: Vec<Finding>,
    pub stats: StatsAcc,
    pub calls: CallTables,
    pub agents: AgentTables,
    pub timeline: Vec<TimelineEntry>,
    pub first_ts: Option<TimestampNs>,
    pub last_ts: TimestampNs,
}

pub(crate) fn build(p: Parts) -> Report {
    let mut connections = p.stats.conns;
    connections.sort_by_key(|c| (c.conn, c.first_frame));
    let mut calls = p.calls.done;
    calls.sort_by_key(|c| (c.first_frame, c.seq));
    Report {
        findings: p.findings,
        connections,
        messages: StatsAcc::message_counts(&p.stats.by_type, p.stats.messages),
        latency: StatsAcc::latency_stats(p.stats.latency),
        failures: StatsAcc::failure_counts(p.stats.failures),
        calls,
        calls_dropped: p.calls.dropped,
        agents: p.agents.into_summaries(),
        timeline: p.timeline,
        first_ts: p.first_ts,
        last_ts: p.last_ts,
    }
}
