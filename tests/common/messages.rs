//! Messages without anomalies, for tests that spoil them or push one field to a limit.

use ctiscope::cti::encode::MessageBuilder;
use ctiscope::cti::spec::{self, FloatField, ValueKind, WireType};

/// A named value of a table that fits `size` bytes (the first non-zero one).
pub fn named_value(t: &spec::ValueTable, size: usize) -> u64 {
    let max = if size >= 4 { u64::from(u32::MAX) } else { (1u64 << (8 * size)) - 1 };
    t.entries.iter().map(|e| u64::from(e.0)).find(|&v| v != 0 && v <= max).expect("a named value")
}

/// A builder of `name` at `version` whose fixed enumerations hold named values (the other
/// fixed fields are 0) and that carries its required floating fields (outside groups and
/// lists): a message without anomalies, to spoil.
pub fn base(name: &str, version: u32) -> MessageBuilder {
    let mut b = MessageBuilder::named(name, version);
    let spec = b.spec();
    for f in spec::fixed_layout(spec, version) {
        if let Some(t) = f.values.filter(|t| t.kind == ValueKind::Enum) {
            b.set(f.name, named_value(t, usize::from(f.size))).unwrap();
        }
    }
    // Only the tags the version defines (and its floating headers can carry).
    let fits = |f: &FloatField| f.tag.is_some_and(|t| ctiscope::cti::encode::tag_carried(t, version));
    for f in spec.floating {
        let required = f.presence == spec::Presence::Required;
        if required && f.group.is_none() && f.repeat.is_none() && fits(f) {
            add_valid(&mut b, f, 4);
        }
    }
    b
}

/// Adds a valid value for `f`; a string gets `len` characters (at most its maximum).
pub fn add_valid(b: &mut MessageBuilder, f: &FloatField, len: usize) {
    let text: String = std::iter::repeat_n('s', len.min(usize::from(f.max) - 1)).collect();
    match f.ty {
        WireType::String => b.text(f.name, &text),
        WireType::Unspec => b.bytes(f.name, &[]),
        WireType::NamedVar => b.named_var("v", "x"),
        WireType::NamedArray => b.named_array(0, "a", "x"),
        ty => {
            let size = ty.fixed_size().unwrap();
            let v = match f.values.filter(|t| t.kind != ValueKind::Special) {
                Some(t) => named_value(t, size),
                None => 1,
            };
            b.number(f.name, v)
        }
    }
    .unwrap();
}

/// CONFIG_AGENT_EVENT with `records` records, every string at its maximum length but for
/// `shrink` characters taken off the strings (from the first), so the frame is exactly
/// `shrink` bytes shorter than the full one (skills and MRDs at their maxima, 100 and 40).
pub fn config_agents(version: u32, records: u16, mut shrink: usize) -> Vec<u8> {
    let mut b = base("CONFIG_AGENT_EVENT", version);
    b.set("NumRecords", u64::from(records)).unwrap();
    let spec = b.spec();
    let wide = |f: &FloatField| f.tag.is_none_or(|t| !ctiscope::cti::encode::tag_carried(t, version));
    for _ in 0..records {
        for f in spec.floating.iter().filter(|f| !wide(f)) {
            match f.repeat {
                Some("NumSkills") => (0..100).for_each(|_| add_valid(&mut b, f, 0)),
                Some("NumMRDs") => (0..40).for_each(|_| add_valid(&mut b, f, 0)),
                _ => match f.name {
                    "NumSkills" => b.number(f.name, 100).map(drop).unwrap(),
                    "NumMRDs" => b.number(f.name, 40).map(drop).unwrap(),
                    _ if f.ty == WireType::String => {
                        let full = usize::from(f.max) - 1;
                        let cut = shrink.min(full);
                        shrink -= cut;
                        add_valid(&mut b, f, full - cut);
                    }
                    _ => add_valid(&mut b, f, 255),
                },
            }
        }
    }
    assert_eq!(shrink, 0, "not enough string bytes to shrink");
    b.build()
}
