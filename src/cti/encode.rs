//! The encoder over the same spec tables: builds wire bytes for any message layout at any
//! protocol version. Used for synthetic captures, fuzzing corpora and round-trip tests.
//!
//! Messages are made by type and fields named by their dictionary ids, so that a misspelt
//! name does not compile:
//!
//! ```
//! use ctiscope::cti::encode::MessageBuilder;
//! use ctiscope::cti::spec::{fields::field, values::agent_state, MessageType};
//! let mut m = MessageBuilder::for_type(MessageType::AGENT_STATE_EVENT, 24);
//! m.set(field::AgentState, agent_state::AGENT_STATE_AVAILABLE.into()).unwrap();
//! m.text(field::AgentID, "1001").unwrap();
//! let frame = m.build();
//! assert_eq!(&frame[4..8], &30u32.to_be_bytes());
//! ```
//!
//! The setters also take the guide's field name as a `&str`, looked up when the message is
//! built ([`FieldKey`]), for code that reads names from data.

use crate::cti::framing::{parse_header, HEADER_LEN};
use crate::cti::spec::versions::{tag_since, tag_until, TWO_BYTE_FLOATING_SINCE};
use crate::cti::spec::{self, FieldId, FixedField, FloatField, MessageSpec, MessageType, WireType};
use std::ops::Range;

/// Floating tag of a NAMEDVAR (NAMED_VARIABLE_TAG).
const NAMED_VARIABLE_TAG: u16 = 82;
/// Floating tag of a NAMEDARRAY (NAMED_ARRAY_TAG).
const NAMED_ARRAY_TAG: u16 = 83;

/// What can go wrong building a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    UnknownField {
        message: &'static str,
        field: String,
    },
    /// The field has no published tag.
    NoTag {
        message: &'static str,
        field: &'static str,
    },
    /// A value does not fit the field's type (for example a tag above 255 at a 1-byte-tag
    /// protocol version).
    DoesNotFit {
        field: String,
        detail: String,
    },
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::UnknownField { message, field } => {
                write!(f, "{message} has no field {field}")
            }
            EncodeError::NoTag { message, field } => {
                write!(f, "{message}.{field} has no published tag")
            }
            EncodeError::DoesNotFit { field, detail } => write!(f, "{field}: {detail}"),
        }
    }
}

impl std::error::Error for EncodeError {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::cti::spec::FieldId {}
    impl Sealed for &str {}
}

/// How the setters of [`MessageBuilder`] name a field: a dictionary id
/// ([`spec::fields::field`], checked by the compiler) or the guide's name as a `&str`
/// (checked when the message is built; a floating field may also be named by its tag name,
/// e.g. `ANI_TAG`).
pub trait FieldKey: Copy + sealed::Sealed {
    /// Is this the fixed field `f`?
    fn is_fixed(self, f: &FixedField) -> bool;
    /// Is this the floating field `f`?
    fn is_floating(self, f: &FloatField) -> bool;
    /// The tag table's entry named by this key, for a field the layout does not list.
    fn tag_entry(self) -> Option<&'static spec::TagSpec>;
    /// The field's name, for errors.
    fn label(self) -> String;
}

impl FieldKey for FieldId {
    #[inline]
    fn is_fixed(self, f: &FixedField) -> bool {
        f.id == self
    }
    #[inline]
    fn is_floating(self, f: &FloatField) -> bool {
        f.id == self
    }
    fn tag_entry(self) -> Option<&'static spec::TagSpec> {
        None
    }
    fn label(self) -> String {
        self.name().to_string()
    }
}

impl FieldKey for &str {
    fn is_fixed(self, f: &FixedField) -> bool {
        f.name == self
    }
    fn is_floating(self, f: &FloatField) -> bool {
        f.name == self
    }
    fn tag_entry(self) -> Option<&'static spec::TagSpec> {
        spec::tags().iter().find(|t| t.name == self)
    }
    fn label(self) -> String {
        self.to_string()
    }
}

/// Can a message at protocol `version` carry floating tag `tag`: is the tag defined at that
/// version, and does it fit the floating headers (1 byte before
/// [`TWO_BYTE_FLOATING_SINCE`])?
pub fn tag_carried(tag: u16, version: u32) -> bool {
    tag_since(tag) <= version
        && version <= tag_until(tag)
        && (version >= TWO_BYTE_FLOATING_SINCE || tag <= 0xff)
}

/// Where fixed field `field` of `spec` lies in a frame at protocol `version` (header
/// included); `None` when that version's layout does not carry it.
pub fn fixed_range(spec: &MessageSpec, version: u32, field: FieldId) -> Option<Range<usize>> {
    let mut at = HEADER_LEN;
    for f in spec::fixed_layout(spec, version) {
        let end = at + usize::from(f.size);
        if f.id == field {
            return Some(at..end);
        }
        at = end;
    }
    None
}

/// Where fixed field `field` lies in `frame`, a whole message at protocol `version` whose
/// header names its layout.
pub fn fixed_range_in(frame: &[u8], version: u32, field: FieldId) -> Option<Range<usize>> {
    let (_, ty) = parse_header(frame)?;
    let spec = spec::message(ty, Some(version))?;
    fixed_range(spec, version, field).filter(|r| r.end <= frame.len())
}

/// Writes `value` into the bytes `at` of a frame (big-endian, as wide as the range).
pub fn put_fixed(frame: &mut [u8], at: Range<usize>, value: u64) {
    let width = at.len();
    frame[at].copy_from_slice(&value.to_be_bytes()[8 - width..]);
}

/// Builds one message: fixed fields default to 0, floating fields are appended in the order
/// they are added (the wire order).
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    spec: &'static MessageSpec,
    version: u32,
    /// The fixed fields of the version's layout, in wire order, with their values.
    fixed: Vec<(&'static FixedField, u64)>,
    floating: Vec<u8>,
}

impl MessageBuilder {
    pub fn new(spec: &'static MessageSpec, version: u32) -> Self {
        let fixed = spec::fixed_layout(spec, version).map(|f| (f, 0u64)).collect();
        MessageBuilder { spec, version, fixed, floating: Vec::new() }
    }

    /// Builder for a message type (by its spec number; see [`MessageSpec::id_at`] for the
    /// number written at `version`). Panics for a type without a layout (a programming
    /// error).
    pub fn for_type(ty: MessageType, version: u32) -> Self {
        let spec = spec::message(ty.0, None).unwrap_or_else(|| panic!("no layout for MessageType {}", ty.0));
        Self::new(spec, version)
    }

    /// Builder for a message by spec name. Panics on an unknown name (a programming error).
    pub fn named(name: &str, version: u32) -> Self {
        Self::new(spec::message_by_name(name).unwrap_or_else(|| panic!("no message {name}")), version)
    }

    /// The same message with the fixed part of protocol `fixed_version` instead of its own
    /// (floating headers and tags stay those of its version), as implementations that do not
    /// follow the version history send it: OPEN_CONF without SessionType at 24, or
    /// AGENT_STATE_EVENT without DepartmentID at 19. Values set before are kept where the
    /// field is still there.
    pub fn with_fixed_part_of(mut self, fixed_version: u32) -> Self {
        let old = std::mem::take(&mut self.fixed);
        self.fixed = spec::fixed_layout(self.spec, fixed_version)
            .map(|f| (f, old.iter().find(|(o, _)| std::ptr::eq(*o, f)).map_or(0, |o| o.1)))
            .collect();
        self
    }

    pub fn spec(&self) -> &'static MessageSpec {
        self.spec
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Set a fixed field (two's complement for signed types).
    pub fn set<K: FieldKey>(&mut self, field: K, value: u64) -> Result<&mut Self, EncodeError> {
        match self.fixed.iter_mut().find(|f| field.is_fixed(f.0)) {
            Some(f) => {
                f.1 = value;
                Ok(self)
            }
            None => Err(EncodeError::UnknownField { message: self.spec.name, field: field.label() }),
        }
    }

    /// The floating tag and wire type of a field of this message.
    pub fn tag_of<K: FieldKey>(&self, field: K) -> Result<(u16, WireType), EncodeError> {
        if let Some(f) = self.spec.floating.iter().find(|f| field.is_floating(f)) {
            return match f.tag {
                Some(t) => Ok((t, f.ty)),
                None => Err(EncodeError::NoTag { message: self.spec.name, field: f.name }),
            };
        }
        if let Some(t) = field.tag_entry() {
            return Ok((t.tag, t.ty));
        }
        Err(EncodeError::UnknownField { message: self.spec.name, field: field.label() })
    }

    /// Can this message, at its protocol version, carry floating field `field` (see
    /// [`tag_carried`])? An error when the message has no such field.
    pub fn carries<K: FieldKey>(&self, field: K) -> Result<bool, EncodeError> {
        self.tag_of(field).map(|(tag, _)| tag_carried(tag, self.version))
    }

    /// Append a floating field with raw data bytes under a tag (any tag, allowed or not).
    pub fn raw(&mut self, tag: u16, data: &[u8]) -> Result<&mut Self, EncodeError> {
        let two_byte = self.version >= TWO_BYTE_FLOATING_SINCE;
        let max = if two_byte { 0xffff } else { 0xff };
        if tag as usize > max || data.len() > max {
            return Err(EncodeError::DoesNotFit {
                field: format!("tag {tag}"),
                detail: format!(
                    "tag or length ({} bytes) does not fit {}-byte floating headers",
                    data.len(),
                    if two_byte { 2 } else { 1 }
                ),
            });
        }
        if two_byte {
            self.floating.extend_from_slice(&tag.to_be_bytes());
            self.floating.extend_from_slice(&(data.len() as u16).to_be_bytes());
        } else {
            self.floating.push(tag as u8);
            self.floating.push(data.len() as u8);
        }
        self.floating.extend_from_slice(data);
        Ok(self)
    }

    /// Append a floating field: a STRING gets its NUL.
    pub fn text<K: FieldKey>(&mut self, field: K, s: &str) -> Result<&mut Self, EncodeError> {
        let (tag, _) = self.tag_of(field)?;
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.raw(tag, &v)
    }

    /// Append an UNSPEC floating field.
    pub fn bytes<K: FieldKey>(&mut self, field: K, b: &[u8]) -> Result<&mut Self, EncodeError> {
        let (tag, _) = self.tag_of(field)?;
        self.raw(tag, b)
    }

    /// Append a numeric floating field, sized by its type.
    pub fn number<K: FieldKey>(&mut self, field: K, v: u64) -> Result<&mut Self, EncodeError> {
        let (tag, ty) = self.tag_of(field)?;
        let size = ty.fixed_size().ok_or_else(|| EncodeError::DoesNotFit {
            field: field.label(),
            detail: format!("{} is not a numeric type", ty.name()),
        })?;
        let bytes = v.to_be_bytes();
        self.raw(tag, &bytes[8 - size.min(8)..])
    }

    /// Append a NAMEDVAR.
    pub fn named_var(&mut self, name: &str, value: &str) -> Result<&mut Self, EncodeError> {
        let mut v = Vec::with_capacity(name.len() + value.len() + 2);
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        v.extend_from_slice(value.as_bytes());
        v.push(0);
        self.raw(NAMED_VARIABLE_TAG, &v)
    }

    /// Append a NAMEDARRAY.
    pub fn named_array(&mut self, index: u8, name: &str, value: &str) -> Result<&mut Self, EncodeError> {
        let mut v = Vec::with_capacity(name.len() + value.len() + 3);
        v.push(index);
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        v.extend_from_slice(value.as_bytes());
        v.push(0);
        self.raw(NAMED_ARRAY_TAG, &v)
    }

    /// The whole frame: header, fixed part, floating part.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body_len());
        self.write_into(&mut out);
        out
    }

    fn body_len(&self) -> usize {
        let fixed_len: usize = self.fixed.iter().map(|f| usize::from(f.0.size)).sum();
        fixed_len + self.floating.len()
    }

    /// Append the frame to `out` (no intermediate allocation).
    pub fn write_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.body_len() as u32).to_be_bytes());
        out.extend_from_slice(&self.spec.id_at(self.version).to_be_bytes());
        for &(f, v) in &self.fixed {
            out.extend_from_slice(&v.to_be_bytes()[8 - usize::from(f.size)..]);
        }
        out.extend_from_slice(&self.floating);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cti::spec::fields::field;

    #[test]
    fn ids_and_names_set_the_same_fields() {
        let mut by_id = MessageBuilder::for_type(MessageType::OPEN_CONF, 24);
        by_id.set(field::InvokeID, 9).unwrap().set(field::AgentState, 3).unwrap();
        by_id.text(field::AgentID, "1001").unwrap().number(field::NumPeripherals, 0).unwrap();
        let mut by_name = MessageBuilder::named("OPEN_CONF", 24);
        by_name.set("InvokeID", 9).unwrap().set("AgentState", 3).unwrap();
        by_name.text("AgentID", "1001").unwrap().number("NumPeripherals", 0).unwrap();
        assert_eq!(by_id.build(), by_name.build());
        assert!(matches!(
            by_id.set(field::ANI, 1),
            Err(EncodeError::UnknownField { message: "OPEN_CONF", .. })
        ));
    }

    #[test]
    fn fixed_ranges_follow_the_layout_at_each_version() {
        let spec = spec::message(MessageType::OPEN_CONF.0, None).unwrap();
        assert_eq!(fixed_range(spec, 24, field::InvokeID), Some(8..12));
        assert_eq!(fixed_range(spec, 24, field::SessionType), Some(38..40));
        assert_eq!(fixed_range(spec, 23, field::SessionType), None);
        let mut ev = MessageBuilder::for_type(MessageType::AGENT_STATE_EVENT, 24);
        ev.set(field::MonitorID, 1).unwrap();
        let mut frame = ev.build();
        let at = fixed_range_in(&frame, 24, field::MonitorID).unwrap();
        assert_eq!(at, 8..12);
        put_fixed(&mut frame, at, 0x0102_0304);
        ev.set(field::MonitorID, 0x0102_0304).unwrap();
        assert_eq!(frame, ev.build());
    }

    #[test]
    fn tags_carried_by_version() {
        assert!(tag_carried(1, 13));
        assert!(!tag_carried(309, 23), "a PV24 tag");
        assert!(tag_carried(309, 24));
        assert!(!tag_carried(257, 19), "two-byte tag at a one-byte version");
        let m = MessageBuilder::for_type(MessageType::AGENT_STATE_EVENT, 15);
        assert_eq!(m.carries(field::AgentID), Ok(true));
        assert!(m.carries(field::ClientPassword).is_err());
    }
}
