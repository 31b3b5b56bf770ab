//! The shape of the source tree: imports point down the data flow only
//! (`faces → analysis → query → lake → core`, `ingest → lake → core`), nothing below `faces`
//! imports it, and `lake/` knows no DataFusion (the delta-rs split: storage without the engine).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layer a file belongs to, by its path under `src/`.
fn layer(rel: &Path) -> &'static str {
    let first = rel
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or("");
    match first {
        "ingest" => "ingest",
        "lake" => "lake",
        "query" => "query",
        "analysis" => "analysis",
        "faces" => "faces",
        "ops" => "ops",
        "demo" => "demo",
        _ => "core",
    }
}

/// The layer a `crate::NAME` path points into.
fn target(name: &str) -> &'static str {
    match name {
        "ingest" => "ingest",
        "lake" => "lake",
        "query" => "query",
        "analysis" => "analysis",
        "faces" => "faces",
        "ops" => "ops",
        "demo" => "demo",
        _ => "core",
    }
}

/// Which layers each layer may import (itself always).
fn allowed(from: &str) -> &'static [&'static str] {
    match from {
        "core" => &["core"],
        "lake" => &["lake", "core"],
        "ingest" => &["ingest", "lake", "core"],
        "query" => &["query", "lake", "core"],
        "analysis" => &["analysis", "query", "lake", "core"],
        "ops" => &["ops", "query", "ingest", "lake", "core"],
        "demo" => &["demo", "ingest", "lake", "core"],
        "faces" => &[
            "faces", "ops", "demo", "analysis", "query", "ingest", "lake", "core",
        ],
        _ => &[],
    }
}

/// The code of a file that ships: everything before its `#[cfg(test)]` module (tests may
/// reach for fixtures anywhere).
fn shipped(text: &str) -> &str {
    match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Violations in one file's text: `(line, message)`.
fn check(rel: &Path, text: &str) -> Vec<String> {
    let from = layer(rel);
    let mut out = Vec::new();
    for (n, line) in shipped(text).lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let to = target(&name);
            if !allowed(from).contains(&to) {
                out.push(format!(
                    "{}:{}: {from} imports {to} (crate::{name})",
                    rel.display(),
                    n + 1
                ));
            }
        }
        if from == "lake" && code.contains("datafusion") {
            out.push(format!(
                "{}:{}: lake/ names datafusion (keep the engine out of storage)",
                rel.display(),
                n + 1
            ));
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn imports_point_down_the_data_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 40,
        "found only {} files under src/",
        files.len()
    );
    let mut bad = BTreeSet::new();
    let mut layers = BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        // Test-only files (a source's test module) may use anything.
        if rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        layers.insert(layer(rel));
        let text = std::fs::read_to_string(f).expect("read source");
        bad.extend(check(rel, &text));
    }
    assert_eq!(layers.len(), 8, "layers seen: {layers:?}");
    assert!(
        bad.is_empty(),
        "upward imports:\n{}",
        bad.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// The checker itself catches what it is for.
#[test]
fn the_checker_sees_upward_imports() {
    let v = check(
        Path::new("lake/store.rs"),
        "use crate::query::engine::Engine;\n",
    );
    assert_eq!(v.len(), 1, "{v:?}");
    let v = check(
        Path::new("query/engine.rs"),
        "let x = crate::faces::output::write;\n",
    );
    assert_eq!(v.len(), 1, "{v:?}");
    let v = check(Path::new("lake/table.rs"), "use datafusion::prelude::*;\n");
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        check(
            Path::new("faces/cli/query.rs"),
            "use crate::query::engine::Engine;\n"
        )
        .is_empty()
    );
    assert!(
        check(
            Path::new("lake/store.rs"),
            "use crate::error::Error;\n#[cfg(test)]\nmod t { use crate::query::x; }\n"
        )
        .is_empty()
    );
}
