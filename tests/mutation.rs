//! A stable-Rust mutation test over the seed corpora: the fuzz harnesses of
//! `ctiscope::fuzzing` run on thousands of deterministic mutations of the captures in
//! `tests/data/` and `captures/` and of the 35 sample frames. Long coverage-guided runs use
//! cargo-fuzz (see README); this keeps the same harnesses exercised by every `cargo test`.

use ctiscope::fuzzing;
use std::path::Path;

/// The crate's deterministic generator, with the two draws the mutations need.
struct Rng(ctiscope::synth::rng::Rng);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(ctiscope::synth::rng::Rng::new(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.0.below(n as u64) as usize
        }
    }
}

/// One random mutation of `data`.
fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        if v.is_empty() {
            v.push(rng.next() as u8);
            continue;
        }
        let i = rng.below(v.len());
        match rng.below(8) {
            0 => v[i] ^= 1 << rng.below(8),
            1 => v[i] = [0u8, 0xff, 0x7f, 0x80, 1][rng.below(5)],
            2 => v.truncate(i),
            3 => {
                // A 32-bit field (a length, a MessageType, a count) set to an edge value.
                let val: u32 = [0, 1, 0xffff, 0x7fff_ffff, 0xffff_ffff, 12_500, 65_535][rng.below(7)];
                for (k, b) in val.to_be_bytes().iter().enumerate() {
                    if let Some(x) = v.get_mut(i + k) {
                        *x = *b;
                    }
                }
            }
            4 => {
                let n = rng.below(64).min(v.len() - i);
                let chunk = v[i..i + n].to_vec();
                let j = rng.below(v.len());
                v.splice(j..j, chunk);
            }
            5 => {
                let n = rng.below(32).min(v.len() - i);
                v.drain(i..i + n);
            }
            6 => v.insert(i, rng.next() as u8),
            _ => {
                let j = rng.below(v.len());
                v.swap(i, j);
            }
        }
    }
    v
}

fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["tests/data", "captures"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for p in paths {
            out.push(std::fs::read(p).unwrap());
        }
    }
    assert!(out.len() >= 10, "seed captures present");
    out
}

fn vector_frames() -> Vec<Vec<u8>> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/vectors/hs-v20.jsonl");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let h = v["frame_hex"].as_str().unwrap();
            (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
        })
        .collect()
}

#[test]
fn capture_pipeline_survives_mutated_captures() {
    let mut rng = Rng::new(0x5eed_0001);
    let seeds = seeds();
    for s in &seeds {
        fuzzing::capture_pipeline(s);
    }
    for _ in 0..1500 {
        let s = &seeds[rng.below(seeds.len())];
        fuzzing::capture_pipeline(&mutate(&mut rng, s));
    }
}

#[test]
fn decoder_survives_mutated_frames_at_every_version() {
    let mut rng = Rng::new(0x5eed_0002);
    let frames = vector_frames();
    assert_eq!(frames.len(), 35);
    for f in &frames {
        for v in 13u8..=26 {
            let mut input = vec![v];
            input.extend_from_slice(f);
            fuzzing::decode_frame(&input);
        }
    }
    for _ in 0..20_000 {
        let f = &frames[rng.below(frames.len())];
        let mut input = vec![13 + rng.below(14) as u8];
        input.extend(mutate(&mut rng, f));
        fuzzing::decode_frame(&input);
    }
}

#[test]
fn framer_survives_mutated_streams() {
    let mut rng = Rng::new(0x5eed_0003);
    let stream: Vec<u8> = vector_frames().concat();
    for _ in 0..3000 {
        let mut input = vec![rng.next() as u8, rng.next() as u8, rng.below(8) as u8, 0];
        input.extend(mutate(&mut rng, &stream));
        fuzzing::framer_stream(&input);
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn encode_decode_round_trips_mutated_plans() {
    // Every input is a plan: mutations change the layout, the version and the choices.
    let mut rng = Rng::new(0x5eed_0004);
    let seeds = corpus("encode_decode");
    assert!(seeds.len() >= 8, "encode_decode seeds present");
    for s in &seeds {
        fuzzing::encode_decode(s);
    }
    for _ in 0..3000 {
        let s = &seeds[rng.below(seeds.len())];
        fuzzing::encode_decode(&mutate(&mut rng, s));
    }
}

#[test]
fn tcp_reassembly_conserves_mutated_schedules() {
    let mut rng = Rng::new(0x5eed_0005);
    let seeds = corpus("tcp_reassembly");
    assert!(!seeds.is_empty(), "tcp_reassembly seeds present");
    for _ in 0..1500 {
        let s = &seeds[rng.below(seeds.len())];
        fuzzing::tcp_reassembly(&mutate(&mut rng, s));
    }
}
