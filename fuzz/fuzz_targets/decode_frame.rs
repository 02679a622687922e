//! One CTI frame through the decoder at every protocol version, then through every renderer.
//! Input: first byte picks the version (13..=25, or "infer"), the rest is the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ctiscope::fuzzing::decode_frame(data);
});
