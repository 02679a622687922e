//! From the expression to the compiled tree: parsing (recursive descent, one function per
//! precedence level) and resolving every name and constant for the field it is compared
//! with.

use super::lex::{self, CmpOp, Tok, Token};
use super::literal::{self, integer, seconds, suggest, utc_time};
use super::{Filter, FilterError, Pseudo};
use crate::cti::decode::ANOMALY_CODES;
use crate::cti::spec::{self, fields, FieldId, ValueTable, WireType};
use std::net::IpAddr;
use std::sync::OnceLock;

/// Which part of a dictionary field a test reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Member {
    /// The value (a NAMEDVAR as `name=value`, a NAMEDARRAY as `name[index]=value`).
    Whole,
    /// `.name` of a NAMEDVAR or NAMEDARRAY.
    Name,
    /// `.value` of a NAMEDVAR or NAMEDARRAY.
    Value,
    /// `.index` of a NAMEDARRAY.
    Index,
}

/// What a test reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Field(FieldId, Member),
    Pseudo(Pseudo),
}

/// The compiled expression.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Two or more terms, evaluated in order until one is false.
    And(Vec<Node>),
    /// Two or more terms, evaluated in order until one is true.
    Or(Vec<Node>),
    Not(Box<Node>),
    Test(Test),
}

/// Most parentheses and negations one inside the other.
pub(crate) const MAX_NESTING: usize = 100;

/// One test of one target.
#[derive(Debug, Clone)]
pub(crate) struct Test {
    pub target: Target,
    pub pred: Pred,
    /// `!=` and `not in`: true when the target is present and no occurrence satisfies
    /// `pred`; otherwise true when one occurrence does.
    pub all_not: bool,
}

/// What an occurrence is tested for.
#[derive(Debug, Clone)]
pub(crate) enum Pred {
    /// Present (any occurrence).
    Exists,
    /// `==` and `in`.
    In(Set),
    Ord(Order, i128),
    /// `&`: a bit in common.
    Bits(u64),
    Contains(Box<[u8]>),
    Matches(Box<regex::bytes::Regex>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Lt,
    Le,
    Gt,
    Ge,
}

/// The constants `==` or `in` accepts, each kind for the occurrences of its kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct Set {
    /// Inclusive ranges: numbers, nanoseconds (`time`, `reltime`), seconds (TIME fields).
    pub nums: Vec<(i128, i128)>,
    /// Text or bytes, and names (`type`, `anomaly`, `finding`).
    pub texts: Vec<Box<[u8]>>,
    pub ips: Vec<(IpAddr, u8)>,
    /// [`DIR_CLIENT`] and [`DIR_SERVER`].
    pub dirs: u8,
}

/// `dir == client`: sent by the client.
pub(crate) const DIR_CLIENT: u8 = 1;
/// `dir == server`: sent by the server.
pub(crate) const DIR_SERVER: u8 = 2;

/// What the layouts that carry a dictionary field say about its values, all of them
/// together: a field may be a UINT in one message and an INT or a STRING in another, or
/// have another value table.
#[derive(Debug, Default)]
pub(crate) struct Profile {
    /// A number in some layout (CHAR to UINT, BOOL, TIME).
    pub numeric: bool,
    /// A STRING or UNSPEC in some layout.
    pub text: bool,
    pub named_var: bool,
    pub named_array: bool,
    pub boolean: bool,
    pub time: bool,
    /// Its value tables (by the field's layouts, else by its tag).
    pub tables: Vec<&'static ValueTable>,
}

impl Profile {
    fn add(&mut self, ty: WireType, values: Option<&'static ValueTable>) {
        match ty {
            WireType::Char
            | WireType::UChar
            | WireType::Short
            | WireType::UShort
            | WireType::Int
            | WireType::UInt => self.numeric = true,
            WireType::Bool => (self.numeric, self.boolean) = (true, true),
            WireType::Time => (self.numeric, self.time) = (true, true),
            WireType::String | WireType::Unspec => self.text = true,
            WireType::NamedVar => self.named_var = true,
            WireType::NamedArray => self.named_array = true,
            WireType::TaskId => {}
        }
        if let Some(t) = values {
            // Tables are constants: compared by name, not by address.
            if !self.tables.iter().any(|x| x.name == t.name) {
                self.tables.push(t);
            }
        }
    }

    /// Read as text: STRING, UNSPEC, NAMEDVAR, NAMEDARRAY.
    fn textual(&self) -> bool {
        self.text || self.named_var || self.named_array
    }
}

/// The profile of every dictionary field, built once.
pub(crate) fn profile(id: FieldId) -> &'static Profile {
    static ALL: OnceLock<Vec<Profile>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let mut v: Vec<Profile> = fields::FIELDS
            .iter()
            .map(|i| {
                let mut p = Profile::default();
                p.add(i.ty, i.values);
                p
            })
            .collect();
        for m in spec::messages() {
            for f in m.fixed {
                v[usize::from(f.id.0)].add(f.ty, f.values);
            }
            for f in m.floating {
                let by_tag = f.tag.and_then(spec::tag).and_then(|t| t.values);
                v[usize::from(f.id.0)].add(f.ty, f.values.or(by_tag));
            }
        }
        v
    });
    &all[usize::from(id.0)]
}

/// The short form of each name of a value table, index for index (None: it has none).
///
/// The names of a table come in families by their first word (`CEC_*` and `CECX_*` in
/// EventCause, `CALLTYPE_*`, `RESERVATION_*` and `CUSTOMER_*` in CallType); a name may leave
/// out the longest prefix ending in `_` that nearly all (nine in ten) names of its family
/// share: `TALKING` for `AGENT_STATE_TALKING`, `NO_ERROR` for `E_CTI_NO_ERROR` (whose
/// family also holds E_INVALID_CONFIG_MSG_MASK), `TRANSFER` for `CEC_TRANSFER`. A family of
/// one name has no short forms.
pub(crate) fn short_names(t: &ValueTable) -> &'static [Option<&'static str>] {
    type Shorts = std::collections::HashMap<&'static str, Vec<Option<&'static str>>>;
    static ALL: OnceLock<Shorts> = OnceLock::new();
    let all = ALL.get_or_init(|| spec::value_tables().iter().map(|t| (t.name, shorts_of(t))).collect());
    all.get(t.name).map_or(&[], Vec::as_slice)
}

fn shorts_of(t: &ValueTable) -> Vec<Option<&'static str>> {
    let first_word = |name: &'static str| name.split_once('_').map(|(w, _)| w);
    let mut out = vec![None; t.entries.len()];
    for (i, &(_, name)) in t.entries.iter().enumerate() {
        let Some(word) = first_word(name) else { continue };
        let family: Vec<&'static str> =
            t.entries.iter().map(|e| e.1).filter(|n| first_word(n) == Some(word)).collect();
        if family.len() < 2 {
            continue;
        }
        // The family's prefix: the longest that nine in ten of its names share.
        let shared = |p: &str| 10 * family.iter().filter(|n| n.starts_with(p)).count() >= 9 * family.len();
        let prefix = family
            .iter()
            .flat_map(|n| n.match_indices('_').map(move |(at, _)| &n[..=at]))
            .filter(|p| shared(p))
            .max_by_key(|p| p.len());
        out[i] = prefix.and_then(|p| name.strip_prefix(p)).filter(|s| !s.is_empty());
    }
    out
}

/// What a value name stands for in a field's tables.
enum Named {
    /// The numbers of the entries of that name, or else of that short name.
    Values(Vec<u32>),
    /// A short name of several values: their full names.
    Ambiguous(Vec<&'static str>),
    Unknown,
}

/// The numbers `name` stands for in these tables: the entries of that name, else the one
/// value whose short name ([`short_names`]) it is.
fn value_numbers(tables: &[&'static ValueTable], name: &str) -> Named {
    let mut full: Vec<u32> = Vec::new();
    let mut short: Vec<(u32, &'static str)> = Vec::new();
    for t in tables {
        for (&(n, entry), s) in t.entries.iter().zip(short_names(t)) {
            if entry == name && !full.contains(&n) {
                full.push(n);
            }
            if *s == Some(name) && !short.iter().any(|x| x.0 == n) {
                short.push((n, entry));
            }
        }
    }
    match (full.is_empty(), short.as_slice()) {
        (false, _) => Named::Values(full),
        (true, []) => Named::Unknown,
        (true, [(n, _)]) => Named::Values(vec![*n]),
        (true, several) => Named::Ambiguous(several.iter().map(|x| x.1).collect()),
    }
}

/// Every name a value of these tables may be written as.
fn value_names(tables: &[&'static ValueTable]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for t in tables {
        for (&(_, full), s) in t.entries.iter().zip(short_names(t)) {
            out.push(full);
            out.extend(*s);
        }
    }
    out
}

/// The numbers of value name `v` of a field: None when it is not one; an error when it is
/// the short name of several values.
fn names_of(p: &Profile, label: &str, v: &Val) -> Result<Option<Vec<u32>>, FilterError> {
    let Some(s) = v.str() else { return Ok(None) };
    match value_numbers(&p.tables, s) {
        Named::Values(n) => Ok(Some(n)),
        Named::Unknown => Ok(None),
        Named::Ambiguous(full) => Err(v.err(format!(
            "'{s}' at column {} is short for several values of {label} ({}): write the full name",
            v.col,
            full.join(", ")
        ))),
    }
}

/// The numbers a value table's `n` is on the wire: itself, and for a signed field of 32 or
/// 16 bits the negative number of the same bits (NULL_SKILL_GROUP, 0xFFFFFFFF, is -1 in an
/// INT).
fn wire_numbers(n: u32) -> impl Iterator<Item = i128> {
    let signed32 = (n >= 0x8000_0000).then_some(i128::from(n as i32));
    let signed16 = (0x8000..=0xFFFF).contains(&n).then_some(i128::from(n as u16 as i16));
    std::iter::once(i128::from(n)).chain(signed32).chain(signed16)
}

/// Every message type name: spec/message_types.tsv and the layouts.
fn type_names() -> impl Iterator<Item = &'static str> {
    spec::types::MESSAGE_TYPES.iter().map(|t| t.name).chain(spec::messages().iter().map(|m| m.name))
}

/// The number of a message type name (its layout's, else its entry's).
fn type_number(name: &str) -> Option<u32> {
    spec::messages()
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.id.0)
        .or_else(|| spec::types::MESSAGE_TYPES.iter().find(|t| t.name == name).map(|t| t.id))
}

fn finding_ids() -> impl Iterator<Item = &'static str> {
    crate::analysis::rules().iter().map(|r| r.id)
}

/// How a target's constants are read.
#[derive(Clone, Copy)]
enum Domain {
    Field(&'static Profile),
    Number,
    Time,
    RelTime,
    Dir,
    Type,
    Anomaly,
    Finding,
    Ip,
    /// The name or value of a NAMEDVAR or NAMEDARRAY.
    Text,
}

fn domain(t: Target) -> Domain {
    match t {
        Target::Field(id, Member::Whole) => Domain::Field(profile(id)),
        Target::Field(_, Member::Name | Member::Value) => Domain::Text,
        Target::Field(_, Member::Index) => Domain::Number,
        Target::Pseudo(p) => match p {
            Pseudo::Frame
            | Pseudo::Conn
            | Pseudo::Version
            | Pseudo::Len
            | Pseudo::TcpPort
            | Pseudo::TcpSrcPort
            | Pseudo::TcpDstPort => Domain::Number,
            Pseudo::Time => Domain::Time,
            Pseudo::RelTime => Domain::RelTime,
            Pseudo::Dir => Domain::Dir,
            Pseudo::Type => Domain::Type,
            Pseudo::Anomaly => Domain::Anomaly,
            Pseudo::Finding => Domain::Finding,
            Pseudo::IpAddr | Pseudo::IpSrc | Pseudo::IpDst => Domain::Ip,
        },
    }
}

/// A value as written.
struct Val {
    col: usize,
    /// The token as written (a string with its quotes).
    written: String,
    quoted: bool,
    /// A word's bytes, or a string's with escapes applied.
    bytes: Vec<u8>,
}

impl Val {
    /// As text, when it is UTF-8.
    fn str(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
    /// For messages: the word, or the string's text.
    fn shown(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    fn err(&self, message: String) -> FilterError {
        FilterError::new(self.col, message)
    }
}

/// Unknown value `v` for `label`, with the closest of `candidates`.
fn unknown_value<'a>(v: &Val, label: &str, candidates: impl IntoIterator<Item = &'a str>) -> FilterError {
    let shown = v.shown();
    let mut m = format!("unknown value '{shown}' for {label} at column {}", v.col);
    if let Some(s) = suggest(&shown, candidates) {
        m.push_str(&format!("; did you mean '{s}'?"));
    }
    v.err(m)
}

/// A word that names a field where a value belongs.
fn field_as_value(v: &Val) -> Option<FilterError> {
    let s = v.str().filter(|_| !v.quoted)?;
    let bare = s.strip_prefix("cti.").unwrap_or(s);
    (spec::field_id(bare).is_some() || Pseudo::by_name(s).is_some()).then(|| {
        v.err(format!(
            "'{s}' at column {} is a field: a field is compared with a constant, not another field",
            v.col
        ))
    })
}

/// An unquoted word that is not a number, for a text target.
fn unquoted_text(v: &Val, label: &str) -> FilterError {
    field_as_value(v).unwrap_or_else(|| {
        v.err(format!(
            "unquoted text '{}' for {label} at column {}: write it in quotes, \"{}\"",
            v.written, v.col, v.written
        ))
    })
}

fn expected(v: &Val, what: &str, label: &str) -> FilterError {
    field_as_value(v).unwrap_or_else(|| {
        v.err(format!("expected {what} for {label} at column {}, found {}", v.col, v.written))
    })
}

const TIME_FORMS: &str = "\"YYYY-MM-DD HH:MM:SS\" (UTC, fraction optional) or seconds since 1970";

/// A number range `a..b` in a set.
fn range(v: &Val) -> Option<Result<(i128, i128), FilterError>> {
    if v.quoted {
        return None;
    }
    let (a, b) = v.str()?.split_once("..")?;
    Some(match (integer(a), integer(b)) {
        (Some(a), Some(b)) if a <= b => Ok((a, b)),
        _ => {
            Err(v.err(format!("bad range '{}' at column {}: write low..high, as in 1..5", v.written, v.col)))
        }
    })
}

/// A constant of a dictionary field for `==` and `in`: its numbers and its text.
fn field_element(p: &Profile, label: &str, v: &Val, set: &mut Set) -> Result<(), FilterError> {
    let s = v.str();
    let number = s.and_then(integer);
    let mut found = false;
    if p.numeric {
        if let Some(s) = s {
            if let Some(n) = number {
                set.nums.push((n, n));
                found = true;
            } else if let Some(names) = names_of(p, label, v)? {
                set.nums.extend(names.iter().flat_map(|&n| wire_numbers(n)).map(|n| (n, n)));
                found = true;
            } else if p.boolean && (s == "true" || s == "false") {
                let n = i128::from(s == "true");
                set.nums.push((n, n));
                found = true;
            } else if let Some((start, unit)) = utc_time(s).filter(|_| p.time) {
                // A TIME field holds whole seconds.
                let ns = 1_000_000_000;
                set.nums.push((
                    start.div_euclid(ns) + i128::from(start.rem_euclid(ns) != 0),
                    (start + unit - 1).div_euclid(ns),
                ));
                found = true;
            }
        }
    }
    if p.textual() && (v.quoted || number.is_some()) {
        set.texts.push(v.bytes.clone().into_boxed_slice());
        found = true;
    }
    if found {
        return Ok(());
    }
    Err(if !p.tables.is_empty() && p.numeric {
        field_as_value(v).unwrap_or_else(|| unknown_value(v, label, value_names(&p.tables)))
    } else if p.numeric {
        expected(v, "a number", label)
    } else if p.textual() {
        unquoted_text(v, label)
    } else {
        v.err(format!("{label} at column {} is only tested for presence", v.col))
    })
}

/// Add a constant of `==` or `in` to the set.
fn add_element(d: Domain, label: &str, v: &Val, set: &mut Set, in_set: bool) -> Result<(), FilterError> {
    let numeric = matches!(d, Domain::Number | Domain::Type) || matches!(d, Domain::Field(p) if p.numeric);
    if in_set && numeric {
        if let Some(r) = range(v) {
            set.nums.push(r?);
            return Ok(());
        }
    }
    let s = v.str().unwrap_or("");
    match d {
        Domain::Field(p) => return field_element(p, label, v, set),
        Domain::Number => match integer(s) {
            Some(n) => set.nums.push((n, n)),
            None => return Err(expected(v, "a number", label)),
        },
        Domain::Time => match utc_time(s) {
            Some((start, unit)) => set.nums.push((start, start + unit - 1)),
            None => return Err(expected(v, &format!("a time, {TIME_FORMS},"), label)),
        },
        Domain::RelTime => match seconds(s) {
            Some((start, unit)) => set.nums.push((start, start + unit - 1)),
            None => return Err(expected(v, "seconds (as in 12.5)", label)),
        },
        Domain::Dir => match s {
            "client" => set.dirs |= DIR_CLIENT,
            "server" => set.dirs |= DIR_SERVER,
            _ => return Err(unknown_value(v, label, ["client", "server"])),
        },
        Domain::Type => {
            if let Some(n) = integer(s) {
                set.nums.push((n, n));
            } else if type_names().any(|n| n == s) {
                set.texts.push(v.bytes.clone().into_boxed_slice());
            } else {
                return Err(field_as_value(v).unwrap_or_else(|| unknown_value(v, label, type_names())));
            }
        }
        Domain::Anomaly => match ANOMALY_CODES.iter().find(|c| c.0 == s) {
            Some(_) => set.texts.push(v.bytes.clone().into_boxed_slice()),
            None => return Err(unknown_value(v, label, ANOMALY_CODES.iter().map(|c| c.0))),
        },
        Domain::Finding => match finding_ids().find(|&id| id == s) {
            Some(_) => set.texts.push(v.bytes.clone().into_boxed_slice()),
            None => return Err(unknown_value(v, label, finding_ids())),
        },
        Domain::Ip => match literal::ip_net(s) {
            Some(net) => set.ips.push(net),
            None => return Err(expected(v, "an IPv4 or IPv6 address (a network: 10.0.0.0/8)", label)),
        },
        Domain::Text => {
            if v.quoted || integer(s).is_some() {
                set.texts.push(v.bytes.clone().into_boxed_slice());
            } else {
                return Err(unquoted_text(v, label));
            }
        }
    }
    Ok(())
}

/// What kind of value `label` holds, for messages about operators that do not apply.
fn kind_of(d: Domain) -> &'static str {
    match d {
        Domain::Field(p) if p.numeric => "a number",
        Domain::Field(p) if p.textual() => "text",
        Domain::Field(_) => "only tested for presence",
        Domain::Number | Domain::Time | Domain::RelTime => "a number",
        Domain::Type => "a message type",
        Domain::Anomaly | Domain::Finding | Domain::Text => "text",
        Domain::Dir => "a direction",
        Domain::Ip => "an address",
    }
}

/// The constant of `<`, `<=`, `>`, `>=`.
fn ordered(d: Domain, label: &str, op: &Token, v: &Val) -> Result<i128, FilterError> {
    let s = v.str().unwrap_or("");
    let numbers_only = || {
        FilterError::new(
            op.col,
            format!(
                "'{}' at column {} compares numbers and times, and {label} is {}",
                op.text,
                op.col,
                kind_of(d)
            ),
        )
    };
    match d {
        Domain::Field(p) if p.numeric => {
            if let Some(n) = integer(s) {
                return Ok(n);
            }
            match names_of(p, label, v)?.as_deref() {
                Some([n]) => return Ok(i128::from(*n)),
                Some(_) => {
                    return Err(v.err(format!(
                        "'{s}' at column {} names several values of {label}: compare with == or in",
                        v.col
                    )))
                }
                None => {}
            }
            if p.boolean && (s == "true" || s == "false") {
                return Ok(i128::from(s == "true"));
            }
            if let Some((start, _)) = utc_time(s).filter(|_| p.time) {
                // A TIME field holds whole seconds: `< 18.5 s` is `< 19`, `<= 18.5 s` is `<= 18`.
                let (floor, rem) = (start.div_euclid(1_000_000_000), start.rem_euclid(1_000_000_000));
                let ceil = floor + i128::from(rem != 0);
                return Ok(match op.tok {
                    Tok::Cmp(CmpOp::Lt | CmpOp::Ge) => ceil,
                    _ => floor,
                });
            }
            Err(if p.tables.is_empty() {
                expected(v, "a number", label)
            } else {
                field_as_value(v).unwrap_or_else(|| unknown_value(v, label, value_names(&p.tables)))
            })
        }
        Domain::Number => integer(s).ok_or_else(|| expected(v, "a number", label)),
        Domain::Time => {
            utc_time(s).map(|t| t.0).ok_or_else(|| expected(v, &format!("a time, {TIME_FORMS},"), label))
        }
        Domain::RelTime => seconds(s).map(|t| t.0).ok_or_else(|| expected(v, "seconds (as in 12.5)", label)),
        Domain::Type => match integer(s).or_else(|| type_number(s).map(i128::from)) {
            Some(n) => Ok(n),
            None => Err(unknown_value(v, label, type_names())),
        },
        _ => Err(numbers_only()),
    }
}

/// The mask of `&`.
fn bits(d: Domain, label: &str, op: &Token, v: &Val) -> Result<u64, FilterError> {
    let s = v.str().unwrap_or("");
    let mask = match d {
        Domain::Field(p) if p.numeric => match integer(s) {
            Some(n) => Some(n),
            None => match names_of(p, label, v)? {
                Some(names) => Some(names.iter().fold(0i128, |m, &n| m | i128::from(n))),
                None if p.tables.is_empty() => return Err(expected(v, "a number", label)),
                None => return Err(unknown_value(v, label, value_names(&p.tables))),
            },
        },
        Domain::Number => Some(integer(s).ok_or_else(|| expected(v, "a number", label))?),
        _ => None,
    };
    match mask {
        Some(m) => u64::try_from(m)
            .map_err(|_| v.err(format!("a bit mask is not negative: {} at column {}", v.written, v.col))),
        None => Err(FilterError::new(
            op.col,
            format!("'&' at column {} tests bits of a number, and {label} is {}", op.col, kind_of(d)),
        )),
    }
}

/// The operand of `contains` and `matches`: any word or string, as text.
fn text_operand(d: Domain, label: &str, op: &Token, v: &Val) -> Result<Vec<u8>, FilterError> {
    let textual = match d {
        Domain::Field(p) => p.textual(),
        Domain::Text | Domain::Type | Domain::Anomaly | Domain::Finding => true,
        _ => false,
    };
    if !textual {
        return Err(FilterError::new(
            op.col,
            format!("'{}' at column {} applies to text, and {label} is {}", op.text, op.col, kind_of(d)),
        ));
    }
    Ok(v.bytes.clone())
}

fn regex(v: &Val, pattern: Vec<u8>) -> Result<regex::bytes::Regex, FilterError> {
    let Ok(pattern) = String::from_utf8(pattern) else {
        return Err(v.err(format!("the regular expression at column {} is not UTF-8", v.col)));
    };
    regex::bytes::Regex::new(&pattern).map_err(|e| {
        let text = e.to_string();
        // A syntax error is several lines (the pattern, a caret, "error: ..."): the last
        // one says what is wrong.
        let why = text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .map_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "), str::to_string);
        v.err(format!("invalid regular expression {} at column {}: {why}", v.written, v.col))
    })
}

/// A field name as written: the target and the name messages call it by.
fn target(word: &str, col: usize) -> Result<(Target, String), FilterError> {
    let prefixed = word.starts_with("cti.");
    let bare = word.strip_prefix("cti.").unwrap_or(word);
    if !prefixed {
        if let Some(p) = Pseudo::by_name(word) {
            return Ok((Target::Pseudo(p), word.to_string()));
        }
    }
    if let Some(id) = spec::field_id(bare) {
        return Ok((Target::Field(id, Member::Whole), bare.to_string()));
    }
    if let Some((base, member)) = bare.rsplit_once('.') {
        if let Some(id) = spec::field_id(base) {
            let p = profile(id);
            let m = match member {
                "name" if p.named_var || p.named_array => Some(Member::Name),
                "value" if p.named_var || p.named_array => Some(Member::Value),
                "index" if p.named_array => Some(Member::Index),
                _ => None,
            };
            return match m {
                Some(m) => Ok((Target::Field(id, m), bare.to_string())),
                None => {
                    let has = if p.named_array {
                        "'.name', '.value' and '.index'"
                    } else if p.named_var {
                        "'.name' and '.value'"
                    } else {
                        "no members"
                    };
                    Err(FilterError::new(
                        col,
                        format!("{base} has no member '{member}' at column {col}: it has {has}"),
                    ))
                }
            };
        }
    }
    if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        return Err(FilterError::new(
            col,
            format!("expected a field name at column {col}, found '{word}': a test starts with the field, as in frame == 5"),
        ));
    }
    let mut m = format!("unknown field '{word}' at column {col}");
    if type_names().any(|t| t == bare) {
        m.push_str(&format!("; did you mean 'type == {bare}'?"));
    } else {
        if let Some(s) = suggest_field(bare, prefixed) {
            let prefix = if prefixed { "cti." } else { "" };
            m.push_str(&format!("; did you mean '{prefix}{s}'?"));
        }
    }
    Err(FilterError::new(col, m))
}

/// The field (or, unless `prefixed` with `cti.`, the pseudo-field) a misspelt name most
/// likely meant.
pub(crate) fn suggest_field(bare: &str, prefixed: bool) -> Option<&'static str> {
    let names = fields::BY_NAME.iter().map(|e| e.0);
    let pseudo = Pseudo::ALL.iter().map(|p| p.name()).filter(|_| !prefixed);
    suggest(bare, names.chain(pseudo))
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// Parentheses and negations open around the current token.
    depth: usize,
    fields: Vec<FieldId>,
    pseudo: u32,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.pos]
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    /// `or` level; `after`: the operator or parenthesis before it, for messages.
    fn or(&mut self, after: Option<&Token>) -> Result<Node, FilterError> {
        let mut terms = vec![self.and(after)?];
        while self.peek().tok == Tok::Or {
            let op = self.next();
            terms.push(self.and(Some(&op))?);
        }
        Ok(if terms.len() == 1 { terms.pop().expect("one term") } else { Node::Or(terms) })
    }

    fn and(&mut self, after: Option<&Token>) -> Result<Node, FilterError> {
        let mut terms = vec![self.not(after)?];
        while self.peek().tok == Tok::And {
            let op = self.next();
            terms.push(self.not(Some(&op))?);
        }
        Ok(if terms.len() == 1 { terms.pop().expect("one term") } else { Node::And(terms) })
    }

    /// Enter a negation or parenthesis at `t`.
    fn nest(&mut self, t: &Token) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(FilterError::new(
                t.col,
                format!(
                    "'{}' at column {} is nested too deeply: at most {MAX_NESTING} parentheses and negations inside each other",
                    t.text, t.col
                ),
            ));
        }
        Ok(())
    }

    fn not(&mut self, after: Option<&Token>) -> Result<Node, FilterError> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Not => {
                self.next();
                self.nest(&t)?;
                let inner = self.not(Some(&t))?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(inner)))
            }
            Tok::LParen => {
                self.next();
                self.nest(&t)?;
                if self.peek().tok == Tok::RParen {
                    return Err(FilterError::new(t.col, format!("empty parentheses at column {}", t.col)));
                }
                let inner = self.or(Some(&t))?;
                match self.peek().tok {
                    Tok::RParen => {
                        self.next();
                        self.depth -= 1;
                        Ok(inner)
                    }
                    Tok::End => Err(FilterError::new(t.col, format!("unclosed '(' at column {}", t.col))),
                    _ => Err(unexpected(self.peek(), "'&&', '||' or ')'")),
                }
            }
            Tok::Word(_) => self.test(),
            _ => Err(cannot_start(&t, after)),
        }
    }

    fn test(&mut self) -> Result<Node, FilterError> {
        let ft = self.next();
        let Tok::Word(word) = &ft.tok else { unreachable!("called on a word") };
        let (target, label) = target(word, ft.col)?;
        match target {
            Target::Field(id, _) => self.fields.push(id),
            Target::Pseudo(p) => self.pseudo |= 1 << (p as u32),
        }
        let d = domain(target);
        let op = self.peek().clone();
        let (pred, all_not) = match op.tok {
            Tok::Cmp(c) => {
                self.next();
                let v = self.value(&op)?;
                self.split_time(d, &v)?;
                match c {
                    CmpOp::Eq | CmpOp::Ne => {
                        let mut set = Set::default();
                        add_element(d, &label, &v, &mut set, false)?;
                        (Pred::In(set), c == CmpOp::Ne)
                    }
                    CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
                        let order = match c {
                            CmpOp::Lt => Order::Lt,
                            CmpOp::Le => Order::Le,
                            CmpOp::Gt => Order::Gt,
                            _ => Order::Ge,
                        };
                        (Pred::Ord(order, ordered(d, &label, &op, &v)?), false)
                    }
                }
            }
            Tok::Amp => {
                self.next();
                let v = self.value(&op)?;
                (Pred::Bits(bits(d, &label, &op, &v)?), false)
            }
            Tok::In => {
                self.next();
                (Pred::In(self.set(d, &label, &op)?), false)
            }
            Tok::Not if self.toks.get(self.pos + 1).is_some_and(|t| t.tok == Tok::In) => {
                self.next();
                let in_tok = self.next();
                (Pred::In(self.set(d, &label, &in_tok)?), true)
            }
            Tok::Contains => {
                self.next();
                let v = self.value(&op)?;
                (Pred::Contains(text_operand(d, &label, &op, &v)?.into_boxed_slice()), false)
            }
            Tok::Matches => {
                self.next();
                let v = self.value(&op)?;
                let pattern = text_operand(d, &label, &op, &v)?;
                (Pred::Matches(Box::new(regex(&v, pattern)?)), false)
            }
            _ => (Pred::Exists, false),
        };
        Ok(Node::Test(Test { target, pred, all_not }))
    }

    /// An unquoted date followed by a time of day (`time == 2026-01-05 09:00:18`): the
    /// space ends the word, so the two are one value only in quotes.
    fn split_time(&self, d: Domain, v: &Val) -> Result<(), FilterError> {
        let time = matches!(d, Domain::Time) || matches!(d, Domain::Field(p) if p.time);
        let date = !v.quoted && v.bytes.len() == 10 && utc_time(v.str().unwrap_or("")).is_some();
        match &self.peek().tok {
            Tok::Word(w)
                if time && date && w.starts_with(|c: char| c.is_ascii_digit()) && w.contains(':') =>
            {
                Err(v.err(format!(
                    "a date and time are written in quotes: \"{} {w}\" at column {}",
                    v.written, v.col
                )))
            }
            _ => Ok(()),
        }
    }

    /// The value after operator `op`.
    fn value(&mut self, op: &Token) -> Result<Val, FilterError> {
        let t = self.peek().clone();
        let v = match (&t.tok, t.as_word()) {
            (Tok::Str(b), _) => Val { col: t.col, written: t.text.clone(), quoted: true, bytes: b.clone() },
            (_, Some(w)) => {
                Val { col: t.col, written: w.to_string(), quoted: false, bytes: w.as_bytes().to_vec() }
            }
            _ => {
                return Err(FilterError::new(
                    op.col,
                    format!("'{}' at column {} needs a value after it", op.text, op.col),
                ))
            }
        };
        self.next();
        Ok(v)
    }

    /// The `{...}` after `in`.
    fn set(&mut self, d: Domain, label: &str, in_tok: &Token) -> Result<Set, FilterError> {
        let open = self.peek().clone();
        if open.tok != Tok::LBrace {
            return Err(FilterError::new(
                in_tok.col,
                format!("'{}' at column {} needs a set after it, as in {{1 2 3}}", in_tok.text, in_tok.col),
            ));
        }
        self.next();
        let mut set = Set::default();
        let mut elements = 0;
        // Was the last token a separator (or the brace)?
        let mut separated = true;
        loop {
            let t = self.peek().clone();
            match t.tok {
                Tok::RBrace => {
                    self.next();
                    if elements == 0 {
                        return Err(FilterError::new(
                            open.col,
                            format!("empty set '{{}}' at column {}", open.col),
                        ));
                    }
                    return Ok(set);
                }
                Tok::End => {
                    return Err(FilterError::new(open.col, format!("unclosed '{{' at column {}", open.col)))
                }
                Tok::Comma if !separated => {
                    self.next();
                    separated = true;
                }
                Tok::Str(_) => {
                    let v = self.value(in_tok)?;
                    add_element(d, label, &v, &mut set, true)?;
                    elements += 1;
                    separated = false;
                }
                _ if t.as_word().is_some() => {
                    let v = self.value(in_tok)?;
                    add_element(d, label, &v, &mut set, true)?;
                    elements += 1;
                    separated = false;
                }
                _ => return Err(unexpected(&t, "a value or '}'")),
            }
        }
    }
}

/// `t` where an expression should start.
fn cannot_start(t: &Token, after: Option<&Token>) -> FilterError {
    let (col, m) = match (&t.tok, after) {
        (Tok::End, Some(open)) if open.tok == Tok::LParen => {
            (open.col, format!("unclosed '(' at column {}", open.col))
        }
        (Tok::End | Tok::RParen | Tok::And | Tok::Or, Some(op)) => {
            (op.col, format!("'{}' at column {} needs an expression after it", op.text, op.col))
        }
        (Tok::And | Tok::Or, None) => {
            (t.col, format!("'{}' at column {} needs an expression before it", t.text, t.col))
        }
        (Tok::End, None) => (1, "empty filter at column 1".to_string()),
        (Tok::RParen, None) => (t.col, format!("unmatched ')' at column {}", t.col)),
        (Tok::Cmp(_) | Tok::Contains | Tok::Matches | Tok::In | Tok::Amp, _) => {
            (t.col, format!("'{}' at column {} needs a field before it", t.text, t.col))
        }
        (Tok::Str(_), _) => {
            (t.col, format!("expected a field name at column {}, found the string {}", t.col, t.text))
        }
        _ => (t.col, format!("unexpected '{}' at column {}", t.text, t.col)),
    };
    FilterError::new(col, m)
}

fn unexpected(t: &Token, wanted: &str) -> FilterError {
    FilterError::new(t.col, format!("unexpected '{}' at column {}; expected {wanted}", t.text, t.col))
}

pub(crate) fn compile(expr: &str) -> Result<Filter, FilterError> {
    let toks = lex::tokens(expr)?;
    let mut p = Parser { toks, pos: 0, depth: 0, fields: Vec::new(), pseudo: 0 };
    let root = p.or(None)?;
    let end = p.peek();
    match end.tok {
        Tok::End => {}
        Tok::RParen => return Err(FilterError::new(end.col, format!("unmatched ')' at column {}", end.col))),
        _ => return Err(unexpected(end, "'&&', '||' or the end of the filter")),
    }
    let mut fields = p.fields;
    fields.sort_unstable();
    fields.dedup();
    Ok(Filter { source: expr.to_string(), root, fields, pseudo: p.pseudo })
}
