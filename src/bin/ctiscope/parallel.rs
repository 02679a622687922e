//! `decode -j N`: decoding and rendering on worker threads, output in capture order.
//!
//! The capture, TCP reassembly and framing stay on the main thread (they run at several
//! GB/s); they also choose each message's protocol version, in order, per connection. Each
//! message is copied with its metadata into a batch; batches go to `N` workers that decode and
//! render them into bytes; the main thread writes the rendered batches in sequence. Events that
//! are not messages are rendered on the main thread into the batch. The output is therefore
//! byte-identical to the single-threaded run. Memory is bounded: at most `2 N` batches are
//! queued and a batch holds at most [`BATCH_BYTES`] of messages (as for the analysis commands).

use crate::{render_message, Printer, Style};
use ctiscope::capture::CaptureError;
use ctiscope::cti::decode::{decode_at, Decoded, VersionSource};
use ctiscope::cti::framing::FrameInfo;
use ctiscope::parallel::BATCH_BYTES;
use ctiscope::pipeline::{self, Event, Flow, Settings};
use ctiscope::render::summary::Summary;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

enum Kind {
    /// A message to decode and render.
    Message { flow: Flow, info: FrameInfo, version: u32, source: VersionSource, sep: &'static [u8] },
    /// Text already rendered on the main thread.
    Rendered,
}

struct Item {
    kind: Kind,
    start: usize,
    end: usize,
}

#[derive(Default)]
struct Batch {
    seq: u64,
    arena: Vec<u8>,
    items: Vec<Item>,
}

/// Buffers handed back for reuse: rendered output once written, batches once rendered.
/// Fresh multi-megabyte buffers for every batch would cost page faults on every one of them
/// (the allocator returns large blocks to the system when they are freed).
struct Pool<T> {
    free: Mutex<Vec<T>>,
    keep: usize,
}

impl<T: Default> Pool<T> {
    fn new(keep: usize) -> Self {
        Pool { free: Mutex::new(Vec::new()), keep }
    }
    fn take(&self) -> T {
        self.free.lock().expect("buffer pool").pop().unwrap_or_default()
    }
    fn give(&self, v: T) {
        let mut free = self.free.lock().expect("buffer pool");
        if free.len() < self.keep {
            free.push(v);
        }
    }
}

fn render_batch(
    style: &Style,
    summary: &Summary,
    b: &Batch,
    d: &mut Decoded,
    mut out: Vec<u8>,
) -> io::Result<Vec<u8>> {
    out.clear();
    out.reserve(b.arena.len() * 3);
    for it in &b.items {
        let bytes = &b.arena[it.start..it.end];
        match &it.kind {
            Kind::Rendered => out.extend_from_slice(bytes),
            Kind::Message { flow, info, version, source, sep } => {
                decode_at(bytes, *version, *source, d);
                let frame = info.with(bytes);
                render_message(style, summary, &mut out, sep, flow, &frame, d)?;
            }
        }
    }
    Ok(out)
}

/// Write the rendered batches that are ready, in sequence. With `block_until`, wait until
/// every batch below that sequence number has been written.
fn write_ready(
    done_rx: &mpsc::Receiver<(u64, io::Result<Vec<u8>>)>,
    out: &mut dyn Write,
    pending: &mut BTreeMap<u64, Vec<u8>>,
    next_out: &mut u64,
    write_err: &mut Option<io::Error>,
    block_until: Option<u64>,
    outputs: &Pool<Vec<u8>>,
) {
    loop {
        let got = match block_until {
            Some(n) if *next_out < n => done_rx.recv().ok(),
            _ => done_rx.try_recv().ok(),
        };
        let received = got.is_some();
        if let Some((s, r)) = got {
            match r {
                Ok(v) => {
                    pending.insert(s, v);
                }
                Err(e) => {
                    write_err.get_or_insert(e);
                    pending.insert(s, Vec::new());
                }
            }
        }
        while let Some(v) = pending.remove(next_out) {
            if write_err.is_none() {
                if let Err(e) = out.write_all(&v) {
                    *write_err = Some(e);
                }
            }
            outputs.give(v);
            *next_out += 1;
        }
        match block_until {
            Some(n) if *next_out < n && received => continue,
            Some(n) if *next_out < n => break, // the workers are gone: nothing more will come
            _ if received => continue,
            _ => break,
        }
    }
}

/// Decode one capture with `jobs` worker threads, writing to `out`. Returns the capture
/// result (an error after everything before it was written) and any write error.
pub(crate) fn decode_file(
    input: &str,
    settings: &Settings,
    printer: &mut Printer,
    jobs: usize,
    batch_items: usize,
    out: &mut dyn Write,
) -> io::Result<Result<(), CaptureError>> {
    let batch_items = batch_items.max(1);
    let style = printer.style();
    let (work_tx, work_rx) = mpsc::sync_channel::<Batch>(2 * jobs);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = mpsc::channel::<(u64, io::Result<Vec<u8>>)>();
    // At most 2 N batches queued, N being rendered, and their outputs waiting to be written.
    let outputs: Pool<Vec<u8>> = Pool::new(4 * jobs + 2);
    let batches: Pool<Batch> = Pool::new(4 * jobs + 2);
    std::thread::scope(|scope| {
        // The summary's time reference must be known before workers render: it is the first
        // event's time, set when the first batch is sent.
        let mut summary_for_workers: Option<Arc<Summary>> = None;
        let mut workers_started = false;
        let mut pending: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut next_out = 0u64;
        let mut write_err: Option<io::Error> = None;
        let mut batch = Batch::default();
        let mut seq = 0u64;
        let mut scratch = Vec::new();

        let res = pipeline::run_path(input, settings, &mut |ev| {
            if write_err.is_some() {
                return;
            }
            printer.summary.set_first_ts(ctiscope::render::summary::event_ts(&ev));
            if let Event::ConnectionEnd { conn, .. } = &ev {
                printer.versions.remove(conn);
            }
            let start = batch.arena.len();
            match &ev {
                Event::Message { flow, version, frame } => {
                    let st = printer.versions.entry(flow.conn).or_default();
                    let (v, source) = printer.decoder.choose_version(frame.bytes, *version, st);
                    let sep = printer.next_sep();
                    batch.arena.extend_from_slice(frame.bytes);
                    batch.items.push(Item {
                        kind: Kind::Message { flow: *flow, info: frame.info(), version: v, source, sep },
                        start,
                        end: batch.arena.len(),
                    });
                }
                _ => {
                    scratch.clear();
                    if let Err(e) = printer.event(&mut scratch, &ev) {
                        write_err = Some(e);
                        return;
                    }
                    batch.arena.extend_from_slice(&scratch);
                    batch.items.push(Item { kind: Kind::Rendered, start, end: batch.arena.len() });
                }
            }
            if batch.arena.len() >= BATCH_BYTES || batch.items.len() >= batch_items {
                if !workers_started {
                    let summary = Arc::new(printer.summary.clone());
                    summary_for_workers = Some(summary.clone());
                    for _ in 0..jobs {
                        let rx = Arc::clone(&work_rx);
                        let tx = done_tx.clone();
                        let summary = Arc::clone(&summary);
                        let (outputs, batches) = (&outputs, &batches);
                        scope.spawn(move || {
                            let mut d = Decoded::default();
                            loop {
                                let mut b = match rx.lock().expect("work queue").recv() {
                                    Ok(b) => b,
                                    Err(_) => break,
                                };
                                let r = render_batch(&style, &summary, &b, &mut d, outputs.take());
                                let seq = b.seq;
                                b.arena.clear();
                                b.items.clear();
                                batches.give(b);
                                if tx.send((seq, r)).is_err() {
                                    break;
                                }
                            }
                        });
                    }
                    workers_started = true;
                }
                let mut full = std::mem::replace(&mut batch, batches.take());
                full.seq = seq;
                seq += 1;
                if work_tx.send(full).is_err() {
                    write_err = Some(io::Error::other("decode workers stopped"));
                }
                write_ready(&done_rx, out, &mut pending, &mut next_out, &mut write_err, None, &outputs);
            }
        });
        // The last, partial batch: render here if no worker was needed.
        if !batch.items.is_empty() {
            if workers_started {
                batch.seq = seq;
                seq += 1;
                let _ = work_tx.send(batch);
            } else {
                let mut d = Decoded::default();
                match render_batch(&style, &printer.summary, &batch, &mut d, Vec::new()) {
                    Ok(v) => {
                        if let Err(e) = out.write_all(&v) {
                            write_err.get_or_insert(e);
                        }
                    }
                    Err(e) => {
                        write_err.get_or_insert(e);
                    }
                }
            }
        }
        drop(work_tx);
        if workers_started {
            write_ready(&done_rx, out, &mut pending, &mut next_out, &mut write_err, Some(seq), &outputs);
        }
        drop(summary_for_workers);
        match write_err {
            Some(e) => Err(e),
            None => Ok(res.map(|_| ())),
        }
    })
}

/// Can this run use worker threads? Live input needs each line as it arrives, and the
/// message filters need the decoded message on the main thread.
pub(crate) fn usable(jobs: usize, input: &str, printer: &Printer) -> bool {
    jobs > 1 && input != "-" && !printer.filter.is_active()
}
