//! Time and duration formatting (UTC, integer nanoseconds, no floating point): timestamps
//! for every output and durations in seconds for the analysis's findings. The renderers
//! re-export it as `render::time`.

use crate::TimestampNs;

/// Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Split nanoseconds since the epoch into (date, h, m, s, nanos).
fn split(ts_ns: TimestampNs) -> ((i64, u32, u32), u32, u32, u32, u32) {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    (civil_from_days(days), sod / 3600, sod % 3600 / 60, sod % 60, nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2024-05-01 10:00:00.123456` (UTC, `digits` fractional digits, 0..=9).
pub fn format_utc(ts_ns: TimestampNs, digits: u32) -> String {
    let ((y, mo, d), h, mi, s, n) = split(ts_ns);
    let mut out = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
    push_fraction(&mut out, n, digits);
    out
}

/// `10:00:00.123` (UTC time of day, `digits` fractional digits): for sentences, whose
/// findings carry the full time beside them.
pub fn format_time_of_day(ts_ns: TimestampNs, digits: u32) -> String {
    let (_, h, mi, s, n) = split(ts_ns);
    let mut out = format!("{h:02}:{mi:02}:{s:02}");
    push_fraction(&mut out, n, digits);
    out
}

/// Append `2024-05-01 10:00:00.123456` (as [`format_utc`]) to a byte buffer.
pub fn push_utc(b: &mut Vec<u8>, ts_ns: TimestampNs, digits: u32) {
    if !push_datetime(b, ts_ns, b' ', digits) {
        b.extend_from_slice(format_utc(ts_ns, digits).as_bytes());
    }
}

/// Append RFC 3339 with nanoseconds (as [`format_rfc3339`]) to a byte buffer.
pub fn push_rfc3339(b: &mut Vec<u8>, ts_ns: TimestampNs) {
    if push_datetime(b, ts_ns, b'T', 9) {
        b.push(b'Z');
    } else {
        b.extend_from_slice(format_rfc3339(ts_ns).as_bytes());
    }
}

/// Date, `sep`, time and `digits` fractional digits; false (nothing written) outside years
/// 0-9999. Built in a fixed array and appended with one copy: this runs for every message
/// of every output format. Consecutive messages mostly fall in the same second, so the
/// date and time of the last second formatted (per thread) are kept and reused.
fn push_datetime(b: &mut Vec<u8>, ts_ns: TimestampNs, sep: u8, digits: u32) -> bool {
    thread_local! {
        /// Seconds since the epoch and their `YYYY-MM-DD?HH:MM:SS` (with `?` = space).
        static LAST_SECOND: std::cell::Cell<(i64, [u8; 19])> = const { std::cell::Cell::new((i64::MIN, [0; 19])) };
    }
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000) as u32;
    // YYYY-MM-DD?HH:MM:SS.fffffffff
    let mut t = *b"0000-00-00 00:00:00.000000000";
    let (last, text) = LAST_SECOND.get();
    if last == secs {
        t[..19].copy_from_slice(&text);
    } else {
        let ((y, mo, d), h, mi, s, _) = split(ts_ns);
        if !(0..=9999).contains(&y) {
            return false;
        }
        let two = |t: &mut [u8; 29], at: usize, v: u32| {
            t[at] = b'0' + (v / 10) as u8;
            t[at + 1] = b'0' + (v % 10) as u8;
        };
        let y = y as u32;
        two(&mut t, 0, y / 100);
        two(&mut t, 2, y % 100);
        two(&mut t, 5, mo);
        two(&mut t, 8, d);
        two(&mut t, 11, h);
        two(&mut t, 14, mi);
        two(&mut t, 17, s);
        let mut text = [0u8; 19];
        text.copy_from_slice(&t[..19]);
        LAST_SECOND.set((secs, text));
    }
    t[10] = sep;
    let mut v = nanos;
    for i in (20..29).rev() {
        t[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let digits = digits.min(9) as usize;
    let len = if digits == 0 { 19 } else { 20 + digits };
    b.extend_from_slice(&t[..len]);
    true
}

/// RFC 3339 with nanoseconds: `2024-05-01T10:00:00.123456789Z`.
pub fn format_rfc3339(ts_ns: TimestampNs) -> String {
    let ((y, mo, d), h, mi, s, n) = split(ts_ns);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{n:09}Z")
}

/// Seconds with a fraction: `12.345678` (negative values keep their sign).
pub fn format_seconds(delta_ns: i64, digits: u32) -> String {
    let sign = if delta_ns < 0 { "-" } else { "" };
    let a = delta_ns.unsigned_abs();
    let mut out = format!("{sign}{}", a / 1_000_000_000);
    push_fraction(&mut out, (a % 1_000_000_000) as u32, digits);
    out
}

fn push_fraction(out: &mut String, nanos: u32, digits: u32) {
    let digits = digits.min(9);
    if digits > 0 {
        let v = nanos / 10u32.pow(9 - digits);
        out.push_str(&format!(".{v:0width$}", width = digits as usize));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-buffer forms give the text of the `format_` forms.
    fn pushed_as_formatted(ts: TimestampNs, digits: &[u32]) {
        for &n in digits {
            let mut b = Vec::new();
            push_utc(&mut b, ts, n);
            assert_eq!(String::from_utf8(b).unwrap(), format_utc(ts, n));
        }
        let mut b = Vec::new();
        push_rfc3339(&mut b, ts);
        assert_eq!(String::from_utf8(b).unwrap(), format_rfc3339(ts));
    }

    #[test]
    fn known_dates() {
        assert_eq!(format_utc(0, 0), "1970-01-01 00:00:00");
        // 2024-02-29 12:34:56.789 UTC = 1709210096.789
        assert_eq!(format_utc(1_709_210_096_789_000_000, 6), "2024-02-29 12:34:56.789000");
        assert_eq!(format_rfc3339(1_709_210_096_000_000_001), "2024-02-29T12:34:56.000000001Z");
        assert_eq!(format_utc(-1, 9), "1969-12-31 23:59:59.999999999");
        assert_eq!(format_seconds(1_500_000_000, 6), "1.500000");
        assert_eq!(format_seconds(-2_000_000, 3), "-0.002");
        for ts in [0i64, 1_709_210_096_789_000_000, -1, 253_402_300_799_999_999_999i128 as i64 / 1000] {
            pushed_as_formatted(ts, &[0, 3, 6, 9]);
        }
    }

    #[test]
    fn repeated_and_alternating_seconds_format_alike() {
        // The last second is cached per thread: same second, other second, back again.
        let base = 1_767_603_615_799_136_224i64;
        for ts in [base, base + 1, base + 1_000_000_000, base, -1, base - 86_400_000_000_000, base] {
            pushed_as_formatted(ts, &[0, 6, 9]);
        }
    }

    #[test]
    fn every_day_of_four_centuries_is_consistent() {
        let mut prev = civil_from_days(-1);
        for d in 0..146_097 {
            let cur = civil_from_days(d);
            assert!(cur > prev, "day {d}: {cur:?} after {prev:?}");
            prev = cur;
        }
        assert_eq!(civil_from_days(146_097), (2370, 1, 1));
    }
}

/// Parses a UTC time, `YYYY-MM-DDTHH:MM:SS[.fff]Z` or `YYYY-MM-DD HH:MM:SS[.fff]` (the `Z`
/// optional), into nanoseconds since the epoch.
pub fn parse_utc(s: &str) -> Result<i64, String> {
    let err = || format!("{s:?} is not a UTC time like 2026-01-05T09:00:00Z");
    let t = s.trim();
    let t = t.strip_suffix('Z').unwrap_or(t);
    let (date, time) = t.split_once(['T', ' ']).ok_or_else(err)?;
    let mut d = date.split('-');
    let y: i64 = d.next().ok_or_else(err)?.parse().map_err(|_| err())?;
    let mo: u32 = d.next().ok_or_else(err)?.parse().map_err(|_| err())?;
    let da: u32 = d.next().ok_or_else(err)?.parse().map_err(|_| err())?;
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut h = hms.split(':');
    let hh: i64 = h.next().ok_or_else(err)?.parse().map_err(|_| err())?;
    let mm: i64 = h.next().ok_or_else(err)?.parse().map_err(|_| err())?;
    let ss: i64 = h.next().ok_or_else(err)?.parse().map_err(|_| err())?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || hh > 23 || mm > 59 || ss > 60 {
        return Err(err());
    }
    let mut ns: i64 = 0;
    if !frac.is_empty() {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        ns = format!("{frac:0<9}").parse().map_err(|_| err())?;
    }
    let secs = days_from_civil(y, mo, da) * 86_400 + hh * 3600 + mm * 60 + ss;
    Ok(secs * 1_000_000_000 + ns)
}

/// A bound of a time window (`--since`, `--until`): an absolute time, or seconds after the
/// capture's first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    At(TimestampNs),
    AfterFirst(i64),
}

impl TimeBound {
    /// `2026-01-05 09:00:18`, `2026-01-05T09:00:18.5Z` (UTC), or an offset in seconds from
    /// the first packet: `30`, `+30`, `1.5`, `90s`.
    pub fn parse(s: &str) -> Result<TimeBound, String> {
        let t = s.trim();
        let num = t.strip_prefix('+').unwrap_or(t);
        let num = num.strip_suffix('s').unwrap_or(num);
        if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            let secs: f64 = num.parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
            return Ok(TimeBound::AfterFirst((secs * 1e9).round() as i64));
        }
        parse_utc(t)
            .map(TimeBound::At)
            .map_err(|_| format!("{s:?} is neither a UTC time like \"2026-01-05 09:00:18\" nor seconds after the first packet like 30"))
    }

    /// The bound as a time, given the capture's first packet.
    pub fn resolve(self, first: TimestampNs) -> TimestampNs {
        match self {
            TimeBound::At(t) => t,
            TimeBound::AfterFirst(d) => first.saturating_add(d),
        }
    }
}

/// The machine's local UTC offset at `ts` (from `TZ` or the system zone, daylight saving
/// included), in nanoseconds; 0 when it cannot be told.
pub fn local_offset_ns(ts: TimestampNs) -> i64 {
    let secs = ts.div_euclid(1_000_000_000) as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame; it reads
    // the zone set up by tzset (called once).
    unsafe {
        static TZSET: std::sync::Once = std::sync::Once::new();
        TZSET.call_once(|| tzset());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return 0;
        }
        // c_long: 64 bits here, 32 on other targets.
        #[allow(clippy::useless_conversion)]
        let off = i64::from(tm.tm_gmtoff);
        off * 1_000_000_000
    }
}

extern "C" {
    fn tzset();
}
