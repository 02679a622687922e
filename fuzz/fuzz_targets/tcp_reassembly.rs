//! One direction of a TCP connection through reassembly, its segments reordered,
//! duplicated, dropped or cut by the snap length as the input says: delivered bytes are
//! the stream's, and delivered plus gap bytes cover the stream captured without overlap.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ctiscope::fuzzing::tcp_reassembly(data);
});
