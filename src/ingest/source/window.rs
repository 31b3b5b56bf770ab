//! The plausible event-time window: times outside it are rejects, so every accepted row lands
//! in a `YYYY-MM-DD` partition readers list.

use super::DecodeError;

/// The event times accepted: `[min, max)` in UTC milliseconds. Anything outside is a reject,
/// so every accepted row lands in a `YYYY-MM-DD` partition that readers list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub min_ms: i64,
    pub max_ms: i64,
}

/// Default lower bound: 1970-01-01T00:00:00Z.
pub const DEFAULT_TIME_MIN_MS: i64 = 0;
/// Default upper bound (exclusive): 2200-01-01T00:00:00Z.
pub const DEFAULT_TIME_MAX_MS: i64 = 7_258_118_400_000;

impl Default for TimeWindow {
    fn default() -> Self {
        TimeWindow {
            min_ms: DEFAULT_TIME_MIN_MS,
            max_ms: DEFAULT_TIME_MAX_MS,
        }
    }
}

impl TimeWindow {
    /// A window from two dates (`max` exclusive); None unless `min < max` and both lie in
    /// years 1..=9999, so a partition directory is always a four-digit-year date.
    pub fn from_dates(min: chrono::NaiveDate, max: chrono::NaiveDate) -> Option<TimeWindow> {
        use chrono::Datelike;
        let ok = |d: chrono::NaiveDate| (1..=9999).contains(&d.year());
        if !(ok(min) && ok(max) && min < max) {
            return None;
        }
        let ms = |d: chrono::NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
        };
        Some(TimeWindow {
            min_ms: ms(min)?,
            max_ms: ms(max)?,
        })
    }

    pub fn contains(&self, ms: i64) -> bool {
        (self.min_ms..self.max_ms).contains(&ms)
    }

    pub(super) fn check(&self, ms: i64) -> Result<(), DecodeError> {
        if self.contains(ms) {
            return Ok(());
        }
        let value = match chrono::DateTime::from_timestamp_millis(ms) {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            None => format!("{ms} ms since 1970"),
        };
        // Numbers are read as epoch milliseconds; seconds, µs and ns are the usual mistakes.
        let hint = if ms >= self.max_ms && ms >= 1_000_000_000_000_000 {
            " (numbers are epoch milliseconds; this looks like microseconds or nanoseconds)"
        } else if (0..1_000_000_000_000).contains(&ms) && ms >= 100_000_000 && ms < self.min_ms {
            " (numbers are epoch milliseconds; this looks like seconds)"
        } else {
            ""
        };
        Err(DecodeError::TimeOutOfWindow {
            value,
            window: *self,
            hint,
        })
    }
}

impl std::fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| ms.to_string())
        };
        write!(f, "{}..{}", d(self.min_ms), d(self.max_ms))
    }
}
