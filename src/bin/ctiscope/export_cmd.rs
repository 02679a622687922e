//! `export`: captures as Parquet tables (the library's `export` module), several captures
//! at once, with progress on a terminal.

use crate::args::{ExportArgs, ExportCompression};
use crate::{EXIT_INPUT, EXIT_OK};
use ctiscope::export::table::Codec;
use ctiscope::export::{self, Done, ExportError, Options};
use ctiscope::pipeline::Settings;
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// File names read as captures in a folder.
const CAPTURE_SUFFIXES: [&str; 6] = [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz"];

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

/// A glob pattern rather than a path: `*`, `?` or `[`.
fn is_pattern(a: &str) -> bool {
    a.contains(['*', '?', '['])
}

/// The captures named by the command line, and how many arguments named none (each
/// reported): files as given, folders walked, glob patterns expanded (`*`, `?`, `[...]` in
/// any part of the path, `**` for any depth of folders; a folder a pattern matches is
/// walked). Each argument's captures are sorted; a capture named twice is read once. An
/// argument that is neither a file, a folder nor a pattern is kept, to be reported as
/// unreadable.
fn expand(inputs: &[String]) -> (Vec<String>, u64) {
    let mut out = Vec::new();
    let mut unmatched = 0u64;
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
        } else if is_pattern(a) {
            let opts = glob::MatchOptions {
                case_sensitive: true,
                // As a shell: `*` stays within one folder name and skips hidden names.
                require_literal_separator: true,
                require_literal_leading_dot: true,
            };
            let paths = match glob::glob_with(a, opts) {
                Ok(paths) => paths,
                Err(e) => {
                    eprintln!("ctiscope: {a}: bad pattern: {e}");
                    unmatched += 1;
                    continue;
                }
            };
            let mut hits = Vec::new();
            for m in paths {
                match m {
                    Ok(m) if m.is_dir() => {
                        if let Err(e) = walk(&m, &mut hits) {
                            eprintln!("ctiscope: {}: {e}", m.display());
                        }
                    }
                    Ok(m) => hits.push(m.to_string_lossy().into_owned()),
                    // A folder the pattern goes through that cannot be read.
                    Err(e) => eprintln!("ctiscope: {a}: {e}"),
                }
            }
            hits.sort();
            if hits.is_empty() {
                eprintln!("ctiscope: {a}: matches no capture");
                unmatched += 1;
            }
            out.extend(hits);
        } else {
            out.push(a.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|x| seen.insert(x.clone()));
    (out, unmatched)
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

/// How progress is shown: a bar on a terminal, lines with `--progress` elsewhere, else
/// nothing.
enum View {
    Bar(indicatif::ProgressBar),
    Lines,
    Quiet,
}

/// Progress of the whole run, fed by the capture readers of every job
/// ([`ctiscope::capture::set_progress_hook`]: the reader's position in the file, every 256
/// KiB) and by each capture's end.
struct Progress {
    view: View,
    captures: usize,
    /// Bytes of all the captures.
    total: u64,
    /// Bytes read so far.
    read: AtomicU64,
    done: AtomicUsize,
    /// Lines: the bytes read at which the next line is due, and the bytes between lines.
    next_line: AtomicU64,
    step: u64,
    start: Instant,
}

impl Progress {
    fn new(terminal: bool, asked: bool, captures: usize, total: u64) -> Self {
        let view = if terminal {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            let style = indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("0/{captures} captures"));
            // Redrawn ten times a second, so that the rate and time left move on while a
            // capture is hashed before it is read.
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            View::Bar(bar)
        } else if asked {
            View::Lines
        } else {
            View::Quiet
        };
        // About one line per 2% of the bytes, at least 1 MiB and at most 256 MiB apart.
        let step = (total / 50).clamp(1 << 20, 256 << 20);
        Progress {
            view,
            captures,
            total,
            read: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            next_line: AtomicU64::new(step),
            step,
            start: Instant::now(),
        }
    }

    fn shown(&self) -> bool {
        !matches!(self.view, View::Quiet)
    }

    /// `bytes` more of the captures were read.
    fn read(&self, bytes: u64) {
        let now = self.read.fetch_add(bytes, Ordering::Relaxed) + bytes;
        match &self.view {
            View::Bar(b) => b.set_position(now),
            View::Lines => {
                let due = self.next_line.load(Ordering::Relaxed);
                let next = (now / self.step + 1) * self.step;
                if now >= due
                    && self
                        .next_line
                        .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    self.line(None);
                }
            }
            View::Quiet => {}
        }
    }

    /// One more capture is done.
    fn done(&self, name: &str) {
        self.done.fetch_add(1, Ordering::Relaxed);
        match &self.view {
            View::Bar(b) => {
                b.set_prefix(format!("{}/{} captures", self.done.load(Ordering::Relaxed), self.captures))
            }
            View::Lines => self.line(Some(name)),
            View::Quiet => {}
        }
    }

    /// `ctiscope: export: 1/3 captures (NAME), 12.0 of 300.0 MB, 110.2 MB/s, 3 s left`.
    fn line(&self, finished: Option<&str>) {
        let read = self.read.load(Ordering::Relaxed);
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = read as f64 / secs;
        let left = if rate > 0.0 { self.total.saturating_sub(read) as f64 / rate } else { 0.0 };
        let name = finished.map(|n| format!(" ({n})")).unwrap_or_default();
        eprintln!(
            "ctiscope: export: {}/{} captures{name}, {:.1} of {:.1} MB, {:.1} MB/s, {left:.0} s left",
            self.done.load(Ordering::Relaxed),
            self.captures,
            read as f64 / 1e6,
            self.total as f64 / 1e6,
            rate / 1e6
        );
    }

    fn finish(&self) {
        if let View::Bar(b) = &self.view {
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
    let (inputs, unmatched) = expand(&a.inputs);
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
        compression: match a.compression {
            ExportCompression::Snappy => Codec::Snappy,
            ExportCompression::Lz4 => Codec::Lz4,
            ExportCompression::None => Codec::Uncompressed,
        },
    };
    let sizes: Vec<u64> = inputs
        .iter()
        .map(|i| std::fs::metadata(i).map_or(0, |m| if m.is_file() { m.len() } else { 0 }))
        .collect();
    let total_bytes: u64 = sizes.iter().sum();
    let terminal = io::stderr().is_terminal();
    let progress = Arc::new(Progress::new(terminal, a.progress, inputs.len(), total_bytes));
    let jobs = match a.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(inputs.len().max(1));
    let queue: Mutex<VecDeque<(String, u64)>> =
        Mutex::new(inputs.iter().cloned().zip(sizes.iter().copied()).collect());
    let tally = Mutex::new(Tally { failed: unmatched, ..Tally::default() });
    let start = Instant::now();
    let fatal: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                // The bytes of the capture being read that the reader has reported.
                let reported = Rc::new(Cell::new(0u64));
                if progress.shown() {
                    let (p, r) = (progress.clone(), reported.clone());
                    ctiscope::capture::set_progress_hook(Some(Box::new(move |at| {
                        let before = r.replace(at.max(r.get()));
                        if at > before {
                            p.read(at - before);
                        }
                    })));
                }
                loop {
                    if fatal.lock().map_or(true, |f| f.is_some()) {
                        break;
                    }
                    let Some((name, size)) = queue.lock().ok().and_then(|mut q| q.pop_front()) else { break };
                    let res = export::export(&name, &opts);
                    // The whole file counts as read once it is done, whatever the reader saw.
                    progress.read(size.saturating_sub(reported.replace(0)));
                    let Ok(mut tl) = tally.lock() else { break };
                    match res {
                        Ok(Done::Exported(m)) => {
                            tl.exported += 1;
                            tl.bytes += m.size;
                            tl.messages += m.rows.first().map_or(0, |r| r.1);
                            if let Some(why) = &m.cut_short {
                                tl.cut_short += 1;
                                progress_println(
                                    &progress,
                                    &format!("ctiscope: {why} (exported up to there)"),
                                );
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
                    drop(tl);
                    progress.done(&name);
                }
                ctiscope::capture::set_progress_hook(None);
            });
        }
    });
    progress.finish();
    if let Some(why) = fatal.into_inner().ok().flatten() {
        eprintln!("ctiscope: error: cannot write the tables: {why}");
        return Ok(EXIT_INPUT);
    }
    let t = tally.into_inner().unwrap_or_default();
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
    match &p.view {
        View::Bar(b) => b.suspend(|| eprintln!("{line}")),
        _ => eprintln!("{line}"),
    }
}
