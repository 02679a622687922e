//! `ctiscope report`: the HTML file holds everything it shows, escapes what the capture
//! says, and, opened in headless Chromium with the network cut off, draws every session,
//! agent, call and finding with their frame numbers, shows a message's `decode -V` tree
//! when its arrow is clicked, and gives screenshots that are not blank.
//!
//! The browser tests need Chromium (`/usr/bin/chromium`, or `CTISCOPE_CHROMIUM`) and a
//! Python with Playwright (`CTISCOPE_BROWSER_PYTHON`); `.ci/run` installs both.

mod common;

use common::{ctiscope, root, tool_available, Conv, C, S};
use ctiscope::capture::build::Link;
use ctiscope::cti::encode::MessageBuilder;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ctiscope-report-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Write the report of `args` (the capture among them) to `out`; returns stdout and
/// stderr.
fn report(args: &[&str], out: &Path) -> String {
    let mut a = vec!["report", "-o", out.to_str().unwrap()];
    a.extend_from_slice(args);
    let (stdout, err, code) = ctiscope(&a);
    assert_eq!(code, 0, "report {args:?}: {err}");
    format!("{stdout}{err}")
}

/// The data embedded in a report.
fn data(html: &str) -> Json {
    let open = "<script type=\"application/json\" id=\"ctiscope-data\">";
    let start = html.find(open).expect("data element") + open.len();
    let end = start + html[start..].find("</script>").expect("end of data");
    serde_json::from_str(&html[start..end]).expect("data is JSON")
}

fn json_of(args: &[&str]) -> Json {
    let (out, err, code) = ctiscope(args);
    assert!(code == 0 || code == 1, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

/// A desktop session whose identifiers and call data are markup.
fn hostile_capture(path: &Path) {
    let v = 24;
    let mut open = MessageBuilder::named("OPEN_REQ", v);
    open.set("InvokeID", 1).unwrap().set("VersionNumber", v as u64).unwrap();
    open.set("IdleTimeout", 120).unwrap().set("PeripheralID", 5000).unwrap();
    open.set("ServicesRequested", 0x7).unwrap().set("CallMsgMask", 0xffff).unwrap();
    open.set("AgentStateMask", 0x3ff).unwrap();
    open.text("ClientID", "</script><script>alert(1)</script>")
        .unwrap()
        .bytes("ClientPassword", b"")
        .unwrap();
    open.text("AgentExtension", "<i>3001</i>").unwrap().text("AgentID", "<script>").unwrap();
    let mut conf = MessageBuilder::named("OPEN_CONF", v);
    conf.set("InvokeID", 1).unwrap().set("ServicesGranted", 0x7).unwrap();
    conf.set("PeripheralOnline", 1).unwrap().set("PeripheralType", 17).unwrap().set("AgentState", 2).unwrap();
    conf.number("NumPeripherals", 0).unwrap();
    let mut st = MessageBuilder::named("AGENT_STATE_EVENT", v);
    st.set("PeripheralID", 5000).unwrap().set("AgentState", 3).unwrap().set("PeripheralType", 17).unwrap();
    st.text("AgentID", "<script>").unwrap().text("AgentExtension", "<i>3001</i>").unwrap();
    st.number("Direction", 0).unwrap().number("MaxBeyondTaskLimit", 0).unwrap();
    let mut begin = MessageBuilder::named("BEGIN_CALL_EVENT", v);
    begin.set("PeripheralID", 5000).unwrap().set("ConnectionCallID", 77).unwrap();
    begin.set("ConnectionDeviceIDType", 0).unwrap().set("CallType", 1).unwrap();
    begin.set("PeripheralType", 17).unwrap();
    begin
        .text("ConnectionDeviceID", "<i>3001</i>")
        .unwrap()
        .text("ANI", "<img src=x onerror=alert(2)>")
        .unwrap();
    begin.text("CallVariable1", "<svg onload=alert(3)>").unwrap();
    let mut end = MessageBuilder::named("END_CALL_EVENT", v);
    end.set("PeripheralID", 5000).unwrap().set("ConnectionCallID", 77).unwrap();
    end.set("ConnectionDeviceIDType", 0).unwrap().set("PeripheralType", 17).unwrap();
    end.text("ConnectionDeviceID", "<i>3001</i>").unwrap();
    let mut c = Conv::new(
        Link::Ethernet,
        "10.0.0.5:50000",
        "10.0.0.1:42027",
        [1000, 5000],
        1_767_600_000_000_000_000,
    );
    c.handshake();
    c.send(C, &open.build(), 1460);
    c.send(S, &conf.build(), 1460);
    c.send(S, &st.build(), 1460);
    c.send(S, &begin.build(), 1460);
    c.send(S, &end.build(), 1460);
    c.close();
    std::fs::write(path, common::pcap_bytes(Link::Ethernet.linktype(false), &c.pkts)).unwrap();
}

#[test]
fn the_report_is_one_file_that_names_nothing_elsewhere() {
    let dir = tmp("self");
    let out = dir.join("r.html");
    let err = report(&["captures/contact-center.pcapng"], &out);
    assert!(err.starts_with(&format!("{}: 0.", out.display())) && err.contains("MiB"), "{err}");
    assert!(err.contains("4 sessions, 2 agents, 5 calls, 0 findings; the ladder draws"), "{err}");
    let html = std::fs::read_to_string(&out).unwrap();
    let lower = html.to_ascii_lowercase();
    for bad in ["https://", "<link", " src=", "url(", "@import", "@font-face"] {
        assert!(!lower.contains(bad), "the report contains {bad:?}");
    }
    // The only address is the SVG namespace, which is a name and never fetched.
    assert_eq!(lower.matches("http://").count(), lower.matches("http://www.w3.org/2000/svg").count());
    assert!(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"));
    // `-o -` writes the same document to stdout.
    let (stdout, _, code) = ctiscope(&["report", "-o", "-", "captures/contact-center.pcapng"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, html);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_data_holds_every_session_agent_call_and_finding_of_the_analysis() {
    let dir = tmp("data");
    for cap in
        ["captures/contact-center.pcapng", "captures/faults-protocol.pcap", "captures/faults-lost.pcap"]
    {
        let out = dir.join("r.html");
        report(&[cap], &out);
        let d = data(&std::fs::read_to_string(&out).unwrap());
        let c = &d["captures"][0];
        let stats = json_of(&["stats", "-T", "json", cap]);
        let check = json_of(&["check", "-T", "json", cap]);
        let conns = |v: &Json, k: &str| -> Vec<u64> {
            v.as_array().unwrap().iter().map(|x| x[k].as_u64().unwrap()).collect()
        };
        assert_eq!(conns(&c["sessions"], "conn"), conns(&stats["connections"], "connection"), "{cap}");
        let agents = |v: &Json, k: &str| -> Vec<String> {
            v.as_array().unwrap().iter().map(|x| x[k].as_str().unwrap().to_string()).collect()
        };
        assert_eq!(agents(&c["agents"], "id"), agents(&stats["agents"], "agent"), "{cap}");
        assert_eq!(c["calls"].as_array().unwrap().len(), stats["calls"].as_array().unwrap().len(), "{cap}");
        let frames =
            |v: &Json| -> Vec<Json> { v.as_array().unwrap().iter().map(|f| f["frames"].clone()).collect() };
        assert_eq!(frames(&c["findings"]), frames(&check["findings"]), "{cap}");
        assert_eq!(c["headline"], check["headline"], "{cap}");
        // Every finding about a drawn message points at its row: the row holds one of its
        // frames, and of the messages a frame completed, the one of the type it names.
        let l = &c["ladder"];
        let type_at =
            |i: usize| l["types"][l["ty"][i].as_u64().unwrap() as usize].as_str().unwrap().to_string();
        for (f, named) in c["findings"].as_array().unwrap().iter().zip(check["findings"].as_array().unwrap())
        {
            let Some(row) = f["row"].as_u64().map(|r| r as usize) else { continue };
            let fr = &l["frame"][row];
            assert!(f["frames"].as_array().unwrap().contains(fr), "{cap}: {f}");
            let Some(want) = named["message_type"].as_str() else { continue };
            let same_frame = (0..l["frame"].as_array().unwrap().len())
                .filter(|&i| &l["frame"][i] == fr && l["conn"][i] == f["conn"] && l["kind"][i] == 0)
                .any(|i| type_at(i) == want);
            if same_frame {
                assert_eq!(type_at(row), want, "{cap}: {f}");
            }
        }
        // The ladder holds every message of the capture (under the cap), in capture order.
        let kinds = l["kind"].as_array().unwrap();
        let messages = kinds.iter().filter(|k| k.as_u64() == Some(0)).count() as u64;
        assert_eq!(messages, c["stats"]["messages"].as_u64().unwrap(), "{cap}");
        let fr: Vec<u64> = l["frame"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        assert!(fr.windows(2).all(|w| w[0] <= w[1]), "{cap}: frames out of order");
        // Each request drawn with its confirm: the pair points both ways, with one latency.
        let link = l["link"].as_array().unwrap();
        for (i, o) in link.iter().enumerate() {
            if let Some(o) = o.as_i64().filter(|&o| o >= 0) {
                assert_eq!(link[o as usize].as_i64(), Some(i as i64));
                assert_eq!(l["lat"][i], l["lat"][o as usize]);
            }
        }
        if cap.contains("lost") {
            assert!(kinds.iter().any(|k| k.as_u64() == Some(1)), "{cap}: no gap drawn");
            assert!(c["stats"]["gap_bytes"].as_u64().unwrap() > 0);
        }
        // Latency: the histogram counts every answered request.
        for l in c["latency"].as_array().unwrap() {
            let n: u64 = l["histogram"].as_array().unwrap().iter().map(|b| b[2].as_u64().unwrap()).sum();
            assert_eq!(n, l["count"].as_u64().unwrap(), "{cap}: {}", l["request"]);
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stats_json_gives_the_latency_histogram() {
    let stats = json_of(&["stats", "-T", "json", "captures/contact-center.pcapng"]);
    let lat = stats["latency"].as_array().unwrap();
    assert!(!lat.is_empty());
    for l in lat {
        let bins = l["histogram"].as_array().unwrap();
        let n: u64 = bins.iter().map(|b| b["count"].as_u64().unwrap()).sum();
        assert_eq!(n, l["count"].as_u64().unwrap(), "{l}");
        for b in bins {
            let (from, to) = (b["from_ns"].as_i64().unwrap(), b["to_ns"].as_i64().unwrap());
            assert!(from < to);
        }
        let max = l["max_ns"].as_i64().unwrap();
        let last = bins.last().unwrap();
        assert!(last["from_ns"].as_i64().unwrap() <= max && max < last["to_ns"].as_i64().unwrap(), "{l}");
    }
}

#[test]
fn selectors_choose_the_ladder_and_the_cap_says_what_it_left_out() {
    let dir = tmp("select");
    let out = dir.join("r.html");
    report(&["--session", "2", "captures/contact-center.pcapng"], &out);
    let d = data(&std::fs::read_to_string(&out).unwrap());
    let l = &d["captures"][0]["ladder"];
    assert_eq!(l["selection"], "session 2");
    let conns: BTreeSet<u64> = l["conn"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
    assert_eq!(conns, BTreeSet::from([2]));

    report(&["--call", "16795322", "captures/contact-center.pcapng"], &out);
    let d = data(&std::fs::read_to_string(&out).unwrap());
    let l = &d["captures"][0]["ladder"];
    let conns: BTreeSet<u64> = l["conn"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
    assert!(conns.len() >= 3, "the call is reported on a desktop, the bridge and the recorder: {conns:?}");
    for (k, label) in l["kind"].as_array().unwrap().iter().zip(l["label"].as_array().unwrap()) {
        if k.as_u64() == Some(0) {
            assert!(label.as_str().unwrap().contains("16795322"), "{label}");
        }
    }

    report(&["--agent", "1001", "captures/contact-center.pcapng"], &out);
    let d = data(&std::fs::read_to_string(&out).unwrap());
    let c = &d["captures"][0];
    assert_eq!(c["agents"].as_array().unwrap().len(), 1);
    assert_eq!(c["agents"][0]["id"], "1001");

    // -Y: the ladder draws the messages it selects (and their connections' lines).
    report(&["-Y", "type == HEARTBEAT_REQ", "captures/contact-center.pcapng"], &out);
    let d = data(&std::fs::read_to_string(&out).unwrap());
    let l = &d["captures"][0]["ladder"];
    let types: Vec<&str> = l["kind"]
        .as_array()
        .unwrap()
        .iter()
        .zip(l["ty"].as_array().unwrap())
        .filter(|(k, _)| k.as_u64() == Some(0))
        .map(|(_, t)| l["types"][t.as_u64().unwrap() as usize].as_str().unwrap())
        .collect();
    assert!(!types.is_empty() && types.iter().all(|t| *t == "HEARTBEAT_REQ"), "{types:?}");

    // Several captures: one report, a part each.
    report(&["captures/contact-center.pcapng", "captures/faults-lost.pcap"], &out);
    let d = data(&std::fs::read_to_string(&out).unwrap());
    let files: Vec<&str> =
        d["captures"].as_array().unwrap().iter().map(|c| c["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["captures/contact-center.pcapng", "captures/faults-lost.pcap"]);

    let err = report(&["--max-messages", "50", "captures/contact-center.pcapng"], &out);
    assert!(err.contains("leaves") && err.contains("--session"), "{err}");
    let d = data(&std::fs::read_to_string(&out).unwrap());
    let l = &d["captures"][0]["ladder"];
    assert_eq!(l["frame"].as_array().unwrap().len(), 50);
    let messages = d["captures"][0]["stats"]["messages"].as_u64().unwrap();
    let drawn = l["kind"].as_array().unwrap().iter().filter(|k| k.as_u64() == Some(0)).count() as u64;
    let left: u64 = l["left"].as_array().unwrap().iter().map(|p| p[1].as_u64().unwrap()).sum();
    assert_eq!(drawn + left, messages);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn markup_from_the_capture_stays_text() {
    let dir = tmp("markup");
    let cap = dir.join("hostile.pcap");
    hostile_capture(&cap);
    let out = dir.join("r.html");
    report(&[cap.to_str().unwrap()], &out);
    let html = std::fs::read_to_string(&out).unwrap();
    for raw in ["<script>alert", "<img src=x", "<svg onload", "<i>3001", "</script><script>"] {
        assert!(!html.contains(raw), "{raw} reached the page as markup");
    }
    let d = data(&html);
    let c = &d["captures"][0];
    assert_eq!(c["sessions"][0]["client_id"], "</script><script>alert(1)</script>");
    assert_eq!(c["agents"][0]["id"], "<script>");
    assert_eq!(c["calls"][0]["vars"]["CallVariable1"], "<svg onload=alert(3)>");
    if let Some(b) = browser() {
        let r = b.open(&out, &dir, None, false);
        assert!(r["dialogs"].as_array().unwrap().is_empty(), "a script from the capture ran: {r}");
        assert!(r["errors"].as_array().unwrap().is_empty(), "{r}");
        assert_eq!(r["scripts"], 2, "only the report's own script elements");
        assert_eq!(r["agents"], serde_json::json!(["<script>"]));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Python with Playwright, and Chromium.
struct Browser {
    python: String,
}

fn browser() -> Option<Browser> {
    let python = std::env::var("CTISCOPE_BROWSER_PYTHON").unwrap_or_default();
    let chromium = std::env::var("CTISCOPE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    let present = !python.is_empty()
        && Path::new(&chromium).exists()
        && Command::new(&python).args(["-c", "import playwright"]).status().is_ok_and(|s| s.success());
    tool_available("Chromium and Playwright for Python (CTISCOPE_BROWSER_PYTHON)", present)
        .then_some(Browser { python })
}

impl Browser {
    fn open(&self, html: &Path, shots: &Path, click: Option<u64>, scroll: bool) -> Json {
        let mut cmd = Command::new(&self.python);
        cmd.arg(root().join("tests/report_browser.py")).arg(html).arg(shots).arg("--call-view");
        if let Some(f) = click {
            cmd.args(["--click", &f.to_string()]);
        }
        if scroll {
            cmd.arg("--scroll");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "browser driver failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let r: Json = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            r["requests"].as_array().unwrap().is_empty(),
            "the page asked for something: {}",
            r["requests"]
        );
        assert!(r["errors"].as_array().unwrap().is_empty(), "script errors: {}", r["errors"]);
        assert_eq!(r["ready"], "1");
        r
    }
}

fn strings(v: &Json) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap_or_default().to_string()).collect()
}

/// Screenshots that are pictures: sized, and with more than a handful of colours (a blank
/// or single-colour area has one or two).
fn assert_pictures(r: &Json, names: &[&str]) {
    for name in names {
        let s = &r["screenshots"][name];
        assert!(s["width"].as_u64().unwrap() > 300 && s["height"].as_u64().unwrap() > 100, "{name}: {s}");
        assert!(s["colours"].as_u64().unwrap() >= 50, "{name} looks blank: {s}");
    }
}

#[test]
fn chromium_draws_every_session_agent_call_and_finding() {
    let Some(b) = browser() else { return };
    let dir = tmp("browser");
    for cap in ["captures/contact-center.pcapng", "captures/faults-protocol.pcap"] {
        let out = dir.join("r.html");
        report(&[cap], &out);
        let d = data(&std::fs::read_to_string(&out).unwrap());
        let c = &d["captures"][0];
        let click = c["ladder"]["frame"]
            .as_array()
            .unwrap()
            .iter()
            .zip(c["ladder"]["kind"].as_array().unwrap())
            .filter(|(_, k)| k.as_u64() == Some(0))
            .map(|(f, _)| f.as_u64().unwrap())
            .nth(40)
            .unwrap();
        let shots = dir.join(cap.replace(['/', '.'], "-"));
        let r = b.open(&out, &shots, Some(click), false);

        let stats = json_of(&["stats", "-T", "json", cap]);
        let check = json_of(&["check", "-T", "json", cap]);
        let want: Vec<String> =
            stats["connections"].as_array().unwrap().iter().map(|x| x["connection"].to_string()).collect();
        assert_eq!(strings(&r["sessions"]), want, "{cap}: sessions");
        let want: BTreeSet<String> = stats["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["agent"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(strings(&r["agents"]).into_iter().collect::<BTreeSet<_>>(), want, "{cap}: agents");
        // Every state change is drawn, in a bar of its own or gathered with its neighbours
        // when too short to see, and the bar carries its frame.
        let drawn: Vec<String> = strings(&r["state_bars"])
            .iter()
            .flat_map(|f| f.split(' ').map(str::to_string).collect::<Vec<_>>())
            .collect();
        let states: usize =
            c["agents"].as_array().unwrap().iter().map(|a| a["states"].as_array().unwrap().len()).sum();
        assert_eq!(drawn.len(), states, "{cap}");
        for a in c["agents"].as_array().unwrap() {
            for st in a["states"].as_array().unwrap() {
                assert!(drawn.contains(&st[1].to_string()), "{cap}: state at frame {}", st[1]);
            }
        }
        assert_eq!(
            r["calls"].as_array().unwrap().len(),
            stats["calls"].as_array().unwrap().len(),
            "{cap}: calls"
        );
        let want: Vec<String> = check["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f["frames"].as_array().unwrap().iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")
            })
            .collect();
        assert_eq!(strings(&r["findings"]), want, "{cap}: findings and their frames");
        let groups: Vec<String> = check["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["rule"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(strings(&r["groups"]), groups, "{cap}: grouped findings");
        let want: BTreeSet<String> = stats["latency"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["request"].as_str().unwrap().to_string())
            .collect();
        let got: BTreeSet<String> = strings(&r["latency"]).into_iter().collect();
        assert!(got.is_superset(&want), "{cap}: latency cards {got:?}");
        // The arrows on screen are messages and events with frame numbers.
        assert!(r["arrows"].as_array().unwrap().len() >= 10, "{cap}: {}", r["arrows"]);

        // The clicked arrow shows the message's `decode -V` tree.
        assert_eq!(r["detail_frame"], click.to_string());
        let tree = r["detail_tree"].as_str().unwrap();
        let (decoded, _, _) = ctiscope(&["decode", "-V", "-Y", &format!("frame == {click}"), cap]);
        assert!(tree.starts_with(&format!("Frame {click}")), "{tree}");
        assert!(
            decoded.contains(tree.trim_end()),
            "the tree shown is not decode -V's:\n{tree}\n---\n{decoded}"
        );
        assert!(strings(&r["selected"]).contains(&click.to_string()));
        // A click on the first call's name shows its messages on every session that
        // reported it, each naming the call.
        let call = c["calls"][0]["ids"][0].to_string();
        assert_eq!(r["call_view"].as_str().unwrap().split('/').next().unwrap(), format!("call:{call}"));
        let arrows = strings(&r["call_arrows"]);
        // (and the confirms of its requests, which name only their InvokeID), from its start.
        let names = |t: &String| t.contains(&format!("CallID={call}")) || t.contains("_CONF InvokeID=");
        assert!(arrows.len() >= 5 && arrows.iter().all(names), "{cap}: {arrows:?}");
        assert!(arrows[0].contains("BEGIN_CALL_EVENT"), "{cap}: {arrows:?}");
        let sessions = c["calls"][0]["conns"].as_array().unwrap().len();
        assert_eq!(
            r["call_lanes"].as_array().unwrap().len(),
            sessions + 1,
            "{cap}: a lane per session and the server"
        );
        assert_pictures(&r, &["ladder", "agents", "calls", "latency", "overview"]);
        assert!(r["pdf_bytes"].as_u64().unwrap() > 10_000, "print to PDF gave {}", r["pdf_bytes"]);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn chromium_opens_and_scrolls_a_large_report_quickly() {
    let Some(b) = browser() else { return };
    let dir = tmp("large");
    let cap = dir.join("large.pcap");
    let (_, err, code) =
        ctiscope(&["synth", "-w", cap.to_str().unwrap(), "--messages", "20000", "--faults", "lost=0.002"]);
    assert_eq!(code, 0, "{err}");
    let out = dir.join("r.html");
    report(&[cap.to_str().unwrap()], &out);
    let d = data(&std::fs::read_to_string(&out).unwrap());
    assert!(d["captures"][0]["ladder"]["frame"].as_array().unwrap().len() >= 20_000);
    assert!(!d["captures"][0]["findings"].as_array().unwrap().is_empty());
    let r = b.open(&out, &dir, None, true);
    assert!(r["open_seconds"].as_f64().unwrap() < 15.0, "opened in {} s", r["open_seconds"]);
    // A hundred scroll steps through the whole ladder, each drawn in its frame or two.
    assert!(r["scroll_step_median_ms"].as_f64().unwrap() < 200.0, "scrolling: {r}");
    assert!(r["scroll_seconds"].as_f64().unwrap() < 30.0, "100 scroll steps took {} s", r["scroll_seconds"]);
    // Only the window is drawn: a few dozen arrows, not twenty thousand.
    let arrows = r["arrows_after_scroll"].as_u64().unwrap();
    assert!((5..2_000).contains(&arrows), "{arrows} arrows in the DOM");
    assert!(!r["findings"].as_array().unwrap().is_empty());
    assert_pictures(&r, &["ladder", "agents", "calls", "latency"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_shipped_capture_gives_a_report() {
    let dir = tmp("all");
    let out = dir.join("r.html");
    let mut n = 0;
    for folder in ["captures", "tests/data"] {
        for e in std::fs::read_dir(root().join(folder)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".gz")) {
                continue;
            }
            let (_, err, code) = ctiscope(&["report", "-o", out.to_str().unwrap(), p.to_str().unwrap()]);
            // A damaged capture is reported as far as it could be read, with exit status 2.
            assert!(code == 0 || code == 2, "{name}: exit {code}: {err}");
            assert!(!err.contains("panicked"), "{name}: {err}");
            let d = data(&std::fs::read_to_string(&out).unwrap());
            assert_eq!(d["captures"].as_array().unwrap().len(), 1, "{name}");
            if code == 2 {
                assert!(
                    d["captures"][0]["cut_short"].is_string(),
                    "{name}: the report says the read stopped"
                );
            }
            n += 1;
        }
    }
    assert!(n >= 20, "{n} captures");
    std::fs::remove_dir_all(dir).unwrap();
}
