//! The receive side: one long-polling `ReceiveMessage` loop per `receivers`, as a struct with
//! `run` (until stopped) and `run_once` (one poll), like Vector's `SqsSource`.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use tokio::sync::{mpsc, watch};

use super::message::Received;
use super::metrics::Metrics;

/// One receive loop's settings and channels.
pub struct Receiver {
    pub worker: usize,
    pub sqs: aws_sdk_sqs::Client,
    pub queue: String,
    /// Long-poll wait per call.
    pub wait: Duration,
    /// Visibility timeout asked for at receive.
    pub visibility: Duration,
    /// Where received messages go (the leader's batcher).
    pub tx: mpsc::Sender<Vec<Received>>,
    /// Becomes true when the leader stops receiving.
    pub stop: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
}

/// What one poll did.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    /// Messages were handed over (how many).
    Received(usize),
    /// The long poll ended empty.
    Empty,
    /// ReceiveMessage failed (already logged and counted).
    Failed,
    /// Stop was asked for, or the batcher is gone.
    Stopped,
}

impl Receiver {
    /// Polls until stopped; backs off a second after a failed call.
    pub async fn run(mut self) {
        loop {
            match self.run_once().await {
                Poll::Stopped => return,
                Poll::Failed => {
                    tokio::select! {
                        _ = self.stop.changed() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Poll::Received(_) | Poll::Empty => {}
            }
        }
    }

    /// One long poll: receive up to 10 messages and hand them to the batcher.
    pub async fn run_once(&mut self) -> Poll {
        if *self.stop.borrow() {
            return Poll::Stopped;
        }
        let call = self
            .sqs
            .receive_message()
            .queue_url(&self.queue)
            .max_number_of_messages(crate::config::SQS_MESSAGES_PER_RECEIVE as i32)
            .wait_time_seconds(self.wait.as_secs() as i32)
            .visibility_timeout(self.visibility.as_secs().max(1) as i32)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send();
        let out = tokio::select! {
            _ = self.stop.changed() => return Poll::Stopped,
            r = call => r,
        };
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                self.metrics.receive_errors.fetch_add(1, Relaxed);
                tracing::warn!(worker = self.worker, error = %DisplayErrorContext(&e), "ReceiveMessage failed; backing off");
                return Poll::Failed;
            }
        };
        let msgs: Vec<Received> = out.messages().iter().filter_map(received).collect();
        if msgs.is_empty() {
            return Poll::Empty;
        }
        let n = msgs.len();
        self.metrics.received_messages.fetch_add(n as u64, Relaxed);
        if self.tx.send(msgs).await.is_err() {
            return Poll::Stopped;
        }
        Poll::Received(n)
    }
}

/// An SDK message reduced to what decoding and acking need (None without id or receipt).
fn received(m: &aws_sdk_sqs::types::Message) -> Option<Received> {
    let attrs = m
        .message_attributes()
        .map(|a| {
            a.iter()
                .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_string())))
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
        sent_ms: get(MessageSystemAttributeName::SentTimestamp).and_then(|s| s.parse().ok()),
        receive_count: get(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1),
    })
}
