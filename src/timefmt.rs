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

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}
