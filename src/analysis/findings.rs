//! Findings: what a capture departs from the protocol in, one rule each, counted per rule
//! and listed up to a cap.

use super::rules::{self, Severity};
use crate::cti::decode::Decoded;
use crate::cti::spec::fields::field;
use crate::cti::spec::ValueTable;
use crate::net::tcp::ConnId;
use crate::TimestampNs;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// What a finding is about: the identifiers a support engineer searches for. Every field is
/// optional; the renderers show the ones set, as typed JSON keys and in the sentence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The message type the finding is about (the request, for an unanswered one).
    pub message: Option<&'static str>,
    /// The field, for a decode anomaly.
    pub field: Option<&'static str>,
    pub invoke: Option<u32>,
    /// The request and the confirm of an invoke.
    pub request: Option<&'static str>,
    pub confirm: Option<&'static str>,
    /// The agent: AgentID, extension, instrument (of the message, else of the session).
    pub agent: Option<String>,
    pub extension: Option<String>,
    pub instrument: Option<String>,
    pub peripheral: Option<u32>,
    /// The call: ConnectionCallID and its device.
    pub call: Option<u32>,
    pub device: Option<String>,
    /// Request to confirm (or to the end, for one never answered).
    pub latency_ns: Option<i64>,
    /// The side that acted (`client` or `server`): who reset, who closed.
    pub by: Option<&'static str>,
    /// The connection's endpoints and ClientID (filled in from the connection when the
    /// report is built).
    pub client: Option<String>,
    pub server: Option<String>,
    pub client_id: Option<String>,
    /// Another connection the finding links to (the session a client reopened).
    pub related_conn: Option<ConnId>,
}

/// What makes findings the same: the rule, the message type and field, and a reason in
/// words without identifiers. Findings with equal causes make one row of `check`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cause {
    pub message: Option<&'static str>,
    pub field: Option<&'static str>,
    pub reason: Cow<'static, str>,
}

impl Cause {
    /// The cause of findings that group by rule alone.
    pub const fn rule() -> Cause {
        Cause { message: None, field: None, reason: Cow::Borrowed("") }
    }

    pub fn new(message: Option<&'static str>, reason: impl Into<Cow<'static, str>>) -> Cause {
        Cause { message, field: None, reason: reason.into() }
    }

    /// The cause in words: `MESSAGE.Field: reason`, or the rule's description.
    pub fn text(&self, rule_id: &str) -> String {
        let what = match (self.message, self.field) {
            (Some(m), Some(f)) => format!("{m}.{f}"),
            (Some(m), None) => m.to_string(),
            (None, Some(f)) => f.to_string(),
            (None, None) => String::new(),
        };
        match (what.is_empty(), self.reason.is_empty()) {
            (true, true) => rules::rule(rule_id).description.to_string(),
            (true, false) => self.reason.to_string(),
            (false, true) => format!("{what}: {}", rules::rule(rule_id).description),
            (false, false) => format!("{what}: {}", self.reason),
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub conn: Option<ConnId>,
    /// Capture frame numbers involved, in order.
    pub frames: Vec<u64>,
    pub ts_ns: TimestampNs,
    /// The sentence, naming what the finding is about.
    pub message: String,
    pub reference: String,
    /// Its cause in words (the row of `check` it belongs to).
    pub cause: String,
    pub subject: Box<Subject>,
    /// Position in the capture's event order (the order `decode` prints), for the timeline.
    pub(crate) seq: u64,
}

impl Finding {
    /// First frame, for sorting (findings without frames sort last).
    pub fn first_frame(&self) -> u64 {
        self.frames.iter().copied().min().unwrap_or(u64::MAX)
    }
}

/// Findings with one cause: one row of `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: Option<&'static str>,
    pub field: Option<&'static str>,
    /// The cause in words.
    pub cause: String,
    pub reference: String,
    pub count: u64,
    /// Distinct connections (counted up to [`MAX_GROUP_CONNS`]; `conns_more` beyond).
    pub conns: u64,
    pub conns_more: bool,
    pub first_frame: Option<u64>,
    pub last_frame: Option<u64>,
    pub first_ts: TimestampNs,
    pub last_ts: TimestampNs,
    /// The first occurrence's sentence.
    pub example: String,
    /// What the first [`MAX_GROUP_IDS`] occurrences are about, in short: `call 7 (frame
    /// 120)`, `InvokeID 12 agent 1001 (frame 88)`.
    pub ids: Vec<String>,
    /// `ids` names every occurrence.
    pub ids_complete: bool,
}

/// Occurrences named in a group's `ids`.
pub const MAX_GROUP_IDS: usize = 50;

impl Subject {
    /// The subject in a few words, for a list: `InvokeID 12 agent 1001`, `call 7`, ...
    pub fn short(&self, conn: Option<ConnId>) -> String {
        let mut parts = Vec::new();
        if let Some(i) = self.invoke {
            parts.push(format!("InvokeID {i}"));
        }
        if let Some(c) = self.call {
            parts.push(format!("call {c}"));
        }
        if let Some(a) = self.agent.as_ref().or(self.extension.as_ref()) {
            parts.push(format!("agent {a}"));
        }
        if parts.is_empty() {
            if let Some(c) = conn {
                parts.push(format!("connection {c}"));
            }
        }
        parts.join(" ")
    }
}

/// Distinct connections counted per group.
pub const MAX_GROUP_CONNS: usize = 4_096;
/// Distinct causes kept; further causes count in one group per rule.
const MAX_GROUPS: usize = 4_096;

#[derive(Debug)]
pub(crate) struct GroupAcc {
    group: Group,
    conns: crate::IntSet<ConnId>,
    /// What the first occurrences are about, and their frames (the same call seen on
    /// several connections is one entry).
    ids: Vec<(String, Vec<u64>)>,
    /// Occurrences `ids` names.
    named: u64,
}

/// Frames named per entry of a group's `ids`.
const MAX_ID_FRAMES: usize = 8;

/// Where findings go: grouped by cause, counted per rule and listed up to a cap.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub list: Vec<Finding>,
    pub per_rule: BTreeMap<&'static str, u64>,
    pub(crate) groups: HashMap<(&'static str, Cause), GroupAcc>,
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

    /// Report a finding with its cause; its sentence and subject are built only if it will be
    /// listed.
    pub fn report(
        &mut self,
        rule_id: &'static str,
        conn: Option<ConnId>,
        frames: &[u64],
        ts_ns: TimestampNs,
        cause: Cause,
        build: impl FnOnce() -> (String, Subject),
    ) {
        let r = rules::rule(rule_id);
        let at = At { conn, frames, ts_ns };
        self.report_with(r.id, r.severity, r.reference, at, cause, build);
    }

    /// [`Findings::report`] with a severity and reference of its own (decode anomalies).
    fn report_with(
        &mut self,
        rule_id: &'static str,
        severity: Severity,
        reference: &str,
        at: At<'_>,
        cause: Cause,
        build: impl FnOnce() -> (String, Subject),
    ) {
        let listed = self.listing(rule_id);
        *self.per_rule.entry(rule_id).or_insert(0) += 1;
        let built = listed.then(build);
        let acc = self.group(rule_id, severity, reference, &at, cause);
        let Some((message, subject)) = built else { return };
        if acc.group.example.is_empty() {
            acc.group.example = message.clone();
        }
        let what = subject.short(at.conn);
        let frame = at.frames.iter().min().copied();
        match acc.ids.iter().position(|(w, _)| *w == what) {
            Some(i) => {
                let frames = &mut acc.ids[i].1;
                if frames.len() < MAX_ID_FRAMES {
                    frames.extend(frame);
                }
                acc.named += 1;
            }
            None if acc.ids.len() < MAX_GROUP_IDS => {
                acc.ids.push((what, frame.into_iter().collect()));
                acc.named += 1;
            }
            None => {}
        }
        let cause = acc.group.cause.clone();
        let mut frames = at.frames.to_vec();
        frames.sort_unstable();
        frames.dedup();
        self.list.push(Finding {
            rule: rule_id,
            severity,
            conn: at.conn,
            frames,
            ts_ns: at.ts_ns,
            message,
            reference: reference.to_string(),
            cause,
            subject: Box::new(subject),
            seq: self.seq,
        });
    }

    /// Count an occurrence in its group (created on first sight).
    fn group(
        &mut self,
        rule_id: &'static str,
        severity: Severity,
        reference: &str,
        at: &At<'_>,
        cause: Cause,
    ) -> &mut GroupAcc {
        let key = if self.groups.len() >= MAX_GROUPS && !self.groups.contains_key(&(rule_id, cause.clone())) {
            // Too many distinct causes: the rest count under the rule.
            (rule_id, Cause::new(None, "further causes of this rule (too many distinct causes to list)"))
        } else {
            (rule_id, cause)
        };
        let acc = self.groups.entry(key).or_insert_with_key(|(rule_id, cause)| GroupAcc {
            group: Group {
                rule: rule_id,
                severity,
                message: cause.message,
                field: cause.field,
                cause: cause.text(rule_id),
                reference: reference.to_string(),
                count: 0,
                conns: 0,
                conns_more: false,
                first_frame: None,
                last_frame: None,
                first_ts: at.ts_ns,
                last_ts: at.ts_ns,
                example: String::new(),
                ids: Vec::new(),
                ids_complete: false,
            },
            conns: crate::IntSet::default(),
            ids: Vec::new(),
            named: 0,
        });
        let g = &mut acc.group;
        g.count += 1;
        if let Some(c) = at.conn {
            if acc.conns.len() < MAX_GROUP_CONNS {
                if acc.conns.insert(c) {
                    g.conns += 1;
                }
            } else if !acc.conns.contains(&c) {
                g.conns_more = true;
            }
        }
        if let Some(&lo) = at.frames.iter().min() {
            g.first_frame = Some(g.first_frame.map_or(lo, |f| f.min(lo)));
        }
        if let Some(&hi) = at.frames.iter().max() {
            g.last_frame = Some(g.last_frame.map_or(hi, |f| f.max(hi)));
        }
        g.first_ts = g.first_ts.min(at.ts_ns);
        g.last_ts = g.last_ts.max(at.ts_ns);
        acc
    }

    /// Push a finding grouped under its rule, with no subject but its connection.
    pub fn push(
        &mut self,
        rule_id: &'static str,
        conn: Option<ConnId>,
        frames: Vec<u64>,
        ts_ns: TimestampNs,
        message: String,
    ) {
        self.report(rule_id, conn, &frames, ts_ns, Cause::rule(), || (message, Subject::default()));
    }

    /// Push a finding decided later than the event it is about (event-order position `seq`).
    #[allow(clippy::too_many_arguments)]
    pub fn report_at(
        &mut self,
        seq: u64,
        rule_id: &'static str,
        conn: Option<ConnId>,
        frames: &[u64],
        ts_ns: TimestampNs,
        cause: Cause,
        build: impl FnOnce() -> (String, Subject),
    ) {
        let now = std::mem::replace(&mut self.seq, seq);
        self.report(rule_id, conn, frames, ts_ns, cause, build);
        self.seq = now;
    }

    /// Report reaching an analysis limit, once per setting.
    pub fn limit(&mut self, setting: &'static str, conn: Option<ConnId>, frame: u64, ts: i64) {
        if self.limits.contains(&setting) {
            return;
        }
        self.limits.push(setting);
        self.report("analysis-limit", conn, &[frame], ts, Cause::new(None, setting), || {
            (format!("analysis limit {setting} reached: further entries are not kept"), Subject::default())
        });
    }
}

impl Findings {
    /// A request reported unanswered at its timeout was answered later: its finding (if
    /// listed) says when.
    pub fn answered_late(
        &mut self,
        conn: ConnId,
        req_frame: u64,
        inv: u32,
        confirm: &'static str,
        fr: u64,
        latency: i64,
    ) {
        let found = self.list.iter_mut().rev().find(|x| {
            matches!(x.rule, "invoke-unanswered" | "heartbeat-unanswered")
                && x.conn == Some(conn)
                && x.subject.invoke == Some(inv)
                && x.frames.first() == Some(&req_frame)
        });
        if let Some(x) = found {
            x.message.push_str(&format!(
                "; answered by {confirm} (frame {fr}) after {} s",
                crate::time::format_seconds(latency, 3)
            ));
            x.frames.push(fr);
            x.subject.confirm = Some(confirm);
            x.subject.latency_ns = Some(latency);
        }
    }
}

/// Where a finding is: its connection, frames and time.
pub(crate) struct At<'a> {
    pub conn: Option<ConnId>,
    pub frames: &'a [u64],
    pub ts_ns: TimestampNs,
}

impl Findings {
    /// The findings listed, sorted by first frame (then rule, connection, message), with one
    /// finding per rule past its cap saying how many more there were; and the groups, errors
    /// first, then by count.
    pub fn into_sorted(self, last_ts: TimestampNs) -> (Vec<Finding>, Vec<Group>) {
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
                    cause: String::new(),
                    subject: Box::default(),
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
        // A group's example is its first listed finding as it finally reads (a late answer
        // adds to an unanswered request's sentence).
        let mut firsts: HashMap<(&str, &str), &str> = HashMap::new();
        for f in &list {
            firsts.entry((f.rule, f.cause.as_str())).or_insert(f.message.as_str());
        }
        let mut groups: Vec<Group> = self
            .groups
            .into_values()
            .map(|a| {
                let mut g = a.group;
                g.ids_complete = a.named == g.count;
                g.ids = a
                    .ids
                    .into_iter()
                    .map(|(what, frames)| {
                        let n = frames.len();
                        let frames = frames.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
                        match (what.is_empty(), n) {
                            (_, 0) => what,
                            (true, 1) => format!("frame {frames}"),
                            (true, _) => format!("frames {frames}"),
                            (false, 1) => format!("{what} (frame {frames})"),
                            (false, _) => format!("{what} (frames {frames})"),
                        }
                    })
                    .collect();
                if let Some(m) = firsts.get(&(g.rule, g.cause.as_str())) {
                    g.example = m.to_string();
                }
                g
            })
            .collect();
        groups.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.count.cmp(&a.count))
                .then(a.first_frame.cmp(&b.first_frame))
                .then(a.rule.cmp(b.rule))
                .then(a.cause.cmp(&b.cause))
        });
        (list, groups)
    }
}

impl Findings {
    /// Findings for the decode anomalies of a message, grouped by message type, field and
    /// anomaly code.
    #[cold]
    #[inline(never)]
    pub fn anomalies(
        &mut self,
        conn: ConnId,
        fr: u64,
        ts: TimestampNs,
        name: &'static str,
        d: &Decoded,
        bytes: &[u8],
    ) {
        // What the message is about, for the sentence and the subject (read only when a
        // finding will be listed: past the cap, anomalies are only counted).
        let listed = d.anomalies.iter().any(|a| self.listing(rules::anomaly_rule_id(a.code)));
        let number = |id| d.fixed(id).filter(|_| listed).and_then(|f| f.number()).map(|v| v as u32);
        let call = number(field::ConnectionCallID);
        let invoke = number(field::InvokeID);
        let agent = if listed { d.text_of(bytes, field::AgentID).filter(|t| !t.is_empty()) } else { None };
        let agent = agent.map(|t| t.into_owned());
        let mut about = Vec::new();
        if let Some(i) = invoke {
            about.push(format!("InvokeID {i}"));
        }
        if let Some(c) = call {
            about.push(format!("call {c}"));
        }
        if let Some(a) = &agent {
            about.push(format!("agent {a}"));
        }
        let about = if about.is_empty() { String::new() } else { format!(" ({})", about.join(", ")) };
        for a in &d.anomalies {
            let rid = rules::anomaly_rule_id(a.code);
            let mut sev = rules::anomaly_severity(a.code);
            let rule = rules::rule(rid);
            let mut reason = Cow::Borrowed(rule.description);
            if a.code == "tag_not_allowed" && a.field.is_some_and(|f| outside_version(d, f)) {
                // A tag the connection's version does not define (introduced later, or
                // removed): the implementation follows another version's tag set.
                sev = Severity::Note;
                reason = Cow::Borrowed(
                    "a tag the connection's protocol version does not define: implementations do not all follow the version history (docs/protocol.md §8 Protocol versions)",
                );
            }
            if a.code == "required_missing"
                && a.field.is_some_and(|f| OMITTED_WHEN_EMPTY.contains(&(name, f)))
            {
                sev = Severity::Note;
                reason = Cow::Borrowed(
                    "required even when empty, but implementations send an empty value as length 0, as one NUL byte or not at all (docs/protocol.md §8.1 Layout variants)",
                );
            }
            if a.code == "required_missing" && a.field.is_some_and(|f| unmarked_required(d, f)) {
                // Where the guide and implementations disagree: said once, as a note.
                sev = Severity::Note;
                reason = Cow::Borrowed(
                    "required only as printed: the guide leaves the field unmarked and implementations commonly omit it (docs/protocol.md §10 Presence marks)",
                );
            }
            let reference = match d.spec.and_then(|s| s.table) {
                Some(t) => Cow::Owned(format!("guide Table {t}; {}", rule.reference)),
                None => Cow::Borrowed(rule.reference),
            };
            let cause = Cause { message: Some(name), field: a.field, reason };
            let at = At { conn: Some(conn), frames: &[fr], ts_ns: ts };
            self.report_with(rid, sev, &reference, at, cause, || {
                let subject = Subject {
                    message: Some(name),
                    field: a.field,
                    invoke,
                    call,
                    agent: agent.clone(),
                    ..Subject::default()
                };
                (format!("{name}{about}: {}", a.message), subject)
            });
        }
    }
}

/// Required fields (message, field) that implementations leave out when they are empty.
const OMITTED_WHEN_EMPTY: &[(&str, &str)] = &[("OPEN_REQ", "ClientPassword")];

/// Whether the tag of field `f` (a field of the message, or a tag by its name) lies outside
/// the protocol versions that define it, at the message's version.
fn outside_version(d: &Decoded, f: &str) -> bool {
    let own = d.spec.and_then(|s| s.floating.iter().find(|x| x.name == f)).and_then(|x| x.tag);
    let tag = own.or_else(|| crate::cti::spec::tags().iter().find(|t| t.name == f).map(|t| t.tag));
    tag.is_some_and(|t| {
        crate::cti::decode::tag_since(t) > d.version || crate::cti::decode::tag_until(t) < d.version
    })
}

/// Whether the spec records field `f` of the message as required only because the guide
/// left it unmarked (a message note "F is unmarked (required as printed)").
fn unmarked_required(d: &Decoded, f: &str) -> bool {
    d.spec.is_some_and(|s| {
        s.notes.iter().any(|n| {
            n.strip_prefix(f).is_some_and(|rest| rest.starts_with(" is unmarked (required as printed)"))
        })
    })
}

/// Name of a value in a table with its number (`NAME (n)`), or the number.
pub(crate) fn value_name(t: &ValueTable, v: u64) -> String {
    match u32::try_from(v).ok().and_then(|v| t.name_of(v)) {
        Some(n) => format!("{n} ({v})"),
        None => v.to_string(),
    }
}
