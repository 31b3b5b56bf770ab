//! Embeds the shared SQL (`sql/views/*.sql`, `sql/detections/*.sql`) into the binary, so every face uses the
//! same files the repository ships to Athena, with no install step; and a digest of the code
//! that computes a view's columns (the Trino functions, the sidecar builder), which the view
//! sidecars' keys include: a change there is a rebuild, never an answer of the old code.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut code = String::new();
    for (konst, dir) in [("VIEWS", "sql/views"), ("DETECTIONS", "sql/detections")] {
        let dir = Path::new(&root).join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "sql"));
        files.sort();
        writeln!(code, "pub static {konst}: &[(&str, &str)] = &[").expect("write to a String");
        for f in files {
            println!("cargo:rerun-if-changed={}", f.display());
            let name = f
                .file_stem()
                .expect("a .sql file has a stem")
                .to_string_lossy();
            writeln!(
                code,
                "    ({name:?}, include_str!({:?})),",
                f.display().to_string()
            )
            .expect("write to a String");
        }
        writeln!(code, "];").expect("write to a String");
    }
    std::fs::write(Path::new(&out).join("sql_files.rs"), code).expect("write sql_files.rs");

    let mut sources = Vec::new();
    collect_rs(&Path::new(&root).join("src/query/udf"), &mut sources);
    sources.push(Path::new(&root).join("src/query/accel.rs"));
    sources.sort();
    // Deterministic for a toolchain (SipHash with fixed keys); a new toolchain is a rebuild too.
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &sources {
        println!("cargo:rerun-if-changed={}", f.display());
        f.strip_prefix(&root).unwrap_or(f).hash(&mut h);
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    println!("cargo:rustc-env=AUDITLAKE_UDF_DIGEST={:016x}", h.finish());
}

/// Every `.rs` file under `dir`, recursively.
fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}
