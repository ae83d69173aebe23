//! Timestamps as the dump, the logs and the directory names spell them: always UTC.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// RFC 3339 in UTC with microseconds, e.g. `2026-11-23T10:15:02.123456Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(t.microsecond() * 1000).unwrap_or(t);
    t.format(&Rfc3339).expect("UTC time formats as RFC 3339")
}

pub fn now_rfc3339() -> String {
    rfc3339(now())
}

/// `YYYYMMDD_HHMMSS`, the dump directory and log file stamp.
pub fn stamp(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year][month][day]_[hour][minute][second]"
    ))
    .expect("stamp formats")
}

/// `30s`, `2m`, `1h`, `1500ms`: a duration as the flags spell it (`0`: none).
pub fn duration_text(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0".into(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// Parses `500ms`, `30s`, `2m`, `1h` (and `0`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("not a duration: {s} (use e.g. 500ms, 30s, 2m, 1h)"))?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "" if n == 0 => Some(0),
        _ => return Err(format!("not a duration: {s} (use e.g. 500ms, 30s, 2m, 1h)")),
    };
    // PostgreSQL's lock_timeout is an int of milliseconds.
    match ms {
        Some(ms) if ms <= i32::MAX as u64 => Ok(std::time::Duration::from_millis(ms)),
        _ => Err(format!("duration too long: {s} (at most 596h)")),
    }
}

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "s", "-1s", "1.5s", "5 years", "999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(duration_text(Duration::from_secs(30)), "30s");
        assert_eq!(duration_text(Duration::from_secs(120)), "2m");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1500ms");
    }
}
