//! Command line: every flag declared once, in the option group (and help heading) it belongs
//! to; each subcommand flattens the groups it accepts.
//!
//! Help headings: a group's `#[command(next_help_heading)]` applies to the options declared
//! after it, including those of the struct that flattens it, so every option declared next
//! to a flattened group names its heading with `help_heading`.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "ctiscope",
    version,
    about = "Dissector and capture analyzer for the Cisco CTI Server protocol (GED-188)",
    long_about = "Dissector and capture analyzer for the Cisco CTI Server protocol (GED-188).\n\n\
                  `ctiscope FILE` and `ctiscope -r FILE` are short for `ctiscope decode FILE`.",
    after_help = "Exit status: 0 success; 1 `check` found violations at or above --fail-on; 2 an input could not be read (everything before the damage is still printed), a capture file does not exist or cannot be opened, or the arguments are wrong (unknown command, bad option, `corpus -o` into a non-empty directory without --force)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Decode CTI messages: summary lines, a tree (-V), hex (-x) or JSON (-T).
    Decode(DecodeArgs),
    /// Capture on a network interface (-i) and decode each message as it completes.
    Live(LiveCmdArgs),
    /// List the message types, or print one message's layout from the spec tables.
    Spec(SpecArgs),
    /// Write a synthetic capture of CTI traffic (deterministic per seed), optionally with faults.
    Synth(SynthArgs),
    /// Export the distinct messages of captures as files for fuzzers, with a manifest.
    Corpus(CorpusArgs),
    /// Check a capture against the protocol rules: one finding per violation.
    Check(CheckArgs),
    /// Time-ordered story of a call, an agent, a session or an invoke.
    Timeline(TimelineArgs),
    /// Message counts, request latency, failures, sessions, calls and agents.
    Stats(StatsArgs),
    /// List the rules `check` applies.
    Rules(RulesArgs),
    /// Write one self-contained HTML file that draws the capture: overview, findings, message
    /// ladders, agent states, calls and request latency.
    Report(ReportArgs),
    /// Write a Wireshark Lua dissector generated from the spec tables (--lua).
    Dissector(DissectorArgs),
    /// Write captures as Parquet tables (messages, requests, calls, agent states...) for
    /// DuckDB, Spark and other SQL engines.
    Export(ExportArgs),
}

/// Compression of `export`'s Parquet pages.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportCompression {
    /// Snappy: read by every engine.
    Snappy,
    /// LZ4_RAW: about a quarter smaller, as fast; DuckDB, pyarrow, Spark 3.3 or later.
    Lz4,
    /// Uncompressed: a little faster, several times larger.
    None,
}

/// Table format of `export`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Parquet,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Captures (pcap or pcapng, optionally gzip-compressed), folders (every capture in them,
    /// recursively) or glob patterns (`'captures/*.pcapng'`); "-" reads stdin.
    #[arg(value_name = "CAPTURE", required = true)]
    pub inputs: Vec<String>,
    /// Output folder: one Parquet file set per capture per table, and a manifest.
    #[arg(short = 'o', long = "output", value_name = "DIR", required = true, help_heading = "Output")]
    pub output: String,
    /// Table format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Parquet, help_heading = "Output")]
    pub format: ExportFormat,
    /// Compression of the Parquet pages.
    #[arg(long, value_enum, default_value_t = ExportCompression::Snappy, help_heading = "Output")]
    pub compression: ExportCompression,
    /// Export captures the manifest already lists again (their files are replaced).
    #[arg(long, help_heading = "Output")]
    pub force: bool,
    /// Progress on stderr even when it is not a terminal: a line per capture and about every
    /// 2% of the bytes (a bar when stderr is a terminal, with or without this).
    #[arg(long, help_heading = "Output")]
    pub progress: bool,
    /// Captures exported at once (0: one per core).
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 0, help_heading = "Limits")]
    pub jobs: usize,
    /// Display filter (README "Filters"): the messages table keeps only the messages it
    /// selects (the other tables follow every message).
    #[arg(short = 'Y', value_name = "EXPR", help_heading = "Selection")]
    pub display: Option<String>,
    /// Seconds after which an unanswered request is reported (findings).
    #[arg(long, value_name = "S", default_value_t = 15.0, help_heading = "Analysis")]
    pub request_timeout: f64,
    /// Findings kept per rule.
    #[arg(long, value_name = "N", default_value_t = 1_000, help_heading = "Analysis")]
    pub max_findings_per_rule: usize,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Args, Debug)]
pub struct DissectorArgs {
    /// Write the Lua plugin (the only kind of dissector so far).
    #[arg(long, required = true)]
    pub lua: bool,
    /// Output file ("-" for stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE", default_value = "-")]
    pub output: String,
}

#[derive(Args, Debug)]
pub struct RulesArgs {
    /// Output format: a table (text), one JSON array (json) or one JSON object per rule,
    /// or per statement with --coverage (jsonl).
    #[arg(short = 'T', value_enum, default_value_t = OutFormat::Text, help_heading = "Output")]
    pub format: OutFormat,
    /// Instead of the rules, every normative statement of the guide's "Application Level
    /// Interfaces" chapter with the rule that checks it or the reason none can
    /// (spec/coverage.tsv), and a summary line.
    #[arg(long)]
    pub coverage: bool,
}

/// The capture files to read.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Input")]
pub struct FileArgs {
    /// Capture files (pcap or pcapng, optionally gzip-compressed); "-" reads stdin.
    #[arg(value_name = "FILE", help_heading = None::<&str>)]
    pub files: Vec<String>,
    /// Capture file to read (tshark style; repeatable).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Vec<String>,
}

impl FileArgs {
    /// All inputs in order: positional files, then -r files.
    pub fn inputs(&self) -> Vec<String> {
        self.files.iter().chain(self.read.iter()).cloned().collect()
    }
}

/// How CTI traffic is found in the packets, and the resource limits of reassembly and
/// framing: every command that reads packets.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Decoding")]
pub struct PipelineArgs {
    /// CTI server port (repeatable; replaces the defaults 42027 and 43027).
    #[arg(long = "port", value_name = "N")]
    pub ports: Vec<u16>,
    /// Do not look for CTI traffic on other ports.
    #[arg(long)]
    pub no_heuristics: bool,
    /// Only packets from this time on: a UTC time ("2026-01-05 09:00:18", RFC 3339) or
    /// seconds after the first packet (30, 1.5); earlier packets are skipped unread.
    #[arg(long, value_name = "TIME", value_parser = ctiscope::time::TimeBound::parse, help_heading = "Selection")]
    pub since: Option<ctiscope::time::TimeBound>,
    /// Only packets up to this time (same forms as --since); the read stops at the first
    /// packet after it.
    #[arg(long, value_name = "TIME", value_parser = ctiscope::time::TimeBound::parse, help_heading = "Selection")]
    pub until: Option<ctiscope::time::TimeBound>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Resource limits of reassembly and framing.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Out-of-order bytes buffered per TCP direction before a missing segment is declared a gap
    /// (K, M, G suffixes: powers of 1024).
    #[arg(long, value_name = "BYTES", default_value = "1M", value_parser = bytes::<usize>)]
    pub max_buffered: usize,
    /// What reassembly and framing hold across all connections (out-of-order bytes, the
    /// retransmission windows, messages being assembled); beyond it, holes are declared gaps,
    /// windows let go and the message crossing it given up.
    #[arg(long, value_name = "BYTES", default_value = "96M", value_parser = bytes::<usize>)]
    pub max_buffered_total: usize,
    /// TCP connections tracked at once; beyond it the least recently active is dropped.
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub max_connections: usize,
    /// Largest MessageLength framed; a larger header is treated as corrupt.
    #[arg(long, value_name = "BYTES", default_value = "64K", value_parser = bytes::<u32>)]
    pub max_message_length: u32,
}

/// A byte count, plain or with a K, M or G suffix (powers of 1024), as `synth --size` takes it.
fn bytes<T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    let n = ctiscope::synth::parse_size(s)?;
    T::try_from(n).map_err(|_| format!("{s:?} is too large here"))
}

/// The protocol version messages are decoded with.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Decoding")]
pub struct ProtocolArgs {
    /// Decode with this protocol version instead of the one from OPEN_REQ or inference.
    #[arg(long, value_name = "N")]
    pub protocol_version: Option<u32>,
}

/// Live capture (Linux; needs root or CAP_NET_RAW).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Live capture")]
pub struct LiveArgs {
    /// Capture on this interface (`lo`, `eth0`, ... or `any`) instead of reading files.
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Option<String>,
    /// Capture filter, tcpdump syntax subset: ip, ip6, tcp, udp, [tcp|udp] [src|dst] port N,
    /// [src|dst] host ADDR, not, and, or, parentheses. Default: TCP on the --port ports.
    #[arg(short = 'f', value_name = "FILTER")]
    pub filter: Option<String>,
    /// Live: also write every captured packet to this pcapng file. `decode` of files: write
    /// the packets that carried the selected messages (see --whole-connections).
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<String>,
    /// Stop after N messages (with `decode`, N selected messages).
    #[arg(short = 'c', value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    /// Kernel capture buffer, in MiB.
    #[arg(short = 'B', long = "buffer-size", value_name = "MIB", default_value_t = 64)]
    pub buffer_mib: usize,
}

impl LiveArgs {
    /// The live-only options given without `-i`, by name (`-w` also works on files with
    /// `decode`, `-c` with every command).
    pub fn stray(&self, decode: bool) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.interface.is_none() {
            if self.filter.is_some() {
                v.push("-f");
            }
            if self.write.is_some() && !decode {
                v.push("-w");
            }
            if self.duration.is_some() {
                v.push("--duration");
            }
        }
        v
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum TimeArg {
    /// UTC date and time (the default).
    Ud,
    /// UTC time of day.
    U,
    /// Local date and time (the machine's zone, `TZ`).
    Ad,
    /// Local time of day.
    A,
    /// Seconds since the first packet of the capture.
    R,
    /// Seconds since the previous message or event of the capture.
    D,
    /// Seconds since the previous line shown.
    Dd,
    /// Seconds since the epoch.
    E,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    Text,
    Json,
    Jsonl,
}

/// How `decode` and `live` print.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
    Jsonl,
    /// The fields given with -e, one line per message.
    Fields,
}

/// How `decode` and `live` show messages.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Output")]
pub struct ShowArgs {
    /// Time column format.
    #[arg(short = 't', value_enum, default_value_t = TimeArg::Ud)]
    pub time: TimeArg,
    /// Print the full decode tree of each message.
    #[arg(short = 'V', long = "verbose")]
    pub verbose: bool,
    /// Print a hex dump of each message (below its tree with -V).
    #[arg(short = 'x', long = "hex")]
    pub hex: bool,
    /// Output format: text (default), json (one array), jsonl (one object per line) or
    /// fields (the -e fields of each message, tshark style).
    #[arg(short = 'T', value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
    /// With -T fields: a field to print (spec name, `cti.` prefix optional, or a
    /// pseudo-field of the display filters: frame, time, reltime, conn, dir, type, version,
    /// len, anomaly, ip.src, ip.dst, tcp.srcport, ...); repeatable, in order.
    #[arg(short = 'e', value_name = "FIELD")]
    pub fields: Vec<String>,
    /// With -T fields: header=y|n, separator=C|/t|/s, quote=d|s|n, occurrence=f|l|a,
    /// aggregator=C (repeatable).
    #[arg(short = 'E', value_name = "OPTION=VALUE")]
    pub field_options: Vec<String>,
    /// Numbers instead of enumeration and mask names in -T fields.
    #[arg(short = 'n', long = "raw-values")]
    pub raw_values: bool,
    /// Print no message or event (with -w: only write the cut; with -c: only count).
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// Which messages `decode` and `live` show.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Selection")]
pub struct SelectArgs {
    /// Only messages naming this call in a call identifier field (ConnectionCallID,
    /// NewConnectionCallID, PrimaryCallID, ...; not RouterCallKeyCallID).
    #[arg(long, value_name = "ID")]
    pub call: Option<u32>,
    /// Only messages carrying this AgentID, AgentExtension or AgentInstrument.
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// Only messages of this type, by name or number (repeatable).
    #[arg(long = "type", value_name = "NAME|NUMBER")]
    pub types: Vec<String>,
    /// Only this connection number: its messages and its gaps, resyncs and connection lines.
    #[arg(long, value_name = "N")]
    pub session: Option<u32>,
    /// Display filter, Wireshark style (README "Filters"): AgentState == TALKING && AgentID
    /// == 1001, type in {HEARTBEAT_REQ HEARTBEAT_CONF}, ...
    #[arg(short = 'Y', value_name = "EXPR")]
    pub display: Option<String>,
}

#[derive(Args, Debug)]
pub struct DecodeArgs {
    #[command(flatten)]
    pub files: FileArgs,
    #[command(flatten)]
    pub show: ShowArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Threads (0: one per core): one reads the capture and writes the output, the others
    /// decode and render, and the first renders too when it would otherwise wait. The output
    /// is identical whatever the number; stdin and the message filters decode on one thread.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 0, help_heading = "Limits")]
    pub jobs: usize,
    /// Messages per batch handed to a decoding thread (tests use small batches).
    #[arg(long, hide = true, default_value_t = 8192)]
    pub batch_items: usize,
    /// With -w on a file: every packet of each connection that holds a selected message,
    /// its handshake and close included, instead of only the packets of the messages.
    #[arg(long, help_heading = "Output")]
    pub whole_connections: bool,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `live`: no capture files, the interface is required.
#[derive(Args, Debug)]
pub struct LiveCmdArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub show: ShowArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// Analysis options shared by `check`, `timeline` and `stats`.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Analysis")]
pub struct AnalysisArgs {
    /// Seconds after which an unanswered request is reported (the guide allows 10 to 15 s
    /// for control requests).
    #[arg(long, value_name = "S", default_value_t = 15.0)]
    pub request_timeout: f64,
    /// Findings listed per rule; further ones are counted in one summary line.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub max_findings_per_rule: usize,
    /// What the analysis holds per connection (open connections' sessions, outstanding
    /// requests and live calls; the summaries of ended ones), estimated; beyond it the
    /// summaries of the connections that ended first are not kept (counted, not listed), then
    /// the least recently active open connections are let go (K, M, G suffixes).
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = bytes::<usize>, help_heading = "Limits")]
    pub max_analysis_memory: usize,
    /// Display filter (README "Filters"): report only on the messages it selects (the
    /// analysis still follows every message): their findings, timeline lines, counts and
    /// connections.
    #[arg(short = 'Y', value_name = "EXPR", help_heading = "Selection")]
    pub display: Option<String>,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// Threads (0: one per core): one reads the capture, one analyses, the others decode,
    /// and each of the first two decodes when it would otherwise wait; 1 runs everything on
    /// one thread. The output is identical whatever the number; stdin is read on one thread.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 0, help_heading = "Limits")]
    pub jobs: usize,
    /// Events per batch handed to a decoding thread (tests use small batches).
    #[arg(long, hide = true, default_value_t = ctiscope::parallel::BATCH_ITEMS)]
    pub batch_items: usize,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Jsonl,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Note,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// Output format: a headline and a table (text), one JSON object with the headline, the
    /// groups and every finding (json), or one JSON object per finding (jsonl).
    #[arg(short = 'T', value_enum, default_value_t = CheckFormat::Text, help_heading = "Output")]
    pub format: CheckFormat,
    /// List every finding with its identifiers, one row each, instead of one row per cause.
    #[arg(long, help_heading = "Output")]
    pub all: bool,
    /// Exit with status 1 when a finding at or above this severity is found.
    #[arg(long, value_name = "LEVEL", value_enum, default_value_t = FailOn::Error, help_heading = "Output")]
    pub fail_on: FailOn,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Args, Debug)]
pub struct TimelineArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// Only this call (any ConnectionCallID it had).
    #[arg(long, value_name = "ID", help_heading = "Selection")]
    pub call: Option<u32>,
    /// Only this AgentID.
    #[arg(long, value_name = "ID", help_heading = "Selection")]
    pub agent: Option<String>,
    /// Only this connection number.
    #[arg(long, value_name = "CONN", help_heading = "Selection")]
    pub session: Option<u32>,
    /// Only this InvokeID (a request and its confirm).
    #[arg(long, value_name = "ID", help_heading = "Selection")]
    pub invoke: Option<u32>,
    /// Output format: text (default), json (one array) or jsonl (one object per line).
    #[arg(short = 'T', value_enum, default_value_t = OutFormat::Text, help_heading = "Output")]
    pub format: OutFormat,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// Output format: tables (text), one JSON object (json) or one JSON object per table row
    /// (jsonl, each with a `table` key).
    #[arg(short = 'T', value_enum, default_value_t = OutFormat::Text, help_heading = "Output")]
    pub format: OutFormat,
    /// Only this agent (AgentID, extension or instrument): its desktop sessions, its calls,
    /// its row and the findings about it; message counts, latency and failures stay the
    /// whole capture's.
    #[arg(long, value_name = "ID", help_heading = "Selection")]
    pub agent: Option<String>,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// The HTML file to write ("-" for stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true, help_heading = "Output")]
    pub output: String,
    /// Draw the ladder of this connection only.
    #[arg(long, value_name = "CONN", help_heading = "Selection")]
    pub session: Option<u32>,
    /// Draw the ladder of this agent across sessions (its desktop sessions and every message
    /// carrying its AgentID, extension or instrument); the report keeps what concerns it,
    /// as `stats --agent` does.
    #[arg(long, value_name = "ID", help_heading = "Selection")]
    pub agent: Option<String>,
    /// Draw the ladder of this call across sessions (every message naming it in a call
    /// identifier field, on each desktop, bridge and monitor that reported it).
    #[arg(long, value_name = "ID", help_heading = "Selection")]
    pub call: Option<u32>,
    /// Events (messages, gaps, resyncs, connection lines) drawn in the ladders, each with its
    /// decode tree; later ones are counted and the report says how to select them.
    #[arg(long, value_name = "N", default_value_t = ctiscope::render::html::DEFAULT_MAX_MESSAGES, help_heading = "Limits")]
    pub max_messages: usize,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Args, Debug)]
pub struct CorpusArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// Directory to write the message files and manifest.jsonl into (created if needed; it
    /// must be empty unless --force is given).
    #[arg(short = 'o', long = "output", value_name = "DIR", help_heading = "Output")]
    pub output: String,
    /// Empty the output directory first (its files and subdirectories; symbolic links are
    /// removed, not followed), so that the manifest lists exactly the files in it.
    #[arg(long, help_heading = "Output")]
    pub force: bool,
    /// What each file holds: the whole frame (header + body) or the body only.
    #[arg(long, value_enum, default_value_t = CorpusFormatArg::Frame, help_heading = "Output")]
    pub format: CorpusFormatArg,
    /// Also write the distinct (unmutated) messages as one capture, to decode or open elsewhere.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub pcap: Option<String>,
    /// At most this many distinct messages per MessageType.
    #[arg(long, value_name = "N", help_heading = "Selection")]
    pub per_type: Option<usize>,
    /// Mutated variants per distinct message (truncations, length and count edits, tag swaps,
    /// oversize values, bit flips).
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Mutation")]
    pub mutate: usize,
    /// Seed of the mutations.
    #[arg(long, default_value_t = 1, help_heading = "Mutation")]
    pub seed: u64,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CorpusFormatArg {
    Frame,
    Body,
}

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Capture file to write ("-" for stdout).
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: String,
    /// Write a scripted session story instead of a simulation, with its truth file
    /// (--truth). Takes --format, --start, --truth, --truth-messages and --faults
    /// drop-field=... only.
    #[arg(long, value_enum, value_name = "NAME", conflicts_with_all = [
        "seed", "clients", "desktops", "bridges", "monitors", "agents", "calls_per_agent",
        "duration", "protocol_version", "server_port", "link", "ipv6", "size", "messages",
    ])]
    pub scenario: Option<SynthScenario>,
    /// Capture format.
    #[arg(long, value_enum, default_value_t = SynthFormat::Pcap)]
    pub format: SynthFormat,
    /// Random seed: the same seed and options give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Total client sessions: one All Events bridge, one Peripheral Monitor client when
    /// there are at least three, the rest agent desktops.
    #[arg(long, value_name = "N")]
    pub clients: Option<u32>,
    /// Agent desktop sessions.
    #[arg(long, value_name = "N")]
    pub desktops: Option<u32>,
    /// All Events (CTI bridge) sessions.
    #[arg(long, value_name = "N")]
    pub bridges: Option<u32>,
    /// Peripheral Monitor sessions.
    #[arg(long, value_name = "N")]
    pub monitors: Option<u32>,
    /// Agents taking calls (agents beyond the desktops are seen by bridges and monitors only).
    #[arg(long, value_name = "N")]
    pub agents: Option<u32>,
    /// Calls per agent before logging out (unlimited with --size or --messages).
    #[arg(long, value_name = "N")]
    pub calls_per_agent: Option<u32>,
    /// Seconds of traffic; call times are compressed to fit.
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    pub duration: f64,
    /// Protocol version spoken by every session (13 to 25).
    #[arg(long, value_name = "N", default_value_t = 24,
          value_parser = clap::value_parser!(u32).range(13..=25))]
    pub protocol_version: u32,
    /// CTI Server port.
    #[arg(long, value_name = "PORT", default_value_t = 42027)]
    pub server_port: u16,
    /// Link layer.
    #[arg(long, value_enum, default_value_t = SynthLink::Ethernet)]
    pub link: SynthLink,
    /// IPv6 addresses instead of IPv4.
    #[arg(long)]
    pub ipv6: bool,
    /// Faults to inject, e.g. lost=0.01,reorder=0.01,retransmit=0.01,diverge=0.005,midstream,truncate,unanswered=0.01,after-end=0.02,oversize=0.02,bad-count=0.02,drop-field=Direction (or drop-field=AGENT_STATE_EVENT.Direction).
    #[arg(long, value_name = "LIST")]
    pub faults: Option<String>,
    /// Write one JSON line per injected fault to this file (with --scenario: one per fact
    /// the analysis must find).
    #[arg(long, value_name = "FILE")]
    pub truth: Option<String>,
    /// Write one JSON line per message written (connection, direction, type, stream offset, frames).
    #[arg(long, value_name = "FILE")]
    pub truth_messages: Option<String>,
    /// Keep generating until the capture reaches this size (e.g. 200M, 1G).
    #[arg(long, value_name = "SIZE", conflicts_with = "messages")]
    pub size: Option<String>,
    /// Keep generating until this many messages have been written.
    #[arg(long, value_name = "N")]
    pub messages: Option<u64>,
    /// Capture start time (UTC).
    #[arg(long, value_name = "TIME", default_value = "2026-01-05T09:00:00Z")]
    pub start: String,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SynthFormat {
    Pcap,
    Pcapng,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SynthScenario {
    Failover,
    DeadServer,
    NoCti,
    ServerClosePending,
    LateConfirm,
    ServiceViolations,
    CallViolations,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SynthLink {
    Ethernet,
    Vlan,
    Sll,
    Sll2,
    Raw,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Message name (e.g. AGENT_STATE_EVENT) or number; without it, every message type.
    pub message: Option<String>,
    /// Only what the number means at this protocol version (numbers 267-275 changed at 25).
    #[arg(long = "protocol-version", value_name = "N")]
    pub protocol_version: Option<u32>,
}
