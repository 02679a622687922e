//! What the analysis keeps and for how long: its limits and options, and the timeline
//! filter.

use crate::net::tcp::ConnId;

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
    /// Estimated bytes the analysis holds per connection: the live connections (session,
    /// outstanding requests, live calls) and the summaries of those that ended
    /// (`--max-analysis-memory`). Beyond it the summaries of the connections that ended
    /// first are let go, then the least recently active live connections; counted in the
    /// report and reported once.
    pub max_analysis_memory: usize,
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
            max_analysis_memory: 64 << 20,
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
