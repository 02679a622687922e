//! The tables `export` writes, column by column (`docs/export.md` documents the same, and a
//! test checks that it names every column).

use super::table::{Column, Kind, TableDef};

/// Version of the tables' layout, recorded in the manifest; it changes when a column is
/// removed or changes meaning (a column added at the end does not change it).
pub const SCHEMA_VERSION: u32 = 1;

const fn c(name: &'static str, kind: Kind, required: bool, doc: &'static str) -> Column {
    Column { name, kind, required, doc }
}

use Kind::{Bool, Int, Text, Time};

pub static MESSAGES: TableDef = TableDef {
    name: "messages",
    doc: "One row per CTI message (restricted by `-Y FILTER` when given).",
    columns: &[
        c("frame", Int, true, "capture frame number of the packet that completed the message"),
        c("first_frame", Int, true, "frame of the message's first byte"),
        c("time", Time, true, "capture time of the message (microseconds, UTC)"),
        c("time_ns", Int, true, "capture time, nanoseconds since 1970-01-01 UTC (exact)"),
        c("connection", Int, true, "connection number within the capture"),
        c("client", Text, true, "client endpoint, address:port"),
        c("server", Text, true, "server endpoint, address:port"),
        c("direction", Text, true, "`client->server` or `server->client`"),
        c("stream_offset", Int, true, "offset of the message in its direction's byte stream"),
        c("type", Text, false, "message type name (null when the MessageType is unknown)"),
        c("type_id", Int, true, "MessageType number"),
        c("protocol_version", Int, true, "protocol version the message was decoded with"),
        c("version_source", Text, true, "where the version came from: seen, inferred, assumed, forced"),
        c("length", Int, true, "MessageLength (body bytes)"),
        c("anomalies", Text, false, "decode anomalies: JSON array of their codes (null when none)"),
        c("invoke_id", Int, false, "InvokeID"),
        c("peripheral_id", Int, false, "PeripheralID"),
        c("connection_call_id", Int, false, "ConnectionCallID"),
        c("connection_device_id", Text, false, "ConnectionDeviceID"),
        c("agent_id", Text, false, "AgentID"),
        c("agent_extension", Text, false, "AgentExtension"),
        c("agent_instrument", Text, false, "AgentInstrument"),
        c("agent_state", Text, false, "AgentState, by its name (AGENT_STATE_...), else its number"),
        c("monitor_id", Int, false, "MonitorID"),
        c("status", Text, false, "Status, by its name (E_CTI_...), else its number"),
        c("fields", Text, true, "every field of the message: one JSON object, by field name"),
    ],
    plain: &["fields", "time", "time_ns", "frame", "first_frame", "stream_offset"],
    // Statistics are kept where a query prunes row groups: times, numbers, type, agent_id.
    no_statistics: &[
        "fields",
        "anomalies",
        "client",
        "server",
        "direction",
        "version_source",
        "connection_device_id",
        "agent_extension",
        "agent_instrument",
        "agent_state",
        "status",
    ],
};

pub static REQUESTS: TableDef = TableDef {
    name: "requests",
    doc: "One row per request, with the confirm, FAILURE_CONF or CONTROL_FAILURE_CONF that answered it (matched by InvokeID as `check` and `stats` match them), or none.",
    columns: &[
        c("connection", Int, true, "connection number"),
        c("invoke_id", Int, false, "InvokeID (null for a configuration request, answered without one)"),
        c("request", Text, true, "request type name"),
        c("request_frame", Int, true, "frame of the request"),
        c("request_time", Time, true, "time of the request"),
        c("request_time_ns", Int, true, "time of the request, nanoseconds"),
        c("reply", Text, false, "type name of the answer (null: unanswered)"),
        c("reply_frame", Int, false, "frame of the answer"),
        c("reply_time", Time, false, "time of the answer"),
        c("reply_time_ns", Int, false, "time of the answer, nanoseconds"),
        c("latency_ns", Int, false, "request to answer, nanoseconds"),
        c("status", Text, true, "`ok` (its own confirm), `failed` (a failure or another confirm) or `unanswered`"),
        c("failure_code", Text, false, "Status of a FAILURE_CONF or FailureCode of a CONTROL_FAILURE_CONF, by name"),
        c("agent_id", Text, false, "the agent the request was for (its AgentID, else the desktop session's agent)"),
        c("peripheral_id", Int, false, "PeripheralID of the request"),
        c("call_id", Int, false, "call id the request named"),
        c("monitor_id", Int, false, "MonitorID of the request"),
    ],
    plain: &[],
    no_statistics: &[],
};

pub static FINDINGS: TableDef = TableDef {
    name: "findings",
    doc: "One row per finding, as `check --all -T jsonl` lists them (up to `--max-findings-per-rule` per rule).",
    columns: &[
        c("rule", Text, true, "rule id (`ctiscope rules`)"),
        c("severity", Text, true, "note, warning or error"),
        c("connection", Int, false, "connection number"),
        c("frame", Int, false, "first frame involved"),
        c("frames", Text, true, "every frame involved: JSON array"),
        c("time", Time, true, "time of the finding"),
        c("time_ns", Int, true, "time of the finding, nanoseconds"),
        c("message", Text, true, "the finding in words"),
        c("cause", Text, true, "its cause (the row of `check` it belongs to)"),
        c("reference", Text, true, "where the rule comes from"),
        c("message_type", Text, false, "message type the finding is about"),
        c("field", Text, false, "field, for a decode anomaly"),
        c("invoke_id", Int, false, "InvokeID"),
        c("request", Text, false, "request of an invoke"),
        c("confirm", Text, false, "confirm of an invoke"),
        c("agent_id", Text, false, "AgentID"),
        c("agent_extension", Text, false, "extension"),
        c("agent_instrument", Text, false, "instrument"),
        c("peripheral_id", Int, false, "PeripheralID"),
        c("call_id", Int, false, "ConnectionCallID"),
        c("device", Text, false, "ConnectionDeviceID of the call"),
        c("latency_ns", Int, false, "request to confirm (or to the end, for one never answered)"),
        c("client", Text, false, "client endpoint"),
        c("server", Text, false, "server endpoint"),
        c("client_id", Text, false, "ClientID of the session"),
    ],
    plain: &[],
    no_statistics: &[],
};

pub static SESSIONS: TableDef = TableDef {
    name: "sessions",
    doc: "One row per TCP connection to a CTI server (as `stats` lists them).",
    columns: &[
        c("connection", Int, true, "connection number"),
        c("client", Text, false, "client endpoint"),
        c("server", Text, false, "server endpoint"),
        c("start_time", Time, true, "first packet"),
        c("end_time", Time, true, "last packet"),
        c("duration_ns", Int, true, "end_time - start_time, nanoseconds"),
        c("first_frame", Int, true, "first frame"),
        c("end_frame", Int, true, "frame at which it ended (the capture's last if it did not)"),
        c("midstream", Bool, true, "the capture started after the connection"),
        c("cti", Bool, true, "it carried CTI (else an attempt refused or closed without data)"),
        c("open", Text, true, "how the session opened"),
        c("end", Text, true, "how it ended"),
        c("end_by", Text, false, "who closed or reset: client or server"),
        c("protocol_version", Int, false, "VersionNumber of OPEN_REQ"),
        c("client_id", Text, false, "ClientID"),
        c("agent_id", Text, false, "the session's agent (desktop sessions)"),
        c("agent_extension", Text, false, "its extension"),
        c("agent_instrument", Text, false, "its instrument"),
        c("desktop", Bool, true, "the session serves one agent"),
        c("follows_connection", Int, false, "the lost session of the same client this one reopened"),
        c("follows_after_ns", Int, false, "time between that session's end and this one"),
        c("heartbeats_unanswered", Int, true, "HEARTBEAT_REQs never answered"),
        c("services_granted", Int, false, "ServicesGranted of OPEN_CONF"),
        c("messages_to_server", Int, true, "client->server messages"),
        c("messages_to_client", Int, true, "server->client messages"),
        c("bytes_to_server", Int, true, "client->server message bytes"),
        c("bytes_to_client", Int, true, "server->client message bytes"),
        c("lost", Bool, true, "bytes of it were not captured"),
    ],
    plain: &[],
    no_statistics: &[],
};

pub static CALLS: TableDef = TableDef {
    name: "calls",
    doc: "One row per call, its views on several connections merged as `stats` merges them. Calls are written as the capture is read, once no call still live can join them, so there is no limit on their number.",
    columns: &[
        c("call", Int, true, "call number within the capture"),
        c("connection", Int, true, "the connection whose view of the call is kept (most events)"),
        c("connections", Text, true, "every connection that reported the call: JSON array"),
        c("peripheral_id", Int, true, "PeripheralID"),
        c("connection_call_id", Int, true, "first ConnectionCallID"),
        c("call_ids", Text, true, "every ConnectionCallID it had: JSON array"),
        c("device_type", Int, true, "ConnectionDeviceIDType"),
        c("device", Text, true, "ConnectionDeviceID"),
        c("begin_seen", Bool, true, "its BEGIN_CALL_EVENT was captured"),
        c("ended", Bool, true, "its END_CALL_EVENT was captured"),
        c("first_frame", Int, true, "first frame"),
        c("start_time", Time, true, "first event"),
        c("end_time", Time, true, "last event"),
        c("duration_ns", Int, true, "end_time - start_time, nanoseconds"),
        c("delivered_time", Time, false, "first CALL_DELIVERED_EVENT"),
        c("established_time", Time, false, "first CALL_ESTABLISHED_EVENT"),
        c("cleared_time", Time, false, "first CALL_CLEARED_EVENT"),
        c("end_call_time", Time, false, "END_CALL_EVENT"),
        c("ring_ns", Int, false, "delivered to established, nanoseconds"),
        c("talk_ns", Int, false, "established to cleared (or the end), hold excluded"),
        c("hold_ns", Int, true, "time on hold"),
        c("events", Text, true, "its events: JSON array of {time_ns, frame, event} (up to 64)"),
        c("events_dropped", Int, true, "events beyond those kept"),
        c("variables", Text, true, "call and ECC variables, last value: JSON object"),
        c("data_set", Bool, true, "SET_CALL_DATA_REQ was sent for it"),
    ],
    plain: &[],
    no_statistics: &[],
};

pub static AGENT_STATES: TableDef = TableDef {
    name: "agent_states",
    doc: "One row per interval an agent spent in one state, from the message that reported the state to the one that reported the next (or the end of the capture).",
    columns: &[
        c("agent_id", Text, true, "AgentID (`ext:N` for an agent known only by extension)"),
        c("peripheral_id", Int, false, "PeripheralID"),
        c("state", Text, true, "AgentState by name (AGENT_STATE_...), else its number"),
        c("start_time", Time, true, "the state was reported"),
        c("start_time_ns", Int, true, "start, nanoseconds"),
        c("end_time", Time, true, "the next state was reported, or the capture ended"),
        c("end_time_ns", Int, true, "end, nanoseconds"),
        c("duration_ns", Int, true, "end - start, nanoseconds"),
        c("ended", Bool, true, "a next state was reported (false: the capture ended in this one)"),
        c("reason_code", Int, false, "EventReasonCode of the AGENT_STATE_EVENT that reported it"),
        c("connection", Int, true, "connection of that message"),
        c("start_frame", Int, true, "its frame"),
        c("end_frame", Int, false, "frame of the message that reported the next state"),
    ],
    plain: &[],
    no_statistics: &[],
};

pub static GAPS: TableDef = TableDef {
    name: "gaps",
    doc: "One row per hole in a TCP byte stream: bytes never captured.",
    columns: &[
        c("connection", Int, true, "connection number"),
        c("direction", Text, true, "`client->server` or `server->client`"),
        c("frame", Int, true, "frame at which the hole was declared"),
        c("time", Time, true, "its time"),
        c("time_ns", Int, true, "its time, nanoseconds"),
        c("stream_offset", Int, true, "offset of the hole in the byte stream"),
        c("bytes", Int, true, "bytes missing"),
        c("reason", Text, true, "buffer_limit, acked_past_hole, connection_end or snaplen"),
    ],
    plain: &[],
    no_statistics: &[],
};

/// Every table, in the order of `docs/export.md`.
pub static TABLES: [&TableDef; 7] =
    [&MESSAGES, &REQUESTS, &FINDINGS, &SESSIONS, &CALLS, &AGENT_STATES, &GAPS];
