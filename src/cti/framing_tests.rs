//! Framing pinned value by value: a frame's parts, the words and phrases of the skip
//! reasons (the JSON `reason` of docs/json-schema.md), and the framer's boundaries.

use super::framing::*;

/// A message of type 3 (HEARTBEAT_REQ) with `body`.
fn msg(body: &[u8]) -> Vec<u8> {
    let mut m = (body.len() as u32).to_be_bytes().to_vec();
    m.extend_from_slice(&3u32.to_be_bytes());
    m.extend_from_slice(body);
    m
}

#[test]
fn a_frame_is_its_header_and_body() {
    let bytes = msg(&[0, 0, 0, 9]);
    let f =
        Frame { offset: 0, first_frame: 1, last_frame: 1, ts_ns: 0, msg_type: 3, length: 4, bytes: &bytes };
    assert_eq!(f.body(), &[0, 0, 0, 9]);
    let info = f.info();
    assert_eq!((info.msg_type, info.length), (3, 4));
    assert_eq!(info.with(&bytes).body(), &[0, 0, 0, 9]);
}

#[test]
fn skip_reasons_in_words() {
    let all = [
        (SkipReason::Midstream, "midstream", "the capture started mid-stream"),
        (SkipReason::AfterGap, "after_gap", "after a gap"),
        (SkipReason::Implausible, "implausible_header", "after an implausible header"),
        (SkipReason::BadLength, "bad_length", "a message's length did not lead to a plausible next header"),
        (SkipReason::StreamEnd, "stream_end", "the stream ended"),
        (
            SkipReason::BufferLimit,
            "buffer_limit",
            "the rest of a message given up at the buffer budget (max_buffered_total)",
        ),
    ];
    for (reason, word, phrase) in all {
        assert_eq!(reason.as_str(), word);
        assert_eq!(reason.explain(), phrase);
    }
}

/// Message of type `ty` (5 HEARTBEAT_REQ, 6 HEARTBEAT_CONF) with `body`.
fn typed(ty: u32, body: &[u8]) -> Vec<u8> {
    let mut m = (body.len() as u32).to_be_bytes().to_vec();
    m.extend_from_slice(&ty.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// (offset, length, reason) of a skip, or (offset, type, length) of a frame.
#[derive(Debug, PartialEq)]
enum Ev {
    Frame(u64, u32, u32),
    Skip(u64, u64, SkipReason),
    Incomplete(u64, u64, u64),
    Implausible(u64, u32),
}

fn push_in(f: &mut Framer, stream: &[u8], chunk: usize, evs: &mut Vec<Ev>) {
    for (i, c) in stream.chunks(chunk).enumerate() {
        f.push((i * chunk) as u64, c, i as u64 + 1, 0, &mut |e| evs.push(own(e)));
    }
}

fn own(e: FramerEvent<'_>) -> Ev {
    match e {
        FramerEvent::Frame(f) => Ev::Frame(f.offset, f.msg_type, f.length),
        FramerEvent::Skipped { offset, len, reason, .. } => Ev::Skip(offset, len, reason),
        FramerEvent::Incomplete { offset, have, need, .. } => Ev::Incomplete(offset, have, need),
        FramerEvent::Implausible { offset, length, .. } => Ev::Implausible(offset, length),
    }
}

#[test]
fn a_midstream_framer_fed_one_byte_at_a_time_finds_every_message() {
    // Five bytes of the end of an earlier message, then three messages.
    let mut stream = vec![0xff; 5];
    stream.extend(typed(5, &[0, 0, 0, 1]));
    stream.extend(typed(6, &[0, 0, 0, 1]));
    stream.extend(typed(5, &[0, 0, 0, 2, 0, 0, 0, 0]));
    for chunk in [1, 2, 3, 7, 11, stream.len()] {
        let mut f = Framer::new_midstream();
        let mut evs = Vec::new();
        push_in(&mut f, &stream, chunk, &mut evs);
        f.finish(99, 0, &mut |e| evs.push(own(e)));
        assert_eq!(
            evs,
            vec![
                Ev::Skip(0, 5, SkipReason::Midstream),
                Ev::Frame(5, 5, 4),
                Ev::Frame(17, 6, 4),
                Ev::Frame(29, 5, 8)
            ],
            "chunks of {chunk}"
        );
    }
}

#[test]
fn at_the_end_a_whole_message_stands_without_a_header_after_it() {
    // Junk, a message, and three bytes of a header the stream ends inside.
    let mut stream = vec![0xff; 5];
    stream.extend(typed(5, &[0, 0, 0, 1]));
    stream.extend([0, 0, 0]);
    let mut f = Framer::new_midstream();
    let mut evs = Vec::new();
    push_in(&mut f, &stream, stream.len(), &mut evs);
    assert!(evs.is_empty(), "{evs:?}");
    f.finish(2, 0, &mut |e| evs.push(own(e)));
    assert_eq!(
        evs,
        vec![Ev::Skip(0, 5, SkipReason::Midstream), Ev::Frame(5, 5, 4), Ev::Incomplete(17, 3, 8)]
    );
    // A message cut by the end is not one.
    let mut f = Framer::new_midstream();
    let mut evs = Vec::new();
    push_in(&mut f, &stream[..15], 15, &mut evs);
    f.finish(2, 0, &mut |e| evs.push(own(e)));
    assert_eq!(evs, vec![Ev::Skip(0, 15, SkipReason::Midstream)]);
}

#[test]
fn cti_is_recognised_mid_stream_up_to_the_last_header() {
    let settings = FramingSettings::default();
    assert!(!looks_like_cti(&[0xff; 20], false, &settings));
    assert!(!looks_like_cti(&[0xff; 3], false, &settings));
    // A lone header with no body, ending exactly where the data ends.
    let mut data = vec![0xff; 3];
    data.extend(typed(5, &[]));
    assert!(looks_like_cti(&data, false, &settings));
    // Two messages after junk.
    let mut data = vec![0xff; 3];
    data.extend(typed(5, &[0, 0, 0, 1]));
    data.extend(typed(6, &[0, 0, 0, 1]));
    assert!(looks_like_cti(&data, false, &settings));
    // A header of a type the tables do not know is no header, whatever its length says.
    let mut data = vec![0xff; 3];
    data.extend([0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
    assert!(!looks_like_cti(&data, false, &settings));
    // A message followed by too few bytes to confirm it is not enough either.
    let mut data = vec![0xff; 3];
    data.extend(typed(5, &[0, 0, 0, 1]));
    data.extend([0, 0, 0]);
    assert!(!looks_like_cti(&data, false, &settings));
    data.extend([0, 0, 0, 0, 6]);
    assert!(looks_like_cti(&data, false, &settings));
    // Confirmed by the next header, with bytes after that one (no message ends exactly
    // where the data ends).
    let mut data = vec![0xff; 3];
    data.extend(typed(5, &[0, 0, 0, 1]));
    data.extend(typed(6, &[0xee; 4]));
    data.extend([0xff; 3]);
    assert!(looks_like_cti(&data, false, &settings));
    // From the start, the first bytes must be the header.
    assert!(!looks_like_cti(&data, true, &settings));
    assert!(looks_like_cti(&data[3..], true, &settings));
}

#[test]
fn synced_from_the_first_header_found_until_a_gap() {
    let mut f = Framer::new_midstream();
    assert!(!f.is_synced());
    let mut stream = vec![0xff; 2];
    stream.extend(typed(5, &[0, 0, 0, 1]));
    let mut evs = Vec::new();
    push_in(&mut f, &stream, stream.len(), &mut evs);
    assert!(f.is_synced());
    f.gap(14, 10, 2, &mut |e| evs.push(own(e)));
    assert!(!f.is_synced());
    assert_eq!(evs, vec![Ev::Skip(0, 2, SkipReason::Midstream), Ev::Frame(2, 5, 4)]);
    assert!(Framer::new_synced().is_synced());
}

#[test]
fn the_bytes_held_are_the_message_being_assembled() {
    let m = typed(5, &[0, 0, 0, 1, 2, 3]);
    let mut f = Framer::new_synced();
    let mut evs = Vec::new();
    f.push(0, &m[..3], 1, 0, &mut |e| evs.push(own(e)));
    assert_eq!(f.buffered(), 3);
    f.push(3, &m[3..11], 2, 0, &mut |e| evs.push(own(e)));
    assert_eq!(f.buffered(), 11);
    assert!(f.held() >= 11);
    f.push(11, &m[11..], 3, 0, &mut |e| evs.push(own(e)));
    assert_eq!(f.buffered(), 0);
    assert_eq!(evs, vec![Ev::Frame(0, 5, 6)]);
}

#[test]
fn a_long_message_leaves_no_room_behind_even_with_the_next_one_begun() {
    // A 12,000-byte message assembled from two pieces, then 10 bytes of the next one.
    let big = typed(9, &[1u8; 12_000]);
    let next = typed(5, &[0, 0, 0, 1, 2, 3, 4, 5]);
    let mut f = Framer::new_synced();
    let mut evs = Vec::new();
    f.push(0, &big[..5_000], 1, 0, &mut |e| evs.push(own(e)));
    let rest = [&big[5_000..], &next[..10]].concat();
    f.push(5_000, &rest, 2, 0, &mut |e| evs.push(own(e)));
    assert_eq!(evs, vec![Ev::Frame(0, 9, 12_000)]);
    assert_eq!(f.buffered(), 10);
    f.trim();
    assert_eq!(f.buffered(), 10);
    assert!(f.held() <= 4 << 10, "{} bytes kept", f.held());
    // The message then completes from what was kept.
    f.push(12_018, &next[10..], 3, 0, &mut |e| evs.push(own(e)));
    assert_eq!(evs[1], Ev::Frame(12_008, 5, 8));
}

#[test]
fn under_pressure_a_framer_keeps_no_more_room_than_its_bytes() {
    let big = typed(9, &[1u8; 12_000]);
    let mut f = Framer::new_synced();
    let mut evs = Vec::new();
    f.push(0, &big[..5_000], 1, 0, &mut |e| evs.push(own(e)));
    f.push(5_000, &big[5_000..], 2, 0, &mut |e| evs.push(own(e)));
    assert_eq!(evs, vec![Ev::Frame(0, 9, 12_000)]);
    assert!(f.held() > 0);
    f.shrink();
    assert_eq!(f.held(), 0);
}

/// Events of a synced framer fed `stream` cut at `cuts`, then finished.
fn framed(stream: &[u8], cuts: &[usize]) -> Vec<Ev> {
    let mut f = Framer::new_synced();
    let mut evs = Vec::new();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(stream.len());
    for (i, w) in bounds.windows(2).enumerate() {
        f.push(w[0] as u64, &stream[w[0]..w[1]], i as u64 + 1, 0, &mut |e| evs.push(own(e)));
    }
    f.finish(99, 0, &mut |e| evs.push(own(e)));
    evs
}

#[test]
fn a_message_completed_from_the_next_segment_is_followed_at_its_offset() {
    let a = typed(5, &[0, 0, 0, 1, 9, 9, 9, 9]);
    let b = typed(6, &[0, 0, 0, 1]);
    let stream = [&a[..], &b[..]].concat();
    for cut in [3, 5, 8, 12] {
        assert_eq!(framed(&stream, &[cut]), vec![Ev::Frame(0, 5, 8), Ev::Frame(16, 6, 4)], "cut at {cut}");
    }
}

#[test]
fn a_length_two_short_found_when_the_header_after_it_is_split() {
    // A says 4 body bytes but carries 6: its declared end falls 2 bytes before B's header.
    let mut a = typed(5, &[0xee, 0xee, 0xee, 0xee, 0, 0]);
    a[3] = 4;
    let b = typed(6, &[0, 0, 0, 1]);
    let c = typed(5, &[0, 0, 0, 2]);
    let stream = [&a[..], &b[..], &c[..]].concat();
    // Whole, A is taken as damaged at once: the bytes from its start to B are skipped.
    let whole = framed(&stream, &[]);
    assert_eq!(whole, vec![Ev::Skip(0, 14, SkipReason::BadLength), Ev::Frame(14, 6, 4), Ev::Frame(26, 5, 4)]);
    // The segment ends 3 bytes into what A's length points at: A stands (nothing refutes
    // it yet), and those bytes, not a plausible header with B 2 bytes on, are skipped.
    let split = framed(&stream, &[15]);
    assert_eq!(
        split,
        vec![
            Ev::Frame(0, 5, 4),
            Ev::Skip(12, 2, SkipReason::BadLength),
            Ev::Frame(14, 6, 4),
            Ev::Frame(26, 5, 4)
        ]
    );
    // Cut where A's length points: the next segment starts with what is not a header.
    assert_eq!(framed(&stream, &[12]), split);
    // Cut inside A: completed from the next segment and judged there like the whole.
    assert_eq!(framed(&stream, &[6]), whole);
}

#[test]
fn a_length_past_the_hard_cap_split_across_segments_resynchronises_at_once() {
    // A header saying 1 MiB (beyond the 64 KiB cap), split 3 + 5 bytes, then a message.
    let mut stream = typed(0x7fff_ffff, &[]);
    stream[1] = 0x10;
    let b = typed(6, &[0, 0, 0, 1]);
    stream.extend(&b);
    let evs = framed(&stream, &[3]);
    assert_eq!(
        evs,
        vec![Ev::Implausible(0, 1 << 20), Ev::Skip(0, 8, SkipReason::Implausible), Ev::Frame(8, 6, 4)]
    );
    // Whole, the same.
    assert_eq!(framed(&stream, &[]), evs);
}

#[test]
fn a_header_of_an_unknown_type_with_no_header_near_is_framed_as_it_is() {
    // A, then B of a type the tables do not know (no plausible header within 8 bytes of
    // A's end), then C: A's length is not to blame, and B is cut at its own length.
    let a = typed(5, &[0xee; 4]);
    let b = typed(0x7fff_0000, &[9; 4]);
    let c = typed(6, &[0, 0, 0, 1]);
    let stream = [&a[..], &b[..], &c[..]].concat();
    let expected = vec![Ev::Frame(0, 5, 4), Ev::Frame(12, 0x7fff_0000, 4), Ev::Frame(24, 6, 4)];
    assert_eq!(framed(&stream, &[]), expected);
    assert_eq!(framed(&stream, &[6]), expected);
    assert_eq!(framed(&stream, &[12]), expected);
}

#[test]
fn bytes_held_unsynced_are_skipped_at_a_gap_and_at_the_end() {
    let mut f = Framer::new_midstream();
    let mut evs = Vec::new();
    f.push(0, &[0xff; 10], 1, 0, &mut |e| evs.push(own(e)));
    // Only the last 7 bytes could still start a header.
    assert_eq!(f.buffered(), 7);
    f.gap(10, 5, 2, &mut |e| evs.push(own(e)));
    assert_eq!(evs, vec![Ev::Skip(0, 10, SkipReason::Midstream)]);
    assert_eq!(f.buffered(), 0);
    f.push(15, &[0xff; 6], 3, 0, &mut |e| evs.push(own(e)));
    f.finish(4, 0, &mut |e| evs.push(own(e)));
    assert_eq!(evs[1..], [Ev::Skip(15, 6, SkipReason::AfterGap)]);
    // Nothing held, nothing skipped.
    let mut f = Framer::new_midstream();
    let mut evs = Vec::new();
    f.gap(0, 5, 1, &mut |e| evs.push(own(e)));
    f.finish(2, 0, &mut |e| evs.push(own(e)));
    assert_eq!(evs, vec![]);
    // In sync, a message cut by a gap is incomplete: 5 of its 12 bytes.
    let mut f = Framer::new_synced();
    let mut evs = Vec::new();
    f.push(0, &typed(5, &[0, 0, 0, 1])[..5], 1, 0, &mut |e| evs.push(own(e)));
    f.gap(5, 3, 2, &mut |e| evs.push(own(e)));
    assert_eq!(evs, vec![Ev::Incomplete(0, 5, 12)]);
}

#[test]
fn a_length_one_long_found_in_the_header_after_it() {
    // A says 5 body bytes but carries 4: its declared end falls 1 byte into B's header.
    let mut a = typed(5, &[0xee; 4]);
    a[3] = 5;
    let b = typed(6, &[0xee; 4]);
    let c = typed(5, &[0xee; 4]);
    let stream = [&a[..], &b[..], &c[..]].concat();
    // Whole: A's length leads nowhere, and B starts 1 byte before where it points.
    assert_eq!(
        framed(&stream, &[]),
        vec![Ev::Skip(0, 12, SkipReason::BadLength), Ev::Frame(12, 6, 4), Ev::Frame(24, 5, 4)]
    );
    // The segment ends where A's length points: A stands, then the next bytes are not a
    // header but one starts 1 byte back, in A's end; B, whose header A swallowed, is lost.
    let lost_b = vec![Ev::Frame(0, 5, 5), Ev::Skip(13, 11, SkipReason::BadLength), Ev::Frame(24, 5, 4)];
    assert_eq!(framed(&stream, &[13]), lost_b);
    // The next header itself split: the same, judged once it is whole.
    assert_eq!(framed(&stream, &[13, 16]), lost_b);
}

#[test]
fn a_short_message_completed_from_the_next_segment() {
    let a = typed(5, &[0, 0, 0, 1]);
    let b = typed(6, &[0, 0, 0, 1]);
    let stream = [&a[..], &b[..]].concat();
    for cut in 1..12 {
        assert_eq!(framed(&stream, &[cut]), vec![Ev::Frame(0, 5, 4), Ev::Frame(12, 6, 4)], "cut at {cut}");
    }
}

#[test]
fn the_hard_length_cap_is_inclusive() {
    // MessageLength 65536 (the cap) waits for its body; 65537 is implausible at once.
    let header = |len: u32| [len.to_be_bytes(), 5u32.to_be_bytes()].concat();
    for cuts in [&[][..], &[3][..]] {
        assert_eq!(framed(&header(1 << 16), cuts), vec![Ev::Incomplete(0, 8, 8 + (1 << 16))], "{cuts:?}");
        assert_eq!(
            framed(&header((1 << 16) + 1), cuts),
            vec![Ev::Implausible(0, (1 << 16) + 1), Ev::Skip(0, 8, SkipReason::Implausible)],
            "{cuts:?}"
        );
    }
    // At the cap, a header split from its body keeps every body byte that follows it.
    let mut stream = header(1 << 16);
    stream.extend([7; 10]);
    assert_eq!(framed(&stream, &[3]), vec![Ev::Incomplete(0, 18, 8 + (1 << 16))]);
}

#[test]
fn a_mid_stream_capture_starting_on_a_header_skips_nothing() {
    let stream = [typed(5, &[0, 0, 0, 1]), typed(6, &[0, 0, 0, 1])].concat();
    for chunk in [1, 5, 12, stream.len()] {
        let mut f = Framer::new_midstream();
        let mut evs = Vec::new();
        push_in(&mut f, &stream, chunk, &mut evs);
        f.finish(99, 0, &mut |e| evs.push(own(e)));
        assert_eq!(evs, vec![Ev::Frame(0, 5, 4), Ev::Frame(12, 6, 4)], "chunks of {chunk}");
    }
}
