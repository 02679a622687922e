//! `ctiscope synth`: turns the command line into a [`ctiscope::synth::Config`] (or, with
//! `--scenario`, a [`ctiscope::synth::ScenarioConfig`]) and writes the capture and truth
//! files.

use crate::args::{SynthArgs, SynthFormat, SynthLink, SynthScenario};
use ctiscope::capture::build::Link;
use ctiscope::synth::{self, Config, Faults, Format, Limit, Scenario, ScenarioConfig};
use std::fs::File;
use std::io::{self, BufWriter, Write};

const EXIT_OK: u8 = 0;
const EXIT_USAGE: u8 = 2;

fn config(a: &SynthArgs) -> Result<Config, String> {
    let limit = match (&a.size, a.messages) {
        (Some(s), _) => Limit::Bytes(synth::parse_size(s)?),
        (None, Some(n)) => Limit::Messages(n),
        (None, None) => Limit::Sessions,
    };
    let big = limit != Limit::Sessions;
    let d = Config::default();
    // Session mix: explicit counts win; --clients splits into bridge, monitor, desktops.
    let (mut desktops, mut bridges, mut monitors) =
        if big { (200, 2, 2) } else { (d.desktops, d.bridges, d.monitors) };
    if let Some(n) = a.clients {
        bridges = n.min(1);
        monitors = u32::from(n >= 3);
        desktops = n - bridges - monitors;
    }
    desktops = a.desktops.unwrap_or(desktops);
    bridges = a.bridges.unwrap_or(bridges);
    monitors = a.monitors.unwrap_or(monitors);
    let agents = a.agents.unwrap_or(desktops).max(desktops);
    let calls_per_agent = match a.calls_per_agent {
        Some(n) => Some(n),
        None if big => None,
        None => d.calls_per_agent,
    };
    if !(a.duration > 0.0 && a.duration.is_finite()) {
        return Err(format!("--duration {} is not a positive number of seconds", a.duration));
    }
    Ok(Config {
        seed: a.seed,
        desktops,
        bridges,
        monitors,
        agents,
        calls_per_agent,
        duration_s: a.duration,
        version: a.protocol_version,
        server_port: a.server_port,
        link: match a.link {
            SynthLink::Ethernet => Link::Ethernet,
            SynthLink::Vlan => Link::Vlan(100),
            SynthLink::Sll => Link::Sll,
            SynthLink::Sll2 => Link::Sll2,
            SynthLink::Raw => Link::Raw,
        },
        ipv6: a.ipv6,
        format: format(a.format),
        faults: match &a.faults {
            Some(f) => Faults::parse(f)?,
            None => Faults::default(),
        },
        limit,
        start_ns: synth::parse_start(&a.start)?,
    })
}

fn format(f: SynthFormat) -> Format {
    match f {
        SynthFormat::Pcap => Format::Pcap,
        SynthFormat::Pcapng => Format::PcapNg,
    }
}

/// The scenario, its start and format, and the one fault a scenario takes (drop-field).
fn scenario_config(a: &SynthArgs, s: SynthScenario) -> Result<(Scenario, ScenarioConfig), String> {
    let scenario = match s {
        SynthScenario::Failover => Scenario::Failover,
        SynthScenario::DeadServer => Scenario::DeadServer,
        SynthScenario::NoCti => Scenario::NoCti,
        SynthScenario::ServerClosePending => Scenario::ServerClosePending,
        SynthScenario::LateConfirm => Scenario::LateConfirm,
        SynthScenario::ServiceViolations => Scenario::ServiceViolations,
        SynthScenario::CallViolations => Scenario::CallViolations,
    };
    let faults = match &a.faults {
        Some(f) => Faults::parse(f)?,
        None => Faults::default(),
    };
    if (Faults { drop_field: None, ..faults.clone() }) != Faults::default() {
        return Err("--scenario takes only the drop-field fault (--faults drop-field=FIELD)".into());
    }
    let cfg = ScenarioConfig {
        format: format(a.format),
        start_ns: synth::parse_start(&a.start)?,
        drop_field: faults.drop_field,
    };
    Ok((scenario, cfg))
}

fn create(path: &str) -> io::Result<BufWriter<File>> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

/// `--scenario`: one scripted story and its truth file.
fn run_scenario(a: &SynthArgs, s: SynthScenario) -> io::Result<u8> {
    let (scenario, cfg) = match scenario_config(a, s) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ctiscope synth: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let mut truth = a.truth.as_deref().map(create).transpose()?;
    let mut truth_messages = a.truth_messages.as_deref().map(create).transpose()?;
    let truth_w = truth.as_mut().map(|w| w as &mut dyn Write);
    let msgs_w = truth_messages.as_mut().map(|w| w as &mut dyn Write);
    let summary = if a.write == "-" {
        let stdout = io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        let s = synth::write_scenario(scenario, &cfg, &mut out, truth_w, msgs_w)?;
        out.flush()?;
        s
    } else {
        let mut out = create(&a.write)?;
        let s = synth::write_scenario(scenario, &cfg, &mut out, truth_w, msgs_w)?;
        out.flush()?;
        s
    };
    if a.write != "-" {
        eprintln!(
            "ctiscope synth: scenario {}: {} packets, {} messages, {} connections, {} truth lines",
            scenario.name(),
            summary.packets,
            summary.messages,
            summary.connections,
            summary.facts
        );
    }
    Ok(EXIT_OK)
}

pub fn run(a: SynthArgs) -> io::Result<u8> {
    if let Some(s) = a.scenario {
        return run_scenario(&a, s);
    }
    let cfg = match config(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ctiscope synth: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let mut truth = a.truth.as_deref().map(create).transpose()?;
    let mut truth_messages = a.truth_messages.as_deref().map(create).transpose()?;
    let truth_w = truth.as_mut().map(|w| w as &mut dyn Write);
    let msgs_w = truth_messages.as_mut().map(|w| w as &mut dyn Write);
    let summary = if a.write == "-" {
        let stdout = io::stdout();
        let out = BufWriter::with_capacity(1 << 20, stdout.lock());
        synth::generate(&cfg, out, truth_w, msgs_w)?
    } else {
        synth::generate(&cfg, create(&a.write)?, truth_w, msgs_w)?
    };
    if a.write != "-" {
        eprintln!(
            "ctiscope synth: {} packets, {} bytes, {} messages, {} connections, {} calls, {} faults",
            summary.packets,
            summary.bytes,
            summary.messages,
            summary.connections,
            summary.calls,
            summary.faults
        );
    }
    Ok(EXIT_OK)
}
