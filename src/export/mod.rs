//! `ctiscope export`: captures as Parquet tables for DuckDB, Spark and the like.
//!
//! Each capture is read once: every message goes to the `messages` table as it is decoded,
//! the analysis ([`crate::analysis`]) hands out each request with its answer and each agent
//! state interval as it closes ([`Analyzer::record`]), and bytes never captured go to `gaps`;
//! the sessions, calls and findings come from the analysis's report at the end. Rows are
//! written a row group at a time ([`table::ROW_GROUP_ROWS`]), so memory does not grow with
//! the capture.
//!
//! Layout of the output directory (Hive-style partitions, so that a query prunes by day
//! and by capture, and a directory gathered from many hosts reads as one dataset):
//!
//! ```text
//! DIR/messages/day=2026-01-05/capture=c1f2e3d4c5b6a7980/part-0.parquet
//! DIR/requests/day=.../capture=.../part-0.parquet      ... one per table
//! DIR/_manifest/c1f2e3d4c5b6a7980.json                  what was exported, one per capture
//! ```
//!
//! A capture's files are written under `DIR/_tmp/` and moved into place when complete, and
//! its manifest entry is written last: a capture with a manifest entry is complete, and an
//! export that stops half way leaves nothing a query reads. The capture id is `c` and the
//! first 16 hex digits of the SHA-256 of the capture file, so the same capture exported twice
//! (from another path, another host) is the same partition, and is skipped unless forced.
//! `docs/export.md` documents the tables.

pub mod schema;
pub mod table;

use crate::analysis::{self, Analyzer, Record, Report};
use crate::capture::CaptureErrorKind;
use crate::cti::decode::Decoded;
use crate::cti::framing::Frame;
use crate::cti::spec::fields::field;
use crate::cti::spec::{values, FieldId, ValueTable};
use crate::filter::Filter;
use crate::pipeline::{self, Direction, Event, Flow};
use crate::render::json;
use crate::{IntMap, TimestampNs};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use table::{Table, WriteError};

/// What an export run is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The output directory.
    pub out: PathBuf,
    /// Export captures the manifest already lists again.
    pub force: bool,
    pub pipeline: pipeline::Settings,
    pub analysis: analysis::Settings,
    /// `--protocol-version`.
    pub forced_version: Option<u32>,
    /// `-Y`: the messages the `messages` table keeps.
    pub filter: Option<Filter>,
    /// `--compression`.
    pub compression: table::Codec,
}

/// Why a capture was not exported.
#[derive(Debug)]
pub enum ExportError {
    /// The capture could not be read (the message names it); nothing was written.
    Unreadable(String),
    /// The tables could not be written (the message names the file).
    Write(String),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Unreadable(m) | ExportError::Write(m) => f.write_str(m),
        }
    }
}

impl From<WriteError> for ExportError {
    fn from(e: WriteError) -> Self {
        ExportError::Write(e.0)
    }
}

/// What became of one capture.
#[derive(Debug, Clone)]
pub enum Done {
    /// Exported; its manifest entry.
    Exported(Manifest),
    /// Listed in the manifest already (its capture id).
    Skipped(String),
}

/// The manifest entry of one exported capture (`DIR/_manifest/ID.json`).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub capture: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub first_ts: Option<TimestampNs>,
    pub last_ts: Option<TimestampNs>,
    /// Rows per table, in [`schema::TABLES`] order.
    pub rows: Vec<(&'static str, u64)>,
    /// The capture could not be read to its end: where and why.
    pub cut_short: Option<String>,
    pub calls_dropped: u64,
}

impl Manifest {
    /// One JSON object.
    pub fn to_json(&self) -> String {
        let mut b = Vec::new();
        let s = |b: &mut Vec<u8>, k: &str, v: &str| {
            b.extend_from_slice(format!(",\"{k}\":").as_bytes());
            json::push_str(b, v);
        };
        b.extend_from_slice(format!("{{\"schema_version\":{}", schema::SCHEMA_VERSION).as_bytes());
        s(&mut b, "capture", &self.capture);
        s(&mut b, "file", &self.file);
        b.extend_from_slice(format!(",\"size\":{}", self.size).as_bytes());
        s(&mut b, "sha256", &self.sha256);
        for (k, t) in [("first_time", self.first_ts), ("last_time", self.last_ts)] {
            match t {
                Some(t) => s(&mut b, k, &crate::time::format_rfc3339(t)),
                None => b.extend_from_slice(format!(",\"{k}\":null").as_bytes()),
            }
        }
        s(&mut b, "ctiscope_version", env!("CARGO_PKG_VERSION"));
        b.extend_from_slice(b",\"rows\":{");
        for (i, (t, n)) in self.rows.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            b.extend_from_slice(format!("{sep}\"{t}\":{n}").as_bytes());
        }
        b.push(b'}');
        b.extend_from_slice(format!(",\"calls_dropped\":{}", self.calls_dropped).as_bytes());
        match &self.cut_short {
            Some(c) => s(&mut b, "cut_short", c),
            None => b.extend_from_slice(b",\"cut_short\":null"),
        }
        b.push(b'}');
        String::from_utf8(b).expect("JSON is UTF-8")
    }
}

/// The manifest folder of an output directory.
pub fn manifest_dir(out: &Path) -> PathBuf {
    out.join("_manifest")
}

/// SHA-256 of a file, hex.
fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((size, hex(&h.finalize())))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A private folder under `DIR/_tmp` for one capture's files.
fn scratch(out: &Path, what: &str) -> Result<PathBuf, ExportError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = out.join("_tmp").join(format!("{what}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| ExportError::Write(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

/// Standard input copied into a file of the output's scratch folder (a capture is hashed
/// before it is read), and its size and hash.
fn spool_stdin(out: &Path) -> Result<(PathBuf, u64, String), ExportError> {
    let dir = scratch(out, "stdin")?;
    let path = dir.join("stdin.capture");
    let werr = |e: std::io::Error| ExportError::Write(format!("{}: {e}", path.display()));
    let mut f = std::fs::File::create(&path).map_err(werr)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    let mut stdin = std::io::stdin().lock();
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ExportError::Unreadable(format!("-: cannot read: {e}"))),
        };
        size += n as u64;
        h.update(&buf[..n]);
        f.write_all(&buf[..n]).map_err(werr)?;
    }
    Ok((path, size, hex(&h.finalize())))
}

/// Export one capture (`-` for standard input) into `opts.out`.
pub fn export(input: &str, opts: &Options) -> Result<Done, ExportError> {
    let (path, size, sha, spooled) = if input == "-" {
        let (p, size, sha) = spool_stdin(&opts.out)?;
        (p, size, sha, true)
    } else {
        let p = PathBuf::from(input);
        let (size, sha) = sha256_file(&p).map_err(|e| ExportError::Unreadable(format!("{input}: {e}")))?;
        (p, size, sha, false)
    };
    let result = export_file(input, &path, size, &sha, opts);
    if spooled {
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

fn export_file(input: &str, path: &Path, size: u64, sha: &str, opts: &Options) -> Result<Done, ExportError> {
    let id = format!("c{}", &sha[..16]);
    let entry = manifest_dir(&opts.out).join(format!("{id}.json"));
    if entry.exists() && !opts.force {
        return Ok(Done::Skipped(id));
    }
    let tmp = scratch(&opts.out, &id)?;
    let result = write_tables(input, path, &id, &tmp, opts);
    let (files, mut manifest) = match result {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    manifest.size = size;
    manifest.sha256 = sha.to_string();
    let werr = |p: &Path, e: std::io::Error| ExportError::Write(format!("{}: {e}", p.display()));
    // An earlier export of the same capture (with --force) is replaced.
    for t in schema::TABLES {
        let dir = opts.out.join(t.name);
        let Ok(days) = std::fs::read_dir(&dir) else { continue };
        for d in days.flatten() {
            let old = d.path().join(format!("capture={id}"));
            if old.exists() {
                std::fs::remove_dir_all(&old).map_err(|e| werr(&old, e))?;
            }
        }
    }
    for f in &files {
        let to = opts.out.join(f);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| werr(parent, e))?;
        }
        std::fs::rename(tmp.join(f), &to).map_err(|e| werr(&to, e))?;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let mdir = manifest_dir(&opts.out);
    std::fs::create_dir_all(&mdir).map_err(|e| werr(&mdir, e))?;
    let part = mdir.join(format!(".{id}.json.tmp"));
    std::fs::write(&part, manifest.to_json() + "\n").map_err(|e| werr(&part, e))?;
    std::fs::rename(&part, &entry).map_err(|e| werr(&entry, e))?;
    Ok(Done::Exported(manifest))
}

/// The tables being written for one capture.
struct Tables {
    messages: Table,
    requests: Table,
    agent_states: Table,
    calls: Table,
    gaps: Table,
}

/// What the messages table keeps of each connection.
struct Endpoints {
    client: String,
    server: String,
}

/// Read the capture and write its tables under `tmp`; the files written (relative to
/// `tmp`) and the manifest entry (size and hash to fill in).
fn write_tables(
    input: &str,
    path: &Path,
    id: &str,
    tmp: &Path,
    opts: &Options,
) -> Result<(Vec<PathBuf>, Manifest), ExportError> {
    let mut t = Tables {
        messages: Table::new(&schema::MESSAGES, tmp, id, opts.compression),
        requests: Table::new(&schema::REQUESTS, tmp, id, opts.compression),
        agent_states: Table::new(&schema::AGENT_STATES, tmp, id, opts.compression),
        calls: Table::new(&schema::CALLS, tmp, id, opts.compression),
        gaps: Table::new(&schema::GAPS, tmp, id, opts.compression),
    };
    let mut an = Analyzer::new(opts.analysis.clone());
    an.record();
    let mut failed: Option<WriteError> = None;
    let mut ends: IntMap<u32, Endpoints> = IntMap::default();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut first_ts: Option<TimestampNs> = None;
    let mut events = 0u64;
    let path_str = path.to_string_lossy().into_owned();
    let res = crate::stage::run_path(&path_str, &opts.pipeline, opts.forced_version, &mut |ev, d| {
        events += 1;
        if failed.is_some() {
            return;
        }
        an.event(ev, d);
        let r = (|| -> Result<(), WriteError> {
            an_drain(&mut an, &mut t)?;
            match (ev, d) {
                (Event::Message { flow, frame }, Some(d)) => {
                    let first = *first_ts.get_or_insert(frame.ts_ns);
                    if let Some(f) = &opts.filter {
                        let rec = crate::filter::Record::message(flow, frame, d, first, &[]);
                        if !f.matches(&rec) {
                            return Ok(());
                        }
                    }
                    let e = ends.entry(flow.conn).or_insert_with(|| endpoints(flow));
                    message_row(&mut t.messages, &mut buf, e, flow, frame, d)
                }
                (Event::Connection { conn, client, server, ts_ns, .. }, _) => {
                    first_ts.get_or_insert(*ts_ns);
                    ends.insert(*conn, Endpoints { client: client.to_string(), server: server.to_string() });
                    Ok(())
                }
                (Event::ConnectionEnd { conn, .. }, _) => {
                    ends.remove(conn);
                    Ok(())
                }
                (Event::Gap { flow, offset, len, reason, frame, ts_ns }, _) => {
                    let g = &mut t.gaps;
                    g.begin_row(*ts_ns)?;
                    g.int(Some(flow.conn as i64));
                    g.text(Some(flow.dir.as_str()));
                    g.int(Some(*frame as i64));
                    g.time(Some(*ts_ns));
                    g.int(Some(*ts_ns));
                    g.int(Some(*offset as i64));
                    g.int(Some(*len as i64));
                    g.text(Some(reason.as_str()));
                    g.end_row()
                }
                _ => Ok(()),
            }
        })();
        if let Err(e) = r {
            failed = Some(e);
            crate::capture::stop_reading();
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    let cut_short = match res {
        Ok(_) => None,
        Err(e) => {
            let nothing = matches!(
                e.kind,
                CaptureErrorKind::Open(_) | CaptureErrorKind::Empty | CaptureErrorKind::UnknownFormat { .. }
            ) || events == 0;
            // The error names the file as it was read: name it as the user gave it.
            let msg = e.to_string().replacen(&path_str, input, 1);
            if nothing {
                return Err(ExportError::Unreadable(msg));
            }
            Some(msg)
        }
    };
    let mut late: Result<(), WriteError> = Ok(());
    let report = an.finish_into(&mut |r| {
        if late.is_ok() {
            late = record_row(&mut t, r);
        }
    });
    late?;
    let empty_ts = report.first_ts.unwrap_or(0);
    let mut findings = Table::new(&schema::FINDINGS, tmp, id, opts.compression);
    let mut sessions = Table::new(&schema::SESSIONS, tmp, id, opts.compression);
    findings_rows(&mut findings, &report)?;
    sessions_rows(&mut sessions, &report)?;
    for c in &report.calls {
        call_row(&mut t.calls, c)?;
    }
    let mut rows = Vec::new();
    let mut files = Vec::new();
    let Tables { messages, requests, agent_states, calls, gaps } = t;
    for tb in [messages, requests, findings, sessions, calls, agent_states, gaps] {
        rows.push((tb.def.name, tb.rows));
        files.extend(tb.finish(empty_ts)?);
    }
    // In schema::TABLES order.
    rows.sort_by_key(|(n, _)| schema::TABLES.iter().position(|t| t.name == *n));
    let manifest = Manifest {
        capture: id.to_string(),
        file: input.to_string(),
        size: 0,
        sha256: String::new(),
        first_ts: report.first_ts,
        last_ts: report.first_ts.map(|_| report.last_ts),
        rows,
        cut_short,
        calls_dropped: report.calls_dropped,
    };
    Ok((files, manifest))
}

fn an_drain(an: &mut Analyzer, t: &mut Tables) -> Result<(), WriteError> {
    let mut res = Ok(());
    an.drain(&mut |r| {
        if res.is_ok() {
            res = record_row(t, r);
        }
    });
    res
}

fn endpoints(flow: &Flow) -> Endpoints {
    let (c, s) = match flow.dir {
        Direction::ToServer => (flow.src, flow.dst),
        Direction::ToClient => (flow.dst, flow.src),
    };
    Endpoints { client: c.to_string(), server: s.to_string() }
}

/// A value by its name in `t`, else its number.
fn named(t: &ValueTable, v: u64) -> std::borrow::Cow<'static, str> {
    match u32::try_from(v).ok().and_then(|n| t.name_of(n)) {
        Some(name) => std::borrow::Cow::Borrowed(name),
        None => std::borrow::Cow::Owned(v.to_string()),
    }
}

fn num(d: &Decoded, id: FieldId) -> Option<i64> {
    d.get(id).and_then(|f| f.number()).map(|v| v as i64)
}

fn message_row(
    m: &mut Table,
    buf: &mut Vec<u8>,
    e: &Endpoints,
    flow: &Flow,
    frame: &Frame<'_>,
    d: &Decoded,
) -> Result<(), WriteError> {
    let bytes = frame.bytes;
    let text = |id: FieldId| d.get(id).and_then(|f| f.text(bytes));
    m.begin_row(frame.ts_ns)?;
    m.int(Some(frame.last_frame as i64));
    m.int(Some(frame.first_frame as i64));
    m.time(Some(frame.ts_ns));
    m.int(Some(frame.ts_ns));
    m.int(Some(flow.conn as i64));
    m.text(Some(&e.client));
    m.text(Some(&e.server));
    m.text(Some(flow.dir.as_str()));
    m.int(Some(frame.offset as i64));
    m.text(d.type_name());
    m.int(Some(d.msg_type as i64));
    m.int(Some(d.version as i64));
    m.text(Some(d.version_source.map_or("assumed", |s| s.as_str())));
    m.int(Some(frame.length as i64));
    if d.anomalies.is_empty() {
        m.text(None);
    } else {
        buf.clear();
        buf.push(b'[');
        for (i, a) in d.anomalies.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            json::push_str(buf, a.code);
        }
        buf.push(b']');
        m.text(std::str::from_utf8(buf).ok());
    }
    m.int(num(d, field::InvokeID));
    m.int(num(d, field::PeripheralID));
    m.int(num(d, field::ConnectionCallID));
    m.text(text(field::ConnectionDeviceID).as_deref());
    m.text(text(field::AgentID).as_deref());
    m.text(text(field::AgentExtension).as_deref());
    m.text(text(field::AgentInstrument).as_deref());
    let state = d.get(field::AgentState).and_then(|f| f.number()).map(|v| named(&values::AGENT_STATE, v));
    m.text(state.as_deref());
    m.int(num(d, field::MonitorID));
    let status = d.get(field::Status).and_then(|f| f.number()).map(|v| named(&values::STATUS_CODE, v));
    m.text(status.as_deref());
    // Written in place: the JSON writer writes UTF-8 (text fields converted lossily), which
    // the table checks once per row group.
    m.text_with(|b| json::push_fields_flat(b, d, bytes));
    m.end_row()
}

/// The state of an interval as the messages name it: `AGENT_STATE_TALKING`.
fn full_state(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii_digit()) || s == "?" {
        s.to_string()
    } else {
        format!("AGENT_STATE_{s}")
    }
}

fn record_row(t: &mut Tables, r: Record) -> Result<(), WriteError> {
    match r {
        Record::Request(q) => {
            let w = &mut t.requests;
            w.begin_row(q.request_ts)?;
            w.int(Some(q.conn as i64));
            w.int(q.invoke.map(i64::from));
            w.text(Some(q.request));
            w.int(Some(q.request_frame as i64));
            w.time(Some(q.request_ts));
            w.int(Some(q.request_ts));
            w.text(q.reply.map(|r| r.0));
            w.int(q.reply.map(|r| r.1 as i64));
            w.time(q.reply.map(|r| r.2));
            w.int(q.reply.map(|r| r.2));
            w.int(q.latency_ns());
            w.text(Some(q.outcome.as_str()));
            let code = q.failure_code.map(|c| match q.reply.map(|r| r.0) {
                Some("CONTROL_FAILURE_CONF") => named(&values::CONTROL_FAILURE_CODE, c),
                _ => named(&values::STATUS_CODE, c),
            });
            w.text(code.as_deref());
            w.text(q.agent.as_deref());
            w.int(q.peripheral.map(i64::from));
            w.int(q.call.map(i64::from));
            w.int(q.monitor.map(i64::from));
            w.end_row()
        }
        Record::AgentState(s) => {
            let w = &mut t.agent_states;
            w.begin_row(s.start_ts)?;
            w.text(Some(&s.agent));
            w.int(s.peripheral.map(i64::from));
            w.text(Some(&full_state(&s.state)));
            w.time(Some(s.start_ts));
            w.int(Some(s.start_ts));
            w.time(Some(s.end_ts));
            w.int(Some(s.end_ts));
            w.int(Some(s.duration_ns()));
            w.bool(s.ended);
            w.int(s.reason_code.map(i64::from));
            w.int(Some(s.conn as i64));
            w.int(Some(s.start_frame as i64));
            w.int(s.end_frame.map(|f| f as i64));
            w.end_row()
        }
        Record::Call(c) => call_row(&mut t.calls, &c),
    }
}

fn json_array<T: std::fmt::Display>(v: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = v.into_iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(","))
}

fn findings_rows(w: &mut Table, r: &Report) -> Result<(), WriteError> {
    for f in &r.findings {
        let s = &f.subject;
        w.begin_row(f.ts_ns)?;
        w.text(Some(f.rule));
        w.text(Some(f.severity.as_str()));
        w.int(f.conn.map(i64::from));
        w.int(f.frames.iter().min().map(|&x| x as i64));
        w.text(Some(&json_array(&f.frames)));
        w.time(Some(f.ts_ns));
        w.int(Some(f.ts_ns));
        w.text(Some(&f.message));
        w.text(Some(&f.cause));
        w.text(Some(&f.reference));
        w.text(s.message);
        w.text(s.field);
        w.int(s.invoke.map(i64::from));
        w.text(s.request);
        w.text(s.confirm);
        w.text(s.agent.as_deref());
        w.text(s.extension.as_deref());
        w.text(s.instrument.as_deref());
        w.int(s.peripheral.map(i64::from));
        w.int(s.call.map(i64::from));
        w.text(s.device.as_deref());
        w.int(s.latency_ns);
        w.text(s.client.as_deref());
        w.text(s.server.as_deref());
        w.text(s.client_id.as_deref());
        w.end_row()?;
    }
    Ok(())
}

fn sessions_rows(w: &mut Table, r: &Report) -> Result<(), WriteError> {
    for c in &r.connections {
        w.begin_row(c.first_ts)?;
        w.int(Some(c.conn as i64));
        w.text(c.client.as_deref());
        w.text(c.server.as_deref());
        w.time(Some(c.first_ts));
        w.time(Some(c.last_ts));
        w.int(Some(c.last_ts - c.first_ts));
        w.int(Some(c.first_frame as i64));
        w.int(Some(c.end_frame as i64));
        w.bool(c.midstream);
        w.bool(c.cti);
        w.text(Some(c.open));
        w.text(Some(c.end));
        w.text(c.end_by);
        w.int(c.version.map(i64::from));
        w.text(c.client_id.as_deref());
        w.text(c.agent_id.as_deref());
        w.text(c.extension.as_deref());
        w.text(c.instrument.as_deref());
        w.bool(c.desktop);
        w.int(c.follows.map(|f| f.0 as i64));
        w.int(c.follows.map(|f| f.1));
        w.int(Some(c.heartbeats_unanswered as i64));
        w.int(c.services_granted.map(i64::from));
        w.int(Some(c.messages[0] as i64));
        w.int(Some(c.messages[1] as i64));
        w.int(Some(c.bytes[0] as i64));
        w.int(Some(c.bytes[1] as i64));
        w.bool(c.lost);
        w.end_row()?;
    }
    Ok(())
}

fn call_row(w: &mut Table, c: &crate::analysis::CallSummary) -> Result<(), WriteError> {
    {
        let at = |name: &str| c.events.iter().find(|e| e.2 == name).map(|e| e.0);
        w.begin_row(c.first_ts)?;
        w.int(Some(c.seq as i64));
        w.int(Some(c.conn as i64));
        w.text(Some(&json_array(&c.conns)));
        w.int(Some(c.peripheral as i64));
        w.int(c.call_ids.first().map(|&x| x as i64));
        w.text(Some(&json_array(&c.call_ids)));
        w.int(Some(c.device_type as i64));
        w.text(Some(&c.device));
        w.bool(c.begin_seen);
        w.bool(c.ended);
        w.int(Some(c.first_frame as i64));
        w.time(Some(c.first_ts));
        w.time(Some(c.last_ts));
        w.int(Some(c.last_ts - c.first_ts));
        w.time(at("CALL_DELIVERED_EVENT"));
        w.time(at("CALL_ESTABLISHED_EVENT"));
        w.time(at("CALL_CLEARED_EVENT"));
        w.time(at("END_CALL_EVENT"));
        w.int(c.ring_ns);
        w.int(c.talk_ns);
        w.int(Some(c.hold_ns));
        let mut ev = Vec::new();
        ev.push(b'[');
        for (i, (ts, fr, name)) in c.events.iter().enumerate() {
            if i > 0 {
                ev.push(b',');
            }
            ev.extend_from_slice(format!("{{\"time_ns\":{ts},\"frame\":{fr},\"event\":").as_bytes());
            json::push_str(&mut ev, name);
            ev.push(b'}');
        }
        ev.push(b']');
        w.text(Some(&String::from_utf8_lossy(&ev)));
        w.int(Some(c.events_dropped as i64));
        let mut vars = Vec::new();
        vars.push(b'{');
        for (i, (k, v)) in c.vars.iter().enumerate() {
            if i > 0 {
                vars.push(b',');
            }
            json::push_str(&mut vars, k);
            vars.push(b':');
            json::push_str(&mut vars, v);
        }
        vars.push(b'}');
        w.text(Some(&String::from_utf8_lossy(&vars)));
        w.bool(c.data_set);
        w.end_row()?;
    }
    Ok(())
}
