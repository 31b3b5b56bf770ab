//! The collector of an ingest run: decoded batches buffered by (tenant, date) up to the memory
//! bound, then written — partitions that look finished straight to the lake, the others
//! spilled as sorted runs and merged into one file each at the end — with the rejects written
//! before any data that follows them, and the roll-back of a failed run.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use object_store::{ObjectStoreExt, PutPayload};

use super::files::{ACTIVE_CHUNKS, Decoded, IngestOptions, IngestSummary};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::spill::{self, Spill};
use crate::lake::writer::{self, WriterOptions, WrittenFile};

/// Collects decoded batches and flushes them to the lake.
pub struct Collector {
    lake: Lake,
    opts: IngestOptions,
    writer_opts: Arc<WriterOptions>,
    buffered: HashMap<Key, Vec<RecordBatch>>,
    buffered_rows: usize,
    buffered_bytes: usize,
    /// Rejects serialized as NDJSON, not yet written.
    rejects: Vec<u8>,
    /// `rejects/{time}-{uuid}`, fixed at the first part.
    rejects_stem: Option<String>,
    /// Sorted runs on local disk, once a flush happened.
    spill: Option<Spill>,
    /// Decoded chunks received, and the last one that had rows of each buffered partition.
    chunks: u64,
    last_seen: HashMap<Key, u64>,
    pub summary: IngestSummary,
}

type Key = (Arc<str>, NaiveDate);

impl Collector {
    pub fn new(lake: Lake, opts: IngestOptions) -> Self {
        let writer_opts = Arc::new(WriterOptions {
            geoip: opts.geoip.as_ref().map(|g| g.provenance()),
        });
        Self {
            lake,
            opts,
            writer_opts,
            buffered: HashMap::new(),
            buffered_rows: 0,
            buffered_bytes: 0,
            rejects: Vec::new(),
            rejects_stem: None,
            spill: None,
            chunks: 0,
            last_seen: HashMap::new(),
            summary: IngestSummary::default(),
        }
    }

    /// Bytes of rejects not yet written.
    pub fn pending_rejects(&self) -> usize {
        self.rejects.len()
    }

    pub(crate) fn add(&mut self, d: Decoded) {
        for (src, n) in d.by_source {
            *self.summary.by_source.entry(src.to_string()).or_default() += n;
            self.summary.events += n;
        }
        self.summary.rejected += d.rejects.len() as u64;
        for r in d.rejects {
            // A Reject is plain strings and numbers: serializing it cannot fail.
            if serde_json::to_writer(&mut self.rejects, &r).is_ok() {
                self.rejects.push(b'\n');
            }
        }
        self.chunks += 1;
        for (key, batch) in d.batches {
            self.last_seen.insert(key.clone(), self.chunks);
            self.buffered_rows += batch.num_rows();
            self.buffered_bytes += batch.get_array_memory_size();
            *self
                .summary
                .by_partition
                .entry((key.0.to_string(), key.1))
                .or_default() += batch.num_rows() as u64;
            self.buffered.entry(key).or_default().push(batch);
        }
    }

    pub(crate) fn should_flush(&self) -> bool {
        self.buffered_rows >= self.opts.flush_rows || self.buffered_bytes >= self.opts.flush_bytes
    }

    /// Mid-run, when the buffer is full: the pending rejects first, then the buffered
    /// partitions out of memory. A partition that looks finished (older than every day that had
    /// rows in the last [`ACTIVE_CHUNKS`] chunks, none spilled before: time-ordered input's
    /// older days) is written to the lake directly; the others (every day of input in arbitrary order) are spilled as
    /// sorted runs, which the lake sees only once merged. A "finished" partition that gets
    /// rows later just gets a second file. When the spill directory reached its bound, its runs
    /// are merged into the lake now.
    pub async fn spill(&mut self) -> Result<()> {
        self.write_rejects().await?;
        tracing::debug!(
            rows = self.buffered_rows,
            arrow_bytes = self.buffered_bytes,
            bytes_per_row = self.buffered_bytes / self.buffered_rows.max(1),
            partitions = self.buffered.len(),
            "buffer full"
        );
        let recent = self.chunks.saturating_sub(ACTIVE_CHUNKS);
        let active = |key: &Key| self.last_seen.get(key).is_some_and(|&c| c > recent);
        // The oldest day still receiving rows, per tenant: only days before it look finished
        // (time-ordered input), not a day that merely skipped a few chunks of input in
        // arbitrary order.
        let mut oldest_active: HashMap<Arc<str>, NaiveDate> = HashMap::new();
        for key in self.buffered.keys().filter(|k| active(k)) {
            let d = oldest_active.entry(key.0.clone()).or_insert(key.1);
            *d = (*d).min(key.1);
        }
        let (mut to_spill, mut direct) = (Vec::new(), Vec::new());
        for (key, batches) in self.buffered.drain() {
            let finished = oldest_active.get(&key.0).is_none_or(|&d| key.1 < d);
            let spilled = self.spill.as_ref().is_some_and(|sp| sp.has(&key.0, key.1));
            if !finished || spilled {
                to_spill.push((key, batches));
            } else {
                direct.push((key, batches));
            }
        }
        self.buffered_rows = 0;
        self.buffered_bytes = 0;
        self.last_seen.clear();
        self.write_direct(direct).await?;
        self.spill_parts(to_spill).await?;
        if self.spill.as_ref().is_some_and(Spill::full) {
            self.merge_spilled(HashMap::new()).await?;
        }
        Ok(())
    }

    /// The end of the run: the pending rejects, then partitions that have runs on disk are
    /// merged with their last rows straight from memory (one file each); the others are
    /// written directly.
    pub async fn finish(&mut self) -> Result<()> {
        self.write_rejects().await?;
        let mut tails = HashMap::new();
        if let Some(sp) = &self.spill {
            let keys: Vec<Key> = self
                .buffered
                .keys()
                .filter(|(t, d)| sp.has(t, *d))
                .cloned()
                .collect();
            for k in keys {
                if let Some(((tenant, date), batches)) = self.buffered.remove_entry(&k) {
                    tails.insert((tenant.to_string(), date), batches);
                }
            }
        }
        self.flush().await?;
        self.merge_spilled(tails).await
    }

    async fn spill_parts(&mut self, parts: Vec<(Key, Vec<RecordBatch>)>) -> Result<()> {
        if parts.is_empty() {
            return Ok(());
        }
        let sp = match &mut self.spill {
            Some(sp) => sp,
            None => self.spill.insert(Spill::new(
                self.opts.spill_dir.as_deref(),
                self.opts.max_spill_bytes,
            )?),
        };
        let jobs: Vec<_> = parts
            .into_iter()
            .map(|((tenant, date), batches)| {
                let run = sp.next_run(&tenant, date, batches);
                writer::blocking(move || spill::write_run(run))
            })
            .collect();
        let (written, err) = writer::in_parallel(self.opts.threads, jobs).await;
        for w in &written {
            sp.add_run(w);
        }
        tracing::debug!(
            spilled_bytes = written.iter().map(|w| w.bytes).sum::<u64>(),
            "spilled sorted runs"
        );
        err.map_or(Ok(()), Err)
    }

    /// Merges the spill into the lake, with `tails` (rows in memory of spilled partitions).
    async fn merge_spilled(
        &mut self,
        tails: HashMap<(String, NaiveDate), Vec<RecordBatch>>,
    ) -> Result<()> {
        let Some(sp) = self.spill.as_mut() else {
            return Ok(());
        };
        let (written, err) = sp
            .merge_into(&self.lake, &self.writer_opts, self.opts.threads, tails)
            .await;
        self.record(written);
        err.map_or(Ok(()), Err)
    }

    /// Files written are recorded even when a sibling failed, so a roll-back finds them.
    fn record(&mut self, mut written: Vec<WrittenFile>) {
        written.sort_by(|a, b| (&a.tenant, a.date).cmp(&(&b.tenant, b.date)));
        self.summary.files.extend(written);
    }

    /// Writes the pending rejects first (so no data is in the lake whose rejects are not),
    /// then every buffered partition as one file each.
    pub async fn flush(&mut self) -> Result<()> {
        self.write_rejects().await?;
        let parts: Vec<_> = self.buffered.drain().collect();
        self.buffered_rows = 0;
        self.buffered_bytes = 0;
        self.last_seen.clear();
        self.write_direct(parts).await
    }

    /// Writes partitions as one lake file each, encoding on `threads` threads.
    async fn write_direct(&mut self, parts: Vec<(Key, Vec<RecordBatch>)>) -> Result<()> {
        let jobs: Vec<_> = parts
            .into_iter()
            .map(|((tenant, date), batches)| {
                let lake = self.lake.clone();
                let wopts = self.writer_opts.clone();
                async move {
                    let label = format!("{tenant}/{date}");
                    let (bytes, rows) = writer::blocking(move || {
                        let rows = batches.iter().map(RecordBatch::num_rows).sum();
                        Ok((writer::encode(batches, &wopts, &label)?, rows))
                    })
                    .await?;
                    writer::put_file(&lake, &tenant, date, bytes, rows).await
                }
            })
            .collect();
        let (written, err) = writer::in_parallel(self.opts.threads, jobs).await;
        self.record(written);
        err.map_or(Ok(()), Err)
    }

    /// Writes the rejects gathered since the last part as the next part of
    /// `rejects/{time}-{uuid}.ndjson` (then `…-2.ndjson`, …), one JSON object per bad record:
    /// `{"input","line","reason","record"}`.
    pub async fn write_rejects(&mut self) -> Result<Option<String>> {
        if self.rejects.is_empty() {
            return Ok(None);
        }
        let stem = self
            .rejects_stem
            .get_or_insert_with(|| {
                format!(
                    "rejects/{}-{}",
                    chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
                    uuid::Uuid::now_v7()
                )
            })
            .clone();
        let n = self.summary.rejects_parts.len() + 1;
        let name = if n == 1 {
            format!("{stem}.ndjson")
        } else {
            format!("{stem}-{n}.ndjson")
        };
        let path = self.lake.path(&name);
        let body = std::mem::take(&mut self.rejects);
        self.lake
            .store()
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|e| Error::store(path.to_string(), e))?;
        writer::sync_local(&self.lake, &path)?;
        let shown = if self.lake.is_local() {
            format!("{}/{}", self.lake.display(), name)
        } else {
            format!(
                "{}/{}",
                self.lake.store_url().as_str().trim_end_matches('/'),
                path
            )
        };
        self.summary.rejects_parts.push(shown.clone());
        self.summary.rejects_path.get_or_insert(shown.clone());
        Ok(Some(shown))
    }

    /// Undoes a failed run: deletes the data files and rejects parts it wrote, so running
    /// the same command again neither loses nor doubles a row. Returns what it could not
    /// delete (those the user must remove before retrying).
    pub async fn roll_back(&mut self) -> Vec<String> {
        let mut left = Vec::new();
        for f in self.summary.files.drain(..) {
            if let Err(e) = self.lake.store().delete(&f.path).await {
                tracing::error!(path = %f.path, error = %e, "cannot remove a file of the failed run");
                left.push(f.path.to_string());
            } else if let Some(ix) = crate::lake::grams::index_path(&f.path) {
                // Best effort: an index without its file is only space (cleanup sweeps it).
                let _ = self.lake.store().delete(&ix).await;
            }
        }
        if let Some(stem) = &self.rejects_stem {
            for n in 1..=self.summary.rejects_parts.len() {
                let name = if n == 1 {
                    format!("{stem}.ndjson")
                } else {
                    format!("{stem}-{n}.ndjson")
                };
                let path = self.lake.path(&name);
                match self.lake.store().delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(_) => left.push(path.to_string()),
                }
            }
        }
        left
    }
}
