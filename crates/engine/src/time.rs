//! Times as berth stores them (RFC 3339, UTC, nanoseconds) and as users
//! type them (`--since 10m`, a unix timestamp, a date), plus Docker's human
//! durations ("2 minutes").

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{invalid, Result};

/// Nanoseconds since the epoch.
pub type Nanos = i128;

pub fn now_nanos() -> Nanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses RFC 3339 (`2024-01-02T03:04:05.123Z`, `+02:00` offsets, a date
/// alone), a unix timestamp (`1700000000[.5]`) or a duration back from now
/// (`10m`, `1h30m`, `45s`).
pub fn parse(s: &str) -> Result<Nanos> {
    if let Some(d) = parse_duration(s) {
        return Ok(now_nanos() - d);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Ok((f * 1e9) as i128);
    }
    parse_rfc3339(s).ok_or_else(|| {
        invalid(
            "time",
            s,
            "expected RFC 3339, a unix timestamp or a duration like 10m",
        )
    })
}

/// An RFC 3339 time (`2024-01-02T03:04:05.123Z`, `+02:00` offsets) or a
/// date alone, in nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<Nanos> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut nanos: i128 = 0;
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 {
            return None;
        }
        secs += num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let frac = &s[start..i];
            let digits = frac.len().min(9);
            let v: i128 = frac[..digits].parse().ok()?;
            nanos = v * 10i128.pow((9 - digits) as u32);
        }
        match &s[i..] {
            "" | "Z" | "z" => {}
            off if off.len() == 6 && (off.starts_with('+') || off.starts_with('-')) => {
                let h: i64 = off[1..3].parse().ok()?;
                let m: i64 = off[4..6].parse().ok()?;
                let o = h * 3600 + m * 60;
                secs -= if off.starts_with('+') { o } else { -o };
            }
            _ => return None,
        }
    }
    Some(secs as i128 * 1_000_000_000 + nanos)
}

/// `1h30m`, `10m`, `45s`, `500ms` → nanoseconds.
pub fn parse_duration(s: &str) -> Option<Nanos> {
    if s.is_empty() || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let mut total: i128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mult: f64 = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[u_end..];
        total += (n * mult) as i128;
    }
    Some(total)
}

/// Docker's `units.HumanDuration`: "Less than a second", "5 seconds",
/// "About a minute", "3 hours", "2 days", "3 weeks", "4 months", "2 years".
pub fn human(n: Nanos) -> String {
    let secs = (n / 1_000_000_000).max(0) as i64;
    let mins = secs / 60;
    let hours = mins / 60;
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if mins == 1 => "About a minute".into(),
        _ if mins < 60 => format!("{mins} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_friends() {
        assert_eq!(parse("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse("1970-01-02").unwrap(), 86_400_000_000_000);
        assert_eq!(parse("1970-01-01T00:00:01.5Z").unwrap(), 1_500_000_000);
        assert_eq!(parse("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert_eq!(
            parse("2024-02-29T12:00:00Z").unwrap() / 1_000_000_000,
            1_709_208_000
        );
        assert_eq!(parse("1700000000").unwrap(), 1_700_000_000_000_000_000);
        let stored = crate::record::now();
        let t = parse(&stored).unwrap();
        assert!((now_nanos() - t).abs() < 60_000_000_000);
        let ago = parse("10m").unwrap();
        assert!((now_nanos() - ago - 600_000_000_000).abs() < 5_000_000_000);
        assert!(parse("yesterday").is_err());
        assert!(parse("2024-13").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m"), Some(5400 * 1_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(human(3 * 1_000_000_000), "3 seconds");
        assert_eq!(human(61 * 1_000_000_000), "About a minute");
        assert_eq!(human(3 * 3600 * 1_000_000_000), "3 hours");
    }
}
