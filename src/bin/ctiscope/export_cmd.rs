//! `export`: captures as Parquet tables (the library's `export` module), several captures
//! at once, with progress on a terminal.

use crate::args::ExportArgs;
use crate::{EXIT_INPUT, EXIT_OK};
use ctiscope::export::{self, Done, ExportError, Options};
use ctiscope::pipeline::Settings;
use std::collections::VecDeque;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// File names read as captures in a folder.
const CAPTURE_SUFFIXES: [&str; 6] = [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz"];

/// `*` (any run of characters) and `?` (one) against a file name.
fn wildcard(pat: &[u8], name: &[u8]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&pat[1..], name) || (!name.is_empty() && wildcard(pat, &name[1..])),
        (Some(b'?'), Some(_)) => wildcard(&pat[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard(&pat[1..], &name[1..]),
        _ => false,
    }
}

fn is_capture(name: &str) -> bool {
    CAPTURE_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The captures of a folder, recursively, sorted.
fn walk(dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.file_name().and_then(|n| n.to_str()).is_some_and(is_capture) {
            out.push(p.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// The captures named by the command line: files as given, folders walked, glob patterns
/// (`*`, `?` in the file name) expanded. An argument that names nothing is kept, to be
/// reported as unreadable.
fn expand(inputs: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for a in inputs {
        let p = Path::new(a);
        if a == "-" || p.is_file() {
            out.push(a.clone());
        } else if p.is_dir() {
            let before = out.len();
            if let Err(e) = walk(p, &mut out) {
                eprintln!("ctiscope: {a}: {e}");
            }
            if out.len() == before {
                eprintln!("ctiscope: {a}: no capture in this folder ({})", CAPTURE_SUFFIXES.join(", "));
            }
        } else if a.contains(['*', '?']) {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let pat = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let mut hits: Vec<String> = std::fs::read_dir(dir)
                .map(|rd| {
                    rd.flatten()
                        .filter(|e| e.path().is_file())
                        .filter(|e| wildcard(pat.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
                        .map(|e| {
                            if p.parent().is_some_and(|d| !d.as_os_str().is_empty()) {
                                e.path().to_string_lossy().into_owned()
                            } else {
                                e.file_name().to_string_lossy().into_owned()
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            hits.sort();
            if hits.is_empty() {
                eprintln!("ctiscope: {a}: matches no file");
            }
            out.extend(hits);
        } else {
            out.push(a.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|x| seen.insert(x.clone()));
    out
}

/// How the run went, for the summary.
#[derive(Default)]
struct Tally {
    exported: u64,
    skipped: u64,
    failed: u64,
    cut_short: u64,
    messages: u64,
    bytes: u64,
}

/// Progress: a bar on a terminal, a line per capture with `--progress` elsewhere, else
/// nothing.
enum Progress {
    Bar(indicatif::ProgressBar, usize),
    Lines { total: usize, bytes: u64, start: Instant },
    Quiet,
}

impl Progress {
    fn new(terminal: bool, asked: bool, total: usize, bytes: u64) -> Self {
        if terminal {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(bytes),
                indicatif::ProgressDrawTarget::stderr(),
            );
            let style = indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("0/{total} captures"));
            Progress::Bar(bar, total)
        } else if asked {
            Progress::Lines { total, bytes, start: Instant::now() }
        } else {
            Progress::Quiet
        }
    }

    fn done(&self, name: &str, n: usize, size: u64, done_bytes: u64) {
        match self {
            Progress::Bar(b, total) => {
                b.inc(size);
                b.set_prefix(format!("{n}/{total} captures"));
            }
            Progress::Lines { total, bytes, start } => {
                let secs = start.elapsed().as_secs_f64().max(1e-9);
                let rate = done_bytes as f64 / secs;
                let left = if rate > 0.0 { bytes.saturating_sub(done_bytes) as f64 / rate } else { 0.0 };
                eprintln!(
                    "ctiscope: export: {n}/{total} captures ({name}), {:.1} of {:.1} MB, {:.1} MB/s, {left:.0} s left",
                    done_bytes as f64 / 1e6,
                    *bytes as f64 / 1e6,
                    rate / 1e6
                );
            }
            Progress::Quiet => {}
        }
    }

    fn finish(&self) {
        if let Progress::Bar(b, _) = self {
            b.finish_and_clear();
        }
    }
}

pub fn run(a: ExportArgs, pipeline: Settings) -> io::Result<u8> {
    let filter = match &a.display {
        None => None,
        Some(expr) => match ctiscope::filter::Filter::compile(expr) {
            Ok(f) if f.uses(ctiscope::filter::Pseudo::Finding) => {
                eprintln!("ctiscope: export -Y cannot read `finding`: the findings table has them");
                return Ok(EXIT_INPUT);
            }
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("ctiscope: bad display filter: {e}\n{}", e.pointer(expr));
                return Ok(EXIT_INPUT);
            }
        },
    };
    let out = PathBuf::from(&a.output);
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("ctiscope: {}: cannot create the output folder: {e}", out.display());
        return Ok(EXIT_INPUT);
    }
    let inputs = expand(&a.inputs);
    if inputs.iter().filter(|i| *i == "-").count() > 1 {
        eprintln!("ctiscope: stdin (-) can be read once");
        return Ok(EXIT_INPUT);
    }
    let opts = Options {
        out: out.clone(),
        force: a.force,
        pipeline,
        analysis: ctiscope::analysis::Settings {
            request_timeout_ns: (a.request_timeout.max(0.0) * 1e9) as i64,
            max_findings_per_rule: a.max_findings_per_rule,
            ..ctiscope::analysis::Settings::default()
        },
        forced_version: a.protocol.protocol_version,
        filter,
    };
    let sizes: Vec<u64> = inputs
        .iter()
        .map(|i| std::fs::metadata(i).map_or(0, |m| if m.is_file() { m.len() } else { 0 }))
        .collect();
    let total_bytes: u64 = sizes.iter().sum();
    let terminal = io::stderr().is_terminal();
    let progress = Progress::new(terminal, a.progress, inputs.len(), total_bytes);
    let jobs = match a.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(inputs.len().max(1));
    let queue: Mutex<VecDeque<(String, u64)>> =
        Mutex::new(inputs.iter().cloned().zip(sizes.iter().copied()).collect());
    let tally = Mutex::new((Tally::default(), 0usize, 0u64));
    let start = Instant::now();
    let fatal: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                if fatal.lock().map_or(true, |f| f.is_some()) {
                    return;
                }
                let Some((name, size)) = queue.lock().ok().and_then(|mut q| q.pop_front()) else { return };
                let res = export::export(&name, &opts);
                let Ok(mut t) = tally.lock() else { return };
                let (tl, n, done_bytes) = &mut *t;
                *n += 1;
                *done_bytes += size;
                match res {
                    Ok(Done::Exported(m)) => {
                        tl.exported += 1;
                        tl.bytes += m.size;
                        tl.messages += m.rows.first().map_or(0, |r| r.1);
                        if let Some(why) = &m.cut_short {
                            tl.cut_short += 1;
                            progress_println(&progress, &format!("ctiscope: {why} (exported up to there)"));
                        }
                    }
                    Ok(Done::Skipped(_)) => tl.skipped += 1,
                    Err(ExportError::Unreadable(why)) => {
                        tl.failed += 1;
                        progress_println(&progress, &format!("ctiscope: {why} (not exported)"));
                    }
                    Err(ExportError::Write(why)) => {
                        tl.failed += 1;
                        if let Ok(mut f) = fatal.lock() {
                            f.get_or_insert(why);
                        }
                    }
                }
                progress.done(&name, *n, size, *done_bytes);
            });
        }
    });
    progress.finish();
    if let Some(why) = fatal.into_inner().ok().flatten() {
        eprintln!("ctiscope: error: cannot write the tables: {why}");
        return Ok(EXIT_INPUT);
    }
    let (t, _, _) = tally.into_inner().unwrap_or_default();
    if terminal || a.progress {
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "ctiscope: export: {} exported, {} already exported, {} failed; {} messages, {:.1} MB in {:.2} s ({:.0} MB/s) -> {}",
            t.exported,
            t.skipped,
            t.failed,
            t.messages,
            t.bytes as f64 / 1e6,
            secs,
            t.bytes as f64 / 1e6 / secs.max(1e-9),
            out.display()
        );
    }
    Ok(if t.failed > 0 || t.cut_short > 0 { EXIT_INPUT } else { EXIT_OK })
}

/// A line on stderr that does not tear the progress bar.
fn progress_println(p: &Progress, line: &str) {
    match p {
        Progress::Bar(b, _) => b.suspend(|| eprintln!("{line}")),
        _ => eprintln!("{line}"),
    }
}
