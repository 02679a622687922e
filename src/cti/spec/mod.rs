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
}

/// A value table of enums.md (or the chapter).
#[derive(Debug)]
pub struct ValueTable {
    /// Name of the table as enums.md titles it (e.g. "AgentState").
    pub name: &'static str,
    pub kind: ValueKind,
    /// (value or bit mask, name). Special "none" values (0xFFFF, 0xFFFFFFFF) are entries too.
    pub entries: &'static [(u32, &'static str)],
    /// Where it comes from (enums.md section).
    pub source: &'static str,
}

impl ValueTable {
    /// Name of an enum value.
    pub fn name_of(&self, v: u32) -> Option<&'static str> {
        self.entries.iter().find(|e| e.0 == v).map(|e| e.1)
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
}

/// A field allowed in a message's floating part.
#[derive(Debug)]
pub struct FloatField {
    /// The guide's field name in this message.
    pub name: &'static str,
    /// Floating tag; `None` when no source publishes it.
    pub tag: Option<u16>,
    pub ty: WireType,
    /// Maximum data length in bytes (including a string's NUL).
    pub max: u16,
    pub presence: Presence,
    /// Name of the count field (fixed field, or a floating field inside a record) giving how
    /// many times this field repeats.
    pub repeat: Option<&'static str>,
    /// Group of consecutive fields that repeat together (e.g. "ConnectedParty").
    pub group: Option<&'static str>,
    pub values: Option<&'static ValueTable>,
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

pub mod types;

/// The entry of message_types.tsv for a MessageType number.
pub fn type_info(id: u32) -> Option<&'static MessageTypeInfo> {
    types::MESSAGE_TYPES
        .binary_search_by_key(&id, |t| t.id)
        .ok()
        .map(|i| &types::MESSAGE_TYPES[i])
}

/// The name of a MessageType number, if it has one.
pub fn type_name(id: u32) -> Option<&'static str> {
    type_info(id).map(|t| t.name)
}

/// Highest MessageType number any source assigns.
pub const MAX_MESSAGE_TYPE: u32 = 284;
