//! Times as text, in UTC: RFC 3339 for events and records, `ctime` style for
//! clamd's VERSION reply, and a compact stamp for quarantine ids. One place,
//! built on jiff, so no module carries its own calendar arithmetic.

use std::time::SystemTime;

use jiff::Timestamp;

fn timestamp(sec: i64, nsec: u32) -> Timestamp {
    let nsec = i32::try_from(nsec.min(999_999_999)).unwrap_or(0);
    Timestamp::new(sec, nsec).unwrap_or(if sec < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

fn of(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `2024-05-06T07:08:09.123Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    format!("{:.3}", of(t))
}

/// `2025-01-31T23:59:59.123456789Z`, from `stat`'s seconds and nanoseconds.
pub fn rfc3339_nanos(sec: i64, nsec: u32) -> String {
    format!("{:.9}", timestamp(sec, nsec))
}

/// `2025-01-31T23:59:59Z`, whole seconds.
pub fn rfc3339_secs(sec: i64) -> String {
    timestamp(sec, 0).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `Thu Nov 13 09:23:44 2025`, as C's `ctime` prints it (in UTC).
pub fn ctime(t: SystemTime) -> String {
    of(t).strftime("%a %b %e %H:%M:%S %Y").to_string()
}

/// `20250131-235959`, for names that sort by time.
pub fn compact(sec: i64) -> String {
    timestamp(sec, 0).strftime("%Y%m%d-%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::new(1_738_367_999, 123_456_789);
        assert_eq!(rfc3339_millis(t), "2025-01-31T23:59:59.123Z");
        assert_eq!(
            rfc3339_nanos(1_738_367_999, 123_456_789),
            "2025-01-31T23:59:59.123456789Z"
        );
        assert_eq!(
            rfc3339_nanos(951_782_400, 0),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(rfc3339_nanos(-1, 0), "1969-12-31T23:59:59.000000000Z");
        assert_eq!(
            ctime(UNIX_EPOCH + Duration::from_secs(1_763_025_824)),
            "Thu Nov 13 09:23:44 2025"
        );
        assert_eq!(ctime(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
        assert_eq!(compact(1_738_367_999), "20250131-235959");
    }

    #[test]
    fn rfc3339_millis_dates() {
        let at =
            |s: u64, ms: u64| rfc3339_millis(UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_709_251_199, 999), "2024-02-29T23:59:59.999Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
    }
}
