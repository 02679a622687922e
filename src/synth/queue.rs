//! The simulation's clock and event queue: time units, a time-ordered queue of events of
//! any type (ties in the order they were queued), and the pace that compresses human
//! durations (talk time, wrap-up) to fit the requested run.

use super::rng::Rng;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Nanoseconds per microsecond, millisecond and second of simulated time.
pub const US: i64 = 1_000;
pub const MS: i64 = 1_000_000;
pub const SEC: i64 = 1_000_000_000;

/// A queue entry: time, insertion number (ties keep insertion order) and the slot of the
/// event in the slab, so the heap moves small keys only.
struct Entry {
    t: i64,
    seq: u64,
    slot: u32,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed: the heap pops the earliest entry first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.t, o.seq).cmp(&(self.t, self.seq))
    }
}

/// Events of type `E` ordered by time, and the current time: the time of the last event
/// taken (it never goes back).
pub struct Queue<E> {
    heap: BinaryHeap<Entry>,
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
    now: i64,
}

impl<E> Queue<E> {
    pub fn new(start: i64) -> Self {
        Queue { heap: BinaryHeap::new(), slab: Vec::new(), free: Vec::new(), seq: 0, now: start }
    }

    /// The current simulated time (nanoseconds since the epoch).
    #[inline]
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Queues `ev` (of any event type the queue's type is made from) at time `t`.
    pub fn at(&mut self, t: i64, ev: impl Into<E>) {
        self.seq += 1;
        let ev = Some(ev.into());
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = ev;
                i
            }
            None => {
                self.slab.push(ev);
                self.slab.len() as u32 - 1
            }
        };
        self.heap.push(Entry { t, seq: self.seq, slot });
    }

    /// Takes the earliest event and moves the clock to its time.
    pub fn pop(&mut self) -> Option<E> {
        let Entry { t, slot, .. } = self.heap.pop()?;
        let ev = self.slab[slot as usize].take().expect("queued event");
        self.free.push(slot);
        self.now = t.max(self.now);
        Some(ev)
    }
}

/// How much human durations are compressed: `scale` seconds of simulated time per second
/// of a natural call flow.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub scale: f64,
}

impl Pace {
    /// A duration drawn uniformly from `lo_s..hi_s` natural seconds, compressed (at least
    /// 50 ms), in nanoseconds.
    pub fn dur(self, rng: &mut Rng, lo_s: f64, hi_s: f64) -> i64 {
        let s = lo_s + (hi_s - lo_s) * rng.unit();
        ((s * self.scale).max(0.05) * SEC as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_ties_in_queueing_order() {
        let mut q: Queue<u32> = Queue::new(100);
        q.at(300, 1u32);
        q.at(200, 2u32);
        q.at(300, 3u32);
        q.at(200, 4u32);
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.now(), 200);
        q.at(150, 5u32);
        assert_eq!(q.pop(), Some(5));
        assert_eq!(q.now(), 200, "the clock does not go back");
        assert_eq!(q.pop(), Some(4));
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.now(), 300);
        assert_eq!(q.pop(), None);
    }
}
