//! Where client SQL runs and how its results leave: a dedicated runtime whose threads have a
//! known, large stack; every query under its deadline, streaming included, and cancelled when
//! the client goes away; small batches coalesced; one log line per query when it ends.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::time::Instant;
use tonic::Status;

use super::limits::{Permit, panic_message};
use super::status;
use crate::error::Error;
use crate::query::engine::Engine;

pub type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

/// Stack of each query thread: deep but bounded plans and expressions (the parser refuses
/// nesting past its recursion limit first) stay far from it.
pub const QUERY_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Batches buffered between a query and a slow client: the query waits beyond this, so a
/// client that does not read holds at most this much.
const CHANNEL_BATCHES: usize = 2;

/// Rows per streamed batch: a plan may emit a dozen rows at a time (a nested-loop join does),
/// and per-message costs then dominate; the encoder still splits batches above 2 MB.
const COALESCE_ROWS: usize = 8192;

/// The runtime client SQL is planned and executed on (DataFusion spawns its operators' tasks
/// onto it too), apart from the one serving gRPC.
pub struct QueryRuntime {
    rt: Option<tokio::runtime::Runtime>,
}

impl QueryRuntime {
    pub fn new(threads: usize) -> Result<Self, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("auditlake-query")
            .thread_stack_size(QUERY_STACK_BYTES)
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the query runtime: {e}")))?;
        Ok(QueryRuntime { rt: Some(rt) })
    }

    fn handle(&self) -> Result<&tokio::runtime::Handle, Status> {
        self.rt
            .as_ref()
            .map(|r| r.handle())
            .ok_or_else(|| Status::unavailable("the server is shutting down"))
    }

    /// Runs `work` on the query runtime until `deadline`. If the caller stops waiting (the
    /// client went away), the work is aborted; a panic in it fails this call only.
    pub async fn run<T: Send + 'static>(
        &self,
        deadline: Instant,
        what: &'static str,
        work: impl Future<Output = Result<T, Status>> + Send + 'static,
    ) -> Result<T, Status> {
        let task = AbortOnDrop(self.handle()?.spawn(work));
        match tokio::time::timeout_at(deadline, task).await {
            Err(_) => Err(deadline_exceeded(what)),
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(joined(e)),
        }
    }

    /// Streams `stream` to the client from a task on the query runtime: the deadline covers
    /// every batch; the query stops when the client stops reading (its receiver is dropped);
    /// `permit` is released and `log` written when it ends, whichever way.
    pub fn pump(
        &self,
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        engine: Arc<Engine>,
        deadline: Instant,
        log: QueryLog,
        permit: Permit,
    ) -> Result<DoGetStream, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch, Status>>(CHANNEL_BATCHES);
        let handle = self.handle()?.clone();
        handle.spawn(async move {
            let _permit = permit;
            let started = std::time::Instant::now();
            let rows = AtomicU64::new(0);
            let outcome = {
                let mut batches = std::pin::pin!(coalesced(stream, engine));
                loop {
                    let next = tokio::select! {
                        biased;
                        _ = tx.closed() => break "cancelled",
                        _ = tokio::time::sleep_until(deadline) => {
                            let _ = tx.try_send(Err(deadline_exceeded("query")));
                            break "deadline";
                        }
                        b = batches.next() => b,
                    };
                    match next {
                        None => break "ok",
                        Some(Ok(b)) => {
                            rows.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                            tokio::select! {
                                biased;
                                sent = tx.send(Ok(b)) => if sent.is_err() { break "cancelled" },
                                _ = tokio::time::sleep_until(deadline) => break "deadline",
                            }
                        }
                        Some(Err(e)) => {
                            // The client may have stopped reading; do not wait on it forever.
                            let _ =
                                tokio::time::timeout(Duration::from_secs(5), tx.send(Err(e))).await;
                            break "error";
                        }
                    }
                }
            };
            log.write(outcome, rows.load(Ordering::Relaxed), started.elapsed());
        });
        let received = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|r| (r.map_err(|s| FlightError::Tonic(Box::new(s))), rx))
        });
        Ok(Box::pin(
            FlightDataEncoderBuilder::new()
                .with_schema(schema)
                .build(received)
                .map_err(Status::from),
        ))
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's async context would panic.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Aborts the task when the future waiting on it is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn joined(e: tokio::task::JoinError) -> Status {
    if e.is_panic() {
        let msg = panic_message(e.into_panic().as_ref());
        tracing::error!(panic = %msg, "a query task panicked");
    } else {
        tracing::error!(error = %e, "a query task was cancelled");
    }
    Status::internal("internal error (the server log has details)")
}

pub fn deadline_exceeded(what: &str) -> Status {
    Status::deadline_exceeded(format!(
        "{what} ran past the server's deadline (serve --timeout-secs)"
    ))
}

/// What each query's log line says once its stream ends (or is dropped by the client).
pub struct QueryLog {
    pub user: String,
    pub tenant: String,
    pub sql: String,
    pub plan: Arc<dyn ExecutionPlan>,
}

impl QueryLog {
    fn write(self, outcome: &str, rows: u64, took: Duration) {
        let stats = crate::query::engine::stats(&self.plan);
        tracing::info!(
            user = %self.user,
            tenant = %self.tenant,
            sql = %truncate(&self.sql, 4096),
            outcome,
            rows,
            bytes_scanned = stats.bytes_scanned,
            duration_ms = took.as_millis() as u64,
            "flight query"
        );
    }
}

/// At most `max` bytes of `s`, cut at a character boundary (a 1 MB statement does not belong
/// in every log line).
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The result's batches, small ones coalesced to about `COALESCE_ROWS` rows; errors in the
/// user's terms.
fn coalesced(
    s: SendableRecordBatchStream,
    engine: Arc<Engine>,
) -> impl Stream<Item = Result<RecordBatch, Status>> + Send {
    let co = datafusion::arrow::compute::BatchCoalescer::new(s.schema(), COALESCE_ROWS);
    let engine_err = move |e: datafusion::error::DataFusionError| status(&engine.friendly(e));
    futures::stream::unfold((s, co, false), move |(mut s, mut co, mut done)| {
        let engine_err = engine_err.clone();
        async move {
            loop {
                if let Some(b) = co.next_completed_batch() {
                    return Some((Ok(b), (s, co, done)));
                }
                if done {
                    return None;
                }
                match s.next().await {
                    Some(Ok(b)) => {
                        if let Err(e) = co.push_batch(b) {
                            return Some((Err(status(&Error::Arrow(e))), (s, co, true)));
                        }
                    }
                    Some(Err(e)) => return Some((Err(engine_err(e)), (s, co, true))),
                    None => {
                        done = true;
                        if let Err(e) = co.finish_buffered_batch() {
                            return Some((Err(status(&Error::Arrow(e))), (s, co, true)));
                        }
                    }
                }
            }
        }
    })
}

/// A FlightInfo with one endpoint whose ticket is `ticket`.
pub fn flight_info(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo, Status> {
    FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("encode schema: {e}")))
        .map(|i| {
            i.with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
                .with_descriptor(descriptor)
        })
}

/// A one-batch result (the metadata endpoints).
pub fn one_batch<E: Into<FlightError>>(
    schema: SchemaRef,
    batch: Result<RecordBatch, E>,
) -> DoGetStream {
    let b = batch.map_err(Into::into);
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::once(async { b }))
            .map_err(Status::from),
    )
}
