//! Round trip of every message layout through the encoder and the decoder, at a 1-byte-TLV
//! protocol version (15) and a 2-byte one (24).
//!
//! For each layout two instances are built from the spec tables alone:
//!
//! * minimal: every fixed field set to a distinct non-zero value that fits its size (a named
//!   value for enumerated and mask fields), and only the required floating fields that have a
//!   tag. A required member of a repeated group brings its whole group, once, with its count
//!   set to 1; a count field of a group that is absent is 0.
//! * maximal: every floating field with a tag, repeated groups and lists twice with their
//!   counts set to 2 (arrays inside configuration records twice per record too).
//!
//! At protocol version 15 the tags above 255 cannot be sent (1-byte tags): those fields are
//! left out there.
//!
//! Fields are set through the encoder by their dictionary ids.
//!
//! The decoded message must carry no anomaly, its fixed fields must be the ones set (by name,
//! in order) and its floating fields the ones added (tag, name, value, group instance), in
//! order.

use ctiscope::cti::decode::{
    decode, infer_version, max_message_size, named_value, range_str, tag_since, tag_until, tlv_width,
    Decoded, Decoder, Part, Value, VersionSource, VersionState,
};
use ctiscope::cti::encode::MessageBuilder;
use ctiscope::cti::framing::HEADER_LEN;
use ctiscope::cti::spec::{self, FloatField, MessageSpec, Presence, ValueKind, WireType};

/// The versions every layout is checked at: every version from 13 (the oldest public
/// clients) to 25 (the latest guide).
const VERSIONS: std::ops::RangeInclusive<u32> = 13..=25;

/// Anomalies a layout produces on a well-formed instance because of its table, with the
/// reason. (message, version or 0 for all, anomaly code, field).
///
/// None at the moment: the count-dependent FltEnabledServices (`max_expr`
/// "2*NumOfEnabledServices") decodes as an array of USHORTs without an anomaly.
const EXPECTED_ANOMALIES: &[(&str, u32, &str, &str)] = &[];

/// A value added to the floating part, as it should decode.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    /// A numeric value of `size` bytes.
    Num(u64, usize),
    Text(String),
    Bytes(Vec<u8>),
    NamedVar(String, String),
    NamedArray(u8, String, String),
}

/// One floating field added to a message.
#[derive(Debug, Clone)]
struct WantField {
    name: &'static str,
    tag: u16,
    want: Want,
    group: Option<(&'static str, u16)>,
}

/// An instance under construction.
struct Instance {
    builder: MessageBuilder,
    /// Fixed fields in wire order with the value set.
    fixed: Vec<(&'static str, u64, usize)>,
    floating: Vec<WantField>,
    /// Fields of the layout left out because the version cannot carry their tag: it does not
    /// define it, or it does not fit 1-byte headers.
    skipped_wide: Vec<&'static str>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Minimal,
    Maximal,
}

fn mask(size: usize) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * size)) - 1
    }
}

/// A named value of `table` that fits `size` bytes, chosen by `i` among the non-zero ones.
fn table_value(table: &spec::ValueTable, size: usize, i: usize) -> Option<u64> {
    let fits: Vec<u64> = table
        .entries
        .iter()
        .map(|e| u64::from(e.0))
        .filter(|&v| v != 0 && v <= mask(size))
        // Mask tables may list combinations; any single entry is a named value.
        .collect();
    if fits.is_empty() {
        None
    } else {
        Some(fits[i % fits.len()])
    }
}

/// A distinct non-zero value of `size` bytes for the `i`-th field.
fn plain_value(size: usize, i: usize) -> u64 {
    let i = i as u64;
    match size {
        1 => 1 + i % 120,
        2 => 0x0100 + i,
        _ => 0x0102_0000 + i,
    }
}

fn numeric_value(ty: WireType, values: Option<&'static spec::ValueTable>, size: usize, i: usize) -> u64 {
    if let Some(t) = values {
        if matches!(t.kind, ValueKind::Enum | ValueKind::Mask) {
            if let Some(v) = table_value(t, size, i) {
                return v;
            }
        }
    }
    match ty {
        WireType::Bool => 1,
        WireType::Time => 0x6000_0000 + i as u64,
        _ => plain_value(size, i),
    }
}

/// Text of exactly `len` characters, different per field and instance.
fn text_of(name: &str, inst: u16, len: usize) -> String {
    let mut s = format!("{inst}{name}");
    while s.len() < len {
        s.push('x');
    }
    s.truncate(len);
    s
}

/// The count field named by a `max_expr` such as "2*NumOfEnabledServices".
fn expr_counter(expr: &str) -> Option<&str> {
    expr.split('*').nth(1).map(str::trim)
}

/// Instances of a repeated unit (a group or a list field): two in the maximal instance; in
/// the minimal one, one if a member with a tag is required, else none.
fn repeat_count(kind: Kind, members: &[&'static FloatField]) -> u16 {
    match kind {
        Kind::Maximal => 2,
        Kind::Minimal => {
            u16::from(members.iter().any(|f| f.presence == Presence::Required && f.tag.is_some()))
        }
    }
}

/// Splits the floating fields into units: a field alone, or a run of consecutive fields of
/// one group.
fn units(spec: &'static MessageSpec) -> Vec<Vec<&'static FloatField>> {
    let mut out: Vec<Vec<&'static FloatField>> = Vec::new();
    for f in spec.floating {
        match (f.group, out.last_mut()) {
            (Some(g), Some(last)) if last[0].group == Some(g) => last.push(f),
            _ => out.push(vec![f]),
        }
    }
    out
}

/// Splits a group's members into runs that repeat together: the members counted by the
/// group's counter, and the arrays inside a record counted by a member of the record.
fn runs(members: &[&'static FloatField]) -> Vec<Vec<&'static FloatField>> {
    let mut out: Vec<Vec<&'static FloatField>> = Vec::new();
    for &f in members {
        match out.last_mut() {
            Some(last) if last[0].repeat == f.repeat => last.push(f),
            _ => out.push(vec![f]),
        }
    }
    out
}

struct Plan {
    /// Counter name -> instances (fixed counters and floating ones).
    counters: Vec<(&'static str, u16)>,
    /// Floating fields to add, in order: (field, group instance, element index).
    fields: Vec<(&'static FloatField, Option<u16>, u16)>,
}

fn plan(spec: &'static MessageSpec, kind: Kind, version: u32) -> Plan {
    // The tags the version defines and its floating headers can carry.
    let sendable = |f: &FloatField| f.tag.is_some_and(|t| ctiscope::cti::encode::tag_carried(t, version));
    let mut p = Plan { counters: Vec::new(), fields: Vec::new() };
    let set_counter = |p: &mut Plan, name: &'static str, n: u16| {
        if let Some(c) = p.counters.iter_mut().find(|c| c.0 == name) {
            c.1 = n;
        } else {
            p.counters.push((name, n));
        }
    };
    for unit in units(spec) {
        let head = unit[0];
        let repeated = head.repeat.is_some();
        if head.group.is_none() {
            // A single field, possibly a list member (NamedVariable, TeamID).
            let n = if repeated {
                repeat_count(kind, &unit)
            } else {
                let wanted = match kind {
                    Kind::Maximal => true,
                    Kind::Minimal => head.presence == Presence::Required,
                };
                u16::from(wanted)
            };
            if let Some(c) = head.repeat {
                set_counter(&mut p, c, n);
            }
            if sendable(head) {
                for k in 0..n {
                    p.fields.push((head, None, k));
                }
            }
            continue;
        }
        // A group: repeated (its counter is the repeat of its first member) or once.
        let instances = if repeated {
            let n = repeat_count(kind, &unit);
            set_counter(&mut p, head.repeat.unwrap(), n);
            n
        } else {
            match kind {
                Kind::Maximal => 1,
                Kind::Minimal => {
                    u16::from(unit.iter().any(|f| f.presence == Presence::Required && f.tag.is_some()))
                }
            }
        };
        // A whole group for repeated ones; only the required members of a group that is
        // present once in the minimal instance.
        let whole = kind == Kind::Maximal || repeated;
        for inst in 0..instances {
            for run in runs(&unit) {
                let inner = run[0].repeat != head.repeat;
                let n = if inner {
                    let n = match kind {
                        Kind::Maximal => 2,
                        Kind::Minimal => 1,
                    };
                    set_counter(&mut p, run[0].repeat.unwrap(), n);
                    n
                } else {
                    1
                };
                for k in 0..n {
                    for &f in &run {
                        if !sendable(f) || !(whole || f.presence == Presence::Required) {
                            continue;
                        }
                        p.fields.push((f, Some(inst), k));
                    }
                }
            }
        }
    }
    // Count-dependent lengths ("2*NumOfEnabledServices"): the counter gets 2 (maximal) or 1.
    for f in spec.floating {
        if let Some(c) = f.max_expr.and_then(expr_counter) {
            let n = match kind {
                Kind::Maximal => 2,
                Kind::Minimal => 1,
            };
            // Only when the counter is a plain field (not already a repeat counter).
            if !p.counters.iter().any(|x| x.0 == c) {
                let name = spec.floating.iter().find(|x| x.name == c).map(|x| x.name);
                if let Some(name) = name {
                    set_counter(&mut p, name, n);
                }
            }
        }
    }
    p
}

/// Builds an instance of `spec` at `version`; strings are at most `cap` characters.
fn build(spec: &'static MessageSpec, version: u32, kind: Kind, cap: usize) -> Instance {
    let p = plan(spec, kind, version);
    let counter = |name: &str| p.counters.iter().find(|c| c.0 == name).map(|c| c.1);
    let mut b = MessageBuilder::new(spec, version);
    let mut fixed = Vec::new();
    for (i, f) in spec::fixed_layout(spec, version).enumerate() {
        let size = usize::from(f.size);
        let v = match counter(f.name) {
            Some(n) => u64::from(n),
            None => numeric_value(f.ty, f.values, size, i),
        };
        b.set(f.id, v).unwrap();
        fixed.push((f.name, v, size));
    }
    let mut floating = Vec::new();
    for (j, &(f, inst, k)) in p.fields.iter().enumerate() {
        let tag = f.tag.unwrap();
        let seed = j + 7;
        let want = match f.ty {
            WireType::String => {
                let len = usize::from(f.max.saturating_sub(1)).min(cap);
                Want::Text(text_of(f.name, inst.unwrap_or(0) * 2 + k, len))
            }
            WireType::Unspec => {
                let len = usize::from(f.max).min(cap);
                Want::Bytes((0..len).map(|x| (x + seed) as u8).collect())
            }
            WireType::NamedVar => Want::NamedVar(format!("var{k}"), format!("value{seed}")),
            WireType::NamedArray => Want::NamedArray(k as u8 + 1, format!("arr{k}"), format!("elem{seed}")),
            ty => {
                let size = ty.fixed_size().unwrap();
                match f.max_expr.and_then(expr_counter).and_then(counter) {
                    // An array of `n` values of the type.
                    Some(n) if n != 1 => {
                        let mut bytes = Vec::new();
                        for e in 0..usize::from(n) {
                            let v = numeric_value(ty, f.values, size, seed + e);
                            bytes.extend_from_slice(&v.to_be_bytes()[8 - size..]);
                        }
                        Want::Bytes(bytes)
                    }
                    _ => {
                        let v = match counter(f.name) {
                            Some(n) => u64::from(n),
                            None => numeric_value(ty, f.values, size, seed),
                        };
                        Want::Num(v, size)
                    }
                }
            }
        };
        match &want {
            Want::Num(v, _) => b.number(f.id, *v),
            Want::Text(s) => b.text(f.id, s),
            Want::Bytes(d) => b.bytes(f.id, d),
            Want::NamedVar(n, v) => b.named_var(n, v),
            Want::NamedArray(i, n, v) => b.named_array(*i, n, v),
        }
        .unwrap_or_else(|e| panic!("{} {}: {e}", spec.name, f.name));
        let group = f.group.map(|g| (g, inst.unwrap_or(0)));
        floating.push(WantField { name: f.name, tag, want, group });
    }
    let skipped_wide = spec
        .floating
        .iter()
        .filter(|f| f.tag.is_some_and(|t| !ctiscope::cti::encode::tag_carried(t, version)))
        .map(|f| f.name)
        .collect();
    Instance { builder: b, fixed, floating, skipped_wide }
}

/// Builds the instance, trimming string lengths until the message fits the guide's maximum.
fn build_fitting(spec: &'static MessageSpec, version: u32, kind: Kind) -> (Instance, Vec<u8>) {
    for cap in [20, 12, 6, 2] {
        let inst = build(spec, version, kind, cap);
        let frame = inst.builder.build();
        if frame.len() <= max_message_size(version) {
            return (inst, frame);
        }
    }
    panic!("{} does not fit at {version}", spec.name);
}

fn got_want(frame: &[u8], f: &ctiscope::cti::decode::Field) -> Want {
    let s = |r: (u32, u32)| range_str(frame, r).into_owned();
    match f.value {
        Value::Unsigned(v) => Want::Num(v, f.data_len() as usize),
        Value::Signed(v) => Want::Num(v as u64 & mask(f.data_len() as usize), f.data_len() as usize),
        Value::Bool(v) => Want::Num(u64::from(v), 2),
        Value::Time(v) => Want::Num(u64::from(v), 4),
        Value::Text { start, len } => Want::Text(s((start, len))),
        Value::Bytes { start, len } | Value::Raw { start, len } => {
            Want::Bytes(frame[start as usize..(start + len) as usize].to_vec())
        }
        Value::NamedVar { name, value_len } => Want::NamedVar(s(name), s(named_value(name, value_len))),
        Value::NamedArray { index, name, value_len } => {
            Want::NamedArray(index, s(name), s(named_value(name, value_len)))
        }
        Value::TaskId(_) => Want::Bytes(Vec::new()),
    }
}

/// Checks one instance; returns the mismatches.
fn check(spec: &'static MessageSpec, version: u32, kind: Kind) -> Vec<String> {
    let (inst, frame) = build_fitting(spec, version, kind);
    let d = decode(&frame, version, VersionSource::Forced);
    let ctx = format!("{} v{version} {kind:?}", spec.name);
    let mut bad = Vec::new();
    if d.spec.map(|s| s.name) != Some(spec.name) {
        bad.push(format!("{ctx}: decoded as {:?}", d.type_name()));
        return bad;
    }
    for a in &d.anomalies {
        let allowed = EXPECTED_ANOMALIES.iter().any(|&(m, v, c, f)| {
            m == spec.name && (v == 0 || v == version) && c == a.code && a.field == Some(f)
        });
        if !allowed {
            bad.push(format!("{ctx}: anomaly {} on {:?}: {}", a.code, a.field, a.message));
        }
    }
    if d.floating_offset as usize != HEADER_LEN + spec::fixed_size(spec, version) {
        bad.push(format!("{ctx}: floating part at {}", d.floating_offset));
    }
    let fixed: Vec<_> = d.fields.iter().filter(|f| f.part() == Part::Fixed).collect();
    if fixed.len() != inst.fixed.len() {
        bad.push(format!("{ctx}: {} fixed fields decoded, {} set", fixed.len(), inst.fixed.len()));
    }
    for (f, &(name, v, size)) in fixed.iter().zip(&inst.fixed) {
        let got = f.number().map(|n| n & mask(size));
        if f.name() != name || got != Some(v) {
            bad.push(format!("{ctx}: fixed {} = {:?}, set {name} = {v}", f.name(), f.value));
        }
    }
    let floating: Vec<_> = d.fields.iter().filter(|f| f.part() == Part::Floating).collect();
    if floating.len() != inst.floating.len() {
        bad.push(format!("{ctx}: {} floating fields decoded, {} added", floating.len(), inst.floating.len()));
    }
    for (f, w) in floating.iter().zip(&inst.floating) {
        let got = got_want(&frame, f);
        if f.tag != Some(w.tag) || f.name() != w.name || got != w.want || f.group() != w.group {
            bad.push(format!(
                "{ctx}: floating {} tag {:?} {:?} group {:?}, added {} tag {} {:?} group {:?}",
                f.name(),
                f.tag,
                got,
                f.group(),
                w.name,
                w.tag,
                w.want,
                w.group
            ));
        }
    }
    if kind == Kind::Maximal {
        // Every repeated group shows its instances 0 and 1.
        for g in
            spec.floating.iter().filter(|f| f.repeat.is_some() && f.tag.is_some()).filter_map(|f| f.group)
        {
            let mut idx: Vec<u16> =
                floating.iter().filter_map(|f| f.group()).filter(|x| x.0 == g).map(|x| x.1).collect();
            idx.dedup();
            idx.sort_unstable();
            idx.dedup();
            if !idx.is_empty() && idx != [0, 1] {
                bad.push(format!("{ctx}: group {g} instances {idx:?}"));
            }
        }
    }
    bad
}

#[test]
fn every_layout_round_trips_minimal_and_maximal() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for spec in spec::messages() {
        for version in VERSIONS {
            for kind in [Kind::Minimal, Kind::Maximal] {
                bad.extend(check(spec, version, kind));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, spec::messages().len() * VERSIONS.count() * 2);
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn maximal_instances_carry_every_tagged_field() {
    // Every field with a tag is in the maximal instance but those the version does not define
    // and, at 15, the tags above 255, which 1-byte floating headers cannot carry.
    for spec in spec::messages() {
        for version in VERSIONS {
            let (inst, _) = build_fitting(spec, version, Kind::Maximal);
            for f in spec.floating.iter().filter(|f| f.tag.is_some()) {
                let present = inst.floating.iter().any(|w| w.name == f.name);
                let wide = inst.skipped_wide.contains(&f.name);
                assert!(
                    present != wide,
                    "{} v{version}: {} present {present}, skipped {wide}",
                    spec.name,
                    f.name
                );
                if wide {
                    let t = f.tag.unwrap();
                    let defined = tag_since(t) <= version && version <= tag_until(t);
                    assert!(!defined || (t > 255 && version <= 19), "{} v{version}: {}", spec.name, f.name);
                }
            }
        }
    }
}

#[test]
fn repeated_groups_are_present_twice_in_maximal_instances() {
    let m = spec::message_by_name("CALL_CONFERENCED_EVENT").unwrap();
    let (inst, frame) = build_fitting(m, 24, Kind::Maximal);
    let d = decode(&frame, 24, VersionSource::Forced);
    assert_eq!(d.number("NumParties"), Some(2));
    let parties: Vec<_> =
        d.fields.iter().filter(|f| f.name() == "ConnectedPartyDeviceID").map(|f| f.group()).collect();
    assert_eq!(parties, [Some(("ConnectedParty", 0)), Some(("ConnectedParty", 1))]);
    assert!(inst.floating.len() >= 6);

    // Records with arrays inside them: two records of two service members each.
    let m = spec::message_by_name("CONFIG_SERVICE_EVENT").unwrap();
    let (_, frame) = build_fitting(m, 24, Kind::Maximal);
    let d = decode(&frame, 24, VersionSource::Forced);
    assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
    assert_eq!(d.number("NumRecords"), Some(2));
    let members: Vec<_> =
        d.fields.iter().filter(|f| f.name() == "ServiceMember").map(|f| f.group().unwrap().1).collect();
    assert_eq!(members, [0, 0, 1, 1]);
}

/// Messages with a floating part whose version the bytes tell.
const INFERENCE_SAMPLES: &[&str] =
    &["AGENT_STATE_EVENT", "CALL_DELIVERED_EVENT", "OPEN_REQ", "CALL_CONFERENCED_EVENT", "SYSTEM_EVENT"];

#[test]
fn inferred_version_has_the_encoding_tlv_width() {
    for name in INFERENCE_SAMPLES {
        let m = spec::message_by_name(name).unwrap();
        for (version, width) in [(15, 1), (24, 2)] {
            for kind in [Kind::Minimal, Kind::Maximal] {
                let (_, frame) = build_fitting(m, version, kind);
                if frame.len() == HEADER_LEN + spec::fixed_size(m, version) {
                    continue; // no floating part: nothing to tell the versions apart
                }
                let v = infer_version(&frame)
                    .unwrap_or_else(|| panic!("{name} v{version} {kind:?}: nothing inferred"));
                assert_eq!(tlv_width(v), width, "{name} encoded at {version} ({kind:?}) inferred as {v}");
                // The decoder keeps the inferred version for the connection.
                let mut state = VersionState::default();
                let mut d = Decoded::default();
                Decoder::default().decode_into(&frame, None, &mut state, &mut d);
                assert_eq!(d.version_source, Some(VersionSource::Inferred));
                assert_eq!(tlv_width(d.version), width);
                assert!(d.anomalies.is_empty(), "{name} v{version} {kind:?} inferred {v}: {:?}", d.anomalies);
            }
        }
    }
}

#[test]
fn open_conf_fixed_part_follows_the_version() {
    let m = spec::message_by_name("OPEN_CONF").unwrap();
    for (version, size, last) in [(14, 26, "AgentState"), (20, 30, "DepartmentID"), (24, 32, "SessionType")] {
        assert_eq!(spec::fixed_size(m, version), size);
        for kind in [Kind::Minimal, Kind::Maximal] {
            let (inst, frame) = build_fitting(m, version, kind);
            let d = decode(&frame, version, VersionSource::Forced);
            assert!(d.anomalies.is_empty(), "v{version}: {:?}", d.anomalies);
            assert_eq!(d.floating_offset as usize, HEADER_LEN + size, "v{version}");
            let fixed: Vec<_> = d.fields.iter().filter(|f| f.part() == Part::Fixed).collect();
            assert_eq!(fixed.last().unwrap().name(), last, "v{version}");
            let end = fixed.last().map(|f| f.offset + f.len).unwrap();
            assert_eq!(end as usize, HEADER_LEN + size, "v{version}");
            // The floating fields after it decode as added.
            let n = d.fields.iter().filter(|f| f.part() == Part::Floating).count();
            assert_eq!(n, inst.floating.len(), "v{version}");
        }
        // Decoded at another layout's version, the same bytes do not fit cleanly.
        let (_, frame) = build_fitting(m, version, Kind::Maximal);
        let other = if version == 24 { 20 } else { 24 };
        let d = decode(&frame, other, VersionSource::Forced);
        assert!(!d.anomalies.is_empty(), "v{version} bytes read at {other}");
    }
}

#[test]
fn every_layout_with_a_floating_part_infers_its_tlv_width() {
    // Including the network recording messages, whose numbers differ up to version 24.
    let mut bad = Vec::new();
    for spec in spec::messages() {
        for (version, width) in [(15, 1), (24, 2)] {
            for kind in [Kind::Minimal, Kind::Maximal] {
                let (_, frame) = build_fitting(spec, version, kind);
                if frame.len() == HEADER_LEN + spec::fixed_size(spec, version) {
                    continue;
                }
                let got = infer_version(&frame);
                if got.map(tlv_width) != Some(width) {
                    bad.push(format!("{} v{version} {kind:?}: {got:?}", spec.name));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn renumbered_messages_decode_at_their_version() {
    // START_NETWORK_RECORDING_REQ is 267 up to version 24 and 268 from 25.
    let m = spec::message_by_name("START_NETWORK_RECORDING_REQ").unwrap();
    let (_, frame) = build_fitting(m, 24, Kind::Maximal);
    assert_eq!(&frame[4..8], &267u32.to_be_bytes());
    assert_eq!(infer_version(&frame).map(tlv_width), Some(2));
    let mut state = VersionState::default();
    let mut d = Decoded::default();
    Decoder::default().decode_into(&frame, None, &mut state, &mut d);
    assert_eq!(d.type_name(), Some("START_NETWORK_RECORDING_REQ"));
    assert!(d.anomalies.is_empty(), "{:?}", d.anomalies);
}
