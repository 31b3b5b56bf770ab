//! Source decoders: detect which source a record came from and map it into a `Row`.
//!
//! Four sources: Teleport audit events, AWS CloudTrail records (single or `{"Records":[…]}` log
//! files), GitHub organization audit log entries and Okta System Log events. `event_data` keeps
//! each record's own bytes; the typed columns are derived from it as `docs/sources.md` tables.

mod cloudtrail;
mod github;
pub mod json;
mod okta;
mod teleport;
mod window;

use std::borrow::Cow;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;
use serde_json::value::RawValue;

pub use json::{J, Obj};

use crate::schema::Row;

/// Where a record came from; `as_str` is the `event_source` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Teleport,
    CloudTrail,
    GitHub,
    Okta,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Teleport => "teleport",
            SourceKind::CloudTrail => "aws",
            SourceKind::GitHub => "github",
            SourceKind::Okta => "okta",
        }
    }
}

impl FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "teleport" => Ok(SourceKind::Teleport),
            "cloudtrail" | "aws" => Ok(SourceKind::CloudTrail),
            "github" => Ok(SourceKind::GitHub),
            "okta" => Ok(SourceKind::Okta),
            other => Err(format!(
                "unknown source '{other}' (teleport, cloudtrail, github, okta)"
            )),
        }
    }
}

/// Why a record was rejected, in the words a reject file shows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// `invalid JSON at column 23: EOF while parsing an object` (the line is named too when the
    /// text has more than one).
    #[error("invalid JSON at {0}")]
    Json(String),
    #[error("expected a JSON object, found {0}")]
    NotObject(&'static str),
    #[error("unknown record shape: not Teleport, CloudTrail, GitHub or Okta (keys: {0})")]
    UnknownShape(String),
    #[error("missing event time (field `{0}`)")]
    MissingTime(&'static str),
    #[error("invalid event time {value:?} in `{field}`")]
    BadTime { field: &'static str, value: String },
    #[error("missing required field `{0}` for a {1} record")]
    Missing(&'static str, &'static str),
    /// A time that parses but cannot be a real audit event's (epoch µs/ns read as ms, year
    /// 10000, a negative year): it would land in a partition no reader lists.
    #[error("event time {value} is outside the plausible window {window}{hint}")]
    TimeOutOfWindow {
        value: String,
        window: TimeWindow,
        hint: &'static str,
    },
}

pub use window::{DEFAULT_TIME_MAX_MS, DEFAULT_TIME_MIN_MS, TimeWindow};

/// How records are decoded: an optional forced source and the plausible time window.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeOptions {
    pub forced: Option<SourceKind>,
    pub window: TimeWindow,
}

/// Picks the source of one record from its keys. GitHub goes first: its entries also carry
/// `action` and sometimes `event`, which would otherwise look like Teleport.
pub fn detect(obj: &Obj<'_>) -> Option<SourceKind> {
    let has = |k: &str| obj.contains_key(k);
    if has("_document_id")
        || has("@timestamp")
        || (has("action") && has("actor") && (has("org") || has("created_at")))
    {
        return Some(SourceKind::GitHub);
    }
    if has("eventVersion") || (has("eventSource") && has("eventName") && has("eventTime")) {
        return Some(SourceKind::CloudTrail);
    }
    if has("eventType") && has("published") {
        return Some(SourceKind::Okta);
    }
    if obj.get("event").is_some_and(J::is_string) && (has("time") || has("code") || has("uid")) {
        return Some(SourceKind::Teleport);
    }
    None
}

/// serde_json's error as `column 23: EOF while parsing a value` (or `line 3, column 5: …`).
fn json_error(e: &serde_json::Error) -> DecodeError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    DecodeError::Json(if e.line() <= 1 {
        format!("column {}: {msg}", e.column())
    } else {
        format!("line {}, column {}: {msg}", e.line(), e.column())
    })
}

/// The keys of an unrecognised record, for the error: the first five, then `…`.
fn key_list(obj: &Obj<'_>) -> String {
    if obj.is_empty() {
        return "none".into();
    }
    let mut keys: Vec<&str> = obj.keys().take(6).collect();
    if keys.len() > 5 {
        keys.truncate(5);
        keys.push("…");
    }
    keys.join(", ")
}

#[derive(Deserialize)]
struct LogFile<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
}

/// One input line or whole document → one result per record. An object is one record, a
/// CloudTrail log file (`{"Records":[…]}`) one per element, a JSON array one per element.
/// Invalid JSON is exactly one error.
pub fn decode_text(text: &str, forced: Option<SourceKind>) -> Vec<Result<Row<'_>, DecodeError>> {
    decode_text_with(
        text,
        &DecodeOptions {
            forced,
            ..Default::default()
        },
    )
}

/// `decode_text` with explicit options (the pipelines pass the configured time window).
pub fn decode_text_with<'t>(
    text: &'t str,
    opts: &DecodeOptions,
) -> Vec<Result<Row<'t>, DecodeError>> {
    decode_elements(text, opts)
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// Like `decode_text_with`, each result beside the text of its record (the element's slice
/// of a document), so a reject can show the one bad record rather than the whole document.
pub fn decode_elements<'t>(
    text: &'t str,
    opts: &DecodeOptions,
) -> Vec<(Result<Row<'t>, DecodeError>, &'t str)> {
    let t = text.trim_start();
    if t.starts_with('[') {
        return match serde_json::from_str::<Vec<&RawValue>>(text) {
            // An element may itself be a CloudTrail log file (an array of downloaded files).
            Ok(items) => items
                .iter()
                .flat_map(|r| match log_file(r.get()) {
                    Some(file) => file
                        .records
                        .iter()
                        .map(|x| (decode_record_with(x.get(), opts), x.get()))
                        .collect(),
                    None => vec![(decode_record_with(r.get(), opts), r.get())],
                })
                .collect(),
            Err(e) => vec![(Err(json_error(&e)), text)],
        };
    }
    if let Some(file) = log_file(text) {
        return file
            .records
            .iter()
            .map(|r| (decode_record_with(r.get(), opts), r.get()))
            .collect();
    }
    vec![(decode_record_with(text, opts), text)]
}

/// Could this text (or its first bytes) open a one-line JSON document that may be longer than
/// a record: a leading `[`, or `{` whose first key is `"Records"` (a CloudTrail log file)?
/// Tolerant of a prefix cut short (`{"Rec`), since it is asked of a line's first bytes.
pub fn looks_like_document(text: &str) -> bool {
    let t = text.trim_start();
    if t.is_empty() || t.starts_with('[') {
        return !t.is_empty();
    }
    let Some(rest) = t.strip_prefix('{') else {
        return false;
    };
    let rest = rest.trim_start();
    const KEY: &str = "\"Records\"";
    rest.starts_with(KEY) || KEY.starts_with(rest)
}

/// Is this multi-line text, as a whole, one JSON value (an array, a `{"Records":[…]}` log file
/// or one pretty-printed record)? `decode_text` then reads it as one document.
pub fn is_document(text: &str) -> bool {
    let t = text.trim_start();
    (t.starts_with('[') || t.starts_with('{'))
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// `{"Records":[…]}` with the elements' own text; None for anything else (a record that merely
/// has a `Records` field that is not an array decodes as a record).
fn log_file(text: &str) -> Option<LogFile<'_>> {
    let t = text.trim_start();
    // memmem: a SIMD search (str::contains was 1 % of decoding, on every record).
    if !t.starts_with('{') || memchr::memmem::find(t.as_bytes(), b"\"Records\"").is_none() {
        return None;
    }
    serde_json::from_str::<LogFile<'_>>(text).ok()
}

/// Decodes one record (the raw JSON text of an object).
pub fn decode_record(raw: &str, forced: Option<SourceKind>) -> Result<Row<'_>, DecodeError> {
    decode_record_with(
        raw,
        &DecodeOptions {
            forced,
            ..Default::default()
        },
    )
}

/// `decode_record` with explicit options.
pub fn decode_record_with<'a>(raw: &'a str, opts: &DecodeOptions) -> Result<Row<'a>, DecodeError> {
    let forced = opts.forced;
    let v: J<'a> = serde_json::from_str(raw).map_err(|e| json_error(&e))?;
    let J::Obj(obj) = &v else {
        return Err(DecodeError::NotObject(v.kind_name()));
    };
    let kind = match forced {
        Some(k) => k,
        None => detect(obj).ok_or_else(|| DecodeError::UnknownShape(key_list(obj)))?,
    };
    let mut row = match kind {
        SourceKind::Teleport => teleport::decode(obj)?,
        SourceKind::CloudTrail => cloudtrail::decode(obj)?,
        SourceKind::GitHub => github::decode(obj)?,
        SourceKind::Okta => okta::decode(obj)?,
    };
    opts.window.check(row.event_time_ms)?;
    row.event_source = Cow::Borrowed(kind.as_str());
    if row.uid.is_empty() {
        row.uid = Cow::Owned(fallback_uid(raw));
    }
    row.event_data = Cow::Borrowed(raw.trim());
    Ok(row)
}

/// An empty row to fill; decoders set what their source has.
pub(crate) fn blank<'a>() -> Row<'a> {
    Row {
        event_source: Cow::Borrowed(""),
        identity: None,
        identity_kind: None,
        identity_id: None,
        token: None,
        action: None,
        origin: None,
        status: None,
        ip: None,
        city: None,
        country: None,
        region: None,
        latitude: None,
        longitude: None,
        target_resource: None,
        target_kind: None,
        target_location: None,
        target_id: None,
        user_agent: None,
        event_type: Cow::Borrowed(""),
        event_time_ms: 0,
        uid: Cow::Borrowed(""),
        event_data: Cow::Borrowed(""),
        aws_account_id: None,
        aws_service: None,
        github_organization: None,
        github_repo: None,
        okta_org: None,
        teleport_cluster: None,
    }
}

/// A field as text: strings as they are (borrowed from the record when they had no
/// escapes), numbers and booleans printed; empty → None.
pub(crate) fn text<'a>(v: Option<&J<'a>>) -> Option<Cow<'a, str>> {
    match v? {
        J::Str(s) if s.is_empty() => None,
        J::Str(Cow::Borrowed(s)) => Some(Cow::Borrowed(s)),
        J::Str(Cow::Owned(s)) => Some(Cow::Owned(s.clone())),
        J::Num(n) => Some(Cow::Owned(n.to_string())),
        J::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// Follows a path of object keys.
pub(crate) fn at<'o, 'a>(obj: &'o Obj<'a>, path: &[&str]) -> Option<&'o J<'a>> {
    let (first, rest) = path.split_first()?;
    let mut cur = obj.get(first)?;
    for k in rest {
        cur = cur.as_object()?.get(k)?;
    }
    Some(cur)
}

pub(crate) fn text_at<'a>(obj: &Obj<'a>, path: &[&str]) -> Option<Cow<'a, str>> {
    text(at(obj, path))
}

/// ISO-8601 / RFC 3339 → UTC milliseconds (sub-millisecond digits truncated). A time without
/// zone is UTC.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    if let Ok(d) = chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(d.timestamp_millis());
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc().timestamp_millis());
        }
    }
    None
}

/// The required event time of a record from `field` (a string, or epoch milliseconds).
pub(crate) fn time_field(obj: &Obj<'_>, field: &'static str) -> Result<i64, DecodeError> {
    match obj.get(field) {
        None | Some(J::Null) => Err(DecodeError::MissingTime(field)),
        Some(J::Str(s)) => parse_time(s).ok_or_else(|| DecodeError::BadTime {
            field,
            value: s.to_string(),
        }),
        Some(J::Num(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| DecodeError::BadTime {
                field,
                value: n.to_string(),
            }),
        Some(other) => Err(DecodeError::BadTime {
            field,
            value: other.to_string(),
        }),
    }
}

/// A client address without port or brackets; None when it is not an IP (a hostname, "AWS
/// Internal"). Printed canonically (`::1`, not `0:0:0:0:0:0:0:1`); borrowed from the record
/// when the record already wrote it that way (nearly always).
pub(crate) fn clean_ip(s: Cow<'_, str>) -> Option<Cow<'_, str>> {
    match s {
        Cow::Borrowed(b) => {
            let (ip, part) = ip_part(b)?;
            Some(canonical_ip(ip, part))
        }
        Cow::Owned(o) => ip_part(&o).map(|(ip, _)| Cow::Owned(ip.to_string())),
    }
}

/// `part` when it is already the canonical text of `ip`, else that text.
fn canonical_ip(ip: IpAddr, part: &str) -> Cow<'_, str> {
    use std::io::Write;
    // The longest IPv6 text is 45 bytes.
    let mut buf = [0u8; 64];
    let mut w = &mut buf[..];
    if write!(w, "{ip}").is_ok() {
        let n = 64 - w.len();
        if &buf[..n] == part.as_bytes() {
            return Cow::Borrowed(part);
        }
    }
    Cow::Owned(ip.to_string())
}

/// The address in a client-address field, and the text it was read from.
fn ip_part(s: &str) -> Option<(IpAddr, &str)> {
    // A forwarded chain ("client, proxy1, proxy2") names the client first.
    let s = s.split(',').next().unwrap_or_default().trim();
    if s.is_empty() {
        return None;
    }
    // An IPv6 zone ("fe80::1%eth0") is local routing detail, not part of the address.
    if !s.starts_with('[')
        && let Some((addr, _zone)) = s.split_once('%')
    {
        return addr.parse::<IpAddr>().ok().map(|ip| (ip, addr));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, s));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let inner = rest[..end].split('%').next().unwrap_or_default();
        return inner.parse::<IpAddr>().ok().map(|ip| (ip, inner));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        let host = s.rsplit_once(':').map_or(s, |(h, _)| h);
        return Some((sa.ip(), host));
    }
    // "1.2.3.4:5" is a SocketAddr; anything else with one colon is host:port of a name.
    None
}

/// A deterministic id for a record whose source has none: the same record always gets the
/// same uid, so re-ingesting it does not mint a new identity.
pub(crate) fn fallback_uid(raw: &str) -> String {
    // Two FNV-1a 64-bit hashes with different offsets make 128 bits.
    let fnv = |seed: u64| {
        let mut h = seed;
        for b in raw.trim().bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h
    };
    let (a, b) = (fnv(0xcbf29ce484222325), fnv(0x84222325cbf29ce4));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit_tests {
    use super::*;

    fn err(text: &str) -> String {
        let mut res = decode_text(text, None);
        assert_eq!(res.len(), 1, "{text}");
        res.remove(0).unwrap_err().to_string()
    }

    #[test]
    fn ips_lose_ports_and_brackets() {
        for (input, want) in [
            ("203.0.113.7:51454", Some("203.0.113.7")),
            ("203.0.113.7", Some("203.0.113.7")),
            ("[2001:db8::1]:3022", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("::1", Some("::1")),
            ("fe80::1%eth0", Some("fe80::1")),
            ("[fe80::1%eth0]:22", Some("fe80::1")),
            ("198.51.100.1, 10.0.0.1", Some("198.51.100.1")),
            ("cloudtrail.amazonaws.com", None),
            ("AWS Internal", None),
            ("host.example:443", None),
            ("", None),
        ] {
            assert_eq!(clean_ip(Cow::Borrowed(input)).as_deref(), want, "{input}");
            assert_eq!(
                clean_ip(Cow::Owned(input.to_string())).as_deref(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn times_to_utc_millis() {
        for (input, want) in [
            ("2024-03-20T12:12:03Z", Some(1_710_936_723_000)),
            ("2024-03-20T12:12:03.374Z", Some(1_710_936_723_374)),
            ("2024-03-20T12:12:03.3749999Z", Some(1_710_936_723_374)),
            ("2024-03-20T12:12:03.123456789Z", Some(1_710_936_723_123)),
            ("2024-03-20T13:12:03.5+01:00", Some(1_710_936_723_500)),
            ("2024-03-20T12:12:03+0000", Some(1_710_936_723_000)),
            ("2024-03-20T12:12:03", Some(1_710_936_723_000)),
            ("2024-03-20T12:12:03.25", Some(1_710_936_723_250)),
            ("yesterday", None),
            ("2024-03-20", None),
        ] {
            assert_eq!(parse_time(input), want, "{input}");
        }
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            err(r#"{"event":"user.login","code":"#),
            "invalid JSON at column 29: EOF while parsing a value"
        );
        assert!(err("{\n\"a\":\n}").starts_with("invalid JSON at line 3, column 1: "));
        assert_eq!(
            err("[1, 2"),
            "invalid JSON at column 5: EOF while parsing a list"
        );
        assert_eq!(
            err(r#"{"event":"user.login","code":"T1000I","uid":"x"}"#),
            "missing event time (field `time`)"
        );
        assert_eq!(
            err(r#"{"event":"user.login","time":"yesterday"}"#),
            r#"invalid event time "yesterday" in `time`"#
        );
        assert_eq!(
            err(r#"{"eventVersion":"1.08","eventName":"X","eventTime":"soon"}"#),
            r#"invalid event time "soon" in `eventTime`"#
        );
        assert_eq!(
            err(r#"{"uuid":"u","eventType":"x","published":null}"#),
            "missing event time (field `published`)"
        );
        assert_eq!(
            err(r#"{"hello":"world"}"#),
            "unknown record shape: not Teleport, CloudTrail, GitHub or Okta (keys: hello)"
        );
        assert_eq!(
            err(r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}"#),
            "unknown record shape: not Teleport, CloudTrail, GitHub or Okta (keys: a, b, c, d, e, …)"
        );
        assert_eq!(
            err("{}"),
            "unknown record shape: not Teleport, CloudTrail, GitHub or Okta (keys: none)"
        );
        assert_eq!(err("42"), "expected a JSON object, found a number");
        assert_eq!(err(r#""x""#), "expected a JSON object, found a string");
        // An array element that is not an object fails alone.
        let res = decode_text(
            r#"[null, {"event":"exec","time":"2024-01-01T00:00:00Z"}]"#,
            None,
        );
        assert_eq!(res.len(), 2);
        assert_eq!(
            res[0].as_ref().unwrap_err().to_string(),
            "expected a JSON object, found null"
        );
        assert!(res[1].is_ok());
    }

    #[test]
    fn forced_sources_skip_detection_but_need_their_fields() {
        let teleport_like = r#"{"event":"user.login","time":"2024-03-20T12:00:00Z","user":"a"}"#;
        for (kind, needs) in [
            (SourceKind::CloudTrail, "eventName"),
            (SourceKind::Okta, "eventType"),
            (SourceKind::GitHub, "action"),
        ] {
            let e = decode_record(teleport_like, Some(kind))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needs), "{kind:?}: {e}");
        }
        // A record detection cannot place decodes when forced.
        let r = decode_record(
            r#"{"event":"custom.thing","user":"a","ts":1,"time":"2024-03-20T12:00:00Z"}"#,
            Some(SourceKind::Teleport),
        )
        .unwrap();
        assert_eq!(r.event_source, "teleport");
        // `forced` applies to every element of a document.
        let res = decode_text(
            r#"[{"action":"a","time":"x","@timestamp":1}, {"action":"b","@timestamp":2}]"#,
            Some(SourceKind::GitHub),
        );
        assert!(
            res.iter()
                .all(|r| r.as_ref().unwrap().event_source == "github")
        );
    }

    #[test]
    fn detection_order() {
        let d = |s: &str| {
            detect(
                serde_json::from_str::<J<'_>>(s)
                    .unwrap()
                    .as_object()
                    .unwrap(),
            )
        };
        assert_eq!(
            d(r#"{"event":"e","time":"t","_document_id":"x"}"#),
            Some(SourceKind::GitHub)
        );
        assert_eq!(
            d(r#"{"action":"a","actor":"b","created_at":1}"#),
            Some(SourceKind::GitHub)
        );
        assert_eq!(d(r#"{"action":"a","actor":"b"}"#), None);
        assert_eq!(d(r#"{"eventVersion":"1"}"#), Some(SourceKind::CloudTrail));
        assert_eq!(
            d(r#"{"eventSource":"s","eventName":"n","eventTime":"t"}"#),
            Some(SourceKind::CloudTrail)
        );
        assert_eq!(
            d(r#"{"eventType":"x","published":"p"}"#),
            Some(SourceKind::Okta)
        );
        assert_eq!(d(r#"{"event":"x","code":"T"}"#), Some(SourceKind::Teleport));
        assert_eq!(d(r#"{"event":1,"code":"T"}"#), None);
        assert_eq!(d(r#"{"event":"x"}"#), None);
    }

    #[test]
    fn names_and_strings() {
        for k in [
            SourceKind::Teleport,
            SourceKind::CloudTrail,
            SourceKind::GitHub,
            SourceKind::Okta,
        ] {
            assert_eq!(k.as_str().parse::<SourceKind>(), Ok(k));
        }
        assert_eq!("OKTA".parse::<SourceKind>(), Ok(SourceKind::Okta));
        assert_eq!("GitHub".parse::<SourceKind>(), Ok(SourceKind::GitHub));
        assert_eq!(SourceKind::CloudTrail.as_str(), "aws");
    }

    #[test]
    fn empty_strings_are_null_and_uids_are_stable() {
        let raw = r#"{"event":"user.login","time":"2024-03-20T12:00:00Z","user":"","user_agent":"","cluster_name":"","addr.remote":""}"#;
        let r = decode_record(raw, None).unwrap();
        assert_eq!(
            (r.identity, r.user_agent, r.origin, r.ip),
            (None, None, None, None)
        );
        let uid = uuid::Uuid::parse_str(&r.uid).unwrap();
        assert_eq!(uid.get_version_num(), 8);
        assert_eq!(r.uid, fallback_uid(raw));
        // Surrounding whitespace does not change the record, so neither the uid nor event_data.
        let spaced_text = format!("  {raw}\n");
        let spaced = decode_text(&spaced_text, None).remove(0).unwrap();
        assert_eq!((&*spaced.uid, &*spaced.event_data), (&*r.uid, raw));
    }

    #[test]
    fn demo_lines_all_decode() {
        let spec = crate::demo::DemoSpec {
            seed: 11,
            start: chrono::NaiveDate::from_ymd_opt(2024, 3, 4).unwrap(),
            days: 2,
            events_per_day: 600,
            sources: crate::demo::DemoSources::All,
        };
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        let mut bad = Vec::new();
        let mut total = 0;
        crate::demo::generate(&spec, &mut |_, line| {
            total += 1;
            for res in decode_text(line, None) {
                match res {
                    Ok(r) => {
                        assert!(r.event_time_ms > 0 && !r.uid.is_empty());
                        *counts.entry(r.event_source.into_owned()).or_default() += 1;
                    }
                    Err(e) => bad.push(format!("{e}: {line}")),
                }
            }
        });
        assert!(
            bad.is_empty(),
            "{} of {total} demo lines fail, first: {}",
            bad.len(),
            bad[0]
        );
        assert_eq!(
            counts.keys().map(String::as_str).collect::<Vec<_>>(),
            ["aws", "github", "okta", "teleport"],
            "{counts:?}"
        );
    }
}
