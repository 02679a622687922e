//! THE TABLES: every message, floating tag and value table of the CTI Server protocol,
//! declared once as static data. The decoder, the encoder, the renderers and the rules all
//! read them.
//!
//! INTERFACE: the types below are fixed; the data modules fill them.

/// Wire data types (session.md section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireType {
    Char,
    UChar,
    Short,
    UShort,
    Int,
    UInt,
    Bool,
    /// NUL-terminated ASCII in floating fields.
    String,
    Unspec,
    /// UINT seconds since 1970-01-01 UTC.
    Time,
    NamedVar,
    NamedArray,
    /// Three INTs.
    TaskId,
}

impl WireType {
    /// Size of a value of this type, when fixed.
    pub const fn fixed_size(self) -> Option<usize> {
        match self {
            WireType::Char | WireType::UChar => Some(1),
            WireType::Short | WireType::UShort | WireType::Bool => Some(2),
            WireType::Int | WireType::UInt | WireType::Time => Some(4),
            WireType::TaskId => Some(12),
            WireType::String | WireType::Unspec | WireType::NamedVar | WireType::NamedArray => None,
        }
    }
    /// The guide's spelling.
    pub const fn name(self) -> &'static str {
        match self {
            WireType::Char => "CHAR",
            WireType::UChar => "UCHAR",
            WireType::Short => "SHORT",
            WireType::UShort => "USHORT",
            WireType::Int => "INT",
            WireType::UInt => "UINT",
            WireType::Bool => "BOOL",
            WireType::String => "STRING",
            WireType::Unspec => "UNSPEC",
            WireType::Time => "TIME",
            WireType::NamedVar => "NAMEDVAR",
            WireType::NamedArray => "NAMEDARRAY",
            WireType::TaskId => "TASKID",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// One value from the list.
    Enum,
    /// A set of bits, each named.
    Mask,
    /// A plain number (an id, a timeout) with a few named special values, such as
    /// NULL_CALL_ID; any other value is just the number.
    Special,
}

/// A value table of enums.md (or the chapter).
#[derive(Debug)]
pub struct ValueTable {
    /// Name of the table as enums.md titles it (e.g. "AgentState").
    pub name: &'static str,
    pub kind: ValueKind,
    /// (value or bit mask, name), sorted by value. Special "none" values (0xFFFF, 0xFFFFFFFF) are entries too.
    pub entries: &'static [(u32, &'static str)],
    /// Precomputed for fast checks: for masks, every named bit; otherwise bit `v` set for
    /// each named value `v` below 64.
    pub fast: u64,
    /// Where it comes from (enums.md section).
    pub source: &'static str,
    /// Disagreements between sources and how the table settles them.
    pub note: Option<&'static str>,
}

impl ValueTable {
    /// Name of an enum value.
    /// Is `v` a named value (enums) or made only of named bits (masks)?
    pub fn knows(&self, v: u32) -> bool {
        match self.kind {
            ValueKind::Mask => v as u64 & !self.fast == 0,
            _ if v < 64 => self.fast >> v & 1 == 1,
            _ => self.name_of(v).is_some(),
        }
    }

    pub fn name_of(&self, v: u32) -> Option<&'static str> {
        // Entries are sorted by value (generated so; checked by the table tests).
        self.entries.binary_search_by_key(&v, |e| e.0).ok().map(|i| self.entries[i].1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    Conditional,
}

/// A field of a message's fixed part (after the 8-byte header).
#[derive(Debug)]
pub struct FixedField {
    /// The guide's field name.
    pub name: &'static str,
    pub ty: WireType,
    pub size: u8,
    pub values: Option<&'static ValueTable>,
    /// First protocol version that carries this field (0: all versions).
    pub since: u8,
    /// Correction or remark (printed spelling, disagreement between sources).
    pub note: Option<&'static str>,
}

/// A field allowed in a message's floating part.
#[derive(Debug)]
pub struct FloatField {
    /// The guide's field name in this message.
    pub name: &'static str,
    /// Floating tag; `None` when no source publishes it.
    pub tag: Option<u16>,
    pub ty: WireType,
    /// Maximum data length in bytes (including a string's NUL); 0 when the length depends
    /// on a count, see `max_expr`.
    pub max: u16,
    pub presence: Presence,
    /// Name of the count field (fixed field, or a floating field inside a record) giving how
    /// many times this field repeats.
    pub repeat: Option<&'static str>,
    /// Group of consecutive fields that repeat together (e.g. "ConnectedParty").
    pub group: Option<&'static str>,
    pub values: Option<&'static ValueTable>,
    /// The guide's condition for a conditional field (or for an optional one that some
    /// cases make required).
    pub condition: Option<&'static str>,
    /// Length formula when the size depends on a count (e.g. "2*NumOfEnabledServices").
    pub max_expr: Option<&'static str>,
    /// Correction or remark (printed spelling, tag choice, disagreement between sources).
    pub note: Option<&'static str>,
}

impl FloatField {
    /// Fixed maximum length, `None` when the length is given by `max_expr`.
    pub fn max_len(&self) -> Option<u16> {
        match self.max_expr {
            Some(_) => None,
            None => Some(self.max),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Request,
    Confirm,
    Event,
}

/// Who sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Client,
    Server,
    Both,
}

/// One message layout.
#[derive(Debug)]
pub struct MessageSpec {
    pub id: u32,
    pub name: &'static str,
    /// The guide's table number (chapter "Application Level Interfaces"), `None` for the
    /// session messages of session.md.
    pub table: Option<u16>,
    pub service: &'static str,
    pub origin: Origin,
    pub role: Role,
    /// For requests: the message id of the positive confirm.
    pub confirm: Option<u32>,
    /// Fixed part after the header, in wire order (fields with `since` above the connection's
    /// protocol version are absent on the wire).
    pub fixed: &'static [FixedField],
    /// Floating fields allowed, in the guide's order.
    pub floating: &'static [FloatField],
    /// Corrections and remarks (transcription fixes, disagreements between sources).
    pub notes: &'static [&'static str],
}

/// A floating tag of tags.tsv.
#[derive(Debug)]
pub struct TagSpec {
    pub tag: u16,
    pub name: &'static str,
    pub ty: WireType,
    /// Max data bytes; `None` when no source gives one.
    pub max: Option<u16>,
    pub values: Option<&'static ValueTable>,
}

/// An entry of message_types.tsv (every known type, with or without a known layout).
#[derive(Debug)]
pub struct MessageTypeInfo {
    pub id: u32,
    pub name: &'static str,
    pub origin: Origin,
    pub service: &'static str,
}

#[rustfmt::skip]
pub mod types;

/// The entry of message_types.tsv for a MessageType number.
pub fn type_info(id: u32) -> Option<&'static MessageTypeInfo> {
    types::MESSAGE_TYPES.binary_search_by_key(&id, |t| t.id).ok().map(|i| &types::MESSAGE_TYPES[i])
}

/// The name of a MessageType number, if it has one.
pub fn type_name(id: u32) -> Option<&'static str> {
    type_info(id).map(|t| t.name)
}

/// Highest MessageType number any source assigns.
pub const MAX_MESSAGE_TYPE: u32 = 284;

#[rustfmt::skip]
mod messages;
#[rustfmt::skip]
mod tags;
#[rustfmt::skip]
pub mod values;

impl MessageSpec {
    /// The MessageType number this message has on the wire at protocol `version` (the
    /// network recording messages were renumbered in PV25; see [`message`]).
    pub fn id_at(&self, version: u32) -> u32 {
        if version <= 24 {
            if let Some(&(old, _)) = messages::PV24_NUMBERS.iter().find(|(_, new)| *new == self.id) {
                return old;
            }
        }
        self.id
    }
}

/// Every message layout, sorted by id. The network recording messages carry the chapter's
/// (PV25) numbers 268-275; see [`message`] for the PV24 numbers.
pub fn messages() -> &'static [MessageSpec] {
    messages::ALL
}

/// The layout of MessageType `id` as spoken at protocol `version`.
///
/// The network recording messages were renumbered: the PV24 message table numbers them
/// 267-274, the PV25 chapter 268-275. With `version <= 24` the PV24 numbers apply (275 has
/// no layout then); with `version >= 25` or `None` the chapter numbers apply (267 has no
/// layout then). Every other id means the same message in every version.
pub fn message(id: u32, version: Option<u32>) -> Option<&'static MessageSpec> {
    let pv24 = matches!(version, Some(v) if v <= 24);
    let renumbered = messages::PV24_NUMBERS;
    let id = if pv24 {
        if let Some(&(_, chapter)) = renumbered.iter().find(|(old, _)| *old == id) {
            chapter
        } else if renumbered.iter().any(|(_, new)| *new == id) {
            return None;
        } else {
            id
        }
    } else {
        id
    };
    let i = *messages::INDEX.get(usize::try_from(id).ok()?)? as usize;
    if i == 0 {
        None
    } else {
        Some(&messages::ALL[i - 1])
    }
}

/// The layout with this spec name (ASCII case-insensitive).
pub fn message_by_name(name: &str) -> Option<&'static MessageSpec> {
    messages::ALL.iter().find(|m| m.name.eq_ignore_ascii_case(name))
}

/// A floating tag by number.
pub fn tag(tag: u16) -> Option<&'static TagSpec> {
    match tags::INDEX.get(usize::from(tag)) {
        Some(&i) if i != 0 => Some(&tags::TAGS[usize::from(i) - 1]),
        _ => None,
    }
}

/// Every named floating tag, sorted by number.
pub fn tags() -> &'static [TagSpec] {
    tags::TAGS
}

/// Every value table.
pub fn value_tables() -> &'static [&'static ValueTable] {
    values::ALL
}

/// A value table by name (e.g. "AgentState").
pub fn value_table(name: &str) -> Option<&'static ValueTable> {
    values::ALL.iter().copied().find(|t| t.name == name)
}

/// The fixed fields present at protocol `version` (those with `since <= version`).
///
/// Version gating is exact from PV14 on: the fields added since then (DepartmentID in PV19,
/// SessionType in PV24) are the last of their fixed parts. Older growths sit in the middle
/// of layouts and are not gated: MonitorID (PV5, first field of the call and agent events),
/// NumNamedVariables/NumNamedArrays (PV6), the skill group fields of CALL_DELIVERED_EVENT
/// (PV7), NumFltSkillGroups (PV10-13); OPEN_CONF's ICMCentralControllerTime (PV6) and
/// PeripheralOnline (PV5) carry their `since` but precede ungated fields.
pub fn fixed_layout(spec: &MessageSpec, version: u32) -> impl Iterator<Item = &'static FixedField> {
    let fixed: &'static [FixedField] = spec.fixed;
    fixed.iter().filter(move |f| u32::from(f.since) <= version)
}

/// Size of the fixed part at protocol `version`, in bytes after the 8-byte header.
pub fn fixed_size(spec: &MessageSpec, version: u32) -> usize {
    fixed_layout(spec, version).map(|f| usize::from(f.size)).sum()
}

/// Human-readable layout, as `ctiscope spec NAME` prints it.
pub fn describe(spec: &MessageSpec) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let role = match spec.role {
        Role::Request => "request",
        Role::Confirm => "confirm",
        Role::Event => "event",
    };
    let origin = match spec.origin {
        Origin::Client => "client -> server",
        Origin::Server => "server -> client",
        Origin::Both => "either side",
    };
    let _ = writeln!(s, "{} (MessageType {})", spec.name, spec.id);
    match spec.table {
        Some(t) => {
            let _ = writeln!(s, "  guide table: {t}");
        }
        None => {
            let _ = writeln!(s, "  guide table: none (session message)");
        }
    }
    let _ = writeln!(s, "  service: {}", spec.service);
    let _ = writeln!(s, "  role: {role}, sent {origin}");
    if let Some(c) = spec.confirm {
        let name = message(c, None).map_or("?", |m| m.name);
        let _ = writeln!(s, "  confirm: {name} ({c})");
    }
    let renumbered = messages::PV24_NUMBERS.iter().find(|(_, new)| *new == spec.id);
    if let Some((old, _)) = renumbered {
        let _ = writeln!(s, "  MessageType {old} up to protocol version 24");
    }
    let total = fixed_size(spec, u32::MAX);
    let _ = writeln!(s, "  fixed part ({total} bytes after the 8-byte header):");
    let _ = writeln!(s, "    {:>4}  {:<34} {:<7} {:>4}", "off", "field", "type", "size");
    let mut off = 0usize;
    for f in spec.fixed {
        let _ = write!(s, "    {:>4}  {:<34} {:<7} {:>4}", off, f.name, f.ty.name(), f.size);
        if let Some(t) = f.values {
            let _ = write!(s, "  values: {}", t.name);
        }
        if f.since > 0 {
            let _ = write!(s, "  since PV{}", f.since);
        }
        s.push('\n');
        if let Some(n) = f.note {
            let _ = writeln!(s, "          note: {n}");
        }
        off += usize::from(f.size);
    }
    if spec.fixed.iter().any(|f| f.since > 0) {
        let mut versions: Vec<u8> = spec.fixed.iter().map(|f| f.since).collect();
        versions.sort_unstable();
        versions.dedup();
        let sizes: Vec<String> = versions
            .iter()
            .map(|&v| match v {
                0 => format!("base: {}", fixed_size(spec, 0)),
                _ => format!("PV{v}+: {}", fixed_size(spec, u32::from(v))),
            })
            .collect();
        let _ = writeln!(s, "    (fixed size by version: {})", sizes.join(", "));
    }
    if spec.floating.is_empty() {
        let _ = writeln!(s, "  floating part: none");
    } else {
        let _ = writeln!(s, "  floating part:");
        for f in spec.floating {
            let tag = match (f.tag, f.tag.and_then(tag)) {
                (Some(n), Some(t)) => format!("{n:>3} {}", t.name),
                (Some(n), None) => format!("{n:>3} ?"),
                (None, _) => "  ? (tag not published)".to_string(),
            };
            let max = match f.max_expr {
                Some(e) => e.to_string(),
                None => f.max.to_string(),
            };
            let presence = match f.presence {
                Presence::Required => "required",
                Presence::Optional => "optional",
                Presence::Conditional => "conditional",
            };
            let _ = write!(
                s,
                "    {:<30} tag {:<38} {:<10} max {:<6} {}",
                f.name,
                tag,
                f.ty.name(),
                max,
                presence
            );
            if let Some(r) = f.repeat {
                let _ = write!(s, ", repeats {r} times");
            }
            if let Some(g) = f.group {
                let _ = write!(s, ", group {g}");
            }
            if let Some(t) = f.values {
                let _ = write!(s, ", values: {}", t.name);
            }
            s.push('\n');
            if let Some(c) = f.condition {
                let _ = writeln!(s, "          condition: {c}");
            }
            if let Some(n) = f.note {
                let _ = writeln!(s, "          note: {n}");
            }
        }
    }
    if !spec.notes.is_empty() {
        let _ = writeln!(s, "  notes:");
        for n in spec.notes {
            let _ = writeln!(s, "    - {n}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_reject_unknown_numbers() {
        assert!(message(0, None).is_none());
        assert!(message(u32::MAX, Some(20)).is_none());
        assert!(message(MAX_MESSAGE_TYPE + 1, None).is_none());
        assert!(tag(0).is_none());
        assert!(tag(54).is_none(), "reserved tag");
        assert_eq!(tag(1).map(|t| t.name), Some("CLIENT_ID_TAG"));
        assert!(message_by_name("NO_SUCH_MESSAGE").is_none());
        assert!(value_table("NoSuchTable").is_none());
    }

    #[test]
    fn every_layout_has_a_type_name() {
        for m in messages() {
            let info = type_info(m.id).unwrap_or_else(|| panic!("{}", m.name));
            // 268-274 name their PV24 messages in message_types.tsv.
            if !(268..=274).contains(&m.id) {
                assert_eq!(info.name, m.name);
            }
        }
    }

    #[test]
    fn fixed_layout_filters_by_version() {
        let m = message_by_name("OPEN_CONF").unwrap();
        assert_eq!(fixed_layout(m, 18).count(), 8);
        assert_eq!(fixed_layout(m, 19).count(), 9);
        assert_eq!(fixed_layout(m, 24).count(), 10);
        assert_eq!(fixed_size(m, u32::MAX), 32);
    }
}
