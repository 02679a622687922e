//! Classic BPF for the kernel socket filter: a compiler for a practical subset of the
//! tcpdump filter language, and an interpreter (used to check generated programs and to
//! filter in user space when the kernel refuses a program).
//!
//! Supported expressions (tcpdump syntax and precedence: `not` binds tightest, `and` and
//! `or` have equal precedence and group left to right, parentheses group):
//!
//! - `ip`, `ip6`, `tcp`, `udp`
//! - `[tcp|udp] [src|dst] port N`
//! - `[src|dst] host ADDR` (IPv4 or IPv6 address)
//! - `not` / `!`, `and` / `&&`, `or` / `||`, `( ... )`
//! - a bare number or address after `and`/`or` repeats the previous primitive's
//!   qualifiers: `port 42027 or 43027`
//!
//! IPv4 and IPv6 are matched; IPv6 extension headers are not walked (a TCP port test
//! matches only when TCP follows the fixed IPv6 header, as in tcpdump) and IPv4
//! fragments other than the first never match a port test.
//!
//! Programs are generated for one of two packet layouts ([`LinkKind`]): Ethernet frames
//! (the EtherType at byte 12, the network header at byte 14) or packets that start at the
//! network header (the kernel's cooked capture, where the EtherType comes from the socket
//! buffer's protocol through an ancillary load).

use std::fmt;
use std::net::IpAddr;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

// Instruction classes, sizes, modes and operations (linux/filter.h, linux/bpf_common.h).
pub const LD: u16 = 0x00;
pub const LDX: u16 = 0x01;
pub const JMP: u16 = 0x05;
pub const RET: u16 = 0x06;
pub const W: u16 = 0x00;
pub const H: u16 = 0x08;
pub const B: u16 = 0x10;
pub const ABS: u16 = 0x20;
pub const IND: u16 = 0x40;
pub const MSH: u16 = 0xa0;
pub const JA: u16 = 0x00;
pub const JEQ: u16 = 0x10;
pub const JGT: u16 = 0x20;
pub const JGE: u16 = 0x30;
pub const JSET: u16 = 0x40;
pub const K: u16 = 0x00;
pub const X: u16 = 0x08;
pub const IMM: u16 = 0x00;

/// Start of the kernel's ancillary data area for `LD ABS` loads (`SKF_AD_OFF`).
pub const AD_OFF: i32 = -0x1000;
/// Ancillary field: the socket buffer's protocol (EtherType), host order.
pub const AD_PROTOCOL: i32 = 0;
/// Ancillary field: the packet type (`PACKET_HOST`, `PACKET_OUTGOING`, ...).
pub const AD_PKTTYPE: i32 = 4;
/// Ancillary field: the interface index the packet was seen on.
pub const AD_IFINDEX: i32 = 8;

/// `PACKET_OUTGOING`: a packet sent by this host.
pub const PACKET_OUTGOING: u32 = 4;

/// Largest program the kernel accepts (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// Where the network header starts in the packets the program will see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Ethernet frames: EtherType at byte 12, network header at byte 14.
    Ethernet,
    /// Packets that start at the network header; EtherType from the ancillary protocol.
    Cooked,
}

impl LinkKind {
    fn net(self) -> u32 {
        match self {
            LinkKind::Ethernet => 14,
            LinkKind::Cooked => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Src,
    Dst,
}

/// A test that is one conditional jump after a few loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atom {
    EtherType(u16),
    Ip4Proto(u8),
    /// Fragment offset zero (unfragmented or the first fragment).
    Ip4FirstFragment,
    Ip4Port(Dir, u16),
    Ip4Addr(Dir, u32),
    Ip6Next(u8),
    Ip6Port(Dir, u16),
    /// One 32-bit word (0..4) of an IPv6 address.
    Ip6AddrWord(Dir, u8, u32),
    PktType(u32),
    IfIndex(u32),
}

/// A filter expression over [`Atom`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    True,
    Atom(Atom),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    pub fn and(a: Expr, b: Expr) -> Expr {
        match (a, b) {
            (Expr::True, x) | (x, Expr::True) => x,
            (a, b) => Expr::And(Box::new(a), Box::new(b)),
        }
    }
    pub fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }
    #[allow(clippy::should_implement_trait)]
    pub fn not(a: Expr) -> Expr {
        Expr::Not(Box::new(a))
    }
    fn any(items: impl IntoIterator<Item = Expr>) -> Expr {
        let mut it = items.into_iter();
        let first = it.next().expect("at least one alternative");
        it.fold(first, Expr::or)
    }
    fn all(items: impl IntoIterator<Item = Expr>) -> Expr {
        items.into_iter().fold(Expr::True, Expr::and)
    }
}

fn atom(a: Atom) -> Expr {
    Expr::Atom(a)
}

const ETH_IP4: u16 = 0x0800;
const ETH_IP6: u16 = 0x86dd;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// `ip`.
pub fn ip4() -> Expr {
    atom(Atom::EtherType(ETH_IP4))
}

/// `ip6`.
pub fn ip6() -> Expr {
    atom(Atom::EtherType(ETH_IP6))
}

/// IP protocol `protos` (any of them) over IPv4 or IPv6.
fn proto(protos: &[u8]) -> Expr {
    Expr::or(
        Expr::and(ip4(), Expr::any(protos.iter().map(|&p| atom(Atom::Ip4Proto(p))))),
        Expr::and(ip6(), Expr::any(protos.iter().map(|&p| atom(Atom::Ip6Next(p))))),
    )
}

/// `[tcp|udp] [src|dst] port N`; `protos` are the transport protocols the port applies to.
pub fn port(protos: &[u8], dir: Option<Dir>, n: u16) -> Expr {
    let dirs: &[Dir] = match dir {
        Some(Dir::Src) => &[Dir::Src],
        Some(Dir::Dst) => &[Dir::Dst],
        None => &[Dir::Src, Dir::Dst],
    };
    let v4 = Expr::all([
        ip4(),
        Expr::any(protos.iter().map(|&p| atom(Atom::Ip4Proto(p)))),
        atom(Atom::Ip4FirstFragment),
        Expr::any(dirs.iter().map(|&d| atom(Atom::Ip4Port(d, n)))),
    ]);
    let v6 = Expr::all([
        ip6(),
        Expr::any(protos.iter().map(|&p| atom(Atom::Ip6Next(p)))),
        Expr::any(dirs.iter().map(|&d| atom(Atom::Ip6Port(d, n)))),
    ]);
    Expr::or(v4, v6)
}

/// `[src|dst] host ADDR`.
pub fn host(dir: Option<Dir>, addr: IpAddr) -> Expr {
    let dirs: &[Dir] = match dir {
        Some(Dir::Src) => &[Dir::Src],
        Some(Dir::Dst) => &[Dir::Dst],
        None => &[Dir::Src, Dir::Dst],
    };
    match addr {
        IpAddr::V4(a) => {
            let v = u32::from(a);
            Expr::and(ip4(), Expr::any(dirs.iter().map(|&d| atom(Atom::Ip4Addr(d, v)))))
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            let words: Vec<u32> = (0..4)
                .map(|i| u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]))
                .collect();
            Expr::and(
                ip6(),
                Expr::any(
                    dirs.iter().map(|&d| {
                        Expr::all((0..4u8).map(|i| atom(Atom::Ip6AddrWord(d, i, words[i as usize]))))
                    }),
                ),
            )
        }
    }
}

/// The default capture filter: TCP to or from any of `ports`.
pub fn tcp_ports(ports: &[u16]) -> Expr {
    Expr::any(ports.iter().map(|&p| port(&[PROTO_TCP], None, p)))
}

/// A filter that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (supported: ip, ip6, tcp, udp, [tcp|udp] [src|dst] port N, [src|dst] host ADDR, \
             not/!, and/&&, or/||, parentheses)",
            self.0
        )
    }
}

impl std::error::Error for FilterError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    LParen,
    RParen,
    Not,
    And,
    Or,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, FilterError> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push(Tok::LParen);
                i += 1
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1
            }
            b'!' => {
                out.push(Tok::Not);
                i += 1
            }
            b'&' if b.get(i + 1) == Some(&b'&') => {
                out.push(Tok::And);
                i += 2
            }
            b'|' if b.get(i + 1) == Some(&b'|') => {
                out.push(Tok::Or);
                i += 2
            }
            c if c.is_ascii_alphanumeric() || c == b':' || c == b'.' || c == b'_' => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b':' | b'.' | b'_' | b'-'))
                {
                    i += 1;
                }
                let w = &s[start..i];
                out.push(match w {
                    "not" => Tok::Not,
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    _ => Tok::Word(w.to_string()),
                });
            }
            _ => {
                return Err(FilterError(format!("unexpected character {:?} in filter", c as char)));
            }
        }
    }
    Ok(out)
}

/// Qualifiers of the last primitive, for `port 1 or 2` shorthand.
#[derive(Debug, Clone, Copy)]
enum Last {
    Port(Option<u8>, Option<Dir>),
    Host(Option<Dir>),
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    last: Option<Last>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn word(&mut self, what: &str) -> Result<String, FilterError> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            Some(t) => Err(FilterError(format!("expected {what}, found {}", tok_text(&t)))),
            None => Err(FilterError(format!("expected {what} at the end of the filter"))),
        }
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        let mut e = self.unary()?;
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    let r = self.unary()?;
                    e = Expr::And(Box::new(e), Box::new(r));
                }
                Some(Tok::Or) => {
                    self.pos += 1;
                    let r = self.unary()?;
                    e = Expr::or(e, r);
                }
                _ => return Ok(e),
            }
        }
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Expr::not(self.unary()?))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    Some(t) => Err(FilterError(format!("expected ')', found {}", tok_text(&t)))),
                    None => Err(FilterError("missing ')'".into())),
                }
            }
            Some(Tok::Word(_)) => self.primitive(),
            Some(t) => Err(FilterError(format!("unexpected {}", tok_text(t)))),
            None => Err(FilterError("the filter ends where an expression was expected".into())),
        }
    }

    fn primitive(&mut self) -> Result<Expr, FilterError> {
        let w = self.word("a primitive")?;
        // Shorthand: a bare number or address repeats the previous primitive's qualifiers.
        if w.starts_with(|c: char| c.is_ascii_digit()) || w.contains(':') {
            return match self.last {
                Some(Last::Port(p, d)) => port_prim(p, d, &w),
                Some(Last::Host(d)) => host_prim(d, &w),
                None => Err(FilterError(format!("{w:?} needs a qualifier such as `port` or `host`"))),
            };
        }
        let mut proto: Option<u8> = None;
        let mut dir: Option<Dir> = None;
        let mut kw = w;
        if kw == "tcp" || kw == "udp" {
            let p = if kw == "tcp" { PROTO_TCP } else { PROTO_UDP };
            match self.peek() {
                Some(Tok::Word(n)) if matches!(n.as_str(), "port" | "src" | "dst") => {
                    proto = Some(p);
                    kw = self.word("port")?;
                }
                _ => return Ok(self::proto(&[p])),
            }
        }
        if kw == "src" || kw == "dst" {
            dir = Some(if kw == "src" { Dir::Src } else { Dir::Dst });
            kw = self.word("`port` or `host`")?;
        }
        match kw.as_str() {
            "port" => {
                let n = self.word("a port number")?;
                self.last = Some(Last::Port(proto, dir));
                port_prim(proto, dir, &n)
            }
            "host" if proto.is_none() => {
                let a = self.word("an address")?;
                self.last = Some(Last::Host(dir));
                host_prim(dir, &a)
            }
            "ip" if dir.is_none() => Ok(ip4()),
            "ip6" if dir.is_none() => Ok(ip6()),
            other => Err(FilterError(format!("unsupported filter primitive {other:?}"))),
        }
    }
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("{w:?}"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Not => "`not`".into(),
        Tok::And => "`and`".into(),
        Tok::Or => "`or`".into(),
    }
}

fn port_prim(proto: Option<u8>, dir: Option<Dir>, n: &str) -> Result<Expr, FilterError> {
    let n: u16 = n.parse().map_err(|_| FilterError(format!("{n:?} is not a port number (0 to 65535)")))?;
    let protos: &[u8] = match proto {
        Some(PROTO_TCP) => &[PROTO_TCP],
        Some(_) => &[PROTO_UDP],
        None => &[PROTO_TCP, PROTO_UDP],
    };
    Ok(port(protos, dir, n))
}

fn host_prim(dir: Option<Dir>, a: &str) -> Result<Expr, FilterError> {
    let addr: IpAddr = a.parse().map_err(|_| {
        FilterError(format!("{a:?} is not an IPv4 or IPv6 address (host names are not resolved)"))
    })?;
    Ok(host(dir, addr))
}

/// Parses a filter expression (see the module documentation for the supported subset).
pub fn parse(s: &str) -> Result<Expr, FilterError> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Ok(Expr::True);
    }
    let mut p = Parser { toks, pos: 0, last: None };
    let e = p.expr()?;
    if let Some(t) = p.peek() {
        return Err(FilterError(format!("unexpected {} after a complete expression", tok_text(t))));
    }
    Ok(e)
}

/// Builds programs back to front, so every jump target is already placed when the jump is
/// emitted. Labels are positions counted from the end of the program.
struct Gen {
    rev: Vec<Insn>,
    link: LinkKind,
}

impl Gen {
    fn emit(&mut self, i: Insn) -> usize {
        self.rev.push(i);
        self.rev.len() - 1
    }

    fn ja(&mut self, target: usize) -> usize {
        let here = self.rev.len();
        self.emit(Insn { code: JMP | JA, jt: 0, jf: 0, k: (here - target - 1) as u32 })
    }

    /// A label within conditional-jump reach of the next emitted instruction.
    fn near(&mut self, target: usize) -> usize {
        if self.rev.len() - target - 1 > 255 {
            self.ja(target)
        } else {
            target
        }
    }

    fn cond(&mut self, op: u16, k: u32, t: usize, f: usize) -> usize {
        let t = self.near(t);
        let f = self.near(f);
        let here = self.rev.len();
        self.emit(Insn { code: JMP | op | K, jt: (here - t - 1) as u8, jf: (here - f - 1) as u8, k })
    }

    fn ld(&mut self, code: u16, k: u32) -> usize {
        self.emit(Insn { code, jt: 0, jf: 0, k })
    }

    fn atom(&mut self, a: Atom, t: usize, f: usize) -> usize {
        let net = self.link.net();
        let ad = |off: i32| (AD_OFF + off) as u32;
        let off = |d: Dir, src: u32, dst: u32| if d == Dir::Src { src } else { dst };
        match a {
            Atom::EtherType(e) => {
                self.cond(JEQ, e as u32, t, f);
                match self.link {
                    LinkKind::Ethernet => self.ld(LD | H | ABS, 12),
                    LinkKind::Cooked => self.ld(LD | W | ABS, ad(AD_PROTOCOL)),
                }
            }
            Atom::Ip4Proto(p) => {
                self.cond(JEQ, p as u32, t, f);
                self.ld(LD | B | ABS, net + 9)
            }
            Atom::Ip4FirstFragment => {
                self.cond(JSET, 0x1fff, f, t);
                self.ld(LD | H | ABS, net + 6)
            }
            Atom::Ip4Port(d, n) => {
                self.cond(JEQ, n as u32, t, f);
                self.ld(LD | H | IND, net + off(d, 0, 2));
                self.ld(LDX | B | MSH, net)
            }
            Atom::Ip4Addr(d, v) => {
                self.cond(JEQ, v, t, f);
                self.ld(LD | W | ABS, net + off(d, 12, 16))
            }
            Atom::Ip6Next(p) => {
                self.cond(JEQ, p as u32, t, f);
                self.ld(LD | B | ABS, net + 6)
            }
            Atom::Ip6Port(d, n) => {
                self.cond(JEQ, n as u32, t, f);
                self.ld(LD | H | ABS, net + 40 + off(d, 0, 2))
            }
            Atom::Ip6AddrWord(d, i, v) => {
                self.cond(JEQ, v, t, f);
                self.ld(LD | W | ABS, net + off(d, 8, 24) + 4 * i as u32)
            }
            Atom::PktType(p) => {
                self.cond(JEQ, p, t, f);
                self.ld(LD | W | ABS, ad(AD_PKTTYPE))
            }
            Atom::IfIndex(i) => {
                self.cond(JEQ, i, t, f);
                self.ld(LD | W | ABS, ad(AD_IFINDEX))
            }
        }
    }

    fn expr(&mut self, e: &Expr, t: usize, f: usize) -> usize {
        match e {
            Expr::True => t,
            Expr::Atom(a) => self.atom(*a, t, f),
            Expr::Not(a) => self.expr(a, f, t),
            Expr::And(a, b) => {
                let lb = self.expr(b, t, f);
                self.expr(a, lb, f)
            }
            Expr::Or(a, b) => {
                let lb = self.expr(b, t, f);
                self.expr(a, t, lb)
            }
        }
    }
}

/// Compiles `e` for packets of layout `link`; accepted packets are kept up to `snaplen`
/// bytes.
pub fn compile(e: &Expr, link: LinkKind, snaplen: u32) -> Result<Vec<Insn>, FilterError> {
    if *e == Expr::True {
        return Ok(vec![Insn { code: RET | K, jt: 0, jf: 0, k: snaplen }]);
    }
    let mut g = Gen { rev: Vec::new(), link };
    let accept = g.emit(Insn { code: RET | K, jt: 0, jf: 0, k: snaplen });
    let reject = g.emit(Insn { code: RET | K, jt: 0, jf: 0, k: 0 });
    let entry = g.expr(e, accept, reject);
    if entry != g.rev.len() - 1 {
        g.ja(entry);
    }
    if g.rev.len() > MAX_INSNS {
        return Err(FilterError(format!(
            "the filter compiles to {} instructions, more than the kernel's {MAX_INSNS}",
            g.rev.len()
        )));
    }
    g.rev.reverse();
    Ok(g.rev)
}

/// Socket buffer metadata the ancillary loads read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meta {
    /// EtherType (host order).
    pub protocol: u16,
    pub pkttype: u32,
    pub ifindex: u32,
}

/// Runs a program over one packet, like the kernel does: returns the number of bytes to
/// keep (0 rejects). A load outside the packet rejects it; an invalid instruction or a jump
/// out of the program also returns 0.
pub fn run(prog: &[Insn], pkt: &[u8], meta: &Meta) -> u32 {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut pc = 0usize;
    let load = |off: u32, size: u16| -> Option<u32> {
        let o = off as usize;
        let n = match size {
            W => 4,
            H => 2,
            _ => 1,
        };
        let b = pkt.get(o..o.checked_add(n)?)?;
        Some(b.iter().fold(0u32, |acc, &v| (acc << 8) | v as u32))
    };
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let class = i.code & 0x07;
        let size = i.code & 0x18;
        let mode = i.code & 0xe0;
        match class {
            LD => {
                a = match mode {
                    IMM => i.k,
                    ABS if (i.k as i32) <= AD_OFF + 0xfff && (i.k as i32) >= AD_OFF => {
                        match i.k as i32 - AD_OFF {
                            AD_PROTOCOL => meta.protocol as u32,
                            AD_PKTTYPE => meta.pkttype,
                            AD_IFINDEX => meta.ifindex,
                            _ => return 0,
                        }
                    }
                    ABS => match load(i.k, size) {
                        Some(v) => v,
                        None => return 0,
                    },
                    IND => match load(x.wrapping_add(i.k), size) {
                        Some(v) => v,
                        None => return 0,
                    },
                    0x80 => pkt.len() as u32,
                    _ => return 0,
                }
            }
            LDX => {
                x = match mode {
                    IMM => i.k,
                    MSH => match load(i.k, B) {
                        Some(v) => 4 * (v & 0xf),
                        None => return 0,
                    },
                    0x80 => pkt.len() as u32,
                    _ => return 0,
                }
            }
            JMP => {
                let op = i.code & 0xf0;
                let v = if i.code & X != 0 { x } else { i.k };
                if op == JA {
                    pc += i.k as usize;
                    continue;
                }
                let taken = match op {
                    JEQ => a == v,
                    JGT => a > v,
                    JGE => a >= v,
                    JSET => a & v != 0,
                    _ => return 0,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            RET => return if i.code & 0x18 == 0x10 { a } else { i.k },
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests;
