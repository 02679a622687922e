//! `ctiscope export`: the tables of the shipped captures and of scripted scenarios, read
//! back with DuckDB (tests/python/export_checks.py) and compared with ctiscope's own
//! `decode -T jsonl`, `stats -T json`, `check --all -T jsonl` and the scenarios' truth
//! files; the fleet queries (docs/fleet-queries.sql) on DuckDB and on Spark SQL, over a
//! dataset the Spark job (tools/spark_export.py) wrote, with the same answers.
//!
//! The Python with DuckDB (and PySpark) is `CTISCOPE_PYTHON` (`.ci/run` makes a venv), else
//! `python3` when it can import them.

mod common;

use common::{ctiscope, pcap_bytes, root, tool_available, Conv, C, S};
use ctiscope::capture::build::Link;
use ctiscope::cti::encode::MessageBuilder;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python that imports `modules`, if there is one.
fn python_with(modules: &str) -> Option<String> {
    let candidates: Vec<String> = std::env::var("CTISCOPE_PYTHON")
        .ok()
        .into_iter()
        .chain(std::iter::once("python3".to_string()))
        .collect();
    candidates.into_iter().find(|py| {
        Command::new(py).args(["-c", &format!("import {modules}")]).output().is_ok_and(|o| o.status.success())
    })
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ctiscope-export-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The shipped captures, sorted.
fn shipped() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".pcap"))
        .map(|n| format!("captures/{n}"))
        .collect();
    v.sort();
    v
}

/// Write a scenario's capture and truth into `dir`; their paths.
fn scenario(dir: &Path, name: &str) -> (String, String) {
    let cap = dir.join(format!("{name}.pcap")).to_string_lossy().into_owned();
    let truth = dir.join(format!("{name}.truth.jsonl")).to_string_lossy().into_owned();
    let (_, err, code) = ctiscope(&["synth", "--scenario", name, "-w", &cap, "--truth", &truth]);
    assert_eq!(code, 0, "synth --scenario {name}: {err}");
    (cap, truth)
}

/// ctiscope's own outputs for one capture, for the checks: decode -T jsonl, stats -T json,
/// check --all -T jsonl, written beside `dir`.
fn own_outputs(dir: &Path, i: usize, file: &str, truth: Option<&str>) -> serde_json::Value {
    let mut paths = serde_json::Map::new();
    paths.insert("file".into(), file.into());
    for (key, args) in [
        ("jsonl", vec!["decode", "-T", "jsonl", "-j", "1"]),
        ("stats", vec!["stats", "-T", "json", "-j", "1"]),
        ("check", vec!["check", "--all", "-T", "jsonl", "--fail-on", "note", "-j", "1"]),
    ] {
        let mut a = args.clone();
        a.push(file);
        let (out, err, code) = ctiscope(&a);
        assert!(code == 0 || code == 1 || code == 2, "{a:?}: {err}");
        let p = dir.join(format!("{i}.{key}"));
        std::fs::write(&p, out).unwrap();
        paths.insert(key.into(), p.to_string_lossy().into_owned().into());
    }
    paths.insert("truth".into(), truth.map_or(serde_json::Value::Null, |t| t.into()));
    serde_json::Value::Object(paths)
}

fn run_checks(py: &str, out: &Path, captures: Vec<serde_json::Value>, work: &Path) {
    let plan = serde_json::json!({ "dir": out.to_string_lossy(), "captures": captures });
    let plan_path = work.join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let o = Command::new(py)
        .arg(root().join("tests/python/export_checks.py"))
        .arg(&plan_path)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "the tables differ from ctiscope's outputs:\n{stdout}\n{stderr}");
    let n = captures_len(&stdout);
    assert!(n > 0, "{stdout}");
}

fn captures_len(stdout: &str) -> usize {
    stdout
        .lines()
        .last()
        .and_then(|l| l.strip_suffix(" captures checked"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_shipped_captures_read_back_with_duckdb_as_ctiscope_reports_them() {
    let Some(py) = python_with("duckdb") else {
        tool_available("duckdb (CTISCOPE_PYTHON)", false);
        return;
    };
    tool_available("duckdb", true);
    let work = scratch("shipped");
    let out = work.join("tables");
    let out_s = out.to_string_lossy().into_owned();
    let files = shipped();
    assert!(files.len() >= 10, "{files:?}");
    // A folder, as given on the command line.
    let (_, err, code) = ctiscope(&["export", "-o", &out_s, "-j", "2", "captures"]);
    // truncated.pcap is cut short: exported up to there, exit status 2.
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("captures/truncated.pcap") && err.contains("exported up to there"), "{err}");
    let mut plan = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let truth = f.replace(".pcapng", ".truth.jsonl").replace(".pcap", ".truth.jsonl");
        let truth = std::fs::read_to_string(root().join(&truth))
            .ok()
            .filter(|t| t.starts_with("{\"kind\":\"scenario\""))
            .map(|_| root().join(&truth).to_string_lossy().into_owned());
        plan.push(own_outputs(&work, i, f, truth.as_deref()));
    }
    run_checks(&py, &out, plan, &work);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn scenario_captures_read_back_with_duckdb_as_their_truth_says() {
    let Some(py) = python_with("duckdb") else {
        tool_available("duckdb (CTISCOPE_PYTHON)", false);
        return;
    };
    let work = scratch("scenarios");
    let out = work.join("tables");
    let mut plan = Vec::new();
    let mut caps = Vec::new();
    for (i, name) in ["failover", "server-close-pending", "late-confirm"].iter().enumerate() {
        let (cap, truth) = scenario(&work, name);
        plan.push(own_outputs(&work, i, &cap, Some(&truth)));
        caps.push(cap);
    }
    let mut args = vec!["export".to_string(), "-o".into(), out.to_string_lossy().into_owned()];
    args.extend(caps.iter().cloned());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, err, code) = ctiscope(&a);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "nothing on stderr when it is not a terminal: {err}");
    run_checks(&py, &out, plan, &work);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn the_calls_of_a_busy_capture_stream_out_merged_as_stats_merges_them() {
    let Some(py) = python_with("duckdb") else {
        tool_available("duckdb (CTISCOPE_PYTHON)", false);
        return;
    };
    let work = scratch("busy");
    let out = work.join("tables");
    let cap = work.join("busy.pcap").to_string_lossy().into_owned();
    // 204 desktops and monitors: about 3,600 call views (one per connection that reports a
    // call), so calls are handed out while the capture is read, not only at its end.
    let (_, err, code) = ctiscope(&["synth", "--seed", "5", "--size", "8M", "-w", &cap]);
    assert_eq!(code, 0, "{err}");
    let plan = vec![own_outputs(&work, 0, &cap, None)];
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("0.stats")).unwrap()).unwrap();
    let views: usize =
        stats["calls"].as_array().unwrap().iter().map(|c| c["connections"].as_array().unwrap().len()).sum();
    assert!(views > 3000, "{views} call views");
    let (_, err, code) = ctiscope(&["export", "-o", out.to_str().unwrap(), &cap]);
    assert_eq!(code, 0, "{err}");
    run_checks(&py, &out, plan, &work);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_capture_already_exported_is_skipped_unless_forced_and_an_unreadable_one_is_named() {
    let work = scratch("manifest");
    let out = work.join("tables");
    let out_s = out.to_string_lossy().into_owned();
    let bad = work.join("not-a-capture.pcap");
    std::fs::write(&bad, b"this is not a capture file at all").unwrap();
    let bad_s = bad.to_string_lossy().into_owned();
    let (_, err, code) = ctiscope(&["export", "-o", &out_s, "--progress", "captures/failover.pcap", &bad_s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&bad_s) && err.contains("not exported"), "{err}");
    assert!(err.contains("1 exported, 0 already exported, 1 failed"), "{err}");
    let entries: Vec<_> = std::fs::read_dir(out.join("_manifest")).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(entries[0].path()).unwrap()).unwrap();
    assert_eq!(manifest["file"], "captures/failover.pcap");
    assert_eq!(manifest["schema_version"], 1);
    assert_eq!(manifest["ctiscope_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["first_time"], "2026-01-05T09:00:01.000000000Z");
    let id = manifest["capture"].as_str().unwrap().to_string();
    let part = out.join("messages/day=2026-01-05").join(format!("capture={id}")).join("part-0.parquet");
    let written = std::fs::metadata(&part).unwrap().modified().unwrap();
    // Again, from stdin: the same bytes are the same capture, skipped.
    let o = Command::new(env!("CARGO_BIN_EXE_ctiscope"))
        .args(["export", "-o", &out_s, "--progress", "-"])
        .stdin(std::fs::File::open(root().join("captures/failover.pcap")).unwrap())
        .current_dir(root())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("0 exported, 1 already exported, 0 failed"), "{err}");
    assert_eq!(std::fs::metadata(&part).unwrap().modified().unwrap(), written);
    // Forced: written again, still one capture.
    let (_, err, code) =
        ctiscope(&["export", "-o", &out_s, "--force", "--progress", "captures/failover.pcap"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 exported, 0 already exported, 0 failed"), "{err}");
    assert_eq!(std::fs::read_dir(out.join("messages/day=2026-01-05")).unwrap().count(), 1);
    assert!(!out.join("_tmp").exists() || std::fs::read_dir(out.join("_tmp")).unwrap().count() == 0);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn the_display_filter_restricts_the_messages_table_only() {
    let Some(py) = python_with("duckdb") else {
        tool_available("duckdb (CTISCOPE_PYTHON)", false);
        return;
    };
    let work = scratch("filter");
    let out = work.join("tables");
    let out_s = out.to_string_lossy().into_owned();
    let filter = "type == AGENT_STATE_EVENT";
    let (_, err, code) = ctiscope(&["export", "-o", &out_s, "-Y", filter, "captures/contact-center.pcapng"]);
    assert_eq!(code, 0, "{err}");
    let (jsonl, _, _) = ctiscope(&["decode", "-T", "jsonl", "-Y", filter, "captures/contact-center.pcapng"]);
    let want = jsonl.lines().filter(|l| l.contains("\"event\":\"message\"")).count();
    assert!(want > 0);
    let sql = format!(
        "import duckdb; c = duckdb.connect(); p = '{out_s}/%s/*/*/*.parquet';\n\
         print(c.sql(f\"select count(*), count(distinct type) from read_parquet('{{p % 'messages'}}')\").fetchone());\n\
         print(c.sql(f\"select count(*) from read_parquet('{{p % 'requests'}}')\").fetchone())"
    );
    let o = Command::new(&py).args(["-c", &sql]).output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{s} {}", String::from_utf8_lossy(&o.stderr));
    let mut lines = s.lines();
    assert_eq!(lines.next(), Some(format!("({want}, 1)").as_str()));
    let requests: u64 =
        lines.next().unwrap().trim_matches(|c| c == '(' || c == ')' || c == ',').parse().unwrap();
    assert!(requests > 0, "the requests table follows every message");
    let (_, err, code) =
        ctiscope(&["export", "-o", &out_s, "-Y", "finding", "captures/contact-center.pcapng"]);
    assert_eq!(code, 2);
    assert!(err.contains("finding"), "{err}");
    let _ = std::fs::remove_dir_all(&work);
}

/// A desktop session in which what two fleet queries look for happens once each: a call
/// whose CALL_DATA_UPDATE_EVENT changes CallVariable5, and the agent turning NOT_READY
/// right after a FAILURE_EVENT, and staying so to the end of the capture.
fn fleet_story() -> Vec<u8> {
    let v = 24;
    let (cm, sm) = common::desktop_session(v);
    // 2026-01-05 10:00:00 UTC.
    let mut c = Conv::new(
        Link::Ethernet,
        "10.1.1.10:50001",
        "10.1.0.1:42027",
        [1000, 7000],
        1_767_607_200_000_000_000,
    );
    c.handshake();
    c.send(C, &cm[0], 1460);
    c.send(S, &sm[0], 1460);
    c.send(S, &sm[2], 1460);
    let call = |b: &mut MessageBuilder| {
        b.set("PeripheralID", 5000).unwrap().set("ConnectionCallID", 77).unwrap();
        b.set("ConnectionDeviceIDType", 0).unwrap().set("PeripheralType", 17).unwrap();
    };
    let mut begin = common::messages::base("BEGIN_CALL_EVENT", v);
    call(&mut begin);
    begin.text("ConnectionDeviceID", "3001").unwrap().text("CallVariable5", "before").unwrap();
    c.send(S, &begin.build(), 1460);
    let mut update = common::messages::base("CALL_DATA_UPDATE_EVENT", v);
    call(&mut update);
    update.set("NewConnectionCallID", 77).unwrap();
    update.text("ConnectionDeviceID", "3001").unwrap().text("NewConnectionDeviceID", "3001").unwrap();
    update.text("CallVariable5", "after").unwrap();
    c.send(S, &update.build(), 1460);
    c.send(S, &sm[4], 1460);
    let mut failure = MessageBuilder::named("FAILURE_EVENT", v);
    failure.set("Status", 13).unwrap();
    c.send(S, &failure.build(), 1460);
    let mut not_ready = common::messages::base("AGENT_STATE_EVENT", v);
    not_ready.set("PeripheralID", 5000).unwrap().set("AgentState", 2).unwrap();
    not_ready.text("AgentID", "1001").unwrap().text("AgentExtension", "3001").unwrap();
    c.send(S, &not_ready.build(), 1460);
    c.ack(C);
    pcap_bytes(1, &c.pkts)
}

#[test]
fn the_spark_job_exports_a_fleet_and_the_fleet_queries_agree_on_duckdb_and_spark() {
    let Some(py) = python_with("duckdb, pyspark") else {
        tool_available("duckdb and pyspark (CTISCOPE_PYTHON)", false);
        return;
    };
    let java = Command::new("java").arg("-version").output().is_ok_and(|o| o.status.success());
    if !tool_available("java (for Spark)", java) {
        return;
    }
    let work = scratch("spark");
    let out = work.join("tables");
    let synth = work.join("synth.pcap").to_string_lossy().into_owned();
    let (_, err, code) = ctiscope(&["synth", "--seed", "3", "--size", "2M", "-w", &synth]);
    assert_eq!(code, 0, "{err}");
    let story = work.join("story.pcap");
    std::fs::write(&story, fleet_story()).unwrap();
    let (out_s, err, _) = ctiscope(&["check", "--all", story.to_str().unwrap()]);
    assert!(!out_s.contains("anomal"), "the story decodes cleanly: {out_s} {err}");
    let mut captures = vec![synth, story.to_string_lossy().into_owned()];
    for c in ["captures/failover.pcap", "captures/contact-center.pcapng", "captures/faults-lost.pcap"] {
        captures.push(root().join(c).to_string_lossy().into_owned());
    }
    let spark_json = work.join("spark.json");
    let o = Command::new(&py)
        .arg(root().join("tools/spark_export.py"))
        .args(["--master", "local[2]", "--partitions", "2", "--ctiscope", env!("CARGO_BIN_EXE_ctiscope")])
        .arg("--output")
        .arg(&out)
        .arg("--results")
        .arg(&spark_json)
        .args(&captures)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "spark_export.py: {err}");
    assert!(err.contains("5 captures in 2 shares, 0 shares with failures"), "{err}");
    // Every capture is in the dataset once.
    assert_eq!(std::fs::read_dir(out.join("_manifest")).unwrap().count(), 5);
    let duck_json = work.join("duckdb.json");
    let o = Command::new(&py)
        .arg(root().join("tools/fleet_queries.py"))
        .arg("duckdb")
        .arg(&out)
        .arg("--results")
        .arg(&duck_json)
        .output()
        .unwrap();
    assert!(o.status.success(), "fleet_queries.py duckdb: {}", String::from_utf8_lossy(&o.stderr));
    let spark: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spark_json).unwrap()).unwrap();
    let duck: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&duck_json).unwrap()).unwrap();
    let queries = std::fs::read_to_string(root().join("docs/fleet-queries.sql")).unwrap();
    let names: Vec<&str> = queries.lines().filter_map(|l| l.strip_prefix("-- name: ")).collect();
    assert!(names.len() >= 8, "{names:?}");
    for name in &names {
        assert_eq!(spark[name], duck[name], "query {name}: Spark and DuckDB differ");
    }
    // The answers are about the five captures; the story's call and agent are found.
    let per_capture = duck["messages_per_capture_and_day"].as_array().unwrap();
    assert_eq!(per_capture.len(), 5, "{per_capture:?}");
    let changed = duck["calls_whose_call_data_update_changed_callvariable5"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0][2], 77, "{changed:?}");
    let stuck = duck["agents_not_ready_after_failure_event"].as_array().unwrap();
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    assert_eq!(stuck[0][1], "1001", "{stuck:?}");
    assert_eq!(stuck[0][4], false, "NOT_READY to the end of the capture: {stuck:?}");
    let p99 = duck["p99_set_agent_state_latency_per_pg_per_hour"].as_array().unwrap();
    assert!(!p99.is_empty(), "SET_AGENT_STATE_REQ latencies");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn docs_export_md_documents_every_table_and_column() {
    let doc = std::fs::read_to_string(root().join("docs/export.md")).unwrap();
    assert!(doc.contains(&format!("**Schema version {}**", ctiscope::export::schema::SCHEMA_VERSION)));
    for t in ctiscope::export::schema::TABLES {
        let at = doc.find(&format!("### `{}`", t.name)).unwrap_or_else(|| panic!("table {} in docs", t.name));
        let section = &doc[at..];
        let section = &section[..section[4..].find("\n### ").map_or(section.len(), |e| e + 4)];
        for c in t.columns {
            assert!(section.contains(&format!("| `{}` |", c.name)), "docs/export.md: {}.{}", t.name, c.name);
        }
    }
}
