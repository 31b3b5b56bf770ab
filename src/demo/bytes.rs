//! The byte writer: events are JSON text appended to one reused `String` by hand (times in each
//! source's own format, numbers, escaped strings, `"key":value` pairs), so the same spec always
//! gives the same bytes and a month renders in a second.

use super::*;

#[derive(Clone, Copy)]
pub(super) enum Ts {
    /// Go's RFC3339Nano (Teleport): trailing zeros of the fraction trimmed, no fraction at 0.
    Go,
    /// Whole seconds (CloudTrail `eventTime`).
    Secs,
    /// Always three fraction digits (Okta `published`).
    Millis,
}

pub(super) fn push2(b: &mut String, v: u32) {
    b.push(char::from(b'0' + (v / 10) as u8));
    b.push(char::from(b'0' + (v % 10) as u8));
}

pub(super) fn push_time(b: &mut String, ms: i64, style: Ts) {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000) as u32;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    let y = y.clamp(0, 9999) as u32;
    push2(b, y / 100);
    push2(b, y % 100);
    b.push('-');
    push2(b, m);
    b.push('-');
    push2(b, d);
    b.push('T');
    push2(b, sod / 3600);
    b.push(':');
    push2(b, sod / 60 % 60);
    b.push(':');
    push2(b, sod % 60);
    match style {
        Ts::Secs => {}
        Ts::Millis => {
            b.push('.');
            b.push(char::from(b'0' + (frac / 100) as u8));
            push2(b, frac % 100);
        }
        Ts::Go => {
            if frac != 0 {
                let digits = [frac / 100, frac / 10 % 10, frac % 10];
                let keep = if !frac.is_multiple_of(10) {
                    3
                } else if !frac.is_multiple_of(100) {
                    2
                } else {
                    1
                };
                b.push('.');
                for dd in &digits[..keep] {
                    b.push(char::from(b'0' + *dd as u8));
                }
            }
        }
    }
    b.push('Z');
}

pub(super) fn push_u64(b: &mut String, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    b.push_str(std::str::from_utf8(&tmp[i..]).unwrap_or_default());
}

pub(super) fn push_i64(b: &mut String, v: i64) {
    if v < 0 {
        b.push('-');
    }
    push_u64(b, v.unsigned_abs());
}

/// Appends `v` as the inside of a JSON string.
pub(super) fn push_esc(b: &mut String, v: &str) {
    if !v.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20) {
        b.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '"' => b.push_str("\\\""),
            '\\' => b.push_str("\\\\"),
            '\n' => b.push_str("\\n"),
            '\t' => b.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                b.push_str("\\u00");
                b.push(char::from(HEX[(c as usize) >> 4]));
                b.push(char::from(HEX[(c as usize) & 0xf]));
            }
            c => b.push(c),
        }
    }
}

/// `,"k":"v"`
pub(super) fn ks(b: &mut String, k: &str, v: &str) {
    b.push_str(",\"");
    b.push_str(k);
    b.push_str("\":\"");
    push_esc(b, v);
    b.push('"');
}

/// `,"k":<integer>`
pub(super) fn kn(b: &mut String, k: &str, v: i64) {
    b.push_str(",\"");
    b.push_str(k);
    b.push_str("\":");
    push_i64(b, v);
}

/// `,"k":"<time>"`
pub(super) fn kt(b: &mut String, k: &str, ms: i64, style: Ts) {
    b.push_str(",\"");
    b.push_str(k);
    b.push_str("\":\"");
    push_time(b, ms, style);
    b.push('"');
}

/// `,"k":"<uuid>"`
pub(super) fn ku(b: &mut String, k: &str, r: &mut Rng) {
    b.push_str(",\"");
    b.push_str(k);
    b.push_str("\":\"");
    push_uuid(b, r);
    b.push('"');
}

/// `,"k":["a","b"]`
pub(super) fn ka(b: &mut String, k: &str, vs: &[&str]) {
    b.push_str(",\"");
    b.push_str(k);
    b.push_str("\":[");
    for (i, v) in vs.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        b.push('"');
        push_esc(b, v);
        b.push('"');
    }
    b.push(']');
}

pub(super) fn push_f64(b: &mut String, v: f64) {
    use std::fmt::Write as _;
    let _ = write!(b, "{v}");
}
