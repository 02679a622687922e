//! The generic decoder: one walk over the spec tables for every message type.
//!
//! Decoding is lenient: a bad field becomes an [`Anomaly`] carried by the message, never an
//! abort. Decoded values do not borrow the frame: strings and byte strings are kept as
//! ranges of the frame, so a [`Decoded`] is reused from one message to the next without
//! allocating (see [`Decoder::decode_into`]).
//!
//! Floating fields are confined before they are parsed: the tag and length are read, exactly
//! that slice is taken, and the value is parsed inside it; what does not parse is kept as raw
//! bytes with an anomaly.

use crate::cti::framing::HEADER_LEN;
use crate::cti::spec::{
    self, FieldId, FixedField, FloatField, MessageSpec, MessageType, Presence, ValueKind, ValueTable,
    WireType,
};
use smallvec::SmallVec;
use std::borrow::Cow;

/// Combined NAMEDVAR + NAMEDARRAY data allowed per message (docs/protocol.md §5 Named
/// variables and arrays).
pub const NAMED_DATA_BUDGET: usize = 2000;

/// Anomalies kept per message, the last of them a `too_many_anomalies` when there are more;
/// further ones are counted in [`Decoded::anomalies_dropped`].
pub const MAX_ANOMALIES_PER_MESSAGE: usize = 64;

/// Where the protocol version used to decode a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSource {
    /// From the connection's OPEN_REQ.
    Seen,
    /// Inferred from the bytes (which floating-field walk fits).
    Inferred,
    /// Given with `--protocol-version`.
    Forced,
    /// Nothing to go on: the default.
    Assumed,
}

impl VersionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionSource::Seen => "seen",
            VersionSource::Inferred => "inferred",
            VersionSource::Forced => "forced",
            VersionSource::Assumed => "assumed",
        }
    }
}

/// The version assumed when nothing else is known: the PV24 guide the chapter describes.
pub const DEFAULT_VERSION: u32 = 24;

/// Stable anomaly codes with their meaning. Every code the decoder emits is listed here.
pub const ANOMALY_CODES: &[(&str, &str)] = &[
    ("fixed_part_short", "the body is shorter than the message's fixed part"),
    ("trailing_bytes", "bytes after the fixed part of a message that has no floating part"),
    ("floating_header_truncated", "the message ends inside a floating field's tag and length"),
    ("floating_past_end", "a floating field's length runs past the end of the message"),
    ("unknown_tag", "a floating tag that no source defines"),
    ("tag_not_allowed", "a known floating tag that this message type does not carry"),
    ("duplicate_field", "a floating field that is not a list member appears more than once"),
    ("required_missing", "a required floating field is absent"),
    ("value_too_long", "a floating value is longer than its maximum size"),
    ("bad_field_length", "a numeric floating field whose length is not its type's size"),
    ("string_without_nul", "a STRING floating field without its terminating NUL"),
    ("bad_named_variable", "a NAMEDVAR or NAMEDARRAY whose name or value is not NUL-terminated"),
    ("count_mismatch", "a count field disagrees with the number of fields present"),
    ("count_over_max", "a count field is above its documented maximum"),
    ("named_data_too_much", "NAMEDVAR plus NAMEDARRAY data exceeds 2000 bytes"),
    ("message_too_large", "the message is larger than the guide's maximum message size"),
    ("unknown_enum_value", "an enumerated field holds a value its table does not name"),
    ("unknown_mask_bits", "a mask field has bits set that its table does not name"),
    ("unknown_message_type", "a MessageType that no source defines"),
    ("layout_unknown", "a MessageType whose body layout no source documents"),
    ("too_many_anomalies", "more anomalies than are kept per message"),
];

pub use crate::cti::spec::versions::{max_message_size, tag_since, tag_until};

/// One decode anomaly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// Stable code (one of [`ANOMALY_CODES`]).
    pub code: &'static str,
    /// Field it concerns, if any (spec field name or tag name).
    pub field: Option<&'static str>,
    /// Byte offset in the frame (header included).
    pub offset: u32,
    /// A sentence for people.
    pub message: String,
}

/// A decoded value. Text and bytes are ranges of the frame (offsets from the frame start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Unsigned(u64),
    Signed(i64),
    Bool(u16),
    /// Seconds since the epoch.
    Time(u32),
    /// Text without its NUL.
    Text {
        start: u32,
        len: u32,
    },
    Bytes {
        start: u32,
        len: u32,
    },
    /// Name (start, len) and the length of the value, which starts after the name's NUL
    /// ([`named_value`]): two ranges would make every value, and so every field, 8 bytes
    /// larger.
    NamedVar {
        name: (u32, u32),
        value_len: u32,
    },
    NamedArray {
        index: u8,
        name: (u32, u32),
        value_len: u32,
    },
    TaskId([i32; 3]),
    /// The field could not be decoded as its type: its raw bytes.
    Raw {
        start: u32,
        len: u32,
    },
}

/// The (start, len) range of a NamedVar's or NamedArray's value: right after its name and
/// the name's NUL.
#[inline]
pub fn named_value(name: (u32, u32), value_len: u32) -> (u32, u32) {
    (name.0 + name.1 + 1, value_len)
}

/// Which part of the message a field is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Fixed,
    Floating,
}

/// What is the same for every occurrence of a field: resolved once per layout (per fixed
/// spec entry, per floating slot of a message, per tag), so a [`Field`] carries one pointer
/// instead of these.
#[derive(Debug)]
pub struct FieldMeta {
    /// The field's dictionary id ([`FieldId::NONE`] for raw bytes, an unknown tag or a tag
    /// this message does not carry, which are named by their tag).
    pub id: FieldId,
    pub part: Part,
    /// Spec field name (fixed fields, known floating fields), tag name (a tag not allowed in
    /// this message), or "UnknownTag".
    pub name: &'static str,
    pub ty: WireType,
    pub values: Option<&'static ValueTable>,
    /// The floating spec entry, when the tag is allowed here.
    pub spec: Option<&'static FloatField>,
}

/// One decoded field: 40 bytes, what varies from one occurrence to the next, with the rest
/// behind [`Field::meta`].
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub meta: &'static FieldMeta,
    /// Offset of the field in the frame: the tag for floating fields.
    pub offset: u32,
    /// Bytes of the field, tag and length included for floating fields.
    pub len: u32,
    pub value: Value,
    pub tag: Option<u16>,
    /// Instance of the repeated group this field belongs to ([`NO_GROUP`]: none); the
    /// group's name is its spec entry's. See [`Field::group`].
    pub instance: u16,
    /// Bytes of tag and length before the value (0 for fixed and raw fields): the value
    /// bytes are `offset + header .. offset + len`.
    header: u8,
}

/// [`Field::instance`] of a field outside any repeated group.
pub const NO_GROUP: u16 = u16::MAX;

impl Field {
    /// Which part of the message the field is in.
    #[inline]
    pub fn part(&self) -> Part {
        self.meta.part
    }
    /// Spec field name (fixed fields, known floating fields), tag name (a tag not allowed in
    /// this message), or "UnknownTag".
    #[inline]
    pub fn name(&self) -> &'static str {
        self.meta.name
    }
    #[inline]
    pub fn ty(&self) -> WireType {
        self.meta.ty
    }
    #[inline]
    pub fn values(&self) -> Option<&'static ValueTable> {
        self.meta.values
    }
    /// The floating spec entry, when the tag is allowed here.
    #[inline]
    pub fn spec(&self) -> Option<&'static FloatField> {
        self.meta.spec
    }
    /// Offset of the value bytes in the frame.
    #[inline]
    pub fn data_offset(&self) -> u32 {
        self.offset + u32::from(self.header)
    }
    /// Length of the value bytes (for a floating field cut short by the end of the message,
    /// the bytes that are there).
    #[inline]
    pub fn data_len(&self) -> u32 {
        self.len - u32::from(self.header)
    }

    /// Repeated group this field belongs to, and the index of its instance.
    pub fn group(&self) -> Option<(&'static str, u16)> {
        if self.instance == NO_GROUP {
            return None;
        }
        self.meta.spec.and_then(|s| s.group).map(|g| (g, self.instance))
    }

    /// Text of a Text value (lossy UTF-8), or None.
    pub fn text<'b>(&self, frame: &'b [u8]) -> Option<Cow<'b, str>> {
        match self.value {
            Value::Text { start, len } => Some(range_str(frame, (start, len))),
            _ => None,
        }
    }
    /// Numeric value, if the field is numeric.
    pub fn number(&self) -> Option<u64> {
        match self.value {
            Value::Unsigned(v) => Some(v),
            Value::Signed(v) => Some(v as u64),
            Value::Bool(v) => Some(v as u64),
            Value::Time(v) => Some(v as u64),
            _ => None,
        }
    }
}

/// Field-name equality, cheap when the names differ (the common case of a lookup): length
/// and last byte before the full comparison.
#[inline]
pub fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().last() == b.as_bytes().last() && a == b
}

/// The bytes of a (start, len) range of the frame, cut at its end (empty when the range
/// starts past it).
#[inline]
pub fn range_bytes(frame: &[u8], r: (u32, u32)) -> &[u8] {
    let s = r.0 as usize;
    let e = (s + r.1 as usize).min(frame.len());
    frame.get(s..e).unwrap_or(&[])
}

/// Lossy text of a (start, len) range of the frame.
pub fn range_str(frame: &[u8], r: (u32, u32)) -> Cow<'_, str> {
    let bytes = range_bytes(frame, r);
    // Valid UTF-8 (nearly always ASCII) is borrowed after a check that is faster than the
    // lossy conversion's own scan.
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A decoded message: reused across messages by [`Decoder::decode_into`].
#[derive(Debug, Default, Clone)]
pub struct Decoded {
    pub msg_type: u32,
    pub spec: Option<&'static MessageSpec>,
    pub version: u32,
    pub version_source: Option<VersionSource>,
    /// Fixed fields then floating fields, in wire order.
    pub fields: Vec<Field>,
    pub anomalies: Vec<Anomaly>,
    /// Anomalies not kept: from [`MAX_ANOMALIES_PER_MESSAGE`] anomalies on, the first
    /// `MAX_ANOMALIES_PER_MESSAGE - 1` are kept, followed by one `too_many_anomalies`, and the
    /// others are counted here.
    pub anomalies_dropped: u32,
    /// Offset of the floating part in the frame.
    pub floating_offset: u32,
    /// Decoded with the fixed part of another protocol version than `version`, because the
    /// bytes fit that layout and not the connection's ([`Decoder::choose`]).
    pub variant: Option<Variant>,
    /// [`FieldId`] -> index of the fixed field in `fields`, for the layout of this message's
    /// type and version (empty for an unknown type).
    positions: &'static [u8],
    /// Index in `fields` of the first field after the fixed part (`fields.len()` when there
    /// is none): a field only the floating part carries is searched for from there.
    floating_index: u32,
}

impl Decoded {
    pub fn clear(&mut self) {
        self.msg_type = 0;
        self.spec = None;
        self.version = 0;
        self.version_source = None;
        self.fields.clear();
        self.anomalies.clear();
        self.anomalies_dropped = 0;
        self.floating_offset = 0;
        self.variant = None;
        self.positions = &[];
        self.floating_index = 0;
    }

    /// The protocol version whose fixed part this message was decoded with: `version`
    /// unless a [`Variant`] was chosen.
    pub fn fixed_version(&self) -> u32 {
        self.variant.map_or(self.version, |v| v.fixed_version)
    }

    /// The spec name or None for an unknown type.
    pub fn type_name(&self) -> Option<&'static str> {
        self.spec.map(|s| s.name).or_else(|| spec::type_name_at(self.msg_type, self.version))
    }

    /// The fixed field with this dictionary id, found at its position in the layout of
    /// this message's type and version (no search).
    #[inline]
    pub fn fixed(&self, id: FieldId) -> Option<&Field> {
        let pos = *self.positions.get(usize::from(id.0))?;
        self.fields.get(usize::from(pos)).filter(|f| f.meta.id == id && f.meta.part == Part::Fixed)
    }

    /// First field with this dictionary id, fixed or floating. A field the layout does not
    /// carry is not searched for: only the layout's own fields carry dictionary ids (an
    /// unknown tag or a tag the message does not carry has [`FieldId::NONE`]).
    #[inline]
    pub fn get(&self, id: FieldId) -> Option<&Field> {
        let search = || self.fields.iter().find(|f| f.meta.id == id);
        match self.positions.get(usize::from(id.0)) {
            Some(&NO_POSITION) => None,
            // Not a fixed field of this layout: only the floating part can hold it.
            Some(&FLOATING_ONLY) => self.floating_fields().iter().find(|f| f.meta.id == id),
            None => search(),
            // A fixed part cut short (raw or missing fields) falls back to the search.
            Some(_) => self.fixed(id).or_else(search),
        }
    }

    /// The fields after the fixed part, in wire order (those of the floating part, and the
    /// raw bytes of what could not be read as one).
    #[inline]
    pub fn floating_fields(&self) -> &[Field] {
        self.fields.get(self.floating_index as usize..).unwrap_or(&[])
    }

    /// Numeric value of the first field with this id.
    #[inline]
    pub fn number_of(&self, id: FieldId) -> Option<u64> {
        self.get(id).and_then(|f| f.number())
    }

    /// Text of the first field with this id.
    pub fn text_of<'b>(&self, frame: &'b [u8], id: FieldId) -> Option<Cow<'b, str>> {
        self.get(id).and_then(|f| f.text(frame))
    }

    /// The message type as the open newtype.
    #[inline]
    pub fn message_type(&self) -> MessageType {
        MessageType(self.msg_type)
    }

    /// First field with this name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| same_name(f.meta.name, name))
    }

    /// Numeric value of the first field with this name.
    pub fn number(&self, name: &str) -> Option<u64> {
        self.field(name).and_then(|f| f.number())
    }

    /// Text of the first field with this name.
    pub fn text<'b>(&self, frame: &'b [u8], name: &str) -> Option<Cow<'b, str>> {
        self.field(name).and_then(|f| f.text(frame))
    }

    fn anomaly(&mut self, code: &'static str, field: Option<&'static str>, offset: usize, message: String) {
        if self.anomalies.len() >= MAX_ANOMALIES_PER_MESSAGE {
            self.anomalies_dropped += 1;
            return;
        }
        if self.anomalies.len() == MAX_ANOMALIES_PER_MESSAGE - 1 {
            // The last slot holds the marker; this anomaly and the next ones are counted.
            self.anomalies.push(Anomaly {
                code: "too_many_anomalies",
                field: None,
                offset: offset as u32,
                message: format!(
                    "more than {} anomalies: the rest are counted, not kept",
                    MAX_ANOMALIES_PER_MESSAGE - 1
                ),
            });
            self.anomalies_dropped += 1;
            return;
        }
        self.anomalies.push(Anomaly { code, field, offset: offset as u32, message });
    }
}

/// Decode one frame (header included) at a known protocol version.
pub fn decode(frame: &[u8], version: u32, source: VersionSource) -> Decoded {
    let mut d = Decoded::default();
    decode_at(frame, version, source, &mut d);
    d
}

/// Decode into a reused [`Decoded`], with the fixed part of `version`.
pub fn decode_at(frame: &[u8], version: u32, source: VersionSource, d: &mut Decoded) {
    decode_layout(frame, version, version, source, d);
}

/// Decode at the version [`Decoder::choose`] chose, with the fixed part the bytes fit
/// ([`Variant`]): the connection's own when its floating walk fits, else the nearest other
/// version's that fits, else the connection's own again (its anomalies say what is wrong).
/// The outcome depends on the bytes and the version only; `c.start`, the layout the
/// connection last used for the type, only saves a decode when it is the one.
///
/// A message that decodes without an anomaly with the connection's own fixed part costs
/// nothing more: the other layouts are tried only after it leaves anomalies.
pub fn decode_choice(frame: &[u8], c: &Choice, d: &mut Decoded) {
    let first = c.start.unwrap_or(c.version);
    decode_layout(frame, c.version, first, c.source, d);
    if first == c.version && d.anomalies.is_empty() {
        return;
    }
    settle_layout(frame, c, first, d);
}

/// [`decode_choice`] after the first decode: decide the layout and decode again if the
/// first was not it.
#[cold]
#[inline(never)]
fn settle_layout(frame: &[u8], c: &Choice, decoded_with: u32, d: &mut Decoded) {
    let own = c.version;
    let Some(spec) = d.spec else { return };
    let groups = fixed_groups(spec);
    if groups.is_empty() && decoded_with == own {
        return;
    }
    let ix = msg_index(spec);
    let size = |v: u32| spec::fixed_size(spec, v);
    let redo = |v: u32, d: &mut Decoded| {
        if size(v) != size(decoded_with) {
            decode_layout(frame, own, v, c.source, d);
        }
    };
    let w = tlv_width(own);
    let misfit = match fits(frame, ix, own, size(own), w) {
        Ok(()) => return redo(own, d),
        Err(m) => m,
    };
    // The other layouts, nearest to the connection's version first; each at the version of
    // its range closest to the connection's.
    let own_size = size(own);
    let mut others: SmallVec<[u32; 4]> =
        groups.iter().filter(|g| g.2 != own_size).map(|g| if g.1 < own { g.1 } else { g.0 }).collect();
    others.sort_by_key(|&v| (v.abs_diff(own), v));
    for fv in others {
        if fits(frame, ix, own, size(fv), w).is_ok() {
            redo(fv, d);
            d.variant = Some(Variant { fixed_version: fv, misfit });
            return;
        }
    }
    redo(own, d);
}

/// Decode at protocol `version` (numbering, floating headers, sizes, tags) with the fixed
/// part of `fixed_version`.
fn decode_layout(frame: &[u8], version: u32, fixed_version: u32, source: VersionSource, d: &mut Decoded) {
    d.clear();
    d.version = version;
    d.version_source = Some(source);
    let Some((_, ty)) = crate::cti::framing::parse_header(frame) else {
        d.anomaly(
            "fixed_part_short",
            None,
            0,
            format!("frame of {} bytes has no complete header", frame.len()),
        );
        return;
    };
    d.msg_type = ty;
    if frame.len() > max_message_size(version) {
        d.anomaly(
            "message_too_large",
            None,
            0,
            format!(
                "message of {} bytes exceeds the guide's {}-byte maximum for protocol version {version}",
                frame.len(),
                max_message_size(version)
            ),
        );
    }
    let Some((spec, ix)) = layout(ty, version) else {
        if let Some(name) = spec::type_name_at(ty, version) {
            d.anomaly(
                "layout_unknown",
                None,
                HEADER_LEN,
                format!("no source documents the body of {name}: shown as raw bytes"),
            );
        } else if let Some(m) = spec::type_meanings(ty).first() {
            // A number that means something only at other versions (renumbered).
            d.anomaly(
                "unknown_message_type",
                None,
                4,
                format!(
                    "MessageType {ty} is not assigned at protocol version {version} (it is {} {})",
                    m.name,
                    m.versions()
                ),
            );
        } else {
            d.anomaly(
                "unknown_message_type",
                None,
                4,
                format!("MessageType {ty} is not defined by any source"),
            );
        }
        if frame.len() > HEADER_LEN {
            push_raw_body(d, frame);
        }
        return;
    };
    d.spec = Some(spec);
    // The common case: every fixed field is present at this version, and all of them are
    // in the frame.
    let complete = fixed_version >= ix.fixed_since && HEADER_LEN + ix.fixed_size <= frame.len();
    let floating_start = if complete {
        decode_fixed_complete(frame, ix, d)
    } else {
        decode_fixed(frame, spec, ix, fixed_version, d)
    };
    d.floating_offset = floating_start as u32;
    d.floating_index = d.fields.len() as u32;
    d.positions = fixed_positions(spec, fixed_version);
    if floating_start >= frame.len() {
        // A body cut inside the fixed part (fixed_part_short) never reached the floating
        // part: its fields are not also reported missing.
        if complete || HEADER_LEN + spec::fixed_size(spec, fixed_version) <= frame.len() {
            check_required(ix, &TagSet::default(), d);
        }
        return;
    }
    if spec.floating.is_empty() {
        let n = frame.len() - floating_start;
        d.anomaly(
            "trailing_bytes",
            None,
            floating_start,
            format!("{n} bytes after the fixed part; {} has no floating part", spec.name),
        );
        d.fields.push(raw_field(&TRAILING_BYTES, floating_start, n));
        return;
    }
    let mut walk = Walk::default();
    match tlv_width(version) {
        1 => decode_floating::<1>(frame, spec, ix, floating_start, &mut walk, d),
        _ => decode_floating::<2>(frame, spec, ix, floating_start, &mut walk, d),
    }
    // A version the connection stated (OPEN_REQ, --protocol-version) defines its tags; an
    // inferred or assumed one only stands for a layout. Only the message's tags that some
    // version leaves out are looked at, once the walk is done.
    if matches!(source, VersionSource::Seen | VersionSource::Forced)
        && walk.seen.intersects(ix.undefined_at(version))
    {
        tags_outside_version(ix, version, d);
    }
    check_counts(ix, &walk.counts, d);
    check_required(ix, &walk.seen, d);
}

/// The fields of the message whose tags protocol `version` does not define (introduced
/// later, or removed): decoded all the same, each with a `tag_not_allowed`.
#[cold]
#[inline(never)]
fn tags_outside_version(ix: &MsgIndex, version: u32, d: &mut Decoded) {
    let bit = version_bit(version);
    let outside: Vec<(&'static str, u16, u32)> = d
        .fields
        .iter()
        .filter(|f| f.meta.spec.is_some())
        .filter_map(|f| {
            let tag = f.tag?;
            let i = *ix.by_tag.get(usize::from(tag))?;
            let s = ix.slots.get(usize::from(i).checked_sub(1)?)?;
            (undefined_versions(tag) & bit != 0).then_some((s.meta.name, tag, f.offset))
        })
        .collect();
    for (name, tag, off) in outside {
        d.anomaly(
            "tag_not_allowed",
            Some(name),
            off as usize,
            format!(
                "tag {tag} ({name}) is not defined at protocol version {version} ({}); decoded all the same",
                defined_in(tag)
            ),
        );
    }
}

/// A fixed-part field of `size` bytes at frame offset `off`.
fn fixed_field(meta: &'static FieldMeta, off: usize, size: u8, value: Value) -> Field {
    Field { meta, offset: off as u32, len: u32::from(size), value, tag: None, instance: NO_GROUP, header: 0 }
}

/// Bytes kept raw, `len` of them at frame offset `start`.
fn raw_field(meta: &'static FieldMeta, start: usize, len: usize) -> Field {
    Field {
        meta,
        offset: start as u32,
        len: len as u32,
        value: Value::Raw { start: start as u32, len: len as u32 },
        tag: None,
        instance: NO_GROUP,
        header: 0,
    }
}

/// A meta of raw bytes: no type, no value table, no spec entry.
const fn raw_meta(name: &'static str, part: Part) -> FieldMeta {
    FieldMeta { id: FieldId::NONE, part, name, ty: WireType::Unspec, values: None, spec: None }
}

/// The body of a message whose layout is unknown.
static BODY: FieldMeta = raw_meta("Body", Part::Fixed);
/// Bytes after the fixed part of a message that has no floating part.
static TRAILING_BYTES: FieldMeta = raw_meta("TrailingBytes", Part::Floating);
/// The end of a message too short for a floating field's tag and length.
static TRUNCATED_FIELD: FieldMeta = raw_meta("TruncatedField", Part::Floating);
/// A floating tag that no source defines.
static UNKNOWN_TAG: FieldMeta = raw_meta("UnknownTag", Part::Floating);

/// The meta of a named tag as a field of a message that does not carry it (one per tag,
/// built once): None for a tag no source defines.
fn tag_meta(tag: u16) -> Option<&'static FieldMeta> {
    static METAS: std::sync::OnceLock<Vec<Option<FieldMeta>>> = std::sync::OnceLock::new();
    let all = METAS.get_or_init(|| {
        let max = spec::tags().iter().map(|t| t.tag).max().unwrap_or(0);
        (0..=max)
            .map(|tag| {
                spec::tag(tag).map(|t| FieldMeta {
                    id: FieldId::NONE,
                    part: Part::Floating,
                    name: t.name,
                    ty: t.ty,
                    values: t.values,
                    spec: None,
                })
            })
            .collect()
    });
    all.get(usize::from(tag))?.as_ref()
}

fn push_raw_body(d: &mut Decoded, frame: &[u8]) {
    d.fields.push(raw_field(&BODY, HEADER_LEN, frame.len() - HEADER_LEN));
}

/// The first N bytes, one length check for the whole value.
#[inline(always)]
fn first<const N: usize>(b: &[u8]) -> [u8; N] {
    *b.first_chunk::<N>().expect("value length checked by the caller")
}

/// Numeric value of a fixed-size field's bytes (length already checked).
#[inline(always)]
fn numeric(ty: WireType, b: &[u8]) -> Value {
    match ty {
        WireType::Char => Value::Signed(first::<1>(b)[0] as i8 as i64),
        WireType::UChar => Value::Unsigned(first::<1>(b)[0] as u64),
        WireType::Short => Value::Signed(i16::from_be_bytes(first(b)) as i64),
        WireType::UShort => Value::Unsigned(u16::from_be_bytes(first(b)) as u64),
        WireType::Int => Value::Signed(i32::from_be_bytes(first(b)) as i64),
        WireType::UInt => Value::Unsigned(u32::from_be_bytes(first(b)) as u64),
        WireType::Bool => Value::Bool(u16::from_be_bytes(first(b))),
        WireType::Time => Value::Time(u32::from_be_bytes(first(b))),
        WireType::TaskId => {
            let b: [u8; 12] = first(b);
            Value::TaskId([
                i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                i32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            ])
        }
        _ => Value::Raw { start: 0, len: 0 },
    }
}

/// Stores [`numeric`] of `b` into `out`, with the types of nearly every fixed field
/// (UINT and USHORT) each storing its own value: a value built by a shared tail writes every
/// byte any variant uses, which cost about 4% of the decoder's instructions.
#[inline(always)]
fn set_numeric(ty: WireType, b: &[u8], out: &mut Value) {
    match ty {
        WireType::UInt => *out = Value::Unsigned(u64::from(u32::from_be_bytes(first(b)))),
        WireType::UShort => *out = Value::Unsigned(u64::from(u16::from_be_bytes(first(b)))),
        _ => *out = numeric(ty, b),
    }
}

/// Decode a fixed part whose every field is present and in the frame; returns the frame
/// offset where the floating part starts.
fn decode_fixed_complete(frame: &[u8], ix: &MsgIndex, d: &mut Decoded) -> usize {
    let first = d.fields.len();
    d.fields.extend_from_slice(&ix.fixed_fields);
    for (f, r) in d.fields[first..].iter_mut().zip(&ix.fixed_reads) {
        let off = r.offset as usize;
        set_numeric(r.ty, &frame[off..off + usize::from(r.size)], &mut f.value);
    }
    // Only the fields with a table to check against can hold an unknown value.
    let fields = &d.fields[first..];
    let known =
        |&(i, t): &(usize, &'static ValueTable)| value_u32(fields[i].value).is_none_or(|n| t.knows(n));
    if ix.fixed_checked.iter().all(known) {
        return HEADER_LEN + ix.fixed_size;
    }
    // The anomalies, in wire order as always.
    for &(i, t) in &ix.fixed_checked {
        let f = &d.fields[first + i];
        let (name, value, offset) = (f.meta.name, f.value, f.offset as usize);
        check_value(name, Some(t), value, offset, d);
    }
    HEADER_LEN + ix.fixed_size
}

/// Decode the fixed part; returns the frame offset where the floating part starts.
fn decode_fixed(
    frame: &[u8],
    spec: &'static MessageSpec,
    ix: &'static MsgIndex,
    version: u32,
    d: &mut Decoded,
) -> usize {
    let mut off = HEADER_LEN;
    let mut short_reported = false;
    // The metas of an entry are at its index in `spec.fixed`.
    let metas = ix.fixed_metas;
    for (i, f) in spec::fixed_layout_indexed(spec, version) {
        let size = f.size as usize;
        if off + size > frame.len() {
            if !short_reported {
                d.anomaly(
                    "fixed_part_short",
                    Some(f.name),
                    off,
                    format!(
                        "body has {} bytes, the fixed part of {} at protocol version {version} needs {}: stops at {}",
                        frame.len() - HEADER_LEN,
                        spec.name,
                        spec::fixed_size(spec, version),
                        f.name
                    ),
                );
                short_reported = true;
            }
            if off < frame.len() {
                let n = frame.len() - off;
                d.fields.push(raw_field(&metas.raw[i], off, n));
                off = frame.len();
            }
            continue;
        }
        let value = numeric(f.ty, &frame[off..off + size]);
        check_value(f.name, f.values, value, off, d);
        d.fields.push(fixed_field(&metas.decoded[i], off, f.size, value));
        off += size;
    }
    off.min(frame.len())
}

/// Flag enum values outside their table and mask bits nobody names.
#[inline]
fn check_value(
    name: &'static str,
    values: Option<&'static ValueTable>,
    v: Value,
    off: usize,
    d: &mut Decoded,
) {
    if let Some((t, n)) = unknown_value(values, v) {
        report_value(name, t, n, off, d);
    }
}

/// The table and number of a value its table does not know, if so. Any value of a plain
/// number (a Special table) is known: its table only names a few special ones.
#[inline(always)]
fn unknown_value(values: Option<&'static ValueTable>, v: Value) -> Option<(&'static ValueTable, u32)> {
    let t = values?;
    if t.kind == ValueKind::Special {
        return None;
    }
    let n = value_u32(v)?;
    (!t.knows(n)).then_some((t, n))
}

/// The anomaly of a value its table does not know, if any.
#[cold]
#[inline(never)]
fn report_value(name: &'static str, t: &'static ValueTable, n: u32, off: usize, d: &mut Decoded) {
    match t.kind {
        ValueKind::Enum => {
            if t.name_of(n).is_none() {
                d.anomaly(
                    "unknown_enum_value",
                    Some(name),
                    off,
                    format!("{name} = {n} is not a {} value", t.name),
                );
            }
        }
        ValueKind::Special => {}
        ValueKind::Mask => {
            let unknown = n & !(t.fast as u32);
            if unknown != 0 {
                d.anomaly(
                    "unknown_mask_bits",
                    Some(name),
                    off,
                    format!("{name} = 0x{n:08x} has bits 0x{unknown:08x} that {} does not name", t.name),
                );
            }
        }
    }
}

fn value_u32(v: Value) -> Option<u32> {
    match v {
        Value::Unsigned(n) => u32::try_from(n).ok(),
        Value::Signed(n) => Some(n as u32),
        Value::Bool(n) => Some(n as u32),
        _ => None,
    }
}

/// Tag and length width of floating fields at a protocol version.
pub fn tlv_width(version: u32) -> usize {
    if version < spec::versions::TWO_BYTE_FLOATING_SINCE {
        1
    } else {
        2
    }
}

/// Tags below this get table lookups and bitsets; every tag any source defines is below it.
const TAG_SPACE: usize = 320;

/// A set of tags below [`TAG_SPACE`].
#[derive(Default, Clone, Copy)]
struct TagSet([u64; TAG_SPACE / 64]);

impl TagSet {
    fn insert(&mut self, tag: u16) {
        if (tag as usize) < TAG_SPACE {
            self.0[tag as usize / 64] |= 1 << (tag % 64);
        }
    }
    /// Whether the sets share a tag (branch-free over the words).
    #[inline(always)]
    fn intersects(&self, other: &TagSet) -> bool {
        let (a, b) = (&self.0, &other.0);
        (a[0] & b[0]) | (a[1] & b[1]) | (a[2] & b[2]) | (a[3] & b[3]) | (a[4] & b[4]) != 0
    }
    fn contains(&self, tag: u16) -> bool {
        (tag as usize) < TAG_SPACE && self.0[tag as usize / 64] & (1 << (tag % 64)) != 0
    }
    /// Insert; was the tag already in?
    #[inline]
    fn replace(&mut self, tag: u16) -> bool {
        match self.0.get_mut(tag as usize / 64) {
            Some(w) => {
                let bit = 1 << (tag % 64);
                let was = *w & bit != 0;
                *w |= bit;
                was
            }
            None => false,
        }
    }
}

/// Per-message lookup tables built once from the spec: which floating field a tag is, what
/// decoding it needs, and which fields start a repeated group.
struct MsgIndex {
    /// Floating field index + 1 per tag (0: not a field of this message).
    by_tag: [u8; TAG_SPACE],
    /// Per floating field: what decoding it needs, resolved from the spec entry and its tag.
    slots: Vec<Slot>,
    /// Per group number: is it a configuration record (arrays repeat inside one record)?
    group_is_record: Vec<bool>,
    /// The count fields that repeated fields name, once each, in spec order.
    counters: Vec<Counter>,
    /// The required floating fields that can be missing: (tag, name, first version that
    /// defines the tag), in spec order.
    required: Vec<(u16, &'static str, u32)>,
    /// Their tags.
    required_tags: TagSet,
    /// Per protocol version (from 31 on, the last), the index in `undefined_sets` of the
    /// set of its floating fields' tags that the version does not define.
    undefined_by_version: [u8; 32],
    undefined_sets: Vec<TagSet>,
    /// Highest `since` of the fixed fields: from this version on every fixed field is present.
    fixed_since: u32,
    /// Size of the whole fixed part (every field present).
    fixed_size: usize,
    /// The metas of the fixed spec entries.
    fixed_metas: &'static FixedMetas,
    /// The fields of the whole fixed part, values aside: a complete fixed part is these with
    /// their values read.
    fixed_fields: Vec<Field>,
    /// The fixed fields whose values are checked against a table: index and table.
    fixed_checked: Vec<(usize, &'static ValueTable)>,
    /// Where and how each fixed field's value is read, index for index with `fixed_fields`
    /// (kept apart so that reading the values does not go through the copied fields and
    /// their metas).
    fixed_reads: Vec<FixedRead>,
}

/// How a fixed field's value is read: frame offset, size and type.
struct FixedRead {
    offset: u32,
    size: u8,
    ty: WireType,
}

/// The metas of a message's fixed spec entries, index for index with `spec.fixed`.
struct FixedMetas {
    /// The fields as decoded.
    decoded: Vec<FieldMeta>,
    /// Their raw form, when the fixed part is cut short inside the field: no type, the
    /// entry's value table kept.
    raw: Vec<FieldMeta>,
}

/// A table with one entry per spec message, indexed by message id.
fn by_message<T>(build: impl Fn(&'static MessageSpec) -> T) -> Vec<Option<T>> {
    let max = spec::messages().iter().map(|m| m.id.index()).max().unwrap_or(0);
    let mut v: Vec<Option<T>> = (0..=max).map(|_| None).collect();
    for m in spec::messages() {
        v[m.id.index()] = Some(build(m));
    }
    v
}

/// Versions the fixed-position tables distinguish; a later version has the layout of this
/// one (every fixed field is older, checked when the tables are built).
const POSITION_VERSIONS: usize = 32;
/// No field of this id in the layout, fixed or floating.
const NO_POSITION: u8 = u8::MAX;
/// No fixed field of this id in the layout, but a floating one.
const FLOATING_ONLY: u8 = u8::MAX - 1;

/// Where each dictionary field sits in one message layout: its index in the fixed part,
/// [`FLOATING_ONLY`] or [`NO_POSITION`]; one table per set of fixed fields the message has
/// across versions.
struct FixedPositions {
    by_version: [u8; POSITION_VERSIONS],
    tables: Vec<Box<[u8]>>,
}

/// For `m` at `version`: [`FieldId`] -> index of the field among the decoded fields (the
/// fixed fields come first, in wire order), [`FLOATING_ONLY`] or [`NO_POSITION`].
fn fixed_positions(m: &'static MessageSpec, version: u32) -> &'static [u8] {
    static ALL: std::sync::OnceLock<Vec<Option<FixedPositions>>> = std::sync::OnceLock::new();
    let all = ALL.get_or_init(|| {
        by_message(|m| {
            assert!(m.fixed.iter().all(|f| usize::from(f.since) < POSITION_VERSIONS), "{}", m.name);
            let mut by_version = [0u8; POSITION_VERSIONS];
            let mut tables: Vec<Box<[u8]>> = Vec::new();
            for v in 0..POSITION_VERSIONS as u32 {
                if v == 0 || m.fixed.iter().any(|f| u32::from(f.since) == v) {
                    let mut t = vec![NO_POSITION; spec::fields::FIELDS.len()].into_boxed_slice();
                    for (i, (_, f)) in spec::fixed_layout_indexed(m, v).enumerate() {
                        let slot = &mut t[usize::from(f.id.0)];
                        if *slot == NO_POSITION {
                            *slot = u8::try_from(i)
                                .ok()
                                .filter(|&i| i < FLOATING_ONLY)
                                .expect("few fixed fields");
                        }
                    }
                    for f in m.floating {
                        let slot = &mut t[usize::from(f.id.0)];
                        if *slot == NO_POSITION {
                            *slot = FLOATING_ONLY;
                        }
                    }
                    tables.push(t);
                }
                by_version[v as usize] = (tables.len() - 1) as u8;
            }
            FixedPositions { by_version, tables }
        })
    });
    let p = all[m.id.index()].as_ref().expect("every spec message has fixed positions");
    &p.tables[usize::from(p.by_version[(version as usize).min(POSITION_VERSIONS - 1)])]
}

/// The metas of the fixed entries of `m` (built once for every message).
fn fixed_metas(m: &'static MessageSpec) -> &'static FixedMetas {
    static METAS: std::sync::OnceLock<Vec<Option<FixedMetas>>> = std::sync::OnceLock::new();
    let all = METAS.get_or_init(|| {
        by_message(|m| {
            let meta = |f: &'static FixedField, ty| FieldMeta {
                id: f.id,
                part: Part::Fixed,
                name: f.name,
                ty,
                values: f.values,
                spec: None,
            };
            FixedMetas {
                decoded: m.fixed.iter().map(|f| meta(f, f.ty)).collect(),
                raw: m.fixed.iter().map(|f| meta(f, WireType::Unspec)).collect(),
            }
        })
    });
    all[m.id.index()].as_ref().expect("every spec message has its fixed metas")
}

/// A floating field of a message layout as the decoder uses it.
struct Slot {
    /// What its fields carry: name, type, the field's value table else its tag's, spec
    /// entry.
    meta: FieldMeta,
    /// Maximum data length (0: given by a count).
    max: u16,
    /// `max` as a bound on the length: `usize::MAX` when there is none.
    limit: usize,
    /// A NAMEDVAR or NAMEDARRAY: its bytes count against the named-data budget.
    named: bool,
    /// A numeric field whose length depends on a count: an array of values of its type.
    array: bool,
    /// The table values are checked against: `meta.values` unless it only names special
    /// values of a plain number ([`unknown_value`] would pass over it; resolved here, it
    /// costs the walk nothing, which is 1.5% of the decoder's instructions).
    checked: Option<&'static ValueTable>,
    /// Group number, from 1 (0: not in a group).
    group_id: u8,
    /// First member of its group (a new instance starts there).
    first_member: bool,
    /// Neither a list member nor in a group: a second occurrence is a duplicate.
    unique: bool,
    /// Index + 1 of the tag's instance counter (0: no count field counts this tag).
    count_ix: u8,
}

/// A count field of a message layout and the fields it counts.
struct Counter {
    name: &'static str,
    /// Index of the count field in the fixed part (None: a floating counter).
    fixed_index: Option<usize>,
    /// Instance counters of the tags it counts (see [`Slot::count_ix`]).
    members: Vec<u8>,
    /// The counter of RecordType (183) when it is a member: configuration records have one
    /// each.
    record_type: Option<u8>,
    /// Its documented maximum in this message.
    max: Option<u32>,
}

/// Most distinct tags the count fields of one message layout count.
const COUNTED_TAGS: usize = 32;

fn build_index(m: &'static MessageSpec) -> MsgIndex {
    assert!(m.floating.len() < 255, "{} has too many floating fields for the index", m.name);
    let mut by_tag = [0u8; TAG_SPACE];
    // The first entry with a tag wins, as the guide lists it.
    for (i, f) in m.floating.iter().enumerate().rev() {
        if let Some(t) = f.tag.filter(|&t| (t as usize) < TAG_SPACE) {
            by_tag[t as usize] = i as u8 + 1;
        }
    }
    let mut groups: Vec<&str> = Vec::new();
    let mut slots: Vec<Slot> = m
        .floating
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let group_id = match f.group {
                None => 0,
                Some(g) => match groups.iter().position(|x| *x == g) {
                    Some(i) => i as u8 + 1,
                    None => {
                        groups.push(g);
                        groups.len() as u8
                    }
                },
            };
            let tag_values = f.tag.and_then(spec::tag).and_then(|t| t.values);
            Slot {
                meta: FieldMeta {
                    id: f.id,
                    part: Part::Floating,
                    name: f.name,
                    ty: f.ty,
                    values: f.values.or(tag_values),
                    spec: Some(f),
                },
                max: f.max,
                limit: if f.max == 0 { usize::MAX } else { usize::from(f.max) },
                named: matches!(f.ty, WireType::NamedVar | WireType::NamedArray),
                array: f.max_expr.is_some(),
                checked: f.values.or(tag_values).filter(|t| t.kind != ValueKind::Special),
                group_id,
                first_member: f.group.is_some() && m.floating[..i].iter().all(|x| x.group != f.group),
                unique: f.repeat.is_none() && f.group.is_none(),
                count_ix: 0,
            }
        })
        .collect();
    assert!(groups.len() < GROUPS_PER_MESSAGE, "{} has too many groups", m.name);
    let mut group_is_record = vec![false];
    group_is_record.extend(groups.iter().map(|g| *g == "Record"));
    let mut counted = 0u8;
    let mut counters: Vec<Counter> = Vec::new();
    for f in m.floating {
        let Some(name) = f.repeat else { continue };
        if counters.iter().any(|c| c.name == name) {
            continue;
        }
        let mut members = Vec::new();
        let mut record_type = None;
        for t in m.floating.iter().filter(|x| x.repeat == Some(name)).filter_map(|x| x.tag) {
            // Instances are counted per tag, on the tag's (first) entry.
            let i = *by_tag.get(t as usize).expect("counted tags are indexed") as usize;
            let slot = &mut slots[i - 1];
            if slot.count_ix == 0 {
                counted += 1;
                assert!((counted as usize) < COUNTED_TAGS, "{} counts too many tags", m.name);
                slot.count_ix = counted;
            }
            members.push(slot.count_ix);
            if t == 183 {
                record_type = Some(slot.count_ix);
            }
        }
        counters.push(Counter {
            name,
            fixed_index: m.fixed.iter().position(|x| x.name == name),
            members,
            record_type,
            max: spec::field_id(name).and_then(|f| spec::count_maximum(m.id, f)),
        });
    }
    let required = m
        .floating
        .iter()
        .filter(|f| f.presence == Presence::Required && f.repeat.is_none() && f.group.is_none())
        .filter_map(|f| f.tag.map(|t| (t, f.name, tag_since(t))))
        .collect::<Vec<_>>();
    let mut required_tags = TagSet::default();
    for &(t, _, _) in &required {
        required_tags.insert(t);
    }
    let mut undefined_by_version = [0u8; 32];
    let mut undefined_sets: Vec<TagSet> = Vec::new();
    for (v, slot) in undefined_by_version.iter_mut().enumerate() {
        let mut set = TagSet::default();
        for t in m.floating.iter().filter_map(|f| f.tag) {
            if undefined_versions(t) & version_bit(v as u32) != 0 {
                set.insert(t);
            }
        }
        let i = undefined_sets.iter().position(|x| x.0 == set.0).unwrap_or_else(|| {
            undefined_sets.push(set);
            undefined_sets.len() - 1
        });
        *slot = u8::try_from(i).expect("few distinct sets");
    }
    let fixed_metas = fixed_metas(m);
    let mut off = HEADER_LEN;
    let fixed_fields: Vec<Field> = m
        .fixed
        .iter()
        .zip(&fixed_metas.decoded)
        .map(|(f, meta)| {
            let field = fixed_field(meta, off, f.size, Value::Raw { start: 0, len: 0 });
            off += f.size as usize;
            field
        })
        .collect();
    let fixed_reads = fixed_fields
        .iter()
        .map(|f| FixedRead { offset: f.offset, size: f.len as u8, ty: f.meta.ty })
        .collect();
    // Plain numbers (Special tables) accept any value.
    let fixed_checked = m
        .fixed
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.values.filter(|t| t.kind != ValueKind::Special).map(|t| (i, t)))
        .collect();
    MsgIndex {
        by_tag,
        slots,
        group_is_record,
        counters,
        required,
        required_tags,
        undefined_by_version,
        undefined_sets,
        fixed_since: m.fixed.iter().map(|f| u32::from(f.since)).max().unwrap_or(0),
        fixed_size: spec::fixed_size(m, u32::MAX),
        fixed_metas,
        fixed_fields,
        fixed_checked,
        fixed_reads,
    }
}

impl MsgIndex {
    /// The tags of the message's floating fields that protocol `version` does not define.
    #[inline]
    fn undefined_at(&self, version: u32) -> &TagSet {
        &self.undefined_sets[usize::from(self.undefined_by_version[version.min(31) as usize])]
    }
}

fn msg_index(spec: &'static MessageSpec) -> &'static MsgIndex {
    static INDEX: std::sync::OnceLock<Vec<Option<MsgIndex>>> = std::sync::OnceLock::new();
    let all = INDEX.get_or_init(|| by_message(build_index));
    all[spec.id.index()].as_ref().expect("every spec message is indexed")
}

/// The layout of MessageType `ty` at protocol `version` ([`spec::message`]) and its index,
/// from a table per numbering (up to PV24, after).
fn layout(ty: u32, version: u32) -> Option<(&'static MessageSpec, &'static MsgIndex)> {
    type Layouts = Vec<Option<(&'static MessageSpec, &'static MsgIndex)>>;
    static LAYOUTS: std::sync::OnceLock<[Layouts; 2]> = std::sync::OnceLock::new();
    let all = LAYOUTS.get_or_init(|| {
        [24, 25].map(|v| {
            (0..=spec::MAX_MESSAGE_TYPE)
                .map(|t| spec::message(t, Some(v)).map(|m| (m, msg_index(m))))
                .collect()
        })
    });
    let numbering = &all[usize::from(version > 24)];
    numbering.get(usize::try_from(ty).ok()?).copied().flatten()
}

/// Most repeated groups one message layout has, plus one.
const GROUPS_PER_MESSAGE: usize = 16;

/// Group bookkeeping while walking the floating part (no allocation).
#[derive(Default)]
struct GroupState {
    /// Group number of the current instance (0: none).
    current: u8,
    index: u16,
    /// Tags seen in the current instance.
    seen: TagSet,
    /// Instances counted per group number.
    counts: [u16; GROUPS_PER_MESSAGE],
}

impl GroupState {
    /// The instance index of a field of group `gid` (not 0).
    fn place(&mut self, ix: &MsgIndex, slot: &Slot, tag: u16) -> u16 {
        let gid = slot.group_id;
        let new_instance = self.current != gid
            || slot.first_member
            || (!ix.group_is_record[gid as usize] && self.seen.contains(tag));
        if new_instance {
            let c = &mut self.counts[gid as usize];
            self.index = *c;
            *c = c.saturating_add(1);
            // A group left and re-entered without its first member starts a new instance:
            // the safe reading.
            self.current = gid;
            self.seen = TagSet::default();
        }
        self.seen.insert(tag);
        self.index
    }
}

/// The floating walk's state; what it leaves for the message-level checks.
#[derive(Default)]
struct Walk {
    groups: GroupState,
    /// Tags present.
    seen: TagSet,
    /// Fields per instance counter (see [`Slot::count_ix`]).
    counts: [u32; COUNTED_TAGS],
    named_bytes: usize,
}

/// The bit of protocol `version` in [`Slot::undefined`] (versions from 31 share the last).
fn version_bit(version: u32) -> u32 {
    1 << version.min(31)
}

/// The versions that do not define `tag`, as bits (see [`version_bit`]).
fn undefined_versions(tag: u16) -> u32 {
    let (since, until) = (tag_since(tag), tag_until(tag));
    (0..32u32).filter(|&v| v < since || v > until).fold(0, |m, v| m | 1 << v)
}

/// Walk the floating part, whose tags and lengths are `W` bytes each.
fn decode_floating<const W: usize>(
    frame: &[u8],
    spec: &'static MessageSpec,
    ix: &'static MsgIndex,
    start: usize,
    walk: &mut Walk,
    d: &mut Decoded,
) {
    let w = W;
    let mut off = start;
    while off < frame.len() {
        if off + 2 * w > frame.len() {
            let n = frame.len() - off;
            d.anomaly(
                "floating_header_truncated",
                None,
                off,
                format!("{n} bytes left at the end, too few for a floating field's tag and length"),
            );
            d.fields.push(raw_field(&TRUNCATED_FIELD, off, n));
            break;
        }
        let (tag, len) = if w == 1 {
            (frame[off] as u16, frame[off + 1] as usize)
        } else {
            (
                u16::from_be_bytes([frame[off], frame[off + 1]]),
                u16::from_be_bytes([frame[off + 2], frame[off + 3]]) as usize,
            )
        };
        let data_start = off + 2 * w;
        let slot = match ix.by_tag.get(tag as usize) {
            Some(&i) if i > 0 => Some(&ix.slots[i as usize - 1]),
            _ => None,
        };
        off = match slot {
            // The common case: a field of this message, inside the message.
            Some(s) if data_start + len <= frame.len() => {
                floating_field(frame, ix, s, tag, off, data_start, len, walk, d)
            }
            _ => floating_field_general(frame, spec, ix, slot, tag, off, w, len, walk, d),
        };
    }
    if walk.named_bytes > NAMED_DATA_BUDGET {
        d.anomaly(
            "named_data_too_much",
            Some("NamedVariable"),
            start,
            format!(
                "NAMEDVAR and NAMEDARRAY data total {} bytes, over the {NAMED_DATA_BUDGET}-byte limit",
                walk.named_bytes
            ),
        );
    }
}

/// Decode a floating field of this message that lies inside the message, its value at
/// `data_start` (after its tag and length); returns the offset after it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn floating_field(
    frame: &[u8],
    ix: &MsgIndex,
    s: &'static Slot,
    tag: u16,
    off: usize,
    data_start: usize,
    len: usize,
    walk: &mut Walk,
    d: &mut Decoded,
) -> usize {
    let data = &frame[data_start..data_start + len];
    // The name is read where an anomaly needs it, not held across the walk.
    if len > s.limit {
        value_too_long(s.meta.name, len, s.max, off, d);
    }
    walk.named_bytes += if s.named { len } else { 0 };
    let repeated = walk.seen.replace(tag);
    let instance = if s.group_id != 0 { walk.groups.place(ix, s, tag) } else { NO_GROUP };
    // count_ix < COUNTED_TAGS (checked when the index is built), a power of two.
    walk.counts[usize::from(s.count_ix) % COUNTED_TAGS] += 1;
    let start = data_start as u32;
    let value = match s.meta.ty {
        WireType::String => match first_nul(data) {
            Some(p) => Value::Text { start, len: p as u32 },
            None => decode_value(s.meta.ty, s.array, data, data_start, s.meta.name, off, d),
        },
        WireType::Unspec => Value::Bytes { start, len: len as u32 },
        ty if ty.fixed_size() == Some(len) => {
            let value = numeric(ty, data);
            check_value(s.meta.name, s.checked, value, off, d);
            value
        }
        _ => {
            let value = decode_value(s.meta.ty, s.array, data, data_start, s.meta.name, off, d);
            check_value(s.meta.name, s.checked, value, off, d);
            value
        }
    };
    d.fields.push(Field {
        meta: &s.meta,
        offset: off as u32,
        len: (data_start + len - off) as u32,
        value,
        tag: Some(tag),
        instance,
        header: (data_start - off) as u8,
    });
    if s.unique && repeated {
        let name = s.meta.name;
        d.anomaly(
            "duplicate_field",
            Some(name),
            off,
            format!("{name} (tag {tag}) appears more than once; it is not a list member"),
        );
    }
    data_start + len
}

/// Decode any floating field: one that runs past the end of the message (kept with the
/// bytes that are there), or one this message does not carry; returns the offset after it.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn floating_field_general(
    frame: &[u8],
    spec: &'static MessageSpec,
    ix: &MsgIndex,
    slot: Option<&'static Slot>,
    tag: u16,
    off: usize,
    w: usize,
    len: usize,
    walk: &mut Walk,
    d: &mut Decoded,
) -> usize {
    let data_start = off + 2 * w;
    // The tag's own entry matters only for a tag this message does not carry.
    let tspec = if slot.is_none() { spec::tag(tag) } else { None };
    let meta: &'static FieldMeta = match (slot, tspec) {
        (Some(s), _) => &s.meta,
        (None, Some(_)) => tag_meta(tag).expect("every named tag has a meta"),
        (None, None) => &UNKNOWN_TAG,
    };
    let name = meta.name;
    let data_len = len.min(frame.len() - data_start);
    if data_len < len {
        d.anomaly(
            "floating_past_end",
            Some(name),
            off,
            format!("tag {tag} ({name}) declares {len} bytes but only {data_len} remain in the message"),
        );
    }
    if let Some(s) = slot {
        // A field of this message: decoded as one inside the message, from what is there.
        return floating_field(frame, ix, s, tag, off, data_start, data_len, walk, d);
    }
    match tspec {
        None => d.anomaly(
            "unknown_tag",
            None,
            off,
            format!("floating tag {tag} is not defined by any source ({data_len} bytes kept raw)"),
        ),
        Some(t) => {
            let version = d.version;
            let outside = if tag_since(tag) > version || tag_until(tag) < version {
                format!(", and protocol version {version} does not define it ({})", defined_in(tag))
            } else {
                String::new()
            };
            d.anomaly(
                "tag_not_allowed",
                Some(t.name),
                off,
                format!("tag {tag} ({}) is not a field of {}{outside}", t.name, spec.name),
            );
            if let Some(max) = t.max.filter(|&m| data_len > usize::from(m)) {
                value_too_long(name, data_len, max, off, d);
            }
        }
    }
    let data = &frame[data_start..data_start + data_len];
    let value = decode_value(meta.ty, false, data, data_start, name, off, d);
    check_value(name, meta.values, value, off, d);
    walk.seen.insert(tag);
    d.fields.push(Field {
        meta,
        offset: off as u32,
        len: (2 * w + data_len) as u32,
        value,
        tag: Some(tag),
        instance: NO_GROUP,
        header: (2 * w) as u8,
    });
    data_start + data_len
}

/// The protocol versions that define `tag`, as words.
pub fn defined_in(tag: u16) -> String {
    match (tag_since(tag), tag_until(tag)) {
        (0, u32::MAX) => "defined in every version".to_string(),
        (since, u32::MAX) => format!("defined from protocol version {since}"),
        (0, until) => format!("defined up to protocol version {until}"),
        (since, until) => format!("defined in protocol versions {since} to {until}"),
    }
}

/// The anomaly of a floating value longer than its maximum.
#[cold]
#[inline(never)]
fn value_too_long(name: &'static str, len: usize, max: u16, off: usize, d: &mut Decoded) {
    d.anomaly("value_too_long", Some(name), off, format!("{name} is {len} bytes, its maximum is {max}"));
}

/// Decode one floating value inside its confined slice. With `array`, a numeric value may
/// hold several values of its type (kept as bytes unless there is exactly one).
fn decode_value(
    ty: WireType,
    array: bool,
    data: &[u8],
    start: usize,
    name: &'static str,
    off: usize,
    d: &mut Decoded,
) -> Value {
    let s = start as u32;
    match ty {
        WireType::String => match first_nul(data) {
            Some(p) => Value::Text { start: s, len: p as u32 },
            None => {
                if !data.is_empty() {
                    d.anomaly(
                        "string_without_nul",
                        Some(name),
                        off,
                        format!("{name} has no terminating NUL"),
                    );
                } else {
                    d.anomaly(
                        "string_without_nul",
                        Some(name),
                        off,
                        format!("{name} is empty: not even its terminating NUL"),
                    );
                }
                Value::Text { start: s, len: data.len() as u32 }
            }
        },
        WireType::Unspec => Value::Bytes { start: s, len: data.len() as u32 },
        WireType::NamedVar | WireType::NamedArray => {
            let (index, rest, base) = if ty == WireType::NamedArray {
                match data.first() {
                    Some(&i) => (Some(i), &data[1..], start + 1),
                    None => (None, data, start),
                }
            } else {
                (None, data, start)
            };
            let name_end = first_nul(rest);
            let parsed = name_end.and_then(|ne| {
                let v = &rest[ne + 1..];
                let ve = first_nul(v)?;
                Some(((base as u32, ne as u32), ve as u32))
            });
            match (parsed, ty, index) {
                (Some((name, value_len)), WireType::NamedVar, _) => Value::NamedVar { name, value_len },
                (Some((name, value_len)), WireType::NamedArray, Some(i)) => {
                    Value::NamedArray { index: i, name, value_len }
                }
                _ => {
                    d.anomaly(
                        "bad_named_variable",
                        Some(name),
                        off,
                        format!("{name} is not index/name/value NUL-terminated as {} requires", ty.name()),
                    );
                    Value::Raw { start: s, len: data.len() as u32 }
                }
            }
        }
        _ => {
            let size = ty.fixed_size().unwrap_or(0);
            if data.len() == size {
                numeric(ty, data)
            } else if array && size > 0 && data.len() % size == 0 {
                Value::Bytes { start: s, len: data.len() as u32 }
            } else {
                d.anomaly(
                    "bad_field_length",
                    Some(name),
                    off,
                    format!("{name} is {} bytes, a {} is {size}", data.len(), ty.name()),
                );
                Value::Raw { start: s, len: data.len() as u32 }
            }
        }
    }
}

/// Index of the first NUL byte, a word at a time.
#[inline]
fn first_nul(data: &[u8]) -> Option<usize> {
    // The lowest set high bit marks the first zero byte (higher ones may be false).
    #[inline(always)]
    fn zero8(w: &[u8; 8]) -> Option<usize> {
        let x = u64::from_le_bytes(*w);
        let z = x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080;
        (z != 0).then(|| z.trailing_zeros() as usize / 8)
    }
    #[inline(always)]
    fn zero4(w: &[u8; 4]) -> Option<usize> {
        let x = u32::from_le_bytes(*w);
        let z = x.wrapping_sub(0x0101_0101) & !x & 0x8080_8080;
        (z != 0).then(|| z.trailing_zeros() as usize / 8)
    }
    let n = data.len();
    if n >= 8 {
        let mut chunks = data.chunks_exact(8);
        let mut base = 0;
        for c in &mut chunks {
            if let Some(p) = zero8(c.try_into().expect("chunks of eight")) {
                return Some(base + p);
            }
            base += 8;
        }
        if chunks.remainder().is_empty() {
            return None;
        }
        // The last eight bytes: those before the remainder are known not to be NUL.
        let tail = data.last_chunk::<8>().expect("eight bytes or more");
        zero8(tail).map(|p| n - 8 + p)
    } else if n >= 4 {
        if let Some(p) = zero4(data.first_chunk::<4>().expect("four bytes or more")) {
            return Some(p);
        }
        zero4(data.last_chunk::<4>().expect("four bytes or more")).map(|p| n - 4 + p)
    } else {
        data.iter().position(|&b| b == 0)
    }
}

/// Count fields against the fields present and their documented maxima.
fn check_counts(ix: &MsgIndex, counts: &[u32; COUNTED_TAGS], d: &mut Decoded) {
    for c in &ix.counters {
        // Counters inside records (floating) describe one record each; only fixed counters
        // and message-level floating counters are checked here.
        // A fixed counter is nearly always at its spec index (the fixed part is complete):
        // the field there is it when it carries that entry's meta.
        let found = match c.fixed_index {
            Some(i) => d.fields.get(i).filter(|x| std::ptr::eq(x.meta, &ix.fixed_metas.decoded[i])),
            None => None,
        };
        let found = found.or_else(|| {
            d.fields.iter().find(|x| {
                same_name(x.meta.name, c.name) && (x.meta.part == Part::Fixed || x.instance == NO_GROUP)
            })
        });
        let Some(&cf) = found else {
            continue;
        };
        let Some(declared) = cf.number() else {
            continue;
        };
        let cf_off = cf.offset as usize;
        if let Some(max) = c.max {
            if declared > max as u64 {
                d.anomaly(
                    "count_over_max",
                    Some(cf.meta.name),
                    cf_off,
                    format!("{} = {declared}, above the documented maximum of {max}", c.name),
                );
            }
        }
        if cf.instance != NO_GROUP {
            continue;
        }
        // Instances present: the most frequent member tag of the repeated fields;
        // configuration records have one RecordType (183) each.
        let present = match c.record_type {
            Some(r) => counts[r as usize],
            None => c.members.iter().map(|&m| counts[m as usize]).max().unwrap_or(0),
        } as usize;
        // NumFltSkillGroups 0 means "one set in the fixed part" (AGENT_STATE_EVENT).
        if declared as usize != present && !(c.name == "NumFltSkillGroups" && declared == 0 && present <= 1) {
            d.anomaly(
                "count_mismatch",
                Some(cf.meta.name),
                cf_off,
                format!("{} = {declared} but {present} are present", c.name),
            );
        }
    }
}

#[inline(always)]
fn check_required(ix: &MsgIndex, present: &TagSet, d: &mut Decoded) {
    if ix.required_tags.0.iter().zip(present.0).all(|(r, p)| r & !p == 0) {
        return;
    }
    report_missing(ix, present, d);
}

/// The required fields absent from the message, each with its anomaly.
#[cold]
#[inline(never)]
fn report_missing(ix: &MsgIndex, present: &TagSet, d: &mut Decoded) {
    for &(tag, name, since) in &ix.required {
        // A field the connection's protocol version does not know yet cannot be missing.
        if since > d.version || tag_until(tag) < d.version {
            continue;
        }
        if !present.contains(tag) {
            let off = d.floating_offset as usize;
            d.anomaly(
                "required_missing",
                Some(name),
                off,
                format!("required field {name} (tag {tag}) is absent"),
            );
        }
    }
}

/// Picks the protocol version per connection: the OPEN_REQ's when seen, a forced one, or one
/// inferred from the bytes, kept once a message decided it; and the fixed-part layout per
/// message type where the bytes chose another version's ([`Variant`]).
#[derive(Debug, Clone, Default)]
pub struct VersionState {
    pub inferred: Option<u32>,
    /// Per message type, the fixed-part version of the [`Variant`] its last message on this
    /// connection was decoded with: the next message of the type starts from it.
    variants: SmallVec<[(u32, u32); 1]>,
}

impl VersionState {
    /// Remember the layout `d` (of MessageType `ty`) was decoded with, for the next message
    /// of its type ([`Choice::start`]).
    pub fn learn(&mut self, ty: u32, d: &Decoded) {
        let kept = self.variants.iter().position(|(t, _)| *t == ty);
        match (d.variant, kept) {
            (Some(v), Some(i)) => self.variants[i].1 = v.fixed_version,
            (Some(v), None) => self.variants.push((ty, v.fixed_version)),
            (None, Some(i)) => {
                self.variants.remove(i);
            }
            (None, None) => {}
        }
    }

    /// Whether the connection has decoded some message type with a [`Variant`].
    pub fn has_variants(&self) -> bool {
        !self.variants.is_empty()
    }
}

/// How one message is decoded ([`Decoder::choose`], [`decode_choice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// The connection's protocol version.
    pub version: u32,
    pub source: VersionSource,
    /// The fixed-part version to try first: the [`Variant`] the connection last used for the
    /// message's type, if any (a hint: [`decode_choice`] decides).
    pub start: Option<u32>,
}

/// Why the fixed part of the connection's version did not fit a message's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfit {
    /// The message is shorter than that fixed part.
    FixedPartShort,
    /// The floating fields after it do not end exactly at the message end.
    FloatingPastEnd,
    /// The floating fields after it include a tag that is not a field of the message.
    ForeignTag(u16),
    /// A required floating field (this tag) is absent after it.
    RequiredMissing(u16),
}

impl Misfit {
    /// What went wrong with a message of `spec`, as a sentence part ("the message is shorter
    /// than that fixed part").
    pub fn describe(self, spec: &MessageSpec) -> String {
        let field = |t: u16| match spec.floating.iter().find(|f| f.tag == Some(t)) {
            Some(f) => format!("{} (tag {t})", f.name),
            None => format!("tag {t}"),
        };
        match self {
            Misfit::FixedPartShort => "the message is shorter than that fixed part".to_string(),
            Misfit::FloatingPastEnd => {
                "the floating fields after it do not end at the message end".to_string()
            }
            Misfit::ForeignTag(t) => {
                format!("the floating fields after it meet tag {t}, which is not a field of {}", spec.name)
            }
            Misfit::RequiredMissing(t) => {
                format!("the floating fields after it lack the required {}", field(t))
            }
        }
    }

    /// A stable code for the JSON output.
    pub fn code(self) -> &'static str {
        match self {
            Misfit::FixedPartShort => "fixed_part_short",
            Misfit::FloatingPastEnd => "floating_past_end",
            Misfit::ForeignTag(_) => "tag_not_allowed",
            Misfit::RequiredMissing(_) => "required_missing",
        }
    }
}

/// A message decoded with the fixed part of another protocol version than its connection's.
///
/// Implementations do not all follow the version history: some send a message without a
/// fixed field its version adds (DepartmentID at 19, SessionType at 24), or with one a later
/// version adds. Where a message type's fixed part differs between versions, a message
/// whose bytes do not fit its connection's layout (the floating walk does not end at the
/// message end, meets an unknown tag, or the message is shorter than the fixed part) is
/// decoded with the neighbouring layout that fits ([`decode_choice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// The version whose fixed part was used.
    pub fixed_version: u32,
    /// What the connection's own layout met.
    pub misfit: Misfit,
}

impl Variant {
    /// The fixed fields this layout lacks or adds compared with `version`'s, e.g.
    /// "without DepartmentID".
    pub fn difference(&self, spec: &MessageSpec, version: u32) -> String {
        let (lo, hi) = (self.fixed_version.min(version), self.fixed_version.max(version));
        let names: Vec<&str> = spec
            .fixed
            .iter()
            .filter(|f| u32::from(f.since) > lo && u32::from(f.since) <= hi)
            .map(|f| f.name)
            .collect();
        let how = if self.fixed_version < version { "without" } else { "with" };
        format!("{how} {}", names.join(", "))
    }

    /// The sentence a tree, a finding and the JSON give: "fixed part of protocol version
    /// 18 (without DepartmentID): at version 19 the floating fields ...".
    pub fn describe(&self, spec: &MessageSpec, version: u32) -> String {
        format!(
            "fixed part of protocol version {} ({}): with the fixed part of version {version}, {}",
            self.fixed_version,
            self.difference(spec, version),
            self.misfit.describe(spec)
        )
    }
}

/// The protocol versions whose fixed parts a message type's variants are taken from.
pub const VARIANT_VERSIONS: std::ops::RangeInclusive<u32> = 13..=25;

/// Versions `.0` to `.1` of a message type share one fixed part, of `.2` bytes after the
/// header.
type FixedGroup = (u32, u32, usize);

/// The distinct fixed parts of a message type over [`VARIANT_VERSIONS`], in version order;
/// empty when it has only one.
fn fixed_groups(spec: &'static MessageSpec) -> &'static [FixedGroup] {
    static ALL: std::sync::OnceLock<Vec<Option<Vec<FixedGroup>>>> = std::sync::OnceLock::new();
    let all = ALL.get_or_init(|| {
        by_message(|m| {
            let mut groups: Vec<FixedGroup> = Vec::new();
            for v in VARIANT_VERSIONS {
                // Gated fields are the last of their fixed parts: the size tells them apart.
                let size = spec::fixed_size(m, v);
                match groups.last_mut() {
                    Some(g) if g.2 == size => g.1 = v,
                    _ => groups.push((v, v, size)),
                }
            }
            if groups.len() < 2 {
                groups.clear();
            }
            groups
        })
    });
    all[spec.id.index()].as_deref().unwrap_or(&[])
}

/// Whether the floating part of `frame` walks cleanly after a fixed part of `fixed_size`
/// bytes, with floating headers of `w` bytes: it ends exactly at the message end, every tag
/// is a field of the message, and the required fields the connection's `version` defines
/// are there.
fn fits(frame: &[u8], ix: &MsgIndex, version: u32, fixed_size: usize, w: usize) -> Result<(), Misfit> {
    let mut off = HEADER_LEN + fixed_size;
    if off > frame.len() {
        return Err(Misfit::FixedPartShort);
    }
    let mut seen = TagSet::default();
    while off < frame.len() {
        if off + 2 * w > frame.len() {
            return Err(Misfit::FloatingPastEnd);
        }
        let (tag, len) = if w == 1 {
            (frame[off] as u16, frame[off + 1] as usize)
        } else {
            (
                u16::from_be_bytes([frame[off], frame[off + 1]]),
                u16::from_be_bytes([frame[off + 2], frame[off + 3]]) as usize,
            )
        };
        if ix.by_tag.get(usize::from(tag)).is_none_or(|&i| i == 0) {
            return Err(Misfit::ForeignTag(tag));
        }
        seen.insert(tag);
        off += 2 * w + len;
    }
    if off != frame.len() {
        return Err(Misfit::FloatingPastEnd);
    }
    let missing = |&&(t, _, since): &&(u16, &str, u32)| {
        since <= version && version <= tag_until(t) && !seen.contains(t)
    };
    match ix.required.iter().find(missing) {
        Some(&(t, _, _)) => Err(Misfit::RequiredMissing(t)),
        None => Ok(()),
    }
}

/// Representative versions of the distinct wire layouts, in order of preference: 2-byte
/// floating headers with the PV24 fixed parts, with the PV19-23 fixed parts; 1-byte headers
/// with the PV19 fixed parts, with the older fixed parts.
const CANDIDATES: [u32; 4] = [24, 20, 19, 15];

/// How well the floating part of `frame` walks at a version: None if it does not end
/// exactly at the message end; otherwise (known and allowed tags, known tags).
fn walk_score(frame: &[u8], spec: &MessageSpec, version: u32) -> Option<(usize, usize)> {
    let start = HEADER_LEN + spec::fixed_size(spec, version);
    if start > frame.len() {
        return None;
    }
    let w = tlv_width(version);
    let mut off = start;
    let (mut allowed, mut known, mut total) = (0, 0, 0);
    while off < frame.len() {
        if off + 2 * w > frame.len() {
            return None;
        }
        let (tag, len) = if w == 1 {
            (frame[off] as u16, frame[off + 1] as usize)
        } else {
            (
                u16::from_be_bytes([frame[off], frame[off + 1]]),
                u16::from_be_bytes([frame[off + 2], frame[off + 3]]) as usize,
            )
        };
        off += 2 * w + len;
        total += 1;
        if spec::tag(tag).is_some() {
            known += 1;
        }
        if spec.floating.iter().any(|f| f.tag == Some(tag)) {
            allowed += 1;
        }
    }
    if off != frame.len() || known < total {
        return None;
    }
    Some((allowed, known))
}

/// Infer the version from one frame: Some when the candidates disagree and one fits best.
pub fn infer_version(frame: &[u8]) -> Option<u32> {
    let (_, ty) = crate::cti::framing::parse_header(frame)?;
    // The layout is looked up per candidate: the network recording messages have other
    // numbers up to protocol version 24.
    let scores: Vec<(u32, Option<(usize, usize)>)> = CANDIDATES
        .iter()
        .map(|&v| {
            let score = spec::message(ty, Some(v)).and_then(|spec| walk_score(frame, spec, v));
            (v, score)
        })
        .collect();
    let best = scores
        .iter()
        .filter_map(|(v, s)| s.map(|s| (s, *v)))
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))?;
    // Informative only if some candidate layout does not fit as well.
    if scores.iter().all(|(_, s)| *s == Some(best.0)) {
        return None;
    }
    // Among equally good candidates prefer the earliest in CANDIDATES; report a version
    // representative of its layout.
    scores.iter().find(|(_, s)| *s == Some(best.0)).map(|(v, _)| *v)
}

/// Decodes messages, tracking per connection the version used.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    /// `--protocol-version`.
    pub forced: Option<u32>,
}

impl Decoder {
    /// Decode `frame` of a connection whose OPEN_REQ said `seen` (if captured); `state` is
    /// the connection's inference state.
    pub fn decode_into(&self, frame: &[u8], seen: Option<u32>, state: &mut VersionState, d: &mut Decoded) {
        let c = self.choose(frame, seen, state);
        decode_choice(frame, &c, d);
        if c.start.is_some() || d.variant.is_some() {
            state.learn(d.msg_type, d);
        }
    }

    /// The version `frame` is decoded with ([`Decoder::choose_version`]), and the fixed
    /// part to try first: the one the connection last used for the message's type
    /// ([`VersionState::learn`]).
    pub fn choose(&self, frame: &[u8], seen: Option<u32>, state: &mut VersionState) -> Choice {
        let (version, source) = self.choose_version(frame, seen, state);
        let mut c = Choice { version, source, start: None };
        if state.has_variants() {
            if let Some((_, ty)) = crate::cti::framing::parse_header(frame) {
                c.start = state.variants.iter().find(|(t, _)| *t == ty).map(|(_, v)| *v);
            }
        }
        c
    }

    /// The version `frame` is decoded with, and where it came from; updates the
    /// connection's inference state. Cheap: the bytes are only walked until a message
    /// decides the connection's layout.
    pub fn choose_version(
        &self,
        frame: &[u8],
        seen: Option<u32>,
        state: &mut VersionState,
    ) -> (u32, VersionSource) {
        if let Some(v) = self.forced {
            (v, VersionSource::Forced)
        } else if let Some(v) = seen {
            (v, VersionSource::Seen)
        } else {
            // Once a message has decided the layout, the connection keeps it.
            if state.inferred.is_none() {
                state.inferred = infer_version(frame);
            }
            match state.inferred {
                Some(v) => (v, VersionSource::Inferred),
                None => (DEFAULT_VERSION, VersionSource::Assumed),
            }
        }
    }
}

/// Name of an enum value or the set bits of a mask, for display.
pub fn value_names(t: &ValueTable, v: u32) -> Vec<&'static str> {
    match t.kind {
        ValueKind::Enum | ValueKind::Special => t.name_of(v).into_iter().collect(),
        ValueKind::Mask => t.entries.iter().filter(|e| e.0 != 0 && v & e.0 == e.0).map(|e| e.1).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_table_agrees_with_the_spec() {
        for v in [0, 15, 19, 24, 25, 99, u32::MAX] {
            for t in (0..1000).chain([u32::MAX]) {
                let a = layout(t, v).map(|(m, _)| m as *const MessageSpec);
                let b = spec::message(t, Some(v)).map(|m| m as *const MessageSpec);
                assert_eq!(a, b, "MessageType {t} at version {v}");
            }
        }
    }

    #[test]
    fn a_field_is_40_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Field>(), 40);
    }

    #[test]
    fn tag_metas_agree_with_the_spec() {
        for tag in 0..=u16::MAX {
            let want = spec::tag(tag).map(|t| (t.name, t.ty, t.values.map(|v| v as *const ValueTable)));
            let got = tag_meta(tag).map(|m| {
                assert_eq!(m.part, Part::Floating);
                assert!(m.spec.is_none());
                (m.name, m.ty, m.values.map(|v| v as *const ValueTable))
            });
            assert_eq!(got, want, "tag {tag}");
        }
    }

    #[test]
    fn fixed_metas_agree_with_the_spec() {
        for m in spec::messages() {
            let metas = fixed_metas(m);
            assert_eq!(metas.decoded.len(), m.fixed.len(), "{}", m.name);
            assert_eq!(metas.raw.len(), m.fixed.len(), "{}", m.name);
            for ((f, meta), raw) in m.fixed.iter().zip(&metas.decoded).zip(&metas.raw) {
                let table = f.values.map(|v| v as *const ValueTable);
                assert_eq!((meta.part, meta.name, meta.ty), (Part::Fixed, f.name, f.ty));
                assert_eq!((raw.part, raw.name, raw.ty), (Part::Fixed, f.name, WireType::Unspec));
                assert_eq!(meta.values.map(|v| v as *const ValueTable), table);
                assert_eq!(raw.values.map(|v| v as *const ValueTable), table);
                assert!(meta.spec.is_none() && raw.spec.is_none());
            }
        }
    }

    /// The value bytes of every field as the decoder used to store them: a fixed or raw
    /// field is all value, a floating field's value follows its tag and length, and one cut
    /// short by the end of the message keeps the bytes that are there.
    #[test]
    fn data_offset_and_len() {
        let spec = spec::messages().iter().find(|m| m.name == "AGENT_STATE_EVENT").unwrap();
        let fixed = spec::fixed_size(spec, 24);
        let mut frame = vec![0u8; HEADER_LEN + fixed];
        frame[4..8].copy_from_slice(&spec.id.0.to_be_bytes());
        // A string field of the message, with 2-byte tag and length.
        let f = spec.floating.iter().find(|f| f.ty == WireType::String && f.tag.is_some()).unwrap();
        frame.extend_from_slice(&f.tag.unwrap().to_be_bytes());
        frame.extend_from_slice(&4u16.to_be_bytes());
        frame.extend_from_slice(b"abc\0");
        // A field cut short: declares 10 bytes, 3 remain.
        frame.extend_from_slice(&f.tag.unwrap().to_be_bytes());
        frame.extend_from_slice(&10u16.to_be_bytes());
        frame.extend_from_slice(b"xyz");
        let len = (frame.len() - HEADER_LEN) as u32;
        frame[0..4].copy_from_slice(&len.to_be_bytes());
        let d = decode(&frame, 24, VersionSource::Forced);
        let fixed_fields: Vec<_> = d.fields.iter().filter(|x| x.part() == Part::Fixed).collect();
        assert_eq!(fixed_fields.len(), spec.fixed.len());
        for x in fixed_fields {
            assert_eq!((x.data_offset(), x.data_len()), (x.offset, x.len), "{}", x.name());
        }
        let floating: Vec<_> = d.fields.iter().filter(|x| x.part() == Part::Floating).collect();
        assert_eq!(floating.len(), 2);
        let at = (HEADER_LEN + fixed) as u32;
        assert_eq!((floating[0].offset, floating[0].len), (at, 8));
        assert_eq!((floating[0].data_offset(), floating[0].data_len()), (at + 4, 4));
        assert_eq!((floating[1].offset, floating[1].len), (at + 8, 7));
        assert_eq!((floating[1].data_offset(), floating[1].data_len()), (at + 12, 3));
        assert!(floating.iter().all(|x| x.name() == f.name && x.spec().is_some()));
        // Raw fields: a body cut inside the fixed part, at a 1-byte TLV version.
        let d = decode(&frame[..HEADER_LEN + 3], 15, VersionSource::Forced);
        let raw = d.fields.last().unwrap();
        assert_eq!((raw.part(), raw.ty(), raw.name()), (Part::Fixed, WireType::Unspec, spec.fixed[0].name));
        assert_eq!((raw.offset, raw.len), (HEADER_LEN as u32, 3));
        assert_eq!((raw.data_offset(), raw.data_len()), (raw.offset, raw.len));
    }

    #[test]
    fn first_nul_finds_the_first_nul() {
        for n in 0..40 {
            let mut data = vec![b'a'; n];
            assert_eq!(first_nul(&data), None, "{n} bytes, no NUL");
            for i in 0..n {
                data[i] = 0;
                for j in i + 1..n {
                    let mut two = data.clone();
                    two[j] = 0;
                    assert_eq!(first_nul(&two), Some(i), "{n} bytes, NULs at {i} and {j}");
                }
                assert_eq!(first_nul(&data), Some(i), "{n} bytes, NUL at {i}");
                data[i] = b'a';
            }
        }
        // Bytes that trip a naive zero test (0x80, 0x01 after a zero borrow).
        assert_eq!(first_nul(&[0x80, 0x01, 0x00, 0x01, 0x80, 0x80, 0x80, 0x80, 0x01]), Some(2));
        assert_eq!(first_nul(&[0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00]), Some(8));
    }
}

#[cfg(test)]
mod lookup_tests {
    use super::*;
    use crate::cti::encode::MessageBuilder;
    use crate::cti::spec::fields::field;

    fn open_conf(version: u32) -> Vec<u8> {
        let mut b = MessageBuilder::named("OPEN_CONF", version);
        b.set("InvokeID", 7).unwrap().set("AgentState", 3).unwrap().set("PeripheralType", 17).unwrap();
        b.number("NumPeripherals", 0).unwrap();
        if version >= 24 {
            b.set("SessionType", 2).unwrap();
        }
        b.text("AgentID", "1001").unwrap();
        b.build()
    }

    /// `fixed` finds a fixed field at its position in the version's layout, `get` any field
    /// by id, and both agree with the search by name.
    #[test]
    fn lookups_by_id_follow_the_layout_of_the_version() {
        for version in [14, 18, 19, 20, 24, 25] {
            let frame = open_conf(version);
            let d = decode(&frame, version, VersionSource::Seen);
            assert!(d.anomalies.is_empty(), "{version}: {:?}", d.anomalies);
            for id in
                [field::InvokeID, field::AgentState, field::SessionType, field::DepartmentID, field::AgentID]
            {
                let by_name = d.field(id.name()).map(|f| f.offset);
                assert_eq!(d.get(id).map(|f| f.offset), by_name, "{version} {}", id.name());
                let fixed = d.fields.iter().find(|f| f.meta.id == id && f.meta.part == Part::Fixed);
                assert_eq!(d.fixed(id).map(|f| f.offset), fixed.map(|f| f.offset), "{version} {}", id.name());
            }
            assert_eq!(d.number_of(field::InvokeID), Some(7));
            assert_eq!(d.fixed(field::SessionType).is_some(), version >= 24, "{version}");
            assert_eq!(d.fixed(field::DepartmentID).is_some(), version >= 19, "{version}");
            assert!(d.fixed(field::AgentID).is_none(), "a floating field is not fixed");
            assert_eq!(d.text_of(&frame, field::AgentID).as_deref(), Some("1001"));
            assert_eq!(d.message_type(), MessageType::OPEN_CONF);
        }
        // A fixed part cut short: the position holds another (raw) field, which is not it.
        let frame = open_conf(24);
        let mut short = frame[..20].to_vec();
        short[0..4].copy_from_slice(&12u32.to_be_bytes());
        let d = decode(&short, 24, VersionSource::Seen);
        assert!(d.fixed(field::AgentState).is_none());
        assert_eq!(d.get(field::AgentState).map(|f| f.offset), d.field("AgentState").map(|f| f.offset));
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod pinned_tests;
