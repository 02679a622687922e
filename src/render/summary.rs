//! One line per event, tshark style: frame number, time, source → destination, what.

use crate::cti::spec::{FieldId, MessageType};
use crate::net::tcp::{ConnEnd, ConnStart, GapReason};
use crate::pipeline::{Detection, Event, Flow};
use crate::render::time;
use crate::TimestampNs;
use std::io::{self, Write};

/// How the time column is shown (`-t`, as tshark's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// UTC date and time with microseconds (`-t ud`, the default).
    #[default]
    Absolute,
    /// UTC time of day (`-t u`).
    UtcTime,
    /// Local date and time (`-t ad`), in the zone of the machine (`TZ`).
    Local,
    /// Local time of day (`-t a`).
    LocalTime,
    /// Seconds since the first event of the capture (`-t r`).
    Relative,
    /// Seconds since the previous message or event of the capture, shown or not (`-t d`).
    Delta,
    /// Seconds since the previous line shown (`-t dd`).
    DeltaShown,
    /// Seconds since the epoch (`-t e`).
    Epoch,
}

/// Per-capture state of the summary printer.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub time_format: TimeFormat,
    first_ts: Option<TimestampNs>,
    /// `-t d`: the event before the one being shown.
    prev_ts: Option<TimestampNs>,
    base_ts: Option<TimestampNs>,
    /// `-t dd`: the last line shown.
    shown_ts: Option<TimestampNs>,
}

/// The fields shown on a message's summary line, when present, in this order: the
/// layout's [`MessageSpec::summary`](crate::cti::spec::MessageSpec::summary). A type without
/// a layout shows none: without a layout nothing says which bytes hold an InvokeID (an
/// event's fixed part starts with MonitorID or PeripheralID instead).
pub fn summary_fields(d: &crate::cti::decode::Decoded) -> &'static [FieldId] {
    d.spec.map_or(&[], |s| s.summary)
}

/// The timestamp an event is shown with.
pub fn event_ts(ev: &Event<'_>) -> TimestampNs {
    match ev {
        Event::Connection { ts_ns, .. }
        | Event::Gap { ts_ns, .. }
        | Event::Skipped { ts_ns, .. }
        | Event::Incomplete { ts_ns, .. }
        | Event::Implausible { ts_ns, .. }
        | Event::Conflict { ts_ns, .. }
        | Event::Limit { ts_ns, .. }
        | Event::ConnectionEnd { ts_ns, .. }
        | Event::PacketIssue { ts_ns, .. } => *ts_ns,
        Event::Message { frame, .. } => frame.ts_ns,
    }
}

/// Guide maximum message size (header included) for a connection's version, if seen.
pub fn guide_max_message(version: Option<u32>) -> usize {
    crate::cti::decode::max_message_size(version.unwrap_or(crate::cti::decode::DEFAULT_VERSION))
}

/// `NAME (n)` or `UNKNOWN (n)`.
pub fn type_label(msg_type: u32) -> String {
    MessageType(msg_type).label()
}

/// The summary fields of a message (` Name=value` each), as its summary line shows them.
pub fn push_fields(b: &mut Vec<u8>, bytes: &[u8], d: &crate::cti::decode::Decoded) {
    for &id in summary_fields(d) {
        if let Some(f) = d.get(id) {
            b.push(b' ');
            b.extend_from_slice(id.name().as_bytes());
            b.push(b'=');
            crate::render::value::push_short(b, f, bytes);
        }
    }
}

/// The anomaly count of a message (` [2 anomalies: code, …]`), as its summary line shows it.
pub fn push_anomalies(b: &mut Vec<u8>, d: &crate::cti::decode::Decoded) {
    if !d.anomalies.is_empty() {
        // The last kept anomaly stands for the dropped ones when there were too many.
        let marker = usize::from(d.anomalies_dropped > 0);
        let n = d.anomalies.len() - marker + d.anomalies_dropped as usize;
        let _ = write!(b, " [{n} anomal{}: {}", if n == 1 { "y" } else { "ies" }, d.anomalies[0].code);
        if n > 1 {
            b.extend_from_slice(", …".as_bytes());
        }
        b.push(b']');
    }
}

impl Summary {
    pub fn new(time_format: TimeFormat) -> Self {
        Summary { time_format, ..Summary::default() }
    }

    /// Set the reference for relative times (the first packet of the capture), and for
    /// `-t d` the previous event: called for every event in capture order.
    pub fn set_first_ts(&mut self, ts: TimestampNs) {
        if self.first_ts.is_none() {
            self.first_ts = Some(ts);
        }
        if self.time_format == TimeFormat::Delta {
            self.base_ts = Some(self.prev_ts.unwrap_or(ts));
            self.prev_ts = Some(ts);
        }
    }

    /// The capture's first time, once seen.
    pub fn first_ts(&self) -> Option<TimestampNs> {
        self.first_ts
    }

    /// A line with this time was shown (for `-t dd`).
    pub fn shown(&mut self, ts: TimestampNs) {
        self.shown_ts = Some(ts);
    }

    /// Whether lines must be rendered in order by one thread: deltas depend on the line
    /// before.
    pub fn sequential(&self) -> bool {
        matches!(self.time_format, TimeFormat::Delta | TimeFormat::DeltaShown)
    }

    /// Relative times count from the first timestamp given to [`Summary::set_first_ts`]
    /// (or to `write_event`); until then from the line's own time.
    pub fn time(&self, ts: TimestampNs) -> String {
        match self.time_format {
            TimeFormat::Absolute => time::format_utc(ts, 6),
            TimeFormat::Relative => {
                let first = self.first_ts.unwrap_or(ts);
                time::format_seconds(ts - first, 6)
            }
            TimeFormat::Epoch => time::format_seconds(ts, 6),
            TimeFormat::UtcTime => time::format_time_of_day(ts, 6),
            TimeFormat::Local => time::format_utc(ts + time::local_offset_ns(ts), 6),
            TimeFormat::LocalTime => time::format_time_of_day(ts + time::local_offset_ns(ts), 6),
            TimeFormat::Delta => time::format_seconds(ts - self.base_ts.unwrap_or(ts), 6),
            TimeFormat::DeltaShown => time::format_seconds(ts - self.shown_ts.unwrap_or(ts), 6),
        }
    }

    fn prefix(&self, w: &mut dyn Write, frame: u64, ts: TimestampNs, flow: Option<&Flow>) -> io::Result<()> {
        let t = self.time(ts);
        write!(w, "{frame:>6} {t} ")?;
        if let Some(f) = flow {
            write!(w, "{} → {} ", f.src, f.dst)?;
        }
        Ok(())
    }

    /// Write a decoded message as one line: the type and the fields a user scans for.
    /// Takes `&self` so that worker threads can render messages in parallel: call
    /// [`Summary::set_first_ts`] in capture order first when times are relative.
    pub fn write_message(
        &self,
        w: &mut dyn Write,
        flow: &Flow,
        frame: &crate::cti::framing::Frame<'_>,
        d: &crate::cti::decode::Decoded,
    ) -> io::Result<()> {
        thread_local! {
            static LINE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(512));
        }
        LINE.with(|cell| {
            let mut b = cell.borrow_mut();
            b.clear();
            self.push_message(&mut b, flow, frame, d);
            w.write_all(&b)
        })
    }

    /// The message line, appended to `b` (built in a byte buffer: no formatting machinery
    /// per field on the hot path).
    pub fn push_message(
        &self,
        b: &mut Vec<u8>,
        flow: &Flow,
        frame: &crate::cti::framing::Frame<'_>,
        d: &crate::cti::decode::Decoded,
    ) {
        let mut num = itoa::Buffer::new();
        let n = num.format(frame.last_frame);
        b.extend(std::iter::repeat_n(b' ', 6usize.saturating_sub(n.len())));
        b.extend_from_slice(n.as_bytes());
        b.push(b' ');
        self.push_time(b, frame.ts_ns);
        b.push(b' ');
        crate::render::value::push_addr(b, &flow.src);
        b.extend_from_slice(" → ".as_bytes());
        crate::render::value::push_addr(b, &flow.dst);
        b.push(b' ');
        b.extend_from_slice(d.type_name().unwrap_or("UNKNOWN").as_bytes());
        b.extend_from_slice(b" (");
        b.extend_from_slice(num.format(frame.msg_type).as_bytes());
        b.push(b')');
        push_fields(b, frame.bytes, d);
        b.extend_from_slice(b" len=");
        b.extend_from_slice(num.format(frame.bytes.len()).as_bytes());
        push_anomalies(b, d);
        b.push(b'\n');
    }

    fn push_time(&self, b: &mut Vec<u8>, ts: TimestampNs) {
        match self.time_format {
            TimeFormat::Absolute => time::push_utc(b, ts, 6),
            _ => b.extend_from_slice(self.time(ts).as_bytes()),
        }
    }

    /// Write one event as one line.
    pub fn write_event(&mut self, w: &mut dyn Write, ev: &Event<'_>) -> io::Result<()> {
        self.set_first_ts(event_ts(ev));
        match ev {
            Event::Connection { conn, client, server, start, detection, frame, ts_ns } => {
                self.prefix(w, *frame, *ts_ns, None)?;
                let start = match start {
                    ConnStart::Handshake => "handshake captured",
                    ConnStart::Midstream => "capture starts mid-connection",
                };
                let how = match detection {
                    Detection::Port => format!("server port {}", server.port()),
                    Detection::Heuristic => "recognised by CTI header heuristic".to_string(),
                };
                writeln!(w, "[connection {conn}] CTI client {client}, server {server} ({start}; {how})")
            }
            Event::Message { flow, frame } => {
                self.prefix(w, frame.last_frame, frame.ts_ns, Some(flow))?;
                write!(w, "{} len={}", type_label(frame.msg_type), frame.bytes.len())?;
                let max = guide_max_message(None);
                if frame.bytes.len() > max {
                    write!(w, " [over the guide's {max}-byte maximum]")?;
                }
                writeln!(w)
            }
            Event::Gap { flow, offset, len, reason, frame, ts_ns } => {
                self.prefix(w, *frame, *ts_ns, Some(flow))?;
                let why = match reason {
                    GapReason::BufferLimit => "later data exceeded the reassembly buffer",
                    GapReason::AckedPastHole => "acknowledged by the peer, not captured",
                    GapReason::ConnectionEnd => "connection ended with the hole open",
                    GapReason::Truncated => "cut by the capture's snap length",
                };
                writeln!(w, "[gap] {len} bytes missing at stream offset {offset} ({why})")
            }
            Event::Skipped { flow, offset, len, reason, first_frame, last_frame, ts_ns } => {
                self.prefix(w, *last_frame, *ts_ns, Some(flow))?;
                let why = match reason {
                    crate::cti::framing::SkipReason::Midstream => "capture started mid-stream",
                    crate::cti::framing::SkipReason::AfterGap => "after a gap",
                    crate::cti::framing::SkipReason::Implausible => "after an implausible header",
                    crate::cti::framing::SkipReason::BadLength => {
                        "a message length that led to no plausible header"
                    }
                    crate::cti::framing::SkipReason::StreamEnd => "stream ended",
                    crate::cti::framing::SkipReason::BufferLimit => {
                        "rest of a message given up at max_buffered_total"
                    }
                };
                writeln!(
                    w,
                    "[resync] skipped {len} bytes at stream offset {offset} (frames {first_frame}-{last_frame}; {why})"
                )
            }
            Event::Incomplete { flow, offset, msg_type, have, need, first_frame, last_frame, ts_ns } => {
                self.prefix(w, *last_frame, *ts_ns, Some(flow))?;
                writeln!(
                    w,
                    "[incomplete] {} at stream offset {offset}: {have} of {need} bytes (frames {first_frame}-{last_frame})",
                    type_label(*msg_type)
                )
            }
            Event::Implausible { flow, offset, msg_type, length, frame, ts_ns } => {
                self.prefix(w, *frame, *ts_ns, Some(flow))?;
                writeln!(
                    w,
                    "[implausible header] MessageLength {length} (type {msg_type}) at stream offset {offset}: resynchronising"
                )
            }
            Event::Conflict { flow, offset, len, frame, ts_ns } => {
                self.prefix(w, *frame, *ts_ns, Some(flow))?;
                writeln!(
                    w,
                    "[retransmission conflict] {len} bytes at stream offset {offset} differ from the first copy (first copy kept)"
                )
            }
            Event::Limit { conn, setting, frame, ts_ns } => {
                self.prefix(w, *frame, *ts_ns, None)?;
                match conn {
                    Some(c) => writeln!(w, "[limit] connection {c}: {setting} reached"),
                    None => writeln!(w, "[limit] {setting} reached"),
                }
            }
            Event::ConnectionEnd { conn, end, by, frame, ts_ns } => {
                self.prefix(w, *frame, *ts_ns, None)?;
                if let (Some(by), ConnEnd::Fin | ConnEnd::Rst) = (by, end) {
                    let how = if *end == ConnEnd::Fin { "closed (FIN)" } else { "reset (RST)" };
                    return writeln!(w, "[connection {conn}] {how} by the {}", by.sender());
                }
                let how = match end {
                    ConnEnd::Fin => "closed (FIN)",
                    ConnEnd::Rst => "reset (RST)",
                    ConnEnd::CaptureEnd => "still open at the end of the capture",
                    ConnEnd::Reused => "replaced by a new connection on the same ports",
                    ConnEnd::Evicted => "dropped: max_connections reached",
                };
                writeln!(w, "[connection {conn}] {how}")
            }
            Event::PacketIssue { frame, ts_ns, issue } => {
                self.prefix(w, *frame, *ts_ns, None)?;
                writeln!(w, "[packet] {issue}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cti::decode::{decode, VersionSource};
    use crate::cti::encode::MessageBuilder;
    use crate::cti::framing::Frame;
    use crate::cti::spec::{self, fields::field};
    use crate::pipeline::Direction;

    /// The summary line of a built message (fixed enumerations left at 0 add anomalies at
    /// the end of the line, after `len=`).
    fn line(b: &MessageBuilder) -> String {
        let bytes = b.build();
        let d = decode(&bytes, b.version(), VersionSource::Forced);
        line_of(&bytes, &d)
    }

    fn line_of(bytes: &[u8], d: &crate::cti::decode::Decoded) -> String {
        let flow = Flow {
            conn: 0,
            dir: Direction::ToClient,
            src: "10.0.0.1:42027".parse().unwrap(),
            dst: "10.0.0.2:50000".parse().unwrap(),
        };
        let frame = Frame {
            offset: 0,
            first_frame: 1,
            last_frame: 1,
            ts_ns: 0,
            msg_type: u32::from_be_bytes(bytes[4..8].try_into().unwrap()),
            length: u32::from_be_bytes(bytes[0..4].try_into().unwrap()),
            bytes,
        };
        let mut out = Vec::new();
        Summary::new(TimeFormat::Epoch).push_message(&mut out, &flow, &frame, d);
        String::from_utf8(out).unwrap()
    }

    fn names(list: &[FieldId]) -> Vec<&'static str> {
        list.iter().map(|f| f.name()).collect()
    }

    #[test]
    fn transfer_and_conference_events_show_both_calls() {
        for name in ["CALL_TRANSFERRED_EVENT", "CALL_CONFERENCED_EVENT"] {
            let summary = names(spec::message_by_name(name).unwrap().summary);
            assert!(
                summary.contains(&"PrimaryCallID") && summary.contains(&"SecondaryCallID"),
                "{name}: {summary:?}"
            );
            let mut b = MessageBuilder::named(name, 24);
            b.set(field::PrimaryCallID, 16795321).unwrap().set(field::SecondaryCallID, 16795323).unwrap();
            b.text(field::PrimaryDeviceID, "40002").unwrap().text(field::SecondaryDeviceID, "40002").unwrap();
            let l = line(&b);
            assert!(l.contains(" PrimaryCallID=16795321 SecondaryCallID=16795323 "), "{l}");
            assert!(!l.contains("PeripheralID="), "{l}");
        }
        let mut b = MessageBuilder::named("CALL_TRANSFERRED_EVENT", 24);
        b.set(field::PrimaryCallID, 7).unwrap().set(field::SecondaryCallID, 8).unwrap();
        b.text(field::PrimaryDeviceID, "40002").unwrap().text(field::SecondaryDeviceID, "40002").unwrap();
        b.text(field::TransferringDeviceID, "40002")
            .unwrap()
            .text(field::TransferredDeviceID, "60012")
            .unwrap();
        let l = line(&b);
        assert!(l.contains(" TransferringDeviceID=40002 TransferredDeviceID=60012 "), "{l}");
    }

    #[test]
    fn transfer_and_conference_requests_show_both_calls() {
        for name in ["TRANSFER_CALL_REQ", "CONFERENCE_CALL_REQ"] {
            let mut b = MessageBuilder::named(name, 24);
            b.set(field::InvokeID, 479).unwrap();
            b.set(field::ActiveConnectionCallID, 16795323)
                .unwrap()
                .set(field::HeldConnectionCallID, 16795321)
                .unwrap();
            b.text(field::ActiveConnectionDeviceID, "40002").unwrap();
            b.text(field::HeldConnectionDeviceID, "40002").unwrap();
            b.text(field::AgentInstrument, "40002").unwrap();
            let l = line(&b);
            for want in [
                "InvokeID=479",
                "ActiveConnectionCallID=16795323",
                "HeldConnectionCallID=16795321",
                "AgentInstrument=40002",
            ] {
                assert!(l.contains(want), "{name}: {l}");
            }
        }
    }

    #[test]
    fn call_data_update_shows_the_new_connection() {
        let mut b = MessageBuilder::named("CALL_DATA_UPDATE_EVENT", 24);
        b.set(field::ConnectionCallID, 16795322).unwrap().set(field::NewConnectionCallID, 16795330).unwrap();
        b.text(field::ConnectionDeviceID, "40001")
            .unwrap()
            .text(field::NewConnectionDeviceID, "40003")
            .unwrap();
        let l = line(&b);
        assert!(
            l.contains(
                " MonitorID=0 ConnectionCallID=16795322 ConnectionDeviceID=40001 NewConnectionCallID=16795330 NewConnectionDeviceID=40003 len="
            ),
            "{l}"
        );
    }

    #[test]
    fn fields_show_only_when_present() {
        // OPEN_REQ without its optional floating fields: no ClientID, AgentID, ...
        let mut b = MessageBuilder::named("OPEN_REQ", 24);
        b.set(field::InvokeID, 1).unwrap().set(field::VersionNumber, 24).unwrap();
        b.text(field::ClientID, "desk1").unwrap().text(field::ClientPassword, "").unwrap();
        let l = line(&b);
        assert!(l.contains(" OPEN_REQ (3) InvokeID=1 VersionNumber=24 ClientID=desk1 len="), "{l}");
    }

    #[test]
    fn a_type_without_a_layout_shows_no_field() {
        let mut bytes = vec![0, 0, 0, 4, 0, 0, 0x0f, 0xff];
        bytes.extend_from_slice(&7u32.to_be_bytes());
        let d = decode(&bytes, 24, VersionSource::Forced);
        assert!(d.spec.is_none());
        let l = line_of(&bytes, &d);
        assert!(l.contains(" UNKNOWN (4095) len=12"), "{l}");
    }

    #[test]
    fn no_list_exceeds_the_cap() {
        for m in spec::messages() {
            assert!(m.summary.len() <= spec::SUMMARY_MAX, "{}: {:?}", m.name, names(m.summary));
        }
    }
}
