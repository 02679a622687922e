//! Calls (followed through CALL_DATA_UPDATE_EVENT's new identifiers), monitors and agents.

use super::report::CallSummary;
use super::session::{Pending, SERVICE_PERIPHERAL_MONITOR};
use super::{fixed_num, num, text, Analyzer};
use crate::cti::decode::{range_str, Decoded, Value};
use crate::cti::framing::Frame;
use crate::cti::spec::{values, Role};
use crate::net::tcp::ConnId;
use crate::pipeline::{Direction, Flow};
use crate::TimestampNs;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

const BEGIN_CALL_EVENT: u32 = 23;
const END_CALL_EVENT: u32 = 24;
const CALL_DATA_UPDATE_EVENT: u32 = 25;
const SET_CALL_DATA_REQ: u32 = 26;
const CALL_DELIVERED_EVENT: u32 = 9;
const CALL_ESTABLISHED_EVENT: u32 = 10;
const CALL_HELD_EVENT: u32 = 11;
const CALL_RETRIEVED_EVENT: u32 = 12;
const CALL_CLEARED_EVENT: u32 = 13;
const CALL_CONNECTION_CLEARED_EVENT: u32 = 14;
const AGENT_STATE_EVENT: u32 = 30;
const QUERY_AGENT_STATE_REQ: u32 = 36;
const SET_AGENT_STATE_REQ: u32 = 38;
/// CallMsgMask bit asking for BEGIN_CALL_EVENT.
const BEGIN_CALL_MASK: u32 = 0x2000;
/// EventCause of the call-state rebuild after an active/standby switchover.
const CEC_CALL_PARTY_UPDATE_IND: u64 = 50;
const NULL_ID: u64 = 0xFFFF_FFFF;

/// The guide's call identification: PeripheralID, ConnectionCallID, ConnectionDeviceIDType,
/// ConnectionDeviceID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CallKey {
    pub peripheral: u32,
    pub call_id: u32,
    pub dev_type: u16,
    pub device: String,
}

impl std::fmt::Display for CallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "call {} on {} (type {}, peripheral {})",
            self.call_id, self.device, self.dev_type, self.peripheral
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub seq: u64,
    pub key: CallKey,
    /// Every ConnectionCallID the call had.
    pub ids: Vec<u32>,
    pub begin_frame: Option<u64>,
    pub first_frame: u64,
    pub first_ts: TimestampNs,
    pub last_ts: TimestampNs,
    pub events: Vec<(TimestampNs, u64, &'static str)>,
    pub events_dropped: u64,
    pub vars: BTreeMap<String, String>,
    pub data_set: bool,
    pub delivered: Option<TimestampNs>,
    pub established: Option<TimestampNs>,
    pub held_since: Option<TimestampNs>,
    pub hold_ns: i64,
    pub cleared: Option<TimestampNs>,
    pub end_frame: Option<u64>,
}

/// Live calls of one connection, and the calls it ended recently.
#[derive(Debug, Default)]
pub(crate) struct ConnCalls {
    pub live: BTreeMap<CallKey, Call>,
    pub ended: BTreeSet<CallKey>,
    pub ended_order: VecDeque<CallKey>,
    pub monitors_reported: BTreeSet<u32>,
}

/// Finished-call summaries.
#[derive(Debug, Default)]
pub(crate) struct CallTables {
    pub next_seq: u64,
    pub done: Vec<CallSummary>,
    pub dropped: u64,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub id: String,
    pub peripheral: Option<u32>,
    pub extension: Option<String>,
    pub instrument: Option<String>,
    pub conns: BTreeSet<ConnId>,
    pub states: Vec<(TimestampNs, u64, ConnId, String)>,
    pub states_dropped: u64,
    pub current: Option<(String, TimestampNs)>,
    pub time_in: BTreeMap<String, i64>,
    pub skill_groups: BTreeSet<u32>,
    /// Request name -> (answered positively, failed).
    pub requests: BTreeMap<&'static str, (u64, u64)>,
}

#[derive(Debug, Default)]
pub(crate) struct AgentTables {
    pub agents: BTreeMap<String, Agent>,
}

/// The call a message names: its ConnectionCallID, ConnectionDeviceIDType and
/// ConnectionDeviceID, or with `new` the NewConnection... ones of CALL_DATA_UPDATE_EVENT.
fn call_key(d: &Decoded, frame: &[u8], new: bool) -> Option<CallKey> {
    let (id, dev_type, device) = if new {
        ("NewConnectionCallID", "NewConnectionDeviceIDType", "NewConnectionDeviceID")
    } else {
        ("ConnectionCallID", "ConnectionDeviceIDType", "ConnectionDeviceID")
    };
    let call = fixed_num(d, id)?;
    if call == NULL_ID {
        return None;
    }
    Some(CallKey {
        peripheral: fixed_num(d, "PeripheralID").unwrap_or(NULL_ID) as u32,
        call_id: call as u32,
        dev_type: fixed_num(d, dev_type).unwrap_or(0xFFFF) as u16,
        device: text(d, frame, device).unwrap_or_default(),
    })
}

/// Call variables and ECC variables a message carries.
fn call_vars(d: &Decoded, frame: &[u8], out: &mut BTreeMap<String, String>) {
    for f in &d.fields {
        match f.value {
            Value::Text { .. } if f.name.starts_with("CallVariable") || f.name == "CallWrapupData" => {
                out.insert(f.name.to_string(), f.text(frame).unwrap_or_default().into_owned());
            }
            Value::NamedVar { name, value } => {
                out.insert(range_str(frame, name).into_owned(), range_str(frame, value).into_owned());
            }
            Value::NamedArray { index, name, value } => {
                out.insert(
                    format!("{}[{index}]", range_str(frame, name)),
                    range_str(frame, value).into_owned(),
                );
            }
            _ => {}
        }
    }
}

impl Call {
    fn new(seq: u64, key: CallKey, frame: u64, ts: TimestampNs) -> Self {
        Call {
            seq,
            ids: vec![key.call_id],
            key,
            begin_frame: None,
            first_frame: frame,
            first_ts: ts,
            last_ts: ts,
            events: Vec::new(),
            events_dropped: 0,
            vars: BTreeMap::new(),
            data_set: false,
            delivered: None,
            established: None,
            held_since: None,
            hold_ns: 0,
            cleared: None,
            end_frame: None,
        }
    }

    fn record(&mut self, id: u32, name: &'static str, frame: u64, ts: TimestampNs, cap: usize) {
        self.last_ts = self.last_ts.max(ts);
        if self.events.len() < cap {
            self.events.push((ts, frame, name));
        } else {
            self.events_dropped += 1;
        }
        match id {
            CALL_DELIVERED_EVENT => {
                self.delivered.get_or_insert(ts);
            }
            CALL_ESTABLISHED_EVENT => {
                self.established.get_or_insert(ts);
            }
            CALL_HELD_EVENT => {
                self.held_since.get_or_insert(ts);
            }
            CALL_RETRIEVED_EVENT => {
                if let Some(h) = self.held_since.take() {
                    self.hold_ns += ts - h;
                }
            }
            CALL_CLEARED_EVENT | CALL_CONNECTION_CLEARED_EVENT => {
                self.cleared.get_or_insert(ts);
            }
            _ => {}
        }
    }

    fn summary(mut self, conn: ConnId, end_ts: TimestampNs, ended: bool) -> CallSummary {
        if let Some(h) = self.held_since.take() {
            self.hold_ns += end_ts - h;
        }
        let stop = self.cleared.unwrap_or(end_ts);
        CallSummary {
            seq: self.seq,
            conn,
            peripheral: self.key.peripheral,
            call_ids: self.ids,
            device_type: self.key.dev_type,
            device: self.key.device,
            begin_seen: self.begin_frame.is_some(),
            ended,
            first_frame: self.first_frame,
            first_ts: self.first_ts,
            last_ts: self.last_ts.max(if ended { end_ts } else { self.last_ts }),
            ring_ns: match (self.delivered, self.established) {
                (Some(d), Some(e)) if e >= d => Some(e - d),
                _ => None,
            },
            talk_ns: self.established.map(|e| (stop - e - self.hold_ns).max(0)),
            hold_ns: self.hold_ns,
            events: self.events,
            events_dropped: self.events_dropped,
            vars: self.vars,
            data_set: self.data_set,
        }
    }
}

impl Analyzer {
    fn finish_call(&mut self, conn: ConnId, call: Call, end_ts: TimestampNs, ended: bool) {
        if !self.settings.call_summaries {
            return;
        }
        if self.calls.done.len() >= self.settings.max_calls {
            self.calls.dropped += 1;
            let fr = call.first_frame;
            self.findings.limit("max_calls", Some(conn), fr, end_ts);
            return;
        }
        let s = call.summary(conn, end_ts, ended);
        self.calls.done.push(s);
    }

    /// Calls still live when their connection ended.
    pub(crate) fn calls_conn_end(&mut self, conn: ConnId, calls: ConnCalls, ts: TimestampNs) {
        for (_, call) in calls.live {
            self.finish_call(conn, call, ts, false);
        }
    }

    /// The capture ended: close the agents' current states.
    pub(crate) fn calls_finish(&mut self) {
        let end = self.last_ts;
        for a in self.agents.agents.values_mut() {
            if let Some((s, since)) = a.current.take() {
                *a.time_in.entry(s).or_insert(0) += end - since;
            }
        }
    }

    /// Calls, monitors and agents for one message. Returns the call ids of the call the
    /// message belongs to.
    pub(crate) fn call_message(
        &mut self,
        flow: &Flow,
        frame: &Frame<'_>,
        d: &Decoded,
        id: u32,
        name: &'static str,
        matched: Option<&Pending>,
    ) -> Vec<u32> {
        let ts = frame.ts_ns;
        let fr = frame.last_frame;
        // Without summaries, calls are followed for the rules only.
        let cap_events = if self.settings.call_summaries { self.settings.max_events_per_call } else { 0 };
        let keep_vars = self.settings.call_summaries;
        let Some(c) = self.conns.get_mut(&flow.conn) else {
            return Vec::new();
        };
        let f = &mut self.findings;
        let spec = d.spec;
        let mut aliases = Vec::new();

        // Monitors.
        if flow.dir == Direction::ToClient && spec.is_some_and(|s| s.role == Role::Event) {
            if let Some(m) = fixed_num(d, "MonitorID") {
                let pm = c.services_granted.is_some_and(|s| s & SERVICE_PERIPHERAL_MONITOR != 0);
                if m != 0
                    && m != NULL_ID
                    && pm
                    && c.monitors_known
                    && c.complete(1)
                    && !c.monitors.contains(&(m as u32))
                    && c.calls.monitors_reported.insert(m as u32)
                {
                    f.push(
                        "monitor-unknown",
                        Some(flow.conn),
                        vec![fr],
                        ts,
                        format!("{name} names MonitorID {m}, which no OPEN_CONF or MONITOR_START_CONF created (or MONITOR_STOP_CONF ended)"),
                    );
                }
            }
        }

        // Agents.
        if id == AGENT_STATE_EVENT && flow.dir == Direction::ToClient {
            let agent_id = text(d, frame.bytes, "AgentID")
                .filter(|s| !s.is_empty())
                .or_else(|| c.agent_id.clone())
                .or_else(|| {
                    text(d, frame.bytes, "AgentExtension")
                        .or_else(|| c.agent_extension.clone())
                        .map(|e| format!("ext:{e}"))
                });
            if let Some(aid) = agent_id {
                let state = num(d, "AgentState").map_or("?".to_string(), |v| {
                    values::AGENT_STATE
                        .name_of(v as u32)
                        .map_or(v.to_string(), |n| n.strip_prefix("AGENT_STATE_").unwrap_or(n).to_string())
                });
                let n_agents = self.agents.agents.len();
                if !self.agents.agents.contains_key(&aid) && n_agents >= self.settings.max_agents {
                    f.limit("max_agents", Some(flow.conn), fr, ts);
                } else {
                    let a = self.agents.agents.entry(aid.clone()).or_insert_with(|| Agent {
                        id: aid,
                        peripheral: None,
                        extension: None,
                        instrument: None,
                        conns: BTreeSet::new(),
                        states: Vec::new(),
                        states_dropped: 0,
                        current: None,
                        time_in: BTreeMap::new(),
                        skill_groups: BTreeSet::new(),
                        requests: BTreeMap::new(),
                    });
                    a.peripheral = fixed_num(d, "PeripheralID").map(|v| v as u32).or(a.peripheral);
                    if let Some(e) =
                        text(d, frame.bytes, "AgentExtension").or_else(|| c.agent_extension.clone())
                    {
                        a.extension = Some(e);
                    }
                    if let Some(i) =
                        text(d, frame.bytes, "AgentInstrument").or_else(|| c.agent_instrument.clone())
                    {
                        a.instrument = Some(i);
                    }
                    a.conns.insert(flow.conn);
                    if let Some(sg) = fixed_num(d, "SkillGroupNumber").filter(|&v| v != NULL_ID) {
                        a.skill_groups.insert(sg as u32);
                    }
                    for fl in d.fields.iter().filter(|x| x.name == "FltSkillGroupNumber") {
                        if let Some(v) = fl.number().filter(|&v| v != NULL_ID) {
                            a.skill_groups.insert(v as u32);
                        }
                    }
                    let changed = a.current.as_ref().is_none_or(|(s, _)| *s != state);
                    if changed {
                        if let Some((s, since)) = a.current.take() {
                            *a.time_in.entry(s).or_insert(0) += ts - since;
                        }
                        a.current = Some((state.clone(), ts));
                        if a.states.len() < self.settings.max_states_per_agent {
                            a.states.push((ts, fr, flow.conn, state));
                        } else {
                            a.states_dropped += 1;
                        }
                    }
                }
            }
        }
        if let Some(p) = matched {
            if matches!(p.req, QUERY_AGENT_STATE_REQ | SET_AGENT_STATE_REQ) {
                let aid = p.agent.clone().or_else(|| c.agent_id.clone());
                if let Some(a) = aid.and_then(|aid| self.agents.agents.get_mut(&aid)) {
                    let e = a.requests.entry(p.name).or_insert((0, 0));
                    if spec.is_some_and(|s| Some(s.id) == p.confirm) {
                        e.0 += 1;
                    } else {
                        e.1 += 1;
                    }
                }
            }
        }

        // Calls.
        let Some(spec) = spec else {
            return aliases;
        };
        let is_event = spec.role == Role::Event && flow.dir == Direction::ToClient;
        let is_request = spec.role == Role::Request && flow.dir == Direction::ToServer;
        let call_related = is_request || (is_event && spec.service == "Client Events");
        if !call_related {
            return aliases;
        }
        // Conference and transfer name the calls by Primary/Secondary call id.
        if is_event && fixed_num(d, "ConnectionCallID").is_none() {
            let periph = fixed_num(d, "PeripheralID").unwrap_or(NULL_ID) as u32;
            for n in ["PrimaryCallID", "SecondaryCallID"] {
                let Some(cid) = fixed_num(d, n).filter(|&v| v != NULL_ID) else {
                    continue;
                };
                for call in c.calls.live.values_mut() {
                    if call.key.peripheral == periph && call.ids.contains(&(cid as u32)) {
                        call.record(id, name, fr, ts, cap_events);
                        aliases.extend(call.ids.iter().copied());
                    }
                }
            }
            return aliases;
        }
        let Some(key) = call_key(d, frame.bytes, false) else {
            return aliases;
        };
        // Exact key, or the live call with the same peripheral and call id when the message
        // does not carry the device.
        let found = if c.calls.live.contains_key(&key) {
            Some(key.clone())
        } else if key.device.is_empty() {
            c.calls.live.keys().find(|k| k.peripheral == key.peripheral && k.call_id == key.call_id).cloned()
        } else {
            None
        };
        if is_request {
            if let Some(k) = found {
                let call = c.calls.live.get_mut(&k).expect("found");
                call.record(id, name, fr, ts, cap_events);
                if id == SET_CALL_DATA_REQ {
                    call.data_set = true;
                    if keep_vars {
                        call_vars(d, frame.bytes, &mut call.vars);
                    }
                }
                aliases.extend(call.ids.iter().copied());
            }
            return aliases;
        }
        let monitor = fixed_num(d, "MonitorID").unwrap_or(0);
        let check = c.complete(1)
            && c.call_msg_mask.is_some_and(|m| m & BEGIN_CALL_MASK != 0)
            && (monitor == 0 || monitor == NULL_ID)
            && num(d, "EventCause") != Some(CEC_CALL_PARTY_UPDATE_IND);
        let max_live = self.settings.max_live_calls;
        let live_n = c.calls.live.len();
        match id {
            BEGIN_CALL_EVENT => {
                if let Some(k) = found {
                    let prev = c.calls.live.get(&k).expect("found");
                    f.push_lazy(
                        "call-begin-duplicate",
                        Some(flow.conn),
                        &[prev.begin_frame.unwrap_or(prev.first_frame), fr],
                        ts,
                        || format!("second BEGIN_CALL_EVENT for {k}"),
                    );
                    let call = c.calls.live.get_mut(&k).expect("found");
                    call.record(id, name, fr, ts, cap_events);
                    aliases.extend(call.ids.iter().copied());
                } else if live_n >= max_live {
                    f.limit("max_live_calls", Some(flow.conn), fr, ts);
                } else {
                    c.calls.ended.remove(&key);
                    let seq = self.calls.next_seq;
                    self.calls.next_seq += 1;
                    let mut call = Call::new(seq, key.clone(), fr, ts);
                    call.begin_frame = Some(fr);
                    call.record(id, name, fr, ts, cap_events);
                    if keep_vars {
                        call_vars(d, frame.bytes, &mut call.vars);
                    }
                    aliases.extend(call.ids.iter().copied());
                    c.calls.live.insert(key, call);
                }
            }
            _ => {
                let k = match found {
                    Some(k) => k,
                    None => {
                        if c.calls.ended.contains(&key) {
                            f.push_lazy("call-event-after-end", Some(flow.conn), &[fr], ts, || {
                                format!("{name} for {key} after its END_CALL_EVENT")
                            });
                            aliases.push(key.call_id);
                            return aliases;
                        }
                        if check {
                            f.push_lazy("call-event-before-begin", Some(flow.conn), &[fr], ts, || {
                                format!("{name} for {key}, whose BEGIN_CALL_EVENT was not sent")
                            });
                        }
                        if live_n >= max_live {
                            f.limit("max_live_calls", Some(flow.conn), fr, ts);
                            aliases.push(key.call_id);
                            return aliases;
                        }
                        let seq = self.calls.next_seq;
                        self.calls.next_seq += 1;
                        c.calls.live.insert(key.clone(), Call::new(seq, key.clone(), fr, ts));
                        key
                    }
                };
                let mut call = c.calls.live.remove(&k).expect("live");
                call.record(id, name, fr, ts, cap_events);
                if id == CALL_DATA_UPDATE_EVENT {
                    if keep_vars {
                        call_vars(d, frame.bytes, &mut call.vars);
                    }
                    if let Some(nk) = call_key(d, frame.bytes, true) {
                        let nk = CallKey { peripheral: call.key.peripheral, ..nk };
                        if !call.ids.contains(&nk.call_id) {
                            call.ids.push(nk.call_id);
                        }
                        call.key = nk;
                    }
                }
                aliases.extend(call.ids.iter().copied());
                if id == END_CALL_EVENT {
                    call.end_frame = Some(fr);
                    let ended_key = call.key.clone();
                    let remember = self.settings.max_ended_calls;
                    if c.calls.ended.insert(ended_key.clone()) {
                        c.calls.ended_order.push_back(ended_key);
                        while c.calls.ended_order.len() > remember {
                            if let Some(old) = c.calls.ended_order.pop_front() {
                                c.calls.ended.remove(&old);
                            }
                        }
                    }
                    let conn = flow.conn;
                    self.finish_call(conn, call, ts, true);
                } else {
                    let nk = call.key.clone();
                    c.calls.live.insert(nk, call);
                }
            }
        }
        aliases
    }
}
