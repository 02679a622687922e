//! `live` and `-i IFACE`: capture on an interface, decode as packets arrive (`decode`), or
//! analyse when the capture stops (`check`, `timeline`, `stats`).

use crate::args::{
    AnalysisArgs, CheckArgs, Command, FailOn, LiveArgs, OutFormat, PipelineArgs, ProtocolArgs, SelectArgs,
    ShowArgs, ShowFormat, StatsArgs, TimelineArgs,
};
use crate::{Printer, EXIT_INPUT, EXIT_OK};
use ctiscope::analysis::{self, Analyzer, Report, Severity, TimelineFilter};
use ctiscope::capture::write::PcapNgWriter;
use ctiscope::live::{self, Capture, Limits, LiveEvent, RunError, StopReason, Summary};
use ctiscope::render::report;
use ctiscope::render::time;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::time::Duration;

/// Refuses `live` without `-i`, live-only options without `-i`, and files together with `-i`.
/// Returns the exit status when the command line is refused.
pub fn check_args(cmd: &Command) -> Option<u8> {
    let (live, files) = match cmd {
        Command::Decode(a) => (&a.live, Some(&a.files)),
        Command::Live(a) => (&a.live, None),
        Command::Check(a) => (&a.live, Some(&a.files)),
        Command::Timeline(a) => (&a.live, Some(&a.files)),
        Command::Stats(a) => (&a.live, Some(&a.files)),
        _ => return None,
    };
    if matches!(cmd, Command::Live(_)) && live.interface.is_none() {
        eprintln!("ctiscope: `live` needs an interface: `ctiscope live -i IFACE` (`lo`, `eth0`, `any`...)");
        return Some(EXIT_INPUT);
    }
    let stray = live.stray(matches!(cmd, Command::Decode(_)));
    if !stray.is_empty() {
        eprintln!("ctiscope: {} apply only to live capture: add `-i IFACE`", stray.join(", "));
        return Some(EXIT_INPUT);
    }
    if live.interface.is_some() && files.is_some_and(|f| !f.inputs().is_empty()) {
        eprintln!("ctiscope: give capture files or `-i IFACE`, not both");
        return Some(EXIT_INPUT);
    }
    None
}

/// The `-w` capture file.
type FileWriter = PcapNgWriter<BufWriter<File>>;

/// Opens the interface and the `-w` file, and says so on stderr.
fn open(p: &PipelineArgs, l: &LiveArgs) -> Result<(Capture, Option<FileWriter>), u8> {
    let opts = live::Options {
        interface: l.interface.clone().unwrap_or_default(),
        filter: l.filter.clone(),
        ports: if p.ports.is_empty() {
            ctiscope::pipeline::DEFAULT_SERVER_PORTS.to_vec()
        } else {
            p.ports.clone()
        },
        buffer_bytes: l.buffer_mib.max(1) << 20,
        ..live::Options::default()
    };
    let cap = match Capture::open(&opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ctiscope: {e}");
            return Err(EXIT_INPUT);
        }
    };
    let writer = match &l.write {
        None => None,
        Some(path) => {
            let made =
                File::create(path).and_then(|f| PcapNgWriter::new(BufWriter::with_capacity(1 << 20, f)));
            match made {
                Ok(w) => Some(w),
                Err(e) => {
                    eprintln!("ctiscope: cannot create {path}: {e}");
                    return Err(EXIT_INPUT);
                }
            }
        }
    };
    // From here on SIGINT and SIGTERM end the capture cleanly (see `live::run`).
    live::stop_on_signals();
    eprintln!("ctiscope: capturing on {} (filter: {})", cap.interface(), cap.filter_text());
    Ok((cap, writer))
}

fn limits(l: &LiveArgs) -> Limits {
    Limits {
        max_messages: l.count.filter(|&n| n > 0),
        duration: l.duration.map(|s| Duration::from_secs_f64(s.max(0.0))),
    }
}

/// Prints the closing line on stderr; returns the exit status for the run's result.
fn finish(res: Result<Summary, RunError>, write: Option<&str>) -> io::Result<u8> {
    let summary = match res {
        Ok(s) => s,
        Err(RunError::Output(e, _)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(EXIT_OK),
        Err(RunError::Output(e, _)) => return Err(e),
        Err(RunError::Live(e)) => {
            eprintln!("ctiscope: {e}");
            return Ok(EXIT_INPUT);
        }
        Err(RunError::Write(e)) => {
            eprintln!("ctiscope: writing {}: {e}", write.unwrap_or("the capture file"));
            return Ok(EXIT_INPUT);
        }
    };
    let why = match summary.stopped {
        StopReason::Requested => "stopped",
        StopReason::Count => "message count reached",
        StopReason::Duration => "duration reached",
        StopReason::Output => "output closed",
    };
    eprintln!(
        "ctiscope: {} packets captured, {} messages, {} packets dropped by the kernel ({why})",
        summary.packets, summary.messages, summary.kernel_drops
    );
    Ok(EXIT_OK)
}

/// Writes the kernel-drop report in the output format.
fn write_drops(
    w: &mut dyn Write,
    format: ShowFormat,
    summary: &mut ctiscope::render::summary::Summary,
    dropped: u64,
    frame: u64,
    ts_ns: i64,
) -> io::Result<()> {
    match format {
        ShowFormat::Fields => Ok(()),
        ShowFormat::Text => {
            summary.set_first_ts(ts_ns);
            let t = summary.time(ts_ns);
            summary.shown(ts_ns);
            writeln!(w, "{frame:>6} {t} [kernel drops] {dropped} packets dropped by the kernel")
        }
        ShowFormat::Json | ShowFormat::Jsonl => write!(
            w,
            "{{\"schema\":{},\"event\":\"kernel_drops\",\"frame\":{frame},\"time\":\"{}\",\"epoch_ns\":{ts_ns},\"dropped\":{dropped}}}",
            ctiscope::render::json::SCHEMA_VERSION,
            time::format_rfc3339(ts_ns)
        ),
    }
}

/// `live -i IFACE` and `decode -i IFACE`: one line (or tree, or JSON object) per message
/// as it completes; output is flushed after every batch the kernel hands over.
pub fn decode(
    show: &ShowArgs,
    select: &SelectArgs,
    protocol: &ProtocolArgs,
    pipeline: &PipelineArgs,
    l: &LiveArgs,
) -> io::Result<u8> {
    let filter = match crate::Filter::new(select) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ctiscope: {e}");
            return Ok(EXIT_INPUT);
        }
    };
    let (mut cap, mut writer) = match open(pipeline, l) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let stop = live::stop_on_signals();
    let settings = crate::settings(pipeline);
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut printer = Printer::new(show, filter);
    let mut buf = Vec::new();
    let forced = protocol.protocol_version;
    let res = live::run(&mut cap, &settings, forced, limits(l), stop, writer.as_mut(), &mut |ev| match ev {
        LiveEvent::Pipeline(ev, d) => {
            buf.clear();
            printer.event(&mut buf, ev, d)?;
            out.write_all(&buf)
        }
        LiveEvent::KernelDrops { dropped, frame, ts_ns } => {
            out.write_all(printer.next_sep())?;
            write_drops(&mut out, show.format, &mut printer.summary, dropped, frame, ts_ns)?;
            if show.format == ShowFormat::Jsonl {
                writeln!(out)?;
            }
            Ok(())
        }
        LiveEvent::BatchEnd => out.flush(),
    });
    let closed = matches!(res, Err(RunError::Output(..)));
    if !closed {
        printer.end(&mut out).and_then(|_| out.flush()).or_else(ignore_broken_pipe)?;
    }
    drop(out);
    let code = finish(res, l.write.as_deref())?;
    close_writer(writer, l.write.as_deref()).map(|c| c.max(code))
}

fn ignore_broken_pipe(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

/// Flushes and closes the `-w` file.
fn close_writer(w: Option<FileWriter>, path: Option<&str>) -> io::Result<u8> {
    let Some(w) = w else { return Ok(EXIT_OK) };
    let res = w.into_inner().into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all());
    match res {
        Ok(()) => Ok(EXIT_OK),
        Err(e) => {
            eprintln!("ctiscope: writing {}: {e}", path.unwrap_or("the capture file"));
            Ok(EXIT_INPUT)
        }
    }
}

use crate::analysis_cmd::analysis_settings;

/// Captures until stopped and analyses everything captured.
fn analyze(
    p: &PipelineArgs,
    l: &LiveArgs,
    a: &AnalysisArgs,
    settings: analysis::Settings,
) -> Result<Report, u8> {
    let display = crate::analysis_cmd::Selection::compile(a)?;
    let mut selection = display.map(crate::analysis_cmd::Selection::new);
    let (mut cap, mut writer) = open(p, l)?;
    let stop = live::stop_on_signals();
    let mut an = Analyzer::new(settings);
    let psettings = crate::settings(p);
    let forced = a.protocol.protocol_version;
    let res = live::run(&mut cap, &psettings, forced, limits(l), stop, writer.as_mut(), &mut |ev| {
        if let LiveEvent::Pipeline(ev, d) = ev {
            an.event(ev, d);
            if let Some(sel) = &mut selection {
                sel.event(ev, d);
            }
        }
        Ok(())
    });
    let code = finish(res, l.write.as_deref()).unwrap_or(EXIT_INPUT);
    let code = close_writer(writer, l.write.as_deref()).unwrap_or(EXIT_INPUT).max(code);
    if code != EXIT_OK {
        return Err(code);
    }
    let mut report = an.finish();
    if let Some(sel) = selection {
        sel.apply(l.interface.as_deref().unwrap_or("live"), &mut report, true);
    }
    Ok(report)
}

pub fn check(a: CheckArgs) -> io::Result<u8> {
    let report = match analyze(&a.pipeline, &a.live, &a.analysis, analysis_settings(&a.analysis)) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let threshold = match a.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
        FailOn::Note => Severity::Note,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    crate::analysis_cmd::write_check(&mut out, &report, a.format, a.all)?;
    out.flush()?;
    Ok(if report.count_at_least(threshold) > 0 { 1 } else { EXIT_OK })
}

pub fn timeline(a: TimelineArgs) -> io::Result<u8> {
    let mut settings = analysis_settings(&a.analysis);
    settings.timeline =
        Some(TimelineFilter { call: a.call, agent: a.agent.clone(), session: a.session, invoke: a.invoke });
    let report = match analyze(&a.pipeline, &a.live, &a.analysis, settings) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match a.format {
        OutFormat::Text => report::write_timeline_table(&mut out, &report)?,
        OutFormat::Json => report::write_timeline_json(&mut out, &report)?,
        OutFormat::Jsonl => report::write_timeline_jsonl(&mut out, &report)?,
    }
    out.flush()?;
    Ok(EXIT_OK)
}

pub fn stats(a: StatsArgs) -> io::Result<u8> {
    let report = match analyze(&a.pipeline, &a.live, &a.analysis, analysis_settings(&a.analysis)) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    crate::analysis_cmd::write_stats(&mut out, &report, a.format)?;
    out.flush()?;
    Ok(EXIT_OK)
}
