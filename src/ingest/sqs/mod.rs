//! `auditlake consume`: the SQS ingest service. One leader (lease in the lake) receives with
//! several long-polling loops, decodes and enriches, batches by (tenant, date), flushes one
//! Parquet file per partition, and deletes messages only after every file of the batch is
//! durable. Undecodable messages stay undeleted so SQS's redrive policy moves them to the DLQ.
//!
//! Exactly-once rows on at-least-once delivery: a crash between write and delete redelivers a
//! message whose events are already in the lake. Before writing, a flush records its files in a
//! journal (`_consumer/flushes/{id}.json`) and removes the journal once its messages are
//! deleted; a new leader loads the uids of journaled ("in doubt") files, and every process
//! remembers the uids it wrote for `dedup_window`. A redelivered event whose uid is known is
//! dropped, so the views never count it twice. Beyond the window, `auditlake compact` keeps one
//! row per uid.

pub mod lease;
pub mod message;
pub mod metrics;
pub mod publish;

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use arrow::array::{Array, StringArray};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName,
};
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::config::IdentityActivityCenter;
use crate::error::{Error, Result};
use crate::ingest::enrich::{GeoCache, GeoIp};
use crate::lake::writer::{self, WriterOptions};
use crate::lake::{Lake, compact, layout};
use crate::schema::RowBatchBuilder;
use lease::{Attempt, Lease};
use message::{Payloads, Received};
use metrics::Metrics;

/// Journal of flushes whose messages are not yet known deleted, relative to the lake root.
pub const JOURNAL_DIR: &str = "_consumer/flushes";

pub use crate::aws::sqs_client;

fn sqs_err<E: std::error::Error + 'static>(op: &'static str, e: E) -> Error {
    Error::Sqs {
        op,
        message: DisplayErrorContext(e).to_string(),
    }
}

/// How a leadership stint ended.
enum Stint {
    Shutdown,
    LostLease,
}

/// Journal entry: the files a flush is about to write.
#[derive(Debug, Serialize, Deserialize)]
struct JournalEntry {
    files: Vec<JournalFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JournalFile {
    path: String,
    tenant: String,
}

/// uids (hashed with their tenant) written recently, to drop redelivered copies.
struct Dedup {
    window: Duration,
    seen: HashMap<u64, Instant>,
}

fn uid_hash(tenant: &str, uid: &str) -> u64 {
    // DefaultHasher::new() is deterministic within a build; hashes never leave the process.
    let mut h = std::hash::DefaultHasher::new();
    tenant.hash(&mut h);
    uid.hash(&mut h);
    h.finish()
}

impl Dedup {
    fn new(window: Duration) -> Self {
        Self {
            window,
            seen: HashMap::new(),
        }
    }

    fn commit(&mut self, hashes: impl IntoIterator<Item = u64>) {
        let now = Instant::now();
        self.seen.extend(hashes.into_iter().map(|h| (h, now)));
        let window = self.window;
        self.seen.retain(|_, t| now.duration_since(*t) < window);
    }

    fn commit_uids(&mut self, tenant: &str, batches: &[arrow::array::RecordBatch]) -> usize {
        let uid_idx = crate::schema::column_index("uid").expect("uid column");
        let mut hashes = Vec::new();
        for b in batches {
            if let Some(uids) = b.column(uid_idx).as_any().downcast_ref::<StringArray>() {
                for i in 0..uids.len() {
                    if uids.is_valid(i) {
                        hashes.push(uid_hash(tenant, uids.value(i)));
                    }
                }
            }
        }
        let n = hashes.len();
        self.commit(hashes);
        n
    }

    /// Loads the uids of files named by journal entries younger than the window (deleting older
    /// entries): the files a crashed leader wrote without knowing its messages were deleted.
    async fn load_in_doubt(&mut self, lake: &Lake) -> Result<usize> {
        let store = lake.store();
        let dir = lake.path(JOURNAL_DIR);
        let entries: Vec<_> = store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| Error::store(dir.to_string(), e))?;
        let mut loaded = 0;
        let mut whole: HashSet<(String, NaiveDate)> = HashSet::new();
        for meta in entries {
            let age = chrono::Utc::now() - meta.last_modified;
            if age.to_std().unwrap_or_default() > self.window {
                let _ = store.delete(&meta.location).await;
                continue;
            }
            let bytes = match store.get(&meta.location).await {
                Ok(r) => r
                    .bytes()
                    .await
                    .map_err(|e| Error::store(meta.location.to_string(), e))?,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(Error::store(meta.location.to_string(), e)),
            };
            let Ok(entry) = serde_json::from_slice::<JournalEntry>(&bytes) else {
                tracing::warn!(path = %meta.location, "ignoring an unreadable journal entry");
                continue;
            };
            for f in entry.files {
                let path = Path::from(f.path.as_str());
                let batches = match compact::read_file(store.as_ref(), &path).await {
                    Ok(b) => b,
                    // Never written (a crash before the PUT), or compacted since: then its
                    // rows live in the partition's new files, so remember the partition's.
                    Err(Error::Store {
                        source: object_store::Error::NotFound { .. },
                        ..
                    }) => {
                        if let Some(part) = partition_of(&path) {
                            whole.insert((f.tenant.clone(), part));
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                loaded += self.commit_uids(&f.tenant, &batches);
            }
        }
        for (tenant, date) in whole {
            let prefix = layout::partition_prefix(lake, &tenant, date);
            let metas: Vec<_> = store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| Error::store(prefix.to_string(), e))?;
            let live = crate::lake::listing::live_files(store.as_ref(), metas)
                .await
                .map_err(|e| Error::store(prefix.to_string(), e))?;
            for m in live {
                let batches = compact::read_file(store.as_ref(), &m.location).await?;
                loaded += self.commit_uids(&tenant, &batches);
            }
        }
        Ok(loaded)
    }
}

/// The date of a data file's partition (`…/data/{tenant}/{date}/{file}`).
fn partition_of(path: &Path) -> Option<NaiveDate> {
    let parts: Vec<_> = path.parts().collect();
    let n = parts.len();
    (n >= 2).then(|| layout::parse_date(parts[n - 2].as_ref()))?
}

/// A batch being filled.
struct Batch {
    parts: HashMap<(String, NaiveDate), RowBatchBuilder>,
    /// Hashes of the rows in `parts`, per partition, committed to `Dedup` once written.
    pending: HashMap<(String, NaiveDate), Vec<u64>>,
    pending_set: HashSet<u64>,
    rows: usize,
    acks: Vec<(String, String)>,
    oldest_sent_ms: Option<i64>,
    started: Option<Instant>,
}

impl Batch {
    fn new() -> Self {
        Self {
            parts: HashMap::new(),
            pending: HashMap::new(),
            pending_set: HashSet::new(),
            rows: 0,
            acks: Vec::new(),
            oldest_sent_ms: None,
            started: None,
        }
    }
}

/// Everything a leadership stint needs.
struct Ctx {
    cfg: IdentityActivityCenter,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    lake: Lake,
    payloads: Arc<Payloads>,
    geoip: Option<Arc<GeoIp>>,
    writer_opts: Arc<WriterOptions>,
    metrics: Arc<Metrics>,
}

/// Settings that do not come from the config file.
#[derive(Default, Clone)]
pub struct ConsumeOptions {
    /// Overrides the config's `metrics_addr`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Extra object_store settings for the lake and payload buckets (tests).
    pub s3_options: Vec<(String, String)>,
}

/// Runs the consumer until `shutdown` resolves; then stops receiving, flushes what it holds,
/// deletes those messages and releases the lease.
pub async fn run(
    cfg: IdentityActivityCenter,
    opts: ConsumeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    if !cfg.enabled {
        return Err(Error::Config(
            "identity_activity_center.enabled is false".into(),
        ));
    }
    let queue = cfg.queue_url()?.to_string();
    let s3_opts: Vec<(&str, &str)> = opts
        .s3_options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let lake = Lake::open_with(&cfg.s3, &s3_opts)?;
    let large = match &cfg.s3_large_files {
        Some(l) => Some(Lake::open_with(l, &s3_opts)?),
        None => None,
    };
    let geoip = match &cfg.maxmind_geoip_city_db_path {
        Some(p) => Some(Arc::new(GeoIp::open(p)?)),
        None => None,
    };
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = opts.metrics_addr.or(cfg.metrics_addr) {
        let bound = metrics::serve(addr, metrics.clone()).await?;
        tracing::info!(%bound, "metrics on http://{bound}/metrics");
    }
    let ctx = Ctx {
        sqs: sqs_client(cfg.region.as_deref()).await,
        queue,
        lake: lake.clone(),
        payloads: Arc::new(Payloads::new(large, opts.s3_options.clone())),
        writer_opts: Arc::new(WriterOptions {
            geoip: geoip.as_ref().map(|g| g.provenance()),
        }),
        geoip,
        metrics: metrics.clone(),
        cfg,
    };
    let mut lease = Lease::new(&lake, ctx.cfg.lease_ttl);
    let mut dedup = Dedup::new(ctx.cfg.dedup_window);
    tracing::info!(holder = lease.holder(), queue = %ctx.queue, lake = lake.display(), "consumer started");
    let mut shutdown = std::pin::pin!(shutdown);
    let retry = ctx.cfg.lease_ttl / 3;
    loop {
        let attempt = tokio::select! {
            _ = &mut shutdown => break,
            a = lease.try_acquire() => a,
        };
        match attempt {
            Ok(Attempt::Leader(term)) => {
                metrics.leader.store(1, Relaxed);
                metrics.term.store(term as i64, Relaxed);
                tracing::info!(term, "became leader");
                let stint = lead(&ctx, &mut lease, &mut dedup, &mut shutdown).await;
                metrics.leader.store(0, Relaxed);
                metrics.term.store(0, Relaxed);
                match stint {
                    Ok(Stint::Shutdown) => {
                        lease.release().await?;
                        tracing::info!("lease released; consumer stopped");
                        return Ok(());
                    }
                    Ok(Stint::LostLease) => {
                        tracing::warn!(term, "lost the lease; back to follower");
                    }
                    Err(e) => {
                        // Give others the chance to lead instead of a broken instance.
                        let _ = lease.release().await;
                        return Err(e);
                    }
                }
            }
            Ok(Attempt::Follower {
                holder,
                expires_unix_ms,
            }) => {
                tracing::debug!(%holder, expires_unix_ms, "another instance leads");
                let until = (expires_unix_ms - chrono::Utc::now().timestamp_millis()).max(0);
                let wait = retry.min(Duration::from_millis(until as u64 + 50));
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e.chain(": "), "lease check failed; retrying");
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(retry) => {}
                }
            }
        }
    }
    tracing::info!("consumer stopped");
    Ok(())
}

/// One leadership stint: receive, batch, flush, delete; renew the lease; stop on shutdown or
/// when the lease is lost.
async fn lead(
    ctx: &Ctx,
    lease: &mut Lease,
    dedup: &mut Dedup,
    shutdown: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<Stint> {
    let loaded = dedup.load_in_doubt(&ctx.lake).await?;
    if loaded > 0 {
        tracing::info!(uids = loaded, "loaded uids of in-doubt flushes");
    }
    let (tx, mut rx) = mpsc::channel::<Vec<Received>>(ctx.cfg.receivers * 2);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut receivers = tokio::task::JoinSet::new();
    for i in 0..ctx.cfg.receivers {
        receivers.spawn(receive_loop(
            i,
            ctx.sqs.clone(),
            ctx.queue.clone(),
            ctx.cfg.receive_wait,
            ctx.cfg.visibility(),
            tx.clone(),
            stop_rx.clone(),
            ctx.metrics.clone(),
        ));
    }
    drop(tx);
    let mut geo = ctx.geoip.as_deref().map(GeoCache::new);
    let mut batch = Batch::new();
    let renew_every = ctx.cfg.lease_ttl / 3;
    let mut renew_at = tokio::time::Instant::now() + renew_every;
    let far = tokio::time::Instant::now() + Duration::from_secs(365 * 86400);
    // Partitions written during this stint; compacted once closed (see `compact_closed`).
    let mut touched: HashSet<(String, NaiveDate)> = HashSet::new();
    let compact_every = ctx.cfg.compact_interval;
    let mut compact_at = if compact_every.is_zero() {
        far
    } else {
        tokio::time::Instant::now() + compact_every
    };
    let stint = loop {
        let flush_at = batch
            .started
            .map(|s| tokio::time::Instant::from_std(s + ctx.cfg.batch_max_interval))
            .unwrap_or(far);
        tokio::select! {
            biased;
            _ = shutdown.as_mut() => {
                // Stop receiving; what was already received is flushed and deleted.
                let _ = stop_tx.send(true);
                while let Some(msgs) = rx.recv().await {
                    add(ctx, dedup, &mut geo, &mut batch, msgs).await;
                }
                flush(ctx, lease, dedup, &mut batch, &mut touched).await;
                break Stint::Shutdown;
            }
            _ = tokio::time::sleep_until(renew_at) => {
                match lease.renew().await {
                    Ok(true) => renew_at = tokio::time::Instant::now() + renew_every,
                    Ok(false) => {
                        let _ = stop_tx.send(true);
                        break Stint::LostLease;
                    }
                    Err(e) => {
                        // Keep trying until the lease would lapse; then stop consuming.
                        tracing::warn!(error = %e.chain(": "), "lease renewal failed");
                        if !lease.valid_for(renew_every) {
                            let _ = stop_tx.send(true);
                            break Stint::LostLease;
                        }
                        renew_at = tokio::time::Instant::now() + Duration::from_secs(1);
                    }
                }
            }
            msgs = rx.recv() => {
                let Some(msgs) = msgs else { break Stint::LostLease };
                add(ctx, dedup, &mut geo, &mut batch, msgs).await;
                if batch.rows >= ctx.cfg.batch_max_items {
                    flush(ctx, lease, dedup, &mut batch, &mut touched).await;
                }
            }
            _ = tokio::time::sleep_until(compact_at) => {
                compact_closed(ctx, &mut touched).await;
                compact_at = tokio::time::Instant::now() + compact_every;
            }
            _ = tokio::time::sleep_until(flush_at) => {
                flush(ctx, lease, dedup, &mut batch, &mut touched).await;
            }
        }
        // A flush renews the lease first; when that found it taken over, stop leading (the
        // batch was not written and its messages come back to the new leader).
        if !lease.valid_for(Duration::ZERO) {
            let _ = stop_tx.send(true);
            break Stint::LostLease;
        }
    };
    // Receivers hold no messages of ours once stopped; abort any still long-polling (what
    // they would receive becomes visible again after the visibility timeout).
    receivers.abort_all();
    while receivers.join_next().await.is_some() {}
    Ok(stint)
}

/// Compacts the partitions this leader wrote that are closed: dated before yesterday (UTC), so
/// late events of the last day still land in small files first. Runs between flushes, so it
/// never races the consumer's own writes.
async fn compact_closed(ctx: &Ctx, touched: &mut HashSet<(String, NaiveDate)>) {
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    let closed: Vec<_> = touched
        .iter()
        .filter(|(_, d)| *d < yesterday)
        .cloned()
        .collect();
    for (tenant, date) in closed {
        match compact::compact_partition(&ctx.lake, &tenant, date, 2).await {
            Ok(s) => {
                if !s.skipped {
                    ctx.metrics.partitions_compacted.fetch_add(1, Relaxed);
                }
                touched.remove(&(tenant, date));
            }
            Err(e) => {
                tracing::warn!(%tenant, %date, error = %e.chain(": "), "compaction failed; will retry");
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn receive_loop(
    worker: usize,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    wait: Duration,
    visibility: Duration,
    tx: mpsc::Sender<Vec<Received>>,
    mut stop: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let call = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(wait.as_secs() as i32)
            .visibility_timeout(visibility.as_secs().max(1) as i32)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send();
        let out = tokio::select! {
            _ = stop.changed() => return,
            r = call => r,
        };
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                metrics.receive_errors.fetch_add(1, Relaxed);
                tracing::warn!(worker, error = %DisplayErrorContext(&e), "ReceiveMessage failed; backing off");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let msgs: Vec<Received> = out
            .messages()
            .iter()
            .filter_map(|m| {
                let attrs = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| {
                                v.string_value().map(|s| (k.clone(), s.to_string()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let sys = m.attributes();
                let get = |k: MessageSystemAttributeName| sys.and_then(|s| s.get(&k)).cloned();
                Some(Received {
                    id: m.message_id()?.to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    attrs,
                    sent_ms: get(MessageSystemAttributeName::SentTimestamp)
                        .and_then(|s| s.parse().ok()),
                    receive_count: get(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect();
        if msgs.is_empty() {
            continue;
        }
        metrics
            .received_messages
            .fetch_add(msgs.len() as u64, Relaxed);
        if tx.send(msgs).await.is_err() {
            return;
        }
    }
}

/// Decodes received messages into the batch; bad ones are logged and left for the DLQ.
async fn add(
    ctx: &Ctx,
    dedup: &Dedup,
    geo: &mut Option<GeoCache<'_>>,
    batch: &mut Batch,
    msgs: Vec<Received>,
) {
    let payloads = &ctx.payloads;
    let tenant = ctx.cfg.tenant.as_str();
    let decoded: Vec<_> = futures::stream::iter(msgs.iter())
        .map(|m| async move { message::decode(m, tenant, payloads).await })
        .buffered(10)
        .collect()
        .await;
    for (msg, res) in msgs.into_iter().zip(decoded) {
        let d = match res {
            Ok(d) => d,
            Err(reason) => {
                ctx.metrics.rejected_messages.fetch_add(1, Relaxed);
                tracing::warn!(
                    message_id = %msg.id,
                    receive_count = msg.receive_count,
                    %reason,
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
            if dedup.seen.contains_key(&h) || !batch.pending_set.insert(h) {
                ctx.metrics.duplicates_dropped.fetch_add(1, Relaxed);
                continue;
            }
            if let Some(g) = geo.as_mut() {
                g.enrich(&mut row);
            }
            let key = (d.tenant.clone(), row.event_date());
            batch.pending.entry(key.clone()).or_default().push(h);
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
        batch.acks.push((msg.id, msg.receipt));
    }
}

/// Writes the batch and deletes its messages. Any failure before the files are durable deletes
/// nothing: the messages come back after their visibility timeout and are retried.
async fn flush(
    ctx: &Ctx,
    lease: &mut Lease,
    dedup: &mut Dedup,
    batch: &mut Batch,
    touched: &mut HashSet<(String, NaiveDate)>,
) {
    let b = std::mem::replace(batch, Batch::new());
    if b.acks.is_empty() {
        return;
    }
    let t0 = Instant::now();
    let messages = b.acks.len();
    let rows = b.rows;
    match write_and_delete(ctx, lease, dedup, b, touched).await {
        Ok((files, deleted)) => {
            let us = t0.elapsed().as_micros() as u64;
            ctx.metrics.flushes.fetch_add(1, Relaxed);
            ctx.metrics.batch_latency_us_sum.fetch_add(us, Relaxed);
            tracing::info!(
                messages,
                events = rows,
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
    let journal = ctx
        .lake
        .path(&format!("{JOURNAL_DIR}/{}.json", uuid::Uuid::now_v7()));
    if !plan.is_empty() {
        let entry = JournalEntry {
            files: plan
                .iter()
                .map(|((t, _), p, _)| JournalFile {
                    path: p.to_string(),
                    tenant: t.clone(),
                })
                .collect(),
        };
        let body =
            serde_json::to_vec(&entry).map_err(|e| Error::json("a flush journal entry", e))?;
        ctx.lake
            .store()
            .put(&journal, PutPayload::from(body))
            .await
            .map_err(|e| Error::store(journal.to_string(), e))?;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for ((tenant, date), path, mut builder) in plan.drain(..) {
        let lake = ctx.lake.clone();
        let wopts = ctx.writer_opts.clone();
        tasks.spawn(async move {
            let label = format!("{tenant}/{date}");
            let encoded = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, usize)> {
                let batch = builder.finish();
                Ok((writer::encode(&batch, &wopts, &label)?, batch.num_rows()))
            })
            .await
            .map_err(|e| Error::Other(format!("encoder failed: {e}")))
            .and_then(|r| r);
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
    if deleted == b.acks.len() && files > 0 {
        let _ = ctx.lake.store().delete(&journal).await;
    }
    if let Some(s) = b.oldest_sent_ms {
        ctx.metrics
            .oldest_message_age_ms
            .store(chrono::Utc::now().timestamp_millis() - s, Relaxed);
    }
    Ok((files, deleted))
}

/// Deletes messages in groups of 10, five groups at a time; returns how many were deleted.
async fn delete_messages(ctx: &Ctx, acks: &[(String, String)]) -> usize {
    let groups: Vec<_> = acks.chunks(10).collect();
    let results: Vec<usize> = futures::stream::iter(groups)
        .map(|group| async move {
            let entries: Vec<_> = group
                .iter()
                .enumerate()
                .filter_map(|(i, (_, receipt))| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
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
                    out.successful().len()
                }
                Err(e) => {
                    ctx.metrics
                        .delete_failures
                        .fetch_add(group.len() as u64, Relaxed);
                    tracing::warn!(error = %sqs_err("DeleteMessageBatch", e), "delete failed; the messages will be redelivered and dropped as duplicates");
                    0
                }
            }
        })
        .buffer_unordered(5)
        .collect()
        .await;
    let n = results.iter().sum();
    ctx.metrics.deleted_messages.fetch_add(n as u64, Relaxed);
    n
}

/// Keeps a slow batch's messages hidden while it is written.
async fn extend_visibility(ctx: &Ctx, acks: &[(String, String)], visibility: Duration) {
    for group in acks.chunks(10) {
        let entries: Vec<_> = group
            .iter()
            .enumerate()
            .filter_map(|(i, (_, receipt))| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
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
