//! What one client may cost the server: the caps (statement and parameter bytes, concurrent
//! queries overall and per token, memory per query), the admission of a query, and the guard
//! that turns a panic in a handler into `Internal` for that call alone.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use arrow_flight::FlightData;
use futures::{FutureExt, Stream, StreamExt};
use tonic::Status;

/// Largest SQL statement accepted, in bytes.
pub const DEFAULT_MAX_STATEMENT_BYTES: usize = 1024 * 1024;
/// Largest DoPut (bound parameters) accepted, in bytes of Arrow IPC.
pub const DEFAULT_MAX_PUT_BYTES: usize = 1024 * 1024;
/// Queries running at once, all tokens together.
pub const DEFAULT_MAX_QUERIES: usize = 64;
/// Queries running at once for one token.
pub const DEFAULT_MAX_QUERIES_PER_TOKEN: usize = 16;

/// The server's caps; `memory_per_query_bytes` is the share of the one process-wide pool (of
/// `--memory-limit-mb`) a single query may hold.
#[derive(Debug, Clone, Copy)]
pub struct FlightLimits {
    pub max_statement_bytes: usize,
    pub max_put_bytes: usize,
    pub max_queries: usize,
    pub max_queries_per_token: usize,
    pub memory_per_query_bytes: usize,
}

impl FlightLimits {
    /// The defaults over a pool of `memory_bytes`: a query may hold a quarter of it.
    pub fn with_memory(memory_bytes: usize) -> Self {
        FlightLimits {
            max_statement_bytes: DEFAULT_MAX_STATEMENT_BYTES,
            max_put_bytes: DEFAULT_MAX_PUT_BYTES,
            max_queries: DEFAULT_MAX_QUERIES,
            max_queries_per_token: DEFAULT_MAX_QUERIES_PER_TOKEN,
            memory_per_query_bytes: memory_bytes / 4,
        }
    }
}

/// Counts running queries, overall and per token; a query over either cap is refused at
/// once (no queue a flood could grow).
#[derive(Debug)]
pub struct Admission {
    max: usize,
    max_per_token: usize,
    running: Mutex<Running>,
}

#[derive(Debug, Default)]
struct Running {
    total: usize,
    by_token: HashMap<String, usize>,
}

/// A running query's place; freed when dropped (the query's stream ends or is dropped).
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    token: String,
}

impl Admission {
    pub fn new(max: usize, max_per_token: usize) -> Arc<Self> {
        Arc::new(Admission {
            max: max.max(1),
            max_per_token: max_per_token.max(1),
            running: Mutex::default(),
        })
    }

    /// A place for one query of `token` (its hash), or `Unavailable` (the server is full) /
    /// `ResourceExhausted` (this token runs its maximum).
    pub fn admit(self: &Arc<Self>, token: &str, name: &str) -> Result<Permit, Status> {
        let mut r = self
            .running
            .lock()
            .map_err(|_| Status::internal("admission state poisoned"))?;
        let mine = r.by_token.get(token).copied().unwrap_or(0);
        if mine >= self.max_per_token {
            tracing::warn!(
                token = name,
                running = mine,
                "flight query refused: token at its cap"
            );
            return Err(Status::resource_exhausted(format!(
                "token '{name}' already runs {mine} queries (the limit per token, --max-queries-per-token)"
            )));
        }
        if r.total >= self.max {
            tracing::warn!(running = r.total, "flight query refused: server at its cap");
            return Err(Status::unavailable(format!(
                "the server runs its maximum of {} queries; retry shortly",
                self.max
            )));
        }
        r.total += 1;
        *r.by_token.entry(token.to_string()).or_default() += 1;
        Ok(Permit {
            admission: self.clone(),
            token: token.to_string(),
        })
    }

    /// Queries running now.
    #[cfg(test)]
    pub fn running(&self) -> usize {
        self.running.lock().map(|r| r.total).unwrap_or(0)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // A poisoned lock only happens after a panic elsewhere; the counts are still right.
        let mut r = match self.admission.running.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        r.total = r.total.saturating_sub(1);
        if let Some(n) = r.by_token.get_mut(&self.token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                r.by_token.remove(&self.token);
            }
        }
    }
}

/// Runs a handler; a panic in it is logged and becomes `Internal` for this call, never the
/// process's end (a stack overflow is not a panic: the query runtime's stacks and the parser's
/// recursion limit keep that from happening).
pub async fn guard<T>(
    call: &'static str,
    fut: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(p) => {
            tracing::error!(call, panic = %panic_message(p.as_ref()), "flight handler panicked");
            Err(Status::internal(
                "internal error (the server log has details)",
            ))
        }
    }
}

pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// The DoPut stream, failing with `ResourceExhausted` once it has carried more than `max`
/// bytes: nothing past the cap is buffered.
pub fn capped<S>(s: S, max: usize) -> impl Stream<Item = Result<FlightData, Status>> + Send
where
    S: Stream<Item = Result<FlightData, Status>> + Send,
{
    let mut seen = 0usize;
    let mut over = false;
    s.map(move |m| {
        let m = m?;
        seen = seen
            .saturating_add(m.data_body.len())
            .saturating_add(m.data_header.len())
            .saturating_add(m.app_metadata.len());
        if seen > max {
            over = true;
        }
        if over {
            return Err(Status::resource_exhausted(format!(
                "parameters over the {max}-byte limit (--max-put-bytes)"
            )));
        }
        Ok(m)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_caps_per_token_and_overall_and_frees_on_drop() {
        let a = Admission::new(3, 2);
        let p1 = a.admit("t1", "one").unwrap();
        let p2 = a.admit("t1", "one").unwrap();
        assert_eq!(
            a.admit("t1", "one").unwrap_err().code(),
            tonic::Code::ResourceExhausted
        );
        let p3 = a.admit("t2", "two").unwrap();
        assert_eq!(
            a.admit("t3", "three").unwrap_err().code(),
            tonic::Code::Unavailable
        );
        drop(p1);
        assert_eq!(a.running(), 2);
        let _p4 = a.admit("t1", "one").unwrap();
        drop((p2, p3));
        assert_eq!(a.running(), 1);
    }

    #[test]
    fn admission_holds_under_a_real_race() {
        let a = Admission::new(1000, 5);
        let admitted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(32));
        let permits = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..32)
            .map(|_| {
                let (a, n, b, ps) = (
                    a.clone(),
                    admitted.clone(),
                    barrier.clone(),
                    permits.clone(),
                );
                std::thread::spawn(move || {
                    b.wait();
                    if let Ok(p) = a.admit("same", "same") {
                        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        ps.lock().unwrap().push(p);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(admitted.load(std::sync::atomic::Ordering::SeqCst), 5);
        permits.lock().unwrap().clear();
        assert_eq!(a.running(), 0);
    }

    #[tokio::test]
    async fn a_panicking_handler_is_internal() {
        let r: Result<(), Status> = guard("test", async { panic!("boom") }).await;
        assert_eq!(r.unwrap_err().code(), tonic::Code::Internal);
    }

    #[tokio::test]
    async fn put_bytes_are_capped() {
        let msg = |n: usize| {
            Ok(FlightData {
                data_body: vec![0u8; n].into(),
                ..Default::default()
            })
        };
        let got: Vec<_> = capped(futures::stream::iter([msg(6), msg(6), msg(1)]), 10)
            .collect()
            .await;
        assert!(got[0].is_ok());
        assert_eq!(
            got[1].as_ref().unwrap_err().code(),
            tonic::Code::ResourceExhausted
        );
        assert!(got[2].is_err());
    }
}
