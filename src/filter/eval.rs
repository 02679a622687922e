//! Evaluating the compiled tree against one message, without allocating: text is compared
//! in place in the frame, numbers as they were decoded, names were resolved to numbers when
//! the filter was compiled.

use super::compile::{Member, Node, Order, Pred, Set, Target, Test, DIR_CLIENT, DIR_SERVER};
use super::literal::in_net;
use super::{Pseudo, Record};
use crate::cti::decode::{named_value, range_bytes, Value};
use crate::pipeline::Direction;
use std::net::IpAddr;

/// One occurrence of a target in a message.
#[derive(Debug, Clone, Copy)]
enum Occ<'a> {
    /// A number: a numeric field, a count, a time in nanoseconds.
    Num(i128),
    /// Text or bytes.
    Text(&'a [u8]),
    /// A NAMEDVAR (`name=value`) or NAMEDARRAY (`name[index]=value`).
    Named {
        name: &'a [u8],
        index: Option<u8>,
        value: &'a [u8],
    },
    Type {
        num: u32,
        name: Option<&'static str>,
    },
    Ip(IpAddr),
    Dir(Direction),
    /// Present, with a value no test reads (a TASKID).
    Other,
}

pub(crate) fn eval(n: &Node, r: &Record<'_>) -> bool {
    match n {
        Node::And(terms) => terms.iter().all(|t| eval(t, r)),
        Node::Or(terms) => terms.iter().any(|t| eval(t, r)),
        Node::Not(a) => !eval(a, r),
        Node::Test(t) => test(t, r),
    }
}

fn test(t: &Test, r: &Record<'_>) -> bool {
    if !t.all_not {
        return any(t.target, r, |o| holds(&t.pred, o));
    }
    let mut present = false;
    let hit = any(t.target, r, |o| {
        present = true;
        holds(&t.pred, o)
    });
    present && !hit
}

/// Does `f` hold for an occurrence of `target` in the message? Stops at the first that does.
#[inline]
fn any(target: Target, r: &Record<'_>, mut f: impl FnMut(Occ<'_>) -> bool) -> bool {
    let d = r.decoded;
    match target {
        Target::Field(id, member) => {
            // The layout's position table answers for a field the message cannot carry.
            if d.get(id).is_none() {
                return false;
            }
            let frame = r.bytes;
            for field in d.fields.iter().filter(|x| x.meta.id == id) {
                let occ = match (member, field.value) {
                    (Member::Whole, Value::Unsigned(n)) => Occ::Num(i128::from(n)),
                    (Member::Whole, Value::Signed(n)) => Occ::Num(i128::from(n)),
                    (Member::Whole, Value::Bool(n)) => Occ::Num(i128::from(n)),
                    (Member::Whole, Value::Time(n)) => Occ::Num(i128::from(n)),
                    (
                        Member::Whole,
                        Value::Text { start, len } | Value::Bytes { start, len } | Value::Raw { start, len },
                    ) => Occ::Text(range_bytes(frame, (start, len))),
                    (Member::Whole, Value::NamedVar { name, value_len }) => Occ::Named {
                        name: range_bytes(frame, name),
                        index: None,
                        value: range_bytes(frame, named_value(name, value_len)),
                    },
                    (Member::Whole, Value::NamedArray { index, name, value_len }) => Occ::Named {
                        name: range_bytes(frame, name),
                        index: Some(index),
                        value: range_bytes(frame, named_value(name, value_len)),
                    },
                    (Member::Whole, Value::TaskId(_)) => Occ::Other,
                    (Member::Name, Value::NamedVar { name, .. } | Value::NamedArray { name, .. }) => {
                        Occ::Text(range_bytes(frame, name))
                    }
                    (
                        Member::Value,
                        Value::NamedVar { name, value_len } | Value::NamedArray { name, value_len, .. },
                    ) => Occ::Text(range_bytes(frame, named_value(name, value_len))),
                    (Member::Index, Value::NamedArray { index, .. }) => Occ::Num(i128::from(index)),
                    // A malformed NAMEDVAR (raw bytes) has no name, value or index.
                    _ => continue,
                };
                if f(occ) {
                    return true;
                }
            }
            false
        }
        Target::Pseudo(p) => match p {
            Pseudo::Frame => f(Occ::Num(i128::from(r.frame))),
            Pseudo::Time => f(Occ::Num(i128::from(r.ts_ns))),
            Pseudo::RelTime => f(Occ::Num(i128::from(r.ts_ns) - i128::from(r.first_ts_ns))),
            Pseudo::Conn => f(Occ::Num(i128::from(r.conn))),
            Pseudo::Dir => f(Occ::Dir(r.dir)),
            Pseudo::Type => f(Occ::Type { num: d.msg_type, name: d.type_name() }),
            Pseudo::Version => f(Occ::Num(i128::from(d.version))),
            Pseudo::Len => f(Occ::Num(r.bytes.len() as i128)),
            Pseudo::Anomaly => d.anomalies.iter().any(|a| f(Occ::Text(a.code.as_bytes()))),
            Pseudo::Finding => r.findings.iter().any(|id| f(Occ::Text(id.as_bytes()))),
            Pseudo::IpAddr => f(Occ::Ip(r.src.ip().to_canonical())) || f(Occ::Ip(r.dst.ip().to_canonical())),
            Pseudo::IpSrc => f(Occ::Ip(r.src.ip().to_canonical())),
            Pseudo::IpDst => f(Occ::Ip(r.dst.ip().to_canonical())),
            Pseudo::TcpPort => f(Occ::Num(i128::from(r.src.port()))) || f(Occ::Num(i128::from(r.dst.port()))),
            Pseudo::TcpSrcPort => f(Occ::Num(i128::from(r.src.port()))),
            Pseudo::TcpDstPort => f(Occ::Num(i128::from(r.dst.port()))),
        },
    }
}

#[inline]
fn holds(p: &Pred, o: Occ<'_>) -> bool {
    match p {
        Pred::Exists => true,
        Pred::In(set) => in_set(set, o),
        Pred::Ord(order, k) => {
            let n = match o {
                Occ::Num(n) => n,
                Occ::Type { num, .. } => i128::from(num),
                _ => return false,
            };
            match order {
                Order::Lt => n < *k,
                Order::Le => n <= *k,
                Order::Gt => n > *k,
                Order::Ge => n >= *k,
            }
        }
        // Two's complement bits of a negative number.
        Pred::Bits(mask) => matches!(o, Occ::Num(n) if (n as u64) & mask != 0),
        Pred::Contains(needle) => with_text(o, |t| find(t, needle)),
        Pred::Matches(re) => with_text(o, |t| re.is_match(t)),
    }
}

fn in_set(s: &Set, o: Occ<'_>) -> bool {
    let num = |n: i128| s.nums.iter().any(|&(lo, hi)| lo <= n && n <= hi);
    match o {
        Occ::Num(n) => num(n),
        Occ::Text(t) => s.texts.iter().any(|x| **x == *t),
        Occ::Named { name, index, value } => s.texts.iter().any(|x| named_eq(x, name, index, value)),
        Occ::Type { num: n, name } => {
            num(i128::from(n)) || name.is_some_and(|name| s.texts.iter().any(|x| **x == *name.as_bytes()))
        }
        Occ::Ip(a) => s.ips.iter().any(|&(net, prefix)| in_net(a, net, prefix)),
        Occ::Dir(d) => {
            let bit = match d {
                Direction::ToServer => DIR_CLIENT,
                Direction::ToClient => DIR_SERVER,
            };
            s.dirs & bit != 0
        }
        Occ::Other => false,
    }
}

/// The decimal digits of an index, in a fixed buffer.
fn index_digits(i: u8, buf: &mut [u8; 3]) -> &[u8] {
    let mut n = i;
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + n % 10;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

/// Is `x` the text `name=value` (`name[index]=value`), compared piece by piece?
fn named_eq(x: &[u8], name: &[u8], index: Option<u8>, value: &[u8]) -> bool {
    let Some(mut rest) = x.strip_prefix(name) else { return false };
    if let Some(i) = index {
        let mut buf = [0u8; 3];
        let digits = index_digits(i, &mut buf);
        let Some(r) =
            rest.strip_prefix(b"[").and_then(|r| r.strip_prefix(digits)).and_then(|r| r.strip_prefix(b"]"))
        else {
            return false;
        };
        rest = r;
    }
    rest.strip_prefix(b"=") == Some(value)
}

thread_local! {
    /// The text of a NAMEDVAR or NAMEDARRAY put together for `contains` and `matches`: grown
    /// once, reused after.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `f` of the occurrence's text; false for an occurrence without text.
fn with_text(o: Occ<'_>, f: impl FnOnce(&[u8]) -> bool) -> bool {
    match o {
        Occ::Text(t) => f(t),
        Occ::Type { name: Some(name), .. } => f(name.as_bytes()),
        Occ::Named { name, index, value } => SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            s.clear();
            s.extend_from_slice(name);
            if let Some(i) = index {
                let mut buf = [0u8; 3];
                s.push(b'[');
                s.extend_from_slice(index_digits(i, &mut buf));
                s.push(b']');
            }
            s.push(b'=');
            s.extend_from_slice(value);
            f(&s)
        }),
        _ => false,
    }
}

/// Is `needle` in `hay`? (Field texts are short: a plain scan.)
fn find(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_texts_compare_piece_by_piece() {
        assert!(named_eq(b"user.Intent=billing", b"user.Intent", None, b"billing"));
        assert!(!named_eq(b"user.Intent=billin", b"user.Intent", None, b"billing"));
        assert!(!named_eq(b"user.Intent", b"user.Intent", None, b""));
        assert!(named_eq(b"user.Intent=", b"user.Intent", None, b""));
        assert!(named_eq(b"user.P[0]=HOME", b"user.P", Some(0), b"HOME"));
        assert!(named_eq(b"a[255]=", b"a", Some(255), b""));
        assert!(!named_eq(b"user.P[1]=HOME", b"user.P", Some(0), b"HOME"));
        assert!(!named_eq(b"user.P=HOME", b"user.P", Some(0), b"HOME"));
        let mut buf = [0u8; 3];
        assert_eq!(index_digits(0, &mut buf), b"0");
        assert_eq!(index_digits(42, &mut buf), b"42");
        assert_eq!(index_digits(200, &mut buf), b"200");
    }

    #[test]
    fn substrings() {
        assert!(find(b"abc", b""));
        assert!(find(b"abc", b"bc"));
        assert!(!find(b"abc", b"abcd"));
        assert!(!find(b"", b"a"));
    }
}
