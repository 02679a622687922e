//! `ctiscope corpus`: the distinct messages of captures as files for fuzzers.

use crate::args::{CorpusArgs, CorpusFormatArg};
use ctiscope::capture::build::{tcp_frame, Link, TcpSpec};
use ctiscope::capture::write::PcapWriter;
use ctiscope::corpus::{manifest_line, Corpus, CorpusFormat, CorpusSettings};
use ctiscope::cti::decode::DEFAULT_VERSION;
use ctiscope::pipeline::{self, Direction, Event, Settings};
use std::io::{self, BufWriter, Write};
use std::path::Path;

const EXIT_OK: u8 = 0;
const EXIT_INPUT: u8 = 2;

/// Writes the unmutated messages as one TCP connection (client 10.0.0.2, server 10.0.0.1:42027),
/// each message in its own segment, in its original direction.
struct PcapOut {
    w: PcapWriter<BufWriter<std::fs::File>>,
    seq: [u32; 2],
    ts: i64,
}

impl PcapOut {
    fn create(path: &str) -> io::Result<Self> {
        let f = BufWriter::new(std::fs::File::create(path)?);
        let mut out = PcapOut {
            w: PcapWriter::new(f, 1, 65_535)?,
            seq: [1_000, 50_000],
            ts: 1_767_600_000_000_000_000,
        };
        out.segment(0, 0x02, &[])?;
        out.segment(1, 0x12, &[])?;
        out.seq = [1_001, 50_001];
        out.segment(0, 0x10, &[])?;
        Ok(out)
    }

    fn segment(&mut self, side: usize, flags: u8, payload: &[u8]) -> io::Result<()> {
        let addr = ["10.0.0.2:50000".parse().expect("literal"), "10.0.0.1:42027".parse().expect("literal")];
        let spec = TcpSpec {
            src: addr[side],
            dst: addr[1 - side],
            seq: self.seq[side],
            ack: self.seq[1 - side],
            flags,
            payload,
        };
        self.ts += 1_000_000;
        self.w.write_packet(self.ts, &tcp_frame(Link::Ethernet, &spec))?;
        self.seq[side] = self.seq[side].wrapping_add(payload.len() as u32);
        Ok(())
    }
}

pub fn run(a: CorpusArgs, settings: Settings) -> io::Result<u8> {
    let inputs = a.input.inputs();
    if inputs.is_empty() {
        eprintln!("ctiscope: no capture given: `ctiscope corpus FILE -o DIR`");
        return Ok(EXIT_INPUT);
    }
    let dir = Path::new(&a.output);
    std::fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display())))?;
    let mut manifest = BufWriter::new(std::fs::File::create(dir.join("manifest.jsonl"))?);
    let mut pcap = match &a.pcap {
        Some(p) => Some(PcapOut::create(p)?),
        None => None,
    };
    let mut corpus = Corpus::new(CorpusSettings {
        format: match a.format {
            CorpusFormatArg::Frame => CorpusFormat::Frame,
            CorpusFormatArg::Body => CorpusFormat::Body,
        },
        per_type: a.per_type,
        mutate: a.mutate,
        seed: a.seed,
    });
    let (mut files, mut status) = (0u64, EXIT_OK);
    for input in &inputs {
        let mut err: Option<io::Error> = None;
        let res = pipeline::run_path(input, &settings, &mut |ev| {
            let Event::Message { flow, version, frame } = ev else { return };
            if err.is_some() {
                return;
            }
            let v = version.unwrap_or(DEFAULT_VERSION);
            for e in corpus.offer(frame.bytes, v, frame.last_frame, flow.conn, flow.dir.as_str()) {
                let r = std::fs::write(dir.join(&e.file), &e.bytes)
                    .and_then(|_| writeln!(manifest, "{}", manifest_line(&e)))
                    .and_then(|_| match (&mut pcap, e.mutation) {
                        (Some(p), None) => {
                            let side = usize::from(flow.dir == Direction::ToClient);
                            p.segment(side, 0x18, frame.bytes)
                        }
                        _ => Ok(()),
                    });
                match r {
                    Ok(()) => files += 1,
                    Err(x) => err = Some(x),
                }
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        if let Err(e) = res {
            eprintln!("ctiscope: error: {e}");
            status = EXIT_INPUT;
        }
    }
    manifest.flush()?;
    if let Some(mut p) = pcap {
        p.w.flush()?;
    }
    eprintln!("ctiscope corpus: {files} files in {}", dir.display());
    Ok(status)
}
