//! JSON output: one object per message (`-T jsonl`, or an array with `-T json`).
//!
//! Schema version 1 (documented in `docs/json-schema.md`). Keys never repeat; numbers are
//! numbers; strings have no NUL. Written directly (no intermediate tree) for speed.

use crate::cti::decode::{named_value, range_bytes, range_str, Decoded, Part, Value};
use crate::cti::framing::Frame;
use crate::cti::spec::{ValueKind, ValueTable};
use crate::pipeline::Flow;
use crate::render::{time, value};
use std::io::{self, Write};

/// Version of the JSON object layout, present in every object as `"schema"`.
pub const SCHEMA_VERSION: u32 = 1;

/// A JSON string literal.
pub fn write_str(w: &mut dyn Write, s: &str) -> io::Result<()> {
    let mut b = Vec::with_capacity(s.len() + 2);
    push_str(&mut b, s);
    w.write_all(&b)
}

/// Append `bytes` between quotes, as they are (they need no escape).
#[inline]
fn push_quoted(b: &mut Vec<u8>, bytes: &[u8]) {
    b.reserve(bytes.len() + 2);
    b.push(b'"');
    b.extend_from_slice(bytes);
    b.push(b'"');
}

/// Append a JSON string literal: quotes, and escapes for `"`, `\\` and control characters
/// (non-ASCII UTF-8 passes through as is).
pub fn push_str(b: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Most strings need no escape: check in one simple pass, then copy.
    if bytes.iter().all(|&c| c >= 0x20 && c != b'"' && c != b'\\' && c != 0x7f) {
        return push_quoted(b, bytes);
    }
    b.push(b'"');
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f | 0x7f => b"",
            _ => continue,
        };
        b.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            b.extend_from_slice(b"\\u00");
            b.push(HEX[(c >> 4) as usize]);
            b.push(HEX[(c & 15) as usize]);
        } else {
            b.extend_from_slice(esc);
        }
        start = i + 1;
    }
    b.extend_from_slice(&bytes[start..]);
    b.push(b'"');
}

/// Append a name from the spec tables (field, tag, value, group names): they are checked by
/// a test to need no escaping, so they are copied as they are.
fn push_name(b: &mut Vec<u8>, s: &'static str) {
    b.push(b'"');
    b.extend_from_slice(s.as_bytes());
    b.push(b'"');
}

fn push_u64(b: &mut Vec<u8>, n: u64) {
    b.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn push_i64(b: &mut Vec<u8>, n: i64) {
    b.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn push_hex(b: &mut Vec<u8>, data: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    b.push(b'"');
    for &x in data {
        b.push(HEX[(x >> 4) as usize]);
        b.push(HEX[(x & 15) as usize]);
    }
    b.push(b'"');
}

/// Append a (start, len) range of the frame as a JSON string: as is when it is UTF-8 (the
/// common case, checked without the lossy conversion's chunking), lossily otherwise.
fn push_text(b: &mut Vec<u8>, bytes: &[u8], r: (u32, u32)) {
    let raw = range_bytes(bytes, r);
    // Printable ASCII without quote or backslash (nearly every CTI string): copied as is.
    if raw.iter().all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\') {
        return push_quoted(b, raw);
    }
    match std::str::from_utf8(raw) {
        Ok(t) => push_str(b, t),
        Err(_) => push_str(b, &range_str(bytes, r)),
    }
}

fn push_value(b: &mut Vec<u8>, v: Value, bytes: &[u8]) {
    match v {
        Value::Unsigned(n) => push_u64(b, n),
        Value::Signed(n) => push_i64(b, n),
        Value::Bool(n) => push_u64(b, n as u64),
        Value::Time(n) => push_u64(b, n as u64),
        Value::Text { start, len } => push_text(b, bytes, (start, len)),
        Value::Bytes { start, len } | Value::Raw { start, len } => {
            push_hex(b, range_bytes(bytes, (start, len)))
        }
        Value::NamedVar { name, value_len } => {
            b.extend_from_slice(b"{\"name\":");
            push_text(b, bytes, name);
            b.extend_from_slice(b",\"value\":");
            push_text(b, bytes, named_value(name, value_len));
            b.push(b'}');
        }
        Value::NamedArray { index, name, value_len } => {
            b.extend_from_slice(b"{\"name\":");
            push_text(b, bytes, name);
            b.extend_from_slice(b",\"index\":");
            push_u64(b, index as u64);
            b.extend_from_slice(b",\"value\":");
            push_text(b, bytes, named_value(name, value_len));
            b.push(b'}');
        }
        Value::TaskId([x, y, z]) => {
            b.push(b'[');
            push_i64(b, x as i64);
            b.push(b',');
            push_i64(b, y as i64);
            b.push(b',');
            push_i64(b, z as i64);
            b.push(b']');
        }
    }
}

/// Named reading of a value for JSON: a string for enums, an array for masks. Nothing is
/// written (false) when an enum value has no name.
fn push_named(b: &mut Vec<u8>, t: &ValueTable, n: u32) -> bool {
    match t.kind {
        ValueKind::Mask => {
            b.push(b'[');
            let mut first = true;
            for e in t.entries.iter().filter(|e| e.0 != 0 && n & e.0 == e.0) {
                if !first {
                    b.push(b',');
                }
                first = false;
                push_name(b, e.1);
            }
            b.push(b']');
            true
        }
        _ => match t.name_of(n) {
            Some(name) => {
                push_name(b, name);
                true
            }
            None => false,
        },
    }
}

/// `"key":` with a preceding comma unless first.
fn key(b: &mut Vec<u8>, first: &mut bool, k: &'static str) {
    if !*first {
        b.push(b',');
    }
    *first = false;
    push_name(b, k);
    b.push(b':');
}

/// Append an address as a JSON string.
fn push_addr(b: &mut Vec<u8>, a: &std::net::SocketAddr) {
    b.push(b'"');
    value::push_addr(b, a);
    b.push(b'"');
}

fn push_rfc3339(b: &mut Vec<u8>, ts_ns: i64) {
    b.push(b'"');
    time::push_rfc3339(b, ts_ns);
    b.push(b'"');
}

/// Write one message object (no trailing newline).
pub fn write_message(w: &mut dyn Write, flow: &Flow, frame: &Frame<'_>, d: &Decoded) -> io::Result<()> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(4096));
    }
    BUF.with(|cell| {
        let mut b = cell.borrow_mut();
        b.clear();
        push_message(&mut b, flow, frame, d);
        w.write_all(&b)
    })
}

/// Append one message object to `b`.
pub fn push_message(b: &mut Vec<u8>, flow: &Flow, frame: &Frame<'_>, d: &Decoded) {
    let bytes = frame.bytes;
    b.extend_from_slice(b"{\"schema\":");
    push_u64(b, SCHEMA_VERSION as u64);
    b.extend_from_slice(b",\"event\":\"message\",\"frame\":");
    push_u64(b, frame.last_frame);
    b.extend_from_slice(b",\"frames\":[");
    if frame.first_frame != frame.last_frame {
        push_u64(b, frame.first_frame);
        b.push(b',');
    }
    push_u64(b, frame.last_frame);
    b.extend_from_slice(b"],\"time\":");
    push_rfc3339(b, frame.ts_ns);
    b.extend_from_slice(b",\"epoch_ns\":");
    push_i64(b, frame.ts_ns);
    b.extend_from_slice(b",\"connection\":");
    push_u64(b, flow.conn as u64);
    b.extend_from_slice(b",\"direction\":\"");
    b.extend_from_slice(flow.dir.as_str().as_bytes());
    b.extend_from_slice(b"\",\"src\":");
    push_addr(b, &flow.src);
    b.extend_from_slice(b",\"dst\":");
    push_addr(b, &flow.dst);
    b.extend_from_slice(b",\"stream_offset\":");
    push_u64(b, frame.offset);
    b.extend_from_slice(b",\"protocol_version\":");
    push_u64(b, d.version as u64);
    b.extend_from_slice(b",\"version_source\":\"");
    b.extend_from_slice(d.version_source.map_or("assumed", |s| s.as_str()).as_bytes());
    b.push(b'"');
    if let (Some(v), Some(spec)) = (d.variant, d.spec) {
        b.extend_from_slice(b",\"layout_variant\":{\"fixed_part_version\":");
        push_u64(b, v.fixed_version as u64);
        b.extend_from_slice(b",\"misfit\":\"");
        b.extend_from_slice(v.misfit.code().as_bytes());
        b.extend_from_slice(b"\",\"reason\":");
        push_str(b, &v.describe(spec, d.version));
        b.push(b'}');
    }
    b.extend_from_slice(b",\"type\":");
    match d.type_name() {
        Some(n) => push_name(b, n),
        None => b.extend_from_slice(b"null"),
    }
    b.extend_from_slice(b",\"type_id\":");
    push_u64(b, d.msg_type as u64);
    b.extend_from_slice(b",\"length\":");
    push_u64(b, frame.length as u64);
    // Fixed part by spec field name.
    b.extend_from_slice(b",\"fields\":{");
    let mut first = true;
    for f in d.fields.iter().filter(|f| f.part() == Part::Fixed) {
        key(b, &mut first, f.name());
        push_value(b, f.value, bytes);
    }
    b.extend_from_slice(b"},\"named\":{");
    let mut first = true;
    for f in d.fields.iter().filter(|f| f.part() == Part::Fixed) {
        if let Value::Time(t) = f.value {
            key(b, &mut first, f.name());
            push_rfc3339(b, t as i64 * 1_000_000_000);
            continue;
        }
        let (Some(t), Some(n)) = (f.values(), value::as_u32(f.value)) else {
            continue;
        };
        if t.kind != ValueKind::Mask && t.name_of(n).is_none() {
            continue;
        }
        key(b, &mut first, f.name());
        push_named(b, t, n);
    }
    b.extend_from_slice(b"},\"floating\":[");
    let mut first = true;
    for f in d.fields.iter().filter(|f| f.part() == Part::Floating) {
        if !first {
            b.push(b',');
        }
        first = false;
        b.extend_from_slice(b"{\"tag\":");
        match f.tag {
            Some(t) => push_u64(b, t as u64),
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b",\"name\":");
        push_name(b, f.name());
        b.extend_from_slice(b",\"offset\":");
        push_u64(b, f.offset as u64);
        b.extend_from_slice(b",\"value\":");
        push_value(b, f.value, bytes);
        if let (Some(t), Some(n)) = (f.values(), value::as_u32(f.value)) {
            if t.kind == ValueKind::Mask || t.name_of(n).is_some() {
                b.extend_from_slice(b",\"named\":");
                push_named(b, t, n);
            }
        }
        if let Value::Time(t) = f.value {
            b.extend_from_slice(b",\"time\":");
            push_rfc3339(b, t as i64 * 1_000_000_000);
        }
        if let Some((g, i)) = f.group() {
            b.extend_from_slice(b",\"group\":");
            push_name(b, g);
            b.extend_from_slice(b",\"index\":");
            push_u64(b, i as u64);
        }
        b.push(b'}');
    }
    b.extend_from_slice(b"],\"anomalies\":[");
    for (i, a) in d.anomalies.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(b"{\"code\":");
        push_name(b, a.code);
        b.extend_from_slice(b",\"field\":");
        match a.field {
            Some(f) => push_name(b, f),
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b",\"offset\":");
        push_u64(b, a.offset as u64);
        b.extend_from_slice(b",\"message\":");
        push_str(b, &a.message);
        b.push(b'}');
    }
    b.push(b']');
    if d.anomalies_dropped > 0 {
        b.extend_from_slice(b",\"anomalies_dropped\":");
        push_u64(b, d.anomalies_dropped as u64);
    }
    b.push(b'}');
}

/// Append every field of a message as one flat JSON object, for `export`'s `fields`
/// column: `{"InvokeID":7,"AgentState":"AGENT_STATE_TALKING","CallVariable5":"..."}`, fixed
/// and floating fields in wire order, each keyed by its name as in [`push_message`]'s
/// `fields` and `floating`. An enumeration with a name for its value is that name (its
/// `named`); every other value is as [`push_message`] writes it (masks and times as
/// numbers). A name met again in the same message is keyed `Name#2`, `Name#3`, ...
pub fn push_fields_flat(b: &mut Vec<u8>, d: &Decoded, bytes: &[u8]) {
    thread_local! {
        // Times each field id was met in the current message (touched entries reset after).
        static SEEN: std::cell::RefCell<Vec<u16>> = std::cell::RefCell::new(vec![0; 1 << 16]);
    }
    SEEN.with(|cell| {
        let mut seen = cell.borrow_mut();
        b.push(b'{');
        let mut first = true;
        let mut unknown = 0u16;
        for f in &d.fields {
            let n = if f.meta.id == crate::cti::spec::FieldId::NONE {
                unknown = unknown.saturating_add(1);
                unknown
            } else {
                let c = &mut seen[f.meta.id.0 as usize];
                *c = c.saturating_add(1);
                *c
            };
            if !first {
                b.push(b',');
            }
            first = false;
            if n == 1 {
                push_name(b, f.name());
            } else {
                b.push(b'"');
                b.extend_from_slice(f.name().as_bytes());
                b.push(b'#');
                push_u64(b, n as u64);
                b.push(b'"');
            }
            b.push(b':');
            let named = match (f.values(), value::as_u32(f.value)) {
                (Some(t), Some(n)) if t.kind != ValueKind::Mask => t.name_of(n),
                _ => None,
            };
            match named {
                Some(name) => push_name(b, name),
                None => push_value(b, f.value, bytes),
            }
        }
        for f in &d.fields {
            if f.meta.id != crate::cti::spec::FieldId::NONE {
                seen[f.meta.id.0 as usize] = 0;
            }
        }
        b.push(b'}');
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name the spec tables give (copied into JSON without escaping) is safe so.
    #[test]
    fn spec_names_need_no_escaping() {
        use crate::cti::spec;
        let safe = |s: &str| s.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\' && c != 0x7f);
        for m in spec::messages() {
            assert!(safe(m.name));
            for f in m.fixed {
                assert!(safe(f.name), "{}", f.name);
            }
            for f in m.floating {
                assert!(safe(f.name) && f.group.is_none_or(safe), "{}", f.name);
            }
        }
        for t in spec::tags() {
            assert!(safe(t.name));
        }
        for t in spec::value_tables() {
            for e in t.entries {
                assert!(safe(e.1), "{}", e.1);
            }
        }
        for (code, _) in crate::cti::decode::ANOMALY_CODES {
            assert!(safe(code));
        }
        for t in spec::types::MESSAGE_TYPES {
            assert!(safe(t.name));
        }
    }

    #[test]
    fn frame_text_reads_back_as_its_lossy_string() {
        let cases: [&[u8]; 9] = [
            b"40015",
            b"quo\"te",
            b"back\\slash",
            b"ctl\x01\x7f",
            "é 漢".as_bytes(),
            b"bad \xff\xfe",
            b"",
            b"~",
            b" ",
        ];
        for raw in cases {
            let mut frame = vec![0u8; 3];
            frame.extend_from_slice(raw);
            let mut b = Vec::new();
            push_text(&mut b, &frame, (3, raw.len() as u32));
            let back: String = serde_json::from_slice(&b).unwrap();
            assert_eq!(back, String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn strings_are_escaped_like_serde_json() {
        for s in ["plain", "quo\"te", "back\\slash", "nl\nx", "tab\t", "\u{1}\u{1f}\u{7f}", "é ü 漢", ""] {
            let mut b = Vec::new();
            push_str(&mut b, s);
            let back: String = serde_json::from_slice(&b).unwrap();
            assert_eq!(back, s);
        }
    }
}
