//! The fuzz targets' bodies: one function per target that feeds outside bytes to a parser of
//! ours and asserts what must hold for *any* input (a panic here is a finding). Shared by the
//! libFuzzer binaries (`fuzz/fuzz_targets/*.rs`, nightly) and by the stable replay test
//! (`tests/it/fuzz.rs`), which runs every seed and every saved crash through the same code.
//!
//! Inputs are plain bytes; where a target needs several fields it splits the input on NUL
//! (`\0`), which JSON, SQL and YAML text never holds, so seeds stay readable and the fuzzer's
//! mutations keep their structure.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, OnceLock};

use auditlake::config::{IdentityActivityCenter, parse_duration};
use auditlake::faces::flight::{Handle, HandleCodec, bind_first_row};
use auditlake::ingest::files::{Chunk, Reject};
use auditlake::ingest::reader::{self, Limits, ReadSink};
use auditlake::ingest::source::{self, DecodeOptions, SourceKind, TimeWindow};
use auditlake::ingest::sqs::message::{self, Payloads, Received};
use auditlake::ingest::sqs::policy::{Policy, resolve_large};
use auditlake::lake::Lake;
use auditlake::query::engine::{Engine, EngineOptions};
use auditlake::query::{statements, udf};
use auditlake::schema::{Row, RowBatchBuilder};
use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use datafusion::common::tree_node::TreeNode;
use datafusion::logical_expr::LogicalPlan;
use object_store::ObjectStoreExt;
use object_store::path::Path;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its binary and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode", decode),
    ("split", split),
    ("sqs_message", sqs_message),
    ("trino_udf", trino_udf),
    ("sql_plan", sql_plan),
    ("flight_handle", flight_handle),
    ("flight_put", flight_put),
    ("config", config),
    ("gram_index", gram_index),
];

/// Runs one target by name (the replay test's entry).
pub fn run(target: &str, data: &[u8]) {
    match TARGETS.iter().find(|(n, _)| *n == target) {
        Some((_, f)) => f(data),
        None => panic!("no fuzz target named {target}"),
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = data.splitn(n, |b| *b == 0).collect();
    v.resize(n, &[]);
    v
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Is `part` a slice of `whole` (same memory)?
fn is_slice_of(part: &str, whole: &str) -> bool {
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
}

// ---------------------------------------------------------------------------------------------
// decode: one input → records of each source, and `detect`.

/// Real records of the four sources, for the structure-aware mode.
const TEMPLATES: [&str; 4] = [
    include_str!("../tests/sigma/events/teleport.ndjson"),
    include_str!("../tests/sigma/events/cloudtrail.ndjson"),
    include_str!("../tests/sigma/events/github.ndjson"),
    include_str!("../tests/sigma/events/okta.ndjson"),
];

fn template(i: usize) -> &'static str {
    let t = TEMPLATES[i % TEMPLATES.len()];
    t.lines().next().unwrap_or("{}")
}

/// What every accepted row must satisfy, whatever the input.
fn check_row(row: &Row<'_>, window: &TimeWindow, raw: &str) {
    assert!(
        (window.min_ms..window.max_ms).contains(&row.event_time_ms),
        "accepted time {} outside the window {window:?}",
        row.event_time_ms
    );
    // The partition a row lands in is the date of its event time, in a form readers list.
    let date = row.event_date();
    let expect = chrono::DateTime::from_timestamp_millis(row.event_time_ms)
        .expect("a time inside the window is representable")
        .date_naive();
    assert_eq!(date, expect, "event_date is not the date of event_time");
    let dir = date.format("%Y-%m-%d").to_string();
    assert_eq!(
        auditlake::lake::layout::parse_date(&dir),
        Some(date),
        "partition {dir} does not read back"
    );
    assert!(
        ["teleport", "aws", "github", "okta"].contains(&&*row.event_source),
        "event_source {:?}",
        row.event_source
    );
    assert!(!row.uid.is_empty(), "empty uid");
    assert!(
        !row.event_type.is_empty() || raw.contains("\"\""),
        "empty event_type"
    );
    assert_eq!(
        row.event_data,
        raw.trim(),
        "event_data is not the record's own text"
    );
    // The row must be writable: the builder takes every decoded value.
    let mut b = RowBatchBuilder::with_capacity(1);
    b.push(row);
    assert_eq!(b.finish().num_rows(), 1);
}

/// Structure-aware: a real record of one source with leaves replaced, added or removed by the
/// input's instructions, so the decoders' deep paths see hostile values in the right places.
fn mutate_template(data: &[u8]) -> String {
    let pick = data.first().copied().unwrap_or(0) as usize;
    let mut v: serde_json::Value =
        serde_json::from_str(template(pick)).unwrap_or(serde_json::Value::Null);
    let mut ops = data.get(1..).unwrap_or(&[]).split(|b| *b == 0);
    while let (Some(op), Some(val)) = (ops.next(), ops.next()) {
        let (which, kind) = match op {
            [w, k, ..] => (*w as usize, *k),
            [w] => (*w as usize, 0),
            [] => (0, 0),
        };
        let value = match kind % 8 {
            0 => serde_json::Value::String(text(val)),
            1 => serde_json::from_str(&text(val)).unwrap_or(serde_json::Value::Null),
            2 => serde_json::json!(i64::from_le_bytes(pad8(val))),
            3 => serde_json::json!(f64::from_le_bytes(pad8(val))),
            4 => serde_json::Value::Bool(val.first().is_some_and(|b| b & 1 == 1)),
            5 => serde_json::Value::Null,
            6 => serde_json::json!([text(val)]),
            _ => serde_json::json!({ text(val): text(val) }),
        };
        set_leaf(&mut v, which, value, kind >= 8);
    }
    v.to_string()
}

fn pad8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    for (i, x) in b.iter().take(8).enumerate() {
        a[i] = *x;
    }
    a
}

/// Replaces the `n`-th leaf (depth first, modulo the count) with `value`, or removes it.
fn set_leaf(v: &mut serde_json::Value, n: usize, value: serde_json::Value, remove: bool) {
    fn leaves(v: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    path.push(k.clone());
                    leaves(x, path, out);
                    path.pop();
                }
            }
            _ => out.push(path.clone()),
        }
    }
    let mut all = Vec::new();
    leaves(v, &mut Vec::new(), &mut all);
    let Some(path) = all.get(n % all.len().max(1)).cloned() else {
        return;
    };
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for k in init {
        match cur.get_mut(k) {
            Some(x) => cur = x,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        if remove {
            m.remove(last);
        } else {
            m.insert(last.clone(), value);
        }
    }
}

/// The first byte picks how to read the rest: auto-detected or forced to one source, over the
/// default or a narrow time window, as raw text or as a mutated real record.
pub fn decode(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let owned;
    let text = if mode & 0x80 != 0 {
        owned = mutate_template(rest);
        owned.as_str()
    } else {
        match std::str::from_utf8(rest) {
            Ok(t) => t,
            Err(_) => return,
        }
    };
    let forced = match mode % 5 {
        1 => Some(SourceKind::Teleport),
        2 => Some(SourceKind::CloudTrail),
        3 => Some(SourceKind::GitHub),
        4 => Some(SourceKind::Okta),
        _ => None,
    };
    let window = if mode & 0x40 != 0 {
        let d = |y, m, dd| chrono::NaiveDate::from_ymd_opt(y, m, dd).expect("date");
        TimeWindow::from_dates(d(2020, 1, 1), d(2030, 1, 1)).expect("window")
    } else {
        TimeWindow::default()
    };
    let opts = DecodeOptions { forced, window };
    let results = source::decode_elements(text, &opts);
    if results.is_empty() {
        // Only a document of no records holds nothing: `[]` or `{"Records":[]}` (an empty
        // CloudTrail log file), possibly nested in an array.
        let v: serde_json::Value =
            serde_json::from_str(text).expect("a text of no records is valid JSON");
        let empty = |v: &serde_json::Value| match v {
            serde_json::Value::Array(a) => a.is_empty(),
            serde_json::Value::Object(o) => o
                .get("Records")
                .is_some_and(|r| r == &serde_json::json!([])),
            _ => false,
        };
        let ok = empty(&v) || v.as_array().is_some_and(|a| a.iter().all(empty));
        assert!(ok, "records vanished: {text}");
    }
    let mut last_end = 0usize;
    for (r, raw) in &results {
        assert!(
            is_slice_of(raw, text),
            "a record's text is not a slice of the input"
        );
        // Records come in input order and never overlap (unless the whole text is the one
        // record a reject shows).
        let start = raw.as_ptr() as usize - text.as_ptr() as usize;
        if results.len() > 1 {
            assert!(start >= last_end, "records overlap or are out of order");
            last_end = start + raw.len();
        }
        match r {
            Ok(row) => {
                check_row(row, &window, raw);
                // The borrowed tree accepts exactly what serde_json's own Value accepts.
                let _: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw)
                    .expect("an accepted record is a JSON object to serde_json too");
                if forced.is_none() {
                    let obj: source::Obj<'_> =
                        serde_json::from_str(raw).expect("an accepted record is a JSON object");
                    let kind = source::detect(&obj).expect("an accepted record was detected");
                    assert_eq!(kind.as_str(), row.event_source);
                }
            }
            Err(e) => {
                assert!(!e.to_string().is_empty(), "a reject without a reason");
                let value = serde_json::from_str::<serde_json::Value>(raw);
                match e {
                    // A `[` document is split by serde_json's raw-value scanner, which may meet
                    // a syntax error before the depth a tree parse refuses at: both refuse, in
                    // different words. A record's words are the tree parser's, serde_json's own.
                    source::DecodeError::Json(msg) if text.trim_start().starts_with('[') => {
                        assert!(
                            value.is_err(),
                            "refused as invalid JSON ({msg}), which serde_json reads"
                        );
                    }
                    source::DecodeError::Json(msg) => {
                        let theirs =
                            value.expect_err("refused as invalid JSON, which serde_json reads");
                        assert!(
                            msg.ends_with(
                                &theirs
                                    .to_string()
                                    .split(" at line ")
                                    .next()
                                    .unwrap_or_default()
                                    .to_string()
                            ),
                            "not serde_json's words: {msg} / {theirs}"
                        );
                    }
                    _ => assert!(value.is_ok(), "valid JSON refused as: {e}"),
                }
            }
        }
    }
    // One record through the single-record entry gives the same answer.
    if results.len() == 1 {
        let one = source::decode_record_with(results[0].1, &opts);
        assert_eq!(one.is_ok(), results[0].0.is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// split: input bytes → lines, documents and line-level rejects.

#[derive(Default)]
struct Collect {
    chunks: Vec<Chunk>,
    rejects: Vec<Reject>,
}

impl ReadSink for Collect {
    fn chunk(&mut self, chunk: Chunk) -> bool {
        self.chunks.push(chunk);
        true
    }
    fn reject(&mut self, reject: Reject) -> bool {
        self.rejects.push(reject);
        true
    }
}

/// First byte: bit 0 gzips the rest, bits 1–2 pick small line/document limits so the
/// over-long paths are reached. Checks that every line is accounted for exactly once.
pub fn split(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let (line_limit, doc_limit) = match (mode >> 1) & 3 {
        0 => (64, 256),
        1 => (256, 64),
        2 => (4096, 1 << 16),
        _ => (reader::Limits::default().max_line_bytes, 1 << 20),
    };
    let limits = Limits {
        max_line_bytes: line_limit,
        max_document_bytes: doc_limit,
    };
    let gz = mode & 1 == 1 && !body.starts_with(&[0x1f, 0x8b]);
    let input = if gz {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(body).expect("gzip to memory");
        e.finish().expect("gzip to memory")
    } else {
        body.to_vec()
    };
    let mut out = Collect::default();
    reader::read_bytes(input, "fuzz", "acme", limits, &mut out);

    // Every line number appears once at most, in increasing order.
    let mut seen: Vec<(u64, usize)> = Vec::new(); // (line, index in output order)
    let mut doc: Option<(u64, &str)> = None;
    for c in &out.chunks {
        assert_eq!(&*c.tenant, "acme");
        // A document is several lines in one entry; an NDJSON line ends at its only newline.
        let first = c.lines().next();
        let inner = first.map(|l| l.trim_end_matches('\n'));
        if c.len() == 1 && inner.is_some_and(|l| l.contains('\n')) {
            // One whole document (several lines read as one JSON value).
            assert!(doc.is_none(), "two documents from one input");
            let whole = first.unwrap_or_default();
            assert!(whole.len() <= doc_limit, "a document over the limit");
            doc = Some((c.first_line, whole));
            continue;
        }
        for (i, l) in c.lines().enumerate() {
            assert!(
                !l.trim().is_empty(),
                "a blank line was passed on as a record"
            );
            assert!(
                l.len() <= line_limit.max(doc_limit),
                "a line of {} bytes passed the limits",
                l.len()
            );
            seen.push((c.first_line + i as u64, l.len()));
        }
    }
    for r in &out.rejects {
        assert!(!r.reason.is_empty());
        // A reject keeps the line's first 1024 bytes (over-long) or the line itself, lossily
        // decoded (an invalid byte becomes the 3-byte U+FFFD).
        let keep = line_limit.max(doc_limit).max(1024) * 3;
        assert!(
            r.record.len() <= keep,
            "a reject keeps {} bytes",
            r.record.len()
        );
        seen.push((r.line, 0));
    }
    let mut lines: Vec<u64> = seen.iter().map(|s| s.0).collect();
    lines.sort_unstable();
    let n = lines.len();
    lines.dedup();
    assert_eq!(n, lines.len(), "a line was passed on twice");

    // Without gzip, without over-long lines and with valid UTF-8, the chunks hold the input
    // exactly: nothing dropped or duplicated but blank lines.
    if !body.starts_with(&[0x1f, 0x8b]) && out.rejects.is_empty() {
        let Ok(all) = std::str::from_utf8(body) else {
            return;
        };
        let non_blank: Vec<&str> = all
            .split_inclusive('\n')
            .filter(|l| !l.trim().is_empty())
            .collect();
        match doc {
            Some((first, text)) => {
                let from: String = all.split_inclusive('\n').skip(first as usize - 1).collect();
                assert_eq!(
                    text, from,
                    "a document is not the input from its first line"
                );
            }
            None => {
                let got: Vec<&str> = out.chunks.iter().flat_map(|c| c.lines()).collect();
                assert_eq!(got, non_blank, "lines dropped, duplicated or changed");
            }
        }
    }
    // Each passed-on line decodes without panicking, record slices inside it.
    for c in &out.chunks {
        for l in c.lines() {
            for (_, raw) in source::decode_elements(l, &DecodeOptions::default()) {
                assert!(is_slice_of(raw, l));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// sqs_message: body + attributes (+ the payload an s3_event or notification points at).

const SQS_CONFIG: &str = "identity_activity_center:
  s3: /tmp/unused-lake
  tenant: acme
  tenants: [globex]
  cloudtrail_buckets:
    - s3://trail-bucket/AWSLogs/
    - {url: s3://bound-bucket/AWSLogs/, tenant: globex}
  max_keys_per_message: 4
  max_object_bytes: 65536
  max_message_bytes: 131072
  max_line_bytes: 16384
  max_events_per_message: 64
";

/// Fields: body, attributes (`k=v` lines; `gz=1` gzips the payload), payload bytes.
pub fn sqs_message(data: &[u8]) {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        let cfg = IdentityActivityCenter::parse(SQS_CONFIG).expect("fuzz config parses");
        Policy::from_config(&cfg).expect("fuzz policy")
    });
    let f = fields(data, 3);
    let body = text(f[0]);
    let mut attrs = HashMap::new();
    for line in text(f[1]).lines().take(16) {
        if let Some((k, v)) = line.split_once('=') {
            attrs.insert(k.to_string(), v.to_string());
        }
    }
    let mut payload = f[2].to_vec();
    if attrs.get("gz").is_some_and(|v| v == "1") {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&payload).expect("gzip to memory");
        payload = e.finish().expect("gzip to memory");
    }
    let store: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let large = Lake::memory();
    // Put the payload wherever the message points, so decoding goes past the fetch.
    let put = |store: &Arc<dyn object_store::ObjectStore>, p: Path| {
        let bytes = payload.clone();
        let store = store.clone();
        runtime().block_on(async move {
            let _ = store.put(&p, bytes.into()).await;
        });
    };
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body.trim()) {
        if let Some(p) = v.get("path").and_then(|p| p.as_str())
            && let Ok(path) = resolve_large(&large, p)
        {
            put(large.store(), path);
        }
        if let Some(keys) = v.get("s3ObjectKey").and_then(|k| k.as_array()) {
            for k in keys.iter().take(8).filter_map(|k| k.as_str()) {
                if let Ok(p) = Path::parse(k) {
                    put(&store, p);
                }
            }
        }
    }
    let payloads = Payloads::new(Some(large), Vec::new())
        .with_bucket("trail-bucket", store.clone())
        .with_bucket("bound-bucket", store);
    let msg = Received {
        id: "m-1".into(),
        receipt: "r-1".into(),
        body,
        attrs: attrs.clone(),
        sent_ms: None,
        receive_count: 1,
    };
    match runtime().block_on(message::decode(&msg, policy, &payloads)) {
        Ok(d) => {
            assert!(
                d.tenant == "acme" || d.tenant == "globex",
                "tenant {}",
                d.tenant
            );
            if let Some(t) = attrs.get(message::TENANT_ID) {
                assert_eq!(&d.tenant, t, "the tenant is not the one the message named");
            }
            assert!(!d.rows.is_empty(), "an accepted message with no events");
            assert!(
                d.rows.len() <= policy.max_events,
                "more events than max_events_per_message"
            );
            for r in &d.rows {
                check_row(r, &policy.window, &r.event_data.clone());
            }
        }
        Err(refusal) => assert!(!refusal.reason.is_empty(), "a refusal without a reason"),
    }
}

// ---------------------------------------------------------------------------------------------
// trino_udf: the Trino functions over arbitrary strings, numbers and times.

#[derive(Clone, Copy)]
enum Arg {
    Str,
    Int,
    Float,
    Ts,
}
use Arg::{Float, Int, Str, Ts};

const UDFS: &[(&str, &[Arg])] = &[
    ("json_extract_scalar", &[Str, Str]),
    ("json_extract", &[Str, Str]),
    ("json_parse", &[Str]),
    ("json_format", &[Str]),
    ("json_array_length", &[Str]),
    ("json_size", &[Str, Str]),
    ("json_array_contains", &[Str, Str]),
    ("from_iso8601_timestamp", &[Str]),
    ("from_iso8601_date", &[Str]),
    ("to_iso8601", &[Ts]),
    ("date_diff", &[Str, Ts, Ts]),
    ("date_add", &[Str, Int, Ts]),
    ("date_format", &[Ts, Str]),
    ("format_datetime", &[Ts, Str]),
    ("date_parse", &[Str, Str]),
    ("parse_datetime", &[Str, Str]),
    ("from_unixtime", &[Float]),
    ("to_unixtime", &[Ts]),
    ("regexp_extract", &[Str, Str]),
    ("regexp_extract", &[Str, Str, Int]),
    ("url_extract_host", &[Str]),
    ("url_extract_path", &[Str]),
    ("url_extract_protocol", &[Str]),
    ("url_extract_query", &[Str]),
    ("url_extract_fragment", &[Str]),
    ("url_extract_port", &[Str]),
    ("url_extract_parameter", &[Str, Str]),
    ("great_circle_distance", &[Float, Float, Float, Float]),
];

fn int_of(b: &[u8]) -> i64 {
    let s = text(b);
    s.trim()
        .parse()
        .unwrap_or_else(|_| i64::from_le_bytes(pad8(b)))
}

/// Two rows per call: the input's values, then all NULLs (the null path of each function).
fn arg_array(kind: Arg, b: &[u8]) -> ArrayRef {
    match kind {
        Str => Arc::new(StringArray::from(vec![Some(text(b)), None])),
        Int => Arc::new(Int64Array::from(vec![Some(int_of(b)), None])),
        Float => {
            let s = text(b);
            let f = s
                .trim()
                .parse()
                .unwrap_or_else(|_| f64::from_le_bytes(pad8(b)));
            Arc::new(Float64Array::from(vec![Some(f), None]))
        }
        Ts => Arc::new(
            TimestampMillisecondArray::from(vec![Some(int_of(b)), None]).with_timezone("UTC"),
        ),
    }
}

fn call(name: &str, args: &[ArrayRef]) -> Option<ArrayRef> {
    match udf::invoke(name, args, 2) {
        Ok(out) => {
            assert_eq!(out.len(), 2, "{name}: {} rows out of 2", out.len());
            assert!(out.is_null(1), "{name}: all-NULL arguments gave a value");
            Some(out)
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            None
        }
    }
}

fn ts_of(a: &ArrayRef) -> Option<i64> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
    let c = datafusion::arrow::compute::cast(
        a,
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    )
    .ok()?;
    let p = c.as_primitive::<TimestampMillisecondType>();
    p.is_valid(0).then(|| p.value(0))
}

fn str_of(a: &ArrayRef) -> Option<String> {
    use datafusion::arrow::array::AsArray;
    let c =
        datafusion::arrow::compute::cast(a, &datafusion::arrow::datatypes::DataType::Utf8).ok()?;
    let s = c.as_string::<i32>();
    s.is_valid(0).then(|| s.value(0).to_string())
}

/// First byte picks the function; the rest are its arguments, NUL-separated.
pub fn trino_udf(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (name, kinds) = UDFS[pick as usize % UDFS.len()];
    let f = fields(rest, kinds.len());
    let args: Vec<ArrayRef> = kinds
        .iter()
        .zip(&f)
        .map(|(k, b)| arg_array(*k, b))
        .collect();
    let Some(out) = call(name, &args) else {
        return;
    };
    match name {
        // An ISO-8601 time that parses prints back to a text that parses to the same instant.
        "from_iso8601_timestamp" => {
            if let Some(t) = ts_of(&out) {
                let ts: ArrayRef = Arc::new(
                    TimestampMillisecondArray::from(vec![Some(t), None]).with_timezone("UTC"),
                );
                let back = call("to_iso8601", &[ts]).and_then(|a| str_of(&a));
                let back = back.expect("to_iso8601 of a parsed time");
                let again = call(
                    "from_iso8601_timestamp",
                    &[Arc::new(StringArray::from(vec![Some(back.clone()), None]))],
                )
                .and_then(|a| ts_of(&a));
                assert_eq!(again, Some(t), "{back} does not read back as {t} ms");
            }
        }
        // Adding n fixed units then asking for the difference gives n back.
        "date_add" => {
            let unit = text(f[0]).trim().to_ascii_lowercase();
            let fixed = ["millisecond", "second", "minute", "hour", "day", "week"];
            if let (Some(r), true) = (ts_of(&out), fixed.contains(&unit.as_str())) {
                let t0 = ts_of(&args[2]).expect("input time");
                let diff = call(
                    "date_diff",
                    &[
                        args[0].clone(),
                        arg_array(Ts, t0.to_string().as_bytes()),
                        arg_array(Ts, r.to_string().as_bytes()),
                    ],
                )
                .and_then(|a| {
                    use datafusion::arrow::array::AsArray;
                    let p = a.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                    p.is_valid(0).then(|| p.value(0))
                });
                assert_eq!(diff, Some(int_of(f[1])), "date_diff(date_add(n)) is not n");
            }
        }
        // A scalar extracted by a plain `$.key` path is that key's string value.
        "json_extract_scalar" => {
            let (doc, path) = (text(f[0]), text(f[1]));
            let key = path.strip_prefix("$.").unwrap_or("");
            let simple = !key.is_empty()
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !key.starts_with(|c: char| c.is_ascii_digit());
            if simple
                && doc.matches(&format!("\"{key}\"")).count() == 1
                && let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&doc)
                && let Some(serde_json::Value::String(want)) = m.get(key)
            {
                assert_eq!(str_of(&out).as_deref(), Some(want.as_str()), "{doc} {path}");
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// sql_plan: the statement splitter and read-only planning against the real catalog.

fn tiny_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        runtime().block_on(async {
            let lake = Lake::memory();
            for (tenant, text) in [
                ("acme", include_str!("../fixtures/lake/acme.ndjson")),
                ("globex", include_str!("../fixtures/lake/globex.ndjson")),
            ] {
                let mut by_date: std::collections::BTreeMap<_, RowBatchBuilder> =
                    Default::default();
                for line in text.lines().take(200) {
                    if let Ok(row) = source::decode_record(line, None) {
                        by_date
                            .entry(row.event_date())
                            .or_insert_with(|| RowBatchBuilder::with_capacity(64))
                            .push(&row);
                    }
                }
                for (date, mut b) in by_date {
                    let rows = b.len();
                    let opts = auditlake::lake::writer::WriterOptions { geoip: None };
                    let bytes = auditlake::lake::writer::encode(vec![b.finish()], &opts, "fuzz")
                        .expect("encode");
                    auditlake::lake::writer::put_file(&lake, tenant, date, bytes, rows)
                        .await
                        .expect("put");
                }
            }
            let mut o = EngineOptions::new(lake);
            o.tenant = Some("acme".into());
            o.threads = 1;
            Engine::new(o).await.expect("engine over the tiny lake")
        })
    })
}

fn writes(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|p| {
        if matches!(
            p,
            LogicalPlan::Dml(_) | LogicalPlan::Ddl(_) | LogicalPlan::Copy(_)
        ) {
            found = true;
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    found
}

/// The input is a script. `cut` must account for every byte; each statement the splitter
/// keeps is planned read-only (never executed), and no plan may write.
pub fn sql_plan(data: &[u8]) {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    if sql.len() > 16 << 10 {
        return;
    }
    if let Ok(pieces) = statements::cut(sql) {
        for p in &pieces {
            assert!(is_slice_of(p, sql), "a piece is not a slice of the script");
        }
        assert_eq!(pieces.join(";"), sql, "cut does not give back the script");
    }
    let Ok(stmts) = statements::split(sql) else {
        return;
    };
    let engine = tiny_engine();
    for s in stmts.iter().take(4) {
        assert!(!s.trim().is_empty(), "an empty statement was kept");
        let planned = runtime().block_on(async {
            let df = engine.plan_with_params(s, None).await?;
            assert!(!writes(df.logical_plan()), "a read-only plan writes: {s}");
            engine.physical(df).await
        });
        if let Err(e) = planned {
            assert!(!e.to_string().is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// flight_handle: prepared-statement handles and statement tickets from a client.

fn codec() -> &'static HandleCodec {
    static CODEC: OnceLock<HandleCodec> = OnceLock::new();
    CODEC.get_or_init(|| HandleCodec::new(4096, 4096))
}

/// First byte: 0 the bytes as a handle, 1 a body signed with our key (what only a key holder
/// could send), 2 a ticket (`Any`) as DoGet receives it.
pub fn flight_handle(data: &[u8]) {
    use arrow_flight::sql::{Any, Command};
    use prost::Message;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let c = codec();
    match mode % 3 {
        0 => {
            // Forged bytes never decode (a MAC of 2^-256 chance aside).
            assert!(c.decode(rest).is_err(), "an unsigned handle was accepted");
        }
        1 => {
            let sealed = c.seal_raw(rest);
            match c.decode_for(&sealed, "acme") {
                Ok(h) => {
                    assert_eq!(h.tenant, "acme");
                    let _ = c.params(&h);
                    // What we sign, we read back the same.
                    let again = c.encode(&h).expect("encode a decoded handle");
                    assert_eq!(c.decode(&again).expect("our own handle"), h);
                }
                Err(s) => assert!(!s.message().is_empty()),
            }
        }
        _ => {
            let Ok(any) = Any::decode(rest) else {
                return;
            };
            match Command::try_from(any) {
                Ok(Command::TicketStatementQuery(t)) => {
                    if let Ok(sql) = c.statement(&t.statement_handle) {
                        assert!(sql.len() <= 4096);
                    }
                }
                Ok(Command::CommandPreparedStatementQuery(q)) => {
                    let _ = c.decode_for(&q.prepared_statement_handle, "acme");
                }
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// flight_put: the parameters a client binds with DoPut (Arrow IPC inside FlightData).

fn flight_messages(data: &[u8]) -> Vec<arrow_flight::FlightData> {
    use prost::Message;
    let mut out = Vec::new();
    let mut buf = data;
    while !buf.is_empty() && out.len() < 16 {
        match arrow_flight::FlightData::decode_length_delimited(&mut buf) {
            Ok(m) => out.push(m),
            Err(_) => break,
        }
    }
    out
}

/// A valid stream of one batch whose values come from the input, then bytes flipped by it.
fn mutated_stream(data: &[u8]) -> Vec<arrow_flight::FlightData> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let f = fields(data, 3);
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Utf8, true),
        Field::new("b", DataType::Int64, true),
    ]));
    let batch = datafusion::arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![Some(text(f[0]))])),
            Arc::new(Int64Array::from(vec![Some(int_of(f[1]))])),
        ],
    )
    .expect("batch");
    let mut msgs =
        arrow_flight::utils::batches_to_flight_data(&schema, vec![batch]).expect("flight data");
    // Flip: pairs of (message, position, xor) bytes.
    for w in f[2].chunks(4) {
        if let [m, hi, lo, x] = w {
            let Some(msg) = msgs.get_mut(*m as usize % 2) else {
                continue;
            };
            let pos = ((*hi as usize) << 8) | *lo as usize;
            let target = if m & 0x80 != 0 {
                &mut msg.data_header
            } else {
                &mut msg.data_body
            };
            if !target.is_empty() {
                let mut v = target.to_vec();
                let i = pos % v.len();
                v[i] ^= x;
                *target = v.into();
            }
        }
    }
    msgs
}

/// First byte: 0 raw length-delimited FlightData messages, 1 a valid stream mutated.
pub fn flight_put(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let msgs = if mode & 1 == 0 {
        flight_messages(rest)
    } else {
        mutated_stream(rest)
    };
    let stream = futures::stream::iter(msgs.into_iter().map(Ok));
    let max = 1 << 16;
    match runtime().block_on(bind_first_row(stream, max)) {
        Ok(Some(ipc)) => {
            assert!(ipc.len() <= max, "bound parameters over the cap");
            // The handle carries them and gives them back as one value per column.
            let h = Handle {
                sql: "SELECT $1".into(),
                tenant: "acme".into(),
                params_ipc_hex: Some(ipc.iter().map(|b| format!("{b:02x}")).collect()),
            };
            let c = HandleCodec::new(4096, max);
            let _ = c.params(&h);
        }
        Ok(None) => {}
        Err(s) => assert!(!s.message().is_empty()),
    }
}

// ---------------------------------------------------------------------------------------------
// config: the `identity_activity_center:` file.

/// The input is the YAML text; a config that parses must give a policy or a clear refusal,
/// and its derived values must not overflow.
pub fn config(data: &[u8]) {
    let Ok(yaml) = std::str::from_utf8(data) else {
        return;
    };
    if yaml.len() > 64 << 10 {
        return;
    }
    for line in yaml.lines().take(8) {
        if let Ok(d) = parse_duration(line.trim()) {
            assert!(d.as_secs() < u64::MAX);
        }
    }
    match IdentityActivityCenter::parse(yaml) {
        Ok(cfg) => {
            assert!(
                auditlake::tenant::valid(&cfg.tenant),
                "invalid tenant accepted"
            );
            let _ = cfg.visibility();
            let _ = cfg.carries_tenant("acme");
            if let Err(e) = Policy::from_config(&cfg) {
                assert!(!e.is_empty());
            }
        }
        Err(e) => assert!(!e.is_empty(), "a refusal without a reason"),
    }
}

/// The n-gram index beside each data file (`lake::grams`), read from the lake: whatever the
/// bytes, parsing never panics and a parsed index's row runs stay inside its rows, in order.
/// With a first byte other than 0 the rest is NUL-separated values: the index built from them
/// must keep, for every value and every literal cut from it, the granule the value is in (a
/// wrong skip would be a silently wrong `LIKE`).
pub fn gram_index(data: &[u8]) {
    use auditlake::lake::grams::{Builder, GRANULE_ROWS, Index, pattern_grams};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode == 0 {
        if let Ok(ix) = Index::parse(rest) {
            let grams: Vec<u32> = rest
                .chunks_exact(4)
                .take(16)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let runs = ix.kept_runs(&grams);
            let mut end = 0;
            for (s, l) in runs {
                assert!(
                    s >= end && l > 0 && s + l <= ix.rows(),
                    "run {s}+{l} of {}",
                    ix.rows()
                );
                end = s + l;
            }
        }
        return;
    }
    // Repeat the values so that they span several granules.
    let values: Vec<&[u8]> = rest.split(|&b| b == 0).collect();
    let reps = (GRANULE_ROWS * 2 / values.len().max(1)).clamp(1, 64);
    let mut b = Builder::default();
    let all: Vec<&[u8]> = (0..reps).flat_map(|_| values.iter().copied()).collect();
    b.push(all.iter().map(|v| Some(*v)));
    let ix = Index::parse(&b.finish(7)).expect("an index we wrote parses");
    assert_eq!(ix.rows() as usize, all.len());
    for (row, v) in all.iter().enumerate().step_by(97) {
        let Ok(text) = std::str::from_utf8(v) else {
            continue;
        };
        let chars: Vec<char> = text.chars().collect();
        for start in [0, chars.len() / 3, chars.len() / 2] {
            let lit: String = chars[start.min(chars.len())..].iter().take(12).collect();
            let pattern = format!("%{lit}%");
            let g = pattern_grams(&pattern, None);
            let kept = ix
                .kept_runs(&g)
                .iter()
                .any(|&(s, l)| (row as u64) >= s && (row as u64) < s + l);
            assert!(kept, "row {row} ({text:?}) pruned for {pattern:?}");
        }
    }
}
