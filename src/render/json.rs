//! JSON output: one object per message (`-T jsonl`, or an array with `-T json`).
//!
//! Schema version 1 (documented in `docs/json-schema.md`). Keys never repeat; numbers are
//! numbers; strings have no NUL. Written directly (no intermediate tree) for speed.

use crate::cti::decode::{range_str, Decoded, Part, Value};
use crate::cti::framing::Frame;
use crate::cti::spec::ValueKind;
use crate::pipeline::Flow;
use crate::render::{time, value};
use std::io::{self, Write};

/// Version of the JSON object layout, present in every object as `"schema"`.
pub const SCHEMA_VERSION: u32 = 1;

/// A JSON string literal (escaped by serde_json).
pub fn write_str(w: &mut dyn Write, s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *w, s).map_err(io::Error::other)
}

fn write_value(w: &mut dyn Write, v: Value, bytes: &[u8]) -> io::Result<()> {
    match v {
        Value::Unsigned(n) => write!(w, "{n}"),
        Value::Signed(n) => write!(w, "{n}"),
        Value::Bool(n) => write!(w, "{n}"),
        Value::Time(n) => write!(w, "{n}"),
        Value::Text { start, len } => write_str(w, &range_str(bytes, (start, len))),
        Value::Bytes { start, len } | Value::Raw { start, len } => {
            let s = start as usize;
            let e = (s + len as usize).min(bytes.len());
            write_str(w, &value::hex(bytes.get(s..e).unwrap_or(&[])))
        }
        Value::NamedVar { name, value } => {
            write!(w, "{{\"name\":")?;
            write_str(w, &range_str(bytes, name))?;
            write!(w, ",\"value\":")?;
            write_str(w, &range_str(bytes, value))?;
            write!(w, "}}")
        }
        Value::NamedArray { index, name, value } => {
            write!(w, "{{\"name\":")?;
            write_str(w, &range_str(bytes, name))?;
            write!(w, ",\"index\":{index},\"value\":")?;
            write_str(w, &range_str(bytes, value))?;
            write!(w, "}}")
        }
        Value::TaskId([a, b, c]) => write!(w, "[{a},{b},{c}]"),
    }
}

/// Named reading of a field for JSON: a string for enums, an array for masks.
fn write_named(w: &mut dyn Write, t: &crate::cti::spec::ValueTable, n: u32) -> io::Result<bool> {
    let names = crate::cti::decode::value_names(t, n);
    match t.kind {
        ValueKind::Mask => {
            write!(w, "[")?;
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    write!(w, ",")?;
                }
                write_str(w, name)?;
            }
            write!(w, "]")?;
            Ok(true)
        }
        _ => match names.first() {
            Some(name) => {
                write_str(w, name)?;
                Ok(true)
            }
            None => Ok(false),
        },
    }
}

/// Write one message object (no trailing newline).
pub fn write_message(w: &mut dyn Write, flow: &Flow, frame: &Frame<'_>, d: &Decoded) -> io::Result<()> {
    let bytes = frame.bytes;
    write!(
        w,
        "{{\"schema\":{SCHEMA_VERSION},\"event\":\"message\",\"frame\":{},\"frames\":[",
        frame.last_frame
    )?;
    if frame.first_frame == frame.last_frame {
        write!(w, "{}]", frame.last_frame)?;
    } else {
        write!(w, "{},{}]", frame.first_frame, frame.last_frame)?;
    }
    write!(w, ",\"time\":\"{}\",\"epoch_ns\":{}", time::format_rfc3339(frame.ts_ns), frame.ts_ns)?;
    write!(w, ",\"connection\":{},\"direction\":\"{}\"", flow.conn, flow.dir.as_str())?;
    write!(w, ",\"src\":\"{}\",\"dst\":\"{}\",\"stream_offset\":{}", flow.src, flow.dst, frame.offset)?;
    write!(
        w,
        ",\"protocol_version\":{},\"version_source\":\"{}\"",
        d.version,
        d.version_source.map_or("assumed", |s| s.as_str())
    )?;
    write!(w, ",\"type\":")?;
    match d.type_name() {
        Some(n) => write_str(w, n)?,
        None => write!(w, "null")?,
    }
    write!(w, ",\"type_id\":{},\"length\":{}", d.msg_type, frame.length)?;
    // Fixed part by spec field name.
    write!(w, ",\"fields\":{{")?;
    let mut first = true;
    for f in d.fields.iter().filter(|f| f.part == Part::Fixed) {
        if !first {
            write!(w, ",")?;
        }
        first = false;
        write_str(w, f.name)?;
        write!(w, ":")?;
        write_value(w, f.value, bytes)?;
    }
    write!(w, "}},\"named\":{{")?;
    let mut first = true;
    for f in d.fields.iter().filter(|f| f.part == Part::Fixed) {
        let (Some(t), Some(n)) = (f.values, value::as_u32(f.value)) else {
            continue;
        };
        let mut buf = Vec::new();
        if write_named(&mut buf, t, n)? {
            if !first {
                write!(w, ",")?;
            }
            first = false;
            write_str(w, f.name)?;
            write!(w, ":")?;
            w.write_all(&buf)?;
        }
    }
    write!(w, "}},\"floating\":[")?;
    let mut first = true;
    for f in d.fields.iter().filter(|f| f.part == Part::Floating) {
        if !first {
            write!(w, ",")?;
        }
        first = false;
        write!(w, "{{\"tag\":")?;
        match f.tag {
            Some(t) => write!(w, "{t}")?,
            None => write!(w, "null")?,
        }
        write!(w, ",\"name\":")?;
        write_str(w, f.name)?;
        write!(w, ",\"offset\":{},\"value\":", f.offset)?;
        write_value(w, f.value, bytes)?;
        if let (Some(t), Some(n)) = (f.values, value::as_u32(f.value)) {
            let mut buf = Vec::new();
            if write_named(&mut buf, t, n)? {
                write!(w, ",\"named\":")?;
                w.write_all(&buf)?;
            }
        }
        if let Value::Time(t) = f.value {
            write!(w, ",\"time\":\"{}\"", time::format_rfc3339(t as i64 * 1_000_000_000))?;
        }
        if let Some((g, i)) = f.group {
            write!(w, ",\"group\":")?;
            write_str(w, g)?;
            write!(w, ",\"index\":{i}")?;
        }
        write!(w, "}}")?;
    }
    write!(w, "],\"anomalies\":[")?;
    for (i, a) in d.anomalies.iter().enumerate() {
        if i > 0 {
            write!(w, ",")?;
        }
        write!(w, "{{\"code\":\"{}\",\"field\":", a.code)?;
        match a.field {
            Some(f) => write_str(w, f)?,
            None => write!(w, "null")?,
        }
        write!(w, ",\"offset\":{},\"message\":", a.offset)?;
        write_str(w, &a.message)?;
        write!(w, "}}")?;
    }
    write!(w, "]")?;
    if d.anomalies_dropped > 0 {
        write!(w, ",\"anomalies_dropped\":{}", d.anomalies_dropped)?;
    }
    write!(w, "}}")
}
