//! Reassembly pinned value by value: the words of the JSON output (docs/json-schema.md)
//! and the boundaries of the limits.

use super::*;

#[test]
fn starts_ends_and_gaps_in_words() {
    assert_eq!(ConnStart::Handshake.as_str(), "handshake");
    assert_eq!(ConnStart::Midstream.as_str(), "midstream");
    let ends = [
        (ConnEnd::Fin, "fin"),
        (ConnEnd::Rst, "rst"),
        (ConnEnd::CaptureEnd, "capture_end"),
        (ConnEnd::Reused, "reused"),
        (ConnEnd::Evicted, "evicted"),
    ];
    for (end, word) in ends {
        assert_eq!(end.as_str(), word);
    }
    let gaps = [
        (GapReason::BufferLimit, "buffer_limit", "later data exceeded the reassembly buffer"),
        (GapReason::AckedPastHole, "acked_past_hole", "acknowledged by the peer, never captured"),
        (GapReason::ConnectionEnd, "connection_end", "the connection ended with the hole open"),
        (GapReason::Truncated, "snaplen", "cut by the capture's snap length"),
    ];
    for (reason, word, phrase) in gaps {
        assert_eq!(reason.as_str(), word);
        assert_eq!(reason.explain(), phrase);
    }
}
