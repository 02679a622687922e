//! JSON objects for the pipeline events that are not messages (connections, gaps, resyncs,
//! reassembly findings). Every object carries `"event"`; messages carry `"event":"message"`.

use crate::pipeline::{Detection, Event, Flow};
use crate::render::json::{write_str, SCHEMA_VERSION};
use crate::render::time;
use std::io::{self, Write};

fn head(w: &mut dyn Write, event: &str, frame: u64, ts: i64) -> io::Result<()> {
    write!(
        w,
        "{{\"schema\":{SCHEMA_VERSION},\"event\":\"{event}\",\"frame\":{frame},\"time\":\"{}\",\"epoch_ns\":{ts}",
        time::format_rfc3339(ts)
    )
}

fn flow(w: &mut dyn Write, f: &Flow) -> io::Result<()> {
    write!(
        w,
        ",\"connection\":{},\"direction\":\"{}\",\"src\":\"{}\",\"dst\":\"{}\"",
        f.conn,
        f.dir.as_str(),
        f.src,
        f.dst
    )
}

/// Write a non-message event as one JSON object (no newline). Messages are written by
/// [`crate::render::json::write_message`].
pub fn write_event_json(w: &mut dyn Write, ev: &Event<'_>) -> io::Result<()> {
    match ev {
        Event::Connection { conn, client, server, start, detection, frame, ts_ns } => {
            head(w, "connection", *frame, *ts_ns)?;
            write!(
                w,
                ",\"connection\":{conn},\"client\":\"{client}\",\"server\":\"{server}\",\"start\":\"{}\",\"detection\":\"{}\"}}",
                start.as_str(),
                match detection {
                    Detection::Port => "port",
                    Detection::Heuristic => "heuristic",
                }
            )
        }
        Event::Message { flow: f, frame, .. } => {
            head(w, "message", frame.last_frame, frame.ts_ns)?;
            flow(w, f)?;
            write!(w, ",\"type_id\":{}}}", frame.msg_type)
        }
        Event::Gap { flow: f, offset, len, reason, frame, ts_ns } => {
            head(w, "gap", *frame, *ts_ns)?;
            flow(w, f)?;
            write!(w, ",\"stream_offset\":{offset},\"length\":{len},\"reason\":\"{}\"}}", reason.as_str())
        }
        Event::Skipped { flow: f, offset, len, reason, first_frame, last_frame, ts_ns } => {
            head(w, "resync", *last_frame, *ts_ns)?;
            flow(w, f)?;
            write!(
                w,
                ",\"frames\":[{first_frame},{last_frame}],\"stream_offset\":{offset},\"skipped\":{len},\"reason\":\"{}\"}}",
                reason.as_str()
            )
        }
        Event::Incomplete { flow: f, offset, msg_type, have, need, first_frame, last_frame, ts_ns } => {
            head(w, "incomplete", *last_frame, *ts_ns)?;
            flow(w, f)?;
            write!(
                w,
                ",\"frames\":[{first_frame},{last_frame}],\"stream_offset\":{offset},\"type_id\":{msg_type},\"have\":{have},\"need\":{need}}}"
            )
        }
        Event::Implausible { flow: f, offset, msg_type, length, frame, ts_ns } => {
            head(w, "implausible_header", *frame, *ts_ns)?;
            flow(w, f)?;
            write!(w, ",\"stream_offset\":{offset},\"type_id\":{msg_type},\"message_length\":{length}}}")
        }
        Event::Conflict { flow: f, offset, len, frame, ts_ns } => {
            head(w, "retransmission_conflict", *frame, *ts_ns)?;
            flow(w, f)?;
            write!(w, ",\"stream_offset\":{offset},\"length\":{len}}}")
        }
        Event::Limit { conn, setting, frame, ts_ns } => {
            head(w, "limit", *frame, *ts_ns)?;
            if let Some(c) = conn {
                write!(w, ",\"connection\":{c}")?;
            }
            write!(w, ",\"setting\":\"{setting}\"}}")
        }
        Event::ConnectionEnd { conn, end, by, frame, ts_ns } => {
            head(w, "connection_end", *frame, *ts_ns)?;
            write!(w, ",\"connection\":{conn},\"end\":\"{}\"", end.as_str())?;
            if let Some(by) = by {
                write!(w, ",\"by\":\"{}\"", by.sender())?;
            }
            write!(w, "}}")
        }
        Event::PacketIssue { frame, ts_ns, issue } => {
            head(w, "packet_issue", *frame, *ts_ns)?;
            write!(w, ",\"issue\":")?;
            write_str(w, issue)?;
            write!(w, "}}")
        }
    }
}
