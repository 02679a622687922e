//! A stream of well-formed messages, one with a damaged MessageLength, through the CTI
//! framer: the framer's look-ahead must lose at most the damaged message and the one after it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ctiscope::fuzzing::framer_damaged_length(data);
});
