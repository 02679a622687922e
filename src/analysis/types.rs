//! The data the analysis hands out (connection, call and agent summaries, latency
//! statistics, timeline entries), shared by the modules that build it. Plain data: the
//! renderers (the `render::report` module) print it.

pub use super::agents::RequestCounts;
use super::rules::Severity;
use crate::cti::decode::Field;
use crate::cti::spec::FieldId;
use crate::pipeline::Direction;
use crate::TimestampNs;
use std::collections::BTreeMap;

/// JSON schema version of the analysis output.
pub const SCHEMA: u32 = 1;

/// One connection.
#[derive(Debug, Clone)]
pub struct ConnSummary {
    pub conn: u32,
    pub client: Option<String>,
    pub server: Option<String>,
    pub midstream: bool,
    pub first_frame: u64,
    pub first_ts: TimestampNs,
    pub last_ts: TimestampNs,
    pub end: &'static str,
    /// Who sent the RST or the first FIN: `client` or `server`.
    pub end_by: Option<&'static str>,
    /// The frame at which it ended (the last of the capture if it did not).
    pub end_frame: u64,
    /// It carried CTI (a message, or bytes lost in a gap); else it was an attempt: refused or
    /// closed without data.
    pub cti: bool,
    pub open: &'static str,
    pub version: Option<u32>,
    pub client_id: Option<String>,
    /// The session's agent (a desktop's AgentID, else its extension or instrument).
    pub agent_id: Option<String>,
    pub extension: Option<String>,
    pub instrument: Option<String>,
    /// The session serves one agent.
    pub desktop: bool,
    /// The lost session of the same client this one reopened, and the time between them.
    pub follows: Option<(u32, i64)>,
    pub heartbeats_unanswered: u32,
    pub services_granted: Option<u32>,
    pub session_type: Option<u64>,
    /// Messages and bytes per direction (client->server, server->client).
    pub messages: [u64; 2],
    pub bytes: [u64; 2],
    pub lost: bool,
}

/// One call.
#[derive(Debug, Clone)]
pub struct CallSummary {
    pub seq: u64,
    /// The connection whose view of the call this summary keeps (the one with the most
    /// events), and every connection that reported the call.
    pub conn: u32,
    pub conns: Vec<u32>,
    pub peripheral: u32,
    pub call_ids: Vec<u32>,
    pub device_type: u16,
    pub device: String,
    pub begin_seen: bool,
    pub ended: bool,
    pub first_frame: u64,
    pub first_ts: TimestampNs,
    pub last_ts: TimestampNs,
    /// Delivered to established.
    pub ring_ns: Option<i64>,
    /// Established to cleared (or the end), hold excluded.
    pub talk_ns: Option<i64>,
    pub hold_ns: i64,
    pub events: Vec<(TimestampNs, u64, &'static str)>,
    pub events_dropped: u64,
    /// Call variables and ECC variables, last value.
    pub vars: BTreeMap<String, String>,
    /// SET_CALL_DATA_REQ was sent for the call.
    pub data_set: bool,
}

/// One agent.
#[derive(Debug, Clone)]
pub struct AgentSummary {
    pub id: String,
    pub peripheral: Option<u32>,
    pub extension: Option<String>,
    pub instrument: Option<String>,
    pub conns: Vec<u32>,
    pub states: Vec<(TimestampNs, u64, u32, String)>,
    pub states_dropped: u64,
    pub time_in_state: BTreeMap<String, i64>,
    pub skill_groups: Vec<u32>,
    pub requests: BTreeMap<&'static str, RequestCounts>,
    /// The last state learnt (AGENT_STATE_EVENT, QUERY_AGENT_STATE_CONF, AGENT_TEAM_CONFIG_EVENT).
    pub final_state: Option<String>,
}

/// Latency of one request type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyStats {
    pub count: u64,
    pub p50_ns: i64,
    pub p90_ns: i64,
    pub p99_ns: i64,
    pub max_ns: i64,
    /// Every latency counted in log-scale bins (five per decade from 1 µs): the non-empty
    /// bins, each `(from_ns, to_ns, count)` for latencies in `[from_ns, to_ns)`.
    pub histogram: Vec<(i64, i64, u64)>,
}

/// One line of the timeline.
#[derive(Debug, Clone)]
pub struct TimelineEntry {
    pub ts_ns: TimestampNs,
    pub frame: u64,
    pub conn: Option<u32>,
    pub direction: Option<&'static str>,
    pub what: TimelineWhat,
    pub call: Option<u32>,
    pub agent: Option<String>,
    pub invoke: Option<u32>,
    /// Position in the capture's event order.
    pub(crate) seq: u64,
}

/// What a timeline line is about.
#[derive(Debug, Clone)]
pub enum TimelineWhat {
    /// A message (its type name) and what it says.
    Message { name: &'static str, detail: MessageDetail },
    /// A finding.
    Finding { rule: &'static str, severity: Severity, message: String },
    /// A connection's start or end, in words.
    Connection { start: bool, detail: String },
}

/// What a timeline line shows of a message: the fields of [`DETAIL_FIELDS`] it carries,
/// and the request it answers.
#[derive(Debug, Clone)]
pub struct MessageDetail {
    /// The message's bytes, as far as the fields below reach: their values point into it.
    pub bytes: Box<[u8]>,
    /// The fields, in [`DETAIL_FIELDS`] order.
    pub fields: Vec<Field>,
    pub answers: Option<Answered>,
}

/// The request a confirm answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The request's type name.
    pub request: &'static str,
    /// Its frame.
    pub frame: u64,
    /// Request to confirm.
    pub latency_ns: i64,
}

/// Fields worth a timeline line, when present, in this order.
pub const DETAIL_FIELDS: &[FieldId] = {
    use crate::cti::spec::fields::field;
    &[
        field::InvokeID,
        field::ConnectionCallID,
        field::NewConnectionCallID,
        field::PrimaryCallID,
        field::SecondaryCallID,
        field::ConnectionDeviceID,
        field::AgentID,
        field::AgentExtension,
        field::AgentState,
        field::EventCause,
        field::Status,
        field::FailureCode,
        field::MonitorID,
        field::ConfigEndStatus,
    ]
};

/// Direction index: 0 client->server, 1 server->client.
#[inline]
pub(crate) fn dir_index(d: Direction) -> usize {
    match d {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}
