//! The batch side: decoded messages → a batch bounded in rows (`batch_max_items`) and bytes
//! (`batch_max_bytes`) → one Parquet file per partition, journaled first and durable (fsynced
//! on a local lake) before any message is deleted.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
};
use chrono::NaiveDate;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::journal::{Dedup, JournalEntry, JournalFile, uid_hash};
use super::lease::Lease;
use super::message::{self, Received};
use super::{Ctx, sqs_err};
use crate::error::{Error, Result};
use crate::ingest::enrich::GeoCache;
use crate::lake::{layout, writer};
use crate::schema::RowBatchBuilder;

/// Bytes a row is counted for beyond its `event_data`: the typed columns and Arrow overhead.
const ROW_OVERHEAD_BYTES: usize = 256;

/// A received message the batch holds, to delete once its events are durable.
pub struct Ack {
    pub id: String,
    pub receipt: String,
    /// Its `s3_large_files` payload, deleted after the message when `delete_large_files`.
    pub large: Option<Path>,
}

/// A batch being filled.
pub struct Batch {
    parts: HashMap<(String, NaiveDate), RowBatchBuilder>,
    /// Hashes of the rows in `parts`, per partition, committed to `Dedup` once written.
    pending: HashMap<(String, NaiveDate), Vec<u64>>,
    pending_set: HashSet<u64>,
    pub rows: usize,
    pub bytes: usize,
    acks: Vec<Ack>,
    oldest_sent_ms: Option<i64>,
    pub started: Option<Instant>,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    pub fn new() -> Self {
        Self {
            parts: HashMap::new(),
            pending: HashMap::new(),
            pending_set: HashSet::new(),
            rows: 0,
            bytes: 0,
            acks: Vec::new(),
            oldest_sent_ms: None,
            started: None,
        }
    }

    /// Full by rows or by bytes.
    pub fn is_full(&self, ctx: &Ctx) -> bool {
        self.rows >= ctx.cfg.batch_max_items || self.bytes >= ctx.cfg.batch_max_bytes
    }
}

/// Decodes received messages (fetching their payloads); the leader renews its lease while
/// this runs, since a payload may take seconds.
pub async fn decode_all(
    ctx: &Ctx,
    msgs: Vec<Received>,
) -> Vec<(
    Received,
    Result<message::DecodedMessage, super::policy::Refusal>,
)> {
    let payloads = &ctx.payloads;
    let policy = &ctx.policy;
    let decoded: Vec<_> = futures::stream::iter(msgs.iter())
        .map(|m| async move { message::decode(m, policy, payloads).await })
        .buffered(4)
        .collect()
        .await;
    msgs.into_iter().zip(decoded).collect()
}

/// Adds decoded messages to the batch; refused ones are logged, counted and left for the DLQ.
pub fn add(
    ctx: &Ctx,
    dedup: &Dedup,
    geo: &mut Option<GeoCache<'_>>,
    batch: &mut Batch,
    decoded: Vec<(
        Received,
        Result<message::DecodedMessage, super::policy::Refusal>,
    )>,
) {
    for (msg, res) in decoded {
        let d = match res {
            Ok(d) => d,
            Err(refusal) => {
                ctx.metrics.refused(refusal.kind);
                tracing::warn!(
                    message_id = %msg.id,
                    receive_count = msg.receive_count,
                    kind = refusal.kind.label(),
                    reason = %refusal.reason,
                    "undecodable message left for the DLQ"
                );
                continue;
            }
        };
        if batch.started.is_none() {
            batch.started = Some(Instant::now());
        }
        for mut row in d.rows {
            let h = uid_hash(&d.tenant, &row.uid);
            if dedup.contains(h) || !batch.pending_set.insert(h) {
                ctx.metrics.duplicates_dropped.fetch_add(1, Relaxed);
                continue;
            }
            if let Some(g) = geo.as_mut() {
                g.enrich(&mut row);
            }
            let key = (d.tenant.clone(), row.event_date());
            batch.pending.entry(key.clone()).or_default().push(h);
            batch.bytes += row.event_data.len() + ROW_OVERHEAD_BYTES;
            batch
                .parts
                .entry(key)
                .or_insert_with(|| RowBatchBuilder::with_capacity(1024))
                .push(&row);
            batch.rows += 1;
        }
        if let Some(s) = msg.sent_ms {
            batch.oldest_sent_ms = Some(batch.oldest_sent_ms.map_or(s, |o| o.min(s)));
        }
        batch.acks.push(Ack {
            id: msg.id,
            receipt: msg.receipt,
            large: d.large,
        });
    }
}

/// Writes the batch and deletes its messages. Any failure before the files are durable deletes
/// nothing: the messages come back after their visibility timeout and are retried.
pub async fn flush(
    ctx: &Ctx,
    lease: &mut Lease,
    dedup: &mut Dedup,
    batch: &mut Batch,
    touched: &mut HashSet<(String, NaiveDate)>,
) {
    let b = std::mem::take(batch);
    if b.acks.is_empty() {
        return;
    }
    let t0 = Instant::now();
    let messages = b.acks.len();
    let rows = b.rows;
    let bytes = b.bytes;
    match write_and_delete(ctx, lease, dedup, b, touched).await {
        Ok((files, deleted)) => {
            let us = t0.elapsed().as_micros() as u64;
            ctx.metrics.flushes.fetch_add(1, Relaxed);
            ctx.metrics.batch_latency_us_sum.fetch_add(us, Relaxed);
            tracing::info!(
                messages,
                events = rows,
                bytes,
                files,
                deleted,
                elapsed_ms = us / 1000,
                "flushed batch"
            );
        }
        Err(e) => {
            ctx.metrics.flush_failures.fetch_add(1, Relaxed);
            tracing::error!(messages, events = rows, error = %e.chain(": "), "flush failed; nothing deleted, the messages will be redelivered");
        }
    }
}

async fn write_and_delete(
    ctx: &Ctx,
    lease: &mut Lease,
    dedup: &mut Dedup,
    mut b: Batch,
    touched: &mut HashSet<(String, NaiveDate)>,
) -> Result<(usize, usize)> {
    // Writing without the lease would race a new leader that may already hold these messages.
    if !lease.renew().await? {
        return Err(Error::Other("lease lost before the flush".into()));
    }
    let visibility = ctx.cfg.visibility();
    if b.started.is_some_and(|s| s.elapsed() > visibility / 2) {
        extend_visibility(ctx, &b.acks, visibility).await;
    }
    let mut plan: Vec<((String, NaiveDate), Path, RowBatchBuilder)> = b
        .parts
        .drain()
        .map(|((t, d), builder)| {
            let p = layout::new_file_path(&ctx.lake, &t, d);
            ((t, d), p, builder)
        })
        .collect();
    let journal = if plan.is_empty() {
        None
    } else {
        let entry = JournalEntry {
            files: plan
                .iter()
                .map(|((t, _), p, _)| JournalFile {
                    path: p.to_string(),
                    tenant: t.clone(),
                })
                .collect(),
        };
        Some(entry.write(&ctx.lake).await?)
    };
    let mut tasks = tokio::task::JoinSet::new();
    for ((tenant, date), path, mut builder) in plan.drain(..) {
        let lake = ctx.lake.clone();
        let wopts = ctx.writer_opts.clone();
        tasks.spawn(async move {
            let label = format!("{tenant}/{date}");
            let encoded =
                tokio::task::spawn_blocking(move || -> Result<(writer::Encoded, usize)> {
                    let batch = builder.finish();
                    let rows = batch.num_rows();
                    Ok((writer::encode(vec![batch], &wopts, &label)?, rows))
                })
                .await
                .map_err(|e| Error::Other(format!("encoder failed: {e}")))
                .and_then(|r| r);
            // put_file_at fsyncs a local lake's file and directories before returning.
            let r = match encoded {
                Ok((bytes, rows)) => {
                    writer::put_file_at(&lake, path, &tenant, date, bytes, rows).await
                }
                Err(e) => Err(e),
            };
            (tenant, date, r)
        });
    }
    let mut first_err = None;
    let mut files = 0;
    while let Some(res) = tasks.join_next().await {
        let (tenant, date, r) = res.map_err(|e| Error::Other(format!("flush task failed: {e}")))?;
        match r {
            Ok(w) => {
                files += 1;
                touched.insert((tenant.clone(), date));
                ctx.metrics.files_written.fetch_add(1, Relaxed);
                ctx.metrics.events_written.fetch_add(w.rows as u64, Relaxed);
                // Written: its uids are now in the lake whatever happens to the rest.
                if let Some(h) = b.pending.remove(&(tenant, date)) {
                    dedup.commit(h);
                }
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    // Fault injection for the crash test: die like kill -9 at the worst moment, with the
    // files durable and no message deleted.
    if std::env::var_os("AUDITLAKE_FAULT_ABORT_BEFORE_DELETE").is_some() {
        tracing::error!("AUDITLAKE_FAULT_ABORT_BEFORE_DELETE set: aborting");
        std::process::abort();
    }
    let deleted = delete_messages(ctx, &b.acks).await;
    if deleted.len() == b.acks.len()
        && let Some(j) = &journal
    {
        let _ = ctx.lake.store().delete(j).await;
    }
    if ctx.cfg.delete_large_files {
        delete_payloads(ctx, &b.acks, &deleted).await;
    }
    if let Some(s) = b.oldest_sent_ms {
        ctx.metrics
            .oldest_message_age_ms
            .store(chrono::Utc::now().timestamp_millis() - s, Relaxed);
    }
    Ok((files, deleted.len()))
}

/// Removes the `s3_large_files` payloads of messages that were deleted (a message that was
/// not deleted comes back and needs its payload).
async fn delete_payloads(ctx: &Ctx, acks: &[Ack], deleted: &HashSet<usize>) {
    let Some(large) = ctx.payloads.large.as_ref() else {
        return;
    };
    for (i, a) in acks.iter().enumerate() {
        if let (true, Some(p)) = (deleted.contains(&i), &a.large) {
            match large.store().delete(p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    ctx.metrics.large_files_deleted.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    tracing::warn!(path = %p, error = %e, "cannot delete an ingested large payload")
                }
            }
        }
    }
}

/// Deletes messages in groups of 10, five groups at a time; returns the indexes (into `acks`)
/// of those deleted.
async fn delete_messages(ctx: &Ctx, acks: &[Ack]) -> HashSet<usize> {
    let groups: Vec<_> = acks.chunks(10).enumerate().collect();
    let results: Vec<Vec<usize>> = futures::stream::iter(groups)
        .map(|(g, group)| async move {
            let entries: Vec<_> = group
                .iter()
                .enumerate()
                .filter_map(|(i, a)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id((g * 10 + i).to_string())
                        .receipt_handle(&a.receipt)
                        .build()
                        .ok()
                })
                .collect();
            match ctx
                .sqs
                .delete_message_batch()
                .queue_url(&ctx.queue)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    for f in out.failed() {
                        ctx.metrics.delete_failures.fetch_add(1, Relaxed);
                        tracing::warn!(code = f.code(), reason = f.message().unwrap_or_default(), "a message could not be deleted; it will be redelivered and its events dropped as duplicates");
                    }
                    out.successful()
                        .iter()
                        .filter_map(|s| s.id().parse().ok())
                        .collect()
                }
                Err(e) => {
                    ctx.metrics
                        .delete_failures
                        .fetch_add(group.len() as u64, Relaxed);
                    tracing::warn!(error = %sqs_err("DeleteMessageBatch", e), "delete failed; the messages will be redelivered and dropped as duplicates");
                    Vec::new()
                }
            }
        })
        .buffer_unordered(5)
        .collect()
        .await;
    let done: HashSet<usize> = results.into_iter().flatten().collect();
    ctx.metrics
        .deleted_messages
        .fetch_add(done.len() as u64, Relaxed);
    done
}

/// Keeps a slow batch's messages hidden while it is written.
async fn extend_visibility(ctx: &Ctx, acks: &[Ack], visibility: Duration) {
    for group in acks.chunks(10) {
        let entries: Vec<_> = group
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&a.receipt)
                    .visibility_timeout(visibility.as_secs() as i32)
                    .build()
                    .ok()
            })
            .collect();
        if let Err(e) = ctx
            .sqs
            .change_message_visibility_batch()
            .queue_url(&ctx.queue)
            .set_entries(Some(entries))
            .send()
            .await
        {
            tracing::warn!(error = %sqs_err("ChangeMessageVisibilityBatch", e), "could not extend visibility");
        }
    }
}
