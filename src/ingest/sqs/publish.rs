//! `auditlake publish`: sends events from files to the queue in the contract `consume` reads —
//! events grouped into JSON-array messages, a message over the SQS size limit's headroom put in
//! `s3_large_files` and replaced by an `s3_event` pointer.

use std::collections::HashMap;

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::value::RawValue;

use super::message::{EVENT_SOURCE, PAYLOAD_TYPE, S3_EVENT, TENANT_ID};
use super::{sqs_client, sqs_err};
use crate::config::IdentityActivityCenter;
use crate::error::{Error, Result};
use crate::ingest::Input;
use crate::lake::Lake;

/// Largest body sent directly: SQS's 256 KiB limit minus headroom for attributes (Teleport's
/// publisher uses the same 250 KiB).
pub const MAX_DIRECT_BYTES: usize = 250 * 1024;

/// Settings of one publish run.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// `tenant_id` attribute of every message (absent: the consumer's default tenant).
    pub tenant: Option<String>,
    /// `event_source` attribute (absent: the consumer detects each record).
    pub source: Option<String>,
    /// Events per message (a JSON array when more than one).
    pub events_per_message: usize,
    /// Extra object_store settings for `s3_large_files` (tests).
    pub s3_options: Vec<(String, String)>,
}

/// What was sent.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PublishSummary {
    pub events: u64,
    pub messages: u64,
    pub large_payloads: u64,
}

/// Splits a file's text into event texts: a JSON array or CloudTrail document gives its
/// elements, anything else one event per non-empty line. Lines are sent as they are — a
/// malformed one is the consumer's to reject (into the DLQ), not ours to drop.
fn events_of(text: &str) -> Vec<String> {
    let t = text.trim_start();
    if t.starts_with('[')
        && let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(text)
    {
        return items.iter().map(|r| r.get().to_string()).collect();
    }
    if t.starts_with('{') && t.contains("\"Records\"") {
        #[derive(serde::Deserialize)]
        struct Doc<'a> {
            #[serde(rename = "Records", borrow)]
            records: Vec<&'a RawValue>,
        }
        if let Ok(d) = serde_json::from_str::<Doc<'_>>(text) {
            return d.records.iter().map(|r| r.get().to_string()).collect();
        }
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .expect("data_type is set")
}

/// Reads `inputs` and sends their events to the config's queue.
pub async fn publish(
    cfg: &IdentityActivityCenter,
    inputs: &[String],
    opts: &PublishOptions,
) -> Result<PublishSummary> {
    let queue = cfg.queue_url()?.to_string();
    let sqs = sqs_client(cfg.region.as_deref()).await;
    let s3_opts: Vec<(&str, &str)> = opts
        .s3_options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let large = match &cfg.s3_large_files {
        Some(l) => Some(Lake::open_with(l, &s3_opts)?),
        None => None,
    };
    let mut summary = PublishSummary::default();
    let mut bodies: Vec<(String, bool)> = Vec::new();
    for input in inputs {
        let text = Input::parse(input).read_to_string()?;
        let events = events_of(&text);
        summary.events += events.len() as u64;
        let mut group: Vec<String> = Vec::new();
        let mut group_len = 2;
        let close = |group: &mut Vec<String>, bodies: &mut Vec<(String, bool)>| {
            match group.len() {
                0 => {}
                1 => bodies.push((group.pop().expect("one"), false)),
                _ => bodies.push((format!("[{}]", group.join(",")), false)),
            }
            group.clear();
        };
        for e in events {
            // Text that is not JSON travels alone, so the consumer's rejection (and the DLQ)
            // concerns it only, not neighbours grouped with it.
            if serde_json::from_str::<&RawValue>(&e).is_err() {
                close(&mut group, &mut bodies);
                group_len = 2;
                let large = e.len() > MAX_DIRECT_BYTES;
                bodies.push((e, large));
                continue;
            }
            if e.len() > MAX_DIRECT_BYTES {
                close(&mut group, &mut bodies);
                group_len = 2;
                bodies.push((e, true));
                continue;
            }
            if group.len() >= opts.events_per_message.max(1)
                || group_len + e.len() + 1 > MAX_DIRECT_BYTES
            {
                close(&mut group, &mut bodies);
                group_len = 2;
            }
            group_len += e.len() + 1;
            group.push(e);
        }
        close(&mut group, &mut bodies);
    }

    let mut common: HashMap<String, MessageAttributeValue> = HashMap::new();
    if let Some(t) = &opts.tenant {
        common.insert(TENANT_ID.into(), attr(t));
    }
    if let Some(s) = &opts.source {
        common.insert(EVENT_SOURCE.into(), attr(s));
    }
    // Large payloads go to s3_large_files first; their messages carry a pointer.
    let mut entries: Vec<(String, HashMap<String, MessageAttributeValue>)> = Vec::new();
    for (body, is_large) in bodies {
        if !is_large {
            entries.push((body, common.clone()));
            continue;
        }
        let large = large.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "an event of {} bytes exceeds SQS's limit and s3_large_files is not set",
                body.len()
            ))
        })?;
        let key = format!("{}.json", uuid::Uuid::now_v7());
        let path = large.path(&key);
        large
            .store()
            .put(&path, PutPayload::from(body.into_bytes()))
            .await
            .map_err(|e| Error::store(path.to_string(), e))?;
        summary.large_payloads += 1;
        let mut attrs = common.clone();
        attrs.insert(PAYLOAD_TYPE.into(), attr(S3_EVENT));
        entries.push((serde_json::json!({ "path": key }).to_string(), attrs));
    }
    // SendMessageBatch: at most 10 entries and 256 KiB in all per call.
    let mut i = 0;
    while i < entries.len() {
        let mut size = 0;
        let mut batch = Vec::new();
        while i < entries.len() && batch.len() < 10 && size + entries[i].0.len() <= MAX_DIRECT_BYTES
        {
            size += entries[i].0.len();
            let (body, attrs) = &entries[i];
            batch.push(
                SendMessageBatchRequestEntry::builder()
                    .id(batch.len().to_string())
                    .message_body(body)
                    .set_message_attributes(if attrs.is_empty() {
                        None
                    } else {
                        Some(attrs.clone())
                    })
                    .build()
                    .map_err(|e| Error::Other(e.to_string()))?,
            );
            i += 1;
        }
        let n = batch.len() as u64;
        let out = sqs
            .send_message_batch()
            .queue_url(&queue)
            .set_entries(Some(batch))
            .send()
            .await
            .map_err(|e| sqs_err("SendMessageBatch", e))?;
        if let Some(f) = out.failed().first() {
            return Err(Error::Sqs {
                op: "SendMessageBatch",
                message: format!(
                    "{} of {n} messages refused: {} {}",
                    out.failed().len(),
                    f.code(),
                    f.message().unwrap_or_default()
                ),
            });
        }
        summary.messages += n;
    }
    Ok(summary)
}
