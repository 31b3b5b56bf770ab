//! Trino's date and time functions: ISO-8601 parsing and printing, `date_diff`/`date_add` with
//! calendar units, MySQL (`date_format`) and Joda (`format_datetime`) patterns, Unix time.

use std::sync::Arc;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, StringBuilder,
    TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType,
};
use datafusion::common::{Result, exec_err, plan_err};

use super::{Strs, arity, str_arg};

pub fn ts_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

const DAY_MS: i64 = 86_400_000;

fn is_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    )
}

/// A time argument as UTC milliseconds, whatever its unit.
fn millis(a: &ArrayRef) -> Result<Vec<Option<i64>>> {
    Ok(match a.data_type() {
        DataType::Date32 => a
            .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
            .iter()
            .map(|d| d.map(|d| d as i64 * DAY_MS))
            .collect(),
        DataType::Null => vec![None; a.len()],
        DataType::Timestamp(_, tz) => {
            let c = cast(a, &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()))?;
            c.as_primitive::<TimestampMillisecondType>()
                .iter()
                .collect()
        }
        _ => {
            let c = cast(a, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
            c.as_primitive::<TimestampMillisecondType>()
                .iter()
                .collect()
        }
    })
}

fn to_dt(ms: i64) -> Option<NaiveDateTime> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|d| d.naive_utc())
}

fn from_dt(d: NaiveDateTime) -> i64 {
    d.and_utc().timestamp_millis()
}

/// ISO-8601 with or without offset (none means UTC, Athena's session zone), or a bare date.
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H%:z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.timestamp_millis());
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(from_dt(d));
        }
    }
    if let Some(stripped) = s.strip_suffix('Z') {
        for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"] {
            if let Ok(d) = NaiveDateTime::parse_from_str(stripped, f) {
                return Some(from_dt(d));
            }
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| from_dt(d.and_time(NaiveTime::MIN)))
}

/// Trino raises on malformed input; we give NULL (see the module note in `udf`).
pub fn from_iso8601_timestamp(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let s = Strs::new(&a[0])?;
    let v: TimestampMillisecondArray = (0..rows).map(|i| s.get(i).and_then(parse_iso)).collect();
    Ok(Arc::new(v.with_timezone("UTC")))
}

pub fn from_iso8601_date(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let s = Strs::new(&a[0])?;
    let v: Date32Array = (0..rows)
        .map(|i| {
            s.get(i)
                .and_then(|t| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok())
                .map(|d| {
                    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
                })
        })
        .collect();
    Ok(Arc::new(v))
}

pub fn coerce_one_time(t: &[DataType]) -> Result<Vec<DataType>> {
    arity("this function", t, &[1])?;
    if is_time(&t[0]) || t[0] == DataType::Null {
        Ok(t.to_vec())
    } else {
        plan_err!("expected a timestamp or date, got {}", t[0])
    }
}

/// `2024-03-20T12:12:03.374Z` for a zoned timestamp, no `Z` for a plain one, `2024-03-20` for a date.
pub fn to_iso8601(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let ms = millis(&a[0])?;
    let (date, zoned) = match a[0].data_type() {
        DataType::Date32 | DataType::Date64 => (true, false),
        DataType::Timestamp(_, tz) => (false, tz.is_some()),
        _ => (false, false),
    };
    let mut b = StringBuilder::with_capacity(rows, rows * 24);
    for v in ms.iter().take(rows) {
        match v.and_then(to_dt) {
            None => b.append_null(),
            Some(d) if date => b.append_value(d.format("%Y-%m-%d").to_string()),
            Some(d) if zoned => b.append_value(d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            Some(d) => b.append_value(d.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()),
        }
    }
    Ok(Arc::new(b.finish()))
}

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Fixed(i64),
    Months(i64),
}

fn unit(s: &str) -> Result<Unit> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "millisecond" => Unit::Fixed(1),
        "second" => Unit::Fixed(1_000),
        "minute" => Unit::Fixed(60_000),
        "hour" => Unit::Fixed(3_600_000),
        "day" => Unit::Fixed(DAY_MS),
        "week" => Unit::Fixed(7 * DAY_MS),
        "month" => Unit::Months(1),
        "quarter" => Unit::Months(3),
        "year" => Unit::Months(12),
        other => {
            return exec_err!(
                "'{other}' is not a valid unit (millisecond, second, minute, hour, day, week, month, quarter, year)"
            );
        }
    })
}

pub fn coerce_date_diff(t: &[DataType]) -> Result<Vec<DataType>> {
    arity("date_diff(unit, t1, t2)", t, &[3])?;
    let common = if t[1] == t[2] {
        t[1].clone()
    } else {
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    };
    if !is_time(&common) && common != DataType::Null {
        return plan_err!(
            "date_diff(unit, t1, t2) needs timestamps or dates, got {} and {}",
            t[1],
            t[2]
        );
    }
    Ok(vec![str_arg(&t[0]), common.clone(), common])
}

/// Whole months from `a` to `b`, truncated toward zero like Trino.
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    let mut m = (b.year() as i64 - a.year() as i64) * 12 + (b.month() as i64 - a.month() as i64);
    let rest = |d: NaiveDateTime| (d.day(), d.time());
    if m > 0 && rest(b) < rest(a) {
        m -= 1;
    } else if m < 0 && rest(b) > rest(a) {
        m += 1;
    }
    m
}

pub fn date_diff(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let u = Strs::new(&a[0])?;
    let (x, y) = (millis(&a[1])?, millis(&a[2])?);
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        let (Some(us), Some(x), Some(y)) = (u.get(i), x[i], y[i]) else {
            out.push(None);
            continue;
        };
        out.push(match unit(us)? {
            Unit::Fixed(ms) => match y.checked_sub(x) {
                Some(d) => Some(d / ms),
                None => return exec_err!("date_diff: value out of range"),
            },
            Unit::Months(k) => match (to_dt(x), to_dt(y)) {
                (Some(p), Some(q)) => Some(months_between(p, q) / k),
                _ => None,
            },
        });
    }
    Ok(Arc::new(Int64Array::from(out)))
}

pub fn coerce_date_add(t: &[DataType]) -> Result<Vec<DataType>> {
    arity("date_add(unit, value, t)", t, &[3])?;
    if !is_time(&t[2]) {
        return plan_err!(
            "date_add(unit, value, t) needs a timestamp or date, got {}",
            t[2]
        );
    }
    Ok(vec![str_arg(&t[0]), DataType::Int64, t[2].clone()])
}

pub fn ret_date_add(t: &[DataType]) -> Result<DataType> {
    Ok(t.get(2).cloned().unwrap_or(DataType::Null))
}

pub fn date_add(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let u = Strs::new(&a[0])?;
    let n = a[1].as_primitive::<Int64Type>();
    let t = millis(&a[2])?;
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        let (Some(us), true, Some(t)) = (u.get(i), n.is_valid(i), t[i]) else {
            out.push(None);
            continue;
        };
        let k = n.value(i);
        // Trino refuses a result outside the representable range ("value out of range"); so do
        // we, instead of wrapping or truncating into a wrong date.
        let out_of_range =
            || exec_err!("date_add: value out of range ({k} {us} from {t} ms since the epoch)");
        let r = match unit(us)? {
            Unit::Fixed(ms) => k
                .checked_mul(ms)
                .and_then(|d| t.checked_add(d))
                .filter(|r| to_dt(*r).is_some()),
            Unit::Months(m) => to_dt(t).and_then(|d| {
                let months = k.checked_mul(m)?;
                let n = chrono::Months::new(u32::try_from(months.unsigned_abs()).ok()?);
                let r = if months >= 0 {
                    d.checked_add_months(n)
                } else {
                    d.checked_sub_months(n)
                };
                r.map(from_dt)
            }),
        };
        match r {
            Some(r) => out.push(Some(r)),
            None => return out_of_range(),
        }
    }
    let ms = TimestampMillisecondArray::from(out);
    let arr: ArrayRef = match a[2].data_type() {
        DataType::Timestamp(_, tz) => Arc::new(ms.with_timezone_opt(tz.clone())),
        _ => Arc::new(ms),
    };
    Ok(cast(&arr, a[2].data_type())?)
}

pub fn coerce_format(t: &[DataType]) -> Result<Vec<DataType>> {
    arity("this function", t, &[2])?;
    if !is_time(&t[0]) && t[0] != DataType::Null {
        return plan_err!("expected a timestamp or date to format, got {}", t[0]);
    }
    Ok(vec![t[0].clone(), str_arg(&t[1])])
}

/// MySQL `date_format` codes (Trino's `date_format`/`date_parse`) as chrono strftime.
pub fn mysql_to_strftime(f: &str) -> Result<String> {
    let mut out = String::new();
    let mut it = f.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            continue;
        }
        let Some(code) = it.next() else {
            return exec_err!("date format '{f}' ends with a lone %");
        };
        out.push_str(match code {
            'a' => "%a",
            'b' => "%b",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'f' => "%6f",
            'H' => "%H",
            'h' | 'I' => "%I",
            'i' => "%M",
            'j' => "%j",
            'k' => "%-H",
            'l' => "%-I",
            'M' => "%B",
            'm' => "%m",
            'p' => "%p",
            'r' => "%I:%M:%S %p",
            'S' | 's' => "%S",
            'T' => "%H:%M:%S",
            'v' => "%V",
            'W' => "%A",
            'w' => "%w",
            'x' => "%G",
            'Y' => "%Y",
            'y' => "%y",
            '%' => "%%",
            other => return exec_err!("date format code %{other} is not supported"),
        });
    }
    Ok(out)
}

/// Joda-Time patterns (Trino's `format_datetime`/`parse_datetime`) as chrono strftime.
pub fn joda_to_strftime(f: &str) -> Result<String> {
    let chars: Vec<char> = f.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal; '' is a single quote.
            i += 1;
            if i < chars.len() && chars[i] == '\'' {
                out.push('\'');
                i += 1;
                continue;
            }
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '%' {
                    out.push_str("%%");
                } else {
                    out.push(chars[i]);
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        out.push_str(match (c, n) {
            ('y' | 'Y' | 'u', 2) => "%y",
            ('y' | 'Y' | 'u', _) => "%Y",
            ('x', _) => "%G",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('k', _) => "%H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('K', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('e', _) => "%u",
            ('w', _) => "%V",
            ('Z', 1) => "%z",
            ('Z', _) => "%:z",
            ('z', _) => "%Z",
            (other, _) => return exec_err!("Joda pattern letter '{other}' is not supported"),
        });
        i += n;
    }
    Ok(out)
}

fn checked_items(fmt: &str, original: &str) -> Result<Vec<Item<'static>>> {
    let items: Vec<Item<'static>> = StrftimeItems::new(fmt).parse_to_owned().map_err(|_| {
        datafusion::common::DataFusionError::Execution(format!("invalid date format '{original}'"))
    })?;
    Ok(items)
}

fn format_with(
    a: &[ArrayRef],
    rows: usize,
    translate: fn(&str) -> Result<String>,
) -> Result<ArrayRef> {
    use std::fmt::Write;
    let ms = millis(&a[0])?;
    let fmts = Strs::new(&a[1])?;
    let zoned = matches!(a[0].data_type(), DataType::Timestamp(_, Some(_)));
    let mut b = StringBuilder::with_capacity(rows, rows * 20);
    let mut last: Option<(String, Vec<Item<'static>>)> = None;
    let mut buf = String::new();
    for (i, v) in ms.iter().enumerate().take(rows) {
        let (Some(d), Some(f)) = (v.and_then(to_dt), fmts.get(i)) else {
            b.append_null();
            continue;
        };
        if last.as_ref().map(|l| l.0 != f).unwrap_or(true) {
            last = Some((f.to_string(), checked_items(&translate(f)?, f)?));
        }
        let items = &last.as_ref().expect("set").1;
        buf.clear();
        let dt = d.and_utc();
        let res = if zoned {
            write!(buf, "{}", dt.format_with_items(items.iter()))
        } else {
            write!(buf, "{}", d.format_with_items(items.iter()))
        };
        if res.is_err() {
            return exec_err!("cannot format a timestamp with '{f}'");
        }
        b.append_value(&buf);
    }
    Ok(Arc::new(b.finish()))
}

pub fn date_format(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    format_with(a, rows, mysql_to_strftime)
}

pub fn format_datetime(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    format_with(a, rows, joda_to_strftime)
}

fn parse_with(
    a: &[ArrayRef],
    rows: usize,
    translate: fn(&str) -> Result<String>,
) -> Result<Vec<Option<i64>>> {
    let s = Strs::new(&a[0])?;
    let fmts = Strs::new(&a[1])?;
    let mut last: Option<(String, String)> = None;
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        let (Some(v), Some(f)) = (s.get(i), fmts.get(i)) else {
            out.push(None);
            continue;
        };
        if last.as_ref().map(|l| l.0 != f).unwrap_or(true) {
            last = Some((f.to_string(), translate(f)?));
        }
        let cf = &last.as_ref().expect("set").1;
        let parsed = DateTime::parse_from_str(v, cf)
            .map(|d| d.timestamp_millis())
            .ok()
            .or_else(|| NaiveDateTime::parse_from_str(v, cf).ok().map(from_dt))
            .or_else(|| {
                NaiveDate::parse_from_str(v, cf)
                    .ok()
                    .map(|d| from_dt(d.and_time(NaiveTime::MIN)))
            });
        out.push(parsed);
    }
    Ok(out)
}

/// Trino raises on a value that does not match; NULL here (see the module note in `udf`).
pub fn date_parse(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    Ok(Arc::new(TimestampMillisecondArray::from(parse_with(
        a,
        rows,
        mysql_to_strftime,
    )?)))
}

pub fn parse_datetime(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    Ok(Arc::new(
        TimestampMillisecondArray::from(parse_with(a, rows, joda_to_strftime)?)
            .with_timezone("UTC"),
    ))
}

pub fn coerce_unixtime(t: &[DataType]) -> Result<Vec<DataType>> {
    arity("from_unixtime", t, &[1])?;
    if t[0].is_numeric() || t[0] == DataType::Null {
        Ok(vec![DataType::Float64])
    } else {
        plan_err!("from_unixtime expects seconds as a number, got {}", t[0])
    }
}

pub fn from_unixtime(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let s = a[0].as_primitive::<Float64Type>();
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        if !s.is_valid(i) {
            out.push(None);
            continue;
        }
        let ms = (s.value(i) * 1000.0).floor();
        // `as i64` saturates (and maps NaN to 0): check the range instead of answering a wrong
        // time.
        if !ms.is_finite() || ms < i64::MIN as f64 || ms >= i64::MAX as f64 {
            return exec_err!("from_unixtime: value out of range ({})", s.value(i));
        }
        let ms = ms as i64;
        if to_dt(ms).is_none() {
            return exec_err!("from_unixtime: value out of range ({})", s.value(i));
        }
        out.push(Some(ms));
    }
    Ok(Arc::new(
        TimestampMillisecondArray::from(out).with_timezone("UTC"),
    ))
}

pub fn to_unixtime(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let ms = millis(&a[0])?;
    Ok(Arc::new(
        ms.into_iter()
            .take(rows)
            .map(|m| m.map(|m| m as f64 / 1000.0))
            .collect::<Float64Array>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso() {
        assert_eq!(parse_iso("2024-03-20T12:12:03.374Z"), Some(1710936723374));
        assert_eq!(parse_iso("2024-03-20T12:12:03.3749Z"), Some(1710936723374));
        assert_eq!(
            parse_iso("2024-03-20T14:12:03.374+02:00"),
            Some(1710936723374)
        );
        assert_eq!(parse_iso("2024-03-20T12:12:03.374"), Some(1710936723374));
        assert_eq!(parse_iso("2024-03-20"), Some(1710892800000));
        assert_eq!(parse_iso("yesterday"), None);
        assert!(parse_iso("0001-01-01T00:00:00Z").is_some());
    }

    #[test]
    fn months() {
        let d = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(
            months_between(d("2024-01-31 00:00:00"), d("2024-02-29 00:00:00")),
            0
        );
        assert_eq!(
            months_between(d("2024-01-15 00:00:00"), d("2024-03-15 00:00:00")),
            2
        );
        assert_eq!(
            months_between(d("2024-03-15 00:00:00"), d("2024-01-16 00:00:00")),
            -1
        );
    }

    #[test]
    fn patterns() {
        assert_eq!(
            mysql_to_strftime("%Y-%m-%d %H:%i:%s").unwrap(),
            "%Y-%m-%d %H:%M:%S"
        );
        assert_eq!(
            joda_to_strftime("yyyy-MM-dd'T'HH:mm:ss.SSS").unwrap(),
            "%Y-%m-%dT%H:%M:%S.%3f"
        );
        assert!(mysql_to_strftime("%Q").is_err());
    }
}
