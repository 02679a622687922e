//! Fuzz harnesses, shared by the cargo-fuzz targets in `fuzz/` and by the stable-Rust
//! mutation test that `cargo test` runs over the seed corpora (`tests/mutation.rs`).
//!
//! Each harness must never panic, hang or allocate without bound, whatever the input; where
//! the output has an invariant, the harness asserts it.

use crate::cti::decode::{self, Decoded, Decoder, VersionSource, VersionState};
use crate::cti::framing::{Framer, FramerEvent, HEADER_LEN};
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
    let mut check = |ev: FramerEvent<'_>| {
        if let FramerEvent::Frame(fr) = ev {
            assert_eq!(fr.bytes.len(), HEADER_LEN + fr.length as usize);
            assert!(fr.first_frame <= fr.last_frame);
        }
    };
    for (i, c) in stream.chunks(chunk).enumerate() {
        if gap_every > 0 && i % gap_every == gap_every - 1 {
            f.gap(off, c.len() as u64, i as u64, &mut check);
        } else {
            f.push(off, c, i as u64, 0, &mut check);
        }
        off += c.len() as u64;
        // Held bytes stay bounded by the hard cap on a message.
        assert!(f.buffered() <= (1 << 16) + 2 * HEADER_LEN + chunk);
    }
    f.finish(0, 0, &mut check);
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
