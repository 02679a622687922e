//! `check`, `timeline`, `stats` and `rules`: the analysis commands.

use crate::args::{
    AnalysisArgs, CheckArgs, CheckFormat, FailOn, FileArgs, OutFormat, PipelineArgs, RulesArgs, StatsArgs,
    TimelineArgs,
};
use crate::{EXIT_INPUT, EXIT_OK};
use ctiscope::analysis::{self, Analyzer, Report, Severity, TimelineFilter};
use ctiscope::cti::decode::Decoded;
use ctiscope::pipeline::Event;
use ctiscope::render::report;
use std::io::{self, Write};

/// Exit status of `check` when a finding at or above `--fail-on` was found.
const EXIT_FINDINGS: u8 = 1;

pub(crate) fn analysis_settings(a: &AnalysisArgs) -> analysis::Settings {
    analysis::Settings {
        request_timeout_ns: (a.request_timeout.max(0.0) * 1e9) as i64,
        max_findings_per_rule: a.max_findings_per_rule,
        max_analysis_memory: a.max_analysis_memory,
        ..analysis::Settings::default()
    }
}

/// Analyse each input; `each` gets the input name and its report. Returns whether every
/// input was read completely.
fn analyze_inputs(
    files: &FileArgs,
    pipeline: &PipelineArgs,
    a: &AnalysisArgs,
    count: Option<u64>,
    settings: analysis::Settings,
    each: &mut dyn FnMut(&str, &Report) -> io::Result<()>,
) -> io::Result<u8> {
    let inputs = files.inputs();
    if inputs.is_empty() {
        eprintln!("ctiscope: no capture given (a FILE, `-r FILE`, or `-` for stdin)");
        return Ok(EXIT_INPUT);
    }
    if !crate::inputs_readable(&inputs) {
        return Ok(EXIT_INPUT);
    }
    let psettings = crate::settings(pipeline);
    let display = match Selection::compile(a) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let mut status = EXIT_OK;
    for name in &inputs {
        let mut an = Analyzer::new(settings.clone());
        let forced = a.protocol.protocol_version;
        let jobs = match a.jobs {
            // `-c` stops the read from the analysing thread: one thread.
            _ if count.is_some() => 1,
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        // One core: decoding in line is cheaper than handing messages between threads.
        let mut seen = 0u64;
        let mut selection = display.clone().map(Selection::new);
        let mut sink = |ev: &Event<'_>, d: Option<&Decoded>| {
            an.event(ev, d);
            if let Some(sel) = &mut selection {
                sel.event(ev, d);
            }
            if let (Event::Message { .. }, Some(n)) = (ev, count) {
                seen += 1;
                if seen >= n {
                    ctiscope::capture::stop_reading();
                }
            }
        };
        let res = if jobs > 1 && name != "-" {
            ctiscope::parallel::run_path(name, &psettings, forced, jobs, a.batch_items, &mut sink)
        } else {
            ctiscope::stage::run_path(name, &psettings, forced, &mut sink)
        };
        let mut report = an.finish();
        if let Some(sel) = selection {
            sel.apply(name, &mut report, res.is_ok());
        }
        match &res {
            Ok(stats) => no_cti_note(name, stats, &report),
            Err(e) => report.cut_short = Some(e.to_string()),
        }
        if let Some(filter) = settings.timeline.as_ref().filter(|f| **f != TimelineFilter::default()) {
            if report.timeline.is_empty() && res.is_ok() {
                eprintln!("ctiscope: {name}: the selection ({}) matches nothing", describe_filter(filter));
            }
        }
        each(name, &report)?;
        if let Err(e) = res {
            // The error names the input.
            eprintln!("ctiscope: error: {e}");
            status = EXIT_INPUT;
        }
    }
    Ok(status)
}

/// A capture in which no connection carried CTI is said so on stderr, with the TCP ports it
/// holds (`--port` selects other server ports).
pub(crate) fn no_cti_note(name: &str, stats: &ctiscope::pipeline::Stats, r: &Report) {
    if r.connections.iter().any(|c| c.cti) || !r.messages.is_empty() {
        return;
    }
    if !r.connections.is_empty() {
        eprintln!(
            "ctiscope: {name}: no CTI exchanged in {} packets: {} connection attempts to a CTI port carried no data ({} refused by the server)",
            stats.packets,
            r.connections.len(),
            r.refused
        );
        return;
    }
    crate::no_cti_note(name, stats);
}

/// The timeline selection in words: `agent 1001, call 7`.
fn describe_filter(f: &TimelineFilter) -> String {
    let mut parts = Vec::new();
    if let Some(a) = &f.agent {
        parts.push(format!("agent {a}"));
    }
    if let Some(c) = f.call {
        parts.push(format!("call {c}"));
    }
    if let Some(s) = f.session {
        parts.push(format!("session {s}"));
    }
    if let Some(i) = f.invoke {
        parts.push(format!("InvokeID {i}"));
    }
    parts.join(", ")
}

fn header(w: &mut dyn Write, many: bool, name: &str) -> io::Result<()> {
    if many {
        writeln!(w, "# {name}")?;
    }
    Ok(())
}

pub fn check(a: CheckArgs) -> io::Result<u8> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let threshold = match a.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
        FailOn::Note => Severity::Note,
    };
    let many = a.files.inputs().len() > 1;
    let mut failing = false;
    // Findings only: no call summaries.
    let settings = analysis::Settings { call_summaries: false, ..analysis_settings(&a.analysis) };
    let status =
        analyze_inputs(&a.files, &a.pipeline, &a.analysis, a.live.count, settings, &mut |name, r| {
            failing |= r.count_at_least(threshold) > 0;
            if a.format == CheckFormat::Text {
                header(&mut out, many, name)?;
            }
            write_check(&mut out, r, a.format, a.all)
        })?;
    out.flush()?;
    Ok(if status != EXIT_OK {
        status
    } else if failing {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

pub fn timeline(a: TimelineArgs) -> io::Result<u8> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut settings = analysis_settings(&a.analysis);
    settings.timeline =
        Some(TimelineFilter { call: a.call, agent: a.agent.clone(), session: a.session, invoke: a.invoke });
    let many = a.files.inputs().len() > 1;
    let status =
        analyze_inputs(&a.files, &a.pipeline, &a.analysis, a.live.count, settings, &mut |name, r| match a
            .format
        {
            OutFormat::Text => {
                header(&mut out, many, name)?;
                report::write_timeline_table(&mut out, r)
            }
            OutFormat::Json => report::write_timeline_json(&mut out, r),
            OutFormat::Jsonl => report::write_timeline_jsonl(&mut out, r),
        })?;
    out.flush()?;
    Ok(status)
}

pub fn stats(a: StatsArgs) -> io::Result<u8> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let many = a.files.inputs().len() > 1;
    let status = analyze_inputs(
        &a.files,
        &a.pipeline,
        &a.analysis,
        a.live.count,
        analysis_settings(&a.analysis),
        &mut |name, r| {
            if a.format == OutFormat::Text {
                header(&mut out, many, name)?;
            }
            match &a.agent {
                Some(agent) => {
                    let mut r = r.clone();
                    r.select_agent(agent);
                    if r.connections.is_empty() && r.agents.is_empty() {
                        eprintln!("ctiscope: {name}: no session or state of agent {agent}");
                    }
                    write_stats(&mut out, &r, a.format)?;
                    if a.format == OutFormat::Text && !r.findings.is_empty() {
                        writeln!(out, "\nFindings about agent {agent}")?;
                        report::write_check(&mut out, &r, report::Listing::All)?;
                    }
                    Ok(())
                }
                None => write_stats(&mut out, r, a.format),
            }
        },
    )?;
    out.flush()?;
    Ok(status)
}

/// `check`'s report in the format asked for.
pub(crate) fn write_check(w: &mut dyn Write, r: &Report, format: CheckFormat, all: bool) -> io::Result<()> {
    match format {
        CheckFormat::Text => {
            let listing = if all { report::Listing::All } else { report::Listing::Grouped };
            report::write_check(w, r, listing)
        }
        CheckFormat::Json => writeln!(w, "{}", report::check_json(r)),
        CheckFormat::Jsonl => report::write_findings_jsonl(w, r),
    }
}

/// `stats` in the format asked for.
pub(crate) fn write_stats(w: &mut dyn Write, r: &Report, format: OutFormat) -> io::Result<()> {
    match format {
        OutFormat::Text => report::write_stats(w, r),
        OutFormat::Json => report::write_stats_json(w, r),
        OutFormat::Jsonl => report::write_stats_jsonl(w, r),
    }
}

pub fn rules(a: RulesArgs) -> io::Result<u8> {
    if a.coverage {
        return coverage(a.format);
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match a.format {
        OutFormat::Text => report::write_rules(&mut out)?,
        OutFormat::Json => writeln!(out, "{}", report::rules_json())?,
        OutFormat::Jsonl => {
            for r in report::rules_json().as_array().into_iter().flatten() {
                writeln!(out, "{r}")?;
            }
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// `rules --coverage`: the guide's statements with the rule that checks each or the reason
/// none can.
fn coverage(format: OutFormat) -> io::Result<u8> {
    let rows =
        analysis::coverage::coverage().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.clone()))?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match format {
        OutFormat::Text => report::write_coverage(&mut out, rows)?,
        OutFormat::Json => writeln!(out, "{}", report::coverage_json(rows))?,
        OutFormat::Jsonl => {
            for r in report::coverage_json(rows).as_array().into_iter().flatten() {
                writeln!(out, "{r}")?;
            }
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// The rules of the findings that point at each frame of a capture (for a display filter
/// on `finding`): an analysis pass like `check`'s, read before the decode. A read error
/// leaves what was found before it.
pub(crate) fn findings_by_frame(
    input: &str,
    settings: &ctiscope::pipeline::Settings,
    forced: Option<u32>,
) -> std::collections::HashMap<u64, Vec<&'static str>> {
    let mut an = Analyzer::new(analysis::Settings { call_summaries: false, ..analysis::Settings::default() });
    let _ = ctiscope::stage::run_path(input, settings, forced, &mut |ev, d| an.event(ev, d));
    let mut map: std::collections::HashMap<u64, Vec<&'static str>> = std::collections::HashMap::new();
    for f in an.finish().findings {
        for fr in f.frames {
            let rules = map.entry(fr).or_default();
            if !rules.contains(&f.rule) {
                rules.push(f.rule);
            }
        }
    }
    map
}

/// `-Y` on `check`, `timeline` and `stats`: the analysis follows every message, and the
/// report is narrowed to the messages the filter selects ([`Report::select_frames`]).
pub(crate) struct Selection {
    filter: ctiscope::filter::Filter,
    frames: analysis::FrameSet,
    counts: std::collections::BTreeMap<(u32, &'static str, &'static str), u64>,
    first_ts: Option<i64>,
}

impl Selection {
    /// The compiled `-Y` (`Err`: the exit status, the error said on stderr).
    pub(crate) fn compile(a: &AnalysisArgs) -> Result<Option<ctiscope::filter::Filter>, u8> {
        let Some(expr) = &a.display else { return Ok(None) };
        match ctiscope::filter::Filter::compile(expr) {
            Ok(f) if f.uses(ctiscope::filter::Pseudo::Finding) => {
                eprintln!("ctiscope: `finding` in -Y selects by the analysis's own result: use it with `decode -Y`, or `check -T jsonl | jq`");
                Err(EXIT_INPUT)
            }
            Ok(f) => Ok(Some(f)),
            Err(e) => {
                eprintln!("ctiscope: bad display filter: {e}\n{}", crate::indent(&e.pointer(expr)));
                Err(EXIT_INPUT)
            }
        }
    }

    pub(crate) fn new(filter: ctiscope::filter::Filter) -> Self {
        Selection { filter, frames: Default::default(), counts: Default::default(), first_ts: None }
    }

    /// One event, in capture order.
    pub(crate) fn event(&mut self, ev: &Event<'_>, d: Option<&Decoded>) {
        let first = *self.first_ts.get_or_insert_with(|| ctiscope::render::summary::event_ts(ev));
        let (Event::Message { flow, frame }, Some(d)) = (ev, d) else { return };
        let r = ctiscope::filter::Record::message(flow, frame, d, first, &[]);
        if self.filter.matches(&r) {
            self.frames.insert(frame.last_frame, flow.conn);
            let name = d.type_name().unwrap_or("UNKNOWN");
            *self.counts.entry((frame.msg_type, name, flow.dir.as_str())).or_insert(0) += 1;
        }
    }

    /// Narrow the report; say so when nothing was selected.
    pub(crate) fn apply(self, name: &str, report: &mut Report, complete: bool) {
        let messages =
            self.counts.into_iter().map(|((ty, n, dir), c)| ((format!("{n} ({ty})"), dir), c)).collect();
        report.select_frames(&self.frames, messages);
        if report.messages.is_empty() && complete {
            eprintln!("ctiscope: {name}: the display filter selects no message");
        }
    }
}
