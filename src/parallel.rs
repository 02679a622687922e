//! Messages decoded on worker threads, delivered in capture order: `-j N` of the analysis
//! commands (`check`, `timeline`, `stats`).
//!
//! Three kinds of threads: one runs the capture, reassembly and framing (and chooses each
//! message's protocol version, in order, per connection, exactly as a single-threaded
//! [`Decoder::decode_into`] would); `jobs` workers decode batches of messages; the calling
//! thread hands every event, in capture order, with its decoded message, to the sink. The
//! sink therefore sees exactly what a single-threaded run gives it.
//!
//! Memory is bounded: a fixed number of batches circulate (the pipeline thread waits for
//! one to come back before filling another), each holding at most [`BATCH_BYTES`] of
//! messages or `batch_items` events.

use crate::capture::CaptureError;
use crate::cti::decode::{decode_at, Decoded, Decoder, VersionSource, VersionState};
use crate::cti::framing::FrameInfo;
use crate::pipeline::{self, Event, Flow, Settings, Stats};
use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};

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

/// Run the pipeline over `path` with `jobs` decoding threads; `sink` gets every event in
/// capture order, with the decoded message for [`Event::Message`] (None for the others).
/// `decoder` chooses the versions (its `forced` is `--protocol-version`).
pub fn run_path_decoded(
    path: &str,
    settings: &Settings,
    decoder: &Decoder,
    jobs: usize,
    batch_items: usize,
    sink: &mut dyn FnMut(&Event<'_>, Option<&Decoded>),
) -> Result<Stats, CaptureError> {
    let jobs = jobs.max(1);
    let batch_items = batch_items.max(1);
    let (work_tx, work_rx) = mpsc::channel::<Batch>();
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = mpsc::channel::<Batch>();
    // The batches in circulation: queued, being decoded, decoded and waiting for their turn.
    let (free_tx, free_rx) = mpsc::channel::<Batch>();
    for _ in 0..2 * jobs + 2 {
        free_tx.send(Batch::default()).expect("receiver alive");
    }
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let rx = Arc::clone(&work_rx);
            let tx = done_tx.clone();
            scope.spawn(move || loop {
                let next = rx.lock().expect("work queue").recv();
                let Ok(mut b) = next else { break };
                b.decode();
                if tx.send(b).is_err() {
                    break;
                }
            });
        }
        drop(done_tx);
        let producer = scope.spawn(move || {
            let mut versions: crate::IntMap<u32, VersionState> = Default::default();
            let mut seq = 0u64;
            let mut batch = free_rx.recv().ok();
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
                    // A closed queue or pool means the consumer is gone: stop filling.
                    if work_tx.send(full).is_ok() {
                        batch = free_rx.recv().ok();
                    }
                }
            });
            if let Some(mut last) = batch.take() {
                if !last.items.is_empty() {
                    last.seq = seq;
                    let _ = work_tx.send(last);
                }
            }
            res
        });
        // Decoded batches in capture order.
        let mut pending: BTreeMap<u64, Batch> = BTreeMap::new();
        let mut next = 0u64;
        for b in done_rx.iter() {
            pending.insert(b.seq, b);
            while let Some(mut b) = pending.remove(&next) {
                b.replay(sink);
                b.clear();
                next += 1;
                let _ = free_tx.send(b);
            }
        }
        producer.join().expect("pipeline thread")
    })
}
