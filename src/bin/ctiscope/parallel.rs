//! `decode -j N`: the library's pool ([`ctiscope::parallel::run_path_work`]) decodes and
//! renders on several threads; the output is written in capture order.
//!
//! The main thread reads the capture (capture, reassembly, framing and the choice of each
//! message's protocol version run at several GB/s) and writes the rendered batches in
//! sequence; for every event it also keeps what printing carries from one event to the next
//! ([`Printer::sequence`]: the time reference and the `-T json` separator). `N - 1`
//! workers, and the main thread when every batch is in use, decode and render whole batches
//! with [`render_message`] and [`render_event`], which need no state of their own. The output
//! is therefore byte-identical to the single-threaded run.

use crate::{render_event, render_message, Printer, Style};
use ctiscope::capture::CaptureError;
use ctiscope::cti::decode::Decoded;
use ctiscope::cti::framing::Frame;
use ctiscope::parallel::{self, Work};
use ctiscope::pipeline::{Event, Flow, Settings};
use ctiscope::render::summary::Summary;
use std::io::{self, Write};
use std::sync::OnceLock;

/// Rendering as the pool's work.
struct Render {
    style: Style,
    /// The printer's summary once the first event set its time reference.
    summary: OnceLock<Summary>,
}

/// A rendered batch.
#[derive(Default)]
struct Rendered {
    bytes: Vec<u8>,
    err: Option<io::Error>,
}

impl Work for Render {
    /// The separator before the event's `-T json` element.
    type Tag = &'static [u8];
    type Out = Rendered;

    fn begin(&self, out: &mut Rendered, bytes: usize) {
        out.bytes.clear();
        out.bytes.reserve(bytes * 3);
    }

    fn message(&self, out: &mut Rendered, flow: &Flow, frame: &Frame<'_>, d: &Decoded, sep: &'static [u8]) {
        let summary = self.summary.get().expect("the first event sets the summary");
        if let Err(e) = render_message(&self.style, summary, &mut out.bytes, sep, flow, frame, d) {
            out.err.get_or_insert(e);
        }
    }

    fn event(&self, out: &mut Rendered, ev: &Event<'_>, sep: &'static [u8]) {
        let summary = self.summary.get().expect("the first event sets the summary");
        if let Err(e) = render_event(&self.style, summary, &mut out.bytes, sep, ev) {
            out.err.get_or_insert(e);
        }
    }
}

/// Decode one capture with `jobs` threads, writing to `out`. Returns the capture result (an
/// error after everything before it was written) and any write error.
pub(crate) fn decode_file(
    input: &str,
    settings: &Settings,
    forced: Option<u32>,
    printer: &mut Printer,
    jobs: usize,
    batch_items: usize,
    out: &mut dyn Write,
) -> io::Result<Result<ctiscope::pipeline::Stats, CaptureError>> {
    let work = Render { style: printer.style(), summary: OnceLock::new() };
    let mut write_err: Option<io::Error> = None;
    let mut tag = |ev: &Event<'_>| {
        // Without a filter (see `usable`) every event is shown.
        let sep = printer.sequence(ev);
        work.summary.get_or_init(|| printer.summary.clone());
        sep
    };
    let res = parallel::run_path_work(
        input,
        settings,
        forced,
        jobs,
        batch_items,
        &work,
        &mut tag,
        &mut |r: &mut Rendered| match r.err.take().map_or_else(|| out.write_all(&r.bytes), Err) {
            Ok(()) => true,
            Err(e) => {
                write_err = Some(e);
                false
            }
        },
    );
    match write_err {
        Some(e) => Err(e),
        None => Ok(res),
    }
}

/// Can this run use worker threads? Live input needs each line as it arrives, and the
/// message filters need the decoded message on the main thread.
pub(crate) fn usable(jobs: usize, input: &str, printer: &Printer) -> bool {
    jobs > 1
        && input != "-"
        && !printer.filter.is_active()
        && printer.limit.is_none()
        && printer.cut.is_none()
        && !printer.summary.sequential()
}
