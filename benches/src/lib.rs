//! What the comparison (`benches/compare.rs`) and the report generator
//! (`benches/src/bin/bench_report.rs`) share: where the results file and the
//! report live.
//!
//! Paths: this package's directory is `benches/`, so the repository's root
//! is its parent. Relative paths given in the environment are taken from the
//! repository's root, because `cargo bench` starts the bench in `benches/`
//! while `cargo run` starts the report where cargo was started: a fixed base
//! makes one relative path name the same file to both.

use std::path::{Path, PathBuf};

/// The repository's root: the parent of this package's directory.
pub fn repo_root() -> PathBuf {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    package.parent().unwrap_or(package).to_path_buf()
}

/// `path` if absolute, else `path` under the repository's root.
fn from_root(path: impl Into<PathBuf>) -> PathBuf {
    let path = path.into();
    if path.is_absolute() {
        path
    } else {
        repo_root().join(path)
    }
}

/// Where the comparison writes its results and the report reads them:
/// `$BENCH_RESULTS`, else `bench-results.json` in `$CARGO_TARGET_DIR`, else
/// in the workspace's `target/` (at the repository's root, where cargo puts
/// a workspace's builds).
pub fn results_path() -> PathBuf {
    if let Some(path) = std::env::var_os("BENCH_RESULTS") {
        return from_root(path);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| from_root("target"), from_root);
    target.join("bench-results.json")
}

/// Where the report writes `benchmarks.md` and `benchmarks.svg`:
/// `$BENCH_DOCS` (for a trial run that must not replace the committed
/// report), else the repository's `docs/`.
pub fn docs_dir() -> PathBuf {
    std::env::var_os("BENCH_DOCS").map_or_else(|| from_root("docs"), from_root)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout every default path rests on: this package is `benches/`
    /// of the workspace whose root holds the library.
    #[test]
    fn the_repository_root_is_the_workspace_root() {
        let root = repo_root();
        assert!(root.join("benches").join("Cargo.toml").is_file());
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("root manifest");
        assert!(manifest.contains("[workspace]"));
        assert_eq!(from_root("docs"), root.join("docs"));
        assert_eq!(from_root("/tmp/x"), PathBuf::from("/tmp/x"));
    }
}
