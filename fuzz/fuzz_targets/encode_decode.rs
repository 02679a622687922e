//! Encoder/decoder round trip: a message of any layout at any protocol version (13..=25),
//! built from fields and values chosen by the input, decodes without an anomaly into
//! exactly the fields and values that were set, in order.
//! Input: two bytes pick the layout, one the version; the rest drives the choices.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ctiscope::fuzzing::encode_decode(data);
});
