//! What the generator can be told: the session mix, protocol version, link layer and
//! capture format, the faults to inject and when to stop; and the parsers of the command
//! line's sizes and start times.

use crate::capture::build::Link;
use crate::cti::spec::{self, FieldId, MessageType};

/// Capture file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

/// Fault rates (probabilities per segment or per message) and flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Data segment not captured (the peer still acknowledges it).
    pub lost: f64,
    /// Two adjacent data segments of one direction written in swapped order.
    pub reorder: f64,
    /// A data segment captured again later, identical.
    pub retransmit: f64,
    /// A data segment captured again later with different bytes.
    pub diverge: f64,
    /// The capture starts after the handshake and OPEN exchange of some connections.
    pub midstream: bool,
    /// The file ends inside a packet record.
    pub truncate: bool,
    /// A request (other than OPEN_REQ and CLOSE_REQ) whose confirm is never sent.
    pub unanswered: f64,
    /// A call event sent after the call's END_CALL_EVENT (per call).
    pub after_end: f64,
    /// A floating string longer than its maximum (per call, in BEGIN_CALL_EVENT).
    pub oversize: f64,
    /// NumNamedVariables disagreeing with the NAMEDVARs present (per call, in
    /// CALL_DATA_UPDATE_EVENT).
    pub bad_count: f64,
    /// A floating field left out of every message that carries it.
    pub drop_field: Option<DropField>,
}

/// The `drop-field` fault: a floating field that is never sent, as by an implementation
/// that does not know it. Every message whose layout carries the field loses each
/// occurrence of it, and its MessageLength shrinks accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropField {
    /// The field, by its dictionary id.
    pub field: FieldId,
    /// Only messages of this type; `None`: every message type.
    pub message: Option<MessageType>,
}

impl DropField {
    /// Parses `FIELD` or `MESSAGE.FIELD` (`Direction`, `AGENT_STATE_EVENT.Direction`): the
    /// field must be a floating field of the dictionary, of that message when one is named.
    pub fn parse(s: &str) -> Result<DropField, String> {
        let s = s.trim();
        let (message, name) = match s.split_once('.') {
            Some((m, f)) => (Some(m.trim()), f.trim()),
            None => (None, s),
        };
        if name.is_empty() {
            return Err("fault drop-field needs a field: drop-field=Direction or drop-field=AGENT_STATE_EVENT.Direction".into());
        }
        let field = spec::field_id(name).ok_or_else(|| {
            let close = spec::fields::BY_NAME.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
            match close {
                Some((n, _)) => format!("fault drop-field: no field {name:?} in the field dictionary (did you mean {n}?)"),
                None => format!(
                    "fault drop-field: no field {name:?} in the field dictionary (field names are spelt as in the guide: Direction, AgentID, CallVariable1, ...)"
                ),
            }
        })?;
        let floats = |m: &spec::MessageSpec| m.floating.iter().any(|f| f.id == field && f.tag.is_some());
        let message = match message {
            Some(m) => {
                let ms = spec::message_by_name(m).ok_or_else(|| {
                    format!(
                        "fault drop-field: no message {m:?} (message names as `ctiscope spec` lists them)"
                    )
                })?;
                if !floats(ms) {
                    return Err(format!(
                        "fault drop-field: {name} is not a floating field of {} (`ctiscope spec {}` lists its fields)",
                        ms.name, ms.name
                    ));
                }
                Some(ms.id)
            }
            None => {
                if !spec::messages().iter().any(floats) {
                    return Err(format!(
                        "fault drop-field: {name} is not a floating field of any message (fixed fields cannot be left out)"
                    ));
                }
                None
            }
        };
        Ok(DropField { field, message })
    }

    /// Does this fault apply to messages of layout `m`?
    pub fn applies_to(&self, m: &spec::MessageSpec) -> bool {
        self.message.is_none_or(|t| t == m.id)
    }

    /// The field's name.
    pub fn field_name(&self) -> &'static str {
        self.field.name()
    }

    /// The message's name, when the fault names one.
    pub fn message_name(&self) -> Option<&'static str> {
        self.message.and_then(|t| spec::message(t.0, None)).map(|m| m.name)
    }

    /// The truth line: which field, in which message, and how many messages lost it.
    pub fn truth_line(&self, messages: u64) -> String {
        let message = match self.message_name() {
            Some(m) => format!("\"{m}\""),
            None => "null".to_string(),
        };
        format!(
            "{{\"kind\":\"drop-field\",\"fault\":\"drop-field\",\"field\":\"{}\",\"message\":{message},\"messages\":{messages}}}",
            self.field_name()
        )
    }
}

impl Faults {
    /// Parses `lost=0.01,reorder=0.01,midstream,...`.
    pub fn parse(s: &str) -> Result<Faults, String> {
        let mut f = Faults::default();
        for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (item, None),
            };
            let rate = |v: Option<&str>| -> Result<f64, String> {
                let v = v.ok_or_else(|| format!("fault {name} needs a rate: {name}=0.01"))?;
                let r: f64 = v.parse().map_err(|_| format!("fault {name}: {v:?} is not a number"))?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(format!("fault {name}: rate {r} is not between 0 and 1"));
                }
                Ok(r)
            };
            let flag = |v: Option<&str>| -> Result<bool, String> {
                match v {
                    None | Some("1") | Some("true") | Some("yes") => Ok(true),
                    Some("0") | Some("false") | Some("no") => Ok(false),
                    Some(x) => Err(format!("fault {name}: {x:?} is not a flag value")),
                }
            };
            match name {
                "lost" => f.lost = rate(value)?,
                "reorder" => f.reorder = rate(value)?,
                "retransmit" => f.retransmit = rate(value)?,
                "diverge" => f.diverge = rate(value)?,
                "midstream" => f.midstream = flag(value)?,
                "truncate" => f.truncate = flag(value)?,
                "unanswered" => f.unanswered = rate(value)?,
                "after-end" => f.after_end = rate(value)?,
                "oversize" => f.oversize = rate(value)?,
                "bad-count" => f.bad_count = rate(value)?,
                "drop-field" => {
                    if f.drop_field.is_some() {
                        return Err("fault drop-field: given twice (one field per run)".into());
                    }
                    let v = value.ok_or_else(|| {
                        "fault drop-field needs a field: drop-field=Direction or drop-field=AGENT_STATE_EVENT.Direction"
                            .to_string()
                    })?;
                    f.drop_field = Some(DropField::parse(v)?);
                }
                _ => {
                    return Err(format!(
                        "unknown fault {name:?} (known: lost, reorder, retransmit, diverge, midstream, truncate, unanswered, after-end, oversize, bad-count, drop-field)"
                    ))
                }
            }
        }
        Ok(f)
    }
}

/// When generation stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// When every session has closed.
    Sessions,
    /// Once the capture holds at least this many bytes (sessions keep running meanwhile).
    Bytes(u64),
    /// Once this many messages have been written.
    Messages(u64),
}

/// Everything the generator can be told.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Agent desktop sessions (CLIENT_EVENTS | CLIENT_CONTROL | CALL_DATA_UPDATE), one per
    /// agent, for the first agents.
    pub desktops: u32,
    /// All Events sessions (CTI bridges).
    pub bridges: u32,
    /// Peripheral Monitor sessions, each monitoring a few agents' devices.
    pub monitors: u32,
    /// Agents taking calls (at least `desktops`); agents beyond the desktops are seen by
    /// bridges and monitors only.
    pub agents: u32,
    /// Calls each agent takes before logging out; `None` keeps taking calls until the
    /// duration ends or the limit is reached.
    pub calls_per_agent: Option<u32>,
    /// Seconds of traffic; call durations are compressed to fit.
    pub duration_s: f64,
    pub version: u32,
    pub server_port: u16,
    pub link: Link,
    pub ipv6: bool,
    pub format: Format,
    pub faults: Faults,
    pub limit: Limit,
    /// Capture start, nanoseconds since the epoch.
    pub start_ns: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            desktops: 3,
            bridges: 1,
            monitors: 1,
            agents: 3,
            calls_per_agent: Some(4),
            duration_s: 600.0,
            version: 24,
            server_port: 42027,
            link: Link::Ethernet,
            ipv6: false,
            format: Format::Pcap,
            faults: Faults::default(),
            limit: Limit::Sessions,
            start_ns: DEFAULT_START_NS,
        }
    }
}

/// 2026-01-05T09:00:00Z.
pub const DEFAULT_START_NS: i64 = 1_767_603_600 * 1_000_000_000;

/// Parses a size: a number with an optional K, M, G or T suffix (powers of 1024; a
/// trailing B or iB is allowed).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("{s:?} is not a size (examples: 500K, 200M, 1G)"))?;
    if n < 0.0 || !n.is_finite() {
        return Err(format!("{s:?} is not a size"));
    }
    Ok((n * mult as f64) as u64)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC) into nanoseconds since the epoch (see
/// [`crate::time::parse_utc`]).
pub fn parse_start(s: &str) -> Result<i64, String> {
    crate::time::parse_utc(s)
}
