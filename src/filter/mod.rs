//! Display filters (`-Y EXPR`): Wireshark's filter language over the fields of CTI messages.
//!
//! A filter is compiled once ([`Filter::compile`]), before any message is read: every field
//! name, value name, time, address and regular expression is checked and resolved then, and
//! an error names the column where it went wrong. [`Filter::matches`] then evaluates the
//! compiled tree against one decoded message ([`Record`]) without allocating.
//!
//! ## Filters
//!
//! ```text
//! AgentState == AGENT_STATE_TALKING               an enumeration by value name
//! AgentState == TALKING                           ... or without its prefix
//! type == AGENT_STATE_EVENT && AgentID == 1001    message type and agent
//! ConnectionCallID in {16795321, 16795322}        set membership
//! ServicesRequested & CTI_SERVICE_CLIENT_EVENTS   a mask bit is set
//! Status != E_CTI_NO_ERROR                        has a Status, and it is not 0
//! dir == client && !(type in {HEARTBEAT_REQ CLOSE_REQ})
//! time >= "2026-01-05 09:05" && reltime < 400.5
//! NamedVariable.name == "user.CustomerID"         a NAMEDVAR by name
//! CallVariable1 matches "^ACC-[0-9]+$"            a regular expression
//! ip.addr == 10.20.0.0/16 && tcp.port == 42027
//! anomaly || finding                              messages with a decode anomaly or a finding
//! ```
//!
//! ### Grammar
//!
//! ```text
//! filter   = or
//! or       = and { ("||" | "or") and }
//! and      = not { ("&&" | "and") not }
//! not      = ("!" | "not") not | "(" filter ")" | test
//! test     = field                                   the field is present
//!          | field compare value
//!          | field "&" value                         a bit of the value is set
//!          | field ["not"] "in" "{" value { [","] value } "}"
//!          | field "contains" value
//!          | field ("matches" | "~") value
//! compare  = "==" | "!=" | "<" | "<=" | ">" | ">="  (also eq ne lt le gt ge)
//! value    = word | "string" | 'string'
//! ```
//!
//! `not` binds tighter than `and`, and `and` tighter than `or`: `a || b && !c` is
//! `a || (b && (!c))`. Keywords are lower case. A test always starts with the field; the
//! value is a constant (a field is not compared with another field).
//!
//! ### Fields
//!
//! Every field of the protocol's dictionary by its guide name, with or without the prefix
//! `cti.` (`AgentID`, `cti.InvokeID`, `ConnectionCallID`, `NamedVariable`, group members such
//! as `FltSkillGroupNumber`; `ctiscope spec TYPE` lists a message's fields), whatever message
//! carries it, and these pseudo-fields:
//!
//! | field | value |
//! |---|---|
//! | `frame` | capture frame number (of the frame that completed the message) |
//! | `time` | capture time, UTC: `"2026-01-05 09:00:18"`, with a fraction (`"...:18.364264"`), as RFC 3339 (`2026-01-05T09:00:18Z`, an offset `+01:00` is applied), a day (`"2026-01-05"`), a minute (`"2026-01-05 09:00"`), or seconds since 1970 (`1767603618.364`) |
//! | `reltime` | seconds since the capture's first packet (`12.5`) |
//! | `conn` | connection number |
//! | `dir` | `client` or `server`: the side that sent the message |
//! | `type` | message type, by name (`AGENT_STATE_EVENT`, also quoted) or number (`30`) |
//! | `version` | protocol version the message was decoded with |
//! | `len` | message length in bytes, the 8-byte header included |
//! | `anomaly` | code of a decode anomaly of the message (`required_missing`; `ctiscope rules` lists them as `decode-*`) |
//! | `finding` | rule id of a finding that points at the message (`invoke-unanswered`; `ctiscope rules` lists them) |
//! | `ip.addr`, `ip.src`, `ip.dst` | either endpoint's address, the sender's, the receiver's (IPv4 or IPv6) |
//! | `tcp.port`, `tcp.srcport`, `tcp.dstport` | either endpoint's port, the sender's, the receiver's |
//!
//! A NAMEDVAR field (`NamedVariable`) reads as `name=value`, a NAMEDARRAY field
//! (`NamedArray`) as `name[index]=value`; their parts are fields of their own:
//! `NamedVariable.name`, `NamedVariable.value`, `NamedArray.name`, `NamedArray.value` and
//! `NamedArray.index` (a number).
//!
//! ### Values
//!
//! - Numbers in decimal (`42027`, `-1`) or hex (`0x1F`). Numeric fields compare as numbers,
//!   signed types as signed.
//! - Value names of the field's value table (`AGENT_STATE_TALKING`, `CEC_TRANSFER`,
//!   `NULL_CALL_ID`; `ctiscope spec` names each field's table), resolved to their numbers
//!   when the filter is compiled. A name may leave out the prefix nearly all names of its
//!   family share (names starting with the same word, up to the first `_`): `TALKING` for
//!   `AGENT_STATE_TALKING`, `NO_ERROR` for `E_CTI_NO_ERROR`, `CLIENT_EVENTS` for
//!   `CTI_SERVICE_CLIENT_EVENTS`, `TRANSFER` for `CEC_TRANSFER`; a short name of two values
//!   (`BUSY`: `CEC_BUSY` and `CECX_BUSY`) is an error that names both. Names are
//!   case-sensitive; names with spaces are quoted (`Direction == "in"`). BOOL fields also
//!   take `true` and `false`, TIME fields a time as `time` does.
//! - Strings in double or single quotes: `"1001"`, `'it\'s'`. Escapes: `\"`, `\'`, `\\`,
//!   `\n`, `\r`, `\t`, `\0`, `\xHH`; any other backslash is kept with the character after
//!   it, so regular expressions read as written (`"user\.Intent"`). A text field compares
//!   the exact bytes of its text (without the terminating NUL); an UNSPEC field its bytes.
//!   An unquoted number is also text for a text field: `AgentID == 1001` is
//!   `AgentID == "1001"`. Any other unquoted word must be a value name (or, for `dir`,
//!   `anomaly`, `finding`, `ip.*`, the value itself): a misspelt name is an error, with a
//!   suggestion, not a filter that silently matches nothing.
//! - In a set, elements are separated by spaces or commas; a number range `a..b` (both
//!   ends included) is an element too: `tcp.port in {42027 43027}`, `InvokeID in {1..99}`.
//!
//! ### Semantics
//!
//! - A field that occurs several times in a message (the members of a repeated group, such
//!   as the `FltSkillGroupNumber` of each skill group of an AGENT_STATE_EVENT, and `ip.addr`,
//!   `tcp.port`, `anomaly`, `finding`) matches if any occurrence does: `==`, `<`, `<=`, `>`,
//!   `>=`, `&`, `in`, `contains` and `matches` are true when one occurrence satisfies them.
//! - `a != b` is true when the field is present and no occurrence equals `b` (Wireshark's
//!   "all not equal"): `ip.addr != 10.10.1.20` drops every message to or from that address,
//!   and `Status != E_CTI_NO_ERROR` keeps the messages that carry a Status other than 0. A
//!   message without the field does not match; write `!(a == b)` to keep those as well.
//!   `a not in {...}` is the same for sets.
//! - Every comparison with a field the message does not carry is false; the field alone
//!   (`AgentID`) tests that it is present.
//! - `time` and `reltime` compare `==`, `!=` and `in` at the precision written:
//!   `time == "2026-01-05 09:00:18"` is any message in that second, `reltime == 1.5` any in
//!   [1.5 s, 1.6 s). `<`, `<=`, `>`, `>=` take the time as the instant written.
//! - `&` is true when the field's value and the constant have a bit in common
//!   (`ServicesRequested & 0x14`: either bit); `==` compares the whole value.
//! - `contains` finds a substring in text (bytes in UNSPEC fields); `matches` is a regular
//!   expression (Rust `regex` syntax) searched in the text, not anchored, case-sensitive
//!   unless it starts with `(?i)`. Both apply to text fields, NAMEDVAR/NAMEDARRAY fields
//!   and their names and values, `type` (its name), `anomaly` and `finding`; their operand
//!   is a string, or a word taken as written (`type contains CALL`).
//! - `ip.addr == 10.20.0.0/16` matches a network; an address compares only with `==`, `!=`
//!   and `in`.
//! - `<` and friends apply to numbers and times only: comparing text with them is an error.
//!
//! ### Errors
//!
//! Every error is found when the filter is compiled, before the capture is read, and names
//! the column (in characters, from 1) where it was found:
//!
//! ```text
//! unknown field 'AgentId' at column 1; did you mean 'AgentID'?
//! unknown value 'AGENT_STATE_TALKIN' for AgentState at column 15; did you mean 'AGENT_STATE_TALKING'?
//! unclosed '(' at column 1
//! '==' at column 9 needs a value after it
//! '<' at column 9 compares numbers and times, and AgentID is text
//! invalid regular expression "(ab" at column 23: unclosed group
//! empty set '{}' at column 13
//! unexpected '1002' at column 17; expected '&&', '||' or the end of the filter
//! ```
//!
//! Suggestions are the name that differs only in case, else the closest by edit distance
//! (with transpositions), within a third of the name's length. At most 100 parentheses and
//! negations may be nested inside each other.

mod compile;
mod eval;
mod lex;
mod literal;

#[cfg(test)]
mod tests;

use crate::cti::decode::Decoded;
use crate::cti::spec::FieldId;
use crate::pipeline::Direction;
use std::net::SocketAddr;

/// A pseudo-field: what a filter can read besides the dictionary fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pseudo {
    Frame,
    Time,
    RelTime,
    Conn,
    Dir,
    Type,
    Version,
    Len,
    Anomaly,
    Finding,
    IpAddr,
    IpSrc,
    IpDst,
    TcpPort,
    TcpSrcPort,
    TcpDstPort,
}

impl Pseudo {
    /// Every pseudo-field.
    pub const ALL: [Pseudo; 16] = [
        Pseudo::Frame,
        Pseudo::Time,
        Pseudo::RelTime,
        Pseudo::Conn,
        Pseudo::Dir,
        Pseudo::Type,
        Pseudo::Version,
        Pseudo::Len,
        Pseudo::Anomaly,
        Pseudo::Finding,
        Pseudo::IpAddr,
        Pseudo::IpSrc,
        Pseudo::IpDst,
        Pseudo::TcpPort,
        Pseudo::TcpSrcPort,
        Pseudo::TcpDstPort,
    ];

    /// The name a filter uses.
    pub fn name(self) -> &'static str {
        match self {
            Pseudo::Frame => "frame",
            Pseudo::Time => "time",
            Pseudo::RelTime => "reltime",
            Pseudo::Conn => "conn",
            Pseudo::Dir => "dir",
            Pseudo::Type => "type",
            Pseudo::Version => "version",
            Pseudo::Len => "len",
            Pseudo::Anomaly => "anomaly",
            Pseudo::Finding => "finding",
            Pseudo::IpAddr => "ip.addr",
            Pseudo::IpSrc => "ip.src",
            Pseudo::IpDst => "ip.dst",
            Pseudo::TcpPort => "tcp.port",
            Pseudo::TcpSrcPort => "tcp.srcport",
            Pseudo::TcpDstPort => "tcp.dstport",
        }
    }

    /// The pseudo-field of this name.
    pub fn by_name(name: &str) -> Option<Pseudo> {
        Pseudo::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The field or pseudo-field a misspelt name most likely meant (`AgentId`: `AgentID`), for
/// the other places that take field names (`-e`).
pub fn suggest_name(name: &str) -> Option<&'static str> {
    let bare = name.strip_prefix("cti.");
    compile::suggest_field(bare.unwrap_or(name), bare.is_some())
}

/// One message as a filter sees it: the decoded message and its frame, and where and when
/// it was captured.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub decoded: &'a Decoded,
    /// The message frame, header included.
    pub bytes: &'a [u8],
    /// Capture frame number (the frame that completed the message).
    pub frame: u64,
    /// Capture time, nanoseconds since the epoch.
    pub ts_ns: i64,
    /// Time of the capture's first packet (for `reltime`).
    pub first_ts_ns: i64,
    pub conn: u32,
    pub dir: Direction,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Rule ids of the findings that point at this message (for `finding`; empty when the
    /// filter does not use it, see [`Filter::uses`]).
    pub findings: &'a [&'static str],
}

impl<'a> Record<'a> {
    /// The record of a framed, decoded message; `first_ts_ns` is the capture's first packet
    /// time and `findings` the rules of the findings that point at it.
    pub fn message(
        flow: &crate::pipeline::Flow,
        frame: &'a crate::cti::framing::Frame<'_>,
        decoded: &'a Decoded,
        first_ts_ns: i64,
        findings: &'a [&'static str],
    ) -> Self {
        Record {
            decoded,
            bytes: frame.bytes,
            frame: frame.last_frame,
            ts_ns: frame.ts_ns,
            first_ts_ns,
            conn: flow.conn,
            dir: flow.dir,
            src: flow.src,
            dst: flow.dst,
            findings,
        }
    }
}

/// A filter that does not compile: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// 1-based, in characters of the expression.
    pub column: usize,
    /// The whole sentence, which names the column (`unknown field 'AgentId' at column 1;
    /// did you mean 'AgentID'?`).
    pub message: String,
}

impl FilterError {
    pub(crate) fn new(column: usize, message: String) -> Self {
        FilterError { column, message }
    }

    /// The expression with a caret under the column, for a terminal:
    ///
    /// ```text
    /// AgentId == 1001
    /// ^
    /// ```
    pub fn pointer(&self, expr: &str) -> String {
        let line: String = expr.chars().map(|c| if c.is_whitespace() { ' ' } else { c }).collect();
        format!("{line}\n{}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FilterError {}

/// A compiled filter: an expression tree over dictionary fields and pseudo-fields with its
/// constants resolved (numbers, times in nanoseconds, bytes, networks, regular expressions,
/// bit masks). Cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Filter {
    source: String,
    root: compile::Node,
    /// Dictionary fields read, sorted, once each.
    fields: Vec<FieldId>,
    /// Bit `p as usize` for each pseudo-field read.
    pseudo: u32,
}

impl Filter {
    /// Compile a filter expression (grammar: the module documentation).
    pub fn compile(expr: &str) -> Result<Filter, FilterError> {
        compile::compile(expr)
    }

    /// Is the filter true for this message? Does not allocate.
    #[inline]
    pub fn matches(&self, r: &Record<'_>) -> bool {
        eval::eval(&self.root, r)
    }

    /// The dictionary fields the filter reads, once each.
    pub fn fields(&self) -> impl Iterator<Item = FieldId> + '_ {
        self.fields.iter().copied()
    }

    /// Does the filter read this pseudo-field? (`finding`: the caller runs the analysis
    /// first.)
    pub fn uses(&self, p: Pseudo) -> bool {
        self.pseudo >> (p as u32) & 1 == 1
    }

    /// The expression as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}
