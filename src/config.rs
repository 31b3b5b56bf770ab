//! The service config file: the `identity_activity_center:` block of seed 000, accepted as-is,
//! plus auditlake's own keys in the same block. Unknown keys in the block are an error that
//! names the key; durations are written `500ms`, `60s`, `5m`, `1h`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};
use crate::tenant::TenantId;

/// The whole file. Only `identity_activity_center` is ours; other top-level sections belong to
/// the rest of an Identity Security config and are ignored (with a debug log), so the same file
/// can be shared.
#[derive(Debug, Deserialize)]
struct ConfigFile {
    identity_activity_center: Option<IdentityActivityCenter>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_yaml::Value>,
}

/// The `identity_activity_center:` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityActivityCenter {
    // ---- seed 000's keys ----
    /// Helm values carry it; `false` makes `consume` refuse to start.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// AWS region of the queue, buckets and Athena (else the standard AWS environment's).
    pub region: Option<String>,
    /// Glue database (Athena engine).
    pub database: Option<String>,
    /// Glue table (Athena engine).
    pub table: Option<String>,
    /// The lake: `s3://bucket/data/` (a trailing `/data` is the partitions' parent) or a
    /// directory.
    pub s3: String,
    /// Athena query results location.
    pub s3_results: Option<String>,
    /// Where events over SQS's 256 KiB limit are put (`s3://bucket/large_files`, or a directory).
    pub s3_large_files: Option<String>,
    /// The queue `consume` reads and `publish` sends to.
    pub sqs_queue_url: Option<String>,
    /// Athena workgroup.
    pub workgroup: Option<String>,
    /// MaxMind GeoIP City database used to enrich events.
    pub maxmind_geoip_city_db_path: Option<PathBuf>,

    // ---- auditlake's keys ----
    /// Tenant of messages without a `tenant_id` attribute.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Events buffered before a flush (Teleport's default: 20000).
    #[serde(default = "default_batch_items")]
    pub batch_max_items: usize,
    /// Longest time an event waits in the buffer before a flush.
    #[serde(default = "default_batch_interval", deserialize_with = "duration")]
    pub batch_max_interval: Duration,
    /// Concurrent long-polling ReceiveMessage loops.
    #[serde(default = "default_receivers")]
    pub receivers: usize,
    /// How long a leader's lease lasts without renewal; another instance takes over after it.
    #[serde(default = "default_lease_ttl", deserialize_with = "duration")]
    pub lease_ttl: Duration,
    /// Prometheus metrics endpoint (`GET /metrics`), off when absent.
    pub metrics_addr: Option<SocketAddr>,
    /// Visibility timeout asked for at receive; default: twice `batch_max_interval` plus 30 s,
    /// so a message stays hidden while its batch fills and flushes.
    #[serde(default, deserialize_with = "opt_duration")]
    pub visibility_timeout: Option<Duration>,
    /// How long the uids of written events are remembered to drop redelivered copies.
    #[serde(default = "default_dedup_window", deserialize_with = "duration")]
    pub dedup_window: Duration,
    /// Long-poll wait per ReceiveMessage call (SQS allows up to 20 s).
    #[serde(default = "default_wait", deserialize_with = "duration")]
    pub receive_wait: Duration,
    /// How often the leader compacts the closed partitions it wrote (`0s`: never).
    #[serde(default = "default_compact_interval", deserialize_with = "duration")]
    pub compact_interval: Duration,

    // ---- what a message may ask for (issue 15: the queue cannot choose) ----
    /// Tenants a message's `tenant_id` attribute may name besides `tenant`; absent: only
    /// `tenant`. A message naming any other tenant is refused (left for the DLQ).
    #[serde(default)]
    pub tenants: Option<Vec<TenantId>>,
    /// Buckets (and key prefixes) whose CloudTrail S3 notifications are followed, each
    /// optionally bound to the tenant its events belong to. A notification for anything else
    /// is refused.
    #[serde(default)]
    pub cloudtrail_buckets: Vec<CloudTrailBucket>,
    /// Most object keys one CloudTrail notification may name.
    #[serde(default = "default_max_keys")]
    pub max_keys_per_message: usize,
    /// Largest payload object (`s3_event`, CloudTrail log file), compressed or decompressed.
    #[serde(default = "default_max_object_bytes")]
    pub max_object_bytes: usize,
    /// Most decompressed bytes all of one message's objects may hold together.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Most events one message may hold (its rows are held whole until the message is known
    /// good, so this bounds a message's memory with `max_message_bytes`).
    #[serde(default = "default_max_events_per_message")]
    pub max_events_per_message: usize,
    /// Longest NDJSON line of a payload (one record).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Bytes of events buffered before a flush (with `batch_max_items`).
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// Most uids remembered for dropping redelivered copies (with `dedup_window`).
    #[serde(default = "default_dedup_max_uids")]
    pub dedup_max_uids: usize,
    /// Earliest plausible event time (a date); earlier events make their message refused.
    #[serde(default = "default_time_min")]
    pub event_time_min: NaiveDate,
    /// Latest plausible event time (a date, exclusive).
    #[serde(default = "default_time_max")]
    pub event_time_max: NaiveDate,
    /// Delete an `s3_event` payload from `s3_large_files` once its message is ingested and
    /// deleted (default: keep it; a bucket lifecycle rule may expire it instead).
    #[serde(default)]
    pub delete_large_files: bool,
}

/// One entry of `cloudtrail_buckets`: `s3://bucket/prefix/`, or that with a tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CloudTrailBucket {
    Url(String),
    Bound {
        url: String,
        tenant: Option<TenantId>,
    },
}

impl CloudTrailBucket {
    /// (bucket, key prefix, bound tenant) — checked by `validate`.
    pub fn parts(&self) -> std::result::Result<(String, String, Option<String>), String> {
        let (url, tenant) = match self {
            CloudTrailBucket::Url(u) => (u, None),
            CloudTrailBucket::Bound { url, tenant } => (url, tenant.as_ref()),
        };
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            format!("cloudtrail_buckets entry {url:?} is not an s3://bucket/prefix URL")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.len() < 3 || bucket.contains(|c: char| c.is_whitespace()) {
            return Err(format!(
                "cloudtrail_buckets entry {url:?}: invalid bucket name"
            ));
        }
        if prefix.split('/').any(|s| s == ".." || s == ".") {
            return Err(format!(
                "cloudtrail_buckets entry {url:?}: `.` or `..` in the prefix"
            ));
        }
        Ok((
            bucket.to_string(),
            prefix.to_string(),
            tenant.map(|t| t.to_string()),
        ))
    }
}

fn yes() -> bool {
    true
}
fn default_tenant() -> String {
    crate::tenant::DEFAULT.into()
}
fn default_batch_items() -> usize {
    20_000
}
/// Longest `batch_max_interval` (its default visibility timeout stays within SQS's 12 h).
pub const MAX_BATCH_INTERVAL: Duration = Duration::from_secs(3600);
/// Longest `lease_ttl`, `dedup_window` and `compact_interval`: 30 days.
pub const MAX_INTERVAL: Duration = Duration::from_secs(30 * 24 * 3600);

fn default_batch_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_receivers() -> usize {
    5
}
fn default_lease_ttl() -> Duration {
    Duration::from_secs(30)
}
fn default_dedup_window() -> Duration {
    Duration::from_secs(3600)
}
fn default_compact_interval() -> Duration {
    Duration::from_secs(3600)
}
fn default_max_keys() -> usize {
    16
}
fn default_max_object_bytes() -> usize {
    64 << 20
}
fn default_max_message_bytes() -> usize {
    128 << 20
}
/// Messages one SQS receive returns at most (the API's limit; the consumer asks for all).
pub const SQS_MESSAGES_PER_RECEIVE: usize = 10;

/// Most text one Arrow string column may hold (its offsets are `i32`): a partition's rows of a
/// batch are one such column each, so the settings that bound a batch must keep under it.
pub const MAX_COLUMN_BYTES: usize = i32::MAX as usize;

/// Default longest NDJSON line (one record), for `ingest` and `consume` alike.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;

fn default_max_line_bytes() -> usize {
    DEFAULT_MAX_LINE_BYTES
}
fn default_max_events_per_message() -> usize {
    100_000
}
fn default_batch_max_bytes() -> usize {
    64 << 20
}
fn default_dedup_max_uids() -> usize {
    2_000_000
}
fn default_time_min() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}
fn default_time_max() -> NaiveDate {
    NaiveDate::from_ymd_opt(2200, 1, 1).unwrap_or_default()
}
fn default_wait() -> Duration {
    Duration::from_secs(20)
}

/// Parses `250ms`, `60s`, `5m`, `1h` (or a bare number of seconds).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (examples: 500ms, 60s, 5m, 1h)"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        u => {
            return Err(format!(
                "invalid duration unit {u:?} in {s:?} (ms, s, m, h)"
            ));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {s:?}"))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    let v = serde_yaml::Value::deserialize(d)?;
    let text = match v {
        serde_yaml::Value::String(s) => s,
        serde_yaml::Value::Number(n) => n.to_string(),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a duration, got {other:?}"
            )));
        }
    };
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

impl IdentityActivityCenter {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            op: "read",
            path: path.into(),
            source: e,
        })?;
        Self::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Parses the YAML text of a config file.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let file: ConfigFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        for key in file.other.keys() {
            tracing::debug!(
                key,
                "ignoring a config section that is not identity_activity_center"
            );
        }
        let cfg = file
            .identity_activity_center
            .ok_or("missing the `identity_activity_center:` block")?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !crate::tenant::valid(&self.tenant) {
            return Err(crate::tenant::refusal(&self.tenant));
        }
        if self.batch_max_items == 0 {
            return Err("batch_max_items must be at least 1".into());
        }
        if self.batch_max_interval < Duration::from_millis(100) {
            return Err("batch_max_interval must be at least 100ms".into());
        }
        // Upper bounds: each of these is added to a clock or multiplied (the visibility timeout
        // is 2 × batch_max_interval + 30s), and a huge value would overflow there (the fuzzer
        // found `batch_max_interval: 9999999999999999999`). The bounds are far past any use.
        if self.batch_max_interval > MAX_BATCH_INTERVAL {
            return Err("batch_max_interval is at most 1h".into());
        }
        for (name, v) in [
            ("lease_ttl", self.lease_ttl),
            ("dedup_window", self.dedup_window),
            ("compact_interval", self.compact_interval),
        ] {
            if v > MAX_INTERVAL {
                return Err(format!("{name} is at most 30 days (720h)"));
            }
        }
        if self.receivers == 0 || self.receivers > 64 {
            return Err("receivers must be between 1 and 64".into());
        }
        if self.lease_ttl < Duration::from_secs(1) {
            return Err("lease_ttl must be at least 1s".into());
        }
        if self.receive_wait > Duration::from_secs(20) {
            return Err("receive_wait is at most 20s (SQS's long-poll limit)".into());
        }
        if let Some(v) = self.visibility_timeout
            && v > Duration::from_secs(12 * 3600)
        {
            return Err("visibility_timeout is at most 12h (SQS's limit)".into());
        }
        for b in &self.cloudtrail_buckets {
            b.parts()?;
        }
        for (name, v) in [
            ("max_keys_per_message", self.max_keys_per_message),
            ("max_object_bytes", self.max_object_bytes),
            ("max_message_bytes", self.max_message_bytes),
            ("max_line_bytes", self.max_line_bytes),
            ("max_events_per_message", self.max_events_per_message),
            ("batch_max_bytes", self.batch_max_bytes),
            ("dedup_max_uids", self.dedup_max_uids),
        ] {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        // A batch is written once it holds batch_max_bytes, checked after each receive; all
        // of a receive's messages may be one partition's rows.
        let most = self
            .batch_max_bytes
            .saturating_add(SQS_MESSAGES_PER_RECEIVE.saturating_mul(self.max_message_bytes));
        if most > MAX_COLUMN_BYTES {
            return Err(format!(
                "batch_max_bytes + {SQS_MESSAGES_PER_RECEIVE} × max_message_bytes (one receive) \
                 is {most} bytes, over the 2 GiB one partition's rows of a batch may hold \
                 (an Arrow column); lower either"
            ));
        }
        self.time_window()?;
        Ok(())
    }

    /// Checks the plausible event-time window (the decoders' `TimeWindow` is built from it).
    fn time_window(&self) -> std::result::Result<(), String> {
        use chrono::Datelike;
        let (lo, hi) = (self.event_time_min, self.event_time_max);
        if lo < hi && (1..=9999).contains(&lo.year()) && (1..=9999).contains(&hi.year()) {
            Ok(())
        } else {
            Err(format!(
                "event_time_min {lo} must be before event_time_max {hi}, both in years 1..=9999"
            ))
        }
    }

    /// May a message's `tenant_id` attribute name this tenant?
    pub fn carries_tenant(&self, tenant: &str) -> bool {
        tenant == self.tenant
            || self
                .tenants
                .as_ref()
                .is_some_and(|ts| ts.iter().any(|t| t.as_str() == tenant))
    }

    /// The visibility timeout to ask for at receive.
    pub fn visibility(&self) -> Duration {
        self.visibility_timeout.unwrap_or_else(|| {
            self.batch_max_interval
                .saturating_mul(2)
                .saturating_add(Duration::from_secs(30))
        })
    }

    /// The queue URL, required by `consume` and `publish`.
    pub fn queue_url(&self) -> Result<&str> {
        self.sqs_queue_url
            .as_deref()
            .ok_or_else(|| Error::Config("sqs_queue_url is not set".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
identity_activity_center:
  region: eu-central-1
  database: example-db
  table: example-table
  s3: s3://example-long-term-bucket/data/
  s3_results: s3://example-transient-bucket/results/
  s3_large_files: s3://example-transient-bucket/large_files
  sqs_queue_url: https://sqs.eu-central-1.amazonaws.com/123456789012/example-sqs-queue
  maxmind_geoip_city_db_path: /path/to/geoIp-city.mmdb
"#;

    #[test]
    fn seed_block_as_is() {
        let c = IdentityActivityCenter::parse(SEED).unwrap();
        assert_eq!(c.s3, "s3://example-long-term-bucket/data/");
        assert_eq!(c.batch_max_items, 20_000);
        assert_eq!(c.batch_max_interval, Duration::from_secs(60));
        assert_eq!(c.visibility(), Duration::from_secs(150));
        assert_eq!(c.tenant, "default");
    }

    #[test]
    fn unknown_key_is_named() {
        let text = format!("{SEED}  batch_max_itemz: 5\n");
        let err = IdentityActivityCenter::parse(&text).unwrap_err();
        assert!(err.contains("batch_max_itemz"), "{err}");
    }

    #[test]
    fn queue_policy_keys() {
        let text = format!(
            "{SEED}  tenant: acme\n  tenants: [globex]\n  cloudtrail_buckets:\n    - s3://trail/AWSLogs/1111/\n    - url: s3://trail2\n      tenant: globex\n  event_time_max: 2100-01-01\n"
        );
        let c = IdentityActivityCenter::parse(&text).unwrap();
        assert!(c.carries_tenant("acme") && c.carries_tenant("globex"));
        assert!(!c.carries_tenant("initech"));
        let parts: Vec<_> = c
            .cloudtrail_buckets
            .iter()
            .map(|b| b.parts().unwrap())
            .collect();
        assert_eq!(parts[0], ("trail".into(), "AWSLogs/1111/".into(), None));
        assert_eq!(
            parts[1],
            ("trail2".into(), "".into(), Some("globex".into()))
        );
        assert_eq!(c.max_keys_per_message, 16);
        for bad in [
            "  tenants: [\"../x\"]\n",
            "  cloudtrail_buckets: [\"trail\"]\n",
            "  cloudtrail_buckets: [\"s3://trail/../x\"]\n",
            "  max_object_bytes: 0\n",
            "  event_time_min: 2300-01-01\n",
            "  batch_max_interval: 9999999999999999999\n",
            "  batch_max_interval: 61m\n",
            "  lease_ttl: 721h\n",
            "  dedup_window: 100000000000000h\n",
            "  compact_interval: 721h\n",
            // 10 messages of 256 MiB: 2.5 GiB in one receive, over an Arrow column.
            "  max_message_bytes: 268435456\n",
            "  batch_max_bytes: 2147483648\n",
        ] {
            assert!(
                IdentityActivityCenter::parse(&format!("{SEED}{bad}")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("5 parsecs").is_err());
        // Out of range is an error, not a panic.
        assert!(parse_duration("99999999999999999999999999h").is_err());
        let text = format!("{SEED}  batch_max_interval: 5x\n");
        assert!(
            IdentityActivityCenter::parse(&text)
                .unwrap_err()
                .contains("5x")
        );
    }
}
