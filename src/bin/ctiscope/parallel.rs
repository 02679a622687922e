//! `decode -j N`: decoding and rendering on several threads, output in capture order.
//!
//! The capture, TCP reassembly and framing run on the main thread (they run at several
//! GB/s); they also choose each message's protocol version, in order, per connection. Each
//! message is copied with its metadata into a batch; `N - 1` workers decode and render
//! batches into bytes; the main thread writes the rendered batches in sequence. When as many
//! batches are under way as the bound allows, the main thread renders the newest waiting
//! batch itself rather than wait for a worker: with two cores, two threads keep both busy,
//! where a third (a second worker) would make every hand-over a context switch. Events that
//! are not messages are rendered on the main thread into the batch. The output is therefore
//! byte-identical to the single-threaded run. Memory is bounded: at most `2 N` batches are
//! under way and a batch holds at most [`BATCH_BYTES`] of messages (as for the analysis
//! commands).

use crate::{render_message, Printer, Style};
use ctiscope::capture::CaptureError;
use ctiscope::cti::decode::{decode_at, Decoded, VersionSource};
use ctiscope::cti::framing::FrameInfo;
use ctiscope::parallel::BATCH_BYTES;
use ctiscope::pipeline::{self, Event, Flow, Settings};
use ctiscope::render::summary::Summary;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

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

impl Batch {
    /// Empty it into the pool, for the main thread to fill again.
    fn recycle(mut self, pool: &Pool<Batch>) {
        self.arena.clear();
        self.items.clear();
        pool.give(self);
    }
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

/// What the main thread and the workers share.
#[derive(Default)]
struct Queues {
    /// Batches to render, oldest first.
    todo: VecDeque<Batch>,
    /// Rendered batches (sequence number, bytes) not yet taken by the main thread.
    rendered: Vec<(u64, io::Result<Vec<u8>>)>,
    /// No more batches will come.
    closed: bool,
    /// A thread stopped by a panic: the others stop waiting.
    abandoned: bool,
}

#[derive(Default)]
struct Shared {
    q: Mutex<Queues>,
    /// A batch was queued, or the queue closed: for the workers.
    work: Condvar,
    /// A batch was rendered: for the main thread.
    rendered: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A panic elsewhere is reported by the scope; the queues themselves stay consistent.
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Marks the queues abandoned if its thread unwinds, so that no other thread waits forever.
struct Abandon<'a>(&'a Shared);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().abandoned = true;
            self.0.work.notify_all();
            self.0.rendered.notify_all();
        }
    }
}

/// The main thread's side of the output: rendered batches in sequence to `out`.
struct Writer<'a> {
    out: &'a mut dyn Write,
    pending: BTreeMap<u64, Vec<u8>>,
    /// Next batch to write.
    next: u64,
    err: Option<io::Error>,
}

impl Writer<'_> {
    /// Take a rendered batch; write every batch that is now next in sequence.
    fn add(&mut self, seq: u64, r: io::Result<Vec<u8>>, outputs: &Pool<Vec<u8>>) {
        let v = r.unwrap_or_else(|e| {
            self.err.get_or_insert(e);
            Vec::new()
        });
        self.pending.insert(seq, v);
        while let Some(v) = self.pending.remove(&self.next) {
            if self.err.is_none() {
                if let Err(e) = self.out.write_all(&v) {
                    self.err = Some(e);
                }
            }
            outputs.give(v);
            self.next += 1;
        }
    }

    /// Take what the workers rendered; with `wait`, first wait until there is something
    /// (the caller knows a batch is with a worker). Returns false when the workers are gone.
    fn collect(&mut self, shared: &Shared, wait: bool, outputs: &Pool<Vec<u8>>) -> bool {
        let mut q = shared.lock();
        while wait && q.rendered.is_empty() && !q.abandoned {
            q = shared.rendered.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        let abandoned = q.abandoned;
        let got = std::mem::take(&mut q.rendered);
        drop(q);
        for (seq, r) in got {
            self.add(seq, r, outputs);
        }
        !abandoned
    }
}

/// Decode one capture with `jobs` threads, writing to `out`. Returns the capture result (an
/// error after everything before it was written) and any write error.
pub(crate) fn decode_file(
    input: &str,
    settings: &Settings,
    printer: &mut Printer,
    jobs: usize,
    batch_items: usize,
    out: &mut dyn Write,
) -> io::Result<Result<(), CaptureError>> {
    let batch_items = batch_items.max(1);
    let jobs = jobs.max(2);
    // Batches sent and not yet written, at most.
    let bound = 2 * jobs as u64;
    let style = printer.style();
    let shared = Shared::default();
    let shared = &shared;
    // The bound on batches under way, and their outputs waiting to be written.
    let outputs: Pool<Vec<u8>> = Pool::new(2 * jobs + 2);
    let batches: Pool<Batch> = Pool::new(2 * jobs + 2);
    std::thread::scope(|scope| {
        // The summary's time reference must be known before workers render: it is the first
        // event's time, set when the first batch is sent.
        let mut summary: Option<Arc<Summary>> = None;
        let mut w = Writer { out, pending: BTreeMap::new(), next: 0, err: None };
        let mut batch = Batch::default();
        let mut seq = 0u64;
        let mut scratch = Vec::new();
        let mut d = Decoded::default();

        let res = pipeline::run_path(input, settings, &mut |ev| {
            if w.err.is_some() {
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
                        w.err = Some(e);
                        return;
                    }
                    batch.arena.extend_from_slice(&scratch);
                    batch.items.push(Item { kind: Kind::Rendered, start, end: batch.arena.len() });
                }
            }
            if batch.arena.len() < BATCH_BYTES && batch.items.len() < batch_items {
                return;
            }
            let summary = match &summary {
                Some(s) => Arc::clone(s),
                None => {
                    let s = Arc::new(printer.summary.clone());
                    summary = Some(Arc::clone(&s));
                    for _ in 1..jobs {
                        let (outputs, batches, summary, style) = (&outputs, &batches, Arc::clone(&s), &style);
                        scope.spawn(move || worker(shared, style, &summary, outputs, batches));
                    }
                    s
                }
            };
            let mut full = std::mem::replace(&mut batch, batches.take());
            full.seq = seq;
            seq += 1;
            shared.lock().todo.push_back(full);
            shared.work.notify_one();
            if !w.collect(shared, false, &outputs) {
                w.err = Some(io::Error::other("decode workers stopped"));
                return;
            }
            // At the bound, render the newest waiting batch here, else wait for a worker.
            while seq - w.next >= bound && w.err.is_none() {
                let newest = shared.lock().todo.pop_back();
                let alive = match newest {
                    Some(b) => {
                        let r = render_batch(&style, &summary, &b, &mut d, outputs.take());
                        w.add(b.seq, r, &outputs);
                        b.recycle(&batches);
                        w.collect(shared, false, &outputs)
                    }
                    None => w.collect(shared, true, &outputs),
                };
                if !alive {
                    w.err = Some(io::Error::other("decode workers stopped"));
                }
            }
        });
        // The last, partial batch, and whatever the workers still have.
        if !batch.items.is_empty() && w.err.is_none() {
            let s = summary.as_deref().unwrap_or(&printer.summary);
            let r = render_batch(&style, s, &batch, &mut d, Vec::new());
            w.add(seq, r, &outputs);
            seq += 1;
        }
        {
            let mut q = shared.lock();
            q.closed = true;
            // After an error nothing more is written: what is still queued is dropped.
            if w.err.is_some() {
                q.todo.clear();
            }
        }
        shared.work.notify_all();
        while w.next < seq && w.err.is_none() {
            if !w.collect(shared, true, &outputs) {
                w.err = Some(io::Error::other("decode workers stopped"));
            }
        }
        match w.err {
            Some(e) => Err(e),
            None => Ok(res.map(|_| ())),
        }
    })
}

/// A worker: render queued batches until the queue closes.
fn worker(shared: &Shared, style: &Style, summary: &Summary, outputs: &Pool<Vec<u8>>, batches: &Pool<Batch>) {
    let _abandon = Abandon(shared);
    let mut d = Decoded::default();
    loop {
        let mut q = shared.lock();
        let b = loop {
            if q.abandoned {
                return;
            }
            if let Some(b) = q.todo.pop_front() {
                break b;
            }
            if q.closed {
                return;
            }
            q = shared.work.wait(q).unwrap_or_else(|e| e.into_inner());
        };
        drop(q);
        let r = render_batch(style, summary, &b, &mut d, outputs.take());
        let seq = b.seq;
        b.recycle(batches);
        shared.lock().rendered.push((seq, r));
        shared.rendered.notify_one();
    }
}

/// Can this run use worker threads? Live input needs each line as it arrives, and the
/// message filters need the decoded message on the main thread.
pub(crate) fn usable(jobs: usize, input: &str, printer: &Printer) -> bool {
    jobs > 1 && input != "-" && !printer.filter.is_active()
}
