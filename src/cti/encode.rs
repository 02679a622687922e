//! The encoder over the same spec tables: builds wire bytes for any message layout at any
//! protocol version. Used for synthetic captures, fuzzing corpora and round-trip tests.

use crate::cti::decode::tlv_width;
use crate::cti::framing::HEADER_LEN;
use crate::cti::spec::{self, MessageSpec, WireType};

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

/// Builds one message: fixed fields default to 0, floating fields are appended in the order
/// they are added (the wire order).
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    spec: &'static MessageSpec,
    version: u32,
    fixed: Vec<(&'static str, u8, u64)>,
    floating: Vec<u8>,
}

impl MessageBuilder {
    pub fn new(spec: &'static MessageSpec, version: u32) -> Self {
        let fixed = spec::fixed_layout(spec, version).map(|f| (f.name, f.size, 0u64)).collect();
        MessageBuilder { spec, version, fixed, floating: Vec::new() }
    }

    /// Builder for a message by spec name. Panics on an unknown name (a programming error).
    pub fn named(name: &str, version: u32) -> Self {
        Self::new(spec::message_by_name(name).unwrap_or_else(|| panic!("no message {name}")), version)
    }

    pub fn spec(&self) -> &'static MessageSpec {
        self.spec
    }

    /// Set a fixed field (two's complement for signed types).
    pub fn set(&mut self, field: &str, value: u64) -> Result<&mut Self, EncodeError> {
        match self.fixed.iter_mut().find(|f| f.0 == field) {
            Some(f) => {
                f.2 = value;
                Ok(self)
            }
            None => Err(EncodeError::UnknownField { message: self.spec.name, field: field.to_string() }),
        }
    }

    fn tag_of(&self, field: &str) -> Result<(u16, WireType), EncodeError> {
        if let Some(f) = self.spec.floating.iter().find(|f| f.name == field) {
            return match f.tag {
                Some(t) => Ok((t, f.ty)),
                None => Err(EncodeError::NoTag { message: self.spec.name, field: f.name }),
            };
        }
        if let Some(t) = spec::tags().iter().find(|t| t.name == field) {
            return Ok((t.tag, t.ty));
        }
        Err(EncodeError::UnknownField { message: self.spec.name, field: field.to_string() })
    }

    /// Append a floating field with raw data bytes under a tag (any tag, allowed or not).
    pub fn raw(&mut self, tag: u16, data: &[u8]) -> Result<&mut Self, EncodeError> {
        let w = tlv_width(self.version);
        let max = if w == 1 { 0xff } else { 0xffff };
        if tag as usize > max || data.len() > max {
            return Err(EncodeError::DoesNotFit {
                field: format!("tag {tag}"),
                detail: format!(
                    "tag or length ({} bytes) does not fit {w}-byte floating headers",
                    data.len()
                ),
            });
        }
        if w == 1 {
            self.floating.push(tag as u8);
            self.floating.push(data.len() as u8);
        } else {
            self.floating.extend_from_slice(&tag.to_be_bytes());
            self.floating.extend_from_slice(&(data.len() as u16).to_be_bytes());
        }
        self.floating.extend_from_slice(data);
        Ok(self)
    }

    /// Append a floating field by spec field name (or tag name): a STRING gets its NUL.
    pub fn text(&mut self, field: &str, s: &str) -> Result<&mut Self, EncodeError> {
        let (tag, _) = self.tag_of(field)?;
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.raw(tag, &v)
    }

    /// Append an UNSPEC floating field.
    pub fn bytes(&mut self, field: &str, b: &[u8]) -> Result<&mut Self, EncodeError> {
        let (tag, _) = self.tag_of(field)?;
        self.raw(tag, b)
    }

    /// Append a numeric floating field, sized by its type.
    pub fn number(&mut self, field: &str, v: u64) -> Result<&mut Self, EncodeError> {
        let (tag, ty) = self.tag_of(field)?;
        let size = ty.fixed_size().ok_or_else(|| EncodeError::DoesNotFit {
            field: field.to_string(),
            detail: format!("{} is not a numeric type", ty.name()),
        })?;
        let bytes = v.to_be_bytes();
        self.raw(tag, &bytes[8 - size.min(8)..])
    }

    /// Append a NAMEDVAR (tag 82).
    pub fn named_var(&mut self, name: &str, value: &str) -> Result<&mut Self, EncodeError> {
        let mut v = Vec::with_capacity(name.len() + value.len() + 2);
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        v.extend_from_slice(value.as_bytes());
        v.push(0);
        self.raw(82, &v)
    }

    /// Append a NAMEDARRAY (tag 83).
    pub fn named_array(&mut self, index: u8, name: &str, value: &str) -> Result<&mut Self, EncodeError> {
        let mut v = Vec::with_capacity(name.len() + value.len() + 3);
        v.push(index);
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        v.extend_from_slice(value.as_bytes());
        v.push(0);
        self.raw(83, &v)
    }

    /// The whole frame: header, fixed part, floating part.
    pub fn build(&self) -> Vec<u8> {
        let fixed_len: usize = self.fixed.iter().map(|f| f.1 as usize).sum();
        let body = fixed_len + self.floating.len();
        let mut out = Vec::with_capacity(HEADER_LEN + body);
        self.write_into(&mut out);
        out
    }

    /// Append the frame to `out` (no intermediate allocation).
    pub fn write_into(&self, out: &mut Vec<u8>) {
        let fixed_len: usize = self.fixed.iter().map(|f| f.1 as usize).sum();
        let body = (fixed_len + self.floating.len()) as u32;
        out.extend_from_slice(&body.to_be_bytes());
        out.extend_from_slice(&self.spec.id_at(self.version).to_be_bytes());
        for &(_, size, v) in &self.fixed {
            let b = v.to_be_bytes();
            out.extend_from_slice(&b[8 - size as usize..]);
        }
        out.extend_from_slice(&self.floating);
    }
}
