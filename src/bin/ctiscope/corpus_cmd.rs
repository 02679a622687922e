//! `ctiscope corpus`: the distinct messages of captures as files for fuzzers.

use crate::args::{CorpusArgs, CorpusFormatArg};
use crate::{EXIT_INPUT, EXIT_OK};
use ctiscope::capture::build::{tcp_frame, Link, TcpSpec};
use ctiscope::capture::write::PcapWriter;
use ctiscope::corpus::{manifest_line, Corpus, CorpusFormat, CorpusSettings};
use ctiscope::cti::decode::{Choice, VersionSource, DEFAULT_VERSION};
use ctiscope::pipeline::{self, Direction, Event, Settings};
use ctiscope::stage::Versions;
use std::io::{self, BufWriter, Write};
use std::path::Path;

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

/// Makes `dir` ready to receive a corpus: created when missing; refused when it holds
/// anything, unless `force`, which empties it first. Returns the message to print when the
/// directory cannot be used.
fn prepare_dir(dir: &Path, force: bool, inputs: &[String]) -> Result<(), String> {
    let shown = dir.display();
    let entries: Vec<std::fs::DirEntry> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.collect::<io::Result<_>>().map_err(|e| format!("cannot list {shown}: {e}"))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {shown}: {e}"));
        }
        Err(_) if dir.exists() && !dir.is_dir() => return Err(format!("{shown} is not a directory")),
        Err(e) => return Err(format!("cannot open {shown}: {e}")),
    };
    if entries.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(format!(
            "{shown} is not empty ({} entries): the manifest would not match the files; \
             give --force to empty it first, or choose another directory",
            entries.len()
        ));
    }
    // Emptying the directory must not delete a capture about to be read.
    let canonical_dir = dir.canonicalize().map_err(|e| format!("cannot open {shown}: {e}"))?;
    for input in inputs.iter().filter(|i| i.as_str() != "-") {
        if Path::new(input).canonicalize().is_ok_and(|p| p.starts_with(&canonical_dir)) {
            return Err(format!("{input} is inside {shown}: refusing to empty it with --force"));
        }
    }
    for entry in entries {
        let path = entry.path();
        // The entry's own type: a symbolic link is removed, never followed. `remove_dir_all`
        // does not follow the links inside a subdirectory either.
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(e) => Err(e),
        };
        removed.map_err(|e| format!("--force: cannot remove {}: {e}", path.display()))?;
    }
    Ok(())
}

pub fn run(a: CorpusArgs, settings: Settings) -> io::Result<u8> {
    let inputs = a.files.inputs();
    if inputs.is_empty() {
        eprintln!("ctiscope: no capture given: `ctiscope corpus FILE -o DIR`");
        return Ok(EXIT_INPUT);
    }
    if !crate::inputs_readable(&inputs) {
        return Ok(EXIT_INPUT);
    }
    let dir = Path::new(&a.output);
    if let Err(msg) = prepare_dir(dir, a.force, &inputs) {
        eprintln!("ctiscope: corpus: {msg}");
        return Ok(EXIT_INPUT);
    }
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
        let mut versions = Versions::new(None);
        let res = pipeline::run_path(input, &settings, &mut |ev| {
            let chosen = versions.choose(&ev);
            let (Event::Message { flow, frame }, Some(Choice { version: v, source, .. })) = (ev, chosen)
            else {
                return;
            };
            if err.is_some() {
                return;
            }
            // The version of the connection's OPEN_REQ, else the default.
            let v = if source == VersionSource::Seen { v } else { DEFAULT_VERSION };
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
