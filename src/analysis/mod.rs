//! Capture analysis: sessions, invoke/confirm matching, configuration acquisition, calls,
//! monitors and agents, and the findings where a capture departs from the protocol.
//!
//! An [`Analyzer`] consumes the pipeline's [`Event`](crate::pipeline::Event)s one at a time,
//! each message with its decoded form from the decode stage ([`crate::stage`]; the analysis
//! never decodes), and produces a [`Report`] at [`Analyzer::finish`]: plain data, which
//! the `render::report` module prints. State is bounded: a request leaves the live table when
//! it is answered, a call when it ends; the summaries kept for `stats` and `timeline` are
//! capped by [`Settings`], and reaching a cap is reported once (rule `analysis-limit`).
//!
//! Rules never claim a violation that a gap or a mid-stream start could explain: a confirm
//! whose request was not captured is a note, a call event for a call whose BEGIN_CALL_EVENT
//! was not seen is accepted on such a connection, and so on.
//!
//! Messages, fields and values are named by the spec's constants
//! ([`MessageType`](crate::cti::spec::MessageType), [`field`](crate::cti::spec::fields::field),
//! [`values`](crate::cti::spec::values)); fields are read with
//! [`Decoded::fixed`](crate::cti::decode::Decoded::fixed) and
//! [`Decoded::get`](crate::cti::decode::Decoded::get).
//!
//! The modules, each importing only those listed before it:
//!
//! - [`rules`](mod@rules): every rule (id, severity, description, reference);
//! - [`coverage`]: every normative statement of the guide's "Application Level Interfaces"
//!   chapter with the rule that checks it or the reason none can (`spec/coverage.tsv`);
//! - `settings`: limits and options ([`Settings`], [`TimelineFilter`]);
//! - `types`: the data handed out (summaries, latency, timeline entries);
//! - `findings`: [`Finding`]s, counted per rule and listed up to a cap;
//! - `stats`: counters (messages, latency, failures, ended connections);
//! - `state`: one connection's session as the other modules share it, and the findings
//!   whose verdict waits on a loss;
//! - `session`: open and close, idle timeout, standby, one-direction captures, monitors;
//! - `invoke`: requests matched to their confirms, timeouts;
//! - `config`: configuration acquisition;
//! - `callstate`: the state of each call connection a session's events establish, kept
//!   with the call in `calls`' table;
//! - `calls`: calls from BEGIN_CALL_EVENT to END_CALL_EVENT;
//! - `services`: the services of requests and events, the event masks in force, the
//!   fields required of some sessions, and sentinels;
//! - `agents`: agent states and requests;
//! - `preconditions`: what call-control requests presume of the calls' states (from the
//!   session's events), pre-call aborts, service registrations, monitors across a
//!   reconnect and the reason codes agent desk settings require;
//! - `timeline`: the messages and findings a filter selects;
//! - [`report`]: the [`Report`], built at the end;
//! - `analyzer`: the [`Analyzer`], which hands each event to the modules above;
//! - [`record`]: rows closed as the analysis goes (requests with their answers, agent state
//!   intervals), for tables, when [`Analyzer::record`] asks for them.

mod agents;
mod analyzer;
mod calls;
mod callstate;
mod config;
pub mod coverage;
pub mod findings;
pub mod identity;
mod invoke;
mod links;
mod preconditions;
pub mod record;
pub mod report;
pub mod rules;
mod services;
mod session;
mod settings;
mod state;
mod stats;
mod timeline;
mod types;

#[cfg(test)]
mod tests;

pub use analyzer::Analyzer;
pub use findings::{Cause, Finding, Group, Subject, MAX_GROUP_IDS};
pub use record::{Outcome, Record, RequestRecord, StateInterval};
pub use report::{
    AgentSummary, Answered, CallSummary, ConnSummary, FrameSet, LatencyStats, MessageDetail, Report,
    TimelineEntry, TimelineWhat,
};
pub use rules::{rule, rules, Rule, Severity};
pub use settings::{Settings, TimelineFilter};
pub use stats::Released;
