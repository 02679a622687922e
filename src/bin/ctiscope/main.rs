//! The `ctiscope` command: `main` parses, `run` works, the exit code says how it went.

mod analysis_cmd;
mod args;
mod corpus_cmd;
mod export_cmd;
mod live_cmd;
mod parallel;
mod report_cmd;
mod synth_cmd;

use args::{Cli, Command, DecodeArgs, PipelineArgs, SelectArgs, ShowArgs, ShowFormat, SpecArgs, TimeArg};
use clap::Parser;
use ctiscope::analysis::identity::Identity;
use ctiscope::cti::decode::Decoded;
use ctiscope::cti::spec::{self, MessageType};
use ctiscope::net::tcp::ConnId;
use ctiscope::pipeline::{Event, Settings};
use ctiscope::render::fields::FieldsFormat;
use ctiscope::render::summary::{Summary, TimeFormat};
use ctiscope::render::{events, hex, json, tree};
use ctiscope::stage;
use std::io::{self, Write};
use std::process::ExitCode;

/// Exit status: success.
const EXIT_OK: u8 = 0;
/// Exit status: an input could not be read (fully or partly).
const EXIT_INPUT: u8 = 2;

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    // `ctiscope FILE`, `ctiscope -r FILE`, `ctiscope -V FILE` mean `ctiscope decode ...`; a
    // first word that is neither a command nor an existing path is refused as a mistyped
    // command.
    match shorthand(&argv) {
        First::AsIs => {}
        First::Decode => argv.insert(1, "decode".to_string()),
        First::Unknown(msg) => {
            eprintln!("ctiscope: {msg}");
            return ExitCode::from(EXIT_INPUT);
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

/// What the first argument makes of the command line.
enum First {
    /// A subcommand or a top-level option: clap parses the line as it is.
    AsIs,
    /// An option of `decode` or an existing path (or `-`): `decode` goes in front.
    Decode,
    /// Neither a subcommand nor an existing path: the message to print.
    Unknown(String),
}

fn shorthand(argv: &[String]) -> First {
    let Some(first) = argv.get(1).map(String::as_str) else { return First::AsIs };
    let names = subcommand_names();
    let is_top_flag = matches!(first, "-h" | "--help" | "--version") || (first == "-V" && argv.len() == 2);
    if names.iter().any(|n| n == first) || is_top_flag {
        return First::AsIs;
    }
    // Options of `decode`, and `-` (stdin).
    if first.starts_with('-') {
        return First::Decode;
    }
    // Anything there (even a dangling link or a path we may not read) is meant as a capture:
    // `decode` then says what is wrong with it.
    match std::fs::symlink_metadata(first) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        _ => return First::Decode,
    }
    First::Unknown(match nearest(first, &names) {
        Some(n) => format!("unknown command '{first}' (did you mean '{n}'?)"),
        None => format!("unknown command '{first}' and no such file; commands: {}", names.join(", ")),
    })
}

/// The subcommands, in the order `--help` lists them, and clap's `help`.
fn subcommand_names() -> Vec<String> {
    use clap::CommandFactory;
    let mut names: Vec<String> = Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
    names.push("help".to_string());
    names
}

/// The name closest to `word` by edit distance, if it is close enough to be a typo: at most
/// two edits, and fewer edits than `word` has characters.
fn nearest<'a>(word: &str, names: &'a [String]) -> Option<&'a str> {
    let (d, name) = names.iter().map(|n| (levenshtein(word, n), n.as_str())).min_by_key(|&(d, _)| d)?;
    (d <= 2 && d < word.chars().count()).then_some(name)
}

/// Edit distance: insertions, deletions and substitutions of characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Checks that every named capture can be opened ("-", stdin, always can); prints one line
/// per one that cannot. Regular files are opened (and closed) to see the permissions; FIFOs
/// and devices are not, since opening one may block or consume it.
pub(crate) fn inputs_readable(inputs: &[String]) -> bool {
    let mut ok = true;
    for path in inputs.iter().filter(|p| p.as_str() != "-") {
        let problem = match std::fs::metadata(path) {
            Err(e) => Some(open_error(&e)),
            Ok(m) if m.is_dir() => Some("is a directory, not a capture file".to_string()),
            Ok(m) if m.is_file() => std::fs::File::open(path).err().map(|e| open_error(&e)),
            Ok(_) => None,
        };
        if let Some(p) = problem {
            eprintln!("ctiscope: {path}: {p}");
            ok = false;
        }
    }
    ok
}

fn open_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => format!("cannot open: {e}"),
    }
}

fn run(cli: Cli) -> io::Result<u8> {
    if let Some(code) = live_cmd::check_args(&cli.command) {
        return Ok(code);
    }
    // Reports fit a terminal and colour their severities there; plain into pipes and files.
    ctiscope::render::style::set_current(ctiscope::render::style::Style::detect());
    match cli.command {
        Command::Decode(a) if a.live.interface.is_some() => {
            live_cmd::decode(&a.show, &a.select, &a.protocol, &a.pipeline, &a.live)
        }
        Command::Live(a) => live_cmd::decode(&a.show, &a.select, &a.protocol, &a.pipeline, &a.live),
        Command::Check(a) if a.live.interface.is_some() => live_cmd::check(a),
        Command::Timeline(a) if a.live.interface.is_some() => live_cmd::timeline(a),
        Command::Stats(a) if a.live.interface.is_some() => live_cmd::stats(a),
        Command::Decode(a) => decode(a),
        Command::Spec(a) => spec_cmd(a),
        Command::Check(a) => analysis_cmd::check(a),
        Command::Timeline(a) => analysis_cmd::timeline(a),
        Command::Stats(a) => analysis_cmd::stats(a),
        Command::Rules(a) => analysis_cmd::rules(a),
        Command::Report(a) => report_cmd::run(a),
        Command::Dissector(a) => dissector_cmd(a),
        Command::Export(a) => {
            let s = settings(&a.pipeline);
            export_cmd::run(a, s)
        }
        Command::Synth(a) => synth_cmd::run(a),
        Command::Corpus(a) => {
            let s = settings(&a.pipeline);
            corpus_cmd::run(a, s)
        }
    }
}

fn settings(a: &PipelineArgs) -> Settings {
    let mut s = Settings::default();
    if !a.ports.is_empty() {
        s.server_ports = a.ports.clone();
    }
    s.heuristics = !a.no_heuristics;
    s.reassembly.max_buffered_per_direction = a.limits.max_buffered;
    s.reassembly.max_connections = a.limits.max_connections;
    s.reassembly.max_buffered_total = a.limits.max_buffered_total;
    s.framing.hard_max_length = a.limits.max_message_length;
    s.since = a.since;
    s.until = a.until;
    s
}

fn dissector_cmd(a: args::DissectorArgs) -> io::Result<u8> {
    let lua = ctiscope::dissector::lua_plugin();
    if a.output == "-" {
        io::stdout().lock().write_all(lua.as_bytes())?;
    } else {
        std::fs::write(&a.output, lua)?;
    }
    Ok(0)
}

fn spec_cmd(a: SpecArgs) -> io::Result<u8> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let at = |m: &spec::TypeMeaning| a.protocol_version.is_none_or(|v| m.at(v));
    match &a.message {
        None => {
            for t in spec::types::MESSAGE_TYPES {
                let meanings: Vec<_> = spec::type_meanings(t.id).into_iter().filter(at).collect();
                let several =
                    meanings.len() > 1 || meanings.iter().any(|m| m.since.is_some() || m.until.is_some());
                let text: Vec<String> = meanings
                    .iter()
                    .map(|m| {
                        let layout = if m.layout.is_some() { "" } else { ", layout not documented" };
                        match (several && a.protocol_version.is_none(), layout) {
                            (true, _) => format!("{} ({}{layout})", m.name, m.versions()),
                            (false, "") => m.name.to_string(),
                            (false, _) => format!("{}  (layout not documented)", m.name),
                        }
                    })
                    .collect();
                if !text.is_empty() {
                    writeln!(out, "{:>3} {}", t.id, text.join("; "))?;
                }
            }
        }
        Some(q) => {
            let layouts: Vec<&spec::MessageSpec> = match q.parse::<u32>() {
                Ok(n) => {
                    let meanings: Vec<_> = spec::type_meanings(n).into_iter().filter(at).collect();
                    if meanings.len() > 1 {
                        let said: Vec<String> =
                            meanings.iter().map(|m| format!("{} {}", m.name, m.versions())).collect();
                        writeln!(out, "MessageType {n} is {}.\n", said.join(" and "))?;
                    }
                    let known = meanings.iter().map(|m| m.name).collect::<Vec<_>>();
                    let layouts: Vec<_> = meanings.iter().filter_map(|m| m.layout).collect();
                    if layouts.is_empty() {
                        out.flush()?;
                        return Ok(match (known.first(), a.protocol_version) {
                            (Some(name), _) => {
                                writeln!(out, "{n} is {name}: no source documents its layout")?;
                                out.flush()?;
                                EXIT_OK
                            }
                            (None, Some(v)) if !spec::type_meanings(n).is_empty() => {
                                eprintln!(
                                    "ctiscope: MessageType {n} is not assigned at protocol version {v}"
                                );
                                EXIT_INPUT
                            }
                            _ => {
                                eprintln!("ctiscope: no message type {q:?}; `ctiscope spec` lists them");
                                EXIT_INPUT
                            }
                        });
                    }
                    layouts
                }
                Err(_) => match spec::message_by_name(q) {
                    Some(m) => vec![m],
                    None => {
                        match spec::types::MESSAGE_TYPES.iter().find(|t| t.name.eq_ignore_ascii_case(q)) {
                            Some(t) => {
                                writeln!(out, "{} is {}: no source documents its layout", t.id, t.name)?;
                                out.flush()?;
                                return Ok(EXIT_OK);
                            }
                            None => {
                                eprintln!("ctiscope: no message type {q:?}; `ctiscope spec` lists them");
                                return Ok(EXIT_INPUT);
                            }
                        }
                    }
                },
            };
            for (i, m) in layouts.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                write!(out, "{}", spec::describe(m))?;
            }
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// Which messages and events `decode` prints: every given criterion must match.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    call: Option<u32>,
    agent: Option<String>,
    /// Message types, by wire number or by name (a name follows the numbering of each
    /// message's protocol version); empty means any.
    types: Vec<TypeSel>,
    pub(crate) session: Option<ConnId>,
    /// Who each session is, for `--agent` (a connection's entry goes when it ends).
    identities: ctiscope::IntMap<ConnId, Identity>,
    /// `-Y`, compiled.
    display: Option<ctiscope::filter::Filter>,
    /// For a display filter that reads `finding`: the rules of the findings pointing at
    /// each frame (from an analysis pass before the decode).
    pub(crate) findings: std::collections::HashMap<u64, Vec<&'static str>>,
}

/// A `--type` criterion.
#[derive(Debug, Clone, Copy)]
enum TypeSel {
    Number(u32),
    Name(&'static str),
}

/// Lines indented by four spaces (an expression and its caret under an error).
fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

impl Filter {
    pub(crate) fn new(a: &SelectArgs) -> Result<Self, String> {
        let mut types = Vec::new();
        for t in &a.types {
            let sel = match t.parse::<u32>() {
                Ok(n) => TypeSel::Number(n),
                Err(_) => spec::types::MESSAGE_TYPES
                    .iter()
                    .map(|m| m.name)
                    .chain(spec::messages().iter().map(|m| m.name))
                    .find(|m| m.eq_ignore_ascii_case(t))
                    .map(TypeSel::Name)
                    .ok_or_else(|| format!("no message type {t:?}; `ctiscope spec` lists them"))?,
            };
            types.push(sel);
        }
        let display = match &a.display {
            Some(expr) => Some(
                ctiscope::filter::Filter::compile(expr)
                    .map_err(|e| format!("bad display filter: {e}\n{}", indent(&e.pointer(expr))))?,
            ),
            None => None,
        };
        Ok(Filter {
            call: a.call,
            agent: a.agent.clone(),
            types,
            session: a.session,
            identities: Default::default(),
            display,
            findings: Default::default(),
        })
    }

    pub(crate) fn is_active(&self) -> bool {
        self.call.is_some()
            || self.agent.is_some()
            || !self.types.is_empty()
            || self.session.is_some()
            || self.display.is_some()
    }

    /// Whether the display filter reads the findings (run the analysis first).
    pub(crate) fn needs_findings(&self) -> bool {
        self.display.as_ref().is_some_and(|f| f.uses(ctiscope::filter::Pseudo::Finding))
    }

    /// A non-message event of connection `conn` (`None`: not tied to a connection).
    pub(crate) fn event(&self, conn: Option<ConnId>) -> bool {
        match (self.session, conn) {
            (Some(s), Some(c)) => s == c,
            _ => true,
        }
    }

    pub(crate) fn message(
        &mut self,
        flow: &ctiscope::pipeline::Flow,
        frame: &ctiscope::cti::framing::Frame<'_>,
        d: &Decoded,
        first_ts: i64,
    ) -> bool {
        let (conn, dir, msg_type, bytes) = (flow.conn, flow.dir, frame.msg_type, frame.bytes);
        if self.session.is_some_and(|s| s != conn) {
            return false;
        }
        // With --agent, follow each session's identity: a desktop's messages are its
        // agent's, AgentID or not.
        let mut session_agent = false;
        if let Some(agent) = &self.agent {
            let id = MessageType(msg_type);
            let identity = self.identities.entry(conn).or_default();
            if Identity::teaches(id) {
                identity.observe(dir, id, d, bytes);
            }
            session_agent = identity.is_agent(agent);
        }
        if !self.types.is_empty() {
            let name = d.type_name();
            let wanted = |t: &TypeSel| match *t {
                TypeSel::Number(n) => n == msg_type,
                TypeSel::Name(want) => name == Some(want),
            };
            if !self.types.iter().any(wanted) {
                return false;
            }
        }
        if let Some(call) = self.call {
            let names_call = d.fields.iter().any(|f| {
                f.name().ends_with("CallID")
                    && f.name() != "RouterCallKeyCallID"
                    && f.number() == Some(u64::from(call))
            });
            if !names_call {
                return false;
            }
        }
        if let Some(agent) = self.agent.as_ref().filter(|_| !session_agent) {
            let names_agent = d.fields.iter().any(|f| {
                matches!(f.name(), "AgentID" | "AgentExtension" | "AgentInstrument")
                    && f.text(bytes).is_some_and(|t| t == agent.as_str())
            });
            if !names_agent {
                return false;
            }
        }
        // The display filter last: the session identities above learn from every message,
        // and the cheap criteria decide first.
        if let Some(f) = &self.display {
            let findings = self.findings.get(&frame.last_frame).map_or(&[][..], |v| v.as_slice());
            return f.matches(&ctiscope::filter::Record::message(flow, frame, d, first_ts, findings));
        }
        true
    }
}

/// A capture without any CTI connection is said so on stderr, with the TCP ports it holds.
pub(crate) fn no_cti_note(input: &str, stats: &ctiscope::pipeline::Stats) {
    let ports = if stats.tcp_ports.is_empty() {
        "no TCP connection".to_string()
    } else {
        let mut p = stats.tcp_ports.clone();
        p.sort_unstable();
        let more = if p.len() >= ctiscope::pipeline::MAX_PORTS_SEEN { ", ..." } else { "" };
        format!(
            "TCP ports seen: {}{more}; try --port",
            p.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
        )
    };
    eprintln!("ctiscope: {input}: no CTI connection in {} packets; {ports}", stats.packets);
}

/// What printing keeps from one event to the next: the filter, the time reference and the
/// `-T json` array. Events come decoded from the decode stage.
pub(crate) struct Printer {
    style: Style,
    pub(crate) summary: Summary,
    /// Objects written so far in the current `-T json` array.
    json_count: u64,
    pub(crate) filter: Filter,
    /// Messages the filter selected in the current input.
    pub(crate) selected: u64,
    /// `-c N`: stop reading after N selected messages.
    pub(crate) limit: Option<u64>,
    /// `-w OUT` on a file: what to cut, and the connections seen (address pair and first
    /// frame) for `--whole-connections`.
    pub(crate) cut: Option<CutState>,
    /// With a message filter: the connection, gap and resync lines of each connection,
    /// held until one of its messages is selected (then shown, and the connection's later
    /// lines as they come) or the connection ends (then dropped). At most
    /// [`HELD_PER_CONNECTION`] lines are held per connection.
    held: ctiscope::IntMap<ConnId, Vec<Vec<u8>>>,
    showing: ctiscope::IntSet<ConnId>,
}

/// Lines held per connection until one of its messages is selected: its connection line and
/// the first gaps and resyncs.
const HELD_PER_CONNECTION: usize = 8;

/// What `decode -w OUT FILE` collects during the decode pass.
#[derive(Default)]
pub(crate) struct CutState {
    pub cut: ctiscope::cut::Cut,
    pub whole: bool,
    /// Open connections: their address pair, first frame, and whether a message of theirs
    /// was selected.
    pub conns: ctiscope::IntMap<ConnId, (std::net::SocketAddr, std::net::SocketAddr, u64, bool)>,
}

impl CutState {
    fn event(&mut self, ev: &Event<'_>, selected: bool) {
        match ev {
            Event::Connection { conn, client, server, frame, .. } => {
                self.conns.insert(*conn, (*client, *server, *frame, false));
            }
            Event::Message { flow, frame } if selected => {
                self.cut.message(flow.src, flow.dst, frame.first_frame, frame.last_frame);
                if let Some(c) = self.conns.get_mut(&flow.conn) {
                    c.3 = true;
                }
            }
            Event::ConnectionEnd { conn, frame, .. } => {
                if let Some((a, b, start, true)) = self.conns.remove(conn) {
                    if self.whole {
                        self.cut.connection(a, b, start, *frame);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The time column format asked for with `-t`.
fn time_format(t: TimeArg) -> TimeFormat {
    match t {
        TimeArg::Ud => TimeFormat::Absolute,
        TimeArg::U => TimeFormat::UtcTime,
        TimeArg::Ad => TimeFormat::Local,
        TimeArg::A => TimeFormat::LocalTime,
        TimeArg::R => TimeFormat::Relative,
        TimeArg::D => TimeFormat::Delta,
        TimeArg::Dd => TimeFormat::DeltaShown,
        TimeArg::E => TimeFormat::Epoch,
    }
}

impl Printer {
    pub(crate) fn new(a: &ShowArgs, filter: Filter) -> Self {
        Printer {
            style: Style { format: a.format, quiet: a.quiet, verbose: a.verbose, hex: a.hex, fields: None },
            summary: Summary::new(time_format(a.time)),
            json_count: 0,
            filter,
            selected: 0,
            limit: None,
            cut: None,
            held: Default::default(),
            showing: Default::default(),
        }
    }

    /// Whether the lines of a connection wait for one of its messages to be selected.
    fn holds(&self) -> bool {
        self.filter.is_active() && self.filter.session.is_none()
    }

    pub(crate) fn style(&self) -> Style {
        self.style
    }

    /// Separator before the next `-T json` array element.
    pub(crate) fn next_sep(&mut self) -> &'static [u8] {
        let sep: &'static [u8] = match (self.style.format, self.json_count) {
            (ShowFormat::Json, 0) => b"[\n",
            (ShowFormat::Json, _) => b",\n",
            _ => b"",
        };
        self.json_count += 1;
        sep
    }

    /// What printing keeps of each event, in capture order, when every event is shown (no
    /// filter): the time reference; returns the event's separator.
    pub(crate) fn sequence(&mut self, ev: &Event<'_>) -> &'static [u8] {
        self.summary.set_first_ts(ctiscope::render::summary::event_ts(ev));
        self.next_sep()
    }

    /// Render one event, with its decoded message, into `w` (a buffer: messages are built
    /// in place, not copied), unless the filter leaves it out.
    pub(crate) fn event(&mut self, w: &mut Vec<u8>, ev: &Event<'_>, d: Option<&Decoded>) -> io::Result<()> {
        let ts = ctiscope::render::summary::event_ts(ev);
        self.summary.set_first_ts(ts);
        if let (Event::Message { flow, frame }, Some(d)) = (ev, d) {
            let first = self.summary.first_ts().unwrap_or(frame.ts_ns);
            let selected = !self.filter.is_active() || self.filter.message(flow, frame, d, first);
            if let Some(c) = &mut self.cut {
                c.event(ev, selected);
            }
            if !selected || self.limit.is_some_and(|n| self.selected >= n) {
                // Past `-c N`, the rest of the packet that completed the Nth is not shown.
                return Ok(());
            }
            self.selected += 1;
            if self.limit.is_some_and(|n| self.selected >= n) {
                ctiscope::capture::stop_reading();
            }
            if self.style.quiet {
                return Ok(());
            }
            if self.holds() && self.showing.insert(flow.conn) {
                // The connection's held lines come first.
                for line in self.held.remove(&flow.conn).unwrap_or_default() {
                    let sep = self.next_sep();
                    w.extend_from_slice(sep);
                    w.extend_from_slice(&line);
                }
            }
            let sep = self.next_sep();
            render_message(&self.style, &self.summary, w, sep, flow, frame, d)?;
            self.summary.shown(ts);
            return Ok(());
        }
        if let Event::ConnectionEnd { conn, .. } = ev {
            self.filter.identities.remove(conn);
        }
        if let Some(c) = &mut self.cut {
            c.event(ev, false);
        }
        if self.style.quiet
            || (self.limit.is_some_and(|n| self.selected >= n) && !matches!(ev, Event::ConnectionEnd { .. }))
        {
            return Ok(());
        }
        if !self.filter.event(ev.conn()) {
            return Ok(());
        }
        if let Some(conn) = ev.conn().filter(|_| self.holds()) {
            let end = matches!(ev, Event::ConnectionEnd { .. });
            if !self.showing.contains(&conn) {
                // No message of it selected yet: hold the line (dropped at its end).
                if end {
                    self.held.remove(&conn);
                } else {
                    let held = self.held.entry(conn).or_default();
                    if held.len() < HELD_PER_CONNECTION {
                        let mut line = Vec::new();
                        render_event(&self.style, &self.summary, &mut line, b"", ev)?;
                        held.push(line);
                    }
                }
                return Ok(());
            }
            if end {
                self.showing.remove(&conn);
            }
        }
        let sep = self.next_sep();
        render_event(&self.style, &self.summary, w, sep, ev)?;
        self.summary.shown(ts);
        Ok(())
    }

    fn end(&mut self, w: &mut dyn Write) -> io::Result<()> {
        if self.style.format == ShowFormat::Json && !self.style.quiet {
            w.write_all(if self.json_count == 0 { b"[]\n" } else { b"\n]\n" })?;
        }
        Ok(())
    }
}

/// How messages are shown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub format: ShowFormat,
    /// `-q`: nothing printed.
    pub quiet: bool,
    pub verbose: bool,
    pub hex: bool,
    /// `-T fields`: the columns and `-E` options (made once per run).
    pub fields: Option<&'static FieldsFormat>,
}

/// Render one event other than a message in the chosen style; `sep` goes before a JSON
/// element. Needs no mutable state, so worker threads render in parallel (`-j`): the time
/// reference in `summary` is set before.
pub(crate) fn render_event(
    style: &Style,
    summary: &Summary,
    w: &mut Vec<u8>,
    sep: &[u8],
    ev: &Event<'_>,
) -> io::Result<()> {
    if style.quiet {
        return Ok(());
    }
    match style.format {
        ShowFormat::Text => {
            // The reference is set: the line needs no state of its own.
            summary.clone().write_event(w, ev)?;
            if style.verbose || style.hex {
                writeln!(w)?;
            }
            Ok(())
        }
        ShowFormat::Json | ShowFormat::Jsonl => {
            w.write_all(sep)?;
            events::write_event_json(w, ev)?;
            if style.format == ShowFormat::Jsonl {
                writeln!(w)?;
            }
            Ok(())
        }
        // Fields are of messages only.
        ShowFormat::Fields => Ok(()),
    }
}

/// Render one decoded message in the chosen style; `sep` goes before a JSON element. Needs
/// no mutable state either.
pub(crate) fn render_message(
    style: &Style,
    summary: &Summary,
    w: &mut Vec<u8>,
    sep: &[u8],
    flow: &ctiscope::pipeline::Flow,
    frame: &ctiscope::cti::framing::Frame<'_>,
    d: &Decoded,
) -> io::Result<()> {
    if style.quiet {
        return Ok(());
    }
    match style.format {
        ShowFormat::Text => {
            if style.verbose {
                tree::write_tree(w, flow, frame, d)?;
            } else {
                summary.push_message(w, flow, frame, d);
            }
            if style.hex {
                hex::write_hex(w, frame.bytes, if style.verbose { "    " } else { "" })?;
            }
            if style.verbose || style.hex {
                writeln!(w)?;
            }
        }
        ShowFormat::Json | ShowFormat::Jsonl => {
            w.extend_from_slice(sep);
            json::push_message(w, flow, frame, d);
            if style.format == ShowFormat::Jsonl {
                w.push(b'\n');
            }
        }
        ShowFormat::Fields => {
            if let Some(f) = style.fields {
                let r = ctiscope::filter::Record::message(
                    flow,
                    frame,
                    d,
                    summary.first_ts().unwrap_or(frame.ts_ns),
                    &[],
                );
                f.push_line(w, &r);
            }
        }
    }
    Ok(())
}

/// The `-T fields` format from `-e`, `-E` and `-n` (made once, for the whole run).
pub(crate) fn fields_format(a: &ShowArgs) -> Result<Option<&'static FieldsFormat>, String> {
    if a.format != ShowFormat::Fields {
        if !a.fields.is_empty() || !a.field_options.is_empty() {
            return Err("-e and -E go with -T fields".into());
        }
        return Ok(None);
    }
    if a.fields.is_empty() {
        return Err("-T fields needs at least one -e FIELD".into());
    }
    let mut f = FieldsFormat { raw: a.raw_values, ..FieldsFormat::default() };
    for e in &a.fields {
        f.add_column(e)?;
    }
    for o in &a.field_options {
        f.option(o)?;
    }
    Ok(Some(Box::leak(Box::new(f))))
}

/// A message as display filters and `-T fields` read it.
/// Rendered output handed to stdout in pieces of about this size.
const OUT_CHUNK: usize = 64 << 10;

fn decode(a: DecodeArgs) -> io::Result<u8> {
    let inputs = a.files.inputs();
    if inputs.is_empty() {
        eprintln!("ctiscope: no capture given: `ctiscope decode FILE` (or `-r FILE`, `-` for stdin)");
        return Ok(EXIT_INPUT);
    }
    if !inputs_readable(&inputs) {
        return Ok(EXIT_INPUT);
    }
    let filter = match Filter::new(&a.select) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ctiscope: {e}");
            return Ok(EXIT_INPUT);
        }
    };
    let settings = settings(&a.pipeline);
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut status = EXIT_OK;
    let mut printer = Printer::new(&a.show, filter);
    match fields_format(&a.show) {
        Ok(f) => printer.style.fields = f,
        Err(e) => {
            eprintln!("ctiscope: {e}");
            return Ok(EXIT_INPUT);
        }
    }
    if printer.filter.needs_findings() && inputs.iter().any(|i| i == "-") {
        eprintln!("ctiscope: a display filter on `finding` reads the capture twice (the analysis first): give files, not stdin");
        return Ok(EXIT_INPUT);
    }
    printer.limit = a.live.count;
    if let Some(out) = &a.live.write {
        if inputs.len() != 1 || inputs[0] == "-" {
            eprintln!(
                "ctiscope: -w {out} cuts one capture file (read twice): give exactly one FILE, not stdin"
            );
            return Ok(EXIT_INPUT);
        }
        printer.cut = Some(CutState { whole: a.whole_connections, ..CutState::default() });
    } else if a.whole_connections {
        eprintln!("ctiscope: --whole-connections goes with -w OUT");
        return Ok(EXIT_INPUT);
    }
    let forced = a.protocol.protocol_version;
    if let Some(f) = printer.style.fields.filter(|f| f.header) {
        let mut b = Vec::new();
        f.push_header(&mut b);
        out.write_all(&b)?;
    }
    for input in &inputs {
        let live = input == "-";
        printer.summary = Summary::new(time_format(a.show.time));
        if printer.filter.needs_findings() {
            printer.filter.findings =
                analysis_cmd::findings_by_frame(input, &settings, a.protocol.protocol_version);
        }
        if inputs.len() > 1 && a.show.format == ShowFormat::Text {
            writeln!(out, "# {input}")?;
        }
        let jobs = match a.jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let res = if parallel::usable(jobs, input, &printer) {
            parallel::decode_file(input, &settings, forced, &mut printer, jobs, a.batch_items, &mut out)?
        } else {
            let mut write_err: Option<io::Error> = None;
            // Events are rendered into this buffer, which goes out when it is full (or after
            // every event when reading stdin, which may be a live pipe).
            let mut buf: Vec<u8> = Vec::with_capacity(OUT_CHUNK + 4096);
            let res = stage::run_path(input, &settings, forced, &mut |ev, d| {
                if write_err.is_some() {
                    return;
                }
                let mut r = printer.event(&mut buf, ev, d);
                if r.is_ok() && (live || buf.len() >= OUT_CHUNK) {
                    r = out.write_all(&buf).and_then(|_| if live { out.flush() } else { Ok(()) });
                    buf.clear();
                }
                if let Err(e) = r {
                    write_err = Some(e);
                }
            });
            if write_err.is_none() {
                if let Err(e) = out.write_all(&buf) {
                    write_err = Some(e);
                }
            }
            if let Some(e) = write_err {
                return Err(e);
            }
            res
        };
        if let (Some(out), Some(c), true) = (&a.live.write, printer.cut.take(), res.is_ok()) {
            // The pass that decoded also chose the packets: now copy them.
            let mut c = c;
            // Connections still open at the end were ended by the capture's end.
            for (_, (x, y, start, sel)) in c.conns.drain() {
                if sel && c.whole {
                    c.cut.connection(x, y, start, u64::MAX - 1);
                }
            }
            match c.cut.write(input, out, settings.net)? {
                Ok(w) => eprintln!("ctiscope: wrote {} packets ({} bytes) to {out}", w.packets, w.bytes),
                Err(e) => {
                    eprintln!("ctiscope: error: {e}");
                    status = EXIT_INPUT;
                }
            }
        }
        match res {
            Ok(stats) => {
                if stats.cti_connections == 0 {
                    out.flush()?;
                    no_cti_note(input, &stats);
                } else if printer.filter.is_active() && printer.selected == 0 {
                    out.flush()?;
                    eprintln!("ctiscope: {input}: the selection matches no message");
                }
            }
            Err(e) => {
                out.flush()?;
                eprintln!("ctiscope: error: {e}");
                status = EXIT_INPUT;
            }
        }
        printer.selected = 0;
    }
    printer.end(&mut out)?;
    out.flush()?;
    Ok(status)
}
