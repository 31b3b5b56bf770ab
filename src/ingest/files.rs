//! The batch driver: records in (files, stdin, generated) → decode → enrich → batch by
//! (tenant, date) → Parquet files in the lake; bad records → rejects files with the reason.
//!
//! Decoding and encoding run on `threads` OS threads. Memory is bounded by `flush_rows` and
//! `flush_bytes` (what is buffered before a flush), the line and document limits of
//! [`Limits`] (what one record may hold) and a few chunks in flight — never by the input size.
//! A flush in the middle of a run spills the buffered partitions as sorted runs to local disk
//! ([`crate::lake::spill`]); the end of the run merges each partition's runs and rows into one
//! file, so the lake gets one sorted file per partition per run whatever the input's order.
//! Rejects are written as they come, in parts, each part before any data that follows it
//! reaches the lake; a run that fails removes what it wrote (see [`Collector::roll_back`]), so it
//! can be re-run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::ingest::collect::Collector;
use crate::ingest::enrich::{GeoCache, GeoIp};
use crate::ingest::reader::{self, Input, Limits};
use crate::ingest::source::{self, DecodeOptions, SourceKind, TimeWindow};
use crate::lake::Lake;
use crate::lake::spill;
use crate::lake::writer::WrittenFile;
use crate::schema::{Row, RowBatchBuilder};

/// Lines handed to a decode thread at a time: large enough to amortize channel costs, small
/// enough that a few in flight stay a few MB.
pub const CHUNK_LINES: usize = 2048;
/// Bytes of text after which a chunk is handed over even if it has fewer lines.
pub const CHUNK_BYTES: usize = 4 << 20;
/// A buffered partition with rows in one of the last this many chunks is still receiving rows:
/// a flush spills it rather than writing it (8 Ki lines of input: more than the decode
/// threads reorder, less than the 128 MiB default buffer's ~64 chunks).
pub const ACTIVE_CHUNKS: u64 = 4;
/// Rejects buffered before they are written out as a part of the rejects file.
pub const REJECTS_PART_BYTES: usize = 4 << 20;

/// Settings of one ingest run.
#[derive(Clone)]
pub struct IngestOptions {
    /// Tenant of records that do not carry one.
    pub tenant: String,
    /// Force one decoder instead of detecting per record.
    pub source: Option<SourceKind>,
    /// GeoIP City database, when enrichment is wanted.
    pub geoip: Option<Arc<GeoIp>>,
    /// Rows buffered across partitions before a flush writes them out.
    pub flush_rows: usize,
    /// Bytes (Arrow memory) buffered across partitions before a flush writes them out.
    pub flush_bytes: usize,
    /// Decode/encode threads.
    pub threads: usize,
    /// Event times accepted; others are rejects.
    pub window: TimeWindow,
    /// Longest line and document.
    pub limits: Limits,
    /// Where sorted runs are spilled (the system's temporary directory when none).
    pub spill_dir: Option<PathBuf>,
    /// Spilled bytes after which the runs are merged into the lake mid-run.
    pub max_spill_bytes: u64,
}

/// Default rows buffered across partitions before a flush.
pub const DEFAULT_FLUSH_ROWS: usize = 200_000;
/// Default bytes buffered across partitions before a flush.
pub const DEFAULT_FLUSH_BYTES: usize = 128 << 20;

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            tenant: crate::tenant::DEFAULT.into(),
            source: None,
            geoip: None,
            flush_rows: DEFAULT_FLUSH_ROWS,
            flush_bytes: DEFAULT_FLUSH_BYTES,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            window: TimeWindow::default(),
            limits: Limits::default(),
            spill_dir: None,
            max_spill_bytes: spill::DEFAULT_MAX_SPILL_BYTES,
        }
    }
}

/// One rejected record: where it came from, why, and its original text.
#[derive(Debug, Clone, Serialize)]
pub struct Reject {
    pub input: String,
    pub line: u64,
    pub reason: String,
    pub record: String,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct IngestSummary {
    pub events: u64,
    pub rejected: u64,
    pub by_source: BTreeMap<String, u64>,
    pub by_partition: BTreeMap<(String, NaiveDate), u64>,
    pub files: Vec<WrittenFile>,
    /// The first rejects file (`rejects_parts` lists all when there are several).
    pub rejects_path: Option<String>,
    pub rejects_parts: Vec<String>,
    pub bytes_read: u64,
    pub elapsed_ms: u128,
}

/// A chunk of input text to decode: consecutive lines (or one whole document), back to back
/// in one buffer — one allocation per chunk, not one per line, and the decoded rows borrow
/// their text from it.
pub struct Chunk {
    pub tenant: Arc<str>,
    pub input: Arc<str>,
    /// Line number of the first entry.
    pub first_line: u64,
    text: String,
    /// Where each entry ends in `text`.
    ends: Vec<usize>,
}

impl Chunk {
    pub fn new(tenant: Arc<str>, input: Arc<str>, first_line: u64) -> Chunk {
        Chunk {
            tenant,
            input,
            first_line,
            text: String::new(),
            ends: Vec::new(),
        }
    }

    /// A chunk of these entries.
    pub fn of<S: AsRef<str>>(
        tenant: Arc<str>,
        input: Arc<str>,
        first_line: u64,
        entries: impl IntoIterator<Item = S>,
    ) -> Chunk {
        let mut c = Chunk::new(tenant, input, first_line);
        for e in entries {
            c.push(e.as_ref());
        }
        c
    }

    /// Appends the next entry (a line, newline included, or a document).
    pub fn push(&mut self, entry: &str) {
        self.text.push_str(entry);
        self.ends.push(self.text.len());
    }

    /// The entries, in order.
    pub fn lines(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.ends.iter().enumerate().map(|(i, &end)| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            &self.text[start..end]
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of text held.
    pub fn bytes(&self) -> usize {
        self.text.len()
    }

    /// Room for this many entries and bytes, so filling a chunk does not regrow it.
    pub fn reserve(&mut self, entries: usize, bytes: usize) {
        self.ends.reserve(entries);
        self.text.reserve(bytes);
    }
}

/// Where a producer sends its work: chunks to the decode threads, and rejects it found itself
/// (an over-long line, invalid UTF-8) straight to the collector.
pub struct Feed {
    pub chunks: std::sync::mpsc::SyncSender<Chunk>,
    out: mpsc::Sender<Decoded>,
}

impl Feed {
    /// Sends a reject; false when the collector stopped listening.
    pub fn reject(&self, r: Reject) -> bool {
        self.out
            .blocking_send(Decoded {
                batches: Vec::new(),
                by_source: HashMap::new(),
                rejects: vec![r],
            })
            .is_ok()
    }
}

/// The decoded form of a chunk, ready for the collector.
pub(crate) struct Decoded {
    pub(crate) batches: Vec<((Arc<str>, NaiveDate), RecordBatch)>,
    pub(crate) by_source: HashMap<&'static str, u64>,
    pub(crate) rejects: Vec<Reject>,
}

fn decode_chunk(chunk: Chunk, opts: &IngestOptions, geo: &mut Option<GeoCache<'_>>) -> Decoded {
    // Rows are grouped by day before any builder exists, so each day's builder is sized to its
    // own rows: a chunk of input in arbitrary time order spreads over ~30 days, and builders
    // sized for the whole chunk kept ~30× the memory the rows need (the batches keep their
    // builders' capacity) until the flush.
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(chunk.len());
    let mut by_day: HashMap<NaiveDate, Vec<u32>> = HashMap::new();
    let mut by_source: HashMap<&'static str, u64> = HashMap::new();
    let mut rejects = Vec::new();
    let dopts = DecodeOptions {
        forced: opts.source,
        window: opts.window,
    };
    if let Some(g) = geo.as_mut() {
        g.begin();
    }
    for (i, line) in chunk.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let line_no = chunk.first_line + i as u64;
        let results = source::decode_elements(trimmed, &dopts);
        let multi = results.len() > 1;
        for (elem, (res, raw)) in results.into_iter().enumerate() {
            match res {
                Ok(row) => {
                    if let Some(g) = geo.as_mut() {
                        g.prime(&row);
                    }
                    *by_source
                        .entry(source_label(&row.event_source))
                        .or_default() += 1;
                    by_day
                        .entry(row.event_date())
                        .or_default()
                        .push(rows.len() as u32);
                    rows.push(row);
                }
                Err(e) => rejects.push(Reject {
                    input: chunk.input.to_string(),
                    line: line_no,
                    reason: if multi {
                        format!("record {}: {e}", elem + 1)
                    } else {
                        e.to_string()
                    },
                    // The bad element alone, not the whole document it came in.
                    record: if multi {
                        raw.to_string()
                    } else {
                        line.trim_end_matches(['\n', '\r']).to_string()
                    },
                }),
            }
        }
    }
    // Every address is in the cache now: the rows borrow their place names from it.
    if let Some(g) = geo.as_ref() {
        for r in &mut rows {
            g.fill(r);
        }
    }
    let batches = by_day
        .into_iter()
        .map(|(date, idx)| {
            let day: Vec<&Row<'_>> = idx.iter().map(|&i| &rows[i as usize]).collect();
            let mut b = RowBatchBuilder::for_rows(&day);
            for r in day {
                b.push(r);
            }
            ((chunk.tenant.clone(), date), b.finish())
        })
        .collect();
    Decoded {
        batches,
        by_source,
        rejects,
    }
}

fn source_label(s: &str) -> &'static str {
    match s {
        "teleport" => "teleport",
        "aws" => "aws",
        "github" => "github",
        "okta" => "okta",
        _ => "other",
    }
}

/// Runs decode threads over chunks from `produce`, collecting into the lake.
///
/// `produce` runs on its own thread and sends chunks; it returns the number of input bytes it
/// read (for the summary) or an error that fails the run.
pub async fn run<F>(lake: &Lake, opts: IngestOptions, produce: F) -> Result<IngestSummary>
where
    F: FnOnce(&std::sync::mpsc::SyncSender<Chunk>) -> Result<u64> + Send + 'static,
{
    run_fed(lake, opts, move |feed| produce(&feed.chunks)).await
}

/// `run` for a producer that also reports rejects of its own.
pub async fn run_fed<F>(lake: &Lake, opts: IngestOptions, produce: F) -> Result<IngestSummary>
where
    F: FnOnce(&Feed) -> Result<u64> + Send + 'static,
{
    let start = Instant::now();
    let threads = opts.threads.max(1);
    let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel::<Chunk>(threads * 2);
    let chunk_rx = Arc::new(std::sync::Mutex::new(chunk_rx));
    let (out_tx, mut out_rx) = mpsc::channel::<Decoded>(threads * 2);

    let feed = Feed {
        chunks: chunk_tx,
        out: out_tx.clone(),
    };
    let producer = std::thread::spawn(move || produce(&feed));
    let mut workers = Vec::new();
    for _ in 0..threads {
        let rx = chunk_rx.clone();
        let tx = out_tx.clone();
        let opts = opts.clone();
        workers.push(std::thread::spawn(move || {
            let mut geo = opts.geoip.as_deref().map(GeoCache::new);
            loop {
                let next = { rx.lock().ok().and_then(|r| r.recv().ok()) };
                let Some(chunk) = next else { break };
                let decoded = decode_chunk(chunk, &opts, &mut geo);
                if tx.blocking_send(decoded).is_err() {
                    break;
                }
            }
        }));
    }
    drop(out_tx);

    let mut collector = Collector::new(lake.clone(), opts);
    let mut failure: Option<Error> = None;
    while let Some(d) = out_rx.recv().await {
        collector.add(d);
        let step = if collector.should_flush() {
            collector.spill().await
        } else if collector.pending_rejects() >= REJECTS_PART_BYTES {
            collector.write_rejects().await.map(|_| ())
        } else {
            Ok(())
        };
        if let Err(e) = step {
            failure = Some(e);
            break;
        }
    }
    // Stop the producer and the decoders (their sends fail once the receiver is gone).
    drop(out_rx);
    for w in workers {
        if w.join().is_err() {
            failure.get_or_insert(Error::Other("a decode thread panicked".into()));
        }
    }
    let bytes_read = match producer.join() {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            failure.get_or_insert(e);
            0
        }
        Err(_) => {
            failure.get_or_insert(Error::Other("the input reader panicked".into()));
            0
        }
    };
    if failure.is_none()
        && let Err(e) = collector.finish().await
    {
        failure = Some(e);
    }
    if let Some(e) = failure {
        let wrote = collector.summary.files.len();
        let rows: usize = collector.summary.files.iter().map(|f| f.rows).sum();
        let parts = collector.summary.rejects_parts.len();
        let left = collector.roll_back().await;
        let report = if left.is_empty() {
            format!(
                "ingest failed; removed the {wrote} data files ({rows} events) and {parts} rejects files it had written, so the same command can be run again"
            )
        } else {
            format!(
                "ingest failed; these files of the failed run could not be removed — delete them before running it again: {}",
                left.join(", ")
            )
        };
        return Err(Error::Partial {
            report,
            source: Box::new(e),
        });
    }
    let mut summary = std::mem::take(&mut collector.summary);
    summary.elapsed_ms = start.elapsed().as_millis();
    summary.bytes_read = bytes_read;
    Ok(summary)
}

/// Ingests files (or stdin) into the lake.
pub async fn ingest_files(
    lake: &Lake,
    inputs: Vec<Input>,
    opts: IngestOptions,
    progress: bool,
) -> Result<IngestSummary> {
    crate::tenant::check(&opts.tenant)?;
    let total: u64 = inputs
        .iter()
        .filter_map(|i| match i {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
        })
        .sum();
    let bar = progress.then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} ingesting [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    });
    // Fail early and clearly on a missing file rather than after the others were ingested.
    for i in &inputs {
        if let Input::File(p) = i
            && !Path::new(p).is_file()
        {
            return Err(Error::io(
                "read",
                p.clone(),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
    }
    let tenant = opts.tenant.clone();
    let limits = opts.limits;
    run_fed(lake, opts, move |feed| {
        reader::read_inputs(inputs, &tenant, limits, feed, bar)
    })
    .await
}

impl IngestSummary {
    /// The closing summary printed by `ingest` and `demo`.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let secs = self.elapsed_ms as f64 / 1000.0;
        let rate = if secs > 0.0 {
            self.events as f64 / secs
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "ingested {} events into {} files in {:.1}s ({:.0} events/s); rejected {}",
            self.events,
            self.files.len(),
            secs,
            rate,
            self.rejected
        );
        let _ = writeln!(s, "by source:");
        for (src, n) in &self.by_source {
            let _ = writeln!(s, "  {src:<10} {n:>10}");
        }
        let mut tenants: BTreeMap<&str, (u64, usize, NaiveDate, NaiveDate)> = BTreeMap::new();
        for ((t, d), n) in &self.by_partition {
            let e = tenants.entry(t.as_str()).or_insert((0, 0, *d, *d));
            e.0 += n;
            e.1 += 1;
            e.2 = e.2.min(*d);
            e.3 = e.3.max(*d);
        }
        let _ = writeln!(s, "by partition (tenant: events, days, first..last date):");
        for (t, (n, days, lo, hi)) in tenants {
            let _ = writeln!(s, "  {t:<10} {n:>10} events  {days:>4} days  {lo}..{hi}");
        }
        if self.by_partition.len() <= 12 {
            for ((t, d), n) in &self.by_partition {
                let _ = writeln!(s, "    data/{t}/{d}/  {n} events");
            }
        }
        if let Some(p) = &self.rejects_path {
            let _ = writeln!(s, "rejected records (with reasons) written to {p}");
            if self.rejects_parts.len() > 1 {
                let _ = writeln!(
                    s,
                    "  and {} more parts beside it",
                    self.rejects_parts.len() - 1
                );
            }
        }
        s
    }
}
