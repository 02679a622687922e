//! The `ctiscope` command: `main` parses, `run` works, the exit code says how it went.

mod analysis_cmd;
mod args;
mod live_cmd;

use args::{Cli, Command, DecodeArgs, InputArgs, OutFormat, SpecArgs, TimeArg};
use clap::Parser;
use ctiscope::cti::decode::{Decoded, Decoder, VersionState};
use ctiscope::cti::spec;
use ctiscope::net::tcp::ConnId;
use ctiscope::pipeline::{self, Event, Settings};
use ctiscope::render::summary::{Summary, TimeFormat};
use ctiscope::render::{events, hex, json, tree};
use std::collections::HashMap;
use std::io::{self, Write};
use std::process::ExitCode;

/// Exit status: success.
const EXIT_OK: u8 = 0;
/// Exit status: an input could not be read (fully or partly).
const EXIT_INPUT: u8 = 2;

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    // `ctiscope FILE`, `ctiscope -r FILE`, `ctiscope -V FILE` mean `ctiscope decode ...`.
    if let Some(first) = argv.get(1) {
        let is_sub = args::SUBCOMMANDS.contains(&first.as_str());
        let is_top_flag =
            matches!(first.as_str(), "-h" | "--help" | "--version") || (first == "-V" && argv.len() == 2);
        if !is_sub && !is_top_flag {
            argv.insert(1, "decode".to_string());
        }
    }
    let cli = Cli::parse_from(argv);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("ctiscope: error: {e}");
            ExitCode::from(EXIT_INPUT)
        }
    }
}

fn run(cli: Cli) -> io::Result<u8> {
    if let Some(code) = live_cmd::check_args(&cli.command) {
        return Ok(code);
    }
    match cli.command {
        Command::Decode(a) if a.input.live.interface.is_some() => live_cmd::decode(a),
        Command::Live(a) => live_cmd::decode(a),
        Command::Check(a) if a.input.live.interface.is_some() => live_cmd::check(a),
        Command::Timeline(a) if a.input.live.interface.is_some() => live_cmd::timeline(a),
        Command::Stats(a) if a.input.live.interface.is_some() => live_cmd::stats(a),
        Command::Decode(a) => decode(a),
        Command::Spec(a) => spec_cmd(a),
        Command::Check(a) => analysis_cmd::check(a),
        Command::Timeline(a) => analysis_cmd::timeline(a),
        Command::Stats(a) => analysis_cmd::stats(a),
        Command::Rules => analysis_cmd::rules(),
    }
}

fn settings(a: &InputArgs) -> Settings {
    let mut s = Settings::default();
    if !a.ports.is_empty() {
        s.server_ports = a.ports.clone();
    }
    s.heuristics = !a.no_heuristics;
    s.reassembly.max_buffered_per_direction = a.max_buffered;
    s.reassembly.max_connections = a.max_connections;
    s.framing.hard_max_length = a.max_message_length;
    s
}

fn spec_cmd(a: SpecArgs) -> io::Result<u8> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match a.message {
        None => {
            for t in spec::types::MESSAGE_TYPES {
                let layout =
                    if spec::message(t.id, None).is_some() { "" } else { "  (layout not documented)" };
                writeln!(out, "{:>3} {}{layout}", t.id, t.name)?;
            }
        }
        Some(q) => {
            let m = match q.parse::<u32>() {
                Ok(n) => spec::message(n, None),
                Err(_) => spec::message_by_name(&q),
            };
            match m {
                Some(m) => write!(out, "{}", spec::describe(m))?,
                None => {
                    let known = q.parse::<u32>().ok().and_then(spec::type_name);
                    match known {
                        Some(name) => writeln!(out, "{q} is {name}: no source documents its layout")?,
                        None => {
                            out.flush()?;
                            eprintln!("ctiscope: no message type {q:?}; `ctiscope spec` lists them");
                            return Ok(EXIT_INPUT);
                        }
                    }
                }
            }
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// Everything needed to print messages in the chosen mode.
struct Printer {
    format: OutFormat,
    verbose: bool,
    hex: bool,
    summary: Summary,
    decoder: Decoder,
    versions: HashMap<ConnId, VersionState>,
    decoded: Decoded,
    /// Objects written so far in the current `-T json` array.
    json_count: u64,
}

impl Printer {
    fn event(&mut self, w: &mut dyn Write, ev: &Event<'_>) -> io::Result<()> {
        if let Event::ConnectionEnd { conn, .. } = ev {
            self.versions.remove(conn);
        }
        if let Event::Message { flow, version, frame } = ev {
            let st = self.versions.entry(flow.conn).or_default();
            self.decoder.decode_into(frame.bytes, *version, st, &mut self.decoded);
            let d = &self.decoded;
            let format = self.format;
            match format {
                OutFormat::Text => {
                    if self.verbose {
                        tree::write_tree(w, flow, frame, d)?;
                    } else {
                        self.summary.write_message(w, flow, frame, d)?;
                    }
                    if self.hex {
                        hex::write_hex(w, frame.bytes, if self.verbose { "    " } else { "" })?;
                    }
                    if self.verbose || self.hex {
                        writeln!(w)?;
                    }
                }
                OutFormat::Json | OutFormat::Jsonl => {
                    json_sep(w, self.format, &mut self.json_count)?;
                    json::write_message(w, flow, frame, d)?;
                    if self.format == OutFormat::Jsonl {
                        writeln!(w)?;
                    }
                }
            }
            return Ok(());
        }
        match self.format {
            OutFormat::Text => {
                self.summary.write_event(w, ev)?;
                if self.verbose || self.hex {
                    writeln!(w)?;
                }
                Ok(())
            }
            OutFormat::Json | OutFormat::Jsonl => {
                json_sep(w, self.format, &mut self.json_count)?;
                events::write_event_json(w, ev)?;
                if self.format == OutFormat::Jsonl {
                    writeln!(w)?;
                }
                Ok(())
            }
        }
    }

    fn end(&mut self, w: &mut dyn Write) -> io::Result<()> {
        if self.format == OutFormat::Json {
            w.write_all(if self.json_count == 0 { b"[]\n" } else { b"\n]\n" })?;
        }
        Ok(())
    }
}

/// Separator before a `-T json` array element (and the opening bracket).
fn json_sep(w: &mut dyn Write, format: OutFormat, count: &mut u64) -> io::Result<()> {
    if format == OutFormat::Json {
        w.write_all(if *count == 0 { b"[\n" } else { b",\n" })?;
    }
    *count += 1;
    Ok(())
}

fn decode(a: DecodeArgs) -> io::Result<u8> {
    let inputs = a.input.inputs();
    if inputs.is_empty() {
        eprintln!("ctiscope: no capture given: `ctiscope decode FILE` (or `-r FILE`, `-` for stdin)");
        return Ok(EXIT_INPUT);
    }
    let settings = settings(&a.input);
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut status = EXIT_OK;
    let mut printer = Printer {
        format: a.format,
        verbose: a.verbose,
        hex: a.hex,
        summary: Summary::new(TimeFormat::Absolute),
        decoder: Decoder { forced: a.protocol_version },
        versions: HashMap::new(),
        decoded: Decoded::default(),
        json_count: 0,
    };
    for input in &inputs {
        let live = input == "-";
        printer.summary = Summary::new(match a.time {
            TimeArg::Ad => TimeFormat::Absolute,
            TimeArg::R => TimeFormat::Relative,
            TimeArg::E => TimeFormat::Epoch,
        });
        printer.versions.clear();
        if inputs.len() > 1 && a.format == OutFormat::Text {
            writeln!(out, "# {input}")?;
        }
        let mut write_err: Option<io::Error> = None;
        let res = pipeline::run_path(input, &settings, &mut |ev| {
            if write_err.is_some() {
                return;
            }
            let r = printer.event(&mut out, &ev).and_then(|_| if live { out.flush() } else { Ok(()) });
            if let Err(e) = r {
                write_err = Some(e);
            }
        });
        if let Some(e) = write_err {
            return Err(e);
        }
        if let Err(e) = res {
            out.flush()?;
            eprintln!("ctiscope: error: {e}");
            status = EXIT_INPUT;
        }
    }
    printer.end(&mut out)?;
    out.flush()?;
    Ok(status)
}
