//! The decoder's parts pinned value by value: tag sets, the anomaly cap, version inference
//! and the choice of a fixed part, the words of its codes.

use super::*;
use crate::cti::encode::MessageBuilder;

#[test]
fn tag_sets_meet_in_every_word() {
    for tag in [0u16, 63, 64, 127, 128, 191, 192, 255, 256, 319] {
        let (mut a, mut b) = (TagSet::default(), TagSet::default());
        a.insert(tag);
        assert!(a.contains(tag));
        assert!(!b.intersects(&a) && !a.intersects(&b), "{tag}: empty");
        b.insert(tag ^ 1);
        assert!(!a.intersects(&b), "{tag} and {}", tag ^ 1);
        b.insert(tag);
        assert!(a.intersects(&b) && b.intersects(&a), "{tag}");
        assert!(b.replace(tag), "{tag} was in");
        assert!(!TagSet::default().replace(tag), "{tag} was not in");
    }
    // Beyond the space: never in.
    let mut a = TagSet::default();
    a.insert(320);
    assert!(!a.contains(320) && !a.replace(320));
}

#[test]
fn the_anomaly_cap_keeps_63_then_a_marker_and_counts_the_rest() {
    for n in [MAX_ANOMALIES_PER_MESSAGE - 1, MAX_ANOMALIES_PER_MESSAGE, MAX_ANOMALIES_PER_MESSAGE + 1] {
        let mut d = Decoded::default();
        for i in 0..n {
            d.anomaly("trailing_bytes", None, i, format!("number {i}"));
        }
        if n < MAX_ANOMALIES_PER_MESSAGE {
            assert_eq!((d.anomalies.len(), d.anomalies_dropped), (n, 0));
            assert!(d.anomalies.iter().all(|a| a.code == "trailing_bytes"));
            continue;
        }
        assert_eq!(d.anomalies.len(), MAX_ANOMALIES_PER_MESSAGE, "{n}");
        assert_eq!(d.anomalies_dropped as usize, n - (MAX_ANOMALIES_PER_MESSAGE - 1), "{n}");
        let last = d.anomalies.last().unwrap();
        assert_eq!((last.code, last.offset), ("too_many_anomalies", MAX_ANOMALIES_PER_MESSAGE as u32 - 1));
        assert_eq!(last.message, "more than 63 anomalies: the rest are counted, not kept");
        assert_eq!(d.anomalies[MAX_ANOMALIES_PER_MESSAGE - 2].message, "number 62");
    }
}

#[test]
fn codes_in_words() {
    let sources = [
        (VersionSource::Seen, "seen"),
        (VersionSource::Inferred, "inferred"),
        (VersionSource::Forced, "forced"),
        (VersionSource::Assumed, "assumed"),
    ];
    for (s, w) in sources {
        assert_eq!(s.as_str(), w);
    }
    let misfits = [
        (Misfit::FixedPartShort, "fixed_part_short"),
        (Misfit::FloatingPastEnd, "floating_past_end"),
        (Misfit::ForeignTag(1), "tag_not_allowed"),
        (Misfit::RequiredMissing(1), "required_missing"),
    ];
    for (m, w) in misfits {
        assert_eq!(m.code(), w);
        assert!(ANOMALY_CODES.iter().any(|(c, _)| *c == w), "{w} is a documented code");
    }
}

/// Everything one decode says, in words: version, its source and fixed part, the variant
/// and why, every field (part, type, place, value, group) and every anomaly.
fn dump(frame: &[u8], d: &Decoded, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "type {} {:?} v{} {} fixed v{} floating@{}",
        d.msg_type,
        d.type_name(),
        d.version,
        d.version_source.map_or("-", VersionSource::as_str),
        d.fixed_version(),
        d.floating_offset
    );
    if let (Some(v), Some(spec)) = (d.variant, d.spec) {
        let _ = write!(
            out,
            " variant {} {}: {}",
            v.misfit.code(),
            v.difference(spec, d.version),
            v.describe(spec, d.version)
        );
    }
    out.push('\n');
    for f in &d.fields {
        let _ = writeln!(
            out,
            "  {:?} {} {:?} {:?} @{}+{} data {}+{} {:?} group {:?} number {:?} text {:?}",
            f.part(),
            f.name(),
            f.ty(),
            f.tag,
            f.offset,
            f.len,
            f.data_offset(),
            f.data_len(),
            f.value,
            f.group(),
            f.number(),
            f.values().map(|t| value_names(t, f.number().unwrap_or(0) as u32)),
        );
        // The lookups by id: the fixed field at its position, the first field of the id.
        let id = f.meta.id;
        let _ = writeln!(
            out,
            "    fixed {:?} get {:?}",
            d.fixed(id).map(|x| x.offset),
            d.get(id).map(|x| x.offset)
        );
    }
    let _ = frame;
    for a in &d.anomalies {
        let _ = writeln!(out, "  ! {} {:?} @{} {}", a.code, a.field, a.offset, a.message);
    }
    let _ = writeln!(out, "  dropped {}", d.anomalies_dropped);
}

/// Each input of the decoder's fuzz corpus decoded every way the decoder is used: at the
/// version its first byte names (or inferred, as the fuzz harness does), and on connections
/// whose OPEN_REQ said 24 (twice in a row: the second starts from the layout the first
/// chose) and 15. One line per input: a summary and a digest of the whole dump.
fn corpus_line(name: &str, data: &[u8]) -> (String, String) {
    let mut text = String::new();
    let mut summary = String::new();
    let Some((&v, frame)) = data.split_first() else { return (format!("{name} empty"), text) };
    let mut d = Decoded::default();
    if (13..=25).contains(&v) {
        decode_at(frame, u32::from(v), VersionSource::Forced, &mut d);
    } else {
        let mut st = VersionState::default();
        Decoder::default().decode_into(frame, None, &mut st, &mut d);
    }
    text.push_str(&format!("infer {:?}\n", infer_version(frame)));
    dump(frame, &d, &mut text);
    let codes = |d: &Decoded| d.anomalies.iter().map(|a| a.code).collect::<Vec<_>>().join(",");
    summary.push_str(&format!(
        "{name} {} v{} {} fields {} [{}]",
        d.type_name().unwrap_or("?"),
        d.version,
        d.version_source.map_or("-", VersionSource::as_str),
        d.fields.len(),
        codes(&d)
    ));
    for (seen, times) in [(24, 2), (15, 1)] {
        let mut st = VersionState::default();
        for _ in 0..times {
            Decoder::default().decode_into(frame, Some(seen), &mut st, &mut d);
            dump(frame, &d, &mut text);
        }
        if let Some(var) = d.variant {
            summary.push_str(&format!(" at{seen}:fixed{}:{}", var.fixed_version, var.misfit.code()));
        }
    }
    // FNV-1a: a stable digest, fast enough unoptimised.
    let digest =
        text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (format!("{summary} {digest:016x}"), text)
}

/// The decoder's fuzz corpus decoded as `tests/snapshots/decode-corpus.txt` says (one line
/// per input: type, version, fields, anomaly codes, variants, and a digest of everything).
/// `CTISCOPE_BLESS=1` rewrites it from the whole corpus; otherwise the inputs it lists are
/// decoded again (inputs fuzzing adds later are not its concern) and a difference prints
/// the whole decode of the first input that changed.
#[test]
fn the_fuzz_corpus_decodes_as_recorded() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("fuzz/corpus/decode_frame");
    let golden = root.join("tests/snapshots/decode-corpus.txt");
    let bless = match std::env::var("CTISCOPE_BLESS").ok().as_deref() {
        Some("1") => true,
        Some(v) => panic!("CTISCOPE_BLESS={v:?}: set it to 1 to rewrite the golden files, or unset it"),
        None => false,
    };
    let names: Vec<String> = if bless {
        let mut n: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    } else {
        let text = std::fs::read_to_string(&golden).unwrap();
        text.lines().map(|l| l.split(' ').next().unwrap().to_string()).collect()
    };
    assert!(names.len() > 800, "the corpus has its {} inputs", names.len());
    let mut got = String::new();
    let mut dumps = Vec::new();
    for n in &names {
        let data = std::fs::read(dir.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
        let (line, text) = corpus_line(n, &data);
        got.push_str(&line);
        got.push('\n');
        dumps.push(text);
    }
    if bless {
        std::fs::write(&golden, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    for ((g, w), text) in got.lines().zip(want.lines()).zip(&dumps) {
        assert_eq!(g, w, "the decode of this input changed (CTISCOPE_BLESS=1 to record it):\n{text}");
    }
    assert_eq!(got.lines().count(), want.lines().count());
}

/// Over the whole fuzz corpus, at each input's version and at versions 24 and 15: the
/// floating fields are those after the fixed part's offset, and a lookup by id (fixed,
/// floating only, or absent from the layout) finds the first field with that id.
#[test]
fn lookups_by_id_find_the_first_field_of_the_id_over_the_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_frame");
    let mut checked = 0;
    let mut floating_only = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        let Some((&v, frame)) = data.split_first() else { continue };
        for version in [u32::from(v).clamp(13, 25), 24, 15] {
            let mut d = Decoded::default();
            decode_at(frame, version, VersionSource::Forced, &mut d);
            let after: Vec<_> = if d.spec.is_some() {
                d.fields.iter().filter(|f| f.offset >= d.floating_offset).map(|f| f.offset).collect()
            } else {
                d.fields.iter().map(|f| f.offset).collect()
            };
            let got: Vec<_> = d.floating_fields().iter().map(|f| f.offset).collect();
            assert_eq!(got, after, "{:?} at {version}", d.type_name());
            let ids = d.spec.map_or(&[][..], |s| s.floating).iter().map(|f| f.id);
            for id in ids.chain(d.fields.iter().map(|f| f.meta.id)).chain([FieldId(0), FieldId(1)]) {
                let first = d.fields.iter().find(|f| f.meta.id == id).map(|f| f.offset);
                assert_eq!(d.get(id).map(|f| f.offset), first, "{:?} at {version}: {id:?}", d.type_name());
                floating_only += usize::from(first.is_some_and(|o| o >= d.floating_offset));
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000 && floating_only > 1_000, "{checked} lookups, {floating_only} floating");
}

#[test]
fn names_are_the_same_only_when_equal() {
    assert!(same_name("AgentID", "AgentID"));
    assert!(!same_name("AgentID", "AgentIE"));
    // Same length and last byte, other bytes.
    assert!(!same_name("ab", "cb") && !same_name("AgentID", "ClientID"));
    assert!(!same_name("AgentID", "AgentIDs"));
}

/// AGENT_STATE_EVENT at version 24, its fixed part zero, then `tail` as its floating part.
fn agent_state_with(tail: &[u8]) -> Vec<u8> {
    agent_state_at(24, tail)
}

/// AGENT_STATE_EVENT with the fixed part of `version`, zero, then `tail`.
fn agent_state_at(version: u32, tail: &[u8]) -> Vec<u8> {
    let spec = spec::messages().iter().find(|m| m.name == "AGENT_STATE_EVENT").unwrap();
    with_fixed_part(spec, version, tail)
}

/// A message of `spec` with the fixed part of `version`, zero, and nothing after it.
fn fixed_part_only(spec: &MessageSpec, version: u32) -> Vec<u8> {
    with_fixed_part(spec, version, &[])
}

/// A message of `spec` with the fixed part of `version`, zero, then `tail`.
fn with_fixed_part(spec: &MessageSpec, version: u32, tail: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; HEADER_LEN + spec::fixed_size(spec, version)];
    frame[4..8].copy_from_slice(&spec.id.0.to_be_bytes());
    frame.extend_from_slice(tail);
    let len = (frame.len() - HEADER_LEN) as u32;
    frame[0..4].copy_from_slice(&len.to_be_bytes());
    frame
}

#[test]
fn a_floating_field_one_byte_past_the_end_keeps_no_byte() {
    let spec = spec::messages().iter().find(|m| m.name == "AGENT_STATE_EVENT").unwrap();
    let f = spec.floating.iter().find(|f| f.ty == WireType::String && f.tag.is_some()).unwrap();
    let tag = f.tag.unwrap();
    for declared in [1u16, 2] {
        let mut tail = tag.to_be_bytes().to_vec();
        tail.extend_from_slice(&declared.to_be_bytes());
        let frame = agent_state_with(&tail);
        let d = decode(&frame, 24, VersionSource::Forced);
        let last = d.fields.last().unwrap();
        assert_eq!((last.name(), last.offset as usize, last.len), (f.name, frame.len() - 4, 4));
        assert_eq!(last.data_len(), 0);
        let past: Vec<_> = d.anomalies.iter().filter(|a| a.code == "floating_past_end").collect();
        assert_eq!(past.len(), 1, "{declared}: {:?}", d.anomalies);
        assert_eq!(
            past[0].message,
            format!("tag {tag} ({}) declares {declared} bytes but only 0 remain in the message", f.name)
        );
    }
}

/// A floating field's tag and length at `version`'s width, then `data`.
fn tlv(version: u32, tag: u16, data: &[u8]) -> Vec<u8> {
    let mut b = if tlv_width(version) == 1 {
        vec![tag as u8, data.len() as u8]
    } else {
        let mut b = tag.to_be_bytes().to_vec();
        b.extend_from_slice(&(data.len() as u16).to_be_bytes());
        b
    };
    b.extend_from_slice(data);
    b
}

#[test]
fn a_foreign_tag_is_too_long_one_byte_over_its_maximum() {
    // CLIENT_ID_TAG (1), a STRING of at most 64 bytes, is not a field of AGENT_STATE_EVENT.
    assert_eq!(spec::tag(1).unwrap().max, Some(64));
    // No tag has a maximum of 0 (a tag without one has None).
    assert!((0..=u16::MAX).filter_map(spec::tag).all(|t| t.max != Some(0)));
    for (n, too_long) in [(63, false), (64, false), (65, true)] {
        let mut data = vec![b'c'; n - 1];
        data.push(0);
        let d = decode(&agent_state_at(24, &tlv(24, 1, &data)), 24, VersionSource::Forced);
        let codes: Vec<_> = d.anomalies.iter().map(|a| a.code).collect();
        assert_eq!(codes.contains(&"value_too_long"), too_long, "{n}: {codes:?}");
        assert!(codes.contains(&"tag_not_allowed"), "{n}: {codes:?}");
        if too_long {
            let a = d.anomalies.iter().find(|a| a.code == "value_too_long").unwrap();
            assert_eq!(a.message, format!("CLIENT_ID_TAG is {n} bytes, its maximum is 64"));
        }
    }
}

#[test]
fn a_foreign_tag_says_when_the_version_does_not_define_it() {
    // FLT_ENABLED_SERVICES (309) from version 24; CLIENT_ADDRESS_IPV6_TAG (226) up to 18.
    let cases = [
        (309, 23, true),
        (309, 24, false),
        (309, 25, false),
        (226, 17, false),
        (226, 18, false),
        (226, 19, true),
    ];
    for (tag, version, outside) in cases {
        let data: &[u8] = if tag == 309 { &[0, 1] } else { b"::1\0" };
        let d = decode(&agent_state_at(version, &tlv(version, tag, data)), version, VersionSource::Forced);
        let a = d
            .anomalies
            .iter()
            .find(|a| a.code == "tag_not_allowed")
            .unwrap_or_else(|| panic!("{tag} at {version}: {:?}", d.anomalies));
        assert_eq!(
            a.message.contains(&format!("protocol version {version} does not define it")),
            outside,
            "{tag} at {version}: {}",
            a.message
        );
    }
}

#[test]
fn a_whole_older_fixed_part_without_floating_fields_lacks_its_required_ones() {
    // A message type whose fixed part grew after version 13 and which requires a floating
    // field at that older version: its older fixed part alone lacks the required field.
    let mut checked = 0;
    for spec in spec::messages() {
        let since = spec.fixed.iter().map(|f| u32::from(f.since)).max().unwrap_or(0);
        if since <= 14 || spec::message(spec.id.0, Some(since - 1)).map(|m| m.name) != Some(spec.name) {
            continue;
        }
        let v = since - 1;
        let required = msg_index(spec).required.iter().any(|&(t, _, s)| s <= v && v <= tag_until(t));
        if !required {
            continue;
        }
        let d = decode(&fixed_part_only(spec, v), v, VersionSource::Forced);
        let codes: Vec<_> = d.anomalies.iter().map(|a| a.code).collect();
        assert!(codes.contains(&"required_missing"), "{} at {v}: {codes:?}", spec.name);
        assert!(!codes.contains(&"fixed_part_short"), "{} at {v}: {codes:?}", spec.name);
        checked += 1;
    }
    assert!(checked > 0, "some message type is there to check");
}

#[test]
fn tag_sets_meet_when_two_words_share_a_bit() {
    // Tags 5 + 64 k share bit 5 of their words: the words' intersections are equal, and
    // the sets meet however many words do.
    for i in 0..5u16 {
        for j in i + 1..5 {
            let (mut a, mut b) = (TagSet::default(), TagSet::default());
            for t in [5 + 64 * i, 5 + 64 * j] {
                a.insert(t);
                b.insert(t);
            }
            assert!(a.intersects(&b), "words {i} and {j}");
        }
    }
    let (mut a, mut b) = (TagSet::default(), TagSet::default());
    for w in 0..5u16 {
        a.insert(7 + 64 * w);
        b.insert(7 + 64 * w);
    }
    assert!(a.intersects(&b), "all five words");
}

#[test]
fn a_boolean_with_a_value_table_is_checked_against_it() {
    for (value, unknown) in [(0, false), (1, false), (7, true)] {
        let mut b = MessageBuilder::named("ACTIVE_MAINTENANCE_RESP_MSG", 24);
        b.set("MaintenanceModeAccepted", value).unwrap();
        let frame = b.build();
        let d = decode(&frame, 24, VersionSource::Forced);
        let codes: Vec<_> = d.anomalies.iter().map(|a| a.code).collect();
        assert_eq!(codes.contains(&"unknown_enum_value"), unknown, "{value}: {codes:?}");
    }
}

#[test]
fn required_tags_are_defined_to_the_last_version_and_leave_a_word_free() {
    // What the shortcuts of check_required and report_missing rely on (see
    // .cargo/mutants.toml): no required tag ends at a version, and no message requires
    // tags in every word of a tag set.
    for spec in spec::messages() {
        let ix = msg_index(spec);
        for &(tag, name, _) in &ix.required {
            assert_eq!(tag_until(tag), u32::MAX, "{} {name}", spec.name);
        }
        assert!(ix.required_tags.0.contains(&0), "{}", spec.name);
    }
}

#[test]
fn a_required_field_is_missing_from_the_version_that_adds_it() {
    // A message type with a required field some version adds: absent at that version,
    // it is missing; one version before, it is not.
    let mut checked = 0;
    for spec in spec::messages() {
        let ix = msg_index(spec);
        for &(tag, name, since) in ix.required.iter().filter(|r| r.2 > 15) {
            for (v, missing) in [(since - 1, false), (since, true)] {
                if spec::message(spec.id.0, Some(v)).map(|m| m.name) != Some(spec.name) {
                    continue;
                }
                let d = decode(&fixed_part_only(spec, v), v, VersionSource::Forced);
                let said = d.anomalies.iter().any(|a| a.code == "required_missing" && a.field == Some(name));
                assert_eq!(said, missing, "{} {name} (tag {tag}) at {v}", spec.name);
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "{checked}");
}

#[test]
fn no_skill_group_counted_is_one_in_the_fixed_part() {
    // NumFltSkillGroups 0 in AGENT_STATE_EVENT: the one skill group of the fixed part, so no
    // floating group or one is right, two are not; other counts are exact.
    let group = |n: u32| {
        let mut t = Vec::new();
        for tag in [62u16, 63, 64, 65] {
            let data = if tag == 64 { 1u16.to_be_bytes().to_vec() } else { n.to_be_bytes().to_vec() };
            t.extend_from_slice(&tlv(24, tag, &data));
        }
        t
    };
    let spec = spec::messages().iter().find(|m| m.name == "AGENT_STATE_EVENT").unwrap();
    let at = HEADER_LEN
        + spec.fixed[..spec.fixed.iter().position(|f| f.name == "NumFltSkillGroups").unwrap()]
            .iter()
            .map(|f| f.ty.fixed_size().unwrap())
            .sum::<usize>();
    for (declared, groups, mismatch) in
        [(0u16, 1, false), (0, 2, true), (1, 1, false), (1, 2, true), (2, 1, true), (2, 2, false)]
    {
        let mut tail = Vec::new();
        for g in 0..groups {
            tail.extend_from_slice(&group(100 + g));
        }
        let mut frame = agent_state_at(24, &tail);
        frame[at..at + 2].copy_from_slice(&declared.to_be_bytes());
        let d = decode(&frame, 24, VersionSource::Forced);
        let said = d.anomalies.iter().any(|a| a.code == "count_mismatch");
        assert_eq!(said, mismatch, "{declared} declared, {groups} present: {:?}", d.anomalies);
    }
}
