//! Fuzz harnesses, shared by the cargo-fuzz targets in `fuzz/` and by the stable-Rust
//! mutation test that `cargo test` runs over the seed corpora (`tests/mutation.rs`).
//!
//! Each harness must never panic, hang or allocate without bound, whatever the input; where
//! the output has an invariant, the harness asserts it.

use crate::cti::decode::{self, Decoded, Decoder, Part, Value, VersionSource, VersionState};
use crate::cti::encode::MessageBuilder;
use crate::cti::framing::{Framer, FramerEvent, HEADER_LEN};
use crate::cti::spec::{self, FieldId, FloatField, MessageSpec, Presence, ValueKind, ValueTable, WireType};
use crate::net::tcp::{Reassembler, ReassemblySettings, Side, StreamEvent};
use crate::net::{TcpFlags, TcpSegment};
use crate::pipeline::{Event, Pipeline, Settings};
use crate::render::{events, json, summary::Summary, tree};
use crate::stage::Stage;

/// First byte: protocol version (13..=25) or, above that range, "infer from the bytes".
pub fn decode_frame(data: &[u8]) {
    let Some((&v, frame)) = data.split_first() else { return };
    let mut d = Decoded::default();
    if (13..=25).contains(&v) {
        decode::decode_at(frame, v as u32, VersionSource::Forced, &mut d);
    } else {
        let mut st = VersionState::default();
        Decoder::default().decode_into(frame, None, &mut st, &mut d);
    }
    check_decoded(frame, &d);
    render_message(frame, &d);
}

/// Offsets and lengths of every decoded field lie inside the frame.
fn check_decoded(frame: &[u8], d: &Decoded) {
    for f in &d.fields {
        assert!((f.offset as usize + f.len as usize) <= frame.len(), "field {} outside the frame", f.name());
        assert!((f.data_offset() as usize + f.data_len() as usize) <= frame.len());
    }
    assert!(d.anomalies.len() <= decode::MAX_ANOMALIES_PER_MESSAGE);
}

fn render_message(frame: &[u8], d: &Decoded) {
    let flow = crate::pipeline::Flow {
        conn: 0,
        dir: crate::pipeline::Direction::ToClient,
        src: "127.0.0.1:42027".parse().expect("literal"),
        dst: "127.0.0.1:50000".parse().expect("literal"),
    };
    let (length, msg_type) = crate::cti::framing::parse_header(frame).unwrap_or((0, 0));
    let f = crate::cti::framing::Frame {
        offset: 0,
        first_frame: 1,
        last_frame: 1,
        ts_ns: 0,
        msg_type,
        length,
        bytes: frame,
    };
    let mut sink = std::io::sink();
    tree::write_tree(&mut sink, &flow, &f, d).expect("sink");
    json::write_message(&mut sink, &flow, &f, d).expect("sink");
    Summary::default().write_message(&mut sink, &flow, &f, d).expect("sink");
    // The JSON must parse.
    let mut buf = Vec::new();
    json::write_message(&mut buf, &flow, &f, d).expect("vec");
    serde_json::from_slice::<serde_json::Value>(&buf).expect("JSON output parses");
}

/// Input: a control prefix (chunk sizes and gap positions), then the stream bytes.
///
/// Besides well-formed frames and bounded buffers: conservation. Every byte of the stream
/// is accounted for exactly once, in a frame (equal to the stream's bytes there), a skipped
/// run, a declared gap or an incomplete tail; the pieces tile the stream, so their lengths
/// add up to its length; frames come in strictly increasing offsets.
pub fn framer_stream(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let (ctl, stream) = data.split_at(4);
    let synced = ctl[0] & 1 == 1;
    let chunk = (ctl[1] as usize % 64) + 1;
    let gap_every = ctl[2] as usize;
    let mut f = if synced { Framer::new_synced() } else { Framer::new_midstream() };
    let mut off = 0u64;
    // (offset, len, what) of every piece of the stream accounted for.
    let mut pieces: Vec<(u64, u64, &'static str)> = Vec::new();
    let mut last_frame: Option<u64> = None;
    let mut check = |ev: FramerEvent<'_>, pieces: &mut Vec<(u64, u64, &'static str)>| match ev {
        FramerEvent::Frame(fr) => {
            assert_eq!(fr.bytes.len(), HEADER_LEN + fr.length as usize);
            assert!(fr.first_frame <= fr.last_frame);
            let at = fr.offset as usize;
            assert_eq!(
                stream.get(at..at + fr.bytes.len()),
                Some(fr.bytes),
                "frame at {at}: the stream's bytes"
            );
            assert!(
                last_frame.is_none_or(|l| fr.offset > l),
                "frame offsets increase: {last_frame:?} then {at}"
            );
            last_frame = Some(fr.offset);
            pieces.push((fr.offset, fr.bytes.len() as u64, "frame"));
        }
        FramerEvent::Skipped { offset, len, .. } => {
            assert!(len > 0, "an empty skipped run at {offset}");
            pieces.push((offset, len, "skipped"));
        }
        FramerEvent::Incomplete { offset, have, need, .. } => {
            assert!(have > 0 && have < need, "incomplete at {offset}: {have} of {need}");
            pieces.push((offset, have, "incomplete"));
        }
        FramerEvent::Implausible { .. } => {}
    };
    for (i, c) in stream.chunks(chunk).enumerate() {
        if gap_every > 0 && i % gap_every == gap_every - 1 {
            f.gap(off, c.len() as u64, i as u64, &mut |e| check(e, &mut pieces));
            pieces.push((off, c.len() as u64, "gap"));
        } else {
            f.push(off, c, i as u64, 0, &mut |e| check(e, &mut pieces));
        }
        off += c.len() as u64;
        // Held bytes stay bounded by the hard cap on a message.
        assert!(f.buffered() <= (1 << 16) + 2 * HEADER_LEN + chunk);
    }
    f.finish(0, 0, &mut |e| check(e, &mut pieces));
    assert_eq!(f.buffered(), 0, "nothing held after finish");
    let total: u64 = pieces.iter().map(|p| p.1).sum();
    assert_eq!(total, stream.len() as u64, "frames + skipped + gaps + incomplete = stream: {pieces:?}");
    pieces.sort_by_key(|p| p.0);
    let mut at = 0u64;
    for &(offset, len, what) in &pieces {
        assert_eq!(offset, at, "{what} of {len} bytes at {offset}: the pieces tile the stream: {pieces:?}");
        at += len;
    }
}

/// Input: a plan for a stream of well-formed messages (types the tables know, bodies of
/// 16 to 300 bytes of field-like filler, as many as the input asks), one of which has its
/// MessageLength damaged (one byte short or long, four or eight bytes long, or its high bit
/// flipped), sent as TCP would carry it: one message per segment, or segments of 256 to
/// 1500 bytes cut anywhere.
///
/// The framer's look-ahead: every message but the damaged one and the one after it is
/// framed at its offset with its bytes, and nothing waits for the damaged length (no
/// incomplete message is reported); the pieces still tile the stream. (Segments of a few
/// bytes each are outside the promise: a message that ends where the data handed in ends is
/// accepted without a look at the next header, see [`crate::cti::framing`].)
pub fn framer_damaged_length(data: &[u8]) {
    // Body bytes: a run of them read as a MessageLength is far over any limit.
    const FILLER: u8 = 0xa5;
    let mut c = Choices { data };
    let types: Vec<u32> = (1..=40).filter(|&t| crate::cti::spec::type_info(t).is_some()).collect();
    let n = 2 + c.upto(38);
    let mut stream = Vec::new();
    let mut starts = Vec::with_capacity(n);
    for _ in 0..n {
        let ty = types[c.upto(types.len() - 1)];
        let len = 16 + c.upto(284) as u32;
        starts.push(stream.len());
        stream.extend_from_slice(&len.to_be_bytes());
        stream.extend_from_slice(&ty.to_be_bytes());
        stream.resize(stream.len() + len as usize, FILLER);
    }
    starts.push(stream.len());
    let damaged = c.upto(n - 1);
    let at = starts[damaged];
    let len = u32::from_be_bytes(stream[at..at + 4].try_into().expect("4 bytes"));
    let wrong = match c.byte() % 5 {
        0 => len + 1,
        1 => len - 1,
        2 => len + 4,
        3 => len + 8,
        _ => len ^ 0x8000_0000,
    };
    stream[at..at + 4].copy_from_slice(&wrong.to_be_bytes());
    // None: one message per segment.
    let chunk = c.bool().then(|| 256 + c.upto(1_244));
    let original = |i: usize| &stream[starts[i]..starts[i + 1]];
    let mut f = Framer::new_synced();
    let mut framed: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut covered = 0u64;
    let mut incomplete = false;
    let mut on = |ev: FramerEvent<'_>| match ev {
        FramerEvent::Frame(fr) => {
            covered += fr.bytes.len() as u64;
            framed.push((fr.offset, fr.bytes.to_vec()));
        }
        FramerEvent::Skipped { len, .. } => covered += len,
        FramerEvent::Incomplete { have, .. } => {
            covered += have;
            incomplete = true;
        }
        FramerEvent::Implausible { .. } => {}
    };
    let pieces: Vec<&[u8]> = match chunk {
        Some(size) => stream.chunks(size).collect(),
        None => starts.windows(2).map(|w| &stream[w[0]..w[1]]).collect(),
    };
    let mut off = 0u64;
    for (i, piece) in pieces.into_iter().enumerate() {
        f.push(off, piece, i as u64, 0, &mut on);
        off += piece.len() as u64;
    }
    f.finish(0, 0, &mut on);
    assert_eq!(covered, stream.len() as u64, "the pieces cover the stream");
    for i in (0..n).filter(|&i| i != damaged && i != damaged + 1) {
        let want = (starts[i] as u64, original(i).to_vec());
        assert!(
            framed.contains(&want),
            "message {i} of {n} (damaged: {damaged}, length {len} -> {wrong}, {chunk:?}) not framed"
        );
    }
    // A damaged last message may end the stream short of its length: that one waits.
    assert!(!incomplete || damaged == n - 1, "an incomplete message after damage to {damaged} of {n}");
}

/// Arbitrary bytes as a capture file through everything.
pub fn capture_pipeline(data: &[u8]) {
    let mut p = Pipeline::new(Settings::default());
    let mut stage = Stage::new(None);
    let mut sink = std::io::sink();
    let mut summary = Summary::default();
    let mut handle = |ev: Event<'_>| match (&ev, stage.decode(&ev)) {
        (Event::Message { flow, frame }, Some(d)) => {
            check_decoded(frame.bytes, d);
            tree::write_tree(&mut sink, flow, frame, d).expect("sink");
            json::write_message(&mut sink, flow, frame, d).expect("sink");
        }
        _ => {
            events::write_event_json(&mut sink, &ev).expect("sink");
            summary.write_event(&mut sink, &ev).expect("sink");
        }
    };
    let _ = crate::capture::read_bytes("fuzz", data, &mut |pkt| p.packet(pkt, &mut handle));
    p.finish(&mut handle);
}

/// The input bytes as a source of choices: each draw takes the next byte, and an exhausted
/// input draws zeros (the smallest choice), so every input is a valid plan.
struct Choices<'a> {
    data: &'a [u8],
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }
    /// A number in `0..=max`.
    fn upto(&mut self, max: usize) -> usize {
        if max == 0 {
            return 0;
        }
        let r = if max < 256 { self.byte() as usize } else { self.u32() as usize };
        r % (max + 1)
    }
    /// A length in `0..=max`, often short, sometimes the maximum.
    fn len(&mut self, max: usize) -> usize {
        match self.byte() % 8 {
            0 => max,
            1..=2 => self.upto(max),
            _ => self.upto(max.min(12)),
        }
    }
    /// `n` ASCII characters without NUL (1..=127).
    fn text(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(1 + self.byte() % 127)).collect()
    }
}

/// A floating value planned by [`encode_decode`].
#[derive(Debug, Clone)]
enum Planned {
    Num(u64),
    /// An array of numeric values (a field whose length is given by a count).
    Array(Vec<u64>),
    Text(String),
    Bytes(Vec<u8>),
    Var(String, String),
    Arr(u8, String, String),
}

/// The data length of a planned value of field `f`.
fn planned_len(f: &FloatField, v: &Planned) -> usize {
    let size = f.ty.fixed_size().unwrap_or(0);
    match v {
        Planned::Num(_) => size,
        Planned::Array(a) => size * a.len(),
        Planned::Text(s) => s.len() + 1,
        Planned::Bytes(b) => b.len(),
        Planned::Var(n, v) => n.len() + v.len() + 2,
        Planned::Arr(_, n, v) => n.len() + v.len() + 3,
    }
}

/// The value a numeric field of type `ty` holds after decoding `v` (`v` cut to the type's
/// size and sign-extended for signed types).
fn numeric_value(ty: WireType, v: u64) -> Value {
    match ty {
        WireType::Char => Value::Signed(v as u8 as i8 as i64),
        WireType::UChar => Value::Unsigned(v & 0xff),
        WireType::Short => Value::Signed(v as u16 as i16 as i64),
        WireType::UShort => Value::Unsigned(v & 0xffff),
        WireType::Int => Value::Signed(v as u32 as i32 as i64),
        WireType::UInt => Value::Unsigned(v & 0xffff_ffff),
        WireType::Bool => Value::Bool(v as u16),
        WireType::Time => Value::Time(v as u32),
        other => panic!("{} is not a numeric type the encoder sets", other.name()),
    }
}

/// A value of numeric type `ty` that its value table (if any) knows: an entry of an
/// enumeration, named bits of a mask, anything for a plain number or no table. Entries
/// that do not fit the type are not chosen (the type cannot carry them). `None` when the
/// table has no entry that fits.
fn choose_number(c: &mut Choices<'_>, ty: WireType, table: Option<&'static ValueTable>) -> Option<u64> {
    let size = ty.fixed_size().expect("numeric");
    let mask = if size >= 8 { u64::MAX } else { (1u64 << (8 * size)) - 1 };
    let fits = |v: u32| u64::from(v) & !mask == 0;
    match table {
        Some(t) if t.kind == ValueKind::Enum => {
            let ok: Vec<u32> = t.entries.iter().map(|e| e.0).filter(|&v| fits(v)).collect();
            (!ok.is_empty()).then(|| u64::from(ok[c.upto(ok.len() - 1)]))
        }
        Some(t) if t.kind == ValueKind::Mask => {
            let mut v = 0u32;
            for &(bits, _) in t.entries {
                if fits(bits) && c.bool() {
                    v |= bits;
                }
            }
            Some(u64::from(v))
        }
        Some(t) if c.byte() % 4 == 0 && !t.entries.is_empty() => {
            // A plain number: now and then one of its special values.
            let e = t.entries[c.upto(t.entries.len() - 1)].0;
            Some(u64::from(e) & mask)
        }
        _ => Some(u64::from(c.u32()) & mask),
    }
}

/// Plans floating fields for [`encode_decode`] under the limits that keep the message
/// free of anomalies: the maximum message size, the named-data budget, the floating header
/// width.
struct Planner<'a> {
    spec: &'static MessageSpec,
    version: u32,
    /// Floating header width (1 or 2 bytes each for tag and length).
    w: usize,
    /// Bytes of floating part still free (minimal sizes of the required fields not yet
    /// planned are reserved).
    budget: usize,
    named: usize,
    c: Choices<'a>,
    /// Planned floating fields, in wire order.
    items: Vec<(&'static FloatField, Planned)>,
    /// Instances planned per fixed count field.
    fixed_counts: Vec<(&'static str, u64)>,
}

impl Planner<'_> {
    /// Can this entry be encoded by field id at this version and decoded as itself: a
    /// published tag the version carries, the first entry with that tag (the decoder
    /// names a tag by its first entry) and the entry the builder finds for the field id.
    fn usable(&self, f: &'static FloatField) -> bool {
        let Some(tag) = f.tag else { return false };
        let first_with_tag = self.spec.floating.iter().find(|x| x.tag == Some(tag));
        let first_with_id = self.spec.floating.iter().find(|x| x.id == f.id);
        crate::cti::encode::tag_carried(tag, self.version)
            && first_with_tag.is_some_and(|x| std::ptr::eq(x, f))
            && first_with_id.is_some_and(|x| std::ptr::eq(x, f))
    }

    /// Is `name` a count field of a repeated floating field?
    fn is_counter(&self, name: &str) -> bool {
        self.spec.floating.iter().any(|x| x.repeat == Some(name))
    }

    fn count_max(&self, name: &str) -> usize {
        let max = spec::field_id(name).and_then(|id| spec::count_maximum(self.spec.id, id));
        max.map_or(3, |m| m as usize)
    }

    /// Smallest data length a value of `f` can have.
    fn min_len(f: &FloatField) -> usize {
        match f.ty {
            WireType::String => 1,
            WireType::Unspec => 0,
            WireType::NamedVar => 2,
            WireType::NamedArray => 3,
            ty => ty.fixed_size().unwrap_or(0),
        }
    }

    /// Longest data length allowed for `f`: its maximum (64 when the spec gives none), and
    /// what the floating header's length can say.
    fn max_len(&self, f: &FloatField) -> usize {
        let header_max = if self.w == 1 { 0xff } else { 0xffff };
        let spec_max = if f.max == 0 { 64 } else { usize::from(f.max) };
        spec_max.min(header_max)
    }

    /// A value for `f` whose data is at most `room` bytes; `None` if none fits.
    fn value(&mut self, f: &'static FloatField, room: usize) -> Option<Planned> {
        let max = self.max_len(f).min(room);
        if Self::min_len(f) > max {
            return None;
        }
        let c = &mut self.c;
        Some(match f.ty {
            WireType::String => {
                let n = c.len(max - 1);
                Planned::Text(c.text(n))
            }
            WireType::Unspec => {
                let n = c.len(max);
                Planned::Bytes((0..n).map(|_| c.byte()).collect())
            }
            WireType::NamedVar => {
                let n = c.len(max - 2);
                let split = c.upto(n);
                Planned::Var(c.text(split), c.text(n - split))
            }
            WireType::NamedArray => {
                let n = c.len(max - 3);
                let split = c.upto(n);
                let index = c.byte();
                Planned::Arr(index, c.text(split), c.text(n - split))
            }
            ty => {
                let table = f.values.or_else(|| f.tag.and_then(spec::tag).and_then(|t| t.values));
                if f.max_expr.is_some() {
                    let size = ty.fixed_size().expect("numeric");
                    let k = 1 + c.upto((max / size).clamp(1, 4) - 1);
                    let values: Option<Vec<u64>> = (0..k).map(|_| choose_number(c, ty, table)).collect();
                    Planned::Array(values?)
                } else {
                    Planned::Num(choose_number(c, ty, table)?)
                }
            }
        })
    }

    /// Plans field `f` with a value, if it fits the budgets; `required` fields had their
    /// minimal size reserved. Returns whether it was planned.
    fn push(&mut self, f: &'static FloatField, required: bool) -> bool {
        let head = 2 * self.w;
        let reserved = if required { head + Self::min_len(f) } else { 0 };
        self.budget += reserved;
        let named = matches!(f.ty, WireType::NamedVar | WireType::NamedArray);
        let mut room = self.budget.saturating_sub(head);
        if named {
            room = room.min(crate::cti::decode::NAMED_DATA_BUDGET - self.named);
        }
        let Some(v) = self.value(f, room) else {
            assert!(!required, "{}.{}: no room for a required field", self.spec.name, f.name);
            return false;
        };
        let n = planned_len(f, &v);
        self.budget -= head + n;
        if named {
            self.named += n;
        }
        self.items.push((f, v));
        true
    }

    /// Plans the instances of the fields counted by `counter`; returns how many.
    fn rounds(&mut self, counter: &'static str) -> u64 {
        let members: Vec<&'static FloatField> =
            self.spec.floating.iter().filter(|x| x.repeat == Some(counter) && self.usable(x)).collect();
        if members.is_empty() {
            return 0;
        }
        let max = self.count_max(counter);
        let want = if self.c.byte() % 16 == 0 { max } else { self.c.upto(max.min(4)) };
        let mut n = 0;
        for _ in 0..want {
            // A round is kept whole or not at all.
            let (items, budget, named) = (self.items.len(), self.budget, self.named);
            let mut ok = true;
            for (i, &m) in members.iter().enumerate() {
                // The first member is always there (the instance is counted by it), and
                // required members; the others when the input says so.
                let include = i == 0 || m.presence == Presence::Required || self.c.bool();
                if !include {
                    continue;
                }
                if !self.push(m, false) {
                    ok = false;
                    break;
                }
                if self.is_counter(m.name) {
                    let at = self.items.len() - 1;
                    let k = self.rounds(m.name);
                    self.items[at].1 = Planned::Num(k);
                }
            }
            if !ok {
                self.items.truncate(items);
                self.budget = budget;
                self.named = named;
                break;
            }
            n += 1;
        }
        n
    }
}

/// Round trip through the encoder and the decoder. Input: two bytes pick the message
/// layout (of [`spec::messages`]), one the protocol version (13..=25); the rest drives the
/// choices. Every fixed field is set (a value its table knows, or the count of the
/// instances planned for a count field); floating fields are chosen by the input: required
/// ones always, optional and conditional ones or not, repeated ones as many times as their
/// count says (within the documented maximum), each with a value within its maximum size
/// (from its value table when it has one), under the message size limit and the
/// named-data budget. The decoded message must have no anomaly and exactly the fields and
/// values that were set, in wire order, each where it was written.
pub fn encode_decode(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let all = spec::messages();
    let spec = &all[usize::from(u16::from_be_bytes([data[0], data[1]])) % all.len()];
    let version = 13 + u32::from(data[2]) % 13;
    let mut b = MessageBuilder::for_type(spec.id, version);
    let w = decode::tlv_width(version);
    let fixed_size = spec::fixed_size(spec, version);
    let mut p = Planner {
        spec,
        version,
        w,
        budget: spec::versions::max_message_size(version) - HEADER_LEN - fixed_size,
        named: 0,
        c: Choices { data: &data[3..] },
        items: Vec::new(),
        fixed_counts: Vec::new(),
    };
    // Reserve the smallest form of every required field planned unconditionally.
    let top_required =
        |f: &&'static FloatField| f.presence == Presence::Required && f.repeat.is_none() && p.usable(f);
    let reserve: usize = spec.floating.iter().filter(top_required).map(|f| 2 * w + Planner::min_len(f)).sum();
    p.budget = p.budget.checked_sub(reserve).expect("the required fields fit the message");
    // Floating fields in spec order; the instances of a count field's members go where its
    // first member is (a fixed count) or right after the count field (a floating one).
    let mut done: Vec<&str> = Vec::new();
    for f in spec.floating {
        match f.repeat {
            Some(counter) if !done.contains(&counter) => {
                done.push(counter);
                if spec.fixed.iter().any(|x| x.name == counter) {
                    let n = p.rounds(counter);
                    p.fixed_counts.push((counter, n));
                } else if !spec.floating.iter().any(|x| x.name == counter) {
                    // A count no field of the message holds: nothing to agree with.
                    p.rounds(counter);
                }
                // Otherwise the count is a floating field: planned with it.
            }
            Some(_) => {}
            None if !p.usable(f) => {}
            None => {
                let required = f.presence == Presence::Required;
                if required || p.c.bool() {
                    let planned = p.push(f, required);
                    if planned && p.is_counter(f.name) {
                        done.push(f.name);
                        let at = p.items.len() - 1;
                        let k = p.rounds(f.name);
                        p.items[at].1 = Planned::Num(k);
                    }
                }
            }
        }
    }
    let (mut c, items, fixed_counts) = (p.c, p.items, p.fixed_counts);
    // Fixed fields: every one of the layout at this version.
    let mut expected: Vec<(FieldId, Part, Option<u16>, Value)> = Vec::new();
    for f in spec::fixed_layout(spec, version) {
        let v = match fixed_counts.iter().find(|x| x.0 == f.name) {
            Some(&(_, n)) => n,
            None => choose_number(&mut c, f.ty, f.values)
                .unwrap_or_else(|| panic!("{}.{}: no value of its table fits", spec.name, f.name)),
        };
        // A field id set twice in one layout (none is): the first is the one set.
        let first = spec::fixed_layout(spec, version).find(|x| x.id == f.id).expect("itself");
        if std::ptr::eq(first, f) {
            b.set(f.id, v).expect("a fixed field of the layout");
            expected.push((f.id, Part::Fixed, None, numeric_value(f.ty, v)));
        } else {
            expected.push((f.id, Part::Fixed, None, numeric_value(f.ty, 0)));
        }
    }
    for (f, v) in &items {
        let r = match v {
            Planned::Num(n) => b.number(f.id, *n),
            Planned::Array(a) if a.len() == 1 => b.number(f.id, a[0]),
            Planned::Array(a) => {
                let size = f.ty.fixed_size().expect("numeric");
                let bytes: Vec<u8> = a.iter().flat_map(|x| x.to_be_bytes()[8 - size..].to_vec()).collect();
                b.bytes(f.id, &bytes)
            }
            Planned::Text(s) => b.text(f.id, s),
            Planned::Bytes(x) => b.bytes(f.id, x),
            Planned::Var(n, v) => b.named_var(n, v),
            Planned::Arr(i, n, v) => b.named_array(*i, n, v),
        };
        r.unwrap_or_else(|e| panic!("{}.{}: {e}", spec.name, f.name));
    }
    let frame = b.build();
    assert!(frame.len() <= spec::versions::max_message_size(version), "{}: planned too large", spec.name);
    let d = decode::decode(&frame, version, VersionSource::Forced);
    let ctx = || format!("{} at PV{version}, frame {}", spec.name, hex(&frame));
    assert!(d.anomalies.is_empty(), "{}: anomalies {:?}", ctx(), d.anomalies);
    assert_eq!(d.msg_type, spec.id_at(version), "{}", ctx());
    assert!(d.spec.is_some_and(|s| std::ptr::eq(s, spec)), "{}: decoded as {:?}", ctx(), d.type_name());
    assert_eq!(d.fields.len(), expected.len() + items.len(), "{}: field count", ctx());
    // Fields tile the body in wire order.
    let mut at = HEADER_LEN;
    for (i, field) in d.fields.iter().enumerate() {
        assert_eq!(field.offset as usize, at, "{}: field {i} ({}) offset", ctx(), field.name());
        at += field.len as usize;
    }
    assert_eq!(at, frame.len(), "{}: the fields cover the body", ctx());
    for (field, (id, part, tag, value)) in d.fields.iter().zip(&expected) {
        assert_eq!(
            (field.meta.id, field.part(), field.tag, field.value),
            (*id, *part, *tag, *value),
            "{}",
            ctx()
        );
    }
    for (field, (f, v)) in d.fields[expected.len()..].iter().zip(&items) {
        let what = || format!("{}: {} = {v:?} decoded as {:?}", ctx(), f.name, field.value);
        assert_eq!((field.meta.id, field.part(), field.tag), (f.id, Part::Floating, f.tag), "{}", what());
        assert!(field.spec().is_some_and(|s| std::ptr::eq(s, *f)), "{}", what());
        let size = f.ty.fixed_size().unwrap_or(0);
        let ok = match (v, field.value) {
            (Planned::Num(n), got) => got == numeric_value(f.ty, *n),
            (Planned::Array(a), got) if a.len() == 1 => got == numeric_value(f.ty, a[0]),
            (Planned::Array(a), Value::Bytes { start, len }) => {
                let want: Vec<u8> = a.iter().flat_map(|x| x.to_be_bytes()[8 - size..].to_vec()).collect();
                decode::range_bytes(&frame, (start, len)) == want
            }
            (Planned::Text(s), Value::Text { start, len }) => {
                decode::range_bytes(&frame, (start, len)) == s.as_bytes()
            }
            (Planned::Bytes(x), Value::Bytes { start, len }) => {
                decode::range_bytes(&frame, (start, len)) == x
            }
            (Planned::Var(n, v), Value::NamedVar { name, value_len }) => {
                decode::range_bytes(&frame, name) == n.as_bytes()
                    && decode::range_bytes(&frame, decode::named_value(name, value_len)) == v.as_bytes()
            }
            (Planned::Arr(i, n, v), Value::NamedArray { index, name, value_len }) => {
                index == *i
                    && decode::range_bytes(&frame, name) == n.as_bytes()
                    && decode::range_bytes(&frame, decode::named_value(name, value_len)) == v.as_bytes()
            }
            _ => false,
        };
        assert!(ok, "{}", what());
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One direction of a TCP connection through reassembly. Input: 8 control bytes (initial
/// sequence number, stream length, segment size, whether the reassembler has small limits,
/// whether the connection ends with FINs), then one byte per step choosing what happens to
/// the next segment of a known stream: sent in order, held back (reordered, released by a
/// later step), duplicated, dropped, cut by the snap length, or an acknowledgement from the
/// peer of a point the sender reached.
///
/// Conservation: the client's `Data` and `Gap` events follow one another without hole or
/// overlap from offset 0 to the end of the furthest segment captured, so delivered plus gap
/// bytes equal that length; every delivered byte equals the stream's byte at its offset;
/// identical copies never conflict; the counters agree with the events.
pub fn tcp_reassembly(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let (ctl, steps) = data.split_at(8);
    let isn = u32::from_be_bytes([ctl[0], ctl[1], ctl[2], ctl[3]]);
    let len = 1 + usize::from(u16::from_be_bytes([ctl[4], ctl[5]])) % 8192;
    let max_seg = 1 + usize::from(ctl[6]);
    let (small, fin) = (ctl[7] & 1 == 1, ctl[7] & 2 == 2);
    let stream: Vec<u8> = (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0]).collect();
    let settings = if small {
        ReassemblySettings {
            max_buffered_per_direction: 256 + usize::from(ctl[6]) * 8,
            retransmit_window: usize::from(ctl[5]),
            ..ReassemblySettings::default()
        }
    } else {
        ReassemblySettings::default()
    };
    let cli: std::net::SocketAddr = ([10, 0, 0, 1], 40000).into();
    let srv: std::net::SocketAddr = ([10, 0, 0, 2], 42027).into();
    let srv_isn = 7_000_000u32;
    // The client's stream as the events tell it: next offset expected, delivered and gap bytes.
    let (mut cursor, mut delivered, mut gaps) = (0u64, 0u64, 0u64);
    let mut check = |ev: StreamEvent<'_>| match ev {
        StreamEvent::Data { side: Side::A, offset, data, .. } => {
            assert_eq!(offset, cursor, "data at {offset}, expected at {cursor}");
            assert!(!data.is_empty());
            let at = offset as usize;
            assert_eq!(
                stream.get(at..at + data.len()),
                Some(data),
                "delivered bytes at {at} are the stream's"
            );
            cursor += data.len() as u64;
            delivered += data.len() as u64;
        }
        StreamEvent::Gap { side: Side::A, offset, len, .. } => {
            assert_eq!(offset, cursor, "gap at {offset}, expected at {cursor}");
            assert!(len > 0);
            cursor += len;
            gaps += len;
        }
        StreamEvent::Data { side: Side::B, .. } | StreamEvent::Gap { side: Side::B, .. } => {
            panic!("the server sent no data")
        }
        StreamEvent::Conflict { offset, len, .. } => {
            panic!("identical copies conflict at {offset} ({len} bytes)")
        }
        _ => {}
    };
    // Client segments go from `cli` to `srv`, server segments back.
    let mut t = TcpFeed { r: Reassembler::new(settings), frame: 0, cli, srv };
    const SYN: u8 = TcpFlags::SYN;
    const ACK: u8 = TcpFlags::ACK;
    const FIN: u8 = TcpFlags::FIN;
    let data_seq = isn.wrapping_add(1);
    t.seg(true, isn, 0, SYN, &[], 0, &mut check);
    t.seg(false, srv_isn, data_seq, SYN | ACK, &[], 0, &mut check);
    t.seg(true, data_seq, srv_isn.wrapping_add(1), ACK, &[], 0, &mut check);
    // Segments of the stream: (start, end).
    let mut cuts = Vec::new();
    let mut at = 0;
    let mut c = Choices { data: steps };
    while at < len {
        let n = 1 + c.upto(max_seg - 1).min(len - at - 1);
        cuts.push((at, at + n));
        at += n;
    }
    let mut held: Vec<(usize, usize)> = Vec::new();
    // The furthest end of a segment captured (what reassembly can know of), and of one sent.
    let (mut captured_end, mut sent_end) = (0usize, 0usize);
    let send =
        |t: &mut TcpFeed, (s, e): (usize, usize), cut: bool, check: &mut dyn FnMut(StreamEvent<'_>)| {
            let payload = if cut { &stream[s..s + (e - s) / 2] } else { &stream[s..e] };
            t.seg(true, data_seq.wrapping_add(s as u32), srv_isn.wrapping_add(1), ACK, payload, e - s, check);
            e
        };
    for &s in &cuts {
        sent_end = sent_end.max(s.1);
        match c.byte() % 10 {
            0..=3 => captured_end = captured_end.max(send(&mut t, s, false, &mut check)),
            4 | 5 => held.push(s),
            6 => {
                captured_end = captured_end.max(send(&mut t, s, false, &mut check));
                held.push(s);
            }
            7 => {}
            8 => captured_end = captured_end.max(send(&mut t, s, true, &mut check)),
            _ => {
                // The peer acknowledges a point the sender reached (captured or not).
                let a = c.upto(sent_end);
                t.seg(
                    false,
                    srv_isn.wrapping_add(1),
                    data_seq.wrapping_add(a as u32),
                    ACK,
                    &[],
                    0,
                    &mut check,
                );
                captured_end = captured_end.max(send(&mut t, s, false, &mut check));
            }
        }
        // Now and then a held segment goes out, late.
        if !held.is_empty() && c.byte() % 3 == 0 {
            let i = c.upto(held.len() - 1);
            let h = held.remove(i);
            captured_end = captured_end.max(send(&mut t, h, false, &mut check));
        }
    }
    for h in std::mem::take(&mut held) {
        captured_end = captured_end.max(send(&mut t, h, false, &mut check));
    }
    if fin {
        let end = data_seq.wrapping_add(len as u32);
        t.seg(true, end, srv_isn.wrapping_add(1), FIN | ACK, &[], 0, &mut check);
        t.seg(false, srv_isn.wrapping_add(1), end.wrapping_add(1), FIN | ACK, &[], 0, &mut check);
    }
    t.r.finish(&mut check);
    let stats = t.r.stats().clone();
    assert_eq!(cursor, captured_end as u64, "delivered + gaps cover the stream captured");
    assert_eq!(delivered + gaps, captured_end as u64);
    assert_eq!((stats.delivered_bytes, stats.gap_bytes), (delivered, gaps), "counters agree with the events");
    assert_eq!(stats.conflicts, 0);
}

/// Feeds hand-made segments of one connection to a [`Reassembler`] (see [`tcp_reassembly`]).
struct TcpFeed {
    r: Reassembler,
    frame: u64,
    cli: std::net::SocketAddr,
    srv: std::net::SocketAddr,
}

impl TcpFeed {
    #[allow(clippy::too_many_arguments)]
    fn seg(
        &mut self,
        from_client: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
        wire: usize,
        check: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        self.frame += 1;
        let (src, dst) = if from_client { (self.cli, self.srv) } else { (self.srv, self.cli) };
        let s = TcpSegment {
            frame: self.frame,
            ts_ns: self.frame as i64 * 1000,
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(flags),
            payload,
            wire_payload_len: wire as u32,
        };
        self.r.segment(&s, check);
    }
}
