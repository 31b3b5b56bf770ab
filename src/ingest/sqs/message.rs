//! One SQS message → its events, or the reason it cannot be used (the message then stays
//! undeleted and SQS's redrive policy moves it to the DLQ).
//!
//! A body is one event (JSON), a JSON array of events, a CloudTrail log document, a pointer to
//! a payload in `s3_large_files` (attribute `payload_type = s3_event`, body
//! `{"path": "<key under s3_large_files>"}`), or CloudTrail's own S3 notification
//! (`{"s3Bucket": …, "s3ObjectKey": [...]}`), which is followed to the gzipped log files. An SNS
//! envelope (`{"Type": "Notification", "Message": "…"}`) is unwrapped first. What a message may
//! point at and which tenant it may name is `policy`'s; payloads are read under size caps.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Deserialize;

use super::policy::{Policy, Refusal, RefusalKind, resolve_large};
use crate::ingest::reader::{self, LineRead};
use crate::ingest::source::{self, DecodeOptions, SourceKind};
use crate::lake::Lake;
use crate::schema::Row;

/// Message attribute naming the payload kind (as Teleport's publisher sets it).
pub const PAYLOAD_TYPE: &str = "payload_type";
/// `payload_type` of a pointer to a large payload.
pub const S3_EVENT: &str = "s3_event";
/// Optional attribute: the tenant of the message's events.
pub const TENANT_ID: &str = "tenant_id";
/// Optional attribute: forces one decoder (`teleport`, `cloudtrail`, `github`, `okta`).
pub const EVENT_SOURCE: &str = "event_source";

/// A message as received, reduced to what decoding and acking need.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub receipt: String,
    pub body: String,
    /// String-valued message attributes.
    pub attrs: HashMap<String, String>,
    /// SentTimestamp (Unix ms), for the oldest-message-age metric.
    pub sent_ms: Option<i64>,
    /// ApproximateReceiveCount (1 on first delivery).
    pub receive_count: u32,
}

/// A message's events, all of one tenant.
pub struct DecodedMessage {
    pub tenant: String,
    pub rows: Vec<Row<'static>>,
    /// The `s3_large_files` object it pointed at (deleted after ingest when configured).
    pub large: Option<Path>,
}

/// Where payloads referenced by messages are fetched from.
pub struct Payloads {
    /// `s3_large_files`, opened like a lake (store + root prefix).
    pub large: Option<Lake>,
    /// Buckets named by CloudTrail notifications, opened on first use.
    buckets: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
    /// Extra object_store settings (tests point them at a local S3 server).
    s3_options: Vec<(String, String)>,
}

impl Payloads {
    pub fn new(large: Option<Lake>, s3_options: Vec<(String, String)>) -> Self {
        Self {
            large,
            buckets: Mutex::new(HashMap::new()),
            s3_options,
        }
    }

    /// Serves one bucket that CloudTrail notifications name from `store` instead of S3 (the
    /// fuzzer hands the payload bytes over this way; a deployment never needs it).
    pub fn with_bucket(self, name: &str, store: Arc<dyn ObjectStore>) -> Self {
        if let Ok(mut map) = self.buckets.lock() {
            map.insert(name.to_string(), store);
        }
        self
    }

    fn bucket(&self, name: &str) -> Result<Arc<dyn ObjectStore>, String> {
        let mut map = self
            .buckets
            .lock()
            .map_err(|_| "bucket map lock poisoned".to_string())?;
        if let Some(s) = map.get(name) {
            return Ok(s.clone());
        }
        let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(name);
        for (k, v) in &self.s3_options {
            let key = k.parse().map_err(|e: object_store::Error| e.to_string())?;
            b = b.with_config(key, v);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(b.build().map_err(|e| e.to_string())?);
        map.insert(name.to_string(), store.clone());
        Ok(store)
    }
}

#[derive(Deserialize)]
struct Pointer {
    path: String,
}

#[derive(Deserialize)]
struct CloudTrailNotification {
    #[serde(rename = "s3Bucket")]
    bucket: String,
    #[serde(rename = "s3ObjectKey")]
    keys: Vec<String>,
}

#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
}

/// Fetches a payload object, refusing one over `max` bytes before reading its body.
async fn fetch(store: &dyn ObjectStore, path: &Path, max: usize) -> Result<bytes::Bytes, Refusal> {
    let r = store.get(path).await.map_err(|e| match e {
        object_store::Error::NotFound { .. } => {
            Refusal::new(RefusalKind::Fetch, format!("payload {path} does not exist"))
        }
        e => Refusal::new(RefusalKind::Fetch, format!("cannot fetch {path}: {e}")),
    })?;
    if r.meta.size > max as u64 {
        return Err(Refusal::new(
            RefusalKind::TooLarge,
            format!(
                "payload {path} is {} bytes, over max_object_bytes ({max})",
                r.meta.size
            ),
        ));
    }
    let bytes = r
        .bytes()
        .await
        .map_err(|e| Refusal::new(RefusalKind::Fetch, format!("cannot read {path}: {e}")))?;
    if bytes.is_empty() {
        return Err(format!("payload {path} is empty").into());
    }
    Ok(bytes)
}

/// Decodes one payload object, streaming: gunzipped (by magic bytes) through a limit of
/// `limit` decompressed bytes, NDJSON line by line (each line at most `max_line_bytes`), or —
/// when its first line opens a JSON value it does not complete — one document. All or nothing:
/// any bad record refuses the message. Returns the rows and the decompressed size.
fn payload_rows(
    bytes: &[u8],
    what: &str,
    limit: usize,
    policy: &Policy,
    opts: &DecodeOptions,
) -> Result<(Vec<Row<'static>>, usize), Refusal> {
    let raw: Box<dyn BufRead + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(bytes)))
    } else {
        Box::new(bytes)
    };
    // One byte past the limit tells "exactly at it" from "over it" without reading further.
    let mut r = BufReader::new(raw.take(limit as u64 + 1));
    let too_large = || {
        Refusal::new(
            RefusalKind::TooLarge,
            format!(
                "{what} decompresses to more than {limit} bytes (max_object_bytes / max_message_bytes)"
            ),
        )
    };
    let mut rows = Vec::new();
    let mut buf = Vec::new();
    let mut total = 0usize;
    let mut line_no = 0u64;
    let mut doc: Option<String> = None;
    let mut ndjson = false;
    loop {
        let read =
            reader::read_line_bounded(&mut r, &mut buf, policy.max_line_bytes.min(limit), limit)
                .map_err(|e| Refusal::from(format!("{what}: invalid gzip or read error: {e}")))?;
        let n = match read {
            LineRead::Eof => break,
            LineRead::Line => buf.len(),
            LineRead::TooLong { bytes, limit: l } => {
                if l >= limit {
                    return Err(too_large());
                }
                return Err(Refusal::new(
                    RefusalKind::TooLarge,
                    format!(
                        "{what} line {}: {bytes} bytes or more, over max_line_bytes ({l})",
                        line_no + 1
                    ),
                ));
            }
        };
        total += n;
        if total > limit {
            return Err(too_large());
        }
        line_no += 1;
        let text = std::str::from_utf8(&buf)
            .map_err(|_| Refusal::from(format!("{what} line {line_no}: not UTF-8")))?;
        if let Some(d) = doc.as_mut() {
            d.push_str(text);
            continue;
        }
        let t = text.trim();
        if t.is_empty() {
            continue;
        }
        if !ndjson {
            ndjson = serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
                || !(t.starts_with('[') || t.starts_with('{'));
            if !ndjson {
                doc = Some(text.to_string());
                continue;
            }
        }
        push_rows(
            &mut rows,
            t,
            opts,
            &format!("{what} line {line_no}"),
            policy.max_events,
        )?;
    }
    if let Some(d) = doc {
        push_rows(&mut rows, &d, opts, what, policy.max_events)?;
    }
    Ok((rows, total))
}

/// Decodes a text into `rows`; the first bad record, or more than `max` rows, refuses the
/// message.
fn push_rows(
    rows: &mut Vec<Row<'static>>,
    text: &str,
    opts: &DecodeOptions,
    what: &str,
    max: usize,
) -> Result<(), Refusal> {
    let results = source::decode_text_with(text, opts);
    if rows.len() + results.len() > max {
        return Err(Refusal::new(
            RefusalKind::TooLarge,
            format!("{what}: more than {max} events in one message (max_events_per_message)"),
        ));
    }
    let multi = results.len() > 1;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(row) => rows.push(row.into_owned()),
            Err(e) if multi => return Err(format!("{what}: record {}: {e}", i + 1).into()),
            Err(e) => return Err(format!("{what}: {e}").into()),
        }
    }
    Ok(())
}

/// Decodes a message, all or nothing: one bad record fails the whole message, so the DLQ keeps
/// it intact and no part of it is written twice on redelivery. Every pointer in it is checked
/// against the [`Policy`] before anything is fetched.
pub async fn decode(
    msg: &Received,
    policy: &Policy,
    payloads: &Payloads,
) -> Result<DecodedMessage, Refusal> {
    let attr_tenant = msg.attrs.get(TENANT_ID).map(String::as_str);
    let forced = match msg.attrs.get(EVENT_SOURCE) {
        Some(s) => Some(s.parse::<SourceKind>()?),
        None => None,
    };
    let opts = DecodeOptions {
        forced,
        window: policy.window,
    };
    let mut body = msg.body.trim().to_string();
    if body.starts_with('{')
        && body.contains("\"Notification\"")
        && let Ok(env) = serde_json::from_str::<SnsEnvelope>(&body)
        && env.kind == "Notification"
    {
        body = env.message;
    }
    // Which objects to read, from which store, for which tenant — decided before any fetch.
    let (tenant, store, paths, large) =
        if msg.attrs.get(PAYLOAD_TYPE).map(String::as_str) == Some(S3_EVENT) {
            let p: Pointer = serde_json::from_str(&body)
                .map_err(|e| format!("s3_event body is not {{\"path\": …}}: {e}"))?;
            let large = payloads.large.as_ref().ok_or_else(|| {
                Refusal::new(
                    RefusalKind::Path,
                    "an s3_event message arrived but s3_large_files is not configured",
                )
            })?;
            let tenant = policy.tenant(attr_tenant, None)?;
            let path = resolve_large(large, &p.path)?;
            (
                tenant,
                large.store().clone(),
                vec![path.clone()],
                Some(path),
            )
        } else if body.starts_with('{')
            && body.contains("\"s3ObjectKey\"")
            && let Ok(n) = serde_json::from_str::<CloudTrailNotification>(&body)
        {
            if n.keys.len() > policy.max_keys {
                return Err(Refusal::new(
                    RefusalKind::TooLarge,
                    format!(
                        "a CloudTrail notification naming {} keys (max_keys_per_message is {})",
                        n.keys.len(),
                        policy.max_keys
                    ),
                ));
            }
            let mut bound: Option<Option<&str>> = None;
            for key in &n.keys {
                let b = policy.trail(&n.bucket, key)?;
                if bound.is_some_and(|x| x != b) {
                    return Err(Refusal::new(
                        RefusalKind::Tenant,
                        "keys of one notification belong to different tenants",
                    ));
                }
                bound = Some(b);
            }
            let tenant = policy.tenant(attr_tenant, bound.flatten())?;
            let store = payloads.bucket(&n.bucket).map_err(Refusal::from)?;
            let paths = n.keys.iter().map(|k| Path::from(k.as_str())).collect();
            (tenant, store, paths, None)
        } else {
            let tenant = policy.tenant(attr_tenant, None)?;
            if body.is_empty() {
                return Err("empty message body".to_string().into());
            }
            let mut rows = Vec::new();
            push_rows(&mut rows, &body, &opts, "body", policy.max_events)?;
            // `[]` or `{"Records":[]}`: refused like an empty payload, so a publisher sending
            // nothing is seen in the DLQ rather than acknowledged.
            if rows.is_empty() {
                return Err("the message holds no events".to_string().into());
            }
            return Ok(DecodedMessage {
                tenant,
                rows,
                large: None,
            });
        };
    let mut rows = Vec::new();
    let mut budget = policy.max_message_bytes;
    for path in paths {
        let bytes = fetch(store.as_ref(), &path, policy.max_object_bytes).await?;
        let limit = policy.max_object_bytes.min(budget);
        let policy2 = policy.clone();
        let what = path.to_string();
        // Gunzip and decode off the async threads: a payload may be tens of MiB.
        let (mut got, used) = tokio::task::spawn_blocking(move || {
            payload_rows(&bytes, &what, limit, &policy2, &opts)
        })
        .await
        .map_err(|e| Refusal::from(format!("decoder task failed: {e}")))??;
        budget = budget.saturating_sub(used);
        if rows.len() + got.len() > policy.max_events {
            return Err(Refusal::new(
                RefusalKind::TooLarge,
                format!(
                    "more than {} events in one message (max_events_per_message)",
                    policy.max_events
                ),
            ));
        }
        rows.append(&mut got);
    }
    if rows.is_empty() {
        return Err("the message holds no events".to_string().into());
    }
    Ok(DecodedMessage {
        tenant,
        rows,
        large,
    })
}
