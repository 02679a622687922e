//! Sessions of one client linked into one story: a session lost without CLOSE_REQ (reset,
//! closed, a FAILURE_EVENT, heartbeats left unanswered) and the next session the same client
//! opens (same ClientID, agent or instrument), on the same server (a reconnect) or on the other
//! side of a duplexed CTI Server pair (a failover), with the time between them and the
//! connection attempts refused meanwhile.
//!
//! Servers are named by their side when they use the CTI Server's default ports: 42027 is
//! side A and 43027 side B (the defaults of a duplexed Peripheral Gateway); other ports are
//! named by address only.

use super::findings::{Cause, Findings};
use super::state::{Conn, OpenState};
use crate::net::tcp::{ConnEnd, ConnId};
use crate::pipeline::Direction;
use crate::TimestampNs;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

/// Lost sessions remembered, the oldest forgotten first.
const MAX_LOST: usize = 4_096;

/// A session that ended without CLOSE_REQ.
#[derive(Debug)]
struct Lost {
    conn: ConnId,
    client_ip: Option<IpAddr>,
    server: Option<SocketAddr>,
    client_id: Option<String>,
    agent: Option<String>,
    instrument: Option<String>,
    /// How it is named in a sentence: `desktop of agent 1001 (extension 5001)`.
    who: String,
    frame: u64,
    ts: TimestampNs,
    /// What happened: `after 3 unanswered heartbeats, reset by the client`.
    why: String,
    /// Connection attempts from the client refused since.
    refused: u32,
    /// The MonitorIDs the session had (up to [`MAX_MONITORS`]).
    monitors: Vec<u32>,
}

/// MonitorIDs remembered per lost session.
const MAX_MONITORS: usize = 256;

/// The links between sessions.
#[derive(Debug, Default)]
pub(crate) struct Links {
    lost: VecDeque<Lost>,
    /// Open sessions that reopened a lost one: (new connection, lost connection, the lost
    /// session's MonitorIDs), at most [`MAX_LOST`], the oldest forgotten first.
    reopened: VecDeque<(ConnId, ConnId, Vec<u32>)>,
    /// Connection attempts that carried no CTI: refused (reset by the server before any
    /// data), or closed after the handshake without data.
    pub refused: u64,
    pub empty: u64,
}

/// `side A (10.10.0.1:42027)`, or the address.
pub(crate) fn server_name(s: Option<SocketAddr>) -> String {
    match s {
        Some(a) if a.port() == 42027 => format!("side A {a}"),
        Some(a) if a.port() == 43027 => format!("side B {a}"),
        Some(a) => format!("server {a}"),
        None => "the server".to_string(),
    }
}

impl Links {
    /// A connection ended. One that carried no CTI is an attempt (refused when the server
    /// reset it), counted for the lost session of its client; a session that ended without
    /// CLOSE_REQ is remembered until the client opens another.
    pub fn ended(
        &mut self,
        c: &Conn,
        end: Option<ConnEnd>,
        by: Option<Direction>,
        frame: u64,
        ts: TimestampNs,
    ) {
        if let Some(i) = self.reopened.iter().position(|r| r.0 == c.id) {
            self.reopened.remove(i);
        }
        if !c.carried_cti() {
            match end {
                Some(ConnEnd::Rst) if by == Some(Direction::ToClient) => {
                    self.refused += 1;
                    let ip = c.client.map(|a| a.ip());
                    if let Some(l) =
                        self.lost.iter_mut().rev().find(|l| l.client_ip.is_some() && l.client_ip == ip)
                    {
                        l.refused += 1;
                    }
                }
                Some(ConnEnd::Rst | ConnEnd::Fin) => self.empty += 1,
                _ => {}
            }
            return;
        }
        let closed = c.close_req.is_some() || c.close_conf.is_some();
        let ended = matches!(end, Some(ConnEnd::Rst | ConnEnd::Fin | ConnEnd::Reused));
        if closed || !ended || c.open == OpenState::Refused {
            return;
        }
        let id = &c.identity;
        let mut why = Vec::new();
        if c.heartbeats_unanswered > 0 {
            let n = c.heartbeats_unanswered;
            why.push(format!("after {n} unanswered heartbeat{}", if n == 1 { "" } else { "s" }));
        }
        if let Some(fr) = c.failure_event {
            why.push(format!("after a FAILURE_EVENT (frame {fr})"));
        }
        let by = by.map_or("one side", Direction::sender);
        why.push(match end {
            Some(ConnEnd::Rst) => format!("reset by the {by}"),
            Some(ConnEnd::Fin) => format!("closed by the {by} without CLOSE_REQ"),
            _ => "replaced by a new connection on the same ports".to_string(),
        });
        let who = match (id.describe_agent(), &id.client_id) {
            (Some(a), Some(cid)) if a.ends_with(')') => {
                format!("desktop of {}, ClientID {cid})", a.trim_end_matches(')'))
            }
            (Some(a), Some(cid)) => format!("desktop of {a} (ClientID {cid})"),
            (Some(a), None) => format!("desktop of {a}"),
            (None, Some(cid)) => format!("client {cid}"),
            (None, None) => match c.client {
                Some(a) => format!("client {a}"),
                None => return,
            },
        };
        if self.lost.len() >= MAX_LOST {
            self.lost.pop_front();
        }
        self.lost.push_back(Lost {
            conn: c.id,
            client_ip: c.client.map(|a| a.ip()),
            server: c.server,
            client_id: id.client_id.clone(),
            agent: id.agent().map(str::to_string),
            instrument: id.instrument.clone(),
            who,
            frame,
            ts,
            why: why.join(", "),
            refused: 0,
            monitors: c.monitors.iter().copied().take(MAX_MONITORS).collect(),
        });
    }

    /// A session was opened (its OPEN_REQ): if the same client lost one before, the two are
    /// linked by a `session-reconnect` finding. Returns the earlier session and the time
    /// between them.
    pub fn opened(&mut self, f: &mut Findings, c: &Conn, fr: u64, ts: TimestampNs) -> Option<(ConnId, i64)> {
        let id = &c.identity;
        let agent = id.agent();
        let same = |l: &Lost| {
            (l.client_id.is_some() && l.client_id == id.client_id)
                || (agent.is_some() && l.agent.as_deref() == agent)
                || (l.instrument.is_some() && l.instrument == id.instrument)
        };
        let i = self.lost.iter().rposition(|l| l.conn != c.id && same(l))?;
        let mut l = self.lost.remove(i)?;
        if !l.monitors.is_empty() {
            if self.reopened.len() >= MAX_LOST {
                self.reopened.pop_front();
            }
            self.reopened.push_back((c.id, l.conn, std::mem::take(&mut l.monitors)));
        }
        // From the end of the lost session to the start of the new connection.
        let gap = c.first_ts.max(l.ts) - l.ts;
        let _ = ts;
        let failover = l.server.map(|s| s.ip()) != c.server.map(|s| s.ip())
            || l.server.map(|s| s.port()) != c.server.map(|s| s.port());
        let (what, reason) = if failover {
            ("failed over", "session lost, reopened on the other server")
        } else {
            ("reconnected", "session lost, reopened on the same server")
        };
        let cause = Cause::new(None, reason);
        f.report("session-reconnect", Some(c.id), &[l.frame, fr], ts, cause, || {
            let mut subject = c.subject(Some("OPEN_REQ"));
            subject.related_conn = Some(l.conn);
            subject.latency_ns = Some(gap);
            let refused = match l.refused {
                0 => String::new(),
                1 => " after 1 refused connection attempt".to_string(),
                n => format!(" after {n} refused connection attempts"),
            };
            let text = format!(
                "{} lost {} (connection {}) at {} {}; {what}: reopened on {} (connection {}) {} s later{refused}",
                l.who,
                server_name(l.server),
                l.conn,
                crate::time::format_time_of_day(l.ts, 3),
                l.why,
                server_name(c.server),
                c.id,
                crate::time::format_seconds(gap, 3),
            );
            (text, subject)
        });
        Some((l.conn, gap))
    }

    /// The lost session connection `conn` reopened, and the MonitorIDs it had (none: no
    /// such session, or it had no monitor).
    pub fn monitors_before(&self, conn: ConnId) -> Option<(ConnId, &[u32])> {
        self.reopened.iter().rev().find(|r| r.0 == conn).map(|r| (r.1, r.2.as_slice()))
    }
}
