//! Rows for tables, handed out as the analysis closes them: each request with its answer
//! (or none), each interval an agent spent in one state, and each call. Off unless
//! [`Analyzer::record`](super::Analyzer::record) turns it on; `ctiscope export` drains them
//! after every event ([`Analyzer::drain`](super::Analyzer::drain)), so they are never all
//! held at once.

use crate::TimestampNs;

/// A row closed by the analysis.
#[derive(Debug, Clone)]
pub enum Record {
    Request(RequestRecord),
    AgentState(StateInterval),
    /// A call, its views on several connections merged as in the report, once no call still
    /// live can join it (the calls left at the end are in the report).
    Call(crate::analysis::CallSummary),
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered by its own confirm.
    Ok,
    /// Answered by FAILURE_CONF, CONTROL_FAILURE_CONF or another confirm.
    Failed,
    /// Never answered: the connection or the capture ended first.
    Unanswered,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Unanswered => "unanswered",
        }
    }
}

/// One request, matched to its answer as `check` and `stats` match it: by InvokeID, or for
/// a configuration request (CONFIG_REQUEST_EVENT, CONFIG_REQUEST_KEY_EVENT) by the
/// CONFIG_END_EVENT or CONFIG_KEY_EVENT that completes it (no InvokeID then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub conn: u32,
    pub invoke: Option<u32>,
    /// The request's type name.
    pub request: &'static str,
    pub request_frame: u64,
    pub request_ts: TimestampNs,
    /// The answer's type name, frame and time.
    pub reply: Option<(&'static str, u64, TimestampNs)>,
    pub outcome: Outcome,
    /// The Status (FAILURE_CONF) or FailureCode (CONTROL_FAILURE_CONF) of a failure.
    pub failure_code: Option<u64>,
    /// The agent the request was made for (its AgentID, else the desktop session's agent).
    pub agent: Option<String>,
    pub peripheral: Option<u32>,
    pub call: Option<u32>,
    pub monitor: Option<u32>,
}

impl RequestRecord {
    /// Request to answer.
    pub fn latency_ns(&self) -> Option<i64> {
        self.reply.map(|(_, _, ts)| ts - self.request_ts)
    }
}

/// An interval one agent spent in one state, from the message that reported the state to
/// the one that reported the next (or the end of the capture: `ended` false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateInterval {
    pub agent: String,
    pub peripheral: Option<u32>,
    /// The state as `stats` names it: without `AGENT_STATE_`, or its number.
    pub state: String,
    /// The connection, frame and EventReasonCode of the message that reported the state.
    pub conn: u32,
    pub start_frame: u64,
    pub start_ts: TimestampNs,
    pub reason_code: Option<u32>,
    pub end_frame: Option<u64>,
    pub end_ts: TimestampNs,
    /// The next state was reported (false: the capture ended in this state).
    pub ended: bool,
}

impl StateInterval {
    pub fn duration_ns(&self) -> i64 {
        (self.end_ts - self.start_ts).max(0)
    }
}
