//! Trino's array, map, regex and URL functions whose DataFusion namesakes differ in semantics.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringBuilder, UInt64Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};

use super::{Strs, arity, str_arg};

pub fn coerce_contains(t: &[DataType]) -> Result<Vec<DataType>> {
    arity("contains", t, &[2])?;
    match &t[0] {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            let elem = f.data_type().clone();
            let arg = if t[1] == DataType::Null {
                elem
            } else {
                t[1].clone()
            };
            Ok(vec![DataType::List(Arc::new(f.as_ref().clone())), arg])
        }
        DataType::Null => Ok(vec![DataType::Utf8, str_arg(&t[1])]),
        _ => Ok(vec![str_arg(&t[0]), str_arg(&t[1])]),
    }
}

/// `contains(array, x)` with Trino's three-valued answer (NULL when not found but the array
/// holds a NULL); on strings, DataFusion's substring test.
pub fn contains(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    if let DataType::List(_) = a[0].data_type() {
        let lists = a[0].as_list::<i32>();
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if lists.is_null(i) || a[1].is_null(i) {
                out.push(None);
                continue;
            }
            let needle = ScalarValue::try_from_array(&a[1], i)?;
            let values = lists.value(i);
            let mut saw_null = false;
            let mut hit = false;
            for j in 0..values.len() {
                if values.is_null(j) {
                    saw_null = true;
                    continue;
                }
                let v = ScalarValue::try_from_array(&values, j)?;
                let v = if v.data_type() == needle.data_type() {
                    v
                } else {
                    v.cast_to(&needle.data_type())?
                };
                if v == needle {
                    hit = true;
                    break;
                }
            }
            out.push(if hit {
                Some(true)
            } else if saw_null {
                None
            } else {
                Some(false)
            });
        }
        return Ok(Arc::new(BooleanArray::from(out)));
    }
    let (h, n) = (Strs::new(&a[0])?, Strs::new(&a[1])?);
    let out: BooleanArray = (0..rows)
        .map(|i| match (h.get(i), n.get(i)) {
            (Some(h), Some(n)) => Some(h.contains(n)),
            _ => None,
        })
        .collect();
    Ok(Arc::new(out))
}

pub fn coerce_element_at(t: &[DataType]) -> Result<Vec<DataType>> {
    arity("element_at", t, &[2])?;
    match &t[0] {
        DataType::List(_) => Ok(vec![t[0].clone(), DataType::Int64]),
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Ok(vec![DataType::List(f.clone()), DataType::Int64])
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fs) => Ok(vec![t[0].clone(), fs[0].data_type().clone()]),
            _ => plan_err!("element_at: unexpected map layout"),
        },
        other => plan_err!("element_at expects an array or a map, got {other}"),
    }
}

pub fn ret_element_at(t: &[DataType]) -> Result<DataType> {
    match &t[0] {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Ok(f.data_type().clone())
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fs) => Ok(fs[1].data_type().clone()),
            _ => plan_err!("element_at: unexpected map layout"),
        },
        other => plan_err!("element_at expects an array or a map, got {other}"),
    }
}

/// `element_at(array, i)`: 1-based, negative from the end, out of range NULL, 0 an error.
/// `element_at(map, k)`: the value, or NULL.
pub fn element_at(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    match a[0].data_type() {
        DataType::List(_) => {
            let lists = a[0].as_list::<i32>();
            let idx = a[1].as_primitive::<Int64Type>();
            let offsets = lists.value_offsets();
            let mut take_idx = Vec::with_capacity(rows);
            for i in 0..rows {
                if lists.is_null(i) || idx.is_null(i) {
                    take_idx.push(None);
                    continue;
                }
                let (start, end) = (offsets[i] as i64, offsets[i + 1] as i64);
                let len = end - start;
                let k = idx.value(i);
                if k == 0 {
                    return exec_err!("SQL array indices start at 1");
                }
                let pos = if k > 0 { k - 1 } else { len + k };
                take_idx.push((0..len).contains(&pos).then(|| (start + pos) as u64));
            }
            Ok(take(
                lists.values().as_ref(),
                &UInt64Array::from(take_idx),
                None,
            )?)
        }
        DataType::Map(..) => {
            let maps = a[0].as_map();
            let mut take_idx = Vec::with_capacity(rows);
            for i in 0..rows {
                if maps.is_null(i) || a[1].is_null(i) {
                    take_idx.push(None);
                    continue;
                }
                let key = ScalarValue::try_from_array(&a[1], i)?;
                let (start, end) = (
                    maps.value_offsets()[i] as usize,
                    maps.value_offsets()[i + 1] as usize,
                );
                let mut found = None;
                for j in start..end {
                    if ScalarValue::try_from_array(maps.keys(), j)? == key {
                        found = Some(j as u64);
                        break;
                    }
                }
                take_idx.push(found);
            }
            Ok(take(
                maps.values().as_ref(),
                &UInt64Array::from(take_idx),
                None,
            )?)
        }
        other => exec_err!("element_at expects an array or a map, got {other}"),
    }
}

pub fn coerce_regexp_extract(t: &[DataType]) -> Result<Vec<DataType>> {
    arity("regexp_extract", t, &[2, 3])?;
    let mut v = vec![str_arg(&t[0]), str_arg(&t[1])];
    if t.len() == 3 {
        v.push(DataType::Int64);
    }
    Ok(v)
}

/// `regexp_extract(s, pattern[, group])`: the first match (or its group), NULL when none.
pub fn regexp_extract(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let s = Strs::new(&a[0])?;
    let p = Strs::new(&a[1])?;
    let g = a.get(2).map(|g| g.as_primitive::<Int64Type>());
    let mut b = StringBuilder::with_capacity(rows, rows * 8);
    let mut last: Option<(String, regex::Regex)> = None;
    for i in 0..rows {
        let (Some(v), Some(pat)) = (s.get(i), p.get(i)) else {
            b.append_null();
            continue;
        };
        let group = match g {
            Some(g) if g.is_null(i) => {
                b.append_null();
                continue;
            }
            Some(g) => g.value(i),
            None => 0,
        };
        if last.as_ref().map(|l| l.0 != pat).unwrap_or(true) {
            let re = regex::Regex::new(pat).map_err(|e| {
                datafusion::common::DataFusionError::Execution(format!(
                    "invalid regex '{pat}': {e}"
                ))
            })?;
            last = Some((pat.to_string(), re));
        }
        let re = &last.as_ref().expect("set").1;
        if group < 0 || group as usize >= re.captures_len() {
            return exec_err!(
                "regexp_extract: pattern has {} groups, asked for group {group}",
                re.captures_len() - 1
            );
        }
        match re.captures(v).and_then(|c| c.get(group as usize)) {
            Some(m) => b.append_value(m.as_str()),
            None => b.append_null(),
        }
    }
    Ok(Arc::new(b.finish()))
}

#[derive(Clone, Copy)]
pub enum UrlPart {
    Host,
    Path,
    Protocol,
    Query,
    Fragment,
}

fn parse_url(s: &str) -> Option<url::Url> {
    url::Url::parse(s.trim()).ok()
}

/// `url_extract_*`: NULL for an invalid URL, as Trino.
pub fn url_part(a: &[ArrayRef], rows: usize, part: UrlPart) -> Result<ArrayRef> {
    let s = Strs::new(&a[0])?;
    let mut b = StringBuilder::with_capacity(rows, rows * 8);
    for i in 0..rows {
        let v = s.get(i).and_then(parse_url).and_then(|u| match part {
            UrlPart::Host => u.host_str().map(str::to_string),
            UrlPart::Path => Some(u.path().to_string()),
            UrlPart::Protocol => Some(u.scheme().to_string()),
            UrlPart::Query => u.query().map(str::to_string),
            UrlPart::Fragment => u.fragment().map(str::to_string),
        });
        b.append_option(v);
    }
    Ok(Arc::new(b.finish()))
}

pub fn url_port(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let s = Strs::new(&a[0])?;
    let v: Int64Array = (0..rows)
        .map(|i| {
            s.get(i)
                .and_then(parse_url)
                .and_then(|u| u.port().map(i64::from))
        })
        .collect();
    Ok(Arc::new(v))
}

pub fn url_parameter(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let s = Strs::new(&a[0])?;
    let n = Strs::new(&a[1])?;
    let mut b = StringBuilder::with_capacity(rows, rows * 8);
    for i in 0..rows {
        let v = match (s.get(i).and_then(parse_url), n.get(i)) {
            (Some(u), Some(name)) => u
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned()),
            _ => None,
        };
        b.append_option(v);
    }
    Ok(Arc::new(b.finish()))
}

/// Trino's `great_circle_distance(lat1, lon1, lat2, lon2)`: kilometres on a sphere of radius
/// 6371.01 km (haversine), NULL when any argument is NULL.
pub fn great_circle_distance(a: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    use datafusion::arrow::array::Float64Array;
    use datafusion::arrow::datatypes::Float64Type;
    let c: Vec<_> = a.iter().map(|x| x.as_primitive::<Float64Type>()).collect();
    let out: Float64Array = (0..rows)
        .map(|i| {
            if c.iter().any(|x| x.is_null(i)) {
                return None;
            }
            let (la1, lo1, la2, lo2) = (
                c[0].value(i).to_radians(),
                c[1].value(i).to_radians(),
                c[2].value(i).to_radians(),
                c[3].value(i).to_radians(),
            );
            let h = ((la2 - la1) / 2.0).sin().powi(2)
                + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
            Some(2.0 * 6371.01 * h.sqrt().min(1.0).asin())
        })
        .collect();
    Ok(Arc::new(out))
}
