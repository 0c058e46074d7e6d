//! Unix time as RFC 3339 UTC (`2026-11-24T02:57:00.123456789Z`), the form
//! berth writes in records and logs as Docker does. `no_std` and without
//! allocation, so that berth-shim (which links no std) formats its log
//! times with the same code as everything else.

#![cfg_attr(not(test), no_std)]

/// A formatted time: at most 30 bytes, ASCII.
#[derive(Clone, Copy)]
pub struct Rfc3339 {
    buf: [u8; 32],
    len: usize,
}

impl Rfc3339 {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl core::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::fmt::Debug for Rfc3339 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ`, or with `nanos` as
/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (all nine digits, as berth's records
/// and logs have them).
pub fn rfc3339(secs: i64, nanos: Option<u32>) -> Rfc3339 {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut out = Rfc3339 {
        buf: [0; 32],
        len: 0,
    };
    let fields: [(i64, usize, u8); 6] = [
        (y, 4, b'-'),
        (m, 2, b'-'),
        (d, 2, b'T'),
        (rem / 3600, 2, b':'),
        (rem % 3600 / 60, 2, b':'),
        (rem % 60, 2, if nanos.is_some() { b'.' } else { b'Z' }),
    ];
    let mut put = |v: i64, width: usize, sep: u8| {
        let mut v = v.clamp(0, 999_999_999);
        for k in (0..width).rev() {
            out.buf[out.len + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.buf[out.len + width] = sep;
        out.len += width + 1;
    };
    for (v, width, sep) in fields {
        put(v, width, sep);
    }
    if let Some(n) = nanos {
        put(i64::from(n), 9, b'Z');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_nanoseconds() {
        assert_eq!(rfc3339(0, None).as_str(), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(0, Some(0)).as_str(),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339(951_827_696, Some(123_456_789)).as_str(),
            "2000-02-29T12:34:56.123456789Z"
        );
        assert_eq!(
            rfc3339(4_102_444_799, Some(999_999_999)).to_string(),
            "2099-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            rfc3339(1_704_067_200, None).as_str(),
            "2024-01-01T00:00:00Z"
        );
    }
}
