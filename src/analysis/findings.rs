//! Findings: what a capture departs from the protocol in, one rule each, counted per rule
//! and listed up to a cap.

use super::rules::{self, Severity};
use crate::cti::decode::Decoded;
use crate::cti::spec::ValueTable;
use crate::net::tcp::ConnId;
use crate::TimestampNs;
use std::collections::BTreeMap;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub conn: Option<ConnId>,
    /// Capture frame numbers involved, in order.
    pub frames: Vec<u64>,
    pub ts_ns: TimestampNs,
    pub message: String,
    pub reference: String,
    /// Position in the capture's event order (the order `decode` prints), for the timeline.
    pub(crate) seq: u64,
}

impl Finding {
    /// First frame, for sorting (findings without frames sort last).
    pub fn first_frame(&self) -> u64 {
        self.frames.iter().copied().min().unwrap_or(u64::MAX)
    }
}

/// Where findings go: counts per rule and the cap.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub list: Vec<Finding>,
    pub per_rule: BTreeMap<&'static str, u64>,
    pub cap: usize,
    /// Limits already reported.
    pub limits: Vec<&'static str>,
    /// Event-order position of the event being analysed.
    pub seq: u64,
}

impl Findings {
    /// Whether a further finding of this rule would be listed (beyond the cap it is only
    /// counted): callers skip building the message when it would not.
    pub fn listing(&self, rule_id: &str) -> bool {
        self.per_rule.get(rule_id).is_none_or(|&n| (n as usize) < self.cap)
    }

    /// Push a finding whose message is built only if it will be listed.
    pub fn push_lazy(
        &mut self,
        rule_id: &'static str,
        conn: Option<ConnId>,
        frames: &[u64],
        ts_ns: TimestampNs,
        message: impl FnOnce() -> String,
    ) {
        if self.listing(rule_id) {
            self.push(rule_id, conn, frames.to_vec(), ts_ns, message());
        } else {
            self.count_only(rule_id);
        }
    }

    /// Count a finding without listing it (the rule is past its cap).
    pub fn count_only(&mut self, rule_id: &'static str) {
        *self.per_rule.entry(rule_id).or_insert(0) += 1;
    }

    pub fn push(
        &mut self,
        rule_id: &'static str,
        conn: Option<ConnId>,
        frames: Vec<u64>,
        ts_ns: TimestampNs,
        message: String,
    ) {
        let r = rules::rule(rule_id);
        self.push_with(r.id, r.severity, conn, frames, ts_ns, message, r.reference.into());
    }

    /// Push a finding decided later than the event it is about (event-order position `seq`).
    pub fn push_at(
        &mut self,
        seq: u64,
        rule_id: &'static str,
        conn: Option<ConnId>,
        frames: Vec<u64>,
        ts_ns: TimestampNs,
        message: String,
    ) {
        let now = std::mem::replace(&mut self.seq, seq);
        self.push(rule_id, conn, frames, ts_ns, message);
        self.seq = now;
    }

    #[allow(clippy::too_many_arguments)]
    pub fn push_with(
        &mut self,
        rule_id: &'static str,
        severity: Severity,
        conn: Option<ConnId>,
        mut frames: Vec<u64>,
        ts_ns: TimestampNs,
        message: String,
        reference: String,
    ) {
        let n = self.per_rule.entry(rule_id).or_insert(0);
        *n += 1;
        if *n as usize > self.cap {
            return;
        }
        frames.sort_unstable();
        frames.dedup();
        let seq = self.seq;
        self.list.push(Finding { rule: rule_id, severity, conn, frames, ts_ns, message, reference, seq });
    }

    /// Report reaching an analysis limit, once per setting.
    pub fn limit(&mut self, setting: &'static str, conn: Option<ConnId>, frame: u64, ts: i64) {
        if self.limits.contains(&setting) {
            return;
        }
        self.limits.push(setting);
        self.push(
            "analysis-limit",
            conn,
            vec![frame],
            ts,
            format!("analysis limit {setting} reached: further entries are not kept"),
        );
    }
}

impl Findings {
    /// The findings listed, sorted by first frame (then rule, connection, message), with one
    /// finding per rule past its cap saying how many more there were.
    pub fn into_sorted(self, last_ts: TimestampNs) -> Vec<Finding> {
        let mut list = self.list;
        let cap = self.cap as u64;
        for (rule_id, n) in &self.per_rule {
            if *n > cap {
                let r = rules::rule(rule_id);
                list.push(Finding {
                    rule: r.id,
                    severity: r.severity,
                    conn: None,
                    frames: Vec::new(),
                    ts_ns: last_ts,
                    message: format!(
                        "{} more findings of this rule not listed (max_findings_per_rule = {cap})",
                        n - cap
                    ),
                    reference: r.reference.to_string(),
                    seq: u64::MAX,
                });
            }
        }
        list.sort_by(|a, b| {
            a.first_frame()
                .cmp(&b.first_frame())
                .then(a.rule.cmp(b.rule))
                .then(a.conn.cmp(&b.conn))
                .then(a.message.cmp(&b.message))
        });
        list
    }
}

impl Findings {
    /// Findings for the decode anomalies of a message.
    #[cold]
    #[inline(never)]
    pub fn anomalies(&mut self, conn: ConnId, fr: u64, ts: TimestampNs, name: &'static str, d: &Decoded) {
        for a in &d.anomalies {
            let rid = rules::anomaly_rule_id(a.code);
            if !self.listing(rid) {
                self.count_only(rid);
                continue;
            }
            let sev = rules::anomaly_severity(a.code);
            let reference = match d.spec.and_then(|s| s.table) {
                Some(t) => format!("guide Table {t}; {}", rules::rule(rid).reference),
                None => rules::rule(rid).reference.to_string(),
            };
            self.push_with(rid, sev, Some(conn), vec![fr], ts, format!("{name}: {}", a.message), reference);
        }
    }
}

/// Name of a value in a table with its number (`NAME (n)`), or the number.
pub(crate) fn value_name(t: &ValueTable, v: u64) -> String {
    match u32::try_from(v).ok().and_then(|v| t.name_of(v)) {
        Some(n) => format!("{n} ({v})"),
        None => v.to_string(),
    }
}
