//! Embeds the shared SQL (`sql/views/*.sql`, `sql/detections/*.sql`) into the binary, so every face uses the
//! same files the repository ships to Athena, with no install step.

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
}
