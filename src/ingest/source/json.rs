//! A record's JSON as a tree that borrows its strings from the input: what the decoders read.
//!
//! Why not `serde_json::Value`: it copies every key and string into its own allocation and
//! hashes every key into an `IndexMap`, which made tree building (malloc, free, SipHash) half
//! of ingest's CPU. This tree is parsed by the same `serde_json` parser — so what is valid
//! JSON, the recursion limit, number ranges and the error messages are serde_json's, byte for
//! byte — but a string without escapes is a slice of the input, and an object is a `Vec` of
//! entries searched linearly (records have a few dozen keys; the decoders ask for a few).
//! Duplicate keys behave as in `serde_json::Map`: the last value wins, at the first key's place.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// A JSON value whose strings borrow from the text it was parsed from when they can.
#[derive(Debug, Clone, PartialEq)]
pub enum J<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Obj<'a>),
}

/// A JSON object: its entries in input order (duplicates kept; `get` finds the last).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Obj<'a>(Vec<(Cow<'a, str>, J<'a>)>);

impl<'a> Obj<'a> {
    /// The value of a key; with duplicate keys, the last (as `serde_json::Map`).
    pub fn get(&self, key: &str) -> Option<&J<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The distinct keys, in the order they first appear. Linear in the entries (a hostile
    /// record may repeat one key a hundred thousand times).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let mut seen = HashSet::new();
        self.0
            .iter()
            .map(|(k, _)| k.as_ref())
            .filter(move |k| seen.insert(*k))
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.keys().count()
    }

    /// The distinct keys in first-appearance order, each with its last value, in linear time.
    fn folded(&self) -> Vec<(&str, &J<'a>)> {
        let mut last: HashMap<&str, &J<'a>> = HashMap::with_capacity(self.0.len());
        for (k, v) in &self.0 {
            last.insert(k.as_ref(), v);
        }
        self.keys()
            .filter_map(|k| last.get(k).map(|v| (k, *v)))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> J<'a> {
    /// A key of an object; None for anything else.
    pub fn get(&self, key: &str) -> Option<&J<'a>> {
        self.as_object()?.get(key)
    }

    pub fn as_object(&self) -> Option<&Obj<'a>> {
        match self {
            J::Obj(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<J<'a>>> {
        match self {
            J::Arr(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            J::Num(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, J::Null)
    }

    pub fn is_string(&self) -> bool {
        matches!(self, J::Str(_))
    }

    /// What kind of value this is, in the words of an error message.
    pub fn kind_name(&self) -> &'static str {
        match self {
            J::Null => "null",
            J::Bool(_) => "a boolean",
            J::Num(_) => "a number",
            J::Str(_) => "a string",
            J::Arr(_) => "an array",
            J::Obj(_) => "an object",
        }
    }
}

/// Compact JSON, as `serde_json::Value`'s `Display` writes it (duplicate keys folded the same
/// way): only error messages print values.
impl fmt::Display for J<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            J::Null => f.write_str("null"),
            J::Bool(b) => write!(f, "{b}"),
            J::Num(n) => write!(f, "{n}"),
            J::Str(s) => write_str(f, s),
            J::Arr(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            J::Obj(o) => {
                f.write_str("{")?;
                for (i, (k, v)) in o.folded().into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_str(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    // serde_json's own escaping; serializing a str cannot fail.
    match serde_json::to_string(s) {
        Ok(q) => f.write_str(&q),
        Err(_) => Err(fmt::Error),
    }
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JVisitor { depth: 0 })
    }
}

/// A value at a nesting depth: a record (depth 0) has a few dozen keys, the objects inside it
/// a few, and serde_json gives no size hint — so the entries are reserved by depth (growing a
/// record's entries from 8 was a twentieth of ingest).
struct Nested(u32);

impl<'de> DeserializeSeed<'de> for Nested {
    type Value = J<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<J<'de>, D::Error> {
        d.deserialize_any(JVisitor { depth: self.0 })
    }
}

impl<'de> Deserialize<'de> for Obj<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match J::deserialize(d)? {
            J::Obj(o) => Ok(o),
            other => Err(de::Error::custom(format_args!(
                "expected a JSON object, found {}",
                other.kind_name()
            ))),
        }
    }
}

struct JVisitor {
    depth: u32,
}

impl<'de> Visitor<'de> for JVisitor {
    type Value = J<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<J<'de>, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J<'de>, E> {
        Ok(J::Num(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J<'de>, E> {
        Ok(J::Num(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<J<'de>, E> {
        // As serde_json's Value: a non-finite float (unreachable from JSON text) is null.
        Ok(Number::from_f64(v).map_or(J::Null, J::Num))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v)))
    }
    fn visit_none<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }
    fn visit_unit<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<J<'de>, D::Error> {
        Nested(self.depth).deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(x) = seq.next_element_seed(Nested(self.depth + 1))? {
            v.push(x);
        }
        Ok(J::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
        let reserve = if self.depth == 0 { 32 } else { 8 };
        let mut v = Vec::with_capacity(map.size_hint().unwrap_or(0).clamp(reserve, 64));
        while let Some(Key(k)) = map.next_key()? {
            v.push((k, map.next_value_seed(Nested(self.depth + 1))?));
        }
        Ok(J::Obj(Obj(v)))
    }
}

/// An object key, borrowed unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<J<'_>, String> {
        serde_json::from_str::<J<'_>>(s).map_err(|e| e.to_string())
    }

    /// The same parser decides validity and words the errors: every case agrees with
    /// `serde_json::Value` on accept/refuse and on the message.
    #[test]
    fn validity_and_errors_are_serde_jsons() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for text in [
            r#"{"a":1,"b":[true,null,"x\u00e9"],"c":{"d":-2.5e3}}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\ud83d\ude00"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":1e400}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1} x"#,
            "",
            "nul",
            deep.as_str(),
        ] {
            let ours = parse(text);
            let theirs = serde_json::from_str::<serde_json::Value>(text).map_err(|e| e.to_string());
            assert_eq!(
                ours.is_ok(),
                theirs.is_ok(),
                "{text}: {ours:?} / {theirs:?}"
            );
            if let (Err(a), Err(b)) = (&ours, &theirs) {
                assert_eq!(a, b, "{text}");
            }
            if let (Ok(a), Ok(b)) = (&ours, &theirs) {
                assert_eq!(a.to_string(), b.to_string(), "{text}");
            }
        }
    }

    #[test]
    fn strings_borrow_unless_escaped_and_last_duplicate_wins() {
        let text = r#"{"a":"plain","b":"esc\"aped","a":"again","k\u0065y":1}"#;
        let v = parse(text).unwrap();
        let o = v.as_object().unwrap();
        assert!(matches!(o.get("a"), Some(J::Str(Cow::Borrowed("again")))));
        assert!(matches!(o.get("b"), Some(J::Str(Cow::Owned(s))) if s == "esc\"aped"));
        assert_eq!(o.get("key").and_then(J::as_i64), Some(1));
        assert_eq!(o.keys().collect::<Vec<_>>(), ["a", "b", "key"]);
        assert_eq!(o.len(), 3);
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v.to_string(), value.to_string());
    }

    /// One key repeated 200,000 times (a 1.4 MB record): listing and printing its keys stays
    /// linear, where comparing each key with all before it took minutes.
    #[test]
    fn repeated_keys_cost_linear_time() {
        let text = format!("{{{}\"b\":2}}", "\"a\":1,".repeat(200_000));
        let v = parse(&text).unwrap();
        let o = v.as_object().unwrap();
        let t = std::time::Instant::now();
        assert_eq!(o.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(o.len(), 2);
        assert_eq!(v.to_string(), r#"{"a":1,"b":2}"#);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        let err = crate::ingest::source::decode_record(&text, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown record shape: not Teleport, CloudTrail, GitHub or Okta (keys: a, b)"
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(4),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn numbers_print_as_serde_json_prints_them() {
        let text = "[1,-1,1.5,1e3,1E-7,0.1,12345678901234567890,-0.0,2.5e300]";
        let ours = parse(text).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(ours.to_string(), theirs.to_string());
    }
}
