//! The decode stage on several threads (`-j N`), delivering in capture order.
//!
//! ```text
//! capture -> net -> framing -> version -> batch  =>  decode (+ work)  =>  consumer
//! \____ reading thread: Pipeline, stage::Versions ___/     any thread        in capture order
//! ```
//!
//! One pool serves both uses of `-j`:
//! - [`run_path`] (`check`, `timeline`, `stats`): the reading thread runs the capture,
//!   reassembly and framing, and fills batches; the calling thread hands every event, in
//!   capture order, with its decoded message, to the sink (the analysis); `N - 2` workers
//!   (none with two threads) only decode.
//! - [`run_path_work`] (`decode`): the calling thread reads and also takes the batches'
//!   products, in order (the rendered output, which it writes); `N - 1` workers decode
//!   and do a per-event [`Work`] (rendering) in the same pass.
//!
//! The reading thread chooses each message's protocol version, in order, per connection
//! ([`Versions`], exactly as the single-threaded [`crate::stage::Stage`] does) and copies the
//! message with its metadata into a batch; decoding and the work are left to whichever
//! thread has nothing better to do. The consumer decodes the oldest waiting batch when the
//! one it needs next is not ready; the reading thread, when every batch is in use, decodes
//! the newest waiting one instead of waiting for a batch to come back (unless another thread
//! consumes and it is the only one waiting: the consumer would then have to wait for it).
//! On two cores that keeps both busy with two threads (a dedicated decoding thread would make
//! three on two cores, and every hand-over a context switch). The consumer therefore sees
//! exactly what a single-threaded run gives it, whatever the number of threads and the batch
//! size.
//!
//! Memory is bounded: a fixed number of batches (`2 N`, or `2 N + 2` when the consumer is
//! not the reading thread) circulate, each holding at most [`BATCH_BYTES`] of messages or
//! `batch_items` events, and each keeping its decoded messages and its product for reuse.
//! A thread that panics stops every other (the panic reaches the caller); so does a
//! consumer that wants no more.

use crate::capture::CaptureError;
use crate::cti::decode::{decode_choice, Choice, Decoded};
use crate::cti::framing::{Frame, FrameInfo};
use crate::pipeline::{self, Event, Flow, Settings, Stats};
use crate::stage::Versions;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Bytes of message data per batch.
pub const BATCH_BYTES: usize = 256 << 10;

/// Events per batch unless told otherwise.
pub const BATCH_ITEMS: usize = 512;

/// Field room each reused decoded message keeps between batches.
const KEPT_FIELDS: usize = 32;

/// What the threads do with each event of a batch right after decoding it, and what the
/// batch then brings to the consumer ([`run_path_work`]).
pub trait Work: Sync {
    /// What the reading thread attaches to each event, in capture order.
    type Tag: Copy + Send;
    /// The product of a batch: kept with the batch and reused from batch to batch.
    type Out: Default + Send;
    /// Before the events of a batch holding `bytes` of messages.
    fn begin(&self, _out: &mut Self::Out, _bytes: usize) {}
    /// A message of the batch (an [`Event::Message`]), in order, decoded.
    fn message(&self, out: &mut Self::Out, flow: &Flow, frame: &Frame<'_>, decoded: &Decoded, tag: Self::Tag);
    /// Any other event of the batch, in order.
    fn event(&self, out: &mut Self::Out, ev: &Event<'_>, tag: Self::Tag);
}

/// The analysis's use: decode only, every decoded message kept for [`Batch::replay`].
struct DecodeOnly;

impl Work for DecodeOnly {
    type Tag = ();
    type Out = ();
    fn message(&self, _: &mut (), _: &Flow, _: &Frame<'_>, _: &Decoded, _: ()) {}
    fn event(&self, _: &mut (), _: &Event<'_>, _: ()) {}
}

enum Item<T> {
    Message { flow: Flow, choice: Choice, info: FrameInfo, start: usize, end: usize, tag: T },
    Other(Event<'static>, T),
}

struct Batch<W: Work> {
    seq: u64,
    arena: Vec<u8>,
    items: Vec<Item<W::Tag>>,
    /// With `keep`, one per message item, in order; otherwise one, reused. Entries are
    /// reused from batch to batch.
    decoded: Vec<Decoded>,
    messages: usize,
    out: W::Out,
}

impl<W: Work> Default for Batch<W> {
    fn default() -> Self {
        Batch {
            seq: 0,
            arena: Vec::new(),
            items: Vec::new(),
            decoded: Vec::new(),
            messages: 0,
            out: W::Out::default(),
        }
    }
}

impl<W: Work> Batch<W> {
    /// Decode every message and do the work of every event, in order. `keep`: every decoded
    /// message stays for [`Batch::replay`].
    fn process(&mut self, work: &W, keep: bool) {
        work.begin(&mut self.out, self.arena.len());
        let need = if keep { self.messages } else { self.messages.min(1) };
        if self.decoded.len() < need {
            self.decoded.resize_with(need, Decoded::default);
        }
        let mut k = 0;
        for it in &self.items {
            match it {
                Item::Message { flow, choice, info, start, end, tag } => {
                    let bytes = &self.arena[*start..*end];
                    let d = &mut self.decoded[k];
                    decode_choice(bytes, choice, d);
                    k += usize::from(keep);
                    work.message(&mut self.out, flow, &info.with(bytes), d, *tag);
                }
                Item::Other(ev, tag) => work.event(&mut self.out, ev, *tag),
            }
        }
        if !keep {
            // Only the product goes on: the events are let go here, where they are in cache.
            self.arena.clear();
            self.items.clear();
            self.messages = 0;
        }
    }

    /// Hand every event to the sink, in order, with the decoded messages kept by `process`.
    fn replay(&self, sink: &mut dyn FnMut(&Event<'_>, Option<&Decoded>)) {
        let mut k = 0;
        for it in &self.items {
            match it {
                Item::Other(ev, _) => sink(ev, None),
                Item::Message { flow, info, start, end, .. } => {
                    let ev = Event::Message { flow: *flow, frame: info.with(&self.arena[*start..*end]) };
                    sink(&ev, Some(&self.decoded[k]));
                    k += 1;
                }
            }
        }
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.items.clear();
        self.messages = 0;
        // An entry keeps the room of the largest message it ever held: large ones (a
        // configuration message with hundreds of fields) give theirs back.
        for d in &mut self.decoded {
            if d.fields.capacity() > KEPT_FIELDS {
                d.clear();
                d.fields.shrink_to(KEPT_FIELDS);
            }
        }
    }
}

/// The batches in circulation, by where they are.
struct Queues<W: Work> {
    /// Filled and not yet processed, oldest first.
    todo: VecDeque<Batch<W>>,
    /// Processed, waiting for their turn.
    done: BTreeMap<u64, Batch<W>>,
    /// Empty, for the reading thread to fill.
    free: Vec<Batch<W>>,
    /// How many batches the reading thread filled, once it has queued its last one.
    total: Option<u64>,
    /// A thread stopped (a panic, or a consumer that wants no more): the others stop
    /// waiting.
    stopped: bool,
}

/// What every thread of a run shares.
struct Pool<'w, W: Work> {
    work: &'w W,
    /// Whether consumers read the decoded messages ([`Batch::replay`]).
    keep: bool,
    q: Mutex<Queues<W>>,
    /// A batch was queued or processed, or the capture ended: for the consumer.
    ready: Condvar,
    /// A batch was queued, or the capture ended: for the workers.
    queued: Condvar,
    /// A batch came back empty: for the reading thread.
    freed: Condvar,
}

impl<'w, W: Work> Pool<'w, W> {
    fn new(work: &'w W, keep: bool, batches: usize) -> Self {
        Pool {
            work,
            keep,
            q: Mutex::new(Queues {
                todo: VecDeque::new(),
                done: BTreeMap::new(),
                free: (0..batches).map(|_| Batch::default()).collect(),
                total: None,
                stopped: false,
            }),
            ready: Condvar::new(),
            queued: Condvar::new(),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queues<W>> {
        // A panic elsewhere is reported by the scope; the queues themselves stay consistent.
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, cv: &Condvar, g: MutexGuard<'a, Queues<W>>) -> MutexGuard<'a, Queues<W>> {
        cv.wait(g).unwrap_or_else(|e| e.into_inner())
    }

    fn process(&self, b: &mut Batch<W>) {
        b.process(self.work, self.keep);
    }

    /// A processed batch, for the consumer.
    fn processed(&self, b: Batch<W>) {
        self.lock().done.insert(b.seq, b);
        self.ready.notify_one();
    }

    /// A consumed batch, emptied, for the reading thread.
    fn release(&self, mut b: Batch<W>) {
        b.clear();
        self.lock().free.push(b);
        self.freed.notify_one();
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.wake_all();
    }

    fn wake_all(&self) {
        self.ready.notify_all();
        self.queued.notify_all();
        self.freed.notify_all();
    }

    /// A worker: process queued batches, oldest first, until the capture ends.
    fn worker(&self) {
        let _stop = StopOnPanic(self);
        loop {
            let mut q = self.lock();
            let mut b = loop {
                if q.stopped {
                    return;
                }
                if let Some(b) = q.todo.pop_front() {
                    break b;
                }
                if q.total.is_some() {
                    return;
                }
                q = self.wait(&self.queued, q);
            };
            drop(q);
            self.process(&mut b);
            self.processed(b);
        }
    }

    /// Batch number `next` if it is processed already (without waiting) and the pool runs.
    fn take_done(&self, next: u64) -> Option<Batch<W>> {
        let mut q = self.lock();
        if q.stopped {
            return None;
        }
        q.done.remove(&next)
    }

    /// Batch number `next`, processed (here, if it is not yet: the oldest waiting batch is
    /// processed rather than waited for); None once every batch was handed on, or a thread
    /// stopped.
    fn next_batch(&self, next: u64) -> Option<Batch<W>> {
        let mut q = self.lock();
        loop {
            if q.stopped {
                return None;
            }
            if let Some(b) = q.done.remove(&next) {
                return Some(b);
            }
            if q.total == Some(next) {
                return None;
            }
            if let Some(mut b) = q.todo.pop_front() {
                drop(q);
                self.process(&mut b);
                if b.seq == next {
                    return Some(b);
                }
                // An older batch is being processed elsewhere: this one waits for its turn.
                q = self.lock();
                q.done.insert(b.seq, b);
                continue;
            }
            q = self.wait(&self.ready, q);
        }
    }

    /// The consumer: every batch from number `next` on, in sequence, to `deliver` (false:
    /// no more); each is processed here if it is not yet.
    fn consume(&self, mut next: u64, deliver: &mut Deliver<'_, W>) {
        let _stop = StopOnPanic(self);
        while let Some(mut b) = self.next_batch(next) {
            let more = deliver(&mut b);
            next += 1;
            self.release(b);
            if !more {
                self.stop();
                return;
            }
        }
    }
}

/// Stops the pool if its thread unwinds, so that no other thread waits forever for a batch
/// that thread held.
struct StopOnPanic<'p, 'w, W: Work>(&'p Pool<'w, W>);

impl<W: Work> Drop for StopOnPanic<'_, '_, W> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// The consumer's hand-over of a processed batch; false: no more.
type Deliver<'d, W> = dyn FnMut(&mut Batch<W>) -> bool + 'd;

/// The reading thread's side: batches filled in capture order.
struct Reader<'p, 'w, 'd, W: Work> {
    pool: &'p Pool<'w, W>,
    versions: Versions,
    batch_items: usize,
    /// The batch being filled; None once the pool stopped.
    batch: Option<Batch<W>>,
    /// Batches queued so far.
    seq: u64,
    /// When the reading thread is also the consumer: the delivery, and the next batch it
    /// is owed.
    deliver: Option<(&'d mut Deliver<'d, W>, u64)>,
}

impl<'p, 'w, 'd, W: Work> Reader<'p, 'w, 'd, W> {
    fn new(
        pool: &'p Pool<'w, W>,
        forced: Option<u32>,
        batch_items: usize,
        deliver: Option<&'d mut Deliver<'d, W>>,
    ) -> Self {
        let batch = pool.lock().free.pop();
        Reader {
            pool,
            versions: Versions::new(forced),
            batch_items: batch_items.max(1),
            batch,
            seq: 0,
            deliver: deliver.map(|d| (d, 0)),
        }
    }

    fn stopped(&self) -> bool {
        self.batch.is_none()
    }

    /// Add one event (in capture order) with its tag.
    fn push(&mut self, ev: &Event<'_>, tag: W::Tag) {
        let Some(b) = self.batch.as_mut() else { return };
        match ev {
            Event::Message { flow, frame } => {
                let choice = self.versions.message(flow, frame);
                let start = b.arena.len();
                b.arena.extend_from_slice(frame.bytes);
                b.items.push(Item::Message {
                    flow: *flow,
                    choice,
                    info: frame.info(),
                    start,
                    end: b.arena.len(),
                    tag,
                });
                b.messages += 1;
            }
            other => {
                self.versions.choose(other);
                b.items.push(Item::Other(other.detached().expect("not a message"), tag));
            }
        }
        if b.arena.len() >= BATCH_BYTES || b.items.len() >= self.batch_items {
            let mut full = self.batch.take().expect("batch");
            full.seq = self.seq;
            self.seq += 1;
            self.pool.lock().todo.push_back(full);
            self.pool.ready.notify_one();
            self.pool.queued.notify_one();
            self.batch = self.refill();
        }
    }

    /// An empty batch to fill; None once the pool stopped.
    fn refill(&mut self) -> Option<Batch<W>> {
        let pool = self.pool;
        let consumer_here = self.deliver.is_some();
        loop {
            if let Some((deliver, next)) = self.deliver.as_mut() {
                // What is ready goes out first.
                while let Some(mut b) = pool.take_done(*next) {
                    let more = deliver(&mut b);
                    *next += 1;
                    pool.release(b);
                    if !more {
                        pool.stop();
                        return None;
                    }
                }
            }
            let mut q = pool.lock();
            if q.stopped {
                return None;
            }
            if let Some(b) = q.free.pop() {
                return Some(b);
            }
            if let Some((_, next)) = &self.deliver {
                if q.done.contains_key(next) {
                    // Processed since it was looked for: deliver it.
                    continue;
                }
            }
            // Every batch is in use: process the newest waiting one rather than wait, but
            // never the only one when another thread consumes (it would wait for it).
            if q.todo.len() >= if consumer_here { 1 } else { 2 } {
                let mut b = q.todo.pop_back().expect("a batch waiting");
                drop(q);
                pool.process(&mut b);
                pool.processed(b);
                continue;
            }
            // A batch comes back when the consumer is done with it or, when this thread is
            // the consumer, when a worker has processed the one it needs.
            drop(pool.wait(if consumer_here { &pool.ready } else { &pool.freed }, q));
        }
    }

    /// The capture ended: queue the last batch; when this thread consumes, deliver the rest.
    fn finish(mut self) {
        let mut q = self.pool.lock();
        if let Some(mut last) = self.batch.take() {
            if !last.items.is_empty() {
                last.seq = self.seq;
                self.seq += 1;
                q.todo.push_back(last);
            }
        }
        q.total = Some(self.seq);
        drop(q);
        self.pool.wake_all();
        if let Some((deliver, next)) = self.deliver {
            self.pool.consume(next, deliver);
        }
    }
}

/// Threads (at least two) for `-j jobs`, and the batches in circulation: `2 N` when the
/// reading thread consumes, two more when another thread does (one it holds, one it waits
/// for).
fn threads(jobs: usize, consumer_reads: bool) -> (usize, usize) {
    let jobs = jobs.max(2);
    (jobs, 2 * jobs + if consumer_reads { 0 } else { 2 })
}

/// Run the pipeline and the decode stage over `path` with `jobs` threads sharing the
/// decoding: `sink`, on the calling thread, gets every event in capture order with its
/// decoded message (None for events other than messages), exactly as from
/// [`crate::stage::run_path`]. The capture is read on another thread; `jobs - 2` more only
/// decode. `forced`: `--protocol-version`.
pub fn run_path(
    path: &str,
    settings: &Settings,
    forced: Option<u32>,
    jobs: usize,
    batch_items: usize,
    sink: &mut dyn FnMut(&Event<'_>, Option<&Decoded>),
) -> Result<Stats, CaptureError> {
    let (jobs, batches) = threads(jobs, false);
    let pool = Pool::new(&DecodeOnly, true, batches);
    let pool = &pool;
    std::thread::scope(|scope| {
        for _ in 2..jobs {
            scope.spawn(move || pool.worker());
        }
        let reader = scope.spawn(move || {
            let _stop = StopOnPanic(pool);
            let mut r = Reader::new(pool, forced, batch_items, None);
            let res = pipeline::run_path(path, settings, &mut |ev| r.push(&ev, ()));
            r.finish();
            res
        });
        pool.consume(0, &mut |b| {
            b.replay(sink);
            true
        });
        reader.join().expect("pipeline thread")
    })
}

/// Run the pipeline and the decode stage over `path` with `jobs` threads, doing `work` on
/// every event right after its message is decoded: the calling thread reads the capture,
/// attaching `tag(event)` to every event in capture order, and hands each batch's product
/// to `deliver` in capture order (false: no more, the rest of the capture is read but
/// neither decoded nor delivered); `jobs - 1` workers decode and work, and so does the
/// calling thread when every batch is in use. `forced`: `--protocol-version`.
#[allow(clippy::too_many_arguments)]
pub fn run_path_work<W: Work>(
    path: &str,
    settings: &Settings,
    forced: Option<u32>,
    jobs: usize,
    batch_items: usize,
    work: &W,
    tag: &mut dyn FnMut(&Event<'_>) -> W::Tag,
    deliver: &mut dyn FnMut(&mut W::Out) -> bool,
) -> Result<Stats, CaptureError> {
    let (jobs, batches) = threads(jobs, true);
    let pool = Pool::new(work, false, batches);
    let pool = &pool;
    std::thread::scope(|scope| {
        for _ in 1..jobs {
            scope.spawn(move || pool.worker());
        }
        let _stop = StopOnPanic(pool);
        let mut out = |b: &mut Batch<W>| deliver(&mut b.out);
        let mut r = Reader::new(pool, forced, batch_items, Some(&mut out));
        let res = pipeline::run_path(path, settings, &mut |ev| {
            if !r.stopped() {
                let t = tag(&ev);
                r.push(&ev, t);
            }
        });
        r.finish();
        res
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/contact-center.pcapng");

    fn line(ev: &Event<'_>, d: Option<&Decoded>) -> String {
        let d = d.map(|d| (d.msg_type, d.version, d.version_source, d.fields.len(), d.anomalies.len()));
        format!("{ev:?} {d:?}")
    }

    fn single_threaded() -> Vec<String> {
        let mut want = Vec::new();
        crate::stage::run_path(CAPTURE, &Settings::default(), None, &mut |ev, d| want.push(line(ev, d)))
            .expect("capture reads");
        assert!(want.len() > 100);
        want
    }

    #[test]
    fn every_thread_count_and_batch_size_gives_the_single_threaded_sequence() {
        let want = single_threaded();
        for (jobs, items) in [(2, 1), (2, 5), (3, 2), (4, 512)] {
            let mut got = Vec::new();
            run_path(CAPTURE, &Settings::default(), None, jobs, items, &mut |ev, d| got.push(line(ev, d)))
                .expect("capture reads");
            assert!(got == want, "-j {jobs}, {items} events per batch");
        }
    }

    /// Renders each event as its line, numbered by the reading thread.
    struct Lines;

    impl Work for Lines {
        type Tag = usize;
        type Out = Vec<String>;
        fn begin(&self, out: &mut Vec<String>, _: usize) {
            out.clear();
        }
        fn message(&self, out: &mut Vec<String>, flow: &Flow, frame: &Frame<'_>, d: &Decoded, n: usize) {
            let ev = Event::Message { flow: *flow, frame: *frame };
            out.push(format!("{n} {}", line(&ev, Some(d))));
        }
        fn event(&self, out: &mut Vec<String>, ev: &Event<'_>, n: usize) {
            out.push(format!("{n} {}", line(ev, None)));
        }
    }

    #[test]
    fn work_on_every_thread_is_delivered_in_capture_order() {
        let want: Vec<String> =
            single_threaded().into_iter().enumerate().map(|(n, l)| format!("{n} {l}")).collect();
        for (jobs, items) in [(2, 1), (2, 5), (3, 2), (4, 512)] {
            let (mut n, mut got) = (0, Vec::new());
            let mut tag = |_: &Event<'_>| {
                n += 1;
                n - 1
            };
            run_path_work(CAPTURE, &Settings::default(), None, jobs, items, &Lines, &mut tag, &mut |out| {
                got.append(out);
                true
            })
            .expect("capture reads");
            assert!(got == want, "-j {jobs}, {items} events per batch");
        }
    }

    #[test]
    fn a_consumer_that_wants_no_more_stops_the_work() {
        for jobs in [2, 3] {
            let mut batches = 0;
            let mut tag = |_: &Event<'_>| 0;
            run_path_work(CAPTURE, &Settings::default(), None, jobs, 2, &Lines, &mut tag, &mut |_| {
                batches += 1;
                batches < 3
            })
            .expect("capture reads");
            assert_eq!(batches, 3);
        }
    }

    #[test]
    fn a_panicking_sink_stops_every_thread() {
        for jobs in [2, 3] {
            let r = std::panic::catch_unwind(|| {
                let mut n = 0;
                run_path(CAPTURE, &Settings::default(), None, jobs, 2, &mut |_, _| {
                    n += 1;
                    assert!(n < 20, "sink fails");
                })
            });
            assert!(r.is_err(), "the panic reaches the caller, no thread is left waiting");
            let r = std::panic::catch_unwind(|| {
                let mut tag = |_: &Event<'_>| 0;
                run_path_work(CAPTURE, &Settings::default(), None, jobs, 2, &Lines, &mut tag, &mut |_| {
                    panic!("delivery fails")
                })
            });
            assert!(r.is_err(), "the panic reaches the caller, no thread is left waiting");
        }
    }
}
