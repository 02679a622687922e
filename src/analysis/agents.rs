//! Agents: their states from AGENT_STATE_EVENT (time in each state, skill groups,
//! extension) and the outcome of the agent requests they made, for `stats`.

use super::calls::{fixed_num, floating, text_utf8};
use super::findings::Findings;
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

impl AgentTables {
    /// An AGENT_STATE_EVENT: its agent (by AgentID, else the session's AgentID, else the
    /// extension) is counted against `max_agents` and, with summaries, its state recorded.
    pub(crate) fn message(&mut self, settings: &Settings, f: &mut Findings, c: &Conn, m: &Msg<'_, '_>) {
        if m.id != MessageType::AGENT_STATE_EVENT || m.flow.dir != Direction::ToClient {
            return;
        }
        let bytes = m.frame.bytes;
        // As UTF-8 bytes, the table's keys.
        let agent_id: Option<Cow<'_, [u8]>> = text_utf8(m.d, bytes, field::AgentID)
            .filter(|s| !s.is_empty())
            .or_else(|| c.agent_id.as_deref().map(|a| Cow::Borrowed(a.as_bytes())))
            .or_else(|| {
                floating(m.d, field::AgentExtension)
                    .and_then(|f| f.text(bytes))
                    .or_else(|| c.agent_extension.as_deref().map(Cow::Borrowed))
                    .map(|e| Cow::Owned(format!("ext:{e}").into_bytes()))
            });
        let Some(aid) = agent_id else { return };
        let agents = &mut self.agents;
        if !agents.contains_key(&*aid) {
            if agents.len() >= settings.max_agents {
                f.limit("max_agents", Some(m.flow.conn), m.fr, m.ts);
            } else {
                let id = String::from_utf8_lossy(&aid).into_owned();
                agents.insert(Box::from(&*aid), Agent::new(id));
            }
        }
        if settings.call_summaries {
            if let Some(a) = agents.get_mut(&*aid) {
                agent_state(a, m, c, settings.max_states_per_agent);
            }
        }
    }

    /// The answer to an agent request (QUERY_AGENT_STATE_REQ, SET_AGENT_STATE_REQ), counted
    /// for its agent: positive when it is the request's own confirm.
    pub(crate) fn answer(&mut self, c: &Conn, m: &Msg<'_, '_>, p: &Pending) {
        if !matches!(p.req, MessageType::QUERY_AGENT_STATE_REQ | MessageType::SET_AGENT_STATE_REQ) {
            return;
        }
        let aid = p.agent.as_deref().or(c.agent_id.as_deref());
        if let Some(a) = aid.and_then(|aid| self.agents.get_mut(aid.as_bytes())) {
            let e = a.requests.entry(p.name).or_insert((0, 0));
            if m.d.spec.is_some_and(|s| Some(s.id) == p.confirm) {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }

    /// The capture ended at `end`: close the agents' current states.
    pub(crate) fn finish(&mut self, end: TimestampNs) {
        for a in self.agents.values_mut() {
            if let Some((s, since)) = a.current.take() {
                *a.time_in.entry(s).or_insert(0) += end - since;
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
            })
            .collect()
    }
}

/// What an AGENT_STATE_EVENT tells about its agent, for the agent's summary.
fn agent_state(a: &mut Agent, m: &Msg<'_, '_>, c: &Conn, max_states: usize) {
    let (d, bytes, ts, fr, conn) = (m.d, m.frame.bytes, m.ts, m.fr, m.flow.conn);
    let state: State = d.number_of(field::AgentState).map_or(Cow::Borrowed("?"), |v| {
        values::AGENT_STATE
            .name_of(v as u32)
            .map_or(Cow::Owned(v.to_string()), |n| Cow::Borrowed(n.strip_prefix("AGENT_STATE_").unwrap_or(n)))
    });
    a.peripheral = fixed_num(d, field::PeripheralID).map(|v| v as u32).or(a.peripheral);
    let ext = floating(d, field::AgentExtension).and_then(|f| f.text(bytes));
    if let Some(e) = ext.as_deref().or(c.agent_extension.as_deref()) {
        set_text(&mut a.extension, e);
    }
    let instrument = floating(d, field::AgentInstrument).and_then(|f| f.text(bytes));
    if let Some(i) = instrument.as_deref().or(c.agent_instrument.as_deref()) {
        set_text(&mut a.instrument, i);
    }
    a.conns.insert(conn);
    if let Some(sg) = fixed_num(d, field::SkillGroupNumber).filter(|&v| v != NULL_SKILL_GROUP) {
        a.skill_groups.insert(sg as u32);
    }
    for fl in d.fields.iter().filter(|x| x.meta.id == field::FltSkillGroupNumber) {
        if let Some(v) = fl.number().filter(|&v| v != NULL_SKILL_GROUP) {
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

/// Set `slot` to `text`, allocating only when it changes.
fn set_text(slot: &mut Option<String>, text: &str) {
    if slot.as_deref() != Some(text) {
        *slot = Some(text.to_string());
    }
}
