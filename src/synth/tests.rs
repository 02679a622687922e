//! Unit tests of the generator.

use super::*;
use crate::cti::decode::{decode, VersionSource};

fn small(version: u32, seed: u64) -> Config {
    Config { seed, version, duration_s: 300.0, calls_per_agent: Some(4), ..Config::default() }
}

fn capture(cfg: &Config) -> Vec<u8> {
    let mut out = Vec::new();
    generate(cfg, &mut out, None, None).expect("in memory");
    out
}

#[test]
fn every_message_decodes_without_anomalies() {
    for v in [15, 20, 24] {
        let msgs = messages(&small(v, 3));
        assert!(msgs.len() > 200, "v{v}: only {} messages", msgs.len());
        let mut seen = std::collections::BTreeSet::new();
        let mut problems = std::collections::BTreeSet::new();
        for m in &msgs {
            let d = decode(&m.bytes, v, VersionSource::Forced);
            let name = d.type_name().unwrap_or("?");
            seen.insert(name.to_string());
            for a in &d.anomalies {
                problems.insert(format!("v{v} {name}: {}", a.message));
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
        for want in [
            "OPEN_REQ",
            "OPEN_CONF",
            "AGENT_STATE_EVENT",
            "BEGIN_CALL_EVENT",
            "CALL_DELIVERED_EVENT",
            "CALL_ESTABLISHED_EVENT",
            "END_CALL_EVENT",
            "CLOSE_CONF",
            "HEARTBEAT_REQ",
            "SYSTEM_EVENT",
            "MONITOR_START_CONF",
        ] {
            assert!(seen.contains(want), "v{v}: no {want} in {seen:?}");
        }
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = capture(&small(24, 9));
    let b = capture(&small(24, 9));
    let c = capture(&small(24, 10));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn enumerated_and_mask_values_are_named_in_their_tables() {
    use crate::cti::spec::ValueKind;
    let mut unnamed = std::collections::BTreeSet::new();
    let mut checked = 0;
    for v in [15, 19, 24, 25] {
        let cfg = Config { monitors: 2, agents: 5, ..small(v, 4) };
        for m in messages(&cfg) {
            let d = decode(&m.bytes, v, VersionSource::Forced);
            for f in &d.fields {
                let (Some(table), Some(n)) = (f.values(), f.number()) else { continue };
                let named = match table.kind {
                    ValueKind::Special => continue,
                    _ => u32::try_from(n).is_ok_and(|n| table.knows(n)),
                };
                checked += 1;
                if !named {
                    unnamed.insert(format!(
                        "{} {}={n} ({})",
                        d.type_name().unwrap_or("?"),
                        f.name(),
                        table.name
                    ));
                }
            }
        }
    }
    assert!(checked > 10_000, "{checked} values checked");
    assert!(unnamed.is_empty(), "{unnamed:#?}");
}
