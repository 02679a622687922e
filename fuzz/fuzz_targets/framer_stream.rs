//! An arbitrary byte stream through the CTI framer, cut into chunks and with gaps chosen by
//! the input; every frame it returns must be a whole header + body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ctiscope::fuzzing::framer_stream(data);
});
