//! `const fn` builders that keep each generated layout close to the guide's table: one
//! line per field, defaults for everything the guide leaves unmarked.

use super::super::fields::FIELDS;
use super::super::{FieldId, FixedField, FloatField, Presence, ValueTable, WireType};

/// A fixed field of the given type (size from the type, present in every version).
pub(crate) const fn fx(id: FieldId, ty: WireType) -> FixedField {
    let size = match ty.fixed_size() {
        Some(s) => s as u8,
        None => panic!("fixed field without a fixed size"),
    };
    FixedField {
        id,
        name: FIELDS[id.0 as usize].name,
        ty,
        size,
        values: None,
        since: 0,
        note: None,
    }
}

impl FixedField {
    pub(crate) const fn values(mut self, t: &'static ValueTable) -> Self {
        self.values = Some(t);
        self
    }
    pub(crate) const fn since(mut self, version: u8) -> Self {
        self.since = version;
        self
    }
    pub(crate) const fn note(mut self, note: &'static str) -> Self {
        self.note = Some(note);
        self
    }
}

/// A required floating field with a published tag.
pub(crate) const fn fl(id: FieldId, tag: u16, ty: WireType, max: u16) -> FloatField {
    FloatField {
        id,
        name: FIELDS[id.0 as usize].name,
        tag: Some(tag),
        ty,
        max,
        presence: Presence::Required,
        repeat: None,
        group: None,
        values: None,
        condition: None,
        max_expr: None,
        note: None,
    }
}

/// A required floating field whose tag no source publishes.
pub(crate) const fn fl_untagged(id: FieldId, ty: WireType, max: u16) -> FloatField {
    let mut f = fl(id, 0, ty, max);
    f.tag = None;
    f
}

impl FloatField {
    pub(crate) const fn optional(mut self) -> Self {
        self.presence = Presence::Optional;
        self
    }
    pub(crate) const fn conditional(mut self) -> Self {
        self.presence = Presence::Conditional;
        self
    }
    pub(crate) const fn condition(mut self, c: &'static str) -> Self {
        self.condition = Some(c);
        self
    }
    pub(crate) const fn max_expr(mut self, e: &'static str) -> Self {
        self.max_expr = Some(e);
        self
    }
    pub(crate) const fn repeat(mut self, count: &'static str) -> Self {
        self.repeat = Some(count);
        self
    }
    pub(crate) const fn group(mut self, g: &'static str) -> Self {
        self.group = Some(g);
        self
    }
    pub(crate) const fn values(mut self, t: &'static ValueTable) -> Self {
        self.values = Some(t);
        self
    }
    pub(crate) const fn note(mut self, note: &'static str) -> Self {
        self.note = Some(note);
        self
    }
}
