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
//!
//! Files: `receive` (the long-poll loops), `message` and `policy` (what a message may ask for),
//! `flush` (batch → files → delete), `journal` (flush journal and dedup window), `lease`,
//! `metrics`, `publish`.

pub mod flush;
pub mod journal;
pub mod lease;
pub mod message;
pub mod metrics;
pub mod policy;
pub mod publish;
pub mod receive;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use chrono::NaiveDate;
use tokio::sync::{mpsc, watch};

use crate::config::IdentityActivityCenter;
use crate::error::{Error, Result};
use crate::ingest::enrich::{GeoCache, GeoIp};
use crate::lake::writer::WriterOptions;
use crate::lake::{Lake, compact};
use flush::{Batch, add, decode_all, flush};
use journal::Dedup;
pub use journal::JOURNAL_DIR;
use lease::{Attempt, Lease};
use message::{Payloads, Received};
use metrics::Metrics;
use policy::Policy;
use receive::Receiver;

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

/// Everything a leadership stint needs.
pub struct Ctx {
    cfg: IdentityActivityCenter,
    policy: Policy,
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
    let policy = Policy::from_config(&cfg).map_err(Error::Config)?;
    let ctx = Ctx {
        policy,
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
    let mut dedup = Dedup::new(ctx.cfg.dedup_window, ctx.cfg.dedup_max_uids);
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
/// when the lease is lost. Compaction runs in a task of its own, so renewal is never starved.
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
    for worker in 0..ctx.cfg.receivers {
        let r = Receiver {
            worker,
            sqs: ctx.sqs.clone(),
            queue: ctx.queue.clone(),
            wait: ctx.cfg.receive_wait,
            visibility: ctx.cfg.visibility(),
            tx: tx.clone(),
            stop: stop_rx.clone(),
            metrics: ctx.metrics.clone(),
        };
        receivers.spawn(r.run());
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
    let mut compaction: Option<tokio::task::JoinHandle<Vec<(String, NaiveDate)>>> = None;
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
                    let decoded = decode_all(ctx, msgs).await;
                    add(ctx, dedup, &mut geo, &mut batch, decoded);
                }
                flush(ctx, lease, dedup, &mut batch, &mut touched).await;
                break Stint::Shutdown;
            }
            _ = tokio::time::sleep_until(renew_at) => {
                if !renew(lease, &mut renew_at, renew_every).await {
                    let _ = stop_tx.send(true);
                    break Stint::LostLease;
                }
            }
            done = async {
                match compaction.as_mut() {
                    Some(h) => h.await,
                    None => std::future::pending().await,
                }
            }, if compaction.is_some() => {
                compaction = None;
                match done {
                    Ok(parts) => for p in parts { touched.remove(&p); },
                    Err(e) => tracing::warn!(error = %e, "compaction task failed; will retry"),
                }
            }
            msgs = rx.recv() => {
                let Some(msgs) = msgs else { break Stint::LostLease };
                // Decoding fetches payloads and may take seconds: keep the lease meanwhile.
                let decoding = decode_all(ctx, msgs);
                tokio::pin!(decoding);
                let decoded = loop {
                    tokio::select! {
                        d = &mut decoding => break Some(d),
                        _ = tokio::time::sleep_until(renew_at) => {
                            if !renew(lease, &mut renew_at, renew_every).await {
                                break None;
                            }
                        }
                    }
                };
                let Some(decoded) = decoded else {
                    let _ = stop_tx.send(true);
                    break Stint::LostLease;
                };
                add(ctx, dedup, &mut geo, &mut batch, decoded);
                if batch.is_full(ctx) {
                    flush(ctx, lease, dedup, &mut batch, &mut touched).await;
                }
            }
            _ = tokio::time::sleep_until(compact_at) => {
                if compaction.is_none() {
                    compaction = compact_closed(ctx, &touched);
                }
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
    // A compaction under way finishes (it is safe to interrupt, but a finished one is cheaper
    // than a recovery).
    if let Some(c) = compaction
        && let Err(e) = c.await
    {
        tracing::warn!(error = %e, "compaction task failed");
    }
    Ok(stint)
}

/// Renews the lease when due; false once it is lost (taken over, or renewals failed until it
/// would lapse).
async fn renew(
    lease: &mut Lease,
    renew_at: &mut tokio::time::Instant,
    renew_every: Duration,
) -> bool {
    match lease.renew().await {
        Ok(true) => {
            *renew_at = tokio::time::Instant::now() + renew_every;
            true
        }
        Ok(false) => false,
        Err(e) => {
            // Keep trying until the lease would lapse; then stop consuming.
            tracing::warn!(error = %e.chain(": "), "lease renewal failed");
            if !lease.valid_for(renew_every) {
                return false;
            }
            *renew_at = tokio::time::Instant::now() + Duration::from_secs(1);
            true
        }
    }
}

/// Starts compacting the partitions this leader wrote that are closed (dated before yesterday,
/// UTC, so late events of the last day still land in small files first), in a task of its own;
/// it returns the partitions it compacted. None when nothing is closed.
fn compact_closed(
    ctx: &Ctx,
    touched: &HashSet<(String, NaiveDate)>,
) -> Option<tokio::task::JoinHandle<Vec<(String, NaiveDate)>>> {
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    let closed: Vec<_> = touched
        .iter()
        .filter(|(_, d)| *d < yesterday)
        .cloned()
        .collect();
    if closed.is_empty() {
        return None;
    }
    let lake = ctx.lake.clone();
    let metrics = ctx.metrics.clone();
    Some(tokio::spawn(async move {
        let mut done = Vec::new();
        for (tenant, date) in closed {
            match compact::compact_partition(&lake, &tenant, date, 2).await {
                Ok(s) => {
                    if !s.skipped {
                        metrics.partitions_compacted.fetch_add(1, Relaxed);
                    }
                    done.push((tenant, date));
                }
                Err(e) => {
                    tracing::warn!(%tenant, %date, error = %e.chain(": "), "compaction failed; will retry");
                }
            }
        }
        done
    }))
}
