//! One SQS message → its events, or the reason it cannot be used (the message then stays
//! undeleted and SQS's redrive policy moves it to the DLQ).
//!
//! A body is one event (JSON), a JSON array of events, a CloudTrail log document, a pointer to
//! a payload in `s3_large_files` (attribute `payload_type = s3_event`, body
//! `{"path": "<key under s3_large_files>"}`), or CloudTrail's own S3 notification
//! (`{"s3Bucket": …, "s3ObjectKey": [...]}`), which is followed to the gzipped log files. An SNS
//! envelope (`{"Type": "Notification", "Message": "…"}`) is unwrapped first.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Deserialize;

use crate::ingest::source::{self, SourceKind};
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
    pub rows: Vec<Row>,
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

    fn bucket(&self, name: &str) -> Result<Arc<dyn ObjectStore>, String> {
        let mut map = self.buckets.lock().expect("bucket map lock");
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

async fn fetch(store: &dyn ObjectStore, path: &Path) -> Result<Vec<u8>, String> {
    let r = store
        .get(path)
        .await
        .map_err(|e| format!("cannot fetch {path}: {e}"))?;
    let bytes = r
        .bytes()
        .await
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if bytes.is_empty() {
        return Err(format!("payload {path} is empty"));
    }
    Ok(bytes.to_vec())
}

/// Gunzips when the bytes are gzip (magic 1f 8b), else returns them; then UTF-8.
fn text_of(bytes: Vec<u8>, what: &str) -> Result<String, String> {
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("{what}: invalid gzip: {e}"))?;
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|_| format!("{what}: not UTF-8"))
}

/// The texts (each a document `decode_text` understands) a message stands for.
async fn texts(msg: &Received, payloads: &Payloads) -> Result<Vec<String>, String> {
    let mut body = msg.body.trim().to_string();
    if body.starts_with('{')
        && body.contains("\"Notification\"")
        && let Ok(env) = serde_json::from_str::<SnsEnvelope>(&body)
        && env.kind == "Notification"
    {
        body = env.message;
    }
    if msg.attrs.get(PAYLOAD_TYPE).map(String::as_str) == Some(S3_EVENT) {
        let p: Pointer = serde_json::from_str(&body)
            .map_err(|e| format!("s3_event body is not {{\"path\": …}}: {e}"))?;
        let large = payloads
            .large
            .as_ref()
            .ok_or("an s3_event message arrived but s3_large_files is not configured")?;
        let path = match p.path.strip_prefix("s3://") {
            // A full URL must point inside s3_large_files; keep its key part.
            Some(rest) => {
                let key = rest.split_once('/').map(|x| x.1).unwrap_or_default();
                Path::from(key)
            }
            None => large.path(&p.path),
        };
        let bytes = fetch(large.store().as_ref(), &path).await?;
        return Ok(vec![text_of(bytes, path.as_ref())?]);
    }
    if body.starts_with('{')
        && body.contains("\"s3ObjectKey\"")
        && let Ok(n) = serde_json::from_str::<CloudTrailNotification>(&body)
    {
        let store = payloads.bucket(&n.bucket)?;
        let mut out = Vec::with_capacity(n.keys.len());
        for key in &n.keys {
            let path = Path::from(key.as_str());
            let bytes = fetch(store.as_ref(), &path).await?;
            out.push(text_of(bytes, &format!("s3://{}/{key}", n.bucket))?);
        }
        return Ok(out);
    }
    Ok(vec![body])
}

/// Decodes a message, all or nothing: one bad record fails the whole message, so the DLQ keeps
/// it intact and no part of it is written twice on redelivery.
pub async fn decode(
    msg: &Received,
    default_tenant: &str,
    payloads: &Payloads,
) -> Result<DecodedMessage, String> {
    let tenant = msg
        .attrs
        .get(TENANT_ID)
        .cloned()
        .unwrap_or_else(|| default_tenant.to_string());
    if !crate::tenant::valid(&tenant) {
        return Err(format!("invalid tenant_id attribute {tenant:?}"));
    }
    let forced = match msg.attrs.get(EVENT_SOURCE) {
        Some(s) => Some(s.parse::<SourceKind>()?),
        None => None,
    };
    let texts = texts(msg, payloads).await?;
    let mut rows = Vec::new();
    for text in &texts {
        if text.trim().is_empty() {
            return Err("empty message body".into());
        }
        let results = source::decode_text(text, forced);
        let multi = results.len() > 1;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(row) => rows.push(row),
                Err(e) if multi => return Err(format!("record {}: {e}", i + 1)),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    if rows.is_empty() {
        return Err("the message holds no events".into());
    }
    Ok(DecodedMessage { tenant, rows })
}
