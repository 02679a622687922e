//! Calls, followed from BEGIN_CALL_EVENT (or their first event) to END_CALL_EVENT through
//! CALL_DATA_UPDATE_EVENT's new identifiers, per connection; the calls that ended are
//! summarised and remembered for a while (events after END_CALL_EVENT).

use super::callstate::{self, CallState};
use super::findings::{Cause, Findings, Subject};
use super::settings::Settings;
use super::state::{Conn, Msg};
use super::types::CallSummary;
use crate::cti::decode::{named_value, range_bytes, range_str, Decoded, Field, Value};
use crate::cti::spec::fields::field;
use crate::cti::spec::values::call_id::NULL_CALL_ID;
use crate::cti::spec::values::call_msg_mask::BEGIN_CALL_MASK;
use crate::cti::spec::values::connection_device_id_type::CONNECTION_ID_NONE;
use crate::cti::spec::values::event_cause::CEC_CALL_PARTY_UPDATE_IND;
use crate::cti::spec::values::peripheral_id::NULL_PERIPHERAL_ID;
use crate::cti::spec::{FieldId, MessageType, Role};
use crate::net::tcp::ConnId;
use crate::pipeline::Direction;
use crate::IntMap;
use crate::{FastMap, TimestampNs};
use smallvec::{smallvec, SmallVec};
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, VecDeque};

/// A call id naming no call.
const NULL_ID: u64 = NULL_CALL_ID as u64;

/// The guide's call identification: PeripheralID, ConnectionCallID, ConnectionDeviceIDType,
/// ConnectionDeviceID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct CallKey {
    pub peripheral: u32,
    pub call_id: u32,
    pub dev_type: u16,
    pub device: String,
}

impl CallKey {
    /// The call as a finding's subject.
    pub fn subject(&self, message: Option<&'static str>) -> Subject {
        Subject {
            message,
            peripheral: Some(self.peripheral),
            call: Some(self.call_id),
            device: Some(self.device.clone()),
            ..Subject::default()
        }
    }
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
    /// Estimated bytes of `vars` ([`var_cost`]), at most [`MAX_VAR_BYTES`].
    pub vars_held: usize,
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
/// type, then device): nearly always one call, kept in place rather than on the heap; and
/// the state of their connections on a session whose call states are followed
/// ([`callstate`]).
#[derive(Debug, Default)]
struct Group {
    calls: SmallVec<[Call; 1]>,
    state: Option<Box<CallState>>,
}

/// Live calls of one connection, and the calls it ended recently.
#[derive(Debug, Default)]
pub(crate) struct ConnCalls {
    /// Live calls by PeripheralID and ConnectionCallID.
    live: FastMap<(u32, u32), Group>,
    /// Calls in `live`.
    live_n: usize,
    /// What the live calls' variables hold ([`Call::vars_held`]).
    vars_bytes: usize,
    /// Live calls that had more than one ConnectionCallID, per group of `live`.
    renamed: FastMap<(u32, u32), u32>,
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

/// Estimated bytes of one live call: the call with as many events as it may keep, and its
/// share of the maps.
pub(crate) fn live_call_cost(settings: &Settings) -> usize {
    std::mem::size_of::<Call>()
        + settings.max_events_per_call * std::mem::size_of::<(TimestampNs, u64, &'static str)>()
        + 64
}

impl ConnCalls {
    /// Calls live on this connection.
    pub(crate) fn live_count(&self) -> usize {
        self.live_n
    }

    /// Estimated bytes of the live calls' variables.
    pub(crate) fn vars_bytes(&self) -> usize {
        self.vars_bytes
    }

    /// The earliest start of this connection's live calls.
    pub(crate) fn min_first_ts(&self) -> Option<TimestampNs> {
        self.live.values().flat_map(|g| g.calls.iter().map(|c| c.first_ts)).min()
    }

    /// The state of the connections of the call with this PeripheralID and
    /// ConnectionCallID, if the session's events set one.
    pub(crate) fn state(&self, peripheral: u32, call_id: u32) -> Option<&CallState> {
        self.live.get(&(peripheral, call_id))?.state.as_deref()
    }

    /// [`ConnCalls::state`], to change.
    pub(crate) fn state_mut(&mut self, peripheral: u32, call_id: u32) -> Option<&mut CallState> {
        self.live.get_mut(&(peripheral, call_id))?.state.as_deref_mut()
    }

    /// Every call state of this connection.
    pub(crate) fn states_mut(&mut self) -> impl Iterator<Item = &mut CallState> {
        self.live.values_mut().filter_map(|g| g.state.as_deref_mut())
    }

    /// The calls of this peripheral with these call ids are no longer known.
    fn forget(&mut self, peripheral: u32, call_ids: &[u64]) {
        for &id in call_ids {
            if let Some(g) = self.live.get_mut(&(peripheral, id as u32)) {
                g.state = None;
            }
        }
    }

    /// The live call with this key, or with its peripheral and call id when the message
    /// does not carry the device (the first in key order), and its position in its group.
    #[inline(always)]
    fn find_mut(&mut self, key: &KeyRef<'_>) -> Option<(usize, &mut Call)> {
        let (i, group) = self.find_group(key)?;
        Some((i, &mut group.calls[i]))
    }

    /// [`ConnCalls::find_mut`]'s call as its position in its group, and the group.
    #[inline(always)]
    fn find_group(&mut self, key: &KeyRef<'_>) -> Option<(usize, &mut Group)> {
        let group = self.live.get_mut(&(key.peripheral, key.call_id))?;
        let i = position(&group.calls, key)?;
        Some((i, group))
    }

    /// Remove the live call at position `i` of the group of `key`.
    fn take(&mut self, group: (u32, u32), i: usize) -> Call {
        let Entry::Occupied(mut slot) = self.live.entry(group) else {
            panic!("live group");
        };
        let call = slot.get_mut().calls.remove(i);
        if slot.get().calls.is_empty() {
            slot.remove();
        }
        self.live_n -= 1;
        self.vars_bytes -= call.vars_held;
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
        self.vars_bytes += call.vars_held;
        let calls = &mut self.live.entry(group).or_default().calls;
        match calls.binary_search_by(|c| {
            (c.key.dev_type, c.key.device.as_str()).cmp(&(k.dev_type, k.device.as_str()))
        }) {
            Ok(i) => {
                let old = std::mem::replace(&mut calls[i], call);
                self.vars_bytes -= old.vars_held;
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
            hits.extend((0..calls.calls.len()).map(|i| (group, i)));
        }
        for g in self.renamed.keys().filter(|g| g.0 == peripheral && **g != group) {
            if let Some(calls) = self.live.get(g) {
                let had = calls.calls.iter().enumerate().filter(|(_, c)| c.ids.contains(&call_id));
                hits.extend(had.map(|(i, _)| (*g, i)));
            }
        }
        // One peripheral: key order is call id, then position in the group.
        hits.sort_unstable_by_key(|&(g, i)| (g.1, i));
        hits
    }

    /// Every live call, in key order.
    pub fn into_sorted(self) -> Vec<Call> {
        let mut all: Vec<Call> = self.live.into_values().flat_map(|g| g.calls).collect();
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
    /// Estimated bytes of `done` ([`done_cost`]): at most a quarter of
    /// `max_analysis_memory`.
    pub done_bytes: usize,
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
        let summary = call.summary(conn, end_ts, ended);
        let cost = done_cost(&summary);
        if self.done_bytes + cost > settings.max_analysis_memory / 4 {
            self.dropped += 1;
            findings.limit("max_analysis_memory", Some(conn), summary.first_frame, end_ts);
            return;
        }
        self.done_bytes += cost;
        self.done.push(summary);
    }

    /// The finished calls were replaced (handed out as records, the rest kept).
    pub(crate) fn recount(&mut self) {
        self.done_bytes = self.done.iter().map(done_cost).sum();
    }
}

/// Estimated bytes of a finished call: its summary, its events, its ids and connections,
/// its device and its variables.
pub(crate) fn done_cost(c: &CallSummary) -> usize {
    std::mem::size_of::<CallSummary>()
        + c.events.len() * std::mem::size_of::<(TimestampNs, u64, &'static str)>()
        + (c.call_ids.len() + c.conns.len()) * 4
        + c.device.len()
        + c.vars.iter().map(|(n, v)| var_cost(n, v)).sum::<usize>()
}

/// What the call handling of a message works on besides its connection.
pub(crate) struct CallCtx<'a> {
    pub settings: &'a Settings,
    pub findings: &'a mut Findings,
    pub calls: &'a mut CallTables,
}

/// The call a message names: its ConnectionCallID (`call`, read by the caller),
/// ConnectionDeviceIDType and ConnectionDeviceID, or with `new` the NewConnection... ones of
/// CALL_DATA_UPDATE_EVENT.
#[inline(always)]
fn call_key<'b>(d: &Decoded, frame: &'b [u8], call: Option<u64>, new: bool) -> Option<KeyRef<'b>> {
    let (dev_type, device) = if new {
        (field::NewConnectionDeviceIDType, field::NewConnectionDeviceID)
    } else {
        (field::ConnectionDeviceIDType, field::ConnectionDeviceID)
    };
    let call = call?;
    if call == NULL_ID {
        return None;
    }
    Some(KeyRef {
        peripheral: peripheral(d),
        call_id: call as u32,
        dev_type: fixed_num(d, dev_type).unwrap_or(u64::from(CONNECTION_ID_NONE)) as u16,
        device: text_utf8(d, frame, device).unwrap_or_default(),
    })
}

/// The message's PeripheralID, NULL_PERIPHERAL_ID when it has none.
#[inline(always)]
pub(crate) fn peripheral(d: &Decoded) -> u32 {
    fixed_num(d, field::PeripheralID).unwrap_or(u64::from(NULL_PERIPHERAL_ID)) as u32
}

/// Numeric value of a fixed field (found at its place in the layout).
#[inline(always)]
pub(crate) fn fixed_num(d: &Decoded, id: FieldId) -> Option<u64> {
    d.fixed(id).and_then(|f| f.number())
}

/// The first field with this id, as [`Decoded::get`] finds it, for a field that no layout
/// has in its fixed part ([`FLOATING_ONLY`]): searched among the floating fields only.
#[inline(always)]
pub(crate) fn floating(d: &Decoded, id: FieldId) -> Option<&Field> {
    debug_assert!(FLOATING_ONLY.contains(&id));
    // The fixed fields come first, all before the floating part's offset.
    d.floating_fields().iter().find(|f| f.meta.id == id)
}

/// The fields [`floating`] looks up: floating in every layout that carries them.
pub(crate) const FLOATING_ONLY: [FieldId; 5] = [
    field::ConnectionDeviceID,
    field::NewConnectionDeviceID,
    field::AgentID,
    field::AgentExtension,
    field::AgentInstrument,
];

/// The text of the first field `id` ([`floating`]), as UTF-8 bytes (cheaper than
/// [`Decoded::text_of`]: see [`lossy_utf8`]).
#[inline(always)]
pub(crate) fn text_utf8<'b>(d: &Decoded, frame: &'b [u8], id: FieldId) -> Option<Cow<'b, [u8]>> {
    match floating(d, id)?.value {
        Value::Text { start, len } => Some(lossy_utf8(frame, start, len)),
        _ => None,
    }
}

/// The UTF-8 bytes of the lossy text of a (start, len) range of the frame: the bytes of
/// [`range_str`], borrowed from the frame after a mere ASCII check in the common case.
#[inline(always)]
pub(crate) fn lossy_utf8(frame: &[u8], start: u32, len: u32) -> Cow<'_, [u8]> {
    let bytes = range_bytes(frame, (start, len));
    // Short texts: an inlined loop without branches beats the word-at-a-time check.
    if bytes.iter().fold(0, |all, b| all | b) < 0x80 {
        Cow::Borrowed(bytes)
    } else {
        not_ascii_utf8(bytes)
    }
}

/// [`lossy_utf8`] of bytes that are not all ASCII.
#[cold]
fn not_ascii_utf8(bytes: &[u8]) -> Cow<'_, [u8]> {
    match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(_) => Cow::Borrowed(bytes),
        Cow::Owned(text) => Cow::Owned(text.into_bytes()),
    }
}

/// Whether a field carries a call variable (CallVariable1 to 10, CallWrapupData).
fn is_call_variable(id: FieldId) -> bool {
    id == field::CallWrapupData || crate::cti::spec::CALL_VARIABLES.contains(&id)
}

/// Most bytes of variables a call keeps ([`var_cost`]): about 40 variables of 100 bytes.
/// A variable not yet known that would pass it is not kept; the values of those kept are
/// still updated (a longer value that would pass it is not).
pub(crate) const MAX_VAR_BYTES: usize = 8 << 10;

/// Estimated bytes of one kept variable: its name and value, their headers and its share
/// of the map's node.
fn var_cost(name: &str, value: &str) -> usize {
    name.len() + value.len() + 2 * std::mem::size_of::<String>() + 16
}

/// Call variables and ECC variables a message carries, kept within [`MAX_VAR_BYTES`].
fn call_vars(d: &Decoded, frame: &[u8], call: &mut Call) {
    for f in &d.fields {
        let (name, value) = match f.value {
            Value::Text { .. } if is_call_variable(f.meta.id) => {
                (Cow::Borrowed(f.name()), f.text(frame).unwrap_or_default())
            }
            Value::NamedVar { name, value_len } => {
                (range_str(frame, name), range_str(frame, named_value(name, value_len)))
            }
            Value::NamedArray { index, name, value_len } => (
                Cow::Owned(format!("{}[{index}]", range_str(frame, name))),
                range_str(frame, named_value(name, value_len)),
            ),
            _ => continue,
        };
        let old = call.vars.get(&*name).map_or(0, |v| var_cost(&name, v));
        let new = var_cost(&name, &value);
        if call.vars_held - old + new > MAX_VAR_BYTES {
            continue;
        }
        call.vars_held = call.vars_held - old + new;
        call.vars.insert(name.into_owned(), value.into_owned());
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
            vars_held: 0,
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
    fn record(&mut self, id: MessageType, name: &'static str, frame: u64, ts: TimestampNs, cap: usize) {
        self.last_ts = self.last_ts.max(ts);
        if self.events.len() < cap {
            self.events.push((ts, frame, name));
        } else {
            self.events_dropped += 1;
        }
        match id {
            MessageType::CALL_DELIVERED_EVENT => {
                self.delivered.get_or_insert(ts);
            }
            MessageType::CALL_ESTABLISHED_EVENT => {
                self.established.get_or_insert(ts);
            }
            MessageType::CALL_HELD_EVENT => {
                self.held_since.get_or_insert(ts);
            }
            MessageType::CALL_RETRIEVED_EVENT => {
                if let Some(h) = self.held_since.take() {
                    self.hold_ns += ts - h;
                }
            }
            MessageType::CALL_CLEARED_EVENT | MessageType::CALL_CONNECTION_CLEARED_EVENT => {
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
            conns: vec![conn],
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

impl CallTables {
    /// Calls still live when their connection ended.
    pub(crate) fn conn_end(
        &mut self,
        settings: &Settings,
        findings: &mut Findings,
        conn: ConnId,
        calls: ConnCalls,
        ts: TimestampNs,
    ) {
        for call in calls.into_sorted() {
            self.finish(settings, findings, conn, call, ts, false);
        }
    }
}

/// What a message does to the calls it names, with what the settings ask to keep.
struct CallMsg<'a, 'm, 'f> {
    m: &'a Msg<'m, 'f>,
    /// Events kept per call (0 without summaries: calls are followed for the rules only).
    cap_events: usize,
    keep_vars: bool,
    summaries: bool,
    /// The call ids the message belongs to matter only to the timeline.
    keep_aliases: bool,
    /// An event of a session whose call states are followed ([`callstate::tracks_calls`]).
    tracking: bool,
}

/// Calls for one message. Returns the call ids of the call the message belongs to (for
/// the timeline).
#[inline(always)]
pub(crate) fn call_message(cx: CallCtx<'_>, c: &Conn, calls: &mut ConnCalls, m: &Msg<'_, '_>) -> Vec<u32> {
    let mut aliases = Vec::new();
    let Some(spec) = m.d.spec else {
        return aliases;
    };
    let is_event = spec.role == Role::Event && m.flow.dir == Direction::ToClient;
    let is_request = spec.role == Role::Request && m.flow.dir == Direction::ToServer;
    let call_related = is_request || (is_event && is_client_events(spec.service));
    if !call_related {
        return aliases;
    }
    let summaries = cx.settings.call_summaries;
    let cm = CallMsg {
        m,
        cap_events: if summaries { cx.settings.max_events_per_call } else { 0 },
        keep_vars: summaries,
        summaries,
        keep_aliases: cx.settings.timeline.is_some(),
        tracking: is_event && callstate::tracks_calls(c),
    };
    let (d, id, name, fr, ts) = (m.d, m.id, m.name, m.fr, m.ts);
    if cm.tracking && callstate::may_forget(id) {
        let periph = peripheral(d);
        calls.forget(periph, &callstate::forgets(id, d));
    }
    // Conference and transfer name the calls by Primary/Secondary call id.
    let call_id = fixed_num(d, field::ConnectionCallID);
    if is_event && call_id.is_none() {
        for n in [field::PrimaryCallID, field::SecondaryCallID] {
            let Some(cid) = fixed_num(d, n).filter(|&v| v != NULL_ID) else {
                continue;
            };
            let periph = peripheral(d);
            for (g, i) in calls.with_id(periph, cid as u32) {
                let call = &mut calls.live.get_mut(&g).expect("live group").calls[i];
                call.record(id, name, fr, ts, cm.cap_events);
                if cm.keep_aliases {
                    aliases.extend(call.ids.iter().copied());
                }
            }
        }
        return aliases;
    }
    let Some(key) = call_key(d, m.frame.bytes, call_id, false) else {
        return aliases;
    };
    // Exact key, or the live call with the same peripheral and call id when the message
    // does not carry the device.
    if is_request {
        let mut grown = 0;
        if let Some((_, call)) = calls.find_mut(&key) {
            call.record(id, name, fr, ts, cm.cap_events);
            if id == MessageType::SET_CALL_DATA_REQ {
                call.data_set = true;
                if cm.keep_vars {
                    let before = call.vars_held;
                    call_vars(d, m.frame.bytes, call);
                    grown = call.vars_held.wrapping_sub(before);
                }
            }
            if cm.keep_aliases {
                aliases.extend(call.ids.iter().copied());
            }
        }
        calls.vars_bytes = calls.vars_bytes.wrapping_add(grown);
        return aliases;
    }
    if id == MessageType::BEGIN_CALL_EVENT {
        begin(cx, calls, &cm, key, &mut aliases);
    } else {
        call_event(cx, c, calls, &cm, key, &mut aliases);
    }
    aliases
}

/// BEGIN_CALL_EVENT: a new live call (or a duplicate).
fn begin(
    cx: CallCtx<'_>,
    calls: &mut ConnCalls,
    cm: &CallMsg<'_, '_, '_>,
    key: KeyRef<'_>,
    aliases: &mut Vec<u32>,
) {
    let m = cm.m;
    let (id, name, fr, ts, conn) = (m.id, m.name, m.fr, m.ts, m.flow.conn);
    let f = cx.findings;
    if let Some((_, call)) = calls.find_mut(&key) {
        let prev_frame = call.begin_frame.unwrap_or(call.first_frame);
        let k = &call.key;
        let cause = Cause::new(Some(name), "second BEGIN_CALL_EVENT for a live call");
        f.report("call-begin-duplicate", Some(conn), &[prev_frame, fr], ts, cause, || {
            (format!("second BEGIN_CALL_EVENT for {k}"), k.subject(Some(name)))
        });
        call.record(id, name, fr, ts, cm.cap_events);
        if cm.keep_aliases {
            aliases.extend(call.ids.iter().copied());
        }
    } else if calls.live_n >= cx.settings.max_live_calls {
        f.limit("max_live_calls", Some(conn), fr, ts);
    } else {
        cx.calls.ended.remove(conn, &key);
        let key = key.to_key();
        let seq = cx.calls.next_seq;
        cx.calls.next_seq += 1;
        let mut call = Call::new(seq, key, fr, ts);
        call.begin_frame = Some(fr);
        call.record(id, name, fr, ts, cm.cap_events);
        if cm.keep_vars {
            call_vars(m.d, m.frame.bytes, &mut call);
        }
        if cm.keep_aliases {
            aliases.extend(call.ids.iter().copied());
        }
        calls.put(call);
    }
}

/// Any other call event: the live call it names (begun here when its BEGIN_CALL_EVENT was
/// not seen), renamed by CALL_DATA_UPDATE_EVENT, ended by END_CALL_EVENT.
fn call_event(
    cx: CallCtx<'_>,
    c: &Conn,
    calls: &mut ConnCalls,
    cm: &CallMsg<'_, '_, '_>,
    key: KeyRef<'_>,
    aliases: &mut Vec<u32>,
) {
    let m = cm.m;
    let (d, id, name, fr, ts, conn) = (m.d, m.id, m.name, m.fr, m.ts, m.flow.conn);
    let f = cx.findings;
    let group = (key.peripheral, key.call_id);
    let live_n = calls.live_n;
    let (i, g) = match calls.find_group(&key) {
        Some(found) => found,
        None => {
            if cx.calls.ended.contains(conn, &key) {
                let key = key.to_key();
                let cause = Cause::new(Some(name), "after the call's END_CALL_EVENT");
                f.report("call-event-after-end", Some(conn), &[fr], ts, cause, || {
                    (format!("{name} for {key} after its END_CALL_EVENT"), key.subject(Some(name)))
                });
                aliases.push(key.call_id);
                return;
            }
            let key = key.to_key();
            let monitor = fixed_num(d, field::MonitorID).unwrap_or(0);
            let check = c.complete(1)
                && c.call_msg_mask.is_some_and(|m| m & BEGIN_CALL_MASK != 0)
                && (monitor == 0 || monitor == NULL_ID)
                && d.number_of(field::EventCause) != Some(u64::from(CEC_CALL_PARTY_UPDATE_IND));
            if check {
                let cause = Cause::new(Some(name), "for a call whose BEGIN_CALL_EVENT was not sent");
                f.report("call-event-before-begin", Some(conn), &[fr], ts, cause, || {
                    (
                        format!("{name} for {key}, whose BEGIN_CALL_EVENT was not sent"),
                        key.subject(Some(name)),
                    )
                });
            }
            if live_n >= cx.settings.max_live_calls {
                f.limit("max_live_calls", Some(conn), fr, ts);
                aliases.push(key.call_id);
                return;
            }
            let seq = cx.calls.next_seq;
            cx.calls.next_seq += 1;
            let i = calls.put(Call::new(seq, key, fr, ts));
            (i, calls.live.get_mut(&group).expect("live group"))
        }
    };
    let call = &mut g.calls[i];
    call.record(id, name, fr, ts, cm.cap_events);
    if cm.tracking && !callstate::may_forget(id) {
        // The connection's device, if the event carries it (an empty one is a device).
        let has_device = !key.device.is_empty() || floating(d, field::ConnectionDeviceID).is_some();
        callstate::event(&mut g.state, m, key.dev_type, &key.device, has_device);
    }
    let mut rekey = None;
    // The change in the call's variables (wrapping: they may shrink), added to the
    // connection's total before the call leaves the table or the borrow ends.
    let mut calls_grown = 0usize;
    if id == MessageType::CALL_DATA_UPDATE_EVENT {
        if cm.keep_vars {
            let before = call.vars_held;
            call_vars(d, m.frame.bytes, call);
            calls_grown = call.vars_held.wrapping_sub(before);
        }
        rekey = call_key(d, m.frame.bytes, fixed_num(d, field::NewConnectionCallID), true)
            .map(|nk| CallKey { peripheral: call.key.peripheral, ..nk.to_key() });
    }
    if let Some(nk) = rekey {
        // Under its new identification (replacing a live call that had it). A new device
        // under the same call id keeps the call's state (a new call id dropped it).
        let same_group = (nk.peripheral, nk.call_id) == group;
        let state = if same_group { g.state.take() } else { None };
        calls.vars_bytes = calls.vars_bytes.wrapping_add(calls_grown);
        let mut call = calls.take(group, i);
        add_id(&mut call.ids, nk.call_id);
        call.key = nk;
        if cm.keep_aliases {
            aliases.extend(call.ids.iter().copied());
        }
        calls.put(call);
        if let (Some(state), Some(g)) = (state, calls.live.get_mut(&group)) {
            g.state = Some(state);
        }
    } else if id == MessageType::END_CALL_EVENT {
        calls.vars_bytes = calls.vars_bytes.wrapping_add(calls_grown);
        let mut call = calls.take(group, i);
        if cm.keep_aliases {
            aliases.extend(call.ids.iter().copied());
        }
        call.end_frame = Some(fr);
        let remember = cx.settings.max_ended_calls;
        cx.calls.ended.insert(conn, &call.key, remember);
        if cm.summaries {
            cx.calls.finish(cx.settings, f, conn, call, ts, true);
        }
    } else {
        if cm.keep_aliases {
            aliases.extend(call.ids.iter().copied());
        }
        calls.vars_bytes = calls.vars_bytes.wrapping_add(calls_grown);
    }
}

/// The service of the call events (`MessageSpec::service`).
const CLIENT_EVENTS: &str = "Client Events";

/// Whether a message's service is [`CLIENT_EVENTS`]: the spec's strings are normally the
/// same string as this one, so the bytes are compared only when the addresses differ.
#[inline(always)]
fn is_client_events(service: &'static str) -> bool {
    std::ptr::eq(service, CLIENT_EVENTS) || service == CLIENT_EVENTS
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

#[cfg(test)]
mod ended_tests {
    use super::*;

    #[test]
    fn floating_only_fields_are_in_no_fixed_part() {
        for m in crate::cti::spec::messages() {
            for f in m.fixed {
                assert!(!FLOATING_ONLY.contains(&f.id), "{} has {} in its fixed part", m.name, f.id.name());
            }
        }
    }

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
