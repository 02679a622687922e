//! `ctiscope dissector --lua`: a Wireshark Lua plugin generated from the spec tables.
//!
//! The plugin is one self-contained Lua file: the tables (messages, fixed parts, floating
//! fields, tags, value tables, summaries) are emitted as Lua data from [`crate::cti::spec`],
//! and a fixed, table-driven decoder ([`LUA_DECODER`]) reads them. It decodes like
//! [`crate::cti::decode`]: the fixed part by protocol version, floating fields with 1- or
//! 2-byte tags and lengths, groups, NAMEDVAR/NAMEDARRAY, and reports the same anomaly codes
//! as expert info. The output is deterministic: the same tables give the same file.
//!
//! Field names: one ProtoField `cti.<Name>` per dictionary field ([`field_kinds`] says
//! which Wireshark type each gets), `cti.<TAG_NAME>` per floating tag (a known tag in a
//! message that does not carry it), `cti.UnknownTag`, `cti.Body`, `cti.TrailingBytes`,
//! `cti.TruncatedField` for raw bytes as ctiscope names them, and `cti.raw` for a value that
//! cannot be shown as its field's type (a numeric array, a number of the wrong size, a
//! NAMEDVAR without its NULs, a fixed part cut short).

use crate::cti::decode::{self, ANOMALY_CODES};
use crate::cti::spec::{self, fields, ValueKind, ValueTable, WireType};
use std::collections::BTreeMap;
use std::fmt::Write;

/// How the plugin shows a dictionary field (its ProtoField type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// `uint32` (UCHAR, USHORT, UINT, BOOL); hexadecimal for masks.
    Uint,
    /// `int32` (CHAR, SHORT, INT).
    Int,
    /// `int64`: a field that is signed in one layout and unsigned in another.
    Int64,
    /// `absolute_time` in UTC (TIME everywhere).
    Time,
    /// `string`: STRING, NAMEDVAR (`name=value`), NAMEDARRAY (`name[index]=value`), TASKID
    /// (`high,low,sequence`), and fields that are text in one layout and a number in
    /// another (the number in decimal).
    Str,
    /// `bytes` (UNSPEC).
    Bytes,
}

impl FieldKind {
    fn code(self) -> &'static str {
        match self {
            FieldKind::Uint => "U",
            FieldKind::Int => "I",
            FieldKind::Int64 => "L",
            FieldKind::Time => "T",
            FieldKind::Str => "S",
            FieldKind::Bytes => "B",
        }
    }
}

fn kind_of(ty: WireType) -> FieldKind {
    match ty {
        WireType::UChar | WireType::UShort | WireType::UInt | WireType::Bool => FieldKind::Uint,
        WireType::Char | WireType::Short | WireType::Int => FieldKind::Int,
        WireType::Time => FieldKind::Time,
        WireType::Unspec => FieldKind::Bytes,
        WireType::String | WireType::NamedVar | WireType::NamedArray | WireType::TaskId => FieldKind::Str,
    }
}

/// Combine the kinds a field has in different layouts into one ProtoField type.
fn merge(a: FieldKind, b: FieldKind) -> FieldKind {
    use FieldKind::*;
    match (a, b) {
        (x, y) if x == y => x,
        (Uint | Int | Int64, Uint | Int | Int64) => Int64,
        // A TIME that is a plain number elsewhere: the number.
        (Time, Uint) | (Uint, Time) => Uint,
        (Time, Int | Int64) | (Int | Int64, Time) => Int64,
        _ => Str,
    }
}

/// The ProtoField type of every name the plugin shows a value under: the dictionary fields
/// (every wire type any layout gives them, merged), the tag names, and the raw-byte names.
pub fn field_kinds() -> BTreeMap<&'static str, FieldKind> {
    let mut k: BTreeMap<&'static str, FieldKind> = BTreeMap::new();
    let mut add = |name: &'static str, kind: FieldKind| {
        k.entry(name).and_modify(|e| *e = merge(*e, kind)).or_insert(kind);
    };
    for f in fields::FIELDS {
        add(f.name, kind_of(f.ty));
    }
    for m in spec::messages() {
        for f in m.fixed {
            add(f.name, kind_of(f.ty));
        }
        for f in m.floating {
            add(f.name, kind_of(f.ty));
        }
    }
    for t in spec::tags() {
        add(t.name, kind_of(t.ty));
    }
    for raw in ["UnknownTag", "Body", "TrailingBytes", "TruncatedField", "raw"] {
        add(raw, FieldKind::Bytes);
    }
    k
}

fn lua_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\{}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn ty_code(ty: WireType) -> &'static str {
    match ty {
        WireType::Char => "c",
        WireType::UChar => "C",
        WireType::Short => "s",
        WireType::UShort => "S",
        WireType::Int => "i",
        WireType::UInt => "I",
        WireType::Bool => "b",
        WireType::String => "str",
        WireType::Unspec => "u",
        WireType::Time => "t",
        WireType::NamedVar => "nv",
        WireType::NamedArray => "na",
        WireType::TaskId => "task",
    }
}

/// The Lua data: every table the decoder reads.
fn lua_tables() -> String {
    let mut s = String::new();
    // Value tables, by index.
    let tables: Vec<&'static ValueTable> = spec::value_tables().to_vec();
    let vt_index = |t: Option<&'static ValueTable>| -> usize {
        t.and_then(|t| tables.iter().position(|x| x.name == t.name)).map_or(0, |i| i + 1)
    };
    s.push_str("local VT = {\n");
    for t in &tables {
        let kind = match t.kind {
            ValueKind::Enum => "enum",
            ValueKind::Mask => "mask",
            ValueKind::Special => "special",
        };
        let _ = write!(s, "  {{name={}, kind={}, v={{", lua_str(t.name), lua_str(kind));
        for (v, n) in t.entries {
            let _ = write!(s, "[{v}]={},", lua_str(n));
        }
        s.push_str("}},\n");
    }
    s.push_str("}\n");
    // Field dictionary: name, kind, value table.
    let kinds = field_kinds();
    let mut names: Vec<&'static str> = Vec::new();
    let mut tables_of: BTreeMap<&'static str, usize> = BTreeMap::new();
    for f in fields::FIELDS {
        if !names.contains(&f.name) {
            names.push(f.name);
        }
        if f.values.is_some() {
            tables_of.entry(f.name).or_insert(vt_index(f.values));
        }
    }
    for t in spec::tags() {
        if !names.contains(&t.name) {
            names.push(t.name);
        }
        if t.values.is_some() {
            tables_of.entry(t.name).or_insert(vt_index(t.values));
        }
    }
    for raw in ["UnknownTag", "Body", "TrailingBytes", "TruncatedField", "raw"] {
        assert!(!names.contains(&raw), "{raw} is also a field name");
        names.push(raw);
    }
    s.push_str("local FIELDS = {\n");
    for n in &names {
        let _ = writeln!(
            s,
            "  {{{}, \"{}\", {}}},",
            lua_str(n),
            kinds[n].code(),
            tables_of.get(n).copied().unwrap_or(0)
        );
    }
    s.push_str("}\n");
    let fidx = |n: &str| names.iter().position(|x| *x == n).expect("every shown name is in FIELDS") + 1;
    // Message type names.
    s.push_str("local TYPES = {\n");
    for t in spec::types::MESSAGE_TYPES {
        let _ = writeln!(s, "  [{}]={},", t.id, lua_str(t.name));
    }
    s.push_str("}\n");
    // Tags: name (field index), type, max, value table, first version.
    s.push_str("local TAGS = {\n");
    for t in spec::tags() {
        let _ = writeln!(
            s,
            "  [{}]={{f={}, ty=\"{}\", max={}, vt={}}},",
            t.tag,
            fidx(t.name),
            ty_code(t.ty),
            t.max.unwrap_or(0),
            vt_index(t.values)
        );
    }
    s.push_str("}\n");
    // The versions that define a tag: the first (when not every one) and the last (when
    // a version removed it).
    s.push_str("local TAG_SINCE = {");
    for tag in 0..=u16::MAX {
        let v = decode::tag_since(tag);
        if v > 0 {
            let _ = write!(s, "[{tag}]={v},");
        }
    }
    s.push_str("}\nlocal TAG_UNTIL = {");
    for tag in 0..=u16::MAX {
        let v = crate::cti::spec::versions::tag_until(tag);
        if v < u32::MAX {
            let _ = write!(s, "[{tag}]={v},");
        }
    }
    // ctiscope's words for the versions of each tag that not every version defines.
    s.push_str("}\nlocal TAG_DEFINED = {");
    for tag in 0..=u16::MAX {
        if decode::tag_since(tag) > 0 || crate::cti::spec::versions::tag_until(tag) < u32::MAX {
            let _ = write!(s, "[{tag}]={},", lua_str(&decode::defined_in(tag)));
        }
    }
    s.push_str("}\n");
    // Messages.
    s.push_str("local MSG = {\n");
    for m in spec::messages() {
        let _ = writeln!(s, "  {{name={}, id={}, role=\"{:?}\",", lua_str(m.name), m.id.0, m.role);
        if let Some(c) = m.confirm {
            let _ = writeln!(s, "   confirm={},", c.0);
        }
        s.push_str("   fixed={");
        for f in m.fixed {
            let _ = write!(
                s,
                "{{f={}, ty=\"{}\", size={}, since={}, vt={}}},",
                fidx(f.name),
                ty_code(f.ty),
                f.size,
                f.since,
                vt_index(f.values)
            );
        }
        s.push_str("},\n   nfl=");
        let _ = write!(s, "{},\n   fl={{", m.floating.len());
        // The first entry with a tag wins, as the guide lists it.
        let mut done: Vec<u16> = Vec::new();
        let mut groups: Vec<&str> = Vec::new();
        for (i, f) in m.floating.iter().enumerate() {
            let gid = match f.group {
                None => 0,
                Some(g) => match groups.iter().position(|x| *x == g) {
                    Some(i) => i + 1,
                    None => {
                        groups.push(g);
                        groups.len()
                    }
                },
            };
            let Some(tag) = f.tag else { continue };
            if done.contains(&tag) {
                continue;
            }
            done.push(tag);
            let first = f.group.is_some() && m.floating[..i].iter().all(|x| x.group != f.group);
            let tag_values = spec::tag(tag).and_then(|t| t.values);
            let _ = write!(
                s,
                "[{tag}]={{f={}, ty=\"{}\", max={}, vt={}, arr={}, g={}, first={}, uniq={}}},",
                fidx(f.name),
                ty_code(f.ty),
                f.max,
                vt_index(f.values.or(tag_values)),
                f.max_expr.is_some(),
                gid,
                first,
                f.repeat.is_none() && f.group.is_none()
            );
        }
        s.push_str("},\n   groups={");
        for g in &groups {
            let _ = write!(s, "{},", lua_str(g));
        }
        s.push_str("},\n   req={");
        for f in m
            .floating
            .iter()
            .filter(|f| f.presence == spec::Presence::Required && f.repeat.is_none() && f.group.is_none())
        {
            if let Some(t) = f.tag {
                let until = crate::cti::spec::versions::tag_until(t);
                let _ = write!(s, "{{{t}, {}, {}, {until}}},", lua_str(f.name), decode::tag_since(t));
            }
        }
        // Count fields of repeated floating fields, as the decoder checks them: the count's
        // documented maximum, its member tags (or RecordType, 183, for configuration
        // records), and whether it is a fixed field.
        s.push_str("},\n   cnt={");
        let mut names: Vec<&str> = Vec::new();
        for f in m.floating {
            let Some(name) = f.repeat else { continue };
            if names.contains(&name) {
                continue;
            }
            names.push(name);
            let members: Vec<u16> =
                m.floating.iter().filter(|x| x.repeat == Some(name)).filter_map(|x| x.tag).collect();
            let max = spec::field_id(name).and_then(|id| spec::count_maximum(m.id, id)).map_or(-1, i64::from);
            let _ = write!(
                s,
                "{{f={}, max={max}, rec={}, mem={{{}}}}},",
                fidx(name),
                members.contains(&183),
                members.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",")
            );
        }
        s.push_str("},\n   sum={");
        for id in m.summary {
            let _ = write!(s, "{},", fidx(id.name()));
        }
        s.push_str("}},\n");
    }
    s.push_str("}\n");
    // MessageType -> layout index, per numbering (up to PV24, from PV25).
    for (name, v) in [("BY24", 24), ("BY25", 25)] {
        let _ = write!(s, "local {name} = {{");
        for t in 0..=spec::MAX_MESSAGE_TYPE {
            if let Some(m) = spec::message(t, Some(v)) {
                let i = spec::messages().iter().position(|x| std::ptr::eq(x, m)).expect("a layout") + 1;
                let _ = write!(s, "[{t}]={i},");
            }
        }
        s.push_str("}\n");
    }
    // Each code with its meaning and the severity of ctiscope's finding for it.
    s.push_str("local ANOMALIES = {\n");
    for (code, meaning) in ANOMALY_CODES {
        let sev = match crate::analysis::rules::anomaly_severity(code) {
            crate::analysis::Severity::Error => "error",
            crate::analysis::Severity::Warning => "warn",
            crate::analysis::Severity::Note => "note",
        };
        let _ = writeln!(s, "  {{{}, {}, {}}},", lua_str(code), lua_str(meaning), lua_str(sev));
    }
    s.push_str("}\n");
    let _ = writeln!(
        s,
        "local TWO_BYTE_FLOATING_SINCE = {}\nlocal DEFAULT_VERSION = {}\nlocal NAMED_DATA_BUDGET = {}\n\
         local VARIANT_FIRST, VARIANT_LAST = {}, {}",
        spec::versions::TWO_BYTE_FLOATING_SINCE,
        decode::DEFAULT_VERSION,
        decode::NAMED_DATA_BUDGET,
        decode::VARIANT_VERSIONS.start(),
        decode::VARIANT_VERSIONS.end()
    );
    s
}

/// FNV-1a, 64 bits: a stable digest of the tables for the header comment.
fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The whole plugin.
pub fn lua_plugin() -> String {
    let tables = lua_tables();
    let mut s = String::new();
    let _ = writeln!(s, "-- Wireshark Lua dissector for the Cisco CTI Server protocol (GED-188).");
    let _ = writeln!(
        s,
        "-- Generated by ctiscope {} (`ctiscope dissector --lua`); do not edit.",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        s,
        "-- Spec tables: {} messages, {} tags, {} value tables, {} fields; digest fnv1a64:{:016x}.",
        spec::messages().len(),
        spec::tags().len(),
        spec::value_tables().len(),
        fields::FIELDS.len(),
        fnv1a(tables.as_bytes())
    );
    s.push_str(LUA_HEADER_NOTES);
    s.push_str("\n-- Tables (generated from ctiscope's spec tables).\n");
    s.push_str(&tables);
    s.push_str(LUA_DECODER);
    s
}

const LUA_HEADER_NOTES: &str = r#"--
-- Install: copy to ~/.local/lib/wireshark/plugins/ (Wireshark 3.6 or later), or load for
-- one run with `tshark -X lua_script:cti.lua`.
-- Version: per TCP stream, the VersionNumber of the OPEN_REQ seen; else inferred from the
-- first message whose floating part fits one wire layout best (versions 24, 20, 19, 15, as
-- ctiscope does); else 24. The preference "Protocol version" forces one.
"#;

/// The table-driven decoder (Lua), after the tables.
pub const LUA_DECODER: &str = include_str!("dissector.lua");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_is_deterministic_and_says_what_made_it() {
        let a = lua_plugin();
        assert_eq!(a, lua_plugin());
        let head: Vec<&str> = a.lines().take(3).collect();
        assert!(head[1].contains(env!("CARGO_PKG_VERSION")), "{}", head[1]);
        assert!(head[2].contains("digest fnv1a64:"), "{}", head[2]);
    }

    #[test]
    fn every_field_name_has_one_kind() {
        let kinds = field_kinds();
        for f in fields::FIELDS {
            assert!(kinds.contains_key(f.name), "{}", f.name);
        }
        assert_eq!(kinds["AgentID"], FieldKind::Str);
        assert_eq!(kinds["InvokeID"], FieldKind::Uint);
    }
}
