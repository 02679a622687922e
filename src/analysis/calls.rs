//! Calls (followed through CALL_DATA_UPDATE_EVENT's new identifiers), monitors and agents.

use super::fields::{Name, View};
use super::report::CallSummary;
use super::session::{Conn, Pending, SERVICE_PERIPHERAL_MONITOR};
use super::{Analyzer, Findings, Settings};
use crate::cti::decode::{named_value, range_str, same_name, Decoded, Value};
use crate::cti::framing::Frame;
use crate::cti::spec::{values, Role};
use crate::net::tcp::ConnId;
use crate::pipeline::{Direction, Flow};
use crate::IntMap;
use crate::{FastMap, TimestampNs};
use smallvec::{smallvec, SmallVec};
use std::borrow::Cow;
use std::collections::hash_map::Entry;
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    pub ids: CallIds,
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

/// Every ConnectionCallID a call had, in order: its first, then the new ones
/// CALL_DATA_UPDATE_EVENT gave it (on the heap only for a call renamed more than once).
pub(crate) type CallIds = SmallVec<[u32; 2]>;

/// Add an id the call did not have.
fn add_id(ids: &mut CallIds, id: u32) {
    if !ids.contains(&id) {
        ids.push(id);
    }
}

/// The call a message names, its device borrowed from the message.
#[derive(Debug)]
struct KeyRef<'a> {
    peripheral: u32,
    call_id: u32,
    dev_type: u16,
    /// The UTF-8 of the device's (lossy) text: the message's bytes, unless they are not
    /// UTF-8.
    device: Cow<'a, [u8]>,
}

impl KeyRef<'_> {
    fn to_key(&self) -> CallKey {
        CallKey {
            peripheral: self.peripheral,
            call_id: self.call_id,
            dev_type: self.dev_type,
            // UTF-8 already (the lossy conversion is for the unexpected).
            device: match std::str::from_utf8(&self.device) {
                Ok(device) => device.to_owned(),
                Err(_) => String::from_utf8_lossy(&self.device).into_owned(),
            },
        }
    }
}

/// The live calls of one PeripheralID and ConnectionCallID, in [`CallKey`] order (device
/// type, then device). Nearly always one call, kept in place rather than on the heap.
type Group = SmallVec<[Call; 1]>;

/// Live calls of one connection, and the calls it ended recently.
#[derive(Debug, Default)]
pub(crate) struct ConnCalls {
    /// Live calls by PeripheralID and ConnectionCallID.
    live: FastMap<(u32, u32), Group>,
    /// Calls in `live`.
    live_n: usize,
    /// Live calls that had more than one ConnectionCallID, per group of `live`.
    renamed: FastMap<(u32, u32), u32>,
    pub monitors_reported: BTreeSet<u32>,
}

/// Position in `group` of the call with this key, or the first when the message does not
/// carry the device.
#[inline(always)]
fn position(group: &[Call], key: &KeyRef<'_>) -> Option<usize> {
    let device: &[u8] = &key.device;
    for (i, c) in group.iter().enumerate() {
        if c.key.dev_type == key.dev_type && c.key.device.as_bytes() == device {
            return Some(i);
        }
    }
    (device.is_empty() && !group.is_empty()).then_some(0)
}

impl ConnCalls {
    /// The live call with this key, or with its peripheral and call id when the message
    /// does not carry the device (the first in key order), and its position in its group.
    #[inline(always)]
    fn find_mut(&mut self, key: &KeyRef<'_>) -> Option<(usize, &mut Call)> {
        let group = self.live.get_mut(&(key.peripheral, key.call_id))?;
        let i = position(group, key)?;
        Some((i, &mut group[i]))
    }

    /// Remove the live call at position `i` of the group of `key`.
    fn take(&mut self, group: (u32, u32), i: usize) -> Call {
        let Entry::Occupied(mut slot) = self.live.entry(group) else {
            panic!("live group");
        };
        let call = slot.get_mut().remove(i);
        if slot.get().is_empty() {
            slot.remove();
        }
        self.live_n -= 1;
        if call.ids.len() > 1 {
            unrenamed(&mut self.renamed, group);
        }
        call
    }

    /// Add a live call; one with the same key is replaced. Returns its position in its
    /// group.
    fn put(&mut self, call: Call) -> usize {
        let k = &call.key;
        let group = (k.peripheral, k.call_id);
        if call.ids.len() > 1 {
            *self.renamed.entry(group).or_insert(0) += 1;
        }
        let calls = self.live.entry(group).or_default();
        match calls.binary_search_by(|c| {
            (c.key.dev_type, c.key.device.as_str()).cmp(&(k.dev_type, k.device.as_str()))
        }) {
            Ok(i) => {
                let old = std::mem::replace(&mut calls[i], call);
                if old.ids.len() > 1 {
                    unrenamed(&mut self.renamed, group);
                }
                i
            }
            Err(i) => {
                calls.insert(i, call);
                self.live_n += 1;
                i
            }
        }
    }

    /// The live calls of this peripheral that had this ConnectionCallID (group and
    /// position), in key order.
    fn with_id(&self, peripheral: u32, call_id: u32) -> Vec<((u32, u32), usize)> {
        let group = (peripheral, call_id);
        let mut hits: Vec<((u32, u32), usize)> = Vec::new();
        // A call's current id is its group's; other ids are those of renamed calls.
        if let Some(calls) = self.live.get(&group) {
            hits.extend((0..calls.len()).map(|i| (group, i)));
        }
        for g in self.renamed.keys().filter(|g| g.0 == peripheral && **g != group) {
            if let Some(calls) = self.live.get(g) {
                let had = calls.iter().enumerate().filter(|(_, c)| c.ids.contains(&call_id));
                hits.extend(had.map(|(i, _)| (*g, i)));
            }
        }
        // One peripheral: key order is call id, then position in the group.
        hits.sort_unstable_by_key(|&(g, i)| (g.1, i));
        hits
    }

    /// Every live call, in key order.
    pub fn into_sorted(self) -> Vec<Call> {
        let mut all: Vec<Call> = self.live.into_values().flatten().collect();
        all.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        all
    }
}

/// One live call of `group` that had more than one ConnectionCallID is gone.
fn unrenamed(renamed: &mut FastMap<(u32, u32), u32>, group: (u32, u32)) {
    if let Some(n) = renamed.get_mut(&group) {
        *n -= 1;
        if *n == 0 {
            renamed.remove(&group);
        }
    }
}

/// Finished-call summaries, and the calls ended recently (on any connection).
#[derive(Debug, Default)]
pub(crate) struct CallTables {
    pub next_seq: u64,
    pub done: Vec<CallSummary>,
    pub dropped: u64,
    /// Calls ended recently, on any connection.
    pub ended: EndedCalls,
}

/// Calls ended recently, by connection: at most `max_ended_calls` across the capture (oldest
/// forgotten first), so memory does not grow with the number of connections. An entry is
/// two independent 64-bit hashes of the connection and call key, both keyed at random: a
/// lookup matches only when both agree (one chance in 2^128 for two different calls, and a
/// capture cannot aim at a collision). Entries of 16 bytes keep the table in cache and
/// ending a call allocates nothing; the key itself is not needed again.
#[derive(Debug, Default)]
pub(crate) struct EndedCalls {
    /// First hash -> second hash.
    by_hash: IntMap<u64, u64>,
    /// First hashes, oldest first.
    order: VecDeque<u64>,
    hasher: ahash::RandomState,
    check: ahash::RandomState,
}

impl EndedCalls {
    fn hashes(&self, conn: ConnId, k: &KeyRef<'_>) -> (u64, u64) {
        // The numbers packed in two words: fewer rounds of the hasher.
        let key = (
            (
                u64::from(conn) << 32 | u64::from(k.peripheral),
                u64::from(k.call_id) << 16 | u64::from(k.dev_type),
            ),
            &*k.device,
        );
        (self.hasher.hash_one(key), self.check.hash_one(key))
    }

    fn contains(&self, conn: ConnId, k: &KeyRef<'_>) -> bool {
        let (h, c) = self.hashes(conn, k);
        self.by_hash.get(&h) == Some(&c)
    }

    fn remove(&mut self, conn: ConnId, k: &KeyRef<'_>) {
        let (h, c) = self.hashes(conn, k);
        if self.by_hash.get(&h) == Some(&c) {
            self.by_hash.remove(&h);
        }
    }

    fn insert(&mut self, conn: ConnId, key: &CallKey, remember: usize) {
        let (h, c) = self.hashes(conn, &key_ref(key));
        if self.by_hash.insert(h, c) == Some(c) {
            // Already remembered.
            return;
        }
        self.order.push_back(h);
        while self.order.len() > remember {
            if let Some(old) = self.order.pop_front() {
                self.by_hash.remove(&old);
            }
        }
    }
}

impl CallTables {
    fn finish(
        &mut self,
        settings: &Settings,
        findings: &mut Findings,
        conn: ConnId,
        call: Call,
        end_ts: TimestampNs,
        ended: bool,
    ) {
        if !settings.call_summaries {
            return;
        }
        if self.done.len() >= settings.max_calls {
            self.dropped += 1;
            findings.limit("max_calls", Some(conn), call.first_frame, end_ts);
            return;
        }
        self.done.push(call.summary(conn, end_ts, ended));
    }
}

/// What the call and agent handling of a message works on besides its connection.
pub(crate) struct CallCtx<'a> {
    pub settings: &'a Settings,
    pub findings: &'a mut Findings,
    pub calls: &'a mut CallTables,
    pub agents: &'a mut AgentTables,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub id: String,
    pub peripheral: Option<u32>,
    pub extension: Option<String>,
    pub instrument: Option<String>,
    pub conns: BTreeSet<ConnId>,
    pub states: Vec<(TimestampNs, u64, ConnId, State)>,
    pub states_dropped: u64,
    pub current: Option<(State, TimestampNs)>,
    pub time_in: BTreeMap<State, i64>,
    pub skill_groups: BTreeSet<u32>,
    /// Request name -> (answered positively, failed).
    pub requests: BTreeMap<&'static str, (u64, u64)>,
}

/// An agent state as printed: its name without `AGENT_STATE_`, or its number.
pub(crate) type State = Cow<'static, str>;

impl Agent {
    fn new(id: String) -> Self {
        Agent {
            id,
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
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct AgentTables {
    /// By the UTF-8 of the AgentID, so that a message's AgentID is looked up without first
    /// checking it as text (sorted when the report is built).
    pub agents: FastMap<Box<[u8]>, Agent>,
}

/// The call a message names: its ConnectionCallID (`call`, read by the caller),
/// ConnectionDeviceIDType and ConnectionDeviceID, or with `new` the NewConnection... ones of
/// CALL_DATA_UPDATE_EVENT.
#[inline(always)]
fn call_key<'b>(v: &View<'_>, frame: &'b [u8], call: Option<u64>, new: bool) -> Option<KeyRef<'b>> {
    let (dev_type, device) = if new {
        (Name::NewConnectionDeviceIDType, Name::NewConnectionDeviceID)
    } else {
        (Name::ConnectionDeviceIDType, Name::ConnectionDeviceID)
    };
    let call = call?;
    if call == NULL_ID {
        return None;
    }
    Some(KeyRef {
        peripheral: v.fixed_num(Name::PeripheralID).unwrap_or(NULL_ID) as u32,
        call_id: call as u32,
        dev_type: v.fixed_num(dev_type).unwrap_or(0xFFFF) as u16,
        device: v.text_utf8(frame, device).unwrap_or_default(),
    })
}

/// Call variables and ECC variables a message carries.
fn call_vars(d: &Decoded, frame: &[u8], out: &mut BTreeMap<String, String>) {
    for f in &d.fields {
        match f.value {
            Value::Text { .. } if f.name().starts_with("CallVariable") || f.name() == "CallWrapupData" => {
                out.insert(f.name().to_string(), f.text(frame).unwrap_or_default().into_owned());
            }
            Value::NamedVar { name, value_len } => {
                let value = named_value(name, value_len);
                out.insert(range_str(frame, name).into_owned(), range_str(frame, value).into_owned());
            }
            Value::NamedArray { index, name, value_len } => {
                let value = named_value(name, value_len);
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
            ids: smallvec![key.call_id],
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

    #[inline]
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
            call_ids: self.ids.into_vec(),
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
    /// Calls still live when their connection ended.
    pub(crate) fn calls_conn_end(&mut self, conn: ConnId, calls: ConnCalls, ts: TimestampNs) {
        for call in calls.into_sorted() {
            self.calls.finish(&self.settings, &mut self.findings, conn, call, ts, false);
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
}

/// Calls, monitors and agents for one message. Returns the call ids of the call the
/// message belongs to (for the timeline).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn call_message(
    cx: CallCtx<'_>,
    c: &mut Conn,
    flow: &Flow,
    frame: &Frame<'_>,
    v: &View<'_>,
    id: u32,
    name: &'static str,
    matched: Option<&Pending>,
) -> Vec<u32> {
    let d = v.d;
    let ts = frame.ts_ns;
    let fr = frame.last_frame;
    // Without summaries, calls are followed for the rules only.
    let cap_events = if cx.settings.call_summaries { cx.settings.max_events_per_call } else { 0 };
    let keep_vars = cx.settings.call_summaries;
    let summaries = cx.settings.call_summaries;
    // The call ids the message belongs to matter only to the timeline.
    let keep_aliases = cx.settings.timeline.is_some();
    let f = cx.findings;
    let spec = d.spec;
    let mut aliases = Vec::new();

    // Monitors (checked once the session's monitors are known).
    let pm = c.services_granted.is_some_and(|s| s & SERVICE_PERIPHERAL_MONITOR != 0);
    if flow.dir == Direction::ToClient
        && spec.is_some_and(|s| s.role == Role::Event)
        && pm
        && c.monitors_known
        && c.complete(1)
    {
        if let Some(m) = v.fixed_num(Name::MonitorID) {
            if m != 0
                && m != NULL_ID
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
        // As UTF-8 bytes, the table's keys.
        let agent_id: Option<Cow<'_, [u8]>> = v
            .text_utf8(frame.bytes, Name::AgentID)
            .filter(|s| !s.is_empty())
            .or_else(|| c.agent_id.as_deref().map(|a| Cow::Borrowed(a.as_bytes())))
            .or_else(|| {
                v.text(frame.bytes, Name::AgentExtension)
                    .or_else(|| c.agent_extension.as_deref().map(Cow::Borrowed))
                    .map(|e| Cow::Owned(format!("ext:{e}").into_bytes()))
            });
        if let Some(aid) = agent_id {
            let agents = &mut cx.agents.agents;
            if !agents.contains_key(&*aid) {
                if agents.len() >= cx.settings.max_agents {
                    f.limit("max_agents", Some(flow.conn), fr, ts);
                } else {
                    let id = String::from_utf8_lossy(&aid).into_owned();
                    agents.insert(Box::from(&*aid), Agent::new(id));
                }
            }
            if summaries {
                if let Some(a) = agents.get_mut(&*aid) {
                    agent_state(a, v, frame, c, flow.conn, cx.settings.max_states_per_agent);
                }
            }
        }
    }
    if let Some(p) = matched.filter(|_| summaries) {
        if matches!(p.req, QUERY_AGENT_STATE_REQ | SET_AGENT_STATE_REQ) {
            let aid = p.agent.as_deref().or(c.agent_id.as_deref());
            if let Some(a) = aid.and_then(|aid| cx.agents.agents.get_mut(aid.as_bytes())) {
                let e = a.requests.entry(p.name).or_insert((0, 0));
                if spec.is_some_and(|s| Some(s.id.0) == p.confirm) {
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
    let call_related = is_request || (is_event && is_client_events(spec.service));
    if !call_related {
        return aliases;
    }
    let calls = &mut c.calls;
    // Conference and transfer name the calls by Primary/Secondary call id.
    let call_id = v.fixed_num(Name::ConnectionCallID);
    if is_event && call_id.is_none() {
        for n in [Name::PrimaryCallID, Name::SecondaryCallID] {
            let Some(cid) = v.fixed_num(n).filter(|&v| v != NULL_ID) else {
                continue;
            };
            let periph = v.fixed_num(Name::PeripheralID).unwrap_or(NULL_ID) as u32;
            for (g, i) in calls.with_id(periph, cid as u32) {
                let call = &mut calls.live.get_mut(&g).expect("live group")[i];
                call.record(id, name, fr, ts, cap_events);
                if keep_aliases {
                    aliases.extend(call.ids.iter().copied());
                }
            }
        }
        return aliases;
    }
    let Some(key) = call_key(v, frame.bytes, call_id, false) else {
        return aliases;
    };
    let group = (key.peripheral, key.call_id);
    // Exact key, or the live call with the same peripheral and call id when the message
    // does not carry the device.
    if is_request {
        if let Some((_, call)) = calls.find_mut(&key) {
            call.record(id, name, fr, ts, cap_events);
            if id == SET_CALL_DATA_REQ {
                call.data_set = true;
                if keep_vars {
                    call_vars(d, frame.bytes, &mut call.vars);
                }
            }
            if keep_aliases {
                aliases.extend(call.ids.iter().copied());
            }
        }
        return aliases;
    }
    let max_live = cx.settings.max_live_calls;
    let live_n = calls.live_n;
    match id {
        BEGIN_CALL_EVENT => {
            if let Some((_, call)) = calls.find_mut(&key) {
                let prev_frame = call.begin_frame.unwrap_or(call.first_frame);
                let k = &call.key;
                f.push_lazy("call-begin-duplicate", Some(flow.conn), &[prev_frame, fr], ts, || {
                    format!("second BEGIN_CALL_EVENT for {k}")
                });
                call.record(id, name, fr, ts, cap_events);
                if keep_aliases {
                    aliases.extend(call.ids.iter().copied());
                }
            } else if live_n >= max_live {
                f.limit("max_live_calls", Some(flow.conn), fr, ts);
            } else {
                cx.calls.ended.remove(flow.conn, &key);
                let key = key.to_key();
                let seq = cx.calls.next_seq;
                cx.calls.next_seq += 1;
                let mut call = Call::new(seq, key, fr, ts);
                call.begin_frame = Some(fr);
                call.record(id, name, fr, ts, cap_events);
                if keep_vars {
                    call_vars(d, frame.bytes, &mut call.vars);
                }
                if keep_aliases {
                    aliases.extend(call.ids.iter().copied());
                }
                calls.put(call);
            }
        }
        _ => {
            let (i, call) = match calls.find_mut(&key) {
                Some(found) => found,
                None => {
                    if cx.calls.ended.contains(flow.conn, &key) {
                        let key = key.to_key();
                        f.push_lazy("call-event-after-end", Some(flow.conn), &[fr], ts, || {
                            format!("{name} for {key} after its END_CALL_EVENT")
                        });
                        aliases.push(key.call_id);
                        return aliases;
                    }
                    let key = key.to_key();
                    let monitor = v.fixed_num(Name::MonitorID).unwrap_or(0);
                    let check = c.complete(1)
                        && c.call_msg_mask.is_some_and(|m| m & BEGIN_CALL_MASK != 0)
                        && (monitor == 0 || monitor == NULL_ID)
                        && v.num(Name::EventCause) != Some(CEC_CALL_PARTY_UPDATE_IND);
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
                    let seq = cx.calls.next_seq;
                    cx.calls.next_seq += 1;
                    let calls = &mut c.calls;
                    let i = calls.put(Call::new(seq, key, fr, ts));
                    let call = &mut calls.live.get_mut(&group).expect("live group")[i];
                    (i, call)
                }
            };
            call.record(id, name, fr, ts, cap_events);
            let mut rekey = None;
            if id == CALL_DATA_UPDATE_EVENT {
                if keep_vars {
                    call_vars(d, frame.bytes, &mut call.vars);
                }
                rekey = call_key(v, frame.bytes, v.fixed_num(Name::NewConnectionCallID), true)
                    .map(|nk| CallKey { peripheral: call.key.peripheral, ..nk.to_key() });
            }
            if let Some(nk) = rekey {
                // Under its new identification (replacing a live call that had it).
                let calls = &mut c.calls;
                let mut call = calls.take(group, i);
                add_id(&mut call.ids, nk.call_id);
                call.key = nk;
                if keep_aliases {
                    aliases.extend(call.ids.iter().copied());
                }
                calls.put(call);
            } else if id == END_CALL_EVENT {
                let mut call = c.calls.take(group, i);
                if keep_aliases {
                    aliases.extend(call.ids.iter().copied());
                }
                call.end_frame = Some(fr);
                let remember = cx.settings.max_ended_calls;
                cx.calls.ended.insert(flow.conn, &call.key, remember);
                if summaries {
                    cx.calls.finish(cx.settings, f, flow.conn, call, ts, true);
                }
            } else if keep_aliases {
                aliases.extend(call.ids.iter().copied());
            }
        }
    }
    aliases
}

/// The service of the call events (`MessageSpec::service`).
const CLIENT_EVENTS: &str = "Client Events";

/// Whether a message's service is [`CLIENT_EVENTS`]: the spec's strings are normally the
/// same string as this one, so the bytes are compared only when the addresses differ.
#[inline(always)]
fn is_client_events(service: &'static str) -> bool {
    std::ptr::eq(service, CLIENT_EVENTS) || service == CLIENT_EVENTS
}

/// What an AGENT_STATE_EVENT tells about its agent, for the agent's summary.
fn agent_state(a: &mut Agent, v: &View<'_>, frame: &Frame<'_>, c: &Conn, conn: ConnId, max_states: usize) {
    let (ts, fr) = (frame.ts_ns, frame.last_frame);
    let state: State = v.num(Name::AgentState).map_or(Cow::Borrowed("?"), |v| {
        values::AGENT_STATE
            .name_of(v as u32)
            .map_or(Cow::Owned(v.to_string()), |n| Cow::Borrowed(n.strip_prefix("AGENT_STATE_").unwrap_or(n)))
    });
    a.peripheral = v.fixed_num(Name::PeripheralID).map(|v| v as u32).or(a.peripheral);
    let ext = v.text(frame.bytes, Name::AgentExtension);
    if let Some(e) = ext.as_deref().or(c.agent_extension.as_deref()) {
        set_text(&mut a.extension, e);
    }
    let instrument = v.text(frame.bytes, Name::AgentInstrument);
    if let Some(i) = instrument.as_deref().or(c.agent_instrument.as_deref()) {
        set_text(&mut a.instrument, i);
    }
    a.conns.insert(conn);
    if let Some(sg) = v.fixed_num(Name::SkillGroupNumber).filter(|&v| v != NULL_ID) {
        a.skill_groups.insert(sg as u32);
    }
    for fl in v.d.fields.iter().filter(|x| same_name(x.name(), "FltSkillGroupNumber")) {
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
        if a.states.len() < max_states {
            a.states.push((ts, fr, conn, state));
        } else {
            a.states_dropped += 1;
        }
    }
}

/// The borrowed form of a key.
fn key_ref(k: &CallKey) -> KeyRef<'_> {
    KeyRef {
        peripheral: k.peripheral,
        call_id: k.call_id,
        dev_type: k.dev_type,
        device: Cow::Borrowed(k.device.as_bytes()),
    }
}

/// Set `slot` to `text`, allocating only when it changes.
fn set_text(slot: &mut Option<String>, text: &str) {
    if slot.as_deref() != Some(text) {
        *slot = Some(text.to_string());
    }
}

#[cfg(test)]
mod ended_tests {
    use super::*;

    fn key(call_id: u32, device: &str) -> CallKey {
        CallKey { peripheral: 5000, call_id, dev_type: 0, device: device.to_string() }
    }

    #[test]
    fn ended_calls_are_kept_per_connection_up_to_the_cap() {
        let mut e = EndedCalls::default();
        let (a, b) = (key(1, "40015"), key(2, "40016"));
        e.insert(7, &a, 3);
        assert!(e.contains(7, &key_ref(&a)));
        // Another connection, device or call id is another call.
        assert!(!e.contains(8, &key_ref(&a)));
        assert!(!e.contains(7, &key_ref(&key(1, "40016"))));
        assert!(!e.contains(7, &key_ref(&b)));
        e.insert(7, &b, 3);
        e.remove(7, &key_ref(&a));
        assert!(!e.contains(7, &key_ref(&a)) && e.contains(7, &key_ref(&b)));
        // Beyond the cap the oldest are forgotten first.
        for i in 10..13 {
            e.insert(9, &key(i, "x"), 3);
        }
        assert!(!e.contains(7, &key_ref(&b)));
        assert!((10..13).all(|i| e.contains(9, &key_ref(&key(i, "x")))));
        assert!(e.by_hash.len() <= 3 && e.order.len() <= 3);
    }
}
