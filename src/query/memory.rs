//! Memory shared by engines: one pool for a whole process (the Flight server's, across every
//! tenant), and the per-query view of it that caps one query at its share.

use std::sync::Arc;

use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool,
};

/// One memory pool shared by many engines, and the share of it one query may hold.
#[derive(Debug, Clone)]
pub struct SharedMemory {
    pub pool: Arc<dyn MemoryPool>,
    pub per_query_bytes: usize,
}

impl SharedMemory {
    /// A fair pool of `total_bytes` (spilling operators share it evenly) that names its
    /// largest consumers when it refuses, with `per_query_bytes` for each query.
    pub fn new(total_bytes: usize, per_query_bytes: usize) -> Self {
        Self {
            pool: tracked_pool(total_bytes),
            per_query_bytes: per_query_bytes.min(total_bytes),
        }
    }
}

pub(crate) fn tracked_pool(bytes: usize) -> Arc<dyn MemoryPool> {
    const TOP_CONSUMERS: std::num::NonZeroUsize = std::num::NonZeroUsize::new(5).unwrap();
    Arc::new(TrackConsumersPool::new(
        FairSpillPool::new(bytes),
        TOP_CONSUMERS,
    ))
}

/// One query's view of a shared pool: every reservation goes to the shared pool, and the
/// query's total is capped at its share, so one query cannot starve the others.
#[derive(Debug)]
pub(crate) struct QueryPool {
    shared: Arc<dyn MemoryPool>,
    cap: usize,
    used: std::sync::atomic::AtomicUsize,
}

impl QueryPool {
    pub(crate) fn new(shared: &SharedMemory) -> Self {
        QueryPool {
            shared: shared.pool.clone(),
            cap: shared.per_query_bytes,
            used: Default::default(),
        }
    }
}

impl std::fmt::Display for QueryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "query share of {} bytes of {}", self.cap, self.shared)
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "query_share"
    }
    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer)
    }
    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer)
    }
    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        use std::sync::atomic::Ordering;
        self.shared.grow(reservation, additional);
        self.used.fetch_add(additional, Ordering::Relaxed);
    }
    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        use std::sync::atomic::Ordering;
        self.shared.shrink(reservation, shrink);
        // The shared pool checks underflow; ours only counts.
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(shrink))
            });
    }
    fn try_grow(
        &self,
        reservation: &MemoryReservation,
        additional: usize,
    ) -> datafusion::error::Result<()> {
        use std::sync::atomic::Ordering;
        let cap = self.cap;
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                u.checked_add(additional).filter(|n| *n <= cap)
            })
            .map_err(|u| {
                datafusion::error::DataFusionError::ResourcesExhausted(format!(
                    "{} wants {additional} more bytes; the query holds {u} of its {cap}-byte share",
                    reservation.consumer().name()
                ))
            })?;
        if let Err(e) = self.shared.try_grow(reservation, additional) {
            let _ = self
                .used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                    Some(u.saturating_sub(additional))
                });
            return Err(e);
        }
        Ok(())
    }
    fn reserved(&self) -> usize {
        self.used.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_capped_at_its_share_and_frees_it() {
        let shared = SharedMemory::new(1000, 400);
        let q1: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(&shared));
        let q2: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(&shared));
        let r1 = MemoryConsumer::new("a").register(&q1);
        assert!(r1.try_grow(400).is_ok());
        assert!(r1.try_grow(1).is_err(), "over the query's share");
        let r2 = MemoryConsumer::new("b").register(&q2);
        assert!(r2.try_grow(400).is_ok(), "another query has its own share");
        assert_eq!(shared.pool.reserved(), 800);
        let q3: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(&shared));
        let r3 = MemoryConsumer::new("c").register(&q3);
        assert!(
            r3.try_grow(300).is_err(),
            "the shared pool is the hard bound"
        );
        drop(r1);
        assert_eq!(shared.pool.reserved(), 400);
        assert_eq!(q1.reserved(), 0);
    }
}
