//! Field lookups by position: the fields the analysis reads on every message are found at
//! their index in the fixed part (resolved once per message layout and protocol version)
//! instead of by comparing names.
//!
//! Every positional hit is verified against the field's name, and anything unexpected (an
//! unknown message type, a fixed part cut short) falls back to the search by name, so the
//! results are those of [`Decoded::field`] and of a search of the fixed part.
//!
//! Names are compared by address first: a decoded field's name is the `&'static str` of its
//! spec entry, so a field carrying the spec entry's name needs no byte comparison (a
//! different address still falls back to comparing the bytes).

use crate::cti::decode::{range_bytes, same_name, Decoded, Field, Part, Value};
use crate::cti::spec::{self, MessageSpec};
use std::borrow::Cow;

/// A field the analysis reads often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    InvokeID,
    MonitorID,
    PeripheralID,
    ConnectionCallID,
    ConnectionDeviceIDType,
    ConnectionDeviceID,
    NewConnectionCallID,
    NewConnectionDeviceIDType,
    NewConnectionDeviceID,
    PrimaryCallID,
    SecondaryCallID,
    SkillGroupNumber,
    AgentState,
    EventCause,
    AgentID,
    AgentExtension,
    AgentInstrument,
}

const COUNT: usize = Name::AgentInstrument as usize + 1;

/// Spec names, indexed by [`Name`].
const NAMES: [&str; COUNT] = [
    "InvokeID",
    "MonitorID",
    "PeripheralID",
    "ConnectionCallID",
    "ConnectionDeviceIDType",
    "ConnectionDeviceID",
    "NewConnectionCallID",
    "NewConnectionDeviceIDType",
    "NewConnectionDeviceID",
    "PrimaryCallID",
    "SecondaryCallID",
    "SkillGroupNumber",
    "AgentState",
    "EventCause",
    "AgentID",
    "AgentExtension",
    "AgentInstrument",
];

impl Name {
    pub fn as_str(self) -> &'static str {
        NAMES[self as usize]
    }
}

/// Where the [`Name`]s sit in the fixed part of one message type at one protocol version.
#[derive(Debug)]
struct Layout {
    /// Index in [`Decoded::fields`], or None when the fixed part has no such field.
    at: [Option<u16>; COUNT],
    /// The spec's own name string for each [`Name`] in this message (fixed entry, else
    /// floating entry; [`NAMES`] when the message has neither): decoded fields carry it.
    spec_name: [&'static str; COUNT],
    /// Fields in the fixed part.
    n_fixed: u16,
}

/// The layouts of one message type: one per set of fixed fields it has across versions.
#[derive(Debug, Default)]
struct Layouts {
    /// Index in `layouts` for protocol versions 0 to [`LAST_VERSION`].
    by_version: [u8; LAST_VERSION as usize + 1],
    layouts: Vec<Layout>,
}

impl Layouts {
    fn new(spec: &'static MessageSpec) -> Self {
        let at_version = Layout::builder(spec);
        let mut by_version = [0; LAST_VERSION as usize + 1];
        let mut layouts = Vec::new();
        for version in 0..=LAST_VERSION {
            // The fixed part changes at the versions that add a field.
            if version == 0 || spec.fixed.iter().any(|f| u32::from(f.since) == version) {
                layouts.push(at_version(version));
            }
            by_version[version as usize] = u8::try_from(layouts.len() - 1).expect("a few layouts");
        }
        Layouts { by_version, layouts }
    }
}

impl Layout {
    /// The layout of a message as a function of the protocol version, what is the same at
    /// every version worked out once.
    fn builder(spec: &'static MessageSpec) -> impl Fn(u32) -> Self {
        // The same at every version: which name each fixed field is, and the spec's strings
        // of the floating fields.
        let names: Vec<Option<usize>> =
            spec.fixed.iter().map(|f| NAMES.iter().position(|n| same_name(n, f.name))).collect();
        let mut floating = NAMES;
        for (k, n) in NAMES.iter().enumerate() {
            if let Some(f) = spec.floating.iter().find(|f| same_name(n, f.name)) {
                floating[k] = f.name;
            }
        }
        move |version| {
            let mut at = [None; COUNT];
            let mut spec_name = floating;
            let mut n_fixed = 0;
            for (i, (entry, f)) in spec::fixed_layout_indexed(spec, version).enumerate() {
                n_fixed += 1;
                let Ok(i) = u16::try_from(i) else { continue };
                if let Some(k) = names[entry] {
                    if at[k].is_none() {
                        at[k] = Some(i);
                        spec_name[k] = f.name;
                    }
                }
            }
            Layout { at, spec_name, n_fixed }
        }
    }

    /// Whether `name` (a decoded field's) is the name `n`.
    #[inline]
    fn is(&self, name: &str, n: Name) -> bool {
        std::ptr::eq(name, self.spec_name[n as usize]) || same_name(name, n.as_str())
    }
}

/// Protocol versions the layouts are tabled for; a fixed field is added at a version no
/// later than this (checked when the table is built), so a later version has the layout of
/// this one.
const LAST_VERSION: u32 = 25;

/// The layout of a message at a protocol version, from a table built once for every
/// message (a layout per version that changes its fixed part).
fn layout(spec: &'static MessageSpec, version: u32) -> &'static Layout {
    static TABLE: std::sync::OnceLock<Vec<Layouts>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let max = spec::messages().iter().map(|m| m.id.index()).max().unwrap_or(0);
        let mut t: Vec<Layouts> = (0..=max).map(|_| Layouts::default()).collect();
        for m in spec::messages() {
            assert!(
                m.fixed.iter().all(|f| u32::from(f.since) <= LAST_VERSION),
                "{} has a field newer than the layout table",
                m.name
            );
            t[m.id.index()] = Layouts::new(m);
        }
        t
    });
    let l = &table[spec.id.index()];
    &l.layouts[usize::from(l.by_version[version.min(LAST_VERSION) as usize])]
}

/// The view of a decoded message: its fields with the layout of its type and version.
pub(crate) fn view(d: &Decoded) -> View<'_> {
    View { d, layout: d.spec.map(|s| layout(s, d.version)) }
}

/// A decoded message with its layout.
pub(crate) struct View<'a> {
    pub d: &'a Decoded,
    layout: Option<&'static Layout>,
}

impl<'a> View<'a> {
    /// The field at the layout's position for `n`, if it is there as expected. `Err` when the
    /// layout cannot tell (no layout, or the fields are not where it says).
    #[inline(always)]
    fn positional(&self, n: Name) -> Result<Option<&'a Field>, ()> {
        let Some(l) = self.layout else { return Err(()) };
        match l.at[n as usize] {
            None => Ok(None),
            Some(i) => match self.d.fields.get(usize::from(i)) {
                Some(f) if f.part() == Part::Fixed && l.is(f.name(), n) => Ok(Some(f)),
                _ => Err(()),
            },
        }
    }

    /// First field of the fixed part with this name.
    #[inline(always)]
    pub fn fixed(&self, n: Name) -> Option<&'a Field> {
        match self.positional(n) {
            Ok(f) => f,
            Err(()) => self.fixed_by_name(n),
        }
    }

    /// [`View::fixed`] when the layout cannot tell.
    #[cold]
    #[inline(never)]
    fn fixed_by_name(&self, n: Name) -> Option<&'a Field> {
        self.d.fields.iter().find(|f| f.part() == Part::Fixed && same_name(f.name(), n.as_str()))
    }

    /// First field with this name, fixed or floating (as [`Decoded::field`]).
    #[inline(always)]
    pub fn field(&self, n: Name) -> Option<&'a Field> {
        match self.positional(n) {
            Ok(Some(f)) => Some(f),
            Ok(None) => {
                // Not in the fixed part: search the floating part only.
                let l = self.layout.expect("positional answered");
                let fields = &self.d.fields;
                let start = usize::from(l.n_fixed).min(fields.len());
                if start > 0 && fields[start - 1].part() != Part::Fixed {
                    return self.d.field(n.as_str());
                }
                fields[start..].iter().find(|f| l.is(f.name(), n))
            }
            Err(()) => self.d.field(n.as_str()),
        }
    }

    /// Numeric value of the fixed field `n`.
    #[inline(always)]
    pub fn fixed_num(&self, n: Name) -> Option<u64> {
        self.fixed(n).and_then(|f| f.number())
    }

    /// Numeric value of the first field `n`.
    #[inline]
    pub fn num(&self, n: Name) -> Option<u64> {
        self.field(n).and_then(|f| f.number())
    }

    /// Text of the first field `n` (as [`Field::text`]).
    #[inline]
    pub fn text<'b>(&self, frame: &'b [u8], n: Name) -> Option<Cow<'b, str>> {
        self.field(n)?.text(frame)
    }

    /// [`View::text`] as UTF-8 bytes (cheaper: see [`lossy_utf8`]).
    #[inline(always)]
    pub fn text_utf8<'b>(&self, frame: &'b [u8], n: Name) -> Option<Cow<'b, [u8]>> {
        match self.field(n)?.value {
            Value::Text { start, len } => Some(lossy_utf8(frame, start, len)),
            _ => None,
        }
    }
}

/// The UTF-8 bytes of the lossy text of a (start, len) range of the frame: the bytes of
/// [`range_str`](crate::cti::decode::range_str), borrowed from the frame after a mere ASCII
/// check in the common case.
#[inline(always)]
pub(crate) fn lossy_utf8(frame: &[u8], start: u32, len: u32) -> Cow<'_, [u8]> {
    let bytes = range_bytes(frame, (start, len));
    // Short texts: an inlined loop without branches beats the word-at-a-time check.
    if bytes.iter().fold(0, |all, b| all | b) < 0x80 {
        Cow::Borrowed(bytes)
    } else {
        not_ascii_utf8(bytes)
    }
}

/// [`lossy_utf8`] of bytes that are not all ASCII.
#[cold]
fn not_ascii_utf8(bytes: &[u8]) -> Cow<'_, [u8]> {
    match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(_) => Cow::Borrowed(bytes),
        Cow::Owned(text) => Cow::Owned(text.into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cti::decode::{decode_at, range_str, same_name, VersionSource};
    use crate::pipeline::{self, Event};

    const ALL: [Name; COUNT] = [
        Name::InvokeID,
        Name::MonitorID,
        Name::PeripheralID,
        Name::ConnectionCallID,
        Name::ConnectionDeviceIDType,
        Name::ConnectionDeviceID,
        Name::NewConnectionCallID,
        Name::NewConnectionDeviceIDType,
        Name::NewConnectionDeviceID,
        Name::PrimaryCallID,
        Name::SecondaryCallID,
        Name::SkillGroupNumber,
        Name::AgentState,
        Name::EventCause,
        Name::AgentID,
        Name::AgentExtension,
        Name::AgentInstrument,
    ];

    fn addr(f: Option<&Field>) -> Option<*const Field> {
        f.map(|f| f as *const Field)
    }

    /// The view finds exactly the fields the searches by name find.
    fn check(d: &Decoded, frame: &[u8]) {
        let v = view(d);
        for n in ALL {
            let by_name =
                d.fields.iter().find(|f| f.part() == Part::Fixed && same_name(f.name(), n.as_str()));
            assert_eq!(addr(v.fixed(n)), addr(by_name), "{n:?} fixed in {:?}", d.type_name());
            assert_eq!(addr(v.field(n)), addr(d.field(n.as_str())), "{n:?} in {:?}", d.type_name());
            let text = d.text(frame, n.as_str());
            assert_eq!(v.text(frame, n), text, "{n:?} text in {:?}", d.type_name());
            let utf8 = v.text_utf8(frame, n);
            assert_eq!(utf8.as_deref(), text.as_ref().map(|t| t.as_bytes()), "{n:?} in {:?}", d.type_name());
        }
    }

    #[test]
    fn text_is_that_of_the_lossy_conversion() {
        let frame = b"ab\xffc\xe2\x82\xacd\xe2\x82";
        for s in 0..=frame.len() as u32 + 1 {
            for l in 0..=frame.len() as u32 + 1 {
                let text = range_str(frame, (s, l));
                assert_eq!(
                    text,
                    String::from_utf8_lossy(
                        frame.get(s as usize..(s + l).min(frame.len() as u32) as usize).unwrap_or(&[])
                    ),
                    "{s} {l}"
                );
                assert_eq!(&*lossy_utf8(frame, s, l), text.as_bytes(), "{s} {l}");
            }
        }
    }

    #[test]
    fn names_match_the_spec() {
        for (i, n) in ALL.iter().enumerate() {
            assert_eq!(*n as usize, i);
            assert!(!n.as_str().is_empty());
        }
    }

    #[test]
    fn positions_agree_with_search_by_name() {
        let mut d = Decoded::default();
        let mut frames = 0;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/captures");
        let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let name = path.to_string_lossy().to_string();
            if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
                continue;
            }
            let _ = pipeline::run_path(&name, &pipeline::Settings::default(), &mut |ev| {
                let Event::Message { frame, .. } = ev else { return };
                frames += 1;
                let bytes = frame.bytes;
                // Whole, and cut inside the fixed part or the floating part; at several
                // protocol versions.
                for version in [13, 15, 19, 24] {
                    for cut in [bytes.len(), bytes.len() / 2, 12, 9] {
                        let cut = &bytes[..cut.min(bytes.len())];
                        decode_at(cut, version, VersionSource::Forced, &mut d);
                        check(&d, cut);
                    }
                }
            });
        }
        assert!(frames > 100, "{frames} messages");
    }
}
