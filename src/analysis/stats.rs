//! Counters gathered while analysing: messages per type and direction, request latency,
//! failures, and the summaries of the connections that ended.

use super::findings::value_name;
use super::types::{dir_index, ConnSummary, LatencyStats};
use crate::cti::spec::{values, MessageType};
use crate::pipeline::Direction;
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Default)]
pub(crate) struct LatAcc {
    count: u64,
    max: i64,
    samples: Vec<i64>,
    /// Every latency counted in its [`latency_bucket`] (exact, unlike the capped samples).
    buckets: Vec<u64>,
}

/// Latency histogram bins per factor of ten.
pub const LATENCY_BINS_PER_DECADE: u32 = 5;
/// Lower bound of the first bin but one, in nanoseconds (1 µs): the first bin holds
/// everything below it.
const LATENCY_FIRST_NS: f64 = 1_000.0;
/// Bins: below 1 µs, then five per decade from 1 µs to 1000 s, then everything above.
pub const LATENCY_BUCKETS: usize = 2 + 9 * LATENCY_BINS_PER_DECADE as usize;

/// The edges between the bins from 1 µs on, in nanoseconds (rounded to whole nanoseconds),
/// computed once: `EDGES[k]` = 1 µs x 10^(k / [`LATENCY_BINS_PER_DECADE`]).
fn latency_edges() -> &'static [i64; LATENCY_BUCKETS - 1] {
    static EDGES: std::sync::OnceLock<[i64; LATENCY_BUCKETS - 1]> = std::sync::OnceLock::new();
    EDGES.get_or_init(|| {
        std::array::from_fn(|k| {
            (LATENCY_FIRST_NS * 10f64.powf(k as f64 / f64::from(LATENCY_BINS_PER_DECADE))).round() as i64
        })
    })
}

/// The histogram bin of a latency: log scale, [`LATENCY_BINS_PER_DECADE`] bins per factor
/// of ten from 1 µs; a negative latency (clock stepped back) counts in the first.
pub fn latency_bucket(ns: i64) -> usize {
    // Bin i (from 1) holds [EDGES[i - 1], EDGES[i]); the last, everything from its edge on.
    latency_edges().partition_point(|&e| e <= ns)
}

/// The bounds of a bin, `[from, to)` in nanoseconds (`to` is `i64::MAX` for the last).
pub fn latency_bucket_bounds(i: usize) -> (i64, i64) {
    let edges = latency_edges();
    match i {
        0 => (0, edges[0]),
        _ if i >= LATENCY_BUCKETS - 1 => (edges[LATENCY_BUCKETS - 2], i64::MAX),
        _ => (edges[i - 1], edges[i]),
    }
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
    pub conns: ConnSummaries,
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
        if l.buckets.is_empty() {
            l.buckets = vec![0; LATENCY_BUCKETS];
        }
        l.buckets[latency_bucket(ns)] += 1;
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
                        histogram: l
                            .buckets
                            .iter()
                            .enumerate()
                            .filter(|(_, &n)| n > 0)
                            .map(|(i, &n)| {
                                let (from, to) = latency_bucket_bounds(i);
                                (from, to, n)
                            })
                            .collect(),
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

#[cfg(test)]
mod histogram_tests {
    use super::*;

    #[test]
    fn every_latency_falls_in_the_bin_whose_bounds_hold_it() {
        let edges = (0..LATENCY_BUCKETS).flat_map(|i| {
            let (a, b) = latency_bucket_bounds(i);
            [a - 1, a, a + 1, b - 1, b]
        });
        for ns in [-5, 0, 999, 1_000, 1_584, 1_585, 9_999, 10_000, 2_500_000, 999_999_999_999, i64::MAX]
            .into_iter()
            .chain(edges)
        {
            let i = latency_bucket(ns);
            let (from, to) = latency_bucket_bounds(i);
            assert!(i < LATENCY_BUCKETS);
            assert!(ns.max(0) >= from && (ns < to || to == i64::MAX), "{ns} in bin {i} [{from}, {to})");
        }
        // Bins are contiguous.
        for i in 1..LATENCY_BUCKETS {
            assert_eq!(latency_bucket_bounds(i - 1).1, latency_bucket_bounds(i).0, "bin {i}");
        }
    }

    #[test]
    fn the_histogram_counts_every_latency_even_past_the_sample_cap() {
        let mut s = StatsAcc::default();
        for ns in [1_000_000, 1_100_000, 50_000_000] {
            s.latency("HEARTBEAT_REQ", ns, 1);
        }
        let l = &StatsAcc::latency_stats(s.latency)["HEARTBEAT_REQ"];
        assert_eq!(l.count, 3);
        assert_eq!(l.histogram.iter().map(|b| b.2).sum::<u64>(), 3);
        assert_eq!(l.histogram.len(), 2, "{:?}", l.histogram);
        assert_eq!(l.histogram[0], (1_000_000, 1_584_893, 2));
    }
}

/// The summaries of the connections that ended, in the order they ended, with what they
/// hold counted against `Settings::max_analysis_memory`: when the analysis holds more, the
/// summaries of the connections that ended first (the least recently active) are let go and
/// counted in [`Released`].
#[derive(Debug, Default)]
pub(crate) struct ConnSummaries {
    pub kept: VecDeque<ConnSummary>,
    /// Estimated bytes of `kept` ([`summary_cost`]).
    pub bytes: usize,
    pub released: Released,
}

/// Connections whose analysis state was let go at `--max-analysis-memory`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Summaries of ended CTI sessions not kept (they are counted, not listed).
    pub sessions: u64,
    /// Summaries of ended connection attempts without CTI not kept.
    pub attempts: u64,
    /// Open connections whose state was let go (the least recently active first): their
    /// outstanding requests and live calls are no longer followed, and a later message on
    /// them starts their analysis again as mid-stream.
    pub live: u64,
}

impl Released {
    pub fn any(&self) -> bool {
        self.sessions + self.attempts + self.live > 0
    }
}

/// Estimated heap and inline bytes of one summary.
pub(crate) fn summary_cost(s: &ConnSummary) -> usize {
    let text = |o: &Option<String>| o.as_ref().map_or(0, |v| v.capacity() + 16);
    std::mem::size_of::<ConnSummary>()
        + text(&s.client)
        + text(&s.server)
        + text(&s.client_id)
        + text(&s.agent_id)
        + text(&s.extension)
        + text(&s.instrument)
}

impl ConnSummaries {
    pub fn push(&mut self, s: ConnSummary) {
        self.bytes += summary_cost(&s);
        self.kept.push_back(s);
    }

    /// Let the oldest summary go; false when none is left.
    pub fn release_oldest(&mut self) -> bool {
        let Some(s) = self.kept.pop_front() else { return false };
        self.bytes -= summary_cost(&s);
        if s.cti {
            self.released.sessions += 1;
        } else {
            self.released.attempts += 1;
        }
        true
    }
}
