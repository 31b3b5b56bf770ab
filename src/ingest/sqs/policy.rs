//! The queue cannot choose: what a message may make the consumer read, and for which tenant.
//!
//! A message comes from anyone who can `SendMessage`, so nothing in it is trusted: an
//! `s3_event` pointer resolves only under `s3_large_files` (its bucket and prefix), a CloudTrail
//! notification is followed only into the `cloudtrail_buckets` the config lists (at most
//! `max_keys_per_message` keys), and the tenant is the config's unless `tenants` lists the one a
//! message names. Anything else is a [`Refusal`]: the message stays undeleted (the redrive policy
//! moves it to the DLQ), its reason is logged and counted by kind in `/metrics`.

use object_store::path::Path;

use crate::config::IdentityActivityCenter;
use crate::ingest::source::TimeWindow;
use crate::lake::Lake;

/// Longest object key S3 accepts; a longer one in a message is refused before any request.
pub const MAX_KEY_BYTES: usize = 1024;

/// Why a message is left for the DLQ, as counted in `/metrics` (`reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// Not JSON, no events, a bad record.
    Undecodable,
    /// `tenant_id` names a tenant this queue does not carry.
    Tenant,
    /// An `s3_event` path outside `s3_large_files`, `..`, an absolute or over-long key.
    Path,
    /// A CloudTrail notification for a bucket or prefix not in `cloudtrail_buckets`.
    Bucket,
    /// Over a size cap (object, message, line, keys per message).
    TooLarge,
    /// A payload could not be fetched (transient: retried by redelivery).
    Fetch,
}

impl RefusalKind {
    pub const ALL: [RefusalKind; 6] = [
        RefusalKind::Undecodable,
        RefusalKind::Tenant,
        RefusalKind::Path,
        RefusalKind::Bucket,
        RefusalKind::TooLarge,
        RefusalKind::Fetch,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RefusalKind::Undecodable => "undecodable",
            RefusalKind::Tenant => "tenant",
            RefusalKind::Path => "path",
            RefusalKind::Bucket => "bucket",
            RefusalKind::TooLarge => "too_large",
            RefusalKind::Fetch => "fetch",
        }
    }
}

/// A message the consumer will not use, and why (in the operator's terms).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub reason: String,
}

impl Refusal {
    pub fn new(kind: RefusalKind, reason: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason, self.kind.label())
    }
}

impl From<String> for Refusal {
    fn from(reason: String) -> Refusal {
        Refusal::new(RefusalKind::Undecodable, reason)
    }
}

/// One `cloudtrail_buckets` entry, parsed.
#[derive(Debug, Clone)]
struct Trail {
    bucket: String,
    prefix: String,
    tenant: Option<String>,
}

/// The config's answer to "may this message ask for that".
#[derive(Debug, Clone)]
pub struct Policy {
    default_tenant: String,
    allowed: Vec<String>,
    trails: Vec<Trail>,
    pub max_keys: usize,
    pub max_object_bytes: usize,
    pub max_message_bytes: usize,
    pub max_line_bytes: usize,
    pub max_events: usize,
    pub window: TimeWindow,
}

impl Policy {
    pub fn from_config(cfg: &IdentityActivityCenter) -> std::result::Result<Policy, String> {
        let trails = cfg
            .cloudtrail_buckets
            .iter()
            .map(|b| {
                b.parts().map(|(bucket, prefix, tenant)| Trail {
                    bucket,
                    prefix,
                    tenant,
                })
            })
            .collect::<std::result::Result<_, _>>()?;
        let window = TimeWindow::from_dates(cfg.event_time_min, cfg.event_time_max)
            .ok_or("event_time_min must be before event_time_max")?;
        Ok(Policy {
            default_tenant: cfg.tenant.clone(),
            allowed: cfg
                .tenants
                .iter()
                .flatten()
                .map(|t| t.to_string())
                .collect(),
            trails,
            max_keys: cfg.max_keys_per_message,
            max_object_bytes: cfg.max_object_bytes,
            max_message_bytes: cfg.max_message_bytes,
            max_line_bytes: cfg.max_line_bytes,
            max_events: cfg.max_events_per_message,
            window,
        })
    }

    /// The tenant of a message: the attribute's when this queue carries it, else the bound
    /// tenant of its trail, else the config's.
    pub fn tenant(&self, attr: Option<&str>, bound: Option<&str>) -> Result<String, Refusal> {
        let Some(t) = attr else {
            return Ok(bound.unwrap_or(&self.default_tenant).to_string());
        };
        if !crate::tenant::valid(t) {
            return Err(Refusal::new(
                RefusalKind::Tenant,
                format!("tenant_id attribute: {}", crate::tenant::refusal(t)),
            ));
        }
        if let Some(b) = bound {
            if t != b {
                return Err(Refusal::new(
                    RefusalKind::Tenant,
                    format!(
                        "tenant_id {t:?} differs from {b:?}, the tenant its bucket is bound to"
                    ),
                ));
            }
            return Ok(t.to_string());
        }
        if t == self.default_tenant || self.allowed.iter().any(|a| a == t) {
            return Ok(t.to_string());
        }
        let mut carried = vec![self.default_tenant.as_str()];
        carried.extend(self.allowed.iter().map(String::as_str));
        Err(Refusal::new(
            RefusalKind::Tenant,
            format!(
                "tenant_id {t:?} is not a tenant this queue carries ({}; list others under `tenants:`)",
                carried.join(", ")
            ),
        ))
    }

    /// Which trail a CloudTrail notification's key belongs to (its bound tenant, if any).
    pub fn trail(&self, bucket: &str, key: &str) -> Result<Option<&str>, Refusal> {
        check_key(key)?;
        let mut bucket_listed = false;
        for t in &self.trails {
            if t.bucket != bucket {
                continue;
            }
            bucket_listed = true;
            if key.starts_with(&t.prefix) {
                return Ok(t.tenant.as_deref());
            }
        }
        Err(if bucket_listed {
            Refusal::new(
                RefusalKind::Path,
                format!(
                    "s3://{bucket}/{key} is outside the prefixes cloudtrail_buckets lists for {bucket}"
                ),
            )
        } else {
            Refusal::new(
                RefusalKind::Bucket,
                format!("bucket {bucket:?} is not in cloudtrail_buckets"),
            )
        })
    }
}

/// A key a message gave: relative, no `.`/`..` segment, no empty segment, no control
/// characters, at most `MAX_KEY_BYTES`.
fn check_key(key: &str) -> Result<(), Refusal> {
    let bad = |why: &str| {
        Err(Refusal::new(
            RefusalKind::Path,
            format!("key {key:?}: {why}"),
        ))
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Refusal::new(
            RefusalKind::Path,
            format!(
                "a key of {} bytes (S3 keys are at most {MAX_KEY_BYTES})",
                key.len()
            ),
        ));
    }
    if key.starts_with('/') {
        return bad("absolute");
    }
    if key.contains('\\') || key.chars().any(char::is_control) {
        return bad("backslash or control character");
    }
    if key.split('/').any(|s| s == ".." || s == ".") {
        return bad("`.` or `..` segment");
    }
    if key.trim_end_matches('/').split('/').any(str::is_empty) {
        return bad("empty segment");
    }
    Ok(())
}

/// Resolves an `s3_event` pointer under `s3_large_files`: a key relative to it, or a full
/// `s3://` URL inside its bucket and prefix. Everything else is refused.
pub fn resolve_large(large: &Lake, given: &str) -> Result<Path, Refusal> {
    let outside = |why: String| Err(Refusal::new(RefusalKind::Path, why));
    let rel = if let Some(rest) = given.strip_prefix("s3://") {
        if large.is_local() {
            return outside(format!(
                "path {given:?} is an s3:// URL but s3_large_files is a directory"
            ));
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let own = large.store_url().host_str().unwrap_or_default();
        if bucket != own {
            return outside(format!(
                "path {given:?} points at bucket {bucket:?}, outside s3_large_files ({})",
                large.display()
            ));
        }
        check_key(key)?;
        let root = large.root().as_ref();
        let rel = if root.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(root).and_then(|k| k.strip_prefix('/'))
        };
        match rel {
            Some(r) => r.to_string(),
            None => {
                return outside(format!(
                    "path {given:?} is outside s3_large_files ({})",
                    large.display()
                ));
            }
        }
    } else if given.contains("://") {
        return outside(format!(
            "path {given:?}: only keys under s3_large_files are read"
        ));
    } else {
        given.to_string()
    };
    check_key(&rel)?;
    Ok(large.path(&rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &str) -> Policy {
        let cfg = IdentityActivityCenter::parse(&format!(
            "identity_activity_center:\n  s3: /tmp/x\n  tenant: acme\n{extra}"
        ))
        .unwrap();
        Policy::from_config(&cfg).unwrap()
    }

    #[test]
    fn large_file_paths_stay_inside() {
        let large = Lake::open_with(
            "s3://transient/large_files",
            &[
                ("aws_region", "us-east-1"),
                ("aws_access_key_id", "x"),
                ("aws_secret_access_key", "x"),
            ],
        )
        .unwrap();
        let ok = |p: &str| resolve_large(&large, p).map(|p| p.to_string());
        assert_eq!(ok("a/b.json").unwrap(), "large_files/a/b.json");
        assert_eq!(
            ok("s3://transient/large_files/a.json").unwrap(),
            "large_files/a.json"
        );
        for (bad, kind) in [
            ("s3://other/large_files/a.json", RefusalKind::Path),
            ("s3://transient/elsewhere/a.json", RefusalKind::Path),
            (
                "s3://transient/large_files/../data/x.parquet",
                RefusalKind::Path,
            ),
            ("../data/acme/x.parquet", RefusalKind::Path),
            ("/etc/passwd", RefusalKind::Path),
            ("a//b", RefusalKind::Path),
            ("https://evil.example/x", RefusalKind::Path),
            ("", RefusalKind::Path),
        ] {
            let e = resolve_large(&large, bad).unwrap_err();
            assert_eq!(e.kind, kind, "{bad}: {e}");
        }
        assert_eq!(
            resolve_large(&large, &"k".repeat(2000)).unwrap_err().kind,
            RefusalKind::Path
        );
    }

    #[test]
    fn tenants_come_from_the_config() {
        let p = policy("");
        assert_eq!(p.tenant(None, None).unwrap(), "acme");
        assert_eq!(p.tenant(Some("acme"), None).unwrap(), "acme");
        let e = p.tenant(Some("globex"), None).unwrap_err();
        assert_eq!(e.kind, RefusalKind::Tenant);
        assert!(e.reason.contains("tenants:"), "{e}");
        let p = policy("  tenants: [globex]\n");
        assert_eq!(p.tenant(Some("globex"), None).unwrap(), "globex");
        assert!(p.tenant(Some("initech"), None).is_err());
        assert!(p.tenant(Some("../x"), None).is_err());
        // A bound trail decides; an attribute naming another tenant is refused.
        assert_eq!(p.tenant(None, Some("initech")).unwrap(), "initech");
        assert!(p.tenant(Some("globex"), Some("initech")).is_err());
    }

    #[test]
    fn trails_are_listed_buckets_and_prefixes() {
        let p = policy(
            "  cloudtrail_buckets:\n    - s3://trail/AWSLogs/1111/\n    - url: s3://trail2\n      tenant: globex\n",
        );
        assert_eq!(p.trail("trail", "AWSLogs/1111/x.json.gz").unwrap(), None);
        assert_eq!(p.trail("trail2", "any/key.gz").unwrap(), Some("globex"));
        assert_eq!(
            p.trail("trail", "AWSLogs/2222/x.json.gz").unwrap_err().kind,
            RefusalKind::Path
        );
        assert_eq!(
            p.trail("trail", "AWSLogs/1111/../2222/x").unwrap_err().kind,
            RefusalKind::Path
        );
        assert_eq!(
            p.trail("victim", "AWSLogs/1111/x").unwrap_err().kind,
            RefusalKind::Bucket
        );
    }
}
