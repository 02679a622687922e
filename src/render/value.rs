//! How decoded values read: named enums and masks, times, text, bytes.

use crate::cti::decode::{named_value, range_bytes, range_str, value_names, Field, Value};
use crate::cti::spec::{ValueKind, ValueTable};
use crate::render::time;
use std::fmt::Write;

/// Numeric value as u32 for table lookups.
pub fn as_u32(v: Value) -> Option<u32> {
    match v {
        Value::Unsigned(n) => u32::try_from(n).ok(),
        Value::Signed(n) => Some(n as u32),
        Value::Bool(n) => Some(n as u32),
        _ => None,
    }
}

/// Named reading of a number through its value table: `AGENT_STATE_AVAILABLE`,
/// `CALL_DELIVERED_MASK|CALL_ESTABLISHED_MASK`, or None when nothing is named.
pub fn named(t: &ValueTable, n: u32) -> Option<String> {
    let names = value_names(t, n);
    if names.is_empty() {
        return None;
    }
    Some(names.join("|"))
}

/// Hex of bytes (lowercase, no separators).
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// One-line display of a field's value for trees and summaries.
pub fn display(f: &Field, frame: &[u8]) -> String {
    match f.value {
        Value::Unsigned(_) | Value::Signed(_) | Value::Bool(_) => {
            let raw = match f.value {
                Value::Unsigned(n) => n.to_string(),
                Value::Signed(n) => n.to_string(),
                Value::Bool(n) => match n {
                    0 => "0 (false)".to_string(),
                    1 => "1 (true)".to_string(),
                    n => format!("{n} (not a BOOL value)"),
                },
                _ => unreachable!(),
            };
            let n = as_u32(f.value);
            match (f.values(), n) {
                (Some(t), Some(n)) if t.kind == ValueKind::Mask => {
                    let width = f.data_len().max(1) as usize * 2;
                    match named(t, n) {
                        Some(names) => format!("0x{n:0width$x} ({names})"),
                        None if n == 0 => format!("0x{n:0width$x} (none set)"),
                        None => format!("0x{n:0width$x}"),
                    }
                }
                (Some(t), Some(n)) => match named(t, n) {
                    Some(name) => format!("{name} ({raw})"),
                    None if t.kind == ValueKind::Enum => format!("{raw} (not a {} value)", t.name),
                    None => raw,
                },
                _ => raw,
            }
        }
        Value::Time(t) => format!("{} UTC ({t})", time::format_utc(t as i64 * 1_000_000_000, 0)),
        Value::Text { start, len } => format!("{:?}", range_str(frame, (start, len))),
        Value::Bytes { start, len } | Value::Raw { start, len } => {
            let b = range_bytes(frame, (start, len));
            if b.is_empty() {
                "(empty)".to_string()
            } else if b.len() <= 64 {
                hex(b)
            } else {
                format!("{}… ({} bytes)", hex(&b[..64]), b.len())
            }
        }
        Value::NamedVar { name, value_len } => {
            let value = named_value(name, value_len);
            format!("{} = {:?}", range_str(frame, name), range_str(frame, value))
        }
        Value::NamedArray { index, name, value_len } => {
            let value = named_value(name, value_len);
            format!("{}[{index}] = {:?}", range_str(frame, name), range_str(frame, value))
        }
        Value::TaskId([a, b, c]) => {
            format!("TaskGroupHigh {a}, TaskGroupLow {b}, SequenceNumber {c}")
        }
    }
}

/// Append the short display of a field (as [`short`]) to a byte buffer; numbers, names and
/// text are written without intermediate strings.
pub fn push_short(b: &mut Vec<u8>, f: &Field, frame: &[u8]) {
    if let (Some(t), Some(n)) = (f.values(), as_u32(f.value)) {
        match t.kind {
            ValueKind::Mask => {
                let mut first = true;
                for e in t.entries.iter().filter(|e| e.0 != 0 && n & e.0 == e.0) {
                    if !first {
                        b.push(b'|');
                    }
                    first = false;
                    b.extend_from_slice(e.1.as_bytes());
                }
                if !first {
                    return;
                }
            }
            _ => {
                if let Some(name) = t.name_of(n) {
                    b.extend_from_slice(name.as_bytes());
                    return;
                }
            }
        }
    }
    match f.value {
        Value::Unsigned(n) => b.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        Value::Signed(n) => b.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        Value::Text { start, len } => b.extend_from_slice(range_str(frame, (start, len)).as_bytes()),
        _ => b.extend_from_slice(display(f, frame).as_bytes()),
    }
}

/// Short display for summary lines and timelines: the name alone for named values, the
/// text of strings (as [`push_short`], into a string).
pub fn short(f: &Field, frame: &[u8]) -> String {
    let mut b = Vec::new();
    push_short(&mut b, f, frame);
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Append `addr:port` (`[v6]:port`) without the formatting machinery for IPv4 (every
/// message of every output format has two).
pub fn push_addr(b: &mut Vec<u8>, a: &std::net::SocketAddr) {
    match a {
        std::net::SocketAddr::V4(v4) => {
            // A capture has few endpoints and every message shows two: the last text of each
            // is kept per thread in a small direct-mapped table.
            const SLOTS: usize = 256;
            type Slot = (u64, [u8; 21], u8);
            thread_local! {
                static SEEN: std::cell::RefCell<Vec<Slot>> =
                    std::cell::RefCell::new(vec![(u64::MAX, [0; 21], 0); SLOTS]);
            }
            let key = (u32::from(*v4.ip()) as u64) << 16 | v4.port() as u64;
            let slot = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize % SLOTS;
            SEEN.with(|seen| {
                let mut seen = seen.borrow_mut();
                let e = &mut seen[slot];
                if e.0 != key {
                    let (text, len) = format_v4(v4);
                    *e = (key, text, len as u8);
                }
                b.extend_from_slice(&e.1[..e.2 as usize]);
            });
        }
        v6 => {
            let _ = std::io::Write::write_fmt(b, format_args!("{v6}"));
        }
    }
}

/// `a.b.c.d:port` in a fixed array, and its length.
fn format_v4(v4: &std::net::SocketAddrV4) -> ([u8; 21], usize) {
    // "255.255.255.255:65535"
    let mut t = [0u8; 21];
    let mut n = 0;
    for (i, o) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            t[n] = b'.';
            n += 1;
        }
        n += put_decimal(&mut t[n..], o as u32);
    }
    t[n] = b':';
    n += 1;
    n += put_decimal(&mut t[n..], v4.port() as u32);
    (t, n)
}

/// Write `v` (at most 99999) in decimal at the start of `t`; returns the digits written.
fn put_decimal(t: &mut [u8], v: u32) -> usize {
    let digits = match v {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    };
    let mut v = v;
    for i in (0..digits).rev() {
        t[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_their_display() {
        let mut rng = crate::synth::rng::Rng::new(7);
        let mut cases: Vec<std::net::SocketAddr> = vec![
            "0.0.0.0:0".parse().unwrap(),
            "255.255.255.255:65535".parse().unwrap(),
            "[::1]:42027".parse().unwrap(),
        ];
        for _ in 0..2000 {
            let ip = std::net::Ipv4Addr::from(rng.next_u32());
            cases.push(std::net::SocketAddr::new(ip.into(), rng.next_u32() as u16));
        }
        // Twice: the second round reads the per-thread table, where addresses collide.
        for a in cases.iter().chain(cases.iter()) {
            let mut b = Vec::new();
            push_addr(&mut b, a);
            assert_eq!(String::from_utf8(b).unwrap(), a.to_string());
        }
    }
}
