//! Configuration acquisition: CONFIG_REQUEST_KEY_EVENT and CONFIG_REQUEST_EVENT answered,
//! CONFIG_BEGIN_EVENT / CONFIG_END_EVENT blocks paired, records in the guide's order.

use super::findings::{value_name, Findings};
use super::state::Msg;
use super::stats::StatsAcc;
use crate::cti::spec::fields::field;
use crate::cti::spec::values::config_end_status::{
    CONFIGEND_EMPTY, CONFIGEND_NO_SERVICE_PROVIDER, CONFIGEND_PARTIAL, CONFIGEND_SUCCESS,
};
use crate::cti::spec::{values, MessageType};
use crate::net::tcp::{ConnEnd, ConnId};
use crate::pipeline::Direction;
use crate::TimestampNs;

/// Latency samples kept for configuration requests (one or a few per session).
const CONFIG_LATENCY_SAMPLES: usize = 100_000;

/// The configuration records in the guide's acquisition order.
const RECORD_ORDER: [MessageType; 9] = [
    MessageType::CONFIG_SERVICE_EVENT,
    MessageType::CONFIG_SKILL_GROUP_EVENT,
    MessageType::CONFIG_AGENT_EVENT,
    MessageType::CONFIG_AGENT_SERVICE_EVENT,
    MessageType::CONFIG_DEVICE_EVENT,
    MessageType::CONFIG_CALL_TYPE_EVENT,
    MessageType::CONFIG_MRD_EVENT,
    MessageType::CONFIG_PERIPHERAL_EVENT,
    MessageType::CONFIG_AGENT_DESK_SETTINGS_EVENT,
];

/// Rank of a configuration record type in the guide's acquisition order (from 1).
fn config_rank(id: MessageType) -> Option<u8> {
    RECORD_ORDER.iter().position(|&t| t == id).map(|i| i as u8 + 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigReq {
    Key,
    Data,
}

impl ConfigReq {
    fn request(self) -> MessageType {
        match self {
            ConfigReq::Key => MessageType::CONFIG_REQUEST_KEY_EVENT,
            ConfigReq::Data => MessageType::CONFIG_REQUEST_EVENT,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        self.request().name_or_unknown()
    }
}

#[derive(Debug, Default)]
pub(crate) struct ConfigState {
    /// Outstanding configuration request: kind, frame, time, reported as unanswered.
    pub request: Option<(ConfigReq, u64, TimestampNs, bool)>,
    /// Open CONFIG_BEGIN_EVENT block: frame.
    pub block: Option<u64>,
    /// Highest record rank seen in the acquisition.
    pub rank: u8,
    pub order_reported: bool,
    /// The last CONFIG_END_EVENT was PARTIAL: its frame.
    pub partial: Option<u64>,
}

impl ConfigState {
    /// Whether message `id` concerns configuration acquisition ([`message`]): a
    /// configuration message, or any message while a request or a block is open.
    #[inline]
    pub fn involves(&self, id: MessageType) -> bool {
        self.request.is_some()
            || self.block.is_some()
            || (MessageType::CONFIG_REQUEST_KEY_EVENT..=MessageType::CONFIG_END_EVENT).contains(&id)
    }
}

/// What the acquisition needs to know of the connection: whether the server direction was
/// captured completely, and whether any of its bytes were lost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerSide {
    pub complete: bool,
    pub lost: bool,
}

/// Configuration acquisition, for a message it [involves](ConfigState::involves).
pub(crate) fn message(
    cfg: &mut ConfigState,
    server: ServerSide,
    f: &mut Findings,
    stats: &mut StatsAcc,
    m: &Msg<'_, '_>,
    timeout: i64,
) {
    let (conn, id, name, fr, ts) = (m.flow.conn, m.id, m.name, m.fr, m.ts);
    let from_server = m.flow.dir == Direction::ToClient;
    // A configuration request past its timeout (judged on server messages, as requests are).
    if let Some((kind, rf, rts, reported)) = &mut cfg.request {
        if from_server && !*reported && ts - *rts >= timeout && cfg.partial.is_none() {
            *reported = true;
            if !server.lost {
                f.push(
                    "config-request-unanswered",
                    Some(conn),
                    vec![*rf],
                    *rts,
                    format!(
                        "{} not answered within {} s",
                        kind.name(),
                        crate::time::format_seconds(timeout, 0)
                    ),
                );
            }
        }
    }
    match id {
        MessageType::CONFIG_REQUEST_KEY_EVENT | MessageType::CONFIG_REQUEST_EVENT => {
            let kind =
                if id == MessageType::CONFIG_REQUEST_KEY_EVENT { ConfigReq::Key } else { ConfigReq::Data };
            if let Some((k, rf, _, _)) = cfg.request {
                f.push(
                    "config-request-overlap",
                    Some(conn),
                    vec![rf, fr],
                    ts,
                    format!("{name} while {} (frame {rf}) is outstanding", k.name()),
                );
            }
            // ConfigInformation 0 asks for no upload: nothing is owed in return.
            let nothing = kind == ConfigReq::Data && m.d.number_of(field::ConfigInformation) == Some(0);
            cfg.request = if nothing { None } else { Some((kind, fr, ts, false)) };
            cfg.rank = 0;
            cfg.order_reported = false;
            cfg.partial = None;
        }
        MessageType::CONFIG_KEY_EVENT => {
            if let Some((ConfigReq::Key, _, rts, _)) = cfg.request {
                stats.latency(ConfigReq::Key.name(), ts - rts, CONFIG_LATENCY_SAMPLES);
                cfg.request = None;
            }
        }
        MessageType::CONFIG_BEGIN_EVENT => {
            if let Some(bf) = cfg.block {
                f.push(
                    "config-unpaired",
                    Some(conn),
                    vec![bf, fr],
                    ts,
                    format!("CONFIG_BEGIN_EVENT while the block begun at frame {bf} is still open"),
                );
            }
            cfg.block = Some(fr);
            cfg.partial = None;
            let solicited = matches!(cfg.request, Some((ConfigReq::Data, ..)));
            if !solicited {
                // An update block: order is checked within the block.
                cfg.rank = 0;
                cfg.order_reported = false;
            }
        }
        MessageType::CONFIG_END_EVENT => end(cfg, server, f, stats, conn, m, fr, ts),
        _ => record(cfg, f, conn, id, name, fr, ts),
    }
}

/// CONFIG_END_EVENT: the block closes; PARTIAL promises another.
#[allow(clippy::too_many_arguments)]
fn end(
    cfg: &mut ConfigState,
    server: ServerSide,
    f: &mut Findings,
    stats: &mut StatsAcc,
    conn: ConnId,
    m: &Msg<'_, '_>,
    fr: u64,
    ts: TimestampNs,
) {
    let status = m.d.number_of(field::ConfigEndStatus).unwrap_or(0);
    if cfg.block.is_none() && !matches!(cfg.request, Some((ConfigReq::Data, ..))) && server.complete {
        f.push(
            "config-unpaired",
            Some(conn),
            vec![fr],
            ts,
            "CONFIG_END_EVENT with no CONFIG_BEGIN_EVENT and no CONFIG_REQUEST_EVENT before it".into(),
        );
    }
    cfg.block = None;
    let partial = u64::from(CONFIGEND_PARTIAL);
    let fine = [CONFIGEND_SUCCESS, CONFIGEND_NO_SERVICE_PROVIDER, CONFIGEND_EMPTY].map(u64::from);
    if status == partial {
        cfg.partial = Some(fr);
    } else if !fine.contains(&status) {
        f.push(
            "config-end-error",
            Some(conn),
            vec![fr],
            ts,
            format!("CONFIG_END_EVENT status {}", value_name(&values::CONFIG_END_STATUS, status)),
        );
    }
    if status != partial {
        cfg.partial = None;
        if let Some((ConfigReq::Data, _, rts, _)) = cfg.request {
            stats.latency(ConfigReq::Data.name(), ts - rts, CONFIG_LATENCY_SAMPLES);
            cfg.request = None;
        }
    }
}

/// A configuration record inside a block: in the guide's order?
fn record(
    cfg: &mut ConfigState,
    f: &mut Findings,
    conn: ConnId,
    id: MessageType,
    name: &'static str,
    fr: u64,
    ts: TimestampNs,
) {
    let Some(rank) = config_rank(id) else { return };
    if cfg.block.is_none() {
        return;
    }
    if rank < cfg.rank && !cfg.order_reported {
        cfg.order_reported = true;
        f.push(
            "config-record-order",
            Some(conn),
            vec![fr],
            ts,
            format!("{name} after records that the guide orders after it"),
        );
    }
    cfg.rank = cfg.rank.max(rank);
}

/// A connection ends with the acquisition left open: a PARTIAL end with no further block, a
/// request never answered, a block never closed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn at_end(
    cfg: &ConfigState,
    server_lost: bool,
    f: &mut Findings,
    conn: ConnId,
    end: Option<ConnEnd>,
    frame: u64,
    ts: TimestampNs,
    timeout: i64,
) {
    let ended = matches!(end, Some(ConnEnd::Fin) | Some(ConnEnd::Rst));
    if let Some(pf) = cfg.partial {
        if ended && !server_lost {
            f.push(
                "config-partial-unfinished",
                Some(conn),
                vec![pf, frame],
                ts,
                "configuration acquisition ended with CONFIGEND_PARTIAL and no further block".into(),
            );
        }
    } else if let Some((kind, rf, rts, reported)) = cfg.request {
        if !reported && ts - rts >= timeout && !server_lost {
            f.push(
                "config-request-unanswered",
                Some(conn),
                vec![rf],
                rts,
                format!("{} never answered", kind.name()),
            );
        }
    }
    if let Some(bf) = cfg.block {
        if ended && !server_lost {
            f.push(
                "config-unpaired",
                Some(conn),
                vec![bf, frame],
                ts,
                "CONFIG_BEGIN_EVENT block never closed by CONFIG_END_EVENT".into(),
            );
        }
    }
}
