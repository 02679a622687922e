//! Messages decoded on several threads, delivered in capture order: `-j N` of the analysis
//! commands (`check`, `timeline`, `stats`).
//!
//! `N` threads share the work. The pipeline thread runs the capture, reassembly and framing
//! (and chooses each message's protocol version, in order, per connection, exactly as a
//! single-threaded [`Decoder::decode_into`] would) and fills batches of messages; the calling
//! thread hands every event, in capture order, with its decoded message, to the sink; `N - 2`
//! workers (none with two threads) only decode. Decoding is shared: a batch is decoded by
//! whichever thread has nothing better to do. The calling thread decodes the oldest waiting
//! batch when the one it needs next is not ready; the pipeline thread, when every batch is in
//! use, decodes the newest waiting one (unless it is the only one) instead of waiting for a
//! batch to come back. On two cores that keeps both busy with two threads (a dedicated
//! decoding thread would make three on two cores, and every hand-over a context switch). The
//! sink therefore sees exactly what a single-threaded run gives it.
//!
//! Memory is bounded: a fixed number of batches circulate, each holding at most
//! [`BATCH_BYTES`] of messages or `batch_items` events.

use crate::capture::CaptureError;
use crate::cti::decode::{decode_at, Decoded, Decoder, VersionSource, VersionState};
use crate::cti::framing::FrameInfo;
use crate::pipeline::{self, Event, Flow, Settings, Stats};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Bytes of message data per batch.
pub const BATCH_BYTES: usize = 256 << 10;

/// Events per batch unless told otherwise.
pub const BATCH_ITEMS: usize = 512;

/// Field room each reused decoded message keeps between batches.
const KEPT_FIELDS: usize = 32;

enum Item {
    Message {
        flow: Flow,
        /// The version the OPEN_REQ said (the event's own field).
        seen: Option<u32>,
        version: u32,
        source: VersionSource,
        info: FrameInfo,
        start: usize,
        end: usize,
    },
    Other(Event<'static>),
}

#[derive(Default)]
struct Batch {
    seq: u64,
    arena: Vec<u8>,
    items: Vec<Item>,
    /// One per message item, in order (entries are reused from batch to batch).
    decoded: Vec<Decoded>,
    messages: usize,
}

impl Batch {
    fn decode(&mut self) {
        if self.decoded.len() < self.messages {
            self.decoded.resize_with(self.messages, Decoded::default);
        }
        let mut k = 0;
        for it in &self.items {
            if let Item::Message { version, source, start, end, .. } = it {
                decode_at(&self.arena[*start..*end], *version, *source, &mut self.decoded[k]);
                k += 1;
            }
        }
    }

    /// Hand every event to the sink, in order.
    fn replay(&self, sink: &mut dyn FnMut(&Event<'_>, Option<&Decoded>)) {
        let mut k = 0;
        for it in &self.items {
            match it {
                Item::Other(ev) => sink(ev, None),
                Item::Message { flow, seen, info, start, end, .. } => {
                    let frame = info.with(&self.arena[*start..*end]);
                    let ev = Event::Message { flow: *flow, version: *seen, frame };
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
#[derive(Default)]
struct Queues {
    /// Filled and not yet decoded, oldest first.
    todo: VecDeque<Batch>,
    /// Decoded, waiting for their turn.
    done: BTreeMap<u64, Batch>,
    /// Empty, for the pipeline thread to fill.
    free: Vec<Batch>,
    /// How many batches the pipeline thread filled, once it has queued its last one.
    total: Option<u64>,
    /// A thread stopped by a panic: the others stop waiting.
    abandoned: bool,
}

struct Shared {
    q: Mutex<Queues>,
    /// A batch was queued or decoded, or the capture ended: for the calling thread.
    ready: Condvar,
    /// A batch was queued, or the capture ended: for the workers.
    work: Condvar,
    /// A batch came back empty: for the pipeline thread.
    freed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A panic elsewhere is reported by the scope; the queues themselves stay consistent.
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, cv: &Condvar, g: MutexGuard<'a, Queues>) -> MutexGuard<'a, Queues> {
        cv.wait(g).unwrap_or_else(|e| e.into_inner())
    }

    fn decoded(&self, b: Batch) {
        let mut q = self.lock();
        q.done.insert(b.seq, b);
        drop(q);
        self.ready.notify_one();
    }

    fn wake_all(&self) {
        self.ready.notify_all();
        self.work.notify_all();
        self.freed.notify_all();
    }
}

/// Marks the queues abandoned if its thread unwinds, so that no other thread waits forever
/// for a batch that thread held.
struct Abandon<'a>(&'a Shared);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().abandoned = true;
            self.0.wake_all();
        }
    }
}

/// Run the pipeline over `path` with `jobs` threads sharing the decoding; `sink` gets every
/// event in capture order, with the decoded message for [`Event::Message`] (None for the
/// others). `decoder` chooses the versions (its `forced` is `--protocol-version`).
pub fn run_path_decoded(
    path: &str,
    settings: &Settings,
    decoder: &Decoder,
    jobs: usize,
    batch_items: usize,
    sink: &mut dyn FnMut(&Event<'_>, Option<&Decoded>),
) -> Result<Stats, CaptureError> {
    let jobs = jobs.max(2);
    let batch_items = batch_items.max(1);
    let shared = Shared {
        q: Mutex::new(Queues {
            free: (0..2 * jobs + 2).map(|_| Batch::default()).collect(),
            ..Queues::default()
        }),
        ready: Condvar::new(),
        work: Condvar::new(),
        freed: Condvar::new(),
    };
    let shared = &shared;
    std::thread::scope(|scope| {
        for _ in 2..jobs {
            scope.spawn(move || {
                let _abandon = Abandon(shared);
                loop {
                    let mut q = shared.lock();
                    let mut b = loop {
                        if q.abandoned {
                            return;
                        }
                        if let Some(b) = q.todo.pop_front() {
                            break b;
                        }
                        if q.total.is_some() {
                            return;
                        }
                        q = shared.wait(&shared.work, q);
                    };
                    drop(q);
                    b.decode();
                    shared.decoded(b);
                }
            });
        }
        let producer = scope.spawn(move || {
            let _abandon = Abandon(shared);
            let mut versions: crate::IntMap<u32, VersionState> = Default::default();
            let mut seq = 0u64;
            let mut batch = shared.lock().free.pop();
            let res = pipeline::run_path(path, settings, &mut |ev| {
                let Some(b) = batch.as_mut() else { return };
                match &ev {
                    Event::Message { flow, version, frame } => {
                        let st = versions.entry(flow.conn).or_default();
                        let (v, source) = decoder.choose_version(frame.bytes, *version, st);
                        let start = b.arena.len();
                        b.arena.extend_from_slice(frame.bytes);
                        b.items.push(Item::Message {
                            flow: *flow,
                            seen: *version,
                            version: v,
                            source,
                            info: frame.info(),
                            start,
                            end: b.arena.len(),
                        });
                        b.messages += 1;
                    }
                    other => {
                        if let Event::ConnectionEnd { conn, .. } = other {
                            versions.remove(conn);
                        }
                        b.items.push(Item::Other(other.detached().expect("not a message")));
                    }
                }
                if b.arena.len() >= BATCH_BYTES || b.items.len() >= batch_items {
                    let mut full = batch.take().expect("batch");
                    full.seq = seq;
                    seq += 1;
                    batch = queue_and_refill(shared, full);
                }
            });
            let mut q = shared.lock();
            if let Some(mut last) = batch.take() {
                if !last.items.is_empty() {
                    last.seq = seq;
                    seq += 1;
                    q.todo.push_back(last);
                }
            }
            q.total = Some(seq);
            drop(q);
            shared.wake_all();
            res
        });
        consume(shared, sink);
        producer.join().expect("pipeline thread")
    })
}

/// The pipeline thread's hand-over of a full batch; returns an empty one to fill (None: the
/// other threads are gone, stop filling).
fn queue_and_refill(shared: &Shared, full: Batch) -> Option<Batch> {
    let mut q = shared.lock();
    q.todo.push_back(full);
    shared.ready.notify_one();
    shared.work.notify_one();
    loop {
        if q.abandoned {
            return None;
        }
        if let Some(b) = q.free.pop() {
            return Some(b);
        }
        // Every batch is in use: decode the newest waiting one rather than wait, but never
        // the only one, which the calling thread would then have to wait for.
        if q.todo.len() >= 2 {
            let mut b = q.todo.pop_back().expect("two batches waiting");
            drop(q);
            b.decode();
            shared.decoded(b);
            q = shared.lock();
            continue;
        }
        q = shared.wait(&shared.freed, q);
    }
}

/// The calling thread: every batch in sequence, decoded (here, if it is not yet), to the sink.
fn consume(shared: &Shared, sink: &mut dyn FnMut(&Event<'_>, Option<&Decoded>)) {
    let _abandon = Abandon(shared);
    let mut next = 0u64;
    while let Some(mut b) = next_batch(shared, next) {
        b.replay(sink);
        b.clear();
        next += 1;
        shared.lock().free.push(b);
        shared.freed.notify_one();
    }
}

/// Batch number `next`, decoded; None once every batch was handed on (or a thread failed).
fn next_batch(shared: &Shared, next: u64) -> Option<Batch> {
    let mut q = shared.lock();
    loop {
        if let Some(b) = q.done.remove(&next) {
            return Some(b);
        }
        if q.abandoned || q.total == Some(next) {
            return None;
        }
        if let Some(mut b) = q.todo.pop_front() {
            drop(q);
            b.decode();
            if b.seq == next {
                return Some(b);
            }
            // An older batch is being decoded elsewhere: this one waits for its turn.
            q = shared.lock();
            q.done.insert(b.seq, b);
            continue;
        }
        q = shared.wait(&shared.ready, q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/captures/contact-center.pcapng");

    fn events(jobs: usize, batch_items: usize) -> Vec<String> {
        let mut got = Vec::new();
        let decoder = Decoder::default();
        run_path_decoded(CAPTURE, &Settings::default(), &decoder, jobs, batch_items, &mut |ev, d| {
            got.push(format!("{ev:?} {:?}", d.map(|d| (d.msg_type, d.fields.len(), d.anomalies.len()))));
        })
        .expect("capture reads");
        got
    }

    #[test]
    fn every_thread_count_and_batch_size_gives_the_single_threaded_sequence() {
        let mut want = Vec::new();
        let decoder = Decoder::default();
        let mut versions: crate::IntMap<u32, VersionState> = Default::default();
        let mut d = Decoded::default();
        pipeline::run_path(CAPTURE, &Settings::default(), &mut |ev| {
            let decoded = match &ev {
                Event::Message { flow, version, frame } => {
                    let st = versions.entry(flow.conn).or_default();
                    decoder.decode_into(frame.bytes, *version, st, &mut d);
                    Some((d.msg_type, d.fields.len(), d.anomalies.len()))
                }
                _ => None,
            };
            want.push(format!("{ev:?} {decoded:?}"));
        })
        .expect("capture reads");
        assert!(want.len() > 100);
        for (jobs, items) in [(2, 1), (2, 5), (3, 2), (4, 512)] {
            assert!(events(jobs, items) == want, "-j {jobs}, {items} events per batch");
        }
    }

    #[test]
    fn a_panicking_sink_stops_every_thread() {
        for jobs in [2, 3] {
            let r = std::panic::catch_unwind(|| {
                let mut n = 0;
                let decoder = Decoder::default();
                run_path_decoded(CAPTURE, &Settings::default(), &decoder, jobs, 2, &mut |_, _| {
                    n += 1;
                    assert!(n < 20, "sink fails");
                })
            });
            assert!(r.is_err(), "the panic reaches the caller, no thread is left waiting");
        }
    }
}
