//! Wall-clock time as the store records it.

use chrono::{SecondsFormat, Utc};

/// Now, as an RFC 3339 UTC timestamp with milliseconds (sorts as text).
pub(crate) fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Now, in seconds since the Unix epoch (token expiry arithmetic).
pub(crate) fn now_secs() -> i64 {
    Utc::now().timestamp()
}

/// Now, in milliseconds since the Unix epoch (logon throttle arithmetic).
pub(crate) fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}
