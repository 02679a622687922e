//! Properties of the fuzz harnesses of `ctiscope::fuzzing`, run deterministically in every
//! `cargo test`: encoder/decoder round trip over every message layout at every protocol
//! version, byte conservation in the framer and in TCP reassembly.

use ctiscope::cti::spec;
use ctiscope::fuzzing;

/// xorshift64*: a fixed, dependency-free generator for the inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const SEEDS: [u64; 6] = [1, 0x5eed, 0xdead_beef, 0x0123_4567_89ab_cdef, 42, 0xffff_0000_ffff];

#[test]
fn every_message_round_trips_at_every_version() {
    let n = spec::messages().len();
    assert!(n > 100, "the layouts are there");
    for seed in SEEDS {
        let mut rng = XorShift(seed);
        for i in 0..n {
            for v in 13u8..=25 {
                let mut input = vec![(i >> 8) as u8, i as u8, v - 13];
                input.extend(rng.bytes(600));
                fuzzing::encode_decode(&input);
            }
        }
    }
    // The smallest plan (only required fields, short values, no instances) and the largest
    // (every choice at its maximum).
    for i in 0..n {
        for v in 13u8..=25 {
            fuzzing::encode_decode(&[(i >> 8) as u8, i as u8, v - 13]);
            let mut input = vec![(i >> 8) as u8, i as u8, v - 13];
            input.extend(std::iter::repeat_n(0xff, 4000));
            fuzzing::encode_decode(&input);
        }
    }
}

#[test]
fn framer_conserves_every_byte_of_random_streams() {
    // Streams of well-formed frames (the encoder's, at random versions), with corrupted
    // bytes now and then, cut into chunks and gaps chosen by the control bytes.
    let n = spec::messages().len();
    for seed in SEEDS {
        let mut rng = XorShift(seed);
        for _ in 0..150 {
            let mut stream = Vec::new();
            for _ in 0..rng.next() % 12 {
                let i = (rng.next() % n as u64) as usize;
                let v = 13 + rng.next() % 13;
                let mut m = ctiscope::cti::encode::MessageBuilder::new(&spec::messages()[i], v as u32);
                m.set(spec::fields::field::InvokeID, rng.next() & 0xffff).ok();
                stream.extend(m.build());
            }
            for _ in 0..rng.next() % 4 {
                if !stream.is_empty() {
                    let at = (rng.next() % stream.len() as u64) as usize;
                    stream[at] = rng.next() as u8;
                }
            }
            let mut input = rng.bytes(4);
            input[2] %= 6;
            input.extend(stream);
            fuzzing::framer_stream(&input);
            // The same stream as arbitrary bytes.
            let mut noise = rng.bytes(4);
            let len = (rng.next() % 300) as usize;
            noise.extend(rng.bytes(len));
            fuzzing::framer_stream(&noise);
        }
    }
}

#[test]
fn tcp_reassembly_conserves_every_byte() {
    for seed in SEEDS {
        let mut rng = XorShift(seed);
        for case in 0..60u64 {
            let mut input = rng.bytes(8);
            // Small streams and segments half the time, so that holes and limits come often.
            if case % 2 == 0 {
                input[4] = 0;
                input[5] %= 200;
                input[6] %= 40;
            }
            input.extend(rng.bytes(400));
            fuzzing::tcp_reassembly(&input);
        }
    }
    fuzzing::tcp_reassembly(&[0; 8]);
    fuzzing::tcp_reassembly(&[0xff; 600]);
}

#[test]
fn one_damaged_length_costs_at_most_two_messages() {
    // The committed seeds, among them a length one byte long whose message ends four bytes
    // before a segment does (the header it swallowed is found by looking back).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/framer_damaged_length");
    let mut seeds = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        fuzzing::framer_damaged_length(&std::fs::read(e.unwrap().path()).unwrap());
        seeds += 1;
    }
    assert!(seeds >= 5);
    for seed in SEEDS {
        let mut rng = XorShift(seed);
        for _ in 0..400 {
            let len = (rng.next() % 400) as usize;
            fuzzing::framer_damaged_length(&rng.bytes(len));
        }
    }
}
