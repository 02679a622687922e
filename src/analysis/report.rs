//! What the analysis produces: the [`Report`], built from the analysis's tables when the
//! capture ends. Everything is sorted: nothing depends on hash order. The renderers
//! (the `render::report` module) print it.

use super::agents::AgentTables;
use super::calls::CallTables;
use super::findings::{Finding, Group};
use super::rules::Severity;
use super::stats::{Released, StatsAcc};
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
    /// The findings grouped by cause: errors first, then by count.
    pub groups: Vec<Group>,
    /// Connection attempts that carried no CTI: refused by the server, and closed without
    /// data (they are also in `connections`, marked `cti: false`).
    pub refused: u64,
    pub empty: u64,
    /// Sorted by connection number.
    pub connections: Vec<ConnSummary>,
    /// Connections counted but not in `connections`: their summaries (or, for open ones,
    /// their state) were let go at `--max-analysis-memory`.
    pub connections_released: Released,
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
    /// The capture could not be read to its end: where and why (set by the caller, which
    /// reads the capture).
    pub cut_short: Option<String>,
    /// The agent the report was narrowed to ([`Report::select_agent`]).
    pub agent_selected: Option<String>,
    /// The report was narrowed to the messages of a display filter ([`Report::select_frames`]).
    pub display_selected: bool,
}

impl Report {
    /// CTI connections seen: those listed and those whose summary was not kept.
    pub fn cti_connections(&self) -> u64 {
        self.connections.iter().filter(|c| c.cti).count() as u64 + self.connections_released.sessions
    }
}

/// The frames of the messages a display filter selected, and their connections: a bit per
/// frame number (an eighth of a byte per frame of the capture).
#[derive(Debug, Default, Clone)]
pub struct FrameSet {
    bits: Vec<u64>,
    pub conns: crate::IntSet<u32>,
}

impl FrameSet {
    pub fn insert(&mut self, frame: u64, conn: u32) {
        let (w, b) = ((frame / 64) as usize, frame % 64);
        if w >= self.bits.len() {
            self.bits.resize(w + 1, 0);
        }
        self.bits[w] |= 1 << b;
        self.conns.insert(conn);
    }

    pub fn contains(&self, frame: u64) -> bool {
        let (w, b) = ((frame / 64) as usize, frame % 64);
        self.bits.get(w).is_some_and(|x| x & (1 << b) != 0)
    }
}

impl Report {
    /// Keep only what concerns one agent (`stats --agent`): the agent's desktop sessions (by
    /// AgentID, extension or instrument), its row of the agent table, the calls its sessions
    /// or its extension saw, and the findings naming it or its sessions (regrouped). The
    /// message counts, latency and failures stay those of the whole capture.
    pub fn select_agent(&mut self, agent: &str) {
        let names = |a: &Option<String>| a.as_deref() == Some(agent);
        self.connections
            .retain(|c| c.desktop && (names(&c.agent_id) || names(&c.extension) || names(&c.instrument)));
        let sessions: Vec<u32> = self.connections.iter().map(|c| c.conn).collect();
        let mine = |conn: &Option<u32>| conn.is_some_and(|c| sessions.contains(&c));
        self.agents.retain(|a| a.id == agent || names(&a.extension) || names(&a.instrument));
        let devices: Vec<String> = self.agents.iter().filter_map(|a| a.extension.clone()).collect();
        self.calls.retain(|c| c.conns.iter().any(|x| sessions.contains(x)) || devices.contains(&c.device));
        self.findings.retain(|f| {
            let s = &f.subject;
            names(&s.agent) || names(&s.extension) || names(&s.instrument) || mine(&f.conn)
        });
        self.groups = regroup(&self.findings);
        self.refused = 0;
        self.empty = 0;
        self.agent_selected = Some(agent.to_string());
    }

    /// Keep only what concerns the messages a display filter selected (`-Y` on `check`,
    /// `timeline`, `stats`): the findings pointing at one of their frames (regrouped), the
    /// timeline's lines of those messages and findings, the connections that hold one, and
    /// the message counts of the selected messages (`messages`). Latency, failures, calls
    /// and agents stay the whole capture's.
    pub fn select_frames(&mut self, selected: &FrameSet, messages: BTreeMap<(String, &'static str), u64>) {
        self.findings.retain(|f| f.frames.iter().any(|&fr| selected.contains(fr)));
        self.groups = regroup(&self.findings);
        let conns: std::collections::BTreeSet<u32> = selected.conns.iter().copied().collect();
        self.connections.retain(|c| conns.contains(&c.conn));
        self.timeline.retain(|e| match &e.what {
            TimelineWhat::Message { .. } => selected.contains(e.frame),
            TimelineWhat::Finding { .. } => {
                e.conn.is_none_or(|c| conns.contains(&c)) && selected.contains(e.frame)
            }
            TimelineWhat::Connection { .. } => e.conn.is_some_and(|c| conns.contains(&c)),
        });
        self.messages = messages;
        self.refused = 0;
        self.empty = 0;
        self.display_selected = true;
    }

    /// Findings at or above a severity.
    pub fn count_at_least(&self, s: Severity) -> u64 {
        self.groups.iter().filter(|g| g.severity >= s).map(|g| g.count).sum()
    }
}

/// The tables the report is built from.
pub(crate) struct Parts {
    pub findings: Vec<Finding>,
    pub groups: Vec<Group>,
    pub attempts: (u64, u64),
    pub stats: StatsAcc,
    pub calls: CallTables,
    pub agents: AgentTables,
    pub timeline: Vec<TimelineEntry>,
    pub first_ts: Option<TimestampNs>,
    pub last_ts: TimestampNs,
}

pub(crate) fn build(p: Parts) -> Report {
    let released = p.stats.conns.released;
    let mut connections = Vec::from(p.stats.conns.kept);
    connections.sort_by_key(|c| (c.conn, c.first_frame));
    let mut calls = merge_calls(p.calls.done);
    calls.sort_by_key(|c| (c.first_frame, c.seq));
    Report {
        findings: p.findings,
        groups: p.groups,
        refused: p.attempts.0,
        empty: p.attempts.1,
        connections,
        connections_released: released,
        messages: StatsAcc::message_counts(&p.stats.by_type, p.stats.messages),
        latency: StatsAcc::latency_stats(p.stats.latency),
        failures: StatsAcc::failure_counts(p.stats.failures),
        calls,
        calls_dropped: p.calls.dropped,
        agents: p.agents.into_summaries(),
        timeline: p.timeline,
        first_ts: p.first_ts,
        last_ts: p.last_ts,
        cut_short: None,
        agent_selected: None,
        display_selected: false,
    }
}

/// Each finding learns its connection's endpoints and ClientID, and the session's agent where
/// it names none.
pub(crate) fn name_connections(findings: &mut [Finding], conns: &[ConnSummary]) {
    let by_id: crate::IntMap<u32, &ConnSummary> = conns.iter().map(|c| (c.conn, c)).collect();
    for f in findings {
        let Some(c) = f.conn.and_then(|id| by_id.get(&id)) else { continue };
        let s = &mut f.subject;
        s.client.clone_from(&c.client);
        s.server.clone_from(&c.server);
        s.client_id.clone_from(&c.client_id);
        if s.agent.is_none() && s.extension.is_none() && c.desktop {
            s.agent.clone_from(&c.agent_id);
            s.extension.clone_from(&c.extension);
            s.instrument.clone_from(&c.instrument);
        }
    }
}

/// One summary per call across the connections that report it (monitors, bridges, desktops):
/// summaries of different connections that share a (PeripheralID, call id) and overlap in
/// time are one call (a call id used again later, or on the same connection after its
/// END_CALL_EVENT, is another call). The merged summary keeps the
/// view with the most events (ring, talk and hold times, events), the union of call ids,
/// variables and connections, the earliest start and the latest end.
pub(crate) fn merge_calls(done: Vec<CallSummary>) -> Vec<CallSummary> {
    group_calls(done).into_iter().map(combine_views).collect()
}

/// The views of [`merge_calls`] grouped by call, each group in `done`'s order.
pub(crate) fn group_calls(done: Vec<CallSummary>) -> Vec<Vec<CallSummary>> {
    // Union-find over the summaries, joined through their (peripheral, call id) pairs.
    let mut parent: Vec<usize> = (0..done.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut by_id: std::collections::HashMap<(u32, u32), Vec<usize>> = std::collections::HashMap::new();
    for (i, c) in done.iter().enumerate() {
        for &id in &c.call_ids {
            by_id.entry((c.peripheral, id)).or_default().push(i);
        }
    }
    for mut views in by_id.into_values() {
        if views.len() < 2 {
            continue;
        }
        views.sort_by_key(|&i| (done[i].first_ts, i));
        // Sweep in start order, joining each view to the earlier views of other
        // connections still running when it starts.
        let mut active: Vec<usize> = Vec::new();
        for i in views {
            active.retain(|&j| done[j].last_ts >= done[i].first_ts);
            for &j in &active {
                if done[j].conn != done[i].conn {
                    let (a, b) = (root(&mut parent, j), root(&mut parent, i));
                    if a != b {
                        parent[a.max(b)] = a.min(b);
                    }
                }
            }
            active.push(i);
        }
    }
    let mut groups: BTreeMap<usize, Vec<CallSummary>> = BTreeMap::new();
    for (i, c) in done.into_iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(c);
    }
    groups.into_values().collect()
}

/// One call's views (of [`group_calls`]) merged into one summary.
pub(crate) fn combine_views(mut views: Vec<CallSummary>) -> CallSummary {
    let best = views
        .iter()
        .enumerate()
        .max_by_key(|(i, v)| (v.events.len() as u64 + v.events_dropped, std::cmp::Reverse(*i)))
        .map_or(0, |(i, _)| i);
    let mut m = views.swap_remove(best);
    for v in views {
        m.conns.extend(v.conns);
        for id in v.call_ids {
            if !m.call_ids.contains(&id) {
                m.call_ids.push(id);
            }
        }
        for (k, val) in v.vars {
            m.vars.entry(k).or_insert(val);
        }
        m.begin_seen |= v.begin_seen;
        m.ended |= v.ended;
        m.data_set |= v.data_set;
        if (v.first_frame, v.seq) < (m.first_frame, m.seq) {
            m.first_frame = v.first_frame;
            m.seq = v.seq;
        }
        m.first_ts = m.first_ts.min(v.first_ts);
        m.last_ts = m.last_ts.max(v.last_ts);
    }
    m.conns.sort_unstable();
    m.conns.dedup();
    m
}

/// Groups rebuilt from listed findings (after a selection), in the report's order.
fn regroup(findings: &[Finding]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for f in findings.iter().filter(|f| !f.cause.is_empty()) {
        let first = f.frames.first().copied();
        let last = f.frames.last().copied();
        match groups.iter_mut().find(|g| g.rule == f.rule && g.cause == f.cause) {
            Some(g) => {
                g.count += 1;
                g.first_frame = g.first_frame.min(first).or(first);
                g.last_frame = g.last_frame.max(last);
                g.last_ts = g.last_ts.max(f.ts_ns);
                g.ids.push(f.subject.short(f.conn));
            }
            None => groups.push(Group {
                rule: f.rule,
                severity: f.severity,
                message: f.subject.message,
                field: f.subject.field,
                cause: f.cause.clone(),
                reference: f.reference.clone(),
                count: 1,
                conns: 1,
                conns_more: false,
                first_frame: first,
                last_frame: last,
                first_ts: f.ts_ns,
                last_ts: f.ts_ns,
                example: f.message.clone(),
                ids: vec![f.subject.short(f.conn)],
                ids_complete: true,
            }),
        }
    }
    for g in &mut groups {
        let conns: std::collections::BTreeSet<Option<u32>> =
            findings.iter().filter(|f| f.rule == g.rule && f.cause == g.cause).map(|f| f.conn).collect();
        g.conns = conns.len() as u64;
    }
    groups.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then(b.count.cmp(&a.count)).then(a.first_frame.cmp(&b.first_frame))
    });
    groups
}
