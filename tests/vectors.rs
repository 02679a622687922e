//! The 35 published byte-exact sample messages (protocol version 20) decode to exactly the
//! values they were built from.

use ctiscope::cti::decode::{decode, named_value, range_str, Part, Value, VersionSource};
use serde_json::Value as J;

fn spec_dir() -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("spec");
    assert!(p.is_dir(), "the protocol spec files are expected at {}", p.display());
    p
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The decoded value as JSON for comparison with the vector.
fn as_json(v: Value, frame: &[u8]) -> J {
    match v {
        Value::Unsigned(n) => J::from(n),
        Value::Signed(n) => J::from(n),
        Value::Bool(n) => J::from(n),
        Value::Time(n) => J::from(n),
        Value::Text { start, len } => J::from(range_str(frame, (start, len)).into_owned()),
        Value::Bytes { start, len } | Value::Raw { start, len } => {
            let s = start as usize;
            let hex: String = frame[s..s + len as usize].iter().map(|b| format!("{b:02x}")).collect();
            serde_json::json!({ "bytes": hex })
        }
        Value::NamedVar { name, value_len } => {
            serde_json::json!([range_str(frame, name), range_str(frame, named_value(name, value_len))])
        }
        Value::NamedArray { index, name, value_len } => {
            serde_json::json!([index, range_str(frame, name), range_str(frame, named_value(name, value_len))])
        }
        Value::TaskId(t) => serde_json::json!(t),
    }
}

#[test]
fn all_35_vectors_decode_to_their_values() {
    let text = std::fs::read_to_string(spec_dir().join("vectors/hs-v20.jsonl")).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: J = serde_json::from_str(line).unwrap();
        let name = v["name"].as_str().unwrap();
        let frame = unhex(v["frame_hex"].as_str().unwrap());
        let d = decode(&frame, 20, VersionSource::Forced);
        let fields = v["fields"].as_object().unwrap();
        assert_eq!(d.msg_type as u64, fields["MessageType"].as_u64().unwrap(), "{name}: type");
        // The samples fill count and enum fields with arbitrary numbers (NumParties = 1800,
        // DeviceIDType = 1): those anomalies are right; any other is a decoding error.
        for a in &d.anomalies {
            if !matches!(a.code, "count_mismatch" | "count_over_max" | "unknown_enum_value") {
                failures.push(format!("{name}: unexpected anomaly {a:?}"));
            }
        }
        // Fixed part: the vector lists the fixed fields in wire order.
        let expected_fixed: Vec<(&String, &J)> =
            fields.iter().filter(|(k, _)| *k != "MessageType" && *k != "floating").collect();
        let got_fixed: Vec<_> = d.fields.iter().filter(|f| f.part() == Part::Fixed).collect();
        if expected_fixed.len() != got_fixed.len() {
            failures.push(format!(
                "{name}: {} fixed fields, vector has {}",
                got_fixed.len(),
                expected_fixed.len()
            ));
        }
        for ((k, ev), f) in expected_fixed.iter().zip(&got_fixed) {
            let got = as_json(f.value, &frame);
            if &got != *ev {
                failures.push(format!("{name}.{k} (decoded as {}): got {got}, want {ev}", f.name()));
            }
        }
        // Floating part: [tag, name, value, ...] in wire order.
        let expected_float = fields["floating"].as_array().unwrap();
        let got_float: Vec<_> = d.fields.iter().filter(|f| f.part() == Part::Floating).collect();
        if expected_float.len() != got_float.len() {
            failures.push(format!(
                "{name}: {} floating fields, vector has {}",
                got_float.len(),
                expected_float.len()
            ));
        }
        for (e, f) in expected_float.iter().zip(&got_float) {
            let tag = e[0].as_u64().unwrap();
            if f.tag.map(u64::from) != Some(tag) {
                failures.push(format!("{name}: tag {:?}, want {tag}", f.tag));
                continue;
            }
            let want = &e[2];
            let got = as_json(f.value, &frame);
            let ok = match want {
                // UNSPEC, NAMEDVAR and NAMEDARRAY data are given as hex of the field's bytes.
                J::Object(o) if o.contains_key("bytes") => {
                    let s = f.data_offset() as usize;
                    let raw: String =
                        frame[s..s + f.data_len() as usize].iter().map(|b| format!("{b:02x}")).collect();
                    o["bytes"] == raw
                }
                _ => &got == want,
            };
            if !ok {
                failures.push(format!("{name}: tag {tag} ({}) got {got}, want {want}", f.name()));
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 35);
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// Every vector, read at every protocol version from 13 to 25 (as a connection that states
/// that version would read it, variants and all) and printed as a tree and as JSON: nothing
/// panics, every field stays inside the frame, and at its own version only the anomalies of
/// the samples' arbitrary counts and enum values remain (checked above).
#[test]
fn every_vector_decodes_at_every_version() {
    use ctiscope::cti::decode::{decode_choice, Decoded, Decoder, VersionState};
    use ctiscope::cti::framing::{parse_header, Frame};
    use ctiscope::pipeline::{Direction, Flow};
    let text = std::fs::read_to_string(spec_dir().join("vectors/hs-v20.jsonl")).unwrap();
    let flow = Flow {
        conn: 1,
        dir: Direction::ToClient,
        src: "10.0.0.1:42027".parse().unwrap(),
        dst: "10.0.0.5:50000".parse().unwrap(),
    };
    let mut decoded = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: J = serde_json::from_str(line).unwrap();
        let bytes = unhex(v["frame_hex"].as_str().unwrap());
        let (length, msg_type) = parse_header(&bytes).unwrap();
        let frame =
            Frame { offset: 0, first_frame: 1, last_frame: 1, ts_ns: 0, msg_type, length, bytes: &bytes };
        for version in 13..=25 {
            for source in [VersionSource::Seen, VersionSource::Inferred] {
                let mut st = VersionState::default();
                let seen = (source == VersionSource::Seen).then_some(version);
                let c = Decoder::default().choose(&bytes, seen, &mut st);
                let mut d = Decoded::default();
                decode_choice(&bytes, &c, &mut d);
                for f in &d.fields {
                    assert!(
                        (f.offset + f.len) as usize <= bytes.len(),
                        "{}: {} at {version}",
                        v["name"],
                        f.name()
                    );
                }
                let mut out = Vec::new();
                ctiscope::render::tree::write_tree(&mut out, &flow, &frame, &d).unwrap();
                ctiscope::render::json::push_message(&mut out, &flow, &frame, &d);
                decoded += 1;
            }
        }
    }
    assert_eq!(decoded, 35 * 13 * 2);
}
