//! The consumer's Prometheus metrics: counters and gauges in atomics, served as text exposition
//! format on `GET /metrics` by a minimal HTTP/1.1 responder (one request per connection).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::policy::RefusalKind;
use crate::error::{Error, Result};

/// Every metric the consumer exports.
#[derive(Default, Debug)]
pub struct Metrics {
    pub received_messages: AtomicU64,
    pub rejected_messages: AtomicU64,
    pub deleted_messages: AtomicU64,
    pub delete_failures: AtomicU64,
    pub events_written: AtomicU64,
    pub duplicates_dropped: AtomicU64,
    pub files_written: AtomicU64,
    pub flushes: AtomicU64,
    pub flush_failures: AtomicU64,
    pub receive_errors: AtomicU64,
    pub partitions_compacted: AtomicU64,
    /// Sum of flush durations, in microseconds (the `_sum` of a summary).
    pub batch_latency_us_sum: AtomicU64,
    /// Age of the oldest message of the last flushed batch (from SentTimestamp), ms.
    pub oldest_message_age_ms: AtomicI64,
    /// 1 while this process holds the lease.
    pub leader: AtomicI64,
    /// Lease term held (0 when follower).
    pub term: AtomicI64,
    /// Messages left for the DLQ, by `RefusalKind` (indexed as `RefusalKind::ALL`).
    pub refused: [AtomicU64; RefusalKind::ALL.len()],
    /// `s3_large_files` payloads deleted after their message was ingested.
    pub large_files_deleted: AtomicU64,
}

impl Metrics {
    /// Counts a message left for the DLQ (in the total and by kind).
    pub fn refused(&self, kind: RefusalKind) {
        self.rejected_messages.fetch_add(1, Relaxed);
        if let Some(i) = RefusalKind::ALL.iter().position(|k| *k == kind) {
            self.refused[i].fetch_add(1, Relaxed);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            out.push_str(&format!(
                "# HELP auditlake_consume_{name} {help}\n# TYPE auditlake_consume_{name} {kind}\nauditlake_consume_{name} {value}\n"
            ));
        };
        let c = |a: &AtomicU64| a.load(Relaxed).to_string();
        metric(
            "received_messages_total",
            "counter",
            "SQS messages received.",
            c(&self.received_messages),
        );
        metric(
            "rejected_messages_total",
            "counter",
            "Messages that could not be decoded (left for the DLQ).",
            c(&self.rejected_messages),
        );
        metric(
            "deleted_messages_total",
            "counter",
            "Messages deleted after their events were durable.",
            c(&self.deleted_messages),
        );
        metric(
            "delete_failures_total",
            "counter",
            "Message deletions SQS refused (they will be redelivered).",
            c(&self.delete_failures),
        );
        metric(
            "events_written_total",
            "counter",
            "Events written to the lake.",
            c(&self.events_written),
        );
        metric(
            "duplicates_dropped_total",
            "counter",
            "Redelivered events dropped because their uid was already written.",
            c(&self.duplicates_dropped),
        );
        metric(
            "files_written_total",
            "counter",
            "Parquet files written.",
            c(&self.files_written),
        );
        metric(
            "flushes_total",
            "counter",
            "Batches flushed.",
            c(&self.flushes),
        );
        metric(
            "flush_failures_total",
            "counter",
            "Flushes that failed (nothing deleted; redelivery retries).",
            c(&self.flush_failures),
        );
        metric(
            "partitions_compacted_total",
            "counter",
            "Closed partitions compacted by this process.",
            c(&self.partitions_compacted),
        );
        metric(
            "receive_errors_total",
            "counter",
            "ReceiveMessage calls that failed.",
            c(&self.receive_errors),
        );
        metric(
            "batch_latency_seconds_sum",
            "counter",
            "Total time spent flushing batches.",
            format!("{}", self.batch_latency_us_sum.load(Relaxed) as f64 / 1e6),
        );
        metric(
            "batch_latency_seconds_count",
            "counter",
            "Batches whose flush time is summed.",
            c(&self.flushes),
        );
        metric(
            "oldest_message_age_seconds",
            "gauge",
            "Age of the oldest message in the last flushed batch.",
            format!("{}", self.oldest_message_age_ms.load(Relaxed) as f64 / 1e3),
        );
        metric(
            "large_files_deleted_total",
            "counter",
            "s3_large_files payloads deleted after their message was ingested.",
            c(&self.large_files_deleted),
        );
        metric(
            "leader",
            "gauge",
            "1 while this process holds the consumer lease.",
            self.leader.load(Relaxed).to_string(),
        );
        metric(
            "lease_term",
            "gauge",
            "Term of the lease held (0 when not leader).",
            self.term.load(Relaxed).to_string(),
        );
        out.push_str(
            "# HELP auditlake_consume_refused_messages_total Messages left for the DLQ, by reason.\n# TYPE auditlake_consume_refused_messages_total counter\n",
        );
        for (k, n) in RefusalKind::ALL.iter().zip(&self.refused) {
            out.push_str(&format!(
                "auditlake_consume_refused_messages_total{{reason=\"{}\"}} {}\n",
                k.label(),
                n.load(Relaxed)
            ));
        }
        out
    }
}

/// Serves `/metrics` on `addr` until the task is dropped. Returns the bound address (port 0
/// picks a free one).
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on metrics_addr {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Other(e.to_string()))?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut n = 0;
                // Read the request head (bounded); the body, if any, is ignored.
                while n < buf.len() {
                    match sock.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k,
                    }
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]);
                let (status, body) = if head.starts_with("GET /metrics") {
                    ("200 OK", metrics.render())
                } else {
                    ("404 Not Found", "not found; try /metrics\n".to_string())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(bound)
}
