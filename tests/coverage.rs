//! The coverage table (`spec/coverage.tsv`, `ctiscope rules --coverage`): every statement has
//! a rule that exists or a reason, the ids run in order, every rule that states a
//! requirement of the guide's "Application Level Interfaces" chapter checks at least one
//! statement, and the command prints what the file holds.

use ctiscope::analysis::rules::{PRECONDITION_RULES, SERVICE_RULES};
use ctiscope::analysis::{self, coverage};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Rules that check no statement of the chapter, with the reason.
const NOT_IN_THE_CHAPTER: &[(&str, &str)] = &[
    // The capture and ctiscope's own limits, not the protocol.
    ("tcp-gap", "a capture defect"),
    ("cti-resync", "a capture defect: bytes skipped to find a header"),
    ("cti-incomplete", "a capture defect: a message cut by a gap or the end"),
    ("tcp-retransmission-conflict", "a TCP defect"),
    ("capture-limit", "a limit of ctiscope"),
    ("analysis-limit", "a limit of ctiscope"),
    ("packet-issue", "a capture file defect"),
    ("direction-not-captured", "a capture defect: one direction missing"),
    ("invoke-pending-at-end", "the capture or connection ended before the answer"),
    ("confirm-request-not-captured", "the request is outside the capture"),
    ("decode-too-many-anomalies", "a limit of ctiscope"),
    ("decode-layout-unknown", "what ctiscope's tables do not document"),
    ("decode-anomaly", "the fallback for an anomaly code the table lacks"),
    // Requirements of the guide's other chapters.
    ("session-not-open", "Session Management"),
    ("open-duplicate", "Session Management"),
    ("open-failed", "Session Management"),
    ("heartbeat-unanswered", "Session Management"),
    ("client-idle-timeout", "Session Management"),
    ("data-after-close", "Session Management"),
    ("standby-request", "Session Management"),
    ("failure-event", "Session Management"),
    ("reset-without-close", "Session Management"),
    ("session-reconnect", "Session Management"),
    ("invoke-reused", "Session Management (InvokeID)"),
    ("layout-variant", "the protocol version history (Changes and Additions)"),
    ("cti-implausible-length", "Messaging Conventions (message header)"),
    ("decode-floating-header-truncated", "Messaging Conventions (floating field encoding)"),
    ("decode-floating-past-end", "Messaging Conventions (floating field encoding)"),
    ("decode-unknown-tag", "Messaging Conventions (tag numbers: the chapter names fields, not tags)"),
    ("decode-bad-field-length", "Messaging Conventions (data types)"),
    ("decode-bad-named-variable", "Messaging Conventions (NAMEDVAR and NAMEDARRAY)"),
    ("decode-message-too-large", "Messaging Conventions (maximum message size)"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The file's rows as cells, read without the library.
fn tsv() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join("spec/coverage.tsv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id\treference\tstatement\trule\treason"));
    lines.map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

fn table() -> &'static [coverage::Statement] {
    coverage::coverage().unwrap_or_else(|e| panic!("{e}"))
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ctiscope")).args(args).output().unwrap();
    assert!(out.status.success(), "ctiscope {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_row_has_a_rule_or_a_reason_and_the_ids_run_in_order() {
    let rows = tsv();
    assert!(rows.len() >= 100, "{} rows", rows.len());
    let mut ids = BTreeSet::new();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), 5, "row {}: {r:?}", i + 1);
        assert_eq!(r[0], format!("C{:03}", i + 1), "ids run C001, C002, ... without a gap");
        assert!(ids.insert(r[0].clone()), "{} twice", r[0]);
        assert!(r[1].starts_with("guide "), "{}: reference {:?} does not name the guide", r[0], r[1]);
        assert!(
            r[2].starts_with('"') || r[2].starts_with("paraphrase: "),
            "{}: neither a quotation nor a paraphrase",
            r[0]
        );
        let words = r[2].split_whitespace().count();
        assert!(words <= 30, "{}: statement of {words} words, quote briefly", r[0]);
        assert!(r[3].is_empty() != r[4].is_empty(), "{}: needs exactly one of rule and reason", r[0]);
    }
    // The library reads the same rows.
    let parsed = table();
    assert_eq!(parsed.len(), rows.len());
    for (p, r) in parsed.iter().zip(&rows) {
        assert_eq!((p.id, p.reference, p.statement), (r[0].as_str(), r[1].as_str(), r[2].as_str()));
        assert_eq!(p.rule.unwrap_or(""), r[3]);
        assert_eq!(p.reason.unwrap_or(""), r[4]);
    }
}

#[test]
fn every_rule_named_exists() {
    let known: BTreeSet<&str> = analysis::rules().iter().map(|r| r.id).collect();
    for s in table() {
        if let Some(rule) = s.rule {
            assert!(known.contains(rule), "{} names {rule}, which `ctiscope rules` does not list", s.id);
        }
    }
}

#[test]
fn every_rule_of_the_chapter_checks_a_statement() {
    let named: BTreeSet<&str> = table().iter().filter_map(|s| s.rule).collect();
    let excluded: BTreeMap<&str, &str> = NOT_IN_THE_CHAPTER.iter().copied().collect();
    let known: BTreeSet<&str> = analysis::rules().iter().map(|r| r.id).collect();
    for id in excluded.keys() {
        assert!(known.contains(id), "the exclusion list names {id}, which is no rule");
        assert!(
            !named.contains(id),
            "{id} checks a statement of the chapter: take it off the exclusion list"
        );
    }
    let missing: Vec<&str> =
        known.iter().copied().filter(|id| !named.contains(id) && !excluded.contains_key(id)).collect();
    assert!(missing.is_empty(), "rules in no row of spec/coverage.tsv: {missing:?}");
}

/// The rules that check the guide's session-dependent presence, sentinels, services, masks,
/// call states and lifecycles each have their statements.
#[test]
fn the_rules_of_the_chapter_statements_are_named() {
    let named: BTreeSet<&str> = table().iter().filter_map(|s| s.rule).collect();
    for id in SERVICE_RULES.into_iter().chain(PRECONDITION_RULES) {
        assert!(named.contains(id), "{id} checks no statement");
    }
    // A statement the guide words as a requirement on the wire is the one its rule names.
    let rule_of = |needle: &str| {
        let hits: Vec<_> = table().iter().filter(|s| s.statement.contains(needle)).collect();
        assert_eq!(hits.len(), 1, "{needle}: {hits:?}");
        hits[0].rule
    };
    assert_eq!(
        rule_of("If there is no held call (single step transfer), this field must be set to 0xffffffff"),
        Some("sentinel-not-set")
    );
    assert_eq!(
        rule_of("The two calls must have connections to a single common device"),
        Some("transfer-no-common-device")
    );
    assert_eq!(rule_of("requires CTI_SERVICE_CLIENT_EVENTS"), Some("service-requires"));
    assert_eq!(
        rule_of("This message always precedes any other event messages"),
        Some("call-event-before-begin")
    );
    assert_eq!(rule_of("must re-create monitors"), Some("monitor-not-recreated"));
    assert_eq!(rule_of("must send an UNREGISTER_SERVICE_REQ"), Some("unregister-missing"));
}

#[test]
fn the_command_prints_the_table_and_its_counts() {
    let rows = tsv();
    let checked: Vec<&Vec<String>> = rows.iter().filter(|r| !r[3].is_empty()).collect();
    let rules: BTreeSet<&str> = checked.iter().map(|r| r[3].as_str()).collect();
    let explained = rows.len() - checked.len();
    let unchecked = rows.iter().filter(|r| r[4].starts_with("not checked:")).count();
    let out = run(&["rules", "--coverage"]);
    let summary = out.lines().last().unwrap();
    assert_eq!(
        summary,
        format!(
            "{} statements, {} checked by {} rules, {explained} explained ({unchecked} of them visible on the wire but not checked)",
            rows.len(),
            checked.len(),
            rules.len()
        )
    );
    for r in &rows {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("| {} ", r[0])))
            .unwrap_or_else(|| panic!("{} not printed", r[0]));
        let last = if r[3].is_empty() { &r[4] } else { &r[3] };
        assert!(line.contains(last.as_str()), "{}: {line}", r[0]);
    }
    // Piped, a statement is one line: no wrapping.
    assert_eq!(out.lines().filter(|l| l.starts_with("| C")).count(), rows.len());
}

#[test]
fn json_has_one_object_per_row() {
    let rows = tsv();
    let v: serde_json::Value = serde_json::from_str(&run(&["rules", "--coverage", "-T", "json"])).unwrap();
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), rows.len());
    for (o, r) in a.iter().zip(&rows) {
        let keys: BTreeSet<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["id", "reference", "statement", "rule", "reason"]));
        assert_eq!(o["id"], r[0].as_str());
        assert_eq!(o["reference"], r[1].as_str());
        assert_eq!(o["statement"], r[2].as_str());
        for (key, cell) in [("rule", &r[3]), ("reason", &r[4])] {
            if cell.is_empty() {
                assert!(o[key].is_null(), "{}: {key}", r[0]);
            } else {
                assert_eq!(o[key], cell.as_str());
            }
        }
    }
    let jsonl = run(&["rules", "--coverage", "-T", "jsonl"]);
    assert_eq!(jsonl.lines().count(), rows.len());
    for (line, o) in jsonl.lines().zip(a) {
        assert_eq!(&serde_json::from_str::<serde_json::Value>(line).unwrap(), o);
    }
}

/// The README's figures are the table's.
#[test]
fn the_readme_gives_the_tables_figures() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    // Paragraphs wrap: compare with single spaces.
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = coverage::Summary::of(table());
    assert!(readme.contains(&s.to_string()), "README's coverage figures are not the table's: {s}");
    assert!(readme.contains("ctiscope rules --coverage"));
}
