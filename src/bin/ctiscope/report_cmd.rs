//! `report`: one self-contained HTML file that draws each capture (src/render/html.rs).

use crate::analysis_cmd::{analysis_settings, no_cti_note, Selection};
use crate::args::{ReportArgs, SelectArgs};
use crate::{Filter, EXIT_INPUT, EXIT_OK};
use ctiscope::analysis::Analyzer;
use ctiscope::cti::decode::Decoded;
use ctiscope::pipeline::Event;
use ctiscope::render::html::{self, Capture, Ladder};
use std::io::{self, Write};

pub fn run(a: ReportArgs) -> io::Result<u8> {
    let inputs = a.files.inputs();
    if inputs.is_empty() {
        eprintln!("ctiscope: no capture given (a FILE, `-r FILE`, or `-` for stdin)");
        return Ok(EXIT_INPUT);
    }
    if !crate::inputs_readable(&inputs) {
        return Ok(EXIT_INPUT);
    }
    let display = match Selection::compile(&a.analysis) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let select = SelectArgs {
        call: a.call,
        agent: a.agent.clone(),
        types: Vec::new(),
        session: a.session,
        display: a.analysis.display.clone(),
    };
    let selection = describe(&select);
    let psettings = crate::settings(&a.pipeline);
    let settings = analysis_settings(&a.analysis);
    let mut captures = Vec::new();
    let mut summaries = Vec::new();
    let mut status = EXIT_OK;
    for name in &inputs {
        let mut filter = match Filter::new(&select) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("ctiscope: {e}");
                return Ok(EXIT_INPUT);
            }
        };
        // A message selector (not only --session): a connection's gaps and resyncs are drawn
        // once one of its messages is.
        let by_message = a.call.is_some() || a.agent.is_some() || a.analysis.display.is_some();
        let mut an = Analyzer::new(settings.clone());
        let mut ladder = Ladder::new(a.max_messages);
        let mut sel = display.clone().map(Selection::new);
        let mut first_ts: Option<i64> = None;
        let jobs = match a.analysis.jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut sink = |ev: &Event<'_>, d: Option<&Decoded>| {
            an.event(ev, d);
            if let Some(s) = &mut sel {
                s.event(ev, d);
            }
            let first = *first_ts.get_or_insert_with(|| ctiscope::render::summary::event_ts(ev));
            let selected = match (ev, d) {
                (Event::Message { flow, frame }, Some(d)) => {
                    !filter.is_active() || filter.message(flow, frame, d, first)
                }
                (Event::Message { .. }, None) => false,
                _ => {
                    let conn = ev.conn();
                    filter.event(conn) && (!by_message || conn.is_some_and(|c| ladder.draws(c)))
                }
            };
            ladder.event(ev, d, selected);
        };
        let forced = a.analysis.protocol.protocol_version;
        let res = if jobs > 1 && name != "-" {
            ctiscope::parallel::run_path(name, &psettings, forced, jobs, a.analysis.batch_items, &mut sink)
        } else {
            ctiscope::stage::run_path(name, &psettings, forced, &mut sink)
        };
        let mut report = an.finish();
        if let Some(s) = sel {
            s.apply(name, &mut report, res.is_ok());
        }
        if let Some(agent) = &a.agent {
            report.select_agent(agent);
            if report.connections.is_empty() && report.agents.is_empty() {
                eprintln!("ctiscope: {name}: no session or state of agent {agent}");
            }
        }
        let stats = match res {
            Ok(stats) => {
                no_cti_note(name, &stats, &report);
                Some(stats)
            }
            Err(e) => {
                report.cut_short = Some(e.to_string());
                eprintln!("ctiscope: error: {e}");
                status = EXIT_INPUT;
                None
            }
        };
        if ladder.is_empty() && (a.session.is_some() || a.call.is_some() || a.agent.is_some()) {
            eprintln!("ctiscope: {name}: the selection ({selection}) matches no message");
        }
        if ladder.left_out() > 0 {
            eprintln!(
                "ctiscope: {name}: the ladder draws the first {} events of {selection} and leaves {} out (--max-messages {}); select with --session, --agent or --call",
                ladder.len(),
                ladder.left_out(),
                a.max_messages
            );
        }
        let r = &report;
        summaries.push(format!(
            "{name}: {} sessions, {} agents, {} calls, {} findings; the ladder draws {} events of {selection}{}",
            r.connections.iter().filter(|c| c.cti).count(),
            r.agents.len(),
            r.calls.len(),
            r.groups.iter().map(|g| g.count).sum::<u64>(),
            ladder.len(),
            if ladder.left_out() > 0 { format!(" ({} left out)", ladder.left_out()) } else { String::new() }
        ));
        captures.push(Capture { name: name.clone(), report, stats, ladder, selection: selection.clone() });
    }
    let title = format!("ctiscope report: {}", inputs.join(", "));
    let written = if a.output == "-" {
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        html::write_report(&mut out, captures, &title)?;
        out.flush()?;
        None
    } else {
        let mut out = io::BufWriter::new(
            std::fs::File::create(&a.output)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", a.output)))?,
        );
        html::write_report(&mut out, captures, &title)?;
        out.flush()?;
        Some(std::fs::metadata(&a.output)?.len())
    };
    // Written to a file: what it holds, on stdout.
    if let Some(n) = written {
        println!("{}: {:.1} MiB", a.output, n as f64 / 1_048_576.0);
        for s in summaries {
            println!("  {s}");
        }
    }
    Ok(status)
}

/// What the ladders draw, in words.
fn describe(s: &SelectArgs) -> String {
    let mut parts = Vec::new();
    if let Some(c) = s.session {
        parts.push(format!("session {c}"));
    }
    if let Some(a) = &s.agent {
        parts.push(format!("agent {a}"));
    }
    if let Some(c) = s.call {
        parts.push(format!("call {c}"));
    }
    if let Some(y) = &s.display {
        parts.push(format!("the messages -Y {y:?} selects"));
    }
    if parts.is_empty() {
        "every message".to_string()
    } else {
        parts.join(", ")
    }
}
