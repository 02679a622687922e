//! Arbitrary bytes as a capture file (pcap, pcapng, gzip...) through the whole pipeline:
//! capture parsing, link/IP/TCP, reassembly, framing, decoding and rendering.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ctiscope::fuzzing::capture_pipeline(data);
});
