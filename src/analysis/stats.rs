//! Counters gathered while analysing: messages per type and direction, request latency,
//! failures, and the summaries of the connections that ended.

use super::findings::value_name;
use super::types::{dir_index, ConnSummary, LatencyStats};
use crate::cti::spec::{values, MessageType};
use crate::pipeline::Direction;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct LatAcc {
    count: u64,
    max: i64,
    samples: Vec<i64>,
}

/// Counters gathered while analysing.
#[derive(Debug, Default)]
pub(crate) struct StatsAcc {
    /// Messages per MessageType below [`COUNTED_TYPES`] and direction, with the type name.
    pub by_type: Vec<(&'static str, [u64; 2])>,
    /// (MessageType, name, direction) -> messages, for larger MessageTypes.
    pub messages: BTreeMap<(u32, &'static str, &'static str), u64>,
    /// Per request name, in first-answered order (a few dozen names at most: a list is
    /// cheaper to search than a map keyed by strings).
    pub latency: Vec<(&'static str, LatAcc)>,
    /// (failure message, status or failure code) -> count.
    pub failures: BTreeMap<(MessageType, Option<u64>), u64>,
    pub conns: Vec<ConnSummary>,
}

/// MessageTypes counted in a table indexed by type (every documented type is below it).
const COUNTED_TYPES: usize = 512;

impl StatsAcc {
    pub fn count(&mut self, name: &'static str, msg_type: u32, dir: Direction) {
        let t = msg_type as usize;
        if t < COUNTED_TYPES {
            if self.by_type.is_empty() {
                self.by_type = vec![("", [0, 0]); COUNTED_TYPES];
            }
            let e = &mut self.by_type[t];
            e.0 = name;
            e.1[dir_index(dir)] += 1;
        } else {
            *self.messages.entry((msg_type, name, dir.as_str())).or_insert(0) += 1;
        }
    }

    pub fn latency(&mut self, name: &'static str, ns: i64, cap: usize) {
        let i = self.latency.iter().position(|(n, _)| *n == name).unwrap_or_else(|| {
            self.latency.push((name, LatAcc::default()));
            self.latency.len() - 1
        });
        let l = &mut self.latency[i].1;
        l.count += 1;
        l.max = l.max.max(ns);
        if l.samples.len() < cap {
            l.samples.push(ns);
        }
    }

    /// A FAILURE_CONF, FAILURE_EVENT or CONTROL_FAILURE_CONF (`msg_type`) with its status or
    /// failure code.
    pub fn failure(&mut self, msg_type: MessageType, code: Option<u64>) {
        *self.failures.entry((msg_type, code)).or_insert(0) += 1;
    }

    /// Messages per `NAME (n)` label and direction.
    pub fn message_counts(
        by_type: &[(&'static str, [u64; 2])],
        messages: BTreeMap<(u32, &'static str, &'static str), u64>,
    ) -> BTreeMap<(String, &'static str), u64> {
        let mut m: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
        for (ty, (name, n)) in by_type.iter().enumerate() {
            for (di, dir) in [Direction::ToServer, Direction::ToClient].into_iter().enumerate() {
                if n[di] > 0 {
                    m.insert((format!("{name} ({ty})"), dir.as_str()), n[di]);
                }
            }
        }
        for ((ty, name, dir), n) in messages {
            m.insert((format!("{name} ({ty})"), dir), n);
        }
        m
    }

    /// Latency percentiles per request name.
    pub fn latency_stats(latency: Vec<(&'static str, LatAcc)>) -> BTreeMap<&'static str, LatencyStats> {
        latency
            .into_iter()
            .map(|(k, mut l)| {
                l.samples.sort_unstable();
                (
                    k,
                    LatencyStats {
                        count: l.count,
                        p50_ns: percentile(&l.samples, 50),
                        p90_ns: percentile(&l.samples, 90),
                        p99_ns: percentile(&l.samples, 99),
                        max_ns: l.max,
                    },
                )
            })
            .collect()
    }

    /// Failures per `NAME CODE (n)` label.
    pub fn failure_counts(failures: BTreeMap<(MessageType, Option<u64>), u64>) -> BTreeMap<String, u64> {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for ((ty, code), n) in failures {
            *m.entry(failure_label(ty, code)).or_insert(0) += n;
        }
        m
    }
}

fn percentile(sorted: &[i64], p: u32) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    // Nearest rank.
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// `FAILURE_CONF E_CTI_... (n)`: a failure message and its code, named.
fn failure_label(msg_type: MessageType, code: Option<u64>) -> String {
    let (ty, table) = match msg_type {
        MessageType::CONTROL_FAILURE_CONF => {
            (MessageType::CONTROL_FAILURE_CONF, &values::CONTROL_FAILURE_CODE)
        }
        MessageType::FAILURE_EVENT => (MessageType::FAILURE_EVENT, &values::STATUS_CODE),
        _ => (MessageType::FAILURE_CONF, &values::STATUS_CODE),
    };
    let name = ty.name_or_unknown();
    match code {
        Some(c) => format!("{name} {}", value_name(table, c)),
        None => format!("{name} ?"),
    }
}
