//! Agents: their states from AGENT_STATE_EVENT (time in each state, skill groups,
//! extension) and the outcome of the agent requests they made, for `stats`.

use super::calls::{fixed_num, floating, text_utf8};
use super::findings::Findings;
use super::record::{Record, StateInterval};
use super::settings::Settings;
use super::state::{Conn, Msg, Pending};
use super::types::AgentSummary;
use crate::cti::spec::fields::field;
use crate::cti::spec::values::skill_group;
use crate::cti::spec::{values, MessageType};
use crate::net::tcp::ConnId;
use crate::pipeline::Direction;
use crate::{FastMap, TimestampNs};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// A skill group number naming no skill group.
const NULL_SKILL_GROUP: u64 = skill_group::NULL_SKILL_GROUP as u64;

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
    /// The connection, frame and EventReasonCode of the message that reported the current
    /// state (for the interval rows of [`Record::AgentState`]).
    pub current_from: (ConnId, u64, Option<u32>),
    pub time_in: BTreeMap<State, i64>,
    pub skill_groups: BTreeSet<u32>,
    /// Request name -> outcomes.
    pub requests: BTreeMap<&'static str, RequestCounts>,
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
            current_from: (0, 0, None),
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
    /// Estimated bytes the agents hold: each agent, its state history and its sets of
    /// connections and skill groups. At most a quarter of `max_analysis_memory` ([`room`]).
    ///
    /// [`room`]: AgentTables::room
    pub bytes: usize,
}

/// Estimated bytes of one agent outside its history and sets: the record, its table slot
/// (twice, for the table's spare room), its AgentID as key and as text.
const AGENT_COST: usize = std::mem::size_of::<Agent>() + 2 * std::mem::size_of::<(Box<[u8]>, Agent)>() + 64;
/// Estimated bytes of one state in an agent's history.
const STATE_COST: usize = std::mem::size_of::<(TimestampNs, u64, ConnId, State)>();
/// Estimated bytes of one entry of an agent's set of connections or skill groups.
const SET_COST: usize = 24;

/// What an agent holds in its history and sets, as counted by [`AgentTables::bytes`].
fn held(a: &Agent) -> usize {
    a.states.len() * STATE_COST + (a.conns.len() + a.skill_groups.len()) * SET_COST
}

impl AgentTables {
    /// Whether the agents may hold more: at most a quarter of `max_analysis_memory`. Past
    /// it no agent is added and no agent's history or sets grow (its state changes are
    /// still counted and its time in each state summed); reported once (`analysis-limit`).
    fn room(&self, settings: &Settings, f: &mut Findings, at: (ConnId, u64, TimestampNs)) -> bool {
        if self.bytes <= settings.max_analysis_memory / 4 {
            return true;
        }
        f.limit("max_analysis_memory", Some(at.0), at.1, at.2);
        false
    }

    /// The agent with this AgentID (by its UTF-8), added if the table has room.
    fn agent_mut(
        &mut self,
        settings: &Settings,
        f: &mut Findings,
        aid: &[u8],
        at: (ConnId, u64, TimestampNs),
    ) -> Option<&mut Agent> {
        if !self.agents.contains_key(aid) {
            if self.agents.len() >= settings.max_agents {
                f.limit("max_agents", Some(at.0), at.1, at.2);
                return None;
            }
            if !self.room(settings, f, at) {
                return None;
            }
            self.bytes += AGENT_COST + 2 * aid.len();
            let id = String::from_utf8_lossy(aid).into_owned();
            self.agents.insert(Box::from(aid), Agent::new(id));
        }
        self.agents.get_mut(aid)
    }

    /// Let `change` record what a message tells of the agent with this AgentID (added if
    /// the table has room), given the most states its history may hold and whether its
    /// sets may grow: neither grows once the agents hold their share ([`Self::room`]). What
    /// its history and sets grew by is counted in [`Self::bytes`].
    fn update(
        &mut self,
        settings: &Settings,
        f: &mut Findings,
        aid: &[u8],
        at: (ConnId, u64, TimestampNs),
        change: impl FnOnce(&mut Agent, usize, bool),
    ) {
        let grow = self.room(settings, f, at);
        let max = if grow { settings.max_states_per_agent } else { 0 };
        if let Some(a) = self.agent_mut(settings, f, aid, at) {
            let before = held(a);
            change(a, max, grow);
            let grown = held(a) - before;
            self.bytes += grown;
        }
    }

    /// A message about agents' states: AGENT_STATE_EVENT (its agent by AgentID, else the
    /// session's AgentID, else the extension) is counted against `max_agents` and, with
    /// summaries, its state recorded; with summaries, QUERY_AGENT_STATE_CONF (the agent the
    /// query named, else the session's) and AGENT_TEAM_CONFIG_EVENT (each member's state)
    /// record states too.
    pub(crate) fn message(
        &mut self,
        settings: &Settings,
        f: &mut Findings,
        c: &Conn,
        m: &Msg<'_, '_>,
        matched: Option<&Pending>,
        mut out: Option<&mut Vec<Record>>,
    ) {
        if m.flow.dir != Direction::ToClient {
            return;
        }
        match m.id {
            MessageType::AGENT_STATE_EVENT => {}
            MessageType::QUERY_AGENT_STATE_CONF if settings.call_summaries => {
                let aid =
                    matched.and_then(|p| p.agent.clone()).or_else(|| c.identity.agent().map(str::to_string));
                let state = m.d.number_of(field::AgentState);
                if let (Some(aid), Some(v)) = (aid, state) {
                    self.update(settings, f, aid.as_bytes(), (m.flow.conn, m.fr, m.ts), |a, max, grow| {
                        if grow {
                            a.conns.insert(m.flow.conn);
                        }
                        let at = (m.ts, m.fr, m.flow.conn, None);
                        learn_state(a, state_name(v), at, max, out.as_deref_mut());
                    });
                }
                return;
            }
            MessageType::AGENT_TEAM_CONFIG_EVENT if settings.call_summaries => {
                let bytes = m.frame.bytes;
                let ids = m.d.fields.iter().filter(|x| x.meta.id == field::AtcAgentID);
                let states = m.d.fields.iter().filter(|x| x.meta.id == field::AtcAgentState);
                for (id, st) in ids.zip(states) {
                    let (Some(aid), Some(v)) = (id.text(bytes), st.number()) else { continue };
                    if aid.is_empty() {
                        continue;
                    }
                    self.update(settings, f, aid.as_bytes(), (m.flow.conn, m.fr, m.ts), |a, max, _| {
                        let at = (m.ts, m.fr, m.flow.conn, None);
                        learn_state(a, state_name(v), at, max, out.as_deref_mut());
                    });
                }
                return;
            }
            _ => return,
        }
        let bytes = m.frame.bytes;
        // As UTF-8 bytes, the table's keys.
        let agent_id: Option<Cow<'_, [u8]>> = text_utf8(m.d, bytes, field::AgentID)
            .filter(|s| !s.is_empty())
            .or_else(|| c.identity.agent_id.as_deref().map(|a| Cow::Borrowed(a.as_bytes())))
            .or_else(|| {
                floating(m.d, field::AgentExtension)
                    .and_then(|f| f.text(bytes))
                    .or_else(|| c.identity.extension.as_deref().map(Cow::Borrowed))
                    .map(|e| Cow::Owned(format!("ext:{e}").into_bytes()))
            });
        let Some(aid) = agent_id else { return };
        if !settings.call_summaries {
            // Only counted against max_agents: one lookup.
            if !self.agents.contains_key(&*aid) {
                self.agent_mut(settings, f, &aid, (m.flow.conn, m.fr, m.ts));
            }
            return;
        }
        self.update(settings, f, &aid, (m.flow.conn, m.fr, m.ts), |a, max, grow| {
            agent_state(a, m, c, max, grow, out)
        });
    }

    /// The outcome of a request made by an agent (its own AgentID, else the desktop session's
    /// agent): answered by its confirm (ok), by a failure (failed), or never (`None`).
    /// OPEN_REQ, HEARTBEAT_REQ and CLOSE_REQ are the session's, not the agent's.
    pub(crate) fn request_outcome(
        &mut self,
        settings: &Settings,
        f: &mut Findings,
        c: &Conn,
        p: &Pending,
        answer: Option<MessageType>,
        at: (u64, TimestampNs),
    ) {
        let session =
            matches!(p.req, MessageType::HEARTBEAT_REQ | MessageType::OPEN_REQ | MessageType::CLOSE_REQ);
        if session || !settings.call_summaries {
            return;
        }
        let Some(aid) = p.agent.clone().or_else(|| c.identity.agent().map(str::to_string)) else { return };
        self.update(settings, f, aid.as_bytes(), (c.id, at.0, at.1), |a, _, grow| {
            if grow {
                a.conns.insert(c.id);
            }
            let e = a.requests.entry(p.name).or_default();
            match answer {
                Some(id) if Some(id) == p.confirm => e.ok += 1,
                Some(_) => e.failed += 1,
                None => e.unanswered += 1,
            }
        });
    }

    /// The capture ended at `end`: close the agents' current states (kept as their final
    /// state).
    /// With `out`, each agent's current state is handed out as an interval that did not end.
    pub(crate) fn finish(&mut self, end: TimestampNs, out: Option<&mut Vec<Record>>) {
        for a in self.agents.values_mut() {
            if let Some((s, since)) = &a.current {
                *a.time_in.entry(s.clone()).or_insert(0) += (end - since).max(0);
            }
        }
        if let Some(out) = out {
            let mut agents: Vec<&Agent> = self.agents.values().filter(|a| a.current.is_some()).collect();
            agents.sort_unstable_by(|x, y| x.id.cmp(&y.id));
            for a in agents {
                if let Some((s, since)) = &a.current {
                    out.push(interval(a, s, *since, None, end));
                }
            }
        }
    }

    /// The agents' summaries, sorted by AgentID.
    pub(crate) fn into_summaries(self) -> Vec<AgentSummary> {
        let mut agents: Vec<_> = self.agents.into_values().collect();
        agents.sort_unstable_by(|x, y| x.id.cmp(&y.id));
        agents
            .into_iter()
            .map(|ag| AgentSummary {
                id: ag.id,
                peripheral: ag.peripheral,
                extension: ag.extension,
                instrument: ag.instrument,
                conns: ag.conns.into_iter().collect(),
                states: ag
                    .states
                    .into_iter()
                    .map(|(ts, fr, conn, s)| (ts, fr, conn, s.into_owned()))
                    .collect(),
                states_dropped: ag.states_dropped,
                time_in_state: ag.time_in.into_iter().map(|(s, ns)| (s.into_owned(), ns)).collect(),
                skill_groups: ag.skill_groups.into_iter().collect(),
                requests: ag.requests,
                final_state: ag.current.map(|(s, _)| s.into_owned()),
            })
            .collect()
    }
}

/// How many requests of one type an agent made ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Answered by the request's own confirm.
    pub ok: u64,
    /// Answered by FAILURE_CONF, CONTROL_FAILURE_CONF or another confirm.
    pub failed: u64,
    /// Never answered (within the request timeout, or before the session ended).
    pub unanswered: u64,
}

/// An agent state as printed: its name without `AGENT_STATE_`, or its number.
fn state_name(v: u64) -> State {
    values::AGENT_STATE
        .name_of(v as u32)
        .map_or(Cow::Owned(v.to_string()), |n| Cow::Borrowed(n.strip_prefix("AGENT_STATE_").unwrap_or(n)))
}

/// The interval of state `s`, reported at `since`, that ends at `end` (at frame `end_frame`,
/// or with the capture).
fn interval(a: &Agent, s: &State, since: TimestampNs, end_frame: Option<u64>, end: TimestampNs) -> Record {
    let (conn, start_frame, reason_code) = a.current_from;
    Record::AgentState(StateInterval {
        agent: a.id.clone(),
        peripheral: a.peripheral,
        state: s.to_string(),
        conn,
        start_frame,
        start_ts: since,
        reason_code,
        end_frame,
        end_ts: end,
        ended: end_frame.is_some(),
    })
}

/// A state learnt for an agent at `at` (time, frame, connection, EventReasonCode), recorded
/// when it differs from the current one; with `out`, the interval it closes is handed out.
fn learn_state(
    a: &mut Agent,
    state: State,
    at: (TimestampNs, u64, ConnId, Option<u32>),
    max_states: usize,
    out: Option<&mut Vec<Record>>,
) {
    let (ts, fr, conn, reason) = at;
    let changed = a.current.as_ref().is_none_or(|(s, _)| *s != state);
    if changed {
        if let Some(out) = out {
            if let Some((s, since)) = &a.current {
                out.push(interval(a, s, *since, Some(fr), ts));
            }
            a.current_from = (conn, fr, reason);
        }
        if let Some((s, since)) = a.current.take() {
            *a.time_in.entry(s).or_insert(0) += (ts - since).max(0);
        }
        a.current = Some((state.clone(), ts));
        if a.states.len() < max_states {
            a.states.push((ts, fr, conn, state));
        } else {
            a.states_dropped += 1;
        }
    }
}

/// What an AGENT_STATE_EVENT tells about its agent, for the agent's summary.
/// With `grow` false its sets of connections and skill groups are not added to.
fn agent_state(
    a: &mut Agent,
    m: &Msg<'_, '_>,
    c: &Conn,
    max_states: usize,
    grow: bool,
    out: Option<&mut Vec<Record>>,
) {
    let (d, bytes, ts, fr, conn) = (m.d, m.frame.bytes, m.ts, m.fr, m.flow.conn);
    let state: State = d.number_of(field::AgentState).map_or(Cow::Borrowed("?"), state_name);
    a.peripheral = fixed_num(d, field::PeripheralID).map(|v| v as u32).or(a.peripheral);
    let ext = floating(d, field::AgentExtension).and_then(|f| f.text(bytes));
    if let Some(e) = ext.as_deref().or(c.identity.extension.as_deref()) {
        set_text(&mut a.extension, e);
    }
    let instrument = floating(d, field::AgentInstrument).and_then(|f| f.text(bytes));
    if let Some(i) = instrument.as_deref().or(c.identity.instrument.as_deref()) {
        set_text(&mut a.instrument, i);
    }
    if grow {
        a.conns.insert(conn);
        if let Some(sg) = fixed_num(d, field::SkillGroupNumber).filter(|&v| v != NULL_SKILL_GROUP) {
            a.skill_groups.insert(sg as u32);
        }
        // FltSkillGroupNumber is an INT: its NULL_SKILL_GROUP is -1, read as its 32 bits.
        for fl in d.fields.iter().filter(|x| x.meta.id == field::FltSkillGroupNumber) {
            if let Some(v) = fl.number().map(|v| v as u32).filter(|&v| u64::from(v) != NULL_SKILL_GROUP) {
                a.skill_groups.insert(v);
            }
        }
    }
    let reason = out.as_ref().and_then(|_| fixed_num(d, field::EventReasonCode)).map(|v| v as u32);
    learn_state(a, state, (ts, fr, conn, reason), max_states, out);
}

/// Set `slot` to `text`, allocating only when it changes.
fn set_text(slot: &mut Option<String>, text: &str) {
    if slot.as_deref() != Some(text) {
        *slot = Some(text.to_string());
    }
}
