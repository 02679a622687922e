//! Synthetic CTI Server traffic: a deterministic simulation of a contact center's CTI
//! clients (agent desktops, All Events bridges, Peripheral Monitor clients) talking to one
//! CTI Server, written as a pcap or pcapng capture.
//!
//! The simulation follows the guide's session and call flows: TCP handshake, OPEN_REQ /
//! OPEN_CONF, configuration acquisition for bridges, agent login and state changes through
//! SET_AGENT_STATE_REQ and AGENT_STATE_EVENT, inbound calls from BEGIN_CALL_EVENT to
//! END_CALL_EVENT with answer, hold, consultation, transfer and conference, call data
//! updates, heartbeats, SYSTEM_EVENTs, and CLOSE_REQ / CLOSE_CONF with a FIN teardown.
//!
//! Each application message is one write; the sending TCP stack coalesces the writes of a
//! short interval into segments of at most one MSS, so segments carry several messages and
//! messages span segments. The receiving side acknowledges with pure ACKs when it has no
//! data to piggyback them on.
//!
//! Faults can be injected at the TCP level (lost, reordered, retransmitted and divergent
//! segments, a capture starting mid-stream, a truncated file) and at the protocol level
//! (unanswered requests, call events after END_CALL_EVENT, oversize strings, wrong count
//! fields, a floating field never sent). Each injected fault is one JSON line of the truth file; every message written
//! is one JSON line of the message truth file.
//!
//! Generation streams: memory depends on the number of connections and agents, not on the
//! size of the capture.
//!
//! The modules, bottom up: each uses only those listed before it.
//!
//! - `config`: what the generator is told ([`Config`], [`Faults`], [`Limit`], [`Format`]);
//! - [`rng`]: the deterministic random stream;
//! - [`msgs`]: every message the sessions exchange, built from the spec tables;
//! - `strip`: the drop-field fault, a floating field cut out of a built message;
//! - `wire`: segments to pcap or pcapng records;
//! - `queue`: the clock, the event queue and the pace of human durations;
//! - `truth`: the truth files (faults, messages);
//! - `center`: the contact center's data (agents, skill groups, dialed numbers, callers);
//! - `tcp`: both TCP stacks of every connection, and the TCP faults;
//! - `session`: CTI sessions (OPEN, configuration, monitors, heartbeats, CLOSE);
//! - `agent`: agents and their calls, and the call-level protocol faults;
//! - `engine`: the driver that sets everything up and runs the queue;
//! - `script`: hand-placed packets of TCP connections at chosen times, merged into one
//!   capture with their frame and connection numbers;
//! - [`scenario`]: scripted session stories (failover, refused connections, requests left
//!   pending, a late confirm) with a truth file of what an analysis must find.

mod agent;
mod center;
mod config;
mod engine;
pub mod msgs;
mod queue;
pub mod rng;
pub mod scenario;
mod script;
mod session;
mod strip;
mod tcp;
mod truth;
mod wire;

#[cfg(test)]
mod tests;

pub use config::{parse_size, parse_start, Config, DropField, Faults, Format, Limit, DEFAULT_START_NS};
pub use engine::{generate, messages, Summary};
pub use rng::Rng;
pub use scenario::{write_scenario, Scenario, ScenarioConfig, ScenarioSummary};
pub use truth::GeneratedMessage;
