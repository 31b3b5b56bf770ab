//! Reading inputs under hostile conditions: files or stdin (gunzipped by magic bytes) → chunks
//! of lines, with every line bounded (`max_line_bytes`, `max_document_bytes`), invalid UTF-8 and
//! unreadable tails turned into rejects of their own, and the one-document rule (below).
//!
//! **When is an input one JSON document?** When its first non-blank line is not a complete JSON
//! value but opens one (`[` or `{`: a pretty-printed CloudTrail log file, array or record), and
//! the whole input — at most `max_document_bytes` — parses as one JSON value. Anything else is
//! NDJSON: one record (or one-line array / `{"Records":[…]}` file) per line, and a bad line, the
//! first included, costs that line only.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::error::{Error, Result};
use crate::ingest::files::{CHUNK_BYTES, CHUNK_LINES, Chunk, Feed, Reject};
use crate::ingest::source;

/// Default longest NDJSON line (a record): far above any real audit event (SQS caps them at
/// 256 KiB, Teleport's large events at a few MiB), far below what hurts.
pub use crate::config::DEFAULT_MAX_LINE_BYTES;
/// Default largest JSON document (a CloudTrail log file, a JSON array), on one line or many.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 64 << 20;
/// Largest `max_line_bytes` or `max_document_bytes` one may set: a document's rows of one day
/// become one Arrow string column, which holds at most 2 GiB.
pub const MAX_LIMIT_BYTES: usize = 1 << 30;
/// How much of an over-long line the reject keeps, so the reject file stays bounded too.
const REJECT_HEAD_BYTES: usize = 1024;

/// Size limits on what one line or one document may hold (decompressed bytes).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_line_bytes: usize,
    pub max_document_bytes: usize,
}

impl Limits {
    /// Checked limits from settings: at least 1 byte, at most [`MAX_LIMIT_BYTES`] (a larger
    /// value is refused in the setting's own words rather than failing mid-run); the document
    /// limit is at least the line limit.
    pub fn checked(max_line_bytes: usize, max_document_bytes: usize) -> Result<Limits> {
        for (flag, v) in [
            ("--max-line-bytes", max_line_bytes),
            ("--max-document-bytes", max_document_bytes),
        ] {
            if v > MAX_LIMIT_BYTES {
                return Err(Error::Config(format!(
                    "{flag} {v} is over the largest supported, {} (1 GiB): a document's \
                     records of one day are one Arrow column of at most 2 GiB",
                    MAX_LIMIT_BYTES
                )));
            }
        }
        let line = max_line_bytes.max(1);
        Ok(Limits {
            max_line_bytes: line,
            max_document_bytes: max_document_bytes.max(line),
        })
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }
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

    pub(crate) fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "<stdin>".into(),
        }
    }

    /// The whole input as text (gunzipped when gzip).
    pub fn read_to_string(&self) -> Result<String> {
        let mut r = open_input(self, Arc::default())?;
        let mut s = String::new();
        r.read_to_string(&mut s)
            .map_err(|e| Error::io("read", self.name(), e))?;
        Ok(s)
    }
}

/// Counts bytes read from the underlying (compressed) input, for progress and the summary.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

/// Opens an input, transparently gunzipping (by magic bytes, not by name).
pub(crate) fn open_input(input: &Input, count: Arc<AtomicU64>) -> Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = match input {
        Input::File(p) => {
            Box::new(std::fs::File::open(p).map_err(|e| Error::io("open", p.clone(), e))?)
        }
        Input::Stdin => Box::new(std::io::stdin()),
    };
    gunzipping(raw, count).map_err(|e| Error::io("read", input.name(), e))
}

/// `raw`, gunzipped when its first bytes are gzip's magic (concatenated members too).
fn gunzipping<R: Read + Send + 'static>(
    raw: R,
    count: Arc<AtomicU64>,
) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut buf = BufReader::with_capacity(1 << 20, Counting { inner: raw, count });
    if buf.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(buf),
        )))
    } else {
        Ok(Box::new(buf))
    }
}

/// Where the reader puts what it read: chunks of lines (or one whole document) and the
/// line-level rejects it finds itself. Either returns false once nobody is listening.
pub trait ReadSink {
    fn chunk(&mut self, chunk: Chunk) -> bool;
    fn reject(&mut self, reject: Reject) -> bool;
}

impl ReadSink for &Feed {
    fn chunk(&mut self, chunk: Chunk) -> bool {
        self.chunks.send(chunk).is_ok()
    }
    fn reject(&mut self, reject: Reject) -> bool {
        Feed::reject(self, reject)
    }
}

/// Reads one in-memory input (gunzipped by magic bytes) by exactly the rules files and stdin
/// are read by, into `out`. The fuzzer checks the splitting through this.
pub fn read_bytes(
    bytes: Vec<u8>,
    name: &str,
    tenant: &str,
    limits: Limits,
    out: &mut dyn ReadSink,
) {
    let count = Arc::new(AtomicU64::new(0));
    let mut sink = LineSink {
        out,
        tenant: Arc::from(tenant),
        input: Arc::from(name),
        chunk: None,
        last_bytes: 0,
        open: true,
    };
    match gunzipping(std::io::Cursor::new(bytes), count.clone()) {
        Ok(mut r) => read_one(&mut *r, limits, &mut sink, &count, None),
        Err(e) => sink.reject(1, format!("cannot read: {e}"), String::new()),
    }
    sink.send();
}

/// What one bounded line read found.
#[derive(Debug, PartialEq)]
pub enum LineRead {
    Eof,
    /// A line (with its newline, if any) is in the buffer.
    Line,
    /// The line was longer than allowed: `bytes` in all; the buffer holds its head only.
    TooLong {
        bytes: u64,
        limit: usize,
    },
}

/// Reads one line into `buf`, never holding more than the limit: `line_limit` for a line, or
/// `doc_limit` for a line that opens like a document (a one-line CloudTrail file). The rest of
/// an over-long line is skipped up to its newline without being stored.
pub fn read_line_bounded(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    line_limit: usize,
    doc_limit: usize,
) -> std::io::Result<LineRead> {
    buf.clear();
    let mut total = 0u64;
    let mut over: Option<usize> = None;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(match (total, over) {
                (0, _) => LineRead::Eof,
                (_, Some(limit)) => LineRead::TooLong {
                    bytes: total,
                    limit,
                },
                _ => LineRead::Line,
            });
        }
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if over.is_none() {
            let limit = if buf.len() + take > line_limit {
                // Only a line opening like a document may grow past the line limit.
                let head = &buf[..buf.len().min(64)];
                let opens_doc = if buf.is_empty() {
                    source::looks_like_document(&String::from_utf8_lossy(&avail[..take.min(64)]))
                } else {
                    source::looks_like_document(&String::from_utf8_lossy(head))
                };
                if opens_doc { doc_limit } else { line_limit }
            } else {
                line_limit
            };
            if buf.len() + take > limit {
                let room = REJECT_HEAD_BYTES.saturating_sub(buf.len());
                buf.truncate(REJECT_HEAD_BYTES);
                buf.extend_from_slice(&avail[..take.min(room)]);
                buf.shrink_to(REJECT_HEAD_BYTES);
                over = Some(limit);
            } else {
                buf.extend_from_slice(&avail[..take]);
            }
        }
        r.consume(take);
        total += take as u64;
        if done {
            return Ok(match over {
                Some(limit) => LineRead::TooLong {
                    bytes: total,
                    limit,
                },
                None => LineRead::Line,
            });
        }
    }
}

fn mib(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// Streams one input's lines into chunks (and line-level rejects into the feed).
struct LineSink<'a> {
    out: &'a mut dyn ReadSink,
    tenant: Arc<str>,
    input: Arc<str>,
    /// The chunk being filled.
    chunk: Option<Chunk>,
    /// Text bytes of the last chunk sent: what the next one reserves.
    last_bytes: usize,
    /// False once the collector stopped listening (a failed flush).
    open: bool,
}

impl LineSink<'_> {
    fn push(&mut self, line_no: u64, line: &str) {
        // Lines of a chunk are consecutive; a gap (a reject in between) starts a new chunk.
        if self
            .chunk
            .as_ref()
            .is_some_and(|c| c.first_line + c.len() as u64 != line_no)
        {
            self.send();
        }
        let (tenant, input, last) = (&self.tenant, &self.input, self.last_bytes);
        let chunk = self.chunk.get_or_insert_with(|| {
            let mut c = Chunk::new(tenant.clone(), input.clone(), line_no);
            c.reserve(CHUNK_LINES, (last + last / 8).min(CHUNK_BYTES));
            c
        });
        chunk.push(line);
        if chunk.len() >= CHUNK_LINES || chunk.bytes() >= CHUNK_BYTES {
            self.send();
        }
    }

    fn reject(&mut self, line_no: u64, reason: String, record: String) {
        let r = Reject {
            input: self.input.to_string(),
            line: line_no,
            reason,
            record,
        };
        if !self.out.reject(r) {
            self.open = false;
        }
    }

    fn send(&mut self) {
        let Some(chunk) = self.chunk.take().filter(|c| !c.is_empty()) else {
            return;
        };
        self.last_bytes = chunk.bytes();
        if !self.out.chunk(chunk) {
            self.open = false;
        }
    }

    /// A raw line: text → the chunk; invalid UTF-8 → a reject of its own.
    fn raw(&mut self, line_no: u64, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                if !s.trim().is_empty() {
                    self.push(line_no, s);
                }
            }
            Err(e) => self.reject(
                line_no,
                format!("not UTF-8 (invalid byte at column {})", e.valid_up_to() + 1),
                String::from_utf8_lossy(bytes).trim_end().to_string(),
            ),
        }
    }
}

/// Reads inputs into chunks: NDJSON line by line (streaming), or — when the input is one JSON
/// document by the rule in this module's doc — as a whole.
pub fn read_inputs(
    inputs: Vec<Input>,
    tenant: &str,
    limits: Limits,
    feed: &Feed,
    progress: Option<indicatif::ProgressBar>,
) -> Result<u64> {
    let tenant: Arc<str> = Arc::from(tenant);
    let count = Arc::new(AtomicU64::new(0));
    let mut out = feed;
    for input in inputs {
        let name: Arc<str> = Arc::from(input.name().as_str());
        let mut r = open_input(&input, count.clone())?;
        let mut sink = LineSink {
            out: &mut out,
            tenant: tenant.clone(),
            input: name.clone(),
            chunk: None,
            last_bytes: 0,
            open: true,
        };
        read_one(&mut *r, limits, &mut sink, &count, progress.as_ref());
        sink.send();
        if !sink.open {
            break;
        }
    }
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    Ok(count.load(Relaxed))
}

fn read_one(
    r: &mut dyn BufRead,
    limits: Limits,
    sink: &mut LineSink<'_>,
    count: &AtomicU64,
    progress: Option<&indicatif::ProgressBar>,
) {
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    // The first non-blank line decides between NDJSON and one document.
    let mut doc: Option<(u64, String, Vec<usize>)> = None;
    let mut decided = false;
    loop {
        if !sink.open {
            return;
        }
        let read = read_line_bounded(
            r,
            &mut buf,
            limits.max_line_bytes,
            limits.max_document_bytes,
        );
        let read = match read {
            Ok(x) => x,
            Err(e) => {
                // A corrupt gzip tail or a read error ends this input, not the run: what was
                // read stays, and the reject says where it stopped.
                flush_doc(&mut doc, sink);
                sink.reject(
                    line_no + 1,
                    format!("cannot read further: {e}"),
                    String::new(),
                );
                return;
            }
        };
        if read == LineRead::Eof {
            break;
        }
        line_no += 1;
        if let LineRead::TooLong { bytes, limit } = read {
            flush_doc(&mut doc, sink);
            decided = true;
            let head = String::from_utf8_lossy(&buf).to_string();
            sink.reject(
                line_no,
                format!(
                    "line of {bytes} bytes is over the limit of {} (max_line_bytes for a record, max_document_bytes for a document); the record shows its first {REJECT_HEAD_BYTES} bytes",
                    mib(limit)
                ),
                head,
            );
            continue;
        }
        if let Some((_, text, starts)) = doc.as_mut() {
            if text.len() + buf.len() > limits.max_document_bytes {
                // Too big to be read as one document: NDJSON from here on, line by line.
                flush_doc(&mut doc, sink);
                sink.raw(line_no, &buf);
            } else {
                match std::str::from_utf8(&buf) {
                    Ok(s) => {
                        starts.push(text.len());
                        text.push_str(s);
                    }
                    Err(_) => {
                        flush_doc(&mut doc, sink);
                        sink.raw(line_no, &buf);
                    }
                }
            }
            continue;
        }
        if !decided {
            let Ok(s) = std::str::from_utf8(&buf) else {
                decided = true;
                sink.raw(line_no, &buf);
                continue;
            };
            if s.trim().is_empty() {
                continue;
            }
            decided = true;
            let complete = serde_json::from_str::<serde::de::IgnoredAny>(s.trim()).is_ok();
            let t = s.trim_start();
            if !complete && (t.starts_with('[') || t.starts_with('{')) {
                doc = Some((line_no, s.to_string(), vec![0]));
                continue;
            }
        }
        sink.raw(line_no, &buf);
        if line_no.is_multiple_of(CHUNK_LINES as u64)
            && let Some(p) = progress
        {
            p.set_position(count.load(Relaxed));
        }
    }
    if let Some((first, text, _)) = doc.take_if(|(_, text, _)| source::is_document(text)) {
        sink.send();
        let chunk = Chunk::of(sink.tenant.clone(), sink.input.clone(), first, [text]);
        if !sink.out.chunk(chunk) {
            sink.open = false;
        }
        return;
    }
    flush_doc(&mut doc, sink);
}

/// A document candidate that turned out not to be one: its lines as NDJSON.
fn flush_doc(doc: &mut Option<(u64, String, Vec<usize>)>, sink: &mut LineSink<'_>) {
    let Some((first, text, starts)) = doc.take() else {
        return;
    };
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        sink.raw(first + i as u64, &text.as_bytes()[start..end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], line: usize, doc: usize) -> Vec<(LineRead, Vec<u8>)> {
        let mut r = std::io::BufReader::with_capacity(7, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let x = read_line_bounded(&mut r, &mut buf, line, doc).unwrap();
            if x == LineRead::Eof {
                return out;
            }
            out.push((x, buf.clone()));
        }
    }

    #[test]
    fn long_lines_are_cut_and_skipped_to_the_next_newline() {
        let got = lines(b"abc\nxxxxxxxxxxxxxxxxxxxx\nde", 10, 10);
        assert_eq!(got[0], (LineRead::Line, b"abc\n".to_vec()));
        assert_eq!(
            got[1].0,
            LineRead::TooLong {
                bytes: 21,
                limit: 10
            }
        );
        assert_eq!(got[2], (LineRead::Line, b"de".to_vec()));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn a_document_line_may_grow_to_the_document_limit() {
        let doc = br#"{"Records":[{"a":1},{"b":2}]}"#;
        let got = lines(doc, 8, 100);
        assert_eq!(got, vec![(LineRead::Line, doc.to_vec())]);
        let got = lines(br#"{"event":"xxxxxxxxxxxxxxx"}"#, 8, 100);
        assert!(matches!(got[0].0, LineRead::TooLong { limit: 8, .. }));
    }
}
