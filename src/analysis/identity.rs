//! Who a session is: its ClientID and, for an agent desktop, its agent (AgentID, extension,
//! instrument), learnt from the OPEN_REQ, the OPEN_CONF and the agent events and confirms on
//! the session. Shared by the analysis (findings, `timeline --agent`, `stats`) and by
//! `decode --agent`, so that both attribute the same messages to an agent.
//!
//! A desktop session serves one agent: its requests (SET_AGENT_STATE_REQ, call control) need
//! not carry an AgentID, and belong to that agent all the same. A bridge (All Events) or a
//! Peripheral Monitor session sees many agents and has no agent of its own.

use crate::cti::decode::Decoded;
use crate::cti::spec::fields::field;
use crate::cti::spec::values::service_mask;
use crate::cti::spec::{FieldId, MessageType};
use crate::pipeline::Direction;

/// Services that make a session see many agents.
const MANY_AGENTS: u32 = service_mask::CTI_SERVICE_ALL_EVENTS | service_mask::CTI_SERVICE_PERIPHERAL_MONITOR;

/// A session's identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub client_id: Option<String>,
    pub agent_id: Option<String>,
    pub extension: Option<String>,
    pub instrument: Option<String>,
    /// ServicesRequested of the OPEN_REQ, else ServicesGranted of the OPEN_CONF.
    pub services: Option<u32>,
}

/// Non-empty text of a field.
fn text(d: &Decoded, bytes: &[u8], id: FieldId) -> Option<String> {
    d.text_of(bytes, id).filter(|t| !t.is_empty()).map(|t| t.into_owned())
}

fn fill(slot: &mut Option<String>, d: &Decoded, bytes: &[u8], id: FieldId) {
    if slot.is_none() {
        *slot = text(d, bytes, id);
    }
}

impl Identity {
    /// Whether a message of this type can teach the identity anything (a cheap test before
    /// [`Identity::observe`]).
    #[inline]
    pub fn teaches(id: MessageType) -> bool {
        matches!(
            id,
            MessageType::OPEN_REQ
                | MessageType::OPEN_CONF
                | MessageType::AGENT_STATE_EVENT
                | MessageType::QUERY_AGENT_STATE_CONF
        )
    }

    /// Learn from a message of the session (`bytes` is the message the fields point into).
    pub fn observe(&mut self, dir: Direction, id: MessageType, d: &Decoded, bytes: &[u8]) {
        match (id, dir) {
            (MessageType::OPEN_REQ, Direction::ToServer) => {
                fill(&mut self.client_id, d, bytes, field::ClientID);
                fill(&mut self.agent_id, d, bytes, field::AgentID);
                fill(&mut self.extension, d, bytes, field::AgentExtension);
                fill(&mut self.instrument, d, bytes, field::AgentInstrument);
                if let Some(s) = d.number_of(field::ServicesRequested) {
                    self.services = Some(s as u32);
                }
            }
            (MessageType::OPEN_CONF, Direction::ToClient) => {
                if self.services.is_none() {
                    self.services = d.number_of(field::ServicesGranted).map(|s| s as u32);
                }
                self.learn_agent(d, bytes);
            }
            (MessageType::AGENT_STATE_EVENT | MessageType::QUERY_AGENT_STATE_CONF, Direction::ToClient)
                if self.is_desktop() && (self.agent_id.is_none() || self.extension.is_none()) =>
            {
                self.learn_agent(d, bytes);
            }
            _ => {}
        }
    }

    fn learn_agent(&mut self, d: &Decoded, bytes: &[u8]) {
        fill(&mut self.agent_id, d, bytes, field::AgentID);
        fill(&mut self.extension, d, bytes, field::AgentExtension);
        fill(&mut self.instrument, d, bytes, field::AgentInstrument);
    }

    /// The session serves one agent: it was opened with an agent's id, extension or
    /// instrument, or with client events and neither All Events nor Peripheral Monitor
    /// service.
    pub fn is_desktop(&self) -> bool {
        if self.services.is_some_and(|s| s & MANY_AGENTS != 0) {
            return false;
        }
        self.agent_id.is_some()
            || self.extension.is_some()
            || self.instrument.is_some()
            || self.services.is_some_and(|s| s & service_mask::CTI_SERVICE_CLIENT_EVENTS != 0)
    }

    /// The agent the session belongs to, if it is a desktop whose agent is known: its
    /// AgentID, else its extension, else its instrument.
    pub fn agent(&self) -> Option<&str> {
        if !self.is_desktop() {
            return None;
        }
        self.agent_id.as_deref().or(self.extension.as_deref()).or(self.instrument.as_deref())
    }

    /// Whether `who` names this session's agent (its AgentID, extension or instrument).
    pub fn is_agent(&self, who: &str) -> bool {
        self.is_desktop()
            && [&self.agent_id, &self.extension, &self.instrument].iter().any(|s| s.as_deref() == Some(who))
    }

    /// How a sentence names the session's agent: `agent 1001 (extension 5001)`.
    pub fn describe_agent(&self) -> Option<String> {
        if !self.is_desktop() {
            return None;
        }
        match (&self.agent_id, &self.extension, &self.instrument) {
            (Some(a), Some(e), _) => Some(format!("agent {a} (extension {e})")),
            (Some(a), None, _) => Some(format!("agent {a}")),
            (None, Some(e), _) => Some(format!("extension {e}")),
            (None, None, Some(i)) => Some(format!("instrument {i}")),
            (None, None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desktop_by_agent_or_by_services() {
        let mut i = Identity::default();
        assert!(!i.is_desktop());
        i.services = Some(service_mask::CTI_SERVICE_CLIENT_EVENTS | service_mask::CTI_SERVICE_CLIENT_CONTROL);
        assert!(i.is_desktop());
        assert_eq!(i.agent(), None);
        i.extension = Some("5001".into());
        assert_eq!(i.agent(), Some("5001"));
        i.agent_id = Some("1001".into());
        assert_eq!(i.agent(), Some("1001"));
        assert!(i.is_agent("5001") && i.is_agent("1001") && !i.is_agent("1002"));
        assert_eq!(i.describe_agent().as_deref(), Some("agent 1001 (extension 5001)"));
        // A bridge that names an agent in its OPEN_REQ is still a bridge.
        i.services = Some(service_mask::CTI_SERVICE_ALL_EVENTS);
        assert!(!i.is_desktop());
        assert_eq!(i.agent(), None);
        assert!(!i.is_agent("1001"));
    }
}
