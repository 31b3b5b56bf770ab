//! Unit tests of the JSON path reader: Trino's answers for paths, modes and bad input.
use super::*;

fn one(doc: &str, path: &str, mode: Mode) -> Option<String> {
    let set = PathSet::new(&[parse_path(path).unwrap()]);
    let mut found = Vec::new();
    set.find(doc.as_bytes(), &mut found);
    let mut out = Out::new(mode, 1);
    let mut s = String::new();
    out.push(mode, found[0], &mut s);
    let a = out.finish();
    if a.is_null(0) {
        return None;
    }
    match mode {
        Mode::ArrayVarchar => {
            Some(datafusion::arrow::util::display::array_value_to_string(&a, 0).unwrap())
        }
        _ => Some(
            a.as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .unwrap()
                .value(0)
                .to_string(),
        ),
    }
}

/// Client-chosen depth costs no stack: a path deeper than the cap is refused before any
/// document is read, and a document nested far deeper than any path is skipped by the
/// parser's own recursion limit (NULL), in a thread with a small stack.
#[test]
fn depth_is_bounded() {
    let deep_path = format!("${}", ".a".repeat(MAX_PATH_DEPTH + 1));
    assert!(parse_path(&deep_path).unwrap_err().contains("steps"));
    let long_path = format!("$.{}", "k".repeat(MAX_PATH_BYTES));
    assert!(parse_path(&long_path).unwrap_err().contains("bytes"));
    let ok_path = format!("${}", ".a".repeat(MAX_PATH_DEPTH));
    let doc = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let h = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || one(&doc, &ok_path, Mode::Json))
        .unwrap();
    assert_eq!(h.join().expect("no stack overflow"), None);
}

#[test]
fn paths() {
    assert_eq!(parse_path("$").unwrap(), vec![]);
    assert_eq!(
        parse_path(r#"$["addr.remote"].x[2]['y z']"#).unwrap(),
        vec![
            Seg::Key("addr.remote".into()),
            Seg::Key("x".into()),
            Seg::Index(2),
            Seg::Key("y z".into())
        ]
    );
    assert!(parse_path("identity.user").is_err());
    assert!(parse_path("$[").is_err());
}

#[test]
fn scalar_and_json() {
    let d = r#"{"a": {"b": [1, "x", true, null, {"c": 1.50}]}, "addr.remote": "1.2.3.4:5", "s": "caf\u00e9"}"#;
    assert_eq!(
        one(d, r#"$["addr.remote"]"#, Mode::Scalar).as_deref(),
        Some("1.2.3.4:5")
    );
    assert_eq!(one(d, "$.a.b[0]", Mode::Scalar).as_deref(), Some("1"));
    assert_eq!(one(d, "$.a.b[2]", Mode::Scalar).as_deref(), Some("true"));
    assert_eq!(one(d, "$.a.b[3]", Mode::Scalar), None);
    assert_eq!(one(d, "$.a.b[4].c", Mode::Scalar).as_deref(), Some("1.50"));
    assert_eq!(one(d, "$.a", Mode::Scalar), None);
    assert_eq!(one(d, "$.s", Mode::Scalar).as_deref(), Some("café"));
    assert_eq!(
        one(d, "$.a.b[4]", Mode::Json).as_deref(),
        Some(r#"{"c":1.50}"#)
    );
    assert_eq!(one(d, "$.a.b[3]", Mode::Json).as_deref(), Some("null"));
    assert_eq!(one(d, "$.missing", Mode::Json), None);
    assert_eq!(one("not json", "$.a", Mode::Scalar), None);
}

#[test]
fn arrays() {
    assert_eq!(
        one(r#"{"r":["a","b"]}"#, "$.r", Mode::ArrayVarchar).as_deref(),
        Some("[a, b]")
    );
    assert_eq!(
        one(r#"{"r":[]}"#, "$.r", Mode::ArrayVarchar).as_deref(),
        Some("[]")
    );
    assert_eq!(one(r#"{"r":null}"#, "$.r", Mode::ArrayVarchar), None);
    assert_eq!(one(r#"{}"#, "$.r", Mode::ArrayVarchar), None);
    assert_eq!(
        one(r#"{"r":[1,true,null]}"#, "$.r", Mode::ArrayVarchar).as_deref(),
        Some("[1, true, ]")
    );
}

#[test]
fn absent_keys_skip_the_parse_but_escaped_keys_do_not() {
    assert_eq!(one(r#"{"a":"x"}"#, "$.with_mfa", Mode::Scalar), None);
    // The key spelled with an escape is still found.
    assert_eq!(
        one(r#"{"with\u005fmfa":"m"}"#, "$.with_mfa", Mode::Scalar).as_deref(),
        Some("m")
    );
    // A key's text inside a value is no false negative either: parsed, then not found.
    assert_eq!(
        one(r#"{"note":"\"with_mfa\""}"#, "$.with_mfa", Mode::Scalar),
        None
    );
    assert_eq!(
        one(r#"{"r":["a"]}"#, "$.r[0]", Mode::Scalar).as_deref(),
        Some("a")
    );
}

#[test]
fn many_paths_one_pass() {
    let set = PathSet::new(&[
        parse_path("$.a").unwrap(),
        parse_path("$.a.b").unwrap(),
        parse_path("$.c").unwrap(),
        parse_path("$.a.b").unwrap(),
    ]);
    let mut found = Vec::new();
    set.find(br#"{"a":{"b":"x","z":1},"c":2}"#, &mut found);
    let texts: Vec<Option<&[u8]>> = found.iter().map(|f| f.map(|x| x.1)).collect();
    assert_eq!(
        texts,
        vec![
            Some(&br#"{"b":"x","z":1}"#[..]),
            Some(&br#""x""#[..]),
            Some(&b"2"[..]),
            Some(&br#""x""#[..])
        ]
    );
}
