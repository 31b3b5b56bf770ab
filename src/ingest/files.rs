//! The batch driver: records in (files, stdin, generated, later SQS) → decode → enrich → batch
//! by (tenant, date) → Parquet files in the lake; bad records → a rejects file with the reason.
//!
//! Decoding and encoding run on `threads` OS threads; memory is bounded by `flush_rows` (rows
//! buffered before a flush), never by the input size.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use object_store::{ObjectStoreExt, PutPayload};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::ingest::enrich::{GeoCache, GeoIp};
use crate::ingest::source::{self, SourceKind};
use crate::lake::Lake;
use crate::lake::writer::{self, WriterOptions, WrittenFile};
use crate::schema::RowBatchBuilder;

/// Lines handed to a decode thread at a time: large enough to amortize channel costs, small
/// enough that a few in flight stay a few MB.
const CHUNK_LINES: usize = 2048;

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
    /// Decode/encode threads.
    pub threads: usize,
}

/// Default rows buffered across partitions before a flush.
pub const DEFAULT_FLUSH_ROWS: usize = 200_000;

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            tenant: crate::tenant::DEFAULT.into(),
            source: None,
            geoip: None,
            flush_rows: DEFAULT_FLUSH_ROWS,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
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
    pub rejects_path: Option<String>,
    pub bytes_read: u64,
    pub elapsed_ms: u128,
}

/// A chunk of input text to decode.
pub struct Chunk {
    pub tenant: Arc<str>,
    pub input: Arc<str>,
    /// Line number of the first entry.
    pub first_line: u64,
    pub lines: Vec<String>,
}

/// The decoded form of a chunk, ready for the collector.
struct Decoded {
    batches: Vec<((Arc<str>, NaiveDate), RecordBatch)>,
    by_source: HashMap<&'static str, u64>,
    rejects: Vec<Reject>,
}

fn decode_chunk(chunk: Chunk, opts: &IngestOptions, geo: &mut Option<GeoCache<'_>>) -> Decoded {
    let mut builders: HashMap<NaiveDate, RowBatchBuilder> = HashMap::new();
    let mut by_source: HashMap<&'static str, u64> = HashMap::new();
    let mut rejects = Vec::new();
    for (i, line) in chunk.lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let line_no = chunk.first_line + i as u64;
        let results = source::decode_text(trimmed, opts.source);
        let multi = results.len() > 1;
        for (elem, res) in results.into_iter().enumerate() {
            match res {
                Ok(mut row) => {
                    if let Some(g) = geo.as_mut() {
                        g.enrich(&mut row);
                    }
                    *by_source
                        .entry(source_label(&row.event_source))
                        .or_default() += 1;
                    builders
                        .entry(row.event_date())
                        .or_insert_with(|| RowBatchBuilder::with_capacity(CHUNK_LINES))
                        .push(&row);
                }
                Err(e) => rejects.push(Reject {
                    input: chunk.input.to_string(),
                    line: line_no,
                    reason: if multi {
                        format!("record {}: {e}", elem + 1)
                    } else {
                        e.to_string()
                    },
                    record: line.trim_end_matches(['\n', '\r']).to_string(),
                }),
            }
        }
    }
    let batches = builders
        .into_iter()
        .map(|(date, mut b)| ((chunk.tenant.clone(), date), b.finish()))
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

/// Collects decoded batches and flushes them to the lake.
pub struct Collector {
    lake: Lake,
    opts: IngestOptions,
    writer_opts: Arc<WriterOptions>,
    buffered: HashMap<(Arc<str>, NaiveDate), Vec<RecordBatch>>,
    buffered_rows: usize,
    rejects: Vec<Reject>,
    pub summary: IngestSummary,
}

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
            rejects: Vec::new(),
            summary: IngestSummary::default(),
        }
    }

    fn add(&mut self, d: Decoded) {
        for (src, n) in d.by_source {
            *self.summary.by_source.entry(src.to_string()).or_default() += n;
            self.summary.events += n;
        }
        self.summary.rejected += d.rejects.len() as u64;
        self.rejects.extend(d.rejects);
        for (key, batch) in d.batches {
            self.buffered_rows += batch.num_rows();
            *self
                .summary
                .by_partition
                .entry((key.0.to_string(), key.1))
                .or_default() += batch.num_rows() as u64;
            self.buffered.entry(key).or_default().push(batch);
        }
    }

    fn should_flush(&self) -> bool {
        self.buffered_rows >= self.opts.flush_rows
    }

    /// Writes every buffered partition as one file each, encoding on `threads` threads.
    pub async fn flush(&mut self) -> Result<Vec<WrittenFile>> {
        let parts: Vec<_> = self.buffered.drain().collect();
        self.buffered_rows = 0;
        let sem = Arc::new(tokio::sync::Semaphore::new(self.opts.threads.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for ((tenant, date), batches) in parts {
            let lake = self.lake.clone();
            let wopts = self.writer_opts.clone();
            let sem = sem.clone();
            tasks.spawn(async move {
                let _permit = sem
                    .acquire_owned()
                    .await
                    .map_err(|e| Error::Other(e.to_string()))?;
                let label = format!("{tenant}/{date}");
                let (bytes, rows) =
                    tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, usize)> {
                        let schema = crate::schema::file_schema();
                        let batch = arrow::compute::concat_batches(&schema, &batches)?;
                        let rows = batch.num_rows();
                        Ok((writer::encode(&batch, &wopts, &label)?, rows))
                    })
                    .await
                    .map_err(|e| Error::Other(format!("encoder thread failed: {e}")))??;
                writer::put_file(&lake, &tenant, date, bytes, rows).await
            });
        }
        let mut written = Vec::new();
        while let Some(res) = tasks.join_next().await {
            written.push(res.map_err(|e| Error::Other(format!("flush task failed: {e}")))??);
        }
        written.sort_by(|a, b| (&a.tenant, a.date).cmp(&(&b.tenant, b.date)));
        self.summary.files.extend(written.iter().cloned());
        Ok(written)
    }

    /// Writes the rejects gathered so far to `rejects/{time}-{uuid}.ndjson`, one JSON object
    /// per bad record: `{"input","line","reason","record"}`.
    pub async fn write_rejects(&mut self) -> Result<Option<String>> {
        if self.rejects.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for r in self.rejects.drain(..) {
            serde_json::to_writer(&mut out, &r).map_err(|e| Error::json("a reject", e))?;
            out.push(b'\n');
        }
        let name = format!(
            "rejects/{}-{}.ndjson",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            uuid::Uuid::now_v7()
        );
        let path = self.lake.path(&name);
        self.lake
            .store()
            .put(&path, PutPayload::from(out))
            .await
            .map_err(|e| Error::store(path.to_string(), e))?;
        let shown = if self.lake.is_local() {
            format!("{}/{}", self.lake.display(), name)
        } else {
            format!(
                "{}/{}",
                self.lake.store_url().as_str().trim_end_matches('/'),
                path
            )
        };
        self.summary.rejects_path = Some(shown.clone());
        Ok(Some(shown))
    }
}

/// Runs decode threads over chunks from `produce`, collecting into the lake.
///
/// `produce` runs on its own thread and sends chunks; it returns the number of input bytes it
/// read (for the summary) or an error that stops the run after what was read is written.
pub async fn run<F>(lake: &Lake, opts: IngestOptions, produce: F) -> Result<IngestSummary>
where
    F: FnOnce(&std::sync::mpsc::SyncSender<Chunk>) -> Result<u64> + Send + 'static,
{
    let start = Instant::now();
    let threads = opts.threads.max(1);
    let (chunk_tx, chunk_rx) = std::sync::mpsc::sync_channel::<Chunk>(threads * 2);
    let chunk_rx = Arc::new(std::sync::Mutex::new(chunk_rx));
    let (out_tx, mut out_rx) = mpsc::channel::<Decoded>(threads * 2);

    let producer = std::thread::spawn(move || produce(&chunk_tx));
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
    let mut flush_err = None;
    while let Some(d) = out_rx.recv().await {
        collector.add(d);
        if collector.should_flush()
            && flush_err.is_none()
            && let Err(e) = collector.flush().await
        {
            flush_err = Some(e);
        }
    }
    for w in workers {
        w.join()
            .map_err(|_| Error::Other("a decode thread panicked".into()))?;
    }
    let bytes_read = producer
        .join()
        .map_err(|_| Error::Other("the input reader panicked".into()))?;
    if let Some(e) = flush_err {
        return Err(e);
    }
    collector.flush().await?;
    collector.write_rejects().await?;
    let mut summary = std::mem::take(&mut collector.summary);
    summary.elapsed_ms = start.elapsed().as_millis();
    match bytes_read {
        Ok(n) => summary.bytes_read = n,
        Err(e) => return Err(e),
    }
    Ok(summary)
}

/// An input to ingest: a file path or `-` for stdin.
#[derive(Debug, Clone)]
pub enum Input {
    File(PathBuf),
    Stdin,
}

impl Input {
    pub fn parse(s: &str) -> Input {
        if s == "-" {
            Input::Stdin
        } else {
            Input::File(PathBuf::from(s))
        }
    }

    fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "<stdin>".into(),
        }
    }

    /// The whole input as text (gunzipped when gzip).
    pub fn read_to_string(&self) -> Result<String> {
        let mut r = open_input(self, Arc::default())?;
        let mut s = String::new();
        r.read_to_string(&mut s).map_err(|e| Error::Io {
            op: "read",
            path: self.name().into(),
            source: e,
        })?;
        Ok(s)
    }
}

/// Counts bytes read from the underlying (compressed) input, for progress and the summary.
struct Counting<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens an input, transparently gunzipping (by magic bytes, not by name).
fn open_input(
    input: &Input,
    count: Arc<std::sync::atomic::AtomicU64>,
) -> Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = match input {
        Input::File(p) => Box::new(std::fs::File::open(p).map_err(|e| Error::Io {
            op: "open",
            path: p.clone(),
            source: e,
        })?),
        Input::Stdin => Box::new(std::io::stdin()),
    };
    let mut buf = BufReader::with_capacity(1 << 20, Counting { inner: raw, count });
    let head = buf.fill_buf().map_err(|e| Error::Io {
        op: "read",
        path: input.name().into(),
        source: e,
    })?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(buf),
        )))
    } else {
        Ok(Box::new(buf))
    }
}

/// Reads inputs into chunks: NDJSON line by line (streaming), or — when the input is one JSON
/// document (an array, a pretty-printed object such as a CloudTrail log file) — as a whole.
pub fn read_inputs(
    inputs: Vec<Input>,
    tenant: &str,
    tx: &std::sync::mpsc::SyncSender<Chunk>,
    progress: Option<indicatif::ProgressBar>,
) -> Result<u64> {
    let tenant: Arc<str> = Arc::from(tenant);
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for input in inputs {
        let name: Arc<str> = Arc::from(input.name().as_str());
        let io_err = |e| Error::Io {
            op: "read",
            path: PathBuf::from(name.as_ref()),
            source: e,
        };
        let mut r = open_input(&input, count.clone())?;
        let mut first = String::new();
        let mut line_no = 1u64;
        // Skip leading blank lines to see what the document looks like.
        loop {
            first.clear();
            if r.read_line(&mut first).map_err(io_err)? == 0 || !first.trim().is_empty() {
                break;
            }
            line_no += 1;
        }
        if first.trim().is_empty() {
            continue;
        }
        // NDJSON when the first line is a complete JSON value (an object, or an array of
        // events on one line); otherwise the input is one multi-line document.
        let whole_document = serde_json::from_str::<serde::de::IgnoredAny>(first.trim()).is_err();
        if whole_document {
            let mut rest = String::new();
            r.read_to_string(&mut rest).map_err(io_err)?;
            first.push_str(&rest);
            let chunk = Chunk {
                tenant: tenant.clone(),
                input: name.clone(),
                first_line: line_no,
                lines: vec![first],
            };
            if tx.send(chunk).is_err() {
                break;
            }
            continue;
        }
        let mut lines = Vec::with_capacity(CHUNK_LINES);
        let mut chunk_start = line_no;
        lines.push(std::mem::take(&mut first));
        loop {
            let mut line = String::new();
            let n = r.read_line(&mut line).map_err(io_err)?;
            if n > 0 {
                lines.push(line);
            }
            if lines.len() >= CHUNK_LINES || (n == 0 && !lines.is_empty()) {
                let len = lines.len() as u64;
                let chunk = Chunk {
                    tenant: tenant.clone(),
                    input: name.clone(),
                    first_line: chunk_start,
                    lines: std::mem::replace(&mut lines, Vec::with_capacity(CHUNK_LINES)),
                };
                chunk_start += len;
                if tx.send(chunk).is_err() {
                    return Ok(count.load(std::sync::atomic::Ordering::Relaxed));
                }
                if let Some(p) = &progress {
                    p.set_position(count.load(std::sync::atomic::Ordering::Relaxed));
                }
            }
            if n == 0 {
                break;
            }
        }
    }
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    Ok(count.load(std::sync::atomic::Ordering::Relaxed))
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
            return Err(Error::Io {
                op: "read",
                path: p.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
    }
    let tenant = opts.tenant.clone();
    run(lake, opts, move |tx| read_inputs(inputs, &tenant, tx, bar)).await
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
        }
        s
    }
}
