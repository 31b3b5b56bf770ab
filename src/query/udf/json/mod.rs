//! Trino's JSON functions over jiter: path parsing, one-pass multi-path extraction, and the
//! `json_*` UDFs. JSON values are plain VARCHAR text here (DataFusion has no JSON type).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Int64Builder, ListBuilder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err, plan_err};
use jiter::{Jiter, JiterResult, Peek};

use super::{Strs, str_arg};

/// One step of a Trino JSONPath.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Most steps a JSON path may have (Teleport's deepest field is 4 steps down).
pub const MAX_PATH_DEPTH: usize = 64;
/// Longest JSON path text accepted.
pub const MAX_PATH_BYTES: usize = 4096;

/// Parses the JSONPath subset Trino's `json_extract*` accept: `$`, `.key`, `["key"]`, `['key']`,
/// `[n]`. Teleport's keys contain dots (`addr.remote`), hence the bracket form in the views.
pub fn parse_path(p: &str) -> std::result::Result<Vec<Seg>, String> {
    let b = p.trim().as_bytes();
    if b.first() != Some(&b'$') {
        return Err(format!(
            "Invalid JSON path: '{}' (must start with $)",
            short(p)
        ));
    }
    if b.len() > MAX_PATH_BYTES {
        return Err(format!(
            "Invalid JSON path: '{}' ({} bytes; at most {MAX_PATH_BYTES})",
            short(p),
            b.len()
        ));
    }
    let mut segs = Vec::new();
    let mut i = 1;
    while i < b.len() {
        // The walk over a document recurses once per segment: bound it here, before any
        // document is read, so no client-chosen path can exhaust the stack.
        if segs.len() >= MAX_PATH_DEPTH {
            return Err(format!(
                "Invalid JSON path: '{}' (more than {MAX_PATH_DEPTH} steps)",
                short(p)
            ));
        }
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j == start {
                    return Err(format!("Invalid JSON path: '{p}' (empty key at {start})"));
                }
                segs.push(Seg::Key(p.trim()[start..j].to_string()));
                i = j;
            }
            b'[' => {
                let close_quote =
                    |q: u8, from: usize| -> std::result::Result<(String, usize), String> {
                        let mut out = Vec::new();
                        let mut j = from;
                        while j < b.len() {
                            if b[j] == b'\\' && j + 1 < b.len() {
                                out.push(b[j + 1]);
                                j += 2;
                                continue;
                            }
                            if b[j] == q {
                                break;
                            }
                            out.push(b[j]);
                            j += 1;
                        }
                        if j + 1 >= b.len() || b[j] != q || b[j + 1] != b']' {
                            return Err(format!("Invalid JSON path: '{p}' (unclosed bracket)"));
                        }
                        Ok((String::from_utf8_lossy(&out).into_owned(), j + 2))
                    };
                match b.get(i + 1) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let (k, next) = close_quote(q, i + 2)?;
                        segs.push(Seg::Key(k));
                        i = next;
                    }
                    _ => {
                        let end = b[i..].iter().position(|&c| c == b']').map(|x| x + i);
                        let Some(end) = end else {
                            return Err(format!("Invalid JSON path: '{p}' (unclosed bracket)"));
                        };
                        let n = std::str::from_utf8(&b[i + 1..end])
                            .ok()
                            .and_then(|s| s.trim().parse::<usize>().ok())
                            .ok_or_else(|| format!("Invalid JSON path: '{p}' (bad subscript)"))?;
                        segs.push(Seg::Index(n));
                        i = end + 1;
                    }
                }
            }
            b' ' => i += 1,
            c => {
                return Err(format!(
                    "Invalid JSON path: '{p}' (unexpected '{}')",
                    c as char
                ));
            }
        }
    }
    Ok(segs)
}

/// What an extraction returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `json_extract_scalar`: text of a string/number/boolean, NULL otherwise.
    Scalar,
    /// `json_extract`: the value as compact JSON text.
    Json,
    /// `CAST(json_extract(..) AS ARRAY<VARCHAR>)` (rewrite R1).
    ArrayVarchar,
}

impl Mode {
    pub fn data_type(self) -> DataType {
        match self {
            Mode::Scalar | Mode::Json => DataType::Utf8,
            Mode::ArrayVarchar => list_utf8(),
        }
    }
}

pub fn list_utf8() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

/// A set of paths compiled into a trie, so one walk over a document finds all of them.
#[derive(Debug)]
pub struct PathSet {
    nodes: Vec<Node>,
    targets: usize,
    /// `"key"` of each first-level key wanted: when none occurs in a document's bytes, no path
    /// can match and the document is not parsed at all (a SIMD substring search is ~20× faster
    /// than a parse, and "field absent" is the common case of `… IS NULL` filters).
    needles: Vec<memchr::memmem::Finder<'static>>,
}

#[derive(Debug, Default)]
struct Node {
    keys: Vec<(String, usize)>,
    idx: Vec<(usize, usize)>,
    targets: Vec<usize>,
}

impl PathSet {
    pub fn new(paths: &[Vec<Seg>]) -> Self {
        let mut nodes = vec![Node::default()];
        for (t, path) in paths.iter().enumerate() {
            let mut n = 0;
            for seg in path {
                let found = match seg {
                    Seg::Key(k) => nodes[n].keys.iter().find(|(kk, _)| kk == k).map(|x| x.1),
                    Seg::Index(i) => nodes[n].idx.iter().find(|(ii, _)| ii == i).map(|x| x.1),
                };
                n = match found {
                    Some(c) => c,
                    None => {
                        nodes.push(Node::default());
                        let c = nodes.len() - 1;
                        match seg {
                            Seg::Key(k) => nodes[n].keys.push((k.clone(), c)),
                            Seg::Index(i) => nodes[n].idx.push((*i, c)),
                        }
                        c
                    }
                };
            }
            nodes[n].targets.push(t);
        }
        let mut needles = Vec::new();
        for (k, _) in &nodes[0].keys {
            let quoted = serde_json::to_string(k).unwrap_or_default();
            needles.push(memchr::memmem::Finder::new(quoted.as_bytes()).into_owned());
        }
        // A path at the root (`$`) or through an array index needs a parse.
        if !nodes[0].targets.is_empty() || !nodes[0].idx.is_empty() {
            needles.clear();
        }
        PathSet {
            nodes,
            targets: paths.len(),
            needles,
        }
    }

    /// True when no wanted key can be in `doc`. Keys written with `\u` escapes defeat the
    /// byte search, so such documents are always parsed.
    fn surely_absent(&self, doc: &[u8]) -> bool {
        !self.needles.is_empty()
            && self.needles.iter().all(|f| f.find(doc).is_none())
            && memchr::memmem::find(doc, b"\\u").is_none()
    }

    /// Finds every path in one pass; `out[t]` gets the type and raw text of path `t`'s value.
    /// Invalid JSON leaves the paths not yet found as `None` (Trino: NULL).
    pub fn find<'j>(&self, doc: &'j [u8], out: &mut Vec<Option<(Peek, &'j [u8])>>) {
        out.clear();
        out.resize(self.targets, None);
        if self.surely_absent(doc) {
            return;
        }
        let mut j = Jiter::new(doc);
        let mut remaining = self.targets;
        if let Ok(peek) = j.peek() {
            let _ = self.walk(&mut j, peek, 0, out, &mut remaining, true);
        }
    }

    /// Returns Ok(true) once every target is found. A node stops reading early only when no
    /// node above it captures its raw text (`can_stop`), so captured slices are always whole.
    fn walk<'j>(
        &self,
        j: &mut Jiter<'j>,
        peek: Peek,
        n: usize,
        out: &mut [Option<(Peek, &'j [u8])>],
        remaining: &mut usize,
        can_stop: bool,
    ) -> JiterResult<bool> {
        let node = &self.nodes[n];
        let start = j.current_index();
        let stop_ok = can_stop && node.targets.is_empty();
        if peek == Peek::Object && !node.keys.is_empty() {
            // Keys are compared where jiter decoded them, never copied: a Teleport event has
            // ~20 keys and only a few are wanted.
            let lookup = |k: &str| node.keys.iter().find(|(kk, _)| kk == k).map(|x| x.1);
            let mut key = j.known_object()?.map(&lookup);
            while let Some(child) = key {
                match child {
                    Some(child) => {
                        let p = j.peek()?;
                        if self.walk(j, p, child, out, remaining, stop_ok)? && stop_ok {
                            return Ok(true);
                        }
                    }
                    None => j.next_skip()?,
                }
                key = j.next_key()?.map(&lookup);
            }
        } else if peek == Peek::Array && !node.idx.is_empty() {
            let mut p = j.known_array()?;
            let mut i = 0usize;
            while let Some(pp) = p {
                match node.idx.iter().find(|(ii, _)| *ii == i) {
                    Some(&(_, child)) => {
                        if self.walk(j, pp, child, out, remaining, stop_ok)? && stop_ok {
                            return Ok(true);
                        }
                    }
                    None => j.known_skip(pp)?,
                }
                i += 1;
                p = j.array_step()?;
            }
        } else {
            j.known_skip(peek)?;
        }
        if !node.targets.is_empty() {
            let raw = j.slice_to_current(start);
            for &t in &node.targets {
                if out[t].is_none() {
                    out[t] = Some((peek, raw));
                    *remaining -= 1;
                }
            }
        }
        Ok(*remaining == 0)
    }
}

/// JSON text without insignificant whitespace (what Trino's `json_extract` prints).
pub fn compact(raw: &[u8], out: &mut String) {
    let mut in_str = false;
    let mut esc = false;
    let start = out.len();
    let mut bytes = Vec::with_capacity(raw.len());
    for &c in raw {
        if in_str {
            bytes.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if !c.is_ascii_whitespace() {
            if c == b'"' {
                in_str = true;
            }
            bytes.push(c);
        }
    }
    debug_assert_eq!(out.len(), start);
    out.push_str(&String::from_utf8_lossy(&bytes));
}

/// Appends one extracted value to its builder, following Trino's rules for each mode.
pub enum Out {
    Str(StringBuilder),
    List(ListBuilder<StringBuilder>),
}

impl Out {
    pub fn new(mode: Mode, rows: usize) -> Self {
        match mode {
            Mode::Scalar | Mode::Json => Out::Str(StringBuilder::with_capacity(rows, rows * 8)),
            Mode::ArrayVarchar => Out::List(ListBuilder::new(StringBuilder::new())),
        }
    }

    pub fn finish(self) -> ArrayRef {
        match self {
            Out::Str(mut b) => Arc::new(b.finish()),
            Out::List(mut b) => Arc::new(b.finish()),
        }
    }

    pub fn push(&mut self, mode: Mode, v: Option<(Peek, &[u8])>, scratch: &mut String) {
        match (self, mode) {
            (Out::Str(b), Mode::Scalar) => match v {
                Some((p, raw)) => match scalar_text(p, raw) {
                    Some(s) => b.append_value(s),
                    None => b.append_null(),
                },
                None => b.append_null(),
            },
            (Out::Str(b), _) => match v {
                Some((_, raw)) => {
                    scratch.clear();
                    compact(raw, scratch);
                    b.append_value(&*scratch);
                }
                None => b.append_null(),
            },
            (Out::List(b), _) => match v.map(|(p, raw)| array_varchar(p, raw)) {
                Some(Some(items)) => {
                    for it in items {
                        b.values().append_option(it);
                    }
                    b.append(true);
                }
                _ => b.append(false),
            },
        }
    }
}

/// `json_extract_scalar`'s text for a value: strings unquoted, numbers as written.
pub fn scalar_text(p: Peek, raw: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    match p {
        // Most strings have no escapes: borrow the text between the quotes.
        Peek::String if raw.len() >= 2 && !raw.contains(&b'\\') => {
            std::str::from_utf8(&raw[1..raw.len() - 1])
                .ok()
                .map(Cow::Borrowed)
        }
        Peek::String => Jiter::new(raw)
            .next_str()
            .ok()
            .map(|s| Cow::Owned(s.to_string())),
        Peek::True => Some(Cow::Borrowed("true")),
        Peek::False => Some(Cow::Borrowed("false")),
        Peek::Null | Peek::Array | Peek::Object => None,
        _ => std::str::from_utf8(raw).ok().map(Cow::Borrowed),
    }
}

/// `CAST(json AS ARRAY(VARCHAR))`: JSON null → NULL; elements: strings as text, numbers as
/// written, booleans as `true`/`false`, null → NULL element. Trino raises on a non-array or a
/// nested element; we give NULL instead, because DataFusion may evaluate a projection on rows a
/// view's filter would reject (see the note in `mod.rs`).
fn array_varchar(p: Peek, raw: &[u8]) -> Option<Vec<Option<String>>> {
    if p != Peek::Array {
        return None;
    }
    let mut j = Jiter::new(raw);
    let mut items = Vec::new();
    let mut next = j.next_array().ok()?;
    while let Some(pp) = next {
        let start = j.current_index();
        match pp {
            Peek::Null => {
                j.known_null().ok()?;
                items.push(None);
            }
            Peek::Array | Peek::Object => return None,
            _ => {
                j.known_skip(pp).ok()?;
                let raw = j.slice_to_current(start);
                items.push(Some(scalar_text(pp, raw)?.into_owned()));
            }
        }
        next = j.array_step().ok()?;
    }
    Some(items)
}

/// Extracts `(mode, path)` pairs from a column of documents in one pass per row.
pub fn extract_many(docs: &Strs<'_>, rows: usize, specs: &[(Mode, Vec<Seg>)]) -> Vec<ArrayRef> {
    let set = PathSet::new(&specs.iter().map(|s| s.1.clone()).collect::<Vec<_>>());
    let mut outs: Vec<Out> = specs.iter().map(|s| Out::new(s.0, rows)).collect();
    let mut found = Vec::new();
    let mut scratch = String::new();
    for i in 0..rows {
        match docs.get(i) {
            Some(d) => set.find(d.as_bytes(), &mut found),
            None => {
                found.clear();
                found.resize(specs.len(), None);
            }
        }
        for (k, (mode, _)) in specs.iter().enumerate() {
            outs[k].push(*mode, found[k], &mut scratch);
        }
    }
    outs.into_iter().map(Out::finish).collect()
}

/// `json_extract_scalar`, `json_extract` and the R1 target, with per-row paths (cached when
/// they repeat, which is the usual case of a literal path).
pub fn extract(args: &[ArrayRef], rows: usize, mode: Mode) -> Result<ArrayRef> {
    let docs = Strs::new(&args[0])?;
    let paths = Strs::new(&args[1])?;
    if let Some(p) = constant(&paths, rows) {
        let Some(p) = p else {
            return Ok(datafusion::arrow::array::new_null_array(
                &mode.data_type(),
                rows,
            ));
        };
        let path = parse_path(p).map_err(datafusion::common::DataFusionError::Execution)?;
        return Ok(extract_many(&docs, rows, &[(mode, path)]).remove(0));
    }
    let mut out = Out::new(mode, rows);
    let mut found = Vec::new();
    let mut scratch = String::new();
    let mut last: Option<(String, PathSet)> = None;
    for i in 0..rows {
        let (Some(d), Some(p)) = (docs.get(i), paths.get(i)) else {
            out.push(mode, None, &mut scratch);
            continue;
        };
        if last.as_ref().map(|l| l.0 != p).unwrap_or(true) {
            let path = parse_path(p).map_err(datafusion::common::DataFusionError::Execution)?;
            last = Some((p.to_string(), PathSet::new(&[path])));
        }
        let set = &last.as_ref().expect("set above").1;
        set.find(d.as_bytes(), &mut found);
        out.push(mode, found[0], &mut scratch);
    }
    Ok(out.finish())
}

/// `Some(value)` when every row holds the same path (a literal), so it is parsed once.
fn constant<'a>(s: &Strs<'a>, rows: usize) -> Option<Option<&'a str>> {
    if rows == 0 {
        return None;
    }
    let first = s.get(0);
    if s.is_scalar_like(rows) {
        return Some(first);
    }
    None
}

fn parse_value(s: &str) -> Option<serde_json::Value> {
    serde_json::from_str(s).ok()
}

/// Trino's canonical JSON text: compact, object keys sorted.
fn canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `json_parse(varchar)`: raises on invalid JSON, as Trino does.
pub fn json_parse(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let s = Strs::new(&args[0])?;
    let mut b = StringBuilder::with_capacity(rows, rows * 16);
    let mut buf = String::new();
    for i in 0..rows {
        match s.get(i) {
            None => b.append_null(),
            Some(t) => match serde_json::from_str::<serde_json::Value>(t) {
                Ok(v) => {
                    buf.clear();
                    canonical(&v, &mut buf);
                    b.append_value(&buf);
                }
                Err(e) => return exec_err!("Cannot convert value to JSON: '{}': {e}", short(t)),
            },
        }
    }
    Ok(Arc::new(b.finish()))
}

fn short(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// `json_format(json)`: JSON text is already its own format here.
pub fn json_format(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let s = Strs::new(&args[0])?;
    let mut b = StringBuilder::with_capacity(rows, rows * 16);
    let mut buf = String::new();
    for i in 0..rows {
        match s.get(i) {
            None => b.append_null(),
            Some(t) => {
                buf.clear();
                compact(t.as_bytes(), &mut buf);
                b.append_value(&buf);
            }
        }
    }
    Ok(Arc::new(b.finish()))
}

/// `json_array_length(json)`: NULL when not an array.
pub fn json_array_length(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let s = Strs::new(&args[0])?;
    let mut b = Int64Builder::with_capacity(rows);
    for i in 0..rows {
        b.append_option(
            s.get(i)
                .and_then(parse_value)
                .and_then(|v| v.as_array().map(|a| a.len() as i64)),
        );
    }
    Ok(Arc::new(b.finish()))
}

/// `json_size(json, path)`: keys of an object, elements of an array, 0 for a scalar.
pub fn json_size(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let json = extract(args, rows, Mode::Json)?;
    let s = Strs::new(&json)?;
    let mut b = Int64Builder::with_capacity(rows);
    for i in 0..rows {
        b.append_option(s.get(i).and_then(parse_value).map(|v| match v {
            serde_json::Value::Object(m) => m.len() as i64,
            serde_json::Value::Array(a) => a.len() as i64,
            _ => 0,
        }));
    }
    Ok(Arc::new(b.finish()))
}

/// `json_array_contains(json, value)`: NULL when the JSON is not an array.
pub fn json_array_contains(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{Float64Type, Int64Type};
    let s = Strs::new(&args[0])?;
    let needle = &args[1];
    let mut b = BooleanBuilder::with_capacity(rows);
    for i in 0..rows {
        let Some(arr) = s.get(i).and_then(parse_value) else {
            b.append_null();
            continue;
        };
        let Some(arr) = arr.as_array() else {
            b.append_null();
            continue;
        };
        if needle.is_null(i) {
            b.append_null();
            continue;
        }
        let hit = match needle.data_type() {
            DataType::Boolean => {
                let x = needle.as_boolean().value(i);
                arr.iter().any(|v| v.as_bool() == Some(x))
            }
            DataType::Int64 => {
                let x = needle.as_primitive::<Int64Type>().value(i);
                arr.iter()
                    .any(|v| v.as_i64() == Some(x) || (v.is_f64() && v.as_f64() == Some(x as f64)))
            }
            DataType::Float64 => {
                let x = needle.as_primitive::<Float64Type>().value(i);
                arr.iter().any(|v| v.as_f64() == Some(x))
            }
            _ => {
                let n = Strs::new(needle)?;
                let x = n.get(i).unwrap_or_default();
                arr.iter().any(|v| v.as_str() == Some(x))
            }
        };
        b.append_value(hit);
    }
    Ok(Arc::new(b.finish()))
}

/// Coercion for `json_array_contains`: numbers to BIGINT or DOUBLE, the rest to VARCHAR.
pub fn coerce_contains(types: &[DataType]) -> Result<Vec<DataType>> {
    if types.len() != 2 {
        return plan_err!("json_array_contains(json, value) takes 2 arguments");
    }
    let v = match &types[1] {
        DataType::Boolean => DataType::Boolean,
        t if t.is_integer() => DataType::Int64,
        t if t.is_floating() || matches!(t, DataType::Decimal128(..)) => DataType::Float64,
        _ => DataType::Utf8,
    };
    Ok(vec![str_arg(&types[0]), v])
}

#[cfg(test)]
mod tests;
