//! Display filters over a real capture: each filter against the same condition written
//! directly in Rust, message by message, and `matches` without an allocation.

use ctiscope::cti::decode::{Decoded, Field, Value};
use ctiscope::cti::spec::fields::field;
use ctiscope::cti::spec::FieldId;
use ctiscope::filter::{Filter, Pseudo, Record};
use ctiscope::pipeline::{Direction, Event, Settings};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};

/// Counts the allocations of the current thread (other tests run on other threads).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One message of the capture, kept.
struct Msg {
    decoded: Decoded,
    bytes: Vec<u8>,
    frame: u64,
    ts_ns: i64,
    conn: u32,
    dir: Direction,
    src: SocketAddr,
    dst: SocketAddr,
    findings: Vec<&'static str>,
}

struct Capture {
    msgs: Vec<Msg>,
    first_ts_ns: i64,
}

impl Capture {
    fn record<'a>(&self, m: &'a Msg) -> Record<'a> {
        Record {
            decoded: &m.decoded,
            bytes: &m.bytes,
            frame: m.frame,
            ts_ns: m.ts_ns,
            first_ts_ns: self.first_ts_ns,
            conn: m.conn,
            dir: m.dir,
            src: m.src,
            dst: m.dst,
            findings: &m.findings,
        }
    }
}

/// Every message of captures/contact-center.pcapng. Findings are made up (the caller
/// supplies them): every seventh message has `invoke-unanswered`.
fn capture() -> Capture {
    let mut msgs = Vec::new();
    let mut first_ts_ns = None;
    ctiscope::stage::run_path("captures/contact-center.pcapng", &Settings::default(), None, &mut |ev, d| {
        let ts = match ev {
            Event::Connection { ts_ns, .. } => Some(*ts_ns),
            Event::Message { frame, .. } => Some(frame.ts_ns),
            _ => None,
        };
        if first_ts_ns.is_none() {
            first_ts_ns = ts;
        }
        if let (Event::Message { flow, frame }, Some(d)) = (ev, d) {
            let findings = if msgs.len() % 7 == 3 { vec!["invoke-unanswered"] } else { Vec::new() };
            msgs.push(Msg {
                decoded: d.clone(),
                bytes: frame.bytes.to_vec(),
                frame: frame.last_frame,
                ts_ns: frame.ts_ns,
                conn: flow.conn,
                dir: flow.dir,
                src: flow.src,
                dst: flow.dst,
                findings,
            });
        }
    })
    .expect("the capture reads");
    assert!(msgs.len() > 400, "{} messages", msgs.len());
    Capture { msgs, first_ts_ns: first_ts_ns.expect("a first packet") }
}

/// Every occurrence of a dictionary field.
fn all(m: &Msg, id: FieldId) -> impl Iterator<Item = &Field> {
    m.decoded.fields.iter().filter(move |f| f.meta.id == id)
}

fn texts(m: &Msg, id: FieldId) -> Vec<String> {
    all(m, id).filter_map(|f| f.text(&m.bytes)).map(|t| t.into_owned()).collect()
}

fn numbers(m: &Msg, id: FieldId) -> Vec<i64> {
    all(m, id)
        .filter_map(|f| match f.value {
            Value::Unsigned(n) => Some(n as i64),
            Value::Signed(n) => Some(n),
            _ => None,
        })
        .collect()
}

fn type_is(m: &Msg, names: &[&str]) -> bool {
    m.decoded.type_name().is_some_and(|t| names.contains(&t))
}

/// 2026-01-05 09:05:00 UTC.
const NINE_FIVE: i64 = 1_767_603_900_000_000_000;

type Reference = fn(&Msg, &Capture) -> bool;

/// Filters and the same condition in Rust.
fn references() -> Vec<(&'static str, Reference)> {
    vec![
        ("AgentState == AGENT_STATE_TALKING", |m, _| numbers(m, field::AgentState).contains(&4)),
        ("AgentState == TALKING && type == AGENT_STATE_EVENT", |m, _| {
            numbers(m, field::AgentState).contains(&4) && m.decoded.msg_type == 30
        }),
        ("type in {CALL_ESTABLISHED_EVENT CALL_CLEARED_EVENT} && dir == server", |m, _| {
            type_is(m, &["CALL_ESTABLISHED_EVENT", "CALL_CLEARED_EVENT"]) && m.dir == Direction::ToClient
        }),
        ("AgentID == 1001 || AgentExtension contains \"4000\"", |m, _| {
            texts(m, field::AgentID).iter().any(|t| t == "1001")
                || texts(m, field::AgentExtension).iter().any(|t| t.contains("4000"))
        }),
        ("reltime > 60 && len >= 100", |m, c| {
            m.ts_ns - c.first_ts_ns > 60_000_000_000 && m.bytes.len() >= 100
        }),
        ("ip.addr == 10.20.0.0/24 && tcp.port == 42027", |m, _| {
            let net = |a: SocketAddr| matches!(a.ip(), IpAddr::V4(v) if v.octets()[..3] == [10, 20, 0]);
            (net(m.src) || net(m.dst)) && (m.src.port() == 42027 || m.dst.port() == 42027)
        }),
        ("ip.src == 10.10.1.20 and not tcp.dstport in {53650 63890}", |m, _| {
            m.src.ip() == IpAddr::from([10, 10, 1, 20]) && ![53650, 63890].contains(&m.dst.port())
        }),
        ("!InvokeID and ConnectionCallID != 16795322", |m, _| {
            let ids = numbers(m, field::ConnectionCallID);
            all(m, field::InvokeID).next().is_none() && !ids.is_empty() && !ids.contains(&16795322)
        }),
        ("NamedVariable.name == \"user.Intent\" || CallVariable1 matches \"^ACC-[0-9]+$\"", |m, _| {
            let named = all(m, field::NamedVariable).any(|f| match f.value {
                Value::NamedVar { name, .. } => {
                    ctiscope::cti::decode::range_bytes(&m.bytes, name) == b"user.Intent"
                }
                _ => false,
            });
            let acc = texts(m, field::CallVariable1).iter().any(|t| {
                t.strip_prefix("ACC-").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            });
            named || acc
        }),
        ("FltSkillGroupNumber == 101 && !(AgentState in {AVAILABLE NOT_READY})", |m, _| {
            numbers(m, field::FltSkillGroupNumber).contains(&101)
                && !numbers(m, field::AgentState).iter().any(|n| [3, 2].contains(n))
        }),
        ("time >= \"2026-01-05 09:05\" && time < \"2026-01-05T09:06:00Z\"", |m, _| {
            m.ts_ns >= NINE_FIVE && m.ts_ns < NINE_FIVE + 60_000_000_000
        }),
        ("time == \"2026-01-05 09:05\"", |m, _| m.ts_ns >= NINE_FIVE && m.ts_ns < NINE_FIVE + 60_000_000_000),
        ("frame < 100 or conn == 2", |m, _| m.frame < 100 || m.conn == 2),
        ("finding == invoke-unanswered || anomaly", |m, _| {
            m.findings.contains(&"invoke-unanswered") || !m.decoded.anomalies.is_empty()
        }),
        ("ServicesRequested & CTI_SERVICE_ALL_EVENTS || ServicesGranted & 0x10", |m, _| {
            numbers(m, field::ServicesRequested)
                .iter()
                .chain(&numbers(m, field::ServicesGranted))
                .any(|n| n & 0x10 != 0)
        }),
        ("type matches \"_REQ$\" && version == 24 && dir == client", |m, _| {
            m.decoded.type_name().is_some_and(|t| t.ends_with("_REQ"))
                && m.decoded.version == 24
                && m.dir == Direction::ToServer
        }),
        ("EventCause != CEC_NEW_CALL", |m, _| {
            let causes = numbers(m, field::EventCause);
            !causes.is_empty() && !causes.contains(&22)
        }),
        ("InvokeID in {1..50 400..500}", |m, _| {
            numbers(m, field::InvokeID).iter().any(|&n| (1..=50).contains(&n) || (400..=500).contains(&n))
        }),
    ]
}

#[test]
fn filters_agree_with_the_conditions_written_in_rust() {
    let c = capture();
    for (expr, reference) in references() {
        let f = Filter::compile(expr).unwrap_or_else(|e| panic!("{e}\n{}", e.pointer(expr)));
        let mut hits = 0;
        for m in &c.msgs {
            let want = reference(m, &c);
            assert_eq!(f.matches(&c.record(m)), want, "{expr} on frame {}", m.frame);
            hits += usize::from(want);
        }
        // A condition true of nothing or of everything would prove little.
        assert!(hits > 0 && hits < c.msgs.len(), "{expr}: {hits} of {}", c.msgs.len());
    }
}

#[test]
fn matching_does_not_allocate() {
    let c = capture();
    let mut filters: Vec<Filter> =
        references().into_iter().map(|(e, _)| Filter::compile(e).expect("compiles")).collect();
    for extra in [
        "NamedVariable contains \"billing\" || NamedArray matches \"Products\\[0\\]=HOME\"",
        "NamedVariable == \"user.CustomerID=193890\" || NamedArray == \"user.Products[0]=HOME-PHONE\"",
        "type contains CALL && finding != session-not-open",
        "anomaly matches \"^unknown\" || CallVariable2 == \"fr-CA\"",
    ] {
        let f = Filter::compile(extra).unwrap_or_else(|e| panic!("{extra}: {e}"));
        filters.push(f);
    }
    let run = |filters: &[Filter]| {
        let mut n = 0usize;
        for m in &c.msgs {
            let r = c.record(m);
            n += filters.iter().filter(|f| f.matches(&r)).count();
        }
        n
    };
    // The first pass lets the regular expressions set up their caches and the named
    // variables' scratch buffer grow.
    let first = run(&filters);
    let before = ALLOCATIONS.with(Cell::get);
    let second = run(&filters);
    let after = ALLOCATIONS.with(Cell::get);
    assert_eq!(first, second);
    assert!(second > 0);
    assert_eq!(after - before, 0, "allocations while matching");
    // The counter counts: compiling allocates.
    let before = ALLOCATIONS.with(Cell::get);
    let f = Filter::compile("AgentID == 1001").unwrap();
    assert!(ALLOCATIONS.with(Cell::get) > before);
    drop(f);
}

#[test]
fn a_filter_names_what_it_reads() {
    let f = Filter::compile("AgentID == 1001 && finding").unwrap();
    assert_eq!(f.fields().collect::<Vec<_>>(), [field::AgentID]);
    assert!(f.uses(Pseudo::Finding));
    assert!(!Filter::compile("AgentID").unwrap().uses(Pseudo::Finding));
}

/// Pieces filters are made of, right and wrong.
const PIECES: &[&str] = &[
    "AgentID",
    "cti.AgentState",
    "AgentId",
    "FltSkillGroupNumber",
    "NamedVariable",
    "NamedArray.index",
    "NamedVariable.name",
    "ServicesRequested",
    "ClientPassword",
    "ICMCentralControllerTime",
    "EventCause",
    "frame",
    "time",
    "reltime",
    "conn",
    "dir",
    "type",
    "version",
    "len",
    "anomaly",
    "finding",
    "ip.addr",
    "tcp.port",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "eq",
    "&",
    "&&",
    "||",
    "|",
    "!",
    "and",
    "or",
    "not",
    "in",
    "contains",
    "matches",
    "~",
    "(",
    ")",
    "{",
    "}",
    ",",
    "1001",
    "-1",
    "0x1F",
    "0x",
    "1..5",
    "5..1",
    "1.5",
    "TALKING",
    "AGENT_STATE_TALKING",
    "BUSY",
    "CTI_SERVICE_CLIENT_EVENTS",
    "client",
    "server",
    "AGENT_STATE_EVENT",
    "trailing_bytes",
    "invoke-unanswered",
    "10.0.0.0/8",
    "fe80::1",
    "2026-01-05",
    "\"2026-01-05 09:00:18.5\"",
    "\"abc\"",
    "'x\\'y'",
    "\"\\x4\"",
    "\"(ab\"",
    "\"^a.*$\"",
    "\"unterminated",
    "é",
    "@",
    "\t",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Compiling never panics; an error names a column inside the expression (or just after
    /// it), and says so; a filter that compiles matches a message without panicking.
    #[test]
    fn any_expression_compiles_or_points_at_its_error(
        picks in proptest::collection::vec(0..PIECES.len(), 0..12),
        glue in proptest::collection::vec(proptest::bool::ANY, 12),
    ) {
        let mut expr = String::new();
        for (i, &p) in picks.iter().enumerate() {
            if i > 0 && glue[i] {
                expr.push(' ');
            }
            expr.push_str(PIECES[p]);
        }
        match Filter::compile(&expr) {
            Ok(f) => {
                let m = sample();
                let _ = f.matches(&m.record());
            }
            Err(e) => {
                let chars = expr.chars().count();
                proptest::prop_assert!(e.column >= 1 && e.column <= chars + 1, "{expr}: {e}");
                let at = format!("at column {}", e.column);
                proptest::prop_assert!(e.message.contains(&at), "{expr}: {e}");
            }
        }
    }
}

/// One AGENT_STATE_EVENT to match arbitrary filters against.
struct Sample {
    decoded: Decoded,
    bytes: Vec<u8>,
}

impl Sample {
    fn record(&self) -> Record<'_> {
        Record {
            decoded: &self.decoded,
            bytes: &self.bytes,
            frame: 1,
            ts_ns: 0,
            first_ts_ns: 0,
            conn: 0,
            dir: Direction::ToClient,
            src: "10.10.1.20:42027".parse().unwrap(),
            dst: "[fe80::1]:50000".parse().unwrap(),
            findings: &["invoke-unanswered"],
        }
    }
}

fn sample() -> Sample {
    use ctiscope::cti::encode::MessageBuilder;
    let mut b = MessageBuilder::named("AGENT_STATE_EVENT", 24);
    b.set(field::AgentState, 4).unwrap().set(field::NumFltSkillGroups, 1).unwrap();
    b.text(field::AgentID, "1001").unwrap();
    b.number(field::FltSkillGroupNumber, 5).unwrap();
    let bytes = b.build();
    let decoded = ctiscope::cti::decode::decode(&bytes, 24, ctiscope::cti::decode::VersionSource::Seen);
    Sample { decoded, bytes }
}
