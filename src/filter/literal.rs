//! Reading constants (integers, seconds, UTC times, addresses) and suggesting names for
//! misspelt ones.

use std::net::IpAddr;

/// An integer as written: decimal or `0x` hex, with an optional `-`.
pub(crate) fn integer(w: &str) -> Option<i128> {
    let (neg, digits) = match w.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, w),
    };
    let n = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse::<u64>().ok()?
        }
        None => return None,
    };
    Some(if neg { -i128::from(n) } else { i128::from(n) })
}

/// Seconds with an optional fraction of up to 9 digits and an optional `-`: the
/// nanoseconds and the unit of the last digit written, in nanoseconds (`1.5`: 1.5 s, 0.1 s).
pub(crate) fn seconds(w: &str) -> Option<(i128, i128)> {
    let (neg, body) = match w.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, w),
    };
    let (whole, frac) = match body.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (body, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 12 {
        return None;
    }
    let mut ns = whole.parse::<i128>().ok()? * 1_000_000_000;
    let mut unit = 1_000_000_000i128;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        unit = 10i128.pow(9 - f.len() as u32);
        ns += f.parse::<i128>().ok()? * unit;
    }
    Some((if neg { -ns } else { ns }, unit))
}

pub(crate) use crate::time::days_from_civil;

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// A cursor over the bytes of a time.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    /// Exactly `n` digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let d = self.b.get(self.i..self.i + n)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(d.iter().fold(0, |a, &c| a * 10 + u32::from(c - b'0')))
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
}

/// A UTC time: `YYYY-MM-DD`, then optionally ` HH:MM`, `:SS` and a fraction of up to 9
/// digits (a `T` may stand for the space), then optionally `Z` or an offset `+HH:MM` /
/// `-HH:MM`; or seconds since 1970-01-01 (`1767603618.364`). Returns the nanoseconds since
/// the epoch and the unit of the last part written (a day, a minute, a second or the last
/// fraction digit), in nanoseconds.
pub(crate) fn utc_time(s: &str) -> Option<(i128, i128)> {
    let s = s.trim();
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return seconds(s);
    }
    let mut c = Cursor { b: s.as_bytes(), i: 0 };
    let y = c.digits(4)?;
    let (true, Some(mo), true, Some(d)) = (c.eat(b'-'), c.digits(2), c.eat(b'-'), c.digits(2)) else {
        return None;
    };
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(i64::from(y), mo) {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let mut ns = i128::from(days) * 86_400 * 1_000_000_000;
    let mut unit = 86_400 * 1_000_000_000i128;
    if c.eat(b' ') || c.eat(b'T') {
        let h = c.digits(2)?;
        if !c.eat(b':') {
            return None;
        }
        let mi = c.digits(2)?;
        if h > 23 || mi > 59 {
            return None;
        }
        ns += i128::from(h * 3600 + mi * 60) * 1_000_000_000;
        unit = 60 * 1_000_000_000;
        if c.eat(b':') {
            let sec = c.digits(2)?;
            if sec > 59 {
                return None;
            }
            ns += i128::from(sec) * 1_000_000_000;
            unit = 1_000_000_000;
            if c.eat(b'.') {
                let start = c.i;
                while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                    c.i += 1;
                }
                let f = &s[start..c.i];
                if f.is_empty() || f.len() > 9 {
                    return None;
                }
                unit = 10i128.pow(9 - f.len() as u32);
                ns += f.parse::<i128>().ok()? * unit;
            }
        }
        match c.peek() {
            Some(b'Z') => c.i += 1,
            Some(sign @ (b'+' | b'-')) => {
                c.i += 1;
                let oh = c.digits(2)?;
                if !c.eat(b':') {
                    return None;
                }
                let om = c.digits(2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = i128::from(oh * 3600 + om * 60) * 1_000_000_000;
                // Local time = UTC + offset.
                ns += if sign == b'+' { -off } else { off };
            }
            _ => {}
        }
    }
    (c.i == s.len()).then_some((ns, unit))
}

/// An address with an optional prefix length: `10.10.1.20`, `10.10.0.0/16`, `fe80::1`,
/// `2001:db8::/32`.
pub(crate) fn ip_net(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<u8>().ok()?,
        Some(_) => return None,
        None => max,
    };
    if prefix > max {
        return None;
    }
    // An IPv4-mapped IPv6 address is the IPv4 address, as the endpoints are compared.
    match addr {
        IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => Some((IpAddr::V4(v4), prefix - 96)),
            None => Some((addr, prefix)),
        },
        _ => Some((addr, prefix)),
    }
}

/// Is `a` in the network `net`/`prefix` (same address family)?
pub(crate) fn in_net(a: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Optimal string alignment distance (Levenshtein with transpositions of neighbours) of
/// two strings, ASCII case ignored.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1).min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// The candidate `word` was most likely meant as: the first one equal to it with ASCII case
/// ignored, else the closest ([`distance`]) within a third of the word's length (at least
/// one edit); the first of equally close ones.
pub(crate) fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        if c.eq_ignore_ascii_case(word) {
            return Some(c);
        }
        let d = distance(word, c);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(integer("0"), Some(0));
        assert_eq!(integer("42027"), Some(42027));
        assert_eq!(integer("0x1F"), Some(31));
        assert_eq!(integer("0XfF"), Some(255));
        assert_eq!(integer("-5"), Some(-5));
        assert_eq!(integer("18446744073709551615"), Some(u64::MAX as i128));
        for bad in ["", "-", "0x", "1.5", "12a", "0xg", "18446744073709551616", "--1"] {
            assert_eq!(integer(bad), None, "{bad}");
        }
    }

    #[test]
    fn seconds_and_their_unit() {
        assert_eq!(seconds("1"), Some((1_000_000_000, 1_000_000_000)));
        assert_eq!(seconds("1.5"), Some((1_500_000_000, 100_000_000)));
        assert_eq!(seconds("0.000000001"), Some((1, 1)));
        assert_eq!(seconds("-2.25"), Some((-2_250_000_000, 10_000_000)));
        for bad in ["", ".5", "1.", "1.0000000001", "1e3", "a"] {
            assert_eq!(seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn utc_times() {
        let s18 = 1_767_603_618i128 * 1_000_000_000;
        assert_eq!(utc_time("2026-01-05 09:00:18"), Some((s18, 1_000_000_000)));
        assert_eq!(utc_time("2026-01-05T09:00:18Z"), Some((s18, 1_000_000_000)));
        assert_eq!(utc_time("2026-01-05 09:00:18.364264"), Some((s18 + 364_264_000, 1000)));
        assert_eq!(utc_time("2026-01-05T10:00:18.5+01:00"), Some((s18 + 500_000_000, 100_000_000)));
        assert_eq!(utc_time("2026-01-05 09:00"), Some((s18 - 18_000_000_000, 60_000_000_000)));
        assert_eq!(utc_time("2026-01-05"), Some((s18 - 32_418_000_000_000, 86_400_000_000_000)));
        assert_eq!(utc_time("1767603618.5"), Some((s18 + 500_000_000, 100_000_000)));
        assert_eq!(utc_time("1970-01-01"), Some((0, 86_400_000_000_000)));
        for bad in [
            "2026-13-01",
            "2026-02-29",
            "2026-01-05 24:00",
            "2026-01-05 09:60",
            "2026-01-05 09:00:61",
            "2026-01-05 09",
            "2026-01-05 09:00:18.",
            "2026-01-05 09:00:18.1234567890",
            "2026-01-05 09:00:18 UTC",
            "26-01-05",
            "yesterday",
        ] {
            assert_eq!(utc_time(bad), None, "{bad}");
        }
        assert!(utc_time("2024-02-29").is_some());
        for days in [-800_000i64, -1, 0, 1, 20_458, 2_932_896] {
            let (y, m, d) = crate::time::civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn addresses_and_networks() {
        let (a, p) = ip_net("10.10.0.0/16").unwrap();
        assert_eq!(p, 16);
        assert!(in_net("10.10.1.20".parse().unwrap(), a, p));
        assert!(!in_net("10.11.1.20".parse().unwrap(), a, p));
        assert!(in_net("1.2.3.4".parse().unwrap(), "0.0.0.0".parse().unwrap(), 0));
        let (a, p) = ip_net("fe80::/10").unwrap();
        assert!(in_net("fe80::1".parse().unwrap(), a, p));
        assert!(!in_net("10.0.0.1".parse().unwrap(), a, p));
        assert_eq!(ip_net("::1"), Some(("::1".parse().unwrap(), 128)));
        assert_eq!(ip_net("::ffff:10.0.0.0/104"), Some(("10.0.0.0".parse().unwrap(), 8)));
        for bad in ["10.0.0.256", "10.0.0.0/33", "10.0.0.0/", "::1/129", "host"] {
            assert_eq!(ip_net(bad), None, "{bad}");
        }
    }

    #[test]
    fn distances_and_suggestions() {
        assert_eq!(distance("AgentID", "agentid"), 0);
        assert_eq!(distance("dri", "dir"), 1);
        assert_eq!(distance("AGENT_STATE_TALKIN", "AGENT_STATE_TALKING"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        let names = ["AgentID", "AgentState", "AgentExtension"];
        assert_eq!(suggest("AgentId", names), Some("AgentID"));
        assert_eq!(suggest("AgentStat", names), Some("AgentState"));
        assert_eq!(suggest("Zebra", names), None);
        assert_eq!(suggest("AgentID", names), None, "an exact name needs no suggestion");
    }
}
